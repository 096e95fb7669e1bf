//! A small, fast, deterministic pseudo-random number generator.
//!
//! [`Rng`] is xoshiro256** (Blackman & Vigna, "Scrambled Linear Pseudorandom Number Generators",
//! 2018), with its 256-bit state expanded from a 64-bit seed by SplitMix64, as the authors
//! recommend. It is **not** cryptographically secure: it drives simulations, impairments, jitter
//! and tests, where the same seed must give the same run. Secrets (ISN, SYN cookie and port keys)
//! must come from the host's CSPRNG instead.

/// xoshiro256** seeded via SplitMix64: deterministic, `no_std`, 32 bytes of state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64 (Steele, Lea & Flood, 2014), used to expand seeds.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole output sequence is determined by `seed`. Every seed, including
    /// zero, gives a valid (never all-zero) state.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self::from_state(s)
    }

    /// From a raw state; an all-zero state (the one fixed point of xoshiro) is replaced.
    fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Self::new(0)
        } else {
            Self { s }
        }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// The next 32 uniformly distributed bits (the high half of [`Rng::next_u64`], which are the
    /// better bits of any linear generator).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Fills `dest` with random bytes (little-endian words of [`Rng::next_u64`]).
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        let mut chunks = dest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let word = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&word[..rest.len()]);
        }
    }

    /// A uniformly distributed integer in `0..n`, without modulo bias (Lemire's multiply-and-
    /// reject method, "Fast Random Integer Generation in an Interval", 2019). Returns 0 when `n`
    /// is 0 (the empty range has no element; 0 is the harmless answer).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // 2^64 mod n: the number of low products that would over-represent some outputs.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// `true` with probability `p`. `p <= 0` (or NaN) is never, `p >= 1` is always; one call
    /// consumes exactly one 64-bit output otherwise, none at the extremes.
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        // 53 random bits -> a uniform f64 in [0, 1).
        let unit = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by Vigna).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn xoshiro256starstar_reference() {
        // Reference vector for state [1, 2, 3, 4] (as used by rand_xoshiro's tests).
        let mut r = Rng::from_state([1, 2, 3, 4]);
        let expected = [11520u64, 0, 1_509_978_240, 1_215_971_899_390_074_240];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let va: [u64; 8] = core::array::from_fn(|_| a.next_u64());
        let vb: [u64; 8] = core::array::from_fn(|_| b.next_u64());
        let vc: [u64; 8] = core::array::from_fn(|_| c.next_u64());
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        // Seed 0 is fine too.
        let mut z = Rng::new(0);
        assert_ne!(z.next_u64(), z.next_u64());
    }

    #[test]
    fn next_u32_is_high_half() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(u64::from(a.next_u32()), b.next_u64() >> 32);
    }

    #[test]
    fn fill_bytes_all_lengths() {
        for len in 0..40 {
            let mut a = Rng::new(9);
            let mut buf = [0u8; 40];
            a.fill_bytes(&mut buf[..len]);
            assert!(buf[len..].iter().all(|&b| b == 0));
            // Prefix-consistent with the word stream.
            let mut b = Rng::new(9);
            let mut words = [0u8; 40];
            for chunk in words.chunks_mut(8) {
                chunk.copy_from_slice(&b.next_u64().to_le_bytes());
            }
            assert_eq!(buf[..len], words[..len]);
        }
        let mut r = Rng::new(1);
        let mut big = [0u8; 4096];
        r.fill_bytes(&mut big);
        let ones: u32 = big.iter().map(|b| b.count_ones()).sum();
        // 32768 bits, expect ~16384 ones; 6 sigma is ~544.
        assert!((15_800..17_000).contains(&ones), "{ones}");
    }

    #[test]
    fn below_bounds_and_uniformity() {
        let mut r = Rng::new(3);
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
        for n in [2u64, 3, 7, 1000, u64::MAX / 3 * 2, u64::MAX] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            // Expect 10_000 each; sigma ~91.
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        // A range where modulo bias would be huge: for n = 2^63 + 1, `next_u64() % n` lands in
        // the lower half two times out of three. Unbiased, half the draws are in the upper half.
        let n = (1u64 << 63) + 1;
        let high = (0..10_000).filter(|_| r.below(n) >= n / 2).count();
        assert!((4_700..5_300).contains(&high), "{high}");
    }

    #[test]
    fn chance_extremes_and_rate() {
        let mut r = Rng::new(5);
        assert!(!r.chance(0.0));
        assert!(!r.chance(-1.0));
        assert!(!r.chance(f64::NAN));
        assert!(r.chance(1.0));
        assert!(r.chance(2.0));
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        // Expect 25_000, sigma ~137.
        assert!((24_300..25_700).contains(&hits), "{hits}");
    }
}
