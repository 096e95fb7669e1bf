//! `synack`: the host of the synack TCP/IP stack.
//!
//! The engine (`synack-proto`) is sans-IO; this crate gives it a life: a [`Driver`] owns an
//! [`Endpoint`](synack_proto::Endpoint) and its [devices](device), maps the wall clock onto the
//! engine's time, runs the loop (on a background thread, or as a tokio task), and wakes the sockets
//! that applications use through the APIs Rust programmers already know:
//!
//! - [`net`]: blocking [`TcpListener`](net::TcpListener) and [`TcpStream`](net::TcpStream)
//!   mirroring `std::net` (`io::Read`, `io::Write`, timeouts, `shutdown`, linger);
//! - `tokio` (feature `tokio`): `TcpListener::accept().await`, `TcpStream::connect().await`,
//!   `AsyncRead`/`AsyncWrite`, `into_split`, so hyper, axum and tokio-util codecs run unchanged.
//!
//! Devices: a Linux [TUN interface](device::Tun) (the kernel's TCP on the other side), an
//! [in-memory link](device::SimDevice) between two drivers, a [pcap tap](device::PcapTap) and an
//! [impairment wrapper](device::Impaired) (loss, delay, jitter, reordering, duplication) that wrap
//! any device. Both IPv4 and IPv6; ICMP and ICMPv6 (echo, errors for connections) are the engine's.
//!
//! ```
//! use std::io::{Read, Write};
//! use synack::device::{LinkConfig, SimDevice};
//! use synack::net::{TcpListener, TcpStream};
//! use synack::Driver;
//!
//! let (a, b) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 1);
//! let client = Driver::builder().address("10.0.0.1".parse().unwrap()).device(a).spawn()?;
//! let server = Driver::builder().address("10.0.0.2".parse().unwrap()).device(b).spawn()?;
//!
//! let listener = TcpListener::bind(&server, "10.0.0.2:80")?;
//! let t = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
//!     let (mut s, _) = listener.accept()?;
//!     let mut got = Vec::new();
//!     s.read_to_end(&mut got)?;
//!     Ok(got)
//! });
//! let mut c = TcpStream::connect(&client, "10.0.0.2:80")?;
//! c.write_all(b"hello")?;
//! drop(c); // FIN
//! assert_eq!(t.join().unwrap()?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Linux only: the TUN device, the driver's eventfd and `ppoll` are Linux interfaces.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_os = "linux"))]
compile_error!("the synack host crate runs on Linux (TUN, eventfd, ppoll)");

pub mod device;
pub mod driver;
pub mod net;
pub mod netns;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use driver::{Driver, DriverBuilder, DriverStats};
pub use synack_proto::{Config, ConnInfo, Counters, Error, FourTuple, Resources, State};
