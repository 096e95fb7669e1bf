//! The blocking API over the in-memory link: two drivers in one process, no privileges needed.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::*;
use synack::device::{Device, LinkConfig, Notifier, PcapTap, SimDevice};
use synack::net::{TcpListener, TcpStream};
use synack::{Driver, State};

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";

fn pair_with(ab: LinkConfig, ba: LinkConfig) -> (Driver, Driver) {
    let (a, b) = SimDevice::pair(ab, ba, 99);
    let client = Driver::builder()
        .address(A.parse().unwrap())
        .device(a)
        .seed(1)
        .spawn()
        .unwrap();
    let server = Driver::builder()
        .address(B.parse().unwrap())
        .device(b)
        .seed(2)
        .spawn()
        .unwrap();
    (client, server)
}

fn pair() -> (Driver, Driver) {
    let link = LinkConfig::with_delay(Duration::from_micros(200));
    pair_with(link.clone(), link)
}

fn b(port: u16) -> SocketAddr {
    SocketAddr::new(B.parse().unwrap(), port)
}

fn connected(client: &Driver, server: &Driver, port: u16) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind(server, b(port)).unwrap();
    let c = TcpStream::connect(client, b(port)).unwrap();
    let (s, _) = l.accept().unwrap();
    bound_synack(&c);
    bound_synack(&s);
    (c, s)
}

#[test]
fn duplex_transfer_is_byte_exact() {
    let (client, server) = pair();
    let (c, s) = connected(&client, &server, 80);
    let len = 4 * 1024 * 1024;
    let mut cw = c.try_clone().unwrap();
    let w1 = thread::spawn(move || {
        let d = send_pattern(&mut cw, 1, len).unwrap();
        cw.shutdown(Shutdown::Write).unwrap();
        d
    });
    let mut sw = s.try_clone().unwrap();
    let w2 = thread::spawn(move || {
        let d = send_pattern(&mut sw, 2, len).unwrap();
        sw.shutdown(Shutdown::Write).unwrap();
        d
    });
    let mut sr = s;
    let r = thread::spawn(move || recv_digest(&mut sr).unwrap());
    let mut cr = c;
    let got_c = recv_digest(&mut cr).unwrap();
    assert_eq!(r.join().unwrap(), w1.join().unwrap());
    assert_eq!(got_c, w2.join().unwrap());
    assert_eq!(got_c, pattern_digest(2, len));
}

#[test]
fn addresses_and_options() {
    let (client, server) = pair();
    let (c, s) = connected(&client, &server, 81);
    assert_eq!(c.peer_addr().unwrap(), b(81));
    assert_eq!(s.local_addr().unwrap(), b(81));
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    let port = c.local_addr().unwrap().port();
    assert!((32768..=60999).contains(&port), "{port}");
    assert!(!c.nodelay().unwrap());
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(5)));
    assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
    c.set_linger(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(1)));
    assert_eq!(c.tcp_info().unwrap().state, State::Established);
    assert!(c.take_error().unwrap().is_none());
    assert_eq!(client.connections().len(), 1);
}

#[test]
fn read_timeout_and_nonblocking_read() {
    let (client, server) = pair();
    let (mut c, _s) = connected(&client, &server, 82);
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 8];
    let e = c.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    c.set_nonblocking(true).unwrap();
    let e = c.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn write_timeout_when_the_peer_does_not_read() {
    let (client, server) = pair();
    let (mut c, _s) = connected(&client, &server, 83);
    c.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut total = 0usize;
    let err = loop {
        match c.write(&chunk) {
            Ok(n) => total += n,
            Err(e) => break e,
        }
        assert!(total < 64 << 20, "the peer's window never closed");
    };
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    // The peer's receive buffer and our send buffer hold what was written.
    assert!(total > 0);
}

