//! Linux's numeric values for the symbols scripts use (packetdrill `symbols_linux.c`): address
//! families, socket types, option levels and names, `fcntl` commands and flags, `poll` events,
//! `shutdown` modes, `MSG_*` flags, and errno names with their `strerror` texts.

/// The value of a symbol, as on Linux.
pub fn lookup(name: &str) -> Option<i64> {
    let v = match name {
        // Families, types, protocols.
        "AF_UNSPEC" => 0,
        "AF_INET" | "PF_INET" => 2,
        "AF_INET6" | "PF_INET6" => 10,
        "SOCK_STREAM" => 1,
        "SOCK_DGRAM" => 2,
        "SOCK_RAW" => 3,
        "SOCK_NONBLOCK" => 0o4000,
        "SOCK_CLOEXEC" => 0o2000000,
        "IPPROTO_IP" => 0,
        "IPPROTO_TCP" => 6,
        "IPPROTO_UDP" => 17,
        "IPPROTO_IPV6" => 41,
        // Option levels and names.
        "SOL_SOCKET" => 1,
        "SOL_TCP" => 6,
        "SOL_IP" => 0,
        "SO_DEBUG" => 1,
        "SO_REUSEADDR" => 2,
        "SO_TYPE" => 3,
        "SO_ERROR" => 4,
        "SO_DONTROUTE" => 5,
        "SO_BROADCAST" => 6,
        "SO_SNDBUF" => 7,
        "SO_RCVBUF" => 8,
        "SO_KEEPALIVE" => 9,
        "SO_OOBINLINE" => 10,
        "SO_LINGER" => 13,
        "SO_REUSEPORT" => 15,
        "SO_RCVLOWAT" => 18,
        "SO_SNDLOWAT" => 19,
        "SO_RCVTIMEO" => 20,
        "SO_SNDTIMEO" => 21,
        "SO_ACCEPTCONN" => 30,
        "SO_DOMAIN" => 39,
        "SO_PROTOCOL" => 38,
        "TCP_NODELAY" => 1,
        "TCP_MAXSEG" => 2,
        "TCP_CORK" => 3,
        "TCP_KEEPIDLE" => 4,
        "TCP_KEEPINTVL" => 5,
        "TCP_KEEPCNT" => 6,
        "TCP_SYNCNT" => 7,
        "TCP_LINGER2" => 8,
        "TCP_DEFER_ACCEPT" => 9,
        "TCP_WINDOW_CLAMP" => 10,
        "TCP_INFO" => 11,
        "TCP_QUICKACK" => 12,
        "TCP_CONGESTION" => 13,
        "TCP_USER_TIMEOUT" => 18,
        "TCP_NOTSENT_LOWAT" => 25,
        "TCP_INQ" | "TCP_CM_INQ" => 36,
        "IP_TOS" => 1,
        "IP_TTL" => 2,
        "IP_MTU_DISCOVER" => 10,
        "IP_PMTUDISC_DONT" => 0,
        "IP_PMTUDISC_WANT" => 1,
        "IP_PMTUDISC_DO" => 2,
        "IP_PMTUDISC_PROBE" => 3,
        "IPV6_TCLASS" => 67,
        "SOL_IPV6" => 41,
        // fcntl.
        "F_GETFD" => 1,
        "F_SETFD" => 2,
        "F_GETFL" => 3,
        "F_SETFL" => 4,
        "FD_CLOEXEC" => 1,
        "O_RDONLY" => 0,
        "O_WRONLY" => 1,
        "O_RDWR" => 2,
        "O_NONBLOCK" => 0o4000,
        "O_NDELAY" => 0o4000,
        // shutdown.
        "SHUT_RD" => 0,
        "SHUT_WR" => 1,
        "SHUT_RDWR" => 2,
        // poll.
        "POLLIN" => 0x1,
        "POLLPRI" => 0x2,
        "POLLOUT" => 0x4,
        "POLLERR" => 0x8,
        "POLLHUP" => 0x10,
        "POLLNVAL" => 0x20,
        "POLLRDNORM" => 0x40,
        "POLLRDBAND" => 0x80,
        "POLLWRNORM" => 0x100,
        "POLLWRBAND" => 0x200,
        "POLLMSG" => 0x400,
        "POLLRDHUP" => 0x2000,
        // send/recv flags.
        "MSG_OOB" => 0x1,
        "MSG_PEEK" => 0x2,
        "MSG_DONTROUTE" => 0x4,
        "MSG_CTRUNC" => 0x8,
        "MSG_TRUNC" => 0x20,
        "MSG_DONTWAIT" => 0x40,
        "MSG_EOR" => 0x80,
        "MSG_WAITALL" => 0x100,
        "MSG_NOSIGNAL" => 0x4000,
        "MSG_MORE" => 0x8000,
        "INADDR_ANY" => 0,
        _ => return errno_value(name).map(i64::from),
    };
    Some(v)
}

