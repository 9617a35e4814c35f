//! The numbers behind `lsync report`: everything the HTML report draws, aggregated so that a
//! database of gigabytes of logs gives a report of a few megabytes in seconds. The binary
//! renders; nothing here knows HTML.
//!
//! What is aggregated or cut, and said so in the report: the head-height series is bucketed by
//! time (≤ [`HEIGHT_BUCKETS`] points a node) with every reorg marker and up to
//! [`MAX_MARKERS`] widen/sibling markers; delay and duration distributions are drawn from
//! reservoirs of [`SAMPLE`] values (percentiles are exact: computed over all values); fork
//! windows are the [`MAX_WINDOWS`] deepest reorgs and then orphans; traces, the blocks of the
//! windows first; and when the data holds more than [`FULL_VIEW_EVENTS`] block and head events
//! the orphan list and the node comparison cover the last [`RECENT_SECS`] s only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::chain_view::{node_views, NodeView};
use crate::compare::{compare, Compare, Selection};
use crate::finality::{finality, FinalityReport};
use crate::miners::{miners, MinerRow};
use crate::orphans::{orphans, OrphanRow};
use crate::query::{self, reorgs, Filter, ReorgRow, Summary, TraceResult};
use crate::sql::{open_for_sql, run_script, Cell, RowSink};
use crate::store::Result;

pub const HEIGHT_BUCKETS: usize = 1500;
pub const MAX_MARKERS: usize = 1500;
pub const SAMPLE: usize = 2000;
pub const MAX_WINDOWS: usize = 20;
pub const MAX_TRACES: usize = 150;
pub const FULL_VIEW_EVENTS: i64 = 400_000;
pub const RECENT_SECS: i64 = 2 * 3600;
/// Heights shown on each side of a fork.
pub const WINDOW_RADIUS: i64 = 3;

/// One node's head height over time.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HeightSeries {
    pub node: String,
    /// (Unix ns, height): the highest head of each time bucket.
    pub points: Vec<(i64, i64)>,
    /// (Unix ns, height, class) of head changes other than extensions.
    pub markers: Vec<(i64, i64, String)>,
    pub head_changes: u64,
    pub markers_cut: u64,
}

/// A block in a fork picture.
#[derive(Debug, Clone, Serialize)]
pub struct WindowBlock {
    pub cid: String,
    pub miner: Option<String>,
    pub delay_s: Option<f64>,
    /// Its orphan cause, when it is an orphan.
    pub orphan: Option<String>,
}

/// A tipset in a fork picture: its column is its height, its row its branch (0 = canonical).
#[derive(Debug, Clone, Serialize)]
pub struct WindowTipset {
    pub height: i64,
    pub branch: usize,
    pub canonical: bool,
    /// Reverted by a reorg (the losing branch).
    pub reverted: bool,
    pub blocks: Vec<WindowBlock>,
}

/// The chain around one fork or orphan, on one node.
#[derive(Debug, Clone, Serialize)]
pub struct ForkWindow {
    pub node: String,
    pub title: String,
    pub low: i64,
    pub high: i64,
    pub tipsets: Vec<WindowTipset>,
    /// Parent edges between `tipsets` (indexes), child → parent.
    pub edges: Vec<(usize, usize)>,
    /// Heights in the window with no canonical tipset.
    pub null_rounds: Vec<i64>,
    /// False when the node's data has heads only (no lsync reorg paths): branches between a
    /// reorg's ends are not known.
    pub exact: bool,
}

/// Delays of one miner's blocks.
#[derive(Debug, Clone, Serialize)]
pub struct MinerDelays {
    pub row: MinerRow,
    pub p99_delay_s: f64,
    /// A sample of its delays, s, sorted.
    pub sample: Vec<f64>,
}

pub struct ReportData {
    pub db: String,
    pub summary: Summary,
    pub nodes: Vec<String>,
    pub heights: Vec<HeightSeries>,
    pub reorgs: Vec<ReorgRow>,
    pub windows: Vec<ForkWindow>,
    /// Fork windows there were but not shown.
    pub windows_cut: usize,
    pub orphans: Vec<OrphanRow>,
    /// `all` or `recent` (the last RECENT_SECS only, on large data).
    pub scope: &'static str,
    pub miners: Vec<MinerDelays>,
    /// From `block_seen` (every block) or `block_delay` (Lotus's > 5 s warnings).
    pub delays_from: &'static str,
    pub compare: Option<Compare>,
    pub worker_ms: Vec<f64>,
    pub target_to_heaviest_ms: Vec<f64>,
    pub traces: Vec<(String, TraceResult)>,
    pub finality: Option<FinalityReport>,
    /// Share of seen blocks that have a first-seen record.
    pub first_seen_coverage: Option<f64>,
    /// Per section: what the data lacks and the command that would supply it.
    pub notes: BTreeMap<&'static str, Vec<String>>,
}

