//! `tun`: bulk throughput against the Linux kernel's own TCP over real (virtual) network
//! interfaces, in private network namespaces the benchmark creates and which disappear with it.
//!
//! Three paths, each measured in both directions, in one run:
//!
//! 1. **synack <-> Linux over a TUN**: a synack [`Driver`] on a `synack::device::Tun`
//!    (`sb-synack`, kernel 10.9.0.1/24, synack 10.9.0.2), blocking `synack::net` sockets on one
//!    side, `std::net` sockets on the other. synack runs with its defaults (buffers auto-tuned from
//!    16 KiB send / 64 KiB receive up to 4 MiB / 6 MiB, CUBIC, SACK, timestamps).
//! 2. **smoltcp <-> Linux over a TUN**: smoltcp 0.14 on its own `phy::TunTapInterface`
//!    (`sb-smoltcp`, kernel 10.10.0.1/24, smoltcp 10.10.0.2), driven by the usual loop
//!    (`Interface::poll`, the application, `phy::wait` on the TUN descriptor until the
//!    `poll_delay`). smoltcp's buffers are fixed, so it runs twice: with synack's initial buffer
//!    sizes (16 KiB / 64 KiB) and with synack's largest (4 MiB / 6 MiB); CUBIC, every other
//!    setting smoltcp's default. The ratios take smoltcp's better figure in each direction.
//! 3. **Linux <-> Linux over a veth pair**: one end in the benchmark's namespace, the other in a
//!    second namespace made by a thread that unshares again from inside the first (the peer is
//!    created there directly: `ip link add ... peer name ... netns <that thread's id>`). Two
//!    namespaces, so the kernel cannot take its loopback shortcut: every byte crosses the veth
//!    (the benchmark checks the veth's byte counters).
//!
//! Each transfer: the sending application writes `--bytes` of a pattern in 64 KiB writes (or
//! stops earlier at [`TIME_CAP`]), then closes its write half; the receiving application reads
//! into a 64 KiB buffer and compares every byte with the pattern (the same memcmp on every path).
//! The figure is application bytes read / wall time from `connect` to the last byte read. Each
//! figure is the median of [`RUNS`] transfers, the paths taking turns. Beside the figures the
//! report gives the sender's retransmissions and the datagrams the kernel dropped at each TUN's
//! queue.
//!
//! Nothing touches the host's interfaces: everything is created inside the private namespaces,
//! and every blocking step is bounded (socket timeouts, deadlines on accept and on the smoltcp
//! loop). It needs root (`CAP_SYS_ADMIN` for the namespaces, `CAP_NET_ADMIN` for the interfaces)
//! and the `ip` command (iproute2) for the veth pair and smoltcp's persistent TUN.

mod smol;
mod veth;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use synack::device::Tun;
use synack::Driver;

use crate::report::{fmt_bytes, json_f64, json_list, json_str, json_str_list};

/// Arguments of `tun`.
#[derive(Debug, Clone, clap::Args)]
pub struct TunArgs {
    /// MTU of the TUN interfaces and of the veth pair; each stack's MSS is MTU - 40.
    #[arg(long, value_name = "BYTES", default_value_t = 1500)]
    pub mtu: usize,
    /// Bytes per transfer (k, M, G are powers of 1024).
    #[arg(long, value_name = "N", default_value = "256M", value_parser = parse_size)]
    pub bytes: u64,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Give synack's TUN TCP segmentation offload (`TunBuilder::offload`): bursts of segments
    /// cross it as single large packets, both ways. smoltcp's TUN has no such mode.
    #[arg(long)]
    pub offload: bool,
}

/// Transfers per path and direction; the median is reported.
pub const RUNS: usize = 5;

/// Bytes per application `write` and size of the reading application's buffer.
const CHUNK: usize = 64 * 1024;

/// Period of the byte pattern every path sends.
const PERIOD: usize = 1 << 20;

/// The TCP port the receiving or listening side uses on every path.
const PORT: u16 = 5001;

/// How long a blocking read or write may make no progress before the transfer fails.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest a sender keeps writing: a transfer moves `--bytes` or stops at this cap,
/// whichever comes first (as `iperf -n`/`-t`), so that a pathologically slow path cannot make the
/// run last for ever; its figure is then the bytes it moved over the time it took.
pub const TIME_CAP: Duration = Duration::from_secs(4);

/// How long after the cap a transfer may take to finish before it counts as failed.
const GRACE: Duration = Duration::from_secs(30);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// synack's TUN: the kernel's address and synack's.
const SYNACK_TUN: &str = "sb-synack";
const SYNACK_KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const SYNACK_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

/// Parses a byte count: `65536`, `64k`, `8M`, `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    crate::report::parse_bytes("--bytes", text)
}

