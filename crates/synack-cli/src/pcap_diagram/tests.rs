use super::*;
use synack_sim::pcap::{PcapWriter, LINKTYPE_ETHERNET, LINKTYPE_RAW};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        acc += u32::from(word);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// An IPv4 datagram carrying one TCP segment, with correct checksums.
fn tcp_v4(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    ack: u32,
    len: usize,
) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&src.1.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.1.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&1000u16.to_be_bytes());
    tcp.extend_from_slice(&vec![0x61; len]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.0);
    pseudo.extend_from_slice(&dst.0);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    let c = fold(sum16(&tcp, sum16(&pseudo, 0)));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.0);
    ip[16..20].copy_from_slice(&dst.0);
    let c = fold(sum16(&ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&tcp);
    ip
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

struct Cap {
    w: PcapWriter<Vec<u8>>,
    t: u64,
}

impl Cap {
    fn raw() -> Self {
        Cap {
            w: PcapWriter::new(Vec::new(), LINKTYPE_RAW).unwrap(),
            t: 1_700_000_000_000_000,
        }
    }
    fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.t += 1000;
        self.w.write_packet(self.t, bytes).unwrap();
        self
    }
    fn seg(
        &mut self,
        from_a: bool,
        ports: (u16, u16),
        flags: u8,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> &mut Self {
        let (a, b) = ((A, ports.0), (B, ports.1));
        let pkt = if from_a {
            tcp_v4(a, b, flags, seq, ack, len)
        } else {
            tcp_v4(b, a, flags, seq, ack, len)
        };
        self.push(&pkt)
    }
    fn bytes(&self) -> Vec<u8> {
        self.w.get_ref().clone()
    }
}

fn states(d: &Diagram, side: Side) -> Vec<String> {
    d.rows
        .iter()
        .filter_map(|r| match r {
            Row::State { side: s, state, .. } if *s == side => Some(state.clone()),
            _ => None,
        })
        .collect()
}

fn notes(d: &Diagram) -> Vec<String> {
    d.segments().filter_map(|s| s.note.clone()).collect()
}

/// Client 100 -> server 900, port 5000 -> 80: handshake, 10 bytes, simultaneous close.
fn simultaneous_close(cap: &mut Cap, ports: (u16, u16)) {
    cap.seg(true, ports, SYN, 100, 0, 0)
        .seg(false, ports, SYN | ACK, 900, 101, 0)
        .seg(true, ports, ACK, 101, 901, 0)
        .seg(true, ports, ACK, 101, 901, 10)
        .seg(true, ports, FIN | ACK, 111, 901, 0)
        .seg(false, ports, FIN | ACK, 901, 111, 0)
        .seg(true, ports, ACK, 112, 902, 0)
        .seg(false, ports, ACK, 902, 112, 0);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut cap = Cap::raw();
    simultaneous_close(&mut cap, (5000, 80));
    let d = diagram_from_reader(&cap.bytes()[..], "sim.pcap", 0).unwrap();
    assert_eq!(d.left, "client 10.0.0.1:5000");
    assert_eq!(d.right, "server 10.0.0.2:80");
    assert_eq!(
        states(&d, Side::Left),
        [
            "CLOSED",
            "SYN-SENT",
            "ESTABLISHED",
            "FIN-WAIT-1",
            "CLOSING",
            "TIME-WAIT"
        ]
    );
    assert_eq!(
        states(&d, Side::Right),
        [
            "LISTEN",
            "SYN-RECEIVED",
            "ESTABLISHED",
            "FIN-WAIT-1",
            "CLOSING",
            "TIME-WAIT"
        ]
    );
    // Times start at 0, relative to the first packet.
    assert_eq!(d.segments().next().unwrap().time_us, 0);
    assert_eq!(d.segments().nth(1).unwrap().time_us, 1000);
    let text = crate::diagram::render_text(&d, &Default::default());
    assert!(text.contains("FIN+ACK seq=11 ack=1 win=1000"), "{text}");
}

#[test]
fn streams_are_numbered_by_first_appearance() {
    let mut cap = Cap::raw();
    // A UDP datagram and a non-IP frame first: ignored.
    let mut udp = tcp_v4((A, 1), (B, 2), 0, 0, 0, 0);
    udp[9] = 17;
    cap.push(&udp).push(&[0x00, 0x01]);
    cap.seg(true, (5000, 80), SYN, 100, 0, 0);
    cap.seg(true, (5001, 80), SYN, 7, 0, 0);
    cap.seg(false, (5001, 80), RST | ACK, 0, 8, 0);
    cap.seg(false, (5000, 80), SYN | ACK, 900, 101, 0);
    let bytes = cap.bytes();

    let first = diagram_from_reader(&bytes[..], "two.pcap", 0).unwrap();
    assert_eq!(first.segments().count(), 2);
    assert!(first.title.contains("TCP stream 0 of 2"), "{}", first.title);

    let second = diagram_from_reader(&bytes[..], "two.pcap", 1).unwrap();
    assert_eq!(second.left, "client 10.0.0.1:5001");
    assert_eq!(
        states(&second, Side::Left),
        ["CLOSED", "SYN-SENT", "CLOSED"]
    );
    assert_eq!(states(&second, Side::Right), ["CLOSED"]);
    assert_eq!(notes(&second), ["connection refused"]);
    let text = crate::diagram::render_text(&second, &Default::default());
    assert!(text.contains("RST+ACK seq=0 ack=1 win=1000"), "{text}");

    let err = diagram_from_reader(&bytes[..], "two.pcap", 2).unwrap_err();
    assert_eq!(
        err,
        "there is no stream 2: 'two.pcap' holds 2 TCP connections (streams 0 to 1)"
    );
}

#[test]
fn the_syn_sender_is_on_the_left_even_when_the_server_speaks_first() {
    let mut cap = Cap::raw();
    let ports = (5000, 80);
    // A stray segment from the server, then the handshake.
    cap.seg(false, ports, ACK, 42, 42, 0)
        .seg(true, ports, SYN, 100, 0, 0)
        .seg(false, ports, SYN | ACK, 900, 101, 0);
    let d = diagram_from_reader(&cap.bytes()[..], "x", 0).unwrap();
    assert_eq!(d.left, "client 10.0.0.1:5000");
    assert_eq!(d.segments().next().unwrap().from, Side::Right);

    // Capture started after the handshake: the first sender is on the left, states assumed
    // ESTABLISHED, no roles.
    let mut cap = Cap::raw();
    cap.seg(false, ports, ACK, 900, 100, 5)
        .seg(true, ports, ACK, 100, 905, 0);
    let d = diagram_from_reader(&cap.bytes()[..], "x", 0).unwrap();
    assert_eq!(d.left, "10.0.0.2:80");
    assert_eq!(states(&d, Side::Left), ["ESTABLISHED"]);
    assert_eq!(states(&d, Side::Right), ["ESTABLISHED"]);
}

#[test]
fn retransmissions_and_duplicate_acks_are_marked() {
    let mut cap = Cap::raw();
    let p = (5000, 80);
    cap.seg(true, p, SYN, 100, 0, 0)
        .seg(true, p, SYN, 100, 0, 0)
        .seg(false, p, SYN | ACK, 900, 101, 0)
        .seg(true, p, ACK, 101, 901, 0)
        .seg(true, p, ACK, 101, 901, 100)
        .seg(true, p, ACK, 201, 901, 100)
        .seg(false, p, ACK, 901, 101, 0)
        .seg(false, p, ACK, 901, 101, 0)
        .seg(true, p, ACK, 101, 901, 100);
    let d = diagram_from_reader(&cap.bytes()[..], "x", 0).unwrap();
    assert_eq!(notes(&d), ["retransmission", "dup ACK", "retransmission"]);
    // The retransmitted SYN does not change the state again.
    assert_eq!(
        states(&d, Side::Left),
        ["CLOSED", "SYN-SENT", "ESTABLISHED"]
    );
}

#[test]
fn ethernet_and_cut_off_captures() {
    let mut w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET).unwrap();
    let syn = ethernet(&tcp_v4((A, 5000), (B, 80), SYN, 1, 0, 0));
    w.write_packet(10, &syn).unwrap();
    w.write_packet(20, &syn).unwrap();
    let mut bytes = w.into_inner();
    bytes.truncate(bytes.len() - 5);
    let d = diagram_from_reader(&bytes[..], "cut.pcap", 0).unwrap();
    assert_eq!(d.segments().count(), 1);
    assert!(d
        .rows
        .iter()
        .any(|r| matches!(r, Row::Note { text, .. } if text.contains("cut-off"))));
}

