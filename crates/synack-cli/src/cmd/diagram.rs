//! `synack diagram FILE.pcap`: a capture drawn as a sequence diagram.

use std::path::PathBuf;

use super::{text_width, write_stdout, CmdResult, ColorChoice};
use crate::diagram::{render_svg, render_text, RenderOptions};
use crate::pcap_diagram::diagram_from_pcap_stream;

/// Arguments of `synack diagram`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Draw one TCP connection of a pcap capture as a two-column sequence diagram: the \
                  client's lifeline on the left, the server's on the right, an arrow per segment \
                  labelled with its flags and sequence numbers (relative to each side's ISN, as \
                  Wireshark shows them), and each side's state as it changes (inferred from the \
                  segments). Reads classic pcap; convert pcapng with `editcap -F pcap`."
)]
pub struct Args {
    /// The capture to draw (classic pcap: Ethernet, Linux cooked, loopback or raw IP).
    #[arg(value_name = "FILE.pcap")]
    pub file: PathBuf,
    /// Also write the diagram as a standalone SVG picture to this file.
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Show sequence and acknowledgment numbers as on the wire, not relative to the ISNs.
    #[arg(long)]
    pub absolute: bool,
    /// Which TCP connection to draw: the Nth 4-tuple in order of first appearance, from 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stream: usize,
    /// When to use colour in the terminal (auto: when stdout is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Width to fit the text diagram in [default: $COLUMNS, else 100].
    #[arg(long, value_name = "COLUMNS")]
    pub width: Option<usize>,
}

/// Runs `synack diagram`.
pub fn run(args: &Args) -> CmdResult {
    let diagram = diagram_from_pcap_stream(&args.file, args.stream)?;
    let opts = RenderOptions {
        absolute: args.absolute,
        color: args.color.for_stdout(),
        width: text_width(args.width),
    };
    if let Some(out) = &args.svg {
        let svg = render_svg(
            &diagram,
            &RenderOptions {
                color: true,
                ..opts.clone()
            },
        );
        std::fs::write(out, svg).map_err(|e| {
            format!(
                "cannot write '{}': {}",
                out.display(),
                crate::io_error_text(&e)
            )
        })?;
    }
    write_stdout(&render_text(&diagram, &opts))
}
