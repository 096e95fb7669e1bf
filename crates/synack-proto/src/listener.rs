//! Passive open: listening sockets with a bounded SYN queue of compact half-open entries and an
//! accept queue bounded by `listen(backlog)` (RFC 9293 §3.10.7.2 LISTEN STATE, §3.5; Linux
//! `inet_connection_sock.c` and `tcp_minisocks.c` `tcp_check_req`).

use alloc::collections::VecDeque;
use core::net::SocketAddr;

use crate::conn::Negotiated;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::tuple::FourTuple;

/// A listening socket.
pub(crate) struct Listener {
    pub local: SocketAddr,
    /// Most connections the accept queue holds.
    pub backlog: u32,
    /// Established connections waiting for accept(): (connection index, generation).
    pub accept_queue: VecDeque<(u32, u32)>,
    /// Half-open entries of this listener (the SYN queue length).
    pub syn_queue: u32,
    /// TOS byte of the SYN+ACKs sent for it, and of the connections it accepts (`IP_TOS` on
    /// a listening socket, which Linux's children inherit).
    pub tos: u8,
}

impl Listener {
    /// True when the accept queue cannot take another connection.
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog as usize
    }

    /// True when the SYN queue cannot take another entry.
    pub fn syn_queue_full(&self, max_syn_backlog: u32) -> bool {
        self.syn_queue >= self.backlog.min(max_syn_backlog).max(1)
    }
}

/// A half-open connection in SYN-RECEIVED: what a listener keeps between the SYN and the third
/// segment (Linux's `request_sock`, about a tenth of a full connection).
#[derive(Clone, Debug)]
pub(crate) struct HalfOpen {
    pub tuple: FourTuple,
    pub listener: u32,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub opts: Negotiated,
    pub our_mss: u16,
    /// The window field of our SYN+ACK.
    pub window: u16,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// SYN+ACK retransmissions so far.
    pub retries: u8,
    /// When the first SYN+ACK went out.
    pub first_sent: Instant,
    /// When the next SYN+ACK retransmission (or the drop) is due.
    pub deadline: Instant,
    /// The third segment arrived while the accept queue was full (Linux `acked`).
    pub acked: bool,
    /// The TSvals of the first and the latest SYN+ACK sent, when timestamps are in use (Linux
    /// `snt_tsval_first`, `snt_tsval_last`): the third segment's TSecr must lie between them.
    pub sent_tsvals: Option<(u32, u32)>,
    /// When the entry last answered a duplicate SYN or an unacceptable segment (see
    /// `time_wait::oow_rate_limited`; Linux `last_oow_ack_time`).
    pub last_oow_ack: Option<Instant>,
}

/// Whether `tsecr` echoes one of our SYN+ACKs' TSvals (Linux 6.15 `tcp_check_req`,
/// `TSEcrRejected`): it lies in `first..=last` of the TSvals sent, modulo 2^32 (Linux
/// `between`). A TSecr of zero is not judged, nor is any TSecr before a TSval was sent.
pub(crate) fn tsecr_within(sent: Option<(u32, u32)>, tsecr: u32) -> bool {
    match sent {
        Some((first, last)) if tsecr != 0 => last.wrapping_sub(first) >= tsecr.wrapping_sub(first),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::tsecr_within;

    #[test]
    fn tsecr_must_lie_between_the_first_and_the_latest_synack_tsval() {
        let sent = Some((1000, 5000));
        assert!(tsecr_within(sent, 1000));
        assert!(tsecr_within(sent, 3000));
        assert!(tsecr_within(sent, 5000));
        assert!(!tsecr_within(sent, 999));
        assert!(!tsecr_within(sent, 5001));
        assert!(tsecr_within(sent, 0), "zero is not judged");
        assert!(tsecr_within(None, 77), "nothing stamped, nothing judged");
    }

    #[test]
    fn tsecr_range_wraps_around_zero() {
        let sent = Some((u32::MAX - 5, 10));
        assert!(tsecr_within(sent, u32::MAX - 5));
        assert!(tsecr_within(sent, u32::MAX));
        assert!(tsecr_within(sent, 3));
        assert!(tsecr_within(sent, 10));
        assert!(!tsecr_within(sent, 11));
        assert!(!tsecr_within(sent, u32::MAX - 6));
    }
}
