//! Out-of-order data held until the hole before it fills (RFC 9293 §3.10.7.4 "seventh, process the
//! segment text": segments beyond RCV.NXT are kept and delivered in order).
//!
//! Data is keyed by its 64-bit stream offset (bytes since the peer's ISN + 1), so wrap-around of
//! 32-bit sequence numbers does not matter here. Any number of holes is allowed; the caller bounds
//! memory by only inserting data that starts inside the receive window and ends inside it, or,
//! while nothing waits to be read, within one segment beyond it, and by keeping the queue's
//! [`Reassembly::cost`] (bytes plus a per-piece overhead) within its budget with
//! [`Reassembly::prune_from_top`]. Stored pieces never overlap; adjacent pieces form one range.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// What one held piece is charged beyond its bytes (allocation and tree node): a flood of tiny
/// segments fills the queue's budget long before it fills the window, as Linux's truesize
/// accounting makes it.
pub const PIECE_OVERHEAD: usize = 256;

/// The out-of-order queue of one connection.
///
/// The data is kept as it arrived, in pieces that never overlap (a segment that repeats held
/// bytes adds only the bytes that were missing), and is never copied again once held: Linux's
/// out-of-order queue holds the segments themselves in the same way. Beside the pieces, the
/// contiguous runs they form are kept as bounds only, for the SACK blocks.
#[derive(Debug, Default)]
pub struct Reassembly {
    /// The held bytes, keyed by stream offset.
    pieces: BTreeMap<u64, Vec<u8>>,
    /// The runs the pieces form, keyed by start: adjacent pieces belong to one run.
    runs: BTreeMap<u64, Run>,
    /// Counts inserts, to stamp [`Run::touched`].
    clock: u64,
    bytes: usize,
}

/// One contiguous run of held data.
#[derive(Clone, Copy, Debug)]
struct Run {
    end: u64,
    /// When data last arrived in it (the insert count): SACK blocks go out most recent first
    /// (RFC 2018 §4).
    touched: u64,
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes that were not held before.
    pub new_bytes: usize,
}

impl Reassembly {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Number of separate ranges held.
    pub fn range_count(&self) -> usize {
        self.runs.len()
    }

    /// What the queue is charged: its bytes plus [`PIECE_OVERHEAD`] per piece.
    pub fn cost(&self) -> usize {
        self.bytes + self.pieces.len() * PIECE_OVERHEAD
    }

    /// Drops the highest pieces that lie wholly at or above `floor` until the cost is at most
    /// `budget` (Linux `tcp_prune_ofo_queue`: the data that arrived furthest ahead goes first).
    /// Returns the bytes dropped.
    pub fn prune_from_top(&mut self, floor: u64, budget: usize) -> usize {
        let mut dropped = 0;
        while self.cost() > budget {
            let Some((&k, piece)) = self.pieces.last_key_value() else {
                break;
            };
            if k < floor {
                break;
            }
            let len = piece.len();
            self.pieces.remove(&k);
            self.bytes -= len;
            dropped += len;
            // The last run ends with this piece: it now ends where the piece began, or is gone.
            if let Some((&s, r)) = self.runs.last_key_value() {
                if s >= k {
                    self.runs.remove(&s);
                } else {
                    let touched = r.touched;
                    self.runs.insert(s, Run { end: k, touched });
                }
            }
        }
        dropped
    }

