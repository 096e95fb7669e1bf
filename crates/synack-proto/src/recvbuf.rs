//! The receive buffer: in-order bytes that arrived and the application has not read yet
//! (RFC 9293 §3.8.6.2: its free space is what the receive window offers).
//!
//! The bytes are kept as a queue of chunks. A chunk is either a buffer the engine copied
//! received payload into, or — when the driver hands datagrams over by value
//! ([`Endpoint::handle_datagram`](crate::Endpoint::handle_datagram)) — the received datagram
//! itself, of which only the payload counts. An in-order datagram is then queued as it arrived
//! and its payload is copied once, into the application's buffer, as Linux queues the skb
//! instead of copying it.
//!
//! Memory: the buffer's length counts payload bytes only, so a datagram is kept whole only when
//! its payload is at least half of its allocation (and at least [`MIN_KEEP`] bytes); otherwise
//! its payload is copied. What is queued thus never holds more than about twice the bytes the
//! window accounts for (Linux budgets `tcp_adv_win_scale` for the same overhead).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::txq::TxQueue;

/// A datagram whose payload is smaller than this is copied, not kept.
pub(crate) const MIN_KEEP: usize = 256;
/// Copied bytes go into chunks of at least this capacity.
const COPY_CHUNK: usize = 16 * 1024;

/// What a chunk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A buffer the engine filled by copying; more copied bytes may be appended.
    Copied,
    /// A received datagram (or a piece of the out-of-order queue); `start..end` is what is left
    /// of its payload.
    Datagram,
    /// Room for a datagram's payload that is being received: its bytes are attached
    /// ([`RecvBuf::attach`]) before anything can read them.
    Pending,
}

#[derive(Debug)]
struct Chunk {
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    kind: Kind,
}

impl Chunk {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// In-order received bytes not read yet.
#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// A copy chunk read to the end, kept for the next copies.
    spare: Vec<u8>,
}

