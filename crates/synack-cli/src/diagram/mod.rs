//! Two-column sequence diagrams of a TCP exchange, drawn the way TCP study notes draw the
//! three-way handshake and the four-way close: the client's lifeline on the left, the server's on
//! the right, one arrow per segment labelled with its flags and sequence numbers, and each side's
//! state written beside its line whenever it changes.
//!
//! [`Diagram`] is the model, independent of how it is drawn; it is built by `synack diagram` from a
//! capture ([`crate::pcap_diagram`]) or by a simulation from its trace. Two renderers draw it:
//! [`render_text`] for a terminal and [`render_svg`] for a standalone SVG picture.
//!
//! # How rows are read
//!
//! Rows are drawn top to bottom in the order they are given (which should be time order).
//! - The first [`Row::State`] of each side that comes before any segment or note is that side's
//!   initial state, drawn under its name (like `CLOSED` and `LISTEN` at the top of the notes'
//!   drawings).
//! - A state change caused by *receiving* a segment is given just after that segment's row, with
//!   the time the segment arrived (its `arrival_us`, or its `time_us` when the arrival is not
//!   known); it is drawn beside the arrow's head: `│── FIN ──►│ CLOSE-WAIT`.
//! - A state change caused by *sending* a segment is given just before that segment's row; it is
//!   drawn beside the arrow's tail: `SYN-SENT │── SYN seq=0 ──►│`.
//! - Any other state row, and every note, is drawn on a line (or, in SVG, at a height) of its own.
//!
//! Each end of an arrow holds one state; a second one gets a line of its own.

mod svg;
mod text;

pub use svg::render_svg;
pub use synack_wire::{TcpFlags, TcpOptions};
pub use text::render_text;

use synack_wire::TcpRepr;
use unicode_width::UnicodeWidthStr;

/// One of the two lifelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The left lifeline (the client, the side that opens).
    Left,
    /// The right lifeline (the server).
    Right,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// A sequence diagram: two named lifelines and the rows drawn between them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagram {
    /// A caption drawn above the diagram (may be empty).
    pub title: String,
    /// Name of the left side, e.g. `client 10.0.0.1:48980`.
    pub left: String,
    /// Name of the right side.
    pub right: String,
    /// What happens, top to bottom (see the [module documentation](self) for how rows are read).
    pub rows: Vec<Row>,
    /// The left side's initial sequence number, for relative numbering; `None` derives it from
    /// the rows (see [`Diagram::isn`]).
    pub left_isn: Option<u32>,
    /// The right side's initial sequence number; `None` derives it from the rows.
    pub right_isn: Option<u32>,
}

/// One row of a [`Diagram`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A segment: an arrow from one lifeline to the other.
    Segment(SegmentRow),
    /// A side's connection state changed, e.g. to `SYN-SENT`; drawn in that side's column.
    State {
        /// When, in microseconds from the start of the diagram.
        time_us: u64,
        /// Whose state.
        side: Side,
        /// The new state, as the RFC spells it (`SYN-SENT`, `TIME-WAIT`).
        state: String,
    },
    /// A remark: in a side's column (`app: close()`), or centred between the lifelines when `side`
    /// is `None` (a caption such as `half-close: the server still sends`).
    Note {
        /// When, in microseconds from the start of the diagram.
        time_us: u64,
        /// Whose column, or `None` for a caption between the lifelines.
        side: Option<Side>,
        /// The text.
        text: String,
    },
}

impl Row {
    /// The time of the row (the send time for a segment).
    pub fn time_us(&self) -> u64 {
        match self {
            Row::Segment(s) => s.time_us,
            Row::State { time_us, .. } | Row::Note { time_us, .. } => *time_us,
        }
    }
}

