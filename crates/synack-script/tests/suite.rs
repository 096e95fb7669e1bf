//! Runs every packetdrill script of the repository's suite (`tests/scripts/` at the repository
//! root) and fails listing the scripts that did not pass.

use std::path::PathBuf;

use synack_script::{outcome_line, run_script, RunOptions, ScriptOutcome};

#[test]
fn every_script_in_tests_scripts_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pkt"))
        .collect();
    scripts.sort();
    assert!(
        scripts.len() >= 80,
        "expected at least 80 scripts in {}, found {}",
        dir.display(),
        scripts.len()
    );
    let opts = RunOptions::default();
    let mut bad = Vec::new();
    for s in &scripts {
        let outcome = run_script(s, &opts);
        if !matches!(outcome, ScriptOutcome::Passed) {
            bad.push(outcome_line(s, &outcome));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} scripts did not pass:\n{}",
        bad.len(),
        scripts.len(),
        bad.join("\n")
    );
}
