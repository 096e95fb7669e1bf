//! A test-only re-enactment of packetdrill running a script in shared-object mode, through the
//! C ABI of the shared object, with packetdrill's threads and locking: a main thread that runs
//! the events and owns a run lock, which it releases around `usleep` and while it waits for the
//! system call thread; a system call thread that runs the calls a script marks as blocking
//! (`+0...0.2 call()`), waits for their start time itself, releases the run lock around the call
//! and checks the end time after it; the main thread's wait for that thread to be asleep (read
//! from `/proc`, as packetdrill does); the one-second limit of `await_idle_thread`; the clock read
//! through `gettimeofday` and slept through `usleep` of the shared object; packets injected and
//! sniffed with `netdev_send` and `netdev_receive`; sequence numbers, TS ecr and TS val mapped
//! between script and live values; several sniffed segments aggregated into one expected segment;
//! the timing tolerances; and at the end `close(2)` of the live descriptors a script left open
//! and a RST to each connection.
//!
//! Code events (`%{ ... }%`) run as packetdrill runs them: at the event's time `TCP_INFO` is read
//! from the socket under test through the shared object's `getsockopt`, and its fields become
//! Python variables (`tcpi_snd_cwnd`, ...) ahead of the event's code; after the last event, the
//! collected code runs in `python3`, and an exception (a failed `assert`) fails the script. A
//! script with code events is skipped where there is no `python3`.
//!
//! Shell commands (`` `...` ``) are not run. Given a network namespace of the caller's own
//! ([`Config::sysctl_dir`]), the sysctls they set are written there, the init command's
//! after the shared object's init as packetdrill orders it; otherwise they are skipped.
//!
//! It is not packetdrill: it parses with `synack-script`'s parser and checks what packetdrill
//! checks for TCP over IPv4 and IPv6 (no UDP or ICMP). It is here to run the same scripts through
//! the same interface packetdrill uses, in tests.

mod so;

use std::collections::HashMap;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration as RealDuration, Instant as RealInstant};

use synack_script::ast::{Action, Direction, Event, Expr, PacketSpec, SyscallSpec, TimeType};
use synack_script::packet::{self, bits, Seg};
use synack_script::{parser, symbols};

pub use so::So;

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every event happened as written.
    Passed,
    /// packetdrill would have died with this message.
    Failed(String),
    /// The script uses something this harness does not do.
    Skipped(String),
}

/// packetdrill's command-line configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--so_flags`.
    pub so_flags: String,
    /// `--local_ip`.
    pub local_ip: IpAddr,
    /// `--remote_ip`.
    pub remote_ip: IpAddr,
    /// Sockets are `AF_INET6` (`--ip_version=ipv6` or `ipv4-mapped-ipv6`).
    pub v6_socket: bool,
    /// `--tolerance_usecs`.
    pub tolerance_usecs: i64,
    /// `--tolerance_percent`.
    pub tolerance_percent: f64,
    /// Print events as they run.
    pub verbose: bool,
    /// When set, the run is inside a network namespace of its own and the script's shell
    /// commands are read for the sysctls they set (see [`sysctl_assignments`]), which are then
    /// written to `/proc/sys`; files the commands run (`defaults.sh`) are looked up in this
    /// directory. When unset, commands are skipped.
    pub sysctl_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            so_flags: "local_ip=192.168.0.2".into(),
            local_ip: Ipv4Addr::new(192, 168, 0, 2).into(),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1).into(),
            v6_socket: false,
            tolerance_usecs: 4000,
            tolerance_percent: 12.5,
            verbose: false,
            sysctl_dir: None,
        }
    }
}

const MAX_SPIN_USECS: i64 = 20;
const BIND_PORT: u16 = 8080;
const CONNECT_PORT: u16 = 8080;

/// packetdrill `enum socket_state_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SockState {
    New,
    PassiveListening,
    PassivePacketReceived,
    PassiveSynackSent,
    PassiveSynackAcked,
    ActiveConnecting,
    ActiveSynSent,
    ActiveSynAcked,
}

/// packetdrill `struct socket`.
#[derive(Clone, Debug)]
struct Sock {
    state: SockState,
    script_fd: i32,
    live_fd: i32,
    closed: bool,
    script_local_isn: u32,
    live_local_isn: u32,
    live_remote_isn: u32,
    live_local: Option<SocketAddr>,
    live_remote: Option<SocketAddr>,
    ts_map: HashMap<u32, u32>,
    first_ts: Option<(u32, u32)>,
    last_injected: Option<Seg>,
    last_outbound: Option<Seg>,
}

impl Sock {
    fn new(state: SockState) -> Sock {
        Sock {
            state,
            script_fd: -1,
            live_fd: -1,
            closed: false,
            script_local_isn: 0,
            live_local_isn: 0,
            live_remote_isn: 0,
            live_local: None,
            live_remote: None,
            ts_map: HashMap::new(),
            first_ts: None,
            last_injected: None,
            last_outbound: None,
        }
    }
}

/// An event with its times resolved (packetdrill `adjust_relative_event_times`).
#[derive(Clone, Debug)]
struct Ev {
    line: u32,
    time_type: TimeType,
    time: i64,
    end: i64,
    sys_end: Option<i64>,
    inbound: bool,
}

/// packetdrill `enum syscall_state_t`.
#[derive(Debug)]
enum SysState {
    Idle,
    Enqueued(Box<(Ev, SyscallSpec, Option<i64>)>),
    Running,
    Exiting,
}

struct Shared {
    cfg: Config,
    live_start: i64,
    socks: Vec<Sock>,
    sut: Option<usize>,
    sys: SysState,
    sys_tid: i32,
    failure: Option<String>,
    next_ephemeral: u16,
    num_events: usize,
    last_event: Option<Ev>,
    /// The Python program the code events build (packetdrill `code_state`).
    code: Vec<String>,
}

struct Sync {
    run: Mutex<Shared>,
    idle: Condvar,
    enqueued: Condvar,
    dequeued: Condvar,
}

type G<'a> = MutexGuard<'a, Shared>;

fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}

fn log(cfg: &Config, msg: impl AsRef<str>) {
    if cfg.verbose {
        eprintln!("pdrun: {}", msg.as_ref());
    }
}