/// A deterministic reservoir (Algorithm R with SplitMix64).
struct Reservoir {
    cap: usize,
    seen: u64,
    state: u64,
    items: Vec<f64>,
    all: Vec<f64>,
}

impl Reservoir {
    fn new(cap: usize) -> Self {
        Self { cap, seen: 0, state: 0x9E37_79B9_7F4A_7C15, items: Vec::new(), all: Vec::new() }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn push(&mut self, v: f64, keep_all: bool) {
        self.seen += 1;
        if keep_all {
            self.all.push(v);
        }
        if self.items.len() < self.cap {
            self.items.push(v);
        } else {
            let j = self.next() % self.seen;
            if (j as usize) < self.cap {
                self.items[j as usize] = v;
            }
        }
    }
}

/// A sink collecting rows into a closure.
struct Collect<F: FnMut(&[Cell])>(F);

impl<F: FnMut(&[Cell])> RowSink for Collect<F> {
    fn columns(&mut self, _: &[String]) -> std::io::Result<()> {
        Ok(())
    }
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<bool> {
        (self.0)(cells);
        Ok(true)
    }
    fn end(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn int(c: &Cell) -> Option<i64> {
    match c {
        Cell::Int(v) => Some(*v),
        Cell::Real(v) => Some(*v as i64),
        _ => None,
    }
}

fn real(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(v) => Some(*v as f64),
        Cell::Real(v) => Some(*v),
        _ => None,
    }
}

fn text(c: &Cell) -> Option<String> {
    match c {
        Cell::Text(s) => Some(s.clone()),
        _ => None,
    }
}

fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

/// Everything the report shows, for `f`'s nodes and times.
pub fn report_data(db: &Path, f: &Filter) -> Result<ReportData> {
    let conn = crate::store::open_for_reading(db)?;
    let sqlc: Connection = open_for_sql(db)?;
    let summary = query::summary(&conn, f.node.as_deref())?;
    let mut notes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let node_cond = |col: &str| -> String {
        let mut c = Vec::new();
        if let Some(n) = &f.node {
            c.push(format!("{col} = {}", sql_quote(n)));
        }
        if let Some(t) = f.since {
            c.push(format!("ts_ns >= {}", t.unix_nanos));
        }
        if let Some(t) = f.until {
            c.push(format!("ts_ns <= {}", t.unix_nanos));
        }
        c.join(" AND ")
    };
    let and = |c: String| if c.is_empty() { String::new() } else { format!(" AND {c}") };
    let sql_err = |e: crate::sql::SqlError| crate::store::StoreError::Input(e.to_string());

    // Head height over time, bucketed by time.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    run_script(&sqlc, &format!("SELECT min(ts_ns), max(ts_ns) FROM head_changes WHERE 1{}", and(node_cond("node"))), &mut Collect(|c: &[Cell]| {
        lo = int(&c[0]).unwrap_or(i64::MAX);
        hi = int(&c[1]).unwrap_or(i64::MIN);
    }))
    .map_err(sql_err)?;
    let mut series: BTreeMap<String, HeightSeries> = BTreeMap::new();
    if lo <= hi {
        let width = ((hi - lo) / HEIGHT_BUCKETS as i64).max(1);
        let mut buckets: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
        run_script(&sqlc, &format!("SELECT node, ts_ns, to_height, class FROM head_changes WHERE ts_ns IS NOT NULL{}", and(node_cond("node"))), &mut Collect(|c: &[Cell]| {
            let (Some(node), Some(ts), Some(h)) = (text(&c[0]), int(&c[1]), int(&c[2])) else { return };
            let s = series.entry(node.clone()).or_insert_with(|| HeightSeries { node: node.clone(), ..Default::default() });
            s.head_changes += 1;
            let class = text(&c[3]).unwrap_or_default();
            if class != "extend" {
                if class == "reorg" || s.markers.len() < MAX_MARKERS {
                    s.markers.push((ts, h, class));
                } else {
                    s.markers_cut += 1;
                }
            }
            let b = buckets.entry((node, (ts - lo) / width)).or_insert((ts, h));
            if h > b.1 {
                *b = (ts, h);
            }
        }))
        .map_err(sql_err)?;
        for ((node, _), p) in buckets {
            if let Some(s) = series.get_mut(&node) {
                s.points.push(p);
            }
        }
        for s in series.values_mut() {
            s.markers.sort();
        }
    } else {
        notes.entry("heights").or_default().push("no journal head changes: ingest the node's journal (~/.lotus/journal), or follow/attach output".into());
    }
    let reorg_rows = reorgs(&conn, 1, 1, f)?;

    // Miners: exact percentiles over every value, sampled for the picture.
    let (delay_kind, delays_from) = match summary.by_kind.get("block_seen").copied().unwrap_or(0) {
        0 => ("block_delay", "block_delay"),
        _ => ("block_seen", "block_seen"),
    };
    if delays_from == "block_delay" {
        notes.entry("miners").or_default().push("no first-seen records: delays are Lotus's `large delay` warnings only (blocks over 5 s late); `lsync follow` or `lsync attach` record every block".into());
    }
    let mut per_miner: BTreeMap<String, Reservoir> = BTreeMap::new();
    run_script(&sqlc, &format!("SELECT miner, delay_s FROM events WHERE kind = '{delay_kind}'{}", and(node_cond("node"))), &mut Collect(|c: &[Cell]| {
        if let (Some(m), Some(d)) = (text(&c[0]), real(&c[1])) {
            per_miner.entry(m).or_insert_with(|| Reservoir::new(SAMPLE)).push(d, true);
        }
    }))
    .map_err(sql_err)?;
    let rows = miners(&conn, 0.0, f, 3)?;
    let mut miner_delays: Vec<MinerDelays> = rows
        .into_iter()
        .map(|row| {
            let r = per_miner.remove(&row.miner);
            let (mut all, mut sample) = r.map_or((Vec::new(), Vec::new()), |r| (r.all, r.items));
            all.sort_by(f64::total_cmp);
            sample.sort_by(f64::total_cmp);
            MinerDelays { p99_delay_s: pct(&all, 0.99), row, sample }
        })
        .collect();
    miner_delays.sort_by(|a, b| b.row.p95_delay_s.total_cmp(&a.row.p95_delay_s));
    miner_delays.truncate(30);

    // Sync workers.
    let mut workers = Reservoir::new(SAMPLE);
    run_script(&sqlc, &format!("SELECT duration_ms FROM events WHERE kind = 'worker_done'{}", and(node_cond("node"))), &mut Collect(|c: &[Cell]| {
        if let Some(d) = real(&c[0]) {
            workers.push(d, false);
        }
    }))
    .map_err(sql_err)?;
    if workers.seen == 0 {
        notes.entry("sync").or_default().push("no sync-worker lines: ingest the node's daemon log (lsync follow writes one too)".into());
    }
    let mut worker_ms = workers.items;
    worker_ms.sort_by(f64::total_cmp);

    // Blocks, orphans, nodes side by side: everything on small data, the recent past on large.
    let block_events: i64 = ["head_change", "block_seen", "block_over_pubsub", "selected_target", "new_heaviest", "worker_start"]
        .iter()
        .map(|k| summary.by_kind.get(*k).copied().unwrap_or(0))
        .sum();
    let (scope, view_filter) = if block_events <= FULL_VIEW_EVENTS {
        ("all", f.clone())
    } else {
        let last = summary.last_ts.as_deref().and_then(|t| lsync_core::Timestamp::parse(t).ok());
        let since = last.map(|t| lsync_core::Timestamp::from_unix_nanos(t.unix_nanos - RECENT_SECS * 1_000_000_000, 0, 3));
        notes.entry("orphans").or_default().push(format!("{block_events} block and head events: orphans, fork pictures and the node comparison cover the last {} h only (`lsync orphans` lists them all)", RECENT_SECS / 3600));
        ("recent", Filter { since: since.or(f.since), ..f.clone() })
    };
    let views = node_views(&conn, &view_filter)?;
    let (orphan_rows, _) = orphans(&conn, &view_filter)?;
    let nodes: Vec<String> = views.iter().map(|v| v.node.clone()).collect();
    if nodes.len() < 2 {
        notes.entry("compare").or_default().push("one node only: ingest a second node's files with `lsync ingest --node NAME` (or run a second `lsync follow`) to put them side by side".into());
    }
    let cmp = (nodes.len() >= 2).then(|| compare(&conn, &view_filter, &Selection::default())).transpose()?;
    let mut target_to_heaviest_ms: Vec<f64> = views
        .iter()
        .flat_map(|v| v.blocks.values().filter_map(|b| Some((b.heaviest_ns? - b.targeted_ns?) as f64 / 1e6)))
        .filter(|d| *d >= 0.0)
        .collect();
    target_to_heaviest_ms.sort_by(f64::total_cmp);
    let seen_blocks = views.iter().flat_map(|v| v.blocks.values()).filter(|b| b.first_seen_ns.is_some()).count();
    let with_record = views.iter().flat_map(|v| v.blocks.values()).filter(|b| b.first_seen_from == "block_seen").count();
    let first_seen_coverage = (seen_blocks > 0).then(|| with_record as f64 / seen_blocks as f64);
    if with_record == 0 {
        notes.entry("first_seen").or_default().push("no first-seen records: blocks are timed by Lotus's log lines (`new block over pubsub` is DEBUG); `lsync follow` or `lsync attach` record every block's arrival".into());
    }

    // Fork windows: the deepest reorgs, then the orphans.
    // (node, height, title, the time of the reorg: its window is read around it)
    let mut centers: Vec<(String, i64, String, Option<i64>)> = Vec::new();
    let mut deep: Vec<&ReorgRow> = reorg_rows.iter().filter(|r| r.change.revert_count >= 1 && r.change.class() != lsync_core::ReorgClass::Widen).collect();
    deep.sort_by_key(|r| std::cmp::Reverse(r.change.revert_count));
    for r in deep {
        let at = r.ts.as_deref().and_then(|t| lsync_core::Timestamp::parse(t).ok()).map(|t| t.unix_nanos);
        centers.push((r.node.clone(), r.change.to_height, format!("reorg of depth {} to height {} ({})", r.change.revert_count, r.change.to_height, r.ts.clone().unwrap_or_default()), at));
    }
    for o in &orphan_rows {
        centers.push((o.node.clone(), o.height, format!("orphan at height {} ({})", o.height, o.attribution), None));
    }
    let mut windows = Vec::new();
    let mut covered: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut windows_cut = 0;
    for (node, h, title, at) in centers {
        if covered.contains(&(node.clone(), h)) {
            continue;
        }
        if windows.len() >= MAX_WINDOWS {
            windows_cut += 1;
            continue;
        }
        // A reorg the main view does not cover (on large data, before its recent past) is read
        // on its own: the node's events ten minutes either side of it.
        let in_view = views.iter().find(|v| v.node == node && v.chain.iter().any(|e| e.height == Some(h)));
        let local;
        let v = match (in_view, at) {
            (Some(v), _) => v,
            (None, Some(at)) => {
                let around = |d: i64| Some(lsync_core::Timestamp::from_unix_nanos(at + d, 0, 3));
                let slice = Filter { node: Some(node.clone()), since: around(-600_000_000_000), until: around(600_000_000_000), ..f.clone() };
                local = node_views(&conn, &slice)?.into_iter().next();
                match &local {
                    Some(v) => v,
                    None => continue,
                }
            }
            (None, None) => continue,
        };
        let w = window(v, h, title, &orphan_rows);
        if w.tipsets.is_empty() {
            continue;
        }
        for x in w.low..=w.high {
            covered.insert((node.clone(), x));
        }
        windows.push(w);
    }
    if !views.iter().any(|v| v.exact) && !windows.is_empty() {
        notes.entry("forks").or_default().push("heads only (Lotus's journal): a reorg's intermediate tipsets are not known, so branches show their ends; lsync follow and attach journal every path".into());
    }

    // Traces: the blocks of the pictures first, then the latest.
    let mut trace_cids: Vec<String> = Vec::new();
    for w in &windows {
        for t in &w.tipsets {
            for b in &t.blocks {
                if !trace_cids.contains(&b.cid) {
                    trace_cids.push(b.cid.clone());
                }
            }
        }
    }
    trace_cids.truncate(MAX_TRACES);
    let mut traces = Vec::new();
    for cid in trace_cids {
        let t = query::trace(&conn, &cid, f.node.as_deref())?;
        traces.push((cid, t));
    }
    let fin = finality(&conn, f, 600.0)?;
    let finality = (fin.nodes.iter().any(|n| n.records > 0)).then_some(fin);
    if finality.is_none() {
        notes.entry("finality").or_default().push("no finality records: `lsync attach` records each F3 certificate a node reports".into());
    }
    Ok(ReportData {
        db: db.display().to_string(),
        summary,
        nodes,
        heights: series.into_values().collect(),
        reorgs: reorg_rows,
        windows,
        windows_cut,
        orphans: orphan_rows,
        scope,
        miners: miner_delays,
        delays_from,
        compare: cmp,
        worker_ms,
        target_to_heaviest_ms,
        traces,
        finality,
        first_seen_coverage,
        notes,
    })
}

