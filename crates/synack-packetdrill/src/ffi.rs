//! The C ABI: `struct packetdrill_interface` and the functions that fill it.
//!
//! This is the only module with `unsafe` code besides `sys`: it turns the raw pointers
//! packetdrill passes into slices and values, calls the safe [`Stack`], and turns the result
//! into a return value and `errno`. Every function catches panics (a caught panic returns -1
//! with `EIO`), checks its pointers for null, and never trusts a length beyond what the caller
//! said its buffer holds.

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_ulong, c_void, CStr};
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use libc::{
    epoll_event, iovec, loff_t, msghdr, nfds_t, pollfd, sockaddr, sockaddr_in, sockaddr_in6,
    socklen_t, ssize_t, timeval, timezone, useconds_t,
};

use crate::errno::Errno;
use crate::flags::Settings;
use crate::socket::{PollFd, SockAddr, TCP_INQ};
use crate::stack::Stack;
use crate::sysctl::Sysctls;

/// `void (*free)(void *userdata)`.
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
/// `int (*socket)(void *userdata, int domain, int type, int protocol)`.
pub type SocketFn = unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int;
/// `int (*bind)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen)`,
/// also the type of `connect`.
pub type BindFn = unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int;
/// `int (*listen)(void *userdata, int sockfd, int backlog)`, also the type of `shutdown`.
pub type ListenFn = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int;
/// `int (*accept)(void *userdata, int sockfd, struct sockaddr *addr, socklen_t *addrlen)`.
pub type AcceptFn =
    unsafe extern "C" fn(*mut c_void, c_int, *mut sockaddr, *mut socklen_t) -> c_int;
/// `ssize_t (*read)(void *userdata, int fd, void *buf, size_t count)`.
pub type ReadFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, usize) -> ssize_t;
/// `ssize_t (*readv)(void *userdata, int fd, const struct iovec *iov, int iovcnt)`, also the
/// type of `writev`.
pub type ReadvFn = unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t;
/// `ssize_t (*recv)(void *userdata, int sockfd, void *buf, size_t len, int flags)`.
pub type RecvFn = unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, usize, c_int) -> ssize_t;
/// `ssize_t (*recvfrom)(void *userdata, int sockfd, void *buf, size_t len, int flags, struct
/// sockaddr *src_addr, socklen_t *addrlen)`.
pub type RecvfromFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *mut c_void,
    usize,
    c_int,
    *mut sockaddr,
    *mut socklen_t,
) -> ssize_t;
/// `ssize_t (*recvmsg)(void *userdata, int sockfd, struct msghdr *msg, int flags)`.
pub type RecvmsgFn = unsafe extern "C" fn(*mut c_void, c_int, *mut msghdr, c_int) -> ssize_t;
/// `ssize_t (*write)(void *userdata, int fd, const void *buf, size_t count)`.
pub type WriteFn = unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize) -> ssize_t;
/// `ssize_t (*send)(void *userdata, int sockfd, const void *buf, size_t len, int flags)`.
pub type SendFn = unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize, c_int) -> ssize_t;
/// `ssize_t (*sendto)(void *userdata, int sockfd, const void *buf, size_t len, int flags, const
/// struct sockaddr *dest_addr, socklen_t addrlen)`.
pub type SendtoFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *const c_void,
    usize,
    c_int,
    *const sockaddr,
    socklen_t,
) -> ssize_t;
/// `ssize_t (*sendmsg)(void *userdata, int sockfd, const struct msghdr *msg, int flags)`.
pub type SendmsgFn = unsafe extern "C" fn(*mut c_void, c_int, *const msghdr, c_int) -> ssize_t;
/// `int (*fcntl)(void *userdata, int fd, int cmd, ...)`.
pub type FcntlFn = unsafe extern "C" fn(*mut c_void, c_int, c_int, ...) -> c_int;
/// `int (*ioctl)(void *userdata, int fd, unsigned long request, ...)`.
pub type IoctlFn = unsafe extern "C" fn(*mut c_void, c_int, c_ulong, ...) -> c_int;
/// `int (*close)(void *userdata, int fd)`.
pub type CloseFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
/// `int (*getsockopt)(void *userdata, int sockfd, int level, int optname, void *optval,
/// socklen_t *optlen)`.
pub type GetsockoptFn =
    unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;
/// `int (*setsockopt)(void *userdata, int sockfd, int level, int optname, const void *optval,
/// socklen_t optlen)`.
pub type SetsockoptFn =
    unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
