//! `synack`: the command-line face of the synack TCP/IP stack.
//!
//! Each subcommand lives in its own module under `src/cmd/` and exposes an `Args` type (clap's
//! derive) and a `run` function returning [`cmd::CmdResult`]. Errors are reported here, as one
//! line on stderr (`synack: error: ...`) and exit code 1; clap's usage errors exit with 2.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

// Lets subcommand modules say `crate::diagram::...`.
#[allow(unused_imports)]
pub(crate) use synack_cli::{demo, diagram, io_error_text, pcap_diagram};

/// synack: a userspace TCP/IP stack, and tools to watch TCP at work.
#[derive(Debug, Parser)]
#[command(name = "synack", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tour the TCP lifecycle: handshake, close, TIME-WAIT, retransmission, drawn step by step.
    Demo(cmd::demo::Args),
    /// Draw a TCP connection from a pcap capture as a sequence diagram.
    Diagram(cmd::diagram::Args),
    /// Run packetdrill scripts against the engine in virtual time.
    Script(cmd::script::Args),
    /// Serve TCP from synack on a TUN interface (echo, discard, http, source) for the kernel.
    Serve(cmd::serve::Args),
    /// Connect from synack on a TUN interface to a server, move bytes, print SHA-256 and rate.
    Connect(cmd::connect::Args),
    /// Run a bulk transfer between two hosts over a simulated, impaired link, and check it.
    Sim(cmd::sim::Args),
}

fn main() -> ExitCode {
    // A bug must not greet the user with a backtrace: one line, like every other error.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "synack: internal error (please report it): {info}"
        );
    }));
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Diagram(args) => cmd::diagram::run(args),
        Command::Script(args) => cmd::script::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Connect(args) => cmd::connect::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    };
    match result {
        Ok(()) | Err(cmd::CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(cmd::CliError::Failed(message)) => {
            let _ = writeln!(std::io::stderr(), "synack: error: {message}");
            ExitCode::from(1)
        }
    }
}
