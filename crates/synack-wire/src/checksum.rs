//! The Internet checksum.
//!
//! - RFC 1071 (§1-§2): the 16-bit ones'-complement of the ones'-complement sum of the data taken as
//!   big-endian 16-bit words, an odd trailing byte padded with a zero byte.  The sum is independent
//!   of byte order and can be computed in pieces and combined (RFC 1071 §2 (A)-(C)), which is what
//!   [`Checksum`] does.
//! - RFC 1624 (§3): incremental update of a checksum after one field changes
//!   ([`update_u16`], [`update_u32`]).
//! - RFC 9293 §3.1: the IPv4 pseudo-header that the TCP checksum covers (source, destination,
//!   zero, protocol, TCP length) — [`pseudo_header_ipv4`].
//! - RFC 8200 §8.1: the IPv6 pseudo-header (source, destination, 32-bit upper-layer length, three
//!   zero bytes, next header) used by TCP and ICMPv6 — [`pseudo_header_ipv6`].
//!
//! A received packet verifies when the checksum over everything it covers, checksum field
//! included, [`finish`](Checksum::finish)es to zero.
//!
//! [`Checksum::copy_and_add`] sums data while copying it (a datagram's payload on its way in), and
//! with the `simd` feature the block loop runs with AVX2 where the CPU has it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;

/// Folds a wide ones'-complement accumulator to 16 bits with end-around carry (RFC 1071 §4.1).
pub const fn fold(sum: u64) -> u16 {
    // 2^32 and 2^16 are both 1 modulo 0xffff, so each step keeps the value modulo 0xffff (and
    // keeps a non-zero sum non-zero). After the first step the sum is below 2^33, after the
    // second below 2^18, after the third at most 0x1_0002, and after the fourth it fits.
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The folded ones'-complement sum of `words` (a header summed from its field values rather
/// than from its bytes).
#[inline]
pub(crate) fn sum_words(words: &[u16]) -> u16 {
    fold(words.iter().map(|&w| u64::from(w)).sum())
}

/// The unfolded sum of the native-endian 16-bit words of `piece`, a whole number of 64-byte
/// blocks and at most 1 MiB (see [`sum_even`]). With `COPY`, each block is also copied to the
/// same place in `dst` (which is then as long as `piece`) while it is in registers, so copying
/// and summing take one pass over the data instead of two.
///
/// With the `simd` feature, on an x86-64 CPU that has AVX2 (detected at run time, by the `pulp`
/// crate), the wide-lane loop is compiled for AVX2; otherwise the narrow-lane loop, which suits
/// the SSE2 every x86-64 CPU has (and other targets' vector units), is used.
fn sum_blocks<const COPY: bool>(piece: &[u8], dst: &mut [u8]) -> u64 {
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let Some(avx2) = pulp::x86::V3::try_new() {
        return avx2.vectorize(
            #[inline(always)]
            || sum_blocks_wide::<COPY>(piece, dst),
        );
    }
    sum_blocks_narrow::<COPY>(piece, dst)
}

/// [`sum_blocks`] for 128-bit vectors: sixteen 32-bit lanes, each keeping a wrapping sum of its
/// words and one of their high halves (three SSE2 operations per 16 bytes). The sum of the low
/// halves is then `all - (high << 16)` (mod 2^32, exact while it stays below 2^32), and low plus
/// high halves is the 16-bit sum we want, before folding. A lane takes one word per block, at
/// most 0xffff per half, so 2^16 blocks (4 MiB) cannot overflow it.
#[inline(always)]
fn sum_blocks_narrow<const COPY: bool>(piece: &[u8], dst: &mut [u8]) -> u64 {
    let mut all = [0u32; 16];
    let mut high = [0u32; 16];
    let mut out = dst.chunks_exact_mut(64);
    for block in piece.chunks_exact(64) {
        let mut words = [0u32; 16];
        for (w, b) in words.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        if COPY {
            if let Some(d) = out.next() {
                d.copy_from_slice(block);
            }
        }
        for (a, w) in all.iter_mut().zip(&words) {
            *a = a.wrapping_add(*w);
        }
        for (h, w) in high.iter_mut().zip(&words) {
            *h = h.wrapping_add(*w >> 16);
        }
    }
    all.iter()
        .zip(&high)
        .map(|(a, h)| u64::from(a.wrapping_sub(h << 16)) + u64::from(*h))
        .sum()
}

/// [`sum_blocks`] for 256-bit vectors: each 32-bit word widened into one of sixteen 64-bit
/// lanes (which cannot overflow for any input shorter than 2^32 words); with AVX2 the widening
/// add is one operation per four words.
#[cfg_attr(
    not(all(feature = "simd", target_arch = "x86_64")),
    allow(dead_code, reason = "only the AVX2 path uses it (and the tests)")
)]
#[inline(always)]
fn sum_blocks_wide<const COPY: bool>(piece: &[u8], dst: &mut [u8]) -> u64 {
    let mut lanes = [0u64; 16];
    let mut out = dst.chunks_exact_mut(64);
    for block in piece.chunks_exact(64) {
        if COPY {
            if let Some(d) = out.next() {
                d.copy_from_slice(block);
            }
        }
        for (l, b) in lanes.iter_mut().zip(block.chunks_exact(4)) {
            *l += u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        }
    }
    // A lane takes one word per block: below 2^14 * 2^32 = 2^46 for a 1 MiB piece, so the total
    // of the sixteen stays below 2^50. Folding it to about 32 bits (2^32 = 1 mod 0xffff) keeps
    // the caller's sum over many pieces far from overflow.
    let total: u64 = lanes.iter().sum();
    (total & 0xffff_ffff) + (total >> 32)
}

