//! RACK-TLP loss detection (RFC 8985): time-based loss detection (RACK) and the tail loss probe
//! (TLP).
//!
//! Implemented:
//! - §6.2 step 1: `RACK.min_RTT` ([`Rack::on_rtt_sample`]);
//! - §6.2 step 2, `RACK_update()`, with its check against spurious retransmissions
//!   ([`Rack::update`]);
//! - §6.2 step 3, `RACK_detect_reordering()` ([`Rack::detect_reordering`]);
//! - §6.2 step 4, `RACK_update_reo_wnd()`, the D-SACK-adaptive reordering window
//!   ([`Rack::update_reo_wnd`]);
//! - §6.2 step 5, `RACK_detect_loss()`, and §6.3, the reordering timer
//!   ([`Rack::detect_loss`]);
//! - §7.2, `TLP_calc_PTO()` ([`Rack::tlp_timeout`]), and §7.4, `TLP_process_ack()`, detecting a
//!   loss the probe repaired ([`Rack::on_tlp_sent`], [`Rack::tlp_process_ack`]).
//!
//! Per-segment state (`Segment.xmit_ts`, `Segment.end_seq`, `Segment.retransmitted`,
//! `Segment.lost`) stays with the caller, who owns the retransmission queue; this module holds the
//! per-connection `RACK.*` and `TLP.*` variables. All arithmetic saturates; nothing panics.

use alloc::vec::Vec;

use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// DupThresh of RFC 8985 §6.2 step 4 (as in RFC 5681): without observed reordering, the
/// reordering window is zero once this many segments are SACKed.
pub const DUP_THRESH: u32 = 3;

/// D-SACK-free recoveries after which the reordering window multiplier resets (RFC 8985 §6.2
/// step 4, `RACK.reo_wnd_persist`).
pub const REO_WND_PERSIST: u32 = 16;

/// The PTO when no RTT sample exists yet (RFC 8985 §7.2: one second).
pub const PTO_WITHOUT_SRTT: Duration = Duration::from_secs(1);

/// A conservative `TLP.max_ack_delay` when the peer's delayed-ACK timer is not known: 200 ms, the
/// worst-case delayed-ACK timeout RFC 8985 §7.2 has in mind (Linux uses the same bound).
pub const DEFAULT_MAX_ACK_DELAY: Duration = Duration::from_millis(200);

/// The sender's loss-recovery state as [`Rack::update_reo_wnd`] needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryState {
    /// Not in fast recovery or RTO recovery.
    #[default]
    Open,
    /// In fast recovery or RTO recovery (after this ACK).
    InRecovery,
    /// This ACK ended fast recovery or RTO recovery.
    Exiting,
}

/// What an ACK told about the outstanding tail loss probe (RFC 8985 §7.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlpOutcome {
    /// No probe outstanding, or the ACK does not settle it yet.
    Pending,
    /// The probe carried new data and was delivered, or was a retransmission the peer reported as
    /// a duplicate (D-SACK): there was no loss. The episode is over.
    NoLoss,
    /// The probe repaired a single loss (the ACK went beyond the probe, or was a duplicate ACK
    /// without SACK information). The episode is over; the caller must invoke the congestion
    /// controller's response to a loss ([`crate::cc::CongestionControl::on_congestion_event`]
    /// followed by [`crate::cc::CongestionControl::on_recovery_exit`]).
    LossRepaired,
}

/// The per-connection RACK-TLP state (RFC 8985 §6.1 `RACK.*`, §7.1 `TLP.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rack {
    /// `RACK.xmit_ts`: send time of the most recently sent segment known delivered.
    xmit_ts: Option<Instant>,
    /// `RACK.end_seq`: end of that segment.
    end_seq: SeqNum,
    /// `RACK.rtt`: RTT of that segment.
    rtt: Duration,
    /// `RACK.min_RTT`.
    min_rtt: Option<Duration>,
    /// `RACK.fack`: the highest end sequence delivered.
    fack: Option<SeqNum>,
    /// `RACK.reordering_seen`.
    reordering_seen: bool,
    /// `RACK.fack` before the ACK being processed (Linux `prior_fack`).
    prior_fack: Option<SeqNum>,
    /// The lowest start of a segment found reordered by the ACK being processed.
    reorder_low: Option<SeqNum>,
    /// ACKs that showed reordering (Linux `reord_seen`).
    reorder_events: u32,
    /// The largest reordering distance seen, in bytes: how far below `RACK.fack` a reordered
    /// segment started (Linux keeps it in segments, `tp->reordering`).
    reorder_distance: u32,
    /// `RACK.reo_wnd`, as computed by the last `update_reo_wnd`.
    reo_wnd: Duration,
    /// `RACK.reo_wnd_mult`.
    reo_wnd_mult: u32,
    /// `RACK.reo_wnd_persist`.
    reo_wnd_persist: u32,
    /// `RACK.dsack_round`.
    dsack_round: Option<SeqNum>,
    /// `TLP.end_seq`.
    tlp_end_seq: Option<SeqNum>,
    /// `TLP.is_retrans`.
    tlp_is_retrans: bool,
}

