//! Golden test: Linux's own segments, captured with tcpdump (`shared/captures/*.pcap`), parse with
//! valid checksums, and re-emitting what was parsed reproduces every byte.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use synack_wire::checksum;
use synack_wire::ip::IPPROTO_TCP;
use synack_wire::tcp::options::kind;
use synack_wire::{parse_ip, Error, TcpFlags, TcpPacket, TcpRepr};

/// Link type of Ethernet in a pcap header.
const LINKTYPE_ETHERNET: u32 = 1;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERNET_HEADER_LEN: usize = 14;

/// Packets (file, 1-based number) whose TCP checksum field holds only the pseudo-header sum, as
/// tcpdump sees a segment on the sending host before checksum offload completes it
/// (`CHECKSUM_PARTIAL`).  The SYN of the refused capture was caught that way; its checksum is
/// checked to be exactly that artifact, everything else about it byte for byte.
const KNOWN_PARTIAL_CHECKSUMS: &[(&str, usize)] = &[("linux-refused-ipv4.pcap", 1)];

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/captures/")
}

/// Reads the frames of a classic pcap file (either byte order, micro- or nanosecond stamps).
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(data.len() >= 24, "{}: no global header", path.display());
    let magic = [data[0], data[1], data[2], data[3]];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap file", path.display()),
    };
    let u32_at = |at: usize| {
        let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), LINKTYPE_ETHERNET, "{}", path.display());
    let mut frames = Vec::new();
    let mut at = 24;
    while at < data.len() {
        assert!(
            at + 16 <= data.len(),
            "{}: cut record header",
            path.display()
        );
        let incl_len = u32_at(at + 8) as usize;
        let orig_len = u32_at(at + 12) as usize;
        assert_eq!(incl_len, orig_len, "{}: snapped frame", path.display());
        let start = at + 16;
        let end = start + incl_len;
        assert!(end <= data.len(), "{}: cut record", path.display());
        frames.push(data[start..end].to_vec());
        at = end;
    }
    frames
}

/// The IP datagram inside an Ethernet frame.
fn ip_of(frame: &[u8]) -> &[u8] {
    assert!(frame.len() > ETHERNET_HEADER_LEN);
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    assert!(
        ethertype == ETHERTYPE_IPV4 || ethertype == ETHERTYPE_IPV6,
        "ethertype {ethertype:#06x}"
    );
    &frame[ETHERNET_HEADER_LEN..]
}

/// The option kinds of a TCP header in order, NOPs left out.
fn option_kinds(segment: &[u8]) -> Vec<u8> {
    let options = TcpPacket::new_checked(segment).unwrap().options().to_vec();
    let mut kinds = Vec::new();
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            kind::EOL => break,
            kind::NOP => i += 1,
            k => {
                kinds.push(k);
                i += usize::from(options[i + 1]);
            }
        }
    }
    kinds
}

struct Summary {
    segments: Vec<(IpAddr, TcpFlags, usize)>,
}

/// Checks every packet of one capture and returns what it saw.
fn check_capture(path: &Path) -> Summary {
    let frames = read_pcap(path);
    assert!(!frames.is_empty(), "{}: empty", path.display());
    let mut segments = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        let what = format!("{} packet {}", path.display(), n + 1);
        let datagram = ip_of(frame);
        let packet = parse_ip(datagram).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(packet.protocol, IPPROTO_TCP, "{what}");
        let (src, dst) = (packet.ip.src(), packet.ip.dst());
        let name = path.file_name().unwrap().to_string_lossy();
        let partial = KNOWN_PARTIAL_CHECKSUMS.contains(&(name.as_ref(), n + 1));
        let tcp = if partial {
            // A known capture artifact: the checksum field holds only the pseudo-header sum.
            assert_eq!(
                TcpRepr::parse(packet.payload, src, dst, true),
                Err(Error::BadChecksum),
                "{what}"
            );
            let pseudo = checksum::pseudo_header(src, dst, IPPROTO_TCP, packet.payload.len())
                .unwrap()
                .sum();
            let field = TcpPacket::new_checked(packet.payload).unwrap().checksum();
            assert_eq!(field, pseudo, "{what}: not a CHECKSUM_PARTIAL artifact");
            TcpRepr::parse(packet.payload, src, dst, false).unwrap()
        } else {
            TcpRepr::parse(packet.payload, src, dst, true).unwrap_or_else(|e| panic!("{what}: {e}"))
        };

        // Re-emitting the TCP repr gives Linux's bytes exactly: header, options, checksum
        // (for an artifact, everything but the checksum, which is then the complete one).
        let mut again = vec![0u8; tcp.buffer_len()];
        assert_eq!(tcp.emit(&mut again, src, dst), again.len(), "{what}");
        if partial {
            assert!(TcpPacket::new_checked(&again[..])
                .unwrap()
                .verify_checksum(src, dst));
            let mut fixed = packet.payload.to_vec();
            fixed[16..18].copy_from_slice(&again[16..18]);
            assert_eq!(&again[..], &fixed[..], "{what}: TCP bytes differ");
        } else {
            assert_eq!(&again[..], packet.payload, "{what}: TCP bytes differ");
        }

        // So does the IP header, and the whole datagram (without Ethernet padding).
        let ip_len = packet.ip.buffer_len();
        let mut whole = vec![0u8; ip_len];
        let header_len = packet.ip.emit(&mut whole);
        assert_eq!(header_len, packet.ip.header_len(), "{what}");
        whole[header_len..].copy_from_slice(packet.payload);
        assert_eq!(&whole[..], &datagram[..ip_len], "{what}: IP bytes differ");

        if tcp.flags.syn() {
            // Linux's SYN and SYN-ACK layout: mss, sackOK, TS, nop, wscale.
            assert_eq!(
                option_kinds(packet.payload),
                [
                    kind::MSS,
                    kind::SACK_PERMITTED,
                    kind::TIMESTAMPS,
                    kind::WINDOW_SCALE
                ],
                "{what}"
            );
            let o = tcp.options;
            assert!(o.mss.is_some() && o.window_scale.is_some(), "{what}");
            assert!(o.sack_permitted && o.timestamps.is_some(), "{what}");
            assert_eq!(tcp.header_len(), 40, "{what}");
        } else if !tcp.flags.rst() {
            // Established segments carry nop, nop, TS.
            assert_eq!(option_kinds(packet.payload), [kind::TIMESTAMPS], "{what}");
            assert_eq!(tcp.header_len(), 32, "{what}");
        }
        segments.push((src, tcp.flags, tcp.payload.len()));
    }
    Summary { segments }
}

