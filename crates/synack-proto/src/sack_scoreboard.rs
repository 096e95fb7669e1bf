//! The sender's SACK scoreboard and the conservative loss-recovery helpers of RFC 6675.
//!
//! Implemented:
//! - the scoreboard itself (RFC 6675 §3, §4 "Update()"): which octets above SND.UNA the peer has
//!   selectively acknowledged (RFC 2018), kept as sorted, disjoint, non-adjacent ranges;
//! - D-SACK detection on arriving ACKs (RFC 2883 §4: the first block is a duplicate report when it
//!   lies below the cumulative ACK or inside the second block);
//! - `IsLost()` (RFC 6675 §4), `SetPipe()` (§4) and `NextSeg()` rules (1) to (3) (§4; rule (4), the
//!   rescue retransmission, needs `RescueRxt` and stays with the caller).
//!
//! Retransmission bookkeeping. RFC 6675 remembers only `HighRxt`, the highest retransmitted octet,
//! and counts every unSACKed octet at or below it as "retransmitted and in flight". This scoreboard
//! records the retransmitted ranges themselves ([`Scoreboard::mark_retransmitted`]), so `pipe()`
//! counts exactly the octets retransmitted and not yet acknowledged, and `next_seg()` skips exactly
//! those. When retransmissions happen in sequence order, as `next_seg()` hands them out, this is
//! the RFC's rule; it stays right when RACK (RFC 8985) declares a retransmission lost, which the
//! caller reports with [`Scoreboard::mark_lost`] (that clears the retransmitted mark, so `pipe()`
//! stops counting the lost copy and `next_seg()` offers the range again). `HighRxt` is still
//! available from [`Scoreboard::high_rxt`].
//!
//! Loss marks. [`Scoreboard::mark_lost`] lets a time-based detector (RACK, RFC 8985 §6.2 step 5)
//! declare ranges lost; [`Scoreboard::is_lost`] is true for those as well as for the octets the
//! DupThresh rule of RFC 6675 finds lost. Passing `dup_thresh == 0` turns the DupThresh rule off, for
//! a sender that lets RACK alone decide (as Linux does when RACK is enabled).
//!
//! Memory is bounded: each of the three range sets holds at most [`MAX_RANGES`] ranges. When a set
//! is full, its lowest range is forgotten. For the SACK set that only makes the sender retransmit
//! data the peer already holds (never the reverse, which could stall the connection); SACK
//! information is advisory anyway (RFC 2018 §8).
//!
//! All sequence numbers handled here must lie within 2^31 of each other (they do in any valid
//! connection: a window is below 2^30 octets, RFC 7323 §2.3). Nothing panics on any input.

use alloc::vec::Vec;

use crate::seq::SeqNum;

/// The most ranges each of the scoreboard's sets (SACKed, retransmitted, marked lost) keeps.
///
/// 128 ranges are 1 KiB per set; a window with more than 128 separate holes is past what SACK
/// (at most 4 blocks per ACK, RFC 2018 §3) can describe usefully.
pub const MAX_RANGES: usize = 128;

/// The DupThresh of RFC 6675 §2 and RFC 5681 §3.2: three duplicate ACKs (or their SACK
/// equivalent) signal a loss.
pub const DUP_THRESH: u32 = 3;

/// A sorted set of disjoint, non-adjacent, non-empty half-open ranges `[start, end)` of sequence
/// space, ordered by modular comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RangeSet {
    ranges: Vec<(SeqNum, SeqNum)>,
}

/// Number of octets in `[start, end)`, zero when `end` is not after `start`.
fn span(start: SeqNum, end: SeqNum) -> u32 {
    let d = end.diff(start);
    if d > 0 {
        d.unsigned_abs()
    } else {
        0
    }
}

impl RangeSet {
    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn bytes(&self) -> u32 {
        self.ranges
            .iter()
            .fold(0u32, |acc, &(s, e)| acc.saturating_add(span(s, e)))
    }

    fn contains(&self, seq: SeqNum) -> bool {
        // The ranges are sorted: find the last one starting at or before `seq`.
        let idx = self.ranges.partition_point(|&(s, _)| s <= seq);
        idx.checked_sub(1)
            .and_then(|i| self.ranges.get(i))
            .is_some_and(|&(s, e)| seq.in_range(s, e))
    }

    /// Octets of the set inside `[start, end)`.
    fn overlap(&self, start: SeqNum, end: SeqNum) -> u32 {
        let mut total = 0u32;
        for &(s, e) in &self.ranges {
            if e <= start {
                continue;
            }
            if s >= end {
                break;
            }
            total = total.saturating_add(span(s.max(start), e.min(end)));
        }
        total
    }

    /// Adds `[start, end)`; returns how many octets were not in the set before.
    fn insert(&mut self, start: SeqNum, end: SeqNum) -> u32 {
        if span(start, end) == 0 {
            return 0;
        }
        // First range that ends at or after `start` (it touches or follows the new one).
        let first = self.ranges.partition_point(|&(_, e)| e < start);
        // One past the last range that starts at or before `end` (touches or precedes).
        let last = self.ranges.partition_point(|&(s, _)| s <= end);
        let mut new_start = start;
        let mut new_end = end;
        let mut covered = 0u32;
        if first < last {
            for &(s, e) in self.ranges.get(first..last).unwrap_or(&[]) {
                covered = covered.saturating_add(span(s.max(start), e.min(end)));
                new_start = new_start.min(s);
                new_end = new_end.max(e);
            }
            self.ranges.drain(first..last);
        }
        let idx = first.min(self.ranges.len());
        self.ranges.insert(idx, (new_start, new_end));
        while self.ranges.len() > MAX_RANGES {
            // Forget the lowest range (see the module documentation).
            self.ranges.remove(0);
        }
        span(start, end).saturating_sub(covered)
    }

