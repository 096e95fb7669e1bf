//! The shared stack: synack's engine, its virtual clock, and the sockets, behind one mutex.
//!
//! packetdrill calls the shared object from two threads. Its main thread runs the script: it
//! injects packets ([`Stack::netdev_send`]), sniffs the packets the stack sends
//! ([`Stack::netdev_receive`]), lets time pass ([`Stack::usleep`]), reads the clock
//! ([`Stack::gettimeofday`]) and makes the system calls the script does not mark as blocking. Its
//! system call thread makes the calls the script marks as blocking (`+0...0.2 accept(...)`), and
//! those may wait.
//!
//! Time is virtual, and moves only when packetdrill lets time pass:
//! - `usleep(n)` runs every engine timer due in the next `n` microseconds, in order, each at its
//!   own instant, and leaves the clock `n` later;
//! - every `gettimeofday` advances the clock by one microsecond, as a real clock ticks while
//!   packetdrill spins on it waiting for an event's time (it would otherwise spin forever) — on
//!   the main thread, and on the system call thread, which waits for a blocking call's start
//!   time itself;
//! - `netdev_receive` returns the oldest packet the stack sent, stamped with the instant it was
//!   sent; when none is queued it moves the clock to the engine's next timer and runs it, as
//!   real time passes while packetdrill waits for a packet, until a packet appears. When no
//!   timer is pending either, nothing will ever be sent: it says so on stderr and returns an
//!   empty packet, which packetdrill reports as an error on the script line that expected one.
//!
//! A call from the system call thread that must wait sleeps on a condition variable until the
//! engine, driven by the packets and the clock of the main thread, completes it. Before the main
//! thread moves the clock, it lets every such waiter look at the state first (so a waiter woken
//! by an injected packet completes at that packet's instant, not later), and the time a call
//! completed is what the system call thread's next `gettimeofday` reads (packetdrill reads the
//! clock right after a blocking call returns, to check its end time). As packetdrill releases
//! its own lock only around `usleep`, a `usleep` that follows such a return also sleeps 2 ms of
//! real time, so that the system call thread can take that lock and record its result. When the main thread has
//! not called in for 100 ms of real time, it is waiting for the blocked call (packetdrill's
//! `await_idle_thread` gives it one second): the waiter then runs the engine's timers itself, up
//! to one second of virtual time, as the kernel's clock would run meanwhile.
//!
//! A call that would block on the main thread (the script did not mark it as blocking) runs the
//! engine's timers itself until it completes, as the kernel does while the caller sleeps; if
//! nothing can complete it, it says so on stderr and fails with `EAGAIN` (poll returns 0).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration as RealDuration, Instant as RealInstant};

use synack_proto::{Config, ConnHandle, Duration, Endpoint, Error, Event, Instant};

use crate::errno::Errno;
use crate::flags::Settings;
use crate::socket::Sock;
use crate::sysctl::Sysctls;

/// What `gettimeofday` reads at virtual time zero: 2001-09-09 01:46:40 UTC, in microseconds.
/// Fixed, so that runs repeat exactly.
pub const EPOCH_USECS: i64 = 1_000_000_000_000_000;

/// How long the main thread may stay away before a blocked call decides it waits for the call.
const QUIET: RealDuration = RealDuration::from_millis(100);
/// The virtual time a blocked call may run the clock while the main thread waits for it
/// (packetdrill's `await_idle_thread` waits one second).
const QUIET_BUDGET: Duration = Duration::from_secs(1);
/// Longest real time the main thread waits for a blocked call to look at a change.
const SETTLE_MAX: RealDuration = RealDuration::from_secs(2);
/// Real time `netdev_receive` gives the system call thread to send something before it moves the
/// clock to the next timer.
const GRACE: RealDuration = RealDuration::from_millis(2);
/// Real time `usleep` gives a system call thread whose call returned to take packetdrill's lock.
const OTHER_THREAD_PAUSE: RealDuration = RealDuration::from_millis(2);
/// Longest virtual time a sniff or a self-driven call waits for.
const HORIZON: Duration = Duration::from_secs(24 * 3600);
/// Timer firings at one instant after which the clock moves on regardless.
const MAX_SPINS: u32 = 10_000;

