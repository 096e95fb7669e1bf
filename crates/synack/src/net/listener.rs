//! The blocking `TcpListener`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar};

use synack_proto::ListenerHandle;

use super::TcpStream;
use crate::driver::Driver;
use crate::socket;

/// The accept-queue bound `bind` asks for, as `std::net::TcpListener::bind` does (128).
pub const DEFAULT_BACKLOG: u32 = 128;

struct ListenerCore {
    driver: Driver,
    handle: ListenerHandle,
    local: SocketAddr,
    cond: Arc<Condvar>,
}

impl Drop for ListenerCore {
    fn drop(&mut self) {
        let mut g = self.driver.shared().lock();
        socket::close_listener(&mut g, self.handle);
    }
}

/// A listening socket of a synack stack, used like `std::net::TcpListener`; see the
/// [module documentation](crate::net).
pub struct TcpListener {
    core: Arc<ListenerCore>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.core.local)
            .finish()
    }
}

impl TcpListener {
    /// Listens on `addr` (the first resolved address that works) with a backlog of 128. An
    /// unspecified address listens on every local address of its family; port 0 picks a free
    /// port.
    pub fn bind<A: ToSocketAddrs>(driver: &Driver, addr: A) -> io::Result<TcpListener> {
        Self::bind_with_backlog(driver, addr, DEFAULT_BACKLOG)
    }

    /// Listens on `addr` with an accept queue of `backlog` connections (`listen(2)`'s argument,
    /// capped at `somaxconn`).
    pub fn bind_with_backlog<A: ToSocketAddrs>(
        driver: &Driver,
        addr: A,
        backlog: u32,
    ) -> io::Result<TcpListener> {
        let mut last = None;
        for a in super::resolve(addr)? {
            let mut g = driver.shared().lock();
            match socket::listen(&mut g, a, backlog) {
                Ok((handle, local)) => {
                    let cond = g
                        .listeners
                        .get(&handle)
                        .map(|s| s.cond.clone())
                        .unwrap_or_default();
                    return Ok(TcpListener {
                        core: Arc::new(ListenerCore {
                            driver: driver.clone(),
                            handle,
                            local,
                            cond,
                        }),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Waits for a connection and returns it with the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let shared = self.core.driver.shared();
        let mut g = shared.lock();
        loop {
            if let Some((h, tuple)) = socket::try_accept(&mut g, self.core.handle)? {
                drop(g);
                let s = TcpStream::from_handle(&self.core.driver, h, tuple);
                return Ok((s, tuple.remote));
            }
            let nonblocking = g
                .listeners
                .get(&self.core.handle)
                .is_some_and(|s| s.nonblocking);
            if nonblocking {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            g = shared.wait(&self.core.cond, g, None).0;
        }
    }

    /// An endless iterator over accepted connections (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.local)
    }

    /// Moves the listener into or out of non-blocking mode (`accept` fails with `WouldBlock` when
    /// no connection is waiting). Wakes an `accept` blocked on another thread so that it sees the
    /// change.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        let s = g
            .listeners
            .get_mut(&self.core.handle)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        s.nonblocking = nonblocking;
        s.cond.notify_all();
        Ok(())
    }

    /// Another handle to the same listener.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            core: self.core.clone(),
        })
    }

    /// Connections waiting in the accept queue.
    pub fn backlog_len(&self) -> io::Result<usize> {
        let g = self.core.driver.shared().lock();
        g.ep.accept_queue_len(self.core.handle)
            .map_err(io::Error::from)
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
