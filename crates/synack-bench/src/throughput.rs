//! In-memory throughput: two hosts of one stack in this process, joined by a zero-delay,
//! infinitely fast link (packets are handed over directly), on the wall clock. The client
//! application writes every byte through the socket API and the server application reads every
//! byte back (and, unless told not to, compares it with what was written).

use std::time::Instant;

use crate::pair::{Packet, Pair, CLIENT, SERVER};

/// Bytes per `write` call of the client application (and size of the server's read buffer).
pub const WRITE: usize = 64 * 1024;

/// The outcome of one transfer.
#[derive(Clone, Debug)]
pub struct WallRun {
    /// Wall-clock seconds from `connect` to the last byte read.
    pub seconds: f64,
    /// Bytes read.
    pub bytes: u64,
    /// Datagrams exchanged (both ways).
    pub packets: u64,
    /// Every byte read equalled the byte written (only checked with `verify`).
    pub intact: bool,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
}

impl WallRun {
    /// Gbit/s of application data.
    pub fn gbps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 * 8.0 / self.seconds / 1e9
        } else {
            0.0
        }
    }
}

/// Moves `total` bytes of `pattern` (whose first `pattern.len() - WRITE` bytes repeat) from the
/// client to the server of `pair`.
///
/// One round of the loop: ACKs reach the client; the client runs, writes what its send buffer
/// takes, runs again (sending it); the data reaches the server; the server runs (acknowledging),
/// the application reads everything readable, and the server runs again (window updates). Both
/// stacks get exactly the same rounds.
pub fn run<P: Pair>(pair: &mut P, pattern: &[u8], total: u64, verify: bool) -> WallRun {
    let period = pattern.len().saturating_sub(WRITE).max(1);
    let mut buf = vec![0u8; WRITE];
    let mut c2s: Vec<Packet> = Vec::with_capacity(1024);
    let mut s2c: Vec<Packet> = Vec::with_capacity(1024);
    let mut written = 0u64;
    let mut read = 0u64;
    let mut packets = 0u64;
    let mut intact = true;
    let mut error = None;
    let clock = Instant::now();
    let micros = |c: &Instant| u64::try_from(c.elapsed().as_micros()).unwrap_or(u64::MAX);
    if let Err(e) = pair.start(0) {
        error = Some(e);
    }
    let mut last_progress = 0u64;
    while error.is_none() && read < total {
        let now = micros(&clock);
        packets += s2c.len() as u64;
        for p in s2c.drain(..) {
            pair.deliver(CLIENT, now, p);
        }
        pair.poll(CLIENT, now, &mut c2s);
        let before = (written, read);
        while written < total {
            let off = (written % period as u64) as usize;
            let want = (total - written).min(WRITE as u64) as usize;
            let n = pair.write(now, &pattern[off..off + want]);
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        pair.poll(CLIENT, now, &mut c2s);
        packets += c2s.len() as u64;
        for p in c2s.drain(..) {
            pair.deliver(SERVER, now, p);
        }
        pair.poll(SERVER, now, &mut s2c);
        loop {
            let n = pair.read(now, &mut buf);
            if n == 0 {
                break;
            }
            if verify {
                let off = (read % period as u64) as usize;
                intact &= buf[..n] == pattern[off..off + n];
            }
            read += n as u64;
        }
        pair.poll(SERVER, now, &mut s2c);
        if (written, read) != before {
            last_progress = now;
        } else if now.saturating_sub(last_progress) > 30_000_000 {
            error = Some(format!(
                "{}: no progress for 30 s after {read} of {total} bytes",
                pair.name()
            ));
        }
        if error.is_none() {
            error = pair.error();
        }
    }
    WallRun {
        seconds: clock.elapsed().as_secs_f64(),
        bytes: read,
        packets,
        intact: intact && read == total,
        error,
    }
}
