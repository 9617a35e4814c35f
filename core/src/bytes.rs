//! Byte searches run on every line, where entering a general search (memchr's runtime
//! dispatch, alignment prologue) costs more than the search itself. On x86_64 they test sixteen
//! bytes at a time with SSE2, which is part of that architecture's baseline; elsewhere they
//! fall back to plain loops. This module holds the crate's only `unsafe`: calls of functions
//! marked `#[target_feature(enable = "sse2")]`, made where the build enables SSE2 for the
//! whole program, so the feature is always present; and bytes checked to be ASCII taken as
//! text without a second check.

/// Where the first 16-byte block of `raw` holding `a` or `b` starts: `raw.len()` when none
/// does; a position at or before the first such byte in any case (0 on other architectures).
/// The last block overlaps the one before it, so inputs of any length ≥ 16 take no byte loop.
#[inline]
pub fn first_block_with(raw: &[u8], a: u8, b: u8) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    // SAFETY: the callee needs only SSE2, enabled for this whole build (the cfg); it reads
    // `raw` through safe slice indexing.
    return unsafe { sse2::first_block_with(raw, a, b) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let _ = (raw, a, b);
        0
    }
}

/// `data` as text when it is all ASCII (a daemon log nearly always is): one pass of word-wide
/// tests instead of a UTF-8 decode (`std::str::from_utf8` costs about three times as much on
/// ASCII, and then the caller has to decode every line anyway).
#[inline]
pub fn ascii_str(data: &[u8]) -> Option<&str> {
    if !data.is_ascii() {
        return None;
    }
    // SAFETY: ASCII bytes are valid UTF-8 (checked just above).
    Some(unsafe { std::str::from_utf8_unchecked(data) })
}

/// `a == b` for slices of equal length, sixteen bytes at a time (the last block overlapping the
/// one before): go-log headers are a few dozen bytes, where a call to `memcmp` or a word loop
/// costs more than the comparison.
#[inline]
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if a.len() >= 16 {
        // SAFETY: as in `first_block_with`.
        return unsafe { sse2::equal(a, b) };
    }
    a == b
}

/// Where the first byte of `b` that a JSON string cannot hold as it is lies — a quote, a
/// backslash or a control character (below 0x20) — or `b.len()`: the scan of a JSON string's
/// content, sixteen bytes at a time (most strings of a log line are shorter than the setup of a
/// general search).
#[inline]
pub fn first_json_special(b: &[u8]) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if b.len() >= 16 {
        // SAFETY: as in `first_block_with`.
        return unsafe { sse2::first_json_special(b) };
    }
    b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(b.len())
}

