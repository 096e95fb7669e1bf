//! tokio sockets (feature `tokio`): [`TcpListener`] and [`TcpStream`] with the shape of
//! `tokio::net`'s, so code written for tokio — hyper, axum, tokio-util codecs — runs on synack
//! unchanged.
//!
//! They work with a driver on its own thread ([`DriverBuilder::spawn`](crate::DriverBuilder::spawn))
//! or one running as a task of the same runtime
//! ([`DriverBuilder::spawn_tokio`](crate::DriverBuilder::spawn_tokio)). Readiness comes from the
//! engine's events: a task waiting to read is woken by `Readable`, one waiting to write or to
//! connect by `Writable`/`Connected`, one waiting to accept by `Acceptable`, and every one of them
//! by `Closed`.
//!
//! ```no_run
//! # async fn demo(driver: synack::Driver) -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let listener = synack::tokio::TcpListener::bind(&driver, "10.9.0.2:7").await?;
//! loop {
//!     let (mut stream, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let (mut rd, mut wr) = stream.split();
//!         let _ = tokio::io::copy(&mut rd, &mut wr).await;
//!         let _ = stream.shutdown().await;
//!     });
//! }
//! # }
//! ```

mod listener;
mod stream;

pub use listener::TcpListener;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpStream, WriteHalf};
