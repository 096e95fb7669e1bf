//! The retransmission queue and loss recovery: what is in flight, what the peer SACKed (RFC 2018,
//! D-SACK RFC 2883), what is lost — by RACK's time-based rule (RFC 8985 §6), by the DupThresh rule
//! of RFC 6675 §4 (`IsLost`), or, for peers without SACK, by three duplicate ACKs and NewReno's
//! partial ACKs (RFC 5681 §3.2, RFC 6582) — and how much is in the network (RFC 6675 `pipe`).
//!
//! Like Linux's retransmit queue, every segment sent and not yet cumulatively acknowledged has an
//! entry with its send time and marks. `snd_nxt` never moves back: a retransmission resends an
//! entry, and the congestion controller ([`crate::cc`]) decides how much may be in flight, except
//! during fast recovery, where proportional rate reduction (RFC 6937 §3, as Linux's
//! `tcp_cwnd_reduction`) sets the window on every ACK.
//!
//! A reduction that proves spurious is undone: by the timestamp echo (Eifel, RFC 3522 §3.2), by
//! D-SACK (RFC 2883 §4), and after a retransmission timeout by F-RTO (RFC 5682 §3, with SACK its
//! §4 variant as Linux's `tcp_process_loss` runs it).

use alloc::collections::VecDeque;

use super::{Connection, Ctx};
use crate::rack::RecoveryState;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// RFC 6675 DupThresh.
const DUP_THRESH: u32 = 3;

/// The reordering timer as Linux arms it (`tcp_rack_mark_lost`): the RACK timeout rounded up to
/// whole ticks of `tick` ([`crate::Config::timer_tick`], one jiffy), plus `TCP_TIMEOUT_MIN` (two
/// jiffies). RFC 8985 §6.3 lets the timer fire no earlier than the reordering window allows;
/// later is allowed, and matches Linux's timing.
fn linux_reo_timer(t: Duration, tick: Duration) -> Duration {
    let j = tick.as_micros().max(1);
    let ticks = t.as_micros().div_ceil(j) + 2;
    Duration::from_micros(u64::try_from(ticks * j).unwrap_or(u64::MAX))
}

/// One segment in flight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentSeg {
    pub start: SeqNum,
    /// One past the last sequence number (the FIN included).
    pub end: SeqNum,
    pub fin: bool,
    /// When it was last (re)transmitted.
    pub xmit_ts: Instant,
    /// When it was first sent.
    pub first_ts: Instant,
    /// Our TSval on its last transmission (to tell which copy an ACK answers, RFC 8985 §6.2).
    pub xmit_tsval: u32,
    /// The peer SACKed it.
    pub sacked: bool,
    /// Judged lost (and kept so when retransmitted: `retrans` tells).
    pub lost: bool,
    /// A retransmission of it is in flight.
    pub retrans: bool,
    /// It was retransmitted at least once (Karn: its ACK gives no RTT sample).
    pub ever_retrans: bool,
    /// The (emulated) TSO/GSO packet it was first sent in, a number that tells the packets
    /// apart: Linux resends a run of lost segments of one such packet as one packet again.
    pub packet: u32,
}

impl SentSeg {
    pub fn len(&self) -> u32 {
        self.end.diff(self.start).max(0) as u32
    }

    /// Whether an ACK echoing `tsecr` can be for this segment's last transmission: its TSecr
    /// is not older than the TSval that transmission carried (RFC 8985 §6.2 step 2). Without
    /// timestamps nothing here tells the copies apart, and RACK's min-RTT test alone decides
    /// (RFC 8985 §6.2 step 2, Linux `tcp_rack_advance`): an ACK that comes at least a minimum
    /// RTT after the retransmission is taken as the retransmission's.
    pub fn answers(&self, tsecr: Option<u32>) -> bool {
        match tsecr {
            Some(echo) => (echo.wrapping_sub(self.xmit_tsval) as i32) >= 0,
            None => true,
        }
    }
}

