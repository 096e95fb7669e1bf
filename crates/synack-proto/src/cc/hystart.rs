//! HyStart++ (RFC 9406): leaving slow start on a rise in round-trip delay, before losses.
//!
//! Implemented as RFC 9406 §4.2 specifies it:
//! - rounds are delimited by sequence numbers: a round ends when an ACK covers `windowEnd`, which
//!   was SND.NXT when the round started;
//! - per round, the minimum of the RTT samples (`currentRoundMinRTT`) and their count;
//! - in slow start, once a round has `N_RTT_SAMPLE` samples and the previous round had any: if
//!   `currentRoundMinRTT >= lastRoundMinRTT + RttThresh`, with
//!   `RttThresh = clamp(lastRoundMinRTT / MIN_RTT_DIVISOR, MIN_RTT_THRESH, MAX_RTT_THRESH)`, the
//!   sender enters Conservative Slow Start (CSS) with `cssBaselineMinRtt = currentRoundMinRTT`;
//! - in CSS the window grows by `min(N, L * SMSS) / CSS_GROWTH_DIVISOR` per ACK; if a round's
//!   minimum RTT (after `N_RTT_SAMPLE` samples) drops below the baseline, the exit was spurious
//!   and slow start resumes; after `CSS_ROUNDS` rounds in CSS, slow start ends
//!   (`ssthresh = cwnd`, which the congestion controller applies);
//! - a loss (or ECN mark) during slow start or CSS ends HyStart++ ([`HyStart::exit`]); the
//!   congestion controller's own response applies.
//! - §4.3: `L` = 8 for a sender that does not pace (synack does not) by default here; a
//!   connection lifts it ("infinity") unless `Config::slow_start_ack_limit` is set, because
//!   Linux's slow start grows the window by all an ACK acknowledges. The other constants of §4.3;
//!   HyStart++ only in the initial slow start: after the first exit the state is
//!   [`Phase::Done`] for the rest of the connection (later slow starts after an RTO stop at the
//!   `ssthresh` the loss left).
//!
//! The type is self-contained: a connection may drive it with real sequence numbers, and
//! [`super::Cubic`] drives it through the [`super::CongestionControl`] interface with a count of
//! delivered bytes (see there).

use crate::seq::SeqNum;
use crate::time::Duration;

/// RFC 9406 §4.3: lower bound of the RTT increase that ends slow start.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: upper bound of the RTT increase that ends slow start.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: the RTT increase threshold is `lastRoundMinRTT / MIN_RTT_DIVISOR`, clamped.
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: RTT samples a round needs before its minimum is trusted.
pub const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: CSS grows the window this many times slower than slow start.
pub const CSS_GROWTH_DIVISOR: u32 = 4;
/// RFC 9406 §4.3: rounds of CSS before slow start ends.
pub const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.3: the per-ACK growth limit `L`, in SMSS, for a sender that does not pace.
pub const L_NON_PACED: u32 = 8;

/// Where HyStart++ is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Standard slow start, watching for a delay increase.
    SlowStart,
    /// Conservative Slow Start (RFC 9406 §4.2).
    ConservativeSlowStart,
    /// HyStart++ is over for this connection (slow start was left, by delay or by loss).
    Done,
}

/// A change [`HyStart::on_ack`] or [`HyStart::on_round_start`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HyStartEvent {
    /// Nothing changed.
    None,
    /// The RTT rose: slow start was left for CSS.
    EnterCss,
    /// The RTT fell back below the CSS baseline: the exit was spurious, slow start resumes.
    ResumeSlowStart,
    /// `CSS_ROUNDS` rounds of CSS completed: slow start ends; the controller sets
    /// `ssthresh = cwnd` and enters congestion avoidance.
    ExitSlowStart,
}

