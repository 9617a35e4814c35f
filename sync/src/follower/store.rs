//! The follower's chain store: headers, the tipsets they form, which of them are connected to
//! our anchor, the head, and the weight used to rank tipsets.
//!
//! It stands in for Lotus's chain store and its `tipsetTracker` (blocks per height, used to
//! *expand* a tipset with every known block of the same height and parents), minus state: the
//! follower sees headers only, so "validated" here means "linked to the anchor through headers
//! that pass the header-only checks" (heights increase, timestamps follow the epoch grid).

use std::collections::{HashMap, HashSet};

use cid::Cid;
use lsync_core::chain::{infer_power_log2, tipset_weight, BlockHeader, TipSet, TipSetKey};
use num_bigint::BigInt;

use super::bad_blocks::BadBlockCache;
use super::error::SyncFailure;

/// Result of walking a target back towards tipsets we have already validated.
#[derive(Debug)]
pub(crate) enum Connection {
    /// The whole path is validated now.
    Connected,
    /// The walk needs tipset `key`, the parents of a tipset at `child_height`.
    Missing { key: TipSetKey, child_height: i64 },
    /// The chain is invalid; `bad` lists blocks to add to the bad-block cache.
    Invalid {
        failure: SyncFailure,
        bad: Vec<(Cid, String)>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ChainStore {
    block_delay_secs: u64,
    blocks: HashMap<Cid, BlockHeader>,
    /// Block CIDs by (height, parents) in arrival order: Lotus's tipset tracker.
    slots: HashMap<(i64, TipSetKey), Vec<Cid>>,
    /// Tipsets received whole (fetched chains, expansions, the anchor).
    tipsets: HashMap<TipSetKey, TipSet>,
    /// Validated tipsets and their heights (the height lets pruning work by key alone).
    validated: HashMap<TipSetKey, i64>,
    /// `L` of the weight function, learnt from the latest parent/child pair seen.
    power_log2: Option<u64>,
    anchor: TipSet,
    head: TipSet,
}

impl ChainStore {
    /// A store that trusts `anchor` (genesis, or a tipset the operator vouches for).
    pub(crate) fn new(anchor: TipSet, block_delay_secs: u64) -> Self {
        let mut store = Self {
            block_delay_secs,
            blocks: HashMap::new(),
            slots: HashMap::new(),
            tipsets: HashMap::new(),
            validated: HashMap::new(),
            power_log2: None,
            anchor: anchor.clone(),
            head: anchor.clone(),
        };
        store.add_tipset(&anchor);
        store
            .validated
            .insert(anchor.key().clone(), anchor.height());
        store
    }

    pub(crate) fn head(&self) -> &TipSet {
        &self.head
    }

    pub(crate) fn power_log2(&self) -> Option<u64> {
        self.power_log2
    }

    pub(crate) fn set_head(&mut self, head: TipSet) {
        self.head = head;
    }

    /// Keep a header. If its parent tipset is known, the pair reveals `L`: a child's
    /// ParentWeight is its parent's weight, and only one `L` reproduces it.
    pub(crate) fn add_block(&mut self, cid: Cid, header: &BlockHeader) {
        if self.blocks.contains_key(&cid) {
            return;
        }
        self.blocks.insert(cid, header.clone());
        self.slots
            .entry((header.height, header.parents.clone()))
            .or_default()
            .push(cid);
        if let Some(parent) = self.tipset(&header.parents) {
            if let Some(l) = infer_power_log2(&parent, &header.parent_weight) {
                self.power_log2 = Some(l);
            }
        }
    }

    pub(crate) fn add_tipset(&mut self, ts: &TipSet) {
        for (cid, header) in ts.cids().iter().zip(ts.blocks()) {
            self.add_block(*cid, header);
        }
        self.tipsets
            .entry(ts.key().clone())
            .or_insert_with(|| ts.clone());
    }

    /// The tipset named by `key`: one received whole, or one assembled from known headers
    /// (a key is exactly the ticket-sorted CID list, so assembling checks it).
    pub(crate) fn tipset(&self, key: &TipSetKey) -> Option<TipSet> {
        if let Some(ts) = self.tipsets.get(key) {
            return Some(ts.clone());
        }
        let blocks = key
            .cids()
            .iter()
            .map(|cid| self.blocks.get(cid).map(|h| (*cid, h.clone())))
            .collect::<Option<Vec<_>>>()?;
        let ts = TipSet::from_blocks_with_cids(blocks).ok()?;
        (ts.key() == key).then_some(ts)
    }

    pub(crate) fn is_validated(&self, key: &TipSetKey) -> bool {
        self.validated.contains_key(key)
    }

    /// Header-only checks of a block against its parent tipset (the part of Lotus's
    /// `ValidateBlock` that needs no state): the height increases and the timestamp sits on
    /// the epoch grid, `parent.MinTimestamp + BlockDelay·(h − parent.h)`.
    pub(crate) fn check_block(
        &self,
        cid: &Cid,
        header: &BlockHeader,
        parent: &TipSet,
    ) -> Result<(), SyncFailure> {
        if header.height <= parent.height() {
            return Err(SyncFailure::HeightNotIncreasing {
                block: *cid,
                height: header.height,
                parent_height: parent.height(),
            });
        }
        let epochs = (header.height - parent.height()) as u64;
        let expected = parent.min_timestamp() + self.block_delay_secs * epochs;
        if header.timestamp != expected {
            return Err(SyncFailure::WrongTimestamp {
                block: *cid,
                expected,
                found: header.timestamp,
            });
        }
        Ok(())
    }

    /// Walk from `target` back to a validated tipset; if the path is complete and every block
    /// passes [`ChainStore::check_block`] and the bad-block cache, mark it validated.
    pub(crate) fn connect(&mut self, target: &TipSet, bad_blocks: &BadBlockCache) -> Connection {
        let mut path = Vec::new();
        let mut current = target.clone();
        while !self.is_validated(current.key()) {
            if let Some((cid, reason)) = current
                .cids()
                .iter()
                .find_map(|c| bad_blocks.reason(c).map(|r| (*c, r.to_string())))
            {
                let bad = linked_blocks(&path, &cid);
                return Connection::Invalid {
                    failure: SyncFailure::LinkedToBadBlock { block: cid, reason },
                    bad,
                };
            }
            if current.height() <= self.anchor.height() {
                return Connection::Invalid {
                    failure: SyncFailure::BelowAnchor {
                        tipset: current.key().clone(),
                        anchor_height: self.anchor.height(),
                    },
                    bad: Vec::new(),
                };
            }
            let Some(parent) = self.tipset(current.parents()) else {
                return Connection::Missing {
                    key: current.parents().clone(),
                    child_height: current.height(),
                };
            };
            path.push(current);
            current = parent;
        }
        // `current` is validated; check the path from the oldest tipset up.
        let mut parent = current;
        for (index, ts) in path.iter().enumerate().rev() {
            for (cid, header) in ts.cids().iter().zip(ts.blocks()) {
                if let Err(failure) = self.check_block(cid, header, &parent) {
                    let mut bad = vec![(*cid, failure.to_string())];
                    bad.extend(linked_blocks(&path[..index], cid));
                    return Connection::Invalid { failure, bad };
                }
            }
            self.validated.insert(ts.key().clone(), ts.height());
            self.add_tipset(ts);
            parent = ts.clone();
        }
        Connection::Connected
    }

    /// Lotus's `expandTipset`: `ts` plus every other known block of the same height and
    /// parents, at most one per miner (a second block of a miner is an equivocation; the first
    /// one seen stays). Blocks in the bad-block cache or failing the header checks are left out.
    pub(crate) fn expand(&self, ts: &TipSet, bad_blocks: &BadBlockCache) -> TipSet {
        let Some(slot) = self.slots.get(&(ts.height(), ts.parents().clone())) else {
            return ts.clone();
        };
        let Some(parent) = self.tipset(ts.parents()) else {
            return ts.clone();
        };
        let mut miners: HashSet<_> = ts.blocks().iter().map(|b| b.miner).collect();
        let mut blocks: Vec<(Cid, BlockHeader)> = ts
            .cids()
            .iter()
            .copied()
            .zip(ts.blocks().iter().cloned())
            .collect();
        for cid in slot {
            if ts.cids().contains(cid) || bad_blocks.reason(cid).is_some() {
                continue;
            }
            let header = &self.blocks[cid];
            if miners.contains(&header.miner) || self.check_block(cid, header, &parent).is_err() {
                continue;
            }
            miners.insert(header.miner);
            blocks.push((*cid, header.clone()));
        }
        TipSet::from_blocks_with_cids(blocks).unwrap_or_else(|_| ts.clone())
    }

    /// Mark a tipset validated (an expansion of a validated tipset: same parents, checked
    /// blocks).
    pub(crate) fn mark_validated(&mut self, ts: &TipSet) {
        self.add_tipset(ts);
        self.validated.insert(ts.key().clone(), ts.height());
    }

    /// The value tipsets are ranked by.
    ///
    /// Once `L` is known this is the Filecoin weight `ParentWeight + 256·L + ⌊25.6·L·ΣWinCount⌋`
    /// with the latest `L` (rivals near the head share a parent state, hence `L`; it changes
    /// only when network power crosses a power of two). Before any parent/child pair revealed
    /// `L`, ParentWeight decides and ΣWinCount breaks its ties: for tipsets on one parent this
    /// is exactly the weight order, for others ParentWeight is what Lotus's sync manager ranks
    /// by anyway. The pair is packed into one number, `ParentWeight·2⁶⁴ + ΣWinCount`, so both
    /// modes feed the same head rule.
    pub(crate) fn weight(&self, ts: &TipSet) -> BigInt {
        match self.power_log2 {
            Some(l) => tipset_weight(ts, l),
            None => (ts.parent_weight() << 64u32) + BigInt::from(ts.win_count_sum().max(0)),
        }
    }

    /// Forget every header and tipset below `height` (the anchor stays). Bounds the memory of
    /// a long-running follower; the caller keeps `height` far enough below the head that no
    /// acceptable reorg (at most the fork-length limit) can reach it.
    pub(crate) fn prune_below(&mut self, height: i64) {
        if height <= self.anchor.height() {
            return;
        }
        let anchor_key = self.anchor.key().clone();
        self.blocks
            .retain(|cid, h| h.height >= height || anchor_key.cids().contains(cid));
        self.slots.retain(|(h, _), _| *h >= height);
        self.tipsets
            .retain(|key, ts| ts.height() >= height || *key == anchor_key);
        self.validated
            .retain(|key, h| *h >= height || *key == anchor_key);
    }
}

/// The blocks of `above` (the tipsets built on the one holding `bad`): everything built on a
/// bad block is bad too (Lotus marks them "chain contained …").
fn linked_blocks(above: &[TipSet], bad: &Cid) -> Vec<(Cid, String)> {
    let reason = format!("chain contained {bad}");
    above
        .iter()
        .flat_map(|ts| ts.cids().iter().copied())
        .filter(|c| c != bad)
        .map(|c| (c, reason.clone()))
        .collect()
}