    /// Adds `data` at stream offset `offset`, keeping only bytes not already held (held bytes
    /// win: they are identical from a correct peer, and keeping the first copy is what RFC 9293
    /// suggests). The run it lands in becomes the most recently touched, new bytes or not.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> Inserted {
        if data.is_empty() {
            return Inserted { new_bytes: 0 };
        }
        let end = offset + data.len() as u64;
        // The parts not held yet become pieces of their own.
        let mut new_bytes = 0;
        let mut at = offset;
        let covered = runs_near(&self.runs, offset, end, false).map(|(s, r)| (s, r.end));
        for (s, e) in covered.chain(core::iter::once((end, end))) {
            if s > at {
                let piece = data[(at - offset) as usize..(s.min(end) - offset) as usize].to_vec();
                new_bytes += piece.len();
                self.pieces.insert(at, piece);
            }
            at = at.max(e);
            if at >= end {
                break;
            }
        }
        // The runs it overlaps or borders merge into one.
        let (mut start, mut stop) = (offset, end);
        loop {
            let Some((k, r)) = runs_near(&self.runs, offset, end, true).next() else {
                break;
            };
            self.runs.remove(&k);
            start = start.min(k);
            stop = stop.max(r.end);
        }
        self.clock += 1;
        self.runs.insert(
            start,
            Run {
                end: stop,
                touched: self.clock,
            },
        );
        self.bytes += new_bytes;
        Inserted { new_bytes }
    }

    /// The first part of `[offset, offset + len)` that is held already, if any: the duplicate a
    /// D-SACK block reports (RFC 2883 §4; Linux reports the first overlap it meets,
    /// `tcp_data_queue_ofo`).
    pub fn first_overlap(&self, offset: u64, len: u64) -> Option<(u64, u64)> {
        if len == 0 {
            return None;
        }
        let end = offset + len;
        runs_near(&self.runs, offset, end, false)
            .next()
            .map(|(k, r)| (k.max(offset), r.end.min(end)))
    }

    /// True when `[offset, offset + len)` overlaps or borders a held range, so that inserting it
    /// would grow that range rather than start a new one.
    pub fn touches(&self, offset: u64, len: u64) -> bool {
        runs_near(&self.runs, offset, offset + len, true)
            .next()
            .is_some()
    }

    /// Removes and returns the first held piece if it starts at or before `next` (the reader's
    /// position), from `next` on; pieces wholly below `next` are discarded. Called until it
    /// returns `None`, it hands over, piece by piece, the run that joins `next`.
    pub fn pop_at(&mut self, next: u64) -> Option<Vec<u8>> {
        loop {
            let (&k, _) = self.pieces.first_key_value()?;
            if k > next {
                return None;
            }
            let data = self.pieces.remove(&k)?;
            self.bytes -= data.len();
            let piece_end = k + data.len() as u64;
            // The first run starts with this piece: it now starts after it, or is gone.
            if let Some((&s, &r)) = self.runs.first_key_value() {
                self.runs.remove(&s);
                if r.end > piece_end {
                    self.runs.insert(piece_end, r);
                }
            }
            if piece_end <= next {
                continue;
            }
            let skip = (next - k) as usize;
            return Some(if skip == 0 {
                data
            } else {
                data[skip..].to_vec()
            });
        }
    }

    /// Held ranges `[start, end)` in ascending order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().map(|(k, r)| (*k, r.end))
    }

    /// Up to `max` ranges for SACK blocks, most recently touched first: the one holding the
    /// data that arrived last, then the others in the order data last arrived in them (RFC 2018
    /// §4; Linux keeps its `selective_acks` in that order, moving a block to the front when it
    /// grows).
    pub fn sack_ranges(&self, max: usize) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, (u64, u64))> = self
            .runs
            .iter()
            .map(|(k, r)| (r.touched, (*k, r.end)))
            .collect();
        all.sort_unstable_by_key(|(stamp, _)| core::cmp::Reverse(*stamp));
        all.into_iter().take(max).map(|(_, r)| r).collect()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.runs.clear();
        self.bytes = 0;
    }
}

