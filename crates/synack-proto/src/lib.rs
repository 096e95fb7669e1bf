//! `synack-proto`: the sans-IO TCP engine of synack.
//!
//! An [`Endpoint`] is one host's TCP: it takes IP datagrams and the current time, and gives back
//! datagrams to send, events, and the time it next needs to be woken. It performs no I/O, reads no
//! clock, spawns nothing: the same inputs give the same outputs, which is what makes the simulator,
//! packetdrill scripts and fuzzing possible.
//!
//! RFCs implemented (each module names its sections): RFC 9293 (TCP, all eleven states of
//! §3.3.2 and the event processing of §3.10), RFC 6298 (retransmission timer), RFC 6528 (ISNs),
//! RFC 6056 (ephemeral ports), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 and RFC 2883
//! (SACK and D-SACK, sent and used), RFC 8985 (RACK-TLP loss detection), RFC 6675 (`pipe`),
//! RFC 5681, RFC 6582 and RFC 3042 (NewReno, limited transmit), RFC 9438 and RFC 9406 (CUBIC,
//! HyStart++), RFC 3522 (Eifel undo), RFC 5961 (RST and SYN hardening), RFC 5482 (user
//! timeout), RFC 1122 §4.2.2.13 and §4.2.3.6 (half-close, keepalive), RFC 1191, RFC 8201 and
//! RFC 5927 (path MTU and ICMP errors).
//!
//! ```
//! use synack_proto::{Config, Endpoint, Instant};
//! let mut client = Endpoint::new(Config::default(), 1);
//! client.add_address("10.0.0.1".parse().unwrap());
//! let conn = client
//!     .connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None)
//!     .unwrap();
//! let syn = client.poll_transmit().expect("a SYN");
//! assert_eq!(syn[0] >> 4, 4); // an IPv4 datagram
//! assert_eq!(client.state(conn).unwrap(), synack_proto::State::SynSent);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod cc;
pub mod chrono;
pub mod config;
mod conn;
pub mod counters;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod isn;
mod listener;
pub mod ports;
pub mod rack;
pub mod reassembly;
mod recvbuf;
pub mod rng;
pub mod rtt;
pub mod seq;
mod slab;
pub mod state;
pub mod syncookie;
pub mod time;
mod time_wait;
pub mod timer_wheel;
pub mod tuple;
mod txq;

pub use config::{Config, TwReuse};
pub use counters::Counters;
pub use endpoint::{
    CaState, ConnInfo, ConnectOptions, DropReason, Endpoint, Keepalive, Resources, SendFlags,
    SendWindow,
};
pub use error::Error;
pub use event::{ConnHandle, Event, ListenerHandle};
pub use seq::SeqNum;
pub use state::State;
pub use time::{Duration, Instant};
pub use tuple::FourTuple;
