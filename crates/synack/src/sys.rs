//! Every system call the host makes that the standard library does not wrap: the driver's wake-up
//! eventfd, `ppoll`, the TUN and interface ioctls, and `unshare(CLONE_NEWNET)`. This is the only
//! module with `unsafe`; each block says why it is sound.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The kernel's limit on interface names, the terminating NUL included.
pub(crate) const IFNAMSIZ: usize = libc::IFNAMSIZ;

/// A non-blocking, close-on-exec eventfd (a counter the driver loop polls to be woken).
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a negative return is an error, anything else a new file
    // descriptor that nobody else owns, so OwnedFd may take it.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else (see above).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`: no limit). Returns which
/// were readable. An interrupted wait (`EINTR`) returns as if it had timed out.
pub(crate) fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pollfds` is a valid array of `pollfds.len()` entries that lives across the call;
    // `ts_ptr` is null or points at `ts`, which outlives the call; a null signal mask is allowed.
    let rc = unsafe {
        libc::ppoll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pollfds
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
        .collect())
}

/// An `ifreq` with `name` filled in and everything else zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "interface name '{name}' is invalid (at most {} bytes, no NUL)",
                IFNAMSIZ - 1
            ),
        ));
    }
    // SAFETY: ifreq is a plain C struct (a char array and a union of plain data and one pointer);
    // all-zero bytes are a valid value for every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

fn name_of(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `ioctl(fd, TUNSETIFF, {name, IFF_TUN | IFF_NO_PI})`, with `IFF_VNET_HDR` when `vnet_hdr`:
/// attaches `file` (an open `/dev/net/tun`) to the TUN interface `name`, creating it when it does
/// not exist. Returns the interface's name (the kernel picks one when `name` is empty or holds
/// `%d`).
pub(crate) fn tun_set_iff(file: &File, name: &str, vnet_hdr: bool) -> io::Result<String> {
    let mut req = ifreq(name)?;
    let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, and `req` is one that lives across the
    // call; the descriptor is valid for as long as `file` is borrowed.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(name_of(&req))
}

/// `ioctl(fd, TUNSETOFFLOAD, flags)`: tells the kernel which offloads the reader of the TUN
/// descriptor `file` handles (`TUN_F_CSUM`, `TUN_F_TSO4`, ...), so it may hand over packets with
/// partial checksums and TSO packets instead of finishing and segmenting them itself.
pub(crate) fn tun_set_offload(file: &File, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned int of flags), and the
    // descriptor is valid for as long as `file` is borrowed.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETOFFLOAD as _, flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A datagram socket of `family` (`AF_INET` or `AF_INET6`) to issue interface ioctls on.
pub(crate) fn ioctl_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a non-negative return is a new descriptor we own.
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs an interface ioctl that takes a `struct ifreq`.
fn ifreq_ioctl(sock: &OwnedFd, request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here (SIOC[GS]IFFLAGS, SIOC[GS]IFMTU, SIOCSIFADDR,
    // SIOCSIFNETMASK) reads or writes exactly one `struct ifreq`, which `req` is, valid for the
    // call; `sock` is an open socket.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface's flags (`SIOCGIFFLAGS`).
pub(crate) fn if_flags(sock: &OwnedFd, name: &str) -> io::Result<libc::c_short> {
    let mut req = ifreq(name)?;
    ifreq_ioctl(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets the interface's flags (`SIOCSIFFLAGS`).
pub(crate) fn set_if_flags(sock: &OwnedFd, name: &str, flags: libc::c_short) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = flags;
    ifreq_ioctl(sock, libc::SIOCSIFFLAGS, &mut req)
}

/// The interface's MTU (`SIOCGIFMTU`).
pub(crate) fn if_mtu(sock: &OwnedFd, name: &str) -> io::Result<usize> {
    let mut req = ifreq(name)?;
    ifreq_ioctl(sock, libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(usize::try_from(mtu).unwrap_or(0))
}

/// Sets the interface's MTU (`SIOCSIFMTU`).
pub(crate) fn set_if_mtu(sock: &OwnedFd, name: &str, mtu: usize) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
    ifreq_ioctl(sock, libc::SIOCSIFMTU, &mut req)
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16-byte plain C structs; the kernel reads the
    // generic one as the specific one by its family field, exactly as C code casts it.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Sets the interface's IPv4 address and netmask (`SIOCSIFADDR`, `SIOCSIFNETMASK`), which also
/// installs the prefix route through the interface.
pub(crate) fn set_if_addr_v4(
    sock: &OwnedFd,
    name: &str,
    addr: Ipv4Addr,
    prefix: u8,
) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_in(addr);
    ifreq_ioctl(sock, libc::SIOCSIFADDR, &mut req)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    ifreq_ioctl(sock, libc::SIOCSIFNETMASK, &mut req)
}

/// Adds an IPv6 address with its prefix length to the interface with index `ifindex`
/// (`SIOCSIFADDR` on an `AF_INET6` socket, `struct in6_ifreq`).
pub(crate) fn add_if_addr_v6(
    sock: &OwnedFd,
    ifindex: u32,
    addr: Ipv6Addr,
    prefix: u8,
) -> io::Result<()> {
    let mut req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ifr6_prefixlen: u32::from(prefix.min(128)),
        ifr6_ifindex: libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface index"))?,
    };
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads one `struct in6_ifreq`, which `req` is,
    // valid for the call; `sock` is an open socket.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFADDR as _,
            &mut req as *mut libc::in6_ifreq,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The index of the interface `name`, or `None` when there is no such interface.
pub(crate) fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string valid for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// Moves the calling thread into a new, empty network namespace (`unshare(CLONE_NEWNET)`).
pub(crate) fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare takes no pointers; CLONE_NEWNET affects only the calling thread's namespace
    // membership, which is allowed in a multi-threaded process.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused() {
        assert!(ifreq("0123456789abcdef").is_err());
        assert!(ifreq("a\0b").is_err());
        let r = ifreq("tun0").unwrap();
        assert_eq!(name_of(&r), "tun0");
    }

    #[test]
    fn eventfd_polls_readable_after_a_write() {
        use std::io::{Read, Write};
        let fd = eventfd().unwrap();
        let raw = fd.as_raw_fd();
        let mut f = File::from(fd);
        assert_eq!(
            poll_readable(&[raw], Some(Duration::ZERO)).unwrap(),
            [false]
        );
        f.write_all(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(
            poll_readable(&[raw], Some(Duration::from_secs(1))).unwrap(),
            [true]
        );
        let mut b = [0u8; 8];
        f.read_exact(&mut b).unwrap();
        assert_eq!(u64::from_ne_bytes(b), 1);
    }
}
