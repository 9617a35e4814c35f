//! Queries behind the reports: `events`, `trace`, `reorgs`, `summary`.
//! Every function returns typed rows; the binary decides how to print them.

use crate::store::{Result, StoreError};
use lsync_core::{EventKind, Timestamp};
use rusqlite::{params_from_iter, types::Value as SqlValue, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;

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

/// One event as the reports print it (`lsync events --json` prints exactly these keys).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EventRow {
    pub kind: String,
    pub ts: Option<String>,
    pub node: String,
    pub file: String,
    pub line: u64,
    pub level: Option<String>,
    pub logger: Option<String>,
    pub caller: Option<String>,
    pub cids: Vec<String>,
    pub height: Option<i64>,
    pub worker: Option<u64>,
    pub miner: Option<String>,
    pub delay_s: Option<f64>,
    pub duration_ms: Option<f64>,
    pub peer: Option<String>,
    pub text: Option<String>,
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub ts_ns: Option<i64>,
    #[serde(skip)]
    pub problem: Option<String>,
}

fn ts_text(ns: Option<i64>, off: Option<i64>, prec: Option<i64>) -> Option<String> {
    ns.map(|ns| Timestamp::from_unix_nanos(ns, off.unwrap_or(0) as i32, prec.unwrap_or(3) as u8).to_string())
}

const EVENT_COLUMNS: &str = "e.id, e.kind, e.ts_ns, e.ts_off, e.ts_prec, n.name, s.path, e.line, e.level, e.logger, e.caller,
    e.cids,
    e.height, e.worker, e.miner, e.delay_s, e.duration_ms, e.peer, e.text, e.problem";

fn row_to_event(r: &rusqlite::Row) -> rusqlite::Result<EventRow> {
    let cids: Option<String> = r.get(11)?;
    Ok(EventRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        ts_ns: r.get(2)?,
        ts: ts_text(r.get(2)?, r.get(3)?, r.get(4)?),
        node: r.get(5)?,
        file: r.get(6)?,
        line: r.get::<_, i64>(7)? as u64,
        level: r.get(8)?,
        logger: r.get(9)?,
        caller: r.get(10)?,
        cids: cids.map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default(),
        height: r.get(12)?,
        worker: r.get::<_, Option<i64>>(13)?.map(|w| w as u64),
        miner: r.get(14)?,
        delay_s: r.get(15)?,
        duration_ms: r.get(16)?,
        peer: r.get(17)?,
        text: r.get(18)?,
        problem: r.get(19)?,
    })
}

/// Validates a CID argument; an invalid one is a one-sentence error.
pub fn parse_cid_arg(cid: &str) -> Result<String> {
    lsync_core::cids::validate_cid(cid).map_err(|_| StoreError::Input(format!("{cid:?} is not a valid CID")))
}

fn cid_id(conn: &Connection, cid: &str) -> Result<Option<i64>> {
    Ok(conn.query_row("SELECT id FROM cids WHERE cid = ?1", [cid], |r| r.get(0)).optional()?)
}

/// The `journal_other` records (a compact table of their own), shaped like [`EVENT_COLUMNS`].
const JOURNAL_COLUMNS: &str = "0, 'journal_other', jr.ts_ns, jr.ts_off, jr.ts_prec, n.name, s.path, jr.line, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, jt.system || ':' || jt.event, NULL";

