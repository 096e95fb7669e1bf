//! `synack-script`: an interpreter for [packetdrill]'s script language that runs scripts against
//! synack's TCP engine ([`synack_proto::Endpoint`], `Config::default()`, a fixed seed) in virtual
//! time.
//!
//! A script drives one socket under test with system calls, injects the remote side's segments
//! (`<` lines) and checks the segments the engine sends (`>` lines), each at a time:
//!
//! ```text
//! 0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
//! +0  bind(3, ..., ...) = 0
//! +0  listen(3, 1) = 0
//! +0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
//! +0  > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
//! +.1 < . 1:1(0) ack 1 win 257
//! +0  accept(3, ..., ...) = 4
//! ```
//!
//! The language is packetdrill's own (google/packetdrill, `gtests/net/packetdrill/`); this crate
//! is an independent implementation of it:
//! - [`lexer`]: tokens, comments, header options (packetdrill `lexer.l`);
//! - [`parser`]: the grammar (packetdrill `parser.y`);
//! - [`packet`]: building, reading and printing TCP segments (`tcp_packet.c`,
//!   `packet_to_string.c`);
//! - `runtime`: the event loop, times and tolerances, the socket under test and its sequence
//!   number and timestamp mapping, outbound packet matching (`run.c`, `run_packet.c`);
//! - `syscalls`: the system calls (`run_system_call.c`);
//! - [`symbols`]: Linux's values for `SOCK_STREAM`, `EAGAIN`, ... (`symbols_linux.c`).
//!
//! Defaults mirror packetdrill's `config.c`: local address 192.168.0.1, remote 192.0.2.1
//! (IPv6: fd3d:fa7b:d17d::1 and 2001:db8::1), port 8080 for `bind` and `connect`, timing
//! tolerance 4 ms widened to 12.5 % of the time since the previous event.
//!
//! Backquoted shell commands configure Linux and are ignored (noted in verbose output). A script
//! with a `%{ ... }%` code block is reported [`ScriptOutcome::Skipped`], never passed.
//!
//! Not supported (a clear error names the line): UDP and ICMP packet lines, IP-level
//! annotations (`[ect0]`, `tos`, `ttl`, `flowlabel`), encapsulation (`ipv4 a > b:`, GRE, MPLS),
//! fuzzing annotations, `sendmsg`/`recvmsg`/`sendto` with data in `msghdr`, `epoll`, `ioctl`,
//! `MSG_PEEK`, `TCP_INFO`, TCP Fast Open, MD5 and PSP, `--define`d symbols, and the wire
//! client/server modes.
//!
//! [packetdrill]: https://github.com/google/packetdrill
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

pub mod ast;
pub mod lexer;
pub mod packet;
pub mod parser;
mod runtime;
pub mod symbols;
mod syscalls;

/// A syntax error in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line (1-based).
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// How to run scripts.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Collect a trace of every packet, call and engine state change (packetdrill `-v`).
    pub verbose: bool,
    /// The engine's seed (ISNs, timestamp offsets, ports): fixed, so runs repeat exactly.
    pub seed: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            verbose: false,
            seed: 0x5eed_5eed,
        }
    }
}

/// What running one script gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// Every event happened as the script says.
    Passed,
    /// An event did not: the script line and what was expected and seen instead. Parse errors
    /// are failures too.
    Failed {
        /// The script line (1-based; 0 when the file could not be read).
        line: u32,
        /// What went wrong, with the expected and actual packet or return value.
        message: String,
    },
    /// The script uses something this interpreter does not run (`%{ }%` code blocks).
    Skipped {
        /// Why.
        reason: String,
    },
}

impl ScriptOutcome {
    /// True for [`ScriptOutcome::Passed`].
    pub fn is_passed(&self) -> bool {
        matches!(self, ScriptOutcome::Passed)
    }
}

/// The outcome of one script and, in verbose mode, its trace.
#[derive(Clone, Debug)]
pub struct Report {
    /// The outcome.
    pub outcome: ScriptOutcome,
    /// Trace lines (empty unless [`RunOptions::verbose`]).
    pub log: Vec<String>,
}

/// Runs the script at `path`.
pub fn run_script(path: &Path, opts: &RunOptions) -> ScriptOutcome {
    run_script_report(path, opts).outcome
}

/// Runs the script at `path`, returning the trace as well.
pub fn run_script_report(path: &Path, opts: &RunOptions) -> Report {
    match std::fs::read_to_string(path) {
        Ok(text) => run_source_report(&path.display().to_string(), &text, opts),
        Err(e) => Report {
            outcome: ScriptOutcome::Failed {
                line: 0,
                message: format!("cannot read {}: {e}", path.display()),
            },
            log: Vec::new(),
        },
    }
}

