//! The IPv6 header (RFC 8200 §3) and its extension-header chain (RFC 8200 §4).
//!
//! [`walk_extension_headers`] follows the chain to the upper-layer protocol:
//! Hop-by-Hop Options (0, only first, RFC 8200 §4.3), Routing (43, only with Segments Left 0,
//! RFC 8200 §4.4) and Destination Options (60, RFC 8200 §4.6) are skipped by their length;
//! a Fragment header (44, RFC 8200 §4.5) means [`Error::Fragmented`] (synack does not
//! reassemble); headers synack does not process — ESP (50), AH (51), Mobility (135), HIP (139),
//! Shim6 (140), experimental (253, 254) — give [`Error::UnsupportedExtensionHeader`];
//! No Next Header (59, RFC 8200 §4.7) ends the chain with an empty payload.

use core::net::Ipv6Addr;

use crate::field::{read_array16, read_u16, read_u32, write_u16, write_u32};
use crate::Error;

/// Byte offsets of the IPv6 header fields.
mod offset {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
}

/// The length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// The largest payload without a jumbogram (Payload Length is 16 bits).
pub const IPV6_MAX_PAYLOAD_LEN: usize = 65_535;
/// Linux's default hop limit (`net.ipv6.conf.*.hop_limit`).
pub const IPV6_DEFAULT_HOP_LIMIT: u8 = 64;

/// Next Header values of extension headers and of "no next header" (IANA "IPv6 Extension
/// Header Types", RFC 8200 §4).
pub mod next_header {
    /// Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    /// No Next Header (RFC 8200 §4.7).
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination Options (RFC 8200 §4.6).
    pub const DESTINATION_OPTIONS: u8 = 60;
    /// Mobility (RFC 6275).
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol (RFC 7401).
    pub const HIP: u8 = 139;
    /// Shim6 (RFC 5533).
    pub const SHIM6: u8 = 140;
    /// Reserved for experimentation (RFC 3692).
    pub const EXPERIMENT_1: u8 = 253;
    /// Reserved for experimentation (RFC 3692).
    pub const EXPERIMENT_2: u8 = 254;
}

/// Follows the extension-header chain that starts with `first_header` (the IPv6 Next Header) over `payload` (the IPv6
/// payload) and returns the upper-layer protocol number and its bytes.
///
/// See the [module documentation](self) for what is walked and what is refused.  For No Next
/// Header (59) the result is `(59, &[])`.
///
/// # Errors
/// [`Error::Truncated`] when an extension header runs past the payload;
/// [`Error::BadExtensionHeader`] for a Hop-by-Hop header that is not first;
/// [`Error::Fragmented`] for a Fragment header; [`Error::UnsupportedExtensionHeader`] for the
/// headers listed above and for a Routing header whose Segments Left is not zero (this host is
/// then not the final destination, RFC 8200 §4.4).
pub fn walk_extension_headers(first_header: u8, payload: &[u8]) -> Result<(u8, &[u8]), Error> {
    use self::next_header as nh;
    let mut current = first_header;
    let mut rest = payload;
    let mut first = true;
    loop {
        match current {
            nh::HOP_BY_HOP if !first => return Err(Error::BadExtensionHeader),
            nh::HOP_BY_HOP | nh::ROUTING | nh::DESTINATION_OPTIONS => {
                // Every header here starts with Next Header and Hdr Ext Len (8-octet units,
                // not counting the first 8 octets).
                let (&next, after) = rest.split_first().ok_or(Error::Truncated)?;
                let &ext_len = after.first().ok_or(Error::Truncated)?;
                let len = (usize::from(ext_len) + 1) * 8;
                if len > rest.len() {
                    return Err(Error::Truncated);
                }
                if current == nh::ROUTING {
                    // Segments Left is the fourth byte; `len` ≥ 8 makes it present.
                    if rest[3] != 0 {
                        return Err(Error::UnsupportedExtensionHeader(nh::ROUTING));
                    }
                }
                rest = &rest[len..];
                current = next;
                first = false;
            }
            nh::FRAGMENT => return Err(Error::Fragmented),
            nh::NO_NEXT_HEADER => return Ok((nh::NO_NEXT_HEADER, &[])),
            nh::ESP
            | nh::AH
            | nh::MOBILITY
            | nh::HIP
            | nh::SHIM6
            | nh::EXPERIMENT_1
            | nh::EXPERIMENT_2 => return Err(Error::UnsupportedExtensionHeader(current)),
            upper => return Ok((upper, rest)),
        }
    }
}

