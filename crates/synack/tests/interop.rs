//! Interop: synack on a TUN interface against the Linux kernel's own TCP, each test in a network
//! namespace it creates (which disappears with it). "kernel client" tests have a `std::net` client
//! talk to a synack server; "synack client" tests the reverse. Without root the tests print why
//! they skip; with `SYNACK_REQUIRE_NETNS=1` (CI) they must run.
//!
//! Every blocking step has a bound (socket timeouts, bounded polling loops) so that a stall fails
//! the test instead of hanging it; no test asserts how long anything took.

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use support::*;
use synack::device::LinkConfig;
use synack::net::{TcpListener, TcpStream};
use synack::{FourTuple, State};

const MIB: u64 = 1024 * 1024;

/// Polls `cond` every 10 ms for up to `limit`; true once it held.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn log_rate(what: &str, bytes: u64, t0: Instant) {
    let s = t0.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {} bytes in {s:.2} s ({:.0} Mbit/s)",
        bytes,
        bytes as f64 * 8.0 / s / 1e6
    );
}

// ----- handshake -------------------------------------------------------------------------------

#[test]
fn handshake_kernel_client() {
    in_netns("handshake_kernel_client", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(80)).unwrap();
        let mut c = std::net::TcpStream::connect(net.synack_at(80)).unwrap();
        bound_kernel(&c);
        let (mut s, peer) = listener.accept().unwrap();
        bound_synack(&s);
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.local_addr().unwrap(), net.synack_at(80));
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        let info = s.tcp_info().unwrap();
        assert_eq!(info.state, State::Established);
        // Linux offers SACK, timestamps and window scaling: all agreed.
        assert!(info.sack && info.timestamps && info.snd_wscale > 0);
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    });
}

#[test]
fn handshake_synack_client() {
    in_netns("handshake_synack_client", || {
        let net = Net::v4();
        let listener = std::net::TcpListener::bind(net.kernel_at(80)).unwrap();
        let mut c = TcpStream::connect(&net.driver, net.kernel_at(80)).unwrap();
        bound_synack(&c);
        let (mut s, peer) = listener.accept().unwrap();
        bound_kernel(&s);
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(c.peer_addr().unwrap(), net.kernel_at(80));
        let info = c.tcp_info().unwrap();
        assert_eq!(info.state, State::Established);
        assert!(info.sack && info.timestamps && info.snd_wscale > 0);
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    });
}

// ----- bulk transfer, both ways at once --------------------------------------------------------

/// Runs a full-duplex transfer on one connection: each side sends `len` bytes of its own pattern
/// while reading the other's, then shuts its write half. Returns what each side received.
fn duplex_kernel(s: std::net::TcpStream, seed: u64, len: u64) -> (Digest256, Digest256) {
    bound_kernel(&s);
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let d = send_pattern(&mut w, seed, len).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
        d
    });
    let mut r = s;
    let got = recv_digest(&mut r).unwrap();
    (writer.join().unwrap(), got)
}

fn duplex_synack(s: TcpStream, seed: u64, len: u64) -> (Digest256, Digest256) {
    bound_synack(&s);
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let d = send_pattern(&mut w, seed, len).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
        d
    });
    let mut r = s;
    let got = recv_digest(&mut r).unwrap();
    (writer.join().unwrap(), got)
}

fn transfer_kernel_client(net: &Net, len: u64, what: &str) {
    let listener = TcpListener::bind(&net.driver, net.synack_at(5001)).unwrap();
    let addr = net.synack_at(5001);
    let t0 = Instant::now();
    let client = thread::spawn(move || {
        let c = std::net::TcpStream::connect(addr).unwrap();
        duplex_kernel(c, 11, len)
    });
    let (s, _) = listener.accept().unwrap();
    let (synack_sent, synack_got) = duplex_synack(s, 22, len);
    let (kernel_sent, kernel_got) = client.join().unwrap();
    log_rate(what, 2 * len, t0);
    assert_eq!(synack_got, kernel_sent, "kernel -> synack");
    assert_eq!(kernel_got, synack_sent, "synack -> kernel");
    assert_eq!(kernel_sent, pattern_digest(11, len));
}

