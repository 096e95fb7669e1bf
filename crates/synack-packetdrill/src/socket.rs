//! Linux's socket layer over synack's engine: the system calls of packetdrill's interface,
//! with the return values, errno values, blocking rules, poll readiness and socket options a
//! script written against Linux expects (Linux `net/ipv4/af_inet.c`, `tcp.c`, `net/core/sock.c`).
//!
//! The same ideas as the socket-layer emulation of the `synack-script` interpreter, here for
//! real callers: buffers come from the caller, blocking calls wait (see [`crate::stack`]), and
//! every socket is a real descriptor number (see `sys`).
//!
//! Socket options that change the engine's configuration (`SO_RCVBUF`, `SO_SNDBUF`,
//! `TCP_MAXSEG`, `TCP_CONGESTION`) apply to the whole stack when set before the engine starts
//! (the first `listen`, `connect` or injected packet). Later, `SO_SNDBUF` and `TCP_CONGESTION`
//! apply to the socket's connection, as on Linux (the buffer fixed, without auto-tuning; the
//! controller restarted from the current window); `SO_RCVBUF` and `TCP_MAXSEG` are stored and
//! read back (a note on stderr says they had no effect). `SO_LINGER` with a zero timeout makes
//! `close` abort the connection with a RST; a non-zero linger timeout does not make `close` wait.
//! `TCP_INQ` makes `recvmsg` report what is left to read in a `TCP_CM_INQ` control message
//! (Linux `tcp_recvmsg`, `tcp_inq_hint`). `IP_TOS` (IPv4 sockets) and `IPV6_TCLASS` (IPv6
//! sockets) set the DSCP of the socket's datagrams from then on, SYN and SYN+ACK included when
//! set before `connect` or `listen`, and accepted sockets inherit a listener's; the ECN bits
//! stay zero. `IP_MTU_DISCOVER` is stored and read back; DF stays set whatever its value.
//! `TCP_CORK` and `MSG_MORE` hold a partial segment at the end of the queue as Linux's
//! `TCP_NAGLE_CORK` does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use std::cell::Cell;
use std::ffi::c_ulong;
use synack_proto::cc::Algorithm;
use synack_proto::chrono::SendChrono;

use synack_proto::{
    ConnHandle, ConnectOptions, Duration, Error, Keepalive, ListenerHandle, SendFlags, State,
};

use crate::errno::Errno;
use crate::stack::{ephemeral_port, Stack, State as St};
use crate::sys::Reserved;

/// A socket address as a caller passed it (`struct sockaddr_in`, `sockaddr_in6`, or another
/// family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockAddr {
    /// `AF_INET`.
    V4(SocketAddrV4),
    /// `AF_INET6` (an IPv4-mapped address stands for its IPv4 address).
    V6(SocketAddrV6),
    /// `AF_UNSPEC` (`connect` with it dissolves the association).
    Unspec,
    /// Another family.
    Other(i32),
}

impl SockAddr {
    /// The address as the engine knows it: an IPv4-mapped IPv6 address becomes IPv4.
    fn engine(self) -> Option<SocketAddr> {
        match self {
            SockAddr::V4(a) => Some(SocketAddr::V4(a)),
            SockAddr::V6(a) => Some(match a.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, a.port())),
                None => SocketAddr::V6(a),
            }),
            _ => None,
        }
    }

    /// `addr` as a socket of the given family reports it: IPv4 addresses on an `AF_INET6`
    /// socket are IPv4-mapped.
    pub fn for_socket(addr: SocketAddr, v6: bool) -> SockAddr {
        match (addr, v6) {
            (SocketAddr::V4(a), false) => SockAddr::V4(a),
            (SocketAddr::V4(a), true) => {
                SockAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
            }
            (SocketAddr::V6(a), _) => SockAddr::V6(a),
        }
    }
}

/// What a socket is on the engine side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Created (maybe bound), neither listening nor connected.
    Fresh,
    /// Listening.
    Listener(ListenerHandle),
    /// A connection.
    Conn(ConnHandle),
}

/// Linux's `sock->state`, which drives `connect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Assoc {
    Unconnected,
    Connecting,
    Connected,
}

/// Socket options as set (Linux defaults otherwise).
#[derive(Clone, Debug)]
pub(crate) struct Opts {
    reuseaddr: bool,
    reuseport: bool,
    keepalive: bool,
    linger: Option<(i32, i32)>,
    rcvbuf: Option<i32>,
    sndbuf: Option<i32>,
    nodelay: bool,
    maxseg: Option<i32>,
    keepidle: i32,
    keepintvl: i32,
    keepcnt: i32,
    user_timeout: u32,
    congestion: Option<Algorithm>,
    zerocopy: bool,
    /// `TCP_INQ`: `recvmsg` adds a `TCP_CM_INQ` control message.
    inq: bool,
    /// `IP_TOS`, the ECN bits clear: the TOS byte of an IPv4 socket's datagrams.
    ip_tos: u8,
    /// `IPV6_TCLASS`, the ECN bits clear: the Traffic Class of an IPv6 socket's datagrams.
    tclass: u8,
    /// `IP_MTU_DISCOVER` (`IP_PMTUDISC_WANT`, 1, by default), read back as set.
    pmtudisc: i32,
    /// `TCP_CORK`.
    cork: bool,
}

impl Opts {
    /// The TOS byte of the socket's datagrams: `IP_TOS` on an IPv4 socket, `IPV6_TCLASS` on an
    /// IPv6 one (whose IPv4-mapped peers get it too, where Linux would use `IP_TOS`).
    fn tos(&self, v6: bool) -> u8 {
        if v6 {
            self.tclass
        } else {
            self.ip_tos
        }
    }
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            linger: None,
            rcvbuf: None,
            sndbuf: None,
            nodelay: false,
            maxseg: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            user_timeout: 0,
            congestion: None,
            zerocopy: false,
            inq: false,
            ip_tos: 0,
            tclass: 0,
            pmtudisc: 1,
            cork: false,
        }
    }
}

/// One socket.
#[derive(Debug)]
pub(crate) struct Sock {
    fd: Option<Reserved>,
    v6: bool,
    nonblock: bool,
    cloexec: bool,
    /// The local address, as the engine knows it, once bound (explicitly or by listen).
    pub bound: Option<SocketAddr>,
    kind: Kind,
    assoc: Assoc,
    shut_rd: bool,
    shut_wr: bool,
    opts: Opts,
}

impl Sock {
    /// Gives the descriptor back to the operating system if it still is ours.
    pub(crate) fn release(mut self) {
        if let Some(r) = self.fd.take() {
            r.release();
        }
    }
}

/// One entry of a `poll` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollFd {
    /// The descriptor (negative: ignored).
    pub fd: i32,
    /// Events asked for (`POLLIN`, `POLLOUT`, ...).
    pub events: i16,
    /// Events that happened (set by [`Stack::poll`]).
    pub revents: i16,
}

/// The result of `accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The new socket.
    pub fd: i32,
    /// The peer, as the listening socket's family reports it.
    pub peer: SockAddr,
}

/// `recv` flags this stack looks at.
const MSG_PEEK: i32 = libc::MSG_PEEK;
const MSG_DONTWAIT: i32 = libc::MSG_DONTWAIT;
const MSG_WAITALL: i32 = libc::MSG_WAITALL;
const MSG_FASTOPEN: i32 = libc::MSG_FASTOPEN;
const MSG_EOR: i32 = libc::MSG_EOR;
const MSG_MORE: i32 = libc::MSG_MORE;