/// Payload bytes sent by the host that sent the first segment, and by the other.
fn bytes_each_way(summary: &Summary) -> (usize, usize) {
    let client = summary.segments[0].0;
    let mut out = (0, 0);
    for &(src, _, len) in &summary.segments {
        if src == client {
            out.0 += len;
        } else {
            out.1 += len;
        }
    }
    out
}

#[test]
fn linux_captures() {
    let dir = captures_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipping golden pcap test: {} does not exist",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    for path in &files {
        let summary = check_capture(path);
        let name = path.file_name().unwrap().to_string_lossy();
        match name.as_ref() {
            "linux-http-ipv4.pcap" | "linux-http-ipv6.pcap" => {
                // The README: the client sends 3,018 bytes, the server 5,019.
                assert_eq!(bytes_each_way(&summary), (3018, 5019), "{name}");
                let fins = summary.segments.iter().filter(|s| s.1.fin()).count();
                assert_eq!(fins, 2, "{name}: four-way close");
            }
            "linux-refused-ipv4.pcap" => {
                assert_eq!(summary.segments.len(), 2);
                assert_eq!(summary.segments[1].1, TcpFlags::RST | TcpFlags::ACK);
            }
            _ => {}
        }
    }
}

#[test]
fn refused_rst_fields() {
    let path = captures_dir().join("linux-refused-ipv4.pcap");
    if !path.is_file() {
        eprintln!("skipping: {} does not exist", path.display());
        return;
    }
    let frames = read_pcap(&path);
    let syn_packet = parse_ip(ip_of(&frames[0])).unwrap();
    // The SYN's checksum is a capture artifact (see KNOWN_PARTIAL_CHECKSUMS).
    let syn = TcpRepr::parse(
        syn_packet.payload,
        syn_packet.ip.src(),
        syn_packet.ip.dst(),
        false,
    )
    .unwrap();
    let rst_packet = parse_ip(ip_of(&frames[1])).unwrap();
    let rst = TcpRepr::parse(
        rst_packet.payload,
        rst_packet.ip.src(),
        rst_packet.ip.dst(),
        true,
    )
    .unwrap();
    // RST+ACK, seq 0, ack ISN+1, window 0, no options (RFC 9293 §3.10.7.1, as Linux sends it).
    assert_eq!(rst.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(rst.seq, 0);
    assert_eq!(rst.ack, syn.seq.wrapping_add(1));
    assert_eq!(rst.window, 0);
    assert_eq!(rst.header_len(), 20);
    assert_eq!((rst.src_port, rst.dst_port), (syn.dst_port, syn.src_port));
    // Rebuilding it from scratch with the builder gives the same TCP bytes.
    let rebuilt = TcpRepr::new(rst.src_port, rst.dst_port, 0, rst.ack, rst.flags, 0);
    let datagram =
        synack_wire::build_tcp(rst_packet.ip.src(), rst_packet.ip.dst(), 64, &rebuilt).unwrap();
    assert_eq!(&datagram[20..], rst_packet.payload);
}
