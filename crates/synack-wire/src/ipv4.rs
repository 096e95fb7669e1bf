//! The IPv4 header (RFC 791 §3.1).
//!
//! Options are skipped, never interpreted.  Fragments are rejected with [`Error::Fragmented`]:
//! synack does not reassemble (TCP avoids fragmentation with DF and path MTU discovery,
//! RFC 1191).  The header checksum is RFC 1071's over the header alone (RFC 791 §3.1).
//! The DSCP/ECN byte follows RFC 2474 §3 and RFC 3168 §5.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::field::{read_array4, read_u16, write_u16};
use crate::Error;

/// Byte offsets of the IPv4 header fields.
mod offset {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
}

/// Don't Fragment bit of the flags/fragment-offset word.
const FLAG_DF: u16 = 0x4000;
/// More Fragments bit.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (in units of 8 bytes).
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// The longest IPv4 header (IHL 15).
pub const IPV4_MAX_HEADER_LEN: usize = 60;
/// The largest IPv4 datagram (Total Length is 16 bits).
pub const IPV4_MAX_DATAGRAM_LEN: usize = 65_535;
/// Linux's default TTL (`net.ipv4.ip_default_ttl`).
pub const IPV4_DEFAULT_TTL: u8 = 64;

/// A read/write view of an IPv4 datagram in a byte buffer.
///
/// Build it with [`new_checked`](Self::new_checked) for untrusted bytes: after that every
/// accessor is panic-free.  The fixed-field accessors of a view made with
/// [`new_unchecked`](Self::new_unchecked) panic when the buffer is shorter than 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
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

    /// Checks the lengths: the buffer holds the fixed header, IHL ≥ 5, the header fits, and
    /// IHL × 4 ≤ Total Length ≤ buffer length.  Bytes after Total Length (for example Ethernet
    /// padding) are allowed and ignored.  The version is not checked here (see
    /// [`Ipv4Repr::parse`]).
    ///
    /// # Errors
    /// [`Error::Truncated`] when the buffer is shorter than 20 bytes or than IHL × 4;
    /// [`Error::BadHeaderLength`] for IHL < 5; [`Error::BadTotalLength`] for a Total Length below
    /// the header length or beyond the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < IPV4_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < IPV4_HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > len {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer (including any bytes after Total Length).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[offset::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[offset::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP/ECN byte (formerly Type of Service).
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[offset::DSCP_ECN]
    }

    /// Differentiated Services Code Point (RFC 2474), the upper six bits of byte 1.
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// ECN field (RFC 3168), the lower two bits of byte 1.
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total Length: header and payload, in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::TOTAL_LEN)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::IDENT)
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), offset::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), offset::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field × 8).
    pub fn frag_offset(&self) -> u32 {
        u32::from(read_u16(self.buffer.as_ref(), offset::FLAGS_FRAG) & FRAG_OFFSET_MASK) * 8
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[offset::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[offset::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array4(self.buffer.as_ref(), offset::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array4(self.buffer.as_ref(), offset::DST))
    }

    /// The option bytes (empty when IHL is out of range).
    pub fn options(&self) -> &[u8] {
        let end = self.header_len();
        self.buffer
            .as_ref()
            .get(IPV4_HEADER_LEN..end)
            .unwrap_or(&[])
    }

    /// The payload: from the end of the header to Total Length (empty when the lengths are out
    /// of range).
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        self.buffer.as_ref().get(start..end).unwrap_or(&[])
    }

    /// True when the header checksum verifies (false when the header is cut short).
    pub fn verify_checksum(&self) -> bool {
        self.buffer
            .as_ref()
            .get(..self.header_len())
            .is_some_and(checksum::verify)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[offset::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes; it is rounded down to whole words and clamped to
    /// 20..=60.
    pub fn set_header_len(&mut self, len: usize) {
        // At most 15 words: the cast is lossless.
        let words = (len.clamp(IPV4_HEADER_LEN, IPV4_MAX_HEADER_LEN) / 4) as u8;
        let b = &mut self.buffer.as_mut()[offset::VER_IHL];
        *b = (*b & 0xf0) | words;
    }

    /// Sets the DSCP/ECN byte.
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[offset::DSCP_ECN] = value;
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::TOTAL_LEN, value);
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::IDENT, value);
    }

    /// Sets the flags and fragment offset word: DF, MF, and the offset in bytes (rounded down to
    /// a multiple of 8, masked to 13 bits).
    pub fn set_flags_and_frag_offset(
        &mut self,
        dont_frag: bool,
        more_frags: bool,
        frag_offset: u32,
    ) {
        let mut word = ((frag_offset / 8) as u16) & FRAG_OFFSET_MASK;
        if dont_frag {
            word |= FLAG_DF;
        }
        if more_frags {
            word |= FLAG_MF;
        }
        write_u16(self.buffer.as_mut(), offset::FLAGS_FRAG, word);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[offset::TTL] = value;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[offset::PROTOCOL] = value;
    }

    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[offset::SRC..offset::SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[offset::DST..offset::DST + 4].copy_from_slice(&addr.octets());
    }

    /// Computes and stores the header checksum (does nothing when the header is cut short).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        if let Some(header) = self.buffer.as_ref().get(..header_len) {
            let value = checksum::checksum(header);
            self.set_checksum(value);
        }
    }

    /// The payload, writable (empty when the lengths are out of range).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        self.buffer.as_mut().get_mut(start..end).unwrap_or(&mut [])
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// An IPv4 header as plain values (options are neither kept nor emitted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload (see the `IPPROTO_*` constants in [`crate::ip`]).
    pub protocol: u8,
    /// Payload length in bytes (Total Length minus the header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// The DSCP/ECN byte.
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// A header with Linux's defaults for TCP: DF set, DSCP/ECN 0, identification 0.
    pub const fn new(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        payload_len: usize,
        ttl: u8,
    ) -> Self {
        Self {
            src,
            dst,
            protocol,
            payload_len,
            ttl,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        }
    }

    /// Parses and validates an IPv4 header; the payload is
    /// [`packet.payload()`](Ipv4Packet::payload).
    ///
    /// Checks, in order: the version, the lengths ([`Ipv4Packet::check_len`]), the header
    /// checksum, and that the datagram is not a fragment.  Options are skipped.
    ///
    /// # Errors
    /// [`Error::Truncated`] for an empty buffer, [`Error::UnknownVersion`] when the version is
    /// not 4, the errors of [`Ipv4Packet::check_len`], [`Error::BadChecksum`], and
    /// [`Error::Fragmented`] when MF is set or the fragment offset is not zero.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr, Error> {
        let first = *packet.as_bytes().first().ok_or(Error::Truncated)?;
        if first >> 4 != 4 {
            return Err(Error::UnknownVersion(first >> 4));
        }
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Fragmented);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// The header length [`emit`](Self::emit) writes (20: no options).
    pub const fn header_len(&self) -> usize {
        IPV4_HEADER_LEN
    }

    /// Header plus payload: the Total Length this header declares (saturating, so an absurd
    /// `payload_len` cannot overflow).
    pub const fn buffer_len(&self) -> usize {
        IPV4_HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the 20-byte header (no options, fragment offset 0, MF clear) with its checksum at
    /// the start of `buf` and returns 20.  The payload, `payload_len` bytes, is the caller's to
    /// write after it.
    ///
    /// Returns 0 and writes nothing on a caller bug: `buf` shorter than 20 bytes, or
    /// `payload_len` too large for Total Length.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let Ok(total_len) = u16::try_from(self.buffer_len()) else {
            return 0;
        };
        let Some(header) = buf.get_mut(..IPV4_HEADER_LEN) else {
            return 0;
        };
        // The header is assembled in registers and its checksum taken from the field values
        // (RFC 1071: the sum of its sixteen-bit words), then written at once: summing bytes just
        // written one field at a time would read them back through the store buffer.
        let flags = if self.dont_frag { FLAG_DF } else { 0 };
        let (src, dst) = (u32::from(self.src), u32::from(self.dst));
        let mut words = [
            0x4500 | u16::from(self.dscp_ecn),
            total_len,
            self.ident,
            flags,
            u16::from(self.ttl) << 8 | u16::from(self.protocol),
            0,
            (src >> 16) as u16,
            src as u16,
            (dst >> 16) as u16,
            dst as u16,
        ];
        words[5] = !checksum::sum_words(&words);
        let mut bytes = [0u8; IPV4_HEADER_LEN];
        crate::field::write_words(&mut bytes, &words);
        header.copy_from_slice(&bytes);
        IPV4_HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: [u8; 24] = [
        0x45, 0x00, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn sample() -> [u8; 24] {
        let mut b = SAMPLE;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn parse_and_emit_round_trip() {
        let bytes = sample();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                protocol: 6,
                payload_len: 4,
                ttl: 64,
                dscp_ecn: 0,
                ident: 0x1234,
                dont_frag: true,
            }
        );
        assert_eq!(packet.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        let mut out = [0u8; 20];
        assert_eq!(repr.emit(&mut out), 20);
        assert_eq!(out, bytes[..20]);
    }

    #[test]
    fn options_skipped_and_padding_ignored() {
        let mut b = [0u8; 32];
        b[0] = 0x46; // IHL 6: 4 option bytes
        b[3] = 28; // total 28: 4 payload bytes, 4 padding bytes
        b[8] = 1;
        b[9] = 6;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        b[24..28].copy_from_slice(&[9, 8, 7, 6]);
        b[28..].copy_from_slice(&[0xee; 4]);
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let packet = Ipv4Packet::new_checked(&b[..]).unwrap();
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), &[9, 8, 7, 6]);
        assert!(!repr.dont_frag);
    }

    #[test]
    fn errors() {
        let good = sample();
        let parse = |b: &[u8]| Ipv4Repr::parse(&Ipv4Packet::new_unchecked(b));
        assert_eq!(parse(&[]), Err(Error::Truncated));
        assert_eq!(parse(&good[..19]), Err(Error::Truncated));
        assert_eq!(parse(&good[..23]), Err(Error::BadTotalLength));
        let mut b = good;
        b[0] = 0x65;
        assert_eq!(parse(&b), Err(Error::UnknownVersion(6)));
        for ihl in 0..5 {
            let mut b = good;
            b[0] = 0x40 | ihl;
            assert_eq!(parse(&b), Err(Error::BadHeaderLength));
        }
        let mut b = good;
        b[0] = 0x4f; // 60-byte header in a 24-byte buffer
        assert_eq!(parse(&b), Err(Error::Truncated));
        let mut b = good;
        b[3] = 19;
        assert_eq!(parse(&b), Err(Error::BadTotalLength));
        let mut b = good;
        b[8] = 63;
        assert_eq!(parse(&b), Err(Error::BadChecksum));
        for flags in [[0x20, 0x00], [0x00, 0x01], [0x40, 0x01], [0x3f, 0xff]] {
            let mut b = good;
            b[6..8].copy_from_slice(&flags);
            Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
            assert_eq!(parse(&b), Err(Error::Fragmented), "{flags:?}");
        }
    }

    #[test]
    fn emit_rejects_caller_bugs() {
        let mut repr = Ipv4Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6, 0, 64);
        assert_eq!(repr.emit(&mut [0u8; 19]), 0);
        repr.payload_len = 65_516;
        assert_eq!(repr.emit(&mut [0u8; 20]), 0);
        repr.payload_len = 65_515;
        assert_eq!(repr.emit(&mut [0u8; 20]), 20);
    }
}
