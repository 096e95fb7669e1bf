//! ICMP through the host: a middlebox device on the in-memory link answers the way a router does
//! (fragmentation needed / packet too big for datagrams over its MTU, unreachable for SYNs), and
//! the driver hands those errors to the engine, which lowers the path MTU or fails the connect.

mod support;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use support::*;
use synack::device::{Device, LinkConfig, Notifier, SimDevice};
use synack::net::{TcpListener, TcpStream};
use synack::Driver;
use synack_wire::{Icmpv4Repr, Icmpv6Repr};

/// What the middlebox does to the client's datagrams.
#[derive(Clone, Copy)]
enum Rule {
    /// Datagrams longer than this get "fragmentation needed" / "packet too big".
    Mtu(usize),
    /// SYNs get "destination unreachable" with this code.
    UnreachableSyn(u8),
}

struct Middlebox<D> {
    inner: D,
    rule: Rule,
    pending: VecDeque<Vec<u8>>,
    notifier: Option<Notifier>,
}

fn addrs(d: &[u8]) -> Option<(IpAddr, IpAddr, usize)> {
    match d.first()? >> 4 {
        4 => {
            let s: [u8; 4] = d.get(12..16)?.try_into().ok()?;
            let t: [u8; 4] = d.get(16..20)?.try_into().ok()?;
            Some((s.into(), t.into(), usize::from(d[0] & 0xf) * 4))
        }
        6 => {
            let s: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            let t: [u8; 16] = d.get(24..40)?.try_into().ok()?;
            Some((s.into(), t.into(), 40))
        }
        _ => None,
    }
}

impl<D: Device> Middlebox<D> {
    fn answer(&mut self, d: &[u8]) -> bool {
        let Some((src, _dst, ihl)) = addrs(d) else {
            return false;
        };
        let quote = &d[..d.len().min(548)];
        let reply = match (self.rule, src) {
            (Rule::Mtu(mtu), IpAddr::V4(s)) if d.len() > mtu => synack_wire::build_icmpv4(
                Ipv4Addr::new(10, 0, 0, 254),
                s,
                64,
                &Icmpv4Repr::FragNeeded {
                    next_hop_mtu: mtu as u16,
                    data: quote,
                },
            ),
            (Rule::Mtu(mtu), IpAddr::V6(s)) if d.len() > mtu => synack_wire::build_icmpv6(
                "fd00::fe".parse::<Ipv6Addr>().unwrap(),
                s,
                64,
                &Icmpv6Repr::PacketTooBig {
                    mtu: mtu as u32,
                    data: quote,
                },
            ),
            (Rule::UnreachableSyn(code), IpAddr::V4(s))
                if d.get(ihl + 13).is_some_and(|f| f & 0x12 == 0x02) =>
            {
                synack_wire::build_icmpv4(
                    Ipv4Addr::new(10, 0, 0, 254),
                    s,
                    64,
                    &Icmpv4Repr::DstUnreachable { code, data: quote },
                )
            }
            _ => return false,
        };
        if let Ok(r) = reply {
            self.pending.push_back(r);
            if let Some(n) = &self.notifier {
                n.notify();
            }
        }
        true
    }
}

impl<D: Device> Device for Middlebox<D> {
    fn name(&self) -> &str {
        "middlebox"
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(p) = self.pending.pop_front() {
            buf[..p.len()].copy_from_slice(&p);
            return Ok(Some(p.len()));
        }
        self.inner.recv(now, buf)
    }
    fn send(&mut self, now: Instant, d: &[u8]) -> io::Result<()> {
        if self.answer(d) {
            return Ok(());
        }
        self.inner.send(now, d)
    }
    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }
    fn set_notifier(&mut self, n: Notifier) {
        self.notifier = Some(n.clone());
        self.inner.set_notifier(n);
    }
}

fn drivers(client: IpAddr, server: IpAddr, rule: Rule) -> (Driver, Driver) {
    let (a, b) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 4);
    let c = Driver::builder()
        .address(client)
        .device(Middlebox {
            inner: a,
            rule,
            pending: VecDeque::new(),
            notifier: None,
        })
        .spawn()
        .unwrap();
    let s = Driver::builder().address(server).device(b).spawn().unwrap();
    (c, s)
}

fn pmtu(client: &str, server: &str, mtu: usize) {
    let (c, s) = drivers(
        client.parse().unwrap(),
        server.parse().unwrap(),
        Rule::Mtu(mtu),
    );
    let to = SocketAddr::new(server.parse().unwrap(), 80);
    let l = TcpListener::bind(&s, to).unwrap();
    let mut conn = TcpStream::connect(&c, to).unwrap();
    bound_synack(&conn);
    let (mut srv, _) = l.accept().unwrap();
    bound_synack(&srv);
    let before = conn.tcp_info().unwrap().snd_mss;
    let reader = thread::spawn(move || recv_digest(&mut srv).unwrap());
    let sent = send_pattern(&mut conn, 4, 1 << 20).unwrap();
    let after = conn.tcp_info().unwrap().snd_mss;
    drop(conn);
    assert_eq!(reader.join().unwrap(), sent);
    assert!(after < before, "MSS {before} -> {after}");
    let ip_tcp = if client.contains(':') { 60 } else { 40 };
    assert!(
        after as usize + ip_tcp <= mtu,
        "MSS {after} does not fit MTU {mtu}"
    );
    assert!(c.counters().pmtu_updates >= 1);
}

#[test]
fn fragmentation_needed_lowers_the_mss() {
    pmtu("10.0.0.1", "10.0.0.2", 1200);
}

#[test]
fn packet_too_big_lowers_the_mss() {
    pmtu("fd00::1", "fd00::2", 1280);
}

#[test]
fn unreachable_fails_the_connect() {
    for (code, kind) in [
        (1, io::ErrorKind::HostUnreachable),
        (3, io::ErrorKind::ConnectionRefused),
    ] {
        let (c, _s) = drivers(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            Rule::UnreachableSyn(code),
        );
        let to: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let e = TcpStream::connect_timeout(&c, &to, Duration::from_secs(20)).unwrap_err();
        assert_eq!(e.kind(), kind, "code {code}: {e}");
        assert!(c.counters().icmp_in_dest_unreachs >= 1);
    }
}

#[test]
fn echo_is_answered_by_the_driver() {
    let (a, b) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 8);
    let _server = Driver::builder()
        .address("10.0.0.2".parse().unwrap())
        .device(b)
        .spawn()
        .unwrap();
    // The client side is driven by hand: the raw device.
    let mut dev = a;
    let req = synack_wire::build_icmpv4(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        64,
        &Icmpv4Repr::EchoRequest {
            ident: 7,
            seq_no: 1,
            data: b"hello",
        },
    )
    .unwrap();
    dev.send(Instant::now(), &req).unwrap();
    let mut buf = vec![0u8; 2048];
    let end = Instant::now() + Duration::from_secs(5);
    let reply = loop {
        if let Some(n) = dev.recv(Instant::now(), &mut buf).unwrap() {
            break buf[..n].to_vec();
        }
        assert!(Instant::now() < end, "no echo reply");
        thread::sleep(Duration::from_millis(1));
    };
    let icmp = Icmpv4Repr::parse(&reply[20..], true).unwrap();
    assert!(matches!(
        icmp,
        Icmpv4Repr::EchoReply {
            ident: 7,
            seq_no: 1,
            data: b"hello"
        }
    ));
}