/// `int (*poll)(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout)`.
pub type PollFn = unsafe extern "C" fn(*mut c_void, *mut pollfd, nfds_t, c_int) -> c_int;
/// `int (*netdev_send)(void *userdata, const void *buf, size_t count)`.
pub type NetdevSendFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int;
/// `int (*netdev_receive)(void *userdata, void *buf, size_t *count, long long *time_usecs)`.
pub type NetdevReceiveFn =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut usize, *mut c_longlong) -> c_int;
/// `int (*usleep)(void *userdata, useconds_t usec)`.
pub type UsleepFn = unsafe extern "C" fn(*mut c_void, useconds_t) -> c_int;
/// `int (*gettimeofday)(void *userdata, struct timeval *tv, struct timezone *tz)`.
pub type GettimeofdayFn = unsafe extern "C" fn(*mut c_void, *mut timeval, *mut timezone) -> c_int;
/// `int (*epoll_create)(void *userdata, int size)`.
pub type EpollCreateFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
/// `int (*epoll_ctl)(void *userdata, int epfd, int op, int fd, struct epoll_event *event)`.
pub type EpollCtlFn =
    unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut epoll_event) -> c_int;
/// `int (*epoll_wait)(void *userdata, int epfd, struct epoll_event *events, int maxevents, int
/// timeout)`.
pub type EpollWaitFn =
    unsafe extern "C" fn(*mut c_void, c_int, *mut epoll_event, c_int, c_int) -> c_int;
/// `int (*pipe)(void *userdata, int pipefd[2])`.
pub type PipeFn = unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int;
/// `int (*splice)(void *userdata, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
/// size_t len, unsigned int flags)`.
pub type SpliceFn = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *mut loff_t,
    c_int,
    *mut loff_t,
    usize,
    c_uint,
) -> c_int;

/// `struct packetdrill_interface` of packetdrill's `packetdrill.h`, field for field. A field is
/// an `Option` of a function pointer (null when `None`), which has the layout of the C function
/// pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PacketdrillInterface {
    /// The stack, passed back as the first argument of every function.
    pub userdata: *mut c_void,
    /// Frees the stack.
    pub free: Option<FreeFn>,
    /// `socket`.
    pub socket: Option<SocketFn>,
    /// `bind`.
    pub bind: Option<BindFn>,
    /// `listen`.
    pub listen: Option<ListenFn>,
    /// `accept`.
    pub accept: Option<AcceptFn>,
    /// `connect`.
    pub connect: Option<BindFn>,
    /// `read`.
    pub read: Option<ReadFn>,
    /// `readv`.
    pub readv: Option<ReadvFn>,
    /// `recv`.
    pub recv: Option<RecvFn>,
    /// `recvfrom`.
    pub recvfrom: Option<RecvfromFn>,
    /// `recvmsg`.
    pub recvmsg: Option<RecvmsgFn>,
    /// `write`.
    pub write: Option<WriteFn>,
    /// `writev`.
    pub writev: Option<ReadvFn>,
    /// `send`.
    pub send: Option<SendFn>,
    /// `sendto`.
    pub sendto: Option<SendtoFn>,
    /// `sendmsg`.
    pub sendmsg: Option<SendmsgFn>,
    /// `fcntl`.
    pub fcntl: Option<FcntlFn>,
    /// `ioctl`.
    pub ioctl: Option<IoctlFn>,
    /// `close`.
    pub close: Option<CloseFn>,
    /// `shutdown`.
    pub shutdown: Option<ListenFn>,
    /// `getsockopt`.
    pub getsockopt: Option<GetsockoptFn>,
    /// `setsockopt`.
    pub setsockopt: Option<SetsockoptFn>,
    /// `poll`.
    pub poll: Option<PollFn>,
    /// Injects an IP datagram into the stack.
    pub netdev_send: Option<NetdevSendFn>,
    /// Takes the next IP datagram the stack sent.
    pub netdev_receive: Option<NetdevReceiveFn>,
    /// Lets virtual time pass.
    pub usleep: Option<UsleepFn>,
    /// Reads the virtual clock.
    pub gettimeofday: Option<GettimeofdayFn>,
    /// `epoll_create` (not supported: `ENOSYS`).
    pub epoll_create: Option<EpollCreateFn>,
    /// `epoll_ctl` (not supported: `ENOSYS`).
    pub epoll_ctl: Option<EpollCtlFn>,
    /// `epoll_wait` (not supported: `ENOSYS`).
    pub epoll_wait: Option<EpollWaitFn>,
    /// `pipe` (not supported: `ENOSYS`).
    pub pipe: Option<PipeFn>,
    /// `splice` (not supported: `ENOSYS`).
    pub splice: Option<SpliceFn>,
}

impl Default for PacketdrillInterface {
    fn default() -> Self {
        PacketdrillInterface {
            userdata: ptr::null_mut(),
            free: None,
            socket: None,
            bind: None,
            listen: None,
            accept: None,
            connect: None,
            read: None,
            readv: None,
            recv: None,
            recvfrom: None,
            recvmsg: None,
            write: None,
            writev: None,
            send: None,
            sendto: None,
            sendmsg: None,
            fcntl: None,
            ioctl: None,
            close: None,
            shutdown: None,
            getsockopt: None,
            setsockopt: None,
            poll: None,
            netdev_send: None,
            netdev_receive: None,
            usleep: None,
            gettimeofday: None,
            epoll_create: None,
            epoll_ctl: None,
            epoll_wait: None,
            pipe: None,
            splice: None,
        }
    }
}