/// HyStart++ state (RFC 9406 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyStart {
    phase: Phase,
    /// `windowEnd`; `None` before the first round.
    window_end: Option<SeqNum>,
    /// `lastRoundMinRTT`; `None` is infinity.
    last_round_min_rtt: Option<Duration>,
    /// `currentRoundMinRTT`; `None` is infinity.
    current_round_min_rtt: Option<Duration>,
    /// `rttSampleCount`.
    rtt_sample_count: u32,
    /// `cssBaselineMinRtt`; `None` is infinity.
    css_baseline_min_rtt: Option<Duration>,
    /// Rounds completed in CSS.
    css_rounds: u32,
    /// `L`, in SMSS.
    limit_segments: u32,
}

impl Default for HyStart {
    fn default() -> Self {
        Self::new()
    }
}

impl HyStart {
    /// HyStart++ at the start of the connection, for a sender that does not pace (`L` = 8).
    pub fn new() -> Self {
        Self::with_limit(L_NON_PACED)
    }

    /// HyStart++ with the per-ACK growth limit `L` in SMSS (`u32::MAX` for "infinity", RFC 9406
    /// §4.3's value for a pacing sender; 0 is taken as 1).
    pub fn with_limit(limit_segments: u32) -> Self {
        Self {
            phase: Phase::SlowStart,
            window_end: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
            limit_segments: limit_segments.max(1),
        }
    }

    /// Sets the per-ACK growth limit `L` in SMSS (`u32::MAX` for "infinity"; 0 is taken as 1).
    pub fn set_limit(&mut self, limit_segments: u32) {
        self.limit_segments = limit_segments.max(1);
    }

    /// The per-ACK growth limit `L` in SMSS (`u32::MAX`: none).
    pub fn limit(&self) -> u32 {
        self.limit_segments
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether HyStart++ still governs slow start (not [`Phase::Done`]).
    pub fn is_active(&self) -> bool {
        self.phase != Phase::Done
    }

    /// Whether the sender is in CSS.
    pub fn in_css(&self) -> bool {
        self.phase == Phase::ConservativeSlowStart
    }

    /// `windowEnd`: the sequence number whose acknowledgment ends the current round.
    pub fn window_end(&self) -> Option<SeqNum> {
        self.window_end
    }

    /// Whether an ACK of `ack` ends the current round (or no round was started yet).
    pub fn round_ended(&self, ack: SeqNum) -> bool {
        self.window_end.is_none_or(|end| ack >= end)
    }

    /// Starts a round ending at `end_seq` (SND.NXT now): `lastRoundMinRTT` takes the finished
    /// round's minimum, and the sample count restarts. In CSS this completes a CSS round; after
    /// `CSS_ROUNDS` of them it reports [`HyStartEvent::ExitSlowStart`] and HyStart++ is done.
    pub fn on_round_start(&mut self, end_seq: SeqNum) -> HyStartEvent {
        if self.phase == Phase::Done {
            return HyStartEvent::None;
        }
        self.window_end = Some(end_seq);
        self.last_round_min_rtt = self.current_round_min_rtt;
        self.current_round_min_rtt = None;
        self.rtt_sample_count = 0;
        if self.phase == Phase::ConservativeSlowStart {
            self.css_rounds = self.css_rounds.saturating_add(1);
            if self.css_rounds >= CSS_ROUNDS {
                self.phase = Phase::Done;
                return HyStartEvent::ExitSlowStart;
            }
        }
        HyStartEvent::None
    }

    /// Processes an ACK in slow start or CSS: `ack` is its acknowledgment number, `snd_nxt` SND.NXT
    /// now (the end of the next round, should this ACK end the current one), `rtt` the RTT sample
    /// it gave, if any. Returns what changed.
    ///
    /// The first ACK starts the first round. An ACK that covers `windowEnd` contributes its sample
    /// to the round it ends (as Linux and msquic count it), then starts the next round.
    pub fn on_ack(&mut self, ack: SeqNum, snd_nxt: SeqNum, rtt: Option<Duration>) -> HyStartEvent {
        if self.phase == Phase::Done {
            return HyStartEvent::None;
        }
        if self.window_end.is_none() {
            self.on_round_start(snd_nxt);
        }
        if let Some(rtt) = rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }
        let event = self.check_delay();
        if self.round_ended(ack) {
            let end = self.on_round_start(snd_nxt);
            if end != HyStartEvent::None {
                return end;
            }
        }
        event
    }

