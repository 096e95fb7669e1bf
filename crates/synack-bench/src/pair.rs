//! What both stacks under test look like to the benchmark loops: two hosts joined by whatever
//! link the loop models, one bulk connection from host 0 (the client, which writes) to host 1
//! (the server, which reads).
//!
//! The loops are generic over [`Pair`] (static dispatch), so both stacks run the very same
//! driver code.

/// Host 0: the client, which connects and writes.
pub const CLIENT: usize = 0;
/// Host 1: the server, which listens and reads.
pub const SERVER: usize = 1;

/// One IP datagram on its way between the hosts. `buf` may be longer than the datagram (pooled
/// buffers keep their full size, so that no byte is cleared per packet); `len` is its length.
#[derive(Debug)]
pub struct Packet {
    /// The bytes; the datagram is `buf[..len]`.
    pub buf: Vec<u8>,
    /// The datagram's length.
    pub len: usize,
}

impl Packet {
    /// A packet of exactly `buf`.
    pub fn exact(buf: Vec<u8>) -> Self {
        let len = buf.len();
        Packet { buf, len }
    }

    /// The datagram.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }
}

/// The buffers and segment size both stacks are given.
#[derive(Clone, Copy, Debug)]
pub struct StackParams {
    /// Largest IP datagram; each stack's MSS is this minus 40.
    pub mtu: usize,
    /// Send buffer of each socket, bytes.
    pub send_buffer: usize,
    /// Receive buffer of each socket, bytes.
    pub recv_buffer: usize,
    /// Seed for ISNs, ports and secrets.
    pub seed: u64,
    /// Use Reno-style congestion control (NewReno / smoltcp's Reno) instead of CUBIC.
    pub reno: bool,
}

/// Two hosts of one stack with a bulk connection between them. Times are microseconds of
/// whatever clock the loop uses (wall or virtual).
pub trait Pair {
    /// The stack's name as printed.
    fn name(&self) -> &'static str;

    /// Client connects and server listens, at `now`.
    fn start(&mut self, now: u64) -> Result<(), String>;

    /// Hands a datagram to `host`. A stack may process it here or at its next [`Pair::poll`].
    fn deliver(&mut self, host: usize, now: u64, packet: Packet);

    /// Lets `host` run: timers due at `now`, datagrams delivered since its last poll; what it
    /// sends is appended to `out`.
    fn poll(&mut self, host: usize, now: u64, out: &mut Vec<Packet>);

    /// When `host` next needs [`Pair::poll`] though nothing arrives (`None`: never).
    fn next_wakeup(&mut self, host: usize, now: u64) -> Option<u64>;

    /// The client application writes; returns how many bytes the socket took (0 when none now).
    fn write(&mut self, now: u64, data: &[u8]) -> usize;

    /// The server application reads into `buf`; returns how many bytes it got (0 when none now).
    fn read(&mut self, now: u64, buf: &mut [u8]) -> usize;

    /// A problem worth reporting (a connection error), if any.
    fn error(&self) -> Option<String>;
}