/// Runs a script (its text) through a new shared object.
pub fn run(text: &str, cfg: &Config) -> Outcome {
    let script = match parser::parse(text) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("parse error: {e}")),
    };
    let has_code = script
        .events
        .iter()
        .any(|ev| matches!(ev.action, Action::Code(_)));
    if has_code && !python3_available() {
        return Outcome::Skipped("code events need python3, which is not installed".into());
    }
    for ev in &script.events {
        if let Action::Packet(p) = &ev.action {
            if p.flags.contains('U') {
                return Outcome::Skipped(format!("line {}: urgent data", ev.line));
            }
        }
    }
    let mut cfg = cfg.clone();
    for (name, value, _) in &script.options {
        match (name.as_str(), value) {
            ("tolerance_usecs", Some(v)) => cfg.tolerance_usecs = v.parse().unwrap_or(4000),
            ("tolerance_percent", Some(v)) => cfg.tolerance_percent = v.parse().unwrap_or(12.5),
            ("ip_version", Some(v)) => match v.as_str() {
                "ipv4" => {}
                "ipv4-mapped-ipv6" => cfg.v6_socket = true,
                "ipv6" => {
                    cfg.v6_socket = true;
                    if cfg.local_ip.is_ipv4() {
                        cfg.local_ip = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1).into();
                    }
                    if cfg.remote_ip.is_ipv4() {
                        cfg.remote_ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into();
                    }
                }
                other => return Outcome::Skipped(format!("--ip_version={other}")),
            },
            ("strict_segments", _) | ("tcp_ts_ecr_scaled", _) => {
                return Outcome::Skipped(format!("--{name}"))
            }
            _ => {}
        }
    }
    let so = So::init(&cfg.so_flags);
    // The init command (a backquoted command before the first event) runs after the shared
    // object's init and before the events, as in packetdrill's `run_script`.
    let first_event = script.events.first().map_or(u32::MAX, |e| e.line);
    if let (Some(dir), Some((init, line))) = (&cfg.sysctl_dir, script.commands.first()) {
        if *line < first_event {
            write_sysctls(&cfg, sysctl_assignments(init, dir));
        }
    }
    let sync = Arc::new(Sync {
        run: Mutex::new(Shared {
            cfg: cfg.clone(),
            live_start: 0,
            socks: Vec::new(),
            sut: None,
            sys: SysState::Idle,
            sys_tid: 0,
            failure: None,
            next_ephemeral: 48_879,
            num_events: 0,
            last_event: None,
            code: Vec::new(),
        }),
        idle: Condvar::new(),
        enqueued: Condvar::new(),
        dequeued: Condvar::new(),
    });
    let thread = {
        let sync = sync.clone();
        thread::spawn(move || system_call_thread(so, &sync))
    };
    let r = run_events(so, &sync, &script.events);
    let r = r.and_then(|()| finish(so, &sync));
    let code = std::mem::take(&mut sync.run.lock().unwrap().code);
    let r = r.and_then(|()| run_code(&code));
    // Stop the system call thread in any case.
    let stuck = {
        let mut g = sync.run.lock().unwrap();
        let start = RealInstant::now();
        while !matches!(g.sys, SysState::Idle) && start.elapsed() < RealDuration::from_secs(2) {
            g = sync
                .idle
                .wait_timeout(g, RealDuration::from_millis(100))
                .unwrap()
                .0;
        }
        let stuck = !matches!(g.sys, SysState::Idle);
        g.sys = SysState::Exiting;
        sync.enqueued.notify_all();
        stuck
    };
    if stuck {
        // A call that never returns (packetdrill would exit the process under it): leave the
        // thread and its shared object behind rather than wait for ever.
        drop(thread);
        return Outcome::Failed(r.err().unwrap_or_else(|| {
            "runtime error: exiting while a blocking system call is in progress".into()
        }));
    }
    let joined = thread.join();
    so.free();
    match (r, joined) {
        (Ok(()), Ok(())) => Outcome::Passed,
        (Err(e), _) => Outcome::Failed(e),
        (Ok(()), Err(_)) => Outcome::Failed("system call thread panicked".into()),
    }
}

/// packetdrill `state_free`: wait for the system call thread, close what is open, reset.
fn finish(so: So, sync: &Sync) -> Result<(), String> {
    let g = sync.run.lock().unwrap();
    let mut g = await_idle(sync, g)
        .map_err(|_| "runtime error: exiting while a blocking system call is in progress")?;
    if let Some(f) = g.failure.take() {
        return Err(f);
    }
    let socks = g.socks.clone();
    for s in socks {
        if s.live_fd >= 0 && !s.closed {
            // packetdrill close_all_fds: the real close(2) of the live descriptor.
            // SAFETY: a descriptor number the shared object returned for this process.
            if unsafe { libc::close(s.live_fd) } != 0 {
                return Err(format!(
                    "close: {} (live fd {})",
                    std::io::Error::last_os_error(),
                    s.live_fd
                ));
            }
        }
        if let (Some(local), Some(remote)) = (s.live_local, s.live_remote) {
            reset_connection(so, &s, local, remote);
        }
    }
    Ok(())
}

/// packetdrill `reset_connection`.
fn reset_connection(so: So, s: &Sock, local: SocketAddr, remote: SocketAddr) {
    let (seq, ack, win) = if let Some(i) = s.last_injected.as_ref().filter(|i| i.has(bits::ACK)) {
        (i.seq.wrapping_add(i.seq_len()), i.ack, i.window)
    } else if let Some(o) = s.last_outbound.as_ref().filter(|o| o.has(bits::ACK)) {
        (o.ack, o.seq, 0)
    } else if let Some(o) = &s.last_outbound {
        (0, o.seq.wrapping_add(1), 0)
    } else {
        return;
    };
    let seg = Seg {
        src: remote.ip(),
        dst: local.ip(),
        src_port: remote.port(),
        dst_port: local.port(),
        seq,
        ack,
        flags: bits::RST | bits::ACK,
        ae: false,
        res1: 0,
        window: win,
        urg: 0,
        options: Vec::new(),
        payload: Vec::new(),
    };
    if let Ok(d) = seg.to_datagram(64) {
        so.netdev_send(&d);
    }
}

fn run_events(so: So, sync: &Sync, events: &[Event]) -> Result<(), String> {
    let mut g = sync.run.lock().unwrap();
    // packetdrill schedule_start_time_usecs: a start a little after now.
    g.live_start = so.now() + 250;
    let mut script_last_time: Option<i64> = None;
    for (idx, ev) in events.iter().enumerate() {
        if let Some(f) = g.failure.take() {
            return Err(f);
        }
        if idx == 0 && ev.time_usecs != 0 {
            return Err(format!("{}: first event should be at time 0", ev.line));
        }
        let absolute = matches!(ev.time_type, TimeType::Absolute | TimeType::AbsoluteRange);
        if let (Some(last), Some(t)) = (&g.last_event, script_last_time) {
            let last_abs = matches!(last.time_type, TimeType::Absolute | TimeType::AbsoluteRange);
            if last_abs && absolute && ev.time_usecs < t {
                return Err(format!("{}: time goes backward in script", ev.line));
            }
        }
        let inbound = matches!(&ev.action, Action::Packet(p) if p.direction == Direction::Inbound);
        let mut e = Ev {
            line: ev.line,
            time_type: ev.time_type,
            time: ev.time_usecs,
            end: ev.time_end_usecs.unwrap_or(0),
            sys_end: match &ev.action {
                Action::Syscall(s) => s.end_usecs,
                _ => None,
            },
            inbound,
        };
        if matches!(
            ev.time_type,
            TimeType::Any | TimeType::Relative | TimeType::RelativeRange
        ) {
            let offset = match &g.last_event {
                Some(l) if l.inbound && inbound => l.time,
                _ => so.now() - g.live_start,
            };
            e.time += offset;
            if ev.time_type == TimeType::RelativeRange {
                e.end += offset;
            }
            if ev.time_type == TimeType::Relative {
                if let Some(x) = e.sys_end.as_mut() {
                    *x += offset;
                }
            }
        }
        log(
            &g.cfg,
            format!("line {}: {:?} at {}", ev.line, ev.action, secs(e.time)),
        );
        match &ev.action {
            Action::Packet(p) if p.direction == Direction::Inbound => {
                g = wait_for_event(so, sync, g, &e)?;
                inject(so, &mut g, p, &e)?;
            }
            Action::Packet(p) => expect_outbound(so, &mut g, p, &e)?,
            Action::Syscall(s) => {
                if s.end_usecs.is_some() {
                    g = enqueue(sync, g, &e, s)?;
                } else {
                    g = invoke(so, sync, g, &e, s, false)?;
                }
            }
            Action::Command(text) => {
                g = wait_for_event(so, sync, g, &e)?;
                if let Some(dir) = g.cfg.sysctl_dir.clone() {
                    write_sysctls(&g.cfg, sysctl_assignments(text, &dir));
                }
            }
            Action::Code(text) => {
                g = wait_for_event(so, sync, g, &e)?;
                code_event(so, &mut g, text, e.line)?;
            }
        }
        g.last_event = Some(e);
        script_last_time = Some(ev.time_usecs);
        g.num_events += 1;
    }
    if let Some(f) = g.failure.take() {
        return Err(f);
    }
    Ok(())
}

// ----- shell commands --------------------------------------------------------------------------