    /// The per-ACK checks of RFC 9406 §4.2, once the round has `N_RTT_SAMPLE` samples.
    fn check_delay(&mut self) -> HyStartEvent {
        if self.rtt_sample_count < N_RTT_SAMPLE {
            return HyStartEvent::None;
        }
        let Some(current) = self.current_round_min_rtt else {
            return HyStartEvent::None;
        };
        match self.phase {
            Phase::SlowStart => {
                let Some(last) = self.last_round_min_rtt else {
                    return HyStartEvent::None;
                };
                let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if current >= last.saturating_add(thresh) {
                    self.css_baseline_min_rtt = Some(current);
                    self.css_rounds = 0;
                    self.phase = Phase::ConservativeSlowStart;
                    return HyStartEvent::EnterCss;
                }
            }
            Phase::ConservativeSlowStart => {
                if self.css_baseline_min_rtt.is_none_or(|base| current < base) {
                    self.css_baseline_min_rtt = None;
                    self.css_rounds = 0;
                    self.phase = Phase::SlowStart;
                    return HyStartEvent::ResumeSlowStart;
                }
            }
            Phase::Done => {}
        }
        HyStartEvent::None
    }

    /// The window increase for an ACK of `acked` new bytes (RFC 9406 §4.2): `min(acked, L * mss)`
    /// in slow start, divided by `CSS_GROWTH_DIVISOR` in CSS. After HyStart++ is done this is plain
    /// slow start with the same limit.
    pub fn cwnd_increase(&self, acked: u32, mss: u32) -> u32 {
        let inc = acked.min(mss.saturating_mul(self.limit_segments));
        if self.phase == Phase::ConservativeSlowStart {
            inc / CSS_GROWTH_DIVISOR
        } else {
            inc
        }
    }

