//! synack under test: two sans-IO [`Endpoint`]s, driven directly (no simulator in between).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::cc::Algorithm;
use synack_proto::{Config, ConnHandle, Endpoint, Error, Instant, ListenerHandle};

use crate::pair::{Packet, Pair, StackParams, CLIENT};

const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const PORT: u16 = 5001;

/// The engine configuration the benchmarks give synack: Linux defaults (CUBIC, SACK, timestamps,
/// window scaling, delayed ACKs, Nagle) except the MSS and the buffers, which are fixed at the
/// sizes smoltcp gets (no auto-tuning).
pub fn config(p: &StackParams) -> Config {
    let mut c = Config {
        mss: u16::try_from(p.mtu.saturating_sub(40)).unwrap_or(u16::MAX),
        send_buffer: p.send_buffer,
        max_send_buffer: p.send_buffer,
        recv_buffer: p.recv_buffer,
        max_recv_buffer: p.recv_buffer,
        ..Config::default()
    };
    c.congestion_control = if p.reno {
        Algorithm::NewReno
    } else {
        Algorithm::Cubic
    };
    c
}

/// Two synack endpoints and the connection between them.
pub struct SynackPair {
    hosts: [Endpoint; 2],
    listener: Option<ListenerHandle>,
    client: Option<ConnHandle>,
    server: Option<ConnHandle>,
    error: Option<Error>,
    /// Datagrams an endpoint dropped on arrival (bad checksum, out of window, ...).
    pub rejected: u64,
}

impl SynackPair {
    /// Two endpoints configured by [`config`].
    pub fn new(p: &StackParams) -> Self {
        let c = config(p);
        let mut client = Endpoint::new(c.clone(), p.seed ^ 0x5a5a_0001);
        client.add_address(CLIENT_IP);
        let mut server = Endpoint::new(c, p.seed ^ 0x5a5a_0002);
        server.add_address(SERVER_IP);
        SynackPair {
            hosts: [client, server],
            listener: None,
            client: None,
            server: None,
            error: None,
            rejected: 0,
        }
    }

    /// Segments both endpoints retransmitted.
    pub fn retransmitted(&self) -> u64 {
        self.hosts.iter().map(|h| h.counters().retrans_segs).sum()
    }

    fn accept(&mut self) {
        if self.server.is_none() {
            if let Some(l) = self.listener {
                if let Ok(c) = self.hosts[1].accept(l) {
                    self.server = Some(c);
                }
            }
        }
    }
}

impl Pair for SynackPair {
    fn name(&self) -> &'static str {
        "synack"
    }

    fn start(&mut self, now: u64) -> Result<(), String> {
        let addr = SocketAddr::new(SERVER_IP, PORT);
        let l = self.hosts[1]
            .listen(addr, 16)
            .map_err(|e| format!("synack listen: {e}"))?;
        self.listener = Some(l);
        let c = self.hosts[0]
            .connect(Instant::from_micros(now), addr, None)
            .map_err(|e| format!("synack connect: {e}"))?;
        self.client = Some(c);
        Ok(())
    }

    fn deliver(&mut self, host: usize, now: u64, packet: Packet) {
        let mut datagram = packet.buf;
        datagram.truncate(packet.len);
        // By value: in-order payload stays in its datagram until the application reads it.
        if self.hosts[host]
            .handle_datagram(Instant::from_micros(now), datagram)
            .is_err()
        {
            self.rejected += 1;
        }
    }

    fn poll(&mut self, host: usize, now: u64, out: &mut Vec<Packet>) {
        let t = Instant::from_micros(now);
        let ep = &mut self.hosts[host];
        if ep.poll_timeout().is_some_and(|d| d <= t) {
            ep.handle_timeout(t);
        }
        while let Some(p) = ep.poll_transmit() {
            out.push(Packet::exact(p));
        }
        if host != CLIENT {
            self.accept();
        }
    }

    fn next_wakeup(&mut self, host: usize, _now: u64) -> Option<u64> {
        self.hosts[host].poll_timeout().map(Instant::as_micros)
    }

    fn write(&mut self, now: u64, data: &[u8]) -> usize {
        let Some(c) = self.client else { return 0 };
        match self.hosts[0].send(Instant::from_micros(now), c, data) {
            Ok(n) => n,
            Err(Error::WouldBlock) => 0,
            Err(e) => {
                self.error.get_or_insert(e);
                0
            }
        }
    }

    fn read(&mut self, now: u64, buf: &mut [u8]) -> usize {
        self.accept();
        let Some(c) = self.server else { return 0 };
        match self.hosts[1].recv(Instant::from_micros(now), c, buf) {
            Ok(n) => {
                // The datagrams read to the end go back to the client (as smoltcp's pair shares
                // one pool between its two devices), so neither side allocates per datagram.
                while let Some(spare) = self.hosts[1].take_spare() {
                    self.hosts[0].recycle(spare);
                }
                n
            }
            Err(Error::WouldBlock) => 0,
            Err(e) => {
                self.error.get_or_insert(e);
                0
            }
        }
    }

    fn error(&self) -> Option<String> {
        self.error.map(|e| e.to_string())
    }
}
