//! `synack-packetdrill`: a shared object that lets the real, unmodified [packetdrill] test
//! synack's TCP engine, through packetdrill's shared-object mode:
//!
//! ```text
//! cargo build --release -p synack-packetdrill
//! packetdrill --so_filename=target/release/libsynack_packetdrill.so \
//!     --local_ip=192.168.0.2 --so_flags="local_ip=192.168.0.2" script.pkt
//! ```
//!
//! packetdrill `dlopen()`s the library, calls [`packetdrill_interface_init`]`(flags, &ifc)` and
//! then makes every system call of the script, every packet it injects and every packet it
//! sniffs through the function pointers of `struct packetdrill_interface` (packetdrill's
//! `packetdrill.h`; here [`PacketdrillInterface`], the same fields in the same order). Behind
//! them is one [`Stack`]: a [`synack_proto::Endpoint`], a virtual clock, and a socket layer that
//! plays Linux's (return values, `errno`, blocking, `poll`, socket options).
//!
//! # The interface
//! - `socket`, `bind`, `listen`, `accept`, `connect`, `read`, `readv`, `recv`, `recvfrom`,
//!   `recvmsg`, `write`, `writev`, `send`, `sendto`, `sendmsg`, `close`, `shutdown`,
//!   `getsockopt`, `setsockopt`, `fcntl`, `ioctl`, `poll`: Linux TCP semantics over the engine
//!   (see [`socket`] for the details and the options supported). `getsockopt` answers
//!   `TCP_INFO` in Linux 6.18's `struct tcp_info` layout from the engine's state (counts in
//!   segments; fields the engine does not keep are zero), `TCP_CC_INFO` (empty, as for Linux's
//!   CUBIC) and `SO_MEMINFO`: the three packetdrill reads for a `%{ }%` code event, so scripts
//!   that assert `tcpi_snd_cwnd`, `tcpi_ca_state`, the `tcpi_last_*` ages and the like run.
//!   Sends take `MSG_DONTWAIT`, `MSG_EOR` (the message ends a record: no segment crosses
//!   its end, as on Linux since 4.7) and `MSG_MORE` (a partial segment waits, as under
//!   `TCP_CORK`). With `TCP_INQ` on, `recvmsg` ends with a `TCP_CM_INQ`
//!   control message (the bytes left to read, a received FIN counting one; `MSG_CTRUNC` when
//!   it does not fit), as on Linux since 4.18. Socket descriptors are real descriptor numbers of the
//!   process (packetdrill `close(2)`s the sockets a script leaves open).
//! - `netdev_send(buf, count)`: the engine receives the IP datagram.
//! - `netdev_receive(buf, &count, &time_usecs)`: the next datagram the engine sent and the
//!   virtual time it was sent; with none queued, the clock runs to the engine's next timer (see
//!   [`stack`]). When nothing can ever be sent, `count` comes back 0, which packetdrill reports
//!   as an error on the script line that waits for a packet.
//! - `usleep(usec)`: virtual time passes, timers run, each at its own instant.
//! - `gettimeofday`: the virtual clock (starting at 2001-09-09 01:46:40 UTC); each call ticks it
//!   by one microsecond, as packetdrill spins on it (the system call thread's first call after a
//!   blocking call returned reads the instant that call returned).
//! - Blocking calls (`+0...0.2 accept(...)`) arrive from packetdrill's system call thread and
//!   wait on a condition variable until the engine, driven by the main thread's packets and
//!   clock, completes them.
//! - `epoll_create`, `epoll_ctl`, `epoll_wait`, `pipe`, `splice`: not supported, -1 with
//!   `ENOSYS`. Unsupported socket options give `ENOPROTOOPT`, unknown `ioctl` requests
//!   `ENOTTY`, unknown `fcntl` commands `EINVAL`, other socket types and protocols
//!   `EPROTONOSUPPORT`, `MSG_FASTOPEN` `EOPNOTSUPP`. Nothing panics across the C
//!   boundary: a caught panic returns -1 with `EIO`.
//!
//! # Flags
//! `--so_flags` is a space-separated `key=value` list, documented in [`flags`]: `local_ip=`
//! (IPv4 or IPv6, repeatable), the buffer sizes of packetdrill's Linux defaults
//! (`tcp_rmem=4096,540000,15728640`: a 15 MiB receive buffer maximum gives window scale 8, as
//! on Linux; `tcp_wmem=4096,262144,4194304`), `mss`, `timestamps`, `sack`, `syn_retries`, ...,
//! `seed` and `verbose`. Unknown keys are reported on stderr and ignored. Where `/proc/sys`
//! can be read, the network namespace's TCP sysctls replace the built-in defaults (flags win
//! over them), and those the script changes (`defaults.sh`, `` `sysctl -q
//! net.ipv4.tcp_rmem=...` ``) win over the flags, as on Linux: see [`sysctl`]; `sysctls=0` turns
//! this off.
//!
//! # Tests
//! - `tests/c_abi.rs` fills the interface with [`packetdrill_interface_init`] and drives
//!   everything through its function pointers with C types: a passive open with a blocking
//!   `accept` on a second thread, data both ways, a retransmission, the close; an active open
//!   with a blocking `connect`, the SYN resent after 1 s, a blocking `read`, variadic `fcntl`
//!   and `ioctl`, `poll`, `shutdown`; errors and unsupported calls; the struct's layout; the
//!   built `.so` loaded with `dlopen`; and a C program (`tests/c/so_smoke.c`, built with `cc`
//!   when there is one) that loads it with packetdrill's `dlopen` flags.
//! - `tests/scripts.rs` runs packetdrill scripts through the C ABI with `tests/pdrun`, a
//!   re-enactment of packetdrill's shared-object mode (its main and system call threads, run
//!   lock, sequence and timestamp mapping, packet checks and tolerances): this crate's
//!   `tests/scripts/`, the repository's `tests/scripts/`, and, when `SYNACK_PD_SCRIPTS` names a
//!   directory, the scripts in it (for instance packetdrill's own `gtests/net/tcp`).
//!
//! # Not supported
//! UDP and ICMP sockets, TCP Fast Open, `SO_TIMESTAMPING` and control messages other than
//! `TCP_CM_INQ`, zero-copy completions (`SO_ZEROCOPY`
//! is accepted, data is copied), epoll, pipes, `SO_LINGER` timeouts that make `close` wait,
//! per-socket buffer sizes and MSS after the engine has started (they are engine-wide and fixed
//! at its first `listen`, `connect` or packet), Linux's socket memory accounting (a blocking
//! write waits for payload space, not for `sk_wmem_queued`), and IPv4 connections to an IPv6
//! wildcard listener.
//!
//! [packetdrill]: https://github.com/google/packetdrill

pub mod errno;
pub mod ffi;
pub mod flags;
pub mod socket;
pub mod stack;
mod sys;
pub mod sysctl;

pub use errno::Errno;
pub use ffi::{interface, packetdrill_interface_init, PacketdrillInterface};
pub use flags::Settings;
pub use socket::{Accepted, PollFd, SockAddr};
pub use stack::{Stack, EPOCH_USECS};
