//! CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) in the initial slow start.
//!
//! Sections implemented (RFC 9438):
//! - §4.1.1 constants: `C` = 0.4, `beta_cubic` = 0.7, `alpha_cubic` = 3 (1 - beta) / (1 + beta)
//!   = 9/17;
//! - §4.2 the window increase function `W_cubic(t) = C (t - K)^3 + W_max` with
//!   `K = cbrt((W_max - cwnd_epoch) / C)` (negative when `cwnd_epoch > W_max`), `t` the time since
//!   the start of the current congestion avoidance stage (`t_epoch`), and the per-ACK `target`:
//!   `W_cubic(t + RTT)` bounded to `[cwnd, 1.5 cwnd]`;
//! - §4.3 the Reno-friendly region: `W_est += alpha_cubic * segments_acked / cwnd` per ACK
//!   (`alpha_cubic` becomes 1 once `W_est >= cwnd_prior`); when `W_cubic(t) < W_est`, `cwnd = W_est`;
//! - §4.4 and §4.5 the concave and convex regions: `cwnd += (target - cwnd) / cwnd` per segment
//!   acknowledged (byte counting: the RFC's "per ACK" counted per SMSS of acknowledged data, as
//!   Linux does, so delayed or stretch ACKs do not slow growth);
//! - §4.6 multiplicative decrease: `ssthresh = max(cwnd * beta_cubic, 2 SMSS)`,
//!   `cwnd_prior = cwnd`, `cwnd = ssthresh` (the RFC's primary formula uses FlightSize and allows
//!   cwnd where cwnd does not grow unused; Linux and synack use cwnd);
//! - §4.7 fast convergence: `W_max = cwnd (1 + beta_cubic) / 2` when `cwnd < W_max` at a congestion
//!   event, else `W_max = cwnd` (on by default);
//! - §4.8 timeout: Reno's loss window, `ssthresh` as §4.6; the first congestion avoidance stage
//!   after it uses `K = 0` and `W_max = cwnd_epoch`, `W_est = cwnd_epoch`;
//! - §4.9 spurious congestion events: [`CongestionControl::on_spurious_congestion`] restores
//!   `cwnd` (at least), `ssthresh`, `cwnd_prior`, `W_max`, `K`, `t_epoch` and `W_est` (HyStart++,
//!   once left, stays off);
//! - §4.10 slow start: HyStart++ (RFC 9406) in the initial slow start; when it ends slow start
//!   without a loss, `W_max` is undefined: `cwnd_prior = cwnd`, and the first congestion
//!   avoidance stage uses `K = 0`, `W_max = cwnd_epoch`;
//! - §5.8 application-limited flows: `cwnd` does not grow while the sender is application-limited,
//!   and the time spent so is left out of `t` (the epoch start moves forward by it, as Linux does
//!   after idle periods).
//!
//! Units and arithmetic. The RFC works in segments and seconds; here windows are bytes kept in
//! fixed point (16 fractional bits, so growth of a fraction of a byte per ACK is not lost), times
//! are microseconds, and `C (t - K)^3` in bytes is `2 (t - K)^3 SMSS / (5 * 10^18)` with `t - K` in
//! microseconds, computed in `u128` without floating point: the same results on every target,
//! with or without an FPU. `K` is an integer cube root (bitwise, exact to the microsecond).
//! `RTT` in the target is the smoothed RTT (RFC 6298's 1/8 gain) of the samples given to
//! `on_ack`; before the first sample it is zero.
//!
//! HyStart++ needs rounds delimited by sequence numbers, which the [`CongestionControl`] interface
//! does not carry: CUBIC keeps a count of delivered bytes as a virtual sequence space (the
//! acknowledgment "number" is the bytes delivered so far; SND.NXT is that plus the bytes still in
//! flight after the ACK, `flight - acked`). With cumulative ACKs this is exactly sequence-space
//! round tracking.

use super::hystart::{HyStart, HyStartEvent, L_NON_PACED};
use super::{initial_window, restart_ssthresh, CongestionControl};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Fractional bits of the internal fixed-point byte windows.
const FRAC_BITS: u32 = 16;
/// The largest window in fixed point: `u32::MAX` bytes.
const MAX_WND: u64 = (u32::MAX as u64) << FRAC_BITS;
/// `|t - K|` is bounded by 2^40 µs (about 12.7 days) before cubing; the window saturates long
/// before.
const MAX_ELAPSED_US: u128 = 1 << 40;
/// 10^18: (µs per second)^3.
const MICROS_CUBED_PER_SEC_CUBED: u128 = 1_000_000_000_000_000_000;

/// RFC 9438 §4.1.1 / §4.6: `beta_cubic` = 0.7 = `BETA_NUM / BETA_DEN`.
pub const BETA_NUM: u64 = 7;
/// Denominator of `beta_cubic`.
pub const BETA_DEN: u64 = 10;
/// RFC 9438 §4.1.1 / §5: `C` = 0.4 = `C_NUM / C_DEN` (segments per second cubed).
pub const C_NUM: u64 = 2;
/// Denominator of `C`.
pub const C_DEN: u64 = 5;
/// RFC 9438 §4.3: `alpha_cubic` = 3 (1 - 0.7) / (1 + 0.7) = 9/17 = `ALPHA_NUM / ALPHA_DEN`.
pub const ALPHA_NUM: u64 = 9;
/// Denominator of `alpha_cubic`.
pub const ALPHA_DEN: u64 = 17;