/// A call waiting on the system call thread.
#[derive(Debug)]
struct Waiter {
    /// The state generation the waiter last looked at.
    seen: u64,
    /// When the call gives up on its own (poll's timeout).
    deadline: Option<Instant>,
}

/// Everything behind the mutex.
pub(crate) struct State {
    /// The flags.
    pub settings: Settings,
    /// The engine's configuration; socket options may change it until the engine starts.
    pub cfg: Config,
    /// The flags text and the sysctl snapshot, when the stack follows the sysctls a script
    /// changes.
    follow: Option<(String, Sysctls)>,
    ep: Option<Endpoint>,
    /// The virtual clock.
    pub now: Instant,
    outq: VecDeque<(Instant, Vec<u8>)>,
    /// The sockets, by descriptor.
    pub files: BTreeMap<i32, Sock>,
    /// The error a reset or timeout left on a connection, until a call reports it (`sk_err`).
    pub sk_err: HashMap<ConnHandle, Error>,
    /// Bumped whenever the engine or the clock changed: a waiter that has looked at a lower
    /// generation must look again.
    gen: u64,
    waiters: BTreeMap<u64, Waiter>,
    next_waiter: u64,
    /// When each system call thread's last call returned.
    stamps: HashMap<ThreadId, Instant>,
    /// Bumped at every call from the main thread.
    main_activity: u64,
    /// The generation waiters were last woken for.
    notified_gen: u64,
    /// Calls of other threads that returned, and how many of them the main thread's last
    /// `usleep` had seen.
    other_returns: (u64, u64),
    /// Next port for `bind(port 0)` and an unbound `listen`.
    pub next_port: u16,
    notes: HashSet<String>,
}

impl State {
    fn new(settings: Settings) -> State {
        let cfg = settings.engine_config();
        State {
            settings,
            cfg,
            follow: None,
            ep: None,
            now: Instant::ZERO,
            outq: VecDeque::new(),
            files: BTreeMap::new(),
            sk_err: HashMap::new(),
            gen: 0,
            waiters: BTreeMap::new(),
            next_waiter: 0,
            stamps: HashMap::new(),
            main_activity: 0,
            notified_gen: 0,
            other_returns: (0, 0),
            next_port: 40_000,
            notes: HashSet::new(),
        }
    }

    /// The engine, started on first use with the configuration the sockets asked for.
    pub fn ep(&mut self) -> &mut Endpoint {
        if self.ep.is_none() {
            let mut ep = Endpoint::new(self.cfg.clone(), self.settings.seed);
            for ip in &self.settings.local_ips {
                ep.add_address(*ip);
            }
            self.log(format_args!(
                "engine started: mss {}, receive buffer {} (max {}, window scale {}), send buffer \
                 {} (max {})",
                self.cfg.mss,
                self.cfg.recv_buffer,
                self.cfg.max_recv_buffer,
                self.cfg.window_scale_shift(),
                self.cfg.send_buffer,
                self.cfg.max_send_buffer
            ));
            self.ep = Some(ep);
        }
        self.ep
            .get_or_insert_with(|| Endpoint::new(Config::default(), 0))
    }

    /// Before the engine starts and while no socket is open: the settings again from the
    /// namespace's sysctls and the flags, with every followed sysctl the script has changed
    /// since the stack started winning over the flags ([`crate::sysctl`]).
    pub fn refresh_from_sysctls(&mut self) {
        if self.started() || !self.files.is_empty() {
            return;
        }
        let Some((flags, sysctls)) = &self.follow else {
            return;
        };
        let settings = sysctls.settings(flags);
        if settings != self.settings {
            self.log(format_args!(
                "sysctls changed since the start: {}",
                sysctls.changed().join(" ")
            ));
            self.cfg = settings.engine_config();
            self.settings = settings;
        }
    }