fn transfer_synack_client(net: &Net, len: u64, what: &str) {
    let listener = std::net::TcpListener::bind(net.kernel_at(6001)).unwrap();
    let t0 = Instant::now();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        duplex_kernel(s, 33, len)
    });
    let c = TcpStream::connect(&net.driver, net.kernel_at(6001)).unwrap();
    let (synack_sent, synack_got) = duplex_synack(c, 44, len);
    let (kernel_sent, kernel_got) = server.join().unwrap();
    log_rate(what, 2 * len, t0);
    assert_eq!(synack_got, kernel_sent, "kernel -> synack");
    assert_eq!(kernel_got, synack_sent, "synack -> kernel");
    assert_eq!(synack_sent, pattern_digest(44, len));
}

#[test]
fn transfer_64mib_each_way_kernel_client() {
    in_netns("transfer_64mib_each_way_kernel_client", || {
        let net = Net::v4();
        transfer_kernel_client(&net, 64 * MIB, "64 MiB each way, kernel client");
    });
}

#[test]
fn transfer_64mib_each_way_synack_client() {
    in_netns("transfer_64mib_each_way_synack_client", || {
        let net = Net::v4();
        transfer_synack_client(&net, 64 * MIB, "64 MiB each way, synack client");
    });
}

// ----- TCP segmentation offload ---------------------------------------------------------------

/// Packets the kernel took in on `synack0` and sent on it (a TSO packet counts once), from
/// this thread's network namespace.
fn kernel_packets() -> (u64, u64) {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").expect("read net/dev");
    let fields: Vec<u64> = dev
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("synack0:"))
        .expect("synack0 in net/dev")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Receive: bytes, packets, errs, drop, fifo, frame, compressed, multicast; then transmit.
    (fields[1], fields[9])
}

/// A transfer with offload on: the bytes arrive exact both ways, and each way the packets that
/// crossed the TUN were far fewer than the segments synack sent or received (bursts went as
/// single TSO packets, and came as them).
fn offload_transfer(v6: bool, what: &str) {
    let net = Net::new(Setup {
        v6,
        offload: true,
        ..Setup::default()
    });
    let (rx_before, tx_before) = kernel_packets();
    transfer_kernel_client(&net, 16 * MIB, what);
    let (rx, tx) = kernel_packets();
    let (rx, tx) = (rx - rx_before, tx - tx_before);
    let stats = net.driver.stats();
    let (sent, got) = (stats.datagrams_out, stats.datagrams_in);
    eprintln!("{what}: synack sent {sent} segments in {rx} packets, got {got} in {tx}");
    assert!(
        sent > 11_000,
        "16 MiB takes over 11,000 segments, sent {sent}"
    );
    assert!(got > 11_000, "16 MiB takes over 11,000 segments, got {got}");
    assert!(
        rx * 2 < sent,
        "bursts should merge: {rx} packets for {sent} segments"
    );
    assert!(
        tx * 2 < got,
        "the kernel's TSO packets should be split: {tx} for {got}"
    );
}

#[test]
fn offload_transfer_16mib_each_way_v4() {
    in_netns("offload_transfer_16mib_each_way_v4", || {
        offload_transfer(false, "TSO, 16 MiB each way, IPv4");
    });
}

#[test]
fn offload_transfer_16mib_each_way_v6() {
    in_netns("offload_transfer_16mib_each_way_v6", || {
        offload_transfer(true, "TSO, 16 MiB each way, IPv6");
    });
}

#[test]
fn offload_lossy_transfer_synack_client() {
    in_netns("offload_lossy_transfer_synack_client", || {
        let net = Net::new(Setup {
            impair: Some((lossy(), 5)),
            offload: true,
            ..Setup::default()
        });
        transfer_synack_client(&net, 4 * MIB, "TSO, 4 MiB each way through loss");
    });
}

// ----- many connections ------------------------------------------------------------------------

const CONNS: usize = 200;
const PER_CONN: usize = 8 * 1024;

fn message(i: usize) -> Vec<u8> {
    let mut v = vec![0u8; PER_CONN];
    Pattern::new(i as u64 + 1000).fill(&mut v);
    v
}

