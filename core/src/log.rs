//! Streaming parser of Lotus daemon logs (go-log/zap), every format of lotus-facts §3:
//! tab-separated text, tabs lost to aligned or single spaces, ANSI colour as bytes or as caret
//! text (`^[[34mINFO^[[0m`), JSON lines, an optional journald/syslog prefix, multi-line records
//! (continuations attached to their record), and foreign lines kept as `unknown`.
//!
//! Lines go in one at a time; events come out when a record is complete (the next record starts,
//! or [`LogParser::finish`]). The parser never fails: what it cannot read becomes a `malformed`
//! or `unknown` event with its line number.

use crate::event::{normalize_level, Event, EventKind, LineStats};
use crate::messages::{logger_allowed, match_rule, Fields, MessageRule, NOT_THIS_MESSAGE};
use crate::time::{PrefixCache, Timestamp};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// How one physical line was classified; lets the caller checkpoint at record boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineClass {
    /// The line starts a new record (go-log text or JSON).
    RecordStart,
    /// The line continues the open record.
    Continuation,
    /// Blank line.
    Blank,
    /// A foreign line (emitted as `unknown`).
    Unknown,
    /// A line that looked like go-log but did not parse (emitted as `malformed`).
    Malformed,
}

/// Caps the text kept for one multi-line record, so a runaway stack dump cannot eat memory.
const MAX_RECORD_TEXT: usize = 64 * 1024;
/// Caps the raw text kept in `unknown`/`malformed` events.
const MAX_RAW_TEXT: usize = 2048;

struct OpenRecord {
    line: u64,
    line_count: u32,
    /// Set only for records that matched a message row; other records keep no text.
    candidate: Option<Candidate>,
}

struct Candidate {
    rule: &'static MessageRule,
    ts: Timestamp,
    level: Option<&'static str>,
    logger: Option<Arc<str>>,
    caller: Option<Arc<str>>,
    message: String,
    /// Text of the structured fields, if any (text format: after the message; JSON: pre-parsed).
    fields_text: Option<String>,
    fields: Option<Fields>,
}

impl Candidate {
    /// A trial parse of the record as it stands (message rows only: field rows are judged by
    /// their braces in [`Candidate::incomplete`]).
    fn does_not_parse_yet(&self) -> bool {
        if self.rule.wants_fields || self.rule.kind == EventKind::SyncError {
            return false;
        }
        let mut scratch = Event::new(self.rule.kind, 0, String::new());
        matches!((self.rule.parse)(&self.message, None, &mut scratch), Err(e) if e != NOT_THIS_MESSAGE)
    }

    /// True while a wrapped record has an unclosed CID list or field object.
    fn incomplete(&self) -> bool {
        let unbalanced = |s: &str, o: char, c: char| s.matches(o).count() > s.matches(c).count();
        unbalanced(&self.message, '[', ']')
            || self.fields_text.as_deref().map(|f| unbalanced(f, '{', '}')).unwrap_or(false)
    }
}

/// The streaming log parser. Keeps only the open record between calls.
#[derive(Default)]
pub struct LogParser {
    open: Option<OpenRecord>,
    stats: LineStats,
    /// Skip the byte-level fast paths (the reference behaviour they are tested against).
    full_path_only: bool,
    /// The last line's date and zone (see [`PrefixCache`]).
    ts_cache: PrefixCache,
    /// Headers already read (see [`HeaderCache`]).
    headers: HeaderCache,
    /// Layouts of JSON-format lines already read (see [`JsonLayouts`]).
    json_layouts: JsonLayouts,
    /// Leave the text of `unknown` events empty (they are still emitted and counted): for a
    /// caller that can store no more of them.
    pub skip_unknown_text: bool,
}

/// What a caller already knows of a line (from its whole run of lines).
#[derive(Clone, Copy)]
struct Facts<'a> {
    /// The line (with any `\r`) as text: it is valid UTF-8.
    text: Option<&'a str>,
    /// The line holds no `ESC` and no `^`: no colour, as bytes or as caret text.
    colour_free: bool,
}

impl Facts<'_> {
    const UNKNOWN: Facts<'static> = Facts { text: None, colour_free: false };
}

/// The go-log header fields of one line, borrowed from it.
struct Header<'a> {
    ts: Timestamp,
    level: Option<&'static str>,
    logger: Option<&'a str>,
    caller: Option<&'a str>,
    /// Message and, after it, the fields (text format).
    rest: &'a str,
}

enum Parsed<'a> {
    Text(Header<'a>),
    Json(Box<JsonRecord>),
    Foreign,
    Bad(String),
    NotARecord,
}

struct JsonRecord {
    ts: Timestamp,
    level: Option<&'static str>,
    logger: Option<Arc<str>>,
    caller: Option<Arc<str>>,
    msg: String,
    fields: Fields,
}

