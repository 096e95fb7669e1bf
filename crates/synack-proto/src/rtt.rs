//! Round-trip time estimation and the retransmission timeout (RFC 6298), with Karn's rule
//! (RFC 6298 §3) applied by the caller: only segments sent once give samples, or with timestamps
//! (RFC 7323 §4.1) an echo of the last copy sent. The backoff of RFC 6298 §5.5 ends with the next
//! ACK of new data, sample or not.

use crate::time::Duration;

/// SRTT, RTTVAR and RTO of one connection, plus the exponential backoff of RFC 6298 §5.5.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

/// The clock granularity G of RFC 6298 §2 (1 ms: timestamps tick in milliseconds).
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    /// A fresh estimator: RTO = `initial` until the first sample (RFC 6298 §2.1).
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial,
            backoff: 0,
            min_rto,
            max_rto,
        }
    }

    /// Folds in one RTT measurement (RFC 6298 §2.2-§2.3, alpha = 1/8, beta = 1/4) and clears the
    /// backoff. As Linux, the variance term is at least `min_rto`, so RTO >= SRTT + min RTO.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let var = (self.rttvar * 4).max(GRANULARITY).max(self.min_rto);
        self.rto = (srtt + var).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// The current RTO including backoff (RFC 6298 §5.5), capped at the maximum.
    pub fn rto(&self) -> Duration {
        let mut rto = self.rto;
        for _ in 0..self.backoff {
            rto = rto.saturating_mul(2);
            if rto >= self.max_rto {
                return self.max_rto;
            }
        }
        rto.min(self.max_rto)
    }

    /// The RTO before backoff.
    pub fn base_rto(&self) -> Duration {
        self.rto
    }

    /// Sets the base RTO without a sample, e.g. 3 s after a retransmitted SYN (RFC 6298 §5.7).
    pub fn set_base_rto(&mut self, rto: Duration) {
        self.rto = rto.clamp(self.min_rto, self.max_rto);
    }

    /// Doubles the timeout after an expiry (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(32);
    }

    /// How many times the RTO was doubled since the last acknowledgment (Linux `icsk_backoff`).
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// Clears the backoff.
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variance.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        )
    }

    #[test]
    fn initial_rto_doubles_to_the_cap() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_secs(2));
        for _ in 0..10 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
    }

    #[test]
    fn first_sample_follows_rfc6298() {
        let mut e = est();
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // SRTT + max(4 * RTTVAR, 200 ms) = 100 + 200.
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(500));
        // RTTVAR = 3/4*50 + 1/4*400 = 137.5; SRTT = 7/8*100 + 1/8*500 = 150.
        assert_eq!(e.srtt(), Some(Duration::from_millis(150)));
        assert_eq!(e.rto(), Duration::from_millis(150 + 550));
    }
}
