//! A [`Diagram`] from a capture file: `synack diagram capture.pcap`.
//!
//! One TCP connection of the capture is drawn (the first, or the `stream`-th 4-tuple in order of
//! first appearance, counting from 0). The left side is the one that sent the first SYN. Times are
//! relative to the connection's first packet. The states are *inferred*: the capture shows
//! segments, not states, so each side's state is derived from what it sends and receives the way
//! an observer on the wire would (SYN sent: SYN-SENT; SYN+ACK sent: SYN-RECEIVED; the first FIN
//! sent: FIN-WAIT-1 or LAST-ACK; ...), assuming every captured segment arrives.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use synack_sim::pcap::{ip_payload, PcapError, PcapReader};
use synack_wire::{parse_ip, parse_ip_quoted, TcpFlags, TcpRepr};

use crate::diagram::{Diagram, Row, SegmentRow, Side};
use crate::io_error_text;

/// SYN, FIN and RST: a segment with none of them is a bare ACK or data.
const CONTROL: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::FIN.0 | TcpFlags::RST.0);

/// IANA protocol number of TCP.
const IPPROTO_TCP: u8 = 6;

/// The first TCP connection in the capture at `path`, as a diagram.
pub fn diagram_from_pcap(path: impl AsRef<Path>) -> Result<Diagram, String> {
    diagram_from_pcap_stream(path, 0)
}

/// The `stream`-th TCP connection (0-based, in order of first appearance) in the capture at `path`.
///
/// Errors are one-line messages for a user, e.g. `cannot open capture 'x.pcap': No such file or
/// directory`.
pub fn diagram_from_pcap_stream(path: impl AsRef<Path>, stream: usize) -> Result<Diagram, String> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| {
        format!(
            "cannot open capture '{}': {}",
            path.display(),
            io_error_text(&e)
        )
    })?;
    let name = path.display().to_string();
    diagram_from_reader(BufReader::new(file), &name, stream)
}

/// Like [`diagram_from_pcap_stream`], reading the capture from `input`; `name` names it in the
/// title and in error messages.
pub fn diagram_from_reader(input: impl Read, name: &str, stream: usize) -> Result<Diagram, String> {
    let capture = read_capture(input, name, stream)?;
    let count = capture.streams.len();
    if count == 0 {
        return Err(format!("no TCP segments in '{name}'"));
    }
    let Some(&(a, b)) = capture.streams.get(stream) else {
        return Err(format!(
            "there is no stream {stream}: '{name}' holds {count} TCP connection{} (streams 0 to {})",
            if count == 1 { "" } else { "s" },
            count - 1
        ));
    };
    let segs: Vec<&Seen> = capture.segments.iter().collect();
    Ok(build(name, stream, count, (a, b), &segs, capture.damaged))
}

/// One TCP segment of the capture.
struct Seen {
    time_us: u64,
    src: SocketAddr,
    row: SegmentRow,
}

struct Capture {
    /// The 4-tuples, in order of first appearance, each as (first sender, its peer).
    streams: Vec<(SocketAddr, SocketAddr)>,
    /// The segments of the wanted stream.
    segments: Vec<Seen>,
    /// The file ends in a damaged or cut-off record.
    damaged: bool,
}

