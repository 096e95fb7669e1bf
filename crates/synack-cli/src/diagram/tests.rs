use super::*;
use synack_wire::{SackBlock, Timestamps};

const C_ISN: u32 = 1_000_000;
const S_ISN: u32 = 4_294_967_000; // wraps during the exchange

fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        ..TcpOptions::default()
    }
}

fn seg(t: u64, from: Side, flags: TcpFlags, seq: u32, ack: u32, len: u32) -> SegmentRow {
    SegmentRow {
        window: if flags.syn() { 64240 } else { 502 },
        len,
        arrival_us: Some(t + 10_000),
        ..SegmentRow::new(t, from, flags, seq, ack)
    }
}

fn state(t: u64, side: Side, s: &str) -> Row {
    Row::State {
        time_us: t,
        side,
        state: s.into(),
    }
}

/// The notes' picture: a lost first SYN, the handshake, data, the four-way close; 10 ms one way.
fn classic() -> Diagram {
    use Side::{Left as L, Right as R};
    let (syn, ack, fin, psh) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::FIN, TcpFlags::PSH);
    let mut d = Diagram::new("handshake & close <demo>", "client", "server");
    let mut first_syn = seg(0, L, syn, C_ISN, 0, 0);
    first_syn.options = syn_options();
    first_syn.lost = true;
    first_syn.arrival_us = None;
    let mut retrans = first_syn.clone();
    retrans.time_us = 1_000_000;
    retrans.lost = false;
    retrans.arrival_us = Some(1_010_000);
    retrans.note = Some("retransmission".into());
    let mut synack = seg(1_010_000, R, syn | ack, S_ISN, C_ISN + 1, 0);
    synack.options = syn_options();
    let mut sacked = seg(1_030_000, R, ack, S_ISN + 1, C_ISN + 1, 0);
    sacked.options.sack.push(SackBlock {
        left: C_ISN + 1449,
        right: C_ISN + 2897,
    });
    d.rows = vec![
        state(0, L, "CLOSED"),
        state(0, R, "LISTEN"),
        Row::Note {
            time_us: 0,
            side: Some(L),
            text: "app: connect()".into(),
        },
        state(0, L, "SYN-SENT"),
        Row::Segment(first_syn),
        Row::Segment(retrans),
        state(1_010_000, R, "SYN-RECEIVED"),
        Row::Segment(synack),
        state(1_020_000, L, "ESTABLISHED"),
        Row::Segment(seg(1_020_000, L, ack, C_ISN + 1, S_ISN + 1, 0)),
        state(1_030_000, R, "ESTABLISHED"),
        Row::Segment(seg(1_020_000, L, psh | ack, C_ISN + 1, S_ISN + 1, 1448)),
        Row::Segment(sacked),
        Row::Note {
            time_us: 1_030_000,
            side: None,
            text: "the server closes first & the client has data left".into(),
        },
        state(1_040_000, R, "FIN-WAIT-1"),
        Row::Segment(seg(1_040_000, R, fin | ack, S_ISN + 1, C_ISN + 1449, 0)),
        state(1_050_000, L, "CLOSE-WAIT"),
        Row::Segment(seg(1_050_000, L, ack, C_ISN + 1449, S_ISN + 2, 0)),
        state(1_060_000, R, "FIN-WAIT-2"),
        state(1_070_000, L, "LAST-ACK"),
        Row::Segment(seg(1_070_000, L, fin | ack, C_ISN + 1449, S_ISN + 2, 0)),
        state(1_080_000, R, "TIME-WAIT"),
        Row::Segment(seg(1_080_000, R, ack, S_ISN + 2, C_ISN + 1450, 0)),
        state(1_090_000, L, "CLOSED"),
        Row::Note {
            time_us: 1_090_000,
            side: Some(R),
            text: "2MSL later: CLOSED".into(),
        },
    ];
    d
}

fn labels(d: &Diagram, opts: &RenderOptions) -> Vec<String> {
    d.segments().map(|s| d.label(s, opts)).collect()
}