/// `lsync events`.
pub fn events(conn: &Connection, f: &Filter) -> Result<Vec<EventRow>> {
    let mut args: Vec<SqlValue> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let mut cid_filter = None;
    if let Some(cid) = &f.cid {
        let cid = parse_cid_arg(cid)?;
        match cid_id(conn, &cid)? {
            Some(id) => cid_filter = Some(id),
            None => return Ok(Vec::new()),
        }
    }
    if let Some(id) = cid_filter {
        conds.push("e.id IN (SELECT event_id FROM event_cids WHERE cid_id = ?)".into());
        args.push(SqlValue::Integer(id));
    }
    let want_journal_other = cid_filter.is_none()
        && if f.kinds.is_empty() { f.all_kinds } else { f.kinds.contains(&EventKind::JournalOther) };
    let event_kinds: Vec<&EventKind> = f.kinds.iter().filter(|k| **k != EventKind::JournalOther).collect();
    let want_events = f.kinds.is_empty() || !event_kinds.is_empty();
    if !event_kinds.is_empty() {
        conds.push(format!("e.kind IN ({})", vec!["?"; event_kinds.len()].join(",")));
        args.extend(event_kinds.iter().map(|k| SqlValue::Text(k.as_str().to_string())));
    } else {
        // Name the kinds even when the user did not, so time ranges use the (kind, ts) index.
        let kinds: Vec<&str> = EventKind::ALL
            .iter()
            .filter(|k| **k != EventKind::JournalOther && (f.all_kinds || !matches!(k, EventKind::Unknown | EventKind::Malformed)))
            .map(|k| k.as_str())
            .collect();
        conds.push(format!("e.kind IN ({})", vec!["?"; kinds.len()].join(",")));
        args.extend(kinds.iter().map(|k| SqlValue::Text(k.to_string())));
    }
    push_common(&mut conds, &mut args, f, "e");
    let mut parts = Vec::new();
    if want_events {
        let mut q = format!("SELECT {EVENT_COLUMNS}, s.id AS sid FROM events e JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id");
        if !conds.is_empty() {
            q.push_str(" WHERE ");
            q.push_str(&conds.join(" AND "));
        }
        parts.push(q);
    } else {
        args.clear();
    }
    if want_journal_other {
        let mut jconds = Vec::new();
        push_common(&mut jconds, &mut args, f, "jr");
        let mut q = format!(
            "SELECT {JOURNAL_COLUMNS}, s.id AS sid FROM journal_records jr JOIN journal_types jt ON jt.id = jr.type_id
             JOIN sources s ON s.id = jr.source_id JOIN nodes n ON n.id = s.node_id"
        );
        if !jconds.is_empty() {
            q.push_str(" WHERE ");
            q.push_str(&jconds.join(" AND "));
        }
        parts.push(q);
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT * FROM ({}) ORDER BY ts_ns IS NULL, ts_ns, sid, line", parts.join(" UNION ALL "));
    if let Some(l) = f.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), row_to_event)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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

/// One row of `lsync reorgs` (`--json` prints exactly these keys).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReorgRow {
    pub ts: Option<String>,
    pub node: String,
    pub file: String,
    pub line: u64,
    pub from: Vec<String>,
    pub from_height: i64,
    pub to: Vec<String>,
    pub to_height: i64,
    pub revert_count: i64,
    pub apply_count: i64,
    pub class: String,
    pub depth: i64,
    pub distance: i64,
}

/// The reorgs query, for the query-plan test.
pub const REORGS_SQL_FOR_PLAN: &str = "SELECT e.id FROM head_changes hc JOIN events e ON e.id = hc.event_id WHERE hc.apply_count >= 2 AND hc.revert_count >= 1";
/// The trace lookup, for the query-plan test.
pub const TRACE_SQL_FOR_PLAN: &str = "SELECT e.id FROM cids c JOIN event_cids ec ON ec.cid_id = c.id JOIN events e ON e.id = ec.event_id WHERE c.cid = 'x'";

