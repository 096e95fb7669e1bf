//! One TCP connection: the transmission control block (RFC 9293 §3.3.1) and its state machine
//! (RFC 9293 §3.3.2, §3.10).
//!
//! `input.rs` processes arriving segments (RFC 9293 §3.10.7), `output.rs` decides what to send
//! (RFC 9293 §3.8, RFC 6298 retransmission), `recovery.rs` keeps the retransmission queue and
//! finds losses (RFC 2018, RFC 6675, RFC 8985) and paces fast recovery (RFC 6937); the congestion
//! window comes from [`crate::cc`]. The connection never performs I/O: it writes packets into the
//! endpoint's transmit queue and reports events, and it tells the endpoint its next deadline.

mod input;
mod output;
mod recovery;

pub(crate) use input::negotiate;
pub(crate) use output::initial_window_field;

use alloc::collections::VecDeque;

use crate::chrono::{SendChrono, SendTimes};
use crate::config::Config;
use crate::counters::Counters;
use crate::error::Error;
use crate::event::{ConnHandle, Event};
use crate::reassembly::Reassembly;
use crate::rtt::RttEstimator;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};
use crate::tuple::FourTuple;

/// What a connection needs from its endpoint while it handles one event.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub config: &'a Config,
    pub tx: &'a mut crate::txq::TxQueue,
    /// The datagram being received, when the driver handed it over by value.
    pub rx: &'a mut RxDatagram,
    pub events: &'a mut VecDeque<Event>,
    pub counters: &'a mut Counters,
    pub handle: ConnHandle,
}

/// Where the datagram being received lies, so that a connection can keep it instead of copying
/// its payload (see [`crate::recvbuf`]).
#[derive(Debug, Default)]
pub(crate) struct RxDatagram {
    /// Address of its first byte (only compared with payload addresses, never dereferenced).
    pub base: usize,
    /// Its length; 0 when the datagram was lent, not given, and must be copied from.
    pub len: usize,
    /// Its capacity (what keeping it costs).
    pub capacity: usize,
    /// The connection that queued its payload, and where in it the payload lies.
    pub claim: Option<(u32, core::ops::Range<usize>)>,
}

impl RxDatagram {
    /// Where `payload` (a slice of the datagram) lies in it, if the datagram may be kept for it:
    /// it was handed over by value and the payload is at least half of its allocation.
    pub(crate) fn keepable(&self, payload: &[u8]) -> Option<core::ops::Range<usize>> {
        let start = (payload.as_ptr() as usize).checked_sub(self.base)?;
        let end = start.checked_add(payload.len())?;
        let worth = payload.len() >= crate::recvbuf::MIN_KEEP
            && self.capacity <= payload.len().saturating_mul(2);
        (self.claim.is_none() && end <= self.len && worth).then_some(start..end)
    }
}

impl Ctx<'_> {
    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }
}

/// Options agreed in the handshake (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// MSS the peer announced (or the default).
    pub peer_mss: u16,
    /// Shift to apply to the peer's window field.
    pub snd_wscale: u8,
    /// Shift the peer applies to our window field.
    pub rcv_wscale: u8,
    /// Both sides sent SACK-permitted.
    pub sack: bool,
    /// Both sides sent timestamps.
    pub timestamps: bool,
}

/// The transmission control block.
pub(crate) struct Connection {
    pub tuple: FourTuple,
    pub state: State,
    /// The deadline this connection has in the endpoint's timing wheel, if any.
    pub scheduled: Option<Instant>,
    /// A `Readable` / `Writable` event is queued and not drained yet.
    pub readable_pending: bool,
    pub writable_pending: bool,
    /// The application holds a handle (false once it closed, or before accept()).
    pub app_owned: bool,
    /// The application called close(): nothing more will be read.
    pub orphan: bool,
    /// Index of the listener whose accept queue holds this connection, until accepted.
    pub listener: Option<u32>,
    pub error: Option<Error>,
    /// The application has been told about `error` by a failing call.
    pub error_reported: bool,

    // Send sequence space (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// Bytes from `send_seq` on: sent-unacknowledged, then unsent.
    pub send_buf: VecDeque<u8>,
    /// Sequence number of `send_buf[0]`.
    pub send_seq: SeqNum,
    /// Where records the application ended with `MSG_EOR` end, not yet acknowledged: no segment
    /// crosses one, so a record's last byte ends a segment (Linux `skb->eor`, which
    /// `tcp_skb_can_collapse` keeps later data out of).
    pub record_ends: VecDeque<SeqNum>,
    /// Data bytes acknowledged so far (part #1 of the send window).
    pub bytes_acked: u64,
    pub send_cap: usize,
    /// The application fixed `send_cap` (`SO_SNDBUF`; Linux `SOCK_SNDBUF_LOCK`): no auto-tuning.
    pub send_cap_locked: bool,
    /// The application shut down writing: a FIN follows the data.
    pub fin_queued: bool,
    /// Sequence number of our FIN once sent.
    pub fin_seq: Option<SeqNum>,
    pub syn_acked: bool,

