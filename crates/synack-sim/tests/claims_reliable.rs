//! Seed claims R01-R05: reliable transfer (可靠传输) — retransmission on timeout with an RTO
//! computed from measured round trips and backed off exponentially, the sliding window and flow
//! control (a zero window stops the sender, which probes until it reopens), reordering and
//! duplicate removal at the receiver, and cumulative ACKs that free the sender's buffer.

mod claims_support;

use claims_support::*;
use synack_proto::{Config, ConnHandle, Duration, Error, Instant};
use synack_sim::{AppOptions, Fate, HostId, LinkConfig, LossReason, Sim};

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

/// A client whose send buffer holds a whole transfer and a server whose receive buffer is fixed
/// at `recv` bytes, announcing MSS 1000 and no timestamps, so that every full segment carries
/// exactly 1000 bytes and the windows are round numbers.
fn window_net(seed: u64, recv: usize) -> Net {
    let client = Config {
        send_buffer: 32 * 1024,
        ..Config::default()
    };
    let server = Config {
        recv_buffer: recv,
        max_recv_buffer: recv,
        mss: 1000,
        timestamps: false,
        ..Config::default()
    };
    Net::with(seed, client, server, LinkConfig::with_delay(DELAY))
}

/// The sender's view at one moment, sequence numbers relative to `base` (x+1): (time in ms,
/// #1 acked, #2 in flight, #3 usable, #4 beyond, SND.UNA, SND.NXT, right edge SND.UNA+SND.WND,
/// SND.WND, bytes in the send buffer).
type Win = (u64, u64, u32, u32, u32, u32, u32, u32, u32, usize);

fn window_of(sim: &Sim, host: HostId, conn: ConnHandle, base: u32) -> Win {
    let i = sim.endpoint_ref(host).info(conn).expect("info");
    let w = i.send_window;
    assert_eq!(
        (w.snd_una, w.snd_nxt, w.right_edge),
        (i.snd_una, i.snd_nxt, i.snd_una.wrapping_add(i.snd_wnd)),
        "the send window agrees with the TCB"
    );
    (
        sim.now().as_millis(),
        w.acked,
        w.in_flight,
        w.usable,
        w.beyond,
        w.snd_una.wrapping_sub(base),
        w.snd_nxt.wrapping_sub(base),
        w.right_edge.wrapping_sub(base),
        i.snd_wnd,
        i.send_buffered,
    )
}

/// Runs until `until`, recording the client's window each time it changes.
fn watch_window(net: &mut Net, conn: ConnHandle, base: u32, until: Instant) -> Vec<Win> {
    let client = net.client;
    let mut seen = vec![window_of(&net.sim, client, conn, base)];
    net.sim.run_until_cond(until, |sim| {
        let w = window_of(sim, client, conn, base);
        if seen
            .last()
            .map(|l| (l.1, l.2, l.3, l.4, l.5, l.6, l.7, l.8, l.9))
            != Some((w.1, w.2, w.3, w.4, w.5, w.6, w.7, w.8, w.9))
        {
            seen.push(w);
        }
        false
    });
    seen
}

