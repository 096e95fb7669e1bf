//! The scenarios. Each plays the applications of a client (10.0.0.1) and a server (10.0.0.2)
//! joined by a link with 50 ms one-way delay, and explains what it shows.

use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::{Config, FourTuple, Instant};
use synack_sim::{craft_tcp, AppOptions, HostId, LinkConfig, Sim};
use synack_wire::{TcpFlags, TcpOptions, Timestamps};

use super::{diagram_of, packets_of, Run, Scenario, View};

/// Every scenario, in tour order.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "handshake",
        summary: "the three-way handshake: SYN, SYN+ACK, ACK, and accept()",
        claims: &["H01", "H02", "H03", "H13"],
        run: handshake,
    },
    Scenario {
        name: "data-on-third-ack",
        summary: "the third segment of the handshake carries the first data",
        claims: &["H06"],
        run: data_on_third_ack,
    },
    Scenario {
        name: "old-duplicate-syn",
        summary: "why three segments: an old duplicate SYN is reset, the real one connects",
        claims: &["H07"],
        run: old_duplicate_syn,
    },
    Scenario {
        name: "synack-retransmit",
        summary: "no third segment: SYN+ACK resent after 1, 2, 4, 8, 16 s, entry dropped at 63 s",
        claims: &["H09"],
        run: synack_retransmit,
    },
    Scenario {
        name: "backlog-full",
        summary: "a full accept queue drops the SYN silently; the client gets in after accept()",
        claims: &["H10"],
        run: backlog_full,
    },
    Scenario {
        name: "simultaneous-open",
        summary: "both sides send SYN at once, both pass SYN-RECEIVED, one connection results",
        claims: &["H14"],
        run: simultaneous_open,
    },
    Scenario {
        name: "syn-retransmit",
        summary: "an unanswered SYN is resent after 1, 2, 4, ... s; connect() times out at 127 s",
        claims: &["H11"],
        run: syn_retransmit,
    },
    Scenario {
        name: "refused",
        summary: "a SYN to a port nobody listens on gets RST+ACK: connection refused",
        claims: &["H12"],
        run: refused,
    },
    Scenario {
        name: "close",
        summary: "the four-way close: FIN, ACK, FIN, ACK, then TIME-WAIT for 2 MSL",
        claims: &["C01", "C02", "C04", "C05", "C06"],
        run: close,
    },
    Scenario {
        name: "half-close",
        summary: "after the first FIN the other side still sends data, and it is acknowledged",
        claims: &["C03", "C09"],
        run: half_close,
    },
    Scenario {
        name: "lost-fin-ack",
        summary: "the ACK of the first FIN is lost: the closer resends its FIN",
        claims: &["C08"],
        run: lost_fin_ack,
    },
    Scenario {
        name: "lost-final-ack",
        summary: "the last ACK is lost: LAST-ACK resends FIN, TIME-WAIT answers and restarts",
        claims: &["C07"],
        run: lost_final_ack,
    },
    Scenario {
        name: "time-wait-protects",
        summary: "a new SYN during TIME-WAIT is taken only when safe; old segments stay out",
        claims: &["C10"],
        run: time_wait_protects,
    },
    Scenario {
        name: "simultaneous-close",
        summary: "both sides close at once: both pass CLOSING and both end in TIME-WAIT",
        claims: &["C11"],
        run: simultaneous_close,
    },
    Scenario {
        name: "retransmission",
        summary: "a lost data segment is resent after the RTO, which backs off exponentially",
        claims: &["R01"],
        run: retransmission,
    },
];

const DELAY: Duration = Duration::from_millis(50);
const CLIENT: &str = "10.0.0.1";
const SERVER_IP: &str = "10.0.0.2";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal socket address")
}

fn server() -> SocketAddr {
    addr("10.0.0.2:80")
}

fn setup() -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(2024);
    let c = sim.add_host(
        "client",
        CLIENT.parse().expect("literal"),
        Config::default(),
    );
    let s = sim.add_host(
        "server",
        SERVER_IP.parse().expect("literal"),
        Config::default(),
    );
    sim.link(c, s, LinkConfig::with_delay(DELAY));
    (sim, c, s)
}

