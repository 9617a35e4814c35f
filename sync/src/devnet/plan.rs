//! The devnet's chain, decided up front: which miner mines which block on which parent, when it
//! is published, and what a correct follower must therefore journal. Deterministic for a seed;
//! only the wall-clock times depend on when the devnet starts.

use std::collections::{BTreeMap, HashMap, HashSet};

use cid::Cid;
use lsync_core::chain::cbor::blake2b_256;
use lsync_core::chain::{
    tipset_weight, BlockHeader, BlockMessages, TipSet, TipSetKey,
};
use serde::Serialize;

use super::{DevnetError, Scenario};

/// `L` of the weight formula: mainnet's value at its first heights (lotus-facts §6.1).
pub const POWER_LOG2: u64 = 49;
/// Miner actor IDs are `f0<BASE + index>`.
pub const MINER_ID_BASE: u64 = 1000;

/// One planned block.
#[derive(Debug, Clone)]
pub struct PlannedBlock {
    pub cid: Cid,
    pub header: BlockHeader,
    pub miner: usize,
    /// Milliseconds after the start of its epoch at which it is gossiped; `None` for a block
    /// withheld by a partition (served over chain exchange only, once revealed) and for the
    /// history made before the devnet started.
    pub publish_offset_ms: Option<u64>,
    /// Made before the devnet started (`--history`): served over chain exchange from the
    /// start, never gossiped.
    pub history: bool,
    /// The block's messages (none for history blocks): gossiped as CID lists, served over
    /// chain exchange.
    pub messages: std::sync::Arc<BlockMessages>,
}

/// The whole planned chain.
#[derive(Debug, Clone)]
pub struct Plan {
    pub genesis: TipSet,
    pub blocks: Vec<PlannedBlock>,
    /// Every tipset a block was mined on or a follower can form, by key.
    pub tipsets: HashMap<TipSetKey, TipSet>,
    pub block_time_secs: u64,
    /// Epochs 1..=history were made before the devnet started; the tip they end on.
    pub history: u64,
    pub history_head: TipSet,
}

/// `n` deterministic pseudo-random bytes for `label`.
/// The devnet genesis: `template` (e.g. the real mainnet genesis header) re-timed to
/// `timestamp`, so the consensus-range check (epoch from genesis time) holds for a network
/// starting now. Re-timing changes its CID, which makes it a distinct network for hello.
pub fn devnet_genesis(template: &BlockHeader, timestamp: u64) -> Result<TipSet, DevnetError> {
    let mut header = template.clone();
    header.timestamp = timestamp;
    header.height = 0;
    TipSet::new(vec![header]).map_err(|e| DevnetError::Chain(e.to_string()))
}

/// A block at `height` on `parent` by `miner` with `wins` election wins, in Lotus's header
/// format: ID-address miner, distinct 96-byte VRF ticket and election proof, a drand entry, a
/// WinPoSt proof, BLS signatures, the timestamp on the genesis grid, ParentWeight by formula.
/// (Every argument is one coordinate of the block; bundling them would only rename them.)
#[allow(clippy::too_many_arguments)]
fn mine(
    seed: u64,
    parent: &TipSet,
    genesis_timestamp: u64,
    block_time_secs: u64,
    height: i64,
    miner: usize,
    wins: i64,
    branch: &str,
) -> Result<(Cid, BlockHeader), DevnetError> {
    let (cid, header, _) = mine_with_messages(seed, parent, genesis_timestamp, block_time_secs, height, miner, wins, branch, false)?;
    Ok((cid, header))
}

/// A live block (with messages), its messages kept in `msgs` by CID.
#[allow(clippy::too_many_arguments)]
fn live(
    msgs: &mut HashMap<Cid, std::sync::Arc<BlockMessages>>,
    seed: u64,
    parent: &TipSet,
    genesis_timestamp: u64,
    block_time_secs: u64,
    height: i64,
    miner: usize,
    wins: i64,
    branch: &str,
) -> Result<(Cid, BlockHeader), DevnetError> {
    let (cid, header, messages) =
        mine_with_messages(seed, parent, genesis_timestamp, block_time_secs, height, miner, wins, branch, true)?;
    msgs.insert(cid, std::sync::Arc::new(messages));
    Ok((cid, header))
}

