//! Streaming parser of Lotus journals (`<repo>/journal/lotus-journal*.ndjson`, lotus-facts §1).
//!
//! Each record is `{"System","Event","Timestamp","Data"}`. `sync:head_change` is fully typed;
//! every other record keeps System, Event, Timestamp and position, and its raw `Data` only when
//! asked (mpool events can be most of a journal's bytes). Lines that are not JSON become
//! `malformed` events. Records pasted into documents (`>` quote prefixes, hard wraps) are
//! re-joined when the pieces form one JSON object.

pub mod records;

use crate::cids::validate_cid;
use crate::event::{Event, EventKind, HeadChange, JournalMeta, LineStats};
use crate::log::LineClass;
use crate::time::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

use records::{EVENT_BLOCK_SEEN, EVENT_FINALITY, EVENT_HEAD_CHANGE, SYSTEM_LSYNC, SYSTEM_SYNC};

/// How many physical lines a hard-wrapped record may span before it is given up as malformed.
const MAX_WRAPPED_LINES: u32 = 32;
const MAX_WRAPPED_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(rename = "System", borrow)]
    system: Option<Cow<'a, str>>,
    #[serde(rename = "Event", borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "Data", borrow)]
    data: Option<&'a RawValue>,
    /// Journals before v0.8.0 wrote `Val` with an `op` instead of `Event`/`Data`.
    #[serde(rename = "Val", borrow)]
    val: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CidObj<'a> {
    #[serde(rename = "/", borrow)]
    cid: Cow<'a, str>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct HeadChangeData<'a> {
    #[serde(borrow)]
    From: Vec<CidObj<'a>>,
    FromHeight: i64,
    #[serde(borrow)]
    To: Vec<CidObj<'a>>,
    ToHeight: i64,
    RevertCount: i64,
    ApplyCount: i64,
}

/// The reader's borrowed view of [`records::BlockSeenData`] (tests hold the two together).
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BlockSeenData<'a> {
    #[serde(borrow)]
    Cid: CidObj<'a>,
    Height: i64,
    #[serde(borrow)]
    Miner: Cow<'a, str>,
    #[serde(borrow)]
    FirstSeen: Cow<'a, str>,
    #[serde(borrow)]
    Peer: Cow<'a, str>,
    Duplicates: u64,
    DelayMs: i64,
    #[serde(borrow, default)]
    Equivocates: Option<CidObj<'a>>,
    /// The same delay in nanoseconds (lsync 0.1 from wave 2 on): sub-millisecond precision.
    #[serde(default)]
    DelayNs: Option<i64>,
    /// How long fetching the block's messages took, ms (absent when lsync did not fetch them).
    #[serde(default)]
    MsgFetchMs: Option<f64>,
}

#[derive(Deserialize)]
struct LegacyVal<'a> {
    #[serde(borrow)]
    op: Option<Cow<'a, str>>,
}

/// Options of the journal parser.
#[derive(Clone, Copy, Debug, Default)]
pub struct JournalOptions {
    /// Keep the raw `Data` JSON of non-head_change records.
    pub keep_raw: bool,
}

struct Wrapped {
    line: u64,
    line_count: u32,
    text: String,
}

/// The streaming journal parser.
#[derive(Default)]
pub struct JournalParser {
    opts: JournalOptions,
    wrapped: Option<Wrapped>,
    stats: LineStats,
    /// Interned System/Event names, so a record costs no allocation for them.
    names: Vec<Arc<str>>,
    /// False for [`JournalParser::reference`]: every record through serde.
    fast: bool,
    /// The raw bytes of the last head change's `To` list, checked: the next one's `From` is
    /// nearly always the same bytes (a pure memo).
    last_to: Vec<u8>,
}

impl JournalParser {
    pub fn new(opts: JournalOptions) -> JournalParser {
        JournalParser { opts, wrapped: None, stats: LineStats::default(), names: Vec::new(), fast: true, last_to: Default::default() }
    }

    /// A parser without the byte-level fast paths: the reference they are held to (tests and
    /// the fuzz target compare the two on every input).
    pub fn reference(opts: JournalOptions) -> JournalParser {
        JournalParser { fast: false, ..JournalParser::new(opts) }
    }

    pub fn stats(&self) -> &LineStats {
        &self.stats
    }

    /// First line of a wrapped record still being joined, if any.
    pub fn open_record_line(&self) -> Option<u64> {
        self.wrapped.as_ref().map(|w| w.line)
    }

    /// True when `raw` starts a record whatever came before it (see
    /// [`crate::LogParser::starts_record`]): a line that begins a JSON object ends any wrapped
    /// record being joined.
    pub fn starts_record(raw: &[u8]) -> bool {
        let t = String::from_utf8_lossy(raw);
        t.trim().trim_start_matches('>').trim().starts_with('{')
    }

