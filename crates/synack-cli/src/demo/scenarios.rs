//! The scenarios. Each plays the applications of a client (10.0.0.1) and a server (10.0.0.2)
//! joined by a link with 50 ms one-way delay, and explains what it shows.

use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::{Config, FourTuple, Instant, SendWindow};
use synack_sim::{craft_tcp, AppOptions, HostId, LinkConfig, Sim};
use synack_wire::{TcpFlags, TcpOptions, Timestamps};

use super::{add_captions, diagram_of, packets_of, Caption, Run, Scenario, View};

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
    Scenario {
        name: "sliding-window",
        summary: "the four parts of the send window, and how each ACK slides the window right",
        claims: &["R02"],
        run: sliding_window,
    },
    Scenario {
        name: "zero-window",
        summary: "a full receive buffer closes the window; the sender probes until it reopens",
        claims: &["R03"],
        run: zero_window,
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
    setup_with(Config::default(), Config::default())
}

/// A client and a server with the given configurations, joined by the 50 ms link.
fn setup_with(client: Config, server: Config) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(2024);
    let c = sim.add_host("client", CLIENT.parse().expect("literal"), client);
    let s = sim.add_host("server", SERVER_IP.parse().expect("literal"), server);
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
    sim.drop_matching(c, s, |p| p.payload_len > 0, Some(3));
    sim.app_send_all(c, conn, b"hello, are you there?");
    sim.run_for(Duration::from_secs(3));
    finish(
        &sim,
        &view(c, s, "retransmission", None),
        true,
        "Data that is not acknowledged is resent when the retransmission timer expires. The \
         timeout comes from measured round-trip times (RFC 6298): here the handshake measured \
         100 ms, so RTO = SRTT + max(4·RTTVAR, 200 ms) = 300 ms. The first copy is lost and \
         resent after 300 ms: with SACK this first resend is a tail loss probe (RFC 8985), which \
         takes the RTO's place when its own timeout (2·SRTT + 200 ms for a lone segment) would \
         come later, as on Linux. It is lost too; the retransmission timer, restarted from the \
         probe, fires 300 ms later, and that copy is lost as well. Now the timer backs off \
         exponentially: the next try comes 600 ms later and gets through. Retransmitted \
         segments give no RTT sample (Karn's rule), so the estimate is not spoiled by \
         ambiguous ACKs.",
    )
}

/// Payload bytes of a full segment in the window scenarios: the server announces this MSS and
/// no timestamps, so every full segment carries exactly 1000 bytes and the numbers stay round.
const SEG: u64 = 1000;

/// A client whose send buffer holds the whole transfer (so that every byte not yet sent is in
/// part #3 or #4 of its send window) and a server whose receive buffer is fixed at `recv` bytes.
fn window_configs(recv: usize) -> (Config, Config) {
    let client = Config {
        send_buffer: 32 * 1024,
        ..Config::default()
    };
    let server = Config {
        recv_buffer: recv,
        max_recv_buffer: recv,
        mss: SEG as u16,
        timestamps: false,
        ..Config::default()
    };
    (client, server)
}

/// Where the diagram stands now: the segments sent so far and the time, for a [`Caption`].
fn here(sim: &Sim) -> (usize, u64) {
    (sim.trace().packets().count(), sim.now().as_micros())
}

/// Adds one caption row per line at `at` (from [`here`]).
fn caption(captions: &mut Vec<Caption>, at: (usize, u64), lines: &[String]) {
    for text in lines {
        captions.push(Caption {
            after_segments: at.0,
            time_us: at.1,
            text: text.clone(),
        });
    }
}

/// The send window drawn as a bar, one cell per segment of the stream: `█` #1 acknowledged,
/// `▓` #2 in flight, `░` #3 usable, `.` #4 beyond the window; `[` and `]` are the window's edges
/// (SND.UNA and SND.UNA + SND.WND).
fn window_bar(w: &SendWindow, total: u64) -> String {
    let cells = total.div_ceil(SEG).max(1);
    let cell = |bytes: u64| (bytes.min(total) * cells + total / 2) / total.max(1);
    let flight = w.acked + u64::from(w.in_flight);
    let ends = [
        cell(w.acked),
        cell(flight),
        cell(flight + u64::from(w.usable)),
    ];
    let wnd = u64::from(w.right_edge.wrapping_sub(w.snd_una));
    let right = cell(w.acked + wnd);
    let mut bar = String::new();
    for i in 0..=cells {
        if i == ends[0] {
            bar.push('[');
        }
        if i == right {
            bar.push(']');
        }
        if i < cells {
            bar.push(match i {
                i if i < ends[0] => '█',
                i if i < ends[1] => '▓',
                i if i < ends[2] => '░',
                _ => '.',
            });
        }
    }
    bar
}

