//! A Linux TUN interface as a [`Device`].
//!
//! [`Tun::builder`] opens `/dev/net/tun`, attaches to the interface of that name or creates it
//! (`TUNSETIFF` with `IFF_TUN | IFF_NO_PI`: plain IP datagrams, no packet-information header), and
//! configures the kernel's side of it through ioctls (no `ip` command is run): the MTU, the
//! kernel's own addresses with their prefixes (which install the routes to synack's addresses), and
//! the interface up.
//!
//! With [`TunBuilder::offload`], the descriptor carries a virtio-net header with each datagram
//! (`IFF_VNET_HDR`), and a burst of segments of one connection goes to the kernel as one large
//! packet whose checksum the kernel completes (TCP segmentation offload; see
//! [`super::offload`]): one `write` per burst instead of one per segment. The kernel hands its
//! own bursts over the same way, and they are cut back into segments before the engine sees them.
//!
//! An interface synack created is not persistent: the kernel removes it when the last descriptor
//! closes, that is when the [`Tun`] (and the driver that owns it) is dropped. An interface that
//! existed before (`ip tuntap add ... mode tun`) is left as it was found, addresses aside.
//!
//! Errors say what to do: `/dev/net/tun` missing, not root, the interface busy or not a TUN.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

use super::offload::{self, GsoSplit, TsoBatch, VNET_HDR_LEN};
use super::Device;
use crate::sys;

/// The TUN clone device.
pub const TUN_PATH: &str = "/dev/net/tun";

/// An open TUN interface. Reading gives the datagrams the kernel routes into it; writing injects
/// datagrams as if they arrived on it.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
    mtu: usize,
    created: bool,
    /// `IFF_VNET_HDR` is on: every datagram carries a virtio-net header, and sends are gathered
    /// into TSO packets.
    offload: bool,
    batch: TsoBatch,
    /// A TSO packet read from the kernel, handed to the driver one segment at a time.
    split: GsoSplit,
}

/// Options for opening a [`Tun`]; see [`Tun::builder`].
#[derive(Clone, Debug)]
pub struct TunBuilder {
    name: String,
    mtu: Option<usize>,
    addresses: Vec<(IpAddr, u8)>,
    up: bool,
    offload: bool,
}

impl TunBuilder {
    /// Sets the interface MTU (the kernel's default for a new TUN is 1500).
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Gives the kernel's side of the interface `addr/prefix` (IPv4 or IPv6; one IPv4 address per
    /// interface). The prefix route this installs is how the kernel reaches synack's addresses.
    #[must_use]
    pub fn address(mut self, addr: IpAddr, prefix: u8) -> Self {
        self.addresses.push((addr, prefix));
        self
    }

    /// Hands bursts of TCP segments to the kernel as single large packets, and takes the
    /// kernel's own that way, cut back into segments before the engine sees them (TCP
    /// segmentation offload through `IFF_VNET_HDR` and `TUNSETOFFLOAD`; see [`super::offload`]).
    /// Off by default. The kernel's TCP sees the same bytes with the same sequence numbers,
    /// merged as GRO would merge them; a capture on the interface (tcpdump on the kernel's side)
    /// shows the merged packets.
    #[must_use]
    pub fn offload(mut self, offload: bool) -> Self {
        self.offload = offload;
        self
    }

    /// Brings the interface up after configuring it (the default).
    #[must_use]
    pub fn up(mut self, up: bool) -> Self {
        self.up = up;
        self
    }

    /// Opens or creates the interface and configures it.
    pub fn open(self) -> io::Result<Tun> {
        let mut tun = Tun::attach(&self.name, self.offload)?;
        if let Some(mtu) = self.mtu {
            tun.set_mtu(mtu)?;
        }
        if self.up {
            tun.set_up(true)?;
        }
        for (addr, prefix) in &self.addresses {
            tun.add_address(*addr, *prefix)?;
        }
        Ok(tun)
    }
}

/// An error with a message a user can act on, keeping the original kind.
fn explained(e: &io::Error, message: String) -> io::Error {
    io::Error::new(e.kind(), message)
}

