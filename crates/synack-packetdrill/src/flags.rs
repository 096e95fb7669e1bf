//! The `--so_flags` string: a space-separated list of `key=value` settings.
//!
//! packetdrill hands the shared object the text of its `--so_flags` option unchanged, e.g.
//! `--so_flags="local_ip=192.168.0.2 tcp_rmem=4096,540000,15728640"`. The defaults are the
//! values `gtests/net/common/defaults.sh` of packetdrill's Linux test suite gives the kernel, so
//! that scripts written against that configuration run unchanged. Where `/proc/sys` can be read,
//! the network namespace's TCP sysctls replace those defaults (flags still win over them), and a
//! sysctl the script itself changes wins over the flags, as it would on Linux: see
//! [`crate::sysctl`]. `sysctls=0` keeps to the defaults and the flags.
//!
//! | key | value | default | Linux knob it stands for |
//! |---|---|---|---|
//! | `local_ip` | an IPv4 or IPv6 address; repeat the key or give a comma-separated list | `192.168.0.1` and `fd3d:fa7b:d17d::1` (packetdrill's `--local_ip` defaults); a family not given keeps its default | the tun device's address |
//! | `tcp_rmem` | `min,default,max` bytes | `4096,540000,15728640` | `net.ipv4.tcp_rmem` |
//! | `rcvbuf` | bytes | `540000` | `tcp_rmem[1]`: the initial receive buffer, half of it window space as on Linux |
//! | `tcp_rmem_max`, `rcvbuf_max` | bytes | `15728640` (15 MiB: window scale 8) | `tcp_rmem[2]`: fixes the window scale announced |
//! | `tcp_wmem` | `min,default,max` bytes | `4096,262144,4194304` | `net.ipv4.tcp_wmem` |
//! | `sndbuf` | bytes | `262144` | `tcp_wmem[1]` |
//! | `tcp_wmem_max`, `sndbuf_max` | bytes | `4194304` | `tcp_wmem[2]` |
//! | `rmem_max` | bytes | `212992` | `net.core.rmem_max` (caps `SO_RCVBUF`) |
//! | `wmem_max` | bytes | `212992` | `net.core.wmem_max` (caps `SO_SNDBUF`) |
//! | `mss` | bytes | `1460` | MSS of an MTU 1500 route (IPv6 announces 20 less) |
//! | `mtu` | bytes | `1500` | sets `mss` to `mtu - 40` |
//! | `timestamps`, `sack`, `window_scaling` | `0` or `1` | `1` | `net.ipv4.tcp_timestamps`, `tcp_sack`, `tcp_window_scaling` |
//! | `syn_retries`, `synack_retries` | count | `5`, `5` | `net.ipv4.tcp_syn_retries`, `tcp_synack_retries` |
//! | `syn_linear_timeouts` | count | `0` | `net.ipv4.tcp_syn_linear_timeouts` |
//! | `retries2` | count | `15` | `net.ipv4.tcp_retries2` (the time that many timeouts take from 200 ms: 924.6 s) |
//! | `orphan_retries` | count; `0` means 8 | `0` | `net.ipv4.tcp_orphan_retries` (the same for a closed socket still sending) |
//! | `init_cwnd` | segments | `10` | `TCP_INIT_CWND` |
//! | `congestion_control` | `cubic`, `reno` or `newreno` | `cubic` | `net.ipv4.tcp_congestion_control` |
//! | `tlp` | `0` or `1` | `1` | tail loss probes (`net.ipv4.tcp_early_retrans` = 4) |
//! | `frto` | `0`, `1` or `2` | `2` | F-RTO after timeouts (`net.ipv4.tcp_frto`; any non-zero value is RFC 5682's SACK-enhanced form where SACK is on) |
//! | `syncookies` | `0` or `1` | `1` | `net.ipv4.tcp_syncookies` |
//! | `slow_start_after_idle` | `0` or `1` | `1` | `net.ipv4.tcp_slow_start_after_idle` |
//! | `tw_reuse` | `0`, `1` or `2` | `2` | `net.ipv4.tcp_tw_reuse` (2: loopback addresses only; a bound port takes its TIME-WAIT tuple over whatever this says) |
//! | `min_tso_segs` | segments, at least 1 | `2` | `net.ipv4.tcp_min_tso_segs` (where PSH marks the end of a GSO packet) |
//! | `comp_sack_nr` | count; `0` turns SACK compression off | `44` | `net.ipv4.tcp_comp_sack_nr` (duplicate ACKs held back in a row) |
//! | `comp_sack_delay_ns` | nanoseconds | `1000000` | `net.ipv4.tcp_comp_sack_delay_ns` (the longest a duplicate ACK is held back; microsecond resolution) |
//! | `sysctls` | `0` or `1` | `1` | follow the namespace's TCP sysctls that a script changes (see [`crate::sysctl`]) |
//! | `seed` | integer | `1` | keys ISNs, timestamp offsets and port choice: runs repeat exactly |
//! | `verbose` | `0` or `1` | `0` | print each call and packet on stderr |
//!
//! Keys are also accepted with dashes instead of underscores and with a leading `--`. An unknown
//! key, or a value that does not parse, is reported on stderr (`synack-packetdrill: ...`) and
//! ignored: the default stays. (packetdrill's init hook returns `void`, so the shared object
//! cannot refuse to start; it says what it ignored instead.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack_proto::cc::Algorithm;
use synack_proto::{Config, TwReuse};

