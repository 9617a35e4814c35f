//! What one node's data says about each block and about its canonical chain: the shared model
//! behind `orphans`, `compare` and the report.
//!
//! The canonical chain is rebuilt as the node's head moved. With lsync's `reorg_path` records
//! (written by `follow` and `attach` beside every head change) every applied tipset is known;
//! from Lotus's own `head_change` records only the heads are, so a head change that applied
//! several tipsets leaves the heights between its fork point and its new head *unknown*, and
//! nothing is decided there. The chain is a stack, as Lotus's ReorgOps walks it: a head change
//! pops its reverted tipsets and pushes its applied ones.

use std::collections::{BTreeMap, HashMap};

use lsync_core::EventKind;
use rusqlite::Connection;
use serde_json::Value;

use crate::query::{events, Filter};
use crate::rows::EventRow;
use crate::store::Result;

/// One tipset of the canonical chain; `None` cids: applied by a head change whose path the
/// data does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEntry {
    pub height: Option<i64>,
    pub cids: Option<Vec<String>>,
    /// When it was (last) applied, Unix ns.
    pub applied_ns: i64,
}

/// What a node's data says of one block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockFacts {
    pub cid: String,
    pub height: Option<i64>,
    pub miner: Option<String>,
    /// First sighting: `block_seen`, else `new block over pubsub`, else the first mention.
    pub first_seen_ns: Option<i64>,
    pub first_seen: Option<String>,
    pub first_seen_from: &'static str,
    pub peer: Option<String>,
    /// First sighting − block timestamp, s.
    pub delay_s: Option<f64>,
    /// First selected as a sync target (or a worker started on it), Unix ns.
    pub targeted_ns: Option<i64>,
    /// First `New heaviest tipset!` naming it, Unix ns.
    pub heaviest_ns: Option<i64>,
    /// First journaled as (part of) the head, Unix ns.
    pub applied_ns: Option<i64>,
    /// A head change that reverted it: (time, tipsets reverted, file, line).
    pub reverted: Option<(i64, i64, String, u64)>,
}

/// One head change's path, as lsync's `reorg_path` records it: (height, CIDs) of each tipset.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRecord {
    pub ts_ns: i64,
    pub fork_point: (i64, Vec<String>),
    /// Old head first.
    pub revert: Vec<(i64, Vec<String>)>,
    /// Oldest first.
    pub apply: Vec<(i64, Vec<String>)>,
}

/// One node's chain and blocks.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// Every reorg path (when the data has them), in order.
    pub paths: Vec<PathRecord>,
    /// Heads-only data: the known tipsets each head change reverted (old head first), with
    /// the fork point below them when it is known — the reverted branches a picture can show.
    pub reverted_runs: Vec<PathRecord>,
    pub node: String,
    /// Bottom (oldest) first.
    pub chain: Vec<ChainEntry>,
    /// Every head change: (time ns, to height, revert count, the new head's CIDs).
    pub head_moves: Vec<(i64, i64, i64, Vec<String>)>,
    pub blocks: BTreeMap<String, BlockFacts>,
    /// Whether `reorg_path` records made the chain exact.
    pub exact: bool,
    /// Whether the node's data has sync-target lines (logs), so "never selected" means something.
    pub has_targets: bool,
    pub last_ns: Option<i64>,
}

impl NodeView {
    /// The canonical tipset at `height`: `Some(Some(cids))` known, `Some(None)` a null round,
    /// `None` undecidable (an unknown stretch, or beyond the data).
    pub fn canonical_at(&self, height: i64) -> Option<Option<&[String]>> {
        let top = self.chain.last()?.height?;
        if height > top {
            return None;
        }
        // Entries are in height order; an unknown entry covers the heights between its known
        // neighbours.
        let mut below: Option<i64> = None;
        for e in &self.chain {
            match (e.height, &e.cids) {
                (Some(h), Some(c)) if h == height => return Some(Some(c.as_slice())),
                (Some(h), Some(_)) if h > height => {
                    // Between `below` and `h`: a null round, unless an unknown entry sits there.
                    return if below.is_some_and(|b| b < height) { Some(None) } else { None };
                }
                (Some(h), Some(_)) => below = Some(h),
                _ => below = None,
            }
        }
        None
    }

    /// Whether `cid` is in the final canonical chain.
    pub fn is_canonical(&self, cid: &str) -> bool {
        self.chain.iter().any(|e| e.cids.as_ref().is_some_and(|c| c.iter().any(|x| x == cid)))
    }