    // Receive sequence space.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Right edge of the window offered so far (the furthest; data up to it is accepted).
    pub rcv_adv: SeqNum,
    /// The window (in bytes, scaled) carried by the segment we sent last.
    pub last_window: u32,
    /// RCV.NXT when we last advertised a window (Linux `rcv_wup`): the left edge the peer may
    /// still be sending against.
    pub rcv_wup: SeqNum,
    pub recv_buf: crate::recvbuf::RecvBuf,
    pub recv_cap: usize,
    /// The most window we offer now (Linux `rcv_ssthresh`): starts at the window of our SYN and
    /// grows by two segments per full-sized segment received (`tcp_grow_window`), up to the
    /// buffer, so the window opens as the peer proves it sends well.
    pub rcv_ssthresh: u32,
    /// Dynamic right-sizing (Linux `rcvq_space`): bytes the application read since `drs_time`.
    pub drs_copied: usize,
    pub drs_time: Instant,
    /// What the application read in the last measured round trip (`rcvq_space.space`); 0 until
    /// the first measurement, which starts from ten segments or the window, if smaller.
    pub drs_space: usize,
    pub ooo: Reassembly,
    /// Stream offset of `rcv_nxt` (bytes received in order so far).
    pub rcv_offset: u64,
    /// Stream offset of a FIN that arrived out of order.
    pub ooo_fin: Option<u64>,
    pub fin_received: bool,

    // Options.
    pub opts: Negotiated,
    /// Our announced MSS.
    pub our_mss: u16,
    /// Payload bytes per full-sized segment we send (MSS less option overhead).
    pub snd_mss: u32,
    pub ts_recent: u32,
    /// When `ts_recent` was last recorded (Linux `ts_recent_stamp`): PAWS stops trusting a
    /// `TS.Recent` idle for 24 days (RFC 7323 §5.5).
    pub ts_recent_stamp: Instant,
    pub ts_offset: u32,

    // Retransmission.
    pub rtt: RttEstimator,
    pub rtx_deadline: Option<Instant>,
    /// Retransmissions of the current head segment (or SYN / SYN+ACK).
    pub retries: u8,
    /// Segments retransmitted over the connection's life (Linux `total_retrans`).
    pub total_retrans: u32,
    /// A segment being timed: (sequence number that acknowledges it, when it was sent).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    pub syn_retransmitted: bool,
    /// When the first transmission of the SYN (or SYN+ACK) went out.
    pub syn_sent_at: Instant,
    pub persist_deadline: Option<Instant>,
    pub persist_backoff: u32,
    /// The persist timer expired with the peer's window open but too small for silly window
    /// avoidance: the next `output` sends what fits.
    pub persist_probe_due: bool,
    /// A retransmission timeout just resent the head: nothing else goes out until an ACK
    /// comes (Linux tcp_retransmit_timer sends that one segment, whatever `cwnd` in bytes
    /// would allow of small ones).
    pub rto_head_only: bool,
    /// When data (new or resent) last went out (Linux `lsndtime`): the idle restart measures
    /// from it.
    pub last_data_sent: Option<Instant>,
    /// The window was the limit during the last round of sending (Linux `is_cwnd_limited`,
    /// latched by `tcp_cwnd_validate` for a window of data): ACKs then grow it.
    pub cwnd_limited: bool,
    /// Time spent sending, by what limited it (`tcp_info`'s busy and limited times).
    pub send_times: SendTimes,
    /// The TOS byte (IPv6 Traffic Class) of every datagram sent: the DSCP the application
    /// chose (`IP_TOS`, `IPV6_TCLASS`), the ECN field zero.
    pub tos: u8,
    /// Emulated TSO/GSO packets of new data sent so far (what numbers `SentSeg::packet`).
    pub packets_sent: u32,
    /// When an ACK last answered an out-of-window or PAWS-rejected segment (Linux
    /// `last_oow_ack_time`).
    pub last_oow_ack: Option<Instant>,
    /// `TCP_CORK`: a partial segment at the end of the queue waits for more data, for the
    /// cork to be removed, or for the probe timer (Linux `TCP_NAGLE_CORK`).
    pub cork: bool,
    /// The last write said more was coming (`MSG_MORE`): held as with the cork, and no PSH.
    pub more_pending: bool,
    /// The next output sends a held partial segment whatever the cork (Linux `TCP_NAGLE_PUSH`,
    /// which turning `TCP_NODELAY` on sets).
    pub push_once: bool,
    /// The application wanted to queue more than the send buffer took, and not enough has
    /// been freed since (Linux `SOCK_NOSPACE`).
    pub nospace: bool,
    /// The most bytes outstanding since the latch was last set (Linux `max_packets_out`): slow
    /// start grows the window up to twice this even when it was not the limit.
    pub max_flight: u32,
    /// The latch above holds until SND.UNA passes this (Linux `cwnd_usage_seq`).
    pub cwnd_usage_seq: SeqNum,
    /// When the peer's zero window first stopped us (for the user timeout).
    pub persist_since: Option<Instant>,
    /// Zero-window probes sent since the peer last answered anything (Linux `icsk_probes_out`):
    /// a peer that answers keeps the connection open indefinitely (RFC 1122 §4.2.2.17), one that
    /// stops answering is given up after `retries2` probes.
    pub persist_probes: u8,

