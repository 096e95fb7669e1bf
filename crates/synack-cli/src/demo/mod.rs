//! `synack demo`: every scenario of the seed notes, run in the simulator and drawn as a sequence
//! diagram, followed by a few sentences answering the note's question.
//!
//! A scenario builds a [`Sim`] with a client (left, 10.0.0.1) and a server (right, 10.0.0.2),
//! plays the applications' part, and returns a [`Run`]: the diagram built from the simulator's
//! trace, the explanation, and every packet with its send time (for `--pcap`).

mod scenarios;

use std::io::Write;

use synack_proto::{FourTuple, Instant, State};
use synack_sim::pcap::{PcapWriter, LINKTYPE_RAW};
use synack_sim::{Fate, HostId, Sim, TraceKind};

use crate::diagram::{Diagram, Row, SegmentRow, Side};

pub use scenarios::SCENARIOS;

/// One demo scenario.
pub struct Scenario {
    /// The name given on the command line (`close`, `half-close`, ...).
    pub name: &'static str,
    /// One line: what it shows.
    pub summary: &'static str,
    /// The ids of `SEED-CLAIMS.md` it illustrates.
    pub claims: &'static [&'static str],
    /// Plays it.
    pub run: fn() -> Run,
}

/// What a scenario produced.
pub struct Run {
    /// The sequence diagram.
    pub diagram: Diagram,
    /// The answer to the note's question, a few sentences.
    pub explanation: String,
    /// Every packet put on the wire (lost ones included), with its send time in microseconds.
    pub packets: Vec<(u64, Vec<u8>)>,
}

/// Looks a scenario up by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

impl Run {
    /// Writes the packets as a pcap file with raw IP link type (LINKTYPE_RAW), as Wireshark and
    /// tshark read it.
    pub fn write_pcap(&self, out: impl Write) -> std::io::Result<()> {
        let mut w = PcapWriter::new(out, LINKTYPE_RAW)?;
        for (t, bytes) in &self.packets {
            w.write_packet(*t, bytes)?;
        }
        Ok(())
    }
}

/// Which parts of a simulation go into the diagram.
pub(crate) struct View {
    pub client: HostId,
    pub server: HostId,
    /// Only this connection (client's view of the tuple), or every connection between the hosts.
    pub only: Option<FourTuple>,
    pub title: String,
}

fn side_of(view: &View, host: HostId) -> Option<Side> {
    if host == view.client {
        Some(Side::Left)
    } else if host == view.server {
        Some(Side::Right)
    } else {
        None
    }
}

fn tuple_matches(view: &View, host: HostId, tuple: &FourTuple) -> bool {
    match view.only {
        None => true,
        Some(t) => {
            if host == view.client {
                *tuple == t
            } else {
                *tuple == t.reversed()
            }
        }
    }
}

