//! The tokio `TcpStream` and its halves.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use synack_proto::{ConnHandle, ConnInfo, FourTuple};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::driver::Driver;
use crate::socket::{self, ConnectStatus};

/// What a stream and its halves share; the connection is released when it goes.
struct Core {
    driver: Driver,
    handle: ConnHandle,
    tuple: FourTuple,
}

impl Drop for Core {
    fn drop(&mut self) {
        socket::release(self.driver.shared(), self.handle);
    }
}

impl Core {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_or_peek(cx, buf, false).map_ok(|_| ())
    }

    /// Reads (or, with `peek`, copies without consuming) into `buf`: the bytes filled.
    fn poll_read_or_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        let mut g = self.driver.shared().lock();
        let dst = buf.initialize_unfilled();
        let r = if peek {
            socket::try_peek(&mut g, self.handle, dst)
        } else {
            socket::try_read(&mut g, self.handle, dst)
        };
        match r {
            Ok(Some(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(n))
            }
            Ok(None) => match g.conns.get_mut(&self.handle) {
                Some(s) => {
                    s.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            },
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut g = self.driver.shared().lock();
        match socket::try_write(&mut g, self.handle, buf) {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => match g.conns.get_mut(&self.handle) {
                Some(s) => {
                    s.write_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            },
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut g = self.driver.shared().lock();
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            socket::shutdown_read(&mut g, self.handle)?;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            socket::shutdown_write(&mut g, self.handle)?;
        }
        Ok(())
    }
}

/// Abandons a connect whose future was dropped before it finished.
struct ConnectGuard<'a> {
    driver: &'a Driver,
    handle: Option<ConnHandle>,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.handle {
            let mut g = self.driver.shared().lock();
            socket::abandon(&mut g, h);
        }
    }
}

/// A TCP connection for tokio; see the [module documentation](crate::tokio).
pub struct TcpStream {
    core: Arc<Core>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.core.tuple.local)
            .field("peer", &self.core.tuple.remote)
            .finish()
    }
}

impl TcpStream {
    pub(crate) fn from_handle(driver: &Driver, handle: ConnHandle, tuple: FourTuple) -> Self {
        Self {
            core: Arc::new(Core {
                driver: driver.clone(),
                handle,
                tuple,
            }),
        }
    }

    /// Opens a connection to `addr` (each resolved address in turn). Wrap it in
    /// `tokio::time::timeout` for a deadline; dropping the future abandons the attempt.
    pub async fn connect<A: ToSocketAddrs>(driver: &Driver, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in crate::net::resolve(addr)? {
            match Self::connect_one(driver, a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::InvalidInput.into()))
    }

    async fn connect_one(driver: &Driver, remote: SocketAddr) -> io::Result<TcpStream> {
        let h = {
            let mut g = driver.shared().lock();
            socket::start_connect(&mut g, remote)?
        };
        let mut guard = ConnectGuard {
            driver,
            handle: Some(h),
        };
        let result = poll_fn(|cx| {
            let mut g = driver.shared().lock();
            match socket::connect_status(&mut g, h) {
                ConnectStatus::Pending => {
                    if let Some(s) = g.conns.get_mut(&h) {
                        s.write_waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
                ConnectStatus::Connected => Poll::Ready(g.ep.tuple(h).map_err(io::Error::from)),
                ConnectStatus::Failed(e) => Poll::Ready(Err(e)),
            }
        })
        .await;
        match result {
            Ok(tuple) => {
                guard.handle = None;
                Ok(Self::from_handle(driver, h, tuple))
            }
            Err(e) => Err(e),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.local)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.remote)
    }

    /// Runs `f` on the connection's slot (`NotConnected` once it is gone).
    fn with_slot<R>(&self, f: impl FnOnce(&mut crate::driver::ConnSlot) -> R) -> io::Result<R> {
        socket::with_slot(self.core.driver.shared(), self.core.handle, f)
    }

    /// Turns Nagle's algorithm off (`true`) or on (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut g = self.core.driver.shared().lock();
        socket::set_nodelay(&mut g, self.core.handle, nodelay)
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
        socket::set_tos(&mut g, self.core.handle, tos)
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
        socket::set_cork(&mut g, self.core.handle, cork)
    }

    /// Whether the connection is corked.
    pub fn cork(&self) -> io::Result<bool> {
        self.with_slot(|s| s.cork)
    }

    /// Sets `SO_LINGER`: `Some(Duration::ZERO)` makes dropping the stream an abort (RST).
    /// (A non-zero linger blocks the dropping thread, as with the blocking API.)
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with_slot(|s| s.linger = linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.with_slot(|s| s.linger)
    }

    /// A snapshot of the connection's TCB (like `TCP_INFO`).
    pub fn tcp_info(&self) -> io::Result<ConnInfo> {
        let g = self.core.driver.shared().lock();
        g.ep.info(self.core.handle).map_err(io::Error::from)
    }

    /// Splits into halves that can move to different tasks. Dropping the write half shuts the
    /// write direction down (FIN), as tokio's does; the connection is released when both are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                core: self.core.clone(),
            },
            OwnedWriteHalf {
                core: self.core,
                shutdown_on_drop: true,
            },
        )
    }

    /// Receives data without removing it from the queue (`MSG_PEEK`), as tokio's
    /// `TcpStream::peek`: waits for something to arrive; `Ok(0)` at the end of the stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        poll_fn(|cx| self.core.poll_read_or_peek(cx, &mut buf, true)).await
    }

    /// [`peek`](Self::peek) as a poll function (tokio's `TcpStream::poll_peek`): the bytes
    /// copied into `buf`, which is advanced by as many.
    pub fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        self.core.poll_read_or_peek(cx, buf, true)
    }

    /// Splits into borrowed halves, for use within one task (`tokio::io::copy` between them).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (
            ReadHalf { core: &self.core },
            WriteHalf { core: &self.core },
        )
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.core.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.core.shutdown(Shutdown::Write))
    }
}

/// The read half of [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    core: Arc<Core>,
}

/// The write half of [`TcpStream::into_split`]; dropping it sends FIN.
pub struct OwnedWriteHalf {
    core: Arc<Core>,
    shutdown_on_drop: bool,
}

/// The halves of two different streams were given to [`OwnedReadHalf::reunite`].
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl std::fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

impl std::fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedReadHalf")
            .field("peer", &self.core.tuple.remote)
            .finish()
    }
}

impl std::fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("peer", &self.core.tuple.remote)
            .finish()
    }
}

impl OwnedReadHalf {
    /// Joins the halves again.
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if Arc::ptr_eq(&self.core, &other.core) {
            other.shutdown_on_drop = false;
            Ok(TcpStream {
                core: self.core.clone(),
            })
        } else {
            Err(ReuniteError(self, other))
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.remote)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.local)
    }
}

impl OwnedWriteHalf {
    /// Joins the halves again.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        other.reunite(self)
    }

    /// Keeps the write direction open when this half is dropped.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.remote)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.core.tuple.local)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.core.shutdown(Shutdown::Write);
        }
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.core.poll_read(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.core.shutdown(Shutdown::Write))
    }
}

/// The borrowed read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a> {
    core: &'a Arc<Core>,
}

/// The borrowed write half of [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a> {
    core: &'a Arc<Core>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("tuple", &self.tuple).finish()
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.core.poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.core.shutdown(Shutdown::Write))
    }
}
