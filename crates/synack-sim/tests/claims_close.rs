//! Seed claims C01–C13: the four-way close (四次挥手), half-close, TIME-WAIT, as scenario tests
//! with exact segments, states and virtual times.
//!
//! Every test starts from the standard connection of [`establish`] (ESTABLISHED at 30 ms, 10 ms
//! one-way delay). `x`/`y` are the client's/server's ISNs; with no data sent, the client's FIN is
//! `u = x+1` and the server's `v = y+1`. The first close happens at `T` = 1 s.
//!
//! The ACK of a FIN that arrives in ESTABLISHED follows Linux: `tcp_fin` enters delayed-ACK
//! (ping-pong) mode, so that an application closing at once sends its FIN with that ACK, but the
//! delayed-ACK timeout (`icsk_ack.ato`) is still 0 until the first data segment has arrived (the
//! kernel's packetdrill test `tcp_close_close-remote-fin-then-close.pkt`). So on a connection
//! that has received no data the FIN is acknowledged at once, on its arrival; on one that has,
//! the ACK waits the 40 ms delayed-ACK timeout and goes together with the FIN if the application
//! closes within it.

mod claims_support;

use claims_support::*;
use synack_proto::{Config, Error, FourTuple, Instant, State};
use synack_sim::{craft_tcp, AppOptions, Fate, LinkConfig, LossReason};
use synack_wire::TcpOptions;

/// When the first side closes.
const T: Instant = Instant::from_millis(1000);
/// When the second side closes in the orderly scenarios.
const T2: Instant = Instant::from_millis(1200);

fn at(t: Instant, plus_ms: u64) -> Instant {
    t + d_ms(plus_ms)
}

fn established(seed: u64) -> (Net, Conn) {
    let mut net = Net::new(seed);
    let conn = establish(&mut net);
    (net, conn)
}

/// The transitions of `host` on `tuple` from `since` on.
fn transitions_since(
    net: &Net,
    host: synack_sim::HostId,
    tuple: FourTuple,
    since: Instant,
) -> Vec<(Instant, State, State)> {
    net.transitions(host, tuple)
        .into_iter()
        .filter(|(t, _, _)| *t >= since)
        .collect()
}

/// The orderly close of the notes: the client shuts down writing at `T` (keeping its handle to
/// read), the server reads end of stream and closes at `T2`. Runs until `T2` + 100 ms.
fn close_in_order(net: &mut Net, conn: &Conn) {
    net.run_until(T);
    net.shutdown(net.client, conn.client);
    net.run_until(T2);
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()), "EOF");
    net.close(net.server, conn.server);
    net.run_until(at(T2, 100));
}

#[test]
fn c01_close_sends_fin_seq_u_and_enters_fin_wait_1() {
    // The client closes first.
    let (mut net, conn) = established(1);
    let (u, y) = (add(conn.x, 1), conn.y);
    net.run_until(T);
    net.close(net.client, conn.client);
    assert_eq!(
        net.ep(net.client).state_of(&conn.tuple()),
        Some(State::FinWait1)
    );
    assert_segs(
        &net.segs_since(net.client, net.server, T),
        &[(T, FIN | ACK, u, add(y, 1), 0)],
        &net.dump(),
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [(T, State::Established, State::FinWait1)]
    );

    // Either side may close first: here the server does.
    let (mut net, conn) = established(2);
    let (x, v) = (conn.x, add(conn.y, 1));
    net.run_until(T);
    net.close(net.server, conn.server);
    assert_eq!(
        net.ep(net.server).state_of(&conn.server_tuple()),
        Some(State::FinWait1)
    );
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[(T, FIN | ACK, v, add(x, 1), 0)],
        &net.dump(),
    );
}

