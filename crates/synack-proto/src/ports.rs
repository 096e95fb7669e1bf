//! Ephemeral port selection (RFC 6056 §3.3.3, Algorithm 3, "Simple Hash-Based Port Selection").
//!
//! An active open needs a local port. Predictable choices let off-path attackers guess the
//! 4-tuple and inject segments (RFC 6056 §1), while reusing a port soon after it was used to the
//! same destination collides with TIME-WAIT. Algorithm 3 addresses both:
//!
//! ```text
//! offset = F(local_IP, remote_IP, remote_port, secret_key)
//! for i in 0..num_ephemeral:
//!     port = min_ephemeral + (offset + next_ephemeral + i) % num_ephemeral
//!     if suitable(port): next_ephemeral += i + 1; return port
//! fail
//! ```
//!
//! Each destination walks the range in its own secret starting point, so ports towards one
//! destination reveal nothing about ports towards another, while successive connections to the
//! same destination take successive ports (the longest possible reuse distance). `F` is keyed
//! SipHash-2-4, as Linux's `secure_ipv4_port_ephemeral()`.
//!
//! The RFC increments `next_ephemeral` once per port tried; [`PortAllocator::allocate`] does the
//! same in one step on success (by the number of ports tried), and leaves it unchanged (mod the
//! range) on failure.

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

/// Domain-separation prefix of `F`.
const DOMAIN_PORT: &[u8] = b"synack-port-v1";

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

/// Chooses local ports for active opens in `first..=last` with RFC 6056 Algorithm 3.
#[derive(Clone)]
pub struct PortAllocator {
    key: [u8; 16],
    first: u16,
    last: u16,
    /// RFC 6056 `next_ephemeral`, kept reduced modulo the range size.
    next_ephemeral: u32,
}

impl core::fmt::Debug for PortAllocator {
    /// Prints the range, never the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PortAllocator")
            .field("first", &self.first)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl PortAllocator {
    /// An allocator for ports `first..=last` (both inclusive; swapped if given in the wrong
    /// order), keyed with the secret `key`. Linux's default range
    /// (`net.ipv4.ip_local_port_range`) is `32768..=60999`.
    pub fn new(key: [u8; 16], first: u16, last: u16) -> Self {
        let (first, last) = if first <= last {
            (first, last)
        } else {
            (last, first)
        };
        Self {
            key,
            first,
            last,
            next_ephemeral: 0,
        }
    }

    /// The first port of the range.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port of the range (inclusive).
    pub fn last(&self) -> u16 {
        self.last
    }

    /// Number of ports in the range (1 to 65536).
    fn range_len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// `F(local_IP, remote_IP, remote_port, secret_key)` of RFC 6056 §3.3.3.
    fn offset(&self, local: IpAddr, remote: SocketAddr) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(DOMAIN_PORT);
        write_ip(&mut h, local);
        write_ip(&mut h, remote.ip());
        h.write(&remote.port().to_be_bytes());
        h.finish() as u32
    }