impl RecvBuf {
    /// Unread bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is left to read.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    pub(crate) fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        let mut data = data;
        if let Some(last) = self.chunks.back_mut() {
            if last.kind == Kind::Copied {
                let room = last.buf.capacity() - last.buf.len();
                let n = room.min(data.len());
                last.buf.extend_from_slice(&data[..n]);
                last.end = last.buf.len();
                data = &data[n..];
            }
        }
        if !data.is_empty() {
            let mut buf = core::mem::take(&mut self.spare);
            buf.clear();
            buf.reserve(data.len().max(COPY_CHUNK));
            buf.extend_from_slice(data);
            self.chunks.push_back(Chunk {
                start: 0,
                end: buf.len(),
                buf,
                kind: Kind::Copied,
            });
        }
    }

    /// Appends the bytes of `data`, keeping the vector (a piece the out-of-order queue held).
    pub(crate) fn push_vec(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        self.chunks.push_back(Chunk {
            start: 0,
            end: data.len(),
            buf: data,
            kind: Kind::Datagram,
        });
    }

    /// Appends `len` bytes whose datagram is attached later ([`Self::attach`]), before any read.
    pub(crate) fn push_pending(&mut self, len: usize) {
        self.len += len;
        self.chunks.push_back(Chunk {
            buf: Vec::new(),
            start: 0,
            end: len,
            kind: Kind::Pending,
        });
    }

    /// Gives the pending chunk its datagram, whose `payload` range holds the bytes. Returns the
    /// datagram back when there is no pending chunk of that length (the buffer was cleared in
    /// between) or the range does not fit it.
    pub(crate) fn attach(
        &mut self,
        datagram: Vec<u8>,
        payload: core::ops::Range<usize>,
    ) -> Result<(), Vec<u8>> {
        let fits = payload.start <= payload.end && payload.end <= datagram.len();
        let slot = self
            .chunks
            .iter_mut()
            .rev()
            .find(|c| c.kind == Kind::Pending);
        match slot {
            Some(c) if fits && c.len() == payload.len() => {
                c.buf = datagram;
                c.start = payload.start;
                c.end = payload.end;
                c.kind = Kind::Datagram;
                Ok(())
            }
            _ => Err(datagram),
        }
    }

    /// Copies up to `out.len()` bytes into `out`, oldest first, and returns how many. Datagrams
    /// read to the end are handed to `spares` (they live on as transmit buffers); a copy chunk
    /// is kept for the next copies (it is larger than a datagram needs, and a datagram built in
    /// it would not be worth keeping at the other end).
    pub(crate) fn read(&mut self, out: &mut [u8], spares: &mut TxQueue) -> usize {
        let mut done = 0;
        while done < out.len() {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.kind == Kind::Pending {
                // Not reachable (a pending chunk is attached before the endpoint returns to the
                // application); stop rather than hand out bytes that are not there.
                break;
            }
            let n = front.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&front.buf[front.start..front.start + n]);
            front.start += n;
            done += n;
            if front.start == front.end {
                if let Some(spent) = self.chunks.pop_front() {
                    match spent.kind {
                        Kind::Copied => self.spare = spent.buf,
                        _ => spares.recycle(spent.buf),
                    }
                }
            }
        }
        self.len -= done;
        done
    }

    /// Copies up to `out.len()` bytes into `out`, oldest first, leaving them unread
    /// (`MSG_PEEK`); returns how many.
    pub(crate) fn peek(&self, out: &mut [u8]) -> usize {
        let mut done = 0;
        for c in &self.chunks {
            if done == out.len() || c.kind == Kind::Pending {
                break;
            }
            let n = c.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&c.buf[c.start..c.start + n]);
            done += n;
        }
        done
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &mut RecvBuf, step: usize) -> Vec<u8> {
        let mut tx = TxQueue::default();
        let mut out = Vec::new();
        let mut buf = alloc::vec![0u8; step];
        loop {
            let n = b.read(&mut buf, &mut tx);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn copies_and_datagrams_read_back_in_order() {
        let mut b = RecvBuf::default();
        b.push_copy(b"hello, ");
        b.push_pending(5);
        let mut datagram = alloc::vec![0u8; 40];
        datagram.extend_from_slice(b"world");
        assert!(b.attach(datagram, 40..45).is_ok());
        b.push_copy(b"! and");
        b.push_vec(b" more".to_vec());
        assert_eq!(b.len(), 22);
        for step in [1, 3, 7, 64] {
            let mut c = RecvBuf::default();
            c.push_copy(b"hello, ");
            c.push_pending(5);
            let mut d = alloc::vec![9u8; 3];
            d.extend_from_slice(b"world");
            c.attach(d, 3..8).unwrap();
            c.push_copy(b"! and more");
            assert_eq!(
                read_all(&mut c, step),
                b"hello, world! and more",
                "step {step}"
            );
            assert!(c.is_empty());
        }
        assert_eq!(read_all(&mut b, 4), b"hello, world! and more");
    }

    #[test]
    fn large_copies_span_chunks() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let mut b = RecvBuf::default();
        for piece in data.chunks(1448) {
            b.push_copy(piece);
        }
        assert_eq!(b.len(), data.len());
        assert_eq!(read_all(&mut b, 5000), data);
    }

    #[test]
    fn attach_refuses_what_does_not_match() {
        let mut b = RecvBuf::default();
        assert!(
            b.attach(alloc::vec![0u8; 10], 0..10).is_err(),
            "nothing pending"
        );
        b.push_pending(4);
        assert!(
            b.attach(alloc::vec![0u8; 10], 0..5).is_err(),
            "wrong length"
        );
        assert!(
            b.attach(alloc::vec![0u8; 10], 8..12).is_err(),
            "out of range"
        );
        assert!(b.attach(alloc::vec![1u8; 10], 6..10).is_ok());
        b.clear();
        assert!(b.is_empty());
        assert!(b.attach(alloc::vec![0u8; 10], 0..4).is_err(), "cleared");
    }

    #[test]
    fn peek_copies_across_chunks_and_leaves_the_bytes_unread() {
        let mut b = RecvBuf::default();
        b.push_copy(b"abc");
        let mut dgram = vec![0u8; 600];
        dgram[..3].copy_from_slice(b"def");
        b.push_vec(dgram);
        let mut out = [0u8; 5];
        assert_eq!(b.peek(&mut out), 5);
        assert_eq!(&out, b"abcde");
        assert_eq!(b.len(), 603);
        let mut all = vec![0u8; 1000];
        assert_eq!(b.peek(&mut all), 603);
        assert_eq!(read_all(&mut b, 7)[..6], *b"abcdef");
        assert_eq!(b.peek(&mut out), 0);
    }

    #[test]
    fn a_pending_chunk_is_never_read() {
        let mut b = RecvBuf::default();
        b.push_copy(b"ab");
        b.push_pending(3);
        let mut tx = TxQueue::default();
        let mut out = [0u8; 8];
        assert_eq!(b.read(&mut out, &mut tx), 2);
        assert_eq!(b.read(&mut out, &mut tx), 0);
        assert_eq!(b.len(), 3);
    }
}
