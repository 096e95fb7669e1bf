//! Two endpoints wired back to back with a fixed one-way delay, driven in virtual time.

use synack_proto::{Config, Endpoint, Event, Instant, State};
use synack_proto::time::Duration;

struct Pair {
    now: Instant,
    a: Endpoint,
    b: Endpoint,
    delay: Duration,
    in_flight: Vec<(Instant, bool, Vec<u8>)>, // (arrival, to_b, bytes)
    log: Vec<String>,
}

impl Pair {
    fn new() -> Self {
        let mut a = Endpoint::new(Config::default(), 1);
        a.add_address("10.0.0.1".parse().unwrap());
        let mut b = Endpoint::new(Config::default(), 2);
        b.add_address("10.0.0.2".parse().unwrap());
        Pair { now: Instant::ZERO, a, b, delay: Duration::from_millis(10), in_flight: vec![], log: vec![] }
    }
    fn collect(&mut self) {
        while let Some(p) = self.a.poll_transmit() {
            self.log.push(format!("{} a->b {}", self.now, summary(&p)));
            self.in_flight.push((self.now + self.delay, true, p));
        }
        while let Some(p) = self.b.poll_transmit() {
            self.log.push(format!("{} b->a {}", self.now, summary(&p)));
            self.in_flight.push((self.now + self.delay, false, p));
        }
        while let Some(e) = self.a.poll_event() { if let Event::StateChanged{from,to,..} = e { self.log.push(format!("{} a {from}->{to}", self.now)); } }
        while let Some(e) = self.b.poll_event() { if let Event::StateChanged{from,to,..} = e { self.log.push(format!("{} b {from}->{to}", self.now)); } }
    }
    fn step(&mut self) -> bool {
        self.collect();
        let next_pkt = self.in_flight.iter().map(|p| p.0).min();
        let ta = self.a.poll_timeout();
        let tb = self.b.poll_timeout();
        let next = [next_pkt, ta, tb].into_iter().flatten().min();
        let Some(t) = next else { return false };
        self.now = self.now.max(t);
        if let Some(i) = self.in_flight.iter().position(|p| p.0 <= self.now) {
            let (_, to_b, bytes) = self.in_flight.remove(i);
            if to_b { self.b.handle_packet(self.now, &bytes) } else { self.a.handle_packet(self.now, &bytes) }
        } else {
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
        self.collect();
        true
    }
    fn run_until(&mut self, t: Instant) {
        loop {
            self.collect();
            let next = [self.in_flight.iter().map(|p| p.0).min(), self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match next { Some(n) if n <= t => { self.step(); } _ => break }
        }
        self.now = self.now.max(t);
    }
}

fn summary(p: &[u8]) -> String {
    let ip = synack_wire::parse_ip(p).unwrap();
    let t = synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).unwrap();
    format!("{} seq={} ack={} win={} len={}", t.flags, t.seq, t.ack, t.window, t.payload.len())
}

#[test]
fn handshake_transfer_close() {
    let mut p = Pair::new();
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 16).unwrap();
    let c = p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    p.run_until(Instant::from_millis(100));
    assert_eq!(p.a.state(c).unwrap(), State::Established);
    let s = p.b.accept(l).unwrap();
    assert_eq!(p.b.state(s).unwrap(), State::Established);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    for _ in 0..100_000 {
        if sent < data.len() {
            if let Ok(n) = p.a.send(p.now, c, &data[sent..]) { sent += n; }
        }
        loop { match p.b.recv(p.now, s, &mut buf) { Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]), _ => break } }
        if got.len() == data.len() { break; }
        if !p.step() { break; }
    }
    assert_eq!(got.len(), data.len(), "log tail: {:#?}", &p.log[p.log.len().saturating_sub(30)..]);
    assert_eq!(got, data);
    p.a.close(p.now, c).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(0));
    assert_eq!(p.b.state(s).unwrap(), State::CloseWait);
    p.b.close(p.now, s).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    let tuple = synack_proto::FourTuple { local: "10.0.0.1:0".parse().unwrap(), remote: "10.0.0.2:80".parse().unwrap() };
    let _ = tuple;
    assert_eq!(p.a.resources().time_wait, 1, "{:#?}", p.log);
    assert_eq!(p.b.resources().connections, 0);
    p.run_until(p.now + Duration::from_secs(61));
    assert_eq!(p.a.resources().time_wait, 0);
    assert_eq!(p.a.resources().connections, 0);
    assert_eq!(p.a.resources().timers, 0);
    assert_eq!(p.b.resources().timers, 0);
    println!("{}", p.log[..12].join("\n"));
    println!("...\n{}", p.log[p.log.len()-14..].join("\n"));
}

#[test]
fn refused_and_syn_timeout() {
    let mut p = Pair::new();
    let c = p.a.connect(p.now, "10.0.0.2:81".parse().unwrap(), None).unwrap();
    p.run_until(Instant::from_millis(100));
    assert_eq!(p.a.state(c).unwrap(), State::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(p.now, c, &mut buf), Err(synack_proto::Error::ConnectionRefused));
    // Unreachable host: SYN retries 6 then timed out at 127 s.
    let c2 = p.a.connect(p.now, "10.0.0.3:80".parse().unwrap(), None).unwrap();
    let start = p.now;
    p.in_flight.clear();
    let mut fails = None;
    for _ in 0..1000 {
        p.in_flight.retain(|x| !x.1 || false);
        if p.a.state(c2).unwrap() == State::Closed { fails = Some(p.now - start); break; }
        if !p.step() { break; }
    }
    println!("{}", p.log.join("\n"));
    assert_eq!(fails, Some(Duration::from_secs(127)));
}
