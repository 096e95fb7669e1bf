//! `synack-bench`: synack side by side with smoltcp, in one process, on one machine.
//!
//! - `throughput`: two hosts of each stack over an in-memory link, wall clock, the applications
//!   writing and reading every byte; with the machine's memory-copy bandwidth measured in the
//!   same run for scale.
//! - `lossy`: goodput of one transfer over the same simulated link (delay, rate, queue, random
//!   loss both ways) for both stacks, same seeds, virtual time.
//!
//! Each prints a table, or with `--json` one JSON line. Benchmarks print numbers; they assert
//! nothing about time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod memcpy;
mod pair;
mod report;
mod smol_pair;
mod synack_pair;
mod throughput;
mod tun;
mod vlink;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use report::{fmt_bytes, json_f64, json_list, json_str, json_str_list, parse_bytes};

use pair::StackParams;
use smol_pair::{SmolPair, SMOLTCP_VERSION};
use synack_pair::SynackPair;
use vlink::{LinkParams, VirtualLink};

/// Benchmarks of the synack TCP stack against smoltcp.
#[derive(Debug, Parser)]
#[command(name = "synack-bench", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// In-memory bulk throughput of both stacks (wall clock), with memory-copy bandwidth for scale.
    Throughput(ThroughputArgs),
    /// Goodput of one transfer over the same simulated lossy link for both stacks (virtual time).
    Lossy(LossyArgs),
    /// Bulk throughput against Linux over TUN interfaces (synack, smoltcp) and a veth pair.
    Tun(tun::TunArgs),
}

