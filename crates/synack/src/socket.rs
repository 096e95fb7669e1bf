//! What the blocking and the tokio sockets share: the calls into the engine, done under the
//! driver's lock, that either complete or say "not yet" (the caller then waits its own way).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant as StdInstant};

use synack_proto::{ConnHandle, Error, FourTuple, ListenerHandle, State};

use crate::driver::{ConnSlot, Inner, ListenerSlot, Shared};

/// How a connect is going.
pub(crate) enum ConnectStatus {
    /// Still in SYN-SENT.
    Pending,
    /// Synchronized: the handshake completed (the peer may already have closed its half).
    Connected,
    /// Refused, reset, timed out, unreachable.
    Failed(io::Error),
}

/// Starts an active open to `remote` and registers the connection.
pub(crate) fn start_connect(g: &mut Inner, remote: SocketAddr) -> io::Result<ConnHandle> {
    g.check_running()?;
    let now = g.now();
    let h = g.ep.connect(now, remote, None).map_err(io::Error::from)?;
    let nodelay = g.ep.config().nodelay;
    g.conns.insert(h, ConnSlot::new(nodelay));
    g.after_op();
    Ok(h)
}

/// Where the connect of `h` stands.
pub(crate) fn connect_status(g: &mut Inner, h: ConnHandle) -> ConnectStatus {
    if let Err(e) = g.check_not_stopped() {
        return ConnectStatus::Failed(e);
    }
    match g.ep.state(h) {
        Err(e) => ConnectStatus::Failed(e.into()),
        Ok(State::SynSent) | Ok(State::SynReceived) => ConnectStatus::Pending,
        Ok(State::Closed) => {
            let recorded = g.conns.get(&h).and_then(|s| s.error);
            let now = g.now();
            let e = recorded
                .or_else(|| g.ep.send(now, h, &[]).err())
                .unwrap_or(Error::NotConnected);
            ConnectStatus::Failed(e.into())
        }
        Ok(_) => ConnectStatus::Connected,
    }
}

/// Gives up on a connection that never became a socket (a failed or timed-out connect).
pub(crate) fn abandon(g: &mut Inner, h: ConnHandle) {
    let now = g.now();
    let _ = g.ep.abort(now, h);
    g.conns.remove(&h);
    g.after_op();
}

/// Registers a connection taken from an accept queue.
pub(crate) fn adopt(g: &mut Inner, h: ConnHandle) -> io::Result<FourTuple> {
    let tuple = g.ep.tuple(h).map_err(io::Error::from)?;
    let nodelay = g.ep.config().nodelay;
    g.conns.insert(h, ConnSlot::new(nodelay));
    Ok(tuple)
}

fn slot(g: &mut Inner, h: ConnHandle) -> io::Result<&mut ConnSlot> {
    g.conns
        .get_mut(&h)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
}

/// Runs `f` on connection `h`'s slot under the driver's lock (`NotConnected` once it is gone).
pub(crate) fn with_slot<R>(
    shared: &Shared,
    h: ConnHandle,
    f: impl FnOnce(&mut ConnSlot) -> R,
) -> io::Result<R> {
    let mut g = shared.lock();
    slot(&mut g, h).map(f)
}

/// Reads what is there: `Ok(Some(n))` (0 at end of stream), `Ok(None)` when nothing yet.
pub(crate) fn try_read(g: &mut Inner, h: ConnHandle, buf: &mut [u8]) -> io::Result<Option<usize>> {
    read_or_peek(g, h, buf, false)
}

/// [`try_read`] that leaves the bytes unread (`MSG_PEEK`).
pub(crate) fn try_peek(g: &mut Inner, h: ConnHandle, buf: &mut [u8]) -> io::Result<Option<usize>> {
    read_or_peek(g, h, buf, true)
}

