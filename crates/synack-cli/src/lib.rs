//! The library half of the `synack` command: sequence diagrams of TCP exchanges ([`diagram`]) and
//! building them from capture files ([`pcap_diagram`]). The binary (`src/main.rs`) holds the
//! subcommands.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod demo;
pub mod diagram;
pub mod pcap_diagram;

/// An I/O error as a user should read it: `No such file or directory`, without the `(os error 2)`
/// that `std` appends.
pub fn io_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}