impl LogParser {
    pub fn new() -> LogParser {
        LogParser::default()
    }

    /// A parser that takes the full path for every line: the reference the fast paths must
    /// agree with, byte for byte (tests and fuzzing only).
    #[doc(hidden)]
    pub fn reference() -> LogParser {
        LogParser { full_path_only: true, ..LogParser::default() }
    }

    /// Counters of lines that did not become stored events.
    pub fn stats(&self) -> &LineStats {
        &self.stats
    }

    /// First line of the open record, if one is open. A checkpoint must not pass it.
    pub fn open_record_line(&self) -> Option<u64> {
        self.open.as_ref().map(|r| r.line)
    }

    /// True when `raw` starts a record whatever came before it: pushing it closes any open
    /// record, and what it yields does not depend on earlier lines. Input split at such lines
    /// can be parsed in parts — in parallel, each by a fresh parser that is finished at the
    /// part's end — with the same events, classes and counters as one parser over the whole
    /// (a test checks it on every bundled log). Blank lines and lines that may continue a
    /// record are not such lines.
    pub fn starts_record(raw: &[u8]) -> bool {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if !matches!(fast_header(raw, None, false, &mut PrefixCache::default(), &mut HeaderCache::default()), Fast::No) {
            return true;
        }
        let text = String::from_utf8_lossy(raw);
        if text.trim().is_empty() {
            return false;
        }
        let text = strip_colour(text);
        !text.trim().is_empty() && !matches!(parse_line(&text), Parsed::NotARecord)
    }

    /// Feeds one physical line (without its `\n`; a trailing `\r` is ignored).
    pub fn push_line(&mut self, line_no: u64, raw: &[u8], out: &mut Vec<Event>) -> LineClass {
        self.push_line_with(line_no, raw, Facts::UNKNOWN, out)
    }

    /// Feeds a run of lines — each ended by `\n`, the last one possibly not (it is fed as a line
    /// all the same); each line's trailing `\r` is ignored — numbering them from `first_line`,
    /// and calls `drain` with the output after
    /// every line that produced events (so it stays a few events long). Returns the number of
    /// lines. Reads every line exactly as [`LogParser::push_line`] does; what it saves is
    /// per-line work that a property of the whole run settles at once: a run that is ASCII
    /// and holds no colour byte (`ESC`, `^`) — nearly every run of a daemon log — is checked
    /// for both once, word-wide, not line by line.
    pub fn push_lines(&mut self, first_line: u64, data: &[u8], out: &mut Vec<Event>, mut drain: impl FnMut(&mut Vec<Event>)) -> u64 {
        let colour_free = memchr::memchr2(0x1b, b'^', data).is_none();
        let mut line_no = first_line;
        let rest = match crate::bytes::ascii_str(data) {
            Some(text) => {
                // Every line of ASCII text is ASCII text.
                crate::bytes::for_each_line(data, |raw| {
                    let start = raw.as_ptr() as usize - data.as_ptr() as usize;
                    let line = &text[start..start + raw.len()];
                    self.push_line_with(line_no, raw, Facts { text: Some(line), colour_free }, out);
                    if !out.is_empty() {
                        drain(out);
                    }
                    line_no += 1;
                })
            }
            None => {
                // Some non-ASCII byte: each line is checked as it needs (the full path reads
                // broken UTF-8 lossily, line by line).
                crate::bytes::for_each_line(data, |raw| {
                    self.push_line_with(line_no, raw, Facts { text: None, colour_free }, out);
                    if !out.is_empty() {
                        drain(out);
                    }
                    line_no += 1;
                })
            }
        };
        if rest < data.len() {
            // A last line without its `\n`.
            self.push_line_with(line_no, &data[rest..], Facts { text: None, colour_free }, out);
            if !out.is_empty() {
                drain(out);
            }
            line_no += 1;
        }
        line_no - first_line
    }