fn os_text(e: &io::Error) -> String {
    let t = e.to_string();
    match t.rfind(" (os error ") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

impl Tun {
    /// Starts configuring the interface `name` (empty, or with `%d`, lets the kernel number it).
    pub fn builder(name: &str) -> TunBuilder {
        TunBuilder {
            name: name.to_string(),
            mtu: None,
            addresses: Vec::new(),
            up: true,
            offload: false,
        }
    }

    /// Attaches to the TUN interface `name`, creating it when it does not exist. Nothing is
    /// configured; see [`Tun::builder`].
    pub fn open(name: &str) -> io::Result<Tun> {
        Self::attach(name, false)
    }

    fn attach(name: &str, offload: bool) -> io::Result<Tun> {
        let existed = !name.is_empty() && !name.contains('%') && sys::if_index(name).is_some();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => explained(
                    &e,
                    format!(
                        "{TUN_PATH} does not exist: load the tun module (modprobe tun) or create \
                         it (mknod {TUN_PATH} c 10 200)"
                    ),
                ),
                Some(libc::EACCES) | Some(libc::EPERM) => explained(
                    &e,
                    format!("cannot open {TUN_PATH}: permission denied (run as root)"),
                ),
                _ => explained(&e, format!("cannot open {TUN_PATH}: {}", os_text(&e))),
            })?;
        let actual =
            sys::tun_set_iff(&file, name, offload).map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => explained(
                    &e,
                    if existed {
                        format!("attaching to TUN interface '{name}' needs root (CAP_NET_ADMIN)")
                    } else {
                        format!("creating TUN interface '{name}' needs root (CAP_NET_ADMIN)")
                    },
                ),
                Some(libc::EBUSY) => explained(
                    &e,
                    format!("interface '{name}' is busy: another process has it open"),
                ),
                Some(libc::EINVAL) if existed => explained(
                    &e,
                    format!("interface '{name}' exists and is not a TUN interface"),
                ),
                Some(libc::EINVAL) => {
                    explained(&e, format!("'{name}' is not a valid interface name"))
                }
                _ => explained(
                    &e,
                    format!("cannot open TUN interface '{name}': {}", os_text(&e)),
                ),
            })?;
        if offload {
            // The kernel may then hand over up to 64 KiB of one connection per read (cut back
            // into segments here) with checksums left partial. A kernel that refuses keeps
            // segmenting and checksumming itself, which works as well, only slower.
            let flags = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
            if let Err(e) = sys::tun_set_offload(&file, flags) {
                tracing::debug!("{actual}: TUNSETOFFLOAD refused ({e}); receiving unmerged");
            }
        }
        let sock = sys::ioctl_socket(libc::AF_INET)?;
        let mtu = sys::if_mtu(&sock, &actual).unwrap_or(1500);
        Ok(Tun {
            file,
            name: actual,
            mtu,
            created: !existed,
            offload,
            batch: TsoBatch::new(),
            split: GsoSplit::new(),
        })
    }

    /// The interface's name.
    pub fn if_name(&self) -> &str {
        &self.name
    }

    /// True when bursts of segments go to the kernel as TSO packets ([`TunBuilder::offload`]).
    pub fn offloads(&self) -> bool {
        self.offload
    }

    /// True when this `Tun` created the interface (it disappears when the `Tun` is dropped).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Sets the interface MTU.
    pub fn set_mtu(&mut self, mtu: usize) -> io::Result<()> {
        let sock = sys::ioctl_socket(libc::AF_INET)?;
        sys::set_if_mtu(&sock, &self.name, mtu).map_err(|e| {
            explained(
                &e,
                format!(
                    "cannot set the MTU of '{}' to {mtu}: {}",
                    self.name,
                    os_text(&e)
                ),
            )
        })?;
        self.mtu = mtu;
        Ok(())
    }

    /// Brings the interface up (or down).
    pub fn set_up(&self, up: bool) -> io::Result<()> {
        set_link_up(&self.name, up)
    }

    /// Gives the kernel's side of the interface the address `addr/prefix`. For IPv4 this replaces
    /// the interface's address; IPv6 addresses accumulate.
    pub fn add_address(&self, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let fail = |e: io::Error| {
            explained(
                &e,
                format!(
                    "cannot give '{}' the address {addr}/{prefix}: {}",
                    self.name,
                    os_text(&e)
                ),
            )
        };
        match addr {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("prefix /{prefix} is longer than 32"),
                    ));
                }
                let sock = sys::ioctl_socket(libc::AF_INET)?;
                sys::set_if_addr_v4(&sock, &self.name, v4, prefix).map_err(fail)
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("prefix /{prefix} is longer than 128"),
                    ));
                }
                let index = sys::if_index(&self.name).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no interface '{}'", self.name),
                    )
                })?;
                let sock = sys::ioctl_socket(libc::AF_INET6).map_err(|e| {
                    explained(&e, format!("IPv6 is not available here: {}", os_text(&e)))
                })?;
                match sys::add_if_addr_v6(&sock, index, v6, prefix) {
                    // Already there (an interface configured beforehand): fine.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    r => r.map_err(fail)?,
                }
                wait_until_usable(&self.name, v6);
                Ok(())
            }
        }
    }
}

