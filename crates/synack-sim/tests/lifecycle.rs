//! Two hosts open a connection, move data both ways and close it, through the simulator; and the
//! same seed gives the same trace.

mod common;

use std::time::Duration;

use common::{delay_ms, pair, pattern, server_addr};
use synack_proto::{Instant, State};
use synack_sim::{AppOptions, Fate, LinkConfig, LossReason, TraceKind};

#[test]
fn handshake_transfer_and_close_are_traced() {
    let (mut sim, c, s) = pair(1, delay_ms(10));
    sim.app_serve(
        s,
        server_addr(),
        16,
        AppOptions::default().close_on_eof(true),
    )
    .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    let up = pattern(100_000, 1);
    sim.app_send_all(c, conn, &up);
    sim.app_close(c, conn);
    assert!(sim.run_until_idle(Instant::from_secs(300)));

    let served = sim.app_accepted(s);
    assert_eq!(served.len(), 1);
    let sconn = served[0];
    assert_eq!(sim.app_received(s, sconn), &up[..]);
    assert!(sim.app_eof(s, sconn));
    assert_eq!(sim.app_unsent(c, conn), 0);
    assert_eq!(sim.app_error(c, conn), None);

    // The handshake, as the trace shows it.
    let to_server = sim.packets_between(c, s);
    let to_client = sim.packets_between(s, c);
    let syn = to_server[0].info;
    let synack = to_client[0].info;
    let third = to_server[1].info;
    assert_eq!(syn.flags, synack_wire::TcpFlags::SYN);
    assert_eq!(syn.payload_len, 0);
    assert_eq!(
        synack.flags,
        synack_wire::TcpFlags::SYN | synack_wire::TcpFlags::ACK
    );
    assert_eq!(synack.ack, syn.seq.wrapping_add(1));
    assert!(third.flags.ack() && !third.flags.syn());
    assert_eq!(third.seq, syn.seq.wrapping_add(1));
    assert_eq!(third.ack, synack.seq.wrapping_add(1));
    assert_eq!(
        to_server[0].fate,
        Fate::Delivered {
            at: Instant::from_millis(10)
        }
    );
    assert_eq!(
        to_client[0].fate,
        Fate::Delivered {
            at: Instant::from_millis(20)
        }
    );

    // Every state on both sides, in order: the client closed first and passed TIME-WAIT.
    let tuple = sim.app_tuple(c, conn).unwrap();
    use State::*;
    assert_eq!(
        sim.states_of(c, tuple),
        [
            Closed,
            SynSent,
            Established,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed
        ]
    );
    assert_eq!(
        sim.states_of(s, tuple.reversed()),
        [Listen, SynReceived, Established, CloseWait, LastAck, Closed]
    );
    // TIME-WAIT lasted the default 60 s.
    let changes = sim.trace().state_changes(c);
    let entered = changes.iter().find(|x| x.3 == TimeWait).unwrap().0;
    let left = changes.iter().find(|x| x.2 == TimeWait).unwrap().0;
    assert_eq!(left - entered, Duration::from_secs(60));

    // The application's actions are in the trace.
    let notes = sim.trace().notes(c);
    assert_eq!(notes[0], "connect(10.0.0.2:80)");
    assert!(notes.contains(&"connect() done"));
    assert!(notes.contains(&"close()"));
    assert!(sim.trace().notes(s).contains(&"read EOF"));

    // Nothing lost, nothing left behind.
    assert!(sim.trace().packets().all(|p| p.fate.is_delivered()));
    for h in [c, s] {
        let r = sim.endpoint(h).resources();
        assert_eq!(
            (r.connections, r.half_open, r.time_wait, r.timers),
            (0, 0, 0, 0),
            "{r:?}"
        );
    }
}

#[test]
fn data_flows_both_ways_and_half_close_works() {
    let (mut sim, c, s) = pair(2, delay_ms(5));
    sim.app_serve(s, server_addr(), 16, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    let up = pattern(20_000, 3);
    let down = pattern(50_000, 7);
    sim.app_send_all(c, conn, &up);
    sim.app_shutdown(c, conn);
    assert!(sim.run_until_cond(Instant::from_secs(10), |sim| {
        sim.app_accepted(s)
            .first()
            .is_some_and(|&sc| sim.app_eof(s, sc))
    }));
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_read_all(s, sconn), up);
    // The server is in CLOSE-WAIT and may still send (half-close).
    assert_eq!(sim.endpoint(s).state(sconn).unwrap(), State::CloseWait);
    sim.app_send_all(s, sconn, &down);
    sim.app_close(s, sconn);
    assert!(sim.run_until_cond(Instant::from_secs(20), |sim| sim.app_eof(c, conn)));
    assert_eq!(sim.app_read_all(c, conn), down);
    sim.app_close(c, conn);
    assert!(sim.run_until_idle(Instant::from_secs(200)));
    // The server closed last, so only the client passed TIME-WAIT.
    let tuple = sim.app_tuple(c, conn).unwrap();
    assert!(sim.states_of(c, tuple).contains(&State::TimeWait));
    assert!(!sim
        .states_of(s, tuple.reversed())
        .contains(&State::TimeWait));
}

