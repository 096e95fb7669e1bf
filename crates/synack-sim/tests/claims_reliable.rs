//! Seed claims R01, R04, R05: reliable transfer (可靠传输) — retransmission on timeout with an RTO
//! computed from measured round trips and backed off exponentially, reordering and duplicate
//! removal at the receiver, and cumulative ACKs that free the sender's buffer.

mod claims_support;

use claims_support::*;
use synack_proto::{Config, Duration, Error, Instant};
use synack_sim::{Fate, LinkConfig, LossReason};

/// RFC 6298 §2 with Linux's floor on the variance term: after the samples `rtts`, SRTT and
/// RTO = SRTT + max(4 * RTTVAR, 200 ms).
fn rfc6298(rtts: &[Duration]) -> (Duration, Duration) {
    let mut srtt = rtts[0];
    let mut rttvar = rtts[0] / 2;
    for &r in &rtts[1..] {
        rttvar = (rttvar * 3 + srtt.abs_diff(r)) / 4;
        srtt = (srtt * 7 + r) / 8;
    }
    (srtt, srtt + (rttvar * 4).max(d_ms(200)))
}

/// Sets the one-way delay of both directions.
fn set_delay(net: &mut Net, delay: Duration) {
    let (c, s) = (net.client, net.server);
    for (a, b) in [(c, s), (s, c)] {
        net.sim.link_config_mut(a, b).expect("linked").delay = delay;
    }
}

/// The first segment `to` receives from `from` at or after `t` whose ACK field covers `seq`:
/// the arrival time of that acknowledgment.
fn acked_at(net: &Net, from: synack_sim::HostId, to: synack_sim::HostId, seq: u32) -> Instant {
    net.segs(from, to)
        .into_iter()
        .filter(|s| s.flags.ack() && (s.ack.wrapping_sub(seq) as i32) >= 0)
        .filter_map(|s| s.arrived)
        .min()
        .expect("an acknowledgment")
}

