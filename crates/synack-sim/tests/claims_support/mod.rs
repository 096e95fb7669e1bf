//! Shared helpers of the seed-claim scenario tests (`claims_*.rs`, `lifecycle_property.rs`).
//!
//! Two hosts, `client` (10.0.0.1) and `server` (10.0.0.2), joined by a link with a 10 ms one-way
//! delay unless a test says otherwise, so that every segment's send and arrival time is distinct
//! and exact. Tests act as the applications through the endpoints directly and read what happened
//! from the simulator's trace: segments (as [`Seg`]) and state changes.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use synack_proto::{
    Config, ConnHandle, Duration, Endpoint, Error, Event, FourTuple, Instant, ListenerHandle, State,
};
use synack_sim::{Fate, HostId, LinkConfig, Sim, TraceKind};
use synack_wire::{TcpFlags, TcpOptions};

pub const CLIENT_IP: &str = "10.0.0.1";
pub const SERVER_IP: &str = "10.0.0.2";
/// The port the server listens on.
pub const PORT: u16 = 80;
/// The client's fixed local port, so that tuples are known in advance.
pub const CLIENT_PORT: u16 = 40000;
/// One-way delay of the default link.
pub const DELAY: Duration = Duration::from_millis(10);

pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FIN: TcpFlags = TcpFlags::FIN;
pub const RST: TcpFlags = TcpFlags::RST;
pub const PSH: TcpFlags = TcpFlags::PSH;

/// `n` milliseconds after the start of the simulation.
pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A duration of `n` milliseconds.
pub fn d_ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A duration of `n` seconds.
pub fn d_s(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

pub fn sock(ip_text: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(ip_text), port)
}

/// The server's listening address.
pub fn server_addr() -> SocketAddr {
    sock(SERVER_IP, PORT)
}

/// The client's fixed local address.
pub fn client_addr() -> SocketAddr {
    sock(CLIENT_IP, CLIENT_PORT)
}

/// The client's view of the standard connection's 4-tuple.
pub fn client_tuple() -> FourTuple {
    FourTuple {
        local: client_addr(),
        remote: server_addr(),
    }
}

/// A client and a server host with the given configurations, joined by `link` both ways.
pub struct Net {
    pub sim: Sim,
    pub client: HostId,
    pub server: HostId,
}

impl Net {
    /// Default configurations and a 10 ms link.
    pub fn new(seed: u64) -> Self {
        Self::with(
            seed,
            Config::default(),
            Config::default(),
            LinkConfig::with_delay(DELAY),
        )
    }

    pub fn with(seed: u64, client_cfg: Config, server_cfg: Config, link: LinkConfig) -> Self {
        let mut sim = Sim::new(seed);
        let client = sim.add_host("client", ip(CLIENT_IP), client_cfg);
        let server = sim.add_host("server", ip(SERVER_IP), server_cfg);
        sim.link(client, server, link);
        Self {
            sim,
            client,
            server,
        }
    }

    /// `listen()` on the server (not accepted automatically).
    pub fn listen(&mut self, addr: SocketAddr, backlog: u32) -> ListenerHandle {
        self.sim
            .with_endpoint(self.server, |ep, _| ep.listen(addr, backlog))
            .expect("listen")
    }

    /// `connect()` from `host` to `remote`, from `local` when given.
    pub fn connect(
        &mut self,
        host: HostId,
        remote: SocketAddr,
        local: Option<SocketAddr>,
    ) -> ConnHandle {
        self.sim
            .with_endpoint(host, |ep, now| ep.connect(now, remote, local))
            .expect("connect")
    }

    /// `accept()` on the server.
    pub fn accept(&mut self, l: ListenerHandle) -> Result<ConnHandle, Error> {
        self.sim.with_endpoint(self.server, |ep, _| ep.accept(l))
    }

    /// `send()` of all of `data` (it must fit in the send buffer).
    pub fn send(&mut self, host: HostId, conn: ConnHandle, data: &[u8]) {
        let n = self
            .sim
            .with_endpoint(host, |ep, now| ep.send(now, conn, data))
            .expect("send");
        assert_eq!(n, data.len(), "the send buffer took only part of the data");
    }

    /// `close()`.
    pub fn close(&mut self, host: HostId, conn: ConnHandle) {
        self.sim
            .with_endpoint(host, |ep, now| ep.close(now, conn))
            .expect("close");
    }

    /// `shutdown(SHUT_WR)`.
    pub fn shutdown(&mut self, host: HostId, conn: ConnHandle) {
        self.sim
            .with_endpoint(host, |ep, now| ep.shutdown(now, conn))
            .expect("shutdown");
    }