/// The folded ones'-complement sum of `data` as if it started at an even offset.
fn sum_even(data: &[u8]) -> u16 {
    if data.len() < 64 {
        // Headers (20 to 60 bytes) take this way: no block loop, no CPU-feature check.
        return native_to_host(fold(sum_short(data)));
    }
    sum_even_copy::<false>(data, &mut [])
}

/// The unfolded sum of the native-endian 16-bit words of `data` (an odd last byte padded with
/// a zero byte, as RFC 1071 asks), eight bytes at a time: each 64-bit word is added as its two
/// 32-bit halves, so the total cannot overflow for any slice shorter than 2^31 bytes. Meant for
/// short pieces (headers, the tail after the block loop).
#[inline]
fn sum_short(data: &[u8]) -> u64 {
    let halves = |v: u64| (v & 0xffff_ffff) + (v >> 32);
    let mut acc = 0u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        acc += halves(u64::from_ne_bytes(b));
    }
    let mut rest = words.remainder();
    if let [a, b, c, d, more @ ..] = rest {
        acc += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = more;
    }
    if let [a, b, more @ ..] = rest {
        acc += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = more;
    }
    if let [a] = rest {
        acc += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    acc
}

/// A folded sum of native-endian words as the sum of big-endian words (RFC 1071 §2 (B)).
#[inline]
fn native_to_host(sum: u16) -> u16 {
    if cfg!(target_endian = "little") {
        sum.swap_bytes()
    } else {
        sum
    }
}

/// [`sum_even`], and with `COPY` also copies `data` into `dst` (of the same length) in the same
/// pass.
fn sum_even_copy<const COPY: bool>(data: &[u8], dst: &mut [u8]) -> u16 {
    // The sum is taken over native-endian words and byte-swapped at the end where the machine is
    // little-endian (RFC 1071 §2 (B): the sum is independent of byte order), so the loop has no
    // byte swaps.
    //
    // Sixty-four bytes at a time, in lanes the compiler turns into vector adds (see
    // `sum_blocks`); the data is taken in pieces of 1 MiB so that no lane can overflow.
    const PIECE: usize = 1 << 20;
    let mut acc: u64 = 0;
    let whole = data.len() - data.len() % 64;
    let (blocks, rest) = data.split_at(whole);
    let (dst_blocks, dst_rest) = if COPY {
        dst.split_at_mut(whole.min(dst.len()))
    } else {
        (&mut [][..], &mut [][..])
    };
    let mut dst_pieces = dst_blocks.chunks_mut(PIECE);
    for piece in blocks.chunks(PIECE) {
        acc += sum_blocks::<COPY>(piece, dst_pieces.next().unwrap_or(&mut []));
    }
    if COPY && dst_rest.len() == rest.len() {
        dst_rest.copy_from_slice(rest);
    }
    native_to_host(fold(acc + sum_short(rest)))
}

