//! System calls (packetdrill `run_system_call.c`), emulated with Linux's socket-layer semantics
//! on top of [`synack_proto::Endpoint`].
//!
//! Implemented: `socket`, `bind`, `listen`, `accept`, `connect`, `read`, `readv`, `recv`,
//! `recvfrom`, `write`, `writev`, `send`, `sendto`, `close`, `shutdown`, `setsockopt`, `getsockopt`
//! (`SO_REUSEADDR`, `SO_LINGER`, `SO_RCVBUF`, `SO_SNDBUF`, `SO_KEEPALIVE`, `SO_ERROR`, `SO_TYPE`,
//! `TCP_NODELAY`, `TCP_CORK`, `TCP_MAXSEG`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`,
//! `TCP_USER_TIMEOUT`), `fcntl` (`F_GETFL`, `F_SETFL` with `O_NONBLOCK`, `F_GETFD`, `F_SETFD`) and
//! `poll`; the flags `MSG_DONTWAIT` and `MSG_PEEK` on reads and `MSG_DONTWAIT`, `MSG_EOR` and
//! `MSG_MORE` on sends; results `= value` and `= -1 ERRNO (text)`; blocking calls (`+0...0.2
//! accept(...)`) that return while later events run, with their return time checked; calls the
//! script does not mark as blocking that block run the engine's timers until they return, as the
//! kernel would.
//!
//! As in packetdrill, `bind(fd, ..., ...)` binds the local address to `--local_ip` and
//! `--bind_port` (8080), and `connect(fd, ..., ...)` goes to `--remote_ip` and `--connect_port`
//! (8080). Data written is zero bytes, as packetdrill's buffers are; data read is not checked.
//!
//! Socket options that change the engine's configuration (`SO_RCVBUF`, `SO_SNDBUF`,
//! `TCP_MAXSEG`) take effect when set before the engine starts (the first `listen`, `connect` or
//! injected packet). `TCP_NODELAY`, keepalive (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
//! `TCP_KEEPCNT`) and `TCP_USER_TIMEOUT` act on a connection at once, and an accepted socket
//! inherits them from its listener, as on Linux.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack_proto::{ConnHandle, Duration, Error, Keepalive, ListenerHandle, SendFlags, State};

use crate::ast::{Expr, SyscallSpec, TimeType};
use crate::runtime::{secs, EventCtx, Fail, Runner, Sut, SutState};
use crate::symbols::{self, errno_value, strerror};

/// Largest buffer a single read or write attempt allocates (a script may ask for any size).
const MAX_CHUNK: usize = 16 << 20;

/// An open file descriptor.
#[derive(Clone, Debug)]
pub(crate) enum Fd {
    /// A TCP socket.
    Socket(Sock),
}

/// What a socket is on the engine side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Created, maybe bound, neither listening nor connected.
    Fresh,
    /// Listening.
    Listener(ListenerHandle),
    /// A connection.
    Conn(ConnHandle),
}

/// Linux's `sock->state` for connect() semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockState {
    Unconnected,
    Connecting,
    Connected,
}

/// Socket options as set by the script (Linux defaults otherwise).
#[derive(Clone, Debug)]
pub(crate) struct SockOpts {
    reuseaddr: i64,
    keepalive: i64,
    linger: Option<(i64, i64)>,
    rcvbuf: Option<i64>,
    sndbuf: Option<i64>,
    nodelay: i64,
    cork: i64,
    maxseg: Option<i64>,
    keepidle: i64,
    keepintvl: i64,
    keepcnt: i64,
    user_timeout: i64,
}

impl Default for SockOpts {
    fn default() -> Self {
        SockOpts {
            reuseaddr: 0,
            keepalive: 0,
            linger: None,
            rcvbuf: None,
            sndbuf: None,
            nodelay: 0,
            cork: 0,
            maxseg: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            user_timeout: 0,
        }
    }
}

/// One socket.
#[derive(Clone, Debug)]
pub(crate) struct Sock {
    v6: bool,
    nonblock: bool,
    bound: Option<SocketAddr>,
    pub kind: Kind,
    state: SockState,
    shut_rd: bool,
    shut_wr: bool,
    opts: SockOpts,
}

/// One pollfd of a poll() call.
#[derive(Clone, Debug)]
pub(crate) struct PollItem {
    fd: i32,
    events: i64,
    expected: i64,
}

/// A call that may have to wait.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Accept {
        fd: i32,
        new_fd: i32,
        blocking: bool,
    },
    Connect {
        fd: i32,
        blocking: bool,
    },
    Read {
        fd: i32,
        len: usize,
        blocking: bool,
        /// `MSG_PEEK`: the bytes stay queued.
        peek: bool,
    },
    Write {
        fd: i32,
        total: usize,
        done: usize,
        blocking: bool,
        /// `MSG_EOR`: the message ends a record once all of it is taken.
        eor: bool,
        /// `MSG_MORE`: more data follows (held like `TCP_CORK`, not pushed).
        more: bool,
    },
    Poll {
        items: Vec<PollItem>,
        deadline: Option<i64>,
    },
}

impl Op {
    /// When the call gives up waiting on its own (poll's timeout).
    pub fn wake_at(&self) -> Option<i64> {
        match self {
            Op::Poll { deadline, .. } => *deadline,
            _ => None,
        }
    }
}

/// What a call returned.
#[derive(Clone, Debug)]
pub(crate) struct SysResult {
    ret: i64,
    errno: i32,
    /// A further mismatch found (poll revents, getsockopt values).
    extra: Option<String>,
}

impl SysResult {
    fn ok(ret: i64) -> SysResult {
        SysResult {
            ret,
            errno: 0,
            extra: None,
        }
    }
    fn err(errno: &str) -> SysResult {
        SysResult {
            ret: -1,
            errno: errno_value(errno).unwrap_or(0),
            extra: None,
        }
    }
    fn engine(e: Error) -> SysResult {
        SysResult::err(errno_of(e))
    }
}

/// How the return value is compared (packetdrill `enum result_check_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Exact,
    AllowMapping,
}

/// A system call event being checked: what it expects and by when it must return.
#[derive(Clone, Debug)]
pub(crate) struct CallInfo {
    pub spec: SyscallSpec,
    pub line: u32,
    pub time_type: TimeType,
    /// When the call started (script time, microseconds).
    pub start: i64,
    /// When a blocking call must return (script time, microseconds).
    pub end: i64,
    pub check: Check,
}

