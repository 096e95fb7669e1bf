//! The shared object through its C ABI, as packetdrill uses it: `packetdrill_interface_init`
//! fills a `struct packetdrill_interface`, and everything else goes through its function
//! pointers (`extern "C"` calls with C types: `sockaddr_in`, `socklen_t`, `iovec`, `pollfd`,
//! `timeval`, variadic `fcntl` and `ioctl`), with blocking calls made from a second thread as
//! packetdrill's system call thread makes them, and datagrams crafted and checked with
//! `synack-wire`.
//!
//! The last test also `dlopen()`s the built `libsynack_packetdrill.so`, when cargo built it next
//! to the test binary, and runs a handshake through the symbol packetdrill looks up.

use std::ffi::{c_int, c_ulong, c_void, CString};
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant as RealInstant};

use synack_packetdrill::{packetdrill_interface_init, PacketdrillInterface, EPOCH_USECS};
use synack_wire::{build_tcp, parse_ip, TcpFlags, TcpOptions, TcpRepr, Timestamps};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The filled interface, shareable with the "system call thread" of a test.
#[derive(Clone, Copy)]
struct Ifc(PacketdrillInterface);

// SAFETY: the interface is a table of function pointers plus the stack pointer, and the stack
// is `Sync`: packetdrill itself calls it from two threads.
unsafe impl Send for Ifc {}
// SAFETY: as above.
unsafe impl Sync for Ifc {}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain integers; all-zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

impl Ifc {
    /// The interface for `flags`, with `sysctls=0` added: the tests do not depend on the
    /// machine's sysctls.
    fn init(flags: &str) -> Ifc {
        Ifc::init_exactly(&format!("{flags} sysctls=0"))
    }

    /// The interface for exactly `flags`.
    fn init_exactly(flags: &str) -> Ifc {
        let mut ifc = PacketdrillInterface::default();
        let flags = CString::new(flags).unwrap();
        // SAFETY: a NUL-terminated string and a writable interface struct.
        unsafe { packetdrill_interface_init(flags.as_ptr(), &mut ifc) };
        assert!(!ifc.userdata.is_null());
        Ifc(ifc)
    }

    fn ud(&self) -> *mut c_void {
        self.0.userdata
    }

    fn socket(&self) -> c_int {
        // SAFETY: userdata from init; plain integer arguments.
        unsafe { self.0.socket.unwrap()(self.ud(), libc::AF_INET, libc::SOCK_STREAM, 6) }
    }

    fn setsockopt_int(&self, fd: c_int, level: c_int, name: c_int, v: c_int) -> c_int {
        // SAFETY: `v` is a live int of the size passed.
        unsafe {
            self.0.setsockopt.unwrap()(
                self.ud(),
                fd,
                level,
                name,
                &v as *const c_int as *const c_void,
                size_of::<c_int>() as libc::socklen_t,
            )
        }
    }

    fn getsockopt_int(&self, fd: c_int, level: c_int, name: c_int) -> (c_int, c_int) {
        let (r, v) = self.getsockopt_raw(fd, level, name, size_of::<c_int>());
        assert_eq!(v.len(), size_of::<c_int>());
        (r, c_int::from_ne_bytes(v.try_into().unwrap()))
    }

    /// `getsockopt(fd, SOL_TCP, TCP_INFO)` into libc's `struct tcp_info` (glibc's layout, an
    /// independent statement of Linux's).
    fn tcp_info(&self, fd: c_int) -> libc::tcp_info {
        let size = size_of::<libc::tcp_info>();
        let (r, v) = self.getsockopt_raw(fd, libc::SOL_TCP, libc::TCP_INFO, size);
        assert_eq!(r, 0, "getsockopt(TCP_INFO): errno {}", errno());
        assert_eq!(v.len(), size);
        // SAFETY: `v` holds `size` initialised bytes and tcp_info is plain integers, for which
        // any bit pattern is valid; read_unaligned copes with the Vec's alignment.
        unsafe { std::ptr::read_unaligned(v.as_ptr().cast()) }
    }

    /// `getsockopt` into a buffer of `len` bytes: (result, the bytes written).
    fn getsockopt_raw(&self, fd: c_int, level: c_int, name: c_int, len: usize) -> (c_int, Vec<u8>) {
        let mut v = vec![0u8; len];
        let mut l = len as libc::socklen_t;
        // SAFETY: `v` holds `len` writable bytes; `l` is writable and holds that length.
        let r = unsafe {
            self.0.getsockopt.unwrap()(
                self.ud(),
                fd,
                level,
                name,
                v.as_mut_ptr() as *mut c_void,
                &mut l,
            )
        };
        v.truncate(l as usize);
        (r, v)
    }