/// The sysctl assignments of a script's shell command, as `(/proc/sys path, value)` pairs, in
/// order: `sysctl [-q] [-e] [-w] key=value ...` (a key with dots or slashes; the value unquoted,
/// `$((a*b))` products worked out), `set_sysctls.py /proc/sys/...=value ...`, and the same in a
/// file the command runs whose name ends in `defaults.sh` (looked up in `dir` by its last path
/// component). Only `net/ipv4/` and `net/core/` keys are kept, and anything else a command does
/// is not done: this is a reading of the commands, not a shell.
pub fn sysctl_assignments(text: &str, dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // A backslash at the end of a line continues the command on the next.
    let text = text.replace("\\\n", " ");
    for line in text.lines().flat_map(|l| l.split(';')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(cmd) = words.first() else { continue };
        if cmd.ends_with("defaults.sh") {
            let name = cmd.rsplit('/').next().unwrap_or(cmd);
            if let Ok(t) = std::fs::read_to_string(dir.join(name)) {
                out.extend(sysctl_assignments(&t, dir));
            }
            continue;
        }
        let is_sysctl = *cmd == "sysctl";
        if !is_sysctl && !cmd.ends_with("set_sysctls.py") {
            continue;
        }
        for w in &words[1..] {
            let Some((key, value)) = w.split_once('=') else {
                continue;
            };
            let key = key.trim_start_matches("/proc/sys/").replace('.', "/");
            if !(key.starts_with("net/ipv4/") || key.starts_with("net/core/")) {
                continue;
            }
            // Values with spaces are quoted: take the rest of the line from the key on.
            let value = if value.starts_with('"') {
                let start = line.find(w).map_or(0, |i| i + w.len() - value.len());
                let rest = &line[start + 1..];
                rest.split('"').next().unwrap_or("").to_string()
            } else {
                value.to_string()
            };
            let value = value
                .split_whitespace()
                .map(expand_product)
                .collect::<Vec<_>>()
                .join("\t");
            out.push((format!("/proc/sys/{key}"), value));
        }
    }
    out
}

/// Writes the assignments. One that fails (a value the namespace refuses) is reported when
/// verbose and otherwise passed over, as the `sysctl` lines of `defaults.sh` are by its shell.
fn write_sysctls(cfg: &Config, assignments: Vec<(String, String)>) {
    for (path, value) in assignments {
        if let Err(err) = std::fs::write(&path, &value) {
            log(cfg, format!("writing {value:?} to {path}: {err}"));
        }
    }
}

/// `$((a*b*c))` as its product; any other word unchanged.
fn expand_product(w: &str) -> String {
    w.strip_prefix("$((")
        .and_then(|r| r.strip_suffix("))"))
        .and_then(|e| {
            e.split('*')
                .map(|f| f.trim().parse::<u64>().ok())
                .product::<Option<u64>>()
        })
        .map_or_else(|| w.to_string(), |v| v.to_string())
}

// ----- code events -----------------------------------------------------------------------------

fn python3_available() -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// packetdrill `run_code_event`: `TCP_INFO` of the socket under test, as Python assignments,
/// then the event's code with its script line.
fn code_event(so: So, g: &mut Shared, text: &str, line: u32) -> Result<(), String> {
    let fd = g
        .sut
        .map(|i| g.socks[i].live_fd)
        .filter(|fd| *fd >= 0)
        .ok_or_else(|| format!("{line}: runtime error in code: no socket to use for code"))?;
    let size = std::mem::size_of::<libc::tcp_info>();
    let (r, bytes) = so.getsockopt(fd, libc::SOL_TCP, libc::TCP_INFO, size as u32);
    if r.0 < 0 || bytes.len() < size {
        return Err(format!(
            "{line}: runtime error in code: can't find getsockopt to get TCP info"
        ));
    }
    // SAFETY: `bytes` holds `size` initialised bytes and tcp_info is plain integers, for which
    // any bit pattern is valid; read_unaligned copes with the Vec's alignment.
    let i: libc::tcp_info = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let vars: [(&str, u64); 63] = [
        ("TCP_ESTABLISHED", 1),
        ("TCP_SYN_SENT", 2),
        ("TCP_SYN_RECV", 3),
        ("TCP_FIN_WAIT1", 4),
        ("TCP_FIN_WAIT2", 5),
        ("TCP_TIME_WAIT", 6),
        ("TCP_CLOSE", 7),
        ("TCP_CLOSE_WAIT", 8),
        ("TCP_LAST_ACK", 9),
        ("TCP_LISTEN", 10),
        ("TCP_CLOSING", 11),
        ("TCP_CA_Open", 0),
        ("TCP_CA_Disorder", 1),
        ("TCP_CA_CWR", 2),
        ("TCP_CA_Recovery", 3),
        ("TCP_CA_Loss", 4),
        ("TCPI_OPT_TIMESTAMPS", 1),
        ("TCPI_OPT_WSCALE", 4),
        ("TCPI_OPT_ECN", 8),
        ("TCPI_OPT_SYN_DATA", 32),
        ("tcpi_state", i.tcpi_state.into()),
        ("tcpi_ca_state", i.tcpi_ca_state.into()),
        ("tcpi_retransmits", i.tcpi_retransmits.into()),
        ("tcpi_probes", i.tcpi_probes.into()),
        ("tcpi_backoff", i.tcpi_backoff.into()),
        ("tcpi_options", i.tcpi_options.into()),
        ("tcpi_snd_wscale", (i.tcpi_snd_rcv_wscale & 0xf).into()),
        ("tcpi_rcv_wscale", (i.tcpi_snd_rcv_wscale >> 4).into()),
        ("tcpi_rto", i.tcpi_rto.into()),
        ("tcpi_ato", i.tcpi_ato.into()),
        ("tcpi_snd_mss", i.tcpi_snd_mss.into()),
        ("tcpi_rcv_mss", i.tcpi_rcv_mss.into()),
        ("tcpi_unacked", i.tcpi_unacked.into()),
        ("tcpi_sacked", i.tcpi_sacked.into()),
        ("tcpi_lost", i.tcpi_lost.into()),
        ("tcpi_retrans", i.tcpi_retrans.into()),
        ("tcpi_fackets", i.tcpi_fackets.into()),
        ("tcpi_last_data_sent", i.tcpi_last_data_sent.into()),
        ("tcpi_last_ack_sent", i.tcpi_last_ack_sent.into()),
        ("tcpi_last_data_recv", i.tcpi_last_data_recv.into()),
        ("tcpi_last_ack_recv", i.tcpi_last_ack_recv.into()),
        ("tcpi_pmtu", i.tcpi_pmtu.into()),
        ("tcpi_rcv_ssthresh", i.tcpi_rcv_ssthresh.into()),
        ("tcpi_rtt", i.tcpi_rtt.into()),
        ("tcpi_rttvar", i.tcpi_rttvar.into()),
        ("tcpi_snd_ssthresh", i.tcpi_snd_ssthresh.into()),
        ("tcpi_snd_cwnd", i.tcpi_snd_cwnd.into()),
        ("tcpi_advmss", i.tcpi_advmss.into()),
        ("tcpi_reordering", i.tcpi_reordering.into()),
        ("tcpi_total_retrans", i.tcpi_total_retrans.into()),
        ("tcpi_rcv_space", i.tcpi_rcv_space.into()),
        ("tcpi_bytes_acked", i.tcpi_bytes_acked),
        ("tcpi_bytes_received", i.tcpi_bytes_received),
        ("tcpi_notsent_bytes", i.tcpi_notsent_bytes.into()),
        ("tcpi_min_rtt", i.tcpi_min_rtt.into()),
        ("tcpi_busy_time", i.tcpi_busy_time),
        ("tcpi_rwnd_limited", i.tcpi_rwnd_limited),
        ("tcpi_sndbuf_limited", i.tcpi_sndbuf_limited),
        ("tcpi_delivered", i.tcpi_delivered.into()),
        ("tcpi_bytes_retrans", i.tcpi_bytes_retrans),
        ("tcpi_dsack_dups", i.tcpi_dsack_dups.into()),
        ("tcpi_reord_seen", i.tcpi_reord_seen.into()),
        ("tcpi_snd_wnd", i.tcpi_snd_wnd.into()),
    ];
    let mut out = String::new();
    for (name, v) in vars {
        out.push_str(&format!("{name} = {v}\n"));
    }
    // packetdrill also reads SO_MEMINFO (nine u32s) into SK_MEMINFO_* variables.
    let (r, mem) = so.getsockopt(fd, libc::SOL_SOCKET, libc::SO_MEMINFO, 36);
    if r.0 == 0 && mem.len() == 36 {
        let names = [
            "SK_MEMINFO_RMEM_ALLOC",
            "SK_MEMINFO_RCVBUF",
            "SK_MEMINFO_WMEM_ALLOC",
            "SK_MEMINFO_SNDBUF",
            "SK_MEMINFO_FWD_ALLOC",
            "SK_MEMINFO_WMEM_QUEUED",
            "SK_MEMINFO_OPTMEM",
            "SK_MEMINFO_BACKLOG",
            "SK_MEMINFO_DROPS",
        ];
        for (name, v) in names.iter().zip(mem.chunks_exact(4)) {
            let v = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
            out.push_str(&format!("{name} = {v}\n"));
        }
    }
    out.push_str(&format!("_line = {line}\n{}\n", dedent(text)));
    g.code.push(out);
    Ok(())
}

