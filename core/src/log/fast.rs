//! The byte-level fast paths: what the full parser ([`super::reference`]) would decide for the
//! common lines — ordinary go-log records, sync-event candidates, plain continuations, foreign
//! lines, zap JSON lines — read off their bytes and the caches ([`super::cache`]) without it.

use super::cache::{HeaderCache, KnownHeader};
use super::reference::looks_foreign;
use super::text::{has_colour, is_rust_caller, is_rust_logger, is_rust_path, strip_colour};
use super::{Header, JsonRecord, LogParser};
use crate::event::normalize_level;
use crate::messages::{logger_allowed, match_rule, Fields, MessageRule};
use crate::time::{PrefixCache, Timestamp};
use std::sync::Arc;

impl LogParser {
    /// What [`fast_header`] decides for `raw` (a line known to hold no colour), when cached facts
    /// alone decide it: a timestamp of the cached date and zone, a header already read; then the
    /// message's first bytes tell an ordinary record (`Fast::Other`) from a candidate. `None`
    /// (any miss) leaves the line to `fast_header`. Most lines of a busy node's log are decided
    /// here, at a fraction of its cost.
    #[inline]
    pub(super) fn cached_record(&self, raw: &[u8]) -> Option<Cached> {
        let n = self.ts_cache.end_if_cached(raw)?;
        // As `fast_header` requires (`end_if_cached` also takes a space there).
        if raw[10] != b'T' || !matches!(raw.get(n), Some(b'\t' | b' ')) {
            return None;
        }
        let rest = &raw[n..];
        let header = self.headers.get(rest)?;
        Some(match crate::messages::match_rule_bytes(&rest[header.known.len..]) {
            None => Cached::Ordinary,
            Some(rule) => Cached::Candidate(n, header.known, rule, header.names.clone()),
        })
    }
}

/// Splits off the next token (after a run of tabs/spaces) without decoding.
fn next_token_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut start = 0;
    while start < b.len() && (b[start] == b'\t' || b[start] == b' ') {
        start += 1;
    }
    if start == b.len() {
        return None;
    }
    let b = &b[start..];
    let end = find_separator(b);
    Some((&b[..end], &b[end..]))
}

/// Index of the first tab or space (or the length): eight bytes at a time, because go-log
/// tokens are short enough that memchr's setup would cost more than the search.
#[inline]
fn find_separator(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_byte = |x: u64, v: u8| {
        let y = x ^ (LO * v as u64);
        y.wrapping_sub(LO) & !y & HI
    };
    let mut i = 0;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let m = has_byte(x, b'\t') | has_byte(x, b' ');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b'\t' && b[i] != b' ' {
        i += 1;
    }
    i
}

fn looks_like_caller_bytes(tok: &[u8]) -> bool {
    // `file.go:123`: digits at the end, after the last colon, and a dot before it.
    let mut i = tok.len();
    while i > 0 && tok[i - 1].is_ascii_digit() {
        i -= 1;
    }
    i < tok.len() && i > 0 && tok[i - 1] == b':' && tok[..i - 1].contains(&b'.')
}

