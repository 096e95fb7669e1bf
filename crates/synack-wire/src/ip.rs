//! Either IP version: parse a datagram to its upper-layer payload, build TCP and ICMP datagrams.
//!
//! [`parse_ip`] dispatches on the version nibble to the IPv4 (RFC 791 §3.1) or IPv6
//! (RFC 8200 §3-§4) parser, validates the header, rejects fragments and walks IPv6 extension
//! headers, leaving an [`IpPacket`]: the header, the final upper-layer protocol and its bytes.
//! [`parse_ip_quoted`] does the same, leniently, for the datagram an ICMP error quotes
//! (RFC 792, RFC 4443 §3, RFC 5927 §4).  [`build_tcp`], [`build_icmpv4`] and [`build_icmpv6`]
//! make whole datagrams with Linux's header defaults.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::icmpv4::Icmpv4Repr;
use crate::icmpv6::Icmpv6Repr;
use crate::ipv4::{Ipv4Packet, Ipv4Repr, IPV4_HEADER_LEN, IPV4_MAX_DATAGRAM_LEN};
use crate::ipv6::{
    walk_extension_headers, Ipv6Packet, Ipv6Repr, IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD_LEN,
};
use crate::tcp::TcpRepr;
use crate::Error;

/// Protocol number of ICMP (IANA "Assigned Internet Protocol Numbers").
pub const IPPROTO_ICMP: u8 = 1;
/// Protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// Protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// Protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// IPv6 "No Next Header" (RFC 8200 §4.7).
pub const IPPROTO_NONE: u8 = 59;

/// An IPv4 or IPv6 header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// IPv4.
    V4(Ipv4Repr),
    /// IPv6 (the fixed header; extension headers are not kept).
    V6(Ipv6Repr),
}

impl IpRepr {
    /// A header for `payload_len` bytes of `protocol` with Linux's defaults (IPv4: DF set,
    /// identification and DSCP/ECN 0; IPv6: traffic class and flow label 0).
    ///
    /// # Errors
    /// [`Error::AddressFamilyMismatch`] when `src` and `dst` are of different families;
    /// [`Error::TooLarge`] when the datagram would exceed the length field (65,535 bytes in all
    /// for IPv4, 65,535 bytes of payload for IPv6).
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        payload_len: usize,
        hop_limit: u8,
    ) -> Result<IpRepr, Error> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                if payload_len > IPV4_MAX_DATAGRAM_LEN - IPV4_HEADER_LEN {
                    return Err(Error::TooLarge);
                }
                Ok(IpRepr::V4(Ipv4Repr::new(
                    s,
                    d,
                    protocol,
                    payload_len,
                    hop_limit,
                )))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if payload_len > IPV6_MAX_PAYLOAD_LEN {
                    return Err(Error::TooLarge);
                }
                Ok(IpRepr::V6(Ipv6Repr::new(
                    s,
                    d,
                    protocol,
                    payload_len,
                    hop_limit,
                )))
            }
            _ => Err(Error::AddressFamilyMismatch),
        }
    }

    /// The IP version: 4 or 6.
    pub const fn version(&self) -> u8 {
        match self {
            IpRepr::V4(_) => 4,
            IpRepr::V6(_) => 6,
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src),
            IpRepr::V6(r) => IpAddr::V6(r.src),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst),
            IpRepr::V6(r) => IpAddr::V6(r.dst),
        }
    }

    /// TTL (IPv4) or Hop Limit (IPv6).
    pub const fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.ttl,
            IpRepr::V6(r) => r.hop_limit,
        }
    }

    /// The protocol field as on the wire: IPv4 Protocol, or IPv6 Next Header (which may name an
    /// extension header; [`IpPacket::protocol`] is the upper layer after them).
    pub const fn next_header(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// Payload length as the header declares it.
    pub const fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// The header length [`emit`](Self::emit) writes: 20 or 40.
    pub const fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(_) => IPV4_HEADER_LEN,
            IpRepr::V6(_) => IPV6_HEADER_LEN,
        }
    }

    /// Header plus payload (saturating).
    pub const fn buffer_len(&self) -> usize {
        self.header_len().saturating_add(self.payload_len())
    }

    /// Writes the header at the start of `buf` and returns its length; 0 on a caller bug (see
    /// [`Ipv4Repr::emit`] and [`Ipv6Repr::emit`]).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        match self {
            IpRepr::V4(r) => r.emit(buf),
            IpRepr::V6(r) => r.emit(buf),
        }
    }
}

impl From<Ipv4Repr> for IpRepr {
    fn from(r: Ipv4Repr) -> Self {
        IpRepr::V4(r)
    }
}