/// The code of a `%{ }%` block with its common indentation removed, so that Python accepts it.
fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// packetdrill `code_execute`: the collected code in `python3`; an exception fails the script
/// with the line of the code event it came from.
fn run_code(code: &[String]) -> Result<(), String> {
    if code.is_empty() {
        return Ok(());
    }
    let mut program = String::from(
        "import sys\n\
         def _hook(etype, value, tb):\n\
         \x20   sys.stderr.write('line %d: error in Python code: %r\\n' % (_line, value))\n\
         sys.excepthook = _hook\n",
    );
    for c in code {
        program.push_str(c);
    }
    let path = std::env::temp_dir().join(format!(
        "pdrun_code_{}_{:?}.py",
        std::process::id(),
        thread::current().id()
    ));
    std::fs::write(&path, &program).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let out = std::process::Command::new("python3").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("running python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "code events: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// packetdrill `verify_time`.
fn verify_time(
    g: &Shared,
    time_type: TimeType,
    expected: i64,
    expected_end: i64,
    live: i64,
    last_event: Option<i64>,
    what: &str,
) -> Result<(), String> {
    let actual = live - g.live_start;
    if time_type == TimeType::Any {
        return Ok(());
    }
    let mut tol = g.cfg.tolerance_usecs;
    if let Some(last) = last_event {
        let dynamic = (g.cfg.tolerance_percent / 100.0 * (expected - last) as f64) as i64;
        tol = tol.max(dynamic);
    }
    if matches!(time_type, TimeType::AbsoluteRange | TimeType::RelativeRange) {
        if actual < expected - tol || actual > expected_end + tol {
            return Err(format!(
                "timing error: expected {what} in time range {:.6}~{:.6} sec but happened at \
                 {:.6} sec",
                secs(expected),
                secs(expected_end),
                secs(actual)
            ));
        }
        return Ok(());
    }
    if actual < expected - tol || actual > expected + tol {
        return Err(format!(
            "timing error: expected {what} at {:.6} sec but happened at {:.6} sec; tolerance \
             {:.6} sec",
            secs(expected),
            secs(actual),
            secs(tol)
        ));
    }
    Ok(())
}

/// packetdrill `wait_for_event`: usleep up to just before the event, then spin on the clock.
fn wait_for_event<'a>(so: So, sync: &'a Sync, mut g: G<'a>, e: &Ev) -> Result<G<'a>, String> {
    let event_live = g.live_start + e.time;
    loop {
        let wait = event_live - so.now();
        if wait <= 0 {
            break;
        }
        if g.num_events > 0 && wait > MAX_SPIN_USECS {
            drop(g);
            so.usleep(wait - MAX_SPIN_USECS);
            g = sync.run.lock().unwrap();
        }
    }
    if g.num_events > 0 {
        let now = so.now();
        let last = g.last_event.as_ref().map(|l| l.time);
        let what = if e.inbound {
            "inbound packet"
        } else {
            "system call start"
        };
        verify_time(&g, e.time_type, e.time, e.end, now, last, what)
            .map_err(|m| format!("{}: {m}", e.line))?;
    }
    Ok(g)
}

/// packetdrill `await_idle_thread`: at most one second of real time.
fn await_idle<'a>(sync: &'a Sync, mut g: G<'a>) -> Result<G<'a>, G<'a>> {
    let start = RealInstant::now();
    while !matches!(g.sys, SysState::Idle) {
        let Some(left) = RealDuration::from_secs(1).checked_sub(start.elapsed()) else {
            return Err(g);
        };
        g = sync.idle.wait_timeout(g, left).unwrap().0;
    }
    Ok(g)
}

/// Is the thread asleep (`/proc/self/task/TID/stat` state `S`)?
fn is_thread_sleeping(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        == Some("S")
}

/// packetdrill `enqueue_system_call`.
fn enqueue<'a>(sync: &'a Sync, g: G<'a>, e: &Ev, s: &SyscallSpec) -> Result<G<'a>, String> {
    let mut g = await_idle(sync, g).map_err(|_| {
        format!(
            "{}: runtime error in {} call: blocking system call while another blocking system \
             call is already in progress",
            e.line, s.name
        )
    })?;
    g.sys = SysState::Enqueued(Box::new((e.clone(), s.clone(), e.sys_end)));
    sync.enqueued.notify_all();
    while matches!(g.sys, SysState::Enqueued(_)) {
        g = sync.dequeued.wait(g).unwrap();
    }
    loop {
        let tid = g.sys_tid;
        drop(g);
        thread::yield_now();
        let sleeping = is_thread_sleeping(tid);
        g = sync.run.lock().unwrap();
        if sleeping || matches!(g.sys, SysState::Idle) {
            break;
        }
    }
    Ok(g)
}

/// packetdrill `system_call_thread`.
fn system_call_thread(so: So, sync: &Sync) {
    let mut g = sync.run.lock().unwrap();
    // SAFETY: gettid has no preconditions.
    g.sys_tid = unsafe { libc::gettid() };
    loop {
        match std::mem::replace(&mut g.sys, SysState::Running) {
            SysState::Idle => {
                g.sys = SysState::Idle;
                g = sync.enqueued.wait(g).unwrap();
            }
            SysState::Running => unreachable!(),
            SysState::Exiting => {
                g.sys = SysState::Exiting;
                return;
            }
            SysState::Enqueued(job) => {
                let (e, s, end) = *job;
                g.sys = SysState::Enqueued(Box::new((e.clone(), s.clone(), end)));
                g = match invoke(so, sync, g, &e, &s, true) {
                    Ok(g) => g,
                    Err(msg) => {
                        let mut g = sync.run.lock().unwrap();
                        g.failure.get_or_insert(msg);
                        g
                    }
                };
                g.sys = SysState::Idle;
                sync.idle.notify_all();
                sync.dequeued.notify_all();
            }
        }
    }
}

// ----- packets ------------------------------------------------------------------------------------

fn sut(g: &mut Shared, line: u32) -> Result<&mut Sock, String> {
    let i = g
        .sut
        .ok_or_else(|| format!("{line}: no matching socket for script packet"))?;
    Ok(&mut g.socks[i])
}

/// packetdrill `do_inbound_script_packet` with `handle_listen_for_script_packet` and
/// `map_inbound_packet`.
fn inject(so: So, g: &mut Shared, p: &PacketSpec, e: &Ev) -> Result<(), String> {
    let (flags, ae) = packet::flags_from_script(&p.flags);
    let listening = g
        .sut
        .is_none_or(|i| g.socks[i].state == SockState::PassiveListening);
    if listening {
        let port = g.next_ephemeral;
        g.next_ephemeral += 1;
        let mut child = Sock::new(SockState::PassivePacketReceived);
        child.live_remote = Some(SocketAddr::new(g.cfg.remote_ip, port));
        child.live_local = Some(SocketAddr::new(g.cfg.local_ip, BIND_PORT));
        child.live_remote_isn = p.seq;
        g.socks.push(child);
        g.sut = Some(g.socks.len() - 1);
    }
    let line = e.line;
    let s = sut(g, line)?;
    if s.state == SockState::PassiveSynackSent && flags & bits::ACK != 0 {
        s.state = SockState::PassiveSynackAcked;
    } else if s.state == SockState::ActiveSynSent
        && flags & bits::SYN != 0
        && flags & bits::ACK != 0
    {
        s.state = SockState::ActiveSynAcked;
        s.live_remote_isn = p.seq;
    }
    let (Some(local), Some(remote)) = (s.live_local, s.live_remote) else {
        return Err(format!("{line}: live addresses of the socket are unknown"));
    };
    // packetdrill socket.h: sequence and ACK numbers of SYNs are absolute, others relative to
    // each side's ISN.
    let syn = flags & bits::SYN != 0;
    let seq_off = if syn { 0 } else { s.live_remote_isn };
    let ack_off = if syn {
        s.live_local_isn.wrapping_sub(s.script_local_isn)
    } else {
        s.live_local_isn
    };
    let mut options = packet::encode_options(p.options.as_deref().unwrap_or(&[]));
    packet::offset_sack_blocks(&mut options, ack_off);
    if flags & bits::ACK != 0 {
        if let Some(at) = packet::ts_offset(&options) {
            let ecr = packet::get_u32(&options, at + 4);
            let live = s.ts_map.get(&ecr).copied().ok_or_else(|| {
                format!(
                    "{line}: error handling packet: unable to infer live TS ecr for script TS \
                     ecr {ecr};  no matching or preceding outbound TS val"
                )
            })?;
            packet::put_u32(&mut options, at + 4, live);
        }
    }
    let (sp, dp) = p.ports.unwrap_or((0, 0));
    let seg = Seg {
        src: remote.ip(),
        dst: local.ip(),
        src_port: if sp == 0 { remote.port() } else { sp },
        dst_port: if dp == 0 { local.port() } else { dp },
        seq: p.seq.wrapping_add(seq_off),
        ack: if flags & bits::ACK != 0 {
            p.ack.wrapping_add(ack_off)
        } else {
            p.ack
        },
        flags,
        ae,
        res1: 0,
        window: p.win.unwrap_or(0),
        urg: p.urg,
        options,
        payload: vec![0; usize::from(p.len)],
    };
    let d = seg
        .to_datagram(64)
        .map_err(|m| format!("{line}: cannot build packet: {m}"))?;
    log(&g.cfg, format!("inject {}", seg.to_script()));
    let s = sut(g, line)?;
    s.last_injected = Some(seg);
    if so.netdev_send(&d) != 0 {
        return Err(format!("{line}: netdev_send failed"));
    }
    Ok(())
}

/// packetdrill `sniff_outbound_live_packet`: the next packet of the socket under test.
fn sniff(so: So, g: &mut Shared, line: u32) -> Result<(Seg, i64), String> {
    loop {
        let Some((d, t)) = so.netdev_receive() else {
            return Err(format!(
                "{line}: error handling packet: IP header overflows packet: packet of 0 bytes"
            ));
        };
        let seg = Seg::parse_datagram(&d).map_err(|m| format!("{line}: {m}"))?;
        let Some(i) = g.sut else { continue };
        let s = &mut g.socks[i];
        let src = SocketAddr::new(seg.src, seg.src_port);
        let dst = SocketAddr::new(seg.dst, seg.dst_port);
        if s.live_local == Some(src) && s.live_remote == Some(dst) {
            return Ok((seg, t));
        }
        if s.state == SockState::ActiveSynSent
            && seg.has(bits::SYN)
            && !seg.has(bits::ACK)
            && s.live_remote == Some(dst)
        {
            s.live_local = Some(src);
            s.live_local_isn = seg.seq;
            return Ok((seg, t));
        }
        log(&g.cfg, format!("ignoring {}", seg.to_script()));
    }
}

/// packetdrill `do_outbound_script_packet` and `verify_outbound_live_packet`.
fn expect_outbound(so: So, g: &mut Shared, p: &PacketSpec, e: &Ev) -> Result<(), String> {
    let line = e.line;
    let (sflags, sae) = packet::flags_from_script(&p.flags);
    let script_synack = sflags & bits::SYN != 0 && sflags & bits::ACK != 0;
    {
        let s = sut(g, line)?;
        if s.state == SockState::ActiveConnecting
            && sflags & bits::SYN != 0
            && sflags & bits::ACK == 0
        {
            s.state = SockState::ActiveSynSent;
            s.script_local_isn = p.seq;
        }
        if s.state == SockState::PassivePacketReceived && script_synack {
            s.script_local_isn = p.seq;
        }
    }
    let expected_len = usize::from(p.len);
    let mut frags: Vec<(Seg, i64)> = Vec::new();
    let mut sniffed = 0usize;
    loop {
        let (mut seg, t) = sniff(so, g, line)?;
        let s = sut(g, line)?;
        if s.state == SockState::PassivePacketReceived && script_synack {
            s.state = SockState::PassiveSynackSent;
            s.live_local_isn = seg.seq;
        }
        s.last_outbound = Some(seg.clone());
        let syn = seg.has(bits::SYN);
        let seq_off = if syn {
            s.script_local_isn.wrapping_sub(s.live_local_isn)
        } else {
            0u32.wrapping_sub(s.live_local_isn)
        };
        let ack_off = if syn {
            0
        } else {
            0u32.wrapping_sub(s.live_remote_isn)
        };
        seg.seq = seg.seq.wrapping_add(seq_off);
        if seg.has(bits::ACK) {
            seg.ack = seg.ack.wrapping_add(ack_off);
        }
        packet::offset_sack_blocks(&mut seg.options, ack_off);
        log(
            &g.cfg,
            format!("sniffed {} at {}", seg.to_script(), secs(t - g.live_start)),
        );
        let len = seg.payload.len();
        if let Some((prev, _)) = frags.last() {
            check_fragment(&seg, prev, len, sniffed, expected_len).map_err(|m| {
                format!(
                    "{line}: error handling packet: {m}\nscript packet: {}\nactual packet: {}",
                    packet::spec_to_string(p),
                    seg.to_script()
                )
            })?;
        }
        frags.push((seg, t));
        sniffed += len;
        if sniffed >= expected_len {
            break;
        }
    }
    let (mut actual, t) = frags.last().cloned().ok_or("nothing sniffed")?;
    if frags.len() > 1 {
        actual.seq = frags[0].0.seq;
        actual.payload = frags.iter().flat_map(|(s, _)| s.payload.clone()).collect();
    }
    let dump = |actual: &Seg| {
        format!(
            "\nscript packet: {:9.6} {}\nactual packet: {:9.6} {}",
            secs(e.time),
            packet::spec_to_string(p),
            secs(t - g.live_start),
            actual.to_script()
        )
    };
    if sniffed != expected_len {
        return Err(format!(
            "{line}: error handling packet: live packet payload: expected {expected_len} bytes vs \
             actual {sniffed} bytes{}",
            dump(&actual)
        ));
    }
    let script_opts = p.options.as_ref().map(|o| packet::encode_options(o));
    if let (Some(so_), Some(at)) = (&script_opts, packet::ts_offset(&actual.options)) {
        if let Some(sat) = packet::ts_offset(so_) {
            let sv = packet::get_u32(so_, sat);
            let av = packet::get_u32(&actual.options, at);
            let i = g.sut.unwrap_or(0);
            let s = &mut g.socks[i];
            s.ts_map.insert(sv, av);
            let (fs, fa) = *s.first_ts.get_or_insert((sv, av));
            packet::put_u32(
                &mut actual.options,
                at,
                fs.wrapping_add(av.wrapping_sub(fa)),
            );
        }
    }
    let r = verify_headers(p, sflags, sae, script_opts.as_deref(), &actual).and_then(|()| {
        let last = g.last_event.as_ref().map(|l| l.time);
        verify_time(g, e.time_type, e.time, e.end, t, last, "outbound packet")
    });
    r.map_err(|m| format!("{line}: error handling packet: {m}{}", dump(&actual)))
}

fn check_field(name: &str, expected: u32, actual: u32) -> Result<(), String> {
    if expected != actual {
        return Err(format!(
            "live packet field {name}: expected: {expected} ({expected:#x}) vs actual: {actual} \
             ({actual:#x})"
        ));
    }
    Ok(())
}

fn verify_headers(
    p: &PacketSpec,
    sflags: u8,
    sae: bool,
    script_opts: Option<&[u8]>,
    actual: &Seg,
) -> Result<(), String> {
    let opt_len = script_opts.map_or(actual.options.len(), <[u8]>::len);
    let (name, ip) = if actual.src.is_ipv6() {
        ("ipv6_payload_len", 0)
    } else {
        ("ipv4_total_length", 20)
    };
    check_field(
        name,
        (ip + 20 + opt_len + usize::from(p.len)) as u32,
        (ip + 20 + actual.options.len() + actual.payload.len()) as u32,
    )?;
    check_field(
        "tcp_data_offset",
        (5 + opt_len / 4) as u32,
        (5 + actual.options.len() / 4) as u32,
    )?;
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
    check_field("tcp_seq", p.seq, actual.seq)?;
    check_field("tcp_ack_seq", p.ack, actual.ack)?;
    if let Some(w) = p.win {
        check_field("tcp_window", u32::from(w), u32::from(actual.window))?;
    }
    check_field("tcp_urg_ptr", u32::from(p.urg), u32::from(actual.urg))?;
    if let Some(so) = script_opts {
        let a = packet::iter_options(&actual.options)?;
        let s = packet::iter_options(so)?;
        if a.len() != s.len() || a.iter().zip(&s).any(|(x, y)| x.kind != y.kind) {
            return Err("bad outbound TCP options".into());
        }
        for (ao, sopt) in a.iter().zip(&s) {
            if matches!(ao.kind, 0 | 1 | 8) {
                continue;
            }
            if ao.len != sopt.len {
                return Err(format!("bad lengths for outbound TCP option {}", ao.kind));
            }
            if actual.options[ao.offset..ao.offset + ao.len]
                != so[sopt.offset..sopt.offset + sopt.len]
            {
                return Err(format!("bad value outbound TCP option {}", ao.kind));
            }
        }
    }
    if actual.payload.iter().any(|b| *b != 0) {
        return Err("incorrect outbound data payload".into());
    }
    Ok(())
}

/// packetdrill `verify_packet_fragments`.
fn check_fragment(
    cur: &Seg,
    prev: &Seg,
    cur_len: usize,
    sniffed: usize,
    expected: usize,
) -> Result<(), String> {
    let f = |name: &str, a: u32, b: u32| {
        if a != b {
            Err(format!(
                "aggregate candidate packet field {name}: expected: {a} vs actual: {b}"
            ))
        } else {
            Ok(())
        }
    };
    f(
        "tcp_data_offset",
        prev.options.len() as u32,
        cur.options.len() as u32,
    )?;
    for b in [bits::SYN, bits::RST, bits::ACK, bits::URG, bits::ECE] {
        f("tcp flags", u32::from(prev.has(b)), u32::from(cur.has(b)))?;
    }
    f(
        "tcp_seq",
        prev.seq.wrapping_add(prev.payload.len() as u32),
        cur.seq,
    )?;
    f("tcp_ack_seq", prev.ack, cur.ack)?;
    f("tcp_window", u32::from(prev.window), u32::from(cur.window))?;
    if cur_len < expected.saturating_sub(sniffed) && cur_len != prev.payload.len() {
        return Err(format!(
            "fragment payload: expected {} bytes vs actual {cur_len} bytes",
            prev.payload.len()
        ));
    }
    Ok(())
}

// ----- system calls -------------------------------------------------------------------------------

fn eval(e: &Expr) -> Result<i64, String> {
    match e {
        Expr::Int(v) => Ok(*v),
        Expr::Word(w) => symbols::lookup(w)
            .or(match w.as_str() {
                // ioctl requests of packetdrill's symbols_linux.c.
                "SIOCINQ" | "FIONREAD" => Some(0x541B),
                "SIOCOUTQ" | "TIOCOUTQ" => Some(0x5411),
                "SIOCOUTQNSD" => Some(0x894B),
                "FIONBIO" => Some(0x5421),
                "SO_ZEROCOPY" => Some(60),
                "MSG_ZEROCOPY" => Some(0x400_0000),
                _ => None,
            })
            .ok_or_else(|| format!("unknown symbol '{w}'")),
        Expr::Or(a, b) => Ok(eval(a)? | eval(b)?),
        Expr::Call(f, a) if matches!(f.as_str(), "htons" | "htonl" | "ntohs" | "ntohl") => {
            eval(a.first().ok_or("bad call")?)
        }
        Expr::List(l) if l.len() == 1 => eval(&l[0]),
        other => Err(format!("expected an integer, not {other:?}")),
    }
}

fn arg(s: &SyscallSpec, i: usize) -> Result<&Expr, String> {
    s.args
        .get(i)
        .ok_or_else(|| "Argument list too short".into())
}

fn iarg(s: &SyscallSpec, i: usize) -> Result<i64, String> {
    eval(arg(s, i)?)
}

fn field<'e>(fields: &'e [Expr], name: &str) -> Option<&'e Expr> {
    fields.iter().find_map(|f| match f {
        Expr::Assign(n, v) if n == name => Some(&**v),
        _ => None,
    })
}

fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Int(0)) || matches!(e, Expr::Word(w) if w == "NULL")
}

fn iov_lens(e: &Expr) -> Result<Vec<usize>, String> {
    let Expr::List(items) = e else {
        return Err("expected an iovec array".into());
    };
    items
        .iter()
        .map(|it| match it {
            Expr::Struct(f) if f.len() == 2 => Ok(eval(&f[1])? as usize),
            _ => Err("bad iovec".to_string()),
        })
        .collect()
}

/// The iovec array inside a msghdr expression.
fn find_iov(e: &Expr) -> Option<Vec<usize>> {
    match e {
        Expr::List(_) => iov_lens(e).ok(),
        Expr::Struct(fields) => fields.iter().find_map(find_iov),
        Expr::Assign(_, v) => find_iov(v),
        _ => None,
    }
}

fn live_fd(g: &Shared, script_fd: i64) -> Result<i32, String> {
    g.socks
        .iter()
        .find(|s| !s.closed && i64::from(s.script_fd) == script_fd && s.live_fd >= 0)
        .map(|s| s.live_fd)
        .ok_or_else(|| format!("unable to find fd with script fd {script_fd}"))
}

/// A field of a struct expression, looked for at any depth (`msg_control` inside a msghdr).
fn find_field<'e>(e: &'e Expr, name: &str) -> Option<&'e Expr> {
    match e {
        Expr::Assign(n, v) if n == name => Some(v),
        Expr::Assign(_, v) => find_field(v, name),
        Expr::Struct(items) | Expr::List(items) => items.iter().find_map(|i| find_field(i, name)),
        _ => None,
    }
}

