//! A loopback Filecoin devnet: `miners` simulated miner peers, each its own libp2p swarm and
//! key on 127.0.0.1, gossiping real-format block headers on `/fil/blocks/<network>`, answering
//! hello and serving chain exchange, so `run_follow` (or a Lotus node) can follow it.
//!
//! The chain is planned up front ([`plan`]) from the seed and the scenarios, on a genesis
//! re-timed to just after start so the consensus-range check passes; a scheduler then hands
//! each block to its miner's node at `epoch start + planned delay`. The miners do not mine or
//! validate each other: the network is a script with real bytes, which is what makes a ground
//! truth possible — every block with its planned and actual publish time and publisher, the
//! canonical chain, the orphans, and the head changes a correct follower must journal.
//!
//! Block times are whole seconds: header timestamps are Unix seconds and a follower checks
//! them against `parent + BlockDelaySecs × epochs`, so a sub-second devnet would have to fake
//! its timestamps (and every lateness measurement with them).

pub mod plan;
pub mod rpc;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cid::Cid;
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, Multiaddr, PeerId, StreamProtocol, Swarm};
use lsync_core::chain::{
    tipset_weight, BlockHeader, BlockMessages, BlockMsg, HelloMessage, LatencyMessage, TipSet, TipSetKey,
};
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

use crate::p2p::codec::HELLO_PROTOCOL;
use crate::p2p::node::{
    blocks_topic, build_swarm, check_block_msg, now_ms, now_nanos, serve_xchg, BlockVerdict, GossipWindow,
    NodeBehaviour, NodeBehaviourEvent, NodeError, NodeTimeouts,
};
use crate::p2p::FollowConfig;
use plan::{BlockTruth, HeadChangeTruth, TipSetTruth, POWER_LOG2};

/// The network name devnets use by default (their gossip topic is `/fil/blocks/lsync-devnet`).
pub const DEVNET_NETWORK_NAME: &str = "lsync-devnet";

/// A scripted deviation from "one punctual block per epoch". Heights are absolute epochs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scenario {
    /// A minority of miners builds a separate, visible fork for `depth` epochs from `at` while
    /// the majority withholds its heavier one; at `at + depth` it heals and followers reorg.
    PartitionHeal { at: i64, depth: u64 },
    /// Every block of `miner` is published `delay_ms` after its epoch start.
    LateMiner { miner: usize, delay_ms: u64 },
    /// At epoch `at` a second miner's block joins the tipset `delay_ms` after the first.
    Widen { at: i64, delay_ms: u64 },
    /// No blocks for `count` epochs from `at`.
    NullRounds { at: i64, count: u64 },
    /// One more node that mines nothing and lies: just before each honest block is gossiped it
    /// publishes the same header with message lists that are not the header's (a bogus secp
    /// list). Lotus rejects such a BlockMsg (`validateMsgMeta`); so must a follower, and its
    /// journal and first-seen records must be the honest chain's. The liar is the last entry
    /// of the devnet's addresses and of `GroundTruth::miners`.
    LyingPeer,
    /// One more node that does everything a hostile peer can do with real-format data, around
    /// each honest block: garbage, the header with lists not its own, a 3 MB message (the first
    /// two epochs), the header at an impossible height, the header from the future, a burst of
    /// junk (a flood); and the honest block's miner equivocates: its node publishes, after the
    /// honest block, a second block of its own at the same height, lighter (no election win),
    /// so the honest chain stays heaviest. A follower must reject or ignore all the hostile
    /// peer sends, flag the equivocation, journal exactly the honest chain, penalise the
    /// hostile peer (gossipsub graylists it after a handful of invalid messages) and keep its
    /// honest peers. Like the liar, the hostile peer is the last address and miner entry.
    HostilePeer,
    /// Epoch `at`'s block is published `delay_ms` after its epoch start (more than a block
    /// time: after epoch `at + 1`'s block, which builds on the tipset before it and outweighs
    /// it). A late block a follower sees but never takes: an orphan by lateness.
    LateOrphan { at: i64, delay_ms: u64 },
    /// The RPC endpoint drops every connection when epoch `at` starts and refuses new ones for
    /// one and a half epochs (a node restart): clients reconnect, resubscribe and fill the gap.
    RpcDrop { at: i64 },
    /// The RPC endpoint closes every ChainNotify channel when epoch `at` starts, the socket
    /// staying up: what Lotus does to a subscriber more than 16 batches behind.
    NotifyClose { at: i64 },
    /// F3 issues no certificate for `epochs` epochs from `at` (mainnet's stalls: #13094,
    /// #13208, #13473).
    F3Stall { at: i64, epochs: u64 },
}

