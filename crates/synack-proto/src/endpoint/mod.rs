//! The sans-IO endpoint: one host's TCP. It owns every connection, listener, half-open entry and
//! TIME-WAIT entry, demultiplexes arriving segments in O(1) by 4-tuple with a keyed hash, answers
//! segments nobody owns with RST (RFC 9293 §3.10.7.1), picks ephemeral ports (RFC 6056), initial
//! sequence numbers (RFC 6528) and SYN cookies, and keeps every timer in one timing wheel.
//!
//! Time enters only as an argument. The host calls [`Endpoint::handle_packet`] for each arriving IP
//! datagram, [`Endpoint::handle_timeout`] when [`Endpoint::poll_timeout`] says, and sends what
//! [`Endpoint::poll_transmit`] returns.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;
use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

use crate::chrono::SendTimes;
use crate::config::Config;
use crate::conn::{Connection, Ctx, Negotiated};
use crate::counters::Counters;
use crate::error::Error;
use crate::event::{ConnHandle, Event, ListenerHandle};
use crate::isn::IsnGenerator;
use crate::listener::{HalfOpen, Listener};
use crate::ports::PortAllocator;
use crate::rng::Rng;
use crate::seq::SeqNum;
use crate::slab::Slab;
use crate::state::State;
use crate::syncookie::SynCookies;
use crate::time::{Duration, Instant};
use crate::time_wait::{oow_rate_limited, TimeWait, TwAction};
use crate::timer_wheel::TimerWheel;
use crate::tuple::FourTuple;
use crate::txq::TxQueue;

mod icmp;

/// SipHash-1-3 with secret keys: an attacker who picks 4-tuples cannot aim at one hash bucket.
#[derive(Clone, Copy)]
pub(crate) struct KeyedHasher {
    k0: u64,
    k1: u64,
}

impl BuildHasher for KeyedHasher {
    type Hasher = siphasher::sip::SipHasher13;
    fn build_hasher(&self) -> Self::Hasher {
        siphasher::sip::SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// Who owns a 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Conn(u32),
    HalfOpen(u32),
    TimeWait(u32),
}

/// What a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TimerKey {
    Conn(u32),
    HalfOpen(u32),
    TimeWait(u32),
}

/// How much state an endpoint holds (for leak checks and monitoring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Full connections (including closed ones whose handle the application still holds).
    pub connections: usize,
    /// Half-open SYN-queue entries.
    pub half_open: usize,
    /// TIME-WAIT entries.
    pub time_wait: usize,
    /// Listening sockets.
    pub listeners: usize,
    /// Armed timers.
    pub timers: usize,
    /// Packets waiting in the transmit queue.
    pub queued_packets: usize,
}

/// The sender's byte stream cut into the four parts of the sliding window (RFC 9293 §3.3.1
/// figure 3; the seed notes' #1-#4): #1 sent and acknowledged, #2 sent and not yet acknowledged,
/// #3 not sent but usable now, #4 not sent and beyond what may be sent now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendWindow {
    /// #1: bytes sent and acknowledged so far (freed from the send buffer).
    pub acked: u64,
    /// #2: bytes in flight (SND.UNA to SND.NXT).
    pub in_flight: u32,
    /// #3: bytes queued and allowed out now: inside the peer's window (SND.UNA + SND.WND) and
    /// the congestion window.
    pub usable: u32,
    /// #4: bytes queued beyond that.
    pub beyond: u32,
    /// The window's left edge, SND.UNA.
    pub snd_una: u32,
    /// SND.NXT.
    pub snd_nxt: u32,
    /// The window's right edge, SND.UNA + SND.WND.
    pub right_edge: u32,
}

/// Flags of [`Endpoint::send_with`], after those of `send(2)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// `MSG_EOR`: the data ends a record (see [`Endpoint::send_eor`]).
    pub eor: bool,
    /// `MSG_MORE`: more data follows at once. A segment smaller than the MSS at the end of the
    /// queue waits for it as under [`Endpoint::set_cork`], and the write is not pushed (no PSH),
    /// until a write without the flag (Linux `tcp_push` with `TCP_NAGLE_CORK`).
    pub more: bool,
}

/// What [`Endpoint::connect_with`] takes besides the peer: settings that must hold from the SYN
/// on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The source address and port; `None`, an unspecified address or port 0 lets the endpoint
    /// choose.
    pub local: Option<SocketAddr>,
    /// The TOS byte (IPv6 Traffic Class) of the connection's datagrams, as
    /// [`Endpoint::set_tos`] sets it.
    pub tos: u8,
}

/// The ECN field (RFC 3168 §5) is TCP's own: synack does not negotiate ECN, so its datagrams
/// carry Not-ECT whatever an application asks (Linux keeps the ECN bits of `IP_TOS` for TCP
/// sockets too).
const fn dscp_only(tos: u8) -> u8 {
    tos & !0x03
}

/// What a read finds with no data queued: the connection's error, once; then, or after the
/// peer's FIN, the end of the stream; otherwise nothing yet.
fn nothing_to_read(c: &mut Connection) -> Result<usize, Error> {
    if let Some(e) = c.error {
        if !c.error_reported {
            c.error_reported = true;
            return Err(e);
        }
        return Ok(0);
    }
    if c.fin_received || c.state == State::Closed {
        return Ok(0);
    }
    Err(Error::WouldBlock)
}

/// Keepalive settings of one connection (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before giving up.
    pub probes: u8,
}

impl Keepalive {
    /// Linux's defaults: 7200 s, 75 s, 9 probes.
    pub fn from_config(config: &Config) -> Self {
        Self {
            idle: config.keepalive_time,
            interval: config.keepalive_interval,
            probes: config.keepalive_probes,
        }
    }
}

/// The sender's loss-recovery state, as Linux reports it in `tcpi_ca_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaState {
    /// Nothing unusual (`TCP_CA_Open`).
    Open,
    /// SACKs or duplicate ACKs arrived, no loss judged yet (`TCP_CA_Disorder`).
    Disorder,
    /// Fast recovery (`TCP_CA_Recovery`; RFC 6675, RFC 6582).
    Recovery,
    /// Recovery after a retransmission timeout (`TCP_CA_Loss`).
    Loss,
}

impl CaState {
    /// Linux's number for the state (`enum tcp_ca_state`): 0, 1, 3 or 4 (2 is CWR, for ECN,
    /// which synack does not negotiate).
    pub fn linux_value(self) -> u8 {
        match self {
            CaState::Open => 0,
            CaState::Disorder => 1,
            CaState::Recovery => 3,
            CaState::Loss => 4,
        }
    }
}

/// A read-only snapshot of one connection's TCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The 4-tuple.
    pub tuple: FourTuple,
    /// Current state.
    pub state: State,
    /// Our initial sequence number.
    pub iss: u32,
    /// The peer's initial sequence number.
    pub irs: u32,
    /// Oldest unacknowledged sequence number.
    pub snd_una: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// The peer's window (scaled).
    pub snd_wnd: u32,
    /// Next sequence number expected.
    pub rcv_nxt: u32,
    /// The window carried by the last segment we sent, in bytes (scaled).
    pub rcv_wnd: u32,
    /// Payload bytes per full-sized segment we send.
    pub snd_mss: u32,
    /// MSS the peer announced.
    pub peer_mss: u16,
    /// The receiver's estimate of the peer's segment size (Linux `icsk_ack.rcv_mss`,
    /// `tcpi_rcv_mss`): at most 536 until data arrives, then the largest segment seen, up to our
    /// MSS, or a smaller size that two segments in a row had.
    pub rcv_mss: u32,
    /// Window-scale shift applied to the peer's window.
    pub snd_wscale: u8,
    /// Window-scale shift the peer applies to ours.
    pub rcv_wscale: u8,
    /// SACK agreed.
    pub sack: bool,
    /// Timestamps agreed.
    pub timestamps: bool,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Smoothed RTT once measured.
    pub srtt: Option<Duration>,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Slow-start threshold in bytes (`u32::MAX` until the first reduction).
    pub ssthresh: u32,
    /// The congestion-control algorithm, e.g. `cubic`.
    pub congestion_control: &'static str,
    /// In fast or RTO recovery.
    pub in_recovery: bool,
    /// Bytes in flight the peer SACKed.
    pub sacked_bytes: u32,
    /// Bytes in flight judged lost, whether retransmitted since or not (Linux `lost_out`).
    pub lost_bytes: u32,
    /// Bytes of retransmissions in flight.
    pub retrans_bytes: u32,
    /// Loss-recovery state (Linux `tcpi_ca_state`).
    pub ca_state: CaState,
    /// Segments sent and not yet cumulatively acknowledged (Linux `packets_out`, `tcpi_unacked`).
    pub unacked_segs: u32,
    /// Of those, segments SACKed (`tcpi_sacked`).
    pub sacked_segs: u32,
    /// Of those, segments judged lost, resent since or not (`tcpi_lost`).
    pub lost_segs: u32,
    /// Of those, retransmissions in flight (`tcpi_retrans`).
    pub retrans_segs: u32,
    /// Segments this connection has retransmitted, SYNs included (`tcpi_total_retrans`).
    pub total_retrans: u32,
    /// Retransmission timeouts in a row without an acknowledgment in between
    /// (`tcpi_retransmits`).
    pub retransmits: u8,
    /// Doublings of the RTO since the last acknowledgment (`tcpi_backoff`).
    pub backoff: u32,
    /// RTTVAR (RFC 6298 §2).
    pub rttvar: Duration,
    /// The smallest RTT measured (RACK's `min_RTT`, Linux `tcpi_min_rtt`), if any.
    pub min_rtt: Option<Duration>,
    /// Bytes the peer has acknowledged (`tcpi_bytes_acked`).
    pub bytes_acked: u64,
    /// Bytes received in order (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// When data was last sent, or else when the connection was established (Linux
    /// `lsndtime`, read as `tcpi_last_data_sent`); `None` before that.
    pub last_data_sent: Option<Instant>,
    /// When in-order data last arrived, or else when the connection was established (Linux
    /// `icsk_ack.lrcvtime`, `tcpi_last_data_recv`).
    pub last_data_recv: Option<Instant>,
    /// When an acceptable ACK last arrived, or else when the connection was established (Linux
    /// `rcv_tstamp`, `tcpi_last_ack_recv`).
    pub last_ack_recv: Option<Instant>,
    /// ACKs that showed reordering (`tcpi_reord_seen`).
    pub reorder_events: u32,
    /// The reordering degree in segments, as Linux's `tcpi_reordering`: 3 (`tcp_reordering`)
    /// until reordering further than that is seen, then how many segments below the highest
    /// delivered one a reordered segment started, up to 300 (`tcp_max_reordering`).
    pub reordering: u32,
    /// The peer's acknowledgments have shown reordering: a segment never resent was delivered
    /// below one delivered earlier (RFC 8985 §6.2 step 3; Linux `tcpi_reord_seen` > 0). RACK's
    /// reordering window is non-zero from then on.
    pub reordering_seen: bool,
    /// Size of the send buffer now (auto-tuning grows it from `Config::send_buffer`).
    pub send_buffer: usize,
    /// Size of the receive buffer now (dynamic right-sizing grows it from
    /// `Config::recv_buffer`).
    pub recv_buffer: usize,
    /// Bytes in the send buffer (unacknowledged plus unsent).
    pub send_buffered: usize,
    /// Of those, bytes sent and not yet acknowledged (the send window's part #2).
    pub in_flight: u32,
    /// Bytes received in order and not yet read.
    pub recv_buffered: usize,
    /// Bytes held out of order.
    pub out_of_order: usize,
    /// The four parts of the send window.
    pub send_window: SendWindow,
    /// Time spent sending, by what limited it (read with [`SendTimes::time`] and
    /// [`SendTimes::busy`] at the current time).
    pub send_times: SendTimes,
    /// The TOS byte (IPv6 Traffic Class) of the connection's datagrams.
    pub tos: u8,
}

