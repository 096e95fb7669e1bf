//! smoltcp under test: two `Interface`s over an in-memory IP-medium device pair, in one process.
//!
//! Each host has a [`QueueDevice`]: the datagrams delivered to it wait in its receive queue until
//! its next `Interface::poll`; what it transmits goes to its transmit queue, which the benchmark
//! loop moves onto the link. Buffers come from a pool shared by both devices and keep their full
//! MTU size, so smoltcp neither allocates nor clears memory per packet (the way a driver with
//! fixed DMA buffers treats it). Checksums are computed and verified, as synack does.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::pair::{Packet, Pair, StackParams, SERVER};

/// The smoltcp release this crate is built against (keep in step with Cargo.toml).
pub const SMOLTCP_VERSION: &str = "0.14";

const CLIENT_IP: IpAddress = IpAddress::v4(10, 0, 0, 1);
const SERVER_IP: IpAddress = IpAddress::v4(10, 0, 0, 2);
const PORT: u16 = 5001;

/// Buffers shared by the two devices of a pair, each `mtu` bytes long.
#[derive(Debug)]
struct Pool {
    free: Vec<Vec<u8>>,
    mtu: usize,
}

impl Pool {
    fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.mtu])
    }

    fn give(&mut self, buf: Vec<u8>) {
        if buf.len() == self.mtu && self.free.len() < 4096 {
            self.free.push(buf);
        }
    }
}

/// An IP-medium device whose wire is two queues.
#[derive(Debug)]
pub struct QueueDevice {
    rx: VecDeque<Packet>,
    tx: VecDeque<Packet>,
    pool: Rc<RefCell<Pool>>,
    mtu: usize,
}

/// A received datagram, handed to smoltcp.
pub struct RxToken {
    packet: Packet,
    pool: Rc<RefCell<Pool>>,
}