impl Default for Rack {
    fn default() -> Self {
        Self::new()
    }
}

/// `RACK_sent_after(t1, seq1, t2, seq2)` (RFC 8985 §6.2 step 2): whether the segment sent at `t1`
/// ending at `seq1` was sent after the one sent at `t2` ending at `seq2`; ties in time are broken by
/// sequence.
pub fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

impl Rack {
    /// Fresh state (RFC 8985 §6.1: `reo_wnd_mult` = 1, `reo_wnd_persist` = 16, nothing delivered).
    pub fn new() -> Self {
        Self {
            xmit_ts: None,
            end_seq: SeqNum(0),
            rtt: Duration::ZERO,
            min_rtt: None,
            fack: None,
            reordering_seen: false,
            prior_fack: None,
            reorder_low: None,
            reorder_events: 0,
            reorder_distance: 0,
            reo_wnd: Duration::ZERO,
            reo_wnd_mult: 1,
            reo_wnd_persist: REO_WND_PERSIST,
            dsack_round: None,
            tlp_end_seq: None,
            tlp_is_retrans: false,
        }
    }

    /// §6.2 step 1: folds an RTT measurement (RFC 6298 / RFC 7323, Karn-valid) into `RACK.min_RTT`.
    /// [`Self::update`] also does this with the samples it accepts.
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    /// §6.2 step 2, `RACK_update()`, for one segment newly acknowledged (cumulatively or by SACK).
    /// Call it for each such segment in ascending order of transmission time.
    ///
    /// `xmit_ts` is the segment's latest transmission time, `end_seq` its end (one past its last
    /// octet), `retransmitted` whether it was ever retransmitted. For a retransmitted segment,
    /// `rtt_sample_valid` says whether this ACK can be attributed to the latest transmission
    /// (RFC 8985: the ACK's TSecr is not older than `xmit_ts`; without timestamps, pass `true` and
    /// the min-RTT test below alone guards against spurious retransmissions). The sample is
    /// ignored when the segment was retransmitted and either `rtt_sample_valid` is false or the
    /// RTT is below `RACK.min_RTT` (the ACK was for the original transmission). Otherwise
    /// `RACK.rtt` becomes the sample, and `RACK.xmit_ts`/`RACK.end_seq` advance if this segment was
    /// sent after the one they describe. Returns whether the sample was used.
    pub fn update(
        &mut self,
        now: Instant,
        xmit_ts: Instant,
        end_seq: SeqNum,
        retransmitted: bool,
        rtt_sample_valid: bool,
    ) -> bool {
        let rtt = now.saturating_duration_since(xmit_ts);
        if retransmitted {
            if !rtt_sample_valid {
                return false;
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                return false;
            }
        }
        self.rtt = rtt;
        self.on_rtt_sample(rtt);
        let newer = match self.xmit_ts {
            None => true,
            Some(t) => sent_after(xmit_ts, end_seq, t, self.end_seq),
        };
        if newer {
            self.xmit_ts = Some(xmit_ts);
            self.end_seq = end_seq;
        }
        true
    }

    /// Starts the reordering accounting of one ACK: what it delivers is compared with the highest
    /// end delivered before it (Linux `prior_fack`), so that the order in which its SACK blocks
    /// are read does not matter.
    pub fn begin_ack(&mut self) {
        self.prior_fack = self.fack;
        self.reorder_low = None;
    }

