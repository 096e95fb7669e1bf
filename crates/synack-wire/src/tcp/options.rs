//! TCP options: parsing (RFC 9293 §3.2, RFC 7323 §2.2 and §3.2, RFC 2018 §2-§3) and emitting in
//! exactly the layouts Linux's `tcp_options_write()` produces.
//!
//! Linux lays every option out in 32-bit words, so no trailing padding is ever needed:
//!
//! | option(s)                  | bytes                                   |
//! |----------------------------|-----------------------------------------|
//! | MSS                        | `02 04 mm mm`                           |
//! | SACK-permitted + timestamps| `04 02 08 0a` TSval TSecr               |
//! | timestamps alone           | `01 01 08 0a` TSval TSecr               |
//! | SACK-permitted alone       | `01 01 04 02`                           |
//! | window scale               | `01 03 03 ss`                           |
//! | SACK blocks                | `01 01 05 ll` (left right) × n          |
//!
//! in that order, so a SYN with everything reads `mss, sackOK, TS, nop, wscale` (20 bytes), a SYN
//! without timestamps `mss, nop, nop, sackOK, nop, wscale`, and an established segment
//! `nop, nop, TS, nop, nop, SACK`.

use super::packet::TCP_MAX_OPTIONS_LEN;
use super::{SackBlock, SackBlocks, TcpOptions, Timestamps};
use crate::field::{read_u16, read_u32, write_u32};
use crate::Error;

/// TCP option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of option list (RFC 9293 §3.2).
    pub const EOL: u8 = 0;
    /// No operation (RFC 9293 §3.2).
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.2).
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
}

/// Option lengths, kind and length bytes included.
mod length {
    pub(super) const MSS: usize = 4;
    pub(super) const WINDOW_SCALE: usize = 3;
    pub(super) const SACK_PERMITTED: usize = 2;
    pub(super) const TIMESTAMPS: usize = 10;
    pub(super) const SACK_BASE: usize = 2;
    pub(super) const SACK_PER_BLOCK: usize = 8;
}

/// Space Linux's layouts take: every group is one or more whole 32-bit words.
mod aligned {
    pub(super) const MSS: usize = 4;
    pub(super) const TIMESTAMPS: usize = 12;
    pub(super) const SACK_PERMITTED: usize = 4;
    pub(super) const WINDOW_SCALE: usize = 4;
    pub(super) const SACK_BASE: usize = 4;
}

