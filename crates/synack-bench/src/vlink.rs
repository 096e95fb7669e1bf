//! A virtual-time link shared by both stacks in the `lossy` benchmark, and the loop that drives a
//! [`Pair`] over it.
//!
//! Each direction behaves as a direction of a `synack-sim` link (`synack_sim::LinkConfig`), in
//! the same order of stages: a datagram longer than the MTU is dropped; with a rate, it waits
//! behind the packets ahead of it and takes `bits / rate` to serialise, and is tail-dropped when
//! `queue` packets are already held; it is lost with probability `loss`; it arrives `delay` after
//! its last bit left, never before a packet sent earlier (FIFO). Every random draw comes from
//! one splitmix64 generator seeded by the run's seed, and a zero probability draws nothing.

use std::collections::{BTreeMap, VecDeque};

use crate::pair::{Packet, Pair, CLIENT, SERVER};

/// The behaviour of each direction of the link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// One-way propagation delay, microseconds.
    pub delay_us: u64,
    /// Rate in bits per second; `None` for infinitely fast.
    pub rate_bps: Option<u64>,
    /// Packets the sending side holds (being serialised plus waiting) before it tail-drops.
    pub queue: usize,
    /// Probability that a packet is lost in transit.
    pub loss: f64,
    /// Largest datagram carried.
    pub mtu: usize,
}

/// What the link did, counted over both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams offered to the link.
    pub packets: u64,
    /// Lost at random.
    pub lost: u64,
    /// Tail-dropped at a full queue.
    pub tail_dropped: u64,
    /// Larger than the MTU.
    pub too_big: u64,
}

impl LinkStats {
    /// Packets that did not arrive: lost, tail-dropped or too big.
    pub fn drops(&self) -> u64 {
        self.lost + self.tail_dropped + self.too_big
    }
}

/// splitmix64: small, fast, and the same sequence everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`; draws nothing when `p <= 0`.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[derive(Debug, Default)]
struct Dir {
    busy_until: u64,
    held: VecDeque<u64>,
    last_arrival: u64,
}

/// The two directions of the link and the datagrams on their way.
#[derive(Debug)]
pub struct VirtualLink {
    params: LinkParams,
    dirs: [Dir; 2],
    rng: Rng,
    /// (arrival time, sequence) -> (destination host, datagram).
    on_the_way: BTreeMap<(u64, u64), (usize, Packet)>,
    seq: u64,
    /// What happened so far.
    pub stats: LinkStats,
}

impl VirtualLink {
    /// An idle link.
    pub fn new(params: LinkParams, seed: u64) -> Self {
        VirtualLink {
            params,
            dirs: [Dir::default(), Dir::default()],
            rng: Rng::new(seed),
            on_the_way: BTreeMap::new(),
            seq: 0,
            stats: LinkStats::default(),
        }
    }

