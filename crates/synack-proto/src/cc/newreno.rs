//! NewReno congestion control: the window management of RFC 5681 §3.1-§3.2, with RFC 6582's
//! recovery exit and the byte counting of RFC 3465.
//!
//! - Initial window: `initial_window_segments * SMSS` (RFC 6928 recommends 10 segments).
//! - Slow start (`cwnd < ssthresh`): `cwnd += min(N, L)` per ACK of N new bytes, with L = 2 SMSS
//!   (RFC 3465 §2.2), never beyond `ssthresh`. [`NewReno::with_ack_limit`] lifts `L`, as Linux
//!   (whose `tcp_slow_start` counts every segment an ACK covers) and synack's connections by
//!   default (`Config::slow_start_ack_limit`).
//! - Congestion avoidance: appropriate byte counting (RFC 3465 §2.1, the "more accurate" method of
//!   RFC 5681 §3.1): once a full `cwnd` of bytes has been acknowledged, `cwnd += SMSS`; about one
//!   SMSS per round trip.
//! - Fast recovery entry (RFC 5681 §3.2 equation 4 applied at step 2, RFC 6675 §5 step 4):
//!   `ssthresh = max(FlightSize / 2, 2 SMSS)`, `cwnd = ssthresh` (no inflation; see the
//!   [module documentation](super)).
//! - Recovery exit (RFC 6582 §3.2 step 3, second option): `cwnd = ssthresh`.
//! - RTO (RFC 5681 §3.1 equation 4): `ssthresh = max(FlightSize / 2, 2 SMSS)` on the first timeout
//!   of a series (lowered, never raised, when the timeout hits during recovery), `cwnd` = 1 SMSS.
//! - Undo of a spurious reduction: `cwnd` and `ssthresh` come back to at least their values before
//!   it (as Linux's `tcp_undo_cwnd_reduction`).

use super::{initial_window, rescale, restart_ssthresh, CongestionControl};
use crate::time::{Duration, Instant};

/// RFC 3465 §2.2: at most this many SMSS of window growth per ACK in slow start.
pub const ABC_LIMIT_SEGMENTS: u32 = 2;

/// NewReno (RFC 5681, RFC 6582) window state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// RFC 3465 §2.1 `bytes_acked`: bytes acknowledged in congestion avoidance not yet turned into
    /// window growth.
    bytes_acked: u32,
    in_recovery: bool,
    /// An RTO fired and no new data was acknowledged since.
    rto_series: bool,
    /// `(cwnd, ssthresh)` before the last reduction.
    prior: Option<(u32, u32)>,
    /// The most one ACK grows the window in slow start, in SMSS (`u32::MAX`: no limit).
    ack_limit_segments: u32,
}

impl NewReno {
    /// NewReno with the given MSS (at least 1) and initial window in segments (at least 1).
    pub fn new(mss: u32, initial_window_segments: u32) -> Self {
        let mss = mss.max(1);
        Self {
            mss,
            cwnd: initial_window(mss, initial_window_segments),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            in_recovery: false,
            rto_series: false,
            prior: None,
            ack_limit_segments: ABC_LIMIT_SEGMENTS,
        }
    }

    /// Keeps RFC 3465 §2.2's per-ACK growth limit in slow start, `L` = 2 SMSS (`true`, the
    /// default of `NewReno::new`), or lifts it (`false`: an ACK grows the window by all it
    /// acknowledges, as Linux's `tcp_slow_start`).
    pub fn with_ack_limit(mut self, limited: bool) -> Self {
        self.ack_limit_segments = if limited {
            ABC_LIMIT_SEGMENTS
        } else {
            u32::MAX
        };
        self
    }

    /// Whether the controller is in fast recovery (between a congestion event and its exit).
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// RFC 5681 equation 4: `max(FlightSize / 2, 2 SMSS)`.
    fn half_flight(&self, flight: u32) -> u32 {
        (flight / 2).max(self.mss.saturating_mul(2))
    }