#[test]
fn c02_peer_acks_fin_with_u_plus_1_enters_close_wait_and_reads_eof() {
    let (mut net, conn) = established(3);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    net.run_until(T);
    net.close(net.client, conn.client);

    // Before the FIN arrives there is nothing to read; once it has, end of stream.
    net.run_until(at(T, 5));
    assert_eq!(net.recv(net.server, conn.server), Err(Error::WouldBlock));
    net.run_until(at(T, 10));
    assert_eq!(net.ep(net.server).state(conn.server), Ok(State::CloseWait));
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()));

    net.run_until(at(T, 100));
    // The ACK of the FIN (ack = u+1), sent at once on the FIN's arrival: no data has arrived on
    // this connection, so Linux's delayed-ACK timeout is still 0. It moves the closer to
    // FIN-WAIT-2 one delay later.
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[(at(T, 10), ACK, v, add(u, 1), 0)],
        &net.dump(),
    );
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T),
        [(at(T, 10), State::Established, State::CloseWait)]
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (at(T, 20), State::FinWait1, State::FinWait2),
        ]
    );
}

#[test]
fn c03_half_close_close_wait_side_sends_and_fin_wait_2_side_receives_and_acks() {
    let (mut net, conn) = established(4);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    net.run_until(T);
    // shutdown(SHUT_WR): the client stops sending but goes on reading.
    net.shutdown(net.client, conn.client);
    net.run_until(at(T, 100));
    assert_eq!(net.ep(net.client).state(conn.client), Ok(State::FinWait2));

    // The server, in CLOSE-WAIT, still sends; the client receives and acknowledges it at once.
    let data = pattern(1000, 3);
    net.send(net.server, conn.server, &data);
    net.run_until(at(T, 200));
    let trace = net.dump();
    assert_segs(
        &net.segs_since(net.server, net.client, at(T, 100)),
        &[(at(T, 100), PSH | ACK, v, add(u, 1), 1000)],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.client, net.server, at(T, 100)),
        &[(at(T, 110), ACK, add(u, 1), add(v, 1000), 0)],
        &trace,
    );
    assert_eq!(net.read_available(net.client, conn.client), data);
    assert_eq!(net.ep(net.client).state(conn.client), Ok(State::FinWait2));
    assert_eq!(net.ep(net.server).state(conn.server), Ok(State::CloseWait));
}

#[test]
fn c04_passive_close_sends_fin_seq_v_and_enters_last_ack() {
    let (mut net, conn) = established(5);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    net.run_until(T);
    net.shutdown(net.client, conn.client);
    net.run_until(T2);
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()));
    net.close(net.server, conn.server);

    assert_eq!(
        net.ep(net.server).state_of(&conn.server_tuple()),
        Some(State::LastAck)
    );
    assert_segs(
        &net.segs_since(net.server, net.client, T2),
        &[(T2, FIN | ACK, v, add(u, 1), 0)],
        &net.dump(),
    );
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T2),
        [(T2, State::CloseWait, State::LastAck)]
    );
}

#[test]
fn c05_closer_acks_v_plus_1_enters_time_wait_and_the_other_side_is_closed() {
    let (mut net, conn) = established(6);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    close_in_order(&mut net, &conn);
    let trace = net.dump();

    assert_segs(
        &net.segs_since(net.client, net.server, T2),
        &[(at(T2, 10), ACK, add(u, 1), add(v, 1), 0)],
        &trace,
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            // The server acknowledged the FIN at once (no data received: no delayed ACK).
            (at(T, 20), State::FinWait1, State::FinWait2),
            (at(T2, 10), State::FinWait2, State::TimeWait),
        ]
    );
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T2),
        [
            (T2, State::CloseWait, State::LastAck),
            (at(T2, 20), State::LastAck, State::Closed),
        ]
    );
    // The closer's 4-tuple is held by a compact TIME-WAIT entry; its handle reads CLOSED.
    let client = net.ep(net.client);
    assert_eq!(client.state_of(&conn.tuple()), Some(State::TimeWait));
    assert_eq!(client.resources().time_wait, 1);
    assert_eq!(client.state(conn.client), Ok(State::Closed));
    assert_eq!(net.closed_error(net.client, conn.client), Some(None));
    // The other side holds nothing.
    let server = net.ep(net.server);
    assert_eq!(server.state_of(&conn.server_tuple()), None);
    let r = server.resources();
    assert_eq!((r.connections, r.time_wait, r.timers), (0, 0, 0));
}