/// Why [`Endpoint::handle_packet`] dropped a datagram. Each reason has its counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The IP header could not be parsed (`ip_in_hdr_errors`).
    Ip(synack_wire::Error),
    /// The destination is not one of our addresses (`ip_in_addr_errors`).
    NotLocal,
    /// Not TCP, ICMP or ICMPv6 (`ip_in_unknown_protos`).
    UnknownProtocol(u8),
    /// An ICMP message that could not be parsed (`icmp_in_errors`).
    Icmp(synack_wire::Error),
    /// An ICMP message that was valid but not for us: an error quoting no connection of ours or
    /// failing the RFC 5927 checks, or a type we do not handle (`icmp_ignored`).
    IcmpIgnored,
    /// The TCP header could not be parsed or its checksum is wrong (`in_errs`).
    Tcp(synack_wire::Error),
    /// A well-formed segment the state machine did not accept: out of window, an old duplicate,
    /// a SYN to a full listener, a segment for no connection (answered with RST), ...
    /// (`dropped_segs`).
    Segment,
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DropReason::Ip(e) => write!(f, "bad IP header: {e}"),
            DropReason::NotLocal => f.write_str("destination address is not local"),
            DropReason::UnknownProtocol(p) => write!(f, "unhandled IP protocol {p}"),
            DropReason::Icmp(e) => write!(f, "bad ICMP message: {e}"),
            DropReason::IcmpIgnored => f.write_str("ICMP message not for any connection"),
            DropReason::Tcp(e) => write!(f, "bad TCP segment: {e}"),
            DropReason::Segment => f.write_str("segment not acceptable in its connection's state"),
        }
    }
}

/// One host's TCP: see the module documentation.
pub struct Endpoint {
    config: Config,
    addrs: Vec<IpAddr>,
    conns: Slab<Connection>,
    half_open: Slab<HalfOpen>,
    time_wait: Slab<TimeWait>,
    listeners: Slab<Listener>,
    by_tuple: HashMap<FourTuple, Owner, KeyedHasher>,
    listen_map: HashMap<SocketAddr, u32, KeyedHasher>,
    timers: TimerWheel<TimerKey>,
    isn: IsnGenerator,
    ports: PortAllocator,
    cookies: SynCookies,
    tx: TxQueue,
    rx: crate::conn::RxDatagram,
    events: VecDeque<Event>,
    counters: Counters,
    expired: Vec<TimerKey>,
    /// Connections whose output waits until the datagrams handed over together are processed
    /// (see [`Endpoint::handle_packet`]), with the slab generation they had.
    deferred: Vec<(u32, u32)>,
    /// The latest time a datagram arrived: the time deferred output runs at.
    deferred_now: Instant,
    /// The 4-tuple looked up last and its owner: consecutive segments of one flow skip the
    /// hash. Cleared whenever the tuple map changes.
    last_lookup: Option<(FourTuple, Owner)>,
}

/// The MSS we announce on `tuple`: the configured IPv4 figure, 20 bytes less over IPv6.
pub(crate) fn local_mss(config: &Config, tuple: &FourTuple) -> u16 {
    match tuple.local.ip() {
        IpAddr::V4(_) => config.mss,
        IpAddr::V6(_) => config.mss.saturating_sub(20).max(64),
    }
}

fn seg_len(seg: &TcpRepr<'_>) -> u32 {
    seg.payload.len() as u32 + u32::from(seg.flags.syn()) + u32::from(seg.flags.fin())
}