    fn bind(&self, fd: c_int, a: SocketAddrV4) -> c_int {
        let s = sockaddr_in(a);
        // SAFETY: `s` is a live sockaddr_in of the size passed.
        unsafe {
            self.0.bind.unwrap()(
                self.ud(),
                fd,
                &s as *const libc::sockaddr_in as *const libc::sockaddr,
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
    }

    fn listen(&self, fd: c_int, backlog: c_int) -> c_int {
        // SAFETY: userdata from init; plain integer arguments.
        unsafe { self.0.listen.unwrap()(self.ud(), fd, backlog) }
    }

    fn accept(&self, fd: c_int) -> (c_int, Option<SocketAddrV4>) {
        // SAFETY: sockaddr_in is plain integers; all-zero is a valid value.
        let mut s: libc::sockaddr_in = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `s` and `len` are live and writable, `len` holding the size of `s`.
        let r = unsafe {
            self.0.accept.unwrap()(
                self.ud(),
                fd,
                &mut s as *mut libc::sockaddr_in as *mut libc::sockaddr,
                &mut len,
            )
        };
        let peer = (r >= 0).then(|| {
            assert_eq!(len as usize, size_of::<libc::sockaddr_in>());
            assert_eq!(s.sin_family, libc::AF_INET as libc::sa_family_t);
            SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )
        });
        (r, peer)
    }

    fn connect(&self, fd: c_int, a: SocketAddrV4) -> c_int {
        let s = sockaddr_in(a);
        // SAFETY: `s` is a live sockaddr_in of the size passed.
        unsafe {
            self.0.connect.unwrap()(
                self.ud(),
                fd,
                &s as *const libc::sockaddr_in as *const libc::sockaddr,
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
    }

    fn write(&self, fd: c_int, data: &[u8]) -> isize {
        // SAFETY: `data` is live for the call.
        unsafe { self.0.write.unwrap()(self.ud(), fd, data.as_ptr() as *const c_void, data.len()) }
    }

    fn writev(&self, fd: c_int, parts: &[&[u8]]) -> isize {
        let iov: Vec<libc::iovec> = parts
            .iter()
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut c_void,
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: the iovecs describe live buffers, only read.
        unsafe { self.0.writev.unwrap()(self.ud(), fd, iov.as_ptr(), iov.len() as c_int) }
    }

    fn read(&self, fd: c_int, buf: &mut [u8]) -> isize {
        // SAFETY: `buf` is live and writable for the call.
        unsafe { self.0.read.unwrap()(self.ud(), fd, buf.as_mut_ptr() as *mut c_void, buf.len()) }
    }

    fn recv(&self, fd: c_int, buf: &mut [u8], flags: c_int) -> isize {
        // SAFETY: `buf` is live and writable for the call.
        unsafe {
            self.0.recv.unwrap()(
                self.ud(),
                fd,
                buf.as_mut_ptr() as *mut c_void,
                buf.len(),
                flags,
            )
        }
    }

    fn close(&self, fd: c_int) -> c_int {
        // SAFETY: userdata from init; plain integer arguments.
        unsafe { self.0.close.unwrap()(self.ud(), fd) }
    }

    fn shutdown(&self, fd: c_int, how: c_int) -> c_int {
        // SAFETY: userdata from init; plain integer arguments.
        unsafe { self.0.shutdown.unwrap()(self.ud(), fd, how) }
    }

    fn poll(&self, fd: c_int, events: i16, timeout: c_int) -> (c_int, i16) {
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one live, writable pollfd.
        let r = unsafe { self.0.poll.unwrap()(self.ud(), &mut p, 1, timeout) };
        (r, p.revents)
    }

    fn fcntl2(&self, fd: c_int, cmd: c_int) -> c_int {
        // SAFETY: a variadic call with no third argument, as `fcntl(fd, F_GETFL)` is made.
        unsafe { self.0.fcntl.unwrap()(self.ud(), fd, cmd) }
    }

    fn fcntl3(&self, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
        // SAFETY: a variadic call with an int third argument, as `fcntl(fd, F_SETFL, flags)`.
        unsafe { self.0.fcntl.unwrap()(self.ud(), fd, cmd, arg) }
    }

    fn ioctl_int(&self, fd: c_int, request: c_ulong, v: &mut c_int) -> c_int {
        // SAFETY: a variadic call with an `int *` third argument, live and writable.
        unsafe { self.0.ioctl.unwrap()(self.ud(), fd, request, v as *mut c_int) }
    }

    fn send_packet(&self, datagram: &[u8]) {
        // SAFETY: `datagram` is live for the call.
        let r = unsafe {
            self.0.netdev_send.unwrap()(
                self.ud(),
                datagram.as_ptr() as *const c_void,
                datagram.len(),
            )
        };
        assert_eq!(r, 0);
    }

    /// One `netdev_receive` call: the datagram and its time (microseconds since the epoch), or
    /// `None` for an empty result.
    fn receive_once(&self) -> Option<(Vec<u8>, i64)> {
        let mut buf = vec![0u8; 65_536];
        let mut count = buf.len();
        let mut t: libc::c_longlong = -1;
        // SAFETY: `buf` holds `count` writable bytes; `count` and `t` are live and writable.
        let r = unsafe {
            self.0.netdev_receive.unwrap()(
                self.ud(),
                buf.as_mut_ptr() as *mut c_void,
                &mut count,
                &mut t,
            )
        };
        assert_eq!(r, 0);
        (count > 0).then(|| {
            buf.truncate(count);
            (buf, t)
        })
    }

    /// Sniffs the next datagram, as packetdrill's loop does, allowing the system call thread a
    /// moment to make the call that sends it.
    fn receive(&self) -> (Seg, i64) {
        let (d, t) = self.receive_raw();
        (Seg::parse(&d), t)
    }

    /// [`receive`](Self::receive), the datagram's bytes as they are.
    fn receive_raw(&self) -> (Vec<u8>, i64) {
        let start = RealInstant::now();
        loop {
            if let Some(r) = self.receive_once() {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nothing was sent"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn usleep(&self, us: u32) {
        // SAFETY: userdata from init; a plain integer argument.
        assert_eq!(unsafe { self.0.usleep.unwrap()(self.ud(), us) }, 0);
    }

    /// The virtual clock in microseconds since the epoch.
    fn now(&self) -> i64 {
        // SAFETY: timeval is plain integers; all-zero is a valid value.
        let mut tv: libc::timeval = unsafe { zeroed() };
        // SAFETY: `tv` is live and writable; a null timezone is allowed.
        let r = unsafe { self.0.gettimeofday.unwrap()(self.ud(), &mut tv, ptr::null_mut()) };
        assert_eq!(r, 0);
        tv.tv_sec as i64 * 1_000_000 + tv.tv_usec as i64
    }

    fn free(self) {
        // SAFETY: userdata from init, freed once, with no other thread calling in.
        unsafe { self.0.free.unwrap()(self.ud()) }
    }
}

/// A parsed outbound segment.
#[derive(Debug, Clone)]
struct Seg {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    options: TcpOptions,
    /// The option bytes as sent.
    raw_options: Vec<u8>,
    payload: Vec<u8>,
}

impl Seg {
    fn parse(d: &[u8]) -> Seg {
        let ip = parse_ip(d).expect("an IP datagram");
        let t = TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).expect("TCP");
        let hl = usize::from(ip.payload[12] >> 4) * 4;
        Seg {
            src: ip.ip.src(),
            dst: ip.ip.dst(),
            sport: t.src_port,
            dport: t.dst_port,
            seq: t.seq,
            ack: t.ack,
            flags: t.flags,
            options: t.options,
            raw_options: ip.payload[20..hl].to_vec(),
            payload: t.payload.to_vec(),
        }
    }

    fn tsval(&self) -> u32 {
        self.options.timestamps.expect("timestamps").tsval
    }
}

/// The remote end's segment.
#[allow(clippy::too_many_arguments)]
fn segment(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    win: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = TcpRepr::new(sport, dport, seq, ack, flags, win);
    t.options = options;
    t.payload = payload;
    build_tcp(REMOTE.into(), LOCAL.into(), 64, &t).unwrap()
}

/// The remote end's SYN options: `<mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>`.
fn remote_syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamps: Some(Timestamps {
            tsval: 100,
            tsecr: 0,
        }),
        window_scale: Some(7),
        ..TcpOptions::default()
    }
}

fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..TcpOptions::default()
    }
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ salt).collect()
}

