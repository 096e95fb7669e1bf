//! The terminal renderer. A four-way close, as `synack diagram` draws it from a capture:
//!
//! ```text
//!                   client 10.0.0.1:56972                                      server 10.0.0.2:80
//!                          CLOSED                                                    LISTEN
//!                             │                                                         │
//! 0.000s             SYN-SENT │── SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7> ───►│
//!                             │              <mss 1460,sackOK,TS,wscale 7>              │
//! 0.050s          ESTABLISHED │◄───────────── SYN+ACK seq=0 ack=1 win=65160 ────────────│ SYN-RECEIVED
//! 0.100s                      │──────────── ACK seq=1 ack=1 win=1024 len=0 ────────────►│ ESTABLISHED
//! 0.210s           FIN-WAIT-1 │───────────── FIN+ACK seq=1 ack=1 win=1024 ─────────────►│ CLOSE-WAIT
//! 0.300s           FIN-WAIT-2 │◄──────────── ACK seq=1 ack=2 win=1024 len=0 ────────────│
//! 0.560s            TIME-WAIT │◄───────────── FIN+ACK seq=1 ack=2 win=1024 ─────────────│ LAST-ACK
//! 0.610s                      │──────────── ACK seq=2 ack=2 win=1024 len=0 ────────────►│ CLOSED
//!         (2MSL, then CLOSED) │                                                         │
//! ```

use super::{
    all_labels, anchors, clean, format_time, time_decimals, width, wrap, Anchor, Diagram,
    RenderOptions, Row, SegmentKind, SegmentRow, Side,
};

/// Narrowest space between the lifelines.
const MIN_ARROW: usize = 24;
/// Notes on the left are wrapped to the left column, which grows for them up to this width.
const LEFT_NOTE_MAX: usize = 22;
/// Room kept for notes on the right when the arrows are sized ...
const RIGHT_NOTE_RESERVE: usize = 20;
/// ... though they may use what is left of the width, at least this much ...
const NOTE_MIN: usize = 14;
/// ... and at most this much.
const RIGHT_NOTE_MAX: usize = 40;

/// ANSI SGR codes (empty for none).
mod sgr {
    pub const NONE: &str = "";
    pub const BOLD: &str = "1";
    pub const ITALIC_DIM: &str = "2;3";
    pub const DIM: &str = "2";
    pub const GREEN: &str = "32";
    pub const YELLOW: &str = "33";
    pub const RED: &str = "31";
    pub const RED_BOLD: &str = "1;31";
    pub const CYAN: &str = "36";
}

/// A piece of a line with its ANSI style.
struct Span {
    text: String,
    style: &'static str,
}

fn span(text: impl Into<String>, style: &'static str) -> Span {
    Span {
        text: text.into(),
        style,
    }
}

/// What a side's column holds on one line.
enum Cell {
    State(String),
    Note(String),
}

/// What is drawn between the lifelines on one line.
enum Mid {
    /// Nothing: just the two lifelines.
    Life,
    /// The arrow of the segment at this row index.
    Arrow(usize),
    /// A centred caption.
    Caption(String),
}

struct Line {
    time: Option<u64>,
    left: Option<Cell>,
    right: Option<Cell>,
    mid: Mid,
}

impl Line {
    fn new(time: Option<u64>, mid: Mid) -> Self {
        Line {
            time,
            left: None,
            right: None,
            mid,
        }
    }

    fn cell_mut(&mut self, side: Side) -> &mut Option<Cell> {
        match side {
            Side::Left => &mut self.left,
            Side::Right => &mut self.right,
        }
    }
}

