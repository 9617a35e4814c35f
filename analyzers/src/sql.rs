//! `lsync sql`: the store as SQL tables. Events live packed in segments (see `segment.rs`), so
//! the tables users query are SQLite virtual tables that decode segments as the query reads
//! them — one segment's rows in memory at a time — and push constraints on kind, node, time,
//! CID and event id down to the store's own indexes (`xBestIndex`), so a lookup never scans.
//!
//! The only `unsafe` of this crate: rusqlite's virtual-table traits are `unsafe` to implement
//! (SQLite reads the `#[repr(C)]` structs' first field as its own `sqlite3_vtab`); no other
//! unsafe operation is done here.

use crate::read::{self, Sources};
use crate::rows::EventRow;
use crate::store::{Result, StoreError};
use lsync_core::EventKind;
use rusqlite::ffi;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{self, Context, CreateVTab, Filters, IndexConstraintOp, IndexInfo, VTab, VTabConnection, VTabCursor, VTabKind};
use rusqlite::Connection;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::ffi::{c_int, CStr};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The tables `lsync sql` adds, with what each holds (printed by `lsync sql --tables`).
pub const TABLES: &[(&str, &str)] = &[
    ("events", "every event, one row each: the columns of `events --json`, plus event_id and ts_ns (UTC epoch ns); `WHERE cid = ?` (a hidden column) finds the events naming a CID"),
    ("event_cids", "event_id, position, cid, invalid (1: kept as a damaged paste printed it): the CID lists of events"),
    ("head_changes", "every journal head change: from/to heights, revert/apply counts, class (extend/widen/sibling/reorg), depth (tipsets reverted), from_cids/to_cids as JSON arrays"),
    ("blocks", "one row per block and node, from follow's first-seen records and the logs' gossip lines: height, miner, first_seen_ns/first_seen (arrival: follow's ms record, else the log's `new block over pubsub`), peer (follow's, else the pubsub line's), duplicates, delay_s, late_warnings (`large delay` lines), seen_in (the kinds it was found in)"),
    ("sources", "the ingested files: node, path, format, counters"),
    ("nodes", "the nodes' names"),
];

/// Which table a cursor serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Events,
    EventCids,
    HeadChanges,
}

impl Table {
    fn schema(self) -> &'static CStr {
        match self {
            Table::Events => c"CREATE TABLE x(event_id INTEGER, kind TEXT, ts TEXT, ts_ns INTEGER, node TEXT, file TEXT, line INTEGER, level TEXT, logger TEXT, caller TEXT, height INTEGER, worker INTEGER, miner TEXT, delay_s REAL, duration_ms REAL, peer TEXT, text TEXT, cids TEXT, cids_invalid TEXT, data TEXT, cid TEXT HIDDEN)",
            Table::EventCids => c"CREATE TABLE x(event_id INTEGER, position INTEGER, cid TEXT, invalid INTEGER)",
            Table::HeadChanges => c"CREATE TABLE x(event_id INTEGER, ts TEXT, ts_ns INTEGER, node TEXT, file TEXT, line INTEGER, from_height INTEGER, to_height INTEGER, revert_count INTEGER, apply_count INTEGER, class TEXT, depth INTEGER, from_cids TEXT, to_cids TEXT)",
        }
    }

    /// The column of each constraint this table can push down.
    fn column_of(self, c: Pushed) -> Option<c_int> {
        use Pushed::*;
        match (self, c) {
            (Table::Events, Id) | (Table::EventCids, Id) | (Table::HeadChanges, Id) => Some(0),
            (Table::Events, Kind) => Some(1),
            (Table::Events, Node) => Some(4),
            (Table::HeadChanges, Node) => Some(3),
            (Table::Events, Since | Until) => Some(3),
            (Table::HeadChanges, Since | Until) => Some(2),
            (Table::Events, TextSince | TextUntil) => Some(2),
            (Table::HeadChanges, TextSince | TextUntil) => Some(1),
            (Table::Events, Cid) => Some(20),
            (Table::EventCids, Cid) => Some(2),
            (Table::HeadChanges, MinRevert) => Some(8),
            _ => None,
        }
    }
}