fn view(c: HostId, s: HostId, title: &str, only: Option<FourTuple>) -> View {
    View {
        client: c,
        server: s,
        only,
        title: title.to_string(),
    }
}

fn finish(sim: &Sim, v: &View, listens: bool, explanation: &str) -> Run {
    Run {
        diagram: diagram_of(sim, v, listens),
        explanation: explanation.trim().to_string(),
        packets: packets_of(sim),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Client connects, server accepts: an established pair (client conn, server conn).
fn established(
    sim: &mut Sim,
    c: HostId,
    s: HostId,
    local: Option<SocketAddr>,
    server_opts: AppOptions,
    client_opts: AppOptions,
) -> (synack_proto::ConnHandle, synack_proto::ConnHandle) {
    let accepted_before = sim.app_accepted(s).len();
    sim.app_serve(s, server(), 128, server_opts)
        .or_else(|_| sim.app_listen(s, server(), 128))
        .ok();
    let conn = sim
        .app_connect_with(c, server(), local, client_opts)
        .expect("connect");
    sim.run_until_cond(sim.now() + Duration::from_secs(5), |sim| {
        sim.app_accepted(s).len() > accepted_before
    });
    sim.run_for(ms(60));
    let served = sim.app_accepted(s)[accepted_before];
    (conn, served)
}

/// [`established`] with the default applications and an ephemeral client port.
fn connected(
    sim: &mut Sim,
    c: HostId,
    s: HostId,
) -> (synack_proto::ConnHandle, synack_proto::ConnHandle) {
    established(
        sim,
        c,
        s,
        None,
        AppOptions::default(),
        AppOptions::default(),
    )
}

fn handshake() -> Run {
    let (mut sim, c, s) = setup();
    let l = sim.app_listen(s, server(), 128).expect("listen");
    let conn = sim.app_connect(c, server()).expect("connect");
    sim.run_until_cond(Instant::from_secs(5), |sim| {
        sim.endpoint_ref(s).accept_queue_len(l).unwrap_or(0) > 0
    });
    sim.note(s, "connection moves to the accept queue");
    sim.run_for(ms(20));
    sim.app_accept(s, l, AppOptions::default()).ok();
    sim.run_for(ms(100));
    let _ = conn;
    finish(
        &sim,
        &view(c, s, "three-way handshake", None),
        true,
        "Why three segments and not two? Each side must learn that the other receives what it \
         sends, and each side's initial sequence number must be acknowledged: the SYN carries \
         the client's ISN x, the SYN+ACK acknowledges it (ack = x+1) and carries the server's ISN \
         y, and only the third segment (ack = y+1) proves to the server that the client heard \
         it. Until then the server keeps just a small half-open entry in its SYN queue; the third \
         segment moves the connection to the accept queue, where accept() finds it. The SYN and \
         SYN+ACK also agree on MSS, window scaling, SACK and timestamps.",
    )
}

fn data_on_third_ack() -> Run {
    let (mut sim, c, s) = setup();
    sim.app_serve(s, server(), 128, AppOptions::default())
        .expect("listen");
    let conn = sim.app_connect(c, server()).expect("connect");
    sim.app_send_all(c, conn, b"GET / HTTP/1.1\r\nHost: synack\r\n\r\n");
    sim.note(c, "write() before the handshake completes");
    sim.run_for(ms(400));
    finish(
        &sim,
        &view(c, s, "data on the third segment", None),
        true,
        "The third segment only has to acknowledge the server's SYN (ack = y+1); it may also \
         carry data. Here the client wrote its request before the handshake finished, so the \
         ACK that completes the handshake carries the request too. The server's half-open entry \
         becomes an ESTABLISHED connection on that one segment, queues the data for the \
         application and acknowledges it.",
    )
}

fn old_duplicate_syn() -> Run {
    let (mut sim, c, s) = setup();
    sim.app_serve(s, server(), 128, AppOptions::default())
        .expect("listen");
    let local = addr("10.0.0.1:40000");
    // The real SYN is held up in the network for a while.
    sim.delay_matching(c, s, |p| p.flags.syn(), ms(150), Some(1));
    let conn = sim
        .app_connect_with(c, server(), Some(local), AppOptions::default())
        .expect("connect");
    let iss = sim.endpoint(c).info(conn).map(|i| i.iss).unwrap_or(0);
    // A SYN of an earlier incarnation of this connection, long delayed, arrives first.
    let old = craft_tcp(
        local,
        server(),
        iss.wrapping_sub(1_000_000),
        0,
        TcpFlags::SYN,
        64240,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        &[],
    );
    if let Ok(bytes) = old {
        sim.inject(sim.now(), c, bytes);
    }
    sim.run_for(ms(600));
    let mut run = finish(
        &sim,
        &view(c, s, "old duplicate SYN", None),
        true,
        "Why three segments and not two? With two, the server would open a connection for every \
         SYN it receives, including an old duplicate SYN still wandering in the network from an \
         earlier attempt. With three, the server's SYN+ACK asks the client to confirm: its ack \
         (old x + 1) is not x+1, so the client, in SYN-SENT, answers RST with seq = that ack. \
         The server drops the half-open entry; no application ever sees the old connection. The \
         real SYN then completes normally (RFC 9293 §3.5, figure 8).",
    );
    run.diagram.left_isn = Some(iss);
    run
}

fn synack_retransmit() -> Run {
    let (mut sim, c, s) = setup();
    let l = sim.app_listen(s, server(), 128).expect("listen");
    // Nothing gets back to the client, and the client never answers: a SYN from a host that
    // vanished (or a spoofed source).
    if let Some(cfg) = sim.link_config_mut(s, c) {
        cfg.loss = 1.0;
    }
    let syn = craft_tcp(
        addr("10.0.0.1:40000"),
        server(),
        1_000_000,
        0,
        TcpFlags::SYN,
        64240,
        TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            window_scale: Some(7),
            timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
            ..TcpOptions::default()
        },
        &[],
    );
    sim.note(c, "a client sends SYN, then vanishes");
    if let Ok(bytes) = syn {
        sim.inject(sim.now(), c, bytes);
    }
    sim.run_until(Instant::from_secs(70));
    let _ = l;
    finish(
        &sim,
        &view(c, s, "SYN+ACK retransmission", None),
        true,
        "Without the third segment the server cannot know whether its SYN+ACK arrived. It resends \
         it when its retransmission timer fires: after 1 s, then 2, 4, 8 and 16 s (5 retries, \
         Linux's tcp_synack_retries), and after a last wait of 32 s it drops the half-open entry. \
         The half-open lifetime is the sum of the waits: 1+2+4+8+16+32 = 63 s. Meanwhile the \
         entry costs only a small SYN-queue slot, not a whole connection.",
    )
}

fn backlog_full() -> Run {
    let (mut sim, c, s) = setup();
    let l = sim.app_listen(s, server(), 1).expect("listen");
    let first = sim
        .app_connect_with(
            c,
            server(),
            Some(addr("10.0.0.1:40001")),
            AppOptions::default(),
        )
        .expect("connect");
    sim.run_for(ms(200));
    sim.note(s, "accept queue full: 1 of backlog 1");
    let second_local = addr("10.0.0.1:40002");
    sim.app_connect_with(c, server(), Some(second_local), AppOptions::default())
        .expect("connect");
    sim.run_until(Instant::from_millis(2200));
    sim.app_accept(s, l, AppOptions::default()).ok();
    sim.note(s, "accept() made room");
    sim.run_until(Instant::from_secs(5));
    sim.app_accept(s, l, AppOptions::default()).ok();
    sim.run_for(ms(200));
    let _ = first;
    finish(
        &sim,
        &view(
            c,
            s,
            "backlog full",
            Some(FourTuple {
                local: second_local,
                remote: server(),
            }),
        ),
        true,
        "listen(fd, backlog) bounds the accept queue: connections that finished the handshake \
         but that the application has not accept()ed yet. When it is full, a new SYN is dropped \
         without any answer (no RST, so the client does not give up): the client's SYN \
         retransmission timer resends it after 1 s and 2 s more. Once accept() has taken a \
         connection, the next retransmitted SYN finds room and the handshake completes. The SYN \
         queue of half-open entries is bounded too; when it overflows synack answers with SYN \
         cookies, as Linux does.",
    )
}

fn simultaneous_open() -> Run {
    let (mut sim, c, s) = setup();
    let a = addr("10.0.0.1:5000");
    let b = addr("10.0.0.2:6000");
    sim.app_connect_with(c, b, Some(a), AppOptions::default())
        .expect("connect");
    sim.app_connect_with(s, a, Some(b), AppOptions::default())
        .expect("connect");
    sim.run_for(ms(400));
    finish(
        &sim,
        &view(c, s, "simultaneous open", None),
        false,
        "Both applications call connect() toward each other at the same moment, so both SYNs \
         cross in the network. Each side, in SYN-SENT, receives a SYN without an ACK: it moves \
         to SYN-RECEIVED and answers SYN+ACK repeating its own ISN. Each SYN+ACK then \
         acknowledges the other side's SYN, and both become ESTABLISHED: four segments, one \
         connection (RFC 9293 §3.5, figure 7).",
    )
}

fn syn_retransmit() -> Run {
    let (mut sim, c, s) = setup();
    sim.app_listen(s, server(), 128).expect("listen");
    if let Some(cfg) = sim.link_config_mut(c, s) {
        cfg.loss = 1.0;
    }
    sim.app_connect(c, server()).expect("connect");
    sim.run_until(Instant::from_secs(130));
    finish(
        &sim,
        &view(c, s, "SYN retransmission", None),
        true,
        "An unanswered SYN is resent each time the retransmission timer fires: after 1 s (the \
         initial RTO), then 2, 4, 8, 16 and 32 s — 6 retries, Linux's tcp_syn_retries. After a \
         last wait of 64 s connect() fails with ETIMEDOUT (\"connection timed out\"), 127 s \
         after it was called.",
    )
}

fn refused() -> Run {
    let (mut sim, c, s) = setup();
    sim.app_connect(c, addr("10.0.0.2:81")).expect("connect");
    sim.run_for(ms(300));
    finish(
        &sim,
        &view(c, s, "connection refused", None),
        false,
        "Nobody listens on port 81, so the server's TCP answers the SYN with RST+ACK (seq 0, \
         ack = x+1, RFC 9293 §3.10.7.1), exactly as Linux does. The RST acknowledges the SYN, so \
         the client accepts it and connect() fails with ECONNREFUSED (\"connection refused\").",
    )
}

fn close() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, served) = connected(&mut sim, c, s);
    sim.app_close(c, conn);
    sim.run_until_cond(sim.now() + Duration::from_secs(2), |sim| {
        sim.app_eof(s, served)
    });
    sim.note(s, "read() returns 0 (end of file)");
    sim.run_for(ms(300));
    sim.app_close(s, served);
    sim.run_for(Duration::from_secs(61));
    finish(
        &sim,
        &view(c, s, "four-way close", None),
        true,
        "Either side may close first. The client's FIN (seq u) takes it to FIN-WAIT-1; the server \
         acknowledges it (ack u+1) and is in CLOSE-WAIT, its application reading end of file. \
         Why are ACK and FIN separate? TCP is full duplex: the FIN only says the client has \
         nothing more to send, and the server may still have data to send, so it acknowledges at \
         once and sends its own FIN (seq v, LAST-ACK) only when its application closes. The \
         client's last ACK (ack v+1) closes the server. The client then waits in TIME-WAIT for \
         2 MSL (60 s) before it is CLOSED: if that last ACK were lost, the server would resend \
         its FIN, and the client must still be there to acknowledge it; and the wait lets every \
         old segment of this connection die out before the same 4-tuple can be used again.",
    )
}

