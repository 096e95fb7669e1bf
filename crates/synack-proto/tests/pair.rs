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
    let buffer = synack_proto::Config::default().recv_buffer;
    assert!(
        info.recv_buffered > buffer - 2 * 1448,
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

fn established_pair() -> (Pair, synack_proto::ConnHandle, synack_proto::ConnHandle) {
    established_pair_with(synack_proto::Config::default())
}

fn established_pair_with(
    config: synack_proto::Config,
) -> (Pair, synack_proto::ConnHandle, synack_proto::ConnHandle) {
    let mut p = Pair::with_config(config);
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 4).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_millis(100));
    let s = p.b.accept(l).unwrap();
    (p, c, s)
}

#[test]
fn keepalive_probes_an_idle_peer_and_gives_up_after_the_probe_count() {
    let (mut p, c, _s) = established_pair();
    let ka = synack_proto::Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 3,
    };
    p.a.set_keepalive(p.now, c, Some(ka)).unwrap();
    let start = p.now;
    // The peer answers the probes: the connection stays up.
    p.run_until(start + Duration::from_secs(35));
    assert_eq!(p.a.state(c).unwrap(), State::Established);
    let probes = p.a.counters().keepalive_probes;
    assert_eq!(probes, 3, "one probe per idle period of 10 s");
    // Now the peer vanishes: probes at +10 s, then every 2 s; after 3 unanswered, timed out.
    p.b = synack_proto::Endpoint::new(synack_proto::Config::default(), 9);
    p.in_flight.clear();
    let t0 = p.now;
    let mut closed_at = None;
    while p.now < t0 + Duration::from_secs(60) {
        p.in_flight.retain(|x| !x.1);
        if p.a.state(c).unwrap() == State::Closed {
            closed_at = Some(p.now);
            break;
        }
        if !p.step() {
            break;
        }
    }
    assert_timed_out(&mut p, c);
    assert_eq!(p.a.counters().keepalive_probes, probes + 3);
    // Each answered probe left 10 s after the previous answer, which took one 20 ms round trip:
    // the third answer arrived at +30.06 s. Then idle 10 s, 3 probes 2 s apart, and the end 2 s
    // after the third.
    assert_eq!(
        closed_at,
        Some(start + Duration::from_millis(3 * 10_020 + 10_000 + 3 * 2_000))
    );
    assert!(
        p.log.iter().rev().take(3).any(|l| l.contains("a->b RST")),
        "Linux resets the connection when keepalive gives up"
    );
}

#[test]
fn user_timeout_aborts_unacknowledged_data_at_exactly_that_time() {
    let (mut p, c, _s) = established_pair();
    p.a.set_user_timeout(c, Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = p.now;
    p.cut_a_to_b = true;
    p.a.send(p.now, c, b"nobody hears this").unwrap();
    let mut closed_at = None;
    while p.now < t0 + Duration::from_secs(60) {
        if p.a.state(c).unwrap() == State::Closed {
            closed_at = Some(p.now);
            break;
        }
        if !p.step() {
            break;
        }
    }
    assert_eq!(closed_at, Some(t0 + Duration::from_secs(5)), "{:#?}", p.log);
    assert_timed_out(&mut p, c);
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp() {
    let (mut p, _c, s) = established_pair();
    let info = p.b.info(s).unwrap();
    assert!(info.timestamps);
    let tuple = info.tuple;
    // The peer's clock as b saw it last: read it from a's next segment.
    p.a.send(p.now, _c, b"x").unwrap();
    p.collect();
    let (_, _, seg) = p.in_flight.iter().find(|x| x.1).unwrap().clone();
    p.run_until(p.now + Duration::from_millis(100));
    let ip = synack_wire::parse_ip(&seg).unwrap();
    let recent = synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true)
        .unwrap()
        .options
        .timestamps
        .unwrap()
        .tsval;
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(1));
    let info = p.b.info(s).unwrap();
    // An old duplicate: in-window sequence number, but a timestamp from the past.
    // An old duplicate: in-window sequence number, but a timestamp from the past.
    let old = synack_wire::TcpRepr {
        src_port: tuple.remote.port(),
        dst_port: tuple.local.port(),
        seq: info.rcv_nxt,
        ack: info.snd_nxt,
        flags: synack_wire::TcpFlags::ACK | synack_wire::TcpFlags::PSH,
        window: 1000,
        urgent: 0,
        options: synack_wire::TcpOptions {
            timestamps: Some(synack_wire::Timestamps {
                tsval: recent.wrapping_sub(10_000),
                tsecr: 0,
            }),
            ..Default::default()
        },
        payload: b"stale",
    };
    let bytes = synack_wire::build_tcp(tuple.remote.ip(), tuple.local.ip(), 64, &old).unwrap();
    assert!(p.b.handle_packet(p.now, &bytes).is_err());
    assert_eq!(p.b.counters().paws_rejected, 1);
    assert_eq!(p.b.recv_available(s).unwrap(), 0, "nothing delivered");
    assert!(p.b.poll_transmit().is_some(), "answered with an ACK");
}

