//! Malformed input gives the right typed error, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack_wire::ipv6::walk_extension_headers;
use synack_wire::{
    build_icmpv4, build_icmpv6, build_tcp, parse_ip, Error, Icmpv4Repr, Icmpv6Repr, Ipv4Packet,
    SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps,
};

const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const V4_DST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const V6_SRC: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const V6_DST: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";

/// An established-state data segment with timestamps and two SACK blocks.
fn segment() -> TcpRepr<'static> {
    let mut sack = SackBlocks::new();
    sack.push(SackBlock {
        left: 1000,
        right: 2000,
    });
    sack.push(SackBlock {
        left: 3000,
        right: 4000,
    });
    TcpRepr {
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 77,
                tsecr: 66,
            }),
            sack,
            ..TcpOptions::default()
        },
        payload: PAYLOAD,
        ..TcpRepr::new(
            40000,
            80,
            0x1122_3344,
            0x5566_7788,
            TcpFlags::ACK | TcpFlags::PSH,
            502,
        )
    }
}

/// The TCP segment bytes of `segment()` between `src` and `dst`.
fn segment_bytes(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let repr = segment();
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf, src, dst), buf.len());
    buf
}

/// A raw TCP header with the given option bytes (padded with EOL to whole words) and checksum.
fn raw_segment(options: &[u8], src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let mut buf = vec![0u8; 20 + opt_len];
    buf[20..20 + options.len()].copy_from_slice(options);
    let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
    packet.set_src_port(1);
    packet.set_dst_port(2);
    packet.set_header_len(20 + opt_len);
    packet.set_flags(TcpFlags::SYN);
    packet.fill_checksum(src, dst).unwrap();
    buf
}

#[test]
fn ipv4_truncated_at_every_length() {
    let datagram = build_tcp(V4_SRC, V4_DST, 64, &segment()).unwrap();
    assert!(parse_ip(&datagram).is_ok());
    for len in 0..datagram.len() {
        let want = if len < 20 {
            Error::Truncated
        } else {
            Error::BadTotalLength
        };
        assert_eq!(parse_ip(&datagram[..len]), Err(want), "len {len}");
    }
}

#[test]
fn ipv6_truncated_at_every_length() {
    let datagram = build_tcp(V6_SRC, V6_DST, 64, &segment()).unwrap();
    assert!(parse_ip(&datagram).is_ok());
    for len in 0..datagram.len() {
        let want = if len < 40 {
            Error::Truncated
        } else {
            Error::BadTotalLength
        };
        assert_eq!(parse_ip(&datagram[..len]), Err(want), "len {len}");
    }
}

#[test]
fn tcp_truncated_at_every_length() {
    for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
        let bytes = segment_bytes(src, dst);
        let header_len = segment().header_len();
        assert_eq!(header_len, 20 + 12 + 20);
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            let unchecked = TcpRepr::parse(cut, src, dst, false);
            if len < 20 {
                assert_eq!(unchecked, Err(Error::Truncated), "len {len}");
            } else if len < header_len {
                assert_eq!(unchecked, Err(Error::BadDataOffset), "len {len}");
            } else {
                // A shorter payload is still a well-formed segment, but its checksum fails.
                assert_eq!(unchecked.unwrap().payload, &PAYLOAD[..len - header_len]);
                assert_eq!(
                    TcpRepr::parse(cut, src, dst, true),
                    Err(Error::BadChecksum),
                    "len {len}"
                );
            }
        }
        assert_eq!(TcpRepr::parse(&bytes, src, dst, true).unwrap(), segment());
    }
}

#[test]
fn tcp_every_data_offset() {
    // A 20-byte header followed by 40 NOPs: every offset from 5 to 15 reads only NOPs.
    let mut bytes = raw_segment(&[1; 40], V4_SRC, V4_DST);
    assert_eq!(bytes.len(), 60);
    for offset in 0u8..16 {
        bytes[12] = offset << 4;
        TcpPacket::new_unchecked(&mut bytes[..])
            .fill_checksum(V4_SRC, V4_DST)
            .unwrap();
        let full = TcpRepr::parse(&bytes, V4_SRC, V4_DST, true);
        // Cut to 40 bytes: offsets above 10 words run past the buffer.
        let short = TcpRepr::parse(&bytes[..40], V4_SRC, V4_DST, false);
        if offset < 5 {
            assert_eq!(full, Err(Error::BadDataOffset), "offset {offset}");
            assert_eq!(short, Err(Error::BadDataOffset), "offset {offset}");
        } else {
            let repr = full.unwrap();
            assert_eq!(repr.options, TcpOptions::default());
            assert_eq!(repr.payload.len(), 60 - usize::from(offset) * 4);
            if offset > 10 {
                assert_eq!(short, Err(Error::BadDataOffset), "offset {offset}");
            } else {
                assert!(short.is_ok(), "offset {offset}");
            }
        }
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).is_ok(),
            offset >= 5,
            "offset {offset}"
        );
    }
}