/// `lsync reorgs`: journal head changes with ApplyCount ≥ `min_apply` and RevertCount ≥ `min_revert`.
pub fn reorgs(conn: &Connection, min_apply: i64, min_revert: i64, f: &Filter) -> Result<Vec<ReorgRow>> {
    let mut sql = String::from(
        "SELECT e.id, e.ts_ns, e.ts_off, e.ts_prec, n.name, s.path, e.line, hc.from_height, hc.to_height, hc.revert_count, hc.apply_count, hc.to_n, hc.class
         FROM head_changes hc JOIN events e ON e.id = hc.event_id JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id
         WHERE hc.apply_count >= ? AND hc.revert_count >= ?",
    );
    let mut args = vec![SqlValue::Integer(min_apply), SqlValue::Integer(min_revert)];
    let mut conds = Vec::new();
    push_common(&mut conds, &mut args, f, "e");
    for c in conds {
        sql.push_str(" AND ");
        sql.push_str(&c);
    }
    sql.push_str(" ORDER BY e.ts_ns, s.id, e.line");
    let mut stmt = conn.prepare(&sql)?;
    let mut cid_stmt = conn.prepare_cached("SELECT cids FROM events WHERE id = ?1")?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            ts_text(r.get(1)?, r.get(2)?, r.get(3)?),
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, i64>(11)?,
            r.get::<_, String>(12)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, ts, node, file, line, fh, th, rc, ac, to_n, class) = row?;
        let text: Option<String> = cid_stmt.query_row([id], |r| r.get(0))?;
        let cids: Vec<String> = text.map(|t| t.split(' ').map(str::to_string).collect()).unwrap_or_default();
        let (to, from) = cids.split_at((to_n as usize).min(cids.len()));
        out.push(ReorgRow {
            ts,
            node,
            file,
            line: line as u64,
            from: from.to_vec(),
            from_height: fh,
            to: to.to_vec(),
            to_height: th,
            revert_count: rc,
            apply_count: ac,
            class,
            depth: rc,
            distance: ac,
        });
    }
    Ok(out)
}

/// One stage of a block's life on one node.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Stage {
    pub node: String,
    /// `arrival`, `delay_warning`, `selected_target`, `worker_start`, `worker_done`, `sync_error`,
    /// `new_heaviest`, `journal_apply`, `journal_widen`, `journal_revert`.
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
    /// The CID is valid but no event names it; known CIDs sharing the longest prefix.
    NotFound { cid: String, similar: Vec<String> },
}

/// `lsync trace <cid>`.
pub fn trace(conn: &Connection, cid: &str, node: Option<&str>) -> Result<TraceResult> {
    let cid = parse_cid_arg(cid)?;
    let filter = Filter { cid: Some(cid.clone()), node: node.map(str::to_string), all_kinds: true, ..Default::default() };
    let events = events(conn, &filter)?;
    if events.is_empty() {
        return Ok(TraceResult::NotFound { similar: similar_cids(conn, &cid)?, cid });
    }
    let mut nodes: Vec<String> = events.iter().map(|e| e.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    let mut stages = Vec::new();
    for n in &nodes {
        let evs: Vec<&EventRow> = events.iter().filter(|e| &e.node == n).collect();
        stages.extend(node_stages(conn, &cid, n, &evs)?);
    }
    Ok(TraceResult::Found(Trace { cid, nodes, events, stages }))
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

fn node_stages(conn: &Connection, cid: &str, node: &str, evs: &[&EventRow]) -> Result<Vec<Stage>> {
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
        let done: Option<EventRow> = {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events e JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id
                 WHERE e.kind = 'worker_done' AND e.worker = ?1 AND n.name = ?2 AND e.ts_ns >= ?3 ORDER BY e.ts_ns LIMIT 1"
            ))?;
            stmt.query_row(rusqlite::params![w as i64, node, start.ts_ns.unwrap_or(i64::MIN)], row_to_event).optional()?
        };
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
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, hc.from_height, hc.to_height, hc.revert_count, hc.apply_count, hc.to_n,
                (SELECT ec.pos FROM event_cids ec WHERE ec.cid_id = (SELECT id FROM cids WHERE cid = ?1) AND ec.event_id = e.id ORDER BY ec.pos LIMIT 1)
         FROM events e JOIN head_changes hc ON hc.event_id = e.id JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id
         WHERE e.kind = 'head_change' AND e.ts_ns >= ?3 AND n.name = ?2 ORDER BY e.ts_ns",
    )?;
    let by_id: BTreeMap<i64, &EventRow> = evs.iter().map(|e| (e.id, *e)).collect();
    let applied = evs.iter().find(|e| e.kind == "head_change" && in_to(conn, e.id, cid).unwrap_or(false)).copied();
    if let Some(a) = applied {
        let (fh, th, rc, ac) = head_change_counts(conn, a.id)?;
        let name = if rc == 1 && ac == 1 && fh == th { "journal_widen" } else { "journal_apply" };
        out.push(stage(node, name, a, format!("head {fh}→{th} revert={rc} apply={ac}")));
        let h = th;
        let rows = stmt.query_map(rusqlite::params![cid, node, a.ts_ns.unwrap_or(i64::MIN)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, Option<i64>>(6)?))
        })?;
        for row in rows {
            let (id, fh, th, rc, ac, to_n, pos) = row?;
            if id == a.id {
                continue;
            }
            // Past finality nothing can revert the block any more: stop scanning.
            if fh - rc > h + lsync_core::chain::CHAIN_FINALITY as i64 {
                break;
            }
            let cid_in_to = pos.map(|p| p < to_n).unwrap_or(false);
            // The old chain lost every height above the ancestor, which is at most fh − rc.
            if rc > 0 && fh >= h && fh - rc < h && !cid_in_to {
                let ev = match by_id.get(&id) {
                    Some(e) => (*e).clone(),
                    None => load_event(conn, id)?,
                };
                out.push(stage(node, "journal_revert", &ev, format!("reverted by head {fh}→{th} revert={rc} apply={ac}")));
                break;
            }
        }
    }
    // Same-millisecond stages keep the order the node wrote them (file, then line).
    out.sort_by(|a, b| a.ts_ns.unwrap_or(i64::MIN).cmp(&b.ts_ns.unwrap_or(i64::MIN)).then_with(|| a.file.cmp(&b.file)).then(a.line.cmp(&b.line)));
    let first = out.first().and_then(|s| s.ts_ns);
    let mut prev: Option<i64> = None;
    for s in &mut out {
        if let (Some(t), Some(p)) = (s.ts_ns, prev) {
            s.since_prev_ms = Some((t - p) as f64 / 1e6);
        }
        if let (Some(t), Some(f)) = (s.ts_ns, first) {
            s.since_first_ms = Some((t - f) as f64 / 1e6);
        }
        prev = s.ts_ns.or(prev);
    }
    Ok(out)
}