#[test]
fn bad_input_gives_one_line_errors() {
    let err =
        diagram_from_reader(&b"hello, world, this is not a capture"[..], "x.txt", 0).unwrap_err();
    assert_eq!(
        err,
        "cannot read capture 'x.txt': not a pcap file (bad magic 0x68656c6c)"
    );
    let err = diagram_from_reader(&b""[..], "empty.pcap", 0).unwrap_err();
    assert!(
        err.starts_with("cannot read capture 'empty.pcap': "),
        "{err}"
    );
    let only_header = Cap::raw().bytes();
    let err = diagram_from_reader(&only_header[..], "h.pcap", 0).unwrap_err();
    assert_eq!(err, "no TCP segments in 'h.pcap'");
    let err = diagram_from_pcap("/nonexistent/x.pcap").unwrap_err();
    assert_eq!(
        err,
        "cannot open capture '/nonexistent/x.pcap': No such file or directory"
    );
    // A record header that promises more than the file holds, first thing: an error.
    let mut cut = Cap::raw();
    cut.seg(true, (1, 2), SYN, 1, 0, 0);
    let mut bytes = cut.bytes();
    bytes.truncate(30);
    let err = diagram_from_reader(&bytes[..], "c.pcap", 0).unwrap_err();
    assert!(err.contains("truncated record"), "{err}");
}

#[test]
fn snaplen_cut_packets_keep_their_length() {
    let mut w = PcapWriter::new(Vec::new(), LINKTYPE_RAW).unwrap();
    let data = tcp_v4((A, 5000), (B, 80), ACK, 1, 1, 1000);
    w.write_packet(0, &data).unwrap();
    let mut bytes = w.into_inner();
    // Rewrite the record as a 96-byte snap of the 1040-byte datagram.
    bytes[32..36].copy_from_slice(&96u32.to_le_bytes());
    bytes.truncate(24 + 16 + 96);
    let d = diagram_from_reader(&bytes[..], "snap.pcap", 0).unwrap();
    assert_eq!(d.segments().next().unwrap().len, 1000);
}

#[test]
fn garbage_packets_never_panic() {
    let mut x: u32 = 12345;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..300 {
        let mut cap = Cap::raw();
        simultaneous_close(&mut cap, (5000, 80));
        let mut bytes = cap.bytes();
        for _ in 0..(next() % 6 + 1) {
            let i = 24 + (next() as usize) % (bytes.len() - 24);
            bytes[i] = next() as u8;
        }
        if let Ok(d) = diagram_from_reader(&bytes[..], "g", (next() % 3) as usize) {
            let _ = crate::diagram::render_text(&d, &Default::default());
            let _ = crate::diagram::render_svg(&d, &Default::default());
        }
    }
}