/// [`mine`], with messages when `with_messages`: a few of the epoch's pool (shared by the
/// epoch's blocks, so a tipset's blocks include some of the same messages, as on mainnet).
#[allow(clippy::too_many_arguments)]
fn mine_with_messages(
    seed: u64,
    parent: &TipSet,
    genesis_timestamp: u64,
    block_time_secs: u64,
    height: i64,
    miner: usize,
    wins: i64,
    branch: &str,
    with_messages: bool,
) -> Result<(Cid, BlockHeader, BlockMessages), DevnetError> {
    let label = format!("{seed}/{branch}/{height}/{miner}");
    let mut header = crate::synthetic::header(crate::synthetic::BlockSpec {
        parent,
        height,
        miner_id: MINER_ID_BASE + miner as u64,
        wins,
        label: &label,
        beacon_round: 1_000_000 + height as u64,
        beacon_label: format!("drand/{seed}/{height}"),
        timestamp: genesis_timestamp + block_time_secs * height as u64,
        power_log2: POWER_LOG2,
    })
    .map_err(DevnetError::Chain)?;
    let messages = if with_messages {
        let pool = format!("{seed}/{height}");
        let picks: Vec<u64> = (0..8u64).filter(|i| pick(seed, &format!("msg/{miner}/{i}"), height, 3) != 0).collect();
        crate::synthetic::block_messages(&pool, &picks).map_err(DevnetError::Chain)?
    } else {
        BlockMessages::default()
    };
    header.messages = crate::synthetic::msg_meta_cid(&messages).map_err(DevnetError::Chain)?;
    let cid = header
        .cid()
        .map_err(|e| DevnetError::Chain(e.to_string()))?;
    Ok((cid, header, messages))
}

/// A seeded choice in `0..n`.
fn pick(seed: u64, what: &str, height: i64, n: usize) -> usize {
    let digest = blake2b_256(format!("{seed}/{what}/{height}").as_bytes());
    (u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % n as u64) as usize
}

fn tipset_of(blocks: &[(Cid, BlockHeader)]) -> Result<TipSet, DevnetError> {
    TipSet::from_blocks_with_cids(blocks.to_vec()).map_err(|e| DevnetError::Chain(e.to_string()))
}

