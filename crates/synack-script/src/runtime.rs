//! Running a parsed script against [`synack_proto::Endpoint`] in virtual time (packetdrill
//! `run.c`, `run_packet.c`, `socket.h`).
//!
//! Implemented as packetdrill does it:
//! - the event loop, with relative times anchored at the current time (or at the previous
//!   inbound packet, for consecutive inbound packets), "first event should be at time 0",
//!   "time goes backward", and the timing check with `--tolerance_usecs` widened to
//!   `--tolerance_percent` (12.5 % by default) of the time since the previous event;
//! - one socket under test, whose script and live ISNs, ports and timestamp values are learned
//!   from the packets: sequence numbers of SYNs are absolute, all others relative to each side's
//!   ISN, both ways; ACKs and SACK blocks mapped likewise; inbound TS ecr mapped to the outbound
//!   TS val the script named (or interpolated with `--tcp_ts_ecr_scaled`), outbound TS val
//!   rebased on the first one seen;
//! - outbound packets sniffed in the order the engine sent them, packets of other 4-tuples
//!   ignored, several segments aggregated into one larger expected segment unless
//!   `--strict_segments`, then field-by-field checks with packetdrill's messages.
//!
//! Virtual time replaces the wall clock: the engine's timers run exactly when due, and waiting
//! for an event is advancing the clock through them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack_proto::{Config, ConnHandle, Endpoint, Error, Event as EngineEvent, Instant};

use crate::ast::*;
use crate::packet::{self, bits, Seg};
use crate::syscalls::{Fd, PendingCall};
use crate::RunOptions;

/// A failure at a script line.
#[derive(Debug)]
pub(crate) struct Fail {
    pub line: u32,
    pub message: String,
}

impl Fail {
    pub fn new(line: u32, message: impl Into<String>) -> Fail {
        Fail {
            line,
            message: message.into(),
        }
    }
}

/// IP flavour (packetdrill `--ip_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpVersion {
    V4,
    V4MappedV6,
    V6,
}

/// Settings from header options, with packetdrill's defaults (`config.c`).
#[derive(Clone, Debug)]
pub(crate) struct PdConfig {
    pub tolerance_usecs: i64,
    pub tolerance_percent: f64,
    pub ip_version: IpVersion,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub bind_port: u16,
    pub connect_port: u16,
    pub mss: Option<u16>,
    pub ts_ecr_scaled: bool,
    pub ts_tick_usecs: i64,
    pub strict_segments: bool,
}

impl PdConfig {
    pub fn from_options(opts: &[(String, Option<String>, u32)]) -> Result<PdConfig, Fail> {
        let mut cfg = PdConfig {
            tolerance_usecs: 4000,
            tolerance_percent: 12.5,
            ip_version: IpVersion::V4,
            local_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            remote_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            bind_port: 8080,
            connect_port: 8080,
            mss: None,
            ts_ecr_scaled: false,
            ts_tick_usecs: 0,
            strict_segments: false,
        };
        let mut local: Option<IpAddr> = None;
        let mut remote: Option<IpAddr> = None;
        for (name, value, line) in opts {
            let line = *line;
            let need = |v: &Option<String>| -> Result<String, Fail> {
                v.clone()
                    .ok_or_else(|| Fail::new(line, format!("option '{name}' requires an argument")))
            };
            let num = |v: &Option<String>| -> Result<i64, Fail> {
                let s = need(v)?;
                s.parse::<i64>()
                    .map_err(|_| Fail::new(line, format!("bad --{name}: {s}")))
            };
            let ip = |v: &Option<String>| -> Result<IpAddr, Fail> {
                let s = need(v)?;
                let s = s.split('/').next().unwrap_or("");
                s.parse::<IpAddr>()
                    .map_err(|_| Fail::new(line, format!("bad --{name}: {s}")))
            };
            match name.as_str() {
                "tolerance_usecs" => {
                    cfg.tolerance_usecs = num(value)?;
                    if cfg.tolerance_usecs <= 0 {
                        return Err(Fail::new(line, "bad --tolerance_usecs"));
                    }
                }
                "tolerance_percent" => {
                    let s = need(value)?;
                    cfg.tolerance_percent = s
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| Fail::new(line, format!("bad --tolerance_percent: {s}")))?;
                }
                "ip_version" => {
                    cfg.ip_version = match need(value)?.as_str() {
                        "ipv4" => IpVersion::V4,
                        "ipv4-mapped-ipv6" => IpVersion::V4MappedV6,
                        "ipv6" => IpVersion::V6,
                        other => return Err(Fail::new(line, format!("bad --ip_version: {other}"))),
                    }
                }
                "local_ip" => local = Some(ip(value)?),
                "remote_ip" => remote = Some(ip(value)?),
                "bind_port" | "connect_port" => {
                    let p = num(value)?;
                    if !(1..=0xffff).contains(&p) {
                        return Err(Fail::new(line, format!("bad --{name}: {p}")));
                    }
                    if name == "bind_port" {
                        cfg.bind_port = p as u16;
                    } else {
                        cfg.connect_port = p as u16;
                    }
                }
                "mss" => {
                    let m = num(value)?;
                    if !(64..=0xffff).contains(&m) {
                        return Err(Fail::new(line, format!("bad --mss: {m}")));
                    }
                    cfg.mss = Some(m as u16);
                }
                "tcp_ts_ecr_scaled" => cfg.ts_ecr_scaled = true,
                "tcp_ts_tick_usecs" => {
                    cfg.ts_tick_usecs = num(value)?;
                    if !(0..=1_000_000).contains(&cfg.ts_tick_usecs) {
                        return Err(Fail::new(line, "bad --tcp_ts_tick_usecs"));
                    }
                }
                "strict_segments" => cfg.strict_segments = true,
                // Options that only matter to a real network device, a wire server, a shared
                // object or debugging: accepted and ignored.
                "gateway_ip" | "netmask_ip" | "speed" | "mtu" | "init_scripts" | "non_fatal"
                | "wire_client" | "wire_server" | "wire_server_ip" | "wire_server_at"
                | "wire_server_port" | "wire_client_dev" | "wire_server_dev" | "so_filename"
                | "so_flags" | "dry_run" | "is_anyip" | "send_omit_free" | "debug" | "define"
                | "verbose" | "code_command" | "code_format" | "code_sockopt" => {}
                other => return Err(Fail::new(line, format!("option '{other}' unknown"))),
            }
        }
        let v6 = cfg.ip_version == IpVersion::V6;
        cfg.local_ip = local.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))
        });
        cfg.remote_ip = remote.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        });
        if cfg.local_ip.is_ipv4() != cfg.remote_ip.is_ipv4() {
            return Err(Fail::new(
                1,
                "--local_ip and --remote_ip must be of the same IP version",
            ));
        }
        Ok(cfg)
    }
}

