//! Linux <-> Linux over a veth pair whose two ends live in two private network namespaces.
//!
//! End A (`sb-veth-a`, 10.11.0.1/24) stays in the benchmark's namespace. End B (`sb-veth-b`,
//! 10.11.0.2/24) is created directly inside a second namespace: a thread spawned from the
//! benchmark's thread unshares again, reports its thread id, and `ip link add sb-veth-a type veth
//! peer name sb-veth-b netns <that id>` puts the peer there (the kernel resolves the id like a
//! process id). With the two addresses in two namespaces the kernel cannot deliver locally over
//! its loopback: every segment crosses the veth, which its byte counters confirm. The second
//! namespace, and the veth pair with it, disappear when that thread ends.

use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{
    accept_kernel, agree, bound_kernel, drain, ip_cmd, kernel_client_source, kernel_listener,
    kernel_server_sink, sink, source, Got, Moved, Plan, CONNECT_TIMEOUT, IO_TIMEOUT, PORT,
};

pub(super) const END_A: &str = "sb-veth-a";
const END_B: &str = "sb-veth-b";
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 2);

/// How long setting up the pair may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the thread in namespace B is asked to do.
enum Job {
    /// Configure end B and listen on it.
    Configure { mtu: usize },
    /// Accept a connection, read and check what comes; reply with what was read.
    Sink(Plan),
    /// Accept a connection, write, close; reply with how much was written once the peer has
    /// closed too.
    Source(Plan),
}

/// What the thread in namespace B answers.
enum Reply {
    Configured,
    Got(Got),
    Sent(u64),
}

/// The veth pair and the thread that holds namespace B.
pub(super) struct Veth {
    jobs: Option<mpsc::Sender<Job>>,
    replies: mpsc::Receiver<Result<Reply, String>>,
    peer: Option<thread::JoinHandle<()>>,
    tid: u32,
}

/// This thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn thread_id() -> Result<u32, String> {
    let link = std::fs::read_link("/proc/thread-self")
        .map_err(|e| format!("cannot read /proc/thread-self: {e}"))?;
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/thread-self link {}", link.display()))
}

/// True once `ip` reports the interface's carrier up (`LOWER_UP`).
fn lower_up(ip: &str, name: &str) -> bool {
    ip_cmd(ip, &["-o", "link", "show", "dev", name]).is_ok_and(|s| s.contains("LOWER_UP"))
}

/// The thread of namespace B.
fn peer_main(
    ip: &'static str,
    pat: Arc<Vec<u8>>,
    tid: mpsc::Sender<Result<u32, String>>,
    jobs: mpsc::Receiver<Job>,
    replies: mpsc::Sender<Result<Reply, String>>,
) {
    let id = synack::netns::unshare()
        .map_err(|e| format!("the veth's second namespace: {e}"))
        .and_then(|()| thread_id());
    let failed = id.is_err();
    if tid.send(id).is_err() || failed {
        return;
    }
    let mut listener = None;
    for job in jobs {
        let r = match job {
            Job::Configure { mtu } => (|| {
                let mtu = mtu.to_string();
                ip_cmd(ip, &["link", "set", "dev", END_B, "mtu", &mtu, "up"])?;
                ip_cmd(ip, &["addr", "add", &format!("{B_IP}/24"), "dev", END_B])?;
                listener = Some(kernel_listener(SocketAddr::from((B_IP, PORT)))?);
                Ok(Reply::Configured)
            })(),
            Job::Sink(plan) => match &listener {
                Some(l) => kernel_server_sink(l, &plan, &pat).map(Reply::Got),
                None => Err("end B is not configured".into()),
            },
            Job::Source(plan) => match &listener {
                Some(l) => (|| {
                    let mut s = accept_kernel(l, plan.deadline)?;
                    let sent = source(&mut s, &plan, &pat)
                        .map_err(|e| format!("Linux (B) sending: {e}"))?;
                    s.shutdown(Shutdown::Write)
                        .map_err(|e| format!("Linux (B) shutdown: {e}"))?;
                    drain(&mut s)?;
                    Ok(Reply::Sent(sent))
                })(),
                None => Err("end B is not configured".into()),
            },
        };
        if replies.send(r).is_err() {
            return;
        }
    }
}

