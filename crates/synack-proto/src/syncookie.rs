//! SYN cookies (RFC 4987 §3.6), in the layout Linux uses (`net/ipv4/syncookies.c`).
//!
//! When the SYN queue overflows, a listener answers a SYN without keeping any state: the
//! connection's few essential facts are folded into the initial sequence number of the SYN-ACK
//! (the "cookie"), and the peer's ACK, which must acknowledge `cookie + 1`, hands them back.
//!
//! ```text
//! cookie = H0(tuple) + peer_isn + (count << 24) + ((H1(tuple, count) + mss_index) mod 2^24)
//! ```
//!
//! `H0` and `H1` are keyed SipHash-2-4 with distinct domain inputs (Linux keys two SipHash
//! instances). `count` is the time in [`COOKIE_PERIOD_SECS`]-second units; its low 8 bits sit in
//! the top byte of the cookie, so the receiver can recover the count the cookie was made with and
//! accept it only if it is at most [`MAX_SYNCOOKIE_AGE`]` - 1` periods old (Linux's
//! `check_tcp_syn_cookie()`). The low 24 bits carry the MSS as an index into a 4-entry table, so
//! a forged ACK passes with probability about `2 * 4 / 2^24` per try.
//!
//! Everything else the SYN negotiated — window scale, SACK-permitted, ECN — is lost unless the
//! connection uses timestamps: then, as Linux's `cookie_init_timestamp()`, the low
//! [`TS_OPTION_BITS`] bits of the SYN-ACK's TSval carry them, and the ACK's TSecr echoes them
//! back ([`SynCookies::encode_ts_options`], [`SynCookies::decode_ts_options`]).

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use crate::time::Instant;
use crate::tuple::FourTuple;

/// Bits of the cookie below the counter byte (Linux `COOKIEBITS`).
const COOKIE_BITS: u32 = 24;
/// Mask of the low [`COOKIE_BITS`] bits (Linux `COOKIEMASK`).
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Domain-separation prefix of the cookie hashes.
const DOMAIN_COOKIE: &[u8] = b"synack-syncookie-v1";

/// Length of one cookie counter period in seconds. Linux's `TCP_SYNCOOKIE_PERIOD` is 60 s;
/// synack uses 64 s, a power of two, with the same effect.
pub const COOKIE_PERIOD_SECS: u64 = 64;
/// A cookie is accepted while the current counter is less than this many periods past the one
/// it was made in (Linux `MAX_SYNCOOKIE_AGE`), so it lives between one and two periods
/// (64–128 s).
pub const MAX_SYNCOOKIE_AGE: u32 = 2;

/// MSS values an IPv4 cookie can carry (Linux `msstab`): chosen from measurements of the MSS
/// values seen on the Internet (Alcock & Nelson, 2011), 1460 being the most common. Sorted.
pub const MSS_TABLE_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// MSS values an IPv6 cookie can carry (Linux `msstab` in `net/ipv6/syncookies.c`: MTUs 1280,
/// 1480, 1500 and 9000 minus 60 bytes of headers). Sorted.
pub const MSS_TABLE_V6: [u16; 4] = [1220, 1420, 1440, 8940];

/// Low bits of a cookie TSval that carry the SYN's options (Linux `TSBITS`).
pub const TS_OPTION_BITS: u32 = 6;
/// Window-scale field of the TSval options; all ones means "no window scaling" (Linux
/// `TS_OPT_WSCALE_MASK`).
const TS_OPT_WSCALE_MASK: u32 = 0xf;
/// SACK-permitted was in the SYN (Linux `TS_OPT_SACK`).
const TS_OPT_SACK: u32 = 1 << 4;
/// ECN was negotiated in the SYN (Linux `TS_OPT_ECN`).
const TS_OPT_ECN: u32 = 1 << 5;
/// The largest window shift RFC 7323 §2.3 allows.
const MAX_WSCALE: u8 = 14;

/// Stateless SYN-ACK sequence numbers that encode the peer's MSS and the time.
#[derive(Clone)]
pub struct SynCookies {
    key: [u8; 16],
}

impl core::fmt::Debug for SynCookies {
    /// Never prints the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SynCookies").finish_non_exhaustive()
    }
}

