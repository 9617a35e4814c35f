//! Queries behind the reports: `events`, `trace`, `reorgs`, `summary`.
//! Every function returns typed rows; the binary decides how to print them.

use crate::read::{self, Sources};
pub use crate::rows::EventRow;
use crate::segment::{self, SegmentReader};
use crate::store::{Result, StoreError, LINE_BITS};
use lsync_core::{EventKind, HeadChange, ReorgClass, Timestamp};
use rusqlite::{params_from_iter, types::Value as SqlValue, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Filters shared by the reports.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kinds: Vec<EventKind>,
    pub cid: Option<String>,
    pub node: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Include `journal_other`, `unknown` and `malformed` when no kind is given.
    pub all_kinds: bool,
    pub limit: Option<u64>,
}

fn ts_text(ns: Option<i64>, off: Option<i64>, prec: Option<i64>) -> Option<String> {
    ns.map(|ns| Timestamp::from_unix_nanos(ns, off.unwrap_or(0) as i32, prec.unwrap_or(3) as u8).to_string())
}

/// Validates a CID argument; an invalid one is a one-sentence error.
pub fn parse_cid_arg(cid: &str) -> Result<String> {
    match lsync_core::cids::validate_cid(cid) {
        Ok(c) => Ok(c),
        // A CID as a damaged paste printed it: looked up as printed.
        Err(_) if lsync_core::cids::looks_like_damaged_cid(cid) => Ok(cid.to_string()),
        Err(_) => Err(StoreError::Input(format!("{cid:?} is not a valid CID"))),
    }
}

/// The kinds a filter selects.
fn selected_kinds(f: &Filter) -> Vec<EventKind> {
    if !f.kinds.is_empty() {
        return f.kinds.clone();
    }
    EventKind::ALL
        .iter()
        .copied()
        .filter(|k| f.all_kinds || !matches!(k, EventKind::Unknown | EventKind::Malformed | EventKind::JournalOther))
        .collect()
}

/// `lsync events`.
pub fn events(conn: &Connection, f: &Filter) -> Result<Vec<EventRow>> {
    let sources = Sources::load(conn)?;
    let of_node = sources.of_node(f.node.as_deref());
    let mut kinds = selected_kinds(f);
    let since = f.since.map(|t| t.unix_nanos);
    let until = f.until.map(|t| t.unix_nanos);
    let mut rows = Vec::new();
    if let Some(cid) = &f.cid {
        let cid = parse_cid_arg(cid)?;
        // journal_other records are not indexed by CID (their Data is not read).
        kinds.retain(|k| *k != EventKind::JournalOther);
        for id in read::segment_ids_naming(conn, &cid)? {
            let Some(seg) = read::segment_by_id(conn, id)? else { continue };
            if !kinds.contains(&seg.kind) || !of_node.contains(&seg.source_id) {
                continue;
            }
            let r = seg.reader()?;
            let Some(ci) = r.find_cid(&cid) else { continue };
            for v in r.events(seg.first_line)? {
                if v.names(ci) && read::in_bounds(v.ts, since, until) {
                    rows.push(read::event_row(&seg, &r, &v, &sources));
                }
            }
        }
    } else {
        for found in read::segments_by_kind(conn, &kinds, &of_node, since, until)? {
            let seg = found.load(conn)?;
            let r = seg.reader()?;
            for v in r.events(seg.first_line)? {
                if read::in_bounds(v.ts, since, until) {
                    rows.push(read::event_row(&seg, &r, &v, &sources));
                }
            }
        }
    }
    read::sort_rows(&mut rows);
    if let Some(l) = f.limit {
        rows.truncate(l as usize);
    }
    Ok(rows)
}

/// One row of `lsync reorgs`: where a journal head change was recorded, and the change itself
/// (its class and counts are the domain type's; the binary declares how they print).
#[derive(Clone, Debug, PartialEq)]
pub struct ReorgRow {
    pub ts: Option<String>,
    pub node: String,
    pub file: String,
    pub line: u64,
    pub change: HeadChange,
}

fn push_common(conds: &mut Vec<String>, args: &mut Vec<SqlValue>, f: &Filter, alias: &str) {
    if let Some(node) = &f.node {
        conds.push("n.name = ?".into());
        args.push(SqlValue::Text(node.clone()));
    }
    if let Some(t) = f.since {
        conds.push(format!("{alias}.ts_ns >= ?"));
        args.push(SqlValue::Integer(t.unix_nanos));
    }
    if let Some(t) = f.until {
        conds.push(format!("{alias}.ts_ns <= ?"));
        args.push(SqlValue::Integer(t.unix_nanos));
    }
}

