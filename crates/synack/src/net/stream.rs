//! The blocking `TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant as StdInstant};

use synack_proto::{ConnHandle, ConnInfo, FourTuple};

use crate::driver::{Driver, Inner};
use crate::socket::{self, ConnectStatus};

/// What every clone of one stream shares; the connection is released when it goes.
pub(crate) struct StreamCore {
    pub(crate) driver: Driver,
    pub(crate) handle: ConnHandle,
    pub(crate) tuple: FourTuple,
    cond: Arc<Condvar>,
}

impl Drop for StreamCore {
    fn drop(&mut self) {
        socket::release(self.driver.shared(), self.handle);
    }
}

/// A TCP connection of a synack stack, used like `std::net::TcpStream`; see the
/// [module documentation](crate::net).
pub struct TcpStream {
    core: Arc<StreamCore>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.core.tuple.local)
            .field("peer", &self.core.tuple.remote)
            .finish()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
}

impl TcpStream {
    /// Wraps a registered connection.
    pub(crate) fn from_handle(driver: &Driver, handle: ConnHandle, tuple: FourTuple) -> Self {
        let cond = driver
            .shared()
            .lock()
            .conns
            .get(&handle)
            .map(|s| s.cond.clone())
            .unwrap_or_default();
        Self {
            core: Arc::new(StreamCore {
                driver: driver.clone(),
                handle,
                tuple,
                cond,
            }),
        }
    }