#[test]
fn labels_are_relative_like_wireshark() {
    let d = classic();
    let l = labels(&d, &RenderOptions::default());
    assert_eq!(l[0], "SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7>");
    assert_eq!(
        l[2],
        "SYN+ACK seq=0 ack=1 win=64240 <mss 1460,sackOK,TS,wscale 7>"
    );
    assert_eq!(l[3], "ACK seq=1 ack=1 win=502 len=0");
    assert_eq!(l[4], "PSH+ACK seq=1 ack=1 win=502 len=1448");
    assert_eq!(l[5], "ACK seq=1 ack=1 win=502 len=0 <sack 1449-2897>");
    assert_eq!(l[6], "FIN+ACK seq=1 ack=1449 win=502");
    assert_eq!(l[8], "FIN+ACK seq=1449 ack=2 win=502");
    assert_eq!(l[9], "ACK seq=2 ack=1450 win=502 len=0");
}

#[test]
fn labels_can_be_absolute() {
    let d = classic();
    let opts = RenderOptions {
        absolute: true,
        ..RenderOptions::default()
    };
    let l = labels(&d, &opts);
    assert_eq!(
        l[2],
        format!(
            "SYN+ACK seq={S_ISN} ack={} win=64240 <mss 1460,sackOK,TS,wscale 7>",
            C_ISN + 1
        )
    );
    assert!(l[5].ends_with(&format!("<sack {}-{}>", C_ISN + 1449, C_ISN + 2897)));
}

#[test]
fn isn_is_the_syn_or_else_the_first_seq() {
    let mut d = classic();
    assert_eq!(d.isn(Side::Left), Some(C_ISN));
    assert_eq!(d.isn(Side::Right), Some(S_ISN));
    d.right_isn = Some(7);
    assert_eq!(d.isn(Side::Right), Some(7));

    // Mid-stream: no SYN, the first seq seen counts as 0; no ACK flag, no ack shown.
    let mut mid = Diagram::new("", "a", "b");
    mid.rows.push(Row::Segment(SegmentRow::new(
        0,
        Side::Right,
        TcpFlags::PSH,
        500,
        9,
    )));
    mid.rows.push(Row::Segment(SegmentRow {
        len: 10,
        ..SegmentRow::new(5, Side::Right, TcpFlags::ACK, 510, 9)
    }));
    assert_eq!(mid.isn(Side::Left), None);
    let l = labels(&mid, &RenderOptions::default());
    assert_eq!(l[0], "PSH seq=0 win=0 len=0");
    // The left side never sent: its numbers stay absolute.
    assert_eq!(l[1], "ACK seq=10 ack=9 win=0 len=10");
}

#[test]
fn initial_states_are_the_leading_ones() {
    let d = classic();
    assert_eq!(d.initial_state(Side::Left), Some("CLOSED"));
    assert_eq!(d.initial_state(Side::Right), Some("LISTEN"));
    let mut no_init = classic();
    no_init.rows.drain(0..2);
    assert_eq!(no_init.initial_state(Side::Left), None);
}

/// Columns of every `│` in a line (display columns, not bytes).
fn bar_columns(line: &str) -> Vec<usize> {
    let mut col = 0;
    let mut out = Vec::new();
    for c in line.chars() {
        if c == '│' {
            out.push(col);
        }
        col += width(c.encode_utf8(&mut [0; 4]));
    }
    out
}

fn plain(d: &Diagram) -> String {
    render_text(d, &RenderOptions::default())
}