/// `ioctl` requests this stack answers (`libc` types them differently on different targets).
#[allow(clippy::unnecessary_cast)]
const SIOCINQ: c_ulong = libc::FIONREAD as c_ulong;
#[allow(clippy::unnecessary_cast)]
const SIOCOUTQ: c_ulong = libc::TIOCOUTQ as c_ulong;
const SIOCOUTQNSD: c_ulong = 0x894B;
#[allow(clippy::unnecessary_cast)]
const FIONBIO: c_ulong = libc::FIONBIO as c_ulong;

fn sock(st: &St, fd: i32) -> Result<&Sock, Errno> {
    st.files.get(&fd).ok_or(Errno::BADF)
}

fn sock_mut(st: &mut St, fd: i32) -> Result<&mut Sock, Errno> {
    st.files.get_mut(&fd).ok_or(Errno::BADF)
}

/// A write that already moved bytes reports their count instead of the error.
fn progress_or(done: usize, e: Errno) -> Result<usize, Errno> {
    if done > 0 {
        Ok(done)
    } else {
        Err(e)
    }
}

/// Applies the options of a socket that configure the engine, if it has not started yet.
fn configure_engine(st: &mut St, opts: &Opts, v6: bool) {
    if st.started() {
        let mut late = Vec::new();
        if opts.rcvbuf.is_some() {
            late.push("SO_RCVBUF");
        }
        if opts.sndbuf.is_some() {
            late.push("SO_SNDBUF");
        }
        if opts.maxseg.is_some() {
            late.push("TCP_MAXSEG");
        }
        if opts.congestion.is_some() {
            late.push("TCP_CONGESTION");
        }
        for o in late {
            st.note_once(format!(
                "{o} set after the engine started has no effect on the wire (the engine's \
                 configuration is fixed at its first listen, connect or packet)"
            ));
        }
        return;
    }
    let (rmem_max, wmem_max) = (st.settings.rmem_max, st.settings.wmem_max);
    if let Some(r) = opts.rcvbuf {
        // Linux doubles SO_RCVBUF and offers about half of it as window, and the window clamp
        // it sets fixes the window scale too.
        let r = (r.max(0) as usize).min(rmem_max).max(1152);
        st.cfg.recv_buffer = r;
        st.cfg.max_recv_buffer = r;
    }
    if let Some(w) = opts.sndbuf {
        let w = sndbuf_bytes(w, wmem_max);
        st.cfg.send_buffer = w;
        st.cfg.max_send_buffer = w;
    }
    if let Some(m) = opts.maxseg.filter(|m| *m > 0) {
        let m = m.clamp(88, 65_535) as u16;
        // The engine's figure is for IPv4; it announces 20 bytes less over IPv6.
        let base = if v6 { m.saturating_add(20) } else { m };
        st.cfg.mss = st.cfg.mss.min(base);
    }
    if let Some(cc) = opts.congestion {
        st.cfg.congestion_control = cc;
    }
}

/// The send buffer `SO_SNDBUF` asks for: Linux caps the value at `wmem_max`, doubles it and keeps
/// at least `SOCK_MIN_SNDBUF` (4608 bytes with 4 KiB pages).
fn sndbuf_bytes(v: i32, wmem_max: usize) -> usize {
    ((v.max(0) as usize).min(wmem_max) * 2).max(4608)
}

/// Applies the per-connection options to a connection.
fn apply_conn_opts(st: &mut St, h: ConnHandle, opts: &Opts) {
    let now = st.now;
    let ep = st.ep();
    if opts.nodelay {
        let _ = ep.set_nodelay(now, h, true);
    }
    if opts.cork {
        let _ = ep.set_cork(now, h, true);
    }
    if opts.user_timeout > 0 {
        let _ = ep.set_user_timeout(h, Some(Duration::from_millis(u64::from(opts.user_timeout))));
    }
    if opts.keepalive {
        let _ = ep.set_keepalive(now, h, Some(keepalive_of(opts)));
    }
}

fn keepalive_of(opts: &Opts) -> Keepalive {
    Keepalive {
        idle: Duration::from_secs(opts.keepidle.max(1) as u64),
        interval: Duration::from_secs(opts.keepintvl.max(1) as u64),
        probes: opts.keepcnt.clamp(1, 127) as u8,
    }
}

/// Linux `tcp_poll` / `inet_csk_listen_poll`, masked as `poll()` masks it.
fn revents(st: &St, fd: i32, events: i16) -> i16 {
    const IN: i16 = libc::POLLIN | libc::POLLRDNORM;
    const OUT: i16 = libc::POLLOUT | libc::POLLWRNORM;
    const ERR: i16 = libc::POLLERR;
    const HUP: i16 = libc::POLLHUP;
    const RDHUP: i16 = libc::POLLRDHUP;
    let Some(s) = st.files.get(&fd) else {
        return libc::POLLNVAL;
    };
    let mut mask = 0i16;
    match s.kind {
        Kind::Fresh => {
            // A socket in CLOSE: hang-up, and writable (Linux's quirk); shutdown bits count.
            mask |= HUP | OUT;
            if s.shut_rd {
                mask |= IN | RDHUP;
            }
        }
        Kind::Listener(l) => {
            let queued = st
                .engine()
                .and_then(|ep| ep.accept_queue_len(l).ok())
                .unwrap_or(0);
            if queued > 0 {
                mask |= IN;
            }
        }
        Kind::Conn(h) => {
            let Some(ep) = st.engine() else {
                return HUP & (events | HUP);
            };
            let state = ep.state(h).unwrap_or(State::Closed);
            let eof = ep.is_eof(h).unwrap_or(true);
            let avail = ep.recv_available(h).unwrap_or(0);
            let fin_seen = eof
                || matches!(
                    state,
                    State::CloseWait | State::LastAck | State::Closing | State::TimeWait
                );
            let rcv_shut = fin_seen || state == State::Closed || s.shut_rd;
            let snd_shut = s.shut_wr || state == State::Closed;
            if (rcv_shut && snd_shut) || state == State::Closed {
                mask |= HUP;
            }
            if rcv_shut {
                mask |= IN | RDHUP;
            }
            if !matches!(state, State::SynSent | State::SynReceived) {
                if avail > 0 {
                    mask |= IN;
                }
                if snd_shut {
                    mask |= OUT;
                } else {
                    // __sk_stream_is_writeable: free space at least half of what is queued.
                    let cap = ep.send_capacity(h).unwrap_or(0);
                    let queued = ep.info(h).map(|i| i.send_buffered).unwrap_or(0);
                    if cap > 0 && queued <= cap * 2 {
                        mask |= OUT;
                    }
                }
            }
            if st.sk_err.contains_key(&h) {
                mask |= ERR;
            }
        }
    }
    mask & (events | ERR | HUP)
}

impl Stack {
    fn new_sock(v6: bool, nonblock: bool, cloexec: bool) -> Result<Sock, Errno> {
        Ok(Sock {
            fd: Some(Reserved::new()?),
            v6,
            nonblock,
            cloexec,
            bound: None,
            kind: Kind::Fresh,
            assoc: Assoc::Unconnected,
            shut_rd: false,
            shut_wr: false,
            opts: Opts::default(),
        })
    }