    pub fn head_height(&self) -> Option<i64> {
        self.chain.last().and_then(|e| e.height)
    }

    /// When the head first reached a height above `height`.
    pub fn passed(&self, height: i64) -> Option<i64> {
        self.head_moves.iter().find(|(_, to, _, _)| *to > height).map(|(t, _, _, _)| *t)
    }
}

fn cid_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|c| c.get("/").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The kinds the model reads.
const KINDS: &[EventKind] = &[
    EventKind::HeadChange,
    EventKind::BlockSeen,
    EventKind::BlockOverPubsub,
    EventKind::BlockDelay,
    EventKind::NewHeaviest,
    EventKind::SelectedTarget,
    EventKind::SelectedInitialTarget,
    EventKind::SelectedDeferredTarget,
    EventKind::WorkerStart,
    EventKind::JournalOther,
];

/// Every node's view, for the nodes and times `f` selects.
pub fn node_views(conn: &Connection, f: &Filter) -> Result<Vec<NodeView>> {
    let rows = events(conn, &Filter { kinds: KINDS.to_vec(), all_kinds: false, limit: None, cid: None, ..f.clone() })?;
    let mut by_node: BTreeMap<String, Vec<EventRow>> = BTreeMap::new();
    for r in rows {
        by_node.entry(r.node.clone()).or_default().push(r);
    }
    Ok(by_node.into_iter().map(|(node, rows)| view(node, &rows)).collect())
}

