//! Reading events back out of segments: which segments a query needs, decoding them, and
//! turning stored events into report rows. Shared by `query` and `miners`.

use crate::rows::EventRow;
use crate::segment::{self, EventView, SegmentReader};
use crate::store::{Result, LINE_BITS};
use lsync_core::{EventKind, Timestamp};
use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};
use std::collections::{BTreeSet, HashMap};

/// A source's node and path, for report rows.
#[derive(Clone, Debug)]
pub(crate) struct SourceInfo {
    pub node: String,
    pub path: String,
}

/// Every source of the database (there are few: one per file identity).
pub(crate) struct Sources(pub HashMap<i64, SourceInfo>);

impl Sources {
    pub fn load(conn: &Connection) -> Result<Sources> {
        let mut stmt = conn.prepare_cached("SELECT s.id, n.name, s.path FROM sources s JOIN nodes n ON n.id = s.node_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, SourceInfo { node: r.get(1)?, path: r.get(2)? })))?;
        Ok(Sources(rows.collect::<rusqlite::Result<_>>()?))
    }

    pub fn get(&self, id: i64) -> Option<&SourceInfo> {
        self.0.get(&id)
    }

    /// Ids of the sources of `node`, or all when `node` is `None`.
    pub fn of_node(&self, node: Option<&str>) -> BTreeSet<i64> {
        self.0.iter().filter(|(_, s)| node.is_none_or(|n| s.node == n)).map(|(id, _)| *id).collect()
    }
}

/// One segment row.
pub(crate) struct Segment {
    pub source_id: i64,
    pub kind: EventKind,
    pub first_line: u64,
    pub data: Vec<u8>,
}

impl Segment {
    pub fn reader(&self) -> Result<SegmentReader<'_>> {
        Ok(SegmentReader::new(self.kind, &self.data)?)
    }
}

const SEGMENT_COLUMNS: &str = "source_id, kind, first_line, data";

fn segment_from_row(r: &rusqlite::Row) -> rusqlite::Result<Segment> {
    let kind: String = r.get(1)?;
    Ok(Segment {
        source_id: r.get(0)?,
        // A kind this build does not know (a newer lsync wrote it) reads as malformed.
        kind: kind.parse().unwrap_or(EventKind::Malformed),
        first_line: r.get::<_, i64>(2)? as u64,
        data: r.get(3)?,
    })
}

/// A segment found by an index, not yet read: [`SegmentRef::load`] reads its blob.
pub(crate) struct SegmentRef {
    pub id: i64,
    pub source_id: i64,
    pub min_ts: Option<i64>,
}

impl SegmentRef {
    pub fn load(&self, conn: &Connection) -> Result<Segment> {
        segment_by_id(conn, self.id)?.ok_or_else(|| crate::store::StoreError::Input(format!("segment {} vanished during the query", self.id)))
    }
}