    // Acknowledgment policy.
    pub ack_now: bool,
    /// An ACK is owed for in-order data (every second full-sized segment, or a quick ACK), but
    /// may cover the other segments that arrived with it: the endpoint sends it once the
    /// datagrams handed over together have been processed, as Linux acknowledges a GRO batch.
    pub ack_due: bool,
    /// The connection waits in the endpoint's list of deferred output.
    pub output_pending: bool,
    pub delack_deadline: Option<Instant>,
    /// ACKs for out-of-order data held back since the last ACK went out (Linux
    /// `tp->compressed_ack`, SACK compression).
    pub compressed_acks: u32,
    /// When the held-back ACK goes (Linux `compressed_ack_timer`).
    pub comp_sack_deadline: Option<Instant>,
    /// `rcv_nxt` when the duplicate ACKs were last counted (`compressed_ack_rcv_nxt`).
    pub dup_acks_rcv_nxt: SeqNum,
    /// Duplicate ACKs sent at once for the current `rcv_nxt` (`dup_ack_counter`): the first
    /// three are never held back, so that a sender without SACK-based recovery still sees them.
    pub dup_acks_sent: u8,
    /// Remaining segments to acknowledge at once (Linux quick-ACK mode): the first data and data
    /// after a pause longer than the RTO set it to half the window's worth of segments.
    pub quickacks: u32,
    /// The peer's segment size as the receiver estimates it (Linux `icsk_ack.rcv_mss`): 0 until
    /// the first data arrives, then at most 536 and grown to the largest segment seen, up to
    /// our MSS, or lowered to a smaller size that two segments in a row had
    /// ([`Self::last_seg_size`]). It counts the segments of a window for quick-ACK mode.
    pub rcv_mss: u32,
    /// The payload size of the last segment that looked full-sized for its header (Linux
    /// `icsk_ack.last_seg_size`): two in a row of the same size below [`Self::rcv_mss`] set it.
    pub last_seg_size: u32,
    /// Pushed segments since our last ACK, small ones or full-sized ones with PSH (Linux
    /// `ICSK_ACK_PUSHED`, and `ICSK_ACK_PUSHED2` at 2): when a read empties the receive queue,
    /// the held ACK goes at once, after one of them outside ping-pong mode, after two in it.
    pub ack_pushed: u8,
    /// Delayed-ACK ("ping-pong") mode, as Linux's: entered when we send data within the
    /// delayed-ACK timeout of receiving some (an interactive exchange, whose ACKs ride on the
    /// replies) or when the peer's FIN arrives; left when the delayed-ACK timer has to send a
    /// bare ACK after all, or when old data arrives (quick-ACK mode again).
    pub pingpong: bool,
    /// When in-order data last arrived (Linux `icsk_ack.lrcvtime`).
    pub last_data_rcv: Option<Instant>,
    /// The receiver's estimate of the round-trip time, in eighths of a microsecond, 0 until
    /// measured (Linux `rcv_rtt_est.rtt_us`): from the timestamps the peer echoes on full-sized
    /// data, or without them the time a window of data takes to arrive. It paces receive-buffer
    /// auto-tuning and sizes SACK compression's delay.
    pub rcv_rtt_us8: u32,
    /// The window measurement without timestamps: when it started, and the sequence number that
    /// ends it (`rcv_rtt_est.time`, `rcv_rtt_est.seq`).
    pub rcv_rtt_start: Option<(Instant, SeqNum)>,
    /// The TSecr of the last timestamp sample (`rcv_rtt_last_tsecr`).
    pub rcv_rtt_last_tsecr: u32,
    /// When an acceptable ACK last arrived (Linux `rcv_tstamp`).
    pub last_ack_rcv: Option<Instant>,
    /// When the connection reached ESTABLISHED; the `last_*` times start there, as Linux's.
    pub established_at: Option<Instant>,
    /// Linux's `sk_pacing_rate` in bytes per second, as `tcp_update_pacing_rate` computes it
    /// (none until the passive handshake completes or the first ACK of data: unlimited). synack
    /// does not pace; the rate sizes the GSO packets whose ends carry PSH.
    pub pacing_rate: Option<u64>,