    /// Opens a connection to `addr` (each resolved address in turn, as `std::net` does), waiting
    /// for the handshake to complete or fail (after the SYN retries: about two minutes with
    /// Linux's defaults).
    pub fn connect<A: ToSocketAddrs>(driver: &Driver, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in super::resolve(addr)? {
            match Self::connect_one(driver, a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Opens a connection to `addr`, giving up with `TimedOut` after `timeout` (zero is
    /// `InvalidInput`, as in `std::net`).
    pub fn connect_timeout(
        driver: &Driver,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_one(driver, *addr, Some(StdInstant::now() + timeout))
    }

    fn connect_one(
        driver: &Driver,
        remote: SocketAddr,
        deadline: Option<StdInstant>,
    ) -> io::Result<TcpStream> {
        let shared = driver.shared();
        let mut g = shared.lock();
        let h = socket::start_connect(&mut g, remote)?;
        let cond = g.conns.get(&h).map(|s| s.cond.clone()).unwrap_or_default();
        loop {
            match socket::connect_status(&mut g, h) {
                ConnectStatus::Connected => {
                    let tuple = g.ep.tuple(h).map_err(io::Error::from)?;
                    drop(g);
                    return Ok(Self::from_handle(driver, h, tuple));
                }
                ConnectStatus::Failed(e) => {
                    socket::abandon(&mut g, h);
                    return Err(e);
                }
                ConnectStatus::Pending => {
                    let (g2, expired) = shared.wait(&cond, g, deadline);
                    g = g2;
                    if expired
                        && matches!(socket::connect_status(&mut g, h), ConnectStatus::Pending)
                    {
                        socket::abandon(&mut g, h);
                        return Err(timed_out());
                    }
                }
            }
        }
    }

    fn handle(&self) -> ConnHandle {
        self.core.handle
    }

    fn with_slot<R>(&self, f: impl FnOnce(&mut crate::driver::ConnSlot) -> R) -> io::Result<R> {
        socket::with_slot(self.core.driver.shared(), self.core.handle, f)
    }

    /// Runs `op` until it completes, waiting on the stream's condition variable in between,
    /// honouring non-blocking mode and the timeout `timeout_of` picks.
    fn blocking<R>(
        &self,
        timeout_of: impl Fn(&crate::driver::ConnSlot) -> Option<Duration>,
        mut op: impl FnMut(&mut Inner) -> io::Result<Option<R>>,
    ) -> io::Result<R> {
        let shared = self.core.driver.shared();
        let mut g = shared.lock();
        let (nonblocking, timeout) = match g.conns.get(&self.core.handle) {
            Some(s) => (s.nonblocking, timeout_of(s)),
            None => return Err(io::Error::from(io::ErrorKind::NotConnected)),
        };
        let deadline = timeout.map(|d| StdInstant::now() + d);
        loop {
            if let Some(r) = op(&mut g)? {
                return Ok(r);
            }
            if nonblocking {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let (g2, expired) = shared.wait(&self.core.cond, g, deadline);
            g = g2;
            if expired {
                if let Some(r) = op(&mut g)? {
                    return Ok(r);
                }
                // std::net on Unix reports an expired socket timeout as EAGAIN.
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "operation timed out",
                ));
            }
        }
    }

    fn read_inner(&self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.handle();
        self.blocking(|s| s.read_timeout, |g| socket::try_read(g, h, buf))
    }

    /// Receives data without removing it from the queue (`MSG_PEEK`), as
    /// `std::net::TcpStream::peek`: waits like `read` for something to arrive, and returns
    /// `Ok(0)` at the end of the stream; a later `read` returns the same bytes.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.handle();
        self.blocking(|s| s.read_timeout, |g| socket::try_peek(g, h, buf))
    }

    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        let h = self.handle();
        self.blocking(|s| s.write_timeout, |g| socket::try_write(g, h, buf))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.remote)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.local)
    }

    /// Shuts down the read half, the write half (a FIN after the queued data; the peer reads end
    /// of stream, and this side can still read), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        let h = self.handle();
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            socket::shutdown_read(&mut g, h)?;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            socket::shutdown_write(&mut g, h)?;
        }
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        socket::set_nodelay(&mut g, self.handle(), nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.with_slot(|s| s.nodelay)
    }

    /// Sets the IP TOS byte (IPv6 Traffic Class) of the connection's datagrams, as socket2's
    /// `set_tos` (`IP_TOS`, `IPV6_TCLASS`): the DSCP bits are used, the ECN bits (TCP's own)
    /// stay zero.
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        socket::set_tos(&mut g, self.handle(), tos)
    }

    /// The TOS byte the connection's datagrams carry.
    pub fn tos(&self) -> io::Result<u32> {
        Ok(u32::from(self.tcp_info()?.tos))
    }

    /// Corks the connection (`TCP_CORK`, as socket2's `set_cork`): a segment smaller than the
    /// MSS at the end of the queue waits for more data, for the cork to come off, or for about
    /// an RTO (see `synack_proto::Endpoint::set_cork`).
    pub fn set_cork(&self, cork: bool) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        socket::set_cork(&mut g, self.handle(), cork)
    }

    /// Whether the connection is corked.
    pub fn cork(&self) -> io::Result<bool> {
        self.with_slot(|s| s.cork)
    }

    /// Sets how long a read may block (`None`: forever; zero is `InvalidInput`, as in std).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.with_slot(|s| s.read_timeout = timeout)
    }

    /// How long a read may block.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_slot(|s| s.read_timeout)
    }

    /// Sets how long a write may block (`None`: forever; zero is `InvalidInput`, as in std).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.with_slot(|s| s.write_timeout = timeout)
    }

    /// How long a write may block.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.with_slot(|s| s.write_timeout)
    }

    /// Sets `SO_LINGER`: `Some(Duration::ZERO)` makes the close an abort (RST, queued data
    /// discarded); `Some(d)` makes the drop of the last handle wait up to `d` for the queued data
    /// and the FIN to be acknowledged; `None` (the default) closes in the background.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with_slot(|s| s.linger = linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.with_slot(|s| s.linger)
    }

    /// Moves the stream into or out of non-blocking mode (reads and writes that cannot proceed
    /// fail with `WouldBlock`).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.with_slot(|s| s.nonblocking = nonblocking)
    }

    /// Another handle to the same connection (options are shared, as with a duplicated socket).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            core: self.core.clone(),
        })
    }

    /// Takes the error that closed the connection, if any (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.with_slot(|s| s.error.take().map(io::Error::from))
    }

    /// A snapshot of the connection's TCB (like `TCP_INFO`).
    pub fn tcp_info(&self) -> io::Result<ConnInfo> {
        let g = self.core.driver.shared().lock();
        g.ep.info(self.handle()).map_err(io::Error::from)
    }

    /// The driver this stream belongs to.
    pub fn driver(&self) -> &Driver {
        &self.core.driver
    }
}

fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t.is_some_and(|d| d.is_zero()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }

    /// Like `std::net::TcpStream`, a no-op: written data is already in the stack's hands.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
