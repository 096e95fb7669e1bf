#!/usr/bin/env python3
"""Goodput of a bulk transfer under random loss: synack's sender against Linux's own TCP sender,
over the same userspace link, with a Linux receiver in both cases.

The link is a relay between two TUN interfaces in two private network namespaces the tool creates
(and deletes when it ends): each direction has a rate (serialisation, FIFO queue of --queue packets
with tail drop), random loss and a one-way delay, in the same order of stages as `synack-bench
lossy`'s virtual link, but on the wall clock. The receiver is a Linux socket in namespace B that
reads every byte and reports bytes / (last byte read - accept). The senders, one after the other,
seed by seed:

  linux   a Linux socket in namespace A (CUBIC, set per socket with TCP_CONGESTION);
  synack  `synack connect --mode send` on its own TUN in namespace A, which forwards to the relay.

Needs root, python3, iproute2 and a built `synack` (cargo build --release -p synack-cli). Nothing
leaves the two namespaces; every transfer is bounded by --timeout.

    sudo python3 crates/synack-bench/tools/lossy_vs_linux.py --loss 1% --runs 5
"""
import argparse, ctypes, fcntl, heapq, os, random, select, statistics, struct, subprocess, sys
import threading, time

NS_A, NS_B = "sblr-a", "sblr-b"
TUN_A, TUN_B = "sblr0", "sblr1"
IP_A, IP_B = "10.20.0.1", "10.20.0.2"
SYNACK_NET, SYNACK_KERNEL, SYNACK_IP = "10.30.0.0/24", "10.30.0.1/24", "10.30.0.2"
PORT = 5001
CLONE_NEWNET = 0x40000000
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
libc = ctypes.CDLL(None, use_errno=True)


def fail(msg):
    print(f"lossy_vs_linux: {msg}", file=sys.stderr)
    sys.exit(2)


def probability(text):
    t = text.strip()
    v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text}")
    return v


def size(text):
    t = text.strip()
    mult = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    n = int(t[:-1] if mult > 1 else t) * mult
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return n


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"'{cmd}' failed: {r.stderr.strip()}")


def enter(ns_fd, what):
    if libc.setns(ns_fd, CLONE_NEWNET) != 0:
        fail(f"cannot enter {what}: {os.strerror(ctypes.get_errno())}")


def open_tun(ns, name):
    ns_fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        enter(ns_fd, f"network namespace {ns}")
    finally:
        os.close(ns_fd)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Relay(threading.Thread):
    """Direction 0 carries A -> B, direction 1 B -> A."""

    def __init__(self, fds, args, seed):
        super().__init__(daemon=True)
        self.fds, self.args, self.rng = fds, args, random.Random(seed)
        self.busy, self.last = [0.0, 0.0], [0.0, 0.0]
        self.held = [[], []]  # departure times of packets queued or serialising
        self.heap, self.seq, self.stop = [], 0, False
        self.packets = self.lost = self.tail_dropped = 0

    def run(self):
        a = self.args
        rate, delay = a.rate * 1e6, a.delay / 1000
        while not self.stop:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, d, p = heapq.heappop(self.heap)
                os.write(self.fds[1 - d], p)
            wait = min(self.heap[0][0] - now, 0.02) if self.heap else 0.02
            ready, _, _ = select.select(self.fds, [], [], max(wait, 0))
            for f in ready:
                d = self.fds.index(f)
                p = os.read(f, 65536)
                now = time.monotonic()
                self.packets += 1
                held = self.held[d]
                while held and held[0] <= now:
                    held.pop(0)
                if len(held) >= a.queue:
                    self.tail_dropped += 1
                    continue
                start = max(now, self.busy[d])
                self.busy[d] = start + len(p) * 8 / rate
                held.append(self.busy[d])
                if self.rng.random() < a.loss:
                    self.lost += 1
                    continue
                arrival = max(self.busy[d] + delay, self.last[d])
                self.last[d] = arrival
                self.seq += 1
                heapq.heappush(self.heap, (arrival, self.seq, d, p))


RECEIVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('{ip}', {port})); s.listen(1); s.settimeout({timeout})
c, _ = s.accept(); c.settimeout({timeout}); t0 = time.monotonic(); n = 0; t = t0
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b); t = time.monotonic()
print(n, t - t0)
"""

LINUX_SENDER = """
import socket
s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic')
s.settimeout({timeout}); s.connect(('{ip}', {port}))
data = bytes(1 << 20); left = {n}
while left > 0:
    left -= s.send(data[:min(left, len(data))])
