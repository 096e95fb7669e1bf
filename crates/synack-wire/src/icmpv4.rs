//! ICMP for IPv4 (RFC 792), the messages a TCP stack meets.
//!
//! Echo request and reply (RFC 792 "Echo or Echo Reply Message"), destination unreachable
//! ("Destination Unreachable Message"), with fragmentation needed and the next-hop MTU for path
//! MTU discovery (RFC 1191 §4), time exceeded, and parameter problem.  Every other message is
//! kept as [`Icmpv4Repr::Other`].  The checksum is RFC 1071's over the ICMP message alone.

use crate::checksum;
use crate::field::{read_array4, read_u16, write_u16};
use crate::Error;

/// Byte offsets of the ICMP header fields.
mod offset {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const DATA: usize = 8;
}

/// The length of the ICMP header: type, code, checksum and the 4-byte rest of header.
pub const ICMPV4_HEADER_LEN: usize = 8;

/// ICMPv4 message types (IANA "ICMP Type Numbers").
pub mod msg_type {
    /// Echo reply (RFC 792).
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable (RFC 792).
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo request (RFC 792).
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded (RFC 792).
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem (RFC 792).
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
pub mod unreachable_code {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191 §4).
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// A read/write view of an ICMPv4 message in a byte buffer.
///
/// Build it with [`new_checked`](Self::new_checked) for untrusted bytes; the fixed-field
/// accessors of a view made with [`new_unchecked`](Self::new_unchecked) panic when the buffer is
/// shorter than 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking that it holds the 8-byte header.
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 8 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < ICMPV4_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[offset::TYPE]
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[offset::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::CHECKSUM)
    }

    /// The 4 bytes after the checksum, whose meaning depends on the type.
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array4(self.buffer.as_ref(), offset::REST)
    }

    /// Echo identifier (first half of the rest of header).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::REST)
    }

    /// Echo sequence number (second half of the rest of header).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::REST + 2)
    }

    /// The bytes after the 8-byte header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(offset::DATA..).unwrap_or(&[])
    }

    /// True when the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[offset::TYPE] = value;
    }

    /// Sets the code.
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[offset::CODE] = value;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::CHECKSUM, value);
    }

    /// Sets the 4 bytes after the checksum.
    pub fn set_rest_of_header(&mut self, value: [u8; 4]) {
        self.buffer.as_mut()[offset::REST..offset::DATA].copy_from_slice(&value);
    }

    /// The bytes after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(offset::DATA..)
            .unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(value);
    }
}

