//! What a connection sends: SYN and SYN+ACK with their options, data within the peer's window
//! and the congestion window (RFC 9293 §3.8.6, RFC 6675 `pipe`), FIN, pure ACKs and window
//! updates; retransmissions of segments judged lost, on timeout (RFC 6298 §5, Karn's rule and
//! exponential backoff) and as tail loss probes (RFC 8985 §7); zero-window probes (RFC 9293
//! §3.8.6.1) and keepalive probes (RFC 1122 §4.2.3.6); giving up after `retries2` (RFC 1122
//! §4.2.3.5, timed as Linux does); the congestion window's validation and its restart after idle
//! (RFC 5681 §4.1, RFC 2861, in Linux's form). PSH (RFC 9293 §3.9.1, "PUSH") goes where a
//! capture of Linux shows it: on the segment that ends what the application wrote, and on the
//! last segment of each of the GSO packets Linux would have built (`tcp_tso_autosize` sizes them
//! from the pacing rate, `tcp_update_pacing_rate`).

use synack_wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::recovery::SentSeg;
use super::{Connection, Ctx};
use crate::chrono::SendChrono;
use crate::error::Error;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};

/// The `len` bytes of `buf` from `off`, as the (at most) two slices of the ring they lie in.
fn ring_parts(buf: &alloc::collections::VecDeque<u8>, off: usize, len: usize) -> [&[u8]; 2] {
    let (head, tail) = buf.as_slices();
    if off < head.len() {
        let end = (off + len).min(head.len());
        let rest = (len - (end - off)).min(tail.len());
        [&head[off..end], &tail[..rest]]
    } else {
        let t = (off - head.len()).min(tail.len());
        [&tail[t..(t + len).min(tail.len())], &[]]
    }
}

/// Builds one IP datagram carrying `tcp` for `tuple`, with `tos` as its TOS byte (IPv6 Traffic
/// Class), and queues it.
pub(crate) fn transmit(ctx: &mut Ctx<'_>, tuple: &crate::FourTuple, tos: u8, tcp: &TcpRepr<'_>) {
    transmit_parts(ctx, tuple, tos, tcp, [tcp.payload, &[]]);
}

/// [`transmit`] with the payload in two pieces (`tcp.payload` is ignored): the payload is copied
/// once, from the send buffer straight into the datagram.
fn transmit_parts(
    ctx: &mut Ctx<'_>,
    tuple: &crate::FourTuple,
    tos: u8,
    tcp: &TcpRepr<'_>,
    parts: [&[u8]; 2],
) {
    let mut buf = ctx.tx.buffer();
    if synack_wire::build_tcp_gather_into(
        &mut buf,
        tuple.local.ip(),
        tuple.remote.ip(),
        ctx.config.ttl,
        tos,
        tcp,
        parts,
    )
    .is_ok()
    {
        if tcp.flags.rst() {
            ctx.counters.out_rsts += 1;
        }
        ctx.counters.out_segs += 1;
        ctx.tx.push(buf);
    } else {
        ctx.tx.recycle(buf);
    }
}

/// The window a SYN or SYN+ACK offers for `space` bytes of receive space and segments of `mss`
/// payload bytes, as Linux's `tcp_select_initial_window`: rounded down to a multiple of `mss`
/// (when larger than one), then capped at 65535, the most an unscaled field holds. So a space of
/// 64 KiB offers 64240 with MSS 1460 (65160 with timestamps), and one that holds a whole
/// segment more than 65535 offers 65535.
pub(crate) fn initial_window_field(space: u32, mss: u32) -> u32 {
    let mss = mss.max(1);
    let space = if space > mss {
        space / mss * mss
    } else {
        space
    };
    space.min(65535)
}

impl Connection {
    /// The window field to put in an outgoing segment, updating the advertised right edge.
    /// The right edge never moves left (RFC 9293 §3.8.6.2.2), and small increases are held back
    /// (receiver-side silly window avoidance).
    pub(crate) fn select_window(&mut self, syn: bool) -> u16 {
        if syn {
            // Unscaled in SYN segments (RFC 7323 §2.2): Linux rounds the whole free space down
            // to a multiple of the MSS, then caps it at 65535 (tcp_select_initial_window). The
            // space is not bounded by rcv_ssthresh first: that starts at 65535 and would round
            // a large buffer's offer down to 64240.
            let space = u32::try_from(self.recv_free()).unwrap_or(u32::MAX);
            let w = initial_window_field(space, u32::from(self.our_mss));
            self.rcv_adv = self.rcv_nxt + w;
            self.rcv_ssthresh = w;
            self.last_window = w;
            return w as u16;
        }
        let wnd = self.window_wanted();
        self.rcv_wup = self.rcv_nxt;
        let shift = self.opts.rcv_wscale;
        let field = self.scaled_window(wnd);
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        self.last_window = field << shift;
        field as u16
    }

    /// The window we would offer now, in bytes, before scaling: free space, but no more than
    /// the window we are willing to offer yet (Linux `__tcp_select_window`: free_space =
    /// min(free_space, rcv_ssthresh)), and grown only in steps of at least one MSS (or half the
    /// buffer; receiver-side silly window avoidance).
    fn window_wanted(&self) -> u32 {
        let free = (self.recv_free() as u32).min(self.rcv_ssthresh);
        let current = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        let threshold = (self.recv_cap as u32 / 2).min(u32::from(self.our_mss));
        if free >= current.saturating_add(threshold) || free == self.rcv_ssthresh {
            free
        } else {
            current.min(free)
        }
    }

    /// `wnd` as the scaled window field: rounded up to the scale unit so that a small window is
    /// not scaled away, as Linux does (ALIGN in `__tcp_select_window`). Data up to that edge is
    /// always accepted, so the few bytes beyond the buffer are a soft limit.
    fn scaled_window(&self, wnd: u32) -> u32 {
        let shift = self.opts.rcv_wscale;
        let unit = 1u32 << shift;
        let aligned = if wnd == 0 {
            0
        } else {
            wnd.saturating_add(unit - 1) & !(unit - 1)
        };
        (aligned.min(65535u32 << shift) >> shift).min(65535)
    }

    /// True when an ACK now would not offer less than the last one did (Linux
    /// `__tcp_ack_snd_check`: `__tcp_select_window(sk) >= tp->rcv_wnd`). While it would, and
    /// data waits to be read, the ACK for every second segment waits: for the application's
    /// read ([`Self::ack_due_on_read`]) or the delayed-ACK timer.
    pub(crate) fn window_not_shrinking(&self) -> bool {
        let field = self.scaled_window(self.window_wanted());
        (field << self.opts.rcv_wscale) >= self.last_window
    }

