//! The full parser of one line: every format, colour already stripped; the reference the fast
//! paths ([`super::fast`]) must agree with, byte for byte.

use super::text::{floor_boundary, is_rust_logger};
use super::{Header, JsonRecord};
use crate::event::normalize_level;
use crate::messages::Fields;
use crate::time::Timestamp;
use serde_json::Value;
use std::sync::Arc;

pub(super) enum Parsed<'a> {
    Text(Header<'a>),
    Json(Box<JsonRecord>),
    Foreign,
    Bad(String),
    NotARecord,
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

/// Splits the next whitespace-delimited token.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

pub(super) fn parse_line(text: &str) -> Parsed<'_> {
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
    if let Some(p) = parse_untimed_header(trimmed) {
        return p;
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
pub(super) fn looks_foreign(t: &str) -> bool {
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
    Parsed::Text(Header { ts: Some(ts), level: Some(level), logger, caller, rest })
}

/// A go-log record whose timestamp was not copied (an issue title, `grep -h` output, a line
/// taken from the middle): `LEVEL logger caller message`, tabs or single spaces. Accepted only
/// when all four are there — a go-log level as go-log writes it, a logger, a Go caller
/// `file.go:N` — and the message is a sync wording its logger may emit, so prose, shell
/// commands and decoys that merely contain a wording stay unknown. Its event has no `ts`.
fn parse_untimed_header(t: &str) -> Option<Parsed<'_>> {
    let (tok1, r1) = next_token(t)?;
    let level = match tok1 {
        "DEBUG" | "INFO" | "WARN" | "ERROR" | "DPANIC" | "PANIC" | "FATAL" => normalize_level(tok1)?,
        _ => return None,
    };
    let (logger, r2) = next_token(r1)?;
    let logger_ok = logger.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/')) && !looks_like_caller(logger);
    let (caller, r3) = next_token(r2)?;
    let go_caller = looks_like_caller(caller) && caller.rsplit_once(':').is_some_and(|(file, _)| file.ends_with(".go"));
    if !logger_ok || !go_caller {
        return None;
    }
    let rest = r3.trim_start_matches([' ', '\t']);
    let rule = crate::messages::match_rule(rest)?;
    if !crate::messages::logger_allowed(rule, Some(logger)) {
        return None;
    }
    Some(Parsed::Text(Header { ts: None, level: Some(level), logger: Some(logger), caller: Some(caller), rest }))
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