/// The chain around `center` on node `v`: its canonical tipsets, the branches reorgs reverted,
/// and the orphans, within [`WINDOW_RADIUS`] heights.
fn window(v: &NodeView, center: i64, title: String, orphans: &[OrphanRow]) -> ForkWindow {
    let (low, high) = (center - WINDOW_RADIUS, center + WINDOW_RADIUS);
    let facts = |cids: &[String]| -> Vec<WindowBlock> {
        cids.iter()
            .map(|c| {
                let b = v.blocks.get(c);
                WindowBlock {
                    cid: c.clone(),
                    miner: b.and_then(|b| b.miner.clone()),
                    delay_s: b.and_then(|b| b.delay_s),
                    orphan: orphans.iter().find(|o| o.node == v.node && &o.cid == c).map(|o| o.attribution.to_string()),
                }
            })
            .collect()
    };
    let mut tipsets: Vec<WindowTipset> = Vec::new();
    let mut edges = Vec::new();
    let mut index: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut add = |tipsets: &mut Vec<WindowTipset>, height: i64, cids: &[String], branch: usize, canonical: bool, reverted: bool| -> usize {
        if let Some(i) = index.get(cids) {
            return *i;
        }
        tipsets.push(WindowTipset { height, branch, canonical, reverted, blocks: facts(cids) });
        index.insert(cids.to_vec(), tipsets.len() - 1);
        tipsets.len() - 1
    };
    // The canonical chain (known entries), one below the window to anchor edges.
    let mut prev: Option<usize> = None;
    let mut null_rounds = Vec::new();
    let canon: Vec<(i64, Vec<String>)> = v.chain.iter().filter_map(|e| Some((e.height?, e.cids.clone()?))).filter(|(h, _)| *h >= low - 1 && *h <= high).collect();
    let canon_heights: BTreeSet<i64> = canon.iter().map(|(h, _)| *h).collect();
    for (h, cids) in &canon {
        let i = add(&mut tipsets, *h, cids, 0, true, false);
        if let Some(p) = prev {
            edges.push((i, p));
        }
        prev = Some(i);
    }
    if let (Some(first), Some(last)) = (canon_heights.iter().next(), canon_heights.iter().next_back()) {
        null_rounds = (low.max(*first)..=high.min(*last)).filter(|h| !canon_heights.contains(h)).collect();
    }
    // Reverted branches, from the reorg paths that touch the window.
    let mut branch = 1;
    let runs = if v.exact { &v.paths } else { &v.reverted_runs };
    for p in runs {
        let reverted: Vec<&(i64, Vec<String>)> = p.revert.iter().filter(|(h, _)| *h >= low && *h <= high).collect();
        if reverted.is_empty() {
            continue;
        }
        // Heads-only data may not know the fork point (a multi-tipset head change below it).
        let mut parent = if p.fork_point.1.is_empty() { usize::MAX } else { add(&mut tipsets, p.fork_point.0, &p.fork_point.1, 0, true, false) };
        for (h, cids) in p.revert.iter().rev().filter(|(h, _)| *h >= low && *h <= high) {
            let i = add(&mut tipsets, *h, cids, branch, false, true);
            tipsets[i].reverted = true;
            if tipsets[i].branch == 0 {
                tipsets[i].branch = branch;
            }
            if parent != usize::MAX {
                edges.push((i, parent));
            }
            parent = i;
        }
        branch += 1;
    }
    // Orphans no branch explains: alone on a row of their own.
    for o in orphans.iter().filter(|o| o.node == v.node && o.height >= low && o.height <= high) {
        if tipsets.iter().any(|t| t.blocks.iter().any(|b| b.cid == o.cid)) {
            continue;
        }
        add(&mut tipsets, o.height, std::slice::from_ref(&o.cid), branch, false, false);
        branch += 1;
    }
    edges.sort();
    edges.dedup();
    ForkWindow { node: v.node.clone(), title, low, high, tipsets, edges, null_rounds, exact: v.exact }
}
