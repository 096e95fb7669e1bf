//! Hostile input: 100,000 random and mutated datagrams fed to endpoints that hold connections in
//! every state. Nothing may panic, every datagram is either taken or dropped with a reason, and
//! the counters account for every drop. Afterwards both endpoints still work.

mod common;

use common::Pair;
use synack_proto::rng::Rng;
use synack_proto::time::Duration;
use synack_proto::{Counters, DropReason, Endpoint, Instant};
use synack_wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

fn drop_total(c: &Counters) -> u64 {
    c.ip_in_hdr_errors
        + c.ip_in_addr_errors
        + c.ip_in_unknown_protos
        + c.in_errs
        + c.dropped_segs
        + c.icmp_in_errors
        + c.icmp_ignored
}

/// Connections in as many states as two hosts can show at once.
fn populate(p: &mut Pair) {
    let server = "10.0.0.2:80".parse().unwrap();
    let l = p.b.listen(server, 64).unwrap();
    let mut conns = Vec::new();
    for _ in 0..8 {
        conns.push(p.a.connect(p.now, server, None).unwrap());
    }
    p.run_until(p.now + Duration::from_millis(50));
    let mut accepted = Vec::new();
    while let Ok(s) = p.b.accept(l) {
        accepted.push(s);
    }
    // ESTABLISHED with data in flight both ways.
    p.a.send(p.now, conns[0], &[7u8; 5000]).unwrap();
    p.b.send(p.now, accepted[0], &[9u8; 3000]).unwrap();
    // FIN-WAIT-1 / CLOSE-WAIT / FIN-WAIT-2.
    p.a.shutdown(p.now, conns[1]).unwrap();
    p.a.shutdown(p.now, conns[2]).unwrap();
    // LAST-ACK and TIME-WAIT.
    p.a.close(p.now, conns[3]).unwrap();
    p.run_until(p.now + Duration::from_millis(15));
    p.b.close(p.now, accepted[3]).unwrap();
    p.b.shutdown(p.now, accepted[4]).unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    // SYN-SENT to a host that never answers, and a half-open entry from a spoofed SYN.
    p.a.connect(p.now, "10.0.0.9:80".parse().unwrap(), None)
        .unwrap();
    let syn = TcpRepr {
        src_port: 4444,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    let bytes = synack_wire::build_tcp(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        64,
        &syn,
    )
    .unwrap();
    let _ = p.b.handle_packet(p.now, &bytes);
    p.collect();
    p.in_flight.clear();
}

/// A well-formed TCP segment with random fields aimed at the endpoints' ports.
fn random_segment(rng: &mut Rng, to_b: bool, ports: &[u16]) -> Vec<u8> {
    let (src, dst) = if to_b {
        ("10.0.0.1", "10.0.0.2")
    } else {
        ("10.0.0.2", "10.0.0.1")
    };
    let pick = |rng: &mut Rng| ports[rng.below(ports.len() as u64) as usize];
    let mut options = TcpOptions::default();
    if rng.chance(0.3) {
        options.mss = Some(rng.next_u32() as u16);
    }
    if rng.chance(0.3) {
        options.window_scale = Some((rng.next_u32() % 20) as u8);
    }
    options.sack_permitted = rng.chance(0.2);
    if rng.chance(0.5) {
        options.timestamps = Some(Timestamps {
            tsval: rng.next_u32(),
            tsecr: rng.next_u32(),
        });
    }
    if rng.chance(0.2) {
        let mut b = SackBlocks::new();
        for _ in 0..rng.below(4) {
            b.push(SackBlock {
                left: rng.next_u32(),
                right: rng.next_u32(),
            });
        }
        options.sack = b;
    }
    let payload: Vec<u8> = (0..rng.below(3000)).map(|_| rng.next_u32() as u8).collect();
    let seg = TcpRepr {
        src_port: pick(rng),
        dst_port: pick(rng),
        seq: rng.next_u32(),
        ack: rng.next_u32(),
        flags: TcpFlags((rng.next_u32() & 0xff) as u8),
        window: rng.next_u32() as u16,
        urgent: 0,
        options,
        payload: &payload,
    };
    synack_wire::build_tcp(src.parse().unwrap(), dst.parse().unwrap(), 64, &seg).unwrap()
}

fn mutate(rng: &mut Rng, mut p: Vec<u8>) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            let n = rng.below(8) + 1;
            for _ in 0..n {
                if p.is_empty() {
                    break;
                }
                let i = rng.below(p.len() as u64) as usize;
                p[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let keep = rng.below(p.len() as u64 + 1) as usize;
            p.truncate(keep);
        }
        2 => {
            let extra = rng.below(64);
            for _ in 0..extra {
                p.push(rng.next_u32() as u8);
            }
        }
        _ => {
            let i = rng.below(p.len().max(1) as u64) as usize;
            if i < p.len() {
                p[i] = rng.next_u32() as u8;
            }
        }
    }
    p
}

