//! The SVG renderer: a standalone picture (no scripts, fonts or other external resources).

use std::fmt::Write as _;

use super::{
    all_labels, anchors, clean, format_time, time_decimals, width, wrap, Anchor, Diagram,
    RenderOptions, Row, SegmentKind, SegmentRow, Side,
};

/// Width of one column of 12 px monospace text, in pixels.
const CHAR_W: f64 = 7.3;
/// Width of one column of the 10 px time labels.
const TIME_CHAR_W: f64 = 6.1;
const PAD: f64 = 16.0;
/// Captions (notes of neither side) are wrapped to this many columns.
const CAPTION_COLS: usize = 34;
/// Side notes wider than this many columns are wrapped.
const NOTE_MAX: usize = 28;
/// Side notes are drawn at 11 px: their width relative to 12 px text.
const NOTE_SCALE: f64 = 0.92;
/// How far an arrow descends when its arrival time is unknown.
const FIXED_DROP: f64 = 18.0;
/// The least an arrow descends.
const MIN_DROP: f64 = 12.0;
const FONT: &str = "ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace";

/// Colours of the five kinds of segment, and of a monochrome drawing.
fn colour(kind: SegmentKind, color: bool) -> &'static str {
    if !color {
        return "#24292f";
    }
    match kind {
        SegmentKind::Syn => "#1a7f37",
        SegmentKind::Fin => "#9a6700",
        SegmentKind::Rst => "#cf222e",
        SegmentKind::Data => "#0a7ea4",
        SegmentKind::Ack => "#24292f",
    }
}

fn kind_id(kind: SegmentKind) -> &'static str {
    match kind {
        SegmentKind::Syn => "syn",
        SegmentKind::Fin => "fin",
        SegmentKind::Rst => "rst",
        SegmentKind::Data => "data",
        SegmentKind::Ack => "ack",
    }
}

const KINDS: [SegmentKind; 5] = [
    SegmentKind::Syn,
    SegmentKind::Fin,
    SegmentKind::Rst,
    SegmentKind::Data,
    SegmentKind::Ack,
];

/// Escapes text for XML character data and attribute values; control characters (not allowed in
/// XML 1.0) become `�`.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Pixel width of `s` in 12 px monospace.
fn text_px(s: &str) -> f64 {
    width(s) as f64 * CHAR_W
}