/// A segment drawn as an arrow from `from` to the other side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRow {
    /// When it was sent (or captured), in microseconds from the start of the diagram.
    pub time_us: u64,
    /// The sender.
    pub from: Side,
    /// Control bits.
    pub flags: TcpFlags,
    /// Sequence number, absolute (as on the wire).
    pub seq: u32,
    /// Acknowledgment number, absolute; shown only when the ACK flag is set.
    pub ack: u32,
    /// Window field as on the wire (unscaled).
    pub window: u16,
    /// Payload length in bytes.
    pub len: u32,
    /// Options carried.
    pub options: TcpOptions,
    /// The segment never arrived: its arrow ends half-way in an `X`.
    pub lost: bool,
    /// When it arrived, if known (a simulation knows, a capture does not); the SVG arrow slopes
    /// down to this time.
    pub arrival_us: Option<u64>,
    /// A short remark drawn with the label, e.g. `retransmission`.
    pub note: Option<String>,
}

impl SegmentRow {
    /// A segment with the given header fields; window 0, no payload, no options, not lost, arrival
    /// unknown, no note.
    pub fn new(time_us: u64, from: Side, flags: TcpFlags, seq: u32, ack: u32) -> Self {
        Self {
            time_us,
            from,
            flags,
            seq,
            ack,
            window: 0,
            len: 0,
            options: TcpOptions::default(),
            lost: false,
            arrival_us: None,
            note: None,
        }
    }

    /// The row for a parsed segment sent by `from` at `time_us`.
    pub fn from_repr(time_us: u64, from: Side, tcp: &TcpRepr<'_>) -> Self {
        Self {
            window: tcp.window,
            len: u32::try_from(tcp.payload.len()).unwrap_or(u32::MAX),
            options: tcp.options,
            ..Self::new(time_us, from, tcp.flags, tcp.seq, tcp.ack)
        }
    }

    /// The sequence space the segment occupies: payload, plus one for SYN and one for FIN.
    pub fn seq_len(&self) -> u32 {
        self.len
            .wrapping_add(u32::from(self.flags.syn()))
            .wrapping_add(u32::from(self.flags.fin()))
    }

    /// What kind of segment this is, for colouring: RST before SYN before FIN before data.
    pub fn kind(&self) -> SegmentKind {
        if self.flags.rst() {
            SegmentKind::Rst
        } else if self.flags.syn() {
            SegmentKind::Syn
        } else if self.flags.fin() {
            SegmentKind::Fin
        } else if self.len > 0 {
            SegmentKind::Data
        } else {
            SegmentKind::Ack
        }
    }
}

/// The kind of a segment, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// Carries SYN (green).
    Syn,
    /// Carries FIN (yellow).
    Fin,
    /// Carries RST (red, and drawn with a double or heavy line).
    Rst,
    /// Carries payload (cyan).
    Data,
    /// A bare acknowledgment (default colour).
    Ack,
}

/// How to draw a diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Show sequence and acknowledgment numbers as on the wire instead of relative to each side's
    /// initial sequence number.
    pub absolute: bool,
    /// Use colour (ANSI escapes in text; coloured strokes in SVG).
    pub color: bool,
    /// The width to fit the text diagram in, in terminal columns (the SVG sizes itself).
    pub width: usize,
}

impl Default for RenderOptions {
    /// Relative numbers, no colour, 100 columns.
    fn default() -> Self {
        Self {
            absolute: false,
            color: false,
            width: 100,
        }
    }
}