impl TcpOptions {
    /// Parses the option bytes of a TCP header (the bytes between the fixed header and the Data
    /// Offset).
    ///
    /// EOL ends the list; NOP is skipped; MSS, window scale, SACK-permitted, SACK (1 to 4
    /// blocks) and timestamps are decoded; unknown kinds are skipped by their length.  When an
    /// option appears twice, the later one wins.  Values are reported as sent (a window scale above
    /// 14 is not clamped here; RFC 7323 §2.3 leaves that to the receiver).
    ///
    /// # Errors
    /// [`Error::BadOption`] when an option's length byte is missing, 0 or 1, runs past the end of
    /// `bytes`, or is not the fixed length its kind requires.
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions, Error> {
        let mut options = TcpOptions::default();
        let mut rest = bytes;
        while let Some((&kind_byte, after_kind)) = rest.split_first() {
            match kind_byte {
                kind::EOL => break,
                kind::NOP => {
                    rest = after_kind;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*after_kind.first().ok_or(Error::BadOption)?);
            if len < 2 || len > rest.len() {
                return Err(Error::BadOption);
            }
            let (option, tail) = rest.split_at(len);
            let body = &option[2..];
            match kind_byte {
                kind::MSS => {
                    if len != length::MSS {
                        return Err(Error::BadOption);
                    }
                    options.mss = Some(read_u16(body, 0));
                }
                kind::WINDOW_SCALE => {
                    if len != length::WINDOW_SCALE {
                        return Err(Error::BadOption);
                    }
                    options.window_scale = Some(body[0]);
                }
                kind::SACK_PERMITTED => {
                    if len != length::SACK_PERMITTED {
                        return Err(Error::BadOption);
                    }
                    options.sack_permitted = true;
                }
                kind::SACK => {
                    let blocks_len = len - length::SACK_BASE;
                    let n = blocks_len / length::SACK_PER_BLOCK;
                    if blocks_len % length::SACK_PER_BLOCK != 0
                        || !(1..=SackBlocks::MAX).contains(&n)
                    {
                        return Err(Error::BadOption);
                    }
                    let mut sack = SackBlocks::new();
                    for block in body.chunks_exact(length::SACK_PER_BLOCK) {
                        sack.push(SackBlock {
                            left: read_u32(block, 0),
                            right: read_u32(block, 4),
                        });
                    }
                    options.sack = sack;
                }
                kind::TIMESTAMPS => {
                    if len != length::TIMESTAMPS {
                        return Err(Error::BadOption);
                    }
                    options.timestamps = Some(Timestamps {
                        tsval: read_u32(body, 0),
                        tsecr: read_u32(body, 4),
                    });
                }
                _ => {}
            }
            rest = tail;
        }
        Ok(options)
    }

    /// Bytes the options other than SACK blocks take in Linux's layout.
    fn base_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += aligned::MSS;
        }
        if self.timestamps.is_some() {
            // SACK-permitted, when present, shares the timestamps' leading word.
            len += aligned::TIMESTAMPS;
        } else if self.sack_permitted {
            len += aligned::SACK_PERMITTED;
        }
        if self.window_scale.is_some() {
            len += aligned::WINDOW_SCALE;
        }
        len
    }

    /// How many SACK blocks fit in the 40 option bytes beside the other options set here (the
    /// same computation as Linux's `tcp_established_options()`): 4 alone, 3 beside timestamps.
    pub fn max_sack_blocks(&self) -> usize {
        let room = TCP_MAX_OPTIONS_LEN - self.base_len();
        if room < aligned::SACK_BASE + length::SACK_PER_BLOCK {
            return 0;
        }
        ((room - aligned::SACK_BASE) / length::SACK_PER_BLOCK).min(SackBlocks::MAX)
    }

    /// The number of SACK blocks [`emit`](Self::emit) writes: all of them, or as many as fit.
    pub fn emitted_sack_blocks(&self) -> usize {
        self.sack.len().min(self.max_sack_blocks())
    }

    /// The number of bytes [`emit`](Self::emit) writes: a multiple of 4, at most 40.
    pub fn wire_len(&self) -> usize {
        let n = self.emitted_sack_blocks();
        let sack = if n == 0 {
            0
        } else {
            aligned::SACK_BASE + n * length::SACK_PER_BLOCK
        };
        self.base_len() + sack
    }

    /// Writes the options in Linux's layout (see the [module documentation](self)) and returns
    /// the number of bytes written, [`wire_len`](Self::wire_len).
    ///
    /// SACK blocks that do not fit in 40 bytes beside the other options are left out from the
    /// end, as Linux does.  Returns 0 and writes nothing when `buf` is shorter than
    /// [`wire_len`](Self::wire_len).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.wire_len();
        let Some(buf) = buf.get_mut(..total) else {
            return 0;
        };
        let mut at = 0;
        let mut word = |buf: &mut [u8], w: [u8; 4]| {
            buf[at..at + 4].copy_from_slice(&w);
            at += 4;
        };
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            word(buf, [kind::MSS, length::MSS as u8, hi, lo]);
        }
        if let Some(ts) = self.timestamps {
            let lead = if self.sack_permitted {
                [
                    kind::SACK_PERMITTED,
                    length::SACK_PERMITTED as u8,
                    kind::TIMESTAMPS,
                    length::TIMESTAMPS as u8,
                ]
            } else {
                [
                    kind::NOP,
                    kind::NOP,
                    kind::TIMESTAMPS,
                    length::TIMESTAMPS as u8,
                ]
            };
            word(buf, lead);
            word(buf, ts.tsval.to_be_bytes());
            word(buf, ts.tsecr.to_be_bytes());
        } else if self.sack_permitted {
            word(
                buf,
                [
                    kind::NOP,
                    kind::NOP,
                    kind::SACK_PERMITTED,
                    length::SACK_PERMITTED as u8,
                ],
            );
        }
        if let Some(shift) = self.window_scale {
            word(
                buf,
                [
                    kind::NOP,
                    kind::WINDOW_SCALE,
                    length::WINDOW_SCALE as u8,
                    shift,
                ],
            );
        }
        let n = self.emitted_sack_blocks();
        if n > 0 {
            // At most 2 + 4 × 8 = 34: fits in a byte.
            let len = (length::SACK_BASE + n * length::SACK_PER_BLOCK) as u8;
            word(buf, [kind::NOP, kind::NOP, kind::SACK, len]);
            for block in self.sack.as_slice().iter().take(n) {
                write_u32(buf, at, block.left);
                write_u32(buf, at + 4, block.right);
                at += 8;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(tsval: u32, tsecr: u32) -> Option<Timestamps> {
        Some(Timestamps { tsval, tsecr })
    }

    fn emit(o: &TcpOptions) -> alloc::vec::Vec<u8> {
        let mut buf = [0u8; 40];
        let n = o.emit(&mut buf);
        assert_eq!(n, o.wire_len());
        assert_eq!(n % 4, 0);
        buf[..n].to_vec()
    }

    #[test]
    fn linux_syn_layout() {
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: ts(1, 0),
            sack: SackBlocks::new(),
        };
        assert_eq!(
            emit(&o),
            [
                0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0x01, 0x03,
                0x03, 0x07
            ]
        );
    }

    #[test]
    fn linux_syn_without_timestamps() {
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        assert_eq!(emit(&o), [0x02, 0x04, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);
    }

    #[test]
    fn linux_syn_without_sack_permitted() {
        let o = TcpOptions {
            mss: Some(536),
            window_scale: Some(0),
            timestamps: ts(0x0102_0304, 0),
            ..TcpOptions::default()
        };
        assert_eq!(
            emit(&o),
            [2, 4, 2, 0x18, 1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 0]
        );
    }

    #[test]
    fn sack_blocks_truncate_to_fit() {
        let mut sack = SackBlocks::new();
        for i in 0..4 {
            sack.push(SackBlock {
                left: i * 100,
                right: i * 100 + 50,
            });
        }
        let mut o = TcpOptions {
            sack,
            ..TcpOptions::default()
        };
        assert_eq!(o.max_sack_blocks(), 4);
        assert_eq!(o.wire_len(), 36);
        o.timestamps = ts(5, 6);
        assert_eq!(o.max_sack_blocks(), 3);
        assert_eq!(o.wire_len(), 40);
        let bytes = emit(&o);
        assert_eq!(&bytes[12..16], &[1, 1, 5, 26]);
        o.mss = Some(1000);
        o.window_scale = Some(1);
        o.sack_permitted = true;
        assert_eq!(o.max_sack_blocks(), 2);
        assert_eq!(o.wire_len(), 40);
        let parsed = TcpOptions::parse(&emit(&o)).unwrap();
        assert_eq!(parsed.sack.as_slice(), &o.sack.as_slice()[..2]);
    }

    #[test]
    fn parse_rejects_bad_lengths() {
        for bad in [
            &[2u8][..],                // no length byte
            &[2, 0],                   // length 0
            &[2, 1],                   // length 1
            &[2, 4, 5],                // runs past the end
            &[2, 3, 5],                // wrong MSS length
            &[3, 4, 5, 6],             // wrong window scale length
            &[4, 3, 0],                // wrong SACK-permitted length
            &[5, 2],                   // SACK with no block
            &[5, 6, 0, 0, 0, 0],       // SACK with half a block
            &[8, 8, 0, 0, 0, 0, 0, 0], // wrong timestamps length
            &[99, 0],                  // unknown kind, length 0
            &[99, 5, 0, 0],            // unknown kind, past the end
        ] {
            assert_eq!(TcpOptions::parse(bad), Err(Error::BadOption), "{bad:?}");
        }
    }

    #[test]
    fn parse_skips_and_stops() {
        // NOP, unknown kind 30 of length 4, EOL, then garbage that must be ignored.
        let o = TcpOptions::parse(&[1, 30, 4, 9, 9, 0, 2, 0]).unwrap();
        assert_eq!(o, TcpOptions::default());
        let o = TcpOptions::parse(&[1, 1, 1, 3, 3, 14, 2, 4, 0x05, 0xa0]).unwrap();
        assert_eq!(o.window_scale, Some(14));
        assert_eq!(o.mss, Some(1440));
    }
}