    /// `from` sends `packet` at `now`.
    pub fn send(&mut self, from: usize, now: u64, packet: Packet) {
        self.stats.packets += 1;
        let to = 1 - from;
        let p = self.params;
        if packet.len > p.mtu {
            self.stats.too_big += 1;
            return;
        }
        let dir = &mut self.dirs[from];
        let sent = match p.rate_bps {
            None => now,
            Some(rate) => {
                while dir.held.front().is_some_and(|t| *t <= now) {
                    dir.held.pop_front();
                }
                if dir.held.len() >= p.queue.max(1) {
                    self.stats.tail_dropped += 1;
                    return;
                }
                let bits = packet.len as u128 * 8 * 1_000_000;
                let us = u64::try_from(bits.div_ceil(u128::from(rate.max(1)))).unwrap_or(u64::MAX);
                let done = now.max(dir.busy_until).saturating_add(us);
                dir.busy_until = done;
                dir.held.push_back(done);
                done
            }
        };
        if self.rng.chance(p.loss) {
            self.stats.lost += 1;
            return;
        }
        let at = sent.saturating_add(p.delay_us).max(dir.last_arrival);
        dir.last_arrival = at;
        self.seq += 1;
        self.on_the_way.insert((at, self.seq), (to, packet));
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<u64> {
        self.on_the_way.keys().next().map(|(t, _)| *t)
    }

    /// The next datagram due at or before `now`, with its destination.
    pub fn pop_due(&mut self, now: u64) -> Option<(usize, Packet)> {
        let (&(t, _), _) = self.on_the_way.iter().next()?;
        if t > now {
            return None;
        }
        self.on_the_way.pop_first().map(|(_, v)| v)
    }
}

/// The result of one transfer over the virtual link.
#[derive(Clone, Debug)]
pub struct VirtualRun {
    /// Virtual microseconds from `start` until the reader had every byte; `None` if it never did.
    pub done_us: Option<u64>,
    /// Virtual microseconds from `start` until the run ended (complete or not).
    pub elapsed_us: u64,
    /// Bytes the reader got.
    pub received: u64,
    /// The SHA-256 of what was read equals that of what was written.
    pub intact: bool,
    /// What the link did.
    pub link: LinkStats,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
}

/// Writes `total` bytes of `pattern` (repeated) from client to server over `link`, in virtual
/// time, until the server has read them all or `limit_us` passes. The writer keeps the send
/// buffer full; the reader reads everything as soon as it is readable.
pub fn run_transfer<P: Pair>(
    pair: &mut P,
    link: &mut VirtualLink,
    pattern: &[u8],
    total: u64,
    limit_us: u64,
) -> VirtualRun {
    use sha2::{Digest, Sha256};
    const WRITE: usize = 64 * 1024;
    let period = pattern.len().saturating_sub(WRITE).max(1);
    let mut sent_hash = Sha256::new();
    let mut recv_hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let mut written = 0u64;
    let mut received = 0u64;
    let mut now = 0u64;
    let mut error = None;
    if let Err(e) = pair.start(now) {
        error = Some(e);
    }
    let mut done_us = None;
    while error.is_none() {
        while let Some((to, packet)) = link.pop_due(now) {
            pair.deliver(to, now, packet);
        }
        // Work at this instant until nothing more happens.
        for _ in 0..1000 {
            let mut progress = false;
            for host in [CLIENT, SERVER] {
                pair.poll(host, now, &mut out);
                progress |= !out.is_empty();
                for packet in out.drain(..) {
                    link.send(host, now, packet);
                }
            }
            while written < total {
                let off = (written % period as u64) as usize;
                let want = (total - written).min(WRITE as u64) as usize;
                let chunk = &pattern[off..off + want.min(pattern.len() - off)];
                let n = pair.write(now, chunk);
                if n == 0 {
                    break;
                }
                sent_hash.update(&chunk[..n]);
                written += n as u64;
                progress = true;
            }
            loop {
                let n = pair.read(now, &mut buf);
                if n == 0 {
                    break;
                }
                recv_hash.update(&buf[..n]);
                received += n as u64;
                progress = true;
            }
            if !progress {
                break;
            }
        }
        if received >= total {
            done_us = Some(now);
            break;
        }
        if let Some(e) = pair.error() {
            error = Some(e);
            break;
        }
        let next = [
            link.next_arrival(),
            pair.next_wakeup(CLIENT, now),
            pair.next_wakeup(SERVER, now),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            None => {
                error = Some(format!(
                    "{}: stalled after {received} of {total} bytes: nothing on the link and no \
                     timer armed",
                    pair.name()
                ));
            }
            Some(t) => {
                // A stack that asks to be polled "now" again after a poll gets the next
                // microsecond instead, so the loop always advances.
                now = t.max(now + 1);
                if now > limit_us {
                    error = Some(format!(
                        "{}: {received} of {total} bytes after {} s of virtual time",
                        pair.name(),
                        limit_us / 1_000_000
                    ));
                }
            }
        }
    }
    VirtualRun {
        done_us,
        elapsed_us: now.min(limit_us.max(1)),
        received,
        intact: done_us.is_some() && sent_hash.finalize() == recv_hash.finalize(),
        link: link.stats,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(len: usize) -> Packet {
        Packet::exact(vec![0; len])
    }

    #[test]
    fn delay_rate_queue_and_fifo() {
        let mut l = VirtualLink::new(
            LinkParams {
                delay_us: 10_000,
                rate_bps: Some(8_000_000),
                queue: 2,
                loss: 0.0,
                mtu: 1500,
            },
            1,
        );
        // 1000 bytes at 8 Mbit/s = 1 ms each.
        l.send(0, 0, pkt(1000));
        l.send(0, 0, pkt(1000));
        l.send(0, 0, pkt(1000)); // queue full
        l.send(0, 0, pkt(2000)); // too big
        assert_eq!(l.stats.tail_dropped, 1);
        assert_eq!(l.stats.too_big, 1);
        assert_eq!(l.next_arrival(), Some(11_000));
        assert!(l.pop_due(10_999).is_none());
        assert_eq!(l.pop_due(11_000).map(|(to, _)| to), Some(1));
        assert_eq!(l.next_arrival(), Some(12_000));
    }

    #[test]
    fn loss_follows_the_seed() {
        let params = LinkParams {
            delay_us: 0,
            rate_bps: None,
            queue: 100,
            loss: 0.1,
            mtu: 1500,
        };
        let lost = |seed| {
            let mut l = VirtualLink::new(params, seed);
            for _ in 0..10_000 {
                l.send(0, 0, pkt(100));
            }
            l.stats.lost
        };
        assert_eq!(lost(7), lost(7));
        assert!((800..1200).contains(&lost(7)), "{}", lost(7));
    }
}