/// Plan `epochs` epochs on `genesis` for `miners` miners under `scenarios`.
///
/// Base rule: one block per epoch, by a seeded leader, win count 1, published at the epoch
/// start. Scenarios change it: `NullRounds` leaves epochs empty; `Widen` adds a second block by
/// another miner on the same parent, `delay_ms` late; `LateMiner` delays every block of one
/// miner; `PartitionHeal` splits the miners for `depth` epochs — the minority (the first
/// ⌊(n−1)/2⌋ miners, at least one) keeps publishing one block per epoch while the majority
/// mines two-win epochs that it withholds — and at the heal epoch the majority publishes on its
/// own (heavier) tip, so a follower that saw the minority chain reorgs `depth` tipsets.
pub fn plan(
    seed: u64,
    miners: usize,
    block_time_secs: u64,
    genesis: &TipSet,
    history: u64,
    epochs: u64,
    scenarios: &[Scenario],
) -> Result<Plan, DevnetError> {
    let gts = genesis.min_timestamp();
    let mut tipsets = HashMap::new();
    tipsets.insert(genesis.key().clone(), genesis.clone());
    let mut blocks = Vec::new();
    let minority = ((miners - 1) / 2).max(1);
    let late: HashMap<usize, u64> = scenarios
        .iter()
        .filter_map(|s| match s {
            Scenario::LateMiner { miner, delay_ms } => Some((*miner, *delay_ms)),
            _ => None,
        })
        .collect();
    let offset = |miner: usize, extra: u64| Some(late.get(&miner).copied().unwrap_or(0) + extra);
    // The tip everybody builds on, and during a partition the withheld majority tip.
    let mut tip = genesis.clone();
    let mut hidden_tip: Option<TipSet> = None;
    // Blocks withheld by a partition, to find the heal epoch without scanning every block.
    let mut withheld: HashSet<Cid> = HashSet::new();
    // Each live block's messages, until its PlannedBlock takes them.
    let mut msgs: HashMap<Cid, std::sync::Arc<BlockMessages>> = HashMap::new();
    for h in 1..=history as i64 {
        tip = history_epoch(seed, miners, &tip, gts, block_time_secs, h, &mut blocks, &mut tipsets)?;
    }
    let history_head = tip.clone();
    for h in history as i64 + 1..=(history + epochs) as i64 {
        let null = scenarios.iter().any(|s| {
            matches!(s,
            Scenario::NullRounds { at, count } if h >= *at && h < *at + *count as i64)
        });
        let partition = scenarios.iter().find_map(|s| match s {
            Scenario::PartitionHeal { at, depth } if h >= *at && h < *at + *depth as i64 => {
                Some(())
            }
            _ => None,
        });
        if null {
            continue;
        }
        if partition.is_some() {
            // Minority: one visible block.
            let m = pick(seed, "minority", h, minority);
            let (cid, header) = live(&mut msgs, seed, &tip, gts, block_time_secs, h, m, 1, "minority")?;
            blocks.push(PlannedBlock {
                cid,
                header: header.clone(),
                miner: m,
                publish_offset_ms: offset(m, 0),
                history: false,
                messages: msgs.remove(&cid).unwrap_or_default(),
            });
            let minority_ts = tipset_of(&[(cid, header)])?;
            // Majority: two wins per epoch, withheld.
            let base = hidden_tip.clone().unwrap_or_else(|| tip.clone());
            let majority = miners - minority;
            let mut hidden = Vec::new();
            if majority >= 2 {
                let first = pick(seed, "majority", h, majority);
                for m in [first, (first + 1) % majority] {
                    hidden.push(live(
                        &mut msgs,
                        seed,
                        &base,
                        gts,
                        block_time_secs,
                        h,
                        minority + m,
                        1,
                        "majority",
                    )?);
                }
            } else {
                hidden.push(live(
                    &mut msgs,
                    seed,
                    &base,
                    gts,
                    block_time_secs,
                    h,
                    minority,
                    2,
                    "majority",
                )?);
            }
            for (cid, header) in &hidden {
                withheld.insert(*cid);
                blocks.push(PlannedBlock {
                    cid: *cid,
                    header: header.clone(),
                    miner: (header.miner.id().unwrap_or(MINER_ID_BASE) - MINER_ID_BASE) as usize,
                    publish_offset_ms: None,
                    history: false,
                messages: msgs.remove(cid).unwrap_or_default(),
                });
            }
            let hidden_ts = tipset_of(&hidden)?;
            tipsets.insert(hidden_ts.key().clone(), hidden_ts.clone());
            tipsets.insert(minority_ts.key().clone(), minority_ts.clone());
            hidden_tip = Some(hidden_ts);
            tip = minority_ts;
            continue;
        }
        // Healed (or never split): build on the heaviest tip.
        if let Some(h_tip) = hidden_tip.take() {
            if tipset_weight(&h_tip, POWER_LOG2) > tipset_weight(&tip, POWER_LOG2) {
                tip = h_tip;
            }
        }
        let leader = if tip.cids().iter().any(|c| withheld.contains(c)) {
            // The heal block comes from the majority side.
            minority + pick(seed, "heal", h, miners - minority)
        } else {
            pick(seed, "leader", h, miners)
        };
        if let Some(delay_ms) = scenarios.iter().find_map(|s| match s {
            Scenario::LateOrphan { at, delay_ms } if *at == h => Some(*delay_ms),
            _ => None,
        }) {
            // Published after the next epoch's block, which does not build on it: an orphan.
            let (cid, header) = live(&mut msgs, seed, &tip, gts, block_time_secs, h, leader, 1, "late-orphan")?;
            blocks.push(PlannedBlock {
                cid,
                header,
                miner: leader,
                publish_offset_ms: offset(leader, delay_ms),
                history: false,
                messages: msgs.remove(&cid).unwrap_or_default(),
            });
            continue;
        }
        // The block after a late orphan wins twice, so it outweighs the orphan (same parent).
        let wins = if scenarios.iter().any(|s| matches!(s, Scenario::LateOrphan { at, .. } if *at == h - 1)) { 2 } else { 1 };
        let (cid, header) = live(&mut msgs, seed, &tip, gts, block_time_secs, h, leader, wins, "main")?;
        let mut epoch_blocks = vec![(cid, header.clone())];
        blocks.push(PlannedBlock {
            cid,
            header,
            miner: leader,
            publish_offset_ms: offset(leader, 0),
            history: false,
                messages: msgs.remove(&cid).unwrap_or_default(),
        });
        for s in scenarios {
            if let Scenario::Widen { at, delay_ms } = s {
                if *at == h {
                    let other = (leader + 1) % miners;
                    let (cid, header) =
                        live(&mut msgs, seed, &tip, gts, block_time_secs, h, other, 1, "widen")?;
                    epoch_blocks.push((cid, header.clone()));
                    let single = tipset_of(&epoch_blocks[..1])?;
                    tipsets.insert(single.key().clone(), single);
                    blocks.push(PlannedBlock {
                        cid,
                        header,
                        miner: other,
                        publish_offset_ms: offset(other, *delay_ms),
                        history: false,
                messages: msgs.remove(&cid).unwrap_or_default(),
                    });
                }
            }
        }
        let ts = tipset_of(&epoch_blocks)?;
        tipsets.insert(ts.key().clone(), ts.clone());
        tip = ts;
    }
    Ok(Plan {
        genesis: genesis.clone(),
        blocks,
        tipsets,
        block_time_secs,
        history,
        history_head,
    })
}

