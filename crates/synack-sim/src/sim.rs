//! The simulator core: hosts, links, the event queue and the virtual clock.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use synack_proto::{Config, Duration, Endpoint, Event, Instant};

use crate::app::HostApp;
use crate::link::{LinkConfig, LinkDir};
use crate::packet::{flip_bit, ip_header_len, PacketInfo};
use crate::rng::{splitmix64, SimRng};
use crate::trace::{Fate, LossReason, PacketId, Trace, TraceKind};

/// Names a host of a [`Sim`]. Hosts are numbered from 0 in the order they were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub(crate) usize);

impl HostId {
    /// The host's number (its position in the order hosts were added).
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host{}", self.0)
    }
}

/// Events kept per host for the test to read with [`Sim::poll_event`]; older ones are dropped
/// beyond this many.
const HOST_EVENT_BACKLOG: usize = 65_536;

/// Rounds of (events, application, transmit) one flush may take before giving up; only an
/// endpoint that keeps producing work at one instant forever would reach it.
const FLUSH_ROUNDS: usize = 10_000;

/// Timer firings of one host at one instant, with the timer still due afterwards, before the sim
/// assumes the endpoint's `poll_timeout` is stuck and moves the timer 1 µs on.
const TIMER_SPIN_LIMIT: u32 = 1_000;

pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) endpoint: Endpoint,
    /// The endpoint's next deadline, as of the last flush.
    pub(crate) timer: Option<Instant>,
    timer_spins: u32,
    pub(crate) events: VecDeque<Event>,
    pub(crate) app: HostApp,
}

/// Something scheduled on the event queue.
enum Pending {
    /// A packet arrives at a host.
    Arrive {
        to: HostId,
        id: PacketId,
        bytes: Vec<u8>,
    },
    /// A crafted packet enters the link as if `from` sent it.
    Inject { from: HostId, bytes: Vec<u8> },
}

/// What a scripted fault matches.
enum Matcher {
    /// The nth packet (1-based) from one host to another.
    Nth(u64),
    /// Packets a predicate accepts.
    Pred(Box<dyn FnMut(&crate::PacketInfo) -> bool>),
}

/// What a scripted fault does.
#[derive(Clone, Copy)]
enum FaultAction {
    Drop,
    Delay(Duration),
}

struct Fault {
    from: HostId,
    to: HostId,
    matcher: Matcher,
    action: FaultAction,
    remaining: Option<usize>,
}

/// A deterministic network of hosts running synack [`Endpoint`]s, joined by impaired links,
/// driven by a virtual clock. See the [crate documentation](crate) for an example.
pub struct Sim {
    now: Instant,
    seed: u64,
    rng: SimRng,
    pub(crate) hosts: Vec<Host>,
    routes: BTreeMap<IpAddr, HostId>,
    links: BTreeMap<(HostId, HostId), LinkDir>,
    pending: BTreeMap<(Instant, u64), Pending>,
    next_seq: u64,
    next_packet: u64,
    sent_counts: BTreeMap<(HostId, HostId), u64>,
    faults: Vec<Fault>,
    pub(crate) trace: Trace,
    /// Returned by [`Sim::endpoint`] for a `HostId` this sim did not create (never panics).
    void: Endpoint,
    max_steps: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("pending", &self.pending.len())
            .field("trace_len", &self.trace.len())
            .finish()
    }
}

impl Sim {
    /// An empty network at time zero. `seed` determines every random choice of the run: the
    /// links' impairments and (through a per-host seed derived from it) each endpoint's ISNs,
    /// ports and secrets. The same seed and the same script give a byte-identical trace.
    pub fn new(seed: u64) -> Self {
        Self {
            now: Instant::ZERO,
            seed,
            rng: SimRng::new(seed),
            hosts: Vec::new(),
            routes: BTreeMap::new(),
            links: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_seq: 0,
            next_packet: 1,
            sent_counts: BTreeMap::new(),
            faults: Vec::new(),
            trace: Trace::default(),
            void: Endpoint::new(Config::default(), 0),
            max_steps: 50_000_000,
        }
    }