impl Diagram {
    /// An empty diagram with the given caption and side names.
    pub fn new(
        title: impl Into<String>,
        left: impl Into<String>,
        right: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            left: left.into(),
            right: right.into(),
            rows: Vec::new(),
            left_isn: None,
            right_isn: None,
        }
    }

    /// The name of a side.
    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The initial sequence number of `side` used for relative numbering: `left_isn`/`right_isn`
    /// when set, else the sequence number of the first SYN that side sends in the diagram, else the
    /// first sequence number it sends, else `None` (it sends nothing).
    pub fn isn(&self, side: Side) -> Option<u32> {
        let explicit = match side {
            Side::Left => self.left_isn,
            Side::Right => self.right_isn,
        };
        explicit.or_else(|| {
            let mut sent = self.segments().filter(|s| s.from == side).peekable();
            let first = sent.peek().map(|s| s.seq);
            sent.find(|s| s.flags.syn()).map(|s| s.seq).or(first)
        })
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &SegmentRow> + '_ {
        self.rows.iter().filter_map(|r| match r {
            Row::Segment(s) => Some(s),
            _ => None,
        })
    }

    /// The initial state of `side`: the first state row of that side before any segment or note.
    pub fn initial_state(&self, side: Side) -> Option<&str> {
        self.initial_state_index(side)
            .and_then(|i| match &self.rows[i] {
                Row::State { state, .. } => Some(state.as_str()),
                _ => None,
            })
    }

    /// The index of the row holding the initial state of `side`.
    fn initial_state_index(&self, side: Side) -> Option<usize> {
        for (i, row) in self.rows.iter().enumerate() {
            match row {
                Row::State { side: s, .. } if *s == side => return Some(i),
                Row::State { .. } => {}
                _ => return None,
            }
        }
        None
    }

    /// The label of a segment's arrow, e.g. `SYN+ACK seq=0 ack=1 win=65160 <mss 1460,sackOK,TS,wscale 7>`.
    ///
    /// Sequence numbers are relative to the sender's ISN and acknowledgment numbers (and SACK
    /// blocks) to the receiver's ISN, as Wireshark shows them, unless `opts.absolute` is set.
    /// `ack=` appears only with the ACK flag; `len=` appears when there is payload and on bare
    /// ACKs; timestamps are mentioned (`TS`) on SYNs only. The segment's note is not included.
    pub fn label(&self, seg: &SegmentRow, opts: &RenderOptions) -> String {
        self.label_with(seg, opts, [self.isn(Side::Left), self.isn(Side::Right)])
    }

    /// [`Diagram::label`] with the two ISNs (`[left, right]`) already looked up, so that labelling
    /// every segment stays linear in the number of rows.
    fn label_with(&self, seg: &SegmentRow, opts: &RenderOptions, isns: [Option<u32>; 2]) -> String {
        let isn = |side: Side| isns[side as usize].unwrap_or(0);
        let (seq_base, ack_base) = if opts.absolute {
            (0, 0)
        } else {
            (isn(seg.from), isn(seg.from.other()))
        };
        let mut s = format!("{} seq={}", seg.flags, seg.seq.wrapping_sub(seq_base));
        if seg.flags.ack() {
            s.push_str(&format!(" ack={}", seg.ack.wrapping_sub(ack_base)));
        }
        s.push_str(&format!(" win={}", seg.window));
        let bare = !seg
            .flags
            .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST);
        if seg.len > 0 || bare {
            s.push_str(&format!(" len={}", seg.len));
        }
        let o = &seg.options;
        let mut parts: Vec<String> = Vec::new();
        if let Some(mss) = o.mss {
            parts.push(format!("mss {mss}"));
        }
        if o.sack_permitted {
            parts.push("sackOK".into());
        }
        if o.timestamps.is_some() && seg.flags.syn() {
            parts.push("TS".into());
        }
        if let Some(ws) = o.window_scale {
            parts.push(format!("wscale {ws}"));
        }
        if !o.sack.is_empty() {
            let blocks: Vec<String> = o
                .sack
                .as_slice()
                .iter()
                .map(|b| {
                    format!(
                        "{}-{}",
                        b.left.wrapping_sub(ack_base),
                        b.right.wrapping_sub(ack_base)
                    )
                })
                .collect();
            parts.push(format!("sack {}", blocks.join(" ")));
        }
        if !parts.is_empty() {
            s.push_str(&format!(" <{}>", parts.join(",")));
        }
        s
    }
}

/// Where a row is drawn, as decided by [`anchors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    /// On a line or in a slot of its own.
    Own,
    /// A side's initial state, under its name.
    Initial,
    /// A state beside the tail of the arrow of the segment at this row index (caused by sending).
    Tail(usize),
    /// A state beside the head of the arrow of the segment at this row index (caused by receiving).
    Head(usize),
}

