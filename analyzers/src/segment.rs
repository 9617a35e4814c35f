//! Event segments: the unit in which the store keeps events.
//!
//! A segment is up to [`SEGMENT_EVENTS`] consecutive events of **one kind from one source**,
//! packed into one BLOB (one SQLite row). Why not a row per event: on this project's 2-core
//! machine SQLite spends ~1–2 µs of B-tree work on every row it inserts (bench/RESULTS.md), and a
//! busy node's log has ~1 M sync events per GiB, so per-event rows capped ingest near 100–190 MB/s.
//! Packing costs a few tens of nanoseconds per event; the rows left are one per segment, one per
//! head change, and one CID posting per distinct CID per batch (see `store.rs`).
//!
//! Layout (all integers LEB128 varints; `zz` = zigzag-encoded signed):
//! ```text
//! u8 FORMAT_VERSION (2)
//! n_strings, then each: len, UTF-8 bytes      -- loggers, callers, miners, peers, journal names
//! n_prefixes, then each: digest len, len, bytes  -- CID prefixes (version, codec, hash, length)
//! n_cids, then runs of one tag: tag, count, entries
//!   tag 0: each len, UTF-8 bytes              -- a CID kept as text (not canonical CIDv1 text)
//!   tag p: each the digest of prefix p − 1     -- a CIDv1: 32 bytes for a Filecoin block
//! n_events,  then each event:
//!   line - previous line (the first: line - segment first line), flags XOR previous flags
//!   [LINES]    line count (when not 1)
//!   [TS]       [ZONE] zz(offset secs), frac digits (when not the previous event's), zz(ns - previous ns)
//!   [LEVEL]    index into LEVELS          [LOGGER] [CALLER] [MINER] [PEER]  string index
//!   [HEIGHT]   zz(height - previous height)   [WORKER] worker
//!   [DELAY]    f64 LE                     [DURATION] f64 LE
//!   [CIDS]     n, n × CID reference
//!   unless HEAD_TEXT: text: len, bytes; [TEXT_CUT] byte position where `[cid cid …]` was cut out
//!   [PROBLEM]  len, bytes                 [JOURNAL] system index, event index
//!   [RAW]      len, bytes
//!   [HEAD]     zz(to height - height), zz(from height - to height), zz(revert), zz(apply),
//!              unless FROM_PREV_TO: n_from, from references; n_to, to references
//! ```
//! A CID reference is zz(index − (previous reference + 1)): a list of CIDs first named in order
//! costs a byte each. Why the shapes: a full node's journal is ~800 bytes a line of head changes
//! whose CIDs are 62-character texts, and each tipset comes twice (the `To` of one line is the
//! `From` of the next). Here a new block costs its 32-byte digest once per segment, a head
//! change ~20 bytes more: its `From` when it is the last `To` (FROM_PREV_TO), its CID list when
//! it is `To` then `From` (HEAD_CIDS) and its text when it is the one the journal reader gives
//! every head change (HEAD_TEXT) are not stored but rebuilt.
//! The text of most sync lines repeats their CID list (`New heaviest tipset! [a b] (height=…)`);
//! that list is cut out and re-inserted on decoding when it appears verbatim, which halves the
//! bytes stored for those kinds. Decoding reproduces the encoded [`Event`] exactly (a property
//! test checks it) and never panics on a corrupt blob: it returns [`SegmentError`].

use lsync_core::cid_bytes::{v1_bytes_to_text, v1_text_to_bytes};
use lsync_core::journal::records::{EVENT_HEAD_CHANGE, SYSTEM_SYNC};
use lsync_core::journal::HeadChangeRef;
use lsync_core::{Event, EventKind, HeadChange, JournalMeta, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;

/// Most events in one segment. Small enough that decoding one segment for a trace costs well
/// under a millisecond, large enough that segment rows are ~1/1000 of the events.
pub const SEGMENT_EVENTS: usize = 1024;
/// A segment is also closed once its blob passes this many bytes (`--keep-raw` journals carry
/// ~1 KB of `Data` per record).
pub const SEGMENT_BYTES: usize = 512 * 1024;

const FORMAT_VERSION: u8 = 2;

const TS: u32 = 1;
const ZONE_KNOWN: u32 = 1 << 1;
const LEVEL: u32 = 1 << 2;
const LOGGER: u32 = 1 << 3;
const CALLER: u32 = 1 << 4;
const HEIGHT: u32 = 1 << 5;
const WORKER: u32 = 1 << 6;
const MINER: u32 = 1 << 7;
const DELAY: u32 = 1 << 8;
const DURATION: u32 = 1 << 9;
const PEER: u32 = 1 << 10;
const CIDS: u32 = 1 << 11;
const TEXT_CUT: u32 = 1 << 12;
const PROBLEM: u32 = 1 << 13;
const JOURNAL: u32 = 1 << 14;
const RAW: u32 = 1 << 15;
const HEAD: u32 = 1 << 16;
const LINES: u32 = 1 << 17;
const ZONE: u32 = 1 << 18;
const HEAD_CIDS: u32 = 1 << 19;
const HEAD_TEXT: u32 = 1 << 20;
const FROM_PREV_TO: u32 = 1 << 21;
const ALL_FLAGS: u32 = (1 << 22) - 1;

/// The levels `normalize_level` produces, by index.
const LEVELS: [&str; 7] = ["DEBUG", "INFO", "WARN", "ERROR", "DPANIC", "PANIC", "FATAL"];

/// A blob that does not decode: the database was damaged or written by a foreign program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt event segment: {0}")]
pub struct SegmentError(pub &'static str);

/// FNV-1a, as `cid_key` uses it for a key's bucket bits: part of the stored format, never to
/// change. (In-memory maps use [`WordHasher`].)
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// An in-memory hash of strings eight bytes at a time (multiply-rotate, as FxHash does): a
/// segment's dictionary hashes every CID text it meets, and FNV's byte loop cost ~250
/// instructions per CID. Never stored, unlike [`Fnv`] (which `cid_key` persists).
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

pub type WordMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<WordHasher>>;

const WORD_HASH_K: u64 = 0x517c_c1b7_2722_0a95;

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        // Spread the high bits (where the multiplications put the entropy) into the low ones
        // that pick a bucket.
        (self.0 ^ (self.0 >> 32)).wrapping_mul(WORD_HASH_K)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(WORD_HASH_K);
        let mut h = mix(self.0, bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = mix(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(w));
        }
        self.0 = h;
    }
}

/// A string table in first-use order (also an export's dictionary-encoded text columns).
pub(crate) struct Dict {
    /// Hash of a string → its id: each string is stored once, in `items` (a table keyed by the
    /// string itself copied every new CID a second time). Strings whose hash an earlier, other
    /// string already holds go to `collided`.
    index: WordMap<u64, u32>,
    collided: WordMap<String, u32>,
    /// The strings, one after another (one allocation, not one per CID), and where each ends.
    text: String,
    ends: Vec<u32>,
    bytes: usize,
    /// The last ids handed out (a tiny MRU; `u32::MAX` entries never match).
    recent: [u32; 4],
    next_recent: usize,
}

impl Default for Dict {
    fn default() -> Dict {
        Dict { index: WordMap::default(), collided: WordMap::default(), text: String::new(), ends: Vec::new(), bytes: 0, recent: [u32::MAX; 4], next_recent: 0 }
    }
}