fn read_or_peek(
    g: &mut Inner,
    h: ConnHandle,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<Option<usize>> {
    g.check_not_stopped()?;
    if slot(g, h)?.read_shutdown {
        return Ok(Some(0));
    }
    let now = g.now();
    let r = if peek {
        g.ep.peek(h, buf)
    } else {
        g.ep.recv(now, h, buf)
    };
    match r {
        Ok(n) => {
            g.after_op();
            Ok(Some(n))
        }
        Err(Error::WouldBlock) => Ok(None),
        Err(e) => {
            g.after_op();
            Err(e.into())
        }
    }
}

/// Writes what fits: `Ok(Some(n))`, or `Ok(None)` when the send buffer is full.
pub(crate) fn try_write(g: &mut Inner, h: ConnHandle, buf: &[u8]) -> io::Result<Option<usize>> {
    g.check_not_stopped()?;
    slot(g, h)?;
    let now = g.now();
    match g.ep.send(now, h, buf) {
        Ok(n) => {
            g.after_op();
            Ok(Some(n))
        }
        Err(Error::WouldBlock) => Ok(None),
        Err(e) => {
            g.after_op();
            Err(e.into())
        }
    }
}

/// `shutdown(SHUT_WR)`: a FIN follows the queued data.
pub(crate) fn shutdown_write(g: &mut Inner, h: ConnHandle) -> io::Result<()> {
    g.check_not_stopped()?;
    let now = g.now();
    let r = g.ep.shutdown(now, h);
    g.after_op();
    r.map_err(io::Error::from)
}

/// `shutdown(SHUT_RD)`: reads return end of stream from now on.
pub(crate) fn shutdown_read(g: &mut Inner, h: ConnHandle) -> io::Result<()> {
    let s = slot(g, h)?;
    s.read_shutdown = true;
    s.wake_read();
    Ok(())
}

/// Sets `TCP_NODELAY`.
pub(crate) fn set_nodelay(g: &mut Inner, h: ConnHandle, nodelay: bool) -> io::Result<()> {
    g.check_not_stopped()?;
    let now = g.now();
    g.ep.set_nodelay(now, h, nodelay).map_err(io::Error::from)?;
    slot(g, h)?.nodelay = nodelay;
    g.after_op();
    Ok(())
}

/// `TCP_CORK` on (`true`) or off.
pub(crate) fn set_cork(g: &mut Inner, h: ConnHandle, cork: bool) -> io::Result<()> {
    g.check_not_stopped()?;
    let now = g.now();
    g.ep.set_cork(now, h, cork).map_err(io::Error::from)?;
    slot(g, h)?.cork = cork;
    g.after_op();
    Ok(())
}

/// `IP_TOS` / `IPV6_TCLASS`: the DSCP of the connection's datagrams from now on (a value above
/// 255 is `InvalidInput`; the ECN bits are ignored).
pub(crate) fn set_tos(g: &mut Inner, h: ConnHandle, tos: u32) -> io::Result<()> {
    g.check_not_stopped()?;
    let tos = u8::try_from(tos).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "TOS must be between 0 and 255")
    })?;
    g.ep.set_tos(h, tos).map_err(io::Error::from)
}

/// Releases the connection when its last socket handle goes: an abort when `SO_LINGER` is zero,
/// otherwise an orderly close (FIN after the queued data); with a non-zero linger, waits up to
/// that long for the FIN to be acknowledged.
pub(crate) fn release(shared: &Shared, h: ConnHandle) {
    let mut g = shared.lock();
    let Some(s) = g.conns.get(&h) else {
        return;
    };
    let linger = s.linger;
    let cond = s.cond.clone();
    let tuple = g.ep.tuple(h).ok();
    let now = g.now();
    match linger {
        Some(d) if d.is_zero() => {
            let _ = g.ep.abort(now, h);
        }
        _ => {
            let _ = g.ep.close(now, h);
        }
    }
    g.after_op();
    if let (Some(d), Some(tuple)) = (linger.filter(|d| !d.is_zero()), tuple) {
        let deadline = StdInstant::now() + d;
        loop {
            if g.check_not_stopped().is_err() {
                break;
            }
            let done = match g.ep.state_of(&tuple) {
                None => true,
                Some(s) => matches!(
                    s,
                    State::FinWait2 | State::TimeWait | State::Closed | State::CloseWait
                ),
            };
            if done {
                break;
            }
            // Writable events wake us as the data and the FIN are acknowledged; the short period
            // covers state changes that come without one.
            let step = (StdInstant::now() + Duration::from_millis(10)).min(deadline);
            let (g2, _) = shared.wait(&cond, g, Some(step));
            g = g2;
            if StdInstant::now() >= deadline {
                break;
            }
        }
    }
    g.conns.remove(&h);
}

/// Opens a listener. Port 0 picks a free port from the ephemeral range, as the kernel does.
pub(crate) fn listen(
    g: &mut Inner,
    addr: SocketAddr,
    backlog: u32,
) -> io::Result<(ListenerHandle, SocketAddr)> {
    g.check_running()?;
    let result = if addr.port() == 0 {
        let (first, last) = (
            g.ep.config().ephemeral_port_first,
            g.ep.config().ephemeral_port_last,
        );
        let span = u32::from(last.saturating_sub(first)) + 1;
        let start = g.now().as_micros() as u32 % span;
        let mut found = Err(Error::AddrNotAvailable);
        for i in 0..span {
            let port = first + ((start + i) % span) as u16;
            match g.ep.listen(SocketAddr::new(addr.ip(), port), backlog) {
                Ok(l) => {
                    found = Ok(l);
                    break;
                }
                Err(Error::AddrInUse) => continue,
                Err(e) => {
                    found = Err(e);
                    break;
                }
            }
        }
        found
    } else {
        g.ep.listen(addr, backlog)
    };
    let l = result.map_err(io::Error::from)?;
    let local = g.ep.listener_addr(l).map_err(io::Error::from)?;
    g.listeners.insert(l, ListenerSlot::new());
    Ok((l, local))
}

/// Takes a connection from the accept queue: `Ok(None)` when it is empty.
pub(crate) fn try_accept(
    g: &mut Inner,
    l: ListenerHandle,
) -> io::Result<Option<(ConnHandle, FourTuple)>> {
    g.check_running()?;
    match g.ep.accept(l) {
        Ok(h) => {
            let tuple = adopt(g, h)?;
            g.after_op();
            Ok(Some((h, tuple)))
        }
        Err(Error::WouldBlock) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Closes a listener (its unaccepted connections are reset).
pub(crate) fn close_listener(g: &mut Inner, l: ListenerHandle) {
    let now = g.now();
    let _ = g.ep.close_listener(now, l);
    g.listeners.remove(&l);
    g.after_op();
}
