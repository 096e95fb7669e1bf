//! Parsing and emitting [`TcpRepr`] (RFC 9293 §3.1).

use core::net::IpAddr;

use super::packet::{TcpPacket, TCP_HEADER_LEN};
use super::{TcpFlags, TcpOptions, TcpRepr};
use crate::checksum::{self, Checksum};
use crate::field::{read_u16, read_u32};
use crate::ip::IPPROTO_TCP;
use crate::Error;

impl<'a> TcpRepr<'a> {
    /// Parses a TCP segment (header, options and payload: the whole IP payload).
    ///
    /// `src` and `dst` are the IP addresses the segment came with; they enter the checksum's
    /// pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1).  With `verify_checksum` false the checksum
    /// is not checked (for example when a device already did it).
    ///
    /// The checks run in this order: length, Data Offset, address families, checksum, options.
    /// Never panics, whatever `bytes` holds.
    ///
    /// # Errors
    /// - [`Error::Truncated`]: fewer than 20 bytes;
    /// - [`Error::BadDataOffset`]: Data Offset below 5 or beyond the buffer;
    /// - [`Error::AddressFamilyMismatch`]: `src` and `dst` of different families (always checked);
    /// - [`Error::TooLarge`]: an IPv4 segment longer than 65,535 bytes (checksum cannot cover it);
    /// - [`Error::BadChecksum`]: the checksum does not verify;
    /// - [`Error::BadOption`]: see [`TcpOptions::parse`].
    pub fn parse(
        bytes: &'a [u8],
        src: IpAddr,
        dst: IpAddr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>, Error> {
        let packet = TcpPacket::new_checked(bytes)?;
        let mut sum = checksum::pseudo_header(src, dst, IPPROTO_TCP, bytes.len())?;
        if verify_checksum && sum.add_bytes(bytes).finish() != 0 {
            return Err(Error::BadChecksum);
        }
        let header_len = packet.header_len();
        let (header, payload) = bytes.split_at(header_len);
        let options = TcpOptions::parse(&header[TCP_HEADER_LEN..])?;
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq(),
            ack: packet.ack(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options,
            payload,
        })
    }

    /// The header length [`emit`](Self::emit) writes: 20 bytes plus
    /// [`TcpOptions::wire_len`].
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.wire_len()
    }

    /// The number of bytes [`emit`](Self::emit) writes: header and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies: payload bytes plus one each for SYN and FIN
    /// (RFC 9293 §3.4).
    pub fn seq_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Writes the segment (header, options in Linux's layout, payload) at the start of `buf`,
    /// fills in the checksum over the pseudo-header of `src` and `dst`, and returns the number of
    /// bytes written, [`buffer_len`](Self::buffer_len).  The reserved bits are written as zero;
    /// SACK blocks that do not fit are left out (see [`TcpOptions::emit`]).
    ///
    /// Returns 0 and leaves `buf` untouched on a caller bug: `buf` shorter than
    /// [`buffer_len`](Self::buffer_len), `src` and `dst` of different families, or an IPv4
    /// segment longer than 65,535 bytes.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> usize {
        self.emit_gather(buf, src, dst, [self.payload, &[]])
    }

    /// Like [`TcpRepr::emit`], with the payload given as two pieces written one after the other
    /// (for example the two halves of a ring buffer) instead of `self.payload`, which is ignored:
    /// the segment is written and checksummed without gathering the payload first.
    /// `buf` must hold `self.header_len()` plus both pieces; otherwise nothing is written and 0 is
    /// returned.
    pub fn emit_gather(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        parts: [&[u8]; 2],
    ) -> usize {
        let header_len = self.header_len();
        let len = header_len + parts[0].len() + parts[1].len();
        let Some(buf) = buf.get_mut(..len) else {
            return 0;
        };
        let Ok(mut sum) = checksum::pseudo_header(src, dst, IPPROTO_TCP, len) else {
            // Mismatched families or an oversized segment: write nothing.
            return 0;
        };
        // The payload is summed while it is copied in: one pass over its bytes, not two.
        let mut payload = Checksum::new();
        let (header, rest) = buf.split_at_mut(header_len);
        let (first, second) = rest.split_at_mut(parts[0].len());
        payload
            .copy_and_add(first, parts[0])
            .copy_and_add(second, parts[1]);
        // The fixed header is summed from the field values and written at once with its
        // checksum, rather than written field by field and read back (which stalls on the store
        // buffer); only the options are summed from their bytes.
        self.options.emit(&mut header[TCP_HEADER_LEN..]);
        let mut words = [
            self.src_port,
            self.dst_port,
            (self.seq >> 16) as u16,
            self.seq as u16,
            (self.ack >> 16) as u16,
            self.ack as u16,
            // Data Offset in the top four bits (at most 15 words: lossless), reserved bits zero.
            ((header_len / 4) as u16) << 12 | u16::from(self.flags.bits()),
            self.window,
            0,
            self.urgent,
        ];
        sum.add_sum(Checksum::from_sum(checksum::sum_words(&words)))
            .add_bytes(&header[TCP_HEADER_LEN..])
            .add_sum(payload);
        words[8] = sum.finish();
        let mut bytes = [0u8; TCP_HEADER_LEN];
        crate::field::write_words(&mut bytes, &words);
        header[..TCP_HEADER_LEN].copy_from_slice(&bytes);
        len
    }
}

impl TcpRepr<'static> {
    /// A bare segment with the given ports, sequence numbers, flags and window, no options and no
    /// payload (for example a RST).
    pub const fn new(
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
    ) -> TcpRepr<'static> {
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            options: TcpOptions {
                mss: None,
                window_scale: None,
                sack_permitted: false,
                timestamps: None,
                sack: super::SackBlocks::new(),
            },
            payload: &[],
        }
    }
}

/// The first 8 bytes of a TCP header, as an ICMP error quotes them (RFC 792, RFC 4443 §3,
/// RFC 5927 §4): enough to find the connection and check the sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedTcpHeader {
    /// Source port of the quoted segment (our port when we sent it).
    pub src_port: u16,
    /// Destination port of the quoted segment.
    pub dst_port: u16,
    /// Sequence number of the quoted segment.
    pub seq: u32,
}

impl QuotedTcpHeader {
    /// Reads the ports and sequence number from the start of a quoted TCP header.
    ///
    /// # Errors
    /// [`Error::Truncated`] when fewer than 8 bytes are present.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < 8 {
            return Err(Error::Truncated);
        }
        Ok(Self {
            src_port: read_u16(bytes, 0),
            dst_port: read_u16(bytes, 2),
            seq: read_u32(bytes, 4),
        })
    }
}