/// Runs the benchmark and returns the report (a table, or one JSON line).
pub fn run(args: &TunArgs) -> Result<String, String> {
    if !(576..=65535).contains(&args.mtu) {
        return Err(format!(
            "--mtu must be between 576 and 65535 (got {})",
            args.mtu
        ));
    }
    if args.bytes == 0 {
        return Err("--bytes must be at least 1".into());
    }
    if !Path::new(synack::device::tun::TUN_PATH).exists() {
        return Err(format!(
            "tun: {} does not exist (load the tun module: modprobe tun)",
            synack::device::tun::TUN_PATH
        ));
    }
    let ip = find_ip().ok_or_else(|| {
        "tun: the `ip` command (iproute2) is needed for the veth pair and was not found in \
         /usr/sbin, /sbin, /usr/bin or /bin"
            .to_string()
    })?;
    let args2 = args.clone();
    let t = thread::Builder::new()
        .name("synack-bench-tun".into())
        .spawn(move || -> Result<Measured, String> {
            synack::netns::unshare().map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    format!(
                        "tun: needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create its private \
                         network namespace and interfaces: {e}"
                    )
                } else {
                    format!("tun: {e}")
                }
            })?;
            measure(&args2, ip)
        })
        .map_err(|e| format!("tun: cannot start the benchmark thread: {e}"))?;
    let measured = match t.join() {
        Ok(r) => r?,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(format!("tun: the benchmark thread failed: {what}"));
        }
    };
    Ok(if args.json {
        measured.json(args)
    } else {
        measured.table(args)
    })
}

fn find_ip() -> Option<&'static str> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Runs `ip ARGS` in the calling thread's network namespace.
fn ip_cmd(ip: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(ip)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {ip}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ----- what every path shares ------------------------------------------------------------------

/// The byte stream every path sends: byte `o` of the stream is `pattern[o % PERIOD]`, and the
/// buffer repeats its first `CHUNK` bytes at the end so any write or read of up to `CHUNK` bytes
/// is one slice.
fn pattern() -> Arc<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut p = Vec::with_capacity(PERIOD + CHUNK);
    while p.len() < PERIOD {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        p.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    p.truncate(PERIOD);
    let head = p[..CHUNK].to_vec();
    p.extend_from_slice(&head);
    Arc::new(p)
}

/// The `len` bytes of the stream at offset `off` (`len <= CHUNK`).
fn slice_at(pat: &[u8], off: u64, len: usize) -> &[u8] {
    let start = (off % PERIOD as u64) as usize;
    &pat[start..start + len.min(CHUNK)]
}

/// One transfer's schedule: `bytes` to send, starting at `t0`; the sender stops writing at
/// `stop` (the time cap) even if it has not sent them all, and the transfer fails if it has not
/// finished by `deadline`.
#[derive(Clone, Copy, Debug)]
struct Plan {
    t0: Instant,
    bytes: u64,
    stop: Instant,
    deadline: Instant,
}

impl Plan {
    fn new(bytes: u64) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            bytes,
            stop: t0 + TIME_CAP,
            deadline: t0 + TIME_CAP + GRACE,
        }
    }

    /// How many more bytes to write at offset `off`, now: zero once done or past the cap.
    fn next_write(&self, off: u64) -> usize {
        if off >= self.bytes || Instant::now() >= self.stop {
            0
        } else {
            (self.bytes - off).min(CHUNK as u64) as usize
        }
    }

    /// The outcome of a transfer whose receiver read `got` bytes, the last at `last`.
    fn moved(&self, got: Got) -> Moved {
        Moved {
            bytes: got.bytes,
            time: got.last.saturating_duration_since(self.t0),
        }
    }
}

/// What a receiver read: how many bytes, and when the last one came.
#[derive(Clone, Copy, Debug)]
struct Got {
    bytes: u64,
    last: Instant,
}

/// A finished transfer: application bytes read, from `connect` to the last byte read.
#[derive(Clone, Copy, Debug)]
struct Moved {
    bytes: u64,
    time: Duration,
}

/// Checks that the receiver read what the sender wrote.
fn agree(sent: u64, got: Got) -> Result<Got, String> {
    if sent == got.bytes {
        Ok(got)
    } else {
        Err(format!(
            "the sender wrote {sent} bytes, the receiver read {}",
            got.bytes
        ))
    }
}

/// Writes the pattern in `CHUNK` writes until `plan.bytes` are written or the time cap passed;
/// returns how many bytes it wrote.
fn source(w: &mut impl Write, plan: &Plan, pat: &[u8]) -> Result<u64, String> {
    let mut off = 0u64;
    loop {
        let n = plan.next_write(off);
        if n == 0 {
            return Ok(off);
        }
        w.write_all(slice_at(pat, off, n))
            .map_err(|e| format!("write after {off} bytes: {e}"))?;
        off += n as u64;
    }
}

