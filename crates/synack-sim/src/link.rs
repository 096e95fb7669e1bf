//! Links between hosts and the impairments each direction of a link applies.
//!
//! A link has two directions, each with its own [`LinkConfig`]. A packet entering a direction goes
//! through these stages, in this order (every random choice comes from the simulation's one
//! seeded generator, and a stage whose probability is zero draws nothing):
//!
//! 1. **MTU**: a datagram longer than [`LinkConfig::mtu`] is dropped ([`LossReason::Mtu`]).
//! 2. **Queue and rate**: with [`LinkConfig::rate_bps`] set, the packet waits for the packets
//!    ahead of it and then takes `bits / rate` to serialise; when [`LinkConfig::queue_packets`]
//!    packets are already held (waiting or being serialised) it is tail-dropped
//!    ([`LossReason::QueueFull`]).
//! 3. **Loss**: dropped in transit with probability [`LinkConfig::loss`] ([`LossReason::Random`]).
//! 4. **Delay**: arrival = end of serialisation + [`LinkConfig::delay`] + a uniform draw in
//!    `[0, jitter]`. A direction is FIFO: a packet never arrives before one sent earlier, unless
//!    it is itself reordered (next stage) or delayed by a script.
//! 5. **Reordering**: with probability [`LinkConfig::reorder`] the packet gets
//!    [`LinkConfig::reorder_delay`] more and leaves the FIFO order, so later packets overtake it.
//! 6. **Corruption**: with probability [`LinkConfig::corrupt`] one random bit after the IP header
//!    is flipped, so the receiver's TCP checksum (not the IP header checksum) rejects it.
//! 7. **Duplication**: otherwise, with probability [`LinkConfig::duplicate`] a second copy arrives
//!    right after the first.
//!
//! [`LossReason::Mtu`]: crate::LossReason::Mtu
//! [`LossReason::QueueFull`]: crate::LossReason::QueueFull
//! [`LossReason::Random`]: crate::LossReason::Random

use std::collections::VecDeque;

use synack_proto::{Duration, Instant};

/// The behaviour of one direction of a link. `LinkConfig::default()` is a perfect wire: no delay,
/// unlimited rate, no loss, MTU 1500.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per packet. Jitter alone never reorders: a
    /// packet that would arrive before an earlier one is held until that one has arrived.
    pub jitter: Duration,
    /// Link rate in bits per second; `None` for infinitely fast. With a rate, each packet takes
    /// `len * 8 / rate` seconds (rounded up to the microsecond) to serialise, one after another.
    pub rate_bps: Option<u64>,
    /// How many packets the sending side of a rate-limited link holds at once (the one being
    /// serialised plus those waiting); a packet arriving at a full queue is tail-dropped.
    /// Ignored without `rate_bps`; a value of 0 counts as 1.
    pub queue_packets: usize,
    /// Probability that a packet is lost in transit, `0.0..=1.0`.
    pub loss: f64,
    /// Probability that a packet arrives twice.
    pub duplicate: f64,
    /// Probability that a packet is delayed by `reorder_delay` more and leaves FIFO order.
    pub reorder: f64,
    /// The extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that one bit of the packet (after the IP header) is flipped.
    pub corrupt: f64,
    /// Largest datagram (IP header included) the link carries; larger ones are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_bps: None,
            queue_packets: 100,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            corrupt: 0.0,
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A perfect link with one-way delay `delay`.
    #[must_use]
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Sets the one-way delay.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the jitter bound.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the rate in bits per second and the queue bound in packets.
    #[must_use]
    pub fn rate(mut self, bps: u64, queue_packets: usize) -> Self {
        self.rate_bps = Some(bps);
        self.queue_packets = queue_packets;
        self
    }

    /// Sets the loss probability.
    #[must_use]
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets the duplication probability.
    #[must_use]
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the reordering probability and the extra delay of a reordered packet.
    #[must_use]
    pub fn reorder(mut self, p: f64, extra: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = extra;
        self
    }

    /// Sets the corruption probability.
    #[must_use]
    pub fn corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the MTU.
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Microseconds to serialise `len` bytes at the configured rate (0 without a rate).
    pub fn serialisation_time(&self, len: usize) -> Duration {
        match self.rate_bps {
            Some(rate) if rate > 0 => {
                let bits = (len as u128) * 8 * 1_000_000;
                let us = bits.div_ceil(u128::from(rate));
                Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
            }
            // A zero rate carries nothing in finite time; treat it as the slowest possible link.
            Some(_) => Duration::from_secs(u64::from(u32::MAX)),
            None => Duration::ZERO,
        }
    }
}

/// One direction of a link: its configuration and the state that FIFO order and the queue need.
#[derive(Debug)]
pub(crate) struct LinkDir {
    pub(crate) config: LinkConfig,
    /// When the last FIFO packet arrives (later packets may not arrive before it).
    pub(crate) last_arrival: Instant,
    /// When the serialiser is free again.
    pub(crate) busy_until: Instant,
    /// End-of-serialisation times of the packets held by the sender, oldest first.
    pub(crate) held: VecDeque<Instant>,
}

impl LinkDir {
    pub(crate) fn new(config: LinkConfig) -> Self {
        Self {
            config,
            last_arrival: Instant::ZERO,
            busy_until: Instant::ZERO,
            held: VecDeque::new(),
        }
    }

    /// Admits a packet of `len` bytes at `now` to the serialiser; returns when its last bit has
    /// left, or `None` when the queue is full.
    pub(crate) fn admit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        if self.config.rate_bps.is_none() {
            return Some(now);
        }
        while self.held.front().is_some_and(|t| *t <= now) {
            self.held.pop_front();
        }
        if self.held.len() >= self.config.queue_packets.max(1) {
            return None;
        }
        let start = now.max(self.busy_until);
        let done = start + self.config.serialisation_time(len);
        self.busy_until = done;
        self.held.push_back(done);
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialisation_rounds_up() {
        let c = LinkConfig::default().rate(1_000_000, 10);
        // 1000 bytes at 1 Mbit/s = 8 ms.
        assert_eq!(c.serialisation_time(1000), Duration::from_millis(8));
        let c = LinkConfig::default().rate(3, 10);
        assert_eq!(c.serialisation_time(1), Duration::from_micros(2_666_667));
        assert_eq!(
            LinkConfig::default().serialisation_time(1000),
            Duration::ZERO
        );
    }

    #[test]
    fn queue_bounds_held_packets() {
        let mut d = LinkDir::new(LinkConfig::default().rate(8_000_000, 2));
        // 1000 bytes at 8 Mbit/s = 1 ms each.
        let t0 = Instant::ZERO;
        assert_eq!(d.admit(t0, 1000), Some(Instant::from_millis(1)));
        assert_eq!(d.admit(t0, 1000), Some(Instant::from_millis(2)));
        assert_eq!(d.admit(t0, 1000), None);
        // After the first has left there is room again.
        assert_eq!(
            d.admit(Instant::from_millis(1), 1000),
            Some(Instant::from_millis(3))
        );
    }
}
