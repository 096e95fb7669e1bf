//! Errors an application sees, mapped to the `io::ErrorKind` a socket user expects.

use core::fmt;

/// What went wrong with a call or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The peer answered our SYN with RST: nobody listens there (`ECONNREFUSED`).
    ConnectionRefused,
    /// The peer reset an established connection (`ECONNRESET`).
    ConnectionReset,
    /// The connection was aborted locally, e.g. closed with data unread (`ECONNABORTED`).
    ConnectionAborted,
    /// Retransmissions were exhausted: SYN retries, data retries or the user timeout (`ETIMEDOUT`).
    TimedOut,
    /// The local address and port are already in use (`EADDRINUSE`).
    AddrInUse,
    /// The local address is not one of this endpoint's, or no ephemeral port is free
    /// (`EADDRNOTAVAIL`).
    AddrNotAvailable,
    /// The call needs a connected socket (`ENOTCONN`).
    NotConnected,
    /// The socket is already connected, or a connect is in progress (`EISCONN`).
    AlreadyConnected,
    /// Writing after shutdown(write) or close (`EPIPE`).
    BrokenPipe,
    /// Nothing to do now; try again when an event says so (`EAGAIN`).
    WouldBlock,
    /// An argument is out of range (`EINVAL`).
    InvalidInput,
    /// The handle does not name a live connection or listener (`EBADF`).
    InvalidHandle,
    /// A destination that ICMP reported unreachable (`EHOSTUNREACH`).
    HostUnreachable,
    /// A network that ICMP reported unreachable (`ENETUNREACH`).
    NetworkUnreachable,
}

impl Error {
    /// The errno name a C socket user would see.
    pub const fn errno_name(self) -> &'static str {
        match self {
            Error::ConnectionRefused => "ECONNREFUSED",
            Error::ConnectionReset => "ECONNRESET",
            Error::ConnectionAborted => "ECONNABORTED",
            Error::TimedOut => "ETIMEDOUT",
            Error::AddrInUse => "EADDRINUSE",
            Error::AddrNotAvailable => "EADDRNOTAVAIL",
            Error::NotConnected => "ENOTCONN",
            Error::AlreadyConnected => "EISCONN",
            Error::BrokenPipe => "EPIPE",
            Error::WouldBlock => "EAGAIN",
            Error::InvalidInput => "EINVAL",
            Error::InvalidHandle => "EBADF",
            Error::HostUnreachable => "EHOSTUNREACH",
            Error::NetworkUnreachable => "ENETUNREACH",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::ConnectionRefused => "connection refused",
            Error::ConnectionReset => "connection reset by peer",
            Error::ConnectionAborted => "connection aborted",
            Error::TimedOut => "connection timed out",
            Error::AddrInUse => "address already in use",
            Error::AddrNotAvailable => "cannot assign requested address",
            Error::NotConnected => "transport endpoint is not connected",
            Error::AlreadyConnected => "transport endpoint is already connected",
            Error::BrokenPipe => "broken pipe",
            Error::WouldBlock => "operation would block",
            Error::InvalidInput => "invalid argument",
            Error::InvalidHandle => "no such connection or listener",
            Error::HostUnreachable => "no route to host",
            Error::NetworkUnreachable => "network is unreachable",
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "std")]
impl Error {
    /// The `io::ErrorKind` that `std::net` reports for the same condition.
    pub fn kind(self) -> std::io::ErrorKind {
        use std::io::ErrorKind as K;
        match self {
            Error::ConnectionRefused => K::ConnectionRefused,
            Error::ConnectionReset => K::ConnectionReset,
            Error::ConnectionAborted => K::ConnectionAborted,
            Error::TimedOut => K::TimedOut,
            Error::AddrInUse => K::AddrInUse,
            Error::AddrNotAvailable => K::AddrNotAvailable,
            Error::NotConnected => K::NotConnected,
            Error::AlreadyConnected => K::AlreadyExists,
            Error::BrokenPipe => K::BrokenPipe,
            Error::WouldBlock => K::WouldBlock,
            Error::InvalidInput => K::InvalidInput,
            Error::InvalidHandle => K::InvalidInput,
            Error::HostUnreachable => K::HostUnreachable,
            Error::NetworkUnreachable => K::NetworkUnreachable,
        }
    }
}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(e.kind(), e)
    }
}
