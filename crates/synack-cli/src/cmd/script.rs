//! `synack script FILE...`: packetdrill scripts run against the engine in virtual time.

use std::io::Write as _;
use std::path::PathBuf;

use super::{CliError, CmdResult};

/// Arguments of `synack script`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run packetdrill scripts (.pkt) against synack's TCP engine in virtual time, one \
                  socket under test per script as packetdrill does: `<` lines are injected, `>` \
                  lines must be sent by synack within the timing tolerance, system calls must \
                  return what the script says. Directories are searched for .pkt files. Ends with \
                  the line `N passed, N failed, N skipped`; exits 1 when any script failed. \
                  Scripts with %{ python }% blocks are skipped, never passed."
)]
pub struct Args {
    /// Scripts, or directories of scripts, to run.
    #[arg(value_name = "FILE.pkt|DIR", required = true)]
    pub paths: Vec<PathBuf>,
    /// Print a trace of every packet, system call and state change.
    #[arg(short, long)]
    pub verbose: bool,
    /// The engine's seed (ISNs, timestamp offsets, ports).
    #[arg(long, default_value_t = synack_script::RunOptions::default().seed)]
    pub seed: u64,
}

/// Runs `synack script`.
pub fn run(args: &Args) -> CmdResult {
    for p in &args.paths {
        if !p.exists() {
            return Err(CliError::Failed(format!(
                "cannot open script '{}': No such file or directory",
                p.display()
            )));
        }
    }
    let opts = synack_script::RunOptions {
        verbose: args.verbose,
        seed: args.seed,
    };
    let mut out = std::io::stdout().lock();
    let summary = synack_script::run_files(&args.paths, &opts, &mut out);
    let _ = out.flush();
    if summary.ok() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {} scripts failed",
            summary.failed(),
            summary.results.len()
        )))
    }
}
