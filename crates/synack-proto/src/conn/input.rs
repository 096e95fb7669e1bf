//! Segment arrival (RFC 9293 §3.10.7.3 SYN-SENT and §3.10.7.4 the synchronized states), with the
//! RST and SYN hardening of RFC 5961 §3-§4, option negotiation (RFC 7323 §2.2, §3.2; RFC 2018
//! §2) and PAWS (RFC 7323 §5.3, §5.5, with Linux's allowances).

use synack_wire::{TcpFlags, TcpRepr};

use super::{Connection, Ctx, Negotiated};
use crate::error::Error;
use crate::event::Event;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};

/// Linux's `tcp_reordering` default (3 segments): reordering deeper than this changes when the
/// window may grow.
const TCP_REORDERING: u32 = 3;

impl Connection {
    /// Answers an out-of-window or PAWS-rejected segment with an ACK (RFC 9293 §3.10.7.4,
    /// RFC 7323 §5.3), unless the rate limit holds it back (Linux `tcp_oow_rate_limited`).
    fn ack_out_of_window(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let interval = ctx.config.invalid_ratelimit;
        if crate::time_wait::oow_rate_limited(&mut self.last_oow_ack, ctx.now, seg, interval) {
            ctx.counters.oow_acks_skipped += 1;
        } else {
            self.ack_now = true;
        }
    }