/// One epoch of the history a devnet starts with, shaped like a long-running network: mostly
/// tipsets of several blocks (by distinct miners, up to five), sometimes one, now and then a
/// null round. Returns the new tip (the old one after a null round).
#[allow(clippy::too_many_arguments)]
fn history_epoch(
    seed: u64,
    miners: usize,
    tip: &TipSet,
    gts: u64,
    block_time_secs: u64,
    h: i64,
    blocks: &mut Vec<PlannedBlock>,
    tipsets: &mut HashMap<TipSetKey, TipSet>,
) -> Result<TipSet, DevnetError> {
    // Per mille: 1 % null rounds, then one to five blocks (capped by the miners there are).
    let roll = pick(seed, "history-size", h, 1000);
    let wanted = match roll {
        0..=9 => 0,
        10..=299 => 1,
        300..=699 => 2,
        700..=899 => 3,
        900..=969 => 4,
        _ => 5,
    };
    let count = wanted.min(miners);
    if count == 0 {
        return Ok(tip.clone());
    }
    let first = pick(seed, "history-leader", h, miners);
    let mut epoch = Vec::with_capacity(count);
    for k in 0..count {
        let miner = (first + k) % miners;
        let (cid, header) = mine(seed, tip, gts, block_time_secs, h, miner, 1, "history")?;
        blocks.push(PlannedBlock {
            cid,
            header: header.clone(),
            miner,
            publish_offset_ms: None,
            history: true,
            messages: Default::default(),
        });
        epoch.push((cid, header));
    }
    let ts = tipset_of(&epoch)?;
    tipsets.insert(ts.key().clone(), ts.clone());
    Ok(ts)
}

/// A block in the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockTruth {
    pub cid: String,
    pub height: i64,
    pub miner_index: usize,
    pub miner: String,
    pub parents: Vec<String>,
    /// Epoch start, Unix ms (= header timestamp × 1000).
    pub epoch_start_ms: i64,
    /// Planned publish time, Unix ms; `None` if withheld.
    pub scheduled_ms: Option<i64>,
    /// When the miner's node actually handed it to gossipsub, Unix ms.
    pub published_ms: Option<i64>,
    /// Planned lateness = scheduled − epoch start.
    pub injected_delay_ms: Option<i64>,
    pub canonical: bool,
    /// `published_ms` in Unix ns.
    pub published_ns: Option<i64>,
    /// When each of the other miners' nodes first received it over gossip (Unix ns): what a
    /// bare gossipsub node sees, the baseline for a follower's first-seen delays.
    pub miner_arrivals_ns: Vec<i64>,
}

/// A tipset of the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TipSetTruth {
    pub height: i64,
    pub cids: Vec<String>,
}

/// A head change a correct follower (connected from the start) journals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadChangeTruth {
    pub from: Vec<String>,
    pub from_height: i64,
    pub to: Vec<String>,
    pub to_height: i64,
    pub revert_count: usize,
    pub apply_count: usize,
}

fn cids(ts: &TipSet) -> Vec<String> {
    ts.cids().iter().map(ToString::to_string).collect()
}

impl Plan {
    /// Unix ms of the start of epoch `height`.
    pub fn epoch_start_ms(&self, height: i64) -> i64 {
        (self.genesis.min_timestamp() as i64 + self.block_time_secs as i64 * height) * 1000
    }

