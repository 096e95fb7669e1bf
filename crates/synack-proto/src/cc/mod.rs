//! Congestion control behind one trait, as in Linux (`struct tcp_congestion_ops`) and gVisor
//! (`congestionControl`): NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438) with HyStart++
//! (RFC 9406).
//!
//! The controller owns `cwnd` and `ssthresh` and nothing else of the connection. The connection
//! tells it what happened, and when:
//!
//! | event at the connection | call |
//! |---|---|
//! | an ACK acknowledges new data (cumulatively or by SACK) | [`CongestionControl::on_ack`] |
//! | loss detected by DupThresh, SACK (RFC 6675) or RACK (RFC 8985): entering recovery | [`CongestionControl::on_congestion_event`] |
//! | recovery ends: an ACK covers the recovery point (RFC 6582 §3.2 step 3, RFC 6675 §5) | [`CongestionControl::on_recovery_exit`] |
//! | the retransmission timer expires | [`CongestionControl::on_rto`] |
//! | the last reduction proves spurious (D-SACK, Eifel, F-RTO) | [`CongestionControl::on_spurious_congestion`] |
//! | the MSS changes (path MTU discovery) | [`CongestionControl::set_mss`] |
//!
//! Conventions shared by every controller here:
//! - All windows are in bytes. `ssthresh` is `u32::MAX` until the first reduction ("arbitrarily
//!   high", RFC 5681 §3.1).
//! - `cwnd` is never below one MSS.
//! - While in recovery (between `on_congestion_event` and `on_recovery_exit`) ACKs do not grow
//!   `cwnd`: during recovery the sender is clocked by RFC 6675's pipe (or PRR, RFC 6937), which is
//!   the connection's business; `cwnd` is not inflated per duplicate ACK (that is the non-SACK
//!   device of RFC 5681 §3.2 steps 4-5, which pipe supersedes).
//! - Repeated congestion events within one recovery are ignored: the window is reduced once per
//!   window of data (RFC 5681 §3.2, RFC 6675 §5). The connection should still call
//!   `on_congestion_event` only once per recovery.
//! - Repeated RTOs for the same data (exponential backoff) do not reduce `ssthresh` again
//!   (RFC 5681 §3.1: "ssthresh is held constant"); any ACK of new data ends the series.
//! - Slow start uses appropriate byte counting (RFC 3465). The controllers' own default limits
//!   the increase per ACK to L = 2 SMSS for NewReno (RFC 3465 §2.2) and L = 8 SMSS for CUBIC's
//!   HyStart++ (RFC 9406 §4.3's value for a sender that does not pace); a bounded L keeps the
//!   bursts an unpaced sender emits on stretch ACKs small. Linux has no limit at all, and
//!   synack's connections follow it unless `Config::slow_start_ack_limit` is set
//!   ([`new_controller`]'s `ack_limit`).
//! - `app_limited` on an ACK means the sender was not using its window (RFC 7661's
//!   "non-validated" state, Linux's `!tcp_is_cwnd_limited()`): the window does not grow.

use alloc::boxed::Box;
use core::fmt;
use core::str::FromStr;

use crate::time::{Duration, Instant};

pub mod cubic;
pub mod hystart;
pub mod newreno;

pub use cubic::Cubic;
pub use hystart::HyStart;
pub use newreno::NewReno;

/// A congestion controller: the window arithmetic of one algorithm.
pub trait CongestionControl: fmt::Debug {
    /// The algorithm's name, as `sysctl net.ipv4.tcp_congestion_control` spells it.
    fn name(&self) -> &'static str;

    /// The congestion window, in bytes (at least one MSS).
    fn cwnd(&self) -> u32;

    /// The slow-start threshold, in bytes; `u32::MAX` until the first reduction.
    fn ssthresh(&self) -> u32;

    /// Whether the sender is in slow start (`cwnd < ssthresh`, RFC 5681 §3.1), including
    /// HyStart++'s conservative slow start.
    fn in_slow_start(&self) -> bool;