#[test]
fn r01_lost_segment_is_resent_after_an_rto_from_measured_rtts_with_exponential_backoff() {
    // 100 ms one way during the handshake (RTT 200 ms), then 50 ms (RTT 100 ms), so that the
    // RTO visibly follows the measurements.
    // Tail loss probes (on by default, as in Linux) would repair the loss before the RTO; this
    // test is about the RTO itself.
    let no_tlp = Config {
        tail_loss_probe: false,
        ..Config::default()
    };
    let mut net = Net::with(
        21,
        no_tlp,
        Config::default(),
        LinkConfig::with_delay(d_ms(100)),
    );
    let conn = establish(&mut net);
    let (c, x) = (conn.client, conn.x);
    set_delay(&mut net, d_ms(50));
    let mut rtts = vec![ms(200) - ms(0)]; // SYN sent at 0, SYN+ACK back at 200 ms.
    let mut next = add(x, 1);
    for second in [1u64, 2] {
        net.run_until(Instant::from_secs(second));
        net.send(net.client, c, &pattern(1000, second as u8));
        next = add(next, 1000);
        net.run_until(Instant::from_secs(second) + d_ms(500));
        let back = acked_at(&net, net.server, net.client, next);
        rtts.push(back - Instant::from_secs(second));
    }
    assert_eq!(rtts, [d_ms(200), d_ms(100), d_ms(100)]);
    let (srtt, rto) = rfc6298(&rtts);
    let info = net.ep(net.client).info(c).unwrap();
    assert_eq!(info.srtt, Some(srtt));
    assert_eq!(info.rto, rto, "RTO = SRTT + max(4 RTTVAR, 200 ms)");
    assert_eq!(
        rto,
        Duration::from_nanos(564_062_500),
        "176.5625 + 387.5 ms"
    );

    // The next segment is lost three times.
    let t = Instant::from_secs(3);
    let seq = next;
    net.sim.drop_matching(
        net.client,
        net.server,
        move |p| p.payload_len > 0 && p.seq == seq,
        Some(3),
    );
    net.run_until(t);
    net.send(net.client, c, &pattern(1000, 3));
    // Resent after RTO, then 2 RTO, then 4 RTO: the timer doubles at every expiry.
    let mut sends = vec![t];
    for backoff in [1, 2, 4] {
        let last = sends[sends.len() - 1];
        sends.push(last + rto * backoff);
    }
    for (i, w) in sends.windows(2).enumerate() {
        net.run_until(w[1] - Duration::from_micros(1));
        let info = net.ep(net.client).info(c).unwrap();
        assert_eq!(info.rto, rto * (1 << i), "backoff before expiry {}", i + 1);
        net.run_until(w[1]);
        let info = net.ep(net.client).info(c).unwrap();
        assert_eq!(info.rto, rto * (2 << i), "backoff after expiry {}", i + 1);
    }
    net.run_until(t + d_s(10));
    let trace = net.dump();
    let copies: Vec<Seg> = net
        .segs_since(net.client, net.server, t)
        .into_iter()
        .filter(|s| s.len > 0)
        .collect();
    assert_segs(
        &copies,
        &sends
            .iter()
            .map(|&at| (at, PSH | ACK, seq, add(conn.y, 1), 1000))
            .collect::<Vec<_>>(),
        &trace,
    );
    assert!(copies.iter().all(|s| s.payload == pattern(1000, 3)));
    let fates: Vec<Fate> = copies.iter().map(|s| s.fate).collect();
    assert_eq!(
        fates,
        [
            Fate::Lost(LossReason::Scripted),
            Fate::Lost(LossReason::Scripted),
            Fate::Lost(LossReason::Scripted),
            Fate::Delivered {
                at: sends[3] + d_ms(50)
            },
        ]
    );
    let counters = net.ep(net.client).counters();
    assert_eq!((counters.timeouts, counters.retrans_segs), (3, 3));
    let info = net.ep(net.client).info(c).unwrap();
    assert_eq!((info.snd_una, info.in_flight), (add(seq, 1000), 0));
    let mut received = net.read_available(net.server, conn.server);
    received.drain(..2000);
    assert_eq!(received, pattern(1000, 3));
}

#[test]
fn r04_duplicate_and_out_of_order_segments_are_delivered_once_in_order() {
    let mut net = Net::new(24);
    let conn = establish(&mut net);
    let (c, s, x) = (conn.client, conn.server, conn.x);
    let t = ms(1000);
    // Three full segments; the first is held up 30 ms so the others overtake it, and every
    // packet towards the server arrives twice.
    let data = pattern(3 * 1448, 4);
    net.sim.delay_matching(
        net.client,
        net.server,
        |p| p.payload_len > 0,
        d_ms(30),
        Some(1),
    );
    net.sim
        .link_config_mut(net.client, net.server)
        .unwrap()
        .duplicate = 1.0;
    net.run_until(t);
    net.send(net.client, c, &data);
    net.run_until(t + d_ms(200));
    let trace = net.dump();

    // Segment 1 arrives after segments 2 and 3.
    let sent: Vec<Seg> = net
        .segs_since(net.client, net.server, t)
        .into_iter()
        .filter(|s| s.len > 0 && s.sent == t)
        .collect();
    assert_eq!(
        sent.iter().map(|s| (s.seq, s.len)).collect::<Vec<_>>(),
        [
            (add(x, 1), 1448),
            (add(x, 1449), 1448),
            (add(x, 2897), 1448)
        ],
        "{trace}"
    );
    assert!(sent[0].arrived > sent[1].arrived, "{trace}");
    assert!(matches!(sent[1].fate, Fate::Duplicated { .. }));

    // The hole is reported at once: ACK x+1 with the held bytes as a SACK block.
    let acks = net.segs_since(net.server, net.client, t);
    let first = &acks[0];
    assert_seg(first, t + DELAY, ACK, add(conn.y, 1), add(x, 1), 0);
    let block = first.options.sack.as_slice()[0];
    assert_eq!((block.left, block.right), (add(x, 1449), add(x, 2897)));
    // Finally everything is acknowledged, nothing beyond.
    let end = add(x, 1 + 4344);
    assert!(acks.iter().any(|a| a.ack == end), "{trace}");
    assert!(acks.iter().all(|a| (end.wrapping_sub(a.ack) as i32) >= 0));

    // The application reads each byte once, in order.
    assert_eq!(net.read_available(net.server, s), data);
    let counters = net.ep(net.server).counters();
    assert!(counters.ofo_queue >= 2, "{counters:?}");
    assert!(counters.duplicate_data >= 1, "{counters:?}");

    // A late duplicate of segment 2 changes nothing either.
    net.sim
        .link_config_mut(net.client, net.server)
        .unwrap()
        .duplicate = 0.0;
    let client = net.client;
    net.sim.inject(ms(2000), client, sent[1].bytes.clone());
    net.run_until(ms(2100));
    assert_eq!(net.recv(net.server, s), Err(Error::WouldBlock));
    let info = net.ep(net.server).info(s).unwrap();
    assert_eq!(
        (info.rcv_nxt, info.recv_buffered, info.out_of_order),
        (end, 0, 0)
    );
}