/// Draws `d` as a standalone SVG document: the two lifelines under the side names, one arrow per
/// segment sloping from its send time down to its arrival time (a small fixed slope when the
/// arrival is unknown) with its label along it, state boxes beside the lifelines where states
/// change, lost segments ending half-way in a red `X`, side notes in the margins and captions
/// between the lifelines. `opts.color` false gives a black-and-white drawing; `opts.width` is not
/// used (the picture sizes itself to its labels).
pub fn render_svg(d: &Diagram, opts: &RenderOptions) -> String {
    let decimals = time_decimals(d);
    let anchors = anchors(d);
    // Rows drawn in a slot of their own (states beside arrows and initial states have none).
    let slotted: Vec<bool> = anchors.iter().map(|a| *a == Anchor::Own).collect();
    // (label, note) of each segment row.
    let labels: Vec<(String, String)> = all_labels(d, opts)
        .into_iter()
        .zip(&d.rows)
        .map(|(label, r)| match (label, r) {
            (Some(label), Row::Segment(s)) => {
                let note = s
                    .note
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(" [{n}]"))
                    .unwrap_or_default();
                (label, note)
            }
            _ => (String::new(), String::new()),
        })
        .collect();

    // Horizontal layout.
    let time_w = d
        .rows
        .iter()
        .map(|r| format_time(r.time_us(), decimals).len())
        .max()
        .unwrap_or(0) as f64
        * TIME_CHAR_W
        + 12.0;
    // Beside each lifeline: a column of state boxes, and outside it a column of notes, so that
    // the two never overlap.
    let states_px = |side: Side| {
        d.rows
            .iter()
            .filter_map(|r| match r {
                Row::State { side: s, state, .. } if *s == side => Some(text_px(state) + 16.0),
                _ => None,
            })
            .fold(0.0, f64::max)
    };
    let notes_px = |side: Side| {
        d.rows
            .iter()
            .filter_map(|r| match r {
                Row::Note {
                    side: Some(s),
                    text,
                    ..
                } if *s == side => Some(
                    wrap(text, NOTE_MAX)
                        .iter()
                        .map(|l| text_px(l) * NOTE_SCALE)
                        .fold(0.0, f64::max),
                ),
                _ => None,
            })
            .fold(0.0, f64::max)
    };
    let (left_states, right_states) = (states_px(Side::Left), states_px(Side::Right));
    let area = |side: Side, states: f64| {
        let notes = notes_px(side);
        (10.0 + states + if notes > 0.0 { 12.0 + notes } else { 0.0 } + 8.0)
            .max(text_px(d.name(side)) / 2.0 + 16.0)
            .max(110.0)
    };
    let left_area = area(Side::Left, left_states);
    let right_area = area(Side::Right, right_states);
    let widest_label = labels
        .iter()
        .map(|(l, n)| text_px(l) + text_px(n))
        .fold(0.0, f64::max);
    let gap = (widest_label + 70.0)
        .max(text_px(&d.left) / 2.0 + text_px(&d.right) / 2.0 + 40.0)
        .max(340.0);
    let xl = PAD + time_w + left_area;
    let xr = xl + gap;
    // Captions (notes of neither side) go in a margin of their own, right of everything, where no
    // arrow can cross them.
    let caption_w = d
        .rows
        .iter()
        .filter_map(|r| match r {
            Row::Note {
                side: None, text, ..
            } => Some(
                wrap(text, CAPTION_COLS)
                    .iter()
                    .map(|l| text_px(l))
                    .fold(0.0, f64::max)
                    + 16.0,
            ),
            _ => None,
        })
        .fold(0.0, f64::max);
    let caption_x = xr + right_area;
    let total_w = caption_x + caption_w + PAD;
    let x_of = |side: Side| if side == Side::Left { xl } else { xr };

    // Vertical layout: one slot per row, with a little extra room for long pauses.
    let mut y = PAD;
    let title = d.title.trim();
    let title_y = y + 14.0;
    if !title.is_empty() {
        y += 30.0;
    }
    let name_y = y;
    let name_h = 26.0;
    y += name_h + 8.0;
    let init_y = y + 11.0;
    if anchors.contains(&Anchor::Initial) {
        y += 30.0;
    }
    y += 16.0;
    let mut ys = vec![0.0; d.rows.len()];
    let mut prev_t: Option<u64> = None;
    for (i, row) in d.rows.iter().enumerate() {
        if !slotted[i] {
            continue;
        }
        let t = row.time_us();
        if let Some(p) = prev_t {
            let dt = t.saturating_sub(p);
            if dt > 0 {
                y += ((dt as f64).log10() - 3.0).clamp(0.0, 4.0) * 10.0;
            }
        }
        prev_t = Some(t);
        ys[i] = y;
        y += match row {
            Row::Segment(_) => 40.0,
            Row::State { .. } => 28.0,
            Row::Note {
                side: Some(_),
                text,
                ..
            } => 16.0 * wrap(text, NOTE_MAX).len() as f64 + 8.0,
            Row::Note {
                side: None, text, ..
            } => 16.0 * wrap(text, CAPTION_COLS).len() as f64 + 14.0,
        };
    }

    // Where each arrow ends.
    let ends: Vec<f64> = d
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Row::Segment(s) => arrival_y(d, &ys, &slotted, i, s),
            _ => 0.0,
        })
        .collect();
    let bottom = ends.iter().copied().fold(y, f64::max) + 12.0;
    let legend_y = bottom + 26.0;
    let total_h = legend_y + 24.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{FONT}" font-size="12">"#,
        w = total_w.ceil(),
        h = total_h.ceil()
    );
    let _ = writeln!(
        svg,
        "<title>{}</title>",
        esc(if title.is_empty() {
            "TCP sequence diagram"
        } else {
            title
        })
    );
    svg.push_str("<defs>\n");
    for kind in KINDS {
        let _ = writeln!(
            svg,
            r#"<marker id="head-{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"#,
            id = kind_id(kind),
            c = colour(kind, opts.color)
        );
    }
    svg.push_str("</defs>\n");
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{:.0}" height="{:.0}" fill="#ffffff"/>"##,
        total_w.ceil(),
        total_h.ceil()
    );
    if !title.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{title_y:.1}" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
            total_w / 2.0,
            esc(title)
        );
    }

    // Lifelines and names.
    for side in [Side::Left, Side::Right] {
        let x = x_of(side);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#8c959f" stroke-width="1.5"/>"##,
            name_y + name_h
        );
        let name = d.name(side);
        let w = text_px(name) + 20.0;
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{name_y:.1}" width="{w:.1}" height="{name_h:.1}" rx="4" fill="#f6f8fa" stroke="#57606a"/>"##,
            x - w / 2.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            name_y + 17.0,
            esc(name)
        );
        if let Some(state) = d.initial_state(side) {
            state_box(&mut svg, x, init_y, state, None);
        }
    }

    // Rows, in layers: captions under the arrows, labels over every arrow, states on top.
    let mut layers = Layers::default();
    let mut last_time: Option<u64> = None;
    for (i, row) in d.rows.iter().enumerate() {
        match (row, anchors[i]) {
            (Row::State { side, state, .. }, Anchor::Tail(j)) => {
                state_box(&mut layers.over, x_of(*side), ys[j], state, Some(*side));
                continue;
            }
            (Row::State { side, state, .. }, Anchor::Head(j)) => {
                state_box(&mut layers.over, x_of(*side), ends[j], state, Some(*side));
                continue;
            }
            (_, Anchor::Own) => {}
            _ => continue,
        }
        let y = ys[i];
        let t = row.time_us();
        if last_time != Some(t) {
            last_time = Some(t);
            let _ = writeln!(
                layers.over,
                r##"<text x="{PAD:.1}" y="{:.1}" font-size="10" fill="#57606a">{}</text>"##,
                y + 4.0,
                format_time(t, decimals)
            );
        }
        match row {
            Row::Segment(s) => segment(&mut layers, s, &labels[i], (xl, xr), (y, ends[i]), opts),
            Row::State { side, state, .. } => {
                state_box(&mut layers.over, x_of(*side), y, state, Some(*side));
            }
            Row::Note {
                side: Some(side),
                text,
                ..
            } => {
                let (x, anchor) = match side {
                    Side::Left => (xl - 10.0 - left_states - 12.0, "end"),
                    Side::Right => (xr + 10.0 + right_states + 12.0, "start"),
                };
                for (k, part) in wrap(text, NOTE_MAX).iter().enumerate() {
                    let _ = writeln!(
                        layers.over,
                        r##"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11" font-style="italic" fill="#57606a">{}</text>"##,
                        y + 4.0 + 16.0 * k as f64,
                        esc(part)
                    );
                }
            }
            Row::Note {
                side: None, text, ..
            } => {
                let parts = wrap(text, CAPTION_COLS);
                let h = 16.0 * parts.len() as f64 + 8.0;
                let _ = writeln!(
                    layers.under,
                    r##"<rect x="{caption_x:.1}" y="{:.1}" width="{caption_w:.1}" height="{h:.1}" rx="3" fill="#fff8c5" stroke="#d4a72c" stroke-width="0.8"/>"##,
                    y - 12.0
                );
                for (k, part) in parts.iter().enumerate() {
                    let _ = writeln!(
                        layers.under,
                        r##"<text x="{:.1}" y="{:.1}" font-style="italic" fill="#57606a">{}</text>"##,
                        caption_x + 8.0,
                        y + 2.0 + 16.0 * k as f64,
                        esc(part)
                    );
                }
            }
        }
    }

    for layer in [layers.under, layers.arrows, layers.labels, layers.over] {
        svg.push_str(&layer);
    }
    legend(&mut svg, PAD + time_w, legend_y, opts);
    svg.push_str("</svg>\n");
    svg
}