/// Opens all connections first, then exchanges on every one, then closes them all: 200
/// connections are established at the same time.
fn many_clients<S: Read + Write>(mut connect: impl FnMut() -> S, all_open: impl FnOnce()) {
    let mut streams: Vec<S> = (0..CONNS).map(|_| connect()).collect();
    all_open();
    for (i, s) in streams.iter_mut().enumerate() {
        s.write_all(&message(i)).unwrap();
    }
    for (i, s) in streams.iter_mut().enumerate() {
        let mut back = vec![0u8; PER_CONN];
        s.read_exact(&mut back).unwrap();
        assert!(back == message(i), "connection {i} echoed other bytes");
    }
}

#[test]
fn concurrent_200_kernel_clients() {
    in_netns("concurrent_200_kernel_clients", || {
        let net = Net::v4();
        let listener = TcpListener::bind_with_backlog(&net.driver, net.synack_at(7), 256).unwrap();
        let acceptor = thread::spawn(move || {
            let mut workers = Vec::new();
            for _ in 0..CONNS {
                let (mut s, _) = listener.accept().unwrap();
                bound_synack(&s);
                workers.push(thread::spawn(move || {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).unwrap();
                    }
                }));
            }
            for w in workers {
                w.join().unwrap();
            }
        });
        let addr = net.synack_at(7);
        let driver = net.driver.clone();
        many_clients(
            || {
                let c = std::net::TcpStream::connect(addr).unwrap();
                bound_kernel(&c);
                c
            },
            || {
                // Every connection is established on synack's side at once (accepted or queued).
                assert!(eventually(Duration::from_secs(30), || driver
                    .resources()
                    .connections
                    >= CONNS));
            },
        );
        acceptor.join().unwrap();
    });
}

#[test]
fn concurrent_200_synack_clients() {
    in_netns("concurrent_200_synack_clients", || {
        let net = Net::v4();
        let listener = std::net::TcpListener::bind(net.kernel_at(7)).unwrap();
        let acceptor = thread::spawn(move || {
            let mut workers = Vec::new();
            for _ in 0..CONNS {
                let (mut s, _) = listener.accept().unwrap();
                bound_kernel(&s);
                workers.push(thread::spawn(move || {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).unwrap();
                    }
                }));
            }
            for w in workers {
                w.join().unwrap();
            }
        });
        let driver = net.driver.clone();
        let to = net.kernel_at(7);
        many_clients(
            || {
                let c = TcpStream::connect(&driver, to).unwrap();
                bound_synack(&c);
                c
            },
            || assert_eq!(driver.connections().len(), CONNS),
        );
        acceptor.join().unwrap();
    });
}

// ----- half-close ------------------------------------------------------------------------------

#[test]
fn half_close_kernel_client_closes_first() {
    in_netns("half_close_kernel_client_closes_first", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(8)).unwrap();
        let addr = net.synack_at(8);
        let client = thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            bound_kernel(&c);
            c.write_all(b"request").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            // The write half is closed; the read half still gets the whole reply.
            recv_digest(&mut c).unwrap()
        });
        let (mut s, _) = listener.accept().unwrap();
        bound_synack(&s);
        let mut req = Vec::new();
        s.read_to_end(&mut req).unwrap();
        assert_eq!(req, b"request");
        assert_eq!(s.tcp_info().unwrap().state, State::CloseWait);
        let sent = send_pattern(&mut s, 5, 4 * MIB).unwrap();
        drop(s);
        assert_eq!(client.join().unwrap(), sent);
    });
}

#[test]
fn half_close_synack_server_closes_first() {
    in_netns("half_close_synack_server_closes_first", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(8)).unwrap();
        let addr = net.synack_at(8);
        let client = thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            bound_kernel(&c);
            let mut hello = Vec::new();
            c.read_to_end(&mut hello).unwrap();
            assert_eq!(hello, b"hello");
            // Our read half saw FIN; we keep sending.
            let d = send_pattern(&mut c, 6, 4 * MIB).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            d
        });
        let (mut s, _) = listener.accept().unwrap();
        bound_synack(&s);
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = recv_digest(&mut s).unwrap();
        assert_eq!(got, client.join().unwrap());
    });
}

