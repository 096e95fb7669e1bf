//! `synack sim`: a bulk transfer between two hosts in the simulator, checked end to end.
//!
//! Two synack endpoints (client 10.0.0.1, server 10.0.0.2:5001) are joined by one impaired link
//! of `synack-sim`. The applications write a deterministic pseudo-random stream (generated and
//! hashed chunk by chunk, so memory stays flat whatever `--bytes` is), read what arrives, and close
//! when the transfer is over — a close that lingers (`SO_LINGER`) until the side's own data is
//! acknowledged, so no socket is orphaned with data in flight; the run goes on, in virtual time,
//! until both ends are CLOSED (TIME-WAIT included) and the simulation is idle. The summary compares the SHA-256 of what was
//! written with what was read, and reports goodput, retransmissions and the states each end went
//! through.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant as WallInstant;

use sha2::{Digest, Sha256};
use synack_proto::cc::Algorithm;
use synack_proto::{Config, ConnHandle, Duration, FourTuple, Instant, Resources, State};
use synack_sim::{AppOptions, Fate, HostId, LinkConfig, LossReason, Sim, TraceKind};

use super::{write_stdout, CliError, CmdResult};

/// Arguments of `synack sim`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a bulk transfer between two synack hosts (client 10.0.0.1, server \
                  10.0.0.2:5001) over a simulated link, in virtual time, and check it: the \
                  SHA-256 of the bytes read must equal that of the bytes written, and both ends \
                  must reach CLOSED (TIME-WAIT included). Impairments apply to both directions \
                  of the link; probabilities are fractions (0.05) or percentages (5%). The same \
                  flags and seed give the same run. Exits with 1 when the transfer does not \
                  complete, the hashes differ, or an end is not CLOSED at the end."
)]
pub struct Args {
    /// Bytes to transfer in each sending direction; k, M and G are powers of 1024 (64k, 8M, 1G).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "8M"
    )]
    pub bytes: String,
    /// Largest IP datagram on the link; each host announces an MSS of MTU - 40.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "BYTES",
        default_value = "1500"
    )]
    pub mtu: String,
    /// Link rate in Mbit/s, each way [default: unlimited].
    #[arg(long, allow_hyphen_values = true, value_name = "MBIT/S")]
    pub rate: Option<String>,
    /// Packets the sending side of a rate-limited link holds before it tail-drops.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "PACKETS",
        default_value = "100"
    )]
    pub queue: String,
    /// One-way propagation delay in milliseconds.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "MS",
        default_value = "10"
    )]
    pub delay: String,
    /// Extra one-way delay drawn uniformly from [0, MS] per packet (never reorders by itself).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "MS",
        default_value = "0"
    )]
    pub jitter: String,
    /// Probability that a packet is lost, each way: a fraction (0.05) or a percentage (5%).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "P",
        default_value = "0"
    )]
    pub loss: String,
    /// Probability that a packet arrives twice.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "P",
        default_value = "0"
    )]
    pub duplicate: String,
    /// Probability that a packet is held back by --reorder-delay and overtaken.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "P",
        default_value = "0"
    )]
    pub reorder: String,
    /// Extra delay of a reordered packet, in milliseconds.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "MS",
        default_value = "10"
    )]
    pub reorder_delay: String,
    /// Probability that one bit of a packet is flipped (the TCP checksum must catch it).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "P",
        default_value = "0"
    )]
    pub corrupt: String,
    /// Seed of every random choice: impairments, ISNs, ports, the payload.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "1"
    )]
    pub seed: String,
    /// Who sends: c2s (client to server), s2c, or both at once.
    #[arg(long, value_name = "DIR", default_value = "c2s")]
    pub direction: String,
    /// Congestion control: cubic or newreno.
    #[arg(long, value_name = "ALG", default_value = "cubic")]
    pub cc: String,
    /// Selective acknowledgments: on or off.
    #[arg(long, value_name = "ON|OFF", default_value = "on")]
    pub sack: String,
    /// TCP timestamps (RFC 7323: RTT samples from every ACK, PAWS): on or off, as Linux's
    /// tcp_timestamps.
    #[arg(long, value_name = "ON|OFF", default_value = "on")]
    pub timestamps: String,
    /// Fix the send buffer of each connection at this size (k, M, G suffixes) [default: the
    /// engine's, 16 KiB auto-tuned up to 4 MiB, as Linux's tcp_wmem].
    #[arg(long, allow_hyphen_values = true, value_name = "BYTES")]
    pub sndbuf: Option<String>,
    /// Fix the receive buffer of each connection at this size (k, M, G suffixes) [default: the
    /// engine's, 64 KiB auto-tuned up to 6 MiB, as Linux's tcp_rmem].
    #[arg(long, allow_hyphen_values = true, value_name = "BYTES")]
    pub rcvbuf: Option<String>,
    /// Give up after this many seconds of virtual time [default: one hour plus a bound derived
    /// from --bytes, the link (rate, queue, delay, jitter) and the loss].
    #[arg(long, allow_hyphen_values = true, value_name = "SECONDS")]
    pub time_limit: Option<String>,
    /// Also print the last N events of the simulation trace (packets with their fate, state
    /// changes), e.g. to see where a failing run got stuck.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub trace_tail: Option<String>,
    /// Print one JSON line instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Never draw the progress bar (it is drawn on stderr only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// Who sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
    Both,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
            Direction::Both => "both",
        }
    }
}