/// The reorgs query for any ApplyCount, for the query-plan test.
pub const REORGS_SQL_FOR_PLAN: &str = "SELECT event_id FROM head_changes WHERE apply_count >= 1 AND revert_count >= 1";

/// The ApplyCount of a deep reorg (`reorgs`' default) and `head_changes_deep`'s condition, as
/// the query spells it (the plan test fails if it stops implying the index's `WHERE`).
const DEEP_APPLY: i64 = 2;
const DEEP_TERM: &str = "hc.apply_count >= 2 AND ";

/// The SQL and arguments of `reorgs`' query (`deep`: read `head_changes_deep`; its condition is
/// spelled as the index's — SQLite takes a partial index only for a WHERE that visibly implies
/// the index's).
pub(crate) fn reorgs_sql(deep: bool, min_apply: i64, min_revert: i64, f: &Filter) -> (String, Vec<SqlValue>) {
    let (from, deep_term) = if deep { ("head_changes hc INDEXED BY head_changes_deep", DEEP_TERM) } else { ("head_changes hc", "") };
    let mut sql = format!(
        "SELECT hc.event_id, hc.ts_ns, hc.ts_off, hc.ts_prec, n.name, s.path, hc.from_height, hc.to_height, hc.revert_count, hc.apply_count, hc.to_n, hc.class, hc.cids, s.id
         FROM {from} JOIN sources s ON s.id = (hc.event_id >> 40) JOIN nodes n ON n.id = s.node_id
         WHERE {deep_term}hc.apply_count >= ? AND hc.revert_count >= ?",
    );
    let mut args = vec![SqlValue::Integer(min_apply), SqlValue::Integer(min_revert)];
    let mut conds = Vec::new();
    push_common(&mut conds, &mut args, f, "hc");
    for c in conds {
        sql.push_str(" AND ");
        sql.push_str(&c);
    }
    (sql, args)
}

/// Where a row stands in a report: (time in ns, source id, line).
type ReportOrder = (Option<i64>, i64, u64);

/// `lsync reorgs`: journal head changes with ApplyCount ≥ `min_apply` and RevertCount ≥ `min_revert`.
pub fn reorgs(conn: &Connection, min_apply: i64, min_revert: i64, f: &Filter) -> Result<Vec<ReorgRow>> {
    // Deep reorgs (the default, or deeper): from `head_changes_deep` where the database has it.
    let deep = min_apply >= DEEP_APPLY
        && conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'head_changes_deep'", [], |_| Ok(())).optional()?.is_some();
    let (sql, args) = reorgs_sql(deep, min_apply, min_revert, f);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<i64>>(1)?,
            ts_text(r.get(1)?, r.get(2)?, r.get(3)?),
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            (r.get::<_, i64>(6)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?, r.get::<_, i64>(9)?, r.get::<_, i64>(10)?),
            r.get::<_, Vec<u8>>(12)?,
        ))
    })?;
    // (ts, source, line) → row, for the report order.
    let mut out: Vec<(ReportOrder, ReorgRow)> = Vec::new();
    for row in rows {
        let (id, ts_ns, ts, node, file, (fh, th, rc, ac, to_n), cids) = row?;
        let cids = segment::decode_cid_list(&cids)?;
        let (to, from) = cids.split_at((to_n as usize).min(cids.len()));
        let line = (id & ((1 << LINE_BITS) - 1)) as u64;
        let change = HeadChange { from: from.to_vec(), from_height: fh, to: to.to_vec(), to_height: th, revert_count: rc, apply_count: ac };
        out.push(((ts_ns, id >> LINE_BITS, line), ReorgRow { ts, node, file, line, change }));
    }
    // Head changes that reverted nothing have no row: read them from their segments when asked.
    if min_revert <= 0 {
        let sources = Sources::load(conn)?;
        let of_node = sources.of_node(f.node.as_deref());
        let (since, until) = (f.since.map(|t| t.unix_nanos), f.until.map(|t| t.unix_nanos));
        for found in read::segments_by_kind(conn, &[EventKind::HeadChange], &of_node, since, until)? {
            let seg = found.load(conn)?;
            let r = seg.reader()?;
            for v in r.events(seg.first_line)? {
                if !v.head.as_ref().is_some_and(|h| h.revert_count == 0 && h.apply_count >= min_apply) {
                    continue;
                }
                if !read::in_bounds(v.ts, since, until) {
                    continue;
                }
                let ev = v.to_event(&r);
                let change = ev.head_change.expect("a head view decodes to a head change");
                let (node, file) = sources.get(seg.source_id).map(|s| (s.node.clone(), s.path.clone())).unwrap_or_default();
                out.push(((v.ts.map(|t| t.unix_nanos), seg.source_id, v.line), ReorgRow { ts: v.ts.map(|t| t.to_string()), node, file, line: v.line, change }));
            }
        }
    }
    out.sort_by_key(|(order, _)| *order);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}