/// The TCP segments among `datagrams`, parsed: (sequence number, ack number, payload length).
/// A segment's sequence number, acknowledgment number and payload length.
type Segment = (u32, u32, usize);

fn segments(datagrams: &[Vec<u8>]) -> Vec<Segment> {
    datagrams
        .iter()
        .map(|d| {
            let ip = synack_wire::parse_ip(d).unwrap();
            let tcp =
                synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).unwrap();
            (tcp.seq, tcp.ack, tcp.payload.len())
        })
        .collect()
}

fn drain(e: &mut synack_proto::Endpoint) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

#[test]
fn segments_handed_over_together_are_acknowledged_together() {
    let (mut p, c, s) = established_pair();
    p.collect();
    p.in_flight.clear();
    let mut buf = vec![0u8; 1 << 20];
    // A burst delivered before the server polls, in quick-ACK mode (the connection's first data),
    // where each segment calls for an ACK of its own: one ACK covers all of it.
    p.a.send(p.now, c, &[7u8; 16 * 1024]).unwrap();
    let burst = drain(&mut p.a);
    let sent = segments(&burst);
    assert!(sent.len() >= 8, "{sent:?}");
    for d in &burst {
        p.b.handle_packet(p.now, d).unwrap();
    }
    let raw = drain(&mut p.b);
    let answers = segments(&raw);
    let (seq, _, len) = sent[sent.len() - 1];
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers[0].1,
        seq.wrapping_add(len as u32),
        "the ACK covers the burst"
    );
    for a in raw {
        p.a.handle_packet(p.now, &a).unwrap();
    }
    while p.b.recv(p.now, s, &mut buf).unwrap_or(0) > 0 {}
    for a in drain(&mut p.b) {
        p.a.handle_packet(p.now, &a).unwrap();
    }
    // Then a bulk transfer, every datagram delivered on its own and read at once (data left
    // unread holds back an ACK that would shrink the window until the read, as on Linux),
    // counted once quick-ACK mode is over (from round 25 on): an ACK at least every second
    // full-sized segment.
    let mut acks_one_by_one = 0;
    let mut data_one_by_one = 0;
    for round in 0..40 {
        let _ = p.a.send(p.now, c, &[round as u8; 16 * 1024]);
        for d in drain(&mut p.a) {
            data_one_by_one += 1;
            p.b.handle_packet(p.now, &d).unwrap();
            let mut answers = drain(&mut p.b);
            while p.b.recv(p.now, s, &mut buf).unwrap_or(0) > 0 {}
            answers.extend(drain(&mut p.b));
            if round >= 25 {
                acks_one_by_one += answers.len();
            } else if round == 24 {
                acks_one_by_one = 0;
                data_one_by_one = 0;
            }
            for a in answers {
                p.a.handle_packet(p.now, &a).unwrap();
            }
        }
        p.now += Duration::from_millis(1);
    }
    assert!(
        2 * acks_one_by_one >= data_one_by_one,
        "{acks_one_by_one} ACKs for {data_one_by_one} segments"
    );

    // Out-of-order data: the first three duplicate ACKs of a hole go at once, batch or not;
    // later ones are held back (SACK compression, Linux tcp_comp_sack_delay_ns and
    // tcp_comp_sack_nr) and go as one ACK when the compression timer fires, within 1 ms,
    // carrying the SACK block of all the data after the hole.
    let (burst, dupacks) = burst_after_a_hole(&mut p, c);
    assert_eq!(dupacks.len(), 3, "{dupacks:?}");
    let due = p.b.poll_timeout().expect("the held ACK's timer");
    assert!(due <= p.now + Duration::from_millis(1), "{due:?}");
    p.b.handle_timeout(due);
    let held = drain(&mut p.b);
    assert_eq!(held.len(), 1, "{:?}", segments(&held));
    let ip = synack_wire::parse_ip(&held[0]).unwrap();
    let tcp = synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).unwrap();
    let (last_seq, _, last_len) = segments(&burst)[burst.len() - 1];
    let first_after_hole = segments(&burst[1..2])[0].0;
    assert_eq!(tcp.ack, segments(&burst[..1])[0].0);
    assert_eq!(
        tcp.options
            .sack
            .as_slice()
            .first()
            .map(|b| (b.left, b.right)),
        Some((first_after_hole, last_seq.wrapping_add(last_len as u32))),
        "{:?}",
        tcp.options.sack
    );
    assert_eq!(
        p.b.counters().ack_compressed,
        (burst.len() - 1 - 3 - 1) as u64
    );
}