fn lossy_run(seed: u64) -> synack_sim::Trace {
    let link = LinkConfig::with_delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(5))
        .loss(0.05)
        .duplicate(0.02)
        .reorder(0.02, Duration::from_millis(15));
    let (mut sim, c, s) = pair(seed, link);
    sim.app_serve(
        s,
        server_addr(),
        16,
        AppOptions::default().close_on_eof(true),
    )
    .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.app_send_all(c, conn, &pattern(60_000, 9));
    sim.app_close(c, conn);
    sim.run_until_idle(Instant::from_secs(600));
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, sconn), &pattern(60_000, 9)[..]);
    sim.trace().clone()
}

#[test]
fn same_seed_gives_identical_trace() {
    let a = lossy_run(7);
    let b = lossy_run(7);
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    // Raw bytes and times identical too (part of equality, but say it plainly).
    let bytes = |t: &synack_sim::Trace| -> Vec<(Instant, Vec<u8>)> {
        t.packets()
            .map(|p| (p.time, p.info.bytes.clone()))
            .collect()
    };
    assert_eq!(bytes(&a), bytes(&b));
    // The run did exercise the impairments.
    assert!(a
        .packets()
        .any(|p| p.fate == Fate::Lost(LossReason::Random)));
}

#[test]
fn different_seed_gives_different_trace() {
    let a = lossy_run(7);
    let b = lossy_run(8);
    assert_ne!(a, b);
    let fates = |t: &synack_sim::Trace| -> Vec<Fate> { t.packets().map(|p| p.fate).collect() };
    assert_ne!(fates(&a), fates(&b));
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (mut sim, c, s) = pair(3, delay_ms(1));
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(10));
    assert_eq!(
        sim.app_error(c, conn),
        Some(synack_proto::Error::ConnectionRefused)
    );
    let rst = sim.packets_between(s, c)[0].info.clone();
    assert!(rst.flags.rst());
    assert!(sim.trace().events().iter().any(|e| matches!(
        e.kind,
        TraceKind::ConnClosed { host, error: Some(synack_proto::Error::ConnectionRefused), .. } if host == c
    )));
}

#[test]
fn driving_the_endpoint_directly() {
    let (mut sim, c, s) = pair(4, delay_ms(3));
    let l = sim.endpoint(s).listen(server_addr(), 8).unwrap();
    let now = sim.now();
    let conn = sim.endpoint(c).connect(now, server_addr(), None).unwrap();
    // Nothing is on the wire until the sim flushes the host (the run methods do).
    assert_eq!(sim.in_flight(), 0);
    sim.flush(c);
    assert_eq!(sim.in_flight(), 1);
    sim.run_for(Duration::from_millis(10));
    let sconn = sim.endpoint(s).accept(l).unwrap();
    let n = sim
        .with_endpoint(c, |ep, now| ep.send(now, conn, b"ping"))
        .unwrap();
    assert_eq!(n, 4);
    sim.run_for(Duration::from_millis(10));
    let mut buf = [0u8; 16];
    let now = sim.now();
    assert_eq!(sim.endpoint(s).recv(now, sconn, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    // The endpoint's events are kept for the test.
    let mut connected = false;
    while let Some(ev) = sim.poll_event(c) {
        connected |= ev == synack_proto::Event::Connected(conn);
    }
    assert!(connected);
    // step() processes one event at a time.
    assert!(!sim.step() || sim.now() > Instant::ZERO);
}

#[test]
fn app_send_all_keeps_writing_as_the_reader_frees_space() {
    let (mut sim, c, s) = pair(5, delay_ms(5));
    // The server's application does not read: its receive buffer fills and the window closes.
    sim.app_serve(s, server_addr(), 4, AppOptions::default().auto_read(false))
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    // More than the receive buffer plus a send buffer auto-tuned to the window (which slow
    // start keeps growing towards twice what the receiver's window lets out, as Linux does).
    let data = pattern(2_000_000, 4);
    sim.app_send_all(c, conn, &data);
    sim.run_for(Duration::from_secs(3));
    let sconn = sim.app_accepted(s)[0];
    assert!(sim.app_unsent(c, conn) > 0, "everything fit somewhere");
    assert!(sim.app_received(s, sconn).is_empty());
    let info = sim.endpoint(s).info(sconn).unwrap();
    assert!(info.recv_buffered > 0);
    // Reading in turns lets the rest through.
    let mut got = Vec::new();
    for _ in 0..600 {
        got.extend(sim.app_read_all(s, sconn));
        if got.len() == data.len() {
            break;
        }
        sim.run_for(Duration::from_millis(50));
    }
    assert_eq!(got, data);
    assert_eq!(sim.app_unsent(c, conn), 0);
    assert_eq!(sim.app_written(c, conn), data.len() as u64);
}