/// A running Internet checksum over a byte stream fed in pieces of any length.
///
/// Pieces are concatenated: feeding `[1, 2, 3]` then `[4]` gives the same result as feeding
/// `[1, 2, 3, 4]` (odd-length pieces are handled with the byte-swap rule of RFC 1071 §2 (B)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// Folded ones'-complement sum so far.
    sum: u16,
    /// True when an odd number of bytes has been added.
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Self { sum: 0, odd: false }
    }

    /// The running sum of an even number of bytes whose folded ones'-complement sum (of
    /// big-endian 16-bit words) is `sum`: for a header summed from its field values rather than
    /// from its bytes.
    pub const fn from_sum(sum: u16) -> Self {
        Self { sum, odd: false }
    }

    /// Adds `data`, which follows whatever was added before.
    pub fn add_bytes(&mut self, data: &[u8]) -> &mut Self {
        self.add_sum(Checksum {
            sum: sum_even(data),
            odd: data.len() % 2 == 1,
        })
    }

    /// Copies `src` into `dst` and adds it, as [`add_bytes`](Self::add_bytes) would, in one
    /// pass over the bytes (a datagram's payload is summed while it is copied in, as Linux's
    /// `csum_and_copy` does).
    ///
    /// # Panics
    /// When `dst` and `src` differ in length (a caller bug, as for `copy_from_slice`).
    pub fn copy_and_add(&mut self, dst: &mut [u8], src: &[u8]) -> &mut Self {
        assert_eq!(dst.len(), src.len(), "copy_and_add: lengths differ");
        let s = sum_even_copy::<true>(src, dst);
        self.add_sum(Checksum {
            sum: s,
            odd: src.len() % 2 == 1,
        })
    }

    /// Adds the sum of a piece that follows whatever was added before (the sums of consecutive
    /// pieces combine; RFC 1071 §2 (A)-(C)).
    pub fn add_sum(&mut self, piece: Checksum) -> &mut Self {
        let s = if self.odd {
            piece.sum.swap_bytes()
        } else {
            piece.sum
        };
        self.sum = fold(u64::from(self.sum) + u64::from(s));
        self.odd ^= piece.odd;
        self
    }

    /// Adds a 16-bit value in network byte order (the same as adding its two big-endian bytes).
    pub fn add_u16(&mut self, value: u16) -> &mut Self {
        self.add_bytes(&value.to_be_bytes())
    }

    /// Adds a 32-bit value in network byte order (the same as adding its four big-endian bytes).
    pub fn add_u32(&mut self, value: u32) -> &mut Self {
        self.add_bytes(&value.to_be_bytes())
    }

    /// The folded ones'-complement sum, not complemented.
    pub const fn sum(&self) -> u16 {
        self.sum
    }

    /// The checksum to put in a header: the ones'-complement of the sum.  When the sum covers a
    /// received packet including its checksum field, zero means the packet verifies.
    pub const fn finish(&self) -> u16 {
        !self.sum
    }
}

/// The Internet checksum of `data` (RFC 1071): what goes into a header whose checksum field was
/// zero while summing.
pub fn checksum(data: &[u8]) -> u16 {
    !sum_even(data)
}

/// True when `data` (checksum field included) sums to all ones, i.e. the checksum verifies.
pub fn verify(data: &[u8]) -> bool {
    sum_even(data) == 0xffff
}

/// Updates `checksum` after a 16-bit field changed from `old` to `new` (RFC 1624 §3, eqn. 3:
/// `HC' = ~(~HC + ~m + m')`).
pub const fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(!checksum as u64 + !old as u64 + new as u64)
}

/// Updates `checksum` after a 32-bit field (for example an IPv4 address or a sequence number)
/// changed from `old` to `new` (RFC 1624 §3 applied to both halves).
pub const fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