/// Runs a script given as text; `name` is used in messages.
pub fn run_source(name: &str, text: &str, opts: &RunOptions) -> ScriptOutcome {
    run_source_report(name, text, opts).outcome
}

/// Runs a script given as text, returning the trace as well.
pub fn run_source_report(name: &str, text: &str, opts: &RunOptions) -> Report {
    let _ = name;
    let script = match parser::parse(text) {
        Ok(s) => s,
        Err(e) => {
            return Report {
                outcome: ScriptOutcome::Failed {
                    line: e.line,
                    message: format!("parse error: {}", e.message),
                },
                log: Vec::new(),
            }
        }
    };
    if let Some(ev) = script
        .events
        .iter()
        .find(|e| matches!(e.action, ast::Action::Code(_)))
    {
        return Report {
            outcome: ScriptOutcome::Skipped {
                reason: format!(
                    "line {}: %{{ ... }}% code blocks (Python assertions on TCP_INFO) are not \
                     supported",
                    ev.line
                ),
            },
            log: Vec::new(),
        };
    }
    let cfg = match runtime::PdConfig::from_options(&script.options) {
        Ok(c) => c,
        Err(f) => {
            return Report {
                outcome: ScriptOutcome::Failed {
                    line: f.line,
                    message: f.message,
                },
                log: Vec::new(),
            }
        }
    };
    let mut runner = runtime::Runner::new(cfg, opts);
    let outcome = match runner.run(&script) {
        Ok(()) => ScriptOutcome::Passed,
        Err(f) => ScriptOutcome::Failed {
            line: f.line,
            message: f.message,
        },
    };
    Report {
        outcome,
        log: runner.log,
    }
}

/// The results of several scripts. Its `Display` lists each script's result and ends with the
/// line `N passed, N failed, N skipped`.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Each script and its outcome, in the order run.
    pub results: Vec<(PathBuf, ScriptOutcome)>,
}

impl Summary {
    /// Scripts that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, ScriptOutcome::Passed))
    }
    /// Scripts that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, ScriptOutcome::Failed { .. }))
    }
    /// Scripts that were skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, ScriptOutcome::Skipped { .. }))
    }
    fn count(&self, f: impl Fn(&ScriptOutcome) -> bool) -> usize {
        self.results.iter().filter(|(_, o)| f(o)).count()
    }
    /// True when no script failed.
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }
    /// The final line: `N passed, N failed, N skipped`.
    pub fn totals(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// One script's result as a line (or lines, for a failure).
pub fn outcome_line(path: &Path, outcome: &ScriptOutcome) -> String {
    match outcome {
        ScriptOutcome::Passed => format!("PASS {}", path.display()),
        ScriptOutcome::Failed { line, message } => {
            format!("FAIL {}:{line}: {message}", path.display())
        }
        ScriptOutcome::Skipped { reason } => format!("SKIP {}: {reason}", path.display()),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, o) in &self.results {
            writeln!(f, "{}", outcome_line(p, o))?;
        }
        write!(f, "{}", self.totals())
    }
}

/// Runs every script (directories are searched for `*.pkt` files, sorted), writing each result
/// (and, verbose, each trace) to `out` as it goes and the totals line last.
pub fn run_files(paths: &[PathBuf], opts: &RunOptions, out: &mut dyn Write) -> Summary {
    let mut summary = Summary::default();
    for path in expand(paths) {
        let report = run_script_report(&path, opts);
        for l in &report.log {
            let _ = writeln!(out, "  {l}");
        }
        let _ = writeln!(out, "{}", outcome_line(&path, &report.outcome));
        summary.results.push((path, report.outcome));
    }
    let _ = writeln!(out, "{}", summary.totals());
    summary
}

fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "pkt"))
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// The `synack script FILE...` command: `args` are the arguments after `script` (`-v` or
/// `--verbose` for traces). Returns the process exit code: 0 when nothing failed.
pub fn cli_main(args: &[String], out: &mut dyn Write) -> i32 {
    let mut opts = RunOptions::default();
    let mut paths = Vec::new();
    for a in args {
        match a.as_str() {
            "-v" | "--verbose" => opts.verbose = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        let _ = writeln!(out, "usage: synack script [-v] FILE.pkt|DIR...");
        return 2;
    }
    let summary = run_files(&paths, &opts, out);
    i32::from(!summary.ok())
}
