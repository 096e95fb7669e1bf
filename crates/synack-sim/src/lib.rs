//! `synack-sim`: a deterministic network simulator for the synack TCP engine.
//!
//! A [`Sim`] holds hosts, each running a sans-IO [`synack_proto::Endpoint`], joined by links that
//! delay, rate-limit, queue, lose, duplicate, reorder and corrupt packets ([`LinkConfig`]). Time is
//! virtual: the sim jumps from one event (a packet arrival, an injected packet, a host timer) to the
//! next, so a 60-second TIME-WAIT costs nothing. Every random choice comes from one generator
//! seeded by [`Sim::new`]'s seed (and each endpoint's secrets from a seed derived from it), so the
//! same seed and the same script give a byte-identical [`Trace`].
//!
//! Tests act as the applications: either through the endpoints directly ([`Sim::endpoint`],
//! [`Sim::with_endpoint`]), or through the built-in application layer (the `app_*` methods, see
//! [`app`]), and script faults ([`Sim::drop_nth`], [`Sim::drop_matching`],
//! [`Sim::delay_matching`], [`Sim::inject`] with [`craft_tcp`]). Everything that happens is
//! recorded in the [`Trace`]: packets with their fate, state changes, application notes.
//!
//! ```
//! use std::time::Duration;
//! use synack_proto::{Config, Instant, State};
//! use synack_sim::{AppOptions, LinkConfig, Sim};
//!
//! let mut sim = Sim::new(42);
//! let client = sim.add_host("client", "10.0.0.1".parse().unwrap(), Config::default());
//! let server = sim.add_host("server", "10.0.0.2".parse().unwrap(), Config::default());
//! sim.link(client, server, LinkConfig::with_delay(Duration::from_millis(5)));
//!
//! sim.app_serve(server, "10.0.0.2:80".parse().unwrap(), 128, AppOptions::default()).unwrap();
//! let conn = sim.app_connect(client, "10.0.0.2:80".parse().unwrap()).unwrap();
//! sim.run_for(Duration::from_millis(20));
//!
//! assert_eq!(sim.endpoint(client).state(conn).unwrap(), State::Established);
//! let tuple = sim.app_tuple(client, conn).unwrap();
//! assert_eq!(
//!     sim.trace().states_of(client, tuple),
//!     [State::Closed, State::SynSent, State::Established]
//! );
//! // SYN at 0, SYN+ACK at 5 ms, ACK at 10 ms.
//! let arrivals: Vec<_> = sim.trace().packets().filter_map(|p| p.fate.arrival()).collect();
//! assert_eq!(arrivals[..3], [Instant::from_millis(5), Instant::from_millis(10), Instant::from_millis(15)]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod link;
pub mod packet;
pub mod pcap;
pub mod rng;
mod sim;
pub mod trace;

pub use app::AppOptions;
pub use link::LinkConfig;
pub use packet::{craft_tcp, flip_bit, PacketInfo};
pub use sim::{HostId, Sim};
pub use trace::{Fate, LossReason, PacketId, PacketRecord, Trace, TraceEvent, TraceKind};