    /// The seed given to [`Sim::new`].
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Caps the events one `run_*` call processes (default 50 million), a guard against a
    /// scenario that never goes quiet at one instant. When reached, the run stops and a note is
    /// traced.
    pub fn set_max_steps(&mut self, steps: u64) {
        self.max_steps = steps.max(1);
    }

    // ----- hosts ---------------------------------------------------------------------------------

    /// Adds a host named `name` (used in traces) owning `addr`, with an endpoint configured by
    /// `config` and seeded from the simulation seed and the host's index. Packets to `addr` are
    /// routed to this host. An address another host already owns keeps routing to that host.
    pub fn add_host(&mut self, name: &str, addr: IpAddr, config: Config) -> HostId {
        let id = HostId(self.hosts.len());
        let mut s = self.seed ^ (id.0 as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03);
        let host_seed = splitmix64(&mut s);
        self.hosts.push(Host {
            name: name.to_string(),
            addrs: Vec::new(),
            endpoint: Endpoint::new(config, host_seed),
            timer: None,
            timer_spins: 0,
            events: VecDeque::new(),
            app: HostApp::default(),
        });
        self.trace.add_host_name(name);
        self.add_address(id, addr);
        id
    }

    /// Gives `host` one more address (e.g. an IPv6 one), routed to it.
    pub fn add_address(&mut self, host: HostId, addr: IpAddr) {
        let Some(h) = self.hosts.get_mut(host.0) else {
            return;
        };
        h.endpoint.add_address(addr);
        if !h.addrs.contains(&addr) {
            h.addrs.push(addr);
        }
        if let Some(owner) = self.routes.get(&addr) {
            if *owner != host {
                let text = format!(
                    "address {addr} already belongs to {}",
                    self.host_name(*owner)
                );
                self.note(host, &text);
            }
            return;
        }
        self.routes.insert(addr, host);
    }

    /// Every host, in the order added.
    pub fn hosts(&self) -> impl Iterator<Item = HostId> {
        (0..self.hosts.len()).map(HostId)
    }