    /// Removes `[start, end)`; returns how many octets were removed.
    fn remove(&mut self, start: SeqNum, end: SeqNum) -> u32 {
        if span(start, end) == 0 {
            return 0;
        }
        // Ranges `first..last` overlap `[start, end)`.
        let first = self.ranges.partition_point(|&(_, e)| e <= start);
        let last = self.ranges.partition_point(|&(s, _)| s < end);
        if first >= last {
            return 0;
        }
        let overlapping = self.ranges.get(first..last).unwrap_or(&[]);
        let removed = overlapping.iter().fold(0u32, |acc, &(s, e)| {
            acc.saturating_add(span(s.max(start), e.min(end)))
        });
        let low = overlapping
            .first()
            .filter(|&&(s, _)| s < start)
            .map(|&(s, _)| (s, start));
        let high = overlapping
            .last()
            .filter(|&&(_, e)| e > end)
            .map(|&(_, e)| (end, e));
        self.ranges.splice(first..last, low.into_iter().chain(high));
        while self.ranges.len() > MAX_RANGES {
            self.ranges.remove(0);
        }
        removed
    }

    /// Keeps only what lies inside `[low, high)`.
    fn retain_within(&mut self, low: SeqNum, high: SeqNum) {
        self.ranges.retain_mut(|r| {
            let s = r.0.max(low);
            let e = r.1.min(high);
            if span(s, e) == 0 {
                return false;
            }
            *r = (s, e);
            true
        });
    }

    /// The first run of octets in `[lo, hi)` that is outside `exclude` and, when `include` is
    /// given, inside it; at most `max_len` octets long.
    fn first_run(
        lo: SeqNum,
        hi: SeqNum,
        exclude: &RangeSet,
        include: Option<&RangeSet>,
        max_len: u32,
    ) -> Option<(SeqNum, u32)> {
        let mut cur = lo;
        let mut gaps = exclude
            .ranges
            .iter()
            .filter(|&&(s, e)| e > lo && s < hi)
            .map(|&(s, e)| (s, e))
            .chain(core::iter::once((hi, hi)));
        loop {
            if cur >= hi {
                return None;
            }
            let (s, e) = gaps.next()?;
            let gap_end = s.min(hi);
            if gap_end > cur {
                let found = match include {
                    None => Some((cur, gap_end)),
                    Some(inc) => inc
                        .ranges
                        .iter()
                        .map(|&(is, ie)| (is.max(cur), ie.min(gap_end)))
                        .find(|&(a, b)| span(a, b) > 0),
                };
                if let Some((a, b)) = found {
                    let len = span(a, b).min(max_len);
                    return (len > 0).then_some((a, len));
                }
            }
            cur = cur.max(e);
        }
    }
}

/// What one ACK's SACK blocks changed in the scoreboard (see [`Scoreboard::on_ack`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Octets SACKed by this ACK that were not SACKed before (RFC 6675's "DeliveredData" minus
    /// the cumulative part, which the caller knows from SND.UNA).
    pub newly_sacked: u32,
    /// The D-SACK block (RFC 2883 §4) this ACK carried, if its first block was one: the peer
    /// received `[start, end)` twice, so a retransmission of it was (at least partly) spurious.
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// One past the highest octet SACKed so far (the end of the highest range on the scoreboard
    /// after this ACK), if any octet above SND.UNA is SACKed.
    pub highest_sacked: Option<SeqNum>,
    /// SACK blocks that were malformed (empty or reversed), reached beyond SND.MAX, or lay wholly
    /// below SND.UNA without being a D-SACK; they were ignored. A caller may count them.
    pub ignored_blocks: u32,
}

/// The sender's SACK scoreboard (RFC 6675): SACKed ranges above SND.UNA, plus the ranges
/// retransmitted during recovery and the ranges a time-based detector declared lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scoreboard {
    sacked: RangeSet,
    retransmitted: RangeSet,
    lost: RangeSet,
    high_rxt: Option<SeqNum>,
    /// SND.UNA and SND.MAX as of the last [`Scoreboard::on_ack`].
    window: Option<(SeqNum, SeqNum)>,
}

/// An unSACKed stretch of sequence space between SND.UNA and the highest SACKed octet, as
/// returned by [`Scoreboard::holes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    /// First octet of the hole.
    pub start: SeqNum,
    /// One past the last octet of the hole.
    pub end: SeqNum,
}

