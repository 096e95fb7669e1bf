//! Property tests: every representable value survives emit -> parse unchanged, over IPv4 and IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use synack_wire::ip::{parse_ip_quoted, IPPROTO_TCP};
use synack_wire::{
    build_icmpv4, build_icmpv6, build_tcp, parse_ip, Icmpv4Repr, Icmpv6Repr, IpRepr, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpPacket,
    TcpRepr, Timestamps,
};

/// The fields of a `TcpRepr` without the borrowed payload.
#[derive(Clone, Debug)]
struct Header {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: TcpOptions,
}

impl Header {
    fn repr<'a>(&self, payload: &'a [u8]) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload,
        }
    }
}

fn sack_blocks() -> impl Strategy<Value = SackBlocks> {
    prop::collection::vec((any::<u32>(), any::<u32>()), 0..=4).prop_map(|blocks| {
        let mut sack = SackBlocks::new();
        for (left, right) in blocks {
            assert!(sack.push(SackBlock { left, right }));
        }
        sack
    })
}

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u8>()),
        any::<bool>(),
        prop::option::of((any::<u32>(), any::<u32>())),
        sack_blocks(),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, sack)| TcpOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            sack,
        })
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        options(),
    )
        .prop_map(
            |(src_port, dst_port, seq, ack, flags, window, urgent, options)| Header {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
            },
        )
}

fn v4_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    (any::<[u8; 4]>(), any::<[u8; 4]>())
        .prop_map(|(s, d)| (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(d))))
}

fn v6_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    (any::<[u8; 16]>(), any::<[u8; 16]>())
        .prop_map(|(s, d)| (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(d))))
}

fn addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![v4_pair(), v6_pair()]
}