/// Segments of these kinds, from these sources, that may hold events in `[since, until]`, in
/// time order. Only the index is read; callers load the segments they need.
pub(crate) fn segments_by_kind(
    conn: &Connection,
    kinds: &[EventKind],
    sources: &BTreeSet<i64>,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<SegmentRef>> {
    segments_by_kind_limited(conn, kinds, sources, since, until, None)
}

/// [`segments_by_kind`], only the first `limit` (in the same order) when given.
pub(crate) fn segments_by_kind_limited(
    conn: &Connection,
    kinds: &[EventKind],
    sources: &BTreeSet<i64>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<usize>,
) -> Result<Vec<SegmentRef>> {
    if kinds.is_empty() || sources.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT id, source_id, min_ts FROM segments WHERE kind IN ({})", vec!["?"; kinds.len()].join(","));
    let mut args: Vec<SqlValue> = kinds.iter().map(|k| SqlValue::Text(k.as_str().to_string())).collect();
    if let Some(t) = since {
        sql.push_str(" AND max_ts >= ?");
        args.push(SqlValue::Integer(t));
    }
    if let Some(t) = until {
        sql.push_str(" AND min_ts <= ?");
        args.push(SqlValue::Integer(t));
    }
    sql.push_str(" ORDER BY min_ts IS NULL, min_ts, id");
    if let Some(l) = limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| Ok(SegmentRef { id: r.get(0)?, source_id: r.get(1)?, min_ts: r.get(2)? }))?;
    let mut out = Vec::new();
    for r in rows {
        let s = r?;
        if sources.contains(&s.source_id) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Ids of the segments whose events name `cid` (or a CID sharing its posting key).
pub(crate) fn segment_ids_naming(conn: &Connection, cid: &str) -> Result<BTreeSet<i64>> {
    let key = segment::posting_key(segment::cid_key(cid));
    segment_ids_in_key_range(conn, key, key, usize::MAX)
}

/// Ids of the segments naming a CID whose posting key is in `lo..=hi` (at most `limit`, the
/// lowest ids): one seek per part and bucket (see `cid_postings` in store.rs), then the blocks
/// of those buckets decoded.
pub(crate) fn segment_ids_in_key_range(conn: &Connection, lo: i64, hi: i64, limit: usize) -> Result<BTreeSet<i64>> {
    let mut stmt = conn.prepare_cached(POSTINGS_SQL)?;
    let rows = stmt.query_map([segment::posting_bucket(lo), segment::posting_bucket(hi)], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
    let mask = (1i64 << segment::POSTING_BUCKET_SHIFT) - 1;
    let mut out = BTreeSet::new();
    for r in rows {
        let (bucket, first, entries) = r?;
        for (low, seg) in segment::decode_posting_block(&entries, first)? {
            let key = (bucket << segment::POSTING_BUCKET_SHIFT) | (low & mask);
            if (lo..=hi).contains(&key) {
                out.insert(seg);
            }
        }
    }
    while out.len() > limit {
        out.pop_last();
    }
    Ok(out)
}

/// Ids of the segments naming a CID whose posting key is one of `keys` (at most `limit`, the
/// lowest ids): keys are looked up a bucket at a time, each bucket's blocks decoded once.
pub(crate) fn segment_ids_with_posting_keys(conn: &Connection, keys: &BTreeSet<i64>, limit: usize) -> Result<BTreeSet<i64>> {
    let mut buckets: BTreeSet<i64> = keys.iter().map(|k| segment::posting_bucket(*k)).collect();
    let mut stmt = conn.prepare_cached(POSTINGS_SQL)?;
    let mask = (1i64 << segment::POSTING_BUCKET_SHIFT) - 1;
    let mut out = BTreeSet::new();
    while let Some(b) = buckets.pop_first() {
        let rows = stmt.query_map([b, b], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
        for r in rows {
            let (first, entries) = r?;
            for (low, seg) in segment::decode_posting_block(&entries, first)? {
                if keys.contains(&((b << segment::POSTING_BUCKET_SHIFT) | (low & mask))) {
                    out.insert(seg);
                }
            }
        }
    }
    while out.len() > limit {
        out.pop_last();
    }
    Ok(out)
}

/// The posting blocks of a bucket range, every part.
pub const POSTINGS_SQL: &str = "SELECT p.bucket, p.first_segment, p.entries FROM posting_parts AS pp CROSS JOIN cid_postings AS p ON p.part = pp.part AND p.bucket BETWEEN ?1 AND ?2";

pub(crate) fn segment_by_id(conn: &Connection, id: i64) -> Result<Option<Segment>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = ?1"))?;
    let mut rows = stmt.query_map([id], segment_from_row)?;
    Ok(rows.next().transpose()?)
}

/// The segment of `kind` that holds the event `event_id`: the one of its source with the last
/// first line at or before the event's (a source's segments of one kind never overlap). `+kind`
/// keeps SQLite on the rowid range: few segments lie between an event and its segment's start.
pub(crate) fn segment_holding(conn: &Connection, kind: EventKind, event_id: i64) -> Result<Option<Segment>> {
    let source_start = (event_id >> LINE_BITS) << LINE_BITS;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE id <= ?1 AND id >= ?2 AND +kind = ?3 ORDER BY id DESC LIMIT 1"
    ))?;
    let mut rows = stmt.query_map(rusqlite::params![event_id, source_start, kind.as_str()], segment_from_row)?;
    Ok(rows.next().transpose()?)
}

/// Loads one stored event by id and kind.
pub(crate) fn load_event(conn: &Connection, sources: &Sources, kind: EventKind, event_id: i64) -> Result<Option<EventRow>> {
    let Some(seg) = segment_holding(conn, kind, event_id)? else { return Ok(None) };
    let r = seg.reader()?;
    let line = (event_id & ((1 << LINE_BITS) - 1)) as u64;
    Ok(r.events(seg.first_line)?.iter().find(|v| v.line == line).map(|v| event_row(&seg, &r, v, sources)))
}

/// Which costly parts of a row a reader needs (`lsync sql` asks only for the columns a query
/// uses: rebuilding a head change's text or checking every CID is most of a scan's time).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowParts {
    pub text: bool,
    pub cids: bool,
    pub cids_invalid: bool,
    pub head: bool,
    /// node, file, level, logger, caller, miner, peer and data (each a copy).
    pub strings: bool,
    /// The time as RFC 3339 text (formatting it is a scan's largest cost after decoding).
    pub ts_text: bool,
}