    /// Feeds one physical line (without `\n`).
    pub fn push_line(&mut self, line_no: u64, raw: &[u8], out: &mut Vec<Event>) -> LineClass {
        let mut head = None;
        let class = self.push_line_to(line_no, raw, out, |h| head = Some(h.to_event()));
        out.extend(head);
        class
    }

    /// [`JournalParser::push_line`] that hands a head change the fast path reads to `head`, in
    /// place, instead of pushing its event (`HeadChangeRef::to_event` is that event). A line
    /// gives either one call of `head` or events in `out`, never both.
    pub fn push_line_to(&mut self, line_no: u64, raw: &[u8], out: &mut Vec<Event>, head: impl FnOnce(HeadChangeRef<'_>)) -> LineClass {
        self.stats.lines += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if self.wrapped.is_none() && self.fast {
            if let Some(r) = head_change_fast_path(line_no, raw, &mut self.last_to) {
                head(r);
                return LineClass::RecordStart;
            }
            if let Some(ev) = envelope_fast_path(line_no, raw, self.opts.keep_raw, &mut self.names) {
                out.push(ev);
                return LineClass::RecordStart;
            }
        }
        let text = String::from_utf8_lossy(raw);
        // Pasted journals: `>` quote prefixes and trailing hard-wrap spaces.
        let t = text.trim().trim_start_matches('>').trim();
        if t.is_empty() {
            self.stats.blank += 1;
            return LineClass::Blank;
        }
        if let Some(w) = self.wrapped.as_mut() {
            if !t.starts_with('{') && w.line_count < MAX_WRAPPED_LINES && w.text.len() + t.len() < MAX_WRAPPED_BYTES {
                w.text.push_str(t);
                w.line_count += 1;
                self.stats.continuation_lines += 1;
                match serde_json::from_str::<RawRecord>(&w.text) {
                    Ok(_) => {
                        let w = self.wrapped.take().expect("checked");
                        let mut ev = self.record(w.line, &w.text);
                        ev.line_count = w.line_count;
                        out.push(ev);
                    }
                    Err(e) if e.is_eof() => {}
                    Err(_) => {
                        let w = self.wrapped.take().expect("checked");
                        out.push(malformed(w.line, w.line_count, &w.text, "not a JSON journal record"));
                    }
                }
                return LineClass::Continuation;
            }
            self.flush_wrapped(out);
        }
        if !t.starts_with('{') {
            out.push(malformed(line_no, 1, t, "not a JSON journal record"));
            return LineClass::Malformed;
        }
        match serde_json::from_str::<RawRecord>(t) {
            Ok(_) => {
                let ev = self.record(line_no, t);
                let class = if ev.kind == EventKind::Malformed { LineClass::Malformed } else { LineClass::RecordStart };
                out.push(ev);
                class
            }
            Err(e) if e.is_eof() => {
                self.wrapped = Some(Wrapped { line: line_no, line_count: 1, text: t.to_string() });
                LineClass::RecordStart
            }
            Err(e) => {
                out.push(malformed(line_no, 1, t, &format!("invalid JSON: {e}")));
                LineClass::Malformed
            }
        }
    }

    /// Ends the input: a record still being joined is reported as malformed (truncated).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        self.flush_wrapped(out);
    }

    fn flush_wrapped(&mut self, out: &mut Vec<Event>) {
        if let Some(w) = self.wrapped.take() {
            out.push(malformed(w.line, w.line_count, &w.text, "truncated JSON journal record"));
        }
    }