/// The validated arguments.
#[derive(Clone, Debug)]
struct Plan {
    bytes: u64,
    mtu: usize,
    rate_mbps: Option<f64>,
    queue: usize,
    delay: Duration,
    jitter: Duration,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    reorder_delay: Duration,
    corrupt: f64,
    seed: u64,
    direction: Direction,
    cc: Algorithm,
    sack: bool,
    timestamps: bool,
    /// A fixed send buffer, or the engine's auto-tuned default.
    sndbuf: Option<usize>,
    /// A fixed receive buffer, or the engine's auto-tuned default.
    rcvbuf: Option<usize>,
    time_limit: Duration,
    trace_tail: usize,
}

const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const SERVER_PORT: u16 = 5001;
/// Largest `--bytes`: 1 TiB (the run would take days of wall time long before that).
const MAX_BYTES: u64 = 1 << 40;
/// Largest buffer: 1 GiB.
const MAX_BUFFER: u64 = 1 << 30;
/// The sender's application keeps at least this much queued ahead of the send buffer.
const FEED_LOW: usize = 1 << 20;
/// It generates the stream in chunks of this size.
const CHUNK: usize = 256 * 1024;
/// The receiver's application hashes and drops what it read once this much has gathered.
const DRAIN_AT: usize = 1 << 20;
/// Events between two looks at the trace (which is then cleared) and the progress bar.
const EVENTS_PER_TURN: u32 = 4096;

/// Parses a byte count: `8388608`, `64k`, `8M`, `1G`, `8MiB`, `8MB` (all powers of 1024).
fn parse_bytes(flag: &str, text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let shift = match unit.trim() {
        "" | "B" | "b" => 0,
        "k" | "K" | "KB" | "kB" | "KiB" | "kiB" => 10,
        "m" | "M" | "MB" | "MiB" => 20,
        "g" | "G" | "GB" | "GiB" => 30,
        _ => {
            return Err(format!(
                "{flag} must be a byte count such as 65536, 64k, 8M or 1G (got {text})"
            ))
        }
    };
    let bad = || format!("{flag} must be a byte count such as 65536, 64k, 8M or 1G (got {text})");
    let value: f64 = num.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let bytes = (value * (1u64 << shift) as f64).round();
    if bytes > MAX_BYTES as f64 {
        return Err(format!("{flag} must be at most 1T (got {text})"));
    }
    Ok(bytes as u64)
}

/// Parses a probability: `0.05` or `5%`.
fn parse_probability(flag: &str, text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    let value = num
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v / scale)
        .ok_or_else(|| format!("{flag} must be a probability such as 0.05 or 5% (got {text})"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!(
            "{flag} must be between 0 and 1, or 0% and 100% (got {text})"
        ));
    }
    Ok(value)
}

/// Parses a non-negative number of milliseconds (fractions allowed, to the microsecond).
fn parse_millis(flag: &str, text: &str) -> Result<Duration, String> {
    let value = text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{flag} must be a number of milliseconds (got {text})"))?;
    if !(0.0..=3_600_000.0).contains(&value) {
        return Err(format!(
            "{flag} must be between 0 and 3600000 milliseconds (got {text})"
        ));
    }
    Ok(Duration::from_micros((value * 1000.0).round() as u64))
}

/// Parses an unsigned integer within `range`.
fn parse_int(flag: &str, text: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    let value = text
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("{flag} must be a whole number (got {text})"))?;
    if !range.contains(&value) {
        return Err(format!(
            "{flag} must be between {} and {} (got {text})",
            range.start(),
            range.end()
        ));
    }
    Ok(value)
}