#[test]
fn r02_sliding_window_four_parts_move_as_acks_arrive() {
    // The receiver's buffer holds 8000 bytes and its application reads at once; the sender
    // writes 16 segments' worth.
    let mut net = window_net(22, 8000);
    let conn = establish(&mut net);
    let (c, s, base) = (conn.client, conn.server, add(conn.x, 1));
    let (client, server) = (net.client, net.server);
    net.sim.app_set_options(server, s, AppOptions::default());
    let t = ms(1000);
    net.run_until(t);
    let data = pattern(16_000, 2);
    net.send(client, c, &data);
    let seen = watch_window(&mut net, c, base, t + d_ms(500));
    let trace = net.dump();
    // By hand. The SYN+ACK offered 8000 (the whole buffer, a multiple of the MSS), so 8
    // segments go at 1000 ms and 8000 bytes wait beyond the window; the sender marks PSH on the
    // last segment of each burst it builds, here the 5th and the 8th. They arrive at 1010; the
    // server is in quick-ACK mode for half its window's worth of segments (8000 / (2 * 1000) =
    // 4, Linux tcp_incr_quickack), so it acknowledges the first four at once, each time with its
    // free space: 7000, because the segment just acknowledged is not read yet. The 5th is
    // pushed, so the read that empties the buffer acknowledges it at once, with 8000 (Linux
    // tcp_cleanup_rbuf with ICSK_ACK_PUSHED); the 6th and 7th are acknowledged together (every
    // second segment), the 8th, pushed, on its read. At 1020 the ACKs arrive one after another:
    // the first moves the left edge to 1000 but, with a window of 7000, the right edge stays at
    // 8000, so nothing may be sent; each later one moves both edges by what it acknowledges and
    // lets as much out. The 8 segments sent at 1020 are acknowledged alike at 1040.
    // Each row is the moment after the client has handled one event (the engine sends what
    // becomes usable at once, so #3 is empty here; see below for #3 on its own).
    #[rustfmt::skip]
    let want: Vec<Win> = vec![
        //  ms     #1    #2  #3    #4    una    nxt   edge   wnd  buffered
        (1000,     0, 8000,  0, 8000,     0,  8000,  8000, 8000, 16000), // 8 segments out
        (1020,  1000, 7000,  0, 8000,  1000,  8000,  8000, 7000, 15000), // ACK 1000 win 7000
        (1020,  2000, 7000,  0, 7000,  2000,  9000,  9000, 7000, 14000), // ACK 2000: 1 more out
        (1020,  3000, 7000,  0, 6000,  3000, 10000, 10000, 7000, 13000),
        (1020,  4000, 7000,  0, 5000,  4000, 11000, 11000, 7000, 12000),
        (1020,  5000, 8000,  0, 3000,  5000, 13000, 13000, 8000, 11000), // ACK 5000 win 8000
        (1020,  7000, 8000,  0, 1000,  7000, 15000, 15000, 8000,  9000), // ACK 7000: 2 more out
        (1020,  8000, 8000,  0,    0,  8000, 16000, 16000, 8000,  8000), // the last goes
        (1040, 10000, 6000,  0,    0, 10000, 16000, 18000, 8000,  6000), // ACKs shrink #2
        (1040, 12000, 4000,  0,    0, 12000, 16000, 20000, 8000,  4000),
        (1040, 13000, 3000,  0,    0, 13000, 16000, 21000, 8000,  3000),
        (1040, 15000, 1000,  0,    0, 15000, 16000, 23000, 8000,  1000),
        (1040, 16000,    0,  0,    0, 16000, 16000, 24000, 8000,     0),
    ];
    assert_eq!(seen, want, "{trace}");

    // Each step is one ACK arriving: #1 grows by exactly what it acknowledges, the left edge
    // is its ack number, the right edge its ack + window.
    let acks: Vec<Seg> = net
        .segs_since(server, client, t)
        .into_iter()
        .filter(|a| a.flags.ack())
        .collect();
    assert_eq!(acks.len(), 12, "{trace}");
    for (step, ack) in seen.windows(2).zip(&acks) {
        let (before, after) = (step[0], step[1]);
        assert_eq!(Some(Instant::from_millis(after.0)), ack.arrived);
        assert_eq!(
            after.1 - before.1,
            u64::from(ack.ack.wrapping_sub(base) - before.5)
        );
        assert_eq!(after.5, ack.ack.wrapping_sub(base));
        assert_eq!(after.7, ack.ack.wrapping_sub(base) + u32::from(ack.window));
    }
    for w in &seen {
        let (_, acked, flight, usable, beyond, _, nxt, edge, wnd, buffered) = *w;
        // #2 + #3 never exceed the peer's window.
        assert!(flight + usable <= wnd, "{w:?}");
        // #4 is what lies beyond SND.UNA + SND.WND.
        assert_eq!(beyond, 16_000u32.saturating_sub(edge.max(nxt)), "{w:?}");
        // Acknowledged bytes have left the send buffer; the rest is still there.
        assert_eq!(buffered as u64, 16_000 - acked, "{w:?}");
        assert_eq!(u64::from(flight + usable + beyond), 16_000 - acked, "{w:?}");
    }
    assert_eq!(net.sim.app_received(server, s), &data[..]);

    // #3 on its own: two small writes while the window is wide open. The first goes at once;
    // Nagle holds the second while the first is unacknowledged, so it is usable (inside the
    // window) but not sent. No data has reached the server for longer than its RTO, so it is
    // in quick-ACK mode again (Linux tcp_event_data_recv -> tcp_incr_quickack) and acknowledges
    // at once (at 2010, arriving 2020) with its free space, 7500 (those 500 bytes are not read
    // yet): the held bytes go then. Their ACK comes at once too (arriving 2040), its window
    // rounded down to whole segments (7000), which leaves the right edge where it was.
    let t = ms(2000);
    net.run_until(t);
    net.send(client, c, &pattern(500, 3));
    net.send(client, c, &pattern(500, 4));
    let seen = watch_window(&mut net, c, base, t + d_ms(500));
    #[rustfmt::skip]
    let want: Vec<Win> = vec![
        //  ms   #1     #2  #3  #4  una    nxt    edge   wnd  buffered
        (2000, 16000, 500, 500, 0, 16000, 16500, 24000, 8000, 1000),
        (2020, 16500, 500,   0, 0, 16500, 17000, 24000, 7500,  500),
        (2040, 17000,   0,   0, 0, 17000, 17000, 24000, 7000,    0),
    ];
    assert_eq!(seen, want, "{}", net.dump());
}