impl Endpoint {
    /// A new endpoint. `seed` keys the ISN hash, the port choice, the SYN cookies and the demux
    /// hash: a host passes OS randomness, a simulation a fixed number for repeatable runs.
    pub fn new(config: Config, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut key = || {
            let mut k = [0u8; 16];
            rng.fill_bytes(&mut k);
            k
        };
        let (isn_key, port_key, cookie_key) = (key(), key(), key());
        let hasher = KeyedHasher {
            k0: u64::from_le_bytes(isn_key[..8].try_into().unwrap_or([1; 8])) ^ 0x5bd1_e995,
            k1: u64::from_le_bytes(port_key[..8].try_into().unwrap_or([2; 8])) ^ 0x27d4_eb2f,
        };
        let ports = PortAllocator::new(
            port_key,
            config.ephemeral_port_first,
            config.ephemeral_port_last,
        );
        Self {
            config,
            addrs: Vec::new(),
            conns: Slab::new(),
            half_open: Slab::new(),
            time_wait: Slab::new(),
            listeners: Slab::new(),
            by_tuple: HashMap::with_hasher(hasher),
            listen_map: HashMap::with_hasher(hasher),
            timers: TimerWheel::new(Instant::ZERO),
            isn: IsnGenerator::new(isn_key),
            ports,
            cookies: SynCookies::new(cookie_key),
            tx: TxQueue::default(),
            rx: crate::conn::RxDatagram::default(),
            events: VecDeque::new(),
            counters: Counters::default(),
            expired: Vec::new(),
            deferred: Vec::new(),
            deferred_now: Instant::ZERO,
            last_lookup: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Adds a local address: packets to it are ours, and connections may originate from it.
    pub fn add_address(&mut self, addr: IpAddr) {
        if !self.addrs.contains(&addr) {
            self.addrs.push(addr);
        }
    }

    /// The local addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// What the endpoint holds now.
    pub fn resources(&self) -> Resources {
        Resources {
            connections: self.conns.len(),
            half_open: self.half_open.len(),
            time_wait: self.time_wait.len(),
            listeners: self.listeners.len(),
            timers: self.timers.len(),
            queued_packets: self.tx.len(),
        }
    }

    // ----- application calls -------------------------------------------------------------------

    /// Opens a listening socket on `local` (an unspecified address listens on every local address
    /// of that family). `backlog` bounds the accept queue; it is capped at `somaxconn` and 0 counts
    /// as 1. Fails with [`Error::AddrInUse`] when something already listens there.
    pub fn listen(&mut self, local: SocketAddr, backlog: u32) -> Result<ListenerHandle, Error> {
        if local.port() == 0 {
            return Err(Error::InvalidInput);
        }
        if !local.ip().is_unspecified() && !self.addrs.contains(&local.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        if self.listen_map.contains_key(&local) {
            return Err(Error::AddrInUse);
        }
        let backlog = backlog.clamp(1, self.config.somaxconn.max(1));
        let (index, generation) = self.listeners.insert(Listener {
            local,
            backlog,
            accept_queue: VecDeque::new(),
            syn_queue: 0,
            tos: 0,
        });
        self.listen_map.insert(local, index);
        Ok(ListenerHandle { index, generation })
    }

    /// The address a listener is bound to.
    pub fn listener_addr(&self, l: ListenerHandle) -> Result<SocketAddr, Error> {
        self.listeners
            .get_checked(l.index, l.generation)
            .map(|l| l.local)
            .ok_or(Error::InvalidHandle)
    }

    /// Connections waiting in a listener's accept queue.
    pub fn accept_queue_len(&self, l: ListenerHandle) -> Result<usize, Error> {
        self.listeners
            .get_checked(l.index, l.generation)
            .map(|l| l.accept_queue.len())
            .ok_or(Error::InvalidHandle)
    }

    /// Half-open entries in a listener's SYN queue.
    pub fn syn_queue_len(&self, l: ListenerHandle) -> Result<usize, Error> {
        self.listeners
            .get_checked(l.index, l.generation)
            .map(|l| l.syn_queue as usize)
            .ok_or(Error::InvalidHandle)
    }

    /// Takes the oldest connection of the accept queue, or [`Error::WouldBlock`].
    pub fn accept(&mut self, l: ListenerHandle) -> Result<ConnHandle, Error> {
        self.flush_deferred();
        let listener = self
            .listeners
            .get_checked_mut(l.index, l.generation)
            .ok_or(Error::InvalidHandle)?;
        let (index, generation) = listener.accept_queue.pop_front().ok_or(Error::WouldBlock)?;
        let conn = self
            .conns
            .get_checked_mut(index, generation)
            .ok_or(Error::InvalidHandle)?;
        conn.listener = None;
        conn.app_owned = true;
        Ok(ConnHandle { index, generation })
    }

    /// Closes a listener: queued connections that were never accepted are reset, half-open
    /// entries dropped.
    pub fn close_listener(&mut self, now: Instant, l: ListenerHandle) -> Result<(), Error> {
        self.flush_deferred();
        let listener = self
            .listeners
            .get_checked(l.index, l.generation)
            .ok_or(Error::InvalidHandle)?;
        let local = listener.local;
        let queued: Vec<(u32, u32)> = listener.accept_queue.iter().copied().collect();
        self.listen_map.remove(&local);
        self.listeners.remove(l.index);
        for (index, generation) in queued {
            if let Some(c) = self.conns.get_checked_mut(index, generation) {
                c.listener = None;
            }
            self.abort_conn(now, index);
        }
        for i in self.half_open.indices() {
            if self.half_open.get(i).is_some_and(|h| h.listener == l.index) {
                self.drop_half_open(i, false);
            }
        }
        Ok(())
    }

    /// Starts an active open to `remote` (RFC 9293 §3.10.1): a SYN goes out and the connection is
    /// SYN-SENT. `local` picks the source address and port; `None`, an unspecified address or port
    /// 0 lets the endpoint choose (an ephemeral port per RFC 6056). Fails with
    /// [`Error::AddrNotAvailable`] when the 4-tuple is in use or no ephemeral port is free. A
    /// 4-tuple in TIME-WAIT is taken over, as Linux does, when the old connection used
    /// timestamps and either `local` names the port or [`Config::tw_reuse`] allows it (the
    /// entry ends, counted in `time_wait_recycled`).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<ConnHandle, Error> {
        self.connect_with(
            now,
            remote,
            ConnectOptions {
                local,
                ..ConnectOptions::default()
            },
        )
    }

    /// [`Endpoint::connect`] with the settings of `options` in place before the SYN is sent.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        options: ConnectOptions,
    ) -> Result<ConnHandle, Error> {
        let local = options.local;
        self.flush_deferred();
        if remote.port() == 0 || remote.ip().is_unspecified() || remote.ip().is_multicast() {
            return Err(Error::InvalidInput);
        }
        let want_v4 = remote.is_ipv4();
        let local_ip = match local.map(|l| l.ip()).filter(|ip| !ip.is_unspecified()) {
            Some(ip) => {
                if ip.is_ipv4() != want_v4 {
                    return Err(Error::InvalidInput);
                }
                if !self.addrs.contains(&ip) {
                    return Err(Error::AddrNotAvailable);
                }
                ip
            }
            None => *self
                .addrs
                .iter()
                .find(|a| a.is_ipv4() == want_v4)
                .ok_or(Error::AddrNotAvailable)?,
        };
        // A 4-tuple in use is refused (Linux __inet_check_established: EADDRNOTAVAIL), unless
        // a TIME-WAIT entry holds it and may be taken over (tcp_twsk_unique).
        let port = match local.map(|l| l.port()).filter(|p| *p != 0) {
            Some(p) => {
                let tuple = FourTuple {
                    local: SocketAddr::new(local_ip, p),
                    remote,
                };
                match self.by_tuple.get(&tuple) {
                    None => {}
                    Some(Owner::TimeWait(i))
                        if tw_reusable(&self.config, self.time_wait.get(*i), now, true) => {}
                    Some(_) => return Err(Error::AddrNotAvailable),
                }
                p
            }
            None => {
                let (by_tuple, listen_map) = (&self.by_tuple, &self.listen_map);
                let (time_wait, config) = (&self.time_wait, &self.config);
                self.ports
                    .allocate(local_ip, remote, |p| {
                        let l = SocketAddr::new(local_ip, p);
                        listen_map.contains_key(&l)
                            || match by_tuple.get(&FourTuple { local: l, remote }) {
                                None => false,
                                Some(Owner::TimeWait(i)) => {
                                    !tw_reusable(config, time_wait.get(*i), now, false)
                                }
                                Some(_) => true,
                            }
                    })
                    .ok_or(Error::AddrNotAvailable)?
            }
        };
        let tuple = FourTuple {
            local: SocketAddr::new(local_ip, port),
            remote,
        };
        let mut iss = self.isn.isn(&tuple, now);
        if let Some(&Owner::TimeWait(i)) = self.by_tuple.get(&tuple) {
            // Taken over from TIME-WAIT: sequence numbers start well past the old
            // connection's, which the peer may still remember (Linux: tw_snd_nxt + 65535 + 2).
            let old = self.time_wait.get(i).map(|tw| tw.snd_nxt);
            self.drop_time_wait(i);
            self.counters.time_wait_recycled += 1;
            if let Some(old) = old {
                iss = (old + 65537).get().max(1);
            }
        }
        let ts_offset = self.isn.ts_offset(&tuple);
        let mut conn = Connection::new(&self.config, tuple, iss, ts_offset, now);
        conn.app_owned = true;
        conn.syn_sent_at = now;
        conn.tos = dscp_only(options.tos);
        let (index, generation) = self.conns.insert(conn);
        self.last_lookup = None;
        self.by_tuple.insert(tuple, Owner::Conn(index));
        self.counters.active_opens += 1;
        let handle = ConnHandle { index, generation };
        self.with_conn(now, index, |c, ctx| {
            c.set_state(ctx, State::SynSent);
            c.send_syn(ctx);
            c.rtx_deadline = Some(ctx.now + c.rtt.rto());
        });
        Ok(handle)
    }

    fn conn(&self, h: ConnHandle) -> Result<&Connection, Error> {
        self.conns
            .get_checked(h.index, h.generation)
            .filter(|c| c.app_owned)
            .ok_or(Error::InvalidHandle)
    }

    fn conn_mut(&mut self, h: ConnHandle) -> Result<&mut Connection, Error> {
        self.conns
            .get_checked_mut(h.index, h.generation)
            .filter(|c| c.app_owned)
            .ok_or(Error::InvalidHandle)
    }

    /// The connection's state. A connection whose close handed it to a TIME-WAIT entry reads
    /// CLOSED here; [`Endpoint::state_of`] shows the entry.
    pub fn state(&self, h: ConnHandle) -> Result<State, Error> {
        Ok(self.conn(h)?.state)
    }

    /// The state of whatever owns `tuple`: a connection, a half-open entry (SYN-RECEIVED) or a
    /// TIME-WAIT entry.
    pub fn state_of(&self, tuple: &FourTuple) -> Option<State> {
        match self.by_tuple.get(tuple)? {
            Owner::Conn(i) => self.conns.get(*i).map(|c| c.state),
            Owner::HalfOpen(_) => Some(State::SynReceived),
            Owner::TimeWait(_) => Some(State::TimeWait),
        }
    }

    /// The connection's 4-tuple.
    pub fn tuple(&self, h: ConnHandle) -> Result<FourTuple, Error> {
        Ok(self.conn(h)?.tuple)
    }

    /// A snapshot of the connection's TCB.
    pub fn info(&self, h: ConnHandle) -> Result<ConnInfo, Error> {
        let c = self.conn(h)?;
        let (mut sacked_segs, mut lost_segs, mut retrans_segs) = (0, 0, 0);
        for s in &c.rtx.segs {
            sacked_segs += u32::from(s.sacked);
            lost_segs += u32::from(s.lost);
            retrans_segs += u32::from(s.retrans);
        }
        Ok(ConnInfo {
            tuple: c.tuple,
            state: c.state,
            iss: c.iss.0,
            irs: c.irs.0,
            snd_una: c.snd_una.0,
            snd_nxt: c.snd_nxt.0,
            snd_wnd: c.snd_wnd,
            rcv_nxt: c.rcv_nxt.0,
            rcv_wnd: c.last_window,
            snd_mss: c.snd_mss,
            peer_mss: c.opts.peer_mss,
            rcv_mss: c.rcv_mss_estimate(),
            snd_wscale: c.opts.snd_wscale,
            rcv_wscale: c.opts.rcv_wscale,
            sack: c.opts.sack,
            timestamps: c.opts.timestamps,
            rto: c.rtt.rto(),
            srtt: c.rtt.srtt(),
            cwnd: c.cwnd(),
            ssthresh: c.cc.as_ref().map_or(u32::MAX, |cc| cc.ssthresh()),
            congestion_control: c.cc.as_ref().map_or("none", |cc| cc.name()),
            in_recovery: c.recovery_point.is_some(),
            sacked_bytes: c.rtx.sacked,
            lost_bytes: c.rtx.lost,
            retrans_bytes: c.rtx.retrans,
            reordering_seen: c.rack.reordering_seen(),
            ca_state: if c.in_loss {
                CaState::Loss
            } else if c.recovery_point.is_some() {
                CaState::Recovery
            } else if c.rtx.sacked > 0 || c.dupacks > 0 {
                CaState::Disorder
            } else {
                CaState::Open
            },
            unacked_segs: c.rtx.segs.len() as u32,
            sacked_segs,
            lost_segs,
            retrans_segs,
            total_retrans: c.total_retrans,
            retransmits: c.retries,
            backoff: c.rtt.backoff(),
            rttvar: c.rtt.rttvar(),
            min_rtt: c.rack.min_rtt(),
            bytes_acked: c.bytes_acked,
            bytes_received: c.rcv_offset,
            last_data_sent: c.last_data_sent.or(c.established_at),
            last_data_recv: c.last_data_rcv.or(c.established_at),
            last_ack_recv: c.last_ack_rcv.or(c.established_at),
            reorder_events: c.rack.reorder_events(),
            reordering: c
                .rack
                .reorder_distance()
                .div_ceil(c.snd_mss.max(1))
                .clamp(3, 300),
            send_buffer: c.send_cap,
            recv_buffer: c.recv_cap,
            send_buffered: c.send_buf.len(),
            in_flight: c.flight(),
            recv_buffered: c.recv_buf.len(),
            out_of_order: c.ooo.bytes(),
            send_window: c.send_window(),
            send_times: c.send_times,
            tos: c.tos,
        })
    }

    /// Queues `data` for sending; returns how many bytes fit in the send buffer, or
    /// [`Error::WouldBlock`] when none did. Data written before the handshake completes is sent
    /// once it does.
    pub fn send(&mut self, now: Instant, h: ConnHandle, data: &[u8]) -> Result<usize, Error> {
        self.send_with(now, h, data, SendFlags::default())
    }

    /// [`send`](Self::send) with `MSG_EOR`: when all of `data` is taken, its last byte ends a
    /// record, and no segment carries bytes from both sides of that end (data written later
    /// starts a new segment, and retransmissions do not merge across it), as Linux does since
    /// 4.7 (`skb->eor`). When only part of `data` fits, no record ends, as on Linux.
    pub fn send_eor(&mut self, now: Instant, h: ConnHandle, data: &[u8]) -> Result<usize, Error> {
        let flags = SendFlags {
            eor: true,
            ..SendFlags::default()
        };
        self.send_with(now, h, data, flags)
    }

    /// [`send`](Self::send) with the flags of `send(2)` that change how data goes out:
    /// `MSG_EOR` (see [`send_eor`](Self::send_eor)) and `MSG_MORE` (see [`SendFlags::more`]).
    pub fn send_with(
        &mut self,
        now: Instant,
        h: ConnHandle,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, Error> {
        let SendFlags { eor, more } = flags;
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        if let Some(e) = c.error {
            c.error_reported = true;
            return Err(e);
        }
        if c.fin_queued {
            return Err(Error::BrokenPipe);
        }
        match c.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Closed => return Err(Error::NotConnected),
            _ => return Err(Error::BrokenPipe),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = c.send_space().min(data.len());
        let unsent_before = c.unsent();
        c.on_app_write(now, unsent_before, n, data.len());
        c.more_pending = more;
        if n == 0 {
            return Err(Error::WouldBlock);
        }
        c.send_buf.extend(&data[..n]);
        if eor && n == data.len() {
            let end = c.send_end();
            c.record_ends.push_back(end);
        }
        self.with_conn(now, h.index, |c, ctx| {
            c.restart_after_idle(ctx);
            c.output(ctx);
        });
        Ok(n)
    }

    /// Fixes the send buffer of one connection at `bytes` (`SO_SNDBUF` on a connected socket,
    /// after Linux's doubling): auto-tuning stops for it, as Linux's `SOCK_SNDBUF_LOCK` stops
    /// `tcp_sndbuf_expand`. A buffer smaller than what is queued takes no more until the queue
    /// drains below it.
    pub fn set_send_buffer(
        &mut self,
        now: Instant,
        h: ConnHandle,
        bytes: usize,
    ) -> Result<(), Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        c.send_cap = bytes;
        c.send_cap_locked = true;
        let room = c.send_space() > 0;
        if room {
            self.with_conn(now, h.index, |c, ctx| c.notify_writable(ctx));
        }
        Ok(())
    }

    /// Bytes that [`Endpoint::send`] would accept now.
    pub fn send_capacity(&self, h: ConnHandle) -> Result<usize, Error> {
        Ok(self.conn(h)?.send_space())
    }

    /// Reads received data. `Ok(0)` means end of stream (the peer's FIN); [`Error::WouldBlock`]
    /// means nothing yet; a reset or timeout is reported once as its error, then as end of stream.
    pub fn recv(&mut self, now: Instant, h: ConnHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.flush_deferred();
        let max_recv = self.config.max_recv_buffer.max(self.config.recv_buffer);
        let c = self
            .conns
            .get_checked_mut(h.index, h.generation)
            .filter(|c| c.app_owned)
            .ok_or(Error::InvalidHandle)?;
        if !c.recv_buf.is_empty() && !buf.is_empty() {
            let n = c.recv_buf.read(buf, &mut self.tx);
            c.tune_recv_buffer(max_recv, now, n);
            // As Linux's tcp_cleanup_rbuf: open the window when reading freed a lot (RFC 9293
            // §3.8.6.2.2; the window we would offer now is at least twice the one the peer has),
            // and send the ACK the input path held back while the window would have shrunk.
            if c.state.is_synchronized()
                && !c.fin_received
                && (c.window_update_due() || c.ack_due_on_read())
            {
                c.ack_now = true;
                self.with_conn(now, h.index, |c, ctx| c.output(ctx));
            }
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        nothing_to_read(c)
    }

    /// Copies received data into `buf` without consuming it (`MSG_PEEK`): a later
    /// [`recv`](Self::recv) reads the same bytes. Otherwise as `recv`: `Ok(0)` at the end of
    /// the stream, [`Error::WouldBlock`] when nothing has arrived, a reset or timeout reported
    /// once as its error (as Linux's `sock_error`, which a peek consumes too).
    pub fn peek(&mut self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        if !c.recv_buf.is_empty() && !buf.is_empty() {
            return Ok(c.recv_buf.peek(buf));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        nothing_to_read(c)
    }

    /// Bytes ready to read.
    pub fn recv_available(&self, h: ConnHandle) -> Result<usize, Error> {
        Ok(self.conn(h)?.recv_buf.len())
    }

    /// What Linux reports as `TCP_CM_INQ` after a read (`tcp_inq_hint`): the bytes ready to
    /// read, plus one for the peer's FIN once it has arrived, so that a reader told a non-zero
    /// value reads on and meets the end of the stream.
    pub fn inq_hint(&self, h: ConnHandle) -> Result<usize, Error> {
        let c = self.conn(h)?;
        Ok(c.recv_buf.len() + usize::from(c.fin_received))
    }

    /// True once the peer's FIN has been read past (end of stream).
    pub fn is_eof(&self, h: ConnHandle) -> Result<bool, Error> {
        let c = self.conn(h)?;
        Ok(c.recv_buf.is_empty() && (c.fin_received || c.state == State::Closed))
    }

    /// Sets the DSCP (RFC 2474) of the connection's datagrams from now on: the IPv4 TOS byte or
    /// IPv6 Traffic Class (`IP_TOS`, `IPV6_TCLASS`). The ECN bits of `tos` are ignored (see
    /// [`ConnectOptions::tos`]).
    pub fn set_tos(&mut self, h: ConnHandle, tos: u8) -> Result<(), Error> {
        self.flush_deferred();
        self.conn_mut(h)?.tos = dscp_only(tos);
        Ok(())
    }

    /// Sets the DSCP of a listener's SYN+ACKs and of the connections it accepts from then on
    /// (`IP_TOS` on a listening socket, which Linux's accepted sockets inherit).
    pub fn set_listener_tos(&mut self, l: ListenerHandle, tos: u8) -> Result<(), Error> {
        let listener = self
            .listeners
            .get_checked_mut(l.index, l.generation)
            .ok_or(Error::InvalidHandle)?;
        listener.tos = dscp_only(tos);
        Ok(())
    }

    /// Corks the connection (`true`, Linux `TCP_CORK`) or uncorks it. While corked, a segment
    /// smaller than the MSS at the end of the queue is not sent: more data fills it, or
    /// uncorking lets it go (as Nagle's algorithm allows, at once with `TCP_NODELAY`), or, with
    /// nothing in flight, the probe timer sends it after about an RTO (the 200 ms ceiling of
    /// Linux's `tcp(7)`). Full segments and a FIN are never held.
    pub fn set_cork(&mut self, now: Instant, h: ConnHandle, cork: bool) -> Result<(), Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        c.cork = cork;
        if !cork && c.nodelay {
            c.push_once = true;
        }
        self.with_conn(now, h.index, |c, ctx| c.output(ctx));
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on (RFC 9293 §3.7.4; `TCP_NODELAY`). Turning it
    /// off also sends a segment the cork holds, once (`tcp(7)`: "setting this option forces an
    /// explicit flush of pending output, even if `TCP_CORK` is currently set").
    pub fn set_nodelay(&mut self, now: Instant, h: ConnHandle, nodelay: bool) -> Result<(), Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        c.nodelay = nodelay;
        c.push_once |= nodelay;
        self.with_conn(now, h.index, |c, ctx| c.output(ctx));
        Ok(())
    }

    /// Chooses the congestion-control algorithm of one connection (`TCP_CONGESTION`). On an
    /// established connection the new controller starts afresh from the current window, as
    /// Linux's `tcp_reinit_congestion_control` does.
    pub fn set_congestion_control(
        &mut self,
        now: Instant,
        h: ConnHandle,
        algorithm: crate::cc::Algorithm,
    ) -> Result<(), Error> {
        self.flush_deferred();
        let iw = self.config.initial_window_segments;
        let ack_limit = self.config.slow_start_ack_limit;
        let c = self.conn_mut(h)?;
        c.cc_algorithm = algorithm;
        if c.cc
            .as_ref()
            .is_some_and(|cc| cc.name() != algorithm.as_str())
        {
            let segments = (c.cwnd() / c.snd_mss.max(1)).max(iw);
            c.cc = Some(crate::cc::new_controller(
                algorithm, c.snd_mss, segments, ack_limit, now,
            ));
        }
        Ok(())
    }

    /// Sets the RFC 5482 user timeout (`TCP_USER_TIMEOUT`): give up with
    /// [`Error::TimedOut`] when data stays unacknowledged this long. `None` restores the default
    /// (the `retries2` count decides).
    pub fn set_user_timeout(
        &mut self,
        h: ConnHandle,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.flush_deferred();
        self.conn_mut(h)?.user_timeout = timeout.filter(|t| !t.is_zero());
        Ok(())
    }

    /// Turns keepalive on (`SO_KEEPALIVE` with `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`) or
    /// off (RFC 1122 §4.2.3.6): after `idle` without a segment from the peer, up to `probes`
    /// probes `interval` apart; no answer ends the connection with [`Error::TimedOut`].
    pub fn set_keepalive(
        &mut self,
        now: Instant,
        h: ConnHandle,
        keepalive: Option<Keepalive>,
    ) -> Result<(), Error> {
        self.flush_deferred();
        if keepalive.is_some_and(|k| k.idle.is_zero() || k.interval.is_zero() || k.probes == 0) {
            return Err(Error::InvalidInput);
        }
        let c = self.conn_mut(h)?;
        c.keepalive = keepalive.map(|k| (k.idle, k.interval, k.probes));
        c.keepalive_out = 0;
        c.keepalive_anchor = now;
        self.with_conn(now, h.index, |c, _| c.arm_keepalive());
        Ok(())
    }

    /// Shuts down the sending direction (`shutdown(SHUT_WR)`, RFC 9293 §3.10.4 CLOSE while the
    /// application still reads): a FIN follows the queued data; reading continues (half-close).
    pub fn shutdown(&mut self, now: Instant, h: ConnHandle) -> Result<(), Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        match c.state {
            State::SynSent => {
                self.with_conn(now, h.index, |c, ctx| c.terminate(ctx, None));
                self.after_conn(now, h.index);
                Ok(())
            }
            State::SynReceived | State::Established | State::CloseWait => {
                if !c.fin_queued {
                    c.fin_queued = true;
                    self.with_conn(now, h.index, |c, ctx| {
                        let next = match c.state {
                            State::CloseWait => State::LastAck,
                            _ => State::FinWait1,
                        };
                        c.set_state(ctx, next);
                        c.output(ctx);
                    });
                    self.after_conn(now, h.index);
                }
                Ok(())
            }
            State::Closed if c.error.is_none() => Err(Error::NotConnected),
            _ => Ok(()),
        }
    }

    /// Closes the connection and releases the handle (`close()`, RFC 9293 §3.10.4). Queued data
    /// is still delivered and a FIN follows; if received data was left unread the connection is
    /// reset instead, as Linux does. The endpoint finishes the close on its own.
    pub fn close(&mut self, now: Instant, h: ConnHandle) -> Result<(), Error> {
        self.flush_deferred();
        let c = self.conn_mut(h)?;
        let unread = !c.recv_buf.is_empty();
        let state = c.state;
        c.orphan = true;
        if unread && state.is_synchronized() && state != State::TimeWait {
            self.counters.abort_on_close += 1;
            self.abort_conn(now, h.index);
            return Ok(());
        }
        match state {
            State::SynSent | State::Closed => {
                self.with_conn(now, h.index, |c, ctx| {
                    if c.state != State::Closed {
                        c.terminate(ctx, None);
                    }
                });
            }
            State::SynReceived | State::Established | State::CloseWait => {
                let c = self.conn_mut(h)?;
                c.fin_queued = true;
                self.with_conn(now, h.index, |c, ctx| {
                    let next = match c.state {
                        State::CloseWait => State::LastAck,
                        _ => State::FinWait1,
                    };
                    c.set_state(ctx, next);
                    c.output(ctx);
                });
            }
            State::FinWait2 => {
                self.with_conn(now, h.index, |c, ctx| {
                    c.arm_linger(ctx.now, ctx.config.fin_timeout)
                });
            }
            _ => {}
        }
        if let Some(c) = self.conns.get_mut(h.index) {
            c.app_owned = false;
        }
        self.after_conn(now, h.index);
        Ok(())
    }

    /// Aborts the connection (RFC 9293 §3.10.5): RST to the peer when synchronized, everything
    /// dropped, and the handle released (`SO_LINGER` with a zero timeout).
    pub fn abort(&mut self, now: Instant, h: ConnHandle) -> Result<(), Error> {
        self.flush_deferred();
        self.conn(h)?;
        if let Some(c) = self.conns.get_mut(h.index) {
            c.orphan = true;
        }
        self.abort_conn(now, h.index);
        if let Some(c) = self.conns.get_mut(h.index) {
            c.app_owned = false;
        }
        self.after_conn(now, h.index);
        Ok(())
    }

    fn abort_conn(&mut self, now: Instant, index: u32) {
        self.with_conn(now, index, |c, ctx| {
            if c.state.is_synchronized() || c.state == State::SynReceived {
                c.send_rst(ctx);
            }
            c.terminate(ctx, Some(Error::ConnectionAborted));
        });
        self.after_conn(now, index);
    }

    // ----- driving -----------------------------------------------------------------------------

    /// The next IP datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.flush_deferred();
        self.tx.pop()
    }