#[test]
fn text_lifelines_align() {
    for w in [40, 80, 100, 160] {
        let opts = RenderOptions {
            width: w,
            ..RenderOptions::default()
        };
        let out = render_text(&classic(), &opts);
        let mut bars: Option<(usize, usize)> = None;
        for line in out.lines() {
            let cols = bar_columns(line);
            let arrow = line.contains('►') || line.contains('◄') || line.contains("(lost)");
            let ends = match (cols.as_slice(), arrow) {
                ([a, b], _) => (*a, *b),
                // An arrow touching a lifeline hides nothing: its ends are at the lifelines.
                ([a], true) => {
                    let b = bars.map_or(0, |b| b.1);
                    (*a, b)
                }
                ([], _) => continue,
                _ => panic!("odd line {line:?}"),
            };
            match bars {
                None => bars = Some(ends),
                Some(b) => assert_eq!(b, ends, "width {w}, line {line:?}\n{out}"),
            }
        }
        assert!(bars.is_some());
    }
}

#[test]
fn text_shows_states_beside_the_arrows_that_cause_them() {
    let out = plain(&classic());
    let line_with = |needle: &str| {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{out}"))
            .to_string()
    };
    // Sent: beside the tail; received: beside the head.
    let syn = line_with("[retransmission]");
    assert!(syn.ends_with("│ SYN-RECEIVED"), "{syn}");
    let synack = line_with("SYN+ACK seq=0 ack=1");
    assert!(synack.contains("ESTABLISHED │◄"), "{synack}");
    let ack = line_with("ACK seq=1 ack=1 win=502 len=0 ─");
    assert!(
        ack.trim_start().starts_with("1.020s") && ack.ends_with("►│ ESTABLISHED"),
        "{ack}"
    );
    let fin = line_with("FIN+ACK seq=1 ack=1449");
    assert!(
        fin.contains("CLOSE-WAIT │◄") && fin.ends_with("│ FIN-WAIT-1"),
        "{fin}"
    );
    // FIN-WAIT-2 came when the ACK arrived (1.060s): beside its head.
    let fw2 = line_with("FIN-WAIT-2");
    assert!(
        fw2.contains("ACK seq=1449 ack=2") && fw2.ends_with("►│ FIN-WAIT-2"),
        "{fw2}"
    );
    // A state that follows nothing it could belong to gets a line of its own.
    let mut d = classic();
    if let Some(Row::State { time_us, .. }) = d.rows.get_mut(18) {
        *time_us = 1_065_000;
    }
    let out2 = plain(&d);
    let alone = out2.lines().find(|l| l.contains("FIN-WAIT-2")).unwrap();
    assert!(alone.trim_start().starts_with("1.065s"), "{alone}");
    assert!(!alone.contains('►') && !alone.contains('◄'), "{alone}");
    // The header has the initial states.
    let header: Vec<&str> = out.lines().take(5).collect();
    assert!(header
        .iter()
        .any(|l| l.contains("client") && l.contains("server")));
    assert!(header
        .iter()
        .any(|l| l.contains("CLOSED") && l.contains("LISTEN")));
    assert!(out.contains("app: connect()"));
    assert!(out.contains("the server closes first & the client has data left"));
}

#[test]
fn text_lost_and_rst_arrows_look_different() {
    let out = plain(&classic());
    let lost = out.lines().find(|l| l.contains("(lost)")).unwrap();
    assert!(lost.contains("X (lost)") && lost.contains('╌'), "{lost}");
    assert!(!lost.contains('►'));
    let retrans = out.lines().find(|l| l.contains("[retransmission]"));
    assert!(retrans.is_some(), "{out}");

    let mut d = Diagram::new("", "client", "server");
    d.rows.push(Row::Segment(SegmentRow::new(
        0,
        Side::Left,
        TcpFlags::SYN,
        1,
        0,
    )));
    d.rows.push(Row::Segment(SegmentRow::new(
        5,
        Side::Right,
        TcpFlags::RST | TcpFlags::ACK,
        0,
        2,
    )));
    let mut lost_back = SegmentRow::new(9, Side::Right, TcpFlags::ACK, 0, 2);
    lost_back.lost = true;
    d.rows.push(Row::Segment(lost_back));
    let out = plain(&d);
    let rst = out.lines().find(|l| l.contains("RST+ACK")).unwrap();
    assert!(
        rst.contains("◄═") && rst.contains("seq=0 ack=1 win=0"),
        "{rst}"
    );
    let lost = out.lines().find(|l| l.contains("(lost)")).unwrap();
    assert!(lost.contains("(lost) X╌"), "{lost}");
}