/// Draws `d` for a terminal: a time column, the left side's states, the two lifelines (`│`) with
/// an arrow per segment between them, and the right side's states. With `opts.color` it uses ANSI
/// colours (SYN green, FIN yellow, RST red, data cyan, lost segments dim, states bold); otherwise
/// plain text. The result ends with a newline.
pub fn render_text(d: &Diagram, opts: &RenderOptions) -> String {
    let lines = build_lines(d);
    let decimals = time_decimals(d);
    let labels: Vec<Option<String>> = all_labels(d, opts)
        .into_iter()
        .zip(&d.rows)
        .map(|(label, row)| match (label, row) {
            (Some(label), Row::Segment(s)) => Some(with_note(label, s)),
            _ => None,
        })
        .collect();

    // Column widths.
    let time_w = lines
        .iter()
        .filter_map(|l| l.time)
        .map(|t| format_time(t, decimals).len())
        .max()
        .unwrap_or(0);
    let time_col = if time_w > 0 { time_w + 2 } else { 0 };
    let widest = |side: Side, notes: bool| {
        lines
            .iter()
            .filter_map(|l| match (&l.left, &l.right, side) {
                (Some(c), _, Side::Left) | (_, Some(c), Side::Right) => Some(c),
                _ => None,
            })
            .filter_map(|c| match (c, notes) {
                (Cell::State(s), false) | (Cell::Note(s), true) => Some(width(s)),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    let left_name = clean(&d.left);
    let right_name = clean(&d.right);
    let init_left = d.initial_state(Side::Left).map(clean);
    let init_right = d.initial_state(Side::Right).map(clean);
    let left_w = widest(Side::Left, false)
        .max(widest(Side::Left, true).min(LEFT_NOTE_MAX))
        .max(init_left.as_deref().map_or(0, |s| width(s).div_ceil(2)))
        // The left name is centred on the left lifeline: leave room for its left half.
        .max(width(&left_name).div_ceil(2).saturating_sub(time_col));
    let right_w = widest(Side::Right, false).max(widest(Side::Right, true).min(RIGHT_NOTE_RESERVE));
    // Layout: time_col, left column (left_w), ' ', '│', arrow (arrow_w), '│', ' ', right column.
    let fixed = time_col + left_w + 1 + 1 + 1 + 1 + right_w;
    let names = width(&left_name) / 2 + width(&right_name) / 2 + 3;
    let wanted = labels
        .iter()
        .zip(&d.rows)
        .filter_map(|(l, r)| match (l, r) {
            (Some(l), Row::Segment(s)) => Some(width(l) + arrow_overhead(s)),
            _ => None,
        })
        .max()
        .unwrap_or(0)
        .max(names)
        .max(MIN_ARROW);
    // Whole labels if they fit; else the arrows take the room there is and labels that do not fit
    // put their options (or all of themselves) above the arrow.
    let arrow_w = wanted.min(opts.width.saturating_sub(fixed).max(MIN_ARROW));
    let left_x = time_col + left_w + 1; // column of the left lifeline
    let right_x = left_x + 1 + arrow_w;
    // Notes on the right may use what is left of the width.
    let right_note_w = opts
        .width
        .saturating_sub(right_x + 2)
        .min(RIGHT_NOTE_MAX)
        .max(right_w)
        .max(NOTE_MIN);

    let paint = |s: &Span| -> String {
        if opts.color && !s.style.is_empty() {
            format!("\x1b[{}m{}\x1b[0m", s.style, s.text)
        } else {
            s.text.clone()
        }
    };
    let mut out = String::new();
    let mut emit = |spans: Vec<Span>| {
        let mut spans = spans;
        // No trailing blanks.
        while let Some(last) = spans.last_mut() {
            let trimmed = last.text.trim_end().len();
            if trimmed == 0 {
                spans.pop();
            } else {
                last.text.truncate(trimmed);
                break;
            }
        }
        for s in &spans {
            out.push_str(&paint(s));
        }
        out.push('\n');
    };

    // Title and header.
    let title = clean(&d.title);
    if !title.is_empty() {
        emit(vec![span(title, sgr::BOLD)]);
        emit(vec![]);
    }
    emit(centred_pair(
        (&left_name, left_x),
        (&right_name, right_x),
        sgr::BOLD,
    ));
    if init_left.is_some() || init_right.is_some() {
        emit(centred_pair(
            (init_left.as_deref().unwrap_or(""), left_x),
            (init_right.as_deref().unwrap_or(""), right_x),
            sgr::BOLD,
        ));
    }
    let blank_line = Line::new(None, Mid::Life);
    let geometry = Geometry {
        time_col,
        left_w,
        arrow_w,
    };
    emit(geometry.line(&blank_line, "", Vec::new()));

    let mut last_time: Option<u64> = None;
    for line in &lines {
        let time = match line.time {
            Some(t) if last_time != Some(t) => {
                last_time = Some(t);
                format_time(t, decimals)
            }
            _ => String::new(),
        };
        match &line.mid {
            Mid::Life => {
                // Notes are wrapped to their column; their extra lines carry nothing else.
                let split = |c: &Option<Cell>, w: usize| match c {
                    Some(Cell::Note(n)) => {
                        wrap(n, w).into_iter().map(Cell::Note).map(Some).collect()
                    }
                    Some(Cell::State(s)) => vec![Some(Cell::State(s.clone()))],
                    None => vec![None],
                };
                let mut lefts = split(&line.left, left_w.max(1)).into_iter();
                let mut rights = split(&line.right, right_note_w).into_iter();
                let mut first = true;
                loop {
                    let (left, right) = (lefts.next(), rights.next());
                    if left.is_none() && right.is_none() {
                        break;
                    }
                    let mut part = Line::new(None, Mid::Life);
                    part.left = left.flatten();
                    part.right = right.flatten();
                    let t = if first { time.as_str() } else { "" };
                    emit(geometry.line(&part, t, Vec::new()));
                    first = false;
                }
            }
            Mid::Caption(text) => {
                for (i, part) in wrap(text, arrow_w.saturating_sub(2)).iter().enumerate() {
                    let mid = centred(part, arrow_w, sgr::ITALIC_DIM);
                    if i == 0 {
                        emit(geometry.line(line, &time, mid));
                    } else {
                        emit(geometry.line(&blank_line, "", mid));
                    }
                }
            }
            Mid::Arrow(row) => {
                let (Some(Row::Segment(seg)), Some(Some(label))) =
                    (d.rows.get(*row), labels.get(*row))
                else {
                    continue;
                };
                let style = kind_style(seg);
                let (on_arrow, above) =
                    place_label(label, arrow_w.saturating_sub(arrow_overhead(seg)));
                let above_style = if seg.lost { sgr::DIM } else { style };
                for part in above
                    .iter()
                    .flat_map(|a| wrap(a, arrow_w.saturating_sub(2)))
                {
                    emit(geometry.line(&blank_line, "", centred(&part, arrow_w, above_style)));
                }
                emit(geometry.line(line, &time, arrow(seg, &on_arrow, arrow_w, style)));
            }
        }
    }
    emit(geometry.line(&blank_line, "", Vec::new()));
    out
}

/// Column positions shared by every line.
struct Geometry {
    time_col: usize,
    left_w: usize,
    arrow_w: usize,
}

impl Geometry {
    /// One full line: time, left cell, lifeline, `mid` (or blanks), lifeline, right cell.
    fn line(&self, line: &Line, time: &str, mid: Vec<Span>) -> Vec<Span> {
        let mut spans = Vec::new();
        if self.time_col > 0 {
            let pad = (self.time_col - 2).saturating_sub(time.len());
            spans.push(span(format!("{}{}  ", " ".repeat(pad), time), sgr::NONE));
        }
        let (left_text, left_style) = cell_text(&line.left);
        spans.push(span(
            " ".repeat(self.left_w.saturating_sub(width(left_text))),
            sgr::NONE,
        ));
        spans.push(span(left_text, left_style));
        spans.push(span(" │", sgr::NONE));
        let mid_w: usize = mid.iter().map(|s| width(&s.text)).sum();
        spans.extend(mid);
        spans.push(span(
            format!("{}│", " ".repeat(self.arrow_w.saturating_sub(mid_w))),
            sgr::NONE,
        ));
        let (right_text, right_style) = cell_text(&line.right);
        if !right_text.is_empty() {
            spans.push(span(" ", sgr::NONE));
            spans.push(span(right_text, right_style));
        }
        spans
    }
}

fn cell_text(cell: &Option<Cell>) -> (&str, &'static str) {
    match cell {
        Some(Cell::State(s)) => (s, sgr::BOLD),
        Some(Cell::Note(s)) => (s, sgr::ITALIC_DIM),
        None => ("", sgr::NONE),
    }
}

/// Two texts centred on the columns `x`, on one line, kept at least two columns apart.
fn centred_pair(left: (&str, usize), right: (&str, usize), style: &'static str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut col = 0;
    for (text, x) in [left, right] {
        if text.is_empty() {
            continue;
        }
        let mut start = x.saturating_sub(width(text) / 2);
        if col > 0 {
            start = start.max(col + 2);
        }
        spans.push(span(" ".repeat(start.saturating_sub(col)), sgr::NONE));
        spans.push(span(text, style));
        col = start + width(text);
    }
    spans
}

/// `text` centred in `w` columns.
fn centred(text: &str, w: usize, style: &'static str) -> Vec<Span> {
    let tw = width(text);
    let before = w.saturating_sub(tw) / 2;
    let after = w.saturating_sub(tw + before);
    vec![
        span(" ".repeat(before), sgr::NONE),
        span(text, style),
        span(" ".repeat(after), sgr::NONE),
    ]
}

/// Splits a label into what goes on the arrow (at most `room` columns) and what goes above it:
/// everything on the arrow if it fits; else the options (`<mss 1460,...>`) above; else the note
/// too; else all of it above.
fn place_label(label: &str, room: usize) -> (String, Vec<String>) {
    if width(label) <= room {
        return (label.to_string(), Vec::new());
    }
    let (rest, note) = match label.find(" [") {
        Some(k) => (&label[..k], Some(&label[k + 1..])),
        None => (label, None),
    };
    let (main, options) = match rest.find(" <") {
        Some(k) => (&rest[..k], Some(&rest[k + 1..])),
        None => (rest, None),
    };
    if let (Some(options), Some(note)) = (options, note) {
        let with_note = format!("{main} {note}");
        if width(&with_note) <= room {
            return (with_note, vec![options.to_string()]);
        }
    }
    if (options.is_some() || note.is_some()) && width(main) <= room {
        let above = [options, note]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
        return (main.to_string(), above);
    }
    (String::new(), vec![label.to_string()])
}

/// The label with the segment's note appended.
fn with_note(label: String, s: &SegmentRow) -> String {
    match &s.note {
        Some(note) if !note.is_empty() => format!("{label} [{}]", clean(note)),
        _ => label,
    }
}

/// Columns an arrow needs besides its label: shafts and head, plus `X (lost)` when lost.
fn arrow_overhead(s: &SegmentRow) -> usize {
    if s.lost {
        14
    } else {
        7
    }
}

fn kind_style(s: &SegmentRow) -> &'static str {
    match s.kind() {
        SegmentKind::Syn => sgr::GREEN,
        SegmentKind::Fin => sgr::YELLOW,
        SegmentKind::Rst => sgr::RED,
        SegmentKind::Data => sgr::CYAN,
        SegmentKind::Ack => sgr::NONE,
    }
}

/// The arrow of `seg`, exactly `w` columns wide, with `label` (possibly empty) centred on its shaft.
///
/// `──── label ───►` left to right, `◄─── label ────` right to left; RST uses `═`; a lost segment
/// uses a dashed shaft `╌` that stops in `X (lost)` about two thirds of the way.
fn arrow(seg: &SegmentRow, label: &str, w: usize, style: &'static str) -> Vec<Span> {
    let shaft = if seg.lost {
        "╌"
    } else if seg.flags.rst() {
        "═"
    } else {
        "─"
    };
    let content = if label.is_empty() {
        String::new()
    } else {
        format!(" {label} ")
    };
    let cw = width(&content);
    let to_right = seg.from == Side::Left;
    if seg.lost {
        const MARK: &str = "X";
        const LOST: &str = "(lost)";
        // The drawn part ends at `reach` columns from the sender, then `X (lost)`.
        let reach = (w * 3 / 5).max(cw + 4).min(w.saturating_sub(8));
        let shafts = reach.saturating_sub(cw);
        let a = shafts / 2;
        let body = format!("{}{}{}", shaft.repeat(a), content, shaft.repeat(shafts - a));
        let rest = w.saturating_sub(reach + 8);
        let style = if style.is_empty() { sgr::DIM } else { style };
        if to_right {
            vec![
                span(body, style),
                span(MARK, sgr::RED_BOLD),
                span(format!(" {LOST}"), sgr::RED),
                span(" ".repeat(rest), sgr::NONE),
            ]
        } else {
            vec![
                span(" ".repeat(rest), sgr::NONE),
                span(format!("{LOST} "), sgr::RED),
                span(MARK, sgr::RED_BOLD),
                span(body, style),
            ]
        }
    } else {
        let shafts = w.saturating_sub(cw + 1);
        let a = shafts / 2;
        let b = shafts - a;
        let text = if to_right {
            format!("{}{}{}►", shaft.repeat(a), content, shaft.repeat(b))
        } else {
            format!("◄{}{}{}", shaft.repeat(b), content, shaft.repeat(a))
        };
        vec![span(text, style)]
    }
}

/// Turns rows into lines, with each state change beside the arrow that caused it where
/// [`anchors`] says so.
fn build_lines(d: &Diagram) -> Vec<Line> {
    let anchors = anchors(d);
    let mut lines: Vec<Line> = Vec::new();
    // The line of each segment row.
    let mut line_of: Vec<Option<usize>> = vec![None; d.rows.len()];
    for (i, row) in d.rows.iter().enumerate() {
        if let Row::Segment(seg) = row {
            lines.push(Line::new(Some(seg.time_us), Mid::Arrow(i)));
            line_of[i] = Some(lines.len() - 1);
            continue;
        }
        match (row, anchors[i]) {
            (_, Anchor::Initial) => {}
            (Row::State { .. }, Anchor::Tail(_) | Anchor::Head(_)) => {}
            (
                Row::State {
                    time_us,
                    side,
                    state,
                },
                _,
            ) => {
                let mut line = Line::new(Some(*time_us), Mid::Life);
                *line.cell_mut(*side) = Some(Cell::State(clean(state)));
                lines.push(line);
            }
            (
                Row::Note {
                    time_us,
                    side: Some(side),
                    text,
                },
                _,
            ) => {
                let mut line = Line::new(Some(*time_us), Mid::Life);
                *line.cell_mut(*side) = Some(Cell::Note(clean(text)));
                lines.push(line);
            }
            (
                Row::Note {
                    side: None, text, ..
                },
                _,
            ) => {
                // A caption explains; it is not an event, so it takes no time stamp.
                lines.push(Line::new(None, Mid::Caption(clean(text))));
            }
            (Row::Segment(_), _) => {}
        }
    }
    // States beside arrows.
    for (i, row) in d.rows.iter().enumerate() {
        if let (Row::State { side, state, .. }, Anchor::Tail(j) | Anchor::Head(j)) =
            (row, anchors[i])
        {
            if let Some(li) = line_of.get(j).copied().flatten() {
                *lines[li].cell_mut(*side) = Some(Cell::State(clean(state)));
            }
        }
    }
    lines
}
