//! `synack serve`: synack as a server on a TUN interface, for the kernel's own TCP (curl, Python,
//! anything) to connect to.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use synack::net::{TcpListener, TcpStream};

use super::netargs::{
    hex, mbits, note, on_interrupt, open_stack, parse_bytes, say, NetArgs, Pattern,
};
use super::CmdResult;

/// What each connection gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Send back everything received, until the client closes.
    Echo,
    /// Read everything and throw it away; print its size and SHA-256.
    Discard,
    /// Answer HTTP/1.1: `GET /` gets a page with status, connections and counters.
    Http,
    /// Send --bytes bytes, then close.
    Source,
}

/// Arguments of `synack serve`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Serve TCP from synack on a TUN interface. synack takes --addr; the kernel's side \
                  of the interface gets --tun-addr, so local programs reach synack at --addr \
                  through the kernel's routing (curl http://10.9.0.2:8080/). The interface is \
                  created when it does not exist and removed on exit. Ctrl-C closes the \
                  connections in order and exits.\n\nExample:\n  synack serve --tun synack0 \
                  --tun-addr 10.9.0.1/24 --addr 10.9.0.2 --port 8080 --mode http"
)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// The port to listen on.
    #[arg(long, value_name = "PORT")]
    pub port: u16,
    /// What to do with each connection.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Mode,
    /// Bytes each connection is sent in source mode (67108864, 64M, 1G) [default: 64M].
    #[arg(long, value_name = "N")]
    pub bytes: Option<String>,
}

/// What the server counts, for the log and the HTTP page.
#[derive(Default)]
struct Totals {
    accepted: AtomicU64,
    active: AtomicUsize,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

struct Server {
    driver: synack::Driver,
    mode: Mode,
    bytes: u64,
    totals: Totals,
    started: Instant,
    banner: String,
}

/// Runs `synack serve`.
pub fn run(args: &Args) -> CmdResult {
    let bytes = match &args.bytes {
        Some(t) => parse_bytes(t)?,
        None => 64 << 20,
    };
    let stack = open_stack(&args.net)?;
    let local = SocketAddr::new(stack.local, args.port);
    let listener = TcpListener::bind_with_backlog(&stack.driver, local, 1024)
        .map_err(|e| format!("cannot listen on {local}: {e}"))?;
    let mode_name = format!("{:?}", args.mode).to_lowercase();
    let banner = format!(
        "synack serving {mode_name} on {local} via {}",
        stack.describe
    );
    say(&format!("{banner}; Ctrl-C to stop"));

    let server = Arc::new(Server {
        driver: stack.driver.clone(),
        mode: args.mode,
        bytes,
        totals: Totals::default(),
        started: Instant::now(),
        banner,
    });
    let (ifname, created) = (stack.ifname.clone(), stack.created);
    let (stop_tx, stop_rx) = mpsc::channel::<i32>();
    {
        let server = server.clone();
        on_interrupt(move |_sig| {
            let active = server.totals.active.load(Ordering::SeqCst);
            note(&format!("interrupted: closing {active} connection(s)"));
            server.driver.shutdown(Duration::from_secs(3));
            let _ = stop_tx.send(0);
        })?;
    }
    drop(stack);

    let mut next_id = 0u64;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                next_id += 1;
                server.totals.accepted.fetch_add(1, Ordering::SeqCst);
                server.totals.active.fetch_add(1, Ordering::SeqCst);
                let server = server.clone();
                let id = next_id;
                let spawned = std::thread::Builder::new()
                    .name(format!("conn-{id}"))
                    .spawn(move || {
                        handle(&server, id, stream, peer);
                        server.totals.active.fetch_sub(1, Ordering::SeqCst);
                    });
                if let Err(e) = spawned {
                    note(&format!("cannot start a thread for connection {id}: {e}"));
                }
            }
            Err(e) => {
                if server.driver.is_running() && stop_rx.try_recv().is_err() {
                    // Not an interruption: a real failure of the stack.
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted) {
                        return Err(format!("accept failed: {e}").into());
                    }
                }
                break;
            }
        }
    }
    // Wait (bounded) for the shutdown to finish, then say what happened.
    let _ = stop_rx.recv_timeout(Duration::from_secs(10));
    let t = &server.totals;
    say(&format!(
        "stopped: {} connection(s), {} bytes in, {} bytes out{}",
        t.accepted.load(Ordering::SeqCst),
        t.bytes_in.load(Ordering::SeqCst),
        t.bytes_out.load(Ordering::SeqCst),
        if created {
            format!("; removed {ifname}")
        } else {
            String::new()
        }
    ));
    Ok(())
}