impl From<Ipv6Repr> for IpRepr {
    fn from(r: Ipv6Repr) -> Self {
        IpRepr::V6(r)
    }
}

/// A parsed IP datagram: the header, and the upper-layer protocol and bytes after any IPv6
/// extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPacket<'a> {
    /// The IP header.
    pub ip: IpRepr,
    /// The upper-layer protocol after extension headers (for IPv4 the Protocol field).
    pub protocol: u8,
    /// The upper-layer bytes (without Ethernet padding or other bytes past the IP length).
    pub payload: &'a [u8],
}

/// Parses an IPv4 or IPv6 datagram, as a TUN device delivers it.
///
/// IPv4: see [`Ipv4Repr::parse`] (lengths, header checksum, fragments).  IPv6: see
/// [`Ipv6Repr::parse`] and [`walk_extension_headers`].  Bytes past the datagram's declared length
/// are ignored.  Never panics, whatever `bytes` holds.
///
/// # Errors
/// [`Error::Truncated`] for an empty buffer, [`Error::UnknownVersion`] for a version nibble that
/// is neither 4 nor 6, and the errors of the parsers above.
pub fn parse_ip(bytes: &[u8]) -> Result<IpPacket<'_>, Error> {
    let first = *bytes.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            let packet = Ipv4Packet::new_unchecked(bytes);
            let repr = Ipv4Repr::parse(&packet)?;
            let payload = bytes
                .get(packet.header_len()..usize::from(packet.total_len()))
                .ok_or(Error::Truncated)?;
            Ok(IpPacket {
                ip: IpRepr::V4(repr),
                protocol: repr.protocol,
                payload,
            })
        }
        6 => {
            let packet = Ipv6Packet::new_unchecked(bytes);
            let repr = Ipv6Repr::parse(&packet)?;
            let payload = bytes
                .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + repr.payload_len)
                .ok_or(Error::Truncated)?;
            let (protocol, payload) = walk_extension_headers(repr.next_header, payload)?;
            Ok(IpPacket {
                ip: IpRepr::V6(repr),
                protocol,
                payload,
            })
        }
        v => Err(Error::UnknownVersion(v)),
    }
}

/// Parses the datagram an ICMP error quotes: its IP header and as much of its payload as the
/// error carries (at least 8 bytes for ICMPv4, RFC 792; as much as fits for ICMPv6,
/// RFC 4443 §2.4 (c)).
///
/// Unlike [`parse_ip`] this accepts a payload cut short of the declared length (the
/// [`IpPacket::payload`] is what is present; [`IpRepr::payload_len`] stays as declared) and does
/// not verify the IPv4 header checksum.  A first fragment (offset 0) is accepted because it
/// holds the transport header; later fragments give [`Error::Fragmented`].
///
/// # Errors
/// [`Error::Truncated`], [`Error::UnknownVersion`], [`Error::BadHeaderLength`],
/// [`Error::BadTotalLength`], [`Error::Fragmented`] and the errors of
/// [`walk_extension_headers`].
pub fn parse_ip_quoted(bytes: &[u8]) -> Result<IpPacket<'_>, Error> {
    let first = *bytes.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            if bytes.len() < IPV4_HEADER_LEN {
                return Err(Error::Truncated);
            }
            let packet = Ipv4Packet::new_unchecked(bytes);
            let header_len = packet.header_len();
            if header_len < IPV4_HEADER_LEN {
                return Err(Error::BadHeaderLength);
            }
            let total_len = usize::from(packet.total_len());
            if total_len < header_len {
                return Err(Error::BadTotalLength);
            }
            if packet.frag_offset() != 0 {
                return Err(Error::Fragmented);
            }
            let end = total_len.min(bytes.len());
            let payload = bytes.get(header_len..end).ok_or(Error::Truncated)?;
            let repr = Ipv4Repr {
                src: packet.src_addr(),
                dst: packet.dst_addr(),
                protocol: packet.protocol(),
                payload_len: total_len - header_len,
                ttl: packet.ttl(),
                dscp_ecn: packet.dscp_ecn(),
                ident: packet.ident(),
                dont_frag: packet.dont_frag(),
            };
            Ok(IpPacket {
                ip: IpRepr::V4(repr),
                protocol: repr.protocol,
                payload,
            })
        }
        6 => {
            if bytes.len() < IPV6_HEADER_LEN {
                return Err(Error::Truncated);
            }
            let packet = Ipv6Packet::new_unchecked(bytes);
            let repr = Ipv6Repr {
                src: packet.src_addr(),
                dst: packet.dst_addr(),
                next_header: packet.next_header(),
                payload_len: usize::from(packet.payload_len()),
                hop_limit: packet.hop_limit(),
                traffic_class: packet.traffic_class(),
                flow_label: packet.flow_label(),
            };
            let end = (IPV6_HEADER_LEN + repr.payload_len).min(bytes.len());
            let payload = bytes.get(IPV6_HEADER_LEN..end).ok_or(Error::Truncated)?;
            let (protocol, payload) = walk_extension_headers(repr.next_header, payload)?;
            Ok(IpPacket {
                ip: IpRepr::V6(repr),
                protocol,
                payload,
            })
        }
        v => Err(Error::UnknownVersion(v)),
    }
}