/// The sum of the IPv4 pseudo-header (RFC 9293 §3.1): source, destination, a zero byte, the
/// protocol and the upper-layer length.
pub fn pseudo_header_ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> Checksum {
    let word = |a: Ipv4Addr| {
        let v = u32::from(a);
        u64::from(v >> 16) + u64::from(v & 0xffff)
    };
    Checksum {
        sum: fold(word(src) + word(dst) + u64::from(protocol) + u64::from(length)),
        odd: false,
    }
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, the 32-bit
/// upper-layer packet length, three zero bytes and the next header value.
pub fn pseudo_header_ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> Checksum {
    let mut c = Checksum::new();
    c.add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add_u32(length)
        .add_bytes(&[0, 0, 0, next_header]);
    c
}

/// The pseudo-header sum for either family.
///
/// # Errors
/// [`Error::AddressFamilyMismatch`] when `src` and `dst` are of different families;
/// [`Error::TooLarge`] when `length` does not fit the family's length field (16 bits for IPv4,
/// 32 bits for IPv6).
pub fn pseudo_header(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    length: usize,
) -> Result<Checksum, Error> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(length).map_err(|_| Error::TooLarge)?;
            Ok(pseudo_header_ipv4(s, d, protocol, len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(length).map_err(|_| Error::TooLarge)?;
            Ok(pseudo_header_ipv6(s, d, protocol, len))
        }
        _ => Err(Error::AddressFamilyMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straightforward reference: 16-bit words, one at a time.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = data.get(i + 1).copied().map_or(0, u32::from);
            acc += hi | lo;
            acc = (acc & 0xffff) + (acc >> 16);
            i += 2;
        }
        !(acc as u16)
    }

    #[test]
    fn copy_and_add_copies_and_sums_like_add_bytes() {
        let data: alloc::vec::Vec<u8> = (0..3000u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in [0, 1, 2, 3, 63, 64, 65, 127, 128, 1459, 1460, 2999] {
            for prefix in [&b""[..], b"x", b"xy", b"xyz"] {
                let src = &data[..len];
                let mut dst = alloc::vec![0u8; len];
                let mut fused = Checksum::new();
                fused.add_bytes(prefix).copy_and_add(&mut dst, src);
                let mut plain = Checksum::new();
                plain.add_bytes(prefix).add_bytes(src);
                assert_eq!(dst, src, "len {len}: copied");
                assert_eq!(fused, plain, "len {len}, prefix {}", prefix.len());
                let mut whole = prefix.to_vec();
                whole.extend_from_slice(src);
                assert_eq!(fused.finish(), reference(&whole), "len {len}: reference");
            }
        }
    }

    #[test]
    fn narrow_and_wide_lanes_agree_with_the_reference() {
        for (fill, len) in [
            (0x5au8, 64usize),
            (0xff, 4096),
            (0xff, 1 << 20),
            (0x13, 65_472),
        ] {
            let data: alloc::vec::Vec<u8> = (0..len)
                .map(|i| if i % 5 == 1 { (i % 241) as u8 } else { fill })
                .collect();
            let want = reference(&data);
            let finish = |sum: u64| {
                let s = fold(sum);
                !if cfg!(target_endian = "little") {
                    s.swap_bytes()
                } else {
                    s
                }
            };
            assert_eq!(finish(sum_blocks_narrow::<false>(&data, &mut [])), want);
            assert_eq!(finish(sum_blocks_wide::<false>(&data, &mut [])), want);
            let mut copy = alloc::vec![0u8; len];
            assert_eq!(finish(sum_blocks_wide::<true>(&data, &mut copy)), want);
            assert!(copy == data, "wide lanes copy");
            let mut copy = alloc::vec![0u8; len];
            assert_eq!(finish(sum_blocks_narrow::<true>(&data, &mut copy)), want);
            assert!(copy == data, "narrow lanes copy");
        }
    }

    #[test]
    fn sums_of_pieces_combine() {
        let data: alloc::vec::Vec<u8> = (0..999u32).map(|i| (i * 37 + 1) as u8).collect();
        for cut in [0, 1, 2, 500, 501, 998, 999] {
            let (a, b) = data.split_at(cut);
            let mut first = Checksum::new();
            first.add_bytes(a);
            let mut second = Checksum::new();
            second.add_bytes(b);
            first.add_sum(second);
            assert_eq!(first.finish(), reference(&data), "cut at {cut}");
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add_bytes(&data);
        assert_eq!(c.sum(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_example() {
        // A well-known IPv4 header whose checksum is 0xb861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10] = 0xb8;
        hdr[11] = 0x61;
        assert!(verify(&hdr));
        hdr[0] ^= 1;
        assert!(!verify(&hdr));
    }

    #[test]
    fn matches_reference_and_pieces() {
        let data: alloc::vec::Vec<u8> = (0u32..257).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let d = &data[..len];
            assert_eq!(checksum(d), reference(d), "len {len}");
            for split in 0..=len {
                let mut c = Checksum::new();
                c.add_bytes(&d[..split]).add_bytes(&d[split..]);
                assert_eq!(c.finish(), reference(d), "len {len} split {split}");
            }
        }
    }

    #[test]
    fn large_inputs_match_reference() {
        // Lanes near overflow (all ones) and data longer than one 1 MiB piece, odd lengths.
        for (fill, len) in [
            (0xffu8, 70_001usize),
            (0xff, (1 << 20) + 67),
            (0x5a, (3 << 20) + 3),
        ] {
            let data: alloc::vec::Vec<u8> = (0..len)
                .map(|i| if i % 7 == 3 { (i % 251) as u8 } else { fill })
                .collect();
            assert_eq!(
                checksum(&data),
                reference(&data),
                "fill {fill:#x} len {len}"
            );
            let mut copy = alloc::vec![0u8; len];
            let mut fused = Checksum::new();
            fused.copy_and_add(&mut copy, &data);
            assert!(copy == data, "fill {fill:#x} len {len}: copied");
            assert_eq!(fused.finish(), reference(&data), "fill {fill:#x} len {len}");
        }
    }

    #[test]
    fn ipv4_pseudo_header_matches_its_bytes() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 255), Ipv4Addr::new(255, 255, 1, 2));
        for (protocol, length) in [(6u8, 0u16), (6, 1480), (17, 0xffff), (1, 20)] {
            let mut bytes = alloc::vec::Vec::new();
            bytes.extend_from_slice(&src.octets());
            bytes.extend_from_slice(&dst.octets());
            bytes.extend_from_slice(&[0, protocol]);
            bytes.extend_from_slice(&length.to_be_bytes());
            let mut by_bytes = Checksum::new();
            by_bytes.add_bytes(&bytes);
            assert_eq!(pseudo_header_ipv4(src, dst, protocol, length), by_bytes);
        }
    }

    #[test]
    fn three_odd_pieces() {
        let d = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut c = Checksum::new();
        c.add_bytes(&d[..3]).add_bytes(&d[3..4]).add_bytes(&d[4..]);
        assert_eq!(c.finish(), reference(&d));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut data = [0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22];
        let before = checksum(&data);
        data[2] = 0xff;
        data[3] = 0x00;
        assert_eq!(update_u16(before, 0x5678, 0xff00), checksum(&data));
        let before = checksum(&data);
        data[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        assert_eq!(
            update_u32(before, 0x9abc_def0, 0x0102_0304),
            checksum(&data)
        );
    }

    #[test]
    fn pseudo_headers() {
        let s4 = Ipv4Addr::new(10, 0, 0, 1);
        let d4 = Ipv4Addr::new(10, 0, 0, 2);
        let mut bytes = alloc::vec::Vec::new();
        bytes.extend_from_slice(&s4.octets());
        bytes.extend_from_slice(&d4.octets());
        bytes.extend_from_slice(&[0, 6, 0, 20]);
        assert_eq!(pseudo_header_ipv4(s4, d4, 6, 20).finish(), checksum(&bytes));

        let s6: Ipv6Addr = "fd00::1".parse().unwrap();
        let d6: Ipv6Addr = "fd00::2".parse().unwrap();
        let mut bytes = alloc::vec::Vec::new();
        bytes.extend_from_slice(&s6.octets());
        bytes.extend_from_slice(&d6.octets());
        bytes.extend_from_slice(&[0, 0, 0, 40, 0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_ipv6(s6, d6, 58, 40).finish(),
            checksum(&bytes)
        );

        assert_eq!(
            pseudo_header(s4.into(), d6.into(), 6, 20),
            Err(Error::AddressFamilyMismatch)
        );
        assert_eq!(
            pseudo_header(s4.into(), d4.into(), 6, 70_000),
            Err(Error::TooLarge)
        );
        assert!(pseudo_header(s6.into(), d6.into(), 6, 70_000).is_ok());
    }
}