/// Passive open with a blocking accept on a second thread, data both ways, a retransmission,
/// and the close.
#[test]
fn passive_open_data_both_ways_and_close() {
    let ifc = Ifc::init("local_ip=192.168.0.2");
    let lfd = ifc.socket();
    assert!(lfd >= 0, "socket: errno {}", errno());
    assert_eq!(
        ifc.setsockopt_int(lfd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1),
        0
    );
    assert_eq!(ifc.bind(lfd, SocketAddrV4::new(LOCAL, 8080)), 0);
    assert_eq!(ifc.listen(lfd, 1), 0);

    // The system call thread: a blocking accept, started before the SYN arrives.
    let accepted = Arc::new(AtomicBool::new(false));
    let acc = {
        let accepted = accepted.clone();
        thread::spawn(move || {
            let (fd, peer) = ifc.accept(lfd);
            // packetdrill reads the clock right after a blocking call returns.
            let end = ifc.now();
            accepted.store(true, Ordering::SeqCst);
            (fd, peer, end)
        })
    };

    // SYN from the remote end, as packetdrill's `< S 0:0(0) win 32792 <mss 1460,sackOK,TS val
    // 100 ecr 0,nop,wscale 7>` makes it.
    let t0 = ifc.now();
    let syn_opts = remote_syn_options();
    ifc.send_packet(&segment(
        40_000,
        8080,
        0,
        0,
        TcpFlags::SYN,
        32_792,
        syn_opts,
        &[],
    ));
    let (synack, t) = ifc.receive();
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((synack.src, synack.sport), (IpAddr::V4(LOCAL), 8080));
    assert_eq!((synack.dst, synack.dport), (IpAddr::V4(REMOTE), 40_000));
    assert_eq!(synack.ack, 1);
    // Linux's SYN+ACK layout, window scale 8 from the 15 MiB receive buffer maximum.
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(synack.options.window_scale, Some(8));
    assert!(synack.options.sack_permitted);
    assert_eq!(synack.options.timestamps.unwrap().tsecr, 100);
    assert_eq!(&synack.raw_options[..4], &[2, 4, 0x05, 0xb4]);
    assert_eq!(&synack.raw_options[4..8], &[4, 2, 8, 10]);
    assert_eq!(&synack.raw_options[16..], &[1, 3, 3, 8]);
    assert!(t >= t0 && t - t0 < 1000, "SYN+ACK at once: {} us", t - t0);
    let iss = synack.seq;

    // The accept is still blocked: nothing completed the handshake.
    thread::sleep(Duration::from_millis(50));
    assert!(!accepted.load(Ordering::SeqCst));

    // 100 ms later the ACK completes it, and the accept returns at that instant.
    ifc.usleep(100_000);
    let t_ack = ifc.now();
    let tsr = synack.tsval();
    ifc.send_packet(&segment(
        40_000,
        8080,
        1,
        iss + 1,
        TcpFlags::ACK,
        257,
        ts(110, tsr),
        &[],
    ));
    let (fd, peer, end) = acc.join().unwrap();
    assert!(fd >= 0, "accept: {fd}");
    assert_eq!(peer, Some(SocketAddrV4::new(REMOTE, 40_000)));
    assert!(
        (end - t_ack).abs() < 100,
        "accept returned at {end}, ACK at {t_ack}"
    );
    assert!(end - EPOCH_USECS >= 100_000);

    // Data out: write 1000 bytes, sniff them.
    let out = pattern(1000, 0x5a);
    assert_eq!(ifc.write(fd, &out), 1000);
    let (data, _) = ifc.receive();
    assert!(
        data.flags.contains(TcpFlags::ACK | TcpFlags::PSH),
        "{data:?}"
    );
    assert_eq!(data.seq, iss + 1);
    assert_eq!(data.ack, 1);
    assert_eq!(data.payload, out);
    // Established segments carry `nop,nop,TS`.
    assert_eq!(&data.raw_options[..4], &[1, 1, 8, 10]);
    // TCP_INFO as packetdrill's `%{ }%` code events read it: one segment out, IW10, RTT 100 ms
    // from the handshake, ssthresh still "infinite".
    let i = ifc.tcp_info(fd);
    assert_eq!(i.tcpi_state, 1, "TCP_ESTABLISHED");
    assert_eq!(i.tcpi_ca_state, 0, "TCP_CA_Open");
    assert_eq!(
        i.tcpi_options,
        1 | 2 | 4,
        "timestamps, SACK, window scaling"
    );
    assert_eq!(i.tcpi_snd_rcv_wscale, 7 | (8 << 4));
    assert_eq!((i.tcpi_snd_mss, i.tcpi_unacked), (1448, 1));
    assert_eq!((i.tcpi_snd_cwnd, i.tcpi_snd_ssthresh), (10, 0x7fff_ffff));
    assert!(
        (99_000..=101_000).contains(&i.tcpi_rtt),
        "rtt {} us",
        i.tcpi_rtt
    );
    assert_eq!((i.tcpi_total_retrans, i.tcpi_retransmits), (0, 0));
    assert_eq!(i.tcpi_reordering, 3);
    // The two other options packetdrill reads at a code event: CUBIC has no TCP_CC_INFO (an
    // empty answer, as Linux's), and SO_MEMINFO's nine counters (1000 bytes queued to send).
    assert_eq!(
        ifc.getsockopt_raw(fd, libc::SOL_TCP, 26, 64),
        (0, Vec::new())
    );
    let (r, mem) = ifc.getsockopt_raw(fd, libc::SOL_SOCKET, 55, 64);
    assert_eq!((r, mem.len()), (0, 36));
    assert_eq!(u32::from_ne_bytes(mem[20..24].try_into().unwrap()), 1000);
    ifc.send_packet(&segment(
        40_000,
        8080,
        1,
        iss + 1001,
        TcpFlags::ACK,
        257,
        ts(120, data.tsval()),
        &[],
    ));

    // Data in: 500 bytes are acknowledged (now, or when the delayed-ACK timer fires) and read.
    ifc.usleep(10_000);
    let inp = pattern(500, 0x33);
    ifc.send_packet(&segment(
        40_000,
        8080,
        1,
        iss + 1001,
        TcpFlags::ACK | TcpFlags::PSH,
        257,
        ts(130, data.tsval()),
        &inp,
    ));
    let (ack, _) = ifc.receive();
    assert_eq!(ack.flags, TcpFlags::ACK);
    assert_eq!(ack.ack, 501);
    let mut buf = vec![0u8; 1000];
    assert_eq!(ifc.read(fd, &mut buf), 500);
    assert_eq!(&buf[..500], &inp[..]);

    // A second write is lost: the retransmission timer resends it, later, with the same bytes.
    let out2 = pattern(300, 0x11);
    assert_eq!(ifc.writev(fd, &[&out2[..100], &out2[100..]]), 300);
    let (first, t1) = ifc.receive();
    assert_eq!(first.seq, iss + 1001);
    assert_eq!(first.payload, out2);
    let (again, t2) = ifc.receive();
    assert_eq!(again.seq, iss + 1001);
    assert_eq!(again.payload, out2);
    // With one segment out, that resend is a tail loss probe sent at the RTO in its place (as
    // Linux's): a retransmission in flight, no loss judged, no timeout counted, cwnd untouched.
    let i = ifc.tcp_info(fd);
    assert_eq!(i.tcpi_ca_state, 0, "TCP_CA_Open");
    assert_eq!((i.tcpi_retransmits, i.tcpi_backoff), (0, 0));
    assert_eq!((i.tcpi_unacked, i.tcpi_lost, i.tcpi_retrans), (1, 0, 1));
    assert_eq!((i.tcpi_snd_cwnd, i.tcpi_total_retrans), (10, 1));
    // The RTO follows: RTO recovery, the segment lost and resent again, cwnd 1, ssthresh
    // 0.7 x IW10, the timer backed off once.
    let (third, _) = ifc.receive();
    assert_eq!(third.seq, iss + 1001);
    let i = ifc.tcp_info(fd);
    assert_eq!(i.tcpi_ca_state, 4, "TCP_CA_Loss");
    assert_eq!((i.tcpi_retransmits, i.tcpi_backoff), (1, 1));
    assert_eq!((i.tcpi_unacked, i.tcpi_lost, i.tcpi_retrans), (1, 1, 1));
    assert_eq!((i.tcpi_snd_cwnd, i.tcpi_total_retrans), (1, 2));
    assert_eq!(i.tcpi_snd_ssthresh, 7);
    assert!(
        t2 - t1 >= 200_000,
        "retransmitted after at least the minimum RTO: {} us",
        t2 - t1
    );
    ifc.send_packet(&segment(
        40_000,
        8080,
        501,
        iss + 1301,
        TcpFlags::ACK,
        257,
        ts(140, third.tsval()),
        &[],
    ));

    // Close: our FIN, the peer's FIN, our ACK of it.
    assert_eq!(ifc.close(fd), 0);
    let (fin, _) = ifc.receive();
    assert_eq!(fin.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!(fin.seq, iss + 1301);
    ifc.usleep(5_000);
    ifc.send_packet(&segment(
        40_000,
        8080,
        501,
        iss + 1302,
        TcpFlags::FIN | TcpFlags::ACK,
        257,
        ts(150, fin.tsval()),
        &[],
    ));
    let (last, _) = ifc.receive();
    assert_eq!(last.flags, TcpFlags::ACK);
    assert_eq!((last.seq, last.ack), (iss + 1302, 502));

    // The closed descriptor is gone; the listener goes too.
    assert_eq!(ifc.close(fd), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(ifc.close(lfd), 0);
    ifc.free();
}

/// Active open with a blocking connect on a second thread: the SYN is retransmitted after the
/// initial RTO of 1 s; then a blocking read, non-blocking reads through the variadic `fcntl`,
/// `ioctl(FIONREAD)`, `poll`, and `shutdown`.
#[test]
fn active_open_syn_retransmission_blocking_read_and_shutdown() {
    let ifc = Ifc::init("local_ip=192.168.0.2");
    let fd = ifc.socket();
    assert!(fd >= 0);
    let con = thread::spawn(move || {
        let r = ifc.connect(fd, SocketAddrV4::new(REMOTE, 8080));
        (r, ifc.now())
    });
    let (syn, t0) = ifc.receive();
    assert_eq!(syn.flags, TcpFlags::SYN);
    assert_eq!((syn.dst, syn.dport), (IpAddr::V4(REMOTE), 8080));
    // Linux's SYN layout: mss, sackOK, TS, nop, wscale.
    assert_eq!(syn.raw_options.len(), 20);
    assert_eq!(&syn.raw_options[..8], &[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
    assert_eq!(&syn.raw_options[16..], &[1, 3, 3, 8]);

    // No answer: the SYN goes again after exactly the initial RTO.
    let (syn2, t1) = ifc.receive();
    assert_eq!(syn2.flags, TcpFlags::SYN);
    assert_eq!(syn2.seq, syn.seq);
    assert_eq!(t1 - t0, 1_000_000, "SYN retransmitted after 1 s");

    ifc.usleep(20_000);
    let t_synack = ifc.now();
    let opts = TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamps: Some(Timestamps {
            tsval: 700,
            tsecr: syn2.tsval(),
        }),
        window_scale: Some(2),
        ..TcpOptions::default()
    };
    ifc.send_packet(&segment(
        8080,
        syn.sport,
        5000,
        syn.seq + 1,
        TcpFlags::SYN | TcpFlags::ACK,
        5792,
        opts,
        &[],
    ));
    let (r, end) = con.join().unwrap();
    assert_eq!(r, 0, "connect: errno {}", errno());
    assert!((end - t_synack).abs() < 100);
    let (ack, _) = ifc.receive();
    assert_eq!(ack.flags, TcpFlags::ACK);
    assert_eq!((ack.seq, ack.ack), (syn.seq + 1, 5001));

    // A second connect on a connected socket.
    assert_eq!(ifc.connect(fd, SocketAddrV4::new(REMOTE, 8080)), -1);
    assert_eq!(errno(), libc::EISCONN);

    // A blocking read on the system call thread, completed by data 50 ms later.
    let rd = thread::spawn(move || {
        let mut buf = vec![0u8; 2000];
        let n = ifc.read(fd, &mut buf);
        buf.truncate(n.max(0) as usize);
        (buf, ifc.now())
    });
    ifc.usleep(50_000);
    let t_data = ifc.now();
    let inp = pattern(700, 0x42);
    let my_ts = ack.tsval();
    ifc.send_packet(&segment(
        8080,
        syn.sport,
        5001,
        syn.seq + 1,
        TcpFlags::ACK | TcpFlags::PSH,
        5792,
        ts(710, my_ts),
        &inp,
    ));
    let (got, end) = rd.join().unwrap();
    assert_eq!(got, inp);
    assert!((end - t_data).abs() < 100);
    let (ack2, _) = ifc.receive();
    assert_eq!(ack2.ack, 5701);

    // Non-blocking through the variadic fcntl: an empty socket says EAGAIN.
    let fl = ifc.fcntl2(fd, libc::F_GETFL);
    assert_eq!(fl & libc::O_NONBLOCK, 0);
    assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
    assert_eq!(ifc.fcntl3(fd, libc::F_SETFL, fl | libc::O_NONBLOCK), 0);
    assert_ne!(ifc.fcntl2(fd, libc::F_GETFL) & libc::O_NONBLOCK, 0);
    let mut buf = [0u8; 100];
    assert_eq!(ifc.read(fd, &mut buf), -1);
    assert_eq!(errno(), libc::EAGAIN);
    assert_eq!(
        ifc.poll(fd, libc::POLLIN | libc::POLLOUT, 0),
        (1, libc::POLLOUT)
    );

    // 300 bytes arrive: FIONREAD counts them, poll says readable, recv takes 100 then 200.
    ifc.send_packet(&segment(
        8080,
        syn.sport,
        5701,
        syn.seq + 1,
        TcpFlags::ACK | TcpFlags::PSH,
        5792,
        ts(720, my_ts),
        &pattern(300, 1),
    ));
    let mut n: c_int = -1;
    assert_eq!(ifc.ioctl_int(fd, libc::FIONREAD as c_ulong, &mut n), 0);
    assert_eq!(n, 300);
    assert_eq!(
        ifc.poll(fd, libc::POLLIN | libc::POLLOUT, 0),
        (1, libc::POLLIN | libc::POLLOUT)
    );
    assert_eq!(ifc.recv(fd, &mut buf, 0), 100);
    let mut rest = [0u8; 500];
    assert_eq!(ifc.recv(fd, &mut rest, libc::MSG_DONTWAIT), 200);
    assert_eq!(&rest[..200], &pattern(300, 1)[100..]);

    // Half-close: our FIN; the peer's data still arrives; then its FIN reads as end of stream.
    assert_eq!(ifc.shutdown(fd, libc::SHUT_WR), 0);
    let fin = loop {
        let (s, _) = ifc.receive();
        if s.flags.fin() {
            break s;
        }
    };
    assert_eq!(fin.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!(ifc.write(fd, b"x"), -1);
    assert_eq!(errno(), libc::EPIPE);
    ifc.send_packet(&segment(
        8080,
        syn.sport,
        6001,
        fin.seq + 1,
        TcpFlags::FIN | TcpFlags::ACK,
        5792,
        ts(730, fin.tsval()),
        &[],
    ));
    let (last, _) = ifc.receive();
    assert_eq!(last.flags, TcpFlags::ACK);
    assert_eq!(last.ack, 6002);
    assert_eq!(ifc.read(fd, &mut buf), 0);
    let (r, ev) = ifc.poll(fd, libc::POLLIN | libc::POLLRDHUP, 0);
    assert_eq!(r, 1);
    assert_ne!(ev & libc::POLLRDHUP, 0);
    assert_eq!(ifc.close(fd), 0);
    ifc.free();
}

/// A connection refused by RST fails a blocking connect with ECONNREFUSED; errors of the
/// socket layer and unsupported calls return -1 with errno, and nothing crashes on null
/// pointers.
#[test]
fn errors_and_unsupported_calls() {
    let ifc = Ifc::init("local_ip=192.168.0.2 no_such_key=1");
    let fd = ifc.socket();
    let con = thread::spawn(move || {
        let r = ifc.connect(fd, SocketAddrV4::new(REMOTE, 8080));
        (r, errno())
    });
    let (syn, _) = ifc.receive();
    ifc.send_packet(&segment(
        8080,
        syn.sport,
        0,
        syn.seq + 1,
        TcpFlags::RST | TcpFlags::ACK,
        0,
        TcpOptions::default(),
        &[],
    ));
    assert_eq!(con.join().unwrap(), (-1, libc::ECONNREFUSED));
    let (r, v) = ifc.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE);
    assert_eq!((r, v), (0, libc::SOCK_STREAM));

    // Bad descriptors, bad addresses, unsupported calls.
    assert_eq!(ifc.listen(12_345, 1), -1);
    assert_eq!(errno(), libc::EBADF);
    let fd2 = ifc.socket();
    assert_eq!(
        ifc.bind(fd2, SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1)),
        -1
    );
    assert_eq!(errno(), libc::EADDRNOTAVAIL);
    assert_eq!(ifc.write(fd2, b"abc"), -1);
    assert_eq!(errno(), libc::EPIPE);
    assert_eq!(ifc.read(fd2, &mut [0u8; 4]), -1);
    assert_eq!(errno(), libc::ENOTCONN);
    // SAFETY: deliberately null pointers: the stack must refuse them, not crash.
    unsafe {
        assert_eq!(ifc.0.bind.unwrap()(ifc.ud(), fd2, ptr::null(), 16), -1);
        assert_eq!(errno(), libc::EFAULT);
        assert_eq!(ifc.0.read.unwrap()(ifc.ud(), fd2, ptr::null_mut(), 10), -1);
        assert_eq!(errno(), libc::EFAULT);
        assert_eq!(ifc.0.socket.unwrap()(ptr::null_mut(), 2, 1, 0), -1);
        assert_eq!(errno(), libc::EFAULT);
        assert_eq!(ifc.0.epoll_create.unwrap()(ifc.ud(), 1), -1);
        assert_eq!(errno(), libc::ENOSYS);
        assert_eq!(ifc.0.pipe.unwrap()(ifc.ud(), ptr::null_mut()), -1);
        assert_eq!(errno(), libc::ENOSYS);
        assert_eq!(
            ifc.0.socket.unwrap()(ifc.ud(), libc::AF_INET, libc::SOCK_DGRAM, 0),
            -1
        );
        assert_eq!(errno(), libc::EPROTONOSUPPORT);
    }
    assert_eq!(
        ifc.setsockopt_int(fd2, libc::SOL_SOCKET, libc::SO_PRIORITY, 1),
        -1
    );
    assert_eq!(errno(), libc::ENOPROTOOPT);
    let mut v = 0;
    assert_eq!(ifc.ioctl_int(fd2, 0x1234, &mut v), -1);
    assert_eq!(errno(), libc::ENOTTY);

    // Nothing queued and no timer pending: netdev_receive answers with an empty packet.
    assert!(ifc.receive_once().is_none());
    assert_eq!(ifc.close(fd2), 0);
    assert_eq!(ifc.close(fd), 0);
    ifc.free();
}

/// `IP_TOS` on an unconnected socket marks its SYN; read back, the ECN bits are clear (they are
/// TCP's); a one-byte value is taken as Linux takes it; `IPV6_TCLASS` is for IPv6 sockets only.
#[test]
fn ip_tos_marks_the_syn_and_reads_back_without_ecn_bits() {
    let ifc = Ifc::init("local_ip=192.168.0.2");
    let fd = ifc.socket();
    assert_eq!(
        ifc.setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TOS, 0x2b),
        0
    );
    assert_eq!(
        ifc.getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TOS),
        (0, 0x28)
    );
    assert_eq!(
        ifc.setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0x10),
        -1
    );
    assert_eq!(errno(), libc::ENOPROTOOPT);
    let byte = [0x48u8];
    // SAFETY: `byte` is a live one-byte buffer of the size passed.
    let r = unsafe {
        ifc.0.setsockopt.unwrap()(
            ifc.ud(),
            fd,
            libc::IPPROTO_IP,
            libc::IP_TOS,
            byte.as_ptr() as *const c_void,
            1,
        )
    };
    assert_eq!(r, 0);
    assert_eq!(
        ifc.getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TOS),
        (0, 0x48)
    );
    let con = thread::spawn(move || ifc.connect(fd, SocketAddrV4::new(REMOTE, 8080)));
    let (syn, _) = ifc.receive_raw();
    assert_eq!(syn[0] >> 4, 4);
    assert_eq!(syn[1], 0x48, "the SYN's TOS byte");
    let s = Seg::parse(&syn);
    ifc.send_packet(&segment(
        8080,
        s.sport,
        0,
        s.seq + 1,
        TcpFlags::RST | TcpFlags::ACK,
        0,
        TcpOptions::default(),
        &[],
    ));
    assert_eq!(con.join().unwrap(), -1);
    ifc.free();
}