#[test]
fn text_colour_is_optional() {
    let d = classic();
    assert!(!plain(&d).contains('\x1b'));
    let coloured = render_text(
        &d,
        &RenderOptions {
            color: true,
            ..RenderOptions::default()
        },
    );
    assert!(coloured.contains("\x1b[32m"), "SYN green");
    assert!(coloured.contains("\x1b[33m"), "FIN yellow");
    assert!(coloured.contains("\x1b[36m"), "data cyan");
    assert!(
        coloured.contains("\x1b[1mESTABLISHED\x1b[0m"),
        "states bold"
    );
    // Without the escapes it is the plain drawing.
    let mut stripped = String::new();
    let mut in_escape = false;
    for c in coloured.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, c) => stripped.push(c),
            (true, _) => {}
        }
    }
    assert_eq!(stripped, plain(&d));
}

#[test]
fn text_survives_hostile_and_wide_text() {
    let mut d = classic();
    d.left = "客户端 client\x1b[31m".into();
    d.title = "tab\there".into();
    d.rows.push(Row::Note {
        time_us: 2_000_000,
        side: Some(Side::Left),
        text: "应用调用 close() 之后".repeat(3),
    });
    d.rows.push(Row::Note {
        time_us: 2_000_000,
        side: None,
        text: "x".repeat(300),
    });
    for w in [0, 10, 100] {
        let out = render_text(
            &d,
            &RenderOptions {
                width: w,
                ..RenderOptions::default()
            },
        );
        assert!(!out.contains('\x1b') && !out.contains('\t'), "{out}");
        assert!(out.contains("客户端"));
    }
    // Long states and notes on the right.
    d.rows
        .push(state(3_000_000, Side::Right, &"VERY-LONG-STATE-".repeat(4)));
    d.rows.push(Row::Note {
        time_us: 3_000_000,
        side: Some(Side::Right),
        text: "note ".repeat(40),
    });
    for w in [0, 50, 1000] {
        let out = render_text(
            &d,
            &RenderOptions {
                width: w,
                ..RenderOptions::default()
            },
        );
        assert!(out.contains("VERY-LONG-STATE-"));
        let _ = render_svg(&d, &RenderOptions::default());
    }
    // An empty diagram still draws.
    let empty = plain(&Diagram::new("", "", ""));
    assert!(empty.contains('│'));
}

#[test]
fn svg_is_well_formed_and_escaped() {
    let mut d = classic();
    d.left = "client <\"&'>".into();
    d.rows.push(Row::Note {
        time_us: 2_000_000,
        side: Some(Side::Right),
        text: "bell \x07 & <b>".into(),
    });
    for color in [true, false] {
        let svg = render_svg(
            &d,
            &RenderOptions {
                color,
                ..RenderOptions::default()
            },
        );
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                n.descendants()
                    .filter(|t| t.is_text())
                    .filter_map(|t| t.text())
                    .collect()
            })
            .collect();
        assert!(texts.iter().any(|t| t == "client <\"&'>"), "{texts:?}");
        assert!(
            texts.iter().any(|t| t == "bell \u{FFFD} & <b>"),
            "{texts:?}"
        );
        assert!(texts
            .iter()
            .any(|t| t == "SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7>"));
        assert!(texts.iter().any(|t| t == "(lost)"));
        assert!(texts
            .iter()
            .any(|t| t == "SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 7> [retransmission]"));
        for s in [
            "SYN-SENT",
            "SYN-RECEIVED",
            "TIME-WAIT",
            "CLOSE-WAIT",
            "LAST-ACK",
        ] {
            assert!(texts.iter().any(|t| t == s), "{s}");
        }
        // No external resources.
        assert!(!svg.contains("href"), "{svg}");
        // One arrow line per delivered segment carries an arrowhead; the lost one does not.
        let heads = doc
            .descendants()
            .filter(|n| n.has_tag_name("line") && n.attribute("marker-end").is_some())
            .count();
        assert_eq!(
            heads,
            d.segments().filter(|s| !s.lost).count() + 5,
            "+5 legend samples"
        );
    }
}