fn half_close() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, served) = connected(&mut sim, c, s);
    sim.app_shutdown(c, conn);
    sim.run_until_cond(sim.now() + Duration::from_secs(2), |sim| {
        sim.app_eof(s, served)
    });
    sim.run_for(ms(100));
    sim.note(s, "still sending in CLOSE-WAIT");
    let reply: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    sim.app_send_all(s, served, &reply);
    sim.app_close(s, served);
    sim.run_for(Duration::from_secs(61));
    finish(
        &sim,
        &view(c, s, "half-close", None),
        true,
        "shutdown(SHUT_WR) sends a FIN but keeps the receiving direction open. Until the four \
         segments of the close are done, data still flows the other way: the server, in \
         CLOSE-WAIT, sends its reply; the client, in FIN-WAIT-2, receives and acknowledges it. \
         Only when the server closes does its FIN follow (LAST-ACK), and the client enters \
         TIME-WAIT. This is why the passive side's ACK and FIN usually travel apart: the ACK \
         answers the FIN at once, the FIN waits for the application.",
    )
}

fn lost_fin_ack() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, served) = connected(&mut sim, c, s);
    sim.drop_matching(s, c, |p| p.is_pure_ack(), Some(1));
    sim.app_close(c, conn);
    sim.run_for(Duration::from_secs(2));
    sim.app_close(s, served);
    sim.run_for(Duration::from_secs(61));
    finish(
        &sim,
        &view(c, s, "lost ACK of the first FIN", None),
        true,
        "What if the second segment of the close, the server's ACK of the FIN, is lost? The \
         client stays in FIN-WAIT-1 with its FIN unacknowledged, and its retransmission timer \
         resends the FIN after the RTO (computed from the round-trip times it measured). The \
         server, already in CLOSE-WAIT, sees a duplicate FIN and acknowledges it again; the \
         client moves on to FIN-WAIT-2.",
    )
}