impl Plan {
    fn from_args(args: &Args) -> Result<Self, String> {
        let bytes = parse_bytes("--bytes", &args.bytes)?;
        let mtu = parse_int("--mtu", &args.mtu, 296..=65535)? as usize;
        let rate_mbps = match &args.rate {
            None => None,
            Some(text) => {
                let v = text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("--rate must be a number of Mbit/s (got {text})"))?;
                if !(0.001..=1_000_000.0).contains(&v) {
                    return Err(format!(
                        "--rate must be between 0.001 and 1000000 Mbit/s (got {text})"
                    ));
                }
                Some(v)
            }
        };
        let queue = parse_int("--queue", &args.queue, 1..=1_000_000)? as usize;
        let delay = parse_millis("--delay", &args.delay)?;
        let jitter = parse_millis("--jitter", &args.jitter)?;
        let reorder_delay = parse_millis("--reorder-delay", &args.reorder_delay)?;
        let loss = parse_probability("--loss", &args.loss)?;
        let duplicate = parse_probability("--duplicate", &args.duplicate)?;
        let reorder = parse_probability("--reorder", &args.reorder)?;
        let corrupt = parse_probability("--corrupt", &args.corrupt)?;
        if loss >= 1.0 || corrupt >= 1.0 || loss + corrupt - loss * corrupt >= 1.0 {
            return Err(
                "--loss and --corrupt together must let some packets through (got 100%)".into(),
            );
        }
        let seed = args
            .seed
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("--seed must be a whole number (got {})", args.seed))?;
        let direction = match args.direction.trim().to_ascii_lowercase().as_str() {
            "c2s" => Direction::ClientToServer,
            "s2c" => Direction::ServerToClient,
            "both" => Direction::Both,
            _ => {
                return Err(format!(
                    "--direction must be c2s, s2c or both (got {})",
                    args.direction
                ))
            }
        };
        let cc = match args.cc.trim().to_ascii_lowercase().as_str() {
            "cubic" => Algorithm::Cubic,
            "newreno" | "reno" => Algorithm::NewReno,
            _ => return Err(format!("--cc must be cubic or newreno (got {})", args.cc)),
        };
        let switch = |flag: &str, text: &str| match text.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok(true),
            "off" | "false" | "no" | "0" => Ok(false),
            _ => Err(format!("--{flag} must be on or off (got {text})")),
        };
        let sack = switch("sack", &args.sack)?;
        let timestamps = switch("timestamps", &args.timestamps)?;
        let buffer = |flag: &str, text: &str| -> Result<usize, String> {
            let v = parse_bytes(flag, text)?;
            if !(1024..=MAX_BUFFER).contains(&v) {
                return Err(format!("{flag} must be between 1k and 1G (got {text})"));
            }
            usize::try_from(v).map_err(|_| format!("{flag} is too large (got {text})"))
        };
        let sndbuf = args
            .sndbuf
            .as_deref()
            .map(|t| buffer("--sndbuf", t))
            .transpose()?;
        let rcvbuf = args
            .rcvbuf
            .as_deref()
            .map(|t| buffer("--rcvbuf", t))
            .transpose()?;
        let trace_tail = match &args.trace_tail {
            Some(t) => parse_int("--trace-tail", t, 1..=100_000)? as usize,
            None => 0,
        };
        let mut plan = Plan {
            bytes,
            mtu,
            rate_mbps,
            queue,
            delay,
            jitter,
            loss,
            duplicate,
            reorder,
            reorder_delay,
            corrupt,
            seed,
            direction,
            cc,
            sack,
            timestamps,
            sndbuf,
            rcvbuf,
            time_limit: Duration::ZERO,
            trace_tail,
        };
        plan.time_limit = match &args.time_limit {
            Some(text) => {
                let secs = text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1e9)
                    .ok_or_else(|| {
                        format!("--time-limit must be a positive number of seconds (got {text})")
                    })?;
                Duration::from_micros((secs * 1e6) as u64)
            }
            None => plan.default_time_limit(),
        };
        Ok(plan)
    }

    /// How many streams there are (1, or 2 with `--direction both`).
    fn streams(&self) -> u64 {
        if self.direction == Direction::Both {
            2
        } else {
            1
        }
    }

    /// A generous bound on the run in virtual time: one hour, plus 40 times the ideal transfer
    /// time (the slower of the link rate and one window per round trip) inflated by the chance
    /// that a packet and its ACK both get through, plus two seconds (an RTO or so) for every
    /// segment expected to be lost, plus two TIME-WAITs. Behind a rate limit, a short queue
    /// tail-drops every burst longer than itself, which can hold a transfer to about `--queue`
    /// segments per round trip (and jitter stretches the round trip): two such round trips per
    /// segment are added for it.
    fn default_time_limit(&self) -> Duration {
        let config = Config::default();
        let bytes = (self.bytes * self.streams()) as f64;
        let rtt = 2.0 * (self.delay.as_secs_f64() + self.jitter.as_secs_f64())
            + self.reorder_delay.as_secs_f64() * f64::from(u8::from(self.reorder > 0.0))
            + 0.001;
        let window = self
            .sndbuf
            .unwrap_or(config.max_send_buffer)
            .min(self.rcvbuf.unwrap_or(config.max_recv_buffer)) as f64;
        let by_window = bytes / window * rtt;
        let by_rate = self
            .rate_mbps
            .map_or(0.0, |r| bytes * 8.0 * 1.1 / (r * 1e6));
        let ideal = by_window.max(by_rate) + rtt;
        let through = (1.0 - self.loss) * (1.0 - self.corrupt);
        let segments = bytes / (self.mtu.saturating_sub(52).max(1)) as f64;
        let lost = segments * (1.0 - through * through);
        let by_queue = self
            .rate_mbps
            .map_or(0.0, |_| 2.0 * segments * rtt / self.queue.max(1) as f64);
        let secs = 3600.0
            + 40.0 * ideal / (through * through).max(1e-3)
            + 2.0 * lost
            + by_queue
            + 2.0 * config.time_wait.as_secs_f64();
        Duration::from_micros((secs.min(1e9) * 1e6) as u64)
    }

    fn link(&self) -> LinkConfig {
        let mut link = LinkConfig::with_delay(self.delay)
            .jitter(self.jitter)
            .loss(self.loss)
            .duplicate(self.duplicate)
            .reorder(self.reorder, self.reorder_delay)
            .corrupt(self.corrupt)
            .mtu(self.mtu);
        if let Some(r) = self.rate_mbps {
            link = link.rate((r * 1e6).round().max(1.0) as u64, self.queue);
        }
        link
    }

    fn config(&self) -> Config {
        let mut config = Config {
            mss: u16::try_from(self.mtu - 40).unwrap_or(u16::MAX),
            sack: self.sack,
            timestamps: self.timestamps,
            congestion_control: self.cc,
            ..Config::default()
        };
        if let Some(b) = self.sndbuf {
            config.send_buffer = b;
            config.max_send_buffer = b;
        }
        if let Some(b) = self.rcvbuf {
            config.recv_buffer = b;
            config.max_recv_buffer = b;
        }
        config
    }

    /// The buffers, as the summary says them.
    fn describe_buffers(&self) -> String {
        let one = |fixed: Option<usize>, initial: usize, max: usize| match fixed {
            Some(b) => fmt_bytes(b as u64),
            None => format!(
                "{} auto-tuned up to {}",
                fmt_bytes(initial as u64),
                fmt_bytes(max as u64)
            ),
        };
        let d = Config::default();
        format!(
            "send buffer {}, receive buffer {}",
            one(self.sndbuf, d.send_buffer, d.max_send_buffer),
            one(self.rcvbuf, d.recv_buffer, d.max_recv_buffer)
        )
    }

    fn describe_link(&self) -> String {
        let rate = match self.rate_mbps {
            Some(r) => format!("{} Mbit/s (queue {} packets)", trim_float(r), self.queue),
            None => "unlimited rate".to_string(),
        };
        let mut s = format!("MTU {}, {rate}, {} one way", self.mtu, fmt_ms(self.delay));
        if self.jitter > Duration::ZERO {
            let _ = write!(s, " + up to {} jitter", fmt_ms(self.jitter));
        }
        let _ = write!(
            s,
            "; loss {}, duplicate {}, reorder {}",
            pct(self.loss),
            pct(self.duplicate),
            pct(self.reorder)
        );
        if self.reorder > 0.0 {
            let _ = write!(s, " (+{})", fmt_ms(self.reorder_delay));
        }
        let _ = write!(s, ", corrupt {}; both ways", pct(self.corrupt));
        s
    }
}