#[test]
fn tcp_bad_options() {
    let cases: &[&[u8]] = &[
        &[2, 0, 0, 0],                          // length 0
        &[2, 1, 0, 0],                          // length 1
        &[30, 0, 0, 0],                         // unknown kind, length 0
        &[30, 1, 0, 0],                         // unknown kind, length 1
        &[1, 1, 1, 2],                          // kind in the last byte, no length byte
        &[2, 8, 0, 0],                          // MSS running past the header
        &[30, 200, 0, 0],                       // unknown kind running past the header
        &[2, 3, 5, 0],                          // MSS of length 3
        &[2, 5, 5, 0, 0, 0],                    // MSS of length 5
        &[3, 2, 0, 0],                          // window scale of length 2
        &[3, 4, 7, 0],                          // window scale of length 4
        &[4, 3, 0, 0],                          // SACK-permitted of length 3
        &[5, 2, 0, 0],                          // SACK with no block
        &[5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // SACK with a partial block
        &[8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // timestamps of length 9
        &[8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamps of length 11
    ];
    for &options in cases {
        for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
            let bytes = raw_segment(options, src, dst);
            assert_eq!(
                TcpRepr::parse(&bytes, src, dst, true),
                Err(Error::BadOption),
                "{options:?}"
            );
        }
    }
    // Five SACK blocks (42 bytes) cannot fit in a header; build the option list by hand.
    let mut five = vec![5u8, 42];
    five.extend_from_slice(&[0; 40]);
    assert_eq!(TcpOptions::parse(&five), Err(Error::BadOption));
}

#[test]
fn tcp_unknown_and_eol_options() {
    // Unknown kind 254 (experimental) of length 4, NOP, window scale, EOL, then junk.
    let bytes = raw_segment(
        &[254, 4, 0xab, 0xcd, 1, 3, 3, 9, 0, 2, 0, 0],
        V4_SRC,
        V4_DST,
    );
    let repr = TcpRepr::parse(&bytes, V4_SRC, V4_DST, true).unwrap();
    assert_eq!(repr.options.window_scale, Some(9));
    assert_eq!(repr.options.mss, None);
}

#[test]
fn tcp_bad_checksum_and_family() {
    for (src, dst) in [(V4_SRC, V4_DST), (V6_SRC, V6_DST)] {
        let mut bytes = segment_bytes(src, dst);
        // Any single-bit flip breaks the checksum.
        for i in 0..bytes.len() {
            bytes[i] ^= 0x10;
            assert_eq!(
                TcpRepr::parse(&bytes, src, dst, true),
                Err(Error::BadChecksum),
                "byte {i}"
            );
            bytes[i] ^= 0x10;
        }
        // The pseudo-header covers the addresses.
        assert_eq!(
            TcpRepr::parse(&bytes, dst, src, true).map(|r| r.seq),
            Ok(segment().seq),
            "swapping the addresses keeps the sum"
        );
        let other = match src {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        assert_eq!(
            TcpRepr::parse(&bytes, other, dst, true),
            Err(Error::BadChecksum)
        );
        assert!(TcpRepr::parse(&bytes, other, dst, false).is_ok());
    }
    let bytes = segment_bytes(V4_SRC, V4_DST);
    assert_eq!(
        TcpRepr::parse(&bytes, V4_SRC, V6_DST, true),
        Err(Error::AddressFamilyMismatch)
    );
    assert_eq!(
        TcpRepr::parse(&bytes, V6_SRC, V4_DST, false),
        Err(Error::AddressFamilyMismatch)
    );
    let mut buf = [0u8; 100];
    assert_eq!(segment().emit(&mut buf, V4_SRC, V6_DST), 0);
    assert_eq!(segment().emit(&mut buf[..10], V4_SRC, V4_DST), 0);
    assert_eq!(buf, [0u8; 100], "a failed emit writes nothing");
    assert_eq!(
        build_tcp(V6_SRC, V4_DST, 64, &segment()),
        Err(Error::AddressFamilyMismatch)
    );
}

/// An IPv4 datagram carrying `segment()`, with `edit` applied to its header and the header
/// checksum recomputed.
fn edited_v4(edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut datagram = build_tcp(V4_SRC, V4_DST, 64, &segment()).unwrap();
    edit(&mut datagram);
    Ipv4Packet::new_unchecked(&mut datagram[..]).fill_checksum();
    datagram
}

#[test]
fn ipv4_header_errors() {
    for ihl in 0u8..5 {
        let d = edited_v4(|b| b[0] = 0x40 | ihl);
        assert_eq!(parse_ip(&d), Err(Error::BadHeaderLength), "ihl {ihl}");
    }
    // IHL 15 in a 40-byte buffer: the header itself is cut.
    let d = edited_v4(|b| b[0] = 0x4f);
    assert_eq!(parse_ip(&d[..40]), Err(Error::Truncated));
    let len = segment().buffer_len() + 20;
    let d = edited_v4(|b| b[2..4].copy_from_slice(&(len as u16 + 1).to_be_bytes()));
    assert_eq!(parse_ip(&d), Err(Error::BadTotalLength));
    let d = edited_v4(|b| b[2..4].copy_from_slice(&19u16.to_be_bytes()));
    assert_eq!(parse_ip(&d), Err(Error::BadTotalLength));
    let d = edited_v4(|b| b[2..4].copy_from_slice(&0xffffu16.to_be_bytes()));
    assert_eq!(parse_ip(&d), Err(Error::BadTotalLength));
    // A shorter total length is fine: the rest is padding, and the TCP checksum then fails.
    let d = edited_v4(|b| b[2..4].copy_from_slice(&(len as u16 - 1).to_be_bytes()));
    let packet = parse_ip(&d).unwrap();
    assert_eq!(packet.payload.len(), len - 21);
    assert_eq!(
        TcpRepr::parse(packet.payload, V4_SRC, V4_DST, true),
        Err(Error::BadChecksum)
    );
    // Header checksum.
    let mut d = edited_v4(|_| {});
    d[8] -= 1; // TTL changed without fixing the checksum
    assert_eq!(parse_ip(&d), Err(Error::BadChecksum));
    // Fragments: MF, offset, both; DF alone is fine.
    for flags in [0x2000u16, 0x0001, 0x2001, 0x1fff, 0x6000, 0x4001] {
        let d = edited_v4(|b| b[6..8].copy_from_slice(&flags.to_be_bytes()));
        assert_eq!(parse_ip(&d), Err(Error::Fragmented), "flags {flags:#06x}");
    }
    let d = edited_v4(|b| b[6..8].copy_from_slice(&0x4000u16.to_be_bytes()));
    assert!(parse_ip(&d).is_ok());
    // Unknown versions.
    for v in [0u8, 1, 2, 3, 5, 7, 8, 15] {
        let d = edited_v4(|b| b[0] = (v << 4) | 5);
        assert_eq!(parse_ip(&d), Err(Error::UnknownVersion(v)));
    }
}

#[test]
fn ipv4_options_are_skipped() {
    // Rebuild the datagram with 8 bytes of IPv4 options (NOP NOP NOP EOL, then zeros).
    let plain = build_tcp(V4_SRC, V4_DST, 64, &segment()).unwrap();
    let mut d = plain[..20].to_vec();
    d.extend_from_slice(&[1, 1, 1, 0, 0, 0, 0, 0]);
    d.extend_from_slice(&plain[20..]);
    d[0] = 0x47;
    let total = d.len() as u16;
    d[2..4].copy_from_slice(&total.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
    let packet = parse_ip(&d).unwrap();
    assert_eq!(packet.payload, &plain[20..]);
    assert_eq!(
        TcpRepr::parse(packet.payload, V4_SRC, V4_DST, true).unwrap(),
        segment()
    );
}

/// An IPv6 packet whose chain is `first` then `ext` (raw extension-header bytes) then the TCP
/// segment of `segment()`.
fn v6_with_extensions(first: u8, ext: &[u8]) -> Vec<u8> {
    let plain = build_tcp(V6_SRC, V6_DST, 64, &segment()).unwrap();
    let mut d = plain[..40].to_vec();
    d[6] = first;
    let payload_len = (plain.len() - 40 + ext.len()) as u16;
    d[4..6].copy_from_slice(&payload_len.to_be_bytes());
    d.extend_from_slice(ext);
    d.extend_from_slice(&plain[40..]);
    d
}

#[test]
fn ipv6_extension_headers() {
    let tcp = segment_bytes(V6_SRC, V6_DST);
    // Hop-by-Hop (PadN) -> Destination Options -> TCP.
    let d = v6_with_extensions(
        0,
        &[
            60, 0, 1, 4, 0, 0, 0, 0, 6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    let packet = parse_ip(&d).unwrap();
    assert_eq!(packet.protocol, 6);
    assert_eq!(packet.payload, &tcp[..]);
    assert_eq!(
        TcpRepr::parse(packet.payload, V6_SRC, V6_DST, true).unwrap(),
        segment()
    );
    // Routing header with Segments Left 0 is walked.
    let d = v6_with_extensions(43, &[6, 0, 4, 0, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&d).unwrap().payload, &tcp[..]);
    // ... but not one with segments left.
    let d = v6_with_extensions(43, &[6, 0, 4, 2, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&d), Err(Error::UnsupportedExtensionHeader(43)));
    // Fragment header.
    let d = v6_with_extensions(44, &[6, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(parse_ip(&d), Err(Error::Fragmented));
    let d = v6_with_extensions(0, &[44, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(parse_ip(&d), Err(Error::Fragmented));
    // AH, ESP, Mobility, HIP, Shim6, experimental.
    for next in [51u8, 50, 135, 139, 140, 253, 254] {
        let d = v6_with_extensions(next, &[6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            parse_ip(&d),
            Err(Error::UnsupportedExtensionHeader(next)),
            "{next}"
        );
        let d = v6_with_extensions(60, &[next, 0, 1, 4, 0, 0, 0, 0]);
        assert_eq!(
            parse_ip(&d),
            Err(Error::UnsupportedExtensionHeader(next)),
            "{next} after destination options"
        );
    }
    // Hop-by-Hop anywhere but first.
    let d = v6_with_extensions(60, &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&d), Err(Error::BadExtensionHeader));
    // An extension header longer than the payload.
    let d = v6_with_extensions(60, &[6, 200, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&d), Err(Error::Truncated));
    // No Next Header: protocol 59, empty payload, whatever follows.
    let d = v6_with_extensions(59, &[]);
    let packet = parse_ip(&d).unwrap();
    assert_eq!((packet.protocol, packet.payload), (59, &[][..]));
    let d = v6_with_extensions(60, &[59, 0, 1, 4, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&d).unwrap().protocol, 59);
    // Chains cut at every length fail cleanly.
    let chain = [
        60u8, 0, 1, 4, 0, 0, 0, 0, 6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    for len in 0..chain.len() {
        assert_eq!(
            walk_extension_headers(0, &chain[..len]),
            Err(Error::Truncated),
            "len {len}"
        );
    }
}

#[test]
fn icmp_errors() {
    let echo = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"0123456789",
    };
    let d = build_icmpv4(
        Ipv4Addr::new(1, 1, 1, 1),
        Ipv4Addr::new(2, 2, 2, 2),
        64,
        &echo,
    )
    .unwrap();
    let icmp = &d[20..];
    for len in 0..8 {
        assert_eq!(Icmpv4Repr::parse(&icmp[..len], true), Err(Error::Truncated));
    }
    for len in 8..icmp.len() {
        assert_eq!(
            Icmpv4Repr::parse(&icmp[..len], true),
            Err(Error::BadChecksum),
            "len {len}"
        );
    }
    let mut bad = icmp.to_vec();
    bad[8] ^= 1;
    assert_eq!(Icmpv4Repr::parse(&bad, true), Err(Error::BadChecksum));

    let (s, t) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    let echo6 = Icmpv6Repr::EchoReply {
        ident: 1,
        seq_no: 2,
        data: b"0123456789",
    };
    let d = build_icmpv6(s, t, 64, &echo6).unwrap();
    let icmp = &d[40..];
    for len in 0..8 {
        assert_eq!(
            Icmpv6Repr::parse(&icmp[..len], s, t, true),
            Err(Error::Truncated)
        );
    }
    assert_eq!(Icmpv6Repr::parse(icmp, t, s, true).ok(), Some(echo6));
    assert_eq!(Icmpv6Repr::parse(icmp, s, s, true), Err(Error::BadChecksum));
}