/// Reads the capture, numbering every TCP connection and keeping the segments of `wanted`.
fn read_capture(input: impl Read, name: &str, wanted: usize) -> Result<Capture, String> {
    let mut reader = PcapReader::new(input)
        .map_err(|e| format!("cannot read capture '{name}': {}", pcap_error_text(&e)))?;
    let linktype = reader.linktype();
    let mut capture = Capture {
        streams: Vec::new(),
        segments: Vec::new(),
        damaged: false,
    };
    let mut records = 0u64;
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            // A capture cut off in the middle of a record (tcpdump killed): keep what came before.
            Err(PcapError::TruncatedRecord { .. } | PcapError::RecordTooLarge { .. })
                if records > 0 =>
            {
                capture.damaged = true;
                break;
            }
            Err(e) => {
                return Err(format!(
                    "cannot read capture '{name}': {}",
                    pcap_error_text(&e)
                ))
            }
        };
        records += 1;
        let Some(ip) = ip_payload(linktype, &record.data) else {
            continue;
        };
        // A capture may cut packets short (snap length) or hold IPv4 header checksums the NIC
        // had yet to fill in: read those leniently rather than drop them.
        let Ok(packet) = parse_ip(ip).or_else(|_| parse_ip_quoted(ip)) else {
            continue;
        };
        if packet.protocol != IPPROTO_TCP {
            continue;
        }
        let (src_ip, dst_ip): (IpAddr, IpAddr) = (packet.ip.src(), packet.ip.dst());
        // Captures often hold checksums the NIC had yet to fill in: do not verify them.
        let Ok(tcp) = TcpRepr::parse(packet.payload, src_ip, dst_ip, false) else {
            continue;
        };
        // Bytes the capture cut off were payload.
        let missing = record
            .orig_len
            .saturating_sub(u32::try_from(record.data.len()).unwrap_or(u32::MAX));
        let src = SocketAddr::new(src_ip, tcp.src_port);
        let dst = SocketAddr::new(dst_ip, tcp.dst_port);
        // Both directions of a connection share one key.
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        let next = capture.streams.len();
        let stream = *index.entry(key).or_insert(next);
        if stream == next {
            capture.streams.push((src, dst));
        }
        if stream != wanted {
            continue;
        }
        capture.segments.push(Seen {
            time_us: record.time_micros,
            src,
            // `from` is decided once the sides are known.
            row: SegmentRow {
                len: SegmentRow::from_repr(0, Side::Left, &tcp)
                    .len
                    .saturating_add(missing),
                ..SegmentRow::from_repr(0, Side::Left, &tcp)
            },
        });
    }
    Ok(capture)
}

fn pcap_error_text(e: &PcapError) -> String {
    match e {
        PcapError::Io(io) => io_error_text(io),
        other => other.to_string(),
    }
}

/// A connection state, as an observer infers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Nothing seen from or about this side yet.
    Unknown,
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl St {
    fn name(self) -> &'static str {
        match self {
            St::Unknown => "?",
            St::Closed => "CLOSED",
            St::Listen => "LISTEN",
            St::SynSent => "SYN-SENT",
            St::SynReceived => "SYN-RECEIVED",
            St::Established => "ESTABLISHED",
            St::FinWait1 => "FIN-WAIT-1",
            St::FinWait2 => "FIN-WAIT-2",
            St::CloseWait => "CLOSE-WAIT",
            St::Closing => "CLOSING",
            St::LastAck => "LAST-ACK",
            St::TimeWait => "TIME-WAIT",
        }
    }
}

/// What the observer knows about one side.
struct Observed {
    st: St,
    /// Sequence number of its SYN.
    syn_seq: Option<u32>,
    /// Sequence number of its FIN.
    fin_seq: Option<u32>,
    /// One past the highest sequence number it has sent.
    snd_max: Option<u32>,
    /// Its last bare ACK (ack, window), for spotting duplicates.
    last_ack: Option<(u32, u16)>,
    /// Whether the half-close caption was drawn for it.
    told_half_close: bool,
    /// The row saying it entered CLOSE-WAIT, in case its own FIN shows that it had not yet
    /// received the peer's FIN (a simultaneous close) and the row must go.
    close_wait_row: Option<usize>,
}

impl Observed {
    fn new(st: St) -> Self {
        Self {
            st,
            syn_seq: None,
            fin_seq: None,
            snd_max: None,
            last_ack: None,
            told_half_close: false,
            close_wait_row: None,
        }
    }
}

/// `a >= b` in sequence space (RFC 9293 §3.4).
fn seq_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

