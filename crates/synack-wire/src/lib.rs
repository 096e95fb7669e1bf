//! `synack-wire`: the wire format of the synack TCP/IP stack.
//!
//! Typed, zero-copy views over byte buffers ([`TcpPacket<T: AsRef<[u8]>>`](TcpPacket),
//! [`Ipv4Packet<T>`], [`Ipv6Packet<T>`], ...) beside plain `Repr` values that can be parsed from and
//! emitted into buffers.  Every byte that comes from the network is untrusted: parsing never panics
//! and returns a typed [`Error`] instead.
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use synack_wire::{build_tcp, parse_ip, TcpFlags, TcpRepr, IPPROTO_TCP};
//!
//! let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
//! let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
//! let syn = TcpRepr::new(40000, 80, 1, 0, TcpFlags::SYN, 64240);
//! let datagram = build_tcp(src, dst, 64, &syn).unwrap();
//!
//! let packet = parse_ip(&datagram).unwrap();
//! assert_eq!(packet.protocol, IPPROTO_TCP);
//! let tcp = TcpRepr::parse(packet.payload, packet.ip.src(), packet.ip.dst(), true).unwrap();
//! assert_eq!(tcp, syn);
//! ```
//!
//! RFCs implemented here:
//! - RFC 791 §3.1 (IPv4 header; options are skipped, fragments are rejected) — [`ipv4`],
//! - RFC 8200 §3-§4 (IPv6 header and extension-header chain) — [`ipv6`],
//! - RFC 9293 §3.1-§3.2 (TCP header, options EOL/NOP/MSS), RFC 7323 §2-§3 (window scale,
//!   timestamps), RFC 2018 §2-§3 (SACK-permitted and SACK blocks) — [`tcp`],
//! - RFC 1071 / RFC 1624 (Internet checksum) with the RFC 9293 §3.1 and RFC 8200 §8.1
//!   pseudo-headers — [`checksum`],
//! - RFC 792, RFC 1191 §4 and RFC 4443 §3-§4 (ICMP and ICMPv6: echo, destination unreachable,
//!   fragmentation needed, packet too big, time exceeded, parameter problem) — [`icmpv4`],
//!   [`icmpv6`].
//!
//! TCP options are emitted in exactly the layouts Linux's `tcp_options_write()` produces (SYN
//! `mss, sackOK, TS, nop, wscale`), see [`tcp::options`].
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod checksum;
pub mod error;
mod field;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;

pub use error::Error;
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ip::{
    build_icmpv4, build_icmpv6, build_tcp, build_tcp_gather, build_tcp_gather_into, emit_tcp,
    parse_ip, parse_ip_quoted, IpPacket, IpRepr, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::{
    QuotedTcpHeader, SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps,
};