fn to_fp(bytes: u32) -> u64 {
    u64::from(bytes) << FRAC_BITS
}

fn from_fp(v: u64) -> u32 {
    u32::try_from(v >> FRAC_BITS).unwrap_or(u32::MAX)
}

fn clamp_fp(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX).min(MAX_WND)
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

/// The integer cube root: the largest `r` with `r^3 <= n`.
pub fn icbrt(n: u128) -> u64 {
    let mut r: u64 = 0;
    // cbrt(2^128) < 2^43.
    for bit in (0..43).rev() {
        let c = r | (1u64 << bit);
        let c = u128::from(c);
        let fits = c
            .checked_mul(c)
            .and_then(|sq| sq.checked_mul(c))
            .is_some_and(|cube| cube <= n);
        if fits {
            r |= 1u64 << bit;
        }
    }
    r
}

/// The start of a congestion avoidance stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Epoch {
    /// `t_epoch` (moved forward by application-limited periods).
    start: Instant,
    /// `cwnd_epoch`, fixed point.
    cwnd_epoch: u64,
    /// `K`, in microseconds (negative when `cwnd_epoch > W_max`).
    k_us: i64,
}

/// The state before a reduction, for undoing it (RFC 9438 §4.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    cwnd: u64,
    ssthresh: u32,
    cwnd_prior: u64,
    w_max: Option<u64>,
    epoch: Option<Epoch>,
    w_est: u64,
}

/// CUBIC (RFC 9438) window state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cubic {
    mss: u32,
    /// `cwnd`, fixed point.
    cwnd: u64,
    ssthresh: u32,
    /// `cwnd_prior`, fixed point.
    cwnd_prior: u64,
    /// `W_max`, fixed point; `None` when undefined (§4.8, §4.10).
    w_max: Option<u64>,
    /// The current congestion avoidance stage; `None` outside one (it starts at the first ACK in
    /// congestion avoidance).
    epoch: Option<Epoch>,
    /// `W_est`, fixed point.
    w_est: u64,
    srtt: Option<Duration>,
    in_recovery: bool,
    /// An RTO fired and no new data was acknowledged since.
    rto_series: bool,
    app_limited_since: Option<Instant>,
    hystart: HyStart,
    /// Bytes delivered so far, as a virtual sequence number for HyStart++ rounds.
    delivered: SeqNum,
    fast_convergence: bool,
    prior: Option<Snapshot>,
}

impl Cubic {
    /// CUBIC with the given MSS (at least 1) and initial window in segments (at least 1), with
    /// HyStart++ and fast convergence on.
    pub fn new(mss: u32, initial_window_segments: u32, now: Instant) -> Self {
        let _ = now;
        let mss = mss.max(1);
        Self {
            mss,
            cwnd: to_fp(initial_window(mss, initial_window_segments)),
            ssthresh: u32::MAX,
            cwnd_prior: 0,
            w_max: None,
            epoch: None,
            w_est: 0,
            srtt: None,
            in_recovery: false,
            rto_series: false,
            app_limited_since: None,
            hystart: HyStart::new(),
            delivered: SeqNum(0),
            fast_convergence: true,
            prior: None,
        }
    }

    /// Turns HyStart++ on (the default) or off (plain RFC 5681 slow start with the same per-ACK
    /// limit, RFC 9438 §4.10).
    pub fn with_hystart(mut self, enabled: bool) -> Self {
        if !enabled {
            self.hystart.exit();
        }
        self
    }

    /// Keeps RFC 9406 §4.3's per-ACK growth limit in slow start, `L` = 8 SMSS for a sender that
    /// does not pace (`true`, the default of `Cubic::new`), or lifts it (`false`: `L` is
    /// infinity, and an ACK grows the window by all it acknowledges, as Linux's
    /// `tcp_slow_start`).
    pub fn with_ack_limit(mut self, limited: bool) -> Self {
        self.hystart
            .set_limit(if limited { L_NON_PACED } else { u32::MAX });
        self
    }

    /// Turns fast convergence (RFC 9438 §4.7) on (the default) or off.
    pub fn with_fast_convergence(mut self, enabled: bool) -> Self {
        self.fast_convergence = enabled;
        self
    }

    /// The HyStart++ state.
    pub fn hystart(&self) -> &HyStart {
        &self.hystart
    }

    /// Whether the controller is in fast recovery.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// `W_max` in bytes, if defined.
    pub fn w_max(&self) -> Option<u32> {
        self.w_max.map(from_fp)
    }

    /// `cwnd_prior` in bytes (0 before the first reduction).
    pub fn cwnd_prior(&self) -> u32 {
        from_fp(self.cwnd_prior)
    }

    /// `W_est` in bytes, during congestion avoidance.
    pub fn w_est(&self) -> Option<u32> {
        self.epoch.map(|_| from_fp(self.w_est))
    }

    /// `K` in microseconds, during congestion avoidance.
    pub fn k_micros(&self) -> Option<i64> {
        self.epoch.map(|e| e.k_us)
    }

    /// `t_epoch`, the start of the current congestion avoidance stage (shifted by
    /// application-limited time), if one is running.
    pub fn epoch_start(&self) -> Option<Instant> {
        self.epoch.map(|e| e.start)
    }

    /// `W_cubic(t)` in bytes for `t` since `t_epoch`, during congestion avoidance.
    pub fn w_cubic(&self, t: Duration) -> Option<u32> {
        self.epoch.map(|e| from_fp(self.w_cubic_fp(&e, t)))
    }