/// A constraint pushed down to the store, named in `idx_str` in the order of its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pushed {
    Id,
    Kind,
    Node,
    Since,
    Until,
    Cid,
    MinRevert,
    /// `ts >= text` / `ts <= text` on the RFC 3339 column: text order is local time order, so
    /// the bound is widened by two days (any two UTC offsets) and SQLite checks the text again.
    TextSince,
    TextUntil,
}

impl Pushed {
    const ALL: [Pushed; 9] = [Pushed::Id, Pushed::Cid, Pushed::Kind, Pushed::Node, Pushed::Since, Pushed::Until, Pushed::TextSince, Pushed::TextUntil, Pushed::MinRevert];

    fn name(self) -> &'static str {
        match self {
            Pushed::Id => "id",
            Pushed::Kind => "kind",
            Pushed::Node => "node",
            Pushed::Since => "since",
            Pushed::Until => "until",
            Pushed::Cid => "cid",
            Pushed::MinRevert => "min_revert",
            Pushed::TextSince => "ts_since",
            Pushed::TextUntil => "ts_until",
        }
    }

    fn from_name(s: &str) -> Option<Pushed> {
        Pushed::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether a constraint of `op` on this column is pushed as this.
    fn takes(self, op: IndexConstraintOp) -> bool {
        use IndexConstraintOp::*;
        match self {
            Pushed::Since | Pushed::TextSince | Pushed::MinRevert => matches!(op, SQLITE_INDEX_CONSTRAINT_GE | SQLITE_INDEX_CONSTRAINT_GT),
            Pushed::Until | Pushed::TextUntil => matches!(op, SQLITE_INDEX_CONSTRAINT_LE | SQLITE_INDEX_CONSTRAINT_LT),
            _ => op == SQLITE_INDEX_CONSTRAINT_EQ,
        }
    }
}

/// What the virtual tables read: their own connection to the database (a connection cannot be
/// used from inside its own virtual table's callbacks through rusqlite), and the sources.
struct Store {
    conn: Mutex<Connection>,
    sources: Sources,
}