/// The control messages a msghdr expression expects: `(level, type, int data)` each.
fn expected_cmsgs(e: &Expr) -> Result<Vec<(i64, i64, i64)>, String> {
    let Some(Expr::List(items)) = find_field(e, "msg_control") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|it| {
            let Expr::Struct(f) = it else {
                return Err("bad cmsghdr".to_string());
            };
            let get = |n: &str| {
                field(f, n)
                    .ok_or_else(|| format!("cmsghdr without {n}"))
                    .and_then(eval)
            };
            Ok((get("cmsg_level")?, get("cmsg_type")?, get("cmsg_data")?))
        })
        .collect()
}

/// The control messages in a received control buffer, as `(level, type, data)`.
fn parse_cmsgs(mut b: &[u8]) -> Vec<(i32, i32, Vec<u8>)> {
    let (word, header) = (size_of::<usize>(), size_of::<libc::cmsghdr>());
    let mut out = Vec::new();
    while b.len() >= header {
        let len = usize::from_ne_bytes(b[..word].try_into().unwrap_or_default());
        let level = i32::from_ne_bytes(b[word..word + 4].try_into().unwrap_or_default());
        let kind = i32::from_ne_bytes(b[word + 4..word + 8].try_into().unwrap_or_default());
        if len < header || len > b.len() {
            break;
        }
        out.push((level, kind, b[header..len].to_vec()));
        let space = len.div_ceil(word) * word;
        b = &b[space.min(b.len())..];
    }
    out
}

/// What a call returned besides its value.
#[derive(Default)]
struct Extra {
    bytes: Vec<u8>,
    int: i32,
    revents: Vec<i16>,
}