/// Largest `iovcnt` Linux accepts (`UIO_MAXIOV`).
const UIO_MAXIOV: usize = 1024;

fn set_errno(e: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for writes for
    // the life of the thread.
    unsafe {
        *libc::__errno_location() = e;
    }
}

/// Runs `f`, turning a panic into `fail` with `errno` `EIO`.
fn guard<R>(fail: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            set_errno(Errno::IO.0);
            fail
        }
    }
}

/// The stack behind `userdata`.
///
/// # Safety
/// `ud` must be null or the pointer `packetdrill_interface_init` stored, not yet freed.
unsafe fn stack<'a>(ud: *mut c_void) -> Result<&'a Stack, Errno> {
    if ud.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: by the contract above `ud` came from `Box::into_raw(Box<Stack>)` and is live;
    // `Stack` is `Sync`, so shared references from several threads are fine.
    Ok(unsafe { &*(ud as *const Stack) })
}

fn int_result(r: Result<i32, Errno>) -> c_int {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

fn size_result(r: Result<usize, Errno>) -> ssize_t {
    match r {
        Ok(v) => ssize_t::try_from(v).unwrap_or(ssize_t::MAX),
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

/// A read-only byte slice from a C buffer (empty when `len` is 0, `EFAULT` when null).
///
/// # Safety
/// A non-null `p` must point to `len` readable bytes that stay valid and unchanged by others for
/// `'a`.
unsafe fn bytes<'a>(p: *const c_void, len: usize) -> Result<&'a [u8], Errno> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > isize::MAX as usize {
        return Err(Errno::FAULT);
    }
    // SAFETY: non-null, and by the contract above valid for `len` bytes for 'a.
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

/// A writable byte slice from a C buffer (empty when `len` is 0, `EFAULT` when null).
///
/// # Safety
/// A non-null `p` must point to `len` writable bytes that nobody else uses for `'a`.
unsafe fn bytes_mut<'a>(p: *mut c_void, len: usize) -> Result<&'a mut [u8], Errno> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() || len > isize::MAX as usize {
        return Err(Errno::FAULT);
    }
    // SAFETY: non-null, and by the contract above valid and exclusive for `len` bytes for 'a.
    Ok(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
}

/// The `iovec` array as read-only slices.
///
/// # Safety
/// `iov` must point to `cnt` `iovec`s, each describing a readable buffer, valid for `'a`.
unsafe fn iov_slices<'a>(iov: *const iovec, cnt: usize) -> Result<Vec<&'a [u8]>, Errno> {
    if cnt > UIO_MAXIOV {
        return Err(Errno::INVAL);
    }
    if cnt == 0 {
        return Ok(Vec::new());
    }
    if iov.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: `iov` is non-null and points to `cnt` iovecs by the contract above.
    let iovs = unsafe { std::slice::from_raw_parts(iov, cnt) };
    iovs.iter()
        // SAFETY: each iovec describes a readable buffer by the contract above.
        .map(|v| unsafe { bytes(v.iov_base, v.iov_len) })
        .collect()
}

/// The `iovec` array as writable slices.
///
/// # Safety
/// `iov` must point to `cnt` `iovec`s, each describing a writable buffer (none overlapping),
/// valid for `'a`.
unsafe fn iov_slices_mut<'a>(iov: *const iovec, cnt: usize) -> Result<Vec<&'a mut [u8]>, Errno> {
    if cnt > UIO_MAXIOV {
        return Err(Errno::INVAL);
    }
    if cnt == 0 {
        return Ok(Vec::new());
    }
    if iov.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: `iov` is non-null and points to `cnt` iovecs by the contract above.
    let iovs = unsafe { std::slice::from_raw_parts(iov, cnt) };
    iovs.iter()
        // SAFETY: each iovec describes a writable, non-overlapping buffer by the contract above.
        .map(|v| unsafe { bytes_mut(v.iov_base, v.iov_len) })
        .collect()
}

/// `msg_iovlen` (a `size_t` on glibc, an `int` elsewhere) as a count; out of range is too many.
#[allow(clippy::unnecessary_cast)]
fn iovlen(m: &msghdr) -> usize {
    usize::try_from(m.msg_iovlen as u64).unwrap_or(usize::MAX)
}

/// Reads a `struct sockaddr` of `len` bytes.
///
/// # Safety
/// A non-null `addr` must point to `len` readable bytes.
unsafe fn read_sockaddr(addr: *const sockaddr, len: socklen_t) -> Result<SockAddr, Errno> {
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(addr as *const c_void, len as usize)? };
    if raw.len() < 2 {
        return Err(Errno::INVAL);
    }
    let family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    match family {
        libc::AF_INET => {
            if raw.len() < size_of::<sockaddr_in>() {
                return Err(Errno::INVAL);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            Ok(SockAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 => {
            // SIN6_LEN_RFC2133: the scope id may be missing.
            if raw.len() < 24 {
                return Err(Errno::INVAL);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let flowinfo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&raw[8..24]);
            let scope = raw
                .get(24..28)
                .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
            Ok(SockAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a),
                port,
                flowinfo,
                scope,
            )))
        }
        libc::AF_UNSPEC => Ok(SockAddr::Unspec),
        f => Ok(SockAddr::Other(f)),
    }
}

/// The bytes of a `struct sockaddr_in` or `sockaddr_in6` for `a`.
fn sockaddr_bytes(a: SockAddr) -> Vec<u8> {
    match a {
        SockAddr::V4(a) => {
            let mut v = vec![0u8; size_of::<sockaddr_in>()];
            v[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            v[2..4].copy_from_slice(&a.port().to_be_bytes());
            v[4..8].copy_from_slice(&a.ip().octets());
            v
        }
        SockAddr::V6(a) => {
            let mut v = vec![0u8; size_of::<sockaddr_in6>()];
            v[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            v[2..4].copy_from_slice(&a.port().to_be_bytes());
            v[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
            v[8..24].copy_from_slice(&a.ip().octets());
            v[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            v
        }
        SockAddr::Unspec | SockAddr::Other(_) => (libc::AF_UNSPEC as u16).to_ne_bytes().to_vec(),
    }
}

/// Stores `a` as `accept` and `recvfrom` do: as much as `*len` allows, and the full length in
/// `*len`. Nothing when either pointer is null.
///
/// # Safety
/// Non-null `addr` and `len` must be writable, `addr` for `*len` bytes.
unsafe fn write_sockaddr(a: SockAddr, addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let v = sockaddr_bytes(a);
    // SAFETY: `len` is non-null and writable by the contract above.
    let cap = unsafe { len.read_unaligned() } as usize;
    let n = v.len().min(cap);
    // SAFETY: `addr` holds `*len` >= `n` writable bytes by the contract above; `v` is ours.
    unsafe {
        ptr::copy_nonoverlapping(v.as_ptr(), addr as *mut u8, n);
        len.write_unaligned(v.len() as socklen_t);
    }
}

// ----- the functions of the interface --------------------------------------------------------------

unsafe extern "C" fn pd_free(ud: *mut c_void) {
    guard((), || {
        if ud.is_null() {
            return;
        }
        // SAFETY: `ud` is the pointer `packetdrill_interface_init` made with `Box::into_raw`, and
        // packetdrill calls `free` once, after its threads stopped calling in.
        drop(unsafe { Box::from_raw(ud as *mut Stack) });
    })
}

unsafe extern "C" fn pd_socket(
    ud: *mut c_void,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.and_then(|s| s.socket(domain, ty, protocol)))
    })
}

unsafe extern "C" fn pd_bind(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata; `addr` points to `len` bytes per bind(2).
            let (s, a) = unsafe { (stack(ud)?, read_sockaddr(addr, len)?) };
            s.bind(fd, a).map(|()| 0)
        })())
    })
}

