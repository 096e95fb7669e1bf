//! Arbitrary bytes never panic a parser: random buffers, and valid packets with random damage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use synack_wire::ip::{parse_ip_quoted, IpPacket, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};
use synack_wire::ipv6::walk_extension_headers;
use synack_wire::{
    build_tcp, parse_ip, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpRepr, Ipv4Packet,
    Ipv6Packet, QuotedTcpHeader, SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
    Timestamps,
};

/// Runs every upper-layer parser over a parsed datagram, with and without checksums.
fn parse_upper(packet: &IpPacket<'_>) {
    let (src, dst) = (packet.ip.src(), packet.ip.dst());
    match packet.protocol {
        IPPROTO_TCP => {
            let _ = TcpRepr::parse(packet.payload, src, dst, true);
            if let Ok(repr) = TcpRepr::parse(packet.payload, src, dst, false) {
                // Whatever parsed can be emitted again.
                let mut buf = vec![0u8; repr.buffer_len()];
                assert_eq!(repr.emit(&mut buf, src, dst), buf.len());
            }
        }
        IPPROTO_ICMP => {
            let _ = Icmpv4Repr::parse(packet.payload, true);
            if let Ok(repr) = Icmpv4Repr::parse(packet.payload, false) {
                let mut buf = vec![0u8; repr.buffer_len()];
                assert_eq!(repr.emit(&mut buf), buf.len());
                if let Ok(inner) = parse_ip_quoted(repr.data()) {
                    let _ = QuotedTcpHeader::parse(inner.payload);
                }
            }
        }
        IPPROTO_ICMPV6 => {
            if let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) {
                let _ = Icmpv6Repr::parse(packet.payload, s, d, true);
                if let Ok(repr) = Icmpv6Repr::parse(packet.payload, s, d, false) {
                    let mut buf = vec![0u8; repr.buffer_len()];
                    assert_eq!(repr.emit(&mut buf, s, d), buf.len());
                    let _ = parse_ip_quoted(repr.data());
                }
            }
        }
        _ => {}
    }
}

/// Feeds `bytes` to every parser and every checked view.
fn exercise(bytes: &[u8]) {
    if let Ok(packet) = parse_ip(bytes) {
        assert!(packet.payload.len() <= bytes.len());
        // What parsed can be re-emitted as a header.
        let mut header = [0u8; 40];
        assert_eq!(packet.ip.emit(&mut header), packet.ip.header_len());
        parse_upper(&packet);
    }
    if let Ok(packet) = parse_ip_quoted(bytes) {
        parse_upper(&packet);
    }

    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    for (src, dst) in [(v4, v4), (v6, v6), (v4, v6)] {
        let _ = TcpRepr::parse(bytes, src, dst, true);
        let _ = TcpRepr::parse(bytes, src, dst, false);
    }
    let _ = TcpOptions::parse(bytes);
    let _ = QuotedTcpHeader::parse(bytes);
    let _ = Icmpv4Repr::parse(bytes, false);
    let _ = Icmpv6Repr::parse(bytes, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, false);
    for first in [0u8, 6, 43, 44, 59, 60] {
        let _ = walk_extension_headers(first, bytes);
    }

    // Checked views: after new_checked every accessor is safe.
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.seq(),
            p.ack(),
            p.flags(),
            p.window(),
        );
        let _ = (
            p.checksum(),
            p.urgent(),
            p.reserved(),
            p.options(),
            p.payload(),
        );
        let _ = p.verify_checksum(v4, v4);
    }
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let _ = (
            p.version(),
            p.dscp(),
            p.ecn(),
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
        );
        let _ = (
            p.frag_offset(),
            p.ttl(),
            p.protocol(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = (p.options(), p.payload(), p.verify_checksum());
    }
    if let Ok(p) = Ipv6Packet::new_checked(bytes) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.next_header(),
        );
        let _ = (p.hop_limit(), p.src_addr(), p.dst_addr(), p.payload());
    }
    if let Ok(p) = Icmpv4Packet::new_checked(bytes) {
        let _ = (
            p.msg_type(),
            p.code(),
            p.rest_of_header(),
            p.data(),
            p.verify_checksum(),
        );
    }
    if let Ok(p) = Icmpv6Packet::new_checked(bytes) {
        let _ = (
            p.echo_ident(),
            p.echo_seq_no(),
            p.rest_of_header_u32(),
            p.data(),
        );
    }
}

/// A valid TCP datagram to damage.
fn valid_datagram(v6: bool, options: bool) -> Vec<u8> {
    let mut sack = SackBlocks::new();
    sack.push(SackBlock { left: 5, right: 9 });
    let repr = TcpRepr {
        options: if options {
            TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
                sack,
            }
        } else {
            TcpOptions::default()
        },
        payload: b"payload bytes",
        ..TcpRepr::new(1, 2, 3, 4, TcpFlags::SYN | TcpFlags::ACK, 5)
    };
    let (src, dst) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::BROADCAST),
        )
    };
    build_tcp(src, dst, 64, &repr).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_version_never_panic(
        version in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x60, 0x61]),
        bytes in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let mut b = bytes;
        b.insert(0, version);
        exercise(&b);
    }

    #[test]
    fn damaged_datagrams_never_panic(
        v6 in any::<bool>(),
        options in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut d = valid_datagram(v6, options);
        for (at, value) in edits {
            let i = at.index(d.len());
            d[i] = value;
        }
        // Repair the IPv4 header checksum half the time, so the damage reaches TCP.
        if !v6 && cut.index(2) == 0 {
            Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
        }
        exercise(&d);
        let len = cut.index(d.len() + 1);
        exercise(&d[..len]);
    }

    #[test]
    fn damaged_tcp_options_never_panic(
        option_bytes in prop::collection::vec(any::<u8>(), 0..=40),
    ) {
        // A header whose Data Offset covers random option bytes, with a valid checksum, so the
        // option parser sees them after every other check passed.
        let words = option_bytes.len().div_ceil(4);
        let mut seg = vec![0u8; 20 + words * 4];
        seg[20..20 + option_bytes.len()].copy_from_slice(&option_bytes);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut p = TcpPacket::new_unchecked(&mut seg[..]);
        p.set_header_len(20 + words * 4);
        p.fill_checksum(v4, v4).unwrap();
        if let Ok(repr) = TcpRepr::parse(&seg, v4, v4, true) {
            prop_assert!(repr.options.sack.len() <= 4);
        }
        let ip = IpRepr::new(v4, v4, IPPROTO_TCP, seg.len(), 64).unwrap();
        let mut d = vec![0u8; ip.buffer_len()];
        ip.emit(&mut d);
        d[20..].copy_from_slice(&seg);
        exercise(&d);
    }
}