impl RowParts {
    pub const ALL: RowParts = RowParts { text: true, cids: true, cids_invalid: true, head: true, strings: true, ts_text: true };
}

/// A stored event as a report row.
pub(crate) fn event_row(seg: &Segment, r: &SegmentReader<'_>, v: &EventView<'_>, sources: &Sources) -> EventRow {
    event_row_parts(seg, r, v, sources, RowParts::ALL)
}

/// [`event_row`] with only `parts` filled in (the others empty).
pub(crate) fn event_row_parts(seg: &Segment, r: &SegmentReader<'_>, v: &EventView<'_>, sources: &Sources, parts: RowParts) -> EventRow {
    let (node, file) = if parts.strings { sources.get(seg.source_id).map(|s| (s.node.clone(), s.path.clone())).unwrap_or_default() } else { Default::default() };
    let string = |s: Option<&str>| if parts.strings { s.map(str::to_string) } else { None };
    let journal_other = seg.kind == EventKind::JournalOther;
    let cids = if parts.cids || parts.cids_invalid { v.cids(r) } else { Vec::new() };
    // Not stored: a CID kept as printed (damaged in a paste) is one that does not decode.
    let cids_invalid = if parts.cids_invalid { cids.iter().filter(|c| lsync_core::cids::validate_cid(c).is_err()).cloned().collect() } else { Vec::new() };
    EventRow {
        kind: seg.kind.as_str().to_string(),
        ts: if parts.ts_text { v.ts.map(|t| t.to_string()) } else { None },
        node,
        file,
        line: v.line,
        level: string(v.level),
        logger: string(v.logger),
        caller: string(v.caller),
        cids,
        cids_invalid,
        height: v.height,
        worker: v.worker,
        miner: string(v.miner),
        delay_s: v.delay_s,
        duration_ms: v.duration_ms,
        peer: string(v.peer),
        // journal_other records are known by their System:Event; they carry no text.
        text: parts.text.then(|| if journal_other { format!("{}:{}", v.system.unwrap_or(""), v.event.unwrap_or("")) } else { v.text(r) }),
        data: string(v.raw_data),
        id: crate::store::event_id(seg.source_id, v.line),
        head: if parts.head { v.head.as_ref().map(|h| h.to_head_change(r)) } else { None },
        ts_ns: v.ts.map(|t| t.unix_nanos),
        source_id: seg.source_id,
        problem: string(v.problem),
    }
}

/// Report order: by time (events without one last), then source, then line.
pub(crate) fn sort_rows(rows: &mut [EventRow]) {
    rows.sort_by(|a, b| {
        (a.ts_ns.is_none(), a.ts_ns, a.source_id, a.line).cmp(&(b.ts_ns.is_none(), b.ts_ns, b.source_id, b.line))
    });
}

/// Whether an event's time lies in the filter's bounds (an event without a time never does
/// when a bound is given, as in SQL).
pub(crate) fn in_bounds(ts: Option<Timestamp>, since: Option<i64>, until: Option<i64>) -> bool {
    match ts {
        None => since.is_none() && until.is_none(),
        Some(t) => since.is_none_or(|s| t.unix_nanos >= s) && until.is_none_or(|u| t.unix_nanos <= u),
    }
}
