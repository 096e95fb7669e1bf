//! `connect` onto a 4-tuple that is still in TIME-WAIT (Linux `tcp_twsk_unique`): taken over at
//! once for an explicitly bound port when the old connection used timestamps, for an ephemeral
//! port only as `Config::tw_reuse` allows and after `tw_reuse_delay`; otherwise refused with
//! `AddrNotAvailable`. The new connection starts its sequence numbers 65537 past the old one's.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{delay_ms, server_addr};
use synack_proto::{Config, ConnHandle, Error, FourTuple, State, TwReuse};
use synack_sim::{AppOptions, HostId, Sim};

const PORT: u16 = 40_000;

fn local() -> SocketAddr {
    SocketAddr::new("10.0.0.1".parse().unwrap(), PORT)
}

fn tuple() -> FourTuple {
    FourTuple {
        local: local(),
        remote: server_addr(),
    }
}

/// A client whose only ephemeral port is `PORT`, and a server that closes when the client does.
fn setup(seed: u64, client: Config) -> (Sim, HostId, HostId) {
    let client = Config {
        ephemeral_port_first: PORT,
        ephemeral_port_last: PORT,
        ..client
    };
    let mut sim = Sim::new(seed);
    let c = sim.add_host("client", "10.0.0.1".parse().unwrap(), client);
    let s = sim.add_host("server", "10.0.0.2".parse().unwrap(), Config::default());
    sim.link(c, s, delay_ms(10));
    let serve = AppOptions {
        close_on_eof: true,
        ..AppOptions::default()
    };
    sim.app_serve(s, server_addr(), 16, serve).unwrap();
    (sim, c, s)
}

/// Connects (from `PORT`, bound or ephemeral), exchanges nothing, closes first: the client ends
/// in TIME-WAIT. Returns the old connection's SND.NXT.
fn one_connection(sim: &mut Sim, c: HostId, bound: bool) -> u32 {
    let conn = sim
        .app_connect_with(c, server_addr(), bound.then(local), AppOptions::default())
        .unwrap();
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.endpoint_ref(c).state(conn).unwrap(), State::Established);
    let before_fin = sim.endpoint_ref(c).info(conn).unwrap().snd_nxt;
    sim.app_close(c, conn);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(
        sim.endpoint_ref(c).state_of(&tuple()),
        Some(State::TimeWait)
    );
    before_fin.wrapping_add(1)
}

fn connect(sim: &mut Sim, c: HostId, bound: bool) -> Result<ConnHandle, Error> {
    sim.app_connect_with(c, server_addr(), bound.then(local), AppOptions::default())
}

/// The new connection completes, starting 65537 past the old one.
fn completes(sim: &mut Sim, c: HostId, conn: ConnHandle, old_snd_nxt: u32) {
    let info = sim.endpoint_ref(c).info(conn).unwrap();
    assert_eq!(info.iss, old_snd_nxt.wrapping_add(65537));
    assert_eq!(info.tuple, tuple());
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.endpoint_ref(c).state(conn).unwrap(), State::Established);
    assert_eq!(sim.endpoint_ref(c).counters().time_wait_recycled, 1);
}

#[test]
fn a_bound_port_takes_over_its_time_wait_tuple_at_once() {
    for seed in 1..=5 {
        let (mut sim, c, _) = setup(seed, Config::default());
        let old = one_connection(&mut sim, c, true);
        // Whatever tw_reuse says, and without waiting.
        let conn = connect(&mut sim, c, true).expect("the bound port is taken over");
        completes(&mut sim, c, conn, old);
    }
}

#[test]
fn an_ephemeral_port_waits_for_tw_reuse_and_its_delay() {
    // Linux's default (loopback only): these addresses are not loopback, so never.
    let (mut sim, c, _) = setup(1, Config::default());
    one_connection(&mut sim, c, false);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(connect(&mut sim, c, false), Err(Error::AddrNotAvailable));

    // tw_reuse on: refused within the first second of TIME-WAIT, taken over after it.
    let config = Config {
        tw_reuse: TwReuse::On,
        ..Config::default()
    };
    let (mut sim, c, _) = setup(2, config);
    let old = one_connection(&mut sim, c, false);
    assert_eq!(connect(&mut sim, c, false), Err(Error::AddrNotAvailable));
    sim.run_for(Duration::from_millis(1000));
    let conn = connect(&mut sim, c, false).expect("reused after the delay");
    completes(&mut sim, c, conn, old);
}

#[test]
fn without_timestamps_time_wait_is_never_taken_over() {
    let config = Config {
        timestamps: false,
        tw_reuse: TwReuse::On,
        ..Config::default()
    };
    let (mut sim, c, _) = setup(3, config);
    one_connection(&mut sim, c, true);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(connect(&mut sim, c, true), Err(Error::AddrNotAvailable));
    assert_eq!(connect(&mut sim, c, false), Err(Error::AddrNotAvailable));
    // Once TIME-WAIT has run out, the tuple is free.
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.endpoint_ref(c).state_of(&tuple()), None);
    assert!(connect(&mut sim, c, true).is_ok());
}