#[test]
fn half_close_synack_client_closes_first() {
    in_netns("half_close_synack_client_closes_first", || {
        let net = Net::v4();
        let listener = std::net::TcpListener::bind(net.kernel_at(8)).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            bound_kernel(&s);
            let mut req = Vec::new();
            s.read_to_end(&mut req).unwrap();
            assert_eq!(req, b"request");
            send_pattern(&mut s, 7, 4 * MIB).unwrap()
        });
        let mut c = TcpStream::connect(&net.driver, net.kernel_at(8)).unwrap();
        bound_synack(&c);
        c.write_all(b"request").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = recv_digest(&mut c).unwrap();
        assert_eq!(got, server.join().unwrap());
    });
}

#[test]
fn half_close_kernel_server_closes_first() {
    in_netns("half_close_kernel_server_closes_first", || {
        let net = Net::v4();
        let listener = std::net::TcpListener::bind(net.kernel_at(8)).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            bound_kernel(&s);
            s.write_all(b"hello").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            recv_digest(&mut s).unwrap()
        });
        let mut c = TcpStream::connect(&net.driver, net.kernel_at(8)).unwrap();
        bound_synack(&c);
        let mut hello = Vec::new();
        c.read_to_end(&mut hello).unwrap();
        assert_eq!(hello, b"hello");
        assert_eq!(c.tcp_info().unwrap().state, State::CloseWait);
        let sent = send_pattern(&mut c, 8, 4 * MIB).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), sent);
    });
}

// ----- refused ---------------------------------------------------------------------------------

#[test]
fn connect_to_closed_port_is_refused_both_ways() {
    in_netns("connect_to_closed_port_is_refused_both_ways", || {
        let net = Net::v4();
        // Kernel -> synack: synack answers the SYN with RST.
        let e = std::net::TcpStream::connect(net.synack_at(9)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        // synack -> kernel: the kernel answers with RST.
        let e = TcpStream::connect(&net.driver, net.kernel_at(9)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        assert!(net.driver.counters().out_rsts >= 1);
    });
}

// ----- TIME-WAIT -------------------------------------------------------------------------------

#[test]
fn time_wait_on_synack_when_it_closes_first() {
    in_netns("time_wait_on_synack_when_it_closes_first", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(10)).unwrap();
        let mut c = std::net::TcpStream::connect(net.synack_at(10)).unwrap();
        bound_kernel(&c);
        let (mut s, peer) = listener.accept().unwrap();
        s.write_all(b"bye").unwrap();
        drop(s); // active close: FIN from synack
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        let client_port = c.local_addr().unwrap().port();
        drop(c); // the kernel's FIN: synack goes FIN-WAIT-2 -> TIME-WAIT, the kernel LAST-ACK -> CLOSED
        let tuple = FourTuple {
            local: net.synack_at(10),
            remote: peer,
        };
        assert!(
            eventually(Duration::from_secs(10), || net.driver.state_of(&tuple)
                == Some(State::TimeWait)),
            "synack state: {:?}",
            net.driver.state_of(&tuple)
        );
        assert!(eventually(Duration::from_secs(10), || kernel_tcp_states(
            client_port,
            10
        )
        .is_empty()));
        assert_eq!(net.driver.resources().time_wait, 1);
    });
}

#[test]
fn time_wait_on_kernel_when_it_closes_first() {
    in_netns("time_wait_on_kernel_when_it_closes_first", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(10)).unwrap();
        let c = std::net::TcpStream::connect(net.synack_at(10)).unwrap();
        let client_port = c.local_addr().unwrap().port();
        let (mut s, peer) = listener.accept().unwrap();
        bound_synack(&s);
        drop(c); // active close by the kernel
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
        drop(s); // synack: CLOSE-WAIT -> LAST-ACK -> CLOSED
        assert!(
            eventually(Duration::from_secs(10), || kernel_tcp_states(
                client_port,
                10
            ) == [LINUX_TIME_WAIT]),
            "kernel states: {:?}",
            kernel_tcp_states(client_port, 10)
        );
        let tuple = FourTuple {
            local: net.synack_at(10),
            remote: peer,
        };
        assert!(eventually(Duration::from_secs(10), || net
            .driver
            .state_of(&tuple)
            .is_none()));
        assert_eq!(net.driver.resources().time_wait, 0);
    });
}