/// Settings of [`run_devnet`].
#[derive(Debug)]
pub struct DevnetConfig {
    pub miners: usize,
    /// Whole seconds, at least one (see the module documentation).
    pub block_time: Duration,
    pub seed: u64,
    /// Miner `i` listens on 127.0.0.1:`listen_base + i`; 0 lets the OS pick ports.
    pub listen_base: u16,
    pub network_name: String,
    /// Header the genesis is made from (e.g. the real mainnet genesis); it is re-timed.
    pub genesis_template: BlockHeader,
    /// Time from start to the genesis timestamp (rounded up to a whole second); epoch 1 starts
    /// one block time later. Followers should connect within it.
    pub lead: Duration,
    /// Epochs already made when the devnet starts (`--history`): the genesis is that many
    /// block times in the past, the history is served over chain exchange and announced in
    /// hellos, and live epochs follow it. A late joiner of a long-running network.
    pub history: u64,
    /// Epochs to produce; the devnet then serves for `linger` and returns.
    pub epochs: u64,
    pub linger: Duration,
    pub scenarios: Vec<Scenario>,
    /// Where to write the ground truth JSON at the end.
    pub ground_truth_path: Option<PathBuf>,
    /// Serve a Lotus-compatible JSON-RPC endpoint (a test double of a Lotus node) here.
    pub rpc: Option<std::net::SocketAddr>,
    /// F3 certificates finalize the head's ancestor this many epochs down, once an epoch.
    pub f3_lag: i64,
    /// Told once every miner listens.
    pub ready: Option<oneshot::Sender<DevnetReady>>,
}

impl DevnetConfig {
    pub fn new(miners: usize, genesis_template: BlockHeader) -> Self {
        Self {
            miners,
            block_time: Duration::from_secs(1),
            seed: 1,
            listen_base: 0,
            network_name: DEVNET_NETWORK_NAME.to_string(),
            genesis_template,
            lead: Duration::from_secs(2),
            history: 0,
            epochs: 10,
            linger: Duration::from_secs(2),
            scenarios: Vec::new(),
            ground_truth_path: None,
            rpc: None,
            f3_lag: 5,
            ready: None,
        }
    }
}

/// What a follower needs to join the devnet.
#[derive(Debug, Clone)]
pub struct DevnetReady {
    pub network_name: String,
    pub genesis: TipSet,
    pub block_time_secs: u64,
    /// One `/ip4/127.0.0.1/tcp/<port>/p2p/<id>` per miner.
    pub addrs: Vec<Multiaddr>,
    /// The JSON-RPC endpoint and its token, when one was asked for.
    pub rpc: Option<(std::net::SocketAddr, String)>,
}

impl DevnetReady {
    /// A follow configuration for this devnet: its genesis, topic, miners as bootstrap peers,
    /// its block time, one bootstrap peer, and first-seen records settled after two epochs.
    pub fn follow_config(&self, journal_dir: PathBuf) -> FollowConfig {
        let mut cfg = FollowConfig::new(&self.network_name, self.genesis.clone(), journal_dir);
        cfg.bootstrap = self.addrs.clone();
        cfg.bootstrap_peers_threshold = 1;
        cfg.follower.block_delay_secs = self.block_time_secs;
        cfg.follower.first_seen_settle = Duration::from_secs(2 * self.block_time_secs);
        cfg.follower.fetch_timeout = Duration::from_secs(10);
        cfg.resume = false;
        cfg
    }
}