    /// Hands back a buffer (typically a datagram from [`Endpoint::poll_transmit`] once the
    /// driver has sent it, or a received datagram once [`Endpoint::handle_packet`] returned), so
    /// that later datagrams are built in it instead of in a new allocation. Optional: a driver
    /// that never calls this only pays one allocation per datagram. The endpoint keeps a bounded
    /// number of spares (at most 512 buffers and 2 MiB) and frees the rest.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.tx.recycle(buf);
    }

    /// The next event, if any. `Readable` and `Writable` are coalesced: at most one of each
    /// waits per connection, so an application that drains events late (or never) costs no
    /// memory per segment.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        match ev {
            Event::Readable(h) => {
                if let Some(c) = self.conns.get_checked_mut(h.index, h.generation) {
                    c.readable_pending = false;
                }
            }
            Event::Writable(h) => {
                if let Some(c) = self.conns.get_checked_mut(h.index, h.generation) {
                    c.writable_pending = false;
                }
            }
            _ => {}
        }
        Some(ev)
    }

    /// When [`Endpoint::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.flush_deferred();
        self.timers.next_deadline()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush_deferred();
        let mut expired = core::mem::take(&mut self.expired);
        expired.clear();
        self.timers.expire(now, &mut expired);
        for key in expired.drain(..) {
            match key {
                TimerKey::Conn(i) => {
                    // The wheel let go of this key as it expired.
                    if let Some(c) = self.conns.get_mut(i) {
                        c.scheduled = None;
                    }
                    self.with_conn(now, i, |c, ctx| c.on_timeout(ctx));
                    self.after_conn(now, i);
                }
                TimerKey::HalfOpen(i) => self.half_open_timeout(now, i),
                TimerKey::TimeWait(i) => {
                    let due = self.time_wait.get(i).is_some_and(|t| t.deadline <= now);
                    if due {
                        self.drop_time_wait(i);
                    } else if let Some(t) = self.time_wait.get(i) {
                        let d = t.deadline;
                        self.timers.schedule(TimerKey::TimeWait(i), d);
                    }
                }
            }
        }
        self.expired = expired;
    }

    /// Handles one arriving IP datagram. Anything malformed, not for us, or not acceptable is
    /// counted and dropped, and the reason returned; nothing here panics on any input.
    ///
    /// What in-order data and plain ACKs make a connection send (its ACK, new data the ACK let
    /// out) is built at the next [`Endpoint::poll_transmit`], [`Endpoint::poll_timeout`] or
    /// [`Endpoint::handle_timeout`], so datagrams a driver hands over in a batch before polling
    /// are answered together: one ACK for a burst of in-order segments, as Linux acknowledges
    /// a GRO batch. Anything that must be acknowledged on its own (out-of-order data, a filled
    /// hole, a duplicate, a FIN, a handshake step) is answered at once, and whatever waits is
    /// sent before any application call (`send`, `recv`, `close`, ...) acts. A driver that polls
    /// after every datagram sees an ACK at least every second full-sized segment
    /// (RFC 5681 §4.2).
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Result<(), DropReason> {
        self.rx = crate::conn::RxDatagram::default();
        self.input(now, packet)
    }

    /// [`Endpoint::handle_packet`] for a datagram handed over by value: in-order payload is
    /// queued for the application inside the datagram as it arrived, not copied into the
    /// receive buffer (it is copied once, by [`Endpoint::recv`]), when the payload fills at
    /// least half of the vector's allocation. A datagram that is not kept, and every kept one
    /// once it has been read, becomes a spare buffer as by [`Endpoint::recycle`] (see
    /// [`Endpoint::take_spare`] to reuse them for reading).
    pub fn handle_datagram(&mut self, now: Instant, datagram: Vec<u8>) -> Result<(), DropReason> {
        self.rx = crate::conn::RxDatagram {
            base: datagram.as_ptr() as usize,
            len: datagram.len(),
            capacity: datagram.capacity(),
            claim: None,
        };
        let result = self.input(now, &datagram);
        let claim = core::mem::take(&mut self.rx).claim;
        let spent = match claim {
            Some((index, payload)) => match self.conns.get_mut(index) {
                Some(c) => c.recv_buf.attach(datagram, payload).err(),
                None => Some(datagram),
            },
            None => Some(datagram),
        };
        if let Some(buf) = spent {
            self.tx.recycle(buf);
        }
        result
    }

    /// A spare buffer (stale bytes, any length; see [`Endpoint::recycle`]), for a driver that
    /// reads datagrams into buffers it then hands over with [`Endpoint::handle_datagram`].
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        self.tx.take_spare()
    }

    fn input(&mut self, now: Instant, packet: &[u8]) -> Result<(), DropReason> {
        let ip = match synack_wire::parse_ip(packet) {
            Ok(ip) => ip,
            Err(e) => {
                self.counters.ip_in_hdr_errors += 1;
                return Err(DropReason::Ip(e));
            }
        };
        let (src, dst) = (ip.ip.src(), ip.ip.dst());
        if !self.addrs.contains(&dst) {
            self.counters.ip_in_addr_errors += 1;
            return Err(DropReason::NotLocal);
        }
        if ip.protocol == synack_wire::IPPROTO_ICMP || ip.protocol == synack_wire::IPPROTO_ICMPV6 {
            return self.handle_icmp(now, &ip);
        }
        if ip.protocol != synack_wire::IPPROTO_TCP {
            self.counters.ip_in_unknown_protos += 1;
            return Err(DropReason::UnknownProtocol(ip.protocol));
        }
        self.counters.in_segs += 1;
        let seg = match TcpRepr::parse(ip.payload, src, dst, true) {
            Ok(seg) => seg,
            Err(e) => {
                self.counters.in_errs += 1;
                if matches!(e, synack_wire::Error::BadChecksum) {
                    self.counters.in_csum_errors += 1;
                }
                return Err(DropReason::Tcp(e));
            }
        };
        let dropped_before = self.counters.dropped_segs;
        self.dispatch(now, src, dst, &seg);
        if self.counters.dropped_segs != dropped_before {
            // Each path counts a drop once; make sure of it even if several checks fired.
            self.counters.dropped_segs = dropped_before + 1;
            return Err(DropReason::Segment);
        }
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, src: IpAddr, dst: IpAddr, seg: &TcpRepr<'_>) {
        if seg.src_port == 0
            || seg.dst_port == 0
            || src.is_multicast()
            || src.is_unspecified()
            || is_broadcast(src)
            || src == dst && seg.src_port == seg.dst_port && seg.flags.syn() && !seg.flags.ack()
        {
            // Port 0, multicast, broadcast and LAND-style segments are never answered.
            self.counters.dropped_segs += 1;
            return;
        }
        let tuple = FourTuple {
            local: SocketAddr::new(dst, seg.dst_port),
            remote: SocketAddr::new(src, seg.src_port),
        };
        let owner = match self.last_lookup {
            Some((t, owner)) if t == tuple => Some(owner),
            _ => {
                let owner = self.by_tuple.get(&tuple).copied();
                self.last_lookup = owner.map(|o| (tuple, o));
                owner
            }
        };
        match owner {
            Some(Owner::Conn(i)) => {
                let mut wait = false;
                self.with_conn(now, i, |c, ctx| {
                    c.on_segment_input(ctx, seg);
                    if c.output_may_wait() {
                        wait = true;
                    } else {
                        c.output(ctx);
                    }
                });
                if wait {
                    self.defer_output(now, i);
                }
                self.after_conn(now, i);
            }
            Some(Owner::HalfOpen(i)) => self.half_open_segment(now, i, seg),
            Some(Owner::TimeWait(i)) => self.time_wait_segment(now, i, tuple, seg),
            None => self.no_connection(now, tuple, seg, None),
        }
    }

    // ----- internals ---------------------------------------------------------------------------

    /// Puts connection `index` on the deferred-output list (once).
    fn defer_output(&mut self, now: Instant, index: u32) {
        let generation = self.conns.generation(index);
        if let Some(c) = self.conns.get_mut(index) {
            if !c.output_pending {
                c.output_pending = true;
                self.deferred.push((index, generation));
            }
            self.deferred_now = self.deferred_now.max(now);
        }
    }

    /// Runs the output that segments deferred (see [`Endpoint::handle_packet`]).
    fn flush_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let now = self.deferred_now;
        let mut list = core::mem::take(&mut self.deferred);
        for &(index, generation) in &list {
            let due = self
                .conns
                .get_checked_mut(index, generation)
                .is_some_and(|c| core::mem::take(&mut c.output_pending));
            if due {
                self.with_conn(now, index, |c, ctx| c.output(ctx));
                self.after_conn(now, index);
            }
        }
        list.clear();
        self.deferred = list;
    }

    /// Runs `f` on connection `index` with a context, then reschedules its timer.
    fn with_conn(
        &mut self,
        now: Instant,
        index: u32,
        f: impl FnOnce(&mut Connection, &mut Ctx<'_>),
    ) {
        let generation = self.conns.generation(index);
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: &mut self.tx,
            rx: &mut self.rx,
            events: &mut self.events,
            counters: &mut self.counters,
            handle: ConnHandle { index, generation },
        };
        f(conn, &mut ctx);
        // Touch the wheel only when the deadline moved (most segments leave it alone).
        let next = conn.next_deadline();
        if next != conn.scheduled {
            conn.scheduled = next;
            match next {
                Some(d) => self.timers.schedule(TimerKey::Conn(index), d),
                None => {
                    self.timers.cancel(TimerKey::Conn(index));
                }
            }
        }
    }

    /// Hands a connection that reached TIME-WAIT to a compact entry, and frees a closed
    /// connection nobody holds.
    fn after_conn(&mut self, now: Instant, index: u32) {
        let generation = self.conns.generation(index);
        let Some(c) = self.conns.get_mut(index) else {
            return;
        };
        if c.state == State::TimeWait {
            let window = c.select_window(false);
            let tw = TimeWait {
                tuple: c.tuple,
                snd_nxt: c.snd_nxt,
                rcv_nxt: c.rcv_nxt,
                window,
                ts: c.opts.timestamps.then_some((c.ts_recent, c.ts_offset)),
                deadline: now + self.config.time_wait,
                entered: now,
                tos: c.tos,
                last_oow_ack: None,
            };
            // The application's handle now reads CLOSED; the entry keeps the tuple.
            c.state = State::Closed;
            c.rtx_deadline = None;
            c.delack_deadline = None;
            c.comp_sack_deadline = None;
            c.persist_deadline = None;
            c.linger_deadline = None;
            c.send_buf.clear();
            if c.app_owned {
                self.events.push_back(Event::Closed {
                    handle: ConnHandle { index, generation },
                    error: None,
                });
                if !c.readable_pending {
                    c.readable_pending = true;
                    self.events
                        .push_back(Event::Readable(ConnHandle { index, generation }));
                }
            }
            let tuple = tw.tuple;
            let deadline = tw.deadline;
            let (j, _) = self.time_wait.insert(tw);
            self.last_lookup = None;
            self.by_tuple.insert(tuple, Owner::TimeWait(j));
            self.timers.cancel(TimerKey::Conn(index));
            if let Some(c) = self.conns.get_mut(index) {
                c.scheduled = None;
            }
            self.timers.schedule(TimerKey::TimeWait(j), deadline);
            self.counters.time_waits += 1;
        }
        let Some(c) = self.conns.get_mut(index) else {
            return;
        };
        if c.state == State::Closed {
            c.scheduled = None;
            let tuple = c.tuple;
            let free = !c.app_owned && c.listener.is_none();
            if self.by_tuple.get(&tuple) == Some(&Owner::Conn(index)) {
                self.last_lookup = None;
                self.by_tuple.remove(&tuple);
            }
            self.timers.cancel(TimerKey::Conn(index));
            if free {
                self.conns.remove(index);
            }
        }
    }

    fn drop_time_wait(&mut self, index: u32) {
        if let Some(tw) = self.time_wait.remove(index) {
            if self.by_tuple.get(&tw.tuple) == Some(&Owner::TimeWait(index)) {
                self.last_lookup = None;
                self.by_tuple.remove(&tw.tuple);
            }
            self.timers.cancel(TimerKey::TimeWait(index));
            self.events.push_back(Event::StateChanged {
                tuple: tw.tuple,
                from: State::TimeWait,
                to: State::Closed,
            });
        }
    }

    fn time_wait_segment(&mut self, now: Instant, index: u32, tuple: FourTuple, seg: &TcpRepr<'_>) {
        let Some(tw) = self.time_wait.get_mut(index) else {
            return;
        };
        let action = tw.classify(seg);
        if let (Some((recent, off)), Some(ts)) = (tw.ts, seg.options.timestamps) {
            if (ts.tsval.wrapping_sub(recent) as i32) > 0 && SeqNum(seg.seq) <= tw.rcv_nxt {
                tw.ts = Some((ts.tsval, off));
            }
        }
        let restart = |tw: &mut TimeWait, timers: &mut TimerWheel<TimerKey>, d: Duration| {
            tw.deadline = now + d;
            timers.schedule(TimerKey::TimeWait(index), tw.deadline);
        };
        match action {
            TwAction::Drop => self.counters.dropped_segs += 1,
            TwAction::Restart => restart(tw, &mut self.timers, self.config.time_wait),
            TwAction::Ack | TwAction::AckAndRestart => {
                if action == TwAction::AckAndRestart {
                    restart(tw, &mut self.timers, self.config.time_wait);
                }
                if oow_rate_limited(
                    &mut tw.last_oow_ack,
                    now,
                    seg,
                    self.config.invalid_ratelimit,
                ) {
                    self.counters.oow_acks_skipped += 1;
                } else {
                    let tw = tw.clone();
                    self.send_time_wait_ack(now, &tw);
                }
            }
            TwAction::Kill => self.drop_time_wait(index),
            TwAction::NewSyn => {
                // Start the new connection's sequence space beyond the old one, as Linux does.
                let isn = tw.snd_nxt.0.wrapping_add(65535 + 2);
                self.counters.time_wait_recycled += 1;
                self.drop_time_wait(index);
                self.no_connection(now, tuple, seg, Some(isn));
            }
        }
    }

    fn send_time_wait_ack(&mut self, now: Instant, tw: &TimeWait) {
        let mut options = TcpOptions::default();
        if let Some((recent, off)) = tw.ts {
            options.timestamps = Some(Timestamps {
                tsval: (now.as_millis() as u32).wrapping_add(off),
                tsecr: recent,
            });
        }
        let tcp = TcpRepr {
            src_port: tw.tuple.local.port(),
            dst_port: tw.tuple.remote.port(),
            seq: tw.snd_nxt.0,
            ack: tw.rcv_nxt.0,
            flags: TcpFlags::ACK,
            window: tw.window,
            urgent: 0,
            options,
            payload: &[],
        };
        self.emit(&tw.tuple, tw.tos, &tcp);
    }

    /// Builds and queues a segment sent outside any connection (SYN+ACK, TIME-WAIT ACK, RST),
    /// with `tos` as its TOS byte.
    fn emit(&mut self, tuple: &FourTuple, tos: u8, tcp: &TcpRepr<'_>) {
        let mut buf = self.tx.buffer();
        if synack_wire::build_tcp_gather_into(
            &mut buf,
            tuple.local.ip(),
            tuple.remote.ip(),
            self.config.ttl,
            tos,
            tcp,
            [tcp.payload, &[]],
        )
        .is_ok()
        {
            self.counters.out_segs += 1;
            if tcp.flags.rst() {
                self.counters.out_rsts += 1;
            }
            self.tx.push(buf);
        } else {
            self.tx.recycle(buf);
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for a connection that does not exist gets RST.
    fn send_reset_for(&mut self, tuple: &FourTuple, seg: &TcpRepr<'_>) {
        if seg.flags.rst() {
            return;
        }
        let (seq, ack, flags) = if seg.flags.ack() {
            (seg.ack, 0, TcpFlags::RST)
        } else {
            (
                0,
                seg.seq.wrapping_add(seg_len(seg)),
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        let tcp = TcpRepr {
            src_port: tuple.local.port(),
            dst_port: tuple.remote.port(),
            seq,
            ack,
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        self.emit(tuple, 0, &tcp);
    }

    /// The TOS byte of listener `l`'s SYN+ACKs and connections.
    fn listener_tos(&self, l: u32) -> u8 {
        self.listeners.get(l).map_or(0, |x| x.tos)
    }

    fn find_listener(&self, local: &SocketAddr) -> Option<u32> {
        if let Some(i) = self.listen_map.get(local) {
            return Some(*i);
        }
        let any = match local.ip() {
            IpAddr::V4(_) => IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
        };
        self.listen_map
            .get(&SocketAddr::new(any, local.port()))
            .copied()
    }

    /// A segment no connection owns: a listener's business (RFC 9293 §3.10.7.2) or a RST.
    fn no_connection(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        isn: Option<u32>,
    ) {
        let Some(l) = self.find_listener(&tuple.local) else {
            self.counters.dropped_segs += 1;
            self.send_reset_for(&tuple, seg);
            return;
        };
        let f = seg.flags;
        if f.rst() {
            self.counters.dropped_segs += 1;
            return;
        }
        if f.ack() {
            if !f.syn() && self.config.syncookies && self.try_cookie(now, l, tuple, seg) {
                return;
            }
            self.counters.dropped_segs += 1;
            self.send_reset_for(&tuple, seg);
            return;
        }
        if !f.syn() {
            self.counters.dropped_segs += 1;
            return;
        }
        let Some(listener) = self.listeners.get_mut(l) else {
            return;
        };
        if listener.accept_queue_full() {
            // Dropped without RST: the client retransmits and gets in once accept() makes room.
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            self.counters.dropped_segs += 1;
            return;
        }
        let opts = crate::conn::negotiate(&self.config, seg);
        let our_mss = local_mss(&self.config, &tuple);
        if listener.syn_queue_full(self.config.max_syn_backlog) {
            if self.config.syncookies {
                self.send_cookie_synack(now, tuple, seg, opts, our_mss);
            } else {
                self.counters.listen_drops += 1;
                self.counters.dropped_segs += 1;
            }
            return;
        }
        listener.syn_queue += 1;
        let iss = isn.unwrap_or_else(|| self.isn.isn(&tuple, now));
        let window = synack_window(&self.config, our_mss, opts.timestamps);
        let entry = HalfOpen {
            tuple,
            listener: l,
            iss: SeqNum(iss),
            irs: SeqNum(seg.seq),
            opts,
            our_mss,
            window,
            ts_recent: seg.options.timestamps.map_or(0, |t| t.tsval),
            ts_offset: self.isn.ts_offset(&tuple),
            retries: 0,
            first_sent: now,
            deadline: now + self.config.initial_rto,
            acked: false,
            sent_tsvals: None,
            last_oow_ack: None,
        };
        let deadline = entry.deadline;
        let (i, _) = self.half_open.insert(entry);
        self.last_lookup = None;
        self.by_tuple.insert(tuple, Owner::HalfOpen(i));
        self.timers.schedule(TimerKey::HalfOpen(i), deadline);
        self.counters.passive_opens += 1;
        self.events.push_back(Event::StateChanged {
            tuple,
            from: State::Listen,
            to: State::SynReceived,
        });
        self.send_synack(now, i);
    }

    fn synack_repr(&self, now: Instant, h: &HalfOpen) -> TcpRepr<'static> {
        let mut options = TcpOptions {
            mss: Some(h.our_mss),
            sack_permitted: h.opts.sack,
            ..TcpOptions::default()
        };
        if h.opts.rcv_wscale > 0 || (self.config.window_scaling && h.opts.snd_wscale > 0) {
            options.window_scale = Some(h.opts.rcv_wscale);
        }
        if h.opts.timestamps {
            options.timestamps = Some(Timestamps {
                tsval: (now.as_millis() as u32).wrapping_add(h.ts_offset),
                tsecr: h.ts_recent,
            });
        }
        TcpRepr {
            src_port: h.tuple.local.port(),
            dst_port: h.tuple.remote.port(),
            seq: h.iss.0,
            ack: (h.irs + 1).0,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: h.window,
            urgent: 0,
            options,
            payload: &[],
        }
    }

    fn send_synack(&mut self, now: Instant, i: u32) {
        let Some(h) = self.half_open.get(i) else {
            return;
        };
        let (tuple, tos) = (h.tuple, self.listener_tos(h.listener));
        let tcp = self.synack_repr(now, h);
        if let (Some(ts), Some(h)) = (tcp.options.timestamps, self.half_open.get_mut(i)) {
            let first = h.sent_tsvals.map_or(ts.tsval, |(first, _)| first);
            h.sent_tsvals = Some((first, ts.tsval));
        }
        self.emit(&tuple, tos, &tcp);
    }

    fn drop_half_open(&mut self, i: u32, report: bool) {
        if let Some(h) = self.half_open.remove(i) {
            if self.by_tuple.get(&h.tuple) == Some(&Owner::HalfOpen(i)) {
                self.last_lookup = None;
                self.by_tuple.remove(&h.tuple);
            }
            self.timers.cancel(TimerKey::HalfOpen(i));
            if let Some(l) = self.listeners.get_mut(h.listener) {
                l.syn_queue = l.syn_queue.saturating_sub(1);
            }
            if report {
                self.events.push_back(Event::StateChanged {
                    tuple: h.tuple,
                    from: State::SynReceived,
                    to: State::Closed,
                });
            }
        }
    }

    /// SYN+ACK retransmission (RFC 6298 §5 backoff: 1, 2, 4, 8, 16 s), then the entry is dropped.
    fn half_open_timeout(&mut self, now: Instant, i: u32) {
        let limit = self.config.synack_retries;
        let initial = self.config.initial_rto;
        let max_rto = self.config.max_rto;
        let Some(h) = self.half_open.get_mut(i) else {
            return;
        };
        if h.deadline > now {
            let d = h.deadline;
            self.timers.schedule(TimerKey::HalfOpen(i), d);
            return;
        }
        if h.retries >= limit {
            self.counters.synack_timeouts += 1;
            self.counters.attempt_fails += 1;
            self.drop_half_open(i, true);
            return;
        }
        h.retries += 1;
        h.deadline = now + synack_timeout(initial, max_rto, h.retries);
        let d = h.deadline;
        self.timers.schedule(TimerKey::HalfOpen(i), d);
        self.counters.retrans_segs += 1;
        self.send_synack(now, i);
        self.counters.out_segs -= 1;
    }

    /// A segment for a half-open entry, checked in the order of Linux's `tcp_check_req` (RFC 9293
    /// §3.10.7.4 SYN-RECEIVED, RFC 5961): a retransmitted SYN gets the SYN+ACK again and
    /// restarts its timer; a wrong ACK gets RST; a segment outside the window, failing PAWS, or
    /// (Linux 6.15) echoing no TSval of our SYN+ACKs gets a bare ACK and is dropped (both
    /// answers at most once per `invalid_ratelimit`); a RST, or a SYN in the window, ends the
    /// entry (the SYN with a RST, "embryonic reset"); the right ACK completes the handshake.
    fn half_open_segment(&mut self, now: Instant, i: u32, seg: &TcpRepr<'_>) {
        let Some(h) = self.half_open.get(i).cloned() else {
            return;
        };
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let rcv_nxt = h.irs + 1;
        let window = u32::from(h.window);
        let paws_reject = match (h.opts.timestamps, seg.options.timestamps) {
            (true, Some(ts)) => !f.rst() && !crate::time_wait::paws_check(h.ts_recent, ts.tsval, 0),
            _ => false,
        };
        if seq == h.irs && f == TcpFlags::SYN && !paws_reject {
            // The SYN again (our SYN+ACK was lost or is late): answer it again, at most once per
            // `invalid_ratelimit`, and restart the retransmission timer from now with the
            // current backoff (Linux `tcp_check_req`: `mod_timer_pending`, `reqsk_timeout`).
            if self.half_open_answer_held_back(now, i, seg) {
                return;
            }
            let (initial, max_rto) = (self.config.initial_rto, self.config.max_rto);
            if let Some(e) = self.half_open.get_mut(i) {
                e.deadline = now + synack_timeout(initial, max_rto, e.retries);
            }
            self.counters.retrans_segs += 1;
            self.send_synack(now, i);
            self.counters.out_segs -= 1;
            return;
        }
        if f.ack() && SeqNum(seg.ack) != h.iss + 1 {
            self.counters.dropped_segs += 1;
            self.send_reset_for(&h.tuple, seg);
            return;
        }
        let end = seq + seg_len(seg);
        // Linux tcp_in_window(): starts at RCV.NXT, or ends after it and starts inside.
        let e_win = rcv_nxt + window;
        let in_window =
            seq == rcv_nxt || (end > rcv_nxt && seq < e_win) || (seq == e_win && seq == end);
        // Linux 6.15: the TSecr of an ACK must echo the TSval of one of our SYN+ACKs.
        let tsecr_reject = h.opts.timestamps
            && seg
                .options
                .timestamps
                .is_some_and(|ts| !crate::listener::tsecr_within(h.sent_tsvals, ts.tsecr));
        if paws_reject || tsecr_reject || !in_window {
            if paws_reject {
                self.counters.paws_rejected += 1;
            } else if tsecr_reject {
                self.counters.tsecr_rejected += 1;
            } else {
                self.counters.out_of_window += 1;
            }
            self.counters.dropped_segs += 1;
            if !f.rst() && !self.half_open_answer_held_back(now, i, seg) {
                self.send_half_open_ack(now, &h);
            }
            return;
        }
        if f.rst() || f.syn() {
            // The peer does not want this connection (e.g. an old duplicate SYN): forget it.
            if f.syn() {
                self.send_reset_for(&h.tuple, seg);
            }
            self.drop_half_open(i, true);
            return;
        }
        if !f.ack() {
            self.counters.dropped_segs += 1;
            return;
        }
        let l = h.listener;
        let full = self.listeners.get(l).is_none_or(|l| l.accept_queue_full());
        if full {
            // Linux (tcp_abort_on_overflow = 0): drop the ACK, keep the entry; the SYN+ACK
            // retransmission makes the peer ACK again later.
            self.counters.listen_overflows += 1;
            self.counters.dropped_segs += 1;
            if let Some(h) = self.half_open.get_mut(i) {
                h.acked = true;
            }
            return;
        }
        self.drop_half_open(i, false);
        self.promote(now, l, &h, seg, State::SynReceived);
    }

    /// Whether the rate limit holds back the half-open entry's answer to `seg` (Linux
    /// `tcp_oow_rate_limited` on `last_oow_ack_time`, counted as `TCPACKSkippedSynRecv`).
    fn half_open_answer_held_back(&mut self, now: Instant, i: u32, seg: &TcpRepr<'_>) -> bool {
        let interval = self.config.invalid_ratelimit;
        let Some(e) = self.half_open.get_mut(i) else {
            return true;
        };
        let held = crate::time_wait::oow_rate_limited(&mut e.last_oow_ack, now, seg, interval);
        if held {
            self.counters.oow_acks_skipped += 1;
        }
        held
    }

    /// A bare ACK from a half-open entry (Linux `tcp_v4_reqsk_send_ack`).
    fn send_half_open_ack(&mut self, now: Instant, h: &HalfOpen) {
        let mut options = TcpOptions::default();
        if h.opts.timestamps {
            options.timestamps = Some(Timestamps {
                tsval: (now.as_millis() as u32).wrapping_add(h.ts_offset),
                tsecr: h.ts_recent,
            });
        }
        let window = if h.opts.rcv_wscale > 0 {
            u16::try_from(u32::from(h.window) >> h.opts.rcv_wscale).unwrap_or(u16::MAX)
        } else {
            h.window
        };
        let tcp = TcpRepr {
            src_port: h.tuple.local.port(),
            dst_port: h.tuple.remote.port(),
            seq: (h.iss + 1).0,
            ack: (h.irs + 1).0,
            flags: TcpFlags::ACK,
            window,
            urgent: 0,
            options,
            payload: &[],
        };
        self.emit(&h.tuple, self.listener_tos(h.listener), &tcp);
    }

    /// Creates the full connection of a completed passive open and queues it for accept().
    fn promote(&mut self, now: Instant, l: u32, h: &HalfOpen, seg: &TcpRepr<'_>, from: State) {
        let mut conn = Connection::new(&self.config, h.tuple, h.iss.0, h.ts_offset, now);
        conn.tos = self.listener_tos(l);
        conn.our_mss = h.our_mss;
        conn.apply_negotiated(&self.config, h.opts, now);
        conn.irs = h.irs;
        conn.rcv_nxt = h.irs + 1;
        conn.rcv_adv = conn.rcv_nxt + u32::from(h.window);
        conn.rcv_wup = conn.rcv_nxt;
        conn.rcv_ssthresh = u32::from(h.window);
        // The SYN+ACK's window is the one last offered (Linux rcv_wnd from req->rsk_rcv_wnd).
        conn.last_window = u32::from(h.window);
        conn.snd_una = h.iss + 1;
        conn.snd_nxt = h.iss + 1;
        conn.send_seq = h.iss + 1;
        conn.syn_acked = true;
        conn.ts_recent = h.ts_recent;
        conn.ts_recent_stamp = now;
        // RFC 7323 §4.3: the completing ACK's TSval becomes TS.Recent when it is not older and
        // the ACK lies within what we acknowledged (Linux tcp_ack, FLAG_UPDATE_TS_RECENT).
        if let (true, Some(ts)) = (conn.opts.timestamps, seg.options.timestamps) {
            if SeqNum(seg.seq) <= conn.rcv_nxt
                && crate::time_wait::paws_check(h.ts_recent, ts.tsval, 0)
            {
                conn.ts_recent = ts.tsval;
            }
        }
        conn.snd_wnd = u32::from(seg.window) << h.opts.snd_wscale;
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = SeqNum(seg.seq);
        conn.snd_wl2 = SeqNum(seg.ack);
        conn.state = State::Established;
        conn.established_at = Some(now);
        conn.listener = Some(l);
        conn.arm_keepalive();
        if h.retries == 0 {
            conn.rtt.sample(now - h.first_sent);
        } else {
            conn.syn_retransmitted = true;
            conn.rtt.set_base_rto(Duration::from_secs(3));
        }
        // Linux tcp_rcv_state_process (SYN_RECV): the pacing rate starts from the handshake.
        conn.update_pacing_rate();
        let tuple = h.tuple;
        let (index, generation) = self.conns.insert(conn);
        self.last_lookup = None;
        self.by_tuple.insert(tuple, Owner::Conn(index));
        self.events.push_back(Event::StateChanged {
            tuple,
            from,
            to: State::Established,
        });
        if let Some(listener) = self.listeners.get_mut(l) {
            listener.accept_queue.push_back((index, generation));
            let lg = self.listeners.generation(l);
            self.events.push_back(Event::Acceptable(ListenerHandle {
                index: l,
                generation: lg,
            }));
        }
        // The third segment may carry data and even a FIN (RFC 9293 §3.10.7.4).
        if !seg.payload.is_empty() || seg.flags.fin() {
            self.with_conn(now, index, |c, ctx| c.on_segment(ctx, seg));
        }
        self.after_conn(now, index);
    }

    fn send_cookie_synack(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        mut opts: Negotiated,
        our_mss: u16,
    ) {
        let (iss, mss) = self
            .cookies
            .encode(&tuple, seg.seq, opts.peer_mss.min(our_mss), now);
        opts.peer_mss = mss;
        let ts_offset = self.isn.ts_offset(&tuple);
        let mut h = HalfOpen {
            tuple,
            listener: 0,
            iss: SeqNum(iss),
            irs: SeqNum(seg.seq),
            opts,
            our_mss,
            window: synack_window(&self.config, our_mss, opts.timestamps),
            ts_recent: seg.options.timestamps.map_or(0, |t| t.tsval),
            ts_offset,
            retries: 0,
            first_sent: now,
            deadline: now,
            acked: false,
            sent_tsvals: None,
            last_oow_ack: None,
        };
        if !opts.timestamps {
            // Without timestamps the cookie cannot carry window scaling or SACK (Linux does the same).
            h.opts.sack = false;
            h.opts.snd_wscale = 0;
            h.opts.rcv_wscale = 0;
        }
        let mut tcp = self.synack_repr(now, &h);
        if let Some(ts) = tcp.options.timestamps.as_mut() {
            let wscale = h.opts.snd_wscale;
            let ws = (self.config.window_scaling && seg.options.window_scale.is_some())
                .then_some(wscale);
            ts.tsval = SynCookies::encode_ts_options(ts.tsval, ws, h.opts.sack);
        }
        self.counters.syncookies_sent += 1;
        self.emit(&tuple, self.listener_tos(h.listener), &tcp);
    }

    /// The third segment of a handshake answered with a SYN cookie.
    fn try_cookie(&mut self, now: Instant, l: u32, tuple: FourTuple, seg: &TcpRepr<'_>) -> bool {
        if seg.flags.rst() || seg.flags.syn() {
            return false;
        }
        let peer_isn = seg.seq.wrapping_sub(1);
        let cookie = seg.ack.wrapping_sub(1);
        let Some(mss) = self.cookies.decode(&tuple, peer_isn, cookie, now) else {
            self.counters.syncookies_failed += 1;
            return false;
        };
        if self.listeners.get(l).is_none_or(|l| l.accept_queue_full()) {
            self.counters.listen_overflows += 1;
            return true;
        }
        self.counters.syncookies_recv += 1;
        let our_mss = local_mss(&self.config, &tuple);
        let mut opts = Negotiated {
            peer_mss: mss,
            ..Negotiated::default()
        };
        let mut ts_recent = 0;
        if let Some(ts) = seg.options.timestamps.filter(|_| self.config.timestamps) {
            let (wscale, sack) = SynCookies::decode_ts_options(ts.tsecr);
            opts.timestamps = true;
            opts.sack = sack && self.config.sack;
            if let Some(ws) = wscale.filter(|_| self.config.window_scaling) {
                opts.snd_wscale = ws.min(14);
                opts.rcv_wscale = self.config.window_scale_shift();
            }
            ts_recent = ts.tsval;
        }
        let h = HalfOpen {
            tuple,
            listener: l,
            iss: SeqNum(cookie),
            irs: SeqNum(peer_isn),
            opts,
            our_mss,
            window: synack_window(&self.config, our_mss, opts.timestamps),
            ts_recent,
            ts_offset: self.isn.ts_offset(&tuple),
            retries: 1,
            first_sent: now,
            deadline: now,
            acked: true,
            sent_tsvals: None,
            last_oow_ack: None,
        };
        self.promote(now, l, &h, seg, State::Listen);
        true
    }
}

/// The SYN+ACK retransmission timeout after `retries` retransmissions: `initial` doubled each
/// time, at most `max` (Linux `reqsk_timeout`).
fn synack_timeout(initial: Duration, max: Duration, retries: u8) -> Duration {
    initial.saturating_mul(1 << retries.min(20)).min(max)
}

/// The window field of our SYN+ACK: the initial receive buffer rounded down to a multiple of the
/// segment payload size, then capped at 65535, as Linux does (65160 for a 64 KiB buffer and MSS
/// 1460 with timestamps).
fn synack_window(config: &Config, our_mss: u16, timestamps: bool) -> u16 {
    let payload = u32::from(our_mss) - if timestamps { 12 } else { 0 };
    let space = u32::try_from(config.recv_buffer).unwrap_or(u32::MAX);
    crate::conn::initial_window_field(space, payload) as u16
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// Whether `connect` may take over the 4-tuple of TIME-WAIT entry `tw` (Linux
/// `tcp_twsk_unique`): the old connection used timestamps, and the local port was bound
/// explicitly or [`Config::tw_reuse`] allows it for an entry older than
/// [`Config::tw_reuse_delay`].
fn tw_reusable(config: &Config, tw: Option<&TimeWait>, now: Instant, bound_port: bool) -> bool {
    let Some(tw) = tw.filter(|tw| tw.ts.is_some()) else {
        return false;
    };
    if bound_port {
        return true;
    }
    let allowed = match config.tw_reuse {
        crate::TwReuse::Off => false,
        crate::TwReuse::On => true,
        crate::TwReuse::Loopback => {
            tw.tuple.local.ip().is_loopback() || tw.tuple.remote.ip().is_loopback()
        }
    };
    allowed && now.saturating_duration_since(tw.entered) > config.tw_reuse_delay
}