fn view(node: String, rows: &[EventRow]) -> NodeView {
    let mut v = NodeView { node, ..Default::default() };
    let paths: Vec<&EventRow> = rows.iter().filter(|r| r.text.as_deref() == Some("lsync:reorg_path") && r.data.is_some()).collect();
    v.exact = !paths.is_empty();
    v.last_ns = rows.iter().filter_map(|r| r.ts_ns).max();
    fn entry<'a>(blocks: &'a mut BTreeMap<String, BlockFacts>, cid: &str) -> &'a mut BlockFacts {
        blocks.entry(cid.to_string()).or_insert_with(|| BlockFacts { cid: cid.to_string(), ..Default::default() })
    }
    // The chain, from reorg paths when present, else from head changes.
    let mut pops_at: HashMap<String, (i64, i64, String, u64)> = HashMap::new();
    let mut apply = |v: &mut NodeView, ts: i64, revert: Vec<(Option<i64>, Option<Vec<String>>)>, applied: Vec<(Option<i64>, Option<Vec<String>>)>, file: &str, line: u64| {
        let depth = revert.len() as i64;
        let mut run = Vec::new();
        for _ in 0..revert.len() {
            if let Some(e) = v.chain.pop() {
                if let (Some(h), Some(c)) = (e.height, &e.cids) {
                    run.push((h, c.clone()));
                }
                for c in e.cids.into_iter().flatten() {
                    pops_at.entry(c).or_insert((ts, depth, file.to_string(), line));
                }
            }
        }
        if !v.exact && !run.is_empty() {
            let fork_point = v.chain.last().and_then(|e| Some((e.height?, e.cids.clone()?))).unwrap_or((-1, Vec::new()));
            v.reverted_runs.push(PathRecord { ts_ns: ts, fork_point, revert: run, apply: Vec::new() });
        }
        for (height, cids) in applied {
            if let Some(cs) = &cids {
                for c in cs {
                    let b = entry(&mut v.blocks, c);
                    b.applied_ns.get_or_insert(ts);
                    if b.height.is_none() {
                        b.height = height;
                    }
                }
            }
            v.chain.push(ChainEntry { height, cids, applied_ns: ts });
        }
    };
    for r in rows {
        let Some(ts) = r.ts_ns else { continue };
        if v.exact {
            if r.text.as_deref() == Some("lsync:reorg_path") {
                let Some(d) = r.data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) else { continue };
                let list = |key: &str| -> Vec<(Option<i64>, Option<Vec<String>>)> {
                    d[key].as_array().map(|a| a.iter().map(|t| (t["Height"].as_i64(), Some(cid_list(&t["Key"])))).collect()).unwrap_or_default()
                };
                if v.chain.is_empty() {
                    // The run's first head change starts at its anchor.
                    v.chain.push(ChainEntry { height: d["ForkPointHeight"].as_i64(), cids: Some(cid_list(&d["ForkPoint"])), applied_ns: ts });
                    let revert = list("Revert");
                    if !revert.is_empty() {
                        // A restart's first path reverts from a head above the anchor: start there.
                        v.chain.clear();
                        v.chain.push(ChainEntry { height: d["ForkPointHeight"].as_i64(), cids: Some(cid_list(&d["ForkPoint"])), applied_ns: ts });
                        for (h, c) in revert.into_iter().rev() {
                            v.chain.push(ChainEntry { height: h, cids: c, applied_ns: ts });
                        }
                    }
                }
                let known = |l: Vec<(Option<i64>, Option<Vec<String>>)>| l.into_iter().filter_map(|(h, c)| Some((h?, c?))).collect();
                v.paths.push(PathRecord {
                    ts_ns: ts,
                    fork_point: (d["ForkPointHeight"].as_i64().unwrap_or(-1), cid_list(&d["ForkPoint"])),
                    revert: known(list("Revert")),
                    apply: known(list("Apply")),
                });
                apply(&mut v, ts, list("Revert"), list("Apply"), &r.file, r.line);
                v.head_moves.push((ts, d["ToHeight"].as_i64().unwrap_or(0), d["Revert"].as_array().map_or(0, |a| a.len() as i64), cid_list(&d["To"])));
            }
        } else if let Some(h) = &r.head {
            if v.chain.is_empty() {
                v.chain.push(ChainEntry { height: Some(h.from_height), cids: Some(h.from.clone()), applied_ns: ts });
            }
            let revert = vec![(None, None); h.revert_count.max(0) as usize];
            let mut applied = vec![(None, None); (h.apply_count - 1).max(0) as usize];
            applied.push((Some(h.to_height), Some(h.to.clone())));
            apply(&mut v, ts, revert, applied, &r.file, r.line);
            v.head_moves.push((ts, h.to_height, h.revert_count, h.to.clone()));
        }
    }
    for (cid, rev) in pops_at {
        if let Some(b) = v.blocks.get_mut(&cid) {
            b.reverted = Some(rev);
        }
    }
    // Everything else the rows say of each block.
    for r in rows {
        let Some(ts) = r.ts_ns else { continue };
        match r.kind.as_str() {
            "block_seen" => {
                let Some(cid) = r.cids.first() else { continue };
                let b = entry(&mut v.blocks, cid);
                if b.first_seen_from != "block_seen" || b.first_seen_ns.is_none_or(|t| ts < t) {
                    b.first_seen_ns = Some(ts);
                    b.first_seen = r.ts.clone();
                    b.first_seen_from = "block_seen";
                    b.peer = r.peer.clone();
                    b.delay_s = r.delay_s;
                }
                b.height = b.height.or(r.height);
                b.miner = b.miner.clone().or_else(|| r.miner.clone());
            }
            "block_over_pubsub" => {
                let Some(cid) = r.cids.first() else { continue };
                let b = entry(&mut v.blocks, cid);
                if b.first_seen_from != "block_seen" && b.first_seen_ns.is_none_or(|t| ts < t) {
                    b.first_seen_ns = Some(ts);
                    b.first_seen = r.ts.clone();
                    b.first_seen_from = "block_over_pubsub";
                    b.peer = r.peer.clone();
                }
            }
            "block_delay" => {
                let Some(cid) = r.cids.first() else { continue };
                let b = entry(&mut v.blocks, cid);
                b.miner = b.miner.clone().or_else(|| r.miner.clone());
                if b.first_seen_from != "block_seen" {
                    b.delay_s = b.delay_s.or(r.delay_s);
                }
            }
            "new_heaviest" => {
                for cid in &r.cids {
                    let b = entry(&mut v.blocks, cid);
                    b.heaviest_ns.get_or_insert(ts);
                    b.height = b.height.or(r.height);
                }
            }
            "selected_target" | "selected_initial_target" | "selected_deferred_target" | "worker_start" => {
                v.has_targets = true;
                for cid in &r.cids {
                    entry(&mut v.blocks, cid).targeted_ns.get_or_insert(ts);
                }
            }
            "head_change" => {
                if let Some(h) = &r.head {
                    for (cids, height) in [(&h.from, h.from_height), (&h.to, h.to_height)] {
                        for c in cids {
                            let b = entry(&mut v.blocks, c);
                            b.height = b.height.or(Some(height));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // A block named only by a tipset has no sighting: its first mention stands in.
    for b in v.blocks.values_mut() {
        if b.first_seen_ns.is_none() {
            let t = [b.targeted_ns, b.heaviest_ns, b.applied_ns].into_iter().flatten().min();
            if let Some(t) = t {
                b.first_seen_ns = Some(t);
                b.first_seen_from = "tipset";
            }
        }
    }
    v
}