/// The y at which the arrow of row `i` reaches the other lifeline: the arrival time placed among
/// the rows' times (linear between the two rows around it), or a small fixed drop.
fn arrival_y(d: &Diagram, ys: &[f64], slotted: &[bool], i: usize, s: &SegmentRow) -> f64 {
    let y0 = ys[i];
    let Some(arrival) = s.arrival_us else {
        return y0 + FIXED_DROP;
    };
    let (mut prev_t, mut prev_y) = (s.time_us, y0);
    for (j, row) in d.rows.iter().enumerate().skip(i + 1) {
        if !slotted[j] {
            continue;
        }
        let (t, y) = (row.time_us(), ys[j]);
        if t >= arrival {
            let span = t.saturating_sub(prev_t);
            let frac = if span == 0 {
                1.0
            } else {
                arrival.saturating_sub(prev_t) as f64 / span as f64
            };
            return (prev_y + (y - prev_y) * frac.clamp(0.0, 1.0)).max(y0 + MIN_DROP);
        }
        (prev_t, prev_y) = (t, y);
    }
    // Arrives after the last row.
    (prev_y + 24.0).max(y0 + MIN_DROP)
}

/// One segment: the arrow (or half of it and an `X` when lost) and its label along it.
/// Parts of the picture, drawn in this order so that text stays readable where lines cross it.
#[derive(Default)]
struct Layers {
    /// Captions.
    under: String,
    /// Arrows and the `X` of lost segments.
    arrows: String,
    /// Arrow labels (with a white halo).
    labels: String,
    /// State boxes, side notes, times.
    over: String,
}