/// One stage of a block's life on one node.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stage {
    pub node: String,
    /// `arrival`, `delay_warning`, `selected_target`, `worker_start`, `worker_done`, `sync_error`,
    /// `new_heaviest`, `journal_apply` (extend or reorg), `journal_widen`, `journal_sibling`,
    /// `journal_revert`.
    pub stage: String,
    pub ts: Option<String>,
    pub kind: String,
    pub file: String,
    pub line: u64,
    pub detail: String,
    /// Milliseconds since the previous stage on this node.
    pub since_prev_ms: Option<f64>,
    /// Milliseconds since the node's first stage.
    pub since_first_ms: Option<f64>,
    #[serde(skip)]
    pub ts_ns: Option<i64>,
}

/// `lsync trace` output.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Trace {
    pub cid: String,
    pub nodes: Vec<String>,
    pub events: Vec<EventRow>,
    pub stages: Vec<Stage>,
}

/// The outcome of a trace lookup.
pub enum TraceResult {
    Found(Trace),
    /// No event names the CID; known CIDs resembling it.
    NotFound { cid: String, similar: Vec<SimilarCid> },
    /// The argument is the start of several known CIDs' texts (the first few of them).
    Ambiguous { prefix: String, matches: Vec<String> },
}

/// `lsync trace <cid>`.
pub fn trace(conn: &Connection, arg: &str, node: Option<&str>) -> Result<TraceResult> {
    let cid = match parse_trace_arg(arg)? {
        TraceArg::Cid(c) => c,
        TraceArg::Prefix(p) => {
            let mut matches = cids_with_prefix(conn, &p, 6)?;
            match matches.len() {
                0 => return Ok(TraceResult::NotFound { similar: Vec::new(), cid: p }),
                1 => matches.remove(0),
                _ => return Ok(TraceResult::Ambiguous { prefix: p, matches }),
            }
        }
    };
    let filter = Filter { cid: Some(cid.clone()), node: node.map(str::to_string), all_kinds: true, ..Default::default() };
    let events = events(conn, &filter)?;
    if events.is_empty() {
        return Ok(TraceResult::NotFound { similar: similar_cids(conn, &cid)?, cid });
    }
    let mut nodes: Vec<String> = events.iter().map(|e| e.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    let sources = Sources::load(conn)?;
    let mut stages = Vec::new();
    for n in &nodes {
        let evs: Vec<&EventRow> = events.iter().filter(|e| &e.node == n).collect();
        stages.extend(node_stages(conn, &sources, &cid, n, &evs)?);
    }
    Ok(TraceResult::Found(Trace { cid, nodes, events, stages }))
}

/// Where a stage sits in Lotus's pipeline: arrival → delay warning → message fetch → target →
/// worker start → heaviest → worker done → journal.
fn pipeline_rank(stage: &str) -> u8 {
    match stage {
        "arrival" => 0,
        "delay_warning" => 1,
        "slow_msg_fetch" => 2,
        "selected_target" => 3,
        "worker_start" => 4,
        "new_heaviest" => 5,
        "worker_done" | "sync_error" => 6,
        "journal_revert" => 8,
        _ => 7, // journal_apply, journal_widen, journal_sibling
    }
}

fn stage(node: &str, name: &str, e: &EventRow, detail: String) -> Stage {
    Stage {
        node: node.to_string(),
        stage: name.to_string(),
        ts: e.ts.clone(),
        kind: e.kind.clone(),
        file: e.file.clone(),
        line: e.line,
        detail,
        since_prev_ms: None,
        since_first_ms: None,
        ts_ns: e.ts_ns,
    }
}

fn short(cids: &[String]) -> String {
    let s: Vec<String> = cids.iter().map(|c| if c.len() > 16 { format!("{}…{}", &c[..10], &c[c.len() - 4..]) } else { c.clone() }).collect();
    format!("[{}]", s.join(" "))
}

fn node_stages(conn: &Connection, sources: &Sources, cid: &str, node: &str, evs: &[&EventRow]) -> Result<Vec<Stage>> {
    let mut out: Vec<Stage> = Vec::new();
    let first_of = |kinds: &[&str]| evs.iter().find(|e| kinds.contains(&e.kind.as_str())).copied();
    if let Some(e) = first_of(&["block_seen"]) {
        out.push(stage(node, "arrival", e, format!("first seen from {}, {:.3} s after its timestamp", e.peer.as_deref().unwrap_or("?"), e.delay_s.unwrap_or(0.0))));
    } else if let Some(e) = first_of(&["block_over_pubsub"]) {
        out.push(stage(node, "arrival", e, format!("from {}", e.peer.as_deref().unwrap_or("?"))));
    }
    if let Some(e) = first_of(&["block_delay"]) {
        out.push(stage(node, "delay_warning", e, format!("{}s late, miner {}", e.delay_s.unwrap_or(0.0), e.miner.as_deref().unwrap_or("?"))));
    }
    if let Some(e) = first_of(&["slow_msg_fetch"]) {
        out.push(stage(node, "slow_msg_fetch", e, format!("messages took {:.0} ms", e.duration_ms.unwrap_or(0.0))));
    }
    if let Some(e) = first_of(&["selected_target", "selected_initial_target", "selected_deferred_target"]) {
        out.push(stage(node, "selected_target", e, format!("{} {}", e.kind, short(&e.cids))));
    }
    if let Some(start) = first_of(&["worker_start"]) {
        let w = start.worker.unwrap_or(0);
        out.push(stage(node, "worker_start", start, format!("worker {w} {}", short(&start.cids))));
        // `worker N done` does not name the tipset: find it by worker id on the same node.
        let done = first_worker_done(conn, sources, node, w, start.ts_ns.unwrap_or(i64::MIN))?;
        if let Some(d) = done {
            out.push(stage(node, "worker_done", &d, format!("worker {w} took {:.3} ms", d.duration_ms.unwrap_or(0.0))));
        }
    }
    if let Some(e) = first_of(&["sync_error"]) {
        out.push(stage(node, "sync_error", e, e.text.clone().unwrap_or_default().lines().next().unwrap_or("").chars().take(120).collect()));
    }
    let heaviest = first_of(&["new_heaviest"]);
    if let Some(e) = heaviest {
        out.push(stage(node, "new_heaviest", e, format!("tipset {} height {}", short(&e.cids), e.height.unwrap_or(-1))));
    }
    // Journal: the head change whose To holds the CID, then a later one that reverted it.
    let applied = evs.iter().filter(|e| e.kind == "head_change").find_map(|e| e.head.as_ref().filter(|h| h.to.iter().any(|c| c == cid)).map(|h| (*e, h)));
    if let Some((a, hc)) = applied {
        let (fh, th, rc, ac) = (hc.from_height, hc.to_height, hc.revert_count, hc.apply_count);
        // The stage is named by the head change's one classification, the one `reorgs` prints.
        let class = hc.class();
        out.push(stage(node, class.apply_stage(), a, format!("head {fh}→{th} revert={rc} apply={ac}")));
        let h = th;
        let by_id: BTreeMap<i64, &EventRow> = evs.iter().map(|e| (e.id, *e)).collect();
        let mut stmt = conn.prepare_cached(
            "SELECT hc.event_id, hc.from_height, hc.to_height, hc.revert_count, hc.apply_count, hc.to_n, hc.cids
             FROM head_changes hc JOIN sources s ON s.id = (hc.event_id >> 40) JOIN nodes n ON n.id = s.node_id
             WHERE hc.ts_ns >= ?2 AND n.name = ?1 ORDER BY hc.ts_ns",
        )?;
        let rows = stmt.query_map(rusqlite::params![node, a.ts_ns.unwrap_or(i64::MIN)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, Vec<u8>>(6)?))
        })?;
        for row in rows {
            let (id, fh, th, rc, ac, to_n, cids) = row?;
            if id == a.id {
                continue;
            }
            // Past finality nothing can revert the block any more: stop scanning.
            if fh - rc > h + lsync_core::chain::CHAIN_FINALITY as i64 {
                break;
            }
            // The old chain lost every height above the ancestor, which is at most fh − rc.
            if rc > 0 && fh >= h && fh - rc < h {
                let cid_in_to = segment::decode_cid_list(&cids)?.iter().position(|c| c == cid).is_some_and(|p| (p as i64) < to_n);
                if cid_in_to {
                    continue;
                }
                let ev = match by_id.get(&id) {
                    Some(e) => Some((*e).clone()),
                    None => read::load_event(conn, sources, EventKind::HeadChange, id)?,
                };
                if let Some(ev) = ev {
                    out.push(stage(node, "journal_revert", &ev, format!("reverted by head {fh}→{th} revert={rc} apply={ac}")));
                }
                break;
            }
        }
    }
    // Stages of the same millisecond go in pipeline order — the arrival caused the rest — then
    // by their full time, then as the node wrote them: Lotus's log has millisecond times, so a
    // first sighting stamped at .004442 and the target selected because of it, logged as .004,
    // are one instant. Stages without a time (a line copied without its timestamp) come last.
    let ms = |t: Option<i64>| t.map(|t| t.div_euclid(1_000_000));
    out.sort_by(|a, b| {
        (a.ts_ns.is_none(), ms(a.ts_ns))
            .cmp(&(b.ts_ns.is_none(), ms(b.ts_ns)))
            .then_with(|| pipeline_rank(&a.stage).cmp(&pipeline_rank(&b.stage)))
            .then_with(|| a.ts_ns.cmp(&b.ts_ns))
            .then_with(|| a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    let first = out.first().and_then(|s| s.ts_ns);
    let mut prev: Option<i64> = None;
    for s in &mut out {
        // Within one millisecond a later stage may carry an earlier, coarser stamp: 0, not a
        // negative latency.
        if let (Some(t), Some(p)) = (s.ts_ns, prev) {
            s.since_prev_ms = Some(((t - p) as f64 / 1e6).max(0.0));
        }
        if let (Some(t), Some(f)) = (s.ts_ns, first) {
            s.since_first_ms = Some(((t - f) as f64 / 1e6).max(0.0));
        }
        prev = s.ts_ns.or(prev);
    }
    Ok(out)
}

/// The first `worker N done` on `node` at or after `since_ns`.
fn first_worker_done(conn: &Connection, sources: &Sources, node: &str, worker: u64, since_ns: i64) -> Result<Option<EventRow>> {
    let of_node = sources.of_node(Some(node));
    // The answer is nearly always in the first segment or two after `since`: look at the first
    // few in time order, and at all of them only when those do not settle it.
    for limit in [Some(8), None] {
        let found = read::segments_by_kind_limited(conn, &[EventKind::WorkerDone], &of_node, Some(since_ns), None, limit)?;
        let complete = limit.is_none_or(|l| found.len() < l);
        let mut best: Option<EventRow> = None;
        let mut settled = false;
        // Segments come in time order; once one starts after the best match, none can beat it.
        for f in &found {
            if let (Some(b), Some(min)) = (&best, f.min_ts) {
                if b.ts_ns.is_some_and(|t| min > t) {
                    settled = true;
                    break;
                }
            }
            let seg = f.load(conn)?;
            let r = seg.reader()?;
            for v in r.events(seg.first_line)? {
                let Some(t) = v.ts.map(|t| t.unix_nanos) else { continue };
                if v.worker != Some(worker) || t < since_ns {
                    continue;
                }
                if best.as_ref().is_none_or(|b| (t, seg.source_id, v.line) < (b.ts_ns.unwrap_or(i64::MAX), b.source_id, b.line)) {
                    best = Some(read::event_row(&seg, &r, &v, sources));
                }
            }
        }
        if settled || complete {
            return Ok(best);
        }
    }
    Ok(None)
}

/// A known CID that resembles one asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarCid {
    pub cid: String,
    /// Edits (a character dropped, added, changed, or two swapped) between the two texts,
    /// when at most [`NEAR_EDITS`]: most likely the same CID, one of the texts damaged by a
    /// hand-copied paste. `None`: they only share a prefix.
    pub edits: Option<usize>,
}

/// Edits within which two CID texts are taken for one CID damaged in a paste.
pub const NEAR_EDITS: usize = 2;

/// Leading characters in which [`similar_cids`] tries every single edit (damage further on
/// is found by the shared prefix): they cover a posting key (the first 10 characters pick
/// its bucket bits, the next ~6.4 are its other bits).
const EDITED_PREFIX_CHARS: usize = 17;

/// Known CIDs resembling `cid` (at most 5): those within [`NEAR_EDITS`] edits first, nearest
/// first, then those sharing the longest prefix (of at least 12 characters).
///
/// Damage past the first [`EDITED_PREFIX_CHARS`] characters leaves a long shared prefix,
/// found through the posting keys' order. Damage before it changes the posting key, so every
/// text one edit away in those characters is tried, each as a posting key: ~1,100 keys, read
/// a bucket at a time (~160 buckets).
pub fn similar_cids(conn: &Connection, cid: &str) -> Result<Vec<SimilarCid>> {
    let near = |c: &str| Some(strsim::osa_distance(c, cid)).filter(|d| *d <= NEAR_EDITS);
    let by_prefix = sharing_prefix(conn, cid)?;
    let mut found: BTreeMap<String, Option<usize>> = by_prefix.iter().map(|c| (c.clone(), near(c))).collect();
    if !found.values().any(Option::is_some) {
        let keys: BTreeSet<i64> = one_edit_prefixes(cid).iter().map(|p| segment::posting_key(segment::cid_key(p))).collect();
        for id in read::segment_ids_with_posting_keys(conn, &keys, 256)? {
            let Some(seg) = read::segment_by_id(conn, id)? else { continue };
            let r: SegmentReader = seg.reader()?;
            for c in r.cid_texts() {
                if c != cid {
                    if let Some(d) = near(c) {
                        found.insert(c.to_string(), Some(d));
                    }
                }
            }
        }
    }
    let mut out: Vec<SimilarCid> = found.into_iter().map(|(cid, edits)| SimilarCid { cid, edits }).collect();
    out.sort_by(|a, b| a.edits.unwrap_or(usize::MAX).cmp(&b.edits.unwrap_or(usize::MAX)).then_with(|| a.cid.cmp(&b.cid)));
    out.truncate(5);
    Ok(out)
}

/// The first 22 characters (a posting key's reach) of every text one edit away from `cid` in
/// its first [`EDITED_PREFIX_CHARS`] characters: each character dropped, changed to another
/// base32 character, swapped with the next, or a base32 character added before it.
fn one_edit_prefixes(cid: &str) -> BTreeSet<String> {
    const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let reach = segment::KEY_PREFIX_CHARS + segment::KEY_CHARS;
    let b = cid.as_bytes();
    if !cid.is_ascii() || b.len() < reach {
        return BTreeSet::new();
    }
    let mut out = BTreeSet::new();
    let mut add = |v: Vec<u8>| {
        if v.len() >= reach {
            out.insert(String::from_utf8_lossy(&v[..reach]).into_owned());
        }
    };
    for i in 0..EDITED_PREFIX_CHARS.min(b.len()) {
        add([&b[..i], &b[i + 1..]].concat());
        if i + 1 < b.len() {
            let mut v = b.to_vec();
            v.swap(i, i + 1);
            add(v);
        }
        for &c in BASE32 {
            if c != b[i] {
                let mut v = b.to_vec();
                v[i] = c;
                add(v);
            }
            add([&b[..i], &[c], &b[i..]].concat());
        }
    }
    out
}

/// Known CIDs other than `cid` sharing the longest prefix with it, of at least 12 characters
/// (every block CID starts `bafy2bzace`: a shorter shared prefix says nothing).
fn sharing_prefix(conn: &Connection, cid: &str) -> Result<Vec<String>> {
    let min = 12.min(cid.len());
    let reach = segment::KEY_PREFIX_CHARS + segment::KEY_CHARS;
    let mut len = cid.len().saturating_sub(1);
    while len >= min && len > segment::KEY_PREFIX_CHARS {
        // Keys hold the first `reach` characters; longer shared prefixes are checked on the
        // texts of the CIDs found in the range of the first `reach`.
        let found = with_prefix(conn, cid, len.min(reach), len, 64)?;
        if !found.is_empty() {
            return Ok(found.into_iter().take(5).collect());
        }
        len -= 1;
    }
    Ok(Vec::new())
}

/// Known CIDs other than `cid` sharing its first `len` characters, from the segments (at most
/// `max_segments`) in the key range of its first `key_len`.
fn with_prefix(conn: &Connection, cid: &str, key_len: usize, len: usize, max_segments: usize) -> Result<BTreeSet<String>> {
    let (lo, hi) = segment::key_range(&cid[..key_len]);
    let ids = read::segment_ids_in_key_range(conn, segment::posting_key(lo), segment::posting_key(hi), max_segments)?;
    let mut found = BTreeSet::new();
    for id in ids {
        let Some(seg) = read::segment_by_id(conn, id)? else { continue };
        let r: SegmentReader = seg.reader()?;
        for c in r.cid_texts() {
            if c.len() >= len && c.as_bytes()[..len] == cid.as_bytes()[..len] && c != cid {
                found.insert(c.to_string());
            }
        }
    }
    Ok(found)
}

/// What a `trace` argument names.
pub enum TraceArg {
    /// A CID, valid or as a damaged paste printed it.
    Cid(String),
    /// The start of a CID's text (at least [`MIN_CID_PREFIX`] characters).
    Prefix(String),
}

/// The shortest CID prefix `trace` looks up: `bafy2bzace` and two characters.
pub const MIN_CID_PREFIX: usize = 12;

/// Reads a `trace` argument: a CID, a damaged one, or the start of one's text; anything else is
/// a one-sentence error.
pub fn parse_trace_arg(arg: &str) -> Result<TraceArg> {
    let prefix_shaped = arg.starts_with("baf")
        && (MIN_CID_PREFIX..40).contains(&arg.len())
        && arg.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c));
    match parse_cid_arg(arg) {
        Ok(c) => Ok(TraceArg::Cid(c)),
        Err(_) if prefix_shaped => Ok(TraceArg::Prefix(arg.to_string())),
        Err(_) if arg.starts_with("baf") && arg.len() < MIN_CID_PREFIX => Err(StoreError::Input(format!(
            "{arg:?} is too short to look up: give at least {MIN_CID_PREFIX} characters of the CID (every block CID starts `bafy2bzace`)"
        ))),
        Err(e) => Err(e),
    }
}