s.shutdown(socket.SHUT_WR); s.recv(1)
"""


def one(args, who, seed):
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    sh(f"ip netns add {NS_A} && ip netns add {NS_B}")
    relay = None
    try:
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            fds = [open_tun(NS_A, TUN_A), open_tun(NS_B, TUN_B)]
            enter(home, "the original network namespace")
        finally:
            os.close(home)
        for ns, dev, ip in ((NS_A, TUN_A, IP_A), (NS_B, TUN_B, IP_B)):
            sh(f"ip -n {ns} link set lo up && ip -n {ns} addr add {ip}/24 dev {dev} "
               f"&& ip -n {ns} link set {dev} up")
        sh(f"ip -n {NS_B} route add {SYNACK_NET} dev {TUN_B}")
        sh(f"ip netns exec {NS_A} sysctl -qw net.ipv4.ip_forward=1")
        relay = Relay(fds, args, seed)
        relay.start()
        rx = subprocess.Popen(
            ["ip", "netns", "exec", NS_B, "python3", "-c",
             RECEIVER.format(ip=IP_B, port=PORT, timeout=args.timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        if who == "linux":
            cmd = ["python3", "-c", LINUX_SENDER.format(ip=IP_B, port=PORT, n=args.bytes,
                                                       timeout=args.timeout)]
        else:
            cmd = [args.synack, "connect", "--tun", "sblr-syn", "--tun-addr", SYNACK_KERNEL,
                   "--addr", SYNACK_IP, "--to", f"{IP_B}:{PORT}", "--mode", "send",
                   "--bytes", str(args.bytes), "--timeout", str(args.timeout)]
        tx = subprocess.run(["ip", "netns", "exec", NS_A] + cmd, capture_output=True, text=True,
                            timeout=args.timeout + 10)
        out, err = rx.communicate(timeout=args.timeout + 10)
        if tx.returncode != 0 or rx.returncode != 0:
            fail(f"{who}, seed {seed}: sender: {tx.stderr.strip()[-300:]} "
                 f"receiver: {err.strip()[-300:]}")
        n, secs = out.split()
        if int(n) != args.bytes:
            fail(f"{who}, seed {seed}: {n} of {args.bytes} bytes arrived")
        return args.bytes * 8 / float(secs) / 1e6, relay.lost, relay.tail_dropped
    finally:
        if relay:
            relay.stop = True
            relay.join(1)
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        fail(message)


def main():
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loss", type=probability, default=0.01, help="each way: 0.01 or 1%%")
    p.add_argument("--delay", type=float, default=10.0, help="one-way delay, ms [10]")
    p.add_argument("--rate", type=float, default=100.0, help="Mbit/s each way [100]")
    p.add_argument("--queue", type=int, default=1000, help="packets before tail drop [1000]")
    p.add_argument("--bytes", type=size, default=8 << 20, help="per transfer, k/M/G [8M]")
    p.add_argument("--runs", type=int, default=5, help="seeds per sender [5]")
    p.add_argument("--seed", type=int, default=1, help="first seed of the relay's draws [1]")
    p.add_argument("--timeout", type=int, default=120, help="seconds per transfer [120]")
    p.add_argument("--synack", default="target/release/synack", help="the synack binary")
    args = p.parse_args()
    if os.geteuid() != 0:
        fail("needs root (network namespaces and TUN interfaces)")
    if not (os.path.isfile(args.synack) and os.access(args.synack, os.X_OK)):
        fail(f"no synack binary at {args.synack} (cargo build --release -p synack-cli)")
    if args.runs < 1 or args.queue < 1 or args.delay < 0 or args.rate <= 0:
        fail("--runs and --queue must be at least 1, --delay at least 0, --rate above 0")
    print(f"lossy_vs_linux: {args.bytes} bytes per transfer, {args.rate:g} Mbit/s, "
          f"{args.delay:g} ms one way, queue {args.queue}, loss {args.loss * 100:g}% each way; "
          f"Linux {os.uname().release} receiver; goodput = bytes / (last byte read - accept)")
    print(f"{'seed':>6} {'linux Mbit/s':>13} {'synack Mbit/s':>14} {'ratio':>7}  drops (linux/synack)")
    rows = []
    for i in range(args.runs):
        seed = args.seed + i
        lin, l_lost, l_tail = one(args, "linux", seed)
        syn, s_lost, s_tail = one(args, "synack", seed)
        rows.append((lin, syn))
        print(f"{seed:>6} {lin:>13.2f} {syn:>14.2f} {syn / lin:>6.2f}x  "
              f"{l_lost + l_tail}/{s_lost + s_tail}", flush=True)
    lm, sm = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"{'median':>6} {lm:>13.2f} {sm:>14.2f} {sm / lm:>6.2f}x")


if __name__ == "__main__":
    main()