/// State of the socket under test (packetdrill `enum socket_state_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SutState {
    New,
    PassiveListening,
    PassivePacketReceived,
    PassiveSynackSent,
    PassiveSynackAcked,
    ActiveConnecting,
    ActiveSynSent,
    ActiveSynAcked,
}

/// The socket under test: script and live addresses and ISNs (packetdrill `struct socket`).
#[derive(Clone, Debug)]
pub(crate) struct Sut {
    pub state: SutState,
    pub fd: Option<i32>,
    pub script_local_isn: u32,
    pub live_local_isn: u32,
    pub live_remote_isn: u32,
    pub live_local: Option<SocketAddr>,
    pub live_remote: Option<SocketAddr>,
    pub ts_map: HashMap<u32, u32>,
    pub first_ts: Option<(u32, u32)>,
}

impl Sut {
    pub fn new(state: SutState, fd: Option<i32>) -> Sut {
        Sut {
            state,
            fd,
            script_local_isn: 0,
            live_local_isn: 0,
            live_remote_isn: 0,
            live_local: None,
            live_remote: None,
            ts_map: HashMap::new(),
            first_ts: None,
        }
    }
}

/// A packet the engine sent, and when.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub time: i64,
    pub bytes: Vec<u8>,
}

/// What the previous event was, for relative times and tolerances.
#[derive(Clone, Copy, Debug)]
struct LastEvent {
    time: i64,
    inbound_packet: bool,
    absolute: bool,
}

/// The interpreter's state while a script runs.
pub(crate) struct Runner<'a> {
    pub cfg: PdConfig,
    pub opts: &'a RunOptions,
    pub log: Vec<String>,
    pub engine_cfg: Config,
    pub ep: Option<Endpoint>,
    /// Virtual time in microseconds since the script started.
    pub now: i64,
    pub outq: VecDeque<Live>,
    pub fds: BTreeMap<i32, Fd>,
    pub sut: Option<Sut>,
    pub pending: Option<PendingCall>,
    /// `sk_err` of each connection: the error a reset or timeout left, until a call reports it.
    pub sk_err: HashMap<ConnHandle, Error>,
    /// Connections whose handshake completed.
    pub connected: std::collections::HashSet<ConnHandle>,
    next_ephemeral: u16,
    last: Option<LastEvent>,
    /// The current event (line, for errors).
    pub line: u32,
}

/// How long, at most, the interpreter waits in virtual time for something that may never
/// happen (an outbound packet, a blocked call): packetdrill would wait forever.
const HORIZON_USECS: i64 = 3_600_000_000;

/// Latest virtual time a script may reach (about 28 hours): far beyond any TCP timer of interest,
/// and a bound on the work a mistyped time can cause.
const MAX_SCRIPT_USECS: i64 = 100_000_000_000;