/// Proportional rate reduction (RFC 6937) of one fast recovery, in bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prr {
    /// The congestion window when recovery began (`RecoverFS`; Linux `prior_cwnd`).
    pub prior_cwnd: u32,
    /// Bytes delivered (acknowledged or SACKed) since (`prr_delivered`).
    pub delivered: u32,
    /// Bytes sent since (`prr_out`).
    pub out: u32,
    /// The window it allows now: `pipe` plus what may be sent.
    pub cwnd: u32,
}

/// What can prove a recovery spurious (Linux `undo_marker` and `undo_retrans`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Undo {
    /// SND.UNA when the recovery began: D-SACKs for data below it are about something else.
    pub marker: SeqNum,
    /// Retransmissions since then (and those still in flight when it began) that no D-SACK has
    /// reported as duplicates yet (RFC 2883 §4.2).
    pub pending: u32,
    /// Whether anything was retransmitted since: without a retransmission there is nothing for
    /// D-SACK to prove.
    pub resent: bool,
}

/// The queue with running byte totals of its marks.
#[derive(Debug, Default)]
pub(crate) struct RtxQueue {
    pub segs: VecDeque<SentSeg>,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
}

impl RtxQueue {
    fn account(&mut self, seg: &SentSeg, sign: i64) {
        let len = i64::from(seg.len()) * sign;
        let add = |v: &mut u32| *v = (i64::from(*v) + len).max(0) as u32;
        if seg.sacked {
            add(&mut self.sacked);
        }
        if seg.lost {
            add(&mut self.lost);
        }
        if seg.retrans {
            add(&mut self.retrans);
        }
    }

    /// Changes the marks of segment `i`, keeping the totals right.
    pub fn update(&mut self, i: usize, f: impl FnOnce(&mut SentSeg)) {
        let Some(mut seg) = self.segs.get(i).copied() else {
            return;
        };
        self.account(&seg, -1);
        f(&mut seg);
        self.account(&seg, 1);
        self.segs[i] = seg;
    }

    /// Splits segment `i` so that a segment starts at `at` (strictly inside it).
    pub fn split(&mut self, i: usize, at: SeqNum) {
        let Some(seg) = self.segs.get(i).copied() else {
            return;
        };
        if !(at > seg.start && at < seg.end) {
            return;
        }
        let mut head = seg;
        head.end = at;
        head.fin = false;
        let mut tail = seg;
        tail.start = at;
        self.segs[i] = head;
        self.segs.insert(i + 1, tail);
    }

    /// Joins segment `i + 1` into segment `i` when both wait for retransmission and together
    /// carry at most `limit` data bytes (Linux `tcp_retrans_try_collapse`): a retransmission
    /// then repairs several small losses, or data and FIN, in one segment.
    pub fn collapse_next(&mut self, i: usize, limit: u32) -> bool {
        let (Some(cur), Some(next)) = (self.segs.get(i).copied(), self.segs.get(i + 1).copied())
        else {
            return false;
        };
        let waiting = |s: &SentSeg| s.lost && !s.retrans && !s.sacked;
        let data = |s: &SentSeg| s.len() - u32::from(s.fin);
        if !waiting(&cur) || !waiting(&next) || cur.fin || data(&cur) + data(&next) > limit {
            return false;
        }
        self.account(&cur, -1);
        self.account(&next, -1);
        let mut merged = cur;
        merged.end = next.end;
        merged.fin = next.fin;
        merged.ever_retrans |= next.ever_retrans;
        self.account(&merged, 1);
        self.segs[i] = merged;
        self.segs.remove(i + 1);
        true
    }

    /// Index of the segment holding `seq`.
    pub fn find(&self, seq: SeqNum) -> Option<usize> {
        let i = self.segs.partition_point(|s| s.end <= seq);
        (i < self.segs.len() && self.segs[i].start <= seq).then_some(i)
    }