    /// Turns one complete JSON text into an event (head_change, other, or malformed).
    fn record(&self, line: u64, t: &str) -> Event {
        let rec: RawRecord = match serde_json::from_str(t) {
            Ok(r) => r,
            Err(e) => return malformed(line, 1, t, &format!("invalid JSON: {e}")),
        };
        let Some(ts_text) = rec.timestamp.as_deref() else {
            return malformed(line, 1, t, "no Timestamp");
        };
        let ts = match Timestamp::parse(ts_text) {
            Ok(ts) => ts,
            Err(e) => return malformed(line, 1, t, &e.to_string()),
        };
        let Some(system) = rec.system.as_deref() else {
            return malformed(line, 1, t, "no System");
        };
        let event_name: Cow<str> = match (&rec.event, rec.val) {
            (Some(e), _) => Cow::Borrowed(e.as_ref()),
            (None, Some(v)) => match serde_json::from_str::<LegacyVal>(v.get()) {
                Ok(LegacyVal { op: Some(op) }) => Cow::Owned(op.into_owned()),
                _ => Cow::Borrowed(""),
            },
            (None, None) => return malformed(line, 1, t, "no Event"),
        };
        if system == SYSTEM_SYNC && event_name == EVENT_HEAD_CHANGE {
            let Some(data) = rec.data else {
                return malformed(line, 1, t, "head_change without Data");
            };
            let d: HeadChangeData = match serde_json::from_str(data.get()) {
                Ok(d) => d,
                Err(e) => return malformed(line, 1, t, &format!("head_change Data: {e}")),
            };
            let conv = |v: Vec<CidObj>| -> Result<Vec<String>, String> {
                v.iter().map(|c| validate_cid(&c.cid).map_err(|e| e.to_string())).collect()
            };
            let (from, to) = match (conv(d.From), conv(d.To)) {
                (Ok(f), Ok(to)) => (f, to),
                (Err(e), _) | (_, Err(e)) => return malformed(line, 1, t, &format!("head_change: {e}")),
            };
            let hc = HeadChange {
                from,
                from_height: d.FromHeight,
                to,
                to_height: d.ToHeight,
                revert_count: d.RevertCount,
                apply_count: d.ApplyCount,
            };
            let journal = JournalMeta { system: Arc::from(system), event: Arc::from(event_name.as_ref()), raw_data: None };
            return head_change_event(line, ts, hc, journal);
        }
        if system == SYSTEM_LSYNC && event_name == EVENT_BLOCK_SEEN {
            if let Some(data) = rec.data {
                return match block_seen(line, data.get()) {
                    Ok(ev) => ev,
                    Err(e) => malformed(line, 1, t, &format!("lsync:block_seen Data: {e}")),
                };
            }
        }
        if system == SYSTEM_LSYNC && event_name == EVENT_FINALITY {
            if let Some(data) = rec.data {
                return match finality(line, data.get()) {
                    Ok(ev) => ev,
                    Err(e) => malformed(line, 1, t, &format!("lsync:finality Data: {e}")),
                };
            }
        }
        let mut ev = Event::new(EventKind::JournalOther, line, String::new());
        ev.ts = Some(ts);
        // lsync's own records (reorg paths, anchors, gaps) are always kept: they are few and
        // what `orphans` and the report read.
        let raw_data = if self.opts.keep_raw || system == SYSTEM_LSYNC { rec.data.or(rec.val).map(|d| d.get().to_string()) } else { None };
        ev.journal = Some(JournalMeta { system: Arc::from(system), event: Arc::from(event_name.as_ref()), raw_data });
        ev
    }
}

/// The event of a journal head change (both paths build it here).
fn head_change_event(line: u64, ts: Timestamp, hc: HeadChange, journal: JournalMeta) -> Event {
    let mut ev = Event::new(EventKind::HeadChange, line, head_change_text(hc.from_height, hc.to_height, hc.revert_count, hc.apply_count));
    ev.ts = Some(ts);
    ev.height = Some(hc.to_height);
    ev.cids = Vec::with_capacity(hc.to.len() + hc.from.len());
    ev.cids.extend(hc.to.iter().cloned());
    ev.cids.extend(hc.from.iter().cloned());
    ev.head_change = Some(hc);
    ev.journal = Some(journal);
    ev
}

/// The text a journal head change is listed with (from its heights and counts): what the store
/// rebuilds instead of keeping.
pub fn head_change_text(from_height: i64, to_height: i64, revert_count: i64, apply_count: i64) -> String {
    let mut s = String::with_capacity(48);
    write_head_change_text(&mut s, from_height, to_height, revert_count, apply_count);
    s
}

/// [`head_change_text`] appended to `out` (an export writes millions of them into one buffer).
/// The integers are written by hand: `write!`'s formatting machinery was ~1.5 % of an export.
pub fn write_head_change_text(out: &mut String, from_height: i64, to_height: i64, revert_count: i64, apply_count: i64) {
    out.push_str("head_change ");
    push_decimal(out, from_height);
    out.push('→');
    push_decimal(out, to_height);
    out.push_str(" revert=");
    push_decimal(out, revert_count);
    out.push_str(" apply=");
    push_decimal(out, apply_count);
}

/// `v` in decimal, as `Display` writes it.
fn push_decimal(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Most CIDs a list may have for [`HeadChangeRef`] (a tipset has ~5 blocks; a longer list takes
/// the event path).
pub const MAX_REF_CIDS: usize = 24;

/// A CID list borrowed from a journal line: every entry canonical CIDv1 text.
#[derive(Clone, Copy, Debug)]
pub struct CidRefs<'a> {
    n: usize,
    items: [&'a str; MAX_REF_CIDS],
}

impl<'a> CidRefs<'a> {
    pub fn as_slice(&self) -> &[&'a str] {
        &self.items[..self.n]
    }
    fn to_strings(self) -> Vec<String> {
        self.as_slice().iter().map(|c| c.to_string()).collect()
    }
}

/// A journal head change read in place, borrowing the line: what [`JournalParser::push_line_to`]
/// hands to its sink instead of an [`Event`] (nearly every record of a full node's journal; an
/// event costs ~25 allocations, this none). [`HeadChangeRef::to_event`] is the event
/// [`JournalParser::push_line`] gives for the same line.
#[derive(Clone, Copy, Debug)]
pub struct HeadChangeRef<'a> {
    pub line: u64,
    pub ts: Timestamp,
    pub from: CidRefs<'a>,
    pub from_height: i64,
    pub to: CidRefs<'a>,
    pub to_height: i64,
    pub revert_count: i64,
    pub apply_count: i64,
}

impl HeadChangeRef<'_> {
    /// The domain head change.
    pub fn to_head_change(&self) -> HeadChange {
        HeadChange {
            from: self.from.to_strings(),
            from_height: self.from_height,
            to: self.to.to_strings(),
            to_height: self.to_height,
            revert_count: self.revert_count,
            apply_count: self.apply_count,
        }
    }

    /// The event of the record, as the reader gives it.
    pub fn to_event(&self) -> Event {
        let journal = JournalMeta { system: Arc::from(SYSTEM_SYNC), event: Arc::from(EVENT_HEAD_CHANGE), raw_data: None };
        head_change_event(self.line, self.ts, self.to_head_change(), journal)
    }
}

