//! Linux `errno` values and the mapping of engine errors to them.

use core::fmt;

use synack_proto::Error;

/// A Linux `errno` value (the `libc` constants of the target).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// `EAGAIN`: the call would block.
    pub const AGAIN: Errno = Errno(libc::EAGAIN);
    /// `EBADF`: not an open descriptor of this stack.
    pub const BADF: Errno = Errno(libc::EBADF);
    /// `EINVAL`.
    pub const INVAL: Errno = Errno(libc::EINVAL);
    /// `EFAULT`: a null or unusable pointer.
    pub const FAULT: Errno = Errno(libc::EFAULT);
    /// `ENOTCONN`.
    pub const NOTCONN: Errno = Errno(libc::ENOTCONN);
    /// `EPIPE`.
    pub const PIPE: Errno = Errno(libc::EPIPE);
    /// `EISCONN`.
    pub const ISCONN: Errno = Errno(libc::EISCONN);
    /// `EALREADY`.
    pub const ALREADY: Errno = Errno(libc::EALREADY);
    /// `EINPROGRESS`.
    pub const INPROGRESS: Errno = Errno(libc::EINPROGRESS);
    /// `ENOPROTOOPT`: a socket option this stack does not have.
    pub const NOPROTOOPT: Errno = Errno(libc::ENOPROTOOPT);
    /// `EOPNOTSUPP`.
    pub const OPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
    /// `ENOSYS`: a call of the interface this stack does not implement.
    pub const NOSYS: Errno = Errno(libc::ENOSYS);
    /// `ENOTTY`: an ioctl request this stack does not know.
    pub const NOTTY: Errno = Errno(libc::ENOTTY);
    /// `EAFNOSUPPORT`.
    pub const AFNOSUPPORT: Errno = Errno(libc::EAFNOSUPPORT);
    /// `EPROTONOSUPPORT`.
    pub const PROTONOSUPPORT: Errno = Errno(libc::EPROTONOSUPPORT);
    /// `EADDRINUSE`.
    pub const ADDRINUSE: Errno = Errno(libc::EADDRINUSE);
    /// `EADDRNOTAVAIL`.
    pub const ADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
    /// `ECONNABORTED`.
    pub const CONNABORTED: Errno = Errno(libc::ECONNABORTED);
    /// `EIO`: an internal failure (a panic caught at the C boundary).
    pub const IO: Errno = Errno(libc::EIO);
    /// `EMFILE`.
    pub const MFILE: Errno = Errno(libc::EMFILE);

    /// The errno a socket call reports for an engine error, as Linux's socket layer does.
    pub fn from_engine(e: Error) -> Errno {
        Errno(match e {
            Error::ConnectionRefused => libc::ECONNREFUSED,
            Error::ConnectionReset => libc::ECONNRESET,
            Error::ConnectionAborted => libc::ECONNABORTED,
            Error::TimedOut => libc::ETIMEDOUT,
            Error::AddrInUse => libc::EADDRINUSE,
            Error::AddrNotAvailable => libc::EADDRNOTAVAIL,
            Error::NotConnected => libc::ENOTCONN,
            Error::AlreadyConnected => libc::EISCONN,
            Error::BrokenPipe => libc::EPIPE,
            Error::WouldBlock => libc::EAGAIN,
            Error::InvalidInput => libc::EINVAL,
            Error::InvalidHandle => libc::EBADF,
            Error::HostUnreachable => libc::EHOSTUNREACH,
            Error::NetworkUnreachable => libc::ENETUNREACH,
            // `Error` is non-exhaustive: anything new is an I/O error until mapped.
            _ => libc::EIO,
        })
    }

    /// The symbolic name, for messages.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::EAGAIN => "EAGAIN",
            libc::EBADF => "EBADF",
            libc::EINVAL => "EINVAL",
            libc::EFAULT => "EFAULT",
            libc::ENOTCONN => "ENOTCONN",
            libc::EPIPE => "EPIPE",
            libc::EISCONN => "EISCONN",
            libc::EALREADY => "EALREADY",
            libc::EINPROGRESS => "EINPROGRESS",
            libc::ENOPROTOOPT => "ENOPROTOOPT",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::ENOSYS => "ENOSYS",
            libc::ENOTTY => "ENOTTY",
            libc::EAFNOSUPPORT => "EAFNOSUPPORT",
            libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
            libc::EADDRINUSE => "EADDRINUSE",
            libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            libc::ECONNABORTED => "ECONNABORTED",
            libc::ECONNREFUSED => "ECONNREFUSED",
            libc::ECONNRESET => "ECONNRESET",
            libc::ETIMEDOUT => "ETIMEDOUT",
            libc::EHOSTUNREACH => "EHOSTUNREACH",
            libc::ENETUNREACH => "ENETUNREACH",
            libc::EIO => "EIO",
            libc::EMFILE => "EMFILE",
            _ => "E?",
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Errno {}