    /// Handles one segment addressed to this connection.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        self.on_segment_input(ctx, seg);
        self.output(ctx);
    }

    /// [`Connection::on_segment`] without the output that follows: the endpoint runs it later
    /// when [`Connection::output_may_wait`] allows.
    pub(crate) fn on_segment_input(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        self.last_rcv = ctx.now;
        self.keepalive_out = 0;
        match self.state {
            State::Closed | State::Listen | State::TimeWait => {}
            State::SynSent => self.on_segment_syn_sent(ctx, seg),
            _ => self.on_segment_synchronized(ctx, seg),
        }
        if self.keepalive.is_some() {
            self.arm_keepalive();
        }
    }

    /// True when what a segment made this connection owe may be sent after the other datagrams
    /// handed over with it are processed: nothing asks for an immediate ACK (out-of-order data,
    /// a filled hole, a duplicate, a FIN, a window probe all do, as each must be seen by the
    /// peer on its own), and the state is one the endpoint leaves alone. In-order data and
    /// pure ACKs qualify; this is where Linux's GRO batching would merge segments too.
    pub(crate) fn output_may_wait(&self) -> bool {
        !self.ack_now
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait1 | State::FinWait2
            )
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let flags = seg.flags;
        let ack = SeqNum(seg.ack);
        if flags.ack() && (ack <= self.iss || ack > self.snd_nxt) {
            // Not an acknowledgment of our SYN: an old duplicate (RFC 9293 §3.5, figure 8).
            if !flags.rst() {
                let rst = TcpRepr {
                    src_port: self.tuple.local.port(),
                    dst_port: self.tuple.remote.port(),
                    seq: seg.ack,
                    ack: 0,
                    flags: synack_wire::TcpFlags::RST,
                    window: 0,
                    urgent: 0,
                    options: Default::default(),
                    payload: &[],
                };
                super::output::transmit(ctx, &self.tuple, self.tos, &rst);
            }
            ctx.counters.dropped_segs += 1;
            return;
        }
        if flags.rst() {
            if flags.ack() {
                ctx.counters.attempt_fails += 1;
                self.terminate(ctx, Some(Error::ConnectionRefused));
            } else {
                ctx.counters.dropped_segs += 1;
            }
            return;
        }
        if !flags.syn() {
            ctx.counters.dropped_segs += 1;
            return;
        }
        self.irs = SeqNum(seg.seq);
        self.rcv_nxt = self.irs + 1;
        self.rcv_adv = self.rcv_nxt;
        self.rcv_wup = self.rcv_nxt;
        self.rcv_offset = 0;
        let opts = negotiate(ctx.config, seg);
        self.apply_negotiated(ctx.config, opts, ctx.now);
        if let Some(ts) = seg.options.timestamps {
            self.ts_recent = ts.tsval;
            self.ts_recent_stamp = ctx.now;
        }
        self.snd_wnd = u32::from(seg.window); // never scaled in a SYN (RFC 7323 §2.2)
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = SeqNum(seg.seq);
        self.snd_wl2 = ack;
        if flags.ack() {
            self.snd_una = ack;
            self.syn_acked = true;
            self.established_rtt(ctx);
            self.set_state(ctx, State::Established);
            ctx.event(Event::Connected(ctx.handle));
            self.notify_writable(ctx);
            self.rtx_deadline = None;
            self.retries = 0;
            self.ack_now = true;
            // Data and a FIN on the SYN+ACK are not taken: the ACK covers the SYN only, and
            // the peer sends them again (Linux tcp_rcv_state_process frees the segment after
            // tcp_rcv_synsent_state_process; RFC 9293 §3.10.7.3 would go on to the text).
            if !seg.payload.is_empty() || seg.flags.fin() {
                ctx.counters.dropped_segs += 1;
            }
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 7): answer SYN+ACK with our ISN.
            self.set_state(ctx, State::SynReceived);
            self.retries = 0;
            self.rtt.reset_backoff();
            self.send_synack(ctx);
            self.rtx_deadline = Some(ctx.now + self.rto_now(ctx.now));
        }
    }

    /// The RTT sample of the handshake, unless the SYN was retransmitted (Karn), and RFC 6298 §5.7.
    fn established_rtt(&mut self, ctx: &Ctx<'_>) {
        if self.syn_retransmitted {
            if self.rtt.srtt().is_none() {
                self.rtt.set_base_rto(crate::time::Duration::from_secs(3));
            }
        } else {
            self.rtt.sample(ctx.now - self.syn_sent_at);
        }
        self.rtt.reset_backoff();
    }

    /// PAWS in a synchronized state (RFC 7323 §5.3 R1), with Linux's allowances
    /// (`tcp_validate_incoming`, `tcp_paws_check`, `tcp_disordered_ack_check`):
    /// - a TSval one tick behind `TS.Recent` still passes (`TCP_PAWS_WINDOW`);
    /// - a `TS.Recent` recorded more than 24 days ago no longer rejects anything (RFC 7323
    ///   §5.5: the peer's clock may have wrapped meanwhile);
    /// - a `TS.Recent` of zero rejects nothing (some hosts stamp their SYN with zero and only
    ///   then start their clock);
    /// - a pure duplicate ACK (no data, at `RCV.NXT`, acknowledging `SND.UNA`, no window
    ///   update) lagging by less than about one RTO in milliseconds passes: it was reordered,
    ///   and still counts towards loss recovery;
    /// - any other pure ACK that fails is an old ACK, overtaken by newer segments: it is dropped
    ///   without an answer (Linux 6.14 and later, `PAWSOldAck`). Segments with data are
    ///   rejected and answered.
    fn paws(&self, now: Instant, seg: &TcpRepr<'_>, tsval: u32) -> Paws {
        if self.paws_check(now, tsval, 1) {
            return Paws::Pass;
        }
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let ack = SeqNum(seg.ack);
        // Linux looks at the length only: a bare FIN counts as a pure ACK here.
        if !f.ack() || !seg.payload.is_empty() {
            return Paws::Reject;
        }
        if seq != self.rcv_nxt {
            return if seq < self.rcv_nxt {
                Paws::OldAck
            } else {
                Paws::Reject
            };
        }
        // Linux tcp_may_update_window, for an ACK that does not advance SND.UNA.
        let wnd = u32::from(seg.window) << self.opts.snd_wscale;
        let updates_window =
            seq > self.snd_wl1 || (seq == self.snd_wl1 && (wnd > self.snd_wnd || wnd == 0));
        if ack != self.snd_una || updates_window {
            return Paws::OldAck;
        }
        // Linux compares with `icsk_rto * 1024 / HZ`: the RTO in seconds, times 1024.
        let replay_window = self.rtt.rto().as_millis().saturating_mul(1024) / 1000;
        let replay_window = i32::try_from(replay_window).unwrap_or(i32::MAX);
        if crate::time_wait::paws_check(self.ts_recent, tsval, replay_window) {
            Paws::Pass
        } else {
            Paws::Reject
        }
    }

    /// Linux `tcp_paws_check`: the TSval lags `TS.Recent` by at most `window` ticks, or
    /// `TS.Recent` is zero or too old to judge by. With a window of zero it also decides
    /// whether the TSval may replace `TS.Recent`.
    fn paws_check(&self, now: Instant, tsval: u32, window: i32) -> bool {
        const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 60 * 60);
        crate::time_wait::paws_check(self.ts_recent, tsval, window)
            || now.saturating_duration_since(self.ts_recent_stamp) >= PAWS_IDLE
    }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED (simultaneous open) and every synchronized state.
    fn on_segment_synchronized(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let flags = seg.flags;
        let seq = SeqNum(seg.seq);
        let seg_len = seg.payload.len() as u32 + u32::from(flags.syn()) + u32::from(flags.fin());
        let wnd = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;

        // Simultaneous open, RFC 9293 §3.5 figure 7 step 5: the peer's SYN+ACK repeats the SYN we
        // already hold. Its SYN is old, its ACK completes our side (Linux passes exactly this
        // segment in tcp_validate_incoming).
        if self.state == State::SynReceived
            && flags.syn()
            && flags.ack()
            && !flags.rst()
            && seq + 1 == self.rcv_nxt
            && SeqNum(seg.ack) == self.snd_nxt
        {
            let trimmed = TcpRepr {
                seq: self.rcv_nxt.0,
                flags: synack_wire::TcpFlags(flags.bits() & !synack_wire::TcpFlags::SYN.bits()),
                ..*seg
            };
            self.on_segment_synchronized(ctx, &trimmed);
            return;
        }

        // PAWS (RFC 7323 §5.3 R1): a timestamp older than TS.Recent marks an old duplicate. It is
        // not acceptable; the answer is an ACK, except to an old bare ACK. A RST is judged by
        // its sequence number alone.
        if let (true, Some(ts)) = (self.opts.timestamps, seg.options.timestamps) {
            if !flags.rst() {
                match self.paws(ctx.now, seg, ts.tsval) {
                    Paws::Pass => {}
                    Paws::OldAck => {
                        ctx.counters.paws_old_acks += 1;
                        ctx.counters.dropped_segs += 1;
                        return;
                    }
                    Paws::Reject => {
                        ctx.counters.paws_rejected += 1;
                        ctx.counters.dropped_segs += 1;
                        self.ack_out_of_window(ctx, seg);
                        return;
                    }
                }
            }
        }

        // First: is the sequence number acceptable? Linux's form of the RFC 9293 §3.10.7.4 test
        // (tcp_sequence, 6.17 and later): the segment must not end before the left edge we last
        // advertised, nor end beyond the right edge, a FIN excepted (some stacks send one into
        // a closed window). It takes ACKs at a zero window, and segments that repeat old data
        // along with new, which the strict test would throw away with their ACK field. A segment
        // that starts inside the window and ends beyond it is taken whole while nothing waits to
        // be read, so that a peer sending oversized (GSO) packets into a small window is not
        // frozen out; otherwise it is dropped whole rather than trimmed.
        let end = seq + seg_len;
        let right = self.rcv_nxt + wnd;
        let beyond = end > right
            && end - u32::from(flags.fin()) > right
            && (seq > right || !self.recv_buf.is_empty());
        let acceptable = end >= self.rcv_wup && !beyond;
        if !acceptable {
            ctx.counters.out_of_window += 1;
            ctx.counters.dropped_segs += 1;
            if !flags.rst() {
                if beyond {
                    ctx.counters.beyond_window += 1;
                }
                if seg_len > 0 && seq < self.rcv_nxt {
                    ctx.counters.duplicate_data += 1;
                    if !seg.payload.is_empty() {
                        self.dsack = Some((seq, seq + seg.payload.len() as u32));
                    }
                    self.enter_quickack_mode();
                }
                self.ack_out_of_window(ctx, seg);
            }
            return;
        }

        // Second: RST (RFC 5961 §3: exact match resets, in-window gets a challenge ACK).
        if flags.rst() {
            if seq == self.rcv_nxt {
                // The error as Linux's tcp_reset reports it.
                let error = match self.state {
                    State::SynReceived => Error::ConnectionRefused,
                    State::CloseWait => Error::BrokenPipe,
                    State::Closing | State::LastAck | State::TimeWait => {
                        self.terminate(ctx, None);
                        return;
                    }
                    _ => Error::ConnectionReset,
                };
                if matches!(self.state, State::Established | State::CloseWait) {
                    ctx.counters.estab_resets += 1;
                }
                self.terminate(ctx, Some(error));
            } else {
                ctx.counters.rst_ignored += 1;
                ctx.counters.challenge_acks += 1;
                self.ack_now = true;
            }
            return;
        }

        // Fourth: SYN in a synchronized state gets a challenge ACK (RFC 5961 §4).
        if flags.syn() {
            if self.state == State::SynReceived && seq == self.irs {
                // Our SYN+ACK was lost: the peer's SYN again.
                self.send_synack(ctx);
                return;
            }
            ctx.counters.challenge_acks += 1;
            ctx.counters.dropped_segs += 1;
            self.ack_now = true;
            return;
        }

        // Fifth: the ACK field.
        if !flags.ack() {
            ctx.counters.dropped_segs += 1;
            return;
        }
        let ack = SeqNum(seg.ack);
        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_nxt {
                self.syn_acked = true;
                self.snd_una = self.iss + 1;
                self.established_rtt(ctx);
                self.retries = 0;
                self.rtx_deadline = None;
                self.snd_wnd = u32::from(seg.window) << self.opts.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                self.set_state(ctx, State::Established);
                // Linux tcp_rcv_state_process (SYN_RECV): the pacing rate starts from the
                // handshake's RTT; an active opener's stays unlimited until data is ACKed.
                self.update_pacing_rate();
                ctx.event(Event::Connected(ctx.handle));
                self.notify_writable(ctx);
            } else {
                let rst = TcpRepr {
                    src_port: self.tuple.local.port(),
                    dst_port: self.tuple.remote.port(),
                    seq: seg.ack,
                    ack: 0,
                    flags: synack_wire::TcpFlags::RST,
                    window: 0,
                    urgent: 0,
                    options: Default::default(),
                    payload: &[],
                };
                super::output::transmit(ctx, &self.tuple, self.tos, &rst);
                return;
            }
        }
        if ack > self.snd_nxt {
            // Acknowledges something not yet sent. RFC 9293 §3.10.7.4 says to answer with an
            // ACK; Linux discards it silently (tcp_ack: SKB_DROP_REASON_TCP_ACK_UNSENT_DATA),
            // which also denies a blind attacker an answer. synack does as Linux.
            ctx.counters.dropped_segs += 1;
            return;
        }
        if let Some(ts) = seg.options.timestamps {
            // RFC 7323 §4.3: remember the peer's clock when the segment covers RCV.NXT (the
            // last ACK we sent) and the clock did not go back — only from a segment whose ACK
            // is acceptable: a discarded one (RFC 5961 §5.2) changes nothing (Linux updates
            // ts_recent in tcp_ack, after the same check).
            if seq <= self.rcv_nxt && self.paws_check(ctx.now, ts.tsval, 0) {
                self.ts_recent = ts.tsval;
                self.ts_recent_stamp = ctx.now;
            }
        }
        self.process_ack(ctx, seg, seq, ack);
        if self.state == State::Closed {
            return;
        }

        // Seventh: segment text, and eighth: FIN.
        if !seg.payload.is_empty() || flags.fin() {
            self.rcv_rtt_measure_ts(ctx.now, seg);
            self.accept_text(ctx, seg, seq);
        }
    }

    /// Updates the send side from an acceptable ACK (RFC 9293 §3.10.7.4 "fifth"): releases
    /// acknowledged data, takes RTT samples (RFC 6298 with Karn's rule, RFC 7323 §4 with
    /// timestamps), marks SACKed data, detects losses, and drives the congestion controller.
    fn process_ack(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>, seq: SeqNum, ack: SeqNum) {
        let window = u32::from(seg.window) << self.opts.snd_wscale;
        let old_una = self.snd_una;
        let flight_before = self.flight();
        let now = ctx.now;
        let mut acked_bytes = 0u32;
        // Of those, bytes the peer had already SACKed (or, without SACK, that duplicate ACKs
        // stood for): delivered before, not by this ACK.
        let mut acked_delivered_before = 0u32;
        let dupacks_before = self.dupacks;
        let mut rtt: Option<crate::time::Duration> = None;
        let mut acked_retransmitted = false;
        // Whether the echoed timestamp predates the latest transmission of some retransmitted
        // segment this ACK covers.
        let mut stale_echo = false;
        // Data never resent, below the recovery point, newly acknowledged (for F-RTO).
        let mut orig_acked = false;
        let high = self.recovery_point;
        if ack >= self.snd_una {
            // The peer answered: zero-window probes start counting again (Linux tcp_ack clears
            // icsk_probes_out for any ACK that is not older than SND.UNA, and stamps rcv_tstamp).
            self.persist_probes = 0;
            self.last_ack_rcv = Some(now);
        }
        self.rack.begin_ack();
        if ack > self.snd_una {
            acked_bytes = ack.diff(self.snd_una) as u32;
            self.snd_una = ack;
            // Release acknowledged data (#1 of the four parts of the send buffer leaves it).
            let data_acked = ack.diff(self.send_seq).max(0) as usize;
            let drain = data_acked.min(self.send_buf.len());
            self.send_buf.drain(..drain);
            self.send_seq += drain as u32;
            self.bytes_acked += drain as u64;
            while self.record_ends.front().is_some_and(|&e| e <= ack) {
                self.record_ends.pop_front();
            }
            self.on_send_buffer_drained(now);
            if drain > 0 {
                self.notify_writable(ctx);
            }
            // Karn's rule: only segments sent once give a sample; the newest such one.
            let rack = &mut self.rack;
            let mut newest: Option<Instant> = None;
            let tsecr = seg
                .options
                .timestamps
                .filter(|_| self.opts.timestamps)
                .map(|t| t.tsecr);
            let mut sacked_before = 0u32;
            self.rtx.ack_to(ack, |s| {
                if s.sacked {
                    sacked_before = sacked_before.saturating_add(s.len());
                }
                rack.update(now, s.xmit_ts, s.end, s.ever_retrans, s.answers(tsecr));
                if !s.sacked {
                    // Only a hole filled by data never resent shows reordering; data the peer
                    // had SACKed was already counted when it was SACKed.
                    rack.detect_reordering(s.start, s.end, s.ever_retrans);
                }
                if s.ever_retrans {
                    acked_retransmitted = true;
                    stale_echo |= !s.answers(tsecr);
                } else if !s.sacked {
                    newest = Some(newest.map_or(s.xmit_ts, |t: Instant| t.max(s.xmit_ts)));
                    orig_acked |= high.is_some_and(|h| s.end <= h);
                }
            });
            acked_delivered_before = if self.opts.sack {
                sacked_before
            } else {
                // Linux tcp_remove_reno_sacks: the ACK fills one hole, the rest was counted
                // when the duplicate ACKs came.
                dupacks_before
                    .saturating_mul(self.snd_mss)
                    .min(acked_bytes.saturating_sub(self.snd_mss.min(acked_bytes)))
            };
            // Karn's rule as Linux applies it (tcp_clean_rtx_queue): when the ACK covers any
            // retransmitted data, no segment gives a sample — it may answer the retransmission
            // that filled a hole, long after the later segments arrived.
            rtt = if acked_retransmitted {
                None
            } else {
                newest.map(|t| now - t)
            };
            if rtt.is_none() && !acked_retransmitted {
                if let Some((probe, sent)) = self.rtt_probe {
                    if ack >= probe {
                        rtt = Some(now - sent);
                    }
                }
            }
            self.rtt_probe = None;
            // RFC 7323 §4.1: the echoed timestamp dates the segment that triggered this ACK,
            // retransmitted or not — unless it is older than the latest transmission of data
            // this ACK covers. Then the receiver answered a copy it dropped as a duplicate
            // (a segment wholly below its last ACK does not update TS.Recent, RFC 7323 §5.3
            // R2-R3) and echoed an earlier copy; the sample would add the whole backoff wait
            // to the RTT, and the inflated RTO invites the next such sample. Karn's rule
            // (RFC 6298 §3) applies again: the sample is ambiguous, so none is taken.
            if rtt.is_none() && !stale_echo {
                if let (true, Some(ts)) = (self.opts.timestamps, seg.options.timestamps) {
                    if ts.tsecr != 0 {
                        let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
                        if ms < 60_000 {
                            rtt = Some(crate::time::Duration::from_millis(u64::from(ms)));
                        }
                    }
                }
            }
            if let Some(sample) = rtt {
                self.rtt.sample(sample);
                self.rack.on_rtt_sample(sample);
            }
            // Data got through: the backoff ends with or without a sample. (RFC 6298 §5 and
            // Linux keep it until the next sample; without timestamps, on a path that loses
            // one packet in five each way, that sample rarely comes before the next timeout
            // and the RTO climbs to its 120 s cap while the transfer crawls.)
            self.retries = 0;
            self.rtt.reset_backoff();
            self.dupacks = 0;
        } else if ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && window == self.snd_wnd
            && self.flight() > 0
        {
            // A duplicate ACK (RFC 5681 §2).
            self.dupacks = self.dupacks.saturating_add(1);
        }

        // Window update (RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 guard against old segments).
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            let changed = window != self.snd_wnd;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            // A window that opens on queued data after a long wait (a zero window, say) is a
            // restart after idle too (Linux tcp_ack_update_window checks it before the ACK
            // cleans the retransmission queue, so only when nothing was in flight).
            if changed && acked_bytes == 0 && self.unsent() > 0 {
                self.restart_after_idle(ctx);
            }
        }

        // A zero-window probe answered with the window still closed: the probe timer restarts
        // from this answer (Linux tcp_ack_probe); output() re-arms it with the current backoff.
        if self.persist_deadline.is_some() && self.snd_wnd == 0 {
            self.persist_deadline = None;
        }

        // SACK blocks (RFC 2018), then loss detection.
        let (newly_sacked, dsack_end, orig_sacked) =
            if self.opts.sack && !seg.options.sack.is_empty() {
                let tsecr = seg
                    .options
                    .timestamps
                    .filter(|_| self.opts.timestamps)
                    .map(|t| t.tsecr);
                self.apply_sack(ctx, seg.options.sack.as_slice(), tsecr)
            } else {
                (0, None, false)
            };
        let dsack = dsack_end.is_some();
        self.rack.finish_ack();
        let in_recovery = self.recovery_point.is_some();
        let partial_ack =
            in_recovery && acked_bytes > 0 && self.recovery_point.is_some_and(|p| self.snd_una < p);
        let mut newly_lost = false;
        if self.state.is_synchronized() && (self.flight() > 0 || !self.rtx.segs.is_empty()) {
            newly_lost = self.detect_losses(ctx, dsack, partial_ack && !self.opts.sack);
        }
        // What this ACK delivered: bytes newly acknowledged that were not SACKed before, and
        // bytes newly SACKed.
        let newly_delivered =
            (acked_bytes - acked_delivered_before.min(acked_bytes)).saturating_add(newly_sacked);
        // Proportional rate reduction sets the window for it; without SACK a duplicate ACK
        // counts as one segment delivered (as Linux counts them).
        let reno_dupack = !self.opts.sack && acked_bytes == 0 && self.dupacks > dupacks_before;
        let prr_delivered = if reno_dupack {
            self.snd_mss
        } else {
            newly_delivered
        };
        self.prr_on_ack(prr_delivered, acked_bytes > 0, newly_lost);
        // Spurious-reduction checks come before window growth, so that an undone reduction grows
        // from the restored window as on Linux (tcp_fastretrans_alert before tcp_cong_control).
        if acked_bytes > 0 || dsack {
            // Eifel (RFC 3522) only on an ACK that covers retransmitted data: its echo then tells
            // which copy arrived. An ACK for older data echoes an older timestamp anyway.
            let tsecr = seg
                .options
                .timestamps
                .map(|t| t.tsecr)
                .filter(|_| self.opts.timestamps && acked_retransmitted);
            self.try_undo(ctx, tsecr, dsack_end);
        }
        self.frto_on_ack(
            ctx,
            acked_bytes > 0,
            orig_acked || orig_sacked,
            newly_sacked > 0,
            self.dupacks > dupacks_before,
        );
        // Congestion window growth (byte counting, RFC 3465) and recovery exit. The window
        // grows only on an ACK that acknowledges new data (RFC 5681 §3.1; Linux
        // tcp_may_raise_cwnd), by what it delivered, SACKed bytes included: a duplicate ACK
        // that only SACKs does not grow it, so limited transmit (RFC 3042) sends one segment
        // per duplicate ACK. Once the path has shown reordering deeper than DupThresh, SACKed
        // data counts as progress too (Linux: `tp->reordering > tcp_reordering` turns
        // tcp_may_raise_cwnd's test into FLAG_FORWARD_PROGRESS).
        let deep_reordering = self.rack.reorder_distance() > TCP_REORDERING * self.snd_mss;
        let delivered = if acked_bytes > 0 || (deep_reordering && newly_sacked > 0) {
            newly_delivered
        } else {
            0
        };
        if delivered > 0 {
            let may_grow = self.window_may_grow();
            if let Some(cc) = self.cc.as_mut() {
                cc.on_ack(now, delivered, rtt, flight_before, !may_grow);
            }
            self.tune_send_buffer(ctx.config);
        }
        // Linux tcp_cong_control ends with tcp_update_pacing_rate, for every ACK that arrives
        // with data outstanding.
        if flight_before > 0 {
            self.update_pacing_rate();
        }
        if let Some(point) = self.recovery_point {
            if self.snd_una >= point {
                self.end_recovery();
                if let Some(cc) = self.cc.as_mut() {
                    cc.on_recovery_exit(now);
                }
            }
        }
        if acked_bytes > 0 {
            self.maybe_clear_retrans_stamp();
            self.rtx_deadline = if self.flight() > 0 {
                Some(now + self.rto_now(now))
            } else {
                None
            };
            self.tlp_deadline = None;
        }

        // Our FIN acknowledged?
        let fin_acked = self.fin_seq.is_some_and(|f| ack > f);
        if fin_acked && old_una != ack {
            match self.state {
                State::FinWait1 => {
                    self.set_state(ctx, State::FinWait2);
                    self.arm_linger(ctx.now, ctx.config.fin_timeout);
                }
                State::Closing => {
                    self.set_state(ctx, State::TimeWait);
                }
                State::LastAck => {
                    self.terminate(ctx, None);
                }
                _ => {}
            }
        }
    }

    /// Queues in-order data, holds out-of-order data, and processes a FIN (RFC 9293 §3.10.7.4
    /// "seventh" and "eighth").
    pub(crate) fn accept_text(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>, seq: SeqNum) {
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        let mut payload = seg.payload;
        let mut start = seq;
        if !receiving {
            // The peer already sent its FIN: more data is ignored.
            if !payload.is_empty() {
                ctx.counters.dropped_segs += 1;
            }
            if seg.flags.fin() {
                self.ack_now = true;
            }
            return;
        }
        // Trim what we already have.
        let behind = self.rcv_nxt.diff(start);
        if behind > 0 {
            let cut = (behind as usize).min(payload.len());
            if cut > 0 {
                // Report the duplicate (RFC 2883 D-SACK).
                self.dsack = Some((start, start + cut as u32));
            }
            payload = &payload[cut..];
            start += cut as u32;
            if cut > 0 && payload.is_empty() && !seg.flags.fin() {
                ctx.counters.duplicate_data += 1;
                self.enter_quickack_mode();
                self.ack_now = true;
                return;
            }
        }
        if !payload.is_empty() && self.orphan {
            // New data for a socket nobody will read: reset, as Linux does (TCPAbortOnData).
            self.send_rst(ctx);
            self.terminate(ctx, Some(Error::ConnectionAborted));
            return;
        }
        // Nothing is trimmed at the right edge: the acceptability test let through only what
        // ends inside the window, or a whole segment while nothing waits to be read (Linux
        // tcp_data_queue). New data at a closed window, or starting at or beyond its right edge,
        // is dropped with an immediate ACK (TCPZeroWindowDrop; SKB_DROP_REASON_TCP_OVERWINDOW).
        let fin = seg.flags.fin();
        let wnd = self.rcv_adv.diff(start);
        if wnd <= 0 && (!payload.is_empty() || start != self.rcv_nxt) {
            if start == self.rcv_nxt {
                ctx.counters.zero_window_drops += 1;
            }
            ctx.counters.dropped_segs += 1;
            self.enter_quickack_mode();
            self.ack_now = true;
            return;
        }
        let offset = self.rcv_offset + start.diff(self.rcv_nxt).max(0) as u64;
        let data_len = payload.len() as u64;
        if start == self.rcv_nxt {
            let had_ooo = !self.ooo.is_empty();
            // All of it is taken: the acceptability test let through only what ends inside the
            // window we offered (even if scaling let that edge run a little past the buffer), or
            // a whole segment while nothing waits to be read (Linux sk_forced_mem_schedule),
            // which bounds the excess by one segment.
            let take = payload.len();
            debug_assert!(
                self.recv_buf.is_empty() || take as i64 <= i64::from(wnd),
                "in-order data past the window while data waits to be read"
            );
            // Keep the datagram itself when it was handed over (what the out-of-order queue
            // joins is appended behind it, in order); otherwise copy.
            match ctx.rx.keepable(payload) {
                Some(range) if take > 0 => {
                    self.recv_buf.push_pending(take);
                    ctx.rx.claim = Some((ctx.handle.index, range));
                }
                _ => self.recv_buf.push_copy(payload),
            }
            self.rcv_nxt += take as u32;
            self.rcv_offset += take as u64;
            if take > 0 {
                self.grow_window(take as u32);
                self.on_data_received(ctx, seg, take as u32);
            }
            // Held data that this segment brought again is a duplicate: the first such range
            // is reported, unless the part trimmed off above already is (RFC 2883; Linux
            // tcp_ofo_queue, whose tcp_dsack_extend cannot join the two: a hole lies between).
            if let Some((l, r)) = self.ooo.ranges().next().filter(|h| h.0 < self.rcv_offset) {
                let end = r.min(self.rcv_offset);
                self.dsack
                    .get_or_insert((start + (l - offset) as u32, start + (end - offset) as u32));
            }
            // Pull in whatever the out-of-order queue now joins.
            while let Some(more) = self.ooo.pop_at(self.rcv_offset) {
                self.rcv_nxt += more.len() as u32;
                self.rcv_offset += more.len() as u64;
                self.recv_buf.push_vec(more);
            }
            if had_ooo {
                // Filling a hole is acknowledged at once (RFC 5681 §4.2).
                self.ack_now = true;
            }
            if take > 0 {
                self.notify_readable(ctx);
            }
            if fin {
                self.ooo_fin = Some(self.rcv_offset);
            }
            if self.ooo_fin == Some(self.rcv_offset) {
                self.ooo_fin = None;
                self.on_fin(ctx);
            } else if take > 0 {
                self.schedule_ack(ctx);
            }
        } else {
            // Out of order: hold it and acknowledge at once, so the sender sees the hole.
            if data_len > 0 {
                // Bytes held already are reported as a duplicate (RFC 2883 §4: the D-SACK block
                // goes first, the SACK blocks of what is held after it), as Linux does.
                if let Some((l, r)) = self.ooo.first_overlap(offset, data_len) {
                    self.dsack = Some((start + (l - offset) as u32, start + (r - offset) as u32));
                    if r - l == data_len {
                        ctx.counters.duplicate_data += 1;
                    }
                }
                // The queue's budget: twice the buffer, each piece charged its overhead too
                // (Linux charges truesize against twice the window). Data held further ahead goes
                // first; if that is not enough, this segment is dropped (tcp_data_queue_ofo's
                // tcp_try_rmem_schedule, tcp_prune_ofo_queue).
                let budget = 2 * self.recv_cap.max(usize::from(self.our_mss));
                let cost = data_len as usize + crate::reassembly::PIECE_OVERHEAD;
                if self.ooo.cost() + cost > budget {
                    let room = budget.saturating_sub(cost);
                    if self.ooo.prune_from_top(offset + data_len, room) > 0 {
                        ctx.counters.ofo_pruned += 1;
                    }
                    if self.ooo.cost() + cost > budget {
                        ctx.counters.ofo_drop += 1;
                        ctx.counters.dropped_segs += 1;
                        self.ack_now = true;
                        return;
                    }
                }
                // A fifth block would push the oldest out of the SACK blocks Linux keeps: an
                // ACK held back goes first, with the blocks as they were
                // (tcp_sack_compress_send_ack).
                if self.compressed_acks > 0
                    && self.ooo.range_count() >= 4
                    && !self.ooo.touches(offset, data_len)
                {
                    self.send_ack(ctx);
                }
                let inserted = self.ooo.insert(offset, payload);
                ctx.counters.ofo_queue += 1;
                // Its size counts towards the estimate of the peer's segments too (recent
                // Linux's tcp_data_queue_ofo calls tcp_measure_rcv_mss).
                self.measure_rcv_mss(seg, data_len as u32);
                // New out-of-order data opens the window as in-order data does, so that a
                // loss does not hold the sender to the old window through its recovery; not
                // without SACK, where the duplicate ACKs should repeat the window exactly
                // (Linux tcp_data_queue_ofo).
                if self.opts.sack && inserted.new_bytes > 0 {
                    self.grow_window(data_len as u32);
                }
            }
            if fin {
                self.ooo_fin = Some(offset + data_len);
            }
            self.ack_out_of_order(ctx);
        }
    }

    /// Out-of-order data calls for an ACK at once, so that the sender sees the hole (RFC 5681
    /// §4.2), except that with SACK Linux compresses them (`__tcp_ack_snd_check`): once three
    /// duplicate ACKs went for the same `rcv_nxt`, further ones are held back for a twentieth of
    /// the round-trip time (at most `Config::comp_sack_delay`) and at most
    /// `Config::comp_sack_nr` in a row; the ACK that then goes carries all their SACK
    /// information. Quick-ACK mode, or more than a segment of in-order data not yet
    /// acknowledged, sends it at once.
    fn ack_out_of_order(&mut self, ctx: &mut Ctx<'_>) {
        let quick = !self.pingpong && self.quickacks > 0;
        if quick
            || self.rcv_unacked() > self.rcv_mss_estimate()
            || !self.opts.sack
            || self.compressed_acks >= ctx.config.comp_sack_nr
        {
            self.ack_now = true;
            return;
        }
        if self.dup_acks_rcv_nxt != self.rcv_nxt {
            self.dup_acks_rcv_nxt = self.rcv_nxt;
            self.dup_acks_sent = 0;
        }
        if self.dup_acks_sent < 3 {
            self.dup_acks_sent += 1;
            self.ack_now = true;
            return;
        }
        self.compressed_acks += 1;
        if self.comp_sack_deadline.is_none() {
            // The receiver's RTT estimate, or the sender's when that is smaller; none measured
            // yet means no delay: the ACK goes once the datagrams at hand are processed (Linux
            // starts its timer with a delay of 0, which fires after the softirq's batch).
            let srtt = self.rtt.srtt().unwrap_or(Duration::ZERO);
            let mut rtt = Duration::from_micros(u64::from(self.rcv_rtt_us8 / 8));
            if !srtt.is_zero() && srtt < rtt {
                rtt = srtt;
            }
            let delay = ctx.config.comp_sack_delay.min(rtt / 20);
            self.comp_sack_deadline = Some(ctx.now + delay);
        }
    }

    /// Opens the offered window after a well-sized segment (Linux `tcp_grow_window`): by two
    /// segments, or twice the segment, up to the buffer. Small segments do not grow it.
    fn grow_window(&mut self, len: u32) {
        let mss = u32::from(self.our_mss);
        if len.saturating_mul(2) < mss {
            return;
        }
        let clamp = self.recv_cap as u32;
        if self.rcv_ssthresh < clamp {
            let incr = (2 * mss).max(2 * len);
            self.rcv_ssthresh = self.rcv_ssthresh.saturating_add(incr).min(clamp);
        }
    }

    /// New in-order data arrived (Linux `tcp_event_data_recv`): the receiver's estimate of the
    /// peer's segment size grows to it (`tcp_measure_rcv_mss`), and the first data, or data
    /// after a pause longer than the RTO (a sender that did not restart its window), turns
    /// quick ACKs on (`tcp_incr_quickack`).
    fn on_data_received(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>, len: u32) {
        self.measure_rcv_mss(seg, len);
        self.rcv_rtt_measure(ctx.now);
        let pause = self
            .last_data_rcv
            .map(|t| ctx.now.saturating_duration_since(t));
        if pause.is_none_or(|p| p > self.rtt.rto()) {
            self.incr_quickacks();
        }
        self.last_data_rcv = Some(ctx.now);
    }

    /// A sample of the receiver's RTT estimate (Linux `tcp_rcv_rtt_update`): the first sample,
    /// or one below the estimate, replaces it; a larger one is averaged in (7/8 old) only when it
    /// came from a timestamp (`window` false), since the window measurement overestimates
    /// whenever the sender was not sending.
    pub(crate) fn rcv_rtt_update(&mut self, sample_us: u32, window: bool) {
        let m = sample_us.saturating_mul(8);
        let old = self.rcv_rtt_us8;
        if old == 0 || m < old {
            self.rcv_rtt_us8 = m;
        } else if !window {
            self.rcv_rtt_us8 = (old - (old >> 3)).saturating_add(sample_us);
        }
    }

    /// The receiver's RTT without timestamps (Linux `tcp_rcv_rtt_measure`): the time from one
    /// in-order arrival until the data a window beyond it has arrived.
    fn rcv_rtt_measure(&mut self, now: Instant) {
        if let Some((start, seq)) = self.rcv_rtt_start {
            if self.rcv_nxt < seq {
                return;
            }
            let us = now.saturating_duration_since(start).as_micros();
            self.rcv_rtt_update(u32::try_from(us).unwrap_or(u32::MAX).max(1), true);
        }
        self.rcv_rtt_start = Some((now, self.rcv_nxt + self.rcv_wnd()));
    }

    /// The receiver's RTT from the timestamp a full-sized data segment echoes (Linux
    /// `tcp_rcv_rtt_measure_ts`): once per TSecr, in whole milliseconds of our clock, none when
    /// less than one tick passed.
    fn rcv_rtt_measure_ts(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let Some(ts) = seg.options.timestamps.filter(|_| self.opts.timestamps) else {
            return;
        };
        if ts.tsecr == self.rcv_rtt_last_tsecr {
            return;
        }
        self.rcv_rtt_last_tsecr = ts.tsecr;
        if (seg.payload.len() as u32) < self.rcv_mss_estimate() {
            return;
        }
        let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
        if ms > 0 && ms < i32::MAX as u32 / 1000 {
            self.rcv_rtt_update(ms * 1000, false);
        }
    }

    /// A segment with `len` bytes of data arrived (Linux `tcp_measure_rcv_mss`). One at least
    /// as large as the estimate of the peer's segment size raises it, up to our MSS. A smaller
    /// one that still looks full-sized for its header (at least 536 bytes with the header, or
    /// 88 without PSH, URG, FIN or SYN) lowers the estimate to its size when the one before it
    /// had the same size; any other small one counts as pushed, and so does a full-sized one
    /// with PSH ([`Connection::ack_pushed`]).
    fn measure_rcv_mss(&mut self, seg: &TcpRepr<'_>, len: u32) {
        let last = core::mem::take(&mut self.last_seg_size);
        self.rcv_mss = self.rcv_mss_estimate();
        if len >= self.rcv_mss {
            self.rcv_mss = len.min(u32::from(self.our_mss).max(1));
            if seg.flags.psh() {
                self.ack_pushed = self.ack_pushed.max(1);
            }
            return;
        }
        const TCP_HEADER: u32 = 20;
        let remnant = seg
            .flags
            .intersects(TcpFlags::FIN | TcpFlags::URG | TcpFlags::SYN | TcpFlags::PSH);
        let with_header = len + TCP_HEADER + seg.options.wire_len() as u32;
        if with_header >= 536 + TCP_HEADER || (with_header >= 88 + TCP_HEADER && !remnant) {
            // Less the header every segment carries (with timestamps, their 12 bytes), so
            // that a varying number of SACK blocks does not change the size.
            let fixed = TCP_HEADER + if self.opts.timestamps { 12 } else { 0 };
            let size = with_header.saturating_sub(fixed);
            self.last_seg_size = size;
            if size == last {
                self.rcv_mss = size;
                return;
            }
        }
        self.ack_pushed = if self.ack_pushed > 0 { 2 } else { 1 };
    }

    /// The estimate of the peer's segment size: the one data has set, or before any data
    /// Linux's starting point (`tcp_initialize_rcv_mss`): the smaller MSS, half the window, at
    /// most 536 bytes.
    pub(crate) fn rcv_mss_estimate(&self) -> u32 {
        if self.rcv_mss > 0 {
            return self.rcv_mss;
        }
        u32::from(self.our_mss)
            .min(self.snd_mss)
            .min(self.rcv_wnd() / 2)
            .clamp(88, 536)
    }

    /// The window last offered, in bytes (Linux `tp->rcv_wnd`).
    fn rcv_wnd(&self) -> u32 {
        self.rcv_adv.diff(self.rcv_wup).max(0) as u32
    }

    /// Quick ACKs for half the offered window's worth of segments, at least 2 where that is
    /// none and at most 16 (Linux `tcp_incr_quickack` with `TCP_MAX_QUICKACKS`).
    fn incr_quickacks(&mut self) {
        let seg = self.rcv_mss_estimate();
        let quick = match self.rcv_wnd() / (2 * seg.max(1)) {
            0 => 2,
            n => n.min(16),
        };
        self.quickacks = self.quickacks.max(quick);
    }

    /// Old data arrived again: our ACK was probably lost, so the next ones go at once (Linux
    /// `tcp_enter_quickack_mode`: quick ACKs as [`Self::incr_quickacks`] gives them, and
    /// ping-pong mode left).
    fn enter_quickack_mode(&mut self) {
        self.incr_quickacks();
        self.pingpong = false;
    }

    /// Decides between an immediate and a delayed ACK for in-order data (RFC 9293 §3.8.6.3,
    /// RFC 5681 §4.2: at least every second full-sized segment).
    fn schedule_ack(&mut self, ctx: &mut Ctx<'_>) {
        // More than a segment's worth unacknowledged while less than half the buffer is free:
        // the application is not keeping up, and quick-ACK mode ends before it is consulted
        // (Linux __tcp_ack_snd_check calls __tcp_select_window first, which clears
        // icsk_ack.quick there). A single oversized (GSO) segment into a filling buffer is then
        // acknowledged by the delayed-ACK timer.
        if self.rcv_unacked() > self.snd_mss && self.recv_free() < self.recv_cap / 2 {
            self.quickacks = 0;
        }
        // More than one full segment's worth since the last ACK (Linux __tcp_ack_snd_check:
        // rcv_nxt - rcv_wup > rcv_mss), so two small segments wait for the timer; and, while
        // data waits to be read, only if the window offered would not shrink (the read sends
        // the ACK otherwise).
        let every_second = self.rcv_unacked() > self.rcv_mss_estimate()
            && (self.recv_buf.is_empty() || self.window_not_shrinking());
        if every_second || (!self.pingpong && self.quickacks > 0) {
            if !self.pingpong && self.quickacks > 0 {
                self.quickacks -= 1;
            }
            self.ack_due = true;
        } else if self.delack_deadline.is_none() {
            self.delack_deadline = Some(ctx.now + ctx.config.delayed_ack);
        }
    }

    /// The peer's FIN arrived in order (RFC 9293 §3.10.7.4 "eighth").
    fn on_fin(&mut self, ctx: &mut Ctx<'_>) {
        self.rcv_nxt += 1;
        self.fin_received = true;
        // Nothing can follow a FIN: data held beyond it is dropped and the SACK state reset,
        // a D-SACK waiting for the next ACK included (Linux tcp_fin: skb_rbtree_purge of the
        // out-of-order queue, tcp_sack_reset). A FIN that repeats data already read is
        // acknowledged without a D-SACK, as Linux does.
        self.ooo.clear();
        self.dsack = None;
        self.notify_readable(ctx);
        match self.state {
            State::Established => {
                // Linux enters delayed-ACK mode here, so an application that closes at once
                // sends its FIN together with this ACK. Before any data arrived its delayed-ACK
                // timeout is still zero (icsk_ack.ato), so the ACK goes at once.
                self.pingpong = true;
                self.set_state(ctx, State::CloseWait);
                // More than a full segment since our last ACK, the FIN included, is
                // acknowledged at once as well (Linux __tcp_ack_snd_check).
                // So is a FIN that finds the buffer full (Linux: tcp_try_rmem_schedule fails
                // and sets ICSK_ACK_NOW).
                if self.rcv_offset == 0
                    || self.rcv_unacked() > self.snd_mss
                    || self.recv_free() == 0
                {
                    self.ack_now = true;
                } else if self.delack_deadline.is_none() {
                    self.delack_deadline = Some(ctx.now + ctx.config.delayed_ack);
                }
            }
            State::FinWait1 => {
                let fin_acked = self.fin_seq.is_some_and(|f| self.snd_una > f);
                self.ack_now = true;
                if fin_acked {
                    self.set_state(ctx, State::TimeWait);
                } else {
                    self.set_state(ctx, State::Closing);
                }
            }
            State::FinWait2 => {
                self.ack_now = true;
                self.linger_deadline = None;
                self.set_state(ctx, State::TimeWait);
            }
            _ => {
                self.ack_now = true;
            }
        }
    }
}

/// What the two SYNs agree on (RFC 7323 §2.2, §3.2; RFC 2018 §2; RFC 9293 §3.7.1).
pub(crate) fn negotiate(config: &crate::Config, peer_syn: &TcpRepr<'_>) -> Negotiated {
    let o = &peer_syn.options;
    let ws = config.window_scaling && o.window_scale.is_some();
    Negotiated {
        peer_mss: o.mss.unwrap_or(config.default_peer_mss).max(64),
        snd_wscale: if ws {
            o.window_scale.unwrap_or(0).min(14)
        } else {
            0
        },
        rcv_wscale: if ws { config.window_scale_shift() } else { 0 },
        sack: config.sack && o.sack_permitted,
        timestamps: config.timestamps && o.timestamps.is_some(),
    }
}

/// What PAWS makes of a segment in a synchronized state ([`Connection::paws`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paws {
    /// Not an old duplicate.
    Pass,
    /// An old bare ACK, overtaken by newer segments: dropped without an answer.
    OldAck,
    /// An old duplicate: dropped and answered with an ACK.
    Reject,
}
