//! `lsync orphans`: blocks a node saw that never became part of its canonical chain, each with
//! the likeliest cause its data shows and the evidence for it.

use rusqlite::Connection;
use serde::Serialize;

use crate::chain_view::{node_views, BlockFacts, NodeView};
use crate::query::Filter;
use crate::store::Result;

/// Lotus `AllowableClockDriftSecs`: a block seen this much before its timestamp is from the
/// future.
const CLOCK_DRIFT_S: f64 = 1.0;

/// One orphaned block.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrphanRow {
    pub node: String,
    pub cid: String,
    pub height: i64,
    pub miner: Option<String>,
    pub first_seen: Option<String>,
    /// Where the first sighting comes from: block_seen, block_over_pubsub, tipset.
    pub seen_from: &'static str,
    pub peer: Option<String>,
    pub delay_s: Option<f64>,
    /// `from_future`, `lost_reorg`, `late`, `missed_sibling`, `never_synced` or `unknown`.
    pub attribution: &'static str,
    pub evidence: String,
}

/// What could not be decided, per node.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct OrphanNotes {
    pub node: String,
    /// Whether lsync's reorg paths made the canonical chain exact.
    pub exact_chain: bool,
    pub head_height: Option<i64>,
    /// Blocks above the head, or at heights the data does not cover.
    pub undecided: usize,
    pub blocks_known: usize,
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// Why `b` (not canonical, at `height`) was orphaned, and the evidence.
fn attribute(v: &NodeView, b: &BlockFacts, height: i64) -> (&'static str, String) {
    if let Some(d) = b.delay_s.filter(|d| *d < -CLOCK_DRIFT_S) {
        return ("from_future", format!("first seen {:.3} s before its own timestamp (Lotus allows {CLOCK_DRIFT_S} s)", -d));
    }
    if let Some((at, depth, file, line)) = &b.reverted {
        let applied = b.applied_ns.map_or(String::new(), |a| format!("head from {} ", lsync_core::Timestamp::from_unix_nanos(a, 0, 3)));
        return ("lost_reorg", format!("{applied}until a head change reverting {depth} tipset(s) at {} ({file}:{line})", lsync_core::Timestamp::from_unix_nanos(*at, 0, 3)));
    }
    let seen = b.first_seen_ns;
    if let (Some(seen), Some(passed)) = (seen, v.passed(height)) {
        if seen >= passed {
            return ("late", format!("first seen {:.3} s after the head had moved past height {height}", secs(seen - passed)));
        }
    }
    if let (Some(seen), Some(e)) = (seen, v.chain.iter().find(|e| e.height == Some(height))) {
        if seen >= e.applied_ns {
            return ("missed_sibling", format!("first seen {:.3} s after the tipset at its height became head, and never joined it", secs(seen - e.applied_ns)));
        }
    }
    if v.has_targets && b.targeted_ns.is_none() {
        return ("never_synced", "seen, never selected as a sync target".to_string());
    }
    ("unknown", "no head, revert, target or timing in the data explains it".to_string())
}

/// Every orphan of the nodes `f` selects, and what each node's data could not decide.
pub fn orphans(conn: &Connection, f: &Filter) -> Result<(Vec<OrphanRow>, Vec<OrphanNotes>)> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for v in node_views(conn, f)? {
        let mut n = OrphanNotes { node: v.node.clone(), exact_chain: v.exact, head_height: v.head_height(), blocks_known: v.blocks.len(), undecided: 0 };
        for b in v.blocks.values() {
            if v.is_canonical(&b.cid) {
                continue;
            }
            let Some(height) = b.height else {
                n.undecided += 1;
                continue;
            };
            if v.canonical_at(height).is_none() {
                n.undecided += 1;
                continue;
            }
            let (attribution, evidence) = attribute(&v, b, height);
            rows.push(OrphanRow {
                node: v.node.clone(),
                cid: b.cid.clone(),
                height,
                miner: b.miner.clone(),
                first_seen: b.first_seen.clone().or_else(|| b.first_seen_ns.map(|t| lsync_core::Timestamp::from_unix_nanos(t, 0, 3).to_string())),
                seen_from: b.first_seen_from,
                peer: b.peer.clone(),
                delay_s: b.delay_s,
                attribution,
                evidence,
            });
        }
        notes.push(n);
    }
    rows.sort_by(|a, b| (a.height, &a.node, &a.cid).cmp(&(b.height, &b.node, &b.cid)));
    Ok((rows, notes))
}