    /// The engine if it has started.
    pub fn engine(&self) -> Option<&Endpoint> {
        self.ep.as_ref()
    }

    /// True once the engine has started (its configuration is fixed).
    pub fn started(&self) -> bool {
        self.ep.is_some()
    }

    /// True when `ip` is one of the stack's addresses.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.settings.local_ips.contains(&ip)
    }

    /// Moves what the engine sent to the outbound queue and what it reported to the sockets.
    pub fn collect(&mut self) {
        self.gen += 1;
        let now = self.now;
        let verbose = self.settings.verbose;
        let Some(ep) = self.ep.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        while let Some(bytes) = ep.poll_transmit() {
            if verbose {
                lines.push(format!("out {}", describe_packet(&bytes)));
            }
            self.outq.push_back((now, bytes));
        }
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::Closed {
                    handle,
                    error: Some(e),
                } => {
                    self.sk_err.insert(handle, e);
                }
                Event::StateChanged { tuple, from, to } if verbose => {
                    lines.push(format!("{tuple}: {from} -> {to}"));
                }
                _ => {}
            }
        }
        for l in lines {
            self.log(format_args!("{l}"));
        }
    }

    /// When the clock must next stop: the engine's next timer, or a waiter's timeout.
    fn next_deadline(&mut self) -> Option<Instant> {
        let now = self.now;
        let engine = self.ep.as_mut().and_then(|ep| ep.poll_timeout());
        let waiter = self
            .waiters
            .values()
            .filter_map(|w| w.deadline)
            .filter(|d| *d > now)
            .min();
        min_opt(engine, waiter)
    }

    /// Runs the engine timers due now.
    fn run_due(&mut self) {
        let now = self.now;
        if let Some(ep) = self.ep.as_mut() {
            if ep.poll_timeout().is_some_and(|d| d <= now) {
                ep.handle_timeout(now);
            }
        }
        self.collect();
    }

    /// True when a waiter other than `except` has not looked at the current generation.
    fn stale_waiters(&self, except: Option<u64>) -> bool {
        self.waiters
            .iter()
            .any(|(id, w)| Some(*id) != except && w.seen < self.gen)
    }

    /// Prints a line on stderr in verbose mode.
    pub fn log(&self, args: fmt::Arguments<'_>) {
        if self.settings.verbose {
            eprintln!("synack-packetdrill: {:>12} {args}", self.now.to_string());
        }
    }

    /// Prints a message on stderr, once per distinct message.
    pub fn note_once(&mut self, msg: String) {
        if self.notes.insert(msg.clone()) {
            eprintln!("synack-packetdrill: {msg}");
        }
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A one-line summary of an IP datagram, for verbose output.
pub(crate) fn describe_packet(bytes: &[u8]) -> String {
    let Ok(ip) = synack_wire::parse_ip(bytes) else {
        return format!("unparsable datagram of {} bytes", bytes.len());
    };
    if ip.protocol != synack_wire::IPPROTO_TCP {
        return format!(
            "{} > {} protocol {} ({} bytes)",
            ip.ip.src(),
            ip.ip.dst(),
            ip.protocol,
            bytes.len()
        );
    }
    match synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), false) {
        Ok(t) => format!(
            "{}:{} > {}:{} {} seq {} ack {} win {} len {}",
            ip.ip.src(),
            t.src_port,
            ip.ip.dst(),
            t.dst_port,
            t.flags,
            t.seq,
            t.ack,
            t.window,
            t.payload.len()
        ),
        Err(e) => format!("bad TCP segment ({e:?})"),
    }
}