/// What parsing gives back: the repr with the SACK blocks that did not fit left out.
fn expected(repr: TcpRepr<'_>) -> TcpRepr<'_> {
    let mut options = repr.options;
    options.sack.truncate(repr.options.max_sack_blocks());
    TcpRepr { options, ..repr }
}

proptest! {
    #[test]
    fn tcp_segment_round_trips(
        h in header(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        (src, dst) in addr_pair(),
        hop_limit in any::<u8>(),
    ) {
        let repr = h.repr(&payload);
        let datagram = build_tcp(src, dst, hop_limit, &repr).unwrap();
        let packet = parse_ip(&datagram).unwrap();
        prop_assert_eq!(packet.protocol, IPPROTO_TCP);
        prop_assert_eq!(packet.ip.src(), src);
        prop_assert_eq!(packet.ip.dst(), dst);
        prop_assert_eq!(packet.ip.hop_limit(), hop_limit);
        prop_assert_eq!(packet.payload.len(), repr.buffer_len());
        let parsed = TcpRepr::parse(packet.payload, src, dst, true).unwrap();
        prop_assert_eq!(parsed, expected(repr));

        // The header is a multiple of 4 bytes, at most 60, and the view agrees.
        let view = TcpPacket::new_checked(packet.payload).unwrap();
        prop_assert_eq!(view.header_len(), repr.header_len());
        prop_assert_eq!(view.header_len() % 4, 0);
        prop_assert!(view.header_len() <= 60);
        prop_assert!(view.verify_checksum(src, dst));
        prop_assert_eq!(view.payload(), &payload[..]);

        // Emitting the parsed repr again gives the same bytes.
        let mut again = vec![0u8; parsed.buffer_len()];
        prop_assert_eq!(parsed.emit(&mut again, src, dst), again.len());
        prop_assert_eq!(&again[..], packet.payload);
    }

    #[test]
    fn options_round_trip(options in options()) {
        let mut buf = [0u8; 40];
        let n = options.emit(&mut buf);
        prop_assert_eq!(n, options.wire_len());
        prop_assert_eq!(n % 4, 0);
        let mut want = options;
        want.sack.truncate(options.max_sack_blocks());
        prop_assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), want);
        // Trailing EOL and padding after the options change nothing.
        if n < 40 {
            prop_assert_eq!(TcpOptions::parse(&buf).unwrap(), want);
        }
    }

    #[test]
    fn ipv4_header_round_trips(
        (s, d) in (any::<[u8; 4]>(), any::<[u8; 4]>()),
        protocol in any::<u8>(),
        payload in prop::collection::vec(any::<u8>(), 0..100),
        ttl in any::<u8>(),
        dscp_ecn in any::<u8>(),
        ident in any::<u16>(),
        dont_frag in any::<bool>(),
        padding in 0usize..20,
    ) {
        let repr = Ipv4Repr {
            src: s.into(),
            dst: d.into(),
            protocol,
            payload_len: payload.len(),
            ttl,
            dscp_ecn,
            ident,
            dont_frag,
        };
        let mut buf = vec![0u8; repr.buffer_len() + padding];
        prop_assert_eq!(repr.emit(&mut buf), 20);
        buf[20..20 + payload.len()].copy_from_slice(&payload);
        // The checksum emit takes from the field values is the one summed from the bytes.
        let mut again = buf.clone();
        Ipv4Packet::new_unchecked(&mut again[..]).fill_checksum();
        prop_assert_eq!(&again, &buf);
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
        prop_assert_eq!(packet.payload(), &payload[..]);
        let parsed = parse_ip(&buf).unwrap();
        prop_assert_eq!(parsed.ip, IpRepr::V4(repr));
        prop_assert_eq!(parsed.protocol, protocol);
        prop_assert_eq!(parsed.payload, &payload[..]);
    }

    #[test]
    fn ipv6_header_round_trips(
        (s, d) in (any::<[u8; 16]>(), any::<[u8; 16]>()),
        payload in prop::collection::vec(any::<u8>(), 0..100),
        hop_limit in any::<u8>(),
        traffic_class in any::<u8>(),
        flow_label in 0u32..(1 << 20),
        padding in 0usize..20,
    ) {
        let repr = Ipv6Repr {
            src: s.into(),
            dst: d.into(),
            next_header: IPPROTO_TCP,
            payload_len: payload.len(),
            hop_limit,
            traffic_class,
            flow_label,
        };
        let mut buf = vec![0u8; repr.buffer_len() + padding];
        prop_assert_eq!(repr.emit(&mut buf), 40);
        buf[40..40 + payload.len()].copy_from_slice(&payload);
        let packet = Ipv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&packet).unwrap(), repr);
        let parsed = parse_ip(&buf).unwrap();
        prop_assert_eq!(parsed.ip, IpRepr::V6(repr));
        prop_assert_eq!(parsed.payload, &payload[..]);
        // A quoted copy cut anywhere after the fixed header still parses.
        let cut = 40 + payload.len() / 2;
        let quoted = parse_ip_quoted(&buf[..cut]).unwrap();
        prop_assert_eq!(quoted.payload, &payload[..payload.len() / 2]);
    }

    #[test]
    fn icmpv4_round_trips(
        kind in 0u8..7,
        code in any::<u8>(),
        word in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
        (s, d) in (any::<[u8; 4]>(), any::<[u8; 4]>()),
    ) {
        let [a, b, c, e] = word.to_be_bytes();
        let repr = match kind {
            0 => Icmpv4Repr::EchoRequest { ident: word as u16, seq_no: (word >> 16) as u16, data: &data },
            1 => Icmpv4Repr::EchoReply { ident: word as u16, seq_no: (word >> 16) as u16, data: &data },
            2 => Icmpv4Repr::DstUnreachable { code: if code == 4 { 3 } else { code }, data: &data },
            3 => Icmpv4Repr::FragNeeded { next_hop_mtu: word as u16, data: &data },
            4 => Icmpv4Repr::TimeExceeded { code, data: &data },
            5 => Icmpv4Repr::ParamProblem { code, pointer: a, data: &data },
            // Types with no variant of their own.
            _ => Icmpv4Repr::Other { msg_type: 13 + (code % 5), code, rest: [a, b, c, e], data: &data },
        };
        let datagram = build_icmpv4(s.into(), d.into(), 64, &repr).unwrap();
        let packet = parse_ip(&datagram).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(packet.payload, true).unwrap(), repr);
    }

    #[test]
    fn icmpv6_round_trips(
        kind in 0u8..7,
        code in any::<u8>(),
        word in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
        (s, d) in (any::<[u8; 16]>(), any::<[u8; 16]>()),
    ) {
        let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
        let repr = match kind {
            0 => Icmpv6Repr::EchoRequest { ident: word as u16, seq_no: (word >> 16) as u16, data: &data },
            1 => Icmpv6Repr::EchoReply { ident: word as u16, seq_no: (word >> 16) as u16, data: &data },
            2 => Icmpv6Repr::DstUnreachable { code, data: &data },
            3 => Icmpv6Repr::PacketTooBig { mtu: word, data: &data },
            4 => Icmpv6Repr::TimeExceeded { code, data: &data },
            5 => Icmpv6Repr::ParamProblem { code, pointer: word, data: &data },
            _ => Icmpv6Repr::Other { msg_type: 133 + (code % 5), code, rest: word.to_be_bytes(), data: &data },
        };
        let datagram = build_icmpv6(src, dst, 255, &repr).unwrap();
        let packet = parse_ip(&datagram).unwrap();
        prop_assert_eq!(Icmpv6Repr::parse(packet.payload, src, dst, true).unwrap(), repr);
    }
}