/// A blocking call in progress (packetdrill's system call thread).
#[derive(Clone, Debug)]
pub(crate) struct PendingCall {
    pub op: Op,
    pub info: CallInfo,
}

impl PendingCall {
    pub fn wake_at(&self) -> Option<i64> {
        self.op.wake_at()
    }
}

fn errno_of(e: Error) -> &'static str {
    match e {
        Error::WouldBlock => "EAGAIN",
        other => other.errno_name(),
    }
}

enum Built {
    Done(SysResult),
    Op(Op),
}

// ----- expression evaluation ---------------------------------------------------------------------

fn eval_int(e: &Expr) -> Result<i64, String> {
    match e {
        Expr::Int(v) => Ok(*v),
        Expr::Word(w) => symbols::lookup(w).ok_or_else(|| format!("unknown symbol: '{w}'")),
        Expr::Or(a, b) => Ok(eval_int(a)? | eval_int(b)?),
        Expr::Call(f, args) if f == "htons" || f == "htonl" || f == "ntohs" || f == "ntohl" => {
            match args.as_slice() {
                [a] => eval_int(a),
                _ => Err(format!("{f}() takes one argument")),
            }
        }
        Expr::List(l) if l.len() == 1 => eval_int(&l[0]),
        other => Err(format!("expected an integer, not {}", describe(other))),
    }
}

fn describe(e: &Expr) -> String {
    match e {
        Expr::Ellipsis => "...".into(),
        Expr::Int(v) => v.to_string(),
        Expr::Word(w) => w.clone(),
        Expr::Str(s, _) => format!("\"{s}\""),
        Expr::Or(..) => "an OR expression".into(),
        Expr::Assign(n, _) => format!("{n}=..."),
        Expr::List(_) => "a list".into(),
        Expr::Struct(_) => "a struct".into(),
        Expr::Call(f, _) => format!("{f}(...)"),
    }
}

fn arg(args: &[Expr], i: usize) -> Result<&Expr, String> {
    args.get(i)
        .ok_or_else(|| "Argument list too short".to_string())
}

fn int_arg(args: &[Expr], i: usize) -> Result<i64, String> {
    eval_int(arg(args, i)?)
}

fn check_arg_count(args: &[Expr], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("Expected {n} args but got {}", args.len()));
    }
    Ok(())
}

/// A `[N]` argument.
fn bracketed(e: &Expr) -> Result<i64, String> {
    match e {
        Expr::List(l) if l.len() == 1 => eval_int(&l[0]),
        Expr::List(_) => Err("Expected [<integer>] but got multiple elements".into()),
        other => eval_int(other),
    }
}

fn struct_field<'e>(fields: &'e [Expr], name: &str) -> Option<&'e Expr> {
    fields.iter().find_map(|f| match f {
        Expr::Assign(n, v) if n == name => Some(&**v),
        _ => None,
    })
}

/// A `{sa_family=..., sin_port=htons(P), sin_addr=inet_addr("A")}` argument, or `...` for the
/// default given.
fn sockaddr(e: &Expr, default: SocketAddr) -> Result<SocketAddr, String> {
    match e {
        Expr::Ellipsis => Ok(default),
        Expr::Struct(fields) => {
            let port = struct_field(fields, "sin_port")
                .or_else(|| struct_field(fields, "sin6_port"))
                .map(eval_int)
                .transpose()?
                .unwrap_or(i64::from(default.port()));
            let addr = match struct_field(fields, "sin_addr")
                .or_else(|| struct_field(fields, "sin6_addr"))
            {
                Some(Expr::Call(f, a)) if f == "inet_addr" || f == "inet6_addr" => {
                    match a.first() {
                        Some(Expr::Str(s, _)) => s
                            .parse::<IpAddr>()
                            .map_err(|_| format!("invalid IP address \"{s}\""))?,
                        _ => return Err(format!("{f}() takes a string")),
                    }
                }
                Some(Expr::Word(w)) if w == "INADDR_ANY" => {
                    if default.is_ipv6() {
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    }
                }
                Some(other) => return Err(format!("bad address {}", describe(other))),
                None => default.ip(),
            };
            let port = u16::try_from(port).map_err(|_| format!("bad port {port}"))?;
            Ok(SocketAddr::new(addr, port))
        }
        other => Err(format!("expected a sockaddr, not {}", describe(other))),
    }
}

// ----- the system calls --------------------------------------------------------------------------