/// The built shared object, loaded as packetdrill loads it (`dlopen` with `RTLD_NOW`, `dlsym`
/// of `packetdrill_interface_init`), does a handshake.
#[test]
fn dlopen_the_built_shared_object() {
    let exe = std::env::current_exe().unwrap();
    let Some(dir) = exe.parent().and_then(|d| d.parent()) else {
        return;
    };
    let so = dir.join("libsynack_packetdrill.so");
    if !so.exists() {
        eprintln!("skipped: {} was not built", so.display());
        return;
    }
    let path = CString::new(so.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; the library's initialisers are Rust's, which are sound.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlopen {} failed", so.display());
    let name = CString::new("packetdrill_interface_init").unwrap();
    // SAFETY: a live handle and a NUL-terminated symbol name.
    let sym = unsafe { libc::dlsym(handle, name.as_ptr()) };
    assert!(!sym.is_null());
    type Init = unsafe extern "C" fn(*const libc::c_char, *mut PacketdrillInterface);
    // SAFETY: the symbol is `packetdrill_interface_init`, of exactly this type.
    let init: Init = unsafe { std::mem::transmute::<*mut c_void, Init>(sym) };
    let mut raw = PacketdrillInterface::default();
    let flags = CString::new("local_ip=192.168.0.2 sysctls=0").unwrap();
    // SAFETY: a NUL-terminated string and a writable interface struct.
    unsafe { init(flags.as_ptr(), &mut raw) };
    let ifc = Ifc(raw);
    let lfd = ifc.socket();
    assert_eq!(ifc.bind(lfd, SocketAddrV4::new(LOCAL, 8080)), 0);
    assert_eq!(ifc.listen(lfd, 1), 0);
    ifc.send_packet(&segment(
        40_001,
        8080,
        0,
        0,
        TcpFlags::SYN,
        65_535,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        &[],
    ));
    let (synack, _) = ifc.receive();
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    // Without the peer's timestamps and SACK: `mss` alone, then `nop, wscale 8`? Linux sends
    // mss and, only when the peer offered it, wscale.
    assert_eq!(synack.options.mss, Some(1460));
    ifc.send_packet(&segment(
        40_001,
        8080,
        1,
        synack.seq + 1,
        TcpFlags::ACK,
        65_535,
        TcpOptions::default(),
        &[],
    ));
    let (fd, peer) = ifc.accept(lfd);
    assert!(fd >= 0);
    assert_eq!(peer, Some(SocketAddrV4::new(REMOTE, 40_001)));
    assert_eq!(ifc.close(fd), 0);
    assert_eq!(ifc.close(lfd), 0);
    ifc.free();
    // The library stays loaded (packetdrill uses RTLD_NODELETE too).
}

/// `struct packetdrill_interface` as C lays it out: 33 pointers, in packetdrill.h's order.
#[test]
fn interface_layout_matches_packetdrill_h() {
    use std::mem::offset_of;
    let p = size_of::<*const c_void>();
    assert_eq!(size_of::<PacketdrillInterface>(), 33 * p);
    let offsets = [
        offset_of!(PacketdrillInterface, userdata),
        offset_of!(PacketdrillInterface, free),
        offset_of!(PacketdrillInterface, socket),
        offset_of!(PacketdrillInterface, bind),
        offset_of!(PacketdrillInterface, listen),
        offset_of!(PacketdrillInterface, accept),
        offset_of!(PacketdrillInterface, connect),
        offset_of!(PacketdrillInterface, read),
        offset_of!(PacketdrillInterface, readv),
        offset_of!(PacketdrillInterface, recv),
        offset_of!(PacketdrillInterface, recvfrom),
        offset_of!(PacketdrillInterface, recvmsg),
        offset_of!(PacketdrillInterface, write),
        offset_of!(PacketdrillInterface, writev),
        offset_of!(PacketdrillInterface, send),
        offset_of!(PacketdrillInterface, sendto),
        offset_of!(PacketdrillInterface, sendmsg),
        offset_of!(PacketdrillInterface, fcntl),
        offset_of!(PacketdrillInterface, ioctl),
        offset_of!(PacketdrillInterface, close),
        offset_of!(PacketdrillInterface, shutdown),
        offset_of!(PacketdrillInterface, getsockopt),
        offset_of!(PacketdrillInterface, setsockopt),
        offset_of!(PacketdrillInterface, poll),
        offset_of!(PacketdrillInterface, netdev_send),
        offset_of!(PacketdrillInterface, netdev_receive),
        offset_of!(PacketdrillInterface, usleep),
        offset_of!(PacketdrillInterface, gettimeofday),
        offset_of!(PacketdrillInterface, epoll_create),
        offset_of!(PacketdrillInterface, epoll_ctl),
        offset_of!(PacketdrillInterface, epoll_wait),
        offset_of!(PacketdrillInterface, pipe),
        offset_of!(PacketdrillInterface, splice),
    ];
    for (i, o) in offsets.iter().enumerate() {
        assert_eq!(*o, i * p, "field {i}");
    }
    // Every entry is filled.
    let ifc = Ifc::init("");
    // SAFETY: the struct is 33 pointer-sized fields (checked above), all initialised.
    let words: [usize; 33] = unsafe { std::mem::transmute(ifc.0) };
    assert!(words.iter().all(|w| *w != 0));
    ifc.free();
}

/// A C program compiled by the system's C compiler loads the built shared object with
/// packetdrill's dlopen flags and calls it through the struct as C declares it, variadic
/// `fcntl` and `ioctl` included (`tests/c/so_smoke.c`). Skipped without `cc` or without the
/// built library.
#[test]
fn a_c_program_drives_the_shared_object() {
    let exe = std::env::current_exe().unwrap();
    let Some(dir) = exe.parent().and_then(|d| d.parent()) else {
        return;
    };
    let so = dir.join("libsynack_packetdrill.so");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/so_smoke.c");
    if !so.exists() {
        eprintln!("skipped: {} was not built", so.display());
        return;
    }
    let bin = std::env::temp_dir().join(format!("synack_so_smoke_{}", std::process::id()));
    let built = std::process::Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-ldl")
        .status();
    match built {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: no C compiler to build {}", src.display());
            return;
        }
    }
    let out = std::process::Command::new(&bin).arg(&so).output().unwrap();
    let _ = std::fs::remove_file(&bin);
    assert!(
        out.status.success(),
        "so_smoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// `SYNACK_REQUIRE_NETNS=1`: tests that need a network namespace must run.
fn netns_required() -> bool {
    std::env::var("SYNACK_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

/// The SYN-ACK a fresh listener of `ifc` answers a SYN (with timestamps and window scale 7)
/// with.
fn synack_of_listener(ifc: Ifc) -> Seg {
    let lfd = ifc.socket();
    assert!(lfd >= 0, "socket: errno {}", errno());
    assert_eq!(ifc.bind(lfd, SocketAddrV4::new(LOCAL, 8080)), 0);
    assert_eq!(ifc.listen(lfd, 1), 0);
    let syn_opts = remote_syn_options();
    ifc.send_packet(&segment(
        40_000,
        8080,
        1,
        0,
        TcpFlags::SYN,
        65_535,
        syn_opts,
        &[],
    ));
    let (synack, _) = ifc.receive();
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    synack
}

/// The stack reads the network namespace's TCP sysctls as the kernel would: the namespace's
/// values replace the built-in defaults, explicit flags win over those, and a sysctl changed
/// after the stack started (as a script's `sysctl` command changes it) wins over the flags
/// when the first socket is made; `sysctls=0` ignores the namespace.
#[test]
fn the_namespaces_sysctls_are_followed() {
    let write = |name: &str, v: &str| {
        std::fs::write(format!("/proc/sys/net/ipv4/{name}"), v)
            .unwrap_or_else(|e| panic!("writing {name}: {e}"))
    };
    let run = synack::netns::run(move || {
        // Linux's own defaults in a namespace of our own: a 6 MiB buffer limit, window scale 7.
        write("tcp_rmem", "4096 131072 6291456");
        write("tcp_timestamps", "1");

        let ifc = Ifc::init_exactly("local_ip=192.168.0.2");
        let s = synack_of_listener(ifc);
        assert_eq!(s.options.window_scale, Some(7), "the namespace's tcp_rmem");
        assert!(s.options.timestamps.is_some());
        ifc.free();

        // A flag wins over the namespace.
        let ifc = Ifc::init_exactly("local_ip=192.168.0.2 tcp_rmem=4096,540000,15728640");
        let s = synack_of_listener(ifc);
        assert_eq!(s.options.window_scale, Some(8), "the flag's tcp_rmem");
        ifc.free();

        // A script's sysctl commands run after the stack started: they win over the flag.
        let ifc = Ifc::init_exactly("local_ip=192.168.0.2 tcp_rmem=4096,540000,15728640");
        write("tcp_rmem", "4096 131072 33554432");
        write("tcp_timestamps", "0");
        let s = synack_of_listener(ifc);
        assert_eq!(
            s.options.window_scale,
            Some(10),
            "tcp_rmem changed to 32 MiB"
        );
        assert_eq!(s.options.timestamps, None, "tcp_timestamps changed to 0");
        ifc.free();

        // sysctls=0: the built-in defaults (defaults.sh's) and the flags alone.
        let ifc = Ifc::init_exactly("local_ip=192.168.0.2 sysctls=0");
        let s = synack_of_listener(ifc);
        assert_eq!(s.options.window_scale, Some(8));
        assert!(s.options.timestamps.is_some());
        ifc.free();
    });
    if let Err(e) = run {
        assert!(!netns_required(), "SYNACK_REQUIRE_NETNS=1 but: {e}");
        eprintln!("the_namespaces_sysctls_are_followed: skipped: {e} (needs root)");
    }
}