impl Dict {
    /// The memory the table holds, used or not (its hash index roughly).
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.text.capacity() + 4 * self.ends.capacity() + 16 * self.index.capacity()
    }

    /// Empties the table, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.collided.clear();
        self.text.clear();
        self.ends.clear();
        self.bytes = 0;
        self.recent = [u32::MAX; 4];
        self.next_recent = 0;
    }

    /// The id of `s`, added if new.
    pub(crate) fn id(&mut self, s: &str) -> u32 {
        // Neighbouring events repeat their strings (`chain`, `mpool`/`add`): try the last few
        // ids before hashing.
        for &i in &self.recent {
            if self.get(i).is_some_and(|x| x == s) {
                return i;
            }
        }
        let i = self.id_slow(s);
        self.recent[self.next_recent] = i;
        self.next_recent = (self.next_recent + 1) % self.recent.len();
        i
    }

    /// [`Dict::id`] without trying the last ids first: for an event's CIDs, which neighbouring
    /// events of one kind seldom repeat (each names its own tipset), so the tries only cost.
    /// (A head change's `From` is the last one's `To`: those keep the tries.)
    fn id_slow(&mut self, s: &str) -> u32 {
        let h = {
            let mut hasher = WordHasher::default();
            std::hash::Hasher::write(&mut hasher, s.as_bytes());
            std::hash::Hasher::finish(&hasher)
        };
        match self.index.get(&h) {
            Some(&i) if self.item(i) == s => i,
            Some(_) => match self.collided.get(s) {
                Some(&i) => i,
                None => {
                    let i = self.push(s);
                    self.collided.insert(s.to_string(), i);
                    i
                }
            },
            None => {
                let i = self.push(s);
                self.index.insert(h, i);
                i
            }
        }
    }

    fn push(&mut self, s: &str) -> u32 {
        let i = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        self.bytes += s.len() + 2;
        i
    }
    fn with_capacity(n: usize) -> Dict {
        Dict { index: WordMap::with_capacity_and_hasher(n, Default::default()), ends: Vec::with_capacity(n), ..Dict::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of all strings, one after another, and where each ends.
    pub(crate) fn text_and_ends(&self) -> (&str, &[u32]) {
        (&self.text, &self.ends)
    }

    pub(crate) fn get(&self, i: u32) -> Option<&str> {
        let end = *self.ends.get(i as usize)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i as usize - 1] as usize };
        Some(&self.text[start..end])
    }

    fn item(&self, i: u32) -> &str {
        self.get(i).expect("an id this dictionary handed out")
    }

    fn items(&self) -> impl Iterator<Item = &str> {
        (0..self.len() as u32).map(|i| self.item(i))
    }

    fn write(&self, out: &mut Vec<u8>) {
        put_uvar(out, self.len() as u64);
        for s in self.items() {
            put_str(out, s);
        }
    }

    /// Writes the items as a CID table: prefixes, then runs of binary digests or texts.
    fn write_cids(&self, out: &mut Vec<u8>) {
        // (prefix bytes, digest length); a digest's tag is its prefix's index + 1.
        let mut prefixes: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut scratch = Vec::with_capacity(self.len() * 38);
        // (tag, digest start, digest end) in `scratch`; tag 0 = kept as text.
        let mut entries: Vec<(usize, usize, usize)> = Vec::with_capacity(self.len());
        for s in self.items() {
            let start = scratch.len();
            let Some(l) = v1_text_to_bytes(s, &mut scratch) else {
                entries.push((0, 0, 0));
                continue;
            };
            let prefix = &scratch[start..start + l.prefix_len];
            let tag = match prefixes.iter().position(|(p, _)| p.as_slice() == prefix) {
                Some(i) => i + 1,
                None => {
                    prefixes.push((prefix.to_vec(), l.digest_len));
                    prefixes.len()
                }
            };
            entries.push((tag, start + l.prefix_len, scratch.len()));
        }
        put_uvar(out, prefixes.len() as u64);
        for (p, digest_len) in &prefixes {
            put_uvar(out, *digest_len as u64);
            put_uvar(out, p.len() as u64);
            out.extend_from_slice(p);
        }
        put_uvar(out, self.len() as u64);
        let mut i = 0;
        while i < entries.len() {
            let tag = entries[i].0;
            let run = entries[i..].iter().take_while(|e| e.0 == tag).count();
            put_uvar(out, tag as u64);
            put_uvar(out, run as u64);
            for (k, e) in entries[i..i + run].iter().enumerate() {
                if tag == 0 {
                    put_str(out, self.item((i + k) as u32));
                } else {
                    out.extend_from_slice(&scratch[e.1..e.2]);
                }
            }
            i += run;
        }
    }
}

/// Accumulates events of one kind from one source into a segment.
pub struct SegmentBuilder {
    pub kind: EventKind,
    /// Line of the first event: with the source it makes the segment's id.
    pub first_line: u64,
    pub last_line: u64,
    pub count: usize,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    pub min_height: Option<i64>,
    pub max_height: Option<i64>,
    strings: Dict,
    cids: Dict,
    body: Vec<u8>,
    prev: Previous,
    /// Reused for comparing texts.
    scratch: String,
}

/// What an event is coded relative to: the previous event of the segment (both directions
/// keep the same state).
struct Previous {
    line: u64,
    flags: u32,
    ts: i64,
    zone: Option<(i32, u8)>,
    height: i64,
    /// The last CID reference written.
    cid_ref: i64,
    /// The last head change's `To`, as references.
    to: Option<Vec<u32>>,
}

impl Previous {
    fn new(first_line: u64) -> Previous {
        Previous { line: first_line, flags: 0, ts: 0, zone: None, height: 0, cid_ref: -1, to: None }
    }
}

/// An event's fields, borrowed: what [`SegmentBuilder::push`] (from an [`Event`]) and
/// [`SegmentBuilder::push_head_change`] (from a line read in place) both write.
struct Parts<'a, T: AsRef<str>> {
    kind: EventKind,
    line: u64,
    line_count: u32,
    ts: Option<Timestamp>,
    level: Option<&'static str>,
    logger: Option<&'a str>,
    caller: Option<&'a str>,
    height: Option<i64>,
    worker: Option<u64>,
    miner: Option<&'a str>,
    delay_s: Option<f64>,
    duration_ms: Option<f64>,
    peer: Option<&'a str>,
    cids: &'a [T],
    text: &'a str,
    problem: Option<&'a str>,
    /// System, Event, raw Data.
    journal: Option<(&'a str, &'a str, Option<&'a str>)>,
    head: Option<HeadParts<'a, T>>,
    /// The CIDs are the head change's To then From (not stored).
    head_cids: bool,
    /// The text is the head change's (not stored).
    head_text: bool,
}

struct HeadParts<'a, T> {
    from: &'a [T],
    to: &'a [T],
    from_height: i64,
    to_height: i64,
    revert_count: i64,
    apply_count: i64,
}

/// [`head_change_text`] without its allocation, for comparing.
struct HeadText(i64, i64, i64, i64);

impl std::fmt::Display for HeadText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "head_change {}→{} revert={} apply={}", self.0, self.1, self.2, self.3)
    }
}

impl SegmentBuilder {
    pub fn new(kind: EventKind, first_line: u64) -> SegmentBuilder {
        SegmentBuilder {
            kind,
            first_line,
            last_line: first_line,
            count: 0,
            min_ts: None,
            max_ts: None,
            min_height: None,
            max_height: None,
            strings: Dict::with_capacity(16),
            cids: Dict::with_capacity(256),
            body: Vec::with_capacity(64 * 1024),
            prev: Previous::new(first_line),
            scratch: String::new(),
        }
    }

    /// Starts a new segment in this builder, keeping the memory its tables and body grew to
    /// (a head-change segment's CID table is ~300 KB: built afresh for each segment, its
    /// growth and the kernel's zeroing of fresh pages were a tenth of a parser's time).
    pub fn reset(&mut self, kind: EventKind, first_line: u64) {
        self.kind = kind;
        self.first_line = first_line;
        self.last_line = first_line;
        self.count = 0;
        self.min_ts = None;
        self.max_ts = None;
        self.min_height = None;
        self.max_height = None;
        self.strings.clear();
        self.cids.clear();
        self.body.clear();
        self.prev = Previous::new(first_line);
    }

    /// True once the segment should be closed before taking another event.
    pub fn is_full(&self) -> bool {
        self.count >= SEGMENT_EVENTS || self.body.len() + self.strings.bytes + self.cids.bytes >= SEGMENT_BYTES
    }

    fn put_ref(b: &mut Vec<u8>, prev: &mut Previous, r: u32) {
        put_ivar(b, r as i64 - (prev.cid_ref + 1));
        prev.cid_ref = r as i64;
    }

    /// Appends one event. Its kind must be the segment's and its line must not precede the last.
    pub fn push(&mut self, ev: &Event) {
        let hc = ev.head_change.as_ref();
        // What a head change lets the decoder rebuild instead of reading.
        let head_cids = hc.is_some_and(|h| !ev.cids.is_empty() && ev.cids.len() == h.to.len() + h.from.len() && ev.cids[..h.to.len()] == h.to[..] && ev.cids[h.to.len()..] == h.from[..]);
        let head_text = hc.is_some_and(|h| {
            use std::fmt::Write;
            self.scratch.clear();
            let _ = write!(self.scratch, "{}", HeadText(h.from_height, h.to_height, h.revert_count, h.apply_count));
            ev.text == self.scratch
        });
        self.push_parts(Parts {
            kind: ev.kind,
            line: ev.line,
            line_count: ev.line_count,
            ts: ev.ts,
            level: ev.level,
            logger: ev.logger.as_deref(),
            caller: ev.caller.as_deref(),
            height: ev.height,
            worker: ev.worker,
            miner: ev.miner.as_deref(),
            delay_s: ev.delay_s,
            duration_ms: ev.duration_ms,
            peer: ev.peer.as_deref(),
            cids: &ev.cids,
            text: &ev.text,
            problem: ev.problem.as_deref(),
            journal: ev.journal.as_ref().map(|j| (&*j.system, &*j.event, j.raw_data.as_deref())),
            head: hc.map(|h| HeadParts { from: &h.from, to: &h.to, from_height: h.from_height, to_height: h.to_height, revert_count: h.revert_count, apply_count: h.apply_count }),
            head_cids,
            head_text,
        });
    }