/// The client sends 8 KiB whose first segment is lost, handed to the server together; returns
/// what the client sent and the server's immediate answers, each of which must acknowledge the
/// hole.
fn burst_after_a_hole(p: &mut Pair, c: synack_proto::ConnHandle) -> (Vec<Vec<u8>>, Vec<Segment>) {
    p.a.send(p.now, c, &[8u8; 8 * 1024]).unwrap();
    let burst = drain(&mut p.a);
    assert!(burst.len() >= 5, "{} datagrams", burst.len());
    for d in &burst[1..] {
        p.b.handle_packet(p.now, d).unwrap();
    }
    let dupacks = segments(&drain(&mut p.b));
    let hole = segments(&burst[..1])[0].0;
    assert!(dupacks.iter().all(|a| a.1 == hole), "{dupacks:?}");
    (burst, dupacks)
}

#[test]
fn without_sack_compression_every_out_of_order_segment_is_acknowledged_at_once() {
    let (mut p, c, _s) = established_pair_with(synack_proto::Config {
        comp_sack_nr: 0,
        ..synack_proto::Config::default()
    });
    p.collect();
    p.in_flight.clear();
    let (burst, dupacks) = burst_after_a_hole(&mut p, c);
    assert_eq!(dupacks.len(), burst.len() - 1, "{dupacks:?}");
    assert_eq!(p.b.counters().ack_compressed, 0);
}

/// Hands `datagram` to `e` by value, in a vector whose capacity is `slack` times its length.
fn give(e: &mut synack_proto::Endpoint, now: Instant, datagram: &[u8], slack: usize) {
    let mut v = Vec::with_capacity(datagram.len() * slack);
    v.extend_from_slice(datagram);
    e.handle_datagram(now, v).unwrap();
}