/// Decides, for every row, whether it is drawn on its own or beside an arrow (see the module
/// documentation): a state row right after a segment joins that segment's arrow when its time is
/// the time the segment reached (or left) that side; otherwise a state row right before a segment
/// sent by the same side joins the tail of that segment's arrow. Each end of an arrow holds one
/// state.
fn anchors(d: &Diagram) -> Vec<Anchor> {
    let mut out = vec![Anchor::Own; d.rows.len()];
    for side in [Side::Left, Side::Right] {
        if let Some(i) = d.initial_state_index(side) {
            out[i] = Anchor::Initial;
        }
    }
    // The segment whose arrow was drawn last, while only states attached to it followed it, and
    // which of its ends already hold a state ([left, right]).
    let mut last: Option<(usize, [bool; 2])> = None;
    for (i, row) in d.rows.iter().enumerate() {
        if out[i] == Anchor::Initial {
            continue;
        }
        match row {
            Row::Segment(_) => {
                // A state may already sit at this arrow's tail.
                let mut used = [false; 2];
                if let Some(prev) = i.checked_sub(1) {
                    if let (Anchor::Tail(j), Some(Row::State { side, .. })) =
                        (out[prev], d.rows.get(prev))
                    {
                        used[*side as usize] = j == i;
                    }
                }
                last = Some((i, used));
            }
            Row::State { time_us, side, .. } => {
                let slot = *side as usize;
                if let Some((j, mut used)) = last {
                    if let Some(Row::Segment(seg)) = d.rows.get(j) {
                        let receiver = seg.from != *side;
                        let at = if receiver {
                            seg.arrival_us.unwrap_or(seg.time_us)
                        } else {
                            seg.time_us
                        };
                        if !used[slot] && at == *time_us && !(receiver && seg.lost) {
                            used[slot] = true;
                            out[i] = if receiver {
                                Anchor::Head(j)
                            } else {
                                Anchor::Tail(j)
                            };
                            last = Some((j, used));
                            continue;
                        }
                    }
                }
                last = None;
                if matches!(d.rows.get(i + 1), Some(Row::Segment(s)) if s.from == *side) {
                    out[i] = Anchor::Tail(i + 1);
                }
            }
            Row::Note { .. } => last = None,
        }
    }
    out
}

/// The label of every segment row (`None` for other rows), for the renderers.
fn all_labels(d: &Diagram, opts: &RenderOptions) -> Vec<Option<String>> {
    let isns = [d.isn(Side::Left), d.isn(Side::Right)];
    d.rows
        .iter()
        .map(|r| match r {
            Row::Segment(s) => Some(d.label_with(s, opts, isns)),
            _ => None,
        })
        .collect()
}

/// Formats a time as seconds with `decimals` (3 or 6) digits: `0.010s`, `1.000250s`.
fn format_time(time_us: u64, decimals: usize) -> String {
    let secs = time_us / 1_000_000;
    let frac = time_us % 1_000_000;
    if decimals >= 6 {
        format!("{secs}.{frac:06}s")
    } else {
        format!("{secs}.{:03}s", frac / 1000)
    }
}

/// Six decimals when rows less than a millisecond apart would otherwise look simultaneous (a
/// capture on a fast link), else three.
fn time_decimals(d: &Diagram) -> usize {
    let mut prev: Option<u64> = None;
    for t in d.rows.iter().map(Row::time_us) {
        if let Some(p) = prev {
            let gap = t.abs_diff(p);
            if gap > 0 && gap < 1000 {
                return 6;
            }
        }
        prev = Some(t);
    }
    if d.rows.iter().any(|r| r.time_us() % 1000 != 0) {
        6
    } else {
        3
    }
}

/// Replaces control characters (which could move the cursor or recolour a terminal) with `�`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Display width in terminal columns.
fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Splits `text` into lines at most `max` columns wide, breaking at spaces where possible.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        loop {
            let sep = usize::from(!cur.is_empty());
            if width(&cur) + sep + width(&word) <= max {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.push_str(&word);
                break;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            // A word longer than a whole line: cut it.
            let mut head = String::new();
            let mut rest = String::new();
            for c in word.chars() {
                if rest.is_empty() && width(&head) + width(c.encode_utf8(&mut [0; 4])) <= max {
                    head.push(c);
                } else {
                    rest.push(c);
                }
            }
            if head.is_empty() {
                // A single character wider than `max`: take it anyway.
                let mut chars = rest.chars();
                head.extend(chars.next());
                rest = chars.collect();
            }
            lines.push(head);
            if rest.is_empty() {
                break;
            }
            word = rest;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests;