unsafe extern "C" fn pd_listen(ud: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.and_then(|s| s.listen(fd, backlog).map(|()| 0)))
    })
}

unsafe extern "C" fn pd_accept(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata packetdrill was given.
            let a = unsafe { stack(ud)? }.accept(fd)?;
            // SAFETY: `addr` and `len` are accept(2)'s result pointers (null or writable).
            unsafe { write_sockaddr(a.peer, addr, len) };
            Ok(a.fd)
        })())
    })
}

unsafe extern "C" fn pd_connect(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata; `addr` points to `len` bytes per connect(2).
            let (s, a) = unsafe { (stack(ud)?, read_sockaddr(addr, len)?) };
            s.connect(fd, a).map(|()| 0)
        })())
    })
}

unsafe extern "C" fn pd_read(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    count: usize,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `count` writable bytes per read(2).
            let (s, b) = unsafe { (stack(ud)?, bytes_mut(buf, count)?) };
            s.recv(fd, &mut [b], 0)
        })())
    })
}

unsafe extern "C" fn pd_readv(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            let cnt = usize::try_from(cnt).map_err(|_| Errno::INVAL)?;
            // SAFETY: `ud` is the userdata; `iov` holds `cnt` iovecs per readv(2).
            let (s, mut v) = unsafe { (stack(ud)?, iov_slices_mut(iov, cnt)?) };
            s.recv(fd, &mut v, 0)
        })())
    })
}