/// A connection for `lsync sql`: the store's tables in `temp` (they shadow `main`'s
/// `head_changes`, which holds only the head changes that reverted something), the function
/// `ns(time)`, and nothing writable: `PRAGMA query_only`, and [`prepare_read_only`] refuses a
/// statement that would write before it runs.
pub fn open_for_sql(path: &Path) -> Result<Connection> {
    let conn = crate::open_existing(path)?;
    // A GROUP BY or ORDER BY over millions of rows sorts them: on disk past the cache, not in
    // memory (`open` keeps temp tables in memory for ingest). Set before the temp tables are
    // made: changing it drops the temp schema.
    conn.pragma_update(None, "temp_store", "FILE")?;
    // The virtual tables' reads: one snapshot for the session (see `open_for_reading`).
    let reader = crate::store::open_for_reading(path)?;
    reader.pragma_update(None, "query_only", true)?;
    let sources = Sources::load(&reader)?;
    let store = Arc::new(Store { conn: Mutex::new(reader), sources });
    const MODULE: vtab::Module<StoreTab> = vtab::Module::read_only_module();
    for (name, table) in [("lsync_events", Table::Events), ("lsync_event_cids", Table::EventCids), ("lsync_head_changes", Table::HeadChanges)] {
        conn.create_module(name, &MODULE, Some((store.clone(), table)))?;
    }
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.events USING lsync_events;
         CREATE VIRTUAL TABLE temp.event_cids USING lsync_event_cids;
         CREATE VIRTUAL TABLE temp.head_changes USING lsync_head_changes;
         CREATE TEMP VIEW blocks AS SELECT node, block_cid AS cid, height, miner, first_seen_ns,
             strftime('%Y-%m-%dT%H:%M:%fZ', first_seen_ns / 1e9, 'unixepoch') AS first_seen,
             peer, duplicates, delay_s, late_warnings, seen_in
           FROM (SELECT node, json_extract(cids, '$[0]') AS block_cid, max(height) AS height, max(miner) AS miner,
                   coalesce(min(CASE WHEN kind = 'block_seen' THEN ts_ns END), min(CASE WHEN kind = 'block_over_pubsub' THEN ts_ns END)) AS first_seen_ns,
                   coalesce(max(CASE WHEN kind = 'block_seen' THEN peer END), max(CASE WHEN kind = 'block_over_pubsub' THEN peer END)) AS peer,
                   max(CASE WHEN kind = 'block_seen' THEN CAST(substr(text, instr(text, ' (') + 2) AS INTEGER) END) AS duplicates,
                   coalesce(max(CASE WHEN kind = 'block_seen' THEN delay_s END), max(CASE WHEN kind = 'block_delay' THEN delay_s END)) AS delay_s,
                   sum(kind = 'block_delay') AS late_warnings, group_concat(DISTINCT kind) AS seen_in
                 FROM events WHERE kind IN ('block_seen', 'block_over_pubsub', 'block_delay')
                 GROUP BY 1, 2 HAVING block_cid IS NOT NULL);
         CREATE TEMP VIEW sources AS SELECT s.id, n.name AS node, s.path, s.format, s.compression, s.byte_offset AS bytes, s.lines, s.events, s.other_records, s.malformed, s.unknown, s.first_ingest, s.last_ingest FROM main.sources AS s JOIN main.nodes AS n ON n.id = s.node_id;",
    )?;
    conn.create_scalar_function("ns", 1, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        let text = ctx.get::<String>(0)?;
        lsync_core::time::parse_user_time(&text)
            .map(|t| t.unix_nanos)
            .map_err(|e| rusqlite::Error::UserFunctionError(format!("ns({text:?}): {e}").into()))
    })?;
    conn.pragma_update(None, "query_only", true)?;
    // ATTACH counts as a read-only statement, yet it creates the file it names.
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    Ok(conn)
}

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_ref(v: ValueRef<'_>) -> Cell {
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        }
    }

    /// The value as JSON (a BLOB as hex text, a non-finite real as null).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(i) => (*i).into(),
            Cell::Real(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
            Cell::Text(t) => t.clone().into(),
            Cell::Blob(b) => hex(b).into(),
        }
    }

    /// The value as text for tables and CSV (NULL as empty).
    pub fn to_text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(i) => i.to_string(),
            Cell::Real(f) => f.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Blob(b) => hex(b),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where `lsync sql` puts a statement's results, row by row (nothing is collected here).
pub trait RowSink {
    /// A statement's column names, before its rows.
    fn columns(&mut self, names: &[String]) -> std::io::Result<()>;
    /// One row; `false` stops the statement (e.g. a table that has shown enough).
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<bool>;
    /// The statement is done.
    fn end(&mut self) -> std::io::Result<()>;
}