impl Runner<'_> {
    fn sock(&self, fd: i32) -> Result<&Sock, SysResult> {
        match self.fds.get(&fd) {
            Some(Fd::Socket(s)) => Ok(s),
            None => Err(SysResult::err("EBADF")),
        }
    }

    fn sock_mut(&mut self, fd: i32) -> Option<&mut Sock> {
        match self.fds.get_mut(&fd) {
            Some(Fd::Socket(s)) => Some(s),
            None => None,
        }
    }

    /// Runs one system call event.
    pub(crate) fn syscall(
        &mut self,
        ctx: &EventCtx,
        spec: &SyscallSpec,
        end: Option<i64>,
    ) -> Result<(), Fail> {
        let blocking = spec.end_usecs.is_some();
        if blocking && self.pending.is_some() && !self.await_idle()? {
            return self.fail(format!(
                "runtime error in {} call: blocking system call while another blocking system \
                 call is already in progress",
                spec.name
            ));
        }
        self.wait_for_event(ctx, "system call start")?;
        let check = match spec.name.as_str() {
            "socket" | "accept" => Check::AllowMapping,
            _ => Check::Exact,
        };
        let built = self.build(spec).map_err(|e| {
            Fail::new(
                ctx.line,
                format!("runtime error in {} call: {e}", spec.name),
            )
        })?;
        let info = CallInfo {
            spec: spec.clone(),
            line: ctx.line,
            time_type: ctx.time_type,
            start: ctx.time,
            end: end.unwrap_or(ctx.time),
            check,
        };
        let res = match built {
            Built::Done(r) => Some(r),
            Built::Op(mut op) => match self.attempt(&mut op) {
                Err(e) => {
                    return self.fail(format!("runtime error in {} call: {e}", spec.name));
                }
                Ok(Some(r)) => Some(r),
                Ok(None) if blocking => {
                    self.pending = Some(PendingCall { op, info });
                    return Ok(());
                }
                Ok(None) => {
                    let r = self.block_until_done(&mut op)?;
                    self.note(format!(
                        "{} blocked until {:.6} sec",
                        spec.name,
                        secs(self.now)
                    ));
                    Some(r)
                }
            },
        };
        if let Some(res) = res {
            if blocking {
                self.finish_blocking(&info, res)?;
            } else {
                self.verify_result(spec, &res, check).map_err(|e| {
                    Fail::new(
                        ctx.line,
                        format!("runtime error in {} call: {e}", spec.name),
                    )
                })?;
                self.note(format!("{} returned {}", spec.name, res.ret));
            }
        }
        Ok(())
    }

    /// A blocking call returned: check its value and its return time (packetdrill's tolerance
    /// widened by the percentage of the time from the call's start to its expected end).
    pub(crate) fn finish_blocking(&mut self, p: &CallInfo, res: SysResult) -> Result<(), Fail> {
        self.note(format!(
            "{} returned {} (blocking call)",
            p.spec.name, res.ret
        ));
        self.verify_result(&p.spec, &res, p.check).map_err(|e| {
            Fail::new(
                p.line,
                format!("runtime error in {} call: {e}", p.spec.name),
            )
        })?;
        let time_type = match p.time_type {
            TimeType::Relative => TimeType::Relative,
            _ => TimeType::Absolute,
        };
        if let Err(e) = self.verify_time(
            time_type,
            p.end,
            0,
            self.now,
            Some(p.start),
            "system call return",
        ) {
            return Err(Fail::new(p.line, e));
        }
        Ok(())
    }

    /// packetdrill `end_syscall`: compare the return value and errno.
    fn verify_result(
        &self,
        spec: &SyscallSpec,
        res: &SysResult,
        check: Check,
    ) -> Result<(), String> {
        let expected = eval_int(&spec.result)?;
        let errno_text = |e: i32| format!("with errno {e} ({})", strerror(e));
        match check {
            Check::Exact => {
                if res.ret != expected {
                    return Err(if res.ret < 0 {
                        format!(
                            "Expected result {expected} but got {} {}",
                            res.ret,
                            errno_text(res.errno)
                        )
                    } else {
                        format!("Expected result {expected} but got {}", res.ret)
                    });
                }
            }
            Check::AllowMapping => {
                if expected >= 0 && res.ret < 0 {
                    return Err(format!(
                        "Expected non-negative result but got {} {}",
                        res.ret,
                        errno_text(res.errno)
                    ));
                }
                if expected < 0 && res.ret != expected {
                    return Err(format!("Expected result {expected} but got {}", res.ret));
                }
            }
        }
        if let Some(name) = &spec.errno {
            let want =
                errno_value(name).ok_or_else(|| format!("unknown errno symbol: '{name}'"))?;
            if res.errno != want {
                return Err(format!(
                    "Expected errno {want} ({}) but got {} ({})",
                    strerror(want),
                    res.errno,
                    if res.errno == 0 {
                        "Success"
                    } else {
                        strerror(res.errno)
                    }
                ));
            }
        }
        if let Some(x) = &res.extra {
            return Err(x.clone());
        }
        Ok(())
    }

    /// Evaluates the arguments and either completes the call or describes what it waits for.
    fn build(&mut self, spec: &SyscallSpec) -> Result<Built, String> {
        let a = &spec.args;
        let name = spec.name.as_str();
        let fd_of = |a: &[Expr]| -> Result<i32, String> {
            let v = int_arg(a, 0)?;
            i32::try_from(v).map_err(|_| format!("bad fd {v}"))
        };
        Ok(match name {
            "socket" => Built::Done(self.sys_socket(spec)?),
            "bind" => {
                check_arg_count(a, 3)?;
                Built::Done(self.sys_bind(fd_of(a)?, arg(a, 1)?)?)
            }
            "listen" => {
                check_arg_count(a, 2)?;
                Built::Done(self.sys_listen(fd_of(a)?, int_arg(a, 1)?))
            }
            "accept" => {
                check_arg_count(a, 3)?;
                let fd = fd_of(a)?;
                let new_fd = eval_int(&spec.result)?;
                let new_fd = i32::try_from(new_fd).map_err(|_| "bad result fd".to_string())?;
                match self.sock(fd) {
                    Err(e) => Built::Done(e),
                    Ok(s) => Built::Op(Op::Accept {
                        fd,
                        new_fd,
                        blocking: !s.nonblock,
                    }),
                }
            }
            "connect" => {
                check_arg_count(a, 3)?;
                self.sys_connect(fd_of(a)?, arg(a, 1)?)?
            }
            "read" | "recv" | "recvfrom" | "readv" => {
                let (len, flags) = match name {
                    "read" => {
                        check_arg_count(a, 3)?;
                        (int_arg(a, 2)?, 0)
                    }
                    "readv" => {
                        check_arg_count(a, 3)?;
                        (iov_len(arg(a, 1)?)?, 0)
                    }
                    "recv" => {
                        check_arg_count(a, 4)?;
                        (int_arg(a, 2)?, int_arg(a, 3)?)
                    }
                    _ => {
                        check_arg_count(a, 6)?;
                        (int_arg(a, 2)?, int_arg(a, 3)?)
                    }
                };
                let fd = fd_of(a)?;
                match self.sock(fd) {
                    Err(e) => Built::Done(e),
                    Ok(s) => Built::Op(Op::Read {
                        fd,
                        len: usize::try_from(len).map_err(|_| format!("bad length {len}"))?,
                        blocking: !s.nonblock && flags & 0x40 == 0,
                        peek: flags & 0x2 != 0,
                    }),
                }
            }
            "write" | "send" | "sendto" | "writev" => {
                let (len, flags) = match name {
                    "write" => {
                        check_arg_count(a, 3)?;
                        (int_arg(a, 2)?, 0)
                    }
                    "writev" => {
                        check_arg_count(a, 3)?;
                        (iov_len(arg(a, 1)?)?, 0)
                    }
                    "send" => {
                        check_arg_count(a, 4)?;
                        (int_arg(a, 2)?, int_arg(a, 3)?)
                    }
                    _ => {
                        check_arg_count(a, 6)?;
                        (int_arg(a, 2)?, int_arg(a, 3)?)
                    }
                };
                let fd = fd_of(a)?;
                match self.sock(fd) {
                    Err(e) => Built::Done(e),
                    Ok(s) => Built::Op(Op::Write {
                        fd,
                        total: usize::try_from(len).map_err(|_| format!("bad length {len}"))?,
                        done: 0,
                        blocking: !s.nonblock && flags & 0x40 == 0,
                        eor: flags & 0x80 != 0,
                        more: flags & 0x8000 != 0,
                    }),
                }
            }
            "close" => {
                check_arg_count(a, 1)?;
                Built::Done(self.sys_close(fd_of(a)?))
            }
            "shutdown" => {
                check_arg_count(a, 2)?;
                Built::Done(self.sys_shutdown(fd_of(a)?, int_arg(a, 1)?))
            }
            "setsockopt" => {
                check_arg_count(a, 5)?;
                Built::Done(self.sys_setsockopt(
                    fd_of(a)?,
                    int_arg(a, 1)?,
                    int_arg(a, 2)?,
                    arg(a, 3)?,
                )?)
            }
            "getsockopt" => {
                check_arg_count(a, 5)?;
                Built::Done(self.sys_getsockopt(
                    fd_of(a)?,
                    int_arg(a, 1)?,
                    int_arg(a, 2)?,
                    arg(a, 3)?,
                    arg(a, 4)?,
                )?)
            }
            "fcntl" => {
                if a.len() != 2 && a.len() != 3 {
                    return Err(format!("Expected 2 or 3 args but got {}", a.len()));
                }
                let fd = fd_of(a)?;
                let cmd = int_arg(a, 1)?;
                let val = if a.len() == 3 {
                    Some(int_arg(a, 2)?)
                } else {
                    None
                };
                Built::Done(self.sys_fcntl(fd, cmd, val)?)
            }
            "poll" => {
                check_arg_count(a, 3)?;
                let Expr::List(list) = arg(a, 0)? else {
                    return Err("poll() takes a [pollfd] array".into());
                };
                let mut items = Vec::new();
                for e in list {
                    let Expr::Struct(fields) = e else {
                        return Err("Bad type; expected a pollfd {fd=..., events=...}".into());
                    };
                    let fd = struct_field(fields, "fd")
                        .ok_or("pollfd without fd")
                        .map_err(String::from)
                        .and_then(eval_int)?;
                    let events = struct_field(fields, "events")
                        .ok_or("pollfd without events")
                        .map_err(String::from)
                        .and_then(eval_int)?;
                    let expected = struct_field(fields, "revents")
                        .map(eval_int)
                        .transpose()?
                        .unwrap_or(0);
                    items.push(PollItem {
                        fd: i32::try_from(fd).map_err(|_| format!("bad fd {fd}"))?,
                        events,
                        expected,
                    });
                }
                let nfds = int_arg(a, 1)?;
                if nfds != items.len() as i64 {
                    return Err(format!(
                        "nfds {nfds} does not match {}-element pollfd array",
                        items.len()
                    ));
                }
                let timeout = int_arg(a, 2)?;
                let deadline = if timeout < 0 {
                    None
                } else {
                    Some(self.now.saturating_add(timeout.saturating_mul(1000)))
                };
                Built::Op(Op::Poll { items, deadline })
            }
            other => return Err(format!("Unknown system call: '{other}'")),
        })
    }

    fn sys_socket(&mut self, spec: &SyscallSpec) -> Result<SysResult, String> {
        let a = &spec.args;
        check_arg_count(a, 3)?;
        let v6_default = self.cfg.ip_version != crate::runtime::IpVersion::V4;
        let v6 = match arg(a, 0)? {
            Expr::Ellipsis => v6_default,
            e => match eval_int(e)? {
                2 => false,
                10 => true,
                d => {
                    return Ok(SysResult::err(if d == 0 {
                        "EINVAL"
                    } else {
                        "EAFNOSUPPORT"
                    }))
                }
            },
        };
        let ty = int_arg(a, 1)?;
        if ty & 0xf != 1 {
            return Err("only SOCK_STREAM sockets are supported".into());
        }
        let proto = match arg(a, 2)? {
            Expr::Ellipsis => 6,
            e => eval_int(e)?,
        };
        if proto != 6 && proto != 0 {
            return Ok(SysResult::err("EPROTONOSUPPORT"));
        }
        let fd = eval_int(&spec.result)?;
        if fd < 0 {
            return Err("socket() is expected to fail: not supported".into());
        }
        let fd = i32::try_from(fd).map_err(|_| "bad fd".to_string())?;
        if self.fds.contains_key(&fd) {
            return Err(format!("fd {fd} is already open"));
        }
        self.fds.insert(
            fd,
            Fd::Socket(Sock {
                v6,
                nonblock: ty & 0o4000 != 0,
                bound: None,
                kind: Kind::Fresh,
                state: SockState::Unconnected,
                shut_rd: false,
                shut_wr: false,
                opts: SockOpts::default(),
            }),
        );
        // packetdrill: the newest socket is the socket under test.
        self.sut = Some(Sut::new(SutState::New, Some(fd)));
        Ok(SysResult::ok(i64::from(fd)))
    }

    fn default_local(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.cfg.local_ip, port)
    }

    fn sys_bind(&mut self, fd: i32, addr: &Expr) -> Result<SysResult, String> {
        let default = self.default_local(self.cfg.bind_port);
        let addr = sockaddr(addr, default)?;
        let Some(s) = self.sock_mut(fd) else {
            return Ok(SysResult::err("EBADF"));
        };
        if s.bound.is_some() || s.kind != Kind::Fresh {
            return Ok(SysResult::err("EINVAL"));
        }
        s.bound = Some(addr);
        Ok(SysResult::ok(0))
    }

    /// Applies the options of `fd` that configure the engine, if it has not started yet.
    fn configure_engine_from(&mut self, fd: i32) {
        if self.ep.is_some() {
            return;
        }
        let Some(Fd::Socket(s)) = self.fds.get(&fd) else {
            return;
        };
        let o = s.opts.clone();
        let v6 = s.v6;
        if let Some(r) = o.rcvbuf {
            // Linux doubles SO_RCVBUF; about half of it is offered as window.
            let r = r.clamp(1, 212_992) as usize;
            self.engine_cfg.recv_buffer = r;
            self.engine_cfg.max_recv_buffer = r;
        }
        if let Some(w) = o.sndbuf {
            self.engine_cfg.send_buffer = (w.clamp(1, 212_992) * 2) as usize;
        }
        if let Some(m) = o.maxseg {
            let m = m.clamp(88, 65_535) as u16;
            let base = if v6 { m.saturating_add(20) } else { m };
            self.engine_cfg.mss = self.engine_cfg.mss.min(base);
        }
    }

    fn sys_listen(&mut self, fd: i32, backlog: i64) -> SysResult {
        let s = match self.sock(fd) {
            Ok(s) => s.clone(),
            Err(e) => return e,
        };
        match s.kind {
            Kind::Listener(_) => return SysResult::ok(0),
            Kind::Conn(_) => return SysResult::err("EINVAL"),
            Kind::Fresh => {}
        }
        self.configure_engine_from(fd);
        let local = s
            .bound
            .unwrap_or_else(|| self.default_local(self.cfg.bind_port));
        let backlog = u32::try_from(backlog.max(0)).unwrap_or(u32::MAX);
        match self.ep().listen(local, backlog) {
            Ok(l) => {
                if let Some(s) = self.sock_mut(fd) {
                    s.kind = Kind::Listener(l);
                    s.bound = Some(local);
                }
                match self.sut.as_mut() {
                    Some(sut) if sut.fd == Some(fd) => sut.state = SutState::PassiveListening,
                    _ => self.sut = Some(Sut::new(SutState::PassiveListening, Some(fd))),
                }
                SysResult::ok(0)
            }
            Err(e) => SysResult::engine(e),
        }
    }

    fn sys_connect(&mut self, fd: i32, addr: &Expr) -> Result<Built, String> {
        let s = match self.sock(fd) {
            Ok(s) => s.clone(),
            Err(e) => return Ok(Built::Done(e)),
        };
        match (s.state, s.kind) {
            (SockState::Connected, _) => return Ok(Built::Done(SysResult::err("EISCONN"))),
            (_, Kind::Listener(_)) => return Ok(Built::Done(SysResult::err("EISCONN"))),
            (SockState::Connecting, Kind::Conn(_)) => {
                return Ok(Built::Op(Op::Connect {
                    fd,
                    blocking: !s.nonblock,
                }))
            }
            _ => {}
        }
        let remote = sockaddr(
            addr,
            SocketAddr::new(self.cfg.remote_ip, self.cfg.connect_port),
        )?;
        self.configure_engine_from(fd);
        let now = self.instant();
        let r = self.ep().connect(now, remote, s.bound);
        match r {
            Ok(h) => {
                self.apply_conn_opts(h, &s.opts);
                if let Some(s) = self.sock_mut(fd) {
                    s.kind = Kind::Conn(h);
                    s.state = SockState::Connecting;
                }
                let mut sut = Sut::new(SutState::ActiveConnecting, Some(fd));
                sut.live_remote = Some(remote);
                self.sut = Some(sut);
                self.collect();
                if s.nonblock {
                    Ok(Built::Done(SysResult::err("EINPROGRESS")))
                } else {
                    Ok(Built::Op(Op::Connect { fd, blocking: true }))
                }
            }
            Err(e) => Ok(Built::Done(SysResult::engine(e))),
        }
    }

    fn sys_close(&mut self, fd: i32) -> SysResult {
        let Some(Fd::Socket(s)) = self.fds.remove(&fd) else {
            return SysResult::err("EBADF");
        };
        let now = self.instant();
        match s.kind {
            Kind::Fresh => {}
            Kind::Listener(l) => {
                let _ = self.ep().close_listener(now, l);
            }
            Kind::Conn(h) => {
                let abort = matches!(s.opts.linger, Some((on, 0)) if on != 0);
                let r = if abort {
                    self.ep().abort(now, h)
                } else {
                    self.ep().close(now, h)
                };
                if let Err(e) = r {
                    self.note(format!("engine close failed: {e}"));
                }
                self.sk_err.remove(&h);
            }
        }
        self.collect();
        SysResult::ok(0)
    }

    fn sys_shutdown(&mut self, fd: i32, how: i64) -> SysResult {
        let s = match self.sock(fd) {
            Ok(s) => s.clone(),
            Err(e) => return e,
        };
        if !(0..=2).contains(&how) {
            return SysResult::err("EINVAL");
        }
        let rd = how == 0 || how == 2;
        let wr = how == 1 || how == 2;
        match s.kind {
            Kind::Fresh => return SysResult::err("ENOTCONN"),
            Kind::Listener(l) => {
                if rd {
                    let now = self.instant();
                    let _ = self.ep().close_listener(now, l);
                    if let Some(s) = self.sock_mut(fd) {
                        s.kind = Kind::Fresh;
                    }
                    self.collect();
                }
                return SysResult::ok(0);
            }
            Kind::Conn(h) => {
                let state = self.ep().state(h).unwrap_or(State::Closed);
                if state == State::Closed {
                    return SysResult::err("ENOTCONN");
                }
                if wr {
                    let now = self.instant();
                    if let Err(e) = self.ep().shutdown(now, h) {
                        return SysResult::engine(e);
                    }
                }
                if let Some(s) = self.sock_mut(fd) {
                    s.shut_rd |= rd;
                    s.shut_wr |= wr;
                }
                self.collect();
            }
        }
        SysResult::ok(0)
    }

    fn sys_setsockopt(
        &mut self,
        fd: i32,
        level: i64,
        name: i64,
        val: &Expr,
    ) -> Result<SysResult, String> {
        let linger = match val {
            Expr::Struct(fields) => {
                let on = struct_field(fields, "onoff").map(eval_int).transpose()?;
                let secs = struct_field(fields, "linger").map(eval_int).transpose()?;
                match (on, secs) {
                    (Some(on), Some(secs)) => Some((on, secs)),
                    _ => return Err("unsupported setsockopt value type: a struct".into()),
                }
            }
            _ => None,
        };
        let int_val = if linger.is_none() {
            Some(bracketed(val)?)
        } else {
            None
        };
        let kind = match self.sock(fd) {
            Ok(s) => s.kind,
            Err(e) => return Ok(e),
        };
        let Some(s) = self.sock_mut(fd) else {
            return Ok(SysResult::err("EBADF"));
        };
        let v = int_val.unwrap_or(0);
        match (level, name) {
            (1, 2) => s.opts.reuseaddr = i64::from(v != 0),
            (1, 9) => s.opts.keepalive = i64::from(v != 0),
            (1, 13) => match linger {
                Some(l) => s.opts.linger = Some(l),
                None => return Ok(SysResult::err("EINVAL")),
            },
            (1, 8) => s.opts.rcvbuf = Some(v),
            (1, 7) => s.opts.sndbuf = Some(v),
            (1, 15) => {}
            (6, 1) => {
                s.opts.nodelay = i64::from(v != 0);
                if let Kind::Conn(h) = kind {
                    let now = self.instant();
                    let _ = self.ep().set_nodelay(now, h, v != 0);
                    self.collect();
                }
            }
            (6, 3) => {
                s.opts.cork = i64::from(v != 0);
                if let Kind::Conn(h) = kind {
                    let now = self.instant();
                    let _ = self.ep().set_cork(now, h, v != 0);
                    self.collect();
                }
            }
            (6, 2) => {
                if !(88..=32767).contains(&v) && v != 0 {
                    return Ok(SysResult::err("EINVAL"));
                }
                s.opts.maxseg = Some(v);
            }
            (6, 4) | (6, 5) => {
                if !(1..=32767).contains(&v) {
                    return Ok(SysResult::err("EINVAL"));
                }
                if name == 4 {
                    s.opts.keepidle = v;
                } else {
                    s.opts.keepintvl = v;
                }
            }
            (6, 6) => {
                if !(1..=127).contains(&v) {
                    return Ok(SysResult::err("EINVAL"));
                }
                s.opts.keepcnt = v;
            }
            (6, 18) => {
                if v < 0 {
                    return Ok(SysResult::err("EINVAL"));
                }
                s.opts.user_timeout = v;
            }
            (1, _) | (6, _) => return Ok(SysResult::err("ENOPROTOOPT")),
            _ => return Ok(SysResult::err("ENOPROTOOPT")),
        }
        // Keepalive and the user timeout act on a connection at once, as on Linux.
        if let (Kind::Conn(h), (1, 9) | (6, 4..=6) | (6, 18)) = (kind, (level, name)) {
            let opts = match self.sock(fd) {
                Ok(s) => s.opts.clone(),
                Err(e) => return Ok(e),
            };
            if name == 18 {
                self.apply_user_timeout(h, &opts);
            } else if opts.keepalive != 0 || name == 9 {
                self.apply_keepalive(h, &opts);
            }
            self.collect();
        }
        Ok(SysResult::ok(0))
    }

    /// Applies a new connection's socket options (those an accepted socket inherits from its
    /// listener, or set before `connect`) to the engine.
    fn apply_conn_opts(&mut self, h: ConnHandle, opts: &SockOpts) {
        if opts.nodelay != 0 {
            let now = self.instant();
            let _ = self.ep().set_nodelay(now, h, true);
        }
        if opts.cork != 0 {
            let now = self.instant();
            let _ = self.ep().set_cork(now, h, true);
        }
        if opts.user_timeout > 0 {
            self.apply_user_timeout(h, opts);
        }
        if opts.keepalive != 0 {
            self.apply_keepalive(h, opts);
        }
    }

    /// Gives a connection the socket's `TCP_USER_TIMEOUT` (0: none).
    fn apply_user_timeout(&mut self, h: ConnHandle, opts: &SockOpts) {
        let t = (opts.user_timeout > 0)
            .then(|| Duration::from_millis(opts.user_timeout.unsigned_abs()));
        let _ = self.ep().set_user_timeout(h, t);
    }

    /// Turns a connection's keepalive on or off as `SO_KEEPALIVE` says, with the socket's
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT`.
    fn apply_keepalive(&mut self, h: ConnHandle, opts: &SockOpts) {
        let now = self.instant();
        let ka = (opts.keepalive != 0).then(|| keepalive_of(opts));
        let _ = self.ep().set_keepalive(now, h, ka);
    }

    fn sys_getsockopt(
        &mut self,
        fd: i32,
        level: i64,
        name: i64,
        val: &Expr,
        len: &Expr,
    ) -> Result<SysResult, String> {
        let s = match self.sock(fd) {
            Ok(s) => s.clone(),
            Err(e) => return Ok(e),
        };
        let conn = match s.kind {
            Kind::Conn(h) => Some(h),
            _ => None,
        };
        enum Val {
            Int(i64),
            Linger(i64, i64),
        }
        let actual = match (level, name) {
            (1, 2) => Val::Int(s.opts.reuseaddr),
            (1, 3) => Val::Int(1),
            (1, 4) => {
                let e = conn.and_then(|h| self.sk_err.remove(&h));
                Val::Int(e.map_or(0, |e| i64::from(errno_value(errno_of(e)).unwrap_or(0))))
            }
            (1, 9) => Val::Int(s.opts.keepalive),
            (1, 13) => {
                let (on, l) = s.opts.linger.unwrap_or((0, 0));
                Val::Linger(on, l)
            }
            (1, 8) => Val::Int(
                s.opts
                    .rcvbuf
                    .map_or(131_072, |r| (r.min(212_992) * 2).max(2304)),
            ),
            (1, 7) => Val::Int(
                s.opts
                    .sndbuf
                    .map_or(16_384, |r| (r.min(212_992) * 2).max(4608)),
            ),
            (1, 30) => Val::Int(i64::from(matches!(s.kind, Kind::Listener(_)))),
            (6, 1) => Val::Int(s.opts.nodelay),
            (6, 3) => Val::Int(s.opts.cork),
            (6, 2) => {
                let state = conn.and_then(|h| self.ep.as_ref().and_then(|ep| ep.state(h).ok()));
                match (conn, state) {
                    (Some(h), Some(st)) if st != State::Closed && st != State::SynSent => {
                        let mss = self
                            .ep
                            .as_ref()
                            .and_then(|ep| ep.info(h).ok())
                            .map_or(536, |i| i64::from(i.snd_mss));
                        Val::Int(mss)
                    }
                    _ => Val::Int(s.opts.maxseg.filter(|m| *m != 0).unwrap_or(536)),
                }
            }
            (6, 4) => Val::Int(s.opts.keepidle),
            (6, 5) => Val::Int(s.opts.keepintvl),
            (6, 6) => Val::Int(s.opts.keepcnt),
            (6, 18) => Val::Int(s.opts.user_timeout),
            _ => return Ok(SysResult::err("ENOPROTOOPT")),
        };
        let script_len = bracketed(len)?;
        let mut r = SysResult::ok(0);
        match actual {
            Val::Int(v) => {
                if script_len != 4 {
                    r.extra = Some(format!(
                        "Bad getsockopt optlen: expected: {script_len} actual: 4"
                    ));
                } else if !matches!(val, Expr::Ellipsis) {
                    let want = bracketed(val)?;
                    if want != v {
                        r.extra = Some(format!(
                            "Bad getsockopt optval: expected: {want} actual: {v}"
                        ));
                    }
                }
            }
            Val::Linger(on, l) => {
                if script_len != 8 {
                    r.extra = Some(format!(
                        "Bad getsockopt optlen: expected: {script_len} actual: 8"
                    ));
                } else if let Expr::Struct(fields) = val {
                    let won = struct_field(fields, "onoff").map(eval_int).transpose()?;
                    let wl = struct_field(fields, "linger").map(eval_int).transpose()?;
                    if won != Some(on) || wl != Some(l) {
                        r.extra = Some(format!(
                            "Bad getsockopt linger: expected: {{onoff={}, linger={}}} actual: \
                             {{onoff={on}, linger={l}}}",
                            won.unwrap_or(-1),
                            wl.unwrap_or(-1)
                        ));
                    }
                }
            }
        }
        Ok(r)
    }

    fn sys_fcntl(&mut self, fd: i32, cmd: i64, val: Option<i64>) -> Result<SysResult, String> {
        let Some(s) = self.sock_mut(fd) else {
            return Ok(SysResult::err("EBADF"));
        };
        Ok(match cmd {
            3 => SysResult::ok(2 | if s.nonblock { 0o4000 } else { 0 }),
            4 => {
                let v = val.ok_or("F_SETFL needs a value")?;
                s.nonblock = v & 0o4000 != 0;
                SysResult::ok(0)
            }
            1 => SysResult::ok(0),
            2 => SysResult::ok(0),
            _ => return Err(format!("unsupported fcntl command {cmd}")),
        })
    }

    // ----- calls that may wait -------------------------------------------------------------------

    /// Tries to complete `op` now: `Ok(None)` means it must wait (only for blocking sockets).
    pub(crate) fn attempt(&mut self, op: &mut Op) -> Result<Option<SysResult>, String> {
        match op {
            Op::Accept {
                fd,
                new_fd,
                blocking,
            } => {
                let s = match self.sock(*fd) {
                    Ok(s) => s.clone(),
                    Err(e) => return Ok(Some(e)),
                };
                let Kind::Listener(l) = s.kind else {
                    return Ok(Some(SysResult::err("EINVAL")));
                };
                match self.ep().accept(l) {
                    Ok(h) => {
                        if *new_fd < 0 || self.fds.contains_key(new_fd) {
                            // The script expected a failure or named a busy fd: report the
                            // success with a fresh number.
                            let n = (3..).find(|n| !self.fds.contains_key(n)).unwrap_or(1000);
                            *new_fd = n;
                        }
                        let mut opts = s.opts.clone();
                        opts.linger = s.opts.linger;
                        self.apply_conn_opts(h, &opts);
                        self.fds.insert(
                            *new_fd,
                            Fd::Socket(Sock {
                                v6: s.v6,
                                nonblock: false,
                                bound: s.bound,
                                kind: Kind::Conn(h),
                                state: SockState::Connected,
                                shut_rd: false,
                                shut_wr: false,
                                opts,
                            }),
                        );
                        if let Some(sut) = self.sut.as_mut() {
                            if sut.fd.is_none() {
                                sut.fd = Some(*new_fd);
                            }
                        }
                        self.collect();
                        Ok(Some(SysResult::ok(i64::from(*new_fd))))
                    }
                    Err(Error::WouldBlock) if *blocking => Ok(None),
                    Err(e) => Ok(Some(SysResult::engine(e))),
                }
            }
            Op::Connect { fd, blocking } => {
                let s = match self.sock(*fd) {
                    Ok(s) => s.clone(),
                    Err(e) => return Ok(Some(e)),
                };
                let Kind::Conn(h) = s.kind else {
                    return Ok(Some(SysResult::err("EBADF")));
                };
                let state = self.ep().state(h).unwrap_or(State::Closed);
                match state {
                    State::SynSent | State::SynReceived => {
                        if *blocking {
                            Ok(None)
                        } else {
                            Ok(Some(SysResult::err("EALREADY")))
                        }
                    }
                    State::Closed
                        if !self.connected.contains(&h) || self.sk_err.contains_key(&h) =>
                    {
                        let e = self.sk_err.remove(&h);
                        if let Some(s) = self.sock_mut(*fd) {
                            s.state = SockState::Unconnected;
                        }
                        Ok(Some(match e {
                            Some(e) => SysResult::engine(e),
                            None => SysResult::err("ECONNABORTED"),
                        }))
                    }
                    _ => {
                        if let Some(s) = self.sock_mut(*fd) {
                            s.state = SockState::Connected;
                        }
                        Ok(Some(SysResult::ok(0)))
                    }
                }
            }
            Op::Read {
                fd,
                len,
                blocking,
                peek,
            } => {
                let s = match self.sock(*fd) {
                    Ok(s) => s.clone(),
                    Err(e) => return Ok(Some(e)),
                };
                let Kind::Conn(h) = s.kind else {
                    return Ok(Some(SysResult::err("ENOTCONN")));
                };
                if s.shut_rd && self.ep().recv_available(h).unwrap_or(0) == 0 {
                    return Ok(Some(SysResult::ok(0)));
                }
                let mut buf = vec![0u8; (*len).min(MAX_CHUNK)];
                let now = self.instant();
                let r = if *peek {
                    self.ep().peek(h, &mut buf)
                } else {
                    self.ep().recv(now, h, &mut buf)
                };
                self.collect();
                match r {
                    Ok(n) => Ok(Some(SysResult::ok(n as i64))),
                    Err(Error::WouldBlock) if *blocking => Ok(None),
                    Err(Error::WouldBlock) => Ok(Some(SysResult::err("EAGAIN"))),
                    Err(e) => match self.sk_err.remove(&h) {
                        Some(err) => Ok(Some(SysResult::engine(err))),
                        None if e == Error::InvalidHandle => Ok(Some(SysResult::err("EBADF"))),
                        None => {
                            let _ = e;
                            Ok(Some(SysResult::ok(0)))
                        }
                    },
                }
            }
            Op::Write {
                fd,
                total,
                done,
                blocking,
                eor,
                more,
            } => {
                let s = match self.sock(*fd) {
                    Ok(s) => s.clone(),
                    Err(e) => return Ok(Some(e)),
                };
                let Kind::Conn(h) = s.kind else {
                    return Ok(Some(SysResult::err("EPIPE")));
                };
                if let Some(e) = self.sk_err.remove(&h) {
                    return Ok(Some(progress_or(*done, SysResult::engine(e))));
                }
                if s.shut_wr {
                    return Ok(Some(progress_or(*done, SysResult::err("EPIPE"))));
                }
                let state = self.ep().state(h).unwrap_or(State::Closed);
                if matches!(state, State::SynSent | State::SynReceived) {
                    // Linux sk_stream_wait_connect: wait for the handshake.
                    return Ok(if *blocking {
                        None
                    } else {
                        Some(SysResult::err("EAGAIN"))
                    });
                }
                if *total == 0 {
                    return Ok(Some(SysResult::ok(0)));
                }
                let zeros = vec![0u8; (*total - *done).min(MAX_CHUNK)];
                let now = self.instant();
                // MSG_EOR ends a record when the whole message is taken (Linux
                // tcp_sendmsg_locked marks the last buffer once nothing of it is left).
                let flags = SendFlags {
                    eor: *eor && *done + zeros.len() == *total,
                    more: *more,
                };
                let r = self.ep().send_with(now, h, &zeros, flags);
                self.collect();
                match r {
                    Ok(n) => {
                        *done += n;
                        if *done >= *total || !*blocking {
                            Ok(Some(SysResult::ok(*done as i64)))
                        } else {
                            Ok(None)
                        }
                    }
                    Err(Error::WouldBlock) if *blocking => Ok(None),
                    Err(Error::WouldBlock) => {
                        Ok(Some(progress_or(*done, SysResult::err("EAGAIN"))))
                    }
                    Err(e) => {
                        // Linux sk_stream_error(): the pending socket error once, then EPIPE.
                        let r = match self.sk_err.remove(&h) {
                            Some(err) => SysResult::engine(err),
                            None if e == Error::InvalidHandle => SysResult::err("EBADF"),
                            None => SysResult::err("EPIPE"),
                        };
                        Ok(Some(progress_or(*done, r)))
                    }
                }
            }
            Op::Poll { items, deadline } => {
                let mut ready = 0;
                let mut mismatch = None;
                let mut revents_all = Vec::new();
                for it in items.iter() {
                    let r = self.poll_revents(it.fd, it.events);
                    if r != 0 {
                        ready += 1;
                    }
                    revents_all.push(r);
                }
                let timed_out = deadline.is_some_and(|d| self.now >= d);
                if ready == 0 && !timed_out {
                    return Ok(None);
                }
                for (i, (it, r)) in items.iter().zip(revents_all).enumerate() {
                    if r != it.expected && mismatch.is_none() {
                        mismatch = Some(format!(
                            "Expected revents of {} but got {} for pollfd {i}",
                            symbols::poll_flags(it.expected),
                            symbols::poll_flags(r)
                        ));
                    }
                }
                Ok(Some(SysResult {
                    ret: ready,
                    errno: 0,
                    extra: mismatch,
                }))
            }
        }
    }

    /// Linux `tcp_poll` / `inet_csk_listen_poll`, masked as `poll()` masks it.
    fn poll_revents(&mut self, fd: i32, events: i64) -> i64 {
        const IN: i64 = 0x1 | 0x40;
        const OUT: i64 = 0x4 | 0x100;
        const ERR: i64 = 0x8;
        const HUP: i64 = 0x10;
        const RDHUP: i64 = 0x2000;
        let s = match self.sock(fd) {
            Ok(s) => s.clone(),
            Err(_) => return 0x20,
        };
        let mut mask = 0i64;
        match s.kind {
            Kind::Fresh => mask |= HUP | OUT,
            Kind::Listener(l) => {
                if self.ep().accept_queue_len(l).unwrap_or(0) > 0 {
                    mask |= IN;
                }
            }
            Kind::Conn(h) => {
                let state = self.ep().state(h).unwrap_or(State::Closed);
                let eof = self.ep().is_eof(h).unwrap_or(true);
                let avail = self.ep().recv_available(h).unwrap_or(0);
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
                    if !snd_shut {
                        let cap = self.ep().send_capacity(h).unwrap_or(0);
                        let queued = self.ep().info(h).map(|i| i.send_buffered).unwrap_or(0);
                        if cap > 0 && queued * 3 <= (cap + queued) * 2 {
                            mask |= OUT;
                        }
                    } else {
                        mask |= OUT;
                    }
                }
                if self.sk_err.contains_key(&h) {
                    mask |= ERR;
                }
            }
        }
        mask & (events | ERR | HUP)
    }
}

/// A write that already moved some bytes returns their count rather than the error.
fn progress_or(done: usize, r: SysResult) -> SysResult {
    if done > 0 {
        SysResult::ok(done as i64)
    } else {
        r
    }
}

/// The total length of an iovec array `[{..., 100}, {..., 200}]`.
fn iov_len(e: &Expr) -> Result<i64, String> {
    let Expr::List(items) = e else {
        return Err("expected an iovec array".into());
    };
    let mut total = 0;
    for it in items {
        match it {
            Expr::Struct(f) if f.len() == 2 => total = eval_int(&f[1])?.saturating_add(total),
            _ => return Err("expected an iovec {..., len}".into()),
        }
    }
    Ok(total)
}

/// The engine's keepalive settings for a socket's `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and
/// `TCP_KEEPCNT` (seconds, seconds, probes; validated when set).
fn keepalive_of(opts: &SockOpts) -> Keepalive {
    Keepalive {
        idle: Duration::from_secs(opts.keepidle.clamp(1, 32767).unsigned_abs()),
        interval: Duration::from_secs(opts.keepintvl.clamp(1, 32767).unsigned_abs()),
        probes: opts.keepcnt.clamp(1, 127) as u8,
    }
}