/// Arguments of `throughput`.
#[derive(Debug, clap::Args)]
struct ThroughputArgs {
    /// Largest IP datagram; each stack's MSS is MTU - 40 (1500, 9000 and 65535 are the usual).
    #[arg(long, value_name = "BYTES", default_value = "1500")]
    mtu: String,
    /// Bytes per transfer (k, M, G are powers of 1024).
    #[arg(long, value_name = "N", default_value = "256M")]
    bytes: String,
    /// Transfers per stack, alternating between the stacks; the median is reported.
    #[arg(long, value_name = "N", default_value = "3")]
    runs: String,
    /// Send and receive buffer of every socket of both stacks.
    #[arg(long, value_name = "BYTES", default_value = "256k")]
    buffer: String,
    /// Do not compare the bytes read with the bytes written (the comparison costs both stacks
    /// the same memcmp).
    #[arg(long)]
    no_verify: bool,
    /// Run only this stack (synack or smoltcp) and skip the copy measurement: for profiling.
    #[arg(long, value_name = "STACK")]
    only: Option<String>,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lossy`.
#[derive(Debug, clap::Args)]
struct LossyArgs {
    /// Probability that a packet is lost, each way: 0.01 or 1%.
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    loss: String,
    /// Link rate in Mbit/s, each way.
    #[arg(
        long,
        value_name = "MBIT/S",
        default_value = "100",
        allow_hyphen_values = true
    )]
    rate: String,
    /// One-way delay in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value = "10",
        allow_hyphen_values = true
    )]
    delay: String,
    /// Packets the sending side of the link holds before it tail-drops. The default holds a
    /// whole 1 MiB window, so that the random loss is the only loss.
    #[arg(long, value_name = "PACKETS", default_value = "1000")]
    queue: String,
    /// Largest IP datagram; each stack's MSS is MTU - 40.
    #[arg(long, value_name = "BYTES", default_value = "1500")]
    mtu: String,
    /// Bytes per transfer (k, M, G are powers of 1024).
    #[arg(long, value_name = "N", default_value = "8M")]
    bytes: String,
    /// First seed; the runs use SEED, SEED+1, ...
    #[arg(long, value_name = "N", default_value = "1")]
    seed: String,
    /// Transfers per stack (one per seed); the mean goodput is reported.
    #[arg(long, value_name = "N", default_value = "5")]
    runs: String,
    /// Send and receive buffer of every socket of both stacks.
    #[arg(long, value_name = "BYTES", default_value = "1M")]
    buffer: String,
    /// Congestion control of both stacks: cubic or reno (synack's NewReno, smoltcp's Reno).
    #[arg(long, value_name = "ALG", default_value = "cubic")]
    cc: String,
    /// Give up on a transfer after this many seconds of virtual time.
    #[arg(long, value_name = "SECONDS", default_value = "3600")]
    time_limit: String,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "synack-bench: internal error (please report it): {info}"
        );
    }));
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Throughput(args) => throughput_cmd(args),
        Command::Lossy(args) => lossy_cmd(args),
        Command::Tun(args) => tun::run(args),
    };
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            ExitCode::SUCCESS
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "synack-bench: error: {message}");
            ExitCode::from(1)
        }
    }
}

// ----- argument parsing --------------------------------------------------------------------------

/// Parses a probability: `0.05` or `5%`.
fn parse_probability(flag: &str, text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    let v = num
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v / scale)
        .ok_or_else(|| format!("{flag} must be a probability such as 0.05 or 5% (got {text})"))?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!(
            "{flag} must be at least 0 and below 1, or below 100% (got {text})"
        ));
    }
    Ok(v)
}

/// Parses a number within `lo..=hi`.
fn parse_num(flag: &str, text: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v = text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{flag} must be a number (got {text})"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{flag} must be between {lo} and {hi} (got {text})"));
    }
    Ok(v)
}

/// Parses a whole number within `lo..=hi`.
fn parse_int(flag: &str, text: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let v = text
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("{flag} must be a whole number (got {text})"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{flag} must be between {lo} and {hi} (got {text})"));
    }
    Ok(v)
}

fn parse_buffer(text: &str) -> Result<usize, String> {
    let v = parse_bytes("--buffer", text)?;
    if !(4096..=(1 << 30)).contains(&v) {
        return Err(format!("--buffer must be between 4k and 1G (got {text})"));
    }
    usize::try_from(v).map_err(|_| format!("--buffer is too large (got {text})"))
}

// ----- throughput --------------------------------------------------------------------------------

/// The data both stacks send: `period` pseudo-random bytes, then the first `WRITE` of them again,
/// so that any write or read of up to `WRITE` bytes at stream offset `o` is
/// `pattern[o % period..]`.
fn pattern(period: usize, seed: u64) -> Vec<u8> {
    let mut rng = vlink::Rng::new(seed);
    let mut p: Vec<u8> = (0..period.div_ceil(8))
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .take(period)
        .collect();
    let head: Vec<u8> = p[..throughput::WRITE.min(period)].to_vec();
    p.extend_from_slice(&head);
    while p.len() < period + throughput::WRITE {
        let more = p[..(period + throughput::WRITE - p.len()).min(period)].to_vec();
        p.extend_from_slice(&more);
    }
    p
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn throughput_cmd(args: &ThroughputArgs) -> Result<String, String> {
    let mtu = parse_int("--mtu", &args.mtu, 576, 65535)? as usize;
    let bytes = parse_bytes("--bytes", &args.bytes)?;
    let runs = parse_int("--runs", &args.runs, 1, 1000)? as usize;
    let buffer = parse_buffer(&args.buffer)?;
    let params = StackParams {
        mtu,
        send_buffer: buffer,
        recv_buffer: buffer,
        seed: 1,
        reno: false,
    };
    let data = pattern(1 << 20, 42);
    let verify = !args.no_verify;
    let (run_synack, run_smoltcp) = match args.only.as_deref().map(str::trim) {
        None => (true, true),
        Some("synack") => (true, false),
        Some("smoltcp") => (false, true),
        Some(other) => {
            return Err(format!("--only must be synack or smoltcp (got {other})"));
        }
    };

    let mut synack = Vec::new();
    let mut smol = Vec::new();
    let mut packets = [0u64; 2];
    let mut problems = Vec::new();
    for _ in 0..runs {
        if run_synack {
            let r = throughput::run(&mut SynackPair::new(&params), &data, bytes, verify);
            check_wall("synack", &r, verify, &mut problems);
            synack.push(r.gbps());
            packets[0] += r.packets;
        }
        if run_smoltcp {
            let r = throughput::run(&mut SmolPair::new(&params), &data, bytes, verify);
            check_wall("smoltcp", &r, verify, &mut problems);
            smol.push(r.gbps());
            packets[1] += r.packets;
        }
    }
    // The machine's copy bandwidth, in this run: a buffer far larger than the caches, and one
    // the size of the socket buffers (which a transfer keeps in cache).
    let (memcpy_dram, memcpy_cached) = if run_synack && run_smoltcp {
        (
            memcpy::copy_gbps(256 << 20, 1.0),
            memcpy::copy_gbps(buffer, 0.5),
        )
    } else {
        (f64::NAN, f64::NAN)
    };
    let (s, m) = (median(&synack), median(&smol));
    let ratio = if m > 0.0 { s / m } else { 0.0 };

    let mut out = String::new();
    if args.json {
        let fields = [
            ("bench", json_str("throughput")),
            ("mtu", mtu.to_string()),
            ("bytes", bytes.to_string()),
            ("runs", runs.to_string()),
            ("buffer", buffer.to_string()),
            ("verified", verify.to_string()),
            ("synack_gbps", json_f64(s)),
            ("smoltcp_gbps", json_f64(m)),
            ("ratio", json_f64(ratio)),
            ("memcpy_gbps", json_f64(memcpy_dram)),
            ("memcpy_cached_gbps", json_f64(memcpy_cached)),
            ("synack_fraction_of_memcpy", json_f64(s / memcpy_dram)),
            ("smoltcp_fraction_of_memcpy", json_f64(m / memcpy_dram)),
            ("synack_runs_gbps", json_list(&synack)),
            ("smoltcp_runs_gbps", json_list(&smol)),
            (
                "synack_packets_per_run",
                (packets[0] / runs as u64).to_string(),
            ),
            (
                "smoltcp_packets_per_run",
                (packets[1] / runs as u64).to_string(),
            ),
            ("smoltcp_version", json_str(SMOLTCP_VERSION)),
            ("errors", json_str_list(&problems)),
        ];
        out.push_str(&json_object(&fields));
    } else {
        let _ = writeln!(
            out,
            "throughput: {} per transfer over an in-memory link, MTU {mtu} (MSS {}), send and \
             receive buffers {} each, median of {runs} run(s) per stack{}",
            fmt_bytes(bytes),
            mtu - 40,
            fmt_bytes(buffer as u64),
            if verify { ", every byte verified" } else { "" }
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "  {:<16} {:>10}   runs", "stack", "Gbit/s");
        let row = |name: &str, v: f64, all: &[f64]| {
            let runs: Vec<String> = all.iter().map(|g| format!("{g:.2}")).collect();
            format!("  {name:<16} {v:>10.2}   {}\n", runs.join(" "))
        };
        if run_synack {
            out.push_str(&row("synack", s, &synack));
        }
        if run_smoltcp {
            out.push_str(&row(&format!("smoltcp {SMOLTCP_VERSION}"), m, &smol));
        }
        if !(run_synack && run_smoltcp) {
            for p in &problems {
                let _ = writeln!(out, "  problem: {p}");
            }
            return Ok(out);
        }
        let _ = writeln!(out, "  {:<16} {:>9.2}x", "ratio", ratio);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  memory copy (copy_from_slice): {memcpy_dram:.1} Gbit/s for 256 MiB buffers, \
             {memcpy_cached:.1} Gbit/s for {} buffers",
            fmt_bytes(buffer as u64)
        );
        let _ = writeln!(
            out,
            "  synack moves data at {:.1}% of the large-buffer copy rate ({:.1}% of the \
             in-cache rate); smoltcp at {:.1}% ({:.1}%).",
            100.0 * s / memcpy_dram,
            100.0 * s / memcpy_cached,
            100.0 * m / memcpy_dram,
            100.0 * m / memcpy_cached
        );
        let _ = writeln!(
            out,
            "  (smoltcp copies each byte four times, application -> send buffer -> segment -> \
             receive buffer -> application, and checksums it twice; synack copies it three \
             times, as the segment it arrived in is kept until the application reads it, and \
             checksums it while copying it into the segment.)"
        );
        for p in &problems {
            let _ = writeln!(out, "  problem: {p}");
        }
    }
    if !args.json {
        out.push('\n');
    }
    Ok(out)
}

fn check_wall(name: &str, r: &throughput::WallRun, verify: bool, problems: &mut Vec<String>) {
    if let Some(e) = &r.error {
        problems.push(format!("{name}: {e}"));
    } else if verify && !r.intact {
        problems.push(format!(
            "{name}: the bytes read differ from the bytes written"
        ));
    }
}

// ----- lossy -------------------------------------------------------------------------------------

/// One seed's transfer by each stack.
struct LossyRow {
    seed: u64,
    synack: vlink::VirtualRun,
    smoltcp: vlink::VirtualRun,
    /// Segments synack retransmitted.
    synack_retransmitted: u64,
    /// synack over `synack-sim`'s own link with the same parameters: a cross-check of the
    /// benchmark's link model.
    synack_sim_mbps: Option<f64>,
}

fn mbps(bytes: u64, r: &vlink::VirtualRun) -> f64 {
    let us = r.done_us.unwrap_or(r.elapsed_us).max(1);
    let got = if r.done_us.is_some() {
        bytes
    } else {
        r.received
    };
    got as f64 * 8.0 / us as f64
}

/// The same transfer in `synack-sim` (its own link model and app layer); Mbit/s to the last
/// byte read, or `None` if it did not finish within `limit_us`.
fn synack_in_sim(
    params: &StackParams,
    link: &LinkParams,
    bytes: u64,
    limit_us: u64,
) -> Option<f64> {
    use synack_proto::{Duration, Instant};
    use synack_sim::{AppOptions, LinkConfig, Sim};
    let mut sim = Sim::new(params.seed);
    let config = synack_pair::config(params);
    let c = sim.add_host("client", "10.0.0.1".parse().ok()?, config.clone());
    let s = sim.add_host("server", "10.0.0.2".parse().ok()?, config);
    let mut lc = LinkConfig::with_delay(Duration::from_micros(link.delay_us))
        .loss(link.loss)
        .mtu(link.mtu);
    if let Some(r) = link.rate_bps {
        lc = lc.rate(r, link.queue);
    }
    sim.link(c, s, lc);
    let addr = "10.0.0.2:5001".parse().ok()?;
    sim.app_serve(s, addr, 16, AppOptions::default()).ok()?;
    let conn = sim.app_connect(c, addr).ok()?;
    let data = pattern(1 << 20, 42);
    let period = 1usize << 20;
    let mut fed = 0u64;
    let mut got = 0u64;
    let total = bytes;
    let done = sim.run_until_cond(Instant::from_micros(limit_us), |sim| {
        if fed < total && sim.app_unsent(c, conn) < (1 << 20) {
            let off = (fed % period as u64) as usize;
            let n = (total - fed).min(throughput::WRITE as u64) as usize;
            sim.app_send_all(c, conn, &data[off..off + n]);
            fed += n as u64;
        }
        if let Some(a) = sim.app_accepted(s).first().copied() {
            let pending = sim.app_received(s, a).len() as u64;
            if pending >= (1 << 20) || got + pending >= total {
                got += sim.app_read_all(s, a).len() as u64;
            }
        }
        if sim.trace().len() > 100_000 {
            sim.trace_mut().clear();
        }
        got >= total
    });
    done.then(|| total as f64 * 8.0 / sim.now().as_micros().max(1) as f64)
}

fn lossy_cmd(args: &LossyArgs) -> Result<String, String> {
    let loss = parse_probability("--loss", &args.loss)?;
    let rate = parse_num("--rate", &args.rate, 0.001, 1e6)?;
    let delay = parse_num("--delay", &args.delay, 0.0, 3_600_000.0)?;
    let queue = parse_int("--queue", &args.queue, 1, 1_000_000)? as usize;
    let mtu = parse_int("--mtu", &args.mtu, 576, 65535)? as usize;
    let bytes = parse_bytes("--bytes", &args.bytes)?;
    let seed = parse_int("--seed", &args.seed, 0, u64::MAX)?;
    let runs = parse_int("--runs", &args.runs, 1, 10_000)?;
    let buffer = parse_buffer(&args.buffer)?;
    let reno = match args.cc.trim().to_ascii_lowercase().as_str() {
        "cubic" => false,
        "reno" | "newreno" => true,
        _ => return Err(format!("--cc must be cubic or reno (got {})", args.cc)),
    };
    let limit_s = parse_num("--time-limit", &args.time_limit, 1.0, 1e7)?;
    let limit_us = (limit_s * 1e6) as u64;
    let link = LinkParams {
        delay_us: (delay * 1000.0).round() as u64,
        rate_bps: Some((rate * 1e6).round().max(1.0) as u64),
        queue,
        loss,
        mtu,
    };
    let data = pattern(1 << 20, 42);
    let mut rows = Vec::new();
    for i in 0..runs {
        let seed = seed.wrapping_add(i);
        let params = StackParams {
            mtu,
            send_buffer: buffer,
            recv_buffer: buffer,
            seed,
            reno,
        };
        let mut synack_pair = SynackPair::new(&params);
        let synack = vlink::run_transfer(
            &mut synack_pair,
            &mut VirtualLink::new(link, seed),
            &data,
            bytes,
            limit_us,
        );
        let synack_retransmitted = synack_pair.retransmitted();
        let smoltcp = vlink::run_transfer(
            &mut SmolPair::new(&params),
            &mut VirtualLink::new(link, seed),
            &data,
            bytes,
            limit_us,
        );
        let synack_sim_mbps = synack_in_sim(&params, &link, bytes, limit_us);
        rows.push(LossyRow {
            seed,
            synack,
            smoltcp,
            synack_retransmitted,
            synack_sim_mbps,
        });
    }
    let syn: Vec<f64> = rows.iter().map(|r| mbps(bytes, &r.synack)).collect();
    let smo: Vec<f64> = rows.iter().map(|r| mbps(bytes, &r.smoltcp)).collect();
    let sim: Vec<f64> = rows
        .iter()
        .map(|r| r.synack_sim_mbps.unwrap_or(0.0))
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (s, m) = (mean(&syn), mean(&smo));
    let ratio = if m > 0.0 { s / m } else { 0.0 };
    let mut problems = Vec::new();
    for r in &rows {
        for (name, run) in [("synack", &r.synack), ("smoltcp", &r.smoltcp)] {
            if let Some(e) = &run.error {
                problems.push(format!("seed {}: {e}", r.seed));
            } else if !run.intact {
                problems.push(format!(
                    "seed {}: {name}: the bytes read differ from the bytes written",
                    r.seed
                ));
            }
        }
    }
    let mut out = String::new();
    if args.json {
        let seeds: Vec<f64> = rows.iter().map(|r| r.seed as f64).collect();
        let fields = [
            ("bench", json_str("lossy")),
            ("loss", json_f64(loss)),
            ("rate_mbps", json_f64(rate)),
            ("delay_ms", json_f64(delay)),
            ("queue", queue.to_string()),
            ("mtu", mtu.to_string()),
            ("bytes", bytes.to_string()),
            ("buffer", buffer.to_string()),
            ("cc", json_str(if reno { "reno" } else { "cubic" })),
            ("synack_mbps", json_f64(s)),
            ("smoltcp_mbps", json_f64(m)),
            ("ratio", json_f64(ratio)),
            ("synack_median_mbps", json_f64(median(&syn))),
            ("smoltcp_median_mbps", json_f64(median(&smo))),
            ("seeds", json_list(&seeds)),
            ("synack_runs_mbps", json_list(&syn)),
            ("smoltcp_runs_mbps", json_list(&smo)),
            ("synack_sim_runs_mbps", json_list(&sim)),
            (
                "synack_retransmitted",
                json_list(
                    &rows
                        .iter()
                        .map(|r| r.synack_retransmitted as f64)
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "synack_packets_dropped",
                json_list(
                    &rows
                        .iter()
                        .map(|r| r.synack.link.drops() as f64)
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "smoltcp_packets_dropped",
                json_list(
                    &rows
                        .iter()
                        .map(|r| r.smoltcp.link.drops() as f64)
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "all_intact",
                rows.iter()
                    .all(|r| r.synack.intact && r.smoltcp.intact)
                    .to_string(),
            ),
            ("smoltcp_version", json_str(SMOLTCP_VERSION)),
            ("errors", json_str_list(&problems)),
        ];
        out.push_str(&json_object(&fields));
    } else {
        let _ = writeln!(
            out,
            "lossy: {} per transfer, {rate} Mbit/s, {delay} ms one way, queue {queue} packets, \
             loss {}% each way, MTU {mtu}, buffers {} each, {} congestion control; virtual time, \
             goodput = bytes / time from connect to the last byte read",
            fmt_bytes(bytes),
            loss * 100.0,
            fmt_bytes(buffer as u64),
            if reno { "Reno" } else { "CUBIC" }
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:>6} {:>14} {:>14} {:>8} {:>18} {:>16} {:>16}",
            "seed",
            "synack Mbit/s",
            "smoltcp Mbit/s",
            "ratio",
            "synack in sim *",
            "synack drops/retx",
            "smoltcp drops"
        );
        for (i, r) in rows.iter().enumerate() {
            let ratio = if smo[i] > 0.0 { syn[i] / smo[i] } else { 0.0 };
            let _ = writeln!(
                out,
                "  {:>6} {:>14.2} {:>14.2} {:>7.2}x {:>18} {:>16} {:>16}",
                r.seed,
                syn[i],
                smo[i],
                ratio,
                r.synack_sim_mbps
                    .map_or("-".to_string(), |v| format!("{v:.2}")),
                format!("{}/{}", r.synack.link.drops(), r.synack_retransmitted),
                r.smoltcp.link.drops()
            );
        }
        let _ = writeln!(
            out,
            "  {:>6} {:>14.2} {:>14.2} {:>7.2}x {:>18.2}",
            "mean",
            s,
            m,
            ratio,
            mean(&sim)
        );
        let _ = writeln!(
            out,
            "  {:>6} {:>14.2} {:>14.2} {:>7.2}x {:>18.2}",
            "median",
            median(&syn),
            median(&smo),
            median(&syn) / median(&smo).max(1e-9),
            median(&sim)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  * the same synack transfer over synack-sim's own link model, as a cross-check of \
             the benchmark's link (same parameters and seed; different random draws)."
        );
        let _ = writeln!(
            out,
            "  drops: packets the link lost at random or tail-dropped, both ways; retx: segments \
             synack retransmitted. smoltcp {SMOLTCP_VERSION}."
        );
        for p in &problems {
            let _ = writeln!(out, "  problem: {p}");
        }
        out.push('\n');
    }
    Ok(out)
}

// ----- output ------------------------------------------------------------------------------------

fn json_object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}\n", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_probabilities() {
        assert_eq!(parse_bytes("--bytes", "8M"), Ok(8 << 20));
        assert_eq!(parse_bytes("--bytes", "256k"), Ok(256 << 10));
        assert!(parse_bytes("--bytes", "0").is_err());
        assert!(parse_bytes("--bytes", "8X").is_err());
        assert_eq!(parse_probability("--loss", "1%"), Ok(0.01));
        assert_eq!(parse_probability("--loss", "0.02"), Ok(0.02));
        assert!(parse_probability("--loss", "1").is_err());
        assert!(parse_probability("--loss", "-0.1").is_err());
        assert!(parse_int("--mtu", "100", 576, 65535).is_err());
    }

    #[test]
    fn the_pattern_repeats_so_any_window_is_a_slice() {
        let p = pattern(1000, 1);
        assert_eq!(p.len(), 1000 + throughput::WRITE);
        for i in 0..p.len() {
            assert_eq!(p[i], p[i % 1000]);
        }
    }

    #[test]
    fn both_stacks_move_bytes_in_memory() {
        let params = StackParams {
            mtu: 1500,
            send_buffer: 64 << 10,
            recv_buffer: 64 << 10,
            seed: 1,
            reno: false,
        };
        let data = pattern(1 << 16, 3);
        let r = throughput::run(&mut SynackPair::new(&params), &data, 300_000, true);
        assert!(r.error.is_none() && r.intact, "{r:?}");
        let r = throughput::run(&mut SmolPair::new(&params), &data, 300_000, true);
        assert!(r.error.is_none() && r.intact, "{r:?}");
    }

    #[test]
    fn both_stacks_cross_a_lossy_link() {
        let params = StackParams {
            mtu: 1500,
            send_buffer: 64 << 10,
            recv_buffer: 64 << 10,
            seed: 5,
            reno: false,
        };
        let link = LinkParams {
            delay_us: 5_000,
            rate_bps: Some(10_000_000),
            queue: 50,
            loss: 0.02,
            mtu: 1500,
        };
        let data = pattern(1 << 16, 3);
        for intact in [
            vlink::run_transfer(
                &mut SynackPair::new(&params),
                &mut VirtualLink::new(link, 5),
                &data,
                200_000,
                600_000_000,
            ),
            vlink::run_transfer(
                &mut SmolPair::new(&params),
                &mut VirtualLink::new(link, 5),
                &data,
                200_000,
                600_000_000,
            ),
        ] {
            assert!(intact.error.is_none() && intact.intact, "{intact:?}");
            assert!(intact.link.lost > 0);
        }
    }
}