/// Everything the flags configure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Local addresses of the stack.
    pub local_ips: Vec<IpAddr>,
    /// Initial receive buffer (`tcp_rmem[1]`), also what `SO_RCVBUF` reads when not set.
    pub rcvbuf: usize,
    /// Largest receive buffer (`tcp_rmem[2]`): fixes the window scale.
    pub rcvbuf_max: usize,
    /// Initial send buffer (`tcp_wmem[1]`), also what `SO_SNDBUF` reads when not set.
    pub sndbuf: usize,
    /// Largest send buffer (`tcp_wmem[2]`).
    pub sndbuf_max: usize,
    /// `net.core.rmem_max`: the cap of `SO_RCVBUF` before Linux doubles it.
    pub rmem_max: usize,
    /// `net.core.wmem_max`: the cap of `SO_SNDBUF` before Linux doubles it.
    pub wmem_max: usize,
    /// MSS announced over IPv4 (IPv6 announces 20 bytes less).
    pub mss: u16,
    /// `net.ipv4.tcp_timestamps`.
    pub timestamps: bool,
    /// `net.ipv4.tcp_sack`.
    pub sack: bool,
    /// `net.ipv4.tcp_window_scaling`.
    pub window_scaling: bool,
    /// `net.ipv4.tcp_syn_retries`.
    pub syn_retries: u8,
    /// `net.ipv4.tcp_synack_retries`.
    pub synack_retries: u8,
    /// `net.ipv4.tcp_syn_linear_timeouts`.
    pub syn_linear_timeouts: u8,
    /// `net.ipv4.tcp_retries2`.
    pub retries2: u8,
    /// `net.ipv4.tcp_orphan_retries` (0 stands for Linux's 8).
    pub orphan_retries: u8,
    /// Initial congestion window in segments.
    pub init_cwnd: u32,
    /// Congestion control.
    pub congestion_control: Algorithm,
    /// Tail loss probes.
    pub tlp: bool,
    /// F-RTO after retransmission timeouts.
    pub frto: bool,
    /// SYN cookies when the SYN queue overflows.
    pub syncookies: bool,
    /// `net.ipv4.tcp_slow_start_after_idle`.
    pub slow_start_after_idle: bool,
    /// `net.ipv4.tcp_tw_reuse`.
    pub tw_reuse: TwReuse,
    /// `net.ipv4.tcp_min_tso_segs`.
    pub min_tso_segs: u32,
    /// `net.ipv4.tcp_comp_sack_nr`.
    pub comp_sack_nr: u32,
    /// `net.ipv4.tcp_comp_sack_delay_ns`.
    pub comp_sack_delay_ns: u64,
    /// Follow the sysctls a script changes ([`crate::sysctl`]).
    pub sysctls: bool,
    /// The engine's seed.
    pub seed: u64,
    /// Print each call and packet on stderr.
    pub verbose: bool,
}

/// packetdrill's default local IPv4 address (`config.c`).
pub const DEFAULT_LOCAL_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// packetdrill's default local IPv6 address (`config.c`).
pub const DEFAULT_LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            local_ips: vec![IpAddr::V4(DEFAULT_LOCAL_V4), IpAddr::V6(DEFAULT_LOCAL_V6)],
            rcvbuf: 540_000,
            rcvbuf_max: 15 * 1024 * 1024,
            sndbuf: 256 * 1024,
            sndbuf_max: 4 * 1024 * 1024,
            rmem_max: 212_992,
            wmem_max: 212_992,
            mss: 1460,
            timestamps: true,
            sack: true,
            window_scaling: true,
            syn_retries: 5,
            synack_retries: 5,
            syn_linear_timeouts: 0,
            retries2: 15,
            orphan_retries: 0,
            init_cwnd: 10,
            congestion_control: Algorithm::Cubic,
            tlp: true,
            frto: true,
            syncookies: true,
            slow_start_after_idle: true,
            tw_reuse: TwReuse::Loopback,
            min_tso_segs: 2,
            comp_sack_nr: 44,
            comp_sack_delay_ns: 1_000_000,
            sysctls: true,
            seed: 1,
            verbose: false,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Option<T> {
    v.trim().parse().ok()
}