#[test]
fn c06_time_wait_lasts_60_s_and_only_the_first_closer_passes_through_it() {
    let (mut net, conn) = established(7);
    close_in_order(&mut net, &conn);
    let entered = at(T2, 10);
    let tuple = conn.tuple();

    net.run_until(entered + d_s(60) - d_ms(1));
    assert_eq!(net.ep(net.client).state_of(&tuple), Some(State::TimeWait));
    net.run_until(entered + d_s(60));
    assert_eq!(net.ep(net.client).state_of(&tuple), None);
    assert_eq!(
        transitions_since(&net, net.client, tuple, entered),
        [
            (entered, State::FinWait2, State::TimeWait),
            (entered + d_s(60), State::TimeWait, State::Closed),
        ]
    );
    let server_states = net.sim.states_of(net.server, conn.server_tuple());
    assert!(
        !server_states.contains(&State::TimeWait),
        "{server_states:?}"
    );
    net.close(net.client, conn.client);
    for host in [net.client, net.server] {
        let r = net.ep(host).resources();
        assert_eq!((r.connections, r.time_wait, r.timers), (0, 0, 0));
    }

    // 2 MSL is configurable.
    let mut net = Net::with(
        7,
        Config {
            time_wait: d_s(5),
            ..Config::default()
        },
        Config::default(),
        LinkConfig::with_delay(DELAY),
    );
    let conn = establish(&mut net);
    close_in_order(&mut net, &conn);
    net.run_until(entered + d_s(10));
    assert_eq!(
        transitions_since(&net, net.client, tuple, entered),
        [
            (entered, State::FinWait2, State::TimeWait),
            (entered + d_s(5), State::TimeWait, State::Closed),
        ]
    );
}

#[test]
fn c07_final_ack_lost_last_ack_side_resends_fin_and_time_wait_acks_and_restarts() {
    let (mut net, conn) = established(8);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    // The client's first ACK of the server's FIN is lost.
    net.sim.drop_matching(
        net.client,
        net.server,
        move |p| p.is_pure_ack() && p.ack == add(v, 1),
        Some(1),
    );
    net.run_until(T);
    net.shutdown(net.client, conn.client);
    net.run_until(T2);
    // The server's RTO from its one RTT sample (SYN+ACK to ACK: 20 ms), RFC 6298:
    // SRTT + max(4 * RTTVAR, 200 ms) = 20 ms + max(40 ms, 200 ms).
    let rto = net.ep(net.server).info(conn.server).unwrap().rto;
    assert_eq!(rto, d_ms(220));
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()));
    net.close(net.server, conn.server);
    net.run_until(at(T2, 1000));
    let trace = net.dump();

    assert_segs(
        &net.segs_since(net.server, net.client, T2),
        &[
            (T2, FIN | ACK, v, add(u, 1), 0),
            (T2 + rto, FIN | ACK, v, add(u, 1), 0),
        ],
        &trace,
    );
    let acks = net.segs_since(net.client, net.server, T2);
    assert_segs(
        &acks,
        &[
            (at(T2, 10), ACK, add(u, 1), add(v, 1), 0),
            (T2 + rto + d_ms(10), ACK, add(u, 1), add(v, 1), 0),
        ],
        &trace,
    );
    assert_eq!(acks[0].fate, Fate::Lost(LossReason::Scripted));
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T2),
        [
            (T2, State::CloseWait, State::LastAck),
            (T2 + rto + d_ms(20), State::LastAck, State::Closed),
        ]
    );

    // The repeated FIN restarted the 2 MSL timer: TIME-WAIT ends 60 s after the second ACK.
    let restarted = T2 + rto + d_ms(10);
    net.run_until(at(T2, 10) + d_s(60));
    assert_eq!(
        net.ep(net.client).state_of(&conn.tuple()),
        Some(State::TimeWait)
    );
    net.run_until(restarted + d_s(60));
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T2),
        [
            (at(T2, 10), State::FinWait2, State::TimeWait),
            (restarted + d_s(60), State::TimeWait, State::Closed),
        ]
    );
}

