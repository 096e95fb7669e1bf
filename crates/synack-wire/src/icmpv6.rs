//! ICMP for IPv6 (RFC 4443), the messages a TCP stack meets.
//!
//! Destination unreachable (RFC 4443 §3.1), packet too big with the MTU for path MTU discovery
//! (§3.2, RFC 8201), time exceeded (§3.3), parameter problem (§3.4), echo request and reply
//! (§4.1, §4.2).  Every other message (Neighbor Discovery, MLD, ...) is kept as
//! [`Icmpv6Repr::Other`].  The checksum covers the RFC 8200 §8.1 pseudo-header with next
//! header 58 (RFC 4443 §2.3).

use core::net::Ipv6Addr;

use crate::checksum;
use crate::field::{read_array4, read_u16, read_u32, write_u16};
use crate::ip::IPPROTO_ICMPV6;
use crate::Error;

/// Byte offsets of the ICMPv6 header fields.
mod offset {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const REST: usize = 4;
    pub(super) const DATA: usize = 8;
}

/// The length of the ICMPv6 header: type, code, checksum and the 4-byte rest of header.
pub const ICMPV6_HEADER_LEN: usize = 8;

/// ICMPv6 message types (RFC 4443 §2.1).
pub mod msg_type {
    /// Destination unreachable (RFC 4443 §3.1).
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big (RFC 4443 §3.2).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded (RFC 4443 §3.3).
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem (RFC 4443 §3.4).
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request (RFC 4443 §4.1).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply (RFC 4443 §4.2).
    pub const ECHO_REPLY: u8 = 129;
}

/// Destination unreachable codes (RFC 4443 §3.1).
pub mod unreachable_code {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const POLICY_FAILED: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// A read/write view of an ICMPv6 message in a byte buffer.
///
/// Build it with [`new_checked`](Self::new_checked) for untrusted bytes; the fixed-field
/// accessors of a view made with [`new_unchecked`](Self::new_unchecked) panic when the buffer is
/// shorter than 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` without checking anything.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking that it holds the 8-byte header.
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 8 bytes.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < ICMPV6_HEADER_LEN {
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

    /// The rest of header as one 32-bit number (the MTU of packet too big, the pointer of
    /// parameter problem).
    pub fn rest_of_header_u32(&self) -> u32 {
        read_u32(self.buffer.as_ref(), offset::REST)
    }

    /// Echo identifier (first half of the rest of header).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::REST)
    }

    /// Echo sequence number (second half of the rest of header).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::REST + 2)
    }

    /// The bytes after the 8-byte header: echo data, or the quoted packet of an error.
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(offset::DATA..).unwrap_or(&[])
    }

    /// True when the checksum over the pseudo-header of `src` and `dst` and the whole buffer
    /// verifies.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let buf = self.buffer.as_ref();
        let Ok(len) = u32::try_from(buf.len()) else {
            return false;
        };
        checksum::pseudo_header_ipv6(src, dst, IPPROTO_ICMPV6, len)
            .add_bytes(buf)
            .finish()
            == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    /// Computes and stores the checksum over the pseudo-header of `src` and `dst` and the whole
    /// buffer.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the buffer is longer than the pseudo-header's 32-bit length.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), Error> {
        let len = u32::try_from(self.buffer.as_ref().len()).map_err(|_| Error::TooLarge)?;
        self.set_checksum(0);
        let value = checksum::pseudo_header_ipv6(src, dst, IPPROTO_ICMPV6, len)
            .add_bytes(self.buffer.as_ref())
            .finish();
        self.set_checksum(value);
        Ok(())
    }
}