impl<'a> Runner<'a> {
    pub fn new(cfg: PdConfig, opts: &'a RunOptions) -> Runner<'a> {
        let mut engine_cfg = Config::default();
        if let Some(mss) = cfg.mss {
            // `--mss` names the MSS announced; the engine's figure is for IPv4 and it announces
            // 20 bytes less over IPv6.
            engine_cfg.mss = if cfg.ip_version == IpVersion::V6 {
                mss.saturating_add(20)
            } else {
                mss
            };
        }
        Runner {
            cfg,
            opts,
            log: Vec::new(),
            engine_cfg,
            ep: None,
            now: 0,
            outq: VecDeque::new(),
            fds: BTreeMap::new(),
            sut: None,
            pending: None,
            sk_err: HashMap::new(),
            connected: Default::default(),
            next_ephemeral: 48_879,
            last: None,
            line: 0,
        }
    }

    pub fn note(&mut self, s: impl Into<String>) {
        if self.opts.verbose {
            let s = s.into();
            self.log.push(format!("{:>10.6} {}", secs(self.now), s));
        }
    }

    pub fn fail<T>(&self, message: impl Into<String>) -> Result<T, Fail> {
        Err(Fail::new(self.line, message))
    }

    /// The engine, created on first use with the configuration the sockets asked for.
    pub fn ep(&mut self) -> &mut Endpoint {
        if self.ep.is_none() {
            let mut ep = Endpoint::new(self.engine_cfg.clone(), self.opts.seed);
            ep.add_address(self.cfg.local_ip);
            self.note(format!(
                "engine started: mss {}, recv buffer {}, send buffer {}",
                self.engine_cfg.mss, self.engine_cfg.recv_buffer, self.engine_cfg.send_buffer
            ));
            self.ep = Some(ep);
        }
        self.ep
            .get_or_insert_with(|| Endpoint::new(Config::default(), 0))
    }

    pub fn instant(&self) -> Instant {
        Instant::from_micros(self.now.max(0) as u64)
    }

    // ----- time ---------------------------------------------------------------------------------

    /// When something next needs the clock: an engine timer or a blocked call's timeout.
    fn next_wake(&mut self) -> Option<i64> {
        let engine = self
            .ep
            .as_mut()
            .and_then(|ep| ep.poll_timeout())
            .map(|t| t.as_micros().min(i64::MAX as u64) as i64);
        let call = self.pending.as_ref().and_then(|p| p.wake_at());
        match (engine, call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves virtual time forward to `t`, running every engine timer due on the way.
    pub fn advance_to(&mut self, t: i64) -> Result<(), Fail> {
        if t > MAX_SCRIPT_USECS {
            return self.fail(format!(
                "time {:.6} sec is beyond what a script may span ({} sec)",
                secs(t),
                MAX_SCRIPT_USECS / 1_000_000
            ));
        }
        let mut spins = 0u32;
        let mut last_wake = i64::MIN;
        while let Some(w) = self.next_wake() {
            if w > t {
                break;
            }
            let w = w.max(self.now);
            if w == last_wake {
                spins += 1;
                if spins > 10_000 {
                    return self.fail(format!(
                        "engine timer at {:.6} s keeps firing without progress",
                        secs(w)
                    ));
                }
            } else {
                spins = 0;
                last_wake = w;
            }
            self.now = w;
            let now = self.instant();
            if let Some(ep) = self.ep.as_mut() {
                if ep.poll_timeout().is_some_and(|d| d <= now) {
                    ep.handle_timeout(now);
                }
            }
            self.after_engine()?;
        }
        if t > self.now {
            self.now = t;
        }
        self.check_pending()
    }

    /// Collects what the engine sent and reported, and lets a blocked call complete.
    pub fn after_engine(&mut self) -> Result<(), Fail> {
        self.collect();
        self.check_pending()
    }

    /// Moves the engine's packets to the outbound queue and its events to our socket state.
    pub fn collect(&mut self) {
        let now = self.now;
        let mut notes = Vec::new();
        if let Some(ep) = self.ep.as_mut() {
            while let Some(bytes) = ep.poll_transmit() {
                if self.opts.verbose {
                    if let Ok(seg) = Seg::parse_datagram(&bytes) {
                        notes.push(format!("engine sent {}", seg.to_script()));
                    }
                }
                self.outq.push_back(Live { time: now, bytes });
            }
            while let Some(ev) = ep.poll_event() {
                match ev {
                    EngineEvent::Closed {
                        handle,
                        error: Some(e),
                    } => {
                        self.sk_err.insert(handle, e);
                    }
                    EngineEvent::Connected(h) => {
                        self.connected.insert(h);
                    }
                    EngineEvent::StateChanged { tuple, from, to } => {
                        notes.push(format!("engine {tuple}: {from} -> {to}"));
                    }
                    _ => {}
                }
            }
        }
        for n in notes {
            self.note(n);
        }
    }

    fn check_pending(&mut self) -> Result<(), Fail> {
        let Some(mut p) = self.pending.take() else {
            return Ok(());
        };
        match self.attempt(&mut p.op) {
            Ok(Some(res)) => self.finish_blocking(&p.info, res),
            Ok(None) => {
                self.pending = Some(p);
                Ok(())
            }
            Err(e) => Err(Fail::new(
                p.info.line,
                format!("runtime error in {} call: {e}", p.info.spec.name),
            )),
        }
    }

    /// packetdrill `await_idle_thread`: wait up to one second for a blocked call to return.
    pub fn await_idle(&mut self) -> Result<bool, Fail> {
        let limit = self.now.saturating_add(1_000_000);
        while self.pending.is_some() {
            match self.next_wake() {
                Some(w) if w <= limit => self.advance_to(w)?,
                _ => {
                    self.advance_to(limit)?;
                    return Ok(self.pending.is_none());
                }
            }
        }
        Ok(true)
    }

    /// Runs the engine until a call that the script did not mark as blocking completes (the
    /// kernel runs its timers while the caller sleeps).
    pub fn block_until_done(
        &mut self,
        op: &mut crate::syscalls::Op,
    ) -> Result<crate::syscalls::SysResult, Fail> {
        let limit = self.now.saturating_add(HORIZON_USECS);
        loop {
            match self.attempt(op) {
                Ok(Some(res)) => return Ok(res),
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
            let wake = match (self.next_wake(), op.wake_at()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wake {
                Some(w) if w <= limit => {
                    let w = w.max(self.now);
                    self.advance_to(w)?;
                }
                _ => {
                    return self.fail(
                        "system call blocks and nothing can complete it (give the call an end \
                         time, as in '+0...1.0 read(...)', if the script expects it to block)",
                    )
                }
            }
        }
    }

    // ----- tolerances ---------------------------------------------------------------------------

    /// packetdrill `verify_time`.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_time(
        &self,
        time_type: TimeType,
        expected: i64,
        expected_end: i64,
        actual: i64,
        last_event: Option<i64>,
        description: &str,
    ) -> Result<(), String> {
        if time_type == TimeType::Any {
            return Ok(());
        }
        let mut tolerance = self.cfg.tolerance_usecs;
        if let Some(last) = last_event {
            let delta = expected.saturating_sub(last);
            let dynamic = (self.cfg.tolerance_percent / 100.0 * delta as f64) as i64;
            if dynamic > tolerance {
                tolerance = dynamic;
            }
        }
        if matches!(time_type, TimeType::AbsoluteRange | TimeType::RelativeRange) {
            if actual < expected.saturating_sub(tolerance)
                || actual > expected_end.saturating_add(tolerance)
            {
                return Err(format!(
                    "timing error: expected {description} in time range {:.6}~{:.6} sec but \
                     happened at {:.6} sec",
                    secs(expected),
                    secs(expected_end),
                    secs(actual)
                ));
            }
            return Ok(());
        }
        if actual < expected.saturating_sub(tolerance)
            || actual > expected.saturating_add(tolerance)
        {
            return Err(format!(
                "timing error: expected {description} at {:.6} sec but happened at {:.6} sec; \
                 tolerance {:.6} sec",
                secs(expected),
                secs(actual),
                secs(tolerance)
            ));
        }
        Ok(())
    }

    // ----- the event loop -----------------------------------------------------------------------

    pub fn run(&mut self, script: &Script) -> Result<(), Fail> {
        for (cmd, line) in &script.commands {
            self.line = *line;
            self.note(format!("line {line}: shell command ignored: `{cmd}`"));
        }
        let mut script_last_time: Option<i64> = None;
        for (idx, ev) in script.events.iter().enumerate() {
            self.line = ev.line;
            if idx == 0 && ev.time_usecs != 0 {
                return self.fail("first event should be at time 0");
            }
            let absolute = matches!(ev.time_type, TimeType::Absolute | TimeType::AbsoluteRange);
            if let (Some(last), Some(last_time)) = (self.last, script_last_time) {
                if last.absolute && absolute && ev.time_usecs < last_time {
                    return self.fail(format!(
                        "time goes backward in script from {last_time} usec to {} usec",
                        ev.time_usecs
                    ));
                }
            }
            let inbound =
                matches!(&ev.action, Action::Packet(p) if p.direction == Direction::Inbound);
            let mut time = ev.time_usecs;
            let mut end = ev.time_end_usecs.unwrap_or(0);
            let mut sys_end = match &ev.action {
                Action::Syscall(s) => s.end_usecs,
                _ => None,
            };
            if matches!(
                ev.time_type,
                TimeType::Any | TimeType::Relative | TimeType::RelativeRange
            ) {
                let offset = match self.last {
                    Some(l) if l.inbound_packet && inbound => l.time,
                    _ => self.now,
                };
                time = time.saturating_add(offset);
                if ev.time_type == TimeType::RelativeRange {
                    end = end.saturating_add(offset);
                }
                if ev.time_type == TimeType::Relative {
                    if let Some(e) = sys_end.as_mut() {
                        *e = e.saturating_add(offset);
                    }
                }
            }
            let ctx = EventCtx {
                line: ev.line,
                time_type: ev.time_type,
                time,
                end,
                last_event: self.last.map(|l| l.time),
            };
            match &ev.action {
                Action::Packet(p) if p.direction == Direction::Inbound => {
                    self.wait_for_event(&ctx, "inbound packet")?;
                    self.inject(p)?;
                }
                Action::Packet(p) => self.expect_outbound(&ctx, p)?,
                Action::Syscall(s) => self.syscall(&ctx, s, sys_end)?,
                Action::Command(c) => {
                    self.wait_for_event(&ctx, "command")?;
                    self.note(format!("line {}: shell command ignored: `{c}`", ev.line));
                }
                Action::Code(_) => {
                    return self.fail("%{ }% code blocks are not supported");
                }
            }
            self.last = Some(LastEvent {
                time,
                inbound_packet: inbound,
                absolute,
            });
            script_last_time = Some(time);
        }
        // packetdrill `syscalls_free`: a blocked call must return within a second.
        if let Some(line) = self.pending.as_ref().map(|p| p.info.line) {
            if !self.await_idle()? {
                return Err(Fail::new(
                    line,
                    "runtime error: exiting while a blocking system call is in progress",
                ));
            }
        }
        Ok(())
    }

    /// packetdrill `wait_for_event` + `check_event_time`.
    pub fn wait_for_event(&mut self, ctx: &EventCtx, what: &str) -> Result<(), Fail> {
        self.advance_to(ctx.time)?;
        if let Err(e) = self.verify_time(
            ctx.time_type,
            ctx.time,
            ctx.end,
            self.now,
            ctx.last_event,
            what,
        ) {
            return Err(Fail::new(ctx.line, e));
        }
        Ok(())
    }

    // ----- inbound packets ----------------------------------------------------------------------

    fn ephemeral_port(&mut self) -> u16 {
        let p = self.next_ephemeral;
        self.next_ephemeral = if p >= 60_999 { 32_768 } else { p + 1 };
        p
    }

    fn inject(&mut self, spec: &PacketSpec) -> Result<(), Fail> {
        let (flags, ae) = packet::flags_from_script(&spec.flags);
        // packetdrill handle_listen_for_script_packet: a packet towards a listening socket (or
        // before any socket exists) makes a new child socket under test.
        let listening = self
            .sut
            .as_ref()
            .is_none_or(|s| s.state == SutState::PassiveListening);
        if listening {
            let listen_port = self
                .sut
                .as_ref()
                .and_then(|s| s.fd)
                .and_then(|fd| self.listen_addr_of(fd))
                .map(|a| a.port())
                .unwrap_or(self.cfg.bind_port);
            let remote_port = self.ephemeral_port();
            let mut child = Sut::new(SutState::PassivePacketReceived, None);
            child.live_remote = Some(SocketAddr::new(self.cfg.remote_ip, remote_port));
            child.live_local = Some(SocketAddr::new(self.cfg.local_ip, listen_port));
            child.live_remote_isn = spec.seq;
            self.sut = Some(child);
        }
        let cfg_ts_scaled = self.cfg.ts_ecr_scaled;
        let line = self.line;
        let Some(sut) = self.sut.as_mut() else {
            return self.fail("no matching socket for script packet");
        };
        if sut.state == SutState::PassiveSynackSent && flags & bits::ACK != 0 {
            sut.state = SutState::PassiveSynackAcked;
        } else if sut.state == SutState::ActiveSynSent
            && flags & bits::SYN != 0
            && flags & bits::ACK != 0
        {
            sut.state = SutState::ActiveSynAcked;
            sut.live_remote_isn = spec.seq;
        }
        let (Some(local), Some(remote)) = (sut.live_local, sut.live_remote) else {
            return Err(Fail::new(
                line,
                "cannot inject: the addresses of the socket under test are not known yet \
                 (a connecting socket's are learned from its SYN: expect it first)",
            ));
        };
        let syn = flags & bits::SYN != 0;
        let seq_off = if syn { 0 } else { sut.live_remote_isn };
        let ack_off = if syn {
            sut.live_local_isn.wrapping_sub(sut.script_local_isn)
        } else {
            sut.live_local_isn
        };
        let mut options = packet::encode_options(spec.options.as_deref().unwrap_or(&[]));
        packet::offset_sack_blocks(&mut options, ack_off);
        if flags & bits::ACK != 0 {
            if let Some(at) = packet::ts_offset(&options) {
                let script_ecr = packet::get_u32(&options, at + 4);
                let live = if let Some(v) = sut.ts_map.get(&script_ecr) {
                    *v
                } else if let (true, Some((fs, fa))) = (cfg_ts_scaled, sut.first_ts) {
                    script_ecr.wrapping_sub(fs).wrapping_add(fa)
                } else {
                    return Err(Fail::new(
                        line,
                        format!(
                            "error handling packet: unable to infer live TS ecr for script TS ecr \
                             {script_ecr};  no matching or preceding outbound TS val"
                        ),
                    ));
                };
                packet::put_u32(&mut options, at + 4, live);
            }
        }
        let (src_port, dst_port) = spec.ports.unwrap_or((remote.port(), local.port()));
        let seg = Seg {
            src: remote.ip(),
            dst: local.ip(),
            src_port: if src_port == 0 {
                remote.port()
            } else {
                src_port
            },
            dst_port: if dst_port == 0 {
                local.port()
            } else {
                dst_port
            },
            seq: spec.seq.wrapping_add(seq_off),
            ack: if flags & bits::ACK != 0 {
                spec.ack.wrapping_add(ack_off)
            } else {
                spec.ack
            },
            flags,
            ae,
            res1: 0,
            window: spec.win.unwrap_or(0),
            urg: spec.urg,
            options,
            payload: vec![0; usize::from(spec.len)],
        };
        let bytes = seg
            .to_datagram(64)
            .map_err(|e| Fail::new(line, format!("cannot build packet: {e}")))?;
        self.note(format!(
            "inbound injected {} (live {})",
            packet::spec_to_string(spec),
            seg.to_script()
        ));
        let now = self.instant();
        let r = self.ep().handle_packet(now, &bytes);
        if let Err(reason) = r {
            self.note(format!("engine dropped it: {reason}"));
        }
        self.after_engine()
    }

    // ----- outbound packets ---------------------------------------------------------------------

    /// packetdrill `find_socket_for_live_packet` / `find_connect_for_live_packet`.
    fn live_packet_is_ours(&mut self, seg: &Seg) -> bool {
        let Some(sut) = self.sut.as_mut() else {
            return false;
        };
        let src = SocketAddr::new(seg.src, seg.src_port);
        let dst = SocketAddr::new(seg.dst, seg.dst_port);
        if sut.live_local == Some(src) && sut.live_remote == Some(dst) {
            return true;
        }
        if sut.state == SutState::ActiveSynSent
            && seg.has(bits::SYN)
            && !seg.has(bits::ACK)
            && sut.live_remote == Some(dst)
        {
            sut.live_local = Some(src);
            sut.live_local_isn = seg.seq;
            return true;
        }
        false
    }

    /// The next packet the engine sends for the socket under test, waiting up to `horizon`.
    fn sniff(&mut self, horizon: i64, expected: &PacketSpec) -> Result<(i64, Seg), Fail> {
        loop {
            if let Some(live) = self.outq.pop_front() {
                let seg = match Seg::parse_datagram(&live.bytes) {
                    Ok(s) => s,
                    Err(e) => {
                        self.note(format!("ignoring unparsable outbound packet: {e}"));
                        continue;
                    }
                };
                if self.live_packet_is_ours(&seg) {
                    return Ok((live.time, seg));
                }
                self.note(format!(
                    "ignoring outbound packet for another socket: {}:{} > {}:{} {}",
                    seg.src,
                    seg.src_port,
                    seg.dst,
                    seg.dst_port,
                    seg.to_script()
                ));
                continue;
            }
            match self.next_wake() {
                Some(w) if w <= horizon => {
                    let w = w.max(self.now);
                    self.advance_to(w)?;
                }
                _ => {
                    return self.fail(format!(
                        "error handling packet: Timed out waiting for packet: nothing sent by \
                         {:.6} sec\nscript packet: {}",
                        secs(horizon.max(self.now)),
                        packet::spec_to_string(expected)
                    ));
                }
            }
        }
    }

    fn expect_outbound(&mut self, ctx: &EventCtx, spec: &PacketSpec) -> Result<(), Fail> {
        let (sflags, _) = packet::flags_from_script(&spec.flags);
        let script_synack = sflags & bits::SYN != 0 && sflags & bits::ACK != 0;
        {
            let Some(sut) = self.sut.as_mut() else {
                return self.fail("error handling packet: no matching socket for script packet");
            };
            if sflags & bits::SYN != 0
                && sflags & bits::ACK == 0
                && sut.state == SutState::ActiveConnecting
            {
                sut.state = SutState::ActiveSynSent;
                sut.script_local_isn = spec.seq;
            }
            if sut.state == SutState::PassivePacketReceived && script_synack {
                sut.script_local_isn = spec.seq;
            }
        }
        let expected_end = match ctx.time_type {
            TimeType::AbsoluteRange | TimeType::RelativeRange => ctx.end,
            _ => ctx.time,
        };
        let horizon = if ctx.time_type == TimeType::Any {
            self.now.saturating_add(HORIZON_USECS)
        } else {
            expected_end
                .max(self.now)
                .saturating_add(self.cfg.tolerance_usecs)
                .saturating_add(120_000_000)
        };
        let expected_len = usize::from(spec.len);
        let mut frags: Vec<(i64, Seg)> = Vec::new();
        let mut sniffed = 0usize;
        loop {
            let (t, mut seg) = self.sniff(horizon, spec)?;
            let Some(sut) = self.sut.as_mut() else {
                return self.fail("socket under test vanished");
            };
            if sut.state == SutState::PassivePacketReceived && script_synack {
                sut.state = SutState::PassiveSynackSent;
                sut.live_local_isn = seg.seq;
            }
            // Live -> script sequence space (packetdrill tcp_convert_seq_number).
            let syn = seg.has(bits::SYN);
            let seq_off = if syn {
                sut.live_local_isn.wrapping_sub(sut.script_local_isn)
            } else {
                sut.live_local_isn
            };
            seg.seq = seg.seq.wrapping_sub(seq_off);
            let ack_off = if syn { 0 } else { sut.live_remote_isn };
            if seg.has(bits::ACK) {
                seg.ack = seg.ack.wrapping_sub(ack_off);
            }
            packet::offset_sack_blocks(&mut seg.options, 0u32.wrapping_sub(ack_off));
            self.note(format!("outbound sniffed {}", seg.to_script()));
            let len = seg.payload.len();
            if let Some((_, prev)) = frags.last() {
                if let Err(e) = check_fragment(&seg, prev, len, sniffed, expected_len) {
                    return Err(Fail::new(
                        ctx.line,
                        format!(
                            "error handling packet: {e}\nscript packet: {:>9.6} {}\nactual packet: \
                             {:>9.6} {}",
                            secs(ctx.time),
                            packet::spec_to_string(spec),
                            secs(t),
                            seg.to_script()
                        ),
                    ));
                }
            }
            frags.push((t, seg));
            sniffed += len;
            if sniffed >= expected_len || self.cfg.strict_segments {
                break;
            }
        }
        let Some((last_time, last)) = frags.last().cloned() else {
            return self.fail("no packet sniffed");
        };
        let mut actual = last;
        if frags.len() > 1 {
            actual.seq = frags[0].1.seq;
            let cwr = frags[0].1.flags & bits::CWR;
            actual.flags = (actual.flags & !bits::CWR) | cwr;
            actual.payload = frags.iter().flat_map(|(_, s)| s.payload.clone()).collect();
        }
        let dump = |actual: &Seg| {
            format!(
                "\nscript packet: {:>9.6} {}\nactual packet: {:>9.6} {}",
                secs(ctx.time),
                packet::spec_to_string(spec),
                secs(last_time),
                actual.to_script()
            )
        };
        if sniffed != expected_len {
            return Err(Fail::new(
                ctx.line,
                format!(
                    "error handling packet: live packet payload: expected {expected_len} bytes vs \
                     actual {sniffed} bytes{}",
                    dump(&actual)
                ),
            ));
        }
        // Timestamps (packetdrill map_outbound_live_packet).
        let script_opts = spec.options.as_ref().map(|o| packet::encode_options(o));
        if let (Some(so), Some(at)) = (&script_opts, packet::ts_offset(&actual.options)) {
            if let Some(sat) = packet::ts_offset(so) {
                let script_val = packet::get_u32(so, sat);
                let actual_val = packet::get_u32(&actual.options, at);
                if let Some(sut) = self.sut.as_mut() {
                    sut.ts_map.insert(script_val, actual_val);
                    let (fs, fa) = *sut.first_ts.get_or_insert((script_val, actual_val));
                    packet::put_u32(
                        &mut actual.options,
                        at,
                        fs.wrapping_add(actual_val.wrapping_sub(fa)),
                    );
                }
            }
        }
        let result = self
            .verify_outbound(spec, script_opts.as_deref(), &actual)
            .and_then(|_| {
                self.verify_time(
                    ctx.time_type,
                    ctx.time,
                    ctx.end,
                    last_time,
                    ctx.last_event,
                    "outbound packet",
                )
            });
        if let Err(e) = result {
            return Err(Fail::new(
                ctx.line,
                format!("error handling packet: {e}{}", dump(&actual)),
            ));
        }
        Ok(())
    }

    /// packetdrill `verify_outbound_live_headers` (strict), options and payload.
    fn verify_outbound(
        &self,
        spec: &PacketSpec,
        script_opts: Option<&[u8]>,
        actual: &Seg,
    ) -> Result<(), String> {
        let (sflags, sae) = packet::flags_from_script(&spec.flags);
        let script_opt_len = script_opts.map_or(actual.options.len(), |o| o.len());
        let bit = |f: u8, b: u8| u32::from(f & b != 0);
        for (name, b) in [
            ("tcp_fin", bits::FIN),
            ("tcp_syn", bits::SYN),
            ("tcp_rst", bits::RST),
            ("tcp_psh", bits::PSH),
            ("tcp_ack", bits::ACK),
            ("tcp_urg", bits::URG),
            ("tcp_ece", bits::ECE),
            ("tcp_cwr", bits::CWR),
        ] {
            check_field(name, bit(sflags, b), bit(actual.flags, b))?;
        }
        check_field("tcp_ae", u32::from(sae), u32::from(actual.ae))?;
        check_field("tcp_reserved_bits", 0, u32::from(actual.res1))?;
        let v6 = actual.src.is_ipv6();
        let ip_hdr = if v6 { 0 } else { 20 };
        let script_total = ip_hdr + 20 + script_opt_len + usize::from(spec.len);
        let actual_total = ip_hdr + 20 + actual.options.len() + actual.payload.len();
        check_field(
            if v6 {
                "ipv6_payload_len"
            } else {
                "ipv4_total_length"
            },
            script_total as u32,
            actual_total as u32,
        )?;
        check_field(
            "tcp_data_offset",
            (5 + script_opt_len / 4) as u32,
            (5 + actual.options.len() / 4) as u32,
        )?;
        check_field("tcp_seq", spec.seq, actual.seq)?;
        check_field("tcp_ack_seq", spec.ack, actual.ack)?;
        if let Some(w) = spec.win {
            check_field("tcp_window", u32::from(w), u32::from(actual.window))?;
        }
        check_field("tcp_urg_ptr", u32::from(spec.urg), u32::from(actual.urg))?;
        if let Some(so) = script_opts {
            let a = packet::iter_options(&actual.options)?;
            let s = packet::iter_options(so)?;
            if a.len() != s.len() {
                return Err("bad outbound TCP options".into());
            }
            for (ao, sopt) in a.iter().zip(s.iter()) {
                if ao.kind != sopt.kind {
                    return Err("bad outbound TCP options".into());
                }
                match ao.kind {
                    0 | 1 => {}
                    8 => {
                        let tick = self.cfg.ts_tick_usecs;
                        if tick != 0 {
                            let av = packet::get_u32(&actual.options, ao.offset + 2);
                            let sv = packet::get_u32(so, sopt.offset + 2);
                            let dev = i64::from((av.wrapping_sub(sv) as i32).unsigned_abs());
                            if dev * tick > self.cfg.tolerance_usecs {
                                return Err(format!(
                                    "bad outbound TCP timestamp value, tolerance {}",
                                    self.cfg.tolerance_usecs
                                ));
                            }
                        }
                    }
                    k => {
                        if ao.len != sopt.len {
                            return Err(format!("bad lengths for outbound TCP option {k}"));
                        }
                        if actual.options[ao.offset + 2..ao.offset + ao.len]
                            != so[sopt.offset + 2..sopt.offset + sopt.len]
                        {
                            return Err(format!("bad value outbound TCP option {k}"));
                        }
                    }
                }
            }
        }
        if actual.payload.iter().any(|b| *b != 0) {
            return Err("incorrect outbound data payload".into());
        }
        Ok(())
    }

    /// Address a listening fd is bound to.
    fn listen_addr_of(&self, fd: i32) -> Option<SocketAddr> {
        let ep = self.ep.as_ref()?;
        match self.fds.get(&fd)? {
            Fd::Socket(s) => match s.kind {
                crate::syscalls::Kind::Listener(l) => ep.listener_addr(l).ok(),
                _ => None,
            },
        }
    }
}

/// Timing information of the event being run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventCtx {
    pub line: u32,
    pub time_type: TimeType,
    pub time: i64,
    pub end: i64,
    pub last_event: Option<i64>,
}

/// packetdrill `check_field`.
fn check_field(name: &str, expected: u32, actual: u32) -> Result<(), String> {
    if expected != actual {
        return Err(format!(
            "live packet field {name}: expected: {expected} ({expected:#x}) vs actual: {actual} \
             ({actual:#x})"
        ));
    }
    Ok(())
}

/// packetdrill `verify_packet_fragments`: can `cur` be aggregated after `prev`?
fn check_fragment(
    cur: &Seg,
    prev: &Seg,
    cur_payload: usize,
    sniffed: usize,
    expected_total: usize,
) -> Result<(), String> {
    let hdr = |name: &str, e: u32, a: u32| -> Result<(), String> {
        if e != a {
            Err(format!(
                "aggregate candidate packet field {name}: expected: {e} ({e:#x}) vs actual: {a} \
                 ({a:#x})"
            ))
        } else {
            Ok(())
        }
    };
    hdr(
        "tcp_data_offset",
        (5 + prev.options.len() / 4) as u32,
        (5 + cur.options.len() / 4) as u32,
    )?;
    for (name, b) in [
        ("tcp_syn", bits::SYN),
        ("tcp_rst", bits::RST),
        ("tcp_ack", bits::ACK),
        ("tcp_urg", bits::URG),
        ("tcp_ece", bits::ECE),
    ] {
        hdr(name, u32::from(prev.has(b)), u32::from(cur.has(b)))?;
    }
    hdr("tcp_ae", u32::from(prev.ae), u32::from(cur.ae))?;
    hdr(
        "tcp_seq",
        prev.seq.wrapping_add(prev.payload.len() as u32),
        cur.seq,
    )?;
    hdr("tcp_ack_seq", prev.ack, cur.ack)?;
    hdr("tcp_window", u32::from(prev.window), u32::from(cur.window))?;
    hdr("tcp_urg_ptr", u32::from(prev.urg), u32::from(cur.urg))?;
    if cur_payload < expected_total.saturating_sub(sniffed) && cur_payload != prev.payload.len() {
        return Err(format!(
            "fragment payload: expected {} bytes vs actual {} bytes; total payload: expected {} \
             bytes vs actual {} bytes",
            prev.payload.len(),
            cur_payload,
            expected_total,
            cur_payload + sniffed
        ));
    }
    Ok(())
}

/// Microseconds as seconds.
pub(crate) fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}