/// The runs that overlap `[start, end)`, or border it as well when `bordering`, in order.
fn runs_near(
    runs: &BTreeMap<u64, Run>,
    start: u64,
    end: u64,
    bordering: bool,
) -> impl Iterator<Item = (u64, Run)> + '_ {
    let first = runs
        .range(..=start)
        .next_back()
        .filter(|(_, r)| r.end > start || (bordering && r.end == start));
    let after = if bordering {
        runs.range(start + 1..=end)
    } else {
        runs.range(start + 1..end)
    };
    first.into_iter().chain(after).map(|(&k, &r)| (k, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything `pop_at` hands over from `next` on, joined.
    fn pop_run(r: &mut Reassembly, mut next: u64) -> Option<Vec<u8>> {
        let mut got: Option<Vec<u8>> = None;
        while let Some(piece) = r.pop_at(next) {
            next += piece.len() as u64;
            got.get_or_insert_with(Vec::new).extend_from_slice(&piece);
        }
        got
    }

    #[test]
    fn holes_fill_in_order() {
        let mut r = Reassembly::new();
        assert_eq!(r.insert(10, b"klm").new_bytes, 3);
        assert_eq!(r.insert(20, b"uv").new_bytes, 2);
        assert_eq!(r.range_count(), 2);
        assert_eq!(r.pop_at(0), None);
        assert_eq!(r.insert(5, b"fghijklmno").new_bytes, 7);
        assert_eq!(r.range_count(), 2);
        assert_eq!(pop_run(&mut r, 5).as_deref(), Some(&b"fghijklmno"[..]));
        assert_eq!(r.range_count(), 1);
        assert_eq!(r.insert(15, b"pqrst").new_bytes, 5);
        assert_eq!(pop_run(&mut r, 15).as_deref(), Some(&b"pqrstuv"[..]));
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn first_overlap_is_the_lowest_held_part_of_the_range() {
        let mut r = Reassembly::new();
        r.insert(100, b"aaaa");
        r.insert(200, b"bbbb");
        assert_eq!(r.first_overlap(0, 100), None);
        assert_eq!(r.first_overlap(104, 96), None);
        assert_eq!(r.first_overlap(100, 4), Some((100, 104)));
        assert_eq!(r.first_overlap(102, 50), Some((102, 104)));
        assert_eq!(r.first_overlap(90, 20), Some((100, 104)));
        assert_eq!(r.first_overlap(150, 100), Some((200, 204)));
        assert_eq!(r.first_overlap(201, 2), Some((201, 203)));
        assert_eq!(r.first_overlap(50, 500), Some((100, 104)));
        assert_eq!(r.first_overlap(100, 0), None);
    }

    #[test]
    fn pruning_drops_the_highest_pieces_above_the_floor() {
        let mut r = Reassembly::new();
        r.insert(100, &[1; 10]);
        r.insert(110, &[2; 10]);
        r.insert(200, &[3; 10]);
        r.insert(300, &[4; 10]);
        assert_eq!(r.cost(), 40 + 4 * PIECE_OVERHEAD);
        // Down to three pieces: the one at 300 goes.
        assert_eq!(r.prune_from_top(0, 30 + 3 * PIECE_OVERHEAD), 10);
        assert_eq!(
            r.ranges().collect::<Vec<_>>(),
            alloc::vec![(100, 120), (200, 210)]
        );
        // Nothing below the floor is touched, whatever the budget.
        assert_eq!(r.prune_from_top(150, 0), 10);
        assert_eq!(r.ranges().collect::<Vec<_>>(), alloc::vec![(100, 120)]);
        // The top piece of a run goes and the run ends where it began.
        assert_eq!(r.prune_from_top(0, 10 + PIECE_OVERHEAD), 10);
        assert_eq!(r.ranges().collect::<Vec<_>>(), alloc::vec![(100, 110)]);
        assert_eq!(r.bytes(), 10);
        assert_eq!(r.sack_ranges(4), alloc::vec![(100, 110)]);
    }

    #[test]
    fn touching_means_overlapping_or_bordering() {
        let mut r = Reassembly::new();
        r.insert(100, &[0; 10]);
        r.insert(200, &[0; 10]);
        assert!(r.touches(90, 10), "borders the start");
        assert!(r.touches(110, 5), "borders the end");
        assert!(r.touches(105, 50), "overlaps");
        assert!(r.touches(150, 50), "borders the second range");
        assert!(!r.touches(111, 10), "a gap on both sides");
        assert!(!r.touches(0, 99));
        assert!(!r.touches(211, 1));
    }

    #[test]
    fn sack_ranges_come_most_recently_touched_first() {
        let mut r = Reassembly::new();
        r.insert(20, b"x");
        r.insert(40, b"x");
        r.insert(60, b"x");
        assert_eq!(r.sack_ranges(4), alloc::vec![(60, 61), (40, 41), (20, 21)]);
        // Joining the two oldest makes the joined range the most recent; the others keep
        // their order of arrival, not of sequence.
        r.insert(21, &[0; 19]);
        assert_eq!(r.sack_ranges(4), alloc::vec![(20, 41), (60, 61)]);
        r.insert(80, b"x");
        assert_eq!(r.sack_ranges(4), alloc::vec![(80, 81), (20, 41), (60, 61)]);
        assert_eq!(r.sack_ranges(2), alloc::vec![(80, 81), (20, 41)]);
        // Popping a range leaves the others' order alone.
        assert!(pop_run(&mut r, 20).is_some());
        assert_eq!(r.sack_ranges(4), alloc::vec![(80, 81), (60, 61)]);
    }

    #[test]
    fn duplicates_add_nothing_and_latest_is_first_sack() {
        let mut r = Reassembly::new();
        r.insert(100, b"aaaa");
        r.insert(200, b"bbbb");
        assert_eq!(r.insert(200, b"bb").new_bytes, 0);
        assert_eq!(r.sack_ranges(4), alloc::vec![(200, 204), (100, 104)]);
        r.insert(100, b"a");
        assert_eq!(r.sack_ranges(4), alloc::vec![(100, 104), (200, 204)]);
    }

    proptest! {
        #[test]
        fn any_arrival_order_reassembles(len in 1usize..400, cuts in proptest::collection::vec((0usize..400, 1usize..60), 1..40)) {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut r = Reassembly::new();
            let mut have = alloc::vec![false; len];
            for (s, l) in cuts {
                let s = s % len;
                let e = (s + l).min(len);
                r.insert(s as u64, &data[s..e]);
                for h in &mut have[s..e] { *h = true; }
            }
            // The runs are exactly the held bytes, and the count matches.
            let mut model = Vec::new();
            let mut i = 0;
            while i < len {
                if have[i] {
                    let j = (i..len).find(|&j| !have[j]).unwrap_or(len);
                    model.push((i as u64, j as u64));
                    i = j;
                } else {
                    i += 1;
                }
            }
            prop_assert_eq!(r.ranges().collect::<Vec<_>>(), model);
            prop_assert_eq!(r.bytes(), have.iter().filter(|h| **h).count());
            r.insert(0, &data);
            prop_assert_eq!(r.range_count(), 1);
            let got = pop_run(&mut r, 0).unwrap();
            prop_assert_eq!(got, data);
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.bytes(), 0);
        }
    }
}