    /// `socket(domain, type, protocol)`: TCP sockets of `AF_INET` and `AF_INET6`, with
    /// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<i32, Errno> {
        self.call(|st| {
            let v6 = match domain {
                libc::AF_INET => false,
                libc::AF_INET6 => true,
                _ => return Err(Errno::AFNOSUPPORT),
            };
            let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
            if base != libc::SOCK_STREAM {
                st.note_once(format!(
                    "socket type {base} is not supported (only SOCK_STREAM, TCP)"
                ));
                return Err(Errno::PROTONOSUPPORT);
            }
            if protocol != 0 && protocol != libc::IPPROTO_TCP {
                return Err(Errno::PROTONOSUPPORT);
            }
            st.refresh_from_sysctls();
            let s = Self::new_sock(
                v6,
                ty & libc::SOCK_NONBLOCK != 0,
                ty & libc::SOCK_CLOEXEC != 0,
            )?;
            let fd = s.fd.as_ref().map_or(-1, Reserved::fd);
            st.log(format_args!("socket() = {fd}"));
            st.files.insert(fd, s);
            Ok(fd)
        })
    }

    /// `bind(fd, addr)`.
    pub fn bind(&self, fd: i32, addr: SockAddr) -> Result<(), Errno> {
        self.call(|st| {
            let s = sock(st, fd)?;
            let v6 = s.v6;
            if s.bound.is_some() || s.kind != Kind::Fresh {
                return Err(Errno::INVAL);
            }
            let local = match (addr, v6) {
                (SockAddr::V4(_), false) | (SockAddr::V6(_), true) => addr.engine(),
                (SockAddr::Unspec, false) => Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)),
                _ => None,
            }
            .ok_or(Errno::AFNOSUPPORT)?;
            if !local.ip().is_unspecified() && !st.is_local(local.ip()) {
                let msg = format!(
                    "bind to {local}: not an address of this stack (its addresses: {:?}; set \
                     them with so_flags local_ip=...)",
                    st.settings.local_ips
                );
                st.note_once(msg);
                return Err(Errno::ADDRNOTAVAIL);
            }
            let port = if local.port() == 0 {
                ephemeral_port(st)?
            } else {
                local.port()
            };
            let reuse = sock(st, fd)?.opts.reuseaddr;
            let clash = st.files.iter().any(|(other, o)| {
                *other != fd
                    && o.bound.is_some_and(|b| {
                        b.port() == port
                            && (b.ip() == local.ip()
                                || b.ip().is_unspecified()
                                || local.ip().is_unspecified())
                    })
                    && (!reuse || !o.opts.reuseaddr || matches!(o.kind, Kind::Listener(_)))
            });
            if clash {
                return Err(Errno::ADDRINUSE);
            }
            sock_mut(st, fd)?.bound = Some(SocketAddr::new(local.ip(), port));
            Ok(())
        })
    }

    /// `listen(fd, backlog)`: an unbound socket binds to an ephemeral port first.
    pub fn listen(&self, fd: i32, backlog: i32) -> Result<(), Errno> {
        self.call(|st| {
            let s = sock(st, fd)?;
            match s.kind {
                Kind::Listener(_) => return Ok(()),
                Kind::Conn(_) => return Err(Errno::INVAL),
                Kind::Fresh => {}
            }
            let (v6, opts) = (s.v6, s.opts.clone());
            let local = match s.bound {
                Some(b) => b,
                None => {
                    let ip: IpAddr = if v6 {
                        Ipv6Addr::UNSPECIFIED.into()
                    } else {
                        Ipv4Addr::UNSPECIFIED.into()
                    };
                    SocketAddr::new(ip, ephemeral_port(st)?)
                }
            };
            configure_engine(st, &opts, v6);
            // Linux caps the backlog at somaxconn, reading a negative one as huge.
            let backlog = u32::try_from(backlog).unwrap_or(u32::MAX);
            let l = st.ep().listen(local, backlog).map_err(Errno::from_engine)?;
            let _ = st.ep().set_listener_tos(l, opts.tos(v6));
            let s = sock_mut(st, fd)?;
            s.kind = Kind::Listener(l);
            s.bound = Some(local);
            st.log(format_args!("listen({fd}) on {local}"));
            Ok(())
        })
    }

    /// `accept(fd)`: waits for a connection unless the socket is non-blocking.
    pub fn accept(&self, fd: i32) -> Result<Accepted, Errno> {
        let st = self.enter();
        let (st, r) = self.wait(
            st,
            "accept",
            None,
            |st| try_accept(st, fd),
            |_| Err(Errno::AGAIN),
        );
        if let Ok(a) = &r {
            st.log(format_args!("accept({fd}) = {} from {:?}", a.fd, a.peer));
        }
        self.exit(st, r)
    }

    /// `connect(fd, addr)`: waits for the handshake unless the socket is non-blocking
    /// (`EINPROGRESS`, then `EALREADY`); `AF_UNSPEC` dissolves the association.
    pub fn connect(&self, fd: i32, addr: SockAddr) -> Result<(), Errno> {
        let mut st = self.enter();
        let r = start_connect(&mut st, fd, addr);
        let r = match r {
            Ok(Some(done)) => done,
            Ok(None) => {
                let (g, r) = self.wait(
                    st,
                    "connect",
                    None,
                    |st| try_connected(st, fd),
                    |_| Err(Errno::AGAIN),
                );
                st = g;
                r
            }
            Err(e) => Err(e),
        };
        st.log(format_args!("connect({fd}) = {r:?}"));
        self.exit(st, r)
    }

    /// `read`, `readv`, `recv`, `recvfrom`, `recvmsg`: reads into `bufs` in order. Flags:
    /// `MSG_DONTWAIT`, `MSG_WAITALL`, `MSG_PEEK` (the bytes stay queued; with `MSG_WAITALL`
    /// it waits until the whole length is there, as Linux's `tcp_recvmsg`).
    pub fn recv(&self, fd: i32, bufs: &mut [&mut [u8]], flags: i32) -> Result<usize, Errno> {
        let st = self.enter();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if flags & MSG_PEEK != 0 {
            let (st, r) = self.wait(
                st,
                "read",
                None,
                |st| try_peek(st, fd, bufs, flags, total),
                |_| Err(Errno::AGAIN),
            );
            st.log(format_args!("read({fd}, {total}, MSG_PEEK) = {r:?}"));
            return self.exit(st, r);
        }
        let done = Cell::new(0usize);
        let (st, r) = self.wait(
            st,
            "read",
            None,
            |st| try_recv(st, fd, bufs, flags, total, &done),
            |_| progress_or(done.get(), Errno::AGAIN),
        );
        st.log(format_args!("read({fd}, {total}) = {r:?}"));
        self.exit(st, r)
    }

    /// `write`, `writev`, `send`, `sendto`, `sendmsg`: sends the bytes of `bufs` in order,
    /// waiting for buffer space unless the socket is non-blocking or `MSG_DONTWAIT` is given;
    /// with `MSG_EOR` the message ends a record once all of it is taken.
    pub fn send(&self, fd: i32, bufs: &[&[u8]], flags: i32) -> Result<usize, Errno> {
        let mut st = self.enter();
        if flags & MSG_FASTOPEN != 0 {
            st.note_once("TCP Fast Open (MSG_FASTOPEN) is not supported".into());
            return self.exit(st, Err(Errno::OPNOTSUPP));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let done = Cell::new(0usize);
        let (st, r) = self.wait(
            st,
            "write",
            None,
            |st| try_send(st, fd, bufs, flags, total, &done),
            |_| progress_or(done.get(), Errno::AGAIN),
        );
        st.log(format_args!("write({fd}, {total}) = {r:?}"));
        self.exit(st, r)
    }

    /// `close(fd)`.
    pub fn close(&self, fd: i32) -> Result<(), Errno> {
        self.call(|st| {
            let mut s = st.files.remove(&fd).ok_or(Errno::BADF)?;
            if let Some(r) = s.fd.take() {
                r.close();
            }
            let now = st.now;
            match s.kind {
                Kind::Fresh => {}
                Kind::Listener(l) => {
                    let _ = st.ep().close_listener(now, l);
                }
                Kind::Conn(h) => {
                    let abort = matches!(s.opts.linger, Some((on, 0)) if on != 0);
                    let _ = if abort {
                        st.ep().abort(now, h)
                    } else {
                        st.ep().close(now, h)
                    };
                    st.sk_err.remove(&h);
                }
            }
            st.collect();
            st.log(format_args!("close({fd})"));
            Ok(())
        })
    }

    /// `shutdown(fd, how)`.
    pub fn shutdown(&self, fd: i32, how: i32) -> Result<(), Errno> {
        self.call(|st| {
            if !(0..=2).contains(&how) {
                return Err(Errno::INVAL);
            }
            let rd = how == libc::SHUT_RD || how == libc::SHUT_RDWR;
            let wr = how == libc::SHUT_WR || how == libc::SHUT_RDWR;
            let now = st.now;
            let kind = sock(st, fd)?.kind;
            let r = match kind {
                Kind::Fresh => {
                    let s = sock_mut(st, fd)?;
                    s.shut_rd |= rd;
                    s.shut_wr |= wr;
                    Err(Errno::NOTCONN)
                }
                Kind::Listener(l) => {
                    if rd {
                        let _ = st.ep().close_listener(now, l);
                        sock_mut(st, fd)?.kind = Kind::Fresh;
                    }
                    Ok(())
                }
                Kind::Conn(h) => {
                    let state = st.ep().state(h).unwrap_or(State::Closed);
                    match state {
                        State::Closed => {
                            let s = sock_mut(st, fd)?;
                            s.shut_rd |= rd;
                            s.shut_wr |= wr;
                            Err(Errno::NOTCONN)
                        }
                        State::SynSent => {
                            // Linux disconnects a connecting socket.
                            let _ = st.ep().abort(now, h);
                            st.sk_err.remove(&h);
                            let s = sock_mut(st, fd)?;
                            s.kind = Kind::Fresh;
                            s.assoc = Assoc::Unconnected;
                            Ok(())
                        }
                        _ => {
                            if wr {
                                st.ep().shutdown(now, h).map_err(Errno::from_engine)?;
                            }
                            let s = sock_mut(st, fd)?;
                            s.shut_rd |= rd;
                            s.shut_wr |= wr;
                            Ok(())
                        }
                    }
                }
            };
            st.collect();
            st.log(format_args!("shutdown({fd}, {how}) = {r:?}"));
            r
        })
    }

    /// The value of the `TCP_CM_INQ` control message a `recvmsg` on `fd` ends with, when the
    /// socket has `TCP_INQ` on (Linux `tcp_recvmsg`): what is left to read, a received FIN
    /// counting one. `None` when the option is off or `fd` is not a connection.
    pub fn inq_hint(&self, fd: i32) -> Result<Option<i32>, Errno> {
        self.call(|st| {
            let s = sock(st, fd)?;
            let (Kind::Conn(h), true) = (s.kind, s.opts.inq) else {
                return Ok(None);
            };
            let n = st.ep().inq_hint(h).unwrap_or(0);
            Ok(Some(i32::try_from(n).unwrap_or(i32::MAX)))
        })
    }

    /// `setsockopt(fd, level, name, value)`.
    pub fn setsockopt(&self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        self.call(|st| {
            let r = setsockopt(st, fd, level, name, val);
            // Some options send at once (TCP_CORK off, TCP_NODELAY on, SO_SNDBUF growing).
            st.collect();
            r
        })
    }

    /// `getsockopt(fd, level, name)`: writes the value into `out` (cut to its length) and
    /// returns the length written.
    pub fn getsockopt(
        &self,
        fd: i32,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        self.call(|st| {
            let v = getsockopt(st, fd, level, name)?;
            let n = v.len().min(out.len());
            out[..n].copy_from_slice(&v[..n]);
            Ok(n)
        })
    }

    /// `fcntl(fd, cmd, arg)`: `F_GETFL`, `F_SETFL` (`O_NONBLOCK`), `F_GETFD`, `F_SETFD`.
    pub fn fcntl(&self, fd: i32, cmd: i32, arg: i64) -> Result<i32, Errno> {
        self.call(|st| {
            let s = sock_mut(st, fd)?;
            match cmd {
                libc::F_GETFL => Ok(libc::O_RDWR | if s.nonblock { libc::O_NONBLOCK } else { 0 }),
                libc::F_SETFL => {
                    s.nonblock = arg & i64::from(libc::O_NONBLOCK) != 0;
                    Ok(0)
                }
                libc::F_GETFD => Ok(if s.cloexec { libc::FD_CLOEXEC } else { 0 }),
                libc::F_SETFD => {
                    s.cloexec = arg & i64::from(libc::FD_CLOEXEC) != 0;
                    Ok(0)
                }
                _ => {
                    st.note_once(format!("fcntl command {cmd} is not supported"));
                    Err(Errno::INVAL)
                }
            }
        })
    }

    /// `ioctl(fd, request, &int)`: `FIONBIO` reads `arg`; `SIOCINQ` (`FIONREAD`), `SIOCOUTQ`
    /// (`TIOCOUTQ`) and `SIOCOUTQNSD` give a value to store through the pointer.
    pub fn ioctl(&self, fd: i32, request: c_ulong, arg: Option<i32>) -> Result<Option<i32>, Errno> {
        self.call(|st| {
            let s = sock(st, fd)?;
            let kind = s.kind;
            match request {
                FIONBIO => {
                    let v = arg.ok_or(Errno::FAULT)?;
                    sock_mut(st, fd)?.nonblock = v != 0;
                    Ok(None)
                }
                SIOCINQ | SIOCOUTQ | SIOCOUTQNSD => {
                    let h = match kind {
                        Kind::Listener(_) => return Err(Errno::INVAL),
                        Kind::Fresh => return Ok(Some(0)),
                        Kind::Conn(h) => h,
                    };
                    let Some(ep) = st.engine() else {
                        return Ok(Some(0));
                    };
                    let state = ep.state(h).unwrap_or(State::Closed);
                    if matches!(state, State::SynSent | State::SynReceived) {
                        return Ok(Some(0));
                    }
                    let v = match request {
                        SIOCINQ => ep.recv_available(h).unwrap_or(0),
                        _ => {
                            let info = ep.info(h).ok();
                            let queued = info.as_ref().map_or(0, |i| i.send_buffered);
                            if request == SIOCOUTQ {
                                queued
                            } else {
                                let sent = info.map_or(0, |i| i.snd_nxt.wrapping_sub(i.snd_una));
                                queued.saturating_sub(sent as usize)
                            }
                        }
                    };
                    Ok(Some(i32::try_from(v).unwrap_or(i32::MAX)))
                }
                _ => {
                    st.note_once(format!("ioctl request {request:#x} is not supported"));
                    Err(Errno::NOTTY)
                }
            }
        })
    }

    /// `poll(fds, timeout_ms)`: fills each `revents` and returns how many are non-zero, waiting
    /// up to `timeout_ms` of virtual time (forever when negative) for one to be.
    pub fn poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
        let st = self.enter();
        let deadline = (timeout_ms >= 0)
            .then(|| st.now + Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0)));
        let check = |st: &mut St, fds: &mut [PollFd], force: bool| -> Option<usize> {
            let mut ready = 0;
            for p in fds.iter_mut() {
                p.revents = if p.fd < 0 {
                    0
                } else {
                    revents(st, p.fd, p.events)
                };
                if p.revents != 0 {
                    ready += 1;
                }
            }
            let timed_out = deadline.is_some_and(|d| st.now >= d);
            (ready > 0 || timed_out || force).then_some(ready)
        };
        let (st, n) = {
            let fds_cell = std::cell::RefCell::new(&mut *fds);
            self.wait(
                st,
                "poll",
                deadline,
                |st| check(st, &mut fds_cell.borrow_mut(), false),
                |st| check(st, &mut fds_cell.borrow_mut(), true).unwrap_or(0),
            )
        };
        st.log(format_args!("poll({} fds, {timeout_ms}) = {n}", fds.len()));
        self.exit(st, Ok(n))
    }
}

