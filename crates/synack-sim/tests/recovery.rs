//! Loss recovery as the sender's state shows it after scripted losses and delays: RACK's
//! reordering detection (RFC 8985 §6.2 step 3) must tell a repaired loss from reordering, and a
//! spurious retransmission timeout must be found out (F-RTO, RFC 5682; Eifel, RFC 3522) before
//! the whole window is resent.

mod common;

use std::time::Duration;

use common::{delay_ms, pattern, server_addr};
use synack_proto::{Config, ConnInfo, Counters, Instant};
use synack_sim::LinkConfig;
use synack_sim::{AppOptions, HostId, PacketInfo, Sim};

const BYTES: usize = 100 * 1448;

/// A 100-segment transfer over a 10 Mbit/s link (about 1.2 ms per segment, 10 ms each way).
/// `fault` adds scripted faults once the connection is up; the client's view of the connection
/// and its counters are returned once the server has read every byte (the connection still
/// open).
fn transfer(seed: u64, fault: impl FnOnce(&mut Sim, HostId, HostId)) -> (ConnInfo, Counters) {
    transfer_with(
        seed,
        Config::default(),
        delay_ms(10).rate(10_000_000, 1000),
        fault,
    )
}

/// As [`transfer`], over `link`, both hosts configured with `config`.
fn transfer_with(
    seed: u64,
    config: Config,
    link: LinkConfig,
    fault: impl FnOnce(&mut Sim, HostId, HostId),
) -> (ConnInfo, Counters) {
    let mut sim = Sim::new(seed);
    let c = sim.add_host("client", "10.0.0.1".parse().unwrap(), config.clone());
    let s = sim.add_host("server", "10.0.0.2".parse().unwrap(), config);
    sim.link(c, s, link);
    sim.app_serve(s, server_addr(), 4, AppOptions::default())
        .unwrap();
    let conn = sim.app_connect(c, server_addr()).unwrap();
    sim.run_for(Duration::from_millis(100));
    fault(&mut sim, c, s);
    let data = pattern(BYTES, 7);
    sim.app_send_all(c, conn, &data);
    let done = sim.run_until_cond(Instant::from_secs(30), |sim| {
        sim.app_accepted(s)
            .first()
            .is_some_and(|&a| sim.app_received(s, a).len() == BYTES)
    });
    assert!(done, "transfer did not finish");
    let a = sim.app_accepted(s)[0];
    assert_eq!(sim.app_received(s, a), &data[..]);
    let info = sim.endpoint(c).info(conn).unwrap();
    (info, sim.endpoint(c).counters().clone())
}

/// The `n`th data segment the client sends (1-based), whatever its sequence number.
fn nth_data(n: usize) -> impl FnMut(&PacketInfo) -> bool {
    let mut seen = 0;
    move |p| {
        if p.payload_len == 0 {
            return false;
        }
        seen += 1;
        seen == n
    }
}

#[test]
fn a_loss_repaired_by_retransmission_is_not_reordering() {
    let (info, counters) = transfer(1, |sim, c, s| {
        sim.drop_matching(c, s, nth_data(20), Some(1))
    });
    assert_eq!(counters.retrans_segs, 1, "{counters:?}");
    assert_eq!(counters.fast_recoveries, 1, "{counters:?}");
    assert!(
        !info.reordering_seen,
        "a hole filled by its retransmission, with the data above it SACKed, is a loss: {info:?}"
    );
}

#[test]
fn a_segment_overtaken_by_the_next_one_is_reordering() {
    // Two milliseconds late: the next segment (1.2 ms behind it) arrives first and is SACKed;
    // RACK waits a quarter of the minimum RTT before calling it lost, so the late original is
    // acknowledged without being resent.
    let (info, counters) = transfer(2, |sim, c, s| {
        sim.delay_matching(c, s, nth_data(20), Duration::from_millis(2), Some(1))
    });
    assert_eq!(counters.retrans_segs, 0, "{counters:?}");
    assert!(info.reordering_seen, "{info:?}");
}

/// Every ACK the server sends in the second after the connection is up is held back 500 ms: the
/// client's timer expires although nothing was lost. Returns the client's counters once every
/// byte is read.
fn spurious_timeout(timestamps: bool) -> Counters {
    let config = Config {
        timestamps,
        ..Config::default()
    };
    let (_, counters) = transfer_with(3, config, delay_ms(10), |sim, c, s| {
        let until = Instant::from_millis(1100);
        sim.delay_matching(
            s,
            c,
            move |p| p.is_pure_ack() && p.time < until,
            Duration::from_millis(500),
            None,
        );
    });
    assert_eq!(counters.timeouts, 1, "{counters:?}");
    counters
}

#[test]
fn frto_finds_a_spurious_timeout_without_timestamps() {
    let counters = spurious_timeout(false);
    assert_eq!(counters.spurious_rtos, 1, "{counters:?}");
    assert_eq!(counters.spurious_recoveries_undone, 1, "{counters:?}");
    // The timeout's own resend and perhaps the loss probe before it; not the whole window.
    assert!(counters.retrans_segs <= 2, "{counters:?}");
}

#[test]
fn eifel_finds_a_spurious_timeout_with_timestamps_and_nothing_more_is_resent() {
    let counters = spurious_timeout(true);
    assert_eq!(counters.spurious_recoveries_undone, 1, "{counters:?}");
    assert_eq!(counters.spurious_rtos, 0, "{counters:?}");
    assert!(counters.retrans_segs <= 2, "{counters:?}");
}

/// A segment held back long enough to be resent, then a real loss a little later: the first
/// recovery is undone as spurious, and the loss after it starts a recovery of its own.
fn reordering_then_loss(timestamps: bool, lost: usize) -> Counters {
    let config = Config {
        timestamps,
        ..Config::default()
    };
    let (_, counters) = transfer_with(
        4,
        config,
        delay_ms(10).rate(10_000_000, 1000),
        |sim, c, s| {
            sim.delay_matching(c, s, nth_data(20), Duration::from_millis(12), Some(1));
            sim.drop_matching(c, s, nth_data(lost), Some(1));
        },
    );
    counters
}

#[test]
fn an_undone_recovery_ends_and_a_later_loss_gets_its_own() {
    // With timestamps the late original's ACK proves the first recovery spurious (Eifel); without,
    // the D-SACK for the needless resend does. Either way the recovery ends there, so the loss
    // that follows is reduced for (Linux tcp_try_undo_partial / tcp_try_undo_dsack, then
    // tcp_try_keep_open) instead of being absorbed by a recovery that no longer holds.
    for (timestamps, lost) in [(true, 40), (false, 50)] {
        let c = reordering_then_loss(timestamps, lost);
        let what = format!("timestamps {timestamps}: {c:?}");
        assert_eq!(c.spurious_recoveries_undone, 1, "{what}");
        assert_eq!(c.fast_recoveries, 2, "{what}");
        assert_eq!(c.retrans_segs, 2, "{what}");
    }
}
