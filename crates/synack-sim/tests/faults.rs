//! Scripted faults: dropping the nth packet, dropping or delaying matching packets, and injecting
//! crafted segments.

mod common;

use std::time::Duration;

use common::{delay_ms, pair, pattern, server_addr};
use synack_proto::{Error, Instant, State};
use synack_sim::{craft_tcp, AppOptions, Fate, LossReason, TraceKind};
use synack_wire::{TcpFlags, TcpOptions};

#[test]
fn drop_nth_drops_the_syn_and_the_client_retransmits_after_the_initial_rto() {
    let (mut sim, c, s) = pair(1, delay_ms(10));
    sim.drop_nth(c, s, 1);
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_secs(2));
    let up = sim.packets_between(c, s);
    assert_eq!(up[0].fate, Fate::Lost(LossReason::Scripted));
    assert!(up[0].info.flags.syn());
    // The retransmitted SYN: same sequence number, 1 s later (initial RTO), and delivered.
    assert!(up[1].info.flags.syn());
    assert_eq!(up[1].info.seq, up[0].info.seq);
    assert_eq!(up[1].time, Instant::from_secs(1));
    assert!(up[1].fate.is_delivered());
    assert_eq!(sim.endpoint(c).state(conn).unwrap(), State::Established);
    assert_eq!(sim.endpoint(c).counters().retrans_segs, 1);
}

#[test]
fn drop_nth_counts_per_direction() {
    let (mut sim, c, s) = pair(2, delay_ms(10));
    // The server's first packet is the SYN+ACK; the client's second is the third handshake
    // segment.
    sim.drop_nth(s, c, 1);
    sim.drop_nth(c, s, 2);
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_secs(5));
    let down = sim.packets_between(s, c);
    let up = sim.packets_between(c, s);
    assert_eq!(down[0].fate, Fate::Lost(LossReason::Scripted));
    assert_eq!(up[0].fate.loss(), None);
    assert_eq!(up[1].fate, Fate::Lost(LossReason::Scripted));
    let dropped = sim
        .trace()
        .packets()
        .filter(|p| p.fate == Fate::Lost(LossReason::Scripted))
        .count();
    assert_eq!(dropped, 2);
}

#[test]
fn drop_matching_with_a_count_drops_only_that_many() {
    let (mut sim, c, s) = pair(3, delay_ms(10));
    // Lose the client's FIN twice: it is retransmitted until the third copy gets through.
    sim.drop_matching(c, s, |p| p.flags.fin(), Some(2));
    sim.app_serve(
        s,
        server_addr(),
        4,
        AppOptions::default().close_on_eof(true),
    )
    .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.app_send_all(c, conn, b"bye");
    sim.app_close(c, conn);
    assert!(sim.run_until_idle(Instant::from_secs(300)));
    let fins: Vec<_> = sim
        .packets_between(c, s)
        .into_iter()
        .filter(|p| p.info.flags.fin())
        .collect();
    assert_eq!(fins.len(), 3);
    assert_eq!(fins[0].fate, Fate::Lost(LossReason::Scripted));
    assert_eq!(fins[1].fate, Fate::Lost(LossReason::Scripted));
    assert!(fins[2].fate.is_delivered());
    assert!(fins.windows(2).all(|w| w[0].info.seq == w[1].info.seq));
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, sconn), b"bye");
}

#[test]
fn delay_matching_makes_a_segment_arrive_out_of_order() {
    let (mut sim, c, s) = pair(4, delay_ms(10));
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(100));
    // Hold the first data segment back 30 ms: the next ones overtake it.
    sim.delay_matching(
        c,
        s,
        |p| p.payload_len > 0,
        Duration::from_millis(30),
        Some(1),
    );
    let data = pattern(5000, 1);
    sim.app_send_all(c, conn, &data);
    sim.run_for(Duration::from_secs(2));
    let segs: Vec<_> = sim
        .packets_between(c, s)
        .into_iter()
        .filter(|p| p.info.payload_len > 0)
        .collect();
    assert_eq!(
        segs[0].fate.arrival().unwrap() - segs[0].time,
        Duration::from_millis(40)
    );
    assert!(segs[1].fate.arrival() < segs[0].fate.arrival());
    assert!(sim.endpoint(s).counters().ofo_queue > 0);
    let sconn = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, sconn), &data[..]);
}

#[test]
fn an_injected_rst_in_window_resets_the_connection() {
    let (mut sim, c, s) = pair(5, delay_ms(10));
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(100));
    let info = sim.endpoint(c).info(conn).unwrap();
    let tuple = info.tuple;
    // A RST exactly at the client's RCV.NXT, pretending to come from the server.
    let bytes = craft_tcp(
        tuple.remote,
        tuple.local,
        info.rcv_nxt,
        0,
        TcpFlags::RST,
        0,
        TcpOptions::default(),
        &[],
    )
    .unwrap();
    sim.inject(Instant::from_millis(200), s, bytes);
    sim.run_for(Duration::from_millis(300));
    assert_eq!(sim.app_error(c, conn), Some(Error::ConnectionReset));
    // The trace marks the packet as injected.
    let events = sim.trace().events();
    let at = events
        .iter()
        .position(|e| matches!(e.kind, TraceKind::Injected { from, .. } if from == s))
        .unwrap();
    assert_eq!(events[at].time, Instant::from_millis(200));
    match &events[at + 1].kind {
        TraceKind::Packet {
            injected,
            info,
            fate,
            ..
        } => {
            assert!(injected);
            assert!(info.flags.rst());
            assert_eq!(
                *fate,
                Fate::Delivered {
                    at: Instant::from_millis(210)
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.states_of(c, tuple).last(),
        Some(&State::Closed),
        "{}",
        sim.trace()
    );
}

#[test]
fn an_injected_packet_is_not_counted_by_drop_nth() {
    let (mut sim, c, s) = pair(6, delay_ms(1));
    sim.drop_nth(c, s, 1);
    let junk = craft_tcp(
        "10.0.0.1:5".parse().unwrap(),
        "10.0.0.2:6".parse().unwrap(),
        1,
        0,
        TcpFlags::RST,
        0,
        TcpOptions::default(),
        &[],
    )
    .unwrap();
    sim.inject(Instant::ZERO, c, junk);
    sim.run_for(Duration::from_millis(5));
    sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(5));
    let up = sim.packets_between(c, s);
    assert!(up[0].injected && up[0].fate.is_delivered());
    assert_eq!(up[1].fate, Fate::Lost(LossReason::Scripted));
}
