//! The one error type of the wire layer.
//!
//! Every parser in this crate returns [`Error`] instead of panicking: bytes from the network are
//! untrusted, and the caller is expected to count the error and drop the packet.  The builders use
//! the same type for the few mistakes a caller can make (mixing address families, oversized
//! packets, buffers that are too small).

use core::fmt;

/// Why a packet could not be parsed or built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a fixed-size header (or an IP header's declared length) does.
    Truncated,
    /// The IP version nibble is neither 4 nor 6 (or not the one the parser expects).
    UnknownVersion(u8),
    /// The IPv4 Internet Header Length is below 5 words (RFC 791 §3.1).
    BadHeaderLength,
    /// The IPv4 Total Length (or IPv6 Payload Length) disagrees with the header or the buffer.
    BadTotalLength,
    /// A header checksum or transport checksum does not verify.
    BadChecksum,
    /// The datagram is a fragment (IPv4 MF set or offset non-zero, IPv6 Fragment header);
    /// synack does not reassemble.
    Fragmented,
    /// An IPv6 extension header that synack does not walk (RFC 8200 §4): AH, ESP, Mobility,
    /// HIP, Shim6, the experimental values, or a Routing header with segments left.
    UnsupportedExtensionHeader(u8),
    /// An IPv6 extension header in a place RFC 8200 §4.1 forbids (Hop-by-Hop not first).
    BadExtensionHeader,
    /// The TCP Data Offset is below 5 words or points past the end of the segment
    /// (RFC 9293 §3.1).
    BadDataOffset,
    /// A TCP option is malformed: its length byte is 0 or 1, runs past the header, or is wrong for
    /// its kind (RFC 9293 §3.2).
    BadOption,
    /// The source and destination addresses given to a checksum or builder are of different
    /// IP families.
    AddressFamilyMismatch,
    /// The packet to build does not fit in the IP length field (65,535 bytes).
    TooLarge,
    /// The output buffer given to an emitter is shorter than the packet to write.
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated packet"),
            Error::UnknownVersion(v) => write!(f, "unknown ip version {v}"),
            Error::BadHeaderLength => f.write_str("bad ip header length"),
            Error::BadTotalLength => f.write_str("bad ip total length"),
            Error::BadChecksum => f.write_str("bad checksum"),
            Error::Fragmented => f.write_str("fragmented datagram"),
            Error::UnsupportedExtensionHeader(n) => {
                write!(f, "unsupported ipv6 extension header {n}")
            }
            Error::BadExtensionHeader => f.write_str("misplaced ipv6 extension header"),
            Error::BadDataOffset => f.write_str("bad tcp data offset"),
            Error::BadOption => f.write_str("bad tcp option"),
            Error::AddressFamilyMismatch => f.write_str("address family mismatch"),
            Error::TooLarge => f.write_str("packet too large"),
            Error::BufferTooSmall => f.write_str("buffer too small"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::Error;
    use alloc::string::ToString;

    #[test]
    fn display_is_short_and_lowercase() {
        let all = [
            Error::Truncated,
            Error::UnknownVersion(5),
            Error::BadHeaderLength,
            Error::BadTotalLength,
            Error::BadChecksum,
            Error::Fragmented,
            Error::UnsupportedExtensionHeader(51),
            Error::BadExtensionHeader,
            Error::BadDataOffset,
            Error::BadOption,
            Error::AddressFamilyMismatch,
            Error::TooLarge,
            Error::BufferTooSmall,
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.is_empty() && s.len() < 48, "{s}");
            assert_eq!(s, s.to_lowercase());
        }
        assert_eq!(Error::UnknownVersion(5).to_string(), "unknown ip version 5");
        assert_eq!(
            Error::UnsupportedExtensionHeader(51).to_string(),
            "unsupported ipv6 extension header 51"
        );
    }
}