/// A call with its live arguments.
enum Call {
    Socket(i32, i32, i32),
    Bind(i32),
    Listen(i32, i32),
    Accept(i32),
    Connect(i32, bool),
    Read(i32, usize, bool),
    Recv(i32, usize, i32, bool),
    Recvfrom(i32, usize, i32, bool),
    Readv(i32, Vec<usize>),
    Write(i32, usize, bool),
    Send(i32, usize, i32, bool),
    Sendto(i32, usize, i32, bool),
    Writev(i32, Vec<usize>),
    Sendmsg(i32, Vec<usize>, i32),
    /// fd, iovec lengths, control buffer length, flags.
    Recvmsg(i32, Vec<usize>, usize, i32),
    Close(i32),
    Shutdown(i32, i32),
    Setsockopt(i32, i32, i32, Vec<u8>, u32),
    Getsockopt(i32, i32, i32, u32),
    Fcntl(i32, i32, Option<i32>),
    Ioctl(i32, u64, Option<i32>),
    Poll(Vec<(i32, i16)>, i32),
}

fn prepare(g: &mut Shared, s: &SyscallSpec) -> Result<Call, String> {
    let fd = |g: &Shared| -> Result<i32, String> { live_fd(g, iarg(s, 0)?) };
    let n = s.args.len();
    Ok(match s.name.as_str() {
        "socket" => {
            let domain = match arg(s, 0)? {
                Expr::Ellipsis if g.cfg.v6_socket => libc::AF_INET6,
                Expr::Ellipsis => libc::AF_INET,
                e => eval(e)? as i32,
            };
            Call::Socket(domain, iarg(s, 1)? as i32, iarg(s, 2)? as i32)
        }
        "bind" => Call::Bind(fd(g)?),
        "listen" => Call::Listen(fd(g)?, iarg(s, 1)? as i32),
        "accept" => Call::Accept(fd(g)?),
        "connect" => {
            let f = fd(g)?;
            let unspec = !matches!(arg(s, 1)?, Expr::Ellipsis);
            // packetdrill run_syscall_connect.
            let script_fd = iarg(s, 0)?;
            let remote = SocketAddr::new(g.cfg.remote_ip, CONNECT_PORT);
            if let Some(sock) = g
                .socks
                .iter_mut()
                .find(|x| !x.closed && i64::from(x.script_fd) == script_fd)
            {
                if unspec {
                    sock.state = SockState::New;
                } else if sock.state == SockState::New {
                    sock.state = SockState::ActiveConnecting;
                    sock.live_remote = Some(remote);
                }
            }
            Call::Connect(f, unspec)
        }
        "read" => Call::Read(fd(g)?, iarg(s, 2)? as usize, is_null(arg(s, 1)?)),
        "recv" => Call::Recv(
            fd(g)?,
            iarg(s, 2)? as usize,
            iarg(s, 3)? as i32,
            is_null(arg(s, 1)?),
        ),
        "recvfrom" => Call::Recvfrom(
            fd(g)?,
            iarg(s, 2)? as usize,
            iarg(s, 3)? as i32,
            is_null(arg(s, 1)?),
        ),
        "readv" => Call::Readv(fd(g)?, iov_lens(arg(s, 1)?)?),
        "write" => Call::Write(fd(g)?, iarg(s, 2)? as usize, is_null(arg(s, 1)?)),
        "send" => Call::Send(
            fd(g)?,
            iarg(s, 2)? as usize,
            iarg(s, 3)? as i32,
            is_null(arg(s, 1)?),
        ),
        "sendto" => Call::Sendto(
            fd(g)?,
            iarg(s, 2)? as usize,
            iarg(s, 3)? as i32,
            is_null(arg(s, 1)?),
        ),
        "writev" => Call::Writev(fd(g)?, iov_lens(arg(s, 1)?)?),
        "sendmsg" => Call::Sendmsg(
            fd(g)?,
            find_iov(arg(s, 1)?).ok_or("sendmsg without msg_iov")?,
            iarg(s, 2)? as i32,
        ),
        "recvmsg" => {
            let m = arg(s, 1)?;
            let space = |n: usize| {
                let w = size_of::<usize>();
                size_of::<libc::cmsghdr>() + n.div_ceil(w) * w
            };
            Call::Recvmsg(
                fd(g)?,
                find_iov(m).ok_or("recvmsg without msg_iov")?,
                expected_cmsgs(m)?.len() * space(4),
                iarg(s, 2)? as i32,
            )
        }
        "close" => Call::Close(fd(g)?),
        "shutdown" => Call::Shutdown(fd(g)?, iarg(s, 1)? as i32),
        "setsockopt" => {
            let v = match arg(s, 3)? {
                Expr::Struct(f) => {
                    let on = field(f, "onoff").map(eval).transpose()?.unwrap_or(0) as i32;
                    let l = field(f, "linger").map(eval).transpose()?.unwrap_or(0) as i32;
                    let mut v = on.to_ne_bytes().to_vec();
                    v.extend(l.to_ne_bytes());
                    v
                }
                Expr::Str(t, _) => t.as_bytes().to_vec(),
                e => (eval(e)? as i32).to_ne_bytes().to_vec(),
            };
            let len = iarg(s, 4)? as u32;
            let mut v = v;
            v.resize(v.len().max(len as usize), 0);
            Call::Setsockopt(fd(g)?, iarg(s, 1)? as i32, iarg(s, 2)? as i32, v, len)
        }
        "getsockopt" => Call::Getsockopt(
            fd(g)?,
            iarg(s, 1)? as i32,
            iarg(s, 2)? as i32,
            iarg(s, 4)? as u32,
        ),
        "fcntl" => Call::Fcntl(
            fd(g)?,
            iarg(s, 1)? as i32,
            if n == 3 {
                Some(iarg(s, 2)? as i32)
            } else {
                None
            },
        ),
        "ioctl" => Call::Ioctl(
            fd(g)?,
            iarg(s, 1)? as u64,
            if n == 3 {
                Some(iarg(s, 2)? as i32)
            } else {
                None
            },
        ),
        "poll" => {
            let Expr::List(items) = arg(s, 0)? else {
                return Err("poll takes a pollfd array".into());
            };
            let mut fds = Vec::new();
            for it in items {
                let Expr::Struct(f) = it else {
                    return Err("bad pollfd".into());
                };
                let sfd = eval(field(f, "fd").ok_or("pollfd without fd")?)?;
                let ev = eval(field(f, "events").ok_or("pollfd without events")?)?;
                fds.push((live_fd(g, sfd)?, ev as i16));
            }
            Call::Poll(fds, iarg(s, 2)? as i32)
        }
        other => return Err(format!("Unknown system call: '{other}'")),
    })
}

fn call(so: So, g_cfg: &Config, c: &Call) -> ((i64, i32), Extra) {
    let remote = SocketAddr::new(g_cfg.remote_ip, CONNECT_PORT);
    let local = SocketAddr::new(g_cfg.local_ip, BIND_PORT);
    let v6 = g_cfg.v6_socket;
    let mut x = Extra::default();
    let r = match c {
        Call::Socket(d, t, p) => so.socket(*d, *t, *p),
        Call::Bind(fd) => so.bind(*fd, local, v6),
        Call::Listen(fd, b) => so.listen(*fd, *b),
        Call::Accept(fd) => {
            let (r, a) = so.accept(*fd);
            x.bytes = a;
            r
        }
        Call::Connect(fd, unspec) => so.connect(*fd, (!unspec).then_some(remote), v6),
        Call::Read(fd, n, null) => so.read(*fd, *n, *null),
        Call::Recv(fd, n, f, null) => so.recv(*fd, *n, *f, *null),
        Call::Recvfrom(fd, n, f, null) => so.recvfrom(*fd, *n, *f, *null),
        Call::Readv(fd, l) => so.readv(*fd, l),
        Call::Write(fd, n, null) => so.write(*fd, *n, *null),
        Call::Send(fd, n, f, null) => so.send(*fd, *n, *f, *null),
        Call::Sendto(fd, n, f, null) => so.sendto(*fd, *n, *f, remote, v6, *null),
        Call::Writev(fd, l) => so.writev(*fd, l),
        Call::Sendmsg(fd, l, f) => so.sendmsg(*fd, l, *f),
        Call::Recvmsg(fd, l, c, f) => {
            let (r, control, flags) = so.recvmsg(*fd, l, *c, *f);
            x.bytes = control;
            x.int = flags;
            r
        }
        Call::Close(fd) => so.close(*fd),
        Call::Shutdown(fd, h) => so.shutdown(*fd, *h),
        Call::Setsockopt(fd, l, n, v, len) => so.setsockopt(*fd, *l, *n, v, *len),
        Call::Getsockopt(fd, l, n, len) => {
            let (r, v) = so.getsockopt(*fd, *l, *n, *len);
            x.bytes = v;
            r
        }
        Call::Fcntl(fd, cmd, a) => so.fcntl(*fd, *cmd, *a),
        Call::Ioctl(fd, req, a) => {
            let (r, v) = so.ioctl(*fd, *req, *a);
            x.int = v;
            r
        }
        Call::Poll(fds, t) => {
            let (r, rev) = so.poll(fds, *t);
            x.revents = rev;
            r
        }
    };
    (r, x)
}