    /// Appends a journal head change read in place: exactly the bytes [`SegmentBuilder::push`]
    /// writes for its event (`HeadChangeRef::to_event`; a test holds the two equal).
    pub fn push_head_change(&mut self, r: &HeadChangeRef<'_>) {
        let (from, to) = (r.from.as_slice(), r.to.as_slice());
        self.push_parts(Parts {
            kind: EventKind::HeadChange,
            line: r.line,
            line_count: 1,
            ts: Some(r.ts),
            level: None,
            logger: None,
            caller: None,
            height: Some(r.to_height),
            worker: None,
            miner: None,
            delay_s: None,
            duration_ms: None,
            peer: None,
            // The event's CIDs are To then From: rebuilt from the lists (HEAD_CIDS), or none.
            cids: &[],
            text: "",
            problem: None,
            journal: Some((SYSTEM_SYNC, EVENT_HEAD_CHANGE, None)),
            head: Some(HeadParts { from, to, from_height: r.from_height, to_height: r.to_height, revert_count: r.revert_count, apply_count: r.apply_count }),
            head_cids: !(from.is_empty() && to.is_empty()),
            head_text: true,
        });
    }

    fn push_parts<T: AsRef<str>>(&mut self, ev: Parts<'_, T>) {
        debug_assert_eq!(ev.kind, self.kind);
        debug_assert!(ev.line >= self.prev.line);
        let hc = ev.head.as_ref();
        let (head_cids, head_text) = (ev.head_cids, ev.head_text);
        let cut = if ev.cids.is_empty() || head_text { None } else { find_cid_list(ev.text, ev.cids) };
        // The head change's lists as references (the dictionary learns them in list order). A
        // `From` that is the last `To` — nearly every one — is compared, not hashed again.
        let head_refs = hc.map(|h| {
            let from: Vec<u32> = match &self.prev.to {
                Some(to) if to.len() == h.from.len() && to.iter().zip(h.from.iter()).all(|(r, c)| self.cids.item(*r) == c.as_ref()) => to.clone(),
                _ => h.from.iter().map(|c| self.cids.id(c.as_ref())).collect(),
            };
            let to: Vec<u32> = h.to.iter().map(|c| self.cids.id_slow(c.as_ref())).collect();
            (from, to)
        });
        let from_prev_to = head_refs.as_ref().is_some_and(|(from, _)| self.prev.to.as_deref() == Some(from.as_slice()));
        let zone = ev.ts.map(|t| (t.offset_secs, t.frac_digits));
        let mut flags = 0u32;
        let mut set = |cond: bool, bit: u32| {
            if cond {
                flags |= bit;
            }
        };
        set(ev.ts.is_some(), TS);
        set(ev.ts.map(|t| t.zone_known).unwrap_or(false), ZONE_KNOWN);
        set(zone.is_some() && zone != self.prev.zone, ZONE);
        set(ev.line_count != 1, LINES);
        set(ev.level.and_then(level_index).is_some(), LEVEL);
        set(ev.logger.is_some(), LOGGER);
        set(ev.caller.is_some(), CALLER);
        set(ev.height.is_some(), HEIGHT);
        set(ev.worker.is_some(), WORKER);
        set(ev.miner.is_some(), MINER);
        set(ev.delay_s.is_some(), DELAY);
        set(ev.duration_ms.is_some(), DURATION);
        set(ev.peer.is_some(), PEER);
        set(!ev.cids.is_empty() && !head_cids, CIDS);
        set(head_cids, HEAD_CIDS);
        set(head_text, HEAD_TEXT);
        set(cut.is_some(), TEXT_CUT);
        set(ev.problem.is_some(), PROBLEM);
        set(ev.journal.is_some(), JOURNAL);
        set(ev.journal.is_some_and(|j| j.2.is_some()), RAW);
        set(hc.is_some(), HEAD);
        set(from_prev_to, FROM_PREV_TO);
        let b = &mut self.body;
        let prev = &mut self.prev;
        put_uvar(b, ev.line.saturating_sub(prev.line));
        prev.line = ev.line;
        self.last_line = ev.line;
        put_uvar(b, (flags ^ prev.flags) as u64);
        prev.flags = flags;
        if ev.line_count != 1 {
            put_uvar(b, ev.line_count as u64);
        }
        if let Some(ts) = ev.ts {
            if flags & ZONE != 0 {
                put_ivar(b, ts.offset_secs as i64);
                b.push(ts.frac_digits);
                prev.zone = zone;
            }
            put_ivar(b, ts.unix_nanos.wrapping_sub(prev.ts));
            prev.ts = ts.unix_nanos;
            self.min_ts = Some(self.min_ts.map_or(ts.unix_nanos, |m| m.min(ts.unix_nanos)));
            self.max_ts = Some(self.max_ts.map_or(ts.unix_nanos, |m| m.max(ts.unix_nanos)));
        }
        if let Some(i) = ev.level.and_then(level_index) {
            b.push(i);
        }
        let strings = &mut self.strings;
        for s in [ev.logger, ev.caller].into_iter().flatten() {
            put_uvar(b, strings.id(s) as u64);
        }
        if let Some(h) = ev.height {
            put_ivar(b, h.wrapping_sub(prev.height));
            prev.height = h;
            self.min_height = Some(self.min_height.map_or(h, |m| m.min(h)));
            self.max_height = Some(self.max_height.map_or(h, |m| m.max(h)));
        }
        if let Some(w) = ev.worker {
            put_uvar(b, w);
        }
        if let Some(m) = ev.miner {
            put_uvar(b, strings.id(m) as u64);
        }
        if let Some(d) = ev.delay_s {
            b.extend_from_slice(&d.to_le_bytes());
        }
        if let Some(d) = ev.duration_ms {
            b.extend_from_slice(&d.to_le_bytes());
        }
        if let Some(p) = ev.peer {
            put_uvar(b, strings.id(p) as u64);
        }
        if flags & CIDS != 0 {
            put_uvar(b, ev.cids.len() as u64);
            for c in ev.cids {
                let r = self.cids.id_slow(c.as_ref());
                Self::put_ref(b, prev, r);
            }
        }
        if !head_text {
            match cut {
                Some((start, end)) => {
                    put_uvar(b, (ev.text.len() - (end - start)) as u64);
                    b.extend_from_slice(&ev.text.as_bytes()[..start]);
                    b.extend_from_slice(&ev.text.as_bytes()[end..]);
                    put_uvar(b, start as u64);
                }
                None => put_str(b, ev.text),
            }
        }
        if let Some(p) = ev.problem {
            put_str(b, p);
        }
        if let Some((system, event, raw)) = ev.journal {
            put_uvar(b, strings.id(system) as u64);
            put_uvar(b, strings.id(event) as u64);
            if let Some(r) = raw {
                put_str(b, r);
            }
        }
        if let (Some(hc), Some((from, to))) = (hc, head_refs) {
            put_ivar(b, hc.to_height.wrapping_sub(ev.height.unwrap_or(0)));
            put_ivar(b, hc.from_height.wrapping_sub(hc.to_height));
            put_ivar(b, hc.revert_count);
            put_ivar(b, hc.apply_count);
            if !from_prev_to {
                put_uvar(b, from.len() as u64);
                for r in &from {
                    Self::put_ref(b, prev, *r);
                }
            }
            put_uvar(b, to.len() as u64);
            for r in &to {
                Self::put_ref(b, prev, *r);
            }
            prev.to = Some(to);
        }
        self.count += 1;
    }

    /// The segment's blob.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + self.strings.bytes + self.cids.len() * 34 + 16);
        out.push(FORMAT_VERSION);
        self.strings.write(&mut out);
        self.cids.write_cids(&mut out);
        put_uvar(&mut out, self.count as u64);
        out.extend_from_slice(&self.body);
        out
    }

    /// The distinct CIDs the segment's events name.
    pub fn cids(&self) -> impl Iterator<Item = &str> {
        self.cids.items()
    }
}

fn level_index(l: &str) -> Option<u8> {
    LEVELS.iter().position(|x| *x == l).map(|i| i as u8)
}

/// Where `[c1 c2 …]` — the event's CID list as Lotus prints a tipset — appears in `text`.
fn find_cid_list<T: AsRef<str>>(text: &str, cids: &[T]) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'[', &bytes[from..]) {
        let start = from + i;
        let mut pos = start + 1;
        let mut ok = true;
        for (k, c) in cids.iter().map(AsRef::as_ref).enumerate() {
            if k > 0 {
                if bytes.get(pos) != Some(&b' ') {
                    ok = false;
                    break;
                }
                pos += 1;
            }
            if !bytes[pos.min(bytes.len())..].starts_with(c.as_bytes()) {
                ok = false;
                break;
            }
            pos += c.len();
        }
        if ok && bytes.get(pos) == Some(&b']') {
            return Some((start, pos + 1));
        }
        from = start + 1;
    }
    None
}

