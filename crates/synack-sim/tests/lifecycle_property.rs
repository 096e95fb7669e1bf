//! The whole lifecycle under random impairments: connect, move 64 KiB each way at the same time,
//! both close; the bytes arrive exactly, both ends reach CLOSED (after TIME-WAIT), and neither
//! endpoint keeps a connection, a half-open or TIME-WAIT entry, or a timer. Then the same with
//! 1 MiB each way over long (50-200 ms one way), lossy (up to 10 %) and reordering paths, which
//! must also finish within a time bound derived from the impairments: no stall.

mod claims_support;

use claims_support::*;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use synack_proto::{Config, Instant, State};
use synack_sim::{AppOptions, LinkConfig};

const BYTES: usize = 64 * 1024;
/// What the long-path test moves each way.
const BIG: usize = 1024 * 1024;
/// Virtual time allowed for the 64 KiB transfer, and after any transfer for the closes (TIME-WAIT
/// included), far beyond what any run needs: RTOs back off to at most 120 s, and data retries
/// give up after 15.
const LIMIT: Instant = Instant::from_secs(3600);

#[derive(Clone, Debug)]
struct Impairments {
    delay_ms: u64,
    jitter_ms: u64,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    /// The extra delay of a reordered packet.
    reorder_ms: u64,
    corrupt: f64,
}

impl Impairments {
    fn link(&self) -> LinkConfig {
        LinkConfig::with_delay(d_ms(self.delay_ms))
            .jitter(d_ms(self.jitter_ms))
            .loss(self.loss)
            .duplicate(self.duplicate)
            .reorder(self.reorder, d_ms(self.reorder_ms))
            .corrupt(self.corrupt)
    }
}

fn impairments() -> impl Strategy<Value = Impairments> {
    (
        1u64..=50,
        0u64..=20,
        0.0f64..=0.2,
        0.0f64..=0.1,
        0.0f64..=0.1,
        0.0f64..=0.05,
    )
        .prop_map(
            |(delay_ms, jitter_ms, loss, duplicate, reorder, corrupt)| Impairments {
                delay_ms,
                jitter_ms,
                loss,
                duplicate,
                reorder,
                reorder_ms: delay_ms + 5,
                corrupt,
            },
        )
}

/// Long, lossy paths: 50-200 ms one way with up to 20 ms of jitter, up to 10 % loss, and up to
/// 10 % of packets held back 5-100 ms more so that later ones overtake them.
fn long_lossy_paths() -> impl Strategy<Value = Impairments> {
    (
        50u64..=200,
        0u64..=20,
        0.0f64..=0.1,
        0.0f64..=0.1,
        5u64..=100,
    )
        .prop_map(
            |(delay_ms, jitter_ms, loss, reorder, reorder_ms)| Impairments {
                delay_ms,
                jitter_ms,
                loss,
                duplicate: 0.0,
                reorder,
                reorder_ms,
                corrupt: 0.0,
            },
        )
}

/// Payload bytes of a full-sized segment: MSS 1460 less 12 bytes of timestamps.
const SEGMENT: f64 = 1448.0;

/// The virtual time by which `bytes` must have crossed each way under `imp`: a conservative
/// bound from the TCP throughput model of Padhye, Firoiu, Towsley and Kurose ("Modeling TCP
/// throughput", SIGCOMM 1998), which is Mathis et al.'s square-root formula with retransmission
/// timeouts added:
///
/// ```text
///   rate  = MSS / (RTT * sqrt(2bp/3) + T0 * min(1, 3 * sqrt(3bp/8)) * p * (1 + 32p^2))
///   bound = K * T0 + bytes / rate
/// ```
///
/// with every input taken at its worst:
/// - RTT, the slowest round trip the link can give: 2 * (delay + jitter + reorder delay);
/// - T0, the largest retransmission timeout those round trips can produce: RTT plus four times
///   their spread (RFC 6298's 4 RTTVAR) plus Linux's 200 ms floor, and never below the initial
///   1 s;
/// - p, the loss probability of each packet, which is more than the rate of loss *events* the
///   model means (losses in the same window cost one reduction), and at least 0.001, so that a
///   clean link still pays for slow start and the growth of the receive window;
/// - b = 2 segments per ACK (delayed ACKs);
/// - K = 10 timeouts for the handshake, the first slow start and the tail of the transfer.
///
/// Both directions have their own link and their own bound; they move at the same time.
fn completion_bound(imp: &Impairments, bytes: usize) -> Instant {
    let slowest = 2.0 * (imp.delay_ms + imp.jitter_ms + imp.reorder_ms) as f64 / 1000.0;
    let fastest = 2.0 * imp.delay_ms as f64 / 1000.0;
    let t0 = (slowest + 4.0 * (slowest - fastest) + 0.2).max(1.0);
    let p = imp.loss.max(0.001);
    let b = 2.0;
    let per_segment = slowest * (2.0 * b * p / 3.0).sqrt()
        + t0 * (3.0 * (3.0 * b * p / 8.0).sqrt()).min(1.0) * p * (1.0 + 32.0 * p * p);
    let rate = SEGMENT / per_segment;
    let secs = 10.0 * t0 + bytes as f64 / rate;
    Instant::from_micros((secs * 1e6) as u64)
}

