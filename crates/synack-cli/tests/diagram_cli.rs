//! `synack diagram` run as a user runs it, on captures of Linux's own TCP.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn synack() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synack"));
    cmd.env_remove("NO_COLOR").env_remove("COLUMNS");
    cmd
}

fn run(args: &[&str]) -> Output {
    synack().args(args).output().expect("run synack")
}

/// A capture from `shared/captures`, or `None` (with a message) when it is not there.
fn capture(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/captures")
        .join(name);
    if path.exists() {
        Some(path.to_string_lossy().into_owned())
    } else {
        eprintln!("skipped: {} is missing", path.display());
        None
    }
}

/// A fresh path in the temporary directory.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synack-cli-test-{}-{name}", std::process::id()))
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// The one line of the output that contains `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    let mut hits = text.lines().filter(|l| l.contains(needle));
    let line = hits
        .next()
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"));
    assert!(
        hits.next().is_none(),
        "several lines with {needle:?} in\n{text}"
    );
    line
}

#[test]
fn http_ipv4_handshake_half_close_and_four_way_close() {
    let Some(pcap) = capture("linux-http-ipv4.pcap") else {
        return;
    };
    let out = run(&["diagram", &pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let text = stdout(&out);
    // Piped: no colour.
    assert!(!text.contains('\x1b'));

    // The header: who is who, and where they start.
    assert!(text.contains("client 10.50.0.1:48980") && text.contains("server 10.50.0.2:8080"));
    let header = line_with(&text, "LISTEN");
    assert!(header.contains("CLOSED"), "{header}");

    // Handshake, with relative numbers and the SYN options.
    let syn = line_with(&text, "SYN seq=0 win=64240");
    assert!(syn.contains("SYN-SENT") && syn.contains('►'), "{syn}");
    assert!(text.contains("<mss 1460,sackOK,TS,wscale 10>"), "{text}");
    let synack = line_with(&text, "SYN+ACK seq=0 ack=1 win=65160");
    assert!(
        synack.contains("SYN-RECEIVED") && synack.contains('◄'),
        "{synack}"
    );
    assert!(synack.contains("ESTABLISHED"), "{synack}");
    let ack = line_with(&text, "ACK seq=1 ack=1 win=63 len=0");
    assert!(ack.trim_end().ends_with("ESTABLISHED"), "{ack}");

    // The client's FIN after its 3,018 bytes: seq 3019 (1 + 3018).
    let fin = line_with(&text, "FIN+ACK seq=3019 ack=1");
    assert!(
        fin.contains("FIN-WAIT-1") && fin.contains("CLOSE-WAIT"),
        "{fin}"
    );
    // Half-close: the server still sends 5,019 bytes, acknowledging the FIN (ack 3020).
    assert!(text.contains("half-close"), "{text}");
    let data = line_with(&text, "ACK seq=1 ack=3020 win=70 len=1448");
    assert!(data.contains("FIN-WAIT-2") && data.contains('◄'), "{data}");
    assert!(
        text.contains("PSH+ACK seq=4345 ack=3020 win=70 len=675"),
        "{text}"
    );
    // The server's FIN (1 + 5019 = 5020) and the last ACK.
    let fin2 = line_with(&text, "FIN+ACK seq=5020 ack=3020");
    assert!(
        fin2.contains("LAST-ACK") && fin2.contains("TIME-WAIT"),
        "{fin2}"
    );
    let last = line_with(&text, "ACK seq=3020 ack=5021");
    assert!(last.trim_end().ends_with("CLOSED"), "{last}");
    assert!(
        text.contains("inferred"),
        "the legend says states are inferred"
    );

    // States appear in the order the notes teach.
    let order = [
        "SYN-SENT",
        "SYN-RECEIVED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "LAST-ACK",
        "TIME-WAIT",
    ];
    // (By line: the server's LAST-ACK and the client's TIME-WAIT share the line of the FIN.)
    let first_line = |s: &str| text.lines().position(|l| l.contains(s)).unwrap();
    let positions: Vec<usize> = order.iter().map(|s| first_line(s)).collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
}

#[test]
fn absolute_numbers_and_colour() {
    let Some(pcap) = capture("linux-http-ipv4.pcap") else {
        return;
    };
    let out = run(&["diagram", &pcap, "--absolute"]);
    let text = stdout(&out);
    assert!(text.contains("SYN seq=706442840 win=64240"), "{text}");
    assert!(
        text.contains("SYN+ACK seq=395043361 ack=706442841"),
        "{text}"
    );
    assert!(
        text.contains("FIN+ACK seq=706445859 ack=395043362"),
        "{text}"
    );

    let coloured = stdout(&run(&["diagram", &pcap, "--color", "always"]));
    assert!(coloured.contains("\x1b[32m"), "SYN in green");
    assert!(
        coloured.contains("\x1b[1mFIN-WAIT-1\x1b[0m"),
        "states in bold"
    );
    let never = stdout(&run(&["diagram", &pcap, "--color=never"]));
    assert!(!never.contains('\x1b'));
    // NO_COLOR is honoured by auto (and stdout is a pipe here anyway).
    let out = synack()
        .args(["diagram", &pcap])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stdout(&out).contains('\x1b'));

    // --width is honoured: every line fits.
    let narrow = stdout(&run(&["diagram", &pcap, "--width", "90"]));
    for line in narrow.lines().filter(|l| l.contains('│')) {
        assert!(line.chars().count() <= 90, "{line}");
    }
}

#[test]
fn svg_is_written_and_well_formed() {
    let Some(pcap) = capture("linux-http-ipv4.pcap") else {
        return;
    };
    let svg_path = temp("http.svg");
    let out = run(&["diagram", &pcap, "--svg", svg_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("FIN-WAIT-2"),
        "the text diagram is printed too"
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let _ = std::fs::remove_file(&svg_path);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    for needle in [
        "SYN seq=0 win=64240 <mss 1460,sackOK,TS,wscale 10>",
        "FIN+ACK seq=3019 ack=1 win=63",
        "CLOSE-WAIT",
        "TIME-WAIT",
    ] {
        assert!(texts.contains(&needle), "{needle:?} not in {texts:?}");
    }

    // An SVG that cannot be written: one line, exit 1.
    let out = run(&["diagram", &pcap, "--svg", "/nonexistent-dir/x.svg"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "synack: error: cannot write '/nonexistent-dir/x.svg': No such file or directory\n"
    );
}

#[test]
fn http_ipv6() {
    let Some(pcap) = capture("linux-http-ipv6.pcap") else {
        return;
    };
    let out = run(&["diagram", &pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("<mss 1440,sackOK,TS,wscale 10>"), "{text}");
    assert!(text.contains("[fd00:50::1]:58578"), "{text}");
    assert!(line_with(&text, "FIN+ACK seq=3019 ack=1").contains("CLOSE-WAIT"));
}

#[test]
fn refused_connection_shows_rst_ack() {
    let Some(pcap) = capture("linux-refused-ipv4.pcap") else {
        return;
    };
    let out = run(&["diagram", &pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rst = line_with(&text, "RST+ACK seq=0 ack=1 win=0");
    assert!(rst.contains('◄') && rst.contains('═'), "{rst}");
    assert!(
        rst.contains("CLOSED") && rst.contains("connection refused"),
        "{rst}"
    );
    assert!(line_with(&text, "SYN seq=0").contains("SYN-SENT"));

    let out = run(&["diagram", &pcap, "--stream", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "synack: error: there is no stream 1: '{pcap}' holds 1 TCP connection (streams 0 to 0)\n"
        )
    );
}

#[test]
fn bad_files_give_one_line_and_exit_1() {
    let out = run(&["diagram", "x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "synack: error: cannot open capture 'x.pcap': No such file or directory\n"
    );

    let garbage = temp("garbage.pcap");
    std::fs::write(&garbage, b"GIF89a this is a picture, not a capture").unwrap();
    let out = run(&["diagram", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "synack: error: cannot read capture '{}': not a pcap file (bad magic 0x47494638)\n",
            garbage.display()
        )
    );

    let pcapng = temp("capture.pcapng");
    std::fs::write(
        &pcapng,
        [
            0x0A, 0x0D, 0x0D, 0x0A, 0x1C, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A,
        ],
    )
    .unwrap();
    let out = run(&["diagram", pcapng.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pcapng") && err.contains("editcap -F pcap"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = run(&["diagram", &std::env::temp_dir().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("synack: error: cannot read capture"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    for f in [garbage, pcapng] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["diagram"][..],
        &["diagram", "x.pcap", "--color", "sometimes"],
        &["diagram", "x.pcap", "--stream", "-1"],
        &["frobnicate"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let help = run(&["diagram", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--svg"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let Some(pcap) = capture("linux-http-ipv4.pcap") else {
        return;
    };
    let mut child = synack()
        .args(["diagram", &pcap])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once, like `| head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}