/// The caption lines of one moment of the send window: `head` and the bar, then the four parts.
fn window_caption(head: &str, w: &SendWindow, total: u64) -> Vec<String> {
    vec![
        format!("{head} {}", window_bar(w, total))
            .trim()
            .to_string(),
        format!("#1 acked {} |#2 in flight {}", w.acked, w.in_flight),
        format!("|#3 usable {} |#4 beyond {}", w.usable, w.beyond),
    ]
}

/// The client's send window on `conn`.
fn send_window(sim: &Sim, c: HostId, conn: synack_proto::ConnHandle) -> SendWindow {
    sim.endpoint_ref(c)
        .info(conn)
        .map(|i| i.send_window)
        .unwrap_or_default()
}

/// Runs the simulation until `done` (or `limit`), captioning the client's send window on `conn`
/// each time an ACK moves it (the first `max_moments` times): as it stands when the ACK has
/// arrived, before the client sends what the ACK allowed. (The engine sends at once, so that
/// moment is its state after the ACK with the bytes it then sent counted as usable instead of in
/// flight.) Once everything is sent, of several ACKs in a row with no segment between them only
/// the last is captioned: each just moves the left edge.
fn track_window(
    sim: &mut Sim,
    (c, conn): (HostId, synack_proto::ConnHandle),
    total: u64,
    limit: Instant,
    captions: &mut Vec<Caption>,
    max_moments: usize,
    mut done: impl FnMut(&mut Sim) -> bool,
) {
    let mut moments: Vec<((usize, u64), SendWindow)> = Vec::new();
    let mut prev = send_window(sim, c, conn);
    let mut prev_at = here(sim);
    sim.run_until_cond(limit, |sim| {
        let w = send_window(sim, c, conn);
        let moved = (w.snd_una, w.right_edge) != (prev.snd_una, prev.right_edge);
        if moved && moments.len() < max_moments {
            let sent = w.snd_nxt.wrapping_sub(prev.snd_nxt);
            let before = SendWindow {
                in_flight: w.in_flight.saturating_sub(sent),
                usable: w.usable + sent,
                snd_nxt: prev.snd_nxt,
                ..w
            };
            moments.push(((prev_at.0, sim.now().as_micros()), before));
        }
        prev = w;
        prev_at = here(sim);
        done(sim)
    });
    let all_sent = |w: &SendWindow| w.usable == 0 && w.beyond == 0;
    for (i, (at, w)) in moments.iter().enumerate() {
        let superseded = moments
            .get(i + 1)
            .is_some_and(|(next, nw)| next.0 == at.0 && all_sent(w) && all_sent(nw));
        if !superseded {
            let head = format!("ack={}", w.acked + 1);
            caption(captions, *at, &window_caption(&head, w, total));
        }
    }
}

fn sliding_window() -> Run {
    let (client_cfg, server_cfg) = window_configs(8000);
    let (mut sim, c, s) = setup_with(client_cfg, server_cfg);
    let (conn, _served) = connected(&mut sim, c, s);
    let total = 16 * SEG;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut captions = Vec::new();
    sim.note(c, &format!("write() of {total} bytes"));
    // Before the write reaches the engine: everything inside the peer's window is usable.
    let w = send_window(&sim, c, conn);
    let wnd = w.right_edge.wrapping_sub(w.snd_una);
    let queued = SendWindow {
        usable: wnd.min(total as u32),
        beyond: (total as u32).saturating_sub(wnd),
        ..w
    };
    let mut first = vec!["key: █#1 ▓#2 ░#3 .#4 [window]".to_string()];
    first.extend(window_caption("write", &queued, total));
    caption(&mut captions, here(&sim), &first);
    sim.app_send_all(c, conn, &data);
    let limit = sim.now() + Duration::from_secs(5);
    track_window(
        &mut sim,
        (c, conn),
        total,
        limit,
        &mut captions,
        usize::MAX,
        |sim| send_window(sim, c, conn).acked >= total,
    );
    sim.run_for(ms(100));
    let mut run = finish(
        &sim,
        &view(c, s, "sliding window", None),
        true,
        "The sender's bytes fall into four parts (drawn as the bar): #1 sent and acknowledged, \
         #2 sent and not yet acknowledged (in flight), #3 not sent but inside the receiver's \
         window (usable: it may go now), #4 not sent and beyond the window. The window spans #2 \
         and #3, from SND.UNA (the oldest unacknowledged byte) to SND.UNA + SND.WND (the window \
         the receiver last advertised). Here the receiver's buffer holds 8000 bytes and it \
         offers 8000 in its SYN+ACK, so the client sends 8 segments and must stop: the other \
         8000 bytes are in #4. The receiver acknowledges the first four segments one by one \
         (quick ACKs, for half its window's worth of segments), then every second one, and a \
         pushed one (PSH, which the sender sets on the last segment of each burst) as soon as \
         its application has read it. Each \
         ACK moves the window's left edge: the bytes it acknowledges join #1 and leave the send \
         buffer, they will never be resent. The receiver advertises its free space: 7000 while \
         the segment just acknowledged is still unread in its buffer, 8000 once all is read. So \
         the right edge moves too, and the bytes that slide into the window (#3) go out at once. \
         Bytes in #4 wait for the window to reach them: sending them would overflow the \
         receiver's buffer. Once everything is sent, #3 and #4 are empty and the ACKs only \
         shrink #2.",
    );
    add_captions(&mut run.diagram, captions);
    run
}