/// `IFA_F_TENTATIVE`: duplicate address detection has not finished; the address cannot be bound.
const IFA_F_TENTATIVE: u32 = 0x40;

/// Waits (up to 3 s) until the kernel no longer marks `addr` on `name` tentative. A TUN interface
/// has no neighbours to detect (`IFF_NOARP` skips DAD), but the kernel still completes the address
/// asynchronously, and until then `bind()` to it fails with `EADDRNOTAVAIL`.
fn wait_until_usable(name: &str, addr: std::net::Ipv6Addr) {
    let want: String = addr.octets().iter().map(|b| format!("{b:02x}")).collect();
    let deadline = Instant::now() + std::time::Duration::from_secs(3);
    while Instant::now() < deadline {
        // thread-self: the table of this thread's network namespace.
        let Ok(table) = std::fs::read_to_string("/proc/thread-self/net/if_inet6") else {
            return;
        };
        let tentative = table.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 6
                && f[0] == want
                && f[5] == name
                && u32::from_str_radix(f[4], 16).is_ok_and(|fl| fl & IFA_F_TENTATIVE != 0)
        });
        if !tentative {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Brings the interface `name` up or down (`SIOCSIFFLAGS`), e.g. `lo` in a new network namespace.
pub fn set_link_up(name: &str, up: bool) -> io::Result<()> {
    let sock = sys::ioctl_socket(libc::AF_INET)?;
    let flags = sys::if_flags(&sock, name)
        .map_err(|e| explained(&e, format!("no interface '{name}': {}", os_text(&e))))?;
    let want = if up {
        flags | libc::IFF_UP as libc::c_short
    } else {
        flags & !(libc::IFF_UP as libc::c_short)
    };
    if want != flags {
        sys::set_if_flags(&sock, name, want).map_err(|e| {
            explained(
                &e,
                format!(
                    "cannot bring '{name}' {}: {}",
                    if up { "up" } else { "down" },
                    os_text(&e)
                ),
            )
        })?;
    }
    Ok(())
}

impl Device for Tun {
    fn name(&self) -> &str {
        &self.name
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&mut self, _now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(n) = self.split.next_into(buf) {
            return Ok(Some(n));
        }
        loop {
            let got = if self.offload {
                let mut hdr = [0u8; VNET_HDR_LEN];
                let mut parts = [io::IoSliceMut::new(&mut hdr), io::IoSliceMut::new(buf)];
                self.file
                    .read_vectored(&mut parts)
                    .map(|n| (n.saturating_sub(VNET_HDR_LEN), Some(hdr)))
            } else {
                self.file.read(buf).map(|n| (n, None))
            };
            match got {
                Ok((n, None)) => return Ok(Some(n)),
                Ok((n, Some(hdr))) => {
                    return Ok(Some(offload::received(&hdr, buf, n, &mut self.split)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()> {
        if !self.offload {
            return write_dropping(&mut self.file, datagram);
        }
        if self.batch.push(datagram) {
            return Ok(());
        }
        let sent = self.flush_tx(now);
        self.batch.push(datagram);
        sent
    }

    fn flush_tx(&mut self, _now: Instant) -> io::Result<()> {
        let sent = match self.batch.finish() {
            Some(bytes) => write_dropping(&mut self.file, bytes),
            None => Ok(()),
        };
        self.batch.clear();
        sent
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }
}

/// Writes one datagram (with its virtio-net header when offloading) to the TUN descriptor. A
/// full queue drops it, as a NIC would; TCP recovers.
fn write_dropping(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    loop {
        match file.write(bytes) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
