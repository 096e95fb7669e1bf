//! Each impairment of a link, checked on its own.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{delay_ms, pair, pattern, server_addr};
use synack_proto::{DropReason, Instant};
use synack_sim::{craft_tcp, AppOptions, Fate, HostId, LinkConfig, LossReason, Sim, TraceKind};
use synack_wire::{TcpFlags, TcpOptions};

fn client_port(p: u16) -> SocketAddr {
    SocketAddr::new("10.0.0.1".parse().unwrap(), p)
}

/// A bare RST from the client to the server's port 9 (nobody listens; a RST is never answered).
fn rst(seq: u32, payload: &[u8]) -> Vec<u8> {
    let dst: SocketAddr = "10.0.0.2:9".parse().unwrap();
    craft_tcp(
        client_port(1000),
        dst,
        seq,
        0,
        TcpFlags::RST,
        0,
        TcpOptions::default(),
        payload,
    )
    .unwrap()
}

/// Injects `n` bare RSTs from `from`, one per millisecond from t = 0, and runs until all are done.
fn inject_many(sim: &mut Sim, from: HostId, n: u32, payload: &[u8]) {
    for i in 0..n {
        sim.inject(Instant::from_millis(u64::from(i)), from, rst(i, payload));
    }
    sim.run_until_idle(Instant::from_secs(100));
}

#[test]
fn delay_gives_exact_arrival_times_per_direction() {
    let (mut sim, c, s) = pair(1, delay_ms(10));
    sim.link_oneway(s, c, delay_ms(30));
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    sim.run_for(Duration::from_millis(5));
    sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(200));
    let up = sim.packets_between(c, s);
    let down = sim.packets_between(s, c);
    // SYN sent at 5 ms arrives at 15 ms; SYN+ACK sent then arrives at 45 ms; ACK at 55 ms.
    assert_eq!(up[0].time, Instant::from_millis(5));
    assert_eq!(
        up[0].fate,
        Fate::Delivered {
            at: Instant::from_millis(15)
        }
    );
    assert_eq!(down[0].time, Instant::from_millis(15));
    assert_eq!(
        down[0].fate,
        Fate::Delivered {
            at: Instant::from_millis(45)
        }
    );
    assert_eq!(up[1].time, Instant::from_millis(45));
    assert_eq!(
        up[1].fate,
        Fate::Delivered {
            at: Instant::from_millis(55)
        }
    );
}

#[test]
fn jitter_never_reorders_by_default() {
    let link = delay_ms(20).jitter(Duration::from_millis(15));
    let (mut sim, c, _s) = pair(2, link);
    inject_many(&mut sim, c, 300, b"");
    let arrivals: Vec<Instant> = sim
        .trace()
        .packets()
        .filter_map(|p| p.fate.arrival())
        .collect();
    assert_eq!(arrivals.len(), 300);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "FIFO violated");
    // Jitter did vary the delay, within [delay, delay + jitter] of the send time where FIFO
    // did not hold a packet back.
    let delays: Vec<Duration> = sim
        .trace()
        .packets()
        .map(|p| p.fate.arrival().unwrap() - p.time)
        .collect();
    assert!(delays.iter().all(|d| *d >= Duration::from_millis(20)));
    assert!(delays.iter().any(|d| *d > Duration::from_millis(21)));
    assert!(delays.iter().any(|d| *d < Duration::from_millis(34)));
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let link = delay_ms(10).reorder(0.3, Duration::from_millis(5));
    let (mut sim, c, _s) = pair(3, link);
    inject_many(&mut sim, c, 200, b"");
    let arrivals: Vec<Instant> = sim
        .trace()
        .packets()
        .filter_map(|p| p.fate.arrival())
        .collect();
    let overtaken = arrivals.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(overtaken > 20, "only {overtaken} reorderings");
    let late = sim
        .trace()
        .packets()
        .filter(|p| p.fate.arrival() == Some(p.time + Duration::from_millis(15)))
        .count();
    assert!((30..90).contains(&late), "{late} of 200 reordered");
}

#[test]
fn rate_serialises_packets_back_to_back() {
    // 1 Mbit/s: a 1000-byte datagram takes exactly 8 ms to serialise.
    let link = delay_ms(10).rate(1_000_000, 100);
    let (mut sim, c, _s) = pair(4, link);
    let payload = vec![0u8; 1000 - 40];
    for i in 0..5 {
        sim.inject(Instant::ZERO, c, rst(i, &payload));
    }
    sim.run_until_idle(Instant::from_secs(10));
    let arrivals: Vec<Instant> = sim
        .trace()
        .packets()
        .filter_map(|p| p.fate.arrival())
        .collect();
    let expect: Vec<Instant> = (1..=5).map(|k| Instant::from_millis(8 * k + 10)).collect();
    assert_eq!(arrivals, expect);
    // A packet sent after the queue drained does not wait.
    sim.inject(Instant::from_millis(100), c, rst(9, &payload));
    sim.run_until_idle(Instant::from_secs(10));
    let last = sim.trace().packets().last().unwrap();
    assert_eq!(
        last.fate,
        Fate::Delivered {
            at: Instant::from_millis(118)
        }
    );
}

#[test]
fn full_queue_tail_drops() {
    let link = delay_ms(1).rate(1_000_000, 3);
    let (mut sim, c, _s) = pair(5, link);
    for i in 0..10 {
        sim.inject(Instant::ZERO, c, rst(i, &[0u8; 500]));
    }
    sim.run_until_idle(Instant::from_secs(10));
    let fates: Vec<Fate> = sim.trace().packets().map(|p| p.fate).collect();
    assert!(fates[..3].iter().all(Fate::is_delivered));
    assert!(fates[3..]
        .iter()
        .all(|f| *f == Fate::Lost(LossReason::QueueFull)));
}