#[test]
fn nonblocking_accept_and_bind_errors() {
    let (_client, server) = pair();
    let l = TcpListener::bind(&server, b(84)).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let e = TcpListener::bind(&server, b(84)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    let e = TcpListener::bind(&server, "10.0.0.99:84").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
    let any = TcpListener::bind(&server, "10.0.0.2:0").unwrap();
    assert_ne!(any.local_addr().unwrap().port(), 0);
}

#[test]
fn refused_and_timed_out_connects() {
    let (client, _server) = pair();
    let e = TcpStream::connect(&client, b(85)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert!(client.connections().is_empty());

    // A link that loses everything: the SYN never arrives.
    let (client, _server) = pair_with(LinkConfig::default().loss(1.0), LinkConfig::default());
    let e = TcpStream::connect_timeout(&client, &b(85), Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(client.resources().connections, 0);
    let e = TcpStream::connect_timeout(&client, &b(85), Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn drop_closes_with_fin_and_linger_zero_resets() {
    let (client, server) = pair();
    let (c, mut s) = connected(&client, &server, 86);
    drop(c);
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    assert!(v.is_empty());

    let (c, mut s) = connected(&client, &server, 87);
    c.set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    let mut buf = [0u8; 4];
    let e = s.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    // Reported once, then end of stream, as a kernel socket does.
    assert_eq!(s.read(&mut buf).unwrap(), 0);
}

#[test]
fn linger_waits_for_the_fin_to_be_acknowledged() {
    let (client, server) = pair();
    let (mut c, s) = connected(&client, &server, 88);
    c.write_all(&[1u8; 100_000]).unwrap();
    c.set_linger(Some(Duration::from_secs(10))).unwrap();
    let tuple = synack::FourTuple {
        local: c.local_addr().unwrap(),
        remote: c.peer_addr().unwrap(),
    };
    let reader = thread::spawn(move || {
        let mut s = s;
        recv_digest(&mut s).unwrap().bytes
    });
    drop(c);
    // Everything was acknowledged before the drop returned: FIN-WAIT-2 or later.
    let st = client.state_of(&tuple);
    assert!(
        matches!(st, Some(State::FinWait2) | Some(State::TimeWait) | None),
        "{st:?}"
    );
    assert_eq!(reader.join().unwrap(), 100_000);
}

#[test]
fn shutdown_read_gives_end_of_stream() {
    let (client, server) = pair();
    let (mut c, mut s) = connected(&client, &server, 89);
    c.shutdown(Shutdown::Read).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(c.read(&mut buf).unwrap(), 0);
    // Writing still works.
    c.write_all(b"abcd").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abcd");
}

#[test]
fn blocked_reader_is_woken_from_another_thread() {
    let (client, server) = pair();
    let (c, mut s) = connected(&client, &server, 90);
    let mut c2 = c.try_clone().unwrap();
    let t = thread::spawn(move || {
        let mut buf = [0u8; 5];
        c2.read_exact(&mut buf).unwrap();
        buf
    });
    thread::sleep(Duration::from_millis(50));
    s.write_all(b"hello").unwrap();
    assert_eq!(&t.join().unwrap(), b"hello");
    drop(c);
}

#[test]
fn lossy_link_still_delivers_exactly() {
    let link = LinkConfig::with_delay(Duration::from_millis(1))
        .loss(0.02)
        .reorder(0.02, Duration::from_millis(2))
        .duplicate(0.01);
    let (client, server) = pair_with(link.clone(), link);
    let (mut c, mut s) = connected(&client, &server, 91);
    let len = 512 * 1024;
    let w = thread::spawn(move || {
        let d = send_pattern(&mut c, 3, len).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        d
    });
    assert_eq!(recv_digest(&mut s).unwrap(), w.join().unwrap());
}

#[test]
fn shutdown_stops_the_driver_and_wakes_everyone() {
    let (client, server) = pair();
    let (c, _s) = connected(&client, &server, 92);
    let l = TcpListener::bind(&server, b(93)).unwrap();
    let acceptor = thread::spawn(move || l.accept().map(|_| ()));
    let mut c2 = c.try_clone().unwrap();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4];
        c2.read(&mut buf)
    });
    thread::sleep(Duration::from_millis(50));
    server.shutdown(Duration::from_millis(500));
    assert!(!server.is_running());
    assert!(acceptor.join().unwrap().is_err());
    // The client got the server's FIN: end of stream.
    assert_eq!(reader.join().unwrap().unwrap(), 0);
    let e = TcpListener::bind(&server, b(94)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
}

/// A device that records when it is dropped.
struct Watched<D> {
    inner: D,
    dropped: Arc<AtomicBool>,
}

impl<D> Drop for Watched<D> {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl<D: Device> Device for Watched<D> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.inner.recv(now, buf)
    }
    fn send(&mut self, now: Instant, d: &[u8]) -> io::Result<()> {
        self.inner.send(now, d)
    }
    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }
    fn set_notifier(&mut self, n: Notifier) {
        self.inner.set_notifier(n)
    }
}

#[test]
fn dropping_every_handle_finishes_closes_then_stops() {
    let (a, bdev) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 5);
    let dropped = Arc::new(AtomicBool::new(false));
    let client = Driver::builder()
        .address(A.parse().unwrap())
        .device(Watched {
            inner: a,
            dropped: dropped.clone(),
        })
        .spawn()
        .unwrap();
    let server = Driver::builder()
        .address(B.parse().unwrap())
        .device(bdev)
        .spawn()
        .unwrap();
    let l = TcpListener::bind(&server, b(95)).unwrap();
    let mut c = TcpStream::connect(&client, b(95)).unwrap();
    let (mut s, _) = l.accept().unwrap();
    bound_synack(&s);
    c.write_all(&[9u8; 50_000]).unwrap();
    drop(c);
    drop(client);
    // The data and the FIN still arrive after every client handle is gone.
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    assert_eq!(v.len(), 50_000);
    drop(s);
    let end = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) && Instant::now() < end {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "the client's driver never stopped"
    );
}