impl Scoreboard {
    /// An empty scoreboard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Processes the SACK blocks of one arriving ACK (RFC 6675 §4 `Update()`, RFC 2018, RFC 2883).
    ///
    /// `snd_una` is SND.UNA after this ACK (its acknowledgment number, if that advanced SND.UNA),
    /// `snd_max` the highest sequence number sent plus one (HighData + 1). `blocks` are the ACK's
    /// SACK blocks `(left edge, right edge)` in the order they appear in the option.
    ///
    /// Everything at or below `snd_una` is dropped from the scoreboard. Blocks are clipped to
    /// start at `snd_una`; a block reaching beyond `snd_max` is bogus and ignored, as are empty or
    /// reversed ones. The first block is a D-SACK when it starts below `snd_una` or lies inside
    /// the second block (RFC 2883 §4); it is reported in [`SackUpdate::dsack`] (any part of it above
    /// `snd_una` is still merged, which is harmless: the peer holds those octets).
    /// SACKed octets lose their retransmitted and lost marks.
    pub fn on_ack(
        &mut self,
        snd_una: SeqNum,
        blocks: &[(SeqNum, SeqNum)],
        snd_max: SeqNum,
    ) -> SackUpdate {
        let snd_max = snd_max.max(snd_una);
        self.set_window(snd_una, snd_max);

        let mut update = SackUpdate::default();
        let valid = |&(s, e): &(SeqNum, SeqNum)| span(s, e) > 0 && e <= snd_max;
        if let Some(first) = blocks.first().filter(|b| valid(b)) {
            let below_ack = first.0 < snd_una;
            let inside_second = blocks
                .get(1)
                .filter(|b| valid(b))
                .is_some_and(|second| first.0 >= second.0 && first.1 <= second.1);
            if below_ack || inside_second {
                update.dsack = Some(*first);
            }
        }
        for (i, block) in blocks.iter().enumerate() {
            if !valid(block) {
                update.ignored_blocks = update.ignored_blocks.saturating_add(1);
                continue;
            }
            let (start, end) = (block.0.max(snd_una), block.1);
            if span(start, end) == 0 {
                if !(i == 0 && update.dsack.is_some()) {
                    update.ignored_blocks = update.ignored_blocks.saturating_add(1);
                }
                continue;
            }
            update.newly_sacked = update
                .newly_sacked
                .saturating_add(self.sacked.insert(start, end));
            self.retransmitted.remove(start, end);
            self.lost.remove(start, end);
        }
        update.highest_sacked = self.highest_sacked();
        update
    }

    /// Records SND.UNA and SND.MAX and drops everything outside `[snd_una, snd_max)`.
    fn set_window(&mut self, snd_una: SeqNum, snd_max: SeqNum) {
        self.window = Some((snd_una, snd_max));
        self.sacked.retain_within(snd_una, snd_max);
        self.retransmitted.retain_within(snd_una, snd_max);
        self.lost.retain_within(snd_una, snd_max);
        if self.high_rxt.is_some_and(|h| h <= snd_una) {
            self.high_rxt = None;
        }
    }

    /// Clips `[start, end)` to the window of the last `on_ack`, if there was one.
    fn clip(&self, start: SeqNum, end: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let (s, e) = match self.window {
            Some((una, max)) => (start.max(una), end.min(max)),
            None => (start, end),
        };
        (span(s, e) > 0).then_some((s, e))
    }

