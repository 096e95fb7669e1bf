//! Behaviour of the interpreter itself: outcomes, messages with line numbers, timing tolerance,
//! wildcards, aggregation of segments, timestamp mapping, blocking calls, skipped scripts.

use synack_script::{run_source, run_source_report, RunOptions, ScriptOutcome, Summary};

const SERVER: &str = "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460,nop,wscale 7>
+.1   < . 1:1(0) ack 1 win 257
+0    accept(3, ..., ...) = 4
";

fn run(text: &str) -> ScriptOutcome {
    run_source("test.pkt", text, &RunOptions::default())
}

fn failure(text: &str) -> (u32, String) {
    match run(text) {
        ScriptOutcome::Failed { line, message } => (line, message),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_handshake_passes() {
    assert_eq!(run(SERVER), ScriptOutcome::Passed);
}

#[test]
fn a_wrong_packet_fails_at_its_line_with_both_packets() {
    let (line, msg) = failure(&format!(
        "{SERVER}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 2\n"
    ));
    assert_eq!(line, 10);
    assert!(msg.contains("tcp_ack_seq: expected: 2"), "{msg}");
    assert!(msg.contains("script packet:"), "{msg}");
    assert!(msg.contains("actual packet:"), "{msg}");
    assert!(msg.contains("P. 1:11(10) ack 1"), "{msg}");
}

#[test]
fn a_wrong_return_value_fails_with_expected_and_actual() {
    let (line, msg) = failure(&format!("{SERVER}+0 write(4, ..., 10) = 11\n"));
    assert_eq!(line, 9);
    assert!(msg.contains("Expected result 11 but got 10"), "{msg}");
    let (_, msg) = failure(&format!(
        "{SERVER}+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 accept(3, ..., ...) = -1 EINVAL (x)\n"
    ));
    assert!(
        msg.contains("Expected errno 22 (Invalid argument) but got 11"),
        "{msg}"
    );
}

#[test]
fn timing_uses_tolerance_and_percentage() {
    // The RTO is 300 ms: expecting the retransmission 50 ms early fails (the tolerance is
    // 12.5 % of 250 ms)...
    let base = format!("{SERVER}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n");
    let (_, msg) = failure(&format!("{base}+.25 > P. 1:11(10) ack 1\n"));
    assert!(msg.contains("timing error"), "{msg}");
    // ...passes with --tolerance_usecs=60000 ...
    assert_eq!(
        run(&format!(
            "--tolerance_usecs=60000\n{base}+.25 > P. 1:11(10) ack 1\n"
        )),
        ScriptOutcome::Passed
    );
    // ...and passes when 12.5 % of the time since the last event covers it.
    let later = format!(
        "{SERVER}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+.3 > P. 1:11(10) ack 1\n"
    );
    assert_eq!(
        run(&format!("{later}+.62 > P. 1:11(10) ack 1\n")),
        ScriptOutcome::Passed
    );
}

#[test]
fn star_and_ranges_accept_any_time_in_them() {
    let base = format!("{SERVER}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n");
    assert_eq!(
        run(&format!("{base}* > P. 1:11(10) ack 1\n")),
        ScriptOutcome::Passed
    );
    assert_eq!(
        run(&format!("{base}+.2~+.4 > P. 1:11(10) ack 1\n")),
        ScriptOutcome::Passed
    );
    assert_eq!(
        run(&format!("{base}0.3~0.5 > P. 1:11(10) ack 1\n")),
        ScriptOutcome::Passed
    );
    let (_, msg) = failure(&format!("{base}+.5~+.6 > P. 1:11(10) ack 1\n"));
    assert!(msg.contains("time range"), "{msg}");
}

#[test]
fn option_wildcard_and_window_are_optional() {
    let base = format!("{SERVER}+0 write(4, ..., 10) = 10\n");
    assert_eq!(
        run(&format!("{base}+0 > P. 1:11(10) ack 1 <...>\n")),
        ScriptOutcome::Passed
    );
    let (_, msg) = failure(&format!("{base}+0 > P. 1:11(10) ack 1 <nop,nop,sackOK>\n"));
    assert!(msg.contains("ipv4_total_length"), "{msg}");
    let (_, msg) = failure(&format!("{base}+0 > P. 1:11(10) ack 1 win 1\n"));
    assert!(msg.contains("tcp_window"), "{msg}");
}

#[test]
fn segments_aggregate_into_one_expected_segment() {
    let text = format!("{SERVER}+0 write(4, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1\n");
    assert_eq!(run(&text), ScriptOutcome::Passed);
    let strict = format!("--strict_segments\n{text}");
    let (_, msg) = failure(&strict);
    assert!(msg.contains("payload"), "{msg}");
}

#[test]
fn timestamp_echo_must_name_an_outbound_value() {
    let text = "\
0  socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 5000 ecr 100,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 200 ecr 5000>
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 10) = 10
+0 > P. 1:11(10) ack 1 <nop,nop,TS val 5100 ecr 200>
";
    assert_eq!(run(text), ScriptOutcome::Passed);
    let bad = text.replace("ecr 5000>", "ecr 4999>");
    let (line, msg) = failure(&bad);
    assert_eq!(line, 6);
    assert!(msg.contains("unable to infer live TS ecr"), "{msg}");
    // An echo between outbound values is interpolated with --tcp_ts_ecr_scaled. (The third
    // segment is not the place for it: its TSecr must name a SYN+ACK's TSval exactly, Linux
    // 6.15's TSEcrRejected.)
    let later = text
        .replace(
            "+0 write(4, ..., 10) = 10\n",
            "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 210 ecr 5050>\n+0 write(4, ..., 10) = 10\n",
        )
        .replace("ecr 200>\n", "ecr 210>\n");
    let (line, msg) = failure(&later);
    assert_eq!(line, 8);
    assert!(msg.contains("unable to infer live TS ecr"), "{msg}");
    let scaled = format!("--tcp_ts_ecr_scaled\n{later}");
    assert_eq!(run(&scaled), ScriptOutcome::Passed);
}

#[test]
fn blocking_calls_return_later_and_their_end_time_is_checked() {
    let ok = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0...0.2 accept(3, ..., ...) = 4
+.1 < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <...>
+.1 < . 1:1(0) ack 1 win 257
";
    assert_eq!(run(ok), ScriptOutcome::Passed);
    let (line, msg) = failure(&ok.replace("+0...0.2 accept", "+0...0.5 accept"));
    assert_eq!(line, 4);
    assert!(msg.contains("system call return"), "{msg}");
    let never = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n\
                 +0 listen(3, 1) = 0\n+0...1 accept(3, ..., ...) = 4\n";
    let (line, msg) = failure(never);
    assert_eq!(line, 4);
    assert!(msg.contains("blocking system call"), "{msg}");
}

#[test]
fn a_call_that_would_block_forever_fails_clearly() {
    let (line, msg) = failure(&format!("{SERVER}+0 read(4, ..., 10) = 10\n"));
    assert_eq!(line, 9);
    assert!(msg.contains("blocks"), "{msg}");
}

#[test]
fn code_blocks_skip_the_script() {
    let text = format!("{SERVER}+0 %{{ assert tcpi_rto == 300000 }}%\n");
    match run(&text) {
        ScriptOutcome::Skipped { reason } => assert!(reason.contains("line 9"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_are_ignored_and_noted() {
    let text = format!("`sysctl -q net.ipv4.tcp_sack=1`\n{SERVER}+0 `echo hi`\n");
    let opts = RunOptions {
        verbose: true,
        ..RunOptions::default()
    };
    let report = run_source_report("t.pkt", &text, &opts);
    assert_eq!(report.outcome, ScriptOutcome::Passed);
    assert!(report
        .log
        .iter()
        .any(|l| l.contains("shell command ignored")));
    assert!(report.log.iter().any(|l| l.contains("outbound sniffed")));
}

#[test]
fn script_errors_have_line_numbers() {
    let (line, msg) =
        failure("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\n+0 frobnicate(3) = 0\n");
    assert_eq!(line, 3);
    assert!(msg.contains("Unknown system call"), "{msg}");
    let (line, msg) = failure("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(\n");
    assert_eq!(line, 2);
    assert!(msg.contains("parse error"), "{msg}");
    let (line, msg) = failure("+1 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    assert_eq!(line, 1);
    assert!(msg.contains("first event should be at time 0"), "{msg}");
    let (line, msg) = failure("--no_such_option=1\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    assert_eq!(line, 1);
    assert!(msg.contains("unknown"), "{msg}");
    let (line, _) =
        failure("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n2 close(3) = 0\n1 close(3) = 0\n");
    assert_eq!(line, 3);
}

#[test]
fn a_missing_packet_times_out() {
    let (line, msg) = failure(&format!("{SERVER}+0 > P. 1:11(10) ack 1\n"));
    assert_eq!(line, 9);
    assert!(msg.contains("Timed out waiting for packet"), "{msg}");
}

#[test]
fn summary_ends_with_totals() {
    let mut s = Summary::default();
    s.results.push(("a.pkt".into(), ScriptOutcome::Passed));
    s.results.push((
        "b.pkt".into(),
        ScriptOutcome::Failed {
            line: 3,
            message: "boom".into(),
        },
    ));
    s.results.push((
        "c.pkt".into(),
        ScriptOutcome::Skipped {
            reason: "code".into(),
        },
    ));
    let text = s.to_string();
    assert!(text.ends_with("1 passed, 1 failed, 1 skipped"), "{text}");
    assert!(text.contains("FAIL b.pkt:3: boom"), "{text}");
    assert!(!s.ok());
}

/// Corrupted scripts never panic: every byte flip of a few scripts gives some outcome.
#[test]
fn corrupted_scripts_never_panic() {
    let sources = [
        SERVER.to_string(),
        format!("{SERVER}+0 write(4, ..., 3000) = 3000\n+0 > P. 1:3001(3000) ack 1 <...>\n"),
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0...0.1 connect(3, ..., ...) = 0\n\
         +0 > S 0:0(0) <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>\n\
         +0 < S. 0:0(0) ack 1 win 100 <mss 1000,sackOK,TS val 5 ecr 1,nop,wscale 2>\n\
         +0 > . 1:1(0) ack 1 <nop,nop,TS val 1 ecr 5>\n\
         +0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"
            .to_string(),
    ];
    let replacements = [
        b'9', b'-', b'.', b'<', b'>', b'(', b' ', b'~', b'*', b'x', b'\n',
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for src in &sources {
        let bytes = src.as_bytes();
        for _ in 0..150 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pos = (seed % bytes.len() as u64) as usize;
            let with = replacements[(seed >> 32) as usize % replacements.len()];
            let mut mutated = bytes.to_vec();
            mutated[pos] = with;
            let text = String::from_utf8_lossy(&mutated).into_owned();
            let _ = run(&text);
        }
    }
}
