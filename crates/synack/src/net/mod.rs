//! Blocking sockets that mirror `std::net`: [`TcpListener`] and [`TcpStream`].
//!
//! They take a [`Driver`](crate::Driver) where `std::net` uses the kernel, and otherwise behave
//! the same: `accept`, `incoming`, `connect`, `connect_timeout`, `io::Read` and `io::Write` (also
//! for `&TcpStream`), `shutdown`, timeouts, non-blocking mode, `try_clone`. Errors carry the
//! `io::ErrorKind` a `std::net` user expects (`ConnectionRefused`, `ConnectionReset`, `TimedOut`,
//! `AddrInUse`, ...). Dropping the last handle of a stream closes it in order (FIN after the queued
//! data); with `set_linger(Some(Duration::ZERO))` it is aborted with RST instead, and, as on Linux,
//! also when received data was left unread.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use synack::device::Tun;
//! use synack::net::TcpListener;
//!
//! let tun = Tun::builder("synack0").address("10.9.0.1".parse().unwrap(), 24).open()?;
//! let driver = synack::Driver::builder()
//!     .address("10.9.0.2".parse().unwrap())
//!     .device(tun)
//!     .spawn()?;
//! let listener = TcpListener::bind(&driver, "10.9.0.2:7")?;
//! for stream in listener.incoming() {
//!     let mut stream = stream?;
//!     let mut buf = [0; 4096];
//!     loop {
//!         let n = stream.read(&mut buf)?;
//!         if n == 0 {
//!             break;
//!         }
//!         stream.write_all(&buf[..n])?;
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

mod listener;
mod stream;

pub use listener::{Incoming, TcpListener};
pub use stream::TcpStream;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` like `std::net` does, failing when it names nothing.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}
