//! What the interop tests share: a private network namespace per test, a TUN interface with the
//! kernel on one side and a synack driver on the other, and a checked byte stream.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sha2::{Digest, Sha256};
use synack::device::{Impaired, LinkConfig, Tun};
use synack::Driver;

/// The kernel's address on the TUN (IPv4) and synack's.
pub const KERNEL4: &str = "10.9.0.1";
/// synack's IPv4 address.
pub const SYNACK4: &str = "10.9.0.2";
/// The kernel's IPv6 address.
pub const KERNEL6: &str = "fd00:9::1";
/// synack's IPv6 address.
pub const SYNACK6: &str = "fd00:9::2";

fn required() -> bool {
    std::env::var("SYNACK_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

/// Runs `f` on a thread inside a fresh network namespace (with `lo` up). Without the privileges
/// for that (or without `/dev/net/tun`), prints why and returns, unless `SYNACK_REQUIRE_NETNS=1`,
/// when it fails.
pub fn in_netns<F: FnOnce() + Send + 'static>(test: &str, f: F) {
    if !std::path::Path::new(synack::device::tun::TUN_PATH).exists() {
        skip(
            test,
            &format!("{} is missing", synack::device::tun::TUN_PATH),
        );
        return;
    }
    let t = std::thread::Builder::new()
        .name(format!("netns-{test}"))
        .spawn(move || -> io::Result<()> {
            synack::netns::unshare()?;
            f();
            Ok(())
        })
        .expect("spawn the test thread");
    match t.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => skip(test, &e.to_string()),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn skip(test: &str, why: &str) {
    if required() {
        panic!("{test}: SYNACK_REQUIRE_NETNS=1 but the test cannot run: {why}");
    }
    eprintln!("{test}: skipped: {why} (needs root; set SYNACK_REQUIRE_NETNS=1 to make this fatal)");
}

/// One side of the TUN: which family, addresses, impairments.
#[derive(Default)]
pub struct Setup {
    pub v6: bool,
    pub impair: Option<(LinkConfig, u64)>,
    pub tokio: bool,
    pub mtu: Option<usize>,
    /// TCP segmentation offload towards the kernel (`TunBuilder::offload`).
    pub offload: bool,
}

/// A TUN interface in the current namespace with a synack driver on it.
pub struct Net {
    pub driver: Driver,
    pub kernel: IpAddr,
    pub synack: IpAddr,
}

impl Net {
    /// IPv4, no impairment, driver on a thread.
    pub fn v4() -> Net {
        Net::new(Setup::default())
    }

    /// IPv6, no impairment, driver on a thread.
    pub fn v6() -> Net {
        Net::new(Setup {
            v6: true,
            ..Setup::default()
        })
    }

    /// IPv4 through the impairment wrapper.
    pub fn impaired(config: LinkConfig, seed: u64) -> Net {
        Net::new(Setup {
            impair: Some((config, seed)),
            ..Setup::default()
        })
    }

    pub fn new(setup: Setup) -> Net {
        let (kernel, synack, prefix): (IpAddr, IpAddr, u8) = if setup.v6 {
            (KERNEL6.parse().unwrap(), SYNACK6.parse().unwrap(), 64)
        } else {
            (KERNEL4.parse().unwrap(), SYNACK4.parse().unwrap(), 24)
        };
        let mut b = Tun::builder("synack0")
            .address(kernel, prefix)
            .offload(setup.offload);
        if let Some(mtu) = setup.mtu {
            b = b.mtu(mtu);
        }
        let tun = b.open().expect("open the TUN interface");
        let builder = Driver::builder().address(synack);
        let builder = match setup.impair {
            Some((cfg, seed)) => builder.device(Impaired::symmetric(tun, cfg, seed)),
            None => builder.device(tun),
        };
        let driver = if setup.tokio {
            builder.spawn_tokio().expect("start the driver task")
        } else {
            builder.spawn().expect("start the driver")
        };
        Net {
            driver,
            kernel,
            synack,
        }
    }

    pub fn synack_at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.synack, port)
    }

    pub fn kernel_at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.kernel, port)
    }
}

/// A deterministic byte stream (xorshift64*), so both ends can be checked by SHA-256.
pub struct Pattern {
    state: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What one side saw of a transfer.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Digest256 {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Writes `len` bytes of the pattern `seed` and returns their digest.
pub fn send_pattern(w: &mut impl Write, seed: u64, len: u64) -> io::Result<Digest256> {
    let mut p = Pattern::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        p.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(Digest256 {
        bytes: len,
        sha256: h.finalize().into(),
    })
}

/// The digest of `len` bytes of the pattern `seed`, without sending them.
pub fn pattern_digest(seed: u64, len: u64) -> Digest256 {
    send_pattern(&mut io::sink(), seed, len).unwrap()
}

/// Reads to end of stream and returns the digest of what came.
pub fn recv_digest(r: &mut impl Read) -> io::Result<Digest256> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok(Digest256 {
        bytes: total,
        sha256: h.finalize().into(),
    })
}

/// A generous bound for any single blocking step of a test (never asserted as a timing).
pub const STEP: Duration = Duration::from_secs(120);

/// Sets read and write timeouts on a kernel socket so that a stuck test fails instead of hanging.
pub fn bound_kernel(s: &std::net::TcpStream) {
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
}

/// The same for a synack socket.
pub fn bound_synack(s: &synack::net::TcpStream) {
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
}

/// The kernel's TCP state of sockets with local port `port` in this thread's namespace, read from
/// `/proc/thread-self/net/tcp{,6}` (state numbers of `include/net/tcp_states.h`).
pub fn kernel_tcp_states(local_port: u16, remote_port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for file in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let port = |s: &str| {
                s.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if port(f[1]) == Some(local_port) && port(f[2]) == Some(remote_port) {
                if let Ok(st) = u8::from_str_radix(f[3], 16) {
                    out.push(st);
                }
            }
        }
    }
    out
}

/// `TCP_TIME_WAIT` in `/proc/net/tcp`.
pub const LINUX_TIME_WAIT: u8 = 6;
