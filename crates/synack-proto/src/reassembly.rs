//! Out-of-order data held until the hole before it fills (RFC 9293 §3.10.7.4 "seventh, process the
//! segment text": segments beyond RCV.NXT are kept and delivered in order).
//!
//! Data is keyed by its 64-bit stream offset (bytes since the peer's ISN + 1), so wrap-around of
//! 32-bit sequence numbers does not matter here. Any number of holes is allowed; the caller bounds
//! memory by only inserting data that starts inside the receive window and ends inside it, or,
//! while nothing waits to be read, within one segment beyond it. Stored ranges never overlap
//! and adjacent ranges are merged.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The out-of-order queue of one connection.
#[derive(Debug, Default)]
pub struct Reassembly {
    ranges: BTreeMap<u64, Held>,
    /// Counts inserts, to stamp [`Held::touched`].
    clock: u64,
    bytes: usize,
}

/// One held range.
#[derive(Debug)]
struct Held {
    data: Vec<u8>,
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
        self.ranges.is_empty()
    }

    /// Number of separate ranges held.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// Adds `data` at stream offset `offset`, keeping only bytes not already held.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> Inserted {
        if data.is_empty() {
            return Inserted { new_bytes: 0 };
        }
        let mut start = offset;
        let end = offset + data.len() as u64;
        // Collect every range that overlaps or touches [start, end) and merge them into one.
        let mut merged_start = start;
        let mut merged_end = end;
        let first = self
            .ranges
            .range(..=start)
            .next_back()
            .filter(|(k, v)| **k + v.data.len() as u64 >= start)
            .map(|(k, _)| *k);
        let mut keys: Vec<u64> = Vec::new();
        if let Some(k) = first {
            keys.push(k);
        }
        keys.extend(
            self.ranges
                .range(start..=end)
                .map(|(k, _)| *k)
                .filter(|k| Some(*k) != first),
        );
        let before = self.bytes;
        let mut buf: Vec<u8> = Vec::new();
        if keys.is_empty() {
            buf.extend_from_slice(data);
        } else {
            for k in &keys {
                if let Some(v) = self.ranges.get(k) {
                    merged_start = merged_start.min(*k);
                    merged_end = merged_end.max(*k + v.data.len() as u64);
                }
            }
            buf.resize((merged_end - merged_start) as usize, 0);
            // New data first, then the held ranges over it (held bytes win; they are identical in a
            // correct peer and keeping the first copy is what RFC 9293 suggests).
            let at = (offset - merged_start) as usize;
            buf[at..at + data.len()].copy_from_slice(data);
            for k in &keys {
                if let Some(v) = self.ranges.remove(k) {
                    self.bytes -= v.data.len();
                    let at = (*k - merged_start) as usize;
                    buf[at..at + v.data.len()].copy_from_slice(&v.data);
                }
            }
            start = merged_start;
        }
        self.bytes += buf.len();
        self.clock += 1;
        self.ranges.insert(
            start,
            Held {
                data: buf,
                touched: self.clock,
            },
        );
        Inserted {
            new_bytes: self.bytes.saturating_sub(before),
        }
    }

    /// The first part of `[offset, offset + len)` that is held already, if any: the duplicate a
    /// D-SACK block reports (RFC 2883 §4; Linux reports the first overlap it meets,
    /// `tcp_data_queue_ofo`).
    pub fn first_overlap(&self, offset: u64, len: u64) -> Option<(u64, u64)> {
        let end = offset + len;
        if len == 0 {
            return None;
        }
        if let Some((k, v)) = self.ranges.range(..=offset).next_back() {
            let held_end = *k + v.data.len() as u64;
            if held_end > offset {
                return Some((offset, held_end.min(end)));
            }
        }
        self.ranges
            .range(offset..end)
            .next()
            .map(|(k, v)| (*k, (*k + v.data.len() as u64).min(end)))
    }

    /// True when `[offset, offset + len)` overlaps or borders a held range, so that inserting it
    /// would grow that range rather than start a new one.
    pub fn touches(&self, offset: u64, len: u64) -> bool {
        let end = offset + len;
        if let Some((k, v)) = self.ranges.range(..=offset).next_back() {
            if *k + v.data.len() as u64 >= offset {
                return true;
            }
        }
        self.ranges.range(offset..=end).next().is_some()
    }

    /// Removes and returns the data that starts at or before `next` (the reader's position), from
    /// `next` on. Ranges wholly below `next` are discarded.
    pub fn pop_at(&mut self, next: u64) -> Option<Vec<u8>> {
        loop {
            let (&k, v) = self.ranges.iter().next()?;
            if k > next {
                return None;
            }
            let len = v.data.len() as u64;
            let data = self.ranges.remove(&k)?.data;
            self.bytes -= data.len();
            if k + len <= next {
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
        self.ranges
            .iter()
            .map(|(k, v)| (*k, *k + v.data.len() as u64))
    }

    /// Up to `max` ranges for SACK blocks, most recently touched first: the one holding the
    /// data that arrived last, then the others in the order data last arrived in them (RFC 2018
    /// §4; Linux keeps its `selective_acks` in that order, moving a block to the front when it
    /// grows).
    pub fn sack_ranges(&self, max: usize) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, (u64, u64))> = self
            .ranges
            .iter()
            .map(|(k, v)| (v.touched, (*k, *k + v.data.len() as u64)))
            .collect();
        all.sort_unstable_by_key(|(stamp, _)| core::cmp::Reverse(*stamp));
        all.into_iter().take(max).map(|(_, r)| r).collect()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn holes_fill_in_order() {
        let mut r = Reassembly::new();
        assert_eq!(r.insert(10, b"klm").new_bytes, 3);
        assert_eq!(r.insert(20, b"uv").new_bytes, 2);
        assert_eq!(r.range_count(), 2);
        assert_eq!(r.pop_at(0), None);
        assert_eq!(r.insert(5, b"fghijklmno").new_bytes, 7);
        assert_eq!(r.range_count(), 2);
        assert_eq!(r.pop_at(5).as_deref(), Some(&b"fghijklmno"[..]));
        assert_eq!(r.insert(15, b"pqrst").new_bytes, 5);
        assert_eq!(r.pop_at(15).as_deref(), Some(&b"pqrstuv"[..]));
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
        assert!(r.pop_at(20).is_some());
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
            r.insert(0, &data);
            let got = r.pop_at(0).unwrap();
            prop_assert_eq!(got, data);
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.bytes(), 0);
        }
    }
}