/// Everything that happened, for checking a follower against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    pub network_name: String,
    pub genesis: String,
    pub genesis_timestamp: u64,
    pub block_time_secs: u64,
    pub seed: u64,
    pub scenarios: Vec<Scenario>,
    /// Epochs made before the devnet started, and the tipset they end on (genesis without
    /// history). `blocks`, `canonical` and `head_changes` cover what came after it.
    pub history: u64,
    pub history_head: TipSetTruth,
    /// `(index, peer id, multiaddr)` of every miner.
    pub miners: Vec<(usize, String, String)>,
    pub blocks: Vec<BlockTruth>,
    /// Genesis first.
    pub canonical: Vec<TipSetTruth>,
    /// Blocks not on the canonical chain.
    pub orphaned: Vec<String>,
    pub head_changes: Vec<HeadChangeTruth>,
    /// Blocks a miner could not gossip (no subscribed peer); a follower cannot have seen them.
    pub publish_failures: Vec<String>,
    /// Lying BlockMsgs the [`Scenario::LyingPeer`] gossiped.
    pub lies_published: u64,
    /// What the [`Scenario::HostilePeer`] gossiped, by kind (`garbage`, `wrong_lists`,
    /// `oversize`, `impossible_height`, `from_the_future`, `flood`, `equivocation`).
    pub hostile_published: std::collections::BTreeMap<String, u64>,
    /// CIDs of the headers the hostile peer made (a follower's head changes name none).
    pub hostile_cids: Vec<String>,
    /// The equivocating blocks (a follower records and flags them).
    pub equivocations: Vec<String>,
    /// F3 certificates the RPC endpoint issued: (instance, finalized epoch, finalized tipset).
    pub finality: Vec<(u64, i64, Vec<String>)>,
}

#[derive(Debug, Error)]
pub enum DevnetError {
    #[error("invalid devnet configuration: {0}")]
    Config(String),
    #[error("building the devnet chain: {0}")]
    Chain(String),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("miner {miner} cannot listen on {addr}: {reason}")]
    Listen {
        miner: usize,
        addr: Multiaddr,
        reason: String,
    },
    #[error("miner {0} stopped before listening")]
    NotListening(usize),
    #[error("writing the ground truth to {path}: {source}")]
    GroundTruth {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// State the miners share: every tipset (to serve), the head they announce, publish times.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Every block published or served, so that any key of known blocks names a tipset (as
    /// Lotus's `LoadTipSet` assembles one — a one-block key for one block's messages, say).
    blocks: HashMap<Cid, BlockHeader>,
    tipsets: HashMap<TipSetKey, TipSet>,
    /// Every planned block's messages (served with the Messages option).
    messages: HashMap<Cid, Arc<BlockMessages>>,
    head: TipSet,
    published: HashMap<Cid, i64>,
    /// When each block was handed to gossipsub (Unix ns) and when each other miner's node
    /// received it first: a bare gossipsub node's arrivals, the baseline a follower's
    /// first-seen times are measured against.
    published_ns: HashMap<Cid, i64>,
    arrivals_ns: HashMap<Cid, Vec<i64>>,
    failures: Vec<String>,
    lies_published: u64,
    hostile_published: std::collections::BTreeMap<String, u64>,
}

impl Shared {
    /// The tipset `key` names: one the devnet formed, or one assembled from known blocks.
    fn tipset(&self, key: &TipSetKey) -> Option<TipSet> {
        if let Some(ts) = self.tipsets.get(key) {
            return Some(ts.clone());
        }
        let blocks = key
            .cids()
            .iter()
            .map(|c| self.blocks.get(c).map(|h| (*c, h.clone())))
            .collect::<Option<Vec<_>>>()?;
        TipSet::from_blocks_with_cids(blocks).ok().filter(|ts| ts.key() == key)
    }
}