#[test]
fn r05_cumulative_ack_frees_everything_below_it_from_the_send_buffer() {
    let mut net = Net::new(25);
    let conn = establish(&mut net);
    let (c, x) = (conn.client, conn.x);
    let base = add(x, 1);
    let client = net.client;
    let buffered = move |net: &mut Net, until: Instant| {
        let mut seen: Vec<(Instant, usize)> = Vec::new();
        net.sim.run_until_cond(until, |sim| {
            let b = sim.endpoint_ref(client).info(c).unwrap().send_buffered;
            if seen.last().map(|l| l.1) != Some(b) {
                seen.push((sim.now(), b));
            }
            false
        });
        seen
    };

    // Three segments; the server's ACKs of the first two are lost, the third (ack = x+1+4344)
    // arrives and frees all 4344 bytes at once.
    let t = ms(1000);
    net.sim.drop_matching(
        net.server,
        net.client,
        move |p| {
            let off = p.ack.wrapping_sub(base);
            p.is_pure_ack() && off > 0 && off < 4344
        },
        Some(2),
    );
    net.run_until(t);
    net.send(net.client, c, &pattern(3 * 1448, 5));
    assert_eq!(
        buffered(&mut net, t + d_ms(100)),
        [(t, 3 * 1448), (t + 2 * DELAY, 0)]
    );
    let trace = net.dump();
    let acks = net.segs_since(net.server, net.client, t);
    assert_segs(
        &acks,
        &[
            (t + DELAY, ACK, add(conn.y, 1), add(base, 1448), 0),
            (t + DELAY, ACK, add(conn.y, 1), add(base, 2896), 0),
            (t + DELAY, ACK, add(conn.y, 1), add(base, 4344), 0),
        ],
        &trace,
    );
    assert_eq!(acks[0].fate, Fate::Lost(LossReason::Scripted));
    assert_eq!(acks[1].fate, Fate::Lost(LossReason::Scripted));

    // Again with only the first ACK lost: the second frees the first two segments, the third
    // the rest.
    let t = ms(2000);
    let base = add(base, 4344);
    net.sim.drop_matching(
        net.server,
        net.client,
        move |p| p.is_pure_ack() && p.ack == add(base, 1448),
        Some(1),
    );
    net.run_until(t);
    net.send(net.client, c, &pattern(3 * 1448, 6));
    assert_eq!(
        buffered(&mut net, t + d_ms(100)),
        [(t, 3 * 1448), (t + 2 * DELAY, 1448), (t + 2 * DELAY, 0)]
    );
    let info = net.ep(net.client).info(c).unwrap();
    assert_eq!((info.snd_una, info.in_flight), (add(base, 4344), 0));
    // Every byte is freed: the whole send buffer (at least its initial size; auto-tuning may
    // have grown it with the congestion window) is free again.
    assert_eq!(net.ep(net.client).send_capacity(c), Ok(info.send_buffer));
    assert_eq!(info.send_buffered, 0);
    assert!(info.send_buffer >= Config::default().send_buffer);
    let mut expected = pattern(3 * 1448, 5);
    expected.extend(pattern(3 * 1448, 6));
    assert_eq!(net.read_available(net.server, conn.server), expected);
}