/// What [`LogParser::cached_record`] decided.
pub(super) enum Cached {
    /// A go-log record that is no sync event.
    Ordinary,
    /// A record whose message starts like a sync event: where its timestamp ends, its header,
    /// the row its message starts, and the header's logger and caller.
    Candidate(usize, KnownHeader, &'static MessageRule, (Arc<str>, Arc<str>)),
}

/// What the byte-level look at a line decided.
pub(super) enum Fast<'a> {
    /// A well-formed go-log record that is no sync event (mpool, bitswap, …).
    Other,
    /// A plain go-log record whose message starts with a row prefix: its header, read.
    Candidate(Header<'a>),
    /// Anything else: the full parser decides.
    No,
    /// Colour where it matters: decide on the stripped line (only inside `fast_header`).
    Coloured,
}

/// An indented line that the full parser can only take as a continuation: it starts with a tab
/// or space, holds no colour, no `{` and nothing shaped like a date (`dddd-dd-`) where the
/// collector-prefix and embedded-record searches look (their first 200 bytes and the date
/// after them), and is not blank.
pub(super) fn is_plain_continuation(raw: &[u8], colour_free: bool) -> bool {
    if !matches!(raw.first(), Some(b' ' | b'\t')) {
        return false;
    }
    let Some(first) = raw.iter().position(|c| !c.is_ascii_whitespace()) else { return false };
    // (A non-ASCII first character might be Unicode whitespace: a blank line to the full path.)
    if raw[first].is_ascii_digit() || !raw[first].is_ascii() || (!colour_free && has_colour(raw)) {
        return false;
    }
    !may_embed_a_record(raw)
}

/// Whether `find_embedded_record` (or a collector prefix before a date) could find a record in
/// `b`: a `{` or something shaped like a date (`d…-..-`) where it looks — the first 200 bytes,
/// and the date after them. `false` is certain; `true` only means "ask the full parser".
fn may_embed_a_record(b: &[u8]) -> bool {
    let head = &b[..b.len().min(224)];
    memchr::memchr(b'{', head).is_some() || memchr::memchr_iter(b'-', head).any(|p| p >= 4 && b[p - 4].is_ascii_digit() && b.get(p + 3) == Some(&b'-'))
}

/// A line without colour that `parse_line` can only take as foreign: it starts with one of
/// `looks_foreign`'s bracketed levels (so no syslog prefix can be read off it: that needs a
/// month or a date first), and holds neither a `{` nor anything shaped like a date (`d…-..-`)
/// where `find_embedded_record` looks for an embedded record (its first 200 bytes, and the
/// date after them).
pub(super) fn is_plain_foreign(text: &str) -> bool {
    let b = text.as_bytes();
    if b.first() != Some(&b'[') || !looks_foreign(text) {
        return false;
    }
    !may_embed_a_record(b)
}

/// Reads a go-log text line's header — valid timestamp, a level, a Go logger and a caller —
/// from its bytes. A record whose message starts with no row prefix of the message table is an
/// ordinary record ([`Fast::Other`]) that needs no further parsing; one that does, on a plain
/// line (UTF-8, no colour, a level as go-log writes it), is returned with its header
/// ([`Fast::Candidate`]), exactly as the full parser would read it. Looks only at the header
/// and the message's first bytes, so it costs the same whatever the line's length. Anything
/// unusual is [`Fast::No`] and takes the full parser.
pub(super) fn fast_header<'a>(raw: &'a [u8], text: Option<&'a str>, colour_free: bool, ts_cache: &mut PrefixCache, headers: &mut HeaderCache) -> Fast<'a> {
    if raw.len() < 30 || !raw[0].is_ascii_digit() || raw[4] != b'-' || raw[10] != b'T' {
        return Fast::No;
    }
    match fast_plain(raw, text, colour_free, ts_cache, headers) {
        Fast::Coloured => {
            // The full path strips colour (bytes or caret text) before reading anything, and
            // a stripped code can change a token or the start of the message: decide on the
            // stripped line, and only that it is an ordinary record. (Reading a coloured level
            // token as it stood let `^[[34m\x8bINFO^[[0m` through; the fuzzer found it.)
            let stripped = strip_colour(String::from_utf8_lossy(raw));
            match fast_plain(stripped.as_bytes(), None, false, ts_cache, headers) {
                Fast::Other => Fast::Other,
                _ => Fast::No,
            }
        }
        decided => decided,
    }
}

/// Bytes of a message that decide whether it starts like a sync event: the longest row prefix
/// (a test checks it). Colour beyond them cannot change that.
const DECIDING_MESSAGE_BYTES: usize = 64;

/// [`fast_header`] for a line without colour. `text` is the line as text when known to be
/// valid UTF-8; `colour_free` says the line is known to hold no `ESC` or `^`.
fn fast_plain<'a>(raw: &'a [u8], text: Option<&'a str>, colour_free: bool, ts_cache: &mut PrefixCache, headers: &mut HeaderCache) -> Fast<'a> {
    if raw.len() < 30 || !raw[0].is_ascii_digit() || raw[4] != b'-' || raw[10] != b'T' {
        return Fast::No;
    }
    // Most lines' time is not kept: only candidates read it (below).
    let n = match ts_cache.end_if_cached(raw) {
        Some(n) => n,
        None => match ts_cache.parse_prefix(raw) {
            Ok((_, n)) => n,
            Err(_) => return Fast::No,
        },
    };
    let rest = &raw[n..];
    if !matches!(rest.first(), Some(b'\t' | b' ')) {
        return Fast::No;
    }
    // Colour in the header or where the message is matched: decided on the stripped line. A
    // cached header holds none (`HeaderCache::put`), nor does a timestamp, and a header ends
    // in a separator (no `^[[` across its end): on a hit only the message's bytes are looked at.
    let (known, colour_from) = match headers.get(rest) {
        Some(h) => (h.known, n + h.known.len),
        None => match read_header(rest) {
            Some(k) => (headers.put(rest, k, colour_free), 0),
            None => return Fast::No,
        },
    };
    if !colour_free && has_colour(&raw[colour_from.min(raw.len())..raw.len().min(n + known.len + DECIDING_MESSAGE_BYTES)]) {
        return Fast::Coloured;
    }
    let msg = &rest[known.len..];
    if msg.is_empty() {
        return Fast::Other;
    }
    if crate::messages::match_rule_bytes(msg).is_some() {
        // A sync event keeps its whole text, stripped of colour: any colour sends it on.
        if !colour_free && has_colour(raw) {
            return Fast::Coloured;
        }
        let text = match text {
            Some(t) => t,
            None => match std::str::from_utf8(raw) {
                Ok(t) => t,
                Err(_) => return Fast::No,
            },
        };
        let Ok((ts, _)) = ts_cache.parse_prefix(raw) else { return Fast::No };
        // Offsets into `raw` are offsets into `text`: the tokens are ASCII-delimited.
        let logger = &text[n + known.logger.0..n + known.logger.1];
        let caller = &text[n + known.caller.0..n + known.caller.1];
        return Fast::Candidate(Header { ts: Some(ts), level: Some(known.level), logger: Some(logger), caller: Some(caller), rest: &text[n + known.len..] });
    }
    Fast::Other
}

/// Reads a header after the timestamp (of a line without colour): `None` unless it is a plain
/// Go one (a level as go-log writes it, a logger, a `file.go:N` caller, no Rust).
fn read_header(rest: &[u8]) -> Option<KnownHeader> {
    let at = |part: &[u8]| part.as_ptr() as usize - rest.as_ptr() as usize;
    let (level, r) = next_token_bytes(rest)?;
    let level = match level {
        b"INFO" => "INFO",
        b"WARN" => "WARN",
        b"ERROR" => "ERROR",
        b"DEBUG" => "DEBUG",
        b"DPANIC" => "DPANIC",
        b"PANIC" => "PANIC",
        b"FATAL" => "FATAL",
        _ => return None,
    };
    let (logger, r) = next_token_bytes(r)?;
    let (caller, r) = next_token_bytes(r)?;
    // Rust FFI lines are foreign; a "logger" that looks like a caller means a logger-less line.
    if is_rust_path(logger) || is_rust_caller(caller) || !looks_like_caller_bytes(caller) || looks_like_caller_bytes(logger) {
        return None;
    }
    let msg = r.iter().position(|c| *c != b'\t' && *c != b' ').unwrap_or(r.len());
    Some(KnownHeader {
        len: at(r) + msg,
        level,
        logger: (at(logger), at(logger) + logger.len()),
        caller: (at(caller), at(caller) + caller.len()),
    })
}

/// What [`json_fast`] decided about a JSON log line.
pub(super) enum JsonFast {
    /// A well-formed JSON record that is no sync event.
    Other,
    /// A Rust FFI record (foreign).
    Foreign,
    /// A sync event whose row reads no structured fields: the record as `parse_json_line`
    /// would build it, minus the fields nobody reads.
    Candidate(Box<JsonRecord>),
}

/// The decision of `parse_json_line` for the common JSON lines — ordinary records, Rust FFI
/// records, sync events whose row reads no fields — without building a `Value` of the whole
/// line. `None` (escapes, odd types, bad times, repeated keys, …) leaves the line to the full
/// parser.
pub(super) fn json_fast(text: &str, ts_cache: &mut PrefixCache) -> Option<JsonFast> {
    let head = crate::json_scan::scan_object(text)?;
    let (msg, level) = (head.msg?.plain()?, head.level?);
    let ts_raw = head.ts?.raw;
    let ts = if ts_raw.starts_with('"') {
        let t = head.ts?.plain()?;
        match ts_cache.parse_prefix(t.as_bytes()) {
            Ok((ts, n)) if n == t.len() => ts,
            _ => return None,
        }
    } else if ts_raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        // Float seconds: decided here for ordinary records, left to serde for candidates.
        Timestamp::from_unix_nanos(0, 0, 0)
    } else {
        return None;
    };
    let logger = match head.logger {
        Some(l) => Some(l.plain()?),
        None => None,
    };
    let caller = match head.caller {
        Some(c) => Some(c.plain()?),
        None => None,
    };
    if let Some(l) = logger {
        if is_rust_logger(l, caller) {
            return Some(JsonFast::Foreign);
        }
    }
    match match_rule(msg) {
        Some(rule) if logger_allowed(rule, logger) => {
            if rule.wants_fields || !ts_raw.starts_with('"') {
                return None;
            }
            // `parse_json_line` keeps a level only when it is a string.
            let level = if level.raw.starts_with('"') { normalize_level(level.plain()?) } else { None };
            Some(JsonFast::Candidate(Box::new(JsonRecord {
                ts,
                level,
                logger: logger.map(Arc::from),
                caller: caller.map(Arc::from),
                msg: msg.to_string(),
                fields: Fields::new(),
            })))
        }
        _ => Some(JsonFast::Other),
    }
}