    /// An ACK acknowledged `acked` bytes of new data, cumulatively or selectively (count each
    /// byte once; `acked == 0` is ignored). `rtt` is the RTT sample this ACK gave, if any (Karn-
    /// valid, RFC 6298 §3). `flight` is the number of bytes in flight before the ACK (SND.NXT -
    /// SND.UNA, or RFC 6675's pipe). `app_limited`: the sender was not limited by `cwnd` (see the
    /// module documentation); the window does not grow.
    ///
    /// Slow start counts bytes (RFC 3465, with the per-ACK limit L described in the module
    /// documentation); congestion avoidance is the algorithm's own.
    fn on_ack(
        &mut self,
        now: Instant,
        acked: u32,
        rtt: Option<Duration>,
        flight: u32,
        app_limited: bool,
    );

    /// Loss was detected (DupThresh duplicate ACKs, SACK-based `IsLost()`, RACK) and the sender
    /// enters fast recovery: the multiplicative decrease (RFC 5681 §3.2 step 2, RFC 6675 §5
    /// step 4, RFC 9438 §4.6). `flight` is FlightSize, the bytes outstanding when the loss was
    /// detected: NewReno halves it (RFC 5681 equation 4); CUBIC multiplies `cwnd` by
    /// `beta_cubic` instead, as Linux does and RFC 9438 §4.6 allows. Ignored while already in
    /// recovery (once per window).
    fn on_congestion_event(&mut self, now: Instant, flight: u32);

    /// Recovery ended: an ACK covered the recovery point (RFC 6582 §3.2 step 3 option 2,
    /// RFC 6675 §5): `cwnd = ssthresh`, and the algorithm's congestion avoidance starts.
    fn on_recovery_exit(&mut self, now: Instant);

    /// The retransmission timer expired (RFC 5681 §3.1 equation 4, RFC 9438 §4.8): `ssthresh`
    /// drops to what the algorithm's decrease gives (from `flight` for NewReno, from `cwnd` for
    /// CUBIC; no lower than 2 SMSS; held for repeated timeouts of the same data) and `cwnd` to
    /// the loss window, 1 SMSS. Ends recovery.
    fn on_rto(&mut self, now: Instant, flight: u32);

    /// The last congestion event or RTO was spurious (detected by D-SACK, RFC 3708; Eifel,
    /// RFC 3522; F-RTO, RFC 5682): restores the state saved before that reduction (RFC 4015's
    /// response; RFC 9438 §4.9 for CUBIC), never shrinking `cwnd`. Returns whether there was a
    /// reduction to undo. The default implementation has nothing to undo.
    fn on_spurious_congestion(&mut self, now: Instant) -> bool {
        let _ = now;
        false
    }

    /// The sender starts again after an idle period longer than the RTO (RFC 5681 §4.1's restart
    /// window, RFC 2861; Linux `tcp_cwnd_restart`): `ssthresh` keeps at least three quarters of
    /// the current window (Linux `tcp_current_ssthresh`), so that slow start climbs back to it,
    /// and `cwnd` becomes `restart_cwnd`, which the connection computes.
    fn on_idle_restart(&mut self, now: Instant, restart_cwnd: u32);

    /// The sender's MSS changed (path MTU discovery). Windows keep their size in segments, as
    /// Linux (which counts `snd_cwnd` in packets) does.
    fn set_mss(&mut self, mss: u32);
}

/// The congestion-control algorithms synack offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// NewReno: RFC 5681 window management with RFC 6582's recovery.
    NewReno,
    /// CUBIC (RFC 9438) with HyStart++ (RFC 9406): Linux's default.
    #[default]
    Cubic,
}

impl Algorithm {
    /// The name, as Linux's `tcp_congestion_control` spells it (`"reno"` is NewReno's name there;
    /// synack says `"newreno"` and accepts both).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Algorithm`] from an unknown name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown congestion control algorithm (expected \"newreno\", \"reno\" or \"cubic\")",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses `"newreno"`, `"reno"` or `"cubic"`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("newreno") || s.eq_ignore_ascii_case("reno") {
            Ok(Algorithm::NewReno)
        } else if s.eq_ignore_ascii_case("cubic") {
            Ok(Algorithm::Cubic)
        } else {
            Err(UnknownAlgorithm)
        }
    }
}