unsafe extern "C" fn pd_recv(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `len` writable bytes per recv(2).
            let (s, b) = unsafe { (stack(ud)?, bytes_mut(buf, len)?) };
            s.recv(fd, &mut [b], flags)
        })())
    })
}

unsafe extern "C" fn pd_recvfrom(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `len` writable bytes per recvfrom(2).
            let (s, b) = unsafe { (stack(ud)?, bytes_mut(buf, len)?) };
            let n = s.recv(fd, &mut [b], flags)?;
            // A TCP socket reports no source address: the length becomes 0.
            if !addr.is_null() && !addrlen.is_null() {
                // SAFETY: `addrlen` is non-null and writable per recvfrom(2).
                unsafe { addrlen.write_unaligned(0) };
            }
            Ok(n)
        })())
    })
}

unsafe extern "C" fn pd_recvmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            if msg.is_null() {
                return Err(Errno::FAULT);
            }
            // SAFETY: `ud` is the userdata; `msg` is a valid msghdr per recvmsg(2), whose iovecs
            // describe writable buffers.
            let (s, m) = unsafe { (stack(ud)?, &mut *msg) };
            // SAFETY: as above.
            let mut v = unsafe { iov_slices_mut(m.msg_iov, iovlen(m))? };
            let n = s.recv(fd, &mut v, flags)?;
            m.msg_namelen = 0;
            m.msg_flags = 0;
            let hint = s.inq_hint(fd)?;
            let room = usize::try_from(m.msg_controllen as u64).unwrap_or(0);
            let mut used = 0;
            if let Some(inq) = hint {
                let control = if m.msg_control.is_null() {
                    &mut [][..]
                } else {
                    // SAFETY: `msg_control` is non-null and holds `msg_controllen` writable
                    // bytes per recvmsg(2).
                    unsafe { bytes_mut(m.msg_control, room)? }
                };
                let (u, cut) = put_cmsg(control, libc::IPPROTO_TCP, TCP_INQ, &inq.to_ne_bytes());
                used = u;
                if cut {
                    m.msg_flags |= libc::MSG_CTRUNC;
                }
            }
            m.msg_controllen = used as _;
            Ok(n)
        })())
    })
}

/// Writes one control message (`struct cmsghdr`, then `data`) at the start of `control` as
/// Linux's `put_cmsg` does: the bytes it takes (`CMSG_SPACE`, or what is left of `control`),
/// and whether it was cut short (`MSG_CTRUNC`: no room for the header drops the message, room
/// for less than `CMSG_LEN` keeps the part that fits).
fn put_cmsg(control: &mut [u8], level: c_int, kind: c_int, data: &[u8]) -> (usize, bool) {
    let header = size_of::<libc::cmsghdr>();
    let align = size_of::<usize>();
    if control.len() < header {
        return (0, true);
    }
    let full = header + data.len();
    let len = full.min(control.len());
    let mut head = Vec::with_capacity(full);
    head.extend_from_slice(&len.to_ne_bytes());
    head.extend_from_slice(&level.to_ne_bytes());
    head.extend_from_slice(&kind.to_ne_bytes());
    head.resize(header, 0);
    head.extend_from_slice(data);
    control[..len].copy_from_slice(&head[..len]);
    let space = header + data.len().div_ceil(align) * align;
    (space.min(control.len()), len < full)
}

unsafe extern "C" fn pd_write(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    count: usize,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `count` readable bytes per write(2).
            let (s, b) = unsafe { (stack(ud)?, bytes(buf, count)?) };
            s.send(fd, &[b], 0)
        })())
    })
}

unsafe extern "C" fn pd_writev(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            let cnt = usize::try_from(cnt).map_err(|_| Errno::INVAL)?;
            // SAFETY: `ud` is the userdata; `iov` holds `cnt` iovecs per writev(2).
            let (s, v) = unsafe { (stack(ud)?, iov_slices(iov, cnt)?) };
            s.send(fd, &v, 0)
        })())
    })
}

unsafe extern "C" fn pd_send(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `len` readable bytes per send(2).
            let (s, b) = unsafe { (stack(ud)?, bytes(buf, len)?) };
            s.send(fd, &[b], flags)
        })())
    })
}

unsafe extern "C" fn pd_sendto(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    _addr: *const sockaddr,
    _addrlen: socklen_t,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `len` readable bytes per sendto(2).
            // TCP ignores the destination of a connected socket.
            let (s, b) = unsafe { (stack(ud)?, bytes(buf, len)?) };
            s.send(fd, &[b], flags)
        })())
    })
}

unsafe extern "C" fn pd_sendmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        size_result((|| {
            if msg.is_null() {
                return Err(Errno::FAULT);
            }
            // SAFETY: `ud` is the userdata; `msg` is a valid msghdr per sendmsg(2), whose iovecs
            // describe readable buffers.
            let (s, m) = unsafe { (stack(ud)?, &*msg) };
            // SAFETY: as above.
            let v = unsafe { iov_slices(m.msg_iov, iovlen(m))? };
            s.send(fd, &v, flags)
        })())
    })
}

