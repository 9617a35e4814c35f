//! Test fixtures: real-format block headers on top of the real mainnet genesis, and a harness
//! that drives a follower and answers its chain-exchange requests from a fixed set of tipsets.
//!
//! Headers are built the way mainnet's are: ID-address miners, 96-byte VRF tickets (distinct
//! per block), election proofs with win counts, a drand beacon entry, a WinPoSt proof, BLS
//! signatures, timestamps on the 30 s grid from genesis, and ParentWeight from the weight
//! formula with L = 49 (mainnet's value at its first heights).

use std::collections::HashMap;
use std::time::Duration;

use cid::Cid;
use lsync_core::chain::{BlockHeader, TipSet, TipSetKey};

use crate::follower::{
    Action, FetchRequest, Follower, FollowerConfig, HeadPath, Input, InputEvent, LogKind,
};

/// The mainnet genesis header, 267 bytes (lotus-facts §5.1).
const MAINNET_GENESIS_HEX: &str = "904200008158205f8a03396b309a60fb7d3d33dd13483d05464bce5fd9d06171e7a8c280e24216820040818200582000000000000000000000000000000000000000000000000000000000000000008081d82a58250001711220107d821c25dc0735200249df94a8bebc9c8e489744f86a4ca8919e81f19dcd724000d82a5827000171a0e402208fbc07f7587e2efebab9ff1ab27c928881abf9d1b7e5ad5206781415615867aed82a5827000171a0e40220e5658b3d18cd06e1db9015b4b0ec55c123a24d5be1ea24d83938c5b8397b4f2fd82a5827000171a0e4022098307faeabdd208c1321be4c1ec84fbb952cd8424c24db0d5a96c8032fb2ce10f61a5f443860f600450005f5e100";

pub(crate) const GENESIS_TIMESTAMP: u64 = 1_598_306_400;
pub(crate) const POWER_LOG2: u64 = 49;

pub(crate) fn genesis() -> TipSet {
    let bytes: Vec<u8> = (0..MAINNET_GENESIS_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&MAINNET_GENESIS_HEX[i..i + 2], 16).unwrap())
        .collect();
    let (header, cid) = BlockHeader::decode_with_cid(&bytes).unwrap();
    TipSet::from_blocks_with_cids(vec![(cid, header)]).unwrap()
}

/// Unix ms of the start of epoch `height`, plus `offset_ms`.
pub(crate) fn at(height: i64, offset_ms: i64) -> i64 {
    (GENESIS_TIMESTAMP as i64 + 30 * height) * 1000 + offset_ms
}

/// `n` pseudo-random bytes derived from `label`.
/// A block header plus its CID.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) cid: Cid,
    pub(crate) header: BlockHeader,
}

/// A mined block at `height` on `parent`, by miner `f0<miner>` with `wins` election wins.
/// `label` makes its ticket (and so its tipset position) unique.
pub(crate) fn mine(parent: &TipSet, height: i64, miner: u64, wins: i64, label: &str) -> Block {
    assert!(height > parent.height());
    let header = crate::synthetic::header(crate::synthetic::BlockSpec {
        parent,
        height,
        miner_id: miner,
        wins,
        label,
        beacon_round: 50_000 + height as u64,
        beacon_label: format!("drand/{height}"),
        timestamp: GENESIS_TIMESTAMP + 30 * height as u64,
        power_log2: POWER_LOG2,
    })
    .unwrap();
    Block {
        cid: header.cid().unwrap(),
        header,
    }
}

pub(crate) fn tipset(blocks: &[&Block]) -> TipSet {
    TipSet::from_blocks_with_cids(blocks.iter().map(|b| (b.cid, b.header.clone())).collect())
        .unwrap()
}

/// A straight chain of one-block tipsets on `base`, one per height in `heights`.
pub(crate) fn chain(
    base: &TipSet,
    heights: &[i64],
    miner: u64,
    wins: i64,
    name: &str,
) -> Vec<(Block, TipSet)> {
    let mut parent = base.clone();
    heights
        .iter()
        .map(|&h| {
            let block = mine(&parent, h, miner, wins, &format!("{name}{h}"));
            let ts = tipset(&[&block]);
            parent = ts.clone();
            (block, ts)
        })
        .collect()
}

/// Peers that serve chain exchange from a fixed set of tipsets.
#[derive(Debug, Default, Clone)]
pub(crate) struct FakeNet {
    tipsets: HashMap<TipSetKey, TipSet>,
}