    /// After the application read some data: an ACK is pending, and either more than one full
    /// segment's worth arrived since the last one (the once-per-two-segments ACK that the input
    /// path held back), or the read emptied the receive queue after small pushed segments, one
    /// outside ping-pong mode, two in it (Linux `tcp_cleanup_rbuf`). Out-of-order data held
    /// counts as not empty, as it does in Linux's `sk_rmem_alloc`.
    pub(crate) fn ack_due_on_read(&self) -> bool {
        if self.delack_deadline.is_none() {
            return false;
        }
        let pushed = self.ack_pushed >= 2 || (self.ack_pushed == 1 && !self.pingpong);
        self.rcv_unacked() > self.rcv_mss_estimate()
            || (pushed && self.recv_buf.is_empty() && self.ooo.is_empty())
    }

    /// True when reading freed enough space to tell the peer at once: the window we would offer
    /// is at least twice the one it has (Linux `tcp_cleanup_rbuf`).
    pub(crate) fn window_update_due(&self) -> bool {
        let now_wnd = self.rcv_adv.diff(self.rcv_nxt).max(0) as u32;
        let clamp = self.recv_cap as u32;
        if 2 * now_wnd > clamp {
            return false;
        }
        let free = (self.recv_free() as u32).min(self.rcv_ssthresh);
        let unit = 1u32 << self.opts.rcv_wscale;
        let new_wnd = free & !(unit - 1);
        new_wnd > 0 && new_wnd >= 2 * now_wnd
    }

    fn base_options(&self, now: Instant) -> TcpOptions {
        let mut opts = TcpOptions::default();
        if self.opts.timestamps {
            opts.timestamps = Some(Timestamps {
                tsval: self.ts_now(now),
                tsecr: self.ts_recent,
            });
        }
        let dsack = if self.opts.sack { self.dsack } else { None };
        if self.opts.sack && (!self.ooo.is_empty() || dsack.is_some()) {
            let mut blocks = SackBlocks::new();
            let mut max = if self.opts.timestamps { 3 } else { 4 };
            if let Some((l, r)) = dsack {
                blocks.push(SackBlock {
                    left: l.0,
                    right: r.0,
                });
                max -= 1;
            }
            for (s, e) in self.ooo.sack_ranges(max) {
                let left = self.rcv_nxt + (s - self.rcv_offset) as u32;
                let right = self.rcv_nxt + (e - self.rcv_offset) as u32;
                blocks.push(SackBlock {
                    left: left.0,
                    right: right.0,
                });
            }
            opts.sack = blocks;
        }
        opts
    }

    /// Sends one segment built from the current state. Every segment but the first SYN carries ACK.
    fn send(&mut self, ctx: &mut Ctx<'_>, flags: TcpFlags, seq: SeqNum, payload: &[u8]) {
        self.send_parts(ctx, flags, seq, [payload, &[]]);
    }

