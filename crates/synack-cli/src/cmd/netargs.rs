//! What `synack serve` and `synack connect` share: the TUN interface, the addresses on both sides
//! of it, the impairments, the pcap capture, byte counts, and Ctrl-C.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use synack::device::{Device, Impaired, LinkConfig, PcapTap, Tun};
use synack::Driver;

/// The network arguments of `serve` and `connect`.
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// The TUN interface to use: attached to when it exists, created (and removed on exit)
    /// otherwise.
    #[arg(long, value_name = "IFNAME")]
    pub tun: String,
    /// The kernel's side of the interface, with the prefix that routes synack's address to it
    /// (10.9.0.1/24, fd00:9::1/64).
    #[arg(long, value_name = "IP/PREFIX")]
    pub tun_addr: String,
    /// synack's own address, inside --tun-addr's prefix (10.9.0.2, fd00:9::2).
    #[arg(long, value_name = "IP")]
    pub addr: String,
    /// The interface MTU [default: the interface's, 1500 for a new one].
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
    /// Record every datagram crossing the interface to this pcap file (raw IP).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// TCP segmentation offload with the kernel (IFF_VNET_HDR): bursts of segments cross the
    /// interface as single large packets, both ways.
    #[arg(long)]
    pub offload: bool,
    #[command(flatten)]
    pub impair: ImpairArgs,
}

/// Impairments of the link, applied to both directions between synack and the interface.
#[derive(Debug, clap::Args)]
pub struct ImpairArgs {
    /// Probability of losing a datagram, each way: 0.05, 5% or 5 (a number above 1 is a
    /// percentage).
    #[arg(long, value_name = "P")]
    pub loss: Option<String>,
    /// Extra one-way delay in milliseconds, each way.
    #[arg(long, value_name = "MS")]
    pub delay: Option<String>,
    /// Random extra delay up to this many milliseconds (never reorders by itself).
    #[arg(long, value_name = "MS")]
    pub jitter: Option<String>,
    /// Probability of reordering a datagram (it is held --reorder-delay longer).
    #[arg(long, value_name = "P")]
    pub reorder: Option<String>,
    /// How much longer a reordered datagram is held, in milliseconds [default: 10].
    #[arg(long, value_name = "MS")]
    pub reorder_delay: Option<String>,
    /// Probability of delivering a datagram twice.
    #[arg(long, value_name = "P")]
    pub duplicate: Option<String>,
    /// Seed of the impairments' random choices [default: 1].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

fn parse_probability(flag: &str, text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("--{flag}: '{text}' is not a probability (0.05, 5% or 5)"))?;
    let p = if percent || v > 1.0 { v / 100.0 } else { v };
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return Err(format!("--{flag}: '{text}' is not between 0 and 100%"));
    }
    Ok(p)
}

fn parse_millis(flag: &str, text: &str) -> Result<Duration, String> {
    let v: f64 = text
        .trim()
        .trim_end_matches("ms")
        .parse()
        .map_err(|_| format!("--{flag}: '{text}' is not a number of milliseconds"))?;
    if !(0.0..=3_600_000.0).contains(&v) {
        return Err(format!("--{flag}: '{text}' is out of range"));
    }
    Ok(Duration::from_micros((v * 1000.0) as u64))
}

impl ImpairArgs {
    /// The link configuration, or `None` when no impairment was asked for.
    pub fn config(&self) -> Result<Option<(LinkConfig, u64)>, String> {
        let mut c = LinkConfig::default();
        let mut any = false;
        if let Some(t) = &self.loss {
            c.loss = parse_probability("loss", t)?;
            any = true;
        }
        if let Some(t) = &self.delay {
            c.delay = parse_millis("delay", t)?;
            any = true;
        }
        if let Some(t) = &self.jitter {
            c.jitter = parse_millis("jitter", t)?;
            any = true;
        }
        if let Some(t) = &self.reorder {
            c.reorder = parse_probability("reorder", t)?;
            any = true;
        }
        if let Some(t) = &self.reorder_delay {
            c.reorder_delay = parse_millis("reorder-delay", t)?;
        }
        if let Some(t) = &self.duplicate {
            c.duplicate = parse_probability("duplicate", t)?;
            any = true;
        }
        // No MTU stage here: the interface's MTU is the one that counts.
        c.mtu = usize::MAX;
        Ok(any.then_some((c, self.seed.unwrap_or(1))))
    }
}

