//! ICMP at the endpoint: echo, unreachable errors for connections, path MTU.

mod common;

use common::Pair;
use synack_proto::time::Duration;
use synack_proto::{Error, Instant, State};
use synack_wire::{Icmpv4Repr, Icmpv6Repr};

fn v4(s: &str) -> std::net::Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn echo_request_gets_an_echo_reply_v4_and_v6() {
    let mut p = Pair::new();
    let req = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no: 3,
        data: b"ping!",
    };
    let bytes = synack_wire::build_icmpv4(v4("10.0.0.1"), v4("10.0.0.2"), 64, &req).unwrap();
    assert_eq!(p.b.handle_packet(p.now, &bytes), Ok(()));
    let out = p.b.poll_transmit().expect("a reply");
    let ip = synack_wire::parse_ip(&out).unwrap();
    assert_eq!(ip.ip.src(), "10.0.0.2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(ip.ip.dst(), "10.0.0.1".parse::<std::net::IpAddr>().unwrap());
    match Icmpv4Repr::parse(ip.payload, true).unwrap() {
        Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => {
            assert_eq!((ident, seq_no, data), (7, 3, &b"ping!"[..]));
        }
        other => panic!("not an echo reply: {other:?}"),
    }
    assert_eq!(p.b.counters().icmp_out_echo_reps, 1);

    let mut p6 = Pair::with_addrs("fd00::1", "fd00::2");
    let (a6, b6) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let req = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 9,
        data: b"six",
    };
    let bytes = synack_wire::build_icmpv6(a6, b6, 64, &req).unwrap();
    assert_eq!(p6.b.handle_packet(p6.now, &bytes), Ok(()));
    let out = p6.b.poll_transmit().expect("a reply");
    let ip = synack_wire::parse_ip(&out).unwrap();
    assert!(matches!(
        Icmpv6Repr::parse(ip.payload, b6, a6, true).unwrap(),
        Icmpv6Repr::EchoReply {
            ident: 1,
            seq_no: 9,
            ..
        }
    ));
}

#[test]
fn port_unreachable_fails_connect_with_refused_and_bogus_quotes_are_ignored() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, "10.0.0.2:9".parse().unwrap(), None)
            .unwrap();
    let syn = p.a.poll_transmit().unwrap();
    // A quote whose sequence number is not our SYN's is not believed (RFC 5927).
    let mut wrong = syn.clone();
    wrong[24] ^= 0x55; // inside the TCP sequence number
    let bogus = Icmpv4Repr::DstUnreachable {
        code: 3,
        data: &wrong[..28],
    };
    let bytes = synack_wire::build_icmpv4(v4("10.0.0.2"), v4("10.0.0.1"), 64, &bogus).unwrap();
    assert!(p.a.handle_packet(p.now, &bytes).is_err());
    assert_eq!(p.a.state(c).unwrap(), State::SynSent);
    // The real quote (IP header + first 8 bytes of TCP, as RFC 792 requires at least) aborts.
    let unreach = Icmpv4Repr::DstUnreachable {
        code: 3,
        data: &syn[..28],
    };
    let bytes = synack_wire::build_icmpv4(v4("10.0.0.2"), v4("10.0.0.1"), 64, &unreach).unwrap();
    assert_eq!(p.a.handle_packet(p.now, &bytes), Ok(()));
    assert_eq!(p.a.state(c).unwrap(), State::Closed);
    let mut buf = [0u8; 1];
    assert_eq!(p.a.recv(p.now, c, &mut buf), Err(Error::ConnectionRefused));
}

#[test]
fn host_unreachable_on_an_established_connection_is_soft() {
    let mut p = Pair::new();
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 4).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    let _s = p.b.accept(l).unwrap();
    p.a.send(p.now, c, b"data").unwrap();
    let seg = p.a.poll_transmit().unwrap();
    let unreach = Icmpv4Repr::DstUnreachable {
        code: 1,
        data: &seg[..28],
    };
    let bytes = synack_wire::build_icmpv4(v4("10.0.0.2"), v4("10.0.0.1"), 64, &unreach).unwrap();
    assert_eq!(p.a.handle_packet(p.now, &bytes), Ok(()));
    assert_eq!(p.a.state(c).unwrap(), State::Established, "a soft error");
}

#[test]
fn fragmentation_needed_lowers_the_segment_size_and_resends() {
    let mut p = Pair::new();
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 4).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    let s = p.b.accept(l).unwrap();
    assert_eq!(p.a.info(c).unwrap().snd_mss, 1448);
    p.a.send(p.now, c, &[1u8; 4000]).unwrap();
    let first = p.a.poll_transmit().unwrap();
    assert_eq!(first.len(), 20 + 32 + 1448);
    while p.a.poll_transmit().is_some() {}
    let frag = Icmpv4Repr::FragNeeded {
        next_hop_mtu: 1000,
        data: &first[..28],
    };
    let bytes = synack_wire::build_icmpv4(v4("10.0.0.2"), v4("10.0.0.1"), 64, &frag).unwrap();
    assert_eq!(p.a.handle_packet(p.now, &bytes), Ok(()));
    // 1000 - 20 (IP) - 20 (TCP) - 12 (timestamps) = 948 payload bytes per segment.
    assert_eq!(p.a.info(c).unwrap().snd_mss, 948);
    let resent = p.a.poll_transmit().expect("resent at the new size");
    assert_eq!(resent.len(), 1000);
    assert_eq!(p.a.counters().pmtu_updates, 1);
    p.collect();
    p.run_until(p.now + Duration::from_millis(500));
    let mut buf = [0u8; 8192];
    let n = p.b.recv(p.now, s, &mut buf).unwrap();
    assert_eq!(n, 4000);
}
