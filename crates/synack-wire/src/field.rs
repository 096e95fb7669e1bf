//! Big-endian field access shared by the packet views (crate-private).
//!
//! The readers and writers index the buffer directly: callers (the packet views) check lengths
//! first, and their `new_unchecked` constructors document that accessors panic on a buffer shorter
//! than the fixed header.

/// Reads a big-endian `u16` at `at`.
#[inline]
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian `u32` at `at`.
#[inline]
pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Writes a big-endian `u16` at `at`.
#[inline]
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`.
#[inline]
pub(crate) fn write_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Writes `words` big-endian from the start of `buf` (which holds at least `2 * words.len()`
/// bytes).
#[inline]
pub(crate) fn write_words(buf: &mut [u8], words: &[u16]) {
    for (b, w) in buf.chunks_exact_mut(2).zip(words) {
        b.copy_from_slice(&w.to_be_bytes());
    }
}

/// Reads 4 bytes at `at` as an array.
#[inline]
pub(crate) fn read_array4(buf: &[u8], at: usize) -> [u8; 4] {
    [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
}

/// Reads 16 bytes at `at` as an array.
#[inline]
pub(crate) fn read_array16(buf: &[u8], at: usize) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&buf[at..at + 16]);
    out
}