impl Veth {
    /// Creates the pair, configures both ends (MTU `mtu`, addresses, up) and waits for the
    /// carrier.
    pub(super) fn open(ip: &'static str, mtu: usize, pat: &Arc<Vec<u8>>) -> Result<Self, String> {
        let (tid_tx, tid_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (rep_tx, rep_rx) = mpsc::channel();
        let p = Arc::clone(pat);
        let peer = thread::Builder::new()
            .name("synack-bench-veth-b".into())
            .spawn(move || peer_main(ip, p, tid_tx, jobs_rx, rep_tx))
            .map_err(|e| format!("cannot start the veth peer thread: {e}"))?;
        let mut veth = Veth {
            jobs: Some(jobs_tx),
            replies: rep_rx,
            peer: Some(peer),
            tid: 0,
        };
        let tid = tid_rx
            .recv_timeout(SETUP_TIMEOUT)
            .map_err(|_| "the veth peer thread did not start".to_string())??;
        veth.tid = tid;
        let tid = tid.to_string();
        let mtu_s = mtu.to_string();
        ip_cmd(
            ip,
            &[
                "link", "add", END_A, "type", "veth", "peer", "name", END_B, "netns", &tid,
            ],
        )?;
        ip_cmd(ip, &["link", "set", "dev", END_A, "mtu", &mtu_s, "up"])?;
        ip_cmd(ip, &["addr", "add", &format!("{A_IP}/24"), "dev", END_A])?;
        veth.send(Job::Configure { mtu })?;
        veth.reply(Instant::now() + SETUP_TIMEOUT)?;
        let deadline = Instant::now() + SETUP_TIMEOUT;
        while !lower_up(ip, END_A) {
            if Instant::now() >= deadline {
                return Err(format!("{END_A} did not come up"));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(veth)
    }

    fn send(&mut self, job: Job) -> Result<(), String> {
        self.jobs
            .as_ref()
            .ok_or_else(|| "the veth is closed".to_string())?
            .send(job)
            .map_err(|_| "the veth peer thread has stopped".to_string())
    }

    /// Waits (until `deadline` plus the I/O timeout) for namespace B's answer.
    fn reply(&mut self, deadline: Instant) -> Result<Reply, String> {
        let wait = deadline.saturating_duration_since(Instant::now()) + IO_TIMEOUT;
        self.replies
            .recv_timeout(wait)
            .map_err(|_| "the veth peer thread did not answer".to_string())?
    }

    /// The id of the thread that holds namespace B (`/proc/<id>/net` shows that namespace).
    pub(super) fn peer_tid(&self) -> u32 {
        self.tid
    }

    /// A -> B: B's kernel server reads; A's kernel client connects and writes.
    pub(super) fn a_to_b(&mut self, bytes: u64, pat: &[u8]) -> Result<Moved, String> {
        let plan = Plan::new(bytes);
        self.send(Job::Sink(plan))?;
        let sent = kernel_client_source(SocketAddr::from((B_IP, PORT)), &plan, pat);
        let got = self.reply(plan.deadline).and_then(|r| match r {
            Reply::Got(g) => Ok(g),
            _ => Err("the veth peer thread answered out of turn".into()),
        });
        Ok(plan.moved(agree(sent?, got?)?))
    }

    /// B -> A: A's kernel client connects and reads; B's kernel server writes.
    pub(super) fn b_to_a(&mut self, bytes: u64, pat: &[u8]) -> Result<Moved, String> {
        let plan = Plan::new(bytes);
        self.send(Job::Source(plan))?;
        let got = (|| {
            let to = SocketAddr::from((B_IP, PORT));
            let mut s = std::net::TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)
                .map_err(|e| format!("Linux (A) cannot connect to {to}: {e}"))?;
            bound_kernel(&s).map_err(|e| format!("configuring the socket: {e}"))?;
            sink(&mut s, &plan, pat).map_err(|e| format!("Linux (A) receiving: {e}"))
        })();
        let sent = self.reply(plan.deadline).and_then(|r| match r {
            Reply::Sent(n) => Ok(n),
            _ => Err("the veth peer thread answered out of turn".into()),
        });
        let got = got?;
        Ok(plan.moved(agree(sent?, got)?))
    }

    /// Stops the peer thread: namespace B goes, and the veth pair with it.
    pub(super) fn close(mut self) {
        self.jobs = None;
        if let Some(t) = self.peer.take() {
            let _ = t.join();
        }
    }
}