impl FakeNet {
    pub(crate) fn add(&mut self, ts: &TipSet) {
        self.tipsets.insert(ts.key().clone(), ts.clone());
    }

    /// Lotus's `collectChainSegment`: from the head back, up to `length`, stopping at genesis
    /// or where this peer's chain ends (a partial answer). `None` if it lacks the head.
    pub(crate) fn serve(&self, request: &FetchRequest) -> Option<Vec<TipSet>> {
        let mut out: Vec<TipSet> = Vec::new();
        let mut key = request.head.clone();
        while (out.len() as u64) < request.length {
            let Some(ts) = self.tipsets.get(&key) else {
                break;
            };
            key = ts.parents().clone();
            out.push(ts.clone());
            if out.last().is_some_and(|t| t.height() == 0) {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// A follower plus a network, and every action it produced.
pub(crate) struct Harness {
    pub(crate) follower: Follower,
    pub(crate) net: FakeNet,
    pub(crate) actions: Vec<Action>,
}

impl Harness {
    pub(crate) fn new(config: FollowerConfig) -> Self {
        let genesis = genesis();
        let mut net = FakeNet::default();
        net.add(&genesis);
        Self {
            follower: Follower::new(config, genesis, at(0, 0)),
            net,
            actions: Vec::new(),
        }
    }

    /// Mainnet settings; `bootstrap` peers needed before the first target.
    pub(crate) fn mainnet(bootstrap: usize) -> Self {
        let mut config = FollowerConfig::new(GENESIS_TIMESTAMP);
        config.bootstrap_peer_threshold = bootstrap;
        Self::new(config)
    }

    pub(crate) fn input(&mut self, now_ms: i64, event: InputEvent) -> Vec<Action> {
        let actions = self.follower.handle(Input::new(now_ms, event)).unwrap();
        self.actions.extend(actions.iter().cloned());
        actions
    }

    /// `block` arrives over gossip from `peer`, its messages fetched in `fetch_ms`.
    pub(crate) fn gossip(&mut self, now_ms: i64, peer: &str, block: &Block) -> Vec<Action> {
        self.gossip_with_fetch(now_ms, peer, block, 0)
    }

    pub(crate) fn gossip_with_fetch(
        &mut self,
        now_ms: i64,
        peer: &str,
        block: &Block,
        fetch_ms: u64,
    ) -> Vec<Action> {
        self.net.add(&tipset(&[block]));
        self.input(
            now_ms,
            InputEvent::GossipBlock {
                peer: peer.to_string(),
                cid: block.cid,
                header: Box::new(block.header.clone()),
                arrived_ns: None,
                msg_fetch: Duration::from_millis(fetch_ms),
                msg_fetch_error: None,
            },
        )
    }

    pub(crate) fn peer_head(&mut self, now_ms: i64, peer: &str, ts: &TipSet) -> Vec<Action> {
        self.input(
            now_ms,
            InputEvent::PeerHead {
                peer: peer.to_string(),
                tipset: ts.clone(),
            },
        )
    }

    /// Answer every outstanding request the network can serve, until none is left; returns
    /// the actions this produced.
    pub(crate) fn serve_all(&mut self, now_ms: i64) -> Vec<Action> {
        let mut produced = Vec::new();
        loop {
            let requests = self.follower.outstanding_requests();
            let Some((request, tipsets)) = requests
                .iter()
                .find_map(|r| self.net.serve(r).map(|t| (r.clone(), t)))
            else {
                return produced;
            };
            produced.extend(self.input(
                now_ms,
                InputEvent::ChainFetched {
                    request: request.id,
                    tipsets,
                },
            ));
        }
    }

    /// Make every tipset of `chain` servable.
    pub(crate) fn publish(&mut self, chain: &[(Block, TipSet)]) {
        for (_, ts) in chain {
            self.net.add(ts);
        }
    }
}

pub(crate) fn head_changes(actions: &[Action]) -> Vec<&HeadPath> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::HeadChange(h) => Some(h),
            _ => None,
        })
        .collect()
}

pub(crate) fn logs(actions: &[Action]) -> Vec<&LogKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(&l.kind),
            _ => None,
        })
        .collect()
}

pub(crate) fn fetches(actions: &[Action]) -> Vec<&FetchRequest> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// Revert/apply counts of each head change.
pub(crate) fn counts(actions: &[Action]) -> Vec<(usize, usize)> {
    head_changes(actions)
        .iter()
        .map(|h| (h.revert_count(), h.apply_count()))
        .collect()
}