    /// Drops everything below `ack`; returns the segments fully acknowledged.
    pub fn ack_to(&mut self, ack: SeqNum, mut on_acked: impl FnMut(&SentSeg)) {
        while let Some(front) = self.segs.front().copied() {
            if front.end <= ack {
                self.account(&front, -1);
                self.segs.pop_front();
                on_acked(&front);
            } else {
                if front.start < ack {
                    self.account(&front, -1);
                    let mut rest = front;
                    rest.start = ack;
                    self.account(&rest, 1);
                    self.segs[0] = rest;
                }
                break;
            }
        }
    }

    pub fn clear(&mut self) {
        *self = RtxQueue::default();
    }
}

impl Connection {
    /// RFC 6675 `pipe`: bytes in flight, less those SACKed or judged lost, plus retransmissions
    /// in flight. Without SACK, duplicate ACKs stand in for SACKed segments (as Linux's
    /// `tcp_add_reno_sack`).
    pub(crate) fn pipe(&self) -> u32 {
        let sacked = if self.opts.sack {
            self.rtx.sacked
        } else {
            self.dupacks.saturating_mul(self.snd_mss)
        };
        self.flight()
            .saturating_sub(sacked)
            .saturating_sub(self.rtx.lost)
            .saturating_add(self.rtx.retrans)
    }

    /// The congestion window in bytes: during fast recovery, the one proportional rate
    /// reduction sets on each ACK.
    pub(crate) fn cwnd(&self) -> u32 {
        match self.prr {
            Some(p) => p.cwnd,
            None => self.cc_cwnd(),
        }
    }

    /// The congestion controller's window in bytes.
    fn cc_cwnd(&self) -> u32 {
        self.cc.as_ref().map_or(self.snd_mss, |cc| cc.cwnd())
    }

    /// Starts proportional rate reduction as fast recovery begins, from the window before the
    /// reduction (RFC 6937 §3: `RecoverFS`; Linux `prior_cwnd`).
    fn prr_start(&mut self, prior_cwnd: u32) {
        self.prr = Some(Prr {
            prior_cwnd: prior_cwnd.max(1),
            delivered: 0,
            out: 0,
            cwnd: self.cc_cwnd(),
        });
    }

    /// RFC 6937 §3 on an ACK during fast recovery, as Linux's `tcp_cwnd_reduction`: `delivered`
    /// bytes newly acknowledged or SACKed by it. While `pipe` exceeds `ssthresh`, sending
    /// follows deliveries in the proportion `ssthresh / prior_cwnd`; below it, as much as was
    /// delivered (one segment more when the cumulative ACK advanced and nothing new was lost:
    /// the slow-start reduction bound), up to `ssthresh`. The first ACK of a recovery always lets
    /// the fast retransmission out.
    pub(crate) fn prr_on_ack(&mut self, delivered: u32, una_advanced: bool, newly_lost: bool) {
        let Some(mut p) = self.prr else {
            return;
        };
        if delivered == 0 {
            return;
        }
        let mss = u64::from(self.snd_mss.max(1));
        let ssthresh = u64::from(self.cc.as_ref().map_or(self.snd_mss, |cc| cc.ssthresh()));
        let pipe = u64::from(self.pipe());
        p.delivered = p.delivered.saturating_add(delivered);
        let (prr_delivered, prr_out) = (u64::from(p.delivered), u64::from(p.out));
        let sndcnt = if pipe > ssthresh {
            let due = (ssthresh * prr_delivered).div_ceil(u64::from(p.prior_cwnd));
            due.saturating_sub(prr_out)
        } else {
            let mut n = prr_delivered
                .saturating_sub(prr_out)
                .max(u64::from(delivered));
            if una_advanced && !newly_lost {
                n += mss;
            }
            n.min(ssthresh - pipe)
        };
        let sndcnt = if p.out == 0 { sndcnt.max(mss) } else { sndcnt };
        p.cwnd = u32::try_from(pipe + sndcnt).unwrap_or(u32::MAX);
        self.prr = Some(p);
    }

