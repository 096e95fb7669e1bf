//! The queue of datagrams waiting for [`Endpoint::poll_transmit`](crate::Endpoint::poll_transmit),
//! and the spare buffers they are built in.
//!
//! A driver that hands spent datagram buffers back ([`Endpoint::recycle`](crate::Endpoint::recycle))
//! lets the engine build the next datagrams in them instead of allocating one vector per
//! datagram. The spares are bounded in number and in bytes, so recycling never grows memory
//! beyond a small fixed amount.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// At most this many spare buffers are kept.
const MAX_SPARES: usize = 512;
/// At most this many bytes of spare capacity are kept (all spares together).
const MAX_SPARE_BYTES: usize = 2 << 20;
/// Buffers smaller than this are not worth keeping (a datagram's headers alone need 60 bytes).
const MIN_SPARE_CAPACITY: usize = 128;

/// Datagrams ready to send, oldest first, and spare buffers.
#[derive(Debug, Default)]
pub(crate) struct TxQueue {
    queue: VecDeque<Vec<u8>>,
    spares: Vec<Vec<u8>>,
    spare_bytes: usize,
}

impl TxQueue {
    /// Queues a finished datagram.
    pub(crate) fn push(&mut self, datagram: Vec<u8>) {
        self.queue.push_back(datagram);
    }

    /// The oldest datagram.
    pub(crate) fn pop(&mut self) -> Option<Vec<u8>> {
        self.queue.pop_front()
    }

    /// Datagrams waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// A buffer to build a datagram in: a spare (holding stale bytes) if there is one.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.take_spare().unwrap_or_default()
    }

    /// A spare, if there is one (for the driver to read into).
    pub(crate) fn take_spare(&mut self) -> Option<Vec<u8>> {
        let b = self.spares.pop()?;
        self.spare_bytes -= b.capacity();
        Some(b)
    }

    /// Keeps `buf` as a spare if the bounds allow; otherwise frees it.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap >= MIN_SPARE_CAPACITY
            && self.spares.len() < MAX_SPARES
            && self.spare_bytes + cap <= MAX_SPARE_BYTES
        {
            // The bytes are left as they are: builders overwrite them, and a buffer that keeps
            // its length is not zero-filled again when the next datagram is built in it.
            self.spare_bytes += cap;
            self.spares.push(buf);
        }
    }

    /// Spare buffers held (for tests).
    #[cfg(test)]
    pub(crate) fn spares(&self) -> usize {
        self.spares.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_are_reused_and_bounded() {
        let mut q = TxQueue::default();
        q.recycle(Vec::with_capacity(16));
        assert_eq!(q.spares(), 0, "tiny buffers are not kept");
        q.recycle(alloc::vec![7u8; 1500]);
        assert_eq!(q.spares(), 1);
        let b = q.buffer();
        assert!(b.capacity() >= 1500, "a spare keeps its capacity");
        assert_eq!(q.spares(), 0);
        for _ in 0..2 * MAX_SPARES {
            q.recycle(Vec::with_capacity(65_536));
        }
        assert!(q.spares() * 65_536 <= MAX_SPARE_BYTES);
        for _ in 0..2 * MAX_SPARES {
            q.recycle(Vec::with_capacity(256));
        }
        assert!(q.spares() <= MAX_SPARES);
    }
}
