//! A hierarchical timing wheel with exact microsecond deadlines.
//!
//! Every connection arms timers (retransmission, delayed ACK, keepalive, TIME-WAIT, ...); at a
//! million connections a scan or a binary heap per event is too slow, so timers live in a
//! hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical Timing Wheels", SOSP
//! 1987, scheme 7), laid out like tokio's and like the Linux kernel's before 4.8 (which also
//! cascaded):
//!
//! * [`LEVELS`] levels of 64 slots. A slot of level `k` spans `64^k` µs, so level 0 has 1 µs
//!   slots and the wheel as a whole spans `64^LEVELS` = 2^42 µs (about 51 days) ahead of its
//!   position. Deadlines beyond that wait in an ordered overflow set.
//! * A timer is filed at the level of the highest bit in which its deadline differs from the
//!   wheel's position, in the slot given by the deadline's bits of that level. Each slot is an
//!   intrusive doubly linked list through a slab of nodes, so scheduling and cancelling are
//!   O(1); a key → node hash map finds a key's node.
//! * Each level keeps a 64-bit occupancy bitmap, so the next non-empty slot is found with a few
//!   `trailing_zeros`, never by walking slots.
//! * When the wheel's position reaches a slot of level `k > 0`, the slot's timers are
//!   "cascaded": re-filed relative to the new position, which puts each at a lower level. A
//!   timer is cascaded at most once per level, so its cost is O(levels) over its lifetime.
//!
//! Unlike those wheels, which round deadlines to slot granularity, deadlines here are
//! exact: level 0 has 1 µs slots and every timer reaches level 0 (or fires directly from a higher
//! slot whose range is already past) before it fires. [`TimerWheel::next_deadline`] is exact as
//! well: when the earliest non-empty slot is at a higher level, it cascades that slot early
//! (moving the wheel's *position* ahead of its *current time*) until the earliest timer sits in
//! a 1 µs slot. Timers later scheduled between the current time and the advanced position go to
//! a small ordered set (`near`), which drains as time passes; it only holds timers scheduled
//! after a quiet period for deadlines before the next already-armed one.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashMap};

use crate::time::Instant;

/// Number of wheel levels; the wheel spans `64^LEVELS` µs (2^42 µs, about 51 days).
pub const LEVELS: usize = 7;
/// log2 of the slots per level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Mask of a slot index.
const SLOT_MASK: u64 = (SLOTS as u64) - 1;
/// Bits of time covered by all levels together.
const WHEEL_BITS: u32 = SLOT_BITS * LEVELS as u32;
/// "No node" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// Where a node is filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    /// In slot `slot` of wheel level `level`.
    Wheel { level: u8, slot: u8 },
    /// In `near`: deadline before the wheel's position.
    Near,
    /// In `overflow`: deadline beyond the wheel's span.
    Overflow,
    /// On the free list.
    Free,
}

/// One timer: its key, exact deadline, schedule sequence number (to order ties) and list links.
#[derive(Clone, Debug)]
struct Node<K> {
    key: K,
    deadline: u64,
    seq: u64,
    prev: u32,
    next: u32,
    loc: Loc,
}