/// Reads to end of stream, checking every byte against the pattern.
fn sink(r: &mut impl Read, plan: &Plan, pat: &[u8]) -> Result<Got, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut got = Got {
        bytes: 0,
        last: plan.t0,
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read after {} bytes: {e}", got.bytes)),
        };
        if n == 0 {
            break;
        }
        check(&mut got, &buf[..n], plan, pat)?;
    }
    if got.bytes == 0 {
        return Err("the stream ended before any data".into());
    }
    Ok(got)
}

/// Checks `data`, read at offset `got.bytes`, against the pattern and counts it.
fn check(got: &mut Got, data: &[u8], plan: &Plan, pat: &[u8]) -> Result<(), String> {
    if got.bytes + data.len() as u64 > plan.bytes {
        return Err(format!("received more than the {} bytes sent", plan.bytes));
    }
    if *data != *slice_at(pat, got.bytes, data.len()) {
        return Err(format!(
            "the bytes received at offset {} differ from those sent",
            got.bytes
        ));
    }
    got.bytes += data.len() as u64;
    got.last = Instant::now();
    Ok(())
}

/// Reads until end of stream (the peer's FIN after it read everything), discarding.
fn drain(r: &mut impl Read) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("waiting for the peer to close: {e}")),
        }
    }
}

/// Accepts one connection on a non-blocking kernel listener, giving up at `deadline`.
fn accept_kernel(
    l: &std::net::TcpListener,
    deadline: Instant,
) -> Result<std::net::TcpStream, String> {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)
                    .and_then(|()| bound_kernel(&s))
                    .map_err(|e| format!("configuring the accepted socket: {e}"))?;
                return Ok(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("no connection arrived in time".into());
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

fn bound_kernel(s: &std::net::TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))
}

/// A kernel client: connects to `to`, sends, closes its write half, waits for the peer's FIN;
/// returns how many bytes it sent.
fn kernel_client_source(to: SocketAddr, plan: &Plan, pat: &[u8]) -> Result<u64, String> {
    let mut s = std::net::TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)
        .map_err(|e| format!("Linux cannot connect to {to}: {e}"))?;
    bound_kernel(&s).map_err(|e| format!("configuring the socket: {e}"))?;
    let sent = source(&mut s, plan, pat).map_err(|e| format!("Linux sending: {e}"))?;
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("Linux shutdown: {e}"))?;
    drain(&mut s)?;
    Ok(sent)
}

/// A kernel server: accepts one connection on `l`, reads and checks what comes, closes.
fn kernel_server_sink(l: &std::net::TcpListener, plan: &Plan, pat: &[u8]) -> Result<Got, String> {
    let mut s = accept_kernel(l, plan.deadline)?;
    sink(&mut s, plan, pat).map_err(|e| format!("Linux receiving: {e}"))
}

fn join<T>(t: thread::JoinHandle<Result<T, String>>) -> Result<T, String> {
    t.join()
        .unwrap_or_else(|_| Err("a benchmark thread panicked".into()))
}