#[test]
fn bulk_transfer_over_a_slow_link_takes_the_serialisation_time() {
    // 2 Mbit/s and 5 ms: 200 kB need at least 0.8 s on the wire.
    let link = delay_ms(5).rate(2_000_000, 1000);
    let (mut sim, c, s) = pair(6, link);
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    let data = pattern(200_000, 5);
    sim.app_send_all(c, conn, &data);
    assert!(sim.run_until_cond(Instant::from_secs(30), |sim| {
        sim.app_accepted(s)
            .first()
            .is_some_and(|&x| sim.app_received(s, x).len() == 200_000)
    }));
    assert!(sim.now() >= Instant::from_millis(800), "{}", sim.now());
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, sconn), &data[..]);
}

#[test]
fn loss_rate_matches_probability() {
    let (mut sim, c, _s) = pair(7, delay_ms(1).loss(0.3));
    inject_many(&mut sim, c, 2000, b"");
    let lost = sim
        .trace()
        .packets()
        .filter(|p| p.fate == Fate::Lost(LossReason::Random))
        .count();
    // 600 expected; the standard deviation is about 20.
    assert!((520..680).contains(&lost), "{lost} of 2000 lost");
}

#[test]
fn packets_over_the_mtu_are_dropped() {
    let (mut sim, c, s) = pair(8, delay_ms(1).mtu(576));
    sim.inject(Instant::ZERO, c, rst(1, &[0u8; 536])); // 576 bytes: fits
    sim.inject(Instant::ZERO, c, rst(2, &[0u8; 537])); // 577 bytes: too big
    sim.run_until_idle(Instant::from_secs(1));
    let p = sim.packets_between(c, s);
    assert_eq!(p[0].info.bytes.len(), 576);
    assert!(p[0].fate.is_delivered());
    assert_eq!(p[1].fate, Fate::Lost(LossReason::Mtu));
    assert_eq!(sim.endpoint(s).counters().in_segs, 1);
}

#[test]
fn duplicated_packets_arrive_twice() {
    let (mut sim, c, s) = pair(9, delay_ms(2).duplicate(1.0));
    inject_many(&mut sim, c, 10, b"");
    assert!(sim
        .trace()
        .packets()
        .all(|p| matches!(p.fate, Fate::Duplicated { .. })));
    assert_eq!(sim.endpoint(s).counters().in_segs, 20);
}

#[test]
fn data_survives_duplication_both_ways() {
    let (mut sim, c, s) = pair(10, delay_ms(2).duplicate(0.5));
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    let data = pattern(30_000, 2);
    sim.app_send_all(c, conn, &data);
    sim.run_for(Duration::from_secs(5));
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, sconn), &data[..]);
    assert!(sim.endpoint(s).counters().duplicate_data > 0);
}

#[test]
fn corruption_is_caught_by_the_receivers_checksum() {
    let (mut sim, c, s) = pair(11, delay_ms(1).corrupt(1.0));
    inject_many(&mut sim, c, 25, b"some payload");
    assert!(sim
        .trace()
        .packets()
        .all(|p| matches!(p.fate, Fate::Corrupted { .. })));
    let counters = sim.endpoint(s).counters().clone();
    assert_eq!(counters.in_csum_errors, 25);
    let rejected = sim
        .trace()
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                TraceKind::Rejected {
                    reason: DropReason::Tcp(synack_wire::Error::BadChecksum),
                    ..
                }
            )
        })
        .count();
    assert_eq!(rejected, 25);
    // The trace keeps the bytes as sent; the flipped bit is recorded.
    let p = sim.trace().packets().next().unwrap();
    let Fate::Corrupted { bit, .. } = p.fate else {
        unreachable!()
    };
    assert!(bit >= 20 * 8, "bit {bit} is in the IP header");
    let received = p.received_bytes().unwrap();
    let differing: u32 = received
        .iter()
        .zip(&p.info.bytes)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    assert_eq!(differing, 1);
}

#[test]
fn a_packet_to_an_unlinked_or_unknown_host_has_no_route() {
    let mut sim = Sim::new(12);
    let a = sim.add_host("a", "10.0.0.1".parse().unwrap(), Default::default());
    let b = sim.add_host("b", "10.0.0.2".parse().unwrap(), Default::default());
    let conn = sim.app_connect(a, "10.0.0.2:80".parse().unwrap()).unwrap();
    let _ = sim.app_connect(a, "10.9.9.9:80".parse().unwrap()).unwrap();
    sim.run_for(Duration::from_millis(10));
    let p: Vec<_> = sim.trace().packets().collect();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].to, Some(b));
    assert_eq!(p[0].fate, Fate::Lost(LossReason::NoRoute));
    assert_eq!(p[1].to, None);
    assert_eq!(p[1].fate, Fate::Lost(LossReason::NoRoute));
    assert!(sim.trace().to_string().contains("lost: no route"));
    // A second address routes to the same host, over the same link.
    sim.add_address(b, "10.0.1.2".parse().unwrap());
    sim.link(a, b, LinkConfig::default());
    sim.app_serve(b, "10.0.1.2:80".parse().unwrap(), 4, AppOptions::default())
        .unwrap();
    let conn2 = sim.app_connect(a, "10.0.1.2:80".parse().unwrap()).unwrap();
    sim.run_for(Duration::from_millis(10));
    assert_eq!(
        sim.endpoint(a).state(conn2).unwrap(),
        synack_proto::State::Established
    );
    // The first SYN is retransmitted after 1 s and now gets through (and is refused).
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        sim.app_error(a, conn),
        Some(synack_proto::Error::ConnectionRefused)
    );
}