/// `min,default,max` (commas, colons or slashes between).
fn parse_triple(v: &str) -> Option<[usize; 3]> {
    let parts: Vec<&str> = v.split([',', ':', '/']).collect();
    match parts.as_slice() {
        [a, b, c] => Some([parse_num(a)?, parse_num(b)?, parse_num(c)?]),
        _ => None,
    }
}

impl Settings {
    /// Parses the flags string. Returns the settings and one message per key that was ignored
    /// (unknown key, missing `=`, or a value that does not parse).
    pub fn parse(flags: &str) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut problems = Vec::new();
        let mut ips: Vec<IpAddr> = Vec::new();
        let mut mss_set = false;
        for item in flags.split_whitespace() {
            let Some((key, value)) = item.split_once('=') else {
                problems.push(format!(
                    "ignoring so_flags item '{item}': expected key=value"
                ));
                continue;
            };
            let key = key.trim_start_matches('-').replace('-', "_");
            let ok = match key.as_str() {
                "local_ip" => {
                    let mut all = true;
                    for v in value.split(',').filter(|v| !v.is_empty()) {
                        // Accept an optional prefix length, as packetdrill's --remote_ip does.
                        let addr = v.split('/').next().unwrap_or(v);
                        match addr.parse::<IpAddr>() {
                            Ok(ip) => {
                                if !ips.contains(&ip) {
                                    ips.push(ip);
                                }
                            }
                            Err(_) => all = false,
                        }
                    }
                    all
                }
                "tcp_rmem" => parse_triple(value)
                    .map(|[_, d, m]| {
                        s.rcvbuf = d;
                        s.rcvbuf_max = m;
                    })
                    .is_some(),
                "tcp_wmem" => parse_triple(value)
                    .map(|[_, d, m]| {
                        s.sndbuf = d;
                        s.sndbuf_max = m;
                    })
                    .is_some(),
                "rcvbuf" => parse_num(value).map(|v| s.rcvbuf = v).is_some(),
                "rcvbuf_max" | "tcp_rmem_max" => {
                    parse_num(value).map(|v| s.rcvbuf_max = v).is_some()
                }
                "sndbuf" => parse_num(value).map(|v| s.sndbuf = v).is_some(),
                "sndbuf_max" | "tcp_wmem_max" => {
                    parse_num(value).map(|v| s.sndbuf_max = v).is_some()
                }
                "rmem_max" => parse_num(value).map(|v| s.rmem_max = v).is_some(),
                "wmem_max" => parse_num(value).map(|v| s.wmem_max = v).is_some(),
                "mss" => parse_num::<u16>(value)
                    .filter(|m| *m >= 88)
                    .map(|v| {
                        s.mss = v;
                        mss_set = true;
                    })
                    .is_some(),
                "mtu" => parse_num::<u32>(value)
                    .filter(|m| (128..=65_535).contains(m))
                    .map(|m| {
                        if !mss_set {
                            s.mss = (m - 40) as u16;
                        }
                    })
                    .is_some(),
                "timestamps" | "tcp_timestamps" => {
                    parse_bool(value).map(|v| s.timestamps = v).is_some()
                }
                "sack" | "tcp_sack" => parse_bool(value).map(|v| s.sack = v).is_some(),
                "window_scaling" | "tcp_window_scaling" => {
                    parse_bool(value).map(|v| s.window_scaling = v).is_some()
                }
                "syn_retries" | "tcp_syn_retries" => {
                    parse_num(value).map(|v| s.syn_retries = v).is_some()
                }
                "synack_retries" | "tcp_synack_retries" => {
                    parse_num(value).map(|v| s.synack_retries = v).is_some()
                }
                "syn_linear_timeouts" | "tcp_syn_linear_timeouts" => parse_num(value)
                    .map(|v| s.syn_linear_timeouts = v)
                    .is_some(),
                "retries2" | "tcp_retries2" => parse_num(value).map(|v| s.retries2 = v).is_some(),
                "orphan_retries" | "tcp_orphan_retries" => {
                    parse_num(value).map(|v| s.orphan_retries = v).is_some()
                }
                "init_cwnd" | "initcwnd" => parse_num::<u32>(value)
                    .filter(|v| *v > 0)
                    .map(|v| s.init_cwnd = v)
                    .is_some(),
                "congestion_control" | "tcp_congestion_control" | "cc" => match value {
                    "cubic" => {
                        s.congestion_control = Algorithm::Cubic;
                        true
                    }
                    "reno" | "newreno" => {
                        s.congestion_control = Algorithm::NewReno;
                        true
                    }
                    _ => false,
                },
                "tlp" | "tail_loss_probe" => parse_bool(value).map(|v| s.tlp = v).is_some(),
                "frto" | "tcp_frto" => match value {
                    "0" | "1" | "2" => {
                        s.frto = value != "0";
                        true
                    }
                    _ => false,
                },
                "syncookies" | "tcp_syncookies" => {
                    parse_bool(value).map(|v| s.syncookies = v).is_some()
                }
                "slow_start_after_idle" | "tcp_slow_start_after_idle" => parse_bool(value)
                    .map(|v| s.slow_start_after_idle = v)
                    .is_some(),
                "tw_reuse" | "tcp_tw_reuse" => {
                    let v = match value {
                        "0" => Some(TwReuse::Off),
                        "1" => Some(TwReuse::On),
                        "2" => Some(TwReuse::Loopback),
                        _ => None,
                    };
                    v.map(|v| s.tw_reuse = v).is_some()
                }
                "min_tso_segs" | "tcp_min_tso_segs" => match parse_num::<u32>(value) {
                    Some(v @ 1..=255) => {
                        s.min_tso_segs = v;
                        true
                    }
                    _ => false,
                },
                "comp_sack_nr" | "tcp_comp_sack_nr" => {
                    parse_num(value).map(|v| s.comp_sack_nr = v).is_some()
                }
                "comp_sack_delay_ns" | "tcp_comp_sack_delay_ns" => {
                    parse_num(value).map(|v| s.comp_sack_delay_ns = v).is_some()
                }
                "sysctls" => parse_bool(value).map(|v| s.sysctls = v).is_some(),
                "seed" => parse_num(value).map(|v| s.seed = v).is_some(),
                "verbose" | "v" => parse_bool(value).map(|v| s.verbose = v).is_some(),
                _ => {
                    problems.push(format!(
                        "ignoring unknown so_flags key '{key}' (known: local_ip, tcp_rmem, \
                         rcvbuf, rcvbuf_max, tcp_wmem, sndbuf, sndbuf_max, rmem_max, wmem_max, \
                         mss, mtu, timestamps, sack, window_scaling, syn_retries, \
                         synack_retries, syn_linear_timeouts, retries2, orphan_retries, init_cwnd, congestion_control, \
                         tlp, frto, syncookies, slow_start_after_idle, tw_reuse, min_tso_segs, \
                         comp_sack_nr, comp_sack_delay_ns, sysctls, seed, \
                         verbose)"
                    ));
                    continue;
                }
            };
            if !ok {
                problems.push(format!(
                    "ignoring so_flags '{key}={value}': the value does not parse"
                ));
            }
        }
        if !ips.is_empty() {
            // packetdrill's default address of the family not given stays, so that a script of
            // the other IP version still finds its local address.
            if !ips.iter().any(IpAddr::is_ipv4) {
                ips.push(IpAddr::V4(DEFAULT_LOCAL_V4));
            }
            if !ips.iter().any(IpAddr::is_ipv6) {
                ips.push(IpAddr::V6(DEFAULT_LOCAL_V6));
            }
            s.local_ips = ips;
        }
        (s, problems)
    }

    /// The engine configuration these settings give.
    pub fn engine_config(&self) -> Config {
        Config {
            mss: self.mss,
            // Linux counts about half of the buffer's memory as window space (the default
            // tcp_adv_win_scale ratio), as it does for SO_RCVBUF's doubled value.
            recv_buffer: (self.rcvbuf / 2).max(1),
            max_recv_buffer: self.rcvbuf_max.max(self.rcvbuf).max(1),
            send_buffer: self.sndbuf.max(1),
            max_send_buffer: self.sndbuf_max.max(self.sndbuf).max(1),
            timestamps: self.timestamps,
            sack: self.sack,
            window_scaling: self.window_scaling,
            syn_retries: self.syn_retries,
            synack_retries: self.synack_retries,
            syn_linear_timeouts: self.syn_linear_timeouts,
            retries2: self.retries2,
            // Linux's tcp_orphan_retries() reads 0 as 8.
            orphan_retries: if self.orphan_retries == 0 {
                8
            } else {
                self.orphan_retries
            },
            initial_window_segments: self.init_cwnd,
            congestion_control: self.congestion_control,
            tail_loss_probe: self.tlp,
            frto: self.frto,
            syncookies: self.syncookies,
            slow_start_after_idle: self.slow_start_after_idle,
            tw_reuse: self.tw_reuse,
            min_tso_segs: self.min_tso_segs,
            comp_sack_nr: self.comp_sack_nr,
            comp_sack_delay: std::time::Duration::from_nanos(self.comp_sack_delay_ns),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_window_scale_8_like_packetdrills_linux_defaults() {
        let (s, problems) = Settings::parse("");
        assert!(problems.is_empty());
        assert_eq!(s.engine_config().window_scale_shift(), 8);
        assert_eq!(s.local_ips.len(), 2);
    }

    #[test]
    fn half_of_tcp_rmem_default_is_window_space_as_on_linux() {
        let (s, _) = Settings::parse("");
        assert_eq!(s.engine_config().recv_buffer, 270_000);
        let (s, problems) = Settings::parse("tcp_rmem=4096,131072,6291456");
        assert!(problems.is_empty(), "{problems:?}");
        let c = s.engine_config();
        // Linux's stock 128 KiB buffer: 64 KiB of window, wscale 7 from the 6 MiB maximum.
        assert_eq!((c.recv_buffer, c.window_scale_shift()), (65_536, 7));
    }

    #[test]
    fn retry_limits_read_as_linux_reads_its_sysctls() {
        let (s, problems) = Settings::parse("tcp_retries2=8 tcp_orphan_retries=0");
        assert!(problems.is_empty(), "{problems:?}");
        let c = s.engine_config();
        assert_eq!((c.retries2, c.orphan_retries), (8, 8));
        let (s, _) = Settings::parse("orphan_retries=3");
        let c = s.engine_config();
        assert_eq!((c.retries2, c.orphan_retries), (15, 3));
    }

    #[test]
    fn sack_compression_reads_as_linux_names_it() {
        let c = Settings::parse("").0.engine_config();
        assert_eq!(c.comp_sack_nr, 44);
        assert_eq!(c.comp_sack_delay, std::time::Duration::from_millis(1));
        let (s, problems) = Settings::parse("tcp_comp_sack_nr=0 tcp_comp_sack_delay_ns=250000");
        assert!(problems.is_empty(), "{problems:?}");
        let c = s.engine_config();
        assert_eq!(c.comp_sack_nr, 0);
        assert_eq!(c.comp_sack_delay, std::time::Duration::from_micros(250));
    }

    #[test]
    fn keys_and_problems() {
        let (s, problems) = Settings::parse(
            "local_ip=192.168.0.2 --tcp-rmem=4096,87380,6291456 mss=1000 bogus=1 timestamps=x \
             noequals sack=0 cc=reno tcp_frto=0 tcp_tw_reuse=1 tw_reuse=3",
        );
        assert_eq!(
            s.local_ips,
            vec![
                "192.168.0.2".parse::<IpAddr>().unwrap(),
                IpAddr::V6(DEFAULT_LOCAL_V6)
            ]
        );
        assert_eq!(s.rcvbuf, 87_380);
        assert_eq!(s.engine_config().window_scale_shift(), 7);
        assert_eq!(s.mss, 1000);
        assert!(s.timestamps);
        assert!(!s.sack);
        assert_eq!(s.congestion_control, Algorithm::NewReno);
        assert!(!s.engine_config().frto);
        assert!(Settings::parse("").0.engine_config().frto);
        assert_eq!(s.engine_config().tw_reuse, TwReuse::On);
        assert_eq!(
            Settings::parse("").0.engine_config().tw_reuse,
            TwReuse::Loopback
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn several_local_addresses() {
        let (s, _) = Settings::parse("local_ip=10.0.0.1,fd00::1 local_ip=10.0.0.2/24 mtu=9000");
        assert_eq!(s.local_ips.len(), 3);
        assert!(s
            .local_ips
            .iter()
            .all(|ip| *ip != IpAddr::V4(DEFAULT_LOCAL_V4)));
        assert_eq!(s.mss, 8960);
    }
}