/// An ICMPv6 message as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// Destination unreachable (type 1).
    DstUnreachable {
        /// The code (see [`unreachable_code`]).
        code: u8,
        /// As much of the invoking packet as fits in the minimum MTU.
        data: &'a [u8],
    },
    /// Packet too big (type 2, code 0).
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Time exceeded (type 3): code 0 hop limit exceeded, 1 reassembly time exceeded.
    TimeExceeded {
        /// The code.
        code: u8,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Parameter problem (type 4).
    ParamProblem {
        /// The code (0 erroneous header field, 1 unrecognized next header, 2 unrecognized
        /// option, ...).
        code: u8,
        /// Offset of the offending byte in the invoking packet.
        pointer: u32,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Echo request (type 128, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to be echoed.
        data: &'a [u8],
    },
    /// Echo reply (type 129, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Any other message, or one of the above with a code it does not use.
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

impl<'a> Icmpv6Repr<'a> {
    /// Parses an ICMPv6 message (the upper-layer payload) that came from `src` to `dst`.  With
    /// `verify_checksum` false the checksum is not checked.  Packet too big and echo messages
    /// with a code other than 0 parse as [`Other`](Self::Other).
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 8 bytes, [`Error::BadChecksum`].
    pub fn parse(
        bytes: &'a [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        verify_checksum: bool,
    ) -> Result<Icmpv6Repr<'a>, Error> {
        let packet = Icmpv6Packet::new_checked(bytes)?;
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let data = &bytes[ICMPV6_HEADER_LEN..];
        Ok(match (packet.msg_type(), packet.code()) {
            (msg_type::DST_UNREACHABLE, code) => Icmpv6Repr::DstUnreachable { code, data },
            (msg_type::PACKET_TOO_BIG, 0) => Icmpv6Repr::PacketTooBig {
                mtu: packet.rest_of_header_u32(),
                data,
            },
            (msg_type::TIME_EXCEEDED, code) => Icmpv6Repr::TimeExceeded { code, data },
            (msg_type::PARAM_PROBLEM, code) => Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.rest_of_header_u32(),
                data,
            },
            (msg_type::ECHO_REQUEST, 0) => Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (msg_type::ECHO_REPLY, 0) => Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (msg_type, code) => Icmpv6Repr::Other {
                msg_type,
                code,
                rest: packet.rest_of_header(),
                data,
            },
        })
    }

    /// The bytes after the 8-byte header.
    pub const fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv6Repr::DstUnreachable { data, .. }
            | Icmpv6Repr::PacketTooBig { data, .. }
            | Icmpv6Repr::TimeExceeded { data, .. }
            | Icmpv6Repr::ParamProblem { data, .. }
            | Icmpv6Repr::EchoRequest { data, .. }
            | Icmpv6Repr::EchoReply { data, .. }
            | Icmpv6Repr::Other { data, .. } => data,
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
            Icmpv6Repr::DstUnreachable { code, .. } => (msg_type::DST_UNREACHABLE, code, [0; 4]),
            Icmpv6Repr::PacketTooBig { mtu, .. } => {
                (msg_type::PACKET_TOO_BIG, 0, mtu.to_be_bytes())
            }
            Icmpv6Repr::TimeExceeded { code, .. } => (msg_type::TIME_EXCEEDED, code, [0; 4]),
            Icmpv6Repr::ParamProblem { code, pointer, .. } => {
                (msg_type::PARAM_PROBLEM, code, pointer.to_be_bytes())
            }
            Icmpv6Repr::EchoRequest { ident, seq_no, .. } => {
                (msg_type::ECHO_REQUEST, 0, echo(ident, seq_no))
            }
            Icmpv6Repr::EchoReply { ident, seq_no, .. } => {
                (msg_type::ECHO_REPLY, 0, echo(ident, seq_no))
            }
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest,
                ..
            } => (msg_type, code, rest),
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes: 8 plus the data.
    pub const fn buffer_len(&self) -> usize {
        ICMPV6_HEADER_LEN + self.data().len()
    }

    /// Writes the message at the start of `buf` with its checksum over the pseudo-header of
    /// `src` and `dst`, and returns [`buffer_len`](Self::buffer_len).  Unused header bytes are
    /// written as zero.
    ///
    /// Returns 0 and writes nothing when `buf` is too short (a caller bug).
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> usize {
        let len = self.buffer_len();
        let Ok(pseudo_len) = u32::try_from(len) else {
            return 0;
        };
        let Some(buf) = buf.get_mut(..len) else {
            return 0;
        };
        let (msg_type, code, rest) = self.header_fields();
        let mut packet = Icmpv6Packet::new_unchecked(buf);
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_checksum(0);
        packet.set_rest_of_header(rest);
        packet.data_mut().copy_from_slice(self.data());
        let value = checksum::pseudo_header_ipv6(src, dst, IPPROTO_ICMPV6, pseudo_len)
            .add_bytes(packet.as_bytes())
            .finish();
        packet.set_checksum(value);
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
    }

    #[test]
    fn every_variant_round_trips() {
        let quoted = [0x60u8, 0, 0, 0, 0, 20, 6, 64];
        let reprs = [
            Icmpv6Repr::DstUnreachable {
                code: unreachable_code::PORT,
                data: &quoted,
            },
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                data: &quoted,
            },
            Icmpv6Repr::TimeExceeded {
                code: 1,
                data: &quoted,
            },
            Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: 40,
                data: &quoted,
            },
            Icmpv6Repr::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: b"ping",
            },
            Icmpv6Repr::EchoReply {
                ident: 1,
                seq_no: 2,
                data: b"ping",
            },
            Icmpv6Repr::Other {
                msg_type: 135,
                code: 0,
                rest: [0; 4],
                data: &[0xfe, 0x80],
            },
        ];
        for repr in reprs {
            let mut buf = [0u8; 64];
            let n = repr.emit(&mut buf, addr(1), addr(2));
            assert_eq!(n, repr.buffer_len());
            assert_eq!(
                Icmpv6Repr::parse(&buf[..n], addr(1), addr(2), true),
                Ok(repr)
            );
            // The pseudo-header matters: swapping a different address breaks the checksum.
            assert_eq!(
                Icmpv6Repr::parse(&buf[..n], addr(3), addr(2), true),
                Err(Error::BadChecksum)
            );
            assert_eq!(
                Icmpv6Repr::parse(&buf[..n], addr(3), addr(2), false),
                Ok(repr)
            );
        }
    }

    #[test]
    fn packet_too_big_layout_and_errors() {
        let repr = Icmpv6Repr::PacketTooBig {
            mtu: 1400,
            data: &[],
        };
        let mut buf = [0u8; 8];
        assert_eq!(repr.emit(&mut buf, addr(1), addr(2)), 8);
        assert_eq!(&buf[..2], &[2, 0]);
        assert_eq!(&buf[4..], &1400u32.to_be_bytes());
        assert_eq!(repr.emit(&mut [0u8; 7], addr(1), addr(2)), 0);
        assert_eq!(
            Icmpv6Repr::parse(&buf[..7], addr(1), addr(2), true),
            Err(Error::Truncated)
        );
    }
}