fn put_uvar(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_ivar(out: &mut Vec<u8>, v: i64) {
    put_uvar(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvar(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A bounds-checked cursor over a blob.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8, SegmentError> {
        let v = *self.b.get(self.pos).ok_or(SegmentError("truncated"))?;
        self.pos += 1;
        Ok(v)
    }
    fn uvar(&mut self) -> Result<u64, SegmentError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SegmentError("varint too long"))
    }
    fn ivar(&mut self) -> Result<i64, SegmentError> {
        let u = self.uvar()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn len(&mut self) -> Result<usize, SegmentError> {
        let n = self.uvar()?;
        if n > (self.b.len() - self.pos) as u64 {
            return Err(SegmentError("length past the end"));
        }
        Ok(n as usize)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], SegmentError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(SegmentError("truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn str(&mut self) -> Result<&'a str, SegmentError> {
        let n = self.len()?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| SegmentError("invalid UTF-8"))
    }
    fn f64(&mut self) -> Result<f64, SegmentError> {
        let b = self.bytes(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn index(&mut self, len: usize) -> Result<usize, SegmentError> {
        let i = self.uvar()?;
        if i >= len as u64 {
            return Err(SegmentError("index out of range"));
        }
        Ok(i as usize)
    }
}

/// One event as stored, borrowing its strings from the blob. Reports filter on these and
/// materialise only what they keep ([`EventView::to_event`]). `Default` is a view of no event,
/// for [`EventDecoder::next_into`] to fill.
#[derive(Clone, Debug, Default)]
pub struct EventView<'a> {
    pub line: u64,
    pub line_count: u32,
    pub ts: Option<Timestamp>,
    pub level: Option<&'static str>,
    pub logger: Option<&'a str>,
    pub caller: Option<&'a str>,
    pub height: Option<i64>,
    pub worker: Option<u64>,
    pub miner: Option<&'a str>,
    pub delay_s: Option<f64>,
    pub duration_ms: Option<f64>,
    pub peer: Option<&'a str>,
    /// Indices into the segment's CID table, in the event's order.
    pub cid_refs: Vec<u32>,
    /// The text with the CID list cut out, and where it was cut.
    text_rest: &'a str,
    text_cut: Option<usize>,
    /// The text is the head change's own (rebuilt, not stored).
    head_text: bool,
    pub problem: Option<&'a str>,
    pub system: Option<&'a str>,
    pub event: Option<&'a str>,
    pub raw_data: Option<&'a str>,
    pub head: Option<HeadView>,
}

/// The typed `Data` of a journal head change, CIDs as indices.
#[derive(Clone, Debug, Default)]
pub struct HeadView {
    pub from_height: i64,
    pub to_height: i64,
    pub revert_count: i64,
    pub apply_count: i64,
    pub from: Vec<u32>,
    pub to: Vec<u32>,
}

impl HeadView {
    /// The domain head change, its CIDs resolved through the segment's table.
    pub fn to_head_change(&self, seg: &SegmentReader<'_>) -> HeadChange {
        let texts = |v: &[u32]| v.iter().map(|i| seg.cid(*i).to_string()).collect();
        HeadChange {
            from: texts(&self.from),
            from_height: self.from_height,
            to: texts(&self.to),
            to_height: self.to_height,
            revert_count: self.revert_count,
            apply_count: self.apply_count,
        }
    }
}

/// A decoded segment header; iterate its events with [`SegmentReader::events`].
pub struct SegmentReader<'a> {
    pub kind: EventKind,
    strings: Vec<&'a str>,
    /// The CID table as stored; a digest is printed as text the first time it is asked for (a
    /// trace names a few CIDs of a segment of thousands).
    cids: Vec<CidEntry<'a>>,
    texts: Vec<std::cell::OnceCell<String>>,
    count: usize,
    body: Cursor<'a>,
}

/// A segment's CID table as text ([`SegmentReader::fill_cid_texts`]).
#[derive(Default)]
pub struct CidTextTable {
    text: String,
    ends: Vec<usize>,
}

impl CidTextTable {
    /// The text of the CID with this index in the segment's table.
    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// A CIDv1's text from its stored prefix and digest, appended to `out`.
fn push_digest_text(prefix: &[u8], digest: &[u8], out: &mut String) {
    // Joined on the stack: base32 groups run across the two (every CID of this chain fits;
    // a longer one is joined on the heap).
    let mut bytes = [0u8; 160];
    let n = prefix.len() + digest.len();
    if n > bytes.len() {
        return v1_bytes_to_text(&[prefix, digest].concat(), out);
    }
    bytes[..prefix.len()].copy_from_slice(prefix);
    bytes[prefix.len()..n].copy_from_slice(digest);
    v1_bytes_to_text(&bytes[..n], out)
}

/// One entry of a segment's CID table.
#[derive(Clone, Copy)]
enum CidEntry<'a> {
    Text(&'a str),
    /// A CIDv1: its prefix's bytes, then its digest.
    Digest(&'a [u8], &'a [u8]),
}

impl<'a> SegmentReader<'a> {
    pub fn new(kind: EventKind, blob: &'a [u8]) -> Result<SegmentReader<'a>, SegmentError> {
        let mut c = Cursor { b: blob, pos: 0 };
        if c.u8()? != FORMAT_VERSION {
            return Err(SegmentError("unknown format version"));
        }
        let n = c.len()?;
        let strings = (0..n).map(|_| c.str()).collect::<Result<Vec<_>, _>>()?;
        let n_prefixes = c.len()?;
        let mut prefixes: Vec<(usize, &'a [u8])> = Vec::with_capacity(n_prefixes);
        for _ in 0..n_prefixes {
            let digest_len = c.uvar()? as usize;
            if digest_len > lsync_core::cid_bytes::MAX_DIGEST {
                return Err(SegmentError("CID digest length"));
            }
            let len = c.len()?;
            prefixes.push((digest_len, c.bytes(len)?));
        }
        let n_cids = c.len()?;
        let mut cids: Vec<CidEntry<'a>> = Vec::with_capacity(n_cids);
        while cids.len() < n_cids {
            let tag = c.uvar()? as usize;
            let run = c.len()?;
            if run == 0 || run > n_cids - cids.len() {
                return Err(SegmentError("CID run length"));
            }
            if tag == 0 {
                for _ in 0..run {
                    cids.push(CidEntry::Text(c.str()?));
                }
                continue;
            }
            let &(digest_len, prefix) = prefixes.get(tag - 1).ok_or(SegmentError("CID prefix"))?;
            for _ in 0..run {
                cids.push(CidEntry::Digest(prefix, c.bytes(digest_len)?));
            }
        }
        let count = c.len()?;
        let texts = (0..cids.len()).map(|_| std::cell::OnceCell::new()).collect();
        Ok(SegmentReader { kind, strings, cids, texts, count, body: c })
    }

    /// The segment's distinct CIDs, as text.
    pub fn cid_texts(&self) -> impl Iterator<Item = &str> {
        (0..self.cids.len() as u32).map(|i| self.cid(i))
    }

    /// True when the CID of this index was stored as its text (not canonical CIDv1: a CIDv0,
    /// or one a paste damaged); a CID stored as a digest is valid by construction.
    pub fn cid_stored_as_text(&self, i: u32) -> bool {
        matches!(self.cids[i as usize], CidEntry::Text(_))
    }

    /// The CID text of an index from an [`EventView`].
    pub fn cid(&self, i: u32) -> &str {
        match self.cids[i as usize] {
            CidEntry::Text(t) => t,
            CidEntry::Digest(prefix, digest) => self.texts[i as usize].get_or_init(|| {
                let mut text = String::with_capacity(64);
                push_digest_text(prefix, digest, &mut text);
                text
            }),
        }
    }

    /// Every CID of the table as text into `table` (its memory reused): for a reader that
    /// prints them all, as an export does, one string instead of one allocation per CID.
    pub fn fill_cid_texts(&self, table: &mut CidTextTable) {
        table.text.clear();
        table.ends.clear();
        table.ends.reserve(self.cids.len());
        for e in &self.cids {
            match *e {
                CidEntry::Text(t) => table.text.push_str(t),
                CidEntry::Digest(prefix, digest) => push_digest_text(prefix, digest, &mut table.text),
            }
            table.ends.push(table.text.len());
        }
    }

    /// The index of `cid` in this segment's CID table, if any event names it (compared as
    /// bytes, without printing the table).
    pub fn find_cid(&self, cid: &str) -> Option<u32> {
        let mut bytes = Vec::with_capacity(48);
        let layout = v1_text_to_bytes(cid, &mut bytes);
        self.cids
            .iter()
            .position(|e| match (*e, layout) {
                (CidEntry::Text(t), _) => t == cid,
                (CidEntry::Digest(prefix, digest), Some(l)) => digest == &bytes[l.prefix_len..] && prefix == &bytes[..l.prefix_len],
                (CidEntry::Digest(..), None) => false,
            })
            .map(|i| i as u32)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decodes every event, relative to the segment's first line.
    pub fn events(&self, first_line: u64) -> Result<Vec<EventView<'a>>, SegmentError> {
        let mut decoder = self.decoder(first_line);
        let mut out = Vec::with_capacity(self.count);
        loop {
            // A view of its own for each event: the list's views outlive the loop.
            let mut view = EventView::default();
            if !decoder.next_into(&mut view)? {
                return Ok(out);
            }
            out.push(view);
        }
    }

    /// The events one at a time into a view the caller keeps, relative to the segment's first
    /// line: a scan of millions of events then allocates nothing per event (its CID lists reuse
    /// the view's), where [`events`](Self::events) makes a list and every event's own lists.
    pub fn decoder<'r>(&'r self, first_line: u64) -> EventDecoder<'r, 'a> {
        EventDecoder { seg: self, c: Cursor { b: self.body.b, pos: self.body.pos }, prev: Previous::new(first_line), left: self.count, spare_head: None }
    }
}

/// Decodes a segment's events in order into a caller's [`EventView`]; from
/// [`SegmentReader::decoder`].
pub struct EventDecoder<'r, 'a> {
    seg: &'r SegmentReader<'a>,
    c: Cursor<'a>,
    prev: Previous,
    left: usize,
    /// The lists of a head change, kept while the view holds an event that is not one.
    spare_head: Option<HeadView>,
}

impl<'a> EventDecoder<'_, 'a> {
    /// Decodes the next event into `v` (every field overwritten, its lists' memory reused);
    /// false when the segment has no more.
    pub fn next_into(&mut self, v: &mut EventView<'a>) -> Result<bool, SegmentError> {
        if self.left == 0 {
            return Ok(false);
        }
        self.left -= 1;
        let decoded = self.decode_into(v);
        if decoded.is_err() {
            // What follows a corrupt event cannot be trusted: the decoder ends there.
            self.left = 0;
        }
        decoded.map(|()| true)
    }

    fn decode_into(&mut self, v: &mut EventView<'a>) -> Result<(), SegmentError> {
        let seg = self.seg;
        let (c, prev) = (&mut self.c, &mut self.prev);
        let ns = seg.strings.len();
        let nc = seg.cids.len();
        let refs_into = |c: &mut Cursor<'a>, prev: &mut Previous, out: &mut Vec<u32>| -> Result<(), SegmentError> {
            let n = c.len()?;
            out.clear();
            out.reserve(n);
            for _ in 0..n {
                let r = (prev.cid_ref + 1).wrapping_add(c.ivar()?);
                if !(0..nc as i64).contains(&r) {
                    return Err(SegmentError("index out of range"));
                }
                prev.cid_ref = r;
                out.push(r as u32);
            }
            Ok(())
        };
        let line = prev.line.checked_add(c.uvar()?).ok_or(SegmentError("line overflow"))?;
        prev.line = line;
        let flags = u32::try_from(c.uvar()?).ok().filter(|f| f & !ALL_FLAGS == 0).ok_or(SegmentError("flags"))? ^ prev.flags;
        prev.flags = flags;
        let has = |bit: u32| flags & bit != 0;
        v.line = line;
        v.line_count = if has(LINES) { u32::try_from(c.uvar()?).map_err(|_| SegmentError("line count"))? } else { 1 };
        v.ts = if has(TS) {
            if has(ZONE) {
                let off = i32::try_from(c.ivar()?).map_err(|_| SegmentError("offset"))?;
                let frac = c.u8()?;
                if frac > 9 {
                    return Err(SegmentError("fraction digits"));
                }
                prev.zone = Some((off, frac));
            }
            let (off, frac) = prev.zone.ok_or(SegmentError("time zone"))?;
            prev.ts = prev.ts.wrapping_add(c.ivar()?);
            Some(Timestamp { unix_nanos: prev.ts, offset_secs: off, frac_digits: frac, zone_known: has(ZONE_KNOWN) })
        } else {
            None
        };
        v.level = if has(LEVEL) { Some(*LEVELS.get(c.u8()? as usize).ok_or(SegmentError("level"))?) } else { None };
        let string = |c: &mut Cursor<'a>, bit: u32| -> Result<Option<&'a str>, SegmentError> { Ok(if has(bit) { Some(seg.strings[c.index(ns)?]) } else { None }) };
        v.logger = string(c, LOGGER)?;
        v.caller = string(c, CALLER)?;
        v.height = if has(HEIGHT) {
            prev.height = prev.height.wrapping_add(c.ivar()?);
            Some(prev.height)
        } else {
            None
        };
        v.worker = if has(WORKER) { Some(c.uvar()?) } else { None };
        v.miner = string(c, MINER)?;
        v.delay_s = if has(DELAY) { Some(c.f64()?) } else { None };
        v.duration_ms = if has(DURATION) { Some(c.f64()?) } else { None };
        v.peer = string(c, PEER)?;
        if has(CIDS) {
            refs_into(c, prev, &mut v.cid_refs)?;
        } else {
            v.cid_refs.clear();
        }
        (v.text_rest, v.text_cut) = if has(HEAD_TEXT) {
            ("", None)
        } else {
            let text_rest = c.str()?;
            let text_cut = if has(TEXT_CUT) {
                let at = c.uvar()? as usize;
                if at > text_rest.len() || !text_rest.is_char_boundary(at) {
                    return Err(SegmentError("text cut position"));
                }
                Some(at)
            } else {
                None
            };
            (text_rest, text_cut)
        };
        v.head_text = has(HEAD_TEXT);
        v.problem = if has(PROBLEM) { Some(c.str()?) } else { None };
        (v.system, v.event) = if has(JOURNAL) { (Some(seg.strings[c.index(ns)?]), Some(seg.strings[c.index(ns)?])) } else { (None, None) };
        v.raw_data = if has(RAW) { Some(c.str()?) } else { None };
        if has(HEAD) {
            let to_height = c.ivar()?.wrapping_add(v.height.unwrap_or(0));
            let from_height = c.ivar()?.wrapping_add(to_height);
            let revert_count = c.ivar()?;
            let apply_count = c.ivar()?;
            let mut h = v.head.take().or_else(|| self.spare_head.take()).unwrap_or_default();
            (h.from_height, h.to_height, h.revert_count, h.apply_count) = (from_height, to_height, revert_count, apply_count);
            if has(FROM_PREV_TO) {
                let to = prev.to.as_ref().ok_or(SegmentError("no previous head change"))?;
                h.from.clear();
                h.from.extend_from_slice(to);
            } else {
                refs_into(c, prev, &mut h.from)?;
            }
            refs_into(c, prev, &mut h.to)?;
            let last_to = prev.to.get_or_insert_with(Vec::new);
            last_to.clear();
            last_to.extend_from_slice(&h.to);
            if has(HEAD_CIDS) {
                v.cid_refs.clear();
                v.cid_refs.extend(h.to.iter().chain(&h.from));
            }
            v.head = Some(h);
        } else if let Some(h) = v.head.take() {
            self.spare_head = Some(h);
        }
        if has(HEAD_CIDS) && v.head.as_ref().is_none_or(|h| h.from.is_empty() && h.to.is_empty()) {
            return Err(SegmentError("head change CIDs without a head change"));
        }
        Ok(())
    }
}

impl EventView<'_> {
    /// The CID texts of the event, in order.
    pub fn cids(&self, seg: &SegmentReader<'_>) -> Vec<String> {
        self.cid_refs.iter().map(|i| seg.cid(*i).to_string()).collect()
    }

    /// True when the event names the CID with this segment index.
    pub fn names(&self, cid_index: u32) -> bool {
        self.cid_refs.contains(&cid_index)
    }

    /// The event's text as it was parsed.
    pub fn text(&self, seg: &SegmentReader<'_>) -> String {
        let mut s = String::with_capacity(self.text_rest.len() + self.cid_refs.len() * 64 + 2);
        self.write_text(seg, &mut s);
        s
    }

    /// [`text`](Self::text) appended to `out`.
    pub fn write_text(&self, seg: &SegmentReader<'_>, out: &mut String) {
        self.write_text_with(|i| seg.cid(i), out)
    }

    /// [`write_text`](Self::write_text) with the CIDs' texts from `cid_text` (by index in the
    /// segment's table: a [`CidTextTable`]'s, say).
    pub fn write_text_with<'t>(&self, cid_text: impl Fn(u32) -> &'t str, out: &mut String) {
        if self.head_text {
            if let Some(h) = &self.head {
                lsync_core::journal::write_head_change_text(out, h.from_height, h.to_height, h.revert_count, h.apply_count);
                return;
            }
        }
        match self.text_cut {
            None => out.push_str(self.text_rest),
            Some(at) => {
                out.push_str(&self.text_rest[..at]);
                out.push('[');
                for (k, i) in self.cid_refs.iter().enumerate() {
                    if k > 0 {
                        out.push(' ');
                    }
                    out.push_str(cid_text(*i));
                }
                out.push(']');
                out.push_str(&self.text_rest[at..]);
            }
        }
    }

    /// The event exactly as it was encoded.
    pub fn to_event(&self, seg: &SegmentReader<'_>) -> Event {
        let mut ev = Event::new(seg.kind, self.line, self.text(seg));
        ev.line_count = self.line_count;
        ev.ts = self.ts;
        ev.level = self.level;
        ev.logger = self.logger.map(std::sync::Arc::from);
        ev.caller = self.caller.map(std::sync::Arc::from);
        ev.cids = self.cids(seg);
        ev.height = self.height;
        ev.worker = self.worker;
        ev.miner = self.miner.map(str::to_string);
        ev.delay_s = self.delay_s;
        ev.duration_ms = self.duration_ms;
        ev.peer = self.peer.map(str::to_string);
        ev.problem = self.problem.map(str::to_string);
        if let (Some(system), Some(event)) = (self.system, self.event) {
            ev.journal = Some(JournalMeta { system: Arc::from(system), event: Arc::from(event), raw_data: self.raw_data.map(str::to_string) });
        }
        ev.head_change = self.head.as_ref().map(|h| h.to_head_change(seg));
        ev
    }
}