/// `fcntl` as defined: the variadic third argument read as the register it arrives in (see
/// [`variadic`]).
unsafe extern "C" fn pd_fcntl(ud: *mut c_void, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guard(-1, || {
        // The argument of F_SETFL and F_SETFD is an int: only its low 32 bits are defined.
        let arg = i64::from(arg as u32 as i32);
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.and_then(|s| s.fcntl(fd, cmd, arg)))
    })
}

/// `ioctl` as defined: the variadic third argument (an `int *`) read as the register it
/// arrives in (see [`variadic`]).
unsafe extern "C" fn pd_ioctl(ud: *mut c_void, fd: c_int, request: c_ulong, arg: c_ulong) -> c_int {
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata packetdrill was given.
            let s = unsafe { stack(ud)? };
            let p = arg as usize as *mut c_int;
            let input = if p.is_null() {
                None
            } else {
                // SAFETY: the requests this stack knows take an `int *`, which the caller
                // passes valid for reading and writing an int.
                Some(unsafe { p.read_unaligned() })
            };
            if let Some(v) = s.ioctl(fd, request, input)? {
                if p.is_null() {
                    return Err(Errno::FAULT);
                }
                // SAFETY: as above.
                unsafe { p.write_unaligned(v) };
            }
            Ok(0)
        })())
    })
}

unsafe extern "C" fn pd_close(ud: *mut c_void, fd: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.and_then(|s| s.close(fd).map(|()| 0)))
    })
}

unsafe extern "C" fn pd_shutdown(ud: *mut c_void, fd: c_int, how: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.and_then(|s| s.shutdown(fd, how).map(|()| 0)))
    })
}

unsafe extern "C" fn pd_getsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            if len.is_null() {
                return Err(Errno::FAULT);
            }
            // SAFETY: `len` is non-null and points to the caller's socklen_t per getsockopt(2).
            let cap = unsafe { len.read_unaligned() };
            let cap = usize::try_from(cap as i32).map_err(|_| Errno::INVAL)?;
            // SAFETY: `ud` is the userdata; `val` holds `*len` writable bytes per getsockopt(2).
            let (s, out) = unsafe { (stack(ud)?, bytes_mut(val, cap)?) };
            let n = s.getsockopt(fd, level, name, out)?;
            // SAFETY: as above.
            unsafe { len.write_unaligned(n as socklen_t) };
            Ok(0)
        })())
    })
}

unsafe extern "C" fn pd_setsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            let len = usize::try_from(len as i32).map_err(|_| Errno::INVAL)?;
            // SAFETY: `ud` is the userdata; `val` holds `len` readable bytes per setsockopt(2).
            let (s, v) = unsafe { (stack(ud)?, bytes(val, len)?) };
            s.setsockopt(fd, level, name, v).map(|()| 0)
        })())
    })
}

unsafe extern "C" fn pd_poll(
    ud: *mut c_void,
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            let n = usize::try_from(nfds).map_err(|_| Errno::INVAL)?;
            if n > 1 << 20 {
                return Err(Errno::INVAL);
            }
            // SAFETY: `ud` is the userdata packetdrill was given.
            let s = unsafe { stack(ud)? };
            let raw: &mut [pollfd] = if n == 0 {
                &mut []
            } else if fds.is_null() {
                return Err(Errno::FAULT);
            } else {
                // SAFETY: `fds` points to `nfds` pollfds, readable and writable, per poll(2).
                unsafe { std::slice::from_raw_parts_mut(fds, n) }
            };
            let mut items: Vec<PollFd> = raw
                .iter()
                .map(|p| PollFd {
                    fd: p.fd,
                    events: p.events,
                    revents: 0,
                })
                .collect();
            let ready = s.poll(&mut items, timeout)?;
            for (p, i) in raw.iter_mut().zip(&items) {
                p.revents = i.revents;
            }
            Ok(i32::try_from(ready).unwrap_or(i32::MAX))
        })())
    })
}

unsafe extern "C" fn pd_netdev_send(ud: *mut c_void, buf: *const c_void, count: usize) -> c_int {
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata; `buf` holds `count` readable bytes (the datagram).
            let (s, b) = unsafe { (stack(ud)?, bytes(buf, count)?) };
            s.netdev_send(b);
            Ok(0)
        })())
    })
}