/// A hierarchical timing wheel mapping keys to exact deadlines.
///
/// `schedule` and `cancel` are O(1); `expire` costs O(levels) per timer over the timer's life
/// (plus O(log n) for timers that are scheduled in the past or for deadlines the wheel has
/// already advanced past, and for ones more than 2^42 µs ahead); `next_deadline` is amortised
/// O(levels). Timers fire in deadline order, ties in the order they were (last) scheduled.
///
/// The key → node map uses hasher `S` (hashbrown's default, foldhash, unless
/// [`TimerWheel::with_hasher`] chooses another). Keys are meant to be small identifiers the
/// engine assigns (connection ids); if keys are values an attacker picks, such as 4-tuples, pass
/// a keyed hasher (e.g. SipHash with a secret key) to resist hash flooding.
///
/// # Panics
///
/// Holding more than `u32::MAX - 1` timers at once (hundreds of GiB) is a capacity overflow and
/// panics, as `Vec` does when it cannot grow.
#[derive(Clone, Debug)]
pub struct TimerWheel<K, S = DefaultHashBuilder> {
    /// The current time: the latest `now` given to [`TimerWheel::new`] or
    /// [`TimerWheel::expire`]. Timers at or before it fire on the next `expire`.
    now: u64,
    /// The wheel's position, `>= now`. Every timer filed in the wheel has `deadline >= pos`;
    /// timers before it are in `near`.
    pos: u64,
    /// Slab of nodes.
    nodes: Vec<Node<K>>,
    /// Free slab indices.
    free: Vec<u32>,
    /// Key -> slab index.
    map: HashMap<K, u32, S>,
    /// Per level, per slot: first and last node of the slot's list.
    heads: [[u32; SLOTS]; LEVELS],
    tails: [[u32; SLOTS]; LEVELS],
    /// Per level: bit `s` set iff slot `s` is non-empty.
    occupied: [u64; LEVELS],
    /// Timers with `deadline < pos`, by (deadline, seq).
    near: BTreeMap<(u64, u64), u32>,
    /// Timers with deadlines more than the wheel's span past `pos`, by (deadline, seq).
    overflow: BTreeMap<(u64, u64), u32>,
    /// Next schedule sequence number.
    seq: u64,
    /// Scratch buffer for the timers firing from one slot.
    batch: Vec<(u64, u64, u32)>,
}

impl<K: Copy + Eq + Hash> TimerWheel<K> {
    /// An empty wheel whose current time is `now`.
    pub fn new(now: Instant) -> Self {
        Self::with_hasher(now, DefaultHashBuilder::default())
    }
}

impl<K: Copy + Eq + Hash, S: BuildHasher> TimerWheel<K, S> {
    /// An empty wheel whose current time is `now`, hashing keys with `hasher`.
    pub fn with_hasher(now: Instant, hasher: S) -> Self {
        Self {
            now: now.as_micros(),
            pos: now.as_micros(),
            nodes: Vec::new(),
            free: Vec::new(),
            map: HashMap::with_hasher(hasher),
            heads: [[NIL; SLOTS]; LEVELS],
            tails: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            near: BTreeMap::new(),
            overflow: BTreeMap::new(),
            seq: 0,
            batch: Vec::new(),
        }
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The wheel's current time: the latest time given to [`TimerWheel::new`] or
    /// [`TimerWheel::expire`].
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    /// Arms `key` to fire at `deadline`, replacing any deadline it had (a rescheduled key is
    /// ordered among equal deadlines as if newly scheduled). A deadline at or before the wheel's
    /// current time fires on the next [`TimerWheel::expire`].
    pub fn schedule(&mut self, key: K, deadline: Instant) {
        let deadline = deadline.as_micros();
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let idx = match self.map.get(&key) {
            Some(&idx) => {
                self.unlink(idx);
                idx
            }
            None => {
                let idx = self.alloc(key);
                self.map.insert(key, idx);
                idx
            }
        };
        let node = &mut self.nodes[idx as usize];
        node.deadline = deadline;
        node.seq = seq;
        self.file(idx);
    }

    /// Disarms `key`. Returns whether it was armed.
    pub fn cancel(&mut self, key: K) -> bool {
        match self.map.remove(&key) {
            Some(idx) => {
                self.unlink(idx);
                self.release(idx);
                true
            }
            None => false,
        }
    }

    /// The deadline `key` is armed for, if any.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.map
            .get(&key)
            .map(|&idx| Instant::from_micros(self.nodes[idx as usize].deadline))
    }