/// One direction of the transfer: the stream one application writes and the other reads.
struct Stream {
    from: HostId,
    to: HostId,
    /// The writer's connection (the server's is known once it is accepted).
    writer: Option<ConnHandle>,
    /// The reader's connection.
    reader: Option<ConnHandle>,
    total: u64,
    /// Bytes generated and handed to the writing application so far.
    fed: u64,
    /// The writing application asked for shutdown after the last byte.
    shut: bool,
    /// Bytes read, hashed and dropped by the reading application.
    received: u64,
    /// When the last byte had been read.
    done_at: Option<Instant>,
    key: u64,
    sent_hash: Sha256,
    recv_hash: Sha256,
}

impl Stream {
    fn new(from: HostId, to: HostId, total: u64, key: u64) -> Self {
        Stream {
            from,
            to,
            writer: None,
            reader: None,
            total,
            fed: 0,
            shut: false,
            received: 0,
            done_at: None,
            key,
            sent_hash: Sha256::new(),
            recv_hash: Sha256::new(),
        }
    }

    /// The bytes of the stream from `offset` on, into `buf` (`offset` a multiple of 8): a
    /// splitmix64 sequence keyed by the stream, so any run can be regenerated.
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        for (word, chunk) in (offset / 8..).zip(buf.chunks_mut(8)) {
            let mut z = self
                .key
                .wrapping_add(word.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn read_so_far(&self, sim: &Sim) -> u64 {
        self.received
            + self
                .reader
                .map_or(0, |c| sim.app_received(self.to, c).len() as u64)
    }
}

/// What the run saw, gathered from the trace as it goes.
#[derive(Default)]
struct Stats {
    packets: u64,
    data_packets: u64,
    lost_random: u64,
    lost_queue: u64,
    lost_other: u64,
    corrupted: u64,
    duplicated: u64,
    rejected: u64,
    /// States each host's connection went through, in order.
    states: [Vec<State>; 2],
    /// When the last end reached CLOSED.
    closed_at: Option<Instant>,
    /// Errors the connections ended with.
    errors: Vec<String>,
    /// Notes of the simulator about itself (a stuck timer, the step limit).
    sim_notes: Vec<String>,
    /// The last `tail_len` events of the trace, described.
    tail: std::collections::VecDeque<String>,
    tail_len: usize,
}

impl Stats {
    /// Folds the trace into the statistics and clears it, so memory stays flat.
    fn absorb(&mut self, sim: &mut Sim, hosts: [HostId; 2], tuples: [Option<FourTuple>; 2]) {
        for ev in sim.trace().events() {
            match &ev.kind {
                TraceKind::Packet { info, fate, .. } => {
                    self.packets += 1;
                    if info.payload_len > 0 {
                        self.data_packets += 1;
                    }
                    match fate {
                        Fate::Lost(LossReason::Random) => self.lost_random += 1,
                        Fate::Lost(LossReason::QueueFull) => self.lost_queue += 1,
                        Fate::Lost(_) => self.lost_other += 1,
                        Fate::Corrupted { .. } => self.corrupted += 1,
                        Fate::Duplicated { .. } => self.duplicated += 1,
                        Fate::Delivered { .. } => {}
                    }
                }
                TraceKind::StateChange {
                    host, tuple, to, ..
                } => {
                    let Some(i) = hosts.iter().position(|h| h == host) else {
                        continue;
                    };
                    if tuples[i].is_some_and(|t| t != *tuple) {
                        continue;
                    }
                    if self.states[i].last() != Some(to) {
                        self.states[i].push(*to);
                    }
                    if *to == State::Closed {
                        self.closed_at = Some(ev.time);
                    }
                }
                TraceKind::ConnClosed {
                    host,
                    error: Some(e),
                    ..
                } => {
                    let name = if *host == hosts[0] {
                        "client"
                    } else {
                        "server"
                    };
                    self.errors.push(format!("{name}: {e}"));
                }
                TraceKind::Rejected { .. } => self.rejected += 1,
                TraceKind::AppEvent { text, .. }
                    if text.starts_with("sim:") && self.sim_notes.len() < 8 =>
                {
                    self.sim_notes.push(text.clone());
                }
                _ => {}
            }
        }
        if self.tail_len > 0 {
            let events = sim.trace().events();
            let from = events.len().saturating_sub(self.tail_len);
            for ev in &events[from..] {
                if self.tail.len() == self.tail_len {
                    self.tail.pop_front();
                }
                self.tail.push_back(sim.trace().describe(ev));
            }
        }
        sim.trace_mut().clear();
    }
}

/// The outcome of a run.
struct Report {
    bytes_sent: u64,
    bytes_received: u64,
    sha256_match: bool,
    sent_sha256: Vec<String>,
    received_sha256: Vec<String>,
    /// Virtual time until both ends were CLOSED (or until the run stopped).
    virtual_seconds: f64,
    /// Virtual time from connect() until the last byte was read.
    transfer_seconds: Option<f64>,
    retransmitted_segments: u64,
    timeouts: u64,
    /// Fast recoveries entered (both ends).
    fast_recoveries: u64,
    /// Window reductions undone because they proved spurious (both ends).
    recoveries_undone: u64,
    /// Of those, reductions after a retransmission timeout (both ends).
    timeouts_undone: u64,
    /// Tail loss probes sent (both ends).
    loss_probes: u64,
    client_final_state: State,
    server_final_state: State,
    leftovers: [Resources; 2],
    /// The simulation went idle before the time limit.
    completed: bool,
    stats: Stats,
    wall_seconds: f64,
    /// Why the run failed, if it did.
    failure: Option<String>,
}

impl Report {
    fn goodput_mbps(&self) -> Option<f64> {
        let t = self.transfer_seconds?;
        (t > 0.0).then(|| self.bytes_received as f64 * 8.0 / t / 1e6)
    }
}

/// A progress bar on stderr, drawn only on a terminal and only once the run has lasted a while.
struct Progress {
    enabled: bool,
    start: WallInstant,
    last: Option<WallInstant>,
    drawn: bool,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            start: WallInstant::now(),
            last: None,
            drawn: false,
        }
    }