fn kernel_listener(addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("Linux cannot listen on {addr}: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("configuring the listener: {e}"))?;
    Ok(l)
}

// ----- synack ----------------------------------------------------------------------------------

/// synack on its TUN, with a listener for the Linux -> synack direction.
struct SynackSide {
    driver: Driver,
    listener: synack::net::TcpListener,
    /// The largest buffers synack's auto-tuning reached (send, receive), over all transfers.
    buffers: (usize, usize),
}

impl SynackSide {
    fn open(mtu: usize, offload: bool) -> Result<Self, String> {
        let tun = Tun::builder(SYNACK_TUN)
            .mtu(mtu)
            .offload(offload)
            .address(IpAddr::V4(SYNACK_KERNEL_IP), 24)
            .up(true)
            .open()
            .map_err(|e| format!("synack's TUN: {e}"))?;
        let driver = Driver::builder()
            .address(IpAddr::V4(SYNACK_IP))
            .device(tun)
            .thread_name("synack-bench-driver")
            .drain_timeout(Duration::from_secs(2))
            .spawn()
            .map_err(|e| format!("starting the synack driver: {e}"))?;
        let listener = synack::net::TcpListener::bind(&driver, SocketAddr::from((SYNACK_IP, PORT)))
            .map_err(|e| format!("synack cannot listen: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("configuring synack's listener: {e}"))?;
        Ok(Self {
            driver,
            listener,
            buffers: (0, 0),
        })
    }

    fn note_buffers(&mut self, s: &synack::net::TcpStream) {
        if let Ok(i) = s.tcp_info() {
            self.buffers.0 = self.buffers.0.max(i.send_buffer);
            self.buffers.1 = self.buffers.1.max(i.recv_buffer);
        }
    }

    /// synack -> Linux: a kernel server reads; synack connects and writes.
    fn send(&mut self, bytes: u64, pat: &Arc<Vec<u8>>) -> Result<Moved, String> {
        let l = kernel_listener(SocketAddr::from((SYNACK_KERNEL_IP, PORT)))?;
        let plan = Plan::new(bytes);
        let p = Arc::clone(pat);
        let receiver = thread::spawn(move || kernel_server_sink(&l, &plan, &p));
        let sent = (|| -> Result<u64, String> {
            let to = SocketAddr::from((SYNACK_KERNEL_IP, PORT));
            let mut s = synack::net::TcpStream::connect_timeout(&self.driver, &to, CONNECT_TIMEOUT)
                .map_err(|e| format!("synack cannot connect to {to}: {e}"))?;
            s.set_read_timeout(Some(IO_TIMEOUT))
                .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
                .map_err(|e| format!("configuring synack's socket: {e}"))?;
            let r = source(&mut s, &plan, pat).map_err(|e| format!("synack sending: {e}"));
            self.note_buffers(&s);
            let sent = r?;
            s.shutdown(Shutdown::Write)
                .map_err(|e| format!("synack shutdown: {e}"))?;
            drain(&mut s)?;
            Ok(sent)
        })();
        let got = join(receiver);
        Ok(plan.moved(agree(sent?, got?)?))
    }

    /// Linux -> synack: synack's listener accepts; a kernel client connects and writes.
    fn recv(&mut self, bytes: u64, pat: &Arc<Vec<u8>>) -> Result<Moved, String> {
        let plan = Plan::new(bytes);
        let p = Arc::clone(pat);
        let to = SocketAddr::from((SYNACK_IP, PORT));
        let sender = thread::spawn(move || kernel_client_source(to, &plan, &p));
        let got = (|| -> Result<Got, String> {
            let mut s = loop {
                match self.listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() >= plan.deadline || sender.is_finished() {
                            return Err("synack: no connection arrived".into());
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(format!("synack accept: {e}")),
                }
            };
            s.set_nonblocking(false)
                .and_then(|()| s.set_read_timeout(Some(IO_TIMEOUT)))
                .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
                .map_err(|e| format!("configuring synack's socket: {e}"))?;
            let r = sink(&mut s, &plan, pat).map_err(|e| format!("synack receiving: {e}"));
            self.note_buffers(&s);
            r
        })();
        let sent = join(sender);
        let got = got?;
        Ok(plan.moved(agree(sent?, got)?))
    }

    fn close(self) {
        drop(self.listener);
        self.driver.shutdown(Duration::from_secs(1));
    }
}

// ----- the run ---------------------------------------------------------------------------------

/// One row of the report: Gbit/s per run for each direction, with what the counters saw.
#[derive(Debug, Default)]
struct Figures {
    /// stack -> Linux (for the veth: end A -> end B).
    out: Vec<f64>,
    /// Linux -> stack (for the veth: end B -> end A).
    back: Vec<f64>,
    /// Segments the sender retransmitted, summed over the runs, stack -> Linux (None: the
    /// sender does not count them).
    out_retrans: Option<u64>,
    /// The same, Linux -> stack.
    back_retrans: Option<u64>,
    /// Datagrams the kernel dropped because the TUN's queue towards the stack was full
    /// (`tx_dropped` of the TUN), stack -> Linux (these are the kernel's ACKs) (None: no TUN).
    out_drops: Option<u64>,
    /// The same, Linux -> stack (these are data segments).
    back_drops: Option<u64>,
    /// Transfers that stopped at the time cap before `--bytes` were sent.
    capped: usize,
}

impl Figures {
    fn out(&self) -> f64 {
        median(&self.out)
    }
    fn back(&self) -> f64 {
        median(&self.back)
    }
}

#[derive(Debug, Default)]
struct Measured {
    synack: Figures,
    /// smoltcp with synack's initial buffers.
    smol_initial: Figures,
    /// smoltcp with synack's largest buffers.
    smol_largest: Figures,
    veth: Figures,
    /// The largest buffers synack's auto-tuning reached (send, receive).
    synack_buffers: (usize, usize),
    /// Bytes the veth end A sent and received over all veth transfers (its interface counters).
    veth_counters: (u64, u64),
    wall: Duration,
    problems: Vec<String>,
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        bytes as f64 * 8.0 / s / 1e9
    } else {
        f64::NAN
    }
}

/// Which direction of which row a transfer is, and the TUN it crosses.
struct Dir {
    what: &'static str,
    out: bool,
    tun: Option<&'static str>,
}

/// Runs one transfer and records its figure (or its failure, as NaN, which the report shows as
/// missing), the sender's retransmissions (`retrans` reads the sender's counter) and the TUN
/// queue's drops.
fn transfer(
    problems: &mut Vec<String>,
    fig: &mut Figures,
    dir: &Dir,
    bytes: u64,
    retrans: &dyn Fn() -> Option<u64>,
    run: impl FnOnce() -> Result<Moved, String>,
) {
    let drops = |tun: Option<&str>| Some(if_counters(tun?)?.tx_dropped);
    let (retrans0, drops0) = (retrans(), drops(dir.tun));
    let r = run();
    let (figs, total_retrans, total_drops) = if dir.out {
        (&mut fig.out, &mut fig.out_retrans, &mut fig.out_drops)
    } else {
        (&mut fig.back, &mut fig.back_retrans, &mut fig.back_drops)
    };
    add(total_retrans, retrans0, retrans());
    add(total_drops, drops0, drops(dir.tun));
    match r {
        Ok(m) => {
            if m.bytes < bytes {
                fig.capped += 1;
            }
            figs.push(gbps(m.bytes, m.time));
        }
        Err(e) => {
            problems.push(format!("{}: {e}", dir.what));
            figs.push(f64::NAN);
        }
    }
}

/// Sets up the three paths in this thread's (new) namespace and runs the transfers.
fn measure(args: &TunArgs, ip: &'static str) -> Result<Measured, String> {
    let started = Instant::now();
    let pat = pattern();
    let bytes = args.bytes;
    let mut synack = SynackSide::open(args.mtu, args.offload)?;
    let mut smol = smol::SmolSide::open(ip, args.mtu)?;
    let mut veth = veth::Veth::open(ip, args.mtu, &pat)?;
    let veth_before = if_counters(veth::END_A);
    let mut m = Measured::default();
    let here = "/proc/thread-self/net/snmp";
    let peer = format!("/proc/{}/net/snmp", veth.peer_tid());
    let driver = synack.driver.clone();
    let synack_retrans = || Some(driver.counters().retrans_segs);
    let linux_here = || tcp_retrans_segs(here);
    let linux_peer = || tcp_retrans_segs(&peer);
    let uncounted = || None;
    let (initial, largest) = (smol::initial_buffers(), smol::largest_buffers());
    let p = &mut m.problems;
    let smol_tun = Some(smol::NAME);
    let synack_tun = Some(SYNACK_TUN);
    for _ in 0..RUNS {
        let dir = |what, out, tun| Dir { what, out, tun };
        transfer(
            p,
            &mut m.synack,
            &dir("synack -> Linux", true, synack_tun),
            bytes,
            &synack_retrans,
            || synack.send(bytes, &pat),
        );
        transfer(
            p,
            &mut m.smol_initial,
            &dir("smoltcp (initial buffers) -> Linux", true, smol_tun),
            bytes,
            &uncounted,
            || smol.send(bytes, &pat, initial),
        );
        transfer(
            p,
            &mut m.smol_largest,
            &dir("smoltcp (largest buffers) -> Linux", true, smol_tun),
            bytes,
            &uncounted,
            || smol.send(bytes, &pat, largest),
        );
        transfer(
            p,
            &mut m.veth,
            &dir("veth A -> B", true, None),
            bytes,
            &linux_here,
            || veth.a_to_b(bytes, &pat),
        );
        transfer(
            p,
            &mut m.synack,
            &dir("Linux -> synack", false, synack_tun),
            bytes,
            &linux_here,
            || synack.recv(bytes, &pat),
        );
        transfer(
            p,
            &mut m.smol_initial,
            &dir("Linux -> smoltcp (initial buffers)", false, smol_tun),
            bytes,
            &linux_here,
            || smol.recv(bytes, &pat, initial),
        );
        transfer(
            p,
            &mut m.smol_largest,
            &dir("Linux -> smoltcp (largest buffers)", false, smol_tun),
            bytes,
            &linux_here,
            || smol.recv(bytes, &pat, largest),
        );
        transfer(
            p,
            &mut m.veth,
            &dir("veth B -> A", false, None),
            bytes,
            &linux_peer,
            || veth.b_to_a(bytes, &pat),
        );
    }
    let veth_after = if_counters(veth::END_A);
    m.veth_counters = match (veth_before, veth_after) {
        (Some(b), Some(a)) => (
            a.tx_bytes.saturating_sub(b.tx_bytes),
            a.rx_bytes.saturating_sub(b.rx_bytes),
        ),
        _ => (0, 0),
    };
    // Every veth transfer that completed put its bytes on the wire of end A (tx for A -> B, rx for
    // B -> A): anything less means the traffic took another way.
    let ok_out = m.veth.out.iter().filter(|g| g.is_finite()).count() as u64;
    let ok_back = m.veth.back.iter().filter(|g| g.is_finite()).count() as u64;
    if m.veth_counters.0 < ok_out * bytes || m.veth_counters.1 < ok_back * bytes {
        m.problems.push(format!(
            "the veth counters show fewer bytes ({} sent, {} received by end A) than the \
             transfers moved: the Linux <-> Linux traffic did not all cross the veth",
            m.veth_counters.0, m.veth_counters.1
        ));
    }
    m.synack_buffers = synack.buffers;
    drop(driver);
    synack.close();
    smol.close();
    veth.close();
    m.wall = started.elapsed();
    Ok(m)
}

/// Adds `after - before` to `total` when both counters could be read.
fn add(total: &mut Option<u64>, before: Option<u64>, after: Option<u64>) {
    if let (Some(b), Some(a)) = (before, after) {
        *total = Some(total.unwrap_or(0) + a.saturating_sub(b));
    }
}

/// `RetransSegs` of the kernel's TCP in the namespace of `snmp` (a `/proc/.../net/snmp` file).
fn tcp_retrans_segs(snmp: &str) -> Option<u64> {
    let text = std::fs::read_to_string(snmp).ok()?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let names = tcp.next()?;
    let values = tcp.next()?;
    let i = names.split_whitespace().position(|n| n == "RetransSegs")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// An interface's counters in this thread's namespace.
#[derive(Clone, Copy, Debug)]
struct IfCounters {
    rx_bytes: u64,
    tx_bytes: u64,
    tx_dropped: u64,
}

/// The counters of interface `name` in this thread's namespace (`/proc/thread-self/net/dev`).
fn if_counters(name: &str) -> Option<IfCounters> {
    let table = std::fs::read_to_string("/proc/thread-self/net/dev").ok()?;
    table.lines().find_map(|line| {
        let (n, rest) = line.split_once(':')?;
        if n.trim() != name {
            return None;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (f.len() >= 16).then(|| IfCounters {
            rx_bytes: f[0],
            tx_bytes: f[8],
            tx_dropped: f[11],
        })
    })
}

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

// ----- the report ---------------------------------------------------------------------------

/// The better of two figures (NaN counts as missing), and whether it is the second.
fn best(a: f64, b: f64) -> (f64, bool) {
    match (a.is_finite(), b.is_finite()) {
        (_, false) => (a, false),
        (false, true) => (b, true),
        (true, true) if b > a => (b, true),
        _ => (a, false),
    }
}

impl Measured {
    fn veth(&self) -> f64 {
        let (a, b) = (self.veth.out(), self.veth.back());
        match (a.is_finite(), b.is_finite()) {
            (true, true) => (a + b) / 2.0,
            (true, false) => a,
            (false, true) => b,
            (false, false) => f64::NAN,
        }
    }

    /// smoltcp's better configuration, stack -> Linux: (Gbit/s, "initial" or "largest").
    fn smol_out(&self) -> (f64, &'static str) {
        let (g, second) = best(self.smol_initial.out(), self.smol_largest.out());
        (g, if second { "largest" } else { "initial" })
    }

    /// smoltcp's better configuration, Linux -> stack.
    fn smol_back(&self) -> (f64, &'static str) {
        let (g, second) = best(self.smol_initial.back(), self.smol_largest.back());
        (g, if second { "largest" } else { "initial" })
    }

    /// (synack / smoltcp's better configuration out, back, geometric mean of the two).
    fn vs_smoltcp(&self) -> (f64, f64, f64) {
        let o = ratio(self.synack.out(), self.smol_out().0);
        let b = ratio(self.synack.back(), self.smol_back().0);
        (o, b, (o * b).sqrt())
    }

    /// (synack / Linux-over-veth out, back, geometric mean of the two).
    fn vs_linux(&self) -> (f64, f64, f64) {
        let v = self.veth();
        let o = ratio(self.synack.out(), v);
        let b = ratio(self.synack.back(), v);
        (o, b, (o * b).sqrt())
    }

    fn json(&self, args: &TunArgs) -> String {
        let (so, sb, sg) = self.vs_smoltcp();
        let (lo, lb, lg) = self.vs_linux();
        let (initial, largest) = (smol::initial_buffers(), smol::largest_buffers());
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| fields.push((k.to_string(), v));
        put("bench", json_str("tun"));
        put("mtu", args.mtu.to_string());
        put("synack_offload", args.offload.to_string());
        put("bytes", args.bytes.to_string());
        put("runs", RUNS.to_string());
        put("synack_to_linux_gbps", json_f64(self.synack.out()));
        put("linux_to_synack_gbps", json_f64(self.synack.back()));
        put("smoltcp_to_linux_gbps", json_f64(self.smol_out().0));
        put("linux_to_smoltcp_gbps", json_f64(self.smol_back().0));
        put("smoltcp_to_linux_buffers", json_str(self.smol_out().1));
        put("linux_to_smoltcp_buffers", json_str(self.smol_back().1));
        put("veth_gbps", json_f64(self.veth()));
        put("veth_a_to_b_gbps", json_f64(self.veth.out()));
        put("veth_b_to_a_gbps", json_f64(self.veth.back()));
        put("ratio_synack_smoltcp", json_f64(sg));
        put("ratio_synack_smoltcp_send", json_f64(so));
        put("ratio_synack_smoltcp_recv", json_f64(sb));
        put("ratio_synack_linux", json_f64(lg));
        put("ratio_synack_linux_send", json_f64(lo));
        put("ratio_synack_linux_recv", json_f64(lb));
        for (key, f) in [
            ("synack", &self.synack),
            ("smoltcp_initial", &self.smol_initial),
            ("smoltcp_largest", &self.smol_largest),
        ] {
            if key != "synack" {
                put(&format!("{key}_to_linux_gbps"), json_f64(f.out()));
                put(&format!("linux_to_{key}_gbps"), json_f64(f.back()));
            }
            put(&format!("{key}_to_linux_runs_gbps"), json_list(&f.out));
            put(&format!("linux_to_{key}_runs_gbps"), json_list(&f.back));
            put(&format!("{key}_to_linux_retrans"), json_opt(f.out_retrans));
            put(&format!("linux_to_{key}_retrans"), json_opt(f.back_retrans));
            put(&format!("{key}_to_linux_tun_drops"), json_opt(f.out_drops));
            put(&format!("linux_to_{key}_tun_drops"), json_opt(f.back_drops));
            put(&format!("{key}_capped_transfers"), f.capped.to_string());
        }
        put("veth_capped_transfers", self.veth.capped.to_string());
        put("time_cap_seconds", TIME_CAP.as_secs().to_string());
        put("veth_a_to_b_runs_gbps", json_list(&self.veth.out));
        put("veth_b_to_a_runs_gbps", json_list(&self.veth.back));
        put("veth_a_to_b_retrans", json_opt(self.veth.out_retrans));
        put("veth_b_to_a_retrans", json_opt(self.veth.back_retrans));
        put("veth_a_tx_bytes", self.veth_counters.0.to_string());
        put("veth_a_rx_bytes", self.veth_counters.1.to_string());
        put("synack_max_send_buffer", self.synack_buffers.0.to_string());
        put("synack_max_recv_buffer", self.synack_buffers.1.to_string());
        put("smoltcp_initial_send_buffer", initial.0.to_string());
        put("smoltcp_initial_recv_buffer", initial.1.to_string());
        put("smoltcp_largest_send_buffer", largest.0.to_string());
        put("smoltcp_largest_recv_buffer", largest.1.to_string());
        put("smoltcp_version", json_str(smol::SMOLTCP_VERSION));
        put("wall_seconds", json_f64(self.wall.as_secs_f64()));
        put("errors", json_str_list(&self.problems));
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_str(k)))
            .collect();
        format!("{{{}}}\n", body.join(","))
    }

    fn table(&self, args: &TunArgs) -> String {
        let (initial, largest) = (smol::initial_buffers(), smol::largest_buffers());
        let smol_name = |b: (usize, usize)| {
            format!(
                "smoltcp {}, {} / {} buffers",
                smol::SMOLTCP_VERSION,
                fmt_bytes(b.0 as u64),
                fmt_bytes(b.1 as u64)
            )
        };
        let rows: [(String, &Figures); 4] = [
            (
                if args.offload {
                    "synack, auto-tuned buffers, TSO".into()
                } else {
                    "synack, auto-tuned buffers".into()
                },
                &self.synack,
            ),
            (smol_name(initial), &self.smol_initial),
            (smol_name(largest), &self.smol_largest),
            ("Linux <-> Linux over veth (A->B, B->A)".into(), &self.veth),
        ];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tun: {} per transfer, MTU {} (MSS {}), in private network namespaces; median of \
             {RUNS} runs per figure, every byte verified; {:.0} s in all",
            fmt_bytes(args.bytes),
            args.mtu,
            args.mtu - 40,
            self.wall.as_secs_f64()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<40} {:>15} {:>15}",
            "Gbit/s of application data", "stack -> Linux", "Linux -> stack"
        );
        for (name, f) in &rows {
            let _ = writeln!(
                out,
                "  {name:<40} {:>15} {:>15}",
                fmt_g(f.out()),
                fmt_g(f.back())
            );
        }
        let (so, sb, sg) = self.vs_smoltcp();
        let (lo, lb, lg) = self.vs_linux();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<40} {:>15} {:>15}   both ways: {}",
            "synack / smoltcp (its better buffers)",
            fmt_x(so),
            fmt_x(sb),
            fmt_x(sg)
        );
        let _ = writeln!(
            out,
            "  {:<40} {:>15} {:>15}   both ways: {}",
            "synack / Linux (veth, both ways' mean)",
            fmt_x(lo),
            fmt_x(lb),
            fmt_x(lg)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<40} {:>15} {:>15}",
            "retransmitted / dropped at the TUN *", "stack -> Linux", "Linux -> stack"
        );
        for (name, f) in &rows {
            let _ = writeln!(
                out,
                "  {name:<40} {:>15} {:>15}",
                format!("{} / {}", fmt_opt(f.out_retrans), fmt_opt(f.out_drops)),
                format!("{} / {}", fmt_opt(f.back_retrans), fmt_opt(f.back_drops))
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "  runs, Gbit/s (stack -> Linux | Linux -> stack):");
        for (name, f) in &rows {
            let _ = writeln!(
                out,
                "  {name:<40} {} | {}",
                fmt_runs(&f.out),
                fmt_runs(&f.back)
            );
        }
        let capped: Vec<String> = rows
            .iter()
            .filter(|(_, f)| f.capped > 0)
            .map(|(name, f)| format!("{name}: {} of {}", f.capped, f.out.len() + f.back.len()))
            .collect();
        let _ = writeln!(out);
        let mut notes = Vec::new();
        if !capped.is_empty() {
            notes.push(format!(
                "Stopped at the {} s cap before all the bytes were sent (the figure is then the \
                 bytes moved over the time taken): {}.",
                TIME_CAP.as_secs(),
                capped.join("; ")
            ));
        }
        notes.push(
            "* Segments the sender retransmitted (synack's and Linux's counters; smoltcp counts \
             none) / datagrams the kernel dropped because the TUN's queue (500 packets) towards \
             the stack was full (the kernel's ACKs in the stack -> Linux column, data in the \
             other), summed over the runs."
                .to_string(),
        );
        notes.push(format!(
            "synack's buffers grow from 16 KiB send / 64 KiB receive up to 4 MiB / 6 MiB \
             (largest reached here: {} / {}); smoltcp's are fixed, at synack's initial sizes and \
             at its largest ones, and the ratio takes smoltcp's better figure in each direction; \
             Linux uses its tcp_wmem/tcp_rmem defaults.",
            fmt_bytes(self.synack_buffers.0 as u64),
            fmt_bytes(self.synack_buffers.1 as u64)
        ));
        notes.push(
            "The veth's ends are in two namespaces (no loopback shortcut) and it carries the \
             kernel's TSO/GRO super-segments; the TUNs carry MTU-sized datagrams, one read or \
             write each."
                .to_string(),
        );
        for n in &notes {
            out.push_str(&wrap(n, 98, "  "));
        }
        for p in &self.problems {
            out.push_str(&wrap(&format!("problem: {p}"), 98, "  "));
        }
        out.push('\n');
        out
    }
}