/// A new controller for `alg`, with the initial window `initial_window_segments * mss` bytes
/// (RFC 6928: 10 segments; at least one segment). `mss` is the sender's MSS (at least 1). `now`
/// is the connection's start; the current algorithms do not need it. `ack_limit` keeps the
/// RFCs' per-ACK growth limit in slow start (RFC 3465 §2.2 for NewReno, RFC 9406 §4.3 for
/// CUBIC's HyStart++); without it an ACK grows the window by all it acknowledges, as Linux's
/// (see [`Config::slow_start_ack_limit`](crate::Config::slow_start_ack_limit)).
pub fn new_controller(
    alg: Algorithm,
    mss: u32,
    initial_window_segments: u32,
    ack_limit: bool,
    now: Instant,
) -> Box<dyn CongestionControl + Send> {
    match alg {
        Algorithm::NewReno => {
            Box::new(NewReno::new(mss, initial_window_segments).with_ack_limit(ack_limit))
        }
        Algorithm::Cubic => {
            Box::new(Cubic::new(mss, initial_window_segments, now).with_ack_limit(ack_limit))
        }
    }
}

/// The initial window in bytes: `segments * mss`, at least one segment.
pub(crate) fn initial_window(mss: u32, segments: u32) -> u32 {
    segments.max(1).saturating_mul(mss.max(1))
}

/// `ssthresh` on a restart after idle: at least three quarters of the window (Linux
/// `tcp_current_ssthresh`), so that slow start climbs back to it.
fn restart_ssthresh(ssthresh: u32, cwnd: u32) -> u32 {
    ssthresh.max(cwnd / 2 + cwnd / 4)
}

/// `value * new / old`, saturating: rescales a byte count kept in segments when the MSS changes.
fn rescale(value: u32, old_mss: u32, new_mss: u32) -> u32 {
    if value == u32::MAX {
        return u32::MAX;
    }
    let scaled = u64::from(value) * u64::from(new_mss) / u64::from(old_mss.max(1));
    u32::try_from(scaled).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn algorithm_names() {
        assert_eq!("newreno".parse(), Ok(Algorithm::NewReno));
        assert_eq!("Reno".parse(), Ok(Algorithm::NewReno));
        assert_eq!("CUBIC".parse(), Ok(Algorithm::Cubic));
        assert_eq!("bbr".parse::<Algorithm>(), Err(UnknownAlgorithm));
        assert_eq!(Algorithm::NewReno.to_string(), "newreno");
        assert_eq!(Algorithm::Cubic.to_string(), "cubic");
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
    }

    #[test]
    fn factory() {
        for alg in [Algorithm::NewReno, Algorithm::Cubic] {
            for ack_limit in [true, false] {
                let mut cc = new_controller(alg, 1000, 10, ack_limit, Instant::ZERO);
                assert_eq!(cc.name(), alg.as_str());
                assert_eq!(cc.cwnd(), 10_000);
                assert_eq!(cc.ssthresh(), u32::MAX);
                assert!(cc.in_slow_start());
                // A stretch ACK of ten segments: L = 2 (RFC 3465) or 8 (RFC 9406) SMSS, or all.
                cc.on_ack(Instant::ZERO, 10_000, None, 10_000, false);
                let expect = match (alg, ack_limit) {
                    (_, false) => 20_000,
                    (Algorithm::NewReno, true) => 12_000,
                    (Algorithm::Cubic, true) => 18_000,
                };
                assert_eq!(cc.cwnd(), expect, "{alg} ack_limit {ack_limit}");
            }
        }
        let cc = new_controller(Algorithm::NewReno, 0, 0, true, Instant::ZERO);
        assert_eq!(cc.cwnd(), 1);
    }

    #[test]
    fn rescale_keeps_segments() {
        assert_eq!(rescale(14_600, 1460, 1000), 10_000);
        assert_eq!(rescale(u32::MAX, 1460, 1000), u32::MAX);
        assert_eq!(rescale(u32::MAX - 1, 1, 65535), u32::MAX);
    }
}
