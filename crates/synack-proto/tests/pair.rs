//! Two endpoints wired back to back with a fixed one-way delay, driven in virtual time.

mod common;

use common::Pair;
use synack_proto::time::Duration;
use synack_proto::{Instant, State};

#[test]
fn handshake_transfer_close() {
    let mut p = Pair::new();
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 16).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
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
            if let Ok(n) = p.a.send(p.now, c, &data[sent..]) {
                sent += n;
            }
        }
        loop {
            match p.b.recv(p.now, s, &mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        if got.len() == data.len() {
            break;
        }
        if !p.step() {
            break;
        }
    }
    assert_eq!(
        got.len(),
        data.len(),
        "log tail: {:#?}",
        &p.log[p.log.len().saturating_sub(30)..]
    );
    assert_eq!(got, data);
    p.a.close(p.now, c).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(0));
    assert_eq!(p.b.state(s).unwrap(), State::CloseWait);
    p.b.close(p.now, s).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    let tuple = synack_proto::FourTuple {
        local: "10.0.0.1:0".parse().unwrap(),
        remote: "10.0.0.2:80".parse().unwrap(),
    };
    let _ = tuple;
    assert_eq!(p.a.resources().time_wait, 1, "{:#?}", p.log);
    assert_eq!(p.b.resources().connections, 0);
    p.run_until(p.now + Duration::from_secs(61));
    assert_eq!(p.a.resources().time_wait, 0);
    assert_eq!(p.a.resources().connections, 0);
    assert_eq!(p.a.resources().timers, 0);
    assert_eq!(p.b.resources().timers, 0);
    println!("{}", p.log[..12].join("\n"));
    println!("...\n{}", p.log[p.log.len() - 14..].join("\n"));
}

#[test]
fn refused_and_syn_timeout() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, "10.0.0.2:81".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    assert_eq!(p.a.state(c).unwrap(), State::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(
        p.a.recv(p.now, c, &mut buf),
        Err(synack_proto::Error::ConnectionRefused)
    );
    // Unreachable host: SYN retries 6 then timed out at 127 s.
    let c2 =
        p.a.connect(p.now, "10.0.0.3:80".parse().unwrap(), None)
            .unwrap();
    let start = p.now;
    p.in_flight.clear();
    let mut fails = None;
    for _ in 0..1000 {
        p.in_flight.retain(|x| !x.1);
        if p.a.state(c2).unwrap() == State::Closed {
            fails = Some(p.now - start);
            break;
        }
        if !p.step() {
            break;
        }
    }
    println!("{}", p.log.join("\n"));
    assert_eq!(fails, Some(Duration::from_secs(127)));
}

#[test]
fn zero_window_stops_the_sender_and_probes_until_it_reopens() {
    let mut p = Pair::new();
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 16).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    let s = p.b.accept(l).unwrap();
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 253) as u8).collect();
    let mut sent = 0;
    // The receiver does not read for 20 s.
    let until = p.now + Duration::from_secs(20);
    while p.now < until {
        if sent < data.len() {
            if let Ok(n) = p.a.send(p.now, c, &data[sent..]) {
                sent += n;
            }
        }
        if !p.step() {
            break;
        }
    }
    let info = p.b.info(s).unwrap();
    // Full, to within silly-window avoidance and the window-scale granularity.
    assert!(
        info.recv_buffered > 128 * 1024 - 2 * 1448,
        "the receive buffer filled: {}",
        info.recv_buffered
    );
    assert_eq!(info.rcv_wnd, 0, "and the advertised window is zero");
    assert_eq!(info.out_of_order, 0);
    assert_eq!(
        p.a.info(c).unwrap().snd_wnd,
        0,
        "the sender saw the zero window"
    );
    let probes = p
        .log
        .iter()
        .filter(|l| l.contains("a->b ACK") && l.ends_with("len=0"))
        .count();
    assert!(probes >= 3, "the sender probes the zero window: {probes}");
    // Now the application reads everything; the window reopens and the rest flows.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..200_000 {
        if sent < data.len() {
            if let Ok(n) = p.a.send(p.now, c, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = p.b.recv(p.now, s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() || !p.step() {
            break;
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}

#[test]
fn ipv6_handshake_transfer_and_close() {
    let mut p = Pair::with_addrs("fd00::1", "fd00::2");
    let l = p.b.listen("[fd00::2]:443".parse().unwrap(), 8).unwrap();
    let c =
        p.a.connect(p.now, "[fd00::2]:443".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    let s = p.b.accept(l).unwrap();
    let info = p.a.info(c).unwrap();
    assert_eq!(info.peer_mss, 1440, "IPv6 MSS is 20 bytes less than IPv4's");
    assert_eq!(info.snd_mss, 1440 - 12, "less the timestamp option");
    assert!(info.sack && info.timestamps && info.snd_wscale == 7);
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        if sent < data.len() {
            if let Ok(n) = p.a.send(p.now, c, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = p.b.recv(p.now, s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() || !p.step() {
            break;
        }
    }
    assert!(got == data);
    p.a.close(p.now, c).unwrap();
    p.b.close(p.now, s).unwrap();
    p.run_until(p.now + Duration::from_secs(70));
    assert_eq!(p.a.resources(), synack_proto::Resources::default());
    assert_eq!(p.b.resources().connections, 0);
    assert_eq!(p.b.resources().time_wait, 0);
}