    /// Ends HyStart++ for this connection: a loss or ECN mark ended slow start, or slow start was
    /// left some other way (RFC 9406 §4.2, §4.3).
    pub fn exit(&mut self) {
        self.phase = Phase::Done;
        self.css_baseline_min_rtt = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs one round of `samples` ACKs with the given RTT, sequence numbers advancing by 1000 per
    /// ACK from `*seq`; returns the events.
    fn round(
        h: &mut HyStart,
        seq: &mut u32,
        samples: u32,
        rtt: Duration,
    ) -> alloc::vec::Vec<HyStartEvent> {
        let mut events = alloc::vec::Vec::new();
        // The round ends at the current window end; the next one at +samples*1000.
        let start = *seq;
        for i in 1..=samples {
            let ack = SeqNum(start + i * 1000);
            let snd_nxt = SeqNum(start + samples * 1000 + i * 1000);
            let ev = h.on_ack(ack, snd_nxt, Some(rtt));
            if ev != HyStartEvent::None {
                events.push(ev);
            }
        }
        *seq = start + samples * 1000;
        events
    }

    fn started(seq: u32, samples: u32) -> HyStart {
        let mut h = HyStart::new();
        h.on_round_start(SeqNum(seq + samples * 1000));
        h
    }

    #[test]
    fn thresholds() {
        // RttThresh = clamp(last / 8, 4 ms, 16 ms).
        for (last, thresh) in [(ms(10), ms(4)), (ms(80), ms(10)), (ms(400), ms(16))] {
            // Just below the threshold: stays in slow start.
            let mut seq = 0;
            let mut h = started(seq, 8);
            assert!(round(&mut h, &mut seq, 8, last).is_empty());
            let below = last + thresh - Duration::from_micros(1);
            assert!(round(&mut h, &mut seq, 8, below).is_empty());
            assert_eq!(h.phase(), Phase::SlowStart);
            // At the threshold: enters CSS.
            let mut seq = 0;
            let mut h = started(seq, 8);
            assert!(round(&mut h, &mut seq, 8, last).is_empty());
            assert_eq!(
                round(&mut h, &mut seq, 8, last + thresh),
                [HyStartEvent::EnterCss]
            );
            assert_eq!(h.phase(), Phase::ConservativeSlowStart);
        }
    }

    #[test]
    fn needs_n_rtt_samples() {
        let mut seq = 0;
        let mut h = started(seq, 8);
        round(&mut h, &mut seq, 8, ms(100));
        // Seven samples of a much larger RTT are not enough.
        assert!(round(&mut h, &mut seq, 7, ms(200)).is_empty());
        assert_eq!(h.phase(), Phase::SlowStart);
        // The eighth (in the same round) is.
        let ev = h.on_ack(SeqNum(seq + 500), SeqNum(seq + 9000), Some(ms(200)));
        assert_eq!(ev, HyStartEvent::EnterCss);
    }

    #[test]
    fn css_then_resume_on_rtt_drop() {
        let mut seq = 0;
        let mut h = started(seq, 8);
        round(&mut h, &mut seq, 8, ms(50));
        assert_eq!(round(&mut h, &mut seq, 8, ms(60)), [HyStartEvent::EnterCss]);
        assert_eq!(
            h.cwnd_increase(8000, 1000),
            2000,
            "CSS grows a quarter as fast"
        );
        // The RTT falls back below the baseline: the exit was spurious.
        assert_eq!(
            round(&mut h, &mut seq, 8, ms(55)),
            [HyStartEvent::ResumeSlowStart]
        );
        assert_eq!(h.phase(), Phase::SlowStart);
        assert_eq!(h.cwnd_increase(8000, 1000), 8000);
        assert_eq!(h.cwnd_increase(20_000, 1000), 8000, "L = 8 SMSS");
    }

    #[test]
    fn css_rounds_end_slow_start() {
        let mut seq = 0;
        let mut h = started(seq, 8);
        round(&mut h, &mut seq, 8, ms(50));
        assert_eq!(round(&mut h, &mut seq, 8, ms(60)), [HyStartEvent::EnterCss]);
        // The round in which CSS began counts as the first of CSS_ROUNDS.
        for _ in 2..CSS_ROUNDS {
            assert!(round(&mut h, &mut seq, 8, ms(60)).is_empty());
        }
        assert_eq!(
            round(&mut h, &mut seq, 8, ms(60)),
            [HyStartEvent::ExitSlowStart]
        );
        assert_eq!(h.phase(), Phase::Done);
        assert!(!h.is_active());
        assert_eq!(
            h.on_ack(SeqNum(seq + 1), SeqNum(seq + 2), Some(ms(1))),
            HyStartEvent::None
        );
    }

    #[test]
    fn exit_on_loss() {
        let mut h = HyStart::new();
        h.exit();
        assert_eq!(h.phase(), Phase::Done);
        assert_eq!(h.on_round_start(SeqNum(5)), HyStartEvent::None);
    }

    #[test]
    fn rounds_wrap() {
        let mut h = HyStart::new();
        let base = u32::MAX - 3000;
        assert!(h.round_ended(SeqNum(base)));
        h.on_round_start(SeqNum(base.wrapping_add(6000)));
        assert!(!h.round_ended(SeqNum(base.wrapping_add(5999))));
        assert!(h.round_ended(SeqNum(base.wrapping_add(6000))));
    }

    #[test]
    fn paced_limit() {
        let h = HyStart::with_limit(u32::MAX);
        assert_eq!(h.cwnd_increase(1_000_000, 1000), 1_000_000);
    }
}
