//! smoltcp on its own TUN device, `phy::TunTapInterface` (medium IP), against the kernel.
//!
//! The interface `sb-smoltcp` is made persistent first (`ip tuntap add`), so that its kernel side
//! can be configured through synack's [`Tun`] builder (ioctls: MTU, 10.10.0.1/24, up) before
//! smoltcp attaches to it by name and reads its MTU; the benchmark deletes it at the end (and the
//! namespace would take it along anyway).
//!
//! The loop is the one smoltcp's examples use: `Interface::poll`, the application's reads or
//! writes, and, when neither did anything, `phy::wait` on the TUN descriptor for at most
//! `Interface::poll_delay`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use synack::device::Tun;

use super::{
    agree, check, ip_cmd, join, kernel_client_source, kernel_listener, kernel_server_sink,
    slice_at, Got, Moved, Plan, CHUNK, PORT,
};

/// The smoltcp release the benchmark is built against (keep in step with Cargo.toml).
pub const SMOLTCP_VERSION: &str = "0.14";

pub(super) const NAME: &str = "sb-smoltcp";
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
const SMOL_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);

/// The longest single wait of the loop (so that it checks its deadline).
const MAX_WAIT: SmolDuration = SmolDuration::from_millis(50);

/// synack's initial socket buffers (send, receive): `Config::send_buffer` and
/// `Config::recv_buffer`, 16 KiB and 64 KiB (Linux's `tcp_wmem[1]`, and the window space of
/// its `tcp_rmem[1]`).
pub fn initial_buffers() -> (usize, usize) {
    let c = synack::Config::default();
    (c.send_buffer, c.recv_buffer)
}

/// The largest socket buffers synack's auto-tuning grows to (send, receive):
/// `Config::max_send_buffer` and `Config::max_recv_buffer`, 4 MiB and 6 MiB.
pub fn largest_buffers() -> (usize, usize) {
    let c = synack::Config::default();
    (c.max_send_buffer, c.max_recv_buffer)
}

/// Deletes the persistent interface when dropped.
struct Persistent {
    ip: &'static str,
}

impl Drop for Persistent {
    fn drop(&mut self) {
        let _ = ip_cmd(self.ip, &["link", "del", "dev", NAME]);
    }
}

/// smoltcp on `sb-smoltcp`.
pub(super) struct SmolSide {
    iface: Interface,
    sockets: SocketSet<'static>,
    device: TunTapInterface,
    clock: Instant,
    next_port: u16,
    // Last: the interface is deleted after smoltcp's descriptor is closed.
    _persistent: Persistent,
}

impl SmolSide {
    pub(super) fn open(ip: &'static str, mtu: usize) -> Result<Self, String> {
        ip_cmd(ip, &["tuntap", "add", "dev", NAME, "mode", "tun"])
            .map_err(|e| format!("smoltcp's TUN: {e}"))?;
        let persistent = Persistent { ip };
        let kernel_side = Tun::builder(NAME)
            .mtu(mtu)
            .address(IpAddr::V4(KERNEL_IP), 24)
            .up(true)
            .open()
            .map_err(|e| format!("configuring smoltcp's TUN: {e}"))?;
        drop(kernel_side);
        let mut device = TunTapInterface::new(NAME, Medium::Ip)
            .map_err(|e| format!("smoltcp's TunTapInterface on {NAME}: {e}"))?;
        let dev_mtu = device.capabilities().max_transmission_unit;
        if dev_mtu != mtu {
            return Err(format!(
                "smoltcp's TunTapInterface reports MTU {dev_mtu}, the interface was given {mtu}"
            ));
        }
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let mut iface = Interface::new(config, &mut device, SmolInstant::from_micros(0));
        iface.update_ip_addrs(|addrs| {
            // One address on a fresh interface always fits.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(SMOL_IP), 24));
        });
        Ok(Self {
            iface,
            sockets: SocketSet::new(Vec::new()),
            device,
            clock: Instant::now(),
            next_port: 49152,
            _persistent: persistent,
        })
    }

    fn now(&self) -> SmolInstant {
        SmolInstant::from_micros(
            i64::try_from(self.clock.elapsed().as_micros()).unwrap_or(i64::MAX),
        )
    }