fn try_accept(st: &mut St, fd: i32) -> Option<Result<Accepted, Errno>> {
    let s = match sock(st, fd) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let Kind::Listener(l) = s.kind else {
        return Some(Err(Errno::INVAL));
    };
    let (v6, nonblock, bound, opts) = (s.v6, s.nonblock, s.bound, s.opts.clone());
    let now = st.now;
    match st.ep().accept(l) {
        Ok(h) => {
            let mut child = match Stack::new_sock(v6, false, false) {
                Ok(c) => c,
                Err(e) => {
                    let _ = st.ep().abort(now, h);
                    st.collect();
                    return Some(Err(e));
                }
            };
            let peer = st.ep().tuple(h).map(|t| t.remote);
            child.bound = st.ep().tuple(h).map(|t| t.local).ok().or(bound);
            child.kind = Kind::Conn(h);
            child.assoc = Assoc::Connected;
            child.opts = opts.clone();
            apply_conn_opts(st, h, &opts);
            st.collect();
            let new_fd = child.fd.as_ref().map_or(-1, Reserved::fd);
            st.files.insert(new_fd, child);
            let peer = peer.map_or(SockAddr::Unspec, |p| SockAddr::for_socket(p, v6));
            Some(Ok(Accepted { fd: new_fd, peer }))
        }
        Err(Error::WouldBlock) if nonblock => Some(Err(Errno::AGAIN)),
        Err(Error::WouldBlock) => None,
        Err(e) => Some(Err(Errno::from_engine(e))),
    }
}

