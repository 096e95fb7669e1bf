//! The tokio `TcpListener`.

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use synack_proto::ListenerHandle;

use super::TcpStream;
use crate::driver::Driver;
use crate::socket;

/// The accept-queue bound `bind` asks for, as `tokio::net::TcpListener::bind` does.
const TOKIO_BACKLOG: u32 = 1024;

/// A listening socket for tokio; see the [module documentation](crate::tokio).
pub struct TcpListener {
    driver: Driver,
    handle: ListenerHandle,
    local: SocketAddr,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TcpListener {
    /// Listens on `addr` (the first resolved address that works) with a backlog of 1024, as
    /// `tokio::net::TcpListener::bind` does. Port 0 picks a free port.
    pub async fn bind<A: ToSocketAddrs>(driver: &Driver, addr: A) -> io::Result<TcpListener> {
        Self::bind_with_backlog(driver, addr, TOKIO_BACKLOG)
    }

    /// Listens on `addr` with an accept queue of `backlog` connections.
    pub fn bind_with_backlog<A: ToSocketAddrs>(
        driver: &Driver,
        addr: A,
        backlog: u32,
    ) -> io::Result<TcpListener> {
        let mut last = None;
        for a in crate::net::resolve(addr)? {
            let mut g = driver.shared().lock();
            match socket::listen(&mut g, a, backlog) {
                Ok((handle, local)) => {
                    return Ok(TcpListener {
                        driver: driver.clone(),
                        handle,
                        local,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Waits for a connection and returns it with the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection: `Pending` registers the task to be woken when one is queued.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut g = self.driver.shared().lock();
        match socket::try_accept(&mut g, self.handle) {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Some((h, tuple))) => {
                drop(g);
                Poll::Ready(Ok((
                    TcpStream::from_handle(&self.driver, h, tuple),
                    tuple.remote,
                )))
            }
            Ok(None) => match g.listeners.get_mut(&self.handle) {
                Some(s) => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected))),
            },
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut g = self.driver.shared().lock();
        socket::close_listener(&mut g, self.handle);
    }
}
