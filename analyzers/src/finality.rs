//! `lsync finality`: how long blocks took to become final, how far finality lags the head, and
//! when it stalled — per node, from `finality` events (`lsync attach`'s F3 records) against
//! the blocks' first sightings (`block_seen`) or, without those, the head changes that applied
//! them.

use std::collections::BTreeMap;

use lsync_core::EventKind;
use rusqlite::Connection;
use serde::Serialize;

use crate::query::{events, Filter};
use crate::store::Result;

/// Percentiles of a set of durations, in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Distribution {
    pub count: usize,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

impl Distribution {
    fn of(mut v: Vec<f64>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        Some(Self { count: v.len(), p50_s: at(0.5), p90_s: at(0.9), p99_s: at(0.99), max_s: *v.last().expect("non-empty") })
    }
}

/// A stretch with no new finality longer than the threshold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stall {
    pub from: String,
    /// `None`: still stalled when the data ends.
    pub to: Option<String>,
    pub seconds: f64,
    pub last_instance: Option<u64>,
    pub next_instance: Option<u64>,
    /// The finalized epoch it stalled at, and the head height the node reached meanwhile.
    pub finalized_epoch: i64,
    pub head_height: Option<i64>,
}

/// One node's finality.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeFinality {
    pub node: String,
    pub records: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub instances: Option<(u64, u64)>,
    pub finalized_epoch: Option<i64>,
    pub head_height: Option<i64>,
    /// Head height − finalized epoch, at the end of the data.
    pub lag_epochs: Option<i64>,
    /// First sighting → finalized, per block.
    pub time_to_finality: Option<Distribution>,
    /// What time-to-finality counts from: `block_seen` (each block's arrival) or `head_change`
    /// (when a head change first applied its tipset).
    pub measured_from: Option<&'static str>,
    pub stalls: Vec<Stall>,
    /// What the data lacks, each with the command that would supply it.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FinalityReport {
    pub stall_threshold_s: f64,
    pub nodes: Vec<NodeFinality>,
}

