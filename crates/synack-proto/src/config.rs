//! Every tunable of the engine, with Linux's defaults. Each field cites the RFC or the Linux constant
//! (`net.ipv4.*` sysctl or `include/net/tcp.h`) it follows.

use crate::time::Duration;

/// Engine configuration. `Config::default()` mirrors a stock Linux 6.x host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Initial retransmission timeout before any RTT sample: 1 s (RFC 6298 §2.1; Linux
    /// `TCP_TIMEOUT_INIT`).
    pub initial_rto: Duration,
    /// Lower bound of the RTO: 200 ms (Linux `TCP_RTO_MIN`; RFC 6298 §2.4 allows it).
    pub min_rto: Duration,
    /// Upper bound of the RTO: 120 s (Linux `TCP_RTO_MAX`; RFC 6298 §2.5).
    pub max_rto: Duration,
    /// SYN retransmissions before connect() fails with `TimedOut`: 6 (`net.ipv4.tcp_syn_retries`).
    pub syn_retries: u8,
    /// SYN+ACK retransmissions before a half-open entry is dropped: 5
    /// (`net.ipv4.tcp_synack_retries`).
    pub synack_retries: u8,
    /// How many of the first SYN retransmissions use a constant timeout before backoff starts
    /// (`net.ipv4.tcp_syn_linear_timeouts`, Linux 6.6+ uses 4). Off (0) by default: RFC 6298 doubling.
    pub syn_linear_timeouts: u8,
    /// How long data may go unacknowledged before the connection is aborted with `TimedOut`,
    /// as a number of retransmissions: 15 (`net.ipv4.tcp_retries2`, RFC 1122 §4.2.3.5 R2). As on
    /// Linux (`retransmits_timed_out`), the count stands for a time: the connection gives up
    /// once the first unacknowledged retransmission is older than 15 timeouts would take,
    /// starting at `min_rto` and doubling up to `max_rto` (924.6 s with the defaults), whatever
    /// the path's actual RTO. Also the number of unanswered zero-window probes tolerated.
    pub retries2: u8,
    /// [`retries2`](Self::retries2) for a connection the application has closed (an orphan,
    /// still delivering its data or FIN): 8, or 102.2 s, which is what Linux's default
    /// `net.ipv4.tcp_orphan_retries` = 0 means while the RTO is below `max_rto`. Once an
    /// orphan's backed-off RTO reaches `max_rto`, it is given up at the next timeout.
    pub orphan_retries: u8,
    /// Duration of TIME-WAIT, 2 MSL: 60 s (Linux `TCP_TIMEWAIT_LEN`; RFC 9293 §3.4.2).
    pub time_wait: Duration,
    /// Least time between two ACKs sent in reply to out-of-window or PAWS-rejected segments
    /// without data, per connection or TIME-WAIT entry: 500 ms (Linux
    /// `net.ipv4.tcp_invalid_ratelimit`). Two endpoints that each find the other's ACKs
    /// unacceptable would otherwise answer each other forever (an ACK loop).
    pub invalid_ratelimit: Duration,
    /// When `connect` may take over the 4-tuple of a TIME-WAIT entry for an ephemeral port
    /// (Linux `net.ipv4.tcp_tw_reuse`, default 2: only where either address is a loopback
    /// address). An explicitly bound local port takes it over whatever this says, as on Linux.
    /// Either way the old connection must have used timestamps (PAWS then tells old duplicates
    /// apart), and the new one starts its sequence numbers 65537 past the old one's.
    pub tw_reuse: TwReuse,
    /// How long an entry must have been in TIME-WAIT before `tw_reuse` lets an ephemeral
    /// `connect` take it over: 1 s (Linux `net.ipv4.tcp_tw_reuse_delay`, 1000 ms).
    pub tw_reuse_delay: Duration,
    /// How long an orphaned FIN-WAIT-2 connection waits for the peer's FIN: 60 s
    /// (`net.ipv4.tcp_fin_timeout`).
    pub fin_timeout: Duration,
    /// Delayed-ACK timeout: 40 ms (Linux `TCP_DELACK_MIN`; RFC 9293 §3.8.6.3 allows up to 500 ms).
    pub delayed_ack: Duration,
    /// SACK compression (Linux since 4.19): after three duplicate ACKs for the same
    /// `rcv_nxt`, the ACKs that out-of-order data calls for are held back for a twentieth of
    /// the round-trip time, at most this long: 1 ms (`net.ipv4.tcp_comp_sack_delay_ns`). The
    /// ACK that finally goes carries every SACK block they would have.
    pub comp_sack_delay: Duration,
    /// At most this many ACKs are held back in a row before one goes at once: 44
    /// (`net.ipv4.tcp_comp_sack_nr`). 0 turns SACK compression off: every out-of-order
    /// segment is acknowledged at once, as RFC 5681 §4.2 has it.
    pub comp_sack_nr: u32,
    /// Maximum segment size we announce when the route gives no better figure: 1460 (IPv4 over an
    /// Ethernet MTU of 1500; RFC 9293 §3.7.1). IPv6 connections announce 20 bytes less.
    pub mss: u16,
    /// MSS assumed for the peer when its SYN carries none: 536 (RFC 9293 §3.7.1, RFC 1122 §4.2.2.6).
    pub default_peer_mss: u16,
    /// Initial congestion window in segments: 10 (RFC 6928; Linux `TCP_INIT_CWND`).
    pub initial_window_segments: u32,
    /// Send buffer size in bytes: 16 KiB initial, as Linux's `tcp_wmem[1]`.
    pub send_buffer: usize,
    /// Largest send buffer: auto-tuning grows the send buffer with the congestion window up to
    /// this, 4 MiB (`tcp_wmem[2]` = 4194304).
    pub max_send_buffer: usize,
    /// Receive buffer size in bytes, the space the window offers: 64 KiB, what Linux offers from
    /// its default buffer (`tcp_rmem[1]` = 131072 bytes of memory, about half of which it counts
    /// as window space; the other half pays for the packets' overhead).
    pub recv_buffer: usize,
    /// Largest receive buffer, which fixes the window-scale shift we announce: 6 MiB
    /// (`tcp_rmem[2]` = 6291456 gives wscale 7, as Linux announces). Dynamic right-sizing grows
    /// the receive buffer up to this when the application reads fast (`tcp_moderate_rcvbuf`).
    /// Set `recv_buffer` and this to the same value to fix the buffer.
    pub max_recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2; `net.ipv4.tcp_window_scaling` = 1).
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018; `net.ipv4.tcp_sack` = 1).
    pub sack: bool,
    /// Offer timestamps (RFC 7323 §3; `net.ipv4.tcp_timestamps` = 1).
    pub timestamps: bool,
    /// Largest accepted `listen()` backlog; larger values are silently capped, as Linux caps at
    /// `net.core.somaxconn` = 4096.
    pub somaxconn: u32,
    /// Bound of each listener's SYN queue (`net.ipv4.tcp_max_syn_backlog` = 4096 on a large host;
    /// Linux also bounds it by the backlog).
    pub max_syn_backlog: u32,
    /// Send SYN cookies when the SYN queue overflows (`net.ipv4.tcp_syncookies` = 1).
    pub syncookies: bool,
    /// First port of the ephemeral range: 32768 (`net.ipv4.ip_local_port_range`).
    pub ephemeral_port_first: u16,
    /// Last port of the ephemeral range: 60999 (`net.ipv4.ip_local_port_range`).
    pub ephemeral_port_last: u16,
    /// IP TTL / hop limit of outgoing packets: 64 (`net.ipv4.ip_default_ttl`).
    pub ttl: u8,
    /// Give up on a connection whose data stays unacknowledged this long (RFC 5482
    /// `TCP_USER_TIMEOUT`; Linux default 0 = off: `retries2` decides). Also bounds zero-window
    /// probing and keepalive, as on Linux.
    pub user_timeout: Option<Duration>,
    /// Keepalive on new connections (`SO_KEEPALIVE`; off by default, RFC 1122 §4.2.3.6).
    pub keepalive: bool,
    /// Idle time before the first keepalive probe: 7200 s (`net.ipv4.tcp_keepalive_time`).
    pub keepalive_time: Duration,
    /// Between unanswered probes: 75 s (`net.ipv4.tcp_keepalive_intvl`).
    pub keepalive_interval: Duration,
    /// Unanswered probes before the connection is dropped with `TimedOut`: 9
    /// (`net.ipv4.tcp_keepalive_probes`).
    pub keepalive_probes: u8,
    /// Congestion control of new connections: CUBIC (RFC 9438, with HyStart++ RFC 9406), as
    /// Linux's `net.ipv4.tcp_congestion_control` default; NewReno (RFC 5681, RFC 6582) on request.
    pub congestion_control: crate::cc::Algorithm,
    /// Send tail loss probes (RFC 8985 §7; Linux `net.ipv4.tcp_early_retrans` = 3).
    pub tail_loss_probe: bool,
    /// Detect spurious retransmission timeouts with F-RTO (RFC 5682 §3, in its SACK-enhanced form
    /// where SACK is on): after a timeout, new data goes out before the other retransmissions,
    /// and an acknowledgment of data that was never resent proves the timeout spurious, which
    /// undoes it. On, as Linux's `net.ipv4.tcp_frto` = 2.
    pub frto: bool,
    /// After an idle period longer than the RTO, start again from the restart window instead of
    /// sending a whole old window at once (RFC 5681 §4.1, RFC 2861): `cwnd` halves once per RTO
    /// of idleness, down to the initial window. On, as Linux's
    /// `net.ipv4.tcp_slow_start_after_idle` = 1.
    pub slow_start_after_idle: bool,
    /// Disable Nagle's algorithm on new connections (RFC 9293 §3.7.4; Linux default: Nagle on).
    pub nodelay: bool,
    /// The fewest segments in one of Linux's TSO/GSO packets: 2 (`net.ipv4.tcp_min_tso_segs`).
    /// synack sends every segment on its own, but it sets PSH where Linux's GSO packets end (see
    /// `Connection::output`), and Linux sizes those packets from the pacing rate with this floor.
    pub min_tso_segs: u32,
    /// Limit how much one ACK can grow the window in slow start, as the RFCs recommend: by at
    /// most 2 SMSS with NewReno (RFC 3465 §2.2), 8 SMSS with CUBIC's HyStart++ (RFC 9406 §4.3,
    /// `L` for a sender that does not pace). Off by default, as Linux: its `tcp_slow_start`
    /// grows the window by every segment an ACK covers (RFC 9406's `L` = infinity), so a
    /// receiver that acknowledges ten segments at once doubles the window in one round trip.
    pub slow_start_ack_limit: bool,
    /// Linux's timer tick, one jiffy (`1 / CONFIG_HZ`): 1 ms, as the x86-64 defconfig and the
    /// Ubuntu, Fedora and RHEL kernels are built (HZ = 1000), and as the kernel's own packetdrill
    /// selftests assume; 4 ms matches a Debian kernel (HZ = 250). RACK's reordering timer is
    /// rounded up to whole ticks and given two more (`TCP_TIMEOUT_MIN`), as Linux arms it; the
    /// other timers run at the driver's clock resolution. Zero counts as one microsecond.
    pub timer_tick: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            syn_retries: 6,
            synack_retries: 5,
            syn_linear_timeouts: 0,
            retries2: 15,
            orphan_retries: 8,
            time_wait: Duration::from_secs(60),
            invalid_ratelimit: Duration::from_millis(500),
            tw_reuse: TwReuse::Loopback,
            tw_reuse_delay: Duration::from_secs(1),
            fin_timeout: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            comp_sack_delay: Duration::from_millis(1),
            comp_sack_nr: 44,
            mss: 1460,
            default_peer_mss: 536,
            initial_window_segments: 10,
            send_buffer: 16 * 1024,
            max_send_buffer: 4 * 1024 * 1024,
            recv_buffer: 64 * 1024,
            max_recv_buffer: 6 * 1024 * 1024,
            window_scaling: true,
            sack: true,
            timestamps: true,
            somaxconn: 4096,
            max_syn_backlog: 4096,
            syncookies: true,
            ephemeral_port_first: 32768,
            ephemeral_port_last: 60999,
            ttl: 64,
            user_timeout: None,
            keepalive: false,
            keepalive_time: Duration::from_secs(7200),
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            congestion_control: crate::cc::Algorithm::Cubic,
            tail_loss_probe: true,
            frto: true,
            slow_start_after_idle: true,
            nodelay: false,
            min_tso_segs: 2,
            slow_start_ack_limit: false,
            timer_tick: Duration::from_millis(1),
        }
    }
}

impl Config {
    /// The window-scale shift announced in our SYN: the smallest shift that lets a 16-bit window
    /// cover `max_recv_buffer`, capped at 14 (RFC 7323 §2.3), as Linux's `tcp_select_initial_window`.
    pub fn window_scale_shift(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let mut shift = 0u8;
        let mut space = self.max_recv_buffer;
        while space > 65535 && shift < 14 {
            space >>= 1;
            shift += 1;
        }
        shift
    }
}

/// Whether an ephemeral `connect` may reuse a 4-tuple still in TIME-WAIT ([`Config::tw_reuse`];
/// Linux `net.ipv4.tcp_tw_reuse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwReuse {
    /// Never (`tcp_tw_reuse` = 0): the port is skipped.
    Off,
    /// Where either address of the entry is a loopback address (`tcp_tw_reuse` = 2, Linux's
    /// default).
    Loopback,
    /// Always, once the entry is older than [`Config::tw_reuse_delay`] (`tcp_tw_reuse` = 1).
    On,
}