/// Linux errno names, numbers and `strerror` texts.
const ERRNOS: &[(&str, i32, &str)] = &[
    ("EPERM", 1, "Operation not permitted"),
    ("ENOENT", 2, "No such file or directory"),
    ("EINTR", 4, "Interrupted system call"),
    ("EIO", 5, "Input/output error"),
    ("EBADF", 9, "Bad file descriptor"),
    ("EAGAIN", 11, "Resource temporarily unavailable"),
    ("ENOMEM", 12, "Cannot allocate memory"),
    ("EACCES", 13, "Permission denied"),
    ("EFAULT", 14, "Bad address"),
    ("EBUSY", 16, "Device or resource busy"),
    ("EEXIST", 17, "File exists"),
    ("EINVAL", 22, "Invalid argument"),
    ("EPIPE", 32, "Broken pipe"),
    ("ENOTSOCK", 88, "Socket operation on non-socket"),
    ("EDESTADDRREQ", 89, "Destination address required"),
    ("EMSGSIZE", 90, "Message too long"),
    ("EPROTOTYPE", 91, "Protocol wrong type for socket"),
    ("ENOPROTOOPT", 92, "Protocol not available"),
    ("EPROTONOSUPPORT", 93, "Protocol not supported"),
    ("EOPNOTSUPP", 95, "Operation not supported"),
    (
        "EAFNOSUPPORT",
        97,
        "Address family not supported by protocol",
    ),
    ("EADDRINUSE", 98, "Address already in use"),
    ("EADDRNOTAVAIL", 99, "Cannot assign requested address"),
    ("ENETDOWN", 100, "Network is down"),
    ("ENETUNREACH", 101, "Network is unreachable"),
    ("ECONNABORTED", 103, "Software caused connection abort"),
    ("ECONNRESET", 104, "Connection reset by peer"),
    ("ENOBUFS", 105, "No buffer space available"),
    ("EISCONN", 106, "Transport endpoint is already connected"),
    ("ENOTCONN", 107, "Transport endpoint is not connected"),
    ("ETIMEDOUT", 110, "Connection timed out"),
    ("ECONNREFUSED", 111, "Connection refused"),
    ("EHOSTUNREACH", 113, "No route to host"),
    ("EALREADY", 114, "Operation already in progress"),
    ("EINPROGRESS", 115, "Operation now in progress"),
];

/// The number of an errno name (`EWOULDBLOCK` is `EAGAIN`).
pub fn errno_value(name: &str) -> Option<i32> {
    let name = if name == "EWOULDBLOCK" {
        "EAGAIN"
    } else {
        name
    };
    ERRNOS.iter().find(|e| e.0 == name).map(|e| e.1)
}

/// The name of an errno number.
pub fn errno_name(value: i32) -> &'static str {
    ERRNOS
        .iter()
        .find(|e| e.1 == value)
        .map(|e| e.0)
        .unwrap_or("E?")
}

/// `strerror` of an errno number.
pub fn strerror(value: i32) -> &'static str {
    ERRNOS
        .iter()
        .find(|e| e.1 == value)
        .map(|e| e.2)
        .unwrap_or("Unknown error")
}

/// The poll flags set in `v`, as `POLLIN|POLLOUT` (or `0`).
pub fn poll_flags(v: i64) -> String {
    const NAMES: &[(&str, i64)] = &[
        ("POLLIN", 0x1),
        ("POLLPRI", 0x2),
        ("POLLOUT", 0x4),
        ("POLLERR", 0x8),
        ("POLLHUP", 0x10),
        ("POLLNVAL", 0x20),
        ("POLLRDNORM", 0x40),
        ("POLLRDBAND", 0x80),
        ("POLLWRNORM", 0x100),
        ("POLLWRBAND", 0x200),
        ("POLLMSG", 0x400),
        ("POLLRDHUP", 0x2000),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(_, bit)| v & bit != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_have_linux_values() {
        assert_eq!(lookup("SOCK_STREAM"), Some(1));
        assert_eq!(lookup("O_NONBLOCK"), Some(0x800));
        assert_eq!(lookup("EINPROGRESS"), Some(115));
        assert_eq!(lookup("EWOULDBLOCK"), Some(11));
        assert_eq!(lookup("NOPE"), None);
        assert_eq!(errno_name(104), "ECONNRESET");
        assert_eq!(poll_flags(0x5), "POLLIN|POLLOUT");
    }
}