// ----- under loss ------------------------------------------------------------------------------

/// 5 % loss each way, 1 ms delay, 2 % of packets reordered by 3 ms more.
fn lossy() -> LinkConfig {
    LinkConfig::default()
        .loss(0.05)
        .delay(Duration::from_millis(1))
        .reorder(0.02, Duration::from_millis(3))
}

/// Bytes each way under loss: the same transfers as the clean ones.
const LOSSY_LEN: u64 = 64 * MIB;

#[test]
fn lossy_transfer_kernel_client() {
    in_netns("lossy_transfer_kernel_client", || {
        let net = Net::impaired(lossy(), 1);
        transfer_kernel_client(&net, LOSSY_LEN, "lossy, kernel client");
        assert!(net.driver.counters().retrans_segs > 0, "no loss happened");
    });
}

#[test]
fn lossy_transfer_synack_client() {
    in_netns("lossy_transfer_synack_client", || {
        let net = Net::impaired(lossy(), 2);
        transfer_synack_client(&net, LOSSY_LEN, "lossy, synack client");
        assert!(net.driver.counters().retrans_segs > 0, "no loss happened");
    });
}

#[test]
fn lossy_handshakes_and_closes() {
    in_netns("lossy_handshakes_and_closes", || {
        let net = Net::impaired(lossy(), 3);
        let listener = TcpListener::bind(&net.driver, net.synack_at(11)).unwrap();
        let server = thread::spawn(move || {
            for _ in 0..20 {
                let (mut s, _) = listener.accept().unwrap();
                bound_synack(&s);
                let mut v = Vec::new();
                s.read_to_end(&mut v).unwrap();
                s.write_all(&v).unwrap();
            }
        });
        for i in 0..20 {
            let mut c = std::net::TcpStream::connect(net.synack_at(11)).unwrap();
            bound_kernel(&c);
            let m = message(i);
            c.write_all(&m).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            assert!(back == m);
        }
        server.join().unwrap();
    });
}

// ----- HTTP: hyper on synack -------------------------------------------------------------------

#[test]
fn http_get_from_kernel_to_hyper_on_synack() {
    in_netns("http_get_from_kernel_to_hyper_on_synack", || {
        use bytes::Bytes;
        use http_body_util::Full;
        use hyper::{Request, Response};

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let net = rt.block_on(async {
            Net::new(Setup {
                tokio: true,
                ..Setup::default()
            })
        });
        let driver = net.driver.clone();
        let addr = net.synack_at(80);
        rt.spawn(async move {
            let listener = synack::tokio::TcpListener::bind(&driver, addr)
                .await
                .unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |req: Request<hyper::body::Incoming>| async move {
                            let body =
                                format!("hello from synack: {} {}\n", req.method(), req.uri());
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        // Wait until the listener is up.
        assert!(eventually(Duration::from_secs(10), || net
            .driver
            .resources()
            .listeners
            == 1));
        // Two requests on one keep-alive connection, then one with Connection: close.
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        bound_kernel(&c);
        for path in ["/", "/a"] {
            write!(c, "GET {path} HTTP/1.1\r\nHost: synack\r\n\r\n").unwrap();
            let resp = read_http_response(&mut c);
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
            assert!(
                resp.ends_with(&format!("hello from synack: GET {path}\n")),
                "{resp}"
            );
        }
        write!(
            c,
            "GET /last HTTP/1.1\r\nHost: synack\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
        assert!(all.ends_with("hello from synack: GET /last\n"), "{all}");
        // curl, when this machine has it.
        if let Ok(out) = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "-o", "-", "-w", "%{http_code}"])
            .arg(format!("http://{addr}/curl"))
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.ends_with("200"),
                "curl: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("GET /curl"), "{text}");
        }
        drop(net);
        rt.shutdown_timeout(Duration::from_secs(5));
    });
}

/// Reads one HTTP/1.1 response with a Content-Length body.
fn read_http_response(c: &mut std::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed mid-response");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

// ----- ping ------------------------------------------------------------------------------------

fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends ICMP (or ICMPv6) echo requests from a raw kernel socket and counts the replies.
fn ping_raw(to: SocketAddr, count: u16) -> u16 {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = to.is_ipv6();
    let sock = if v6 {
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
    } else {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    }
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let id: u16 = 0x5a5a;
    let mut replies = 0;
    for seq in 0..count {
        let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
        msg.extend_from_slice(&id.to_be_bytes());
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(b"synack ping payload");
        if !v6 {
            let c = icmp_checksum(&msg);
            msg[2..4].copy_from_slice(&c.to_be_bytes());
        } // ICMPv6: the kernel fills the checksum of raw ICMPv6 sockets.
        sock.send_to(&msg, &to.into()).unwrap();
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            let mut buf = [0u8; 1500];
            let Ok(n) = (&sock).read(&mut buf) else {
                break;
            };
            let data = &buf[..n];
            let icmp = if v6 {
                data
            } else {
                &data[usize::from(data[0] & 0xf) * 4..]
            };
            let reply_type = if v6 { 129 } else { 0 };
            if icmp.len() >= 8
                && icmp[0] == reply_type
                && icmp[4..6] == id.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
                && icmp.ends_with(b"synack ping payload")
            {
                replies += 1;
                break;
            }
        }
    }
    replies
}

fn ping_binary(addr: std::net::IpAddr) -> Option<bool> {
    let out = std::process::Command::new("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2"])
        .arg(addr.to_string())
        .output()
        .ok()?;
    Some(out.status.success())
}

