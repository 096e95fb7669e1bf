//! A pcap tap: wraps any device and records every datagram that passes, both ways.
//!
//! The file is classic pcap with link type `LINKTYPE_RAW` (101: each record an IPv4 or IPv6
//! datagram), timestamps from the wall clock, readable by tcpdump, Wireshark and `synack diagram`.
//! Where the tap sits decides what it sees: `PcapTap<Impaired<Tun>>` records what the engine sends
//! and receives, `Impaired<PcapTap<Tun>>` what crosses the TUN interface.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use synack_sim::pcap::{PcapWriter, LINKTYPE_RAW};

use super::{Device, Notifier};

/// How often buffered records are flushed while traffic flows.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A device that records what passes through it; see the module documentation.
pub struct PcapTap<D, W: Write = BufWriter<File>> {
    inner: D,
    writer: PcapWriter<W>,
    packets: u64,
    last_flush: Instant,
    dirty: bool,
    failed: bool,
}

impl<D: Device> PcapTap<D> {
    /// Wraps `inner`, recording to a new file at `path` (replaced if it exists).
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create '{}': {}", path.display(), e),
            )
        })?;
        Self::new(inner, BufWriter::new(file))
    }
}

impl<D: Device, W: Write + Send + 'static> PcapTap<D, W> {
    /// Wraps `inner`, recording to `out`.
    pub fn new(inner: D, out: W) -> io::Result<Self> {
        Ok(Self {
            inner,
            writer: PcapWriter::new(out, LINKTYPE_RAW)?,
            packets: 0,
            last_flush: Instant::now(),
            dirty: false,
            failed: false,
        })
    }

    /// Datagrams recorded so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Flushes what is buffered to the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    fn record(&mut self, datagram: &[u8]) {
        if self.failed {
            return;
        }
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(0));
        if let Err(e) = self.writer.write_packet(micros, datagram) {
            // A full disk must not stop the network: stop recording, say so once.
            tracing::warn!("pcap tap on {}: stopped recording: {e}", self.inner.name());
            self.failed = true;
            return;
        }
        self.packets += 1;
        self.dirty = true;
    }
}

impl<D: Device, W: Write + Send + 'static> Device for PcapTap<D, W> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = self.inner.recv(now, buf)?;
        if let Some(n) = got {
            self.record(&buf[..n.min(buf.len())]);
        }
        Ok(got)
    }

    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()> {
        self.record(datagram);
        self.inner.send(now, datagram)
    }

    fn flush_tx(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush_tx(now)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        self.inner.poll_fd()
    }

    fn poll_at(&self) -> Option<Instant> {
        let flush = (self.dirty && !self.failed).then_some(self.last_flush + FLUSH_EVERY);
        [flush, self.inner.poll_at()].into_iter().flatten().min()
    }

    fn service(&mut self, now: Instant) -> io::Result<()> {
        if self.dirty && now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            self.last_flush = now;
            self.dirty = false;
            if !self.failed && self.writer.flush().is_err() {
                self.failed = true;
            }
        }
        self.inner.service(now)
    }

    fn set_notifier(&mut self, notifier: Notifier) {
        self.inner.set_notifier(notifier);
    }
}

impl<D, W: Write> Drop for PcapTap<D, W> {
    fn drop(&mut self) {
        let _ = self.writer.flush();
    }
}