    fn poll(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    /// Sleeps until the TUN is readable or smoltcp's next timer, at most `MAX_WAIT`.
    fn wait(&mut self) -> Result<(), String> {
        let now = self.now();
        let d = self
            .iface
            .poll_delay(now, &self.sockets)
            .map_or(MAX_WAIT, |d| d.min(MAX_WAIT));
        phy::wait(self.device.as_raw_fd(), Some(d)).map_err(|e| format!("waiting on {NAME}: {e}"))
    }

    /// A new socket with fixed buffers of `(send, receive)` bytes and CUBIC, after forgetting
    /// finished ones.
    fn new_socket(&mut self, (send, recv): (usize, usize)) -> SocketHandle {
        let closed: Vec<SocketHandle> = self
            .sockets
            .iter()
            .filter_map(|(h, s)| match s {
                smoltcp::socket::Socket::Tcp(t) if t.state() == tcp::State::Closed => Some(h),
                _ => None,
            })
            .collect();
        for h in closed {
            self.sockets.remove(h);
        }
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; recv]),
            tcp::SocketBuffer::new(vec![0; send]),
        );
        s.set_congestion_control(tcp::CongestionControl::Cubic);
        self.sockets.add(s)
    }

    /// Resets a connection that failed, so the kernel's side stops too.
    fn abort(&mut self, h: SocketHandle) {
        self.sockets.get_mut::<tcp::Socket>(h).abort();
        self.poll();
    }

    /// smoltcp -> Linux: a kernel server reads; smoltcp connects and writes.
    pub(super) fn send(
        &mut self,
        bytes: u64,
        pat: &Arc<Vec<u8>>,
        buffers: (usize, usize),
    ) -> Result<Moved, String> {
        let l = kernel_listener(SocketAddr::from((KERNEL_IP, PORT)))?;
        let plan = Plan::new(bytes);
        let p = Arc::clone(pat);
        let receiver = thread::spawn(move || kernel_server_sink(&l, &plan, &p));
        let h = self.new_socket(buffers);
        let sent = self.pump_send(h, &plan, pat);
        if sent.is_err() {
            self.abort(h);
        }
        let got = join(receiver);
        Ok(plan.moved(agree(sent?, got?)?))
    }

    fn pump_send(&mut self, h: SocketHandle, plan: &Plan, pat: &[u8]) -> Result<u64, String> {
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (IpAddress::Ipv4(KERNEL_IP), PORT), port)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
        let mut off = 0u64;
        let mut closing = false;
        loop {
            self.poll();
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            let mut progress = false;
            while !closing && s.can_send() {
                let n = plan.next_write(off);
                if n == 0 {
                    break;
                }
                match s.send_slice(slice_at(pat, off, n)) {
                    Ok(0) => break,
                    Ok(k) => {
                        off += k as u64;
                        progress = true;
                    }
                    Err(e) => return Err(format!("smoltcp send after {off} bytes: {e}")),
                }
            }
            if !closing && s.may_send() && plan.next_write(off) == 0 {
                s.close();
                closing = true;
                progress = true;
            }
            match s.state() {
                tcp::State::Closed | tcp::State::TimeWait if closing => return Ok(off),
                tcp::State::Closed => {
                    return Err(format!(
                        "smoltcp's connection closed (refused or reset) after {off} bytes"
                    ))
                }
                _ => {}
            }
            if Instant::now() >= plan.deadline {
                return Err(format!("smoltcp: timed out after sending {off} bytes"));
            }
            if !progress {
                self.wait()?;
            }
        }
    }

    /// Linux -> smoltcp: smoltcp listens; a kernel client connects and writes.
    pub(super) fn recv(
        &mut self,
        bytes: u64,
        pat: &Arc<Vec<u8>>,
        buffers: (usize, usize),
    ) -> Result<Moved, String> {
        let h = self.new_socket(buffers);
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .listen(PORT)
            .map_err(|e| format!("smoltcp listen: {e}"))?;
        let plan = Plan::new(bytes);
        let p = Arc::clone(pat);
        let to = SocketAddr::from((SMOL_IP, PORT));
        let sender = thread::spawn(move || kernel_client_source(to, &plan, &p));
        let got = self.pump_recv(h, &plan, pat, &sender);
        if got.is_err() {
            self.abort(h);
        }
        let sent = join(sender);
        let got = got?;
        Ok(plan.moved(agree(sent?, got)?))
    }

    fn pump_recv(
        &mut self,
        h: SocketHandle,
        plan: &Plan,
        pat: &[u8],
        sender: &thread::JoinHandle<Result<u64, String>>,
    ) -> Result<Got, String> {
        let mut buf = vec![0u8; CHUNK];
        let mut got = Got {
            bytes: 0,
            last: plan.t0,
        };
        let mut closing = false;
        loop {
            self.poll();
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            let mut progress = false;
            while s.can_recv() {
                let n = s
                    .recv_slice(&mut buf)
                    .map_err(|e| format!("smoltcp recv after {} bytes: {e}", got.bytes))?;
                if n == 0 {
                    break;
                }
                check(&mut got, &buf[..n], plan, pat)?;
                progress = true;
            }
            match s.state() {
                // The sender's FIN, after everything it sent was read.
                tcp::State::CloseWait if !closing => {
                    s.close();
                    closing = true;
                    progress = true;
                }
                tcp::State::Closed | tcp::State::TimeWait if closing => {
                    if got.bytes == 0 {
                        return Err("the stream ended before any data".into());
                    }
                    return Ok(got);
                }
                tcp::State::Closed => {
                    return Err(format!(
                        "smoltcp's connection was reset after {} bytes",
                        got.bytes
                    ))
                }
                _ => {}
            }
            if !closing && sender.is_finished() {
                return Err(format!(
                    "the Linux sender stopped after smoltcp received {} bytes",
                    got.bytes
                ));
            }
            if Instant::now() >= plan.deadline {
                return Err(format!(
                    "smoltcp: timed out after receiving {} bytes",
                    got.bytes
                ));
            }
            if !progress {
                self.wait()?;
            }
        }
    }

    pub(super) fn close(self) {
        drop(self);
    }
}