/// Characters of a CID text that [`cid_key`] orders by (after [`KEY_PREFIX_CHARS`]).
pub const KEY_CHARS: usize = 12;
/// Leading characters that only pick one of eight key buckets: multibase, version, codec and
/// hash function — `bafy2bzace` for every Filecoin block — carry no entropy.
pub const KEY_PREFIX_CHARS: usize = 10;

/// A character's rank among the base32 alphabet in ASCII order (`2`–`7` before `a`–`z`), so
/// that keys sort like texts. Other characters (base58, upper case) fold into the same range;
/// that only makes keys collide, which lookups tolerate.
fn rank(c: u8) -> u64 {
    RANK[c as usize] as u64
}

/// [`rank`] of every byte.
const RANK: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'2'..=b'7' => b - b'2',
            b'a'..=b'z' => b - b'a' + 6,
            _ => b & 31,
        };
        c += 1;
    }
    t
};

fn bucket(prefix: &[u8]) -> u64 {
    // Every Filecoin block CID starts with these ten characters.
    const BLOCK: &[u8] = b"bafy2bzace";
    const BLOCK_BUCKET: u64 = fnv_bucket(BLOCK);
    if prefix == BLOCK {
        return BLOCK_BUCKET;
    }
    fnv_bucket(prefix)
}