    /// `abort()` (RST).
    pub fn abort(&mut self, host: HostId, conn: ConnHandle) {
        self.sim
            .with_endpoint(host, |ep, now| ep.abort(now, conn))
            .expect("abort");
    }

    /// One `recv()` into a 64 KiB buffer: `Ok(bytes)` (empty at end of stream) or the error.
    pub fn recv(&mut self, host: HostId, conn: ConnHandle) -> Result<Vec<u8>, Error> {
        self.sim.with_endpoint(host, |ep, now| {
            let mut buf = vec![0u8; 64 * 1024];
            ep.recv(now, conn, &mut buf).map(|n| buf[..n].to_vec())
        })
    }

    /// Every byte readable now (stops at `WouldBlock`, end of stream or an error).
    pub fn read_available(&mut self, host: HostId, conn: ConnHandle) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(chunk) = self.recv(host, conn) {
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        out
    }

    pub fn ep(&self, host: HostId) -> &Endpoint {
        self.sim.endpoint_ref(host)
    }

    /// Runs until `t` (inclusive).
    pub fn run_until(&mut self, t: Instant) {
        self.sim.run_until(t);
    }

    /// Every segment `from` sent towards `to`.
    pub fn segs(&self, from: HostId, to: HostId) -> Vec<Seg> {
        segs_where(&self.sim, |s| s.from == from && s.to == Some(to))
    }

    /// The segments `from` sent after `t` (inclusive) towards `to`.
    pub fn segs_since(&self, from: HostId, to: HostId, t: Instant) -> Vec<Seg> {
        segs_where(&self.sim, |s| {
            s.from == from && s.to == Some(to) && s.sent >= t
        })
    }

    /// The state changes `host` reported for `tuple` (its own view): (time, from, to).
    pub fn transitions(&self, host: HostId, tuple: FourTuple) -> Vec<(Instant, State, State)> {
        transitions(&self.sim, host, tuple)
    }

    /// The whole trace, one line per event (for failure messages).
    pub fn dump(&self) -> String {
        self.sim.trace().to_string()
    }

    /// Drains the endpoint events of `host` the test has not read yet.
    pub fn events(&mut self, host: HostId) -> Vec<Event> {
        std::iter::from_fn(|| self.sim.poll_event(host)).collect()
    }

    /// The error of the `Event::Closed` of `conn` on `host`: `None` when the connection never
    /// reported CLOSED, `Some(None)` for an orderly close.
    pub fn closed_error(&self, host: HostId, conn: ConnHandle) -> Option<Option<Error>> {
        self.sim.trace().events().iter().find_map(|e| match e.kind {
            TraceKind::ConnClosed {
                host: h,
                conn: c,
                error,
            } if h == host && c == conn => Some(error),
            _ => None,
        })
    }

    /// The time at which `conn` of `host` reported CLOSED.
    pub fn closed_at(&self, host: HostId, conn: ConnHandle) -> Option<Instant> {
        self.sim.trace().events().iter().find_map(|e| match e.kind {
            TraceKind::ConnClosed {
                host: h, conn: c, ..
            } if h == host && c == conn => Some(e.time),
            _ => None,
        })
    }
}

/// An established connection made by [`establish`].
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub listener: ListenerHandle,
    pub client: ConnHandle,
    pub server: ConnHandle,
    /// The client's ISN (x in the notes).
    pub x: u32,
    /// The server's ISN (y in the notes).
    pub y: u32,
}

impl Conn {
    /// The 4-tuple from the client's side.
    pub fn tuple(&self) -> FourTuple {
        client_tuple()
    }

    /// The 4-tuple from the server's side.
    pub fn server_tuple(&self) -> FourTuple {
        client_tuple().reversed()
    }
}

/// The standard three-way handshake: the server listens on port 80 (backlog 16), the client
/// connects from port 40000 at time 0; with the default link: SYN at 0, SYN+ACK at 10 ms, ACK at
/// 20 ms arriving at 30 ms; the server accepts then (after three one-way delays of the link).
pub fn establish(net: &mut Net) -> Conn {
    let listener = net.listen(server_addr(), 16);
    let client = net.connect(net.client, server_addr(), Some(client_addr()));
    let delay = net
        .sim
        .link_config(net.client, net.server)
        .map_or(DELAY, |l| l.delay);
    net.run_until(net.sim.now() + 3 * delay);
    let server = net
        .accept(listener)
        .unwrap_or_else(|e| panic!("accept: {e}\n{}", net.dump()));
    let ci = net.ep(net.client).info(client).expect("client info");
    let si = net.ep(net.server).info(server).expect("server info");
    assert_eq!(ci.state, State::Established, "{}", net.dump());
    assert_eq!(si.state, State::Established, "{}", net.dump());
    assert_eq!((si.irs, ci.irs), (ci.iss, si.iss), "ISNs agree");
    Conn {
        listener,
        client,
        server,
        x: ci.iss,
        y: si.iss,
    }
}

