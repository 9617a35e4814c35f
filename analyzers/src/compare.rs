//! `lsync compare`: several nodes (or observers) side by side — when each first saw each block,
//! selected it, made it heaviest and journaled it; which of them went through each reorg and how
//! deep; and each node's lag from a block's timestamp to its head including the block.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde::Serialize;

use crate::chain_view::{node_views, NodeView};
use crate::query::Filter;
use crate::store::Result;

/// One node's times for one block (Unix ns kept for sorting; text for people).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeTimes {
    pub node: String,
    pub first_seen: Option<String>,
    /// First sighting − the earliest node's, ms.
    pub after_first_ms: Option<f64>,
    pub seen_from: Option<&'static str>,
    pub peer: Option<String>,
    /// Selected as a target / New heaviest / journaled as head, ms after this node's sighting.
    pub target_ms: Option<f64>,
    pub heaviest_ms: Option<f64>,
    pub head_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlockCompare {
    pub cid: String,
    pub height: Option<i64>,
    pub miner: Option<String>,
    pub nodes: Vec<NodeTimes>,
    /// Last first sighting − first, ms, over the nodes that saw it.
    pub spread_ms: Option<f64>,
    /// How many of the nodes saw it.
    pub seen_by: usize,
}

/// A head change that reverted tipsets, and how each node lived it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReorgCompare {
    /// The head it ended on.
    pub to: Vec<String>,
    pub to_height: i64,
    /// Per node: (time, tipsets reverted) — `None`: the node never went through it.
    pub nodes: Vec<(String, Option<(String, i64)>)>,
}

/// Head lag: the node's head includes the block − the block's timestamp.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeLag {
    pub node: String,
    pub blocks: usize,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub max_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Compare {
    pub nodes: Vec<String>,
    pub blocks: Vec<BlockCompare>,
    pub reorgs: Vec<ReorgCompare>,
    pub lags: Vec<NodeLag>,
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these nodes (all when empty).
    pub nodes: Vec<String>,
    pub cid: Option<String>,
    pub height: Option<i64>,
}

fn ts_text(ns: i64) -> String {
    lsync_core::Timestamp::from_unix_nanos(ns, 0, 6).to_string()
}

fn pct(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)])
}

pub fn compare(conn: &Connection, f: &Filter, sel: &Selection) -> Result<Compare> {
    let views: Vec<NodeView> = node_views(conn, &Filter { node: None, ..f.clone() })?
        .into_iter()
        .filter(|v| sel.nodes.is_empty() || sel.nodes.contains(&v.node))
        .collect();
    let names: Vec<String> = views.iter().map(|v| v.node.clone()).collect();
    // Every block some node saw (a sighting, not only a mention in a tipset).
    let mut cids: BTreeSet<&str> = BTreeSet::new();
    for v in &views {
        for b in v.blocks.values() {
            if b.first_seen_ns.is_some() && b.first_seen_from != "tipset" {
                cids.insert(&b.cid);
            }
        }
    }
    let mut blocks = Vec::new();
    for cid in cids {
        let facts: Vec<_> = views.iter().map(|v| v.blocks.get(cid)).collect();
        let height = facts.iter().flatten().find_map(|b| b.height);
        if sel.cid.as_deref().is_some_and(|c| c != cid) || sel.height.is_some_and(|h| Some(h) != height) {
            continue;
        }
        let seen: Vec<i64> = facts.iter().flatten().filter(|b| b.first_seen_from != "tipset").filter_map(|b| b.first_seen_ns).collect();
        let first = seen.iter().min().copied();
        let nodes = views
            .iter()
            .zip(&facts)
            .map(|(v, b)| {
                let b = b.filter(|b| b.first_seen_from != "tipset");
                let since = |t: Option<i64>| -> Option<f64> { b.and_then(|b| b.first_seen_ns).zip(t).map(|(s, t)| (t - s) as f64 / 1e6) };
                NodeTimes {
                    node: v.node.clone(),
                    first_seen: b.and_then(|b| b.first_seen_ns).map(ts_text),
                    after_first_ms: b.and_then(|b| b.first_seen_ns).zip(first).map(|(s, f)| (s - f) as f64 / 1e6),
                    seen_from: b.map(|b| b.first_seen_from),
                    peer: b.and_then(|b| b.peer.clone()),
                    target_ms: since(b.and_then(|b| b.targeted_ns)),
                    heaviest_ms: since(b.and_then(|b| b.heaviest_ns)),
                    head_ms: since(b.and_then(|b| b.applied_ns)),
                }
            })
            .collect();
        blocks.push(BlockCompare {
            cid: cid.to_string(),
            height,
            miner: facts.iter().flatten().find_map(|b| b.miner.clone()),
            nodes,
            spread_ms: first.zip(seen.iter().max()).map(|(f, l)| (l - f) as f64 / 1e6),
            seen_by: seen.len(),
        });
    }
    blocks.sort_by(|a, b| (a.height, &a.cid).cmp(&(b.height, &b.cid)));
    // Reorgs, keyed by the head they ended on.
    let mut reorgs: BTreeMap<(i64, Vec<String>), BTreeMap<String, (String, i64)>> = BTreeMap::new();
    for v in &views {
        for (t, to_height, revert, to) in &v.head_moves {
            if *revert < 1 {
                continue;
            }
            reorgs.entry((*to_height, to.clone())).or_default().entry(v.node.clone()).or_insert((ts_text(*t), *revert));
        }
    }
    let reorgs = reorgs
        .into_iter()
        .filter(|((h, _), _)| sel.height.is_none_or(|s| s == *h))
        .map(|((to_height, to), by)| ReorgCompare { to, to_height, nodes: names.iter().map(|n| (n.clone(), by.get(n).cloned())).collect() })
        .collect();
    // Lag: head includes the block − the block's timestamp (first sighting − its delay).
    let lags = views
        .iter()
        .map(|v| {
            let mut lag: Vec<f64> = v
                .blocks
                .values()
                .filter_map(|b| {
                    let stamp = b.first_seen_ns? - (b.delay_s? * 1e9) as i64;
                    let head = b.applied_ns.or(b.heaviest_ns)?;
                    Some((head - stamp) as f64 / 1e9)
                })
                .collect();
            NodeLag { node: v.node.clone(), blocks: lag.len(), p50_s: pct(&mut lag, 0.5), p95_s: pct(&mut lag, 0.95), max_s: pct(&mut lag, 1.0) }
        })
        .collect();
    Ok(Compare { nodes: names, blocks, reorgs, lags })
}