    /// Counts bytes sent during fast recovery (RFC 6937 `prr_out`).
    pub(crate) fn prr_sent(&mut self, len: u32) {
        if let Some(p) = self.prr.as_mut() {
            p.out = p.out.saturating_add(len);
        }
    }

    /// Records a segment just sent for the first time.
    pub(crate) fn record_sent(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        fin: bool,
        now: Instant,
        packet: u32,
    ) {
        self.rtx.segs.push_back(SentSeg {
            packet,
            start,
            end,
            fin,
            xmit_ts: now,
            first_ts: now,
            xmit_tsval: self.ts_now(now),
            sacked: false,
            lost: false,
            retrans: false,
            ever_retrans: false,
        });
    }

    /// Marks the SACKed ranges (RFC 2018 §3) and reports a D-SACK (RFC 2883 §4). Returns
    /// (bytes newly SACKed, where the D-SACK block ends if there was one, data never resent and
    /// below the recovery point newly SACKed).
    pub(crate) fn apply_sack(
        &mut self,
        ctx: &mut Ctx<'_>,
        blocks: &[synack_wire::SackBlock],
        tsecr: Option<u32>,
    ) -> (u32, Option<SeqNum>, bool) {
        let mut newly = 0;
        let mut dsack = None;
        // Data never resent, below the recovery point, newly SACKed (Linux
        // `FLAG_ORIG_SACK_ACKED`).
        let mut orig = false;
        let high = self.recovery_point;
        for (i, b) in blocks.iter().enumerate() {
            let (l, r) = (SeqNum(b.left), SeqNum(b.right));
            if r <= l {
                continue;
            }
            if i == 0 {
                // RFC 2883: a first block below the cumulative ACK, or inside the second block,
                // reports a duplicate.
                let inside_second = blocks
                    .get(1)
                    .is_some_and(|s| l >= SeqNum(s.left) && r <= SeqNum(s.right));
                if r <= self.snd_una || inside_second {
                    dsack = Some(r);
                    ctx.counters.dsacks_received += 1;
                    continue;
                }
            }
            let l = l.max(self.snd_una);
            let r = r.min(self.snd_nxt);
            if r <= l {
                continue;
            }
            // Mark every segment the block covers whole. As Linux (tcp_sacktag_walk,
            // tcp_match_skb_to_sack), a block that covers only part of a segment (less than an
            // MSS) does not SACK it: the segment is not split to credit a fragment.
            let mut i = self.rtx.segs.partition_point(|s| s.start < l);
            while i < self.rtx.segs.len() && self.rtx.segs[i].end <= r {
                if !self.rtx.segs[i].sacked {
                    newly += self.rtx.segs[i].len();
                    let seg = self.rtx.segs[i];
                    let (xmit_ts, end, ever) = (seg.xmit_ts, seg.end, seg.ever_retrans);
                    let start = seg.start;
                    let valid = seg.answers(tsecr);
                    orig |= !ever && high.is_some_and(|h| end <= h);
                    self.rack.update(ctx.now, xmit_ts, end, ever, valid);
                    self.rack.detect_reordering(start, end, ever);
                    self.rtx.update(i, |s| {
                        s.sacked = true;
                        s.lost = false;
                        s.retrans = false;
                    });
                }
                i += 1;
            }
        }
        (newly, dsack, orig)
    }

    /// Marks segment `i` lost (it will be retransmitted when the window allows).
    fn mark_lost(&mut self, i: usize) {
        self.rtx.update(i, |s| {
            s.lost = true;
            s.retrans = false;
        });
    }

