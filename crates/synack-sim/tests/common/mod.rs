//! Helpers shared by the simulator's integration tests: a client/server pair over one link, a
//! delay-only link, the server's address, and a deterministic byte pattern.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::Config;
use synack_sim::{HostId, LinkConfig, Sim};

/// A client (10.0.0.1) and a server (10.0.0.2) with default configurations, joined by `link`.
pub fn pair(seed: u64, link: LinkConfig) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let c = sim.add_host("client", "10.0.0.1".parse().unwrap(), Config::default());
    let s = sim.add_host("server", "10.0.0.2".parse().unwrap(), Config::default());
    sim.link(c, s, link);
    (sim, c, s)
}

/// A perfect link with a one-way delay of `ms` milliseconds.
pub fn delay_ms(ms: u64) -> LinkConfig {
    LinkConfig::with_delay(Duration::from_millis(ms))
}

/// The server's listening address, 10.0.0.2:80.
pub fn server_addr() -> SocketAddr {
    "10.0.0.2:80".parse().unwrap()
}

/// `len` deterministic bytes that differ with `salt` and show any reordering.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8 ^ salt)
        .collect()
}
