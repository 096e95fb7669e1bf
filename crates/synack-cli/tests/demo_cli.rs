//! `synack demo` as a user runs it: the scenario list, single scenarios, the whole tour, SVG and
//! pcap output (checked with tshark when it is installed; CI installs it), and bad input.

use std::path::PathBuf;
use std::process::Command;

const REQUIRED: &[&str] = &[
    "handshake",
    "data-on-third-ack",
    "old-duplicate-syn",
    "synack-retransmit",
    "backlog-full",
    "simultaneous-open",
    "close",
    "half-close",
    "lost-fin-ack",
    "lost-final-ack",
    "time-wait-protects",
    "simultaneous-close",
    "retransmission",
    "sliding-window",
    "zero-window",
];

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run synack")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-demo-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn list_names_every_required_scenario_one_per_line() {
    let out = synack(&["demo", "--list"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in REQUIRED {
        assert!(names.contains(name), "missing scenario {name} in:\n{text}");
    }
}

#[test]
fn close_draws_the_states_and_numbers_of_the_notes() {
    let out = synack(&["demo", "close", "--color", "never"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for state in [
        "SYN-SENT",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "CLOSE-WAIT",
        "FIN-WAIT-2",
        "LAST-ACK",
        "TIME-WAIT",
        "CLOSED",
    ] {
        assert!(text.contains(state), "{state} missing:\n{text}");
    }
    // Relative numbers: the SYN is seq=0, the SYN+ACK acknowledges it with ack=1, and the
    // client's FIN (no data sent) is seq=1 and is acknowledged with ack=2.
    assert!(text.contains("SYN seq=0"), "{text}");
    assert!(text.contains("SYN+ACK seq=0 ack=1"), "{text}");
    assert!(text.contains("FIN+ACK seq=1 ack=1"), "{text}");
    assert!(text.contains("ack=2"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when piped");
    // TIME-WAIT ends 60 s after the last ACK.
    assert!(text.contains("60.6"), "{text}");
}

#[test]
fn absolute_numbers_on_request() {
    let rel = stdout(&synack(&["demo", "handshake", "--color", "never"]));
    let abs = stdout(&synack(&[
        "demo",
        "handshake",
        "--color",
        "never",
        "--absolute",
    ]));
    assert!(rel.contains("SYN seq=0 "));
    assert!(!abs.contains("SYN seq=0 "), "{abs}");
}

#[test]
fn the_whole_tour_runs_every_scenario() {
    let out = synack(&["demo", "--color", "never"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for name in REQUIRED {
        assert!(
            text.contains(&format!("synack demo {name} ")),
            "{name} not in the tour"
        );
    }
}

#[test]
fn unknown_scenario_is_a_one_line_error() {
    let out = synack(&["demo", "no-such-thing"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown scenario 'no-such-thing'"), "{err}");
}

#[test]
fn svg_and_pcap_files_per_scenario() {
    let dir = scratch("files");
    let d = dir.to_str().expect("utf-8 temp dir");
    let out = synack(&["demo", "--svg", d, "--pcap", d, "--color", "never"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in REQUIRED {
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).expect("svg");
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{name}"
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        let pcap = std::fs::read(dir.join(format!("{name}.pcap"))).expect("pcap");
        // Classic pcap, microsecond magic, LINKTYPE_RAW (101).
        assert_eq!(&pcap[..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes(pcap[20..24].try_into().unwrap()), 101);
        assert!(pcap.len() > 24 + 16 + 40, "{name} has packets");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// tshark (Wireshark's dissectors) must find no malformed packet and only good checksums in the
/// demo's captures. CI installs tshark; elsewhere the test says why it did not run.
#[test]
fn tshark_finds_the_close_capture_clean() {
    let have_tshark = Command::new("tshark").arg("--version").output().is_ok();
    if !have_tshark {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: tshark is not installed");
        return;
    }
    let dir = scratch("tshark");
    let d = dir.to_str().expect("utf-8 temp dir");
    for name in ["close", "half-close", "old-duplicate-syn"] {
        let out = synack(&["demo", name, "--pcap", d, "--color", "never"]);
        assert!(out.status.success());
        let file = dir.join(format!("{name}.pcap"));
        let file = file.to_str().expect("utf-8");
        let fields = Command::new("tshark")
            .args([
                "-n",
                "-r",
                file,
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "ip.checksum.status",
                "-e",
                "tcp.checksum.status",
                "-e",
                "_ws.malformed",
            ])
            .output()
            .expect("run tshark");
        assert!(
            fields.status.success(),
            "{}",
            String::from_utf8_lossy(&fields.stderr)
        );
        let text = String::from_utf8_lossy(&fields.stdout);
        let mut frames = 0;
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            frames += 1;
            // 1 = good (Wireshark's PROTO_CHECKSUM_E_GOOD).
            assert_eq!(
                cols.get(1).copied(),
                Some("1"),
                "{name}: IP checksum: {line}"
            );
            assert_eq!(
                cols.get(2).copied(),
                Some("1"),
                "{name}: TCP checksum: {line}"
            );
            assert!(
                cols.get(3).is_none_or(|m| m.is_empty()),
                "{name}: malformed: {line}"
            );
        }
        assert!(frames >= 6, "{name}: {frames} frames");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
