//! TIME-WAIT as a compact entry instead of a whole connection (RFC 9293 §3.10.7.4 TIME-WAIT
//! STATE; Linux `tcp_minisocks.c`, `tcp_timewait_state_process`).
//!
//! The entry remembers only what it needs to answer a retransmitted FIN with the final ACK again
//! and restart its 2 MSL timer, to refuse old duplicates, and to accept a new SYN for the same
//! 4-tuple when that SYN is safely beyond the old connection (RFC 9293 §3.10.7.4, RFC 6191 with
//! timestamps), or to let `connect` take the 4-tuple over as Linux's `tcp_twsk_unique` does
//! (`Config::tw_reuse`). Its ACKs to bare out-of-window segments are rate-limited
//! ([`oow_rate_limited`], Linux `tcp_timewait_check_oow_rate_limit`), which also serves
//! connections.

use crate::seq::SeqNum;
use crate::time::Instant;
use crate::tuple::FourTuple;

/// One connection in TIME-WAIT.
#[derive(Clone, Debug)]
pub(crate) struct TimeWait {
    pub tuple: FourTuple,
    /// Our next sequence number (just past our FIN).
    pub snd_nxt: SeqNum,
    /// The peer's next sequence number (just past its FIN).
    pub rcv_nxt: SeqNum,
    /// Window field to put in our ACKs.
    pub window: u16,
    /// Timestamps in use: (TS.Recent, our clock offset).
    pub ts: Option<(u32, u32)>,
    /// When the entry ends.
    pub deadline: Instant,
    /// When the connection entered TIME-WAIT (Linux `tw_entry_stamp`).
    pub entered: Instant,
    /// The connection's TOS byte, kept for the ACKs the entry sends (Linux `tw_tos`).
    pub tos: u8,
    /// When the entry last answered an out-of-window segment (see [`oow_rate_limited`]).
    pub last_oow_ack: Option<Instant>,
}

/// PAWS's comparison (RFC 7323 §5.3 R1, Linux `tcp_paws_check`): a TSval lagging `TS.Recent`
/// by more than `window` ticks marks an old duplicate, unless `TS.Recent` is zero (some hosts
/// stamp their SYN with zero and only then start their clock). TIME-WAIT and SYN-RECEIVED use
/// a window of 0 (`tcp_paws_reject`); connections add their own allowances
/// (`Connection::paws`).
pub(crate) fn paws_check(ts_recent: u32, tsval: u32, window: i32) -> bool {
    (ts_recent.wrapping_sub(tsval) as i32) <= window || ts_recent == 0
}

/// Whether an ACK in reply to an out-of-window or PAWS-rejected segment must be held back
/// (Linux `tcp_oow_rate_limited`): segments carrying data (not SYNs) always get theirs; the
/// others at most one per `interval`, `last` recording when the last one went.
pub(crate) fn oow_rate_limited(
    last: &mut Option<Instant>,
    now: Instant,
    seg: &synack_wire::TcpRepr<'_>,
    interval: crate::time::Duration,
) -> bool {
    if !seg.payload.is_empty() && !seg.flags.syn() {
        return false;
    }
    if last.is_some_and(|t| now >= t && now.saturating_duration_since(t) < interval) {
        return true;
    }
    *last = Some(now);
    false
}

/// What to do with a segment that reached a TIME-WAIT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TwAction {
    /// Nothing (dropped).
    Drop,
    /// Send the final ACK again and restart the 2 MSL timer.
    AckAndRestart,
    /// Send the final ACK again; the timer keeps running.
    Ack,
    /// Restart the timer only.
    Restart,
    /// The entry ends now (an in-window RST, as Linux with `tcp_rfc1337` = 0).
    Kill,
    /// A new SYN that is safely beyond the old connection: end the entry and let the listener take
    /// it, with an initial sequence number past the old one.
    NewSyn,
}

impl TimeWait {
    /// Decides how to answer a segment (after Linux's `tcp_timewait_state_process`).
    pub fn classify(&self, seg: &synack_wire::TcpRepr<'_>) -> TwAction {
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let seg_len = seg.payload.len() as u32 + u32::from(f.syn()) + u32::from(f.fin());
        let tsval = seg.options.timestamps.map(|t| t.tsval);
        // PAWS (RFC 7323 §5): a timestamp older than TS.Recent marks an old duplicate.
        let paws_reject = match (self.ts, tsval) {
            (Some((recent, _)), Some(v)) => !paws_check(recent, v, 0),
            _ => false,
        };
        if !paws_reject && seq == self.rcv_nxt && (seg_len == 0 || f.rst()) {
            // In-window: a bare ACK or a RST.
            return if f.rst() {
                TwAction::Kill
            } else {
                TwAction::Restart
            };
        }
        if f.syn() && !f.rst() && !f.ack() && !paws_reject {
            let newer_ts = match (self.ts, tsval) {
                (Some((recent, _)), Some(v)) => (v.wrapping_sub(recent) as i32) > 0,
                _ => false,
            };
            if seq > self.rcv_nxt || newer_ts {
                return TwAction::NewSyn;
            }
        }
        if f.rst() {
            return TwAction::Drop;
        }
        if paws_reject || f.ack() {
            TwAction::AckAndRestart
        } else {
            TwAction::Ack
        }
    }
}