    /// §6.2 step 3, `RACK_detect_reordering()`, for one segment (`start`..`end_seq`) newly
    /// acknowledged, between [`Self::begin_ack`] and [`Self::finish_ack`]. A segment that was
    /// never retransmitted and ends below the highest end delivered before this ACK
    /// (`RACK.fack`) was reordered.
    pub fn detect_reordering(&mut self, start: SeqNum, end_seq: SeqNum, retransmitted: bool) {
        if self.prior_fack.is_some_and(|fack| end_seq < fack) && !retransmitted {
            self.reordering_seen = true;
            self.reorder_low = Some(self.reorder_low.map_or(start, |l| l.min(start)));
        }
        if self.fack.is_none_or(|fack| end_seq > fack) {
            self.fack = Some(end_seq);
        }
    }

    /// Ends the reordering accounting of one ACK (Linux `tcp_check_sack_reordering`): if it
    /// showed reordering, counts the event and keeps the largest distance below `RACK.fack`.
    pub fn finish_ack(&mut self) {
        if let (Some(low), Some(fack)) = (self.reorder_low.take(), self.fack) {
            self.reorder_events = self.reorder_events.saturating_add(1);
            let distance = u32::try_from(fack.diff(low).max(0)).unwrap_or(u32::MAX);
            self.reorder_distance = self.reorder_distance.max(distance);
        }
    }

    /// ACKs that showed reordering so far (Linux `tcpi_reord_seen`).
    pub fn reorder_events(&self) -> u32 {
        self.reorder_events
    }

    /// The largest reordering distance seen, in bytes.
    pub fn reorder_distance(&self) -> u32 {
        self.reorder_distance
    }