/// Why a script of `lsync sql` stopped.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// SQLite refused the SQL; `offset` is a byte offset into the whole script.
    #[error("{message}")]
    Syntax { message: String, offset: Option<usize> },
    /// The statement at `offset` (starting with `start`) would write.
    #[error("lsync sql only reads: `{start}` would change the database (only `lsync ingest` writes it)")]
    Refused { start: String, offset: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the results failed (a closed pipe ends the output quietly: see the binary).
    #[error("writing the results: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs every statement of `script` in turn, each one's rows into `sink`.
pub fn run_script(conn: &Connection, script: &str, sink: &mut dyn RowSink) -> std::result::Result<(), SqlError> {
    for (start, text) in split_statements(script) {
        let syntax = |e: rusqlite::Error| match e {
            rusqlite::Error::SqlInputError { msg, offset, .. } => SqlError::Syntax { message: msg, offset: usize::try_from(offset).ok().map(|o| start + o) },
            rusqlite::Error::SqliteFailure(_, Some(msg)) => SqlError::Syntax { message: msg, offset: Some(start) },
            other => SqlError::Syntax { message: other.to_string(), offset: Some(start) },
        };
        let refused = || SqlError::Refused { start: text.split_whitespace().take(3).collect::<Vec<_>>().join(" "), offset: start };
        let first_word = text.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        if first_word.eq_ignore_ascii_case("attach") || first_word.eq_ignore_ascii_case("detach") {
            return Err(refused());
        }
        let mut stmt = conn.prepare(text).map_err(syntax)?;
        if !stmt.readonly() {
            return Err(refused());
        }
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
        sink.columns(&names)?;
        let n = names.len();
        let mut rows = stmt.raw_query();
        let mut cells = Vec::with_capacity(n);
        while let Some(row) = rows.next().map_err(syntax)? {
            cells.clear();
            for i in 0..n {
                cells.push(Cell::from_ref(row.get_ref(i).map_err(syntax)?));
            }
            if !sink.row(&cells)? {
                break;
            }
        }
        sink.end()?;
    }
    Ok(())
}

/// The statements of a script with their byte offsets: split at `;` outside quotes, quoted
/// identifiers and comments; blank pieces and pieces that are only comments are dropped.
/// (A `CREATE TRIGGER … BEGIN …; END` would be cut, but it writes and is refused anyway.)
pub fn split_statements(script: &str) -> Vec<(usize, &str)> {
    let b = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut has_code = false;
    let mut piece_start = None;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&b[i + 2..], b"*/").map_or(b.len(), |n| i + 2 + n + 2);
                continue;
            }
            q @ (b'\'' | b'"' | b'`' | b'[') => {
                let close = if q == b'[' { b']' } else { q };
                piece_start.get_or_insert(i);
                has_code = true;
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == close {
                        // A doubled quote stands for itself ('it''s').
                        if close != b']' && b.get(j + 1) == Some(&close) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            b';' => {
                if has_code {
                    let s = piece_start.unwrap_or(start);
                    out.push((s, &script[s..=i]));
                }
                start = i + 1;
                piece_start = None;
                has_code = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                piece_start.get_or_insert(i);
                has_code = true;
            }
        }
        i += 1;
    }
    if has_code {
        let s = piece_start.unwrap_or(start);
        out.push((s, &script[s..]));
    }
    out
}

#[repr(C)]
struct StoreTab {
    /// SQLite's part. Must be first.
    base: ffi::sqlite3_vtab,
    store: Arc<Store>,
    table: Table,
}

unsafe impl<'vtab> VTab<'vtab> for StoreTab {
    type Aux = (Arc<Store>, Table);
    type Cursor = StoreCursor;

    fn connect(_: &mut VTabConnection, aux: Option<&Self::Aux>, _: &[u8], _: &[u8], _: &[u8], _: &[&[u8]]) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        let (store, table) = aux.cloned().ok_or_else(|| rusqlite::Error::ModuleError("lsync tables need their store".into()))?;
        Ok((Cow::Borrowed(table.schema()), StoreTab { base: ffi::sqlite3_vtab::default(), store, table }))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        // One constraint of each kind at most, in the order of `Pushed::ALL`.
        let mut chosen: Vec<(Pushed, usize)> = Vec::new();
        for (i, c) in info.constraints().enumerate() {
            if !c.is_usable() {
                continue;
            }
            for p in Pushed::ALL {
                if self.table.column_of(p) == Some(c.column()) && p.takes(c.operator()) && !chosen.iter().any(|(q, _)| *q == p) {
                    chosen.push((p, i));
                }
            }
        }
        chosen.sort_by_key(|(p, _)| Pushed::ALL.iter().position(|q| q == p));
        for (n, (p, i)) in chosen.iter().enumerate() {
            let mut u = info.constraint_usage(*i);
            u.set_argv_index(n as c_int + 1);
            // The hidden `cid` column has no value but the one asked for: SQLite must not check
            // it again. Every other pushed constraint is checked again by SQLite (the store's
            // answer is a superset: bounds are inclusive, postings may collide).
            u.set_omit(*p == Pushed::Cid && self.table == Table::Events);
        }
        let has = |p: Pushed| chosen.iter().any(|(q, _)| *q == p);
        let cost = if has(Pushed::Id) {
            1.0
        } else if has(Pushed::Cid) {
            100.0
        } else if has(Pushed::MinRevert) {
            1e4
        } else {
            let mut c = 1e7;
            if has(Pushed::Kind) {
                c /= 20.0;
            }
            if has(Pushed::Node) {
                c /= 2.0;
            }
            if has(Pushed::Since) || has(Pushed::Until) || has(Pushed::TextSince) || has(Pushed::TextUntil) {
                c /= 10.0;
            }
            c
        };
        info.set_estimated_cost(cost);
        info.set_estimated_rows(cost as i64);
        info.set_idx_str(&chosen.iter().map(|(p, _)| p.name()).collect::<Vec<_>>().join(","));
        // The columns the statement reads, so a scan builds only those (bit 63: "63 and up").
        info.set_idx_num((info.col_used() & 0x7fff_ffff) as c_int);
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<StoreCursor> {
        Ok(StoreCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            store: self.store.clone(),
            table: self.table,
            plan: Plan::Segments(VecDeque::new()),
            keep: Keep::default(),
            parts: read::RowParts::ALL,
            events: Vec::new(),
            rows: Vec::new(),
            pos: 0,
        })
    }
}