/// Known CIDs starting with `prefix` (at most `max`; more may exist when `max` are returned).
pub fn cids_with_prefix(conn: &Connection, prefix: &str, max: usize) -> Result<Vec<String>> {
    let reach = segment::KEY_PREFIX_CHARS + segment::KEY_CHARS;
    let mut found = with_prefix(conn, prefix, prefix.len().min(reach), prefix.len(), 64)?;
    // `with_prefix` leaves out a text equal to the prefix; a prefix is never a whole CID here.
    found.remove(prefix);
    Ok(found.into_iter().take(max).collect())
}

/// `lsync summary`.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Summary {
    pub sources: Vec<SourceSummary>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub min_height: Option<i64>,
    pub max_height: Option<i64>,
    pub by_kind: BTreeMap<String, i64>,
    pub reorg_classes: BTreeMap<String, i64>,
    /// RevertCount → number of head changes, for head changes that reverted anything.
    pub revert_depths: BTreeMap<i64, i64>,
    pub worker_duration_ms: Option<Percentiles>,
    pub reorg_backlog_episodes: Vec<Episode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceSummary {
    pub node: String,
    pub file: String,
    pub format: String,
    pub compression: Option<String>,
    pub bytes: i64,
    pub lines: i64,
    pub events: i64,
    pub other_records: i64,
    pub malformed: i64,
    pub unknown: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// A run of `reorg_backlog` errors less than a minute apart.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Episode {
    pub node: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub count: i64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn summary(conn: &Connection, node: Option<&str>) -> Result<Summary> {
    let mut s = Summary::default();
    let node_cond = if node.is_some() { "WHERE n.name = ?1" } else { "" };
    let np: Vec<SqlValue> = node.map(|n| vec![SqlValue::Text(n.to_string())]).unwrap_or_default();
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT n.name, s.path, s.format, s.compression, s.byte_offset, s.lines, s.events, s.other_records, s.malformed, s.unknown
             FROM sources s JOIN nodes n ON n.id = s.node_id {node_cond} ORDER BY n.name, s.id"
        ))?;
        let rows = stmt.query_map(params_from_iter(np.clone()), |r| {
            Ok(SourceSummary {
                node: r.get(0)?,
                file: r.get(1)?,
                format: r.get(2)?,
                compression: r.get(3)?,
                bytes: r.get(4)?,
                lines: r.get(5)?,
                events: r.get(6)?,
                other_records: r.get(7)?,
                malformed: r.get(8)?,
                unknown: r.get(9)?,
            })
        })?;
        s.sources = rows.collect::<rusqlite::Result<_>>()?;
    }
    let sources = Sources::load(conn)?;
    let of_node = sources.of_node(node);
    let seg_from = format!("FROM segments g JOIN sources s ON s.id = g.source_id JOIN nodes n ON n.id = s.node_id {node_cond}");
    let and = if node.is_some() { "AND" } else { "WHERE" };
    {
        let mut stmt = conn.prepare(&format!("SELECT g.kind, sum(g.n_events) {seg_from} GROUP BY g.kind"))?;
        let rows = stmt.query_map(params_from_iter(np.clone()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for r in rows {
            let (k, c) = r?;
            s.by_kind.insert(k, c);
        }
    }
    // First and last timestamps: the segments bound them; the event itself gives its offset
    // and precision.
    let extreme = |order: &str| -> Result<Option<String>> {
        let col = if order == "ASC" { "min_ts" } else { "max_ts" };
        let ids: Vec<i64> = {
            let mut stmt = conn.prepare(&format!(
                "SELECT g.id {seg_from} {and} g.{col} = (SELECT g.{col} {seg_from} {and} g.{col} IS NOT NULL ORDER BY g.{col} {order} LIMIT 1)"
            ))?;
            let rows = stmt.query_map(params_from_iter(np.clone()), |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut best: Option<(i64, i64, u64, Timestamp)> = None;
        for id in ids {
            let Some(seg) = read::segment_by_id(conn, id)? else { continue };
            let r = seg.reader()?;
            for v in r.events(seg.first_line)? {
                let Some(t) = v.ts else { continue };
                let key = (if order == "ASC" { t.unix_nanos } else { -t.unix_nanos }, seg.source_id, v.line);
                if best.as_ref().is_none_or(|b| key < (b.0, b.1, b.2)) {
                    best = Some((key.0, key.1, key.2, t));
                }
            }
        }
        Ok(best.map(|b| b.3.to_string()))
    };
    s.first_ts = extreme("ASC")?;
    s.last_ts = extreme("DESC")?;
    let (mn, mx): (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT min(g.min_height), max(g.max_height) {seg_from} {and} g.kind IN ('new_heaviest', 'head_change', 'block_validation')"),
        params_from_iter(np.clone()),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    s.min_height = mn;
    s.max_height = mx;
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT hc.class, hc.revert_count, count(*) FROM head_changes hc JOIN sources s ON s.id = (hc.event_id >> 40) JOIN nodes n ON n.id = s.node_id {node_cond} GROUP BY hc.class, hc.revert_count"
        ))?;
        let rows = stmt.query_map(params_from_iter(np.clone()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        let mut with_rows = 0;
        for r in rows {
            let (class, rc, c) = r?;
            with_rows += c;
            *s.reorg_classes.entry(class).or_default() += c;
            if rc > 0 {
                *s.revert_depths.entry(rc).or_default() += c;
            }
        }
        // Head changes without a row reverted nothing: they are the extends.
        let extends = s.by_kind.get(EventKind::HeadChange.as_str()).copied().unwrap_or(0) - with_rows;
        if extends > 0 {
            *s.reorg_classes.entry(ReorgClass::Extend.as_str().to_string()).or_default() += extends;
        }
    }
    {
        let mut v: Vec<f64> = Vec::new();
        for found in read::segments_by_kind(conn, &[EventKind::WorkerDone], &of_node, None, None)? {
            let seg = found.load(conn)?;
            let r = seg.reader()?;
            v.extend(r.events(seg.first_line)?.iter().filter_map(|e| e.duration_ms));
        }
        if !v.is_empty() {
            v.sort_by(|a, b| a.total_cmp(b));
            s.worker_duration_ms = Some(Percentiles { count: v.len(), p50: percentile(&v, 0.5), p90: percentile(&v, 0.9), p99: percentile(&v, 0.99), max: *v.last().unwrap() });
        }
    }
    {
        let mut backlog: Vec<(String, Timestamp)> = Vec::new();
        for found in read::segments_by_kind(conn, &[EventKind::ReorgBacklog], &of_node, None, None)? {
            let seg = found.load(conn)?;
            let r = seg.reader()?;
            let n = sources.get(seg.source_id).map(|s| s.node.clone()).unwrap_or_default();
            backlog.extend(r.events(seg.first_line)?.iter().filter_map(|e| e.ts.map(|t| (n.clone(), t))));
        }
        backlog.sort_by(|a, b| (&a.0, a.1.unix_nanos).cmp(&(&b.0, b.1.unix_nanos)));
        let mut cur: Option<(String, i64, Episode)> = None;
        for (n, t) in backlog {
            let ns = t.unix_nanos;
            let text = Some(t.to_string());
            match &mut cur {
                Some((cn, last, ep)) if *cn == n && ns - *last <= 60_000_000_000 => {
                    *last = ns;
                    ep.end = text;
                    ep.count += 1;
                }
                _ => {
                    if let Some((_, _, ep)) = cur.take() {
                        s.reorg_backlog_episodes.push(ep);
                    }
                    cur = Some((n.clone(), ns, Episode { node: n, start: text.clone(), end: text, count: 1 }));
                }
            }
        }
        if let Some((_, _, ep)) = cur {
            s.reorg_backlog_episodes.push(ep);
        }
    }
    Ok(s)
}
