//! The driver: one [`Endpoint`] and its devices, turned by a loop.
//!
//! A [`Driver`] owns the sans-IO engine and the devices, maps the wall clock onto the engine's
//! [`Instant`] (microseconds since the driver started), and runs the loop that feeds arriving
//! datagrams and expired timers to the engine, writes what it sends to the device its route names,
//! and wakes the sockets its events concern. The loop runs on a background thread
//! ([`DriverBuilder::spawn`]) or as a tokio task ([`DriverBuilder::spawn_tokio`], feature `tokio`);
//! sockets of either API work with either.
//!
//! Sockets call into the engine directly, under the driver's lock, and send what their call
//! produced right away; the loop is only woken when such a call brought a timer forward. Every
//! wait of a socket is on the same lock as the engine, so an event cannot slip between a socket's
//! check and its sleep. The loop reads a device's datagrams with the lock released (a batch of up
//! to 256), so that sockets can read and write meanwhile; what they send while the loop holds
//! the devices waits in an outbox and goes out, in order, as soon as the loop hands them back.
//!
//! When the last handle (the [`Driver`] and every socket made from it) is dropped, the loop keeps
//! going until the connections that were closing have finished (or [`DriverBuilder::drain_timeout`]
//! passed), then stops and drops its devices (which removes a TUN interface it created).
//! [`Driver::shutdown`] does the same on demand, closing the connections itself.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use synack_proto::{
    Config, ConnHandle, ConnInfo, Counters, Endpoint, Error, Event, FourTuple, Instant,
    ListenerHandle, Resources, State,
};

use crate::device::{Device, Notifier, MAX_DATAGRAM};

/// The shortest sleep of the loop when it has no datagram left to read.
const MIN_SLEEP: Duration = Duration::from_micros(20);

/// How long the loop sleeps after a device failed to read.
const FAILING_SLEEP: Duration = Duration::from_millis(10);

/// Datagrams read from one device per turn of the loop before the others get their turn.
const RX_BUDGET: usize = 256;

/// Counters of the driver itself (the engine's are [`Driver::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Datagrams read from devices.
    pub datagrams_in: u64,
    /// Bytes read from devices.
    pub bytes_in: u64,
    /// Datagrams the engine refused (malformed, not ours, not acceptable; see its counters).
    pub dropped_in: u64,
    /// Datagrams written to devices.
    pub datagrams_out: u64,
    /// Bytes written to devices.
    pub bytes_out: u64,
    /// Writes a device refused with an error.
    pub send_errors: u64,
    /// Reads a device failed with an error.
    pub recv_errors: u64,
    /// Turns of the loop.
    pub turns: u64,
}

/// A route: datagrams to `net/prefix` leave through device `device`.
#[derive(Clone, Copy, Debug)]
struct Route {
    net: IpAddr,
    prefix: u8,
    device: usize,
}