/// Writes a whole TCP/IP datagram at the start of `buf` (IP header with Linux's defaults, see
/// [`IpRepr::new`], then the segment of [`TcpRepr::emit`]) and returns its length.
///
/// # Errors
/// [`Error::AddressFamilyMismatch`], [`Error::TooLarge`] (see [`IpRepr::new`]),
/// [`Error::BufferTooSmall`] when `buf` is shorter than the datagram.
pub fn emit_tcp(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
) -> Result<usize, Error> {
    let ip = IpRepr::new(src, dst, IPPROTO_TCP, tcp.buffer_len(), hop_limit)?;
    emit_with(buf, &ip, |payload| tcp.emit(payload, src, dst))
}

/// Builds a whole TCP/IP datagram: [`emit_tcp`] into a new vector.
///
/// # Errors
/// [`Error::AddressFamilyMismatch`] when `src` and `dst` are of different families,
/// [`Error::TooLarge`] when the datagram exceeds the IP length field.
pub fn build_tcp(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
) -> Result<Vec<u8>, Error> {
    let ip = IpRepr::new(src, dst, IPPROTO_TCP, tcp.buffer_len(), hop_limit)?;
    let mut buf = vec![0u8; ip.buffer_len()];
    emit_with(&mut buf, &ip, |payload| tcp.emit(payload, src, dst))?;
    Ok(buf)
}

/// Like [`build_tcp`], with the payload given as two pieces (the halves of a ring buffer, say)
/// instead of `tcp.payload`, which is ignored: one copy of the payload, straight into the
/// datagram.
///
/// # Errors
/// As [`build_tcp`].
pub fn build_tcp_gather(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
    parts: [&[u8]; 2],
) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    build_tcp_gather_into(&mut buf, src, dst, hop_limit, 0, tcp, parts)?;
    Ok(buf)
}

/// Like [`build_tcp_gather`], into `buf` (whose old contents are overwritten) instead of a new
/// vector: a driver that hands its spent buffers back lets the stack build datagrams without
/// allocating. The payload is copied in once and checksummed in the same pass. `tos` is the
/// IPv4 Type of Service byte or the IPv6 Traffic Class (DSCP and ECN fields, RFC 2474 and
/// RFC 3168).
///
/// # Errors
/// As [`build_tcp`]; `buf` is left empty.
pub fn build_tcp_gather_into(
    buf: &mut Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tos: u8,
    tcp: &TcpRepr<'_>,
    parts: [&[u8]; 2],
) -> Result<(), Error> {
    let len = tcp.header_len() + parts[0].len() + parts[1].len();
    let ip = match IpRepr::new(src, dst, IPPROTO_TCP, len, hop_limit) {
        Ok(IpRepr::V4(mut v4)) => {
            v4.dscp_ecn = tos;
            IpRepr::V4(v4)
        }
        Ok(IpRepr::V6(mut v6)) => {
            v6.traffic_class = tos;
            IpRepr::V6(v6)
        }
        Err(e) => {
            buf.clear();
            return Err(e);
        }
    };
    // Whatever a recycled buffer still holds is overwritten, so only growth is zero-filled.
    buf.resize(ip.buffer_len(), 0);
    let result = emit_with(buf, &ip, |segment| {
        tcp.emit_gather(segment, src, dst, parts)
    });
    if result.is_err() {
        buf.clear();
    }
    result.map(|_| ())
}

/// Builds a whole ICMPv4 datagram.  As Linux does for ICMP, DF is clear.
///
/// # Errors
/// [`Error::TooLarge`] when the datagram exceeds 65,535 bytes.
pub fn build_icmpv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    icmp: &Icmpv4Repr<'_>,
) -> Result<Vec<u8>, Error> {
    let len = icmp.buffer_len();
    let mut ip = IpRepr::new(src.into(), dst.into(), IPPROTO_ICMP, len, ttl)?;
    if let IpRepr::V4(v4) = &mut ip {
        v4.dont_frag = false;
    }
    let mut buf = vec![0u8; ip.buffer_len()];
    emit_with(&mut buf, &ip, |payload| icmp.emit(payload))?;
    Ok(buf)
}