/// Calls `line` with each line of `data` that ends in `\n` (without it), in order; returns
/// where the unterminated rest, if any, starts. Newlines are found 64 bytes at a time: one
/// bit mask per block, then one bit per line, instead of a search call per line.
#[inline]
pub fn for_each_line(data: &[u8], mut line: impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    let mut base = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while base + 64 <= data.len() {
        // SAFETY: as in `first_block_with`.
        let mut mask = unsafe { sse2::newlines_in_64(&data[base..base + 64]) };
        while mask != 0 {
            let nl = base + mask.trailing_zeros() as usize;
            line(&data[start..nl]);
            start = nl + 1;
            mask &= mask - 1;
        }
        base += 64;
    }
    while let Some(i) = memchr::memchr(b'\n', &data[base..]) {
        let nl = base + i;
        line(&data[start..nl]);
        start = nl + 1;
        base = nl + 1;
    }
    start
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x};

    #[inline]
    #[target_feature(enable = "sse2")]
    fn block(raw: &[u8], at: usize) -> __m128i {
        let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes")) as i64;
        _mm_set_epi64x(word(at + 8), word(at))
    }

    #[target_feature(enable = "sse2")]
    pub fn first_block_with(raw: &[u8], a: u8, b: u8) -> usize {
        if raw.len() < 16 {
            return 0;
        }
        let (va, vb) = (_mm_set1_epi8(a as i8), _mm_set1_epi8(b as i8));
        let mut i = 0;
        loop {
            let at = i.min(raw.len() - 16);
            let v = block(raw, at);
            if _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb))) != 0 {
                return at;
            }
            if at + 16 == raw.len() {
                return raw.len();
            }
            i += 16;
        }
    }

    /// `a == b` for two slices of one length of at least 16 bytes.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub fn equal(a: &[u8], b: &[u8]) -> bool {
        debug_assert!(a.len() == b.len() && a.len() >= 16);
        let load = |s: &[u8], at: usize| {
            let block: &[u8; 16] = s[at..at + 16].try_into().expect("16 bytes");
            // SAFETY: `block` is 16 readable bytes; the load has no alignment requirement.
            unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>()) }
        };
        let same = |at: usize| _mm_movemask_epi8(_mm_cmpeq_epi8(load(a, at), load(b, at))) == 0xFFFF;
        let last = a.len() - 16;
        let mut at = 0;
        while at < last {
            if !same(at) {
                return false;
            }
            at += 16;
        }
        same(last)
    }

    /// [`super::first_json_special`] for at least 16 bytes: blocks from the start, the last one
    /// overlapping the one before (its bytes before the overlap are known to be plain).
    #[target_feature(enable = "sse2")]
    pub fn first_json_special(b: &[u8]) -> usize {
        debug_assert!(b.len() >= 16);
        let (quote, backslash, below_space) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(0x1f));
        let special = |at: usize| {
            let block: &[u8; 16] = b[at..at + 16].try_into().expect("16 bytes");
            // SAFETY: `block` is 16 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>()) };
            // A byte at most 0x1f is its own minimum with 0x1f (unsigned).
            let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), ctl)) as u32
        };
        let last = b.len() - 16;
        let mut at = 0;
        loop {
            let at_now = at.min(last);
            let m = special(at_now);
            if m != 0 {
                return at_now + m.trailing_zeros() as usize;
            }
            if at_now == last {
                return b.len();
            }
            at += 16;
        }
    }

    /// Bit `i` set when `raw[i]` is `\n` (`raw` is 64 bytes).
    #[inline]
    #[target_feature(enable = "sse2")]
    pub fn newlines_in_64(raw: &[u8]) -> u64 {
        let nl = _mm_set1_epi8(b'\n' as i8);
        let m = |at: usize| _mm_movemask_epi8(_mm_cmpeq_epi8(block(raw, at), nl)) as u16 as u64;
        m(0) | m(16) << 16 | m(32) << 32 | m(48) << 48
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn for_each_line_splits_like_split(bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', b'\r', 0u8, 0xff]), 0..300)) {
            let mut got = Vec::new();
            let rest = for_each_line(&bytes, |l| got.push(l.to_vec()));
            let mut want: Vec<Vec<u8>> = bytes.split(|c| *c == b'\n').map(<[u8]>::to_vec).collect();
            let tail = want.pop().expect("split yields one piece at least");
            prop_assert_eq!(got, want);
            prop_assert_eq!(&bytes[rest..], &tail[..]);
        }

        #[test]
        fn first_json_special_is_a_byte_search(bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b' ', b'"', b'\\', 0x1f, 0x20, 0x00, 0x7f, 0x80, 0xff]), 0..80), plain in 0usize..40) {
            // Mostly plain bytes before the mix, so that long runs and every block position occur.
            let mut v = vec![b'x'; plain];
            v.extend_from_slice(&bytes);
            let want = v.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(v.len());
            prop_assert_eq!(first_json_special(&v), want);
        }

        #[test]
        fn equal_is_slice_equality(a in proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', 0u8, 0xff]), 0..80), flip in proptest::prelude::any::<proptest::sample::Index>()) {
            prop_assert!(equal(&a, &a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                let i = flip.index(b.len());
                b[i] ^= 1;
                prop_assert!(!equal(&a, &b));
                prop_assert!(!equal(&a, &a[..a.len() - 1]));
            }
        }

        #[test]
        fn ascii_str_is_from_utf8_on_ascii(bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', 0x7f, 0x80, 0xc3, 0xa9, 0xff]), 0..300)) {
            let want = if bytes.is_ascii() { std::str::from_utf8(&bytes).ok() } else { None };
            prop_assert_eq!(ascii_str(&bytes), want);
        }

        #[test]
        fn first_block_with_is_at_or_before_the_first_match(bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b'^', 0x1b, b'\n']), 0..100)) {
            let first = bytes.iter().position(|c| *c == b'^' || *c == 0x1b).unwrap_or(bytes.len());
            let block = first_block_with(&bytes, b'^', 0x1b);
            prop_assert!(block <= first);
            // Nothing is skipped: from `block` on, a byte search finds the same first match.
            prop_assert_eq!(bytes[block..].iter().position(|c| *c == b'^' || *c == 0x1b).map(|p| p + block).unwrap_or(bytes.len()), first);
        }
    }
}
