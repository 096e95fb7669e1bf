//! `synack-wire`: the wire format of the synack TCP/IP stack.
//!
//! Typed, zero-copy views over byte buffers (`TcpPacket<T: AsRef<[u8]>>`, `Ipv4Packet<T>`, ...) beside
//! plain `Repr` values that can be parsed from and emitted into buffers.  Every byte that comes from
//! the network is untrusted: parsing never panics and returns a typed [`Error`] instead.
//!
//! RFCs implemented here:
//! - RFC 791 (IPv4 header; options are skipped, fragments are rejected),
//! - RFC 8200 §4 (IPv6 header and extension-header chain),
//! - RFC 9293 §3.1-§3.2 (TCP header, options EOL/NOP/MSS), RFC 7323 §2-§3 (window scale, timestamps),
//!   RFC 2018 (SACK-permitted and SACK blocks),
//! - RFC 1071 / RFC 1624 (Internet checksum) with the RFC 9293 §3.1 and RFC 8200 §8.1 pseudo-headers,
//! - RFC 792 and RFC 4443 (ICMP and ICMPv6 basics: echo, destination unreachable, packet too big).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod tcp;

pub use tcp::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};