#[test]
fn svg_arrows_slope_to_their_arrival() {
    let d = classic();
    let svg = render_svg(&d, &RenderOptions::default());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("line") && n.attribute("stroke-width") != Some("1.5"))
        .filter(|n| n.attribute("stroke-dasharray") != Some("2 2"))
        .map(|n| {
            let f = |a| n.attribute(a).unwrap().parse::<f64>().unwrap();
            (f("y1"), f("y2"))
        })
        .collect();
    assert!(arrows.len() >= d.segments().count());
    for (y1, y2) in arrows.iter().take(d.segments().count()) {
        assert!(y2 > y1, "{y1} -> {y2}");
    }
}

#[test]
fn wrap_breaks_at_spaces_and_cuts_long_words() {
    assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
    assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    assert_eq!(wrap("", 4), vec![""]);
    assert_eq!(wrap("客户端", 1), vec!["客", "户", "端"]);
}

#[test]
fn times_use_enough_decimals() {
    assert_eq!(format_time(1_010_000, 3), "1.010s");
    assert_eq!(format_time(465, 6), "0.000465s");
    let d = classic();
    assert_eq!(time_decimals(&d), 3);
}

/// Random diagrams (times out of order, arrivals before sends, odd flags, long and wide text)
/// never make a renderer panic, the text keeps its lifelines aligned and the SVG stays valid XML.
#[test]
fn random_diagrams_render() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    let words = [
        "SYN-SENT",
        "ESTABLISHED",
        "客户端",
        "a & b <c>",
        "",
        "x y z w v u t s r q p",
    ];
    for round in 0..300 {
        let mut d = Diagram::new(words[next(6) as usize], words[next(6) as usize], "server");
        for _ in 0..next(30) {
            let side = if next(2) == 0 {
                Side::Left
            } else {
                Side::Right
            };
            let t = next(3_000_000);
            d.rows.push(match next(4) {
                0 => state(t, side, words[next(6) as usize]),
                1 => Row::Note {
                    time_us: t,
                    side: [None, Some(Side::Left), Some(Side::Right)][next(3) as usize],
                    text: words[next(6) as usize].repeat(next(4) as usize),
                },
                _ => {
                    let mut s = SegmentRow::new(
                        t,
                        side,
                        TcpFlags(next(256) as u8),
                        next(u64::from(u32::MAX)) as u32,
                        next(u64::from(u32::MAX)) as u32,
                    );
                    s.len = next(70_000) as u32;
                    s.lost = next(4) == 0;
                    s.arrival_us = [None, Some(next(4_000_000))][next(2) as usize];
                    s.note = (next(2) == 0).then(|| "retransmission".to_string());
                    if next(3) == 0 {
                        s.options = syn_options();
                        s.options.sack.push(SackBlock { left: 1, right: 9 });
                    }
                    Row::Segment(s)
                }
            });
        }
        let opts = RenderOptions {
            absolute: next(2) == 0,
            color: next(2) == 0,
            width: next(200) as usize,
        };
        let text = render_text(
            &d,
            &RenderOptions {
                color: false,
                ..opts.clone()
            },
        );
        let mut bars: Option<usize> = None;
        for line in text.lines() {
            if let Some(&first) = bar_columns(line).first() {
                assert_eq!(*bars.get_or_insert(first), first, "round {round}:\n{text}");
            }
        }
        let _ = render_text(&d, &opts);
        let svg = render_svg(&d, &opts);
        if let Err(e) = roxmltree::Document::parse(&svg) {
            panic!("round {round}: {e}\n{svg}");
        }
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "round {round}:\n{svg}"
        );
    }
}
