//! The whole lifecycle under random impairments: connect, move 64 KiB each way at the same time,
//! both close; the bytes arrive exactly, both ends reach CLOSED (after TIME-WAIT), and neither
//! endpoint keeps a connection, a half-open or TIME-WAIT entry, or a timer.

mod claims_support;

use claims_support::*;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use synack_proto::{Config, Instant, State};
use synack_sim::{AppOptions, LinkConfig};

const BYTES: usize = 64 * 1024;
/// Virtual time allowed for the transfer and the closes (TIME-WAIT included), far beyond what
/// any run needs: RTOs back off to at most 120 s, and data retries give up after 15.
const LIMIT: Instant = Instant::from_secs(3600);

#[derive(Clone, Debug)]
struct Impairments {
    delay_ms: u64,
    jitter_ms: u64,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    corrupt: f64,
}

impl Impairments {
    fn link(&self) -> LinkConfig {
        LinkConfig::with_delay(d_ms(self.delay_ms))
            .jitter(d_ms(self.jitter_ms))
            .loss(self.loss)
            .duplicate(self.duplicate)
            .reorder(self.reorder, d_ms(self.delay_ms + 5))
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
                corrupt,
            },
        )
}

/// The last `n` lines of the trace, for failure messages.
fn trace_tail(net: &Net, n: usize) -> String {
    let text = net.dump();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn lifecycle(seed: u64, imp: &Impairments) -> Result<(), TestCaseError> {
    let mut net = Net::with(seed, Config::default(), Config::default(), imp.link());
    let (client, server) = (net.client, net.server);
    net.sim
        .app_serve(server, server_addr(), 16, AppOptions::default())
        .expect("listen");
    let c = net.sim.app_connect(client, server_addr()).expect("connect");
    let up = pattern(BYTES, 0x11);
    let down = pattern(BYTES, 0x22);
    net.sim.app_send_all(client, c, &up);

    // Each side closes once it has read everything the other sent (closing earlier would make
    // later data meet a closed socket, which is answered with RST).
    let mut s = None;
    let mut closed = [false, false];
    net.sim.run_until_cond(LIMIT, |sim| {
        if s.is_none() {
            if let Some(&accepted) = sim.app_accepted(server).first() {
                sim.app_send_all(server, accepted, &down);
                s = Some(accepted);
            }
        }
        if !closed[0] && sim.app_received(client, c).len() == BYTES {
            sim.app_close(client, c);
            closed[0] = true;
        }
        if let Some(s) = s {
            if !closed[1] && sim.app_received(server, s).len() == BYTES {
                sim.app_close(server, s);
                closed[1] = true;
            }
        }
        closed == [true, true]
    });
    prop_assert_eq!(closed, [true, true], "{}", trace_tail(&net, 40));
    let idle = net.sim.run_until_idle(LIMIT);
    prop_assert!(idle, "not idle by {}:\n{}", LIMIT, trace_tail(&net, 40));
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
    Ok(())
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