#[test]
fn ping_synack_v4() {
    in_netns("ping_synack_v4", || {
        let net = Net::v4();
        assert_eq!(ping_raw(SocketAddr::new(net.synack, 0), 3), 3);
        if let Some(ok) = ping_binary(net.synack) {
            assert!(ok, "ping {} failed", net.synack);
        }
        assert!(net.driver.counters().icmp_out_echo_reps >= 3);
    });
}

#[test]
fn ping_synack_v6() {
    in_netns("ping_synack_v6", || {
        let net = Net::v6();
        assert_eq!(ping_raw(SocketAddr::new(net.synack, 0), 3), 3);
        if let Some(ok) = ping_binary(net.synack) {
            assert!(ok, "ping {} failed", net.synack);
        }
    });
}

// ----- IPv6 ------------------------------------------------------------------------------------

#[test]
fn ipv6_handshake_and_transfer_kernel_client() {
    in_netns("ipv6_handshake_and_transfer_kernel_client", || {
        let net = Net::v6();
        transfer_kernel_client(&net, 16 * MIB, "IPv6, 16 MiB each way, kernel client");
    });
}

#[test]
fn ipv6_handshake_and_transfer_synack_client() {
    in_netns("ipv6_handshake_and_transfer_synack_client", || {
        let net = Net::v6();
        transfer_synack_client(&net, 16 * MIB, "IPv6, 16 MiB each way, synack client");
    });
}

#[test]
fn ipv6_refused_and_closed() {
    in_netns("ipv6_refused_and_closed", || {
        let net = Net::v6();
        let e = std::net::TcpStream::connect(net.synack_at(9)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        let e = TcpStream::connect(&net.driver, net.kernel_at(9)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    });
}

// ----- abort -----------------------------------------------------------------------------------

#[test]
fn linger_zero_resets_the_kernel_peer() {
    in_netns("linger_zero_resets_the_kernel_peer", || {
        let net = Net::v4();
        let listener = TcpListener::bind(&net.driver, net.synack_at(12)).unwrap();
        let mut c = std::net::TcpStream::connect(net.synack_at(12)).unwrap();
        bound_kernel(&c);
        let (s, _) = listener.accept().unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        let mut buf = [0u8; 16];
        let e = c.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    });
}

#[test]
fn kernel_reset_reaches_synack_reader() {
    in_netns("kernel_reset_reaches_synack_reader", || {
        let net = Net::v4();
        let listener = std::net::TcpListener::bind(net.kernel_at(12)).unwrap();
        let mut c = TcpStream::connect(&net.driver, net.kernel_at(12)).unwrap();
        bound_synack(&c);
        let (s, _) = listener.accept().unwrap();
        // SO_LINGER 0 on the kernel side: close sends RST.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        let mut buf = [0u8; 16];
        let e = c.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    });
}
