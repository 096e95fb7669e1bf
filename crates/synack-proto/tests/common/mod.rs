//! A two-endpoint harness with a fixed one-way delay, driven in virtual time (shared by the
//! engine's integration tests; the full simulator lives in `synack-sim`).
#![allow(dead_code)]

pub mod scripted;

use synack_proto::time::Duration;
use synack_proto::{Config, Endpoint, Event, Instant};

pub struct Pair {
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub delay: Duration,
    pub in_flight: Vec<(Instant, bool, Vec<u8>)>, // (arrival, to_b, bytes)
    pub log: Vec<String>,
    /// Drop everything a sends to b (the path is cut).
    pub cut_a_to_b: bool,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_addrs("10.0.0.1", "10.0.0.2")
    }
    pub fn with_addrs(a_addr: &str, b_addr: &str) -> Self {
        Self::build(a_addr, b_addr, Config::default())
    }
    /// Both ends with `config`, at 10.0.0.1 and 10.0.0.2.
    #[allow(dead_code)]
    pub fn with_config(config: Config) -> Self {
        Self::build("10.0.0.1", "10.0.0.2", config)
    }
    fn build(a_addr: &str, b_addr: &str, config: Config) -> Self {
        let mut a = Endpoint::new(config.clone(), 1);
        a.add_address(a_addr.parse().unwrap());
        let mut b = Endpoint::new(config, 2);
        b.add_address(b_addr.parse().unwrap());
        Pair {
            now: Instant::ZERO,
            a,
            b,
            delay: Duration::from_millis(10),
            in_flight: vec![],
            log: vec![],
            cut_a_to_b: false,
        }
    }
    pub fn collect(&mut self) {
        while let Some(p) = self.a.poll_transmit() {
            self.log.push(format!("{} a->b {}", self.now, summary(&p)));
            if !self.cut_a_to_b {
                self.in_flight.push((self.now + self.delay, true, p));
            }
        }
        while let Some(p) = self.b.poll_transmit() {
            self.log.push(format!("{} b->a {}", self.now, summary(&p)));
            self.in_flight.push((self.now + self.delay, false, p));
        }
        while let Some(e) = self.a.poll_event() {
            if let Event::StateChanged { from, to, .. } = e {
                self.log.push(format!("{} a {from}->{to}", self.now));
            }
        }
        while let Some(e) = self.b.poll_event() {
            if let Event::StateChanged { from, to, .. } = e {
                self.log.push(format!("{} b {from}->{to}", self.now));
            }
        }
    }
    pub fn step(&mut self) -> bool {
        self.collect();
        let next_pkt = self.in_flight.iter().map(|p| p.0).min();
        let ta = self.a.poll_timeout();
        let tb = self.b.poll_timeout();
        let next = [next_pkt, ta, tb].into_iter().flatten().min();
        let Some(t) = next else { return false };
        self.now = self.now.max(t);
        if let Some(i) = self.in_flight.iter().position(|p| p.0 <= self.now) {
            let (_, to_b, bytes) = self.in_flight.remove(i);
            if to_b {
                let _ = self.b.handle_packet(self.now, &bytes);
            } else {
                let _ = self.a.handle_packet(self.now, &bytes);
            }
        } else {
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
        self.collect();
        true
    }
    pub fn run_until(&mut self, t: Instant) {
        loop {
            self.collect();
            let next = [
                self.in_flight.iter().map(|p| p.0).min(),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(n) if n <= t => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
    }
}

pub fn summary(p: &[u8]) -> String {
    let ip = synack_wire::parse_ip(p).unwrap();
    let t = synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).unwrap();
    format!(
        "{} seq={} ack={} win={} len={}",
        t.flags,
        t.seq,
        t.ack,
        t.window,
        t.payload.len()
    )
}