fn load_event(conn: &Connection, id: i64) -> Result<EventRow> {
    Ok(conn.query_row(
        &format!("SELECT {EVENT_COLUMNS} FROM events e JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id WHERE e.id = ?1"),
        [id],
        row_to_event,
    )?)
}

fn head_change_counts(conn: &Connection, id: i64) -> Result<(i64, i64, i64, i64)> {
    Ok(conn.query_row("SELECT from_height, to_height, revert_count, apply_count FROM head_changes WHERE event_id = ?1", [id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?)
}

fn in_to(conn: &Connection, event_id: i64, cid: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM cids c JOIN event_cids ec ON ec.cid_id = c.id JOIN head_changes hc ON hc.event_id = ec.event_id
             WHERE ec.event_id = ?1 AND c.cid = ?2 AND ec.pos < hc.to_n",
            rusqlite::params![event_id, cid],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Known CIDs sharing the longest prefix with `cid` (at most 5).
pub fn similar_cids(conn: &Connection, cid: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT cid FROM cids WHERE cid >= ?1 AND cid < ?2 ORDER BY cid LIMIT 5")?;
    // Every block CID starts `bafy2bzace`: a shorter shared prefix says nothing.
    let min = 12.min(cid.len());
    let mut len = cid.len().saturating_sub(1);
    while len >= min && len > 0 {
        let prefix = &cid[..len];
        let mut upper = prefix.to_string();
        upper.push('\u{10FFFF}');
        let found: Vec<String> = stmt.query_map([prefix, upper.as_str()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        if !found.is_empty() {
            return Ok(found);
        }
        len -= 1;
    }
    Ok(Vec::new())
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
    let from = format!("FROM events e JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id {node_cond}");
    let and = if node.is_some() { "AND" } else { "WHERE" };
    let jfrom = format!("FROM journal_records jr JOIN sources s ON s.id = jr.source_id JOIN nodes n ON n.id = s.node_id {node_cond}");
    let jn: i64 = conn.query_row(&format!("SELECT count(*) {jfrom}"), params_from_iter(np.clone()), |r| r.get(0))?;
    if jn > 0 {
        s.by_kind.insert("journal_other".into(), jn);
    }

    type TsParts = Option<(i64, i64, i64)>;
    let (first, last): (TsParts, TsParts) = {
        let q = |order: &str, table_from: &str, alias: &str| -> Result<TsParts> {
            Ok(conn
                .query_row(
                    &format!("SELECT {alias}.ts_ns, {alias}.ts_off, {alias}.ts_prec {table_from} {and} {alias}.ts_ns IS NOT NULL ORDER BY {alias}.ts_ns {order} LIMIT 1"),
                    params_from_iter(np.clone()),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
        };
        let pick = |a: TsParts, b: TsParts, earliest: bool| match (a, b) {
            (Some(x), Some(y)) => Some(if (x.0 <= y.0) == earliest { x } else { y }),
            (x, y) => x.or(y),
        };
        (
            pick(q("ASC", &from, "e")?, if jn > 0 { q("ASC", &jfrom, "jr")? } else { None }, true),
            pick(q("DESC", &from, "e")?, if jn > 0 { q("DESC", &jfrom, "jr")? } else { None }, false),
        )
    };
    s.first_ts = first.and_then(|(a, b, c)| ts_text(Some(a), Some(b), Some(c)));
    s.last_ts = last.and_then(|(a, b, c)| ts_text(Some(a), Some(b), Some(c)));
    let (mn, mx): (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT min(e.height), max(e.height) {from} {and} e.kind IN ('new_heaviest', 'head_change', 'block_validation')"),
        params_from_iter(np.clone()),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    s.min_height = mn;
    s.max_height = mx;
    {
        let mut stmt = conn.prepare(&format!("SELECT e.kind, count(*) {from} GROUP BY e.kind"))?;
        let rows = stmt.query_map(params_from_iter(np.clone()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for r in rows {
            let (k, c) = r?;
            s.by_kind.insert(k, c);
        }
    }
    {
        let mut stmt = conn.prepare(&format!("SELECT hc.class, hc.revert_count, count(*) FROM head_changes hc JOIN events e ON e.id = hc.event_id JOIN sources s ON s.id = e.source_id JOIN nodes n ON n.id = s.node_id {node_cond} GROUP BY hc.class, hc.revert_count"))?;
        let rows = stmt.query_map(params_from_iter(np.clone()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        for r in rows {
            let (class, rc, c) = r?;
            *s.reorg_classes.entry(class).or_default() += c;
            if rc > 0 {
                *s.revert_depths.entry(rc).or_default() += c;
            }
        }
    }
    {
        let mut stmt = conn.prepare(&format!("SELECT e.duration_ms {from} {and} e.kind = 'worker_done' AND e.duration_ms IS NOT NULL"))?;
        let mut v: Vec<f64> = stmt.query_map(params_from_iter(np.clone()), |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        if !v.is_empty() {
            v.sort_by(|a, b| a.total_cmp(b));
            s.worker_duration_ms = Some(Percentiles { count: v.len(), p50: percentile(&v, 0.5), p90: percentile(&v, 0.9), p99: percentile(&v, 0.99), max: *v.last().unwrap() });
        }
    }
    {
        let mut stmt = conn.prepare(&format!("SELECT n.name, e.ts_ns, e.ts_off, e.ts_prec {from} {and} e.kind = 'reorg_backlog' AND e.ts_ns IS NOT NULL ORDER BY n.name, e.ts_ns"))?;
        let rows = stmt.query_map(params_from_iter(np), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)))?;
        let mut cur: Option<(String, i64, i64, Episode)> = None;
        for r in rows {
            let (n, ns, off, prec) = r?;
            let t = ts_text(Some(ns), Some(off), Some(prec));
            match &mut cur {
                Some((cn, _, last, ep)) if *cn == n && ns - *last <= 60_000_000_000 => {
                    *last = ns;
                    ep.end = t;
                    ep.count += 1;
                }
                _ => {
                    if let Some((_, _, _, ep)) = cur.take() {
                        s.reorg_backlog_episodes.push(ep);
                    }
                    cur = Some((n.clone(), ns, ns, Episode { node: n, start: t.clone(), end: t, count: 1 }));
                }
            }
        }
        if let Some((_, _, _, ep)) = cur {
            s.reorg_backlog_episodes.push(ep);
        }
    }
    Ok(s)
}