    /// Sends a segment carrying `len` bytes of the send buffer from offset `off`, copied straight
    /// from the buffer into the datagram.
    fn send_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        flags: TcpFlags,
        seq: SeqNum,
        off: usize,
        len: usize,
    ) {
        // Data sent within the delayed-ACK timeout of data received is a reply: the exchange is
        // interactive, and ACKs wait to ride on the replies (Linux tcp_event_data_sent, with
        // tcp_pingpong_thresh 1).
        if len > 0
            && self
                .last_data_rcv
                .is_some_and(|t| ctx.now.saturating_duration_since(t) < ctx.config.delayed_ack)
        {
            self.pingpong = true;
        }
        if len > 0 {
            self.last_data_sent = Some(ctx.now);
        }
        // Lend the buffer out while the segment is built (moving a VecDeque is three words).
        let buf = core::mem::take(&mut self.send_buf);
        self.send_parts(ctx, flags, seq, ring_parts(&buf, off, len));
        self.send_buf = buf;
    }

    /// [`Connection::send`] with the payload in two pieces.
    fn send_parts(&mut self, ctx: &mut Ctx<'_>, flags: TcpFlags, seq: SeqNum, parts: [&[u8]; 2]) {
        let syn = flags.syn();
        let mut options = if syn {
            self.syn_options(ctx, flags.ack())
        } else {
            self.base_options(ctx.now)
        };
        if syn && !flags.ack() {
            options.timestamps = if ctx.config.timestamps {
                Some(Timestamps {
                    tsval: self.ts_now(ctx.now),
                    tsecr: 0,
                })
            } else {
                None
            };
        }
        let window = self.select_window(syn);
        let ack = if flags.ack() { self.rcv_nxt.0 } else { 0 };
        if flags.ack() && self.dsack.take().is_some() && self.opts.sack {
            ctx.counters.dsacks_sent += 1;
        }
        let tcp = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: seq.0,
            ack,
            flags,
            window,
            urgent: 0,
            options,
            payload: &[],
        };
        transmit_parts(ctx, &self.tuple, self.tos, &tcp, parts);
        if flags.ack() {
            self.ack_now = false;
            self.ack_due = false;
            self.delack_deadline = None;
            self.ack_pushed = 0;
            // Whatever ACKs were held back, this one carries (Linux tcp_event_ack_sent).
            ctx.counters.ack_compressed += u64::from(core::mem::take(&mut self.compressed_acks));
            self.comp_sack_deadline = None;
        }
    }

    /// Options of our SYN (active open, or SYN+ACK of a simultaneous open): everything the
    /// configuration offers, or on a SYN+ACK what the peer offered too.
    fn syn_options(&self, ctx: &Ctx<'_>, is_synack: bool) -> TcpOptions {
        let cfg = ctx.config;
        let mut o = TcpOptions {
            mss: Some(self.our_mss),
            ..TcpOptions::default()
        };
        let (ws, sack, ts) = if is_synack {
            (
                cfg.window_scaling && self.opts.rcv_wscale > 0 || self.opts.snd_wscale > 0,
                self.opts.sack,
                self.opts.timestamps,
            )
        } else {
            (cfg.window_scaling, cfg.sack, cfg.timestamps)
        };
        if ws && cfg.window_scaling {
            o.window_scale = Some(cfg.window_scale_shift());
        }
        o.sack_permitted = sack;
        if ts {
            o.timestamps = Some(Timestamps {
                tsval: self.ts_now(ctx.now),
                tsecr: self.ts_recent,
            });
        }
        o
    }

    /// Sends our SYN (first transmission or retransmission).
    pub(crate) fn send_syn(&mut self, ctx: &mut Ctx<'_>) {
        self.send(ctx, TcpFlags::SYN, self.iss, &[]);
        self.snd_nxt = self.iss + 1;
    }

    /// Sends SYN+ACK (simultaneous open).
    pub(crate) fn send_synack(&mut self, ctx: &mut Ctx<'_>) {
        self.send(ctx, TcpFlags::SYN | TcpFlags::ACK, self.iss, &[]);
        self.snd_nxt = self.iss + 1;
    }

    /// The sequence number for a segment without data: the highest we have sent, unless the
    /// peer's window has shrunk below it (Linux `tcp_acceptable_seq`). After a timeout rewinds
    /// `snd_nxt`, an ACK must not carry a number the peer has already passed, or it is rejected.
    fn acceptable_seq(&self) -> SeqNum {
        let wnd_end = self.snd_una + self.snd_wnd;
        if self.snd_nxt <= wnd_end {
            self.snd_nxt
        } else {
            wnd_end
        }
    }

    /// Sends a pure ACK now.
    pub(crate) fn send_ack(&mut self, ctx: &mut Ctx<'_>) {
        let seq = self.acceptable_seq();
        self.send(ctx, TcpFlags::ACK, seq, &[]);
    }

    /// Sends RST with our current sequence number (ABORT, RFC 9293 §3.10.5).
    pub(crate) fn send_rst(&mut self, ctx: &mut Ctx<'_>) {
        let seq = self.acceptable_seq();
        self.send(ctx, TcpFlags::RST | TcpFlags::ACK, seq, &[]);
    }

    /// Option bytes the SACK blocks of the next segment take (`nop,nop,sack`), 0 without.
    fn sack_option_len(&self) -> u32 {
        if !self.opts.sack || (self.ooo.is_empty() && self.dsack.is_none()) {
            return 0;
        }
        let max = if self.opts.timestamps { 3 } else { 4 };
        let n = (self.ooo.range_count() + usize::from(self.dsack.is_some())).min(max) as u32;
        4 + 8 * n
    }

    /// Payload bytes the next segment may carry: the MSS less every option it carries, so that
    /// segments with SACK blocks still fit the path (Linux `tcp_current_mss`).
    pub(crate) fn payload_limit(&self) -> u32 {
        self.snd_mss.saturating_sub(self.sack_option_len()).max(1)
    }

    /// Bytes the application queued that have not been sent yet.
    pub(crate) fn unsent(&self) -> usize {
        let off = self.snd_nxt.diff(self.send_seq).max(0) as usize;
        self.send_buf.len().saturating_sub(off)
    }

    /// Bytes from SND.NXT to the end of the record being sent (`MSG_EOR`), if one ends ahead:
    /// no new segment goes past it.
    fn to_record_end(&self) -> usize {
        self.record_ends
            .iter()
            .find(|&&e| e > self.snd_nxt)
            .map_or(usize::MAX, |e| e.diff(self.snd_nxt) as usize)
    }

    /// Sequence number just past the last byte the application queued (where a FIN goes).
    pub(crate) fn send_end(&self) -> SeqNum {
        self.send_seq + self.send_buf.len() as u32
    }

    /// True in the states where we may send new data.
    fn can_send_data(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) && self.syn_acked
    }

    /// Sends what the windows allow: first segments judged lost (RFC 6675 §5 step C, as far as
    /// `pipe` stays below `cwnd`), then new data under Nagle and the peer's window, a FIN when it
    /// is due, and a pending ACK. Arms the retransmission and tail-loss-probe timers.
    pub(crate) fn output(&mut self, ctx: &mut Ctx<'_>) {
        if self.state == State::Closed {
            return;
        }
        let mut sent_any = false;
        let mut sent_new = false;
        if core::mem::take(&mut self.rto_head_only) {
            sent_any = true;
        } else if self.can_send_data() {
            // Retransmissions first, except while F-RTO tries new data (RFC 5682 §3.1 step 2b);
            // if none could go out, it gives up and the retransmissions follow after all.
            let frto_new = self.frto_new_data;
            if !frto_new {
                sent_any |= self.send_lost(ctx);
            }
            // Linux sends new data in TSO/GSO packets and forces PSH onto every one of more
            // than one segment (`__tcp_transmit_skb`, to flush the receiver's GRO), which a
            // packet capture sees on the last segment of each. synack sends segments one by
            // one and marks the same places: a packet takes what `tcp_write_xmit` gives one,
            // the fewest of `tcp_tso_segs`, the congestion-window quota (`tcp_cwnd_test`: at
            // most half the window, so that two packets are in flight), the peer's window and
            // the queued data.
            let max_segs = self.tso_segs(ctx.config) as usize;
            let mut packet_left = 0usize;
            let mut packet_multi = false;
            let mut packet = 0;
            // Data waited for the peer's window, not the congestion window (Linux
            // tcp_write_xmit's is_rwnd_limited: tcp_cwnd_test passed, tcp_snd_wnd_test failed).
            let mut rwnd_limited = false;
            loop {
                let off = self.snd_nxt.diff(self.send_seq).max(0) as usize;
                let unsent = self.send_buf.len().saturating_sub(off);
                let fin_due = self.fin_queued && unsent == 0 && self.snd_nxt == self.send_end();
                if fin_due {
                    let seq = self.snd_nxt;
                    self.send(ctx, TcpFlags::FIN | TcpFlags::ACK, seq, &[]);
                    self.fin_seq = Some(seq);
                    self.snd_nxt = seq + 1;
                    let packet = self.new_packet();
                    self.record_sent(seq, seq + 1, true, ctx.now, packet);
                    sent_any = true;
                    sent_new = true;
                    break;
                }
                if unsent == 0 {
                    break;
                }
                // The peer's window (RFC 9293 §3.8.6.2.1) and the congestion window.
                let wnd_room = (self.snd_una + self.snd_wnd).diff(self.snd_nxt).max(0) as u32;
                let cwnd_room = self.cwnd().saturating_sub(self.pipe());
                let usable = wnd_room.min(cwnd_room) as usize;
                if usable == 0 {
                    rwnd_limited = cwnd_room > 0;
                    break;
                }
                let flight = self.flight();
                let mss = self.payload_limit() as usize;
                let to_record_end = self.to_record_end();
                let len = unsent.min(mss).min(usable).min(to_record_end);
                let is_last = len == unsent;
                // The segment ends a record: not the last buffer queued, Linux sends it whatever
                // its size (tcp_write_xmit applies Nagle to the queue's tail only), and it is not
                // a window-trimmed piece for silly-window avoidance to hold.
                let record_end = len == to_record_end;
                // A cork (TCP_CORK, MSG_MORE) holds a small segment at the end of the queue
                // whatever is in flight, until more data fills it, the cork comes off, or the
                // probe timer lets it out (Linux tcp_nagle_check with TCP_NAGLE_CORK, then
                // tcp_write_wakeup); one before a FIN goes (tcp_nagle_test).
                if len < mss
                    && is_last
                    && (self.cork || self.more_pending)
                    && !self.push_once
                    && !self.fin_queued
                    && !self.persist_probe_due
                {
                    break;
                }
                // Nagle (RFC 9293 §3.7.4) in Minshall's form, as Linux: hold a small segment only
                // while an earlier small one is unacknowledged, and never the one before a FIN.
                if len < mss
                    && flight > 0
                    && !self.nodelay
                    && !(is_last && self.fin_queued)
                    && (!record_end || is_last)
                    && self.snd_sml > self.snd_una
                {
                    break;
                }
                // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): a part of what is
                // queued that is neither a full segment nor half the largest window the peer
                // offered waits, with data in flight for the ACKs, without for the persist
                // timer, whose expiry sends it as a window probe (the override timeout;
                // Linux tcp_snd_wnd_test, then tcp_write_wakeup).
                if len < mss
                    && !is_last
                    && !record_end
                    && (len as u32) < self.max_snd_wnd / 2
                    && !self.persist_probe_due
                {
                    rwnd_limited = wnd_room < cwnd_room;
                    break;
                }
                if packet_left == 0 {
                    let seg = self.snd_mss.max(1);
                    let cwnd_segs = (self.cwnd() / seg).max(1);
                    let in_flight = self.pipe().div_ceil(seg);
                    let quota = (cwnd_segs / 2)
                        .max(1)
                        .min(cwnd_segs.saturating_sub(in_flight));
                    let segs = max_segs.min(quota.max(1) as usize);
                    packet_left = segs
                        .saturating_mul(mss)
                        .min(unsent)
                        .min(wnd_room as usize)
                        .min(to_record_end)
                        .max(len);
                    packet_multi = packet_left > mss;
                    packet = self.new_packet();
                }
                let ends_packet = len >= packet_left;
                packet_left -= len.min(packet_left);
                let seq = self.snd_nxt;
                let mut flags = TcpFlags::ACK;
                // PSH where the application's write ends (Linux `tcp_push` marks the last
                // buffer of each write; one that ends a record keeps it) and where a
                // multi-segment GSO packet ends.
                // Data written with MSG_MORE is not pushed (tcp_push marks nothing).
                if (is_last && !self.more_pending) || record_end || (packet_multi && ends_packet) {
                    flags |= TcpFlags::PSH;
                }
                // A FIN rides on the last data segment when the application already closed.
                let with_fin = is_last && self.fin_queued;
                if with_fin {
                    flags |= TcpFlags::FIN;
                }
                self.send_data(ctx, flags, seq, off, len);
                if len < mss {
                    self.snd_sml = seq + len as u32;
                }
                self.snd_nxt = seq + len as u32;
                if with_fin {
                    self.fin_seq = Some(self.snd_nxt);
                    self.snd_nxt += 1;
                }
                self.record_sent(seq, self.snd_nxt, with_fin, ctx.now, packet);
                self.prr_sent(self.snd_nxt.diff(seq) as u32);
                sent_any = true;
                sent_new = true;
                if with_fin {
                    break;
                }
            }
            self.persist_probe_due = false;
            self.push_once = false;
            // Was the window the limit? (Linux tcp_write_xmit: no room for another full segment.)
            let limited = self.pipe().saturating_add(self.snd_mss) > self.cwnd();
            if sent_new || limited {
                self.validate_cwnd(limited);
            }
            let idle = self.send_idle();
            if rwnd_limited {
                self.send_times.start(ctx.now, SendChrono::RwndLimited);
            } else {
                self.send_times.stop(ctx.now, SendChrono::RwndLimited, idle);
            }
            // Everything queued went out, the window was not the limit, and the application
            // is waiting for buffer space: the send buffer is what holds the transfer back
            // (Linux tcp_cwnd_validate).
            if sent_new
                && !limited
                && self.unsent() == 0
                && self.nospace
                && matches!(self.state, State::Established | State::CloseWait)
            {
                self.send_times.start(ctx.now, SendChrono::SndbufLimited);
            }
            if frto_new && self.recovery_point.is_some_and(|high| self.snd_nxt <= high) {
                self.frto = false;
                self.frto_new_data = false;
                sent_any |= self.send_lost(ctx);
            }
            self.update_persist(ctx.now);
        }
        if (self.ack_now || self.ack_due) && !sent_any {
            self.send_ack(ctx);
        }
        let synchronizing = matches!(self.state, State::SynSent | State::SynReceived);
        if self.flight() > 0 && self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(ctx.now + self.rto_now(ctx.now));
        }
        if self.flight() == 0 && !synchronizing {
            self.rtx_deadline = None;
            self.tlp_deadline = None;
            self.reorder_deadline = None;
        }
        // RFC 8985 §7.2: the probe timer restarts after new data is sent (Linux
        // tcp_write_xmit -> tcp_schedule_loss_probe).
        if sent_new && !self.rack.tlp_outstanding() {
            self.tlp_deadline = None;
        }
        self.arm_tlp(ctx);
    }

    /// Records how fully the window is used (RFC 7661's idea in Linux's form,
    /// `tcp_cwnd_validate`): whether it was the limit is latched for a window of data, since the
    /// ACKs that grow it arrive a round trip later, and otherwise the most bytes outstanding in
    /// that window is kept, which lets slow start grow the window to twice that.
    fn validate_cwnd(&mut self, limited: bool) {
        let outstanding = self.flight();
        if self.snd_una >= self.cwnd_usage_seq
            || limited
            || (!self.cwnd_limited && outstanding > self.max_flight)
        {
            self.cwnd_limited = limited;
            self.max_flight = outstanding;
            self.cwnd_usage_seq = self.snd_nxt;
        }
    }

    /// Recomputes the pacing rate as Linux's `tcp_update_pacing_rate`: the window (or what is
    /// in flight, if more) per smoothed RTT, times 200 % in slow start (`cwnd` below half of
    /// `ssthresh`) and 120 % after (`tcp_pacing_ss_ratio`, `tcp_pacing_ca_ratio`). Without an
    /// RTT sample the rate stays unlimited.
    pub(crate) fn update_pacing_rate(&mut self) {
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let mss = u64::from(self.snd_mss.max(1));
        let (cwnd, ssthresh) = match self.cc.as_ref() {
            Some(cc) => (cc.cwnd(), cc.ssthresh()),
            None => return,
        };
        let ratio: u64 = if cwnd < ssthresh / 2 { 200 } else { 120 };
        let segs = (u64::from(cwnd) / mss).max(u64::from(self.flight()).div_ceil(mss));
        let srtt_us = u64::try_from(srtt.as_micros()).unwrap_or(u64::MAX).max(1);
        let rate = mss
            .saturating_mul(ratio)
            .saturating_mul(segs)
            .saturating_mul(10_000)
            / srtt_us;
        self.pacing_rate = Some(rate);
    }

    /// Segments in one of Linux's TSO/GSO packets (`tcp_tso_segs`, `tcp_tso_autosize`): about a
    /// millisecond of data at the pacing rate (`sk_pacing_shift` = 10), plus a share of the
    /// 64 KB GSO limit on paths under a few milliseconds (`tcp_tso_rtt_log` = 9), at least
    /// `min_tso_segs` and at most the GSO limit (64 KB less Linux's `MAX_TCP_HEADER + 1`).
    fn tso_segs(&self, config: &crate::Config) -> u32 {
        const GSO_MAX_SIZE: u64 = 65_536 - 321;
        let mss = u64::from(self.payload_limit().max(1));
        let mut bytes = self.pacing_rate.map_or(u64::MAX, |r| r >> 10);
        let r = self.rack.min_rtt().map_or(u64::MAX, |m| {
            u64::try_from(m.as_micros()).unwrap_or(u64::MAX) >> 9
        });
        if r < 32 {
            bytes = bytes.saturating_add(GSO_MAX_SIZE >> r);
        }
        let segs = bytes.min(GSO_MAX_SIZE) / mss;
        (segs as u32).max(config.min_tso_segs.max(1))
    }

    /// Whether ACKs may grow the window (Linux `tcp_is_cwnd_limited`): it was the limit in the
    /// current window of data, or, in slow start, it is below twice the most that was
    /// outstanding.
    pub(crate) fn window_may_grow(&self) -> bool {
        self.cwnd_limited
            || self.cc.as_ref().is_some_and(|cc| {
                cc.in_slow_start() && cc.cwnd() < self.max_flight.saturating_mul(2)
            })
    }

    /// The application queued data after a pause, or the peer's window opened on queued data:
    /// when nothing is outstanding and nothing was sent for longer than the RTO, the window
    /// restarts (RFC 5681 §4.1, RFC 2861; Linux
    /// `tcp_slow_start_after_idle_check` and `tcp_cwnd_restart`): halved once per RTO of
    /// idleness beyond the first, but not below the initial window (or the current one, if
    /// smaller).
    pub(crate) fn restart_after_idle(&mut self, ctx: &Ctx<'_>) {
        if !ctx.config.slow_start_after_idle || self.flight() > 0 || !self.state.is_synchronized() {
            return;
        }
        let Some(last) = self.last_data_sent else {
            return;
        };
        let rto = self.rtt.base_rto();
        let mut idle = ctx.now.saturating_duration_since(last);
        if idle <= rto {
            return;
        }
        let iw = crate::cc::initial_window(self.snd_mss, ctx.config.initial_window_segments);
        let Some(cc) = self.cc.as_mut() else {
            return;
        };
        let mut cwnd = cc.cwnd();
        let restart = iw.min(cwnd);
        while idle > rto && cwnd > restart {
            idle -= rto;
            cwnd /= 2;
        }
        cc.on_idle_restart(ctx.now, cwnd.max(restart));
    }

    /// Counts the segment just sent as a retransmission rather than a new one (Linux
    /// `RetransSegs`, `tcpi_total_retrans`).
    fn count_resent(&mut self, ctx: &mut Ctx<'_>) {
        ctx.counters.retrans_segs += 1;
        ctx.counters.out_segs -= 1;
        self.total_retrans = self.total_retrans.saturating_add(1);
    }

    /// Resends segments judged lost, in order, while `pipe` stays below `cwnd` (RFC 6675 §5 step
    /// C); the first one of an RTO recovery goes out whatever the window. Returns whether any
    /// did.
    fn send_lost(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let mut sent = false;
        // Where the packet being resent ends, if it has more than one segment.
        let mut packet_end: Option<SeqNum> = None;
        while let Some(i) = self.next_lost() {
            let rto_recovery_head = self.pipe() == 0;
            if self.pipe() >= self.cwnd() && !rto_recovery_head {
                break;
            }
            if packet_end.is_none_or(|end| self.rtx.segs[i].start >= end) {
                packet_end = self.resend_packet_end(ctx, i);
            }
            let psh = packet_end.is_some_and(|end| self.rtx.segs[i].end == end);
            self.retransmit_seg(ctx, i, psh);
            sent = true;
        }
        sent
    }

    /// A retransmission resends lost segments the way Linux resends an skb
    /// (`tcp_xmit_retransmit_queue`, `__tcp_retransmit_skb`): the run of lost segments from
    /// `i` that were first sent in the same TSO/GSO packet, back to back and none SACKed since,
    /// goes as one packet again, within what the window allows and the size of a packet; and
    /// Linux forces PSH onto a packet of more than one segment (`__tcp_transmit_skb`), which
    /// the wire shows on its last. Where such a run ends, when it has two segments or more.
    fn resend_packet_end(&self, ctx: &Ctx<'_>, i: usize) -> Option<SeqNum> {
        let first = self.rtx.segs.get(i)?;
        let room = self.cwnd().saturating_sub(self.pipe()).max(first.len());
        let max_segs = self.tso_segs(ctx.config) as usize;
        let waiting = |s: &SentSeg| s.lost && !s.retrans && !s.sacked && !s.fin;
        let (mut end, mut bytes, mut segs) = (first.end, first.len(), 1usize);
        for s in self.rtx.segs.iter().skip(i + 1) {
            if s.packet != first.packet
                || s.start != end
                || !waiting(s)
                || segs >= max_segs
                || bytes + s.len() > room
            {
                break;
            }
            end = s.end;
            bytes += s.len();
            segs += 1;
        }
        (segs > 1).then_some(end)
    }

    /// Numbers a new (emulated) TSO/GSO packet.
    pub(crate) fn new_packet(&mut self) -> u32 {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.packets_sent
    }

    /// Arms the tail loss probe (RFC 8985 §7.2): with SACK, data in flight, no recovery under
    /// way and no probe outstanding, a probe goes out after about two round trips, or at the
    /// RTO in the RTO's place when that comes first (as Linux does).
    fn arm_tlp(&mut self, ctx: &Ctx<'_>) {
        if !ctx.config.tail_loss_probe
            || !self.opts.sack
            || self.flight() == 0
            || self.recovery_point.is_some()
            || self.rack.tlp_outstanding()
            || self.tlp_deadline.is_some()
            || !self.state.is_synchronized()
        {
            return;
        }
        let rto_remaining = self
            .rtx_deadline
            .map(|d| d.saturating_duration_since(ctx.now));
        // Segments sent and not yet cumulatively acknowledged, a FIN on its own counting as one
        // (Linux `packets_out`).
        let segs = u32::try_from(self.rtx.segs.len()).unwrap_or(u32::MAX);
        // RFC 8985 §7.2's PTO with Linux's floors (tcp_schedule_loss_probe): 2·SRTT plus the
        // minimum RTO when one segment is in flight (its ACK may be delayed), plus 2 ms
        // otherwise, so that microsecond round trips do not probe too early.
        let pto = self
            .rack
            .tlp_timeout(self.rtt.srtt(), segs, ctx.config.min_rto, rto_remaining);
        let pto = if segs > 1 {
            pto + crate::time::Duration::from_millis(2)
        } else {
            pto
        };
        // A probe due after the pending RTO is cut to it and goes out in the RTO's place; the
        // RTO is then armed again from the probe (Linux tcp_schedule_loss_probe replaces the
        // retransmission timer with the probe timer). With one segment in flight this makes the
        // first resend a probe: timeouts back off only after it.
        let pto = rto_remaining.map_or(pto, |r| pto.min(r));
        self.tlp_deadline = Some(ctx.now + pto);
    }

    /// Arms the persist timer when the peer's window is zero and data waits (RFC 9293 §3.8.6.1),
    /// backing off exponentially from the RTO up to 120 s as Linux does.
    fn update_persist(&mut self, now: Instant) {
        // With nothing in flight, only the peer's window (closed, or too small for silly window
        // avoidance) can hold queued data back.
        let blocked = self.unsent() > 0 && self.flight() == 0;
        if !blocked {
            self.persist_deadline = None;
            self.persist_backoff = 0;
            self.persist_since = None;
            self.persist_probes = 0;
            return;
        }
        self.persist_since.get_or_insert(now);
        if self.persist_deadline.is_none() {
            self.persist_deadline = Some(now + self.persist_interval());
        }
    }

    /// The wait before the next zero-window probe: the RTO doubled once per probe sent, up to
    /// the maximum RTO (Linux tcp_probe0_when).
    fn persist_interval(&self) -> Duration {
        let mut d = self.rtt.base_rto();
        for _ in 0..self.persist_backoff {
            d = d.saturating_mul(2);
        }
        d.min(crate::time::Duration::from_secs(120))
    }

    /// Handles every timer that is due at `ctx.now`.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.linger_deadline.is_some_and(|d| d <= now) {
            self.linger_deadline = None;
            if self.state == State::FinWait2 {
                ctx.counters.fin_wait2_timeouts += 1;
                self.terminate(ctx, None);
                return;
            }
        }
        // The probe first: it is never armed beyond the RTO, and when both are due it takes the
        // RTO's place (sending it re-arms the RTO from now).
        if self.tlp_deadline.is_some_and(|d| d <= now) {
            self.tlp_deadline = None;
            self.send_loss_probe(ctx);
        }
        if self.rtx_deadline.is_some_and(|d| d <= now) {
            self.rtx_deadline = None;
            self.on_rto(ctx);
            if self.state == State::Closed {
                return;
            }
        }
        if self.reorder_deadline.is_some_and(|d| d <= now) {
            self.reorder_deadline = None;
            let in_recovery = self.recovery_point.is_some();
            if self.detect_losses(ctx, false, false) && !in_recovery {
                // Recovery begins at this timer: one segment's worth, as Linux's
                // tcp_rack_reo_timeout passes to tcp_cwnd_reduction, lets the first
                // retransmission out.
                self.prr_on_ack(self.snd_mss, false, true);
            }
        }
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            self.keepalive_deadline = None;
            if self.on_keepalive(ctx) {
                return;
            }
        }
        if self.persist_deadline.is_some_and(|d| d <= now) {
            self.persist_deadline = None;
            if let (Some(ut), Some(since)) = (self.user_timeout, self.persist_since) {
                if now.saturating_duration_since(since) >= ut {
                    ctx.counters.abort_on_timeout += 1;
                    self.terminate(ctx, Some(Error::TimedOut));
                    return;
                }
            }
            // A peer that stops answering probes is given up after `retries2` of them (Linux
            // tcp_probe_timer); any ACK from it starts the count again.
            let interval = self.persist_interval();
            let limit = self.retry_limit(ctx.config, interval < ctx.config.max_rto);
            if self.persist_probes >= limit {
                ctx.counters.abort_on_timeout += 1;
                let error = self.soft_error.unwrap_or(Error::TimedOut);
                self.terminate(ctx, Some(error));
                return;
            }
            self.persist_probes = self.persist_probes.saturating_add(1);
            self.persist_backoff = self.persist_backoff.saturating_add(1).min(16);
            if self.snd_wnd > 0 {
                // The window is open but small: what fits goes out now, in `output` below
                // (Linux tcp_write_wakeup).
                self.persist_probe_due = true;
            } else {
                // Zero-window probe as Linux sends it (tcp_xmit_probe_skb): an ACK with an old
                // sequence number, which the receiver must answer with its current window.
                let seq = self.snd_una - 1;
                self.send(ctx, TcpFlags::ACK, seq, &[]);
                self.update_persist(now);
            }
        }
        if self.comp_sack_deadline.is_some_and(|d| d <= now) {
            self.comp_sack_deadline = None;
            // One of the held-back ACKs goes now: it is not counted as saved (Linux
            // tcp_compressed_ack_kick).
            if self.compressed_acks > 0 {
                self.compressed_acks -= 1;
                self.ack_now = true;
            }
        }
        if self.delack_deadline.is_some_and(|d| d <= now) {
            self.delack_deadline = None;
            self.ack_now = true;
            // No reply came to carry the ACK: not an interactive exchange after all (Linux
            // tcp_delack_timer_handler leaves ping-pong mode).
            self.pingpong = false;
        }
        self.output(ctx);
    }

    /// The keepalive timer fired (RFC 1122 §4.2.3.6, Linux `tcp_keepalive_timer`): after the idle
    /// time with nothing outstanding, probe with an old sequence number so the peer must answer;
    /// give up after the configured number of unanswered probes. Returns true if the connection
    /// ended.
    fn on_keepalive(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some((_, _, probes)) = self.keepalive else {
            return false;
        };
        if !self.state.is_synchronized() {
            return false;
        }
        if self.flight() > 0 || self.unsent() > 0 {
            // The retransmission or persist timer watches the connection instead.
            self.keepalive_anchor = ctx.now;
            self.arm_keepalive();
            return false;
        }
        let too_long = self.user_timeout.is_some_and(|ut| {
            self.keepalive_out > 0 && ctx.now.saturating_duration_since(self.last_rcv) >= ut
        });
        if self.keepalive_out >= probes || too_long {
            // Linux resets the connection as it gives up (tcp_keepalive_timer).
            ctx.counters.abort_on_timeout += 1;
            self.send_rst(ctx);
            self.terminate(ctx, Some(Error::TimedOut));
            return true;
        }
        ctx.counters.keepalive_probes += 1;
        let seq = self.snd_una - 1;
        self.send(ctx, TcpFlags::ACK, seq, &[]);
        self.keepalive_out += 1;
        self.keepalive_anchor = ctx.now;
        self.arm_keepalive();
        false
    }

    /// The tail loss probe (RFC 8985 §7.3): new data if the windows allow, else the last
    /// segment again, so that a lost tail is repaired by SACK recovery instead of an RTO.
    fn send_loss_probe(&mut self, ctx: &mut Ctx<'_>) {
        if self.flight() == 0 || self.recovery_point.is_some() {
            return;
        }
        ctx.counters.loss_probes += 1;
        let off = self.snd_nxt.diff(self.send_seq).max(0) as usize;
        let unsent = self.send_buf.len().saturating_sub(off);
        let wnd_room = (self.snd_una + self.snd_wnd).diff(self.snd_nxt).max(0) as usize;
        if unsent > 0 && wnd_room > 0 {
            let to_record_end = self.to_record_end();
            let len = unsent
                .min(self.payload_limit() as usize)
                .min(wnd_room)
                .min(to_record_end);
            let seq = self.snd_nxt;
            // PSH on the segment that empties the queue or ends a record, as in `output`.
            let flags = if len == unsent || len == to_record_end {
                TcpFlags::ACK | TcpFlags::PSH
            } else {
                TcpFlags::ACK
            };
            self.send_data(ctx, flags, seq, off, len);
            self.snd_nxt = seq + len as u32;
            let packet = self.new_packet();
            self.record_sent(seq, self.snd_nxt, false, ctx.now, packet);
            self.rack.on_tlp_sent(self.snd_nxt, false);
        } else if let Some(last) = self.rtx.segs.len().checked_sub(1) {
            let end = self.rtx.segs[last].end;
            let since = self.retrans_since;
            self.retransmit_seg(ctx, last, false);
            // A probe is not a retransmission by timeout: the give-up clock starts at the first
            // of those (Linux's probe goes through __tcp_retransmit_skb, which leaves
            // retrans_stamp alone).
            self.retrans_since = since;
            self.rack.on_tlp_sent(end, true);
        }
        // RFC 8985 §7.3: after a probe the RTO timer is re-armed (restarted), so that it stays
        // the last resort should the probe fail too (Linux tcp_send_loss_probe, tcp_rearm_rto).
        if self.flight() > 0 {
            self.rtx_deadline = Some(ctx.now + self.rto_now(ctx.now));
        }
    }

    /// The retransmission timer expired (RFC 6298 §5.4-§5.7).
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        ctx.counters.timeouts += 1;
        let limit = match self.state {
            State::SynSent => ctx.config.syn_retries,
            State::SynReceived => ctx.config.synack_retries,
            _ => ctx.config.retries2,
        };
        // With a user timeout (RFC 5482), time since the oldest unacknowledged data was first
        // sent decides instead of the retry count, as on Linux.
        let expired = match self.user_timeout {
            Some(ut) => {
                ctx.now
                    .saturating_duration_since(self.oldest_unacked_sent())
                    >= ut
            }
            // The handshake's own timer starts at a fixed 1 s, so its count and its time agree.
            None if matches!(self.state, State::SynSent | State::SynReceived) => {
                self.retries >= limit
            }
            // Data and FIN: the count stands for the time that many timeouts would take from
            // the minimum RTO, measured from the first retransmission (Linux
            // retransmits_timed_out with tcp_model_timeout), so that a long path gives up no
            // later than a short one.
            None => {
                let alive = self.rtt.rto() < ctx.config.max_rto;
                let boundary = self.retry_limit(ctx.config, alive);
                self.retries > 0
                    && match self.retrans_since {
                        Some(first) => {
                            ctx.now.saturating_duration_since(first)
                                >= model_timeout(boundary, ctx.config.min_rto, ctx.config.max_rto)
                        }
                        None => self.retries >= boundary,
                    }
            }
        };
        if expired {
            ctx.counters.abort_on_timeout += 1;
            if matches!(self.state, State::SynSent | State::SynReceived) {
                ctx.counters.attempt_fails += 1;
            }
            let error = self.soft_error.unwrap_or(Error::TimedOut);
            self.terminate(ctx, Some(error));
            return;
        }
        self.retries += 1;
        let linear = self.state == State::SynSent && self.retries <= ctx.config.syn_linear_timeouts;
        if !linear {
            self.rtt.back_off();
        }
        self.rtt_probe = None;
        match self.state {
            State::SynSent => {
                self.syn_retransmitted = true;
                self.send(ctx, TcpFlags::SYN, self.iss, &[]);
                self.count_resent(ctx);
            }
            State::SynReceived => {
                self.syn_retransmitted = true;
                self.send(ctx, TcpFlags::SYN | TcpFlags::ACK, self.iss, &[]);
                self.count_resent(ctx);
            }
            _ => {
                self.enter_rto_recovery(ctx, self.retries > 1);
                // The head goes out now whatever the window (RFC 6298 §5.4), alone.
                if let Some(i) = self.next_lost() {
                    self.retransmit_seg(ctx, i, false);
                    self.rto_head_only = true;
                }
            }
        }
        self.rtx_deadline = Some(ctx.now + self.rto_now(ctx.now));
    }

    /// How many timeouts (or unanswered zero-window probes) the connection tolerates:
    /// `retries2`, or for an orphan `orphan_retries` while `alive` (its backed-off timer is still
    /// below the maximum RTO) and none after (Linux `tcp_orphan_retries`).
    fn retry_limit(&self, config: &crate::Config, alive: bool) -> u8 {
        match (self.orphan, alive) {
            (false, _) => config.retries2,
            (true, true) => config.orphan_retries,
            (true, false) => 0,
        }
    }

    /// Resends segment `i` of the retransmission queue (splitting it first if the path now takes
    /// less) and marks it retransmitted.
    /// Resends segment `i`; `psh`: it ends a resent packet of more than one segment (see
    /// `resend_packet_end`).
    pub(crate) fn retransmit_seg(&mut self, ctx: &mut Ctx<'_>, i: usize, psh: bool) {
        let limit = self.payload_limit();
        let Some(seg) = self.rtx.segs.get(i).copied() else {
            return;
        };
        let data_len = seg.len() - u32::from(seg.fin);
        if data_len > limit {
            self.rtx.split(i, seg.start + limit);
        }
        // Small segments merge into one retransmission (Linux tcp_retrans_try_collapse), but
        // not across the end of a record (tcp_skb_can_collapse).
        while !self
            .rtx
            .segs
            .get(i)
            .is_some_and(|s| self.record_ends.contains(&s.end))
            && self.rtx.collapse_next(i, limit)
        {}
        let Some(seg) = self.rtx.segs.get(i).copied() else {
            return;
        };
        let data_len = (seg.len() - u32::from(seg.fin)) as usize;
        let off = seg.start.diff(self.send_seq).max(0) as usize;
        let end = (off + data_len).min(self.send_buf.len());
        let start = off.min(end);
        let data_len = end - start;
        let mut flags = TcpFlags::ACK;
        // PSH marks the last segment of what the application queued, and stays with it when it
        // is resent (Linux keeps an skb's flags; tso_fragment leaves PSH on the tail): a
        // retransmission carries it only when it reaches the end of the queued data or of a
        // record.
        let data_end = self.send_seq + end as u32;
        if data_len > 0
            && (psh || end == self.send_buf.len() || self.record_ends.contains(&data_end))
        {
            flags |= TcpFlags::PSH;
        }
        if seg.fin {
            flags |= TcpFlags::FIN;
        }
        self.send_data(ctx, flags, seg.start, start, data_len);
        self.prr_sent(seg.len());
        self.count_resent(ctx);
        let now = ctx.now;
        let ts = self.ts_now(now);
        self.retrans_stamp.get_or_insert(ts);
        self.retrans_since.get_or_insert(now);
        if let Some(u) = self.undo.as_mut() {
            u.pending += 1;
            u.resent = true;
        }
        // A lost segment stays marked lost once resent (Linux keeps TCPCB_LOST beside
        // TCPCB_SACKED_RETRANS): RFC 6675's pipe then counts the retransmission, not the original.
        self.rtx.update(i, |s| {
            s.retrans = true;
            s.ever_retrans = true;
            s.xmit_ts = now;
            s.xmit_tsval = ts;
        });
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now + self.rto_now(now));
        }
    }
}