fn prefix_matches(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The destination address of an IP datagram.
fn destination(d: &[u8]) -> Option<IpAddr> {
    match d.first()? >> 4 {
        4 if d.len() >= 20 => {
            let b: [u8; 4] = d[16..20].try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 if d.len() >= 40 => {
            let b: [u8; 16] = d[24..40].try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// What the loop is doing, so a socket knows whether it must wake it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sleep {
    /// Running a turn (it will look at every deadline before sleeping).
    Awake,
    /// Sleeping until then (or until a device is readable).
    Until(StdInstant),
    /// Sleeping until a device is readable or someone wakes it.
    Forever,
}

/// The driver's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    /// Finishing the connections that are closing, until they are done or the deadline.
    Draining(StdInstant),
    Stopped,
}

/// The per-connection state the host keeps beside the engine's.
pub(crate) struct ConnSlot {
    /// Blocking readers, writers and connectors wait here.
    pub(crate) cond: Arc<Condvar>,
    /// A tokio reader waiting for data.
    pub(crate) read_waker: Option<Waker>,
    /// A tokio writer (or connector) waiting for room.
    pub(crate) write_waker: Option<Waker>,
    /// Why the connection closed, when it did not close in order.
    pub(crate) error: Option<Error>,
    /// `shutdown(Read)` was called: reads return end of stream.
    pub(crate) read_shutdown: bool,
    /// Blocking read timeout.
    pub(crate) read_timeout: Option<Duration>,
    /// Blocking write timeout.
    pub(crate) write_timeout: Option<Duration>,
    /// Non-blocking mode (blocking API).
    pub(crate) nonblocking: bool,
    /// `SO_LINGER`.
    pub(crate) linger: Option<Duration>,
    /// `TCP_NODELAY` as last set.
    pub(crate) nodelay: bool,
    /// `TCP_CORK` as last set.
    pub(crate) cork: bool,
}

impl ConnSlot {
    pub(crate) fn new(nodelay: bool) -> Self {
        Self {
            cond: Arc::new(Condvar::new()),
            read_waker: None,
            write_waker: None,
            error: None,
            read_shutdown: false,
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
            linger: None,
            nodelay,
            cork: false,
        }
    }

    pub(crate) fn wake_read(&mut self) {
        self.cond.notify_all();
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    pub(crate) fn wake_write(&mut self) {
        self.cond.notify_all();
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// The per-listener state the host keeps.
pub(crate) struct ListenerSlot {
    pub(crate) cond: Arc<Condvar>,
    pub(crate) waker: Option<Waker>,
    pub(crate) nonblocking: bool,
}

impl ListenerSlot {
    pub(crate) fn new() -> Self {
        Self {
            cond: Arc::new(Condvar::new()),
            waker: None,
            nonblocking: false,
        }
    }

    fn wake(&mut self) {
        self.cond.notify_all();
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Everything behind the driver's lock.
pub(crate) struct Inner {
    pub(crate) ep: Endpoint,
    /// Empty while the loop reads from them outside the lock (see `loaned`).
    devices: Vec<Box<dyn Device>>,
    /// The loop holds the devices, reading, outside the lock: what the engine sends meanwhile
    /// waits in `outbox`, and goes out, in order, when the loop hands them back.
    loaned: bool,
    /// Datagrams sent while the devices were loaned.
    outbox: Vec<Vec<u8>>,
    routes: Vec<Route>,
    pub(crate) conns: HashMap<ConnHandle, ConnSlot>,
    pub(crate) listeners: HashMap<ListenerHandle, ListenerSlot>,
    sleep: Sleep,
    pub(crate) run: RunState,
    drain_timeout: Duration,
    stats: DriverStats,
    start: StdInstant,
    notifier: Notifier,
    last_error_log: Option<StdInstant>,
    /// A device failed to read during this turn.
    failing: bool,
}

impl Inner {
    /// The engine's time for `now`.
    pub(crate) fn proto_time(&self, now: StdInstant) -> Instant {
        let us = now.saturating_duration_since(self.start).as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// The engine's time now.
    pub(crate) fn now(&self) -> Instant {
        self.proto_time(StdInstant::now())
    }

    fn std_time(&self, t: Instant) -> StdInstant {
        self.start + Duration::from_micros(t.as_micros())
    }

    /// Fails when the driver no longer runs.
    pub(crate) fn check_running(&self) -> io::Result<()> {
        match self.run {
            RunState::Running => Ok(()),
            RunState::Draining(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the synack driver is shutting down",
            )),
            RunState::Stopped => Err(stopped_error()),
        }
    }

    /// Fails when the driver has stopped (a draining driver still serves existing sockets).
    pub(crate) fn check_not_stopped(&self) -> io::Result<()> {
        if self.run == RunState::Stopped {
            return Err(stopped_error());
        }
        Ok(())
    }

    fn log_error(&mut self, what: &str, e: &io::Error) {
        let now = StdInstant::now();
        if self
            .last_error_log
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.last_error_log = Some(now);
            tracing::warn!("synack driver: {what}: {e}");
        }
    }

    fn device_for(&self, datagram: &[u8]) -> usize {
        let Some(dst) = destination(datagram) else {
            return 0;
        };
        self.routes
            .iter()
            .filter(|r| prefix_matches(r.net, r.prefix, dst))
            .max_by_key(|r| r.prefix)
            .map_or(0, |r| r.device)
    }

    /// Sends what the engine queued and hands its events to the sockets. While the loop reads
    /// from the devices (`loaned`), the datagrams wait in the outbox instead.
    pub(crate) fn flush(&mut self, now: StdInstant) {
        if self.loaned {
            while let Some(d) = self.ep.poll_transmit() {
                self.outbox.push(d);
            }
        } else {
            let mut waiting = std::mem::take(&mut self.outbox);
            for d in waiting.drain(..) {
                self.transmit(now, d);
            }
            self.outbox = waiting;
            while let Some(d) = self.ep.poll_transmit() {
                self.transmit(now, d);
            }
            for i in 0..self.devices.len() {
                if let Err(e) = self.devices[i].flush_tx(now) {
                    self.stats.send_errors += 1;
                    let what = format!("sending on {}", self.devices[i].name());
                    self.log_error(&what, &e);
                }
            }
        }
        while let Some(ev) = self.ep.poll_event() {
            self.dispatch(ev);
        }
    }

    /// Writes one datagram to the device its route names, then gives its buffer back to the
    /// engine.
    fn transmit(&mut self, now: StdInstant, d: Vec<u8>) {
        let i = self.device_for(&d);
        if let Some(dev) = self.devices.get_mut(i) {
            match dev.send(now, &d) {
                Ok(()) => {
                    self.stats.datagrams_out += 1;
                    self.stats.bytes_out += d.len() as u64;
                }
                Err(e) => {
                    self.stats.send_errors += 1;
                    let what = format!("sending on {}", self.devices[i].name());
                    self.log_error(&what, &e);
                }
            }
        }
        // The device copied the datagram out: its buffer builds the next one.
        self.ep.recycle(d);
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Readable(h) => {
                if let Some(s) = self.conns.get_mut(&h) {
                    s.wake_read();
                }
            }
            Event::Writable(h) | Event::Connected(h) => {
                if let Some(s) = self.conns.get_mut(&h) {
                    s.wake_write();
                }
            }
            Event::Closed { handle, error } => {
                if let Some(s) = self.conns.get_mut(&handle) {
                    if s.error.is_none() {
                        s.error = error;
                    }
                    s.wake_read();
                    s.wake_write();
                }
            }
            Event::Acceptable(l) => {
                if let Some(s) = self.listeners.get_mut(&l) {
                    s.wake();
                }
            }
            Event::StateChanged { tuple, from, to } => {
                tracing::debug!("{} -> {}: {from:?} -> {to:?}", tuple.local, tuple.remote);
            }
        }
    }

    /// The earliest time the loop must run again.
    fn next_deadline(&mut self) -> Option<StdInstant> {
        let engine = self.ep.poll_timeout().map(|t| self.std_time(t));
        let devices = self.devices.iter().filter_map(|d| d.poll_at()).min();
        let drain = match self.run {
            RunState::Draining(t) => Some(t),
            _ => None,
        };
        [engine, devices, drain].into_iter().flatten().min()
    }

    /// After a socket's call: send what it produced, deliver events, and wake the loop if the
    /// call brought a deadline forward.
    pub(crate) fn after_op(&mut self) {
        self.flush(StdInstant::now());
        let wake = match self.sleep {
            Sleep::Awake => false,
            Sleep::Forever => self.next_deadline().is_some(),
            Sleep::Until(t) => self.next_deadline().is_some_and(|d| d < t),
        };
        if wake {
            self.sleep = Sleep::Awake;
            self.notifier.notify();
        }
    }

    /// The start of a turn of the loop: device work that needs the engine's lock.
    fn begin_turn(&mut self, now: StdInstant) {
        self.sleep = Sleep::Awake;
        self.failing = false;
        self.stats.turns += 1;
        for i in 0..self.devices.len() {
            if let Err(e) = self.devices[i].service(now) {
                let what = format!("servicing {}", self.devices[i].name());
                self.log_error(&what, &e);
            }
        }
    }

    /// Hands what one device gave to the engine (the batch was read outside the lock).
    fn take_batch(&mut self, now: StdInstant, device: usize, batch: &mut RxBatch) {
        let pnow = self.proto_time(now);
        for &(start, len) in &batch.marks {
            self.stats.datagrams_in += 1;
            self.stats.bytes_in += len as u64;
            if self
                .ep
                .handle_packet(pnow, &batch.buf[start..start + len])
                .is_err()
            {
                self.stats.dropped_in += 1;
            }
        }
        if let Some(e) = batch.error.take() {
            self.stats.recv_errors += 1;
            self.failing = true;
            let what = format!("receiving on {}", self.devices[device].name());
            self.log_error(&what, &e);
        }
        // What the datagrams just read call for goes out once they are all processed: a burst of
        // in-order segments is acknowledged by one ACK (see `Endpoint::handle_packet`), as Linux
        // acknowledges a GRO batch.
        if !batch.marks.is_empty() || !self.outbox.is_empty() {
            self.flush(now);
        }
    }

    /// The end of a turn: expired timers, then what they and anything else produced goes out.
    fn end_turn(&mut self, now: StdInstant) {
        let pnow = self.proto_time(now);
        if self.ep.poll_timeout().is_some_and(|t| t <= pnow) {
            self.ep.handle_timeout(pnow);
        }
        self.flush(now);
    }

    /// Connections still doing something (not counting closed ones a socket still holds).
    fn live_connections(&self) -> usize {
        let r = self.ep.resources();
        let closed_held = self
            .conns
            .keys()
            .filter(|h| !matches!(self.ep.state(**h), Ok(s) if s != State::Closed))
            .count();
        r.connections.saturating_sub(closed_held) + r.half_open
    }

    fn should_stop(&self, now: StdInstant) -> bool {
        match self.run {
            RunState::Running => false,
            RunState::Draining(deadline) => now >= deadline || self.live_connections() == 0,
            RunState::Stopped => true,
        }
    }

    /// Works out how long the loop may sleep, and records it.
    fn plan_sleep(&mut self, now: StdInstant, more: bool) -> Option<Duration> {
        if self.failing {
            // A device whose descriptor polls readable but fails to read (an interface removed
            // under us) must not make the loop spin: the loop sleeps instead of polling.
            self.sleep = Sleep::Until(now + FAILING_SLEEP);
            return Some(FAILING_SLEEP);
        }
        if more {
            return Some(Duration::ZERO);
        }
        match self.next_deadline() {
            Some(t) => {
                self.sleep = Sleep::Until(t);
                // A floor, so that a deadline that stays in the past cannot make the loop spin.
                Some(t.saturating_duration_since(now).max(MIN_SLEEP))
            }
            None => {
                self.sleep = Sleep::Forever;
                None
            }
        }
    }

    /// Starts draining (no new sockets; the loop ends once closing connections are done).
    fn begin_drain(&mut self, grace: Duration) {
        if self.run == RunState::Running {
            self.run = RunState::Draining(StdInstant::now() + grace);
        }
        self.sleep = Sleep::Awake;
        self.notifier.notify();
    }

    /// Stops: drops the devices, fails every waiting socket.
    fn stop(&mut self) {
        self.run = RunState::Stopped;
        self.devices.clear();
        for s in self.conns.values_mut() {
            s.wake_read();
            s.wake_write();
        }
        for s in self.listeners.values_mut() {
            s.wake();
        }
    }

    fn poll_fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.notifier.raw_fd()];
        fds.extend(self.devices.iter().filter_map(|d| d.poll_fd()));
        fds
    }
}

pub(crate) fn stopped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the synack driver has stopped",
    )
}

/// Room for the datagrams of one batch, back to back, each at a 64-byte boundary.
const RX_ARENA: usize = RX_BUDGET * 1536 + MAX_DATAGRAM;

/// The datagrams the loop read from one device in one go, outside the driver's lock.
struct RxBatch {
    buf: Vec<u8>,
    /// Where each datagram starts in `buf`, and its length.
    marks: Vec<(usize, usize)>,
    /// The read that ended the batch failed.
    error: Option<io::Error>,
}

impl RxBatch {
    fn new() -> Self {
        Self {
            buf: vec![0; RX_ARENA],
            marks: Vec::with_capacity(RX_BUDGET),
            error: None,
        }
    }

    /// Reads from `dev` until it has nothing more, the budget is spent or the buffer is full.
    /// True when the device may have more.
    fn read(&mut self, dev: &mut dyn Device, now: StdInstant) -> bool {
        self.marks.clear();
        self.error = None;
        let mut used = 0;
        loop {
            if self.marks.len() == RX_BUDGET || self.buf.len() - used < MAX_DATAGRAM {
                return true;
            }
            match dev.recv(now, &mut self.buf[used..]) {
                Ok(Some(len)) => {
                    let len = len.min(self.buf.len() - used);
                    self.marks.push((used, len));
                    used += len.next_multiple_of(64);
                }
                Ok(None) => return false,
                Err(e) => {
                    self.error = Some(e);
                    return false;
                }
            }
        }
    }
}

/// What the driver's loop and every socket share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    notifier: Notifier,
    stopped: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// Takes the driver's lock. A panic on another thread while it held the lock leaves the engine
    /// in a state it can continue from (its calls are not unwound halfway in a way that matters
    /// for memory safety), so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `cond` (which must belong to this driver's lock) until notified or `deadline`.
    /// Returns the guard and whether the deadline passed.
    pub(crate) fn wait<'a>(
        &self,
        cond: &Condvar,
        guard: MutexGuard<'a, Inner>,
        deadline: Option<StdInstant>,
    ) -> (MutexGuard<'a, Inner>, bool) {
        match deadline {
            None => (cond.wait(guard).unwrap_or_else(|e| e.into_inner()), false),
            Some(d) => {
                let now = StdInstant::now();
                if now >= d {
                    return (guard, true);
                }
                let (g, _) = cond
                    .wait_timeout(guard, d - now)
                    .unwrap_or_else(|e| e.into_inner());
                (g, StdInstant::now() >= d)
            }
        }
    }

    /// One turn of the loop at `now`: device work, arrivals, timers, transmission. Each device
    /// is read with the lock released, so that sockets can work on the engine meanwhile.
    /// Returns the lock and whether a device had more to read than this turn took.
    fn turn(&self, now: StdInstant, batch: &mut RxBatch) -> (MutexGuard<'_, Inner>, bool) {
        let mut g = self.lock();
        g.begin_turn(now);
        let mut more = false;
        for i in 0..g.devices.len() {
            let mut devices = std::mem::take(&mut g.devices);
            g.loaned = true;
            drop(g);
            more |= batch.read(&mut *devices[i], now);
            g = self.lock();
            g.devices = devices;
            g.loaned = false;
            g.take_batch(now, i, batch);
        }
        g.end_turn(now);
        (g, more)
    }

    fn run_thread(self: Arc<Self>) {
        let fds = self.lock().poll_fds();
        let mut batch = RxBatch::new();
        loop {
            let timeout = {
                let now = StdInstant::now();
                let (mut g, more) = self.turn(now, &mut batch);
                if g.should_stop(now) {
                    g.stop();
                    drop(g);
                    self.stopped.notify_all();
                    return;
                }
                let timeout = g.plan_sleep(now, more);
                if g.failing {
                    drop(g);
                    std::thread::sleep(FAILING_SLEEP);
                    continue;
                }
                timeout
            };
            if let Err(e) = crate::sys::poll_readable(&fds, timeout) {
                tracing::error!("synack driver: poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            self.notifier.drain();
        }
    }

    #[cfg(feature = "tokio")]
    async fn run_task(self: Arc<Self>) {
        use std::future::Future;
        use std::task::Poll;
        use tokio::io::unix::AsyncFd;
        use tokio::io::Interest;

        let fds = self.lock().poll_fds();
        let mut watched = Vec::with_capacity(fds.len());
        for fd in fds {
            // SAFETY: the descriptors are the driver's eventfd, which `self` keeps open, and the
            // devices', which stay open until `stop()` drops the devices; `watched` is dropped
            // (deregistering them) before that, and nothing else closes or replaces them.
            let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
            match registered {
                Ok(a) => watched.push(a),
                Err(e) => tracing::error!("synack driver: cannot watch descriptor {fd}: {e}"),
            }
        }
        let mut batch = RxBatch::new();
        loop {
            let timeout = {
                let now = StdInstant::now();
                let (mut g, more) = self.turn(now, &mut batch);
                if g.should_stop(now) {
                    drop(watched);
                    g.stop();
                    drop(g);
                    self.stopped.notify_all();
                    return;
                }
                (g.plan_sleep(now, more), g.failing)
            };
            let (timeout, failing) = timeout;
            if failing {
                tokio::time::sleep(FAILING_SLEEP).await;
                continue;
            }
            let mut sleep = timeout.map(|d| Box::pin(tokio::time::sleep(d)));
            std::future::poll_fn(|cx| {
                let mut ready = false;
                for a in &watched {
                    match a.poll_read_ready(cx) {
                        Poll::Ready(Ok(mut guard)) => {
                            // Cleared before the turn reads to exhaustion: a datagram arriving
                            // after that read makes a new edge.
                            guard.clear_ready();
                            ready = true;
                        }
                        Poll::Ready(Err(_)) => ready = true,
                        Poll::Pending => {}
                    }
                }
                if let Some(s) = sleep.as_mut() {
                    if s.as_mut().poll(cx).is_ready() {
                        ready = true;
                    }
                }
                if ready {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            self.notifier.drain();
        }
    }
}

/// The handle the application holds; when the last one goes, the driver drains and stops.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut g = self.shared.lock();
        let grace = g.drain_timeout;
        g.begin_drain(grace);
    }
}

/// A running synack stack: the engine, its devices and the loop that drives them. Cheap to clone;
/// sockets are made from it ([`crate::net::TcpListener::bind`], [`crate::net::TcpStream::connect`],
/// and the tokio equivalents).
#[derive(Clone)]
pub struct Driver {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.shared().lock();
        f.debug_struct("Driver")
            .field("addresses", &g.ep.addresses())
            .field("run", &g.run)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Starts describing a driver.
    pub fn builder() -> DriverBuilder {
        DriverBuilder {
            config: None,
            seed: None,
            addresses: Vec::new(),
            devices: Vec::new(),
            routes: Vec::new(),
            drain_timeout: Duration::from_secs(5),
            thread_name: "synack-driver".into(),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The stack's local addresses.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared().lock().ep.addresses().to_vec()
    }

    /// The engine's configuration.
    pub fn config(&self) -> Config {
        self.shared().lock().ep.config().clone()
    }

    /// The engine's counters (like `netstat -s`).
    pub fn counters(&self) -> Counters {
        self.shared().lock().ep.counters().clone()
    }

    /// What the engine holds: connections, half-open entries, TIME-WAIT entries, listeners.
    pub fn resources(&self) -> Resources {
        self.shared().lock().ep.resources()
    }

    /// The driver's own counters.
    pub fn stats(&self) -> DriverStats {
        self.shared().lock().stats
    }

    /// The state of whatever owns `tuple` (a connection, a SYN-RECEIVED entry, a TIME-WAIT entry).
    pub fn state_of(&self, tuple: &FourTuple) -> Option<State> {
        self.shared().lock().ep.state_of(tuple)
    }

    /// A snapshot of every connection a socket holds.
    pub fn connections(&self) -> Vec<ConnInfo> {
        let g = self.shared().lock();
        let mut v: Vec<ConnInfo> = g.conns.keys().filter_map(|h| g.ep.info(*h).ok()).collect();
        v.sort_by_key(|i| (i.tuple.local, i.tuple.remote));
        v
    }

    /// True until the driver has stopped.
    pub fn is_running(&self) -> bool {
        self.shared().lock().run != RunState::Stopped
    }

    /// Runs `f` on the engine (at the engine's current time), then sends what it produced. For
    /// what the socket APIs do not cover; handles made here are the caller's to manage.
    pub fn with_endpoint<R>(&self, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        let mut g = self.shared().lock();
        let now = g.now();
        let r = f(&mut g.ep, now);
        g.after_op();
        r
    }

    /// Shuts the stack down: listeners close, every connection is closed in order (its queued
    /// data and a FIN go out), and the loop runs until they have finished or `grace` passed, then
    /// stops and drops the devices. Sockets still held fail from then on. Blocks until the loop
    /// has stopped (call it from `spawn_blocking` in async code).
    pub fn shutdown(&self, grace: Duration) {
        let shared = self.shared().clone();
        let mut g = shared.lock();
        if g.run == RunState::Stopped {
            return;
        }
        let now = g.now();
        let listeners: Vec<ListenerHandle> = g.listeners.keys().copied().collect();
        for l in listeners {
            let _ = g.ep.close_listener(now, l);
        }
        let conns: Vec<ConnHandle> = g.conns.keys().copied().collect();
        for h in conns {
            let _ = g.ep.shutdown(now, h);
        }
        g.flush(StdInstant::now());
        if let RunState::Draining(d) = g.run {
            g.run = RunState::Draining(d.min(StdInstant::now() + grace));
        }
        g.begin_drain(grace);
        for s in g.listeners.values_mut() {
            s.wake();
        }
        let limit = StdInstant::now() + grace + Duration::from_secs(2);
        while g.run != RunState::Stopped && StdInstant::now() < limit {
            g = shared
                .stopped
                .wait_timeout(g, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        drop(g);
        let thread = shared
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// Describes a [`Driver`]; see [`Driver::builder`].
pub struct DriverBuilder {
    config: Option<Config>,
    seed: Option<u64>,
    addresses: Vec<IpAddr>,
    devices: Vec<Box<dyn Device>>,
    routes: Vec<Route>,
    drain_timeout: Duration,
    thread_name: String,
}

impl DriverBuilder {
    /// The engine's configuration. Without one, `Config::default()` is used with the MSS derived
    /// from the smallest device MTU (MTU - 40).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The seed of the engine's secrets (ISNs, ephemeral ports, SYN cookies, hash keys). Without
    /// one, 64 bits from the operating system's random source are used, as a real host must.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Adds a local address of the stack.
    #[must_use]
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.addresses.push(addr);
        self
    }

    /// Adds a device. The first device is the default route; see [`DriverBuilder::route`].
    #[must_use]
    pub fn device(mut self, device: impl Device) -> Self {
        self.devices.push(Box::new(device));
        self
    }

    /// Sends datagrams to `net/prefix` through the device added last (longest prefix wins).
    #[must_use]
    pub fn route(mut self, net: IpAddr, prefix: u8) -> Self {
        let device = self.devices.len().saturating_sub(1);
        self.routes.push(Route {
            net,
            prefix,
            device,
        });
        self
    }

    /// How long the loop keeps finishing closing connections after the last handle is dropped
    /// (default 5 s).
    #[must_use]
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// The name of the background thread (default `synack-driver`).
    #[must_use]
    pub fn thread_name(mut self, name: &str) -> Self {
        self.thread_name = name.to_string();
        self
    }

    fn build(self) -> io::Result<(Arc<Shared>, String)> {
        if self.devices.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a synack driver needs at least one device",
            ));
        }
        if self.addresses.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a synack driver needs at least one address",
            ));
        }
        let config = match self.config {
            Some(c) => c,
            None => {
                let mtu = self.devices.iter().map(|d| d.mtu()).min().unwrap_or(1500);
                let mss = mtu.saturating_sub(40).clamp(536, 65495);
                Config {
                    mss: u16::try_from(mss).unwrap_or(1460),
                    ..Config::default()
                }
            }
        };
        let seed = match self.seed {
            Some(s) => s,
            None => os_random_u64()?,
        };
        let mut ep = Endpoint::new(config, seed);
        for a in &self.addresses {
            ep.add_address(*a);
        }
        let notifier = Notifier::new()?;
        let mut devices = self.devices;
        for d in &mut devices {
            d.set_notifier(notifier.clone());
        }
        let inner = Inner {
            ep,
            devices,
            loaned: false,
            outbox: Vec::new(),
            routes: self.routes,
            conns: HashMap::new(),
            listeners: HashMap::new(),
            sleep: Sleep::Awake,
            run: RunState::Running,
            drain_timeout: self.drain_timeout,
            stats: DriverStats::default(),
            start: StdInstant::now(),
            notifier: notifier.clone(),
            last_error_log: None,
            failing: false,
        };
        Ok((
            Arc::new(Shared {
                inner: Mutex::new(inner),
                notifier,
                stopped: Condvar::new(),
                thread: Mutex::new(None),
            }),
            self.thread_name,
        ))
    }

    /// Starts the driver on a background thread.
    pub fn spawn(self) -> io::Result<Driver> {
        let (shared, name) = self.build()?;
        let s = shared.clone();
        let t = std::thread::Builder::new()
            .name(name)
            .spawn(move || s.run_thread())?;
        *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
        Ok(Driver {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// Starts the driver as a task on the current tokio runtime (which must have the I/O and time
    /// drivers enabled). Fails outside a runtime.
    #[cfg(feature = "tokio")]
    pub fn spawn_tokio(self) -> io::Result<Driver> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other("spawn_tokio must be called from within a tokio runtime")
        })?;
        let (shared, _) = self.build()?;
        rt.spawn(shared.clone().run_task());
        Ok(Driver {
            handle: Arc::new(Handle { shared }),
        })
    }
}

/// 64 random bits from the operating system.
fn os_random_u64() -> io::Result<u64> {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read /dev/urandom: {e}")))?;
    Ok(u64::from_ne_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match() {
        let n: IpAddr = "10.9.0.0".parse().unwrap();
        assert!(prefix_matches(n, 24, "10.9.0.7".parse().unwrap()));
        assert!(!prefix_matches(n, 24, "10.9.1.7".parse().unwrap()));
        assert!(prefix_matches(n, 0, "1.2.3.4".parse().unwrap()));
        let n6: IpAddr = "fd00:9::".parse().unwrap();
        assert!(prefix_matches(n6, 64, "fd00:9::2".parse().unwrap()));
        assert!(!prefix_matches(n6, 64, "fd00:8::2".parse().unwrap()));
        assert!(!prefix_matches(n, 0, "fd00:8::2".parse().unwrap()));
    }

    #[test]
    fn destinations_parse() {
        let mut v4 = vec![0x45u8; 20];
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(destination(&v4), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(destination(&[0x45, 0]), None);
        assert_eq!(destination(&[]), None);
    }
}