fn read_all(e: &mut synack_proto::Endpoint, now: Instant, s: synack_proto::ConnHandle) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 3000];
    while let Ok(n) = e.recv(now, s, &mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// An established pair whose client has just sent its first flight (`burst`) of a pattern
/// (`data`, as much as the flight carries); the server holds no spare buffers.
fn first_flight(step: u32) -> (Pair, synack_proto::ConnHandle, Vec<u8>, Vec<Vec<u8>>) {
    let (mut p, c, s) = established_pair();
    p.collect();
    p.in_flight.clear();
    let mut data: Vec<u8> = (0..20_000u32).map(|i| (i * step % 251) as u8).collect();
    p.a.send(p.now, c, &data).unwrap();
    let burst = drain(&mut p.a);
    assert!(burst.len() >= 10, "{} datagrams", burst.len());
    data.truncate(segments(&burst).iter().map(|s| s.2).sum::<usize>());
    while p.b.take_spare().is_some() {}
    (p, s, data, burst)
}

#[test]
fn datagrams_handed_over_by_value_are_kept_until_read() {
    let (mut p, s, data, burst) = first_flight(7);
    for d in &burst {
        give(&mut p.b, p.now, d, 1);
    }
    assert!(
        p.b.take_spare().is_none(),
        "in-order datagrams handed over by value are queued, not copied and recycled"
    );
    assert_eq!(p.b.recv_available(s).unwrap(), data.len());
    let got = read_all(&mut p.b, p.now, s);
    assert!(got == data, "the bytes read are the bytes sent");
    let mut spares = 0;
    while p.b.take_spare().is_some() {
        spares += 1;
    }
    // Every datagram became a spare once read (one may already carry the window update).
    assert!(spares + 1 >= burst.len(), "{spares} spares");
}

#[test]
fn datagrams_with_much_slack_or_out_of_order_are_copied_and_stay_exact() {
    let (mut p, s, data, burst) = first_flight(13);
    // A datagram in a vector four times its size is copied from, and its vector recycled.
    give(&mut p.b, p.now, &burst[0], 4);
    let spare =
        p.b.take_spare()
            .expect("the oversized datagram was recycled");
    assert!(spare.capacity() >= 4 * burst[0].len());
    // The rest arrives shuffled: out-of-order pieces are joined behind kept datagrams.
    let mut order: Vec<usize> = (1..burst.len()).collect();
    order.swap(0, 2);
    order.swap(3, 6);
    order.reverse();
    for i in order {
        give(&mut p.b, p.now, &burst[i], 1);
        for a in drain(&mut p.b) {
            p.a.handle_packet(p.now, &a).unwrap();
        }
    }
    assert_eq!(p.b.recv_available(s).unwrap(), data.len());
    assert!(
        read_all(&mut p.b, p.now, s) == data,
        "exact after reordering"
    );
}

/// Steps `p` until `c` on endpoint `a` is closed or `limit` has passed, dropping everything sent
/// to `b` when `b_vanished`; returns when it closed, and when each retransmission (`true` for a
/// tail loss probe) went out.
fn run_until_a_closes(
    p: &mut Pair,
    c: synack_proto::ConnHandle,
    limit: Duration,
    b_vanished: bool,
) -> (Option<Instant>, Vec<(Instant, bool)>) {
    let end = p.now + limit;
    let mut resent = Vec::new();
    let (mut retrans, mut probes) = (p.a.counters().retrans_segs, p.a.counters().loss_probes);
    while p.now < end {
        if b_vanished {
            p.in_flight.retain(|x| !x.1);
        }
        // An orphan has no handle: it is over when `a` holds no connection.
        let over = match p.a.state(c) {
            Ok(state) => state == State::Closed,
            Err(_) => p.a.resources().connections == 0,
        };
        if over {
            return (Some(p.now), resent);
        }
        if !p.step() {
            break;
        }
        let counters = p.a.counters();
        if counters.retrans_segs != retrans {
            resent.push((p.now, counters.loss_probes != probes));
            (retrans, probes) = (counters.retrans_segs, counters.loss_probes);
        }
    }
    (None, resent)
}

/// Cuts the path from `a`, sends data on `c` (and closes it when `close`, leaving an orphan)
/// and runs until `a` gives the connection up. Checks Linux's rule (`retransmits_timed_out`):
/// it gave up at the first timeout at least 924.6 s (an orphan: 102.2 s) after the first
/// retransmission by timeout (a tail loss probe does not start the clock), and not at an
/// earlier one. Returns when each retransmission by timeout went out.
fn timeouts_until_given_up(p: &mut Pair, c: synack_proto::ConnHandle, close: bool) -> Vec<Instant> {
    p.cut_a_to_b = true;
    p.a.send(p.now, c, b"nobody hears this").unwrap();
    let limit = if close {
        p.a.close(p.now, c).unwrap();
        Duration::from_millis(102_200)
    } else {
        Duration::from_millis(924_600)
    };
    let (closed, resent) = run_until_a_closes(p, c, Duration::from_secs(3000), false);
    let closed = closed.expect("the connection is given up");
    let timeouts: Vec<Instant> = resent.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let first = timeouts[0];
    let last = *timeouts.last().unwrap();
    assert!(
        closed.saturating_duration_since(first) >= limit,
        "gave up {:?} after the first retransmission, before {limit:?}",
        closed.saturating_duration_since(first)
    );
    assert!(
        last.saturating_duration_since(first) < limit,
        "the last retransmission, {:?} after the first, should have been the end",
        last.saturating_duration_since(first)
    );
    timeouts
}

#[test]
fn retries2_is_a_time_so_a_long_path_gives_up_after_fewer_retransmissions() {
    // A 1 s round trip: RTO 3 s (SRTT 1 s + 4 x RTTVAR 0.5 s), fifteen times the minimum.
    // Linux gives up once the first retransmission is as old as 15 timeouts starting from
    // 200 ms take (0.2 s x (2^10 - 1) + 6 x 120 s = 924.6 s): here after 12 retransmissions,
    // not 15 (which would take 1386 s).
    let mut p = Pair::new();
    p.delay = Duration::from_millis(500);
    let l = p.b.listen("10.0.0.2:80".parse().unwrap(), 4).unwrap();
    let c =
        p.a.connect(p.now, "10.0.0.2:80".parse().unwrap(), None)
            .unwrap();
    p.run_until(Instant::from_secs(2));
    p.b.accept(l).unwrap();
    assert_eq!(p.a.info(c).unwrap().rto, Duration::from_secs(3));
    let timeouts = timeouts_until_given_up(&mut p, c, false);
    assert_eq!(timeouts.len(), 12, "{timeouts:?}");
    assert_timed_out(&mut p, c);
}

#[test]
fn retries2_on_a_short_path_is_fifteen_retransmissions() {
    // RTO 220 ms (SRTT 20 ms + the 200 ms floor): 15 timeouts fit in the 924.6 s, as on Linux.
    let (mut p, c, _s) = established_pair();
    let timeouts = timeouts_until_given_up(&mut p, c, false);
    assert_eq!(timeouts.len(), 15, "{timeouts:?}");
}

#[test]
fn an_orphan_gives_up_after_eight_timeouts_without_a_reset() {
    // close() with data and FIN unacknowledged and the peer gone: Linux's tcp_orphan_retries
    // (0, meaning 8 while the RTO is below 120 s) gives up after 0.2 s x (2^9 - 1) = 102.2 s,
    // not the 924.6 s of a connection the application still holds; no RST is sent.
    let (mut p, c, _s) = established_pair();
    let timeouts = timeouts_until_given_up(&mut p, c, true);
    assert_eq!(timeouts.len(), 8, "{timeouts:?}");
    assert!(
        !p.log.iter().any(|l| l.contains("a->b RST")),
        "Linux drops a timed-out orphan silently"
    );
    assert_eq!(p.a.resources().connections, 0);
}

#[test]
fn zero_window_probes_go_on_while_answered_and_give_up_after_fifteen_unanswered() {
    let (mut p, c, _s) = established_pair();
    // The receiver never reads: its window closes and stays closed.
    let data = vec![7u8; 400_000];
    let mut sent = 0;
    let until = p.now + Duration::from_secs(20);
    while p.now < until {
        if let Ok(n) = p.a.send(p.now, c, &data[sent..]) {
            sent += n;
        }
        if !p.step() {
            break;
        }
    }
    assert_eq!(p.a.info(c).unwrap().snd_wnd, 0, "the window is closed");
    // RFC 1122 §4.2.2.17: as long as the receiver answers the probes, the sender keeps the
    // connection open, here for an hour of probes 120 s apart.
    let (closed, _) = run_until_a_closes(&mut p, c, Duration::from_secs(3600), false);
    assert_eq!(closed, None, "an answering peer keeps the connection open");
    // The peer vanishes: after 15 unanswered probes (Linux tcp_probe_timer with tcp_retries2),
    // the connection times out.
    let (closed, _) = run_until_a_closes(&mut p, c, Duration::from_secs(3600), true);
    assert!(closed.is_some(), "a vanished peer is given up");
    let last_answer = p.log.iter().rposition(|l| l.contains("b->a")).unwrap();
    let unanswered = p.log[last_answer..]
        .iter()
        .filter(|l| l.contains("a->b ACK") && l.ends_with("len=0"))
        .count();
    assert_eq!(unanswered, 15, "{:#?}", &p.log[last_answer..]);
    assert_timed_out(&mut p, c);
}

/// The application's next read on `c` reports that the connection timed out.
fn assert_timed_out(p: &mut Pair, c: synack_proto::ConnHandle) {
    let mut buf = [0u8; 1];
    assert_eq!(
        p.a.recv(p.now, c, &mut buf),
        Err(synack_proto::Error::TimedOut)
    );
}