#[test]
fn c08_ack_of_the_first_fin_lost_closer_resends_fin_after_its_rto() {
    let (mut net, conn) = established(9);
    let (u, y) = (add(conn.x, 1), conn.y);
    // The server's ACK of the client's FIN is lost.
    net.sim.drop_matching(
        net.server,
        net.client,
        move |p| p.is_pure_ack() && p.ack == add(u, 1),
        Some(1),
    );
    net.run_until(T);
    // Client RTO from the handshake sample (SYN to SYN+ACK: 20 ms): 20 + max(40, 200) ms.
    let rto = net.ep(net.client).info(conn.client).unwrap().rto;
    assert_eq!(rto, d_ms(220));
    net.close(net.client, conn.client);
    net.run_until(at(T, 1000));
    let trace = net.dump();

    assert_segs(
        &net.segs_since(net.client, net.server, T),
        &[
            (T, FIN | ACK, u, add(y, 1), 0),
            (T + rto, FIN | ACK, u, add(y, 1), 0),
        ],
        &trace,
    );
    // The server acknowledges the FIN at once on its arrival (no data received yet, so no
    // delayed ACK); that ACK is lost, and the repeated FIN is acknowledged at once too.
    let acks = net.segs_since(net.server, net.client, T);
    assert_segs(
        &acks,
        &[
            (at(T, 10), ACK, add(y, 1), add(u, 1), 0),
            (T + rto + d_ms(10), ACK, add(y, 1), add(u, 1), 0),
        ],
        &trace,
    );
    assert_eq!(acks[0].fate, Fate::Lost(LossReason::Scripted));
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (T + rto + d_ms(20), State::FinWait1, State::FinWait2),
        ]
    );
}

/// A request and its response before the close: the client sends 100 bytes at 500 ms, the
/// server reads them and answers 100 bytes at 600 ms, which the client reads. Each side then
/// has received data, so the server's delayed-ACK timeout is no longer 0. Runs until 700 ms.
/// (The segments of this exchange are not the subject of C09; its tests check those from `T`.)
fn exchange_data(net: &mut Net, conn: &Conn) {
    net.run_until(ms(500));
    net.send(net.client, conn.client, &pattern(100, 1));
    net.run_until(ms(600));
    assert_eq!(net.read_available(net.server, conn.server), pattern(100, 1));
    net.send(net.server, conn.server, &pattern(100, 2));
    net.run_until(ms(700));
    assert_eq!(net.read_available(net.client, conn.client), pattern(100, 2));
    // Both sides are ESTABLISHED with everything acknowledged: 100 bytes each way.
    let (x, y) = (conn.x, conn.y);
    for (host, c, snd, rcv) in [
        (net.client, conn.client, add(x, 101), add(y, 101)),
        (net.server, conn.server, add(y, 101), add(x, 101)),
    ] {
        let info = net.ep(host).info(c).unwrap();
        assert_eq!(
            (info.state, info.snd_una, info.snd_nxt, info.rcv_nxt),
            (State::Established, snd, snd, rcv),
            "{}",
            net.dump()
        );
    }
}