/// Starts or continues a connect: `Ok(Some(result))` when it is decided now, `Ok(None)` when a
/// blocking socket must wait for the handshake.
fn start_connect(st: &mut St, fd: i32, addr: SockAddr) -> Result<Option<Result<(), Errno>>, Errno> {
    let s = sock(st, fd)?;
    let (v6, nonblock, kind, assoc, bound, opts) =
        (s.v6, s.nonblock, s.kind, s.assoc, s.bound, s.opts.clone());
    let now = st.now;
    if addr == SockAddr::Unspec {
        match kind {
            Kind::Conn(h) => {
                let _ = st.ep().abort(now, h);
                st.sk_err.remove(&h);
            }
            Kind::Listener(l) => {
                let _ = st.ep().close_listener(now, l);
            }
            Kind::Fresh => {}
        }
        st.collect();
        let s = sock_mut(st, fd)?;
        s.kind = Kind::Fresh;
        s.assoc = Assoc::Unconnected;
        s.shut_rd = false;
        s.shut_wr = false;
        return Ok(Some(Ok(())));
    }
    let remote = match (addr, v6) {
        (SockAddr::V4(_), _) | (SockAddr::V6(_), true) => addr.engine(),
        _ => None,
    }
    .ok_or(Errno::AFNOSUPPORT)?;
    match (kind, assoc) {
        (Kind::Listener(_), _) => return Err(Errno::ISCONN),
        (Kind::Conn(_), Assoc::Connected) => return Err(Errno::ISCONN),
        (Kind::Conn(_), Assoc::Connecting) => {
            return Ok(match try_connected(st, fd) {
                Some(r) => Some(r),
                None if nonblock => Some(Err(Errno::ALREADY)),
                None => None,
            });
        }
        _ => {}
    }
    configure_engine(st, &opts, v6);
    let options = ConnectOptions {
        local: bound,
        tos: opts.tos(v6),
    };
    let h = st
        .ep()
        .connect_with(now, remote, options)
        .map_err(Errno::from_engine)?;
    apply_conn_opts(st, h, &opts);
    st.collect();
    let s = sock_mut(st, fd)?;
    s.kind = Kind::Conn(h);
    s.assoc = Assoc::Connecting;
    s.shut_rd = false;
    s.shut_wr = false;
    Ok(if nonblock {
        Some(Err(Errno::INPROGRESS))
    } else {
        None
    })
}

/// How a connecting socket's handshake ended, or `None` while it goes on.
fn try_connected(st: &mut St, fd: i32) -> Option<Result<(), Errno>> {
    let s = match sock(st, fd) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let Kind::Conn(h) = s.kind else {
        return Some(Err(Errno::BADF));
    };
    let now = st.now;
    let state = st.ep().state(h).unwrap_or(State::Closed);
    match state {
        State::SynSent | State::SynReceived => None,
        State::Closed => {
            // The handshake failed: report the error once and become unconnected.
            let e = st.sk_err.remove(&h);
            let _ = st.ep().close(now, h);
            if let Ok(s) = sock_mut(st, fd) {
                s.kind = Kind::Fresh;
                s.assoc = Assoc::Unconnected;
            }
            Some(Err(e.map_or(Errno::CONNABORTED, Errno::from_engine)))
        }
        _ => {
            if let Ok(s) = sock_mut(st, fd) {
                s.assoc = Assoc::Connected;
            }
            Some(Ok(()))
        }
    }
}