/// The stack packetdrill drives: see the module documentation.
pub struct Stack {
    state: Mutex<State>,
    changed: Condvar,
    caught_up: Condvar,
    main: ThreadId,
}

/// The guard of the state mutex.
pub(crate) type Guard<'a> = MutexGuard<'a, State>;

impl Stack {
    /// A new stack. The calling thread is the main thread: the one whose calls move the clock.
    pub fn new(settings: Settings) -> Stack {
        Stack {
            state: Mutex::new(State::new(settings)),
            changed: Condvar::new(),
            caught_up: Condvar::new(),
            main: thread::current().id(),
        }
    }

    /// Makes the stack follow the sysctls a script changes: `flags` is the `--so_flags` text
    /// the settings came from, `sysctls` the snapshot to compare with ([`crate::sysctl`]).
    pub fn follow_sysctls(&self, flags: &str, sysctls: Sysctls) {
        self.lock().follow = Some((flags.to_string(), sysctls));
    }

    /// The settings in force (the flags', and the sysctls' a script changed).
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// The virtual time now, in microseconds since virtual time zero (without ticking).
    pub fn now_micros(&self) -> u64 {
        self.lock().now.as_micros()
    }

    fn lock(&self) -> Guard<'_> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True on the main thread.
    pub(crate) fn is_main(&self) -> bool {
        thread::current().id() == self.main
    }