#[test]
fn c09_passive_ack_and_fin_are_separate_unless_it_closes_at_once() {
    // Linux's rule: a FIN arriving in ESTABLISHED puts the receiver in delayed-ACK (ping-pong)
    // mode, so its ACK waits up to 40 ms for something to ride on; if the application closes
    // within that time, the ACK travels with its FIN. The delayed-ACK timeout (`icsk_ack.ato`)
    // is 0, though, until the first data segment has arrived: before any data the FIN is
    // acknowledged at once.

    // (a) Data exchanged, then the server closes as soon as it reads end of stream: a single
    //     FIN+ACK segment acknowledges the client's FIN, and no pure ACK is sent.
    let (mut net, conn) = established(11);
    exchange_data(&mut net, &conn);
    // After 100 bytes each way: u = x+101, v = y+101.
    let (u, v) = (add(conn.x, 101), add(conn.y, 101));
    let server = net.server;
    net.sim.app_set_options(
        server,
        conn.server,
        AppOptions::default().close_on_eof(true),
    );
    net.run_until(T);
    net.close(net.client, conn.client);
    net.run_until(at(T, 100));
    let trace = net.dump();
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[(at(T, 10), FIN | ACK, v, add(u, 1), 0)],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.client, net.server, T),
        &[
            (T, FIN | ACK, u, v, 0),
            (at(T, 20), ACK, add(u, 1), add(v, 1), 0),
        ],
        &trace,
    );
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T),
        [
            (at(T, 10), State::Established, State::CloseWait),
            (at(T, 10), State::CloseWait, State::LastAck),
            (at(T, 30), State::LastAck, State::Closed),
        ]
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (at(T, 20), State::FinWait1, State::FinWait2),
            (at(T, 20), State::FinWait2, State::TimeWait),
        ]
    );

    // (b) Data exchanged, but the server does not close at once: it still has a last response
    //     to send (at T + 100 ms) and closes only at T2. Its ACK of the FIN goes alone when the
    //     40 ms delayed-ACK timer fires, then the data, then the FIN, each a segment of its own.
    let (mut net, conn) = established(10);
    exchange_data(&mut net, &conn);
    let (u, v) = (add(conn.x, 101), add(conn.y, 101));
    net.run_until(T);
    net.shutdown(net.client, conn.client);
    net.run_until(at(T, 100));
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()), "EOF");
    net.send(net.server, conn.server, &pattern(100, 3));
    net.run_until(T2);
    net.close(net.server, conn.server);
    net.run_until(at(T2, 100));
    let trace = net.dump();
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[
            (at(T, 50), ACK, v, add(u, 1), 0),
            (at(T, 100), PSH | ACK, v, add(u, 1), 100),
            (T2, FIN | ACK, add(v, 100), add(u, 1), 0),
        ],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.client, net.server, T),
        &[
            (T, FIN | ACK, u, v, 0),
            (at(T, 110), ACK, add(u, 1), add(v, 100), 0),
            (at(T2, 10), ACK, add(u, 1), add(v, 101), 0),
        ],
        &trace,
    );
    assert_eq!(net.read_available(net.client, conn.client), pattern(100, 3));
    assert_eq!(
        transitions_since(&net, net.server, conn.server_tuple(), T),
        [
            (at(T, 10), State::Established, State::CloseWait),
            (T2, State::CloseWait, State::LastAck),
            (at(T2, 20), State::LastAck, State::Closed),
        ]
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (at(T, 60), State::FinWait1, State::FinWait2),
            (at(T2, 10), State::FinWait2, State::TimeWait),
        ]
    );

    // (c) No data received yet (the delayed-ACK timeout is still 0): the server acknowledges
    //     the FIN at once, on its arrival, in a pure ACK; its FIN follows when it closes at T2.
    let (mut net, conn) = established(12);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    close_in_order(&mut net, &conn);
    let trace = net.dump();
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[
            (at(T, 10), ACK, v, add(u, 1), 0),
            (T2, FIN | ACK, v, add(u, 1), 0),
        ],
        &trace,
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (at(T, 20), State::FinWait1, State::FinWait2),
            (at(T2, 10), State::FinWait2, State::TimeWait),
        ]
    );
}