/// `sync:head_change` — nearly every record of a full node's journal — exactly as Lotus's
/// encoding/json writes it: `{"System":"sync","Event":"head_change","Timestamp":"…","Data":
/// {"From":[{"/":"…"},…],"FromHeight":N,"To":[…],"ToHeight":N,"RevertCount":N,"ApplyCount":N}}`,
/// read straight from the bytes. Anything else — another key order, spaces, escapes, a number
/// that is not a plain integer, a CID that is not canonical CIDv1 text, a list longer than
/// [`MAX_REF_CIDS`] — returns `None` and takes the full JSON path, which decides it (the
/// reference parser; tests and the fuzzer hold the two equal). `last_to` is the raw bytes of the
/// last `To` this parser accepted: a `From` with the same bytes is not validated again.
fn head_change_fast_path<'a>(line_no: u64, raw: &'a [u8], last_to: &mut Vec<u8>) -> Option<HeadChangeRef<'a>> {
    let rest = raw.strip_prefix(b"{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    let ts_text = crate::bytes::ascii_str(&rest[..end])?;
    if ts_text.bytes().any(|c| c == b'\\' || c < 0x20) {
        return None;
    }
    let rest = rest[end + 1..].strip_prefix(b",\"Data\":{\"From\":[")?;
    let (from_raw, rest) = cid_array(rest)?;
    let (from_height, rest) = int_field(rest, b",\"FromHeight\":")?;
    let rest = rest.strip_prefix(b",\"To\":[")?;
    let (to_raw, rest) = cid_array(rest)?;
    let (to_height, rest) = int_field(rest, b",\"ToHeight\":")?;
    let (revert_count, rest) = int_field(rest, b",\"RevertCount\":")?;
    let (apply_count, rest) = int_field(rest, b",\"ApplyCount\":")?;
    if !rest.strip_prefix(b"}}")?.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
        return None;
    }
    let ts = Timestamp::parse(ts_text).ok()?;
    let from = cid_list(from_raw, from_raw == last_to.as_slice())?;
    let to = cid_list(to_raw, false)?;
    last_to.clear();
    last_to.extend_from_slice(to_raw);
    Some(HeadChangeRef { line: line_no, ts, from, from_height, to, to_height, revert_count, apply_count })
}

/// The bytes of `{"/":"…"},{"/":"…"}` up to the closing `]`, and what follows it.
fn cid_array(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b']', b)?;
    Some((&b[..end], &b[end + 1..]))
}

/// The CIDs of a [`cid_array`] when each is canonical CIDv1 text (its own canonical form, what
/// `validate_cid` would return); `known` when these bytes were checked already.
fn cid_list(mut b: &[u8], known: bool) -> Option<CidRefs<'_>> {
    let mut out = CidRefs { n: 0, items: [""; MAX_REF_CIDS] };
    while !b.is_empty() {
        if out.n > 0 {
            b = b.strip_prefix(b",")?;
        }
        let rest = b.strip_prefix(b"{\"/\":\"")?;
        let end = memchr::memchr(b'"', rest)?;
        let text = crate::bytes::ascii_str(&rest[..end])?;
        if out.n == MAX_REF_CIDS || !(known || crate::cids::is_canonical_base32_v1(text)) {
            return None;
        }
        out.items[out.n] = text;
        out.n += 1;
        b = rest[end + 1..].strip_prefix(b"}")?;
    }
    Some(out)
}

/// `key` then a JSON integer as serde reads it into an `i64` (no sign but `-`, no leading zero,
/// no fraction or exponent; serde reads `-0` as a float, which an `i64` field refuses).
fn int_field<'a>(b: &'a [u8], key: &[u8]) -> Option<(i64, &'a [u8])> {
    let b = b.strip_prefix(key)?;
    let (neg, digits) = match b.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, b),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (digits[0] == b'0' && (n > 1 || neg)) || n > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in &digits[..n] {
        let d = (c - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(d)? } else { v.checked_mul(10)?.checked_add(d)? };
    }
    Some((v, &digits[n..]))
}