    /// [`LogParser::push_line`] with what is already known of the line.
    fn push_line_with<'a>(&mut self, line_no: u64, raw: &'a [u8], facts: Facts<'a>, out: &mut Vec<Event>) -> LineClass {
        self.stats.lines += 1;
        // The reference reads every line from nothing.
        let facts = if self.full_path_only { Facts::UNKNOWN } else { facts };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // The same line as text, when the caller knows it is valid UTF-8 (`\r` is one byte).
        let known_text = facts.text.map(|t| &t[..raw.len()]);
        let colour_free = facts.colour_free;
        let utf8 = |raw: &'a [u8]| -> Result<&'a str, std::str::Utf8Error> {
            match known_text {
                Some(t) => Ok(t),
                None => std::str::from_utf8(raw),
            }
        };
        if colour_free && !self.full_path_only {
            match self.cached_record(raw) {
                Some(Cached::Ordinary) => {
                    // The common line: what `Fast::Other` below does, reusing the open record
                    // when it too is an ordinary one.
                    match &mut self.open {
                        Some(rec) if rec.candidate.is_none() => {
                            self.stats.other_records += 1;
                            rec.line = line_no;
                            rec.line_count = 1;
                        }
                        _ => {
                            self.close(out);
                            self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate: None });
                        }
                    }
                    return LineClass::RecordStart;
                }
                Some(Cached::Candidate(n, known, rule, names)) => {
                    // What `Fast::Candidate` below carries, from the header already found (its
                    // logger and caller shared, not copied).
                    if let (Some(text), Ok((ts, _))) = (known_text, self.ts_cache.parse_prefix(raw)) {
                        let h = Header { ts, level: Some(known.level), logger: Some(&text[n + known.logger.0..n + known.logger.1]), caller: Some(&text[n + known.caller.0..n + known.caller.1]), rest: &text[n + known.len..] };
                        self.close(out);
                        self.open_text_with(line_no, h, Some(rule), Some(names));
                        return LineClass::RecordStart;
                    }
                }
                None => {}
            }
        }
        let fast = if self.full_path_only { Fast::No } else { fast_header(raw, known_text, colour_free, &mut self.ts_cache, &mut self.headers) };
        match fast {
            Fast::Other => {
                // Most lines of a busy node (mpool, bitswap, markets…) take this path: open a
                // record for checkpointing and continuation lines, nothing else.
                self.close(out);
                self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate: None });
                return LineClass::RecordStart;
            }
            Fast::Candidate(h) => {
                // A plain go-log line whose message starts like a sync event: the header is
                // already read, exactly as `parse_line` would have read it.
                self.close(out);
                self.open_text(line_no, h);
                return LineClass::RecordStart;
            }
            Fast::No | Fast::Coloured => {}
        }
        if !self.full_path_only && raw.first() == Some(&b'{') && (colour_free || !has_colour(raw)) {
            if colour_free && known_text.is_some() && self.json_layouts.is_ordinary(raw, &self.ts_cache) {
                // A JSON line of a layout already read: what `json_fast` decides below.
                self.close(out);
                self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate: None });
                return LineClass::RecordStart;
            }
            if let Ok(text) = utf8(raw) {
                match json_fast(text, &mut self.ts_cache) {
                    Some(JsonFast::Other) => {
                        if colour_free && known_text.is_some() {
                            self.json_layouts.learn(raw, &self.ts_cache);
                        }
                        self.close(out);
                        self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate: None });
                        return LineClass::RecordStart;
                    }
                    Some(JsonFast::Foreign) => {
                        self.close(out);
                        out.push(Event::new(EventKind::Unknown, line_no, if self.skip_unknown_text { String::new() } else { truncate(text, MAX_RAW_TEXT) }));
                        return LineClass::Unknown;
                    }
                    Some(JsonFast::Candidate(j)) => {
                        self.close(out);
                        self.open_json(line_no, *j);
                        return LineClass::RecordStart;
                    }
                    None => {}
                }
            }
        }
        if !self.full_path_only && self.open.is_some() && is_plain_continuation(raw, colour_free) {
            // An indented line (a stack frame, a wrapped error) that cannot hold a record:
            // exactly what the full path decides for it, without trying every prefix.
            if let Ok(text) = utf8(raw) {
                self.continue_record(text);
                return LineClass::Continuation;
            }
        }
        if let (true, Some(text)) = (colour_free && !self.full_path_only, known_text) {
            if is_plain_foreign(text) {
                // Actor and FVM output (`[DEBUG]<StorageMiner::1000> …`): what `parse_line`
                // decides for it, without its searches for collector prefixes.
                self.close(out);
                out.push(Event::new(EventKind::Unknown, line_no, if self.skip_unknown_text { String::new() } else { truncate(text, MAX_RAW_TEXT) }));
                return LineClass::Unknown;
            }
        }
        // Valid UTF-8 (nearly every line) is borrowed as is; only broken bytes cost a copy.
        let text: Cow<str> = match utf8(raw) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(raw),
        };
        if text.trim().is_empty() {
            self.stats.blank += 1;
            return LineClass::Blank;
        }
        let text = if colour_free { text } else { strip_colour(text) };
        if text.trim().is_empty() {
            self.stats.blank += 1;
            return LineClass::Blank;
        }
        match parse_line(&text) {
            Parsed::Text(h) => {
                self.close(out);
                self.open_text(line_no, h);
                LineClass::RecordStart
            }
            Parsed::Json(j) => {
                self.close(out);
                self.open_json(line_no, *j);
                LineClass::RecordStart
            }
            Parsed::Bad(reason) => {
                self.close(out);
                let mut ev = Event::new(EventKind::Malformed, line_no, truncate(&text, MAX_RAW_TEXT));
                ev.problem = Some(reason);
                out.push(ev);
                LineClass::Malformed
            }
            Parsed::Foreign => {
                self.close(out);
                out.push(Event::new(EventKind::Unknown, line_no, if self.skip_unknown_text { String::new() } else { truncate(&text, MAX_RAW_TEXT) }));
                LineClass::Unknown
            }
            Parsed::NotARecord => {
                if self.is_continuation(&text) {
                    self.continue_record(&text);
                    LineClass::Continuation
                } else {
                    self.close(out);
                    out.push(Event::new(EventKind::Unknown, line_no, if self.skip_unknown_text { String::new() } else { truncate(&text, MAX_RAW_TEXT) }));
                    LineClass::Unknown
                }
            }
        }
    }

    /// What [`fast_header`] decides for `raw` (a line known to hold no colour), when cached facts
    /// alone decide it: a timestamp of the cached date and zone, a header already read; then the
    /// message's first bytes tell an ordinary record (`Fast::Other`) from a candidate. `None`
    /// (any miss) leaves the line to `fast_header`. Most lines of a busy node's log are decided
    /// here, at a fraction of its cost.
    #[inline]
    fn cached_record(&self, raw: &[u8]) -> Option<Cached> {
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

    /// Attaches a continuation line to the open record.
    fn continue_record(&mut self, text: &str) {
        let rec = self.open.as_mut().expect("continuation implies an open record");
        rec.line_count += 1;
        self.stats.continuation_lines += 1;
        if let Some(c) = rec.candidate.as_mut() {
            if c.message.len() + text.len() < MAX_RECORD_TEXT {
                // A wrapped field object continues the fields, else the message.
                match c.fields_text.as_mut() {
                    Some(f) => {
                        f.push('\n');
                        f.push_str(text);
                    }
                    None => {
                        c.message.push('\n');
                        c.message.push_str(text);
                    }
                }
            }
        }
    }

    /// Closes the open record at end of input.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.close(out);
    }

    fn is_continuation(&self, text: &str) -> bool {
        let Some(open) = &self.open else { return false };
        let first = text.as_bytes()[0];
        if first == b' ' || first == b'\t' {
            return true;
        }
        // Stack frames of `%+v` errors and Go panics.
        if text.starts_with("github.com/") || text.starts_with("golang.org/") || text.starts_with("goroutine ") {
            return true;
        }
        // A hard-wrapped record whose CID list or field object is still open, or whose message
        // does not parse yet (e.g. `(heig` | `ht=123)`), takes up to a few more lines.
        open.line_count < 4 && open.candidate.as_ref().map(|c| c.incomplete() || c.does_not_parse_yet()).unwrap_or(false)
    }

    fn open_text(&mut self, line_no: u64, h: Header<'_>) {
        self.open_text_with(line_no, h, None, None);
    }

    /// [`LogParser::open_text`], with what the caller already knows: the row the message
    /// starts (`match_rule(h.rest)`), and the header's logger and caller shared (`names`, the
    /// same texts as `h`'s).
    fn open_text_with(&mut self, line_no: u64, h: Header<'_>, rule: Option<&'static MessageRule>, names: Option<(Arc<str>, Arc<str>)>) {
        let candidate = match rule.or_else(|| match_rule(h.rest)) {
            Some(rule) if logger_allowed(rule, h.logger) => {
                let (message, fields_text) = split_fields(h.rest, rule.wants_fields);
                let (logger, caller) = match names {
                    Some((l, c)) => (Some(l), Some(c)),
                    None => (h.logger.map(Arc::from), h.caller.map(Arc::from)),
                };
                Some(Candidate {
                    rule,
                    ts: h.ts,
                    level: h.level,
                    logger,
                    caller,
                    message: message.to_string(),
                    fields_text: fields_text.map(str::to_string),
                    fields: None,
                })
            }
            _ => None,
        };
        self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate });
    }

    fn open_json(&mut self, line_no: u64, j: JsonRecord) {
        let candidate = match match_rule(&j.msg) {
            Some(rule) if logger_allowed(rule, j.logger.as_deref()) => Some(Candidate {
                rule,
                ts: j.ts,
                level: j.level,
                logger: j.logger,
                caller: j.caller,
                message: j.msg,
                fields_text: None,
                fields: Some(j.fields),
            }),
            _ => None,
        };
        self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate });
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        let Some(rec) = self.open.take() else { return };
        let Some(c) = rec.candidate else {
            self.stats.other_records += 1;
            return;
        };
        let mut ev = Event::new(c.rule.kind, rec.line, String::new());
        ev.line_count = rec.line_count;
        ev.ts = Some(c.ts);
        ev.level = c.level;
        ev.logger = c.logger;
        ev.caller = c.caller;
        if c.rule.kind == EventKind::BlockValidation && c.fields.is_none() && !self.full_path_only {
            if let Some(t) = &c.fields_text {
                if crate::messages::block_validation_from_text(t, &mut ev).is_some() {
                    // Its row never refuses a record: the `Ok` path below.
                    ev.duration_ms = ev.duration_ms.map(|v| (v * 1e6).round() / 1e6);
                    ev.delay_s = ev.delay_s.map(|v| (v * 1e9).round() / 1e9);
                    ev.text = c.message;
                    out.push(ev);
                    return;
                }
            }
        }
        let fields: Option<Fields> = match (c.fields, &c.fields_text) {
            (Some(f), _) => Some(f),
            (None, Some(t)) => match serde_json::from_str::<Fields>(t.trim()) {
                Ok(f) => Some(f),
                Err(e) => {
                    ev.kind = EventKind::Malformed;
                    ev.problem = Some(format!("{}: fields are not a JSON object: {e}", c.rule.kind));
                    ev.text = format!("{}\t{}", c.message, t);
                    out.push(ev);
                    return;
                }
            },
            (None, None) => None,
        };
        match (c.rule.parse)(&c.message, fields.as_ref(), &mut ev) {
            Ok(()) => {
                // Float seconds → ms leave binary noise (0.12 s → 120.00099999999999 ms):
                // round to the nanosecond, the precision Go durations have.
                ev.duration_ms = ev.duration_ms.map(|v| (v * 1e6).round() / 1e6);
                ev.delay_s = ev.delay_s.map(|v| (v * 1e9).round() / 1e9);
                ev.text = c.message;
                out.push(ev);
            }
            Err(reason) if reason == NOT_THIS_MESSAGE => {
                self.stats.other_records += 1;
            }
            Err(reason) => {
                ev.problem = Some(format!("{}: {reason}", c.rule.kind));
                ev.kind = EventKind::Malformed;
                ev.cids.clear();
                ev.text = match &c.fields_text {
                    Some(f) => format!("{}\t{}", c.message, f),
                    None => c.message,
                };
                out.push(ev);
            }
        }
    }
}