    // Congestion control and loss recovery.
    /// The congestion-control algorithm chosen for this connection.
    pub cc_algorithm: crate::cc::Algorithm,
    /// The congestion controller, once the handshake fixed the MSS.
    pub cc: Option<alloc::boxed::Box<dyn crate::cc::CongestionControl + Send>>,
    /// Segments in flight with their marks.
    pub rtx: recovery::RtxQueue,
    /// RACK-TLP state (RFC 8985).
    pub rack: crate::rack::Rack,
    /// Duplicate ACKs in a row (RFC 5681 §3.2).
    pub dupacks: u32,
    /// In fast or RTO recovery until SND.UNA reaches this (RFC 6582 `recover`, RFC 6675
    /// `RecoveryPoint`).
    pub recovery_point: Option<SeqNum>,
    /// RACK's reordering timer (RFC 8985 §6.3).
    pub reorder_deadline: Option<Instant>,
    /// Tail loss probe timer (RFC 8985 §7).
    pub tlp_deadline: Option<Instant>,
    /// Undo bookkeeping of the last recovery (Linux `undo_marker`, `undo_retrans`): kept after
    /// the recovery ends, so that late D-SACKs can still prove it spurious.
    pub undo: Option<recovery::Undo>,
    /// Our TSval when the first retransmission still outstanding went out (Eifel detection, RFC
    /// 3522 §3.2): kept from one recovery into the next while any retransmitted segment is
    /// unacknowledged, so that an ACK for a segment resent in an earlier recovery, echoing that
    /// resend's TSval, is not taken as proof that this recovery was spurious. Linux
    /// `retrans_stamp`, cleared as `tcp_try_to_open` clears it.
    pub retrans_stamp: Option<u32>,
    /// When the first retransmission not yet acknowledged went out: [`retrans_stamp`] on the
    /// engine's clock, from which the `retries2` time limit runs (Linux `retransmits_timed_out`).
    ///
    /// [`retrans_stamp`]: Self::retrans_stamp
    pub retrans_since: Option<Instant>,
    /// In RTO recovery (Linux `TCP_CA_Loss`): from a retransmission timeout until SND.UNA reaches
    /// the recovery point or the timeout proves spurious.
    pub in_loss: bool,
    /// F-RTO (RFC 5682 §3) is testing the current timeout (Linux `tp->frto`).
    pub frto: bool,
    /// F-RTO step 2b: until the next ACK, transmissions send new data and not the segments
    /// marked lost (Linux `REXMIT_NEW`); if no new data can go out, F-RTO gives up.
    pub frto_new_data: bool,
    /// Proportional rate reduction during fast recovery (RFC 6937): while set, it and not the
    /// congestion controller gives the window.
    pub prr: Option<recovery::Prr>,
    /// A duplicate we received, to report as the first SACK block of our next ACK (RFC 2883).
    pub dsack: Option<(SeqNum, SeqNum)>,

    /// An ICMP error that did not abort the connection (RFC 1122 §4.2.3.9 soft error); reported
    /// instead of `TimedOut` if the connection later gives up, as Linux does.
    pub soft_error: Option<Error>,
    /// Largest segment payload the path carries, from ICMP fragmentation-needed / packet-too-big
    /// (RFC 1191, RFC 8201); `u32::MAX` until one arrives.
    pub pmtu_mss: u32,
    /// End of the last segment sent smaller than a full one (Minshall's Nagle variant, as Linux's
    /// `snd_sml`).
    pub snd_sml: SeqNum,
    /// RFC 5482 user timeout of this connection.
    pub user_timeout: Option<Duration>,
    /// Keepalive of this connection: (idle, interval, probes), when on.
    pub keepalive: Option<(Duration, Duration, u8)>,
    pub keepalive_deadline: Option<Instant>,
    /// Keepalive probes sent without an answer.
    pub keepalive_out: u8,
    /// When the last segment arrived (Linux `rcv_tstamp`).
    pub last_rcv: Instant,
    /// When the last keepalive probe went out.
    pub keepalive_anchor: Instant,
    /// Orphaned FIN-WAIT-2 deadline (`tcp_fin_timeout`).
    pub linger_deadline: Option<Instant>,
    pub nodelay: bool,
}

