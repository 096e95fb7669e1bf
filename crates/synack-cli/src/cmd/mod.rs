//! The subcommands, one module each, and what they share.

pub mod connect;
pub mod demo;
pub mod diagram;
mod netargs;
pub mod script;
pub mod serve;
pub mod sim;

use std::io::{self, IsTerminal, Write};

/// How a subcommand failed.
#[derive(Debug)]
pub enum CliError {
    /// Something the user should hear about; the message is one line, without the `synack: error:`
    /// prefix.
    Failed(String),
    /// stdout was closed early (`synack ... | head`): stop quietly.
    BrokenPipe,
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::Failed(message)
    }
}

/// What a subcommand returns.
pub type CmdResult = Result<(), CliError>;

/// Writes `text` to stdout, turning a closed pipe into [`CliError::BrokenPipe`].
pub fn write_stdout(text: &str) -> CmdResult {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::Failed(format!(
            "cannot write to stdout: {}",
            crate::io_error_text(&e)
        ))),
    }
}

/// The `--color` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour what goes to stdout.
    pub fn for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                !no_color && io::stdout().is_terminal()
            }
        }
    }
}

/// The width to draw text in: `explicit`, else `$COLUMNS`, else the width of the terminal stdout
/// is, else 100.
pub fn text_width(explicit: Option<usize>) -> usize {
    explicit
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .or_else(|| {
            let (terminal_size::Width(w), _) = terminal_size::terminal_size_of(io::stdout())?;
            Some(usize::from(w))
        })
        .filter(|&w| w > 0)
        .unwrap_or(100)
}