    /// Whether the octet `seq` is SACKed.
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.sacked.contains(seq)
    }

    /// Octets SACKed above SND.UNA.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked.bytes()
    }

    /// One past the highest SACKed octet, if any.
    pub fn highest_sacked(&self) -> Option<SeqNum> {
        self.sacked.ranges.last().map(|&(_, e)| e)
    }

    /// The SACKed ranges `[start, end)`, lowest first (for inspection and tests).
    pub fn sacked_ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.sacked.ranges.iter().copied()
    }

    /// Whether the DupThresh rule of RFC 6675 `IsLost()` holds for the octets just below the
    /// SACKed range at `index` (so for every unSACKed octet below that range's start): at least
    /// `dup_thresh` SACKed ranges lie at or above it, or more than `(dup_thresh - 1) * mss`
    /// SACKed octets do.
    fn lost_below_index(&self, index: usize, mss: u32, dup_thresh: u32) -> bool {
        if dup_thresh == 0 {
            return false;
        }
        let above = self.sacked.ranges.get(index..).unwrap_or(&[]);
        if above.is_empty() {
            return false;
        }
        let count = u32::try_from(above.len()).unwrap_or(u32::MAX);
        let bytes = above
            .iter()
            .fold(0u32, |acc, &(s, e)| acc.saturating_add(span(s, e)));
        count >= dup_thresh || bytes > dup_thresh.saturating_sub(1).saturating_mul(mss)
    }

    /// The lowest range index whose start bounds the DupThresh-lost region: every unSACKed octet
    /// below `ranges[i].0` is lost by the DupThresh rule. `None` when no octet is.
    fn dupthresh_boundary(&self, mss: u32, dup_thresh: u32) -> Option<SeqNum> {
        if dup_thresh == 0 {
            return None;
        }
        // Walk down from the highest range; the condition only becomes easier to meet.
        let mut count = 0u32;
        let mut bytes = 0u32;
        let limit = dup_thresh.saturating_sub(1).saturating_mul(mss);
        for &(s, e) in self.sacked.ranges.iter().rev() {
            count = count.saturating_add(1);
            bytes = bytes.saturating_add(span(s, e));
            if count >= dup_thresh || bytes > limit {
                // The highest range start that satisfies it: octets below `s` are lost.
                return Some(s);
            }
        }
        None
    }

    /// RFC 6675 §4 `IsLost(seq)`: true when `seq` is not SACKed and either `dup_thresh`
    /// discontiguous SACKed ranges lie above it, or more than `(dup_thresh - 1) * mss` SACKed
    /// octets do; also true when `seq` was declared lost with [`Scoreboard::mark_lost`].
    /// `dup_thresh == 0` disables the SACK-based rule (only marked losses count).
    pub fn is_lost(&self, seq: SeqNum, mss: u32, dup_thresh: u32) -> bool {
        if self.sacked.contains(seq) {
            return false;
        }
        if self.lost.contains(seq) {
            return true;
        }
        // Ranges strictly above `seq` (seq is not inside any range).
        let idx = self.sacked.ranges.partition_point(|&(s, _)| s <= seq);
        self.lost_below_index(idx, mss, dup_thresh)
    }

    /// RFC 6675 §4 `SetPipe()`: the sender's estimate of octets in the network.
    ///
    /// For every unSACKed octet in `[snd_una, snd_max)`: one if it is not lost ([`Self::is_lost`]),
    /// plus one if it was retransmitted ([`Self::mark_retransmitted`]) and that copy is not known
    /// lost. (The RFC's second term reads "octet <= HighRxt"; see the module documentation.)
    pub fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum, mss: u32, dup_thresh: u32) -> u32 {
        let snd_max = snd_max.max(snd_una);
        let boundary = self.dupthresh_boundary(mss, dup_thresh);
        let mut pipe = 0u32;
        for hole in self.all_holes(snd_una, snd_max) {
            let len = span(hole.start, hole.end);
            let lost = match boundary {
                Some(b) if hole.end <= b => len,
                _ => self.lost.overlap(hole.start, hole.end),
            };
            let retx = self.retransmitted.overlap(hole.start, hole.end);
            pipe = pipe
                .saturating_add(len.saturating_sub(lost))
                .saturating_add(retx);
        }
        pipe
    }

    /// RFC 6675 §4 `NextSeg()`, rules (1) to (3): what to send next, as `(start, length)`.
    ///
    /// 1. The lowest unSACKed, lost octet below the highest SACKed one that has not been
    ///    retransmitted (the RFC's "S2 > HighRxt"): a retransmission of up to `mss` octets,
    ///    ending at the next SACKed or already retransmitted octet.
    /// 2. Otherwise, if `new_data` > 0 (octets of unsent data the application has queued and the
    ///    receive window allows), new data: `(snd_max, min(mss, new_data))`.
    /// 3. Otherwise the lowest unSACKed, not yet retransmitted octet below the highest SACKed one,
    ///    lost or not: a retransmission of up to `mss` octets.
    ///
    /// Rule (4), the rescue retransmission, is the caller's. A result starting at `snd_max` is new
    /// data; anything else is a retransmission, which the caller reports back with
    /// [`Self::mark_retransmitted`] once sent.
    pub fn next_seg(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        mss: u32,
        dup_thresh: u32,
        new_data: u32,
    ) -> Option<(SeqNum, u32)> {
        let mss = mss.max(1);
        let snd_max = snd_max.max(snd_una);
        let boundary = self.dupthresh_boundary(mss, dup_thresh);
        let high = self.highest_sacked().filter(|&h| h > snd_una);
        if let Some(high) = high {
            // Rule (1).
            for hole in self.holes(snd_una) {
                let end = hole.end.min(high);
                let run = match boundary {
                    Some(b) if hole.end <= b => {
                        RangeSet::first_run(hole.start, end, &self.retransmitted, None, mss)
                    }
                    _ => RangeSet::first_run(
                        hole.start,
                        end,
                        &self.retransmitted,
                        Some(&self.lost),
                        mss,
                    ),
                };
                if run.is_some() {
                    return run;
                }
            }
        }
        // Rule (2).
        if new_data > 0 {
            return Some((snd_max, new_data.min(mss)));
        }
        // Rule (3).
        let high = high?;
        self.holes(snd_una).find_map(|hole| {
            RangeSet::first_run(
                hole.start,
                hole.end.min(high),
                &self.retransmitted,
                None,
                mss,
            )
        })
    }

    /// The unSACKed stretches between `snd_una` and the highest SACKed octet, lowest first (the
    /// data RFC 6675 may retransmit). Empty when nothing is SACKed.
    pub fn holes(&self, snd_una: SeqNum) -> impl Iterator<Item = Hole> + '_ {
        let mut cur = snd_una;
        self.sacked.ranges.iter().filter_map(move |&(s, e)| {
            let hole = (s > cur).then_some(Hole { start: cur, end: s });
            cur = cur.max(e);
            hole
        })
    }

    /// The holes plus the unSACKed tail `[highest SACKed, snd_max)`.
    fn all_holes(&self, snd_una: SeqNum, snd_max: SeqNum) -> impl Iterator<Item = Hole> + '_ {
        let tail_start = self.highest_sacked().map_or(snd_una, |h| h.max(snd_una));
        let tail = (snd_max > tail_start).then_some(Hole {
            start: tail_start,
            end: snd_max,
        });
        self.holes(snd_una)
            .map(move |h| Hole {
                start: h.start,
                end: h.end.min(snd_max),
            })
            .filter(|h| h.end > h.start)
            .chain(tail)
    }

    /// Records that `[start, end)` was retransmitted (it now counts twice in `pipe()` until it is
    /// acknowledged, SACKed or declared lost, and `next_seg()` will not offer it again). Advances
    /// [`Self::high_rxt`]. The range is clipped to the window of the last `on_ack`.
    pub fn mark_retransmitted(&mut self, start: SeqNum, end: SeqNum) {
        let Some((s, e)) = self.clip(start, end) else {
            return;
        };
        let unsacked: Vec<(SeqNum, SeqNum)> = self.unsacked_pieces(s, e);
        for (a, b) in unsacked {
            self.retransmitted.insert(a, b);
            self.lost.remove(a, b);
        }
        self.high_rxt = Some(self.high_rxt.map_or(e, |h| h.max(e)));
    }

    /// Declares `[start, end)` lost (for instance by RACK, RFC 8985 §6.2 step 5). Lost octets count
    /// as not in flight in `pipe()`, and a retransmission of them that was in flight is taken as
    /// lost too (its mark is cleared), so `next_seg()` offers the range again. SACKed octets are
    /// never lost. The range is clipped to the window of the last `on_ack`.
    pub fn mark_lost(&mut self, start: SeqNum, end: SeqNum) {
        let Some((s, e)) = self.clip(start, end) else {
            return;
        };
        for (a, b) in self.unsacked_pieces(s, e) {
            self.lost.insert(a, b);
            self.retransmitted.remove(a, b);
        }
    }

    /// The parts of `[start, end)` that are not SACKed.
    fn unsacked_pieces(&self, start: SeqNum, end: SeqNum) -> Vec<(SeqNum, SeqNum)> {
        let mut out = Vec::new();
        let mut cur = start;
        for &(s, e) in &self.sacked.ranges {
            if e <= cur {
                continue;
            }
            if s >= end {
                break;
            }
            if s > cur {
                out.push((cur, s));
            }
            cur = cur.max(e);
        }
        if end > cur {
            out.push((cur, end));
        }
        out
    }

    /// Whether `seq` is marked as retransmitted (and neither acknowledged nor declared lost since).
    pub fn is_retransmitted(&self, seq: SeqNum) -> bool {
        self.retransmitted.contains(seq)
    }

    /// RFC 6675 `HighRxt` as an exclusive bound: one past the highest octet retransmitted with
    /// [`Self::mark_retransmitted`] since the last [`Self::clear_retransmissions`], if that octet is
    /// still above SND.UNA.
    pub fn high_rxt(&self) -> Option<SeqNum> {
        self.high_rxt
    }

    /// Forgets retransmission and loss marks and `HighRxt`, keeping SACK information: for a new
    /// recovery episode after an RTO, when the sender goes back to SND.UNA (RFC 6675 §5.1).
    pub fn clear_retransmissions(&mut self) {
        self.retransmitted = RangeSet::default();
        self.lost = RangeSet::default();
        self.high_rxt = None;
    }

    /// Forgets everything, SACK information included (RFC 2018 §8 after a retransmission timeout,
    /// or when the peer is suspected of reneging).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the scoreboard holds no SACK information.
    pub fn is_empty(&self) -> bool {
        self.sacked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const MSS: u32 = 100;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    /// A scoreboard with SND.UNA = 1000, SND.MAX = 2000 and the given SACKed ranges.
    fn board(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut sb = Scoreboard::new();
        let blocks: Vec<_> = blocks.iter().map(|&(a, b)| (s(a), s(b))).collect();
        sb.on_ack(s(1000), &blocks, s(2000));
        sb
    }

    #[test]
    fn merges_and_counts_new_bytes() {
        let mut sb = Scoreboard::new();
        let u = sb.on_ack(s(1000), &[(s(1200), s(1300))], s(2000));
        assert_eq!(u.newly_sacked, 100);
        assert_eq!(u.highest_sacked, Some(s(1300)));
        let u = sb.on_ack(s(1000), &[(s(1250), s(1400)), (s(1500), s(1600))], s(2000));
        assert_eq!(u.newly_sacked, 200);
        assert_eq!(sb.sacked_bytes(), 300);
        // Adjacent ranges merge.
        let u = sb.on_ack(s(1000), &[(s(1400), s(1500))], s(2000));
        assert_eq!(u.newly_sacked, 100);
        assert_eq!(
            sb.sacked_ranges().collect::<Vec<_>>(),
            vec![(s(1200), s(1600))]
        );
        assert!(sb.is_sacked(s(1200)) && sb.is_sacked(s(1599)));
        assert!(!sb.is_sacked(s(1199)) && !sb.is_sacked(s(1600)));
        // The cumulative ACK moves past part of the range.
        let u = sb.on_ack(s(1300), &[], s(2000));
        assert_eq!(u.newly_sacked, 0);
        assert_eq!(sb.sacked_bytes(), 300);
        assert_eq!(sb.holes(s(1300)).count(), 0);
        sb.on_ack(s(1600), &[], s(2000));
        assert!(sb.is_empty());
    }

    #[test]
    fn ignores_bogus_blocks() {
        let mut sb = Scoreboard::new();
        let u = sb.on_ack(
            s(1000),
            &[
                (s(1100), s(1100)), // empty
                (s(1300), s(1200)), // reversed
                (s(1900), s(2100)), // beyond SND.MAX
                (s(800), s(900)),   // below SND.UNA, not first
            ],
            s(2000),
        );
        assert_eq!(u.newly_sacked, 0);
        assert_eq!(u.dsack, None);
        assert_eq!(u.ignored_blocks, 4);
        assert!(sb.is_empty());
    }

    #[test]
    fn dsack_detection() {
        // RFC 2883 §4.1.1: the first block lies below the cumulative ACK.
        let mut sb = Scoreboard::new();
        let u = sb.on_ack(s(4000), &[(s(3000), s(3500))], s(6000));
        assert_eq!(u.dsack, Some((s(3000), s(3500))));
        assert_eq!(u.newly_sacked, 0);
        assert_eq!(u.ignored_blocks, 0);
        // RFC 2883 §4.1.2: the first block lies inside the second.
        let u = sb.on_ack(s(4000), &[(s(4500), s(5000)), (s(4500), s(5500))], s(6000));
        assert_eq!(u.dsack, Some((s(4500), s(5000))));
        assert_eq!(u.newly_sacked, 1000);
        // An ordinary first block is no D-SACK.
        let u = sb.on_ack(s(4000), &[(s(5600), s(5700)), (s(4500), s(5500))], s(6000));
        assert_eq!(u.dsack, None);
        assert_eq!(u.newly_sacked, 100);
    }

    #[test]
    fn wraps_around_zero() {
        let una = SeqNum(u32::MAX - 150);
        let mut sb = Scoreboard::new();
        let u = sb.on_ack(una, &[(una + 100, una + 300)], una + 1000);
        assert_eq!(u.newly_sacked, 200);
        assert!(sb.is_sacked(SeqNum(10)));
        assert!(!sb.is_sacked(una + 99));
        assert_eq!(
            sb.holes(una).collect::<Vec<_>>(),
            vec![Hole {
                start: una,
                end: una + 100
            }]
        );
    }

    #[test]
    fn is_lost_by_ranges_or_bytes() {
        // Three discontiguous one-byte ranges above 1000: DupThresh = 3 reached.
        let sb = board(&[(1100, 1101), (1200, 1201), (1300, 1301)]);
        assert!(sb.is_lost(s(1000), MSS, 3));
        assert!(sb.is_lost(s(1099), MSS, 3));
        // Above 1101 only two ranges and two bytes remain.
        assert!(!sb.is_lost(s(1150), MSS, 3));
        assert!(!sb.is_lost(s(1100), MSS, 3), "SACKed octets are never lost");
        // One range of more than (3 - 1) * MSS = 200 bytes.
        let sb = board(&[(1100, 1301)]);
        assert!(sb.is_lost(s(1000), MSS, 3));
        // Exactly 200 bytes is not "more than".
        let sb = board(&[(1100, 1300)]);
        assert!(!sb.is_lost(s(1000), MSS, 3));
        // Nothing SACKed above: never lost.
        assert!(!sb.is_lost(s(1500), MSS, 3));
        // dup_thresh 0 disables the rule.
        let sb = board(&[(1100, 1101), (1200, 1201), (1300, 1301), (1400, 1800)]);
        assert!(!sb.is_lost(s(1000), MSS, 0));
    }

    #[test]
    fn set_pipe() {
        // Segments of 100 bytes 1000..2000; 1100..1400 SACKed (3 segments > 2 * MSS).
        let mut sb = board(&[(1100, 1400)]);
        // 1000..1100 lost (not counted), 1400..2000 in flight.
        assert_eq!(sb.pipe(s(1000), s(2000), MSS, 3), 600);
        // Retransmitting the lost segment puts it back in the pipe.
        sb.mark_retransmitted(s(1000), s(1100));
        assert_eq!(sb.high_rxt(), Some(s(1100)));
        assert_eq!(sb.pipe(s(1000), s(2000), MSS, 3), 700);
        // RACK declares the retransmission lost.
        sb.mark_lost(s(1000), s(1100));
        assert_eq!(sb.pipe(s(1000), s(2000), MSS, 3), 600);
        // A non-lost octet retransmitted counts twice (RFC 6675 SetPipe (a) and (b)).
        sb.mark_retransmitted(s(1900), s(2000));
        assert_eq!(sb.pipe(s(1000), s(2000), MSS, 3), 700);
        // The cumulative ACK covers the hole.
        sb.on_ack(s(1400), &[], s(2000));
        assert_eq!(sb.pipe(s(1400), s(2000), MSS, 3), 700);
        // Nothing SACKed: pipe is the flight size.
        assert_eq!(Scoreboard::new().pipe(s(0), s(5000), MSS, 3), 5000);
    }

    #[test]
    fn next_seg_rules() {
        // Holes 1000..1100 (lost: 3 ranges above), 1200..1300 (lost: 250 bytes > 2 * MSS above),
        // 1400..1500 (not lost: one range of 150 bytes above).
        let mut sb = board(&[(1100, 1200), (1300, 1400), (1500, 1650)]);
        // Rule (1): the first lost hole.
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 500),
            Some((s(1000), 100))
        );
        sb.mark_retransmitted(s(1000), s(1100));
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 500),
            Some((s(1200), 100))
        );
        sb.mark_retransmitted(s(1200), s(1300));
        // Rule (2): new data before the not-yet-lost hole.
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 500),
            Some((s(2000), 100))
        );
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 40),
            Some((s(2000), 40))
        );
        // Rule (3): no new data; the hole that is not (yet) lost.
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 0),
            Some((s(1400), 100))
        );
        sb.mark_retransmitted(s(1400), s(1500));
        assert_eq!(sb.next_seg(s(1000), s(2000), MSS, 3, 0), None);
        // RACK finds the first retransmission lost: rule (1) offers it again.
        sb.mark_lost(s(1000), s(1100));
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 0),
            Some((s(1000), 100))
        );
    }

    #[test]
    fn next_seg_limits_length_to_mss_and_hole() {
        // One hole of 250 bytes below 300 SACKed bytes.
        let mut sb = board(&[(1250, 1550)]);
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 0),
            Some((s(1000), 100))
        );
        sb.mark_retransmitted(s(1000), s(1100));
        sb.mark_retransmitted(s(1100), s(1200));
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 3, 0),
            Some((s(1200), 50))
        );
    }

    #[test]
    fn next_seg_without_sack_is_new_data_only() {
        let sb = Scoreboard::new();
        assert_eq!(
            sb.next_seg(s(0), s(1000), MSS, 3, 1000),
            Some((s(1000), 100))
        );
        assert_eq!(sb.next_seg(s(0), s(1000), MSS, 3, 0), None);
    }

    #[test]
    fn rack_marks_feed_is_lost() {
        let mut sb = board(&[(1500, 1600)]);
        assert!(!sb.is_lost(s(1000), MSS, 3));
        sb.mark_lost(s(1000), s(1100));
        assert!(sb.is_lost(s(1000), MSS, 3));
        assert!(sb.is_lost(s(1050), MSS, 0));
        assert!(!sb.is_lost(s(1100), MSS, 3));
        // Rule (1) with the RACK mark only.
        assert_eq!(
            sb.next_seg(s(1000), s(2000), MSS, 0, 0),
            Some((s(1000), 100))
        );
        // SACK of the marked range clears the mark.
        sb.on_ack(s(1000), &[(s(1000), s(1100))], s(2000));
        assert!(!sb.is_lost(s(1000), MSS, 3));
    }

    #[test]
    fn bounded_memory() {
        let mut sb = Scoreboard::new();
        let blocks: Vec<_> = (0..(MAX_RANGES as u32 + 10))
            .map(|i| (s(1000 + 10 * i + 5), s(1000 + 10 * i + 10)))
            .collect();
        for b in &blocks {
            sb.on_ack(s(1000), &[*b], s(100_000));
        }
        assert_eq!(sb.sacked_ranges().count(), MAX_RANGES);
        // The lowest ranges were forgotten, the highest kept.
        assert!(!sb.is_sacked(s(1005)));
        assert!(sb.is_sacked(blocks.last().map(|b| b.0).unwrap_or_default()));
    }

    #[test]
    fn clear() {
        let mut sb = board(&[(1100, 1200)]);
        sb.mark_retransmitted(s(1000), s(1100));
        sb.clear_retransmissions();
        assert_eq!(sb.high_rxt(), None);
        assert!(!sb.is_retransmitted(s(1000)));
        assert_eq!(sb.sacked_bytes(), 100);
        sb.clear();
        assert!(sb.is_empty());
    }

    mod model {
        //! Property tests against a bitmap model that follows RFC 6675 octet by octet.
        use super::super::*;
        use alloc::vec;
        use alloc::vec::Vec;
        use proptest::prelude::*;

        const W: u32 = 240; // sequence space covered by the model, in octets
        const MSS: u32 = 10;

        #[derive(Debug, Clone)]
        enum Op {
            /// Advance SND.UNA by `.0`, SND.MAX by `.1`, and apply the SACK blocks (offsets from
            /// the new SND.UNA, possibly negative).
            Ack(u32, u32, Vec<(i32, i32)>),
            Retx(u32, u32),
            Lost(u32, u32),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (
                    0u32..30,
                    0u32..40,
                    proptest::collection::vec((-20i32..200, 0i32..60), 0..5)
                )
                    .prop_map(|(a, m, b)| Op::Ack(
                        a,
                        m,
                        b.into_iter().map(|(s, l)| (s, s + l - 5)).collect()
                    )),
                1 => (0u32..200, 1u32..30).prop_map(|(s, l)| Op::Retx(s, l)),
                1 => (0u32..200, 1u32..30).prop_map(|(s, l)| Op::Lost(s, l)),
            ]
        }

        /// Octet states, indexed by offset from `base`.
        struct Model {
            base: SeqNum,
            una: u32,
            max: u32,
            sacked: Vec<bool>,
            retx: Vec<bool>,
            lost: Vec<bool>,
        }

        impl Model {
            fn get(v: &[bool], i: u32) -> bool {
                v.get(i as usize).copied().unwrap_or(false)
            }

            /// Offsets of the starts of maximal SACKed runs, and their lengths.
            fn runs(&self) -> Vec<(u32, u32)> {
                let mut runs = Vec::new();
                let mut i = self.una;
                while i < self.max {
                    if Self::get(&self.sacked, i) {
                        let start = i;
                        while i < self.max && Self::get(&self.sacked, i) {
                            i += 1;
                        }
                        runs.push((start, i - start));
                    } else {
                        i += 1;
                    }
                }
                runs
            }

            fn is_lost(&self, o: u32, dup: u32) -> bool {
                if Self::get(&self.sacked, o) {
                    return false;
                }
                if Self::get(&self.lost, o) {
                    return true;
                }
                if dup == 0 {
                    return false;
                }
                let above: Vec<_> = self.runs().into_iter().filter(|&(s, _)| s > o).collect();
                let bytes: u32 = above.iter().map(|&(_, l)| l).sum();
                !above.is_empty() && (above.len() as u32 >= dup || bytes > (dup - 1) * MSS)
            }

            fn pipe(&self, dup: u32) -> u32 {
                (self.una..self.max)
                    .filter(|&o| !Self::get(&self.sacked, o))
                    .map(|o| u32::from(!self.is_lost(o, dup)) + u32::from(Self::get(&self.retx, o)))
                    .sum()
            }

            fn next_seg(&self, dup: u32, new_data: u32) -> Option<(u32, u32)> {
                let high = (self.una..self.max)
                    .filter(|&o| Self::get(&self.sacked, o))
                    .max()
                    .map(|o| o + 1);
                let run = |ok: &dyn Fn(u32) -> bool| -> Option<(u32, u32)> {
                    let high = high?;
                    let start = (self.una..high).find(|&o| ok(o))?;
                    let len = (start..high).take_while(|&o| ok(o)).count() as u32;
                    Some((start, len.min(MSS)))
                };
                let unsacked_fresh =
                    |o: u32| !Self::get(&self.sacked, o) && !Self::get(&self.retx, o);
                if let Some(r) = run(&|o| unsacked_fresh(o) && self.is_lost(o, dup)) {
                    return Some(r);
                }
                if new_data > 0 {
                    return Some((self.max, new_data.min(MSS)));
                }
                run(&unsacked_fresh)
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
            #[test]
            fn matches_bitmap_model(
                base in any::<u32>(),
                ops in proptest::collection::vec(op(), 1..25),
                dup in 0u32..5,
                new_data in 0u32..15,
            ) {
                let base = SeqNum(base);
                let n = (W + 100) as usize;
                let mut m = Model {
                    base,
                    una: 0,
                    max: 100,
                    sacked: vec![false; n],
                    retx: vec![false; n],
                    lost: vec![false; n],
                };
                let mut sb = Scoreboard::new();
                sb.on_ack(base, &[], base + 100);
                let sq = |o: u32| m.base + o;
                for op in ops {
                    match op {
                        Op::Ack(adv, grow, blocks) => {
                            m.max = (m.max + grow).min(W);
                            m.una = (m.una + adv).min(m.max);
                            for o in 0..m.una {
                                m.sacked[o as usize] = false;
                                m.retx[o as usize] = false;
                                m.lost[o as usize] = false;
                            }
                            let abs: Vec<(SeqNum, SeqNum)> = blocks
                                .iter()
                                .map(|&(a, b)| {
                                    let s = (m.una as i64 + a as i64) as u32;
                                    let e = (m.una as i64 + b as i64) as u32;
                                    (m.base + s, m.base + e)
                                })
                                .collect();
                            // Model of the D-SACK rule and the block validity rule.
                            let valid = |a: i32, b: i32| b > a && (m.una as i64 + b as i64) <= m.max as i64;
                            let mut expect_dsack = None;
                            if let Some(&(a0, b0)) = blocks.first() {
                                if valid(a0, b0) {
                                    let inside = blocks.get(1).is_some_and(|&(a1, b1)| valid(a1, b1) && a0 >= a1 && b0 <= b1);
                                    if a0 < 0 || inside {
                                        expect_dsack = abs.first().copied();
                                    }
                                }
                            }
                            let mut newly = 0;
                            for &(a, b) in &blocks {
                                if !valid(a, b) {
                                    continue;
                                }
                                let lo = m.una as i64 + a.max(0) as i64;
                                let hi = m.una as i64 + b as i64;
                                for o in lo.max(0) as u32..hi.max(0) as u32 {
                                    if !m.sacked[o as usize] {
                                        newly += 1;
                                    }
                                    m.sacked[o as usize] = true;
                                    m.retx[o as usize] = false;
                                    m.lost[o as usize] = false;
                                }
                            }
                            let u = sb.on_ack(sq(m.una), &abs, sq(m.max));
                            prop_assert_eq!(u.newly_sacked, newly);
                            prop_assert_eq!(u.dsack, expect_dsack);
                        }
                        Op::Retx(s, l) => {
                            let lo = s.max(m.una);
                            let hi = (s + l).min(m.max);
                            for o in lo..hi {
                                if !m.sacked[o as usize] {
                                    m.retx[o as usize] = true;
                                    m.lost[o as usize] = false;
                                }
                            }
                            sb.mark_retransmitted(sq(s), sq(s + l));
                        }
                        Op::Lost(s, l) => {
                            let lo = s.max(m.una);
                            let hi = (s + l).min(m.max);
                            for o in lo..hi {
                                if !m.sacked[o as usize] {
                                    m.lost[o as usize] = true;
                                    m.retx[o as usize] = false;
                                }
                            }
                            sb.mark_lost(sq(s), sq(s + l));
                        }
                    }
                    let una = sq(m.una);
                    let max = sq(m.max);
                    let sacked: u32 = (m.una..m.max).filter(|&o| m.sacked[o as usize]).count() as u32;
                    prop_assert_eq!(sb.sacked_bytes(), sacked);
                    for o in m.una..m.max {
                        prop_assert_eq!(sb.is_sacked(sq(o)), m.sacked[o as usize], "is_sacked {}", o);
                        prop_assert_eq!(sb.is_retransmitted(sq(o)), m.retx[o as usize], "retx {}", o);
                        prop_assert_eq!(sb.is_lost(sq(o), MSS, dup), m.is_lost(o, dup), "is_lost {}", o);
                    }
                    prop_assert_eq!(sb.pipe(una, max, MSS, dup), m.pipe(dup));
                    let expect = m.next_seg(dup, new_data).map(|(o, l)| (sq(o), l));
                    prop_assert_eq!(sb.next_seg(una, max, MSS, dup, new_data), expect);
                    let holes: u32 = sb.holes(una).map(|h| h.end.diff(h.start) as u32).sum();
                    let high = sb.highest_sacked().map_or(0, |h| h.diff(una) as u32);
                    prop_assert_eq!(holes, high.saturating_sub(sacked));
                }
            }
        }
    }
}