impl CreateVTab<'_> for StoreTab {
    const KIND: VTabKind = VTabKind::Default;
}

/// What a cursor reads next.
enum Plan {
    /// Segments by id, every event of each that [`Keep`] keeps.
    Segments(VecDeque<i64>),
    /// Events by id.
    Events(VecDeque<i64>),
}

/// Which events of a segment a cursor keeps.
#[derive(Default)]
struct Keep {
    since: Option<i64>,
    until: Option<i64>,
    cid: Option<String>,
    kinds: Option<Vec<EventKind>>,
    sources: Option<std::collections::BTreeSet<i64>>,
}

#[repr(C)]
struct StoreCursor {
    /// SQLite's part. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    store: Arc<Store>,
    table: Table,
    plan: Plan,
    keep: Keep,
    parts: read::RowParts,
    /// The events of the segment (or event) being read.
    events: Vec<EventRow>,
    /// The rows served from them: (event index, CID position for `event_cids`).
    rows: Vec<(u32, u32)>,
    pos: usize,
}

fn to_sql_err(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ModuleError(e.to_string())
}

impl StoreCursor {
    /// Reads until a row is ready or the plan is done.
    fn fill(&mut self) -> Result<()> {
        while self.pos >= self.rows.len() {
            // Rows are indices into the segment's events: an event is built once, in place (a
            // row is ~0.5 KiB: moving it into a second vector was a sixth of a scan), and the
            // CID rows of one event share it.
            self.rows.clear();
            self.events.clear();
            self.pos = 0;
            let conn = self.store.conn.lock().map_err(|_| StoreError::Input("the store's connection was poisoned".into()))?;
            match &mut self.plan {
                Plan::Segments(ids) => {
                    let Some(id) = ids.pop_front() else { return Ok(()) };
                    let Some(seg) = read::segment_by_id(&conn, id)? else { continue };
                    // Whole segments are one kind of one source: skip them before decoding.
                    if self.keep.kinds.as_ref().is_some_and(|k| !k.contains(&seg.kind)) || self.keep.sources.as_ref().is_some_and(|s| !s.contains(&seg.source_id)) {
                        continue;
                    }
                    let r = seg.reader()?;
                    let ci = match &self.keep.cid {
                        Some(c) => match r.find_cid(c) {
                            Some(ci) => Some(ci),
                            None => continue,
                        },
                        None => None,
                    };
                    // One view for the segment's events: a scan allocates per row it keeps only.
                    let (mut events, mut v) = (r.decoder(seg.first_line), crate::segment::EventView::default());
                    while events.next_into(&mut v)? {
                        if ci.is_none_or(|ci| v.names(ci)) && read::in_bounds(v.ts, self.keep.since, self.keep.until) {
                            self.events.push(read::event_row_parts(&seg, &r, &v, &self.store.sources, self.parts));
                        }
                    }
                }
                Plan::Events(ids) => {
                    let Some(id) = ids.pop_front() else { return Ok(()) };
                    let kinds: &[EventKind] = self.keep.kinds.as_deref().unwrap_or(EventKind::ALL);
                    for k in kinds {
                        if let Some(e) = read::load_event(&conn, &self.store.sources, *k, id)? {
                            self.events.push(e);
                            break;
                        }
                    }
                }
            }
            drop(conn);
            for (i, event) in self.events.iter().enumerate() {
                if self.keep.kinds.as_ref().is_some_and(|k| !k.iter().any(|k| k.as_str() == event.kind)) {
                    continue;
                }
                if self.keep.sources.as_ref().is_some_and(|s| !s.contains(&event.source_id)) {
                    continue;
                }
                let i = i as u32;
                match self.table {
                    Table::Events => self.rows.push((i, 0)),
                    Table::HeadChanges => {
                        if event.head.is_some() {
                            self.rows.push((i, 0));
                        }
                    }
                    Table::EventCids => {
                        for (at, cid) in event.cids.iter().enumerate() {
                            if self.keep.cid.as_ref().is_none_or(|c| cid == c) {
                                self.rows.push((i, at as u32));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn plan(&mut self, idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        let mut keep = Keep::default();
        let mut id = None;
        let mut min_revert = None;
        let mut node = None;
        for (i, name) in idx_str.unwrap_or("").split(',').filter(|s| !s.is_empty()).enumerate() {
            let value: Value = args.get(i)?;
            let int = || match &value {
                Value::Integer(n) => Some(*n),
                Value::Real(f) => Some(f.floor() as i64),
                _ => None,
            };
            match Pushed::from_name(name) {
                Some(Pushed::Id) => id = Some(int()),
                Some(Pushed::Since) => keep.since = int().max(keep.since),
                Some(Pushed::Until) => keep.until = match (int(), keep.until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                Some(Pushed::MinRevert) => min_revert = int(),
                Some(p @ (Pushed::TextSince | Pushed::TextUntil)) => {
                    const TWO_DAYS_NS: i64 = 2 * 86_400 * 1_000_000_000;
                    let Value::Text(t) = &value else { continue };
                    let Ok(at) = lsync_core::time::parse_user_time(t) else { continue };
                    if p == Pushed::TextSince {
                        let lo = at.unix_nanos.saturating_sub(TWO_DAYS_NS);
                        keep.since = Some(keep.since.map_or(lo, |s| s.max(lo)));
                    } else {
                        let hi = at.unix_nanos.saturating_add(TWO_DAYS_NS);
                        keep.until = Some(keep.until.map_or(hi, |u| u.min(hi)));
                    }
                }
                Some(Pushed::Kind) => {
                    keep.kinds = Some(match &value {
                        Value::Text(k) => k.parse::<EventKind>().ok().into_iter().collect(),
                        _ => Vec::new(),
                    })
                }
                Some(Pushed::Node) => node = Some(if let Value::Text(n) = &value { Some(n.clone()) } else { None }),
                Some(Pushed::Cid) => keep.cid = Some(if let Value::Text(c) = &value { c.clone() } else { String::new() }),
                None => return Err(StoreError::Input(format!("unknown pushed constraint {name:?}"))),
            }
        }
        if self.table == Table::HeadChanges {
            keep.kinds = Some(vec![EventKind::HeadChange]);
        }
        if let Some(n) = node {
            keep.sources = Some(match n {
                Some(n) => self.store.sources.of_node(Some(&n)),
                None => Default::default(),
            });
        }
        let conn = self.store.conn.lock().map_err(|_| StoreError::Input("the store's connection was poisoned".into()))?;
        self.plan = if let Some(id) = id {
            Plan::Events(id.into_iter().collect())
        } else if let Some(cid) = &keep.cid {
            // A CID is looked up as `trace` looks it up: valid, or as a damaged paste printed it.
            let ids = match crate::query::parse_cid_arg(cid) {
                Ok(c) => {
                    keep.cid = Some(c.clone());
                    read::segment_ids_naming(&conn, &c)?.into_iter().collect()
                }
                Err(_) => VecDeque::new(),
            };
            Plan::Segments(ids)
        } else if let (Some(min), Table::HeadChanges) = (min_revert, self.table) {
            // Only head changes that reverted something are typed rows (`main.head_changes`).
            let min = min.max(1);
            let mut stmt = conn.prepare_cached("SELECT event_id FROM main.head_changes WHERE revert_count >= ?1 ORDER BY event_id")?;
            let ids = stmt.query_map([min], |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<VecDeque<i64>>>()?;
            Plan::Events(ids)
        } else {
            let kinds: Vec<EventKind> = keep.kinds.clone().unwrap_or_else(|| EventKind::ALL.to_vec());
            let all = self.store.sources.of_node(None);
            let sources = keep.sources.as_ref().unwrap_or(&all);
            Plan::Segments(read::segments_by_kind(&conn, &kinds, sources, keep.since, keep.until)?.into_iter().map(|s| s.id).collect())
        };
        drop(conn);
        self.keep = keep;
        self.rows.clear();
        self.events.clear();
        self.pos = 0;
        self.fill()
    }
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

unsafe impl VTabCursor for StoreCursor {
    fn filter(&mut self, idx_num: c_int, idx_str: Option<&str>, args: &Filters<'_>) -> rusqlite::Result<()> {
        let used = |col: u32| idx_num & (1 << col) != 0;
        self.parts = match self.table {
            // node (4), file (5), level … caller (7–9), miner (12), peer (15), data (19).
            Table::Events => read::RowParts {
                text: used(16),
                cids: used(17),
                cids_invalid: used(18),
                head: false,
                strings: [4, 5, 7, 8, 9, 12, 15, 19].into_iter().any(used),
                ts_text: used(2),
            },
            Table::EventCids => read::RowParts { text: false, cids: true, cids_invalid: used(3), head: false, strings: false, ts_text: false },
            Table::HeadChanges => read::RowParts { text: false, cids: false, cids_invalid: false, head: true, strings: true, ts_text: used(1) },
        };
        self.plan(idx_str, args).map_err(to_sql_err)
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        self.pos += 1;
        self.fill().map_err(to_sql_err)
    }

    fn eof(&self) -> bool {
        self.pos >= self.rows.len()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        let Some(&(event, cid_at)) = self.rows.get(self.pos) else { return ctx.set_result(&Value::Null) };
        let e = &self.events[event as usize];
        let cid_at = cid_at as usize;
        match self.table {
            Table::Events => match i {
                0 => ctx.set_result(&e.id),
                1 => ctx.set_result(&e.kind),
                2 => ctx.set_result(&e.ts),
                3 => ctx.set_result(&e.ts_ns),
                4 => ctx.set_result(&e.node),
                5 => ctx.set_result(&e.file),
                6 => ctx.set_result(&(e.line as i64)),
                7 => ctx.set_result(&e.level),
                8 => ctx.set_result(&e.logger),
                9 => ctx.set_result(&e.caller),
                10 => ctx.set_result(&e.height),
                11 => ctx.set_result(&e.worker.map(|w| w as i64)),
                12 => ctx.set_result(&e.miner),
                13 => ctx.set_result(&e.delay_s),
                14 => ctx.set_result(&e.duration_ms),
                15 => ctx.set_result(&e.peer),
                16 => ctx.set_result(&e.text),
                17 => ctx.set_result(&json_list(&e.cids)),
                18 => ctx.set_result(&json_list(&e.cids_invalid)),
                19 => ctx.set_result(&e.data),
                _ => ctx.set_result(&self.keep.cid),
            },
            Table::EventCids => match i {
                0 => ctx.set_result(&e.id),
                1 => ctx.set_result(&(cid_at as i64)),
                2 => ctx.set_result(&e.cids.get(cid_at)),
                _ => ctx.set_result(&e.cids.get(cid_at).is_some_and(|c| e.cids_invalid.contains(c))),
            },
            Table::HeadChanges => {
                let Some(h) = &e.head else { return ctx.set_result(&Value::Null) };
                match i {
                    0 => ctx.set_result(&e.id),
                    1 => ctx.set_result(&e.ts),
                    2 => ctx.set_result(&e.ts_ns),
                    3 => ctx.set_result(&e.node),
                    4 => ctx.set_result(&e.file),
                    5 => ctx.set_result(&(e.line as i64)),
                    6 => ctx.set_result(&h.from_height),
                    7 => ctx.set_result(&h.to_height),
                    8 => ctx.set_result(&h.revert_count),
                    9 => ctx.set_result(&h.apply_count),
                    10 => ctx.set_result(&h.class().as_str()),
                    11 => ctx.set_result(&h.revert_count),
                    12 => ctx.set_result(&json_list(&h.from)),
                    _ => ctx.set_result(&json_list(&h.to)),
                }
            }
        }
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        let &(event, cid_at) = self.rows.get(self.pos).ok_or_else(|| rusqlite::Error::ModuleError("no row".into()))?;
        let id = self.events[event as usize].id;
        Ok(match self.table {
            // A CID row's id: the event's and the position (events' lines leave room: < 2^40).
            Table::EventCids => id.wrapping_mul(64).wrapping_add(i64::from(cid_at)),
            _ => id,
        })
    }
}



/// A connection of `lsync sql` (see [`open_for_sql`]).
pub struct SqlSession {
    conn: Connection,
}

impl SqlSession {
    pub fn open(path: &Path) -> Result<SqlSession> {
        Ok(SqlSession { conn: open_for_sql(path)? })
    }

    /// See [`run_script`].
    pub fn run(&self, script: &str, sink: &mut dyn RowSink) -> std::result::Result<(), SqlError> {
        run_script(&self.conn, script, sink)
    }

    /// [`TABLES`] with their columns.
    pub fn tables(&self) -> Result<Vec<(&'static str, &'static str, Vec<String>)>> {
        TABLES.iter().map(|(n, w)| Ok((*n, *w, table_columns(&self.conn, n)?))).collect()
    }
}

/// The columns of a table or view, hidden ones included.
pub fn table_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_xinfo(?1)")?;
    let cols = stmt.query_map([table], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `filter` names columns by index (the colUsed mask) and `column` serves them by index:
    /// both must agree with the declared schemas.
    #[test]
    fn column_indices_match_the_schemas() {
        let names = |t: Table| -> Vec<String> {
            let sql = t.schema().to_str().unwrap();
            let inner = &sql[sql.find('(').unwrap() + 1..sql.rfind(')').unwrap()];
            inner.split(", ").map(|c| c.split(' ').next().unwrap().to_string()).collect()
        };
        let ev = names(Table::Events);
        for (i, n) in [(2, "ts"), (4, "node"), (5, "file"), (7, "level"), (8, "logger"), (9, "caller"), (12, "miner"), (15, "peer"), (16, "text"), (17, "cids"), (18, "cids_invalid"), (19, "data"), (20, "cid")] {
            assert_eq!(ev[i], n, "events column {i}");
        }
        assert_eq!(names(Table::EventCids)[3], "invalid");
        let hc = names(Table::HeadChanges);
        assert_eq!((hc[1].as_str(), hc[8].as_str(), hc[13].as_str()), ("ts", "revert_count", "to_cids"));
        for t in [Table::Events, Table::EventCids, Table::HeadChanges] {
            for p in Pushed::ALL {
                if let Some(c) = t.column_of(p) {
                    let want = match p {
                        Pushed::Id => "event_id",
                        Pushed::Kind => "kind",
                        Pushed::Node => "node",
                        Pushed::Since | Pushed::Until => "ts_ns",
                        Pushed::TextSince | Pushed::TextUntil => "ts",
                        Pushed::Cid => "cid",
                        Pushed::MinRevert => "revert_count",
                    };
                    assert_eq!(names(t)[c as usize], want, "{t:?} {p:?}");
                }
            }
        }
    }

    #[test]
    fn scripts_split_at_semicolons_outside_quotes_and_comments() {
        let s = "SELECT 1; -- a ; comment\n SELECT 'a;''b' AS \"x;y\" /* ; */ ; ;  \n SELECT [c;d] FROM t";
        let parts: Vec<&str> = split_statements(s).into_iter().map(|(_, t)| t).collect();
        assert_eq!(parts, vec!["SELECT 1;", "SELECT 'a;''b' AS \"x;y\" /* ; */ ;", "SELECT [c;d] FROM t"]);
        let (off, _) = split_statements(s)[1];
        assert_eq!(&s[off..off + 6], "SELECT");
        assert!(split_statements("  -- only a comment\n /* and another */ ").is_empty());
        assert_eq!(split_statements("SELECT 'unterminated;").len(), 1);
    }
}
