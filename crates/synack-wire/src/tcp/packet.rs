//! The zero-copy TCP header view (RFC 9293 §3.1).

use core::net::IpAddr;

use super::TcpFlags;
use crate::checksum::{self, Checksum};
use crate::field::{read_u16, read_u32, write_u16, write_u32};
use crate::ip::IPPROTO_TCP;
use crate::Error;

/// Byte offsets of the fixed TCP header fields (RFC 9293 §3.1, Figure 1).
mod offset {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const DATA_OFFSET: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// The length of the TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// The longest TCP header: Data Offset 15 words.
pub const TCP_MAX_HEADER_LEN: usize = 60;
/// The most option bytes one segment carries.
pub const TCP_MAX_OPTIONS_LEN: usize = TCP_MAX_HEADER_LEN - TCP_HEADER_LEN;

/// A read/write view of a TCP segment (header, options and payload) in a byte buffer.
///
/// Build it with [`new_checked`](Self::new_checked) for untrusted bytes: after that every
/// accessor is panic-free.  [`new_unchecked`](Self::new_unchecked) is for buffers the caller is
/// filling in; its fixed-field accessors panic when the buffer is shorter than 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
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

    /// Checks that the buffer holds the fixed header and that the Data Offset is at least 5
    /// words and within the buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] for fewer than 20 bytes, [`Error::BadDataOffset`] for a Data Offset
    /// below 5 or past the end of the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        if buf.len() < TCP_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < TCP_HEADER_LEN || header_len > buf.len() {
            return Err(Error::BadDataOffset);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::DST_PORT)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        read_u32(self.buffer.as_ref(), offset::SEQ)
    }

    /// Acknowledgment number (as on the wire, whether or not ACK is set).
    pub fn ack(&self) -> u32 {
        read_u32(self.buffer.as_ref(), offset::ACK)
    }

    /// Data Offset: the header length in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[offset::DATA_OFFSET] >> 4
    }

    /// The header length in bytes (Data Offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// The four bits between Data Offset and the control bits (reserved; the lowest one is
    /// AccECN's AE, formerly NS).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[offset::DATA_OFFSET] & 0x0f
    }

    /// The control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[offset::FLAGS])
    }

    /// Window (unscaled).
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offset::URGENT)
    }

    /// The option bytes (empty when the Data Offset is out of range).
    pub fn options(&self) -> &[u8] {
        let end = self.header_len();
        self.buffer.as_ref().get(TCP_HEADER_LEN..end).unwrap_or(&[])
    }

    /// The payload: everything after the header (empty when the Data Offset is out of range).
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len();
        self.buffer.as_ref().get(start..).unwrap_or(&[])
    }

    /// True when the checksum verifies over the pseudo-header of `src` and `dst` (RFC 9293 §3.1)
    /// and the whole buffer.  False when the addresses are of different families.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let buf = self.buffer.as_ref();
        match checksum::pseudo_header(src, dst, IPPROTO_TCP, buf.len()) {
            Ok(mut c) => c.add_bytes(buf).finish() == 0,
            Err(_) => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::DST_PORT, value);
    }

    /// Sets the sequence number.
    pub fn set_seq(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), offset::SEQ, value);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), offset::ACK, value);
    }

    /// Sets the header length in bytes; it is rounded down to whole words and clamped to
    /// 20..=60.  The reserved bits are cleared.
    pub fn set_header_len(&mut self, len: usize) {
        let words = len.clamp(TCP_HEADER_LEN, TCP_MAX_HEADER_LEN) / 4;
        // `words` is at most 15, so the cast is lossless.
        self.buffer.as_mut()[offset::DATA_OFFSET] = (words as u8) << 4;
    }

    /// Sets the reserved bits (the low four bits of byte 12); higher bits of `value` are ignored.
    pub fn set_reserved(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[offset::DATA_OFFSET];
        *b = (*b & 0xf0) | (value & 0x0f);
    }

    /// Sets the control bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[offset::FLAGS] = flags.bits();
    }

    /// Sets the window field.
    pub fn set_window(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::WINDOW, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), offset::URGENT, value);
    }

    /// The option bytes, writable (empty when the Data Offset is out of range).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(TCP_HEADER_LEN..end)
            .unwrap_or(&mut [])
    }

    /// The payload, writable (empty when the Data Offset is out of range).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Computes the checksum over the pseudo-header of `src` and `dst` and the whole buffer, and
    /// stores it.
    ///
    /// # Errors
    /// [`Error::AddressFamilyMismatch`] for mixed families, [`Error::TooLarge`] when the buffer
    /// exceeds the pseudo-header's length field.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<(), Error> {
        let mut c: Checksum =
            checksum::pseudo_header(src, dst, IPPROTO_TCP, self.buffer.as_ref().len())?;
        self.set_checksum(0);
        let sum = c.add_bytes(self.buffer.as_ref()).finish();
        self.set_checksum(sum);
        Ok(())
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}