#[test]
fn c10_time_wait_keeps_old_segments_out_and_accepts_only_a_safe_new_syn() {
    let (mut net, conn) = established(12);
    let (x1, y1) = (conn.x, conn.y);
    // Some data of the old connection, whose segment will come back later as an old duplicate.
    net.run_until(ms(500));
    let old_data = pattern(100, 0xa5);
    net.send(net.client, conn.client, &old_data);
    net.run_until(ms(600));
    assert_eq!(net.read_available(net.server, conn.server), old_data);
    let old_dup = net
        .segs(net.client, net.server)
        .into_iter()
        .find(|s| s.len == 100)
        .expect("the data segment")
        .bytes;

    // The server closes first and holds TIME-WAIT; the client closes when it reads EOF.
    let client = net.client;
    net.sim.app_set_options(
        client,
        conn.client,
        AppOptions::default().close_on_eof(true),
    );
    net.run_until(T);
    net.close(net.server, conn.server);
    net.run_until(at(T, 100));
    let st = conn.server_tuple();
    assert_eq!(net.ep(net.server).state_of(&st), Some(State::TimeWait));
    assert_eq!(net.ep(net.client).state_of(&conn.tuple()), None);
    // TIME-WAIT remembers rcv_nxt = x+1 + 100 data + 1 FIN, snd_nxt = y+1 + 1 FIN.
    let (tw_rcv_nxt, tw_snd_nxt) = (add(x1, 102), add(y1, 2));

    // Answers to old segments reach the client, which has no connection and resets them; such a
    // RST would end TIME-WAIT early (the "TIME-WAIT assassination" of RFC 1337, which Linux also
    // allows by default). Keep those RSTs off the wire so that TIME-WAIT does its own job here.
    net.sim
        .drop_matching(net.client, net.server, |p| p.flags.rst(), None);

    // 1. An old duplicate data segment during TIME-WAIT: answered with the TIME-WAIT ACK and
    //    taken as nobody's data.
    net.sim.inject(ms(2000), client, old_dup.clone());
    net.run_until(ms(2100));
    assert_segs(
        &net.segs_since(net.server, net.client, ms(2000)),
        &[(ms(2010), ACK, tw_snd_nxt, tw_rcv_nxt, 0)],
        &net.dump(),
    );
    assert_eq!(net.ep(net.server).state_of(&st), Some(State::TimeWait));

    // 2. An old SYN whose sequence number is not beyond the old connection (and no timestamp):
    //    not accepted, answered with the TIME-WAIT ACK.
    let options = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    let old_syn = craft_tcp(
        client_addr(),
        server_addr(),
        add(x1, 50),
        0,
        SYN,
        64240,
        options,
        &[],
    )
    .unwrap();
    net.sim.inject(ms(3000), client, old_syn);
    net.run_until(ms(3100));
    assert_segs(
        &net.segs_since(net.server, net.client, ms(3000)),
        &[(ms(3010), ACK, tw_snd_nxt, tw_rcv_nxt, 0)],
        &net.dump(),
    );
    let ep = net.ep(net.server);
    assert_eq!(ep.state_of(&st), Some(State::TimeWait));
    assert_eq!(ep.syn_queue_len(conn.listener), Ok(0));
    assert_eq!(ep.counters().time_wait_recycled, 0);

    // 3. A new connection on the same 4-tuple: its SYN is beyond the old connection (ISN clock,
    //    and a newer timestamp), so TIME-WAIT gives way. The server starts its new sequence
    //    space 64 KiB + 2 past the old one (Linux: tw_snd_nxt + 65535 + 2).
    net.run_until(ms(4000));
    let c2 = net.connect(net.client, server_addr(), Some(client_addr()));
    let x2 = net.ep(net.client).info(c2).unwrap().iss;
    assert!((x2.wrapping_sub(tw_rcv_nxt) as i32) > 0);
    net.run_until(ms(4030));
    let y2 = add(tw_snd_nxt, 65537);
    assert_segs(
        &net.segs_since(net.server, net.client, ms(4000)),
        &[(ms(4010), SYN | ACK, y2, add(x2, 1), 0)],
        &net.dump(),
    );
    assert_eq!(
        transitions_since(&net, net.server, st, ms(4000)),
        [
            (ms(4010), State::TimeWait, State::Closed),
            (ms(4010), State::Listen, State::SynReceived),
            (ms(4030), State::SynReceived, State::Established),
        ]
    );
    assert_eq!(net.ep(net.server).counters().time_wait_recycled, 1);
    let s2 = net.accept(conn.listener).expect("the new connection");
    assert_eq!(net.ep(net.server).info(s2).unwrap().irs, x2);

    // 4. The old duplicate once more: the new connection does not take it as its data.
    net.sim.inject(ms(5000), client, old_dup);
    net.run_until(ms(5100));
    assert_eq!(net.recv(net.server, s2), Err(Error::WouldBlock));
    let info = net.ep(net.server).info(s2).unwrap();
    assert_eq!(
        (info.rcv_nxt, info.recv_buffered, info.out_of_order),
        (add(x2, 1), 0, 0)
    );
    // Its own data arrives intact.
    net.send(net.client, c2, b"new data");
    net.run_until(ms(6000));
    assert_eq!(net.read_available(net.server, s2), b"new data");
}