    /// The host named `name`, if any.
    pub fn host(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name).map(HostId)
    }

    /// The name of `host` (`"?"` for an id of another simulation).
    pub fn host_name(&self, host: HostId) -> &str {
        self.hosts.get(host.0).map_or("?", |h| h.name.as_str())
    }

    /// The addresses of `host`, first one first.
    pub fn addrs(&self, host: HostId) -> &[IpAddr] {
        self.hosts.get(host.0).map_or(&[], |h| h.addrs.as_slice())
    }

    /// The first address of `host` (`0.0.0.0` for an id of another simulation).
    pub fn addr(&self, host: HostId) -> IpAddr {
        self.addrs(host)
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// The host that owns `addr`, if any.
    pub fn owner_of(&self, addr: IpAddr) -> Option<HostId> {
        self.routes.get(&addr).copied()
    }

    /// The endpoint of `host`, for the test to act as its application (`connect`, `send`, ...
    /// with [`Sim::now`]). Call [`Sim::flush`] afterwards (or any `run_*`/`step`, which flush
    /// every host first) so the sim picks up the packets and timers that the calls created.
    /// [`Sim::with_endpoint`] does both.
    ///
    /// For a `HostId` of another simulation this returns a detached endpoint with no addresses.
    pub fn endpoint(&mut self, host: HostId) -> &mut Endpoint {
        match self.hosts.get_mut(host.0) {
            Some(h) => &mut h.endpoint,
            None => &mut self.void,
        }
    }

    /// Read-only access to the endpoint of `host` (for conditions and assertions).
    pub fn endpoint_ref(&self, host: HostId) -> &Endpoint {
        self.hosts.get(host.0).map_or(&self.void, |h| &h.endpoint)
    }

    /// Runs `f` with the endpoint of `host` and the current time, then flushes the host:
    /// `let c = sim.with_endpoint(client, |ep, now| ep.connect(now, server_addr, None))?;`
    pub fn with_endpoint<R>(
        &mut self,
        host: HostId,
        f: impl FnOnce(&mut Endpoint, Instant) -> R,
    ) -> R {
        let now = self.now;
        let r = f(self.endpoint(host), now);
        self.flush(host);
        r
    }

    /// The next endpoint event of `host` that the test has not read yet. The sim drains every
    /// endpoint's events (to trace state changes and drive the built-in application), and keeps
    /// them here in order for the test (the most recent 65,536 per host).
    pub fn poll_event(&mut self, host: HostId) -> Option<Event> {
        self.hosts.get_mut(host.0)?.events.pop_front()
    }

    /// Records an application note in the trace, e.g. `sim.note(client, "user pressed enter")`.
    pub fn note(&mut self, host: HostId, text: &str) {
        self.trace.push(
            self.now,
            TraceKind::AppEvent {
                host,
                text: text.to_string(),
            },
        );
    }

    // ----- links ---------------------------------------------------------------------------------

    /// Joins `a` and `b` by a link whose two directions both behave as `config`, replacing any
    /// link between them.
    pub fn link(&mut self, a: HostId, b: HostId, config: LinkConfig) {
        self.link_oneway(a, b, config.clone());
        self.link_oneway(b, a, config);
    }

    /// Sets the direction `from` → `to` of a link to `config` (creating it, and nothing in the
    /// other direction, if there was no link). Queue and FIFO state are reset.
    pub fn link_oneway(&mut self, from: HostId, to: HostId, config: LinkConfig) {
        self.links.insert((from, to), LinkDir::new(config));
    }

    /// Removes both directions of the link between `a` and `b`: later packets are "no route".
    /// Packets already on the way still arrive.
    pub fn unlink(&mut self, a: HostId, b: HostId) {
        self.links.remove(&(a, b));
        self.links.remove(&(b, a));
    }

    /// The configuration of direction `from` → `to`, if linked.
    pub fn link_config(&self, from: HostId, to: HostId) -> Option<&LinkConfig> {
        self.links.get(&(from, to)).map(|l| &l.config)
    }

    /// Changes the direction `from` → `to` in place (e.g. `loss = 1.0` to cut it for a while);
    /// FIFO and queue state are kept.
    pub fn link_config_mut(&mut self, from: HostId, to: HostId) -> Option<&mut LinkConfig> {
        self.links.get_mut(&(from, to)).map(|l| &mut l.config)
    }

    // ----- scripted faults -----------------------------------------------------------------------

    /// Drops the `n`th packet (1-based) that host `from` sends to host `to`. Packets are counted
    /// per ordered pair of hosts from the start of the simulation; injected packets are not
    /// counted. Traced as lost, [`LossReason::Scripted`].
    pub fn drop_nth(&mut self, from: HostId, to: HostId, n: usize) {
        self.faults.push(Fault {
            from,
            to,
            matcher: Matcher::Nth(n as u64),
            action: FaultAction::Drop,
            remaining: Some(1),
        });
    }

    /// Drops packets from `from` to `to` that `predicate` accepts: the first `count` of them, or
    /// all with `None`. The predicate sees each packet (not injected ones) before any link
    /// impairment; e.g. `|p| p.flags.fin()`.
    pub fn drop_matching(
        &mut self,
        from: HostId,
        to: HostId,
        predicate: impl FnMut(&PacketInfo) -> bool + 'static,
        count: Option<usize>,
    ) {
        self.faults.push(Fault {
            from,
            to,
            matcher: Matcher::Pred(Box::new(predicate)),
            action: FaultAction::Drop,
            remaining: count,
        });
    }

    /// Delays packets from `from` to `to` that `predicate` accepts by `extra` on top of the link's
    /// delay (the first `count` of them, or all with `None`). A delayed packet leaves FIFO order,
    /// so packets sent after it can overtake it.
    pub fn delay_matching(
        &mut self,
        from: HostId,
        to: HostId,
        predicate: impl FnMut(&PacketInfo) -> bool + 'static,
        extra: Duration,
        count: Option<usize>,
    ) {
        self.faults.push(Fault {
            from,
            to,
            matcher: Matcher::Pred(Box::new(predicate)),
            action: FaultAction::Delay(extra),
            remaining: count,
        });
    }

    /// Removes every scripted fault (those already used up included).
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Sends the crafted datagram `bytes` at `at` (now, if earlier) as if `from_host` had sent
    /// it: it is routed by its destination address and goes through the link's impairments (not
    /// through scripted faults). Traced as [`TraceKind::Injected`] then [`TraceKind::Packet`] with
    /// `injected: true`. Build segments with [`craft_tcp`](crate::craft_tcp).
    pub fn inject(&mut self, at: Instant, from_host: HostId, bytes: Vec<u8>) {
        let at = at.max(self.now);
        self.schedule(
            at,
            Pending::Inject {
                from: from_host,
                bytes,
            },
        );
    }

    // ----- running -------------------------------------------------------------------------------

    /// Drains what `host`'s endpoint has produced since the last flush: its events (state changes
    /// go to the trace), the built-in application's reactions, the packets it queued (onto their
    /// links), and its next timer. Needed after calling the endpoint directly through
    /// [`Sim::endpoint`]; every `run_*` method and [`Sim::step`] flush all hosts first.
    pub fn flush(&mut self, host: HostId) {
        let i = host.0;
        if i >= self.hosts.len() {
            return;
        }
        for _ in 0..FLUSH_ROUNDS {
            let mut progress = self.drain_events(host);
            progress |= self.app_pass(host);
            progress |= self.drain_events(host);
            while let Some(bytes) = self.hosts[i].endpoint.poll_transmit() {
                progress = true;
                self.send_packet(host, bytes, false);
            }
            if !progress {
                break;
            }
        }
        let h = &mut self.hosts[i];
        h.timer = h.endpoint.poll_timeout();
    }

    /// [`Sim::flush`] for every host.
    pub fn flush_all(&mut self) {
        for i in 0..self.hosts.len() {
            self.flush(HostId(i));
        }
    }

    /// The time of the next packet arrival, injection or host timer, if any (as of the last
    /// flush).
    pub fn next_event_time(&self) -> Option<Instant> {
        let pending = self.pending.keys().next().map(|(t, _)| *t);
        let timer = self.hosts.iter().filter_map(|h| h.timer).min();
        match (pending, timer) {
            (Some(p), Some(t)) => Some(p.min(t).max(self.now)),
            (p, t) => p.or(t).map(|x| x.max(self.now)),
        }
    }

    /// Packets and injections on their way (scheduled, not yet arrived).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Processes the next event: the earliest packet arrival or injection, or the earliest host
    /// timer (arrivals first on a tie, then hosts in order). The clock moves to its time. Returns
    /// false when nothing is pending. Flushes every host first.
    pub fn step(&mut self) -> bool {
        self.flush_all();
        self.step_inner()
    }

    fn step_inner(&mut self) -> bool {
        let pending = self.pending.keys().next().copied();
        let timer = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.timer.map(|t| (t, i)))
            .min();
        let take_pending = match (pending, timer) {
            (None, None) => return false,
            (Some((p, _)), Some((t, _))) => p <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_pending {
            let Some(((t, _), event)) = self.pending.pop_first() else {
                return false;
            };
            self.now = self.now.max(t);
            match event {
                Pending::Arrive { to, id, bytes } => {
                    let now = self.now;
                    if let Some(h) = self.hosts.get_mut(to.0) {
                        // By value, as a zero-copy driver hands datagrams over.
                        if let Err(reason) = h.endpoint.handle_datagram(now, bytes) {
                            self.trace.push(
                                now,
                                TraceKind::Rejected {
                                    host: to,
                                    id,
                                    reason,
                                },
                            );
                        }
                    }
                    self.flush(to);
                }
                Pending::Inject { from, bytes } => self.send_packet(from, bytes, true),
            }
        } else if let Some((t, i)) = timer {
            self.now = self.now.max(t);
            let now = self.now;
            self.hosts[i].endpoint.handle_timeout(now);
            self.flush(HostId(i));
            let h = &mut self.hosts[i];
            if h.timer.is_some_and(|t| t <= now) {
                h.timer_spins += 1;
                if h.timer_spins >= TIMER_SPIN_LIMIT {
                    h.timer = Some(now + Duration::from_micros(1));
                    h.timer_spins = 0;
                    self.note(
                        HostId(i),
                        "sim: endpoint timer stuck in the past; moved 1us on",
                    );
                }
            } else {
                h.timer_spins = 0;
            }
        }
        true
    }

    /// Runs every event up to and including time `t`, then sets the clock to `t` (if later).
    pub fn run_until(&mut self, t: Instant) {
        self.flush_all();
        let mut steps = 0u64;
        while let Some(next) = self.next_event_time() {
            if next > t || !self.budget(&mut steps) || !self.step_inner() {
                break;
            }
        }
        self.now = self.now.max(t);
    }

    /// [`Sim::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until nothing is pending (no packet on the way, no timer armed) and returns true, or
    /// until the next event would come after `limit`: then the clock is set to `limit` and it
    /// returns false. TIME-WAIT and other long timers count as pending: a run that closes
    /// connections goes quiet only after they expire (virtual time costs nothing).
    pub fn run_until_idle(&mut self, limit: Instant) -> bool {
        self.flush_all();
        let mut steps = 0u64;
        loop {
            match self.next_event_time() {
                None => return true,
                Some(next) if next > limit => {
                    self.now = self.now.max(limit);
                    return false;
                }
                Some(_) => {
                    if !self.budget(&mut steps) || !self.step_inner() {
                        return false;
                    }
                }
            }
        }
    }

    /// Runs until `cond` holds (checked before the first event and after each one) and returns
    /// true with the clock at that moment; returns false when the network goes idle or the next
    /// event would come after `limit` (the clock is then set to `limit`). `cond` may act on the
    /// sim (its changes are flushed before the next event).
    pub fn run_until_cond(
        &mut self,
        limit: Instant,
        mut cond: impl FnMut(&mut Sim) -> bool,
    ) -> bool {
        self.flush_all();
        let mut steps = 0u64;
        loop {
            if cond(self) {
                return true;
            }
            self.flush_all();
            match self.next_event_time() {
                None => return false,
                Some(next) if next > limit => {
                    self.now = self.now.max(limit);
                    return false;
                }
                Some(_) => {
                    if !self.budget(&mut steps) || !self.step_inner() {
                        return false;
                    }
                }
            }
        }
    }

    fn budget(&mut self, steps: &mut u64) -> bool {
        *steps += 1;
        if *steps > self.max_steps {
            let text = format!("sim: step limit of {} reached", self.max_steps);
            self.trace.push(
                self.now,
                TraceKind::AppEvent {
                    host: HostId(0),
                    text,
                },
            );
            return false;
        }
        true
    }

    // ----- trace -------------------------------------------------------------------------------

    /// Everything recorded so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Mutable access to the trace (e.g. to [`Trace::clear`] it between phases of a test).
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// [`Trace::packets_between`] on the current trace.
    pub fn packets_between(&self, a: HostId, b: HostId) -> Vec<crate::PacketRecord<'_>> {
        self.trace.packets_between(a, b)
    }

    /// [`Trace::states_of`] on the current trace.
    pub fn states_of(
        &self,
        host: HostId,
        tuple: synack_proto::FourTuple,
    ) -> Vec<synack_proto::State> {
        self.trace.states_of(host, tuple)
    }

    // ----- internals ---------------------------------------------------------------------------

    fn schedule(&mut self, at: Instant, event: Pending) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert((at, seq), event);
    }

    /// Drains the endpoint events of `host` into the trace and the test's queue.
    fn drain_events(&mut self, host: HostId) -> bool {
        let now = self.now;
        let mut any = false;
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        while let Some(ev) = h.endpoint.poll_event() {
            any = true;
            match ev {
                Event::StateChanged { tuple, from, to } => self.trace.push(
                    now,
                    TraceKind::StateChange {
                        host,
                        tuple,
                        from,
                        to,
                    },
                ),
                Event::Closed { handle, error } => self.trace.push(
                    now,
                    TraceKind::ConnClosed {
                        host,
                        conn: handle,
                        error,
                    },
                ),
                _ => {}
            }
            if h.events.len() >= HOST_EVENT_BACKLOG {
                h.events.pop_front();
            }
            h.events.push_back(ev);
        }
        any
    }

    /// Puts a packet that `from` sends now onto its link and records it.
    fn send_packet(&mut self, from: HostId, bytes: Vec<u8>, injected: bool) {
        let id = PacketId(self.next_packet);
        self.next_packet += 1;
        let dst = synack_wire::parse_ip(&bytes).ok().map(|p| p.ip.dst());
        let to = dst.and_then(|d| self.routes.get(&d).copied());
        let info = PacketInfo::parse(self.now, from, to, bytes);
        if injected {
            self.trace.push(self.now, TraceKind::Injected { id, from });
        }
        let fate = self.transmit(id, from, to, &info, injected);
        self.trace.push(
            self.now,
            TraceKind::Packet {
                id,
                from,
                to,
                info,
                fate,
                injected,
            },
        );
    }

    /// Runs a packet through routing, scripted faults and the link; schedules its arrival.
    fn transmit(
        &mut self,
        id: PacketId,
        from: HostId,
        to: Option<HostId>,
        info: &PacketInfo,
        injected: bool,
    ) -> Fate {
        let now = self.now;
        let Some(to) = to else {
            return Fate::Lost(LossReason::NoRoute);
        };
        if to == from {
            // Loopback: no link, no impairment.
            self.schedule(
                now,
                Pending::Arrive {
                    to,
                    id,
                    bytes: info.bytes.clone(),
                },
            );
            return Fate::Delivered { at: now };
        }
        if !self.links.contains_key(&(from, to)) {
            return Fate::Lost(LossReason::NoRoute);
        }
        let mut extra = None::<Duration>;
        if !injected {
            let count = self.sent_counts.entry((from, to)).or_insert(0);
            *count += 1;
            let n = *count;
            for fault in &mut self.faults {
                if fault.from != from || fault.to != to || fault.remaining == Some(0) {
                    continue;
                }
                let hit = match &mut fault.matcher {
                    Matcher::Nth(k) => *k == n,
                    Matcher::Pred(p) => p(info),
                };
                if !hit {
                    continue;
                }
                if let Some(r) = fault.remaining.as_mut() {
                    *r -= 1;
                }
                match fault.action {
                    FaultAction::Drop => return Fate::Lost(LossReason::Scripted),
                    FaultAction::Delay(d) => {
                        extra = Some(extra.unwrap_or(Duration::ZERO).saturating_add(d));
                    }
                }
            }
        }
        let Some(link) = self.links.get_mut(&(from, to)) else {
            return Fate::Lost(LossReason::NoRoute);
        };
        let rng = &mut self.rng;
        let len = info.bytes.len();
        if len > link.config.mtu {
            return Fate::Lost(LossReason::Mtu);
        }
        let Some(sent) = link.admit(now, len) else {
            return Fate::Lost(LossReason::QueueFull);
        };
        if rng.chance(link.config.loss) {
            return Fate::Lost(LossReason::Random);
        }
        let mut at = sent + link.config.delay;
        let jitter = u64::try_from(link.config.jitter.as_micros()).unwrap_or(u64::MAX);
        if jitter > 0 {
            at += Duration::from_micros(rng.below(jitter.saturating_add(1)));
        }
        let reordered = rng.chance(link.config.reorder);
        if reordered {
            at += link.config.reorder_delay;
        }
        if let Some(d) = extra {
            at += d;
        }
        if !reordered && extra.is_none() {
            at = at.max(link.last_arrival);
            link.last_arrival = at;
        }
        let mut bytes = info.bytes.clone();
        let fate = if rng.chance(link.config.corrupt) {
            let header = ip_header_len(&bytes);
            let span = if bytes.len() > header {
                bytes.len() - header
            } else {
                bytes.len()
            };
            let base = if bytes.len() > header { header } else { 0 };
            let bit = base * 8 + rng.below(span as u64 * 8) as usize;
            flip_bit(&mut bytes, bit);
            Fate::Corrupted { at, bit }
        } else if rng.chance(link.config.duplicate) {
            self.schedule(
                at,
                Pending::Arrive {
                    to,
                    id,
                    bytes: bytes.clone(),
                },
            );
            Fate::Duplicated { at, copy_at: at }
        } else {
            Fate::Delivered { at }
        };
        self.schedule(at, Pending::Arrive { to, id, bytes });
        fate
    }
}