    /// Runs loss detection after an ACK: RACK (RFC 8985 §6.2 step 5) and RFC 6675's DupThresh
    /// rule with SACK; three duplicate ACKs and partial ACKs without. Enters recovery on the
    /// first loss.
    /// Returns whether it judged any segment newly lost.
    pub(crate) fn detect_losses(
        &mut self,
        ctx: &mut Ctx<'_>,
        dsack: bool,
        partial_ack: bool,
    ) -> bool {
        let mut any = false;
        // Fast path: with nothing SACKed, no recovery under way and no reordering timer, RACK
        // has no delivered segment sent after an outstanding one, so it cannot find a loss.
        // This keeps an ACK's cost independent of the window in the common case.
        let rack_idle = self.rtx.sacked == 0
            && self.recovery_point.is_none()
            && !dsack
            && self.reorder_deadline.is_none();
        if self.opts.sack && rack_idle {
            return false;
        }
        if self.opts.sack {
            let segs_sacked = self.rtx.segs.iter().filter(|s| s.sacked).count() as u32;
            let state = if self.recovery_point.is_some() {
                RecoveryState::InRecovery
            } else {
                RecoveryState::Open
            };
            let srtt = self.rtt.srtt().unwrap_or(self.rtt.base_rto());
            self.rack
                .update_reo_wnd(dsack, self.snd_una, self.snd_nxt, state, segs_sacked, srtt);
            let candidates = self
                .rtx
                .segs
                .iter()
                // Segments lost and not yet resent are skipped; a retransmission may be lost
                // again (Linux tcp_rack_detect_loss).
                .filter(|s| !s.sacked && (!s.lost || s.retrans))
                .map(|s| (s.end, s.xmit_ts));
            let mut lost_ends = alloc::vec::Vec::new();
            let timeout = self
                .rack
                .detect_loss_with(ctx.now, candidates, |end| lost_ends.push(end));
            for end in lost_ends {
                if let Some(i) = self.rtx.find(end - 1) {
                    self.mark_lost(i);
                    any = true;
                }
            }
            self.reorder_deadline =
                timeout.map(|t| ctx.now + linux_reo_timer(t, ctx.config.timer_tick));
            // With RACK, the DupThresh rule of RFC 6675 is not used (RFC 8985 §6.2: RACK's
            // reordering window is zero until reordering is seen, which gives the same speed),
            // as in Linux since 4.18.
        } else if (self.dupacks == DUP_THRESH && self.recovery_point.is_none()) || partial_ack {
            // RFC 5681 §3.2 fast retransmit / RFC 6582 §3.2 step 5: the first unacknowledged
            // segment is lost.
            if !self.rtx.segs.is_empty() && !self.rtx.segs[0].retrans {
                self.mark_lost(0);
                any = true;
            }
        }
        if any {
            ctx.counters.lost_segments_detected += 1;
            if self.recovery_point.is_none() {
                self.recovery_point = Some(self.snd_nxt);
                self.undo = Some(self.new_undo());
                ctx.counters.fast_recoveries += 1;
                let flight = self.flight();
                let prior_cwnd = self.cwnd();
                if let Some(cc) = self.cc.as_mut() {
                    cc.on_congestion_event(ctx.now, flight);
                }
                self.prr_start(prior_cwnd);
            }
        }
        any
    }