/// A read/write view of an IPv6 packet in a byte buffer.
///
/// Build it with [`new_checked`](Self::new_checked) for untrusted bytes: after that every
/// accessor is panic-free.  The fixed-field accessors of a view made with
/// [`new_unchecked`](Self::new_unchecked) panic when the buffer is shorter than 40 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// See [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header and the declared payload.  Bytes after the
    /// payload (for example Ethernet padding) are allowed and ignored.  The version is not
    /// checked here (see [`Ipv6Repr::parse`]).
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 40 bytes, [`Error::BadTotalLength`] when Payload
    /// Length runs past the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < IPV6_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if IPV6_HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer (including any bytes after the payload).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version (6 for IPv6).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[offset::VER_TC_FLOW] >> 4
    }

    /// Traffic Class (DSCP and ECN, RFC 2474 and RFC 3168).
    pub fn traffic_class(&self) -> u8 {
        ((read_u32(self.buffer.as_ref(), offset::VER_TC_FLOW) >> 20) & 0xff) as u8
    }

    /// Flow Label (20 bits, RFC 6437).
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), offset::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload Length: bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::PAYLOAD_LEN)
    }

    /// Next Header: the first extension header or the upper-layer protocol.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[offset::NEXT_HEADER]
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[offset::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array16(self.buffer.as_ref(), offset::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array16(self.buffer.as_ref(), offset::DST))
    }

    /// The payload (extension headers included), Payload Length bytes after the fixed header
    /// (empty when that runs past the buffer).
    pub fn payload(&self) -> &[u8] {
        let end = IPV6_HEADER_LEN + usize::from(self.payload_len());
        self.buffer
            .as_ref()
            .get(IPV6_HEADER_LEN..end)
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version, traffic class and flow label at once (the flow label is masked to 20 bits,
    /// the version to 4).
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let word = (u32::from(version & 0x0f) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), offset::VER_TC_FLOW, word);
    }

    /// Sets Payload Length.
    pub fn set_payload_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::PAYLOAD_LEN, value);
    }

    /// Sets Next Header.
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[offset::NEXT_HEADER] = value;
    }

    /// Sets Hop Limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[offset::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[offset::SRC..offset::SRC + 16].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[offset::DST..offset::DST + 16].copy_from_slice(&addr.octets());
    }

    /// The payload, writable (empty when Payload Length runs past the buffer).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = IPV6_HEADER_LEN + usize::from(self.payload_len());
        self.buffer
            .as_mut()
            .get_mut(IPV6_HEADER_LEN..end)
            .unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fixed IPv6 header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next Header as on the wire: the first extension header or the upper-layer protocol.
    pub next_header: u8,
    /// Payload Length: bytes after the fixed header, extension headers included.
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// A header with traffic class and flow label 0.
    pub const fn new(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        payload_len: usize,
        hop_limit: u8,
    ) -> Self {
        Self {
            src,
            dst,
            next_header,
            payload_len,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    /// Parses and validates the fixed IPv6 header; the payload is
    /// [`packet.payload()`](Ipv6Packet::payload), to be walked with [`walk_extension_headers`].
    ///
    /// # Errors
    /// [`Error::Truncated`] for an empty buffer, [`Error::UnknownVersion`] when the version is
    /// not 6, and the errors of [`Ipv6Packet::check_len`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr, Error> {
        let first = *packet.as_bytes().first().ok_or(Error::Truncated)?;
        if first >> 4 != 6 {
            return Err(Error::UnknownVersion(first >> 4));
        }
        packet.check_len()?;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// The header length [`emit`](Self::emit) writes (40).
    pub const fn header_len(&self) -> usize {
        IPV6_HEADER_LEN
    }

    /// Header plus payload (saturating, so an absurd `payload_len` cannot overflow).
    pub const fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the 40-byte header at the start of `buf` and returns 40.  The payload,
    /// `payload_len` bytes, is the caller's to write after it.  The flow label is masked to 20
    /// bits.
    ///
    /// Returns 0 and writes nothing on a caller bug: `buf` shorter than 40 bytes, or
    /// `payload_len` above 65,535 (jumbograms are not supported).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let Ok(payload_len) = u16::try_from(self.payload_len) else {
            return 0;
        };
        let Some(header) = buf.get_mut(..IPV6_HEADER_LEN) else {
            return 0;
        };
        let mut packet = Ipv6Packet::new_unchecked(header);
        packet.set_version_tc_flow(6, self.traffic_class, self.flow_label);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        IPV6_HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn addr(last: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(last))
    }

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            traffic_class: 0xb8,
            flow_label: 0x12345,
            ..Ipv6Repr::new(addr(1), addr(2), next, payload.len(), 64)
        };
        let mut buf = alloc::vec![0u8; 40];
        assert_eq!(repr.emit(&mut buf), 40);
        buf.extend_from_slice(payload);
        buf
    }

    #[test]
    fn round_trip() {
        let bytes = packet(6, &[1, 2, 3]);
        let p = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        let repr = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(repr.traffic_class, 0xb8);
        assert_eq!(repr.flow_label, 0x12345);
        assert_eq!(repr.payload_len, 3);
        assert_eq!(p.payload(), &[1, 2, 3]);
        let mut again = [0u8; 40];
        repr.emit(&mut again);
        assert_eq!(again, bytes[..40]);
    }

    #[test]
    fn header_errors() {
        let bytes = packet(6, &[1, 2, 3]);
        let parse = |b: &[u8]| Ipv6Repr::parse(&Ipv6Packet::new_unchecked(b));
        assert_eq!(parse(&[]), Err(Error::Truncated));
        assert_eq!(parse(&bytes[..39]), Err(Error::Truncated));
        assert_eq!(parse(&bytes[..42]), Err(Error::BadTotalLength));
        let mut b = bytes.clone();
        b[0] = 0x40;
        assert_eq!(parse(&b), Err(Error::UnknownVersion(4)));
    }

    #[test]
    fn walks_extension_headers() {
        // Hop-by-Hop (8 bytes) -> Destination Options (16 bytes) -> Routing (8, segments left 0)
        // -> TCP (6).
        let mut chain = Vec::new();
        chain.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        chain.extend_from_slice(&[43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[6, 0, 4, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(
            walk_extension_headers(0, &chain),
            Ok((6, &[0xde, 0xad][..]))
        );
        assert_eq!(walk_extension_headers(6, &chain), Ok((6, &chain[..])));
        assert_eq!(walk_extension_headers(59, &chain), Ok((59, &[][..])));
        // Routing header with segments left 1.
        assert_eq!(
            walk_extension_headers(43, &[6, 0, 4, 1, 0, 0, 0, 0]),
            Err(Error::UnsupportedExtensionHeader(43))
        );
        // Hop-by-Hop not first.
        assert_eq!(
            walk_extension_headers(60, &[0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadExtensionHeader)
        );
        // Truncated chains.
        assert_eq!(walk_extension_headers(0, &[]), Err(Error::Truncated));
        assert_eq!(walk_extension_headers(0, &[6]), Err(Error::Truncated));
        assert_eq!(
            walk_extension_headers(0, &[6, 0, 0, 0]),
            Err(Error::Truncated)
        );
        assert_eq!(
            walk_extension_headers(60, &[6, 1, 0, 0, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
        assert_eq!(walk_extension_headers(44, &[6, 0]), Err(Error::Fragmented));
        for unsupported in [50, 51, 135, 139, 140, 253, 254] {
            assert_eq!(
                walk_extension_headers(0, &[unsupported, 0, 0, 0, 0, 0, 0, 0]),
                Err(Error::UnsupportedExtensionHeader(unsupported))
            );
        }
    }
}