#[test]
fn pcap_tap_records_the_handshake() {
    let path = std::env::temp_dir().join(format!("synack-tap-{}.pcap", std::process::id()));
    let (a, bdev) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 6);
    let client = Driver::builder()
        .address(A.parse().unwrap())
        .device(PcapTap::create(a, &path).unwrap())
        .spawn()
        .unwrap();
    let server = Driver::builder()
        .address(B.parse().unwrap())
        .device(bdev)
        .spawn()
        .unwrap();
    let l = TcpListener::bind(&server, b(96)).unwrap();
    let c = TcpStream::connect(&client, b(96)).unwrap();
    let (s, _) = l.accept().unwrap();
    drop((c, s));
    client.shutdown(Duration::from_secs(2));
    let file = std::fs::File::open(&path).unwrap();
    let reader = synack_sim::pcap::PcapReader::new(file).unwrap();
    assert_eq!(reader.linktype(), synack_sim::pcap::LINKTYPE_RAW);
    let flags: Vec<u8> = reader
        .map(|r| {
            let r = r.unwrap();
            let ihl = usize::from(r.data[0] & 0xf) * 4;
            r.data[ihl + 13]
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    // SYN, SYN+ACK, ACK first.
    assert!(flags.len() >= 3, "{flags:?}");
    assert_eq!(flags[..3], [0x02, 0x12, 0x10]);
}

#[test]
fn ipv6_over_the_sim_link() {
    let (a, bdev) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 7);
    let client = Driver::builder()
        .address("fd00::1".parse().unwrap())
        .device(a)
        .spawn()
        .unwrap();
    let server = Driver::builder()
        .address("fd00::2".parse().unwrap())
        .device(bdev)
        .spawn()
        .unwrap();
    let l = TcpListener::bind(&server, "[::]:443").unwrap();
    let mut c = TcpStream::connect(&client, "[fd00::2]:443").unwrap();
    let (mut s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    c.write_all(b"v6").unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"v6");
    // IPv6 announces 20 bytes less MSS (1500 - 40 - 20).
    assert_eq!(s.tcp_info().unwrap().peer_mss, 1440);
}

/// `peek` (as `std::net::TcpStream::peek`) copies without consuming: twice the same bytes,
/// then `read` gets them; a non-blocking peek with nothing queued is `WouldBlock`.
#[test]
fn peek_copies_without_consuming() {
    let (client, server) = pair();
    let (mut c, s) = connected(&client, &server, 81);
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        s.peek(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    s.set_nonblocking(false).unwrap();
    c.write_all(b"hello, peek").unwrap();
    let n = s.peek(&mut buf).unwrap();
    assert!(n > 0 && n <= 11);
    assert_eq!(&buf[..n], &b"hello, peek"[..n]);
    let again = s.peek(&mut buf).unwrap();
    assert!(again >= n);
    assert_eq!(&buf[..again], &b"hello, peek"[..again]);
    let mut got = Vec::new();
    while got.len() < 11 {
        let k = (&s).read(&mut buf).unwrap();
        assert!(k > 0);
        got.extend_from_slice(&buf[..k]);
    }
    assert_eq!(got, b"hello, peek");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.peek(&mut buf).unwrap(), 0, "end of stream");
}

/// `set_tos` marks the connection's datagrams (read back without the ECN bits; above 255 is
/// an error), and corked data goes once the cork comes off.
#[test]
fn tos_and_cork_on_a_stream() {
    let (client, server) = pair();
    let (mut c, s) = connected(&client, &server, 82);
    assert_eq!(c.tos().unwrap(), 0);
    c.set_tos(0xb9).unwrap();
    assert_eq!(c.tos().unwrap(), 0xb8);
    assert_eq!(
        c.set_tos(256).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(!c.cork().unwrap());
    c.set_cork(true).unwrap();
    assert!(c.cork().unwrap());
    c.write_all(b"corked").unwrap();
    c.set_cork(false).unwrap();
    let mut buf = [0u8; 6];
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"corked");
}
