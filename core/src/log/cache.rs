//! What the fast paths remember between lines: the go-log headers and the zap JSON layouts
//! already read.

use super::text::has_colour;
use crate::time::PrefixCache;
use std::sync::Arc;

/// What a go-log header — level, logger, caller and the separators before the message —
/// decides, and where its parts are (offsets from the end of the timestamp).
#[derive(Clone, Copy, Debug)]
pub(super) struct KnownHeader {
    /// Bytes from the end of the timestamp to the message.
    pub(super) len: usize,
    /// The level as `normalize_level` names it.
    pub(super) level: &'static str,
    pub(super) logger: (usize, usize),
    pub(super) caller: (usize, usize),
}

/// Headers already read, by their bytes: a busy node's lines repeat a few dozen headers
/// (`INFO\tmpool\tmessagepool/messagepool.go:1043\t`), so most lines are decided by one
/// comparison instead of tokenising. A header is kept with its exact bytes, so a hit decides
/// exactly what reading it would (and two kept headers cannot both match one line).
///
/// Buckets are picked by the first 16 bytes, all a line's header is sure to have. Headers that
/// share them (the sync pipeline's `\tINFO\tchain\tchain/sync…` callers) share a bucket, which
/// keeps several: direct-mapped, the five sync callers evicted each other on one line in nine.
pub(super) struct HeaderCache {
    buckets: Vec<Vec<CachedHeader>>,
}

pub(super) struct CachedHeader {
    bytes: Box<[u8]>,
    /// Its logger and caller, shared by the events of every line with this header.
    pub(super) names: (Arc<str>, Arc<str>),
    /// The header's last eight bytes as a word (headers are longer): where the headers of one
    /// bucket differ (`…sync_manager.go:236\t` / `…:318\t`), compared before the whole.
    last_word: u64,
    pub(super) known: KnownHeader,
}

/// Buckets of the header cache (the top six bits of a hash).
const BUCKETS: usize = 64;

/// Headers kept per bucket; the oldest goes first.
const HEADERS_PER_BUCKET: usize = 8;

impl Default for HeaderCache {
    fn default() -> HeaderCache {
        HeaderCache { buckets: (0..BUCKETS).map(|_| Vec::new()).collect() }
    }
}