fn lost_final_ack() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, served) = connected(&mut sim, c, s);
    sim.app_close(c, conn);
    sim.run_until_cond(sim.now() + Duration::from_secs(2), |sim| {
        sim.app_eof(s, served)
    });
    sim.run_for(ms(300));
    // Drop the client's ACK of the server's FIN (its only pure ACK from now on).
    sim.drop_matching(c, s, |p| p.is_pure_ack(), Some(1));
    sim.app_close(s, served);
    sim.run_for(Duration::from_secs(62));
    finish(
        &sim,
        &view(c, s, "lost final ACK", None),
        true,
        "The last ACK of the close is lost, so the server, in LAST-ACK, never learns that its FIN \
         arrived. Its retransmission timer resends the FIN. The client is in TIME-WAIT precisely \
         for this: it answers the repeated FIN with the ACK again and restarts its 2 MSL timer, \
         so that it stays around as long as a further copy could still arrive. Had the client \
         already been CLOSED, it would have answered with RST, and the server's application \
         would have seen an error instead of a clean close.",
    )
}

fn time_wait_protects() -> Run {
    let (mut sim, c, s) = setup();
    let local = addr("10.0.0.1:40000");
    let (conn, served) = established(
        &mut sim,
        c,
        s,
        Some(local),
        AppOptions::default(),
        AppOptions::default().close_on_eof(true),
    );
    sim.app_send_all(c, conn, b"request");
    sim.run_for(ms(200));
    // The server answers and closes first: it is the one that waits in TIME-WAIT.
    sim.app_send_all(s, served, b"response");
    sim.app_close(s, served);
    sim.run_for(ms(400));
    let old_seq = sim
        .trace()
        .packets()
        .find(|p| p.from == c && p.info.payload_len > 0)
        .map(|p| (p.info.seq, p.info.ack))
        .unwrap_or((0, 0));
    sim.note(s, "TIME-WAIT holds the old 4-tuple");
    // The client connects again from the same port: its new ISN (and timestamp) lies beyond the
    // old connection, so the server's TIME-WAIT entry lets the SYN through.
    let again = sim
        .app_connect_with(c, server(), Some(local), AppOptions::default())
        .expect("connect");
    sim.run_for(ms(300));
    // A late copy of the old connection's request arrives: outside the new connection's window.
    let late = craft_tcp(
        local,
        server(),
        old_seq.0,
        old_seq.1,
        TcpFlags::ACK | TcpFlags::PSH,
        1024,
        TcpOptions::default(),
        b"request",
    );
    sim.note(c, "a late copy of the old request");
    if let Ok(bytes) = late {
        sim.inject(sim.now(), c, bytes);
    }
    sim.run_for(ms(300));
    let _ = again;
    finish(
        &sim,
        &view(c, s, "TIME-WAIT protects new connections", None),
        true,
        "The server closed first, so it holds the old 4-tuple in TIME-WAIT. A new SYN for the \
         same 4-tuple is accepted during TIME-WAIT only when it is safe: its sequence number (and \
         timestamp) lies beyond everything the old connection used, so no old segment can fall \
         into the new connection's window. Here the client's new ISN comes from a clock that \
         moved on, the entry ends early and the new connection starts. A late copy of the old \
         request then arrives: it is far outside the new connection's window, so it is only \
         acknowledged, never delivered as new data. An old SYN below the old sequence numbers \
         would instead have been answered by the TIME-WAIT entry with an ACK, not accepted.",
    )
}