    /// §6.2 step 4, `RACK_update_reo_wnd()`: adapts and returns the reordering window.
    ///
    /// `dsack`: the ACK carried a D-SACK block. `snd_una`/`snd_nxt`: after this ACK. `recovery`:
    /// whether the sender is in (or just left) fast or RTO recovery. `segs_sacked`:
    /// `RACK.segs_sacked`, segments SACKed above SND.UNA. `srtt`: the smoothed RTT (RFC 6298).
    ///
    /// Per round trip that sees a D-SACK the multiplier grows by one, and 16 D-SACK-free recoveries
    /// reset it. Without reordering seen so far the window is zero during recovery or once
    /// DupThresh segments are SACKed (fast, DupThresh-like detection); otherwise it is
    /// `min(reo_wnd_mult * min_RTT / 4, SRTT)`.
    pub fn update_reo_wnd(
        &mut self,
        dsack: bool,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        recovery: RecoveryState,
        segs_sacked: u32,
        srtt: Duration,
    ) -> Duration {
        if self.dsack_round.is_some_and(|round| snd_una >= round) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if recovery == RecoveryState::Exiting {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
        self.reo_wnd = if !self.reordering_seen
            && (recovery == RecoveryState::InRecovery || segs_sacked >= DUP_THRESH)
        {
            Duration::ZERO
        } else {
            let min_rtt = self.min_rtt.unwrap_or(srtt);
            (min_rtt.saturating_mul(self.reo_wnd_mult) / 4).min(srtt)
        };
        self.reo_wnd
    }

    /// §6.2 step 5, `RACK_detect_loss()`, and §6.3: which outstanding segments are lost now, and
    /// when to run detection again (the reordering timer).
    ///
    /// `segments` yields `(end_seq, xmit_ts)` of every segment neither cumulatively acknowledged,
    /// SACKed, nor already marked lost. A segment sent before the most recently sent delivered one
    /// (`RACK.xmit_ts`, `RACK.end_seq`) is lost once `RACK.rtt + RACK.reo_wnd` has passed since its
    /// transmission; the others of those are waiting, and the returned timeout is the longest of
    /// their remaining times, after which the caller runs this again (RFC 8985 §6.3: arm the
    /// reordering timer to `now + timeout`). The caller marks the returned segments lost,
    /// retransmits them, and reports a congestion event to the congestion controller once per
    /// recovery.
    pub fn detect_loss(
        &self,
        now: Instant,
        segments: impl Iterator<Item = (SeqNum, Instant)>,
    ) -> (Vec<SeqNum>, Option<Duration>) {
        let mut lost = Vec::new();
        let timeout = self.detect_loss_with(now, segments, |end_seq| lost.push(end_seq));
        (lost, timeout)
    }

    /// [`Self::detect_loss`] without allocating: calls `on_lost(end_seq)` for each lost segment.
    pub fn detect_loss_with(
        &self,
        now: Instant,
        segments: impl Iterator<Item = (SeqNum, Instant)>,
        mut on_lost: impl FnMut(SeqNum),
    ) -> Option<Duration> {
        let rack_ts = self.xmit_ts?;
        let mut timeout: Option<Duration> = None;
        for (end_seq, xmit_ts) in segments {
            if !sent_after(rack_ts, self.end_seq, xmit_ts, end_seq) {
                continue;
            }
            let deadline = xmit_ts + self.rtt.saturating_add(self.reo_wnd);
            if deadline <= now {
                on_lost(end_seq);
            } else {
                let remaining = deadline.saturating_duration_since(now);
                timeout = Some(timeout.map_or(remaining, |t| t.max(remaining)));
            }
        }
        timeout
    }

    /// §7.2, `TLP_calc_PTO()`: the probe timeout.
    ///
    /// `2 * SRTT`, plus `max_ack_delay` when only one segment is in flight (its ACK may be
    /// delayed); one second without an RTT sample; never beyond the pending RTO
    /// (`rto_remaining`, the time until the retransmission timer fires, if armed).
    pub fn tlp_timeout(
        &self,
        srtt: Option<Duration>,
        flight_segments: u32,
        max_ack_delay: Duration,
        rto_remaining: Option<Duration>,
    ) -> Duration {
        let pto = match srtt {
            Some(srtt) => {
                let pto = srtt.saturating_mul(2);
                if flight_segments == 1 {
                    pto.saturating_add(max_ack_delay)
                } else {
                    pto
                }
            }
            None => PTO_WITHOUT_SRTT,
        };
        match rto_remaining {
            Some(rto) => pto.min(rto),
            None => pto,
        }
    }

    /// §7.3: records that a loss probe was sent. `end_seq` is SND.NXT after sending it
    /// (`TLP.end_seq`), `is_retrans` whether the probe retransmitted old data because no new data
    /// could be sent (`TLP.is_retrans`). At most one probe may be outstanding
    /// ([`Self::tlp_outstanding`]).
    pub fn on_tlp_sent(&mut self, end_seq: SeqNum, is_retrans: bool) {
        self.tlp_end_seq = Some(end_seq);
        self.tlp_is_retrans = is_retrans;
    }

    /// Whether a loss probe's outcome is still pending (`TLP.end_seq` is set); no new probe may be
    /// scheduled meanwhile (RFC 8985 §7.3).
    pub fn tlp_outstanding(&self) -> bool {
        self.tlp_end_seq.is_some()
    }

    /// Ends the current probe episode without a verdict (for instance when the RTO fires).
    pub fn reset_tlp(&mut self) {
        self.tlp_end_seq = None;
        self.tlp_is_retrans = false;
    }

    /// §7.4.2, `TLP_process_ack()`: settles an outstanding probe from an ACK.
    ///
    /// `ack` is the ACK's acknowledgment number, `dsack` its D-SACK block if any,
    /// `dupack_without_sack` whether it was a duplicate ACK that carried no SACK option.
    pub fn tlp_process_ack(
        &mut self,
        ack: SeqNum,
        dsack: Option<(SeqNum, SeqNum)>,
        dupack_without_sack: bool,
    ) -> TlpOutcome {
        let Some(end) = self.tlp_end_seq else {
            return TlpOutcome::Pending;
        };
        if ack < end {
            return TlpOutcome::Pending;
        }
        // A new-data probe delivered, or a retransmitted one reported as a duplicate: no loss.
        let outcome = if !self.tlp_is_retrans || dsack.is_some_and(|(_, e)| e == end) {
            TlpOutcome::NoLoss
        } else if ack > end || dupack_without_sack {
            TlpOutcome::LossRepaired
        } else {
            return TlpOutcome::Pending;
        };
        self.reset_tlp();
        outcome
    }

    /// `RACK.reo_wnd` as last computed by [`Self::update_reo_wnd`].
    pub fn reo_wnd(&self) -> Duration {
        self.reo_wnd
    }

    /// `RACK.rtt`: the RTT of the most recently delivered segment accepted by [`Self::update`].
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// `RACK.min_RTT`, if any sample was taken.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// `RACK.xmit_ts` and `RACK.end_seq`: the most recently sent segment known delivered.
    pub fn last_delivered(&self) -> Option<(Instant, SeqNum)> {
        self.xmit_ts.map(|t| (t, self.end_seq))
    }

    /// `RACK.reordering_seen`.
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// `RACK.reo_wnd_mult`.
    pub fn reo_wnd_mult(&self) -> u32 {
        self.reo_wnd_mult
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn at(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn update_tracks_most_recently_sent_delivered() {
        let mut r = Rack::new();
        assert!(r.update(at(100), at(0), SeqNum(1000), false, true));
        assert_eq!(r.rtt(), ms(100));
        assert_eq!(r.min_rtt(), Some(ms(100)));
        assert_eq!(r.last_delivered(), Some((at(0), SeqNum(1000))));
        // An older segment delivered later does not move RACK.xmit_ts back, but gives RACK.rtt.
        assert!(r.update(at(150), at(0), SeqNum(500), false, true));
        assert_eq!(r.last_delivered(), Some((at(0), SeqNum(1000))));
        assert_eq!(r.rtt(), ms(150));
        // Same send time, higher sequence: later.
        assert!(r.update(at(150), at(0), SeqNum(2000), false, true));
        assert_eq!(r.last_delivered(), Some((at(0), SeqNum(2000))));
    }

    #[test]
    fn update_rejects_spurious_retransmission_samples() {
        let mut r = Rack::new();
        r.update(at(100), at(0), SeqNum(1000), false, true);
        // Retransmitted at 180, ACKed at 200: 20 ms < min_RTT 100 ms, so the ACK was for the
        // original transmission.
        assert!(!r.update(at(200), at(180), SeqNum(2000), true, true));
        assert_eq!(r.last_delivered(), Some((at(0), SeqNum(1000))));
        // Timestamps say the ACK is for the original.
        assert!(!r.update(at(400), at(180), SeqNum(2000), true, false));
        // A plausible sample for the retransmission is used.
        assert!(r.update(at(300), at(180), SeqNum(2000), true, true));
        assert_eq!(r.last_delivered(), Some((at(180), SeqNum(2000))));
        assert_eq!(r.rtt(), ms(120));
        assert_eq!(r.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn detect_reordering() {
        let mut r = Rack::new();
        r.begin_ack();
        r.detect_reordering(SeqNum(2000), SeqNum(3000), false);
        r.finish_ack();
        r.begin_ack();
        r.detect_reordering(SeqNum(2000), SeqNum(3000), false);
        r.finish_ack();
        assert!(!r.reordering_seen());
        // A retransmitted segment below fack is the repair of a loss, not reordering.
        r.begin_ack();
        r.detect_reordering(SeqNum(0), SeqNum(1000), true);
        r.finish_ack();
        assert!(!r.reordering_seen());
        // One ACK reporting a higher block before a lower one, both above what was delivered
        // before it: the order of its blocks is not reordering.
        r.begin_ack();
        r.detect_reordering(SeqNum(5000), SeqNum(6000), false);
        r.detect_reordering(SeqNum(4000), SeqNum(5000), false);
        r.finish_ack();
        assert!(!r.reordering_seen());
        assert_eq!(r.reorder_events(), 0);
        // Two reordered segments in one ACK: one event, the distance from the lower start.
        r.begin_ack();
        r.detect_reordering(SeqNum(500), SeqNum(1000), false);
        r.detect_reordering(SeqNum(1000), SeqNum(2000), false);
        r.finish_ack();
        assert!(r.reordering_seen());
        assert_eq!((r.reorder_events(), r.reorder_distance()), (1, 5500));
    }

    #[test]
    fn reo_wnd_is_a_quarter_min_rtt_capped_by_srtt() {
        let mut r = Rack::new();
        r.on_rtt_sample(ms(40));
        r.begin_ack();
        r.detect_reordering(SeqNum(2000), SeqNum(3000), false);
        r.begin_ack();
        r.detect_reordering(SeqNum(1000), SeqNum(2000), false);
        let w = r.update_reo_wnd(
            false,
            SeqNum(0),
            SeqNum(5000),
            RecoveryState::Open,
            0,
            ms(50),
        );
        assert_eq!(w, ms(10));
        // Capped by SRTT.
        let w = r.update_reo_wnd(
            false,
            SeqNum(0),
            SeqNum(5000),
            RecoveryState::Open,
            0,
            ms(5),
        );
        assert_eq!(w, ms(5));
    }

    #[test]
    fn reo_wnd_zero_without_reordering_in_recovery_or_after_dupthresh_sacks() {
        let mut r = Rack::new();
        r.on_rtt_sample(ms(40));
        let srtt = ms(50);
        let una = SeqNum(0);
        let nxt = SeqNum(5000);
        assert_eq!(
            r.update_reo_wnd(false, una, nxt, RecoveryState::Open, 0, srtt),
            ms(10)
        );
        assert_eq!(
            r.update_reo_wnd(false, una, nxt, RecoveryState::Open, 3, srtt),
            ms(0)
        );
        assert_eq!(
            r.update_reo_wnd(false, una, nxt, RecoveryState::InRecovery, 0, srtt),
            ms(0)
        );
    }

    #[test]
    fn reo_wnd_grows_with_dsack_once_per_round_and_resets_after_16_recoveries() {
        let mut r = Rack::new();
        r.on_rtt_sample(ms(40));
        let srtt = ms(100);
        let open = RecoveryState::Open;
        // D-SACK: multiplier 2, round ends when SND.UNA reaches 5000.
        let w = r.update_reo_wnd(true, SeqNum(0), SeqNum(5000), open, 0, srtt);
        assert_eq!((r.reo_wnd_mult(), w), (2, ms(20)));
        // Another D-SACK in the same round: no growth.
        r.update_reo_wnd(true, SeqNum(1000), SeqNum(6000), open, 0, srtt);
        assert_eq!(r.reo_wnd_mult(), 2);
        // Next round.
        let w = r.update_reo_wnd(true, SeqNum(5000), SeqNum(9000), open, 0, srtt);
        assert_eq!((r.reo_wnd_mult(), w), (3, ms(30)));
        // Capped by SRTT.
        for i in 0..10u32 {
            let una = SeqNum(9000 + i * 4000);
            r.update_reo_wnd(true, una, una + 4000, open, 0, srtt);
        }
        assert_eq!(r.reo_wnd(), srtt);
        let mult = r.reo_wnd_mult();
        // 15 D-SACK-free recoveries keep the multiplier, the 16th resets it.
        let una = SeqNum(100_000);
        for _ in 0..15 {
            r.update_reo_wnd(false, una, una + 10, RecoveryState::Exiting, 0, srtt);
        }
        assert_eq!(r.reo_wnd_mult(), mult);
        let w = r.update_reo_wnd(false, una, una + 10, RecoveryState::Exiting, 0, srtt);
        assert_eq!((r.reo_wnd_mult(), w), (1, ms(10)));
    }

    #[test]
    fn detect_loss_by_time() {
        // min_RTT = RACK.rtt = 40 ms, reordering seen: reo_wnd = 10 ms.
        let mut r = Rack::new();
        r.begin_ack();
        r.detect_reordering(SeqNum(8000), SeqNum(9000), false);
        r.begin_ack();
        r.detect_reordering(SeqNum(7000), SeqNum(8000), false);
        // Segments (end_seq, xmit_ts): 1000@0, 2000@5, 3000@10, 4000@20 (delivered), 5000@30.
        r.update(at(60), at(20), SeqNum(4000), false, true);
        assert_eq!(r.rtt(), ms(40));
        r.update_reo_wnd(
            false,
            SeqNum(0),
            SeqNum(5000),
            RecoveryState::Open,
            1,
            ms(40),
        );
        assert_eq!(r.reo_wnd(), ms(10));
        let outstanding = [
            (SeqNum(1000), at(0)),
            (SeqNum(2000), at(5)),
            (SeqNum(3000), at(10)),
            (SeqNum(5000), at(30)),
        ];
        // At 60 ms: deadlines are xmit + 50 ms: 50 (lost), 55 (lost), 60 (lost: remaining 0).
        let (lost, timeout) = r.detect_loss(at(60), outstanding.iter().copied());
        assert_eq!(lost, vec![SeqNum(1000), SeqNum(2000), SeqNum(3000)]);
        assert_eq!(timeout, None, "5000 was sent after the delivered segment");
        // At 52 ms: 1000 is lost, 2000 waits 3 ms, 3000 waits 8 ms; the timer is the longest.
        let (lost, timeout) = r.detect_loss(at(52), outstanding.iter().copied());
        assert_eq!(lost, vec![SeqNum(1000)]);
        assert_eq!(timeout, Some(ms(8)));
    }

    #[test]
    fn detect_loss_nothing_delivered_yet() {
        let r = Rack::new();
        let (lost, timeout) = r.detect_loss(at(1000), [(SeqNum(1), at(0))].into_iter());
        assert!(lost.is_empty());
        assert_eq!(timeout, None);
    }

    #[test]
    fn detect_loss_zero_window_after_dupthresh() {
        // No reordering seen, 3 segments SACKed: reo_wnd = 0, so anything sent before the
        // delivered segment and older than RACK.rtt is lost.
        let mut r = Rack::new();
        r.update(at(140), at(40), SeqNum(5000), false, true);
        r.update_reo_wnd(
            false,
            SeqNum(0),
            SeqNum(6000),
            RecoveryState::Open,
            3,
            ms(100),
        );
        assert_eq!(r.reo_wnd(), Duration::ZERO);
        let outstanding = [(SeqNum(1000), at(0)), (SeqNum(2000), at(40))];
        let (lost, timeout) = r.detect_loss(at(139), outstanding.iter().copied());
        assert_eq!(lost, vec![SeqNum(1000)]);
        // Same send time as the delivered segment but lower sequence: sent before it.
        assert_eq!(timeout, Some(ms(1)));
        let (lost, timeout) = r.detect_loss(at(140), outstanding.iter().copied());
        assert_eq!(lost, vec![SeqNum(1000), SeqNum(2000)]);
        assert_eq!(timeout, None);
    }

    #[test]
    fn pto() {
        let r = Rack::new();
        let mad = DEFAULT_MAX_ACK_DELAY;
        assert_eq!(r.tlp_timeout(Some(ms(50)), 4, mad, None), ms(100));
        assert_eq!(r.tlp_timeout(Some(ms(50)), 1, mad, None), ms(300));
        assert_eq!(r.tlp_timeout(None, 4, mad, None), Duration::from_secs(1));
        assert_eq!(r.tlp_timeout(Some(ms(50)), 4, mad, Some(ms(70))), ms(70));
        assert_eq!(
            r.tlp_timeout(Some(Duration::MAX), 1, mad, None),
            Duration::MAX
        );
    }

    #[test]
    fn tlp_episode() {
        let mut r = Rack::new();
        assert_eq!(
            r.tlp_process_ack(SeqNum(10), None, false),
            TlpOutcome::Pending
        );
        // New-data probe delivered.
        r.on_tlp_sent(SeqNum(5000), false);
        assert!(r.tlp_outstanding());
        assert_eq!(
            r.tlp_process_ack(SeqNum(4000), None, false),
            TlpOutcome::Pending
        );
        assert_eq!(
            r.tlp_process_ack(SeqNum(5000), None, false),
            TlpOutcome::NoLoss
        );
        assert!(!r.tlp_outstanding());
        // Retransmission probe, D-SACKed: the original arrived.
        r.on_tlp_sent(SeqNum(5000), true);
        let dsack = Some((SeqNum(4000), SeqNum(5000)));
        assert_eq!(
            r.tlp_process_ack(SeqNum(5000), dsack, false),
            TlpOutcome::NoLoss
        );
        // Retransmission probe, ACK beyond it: it repaired a loss.
        r.on_tlp_sent(SeqNum(5000), true);
        assert_eq!(
            r.tlp_process_ack(SeqNum(5000), None, false),
            TlpOutcome::Pending
        );
        assert_eq!(
            r.tlp_process_ack(SeqNum(6000), None, false),
            TlpOutcome::LossRepaired
        );
        // Retransmission probe, duplicate ACK without SACK: assume the original was lost.
        r.on_tlp_sent(SeqNum(5000), true);
        assert_eq!(
            r.tlp_process_ack(SeqNum(5000), None, true),
            TlpOutcome::LossRepaired
        );
    }
}