impl Connection {
    /// A new connection in CLOSED with buffers sized by `config`.
    pub fn new(config: &Config, tuple: FourTuple, iss: u32, ts_offset: u32, now: Instant) -> Self {
        let our_mss = crate::endpoint::local_mss(config, &tuple);
        let iss = SeqNum(iss);
        Self {
            tuple,
            state: State::Closed,
            scheduled: None,
            readable_pending: false,
            writable_pending: false,
            app_owned: false,
            orphan: false,
            listener: None,
            error: None,
            error_reported: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            send_buf: VecDeque::new(),
            record_ends: VecDeque::new(),
            send_seq: iss + 1,
            bytes_acked: 0,
            send_cap: config.send_buffer,
            send_cap_locked: false,
            fin_queued: false,
            fin_seq: None,
            syn_acked: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            last_window: 0,
            rcv_wup: SeqNum(0),
            recv_buf: crate::recvbuf::RecvBuf::default(),
            recv_cap: config.recv_buffer,
            rcv_ssthresh: 65535,
            drs_copied: 0,
            drs_time: now,
            drs_space: 0,
            ooo: Reassembly::new(),
            rcv_offset: 0,
            ooo_fin: None,
            fin_received: false,
            opts: Negotiated {
                peer_mss: config.default_peer_mss,
                ..Negotiated::default()
            },
            our_mss,
            snd_mss: u32::from(config.default_peer_mss),
            ts_recent: 0,
            ts_recent_stamp: now,
            ts_offset,
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            rtx_deadline: None,
            retries: 0,
            total_retrans: 0,
            rtt_probe: None,
            syn_retransmitted: false,
            syn_sent_at: now,
            persist_deadline: None,
            persist_backoff: 0,
            persist_since: None,
            persist_probe_due: false,
            rto_head_only: false,
            last_data_sent: None,
            cwnd_limited: false,
            send_times: SendTimes::default(),
            tos: 0,
            packets_sent: 0,
            last_oow_ack: None,
            cork: false,
            more_pending: false,
            push_once: false,
            nospace: false,
            max_flight: 0,
            cwnd_usage_seq: iss,
            persist_probes: 0,
            ack_now: false,
            ack_due: false,
            output_pending: false,
            delack_deadline: None,
            compressed_acks: 0,
            comp_sack_deadline: None,
            dup_acks_rcv_nxt: SeqNum(0),
            dup_acks_sent: 0,
            quickacks: 0,
            rcv_mss: 0,
            last_seg_size: 0,
            ack_pushed: 0,
            pingpong: false,
            last_data_rcv: None,
            rcv_rtt_us8: 0,
            rcv_rtt_start: None,
            rcv_rtt_last_tsecr: 0,
            last_ack_rcv: None,
            established_at: None,
            pacing_rate: None,
            cc_algorithm: config.congestion_control,
            cc: None,
            rtx: recovery::RtxQueue::default(),
            rack: crate::rack::Rack::new(),
            dupacks: 0,
            recovery_point: None,
            reorder_deadline: None,
            tlp_deadline: None,
            dsack: None,
            undo: None,
            retrans_stamp: None,
            retrans_since: None,
            in_loss: false,
            frto: false,
            frto_new_data: false,
            prr: None,
            linger_deadline: None,
            soft_error: None,
            user_timeout: config.user_timeout,
            keepalive: config.keepalive.then_some((
                config.keepalive_time,
                config.keepalive_interval,
                config.keepalive_probes,
            )),
            keepalive_deadline: None,
            keepalive_out: 0,
            last_rcv: now,
            keepalive_anchor: now,
            snd_sml: iss,
            pmtu_mss: u32::MAX,
            nodelay: config.nodelay,
        }
    }

    /// Reports that the connection became readable, unless a report is already waiting to be
    /// drained: the event queue holds at most one `Readable` per connection.
    pub fn notify_readable(&mut self, ctx: &mut Ctx<'_>) {
        if !self.readable_pending {
            self.readable_pending = true;
            ctx.event(Event::Readable(ctx.handle));
        }
    }

    /// Reports that send-buffer space became free, at most one waiting `Writable` per connection.
    pub fn notify_writable(&mut self, ctx: &mut Ctx<'_>) {
        if !self.writable_pending {
            self.writable_pending = true;
            ctx.event(Event::Writable(ctx.handle));
        }
    }