    /// Undoes the window reduction of the last recovery when it proves spurious (Linux
    /// `tcp_try_undo_*`):
    ///
    /// - during the recovery, the ACK covers resent data and echoes a timestamp older than the
    ///   first retransmission still outstanding, so an original arrived (Eifel, RFC 3522 §3.2);
    ///   in fast recovery only once no retransmission is left in flight (`tcp_try_undo_partial`);
    /// - at any time until the next recovery, D-SACKs (`dsack_end`: where the ACK's D-SACK block
    ///   ends) have reported every retransmission as a duplicate (RFC 2883 §4.2,
    ///   `tcp_try_undo_dsack`).
    ///
    /// An undone recovery ends: what it marked lost was not (`tcp_undo_cwnd_reduction` with
    /// `unmark_loss`, then `tcp_try_keep_open`).
    pub(crate) fn try_undo(
        &mut self,
        ctx: &mut Ctx<'_>,
        tsecr: Option<u32>,
        dsack_end: Option<SeqNum>,
    ) {
        let Some(mut u) = self.undo else {
            return;
        };
        let in_recovery = self.recovery_point.is_some();
        let eifel = in_recovery
            && (self.in_loss || self.rtx.retrans == 0)
            && match (self.retrans_stamp, tsecr) {
                (Some(stamp), Some(echo)) if echo != 0 => (echo.wrapping_sub(stamp) as i32) < 0,
                _ => false,
            };
        // Linux's "dumb counting" (tcp_check_dsack): a D-SACK for data above the marker stands
        // for one of our retransmissions.
        let counted = dsack_end.is_some_and(|end| end > u.marker) && u.pending > 0;
        if counted {
            u.pending -= 1;
        }
        let all_dup = counted && u.pending == 0 && u.resent;
        if !(eifel || all_dup) {
            self.undo = Some(u);
            return;
        }
        let undone = self
            .cc
            .as_mut()
            .is_some_and(|cc| cc.on_spurious_congestion(ctx.now));
        if undone {
            ctx.counters.spurious_recoveries_undone += 1;
            if self.in_loss {
                ctx.counters.rto_recoveries_undone += 1;
            }
        }
        self.undo = None;
        if in_recovery {
            self.leave_recovery_undone();
        }
    }

    /// A fresh undo record as a recovery begins (Linux `tcp_init_undo`).
    fn new_undo(&self) -> Undo {
        Undo {
            marker: self.snd_una,
            pending: self.retrans_out(),
            resent: false,
        }
    }

    /// A recovery proved spurious (Linux `tcp_try_undo_loss`, `tcp_try_undo_partial`): the
    /// segments it marked lost were not, so they are not resent, and the recovery ends.
    fn leave_recovery_undone(&mut self) {
        for i in 0..self.rtx.segs.len() {
            if self.rtx.segs[i].lost {
                self.rtx.update(i, |s| s.lost = false);
            }
        }
        self.end_recovery();
        self.undo = None;
        self.dupacks = 0;
    }

    /// Fast or RTO recovery is over, however it ended: no recovery point, no PRR, no F-RTO.
    pub(crate) fn end_recovery(&mut self) {
        self.recovery_point = None;
        self.in_loss = false;
        self.frto = false;
        self.frto_new_data = false;
        self.prr = None;
    }