/// The report over `f` (node, time range), a stall being no new finality for `stall_s`.
pub fn finality(conn: &Connection, f: &Filter, stall_s: f64) -> Result<FinalityReport> {
    // Finality records first: without any there is nothing to time, and with some only the
    // blocks and head changes of their time span (plus an hour before) are read — not a whole
    // journal's.
    let fin_rows = events(conn, &Filter { kinds: vec![EventKind::Finality], all_kinds: false, limit: None, cid: None, ..f.clone() })?;
    let span = fin_rows.iter().filter_map(|r| r.ts_ns).fold(None, |acc: Option<(i64, i64)>, t| Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t)))));
    let mut rows = fin_rows;
    if let Some((first, _)) = span {
        let since = lsync_core::Timestamp::from_unix_nanos(first - 3_600_000_000_000, 0, 3);
        let since = match f.since {
            Some(s) if s.unix_nanos > since.unix_nanos => s,
            _ => since,
        };
        rows.extend(events(conn, &Filter { kinds: vec![EventKind::BlockSeen, EventKind::HeadChange], all_kinds: false, limit: None, cid: None, since: Some(since), ..f.clone() })?);
        rows.sort_by_key(|r| r.ts_ns);
    }
    let mut by_node: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in rows {
        by_node.entry(r.node.clone()).or_default().push(r);
    }
    let mut nodes = Vec::new();
    for (node, rows) in by_node {
        let fin: Vec<_> = rows.iter().filter(|r| r.kind == "finality" && r.ts_ns.is_some() && r.height.is_some()).collect();
        let seen: Vec<_> = rows.iter().filter(|r| r.kind == "block_seen" && r.ts_ns.is_some() && r.height.is_some()).collect();
        let heads: Vec<_> = rows.iter().filter(|r| r.kind == "head_change" && r.ts_ns.is_some()).collect();
        let head_height = heads.iter().filter_map(|r| r.head.as_ref().map(|h| h.to_height)).chain(seen.iter().filter_map(|r| r.height)).max();
        let last_ts = rows.iter().filter_map(|r| r.ts_ns).max();
        let mut missing = Vec::new();
        if fin.is_empty() {
            missing.push("no finality records: run `lsync attach` against the node (it records each F3 certificate) and ingest its journal".to_string());
        }
        // Running maximum of the finalized epoch over time: a block at height h is final at the
        // first record whose epoch (or an earlier one's) reaches h.
        let mut marks: Vec<(i64, i64)> = Vec::new();
        let mut top = i64::MIN;
        for r in &fin {
            top = top.max(r.height.expect("filtered"));
            marks.push((r.ts_ns.expect("filtered"), top));
        }
        let final_at = |height: i64, seen_ns: i64| -> Option<f64> {
            let i = marks.partition_point(|(_, epoch)| *epoch < height);
            marks.get(i).map(|(ts, _)| ((*ts - seen_ns) as f64 / 1e9).max(0.0))
        };
        let (samples, from): (Vec<f64>, Option<&'static str>) = if !seen.is_empty() {
            (seen.iter().filter_map(|r| final_at(r.height.expect("filtered"), r.ts_ns.expect("filtered"))).collect(), Some("block_seen"))
        } else if !heads.is_empty() {
            missing.push("no first-seen records: time to finality counts from the head change that applied each tipset (`lsync attach` or `lsync follow` record each block's arrival)".to_string());
            let mut first_applied: BTreeMap<i64, i64> = BTreeMap::new();
            for r in &heads {
                if let Some(h) = &r.head {
                    first_applied.entry(h.to_height).or_insert(r.ts_ns.expect("filtered"));
                }
            }
            (first_applied.iter().filter_map(|(h, ts)| final_at(*h, *ts)).collect(), Some("head_change"))
        } else {
            missing.push("no blocks or head changes to measure time to finality against".to_string());
            (Vec::new(), None)
        };
        let instance = |r: &crate::rows::EventRow| r.text.as_deref().and_then(lsync_core::journal::finality_instance);
        let mut stalls = Vec::new();
        for pair in fin.windows(2) {
            let gap = (pair[1].ts_ns.expect("filtered") - pair[0].ts_ns.expect("filtered")) as f64 / 1e9;
            if gap > stall_s {
                let end = pair[1].ts_ns.expect("filtered");
                stalls.push(Stall {
                    from: pair[0].ts.clone().unwrap_or_default(),
                    to: pair[1].ts.clone(),
                    seconds: gap,
                    last_instance: instance(pair[0]),
                    next_instance: instance(pair[1]),
                    finalized_epoch: pair[0].height.expect("filtered"),
                    head_height: heads.iter().filter(|r| r.ts_ns.is_some_and(|t| t <= end)).filter_map(|r| r.head.as_ref().map(|h| h.to_height)).max(),
                });
            }
        }
        if let (Some(last), Some(end)) = (fin.last(), last_ts) {
            let gap = (end - last.ts_ns.expect("filtered")) as f64 / 1e9;
            if gap > stall_s {
                stalls.push(Stall {
                    from: last.ts.clone().unwrap_or_default(),
                    to: None,
                    seconds: gap,
                    last_instance: instance(last),
                    next_instance: None,
                    finalized_epoch: last.height.expect("filtered"),
                    head_height,
                });
            }
        }
        let finalized_epoch = fin.iter().filter_map(|r| r.height).max();
        let instances = {
            let ids: Vec<u64> = fin.iter().filter_map(|r| instance(r)).collect();
            ids.iter().min().zip(ids.iter().max()).map(|(a, b)| (*a, *b))
        };
        nodes.push(NodeFinality {
            node,
            records: fin.len(),
            first: fin.first().and_then(|r| r.ts.clone()),
            last: fin.last().and_then(|r| r.ts.clone()),
            instances,
            finalized_epoch,
            head_height,
            lag_epochs: head_height.zip(finalized_epoch).map(|(h, f)| h - f),
            time_to_finality: Distribution::of(samples),
            measured_from: from,
            stalls,
            missing,
        });
    }
    Ok(FinalityReport { stall_threshold_s: stall_s, nodes })
}