    /// Moves to `to`, reporting the change.
    pub fn set_state(&mut self, ctx: &mut Ctx<'_>, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == State::Established {
            self.established_at.get_or_insert(ctx.now);
        }
        tracing::debug!(tuple = %self.tuple, %from, %to, "state change");
        ctx.event(Event::StateChanged {
            tuple: self.tuple,
            from,
            to,
        });
    }

    /// Applies the options agreed in the handshake and sizes segments and windows from them.
    pub fn apply_negotiated(&mut self, config: &Config, opts: Negotiated, now: Instant) {
        self.opts = opts;
        self.snd_mss = self.segment_payload();
        self.cc = Some(crate::cc::new_controller(
            self.cc_algorithm,
            self.snd_mss,
            config.initial_window_segments,
            config.slow_start_ack_limit,
            now,
        ));
    }

    /// Payload bytes per full-sized segment: the smaller of the peer's MSS, ours and the path's,
    /// less the option bytes every segment carries (RFC 9293 §3.7.1, RFC 6691).
    fn segment_payload(&self) -> u32 {
        let mss = u32::from(self.opts.peer_mss.min(self.our_mss))
            .min(self.pmtu_mss)
            .max(64);
        let overhead = if self.opts.timestamps { 12 } else { 0 };
        mss - overhead
    }

    /// The path MTU dropped to `mtu` (ICMP fragmentation-needed or packet-too-big, already
    /// validated): shrink segments and resend what is in flight at the new size at once, without
    /// backing off (Linux `tcp_simple_retransmit`).
    pub(crate) fn on_path_mtu(&mut self, ctx: &mut Ctx<'_>, mtu: u32) -> bool {
        let ip_header = if self.tuple.local.is_ipv4() { 20 } else { 40 };
        let floor = if self.tuple.local.is_ipv4() {
            552
        } else {
            1280
        };
        let new_mss = mtu.max(floor).saturating_sub(ip_header + 20);
        let before = self.snd_mss;
        if new_mss >= self.pmtu_mss.min(u32::from(self.our_mss)) {
            return false;
        }
        self.pmtu_mss = new_mss;
        self.snd_mss = self.segment_payload();
        if self.snd_mss >= before {
            return false;
        }
        if self.state.is_synchronized() && self.flight() > 0 {
            // Linux tcp_simple_retransmit: what is in flight was too big; resend it now.
            for i in 0..self.rtx.segs.len() {
                let seg = self.rtx.segs[i];
                if !seg.sacked && seg.len() > self.snd_mss {
                    self.rtx.update(i, |s| {
                        s.lost = true;
                        s.retrans = false;
                    });
                }
            }
            if let Some(cc) = self.cc.as_mut() {
                cc.set_mss(self.snd_mss);
            }
            self.output(ctx);
        }
        true
    }

    /// An ICMP or ICMPv6 error about this connection (RFC 1122 §4.2.3.9, RFC 5927). `hard` errors
    /// (port or protocol unreachable) abort it; during the handshake every unreachable does, as on
    /// Linux; otherwise the error is remembered and reported if the connection times out.
    pub(crate) fn on_icmp_error(&mut self, ctx: &mut Ctx<'_>, error: Error, hard: bool) {
        match self.state {
            State::SynSent | State::SynReceived => {
                ctx.counters.attempt_fails += 1;
                self.terminate(ctx, Some(error));
            }
            _ if hard => {
                if matches!(self.state, State::Established | State::CloseWait) {
                    ctx.counters.estab_resets += 1;
                }
                self.terminate(ctx, Some(error));
            }
            _ => self.soft_error = Some(error),
        }
    }

    /// The TCP timestamp clock (RFC 7323 §5.4: 1 ms ticks, as Linux) with this connection's offset.
    pub fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// The earliest of this connection's timers.
    pub fn next_deadline(&self) -> Option<Instant> {
        // Runs for every segment: a plain fold the compiler keeps branch-free.
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        };
        let a = earliest(self.rtx_deadline, self.delack_deadline);
        let b = earliest(self.persist_deadline, self.linger_deadline);
        let c = earliest(self.reorder_deadline, self.tlp_deadline);
        let d = earliest(self.keepalive_deadline, self.comp_sack_deadline);
        earliest(earliest(a, b), earliest(c, d))
    }

    /// Bytes sent and not yet acknowledged (sequence space, SYN and FIN included).
    pub fn flight(&self) -> u32 {
        self.snd_nxt.diff(self.snd_una).max(0) as u32
    }

    /// Ends the connection: CLOSED, every timer stopped, buffers released. `error` is what the
    /// application will be told.
    pub fn terminate(&mut self, ctx: &mut Ctx<'_>, error: Option<Error>) {
        if self.error.is_none() {
            self.error = error;
        }
        self.set_state(ctx, State::Closed);
        self.rtx_deadline = None;
        self.delack_deadline = None;
        self.comp_sack_deadline = None;
        self.persist_deadline = None;
        self.linger_deadline = None;
        self.reorder_deadline = None;
        self.tlp_deadline = None;
        self.keepalive_deadline = None;
        self.rtx.clear();
        self.send_buf = VecDeque::new();
        self.record_ends.clear();
        self.ooo.clear();
        if self.orphan {
            self.recv_buf.clear();
        }
        if self.app_owned {
            ctx.event(Event::Closed {
                handle: ctx.handle,
                error,
            });
            self.notify_readable(ctx);
            self.notify_writable(ctx);
        }
    }

    /// When the oldest unacknowledged data (or the SYN) was first sent: where the user timeout
    /// counts from.
    pub fn oldest_unacked_sent(&self) -> Instant {
        self.rtx
            .segs
            .front()
            .map_or(self.syn_sent_at, |s| s.first_ts)
    }

    /// The retransmission timeout to arm now: the backed-off RTO, but never past the user
    /// timeout (Linux `tcp_clamp_rto_to_user_timeout`).
    pub fn rto_now(&self, now: Instant) -> Duration {
        let rto = self.rtt.rto();
        match self.user_timeout {
            Some(ut) => {
                let deadline = self.oldest_unacked_sent() + ut;
                rto.min(
                    deadline
                        .saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                )
            }
            None => rto,
        }
    }

    /// Re-arms the keepalive timer from the last arrival (RFC 1122 §4.2.3.6).
    pub fn arm_keepalive(&mut self) {
        self.keepalive_deadline = match self.keepalive {
            Some((idle, interval, _)) if self.state.is_synchronized() => {
                let wait = if self.keepalive_out == 0 {
                    idle
                } else {
                    interval
                };
                Some(self.last_rcv.max(self.keepalive_anchor) + wait)
            }
            _ => None,
        };
    }

    /// Send-buffer auto-tuning (Linux `tcp_sndbuf_expand`): room for twice the congestion window,
    /// so the application can keep the pipe full, within the configured bounds.
    pub fn tune_send_buffer(&mut self, config: &Config) {
        if self.send_cap_locked {
            return;
        }
        let want = (self.cwnd() as usize).saturating_mul(2);
        let cap = want.clamp(
            config.send_buffer,
            config.max_send_buffer.max(config.send_buffer),
        );
        if cap > self.send_cap {
            self.send_cap = cap;
        }
    }

    /// Receive-buffer auto-tuning (Linux `tcp_rcv_space_adjust`, dynamic right-sizing): once per
    /// round trip as the receiver estimates it (`rcv_rtt_est`; none before it is measured), when
    /// the application read more than in the round trip before, the buffer is made room for
    /// twice that plus 16 segments, and more again in proportion to the growth (a sender in slow
    /// start doubles its rate each round trip, and the window offered now is for the next one),
    /// up to the configured maximum.
    pub fn tune_recv_buffer(&mut self, max: usize, now: Instant, read: usize) {
        self.drs_copied += read;
        let rtt_us = u64::from(self.rcv_rtt_us8 / 8);
        let elapsed = now.saturating_duration_since(self.drs_time).as_micros();
        if rtt_us == 0 || elapsed < u128::from(rtt_us) {
            return;
        }
        let mss = usize::from(self.our_mss).max(1);
        if self.drs_space == 0 {
            // tcp_init_buffer_space: ten segments, or less if the window is smaller.
            self.drs_space = (10 * mss).min(self.rcv_ssthresh as usize).max(1);
        }
        let copied = self.drs_copied;
        if copied > self.drs_space {
            let mut rcvwin = copied.saturating_mul(2).saturating_add(16 * mss);
            let grow = rcvwin.saturating_mul(copied - self.drs_space) / self.drs_space;
            rcvwin = rcvwin.saturating_add(grow.saturating_mul(2));
            self.recv_cap = self.recv_cap.max(rcvwin.min(max));
            self.drs_space = copied;
        }
        self.drs_copied = 0;
        self.drs_time = now;
    }

    /// The four parts of the send window (see [`crate::SendWindow`]).
    pub fn send_window(&self) -> crate::SendWindow {
        let data_end = self.send_end();
        let sent_data = self.snd_nxt.min(data_end);
        let in_flight = sent_data.diff(self.snd_una.max(self.send_seq)).max(0) as u32;
        let unsent = data_end.diff(sent_data).max(0) as u32;
        let right_edge = self.snd_una + self.snd_wnd;
        let wnd_room = right_edge.diff(self.snd_nxt).max(0) as u32;
        let cwnd_room = self.cwnd().saturating_sub(self.pipe());
        let usable = unsent.min(wnd_room).min(cwnd_room);
        crate::SendWindow {
            acked: self.bytes_acked,
            in_flight,
            usable,
            beyond: unsent - usable,
            snd_una: self.snd_una.0,
            snd_nxt: self.snd_nxt.0,
            right_edge: right_edge.0,
        }
    }

    /// Free space in the send buffer.
    pub fn send_space(&self) -> usize {
        self.send_cap.saturating_sub(self.send_buf.len())
    }

    /// Free space in the receive buffer, in window bytes (Linux `tcp_space`).
    pub(crate) fn recv_free(&self) -> usize {
        self.recv_cap.saturating_sub(self.recv_buf.len())
    }

    /// Bytes received since our last ACK (`RCV.NXT` less the left edge we last advertised,
    /// Linux `rcv_nxt - rcv_wup`).
    pub(crate) fn rcv_unacked(&self) -> u32 {
        self.rcv_nxt.diff(self.rcv_wup).max(0) as u32
    }

    /// Nothing queued and nothing in flight: the send-time clocks stop (Linux
    /// `tcp_rtx_and_write_queues_empty`).
    pub(crate) fn send_idle(&self) -> bool {
        self.send_buf.is_empty() && self.flight() == 0
    }

    /// The application queued data (`queued` bytes of the `wanted`): timing starts when the
    /// queue of unsent data was empty (Linux `tcp_add_write_queue_tail`), and a writer that
    /// could not queue everything is out of buffer space (`SOCK_NOSPACE`).
    pub(crate) fn on_app_write(
        &mut self,
        now: Instant,
        unsent_before: usize,
        queued: usize,
        wanted: usize,
    ) {
        if unsent_before == 0 && queued > 0 {
            self.send_times.start(now, SendChrono::Busy);
        }
        if queued < wanted {
            self.nospace = true;
        }
    }

    /// The peer acknowledged new data: a writer out of space has room again once the free
    /// space is at least half of what is queued (Linux `sk_stream_write_space`), which ends
    /// send-buffer-limited time; with nothing left in flight, busy time ends too
    /// (`tcp_clean_rtx_queue`).
    pub(crate) fn on_send_buffer_drained(&mut self, now: Instant) {
        let idle = self.send_idle();
        if self.nospace && self.send_space() >= self.send_buf.len() / 2 {
            self.nospace = false;
            self.send_times.stop(now, SendChrono::SndbufLimited, idle);
        }
        if self.flight() == 0 {
            self.send_times.stop(now, SendChrono::Busy, idle);
        }
    }

    /// Schedules the orphaned FIN-WAIT-2 timeout when it applies.
    pub fn arm_linger(&mut self, now: Instant, fin_timeout: Duration) {
        if self.state == State::FinWait2 && self.orphan && self.linger_deadline.is_none() {
            self.linger_deadline = Some(now + fin_timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let tuple = FourTuple {
            local: "10.0.0.2:80".parse().unwrap(),
            remote: "10.0.0.1:4000".parse().unwrap(),
        };
        Connection::new(&Config::default(), tuple, 1, 0, Instant::ZERO)
    }

    #[test]
    fn receive_buffer_tuning_follows_tcp_rcv_space_adjust() {
        let mut c = conn();
        c.our_mss = 1000;
        c.rcv_ssthresh = 64 * 1024;
        let start = c.recv_cap;
        let max = 6 << 20;
        // No receiver RTT estimate yet: nothing is measured.
        c.tune_recv_buffer(max, Instant::from_millis(50), 100_000);
        assert_eq!(c.recv_cap, start);
        // With a 10 ms estimate, reads are summed until 10 ms have passed since the measurement
        // began (at 0).
        c.rcv_rtt_us8 = 10_000 * 8;
        c.drs_copied = 0;
        c.tune_recv_buffer(max, Instant::from_millis(5), 20_000);
        assert_eq!(c.recv_cap, start);
        // 50,000 bytes in the round trip, against the initial ten segments (10,000): twice that
        // plus 16 segments (116,000), plus twice the growth in proportion: 116,000 * 40,000 /
        // 10,000 * 2 = 928,000, so 1,044,000 in all.
        c.tune_recv_buffer(max, Instant::from_millis(10), 30_000);
        assert_eq!(c.recv_cap, 1_044_000);
        assert_eq!(c.drs_space, 50_000);
        // A round trip that reads no more than the one before changes nothing.
        c.tune_recv_buffer(max, Instant::from_millis(21), 50_000);
        assert_eq!(c.recv_cap, 1_044_000);
        // One that reads more grows it, up to the maximum.
        c.tune_recv_buffer(max, Instant::from_millis(32), 2_000_000);
        assert_eq!(c.recv_cap, max);
        // However much is read in a round trip, the arithmetic saturates.
        c.tune_recv_buffer(usize::MAX, Instant::from_millis(43), usize::MAX / 2);
        assert_eq!(c.recv_cap, usize::MAX);
    }

    #[test]
    fn receiver_rtt_takes_the_smaller_window_sample_and_averages_timestamp_ones() {
        let mut c = conn();
        c.rcv_rtt_update(2_000, true);
        assert_eq!(c.rcv_rtt_us8, 16_000);
        // A larger window sample is ignored, a smaller one taken.
        c.rcv_rtt_update(3_000, true);
        assert_eq!(c.rcv_rtt_us8, 16_000);
        c.rcv_rtt_update(1_000, true);
        assert_eq!(c.rcv_rtt_us8, 8_000);
        // A larger timestamp sample is averaged in with weight 1/8.
        c.rcv_rtt_update(9_000, false);
        assert_eq!(c.rcv_rtt_us8, 8_000 - 1_000 + 9_000);
        // Absurd samples (a peer's timestamps, hours between arrivals) saturate, never wrap.
        c.rcv_rtt_update(u32::MAX, true);
        c.rcv_rtt_update(u32::MAX, false);
        c.rcv_rtt_update(u32::MAX, false);
        assert_eq!(c.rcv_rtt_us8, u32::MAX);
    }
}