    /// The exact earliest deadline of all pending timers (`None` if there are none). It may be
    /// at or before the current time, for timers scheduled in the past.
    ///
    /// Takes `&mut self` because it may cascade the earliest slot down to 1 µs granularity;
    /// that changes no deadline and no firing order.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        if let Some((&(d, _), _)) = self.near.first_key_value() {
            return Some(Instant::from_micros(d));
        }
        loop {
            match self.next_slot() {
                Some((0, _, start)) => return Some(Instant::from_micros(start)),
                Some((level, slot, start)) => {
                    // Every timer in this slot is at or after `start`, and every other timer is
                    // later, so the position may move there; the slot's timers then fall into
                    // lower levels.
                    self.pos = start;
                    self.cascade(level, slot, None);
                }
                None => {
                    return self
                        .overflow
                        .first_key_value()
                        .map(|(&(d, _), _)| Instant::from_micros(d));
                }
            }
        }
    }

    /// Advances the current time to `now` (it never goes backwards: an earlier `now` is taken
    /// as the current time) and removes every timer whose deadline is at or before it,
    /// appending the keys to `out` in deadline order, ties in schedule order.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<K>) {
        let now = now.as_micros().max(self.now);
        self.now = now;

        // Timers before the wheel's position come first.
        while let Some(entry) = self.near.first_entry() {
            if entry.key().0 > now {
                // The rest of `near`, and the whole wheel, are later than `now`.
                return;
            }
            let idx = entry.remove();
            self.fire(idx, out);
        }

        // Then the wheel, slot by slot, in time order.
        loop {
            let (level, slot, start) = match self.next_slot() {
                Some(next) => next,
                None => match self.overflow.first_key_value() {
                    Some((&(d, _), _)) => {
                        // The start of the 2^42 µs block holding the earliest far timer.
                        let block = d & !((1u64 << WHEEL_BITS) - 1);
                        if block > now {
                            break;
                        }
                        self.pos = block;
                        self.refill_from_overflow();
                        continue;
                    }
                    None => break,
                },
            };
            if start > now {
                break;
            }
            self.pos = start;
            self.cascade(level, slot, Some(now));
            self.flush_batch(out);
        }

        // Every remaining timer is after `now`, and so is every non-empty slot's start: the
        // position may catch up with the current time.
        if self.pos < now {
            self.pos = now;
        }
    }

    // ---- internals ----

    /// A free slab index holding `key`.
    fn alloc(&mut self, key: K) -> u32 {
        let node = Node {
            key,
            deadline: 0,
            seq: 0,
            prev: NIL,
            next: NIL,
            loc: Loc::Free,
        };
        if let Some(idx) = self.free.pop() {
            self.nodes[idx as usize] = node;
            idx
        } else {
            let idx = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("TimerWheel capacity overflow");
            self.nodes.push(node);
            idx
        }
    }

    /// Returns a slab index to the free list.
    fn release(&mut self, idx: u32) {
        self.nodes[idx as usize].loc = Loc::Free;
        self.free.push(idx);
    }

    /// Files node `idx` (deadline and seq set, not linked anywhere) relative to `pos`.
    fn file(&mut self, idx: u32) {
        let (deadline, seq) = {
            let n = &self.nodes[idx as usize];
            (n.deadline, n.seq)
        };
        if deadline < self.pos {
            self.nodes[idx as usize].loc = Loc::Near;
            self.near.insert((deadline, seq), idx);
            return;
        }
        // The level is that of the highest bit in which deadline and position differ.
        let diff = (deadline ^ self.pos) | SLOT_MASK;
        let level = ((63 - diff.leading_zeros()) / SLOT_BITS) as usize;
        if level >= LEVELS {
            self.nodes[idx as usize].loc = Loc::Overflow;
            self.overflow.insert((deadline, seq), idx);
            return;
        }
        let slot = ((deadline >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize;
        let tail = self.tails[level][slot];
        {
            let n = &mut self.nodes[idx as usize];
            n.prev = tail;
            n.next = NIL;
            n.loc = Loc::Wheel {
                level: level as u8,
                slot: slot as u8,
            };
        }
        if tail == NIL {
            self.heads[level][slot] = idx;
            self.occupied[level] |= 1 << slot;
        } else {
            self.nodes[tail as usize].next = idx;
        }
        self.tails[level][slot] = idx;
    }

    /// Removes node `idx` from wherever it is filed (it stays allocated).
    fn unlink(&mut self, idx: u32) {
        let (loc, deadline, seq, prev, next) = {
            let n = &self.nodes[idx as usize];
            (n.loc, n.deadline, n.seq, n.prev, n.next)
        };
        match loc {
            Loc::Wheel { level, slot } => {
                let (level, slot) = (level as usize, slot as usize);
                if prev == NIL {
                    self.heads[level][slot] = next;
                } else {
                    self.nodes[prev as usize].next = next;
                }
                if next == NIL {
                    self.tails[level][slot] = prev;
                } else {
                    self.nodes[next as usize].prev = prev;
                }
                if self.heads[level][slot] == NIL {
                    self.occupied[level] &= !(1 << slot);
                }
            }
            Loc::Near => {
                self.near.remove(&(deadline, seq));
            }
            Loc::Overflow => {
                self.overflow.remove(&(deadline, seq));
            }
            Loc::Free => {}
        }
        let n = &mut self.nodes[idx as usize];
        n.prev = NIL;
        n.next = NIL;
        n.loc = Loc::Free;
    }

    /// The earliest non-empty slot: `(level, slot, start time)`. Lower levels always hold
    /// earlier timers than higher ones, and within a level every non-empty slot is at or (above
    /// level 0, strictly) after the position's slot, so this is the first set bit from the
    /// position's slot in the lowest non-empty level.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let shift = SLOT_BITS * level as u32;
            let cur = ((self.pos >> shift) & SLOT_MASK) as u32;
            // Slots at or after `cur` (at level > 0, `cur` itself is always empty).
            let ahead = self.occupied[level] & (u64::MAX << cur);
            if ahead != 0 {
                let slot = ahead.trailing_zeros() as u64;
                // Position with this level's and all lower levels' bits cleared.
                let base = self.pos & !((1u64 << (shift + SLOT_BITS)) - 1);
                return Some((level, slot as usize, base | (slot << shift)));
            }
        }
        None
    }

    /// Empties slot `slot` of `level` (whose start is now `pos`): with `fire_until =
    /// Some(now)`, timers due by `now` go to `batch`; all others are re-filed relative to `pos`,
    /// which puts them at lower levels.
    fn cascade(&mut self, level: usize, slot: usize, fire_until: Option<u64>) {
        let mut idx = self.heads[level][slot];
        self.heads[level][slot] = NIL;
        self.tails[level][slot] = NIL;
        self.occupied[level] &= !(1 << slot);
        while idx != NIL {
            let n = &mut self.nodes[idx as usize];
            let next = n.next;
            n.prev = NIL;
            n.next = NIL;
            n.loc = Loc::Free;
            match fire_until {
                Some(now) if n.deadline <= now => self.batch.push((n.deadline, n.seq, idx)),
                _ => self.file(idx),
            }
            idx = next;
        }
    }

    /// Moves the overflow timers that now fall within the wheel's span into the wheel.
    fn refill_from_overflow(&mut self) {
        let end = self.pos | ((1u64 << WHEEL_BITS) - 1);
        while let Some(entry) = self.overflow.first_entry() {
            if entry.key().0 > end {
                break;
            }
            let idx = entry.remove();
            self.nodes[idx as usize].loc = Loc::Free;
            self.file(idx);
        }
    }

    /// Fires the timers collected from one slot, in (deadline, seq) order.
    fn flush_batch(&mut self, out: &mut Vec<K>) {
        let mut batch = core::mem::take(&mut self.batch);
        if batch
            .windows(2)
            .any(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1))
        {
            batch.sort_unstable_by_key(|&(d, s, _)| (d, s));
        }
        for &(_, _, idx) in &batch {
            self.fire(idx, out);
        }
        batch.clear();
        self.batch = batch;
    }

    /// Removes fired node `idx` (already unlinked) from the map and slab, appending its key.
    fn fire(&mut self, idx: u32, out: &mut Vec<K>) {
        let key = self.nodes[idx as usize].key;
        self.map.remove(&key);
        self.release(idx);
        out.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn us(t: u64) -> Instant {
        Instant::from_micros(t)
    }

    impl<K: Copy + Eq + Hash, S: BuildHasher> TimerWheel<K, S> {
        /// Checks every structural invariant; panics with a description if one is broken.
        fn check_invariants(&self) {
            assert!(self.pos >= self.now, "pos {} < now {}", self.pos, self.now);
            let mut live = 0;
            for (level, &bits) in self.occupied.iter().enumerate() {
                let shift = SLOT_BITS * level as u32;
                let cur = (self.pos >> shift) & SLOT_MASK;
                for slot in 0..SLOTS {
                    let head = self.heads[level][slot];
                    assert_eq!(
                        bits & (1 << slot) != 0,
                        head != NIL,
                        "bitmap {level}/{slot}"
                    );
                    if head == NIL {
                        assert_eq!(self.tails[level][slot], NIL);
                        continue;
                    }
                    if level == 0 {
                        assert!(slot as u64 >= cur, "level 0 slot {slot} behind {cur}");
                    } else {
                        assert!(
                            slot as u64 > cur,
                            "level {level} slot {slot} not after {cur}"
                        );
                    }
                    let mut prev = NIL;
                    let mut idx = head;
                    while idx != NIL {
                        let n = &self.nodes[idx as usize];
                        assert_eq!(n.prev, prev);
                        assert_eq!(
                            n.loc,
                            Loc::Wheel {
                                level: level as u8,
                                slot: slot as u8
                            }
                        );
                        assert!(n.deadline >= self.pos);
                        let diff = (n.deadline ^ self.pos) | SLOT_MASK;
                        let want = ((63 - diff.leading_zeros()) / SLOT_BITS) as usize;
                        assert_eq!(want, level, "deadline {} pos {}", n.deadline, self.pos);
                        assert_eq!((n.deadline >> shift) & SLOT_MASK, slot as u64);
                        assert_eq!(self.map.get(&n.key), Some(&idx));
                        live += 1;
                        prev = idx;
                        idx = n.next;
                    }
                    assert_eq!(self.tails[level][slot], prev);
                }
            }
            for (&(d, seq), &idx) in &self.near {
                let n = &self.nodes[idx as usize];
                assert!(d < self.pos);
                assert_eq!((n.deadline, n.seq, n.loc), (d, seq, Loc::Near));
                assert_eq!(self.map.get(&n.key), Some(&idx));
                live += 1;
            }
            for (&(d, seq), &idx) in &self.overflow {
                let n = &self.nodes[idx as usize];
                assert!(d >= self.pos && (d ^ self.pos) >> WHEEL_BITS != 0);
                assert_eq!((n.deadline, n.seq, n.loc), (d, seq, Loc::Overflow));
                assert_eq!(self.map.get(&n.key), Some(&idx));
                live += 1;
            }
            assert_eq!(live, self.map.len());
            assert_eq!(self.nodes.len(), self.map.len() + self.free.len());
        }
    }

    fn expire_at<K: Copy + Eq + Hash, S: BuildHasher>(w: &mut TimerWheel<K, S>, t: u64) -> Vec<K> {
        let mut out = Vec::new();
        w.expire(us(t), &mut out);
        w.check_invariants();
        out
    }

    #[test]
    fn fires_at_exact_seconds() {
        let mut w = TimerWheel::new(Instant::ZERO);
        w.schedule('a', Instant::from_secs(1));
        w.schedule('c', Instant::from_secs(7));
        w.schedule('b', Instant::from_secs(3));
        assert_eq!(w.len(), 3);
        for (key, secs) in [('a', 1u64), ('b', 3), ('c', 7)] {
            let t = secs * 1_000_000;
            assert_eq!(w.next_deadline(), Some(us(t)));
            assert_eq!(expire_at(&mut w, t - 1), vec![]);
            assert_eq!(w.next_deadline(), Some(us(t)));
            assert_eq!(expire_at(&mut w, t), vec![key]);
        }
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
        assert_eq!(expire_at(&mut w, u64::MAX), vec![]);
    }

    #[test]
    fn exact_across_levels_and_overflow() {
        let start = 123_456_789u64;
        let offsets = [
            0u64,
            1,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            262_143,
            262_144,
            1_000_000,
            (1 << 36) + 5,
            (1 << 42) - 1,
            1 << 42,
            (1 << 42) + 3,
            (1 << 50) + 7,
            u64::MAX - start,
        ];
        // Each deadline observed both by stepping to it and by peeking first.
        for peek in [false, true] {
            let mut w = TimerWheel::new(us(start));
            for (i, &o) in offsets.iter().enumerate() {
                w.schedule(i, us(start + o));
            }
            w.check_invariants();
            for (i, &o) in offsets.iter().enumerate() {
                let t = start + o;
                if peek {
                    assert_eq!(w.next_deadline(), Some(us(t)));
                    w.check_invariants();
                }
                if t > start {
                    assert_eq!(expire_at(&mut w, t - 1), vec![], "before offset {o}");
                }
                assert_eq!(expire_at(&mut w, t), vec![i], "at offset {o}");
            }
            assert!(w.is_empty());
        }
    }

    #[test]
    fn big_jump_fires_everything_in_order() {
        let mut w = TimerWheel::new(Instant::ZERO);
        let deadlines = [5u64, 1 << 20, 3, 1 << 43, 64, 1 << 30, 4096, 9, 1 << 42];
        for (i, &d) in deadlines.iter().enumerate() {
            w.schedule(i, us(d));
        }
        let mut order: Vec<usize> = (0..deadlines.len()).collect();
        order.sort_by_key(|&i| deadlines[i]);
        assert_eq!(expire_at(&mut w, 1 << 44), order);
    }

    #[test]
    fn ties_fire_in_schedule_order_even_after_cascading() {
        let mut w = TimerWheel::new(Instant::ZERO);
        let d = 5_000_000;
        // Filed high while far away ...
        w.schedule(1, us(d));
        w.schedule(2, us(d));
        assert_eq!(expire_at(&mut w, d - 10), vec![]);
        // ... then same deadline filed directly at level 0.
        w.schedule(3, us(d));
        w.schedule(0, us(d));
        // Rescheduling to the same deadline moves a key to the back.
        w.schedule(1, us(d));
        assert_eq!(expire_at(&mut w, d), vec![2, 3, 0, 1]);

        // Ties fired directly from a high-level slot by a big jump.
        let mut w = TimerWheel::new(Instant::ZERO);
        for k in [9, 4, 7] {
            w.schedule(k, us(1 << 30));
        }
        w.schedule(1, us((1 << 30) - 1));
        assert_eq!(expire_at(&mut w, 1 << 31), vec![1, 9, 4, 7]);
    }

    #[test]
    fn past_deadlines_fire_on_next_expire_first() {
        let mut w = TimerWheel::new(Instant::from_secs(10));
        w.schedule('x', Instant::from_secs(11));
        w.schedule('p', Instant::from_secs(9));
        w.schedule('q', Instant::from_secs(10));
        w.schedule('o', Instant::ZERO);
        assert_eq!(w.next_deadline(), Some(Instant::ZERO));
        // Even an expire "in the past" fires them: time does not go backwards.
        assert_eq!(expire_at(&mut w, 0), vec!['o', 'p', 'q']);
        assert_eq!(w.now(), Instant::from_secs(10));
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(11)));
        assert_eq!(expire_at(&mut w, 11_000_000), vec!['x']);
    }

    #[test]
    fn schedule_between_now_and_advanced_position() {
        let mut w = TimerWheel::new(Instant::ZERO);
        w.schedule(1, Instant::from_secs(100));
        // Peeking cascades the 100 s slot; the wheel's position moves ahead of `now`.
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(100)));
        w.check_invariants();
        assert!(w.pos > w.now);
        // Timers before the position still fire exactly, and in order.
        w.schedule(2, Instant::from_secs(2));
        w.schedule(3, Instant::from_secs(1));
        w.schedule(4, Instant::from_secs(99));
        w.check_invariants();
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(1)));
        assert_eq!(expire_at(&mut w, 999_999), vec![]);
        assert_eq!(expire_at(&mut w, 1_000_000), vec![3]);
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(2)));
        assert_eq!(expire_at(&mut w, 99_000_000), vec![2, 4]);
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(100)));
        assert_eq!(expire_at(&mut w, 100_000_000), vec![1]);
    }

    #[test]
    fn cancel_and_reschedule() {
        let mut w = TimerWheel::new(Instant::ZERO);
        assert!(!w.cancel(1));
        w.schedule(1, Instant::from_secs(1));
        w.schedule(2, Instant::from_secs(2));
        assert_eq!(w.deadline(1), Some(Instant::from_secs(1)));
        assert!(w.cancel(1));
        assert!(!w.cancel(1));
        assert_eq!(w.deadline(1), None);
        assert_eq!(w.next_deadline(), Some(Instant::from_secs(2)));
        w.schedule(2, Instant::from_secs(5));
        w.schedule(3, Instant::from_secs(4));
        assert_eq!(w.len(), 2);
        w.check_invariants();
        assert_eq!(expire_at(&mut w, 4_999_999), vec![3]);
        assert_eq!(expire_at(&mut w, 5_000_000), vec![2]);
        // Slab slots are reused.
        for i in 0..10 {
            w.schedule(i, Instant::from_secs(10));
        }
        for i in 0..10 {
            assert!(w.cancel(i));
        }
        for i in 0..10 {
            w.schedule(i, Instant::from_secs(10));
        }
        assert!(w.nodes.len() <= 13);
        w.check_invariants();
    }

    #[test]
    fn custom_hasher() {
        #[derive(Clone, Default)]
        struct Sip;
        impl BuildHasher for Sip {
            type Hasher = siphasher::sip::SipHasher24;
            fn build_hasher(&self) -> Self::Hasher {
                siphasher::sip::SipHasher24::new_with_key(&[1; 16])
            }
        }
        let mut w: TimerWheel<u64, Sip> = TimerWheel::with_hasher(Instant::ZERO, Sip);
        w.schedule(7, us(10));
        w.schedule(8, us(5));
        assert_eq!(expire_at(&mut w, 10), vec![8, 7]);
    }

    #[test]
    fn extreme_times() {
        let mut w = TimerWheel::new(Instant::MAX);
        w.schedule(1, Instant::MAX);
        w.schedule(2, Instant::ZERO);
        assert_eq!(w.next_deadline(), Some(Instant::ZERO));
        assert_eq!(expire_at(&mut w, u64::MAX), vec![2, 1]);
        let mut w = TimerWheel::new(Instant::ZERO);
        w.schedule(1, Instant::MAX);
        w.schedule(2, us(u64::MAX - 1));
        assert_eq!(w.next_deadline(), Some(us(u64::MAX - 1)));
        assert_eq!(expire_at(&mut w, u64::MAX - 2), vec![]);
        assert_eq!(w.next_deadline(), Some(us(u64::MAX - 1)));
        assert_eq!(expire_at(&mut w, u64::MAX), vec![2, 1]);
    }

    #[test]
    fn a_million_timers() {
        const N: u32 = 1_000_000;
        let mut rng = crate::rng::Rng::new(0x5eed);
        let mut w = TimerWheel::new(Instant::ZERO);
        // Deadlines spread over 10 minutes, as RTO, delayed-ACK and TIME-WAIT timers are.
        let deadlines: Vec<u64> = (0..N).map(|_| rng.below(600_000_000)).collect();
        for (k, &d) in deadlines.iter().enumerate() {
            w.schedule(k as u32, us(d));
        }
        assert_eq!(w.len(), N as usize);
        // Cancel every tenth.
        for k in (0..N).step_by(10) {
            assert!(w.cancel(k));
        }
        let mut fired = 0usize;
        let mut last = (0u64, 0u32);
        let mut out = Vec::new();
        let mut t = 0;
        while !w.is_empty() {
            let next = w.next_deadline().unwrap();
            assert!(next.as_micros() >= last.0);
            t += 600_000;
            out.clear();
            w.expire(us(t), &mut out);
            for &k in &out {
                let d = deadlines[k as usize];
                assert!(k % 10 != 0, "cancelled timer fired");
                assert!(d <= t && (d, k) > last, "out of order");
                last = (d, k);
            }
            fired += out.len();
        }
        assert_eq!(fired, (N - N / 10) as usize);
        w.check_invariants();
    }

    mod prop {
        use super::*;
        use alloc::collections::BTreeMap;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Schedule(u8, i128),
            Cancel(u8),
            Expire(u64),
            ExpireBackwards(u64),
            Next,
            Deadline(u8),
        }

        fn delta() -> impl Strategy<Value = i128> {
            prop_oneof![
                -2000i128..=0,
                0i128..64,
                0i128..5000,
                0i128..2_000_000,
                0i128..(1 << 40),
                (1i128 << 41)..(1 << 45),
                Just(i128::MAX),
            ]
        }

        fn advance() -> impl Strategy<Value = u64> {
            prop_oneof![
                0u64..64,
                0u64..5000,
                0u64..2_000_000,
                0u64..(1 << 40),
                (1u64 << 42)..(1 << 45)
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u8..24, delta()).prop_map(|(k, d)| Op::Schedule(k, d)),
                1 => (0u8..24).prop_map(Op::Cancel),
                3 => advance().prop_map(Op::Expire),
                1 => (0u64..1000).prop_map(Op::ExpireBackwards),
                2 => Just(Op::Next),
                1 => (0u8..24).prop_map(Op::Deadline),
            ]
        }

        fn start() -> impl Strategy<Value = u64> {
            prop_oneof![
                Just(0u64),
                0u64..(1 << 50),
                Just(u64::MAX - (1 << 30)),
                any::<u64>()
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn matches_btreemap_model(start in start(), ops in proptest::collection::vec(op(), 1..200)) {
                let mut w = TimerWheel::new(us(start));
                // key -> (deadline, seq)
                let mut model: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
                let mut now = start;
                let mut seq = 0u64;
                for op in ops {
                    match op {
                        Op::Schedule(k, delta) => {
                            let d = i128::from(now).saturating_add(delta).clamp(0, i128::from(u64::MAX)) as u64;
                            w.schedule(k, us(d));
                            model.insert(k, (d, seq));
                            seq += 1;
                        }
                        Op::Cancel(k) => {
                            prop_assert_eq!(w.cancel(k), model.remove(&k).is_some());
                        }
                        Op::Expire(a) | Op::ExpireBackwards(a) => {
                            let t = if let Op::Expire(_) = op {
                                now.saturating_add(a)
                            } else {
                                now.saturating_sub(a)
                            };
                            now = now.max(t);
                            let mut due: Vec<(u64, u64, u8)> = model
                                .iter()
                                .filter(|(_, &(d, _))| d <= now)
                                .map(|(&k, &(d, s))| (d, s, k))
                                .collect();
                            due.sort();
                            for &(_, _, k) in &due {
                                model.remove(&k);
                            }
                            let want: Vec<u8> = due.iter().map(|&(_, _, k)| k).collect();
                            let mut got = Vec::new();
                            w.expire(us(t), &mut got);
                            prop_assert_eq!(got, want);
                            prop_assert_eq!(w.now(), us(now));
                        }
                        Op::Next => {
                            let want = model.values().map(|&(d, _)| d).min().map(us);
                            prop_assert_eq!(w.next_deadline(), want);
                        }
                        Op::Deadline(k) => {
                            prop_assert_eq!(w.deadline(k), model.get(&k).map(|&(d, _)| us(d)));
                        }
                    }
                    w.check_invariants();
                    prop_assert_eq!(w.len(), model.len());
                }
            }
        }
    }
}
