//! An impairment wrapper for any device: a userspace netem.
//!
//! [`Impaired`] puts one [`LinkConfig`] on each direction of the device it wraps: datagrams the
//! driver sends pass the *outgoing* impairments before they reach the device, datagrams the device
//! delivers pass the *incoming* ones before the driver sees them. The stages and their order are
//! those of the simulator's links (see [`synack_sim::link`]): MTU, rate and queue, loss, delay and
//! jitter (jitter alone never reorders), reordering (the packet gets `reorder_delay` more and
//! leaves FIFO order), corruption (one bit after the IP header), duplication. Delays are real time:
//! held datagrams are released when the driver services the device at their due time.
//!
//! Every random choice comes from a generator seeded by the caller, so one seed gives the same
//! sequence of decisions (the exact packets they hit depend on real timing).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use synack_sim::rng::{splitmix64, SimRng};
use synack_sim::LinkConfig;

use super::{Device, Notifier, MAX_DATAGRAM};

/// Most datagrams one direction holds at once; more are dropped (a bounded queue, as netem's
/// `limit`).
const MAX_HELD: usize = 100_000;

/// What one direction of an impairment did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Datagrams that entered.
    pub admitted: u64,
    /// Datagrams lost at random.
    pub lost: u64,
    /// Datagrams dropped for exceeding the MTU.
    pub too_big: u64,
    /// Datagrams dropped because the rate-limited queue (or the holding bound) was full.
    pub queue_full: u64,
    /// Datagrams that left FIFO order.
    pub reordered: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams with one bit flipped.
    pub corrupted: u64,
    /// Datagrams delivered (copies included).
    pub delivered: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    at: Instant,
    seq: u64,
    bytes: Vec<u8>,
}

/// One impaired direction: the configuration, the generator and the datagrams held back.
#[derive(Debug)]
pub(crate) struct ImpairedPath {
    config: LinkConfig,
    rng: SimRng,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    last_arrival: Option<Instant>,
    busy_until: Option<Instant>,
    serialising: VecDeque<Instant>,
    stats: ImpairStats,
}

fn ip_header_len(d: &[u8]) -> usize {
    match d.first().map(|b| b >> 4) {
        Some(4) => usize::from(d[0] & 0x0f) * 4,
        Some(6) => 40,
        _ => 0,
    }
}

impl ImpairedPath {
    pub(crate) fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SimRng::new(seed),
            held: BinaryHeap::new(),
            seq: 0,
            last_arrival: None,
            busy_until: None,
            serialising: VecDeque::new(),
            stats: ImpairStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> ImpairStats {
        self.stats
    }

    fn hold(&mut self, at: Instant, bytes: Vec<u8>) {
        if self.held.len() >= MAX_HELD {
            self.stats.queue_full += 1;
            return;
        }
        self.seq += 1;
        self.held.push(Reverse(Held {
            at,
            seq: self.seq,
            bytes,
        }));
    }

    /// Puts a datagram through the stages; it becomes due at some later time, or is dropped.
    pub(crate) fn admit(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.admitted += 1;
        let c = &self.config;
        if datagram.len() > c.mtu {
            self.stats.too_big += 1;
            return;
        }
        let done = match c.rate_bps {
            None => now,
            Some(_) => {
                while self.serialising.front().is_some_and(|t| *t <= now) {
                    self.serialising.pop_front();
                }
                if self.serialising.len() >= c.queue_packets.max(1) {
                    self.stats.queue_full += 1;
                    return;
                }
                let start = self.busy_until.map_or(now, |b| b.max(now));
                let done = start + c.serialisation_time(datagram.len());
                self.busy_until = Some(done);
                self.serialising.push_back(done);
                done
            }
        };
        if self.rng.chance(c.loss) {
            self.stats.lost += 1;
            return;
        }
        let mut at = done + c.delay;
        if !c.jitter.is_zero() {
            let j = u64::try_from(c.jitter.as_micros()).unwrap_or(u64::MAX);
            at += Duration::from_micros(self.rng.below(j.saturating_add(1)));
        }
        if let Some(last) = self.last_arrival {
            at = at.max(last);
        }
        if self.rng.chance(c.reorder) {
            self.stats.reordered += 1;
            at += c.reorder_delay;
        } else {
            self.last_arrival = Some(at);
        }
        let mut bytes = datagram.to_vec();
        if self.rng.chance(c.corrupt) {
            let start = ip_header_len(&bytes);
            if bytes.len() > start {
                let bits = (bytes.len() - start) as u64 * 8;
                let bit = self.rng.below(bits) as usize;
                bytes[start + bit / 8] ^= 1 << (bit % 8);
                self.stats.corrupted += 1;
            }
        }
        if self.rng.chance(c.duplicate) {
            self.stats.duplicated += 1;
            self.hold(at, bytes.clone());
        }
        self.hold(at, bytes);
    }

    /// The next datagram due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.held.peek().is_some_and(|Reverse(h)| h.at <= now) {
            self.stats.delivered += 1;
            return self.held.pop().map(|Reverse(h)| h.bytes);
        }
        None
    }

    /// When the next held datagram is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }
}

