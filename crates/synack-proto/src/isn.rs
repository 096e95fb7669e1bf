//! Initial sequence numbers (RFC 6528) and per-host-pair timestamp offsets.
//!
//! RFC 9293 §3.4.1 requires that a new incarnation of a connection does not pick sequence numbers
//! that old duplicates could hit, and RFC 6528 §3 adds that off-path attackers must not be able
//! to guess them. Both are met by
//!
//! ```text
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//!
//! where `M` is a clock that ticks every 4 microseconds (so a new incarnation of the same 4-tuple
//! starts above the previous one, as the RFC 793 clock did) and `F` is a keyed pseudorandom
//! function of the 4-tuple. RFC 6528 §3 suggests MD5; like Linux (`secure_tcp_seq()` in
//! `net/core/secure_seq.c`) synack uses SipHash-2-4, which is a PRF built for short inputs.
//!
//! The same secret also yields the random offset added to TCP timestamp values (Linux
//! `secure_tcp_ts_off()`; RFC 7323's Security Considerations note that a bare timestamp clock
//! reveals uptime), with a different domain-separation input so that the two outputs are
//! independent.

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use crate::time::Instant;
use crate::tuple::FourTuple;

/// Domain-separation prefix of the ISN function `F`.
const DOMAIN_ISN: &[u8] = b"synack-isn-v1";
/// Domain-separation prefix of the timestamp offset function.
const DOMAIN_TS: &[u8] = b"synack-tsoff-v1";

/// Length in microseconds of one tick of the RFC 6528 clock `M` (RFC 6528 §3: "a timer that is
/// incremented every 4 microseconds").
pub const ISN_CLOCK_TICK_US: u64 = 4;

/// Feeds an address into the hasher unambiguously: a family tag, then the address bytes.
fn write_ip(h: &mut SipHasher24, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            h.write(&[4]);
            h.write(&a.octets());
        }
        IpAddr::V6(a) => {
            h.write(&[6]);
            h.write(&a.octets());
        }
    }
}

/// Feeds a socket address (address, then port in network byte order) into the hasher.
fn write_sock(h: &mut SipHasher24, addr: SocketAddr) {
    write_ip(h, addr.ip());
    h.write(&addr.port().to_be_bytes());
}

/// Generates RFC 6528 initial sequence numbers and per-host-pair timestamp offsets from one
/// secret key.
///
/// The key must come from a cryptographically secure source (the host's OS RNG), be chosen once
/// per boot or endpoint, and never be revealed.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    /// Never prints the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

impl IsnGenerator {
    /// A generator keyed with `key` (the `secretkey` of RFC 6528 §3).
    pub fn new(key: [u8; 16]) -> Self {
        Self { key }
    }

    fn hasher(&self, domain: &[u8]) -> SipHasher24 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(domain);
        h
    }

    /// The initial sequence number for a connection on `tuple` opened at `now`:
    /// `M + F(local ip, local port, remote ip, remote port, key)` mod 2^32 (RFC 6528 §3), where
    /// `M` is `now` in 4 µs ticks.
    ///
    /// Both the active opener (for its SYN) and the passive side (for its SYN-ACK) use it with
    /// the tuple as seen locally.
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> u32 {
        let mut h = self.hasher(DOMAIN_ISN);
        write_sock(&mut h, tuple.local);
        write_sock(&mut h, tuple.remote);
        let f = h.finish() as u32;
        // Truncation is the wrap of the 32-bit clock M.
        let m = (now.as_micros() / ISN_CLOCK_TICK_US) as u32;
        m.wrapping_add(f)
    }

    /// The random offset to add to this host's timestamp clock for connections on `tuple`
    /// (RFC 7323: TSval need only be monotonic per connection, so a random offset hides the
    /// host's uptime and clock from observers).
    ///
    /// As Linux's `secure_tcp_ts_off()` has done since 2017 (commit "secure_seq: downgrade to
    /// per-host timestamp offsets"), the offset depends only on the two
    /// **addresses**, not the ports: successive connections between the same two hosts then keep
    /// one monotonic timestamp clock, which the peer's PAWS check needs when a new connection
    /// reuses a 4-tuple still in TIME-WAIT (RFC 6191; Linux `tcp_tw_reuse`).
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        let mut h = self.hasher(DOMAIN_TS);
        write_ip(&mut h, tuple.local.ip());
        write_ip(&mut h, tuple.remote.ip());
        h.finish() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    fn tuple(lp: u16, rp: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), lp),
            remote: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), rp),
        }
    }

    const KEY: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn same_tuple_later_advances_by_clock() {
        let g = IsnGenerator::new(KEY);
        let t = tuple(40000, 80);
        let t0 = Instant::from_secs(100);
        let a = g.isn(&t, t0);
        assert_eq!(g.isn(&t, t0), a, "deterministic");
        // 1 ms later: 250 ticks of 4 us.
        let b = g.isn(&t, Instant::from_micros(t0.as_micros() + 1000));
        assert_eq!(b.wrapping_sub(a), 250);
        // Sub-tick differences do not move it.
        assert_eq!(g.isn(&t, Instant::from_micros(t0.as_micros() + 3)), a);
        // One full wrap of M is 2^32 * 4 us (~4.77 hours).
        let wrap = Instant::from_micros(t0.as_micros() + (1u64 << 32) * 4);
        assert_eq!(g.isn(&t, wrap), a);
        // Extreme times do not panic.
        let _ = g.isn(&t, Instant::MAX);
        let _ = g.isn(&t, Instant::ZERO);
    }

    #[test]
    fn tuples_and_keys_differ() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_secs(1);
        let a = g.isn(&tuple(40000, 80), now);
        assert_ne!(a, g.isn(&tuple(40001, 80), now));
        assert_ne!(a, g.isn(&tuple(40000, 81), now));
        assert_ne!(a, g.isn(&tuple(40000, 80).reversed(), now));
        let v6 = FourTuple {
            local: SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 40000),
            remote: SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 80),
        };
        let v4lo = FourTuple {
            local: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 40000),
            remote: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 80),
        };
        assert_ne!(g.isn(&v6, now), g.isn(&v4lo, now));
        let mut other = KEY;
        other[0] ^= 1;
        let h = IsnGenerator::new(other);
        assert_ne!(a, h.isn(&tuple(40000, 80), now));
        assert_ne!(g.ts_offset(&tuple(1, 2)), h.ts_offset(&tuple(1, 2)));

        // Many ports: no two ISNs alike (32-bit outputs, 1000 inputs: a collision would be a
        // 1-in-8600 fluke, and this key has none).
        let mut seen: alloc::vec::Vec<u32> =
            (0..1000u16).map(|p| g.isn(&tuple(p, 80), now)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn ts_offset_per_host_pair_and_independent_of_isn() {
        let g = IsnGenerator::new(KEY);
        let a = g.ts_offset(&tuple(40000, 80));
        assert_eq!(a, g.ts_offset(&tuple(40001, 443)), "ports do not matter");
        let other = FourTuple {
            local: tuple(1, 1).local,
            remote: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 3).into(), 80),
        };
        assert_ne!(a, g.ts_offset(&other));
        assert_ne!(a, g.ts_offset(&tuple(40000, 80).reversed()));
        assert_ne!(a, g.isn(&tuple(40000, 80), Instant::ZERO));
    }

    #[test]
    fn debug_hides_key() {
        let s = alloc::format!("{:?}", IsnGenerator::new(KEY));
        assert!(!s.contains("48"), "{s}");
    }
}