/// `::` marks a Rust logger (`filcrypto::proofs`); such lines are foreign.
fn is_rust_path(tok: &[u8]) -> bool {
    any_colon(tok, |i| tok.get(i + 1) == Some(&b':'))
}

/// `.rs:` anywhere in a caller marks a Rust source file.
fn is_rust_caller(tok: &[u8]) -> bool {
    any_colon(tok, |i| i >= 3 && &tok[i - 3..i] == b".rs")
}

/// Whether `at` holds for the position of some `:` in `tok`, colons found eight bytes at a
/// time (loggers and callers are short: a search call's setup would cost more).
#[inline]
fn any_colon(tok: &[u8], at: impl Fn(usize) -> bool) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut words = tok.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let y = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ (LO * b':' as u64);
        // High bit of each byte that was ':' — and perhaps of a byte after one (a borrow), so
        // each is checked.
        let mut m = y.wrapping_sub(LO) & !y & HI;
        while m != 0 {
            let i = base + (m.trailing_zeros() / 8) as usize;
            if tok[i] == b':' && at(i) {
                return true;
            }
            m &= m - 1;
        }
        base += 8;
    }
    words.remainder().iter().enumerate().any(|(k, c)| *c == b':' && at(base + k))
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
enum Cached {
    /// A go-log record that is no sync event.
    Ordinary,
    /// A record whose message starts like a sync event: where its timestamp ends, its header,
    /// the row its message starts, and the header's logger and caller.
    Candidate(usize, KnownHeader, &'static MessageRule, (Arc<str>, Arc<str>)),
}

/// What the byte-level look at a line decided.
enum Fast<'a> {
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
fn is_plain_continuation(raw: &[u8], colour_free: bool) -> bool {
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
fn is_plain_foreign(text: &str) -> bool {
    let b = text.as_bytes();
    if b.first() != Some(&b'[') || !looks_foreign(text) {
        return false;
    }
    !may_embed_a_record(b)
}

/// True when the line carries ANSI colour as bytes or as pasted caret text (`^[[`).
///
/// Called on every line, mostly on a message's first 64 bytes: a block test
/// ([`crate::bytes::first_block_with`]) skips to the first block holding an ESC or `^`, and the
/// exact check runs only from there.
fn has_colour(raw: &[u8]) -> bool {
    let from = crate::bytes::first_block_with(raw, 0x1b, b'^');
    from < raw.len() && raw[from..].iter().enumerate().any(|(k, &c)| c == 0x1b || (c == b'^' && raw[from + k + 1..].starts_with(b"[[")))
}

/// Reads a go-log text line's header — valid timestamp, a level, a Go logger and a caller —
/// from its bytes. A record whose message starts with no row prefix of the message table is an
/// ordinary record ([`Fast::Other`]) that needs no further parsing; one that does, on a plain
/// line (UTF-8, no colour, a level as go-log writes it), is returned with its header
/// ([`Fast::Candidate`]), exactly as the full parser would read it. Looks only at the header
/// and the message's first bytes, so it costs the same whatever the line's length. Anything
/// unusual is [`Fast::No`] and takes the full parser.
fn fast_header<'a>(raw: &'a [u8], text: Option<&'a str>, colour_free: bool, ts_cache: &mut PrefixCache, headers: &mut HeaderCache) -> Fast<'a> {
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
        return Fast::Candidate(Header { ts, level: Some(known.level), logger: Some(logger), caller: Some(caller), rest: &text[n + known.len..] });
    }
    Fast::Other
}

/// What a go-log header — level, logger, caller and the separators before the message —
/// decides, and where its parts are (offsets from the end of the timestamp).
#[derive(Clone, Copy, Debug)]
struct KnownHeader {
    /// Bytes from the end of the timestamp to the message.
    len: usize,
    /// The level as `normalize_level` names it.
    level: &'static str,
    logger: (usize, usize),
    caller: (usize, usize),
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

/// Headers already read, by their bytes: a busy node's lines repeat a few dozen headers
/// (`INFO\tmpool\tmessagepool/messagepool.go:1043\t`), so most lines are decided by one
/// comparison instead of tokenising. A header is kept with its exact bytes, so a hit decides
/// exactly what reading it would (and two kept headers cannot both match one line).
///
/// Buckets are picked by the first 16 bytes, all a line's header is sure to have. Headers that
/// share them (the sync pipeline's `\tINFO\tchain\tchain/sync…` callers) share a bucket, which
/// keeps several: direct-mapped, the five sync callers evicted each other on one line in nine.
struct HeaderCache {
    buckets: Vec<Vec<CachedHeader>>,
}

struct CachedHeader {
    bytes: Box<[u8]>,
    /// Its logger and caller, shared by the events of every line with this header.
    names: (Arc<str>, Arc<str>),
    /// The header's last eight bytes as a word (headers are longer): where the headers of one
    /// bucket differ (`…sync_manager.go:236\t` / `…:318\t`), compared before the whole.
    last_word: u64,
    known: KnownHeader,
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
    fn get(&self, rest: &[u8]) -> Option<&CachedHeader> {
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

    fn put(&mut self, rest: &[u8], k: KnownHeader, colour_free: bool) -> KnownHeader {
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
struct JsonLayouts {
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
    fn is_ordinary(&self, raw: &[u8], ts_cache: &PrefixCache) -> bool {
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
    fn learn(&mut self, raw: &[u8], ts_cache: &PrefixCache) {
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

/// What [`json_fast`] decided about a JSON log line.
enum JsonFast {
    /// A well-formed JSON record that is no sync event.
    Other,
    /// A Rust FFI record (foreign).
    Foreign,
    /// A sync event whose row reads no structured fields: the record as `parse_json_line`
    /// would build it, minus the fields nobody reads.
    Candidate(Box<JsonRecord>),
}

/// The decision of [`parse_json_line`] for the common JSON lines — ordinary records, Rust FFI
/// records, sync events whose row reads no fields — without building a `Value` of the whole
/// line. `None` (escapes, odd types, bad times, repeated keys, …) leaves the line to the full
/// parser.
fn json_fast(text: &str, ts_cache: &mut PrefixCache) -> Option<JsonFast> {
    let head = json_scan::scan_object(text)?;
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

/// The largest char boundary of `s` at or below `max`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Removes ANSI SGR escapes, both as bytes (`ESC[34m`) and as pasted caret text (`^[[34m`).
fn strip_colour(text: Cow<'_, str>) -> Cow<'_, str> {
    if !has_colour(text.as_bytes()) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    loop {
        let esc = rest.find('\u{1b}').map(|i| (i, 1));
        let caret = rest.find("^[").map(|i| (i, 2));
        let next = match (esc, caret) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let Some((i, intro)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        let after = &rest[i + intro..];
        if let Some(params) = after.strip_prefix('[') {
            let n = params.bytes().take_while(|c| c.is_ascii_digit() || *c == b';').count();
            if params[n..].starts_with('m') {
                rest = &params[n + 1..];
                continue;
            }
        }
        out.push_str(&rest[i..i + intro]);
        rest = after;
    }
    Cow::Owned(out)
}

/// Splits `message<TAB>{fields}` or, with tabs lost, `message {"fields"…}`.
fn split_fields(rest: &str, wants_fields: bool) -> (&str, Option<&str>) {
    let b = rest.as_bytes();
    if let Some(i) = memchr::memchr_iter(b'\t', b).find(|i| b.get(i + 1) == Some(&b'{')) {
        return (rest[..i].trim_end(), Some(&rest[i + 1..]));
    }
    if wants_fields {
        if let Some(i) = rest.find(" {\"") {
            return (rest[..i].trim_end(), Some(rest[i..].trim_start()));
        }
        if rest.ends_with('{') || rest.ends_with("\t{") {
            let i = rest.rfind('{').unwrap_or(rest.len());
            return (rest[..i].trim_end(), Some(&rest[i..]));
        }
    }
    (rest.trim_end(), None)
}

fn looks_like_caller(tok: &str) -> bool {
    // `chain/sync_manager.go:236`, `v2@v2.2007.2/levels.go:183`, `src/fvm/machine.rs:54`.
    match tok.rfind(':') {
        Some(i) => {
            let (file, line) = (&tok[..i], &tok[i + 1..]);
            !line.is_empty() && line.bytes().all(|c| c.is_ascii_digit()) && file.contains('.')
        }
        None => false,
    }
}

fn is_rust_logger(logger: &str, caller: Option<&str>) -> bool {
    // Byte checks, not substring searches: they run on every JSON line.
    is_rust_path(logger.as_bytes()) || caller.is_some_and(|c| is_rust_caller(c.as_bytes()))
}

/// Splits the next whitespace-delimited token.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn parse_line(text: &str) -> Parsed<'_> {
    let trimmed = text.trim_start_matches([' ', '\t']);
    let b = trimmed.as_bytes();
    if b.is_empty() {
        return Parsed::NotARecord;
    }
    if b[0] == b'{' {
        return parse_json_line(trimmed);
    }
    let mut bad = None;
    if b[0].is_ascii_digit() {
        match parse_text_header(trimmed) {
            Some(Parsed::Bad(reason)) => bad = Some(reason),
            Some(p) => return p,
            None => {}
        }
    }
    // journald/syslog prefix: `Nov 26 09:44:30 host lotus[123]: <record>` (or an ISO date).
    if let Some(inner) = strip_syslog_prefix(text) {
        let inner_trim = inner.trim_start();
        if inner_trim.starts_with('{') {
            return parse_json_line(inner_trim);
        }
        if let Some(p) = parse_text_header(inner_trim) {
            return p;
        }
        return Parsed::Foreign;
    }
    // Any other collector's prefix: docker-compose (`lotus_1  | `), Kubernetes CRI
    // (`<time> stderr F `), Markdown quotes, line numbers. Accepted only when what follows is a
    // complete go-log header, so stack frames and prose are not mistaken for records.
    if let Some(p) = find_embedded_record(text) {
        return p;
    }
    if let Some(reason) = bad {
        return Parsed::Bad(reason);
    }
    if text.as_bytes()[0] == b' ' || text.as_bytes()[0] == b'\t' {
        return Parsed::NotARecord;
    }
    if looks_foreign(trimmed) {
        return Parsed::Foreign;
    }
    Parsed::NotARecord
}

fn find_embedded_record(text: &str) -> Option<Parsed<'_>> {
    let limit = floor_boundary(text, 200);
    let b = text.as_bytes();
    for i in 1..limit {
        let after_sep = matches!(b[i - 1], b' ' | b'\t' | b'|' | b'>' | b':' | b']');
        if !after_sep {
            continue;
        }
        if b[i] == b'{' && text[i..].starts_with("{\"level\"") {
            if let p @ Parsed::Json(_) = parse_json_line(&text[i..]) {
                return Some(p);
            }
        }
        if i + 11 < b.len() && b[i].is_ascii_digit() && b[i + 4] == b'-' && b[i + 7] == b'-' && b[i + 10] == b'T' {
            if let Some(p @ Parsed::Text(_)) = parse_text_header(&text[i..]) {
                return Some(p);
            }
        }
    }
    None
}

/// Lines that are certainly not go-log records: Go std-log, FVM/actor debug output, shell text.
fn looks_foreign(t: &str) -> bool {
    let b = t.as_bytes();
    (b.len() > 10 && b[4] == b'/' && b[7] == b'/' && b[..4].iter().all(u8::is_ascii_digit))
        || t.starts_with("[DEBUG]")
        || t.starts_with("[INFO]")
        || t.starts_with("[WARN]")
        || t.starts_with("[ERROR]")
        || t.starts_with("[TRACE]")
}

fn parse_text_header(t: &str) -> Option<Parsed<'_>> {
    let (ts, used) = match Timestamp::parse_prefix(t.as_bytes()) {
        Ok(v) => v,
        Err(e) => {
            // A pasted line that lost its first character: `021-11-26T09:44:30.657+0800 …`.
            let b = t.as_bytes();
            if b.len() > 4 && b[3] == b'-' && b[..3].iter().all(u8::is_ascii_digit) {
                let fixed = format!("2{}", &t[..floor_boundary(t, 40)]);
                if let Ok((ts, n)) = Timestamp::parse_prefix(fixed.as_bytes()) {
                    return Some(header_after_ts(t, ts, n - 1));
                }
            }
            let looks_dated = b.len() > 10 && b[4] == b'-' && b[7] == b'-';
            return if looks_dated { Some(Parsed::Bad(e.to_string())) } else { None };
        }
    };
    Some(header_after_ts(t, ts, used))
}

fn header_after_ts(t: &str, ts: Timestamp, used: usize) -> Parsed<'_> {
    let after = &t[used..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return Parsed::Bad("no separator after the timestamp".into());
    }
    let Some((tok1, r1)) = next_token(after) else {
        return Parsed::Bad("nothing after the timestamp".into());
    };
    let Some(level) = normalize_level(tok1) else {
        // env_logger-style Rust lines put the level elsewhere; anything else is not go-log.
        return if t.contains("::") { Parsed::Foreign } else { Parsed::Bad(format!("unknown level {tok1:?}")) };
    };
    let Some((tok2, r2)) = next_token(r1) else {
        return Parsed::Bad("no logger".into());
    };
    let (logger, caller, rest) = if looks_like_caller(tok2) {
        // A logger-less line: `ts LEVEL caller msg`.
        (None, Some(tok2), r2)
    } else {
        match next_token(r2) {
            Some((tok3, r3)) if looks_like_caller(tok3) => (Some(tok2), Some(tok3), r3),
            _ => (Some(tok2), None, r2),
        }
    };
    if let Some(l) = logger {
        if is_rust_logger(l, caller) {
            return Parsed::Foreign;
        }
    }
    // The message starts after exactly one separator run (a tab, or the lost-tab spaces).
    let rest = rest.trim_start_matches([' ', '\t']);
    Parsed::Text(Header { ts, level: Some(level), logger, caller, rest })
}

fn strip_syslog_prefix(t: &str) -> Option<&str> {
    // Find `]: ` or `: ` followed by a date or `{` within the first 200 bytes.
    let limit = floor_boundary(t, 200);
    let mut search = 0;
    // `": "` wholly before `limit`, as `str::find` on `t[from..limit]` would report it.
    let find = |from: usize| memchr::memchr_iter(b':', &t.as_bytes()[from..limit]).find(|i| from + i + 1 < limit && t.as_bytes()[from + i + 1] == b' ');
    while let Some(i) = find(search) {
        let at = search + i + 2;
        let tail = t[at..].trim_start();
        let tb = tail.as_bytes();
        if tb.first() == Some(&b'{')
            || (tb.len() > 10 && tb[4] == b'-' && tb[7] == b'-' && tb[..4].iter().all(u8::is_ascii_digit))
        {
            // The prefix must look like one: starts with a month name or an ISO date and
            // has a `name[pid]` or `name` token before the colon.
            let head = &t[..search + i];
            let hb = head.as_bytes();
            let month = head.len() > 15 && hb[..3].iter().all(u8::is_ascii_alphabetic) && hb[3] == b' ';
            let iso = head.len() > 10 && hb[4] == b'-' && hb[..4].iter().all(u8::is_ascii_digit);
            if (month || iso) && head.contains(' ') {
                return Some(&t[at..]);
            }
        }
        search = at;
        if search >= limit {
            break;
        }
    }
    None
}

fn parse_json_line(t: &str) -> Parsed<'_> {
    let mut obj: Fields = match serde_json::from_str(t) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Parsed::Foreign,
        Err(e) => {
            return if t.contains("\"msg\"") && t.contains("\"level\"") {
                Parsed::Bad(format!("broken JSON log line: {e}"))
            } else {
                Parsed::Foreign
            }
        }
    };
    let (Some(msg), Some(level)) = (obj.remove("msg"), obj.remove("level")) else {
        return Parsed::Foreign;
    };
    let ts = match obj.remove("ts") {
        Some(Value::String(s)) => match Timestamp::parse(&s) {
            Ok(ts) => ts,
            Err(e) => return Parsed::Bad(e.to_string()),
        },
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs) => Timestamp::from_unix_nanos((secs * 1e9) as i64, 0, 3),
            None => return Parsed::Bad("bad ts".into()),
        },
        _ => return Parsed::Bad("JSON log line without ts".into()),
    };
    let logger = match obj.remove("logger") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let caller = match obj.remove("caller") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    if let Some(l) = &logger {
        if is_rust_logger(l, caller.as_deref()) {
            return Parsed::Foreign;
        }
    }
    let msg = match msg {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let level = level.as_str().and_then(normalize_level);
    Parsed::Json(Box::new(JsonRecord { ts, level, logger: logger.map(Arc::from), caller: caller.map(Arc::from), msg, fields: obj }))
}

pub(crate) mod json_scan;

#[cfg(test)]
pub(crate) mod tests;