    fn save_prior(&mut self) {
        self.prior = Some((self.cwnd, self.ssthresh));
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "newreno"
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Slow start: `cwnd += min(acked, L)` (L = 2 SMSS unless lifted), capped at `ssthresh`. Congestion avoidance:
    /// `cwnd += SMSS` each time `cwnd` bytes have been acknowledged. `rtt` and `flight` are not
    /// used by NewReno.
    fn on_ack(
        &mut self,
        _now: Instant,
        acked: u32,
        _rtt: Option<Duration>,
        _flight: u32,
        app_limited: bool,
    ) {
        if acked == 0 {
            return;
        }
        self.rto_series = false;
        if self.in_recovery || app_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            let inc = acked.min(self.mss.saturating_mul(self.ack_limit_segments));
            self.cwnd = self.cwnd.saturating_add(inc).min(self.ssthresh);
        } else {
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: u32) {
        if self.in_recovery {
            return;
        }
        self.save_prior();
        self.ssthresh = self.half_flight(flight);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.in_recovery = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if !self.in_recovery {
            return;
        }
        self.in_recovery = false;
        self.cwnd = self.ssthresh.max(self.mss);
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, flight: u32) {
        if !self.rto_series {
            if self.in_recovery {
                // Already reduced for this window: "no more than" equation 4 (RFC 5681 §3.1).
                self.ssthresh = self.ssthresh.min(self.half_flight(flight));
            } else {
                self.save_prior();
                self.ssthresh = self.half_flight(flight);
            }
        }
        self.rto_series = true;
        self.in_recovery = false;
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) -> bool {
        let Some((cwnd, ssthresh)) = self.prior.take() else {
            return false;
        };
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.in_recovery = false;
        self.rto_series = false;
        self.bytes_acked = 0;
        true
    }

    fn on_idle_restart(&mut self, _now: Instant, restart_cwnd: u32) {
        if !self.in_recovery {
            self.ssthresh = restart_ssthresh(self.ssthresh, self.cwnd);
        }
        self.cwnd = restart_cwnd.max(self.mss);
        self.bytes_acked = 0;
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        let old = self.mss;
        self.cwnd = rescale(self.cwnd, old, mss).max(mss);
        self.ssthresh = rescale(self.ssthresh, old, mss);
        self.bytes_acked = rescale(self.bytes_acked, old, mss);
        if let Some((c, s)) = self.prior {
            self.prior = Some((rescale(c, old, mss), rescale(s, old, mss)));
        }
        self.mss = mss;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const T0: Instant = Instant::ZERO;

    /// One round trip of a cwnd-limited sender whose peer ACKs every second segment.
    fn round(cc: &mut NewReno) {
        let flight = cc.cwnd();
        let mut left = flight;
        while left > 0 {
            let acked = left.min(2 * MSS);
            cc.on_ack(T0, acked, None, left, false);
            left -= acked;
        }
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = NewReno::new(MSS, 10);
        assert_eq!(cc.cwnd(), 10 * MSS);
        for expect in [20, 40, 80, 160] {
            round(&mut cc);
            assert_eq!(cc.cwnd(), expect * MSS);
        }
    }

    #[test]
    fn slow_start_limits_stretch_acks() {
        let mut cc = NewReno::new(MSS, 10);
        cc.on_ack(T0, 10 * MSS, None, 10 * MSS, false);
        assert_eq!(cc.cwnd(), 12 * MSS, "L = 2 SMSS");
        // Without the limit (Linux's slow start) the ACK counts whole, up to ssthresh.
        let mut cc = NewReno::new(MSS, 10).with_ack_limit(false);
        cc.on_ack(T0, 10 * MSS, None, 10 * MSS, false);
        assert_eq!(cc.cwnd(), 20 * MSS);
        cc.on_congestion_event(T0, 20 * MSS);
        cc.on_recovery_exit(T0);
        cc.on_rto(T0, 20 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 10 * MSS));
        cc.on_ack(T0, 30 * MSS, None, MSS, false);
        assert_eq!(cc.cwnd(), 10 * MSS, "never beyond ssthresh");
    }

    #[test]
    fn congestion_avoidance_one_mss_per_rtt() {
        let mut cc = NewReno::new(MSS, 10);
        cc.on_congestion_event(T0, 40 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (20 * MSS, 20 * MSS));
        assert!(cc.in_recovery());
        // ACKs during recovery do not grow the window.
        cc.on_ack(T0, 5 * MSS, None, 20 * MSS, false);
        assert_eq!(cc.cwnd(), 20 * MSS);
        // A second loss in the same window does nothing.
        cc.on_congestion_event(T0, 20 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        cc.on_recovery_exit(T0);
        assert!(!cc.in_slow_start());
        for n in 1..=10 {
            round(&mut cc);
            assert_eq!(cc.cwnd(), (20 + n) * MSS);
        }
    }

    #[test]
    fn app_limited_does_not_grow() {
        let mut cc = NewReno::new(MSS, 10);
        cc.on_ack(T0, 2 * MSS, None, 2 * MSS, true);
        assert_eq!(cc.cwnd(), 10 * MSS);
    }

    #[test]
    fn rto_loss_window_and_backoff() {
        let mut cc = NewReno::new(MSS, 10);
        cc.on_rto(T0, 30 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 15 * MSS));
        // The backed-off timer fires again for the same data: ssthresh held.
        cc.on_rto(T0, MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 15 * MSS));
        // Slow start back up to ssthresh, then CA.
        cc.on_ack(T0, MSS, None, MSS, false);
        assert_eq!(cc.cwnd(), 2 * MSS);
        // Now a fresh RTO reduces again.
        cc.on_rto(T0, 2 * MSS);
        assert_eq!(cc.ssthresh(), 2 * MSS, "never below 2 SMSS");
        // Slow start stops at ssthresh.
        cc.on_ack(T0, 2 * MSS, None, MSS, false);
        assert_eq!(cc.cwnd(), 2 * MSS);
        assert!(!cc.in_slow_start());
    }

    #[test]
    fn rto_during_recovery_only_lowers_ssthresh() {
        let mut cc = NewReno::new(MSS, 40);
        cc.on_congestion_event(T0, 40 * MSS);
        cc.on_rto(T0, 60 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        assert_eq!(cc.cwnd(), MSS);
        // The undo restores the state before the congestion event.
        assert!(cc.on_spurious_congestion(T0));
        assert_eq!((cc.cwnd(), cc.ssthresh()), (40 * MSS, u32::MAX));
        assert!(!cc.on_spurious_congestion(T0));
    }

    #[test]
    fn mss_change_keeps_segments() {
        let mut cc = NewReno::new(1460, 10);
        cc.on_congestion_event(T0, 40 * 1460);
        cc.set_mss(1000);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (20_000, 20_000));
    }

    #[test]
    fn saturates() {
        let mut cc = NewReno::new(u32::MAX, u32::MAX);
        assert_eq!(cc.cwnd(), u32::MAX);
        cc.on_ack(T0, u32::MAX, None, u32::MAX, false);
        cc.on_congestion_event(T0, u32::MAX);
        cc.on_recovery_exit(T0);
        for _ in 0..3 {
            cc.on_ack(T0, u32::MAX, None, u32::MAX, false);
        }
        cc.on_rto(T0, 0);
        assert_eq!(cc.ssthresh(), u32::MAX, "2 SMSS saturates");
        cc.set_mss(0);
        assert!(cc.cwnd() >= 1);
    }
}
