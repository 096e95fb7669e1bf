//! The shared object's interface as packetdrill calls it: every call through the function
//! pointers of the `struct packetdrill_interface` that `packetdrill_interface_init` filled.

use std::ffi::{c_int, c_ulong, c_void, CString};
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::ptr;

use synack_packetdrill::{packetdrill_interface_init, PacketdrillInterface};

/// The filled interface, shared by the main and the system call thread.
#[derive(Clone, Copy)]
pub struct So(PacketdrillInterface);

// SAFETY: a table of function pointers and the stack pointer; the stack is `Sync` and made to
// be called from packetdrill's two threads.
unsafe impl Send for So {}
// SAFETY: as above.
unsafe impl Sync for So {}

/// A call's return value and `errno`.
pub type Ret = (i64, i32);

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ret(r: i64) -> Ret {
    (r, if r < 0 { errno() } else { 0 })
}

/// `ip:port` as the bytes of a `sockaddr_in` or `sockaddr_in6` (IPv4-mapped on an IPv6
/// socket).
fn sockaddr(a: SocketAddr, v6_socket: bool) -> Vec<u8> {
    match (a.ip(), v6_socket) {
        (IpAddr::V4(ip), false) => {
            let mut v = vec![0u8; size_of::<libc::sockaddr_in>()];
            v[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            v[2..4].copy_from_slice(&a.port().to_be_bytes());
            v[4..8].copy_from_slice(&ip.octets());
            v
        }
        (ip, _) => {
            let ip6 = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            let mut v = vec![0u8; size_of::<libc::sockaddr_in6>()];
            v[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            v[2..4].copy_from_slice(&a.port().to_be_bytes());
            v[8..24].copy_from_slice(&ip6.octets());
            v
        }
    }
}

impl So {
    pub fn init(flags: &str) -> So {
        let mut ifc = PacketdrillInterface::default();
        let flags = CString::new(flags).unwrap();
        // SAFETY: a NUL-terminated string and a writable interface struct.
        unsafe { packetdrill_interface_init(flags.as_ptr(), &mut ifc) };
        So(ifc)
    }

    fn ud(&self) -> *mut c_void {
        self.0.userdata
    }

    pub fn free(self) {
        // SAFETY: freed once, after every thread stopped calling in.
        unsafe { self.0.free.unwrap()(self.ud()) }
    }

    /// packetdrill `now_usecs`.
    pub fn now(&self) -> i64 {
        // SAFETY: timeval is plain integers.
        let mut tv: libc::timeval = unsafe { zeroed() };
        // SAFETY: a live, writable timeval; a null timezone.
        let r = unsafe { self.0.gettimeofday.unwrap()(self.ud(), &mut tv, ptr::null_mut()) };
        assert_eq!(r, 0, "gettimeofday");
        tv.tv_sec as i64 * 1_000_000 + tv.tv_usec as i64
    }

    pub fn usleep(&self, us: i64) {
        let us = us.clamp(0, u32::MAX as i64) as u32;
        // SAFETY: plain arguments.
        unsafe { self.0.usleep.unwrap()(self.ud(), us) };
    }

    pub fn netdev_send(&self, d: &[u8]) -> c_int {
        // SAFETY: `d` is live for the call.
        unsafe { self.0.netdev_send.unwrap()(self.ud(), d.as_ptr() as *const c_void, d.len()) }
    }

    /// One `netdev_receive`: the datagram and its time, or `None` for an empty one.
    pub fn netdev_receive(&self) -> Option<(Vec<u8>, i64)> {
        let mut buf = vec![0u8; 65_536 + 1024];
        let mut count = buf.len();
        let mut t: libc::c_longlong = 0;
        // SAFETY: `buf` holds `count` writable bytes; `count` and `t` are writable.
        let r = unsafe {
            self.0.netdev_receive.unwrap()(
                self.ud(),
                buf.as_mut_ptr() as *mut c_void,
                &mut count,
                &mut t,
            )
        };
        if r != 0 || count == 0 {
            return None;
        }
        buf.truncate(count);
        Some((buf, t))
    }

    pub fn socket(&self, domain: i32, ty: i32, proto: i32) -> Ret {
        // SAFETY: plain arguments.
        ret(unsafe { self.0.socket.unwrap()(self.ud(), domain, ty, proto) }.into())
    }

    pub fn bind(&self, fd: i32, a: SocketAddr, v6: bool) -> Ret {
        let s = sockaddr(a, v6);
        // SAFETY: `s` holds a sockaddr of the length passed.
        ret(unsafe {
            self.0.bind.unwrap()(
                self.ud(),
                fd,
                s.as_ptr() as *const libc::sockaddr,
                s.len() as libc::socklen_t,
            )
        }
        .into())
    }

    pub fn connect(&self, fd: i32, a: Option<SocketAddr>, v6: bool) -> Ret {
        let s = match a {
            Some(a) => sockaddr(a, v6),
            None => {
                let mut v = vec![0u8; size_of::<libc::sockaddr_in>()];
                v[..2].copy_from_slice(&(libc::AF_UNSPEC as u16).to_ne_bytes());
                v
            }
        };
        // SAFETY: `s` holds a sockaddr of the length passed.
        ret(unsafe {
            self.0.connect.unwrap()(
                self.ud(),
                fd,
                s.as_ptr() as *const libc::sockaddr,
                s.len() as libc::socklen_t,
            )
        }
        .into())
    }

    pub fn listen(&self, fd: i32, backlog: i32) -> Ret {
        // SAFETY: plain arguments.
        ret(unsafe { self.0.listen.unwrap()(self.ud(), fd, backlog) }.into())
    }

    /// accept: the new fd and the peer's address bytes.
    pub fn accept(&self, fd: i32) -> (Ret, Vec<u8>) {
        let mut s = vec![0u8; 128];
        let mut len = s.len() as libc::socklen_t;
        // SAFETY: `s` holds `len` writable bytes.
        let r = unsafe {
            self.0.accept.unwrap()(
                self.ud(),
                fd,
                s.as_mut_ptr() as *mut libc::sockaddr,
                &mut len,
            )
        };
        let r = ret(r.into());
        s.truncate(len as usize);
        (r, s)
    }

    pub fn read(&self, fd: i32, n: usize, null: bool) -> Ret {
        let mut b = vec![0u8; n];
        let p = if null {
            ptr::null_mut()
        } else {
            b.as_mut_ptr() as *mut c_void
        };
        // SAFETY: `p` is null or holds `n` writable bytes.
        ret(unsafe { self.0.read.unwrap()(self.ud(), fd, p, n) } as i64)
    }

    pub fn recv(&self, fd: i32, n: usize, flags: i32, null: bool) -> Ret {
        let mut b = vec![0u8; n];
        let p = if null {
            ptr::null_mut()
        } else {
            b.as_mut_ptr() as *mut c_void
        };
        // SAFETY: `p` is null or holds `n` writable bytes.
        ret(unsafe { self.0.recv.unwrap()(self.ud(), fd, p, n, flags) } as i64)
    }

    pub fn recvfrom(&self, fd: i32, n: usize, flags: i32, null: bool) -> Ret {
        let mut b = vec![0u8; n];
        let p = if null {
            ptr::null_mut()
        } else {
            b.as_mut_ptr() as *mut c_void
        };
        let mut a = vec![0u8; 128];
        let mut len = a.len() as libc::socklen_t;
        // SAFETY: `p` is null or holds `n` writable bytes, `a` holds `len`.
        ret(unsafe {
            self.0.recvfrom.unwrap()(
                self.ud(),
                fd,
                p,
                n,
                flags,
                a.as_mut_ptr() as *mut libc::sockaddr,
                &mut len,
            )
        } as i64)
    }

    pub fn readv(&self, fd: i32, lens: &[usize]) -> Ret {
        let mut bufs: Vec<Vec<u8>> = lens.iter().map(|n| vec![0u8; *n]).collect();
        let iov: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr() as *mut c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: the iovecs describe live, writable, separate buffers.
        ret(
            unsafe { self.0.readv.unwrap()(self.ud(), fd, iov.as_ptr(), iov.len() as c_int) }
                as i64,
        )
    }

    pub fn write(&self, fd: i32, n: usize, null: bool) -> Ret {
        let b = vec![0u8; n];
        let p = if null {
            ptr::null()
        } else {
            b.as_ptr() as *const c_void
        };
        // SAFETY: `p` is null or holds `n` readable bytes.
        ret(unsafe { self.0.write.unwrap()(self.ud(), fd, p, n) } as i64)
    }

    pub fn send(&self, fd: i32, n: usize, flags: i32, null: bool) -> Ret {
        let b = vec![0u8; n];
        let p = if null {
            ptr::null()
        } else {
            b.as_ptr() as *const c_void
        };
        // SAFETY: `p` is null or holds `n` readable bytes.
        ret(unsafe { self.0.send.unwrap()(self.ud(), fd, p, n, flags) } as i64)
    }

    pub fn sendto(
        &self,
        fd: i32,
        n: usize,
        flags: i32,
        to: SocketAddr,
        v6: bool,
        null: bool,
    ) -> Ret {
        let b = vec![0u8; n];
        let p = if null {
            ptr::null()
        } else {
            b.as_ptr() as *const c_void
        };
        let s = sockaddr(to, v6);
        // SAFETY: `p` is null or holds `n` readable bytes, `s` a sockaddr of the length passed.
        ret(unsafe {
            self.0.sendto.unwrap()(
                self.ud(),
                fd,
                p,
                n,
                flags,
                s.as_ptr() as *const libc::sockaddr,
                s.len() as libc::socklen_t,
            )
        } as i64)
    }

    pub fn writev(&self, fd: i32, lens: &[usize]) -> Ret {
        let bufs: Vec<Vec<u8>> = lens.iter().map(|n| vec![0u8; *n]).collect();
        let iov: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: the iovecs describe live, readable buffers.
        ret(
            unsafe { self.0.writev.unwrap()(self.ud(), fd, iov.as_ptr(), iov.len() as c_int) }
                as i64,
        )
    }

    pub fn sendmsg(&self, fd: i32, lens: &[usize], flags: i32) -> Ret {
        let bufs: Vec<Vec<u8>> = lens.iter().map(|n| vec![0u8; *n]).collect();
        let mut iov: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: msghdr is plain integers and pointers; all-zero is a valid value.
        let mut m: libc::msghdr = unsafe { zeroed() };
        m.msg_iov = iov.as_mut_ptr();
        m.msg_iovlen = iov.len() as _;
        // SAFETY: `m` describes live, readable buffers.
        ret(unsafe { self.0.sendmsg.unwrap()(self.ud(), fd, &m, flags) } as i64)
    }

    /// `recvmsg` into buffers of `lens` with `control` bytes of room for control messages:
    /// the result, the control messages received and `msg_flags`.
    pub fn recvmsg(
        &self,
        fd: i32,
        lens: &[usize],
        control: usize,
        flags: i32,
    ) -> (Ret, Vec<u8>, i32) {
        let mut bufs: Vec<Vec<u8>> = lens.iter().map(|n| vec![0u8; *n]).collect();
        let mut iov: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr() as *mut c_void,
                iov_len: b.len(),
            })
            .collect();
        let mut c = vec![0u8; control];
        // SAFETY: msghdr is plain integers and pointers; all-zero is a valid value.
        let mut m: libc::msghdr = unsafe { zeroed() };
        m.msg_iov = iov.as_mut_ptr();
        m.msg_iovlen = iov.len() as _;
        if control > 0 {
            m.msg_control = c.as_mut_ptr() as *mut c_void;
            m.msg_controllen = control as _;
        }
        // SAFETY: `m` describes live, writable buffers.
        let r = ret(unsafe { self.0.recvmsg.unwrap()(self.ud(), fd, &mut m, flags) } as i64);
        c.truncate(m.msg_controllen as usize);
        (r, c, m.msg_flags)
    }

    pub fn close(&self, fd: i32) -> Ret {
        // SAFETY: plain arguments.
        ret(unsafe { self.0.close.unwrap()(self.ud(), fd) }.into())
    }

    pub fn shutdown(&self, fd: i32, how: i32) -> Ret {
        // SAFETY: plain arguments.
        ret(unsafe { self.0.shutdown.unwrap()(self.ud(), fd, how) }.into())
    }

    pub fn setsockopt(&self, fd: i32, level: i32, name: i32, val: &[u8], len: u32) -> Ret {
        // SAFETY: `val` holds at least `len` readable bytes (the caller sized it).
        ret(unsafe {
            self.0.setsockopt.unwrap()(
                self.ud(),
                fd,
                level,
                name,
                val.as_ptr() as *const c_void,
                len,
            )
        }
        .into())
    }

    /// getsockopt: the value bytes (as many as the optlen came back with).
    pub fn getsockopt(&self, fd: i32, level: i32, name: i32, len: u32) -> (Ret, Vec<u8>) {
        let mut v = vec![0u8; len as usize + 1];
        let mut l = len as libc::socklen_t;
        // SAFETY: `v` holds `len` writable bytes; `l` is writable.
        let r = unsafe {
            self.0.getsockopt.unwrap()(
                self.ud(),
                fd,
                level,
                name,
                v.as_mut_ptr() as *mut c_void,
                &mut l,
            )
        };
        v.truncate(l as usize);
        (ret(r.into()), v)
    }

    pub fn fcntl(&self, fd: i32, cmd: i32, arg: Option<i32>) -> Ret {
        // SAFETY: variadic calls as C makes them, with two or three int arguments.
        let r = unsafe {
            match arg {
                None => self.0.fcntl.unwrap()(self.ud(), fd, cmd),
                Some(a) => self.0.fcntl.unwrap()(self.ud(), fd, cmd, a),
            }
        };
        ret(r.into())
    }

    /// ioctl with an `int *` (or none): the return and the int after the call.
    pub fn ioctl(&self, fd: i32, req: u64, arg: Option<i32>) -> (Ret, i32) {
        let mut v = arg.unwrap_or(0);
        // SAFETY: variadic calls as C makes them; `v` is a live, writable int.
        let r = unsafe {
            match arg {
                None => self.0.ioctl.unwrap()(self.ud(), fd, req as c_ulong),
                Some(_) => self.0.ioctl.unwrap()(self.ud(), fd, req as c_ulong, &mut v as *mut i32),
            }
        };
        (ret(r.into()), v)
    }

    /// poll: the return and each revents.
    pub fn poll(&self, fds: &[(i32, i16)], timeout: i32) -> (Ret, Vec<i16>) {
        let mut p: Vec<libc::pollfd> = fds
            .iter()
            .map(|(fd, ev)| libc::pollfd {
                fd: *fd,
                events: *ev,
                revents: 0,
            })
            .collect();
        // SAFETY: `p` holds `len` live, writable pollfds.
        let r = unsafe {
            self.0.poll.unwrap()(self.ud(), p.as_mut_ptr(), p.len() as libc::nfds_t, timeout)
        };
        (ret(r.into()), p.iter().map(|x| x.revents).collect())
    }
}
