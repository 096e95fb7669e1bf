//! Seed claims H01–H14: the three-way handshake (三次握手), as scenario tests with exact segments,
//! states and virtual times. Link: 10 ms one way, so a SYN sent at 0 arrives at 10 ms, the SYN+ACK
//! arrives at 20 ms and the third segment at 30 ms. `x` is the client's ISN, `y` the server's.

mod claims_support;

use claims_support::*;
use synack_proto::{Config, Error, Event, FourTuple, Instant, State};
use synack_sim::craft_tcp;
use synack_wire::TcpOptions;

/// A SYN as an old or foreign host would send it: no options but MSS.
fn crafted_syn(src: std::net::SocketAddr, dst: std::net::SocketAddr, seq: u32) -> Vec<u8> {
    let options = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    craft_tcp(src, dst, seq, 0, SYN, 64240, options, &[]).expect("a valid SYN")
}

/// An address that belongs to no host: whatever is sent there is lost ("no route").
fn ghost(port: u16) -> std::net::SocketAddr {
    sock("10.0.0.9", port)
}

#[test]
fn h01_active_open_sends_syn_with_isn_and_enters_syn_sent() {
    let mut net = Net::new(1);
    net.listen(server_addr(), 16);
    let c = net.connect(net.client, server_addr(), Some(client_addr()));

    // connect() returns in SYN-SENT, with the SYN already on the wire.
    assert_eq!(net.ep(net.client).state(c), Ok(State::SynSent));
    assert_eq!(
        net.ep(net.client).state_of(&client_tuple()),
        Some(State::SynSent)
    );
    let info = net.ep(net.client).info(c).unwrap();
    let x = info.iss;
    let sent = net.segs(net.client, net.server);
    assert_eq!(sent.len(), 1, "{}", net.dump());
    assert_seg(&sent[0], ms(0), SYN, x, 0, 0);
    assert!(sent[0].payload.is_empty(), "the SYN carries no data");
    assert_eq!(info.snd_nxt, add(x, 1), "the SYN occupies x");
    assert_eq!(
        net.transitions(net.client, client_tuple()),
        [(ms(0), State::Closed, State::SynSent)]
    );

    // It stays in SYN-SENT until the SYN+ACK arrives at 20 ms.
    net.run_until(ms(19));
    assert_eq!(net.ep(net.client).state(c), Ok(State::SynSent));
    net.run_until(ms(20));
    assert_eq!(net.ep(net.client).state(c), Ok(State::Established));
}