/// One segment as the trace recorded it, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub sent: Instant,
    /// First arrival, `None` when lost.
    pub arrived: Option<Instant>,
    pub fate: Fate,
    pub from: HostId,
    pub to: Option<HostId>,
    pub injected: bool,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub len: usize,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    /// The whole IP datagram.
    pub bytes: Vec<u8>,
}

impl Seg {
    /// The raw TCP option bytes (between the fixed header and the payload).
    pub fn option_bytes(&self) -> &[u8] {
        let ihl = usize::from(self.bytes[0] & 0x0f) * 4;
        let data_offset = usize::from(self.bytes[ihl + 12] >> 4) * 4;
        &self.bytes[ihl + 20..ihl + data_offset]
    }

    /// Sequence space the segment occupies.
    pub fn seq_len(&self) -> u32 {
        self.len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

impl std::fmt::Display for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} > {} {} seq={} ack={} len={} ({})",
            self.sent, self.src, self.dst, self.flags, self.seq, self.ack, self.len, self.fate
        )
    }
}

/// The segments of the trace that `keep` accepts, in send order.
pub fn segs_where(sim: &Sim, mut keep: impl FnMut(&Seg) -> bool) -> Vec<Seg> {
    sim.trace()
        .packets()
        .filter(|p| p.info.is_tcp)
        .map(|p| Seg {
            sent: p.time,
            arrived: p.fate.arrival(),
            fate: p.fate,
            from: p.from,
            to: p.to,
            injected: p.injected,
            src: p.info.src,
            dst: p.info.dst,
            flags: p.info.flags,
            seq: p.info.seq,
            ack: p.info.ack,
            window: p.info.window,
            len: p.info.payload_len,
            options: p.info.options,
            payload: p.info.payload().to_vec(),
            bytes: p.info.bytes.clone(),
        })
        .filter(|s| keep(s))
        .collect()
}

/// The segments sent to `dst` (an address that may belong to no host).
pub fn segs_to(sim: &Sim, dst: SocketAddr) -> Vec<Seg> {
    segs_where(sim, |s| s.dst == dst)
}

/// The state changes `host` reported for `tuple`: (time, from, to).
pub fn transitions(sim: &Sim, host: HostId, tuple: FourTuple) -> Vec<(Instant, State, State)> {
    sim.trace()
        .state_changes(host)
        .into_iter()
        .filter(|(_, t, _, _)| *t == tuple)
        .map(|(at, _, from, to)| (at, from, to))
        .collect()
}

/// Asserts one segment's send time, exact flags, sequence and acknowledgment numbers and payload
/// length.
#[track_caller]
pub fn assert_seg(seg: &Seg, sent: Instant, flags: TcpFlags, seq: u32, ack: u32, len: usize) {
    let want = format!("{sent} {flags} seq={seq} ack={ack} len={len}");
    let got = format!(
        "{} {} seq={} ack={} len={}",
        seg.sent, seg.flags, seg.seq, seg.ack, seg.len
    );
    assert_eq!(got, want, "segment differs: {seg}");
}

/// Asserts the exact list of (send time, flags, seq, ack, len) of `segs`.
#[track_caller]
pub fn assert_segs(segs: &[Seg], want: &[(Instant, TcpFlags, u32, u32, usize)], trace: &str) {
    let got: Vec<String> = segs
        .iter()
        .map(|s| {
            format!(
                "{} {} seq={} ack={} len={}",
                s.sent, s.flags, s.seq, s.ack, s.len
            )
        })
        .collect();
    let want: Vec<String> = want
        .iter()
        .map(|(t, f, seq, ack, len)| format!("{t} {f} seq={seq} ack={ack} len={len}"))
        .collect();
    assert_eq!(got, want, "segments differ; trace:\n{trace}");
}

/// The deterministic test payload of `len` bytes (a pattern that shows misordering).
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 251) as u8) ^ salt).collect()
}

/// `a + n` in sequence space.
pub fn add(a: u32, n: u32) -> u32 {
    a.wrapping_add(n)
}