/// Feeds a socket address into the hasher unambiguously: family tag, address, port.
fn write_sock(h: &mut SipHasher24, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(a) => {
            h.write(&[4]);
            h.write(&a.octets());
        }
        IpAddr::V6(a) => {
            h.write(&[6]);
            h.write(&a.octets());
        }
    }
    h.write(&addr.port().to_be_bytes());
}

/// The MSS table for the tuple's address family.
fn mss_table(tuple: &FourTuple) -> &'static [u16; 4] {
    if tuple.remote.is_ipv4() {
        &MSS_TABLE_V4
    } else {
        &MSS_TABLE_V6
    }
}

/// The cookie counter at `now`: whole [`COOKIE_PERIOD_SECS`] periods, mod 2^32.
fn cookie_time(now: Instant) -> u32 {
    (now.as_micros() / (COOKIE_PERIOD_SECS * 1_000_000)) as u32
}

impl SynCookies {
    /// Cookies keyed with the secret `key` (from the host's CSPRNG; it must not be revealed,
    /// and it must stay the same for as long as cookies it made may come back).
    pub fn new(key: [u8; 16]) -> Self {
        Self { key }
    }

    /// `H0` (`which == 0`, independent of time) and `H1` (`which == 1`, of `count`).
    fn hash(&self, which: u8, tuple: &FourTuple, count: u32) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(DOMAIN_COOKIE);
        h.write(&[which]);
        write_sock(&mut h, tuple.local);
        write_sock(&mut h, tuple.remote);
        h.write(&count.to_be_bytes());
        h.finish() as u32
    }

    /// The cookie to send as our ISN in a SYN-ACK answering a SYN on `tuple` (as seen locally)
    /// with sequence number `peer_isn` and MSS option `mss`, and the MSS actually encoded: the
    /// largest table entry not above `mss` ([`MSS_TABLE_V4`] or [`MSS_TABLE_V6`]). An `mss`
    /// below the smallest entry is encoded as the smallest entry, as Linux does (536 is the
    /// IPv4 default MSS every host accepts, RFC 9293 §3.7.1; 1220 follows from IPv6's minimum
    /// MTU of 1280).
    pub fn encode(&self, tuple: &FourTuple, peer_isn: u32, mss: u16, now: Instant) -> (u32, u16) {
        let table = mss_table(tuple);
        let index = table.iter().rposition(|&m| mss >= m).unwrap_or(0);
        let count = cookie_time(now);
        let data = index as u32;
        let cookie = self
            .hash(0, tuple, 0)
            .wrapping_add(peer_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(self.hash(1, tuple, count).wrapping_add(data) & COOKIE_MASK);
        (cookie, table[index])
    }

    /// Checks a returning cookie: `cookie` is the ACK's acknowledgment number minus one and
    /// `peer_isn` the ACK's sequence number minus one, `tuple` as seen locally. Returns the MSS
    /// the cookie encodes if it was made by this key for this tuple and `peer_isn` no more than
    /// [`MAX_SYNCOOKIE_AGE`]` - 1` periods before `now`'s; `None` otherwise.
    pub fn decode(
        &self,
        tuple: &FourTuple,
        peer_isn: u32,
        cookie: u32,
        now: Instant,
    ) -> Option<u16> {
        let count = cookie_time(now);
        // Strip the outer layer: what remains is (count << 24) + ((H1 + data) mod 2^24).
        let inner = cookie.wrapping_sub(self.hash(0, tuple, 0).wrapping_add(peer_isn));
        // How many periods ago the cookie claims to be from, mod 2^8.
        let diff = count.wrapping_sub(inner >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if diff >= MAX_SYNCOOKIE_AGE {
            return None;
        }
        let made = count.wrapping_sub(diff);
        let data = inner.wrapping_sub(self.hash(1, tuple, made)) & COOKIE_MASK;
        let table = mss_table(tuple);
        usize::try_from(data)
            .ok()
            .and_then(|i| table.get(i))
            .copied()
    }

    /// The TSval to send in a cookie SYN-ACK: `ts_now` with its low [`TS_OPTION_BITS`] bits
    /// replaced by the SYN's options (bits 0–3 the peer's window shift, or `0xf` for none; bit 4
    /// SACK-permitted), lowered by 64 if needed so that it does not exceed `ts_now` (later
    /// TSvals come from the ordinary clock and must not go backwards), as Linux's
    /// `cookie_init_timestamp()`. A window shift above 14 is recorded as 14 (RFC 7323 §2.3).
    /// Wraps mod 2^32.
    ///
    /// `ts_now` may be the TSval as sent (offset included): then decode the peer's TSecr as
    /// received. (Linux encodes before adding the offset and so subtracts it before decoding.)
    pub fn encode_ts_options(ts_now: u32, wscale: Option<u8>, sack: bool) -> u32 {
        Self::encode_ts_options_ecn(ts_now, wscale, sack, false)
    }

    /// As [`SynCookies::encode_ts_options`], and also records in bit 5 whether the SYN
    /// negotiated ECN (Linux `TS_OPT_ECN`); read it back with [`SynCookies::decode_ts_ecn`].
    pub fn encode_ts_options_ecn(ts_now: u32, wscale: Option<u8>, sack: bool, ecn: bool) -> u32 {
        let mut options = match wscale {
            Some(w) => u32::from(w.min(MAX_WSCALE)),
            None => TS_OPT_WSCALE_MASK,
        };
        if sack {
            options |= TS_OPT_SACK;
        }
        if ecn {
            options |= TS_OPT_ECN;
        }
        let ts = ((ts_now >> TS_OPTION_BITS) << TS_OPTION_BITS) | options;
        if ts > ts_now {
            ts.wrapping_sub(1 << TS_OPTION_BITS)
        } else {
            ts
        }
    }

    /// The SYN options recorded by [`SynCookies::encode_ts_options`], from the TSecr of the ACK
    /// that returns a cookie (in the same representation as the value encoded, see there): the
    /// peer's window shift (`None` if the SYN had no window-scale option; at most 14) and
    /// whether it sent SACK-permitted.
    pub fn decode_ts_options(tsecr: u32) -> (Option<u8>, bool) {
        let w = tsecr & TS_OPT_WSCALE_MASK;
        let wscale = if w == TS_OPT_WSCALE_MASK {
            None
        } else {
            // w < 15: 15 means "none".
            Some((w as u8).min(MAX_WSCALE))
        };
        (wscale, tsecr & TS_OPT_SACK != 0)
    }

    /// Whether the TSecr of a cookie ACK says the SYN negotiated ECN (see
    /// [`SynCookies::encode_ts_options_ecn`]).
    pub fn decode_ts_ecn(tsecr: u32) -> bool {
        tsecr & TS_OPT_ECN != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const KEY: [u8; 16] = *b"cookie-secret-01";

    fn v4() -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 80),
            remote: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 40000),
        }
    }

    fn v6() -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 443),
            remote: SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).into(), 50000),
        }
    }

    #[test]
    fn round_trip_all_mss_values() {
        let c = SynCookies::new(KEY);
        let now = Instant::from_secs(1000);
        for (mss, want) in [
            (0u16, 536u16),
            (100, 536),
            (536, 536),
            (1299, 536),
            (1300, 1300),
            (1452, 1440),
            (1460, 1460),
            (9000, 1460),
            (u16::MAX, 1460),
        ] {
            for isn in [0u32, 1, 0x8000_0000, u32::MAX] {
                let (cookie, enc) = c.encode(&v4(), isn, mss, now);
                assert_eq!(enc, want, "mss {mss}");
                assert_eq!(c.decode(&v4(), isn, cookie, now), Some(want));
            }
        }
        for (mss, want) in [(1220u16, 1220u16), (1400, 1220), (1500, 1440), (9000, 8940)] {
            let (cookie, enc) = c.encode(&v6(), 77, mss, now);
            assert_eq!(enc, want);
            assert_eq!(c.decode(&v6(), 77, cookie, now), Some(want));
        }
    }

    #[test]
    fn wrong_tuple_isn_or_key_fails() {
        let c = SynCookies::new(KEY);
        let now = Instant::from_secs(5);
        let (cookie, _) = c.encode(&v4(), 12345, 1460, now);
        assert_eq!(c.decode(&v4().reversed(), 12345, cookie, now), None);
        let mut other = v4();
        other.remote.set_port(40001);
        assert_eq!(c.decode(&other, 12345, cookie, now), None);
        assert_eq!(c.decode(&v4(), 12345 + 100, cookie, now), None);
        assert_eq!(c.decode(&v4(), 12345, cookie.wrapping_add(1), now), None);
        assert_eq!(c.decode(&v4(), 12345, cookie ^ 0x0100_0000, now), None);
        // The construction is linear in its low bits (as Linux's): shifting the peer's ISN and
        // the cookie together, or trading a smaller MSS index against the ISN, still passes.
        // Nothing is gained by it: the attacker already holds a valid cookie for this tuple.
        assert_eq!(c.decode(&v4(), 12345 + 1, cookie, now), Some(1440));
        let mut k2 = KEY;
        k2[15] ^= 0x80;
        assert_eq!(SynCookies::new(k2).decode(&v4(), 12345, cookie, now), None);
    }

    #[test]
    fn expiry() {
        let c = SynCookies::new(KEY);
        // Made at the very start of a period: valid for two whole periods.
        let t0 = Instant::from_secs(64 * 100);
        let (cookie, mss) = c.encode(&v4(), 1, 1460, t0);
        let at = |s: u64| c.decode(&v4(), 1, cookie, t0 + Duration::from_secs(s));
        assert_eq!(at(0), Some(mss));
        assert_eq!(at(60), Some(mss));
        assert_eq!(at(127), Some(mss));
        assert_eq!(at(128), None);
        assert_eq!(at(180), None, "expired after 3 minutes");
        // Made at the very end of a period: still valid for at least one whole period.
        let t1 = Instant::from_micros(64 * 100 * 1_000_000 - 1);
        let (cookie, mss) = c.encode(&v4(), 1, 1460, t1);
        let at = |us: u64| c.decode(&v4(), 1, cookie, t1 + Duration::from_micros(us));
        assert_eq!(at(64_000_000), Some(mss));
        assert_eq!(at(64_000_001), None);
        assert_eq!(at(180_000_000), None);
        // A cookie from the future (clock confusion) is not accepted either.
        let (cookie, _) = c.encode(&v4(), 1, 1460, Instant::from_secs(64 * 200));
        assert_eq!(
            c.decode(&v4(), 1, cookie, Instant::from_secs(64 * 199)),
            None
        );
        // The 8-bit counter wraps: 256 periods later the same cookie would be "fresh" again
        // only if its hash matched the new count, which it does not.
        let (cookie, _) = c.encode(&v4(), 1, 1460, t0);
        assert_eq!(
            c.decode(&v4(), 1, cookie, t0 + Duration::from_secs(64 * 256)),
            None
        );
    }

    #[test]
    fn forged_cookies_rejected() {
        let c = SynCookies::new(KEY);
        let now = Instant::from_secs(3600);
        let mut rng = crate::rng::Rng::new(1);
        let mut accepted = 0;
        for _ in 0..100_000 {
            let cookie = rng.next_u32();
            let isn = rng.next_u32();
            if c.decode(&v4(), isn, cookie, now).is_some() {
                accepted += 1;
            }
        }
        // Expected 100_000 * 8 / 2^24 ~= 0.05.
        assert!(accepted <= 1, "{accepted}");
    }

    #[test]
    fn ts_options_round_trip() {
        for ts_now in [0u32, 1, 63, 64, 65, 1000, 0xffff_ffc0, u32::MAX] {
            for wscale in [None, Some(0u8), Some(7), Some(14)] {
                for sack in [false, true] {
                    for ecn in [false, true] {
                        let ts = SynCookies::encode_ts_options_ecn(ts_now, wscale, sack, ecn);
                        assert_eq!(SynCookies::decode_ts_options(ts), (wscale, sack));
                        assert_eq!(SynCookies::decode_ts_ecn(ts), ecn);
                        // Not after ts_now, and less than 64 ticks before it (mod 2^32).
                        assert!(ts_now.wrapping_sub(ts) < 64, "{ts_now} {ts}");
                        if !ecn {
                            assert_eq!(SynCookies::encode_ts_options(ts_now, wscale, sack), ts);
                        }
                    }
                }
            }
        }
        // Shifts beyond 14 are clamped as RFC 7323 says.
        assert_eq!(
            SynCookies::decode_ts_options(SynCookies::encode_ts_options(1 << 20, Some(15), false))
                .0,
            Some(14)
        );
        assert_eq!(
            SynCookies::decode_ts_options(SynCookies::encode_ts_options(1 << 20, Some(255), true)),
            (Some(14), true)
        );
        // Linux layout.
        assert_eq!(
            SynCookies::encode_ts_options(0x1000, Some(7), true),
            0x1000 - 64 + 0x17
        );
        assert_eq!(SynCookies::encode_ts_options(0x1040, None, false), 0x100f);
    }
}