#[test]
fn h02_listener_answers_syn_ack_and_holds_half_open_entry_in_syn_queue() {
    let mut net = Net::new(2);
    let l = net.listen(server_addr(), 16);
    let c = net.connect(net.client, server_addr(), Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;

    net.run_until(ms(10));
    let answers = net.segs(net.server, net.client);
    assert_eq!(answers.len(), 1, "{}", net.dump());
    let y = answers[0].seq;
    assert_seg(&answers[0], ms(10), SYN | ACK, y, add(x, 1), 0);

    // Half-open: a compact SYN-queue entry in SYN-RECEIVED, not a connection, not acceptable.
    let server_tuple = client_tuple().reversed();
    let ep = net.ep(net.server);
    assert_eq!(ep.syn_queue_len(l), Ok(1));
    assert_eq!(ep.accept_queue_len(l), Ok(0));
    assert_eq!(ep.state_of(&server_tuple), Some(State::SynReceived));
    let r = ep.resources();
    assert_eq!((r.half_open, r.connections), (1, 0));
    assert_eq!(
        net.transitions(net.server, server_tuple),
        [(ms(10), State::Listen, State::SynReceived)]
    );
    assert_eq!(net.accept(l), Err(Error::WouldBlock));

    // y is the server's ISN: the connection that results starts from it.
    net.run_until(ms(30));
    let s = net.accept(l).expect("accepted");
    let info = net.ep(net.server).info(s).unwrap();
    assert_eq!((info.iss, info.irs), (y, x));
}

#[test]
fn h03_third_segment_establishes_both_and_moves_connection_to_accept_queue() {
    let mut net = Net::new(3);
    let l = net.listen(server_addr(), 16);
    let c = net.connect(net.client, server_addr(), Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;
    let server_tuple = client_tuple().reversed();

    // The client is ESTABLISHED when the SYN+ACK arrives and answers with the third segment.
    net.run_until(ms(20));
    let y = net.segs(net.server, net.client)[0].seq;
    assert_eq!(net.ep(net.client).state(c), Ok(State::Established));
    let sent = net.segs(net.client, net.server);
    assert_eq!(sent.len(), 2, "{}", net.dump());
    assert_seg(&sent[1], ms(20), ACK, add(x, 1), add(y, 1), 0);

    // The server is still half-open until that ACK arrives at 30 ms.
    net.run_until(ms(29));
    assert_eq!(
        net.ep(net.server).state_of(&server_tuple),
        Some(State::SynReceived)
    );
    assert_eq!(net.ep(net.server).accept_queue_len(l), Ok(0));

    net.run_until(ms(30));
    let ep = net.ep(net.server);
    assert_eq!(ep.state_of(&server_tuple), Some(State::Established));
    assert_eq!(ep.syn_queue_len(l), Ok(0));
    assert_eq!(ep.accept_queue_len(l), Ok(1));
    let r = ep.resources();
    assert_eq!((r.half_open, r.connections), (0, 1));
    assert_eq!(
        net.transitions(net.server, server_tuple),
        [
            (ms(10), State::Listen, State::SynReceived),
            (ms(30), State::SynReceived, State::Established),
        ]
    );
    assert_eq!(
        net.transitions(net.client, client_tuple()),
        [
            (ms(0), State::Closed, State::SynSent),
            (ms(20), State::SynSent, State::Established),
        ]
    );
    assert!(net.events(net.client).contains(&Event::Connected(c)));
    assert!(net.events(net.server).contains(&Event::Acceptable(l)));

    // accept() returns it, ESTABLISHED, and empties the queue.
    let s = net.accept(l).expect("accept");
    let info = net.ep(net.server).info(s).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(info.tuple, server_tuple);
    assert_eq!((info.iss, info.irs), (y, x));
    assert_eq!((info.snd_nxt, info.rcv_nxt), (add(y, 1), add(x, 1)));
    assert_eq!(net.ep(net.server).accept_queue_len(l), Ok(0));
    assert_eq!(net.accept(l), Err(Error::WouldBlock));
}

#[test]
fn h04_isns_are_per_connection_keyed_and_clock_driven() {
    // The same 4-tuple twice, 1 s apart: a different ISN each time, on both sides.
    let mut net = Net::new(4);
    let l = net.listen(server_addr(), 16);
    let c1 = net.connect(net.client, server_addr(), Some(client_addr()));
    net.run_until(ms(30));
    let s1 = net.accept(l).unwrap();
    let (x1, y1) = (
        net.ep(net.client).info(c1).unwrap().iss,
        net.ep(net.server).info(s1).unwrap().iss,
    );
    // Abort (RST) so that the 4-tuple is free at once, with no TIME-WAIT.
    net.abort(net.client, c1);
    net.run_until(ms(1000));
    net.close(net.server, s1);
    assert_eq!(
        net.ep(net.server).state_of(&client_tuple().reversed()),
        None
    );

    let c2 = net.connect(net.client, server_addr(), Some(client_addr()));
    net.run_until(ms(1030));
    let s2 = net.accept(l).expect("second incarnation accepted");
    let (x2, y2) = (
        net.ep(net.client).info(c2).unwrap().iss,
        net.ep(net.server).info(s2).unwrap().iss,
    );
    assert_ne!(x1, x2);
    assert_ne!(y1, y2);
    // RFC 6528: ISN = M + F(4-tuple, secret) with M a 4 µs clock, so the second incarnation of
    // the tuple starts exactly 1 s / 4 µs above the first on each side.
    assert_eq!(x2.wrapping_sub(x1), 250_000);
    assert_eq!(y2.wrapping_sub(y1), 250_000);

    // F is a keyed hash of the tuple: eight connections opened at the same instant from eight
    // ports get unrelated ISNs (all distinct, not evenly spaced) ...
    let mut net = Net::new(4);
    let isns: Vec<u32> = (0..8u16)
        .map(|i| {
            let c = net.connect(net.client, server_addr(), Some(sock(CLIENT_IP, 50_000 + i)));
            net.ep(net.client).info(c).unwrap().iss
        })
        .collect();
    let mut unique = isns.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), isns.len(), "{isns:?}");
    let steps: Vec<u32> = isns.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(
        steps.windows(2).any(|w| w[0] != w[1]),
        "ISNs in arithmetic progression: {isns:?}"
    );
    // ... and a host with another secret picks another ISN for the very same tuple and time.
    let mut other = Net::new(5);
    let c = other.connect(other.client, server_addr(), Some(client_addr()));
    assert_ne!(other.ep(other.client).info(c).unwrap().iss, x1);
}