const fn fnv_bucket(prefix: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < prefix.len() {
        h ^= prefix[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h & 7
}

#[cfg(test)]
fn bucket_by_hasher(prefix: &[u8]) -> u64 {
    let mut h = Fnv::default();
    std::hash::Hasher::write(&mut h, prefix);
    std::hash::Hasher::finish(&h) & 7
}

/// The 63-bit key of a CID in `cid_postings`: 3 bits from its first 10 characters, then its
/// next 12 characters at 5 bits each. Among CIDs sharing the first 10 characters, keys sort
/// like the texts, which lets [`key_range`] find CIDs by a text prefix.
pub fn cid_key(cid: &str) -> i64 {
    let b = cid.as_bytes();
    let head = &b[..b.len().min(KEY_PREFIX_CHARS)];
    let mut key = bucket(head);
    let chars = b.get(KEY_PREFIX_CHARS..).unwrap_or(&[]);
    for i in 0..KEY_CHARS {
        key = (key << 5) | chars.get(i).map_or(0, |c| rank(*c));
    }
    key as i64
}

/// The inclusive key range of CIDs starting with `prefix` (which must be longer than
/// [`KEY_PREFIX_CHARS`]; characters past the key's reach are checked by the caller).
pub fn key_range(prefix: &str) -> (i64, i64) {
    let b = prefix.as_bytes();
    let fixed = b.len().saturating_sub(KEY_PREFIX_CHARS).min(KEY_CHARS);
    let mut lo = bucket(&b[..b.len().min(KEY_PREFIX_CHARS)]);
    for i in 0..fixed {
        lo = (lo << 5) | rank(b[KEY_PREFIX_CHARS + i]);
    }
    let free = 5 * (KEY_CHARS - fixed) as u32;
    let lo = lo << free;
    (lo as i64, (lo | ((1u64 << free) - 1)) as i64)
}

/// Low bits of [`cid_key`] a posting drops: postings keep 35 bits (the 3 bucket bits and the
/// next 6.4 characters). Two CIDs sharing those cost a lookup one more segment to decode (events
/// are matched by text); at 5 M distinct CIDs a GiB of journal that is ~1 lookup in 1,000.
pub const POSTING_KEY_SHIFT: u32 = 28;
/// Bits of a posting key below its bucket: the entries of one `cid_postings` row. A bucket is
/// the key's top 14 bits, of which a Filecoin block CID's fixed prefix leaves 8 free: 256
/// buckets, ~90 entries (~350 bytes) per row from a 4 MiB chunk of journal — small enough to
/// stay inside its B-tree page (rows past ~1 KB spill to overflow pages, and 32 buckets of
/// 2.4 KB rows wasted half of each).
pub const POSTING_BUCKET_SHIFT: u32 = 21;

/// The key a posting stores for a CID key.
pub fn posting_key(cid_key: i64) -> i64 {
    cid_key >> POSTING_KEY_SHIFT
}

/// The `cid_postings.bucket` of a posting key.
pub fn posting_bucket(posting_key: i64) -> i64 {
    posting_key >> POSTING_BUCKET_SHIFT
}

/// A posting block: the (posting key, segment id) pairs of one bucket in one batch, sorted, as
/// one blob: the distinct segment ids (ascending, deltas from the first), then each pair as the
/// key's low bits (delta from the last) and the segment's index. ~4 bytes a pair, where a row per
/// CID cost ~30.
pub fn encode_posting_block(pairs: &[(i64, i64)]) -> Vec<u8> {
    let mut segs: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    segs.sort_unstable();
    segs.dedup();
    let mut out = Vec::with_capacity(segs.len() * 3 + pairs.len() * 4 + 8);
    put_uvar(&mut out, segs.len() as u64);
    let mut prev = segs.first().copied().unwrap_or(0);
    for s in &segs {
        put_uvar(&mut out, (*s - prev) as u64);
        prev = *s;
    }
    put_uvar(&mut out, pairs.len() as u64);
    debug_assert!(pairs.windows(2).all(|w| w[0] <= w[1] && posting_bucket(w[0].0) == posting_bucket(w[1].0)), "one bucket, sorted");
    let mask = (1i64 << POSTING_BUCKET_SHIFT) - 1;
    let mut prev_low = 0i64;
    for (key, seg) in pairs {
        let low = key & mask;
        put_uvar(&mut out, (low - prev_low) as u64);
        prev_low = low;
        put_uvar(&mut out, segs.binary_search(seg).expect("listed above") as u64);
    }
    out
}

/// The (low key bits, segment id) pairs of a posting block whose row says `first_segment`.
pub fn decode_posting_block(b: &[u8], first_segment: i64) -> Result<Vec<(i64, i64)>, SegmentError> {
    let mut c = Cursor { b, pos: 0 };
    let n_segs = c.len()?;
    let mut segs = Vec::with_capacity(n_segs);
    let mut prev = first_segment;
    for _ in 0..n_segs {
        prev = prev.checked_add(i64::try_from(c.uvar()?).map_err(|_| SegmentError("posting segment"))?).ok_or(SegmentError("posting segment"))?;
        segs.push(prev);
    }
    let n = c.len()?;
    let mut out = Vec::with_capacity(n);
    let mut low = 0i64;
    for _ in 0..n {
        low = low.checked_add(i64::try_from(c.uvar()?).map_err(|_| SegmentError("posting key"))?).ok_or(SegmentError("posting key"))?;
        out.push((low, segs[c.index(segs.len())?]));
    }
    Ok(out)
}

/// A CID list as one blob (`head_changes.cids`, To then From): a CID listed before as the index
/// of its first place (a widening's From is in its To), each other CIDv1 as its digest when its
/// prefix is the one before it (a tipset's blocks share theirs), else as its bytes, else as text.
pub fn encode_cid_list(cids: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cids.len() * 34 + 8);
    let mut bytes = Vec::with_capacity(48);
    let mut prev_prefix: Vec<u8> = Vec::new();
    for (i, c) in cids.iter().enumerate() {
        if let Some(first) = cids[..i].iter().position(|x| x == c) {
            out.push(3);
            put_uvar(&mut out, first as u64);
            continue;
        }
        bytes.clear();
        match v1_text_to_bytes(c, &mut bytes) {
            Some(l) if !prev_prefix.is_empty() && bytes[..l.prefix_len] == prev_prefix[..] => {
                out.push(1);
                out.extend_from_slice(&bytes[l.prefix_len..]);
            }
            Some(l) => {
                out.push(2);
                put_uvar(&mut out, l.prefix_len as u64);
                put_uvar(&mut out, l.digest_len as u64);
                out.extend_from_slice(&bytes);
                prev_prefix.clear();
                prev_prefix.extend_from_slice(&bytes[..l.prefix_len]);
            }
            None => {
                out.push(0);
                put_str(&mut out, c);
            }
        }
    }
    out
}

/// The CID texts of an [`encode_cid_list`] blob.
pub fn decode_cid_list(b: &[u8]) -> Result<Vec<String>, SegmentError> {
    let mut c = Cursor { b, pos: 0 };
    let mut out = Vec::new();
    let mut prefix: &[u8] = &[];
    let mut digest_len = 0usize;
    let mut bytes = Vec::with_capacity(48);
    while c.pos < b.len() {
        let digest = match c.u8()? {
            0 => {
                out.push(c.str()?.to_string());
                continue;
            }
            3 => {
                let first = c.index(out.len())?;
                out.push(out[first].clone());
                continue;
            }
            1 if !prefix.is_empty() => c.bytes(digest_len)?,
            2 => {
                let prefix_len = c.uvar()? as usize;
                digest_len = c.uvar()? as usize;
                if prefix_len == 0 || digest_len > lsync_core::cid_bytes::MAX_DIGEST {
                    return Err(SegmentError("CID list prefix"));
                }
                prefix = c.bytes(prefix_len)?;
                c.bytes(digest_len)?
            }
            _ => return Err(SegmentError("CID list entry")),
        };
        bytes.clear();
        bytes.extend_from_slice(prefix);
        bytes.extend_from_slice(digest);
        let mut text = String::with_capacity(64);
        v1_bytes_to_text(&bytes, &mut text);
        out.push(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dict_keeps_strings_apart_when_their_hashes_collide() {
        let hash = |s: &str| {
            let mut h = WordHasher::default();
            std::hash::Hasher::write(&mut h, s.as_bytes());
            std::hash::Hasher::finish(&h)
        };
        let mut d = Dict::with_capacity(4);
        assert_eq!(d.id_slow("a"), 0);
        // Pretend "b" hashes like "a": it must get an id of its own, and keep it.
        d.index.insert(hash("b"), 0);
        assert_eq!(d.id_slow("b"), 1);
        assert_eq!(d.id_slow("b"), 1);
        assert_eq!(d.id_slow("a"), 0);
        assert_eq!(d.id_slow("c"), 2);
        assert_eq!(d.items().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn key_buckets_are_fnv_as_stored() {
        for p in [&b"bafy2bzace"[..], b"bafyreiabc", b"Qmx", b""] {
            assert_eq!(bucket(p), bucket_by_hasher(p));
        }
    }

    #[test]
    fn cid_keys_sort_like_texts_and_ranges_hold_their_prefixes() {
        let mut cids = [A, B, "bafy2bzacea2222222222222", "bafy2bzaceazzzzzzzzzzzzzz", "bafy2bzacec7aaaa"];
        cids.sort();
        let mut keys: Vec<i64> = cids.iter().map(|c| cid_key(c)).collect();
        let sorted = keys.clone();
        keys.sort();
        assert_eq!(keys, sorted);
        assert!(keys.iter().all(|k| *k >= 0));
        for c in [A, B] {
            for len in KEY_PREFIX_CHARS + 1..c.len() {
                let (lo, hi) = key_range(&c[..len]);
                assert!(lo <= cid_key(c) && cid_key(c) <= hi, "{c} {len}");
            }
        }
        let (lo, hi) = key_range(&A[..14]);
        assert!(!(lo..=hi).contains(&cid_key(B)));
        let key = |c: &str| posting_key(cid_key(c));
        let mut pairs = vec![(key(A), 1 << 41), (key(A), (3 << 40) | 7), (key(A) + 1, 5)];
        pairs.sort();
        let block = encode_posting_block(&pairs);
        let low = |k: i64| k & ((1 << POSTING_BUCKET_SHIFT) - 1);
        assert_eq!(decode_posting_block(&block, 5).unwrap(), pairs.iter().map(|(k, s)| (low(*k), *s)).collect::<Vec<_>>());
        assert!(decode_posting_block(&block[..block.len() - 1], 5).is_err());
        let list: Vec<String> = [A, B, "bafyreiabc", C, A, "bafyreiabc"].iter().map(|s| s.to_string()).collect();
        let blob = encode_cid_list(&list);
        assert_eq!(decode_cid_list(&blob).unwrap(), list);
        // Two block CIDs: 38 bytes and 32 + 1.
        assert_eq!(encode_cid_list(&list[..2]).len(), 1 + 2 + 38 + 33);
        assert!(decode_cid_list(&blob[..blob.len() - 1]).is_err());
    }

    const A: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
    const B: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";
    /// A CIDv1 of another prefix (raw codec, identity hash).
    const C: &str = "bafkqaaa";

    fn roundtrip(kind: EventKind, events: &[Event]) -> Vec<Event> {
        let mut b = SegmentBuilder::new(kind, events[0].line);
        for e in events {
            b.push(e);
        }
        let blob = b.finish();
        let r = SegmentReader::new(kind, &blob).unwrap();
        let fresh: Vec<Event> = r.events(events[0].line).unwrap().iter().map(|v| v.to_event(&r)).collect();
        // The table's texts are the reader's, and one view reused for every event (as an
        // export scans) decodes what a view each does: nothing of an event stays in the next.
        let mut table = CidTextTable::default();
        r.fill_cid_texts(&mut table);
        for (i, text) in r.cid_texts().enumerate() {
            assert_eq!(table.get(i as u32), text);
        }
        let mut decoder = r.decoder(events[0].line);
        let mut view = EventView::default();
        let mut reused = Vec::new();
        while decoder.next_into(&mut view).unwrap() {
            let mut text = String::new();
            view.write_text_with(|i| table.get(i), &mut text);
            assert_eq!(text, view.text(&r));
            reused.push(view.to_event(&r));
        }
        // Debug, not ==: a NaN delay is not equal to itself.
        assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
        fresh
    }

    #[test]
    fn sync_lines_keep_their_text_and_lose_the_repeated_cids() {
        let mut ev = Event::new(EventKind::NewHeaviest, 10, format!("New heaviest tipset! [{A} {B}] (height=7)"));
        ev.cids = vec![A.into(), B.into()];
        ev.ts = Some(Timestamp::parse("2021-11-26T09:44:30.657+0800").unwrap());
        ev.level = Some("INFO");
        ev.logger = Some("chainstore".into());
        ev.height = Some(7);
        let mut b = SegmentBuilder::new(EventKind::NewHeaviest, 10);
        b.push(&ev);
        let blob = b.finish();
        // Each CID is stored once, in the table; the text does not repeat them.
        assert!(blob.len() < 2 * A.len() + 80, "{} bytes", blob.len());
        assert_eq!(roundtrip(EventKind::NewHeaviest, &[ev.clone()]), vec![ev]);
    }

    #[test]
    fn cids_are_found_as_bytes_and_printed_when_asked() {
        let mut ev = Event::new(EventKind::SelectedTarget, 3, "t");
        ev.cids = vec![A.into(), "bafyreiabc".into(), C.into(), B.into()];
        let mut b = SegmentBuilder::new(EventKind::SelectedTarget, 3);
        b.push(&ev);
        let blob = b.finish();
        let r = SegmentReader::new(EventKind::SelectedTarget, &blob).unwrap();
        for (i, c) in ev.cids.iter().enumerate() {
            assert_eq!(r.find_cid(c), Some(i as u32), "{c}");
            assert_eq!(r.cid(i as u32), c);
        }
        assert_eq!(r.find_cid(&A.replace('c', "d")), None);
        assert_eq!(r.find_cid("bafyreiabd"), None);
        assert_eq!(r.cid_texts().collect::<Vec<_>>(), ev.cids);
    }

    #[test]
    fn a_cid_list_that_is_not_verbatim_stays_in_the_text() {
        for text in [format!("target {{{A},{B}}}"), format!("[{A}  {B}]"), format!("[{B} {A}]"), format!("[{A} {B}")] {
            let mut ev = Event::new(EventKind::SelectedTarget, 3, text);
            ev.cids = vec![A.into(), B.into()];
            assert_eq!(roundtrip(EventKind::SelectedTarget, &[ev.clone()]), vec![ev]);
        }
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let mut ev = Event::new(EventKind::WorkerStart, 1, format!("worker 3 syncing in [{A}]"));
        ev.cids = vec![A.into()];
        ev.worker = Some(3);
        let mut b = SegmentBuilder::new(EventKind::WorkerStart, 1);
        b.push(&ev);
        b.push(&ev);
        let blob = b.finish();
        for cut in 0..blob.len() {
            if let Ok(r) = SegmentReader::new(EventKind::WorkerStart, &blob[..cut]) {
                assert!(r.events(1).is_err(), "truncated at {cut} decoded");
                // A decoder stops at the error: nothing after it is decoded.
                let (mut d, mut v) = (r.decoder(1), EventView::default());
                loop {
                    match d.next_into(&mut v) {
                        Ok(true) => {}
                        Ok(false) => panic!("truncated at {cut} decoded"),
                        Err(_) => break,
                    }
                }
                assert_eq!(d.next_into(&mut v), Ok(false), "truncated at {cut}");
            }
        }
        let mut bad = blob.clone();
        bad[0] = 99;
        assert!(SegmentReader::new(EventKind::WorkerStart, &bad).is_err());
        for i in 1..blob.len() {
            let mut flipped = blob.clone();
            flipped[i] ^= 0xff;
            if let Ok(r) = SegmentReader::new(EventKind::WorkerStart, &flipped) {
                if let Ok(views) = r.events(1) {
                    for v in &views {
                        let _ = v.to_event(&r);
                    }
                }
            }
        }
    }

    fn arb_ts() -> impl Strategy<Value = Option<Timestamp>> {
        proptest::option::of((any::<i64>(), -50_400i32..50_400, 0u8..=9, any::<bool>()).prop_map(|(ns, off, frac, zone_known)| Timestamp {
            unix_nanos: ns,
            offset_secs: off,
            frac_digits: frac,
            zone_known,
        }))
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        let cid = prop::sample::select(vec![A.to_string(), B.to_string(), C.to_string(), "bafyreiabc".to_string(), "Qmx".to_string(), "bafkqaaa".to_string()]);
        let small = || proptest::option::of("[a-z/:.0-9 ]{0,12}");
        (
            (0u64..5, 1u32..4, arb_ts(), proptest::option::of(prop::sample::select(LEVELS.to_vec())), small(), small()),
            (proptest::option::of(any::<i64>()), proptest::option::of(any::<u64>()), small(), proptest::option::of(any::<f64>()), proptest::option::of(-1e9f64..1e9), small()),
            (prop::collection::vec(cid.clone(), 0..4), "[ -~é]{0,40}", any::<bool>(), proptest::option::of("[ -~]{0,20}")),
            (proptest::option::of((small(), small(), proptest::option::of("[ -~]{0,30}"))), proptest::option::of((any::<i64>(), any::<i64>(), 0i64..10, 0i64..10, prop::collection::vec(cid.clone(), 0..3), prop::collection::vec(cid, 0..3)))),
        )
            .prop_map(|((gap, line_count, ts, level, logger, caller), (height, worker, miner, delay, duration, peer), (cids, text, embed, problem), (journal, head))| {
                let text = if embed && !cids.is_empty() { format!("{text}[{}]{text}", cids.join(" ")) } else { text };
                let mut ev = Event::new(EventKind::HeadChange, gap, text);
                ev.line_count = line_count;
                ev.ts = ts;
                ev.level = level;
                ev.logger = logger.map(Into::into);
                ev.caller = caller.map(Into::into);
                ev.height = height;
                ev.worker = worker;
                ev.miner = miner;
                ev.delay_s = delay;
                ev.duration_ms = duration;
                ev.peer = peer;
                ev.cids = cids;
                ev.problem = problem;
                ev.journal = journal.and_then(|(s, e, raw)| Some(JournalMeta { system: Arc::from(s?.as_str()), event: Arc::from(e?.as_str()), raw_data: raw }));
                ev.head_change = head.map(|(fh, th, r, a, from, to)| HeadChange { from, from_height: fh, to, to_height: th, revert_count: r, apply_count: a });
                ev
            })
    }

    /// A block CID from a seed (Filecoin's prefix, a made-up digest).
    fn block_cid(seed: u8) -> String {
        let mut bytes = vec![0x01, 0x71, 0xa0, 0xe4, 0x02, 0x20];
        bytes.extend((0..32u8).map(|i| i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(97))));
        let mut t = String::new();
        v1_bytes_to_text(&bytes, &mut t);
        t
    }

    proptest! {
        #[test]
        fn a_head_change_read_in_place_is_stored_as_its_event(steps in prop::collection::vec((prop::collection::vec(0u8..40, 0..6), any::<bool>(), -3i64..3, 0i64..3, 0i64..3, 0u32..40_000), 1..60)) {
            let mut lines = String::new();
            let mut last_to: Vec<String> = Vec::new();
            let mut height = 6_600_000i64;
            let mut ms = 1_796_306_409_858i64;
            for (to, keep_from, dh, revert, apply, gap) in &steps {
                let to: Vec<String> = to.iter().map(|s| block_cid(*s)).collect();
                let from = if *keep_from { last_to.clone() } else { to.iter().rev().cloned().collect() };
                let list = |v: &[String]| v.iter().map(|c| format!("{{\"/\":\"{c}\"}}")).collect::<Vec<_>>().join(",");
                height += dh;
                ms += *gap as i64;
                let ts = Timestamp::from_unix_nanos(ms * 1_000_000, 8 * 3600, 3);
                lines.push_str(&format!("{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"{ts}\",\"Data\":{{\"From\":[{}],\"FromHeight\":{},\"To\":[{}],\"ToHeight\":{height},\"RevertCount\":{revert},\"ApplyCount\":{apply}}}}}\n", list(&from), height - 1, list(&to)));
                last_to = to;
            }
            let mut p = lsync_core::JournalParser::new(lsync_core::JournalOptions::default());
            let (mut in_place, mut as_events) = (SegmentBuilder::new(EventKind::HeadChange, 1), SegmentBuilder::new(EventKind::HeadChange, 1));
            let mut others = Vec::new();
            let mut refs = 0;
            for (i, l) in lines.lines().enumerate() {
                p.push_line_to(i as u64 + 1, l.as_bytes(), &mut others, |r| {
                    in_place.push_head_change(&r);
                    as_events.push(&r.to_event());
                    refs += 1;
                });
            }
            prop_assert!(others.is_empty(), "{:?}", others);
            prop_assert_eq!(refs, steps.len());
            let blob = in_place.finish();
            prop_assert_eq!(&blob, &as_events.finish());
            // A builder started again keeps nothing of its last segment but memory.
            let mut again = SegmentBuilder::new(EventKind::HeadChange, 1);
            let mut q = lsync_core::JournalParser::new(lsync_core::JournalOptions::default());
            let mut line = 0;
            for l in lines.lines().rev() {
                line += 1;
                q.push_line_to(line, l.as_bytes(), &mut others, |r| again.push_head_change(&r));
            }
            again.reset(EventKind::HeadChange, 1);
            let mut r = lsync_core::JournalParser::new(lsync_core::JournalOptions::default());
            for (i, l) in lines.lines().enumerate() {
                r.push_line_to(i as u64 + 1, l.as_bytes(), &mut others, |h| again.push_head_change(&h));
            }
            prop_assert_eq!(again.finish(), blob);
        }
    }

    proptest! {
        #[test]
        fn decode_reproduces_every_encoded_event(mut events in prop::collection::vec(arb_event(), 1..40), first in 1u64..1_000_000, shapes in prop::collection::vec(0u8..8, 40)) {
            // Lines ascend from `first`; the generated `line` is the gap to the previous one.
            let mut line = first;
            let mut last_to: Option<Vec<String>> = None;
            for (e, shape) in events.iter_mut().zip(&shapes) {
                line += e.line;
                e.line = line;
                // Some head changes in the journal reader's shape: From = the last To, CIDs
                // To then From, the reader's text (what the format rebuilds instead of storing).
                if let Some(h) = e.head_change.as_mut() {
                    if shape & 1 != 0 {
                        if let Some(t) = &last_to {
                            h.from = t.clone();
                        }
                    }
                    if shape & 2 != 0 {
                        e.cids = h.to.iter().chain(&h.from).cloned().collect();
                    }
                    if shape & 4 != 0 {
                        e.text = lsync_core::journal::head_change_text(h.from_height, h.to_height, h.revert_count, h.apply_count);
                    }
                    last_to = Some(h.to.clone());
                }
            }
            let got = roundtrip(EventKind::HeadChange, &events);
            // NaN != NaN: compare the bit patterns of the floats, everything else as is.
            prop_assert_eq!(got.len(), events.len());
            for (g, e) in got.iter().zip(&events) {
                prop_assert_eq!(g.delay_s.map(f64::to_bits), e.delay_s.map(f64::to_bits));
                let (mut g, mut e) = (g.clone(), e.clone());
                g.delay_s = None;
                e.delay_s = None;
                prop_assert_eq!(g, e);
            }
        }
    }
}