    /// F-RTO (RFC 5682 §3, the SACK-enhanced algorithm of §4 when SACK is on), as Linux's
    /// `tcp_process_loss`, on an ACK during RTO recovery. `una_advanced`: the ACK moved SND.UNA.
    /// `orig_delivered`: it acknowledged or SACKed data below the recovery point that was never
    /// resent. `sacked`: it SACKed anything new. `dupack`: it was a duplicate ACK.
    ///
    /// - Data never resent arrived: the timeout was spurious (step 3b), so it is undone.
    /// - After new data went out, a SACK or duplicate ACK means the loss was real (step 3a):
    ///   recovery goes on as after any timeout.
    /// - The first ACK that moves SND.UNA without covering the recovery point (step 2b): new
    ///   data, if the peer's window allows any, goes out before the other retransmissions.
    pub(crate) fn frto_on_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        una_advanced: bool,
        orig_delivered: bool,
        sacked: bool,
        dupack: bool,
    ) {
        // Step 2b's preference for new data holds until the next ACK.
        self.frto_new_data = false;
        if !self.in_loss || !self.frto {
            return;
        }
        let Some(high) = self.recovery_point else {
            return;
        };
        if orig_delivered {
            if let Some(cc) = self.cc.as_mut() {
                cc.on_spurious_congestion(ctx.now);
            }
            ctx.counters.spurious_recoveries_undone += 1;
            ctx.counters.spurious_rtos += 1;
            ctx.counters.rto_recoveries_undone += 1;
            self.leave_recovery_undone();
            return;
        }
        if self.snd_nxt > high {
            if sacked || dupack {
                self.frto = false;
            }
        } else if una_advanced && self.snd_una < high {
            self.recovery_point = Some(self.snd_nxt);
            let wnd_end = self.snd_una + self.snd_wnd;
            if self.unsent() > 0 && wnd_end > self.snd_nxt {
                self.frto_new_data = true;
            } else {
                self.frto = false;
            }
        }
    }

    /// Retransmitted segments neither acknowledged, SACKed nor judged lost again (Linux
    /// `retrans_out`): those a new recovery's D-SACK accounting starts from.
    fn retrans_out(&self) -> u32 {
        if self.rtx.retrans == 0 {
            return 0;
        }
        self.rtx.segs.iter().filter(|s| s.retrans).count() as u32
    }

    /// Forgets the first retransmission's stamp once no retransmitted segment is outstanding
    /// and no recovery is under way (Linux `tcp_try_to_open` with `tcp_any_retrans_done`).
    pub(crate) fn maybe_clear_retrans_stamp(&mut self) {
        if self.retrans_stamp.is_some()
            && self.recovery_point.is_none()
            && self.rtx.retrans == 0
            && !self.rtx.segs.front().is_some_and(|s| s.ever_retrans)
        {
            self.retrans_stamp = None;
            self.retrans_since = None;
        }
    }

    /// The first segment judged lost and not yet retransmitted since.
    pub(crate) fn next_lost(&self) -> Option<usize> {
        if self.rtx.lost == 0 {
            return None;
        }
        self.rtx
            .segs
            .iter()
            .position(|s| s.lost && !s.retrans && !s.sacked)
    }

    /// The retransmission timer expired with data in flight (RFC 6298 §5.4-§5.6, RFC 5681 §3.1,
    /// RFC 8985 §6.3): everything not SACKed is lost, the window collapses to one segment.
    /// `recurring`: an earlier timeout of the same data went unanswered. F-RTO tests the timeout
    /// unless it interrupts fast recovery (RFC 5682 §3.1 step 1 and §3.2, as Linux).
    pub(crate) fn enter_rto_recovery(&mut self, ctx: &mut Ctx<'_>, recurring: bool) {
        let new_recovery = self.recovery_point.is_none();
        self.frto = ctx.config.frto && (new_recovery || recurring);
        self.frto_new_data = false;
        self.in_loss = true;
        let flight = self.flight();
        if let Some(cc) = self.cc.as_mut() {
            cc.on_rto(ctx.now, flight);
        }
        for i in 0..self.rtx.segs.len() {
            if !self.rtx.segs[i].sacked {
                self.mark_lost(i);
            }
        }
        self.recovery_point = Some(self.snd_nxt);
        self.prr = None;
        if self.undo.is_none() || new_recovery {
            self.undo = Some(self.new_undo());
        }
        self.dupacks = 0;
        self.rack.reset_tlp();
        self.tlp_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordering_timer_rounds_up_to_ticks_and_adds_two() {
        let ms = Duration::from_millis;
        // HZ = 1000: a 24.5 ms RACK timeout is armed for 25 + 2 ticks of 1 ms.
        assert_eq!(
            linux_reo_timer(Duration::from_micros(24_500), ms(1)),
            ms(27)
        );
        // HZ = 250: the same timeout takes 7 + 2 ticks of 4 ms.
        assert_eq!(
            linux_reo_timer(Duration::from_micros(24_500), ms(4)),
            ms(36)
        );
        // A whole number of ticks is not rounded further.
        assert_eq!(linux_reo_timer(ms(8), ms(4)), ms(16));
        // A zero tick counts as one microsecond: the timeout plus two microseconds.
        assert_eq!(
            linux_reo_timer(ms(5), Duration::ZERO),
            Duration::from_micros(5_002)
        );
    }
}