fn idx(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

fn build(
    name: &str,
    stream: usize,
    count: usize,
    (a, b): (SocketAddr, SocketAddr),
    segs: &[&Seen],
    damaged: bool,
) -> Diagram {
    // The client: whoever sent the first bare SYN; else whoever received the first SYN+ACK; else
    // the first sender.
    let syn_from = segs
        .iter()
        .find(|s| s.row.flags.syn() && !s.row.flags.ack())
        .map(|s| s.src);
    let synack_to = segs
        .iter()
        .find(|s| s.row.flags.syn() && s.row.flags.ack())
        .map(|s| if s.src == a { b } else { a });
    let roles_known = syn_from.or(synack_to).is_some();
    let left_addr = syn_from.or(synack_to).unwrap_or(a);
    let right_addr = if left_addr == a { b } else { a };
    let (left_role, right_role) = if roles_known {
        ("client", "server")
    } else {
        ("", "")
    };
    let side_of = |src: SocketAddr| {
        if src == left_addr {
            Side::Left
        } else {
            Side::Right
        }
    };
    let role = |side: Side| match side {
        Side::Left if roles_known => "the client".to_string(),
        Side::Right if roles_known => "the server".to_string(),
        Side::Left => left_addr.to_string(),
        Side::Right => right_addr.to_string(),
    };

    let of_stream = if count > 1 {
        format!("TCP stream {stream} of {count}")
    } else {
        format!("TCP stream {stream}")
    };
    let mut d = Diagram::new(
        format!(
            "{name}: {of_stream}, {} segment{}",
            segs.len(),
            if segs.len() == 1 { "" } else { "s" }
        ),
        format!("{left_role} {left_addr}").trim().to_string(),
        format!("{right_role} {right_addr}").trim().to_string(),
    );
    let t0 = segs.first().map_or(0, |s| s.time_us);

    // Initial states, from each side's first segment.
    let mut obs = [Observed::new(St::Unknown), Observed::new(St::Unknown)];
    for side in [Side::Left, Side::Right] {
        let first = segs.iter().find(|s| side_of(s.src) == side);
        let st = match first.map(|s| s.row.flags) {
            None => continue,
            Some(f) if f.rst() => St::Closed,
            Some(f) if f.syn() && f.ack() => St::Listen,
            Some(f) if f.syn() => St::Closed,
            Some(_) => St::Established,
        };
        obs[idx(side)].st = st;
        d.rows.push(Row::State {
            time_us: 0,
            side,
            state: st.name().into(),
        });
    }

    // Rows found to be wrong later (see `simultaneous` below).
    let mut dropped: Vec<usize> = Vec::new();
    for seen in segs {
        let time_us = seen.time_us.saturating_sub(t0);
        let x = side_of(seen.src);
        let y = x.other();
        let mut seg = seen.row.clone();
        seg.time_us = time_us;
        seg.from = x;
        let f = seg.flags;
        let end = seg.seq.wrapping_add(seg.seq_len());

        // Remarks.
        let sx = &obs[idx(x)];
        if seg.seq_len() > 0 && !f.rst() && sx.snd_max.is_some_and(|m| seq_ge(m, end)) {
            seg.note = Some("retransmission".into());
        } else if f.ack()
            && !f.intersects(CONTROL)
            && seg.len == 0
            && sx.last_ack == Some((seg.ack, seg.window))
            && obs[idx(y)].snd_max.is_some_and(|m| !seq_ge(seg.ack, m))
        {
            seg.note = Some("dup ACK".into());
        }
        if f.rst() && obs[idx(y)].st == St::SynSent {
            seg.note = Some("connection refused".into());
        }
        if seg.len > 0 && obs[idx(x)].st == St::CloseWait && !obs[idx(x)].told_half_close {
            obs[idx(x)].told_half_close = true;
            d.rows.push(Row::Note {
                time_us,
                side: None,
                text: format!(
                    "half-close: {} still sends after {}'s FIN",
                    role(x),
                    role(y)
                ),
            });
        }

        // The sender's state, changed by sending.
        let first_fin = f.fin() && obs[idx(x)].fin_seq.is_none();
        // A FIN sent in (what looked like) CLOSE-WAIT that does not acknowledge the peer's FIN was
        // sent before that FIN arrived: a simultaneous close. Both FINs cross; this side was still
        // ESTABLISHED and goes FIN-WAIT-1, then CLOSING as the peer's FIN reaches it.
        let simultaneous = first_fin
            && obs[idx(x)].st == St::CloseWait
            && obs[idx(y)]
                .fin_seq
                .is_some_and(|yf| !(f.ack() && seq_ge(seg.ack, yf.wrapping_add(1))));
        if simultaneous {
            if let Some(row) = obs[idx(x)].close_wait_row.take() {
                dropped.push(row);
            }
            obs[idx(x)].st = St::Established;
        }
        let before = obs[idx(x)].st;
        let sender = &mut obs[idx(x)];
        if f.rst() {
            if sender.st != St::Listen {
                sender.st = St::Closed;
            }
        } else {
            if f.syn() {
                sender.syn_seq.get_or_insert(seg.seq);
                sender.st = match (f.ack(), sender.st) {
                    (false, St::Closed | St::Unknown) => St::SynSent,
                    (true, St::Closed | St::Listen | St::SynSent | St::Unknown) => St::SynReceived,
                    (_, st) => st,
                };
            }
            if first_fin {
                sender.fin_seq = Some(end.wrapping_sub(1));
                sender.st = match sender.st {
                    St::Established | St::SynReceived => St::FinWait1,
                    St::CloseWait => St::LastAck,
                    st => st,
                };
            }
        }
        match sender.snd_max {
            Some(m) if !seq_ge(end, m) => {}
            _ => sender.snd_max = Some(end),
        }
        if f.ack() && seg.len == 0 && !f.intersects(CONTROL) {
            sender.last_ack = Some((seg.ack, seg.window));
        }
        let sender_now = sender.st;

        // The receiver's state, changed by receiving (assuming the segment arrives).
        let receiver = &mut obs[idx(y)];
        let recv_before = receiver.st;
        if f.rst() {
            if !matches!(receiver.st, St::Listen | St::Closed | St::Unknown) {
                receiver.st = St::Closed;
            }
        } else {
            if f.syn() {
                receiver.st = match (f.ack(), receiver.st) {
                    (false, St::SynSent) => St::SynReceived,
                    (true, St::SynSent | St::SynReceived) => St::Established,
                    (_, st) => st,
                };
            }
            if f.ack() {
                if receiver.st == St::SynReceived
                    && receiver
                        .syn_seq
                        .is_some_and(|isn| seq_ge(seg.ack, isn.wrapping_add(1)))
                {
                    receiver.st = St::Established;
                }
                if let Some(fin) = receiver.fin_seq {
                    if seq_ge(seg.ack, fin.wrapping_add(1)) {
                        receiver.st = match receiver.st {
                            St::FinWait1 => St::FinWait2,
                            St::Closing => St::TimeWait,
                            St::LastAck => St::Closed,
                            st => st,
                        };
                    }
                }
            }
            if first_fin {
                receiver.st = match receiver.st {
                    St::Established | St::SynReceived => St::CloseWait,
                    St::FinWait1 => St::Closing,
                    St::FinWait2 => St::TimeWait,
                    st => st,
                };
            }
        }
        let receiver_now = receiver.st;

        if sender_now != before {
            d.rows.push(Row::State {
                time_us,
                side: x,
                state: sender_now.name().into(),
            });
        }
        d.rows.push(Row::Segment(seg));
        if receiver_now != recv_before {
            if receiver_now == St::CloseWait {
                obs[idx(y)].close_wait_row = Some(d.rows.len());
            }
            d.rows.push(Row::State {
                time_us,
                side: y,
                state: receiver_now.name().into(),
            });
        }
        if simultaneous && obs[idx(x)].st == St::FinWait1 {
            obs[idx(x)].st = St::Closing;
            d.rows.push(Row::State {
                time_us,
                side: x,
                state: St::Closing.name().into(),
            });
        }
    }

    if !dropped.is_empty() {
        let mut i = 0;
        d.rows.retain(|_| {
            i += 1;
            !dropped.contains(&(i - 1))
        });
    }
    let end_us = segs.last().map_or(0, |s| s.time_us.saturating_sub(t0));
    for side in [Side::Left, Side::Right] {
        if obs[idx(side)].st == St::TimeWait {
            d.rows.push(Row::Note {
                time_us: end_us,
                side: Some(side),
                text: "(2MSL, then CLOSED)".into(),
            });
        }
    }
    if damaged {
        d.rows.push(Row::Note {
            time_us: end_us,
            side: None,
            text: "the capture ends in a cut-off record".into(),
        });
    }
    d.rows.push(Row::Note {
        time_us: end_us,
        side: None,
        text:
            "states are inferred from the captured segments, as an observer on the wire sees them"
                .into(),
    });
    d
}

#[cfg(test)]
mod tests;
