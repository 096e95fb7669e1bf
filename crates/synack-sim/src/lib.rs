//! `synack-sim`: a deterministic network simulator for the synack TCP engine.
#![warn(missing_docs)]

pub mod pcap;