#[test]
fn r04_segments_that_carry_sack_blocks_still_fit_the_mtu() {
    let mut net = Net::new(26);
    let conn = establish(&mut net);
    let (c, s) = (conn.client, conn.server);
    let t = ms(1000);
    // The client's first data segment is held up 50 ms, so the server holds out-of-order data
    // (and reports it in SACK blocks) ...
    net.sim.delay_matching(
        net.client,
        net.server,
        |p| p.payload_len > 0,
        d_ms(50),
        Some(1),
    );
    net.run_until(t);
    net.send(net.client, c, &pattern(3 * 1448, 7));
    // ... while it sends full-sized segments of its own.
    net.run_until(t + d_ms(15));
    net.send(net.server, s, &pattern(3 * 1448, 8));
    // Before the server's first RTO (220 ms) everything must have arrived.
    net.run_until(t + d_ms(200));
    let trace = net.dump();

    let down: Vec<Seg> = net
        .segs_since(net.server, net.client, t)
        .into_iter()
        .filter(|s| s.len > 0)
        .collect();
    assert!(
        down.iter().any(|s| !s.options.sack.is_empty()),
        "the scenario needs data segments with SACK blocks:\n{trace}"
    );
    // With the options a segment carries, its payload shrinks so that the datagram still fits
    // the 1500-byte MTU that the MSS of 1460 was derived from (Linux `tcp_current_mss`).
    for seg in &down {
        assert!(
            seg.bytes.len() <= 1500 && seg.fate.loss() != Some(LossReason::Mtu),
            "{} bytes: {seg}\n{trace}",
            seg.bytes.len()
        );
    }
    assert_eq!(
        net.read_available(net.client, c),
        pattern(3 * 1448, 8),
        "{trace}"
    );
    assert_eq!(net.read_available(net.server, s), pattern(3 * 1448, 7));
}

#[test]
fn r01_both_sides_recover_after_timeouts_when_every_ack_was_lost() {
    let mut net = Net::new(27);
    let conn = establish(&mut net);
    let (c, s) = (conn.client, conn.server);
    let t = ms(1000);
    // Both send three segments at T; every pure ACK sent in the next 200 ms is lost, so each
    // side has all of the other's data but does not know its own data arrived.
    for (a, b) in [(net.client, net.server), (net.server, net.client)] {
        net.sim.drop_matching(
            a,
            b,
            move |p| p.is_pure_ack() && p.time >= t && p.time < t + d_ms(200),
            None,
        );
    }
    net.run_until(t);
    net.send(net.client, c, &pattern(3 * 1448, 9));
    net.send(net.server, s, &pattern(3 * 1448, 10));
    // Both time out at T+220 ms and resend their first segment, which the other already has:
    // the ACKs that answer those duplicates must be acceptable to the other side (their
    // sequence number must not fall behind what the other has received, as Linux's
    // `tcp_acceptable_seq`) and end the episode.
    net.run_until(t + d_s(2));
    let trace = net.dump();
    for (host, h, iss) in [(net.client, c, conn.x), (net.server, s, conn.y)] {
        let info = net.ep(host).info(h).unwrap();
        assert_eq!(
            (info.snd_una, info.in_flight),
            (add(iss, 1 + 3 * 1448), 0),
            "{}\n{trace}",
            net.sim.host_name(host)
        );
    }
    let late = segs_where(&net.sim, |s| s.sent >= t + d_ms(300));
    assert!(
        late.is_empty(),
        "nothing left to say after recovery, got {} segments:\n{trace}",
        late.len()
    );
    assert_eq!(net.read_available(net.client, c), pattern(3 * 1448, 10));
    assert_eq!(net.read_available(net.server, s), pattern(3 * 1448, 9));
}