/// A device whose two directions are impaired; see the module documentation.
///
/// ```no_run
/// use std::time::Duration;
/// use synack::device::{Impaired, LinkConfig, Tun};
/// let tun = Tun::builder("synack0").address("10.9.0.1".parse().unwrap(), 24).open()?;
/// let lossy = LinkConfig::default()
///     .loss(0.05)
///     .delay(Duration::from_millis(5))
///     .reorder(0.02, Duration::from_millis(10));
/// let dev = Impaired::symmetric(tun, lossy, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Impaired<D> {
    inner: D,
    name: String,
    outgoing: ImpairedPath,
    incoming: ImpairedPath,
    buf: Vec<u8>,
}

impl<D: Device> Impaired<D> {
    /// Wraps `inner`: `outgoing` applies to what the stack sends, `incoming` to what it receives.
    /// `seed` determines every random choice.
    pub fn new(inner: D, outgoing: LinkConfig, incoming: LinkConfig, seed: u64) -> Self {
        let mut s = seed;
        let out_seed = splitmix64(&mut s);
        let in_seed = splitmix64(&mut s);
        Self {
            name: format!("{}+impaired", inner.name()),
            inner,
            outgoing: ImpairedPath::new(outgoing, out_seed),
            incoming: ImpairedPath::new(incoming, in_seed),
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// Wraps `inner` with the same impairments both ways.
    pub fn symmetric(inner: D, config: LinkConfig, seed: u64) -> Self {
        Self::new(inner, config.clone(), config, seed)
    }

    /// What each direction did: `(outgoing, incoming)`.
    pub fn stats(&self) -> (ImpairStats, ImpairStats) {
        (self.outgoing.stats(), self.incoming.stats())
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    fn release_outgoing(&mut self, now: Instant) -> io::Result<()> {
        while let Some(d) = self.outgoing.pop_due(now) {
            self.inner.send(now, &d)?;
        }
        Ok(())
    }
}

impl<D: Device> Device for Impaired<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // Drain the inner device completely (its descriptor must read as empty before we say
        // `None`), holding what arrives.
        while let Some(n) = self.inner.recv(now, &mut self.buf)? {
            let n = n.min(self.buf.len());
            self.incoming.admit(now, &self.buf[..n]);
        }
        match self.incoming.pop_due(now) {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(Some(n))
            }
            None => Ok(None),
        }
    }

    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()> {
        self.outgoing.admit(now, datagram);
        self.release_outgoing(now)
    }

    fn flush_tx(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush_tx(now)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        self.inner.poll_fd()
    }

    fn poll_at(&self) -> Option<Instant> {
        [
            self.outgoing.next_due(),
            self.incoming.next_due(),
            self.inner.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn service(&mut self, now: Instant) -> io::Result<()> {
        self.release_outgoing(now)?;
        self.inner.service(now)
    }

    fn set_notifier(&mut self, notifier: Notifier) {
        self.inner.set_notifier(notifier);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(i: u8) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 24];
        p.resize(24, i);
        p
    }

    #[test]
    fn perfect_path_passes_in_order_at_once() {
        let mut p = ImpairedPath::new(LinkConfig::default(), 1);
        let t = Instant::now();
        for i in 0..10 {
            p.admit(t, &pkt(i));
        }
        for i in 0..10 {
            assert_eq!(p.pop_due(t).unwrap(), pkt(i));
        }
        assert!(p.pop_due(t).is_none());
    }

    #[test]
    fn delay_holds_until_due() {
        let mut p = ImpairedPath::new(LinkConfig::with_delay(Duration::from_millis(10)), 1);
        let t = Instant::now();
        p.admit(t, &pkt(1));
        assert!(p.pop_due(t).is_none());
        assert_eq!(p.next_due(), Some(t + Duration::from_millis(10)));
        assert!(p.pop_due(t + Duration::from_millis(10)).is_some());
    }

    #[test]
    fn loss_rate_is_roughly_right_and_seeded() {
        let run = |seed| {
            let mut p = ImpairedPath::new(LinkConfig::default().loss(0.1), seed);
            let t = Instant::now();
            for _ in 0..10_000 {
                p.admit(t, &pkt(0));
            }
            p.stats().lost
        };
        let lost = run(7);
        assert!((800..1200).contains(&lost), "{lost}");
        assert_eq!(run(7), lost);
    }

    #[test]
    fn reordering_lets_later_packets_overtake() {
        let cfg = LinkConfig::default().reorder(0.5, Duration::from_millis(5));
        let mut p = ImpairedPath::new(cfg, 3);
        let t = Instant::now();
        for i in 0..50 {
            p.admit(t, &pkt(i));
        }
        let later = t + Duration::from_millis(5);
        let order: Vec<u8> = std::iter::from_fn(|| p.pop_due(later))
            .map(|d| d[4])
            .collect();
        assert_eq!(order.len(), 50);
        assert!(order.windows(2).any(|w| w[0] > w[1]));
    }

    #[test]
    fn duplicates_and_corruption_are_counted() {
        let cfg = LinkConfig::default().duplicate(1.0).corrupt(1.0);
        let mut p = ImpairedPath::new(cfg, 3);
        let t = Instant::now();
        p.admit(t, &pkt(9));
        let a = p.pop_due(t).unwrap();
        let b = p.pop_due(t).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, pkt(9));
        assert_eq!(a[..20], pkt(9)[..20], "the IP header is left alone");
        assert_eq!(p.stats().duplicated, 1);
        assert_eq!(p.stats().corrupted, 1);
    }
}