/// The last `n` lines of the trace, for failure messages.
fn trace_tail(net: &Net, n: usize) -> String {
    let text = net.dump();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn lifecycle(seed: u64, imp: &Impairments) -> Result<(), TestCaseError> {
    lifecycle_of(seed, imp, BYTES, LIMIT).map(|_| ())
}

/// Connects, moves `bytes` each way at the same time, closes both sides once each has read
/// everything, and checks the result; returns when the transfer was complete (both sides had
/// read every byte). Fails when the transfer is not complete by `limit`.
fn lifecycle_of(
    seed: u64,
    imp: &Impairments,
    bytes: usize,
    limit: Instant,
) -> Result<Instant, TestCaseError> {
    let mut net = Net::with(seed, Config::default(), Config::default(), imp.link());
    let (client, server) = (net.client, net.server);
    net.sim
        .app_serve(server, server_addr(), 16, AppOptions::default())
        .expect("listen");
    let c = net.sim.app_connect(client, server_addr()).expect("connect");
    let up = pattern(bytes, 0x11);
    let down = pattern(bytes, 0x22);
    net.sim.app_send_all(client, c, &up);

    // Each side closes once it has read everything the other sent (closing earlier would make
    // later data meet a closed socket, which is answered with RST).
    let mut s = None;
    let mut closed = [false, false];
    net.sim.run_until_cond(limit, |sim| {
        if s.is_none() {
            if let Some(&accepted) = sim.app_accepted(server).first() {
                sim.app_send_all(server, accepted, &down);
                s = Some(accepted);
            }
        }
        if !closed[0] && sim.app_received(client, c).len() == bytes {
            sim.app_close(client, c);
            closed[0] = true;
        }
        if let Some(s) = s {
            if !closed[1] && sim.app_received(server, s).len() == bytes {
                sim.app_close(server, s);
                closed[1] = true;
            }
        }
        closed == [true, true]
    });
    prop_assert_eq!(
        closed,
        [true, true],
        "transfer not complete by {}:\n{}",
        limit,
        trace_tail(&net, 40)
    );
    let complete = net.sim.now();
    // The closes, TIME-WAIT included, get the same generous allowance.
    let quiet = complete + (LIMIT - Instant::ZERO);
    let idle = net.sim.run_until_idle(quiet);
    prop_assert!(idle, "not idle by {}:\n{}", quiet, trace_tail(&net, 40));
    let s = s.expect("accepted");

    prop_assert!(
        net.sim.app_received(client, c) == &down[..],
        "down bytes differ"
    );
    prop_assert!(
        net.sim.app_received(server, s) == &up[..],
        "up bytes differ"
    );
    prop_assert_eq!(net.sim.app_error(client, c), None);
    prop_assert_eq!(net.sim.app_error(server, s), None);
    prop_assert_eq!(net.sim.app_accepted(server).len(), 1);

    let tuple = net.sim.app_tuple(client, c).expect("client tuple");
    for (host, tuple) in [(client, tuple), (server, tuple.reversed())] {
        let states = net.sim.states_of(host, tuple);
        prop_assert_eq!(states.last(), Some(&State::Closed), "{:?}", states);
        prop_assert!(states.contains(&State::Established), "{:?}", states);
        let r = net.ep(host).resources();
        prop_assert_eq!(
            (
                r.connections,
                r.half_open,
                r.time_wait,
                r.timers,
                r.queued_packets
            ),
            (0, 0, 0, 0, 0),
            "{:?}",
            r
        );
    }
    // Whoever closed first went through TIME-WAIT; at least one side did.
    let time_waits = net.ep(client).counters().time_waits + net.ep(server).counters().time_waits;
    prop_assert!(time_waits >= 1);
    Ok(complete)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        // Reproducible runs: the same 24 cases every time.
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        failure_persistence: None,
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn lifecycle_under_impairments_delivers_exactly_and_leaves_nothing_behind(
        seed in any::<u64>(),
        imp in impairments(),
    ) {
        lifecycle(seed, &imp)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        // Reproducible runs: the same 16 cases every time.
        rng_seed: RngSeed::Fixed(0x5eed_0002),
        failure_persistence: None,
        max_shrink_iters: 8,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mebibyte_each_way_over_long_lossy_paths_completes_in_bounded_time(
        seed in any::<u64>(),
        imp in long_lossy_paths(),
    ) {
        let bound = completion_bound(&imp, BIG);
        let done = lifecycle_of(seed, &imp, BIG, bound)?;
        prop_assert!(done <= bound, "complete at {} after the bound {}", done, bound);
    }
}
