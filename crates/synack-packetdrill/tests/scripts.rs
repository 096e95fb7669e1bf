//! packetdrill scripts run through the shared object's C ABI by a re-enactment of packetdrill's
//! shared-object mode (see `pdrun`).

mod pdrun;

use std::path::{Path, PathBuf};

use pdrun::{Config, Outcome};

fn scripts_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pkt"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs every script of `dir`; returns the report lines of those that did not pass.
fn run_all(dir: &Path, cfg: &Config) -> (usize, Vec<String>, Vec<String>) {
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    for s in scripts_in(dir) {
        let text = std::fs::read_to_string(&s).unwrap();
        let outcome = if cfg.sysctl_dir.is_some() {
            // Each script in a namespace of its own, where its sysctl commands may be carried
            // out without touching the host.
            let c = cfg.clone();
            synack::netns::run(move || pdrun::run(&text, &c)).expect("network namespace")
        } else {
            pdrun::run(&text, cfg)
        };
        match outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed(m) => failed.push(format!("FAIL {}: {m}", s.display())),
            Outcome::Skipped(m) => skipped.push(format!("SKIP {}: {m}", s.display())),
        }
    }
    (passed, failed, skipped)
}

/// The repository's suite (`tests/scripts/`, written for `synack-script`'s engine defaults),
/// run through the shared object configured with those defaults.
#[test]
fn repository_suite_through_the_shared_object() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts");
    let cfg = Config {
        so_flags: "local_ip=192.168.0.1 tcp_rmem=4096,131072,6291456 \
                   tcp_wmem=4096,16384,4194304 syn_retries=6 sysctls=0"
            .into(),
        local_ip: "192.168.0.1".parse().unwrap(),
        verbose: std::env::var_os("PDRUN_VERBOSE").is_some(),
        ..Config::default()
    };
    let (passed, failed, skipped) = run_all(&dir, &cfg);
    for l in failed.iter().chain(&skipped) {
        eprintln!("{l}");
    }
    eprintln!(
        "{passed} passed, {} failed, {} skipped",
        failed.len(),
        skipped.len()
    );
    assert!(failed.is_empty(), "{} scripts failed", failed.len());
}

/// This crate's scripts (`tests/scripts/`), written for Linux with packetdrill's defaults
/// (`defaults.sh`), run through the shared object's built-in defaults, which are those, whatever
/// the machine's sysctls.
#[test]
fn own_scripts_through_the_shared_object() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let cfg = Config {
        so_flags: "local_ip=192.168.0.2 sysctls=0".into(),
        verbose: std::env::var_os("PDRUN_VERBOSE").is_some(),
        ..Config::default()
    };
    let (passed, failed, skipped) = run_all(&dir, &cfg);
    for l in failed.iter().chain(&skipped) {
        eprintln!("{l}");
    }
    eprintln!(
        "{passed} passed, {} failed, {} skipped",
        failed.len(),
        skipped.len()
    );
    assert!(passed >= 10, "only {passed} scripts passed");
    assert!(failed.is_empty() && skipped.is_empty());
}

/// Scripts of a directory named by `SYNACK_PD_SCRIPTS` (for instance upstream packetdrill's),
/// run with the shared object's defaults and the flags `SYNACK_PD_FLAGS` adds; nothing when
/// unset.
#[test]
fn scripts_named_by_the_environment() {
    let Some(dir) = std::env::var_os("SYNACK_PD_SCRIPTS") else {
        return;
    };
    // Where a network namespace can be made, the scripts' sysctl commands are carried out in it
    // (and the shared object follows them, as the kernel would); elsewhere they are skipped.
    let netns = synack::netns::run(|| ()).is_ok();
    if !netns {
        eprintln!("no network namespace (needs root): the scripts' sysctl commands are skipped");
    }
    // SYNACK_PD_FLAGS adds flags (`verbose=1`, say).
    let extra = std::env::var("SYNACK_PD_FLAGS").unwrap_or_default();
    let cfg = Config {
        so_flags: if netns {
            format!("local_ip=192.168.0.2 {extra}")
        } else {
            format!("local_ip=192.168.0.2 sysctls=0 {extra}")
        },
        verbose: std::env::var_os("PDRUN_VERBOSE").is_some(),
        sysctl_dir: netns.then(|| PathBuf::from(&dir)),
        ..Config::default()
    };
    let (passed, failed, skipped) = run_all(Path::new(&dir), &cfg);
    for l in failed.iter().chain(&skipped) {
        eprintln!("{l}");
    }
    eprintln!(
        "{passed} passed, {} failed, {} skipped",
        failed.len(),
        skipped.len()
    );
}

/// The harness reads a script's shell commands for the sysctls they set, in the forms
/// packetdrill's Linux suite uses.
#[test]
fn sysctl_commands_are_read_as_the_shell_would_run_them() {
    let dir = std::env::temp_dir().join(format!("synack-pdrun-sysctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("defaults.sh"),
        "#!/bin/bash\nip tcp_metrics flush all > /dev/null 2>&1\n\
         sysctl -q net.ipv4.tcp_rmem=\"4096 540000 $((15*1024*1024))\"\n\
         sysctl -q kernel.panic=1\nsysctl -q net.ipv4.tcp_sack=1\n",
    )
    .unwrap();
    let text = "../common/defaults.sh\n\
                sysctl -q net.ipv4.tcp_rmem=\"4096 131072 $((32*1024*1024))\"\n\
                ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_slow_start_after_idle=1 \\\n\
                \t/proc/sys/net/ipv4/tcp_min_tso_segs=10; sysctl -e -q net/core/wmem_max=8";
    let got = pdrun::sysctl_assignments(text, &dir);
    let p = |k: &str| format!("/proc/sys/net/{k}");
    assert_eq!(
        got,
        vec![
            (p("ipv4/tcp_rmem"), "4096\t540000\t15728640".to_string()),
            (p("ipv4/tcp_sack"), "1".to_string()),
            (p("ipv4/tcp_rmem"), "4096\t131072\t33554432".to_string()),
            (p("ipv4/tcp_slow_start_after_idle"), "1".to_string()),
            (p("ipv4/tcp_min_tso_segs"), "10".to_string()),
            (p("core/wmem_max"), "8".to_string()),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
