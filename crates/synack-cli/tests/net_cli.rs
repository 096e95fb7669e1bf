//! `synack serve` and `synack connect` run as a user runs them, against the kernel's own TCP,
//! each test in a network namespace it creates (the child process inherits the namespace of the
//! thread that starts it). Without root the network tests print why they skip; with
//! `SYNACK_REQUIRE_NETNS=1` they must run.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn synack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synack"))
}

fn required() -> bool {
    std::env::var("SYNACK_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

/// Runs `f` on a thread inside a fresh network namespace; skips (or, when required, fails)
/// without the privileges for it.
fn in_netns<F: FnOnce() + Send + 'static>(test: &str, f: F) {
    let why = if !std::path::Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun is missing".to_string())
    } else {
        let t = thread::spawn(move || -> io::Result<()> {
            synack::netns::unshare()?;
            f();
            Ok(())
        });
        match t.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(p) => std::panic::resume_unwind(p),
        }
    };
    if let Some(why) = why {
        assert!(!required(), "{test}: SYNACK_REQUIRE_NETNS=1 but: {why}");
        eprintln!("{test}: skipped: {why} (needs root)");
    }
}

/// A running `synack` child whose stdout lines arrive on a channel; killed if the test fails.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = synack()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run synack");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running { child, lines: rx }
    }

    /// The next stdout line, within 20 s.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from synack")
    }

    fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok);
    }

    /// Waits up to 20 s for the process to exit.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status, err);
            }
            assert!(Instant::now() < end, "synack did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect_retrying(addr: &str) -> TcpStream {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
                return s;
            }
            Err(e) => {
                assert!(Instant::now() < end, "cannot connect to {addr}: {e}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn interfaces() -> String {
    std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default()
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_9abc_def1u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `payload` while reading the echo; returns what came back.
fn echo_through(addr: &str, payload: Vec<u8>) -> Vec<u8> {
    let s = connect_retrying(addr);
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(&payload).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    (&s).read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

#[test]
fn serve_http_answers_get_and_ctrl_c_removes_the_interface() {
    in_netns("serve_http", || {
        let srv = Running::start(&[
            "serve",
            "--tun",
            "stun0",
            "--tun-addr",
            "10.9.0.1/24",
            "--addr",
            "10.9.0.2",
            "--port",
            "8080",
            "--mode",
            "http",
        ]);
        assert!(srv.line().contains("serving http on 10.9.0.2:8080"));
        assert!(interfaces().contains("stun0"));
        let mut c = connect_retrying("10.9.0.2:8080");
        c.write_all(b"GET / HTTP/1.1\r\nHost: synack\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(
            resp.contains("connections:") && resp.contains("counters:"),
            "{resp}"
        );
        let mut c = connect_retrying("10.9.0.2:8080");
        c.write_all(b"GET /missing HTTP/1.1\r\nHost: synack\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 404 "), "{resp}");
        if let Ok(out) = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg("http://10.9.0.2:8080/")
            .output()
        {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
        }
        if let Ok(out) = Command::new("ping")
            .args(["-c", "2", "-i", "0.2", "-W", "2", "10.9.0.2"])
            .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        srv.interrupt();
        let (status, _) = srv.wait();
        assert!(status.success(), "{status}");
        assert!(
            !interfaces().contains("stun0"),
            "the interface is still there"
        );
    });
}

#[test]
fn serve_echo_returns_64mib_exactly() {
    in_netns("serve_echo", || {
        let srv = Running::start(&[
            "serve",
            "--tun",
            "stun0",
            "--tun-addr",
            "10.9.0.1/24",
            "--addr",
            "10.9.0.2",
            "--port",
            "5000",
            "--mode",
            "echo",
        ]);
        srv.line();
        let payload = data(64 << 20);
        let want = Sha256::digest(&payload);
        let back = echo_through("10.9.0.2:5000", payload);
        assert_eq!(back.len(), 64 << 20);
        assert_eq!(Sha256::digest(&back), want);
        assert!(srv.line().contains("echoed 67108864 of 67108864 bytes"));
        srv.interrupt();
        assert!(srv.wait().0.success());
    });
}

#[test]
fn serve_echo_under_loss_returns_bytes_exactly() {
    in_netns("serve_echo_under_loss", || {
        let srv = Running::start(&[
            "serve",
            "--tun",
            "stun0",
            "--tun-addr",
            "10.9.0.1/24",
            "--addr",
            "10.9.0.2",
            "--port",
            "5000",
            "--mode",
            "echo",
            "--loss",
            "5%",
            "--reorder",
            "0.02",
            "--seed",
            "3",
        ]);
        assert!(srv.line().contains("loss 5.0%"));
        let payload = data(1 << 20);
        let want = Sha256::digest(&payload);
        let back = echo_through("10.9.0.2:5000", payload);
        assert_eq!(Sha256::digest(&back), want);
        srv.interrupt();
        assert!(srv.wait().0.success());
    });
}

#[test]
fn connect_sends_64mib_to_a_kernel_server() {
    in_netns("connect_send", || {
        let listener = TcpListener::bind("0.0.0.0:5001").unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            let mut h = Sha256::new();
            let mut n = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = s.read(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
                n += k as u64;
            }
            (n, format!("{:x}", h.finalize()))
        });
        let out = synack()
            .args([
                "connect",
                "--tun",
                "stun0",
                "--tun-addr",
                "10.9.0.1/24",
                "--addr",
                "10.9.0.2",
                "--to",
                "10.9.0.1:5001",
                "--mode",
                "send",
                "--bytes",
                "64M",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (n, sha) = server.join().unwrap();
        assert_eq!(n, 64 << 20);
        assert!(stdout.contains("bytes: 67108864"), "{stdout}");
        assert!(stdout.contains(&format!("sha256: {sha}")), "{stdout}");
        assert!(stdout.contains("Mbit/s: "), "{stdout}");
        assert!(!interfaces().contains("stun0"));
    });
}

#[test]
fn connect_to_a_closed_port_fails_with_one_line() {
    in_netns("connect_refused", || {
        let out = synack()
            .args([
                "connect",
                "--tun",
                "stun0",
                "--tun-addr",
                "10.9.0.1/24",
                "--addr",
                "10.9.0.2",
                "--to",
                "10.9.0.1:9",
                "--mode",
                "recv",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end(),
            "synack: error: cannot connect to 10.9.0.1:9: connection refused"
        );
    });
}

#[test]
fn ipv6_serve_and_connect() {
    in_netns("ipv6_serve_and_connect", || {
        let srv = Running::start(&[
            "serve",
            "--tun",
            "stun6",
            "--tun-addr",
            "fd00:9::1/64",
            "--addr",
            "fd00:9::2",
            "--port",
            "5000",
            "--mode",
            "echo",
        ]);
        srv.line();
        let payload = data(4 << 20);
        let back = echo_through("[fd00:9::2]:5000", payload.clone());
        assert!(back == payload);
        srv.interrupt();
        assert!(srv.wait().0.success());

        let listener = TcpListener::bind("[::]:5001").unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v.len()
        });
        let out = synack()
            .args([
                "connect",
                "--tun",
                "stun6",
                "--tun-addr",
                "fd00:9::1/64",
                "--addr",
                "fd00:9::2",
                "--to",
                "[fd00:9::1]:5001",
                "--mode",
                "send",
                "--bytes",
                "4M",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(server.join().unwrap(), 4 << 20);
    });
}

#[test]
fn busy_interface_is_a_one_line_error() {
    in_netns("busy_interface", || {
        let srv = Running::start(&[
            "serve",
            "--tun",
            "stun0",
            "--tun-addr",
            "10.9.0.1/24",
            "--addr",
            "10.9.0.2",
            "--port",
            "5000",
            "--mode",
            "discard",
        ]);
        srv.line();
        let out = synack()
            .args([
                "serve",
                "--tun",
                "stun0",
                "--tun-addr",
                "10.9.0.1/24",
                "--addr",
                "10.9.0.2",
                "--port",
                "5001",
                "--mode",
                "discard",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            "synack: error: interface 'stun0' is busy: another process has it open"
        );
        srv.interrupt();
        assert!(srv.wait().0.success());
    });
}

fn run(args: &[&str]) -> Output {
    synack().args(args).output().expect("run synack")
}

/// Bad arguments are refused before any interface is touched, so these need no privileges.
#[test]
fn malformed_addresses_are_one_line_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--tun-addr", "10.9.0.1", "--addr", "10.9.0.2"],
            "--tun-addr: '10.9.0.1' needs a prefix length",
        ),
        (
            &["--tun-addr", "10.9.0.1/24", "--addr", "10.9.0.256"],
            "--addr: '10.9.0.256' is not an IP address",
        ),
        (
            &["--tun-addr", "10.9.0.1/40", "--addr", "10.9.0.2"],
            "--tun-addr: '/40' is not a prefix length",
        ),
        (
            &["--tun-addr", "10.9.0.1/24", "--addr", "10.8.0.2"],
            "is outside --tun-addr 10.9.0.1/24",
        ),
        (
            &["--tun-addr", "fd00:9::1/64", "--addr", "10.9.0.2"],
            "are of different IP versions",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["serve", "--tun", "stun0", "--port", "1", "--mode", "echo"];
        args.extend_from_slice(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("synack: error: ") && err.contains(want),
            "{err}"
        );
    }
    let out = run(&[
        "connect",
        "--tun",
        "stun0",
        "--tun-addr",
        "10.9.0.1/24",
        "--addr",
        "10.9.0.2",
        "--to",
        "10.9.0.1",
        "--mode",
        "send",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to: '10.9.0.1' is not IP:PORT"));
}