/// Room for one datagram to send.
pub struct TxToken<'a> {
    tx: &'a mut VecDeque<Packet>,
    pool: Rc<RefCell<Pool>>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(self.packet.bytes());
        self.pool.borrow_mut().give(self.packet.buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = self.pool.borrow_mut().take();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let r = f(&mut buf[..len]);
        self.tx.push_back(Packet { buf, len });
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((
            RxToken {
                packet,
                pool: Rc::clone(&self.pool),
            },
            TxToken {
                tx: &mut self.tx,
                pool: Rc::clone(&self.pool),
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken {
            tx: &mut self.tx,
            pool: Rc::clone(&self.pool),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

struct Host {
    iface: Interface,
    device: QueueDevice,
    sockets: SocketSet<'static>,
    socket: SocketHandle,
}

/// Two smoltcp interfaces, one TCP socket each.
pub struct SmolPair {
    hosts: [Host; 2],
    started: bool,
    finished: bool,
}

fn socket(p: &StackParams) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0; p.recv_buffer]);
    let tx = tcp::SocketBuffer::new(vec![0; p.send_buffer]);
    let mut s = tcp::Socket::new(rx, tx);
    s.set_congestion_control(if p.reno {
        tcp::CongestionControl::Reno
    } else {
        tcp::CongestionControl::Cubic
    });
    s
}

impl SmolPair {
    /// Two interfaces (10.0.0.1 and 10.0.0.2 on an IP medium of `p.mtu`), each with one socket
    /// of `p`'s buffers and CUBIC (or Reno); every other setting is smoltcp's default.
    pub fn new(p: &StackParams) -> Self {
        let pool = Rc::new(RefCell::new(Pool {
            free: Vec::new(),
            mtu: p.mtu,
        }));
        let host = |ip: IpAddress, seed: u64| {
            let mut device = QueueDevice {
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                pool: Rc::clone(&pool),
                mtu: p.mtu,
            };
            let mut config = Config::new(HardwareAddress::Ip);
            config.random_seed = seed;
            let mut iface = Interface::new(config, &mut device, Instant::from_micros(0));
            iface.update_ip_addrs(|addrs| {
                // One address on a fresh interface always fits.
                let _ = addrs.push(IpCidr::new(ip, 24));
            });
            let mut sockets = SocketSet::new(Vec::new());
            let socket = sockets.add(socket(p));
            Host {
                iface,
                device,
                sockets,
                socket,
            }
        };
        let client = host(CLIENT_IP, p.seed ^ 0x5a5a_0001);
        let server = host(SERVER_IP, p.seed ^ 0x5a5a_0002);
        SmolPair {
            hosts: [client, server],
            started: false,
            finished: false,
        }
    }
}

impl Pair for SmolPair {
    fn name(&self) -> &'static str {
        "smoltcp"
    }

    fn start(&mut self, now: u64) -> Result<(), String> {
        let _ = now;
        let [client, server] = &mut self.hosts;
        server
            .sockets
            .get_mut::<tcp::Socket>(server.socket)
            .listen(PORT)
            .map_err(|e| format!("smoltcp listen: {e}"))?;
        let cx = client.iface.context();
        client
            .sockets
            .get_mut::<tcp::Socket>(client.socket)
            .connect(cx, (SERVER_IP, PORT), 49152)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
        self.started = true;
        Ok(())
    }

    fn deliver(&mut self, host: usize, _now: u64, packet: Packet) {
        self.hosts[host].device.rx.push_back(packet);
    }

    fn poll(&mut self, host: usize, now: u64, out: &mut Vec<Packet>) {
        let h = &mut self.hosts[host];
        let t = Instant::from_micros(i64::try_from(now).unwrap_or(i64::MAX));
        h.iface.poll(t, &mut h.device, &mut h.sockets);
        out.extend(h.device.tx.drain(..));
        if host == SERVER && !self.finished {
            let s = h.sockets.get::<tcp::Socket>(h.socket);
            if self.started && !s.is_open() {
                self.finished = true;
            }
        }
    }

    fn next_wakeup(&mut self, host: usize, now: u64) -> Option<u64> {
        let h = &mut self.hosts[host];
        let t = Instant::from_micros(i64::try_from(now).unwrap_or(i64::MAX));
        h.iface
            .poll_at(t, &h.sockets)
            .map(|at| u64::try_from(at.total_micros()).unwrap_or(0))
    }

    fn write(&mut self, _now: u64, data: &[u8]) -> usize {
        let h = &mut self.hosts[0];
        let s = h.sockets.get_mut::<tcp::Socket>(h.socket);
        if !s.may_send() {
            return 0;
        }
        s.send_slice(data).unwrap_or(0)
    }

    fn read(&mut self, _now: u64, buf: &mut [u8]) -> usize {
        let h = &mut self.hosts[1];
        let s = h.sockets.get_mut::<tcp::Socket>(h.socket);
        if !s.can_recv() {
            return 0;
        }
        s.recv_slice(buf).unwrap_or(0)
    }

    fn error(&self) -> Option<String> {
        self.finished
            .then(|| "the server socket closed before the transfer ended".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_and_a_few_bytes() {
        let p = StackParams {
            mtu: 1500,
            send_buffer: 8192,
            recv_buffer: 8192,
            seed: 1,
            reno: false,
        };
        let mut pair = SmolPair::new(&p);
        pair.start(0).unwrap();
        let mut out = Vec::new();
        let mut got = Vec::new();
        let mut wrote = 0;
        for step in 0..200u64 {
            let now = step * 1000;
            if wrote < 5 {
                wrote += pair.write(now, &b"hello"[wrote..]);
            }
            for host in [0, 1] {
                pair.poll(host, now, &mut out);
                for packet in out.drain(..) {
                    pair.deliver(1 - host, now, packet);
                }
            }
            let mut buf = [0u8; 16];
            let n = pair.read(now, &mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello");
    }
}