    fn update(&mut self, done: u64, total: u64, now: Instant, closing: bool) {
        if !self.enabled {
            return;
        }
        let t = WallInstant::now();
        if t.duration_since(self.start).as_millis() < 500 {
            return;
        }
        if self
            .last
            .is_some_and(|l| t.duration_since(l).as_millis() < 100)
        {
            return;
        }
        self.last = Some(t);
        let width = 30usize;
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = ((frac * width as f64) as usize).min(width);
        let phase = if closing {
            "closing".to_string()
        } else {
            format!("{} / {}", fmt_bytes(done), fmt_bytes(total))
        };
        let line = format!(
            "\r[{}{}] {:>3.0}%  {phase}  virtual {:.2} s  wall {:.1} s\x1b[K",
            "#".repeat(filled),
            ".".repeat(width - filled),
            frac * 100.0,
            now.as_micros() as f64 / 1e6,
            t.duration_since(self.start).as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// Hands the writers more of their stream and takes what the readers have read.
fn tend(sim: &mut Sim, streams: &mut [Stream], server: HostId, chunk: &mut [u8]) {
    let accepted = sim.app_accepted(server).first().copied();
    for s in streams.iter_mut() {
        if s.from == server && s.writer.is_none() {
            s.writer = accepted;
        }
        if s.to == server && s.reader.is_none() {
            s.reader = accepted;
        }
        if let Some(c) = s.writer {
            while !s.shut && sim.app_unsent(s.from, c) < FEED_LOW {
                if sim.app_error(s.from, c).is_some() {
                    s.shut = true;
                    break;
                }
                if s.fed < s.total {
                    let n = (s.total - s.fed).min(CHUNK as u64) as usize;
                    s.fill(s.fed, &mut chunk[..n]);
                    s.sent_hash.update(&chunk[..n]);
                    s.fed += n as u64;
                    sim.app_send_all(s.from, c, &chunk[..n]);
                } else {
                    sim.app_shutdown(s.from, c);
                    s.shut = true;
                }
            }
        }
        if let Some(c) = s.reader {
            let pending = sim.app_received(s.to, c).len();
            if pending > 0 && (pending >= DRAIN_AT || s.received + pending as u64 >= s.total) {
                let data = sim.app_read_all(s.to, c);
                s.recv_hash.update(&data);
                s.received += data.len() as u64;
            }
            if s.done_at.is_none() && s.total > 0 && s.read_so_far(sim) >= s.total {
                s.done_at = Some(sim.now());
            }
        }
    }
}

/// Runs the transfer.
fn simulate(plan: &Plan, progress: &mut Progress) -> Result<Report, String> {
    let wall = WallInstant::now();
    let mut sim = Sim::new(plan.seed);
    let config = plan.config();
    let client = sim.add_host("client", CLIENT_IP, config.clone());
    let server = sim.add_host("server", SERVER_IP, config);
    sim.link(client, server, plan.link());
    let server_addr = SocketAddr::new(SERVER_IP, SERVER_PORT);
    // Each side closes once it has read the other's FIN, and its close lingers (SO_LINGER) until
    // its own data is acknowledged: the run checks the stack's delivery, which an orphaned
    // socket, with its shorter retry limit, would cut short on a link this bad.
    let opts = AppOptions::default().close_on_eof(true).linger(true);
    let listener = sim
        .app_serve(server, server_addr, 16, opts)
        .map_err(|e| format!("the simulated server cannot listen: {e}"))?;
    let conn = sim
        .app_connect_with(client, server_addr, None, opts)
        .map_err(|e| format!("the simulated client cannot connect: {e}"))?;
    let client_tuple = sim.app_tuple(client, conn);

    let key = |n: u64| {
        let mut z = plan.seed ^ n.wrapping_mul(0xd6e8_feb8_6659_fd93);
        z = (z ^ (z >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        z ^ (z >> 32)
    };
    let mut streams = Vec::new();
    if plan.direction != Direction::ServerToClient {
        let mut s = Stream::new(client, server, plan.bytes, key(1));
        s.writer = Some(conn);
        streams.push(s);
    }
    if plan.direction != Direction::ClientToServer {
        let mut s = Stream::new(server, client, plan.bytes, key(2));
        s.reader = Some(conn);
        streams.push(s);
    }
    let total: u64 = streams.iter().map(|s| s.total).sum();
    let limit = Instant::ZERO + plan.time_limit;
    let mut stats = Stats {
        tail_len: plan.trace_tail,
        ..Stats::default()
    };
    let mut chunk = vec![0u8; CHUNK];
    let mut listener_open = true;
    let completed_in_time = loop {
        let mut events = 0u32;
        let stopped_by_cond = sim.run_until_cond(limit, |s| {
            tend(s, &mut streams, server, &mut chunk);
            events += 1;
            events >= EVENTS_PER_TURN
        });
        // One connection is all this server takes: close the listener once it is accepted, so
        // that nothing of either host is left at the end.
        if listener_open && !sim.app_accepted(server).is_empty() {
            let now = sim.now();
            let _ = sim.endpoint(server).close_listener(now, listener);
            sim.flush(server);
            listener_open = false;
        }
        let server_tuple = sim
            .app_accepted(server)
            .first()
            .and_then(|c| sim.app_tuple(server, *c));
        stats.absorb(&mut sim, [client, server], [client_tuple, server_tuple]);
        let done: u64 = streams.iter().map(|s| s.read_so_far(&sim)).sum();
        let data_done = streams.iter().all(|s| s.done_at.is_some() || s.total == 0);
        progress.update(done, total, sim.now(), data_done);
        if !stopped_by_cond {
            break sim.next_event_time().is_none();
        }
    };
    progress.finish();
    // What was read after the last turn.
    tend(&mut sim, &mut streams, server, &mut chunk);
    for s in &mut streams {
        if let Some(c) = s.reader {
            let data = sim.app_read_all(s.to, c);
            s.recv_hash.update(&data);
            s.received += data.len() as u64;
        }
    }
    let server_conn = sim.app_accepted(server).first().copied();
    let server_tuple = server_conn.and_then(|c| sim.app_tuple(server, c));
    stats.absorb(&mut sim, [client, server], [client_tuple, server_tuple]);

    let final_state = |host: HostId, tuple: Option<FourTuple>| -> State {
        tuple
            .and_then(|t| sim.endpoint_ref(host).state_of(&t))
            .unwrap_or(State::Closed)
    };
    let client_final_state = final_state(client, client_tuple);
    let server_final_state = if server_conn.is_some() {
        final_state(server, server_tuple)
    } else if listener_open {
        State::Listen
    } else {
        State::Closed
    };
    let counters = [
        sim.endpoint_ref(client).counters().clone(),
        sim.endpoint_ref(server).counters().clone(),
    ];
    let leftovers = [
        sim.endpoint_ref(client).resources(),
        sim.endpoint_ref(server).resources(),
    ];
    let mut sent_sha256 = Vec::new();
    let mut received_sha256 = Vec::new();
    let mut sha256_match = true;
    let mut bytes_sent = 0;
    let mut bytes_received = 0;
    let mut transfer_end = Some(Instant::ZERO);
    for s in streams {
        let written = s
            .writer
            .map_or(0, |c| sim.app_written(s.from, c))
            .min(s.fed);
        bytes_sent += written;
        bytes_received += s.received;
        let sent = hex(&s.sent_hash.finalize());
        let got = hex(&s.recv_hash.finalize());
        sha256_match &= s.fed == s.total && s.received == s.total && sent == got;
        sent_sha256.push(sent);
        received_sha256.push(got);
        transfer_end = match (transfer_end, s.done_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    let end = if completed_in_time {
        stats.closed_at.unwrap_or(sim.now())
    } else {
        sim.now()
    };
    let leftover = leftovers.iter().any(|r| *r != Resources::default());
    let failure = if !completed_in_time {
        Some(format!(
            "the transfer did not finish within {} s of virtual time ({} of {} read; client {}, \
             server {})",
            trim_float(plan.time_limit.as_secs_f64()),
            fmt_bytes(bytes_received),
            fmt_bytes(total),
            client_final_state,
            server_final_state
        ))
    } else if !sha256_match {
        Some(format!(
            "the bytes read differ from the bytes written ({} of {} read{})",
            fmt_bytes(bytes_received),
            fmt_bytes(total),
            match stats.errors.first() {
                Some(e) => format!("; {e}"),
                None => String::new(),
            }
        ))
    } else if client_final_state != State::Closed || server_final_state != State::Closed {
        Some(format!(
            "the simulation went idle with the client {} and the server {}",
            client_final_state, server_final_state
        ))
    } else if leftover {
        Some(format!(
            "state left behind after both ends closed: client {:?}, server {:?}",
            leftovers[0], leftovers[1]
        ))
    } else {
        None
    };
    Ok(Report {
        bytes_sent,
        bytes_received,
        sha256_match,
        sent_sha256,
        received_sha256,
        virtual_seconds: end.as_micros() as f64 / 1e6,
        transfer_seconds: transfer_end.map(|t| t.as_micros() as f64 / 1e6),
        retransmitted_segments: counters[0].retrans_segs + counters[1].retrans_segs,
        timeouts: counters[0].timeouts + counters[1].timeouts,
        fast_recoveries: counters[0].fast_recoveries + counters[1].fast_recoveries,
        recoveries_undone: counters[0].spurious_recoveries_undone
            + counters[1].spurious_recoveries_undone,
        loss_probes: counters[0].loss_probes + counters[1].loss_probes,
        timeouts_undone: counters[0].rto_recoveries_undone + counters[1].rto_recoveries_undone,
        client_final_state,
        server_final_state,
        leftovers,
        completed: completed_in_time,
        stats,
        wall_seconds: wall.elapsed().as_secs_f64(),
        failure,
    })
}

/// Runs `synack sim`.
pub fn run(args: &Args) -> CmdResult {
    let plan = Plan::from_args(args)?;
    let mut progress = Progress::new(!args.no_progress);
    let report = simulate(&plan, &mut progress)?;
    let text = if args.json {
        json(&plan, &report)
    } else {
        summary(&plan, &report)
    };
    write_stdout(&text)?;
    match report.failure {
        Some(message) => Err(CliError::Failed(message)),
        None => Ok(()),
    }
}

fn summary(plan: &Plan, r: &Report) -> String {
    let mut out = String::new();
    let dir = match plan.direction {
        Direction::ClientToServer => "client → server",
        Direction::ServerToClient => "server → client",
        Direction::Both => "client ⇄ server, both at once",
    };
    let _ = writeln!(
        out,
        "synack sim: {} ({} bytes) {dir}, seed {}",
        fmt_bytes(plan.bytes),
        plan.bytes,
        plan.seed
    );
    let _ = writeln!(out, "  link       {}", plan.describe_link());
    let _ = writeln!(
        out,
        "  tcp        {}, SACK {}, timestamps {}, {}, MSS {}",
        plan.cc,
        if plan.sack { "on" } else { "off" },
        if plan.timestamps { "on" } else { "off" },
        plan.describe_buffers(),
        plan.mtu - 40
    );
    let verdict = if r.sha256_match {
        "SHA-256 match"
    } else {
        "SHA-256 MISMATCH"
    };
    let _ = writeln!(
        out,
        "  data       {} bytes written, {} read: {verdict}",
        r.bytes_sent, r.bytes_received
    );
    for (i, (s, g)) in r.sent_sha256.iter().zip(&r.received_sha256).enumerate() {
        let name = match (plan.direction, i) {
            (Direction::ServerToClient, _) | (Direction::Both, 1) => "s2c",
            _ => "c2s",
        };
        if s == g {
            let _ = writeln!(out, "             {name} sha256 {s}");
        } else {
            let _ = writeln!(out, "             {name} sha256 written {s}");
            let _ = writeln!(out, "                    read    {g}");
        }
    }
    match (r.transfer_seconds, r.goodput_mbps()) {
        (Some(t), Some(g)) => {
            let _ = writeln!(
                out,
                "  goodput    {g:.2} Mbit/s ({t:.3} s of virtual time from connect() to the last \
                 byte read)"
            );
        }
        _ if plan.bytes == 0 => {
            let _ = writeln!(out, "  goodput    - (nothing to transfer)");
        }
        _ => {
            let _ = writeln!(out, "  goodput    - (the transfer did not complete)");
        }
    }
    let _ = writeln!(
        out,
        "  closed     client {}, server {} after {:.3} s of virtual time (TIME-WAIT included)",
        r.client_final_state, r.server_final_state, r.virtual_seconds
    );
    for (name, states) in ["client", "server"].iter().zip(&r.stats.states) {
        let path: Vec<&str> = states.iter().map(|s| s.name()).collect();
        let _ = writeln!(out, "             {name}: {}", path.join(" → "));
    }
    let st = &r.stats;
    let _ = writeln!(
        out,
        "  segments   {} retransmitted ({} after a timeout), {} rejected on arrival",
        r.retransmitted_segments, r.timeouts, st.rejected
    );
    let _ = writeln!(
        out,
        "  recovery   {} fast recoveries, {} reductions undone as spurious ({} after a timeout), \
         {} tail loss probes",
        r.fast_recoveries, r.recoveries_undone, r.timeouts_undone, r.loss_probes
    );
    let _ = writeln!(
        out,
        "  link       {} packets ({} with data): {} lost, {} tail-dropped, {} corrupted, {} \
         duplicated",
        st.packets,
        st.data_packets,
        st.lost_random + st.lost_other,
        st.lost_queue,
        st.corrupted,
        st.duplicated
    );
    for e in &st.errors {
        let _ = writeln!(out, "  error      {e}");
    }
    for n in &st.sim_notes {
        let _ = writeln!(out, "  note       {n}");
    }
    for (name, res) in ["client", "server"].iter().zip(&r.leftovers) {
        if *res != Resources::default() && r.completed {
            let _ = writeln!(out, "  left over  {name}: {res:?}");
        }
    }
    let _ = writeln!(out, "  wall       {:.3} s", r.wall_seconds);
    if !r.stats.tail.is_empty() {
        let _ = writeln!(out, "  last {} events of the trace:", r.stats.tail.len());
        for line in &r.stats.tail {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

fn json(plan: &Plan, r: &Report) -> String {
    let st = &r.stats;
    let opt = |v: Option<f64>| v.map_or("null".to_string(), json_f64);
    let list = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| json_str(s)).collect();
        format!("[{}]", items.join(","))
    };
    let states = |v: &[State]| {
        let items: Vec<String> = v.iter().map(|s| json_str(s.name())).collect();
        format!("[{}]", items.join(","))
    };
    let fields: Vec<(&str, String)> = vec![
        ("bytes_sent", r.bytes_sent.to_string()),
        ("bytes_received", r.bytes_received.to_string()),
        ("sha256_match", r.sha256_match.to_string()),
        ("virtual_seconds", json_f64(r.virtual_seconds)),
        ("transfer_seconds", opt(r.transfer_seconds)),
        ("goodput_mbps", opt(r.goodput_mbps())),
        (
            "retransmitted_segments",
            r.retransmitted_segments.to_string(),
        ),
        ("timeouts", r.timeouts.to_string()),
        ("fast_recoveries", r.fast_recoveries.to_string()),
        ("recoveries_undone", r.recoveries_undone.to_string()),
        ("timeouts_undone", r.timeouts_undone.to_string()),
        ("loss_probes", r.loss_probes.to_string()),
        ("client_final_state", json_str(r.client_final_state.name())),
        ("server_final_state", json_str(r.server_final_state.name())),
        ("wall_seconds", json_f64(r.wall_seconds)),
        ("ok", r.failure.is_none().to_string()),
        (
            "error",
            r.failure.as_deref().map_or("null".to_string(), json_str),
        ),
        ("bytes", plan.bytes.to_string()),
        ("direction", json_str(plan.direction.as_str())),
        ("seed", plan.seed.to_string()),
        ("mtu", plan.mtu.to_string()),
        ("rate_mbps", opt(plan.rate_mbps)),
        ("delay_ms", json_f64(plan.delay.as_secs_f64() * 1e3)),
        ("jitter_ms", json_f64(plan.jitter.as_secs_f64() * 1e3)),
        ("loss", json_f64(plan.loss)),
        ("duplicate", json_f64(plan.duplicate)),
        ("reorder", json_f64(plan.reorder)),
        ("corrupt", json_f64(plan.corrupt)),
        ("cc", json_str(plan.cc.as_str())),
        ("sack", plan.sack.to_string()),
        ("timestamps", plan.timestamps.to_string()),
        (
            "sndbuf",
            plan.sndbuf.map_or("null".to_string(), |b| b.to_string()),
        ),
        (
            "rcvbuf",
            plan.rcvbuf.map_or("null".to_string(), |b| b.to_string()),
        ),
        ("sent_sha256", list(&r.sent_sha256)),
        ("received_sha256", list(&r.received_sha256)),
        ("packets", st.packets.to_string()),
        ("packets_lost", (st.lost_random + st.lost_other).to_string()),
        ("packets_tail_dropped", st.lost_queue.to_string()),
        ("packets_corrupted", st.corrupted.to_string()),
        ("packets_duplicated", st.duplicated.to_string()),
        ("client_states", states(&st.states[0])),
        ("server_states", states(&st.states[1])),
        ("connection_errors", list(&st.errors)),
    ];
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}\n", body.join(","))
}

/// A JSON number (finite floats; anything else as null).
fn json_f64(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        "null".to_string()
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn trim_float(v: f64) -> String {
    json_f64(v)
}

fn pct(p: f64) -> String {
    format!("{}%", trim_float(p * 100.0))
}

fn fmt_ms(d: Duration) -> String {
    format!("{} ms", trim_float(d.as_secs_f64() * 1e3))
}

fn fmt_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            return format!(
                "{} {unit}",
                trim_float(((n as f64 / size as f64) * 100.0).round() / 100.0)
            );
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("--bytes", "8M"), Ok(8 << 20));
        assert_eq!(parse_bytes("--bytes", "64k"), Ok(64 << 10));
        assert_eq!(parse_bytes("--bytes", "1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("--bytes", "1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_bytes("--bytes", "1000"), Ok(1000));
        assert!(parse_bytes("--bytes", "8X").is_err());
        assert!(parse_bytes("--bytes", "-1").is_err());
        assert!(parse_bytes("--bytes", "").is_err());
        assert!(parse_bytes("--bytes", "2T").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("--loss", "0.05"), Ok(0.05));
        assert_eq!(parse_probability("--loss", "5%"), Ok(0.05));
        assert_eq!(
            parse_probability("--loss", "1.5"),
            Err("--loss must be between 0 and 1, or 0% and 100% (got 1.5)".to_string())
        );
        assert_eq!(
            parse_probability("--loss", "200%"),
            Err("--loss must be between 0 and 1, or 0% and 100% (got 200%)".to_string())
        );
        assert!(parse_probability("--loss", "NaN").is_err());
        assert!(parse_probability("--loss", "x").is_err());
    }

    #[test]
    fn json_numbers_and_strings() {
        assert_eq!(json_f64(1.5), "1.5");
        assert_eq!(json_f64(2.0), "2");
        assert_eq!(json_f64(0.0), "0");
        assert_eq!(json_f64(f64::NAN), "null");
        assert_eq!(json_str("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn stream_is_deterministic_and_keyed() {
        let mut sim = Sim::new(1);
        let h = sim.add_host("h", CLIENT_IP, Config::default());
        let a = Stream::new(h, h, 64, 7);
        let mut x = [0u8; 24];
        let mut y = [0u8; 16];
        a.fill(0, &mut x);
        a.fill(8, &mut y);
        assert_eq!(x[8..], y);
    }
}