#[test]
fn h05_syn_and_fin_take_one_sequence_number_and_a_pure_ack_none() {
    let mut net = Net::new(5);
    let conn = establish(&mut net);
    let (x, y) = (conn.x, conn.y);
    let (c, s) = (conn.client, conn.server);

    // The SYN took x, so the third segment (a pure ACK) is x+1; the ACK took nothing, so the
    // first data byte is x+1 as well.
    net.run_until(ms(1000));
    net.send(net.client, c, &pattern(100, 5));
    net.run_until(ms(2000));
    assert_eq!(net.read_available(net.server, s), pattern(100, 5));
    // The FIN follows the data at x+101 and takes one number: it is acknowledged with x+102.
    net.shutdown(net.client, c);
    net.run_until(ms(3000));
    assert_eq!(net.recv(net.server, s), Ok(Vec::new()), "end of stream");
    // The server's SYN took y: its FIN (no data sent) is y+1, acknowledged with y+2.
    net.close(net.server, s);
    net.run_until(ms(3100));

    let trace = net.dump();
    let from_client = net.segs(net.client, net.server);
    assert_segs(
        &from_client,
        &[
            (ms(0), SYN, x, 0, 0),
            (ms(20), ACK, add(x, 1), add(y, 1), 0),
            (ms(1000), PSH | ACK, add(x, 1), add(y, 1), 100),
            (ms(2000), FIN | ACK, add(x, 101), add(y, 1), 0),
            (ms(3010), ACK, add(x, 102), add(y, 2), 0),
        ],
        &trace,
    );
    let from_server = net.segs(net.server, net.client);
    assert_segs(
        &from_server,
        &[
            (ms(10), SYN | ACK, y, add(x, 1), 0),
            (ms(1010), ACK, add(y, 1), add(x, 101), 0),
            (ms(2050), ACK, add(y, 1), add(x, 102), 0),
            (ms(3000), FIN | ACK, add(y, 1), add(x, 102), 0),
        ],
        &trace,
    );
    let info = net.ep(net.client).info(c).unwrap();
    assert_eq!((info.snd_nxt, info.rcv_nxt), (add(x, 102), add(y, 2)));
}