#[test]
fn c11_simultaneous_close_both_pass_closing_and_end_in_time_wait() {
    let (mut net, conn) = established(13);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    net.run_until(T);
    net.close(net.client, conn.client);
    net.close(net.server, conn.server);
    net.run_until(at(T, 100));
    let trace = net.dump();

    // The FINs cross; each side ACKs the other's FIN at once.
    assert_segs(
        &net.segs_since(net.client, net.server, T),
        &[
            (T, FIN | ACK, u, v, 0),
            (at(T, 10), ACK, add(u, 1), add(v, 1), 0),
        ],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.server, net.client, T),
        &[
            (T, FIN | ACK, v, u, 0),
            (at(T, 10), ACK, add(v, 1), add(u, 1), 0),
        ],
        &trace,
    );
    let done = at(T, 20) + d_s(60);
    net.run_until(done);
    for (host, tuple) in [
        (net.client, conn.tuple()),
        (net.server, conn.server_tuple()),
    ] {
        assert_eq!(
            transitions_since(&net, host, tuple, T),
            [
                (T, State::Established, State::FinWait1),
                (at(T, 10), State::FinWait1, State::Closing),
                (at(T, 20), State::Closing, State::TimeWait),
                (done, State::TimeWait, State::Closed),
            ],
            "{trace}"
        );
        let r = net.ep(host).resources();
        assert_eq!((r.connections, r.time_wait, r.timers), (0, 0, 0));
    }
}

#[test]
fn c12_segment_for_a_connection_that_no_longer_exists_gets_rst() {
    // The server's connection vanishes (aborted; its RST is lost on the way), the client still
    // thinks it is open and sends data.
    let (mut net, conn) = established(14);
    let (x, y) = (conn.x, conn.y);
    net.sim
        .drop_matching(net.server, net.client, |p| p.flags.rst(), Some(1));
    net.run_until(T);
    net.abort(net.server, conn.server);
    assert_eq!(net.ep(net.server).state_of(&conn.server_tuple()), None);
    net.run_until(ms(2000));
    net.send(net.client, conn.client, b"hello");
    net.run_until(ms(2100));
    let trace = net.dump();

    // The data segment carries ACK y+1: the answer is RST with seq = that ack and no ACK flag
    // (RFC 9293 §3.10.7.1).
    assert_segs(
        &net.segs_since(net.client, net.server, ms(2000)),
        &[(ms(2000), PSH | ACK, add(x, 1), add(y, 1), 5)],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.server, net.client, ms(2000)),
        &[(ms(2010), RST, add(y, 1), 0, 0)],
        &trace,
    );
    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), ms(2000)),
        [(ms(2020), State::Established, State::Closed)]
    );
    assert_eq!(
        net.closed_error(net.client, conn.client),
        Some(Some(Error::ConnectionReset))
    );
    assert_eq!(
        net.recv(net.client, conn.client),
        Err(Error::ConnectionReset)
    );

    // A segment without ACK for no connection: RST+ACK, seq 0, ack = SEG.SEQ + SEG.LEN.
    let stranger = sock("10.0.0.9", 7777);
    let closed_port = sock(SERVER_IP, 81);
    let fin_data = craft_tcp(
        stranger,
        closed_port,
        5000,
        0,
        FIN | PSH,
        1000,
        TcpOptions::default(),
        b"abc",
    )
    .unwrap();
    let client = net.client;
    net.sim.inject(ms(3000), client, fin_data);
    net.run_until(ms(3100));
    let answers = segs_to(&net.sim, stranger);
    assert_eq!(answers.len(), 1, "{}", net.dump());
    assert_seg(&answers[0], ms(3010), RST | ACK, 0, 5000 + 3 + 1, 0);
}