unsafe extern "C" fn pd_netdev_receive(
    ud: *mut c_void,
    buf: *mut c_void,
    count: *mut usize,
    time_usecs: *mut c_longlong,
) -> c_int {
    guard(-1, || {
        int_result((|| {
            if count.is_null() {
                return Err(Errno::FAULT);
            }
            // SAFETY: `count` is non-null and holds the buffer size, per packetdrill.h.
            let cap = unsafe { count.read_unaligned() };
            // SAFETY: `ud` is the userdata; `buf` holds `*count` writable bytes.
            let (s, b) = unsafe { (stack(ud)?, bytes_mut(buf, cap)?) };
            let (n, t) = s.netdev_receive(b).unwrap_or((0, 0));
            // SAFETY: `count` is writable as above; `time_usecs` is null or writable.
            unsafe {
                count.write_unaligned(n);
                if !time_usecs.is_null() && n > 0 {
                    time_usecs.write_unaligned(t);
                }
            }
            Ok(0)
        })())
    })
}

unsafe extern "C" fn pd_usleep(ud: *mut c_void, usec: useconds_t) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        int_result(unsafe { stack(ud) }.map(|s| {
            s.usleep(u64::from(usec));
            0
        }))
    })
}

unsafe extern "C" fn pd_gettimeofday(
    ud: *mut c_void,
    tv: *mut timeval,
    tz: *mut timezone,
) -> c_int {
    let _ = tz;
    guard(-1, || {
        int_result((|| {
            // SAFETY: `ud` is the userdata packetdrill was given.
            let us = unsafe { stack(ud)? }.gettimeofday();
            if !tv.is_null() {
                let t = timeval {
                    tv_sec: (us / 1_000_000) as libc::time_t,
                    tv_usec: (us % 1_000_000) as libc::suseconds_t,
                };
                // SAFETY: `tv` is non-null and writable per gettimeofday(2).
                unsafe { tv.write_unaligned(t) };
            }
            Ok(0)
        })())
    })
}

fn unsupported(ud: *mut c_void, what: &str) -> c_int {
    guard(-1, || {
        // SAFETY: `ud` is the userdata packetdrill was given.
        if let Ok(s) = unsafe { stack(ud) } {
            s.note(format!("{what} is not supported (ENOSYS)"));
        }
        set_errno(Errno::NOSYS.0);
        -1
    })
}

unsafe extern "C" fn pd_epoll_create(ud: *mut c_void, _size: c_int) -> c_int {
    unsupported(ud, "epoll_create")
}

unsafe extern "C" fn pd_epoll_ctl(
    ud: *mut c_void,
    _epfd: c_int,
    _op: c_int,
    _fd: c_int,
    _event: *mut epoll_event,
) -> c_int {
    unsupported(ud, "epoll_ctl")
}

unsafe extern "C" fn pd_epoll_wait(
    ud: *mut c_void,
    _epfd: c_int,
    _events: *mut epoll_event,
    _maxevents: c_int,
    _timeout: c_int,
) -> c_int {
    unsupported(ud, "epoll_wait")
}

unsafe extern "C" fn pd_pipe(ud: *mut c_void, _fds: *mut c_int) -> c_int {
    unsupported(ud, "pipe")
}

unsafe extern "C" fn pd_splice(
    ud: *mut c_void,
    _fd_in: c_int,
    _off_in: *mut loff_t,
    _fd_out: c_int,
    _off_out: *mut loff_t,
    _len: usize,
    _flags: c_uint,
) -> c_int {
    unsupported(ud, "splice")
}

/// The variadic `fcntl` and `ioctl` entries.
///
/// Stable Rust cannot define a C-variadic function, so these are ordinary four-argument
/// functions stored in the variadic function-pointer fields. On the x86-64 System V and the
/// AArch64 Linux calling conventions a variadic call passes its integer and pointer arguments
/// in the same registers as a call to a non-variadic function with those parameters would (the
/// x86-64 `%al` vector-register count is simply ignored), so the callee reads `fd`, `cmd` or
/// `request`, and the third argument, where the caller put them. With two arguments only, the
/// third register holds garbage, which the commands that take no argument never look at. On
/// other targets the fields stay null.
mod variadic {
    use super::*;

    type FcntlImpl = unsafe extern "C" fn(*mut c_void, c_int, c_int, c_ulong) -> c_int;
    type IoctlImpl = unsafe extern "C" fn(*mut c_void, c_int, c_ulong, c_ulong) -> c_int;

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    pub(super) fn fcntl() -> Option<FcntlFn> {
        let f: FcntlImpl = pd_fcntl;
        // SAFETY: function pointers of both types have the same size; calling the result with
        // the variadic signature is sound on these targets, see the module documentation.
        Some(unsafe { std::mem::transmute::<FcntlImpl, FcntlFn>(f) })
    }

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    pub(super) fn ioctl() -> Option<IoctlFn> {
        let f: IoctlImpl = pd_ioctl;
        // SAFETY: as for `fcntl`.
        Some(unsafe { std::mem::transmute::<IoctlImpl, IoctlFn>(f) })
    }

    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    pub(super) fn fcntl() -> Option<FcntlFn> {
        let _: FcntlImpl = pd_fcntl;
        None
    }

    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    pub(super) fn ioctl() -> Option<IoctlFn> {
        let _: IoctlImpl = pd_ioctl;
        None
    }
}

