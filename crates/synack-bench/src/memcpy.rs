//! The machine's memory-copy bandwidth, measured the way the stacks copy: `copy_from_slice`.

use std::hint::black_box;
use std::time::Instant;

/// Copy bandwidth in Gbit/s of `copy_from_slice` between two buffers of `size` bytes: the best
/// of several passes lasting at least `min_seconds` in all. Counts the bytes copied once (not
/// read plus written), so it compares directly with a transfer's bytes per second.
pub fn copy_gbps(size: usize, min_seconds: f64) -> f64 {
    let src: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31)).collect();
    let mut dst = vec![0u8; size];
    // Touch both once so page faults are not timed.
    dst.copy_from_slice(&src);
    let start = Instant::now();
    let mut best = f64::MAX;
    let mut passes = 0u32;
    while passes < 3 || start.elapsed().as_secs_f64() < min_seconds {
        let t = Instant::now();
        // Enough repetitions per pass to make the pass last a few milliseconds.
        let reps = (64 << 20) / size.max(1) + 1;
        for _ in 0..reps {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        }
        let per = t.elapsed().as_secs_f64() / reps as f64;
        best = best.min(per);
        passes += 1;
        if passes > 10_000 {
            break;
        }
    }
    size as f64 * 8.0 / best / 1e9
}

#[cfg(test)]
mod tests {
    #[test]
    fn copies_at_some_speed() {
        let g = super::copy_gbps(1 << 16, 0.0);
        assert!(g.is_finite() && g > 0.0);
    }
}