#[test]
fn c13_orphaned_fin_wait_2_is_reclaimed_after_60_s() {
    let (mut net, conn) = established(15);
    let (u, v) = (add(conn.x, 1), add(conn.y, 1));
    // The client closes (the application is gone); the server application never closes.
    net.run_until(T);
    net.close(net.client, conn.client);
    // The server acknowledges the FIN at once (no data received, so no delayed ACK): FIN-WAIT-2
    // from when that ACK arrives.
    let fin_wait_2 = at(T, 20);
    net.run_until(fin_wait_2 + d_s(60) - d_ms(1));
    assert_eq!(
        net.ep(net.client).state_of(&conn.tuple()),
        Some(State::FinWait2)
    );
    net.run_until(fin_wait_2 + d_s(60));

    assert_eq!(
        transitions_since(&net, net.client, conn.tuple(), T),
        [
            (T, State::Established, State::FinWait1),
            (fin_wait_2, State::FinWait1, State::FinWait2),
            (fin_wait_2 + d_s(60), State::FinWait2, State::Closed),
        ]
    );
    let client = net.ep(net.client);
    assert_eq!(client.state_of(&conn.tuple()), None);
    assert_eq!(client.counters().fin_wait2_timeouts, 1);
    let r = client.resources();
    assert_eq!(
        (r.connections, r.half_open, r.time_wait, r.timers),
        (0, 0, 0, 0)
    );
    assert_eq!(net.ep(net.server).state(conn.server), Ok(State::CloseWait));

    // When the server finally closes, its FIN finds no connection and is reset; then neither
    // side holds anything.
    let late = ms(70_000);
    net.run_until(late);
    assert_eq!(net.recv(net.server, conn.server), Ok(Vec::new()));
    net.close(net.server, conn.server);
    net.run_until(late + d_ms(100));
    let trace = net.dump();
    assert_segs(
        &net.segs_since(net.server, net.client, late),
        &[(late, FIN | ACK, v, add(u, 1), 0)],
        &trace,
    );
    assert_segs(
        &net.segs_since(net.client, net.server, late),
        &[(at(late, 10), RST, add(u, 1), 0, 0)],
        &trace,
    );
    let r = net.ep(net.server).resources();
    assert_eq!(
        (r.connections, r.half_open, r.time_wait, r.timers),
        (0, 0, 0, 0)
    );
}

#[test]
fn c05_old_data_resent_with_the_fin_after_close_is_acked_not_reset() {
    let (mut net, conn) = established(16);
    let (c, s, x) = (conn.client, conn.server, conn.x);
    // For 300 ms from T everything the server sends is lost (its ACK of the data, its FIN and
    // the FIN's first retransmission), and so is the client's bare FIN, twice: as first sent
    // and as resent by the tail loss probe. So the client's RTO resends the data with its FIN.
    net.sim.drop_matching(
        net.server,
        net.client,
        |p| p.time >= T && p.time < at(T, 300),
        None,
    );
    net.sim.drop_matching(
        net.client,
        net.server,
        |p| p.flags.fin() && p.payload_len == 0,
        Some(2),
    );
    net.run_until(T);
    net.send(net.client, c, &pattern(1000, 9));
    net.shutdown(net.client, c);
    net.run_until(at(T, 10));
    // The server has all the data, reads it, and closes.
    assert_eq!(net.read_available(net.server, s), pattern(1000, 9));
    net.close(net.server, s);
    net.run_until(T + d_s(100));
    let trace = net.dump();

    // The client's timeout resends the data with its FIN: old data for the server, plus a new
    // FIN.
    let resent = net
        .segs_since(net.client, net.server, at(T, 20))
        .into_iter()
        .find(|s| s.len > 0)
        .expect("a retransmission");
    assert_eq!(
        (resent.flags, resent.seq, resent.len),
        (FIN | PSH | ACK, add(x, 1), 1000),
        "{trace}"
    );
    // Only new data makes a closed socket answer RST (Linux: `end_seq - fin` after rcv_nxt);
    // this segment's news is the FIN alone, which is acknowledged, and the close is orderly.
    let rsts = segs_where(&net.sim, |s| s.flags.rst());
    assert!(rsts.is_empty(), "no RST expected:\n{trace}");
    assert_eq!(net.closed_error(net.client, c), Some(None), "{trace}");
    assert_eq!(net.recv(net.client, c), Ok(Vec::new()));
    let server_states = net.sim.states_of(net.server, conn.server_tuple());
    assert!(
        server_states.ends_with(&[State::TimeWait, State::Closed]),
        "the server closed first and passes TIME-WAIT: {server_states:?}\n{trace}"
    );
    for host in [net.client, net.server] {
        assert_eq!(net.ep(host).counters().out_rsts, 0);
    }
}