fn feed(ep: &mut Endpoint, now: Instant, bytes: &[u8]) {
    let before = drop_total(ep.counters());
    let result = ep.handle_packet(now, bytes);
    let after = drop_total(ep.counters());
    match result {
        Ok(()) => assert_eq!(after, before, "accepted input must not count a drop"),
        Err(reason) => {
            assert_eq!(
                after,
                before + 1,
                "drop {reason:?} counted {} times",
                after - before
            );
            let _ = format!("{reason}");
            if let DropReason::Ip(_) | DropReason::Tcp(_) = reason {}
        }
    }
}

#[test]
fn random_and_mutated_segments_never_panic_and_every_drop_is_counted() {
    let mut p = Pair::new();
    populate(&mut p);
    let mut rng = Rng::new(0x5eed);
    let mut ports: Vec<u16> = vec![80, 81, 4444, 32768, 60999, 0];
    // The ephemeral ports the client actually uses.
    for port in 32768..=60999u16 {
        if ports.len() > 40 {
            break;
        }
        let t = synack_proto::FourTuple {
            local: std::net::SocketAddr::new("10.0.0.1".parse().unwrap(), port),
            remote: "10.0.0.2:80".parse().unwrap(),
        };
        if p.a.state_of(&t).is_some() {
            ports.push(port);
        }
    }
    assert!(ports.len() > 8, "connections were set up");
    let mut seen = Vec::new();
    for i in 0..100_000u32 {
        let to_b = rng.chance(0.5);
        let bytes = match rng.below(4) {
            0 => (0..rng.below(120)).map(|_| rng.next_u32() as u8).collect(),
            1 | 2 => random_segment(&mut rng, to_b, &ports),
            _ => {
                let base = random_segment(&mut rng, to_b, &ports);
                mutate(&mut rng, base)
            }
        };
        p.now += Duration::from_micros(rng.below(2000));
        if to_b {
            feed(&mut p.b, p.now, &bytes);
        } else {
            feed(&mut p.a, p.now, &bytes);
        }
        if i % 64 == 0 {
            p.a.handle_timeout(p.now);
            p.b.handle_timeout(p.now);
        }
        // Whatever the endpoints answer must itself be well-formed.
        while let Some(out) = p.a.poll_transmit().or_else(|| p.b.poll_transmit()) {
            let ip = synack_wire::parse_ip(&out).expect("own output parses");
            synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true)
                .expect("own output has a valid checksum");
            seen.push(out.len());
        }
        while p.a.poll_event().is_some() || p.b.poll_event().is_some() {}
    }
    assert!(!seen.is_empty(), "the endpoints answered some input");
    let c = p.b.counters();
    assert!(c.in_csum_errors > 0 && c.ip_in_hdr_errors > 0 && c.dropped_segs > 0);

    // Both still work: a fresh connection completes and moves data.
    p.in_flight.clear();
    let l = p.b.listen("10.0.0.2:8080".parse().unwrap(), 4).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:8080".parse().unwrap(), None)
            .unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    let s = p.b.accept(l).expect("handshake completed after the storm");
    p.a.send(p.now, c, b"still alive").unwrap();
    p.run_until(p.now + Duration::from_millis(100));
    let mut buf = [0u8; 32];
    let n = p.b.recv(p.now, s, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"still alive");
}