/// An ICMPv4 message as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to be echoed.
        data: &'a [u8],
    },
    /// Echo reply (type 0, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3) with any code but fragmentation needed (see
    /// [`FragNeeded`](Self::FragNeeded)); emitting code 4 here gives a next-hop MTU of 0, which
    /// parses back as `FragNeeded`.
    DstUnreachable {
        /// The code (see [`unreachable_code`]).
        code: u8,
        /// The quoted original datagram: its IP header and at least 8 bytes of its payload.
        data: &'a [u8],
    },
    /// Fragmentation needed and DF set (type 3, code 4), RFC 1191 §4.
    FragNeeded {
        /// The MTU of the next-hop network (0 from routers older than RFC 1191).
        next_hop_mtu: u16,
        /// The quoted original datagram.
        data: &'a [u8],
    },
    /// Time exceeded (type 11): code 0 TTL exceeded in transit, 1 reassembly time exceeded.
    TimeExceeded {
        /// The code.
        code: u8,
        /// The quoted original datagram.
        data: &'a [u8],
    },
    /// Parameter problem (type 12).
    ParamProblem {
        /// The code (0: the pointer indicates the error).
        code: u8,
        /// Offset of the offending byte in the quoted datagram.
        pointer: u8,
        /// The quoted original datagram.
        data: &'a [u8],
    },
    /// Any other message, or one of the above with a code they do not use.
    Other {
        /// Message type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// The 4 bytes after the checksum.
        rest: [u8; 4],
        /// The bytes after the header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses an ICMPv4 message (the whole IP payload).  With `verify_checksum` false the
    /// checksum is not checked.  Echo messages with a code other than 0 parse as
    /// [`Other`](Self::Other).
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 8 bytes, [`Error::BadChecksum`].
    pub fn parse(bytes: &'a [u8], verify_checksum: bool) -> Result<Icmpv4Repr<'a>, Error> {
        let packet = Icmpv4Packet::new_checked(bytes)?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let data = &bytes[ICMPV4_HEADER_LEN..];
        let rest = packet.rest_of_header();
        Ok(match (packet.msg_type(), packet.code()) {
            (msg_type::ECHO_REQUEST, 0) => Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (msg_type::ECHO_REPLY, 0) => Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (msg_type::DST_UNREACHABLE, unreachable_code::FRAG_NEEDED) => Icmpv4Repr::FragNeeded {
                next_hop_mtu: u16::from_be_bytes([rest[2], rest[3]]),
                data,
            },
            (msg_type::DST_UNREACHABLE, code) => Icmpv4Repr::DstUnreachable { code, data },
            (msg_type::TIME_EXCEEDED, code) => Icmpv4Repr::TimeExceeded { code, data },
            (msg_type::PARAM_PROBLEM, code) => Icmpv4Repr::ParamProblem {
                code,
                pointer: rest[0],
                data,
            },
            (msg_type, code) => Icmpv4Repr::Other {
                msg_type,
                code,
                rest,
                data,
            },
        })
    }

    /// The bytes after the 8-byte header.
    pub const fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. }
            | Icmpv4Repr::EchoReply { data, .. }
            | Icmpv4Repr::DstUnreachable { data, .. }
            | Icmpv4Repr::FragNeeded { data, .. }
            | Icmpv4Repr::TimeExceeded { data, .. }
            | Icmpv4Repr::ParamProblem { data, .. }
            | Icmpv4Repr::Other { data, .. } => data,
        }
    }

    /// Type, code and rest of header as they go on the wire.
    fn header_fields(&self) -> (u8, u8, [u8; 4]) {
        let echo = |ident: u16, seq_no: u16| {
            let [a, b] = ident.to_be_bytes();
            let [c, d] = seq_no.to_be_bytes();
            [a, b, c, d]
        };
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                (msg_type::ECHO_REQUEST, 0, echo(ident, seq_no))
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                (msg_type::ECHO_REPLY, 0, echo(ident, seq_no))
            }
            Icmpv4Repr::DstUnreachable { code, .. } => (msg_type::DST_UNREACHABLE, code, [0; 4]),
            Icmpv4Repr::FragNeeded { next_hop_mtu, .. } => {
                let [hi, lo] = next_hop_mtu.to_be_bytes();
                (
                    msg_type::DST_UNREACHABLE,
                    unreachable_code::FRAG_NEEDED,
                    [0, 0, hi, lo],
                )
            }
            Icmpv4Repr::TimeExceeded { code, .. } => (msg_type::TIME_EXCEEDED, code, [0; 4]),
            Icmpv4Repr::ParamProblem { code, pointer, .. } => {
                (msg_type::PARAM_PROBLEM, code, [pointer, 0, 0, 0])
            }
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest,
                ..
            } => (msg_type, code, rest),
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes: 8 plus the data.
    pub const fn buffer_len(&self) -> usize {
        ICMPV4_HEADER_LEN + self.data().len()
    }

    /// Writes the message with its checksum at the start of `buf` and returns
    /// [`buffer_len`](Self::buffer_len).  Unused header bytes are written as zero.
    ///
    /// Returns 0 and writes nothing when `buf` is too short (a caller bug).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let Some(buf) = buf.get_mut(..len) else {
            return 0;
        };
        let (msg_type, code, rest) = self.header_fields();
        let mut packet = Icmpv4Packet::new_unchecked(buf);
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        packet.data_mut().copy_from_slice(self.data());
        packet.fill_checksum();
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_bytes() {
        let repr = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        let mut buf = [0u8; 12];
        assert_eq!(repr.emit(&mut buf), 12);
        assert_eq!(&buf[..2], &[8, 0]);
        assert_eq!(&buf[4..], &[0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd']);
        assert!(checksum::verify(&buf));
        assert_eq!(Icmpv4Repr::parse(&buf, true), Ok(repr));
        buf[9] ^= 0xff;
        assert_eq!(Icmpv4Repr::parse(&buf, true), Err(Error::BadChecksum));
        assert!(Icmpv4Repr::parse(&buf, false).is_ok());
        assert_eq!(Icmpv4Repr::parse(&buf[..7], false), Err(Error::Truncated));
        assert_eq!(repr.emit(&mut [0u8; 11]), 0);
    }

    #[test]
    fn every_variant_round_trips() {
        let quoted = [
            0x45u8, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let reprs = [
            Icmpv4Repr::EchoReply {
                ident: 7,
                seq_no: 9,
                data: &[],
            },
            Icmpv4Repr::DstUnreachable {
                code: unreachable_code::PORT,
                data: &quoted,
            },
            Icmpv4Repr::FragNeeded {
                next_hop_mtu: 1400,
                data: &quoted,
            },
            Icmpv4Repr::TimeExceeded {
                code: 0,
                data: &quoted,
            },
            Icmpv4Repr::ParamProblem {
                code: 0,
                pointer: 9,
                data: &quoted,
            },
            Icmpv4Repr::Other {
                msg_type: 13,
                code: 0,
                rest: [1, 2, 3, 4],
                data: &[5, 6],
            },
            Icmpv4Repr::Other {
                msg_type: msg_type::ECHO_REQUEST,
                code: 1,
                rest: [1, 2, 3, 4],
                data: &[],
            },
        ];
        for repr in reprs {
            let mut buf = [0u8; 64];
            let n = repr.emit(&mut buf);
            assert_eq!(n, repr.buffer_len());
            assert_eq!(Icmpv4Repr::parse(&buf[..n], true), Ok(repr));
        }
    }

    #[test]
    fn frag_needed_layout() {
        let repr = Icmpv4Repr::FragNeeded {
            next_hop_mtu: 1280,
            data: &[],
        };
        let mut buf = [0u8; 8];
        repr.emit(&mut buf);
        assert_eq!(buf[0], 3);
        assert_eq!(buf[1], 4);
        assert_eq!(&buf[4..], &[0, 0, 0x05, 0x00]);
    }
}