    /// Gossip events in publish order: (time, block index).
    pub fn schedule(&self) -> Vec<(i64, usize)> {
        let mut events: Vec<(i64, usize)> = self
            .blocks
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                b.publish_offset_ms
                    .map(|o| (self.epoch_start_ms(b.header.height) + o as i64, i))
            })
            .collect();
        events.sort();
        events
    }

    /// Replay the schedule through a model follower that sees every published block at once,
    /// fetches the withheld ancestors of a block it sees, and keeps the heaviest tipset it can
    /// form (blocks sharing height and parents). Returns the head changes and the final head.
    pub fn expected_head_changes(&self) -> (Vec<HeadChangeTruth>, TipSet) {
        let by_cid: HashMap<Cid, &PlannedBlock> = self.blocks.iter().map(|b| (b.cid, b)).collect();
        // A follower connected when the devnet starts already sees the history's head.
        let mut visible: HashSet<Cid> = self
            .blocks
            .iter()
            .filter(|b| b.history)
            .map(|b| b.cid)
            .collect();
        let mut groups: BTreeMap<(i64, TipSetKey), Vec<(Cid, BlockHeader)>> = BTreeMap::new();
        let mut known: HashMap<TipSetKey, TipSet> = self.tipsets.clone();
        let mut head = self.history_head.clone();
        let mut changes = Vec::new();
        for (_, index) in self.schedule() {
            // The block and its not-yet-visible ancestors.
            let mut stack = vec![self.blocks[index].cid];
            while let Some(cid) = stack.pop() {
                if !visible.insert(cid) {
                    continue;
                }
                let Some(b) = by_cid.get(&cid) else { continue };
                groups
                    .entry((b.header.height, b.header.parents.clone()))
                    .or_default()
                    .push((cid, b.header.clone()));
                stack.extend(b.header.parents.cids().iter().copied());
            }
            let mut best = head.clone();
            for group in groups.values() {
                let Ok(ts) = tipset_of(group) else { continue };
                known.insert(ts.key().clone(), ts.clone());
                if tipset_weight(&ts, POWER_LOG2) > tipset_weight(&best, POWER_LOG2) {
                    best = ts;
                }
            }
            if best.key() != head.key() {
                let (mut a, mut b) = (head.clone(), best.clone());
                let (mut revert, mut apply) = (0, 0);
                while a.key() != b.key() {
                    if a.height() >= b.height() {
                        revert += 1;
                        a = known[a.parents()].clone();
                    } else {
                        apply += 1;
                        b = known[b.parents()].clone();
                    }
                }
                changes.push(HeadChangeTruth {
                    from: cids(&head),
                    from_height: head.height(),
                    to: cids(&best),
                    to_height: best.height(),
                    revert_count: revert,
                    apply_count: apply,
                });
                head = best;
            }
        }
        (changes, head)
    }

    /// The chain from `head` down to genesis, newest first.
    pub fn chain_of(&self, head: &TipSet) -> Vec<TipSet> {
        let mut out = vec![head.clone()];
        while out.last().is_some_and(|t| t.height() > 0) {
            let parents = out.last().expect("non-empty").parents().clone();
            match self.tipsets.get(&parents) {
                Some(p) => out.push(p.clone()),
                None => break,
            }
        }
        out
    }

    /// Truth records for the blocks, given the final head and actual publish times.
    pub fn block_truths(&self, head: &TipSet, published: &HashMap<Cid, i64>) -> Vec<BlockTruth> {
        let canonical: HashSet<Cid> = self
            .chain_of(head)
            .iter()
            .flat_map(|t| t.cids().to_vec())
            .collect();
        self.blocks
            .iter()
            .filter(|b| !b.history)
            .map(|b| {
                let start = self.epoch_start_ms(b.header.height);
                BlockTruth {
                    cid: b.cid.to_string(),
                    height: b.header.height,
                    miner_index: b.miner,
                    miner: b.header.miner.to_string(),
                    parents: b
                        .header
                        .parents
                        .cids()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    epoch_start_ms: start,
                    scheduled_ms: b.publish_offset_ms.map(|o| start + o as i64),
                    published_ms: published.get(&b.cid).copied(),
                    injected_delay_ms: b.publish_offset_ms.map(|o| o as i64),
                    canonical: canonical.contains(&b.cid),
                    published_ns: None,
                    miner_arrivals_ns: Vec::new(),
                }
            })
            .collect()
    }

    /// The canonical chain from the history's head (genesis without history) up to `head`.
    pub fn canonical_truth(&self, head: &TipSet) -> Vec<TipSetTruth> {
        let mut chain = self.chain_of(head);
        chain.retain(|t| t.height() >= self.history_head.height());
        chain.reverse();
        chain
            .iter()
            .map(|t| TipSetTruth {
                height: t.height(),
                cids: cids(t),
            })
            .collect()
    }
}
