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
use crate::time::Timestamp;
use serde_json::Value;
use std::borrow::Cow;

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
    logger: Option<String>,
    caller: Option<String>,
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
    logger: Option<String>,
    caller: Option<String>,
    msg: String,
    fields: Fields,
}

impl LogParser {
    pub fn new() -> LogParser {
        LogParser::default()
    }

    /// Counters of lines that did not become stored events.
    pub fn stats(&self) -> &LineStats {
        &self.stats
    }

    /// First line of the open record, if one is open. A checkpoint must not pass it.
    pub fn open_record_line(&self) -> Option<u64> {
        self.open.as_ref().map(|r| r.line)
    }

    /// Feeds one physical line (without its `\n`; a trailing `\r` is ignored).
    pub fn push_line(&mut self, line_no: u64, raw: &[u8], out: &mut Vec<Event>) -> LineClass {
        self.stats.lines += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if is_plain_other_record(raw) {
            // Most lines of a busy node (mpool, bitswap, markets…) take this path: open a record
            // for checkpointing and continuation lines, nothing else.
            self.close(out);
            self.open = Some(OpenRecord { line: line_no, line_count: 1, candidate: None });
            return LineClass::RecordStart;
        }
        let text: Cow<str> = String::from_utf8_lossy(raw);
        if text.trim().is_empty() {
            self.stats.blank += 1;
            return LineClass::Blank;
        }
        let text = strip_colour(text);
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
                out.push(Event::new(EventKind::Unknown, line_no, truncate(&text, MAX_RAW_TEXT)));
                LineClass::Unknown
            }
            Parsed::NotARecord => {
                if self.is_continuation(&text) {
                    let rec = self.open.as_mut().expect("continuation implies an open record");
                    rec.line_count += 1;
                    self.stats.continuation_lines += 1;
                    if let Some(c) = rec.candidate.as_mut() {
                        if c.message.len() + text.len() < MAX_RECORD_TEXT {
                            // A wrapped field object continues the fields, else the message.
                            match c.fields_text.as_mut() {
                                Some(f) => {
                                    f.push('\n');
                                    f.push_str(&text);
                                }
                                None => {
                                    c.message.push('\n');
                                    c.message.push_str(&text);
                                }
                            }
                        }
                    }
                    LineClass::Continuation
                } else {
                    self.close(out);
                    out.push(Event::new(EventKind::Unknown, line_no, truncate(&text, MAX_RAW_TEXT)));
                    LineClass::Unknown
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
        let candidate = match match_rule(h.rest) {
            Some(rule) if logger_allowed(rule, h.logger) => {
                let (message, fields_text) = split_fields(h.rest, rule.wants_fields);
                Some(Candidate {
                    rule,
                    ts: h.ts,
                    level: h.level,
                    logger: h.logger.map(str::to_string),
                    caller: h.caller.map(str::to_string),
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

/// Which bytes start some row prefix: most messages are ruled out by their first byte alone.
static RULE_FIRST_BYTES: std::sync::LazyLock<[bool; 256]> = std::sync::LazyLock::new(|| {
    let mut t = [false; 256];
    for r in crate::messages::RULES {
        t[r.prefix.as_bytes()[0] as usize] = true;
    }
    t
});

/// `::` marks a Rust logger (`filcrypto::proofs`); such lines are foreign.
fn is_rust_path(tok: &[u8]) -> bool {
    tok.windows(2).any(|w| w == b"::")
}

/// Splits off the next token (after a run of tabs/spaces) without decoding.
fn next_token_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = b.iter().position(|c| *c != b'\t' && *c != b' ')?;
    let b = &b[start..];
    let end = b.iter().position(|c| *c == b'\t' || *c == b' ').unwrap_or(b.len());
    Some((&b[..end], &b[end..]))
}

fn looks_like_caller_bytes(tok: &[u8]) -> bool {
    match tok.iter().rposition(|c| *c == b':') {
        Some(i) => i + 1 < tok.len() && tok[i + 1..].iter().all(u8::is_ascii_digit) && tok[..i].contains(&b'.'),
        None => false,
    }
}

/// True for a well-formed go-log text line — valid timestamp, a level, a Go logger and a caller —
/// whose message starts with no row prefix of the message table: an ordinary record (mpool,
/// bitswap, …) that needs no further parsing. Looks only at the header and the message's first
/// bytes, so it costs the same whatever the line's length. Anything unusual returns false and
/// takes the full parser.
fn is_plain_other_record(raw: &[u8]) -> bool {
    if raw.len() < 30 || !raw[0].is_ascii_digit() || raw[4] != b'-' || raw[10] != b'T' {
        return false;
    }
    let Ok((_, n)) = Timestamp::parse_prefix(raw) else { return false };
    let rest = &raw[n..];
    if !matches!(rest.first(), Some(b'\t' | b' ')) {
        return false;
    }
    let Some((level, rest)) = next_token_bytes(rest) else { return false };
    let level_ok = [&b"INFO"[..], b"WARN", b"ERROR", b"DEBUG", b"DPANIC", b"PANIC", b"FATAL", b"\x1b[", b"^[["]
        .iter()
        .any(|l| level.starts_with(l));
    if !level_ok {
        return false;
    }
    let Some((logger, rest)) = next_token_bytes(rest) else { return false };
    let Some((caller, rest)) = next_token_bytes(rest) else { return false };
    if is_rust_path(logger) || !looks_like_caller_bytes(caller) {
        return false;
    }
    let Some(start) = rest.iter().position(|c| *c != b'\t' && *c != b' ') else { return true };
    let msg = &rest[start..];
    !RULE_FIRST_BYTES[msg[0] as usize] || !crate::messages::RULES.iter().any(|r| msg.starts_with(r.prefix.as_bytes()))
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
    if !text.contains('\u{1b}') && !text.contains("^[[") {
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
    if let Some(i) = rest.find("\t{") {
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
    logger.contains("::") || caller.map(|c| c.contains(".rs:")).unwrap_or(false)
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
    while let Some(i) = t[search..limit].find(": ") {
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
    Parsed::Json(Box::new(JsonRecord { ts, level, logger, caller, msg, fields: obj }))
}

#[cfg(test)]
mod tests;
