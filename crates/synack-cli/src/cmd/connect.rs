//! `synack connect`: synack as a client on a TUN interface, moving bytes to or from a server of the
//! kernel's (or anything the kernel routes to).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use synack::net::TcpStream;
use synack::State;

use super::netargs::{
    hex, mbits, note, on_interrupt, open_stack, parse_bytes, say, NetArgs, Pattern,
};
use super::{CliError, CmdResult};

/// What to do on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Send --bytes bytes, then close; done when the server has acknowledged them all.
    Send,
    /// Read until the server closes; with --bytes, check that exactly that many came.
    Recv,
    /// Send --bytes bytes while reading them back; check that they match.
    Echo,
}

/// Arguments of `synack connect`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Connect from synack, on a TUN interface, to a server the kernel routes to \
                  (usually one listening on --tun-addr's address), move bytes, and print how \
                  many, their SHA-256, the time and the rate. Exits non-zero when the transfer \
                  did not complete. The interface is created when it does not exist and removed \
                  on exit.\n\nExample:\n  python3 -m http.server --bind 10.9.0.1 8000 &\n  \
                  synack connect --tun synack0 --tun-addr 10.9.0.1/24 --addr 10.9.0.2 \\\n    \
                  --to 10.9.0.1:5001 --mode send --bytes 64M"
)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// The server's address (IP:PORT, or [IPv6]:PORT).
    #[arg(long, value_name = "IP:PORT")]
    pub to: String,
    /// What to do on the connection.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Mode,
    /// Bytes to send (send, echo) or to expect (recv): 67108864, 64M, 1G [default: 64M for send
    /// and echo; recv takes whatever comes].
    #[arg(long, value_name = "N")]
    pub bytes: Option<String>,
    /// Give up when the transfer has not finished after this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
}

/// Runs `synack connect`.
pub fn run(args: &Args) -> CmdResult {
    let to: SocketAddr = args.to.trim().parse().map_err(|_| {
        format!(
            "--to: '{}' is not IP:PORT (10.9.0.1:5001, or [fd00:9::1]:5001 for IPv6)",
            args.to
        )
    })?;
    let bytes = args.bytes.as_deref().map(parse_bytes).transpose()?;
    let stack = open_stack(&args.net)?;
    if to.is_ipv4() != stack.local.is_ipv4() {
        return Err(format!(
            "--to {to} and --addr {} are of different IP versions",
            stack.local
        )
        .into());
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (flag, driver) = (interrupted.clone(), stack.driver.clone());
        on_interrupt(move |_| {
            flag.store(true, Ordering::SeqCst);
            note("interrupted: closing the connection");
            driver.shutdown(Duration::from_secs(2));
        })?;
    }
    let deadline = (args.timeout > 0).then(|| Instant::now() + Duration::from_secs(args.timeout));
    let stream = TcpStream::connect_timeout(&stack.driver, &to, Duration::from_secs(30))
        .map_err(|e| format!("cannot connect to {to}: {}", crate::io_error_text(&e)))?;
    say(&format!(
        "connected {} -> {to} via {}",
        stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        stack.describe
    ));
    let t0 = Instant::now();
    let outcome = match args.mode {
        Mode::Send => send(&stream, bytes.unwrap_or(64 << 20), deadline),
        Mode::Recv => recv(&stream, bytes, deadline),
        Mode::Echo => echo(&stream, bytes.unwrap_or(64 << 20), deadline),
    };
    let secs = t0.elapsed().as_secs_f64();
    drop(stream);
    let (ifname, created) = (stack.ifname.clone(), stack.created);
    // Let the close finish (FIN and its ACK), then stop, which removes an interface we created.
    stack.driver.shutdown(Duration::from_secs(2));
    drop(stack);
    if created {
        note(&format!("removed {ifname}"));
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err(CliError::Failed(
            "interrupted before the transfer completed".into(),
        ));
    }
    match outcome {
        Ok(report) => {
            let secs = report.seconds.unwrap_or(secs);
            let mut lines = vec![format!("mode: {:?}", args.mode).to_lowercase()];
            lines.extend(report.lines);
            lines.push(format!("seconds: {secs:.3}"));
            lines.push(format!("Mbit/s: {:.1}", mbits(report.bytes, secs)));
            say(&lines.join("\n"));
            match report.failure {
                None => Ok(()),
                Some(f) => Err(CliError::Failed(f)),
            }
        }
        Err(e) => Err(CliError::Failed(format!(
            "transfer failed after {secs:.3} s: {e}"
        ))),
    }
}