    /// The smoothed RTT CUBIC uses for its target, if any sample was given.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    fn ssthresh_fp(&self) -> u64 {
        to_fp(self.ssthresh)
    }

    fn mss_fp(&self) -> u64 {
        to_fp(self.mss)
    }

    /// §4.6: `max(cwnd * beta_cubic, 2 SMSS)`, for `cwnd` in bytes.
    ///
    /// RFC 9438 §4.6 writes `flight_size * beta_cubic` and lets an implementation use `cwnd`
    /// instead when `cwnd` cannot grow while the sender is not using it; Linux
    /// (`bictcp_recalc_ssthresh`) and Windows use `cwnd`, and so does synack, whose `cwnd`
    /// grows only when it limited the sender (`app_limited` in [`CongestionControl::on_ack`]).
    /// FlightSize, SND.NXT - SND.UNA, would also count the SACKed and lost data below SND.NXT
    /// and so reduce less the more was lost.
    fn reduced(&self, cwnd: u32) -> u32 {
        let beta = u64::from(cwnd) * BETA_NUM / BETA_DEN;
        let floor = u64::from(self.mss).saturating_mul(2);
        u32::try_from(beta.max(floor)).unwrap_or(u32::MAX)
    }

    /// RFC 9438 Figure 1: `W_cubic(t) = C (t - K)^3 + W_max`, fixed point.
    fn w_cubic_fp(&self, epoch: &Epoch, t: Duration) -> u64 {
        let w_max = self.w_max.unwrap_or(epoch.cwnd_epoch);
        let t_us = i128::try_from(micros(t)).unwrap_or(i128::MAX);
        let d = t_us.saturating_sub(i128::from(epoch.k_us));
        let mag = d.unsigned_abs().min(MAX_ELAPSED_US);
        let cube = mag.saturating_mul(mag).saturating_mul(mag);
        let per_segment = u128::from(C_NUM) * u128::from(self.mss_fp());
        let delta =
            cube.saturating_mul(per_segment) / (u128::from(C_DEN) * MICROS_CUBED_PER_SEC_CUBED);
        if d < 0 {
            clamp_fp(u128::from(w_max).saturating_sub(delta))
        } else {
            clamp_fp(u128::from(w_max).saturating_add(delta))
        }
    }

    /// RFC 9438 Figure 2: `K = cbrt((W_max - cwnd_epoch) / C)`, in microseconds.
    fn k_us(&self, w_max: u64, cwnd_epoch: u64) -> i64 {
        let diff = i128::from(w_max) - i128::from(cwnd_epoch);
        // (bytes / SMSS) / C seconds^3 = diff_fp * C_DEN / (C_NUM * mss_fp) * 10^18 µs^3.
        let num = diff
            .unsigned_abs()
            .saturating_mul(u128::from(C_DEN))
            .saturating_mul(MICROS_CUBED_PER_SEC_CUBED);
        let den = u128::from(C_NUM) * u128::from(self.mss_fp().max(1));
        let k = i64::try_from(icbrt(num / den)).unwrap_or(i64::MAX);
        if diff < 0 {
            -k
        } else {
            k
        }
    }

    /// Starts a congestion avoidance stage at `now` (§4.2; §4.8 and §4.10 when `W_max` is
    /// undefined).
    fn start_epoch(&mut self, now: Instant) -> Epoch {
        let cwnd_epoch = self.cwnd;
        let w_max = *self.w_max.get_or_insert(cwnd_epoch);
        let epoch = Epoch {
            start: now,
            cwnd_epoch,
            k_us: self.k_us(w_max, cwnd_epoch),
        };
        self.w_est = cwnd_epoch;
        self.epoch = Some(epoch);
        epoch
    }

    /// One ACK of `acked` bytes in congestion avoidance (§4.2 to §4.5).
    fn congestion_avoidance(&mut self, now: Instant, acked: u32) {
        let epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now),
        };
        let t = now.saturating_duration_since(epoch.start);
        let cwnd = self.cwnd.max(1);
        let acked = u128::from(acked);

        // §4.3: W_est += alpha_cubic * segments_acked / cwnd (in segments); in bytes that is
        // alpha * acked * SMSS / cwnd.
        let (a_num, a_den) = if self.w_est >= self.cwnd_prior {
            (1, 1)
        } else {
            (ALPHA_NUM, ALPHA_DEN)
        };
        let est_inc = (u128::from(a_num) * acked)
            .saturating_mul(u128::from(self.mss_fp()))
            .saturating_mul(1 << FRAC_BITS)
            / (u128::from(a_den) * u128::from(cwnd));
        self.w_est = clamp_fp(u128::from(self.w_est).saturating_add(est_inc));

        if self.w_cubic_fp(&epoch, t) < self.w_est {
            // Reno-friendly region.
            self.cwnd = self.cwnd.max(self.w_est);
            return;
        }
        // §4.2 target, then §4.4 (concave) / §4.5 (convex): cwnd += (target - cwnd) / cwnd per
        // segment acknowledged, in bytes (target - cwnd) * acked / cwnd.
        let rtt = self.srtt.unwrap_or(Duration::ZERO);
        let target = self
            .w_cubic_fp(&epoch, t.saturating_add(rtt))
            .min(cwnd.saturating_add(cwnd / 2))
            .max(cwnd);
        let inc = u128::from(target - cwnd)
            .saturating_mul(acked)
            .saturating_mul(1 << FRAC_BITS)
            / u128::from(cwnd);
        self.cwnd = clamp_fp(u128::from(cwnd).saturating_add(inc)).min(target);
    }

    /// One ACK in slow start: HyStart++ rounds and growth (RFC 9406 §4.2).
    fn slow_start(&mut self, acked: u32, rtt: Option<Duration>, flight: u32, app_limited: bool) {
        let inc = self.hystart.cwnd_increase(acked, self.mss);
        let mut exit = false;
        if self.hystart.is_active() {
            self.delivered += acked;
            let snd_nxt = self.delivered + flight.saturating_sub(acked);
            exit = self.hystart.on_ack(self.delivered, snd_nxt, rtt) == HyStartEvent::ExitSlowStart;
        }
        if !app_limited {
            self.cwnd = self
                .cwnd
                .saturating_add(to_fp(inc))
                .min(self.ssthresh_fp())
                .min(MAX_WND);
        }
        if exit {
            // RFC 9406 §4.2: ssthresh = cwnd; RFC 9438 §4.10: W_max undefined, cwnd_prior = cwnd.
            self.ssthresh = from_fp(self.cwnd);
            self.cwnd = to_fp(self.ssthresh);
            self.cwnd_prior = self.cwnd;
            self.w_max = None;
            self.epoch = None;
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            cwnd_prior: self.cwnd_prior,
            w_max: self.w_max,
            epoch: self.epoch,
            w_est: self.w_est,
        }
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> u32 {
        from_fp(self.cwnd).max(self.mss)
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh_fp()
    }

    /// Slow start with HyStart++ (at most L SMSS per ACK, a quarter of that in CSS); congestion
    /// avoidance per RFC 9438 §4.2-§4.5. `flight` delimits HyStart++ rounds.
    fn on_ack(
        &mut self,
        now: Instant,
        acked: u32,
        rtt: Option<Duration>,
        flight: u32,
        app_limited: bool,
    ) {
        if let Some(sample) = rtt {
            self.srtt = Some(match self.srtt {
                None => sample,
                Some(s) => s.saturating_mul(7).saturating_add(sample) / 8,
            });
        }
        if acked == 0 {
            return;
        }
        self.rto_series = false;
        if self.in_recovery {
            return;
        }
        if app_limited {
            self.app_limited_since.get_or_insert(now);
        } else if let Some(since) = self.app_limited_since.take() {
            if let Some(epoch) = self.epoch.as_mut() {
                epoch.start += now.saturating_duration_since(since);
            }
        }
        if self.in_slow_start() {
            self.slow_start(acked, rtt, flight, app_limited);
        } else if !app_limited {
            self.congestion_avoidance(now, acked);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _flight: u32) {
        if self.in_recovery {
            return;
        }
        self.prior = Some(self.snapshot());
        self.hystart.exit();
        let cwnd = self.cwnd;
        // §4.7 fast convergence.
        self.w_max = Some(match self.w_max {
            Some(w_max) if self.fast_convergence && cwnd < w_max => clamp_fp(
                u128::from(cwnd) * u128::from(BETA_DEN + BETA_NUM) / u128::from(2 * BETA_DEN),
            ),
            _ => cwnd,
        });
        // §4.6 multiplicative decrease.
        self.cwnd_prior = cwnd;
        self.ssthresh = self.reduced(self.cwnd());
        self.cwnd = to_fp(self.ssthresh);
        self.epoch = None;
        self.app_limited_since = None;
        self.in_recovery = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if !self.in_recovery {
            return;
        }
        self.in_recovery = false;
        self.cwnd = self.ssthresh_fp().max(self.mss_fp());
        self.epoch = None;
    }

    fn on_rto(&mut self, _now: Instant, _flight: u32) {
        // A timeout during fast recovery keeps the recovery's ssthresh: the window was already
        // reduced once for this loss (Linux `tcp_enter_loss` recomputes ssthresh only when a new
        // loss episode begins).
        if !self.rto_series && !self.in_recovery {
            self.prior = Some(self.snapshot());
            self.cwnd_prior = self.cwnd;
            self.ssthresh = self.reduced(self.cwnd());
        }
        self.rto_series = true;
        self.in_recovery = false;
        self.hystart.exit();
        // §4.8: the next congestion avoidance stage starts with K = 0, W_max = cwnd_epoch.
        self.w_max = None;
        self.epoch = None;
        self.app_limited_since = None;
        self.cwnd = self.mss_fp();
    }

    fn on_idle_restart(&mut self, _now: Instant, restart_cwnd: u32) {
        if !self.in_recovery {
            self.ssthresh = restart_ssthresh(self.ssthresh, self.cwnd());
        }
        self.cwnd = to_fp(restart_cwnd.max(self.mss));
    }

    fn on_spurious_congestion(&mut self, _now: Instant) -> bool {
        let Some(s) = self.prior.take() else {
            return false;
        };
        self.cwnd = self.cwnd.max(s.cwnd);
        self.ssthresh = self.ssthresh.max(s.ssthresh);
        self.cwnd_prior = s.cwnd_prior;
        self.w_max = s.w_max;
        self.epoch = s.epoch;
        self.w_est = s.w_est;
        self.in_recovery = false;
        self.rto_series = false;
        self.app_limited_since = None;
        true
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        let old = self.mss;
        let scale = |v: u64| clamp_fp(u128::from(v) * u128::from(mss) / u128::from(old.max(1)));
        self.cwnd = scale(self.cwnd).max(to_fp(mss));
        self.ssthresh = super::rescale(self.ssthresh, old, mss);
        self.cwnd_prior = scale(self.cwnd_prior);
        self.w_max = self.w_max.map(scale);
        self.w_est = scale(self.w_est);
        if let Some(e) = self.epoch.as_mut() {
            e.cwnd_epoch = scale(e.cwnd_epoch);
        }
        if let Some(p) = self.prior.as_mut() {
            p.cwnd = scale(p.cwnd);
            p.ssthresh = super::rescale(p.ssthresh, old, mss);
            p.cwnd_prior = scale(p.cwnd_prior);
            p.w_max = p.w_max.map(scale);
            p.w_est = scale(p.w_est);
            if let Some(e) = p.epoch.as_mut() {
                e.cwnd_epoch = scale(e.cwnd_epoch);
            }
        }
        self.mss = mss;
    }
}

#[cfg(test)]
mod tests {
    use super::super::hystart::{Phase, CSS_ROUNDS};
    use super::*;

    const MSS: u32 = 1000;
    const T0: Instant = Instant::ZERO;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs_f(d: f64) -> Duration {
        Duration::from_micros((d * 1e6) as u64)
    }

    /// CUBIC right after recovery from a loss at `w_max_segs` segments (cwnd = 0.7 W_max).
    fn reduced_once(w_max_segs: u32) -> Cubic {
        let mut cc = Cubic::new(MSS, w_max_segs, T0).with_hystart(false);
        cc.on_congestion_event(T0, w_max_segs * MSS);
        cc.on_recovery_exit(T0);
        cc
    }

    /// CUBIC in congestion avoidance after one loss at `w_max_segs` segments, epoch started at
    /// `start`.
    fn after_loss(w_max_segs: u32, start: Instant) -> Cubic {
        let mut cc = Cubic::new(MSS, w_max_segs, T0).with_hystart(false);
        // The loss at W_max: ssthresh = cwnd = 0.7 W_max, then congestion avoidance.
        cc.on_congestion_event(T0, w_max_segs * MSS);
        cc.on_recovery_exit(T0);
        assert_eq!(cc.cwnd(), w_max_segs * MSS * 7 / 10);
        assert_eq!(cc.w_max(), Some(w_max_segs * MSS));
        cc.on_ack(start, MSS, None, cc.cwnd(), false);
        cc
    }

    /// One round trip of a cwnd-limited sender whose peer ACKs every second segment, all ACKs at
    /// `now`, RTT sample `rtt`.
    fn ack_round(cc: &mut Cubic, now: Instant, rtt: Duration) {
        let mut left = cc.cwnd();
        while left > 0 {
            let acked = left.min(2 * MSS);
            let flight = cc.cwnd();
            cc.on_ack(now, acked, Some(rtt), flight, false);
            left -= acked;
        }
    }

    #[test]
    fn integer_cube_root() {
        assert_eq!(icbrt(0), 0);
        assert_eq!(icbrt(1), 1);
        assert_eq!(icbrt(7), 1);
        assert_eq!(icbrt(8), 2);
        assert_eq!(icbrt(26), 2);
        assert_eq!(icbrt(27), 3);
        let r: u128 = 4_217_163;
        assert_eq!(icbrt(r * r * r), 4_217_163);
        assert_eq!(icbrt(r * r * r - 1), 4_217_162);
        assert_eq!(icbrt(u128::MAX), 6_981_463_658_331);
    }

    #[test]
    fn k_for_w_max_100_segments() {
        // K = cbrt(W_max (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75) = 4.2171633 s.
        let cc = after_loss(100, T0);
        let k = cc.k_micros().unwrap_or_default();
        // cbrt(75) = 4.217163326508746 (the tests stay free of `std` float functions).
        assert_eq!(k, 4_217_163);
    }

    #[test]
    fn w_cubic_matches_the_formula() {
        let cc = after_loss(100, T0);
        let k = 4.217_163_326_508_746_f64; // cbrt(75)
        for t in [0.0, 1.0, 2.5, k, 6.0, 10.0, 20.0] {
            let d = t - k;
            let expect = ((0.4 * d * d * d + 100.0) * f64::from(MSS)) as i64;
            let got = i64::from(cc.w_cubic(secs_f(t)).unwrap_or_default());
            assert!(
                got.abs_diff(expect) <= 2,
                "W_cubic({t}) = {got}, expected {expect}"
            );
        }
        // Hand-computed: W_cubic(0) = 70 segments, W_cubic(K) = 100, W_cubic(1 s) = 86.68,
        // W_cubic(10 s) = 177.35.
        assert_eq!(cc.w_cubic(Duration::ZERO), Some(70_000));
        assert_eq!(cc.w_cubic(Duration::from_micros(4_217_163)), Some(100_000));
        assert_eq!(
            cc.w_cubic(Duration::from_secs(1)).map(|w| w / 10),
            Some(8668)
        );
        assert_eq!(
            cc.w_cubic(Duration::from_secs(10)).map(|w| w / 10),
            Some(17735)
        );
    }

    #[test]
    fn concave_then_convex_growth() {
        let rtt = ms(100);
        let mut cc = after_loss(100, T0);
        let mut now = T0;
        let mut prev = cc.cwnd();
        let mut samples = alloc::vec::Vec::new();
        for _ in 0..100 {
            now += rtt;
            ack_round(&mut cc, now, rtt);
            let cwnd = cc.cwnd();
            assert!(cwnd >= prev, "never shrinks in CA");
            assert!(
                u64::from(cwnd) * 2 <= u64::from(prev) * 3 + 2000,
                "at most 1.5x per RTT"
            );
            samples.push(cwnd);
            prev = cwnd;
        }
        // Growth per RTT is largest early (concave), smallest near K = 4.2 s (plateau at W_max),
        // and grows again after it (convex).
        let growth = |i: usize| samples[i + 1] - samples[i];
        assert!(growth(2) > growth(40));
        assert!(growth(80) > growth(40));
        // Near K the window is close to W_max = 100 segments.
        let at_k = samples[41];
        assert!((96_000..=101_000).contains(&at_k), "cwnd at K: {at_k}");
        // At t = 10 s the window follows W_cubic (177.35 segments at 10 s, 181.3 at 10.1 s).
        let at_10 = samples[99];
        assert!(
            (170_000..=182_000).contains(&at_10),
            "cwnd at 10 s: {at_10}"
        );
    }

    #[test]
    fn reno_friendly_region_dominates_at_small_rtt() {
        // RTT 1 ms: 1000 rounds in one second. Reno would add alpha_cubic = 9/17 segment per RTT
        // up to cwnd_prior = 100 segments (57 rounds), then 1 per RTT: about 1043 segments after
        // 1 s, while W_cubic(1 s) is only 86.7 segments.
        let rtt = ms(1);
        let mut cc = after_loss(100, T0);
        let mut now = T0;
        for _ in 0..1000 {
            now += rtt;
            ack_round(&mut cc, now, rtt);
        }
        let cwnd = cc.cwnd();
        let w_cubic = cc.w_cubic(Duration::from_secs(1)).unwrap_or_default();
        assert!(w_cubic < 87_000);
        assert!((1_020_000..=1_060_000).contains(&cwnd), "cwnd {cwnd}");
        assert_eq!(cc.w_est(), Some(cwnd));
    }

    #[test]
    fn alpha_becomes_one_at_cwnd_prior() {
        let mut cc = after_loss(100, T0);
        // Tiny RTT keeps CUBIC in the Reno-friendly region; one round adds 9/17 segment.
        let before = cc.w_est().unwrap_or_default();
        ack_round(&mut cc, T0 + ms(1), ms(1));
        let inc = cc.w_est().unwrap_or_default() - before;
        assert!((525..=535).contains(&inc), "alpha 9/17: {inc}");
        while cc.w_est().unwrap_or_default() < 100_000 {
            ack_round(&mut cc, T0 + ms(2), ms(1));
        }
        let before = cc.w_est().unwrap_or_default();
        ack_round(&mut cc, T0 + ms(3), ms(1));
        let inc = cc.w_est().unwrap_or_default() - before;
        assert!((995..=1005).contains(&inc), "alpha 1: {inc}");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut cc = reduced_once(100);
        // A second loss below W_max: W_max = 70 * (1 + 0.7) / 2 = 59.5 segments.
        cc.on_congestion_event(T0, 70_000);
        assert_eq!(cc.w_max(), Some(59_500));
        assert_eq!(cc.ssthresh(), 49_000);
        assert_eq!(cc.cwnd(), 49_000);
        assert_eq!(cc.cwnd_prior(), 70_000);
        // Without fast convergence W_max is the window at the loss.
        let mut cc = reduced_once(100).with_fast_convergence(false);
        cc.on_congestion_event(T0, 70_000);
        assert_eq!(cc.w_max(), Some(70_000));
        // With the epoch at the new reduction: K = cbrt((59.5 - 49) / 0.4) = 2.9720 s.
        let mut cc = reduced_once(100);
        cc.on_congestion_event(T0, 70_000);
        cc.on_recovery_exit(T0);
        cc.on_ack(T0, MSS, None, 49_000, false);
        let k = cc.k_micros().unwrap_or_default();
        assert!(k.abs_diff(2_971_961) <= 1, "K = {k}"); // cbrt(26.25) = 2.9719610 s
    }

    #[test]
    fn once_per_window_and_recovery_freezes_cwnd() {
        let mut cc = after_loss(100, T0);
        let reduced = cc.cwnd() * 7 / 10;
        cc.on_congestion_event(T0, 70_000);
        assert_eq!(cc.cwnd(), reduced);
        let state = cc.clone();
        cc.on_congestion_event(T0, 49_000);
        assert_eq!(cc, state);
        cc.on_ack(T0 + ms(10), 10_000, Some(ms(10)), 49_000, false);
        assert_eq!(cc.cwnd(), reduced);
        cc.on_recovery_exit(T0 + ms(20));
        assert_eq!(cc.cwnd(), reduced);
        assert!(!cc.in_recovery());
    }

    #[test]
    fn negative_k_when_cwnd_epoch_above_w_max() {
        // ssthresh = 0.7 * 200 = 140 segments; W_max as if a later, smaller maximum (100
        // segments) had replaced it, so that the epoch starts above W_max (RFC 9438 §4.2).
        let mut cc = Cubic::new(MSS, 200, T0).with_hystart(false);
        cc.on_congestion_event(T0, 200_000);
        cc.w_max = Some(to_fp(100 * MSS));
        cc.on_recovery_exit(T0);
        cc.on_ack(T0, MSS, None, 140_000, false);
        let k = cc.k_micros().unwrap_or_default();
        assert!(k < 0);
        assert!(k.abs_diff(-4_641_589) <= 1, "K = {k}"); // -cbrt(40 / 0.4) = -4.6415888 s
        let w0 = cc.w_cubic(Duration::ZERO).unwrap_or_default();
        assert!(
            (139_999..=140_001).contains(&w0),
            "W_cubic(0) = cwnd_epoch: {w0}"
        );
    }

    #[test]
    fn reduction_is_from_cwnd_not_from_the_bytes_in_flight() {
        // SACKed and lost data below SND.NXT (flight above cwnd) and an application that did
        // not fill the window (flight below it) give the same ssthresh: 0.7 cwnd, as Linux.
        for flight in [250_000, 100_000, 30_000] {
            let mut cc = Cubic::new(MSS, 100, T0).with_hystart(false);
            cc.on_congestion_event(T0, flight);
            assert_eq!(
                (cc.ssthresh(), cc.cwnd()),
                (70_000, 70_000),
                "flight {flight}"
            );
            let mut cc = Cubic::new(MSS, 100, T0).with_hystart(false);
            cc.on_rto(T0, flight);
            assert_eq!((cc.ssthresh(), cc.cwnd()), (70_000, MSS), "flight {flight}");
        }
    }

    #[test]
    fn rto_during_recovery_keeps_the_recovery_ssthresh() {
        let mut cc = Cubic::new(MSS, 100, T0).with_hystart(false);
        cc.on_congestion_event(T0, 100_000);
        cc.on_rto(T0 + ms(300), 100_000);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (70_000, MSS));
    }

    #[test]
    fn rto_then_k_zero() {
        let mut cc = after_loss(100, T0);
        // ssthresh from cwnd (as Linux), not from the bytes in flight.
        let reduced = cc.cwnd() * 7 / 10;
        cc.on_rto(T0, 60_000);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, reduced));
        assert_eq!(cc.w_max(), None);
        // Repeated timeout: held.
        cc.on_rto(T0, 1_000);
        assert_eq!(cc.ssthresh(), reduced);
        // Slow start (plain: HyStart++ is only for the initial one) up to ssthresh.
        let mut now = T0;
        while cc.in_slow_start() {
            now += ms(50);
            ack_round(&mut cc, now, ms(50));
        }
        // The round's ACKs beyond ssthresh started congestion avoidance at cwnd = ssthresh.
        assert!(!cc.hystart().is_active());
        assert_eq!(cc.k_micros(), Some(0));
        assert_eq!(cc.w_max(), Some(reduced));
    }

    #[test]
    fn spurious_undo_restores() {
        let mut cc = after_loss(100, T0);
        for i in 1..=5 {
            ack_round(&mut cc, T0 + ms(100 * i), ms(100));
        }
        let before = cc.clone();
        cc.on_congestion_event(T0 + ms(600), cc.cwnd());
        assert!(cc.cwnd() < before.cwnd());
        assert!(cc.on_spurious_congestion(T0 + ms(650)));
        assert_eq!(cc.cwnd(), before.cwnd());
        assert_eq!(cc.ssthresh(), before.ssthresh());
        assert_eq!(cc.w_max(), before.w_max());
        assert_eq!(cc.k_micros(), before.k_micros());
        assert_eq!(cc.epoch_start(), before.epoch_start());
        assert!(!cc.on_spurious_congestion(T0));
    }

    #[test]
    fn app_limited_time_is_not_in_t() {
        let mut cc = after_loss(100, T0);
        let cwnd = cc.cwnd();
        assert_eq!(cc.epoch_start(), Some(T0));
        cc.on_ack(T0 + ms(100), MSS, None, 5_000, true);
        cc.on_ack(T0 + ms(900), MSS, None, 5_000, true);
        assert_eq!(cc.cwnd(), cwnd, "no growth while application-limited");
        cc.on_ack(T0 + ms(1000), MSS, None, cwnd, false);
        assert_eq!(cc.epoch_start(), Some(T0 + ms(900)));
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = Cubic::new(MSS, 10, T0);
        let mut now = T0;
        for expect in [20, 40, 80] {
            now += ms(50);
            ack_round(&mut cc, now, ms(50));
            assert_eq!(cc.cwnd(), expect * MSS);
        }
        // L = 8 SMSS per ACK.
        cc.on_ack(now, 20 * MSS, Some(ms(50)), cc.cwnd(), false);
        assert_eq!(cc.cwnd(), 88 * MSS);
        // Without the limit (L infinity, as Linux's slow start) the stretch ACK counts whole.
        let mut cc = Cubic::new(MSS, 10, T0).with_ack_limit(false);
        assert_eq!(cc.hystart().limit(), u32::MAX);
        cc.on_ack(T0 + ms(50), 10 * MSS, Some(ms(50)), 10 * MSS, false);
        assert_eq!(cc.cwnd(), 20 * MSS);
        let cc = cc.with_ack_limit(true);
        assert_eq!(cc.hystart().limit(), 8);
    }

    /// ACKs of 2 SMSS at `now` with RTT sample `rtt` (the sender keeping `cwnd` in flight) until
    /// `stop` holds, at most `max` of them; returns whether `stop` held.
    fn ack_until(
        cc: &mut Cubic,
        now: Instant,
        rtt: Duration,
        max: u32,
        stop: impl Fn(&Cubic) -> bool,
    ) -> bool {
        for _ in 0..max {
            if stop(cc) {
                return true;
            }
            let flight = cc.cwnd();
            cc.on_ack(now, 2 * MSS, Some(rtt), flight, false);
        }
        stop(cc)
    }

    #[test]
    fn hystart_exits_to_css_then_congestion_avoidance() {
        let mut cc = Cubic::new(MSS, 10, T0);
        let mut now = T0;
        for _ in 0..4 {
            now += ms(50);
            ack_round(&mut cc, now, ms(50));
        }
        assert_eq!(cc.hystart().phase(), Phase::SlowStart);
        let before = cc.cwnd();
        // The RTT rises by more than max(4 ms, 50 ms / 8): CSS within about a round.
        now += ms(60);
        let css = |c: &Cubic| c.hystart().phase() == Phase::ConservativeSlowStart;
        assert!(ack_until(&mut cc, now, ms(60), before / MSS, css));
        assert!(cc.in_slow_start());
        // In CSS an ACK of 2 SMSS adds a quarter of that.
        let c = cc.cwnd();
        cc.on_ack(now, 2 * MSS, Some(ms(60)), c, false);
        assert_eq!(cc.cwnd(), c + MSS / 2);
        // CSS_ROUNDS rounds later, slow start ends: ssthresh = cwnd. A round here is about
        // cwnd / 2 SMSS ACKs; the window grows by a quarter per round.
        let c = cc.cwnd();
        let ca = |c: &Cubic| !c.in_slow_start();
        let mut acks_needed = 0u32;
        let mut w = c / MSS;
        for _ in 0..CSS_ROUNDS - 1 {
            acks_needed += w / 2;
            w += w / 4;
        }
        assert!(!ack_until(&mut cc, now, ms(60), acks_needed * 8 / 10, ca));
        assert!(ack_until(&mut cc, now, ms(60), acks_needed, ca));
        assert_eq!(cc.hystart().phase(), Phase::Done);
        assert_eq!(cc.ssthresh(), cc.cwnd());
        assert_eq!(cc.cwnd_prior(), cc.cwnd());
        // RFC 9438 §4.10: W_max undefined, so K = 0 and W_max = cwnd_epoch.
        let c = cc.cwnd();
        cc.on_ack(now + ms(60), MSS, Some(ms(60)), c, false);
        assert_eq!(cc.k_micros(), Some(0));
        assert_eq!(cc.w_max(), Some(c));
    }

    #[test]
    fn hystart_resumes_slow_start_when_rtt_drops() {
        let mut cc = Cubic::new(MSS, 10, T0);
        let mut now = T0;
        for _ in 0..4 {
            now += ms(50);
            ack_round(&mut cc, now, ms(50));
        }
        now += ms(60);
        let css = |c: &Cubic| c.hystart().phase() == Phase::ConservativeSlowStart;
        assert!(ack_until(&mut cc, now, ms(60), 200, css));
        // The RTT falls below the CSS baseline (60 ms): back to slow start.
        now += ms(55);
        let ss = |c: &Cubic| c.hystart().phase() == Phase::SlowStart;
        assert!(ack_until(&mut cc, now, ms(55), 200, ss));
        let c = cc.cwnd();
        cc.on_ack(now, 2 * MSS, Some(ms(55)), c, false);
        assert_eq!(cc.cwnd(), c + 2 * MSS);
    }

    #[test]
    fn loss_in_slow_start_ends_hystart() {
        let mut cc = Cubic::new(MSS, 10, T0);
        ack_round(&mut cc, T0 + ms(50), ms(50));
        cc.on_congestion_event(T0 + ms(60), 20_000);
        assert_eq!(cc.hystart().phase(), Phase::Done);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (14_000, 14_000));
        assert_eq!(cc.w_max(), Some(20_000));
    }

    #[test]
    fn mss_change_keeps_segments() {
        let mut cc = after_loss(100, T0);
        let c = cc.cwnd();
        cc.set_mss(500);
        assert!(cc.cwnd().abs_diff(c / 2) <= 1);
        assert_eq!(cc.ssthresh(), 35_000);
        assert_eq!(cc.w_max(), Some(50_000));
        assert_eq!(cc.k_micros(), Some(4_217_163));
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut cc = Cubic::new(u32::MAX, u32::MAX, T0);
        let far = Instant::MAX;
        cc.on_ack(far, u32::MAX, Some(Duration::MAX), u32::MAX, false);
        cc.on_congestion_event(far, u32::MAX);
        cc.on_recovery_exit(far);
        cc.on_ack(T0, u32::MAX, Some(Duration::MAX), u32::MAX, false);
        cc.on_ack(far, u32::MAX, Some(Duration::ZERO), 0, false);
        cc.set_mss(1);
        cc.on_ack(far, u32::MAX, None, u32::MAX, false);
        cc.on_rto(far, 0);
        cc.on_spurious_congestion(far);
        cc.set_mss(0);
        for i in 0..100u64 {
            cc.on_ack(Instant::from_secs(i * 1_000_000), 1, None, 1, i % 3 == 0);
        }
        assert!(cc.cwnd() >= 1);
        let mut cc = Cubic::new(1, 1, T0).with_hystart(false);
        cc.on_congestion_event(T0, 0);
        cc.on_recovery_exit(T0);
        for i in 0..1000u64 {
            cc.on_ack(
                Instant::from_secs(i * 100_000),
                u32::MAX,
                Some(Duration::from_secs(i)),
                u32::MAX,
                false,
            );
        }
        assert!(cc.cwnd() >= 1);
    }
}