    /// A local port for a connection from `local` to `remote`: the first port, in this
    /// destination's hashed order, for which `in_use` returns `false`. `in_use` is called at
    /// most once per port of the range and should answer whether the 4-tuple
    /// `(local, port, remote)` is taken (by a connection, a TIME-WAIT entry that may not be
    /// reused, or a bound socket). `None` when every port is in use (`EADDRNOTAVAIL`).
    pub fn allocate(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let n = u64::from(self.range_len());
        let start = u64::from(self.offset(local, remote)) + u64::from(self.next_ephemeral);
        for i in 0..n {
            let port = u64::from(self.first) + (start + i) % n;
            // `first + x` with `x < n` is at most `last`, so this always fits.
            let port = u16::try_from(port).unwrap_or(self.last);
            if !in_use(port) {
                self.next_ephemeral = ((u64::from(self.next_ephemeral) + i + 1) % n) as u32;
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const KEY: [u8; 16] = [7; 16];
    fn local() -> IpAddr {
        Ipv4Addr::new(10, 0, 0, 1).into()
    }
    fn dst(last_octet: u8, port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(192, 0, 2, last_octet).into(), port)
    }

    #[test]
    fn stays_within_range_and_walks_consecutively() {
        let mut a = PortAllocator::new(KEY, 32768, 60999);
        let mut used = BTreeSet::new();
        let mut prev: Option<u16> = None;
        for _ in 0..1000 {
            let p = a
                .allocate(local(), dst(1, 80), |p| used.contains(&p))
                .unwrap();
            assert!((32768..=60999).contains(&p));
            assert!(used.insert(p), "port handed out twice");
            if let Some(q) = prev {
                // Same destination: successive ports (wrapping at the end of the range).
                let expect = if q == 60999 { 32768 } else { q + 1 };
                assert_eq!(p, expect);
            }
            prev = Some(p);
        }
    }

    #[test]
    fn skips_ports_in_use_and_none_when_all_used() {
        let mut a = PortAllocator::new(KEY, 1000, 1009);
        let mut used = BTreeSet::new();
        let mut calls = 0;
        for _ in 0..10 {
            let p = a
                .allocate(local(), dst(1, 80), |p| {
                    calls += 1;
                    used.contains(&p)
                })
                .unwrap();
            assert!((1000..=1009).contains(&p));
            used.insert(p);
        }
        assert_eq!(used.len(), 10);
        calls = 0;
        assert_eq!(
            a.allocate(local(), dst(1, 80), |p| {
                calls += 1;
                used.contains(&p)
            }),
            None
        );
        assert_eq!(calls, 10, "each port asked once");
        // Freeing one port makes exactly that one available.
        used.remove(&1004);
        assert_eq!(
            a.allocate(local(), dst(9, 9), |p| used.contains(&p)),
            Some(1004)
        );
    }

    #[test]
    fn different_destinations_start_from_different_ports() {
        let mut firsts = Vec::new();
        for d in 1..=8u8 {
            let mut a = PortAllocator::new(KEY, 32768, 60999);
            firsts.push(a.allocate(local(), dst(d, 443), |_| false).unwrap());
        }
        // Remote port counts too, and so does the local address.
        let mut a = PortAllocator::new(KEY, 32768, 60999);
        firsts.push(a.allocate(local(), dst(1, 444), |_| false).unwrap());
        let mut a = PortAllocator::new(KEY, 32768, 60999);
        firsts.push(
            a.allocate(Ipv6Addr::LOCALHOST.into(), dst(1, 443), |_| false)
                .unwrap(),
        );
        let distinct: BTreeSet<u16> = firsts.iter().copied().collect();
        assert_eq!(distinct.len(), firsts.len(), "{firsts:?}");
        // And a different key moves the start.
        let mut b = PortAllocator::new([8; 16], 32768, 60999);
        assert_ne!(
            b.allocate(local(), dst(1, 443), |_| false).unwrap(),
            firsts[0]
        );
    }

    #[test]
    fn degenerate_ranges() {
        let mut one = PortAllocator::new(KEY, 5000, 5000);
        assert_eq!(one.allocate(local(), dst(1, 80), |_| false), Some(5000));
        assert_eq!(one.allocate(local(), dst(1, 80), |_| true), None);
        let mut swapped = PortAllocator::new(KEY, 2000, 1000);
        assert_eq!((swapped.first(), swapped.last()), (1000, 2000));
        let p = swapped.allocate(local(), dst(1, 80), |_| false).unwrap();
        assert!((1000..=2000).contains(&p));
        let mut full = PortAllocator::new(KEY, 0, u16::MAX);
        let mut n = 0u32;
        assert_eq!(
            full.allocate(local(), dst(1, 80), |_| {
                n += 1;
                true
            }),
            None
        );
        assert_eq!(n, 65536);
        assert!(full.allocate(local(), dst(1, 80), |_| false).is_some());
    }
}