/// Parses `IP/PREFIX`.
pub fn parse_prefix(flag: &str, text: &str) -> Result<(IpAddr, u8), String> {
    let Some((ip, len)) = text.trim().split_once('/') else {
        return Err(format!(
            "--{flag}: '{text}' needs a prefix length, like 10.9.0.1/24 or fd00:9::1/64"
        ));
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("--{flag}: '{ip}' is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("--{flag}: '/{len}' is not a prefix length (0 to {max})"))?;
    Ok((ip, len))
}

/// Parses an IP address.
pub fn parse_ip(flag: &str, text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("--{flag}: '{text}' is not an IP address"))
}

fn in_prefix(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = u32::from(prefix);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = u32::from(prefix);
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Parses a byte count: 67108864, 64M, 64MiB, 8m, 1G, 512K.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("--bytes: '{text}' is not a byte count (like 67108864 or 64M)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("--bytes: unknown unit in '{text}' (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("--bytes: '{text}' is too large"))
}

/// A running stack on a TUN interface.
pub struct Stack {
    /// The driver.
    pub driver: Driver,
    /// The interface's name.
    pub ifname: String,
    /// Whether synack created the interface (it goes away when the driver stops).
    pub created: bool,
    /// synack's address.
    pub local: IpAddr,
    /// A one-line description for the banner.
    pub describe: String,
}

/// Validates the arguments, opens and configures the interface, and starts the driver.
pub fn open_stack(args: &NetArgs) -> Result<Stack, String> {
    let (kernel, prefix) = parse_prefix("tun-addr", &args.tun_addr)?;
    let local = parse_ip("addr", &args.addr)?;
    if kernel.is_ipv4() != local.is_ipv4() {
        return Err(format!(
            "--addr {local} and --tun-addr {kernel}/{prefix} are of different IP versions"
        ));
    }
    if kernel == local {
        return Err(format!(
            "--addr {local} is the kernel's own address (--tun-addr); give synack another one"
        ));
    }
    if !in_prefix(kernel, prefix, local) {
        return Err(format!(
            "--addr {local} is outside --tun-addr {kernel}/{prefix}: the kernel would not route \
             to it"
        ));
    }
    if args.tun.is_empty() || args.tun.len() >= 16 || args.tun.contains('/') {
        return Err(format!(
            "--tun: '{}' is not a valid interface name (1 to 15 characters)",
            args.tun
        ));
    }
    if let Some(m) = args.mtu {
        let min = if local.is_ipv4() { 576 } else { 1280 };
        if !(min..=65535).contains(&m) {
            return Err(format!(
                "--mtu: {m} is out of range (576 to 65535; IPv6 needs 1280)"
            ));
        }
    }
    let impair = args.impair.config()?;
    let mut b = Tun::builder(&args.tun)
        .address(kernel, prefix)
        .offload(args.offload);
    if let Some(m) = args.mtu {
        b = b.mtu(m);
    }
    let tun = b.open().map_err(|e| e.to_string())?;
    let ifname = tun.if_name().to_string();
    let created = tun.created();
    let mtu = tun.mtu();
    let offload = if args.offload { ", TSO" } else { "" };
    let mut describe = format!("{ifname} (kernel side {kernel}/{prefix}, MTU {mtu}{offload})");
    let mut dev: Box<dyn Device> = Box::new(tun);
    if let Some(path) = &args.pcap {
        dev = Box::new(PcapTap::create(dev, path).map_err(|e| e.to_string())?);
        describe.push_str(&format!(", capturing to {}", path.display()));
    }
    if let Some((cfg, seed)) = impair {
        describe.push_str(&format!(
            ", impaired each way: loss {:.1}%, delay {:?}, jitter {:?}, reorder {:.1}% (+{:?}), \
             duplicate {:.1}%, seed {seed}",
            cfg.loss * 100.0,
            cfg.delay,
            cfg.jitter,
            cfg.reorder * 100.0,
            cfg.reorder_delay,
            cfg.duplicate * 100.0
        ));
        dev = Box::new(Impaired::symmetric(dev, cfg, seed));
    }
    let driver = Driver::builder()
        .address(local)
        .device(dev)
        .drain_timeout(Duration::from_secs(3))
        .spawn()
        .map_err(|e| format!("cannot start the synack driver: {e}"))?;
    Ok(Stack {
        driver,
        ifname,
        created,
        local,
        describe,
    })
}

/// Writes one line to stdout and flushes it (so that a pipe sees it at once); a closed stdout
/// is ignored.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writes one line to stderr.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "synack: {line}");
}

/// Runs `f` on a thread of its own when SIGINT or SIGTERM first arrives; a second one exits at
/// once (status 130).
pub fn on_interrupt(f: impl FnOnce(i32) + Send + 'static) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    std::thread::Builder::new()
        .name("synack-signals".into())
        .spawn(move || {
            let mut f = Some(f);
            for sig in signals.forever() {
                match f.take() {
                    Some(f) => {
                        std::thread::spawn(move || f(sig));
                    }
                    None => {
                        note("interrupted again: exiting now");
                        std::process::exit(130);
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

/// The bytes `serve --mode source` and `connect --mode send|echo` send: a xorshift64* stream from
/// a fixed seed, so that a run can be repeated and compared.
pub struct Pattern {
    state: u64,
}

impl Pattern {
    /// The stream every run sends.
    pub fn new() -> Self {
        Self {
            state: 0x5359_4e41_434b_2121,
        }
    }

    /// Fills `buf` with the next bytes of the stream.
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

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Mbit/s for `bytes` in `secs`.
pub fn mbits(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_accept_fractions_and_percentages() {
        assert_eq!(parse_probability("loss", "0.05").unwrap(), 0.05);
        assert_eq!(parse_probability("loss", "5%").unwrap(), 0.05);
        assert_eq!(parse_probability("loss", "5").unwrap(), 0.05);
        assert!(parse_probability("loss", "150").is_err());
        assert!(parse_probability("loss", "x").is_err());
    }

    #[test]
    fn byte_counts_take_units() {
        assert_eq!(parse_bytes("67108864").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("8k").unwrap(), 8192);
        assert!(parse_bytes("8x").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn prefixes_parse_and_contain() {
        let (ip, len) = parse_prefix("tun-addr", "10.9.0.1/24").unwrap();
        assert_eq!(len, 24);
        assert!(in_prefix(ip, len, "10.9.0.2".parse().unwrap()));
        assert!(!in_prefix(ip, len, "10.9.1.2".parse().unwrap()));
        assert!(parse_prefix("tun-addr", "10.9.0.1").is_err());
        assert!(parse_prefix("tun-addr", "10.9.0.1/33").is_err());
        let (ip6, len6) = parse_prefix("tun-addr", "fd00:9::1/64").unwrap();
        assert!(in_prefix(ip6, len6, "fd00:9::2".parse().unwrap()));
    }
}
