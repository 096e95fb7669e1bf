//! `synack demo`: the tour of the seed notes' scenarios, each run in the simulator and drawn.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{text_width, write_stdout, CmdResult, ColorChoice};
use crate::demo::{find, Scenario, SCENARIOS};
use crate::diagram::{render_svg, render_text, RenderOptions};

/// Arguments of `synack demo`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run the scenarios of TCP's connection lifecycle in a simulated network (client \
                  10.0.0.1, server 10.0.0.2, 50 ms each way) and draw each as a sequence diagram: \
                  segments with flags, seq/ack relative to each side's ISN, window and length; \
                  each side's state as it changes; virtual time; lost segments marked. After each \
                  diagram, a few sentences answer the question the notes ask about it. Without a \
                  NAME, runs the whole tour."
)]
pub struct Args {
    /// The scenario to run (see --list); all of them when omitted.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// List the scenarios, one per line, and exit.
    #[arg(long)]
    pub list: bool,
    /// Show sequence and acknowledgment numbers as on the wire, not relative to the ISNs.
    #[arg(long)]
    pub absolute: bool,
    /// Also write one SVG sequence diagram per scenario into this directory.
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
    /// Also write one pcap capture (raw IP) per scenario into this directory.
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// When to use colour in the terminal (auto: when stdout is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Width to fit the text diagrams in [default: $COLUMNS, else 100].
    #[arg(long, value_name = "COLUMNS")]
    pub width: Option<usize>,
}

fn ensure_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create directory '{}': {}",
            dir.display(),
            crate::io_error_text(&e)
        )
    })
}

/// Runs `synack demo`.
pub fn run(args: &Args) -> CmdResult {
    if args.list {
        let width = SCENARIOS.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for s in SCENARIOS {
            let _ = writeln!(
                out,
                "{:width$}  {}  [{}]",
                s.name,
                s.summary,
                s.claims.join(" ")
            );
        }
        return write_stdout(&out);
    }
    let chosen: Vec<&Scenario> = match &args.name {
        Some(name) => vec![find(name).ok_or_else(|| {
            format!("unknown scenario '{name}' (see `synack demo --list` for the names)")
        })?],
        None => SCENARIOS.iter().collect(),
    };
    for dir in [&args.svg, &args.pcap].into_iter().flatten() {
        ensure_dir(dir)?;
    }
    let opts = RenderOptions {
        absolute: args.absolute,
        color: args.color.for_stdout(),
        width: text_width(args.width),
    };
    for (i, scenario) in chosen.iter().enumerate() {
        let run = (scenario.run)();
        let mut text = String::new();
        if i > 0 {
            text.push('\n');
        }
        let rule = "━".repeat(opts.width.clamp(20, 100));
        let _ = writeln!(text, "{rule}");
        let _ = writeln!(
            text,
            "synack demo {} — {} [{}]",
            scenario.name,
            scenario.summary,
            scenario.claims.join(" ")
        );
        let _ = writeln!(text, "{rule}");
        text.push_str(&render_text(&run.diagram, &opts));
        text.push('\n');
        text.push_str(&wrap(&run.explanation, opts.width.clamp(40, 100)));
        text.push('\n');
        write_stdout(&text)?;
        if let Some(dir) = &args.svg {
            let path = dir.join(format!("{}.svg", scenario.name));
            let svg = render_svg(
                &run.diagram,
                &RenderOptions {
                    color: true,
                    ..opts.clone()
                },
            );
            std::fs::write(&path, svg).map_err(|e| {
                format!(
                    "cannot write '{}': {}",
                    path.display(),
                    crate::io_error_text(&e)
                )
            })?;
        }
        if let Some(dir) = &args.pcap {
            let path = dir.join(format!("{}.pcap", scenario.name));
            let file = std::fs::File::create(&path).map_err(|e| {
                format!(
                    "cannot write '{}': {}",
                    path.display(),
                    crate::io_error_text(&e)
                )
            })?;
            run.write_pcap(std::io::BufWriter::new(file)).map_err(|e| {
                format!(
                    "cannot write '{}': {}",
                    path.display(),
                    crate::io_error_text(&e)
                )
            })?;
        }
    }
    Ok(())
}

/// Wraps prose at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if line > 0 && line + 1 + w > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += w;
    }
    out.push('\n');
    out
}