/// Wraps `text` at spaces into lines of at most `width` characters after `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

fn fmt_g(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "-".into()
    }
}

fn fmt_x(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}x")
    } else {
        "-".into()
    }
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |n| n.to_string())
}

fn json_opt(v: Option<u64>) -> String {
    v.map_or("null".into(), |n| n.to_string())
}

fn fmt_runs(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|g| fmt_g(*g)).collect();
    items.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8X").is_err());
    }

    #[test]
    fn the_pattern_source_and_sink_agree() {
        let pat = pattern();
        let mut wire = Vec::new();
        let len = (PERIOD + 3 * CHUNK + 17) as u64;
        let plan = Plan::new(len);
        assert_eq!(source(&mut wire, &plan, &pat), Ok(len));
        assert_eq!(wire.len() as u64, len);
        assert_eq!(sink(&mut &wire[..], &plan, &pat).map(|g| g.bytes), Ok(len));
        let mut bad = wire.clone();
        bad[PERIOD + 5] ^= 1;
        assert!(sink(&mut &bad[..], &plan, &pat).is_err());
        // A shorter stream (a sender stopped by the time cap) is fine, an empty one is not.
        assert_eq!(sink(&mut &wire[..10], &plan, &pat).map(|g| g.bytes), Ok(10));
        assert!(sink(&mut &wire[..0], &plan, &pat).is_err());
        assert!(agree(
            11,
            Got {
                bytes: 10,
                last: plan.t0
            }
        )
        .is_err());
        let short = Plan::new(5);
        assert!(sink(&mut &wire[..10], &short, &pat).is_err());
    }

    #[test]
    fn text_wraps() {
        assert_eq!(wrap("aa bb cc", 4, "  "), "  aa\n  bb\n  cc\n");
        assert_eq!(wrap("aa bb cc", 5, "  "), "  aa bb\n  cc\n");
        assert_eq!(wrap("aa bb", 20, "  "), "  aa bb\n");
    }

    #[test]
    fn medians_skip_failures() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0]), 2.0);
        assert!(median(&[f64::NAN]).is_nan());
    }
}
