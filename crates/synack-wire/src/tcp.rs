//! The TCP header (RFC 9293 §3.1) and its options (RFC 9293 §3.2, RFC 7323 §2-§3, RFC 2018 §2-§3).
//!
//! - [`TcpPacket`]: a zero-copy view over a segment's bytes, with getters and setters;
//! - [`TcpRepr`]: the segment as plain values, with [`TcpRepr::parse`] (validating, checksum over
//!   the RFC 9293 §3.1 / RFC 8200 §8.1 pseudo-header) and [`TcpRepr::emit`];
//! - [`TcpOptions`]: every option synack understands, emitted in exactly Linux's layouts
//!   (see [`options`]);
//! - [`QuotedTcpHeader`]: the 8 bytes of a TCP header that ICMP errors quote (RFC 5927 §4).

use core::fmt;

pub mod options;
mod packet;
mod repr;

pub use packet::{TcpPacket, TCP_HEADER_LEN, TCP_MAX_HEADER_LEN, TCP_MAX_OPTIONS_LEN};
pub use repr::QuotedTcpHeader;

/// The TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// FIN: no more data from sender.
    pub const FIN: Self = Self(0x01);
    /// SYN: synchronise sequence numbers.
    pub const SYN: Self = Self(0x02);
    /// RST: reset the connection.
    pub const RST: Self = Self(0x04);
    /// PSH: push function.
    pub const PSH: Self = Self(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: Self = Self(0x10);
    /// URG: the urgent pointer field is significant.
    pub const URG: Self = Self(0x20);
    /// ECE: ECN echo (RFC 3168).
    pub const ECE: Self = Self(0x40);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: Self = Self(0x80);

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when any bit of `other` is set in `self`.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True for SYN.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// True for ACK.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// True for FIN.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// True for RST.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// True for PSH.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Formats as the words Wireshark uses, joined by `+`: `SYN+ACK`, `FIN+ACK`, `RST+ACK`, `ACK`,
/// `PSH+ACK`; `none` when no bit is set.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("+")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One SACK block (RFC 2018 §3): the bytes `[left, right)` were received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: u32,
    /// Sequence number just past the block.
    pub right: u32,
}

/// Up to four SACK blocks (the most that fit in 40 option bytes, RFC 2018 §3).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SackBlocks {
    blocks: [SackBlock; 4],
    len: u8,
}

impl SackBlocks {
    /// The most blocks one segment can carry.
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> Self {
        Self {
            blocks: [SackBlock { left: 0, right: 0 }; 4],
            len: 0,
        }
    }
    /// Appends a block; returns false (and changes nothing) when four are already held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        if (self.len as usize) < Self::MAX {
            self.blocks[self.len as usize] = block;
            self.len += 1;
            true
        } else {
            false
        }
    }
    /// Keeps at most `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len as usize {
            // Unused slots stay zeroed, so the derived `PartialEq` and `Hash` (which see the
            // whole array) agree with `as_slice()`.
            for slot in &mut self.blocks[n..] {
                *slot = SackBlock::default();
            }
            self.len = n as u8;
        }
    }
    /// The blocks held, in order.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..self.len as usize]
    }
    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True when no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed timestamp.
    pub tsecr: u32,
}

/// The TCP options a segment carries that synack understands. Unknown options are skipped by length
/// on parse and never emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2, RFC 9293 §3.7.1); only meaningful on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift (kind 3, RFC 7323 §2); only meaningful on SYN segments.
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, RFC 2018 §2); only meaningful on SYN segments.
    pub sack_permitted: bool,
    /// Timestamps (kind 8, RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (kind 5, RFC 2018 §3).
    pub sack: SackBlocks,
}

/// A TCP segment as plain values (the header in host byte order, plus a borrowed payload).
///
/// `ack` holds the acknowledgment field as it is on the wire even when the ACK flag is clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field (unscaled, as on the wire).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload bytes.
    pub payload: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sack_blocks_equality_ignores_dropped_blocks() {
        let mut a = SackBlocks::new();
        let mut b = SackBlocks::new();
        for i in 0..4 {
            assert!(a.push(SackBlock {
                left: i,
                right: i + 1
            }));
        }
        assert!(!a.push(SackBlock::default()));
        a.truncate(2);
        b.push(SackBlock { left: 0, right: 1 });
        b.push(SackBlock { left: 1, right: 2 });
        assert_eq!(a, b);
        a.truncate(7);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn flags_display() {
        use alloc::string::ToString;
        assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "SYN+ACK");
        assert_eq!(TcpFlags::NONE.to_string(), "none");
    }
}