impl HeaderCache {
    #[inline]
    fn bucket(rest: &[u8]) -> usize {
        let (a, b) = match rest.get(..16) {
            Some(h) => (u64::from_le_bytes(h[..8].try_into().expect("8 bytes")), u64::from_le_bytes(h[8..].try_into().expect("8 bytes"))),
            None => {
                let word = |i: usize| rest.get(i..i + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).unwrap_or(rest.len() as u64);
                (word(0), word(8))
            }
        };
        ((a ^ b.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize & (BUCKETS - 1)
    }

    #[inline]
    pub(super) fn get(&self, rest: &[u8]) -> Option<&CachedHeader> {
        // The same bytes, and the message starts right after them (no longer separator run).
        for h in &self.buckets[Self::bucket(rest)] {
            let len = h.known.len;
            let Some(head) = rest.get(..len) else { continue };
            // (Cached headers are at least 8 bytes long.)
            if u64::from_le_bytes(head[len - 8..].try_into().expect("8 bytes")) != h.last_word || !crate::bytes::equal(head, &h.bytes) {
                continue;
            }
            if !matches!(rest.get(len), Some(b'\t' | b' ')) {
                return Some(h);
            }
        }
        None
    }

    pub(super) fn put(&mut self, rest: &[u8], k: KnownHeader, colour_free: bool) -> KnownHeader {
        // A header with colour is never cached: a hit then proves the header has none. Nor is
        // one that ends the line without a separator after its caller (`…sync_manager.go:3`,
        // a cut line): its bytes are a prefix of longer headers (`…go:318\tworker …`), which
        // a hit would then read with a wrong caller and message.
        let ends_in_separator = k.len > 0 && matches!(rest[k.len - 1], b'\t' | b' ');
        if (8..=256).contains(&k.len) && ends_in_separator && (colour_free || !has_colour(&rest[..k.len])) {
            let bucket = &mut self.buckets[Self::bucket(rest)];
            if bucket.len() == HEADERS_PER_BUCKET {
                bucket.remove(0);
            }
            let last_word = u64::from_le_bytes(rest[k.len - 8..k.len].try_into().expect("8 bytes"));
            // A cached header is ASCII-delimited and the line UTF-8 (`read_header`'s caller
            // checks), or lossily read: its names are text either way.
            let name = |(a, b): (usize, usize)| Arc::from(String::from_utf8_lossy(&rest[a..b]));
            bucket.push(CachedHeader { bytes: rest[..k.len].into(), names: (name(k.logger), name(k.caller)), last_word, known: k });
        }
        k
    }
}

/// Layouts of JSON-format lines already read: zap's `{"level":…,"ts":…,"logger":…,"caller":…,
/// "msg":…}` with nothing after the message, as the bytes before the timestamp (`head`) and
/// between the timestamp and the message (`tail`: its closing quote, the logger and the
/// caller, the message's opening quote). A line made of a known head and tail around a
/// timestamp of the cached date, and a message without escapes that starts no row and ends the
/// object, is what `json_fast` calls an ordinary record: it is the JSON of a line already
/// validated with another time and message, and those two are checked. Most lines of a
/// JSON-format log are decided this way without scanning the rest of them.
#[derive(Default)]
pub(super) struct JsonLayouts {
    buckets: Vec<Vec<JsonLayout>>,
}

struct JsonLayout {
    head: Box<[u8]>,
    tail: Box<[u8]>,
}

impl JsonLayouts {
    const BUCKETS: usize = 64;
    const PER_BUCKET: usize = 8;
    /// zap writes the level first.
    const LEVEL_KEY: &'static [u8] = b"{\"level\":\"";
    const TS_KEY: &'static [u8] = b"\",\"ts\":\"";

    /// Where the timestamp's text starts, if `raw` starts as zap writes its lines.
    fn ts_start(raw: &[u8]) -> Option<usize> {
        if !raw.starts_with(Self::LEVEL_KEY) {
            return None;
        }
        let level_len = raw.get(10..18)?.iter().position(|c| *c == b'"')?;
        let ts_start = 10 + level_len + Self::TS_KEY.len();
        (raw.get(10 + level_len..ts_start)? == Self::TS_KEY).then_some(ts_start)
    }

    /// Picks a bucket by the tail's bytes past `","logger":"` (the logger and caller).
    fn bucket(tail: &[u8]) -> usize {
        let word = |i: usize| tail.get(i..i + 8).map_or(tail.len() as u64, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        ((word(12) ^ word(20).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % Self::BUCKETS
    }

    /// True when `raw` (ASCII, without colour) is an ordinary record of a known layout.
    pub(super) fn is_ordinary(&self, raw: &[u8], ts_cache: &PrefixCache) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let Some(ts_start) = Self::ts_start(raw) else { return false };
        // The timestamp is the whole string: its closing quote follows it.
        let Some(n) = ts_cache.end_if_cached(&raw[ts_start..]) else { return false };
        let tail_start = ts_start + n;
        if raw.get(tail_start) != Some(&b'"') {
            return false;
        }
        let rest = &raw[tail_start..];
        for layout in &self.buckets[Self::bucket(rest)] {
            let Some(tail) = rest.get(..layout.tail.len()) else { continue };
            if !crate::bytes::equal(tail, &layout.tail) || !crate::bytes::equal(&raw[..ts_start], &layout.head) {
                continue;
            }
            let msg = &rest[tail.len()..];
            let end = crate::bytes::first_json_special(msg);
            // A plain message, then the object's end and the line's.
            return msg.get(end..) == Some(b"\"}".as_slice()) && crate::messages::match_rule_bytes(&msg[..end]).is_none();
        }
        false
    }

    /// Keeps the layout of `raw`, a line `json_fast` has just called an ordinary record, when
    /// it is one this cache can decide again.
    pub(super) fn learn(&mut self, raw: &[u8], ts_cache: &PrefixCache) {
        let Some(ts_start) = Self::ts_start(raw) else { return };
        let Some(n) = ts_cache.end_if_cached(&raw[ts_start..]) else { return };
        let tail_start = ts_start + n;
        if raw.get(tail_start) != Some(&b'"') {
            return;
        }
        // The message's opening quote ends the tail; the message (without escapes) and the
        // object end the line.
        const MSG_KEY: &[u8] = b"\",\"msg\":\"";
        let Some(at) = memchr::memmem::find(&raw[tail_start..], MSG_KEY) else { return };
        let tail_end = tail_start + at + MSG_KEY.len();
        let msg = &raw[tail_end..];
        let end = crate::bytes::first_json_special(msg);
        if msg.get(end..) != Some(b"\"}".as_slice()) || tail_end - tail_start > 256 {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets = (0..Self::BUCKETS).map(|_| Vec::new()).collect();
        }
        let tail = &raw[tail_start..tail_end];
        let bucket = &mut self.buckets[Self::bucket(tail)];
        if bucket.len() == Self::PER_BUCKET {
            bucket.remove(0);
        }
        bucket.push(JsonLayout { head: raw[..ts_start].into(), tail: tail.into() });
    }
}
