//! An in-memory link between two drivers in one process, in real time.
//!
//! [`SimDevice::pair`] gives the two ends of a link whose directions have the impairments of
//! [`synack_sim::LinkConfig`] (delay, jitter, rate and queue, loss, duplication, reordering,
//! corruption, MTU), the same stages the deterministic simulator applies, here on the wall clock.
//! Give each end to its own [`Driver`](crate::Driver) and two stacks talk with no kernel and no
//! privileges: the way to test an application against synack in an ordinary `cargo test`.
//!
//! ```
//! use synack::device::{LinkConfig, SimDevice};
//! use synack::Driver;
//! let (a, b) = SimDevice::pair(LinkConfig::default(), LinkConfig::default(), 7);
//! let client = Driver::builder().address("10.0.0.1".parse().unwrap()).device(a).spawn()?;
//! let server = Driver::builder().address("10.0.0.2".parse().unwrap()).device(b).spawn()?;
//! let listener = synack::net::TcpListener::bind(&server, "10.0.0.2:7")?;
//! let mut c = synack::net::TcpStream::connect(&client, "10.0.0.2:7")?;
//! let (mut s, _) = listener.accept()?;
//! use std::io::{Read, Write};
//! c.write_all(b"hi")?;
//! let mut buf = [0; 2];
//! s.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"hi");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use synack_sim::rng::splitmix64;
use synack_sim::LinkConfig;

use super::impair::{ImpairStats, ImpairedPath};
use super::{Device, Notifier};

/// One direction of the link: what is in flight, and how to wake its receiver.
#[derive(Debug)]
struct Direction {
    path: ImpairedPath,
    receiver: Option<Notifier>,
}

fn lock(d: &Mutex<Direction>) -> MutexGuard<'_, Direction> {
    // A panic elsewhere cannot leave a Direction half-updated in a way that matters here.
    d.lock().unwrap_or_else(|e| e.into_inner())
}

/// One end of an in-memory link; see the module documentation.
#[derive(Debug)]
pub struct SimDevice {
    name: String,
    mtu: usize,
    outgoing: Arc<Mutex<Direction>>,
    incoming: Arc<Mutex<Direction>>,
}

impl SimDevice {
    /// The two ends of a new link: `a_to_b` impairs what `a` sends, `b_to_a` what `b` sends.
    /// `seed` determines every random choice.
    pub fn pair(a_to_b: LinkConfig, b_to_a: LinkConfig, seed: u64) -> (SimDevice, SimDevice) {
        let mut s = seed;
        let (mtu_a, mtu_b) = (a_to_b.mtu, b_to_a.mtu);
        let ab = Arc::new(Mutex::new(Direction {
            path: ImpairedPath::new(a_to_b, splitmix64(&mut s)),
            receiver: None,
        }));
        let ba = Arc::new(Mutex::new(Direction {
            path: ImpairedPath::new(b_to_a, splitmix64(&mut s)),
            receiver: None,
        }));
        (
            SimDevice {
                name: "sim-a".into(),
                mtu: mtu_a,
                outgoing: ab.clone(),
                incoming: ba.clone(),
            },
            SimDevice {
                name: "sim-b".into(),
                mtu: mtu_b,
                outgoing: ba,
                incoming: ab,
            },
        )
    }

    /// Renames the device (for logs).
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// What this end's outgoing direction did so far.
    pub fn outgoing_stats(&self) -> ImpairStats {
        lock(&self.outgoing).path.stats()
    }
}

impl Device for SimDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut d = lock(&self.incoming);
        Ok(d.path.pop_due(now).map(|p| {
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            n
        }))
    }

    fn send(&mut self, now: Instant, datagram: &[u8]) -> io::Result<()> {
        let mut d = lock(&self.outgoing);
        let before = d.path.next_due();
        d.path.admit(now, datagram);
        // Wake the receiver when this datagram changed what it waits for.
        if d.path.next_due() != before || before.is_some_and(|t| t <= now) {
            if let Some(n) = &d.receiver {
                n.notify();
            }
        }
        Ok(())
    }

    fn poll_at(&self) -> Option<Instant> {
        lock(&self.incoming).path.next_due()
    }

    fn set_notifier(&mut self, notifier: Notifier) {
        lock(&self.incoming).receiver = Some(notifier);
    }
}