fn simultaneous_close() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, served) = connected(&mut sim, c, s);
    sim.app_close(c, conn);
    sim.app_close(s, served);
    sim.run_for(Duration::from_secs(61));
    finish(
        &sim,
        &view(c, s, "simultaneous close", None),
        true,
        "Both applications close at the same moment, so both FINs cross. Each side, in \
         FIN-WAIT-1, receives a FIN before the ACK of its own: it acknowledges it and moves to \
         CLOSING. When the ACK of its own FIN arrives it enters TIME-WAIT. Both sides closed \
         first, so both wait 2 MSL.",
    )
}

fn retransmission() -> Run {
    let (mut sim, c, s) = setup();
    let (conn, _served) = connected(&mut sim, c, s);
    if let Ok(info) = sim.endpoint(c).info(conn) {
        let srtt = info.srtt.unwrap_or_default().as_millis();
        sim.note(
            c,
            &format!("SRTT {srtt} ms -> RTO {} ms", info.rto.as_millis()),
        );
    }
    sim.drop_matching(c, s, |p| p.payload_len > 0, Some(2));
    sim.app_send_all(c, conn, b"hello, are you there?");
    sim.run_for(Duration::from_secs(3));
    finish(
        &sim,
        &view(c, s, "retransmission", None),
        true,
        "Data that is not acknowledged is resent when the retransmission timer expires. The \
         timeout comes from measured round-trip times (RFC 6298): here the handshake measured \
         100 ms, so RTO = SRTT + max(4·RTTVAR, 200 ms) = 300 ms. The first copy is lost and \
         resent after 300 ms; that copy is lost too, and the timer backs off exponentially: the \
         next try comes 600 ms later and gets through. Retransmitted segments give no RTT \
         sample (Karn's rule), so the estimate is not spoiled by ambiguous ACKs.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(run: &Run, side: crate::diagram::Side) -> Vec<String> {
        run.diagram
            .rows
            .iter()
            .filter_map(|r| match r {
                crate::diagram::Row::State { side: s, state, .. } if *s == side => {
                    Some(state.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_scenario_runs_and_draws_segments() {
        for s in SCENARIOS {
            let run = (s.run)();
            assert!(
                run.diagram.segments().count() > 0,
                "{} drew no segment",
                s.name
            );
            assert!(!run.packets.is_empty(), "{}", s.name);
            assert!(!run.explanation.is_empty(), "{}", s.name);
        }
    }

    #[test]
    fn close_passes_every_state_of_the_notes() {
        use crate::diagram::Side;
        let run = close();
        assert_eq!(
            states(&run, Side::Left),
            [
                "CLOSED",
                "SYN-SENT",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "TIME-WAIT",
                "CLOSED"
            ]
        );
        assert_eq!(
            states(&run, Side::Right),
            [
                "LISTEN",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "CLOSE-WAIT",
                "LAST-ACK",
                "CLOSED"
            ]
        );
    }
}