fn handle(server: &Server, id: u64, stream: TcpStream, peer: SocketAddr) {
    let t0 = Instant::now();
    let result = match server.mode {
        Mode::Echo => echo(server, &stream),
        Mode::Discard => discard(server, &stream),
        Mode::Source => source(server, &stream),
        Mode::Http => http(server, &stream),
    };
    let secs = t0.elapsed().as_secs_f64();
    match result {
        Ok(summary) => say(&format!("conn {id} {peer}: {summary}, {secs:.3} s")),
        Err(e) => say(&format!("conn {id} {peer}: error: {e} after {secs:.3} s")),
    }
}

/// Most bytes an echoing connection holds before it stops reading (the client is not reading).
const ECHO_HOLD: usize = 512 << 20;

/// Echo with a reader and a writer thread and a queue between them, so that a client that sends
/// everything before it reads anything does not deadlock against a full send buffer.
fn echo(server: &Server, stream: &TcpStream) -> std::io::Result<String> {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(ECHO_HOLD / (64 << 10));
    let mut writer = stream.try_clone()?;
    let totals = &server.totals;
    let (received, sent) = std::thread::scope(|s| -> std::io::Result<(u64, u64)> {
        let w = s.spawn(move || -> std::io::Result<u64> {
            let mut sent = 0u64;
            for chunk in rx {
                writer.write_all(&chunk)?;
                sent += chunk.len() as u64;
                totals
                    .bytes_out
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            writer.shutdown(std::net::Shutdown::Write)?;
            Ok(sent)
        });
        let mut reader = stream;
        let mut received = 0u64;
        let read_result = loop {
            let mut buf = vec![0u8; 64 << 10];
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    buf.truncate(n);
                    received += n as u64;
                    totals.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    if tx.send(buf).is_err() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(tx);
        let sent = w
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")))?;
        read_result?;
        Ok((received, sent))
    })?;
    Ok(format!("echoed {sent} of {received} bytes"))
}

fn discard(server: &Server, mut stream: &TcpStream) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
        server
            .totals
            .bytes_in
            .fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(format!(
        "received {total} bytes, sha256 {}",
        hex(&h.finalize())
    ))
}

fn source(server: &Server, mut stream: &TcpStream) -> std::io::Result<String> {
    let t0 = Instant::now();
    let mut p = Pattern::new();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut left = server.bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        p.fill(&mut buf[..n]);
        stream.write_all(&buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
        server
            .totals
            .bytes_out
            .fetch_add(n as u64, Ordering::Relaxed);
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let secs = t0.elapsed().as_secs_f64();
    // Drain what the client may still send, until it closes.
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink)? > 0 {}
    Ok(format!(
        "sent {} bytes, sha256 {}, {:.1} Mbit/s",
        server.bytes,
        hex(&h.finalize()),
        mbits(server.bytes, secs)
    ))
}

/// The longest request head accepted.
const MAX_HEAD: usize = 64 << 10;

fn http(server: &Server, stream: &TcpStream) -> std::io::Result<String> {
    let mut reader = stream;
    let mut writer = stream;
    let mut pending: Vec<u8> = Vec::new();
    let mut served = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = find(&pending, b"\r\n\r\n") {
                break i;
            }
            if pending.len() > MAX_HEAD {
                respond(
                    &mut writer,
                    431,
                    "text/plain",
                    b"request header too large\n",
                    true,
                    false,
                )?;
                return Ok(format!("{served} request(s), then an oversized header"));
            }
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(format!("{served} request(s)"));
            }
            server
                .totals
                .bytes_in
                .fetch_add(n as u64, Ordering::Relaxed);
            pending.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
        pending.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let (method, target, version) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let mut content_length = 0usize;
        let mut connection = String::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    content_length = v.trim().parse().unwrap_or(0);
                } else if k == "connection" {
                    connection = v.trim().to_ascii_lowercase();
                }
            }
        }
        // Skip a request body.
        while pending.len() < content_length {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(format!("{served} request(s)"));
            }
            pending.extend_from_slice(&buf[..n]);
        }
        pending.drain(..content_length.min(pending.len()));
        let close = if version == "HTTP/1.0" {
            !connection.contains("keep-alive")
        } else {
            connection.contains("close")
        };
        let head_only = method == "HEAD";
        let path = target.split('?').next().unwrap_or("");
        if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
            respond(
                &mut writer,
                400,
                "text/plain",
                b"bad request\n",
                true,
                false,
            )?;
            return Ok(format!("{served} request(s), then a bad one"));
        }
        let written = match (method, path) {
            ("GET" | "HEAD", "/") => {
                let page = status_page(server);
                respond(
                    &mut writer,
                    200,
                    "text/html; charset=utf-8",
                    page.as_bytes(),
                    close,
                    head_only,
                )?
            }
            ("GET" | "HEAD", _) => respond(
                &mut writer,
                404,
                "text/plain",
                b"not found\n",
                close,
                head_only,
            )?,
            _ => respond(
                &mut writer,
                405,
                "text/plain",
                b"method not allowed\n",
                close,
                false,
            )?,
        };
        server
            .totals
            .bytes_out
            .fetch_add(written as u64, Ordering::Relaxed);
        served += 1;
        if close {
            // The response carries its length: let the client close first (TIME-WAIT then stays
            // on its side), but not wait for it long.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut sink = [0u8; 1024];
            while reader.read(&mut sink).unwrap_or(0) > 0 {}
            return Ok(format!("{served} request(s)"));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn respond(
    w: &mut &TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
    head_only: bool,
) -> std::io::Result<usize> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nServer: synack\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    w.write_all(&bytes)?;
    Ok(bytes.len())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn status_page(server: &Server) -> String {
    let t = &server.totals;
    let d = &server.driver;
    let uptime = server.started.elapsed().as_secs_f64();
    let mut conns = String::new();
    for c in d.connections() {
        conns.push_str(&format!(
            "  {} &lt;-&gt; {}  {:?}  cwnd {}  srtt {}\n",
            c.tuple.local,
            c.tuple.remote,
            c.state,
            c.cwnd,
            c.srtt
                .map(|s| format!("{:.2} ms", s.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into())
        ));
    }
    if conns.is_empty() {
        conns.push_str("  (none)\n");
    }
    let counters = format!("{:#?}", d.counters());
    let counters: String = counters
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(|l| format!("  {}\n", l.trim().trim_end_matches(',')))
        .collect();
    let r = d.resources();
    let s = d.stats();
    format!(
        "<!doctype html>\n<html><head><title>synack</title></head><body>\n<h1>synack</h1>\n<pre>\n\
         status: running, up {uptime:.1} s\n{}\n\n\
         connections: {} active, {} accepted; engine holds {} connection(s), {} half-open, \
         {} in TIME-WAIT, {} listener(s)\n{}\n\
         traffic: {} bytes in, {} bytes out; {} datagrams in, {} out, {} dropped\n\n\
         counters:\n{}</pre>\n</body></html>\n",
        escape(&server.banner),
        t.active.load(Ordering::SeqCst),
        t.accepted.load(Ordering::SeqCst),
        r.connections,
        r.half_open,
        r.time_wait,
        r.listeners,
        conns,
        t.bytes_in.load(Ordering::SeqCst),
        t.bytes_out.load(Ordering::SeqCst),
        s.datagrams_in,
        s.datagrams_out,
        s.dropped_in,
        counters
    )
}