/// Lotus writes every record as `{"System":"…","Event":"…","Timestamp":"…","Data":…}` in that key
/// order (Go's encoding/json of `journal.Event`). For records other than `sync:head_change` —
/// mpool events are most of a journal's bytes — the envelope is all lsync keeps, so it is read
/// straight from the bytes: the `Data` value is not decoded, only required to close the object.
/// Anything not in that exact shape (escapes, other key order, head changes) returns `None` and
/// takes the full JSON path.
fn envelope_fast_path(line_no: u64, raw: &[u8], keep_raw: bool, names: &mut Vec<Arc<str>>) -> Option<Event> {
    fn quoted(b: &[u8]) -> Option<(&str, &[u8])> {
        let end = memchr::memchr(b'"', b)?;
        let s = &b[..end];
        // Plain printable ASCII only: an escape, a control character (invalid in JSON, which
        // the fuzzer found the fast path letting through) or UTF-8 go to serde.
        if s.iter().any(|c| *c == b'\\' || *c < 0x20 || *c >= 0x7f) {
            return None;
        }
        Some((std::str::from_utf8(s).ok()?, &b[end + 1..]))
    }
    let rest = raw.strip_prefix(b"{\"System\":\"")?;
    let (system, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(b",\"Event\":\"")?;
    let (event, rest) = quoted(rest)?;
    if (system == SYSTEM_SYNC && event == EVENT_HEAD_CHANGE)
        || (system == SYSTEM_LSYNC && (event == EVENT_BLOCK_SEEN || event == EVENT_FINALITY))
    {
        return None;
    }
    let rest = rest.strip_prefix(b",\"Timestamp\":\"")?;
    let (ts_text, rest) = quoted(rest)?;
    let data = rest.strip_prefix(b",\"Data\":")?;
    let mut data = data.trim_ascii_end().strip_suffix(b"}")?;
    // JSON whitespace between the value and the object's end is not part of the value: serde's
    // raw value (what the full path keeps) holds the value alone (the fuzzer found `"x"\r\t}`).
    while let [value @ .., b' ' | b'\t' | b'\n' | b'\r'] = data {
        data = value;
    }
    // `Data` must be one valid JSON value, exactly as serde reads it (a balanced-bracket check
    // let invalid JSON through as a record; the fuzzer found it); leading space would differ
    // from serde's raw value.
    if data.first().is_none_or(|c| c.is_ascii_whitespace()) || !crate::json_scan::is_one_value(data) {
        return None;
    }
    let ts = Timestamp::parse(ts_text).ok()?;
    // journal_other rows keep System/Event in their own columns; no text is needed.
    let mut ev = Event::new(EventKind::JournalOther, line_no, String::new());
    ev.ts = Some(ts);
    let raw_data = if keep_raw || system == SYSTEM_LSYNC { Some(String::from_utf8_lossy(data).into_owned()) } else { None };
    ev.journal = Some(JournalMeta { system: intern(names, system), event: intern(names, event), raw_data });
    Some(ev)
}

/// A first-seen record: the event's time is the first sighting (ms), not the record's write time.
fn block_seen(line: u64, data: &str) -> Result<Event, String> {
    let d: BlockSeenData = serde_json::from_str(data).map_err(|e| e.to_string())?;
    let cid = validate_cid(&d.Cid.cid).map_err(|e| e.to_string())?;
    let ts = Timestamp::parse(&d.FirstSeen).map_err(|e| e.to_string())?;
    let mut text = format!("first seen from {} ({} duplicates)", d.Peer, d.Duplicates);
    let mut cids = vec![cid];
    if let Some(other) = &d.Equivocates {
        // Both blocks name the event, so `trace` of either finds the equivocation.
        let other = validate_cid(&other.cid).map_err(|e| e.to_string())?;
        text.push_str(&format!("; equivocation: the miner's block {other} at this height came first"));
        cids.push(other);
    }
    let mut ev = Event::new(EventKind::BlockSeen, line, text);
    ev.ts = Some(ts);
    ev.cids = cids;
    ev.height = Some(d.Height);
    ev.miner = Some(d.Miner.into_owned());
    ev.peer = Some(d.Peer.into_owned());
    ev.delay_s = Some(match d.DelayNs {
        Some(ns) => ns as f64 / 1e9,
        None => d.DelayMs as f64 / 1000.0,
    });
    ev.duration_ms = d.MsgFetchMs;
    ev.journal = Some(JournalMeta { system: Arc::from(SYSTEM_LSYNC), event: Arc::from(EVENT_BLOCK_SEEN), raw_data: None });
    Ok(ev)
}

/// The text of a finality event: `F3 instance N: …` (the finality report reads the instance
/// back from it), or `finalized …` when no F3 instance is known.
pub fn finality_text(instance: Option<u64>, epoch: i64, base: Option<i64>, source: &str) -> String {
    let base = base.map_or(String::new(), |b| format!(" (base {b})"));
    match instance {
        Some(i) => format!("F3 instance {i}: finalized epoch {epoch}{base} via {source}"),
        None => format!("finalized epoch {epoch}{base} via {source}"),
    }
}

/// The F3 instance a finality event's text names.
pub fn finality_instance(text: &str) -> Option<u64> {
    text.strip_prefix("F3 instance ")?.split(':').next()?.parse().ok()
}

/// A finality record: the event's time is when lsync first saw it; height the finalized epoch.
fn finality(line: u64, data: &str) -> Result<Event, String> {
    let d: records::FinalityData = serde_json::from_str(data).map_err(|e| e.to_string())?;
    let ts = Timestamp::parse(&d.first_seen).map_err(|e| e.to_string())?;
    let mut ev = Event::new(EventKind::Finality, line, finality_text(d.instance, d.epoch, d.base_epoch, &d.source));
    ev.ts = Some(ts);
    ev.cids = d.tipset.cids().iter().map(|c| c.to_string()).collect();
    ev.height = Some(d.epoch);
    ev.journal = Some(JournalMeta { system: Arc::from(SYSTEM_LSYNC), event: Arc::from(EVENT_FINALITY), raw_data: None });
    Ok(ev)
}

fn intern(names: &mut Vec<Arc<str>>, s: &str) -> Arc<str> {
    if let Some(n) = names.iter().find(|n| &***n == s) {
        return n.clone();
    }
    let n: Arc<str> = Arc::from(s);
    if names.len() < 256 {
        names.push(n.clone());
    }
    n
}

fn malformed(line: u64, line_count: u32, text: &str, why: &str) -> Event {
    let mut ev = Event::new(EventKind::Malformed, line, text.chars().take(2048).collect::<String>());
    ev.line_count = line_count;
    ev.problem = Some(why.to_string());
    ev
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        #[test]
        fn head_change_text_writes_integers_as_display_does(a in proptest::prelude::any::<i64>(), b in proptest::prelude::any::<i64>(), c in -3i64..1_000, d in proptest::prelude::any::<i64>()) {
            for (a, b) in [(a, b), (i64::MIN, i64::MAX), (0, -1)] {
                let mut out = String::from("x");
                write_head_change_text(&mut out, a, b, c, d);
                proptest::prop_assert_eq!(out, format!("xhead_change {a}→{b} revert={c} apply={d}"));
            }
        }
    }

    use super::*;

    const A: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
    const B: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";

    fn run(text: &str, keep_raw: bool) -> Vec<Event> {
        let mut p = JournalParser::new(JournalOptions { keep_raw });
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            p.push_line(i as u64 + 1, l.as_bytes(), &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn head_change_typed() {
        let line = format!("{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"2021-11-11T16:13:30.689264594+08:00\",\"Data\":{{\"From\":[{{\"/\":\"{A}\"}}],\"FromHeight\":1277067,\"To\":[{{\"/\":\"{A}\"}},{{\"/\":\"{B}\"}}],\"ToHeight\":1277067,\"RevertCount\":1,\"ApplyCount\":1}}}}");
        let evs = run(&line, false);
        assert_eq!(evs.len(), 1);
        let hc = evs[0].head_change.as_ref().unwrap();
        assert_eq!(hc.to, vec![A, B]);
        assert_eq!((hc.from_height, hc.revert_count, hc.apply_count), (1277067, 1, 1));
        assert_eq!(hc.class(), crate::event::ReorgClass::Widen);
        assert_eq!(evs[0].ts.unwrap().to_string(), "2021-11-11T16:13:30.689264594+08:00");
    }

    #[test]
    fn real_miner_journal_other_events() {
        let evs = run(include_str!("../../fixtures/samples/lotus-docs-miner-journal.ndjson"), true);
        assert_eq!(evs.len(), 4);
        assert!(evs.iter().all(|e| e.kind == EventKind::JournalOther));
        let j = evs[2].journal.as_ref().unwrap();
        assert_eq!((&*j.system, &*j.event), ("wdpost", "scheduler"));
        assert!(j.raw_data.as_deref().unwrap().contains("CurrentEpoch"));
        let evs = run(include_str!("../../fixtures/samples/lotus-docs-miner-journal.ndjson"), false);
        assert!(evs[2].journal.as_ref().unwrap().raw_data.is_none());
    }

    #[test]
    fn pasted_journal_is_rejoined_or_reported() {
        let evs = run(include_str!("../../fixtures/samples/filecoin-docs-miner-journal-quoted.ndjson"), false);
        let good = evs.iter().filter(|e| e.kind == EventKind::JournalOther).count();
        let bad: Vec<_> = evs.iter().filter(|e| e.kind == EventKind::Malformed).collect();
        assert!(good >= 3, "{evs:#?}");
        assert!(!bad.is_empty());
        assert!(bad.iter().all(|e| e.problem.is_some() && e.line >= 1));
    }

    #[test]
    fn torn_and_garbage_lines_are_malformed_not_fatal() {
        let good = "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52.11Z\",\"Data\":{}}";
        let text = format!("{good}\n{{\"System\":\"sync\",\"Eve\n{good}\nnot json\n{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{{\"From\":[{{\"/\":\"nope\"}}],\"FromHeight\":1,\"To\":[],\"ToHeight\":2,\"RevertCount\":0,\"ApplyCount\":1}}}}\n");
        let evs = run(&text, false);
        let kinds: Vec<_> = evs.iter().map(|e| (e.kind, e.line)).collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::JournalOther, 1),
                (EventKind::Malformed, 2),
                (EventKind::JournalOther, 3),
                (EventKind::Malformed, 4),
                (EventKind::Malformed, 5)
            ]
        );
    }

    #[test]
    fn fast_path_agrees_with_full_parse() {
        let lines = [
            "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52.11Z\",\"Data\":{\"Action\":\"add\",\"Messages\":[]}}",
            "{\"System\":\"miner\",\"Event\":\"block_mined\",\"Timestamp\":\"2021-09-22T12:49:56.313760193+08:00\",\"Data\":{\"epoch\":31437}}  ",
            // found by the fuzzer: whitespace after the value, inside the object
            "{\"System\":\"sync\",\"Event\":\"h1ead_change\",\"Timestamp\":\"2021-11-26T10:05:03.96+08:00\",\"Data\":\"thod\"\r\t\t }",
        ];
        for l in lines {
            let fast = envelope_fast_path(7, l.as_bytes(), true, &mut Vec::new()).expect("fast path taken");
            let full = JournalParser::new(JournalOptions { keep_raw: true }).record(7, l.trim());
            assert_eq!(fast, full);
        }
        // Shapes the fast path must leave to the full parser.
        for l in [
            "{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{}}",
            "{\"Event\":\"add\",\"System\":\"mpool\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{}}",
            "{\"System\":\"mp\\\"ool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{}}",
            "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{\"a\":1",
            "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"bad\",\"Data\":{}}",
            // torn inside Data, yet ending in a brace
            "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{\"Messages\":[{\"a\":\"}\"}}",
            // found by the fuzzer: brackets balance, but a key inside an array is no JSON
            "{\"System\":\"miner\",\"Event\":\"block_mined\",\"Timestamp\":\"2021-09-22T12:49:56.313760193+08:00\",\"Data\":{\"parents\":[{\"/\":\"bafy\":\"x\"}],\"n\":1}}",
            // found by the fuzzer: a control character inside System
            "{\"System\":\"m/\u{0}\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{}}",
            // space before Data's value: serde's raw value would not hold it
            "{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\": {}}",
        ] {
            assert!(envelope_fast_path(1, l.as_bytes(), false, &mut Vec::new()).is_none(), "{l}");
        }
    }

    fn run_with(mut p: JournalParser, text: &str) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            p.push_line(i as u64 + 1, l.as_bytes(), &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn head_change_fast_path_agrees_with_the_reference() {
        let hc = |from: &str, to: &str, tail: &str| {
            format!("{{\"System\":\"sync\",\"Event\":\"head_change\",\"Timestamp\":\"2026-12-03T22:00:09.858+08:00\",\"Data\":{{\"From\":[{from}],\"FromHeight\":6599999,\"To\":[{to}],\"ToHeight\":6600000,\"RevertCount\":0,\"ApplyCount\":1{tail}")
        };
        let c = |x: &str| format!("{{\"/\":\"{x}\"}}");
        let ab = format!("{},{}", c(A), c(B));
        let lines = [
            hc(&c(A), &ab, "}}"),
            hc(&ab, &c(B), "}}"), // From = the last To: the memo
            hc(&ab, &c(B), "}}  \t"),
            hc("", "", "}}"),
            // each of these must be left to serde, which decides them
            hc(&c(A), &ab, "} }"),
            hc(&c(A), &ab, "}}x"),
            hc(&c(A), &ab, ",\"X\":1}}"),
            hc(&c(&A[..40]), &ab, "}}"),
            hc(&c("bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm3"), &ab, "}}"),
            hc(&format!("{{\"/\":\" {A}\"}}"), &ab, "}}"),
            hc(&format!("{{\"/\":\"{A}\",\"x\":1}}"), &ab, "}}"),
            hc(&format!("{} ,{}", c(A), c(B)), &ab, "}}"),
            hc(&c(A), &ab, "}}").replace("6600000", "06600000"),
            hc(&c(A), &ab, "}}").replace("6600000", "-0"),
            hc(&c(A), &ab, "}}").replace("6600000", "66e5"),
            hc(&c(A), &ab, "}}").replace("6600000", "99999999999999999999"),
            hc(&c(A), &ab, "}}").replace("6600000", "-9223372036854775808"),
            hc(&c(A), &ab, "}}").replace("22:00:09", "22:0\\u0030:09"),
            hc(&c(A), &ab, "}}").replace("22:00:09", "25:00:09"),
            hc(&c(A), &ab, "}}").replace("\"To\"", "\"to\""),
        ];
        let text = lines.join("\n");
        let fast = run_with(JournalParser::new(JournalOptions::default()), &text);
        let reference = run_with(JournalParser::reference(JournalOptions::default()), &text);
        assert_eq!(fast.len(), reference.len());
        for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
            assert_eq!(f, r, "line {}", i + 1);
        }
        assert_eq!(fast.iter().filter(|e| e.kind == EventKind::HeadChange).count(), 11);
        // The generator's journals (every shape) and the real samples, line by line.
        for t in [
            include_str!("../../fixtures/generated/v1.29-text/journal/lotus-journal.ndjson"),
            include_str!("../../fixtures/samples/lotus-docs-miner-journal.ndjson"),
            include_str!("../../fixtures/samples/filecoin-docs-miner-journal-quoted.ndjson"),
        ] {
            let opts = JournalOptions { keep_raw: true };
            assert_eq!(run_with(JournalParser::new(opts), t), run_with(JournalParser::reference(opts), t));
        }
    }

    #[test]
    fn a_control_character_in_the_envelope_is_malformed() {
        let evs = run("{\"System\":\"m/\u{0}\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52Z\",\"Data\":{}}", false);
        assert_eq!(evs[0].kind, EventKind::Malformed, "{evs:?}");
    }

    #[test]
    fn invalid_data_is_malformed_even_when_its_brackets_balance() {
        let l = "{\"System\":\"miner\",\"Event\":\"block_mined\",\"Timestamp\":\"2021-09-22T12:49:56.313760193+08:00\",\"Data\":{\"parents\":[{\"/\":\"bafy\":\"x\"}],\"n\":1}}";
        let evs = run(l, false);
        assert_eq!(evs[0].kind, EventKind::Malformed, "{evs:?}");
    }

    #[test]
    fn lsync_block_seen_is_typed() {
        let l = format!("{{\"System\":\"lsync\",\"Event\":\"block_seen\",\"Timestamp\":\"2026-11-24T05:00:03.5Z\",\"Data\":{{\"Cid\":{{\"/\":\"{A}\"}},\"Height\":7,\"Miner\":\"f01000\",\"FirstSeen\":\"2026-11-24T05:00:01.234Z\",\"Peer\":\"12D3KooWx\",\"Duplicates\":2,\"DelayMs\":1234}}}}");
        let evs = run(&l, false);
        assert_eq!(evs[0].kind, EventKind::BlockSeen);
        assert_eq!(evs[0].cids, vec![A]);
        assert_eq!((evs[0].height, evs[0].delay_s, evs[0].miner.as_deref()), (Some(7), Some(1.234), Some("f01000")));
        assert_eq!(evs[0].ts.unwrap().to_string(), "2026-11-24T05:00:01.234Z");
    }

    #[test]
    fn legacy_val_format_is_kept() {
        let evs = run("{\"System\":\"sync\",\"Timestamp\":\"2020-06-01T00:00:00Z\",\"Val\":{\"op\":\"headChange\",\"from\":[],\"to\":[],\"rev\":0,\"apply\":1}}", false);
        assert_eq!(evs[0].kind, EventKind::JournalOther);
        assert_eq!(&*evs[0].journal.as_ref().unwrap().event, "headChange");
    }

    fn journal_parts_agree(text: &str, stride: usize) {
        crate::log::tests::assert_parts_agree(
            text,
            stride,
            || JournalParser::new(JournalOptions { keep_raw: true }),
            |p, n, l, out| {
                p.push_line(n, l, out);
            },
            |p, out| p.finish(out),
            |p| p.stats().clone(),
            JournalParser::starts_record,
        );
    }

    #[test]
    fn journals_split_at_record_starts_parse_like_the_whole() {
        for text in [
            include_str!("../../fixtures/samples/lotus-docs-miner-journal.ndjson"),
            include_str!("../../fixtures/samples/filecoin-docs-miner-journal-quoted.ndjson"),
            include_str!("../../fixtures/generated/v1.29-text/journal/lotus-journal.ndjson"),
            &format!("{{\"System\":\"sync\",\n\"Event\":\"x\"\n\n{{\"System\":\"mpool\",\"Event\":\"add\",\"Timestamp\":\"2024-06-23T12:15:52.11Z\",\"Data\":{{}}}}\n{{\"Sys"),
        ] {
            for stride in [1, 3] {
                journal_parts_agree(text, stride);
            }
        }
    }
}