enum Command {
    Publish { cid: Cid, data: Vec<u8> },
    /// A BlockMsg that is a lie: published, counted, not recorded as the block's publication.
    Lie { data: Vec<u8> },
    /// A hostile message of kind `what`, counted by kind.
    Hostile { what: &'static str, data: Vec<u8> },
}

fn validate_config(cfg: &DevnetConfig) -> Result<u64, DevnetError> {
    if cfg.miners == 0 {
        return Err(DevnetError::Config("at least one miner".into()));
    }
    let bt = cfg.block_time;
    if bt.subsec_nanos() != 0 || bt.as_secs() == 0 {
        return Err(DevnetError::Config(format!(
            "block time must be whole seconds (header timestamps are seconds), got {bt:?}"
        )));
    }
    let bt_ms = bt.as_millis() as u64;
    let history = cfg.history as i64;
    for s in &cfg.scenarios {
        let at = match s {
            Scenario::Widen { at, .. } | Scenario::PartitionHeal { at, .. } | Scenario::NullRounds { at, .. } | Scenario::LateOrphan { at, .. } => Some(*at),
            _ => None,
        };
        if let Some(at) = at.filter(|at| *at <= history) {
            return Err(DevnetError::Config(format!(
                "{s:?}: height {at} is part of the {history} epochs of history; scenarios happen live, above it"
            )));
        }
    }
    for s in &cfg.scenarios {
        match s {
            Scenario::LateMiner { miner, delay_ms } => {
                if *miner >= cfg.miners || *delay_ms >= bt_ms {
                    return Err(DevnetError::Config(format!(
                        "{s:?}: the miner must exist and the delay be under one block time"
                    )));
                }
            }
            Scenario::Widen { at, delay_ms } => {
                if cfg.miners < 2 || *at < 1 || *delay_ms >= bt_ms {
                    return Err(DevnetError::Config(format!(
                        "{s:?}: needs two miners, a height ≥ 1 and a delay under one block time"
                    )));
                }
            }
            Scenario::PartitionHeal { at, depth } => {
                if cfg.miners < 2 || *at < 1 || *depth == 0 {
                    return Err(DevnetError::Config(format!(
                        "{s:?}: needs two miners, a height ≥ 1 and a depth ≥ 1"
                    )));
                }
            }
            Scenario::LateOrphan { at, delay_ms } => {
                if *at < 1 || *delay_ms < bt_ms || *delay_ms >= 3 * bt_ms {
                    return Err(DevnetError::Config(format!("{s:?}: a height ≥ 1 and a delay of one to three block times")));
                }
            }
            Scenario::NullRounds { at, count } => {
                if *at < 1 || *count == 0 {
                    return Err(DevnetError::Config(format!("{s:?}: height ≥ 1, count ≥ 1")));
                }
            }
            Scenario::LyingPeer | Scenario::HostilePeer | Scenario::RpcDrop { .. } | Scenario::NotifyClose { .. } | Scenario::F3Stall { .. } => {
                if !matches!(s, Scenario::LyingPeer | Scenario::HostilePeer) && cfg.rpc.is_none() {
                    return Err(DevnetError::Config(format!("{s:?} is a fault of the RPC endpoint: give the devnet one (--rpc)")));
                }
            }
        }
    }
    Ok(bt.as_secs())
}

/// Run the devnet until it has produced `epochs` epochs and lingered, or `shutdown` completes.
pub async fn run_devnet(
    mut cfg: DevnetConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<GroundTruth, DevnetError> {
    let block_time_secs = validate_config(&cfg)?;
    // Epoch `history + 1` starts one block time after the lead: the history lies in the past.
    let live_start = (now_ms() + cfg.lead.as_millis() as i64 + 999) / 1000;
    let genesis_timestamp = live_start - (cfg.history * block_time_secs) as i64;
    if genesis_timestamp <= 0 {
        return Err(DevnetError::Config(format!(
            "{} epochs of {block_time_secs} s of history would start before 1970",
            cfg.history
        )));
    }
    let genesis = plan::devnet_genesis(&cfg.genesis_template, genesis_timestamp as u64)?;
    let plan = plan::plan(
        cfg.seed,
        cfg.miners,
        block_time_secs,
        &genesis,
        cfg.history,
        cfg.epochs,
        &cfg.scenarios,
    )?;
    let shared = Arc::new(Mutex::new(Shared {
        tipsets: HashMap::from([(genesis.key().clone(), genesis.clone())]),
        messages: plan.blocks.iter().map(|b| (b.cid, Arc::clone(&b.messages))).collect(),
        blocks: HashMap::new(),
        head: plan.history_head.clone(),
        published: HashMap::new(),
        published_ns: HashMap::new(),
        arrivals_ns: HashMap::new(),
        failures: Vec::new(),
        lies_published: 0,
        hostile_published: Default::default(),
    }));
    let rpc_node = match cfg.rpc {
        Some(addr) => {
            let (listener, local) = rpc::bind(addr)
                .await
                .map_err(|e| DevnetError::Config(format!("cannot serve RPC on {addr}: {e}")))?;
            let node = Arc::new(rpc::RpcNode {
                shared: Arc::clone(&shared),
                events: tokio::sync::broadcast::channel(1024).0,
                token: Some(rpc::make_token()),
                network_name: cfg.network_name.clone(),
                block_time_secs,
                f3: Mutex::new(rpc::F3State::default()),
                syncs: Mutex::new(Default::default()),
                next_worker: Mutex::new(0),
                down_until_ms: std::sync::atomic::AtomicI64::new(0),
            });
            let server = tokio::spawn(rpc::serve(listener, Arc::clone(&node)));
            Some((node, local, server))
        }
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut commands = Vec::new();
    let mut tasks = Vec::new();
    let mut addrs = Vec::new();
    let hostile = cfg.scenarios.contains(&Scenario::HostilePeer);
    let liar = (hostile || cfg.scenarios.contains(&Scenario::LyingPeer)).then_some(cfg.miners);
    let mut hostile_cids: Vec<String> = Vec::new();
    let mut equivocations: Vec<String> = Vec::new();
    let mut hostile_epochs = 0u32;
    for i in 0..cfg.miners + usize::from(liar.is_some()) {
        let key = Keypair::generate_ed25519();
        let mut swarm = build_swarm(key, &cfg.network_name, NodeTimeouts::default())?;
        let port = if cfg.listen_base == 0 {
            0
        } else {
            cfg.listen_base
                .checked_add(i as u16)
                .ok_or_else(|| DevnetError::Config("listen ports overflow".into()))?
        };
        let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}")
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| DevnetError::Config(e.to_string()))?;
        swarm
            .listen_on(listen.clone())
            .map_err(|e| DevnetError::Listen {
                miner: i,
                addr: listen,
                reason: e.to_string(),
            })?;
        // Wait for the bound address (port 0 → the OS's choice).
        let bound = loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => break address,
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(DevnetError::Listen {
                        miner: i,
                        addr: Multiaddr::empty(),
                        reason: error.to_string(),
                    })
                }
                _ => {}
            }
        };
        let full = bound.with(Protocol::P2p(*swarm.local_peer_id()));
        // Miners mesh with the ones before them.
        for earlier in &addrs {
            let _ = swarm.dial(Multiaddr::clone(earlier));
        }
        addrs.push(full);
        let (tx, rx) = mpsc::unbounded_channel();
        commands.push(tx);
        let miner = Miner {
            swarm,
            topic: blocks_topic(&cfg.network_name),
            genesis: genesis.cids()[0],
            shared: Arc::clone(&shared),
            hello_sent: Default::default(),
        };
        tasks.push(tokio::spawn(miner.run(rx, stop_rx.clone())));
    }
    if let Some(ready) = cfg.ready.take() {
        let _ = ready.send(DevnetReady {
            network_name: cfg.network_name.clone(),
            genesis: genesis.clone(),
            block_time_secs,
            addrs: addrs.clone(),
            rpc: rpc_node.as_ref().map(|(node, local, _)| (*local, node.token.clone().unwrap_or_default())),
        });
    }
    // The RPC node's clock: once an epoch, F3 and the scripted faults.
    let rpc_clock = rpc_node.as_ref().map(|(node, _, _)| {
        let node = Arc::clone(node);
        let scenarios = cfg.scenarios.clone();
        let (first, last, lag) = (cfg.history as i64 + 1, (cfg.history + cfg.epochs) as i64, cfg.f3_lag);
        let starts: Vec<(i64, i64)> = (first..=last + 1).map(|h| (h, plan.epoch_start_ms(h))).collect();
        tokio::spawn(async move {
            for (h, start) in starts {
                sleep_until_unix_ms(start).await;
                for s in &scenarios {
                    match s {
                        Scenario::RpcDrop { at } if *at == h => {
                            // Down for one and a half epochs: the head moves while it is.
                            let until = now_ms() + (block_time_secs * 1500) as i64;
                            node.down_until_ms.store(until, std::sync::atomic::Ordering::Relaxed);
                            let _ = node.events.send(rpc::NodeEvent::Drop);
                        }
                        Scenario::NotifyClose { at } if *at == h => {
                            let _ = node.events.send(rpc::NodeEvent::CloseNotify);
                        }
                        _ => {}
                    }
                }
                let stalled = scenarios.iter().any(|s| matches!(s, Scenario::F3Stall { at, epochs } if h >= *at && h < *at + *epochs as i64));
                // Half an epoch in, when the epoch's blocks are out.
                tokio::time::sleep(Duration::from_millis(block_time_secs * 500)).await;
                node.f3_tick(lag, stalled);
            }
        })
    });

    let schedule = plan.schedule();
    let script = async {
        {
            // History and withheld blocks are served from the start (the majority holds the
            // withheld ones).
            let unpublished: std::collections::HashSet<Cid> = plan
                .blocks
                .iter()
                .filter(|b| b.publish_offset_ms.is_none())
                .map(|b| b.cid)
                .collect();
            let mut s = shared.lock().expect("devnet state lock");
            for ts in plan.tipsets.values() {
                if ts.cids().iter().all(|c| unpublished.contains(c)) {
                    s.tipsets.insert(ts.key().clone(), ts.clone());
                }
            }
            for b in plan.blocks.iter().filter(|b| !b.history && b.publish_offset_ms.is_none()) {
                s.blocks.insert(b.cid, b.header.clone());
            }
        }
        let mut visible: HashMap<(i64, TipSetKey), Vec<(Cid, BlockHeader)>> = HashMap::new();
        for (at_ms, index) in &schedule {
            sleep_until_unix_ms(*at_ms).await;
            let block = &plan.blocks[*index];
            let group = visible
                .entry((block.header.height, block.header.parents.clone()))
                .or_default();
            group.push((block.cid, block.header.clone()));
            if let Ok(ts) = TipSet::from_blocks_with_cids(group.clone()) {
                let moved = {
                    let mut s = shared.lock().expect("devnet state lock");
                    s.blocks.insert(block.cid, block.header.clone());
                    s.tipsets.insert(ts.key().clone(), ts.clone());
                    if tipset_weight(&ts, POWER_LOG2) > tipset_weight(&s.head, POWER_LOG2) {
                        Some((std::mem::replace(&mut s.head, ts.clone()), ts))
                    } else {
                        None
                    }
                };
                if let Some((node, _, _)) = &rpc_node {
                    let _ = node.events.send(rpc::NodeEvent::Block(Box::new(block.header.clone())));
                    if let Some((old, new)) = moved {
                        node.head_changed(old, new);
                    }
                }
            }
            let (bls_messages, secpk_messages) =
                block.messages.cids().map_err(|e| DevnetError::Chain(e.to_string()))?;
            let msg = BlockMsg { header: block.header.clone(), bls_messages, secpk_messages };
            let data = msg
                .to_cbor()
                .map_err(|e| DevnetError::Chain(e.to_string()))?;
            let mut after = Vec::new();
            if let Some(liar) = liar {
                // The real header, other lists: first, so that a follower that took it would
                // credit the liar with the block.
                let lie = BlockMsg { secpk_messages: vec![genesis.cids()[0]], ..msg.clone() };
                let data = lie.to_cbor().map_err(|e| DevnetError::Chain(e.to_string()))?;
                let _ = commands[liar].send(Command::Lie { data });
                if hostile {
                    let attacks = hostile_messages(&msg, hostile_epochs < 2, block_time_secs)?;
                    hostile_epochs += 1;
                    for (what, cid, data) in attacks {
                        if let Some(cid) = cid {
                            hostile_cids.push(cid.to_string());
                            if what == "equivocation" {
                                equivocations.push(cid.to_string());
                            }
                        }
                        if what == "equivocation" {
                            after.push(data);
                        } else {
                            let _ = commands[liar].send(Command::Hostile { what, data });
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            let _ = commands[block.miner].send(Command::Publish {
                cid: block.cid,
                data,
            });
            if !after.is_empty() {
                // The equivocation follows the honest block from the same miner's node, as a
                // miner publishing twice does.
                tokio::time::sleep(Duration::from_millis(100)).await;
                for data in after {
                    let _ = commands[block.miner].send(Command::Hostile { what: "equivocation", data });
                }
            }
        }
        let end = plan.epoch_start_ms((cfg.history + cfg.epochs) as i64 + 1);
        sleep_until_unix_ms(end).await;
        tokio::time::sleep(cfg.linger).await;
        Ok::<(), DevnetError>(())
    };
    let outcome = tokio::select! {
        r = script => r,
        () = shutdown => Ok(()),
    };
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if let Some(clock) = rpc_clock {
        clock.abort();
    }
    let finality = match &rpc_node {
        Some((node, _, server)) => {
            server.abort();
            let _ = node.events.send(rpc::NodeEvent::Drop);
            node.f3
                .lock()
                .expect("f3 lock")
                .certs
                .iter()
                .filter_map(|c| c.finalized().map(|e| (c.instance, e.epoch, e.key.cids().iter().map(ToString::to_string).collect())))
                .collect()
        }
        None => Vec::new(),
    };
    outcome?;

    let (head_changes, head) = plan.expected_head_changes();
    let s = shared.lock().expect("devnet state lock");
    let mut blocks = plan.block_truths(&head, &s.published);
    for b in &mut blocks {
        if let Ok(cid) = b.cid.parse::<Cid>() {
            b.published_ns = s.published_ns.get(&cid).copied();
            b.miner_arrivals_ns = s.arrivals_ns.get(&cid).cloned().unwrap_or_default();
        }
    }
    let truth = GroundTruth {
        network_name: cfg.network_name.clone(),
        genesis: genesis.cids()[0].to_string(),
        genesis_timestamp: genesis.min_timestamp(),
        block_time_secs,
        seed: cfg.seed,
        scenarios: cfg.scenarios.clone(),
        history: cfg.history,
        history_head: TipSetTruth {
            height: plan.history_head.height(),
            cids: plan.history_head.cids().iter().map(ToString::to_string).collect(),
        },
        miners: addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let id = a
                    .iter()
                    .find_map(|p| match p {
                        Protocol::P2p(id) => Some(id.to_string()),
                        _ => None,
                    })
                    .unwrap_or_default();
                (i, id, a.to_string())
            })
            .collect(),
        orphaned: blocks
            .iter()
            .filter(|b| !b.canonical)
            .map(|b| b.cid.clone())
            .collect(),
        blocks,
        canonical: plan.canonical_truth(&head),
        head_changes,
        publish_failures: s.failures.clone(),
        lies_published: s.lies_published,
        hostile_published: s.hostile_published.clone(),
        hostile_cids,
        equivocations,
        finality,
    };
    if let Some(path) = &cfg.ground_truth_path {
        let json = serde_json::to_vec_pretty(&truth).map_err(|e| DevnetError::GroundTruth {
            path: path.clone(),
            source: e.into(),
        })?;
        std::fs::write(path, json).map_err(|source| DevnetError::GroundTruth {
            path: path.clone(),
            source,
        })?;
    }
    Ok(truth)
}

/// What the hostile peer gossips around the honest `msg`: (kind, the CID of a header it made,
/// the bytes). Every header it makes is a real-format header a stateless check can only judge
/// by the rules Lotus's pubsub validator applies.
fn hostile_messages(
    msg: &BlockMsg,
    oversize: bool,
    block_time_secs: u64,
) -> Result<Vec<(&'static str, Option<Cid>, Vec<u8>)>, DevnetError> {
    let chain = |e: lsync_core::chain::EncodeError| DevnetError::Chain(e.to_string());
    let mut out: Vec<(&'static str, Option<Cid>, Vec<u8>)> = Vec::new();
    // Each epoch's junk differs (gossipsub drops a payload it has seen as a duplicate).
    let epoch = msg.header.height.to_le_bytes();
    let mut garbage = b"\x83\x00not a block message ".to_vec();
    garbage.extend_from_slice(&epoch);
    out.push(("garbage", None, garbage));
    if oversize {
        // Three times Lotus's 1 MiB cap: must cost the sender, not the connection.
        let mut big = msg.to_cbor().map_err(chain)?;
        big.resize(3 << 20, 0);
        out.push(("oversize", None, big));
    }
    let mut far = msg.clone();
    far.header.height += 1_000_000;
    out.push(("impossible_height", Some(far.header.cid().map_err(chain)?), far.to_cbor().map_err(chain)?));
    let mut future = msg.clone();
    future.header.timestamp += 60 * block_time_secs.max(1);
    out.push(("from_the_future", Some(future.header.cid().map_err(chain)?), future.to_cbor().map_err(chain)?));
    for i in 0..20u8 {
        let mut junk = vec![0x80 | (i % 8); 64 + usize::from(i)];
        junk.extend_from_slice(&epoch);
        out.push(("flood", None, junk));
    }
    // Same miner, height and parents, another ticket, no election win (so lighter than the
    // honest block) and no messages.
    let mut twin = msg.clone();
    if let Some(t) = twin.header.ticket.as_mut() {
        t.vrf_proof[0] ^= 0xff;
    }
    if let Some(e) = twin.header.election_proof.as_mut() {
        e.win_count = 0;
    }
    twin.bls_messages.clear();
    twin.secpk_messages.clear();
    twin.header.messages = crate::synthetic::empty_msg_meta().map_err(DevnetError::Chain)?;
    out.push(("equivocation", Some(twin.header.cid().map_err(chain)?), twin.to_cbor().map_err(chain)?));
    Ok(out)
}

/// Sleep until a Unix-ms instant of the wall clock (the epoch grid is wall-clock time).
async fn sleep_until_unix_ms(at_ms: i64) {
    let wait = at_ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// One miner's node.
struct Miner {
    swarm: Swarm<NodeBehaviour>,
    topic: gossipsub::IdentTopic,
    genesis: Cid,
    shared: Arc<Mutex<Shared>>,
    hello_sent: std::collections::HashSet<PeerId>,
}

impl Miner {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(cmd) = commands.recv() => self.on_command(cmd),
                event = self.swarm.select_next_some() => self.on_event(event),
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let (cid, data) = match cmd {
            Command::Publish { cid, data } => (cid, data),
            Command::Hostile { what, data } => {
                let result = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), data);
                let mut s = self.shared.lock().expect("devnet state lock");
                if result.is_ok() {
                    *s.hostile_published.entry(what.to_string()).or_default() += 1;
                }
                return;
            }
            Command::Lie { data } => {
                let result = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), data);
                let mut s = self.shared.lock().expect("devnet state lock");
                if result.is_ok() {
                    s.lies_published += 1;
                }
                return;
            }
        };
        let at_ns = now_nanos();
        let result = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), data);
        let mut s = self.shared.lock().expect("devnet state lock");
        match result {
            Ok(_) => {
                s.published.insert(cid, at_ns.div_euclid(1_000_000));
                s.published_ns.insert(cid, at_ns);
            }
            Err(e) => s.failures.push(format!("{cid}: {e}")),
        }
    }

    fn hello(&self) -> HelloMessage {
        let s = self.shared.lock().expect("devnet state lock");
        HelloMessage {
            heaviest_tipset: s.head.key().clone(),
            heaviest_tipset_height: s.head.height(),
            heaviest_tipset_weight: tipset_weight(&s.head, POWER_LOG2),
            genesis_hash: self.genesis,
        }
    }

    fn on_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        let SwarmEvent::Behaviour(event) = event else {
            if let SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } = event
            {
                self.hello_sent.remove(&peer_id);
            }
            return;
        };
        match event {
            NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let arrived_ns = now_nanos();
                let acceptance = match check_block_msg(&message.data, GossipWindow::default()) {
                    BlockVerdict::Accept { cid, .. } if message.topic == self.topic.hash() => {
                        let mut s = self.shared.lock().expect("devnet state lock");
                        s.arrivals_ns.entry(cid).or_default().push(arrived_ns);
                        MessageAcceptance::Accept
                    }
                    BlockVerdict::Ignore(_) => MessageAcceptance::Ignore,
                    _ => MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })
                if info
                    .protocols
                    .contains(&StreamProtocol::new(HELLO_PROTOCOL))
                    && self.hello_sent.insert(peer_id) =>
            {
                let hello = self.hello();
                self.swarm
                    .behaviour_mut()
                    .hello
                    .send_request(&peer_id, hello);
            }
            NodeBehaviourEvent::Hello(request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) => {
                let arrival = now_nanos();
                if request.genesis_hash != self.genesis {
                    let _ = self.swarm.disconnect_peer_id(peer);
                    return;
                }
                let latency = LatencyMessage {
                    t_arrival: arrival,
                    t_sent: now_nanos(),
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .hello
                    .send_response(channel, latency);
            }
            NodeBehaviourEvent::Xchg(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) => {
                let response = {
                    let s = self.shared.lock().expect("devnet state lock");
                    serve_xchg(&request, |key| s.tipset(key), |block| s.messages.get(block).cloned())
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .xchg
                    .send_response(channel, response);
            }
            _ => {}
        }
    }
}