    /// Locks the state at the start of a call.
    pub(crate) fn enter(&self) -> Guard<'_> {
        let mut st = self.lock();
        if self.is_main() {
            st.main_activity = st.main_activity.wrapping_add(1);
        }
        st
    }

    /// Ends a call: wakes whoever waits on a change if something changed, and remembers when a
    /// call of another thread returned.
    pub(crate) fn exit<T>(&self, mut st: Guard<'_>, v: T) -> T {
        if !self.is_main() {
            let now = st.now;
            st.stamps.insert(thread::current().id(), now);
            st.other_returns.0 += 1;
        }
        self.wake(st);
        v
    }

    /// Unlocks the state, waking whoever waits on a change if something changed.
    fn wake(&self, mut st: Guard<'_>) {
        let changed = st.notified_gen != st.gen;
        st.notified_gen = st.gen;
        drop(st);
        if changed {
            self.changed.notify_all();
        }
    }

    /// Lets every waiter look at the current state (main thread only).
    fn settle<'a>(&'a self, mut st: Guard<'a>) -> Guard<'a> {
        if !st.stale_waiters(None) {
            return st;
        }
        self.changed.notify_all();
        let start = RealInstant::now();
        while st.stale_waiters(None) {
            let Some(left) = SETTLE_MAX.checked_sub(start.elapsed()) else {
                st.note_once(
                    "a blocked call did not look at a change within 2 s of real time; \
                     time moves on without it"
                        .into(),
                );
                break;
            };
            st = self
                .caught_up
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st
    }

    /// Moves the clock to `t`, running every timer on the way at its own instant.
    pub(crate) fn advance_to<'a>(&'a self, mut st: Guard<'a>, t: Instant) -> Guard<'a> {
        let main = self.is_main();
        let mut last = None;
        let mut spins = 0u32;
        while let Some(d) = st.next_deadline() {
            if d > t {
                break;
            }
            let d = d.max(st.now);
            if last == Some(d) {
                spins += 1;
                if spins > MAX_SPINS {
                    let msg = format!("engine timers at {d} keep firing without progress");
                    st.note_once(msg);
                    break;
                }
            } else {
                last = Some(d);
                spins = 0;
            }
            st.now = d;
            st.run_due();
            self.changed.notify_all();
            if main {
                st = self.settle(st);
            }
        }
        if t > st.now {
            st.now = t;
        }
        st
    }

    /// Runs `attempt` until it gives a result. `deadline` is when the call gives up on its own
    /// (poll); `give_up` makes the result of a call that nothing can complete.
    pub(crate) fn wait<'a, T>(
        &'a self,
        mut st: Guard<'a>,
        what: &str,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut State) -> Option<T>,
        give_up: impl FnOnce(&mut State) -> T,
    ) -> (Guard<'a>, T) {
        if let Some(v) = attempt(&mut st) {
            return (st, v);
        }
        if self.is_main() {
            // The kernel runs its timers while the caller sleeps: so do we.
            let limit = st.now + HORIZON;
            loop {
                let next = min_opt(st.next_deadline(), deadline);
                match next {
                    Some(t) if t <= limit => {
                        let t = t.max(st.now);
                        st = self.advance_to(st, t);
                        if let Some(v) = attempt(&mut st) {
                            return (st, v);
                        }
                    }
                    _ => {
                        let msg = format!(
                            "{what} on the main thread blocks at {} and nothing can complete it \
                             (a script marks calls that block as '+0...t call(...)')",
                            st.now
                        );
                        st.note_once(msg);
                        let v = give_up(&mut st);
                        return (st, v);
                    }
                }
            }
        }
        let id = st.next_waiter;
        st.next_waiter += 1;
        let gen = st.gen;
        st.waiters.insert(
            id,
            Waiter {
                seen: gen,
                deadline,
            },
        );
        let mut activity = st.main_activity;
        let mut quiet_since: Option<Instant> = None;
        loop {
            if let Some(v) = attempt(&mut st) {
                st.waiters.remove(&id);
                self.caught_up.notify_all();
                return (st, v);
            }
            let gen = st.gen;
            if let Some(w) = st.waiters.get_mut(&id) {
                w.seen = gen;
            }
            self.caught_up.notify_all();
            let (g, res) = self
                .changed
                .wait_timeout(st, QUIET)
                .unwrap_or_else(PoisonError::into_inner);
            st = g;
            if !res.timed_out() {
                continue;
            }
            if st.main_activity != activity {
                activity = st.main_activity;
                quiet_since = None;
                continue;
            }
            // The main thread waits for this call: let the clock run as the kernel's would.
            let since = *quiet_since.get_or_insert(st.now);
            let next = min_opt(st.next_deadline(), deadline);
            if let Some(t) = next.filter(|t| *t <= since + QUIET_BUDGET) {
                let t = t.max(st.now);
                st.log(format_args!(
                    "{what}: main thread idle, running timers to {t}"
                ));
                st = self.advance_to(st, t);
            }
        }
    }

    // ----- the clock and the network device ------------------------------------------------------

    /// `usleep`: lets `usecs` microseconds of virtual time pass, running the timers due.
    ///
    /// packetdrill releases its own lock around `usleep`, and a system call thread whose call
    /// returned waits for that lock to record the result. A real sleep gives it the lock; a
    /// virtual one would not, so when a call of another thread has returned since the last
    /// `usleep`, this one also sleeps 2 ms of real time.
    pub fn usleep(&self, usecs: u64) {
        let mut st = self.enter();
        let main = self.is_main();
        if main {
            st = self.settle(st);
        }
        let t = st.now + Duration::from_micros(usecs);
        st = self.advance_to(st, t);
        let (returned, seen) = st.other_returns;
        let pause = main && returned != seen;
        if main {
            st.other_returns.1 = returned;
        }
        self.exit(st, ());
        if pause {
            thread::sleep(OTHER_THREAD_PAUSE);
        }
    }

    /// `gettimeofday`: the virtual time, in microseconds since the Unix epoch. Each call ticks
    /// the clock by one microsecond (packetdrill spins on it waiting for an event's time, on the
    /// main thread, and on the system call thread before a blocking call). The first call of a
    /// system call thread after one of its calls returned reads the time the call returned:
    /// packetdrill reads the clock right then to check the call's end time, and the main thread
    /// may have moved the clock on meanwhile.
    pub fn gettimeofday(&self) -> i64 {
        let mut st = self.enter();
        if !self.is_main() {
            if let Some(t) = st.stamps.remove(&thread::current().id()) {
                drop(st);
                return EPOCH_USECS + t.as_micros() as i64;
            }
        } else {
            st = self.settle(st);
        }
        let t = st.now + Duration::from_micros(1);
        st = self.advance_to(st, t);
        let now = st.now;
        self.wake(st);
        EPOCH_USECS + now.as_micros() as i64
    }

    /// `netdev_send`: the stack receives an IP datagram.
    pub fn netdev_send(&self, datagram: &[u8]) {
        let mut st = self.enter();
        st.log(format_args!("in  {}", describe_packet(datagram)));
        let now = st.now;
        let r = st.ep().handle_packet(now, datagram);
        if let Err(reason) = r {
            st.log(format_args!("engine dropped it: {reason}"));
        }
        st.collect();
        self.exit(st, ())
    }

    /// `netdev_receive`: the oldest datagram the stack sent, copied into `buf`, with the
    /// virtual time (microseconds since the Unix epoch) it was sent. `None` when nothing will
    /// ever be sent (no packet queued, no timer pending).
    pub fn netdev_receive(&self, buf: &mut [u8]) -> Option<(usize, i64)> {
        let mut st = self.enter();
        if self.is_main() {
            st = self.settle(st);
        }
        let limit = st.now + HORIZON;
        let mut graced = false;
        loop {
            if let Some((t, pkt)) = st.outq.pop_front() {
                let n = pkt.len().min(buf.len());
                buf[..n].copy_from_slice(&pkt[..n]);
                if n < pkt.len() {
                    let msg = format!(
                        "netdev_receive: a {}-byte packet cut to the {n}-byte buffer",
                        pkt.len()
                    );
                    st.note_once(msg);
                }
                return self.exit(st, Some((n, EPOCH_USECS + t.as_micros() as i64)));
            }
            // Give a call of the system call thread that is about to send a moment to do so
            // (once: later rounds only follow timers that sent nothing).
            let start = RealInstant::now();
            while st.outq.is_empty() && !graced {
                let Some(left) = GRACE.checked_sub(start.elapsed()) else {
                    break;
                };
                st = self
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            graced = true;
            if !st.outq.is_empty() {
                continue;
            }
            match st.next_deadline() {
                Some(t) if t <= limit => {
                    let t = t.max(st.now);
                    st = self.advance_to(st, t);
                }
                _ => {
                    let msg = format!(
                        "netdev_receive at {}: the stack has nothing to send and no timer \
                         pending, so it will never send the packet packetdrill waits for \
                         (reported to packetdrill as an empty packet)",
                        st.now
                    );
                    st.note_once(msg);
                    return self.exit(st, None);
                }
            }
        }
    }

    /// Prints a message on stderr, once per distinct message.
    pub(crate) fn note(&self, msg: String) {
        self.lock().note_once(msg);
    }

    /// Closes the operating-system descriptors that still stand for sockets (at `free`).
    pub(crate) fn release_all(&self) {
        let mut st = self.lock();
        let files = std::mem::take(&mut st.files);
        for (_, s) in files {
            s.release();
        }
    }

    /// Runs `f` on the locked state, then ends the call (for calls that never wait).
    pub(crate) fn call<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.enter();
        let v = f(&mut st);
        self.exit(st, v)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Picks a free port for `bind(port 0)` and an unbound `listen`.
pub(crate) fn ephemeral_port(st: &mut State) -> Result<u16, Errno> {
    for _ in 0..30_000 {
        let p = st.next_port;
        st.next_port = if p >= 60_999 { 32_768 } else { p + 1 };
        if !st
            .files
            .values()
            .any(|s| s.bound.is_some_and(|b| b.port() == p))
        {
            return Ok(p);
        }
    }
    Err(Errno::ADDRINUSE)
}