fn zero_window() -> Run {
    let (client_cfg, server_cfg) = window_configs(4000);
    let (mut sim, c, s) = setup_with(client_cfg, server_cfg);
    let (conn, served) = established(
        &mut sim,
        c,
        s,
        None,
        AppOptions::default().auto_read(false),
        AppOptions::default(),
    );
    let total = 10 * SEG;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut captions = Vec::new();
    sim.note(s, "the application does not read");
    sim.note(c, &format!("write() of {total} bytes"));
    sim.app_send_all(c, conn, &data);
    // The server's ACKs advertise what is left of its 4000-byte buffer, down to 0.
    let limit = sim.now() + Duration::from_secs(5);
    sim.run_until_cond(limit, |sim| {
        sim.endpoint_ref(c)
            .info(conn)
            .is_ok_and(|i| i.snd_wnd == 0 && i.in_flight == 0)
    });
    let w = send_window(&sim, c, conn);
    let unread = sim
        .endpoint_ref(s)
        .info(served)
        .map_or(0, |i| i.recv_buffered);
    let mut lines = vec![
        format!("receive buffer full: {unread} unread"),
        "win=0: the client must stop".to_string(),
    ];
    lines.extend(window_caption(&format!("ack={}", w.acked + 1), &w, total));
    caption(&mut captions, here(&sim), &lines);
    // The persist timer: a probe after the RTO; each answer (one round trip later) restarts it
    // with twice the wait, as Linux does.
    let sent_by_client = |sim: &Sim| sim.trace().packets().filter(|p| p.from == c).count();
    let mut last = sim.now();
    let mut first_wait = 0;
    for probe in 1..=3u32 {
        let before = sent_by_client(&sim);
        let limit = sim.now() + Duration::from_secs(10);
        sim.run_until_cond(limit, |sim| sent_by_client(sim) > before);
        let after = sim.trace().packets().count() - 1;
        // From the zero window for the first probe, from the previous probe's answer after.
        let answer = if probe == 1 { last } else { last + 2 * DELAY };
        let wait = (sim.now() - answer).as_millis();
        last = sim.now();
        if probe == 1 {
            first_wait = wait.max(1);
        }
        let times = match wait / first_wait {
            1 => "RTO".to_string(),
            k => format!("{k}×RTO"),
        };
        let mut lines = Vec::new();
        if probe == 1 {
            lines.push("persist timer: zero-window probes".to_string());
        }
        lines.push(format!("probe {probe} after {wait} ms = {times}"));
        if probe == 2 {
            lines.push("(timed from the answer to the last probe)".to_string());
        }
        caption(&mut captions, (after, sim.now().as_micros()), &lines);
    }
    sim.run_until(last + ms(800));
    let unread = sim.endpoint_ref(s).recv_available(served).unwrap_or(0);
    sim.note(s, &format!("read() of {unread} bytes"));
    caption(
        &mut captions,
        here(&sim),
        &[format!("free space {unread}: window update")],
    );
    sim.app_read_all(s, served);
    sim.app_set_options(s, served, AppOptions::default());
    let limit = sim.now() + Duration::from_secs(5);
    track_window(&mut sim, (c, conn), total, limit, &mut captions, 1, |sim| {
        send_window(sim, c, conn).acked >= total
    });
    let mut lines = vec!["every byte acknowledged".to_string()];
    lines.extend(window_caption("", &send_window(&sim, c, conn), total));
    caption(&mut captions, here(&sim), &lines);
    sim.run_for(ms(100));
    let mut run = finish(
        &sim,
        &view(c, s, "zero window", None),
        true,
        "Flow control: every segment the receiver sends advertises the free space of its \
         receive buffer as its window, and the sender never has more bytes in flight than that \
         window. Here the server's application reads nothing, so each arriving segment takes \
         1000 bytes of its 4000-byte buffer. Its first two ACKs (quick ACKs, for half its \
         window's worth of segments) advertise 3000 and 2000; then, as Linux does, it holds back \
         an ACK that would offer less than the last one while the data waits unread, so the \
         last ACK comes from the 40 ms delayed-ACK timer and advertises 0. \
         A zero window stops the sender: its other 6000 bytes all lie beyond the window (#4). \
         It cannot simply wait, though: the segment that will open the window again carries no \
         data, so nobody resends it if it is lost, and both sides would wait for each other \
         forever. So the sender's persist timer sends zero-window probes, ACKs with an old \
         sequence number (SND.UNA - 1) that the receiver must answer with its current window: \
         after the RTO (305 ms here), then after twice as long each time, up to 120 s, as Linux \
         does. When the application reads the 4000 bytes, the whole buffer is free again and \
         the receiver says so at once with a window update (win=4000); the window reopens, the \
         sender sends what it allows, and the transfer completes, every byte in order.",
    );
    add_captions(&mut run.diagram, captions);
    run
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

    fn captions(run: &Run) -> Vec<String> {
        run.diagram
            .rows
            .iter()
            .filter_map(|r| match r {
                crate::diagram::Row::Note {
                    side: None, text, ..
                } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The four numbers of a caption pair `#1 acked a |#2 in flight b`, `|#3 usable c |#4
    /// beyond d`.
    fn parts(first: &str, second: &str) -> [u64; 4] {
        let nums: Vec<u64> = format!("{first} {second}")
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        nums.try_into().expect("four numbers")
    }

    #[test]
    fn window_bar_marks_the_four_parts_and_the_window_edges() {
        let w = SendWindow {
            acked: 3000,
            in_flight: 5000,
            usable: 1000,
            beyond: 7000,
            snd_una: 3001,
            snd_nxt: 8001,
            right_edge: 9001,
        };
        assert_eq!(window_bar(&w, 16000), "███[▓▓▓▓▓░].......");
        // A window reaching past the data closes at the end; an empty one is `[]`.
        let end = SendWindow {
            acked: 15000,
            in_flight: 1000,
            usable: 0,
            beyond: 0,
            snd_una: 15001,
            snd_nxt: 16001,
            right_edge: 22001,
        };
        assert_eq!(window_bar(&end, 16000), "███████████████[▓]");
        let closed = SendWindow {
            acked: 4000,
            beyond: 6000,
            snd_una: 4001,
            snd_nxt: 4001,
            right_edge: 4001,
            ..SendWindow::default()
        };
        assert_eq!(window_bar(&closed, 10000), "████[]......");
    }

    #[test]
    fn sliding_window_captions_show_the_window_sliding_with_each_ack() {
        let run = sliding_window();
        let caps = captions(&run);
        assert_eq!(
            caps[..4],
            [
                "key: █#1 ▓#2 ░#3 .#4 [window]",
                "write [░░░░░░░░]........",
                "#1 acked 0 |#2 in flight 0",
                "|#3 usable 8000 |#4 beyond 8000",
            ]
        );
        let at = |head: &str| {
            caps.iter()
                .position(|c| c.starts_with(&format!("{head} ")))
                .unwrap_or_else(|| panic!("no caption {head}: {caps:#?}"))
        };
        // The first ACK moves the left edge, but the window shrinks to the receiver's free space
        // (7000) so its right edge stays: nothing becomes usable.
        let i = at("ack=1001");
        assert_eq!(caps[i], "ack=1001 █[▓▓▓▓▓▓▓]........");
        assert_eq!(parts(&caps[i + 1], &caps[i + 2]), [1000, 7000, 0, 8000]);
        // From then on each ACK slides the whole window right by what it acknowledges: one
        // segment for the four quick ACKs (half the window's worth of segments), one for the
        // pushed 5th segment, acknowledged when it is read (with the whole 8000 free), two for
        // the 6th and 7th, and one for the pushed 8th.
        for (ack, want) in [
            (2001, [2000, 6000, 1000, 7000]),
            (3001, [3000, 6000, 1000, 6000]),
            (4001, [4000, 6000, 1000, 5000]),
            (5001, [5000, 6000, 2000, 3000]),
            (7001, [7000, 6000, 2000, 1000]),
            (8001, [8000, 7000, 1000, 0]),
        ] {
            let i = at(&format!("ack={ack}"));
            assert_eq!(parts(&caps[i + 1], &caps[i + 2]), want, "{}", caps[i]);
        }
        assert_eq!(caps[at("ack=3001")], "ack=3001 ███[▓▓▓▓▓▓░]......");
        let n = caps.len();
        assert_eq!(
            caps[n - 3..],
            [
                "ack=16001 ████████████████[]",
                "#1 acked 16000 |#2 in flight 0",
                "|#3 usable 0 |#4 beyond 0",
            ]
        );
        // Every moment accounts for all 16000 bytes, and #2 + #3 fit in the 8000-byte window.
        for i in (0..n).filter(|&i| caps[i].starts_with("#1 ")) {
            let [a, b, c, d] = parts(&caps[i], &caps[i + 1]);
            assert_eq!(a + b + c + d, 16000, "{}", caps[i]);
            assert!(b + c <= 8000, "{}", caps[i]);
        }
        // Each caption goes right before the segments its ACK let out: ack=3001 lets out
        // seq=9001.
        let rows = &run.diagram.rows;
        let j = rows
            .iter()
            .position(|r| matches!(r, crate::diagram::Row::Note { text, .. } if text.starts_with("ack=3001 ")))
            .expect("caption row");
        let next = rows[j..]
            .iter()
            .find_map(|r| match r {
                crate::diagram::Row::Segment(s) => Some(s),
                _ => None,
            })
            .expect("a segment after it");
        let x = run
            .diagram
            .isn(crate::diagram::Side::Left)
            .expect("client ISN");
        assert_eq!((next.seq.wrapping_sub(x), next.len), (9001, 1000));
    }

    #[test]
    fn zero_window_stops_the_sender_which_probes_with_backoff_until_it_reopens() {
        use crate::diagram::Side;
        let run = zero_window();
        let caps = captions(&run);
        for line in [
            "win=0: the client must stop",
            "ack=4001 ████[]......",
            "probe 1 after 305 ms = RTO",
            "probe 2 after 610 ms = 2×RTO",
            "probe 3 after 1220 ms = 4×RTO",
            "free space 4000: window update",
            "ack=4001 ████[░░░░]..",
        ] {
            assert!(caps.iter().any(|c| c == line), "{line} missing: {caps:#?}");
        }
        let d = &run.diagram;
        let x = d.isn(Side::Left).expect("client ISN");
        let data: Vec<_> = d.segments().filter(|s| s.len > 0).collect();
        // The server's windows: its free space as the buffer fills, 0 while it is full (the
        // answers to the probes), then the whole buffer once the application has read.
        let windows: Vec<u16> = d
            .segments()
            .filter(|s| s.from == Side::Right && !s.flags.syn())
            .map(|s| s.window)
            .collect();
        // Quick ACKs for the first two segments (half the 4000-byte window's worth), then one
        // ACK for the last two, from the delayed-ACK timer (it would shrink the window).
        assert_eq!(windows[..7], [3000, 2000, 0, 0, 0, 0, 4000]);
        // The probes: bare ACKs one below SND.UNA; after the first, each waits 610 then 1220 ms
        // from the previous probe's answer, one 100 ms round trip later (Linux tcp_ack_probe).
        let probes: Vec<_> = d
            .segments()
            .filter(|s| s.from == Side::Left && s.len == 0 && s.seq.wrapping_sub(x) == 4000)
            .collect();
        assert_eq!(probes.len(), 3);
        let gaps: Vec<u64> = probes
            .windows(2)
            .map(|p| p[1].time_us - p[0].time_us)
            .collect();
        assert_eq!(gaps, [100_000 + 610_000, 100_000 + 1_220_000]);
        // No data while the window is closed; every byte once the window reopens.
        let reopened = d
            .segments()
            .find(|s| s.from == Side::Right && s.window == 4000 && !s.flags.syn())
            .expect("window update");
        assert!(data
            .iter()
            .filter(|s| s.seq.wrapping_sub(x) > 4000)
            .all(|s| s.time_us > reopened.time_us));
        assert_eq!(data.iter().map(|s| u64::from(s.len)).sum::<u64>(), 10_000);
        let last_ack = d
            .segments()
            .filter(|s| s.from == Side::Right)
            .map(|s| s.ack.wrapping_sub(x))
            .max();
        assert_eq!(last_ack, Some(10_001));
    }
}