/// Builds the diagram of `sim`'s trace as seen between `view.client` and `view.server`.
///
/// The renderer draws a state beside the arrow that caused it when the state row sits next to
/// that segment: a state reached on a segment's arrival goes right after the segment, a state
/// reached when a side sends goes right before the segment it sends.
pub(crate) fn diagram_of(sim: &Sim, view: &View, server_listens: bool) -> Diagram {
    let mut d = Diagram::new(view.title.clone(), "client", "server");
    d.rows.push(Row::State {
        time_us: 0,
        side: Side::Left,
        state: State::Closed.name().to_string(),
    });
    d.rows.push(Row::State {
        time_us: 0,
        side: Side::Right,
        state: if server_listens {
            State::Listen
        } else {
            State::Closed
        }
        .name()
        .to_string(),
    });
    // States waiting for the next segment their side sends at the same instant.
    let mut pending: Vec<(u64, Side, String)> = Vec::new();
    let flush_pending =
        |rows: &mut Vec<Row>, pending: &mut Vec<(u64, Side, String)>, keep: Option<(u64, Side)>| {
            let mut kept = Vec::new();
            for (t, side, state) in pending.drain(..) {
                if keep == Some((t, side)) {
                    kept.push((t, side, state));
                } else {
                    rows.push(Row::State {
                        time_us: t,
                        side,
                        state,
                    });
                }
            }
            kept
        };
    for ev in sim.trace().events() {
        let t = ev.time.as_micros();
        match &ev.kind {
            TraceKind::Packet {
                from,
                info,
                fate,
                injected,
                ..
            } => {
                let Some(side) = side_of(view, *from) else {
                    continue;
                };
                if !info.is_tcp {
                    continue;
                }
                let (src, dst) = (info.src, info.dst);
                if let Some(t) = view.only {
                    let (c, s) = (t.local, t.remote);
                    let ok = (src == c && dst == s) || (src == s && dst == c);
                    if !ok {
                        continue;
                    }
                }
                // States this side reached just now, as it sent this segment, go before it.
                let mine = flush_pending(&mut d.rows, &mut pending, Some((t, side)));
                for (time_us, side, state) in mine {
                    d.rows.push(Row::State {
                        time_us,
                        side,
                        state,
                    });
                }
                let mut row = SegmentRow::new(t, side, info.flags, info.seq, info.ack);
                row.window = info.window;
                row.len = info.payload_len as u32;
                row.options = info.options;
                row.lost = matches!(fate, Fate::Lost(_));
                row.arrival_us = fate.arrival().map(Instant::as_micros);
                if *injected {
                    row.note = Some("old duplicate".to_string());
                }
                d.rows.push(Row::Segment(row));
            }
            TraceKind::StateChange {
                host, tuple, to, ..
            } => {
                let Some(side) = side_of(view, *host) else {
                    continue;
                };
                if !tuple_matches(view, *host, tuple) {
                    continue;
                }
                let state = to.name().to_string();
                // Reached on the arrival of a segment from the other side at this instant?
                // (Not if this side's application acted since: then the application caused it.)
                let at = d
                    .rows
                    .iter()
                    .rposition(|r| match r {
                        Row::Segment(s) => s.from != side && s.arrival_us == Some(t),
                        _ => false,
                    })
                    .filter(|&i| {
                        !d.rows[i..]
                            .iter()
                            .any(|r| matches!(r, Row::Note { side: Some(s), .. } if *s == side))
                    });
                match at {
                    Some(i) => {
                        let mut j = i + 1;
                        while matches!(d.rows.get(j), Some(Row::State { .. })) {
                            j += 1;
                        }
                        d.rows.insert(
                            j,
                            Row::State {
                                time_us: t,
                                side,
                                state,
                            },
                        );
                    }
                    None => pending.push((t, side, state)),
                }
            }
            TraceKind::AppEvent { host, text } => {
                if let Some(side) = side_of(view, *host) {
                    let kept = flush_pending(&mut d.rows, &mut pending, None);
                    debug_assert!(kept.is_empty());
                    d.rows.push(Row::Note {
                        time_us: t,
                        side: Some(side),
                        text: text.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    flush_pending(&mut d.rows, &mut pending, None);
    d
}

/// Every packet of the trace with its send time, for the pcap file.
pub(crate) fn packets_of(sim: &Sim) -> Vec<(u64, Vec<u8>)> {
    sim.trace()
        .events()
        .iter()
        .filter_map(|ev| match &ev.kind {
            TraceKind::Packet { info, .. } => Some((ev.time.as_micros(), info.bytes.clone())),
            _ => None,
        })
        .collect()
}

/// A caption (a note between the lifelines) to put into a diagram built by [`diagram_of`]: it
/// goes after the first `after_segments` segment rows, before the segment that follows them.
pub(crate) struct Caption {
    /// How many segments of the diagram come before the caption.
    pub after_segments: usize,
    /// When, in microseconds.
    pub time_us: u64,
    /// The text; a caption is wrapped at spaces, so each line a scenario wants kept whole is
    /// a caption of its own.
    pub text: String,
}

/// Puts `captions` (in order) into `d`. A caption due before a segment also goes before the
/// state its side reached as it sent that segment, so that the state stays beside its arrow.
pub(crate) fn add_captions(d: &mut Diagram, captions: Vec<Caption>) {
    let mut captions = captions.into_iter().peekable();
    let mut rows = Vec::with_capacity(d.rows.len() + captions.len());
    let mut seen = 0;
    for row in std::mem::take(&mut d.rows) {
        if let Row::Segment(seg) = &row {
            let tail_state = match rows.last() {
                Some(Row::State { side, time_us, .. })
                    if *side == seg.from && *time_us == seg.time_us =>
                {
                    rows.pop()
                }
                _ => None,
            };
            while let Some(c) = captions.next_if(|c| c.after_segments <= seen) {
                rows.push(Row::Note {
                    time_us: c.time_us,
                    side: None,
                    text: c.text,
                });
            }
            rows.extend(tail_state);
            seen += 1;
        }
        rows.push(row);
    }
    rows.extend(captions.map(|c| Row::Note {
        time_us: c.time_us,
        side: None,
        text: c.text,
    }));
    d.rows = rows;
}