/// Builds a whole ICMPv6 packet (no extension headers).
///
/// # Errors
/// [`Error::TooLarge`] when the message exceeds 65,535 bytes.
pub fn build_icmpv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    icmp: &Icmpv6Repr<'_>,
) -> Result<Vec<u8>, Error> {
    let len = icmp.buffer_len();
    let ip = IpRepr::new(src.into(), dst.into(), IPPROTO_ICMPV6, len, hop_limit)?;
    let mut buf = vec![0u8; ip.buffer_len()];
    emit_with(&mut buf, &ip, |payload| icmp.emit(payload, src, dst))?;
    Ok(buf)
}

/// Writes `ip`'s header, then lets `payload` write the upper layer after it.
fn emit_with(
    buf: &mut [u8],
    ip: &IpRepr,
    payload: impl FnOnce(&mut [u8]) -> usize,
) -> Result<usize, Error> {
    let total = ip.buffer_len();
    let buf = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (header, rest) = buf.split_at_mut(ip.header_len());
    // Both lengths were checked by `IpRepr::new` and the slicing above, so neither emitter
    // reports a caller bug; the checks keep that a typed error rather than a silent one.
    if ip.emit(header) == 0 || payload(rest) != rest.len() {
        return Err(Error::BufferTooSmall);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::TcpFlags;

    #[test]
    fn gathered_payload_builds_the_same_datagram() {
        let whole = TcpRepr {
            payload: b"hello, world",
            ..TcpRepr::new(1234, 80, 1, 2, TcpFlags::ACK | TcpFlags::PSH, 512)
        };
        let header_only = TcpRepr {
            payload: &[],
            ..whole
        };
        let (src, dst) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a = build_tcp(src, dst, 64, &whole).unwrap();
        let b = build_tcp_gather(src, dst, 64, &header_only, [b"hello, ", b"world"]).unwrap();
        assert_eq!(a, b);
        let mut c = vec![0xaa; 3000];
        build_tcp_gather_into(
            &mut c,
            src,
            dst,
            64,
            0,
            &header_only,
            [b"hello, ", b"world"],
        )
        .unwrap();
        assert_eq!(a, c);
        let mut d = Vec::new();
        build_tcp_gather_into(
            &mut d,
            src,
            dst,
            64,
            0,
            &header_only,
            [b"", b"hello, world"],
        )
        .unwrap();
        assert_eq!(a, d);
    }

    #[test]
    fn tos_goes_into_the_ipv4_tos_byte_and_the_ipv6_traffic_class() {
        let tcp = TcpRepr::new(1234, 80, 1, 2, TcpFlags::ACK, 512);
        for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut buf = Vec::new();
            build_tcp_gather_into(&mut buf, src, dst, 64, 0xb8, &tcp, [b"x", b""]).unwrap();
            // parse_ip verifies the IPv4 header checksum, which must cover the new byte.
            let packet = parse_ip(&buf).unwrap();
            match packet.ip {
                IpRepr::V4(v4) => assert_eq!(v4.dscp_ecn, 0xb8),
                IpRepr::V6(v6) => assert_eq!(v6.traffic_class, 0xb8),
            }
            assert!(TcpRepr::parse(packet.payload, src, dst, true).is_ok());
        }
    }

    #[test]
    fn build_and_parse_tcp_both_families() {
        let tcp = TcpRepr {
            payload: b"hello",
            ..TcpRepr::new(1234, 80, 1, 2, TcpFlags::ACK | TcpFlags::PSH, 512)
        };
        for (src, dst) in [
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            (
                IpAddr::V6("fd00::1".parse().unwrap()),
                IpAddr::V6("fd00::2".parse().unwrap()),
            ),
        ] {
            let bytes = build_tcp(src, dst, 64, &tcp).unwrap();
            let packet = parse_ip(&bytes).unwrap();
            assert_eq!(packet.ip.src(), src);
            assert_eq!(packet.ip.dst(), dst);
            assert_eq!(packet.ip.hop_limit(), 64);
            assert_eq!(packet.protocol, IPPROTO_TCP);
            let parsed = TcpRepr::parse(packet.payload, src, dst, true).unwrap();
            assert_eq!(parsed, tcp);
            let mut small = vec![0u8; bytes.len() - 1];
            assert_eq!(
                emit_tcp(&mut small, src, dst, 64, &tcp),
                Err(Error::BufferTooSmall)
            );
            let mut exact = vec![0u8; bytes.len() + 3];
            assert_eq!(emit_tcp(&mut exact, src, dst, 64, &tcp), Ok(bytes.len()));
            assert_eq!(&exact[..bytes.len()], &bytes[..]);
        }
    }

    #[test]
    fn build_rejects_mixed_families_and_oversize() {
        let tcp = TcpRepr::new(1, 2, 3, 4, TcpFlags::RST, 0);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            build_tcp(v4, v6, 64, &tcp),
            Err(Error::AddressFamilyMismatch)
        );
        // 20 + 20 + 65,495 = 65,535: the largest IPv4 datagram.
        let big = vec![0u8; 65_495];
        let fits = TcpRepr {
            payload: &big,
            ..tcp
        };
        assert_eq!(build_tcp(v4, v4, 64, &fits).map(|b| b.len()), Ok(65_535));
        let bigger = vec![0u8; 65_496];
        let too_big = TcpRepr {
            payload: &bigger,
            ..tcp
        };
        assert_eq!(
            build_tcp(v4, v4, 64, &too_big).map(|b| b.len()),
            Err(Error::TooLarge)
        );
        // IPv6 counts only the payload: 20 + 65,515 = 65,535 fits, one more does not.
        let big6 = vec![0u8; 65_515];
        let fits6 = TcpRepr {
            payload: &big6,
            ..tcp
        };
        assert_eq!(build_tcp(v6, v6, 64, &fits6).map(|b| b.len()), Ok(65_575));
        let big6 = vec![0u8; 65_516];
        let too_big6 = TcpRepr {
            payload: &big6,
            ..tcp
        };
        assert_eq!(
            build_tcp(v6, v6, 64, &too_big6).map(|b| b.len()),
            Err(Error::TooLarge)
        );
    }

    #[test]
    fn icmp_builders() {
        let echo = Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: b"x",
        };
        let bytes = build_icmpv4(
            Ipv4Addr::new(1, 2, 3, 4),
            Ipv4Addr::new(5, 6, 7, 8),
            9,
            &echo,
        )
        .unwrap();
        let packet = parse_ip(&bytes).unwrap();
        assert_eq!(packet.protocol, IPPROTO_ICMP);
        assert_eq!(Icmpv4Repr::parse(packet.payload, true), Ok(echo));

        let ptb = Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            data: &bytes,
        };
        let s: Ipv6Addr = "fd00::1".parse().unwrap();
        let d: Ipv6Addr = "fd00::2".parse().unwrap();
        let bytes6 = build_icmpv6(s, d, 255, &ptb).unwrap();
        let packet = parse_ip(&bytes6).unwrap();
        assert_eq!(packet.protocol, IPPROTO_ICMPV6);
        assert_eq!(Icmpv6Repr::parse(packet.payload, s, d, true), Ok(ptb));
    }

    #[test]
    fn quoted_datagram() {
        let tcp = TcpRepr::new(40000, 80, 0xdead_beef, 0, TcpFlags::SYN, 64240);
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let bytes = build_tcp(src, dst, 64, &tcp).unwrap();
        // An ICMPv4 error quotes the IP header and 8 bytes of TCP.
        let quoted = &bytes[..28];
        assert_eq!(parse_ip(quoted), Err(Error::BadTotalLength));
        let packet = parse_ip_quoted(quoted).unwrap();
        assert_eq!(packet.ip.payload_len(), 20);
        let header = crate::tcp::QuotedTcpHeader::parse(packet.payload).unwrap();
        assert_eq!(
            (header.src_port, header.dst_port, header.seq),
            (40000, 80, 0xdead_beef)
        );
        assert_eq!(parse_ip_quoted(&bytes[..19]), Err(Error::Truncated));

        let src = IpAddr::V6("fd00::1".parse().unwrap());
        let dst = IpAddr::V6("fd00::2".parse().unwrap());
        let bytes = build_tcp(src, dst, 64, &tcp).unwrap();
        let packet = parse_ip_quoted(&bytes[..48]).unwrap();
        assert_eq!(packet.protocol, IPPROTO_TCP);
        assert_eq!(packet.payload.len(), 8);
    }

    #[test]
    fn unknown_version() {
        assert_eq!(parse_ip(&[]), Err(Error::Truncated));
        for v in [0u8, 1, 5, 7, 15] {
            assert_eq!(parse_ip(&[v << 4; 60]), Err(Error::UnknownVersion(v)));
            assert_eq!(
                parse_ip_quoted(&[v << 4; 60]),
                Err(Error::UnknownVersion(v))
            );
        }
    }
}
