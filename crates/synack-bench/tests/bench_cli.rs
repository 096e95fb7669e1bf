//! The benchmark binary's argument handling, and a tiny run of each benchmark (no timing is
//! asserted: benchmarks print numbers, tests check that they run).

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack-bench"))
        .args(args)
        .output()
        .expect("run synack-bench")
}

fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat)? + pat.len()..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}

#[test]
fn bad_arguments_give_one_line_errors() {
    for (args, message) in [
        (
            &["lossy", "--loss", "1.5"][..],
            "synack-bench: error: --loss must be at least 0 and below 1, or below 100% (got 1.5)",
        ),
        (
            &["throughput", "--mtu", "100"][..],
            "synack-bench: error: --mtu must be between 576 and 65535 (got 100)",
        ),
        (
            &["throughput", "--bytes", "lots"][..],
            "synack-bench: error: --bytes must be a byte count such as 65536, 64k, 8M or 1G (got lots)",
        ),
        (
            &["lossy", "--loss", "1%", "--cc", "bbr"][..],
            "synack-bench: error: --cc must be cubic or reno (got bbr)",
        ),
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            message,
            "{args:?}"
        );
    }
    // A missing subcommand or required flag is clap's usage error.
    assert_eq!(bench(&[]).status.code(), Some(2));
    assert_eq!(bench(&["lossy"]).status.code(), Some(2));
}

#[test]
fn tiny_runs_print_one_json_line_each() {
    let out = bench(&[
        "throughput",
        "--bytes",
        "256k",
        "--runs",
        "1",
        "--only",
        "synack",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(j.lines().count(), 1, "{j}");
    assert!(field(&j, "synack_gbps").is_some(), "{j}");
    assert_eq!(field(&j, "errors"), Some("[]"), "{j}");

    let out = bench(&[
        "lossy", "--loss", "1%", "--bytes", "128k", "--runs", "1", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(j.lines().count(), 1, "{j}");
    for key in ["synack_mbps", "smoltcp_mbps", "ratio"] {
        assert!(field(&j, key).is_some(), "{key} in {j}");
    }
    assert_eq!(field(&j, "all_intact"), Some("true"), "{j}");
}