/// packetdrill `invoke_system_call` (with `begin_syscall`/`end_syscall` for blocking calls).
fn invoke<'a>(
    so: So,
    sync: &'a Sync,
    g: G<'a>,
    e: &Ev,
    s: &SyscallSpec,
    blocking: bool,
) -> Result<G<'a>, String> {
    let mut g = wait_for_event(so, sync, g, e)?;
    let line = e.line;
    let c =
        prepare(&mut g, s).map_err(|m| format!("{line}: runtime error in {} call: {m}", s.name))?;
    let cfg = g.cfg.clone();
    let (r, x, g) = if blocking {
        g.sys = SysState::Running;
        drop(g);
        sync.dequeued.notify_all();
        let (r, x) = call(so, &cfg, &c);
        let end = so.now();
        let mut g = sync.run.lock().unwrap();
        let expected_end = e.sys_end.unwrap_or(e.time);
        verify_time(
            &g,
            e.time_type,
            expected_end,
            0,
            end,
            Some(e.time),
            "system call return",
        )
        .map_err(|m| format!("{line}: {m}"))?;
        g.sys = SysState::Idle;
        (r, x, g)
    } else {
        let (r, x) = call(so, &cfg, &c);
        (r, x, g)
    };
    let mut g = g;
    finish_call(&mut g, s, &c, r, &x)
        .map_err(|m| format!("{line}: runtime error in {} call: {m}", s.name))?;
    log(&g.cfg, format!("{} returned {:?}", s.name, r));
    Ok(g)
}

/// packetdrill `end_syscall` and the `run_syscall_*` bookkeeping.
fn finish_call(
    g: &mut Shared,
    s: &SyscallSpec,
    c: &Call,
    r: (i64, i32),
    x: &Extra,
) -> Result<(), String> {
    let expected = eval(&s.result)?;
    let (actual, err) = r;
    let fd_check = matches!(c, Call::Socket(..) | Call::Accept(..));
    if fd_check && expected >= 0 {
        if actual < 0 {
            return Err(format!(
                "Expected non-negative result but got {actual} with errno {err} ({})",
                symbols::strerror(err)
            ));
        }
    } else if actual != expected {
        return Err(format!(
            "Expected result {expected} but got {actual} with errno {err} ({})",
            symbols::strerror(err)
        ));
    }
    if let Some(name) = &s.errno {
        let want = symbols::errno_value(name).ok_or_else(|| format!("unknown errno {name}"))?;
        if want != err {
            return Err(format!(
                "Expected errno {want} ({}) but got {err} ({})",
                symbols::strerror(want),
                symbols::strerror(err)
            ));
        }
    }
    match c {
        Call::Socket(..) if actual >= 0 => {
            let mut sock = Sock::new(SockState::New);
            sock.script_fd = expected as i32;
            sock.live_fd = actual as i32;
            g.socks.push(sock);
            g.sut = Some(g.socks.len() - 1);
        }
        Call::Listen(fd, _) if actual == 0 => {
            if let Some(sock) = g.socks.iter_mut().find(|x| !x.closed && x.live_fd == *fd) {
                sock.state = SockState::PassiveListening;
            }
        }
        Call::Accept(..) if actual >= 0 => {
            let port = u16::from_be_bytes([x.bytes[2], x.bytes[3]]);
            // packetdrill walks its list of sockets newest first.
            let sock = g
                .socks
                .iter_mut()
                .rev()
                .find(|x| {
                    matches!(
                        x.state,
                        SockState::PassiveSynackSent | SockState::PassiveSynackAcked
                    )
                })
                .ok_or("unable to find socket matching accept() call")?;
            if sock.live_remote.map(|a| a.port()) != Some(port) {
                return Err(format!(
                    "accepted peer port {port} is not the live remote port"
                ));
            }
            sock.script_fd = expected as i32;
            sock.live_fd = actual as i32;
        }
        Call::Close(fd) if actual == 0 => {
            if let Some(sock) = g.socks.iter_mut().find(|x| !x.closed && x.live_fd == *fd) {
                sock.closed = true;
            }
        }
        Call::Getsockopt(..) if actual == 0 => {
            let want_len = iarg(s, 4)?;
            if x.bytes.len() as i64 != want_len {
                return Err(format!(
                    "Bad getsockopt optlen: expected: {want_len} actual: {}",
                    x.bytes.len()
                ));
            }
            match arg(s, 3)? {
                Expr::List(_) => {
                    let want = iarg(s, 3)?;
                    let got = i32::from_ne_bytes(x.bytes[..4].try_into().map_err(|_| "short")?);
                    if i64::from(got) != want {
                        return Err(format!(
                            "Bad getsockopt optval: expected: {want} actual: {got}"
                        ));
                    }
                }
                Expr::Struct(f) => {
                    let on = field(f, "onoff").map(eval).transpose()?.unwrap_or(0);
                    let l = field(f, "linger").map(eval).transpose()?.unwrap_or(0);
                    let got_on = i32::from_ne_bytes(x.bytes[..4].try_into().map_err(|_| "short")?);
                    let got_l = i32::from_ne_bytes(x.bytes[4..8].try_into().map_err(|_| "short")?);
                    if i64::from(got_on) != on || i64::from(got_l) != l {
                        return Err("Bad getsockopt linger".into());
                    }
                }
                Expr::Str(t, _) if x.bytes != t.as_bytes() => {
                    return Err(format!(
                        "Bad getsockopt optval: expected: '{t}' actual: '{}'",
                        String::from_utf8_lossy(&x.bytes)
                    ));
                }
                _ => {}
            }
        }
        Call::Recvmsg(..) if actual >= 0 => {
            let m = arg(s, 1)?;
            if let Some(want) = find_field(m, "msg_flags") {
                let want = eval(want)?;
                if want != i64::from(x.int) {
                    return Err(format!(
                        "Expected msg_flags 0x{want:08X} but got 0x{:08X}",
                        x.int
                    ));
                }
            }
            let want = expected_cmsgs(m)?;
            let got = parse_cmsgs(&x.bytes);
            if want.len() != got.len() {
                return Err(format!(
                    "Expected {} control message(s) but got {}",
                    want.len(),
                    got.len()
                ));
            }
            for ((level, kind, data), (gl, gk, gd)) in want.iter().zip(&got) {
                if *level != i64::from(*gl) || *kind != i64::from(*gk) {
                    return Err(format!(
                        "Bad cmsg: expected level {level} type {kind}, got level {gl} type {gk}"
                    ));
                }
                let value = gd
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_ne_bytes)
                    .ok_or("cmsg data shorter than an int")?;
                if i64::from(value) != *data {
                    return Err(format!("Bad cmsg data: expected: {data} actual: {value}"));
                }
            }
        }
        Call::Ioctl(_, _, Some(_)) if actual == 0 => {
            let want = iarg(s, 2)?;
            if i64::from(x.int) != want {
                return Err(format!(
                    "Bad ioctl optval: expected: {want} actual: {}",
                    x.int
                ));
            }
        }
        Call::Poll(..) => {
            let Expr::List(items) = arg(s, 0)? else {
                return Ok(());
            };
            for (i, (it, got)) in items.iter().zip(&x.revents).enumerate() {
                let Expr::Struct(f) = it else { continue };
                let want = field(f, "revents").map(eval).transpose()?.unwrap_or(0);
                if want != i64::from(*got) {
                    return Err(format!(
                        "Expected revents of {} but got {} for pollfd {i}",
                        symbols::poll_flags(want),
                        symbols::poll_flags(i64::from(*got))
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}
