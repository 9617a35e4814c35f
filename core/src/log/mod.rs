//! Streaming parser of Lotus daemon logs (go-log/zap), every format of lotus-facts §3:
//! tab-separated text, tabs lost to aligned or single spaces, ANSI colour as bytes or as caret
//! text (`^[[34mINFO^[[0m`), JSON lines, an optional journald/syslog prefix, multi-line records
//! (continuations attached to their record), and foreign lines kept as `unknown`.
//!
//! Lines go in one at a time; events come out when a record is complete (the next record starts,
//! or [`LogParser::finish`]). The parser never fails: what it cannot read becomes a `malformed`
//! or `unknown` event with its line number.

mod cache;
mod fast;
mod reference;
mod text;

use crate::event::{Event, EventKind, LineStats};
use crate::messages::{logger_allowed, match_rule, Fields, MessageRule, NOT_THIS_MESSAGE};
use crate::time::{PrefixCache, Timestamp};
use cache::{HeaderCache, JsonLayouts};
use fast::{fast_header, is_plain_continuation, is_plain_foreign, json_fast, Cached, Fast, JsonFast};
use reference::{parse_line, Parsed};
use std::borrow::Cow;
use std::sync::Arc;
use text::{has_colour, strip_colour, truncate};

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
    ts: Option<Timestamp>,
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
    /// A JSON-format line that did not parse, waiting for the lines that may complete it (a
    /// paste hard-wrapped at a fixed width splits long records).
    pending_json: Option<PendingJson>,
}

/// The first piece(s) of a JSON record split over physical lines.
#[derive(Debug, Default, Clone)]
struct PendingJson {
    line: u64,
    text: String,
    lines: u32,
    /// Why the first piece alone did not parse: the malformed event's reason if no join works.
    reason: String,
}

/// Lines and bytes a split JSON record may span before its pieces are given up.
const MAX_JSON_PIECES: u32 = 8;
const MAX_JSON_JOIN_BYTES: usize = 1 << 20;

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
    /// `None` for a record copied without its timestamp.
    ts: Option<Timestamp>,
    level: Option<&'static str>,
    logger: Option<&'a str>,
    caller: Option<&'a str>,
    /// Message and, after it, the fields (text format).
    rest: &'a str,
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
        self.pending_json.as_ref().map(|p| p.line).or(self.open.as_ref().map(|r| r.line))
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
        if self.pending_json.is_some() {
            if let Some(class) = self.continue_split_json(raw, out) {
                return class;
            }
        }
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
                        let h = Header { ts: Some(ts), level: Some(known.level), logger: Some(&text[n + known.logger.0..n + known.logger.1]), caller: Some(&text[n + known.caller.0..n + known.caller.1]), rest: &text[n + known.len..] };
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
            Parsed::Bad(reason) if text.trim_start().starts_with('{') && text.len() < MAX_JSON_JOIN_BYTES => {
                // Perhaps the first piece of a record split over lines: held until the next
                // line says (see `continue_split_json`).
                self.close(out);
                self.pending_json = Some(PendingJson { line: line_no, text: text.trim().to_string(), lines: 1, reason });
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
        self.flush_split_json(out);
        self.close(out);
    }

    /// The line after a JSON piece that did not parse. A line that starts a record of its own
    /// is never joined (so input cut at `starts_record` lines parses in parts as in one): the
    /// piece becomes a malformed line and `None` lets the line be read normally. Otherwise the
    /// line is appended; if the whole now parses it is one record, reported at its first line.
    fn continue_split_json(&mut self, raw: &[u8], out: &mut Vec<Event>) -> Option<LineClass> {
        let pending = self.pending_json.as_ref().expect("called with a pending piece");
        if Self::starts_record(raw) || pending.lines >= MAX_JSON_PIECES || pending.text.len() + raw.len() > MAX_JSON_JOIN_BYTES {
            self.flush_split_json(out);
            return None;
        }
        let mut pending = self.pending_json.take().expect("checked");
        // A hard wrap cuts at a column: the pieces join without a separator. Text is taken as
        // it is; a wrapped JSON line holds no colour codes.
        pending.text.push_str(String::from_utf8_lossy(raw).trim_end());
        pending.lines += 1;
        self.stats.continuation_lines += 1;
        match parse_line(&pending.text) {
            Parsed::Json(j) => {
                let lines = pending.lines;
                self.open_json(pending.line, *j);
                if let Some(rec) = self.open.as_mut() {
                    rec.line_count = lines;
                }
            }
            _ => self.pending_json = Some(pending),
        }
        Some(LineClass::Continuation)
    }

    /// A held JSON piece that no following line completed: the malformed line it was.
    fn flush_split_json(&mut self, out: &mut Vec<Event>) {
        if let Some(p) = self.pending_json.take() {
            let mut ev = Event::new(EventKind::Malformed, p.line, truncate(&p.text, MAX_RAW_TEXT));
            ev.line_count = p.lines;
            ev.problem = Some(p.reason);
            out.push(ev);
        }
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
                ts: Some(j.ts),
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
        ev.ts = c.ts;
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
                // A row may word its event itself (go-f3's decision names its instance there).
                if ev.text.is_empty() {
                    ev.text = c.message;
                }
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

#[cfg(test)]
pub(crate) mod tests;