/// What a transfer did.
struct Report {
    /// Bytes counted for the rate.
    bytes: u64,
    /// `key: value` lines.
    lines: Vec<String>,
    /// When the transfer was complete, if earlier than the end of the command.
    seconds: Option<f64>,
    /// Why the transfer did not complete, when it did not.
    failure: Option<String>,
}

fn expired(deadline: Option<Instant>) -> io::Result<()> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "--timeout passed"));
    }
    Ok(())
}

/// Writes `n` bytes of the pattern, hashing them.
fn write_pattern(mut w: &TcpStream, n: u64, deadline: Option<Instant>) -> io::Result<[u8; 32]> {
    let mut p = Pattern::new();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut left = n;
    w.set_write_timeout(Some(Duration::from_secs(1)))?;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        p.fill(&mut buf[..k]);
        let mut off = 0;
        while off < k {
            match w.write(&buf[off..k]) {
                Ok(m) => off += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => expired(deadline)?,
                Err(e) => return Err(e),
            }
        }
        h.update(&buf[..k]);
        left -= k as u64;
    }
    Ok(h.finalize().into())
}

/// Reads to end of stream, hashing.
fn read_all(mut r: &TcpStream, deadline: Option<Instant>) -> io::Result<(u64, [u8; 32])> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    r.set_read_timeout(Some(Duration::from_secs(1)))?;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => expired(deadline)?,
            Err(e) => return Err(e),
        }
    }
    Ok((total, h.finalize().into()))
}

fn send(stream: &TcpStream, n: u64, deadline: Option<Instant>) -> io::Result<Report> {
    let t0 = Instant::now();
    let sha = write_pattern(stream, n, deadline)?;
    stream.shutdown(Shutdown::Write)?;
    // Delivered once our FIN, which follows the data, is acknowledged. Then give the server a
    // moment to close its side too (a server that reads to end of stream usually does).
    let mut done_at = None;
    let mut sink = [0u8; 4096];
    let mut r = stream;
    r.set_read_timeout(Some(Duration::from_millis(20)))?;
    loop {
        match r.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let info = stream.tcp_info()?;
        let fin_acked =
            matches!(
                info.state,
                State::FinWait2 | State::TimeWait | State::Closed
            ) || (info.state == State::Closing && info.send_buffered == 0 && info.in_flight == 0);
        if fin_acked && done_at.is_none() {
            done_at = Some(t0.elapsed().as_secs_f64());
        }
        if let Some(at) = done_at {
            if t0.elapsed().as_secs_f64() - at > 2.0 {
                break;
            }
        }
        expired(deadline)?;
    }
    let seconds = done_at.unwrap_or_else(|| t0.elapsed().as_secs_f64());
    Ok(Report {
        bytes: n,
        lines: vec![format!("bytes: {n}"), format!("sha256: {}", hex(&sha))],
        seconds: Some(seconds),
        failure: None,
    })
}

fn recv(stream: &TcpStream, expect: Option<u64>, deadline: Option<Instant>) -> io::Result<Report> {
    let (total, sha) = read_all(stream, deadline)?;
    let failure = match expect {
        Some(n) if n != total => Some(format!("expected {n} bytes, received {total}")),
        _ => None,
    };
    Ok(Report {
        bytes: total,
        lines: vec![format!("bytes: {total}"), format!("sha256: {}", hex(&sha))],
        seconds: None,
        failure,
    })
}

fn echo(stream: &TcpStream, n: u64, deadline: Option<Instant>) -> io::Result<Report> {
    let writer = stream.try_clone()?;
    let (sent, received) = std::thread::scope(|s| {
        let w = s.spawn(move || -> io::Result<[u8; 32]> {
            let sha = write_pattern(&writer, n, deadline)?;
            writer.shutdown(Shutdown::Write)?;
            Ok(sha)
        });
        let received = read_all(stream, deadline);
        let sent = w
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer panicked")));
        (sent, received)
    });
    let sent = sent?;
    let (total, got) = received?;
    let matches = total == n && got == sent;
    Ok(Report {
        bytes: n + total,
        lines: vec![
            format!("bytes: {n}"),
            format!("sha256: {}", hex(&sent)),
            format!("bytes received: {total}"),
            format!("sha256 received: {}", hex(&got)),
            format!("match: {}", if matches { "yes" } else { "no" }),
        ],
        seconds: None,
        failure: (!matches).then(|| {
            format!("the echo differs: sent {n} bytes, received {total} with another SHA-256")
        }),
    })
}