/// The interface for a new stack made from `flags`.
pub fn interface(flags: &str) -> PacketdrillInterface {
    let (settings, problems) = Settings::parse(flags);
    for p in problems {
        eprintln!("synack-packetdrill: {p}");
    }
    let stack = if settings.sysctls {
        let sysctls = Sysctls::snapshot();
        let stack = Box::new(Stack::new(sysctls.settings(flags)));
        stack.follow_sysctls(flags, sysctls);
        stack
    } else {
        Box::new(Stack::new(settings))
    };
    PacketdrillInterface {
        userdata: Box::into_raw(stack) as *mut c_void,
        free: Some(pd_free),
        socket: Some(pd_socket),
        bind: Some(pd_bind),
        listen: Some(pd_listen),
        accept: Some(pd_accept),
        connect: Some(pd_connect),
        read: Some(pd_read),
        readv: Some(pd_readv),
        recv: Some(pd_recv),
        recvfrom: Some(pd_recvfrom),
        recvmsg: Some(pd_recvmsg),
        write: Some(pd_write),
        writev: Some(pd_writev),
        send: Some(pd_send),
        sendto: Some(pd_sendto),
        sendmsg: Some(pd_sendmsg),
        fcntl: variadic::fcntl(),
        ioctl: variadic::ioctl(),
        close: Some(pd_close),
        shutdown: Some(pd_shutdown),
        getsockopt: Some(pd_getsockopt),
        setsockopt: Some(pd_setsockopt),
        poll: Some(pd_poll),
        netdev_send: Some(pd_netdev_send),
        netdev_receive: Some(pd_netdev_receive),
        usleep: Some(pd_usleep),
        gettimeofday: Some(pd_gettimeofday),
        epoll_create: Some(pd_epoll_create),
        epoll_ctl: Some(pd_epoll_ctl),
        epoll_wait: Some(pd_epoll_wait),
        pipe: Some(pd_pipe),
        splice: Some(pd_splice),
    }
}

/// packetdrill's entry point: fills `*ifc` with a new stack configured by `flags` (the text of
/// `--so_flags`, a space-separated `key=value` list, see [`crate::flags`]; null means none).
/// The calling thread becomes the stack's main thread (the one whose calls move the clock).
///
/// # Safety
/// `flags` must be null or a NUL-terminated string; `ifc` must be null (then nothing happens) or
/// point to a writable `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    guard((), || {
        if ifc.is_null() {
            return;
        }
        let text = if flags.is_null() {
            String::new()
        } else {
            // SAFETY: non-null `flags` is a NUL-terminated string by the contract above.
            unsafe { CStr::from_ptr(flags) }
                .to_string_lossy()
                .into_owned()
        };
        let i = interface(&text);
        // SAFETY: `ifc` is non-null and writable by the contract above.
        unsafe { ifc.write(i) };
    })
}

#[cfg(test)]
mod tests {
    use super::put_cmsg;

    const HEADER: usize = std::mem::size_of::<libc::cmsghdr>();
    const W: usize = std::mem::size_of::<usize>();

    #[test]
    fn a_control_message_takes_cmsg_space_and_is_cut_as_linux_cuts_it() {
        let data = 1501i32.to_ne_bytes();
        // Room for CMSG_SPACE(4): the whole message, and the padding counted as used.
        let mut room = vec![0xaau8; 64];
        let (used, cut) = put_cmsg(&mut room, 6, 36, &data);
        assert!(!cut);
        assert_eq!(used, HEADER + 8);
        let len = usize::from_ne_bytes(room[..W].try_into().unwrap());
        assert_eq!(len, HEADER + 4);
        assert_eq!(i32::from_ne_bytes(room[W..W + 4].try_into().unwrap()), 6);
        assert_eq!(
            i32::from_ne_bytes(room[W + 4..W + 8].try_into().unwrap()),
            36
        );
        assert_eq!(&room[HEADER..HEADER + 4], &data);
        // Room for CMSG_LEN(4) but not the padding: whole, using what there is.
        let mut room = vec![0u8; HEADER + 4];
        assert_eq!(put_cmsg(&mut room, 6, 36, &data), (HEADER + 4, false));
        // Room for the header and half the data: cut, with the length it got.
        let mut room = vec![0u8; HEADER + 2];
        assert_eq!(put_cmsg(&mut room, 6, 36, &data), (HEADER + 2, true));
        let len = usize::from_ne_bytes(room[..W].try_into().unwrap());
        assert_eq!(len, HEADER + 2);
        assert_eq!(&room[HEADER..], &data[..2]);
        // No room for a header: dropped.
        let mut room = vec![0u8; HEADER - 1];
        assert_eq!(put_cmsg(&mut room, 6, 36, &data), (0, true));
        assert!(room.iter().all(|b| *b == 0));
    }
}
