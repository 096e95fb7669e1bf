//! Devices: where IP datagrams enter and leave the stack.
//!
//! A [`Device`] moves whole IP datagrams (IPv4 or IPv6, no link-layer header) and never blocks.
//! The [`Driver`](crate::Driver) reads from it until it has nothing more, writes what the engine
//! sends, and sleeps until the device's file descriptor is readable ([`Device::poll_fd`]), its next
//! deadline passes ([`Device::poll_at`]), or its [`Notifier`] is rung.
//!
//! The devices here:
//! - [`Tun`]: a Linux TUN interface, so the kernel's own TCP can talk to synack;
//! - [`SimDevice`]: an in-memory link between two drivers in one process, with the
//!   impairments of [`synack_sim::LinkConfig`];
//! - [`PcapTap`]: wraps any device and writes what passes to a pcap file;
//! - [`Impaired`]: wraps any device and loses, delays, jitters, reorders and
//!   duplicates what passes, from a seed (a userspace netem).

pub mod impair;
pub mod offload;
pub mod pcap_tap;
pub mod sim;
pub mod tun;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

pub use impair::Impaired;
pub use pcap_tap::PcapTap;
pub use sim::SimDevice;
pub use synack_sim::LinkConfig;
pub use tun::Tun;

/// Largest datagram any device hands to the driver (the IPv4 total-length limit).
pub const MAX_DATAGRAM: usize = 65535;

/// A source and sink of IP datagrams. Implementations must not block.
pub trait Device: Send + 'static {
    /// A name for logs and errors (`tun0`, `sim-a`).
    fn name(&self) -> &str;

    /// The largest datagram the device carries, IP header included.
    fn mtu(&self) -> usize;

    /// Takes one arriving datagram into `buf` (at least [`MAX_DATAGRAM`] bytes) and returns its
    /// length, or `Ok(None)` when nothing more is ready now. A device with a file descriptor must
    /// return `None` only once the descriptor has been read until it would block (the tokio
    /// driver waits for edges).
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Sends one datagram. A device that cannot take it now drops it, as a full NIC queue does;
    /// TCP recovers. An error is logged by the driver and the datagram counted as dropped.
    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()>;

    /// Sends what [`Device::send`] held back to send together (a [`Tun`] with
    /// [`offload`](tun::TunBuilder::offload) gathers a burst of segments into one packet). The
    /// driver calls it after every round of sends, before it sleeps.
    fn flush_tx(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }

    /// A descriptor the driver polls for readability, when the device has one.
    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    /// When the device next needs [`Device::service`] or has a datagram due (delayed packets).
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Does time-driven work, such as releasing delayed outgoing datagrams. The driver calls it
    /// on every turn of its loop.
    fn service(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }

    /// Hands the device a way to wake the driver, for devices that learn about arrivals without a
    /// descriptor (an in-memory peer). Called once, when the driver starts.
    fn set_notifier(&mut self, _notifier: Notifier) {}
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(now, buf)
    }
    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()> {
        (**self).send(now, datagram)
    }
    fn flush_tx(&mut self, now: Instant) -> io::Result<()> {
        (**self).flush_tx(now)
    }
    fn poll_fd(&self) -> Option<RawFd> {
        (**self).poll_fd()
    }
    fn poll_at(&self) -> Option<Instant> {
        (**self).poll_at()
    }
    fn service(&mut self, now: Instant) -> io::Result<()> {
        (**self).service(now)
    }
    fn set_notifier(&mut self, notifier: Notifier) {
        (**self).set_notifier(notifier)
    }
}

/// Wakes a driver's loop from any thread (an eventfd the loop polls). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier {
    fd: Arc<File>,
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Self> {
        let fd: OwnedFd = crate::sys::eventfd()?;
        Ok(Self {
            fd: Arc::new(File::from(fd)),
        })
    }

    /// Wakes the driver: it runs its loop once more as soon as it can.
    pub fn notify(&self) {
        // A full counter (after 2^64-2 wakes nobody drained) is the only failure, and it still
        // leaves the descriptor readable, which is all a wake-up needs.
        let _ = (&*self.fd).write(&1u64.to_ne_bytes());
    }

    /// Resets the counter after a wake-up.
    pub(crate) fn drain(&self) {
        let mut b = [0u8; 8];
        let _ = (&*self.fd).read(&mut b);
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