fn segment(
    layers: &mut Layers,
    s: &SegmentRow,
    label: &(String, String),
    (xl, xr): (f64, f64),
    (y0, y1): (f64, f64),
    opts: &RenderOptions,
) {
    let kind = s.kind();
    let c = colour(kind, opts.color);
    let (x0, x1) = if s.from == Side::Left {
        (xl, xr)
    } else {
        (xr, xl)
    };
    let stroke_w = if kind == SegmentKind::Rst { 2.8 } else { 1.6 };
    let (ex, ey) = if s.lost {
        ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    } else {
        (x1, y1)
    };
    let dash = if s.lost {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let head = if s.lost {
        String::new()
    } else {
        format!(r#" marker-end="url(#head-{})""#, kind_id(kind))
    };
    let opacity = if s.lost { r#" opacity="0.75""# } else { "" };
    let _ = writeln!(
        layers.arrows,
        r#"<line x1="{x0:.1}" y1="{y0:.1}" x2="{ex:.1}" y2="{ey:.1}" stroke="{c}" stroke-width="{stroke_w}"{dash}{head}{opacity}/>"#
    );
    // The label reads left to right, parallel to the arrow, a little above it.
    let (lx0, ly0, lx1, ly1) = if x0 < x1 {
        (x0, y0, x1, y1)
    } else {
        (x1, y1, x0, y0)
    };
    let angle = (ly1 - ly0).atan2(lx1 - lx0).to_degrees();
    let (mx, my) = if s.lost {
        // Half the arrow is drawn: start the label at the sender's end.
        (x0, y0)
    } else {
        ((lx0 + lx1) / 2.0, (ly0 + ly1) / 2.0)
    };
    let anchor = match (s.lost, s.from) {
        (false, _) => "middle",
        (true, Side::Left) => "start",
        (true, Side::Right) => "end",
    };
    let nudge = if s.lost {
        if s.from == Side::Left {
            12.0
        } else {
            -12.0
        }
    } else {
        0.0
    };
    let (rad_x, rad_y) = (angle.to_radians().cos(), angle.to_radians().sin());
    // Lost arrows lift their label clear of the `X`.
    let lift = if s.lost { 11.0 } else { 6.0 };
    let tx = mx + nudge * rad_x + lift * rad_y;
    let ty = my + nudge * rad_y - lift * rad_x;
    let (main, note) = (label.0.as_str(), label.1.as_str());
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(
            r##"<tspan font-style="italic" fill="#57606a">{}</tspan>"##,
            esc(note)
        )
    };
    let _ = writeln!(
        layers.labels,
        r##"<text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}" fill="{c}" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke" transform="rotate({angle:.2} {tx:.1} {ty:.1})"{opacity}>{}{note}</text>"##,
        esc(main)
    );
    if s.lost {
        let r = 6.0;
        let _ = writeln!(
            layers.arrows,
            r##"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="#cf222e" stroke-width="2.5" stroke-linecap="round"/>"##,
            ex - r,
            ey - r,
            ex + r,
            ey + r,
            ex - r,
            ey + r,
            ex + r,
            ey - r
        );
        let _ = writeln!(
            layers.labels,
            r##"<text x="{ex:.1}" y="{:.1}" text-anchor="middle" font-size="11" font-weight="bold" fill="#cf222e">(lost)</text>"##,
            ey + r + 13.0
        );
    }
}

/// A state box beside a lifeline (`side`), or centred on it (`None`, for initial states).
fn state_box(svg: &mut String, x: f64, y: f64, state: &str, side: Option<Side>) {
    let w = text_px(state) + 16.0;
    let h = 20.0;
    let left = match side {
        Some(Side::Left) => x - 10.0 - w,
        Some(Side::Right) => x + 10.0,
        None => x - w / 2.0,
    };
    if let Some(side) = side {
        let (a, b) = match side {
            Side::Left => (left + w, x),
            Side::Right => (x, left),
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{a:.1}" y1="{y:.1}" x2="{b:.1}" y2="{y:.1}" stroke="#54aeff" stroke-dasharray="2 2"/>"##
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{left:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" rx="10" fill="#ddf4ff" stroke="#54aeff"/>"##,
        y - h / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="#0a3069">{}</text>"##,
        left + w / 2.0,
        y + 4.0,
        esc(state)
    );
}

/// A key to the arrow styles.
fn legend(svg: &mut String, x: f64, y: f64, opts: &RenderOptions) {
    let mut x = x;
    let items: [(&str, SegmentKind, bool); 6] = [
        ("SYN", SegmentKind::Syn, false),
        ("FIN", SegmentKind::Fin, false),
        ("RST", SegmentKind::Rst, false),
        ("data", SegmentKind::Data, false),
        ("ACK", SegmentKind::Ack, false),
        ("lost", SegmentKind::Ack, true),
    ];
    for (name, kind, lost) in items {
        let c = colour(kind, opts.color);
        let stroke_w = if kind == SegmentKind::Rst { 2.8 } else { 1.6 };
        if lost {
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="1.6" stroke-dasharray="6 4" opacity="0.75"/><path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="#cf222e" stroke-width="2.5" stroke-linecap="round"/>"##,
                x + 24.0,
                x + 24.0,
                y - 5.0,
                x + 34.0,
                y + 5.0,
                x + 24.0,
                y + 5.0,
                x + 34.0,
                y - 5.0
            );
        } else {
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="{stroke_w}" marker-end="url(#head-{})"/>"#,
                x + 34.0,
                kind_id(kind)
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#57606a">{name}</text>"##,
            x + 40.0,
            y + 4.0
        );
        x += 40.0 + text_px(name) + 22.0;
    }
}