#[test]
fn h06_third_segment_may_carry_data_and_alone_completes_the_handshake() {
    let mut net = Net::new(6);
    let l = net.listen(server_addr(), 16);
    let c = net.connect(net.client, server_addr(), Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;
    // Written in SYN-SENT: it goes out with the third segment.
    net.send(net.client, c, b"hello");
    net.run_until(ms(30));

    let trace = net.dump();
    let y = net.segs(net.server, net.client)[0].seq;
    // No separate pure ACK: the data segment is the third segment.
    assert_segs(
        &net.segs(net.client, net.server),
        &[
            (ms(0), SYN, x, 0, 0),
            (ms(20), PSH | ACK, add(x, 1), add(y, 1), 5),
        ],
        &trace,
    );
    let server_tuple = client_tuple().reversed();
    assert_eq!(
        net.transitions(net.server, server_tuple),
        [
            (ms(10), State::Listen, State::SynReceived),
            (ms(30), State::SynReceived, State::Established),
        ]
    );
    // The server takes the data and acknowledges it at once (first data: quick ACK).
    assert_segs(
        &net.segs(net.server, net.client),
        &[
            (ms(10), SYN | ACK, y, add(x, 1), 0),
            (ms(30), ACK, add(y, 1), add(x, 6), 0),
        ],
        &trace,
    );
    let s = net.accept(l).expect("accept");
    assert_eq!(net.read_available(net.server, s), b"hello");
}

#[test]
fn h07_old_duplicate_syn_gets_rst_and_the_real_syn_completes() {
    let mut net = Net::new(7);
    let l = net.listen(server_addr(), 16);
    // The real SYN is held up in the network for 100 ms (it arrives at 110 ms) ...
    net.sim.delay_matching(
        net.client,
        net.server,
        |p| p.flags.syn(),
        d_ms(100),
        Some(1),
    );
    let c = net.connect(net.client, server_addr(), Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;
    // ... while an old duplicate SYN of an earlier incarnation (another sequence number) arrives
    // first, at 10 ms.
    let old = x.wrapping_sub(1_000_000);
    let client = net.client;
    net.sim.inject(
        ms(0),
        client,
        crafted_syn(client_addr(), server_addr(), old),
    );
    net.run_until(ms(200));
    let trace = net.dump();

    // The server answers the old SYN (ack = old+1); the client sees an ack that is not x+1 and
    // resets it with seq = that ack (no ACK flag); later the real SYN gets its own SYN+ACK.
    let answers = net.segs(net.server, net.client);
    assert_eq!(answers.len(), 2, "{trace}");
    let (y_old, y) = (answers[0].seq, answers[1].seq);
    assert_segs(
        &answers,
        &[
            (ms(10), SYN | ACK, y_old, add(old, 1), 0),
            (ms(110), SYN | ACK, y, add(x, 1), 0),
        ],
        &trace,
    );
    let from_client: Vec<Seg> = net
        .segs(net.client, net.server)
        .into_iter()
        .filter(|s| !s.injected)
        .collect();
    assert_segs(
        &from_client,
        &[
            (ms(0), SYN, x, 0, 0),
            (ms(20), RST, add(old, 1), 0, 0),
            (ms(120), ACK, add(x, 1), add(y, 1), 0),
        ],
        &trace,
    );
    assert_eq!(from_client[0].arrived, Some(ms(110)));

    // The RST removed the half-open entry at 30 ms; the real SYN made a new one.
    let server_tuple = client_tuple().reversed();
    assert_eq!(
        net.transitions(net.server, server_tuple),
        [
            (ms(10), State::Listen, State::SynReceived),
            (ms(30), State::SynReceived, State::Closed),
            (ms(110), State::Listen, State::SynReceived),
            (ms(130), State::SynReceived, State::Established),
        ]
    );
    // The client never left SYN-SENT because of the old SYN+ACK.
    assert_eq!(
        net.transitions(net.client, client_tuple()),
        [
            (ms(0), State::Closed, State::SynSent),
            (ms(120), State::SynSent, State::Established),
        ]
    );

    // Exactly one connection reaches the application: the real one.
    let acceptable = net
        .events(net.server)
        .into_iter()
        .filter(|e| *e == Event::Acceptable(l))
        .count();
    assert_eq!(acceptable, 1);
    let s = net.accept(l).expect("accept");
    let info = net.ep(net.server).info(s).unwrap();
    assert_eq!((info.irs, info.iss), (x, y));
    assert_eq!(net.accept(l), Err(Error::WouldBlock));
    let r = net.ep(net.server).resources();
    assert_eq!((r.half_open, r.connections), (0, 1));
}

#[test]
fn h08_retransmitted_syns_make_one_half_open_entry_and_one_connection() {
    let mut net = Net::new(8);
    let l = net.listen(server_addr(), 16);
    // Every SYN+ACK sent in the first 7 s is lost: the client retransmits its SYN at 1, 3, 7 s.
    net.sim.drop_matching(
        net.server,
        net.client,
        |p| p.flags.syn() && p.time < Instant::from_secs(7),
        None,
    );
    let c = net.connect(net.client, server_addr(), Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;

    let server = net.server;
    let mut most_half_open = 0;
    let mut most_connections = 0;
    net.sim.run_until_cond(Instant::from_secs(10), |sim| {
        let r = sim.endpoint_ref(server).resources();
        most_half_open = most_half_open.max(r.half_open);
        most_connections = most_connections.max(r.connections);
        false
    });
    let trace = net.dump();

    let syns = net.segs(net.client, net.server);
    let syns: Vec<&Seg> = syns.iter().filter(|s| s.flags.syn()).collect();
    let times: Vec<Instant> = syns.iter().map(|s| s.sent).collect();
    assert_eq!(times, [ms(0), ms(1000), ms(3000), ms(7000)], "{trace}");
    assert!(syns.iter().all(|s| s.flags == SYN && s.seq == x));

    // One small entry the whole time, answering every SYN with the same SYN+ACK.
    assert_eq!(most_half_open, 1, "{trace}");
    assert_eq!(most_connections, 1, "{trace}");
    let answers = net.segs(net.server, net.client);
    let y = answers[0].seq;
    assert!(
        answers
            .iter()
            .filter(|s| s.flags.syn())
            .all(|s| s.flags == SYN | ACK && s.seq == y && s.ack == add(x, 1)),
        "{trace}"
    );
    let server_tuple = client_tuple().reversed();
    assert_eq!(
        net.transitions(net.server, server_tuple),
        [
            (ms(10), State::Listen, State::SynReceived),
            (ms(7030), State::SynReceived, State::Established),
        ]
    );
    assert_eq!(net.ep(net.server).counters().passive_opens, 1);

    // One connection results.
    let s = net.accept(l).expect("accept");
    assert_eq!(net.ep(net.server).info(s).unwrap().irs, x);
    assert_eq!(net.accept(l), Err(Error::WouldBlock));
    assert_eq!(net.ep(net.client).state(c), Ok(State::Established));
}

#[test]
fn h09_synack_resent_after_1_2_4_8_16_s_then_half_open_entry_dropped() {
    let mut net = Net::new(9);
    let l = net.listen(server_addr(), 16);
    // A SYN from an address whose answers go nowhere: no third segment ever comes.
    let peer = ghost(5555);
    let isn = 1000;
    let client = net.client;
    net.sim
        .inject(ms(0), client, crafted_syn(peer, server_addr(), isn));
    net.run_until(Instant::from_secs(200));
    let trace = net.dump();

    // SYN+ACK at 10 ms, resent 1, 2, 4, 8 and 16 s after each previous one.
    let synacks = segs_to(&net.sim, peer);
    let times: Vec<Instant> = synacks.iter().map(|s| s.sent).collect();
    assert_eq!(
        times,
        [ms(10), ms(1010), ms(3010), ms(7010), ms(15_010), ms(31_010)],
        "{trace}"
    );
    let y = synacks[0].seq;
    assert!(synacks
        .iter()
        .all(|s| s.flags == SYN | ACK && s.seq == y && s.ack == isn + 1));

    // After the fifth retry's 32 s wait the entry is dropped: 1+2+4+8+16+32 = 63 s of half-open
    // life.
    let tuple = FourTuple {
        local: server_addr(),
        remote: peer,
    };
    assert_eq!(
        net.transitions(net.server, tuple),
        [
            (ms(10), State::Listen, State::SynReceived),
            (ms(63_010), State::SynReceived, State::Closed),
        ]
    );
    let ep = net.ep(net.server);
    assert_eq!(ep.syn_queue_len(l), Ok(0));
    assert_eq!(ep.state_of(&tuple), None);
    let r = ep.resources();
    assert_eq!((r.half_open, r.connections, r.timers), (0, 0, 0));
    assert_eq!(ep.counters().synack_timeouts, 1);
}

#[test]
fn h10_full_accept_queue_drops_syn_without_rst_until_accept_makes_room() {
    let mut net = Net::new(10);
    let l = net.listen(server_addr(), 1);
    // A first connection fills the accept queue (backlog 1); nobody accepts it yet.
    let a = net.connect(net.client, server_addr(), Some(sock(CLIENT_IP, 40001)));
    net.run_until(ms(30));
    assert_eq!(net.ep(net.client).state(a), Ok(State::Established));
    assert_eq!(net.ep(net.server).accept_queue_len(l), Ok(1));

    // A second client connects at 1 s: its SYNs are dropped in silence.
    net.run_until(ms(1000));
    let b_addr = sock(CLIENT_IP, 40002);
    let b = net.connect(net.client, server_addr(), Some(b_addr));
    let xb = net.ep(net.client).info(b).unwrap().iss;
    net.run_until(ms(3500));
    let to_b = segs_where(&net.sim, |s| s.dst == b_addr);
    assert!(to_b.is_empty(), "no RST, no SYN+ACK: {:?}", to_b);
    assert_eq!(net.ep(net.server).counters().listen_overflows, 2);
    assert_eq!(net.ep(net.server).resources().half_open, 0);
    assert_eq!(net.ep(net.server).accept_queue_len(l), Ok(1));
    assert_eq!(net.ep(net.client).state(b), Ok(State::SynSent));

    // accept() makes room; the SYN retransmitted at 4 s gets in.
    net.accept(l).expect("the first connection");
    net.run_until(ms(4100));
    let trace = net.dump();
    let yb = first_seq_to(&net.sim, b_addr);
    assert_segs(
        &segs_where(&net.sim, |s| s.src == b_addr),
        &[
            (ms(1000), SYN, xb, 0, 0),
            (ms(2000), SYN, xb, 0, 0),
            (ms(4000), SYN, xb, 0, 0),
            (ms(4020), ACK, add(xb, 1), add(yb, 1), 0),
        ],
        &trace,
    );
    assert_segs(
        &segs_where(&net.sim, |s| s.dst == b_addr),
        &[(ms(4010), SYN | ACK, yb, add(xb, 1), 0)],
        &trace,
    );
    let b_tuple = FourTuple {
        local: b_addr,
        remote: server_addr(),
    };
    assert_eq!(
        net.transitions(net.client, b_tuple),
        [
            (ms(1000), State::Closed, State::SynSent),
            (ms(4020), State::SynSent, State::Established),
        ]
    );
    let sb = net.accept(l).expect("the second connection");
    assert_eq!(net.ep(net.server).info(sb).unwrap().irs, xb);
    assert_eq!(net.ep(net.server).counters().listen_overflows, 2);
}

/// The sequence number of the first segment sent to `dst` (the peer's ISN when that is the
/// SYN+ACK), or 0.
fn first_seq_to(sim: &synack_sim::Sim, dst: std::net::SocketAddr) -> u32 {
    segs_where(sim, |s| s.dst == dst)
        .first()
        .map_or(0, |s| s.seq)
}

#[test]
fn h10_syn_queue_is_bounded_by_backlog() {
    for syncookies in [false, true] {
        let server_cfg = Config {
            syncookies,
            ..Config::default()
        };
        let mut net = Net::with(
            10,
            Config::default(),
            server_cfg,
            synack_sim::LinkConfig::with_delay(DELAY),
        );
        let l = net.listen(server_addr(), 2);
        let client = net.client;
        for port in [1001, 1002, 1003] {
            net.sim
                .inject(ms(0), client, crafted_syn(ghost(port), server_addr(), 7));
        }
        net.run_until(ms(10));

        // Two half-open entries, no more: the SYN queue is bounded by the backlog.
        let ep = net.ep(net.server);
        assert_eq!(ep.syn_queue_len(l), Ok(2), "cookies {syncookies}");
        assert_eq!(ep.resources().half_open, 2, "cookies {syncookies}");
        assert_eq!(segs_to(&net.sim, ghost(1001)).len(), 1);
        assert_eq!(segs_to(&net.sim, ghost(1002)).len(), 1);
        let third = segs_to(&net.sim, ghost(1003));
        if syncookies {
            // The overflow is answered statelessly with a SYN cookie, and only the overflow.
            assert_eq!(ep.counters().syncookies_sent, 1);
            assert_eq!(third.len(), 1);
            assert_eq!((third[0].flags, third[0].ack), (SYN | ACK, 8));
        } else {
            // Dropped without any answer.
            assert!(third.is_empty(), "{third:?}");
            assert_eq!(ep.counters().syncookies_sent, 0);
            assert_eq!(ep.counters().listen_drops, 1);
        }
    }
}

#[test]
fn h11_syn_resent_after_1_2_4_8_16_32_s_then_connect_times_out() {
    let mut net = Net::new(11);
    // Nobody answers at this address.
    let nowhere = sock("10.0.0.3", 80);
    let c = net.connect(net.client, nowhere, Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;
    net.run_until(Instant::from_secs(200));
    let trace = net.dump();

    let syns = segs_to(&net.sim, nowhere);
    let times: Vec<Instant> = syns.iter().map(|s| s.sent).collect();
    assert_eq!(
        times,
        [
            ms(0),
            ms(1000),
            ms(3000),
            ms(7000),
            ms(15_000),
            ms(31_000),
            ms(63_000)
        ],
        "{trace}"
    );
    assert!(syns
        .iter()
        .all(|s| s.flags == SYN && s.seq == x && s.len == 0));

    // After the sixth retry's 64 s wait, connect() fails with ETIMEDOUT at 127 s.
    let tuple = FourTuple {
        local: client_addr(),
        remote: nowhere,
    };
    assert_eq!(
        net.transitions(net.client, tuple),
        [
            (ms(0), State::Closed, State::SynSent),
            (ms(127_000), State::SynSent, State::Closed),
        ]
    );
    assert_eq!(net.closed_error(net.client, c), Some(Some(Error::TimedOut)));
    assert_eq!(net.closed_at(net.client, c), Some(ms(127_000)));
    assert_eq!(net.ep(net.client).state(c), Ok(State::Closed));
    assert_eq!(net.recv(net.client, c), Err(Error::TimedOut));
    assert_eq!(net.ep(net.client).counters().attempt_fails, 1);
    assert_eq!(net.ep(net.client).resources().timers, 0);
}

#[test]
fn h12_syn_to_a_port_nobody_listens_on_gets_rst_ack_and_connection_refused() {
    let mut net = Net::new(12);
    net.listen(server_addr(), 16);
    let closed_port = sock(SERVER_IP, 81);
    let c = net.connect(net.client, closed_port, Some(client_addr()));
    let x = net.ep(net.client).info(c).unwrap().iss;
    net.run_until(ms(100));
    let trace = net.dump();

    assert_segs(
        &net.segs(net.server, net.client),
        &[(ms(10), RST | ACK, 0, add(x, 1), 0)],
        &trace,
    );
    let tuple = FourTuple {
        local: client_addr(),
        remote: closed_port,
    };
    assert_eq!(
        net.transitions(net.client, tuple),
        [
            (ms(0), State::Closed, State::SynSent),
            (ms(20), State::SynSent, State::Closed),
        ]
    );
    assert!(net.events(net.client).contains(&Event::Closed {
        handle: c,
        error: Some(Error::ConnectionRefused)
    }));
    assert_eq!(net.recv(net.client, c), Err(Error::ConnectionRefused));
    assert_eq!(
        Error::ConnectionRefused.kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

/// The handshake with a default client and a server configured as `server_cfg`: the SYN, the
/// SYN+ACK, the third segment, and both sides' connection info.
fn negotiated(
    server_cfg: Config,
) -> (
    Seg,
    Seg,
    Seg,
    synack_proto::ConnInfo,
    synack_proto::ConnInfo,
) {
    let mut net = Net::with(
        13,
        Config::default(),
        server_cfg,
        synack_sim::LinkConfig::with_delay(DELAY),
    );
    let conn = establish(&mut net);
    let up = net.segs(net.client, net.server);
    let down = net.segs(net.server, net.client);
    (
        up[0].clone(),
        down[0].clone(),
        up[1].clone(),
        net.ep(net.client).info(conn.client).unwrap(),
        net.ep(net.server).info(conn.server).unwrap(),
    )
}

#[test]
fn h13_handshake_agrees_on_mss_window_scale_sack_and_timestamps() {
    // Both sides with Linux defaults: everything offered and agreed.
    let (syn, synack, third, client, server) = negotiated(Config::default());
    let ts_syn = syn.options.timestamps.expect("TS in SYN");
    let ts_synack = synack.options.timestamps.expect("TS in SYN+ACK");
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(7));
    assert!(syn.options.sack_permitted);
    assert_eq!(ts_syn.tsecr, 0);
    assert_eq!(syn.window, 64240, "the SYN's window (never scaled)");
    // Linux's layout: mss, sackOK, TS, nop, wscale.
    let o = syn.option_bytes();
    assert_eq!(o.len(), 20);
    assert_eq!(
        (&o[..8], o[16], &o[17..]),
        (&[2, 4, 0x05, 0xb4, 4, 2, 8, 10][..], 1, &[3, 3, 7][..])
    );
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(synack.options.window_scale, Some(7));
    assert!(synack.options.sack_permitted);
    assert_eq!(ts_synack.tsecr, ts_syn.tsval);
    assert_eq!(synack.window, 65160, "64 KiB rounded to the payload size");
    let o = synack.option_bytes();
    assert_eq!(
        (&o[..8], o[16], &o[17..]),
        (&[2, 4, 0x05, 0xb4, 4, 2, 8, 10][..], 1, &[3, 3, 7][..])
    );
    // Later segments carry nop, nop, TS.
    let o = third.option_bytes();
    assert_eq!((o.len(), &o[..4]), (12, &[1, 1, 8, 10][..]));
    assert_eq!(third.options.timestamps.unwrap().tsecr, ts_synack.tsval);
    for info in [client, server] {
        assert_eq!(info.peer_mss, 1460);
        assert_eq!(info.snd_mss, 1448, "MSS less 12 bytes of timestamps");
        assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
        assert!(info.sack && info.timestamps);
    }
    assert_eq!(client.snd_wnd, 65160, "the SYN+ACK's window, unscaled");
    assert_eq!(server.snd_wnd, u32::from(third.window) << 7);

    // A server without timestamps: none agreed, Linux's other layout
    // (mss, nop, nop, sackOK, nop, wscale), full 1460-byte segments.
    let (_, synack, third, client, server) = negotiated(Config {
        timestamps: false,
        ..Config::default()
    });
    assert_eq!(
        synack.option_bytes(),
        [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]
    );
    assert_eq!(synack.window, 64240);
    assert!(third.option_bytes().is_empty());
    for info in [client, server] {
        assert!(!info.timestamps && info.sack);
        assert_eq!(info.snd_mss, 1460);
        assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 7));
    }

    // A server announcing MSS 1200 and offering nothing else: the client sends at most 1200
    // bytes per segment, without scaling, SACK or timestamps (it may not scale its own window
    // either, since the peer did not answer with wscale).
    let (_, synack, _, client, _) = negotiated(Config {
        mss: 1200,
        sack: false,
        window_scaling: false,
        timestamps: false,
        ..Config::default()
    });
    assert_eq!(synack.option_bytes(), [2, 4, 0x04, 0xb0]);
    assert_eq!((client.peer_mss, client.snd_mss), (1200, 1200));
    assert_eq!((client.snd_wscale, client.rcv_wscale), (0, 0));
    assert!(!client.sack && !client.timestamps);
}

#[test]
fn h14_simultaneous_open_passes_syn_received_on_both_sides_and_makes_one_connection() {
    let mut net = Net::new(14);
    let a_addr = sock(CLIENT_IP, 6000);
    let b_addr = sock(SERVER_IP, 5000);
    // Nobody listens: both connect() to each other's fixed port at the same instant.
    let ca = net.connect(net.client, b_addr, Some(a_addr));
    let cb = net.connect(net.server, a_addr, Some(b_addr));
    let a = net.ep(net.client).info(ca).unwrap().iss;
    let b = net.ep(net.server).info(cb).unwrap().iss;
    net.run_until(ms(100));
    let trace = net.dump();

    // RFC 9293 §3.5 figure 7: SYNs cross; each side answers SYN+ACK with its own ISN.
    let up = net.segs(net.client, net.server);
    let down = net.segs(net.server, net.client);
    assert!(up.len() >= 2 && down.len() >= 2, "{trace}");
    assert_segs(
        &up[..2],
        &[(ms(0), SYN, a, 0, 0), (ms(10), SYN | ACK, a, add(b, 1), 0)],
        &trace,
    );
    assert_segs(
        &down[..2],
        &[(ms(0), SYN, b, 0, 0), (ms(10), SYN | ACK, b, add(a, 1), 0)],
        &trace,
    );
    // Both pass SYN-RECEIVED, and each is ESTABLISHED when the other's SYN+ACK arrives
    // (figure 7 line 6; Linux since 6.10 accepts that SYN+ACK in SYN_RECV too).
    let ta = FourTuple {
        local: a_addr,
        remote: b_addr,
    };
    for (host, tuple) in [(net.client, ta), (net.server, ta.reversed())] {
        assert_eq!(
            net.transitions(host, tuple),
            [
                (ms(0), State::Closed, State::SynSent),
                (ms(10), State::SynSent, State::SynReceived),
                (ms(20), State::SynReceived, State::Established),
            ],
            "{trace}"
        );
    }

    // One connection, one TCB per side, both reported connected.
    assert!(net.events(net.client).contains(&Event::Connected(ca)));
    assert!(net.events(net.server).contains(&Event::Connected(cb)));
    for host in [net.client, net.server] {
        let r = net.ep(host).resources();
        assert_eq!((r.connections, r.half_open, r.listeners), (1, 0, 0));
    }
    let ia = net.ep(net.client).info(ca).unwrap();
    let ib = net.ep(net.server).info(cb).unwrap();
    assert_eq!((ia.irs, ib.irs), (b, a));
    assert_eq!((ia.snd_una, ib.snd_una), (add(a, 1), add(b, 1)));
    net.send(net.client, ca, b"ping");
    net.run_until(ms(200));
    assert_eq!(net.read_available(net.server, cb), b"ping");
}