/// The time `boundary` retransmission timeouts take when the first is `base` and each doubles
/// up to `max`: what a retry count stands for (Linux `tcp_model_timeout`). With the defaults,
/// 15 gives 924.6 s and 8 gives 102.2 s.
pub(crate) fn model_timeout(boundary: u8, base: Duration, max: Duration) -> Duration {
    let base_ms = base.as_millis().max(1);
    let max_ms = max.as_millis().max(base_ms);
    // The number of doublings before the timer reaches the maximum (ilog2 of the ratio).
    let linear_after = (max_ms / base_ms).ilog2().min(64);
    let boundary = u32::from(boundary);
    let doubling = |n: u32| ((2u128 << n) - 1) * base_ms;
    let ms = if boundary <= linear_after {
        doubling(boundary)
    } else {
        doubling(linear_after) + u128::from(boundary - linear_after) * max_ms
    };
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_rounds_to_segments_then_caps_as_linux() {
        // Linux's default 128 KiB tcp_rmem[1] is 64 KiB of window space: 44 segments of 1460,
        // or 45 of 1448 with timestamps.
        assert_eq!(initial_window_field(65_536, 1460), 64_240);
        assert_eq!(initial_window_field(65_536, 1448), 65_160);
        // A larger space offers the whole field, unrounded (defaults.sh's tcp_rmem[1]).
        assert_eq!(initial_window_field(270_000, 1460), 65_535);
        assert_eq!(initial_window_field(131_072, 1000), 65_535);
        // SO_RCVBUF 20000: 13 segments.
        assert_eq!(initial_window_field(20_000, 1460), 18_980);
        // Less than a segment stays as it is.
        assert_eq!(initial_window_field(1_000, 1460), 1_000);
        assert_eq!(initial_window_field(5_000, 0), 5_000);
    }

    #[test]
    fn model_timeout_is_what_linux_computes_for_its_retry_counts() {
        let (min, max) = (Duration::from_millis(200), Duration::from_secs(120));
        // tcp_retries2 = 15: ten doublings from 200 ms, then six timeouts of 120 s.
        assert_eq!(model_timeout(15, min, max), Duration::from_millis(924_600));
        // tcp_orphan_retries' 8: 0.2 s x (2^9 - 1).
        assert_eq!(model_timeout(8, min, max), Duration::from_millis(102_200));
        // tcp_syn_retries = 6 from the 1 s initial RTO: 127 s.
        assert_eq!(
            model_timeout(6, Duration::from_secs(1), max),
            Duration::from_secs(127)
        );
        assert_eq!(model_timeout(0, min, max), min);
        // No overflow for any count or bound.
        assert!(model_timeout(u8::MAX, Duration::ZERO, Duration::MAX) > max);
    }
}