fn try_recv(
    st: &mut St,
    fd: i32,
    bufs: &mut [&mut [u8]],
    flags: i32,
    total: usize,
    done: &Cell<usize>,
) -> Option<Result<usize, Errno>> {
    let (h, nonblock, shut_rd) = match reader(st, fd, flags) {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    if total == 0 {
        return Some(Ok(0));
    }
    let now = st.now;
    let mut eof = false;
    let mut error = None;
    // Fill the buffers from where the last attempt stopped.
    let mut skip = done.get();
    for b in bufs.iter_mut() {
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        let part = &mut b[skip..];
        skip = 0;
        match st.ep().recv(now, h, part) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                done.set(done.get() + n);
                if n < part.len() {
                    break;
                }
            }
            Err(Error::WouldBlock) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    st.collect();
    let got = done.get();
    if let Some(e) = error {
        if got > 0 {
            return Some(Ok(got));
        }
        return Some(read_error(st, h, e));
    }
    let waitall = flags & MSG_WAITALL != 0;
    if eof || shut_rd || (got > 0 && (!waitall || got >= total || nonblock)) {
        return Some(Ok(got));
    }
    if nonblock {
        return Some(progress_or(got, Errno::AGAIN));
    }
    None
}

/// The connection a read on `fd` reads from, whether it must not wait (`O_NONBLOCK`,
/// `MSG_DONTWAIT`), and whether its read side is shut down.
fn reader(st: &mut St, fd: i32, flags: i32) -> Result<(ConnHandle, bool, bool), Errno> {
    let s = sock(st, fd)?;
    let Kind::Conn(h) = s.kind else {
        return Err(Errno::NOTCONN);
    };
    Ok((h, s.nonblock || flags & MSG_DONTWAIT != 0, s.shut_rd))
}

/// What a read that met the engine's error `e` returns: the connection's error, once
/// (`sk_err`); later reads see the end of the stream.
fn read_error(st: &mut St, h: ConnHandle, e: Error) -> Result<usize, Errno> {
    match st.sk_err.remove(&h) {
        Some(err) => Err(Errno::from_engine(err)),
        None if e == Error::InvalidHandle => Err(Errno::BADF),
        None => Ok(0),
    }
}

/// `recv` with `MSG_PEEK`: copies what is queued into `bufs` and leaves it there. `None` while
/// it has to wait.
fn try_peek(
    st: &mut St,
    fd: i32,
    bufs: &mut [&mut [u8]],
    flags: i32,
    total: usize,
) -> Option<Result<usize, Errno>> {
    let (h, nonblock, shut_rd) = match reader(st, fd, flags) {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    if total == 0 || shut_rd {
        return Some(Ok(0));
    }
    let available = st.ep().recv_available(h).unwrap_or(0);
    // Nothing more can come: the FIN arrived (it counts one in the hint) or the connection is
    // gone.
    let ended = st.ep().inq_hint(h).unwrap_or(0) > available
        || st.ep().state(h).map_or(true, |s| s == State::Closed);
    let waitall = flags & MSG_WAITALL != 0;
    if available > 0 && (!waitall || available >= total || nonblock || ended) {
        let mut copy = vec![0u8; total.min(available)];
        let n = st.ep().peek(h, &mut copy).unwrap_or(0);
        let mut rest = &copy[..n];
        for b in bufs.iter_mut() {
            let k = b.len().min(rest.len());
            b[..k].copy_from_slice(&rest[..k]);
            rest = &rest[k..];
        }
        return Some(Ok(n));
    }
    // Nothing (or, with MSG_WAITALL, not enough) queued: the end of the stream, the error, or
    // a wait.
    if available > 0 {
        return None;
    }
    let mut probe = [0u8; 1];
    match st.ep().peek(h, &mut probe) {
        Ok(_) => Some(Ok(0)),
        Err(Error::WouldBlock) if nonblock => Some(Err(Errno::AGAIN)),
        Err(Error::WouldBlock) => None,
        Err(e) => Some(read_error(st, h, e)),
    }
}

fn try_send(
    st: &mut St,
    fd: i32,
    bufs: &[&[u8]],
    flags: i32,
    total: usize,
    done: &Cell<usize>,
) -> Option<Result<usize, Errno>> {
    let s = match sock(st, fd) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let Kind::Conn(h) = s.kind else {
        // Linux sk_stream_wait_connect: EPIPE on a socket that is not connecting.
        return Some(Err(Errno::PIPE));
    };
    let nonblock = s.nonblock || flags & MSG_DONTWAIT != 0;
    let shut_wr = s.shut_wr;
    if let Some(e) = st.sk_err.remove(&h) {
        return Some(progress_or(done.get(), Errno::from_engine(e)));
    }
    if shut_wr {
        return Some(progress_or(done.get(), Errno::PIPE));
    }
    let state = st.ep().state(h).unwrap_or(State::Closed);
    if matches!(state, State::SynSent | State::SynReceived) {
        // Wait for the handshake (sk_stream_wait_connect).
        return if nonblock {
            Some(Err(Errno::AGAIN))
        } else {
            None
        };
    }
    if total == 0 {
        return Some(Ok(0));
    }
    let now = st.now;
    let cap = st.ep().send_capacity(h).unwrap_or(0);
    // One byte more than fits, when there is more: the engine then knows the writer is out of
    // buffer space (Linux SOCK_NOSPACE), which tcp_info's send-buffer-limited time needs.
    let want = (total - done.get()).min(cap.saturating_add(1));
    if want > 0 {
        // Gather what fits from the buffers, from where the last attempt stopped.
        let mut chunk = Vec::with_capacity(want);
        let mut skip = done.get();
        for b in bufs {
            if chunk.len() >= want {
                break;
            }
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            let part = &b[skip..];
            skip = 0;
            let take = part.len().min(want - chunk.len());
            chunk.extend_from_slice(&part[..take]);
        }
        // MSG_EOR ends a record when the whole message is taken (Linux tcp_sendmsg_locked
        // marks the last buffer only once nothing of the message is left).
        let send_flags = SendFlags {
            eor: flags & MSG_EOR != 0 && done.get() + chunk.len() == total,
            more: flags & MSG_MORE != 0,
        };
        let r = st.ep().send_with(now, h, &chunk, send_flags);
        st.collect();
        match r {
            Ok(n) => done.set(done.get() + n),
            Err(Error::WouldBlock) => {}
            Err(e) => {
                // Linux sk_stream_error(): the pending error once, then EPIPE.
                let err = match st.sk_err.remove(&h) {
                    Some(err) => Errno::from_engine(err),
                    None if e == Error::InvalidHandle => Errno::BADF,
                    None => Errno::PIPE,
                };
                return Some(progress_or(done.get(), err));
            }
        }
    } else if state == State::Closed {
        let e = st.sk_err.remove(&h).map_or(Errno::PIPE, Errno::from_engine);
        return Some(progress_or(done.get(), e));
    }
    if done.get() >= total {
        return Some(Ok(done.get()));
    }
    if nonblock {
        return Some(progress_or(done.get(), Errno::AGAIN));
    }
    None
}

/// The value of an `IPPROTO_IP` option as Linux's `do_ip_setsockopt` reads it: an int, or a
/// single byte when the caller passes fewer than four; nothing reads as 0.
fn ip_int_of(val: &[u8]) -> Result<i32, Errno> {
    match val.len() {
        0 => Ok(0),
        1..=3 => Ok(i32::from(val[0])),
        _ => int_of(val),
    }
}

fn int_of(val: &[u8]) -> Result<i32, Errno> {
    let b: [u8; 4] = val
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(Errno::INVAL)?;
    Ok(i32::from_ne_bytes(b))
}

fn setsockopt(st: &mut St, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
    let kind = sock(st, fd)?.kind;
    let conn = match kind {
        Kind::Conn(h) => Some(h),
        _ => None,
    };
    let now = st.now;
    let started = st.started();
    let mut late = None;
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if val.len() < 8 {
                return Err(Errno::INVAL);
            }
            let on = int_of(&val[..4])?;
            let secs = int_of(&val[4..8])?;
            sock_mut(st, fd)?.opts.linger = (on != 0).then_some((on, secs.max(0)));
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let name = val.split(|b| *b == 0).next().unwrap_or(&[]);
            let cc = match name {
                b"cubic" => Algorithm::Cubic,
                b"reno" | b"newreno" => Algorithm::NewReno,
                _ => return Err(Errno(libc::ENOENT)),
            };
            sock_mut(st, fd)?.opts.congestion = Some(cc);
            match conn {
                // A connection switches controller now (Linux tcp_reinit_congestion_control).
                Some(h) => {
                    let _ = st.ep().set_congestion_control(now, h, cc);
                }
                None => late = Some("TCP_CONGESTION"),
            }
        }
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
            sock_mut(st, fd)?.opts.reuseaddr = int_of(val)? != 0;
        }
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            sock_mut(st, fd)?.opts.reuseport = int_of(val)? != 0;
        }
        (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => {
            // Accepted; data is copied all the same and no completion is ever queued.
            sock_mut(st, fd)?.opts.zerocopy = int_of(val)? != 0;
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
            sock_mut(st, fd)?.opts.rcvbuf = Some(int_of(val)?);
            late = Some("SO_RCVBUF");
        }
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
            let v = int_of(val)?;
            sock_mut(st, fd)?.opts.sndbuf = Some(v);
            match conn {
                // A connection takes its new, fixed buffer now (Linux sets sk_sndbuf and
                // SOCK_SNDBUF_LOCK on the socket whatever its state).
                Some(h) => {
                    let bytes = sndbuf_bytes(v, st.settings.wmem_max);
                    let _ = st.ep().set_send_buffer(now, h, bytes);
                }
                None => late = Some("SO_SNDBUF"),
            }
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
            let v = int_of(val)?;
            let s = sock_mut(st, fd)?;
            s.opts.keepalive = v != 0;
            let opts = s.opts.clone();
            if let Some(h) = conn {
                let ka = opts.keepalive.then(|| keepalive_of(&opts));
                let _ = st.ep().set_keepalive(now, h, ka);
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
            let v = int_of(val)?;
            sock_mut(st, fd)?.opts.nodelay = v != 0;
            if let Some(h) = conn {
                let _ = st.ep().set_nodelay(now, h, v != 0);
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            let v = int_of(val)?;
            if v != 0 && !(88..=32767).contains(&v) {
                return Err(Errno::INVAL);
            }
            sock_mut(st, fd)?.opts.maxseg = Some(v);
            late = Some("TCP_MAXSEG");
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL | libc::TCP_KEEPCNT) => {
            let v = int_of(val)?;
            let max = if name == libc::TCP_KEEPCNT {
                127
            } else {
                32767
            };
            if !(1..=max).contains(&v) {
                return Err(Errno::INVAL);
            }
            let s = sock_mut(st, fd)?;
            match name {
                libc::TCP_KEEPIDLE => s.opts.keepidle = v,
                libc::TCP_KEEPINTVL => s.opts.keepintvl = v,
                _ => s.opts.keepcnt = v,
            }
            let opts = s.opts.clone();
            if let (Some(h), true) = (conn, opts.keepalive) {
                let _ = st.ep().set_keepalive(now, h, Some(keepalive_of(&opts)));
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
            let v = int_of(val)?;
            if v < 0 {
                return Err(Errno::INVAL);
            }
            sock_mut(st, fd)?.opts.user_timeout = v as u32;
            if let Some(h) = conn {
                let t = (v > 0).then(|| Duration::from_millis(v as u64));
                let _ = st.ep().set_user_timeout(h, t);
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => {
            int_of(val)?;
        }
        (libc::IPPROTO_TCP, TCP_INQ) => {
            sock_mut(st, fd)?.opts.inq = int_of(val)? != 0;
        }
        (libc::IPPROTO_TCP, libc::TCP_CORK) => {
            let v = int_of(val)? != 0;
            sock_mut(st, fd)?.opts.cork = v;
            if let Some(h) = conn {
                let _ = st.ep().set_cork(now, h, v);
            }
        }
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => {
            let v = ip_int_of(val)?;
            // IP_PMTUDISC_DONT .. IP_PMTUDISC_OMIT.
            if !(0..=5).contains(&v) {
                return Err(Errno::INVAL);
            }
            sock_mut(st, fd)?.opts.pmtudisc = v;
            if !matches!(v, 1 | 2) {
                st.note_once(format!(
                    "IP_MTU_DISCOVER {v} is stored, but synack keeps DF set and path MTU \
                     discovery on, as with IP_PMTUDISC_WANT"
                ));
            }
        }
        (libc::IPPROTO_IP, libc::IP_TOS) | (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
            let s = sock_mut(st, fd)?;
            let v6 = s.v6;
            let v = if level == libc::IPPROTO_IP {
                // The ECN bits stay TCP's (masked below).
                ip_int_of(val)?
            } else {
                if !v6 {
                    return Err(Errno::NOPROTOOPT);
                }
                // Linux do_ipv6_setsockopt: -1 means the default, 0.
                match int_of(val)? {
                    -1 => 0,
                    v @ 0..=255 => v,
                    _ => return Err(Errno::INVAL),
                }
            };
            let tos = (v & 0xfc) as u8;
            if level == libc::IPPROTO_IP {
                s.opts.ip_tos = tos;
            } else {
                s.opts.tclass = tos;
            }
            let tos = s.opts.tos(v6);
            match kind {
                Kind::Conn(h) => {
                    let _ = st.ep().set_tos(h, tos);
                }
                Kind::Listener(l) => {
                    let _ = st.ep().set_listener_tos(l, tos);
                }
                Kind::Fresh => {}
            }
        }
        _ => {
            st.note_once(format!(
                "setsockopt level {level} option {name} is not supported (ENOPROTOOPT)"
            ));
            return Err(Errno::NOPROTOOPT);
        }
    }
    if let (Some(o), true) = (late, started) {
        st.note_once(format!(
            "{o} set after the engine started has no effect on the wire (the engine's \
             configuration is fixed at its first listen, connect or packet)"
        ));
    }
    Ok(())
}

/// `TCP_INQ` (`include/uapi/linux/tcp.h`), also the type of its control message, `TCP_CM_INQ`.
pub(crate) const TCP_INQ: i32 = 36;
/// `TCP_CC_INFO` (`include/uapi/linux/tcp.h`).
const TCP_CC_INFO: i32 = 26;
/// `SO_MEMINFO` (`include/uapi/asm-generic/socket.h`).
const SO_MEMINFO: i32 = 55;

/// Linux's `struct tcp_info` (`include/uapi/linux/tcp.h` of Linux 6.18, through the AccECN
/// counters: 280 bytes), filled from the connection's snapshot, so that packetdrill's `%{ }%`
/// code events can read `tcpi_*`; a caller with a shorter struct gets its prefix, as from Linux.
/// Counts are in segments, times in microseconds and the `last_*` ages in milliseconds, as
/// Linux's; windows in segments are the byte windows divided by the MSS. Fields synack does not
/// keep (pacing, delivery rate, segment counts, ECN) read as zero; the busy and limited times
/// are timed as Linux times them (`tcp_chrono_start`, `tcp_chrono_stop`).
fn tcp_info(
    state: State,
    info: Option<&synack_proto::ConnInfo>,
    advmss: u16,
    ato: Duration,
    now: synack_proto::Instant,
) -> Vec<u8> {
    fn put32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn put64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    let mut b = vec![0u8; 280];
    b[0] = match state {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    };
    put32(&mut b, 12, us(ato));
    put32(&mut b, 84, advmss.into());
    put32(&mut b, 88, info.map_or(3, |i| i.reordering)); // tcpi_reordering
    put64(&mut b, 112, u64::MAX); // tcpi_max_pacing_rate: unlimited
    let Some(i) = info else {
        put32(&mut b, 76, 0x7fff_ffff); // TCP_INFINITE_SSTHRESH
        return b;
    };
    let mss = i.snd_mss.max(1);
    b[1] = i.ca_state.linux_value();
    b[2] = i.retransmits;
    b[4] = u8::try_from(i.backoff).unwrap_or(u8::MAX);
    b[5] = u8::from(i.timestamps)
        | (u8::from(i.sack) << 1)
        | (u8::from(i.snd_wscale > 0 || i.rcv_wscale > 0) << 2);
    b[6] = (i.snd_wscale & 0xf) | ((i.rcv_wscale & 0xf) << 4);
    put32(&mut b, 8, us(i.rto));
    put32(&mut b, 16, mss);
    put32(&mut b, 20, i.rcv_mss); // tcpi_rcv_mss
    put32(&mut b, 24, i.unacked_segs);
    put32(&mut b, 28, i.sacked_segs);
    put32(&mut b, 32, i.lost_segs);
    put32(&mut b, 36, i.retrans_segs);
    let header = if i.tuple.local.is_ipv4() { 40 } else { 60 };
    put32(&mut b, 60, mss + header); // tcpi_pmtu
    put32(&mut b, 64, i.rcv_wnd); // tcpi_rcv_ssthresh
    put32(&mut b, 68, i.srtt.map_or(0, us));
    put32(&mut b, 72, us(i.rttvar));
    let ssthresh = if i.ssthresh == u32::MAX {
        0x7fff_ffff
    } else {
        i.ssthresh / mss
    };
    put32(&mut b, 76, ssthresh);
    put32(&mut b, 80, i.cwnd / mss);
    put32(&mut b, 96, i.rcv_wnd); // tcpi_rcv_space
    put32(&mut b, 100, i.total_retrans);
    // tcpi_last_data_sent, tcpi_last_data_recv, tcpi_last_ack_recv: ages in ms
    // (tcpi_last_ack_sent, at 48, is "not remembered" by Linux either).
    let age_ms = |t: Option<synack_proto::Instant>| {
        t.map_or(0, |t| {
            u32::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u32::MAX)
        })
    };
    put32(&mut b, 44, age_ms(i.last_data_sent));
    put32(&mut b, 52, age_ms(i.last_data_recv));
    put32(&mut b, 56, age_ms(i.last_ack_recv));
    put64(&mut b, 120, i.bytes_acked);
    put64(&mut b, 128, i.bytes_received);
    let unsent = i.send_buffered.saturating_sub(i.in_flight as usize);
    put32(&mut b, 144, u32::try_from(unsent).unwrap_or(u32::MAX));
    put32(&mut b, 148, i.min_rtt.map_or(u32::MAX, us));
    // tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited (µs).
    let us64 = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    put64(&mut b, 168, us64(i.send_times.busy(now)));
    put64(
        &mut b,
        176,
        us64(i.send_times.time(now, SendChrono::RwndLimited)),
    );
    put64(
        &mut b,
        184,
        us64(i.send_times.time(now, SendChrono::SndbufLimited)),
    );
    put32(&mut b, 220, i.reorder_events); // tcpi_reord_seen
    put32(&mut b, 228, i.snd_wnd);
    put32(&mut b, 232, i.rcv_wnd);
    b
}

fn getsockopt(st: &mut St, fd: i32, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
    let s = sock(st, fd)?;
    let (kind, v6, opts) = (s.kind, s.v6, s.opts.clone());
    let conn = match kind {
        Kind::Conn(h) => Some(h),
        _ => None,
    };
    let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX).to_ne_bytes().to_vec();
    let (rcvbuf_default, sndbuf_default) = (st.settings.rcvbuf, st.settings.sndbuf);
    let (rmem_max, wmem_max) = (st.settings.rmem_max, st.settings.wmem_max);
    let info = conn.and_then(|h| st.engine().and_then(|ep| ep.info(h).ok()));
    Ok(match (level, name) {
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => int(opts.reuseaddr.into()),
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => int(opts.reuseport.into()),
        (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => int(opts.zerocopy.into()),
        (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_STREAM.into()),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::IPPROTO_TCP.into()),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => {
            int(if v6 { libc::AF_INET6 } else { libc::AF_INET }.into())
        }
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(matches!(kind, Kind::Listener(_)).into()),
        (libc::SOL_SOCKET, libc::SO_ERROR) => {
            let e = conn.and_then(|h| st.sk_err.remove(&h));
            int(e.map_or(0, |e| i64::from(Errno::from_engine(e).0)))
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => int(opts.keepalive.into()),
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let (on, secs) = opts.linger.unwrap_or((0, 0));
            let mut v = on.to_ne_bytes().to_vec();
            v.extend_from_slice(&secs.to_ne_bytes());
            v
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
            int(opts.rcvbuf.map_or(rcvbuf_default as i64, |r| {
                ((r.max(0) as usize).min(rmem_max) * 2).max(2304) as i64
            }))
        }
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(opts
            .sndbuf
            .map_or(sndbuf_default as i64, |w| sndbuf_bytes(w, wmem_max) as i64)),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => int(opts.nodelay.into()),
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => match info {
            Some(i) if !matches!(i.state, State::Closed | State::SynSent) => int(i.snd_mss.into()),
            _ => int(opts.maxseg.filter(|m| *m != 0).unwrap_or(536).into()),
        },
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => int(opts.keepidle.into()),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => int(opts.keepintvl.into()),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => int(opts.keepcnt.into()),
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => int(opts.user_timeout.into()),
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => int(1),
        (libc::IPPROTO_TCP, TCP_INQ) => int(opts.inq.into()),
        (libc::IPPROTO_TCP, libc::TCP_CORK) => int(opts.cork.into()),
        (libc::IPPROTO_IP, libc::IP_TOS) => int(opts.ip_tos.into()),
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => int(opts.pmtudisc.into()),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if v6 => int(opts.tclass.into()),
        (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let state = match (&kind, &info) {
                (_, Some(i)) => i.state,
                (Kind::Listener(_), None) => State::Listen,
                _ => State::Closed,
            };
            tcp_info(state, info.as_ref(), st.cfg.mss, st.cfg.delayed_ack, st.now)
        }
        // No congestion controller here has extra information (Linux answers CUBIC's and
        // Reno's TCP_CC_INFO with nothing, too).
        (libc::IPPROTO_TCP, TCP_CC_INFO) => Vec::new(),
        (libc::SOL_SOCKET, SO_MEMINFO) => {
            let mut v = [0u32; 9];
            if let Some(i) = info {
                let c = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                // SK_MEMINFO_RMEM_ALLOC, _RCVBUF, _WMEM_ALLOC, _SNDBUF, _FWD_ALLOC,
                // _WMEM_QUEUED, _OPTMEM, _BACKLOG, _DROPS: payload bytes, not skb truesize.
                // The receive buffer as Linux's sk_rcvbuf, twice the window space (what
                // SO_RCVBUF reads too).
                v[0] = c(i.recv_buffered + i.out_of_order);
                v[1] = c(i.recv_buffer.saturating_mul(2));
                v[2] = i.in_flight;
                v[3] = c(i.send_buffer);
                v[5] = c(i.send_buffered);
            }
            v.iter().flat_map(|x| x.to_ne_bytes()).collect()
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let cc = opts.congestion.unwrap_or(st.cfg.congestion_control);
            let name: &[u8] = match cc {
                Algorithm::Cubic => b"cubic",
                Algorithm::NewReno => b"reno",
            };
            // TCP_CA_NAME_MAX bytes, NUL-padded.
            let mut v = vec![0u8; 16];
            v[..name.len()].copy_from_slice(name);
            v
        }
        _ => {
            st.note_once(format!(
                "getsockopt level {level} option {name} is not supported (ENOPROTOOPT)"
            ));
            return Err(Errno::NOPROTOOPT);
        }
    })
}