#[test]
fn r03_flow_control_zero_window_stops_sender_and_probes_until_reopened() {
    // The receiver's buffer holds 4000 bytes and its application does not read; the sender
    // writes 10000.
    let mut net = window_net(23, 4000);
    let conn = establish(&mut net);
    let (c, s, base) = (conn.client, conn.server, add(conn.x, 1));
    let (client, server) = (net.client, net.server);
    let t = ms(1000);
    net.run_until(t);
    let data = pattern(10_000, 3);
    net.send(client, c, &data);
    // The sender fills the offered window and no more.
    let w = window_of(&net.sim, client, c, base);
    assert_eq!(w, (1000, 0, 4000, 0, 6000, 0, 4000, 4000, 4000, 10_000));

    // Every segment the server sends advertises exactly its free space, and the client never
    // has more in flight than the window it was last given. Checked after every event until
    // the window has been closed for a long while.
    let reopen_at = Instant::from_secs(480);
    // (time, window the server's last segment carried, its free space then), each time the
    // server has sent something.
    let mut advertised: Vec<(Instant, u32, usize)> = Vec::new();
    let mut sent = net.segs(server, client).len();
    let mut check = move |sim: &Sim, advertised: &mut Vec<(Instant, u32, usize)>| {
        let segs = segs_where(sim, |p| p.from == server).len();
        if segs > sent {
            sent = segs;
            let i = sim.endpoint_ref(server).info(s).unwrap();
            advertised.push((sim.now(), i.rcv_wnd, i.recv_buffer - i.recv_buffered));
        }
        let w = window_of(sim, client, c, base);
        assert!(w.2 + w.3 <= w.8, "more than the window in flight: {w:?}");
    };
    net.sim.run_until_cond(reopen_at, |sim| {
        check(sim, &mut advertised);
        false
    });
    let trace = net.dump();

    // The four segments arrive at 1010 and fill the buffer. Quick-ACK mode covers half the
    // window's worth of segments, 4000 / (2 * 1000) = 2 (Linux tcp_incr_quickack): those two
    // ACKs offer 3000 and 2000. The third segment waits for a second one; with the fourth, an
    // ACK would offer less than the last one did while the data waits to be read (Linux
    // __tcp_ack_snd_check), so it waits for the 40 ms delayed-ACK timer and then covers both
    // and offers 0.
    let y1 = add(conn.y, 1);
    let acks = net.segs_since(server, client, t);
    assert_segs(
        &acks[..3],
        &[
            (ms(1010), ACK, y1, add(base, 1000), 0),
            (ms(1010), ACK, y1, add(base, 2000), 0),
            (ms(1050), ACK, y1, add(base, 4000), 0),
        ],
        &trace,
    );
    let windows: Vec<u16> = acks[..3].iter().map(|a| a.window).collect();
    assert_eq!(windows, [3000, 2000, 0]);
    assert!(
        advertised
            .iter()
            .all(|(_, wnd, free)| *wnd as usize == *free),
        "window != free space: {advertised:?}"
    );
    assert_eq!(
        advertised.len(),
        3 + 11,
        "three ACKs, then an answer to each probe but the second"
    );
    let info = net.ep(server).info(s).unwrap();
    assert_eq!((info.recv_buffered, info.rcv_wnd), (4000, 0));

    // The zero window reaches the client at 1060 with nothing in flight: it stops, all 6000
    // remaining bytes beyond the window, and arms its persist timer. The RTO is 225 ms: the
    // RTT samples are 20, 20 and 60 ms (the last ACK waited 40 ms), so SRTT = 25 ms and RTO =
    // SRTT + max(4 RTTVAR, 200 ms). The first probe follows one RTO later; after that,
    // as in Linux (tcp_ack_probe), each answer (one round trip, 20 ms, after its probe) restarts
    // the timer with the doubled wait: RTO, 2 RTO, 4 RTO, ..., capped at 120 s (TCP_RTO_MAX):
    // 225 * 2^9 = 115.2 s is the last doubling, 225 * 2^10 ms would exceed 120 s. A probe is
    // out of the receiver's window, and the receiver answers such bare segments at most once per
    // 500 ms (Linux tcp_oow_rate_limited): the second probe, 460 ms after the first, goes
    // unanswered, and the timer runs on from the probe itself.
    let rto = d_ms(225);
    let mut probe_times = Vec::new();
    let mut answered = Vec::new();
    let mut last_answer: Option<Instant> = None;
    let mut at = ms(1060);
    for k in 0..12u32 {
        let restart = match answered.last() {
            Some(true) => at + 2 * DELAY,
            _ => at,
        };
        at = restart + (rto * (1 << k)).min(d_s(120));
        probe_times.push(at);
        let answer = at + DELAY;
        let ok = last_answer.is_none_or(|l| answer.saturating_duration_since(l) >= d_ms(500));
        if ok {
            last_answer = Some(answer);
        }
        answered.push(ok);
    }
    assert_eq!(
        probe_times
            .iter()
            .map(|t| t.as_millis())
            .collect::<Vec<_>>(),
        [1285, 1755, 2655, 4475, 8095, 15315, 29735, 58555, 116175, 231395, 351415, 471435]
    );
    // While the window is zero the client sends nothing but those probes: bare ACKs with the
    // sequence number SND.UNA - 1, which the receiver must answer with its window (still 0).
    let zero_wnd: Vec<Seg> = net.segs_since(client, server, ms(1001));
    assert_segs(
        &zero_wnd,
        &probe_times
            .iter()
            .map(|&p| (p, ACK, add(base, 3999), y1, 0))
            .collect::<Vec<_>>(),
        &trace,
    );
    let answers: Vec<(Instant, u32, u16)> = net
        .segs_since(server, client, ms(1051))
        .iter()
        .map(|a| (a.sent, a.ack, a.window))
        .collect();
    assert_eq!(
        answers,
        probe_times
            .iter()
            .zip(&answered)
            .filter(|(_, ok)| **ok)
            .map(|(&p, _)| (p + DELAY, add(base, 4000), 0))
            .collect::<Vec<_>>()
    );
    let w = window_of(&net.sim, client, c, base);
    assert_eq!(w, (480_000, 4000, 0, 0, 6000, 4000, 4000, 4000, 0, 6000));
    assert_eq!(
        net.ep(client).info(c).unwrap().rto,
        rto,
        "probes do not back off the RTO"
    );

    // The application reads the 4000 bytes: the whole buffer is free, and the server says so
    // at once with a window update; from then on it reads whatever arrives. The window
    // reopens at 480.010 s and every byte arrives, in order.
    let mut received = net.read_available(server, s);
    check(&net.sim, &mut advertised);
    let update = net.segs_since(server, client, reopen_at);
    assert_segs(&update, &[(reopen_at, ACK, y1, add(base, 4000), 0)], &trace);
    assert_eq!(update[0].window, 4000);
    net.sim.run_until_cond(reopen_at + d_s(5), |sim| {
        check(sim, &mut advertised);
        let now = sim.now();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = sim.endpoint(server).recv(now, s, &mut buf) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        sim.flush(server);
        check(sim, &mut advertised);
        received.len() == data.len()
    });
    assert!(received == data, "bytes differ:\n{}", net.dump());
    assert!(
        advertised.len() > 4 + 12 + 1,
        "the server acknowledged the resumed data"
    );
    net.run_until(reopen_at + d_s(6));
    let w = window_of(&net.sim, client, c, base);
    assert_eq!((w.1, w.2, w.3, w.4, w.9), (10_000, 0, 0, 0, 0));
    let resumed = net.segs_since(client, server, reopen_at);
    assert_eq!(resumed[0].sent, reopen_at + DELAY);
    assert_eq!(resumed[0].seq, add(base, 4000));
    assert!(
        advertised
            .iter()
            .all(|(_, wnd, free)| *wnd as usize == *free),
        "window != free space: {advertised:?}"
    );
}
