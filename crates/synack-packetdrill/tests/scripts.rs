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
        match pdrun::run(&text, cfg) {
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
                   tcp_wmem=4096,16384,4194304 syn_retries=6"
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

/// This crate's scripts (`tests/scripts/`), written for Linux with packetdrill's defaults, run
/// through the shared object's defaults as the command of the crate documentation runs them.
#[test]
fn own_scripts_through_the_shared_object() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let cfg = Config {
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
/// run with the shared object's defaults; nothing when unset.
#[test]
fn scripts_named_by_the_environment() {
    let Some(dir) = std::env::var_os("SYNACK_PD_SCRIPTS") else {
        return;
    };
    let cfg = Config {
        verbose: std::env::var_os("PDRUN_VERBOSE").is_some(),
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
