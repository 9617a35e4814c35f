//! `run_follow`: the libp2p driver around the sans-IO follower.
//!
//! The driver only moves bytes and time. Network events become follower inputs stamped with
//! the wall clock (hello → `Hello`, gossip → `GossipBlock` with the delivering peer, chain
//! exchange answers → `ChainFetched` / `FetchFailed`, a periodic `Tick`); the follower's actions
//! become requests and records (`Fetch` → chain exchange, `HeadChange` → journal, `Log` → go-log
//! file, `BlockSeen` → journal). Protocol duties that are not chain decisions live here: hello
//! answers, serving chain exchange from the tipsets the follower accepted, gossipsub validation
//! verdicts, connection limits and bootstrap redials.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::future::Future;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cid::Cid;
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, Multiaddr, PeerId, StreamProtocol, Swarm};
use lsync_core::chain::{tipset_weight, HelloMessage, LatencyMessage, Request, TipSet, TipSetKey};
use lsync_core::ClassCounts;
use crate::follower::{
    Action, FetchError, Follower, FollowerConfig, FollowerError, Input, InputEvent, RequestId,
};
use crate::golog::{GoLogConfig, GoLogWriter};
use crate::journal::{JournalConfig, JournalError, JournalWriter};
use thiserror::Error;
use tokio::sync::watch;

use super::codec::HELLO_PROTOCOL;
use super::node::{
    blocks_topic, build_swarm, check_block_msg, now_ms, now_nanos, serve_xchg, BlockVerdict, Dropped, GossipWindow,
    NodeBehaviour, NodeBehaviourEvent, NodeError, NodeTimeouts,
};
use super::resume::{last_journal_head, SavedHead};

/// `L` assumed for hello weights before the chain revealed it (mainnet's value at its first
/// heights; the hello weight is informational for Lotus, which ranks by ParentWeight).
const DEFAULT_POWER_LOG2: u64 = 49;

/// Settings of [`run_follow`].
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// The network name of the genesis Init actor (`testnetnet` on mainnet): the gossip topic
    /// is `/fil/blocks/<network_name>`.
    pub network_name: String,
    /// The genesis tipset. Hellos with another genesis drop the peer.
    pub genesis: TipSet,
    pub listen: Vec<Multiaddr>,
    /// Peers dialed at start and redialed with backoff while disconnected.
    pub bootstrap: Vec<Multiaddr>,
    /// Peer heads before the first sync target (Lotus `BootstrapPeerThreshold`; 4 on mainnet).
    pub bootstrap_peers_threshold: usize,
    /// Journal directory and format; the journal is rolled on start like Lotus's.
    pub journal: JournalConfig,
    /// Lotus-format log file (appended); `None` writes no log.
    pub log_path: Option<PathBuf>,
    pub golog: GoLogConfig,
    /// Stop by itself after this long.
    pub run_for: Option<Duration>,
    /// The follower's tunables. `genesis_timestamp` and `bootstrap_peer_threshold` are taken
    /// from `genesis` and `bootstrap_peers_threshold`.
    pub follower: FollowerConfig,
    /// Our identity; a fresh ed25519 key when `None`.
    pub keypair: Option<Keypair>,
    /// Most connected peers; connections beyond are closed (bootstrap peers always stay).
    pub max_peers: usize,
    /// First and longest wait between redials of a disconnected bootstrap peer (doubling).
    pub redial_backoff: (Duration, Duration),
    /// Period of the follower's `Tick`, journal fsync checks, redials and status updates.
    pub tick: Duration,
    pub timeouts: NodeTimeouts,
    /// Resume from the last head in the journal directory (see [`crate::p2p::resume`]).
    pub resume: bool,
    /// How long to wait for a peer to serve the saved head before anchoring by `anchor`.
    pub resume_timeout: Duration,
    /// Where a run that does not resume starts its chain.
    pub anchor: AnchorRule,
    /// How long to collect peer heads for [`AnchorRule::Recent`] / [`AnchorRule::Height`]
    /// when fewer than `bootstrap_peers_threshold` peers announced one.
    pub anchor_wait: Duration,
    /// Receives a [`FollowStatus`] on every tick and head change.
    pub status: Option<watch::Sender<FollowStatus>>,
    /// Told of every head change and first sighting as it is journaled (e.g. metrics).
    pub observer: Option<std::sync::Arc<dyn FollowObserver>>,
    /// A gossiped block's messages are asked of one peer at a time, each given this long
    /// (Lotus's "slow" threshold), from at most `msg_fetch_tries` peers.
    pub msg_fetch_try_timeout: Duration,
    pub msg_fetch_tries: usize,
    /// Bytes of recent blocks' messages kept to serve peers (`GetFullTipSet`).
    pub message_cache_bytes: usize,
}

/// Where a run that does not resume its journal starts its chain (the follower syncs nothing
/// below its anchor, and its first head change goes from the anchor to the peers' head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorRule {
    /// The heaviest head the peers announce (hello or gossip), the fork-length limit (900
    /// tipsets) below it; genesis while the chain is no longer than that. A late joiner of a
    /// network that has run for years fetches the window a reorg can reach and nothing more.
    Recent,
    /// Genesis: the whole chain.
    Genesis,
    /// The tipset at this height (or the one below it, across null rounds) on the heaviest
    /// chain the peers announce, found by walking back from its head.
    Height(i64),
    /// This tipset, fetched by key from the peers.
    Tipset(TipSetKey),
}

/// Where a run anchored its chain, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorInfo {
    pub height: i64,
    pub key: Vec<Cid>,
    pub reason: String,
    /// The peers' head the anchor was derived from, if one was.
    pub peer_head: Option<(i64, Vec<Cid>)>,
}

/// What a follower reports as it happens, beside the journal: for histograms that status
/// snapshots cannot carry (each reorg's depth, each block's delay).
pub trait FollowObserver: Send + Sync + std::fmt::Debug {
    /// A head change was journaled.
    fn head_change(&self, _change: &lsync_core::HeadChange) {}
    /// A block's first sighting was journaled.
    fn block_seen(&self, _miner: &str, _delay_ms: i64) {}
}

impl FollowConfig {
    /// Lotus's defaults for the rest.
    pub fn new(network_name: impl Into<String>, genesis: TipSet, journal_dir: PathBuf) -> Self {
        let genesis_timestamp = genesis.min_timestamp();
        Self {
            network_name: network_name.into(),
            genesis,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            bootstrap_peers_threshold: crate::follower::BOOTSTRAP_PEER_THRESHOLD,
            journal: JournalConfig::new(journal_dir),
            log_path: None,
            golog: GoLogConfig::default(),
            run_for: None,
            follower: FollowerConfig::new(genesis_timestamp),
            keypair: None,
            max_peers: 64,
            redial_backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            tick: Duration::from_millis(250),
            timeouts: NodeTimeouts::default(),
            resume: true,
            resume_timeout: Duration::from_secs(30),
            anchor: AnchorRule::Recent,
            anchor_wait: Duration::from_secs(10),
            status: None,
            observer: None,
            msg_fetch_try_timeout: Duration::from_secs(3),
            msg_fetch_tries: 3,
            message_cache_bytes: 16 << 20,
        }
    }
}

/// A live view for a status line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowStatus {
    pub local_peer_id: String,
    pub listen_addrs: Vec<Multiaddr>,
    pub peers: usize,
    pub head_height: i64,
    pub head: Vec<Cid>,
    /// Wall clock minus the start of the head's epoch (genesis + height × block delay), ms.
    pub lag_ms: i64,
    /// Head changes by class (a widening reverts one tipset but is not a reorg).
    pub head_changes: ClassCounts,
    /// Still waiting for a peer to serve the saved head.
    pub resuming: bool,
    /// Still choosing where the chain starts (peers' heads, the walk back to the anchor).
    pub anchoring: bool,
    /// Where this run's chain starts, once chosen.
    pub anchor: Option<AnchorInfo>,
    /// Peers dropped because their hello named another genesis.
    pub genesis_mismatches: u64,
    pub gossip_accepted: u64,
    pub gossip_ignored: u64,
    pub gossip_rejected: u64,
    /// Gossiped blocks dropped (rejected or ignored), by reason.
    pub dropped_by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Gossiped blocks whose messages were fetched, and whose fetch failed.
    pub messages_fetched: u64,
    pub message_fetch_failures: u64,
    /// Hello heads whose peer could not give the messages, asked again for headers only.
    pub full_fetch_fallbacks: u64,
    /// Each bootstrap address: connected now, failed dials, the last failure's reason.
    pub bootstrap: Vec<BootstrapStatus>,
}

/// Where one bootstrap address stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapStatus {
    pub addr: String,
    pub connected: bool,
    pub failures: u64,
    pub last_failure: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowStats {
    pub head_height: i64,
    pub head: Vec<Cid>,
    /// Head changes by class.
    pub head_changes: ClassCounts,
    pub refused_heads: u64,
    pub gossip_accepted: u64,
    pub gossip_ignored: u64,
    pub gossip_rejected: u64,
    /// Gossiped blocks dropped (rejected or ignored), by [`Dropped::reason`].
    pub dropped_by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Failed dials of bootstrap addresses.
    pub dial_failures: u64,
    /// Gossiped blocks whose miner had already published another block at their height.
    pub equivocations: u64,
    pub blocks_seen: u64,
    pub log_lines: u64,
    pub fetches: u64,
    pub fetch_failures: u64,
    /// Blocks whose messages were fetched and checked (gossiped ones, with none counted as
    /// fetched, and the blocks of hello heads), and blocks whose messages could not be had or
    /// did not check.
    pub messages_fetched: u64,
    pub message_fetch_failures: u64,
    /// Hello heads whose peer could not give the messages, asked again for headers only.
    pub full_fetch_fallbacks: u64,
    pub xchg_served: u64,
    pub hellos_received: u64,
    /// Peers dropped because their hello named another genesis.
    pub genesis_mismatches: u64,
    /// The saved head the run resumed from, if any.
    pub resumed_from: Option<(i64, Vec<Cid>)>,
    /// Where the chain starts (the resumed head, genesis, or a recent tipset), and why.
    pub anchor: Option<AnchorInfo>,
    /// Gossipsub's score of every peer met, as last seen while it was connected (negative:
    /// penalised, e.g. for invalid messages; below −2,500 its messages are ignored).
    pub peer_scores: std::collections::BTreeMap<String, f64>,
    /// Peers connected at the end.
    pub peers_at_end: usize,
    /// Connections this follower closed itself (over the peer limit, or a peer on another
    /// network); peers that left on their own are not counted.
    pub connections_closed: u64,
}

#[derive(Debug, Error)]
pub enum FollowError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("log file {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    #[error("reading the journal to resume: {0}")]
    Resume(io::Error),
}

/// The cause of a failed dial in one line: libp2p nests the same error several times over
/// ("Failed to negotiate transport protocol(s): [(addr: : Multiple dial errors occurred: …");
/// the innermost source says what happened (`Connection refused (os error 111)`, `DNS error:
/// no records found …`, a handshake or peer-id mismatch).
fn dial_reason(error: &libp2p::swarm::DialError) -> String {
    fn innermost(e: &dyn std::error::Error) -> String {
        let mut cur = e;
        while let Some(next) = cur.source() {
            cur = next;
        }
        cur.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
    }
    let mut reasons: Vec<String> = match error {
        libp2p::swarm::DialError::Transport(errors) => errors.iter().map(|(_, e)| innermost(e)).collect(),
        other => vec![innermost(other)],
    };
    reasons.dedup();
    reasons.join("; ")
}

/// Follow the chain until `shutdown` completes (or `run_for` passes), then flush the pending
/// first-seen records, the log and the journal, and return what happened.
pub async fn run_follow(
    cfg: FollowConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<FollowStats, FollowError> {
    let saved = if cfg.resume {
        last_journal_head(&cfg.journal.dir).map_err(FollowError::Resume)?
    } else {
        None
    };
    let mut driver = Driver::new(cfg, saved)?;
    let deadline = driver.cfg.run_for.map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(driver.cfg.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = async { match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => futures::future::pending().await,
            } } => break,
            event = driver.swarm.select_next_some() => driver.on_swarm_event(event)?,
            _ = ticker.tick() => driver.on_tick()?,
        }
    }
    driver.finish()
}

/// Where a bootstrap address stands.
#[derive(Debug)]
struct Bootstrap {
    addr: Multiaddr,
    peer: Option<PeerId>,
    connected: bool,
    next_dial: Instant,
    backoff: Duration,
    /// Failed dials so far, and the last reason.
    failures: u64,
    last_failure: Option<String>,
}

/// A chain-exchange request in flight.
#[derive(Debug)]
enum Pending {
    /// For the follower.
    Fetch(RequestId),
    /// For the follower, headers and messages: kept whole so that, if the peer cannot give the
    /// messages, the headers alone can be asked for.
    FullFetch(crate::follower::FetchRequest),
    /// For choosing the anchor (the saved head, a named tipset, or a walk back from a head).
    Anchor,
    /// The messages of a gossiped block.
    Messages(Cid),
}

/// Fetching a gossiped block's messages (Lotus's `HandleIncomingBlocks`, over chain exchange
/// rather than bitswap): the delivering peer first, then others; the block goes to the
/// follower once they are had (or given up on).
#[derive(Debug)]
struct MsgFetch {
    bls: Vec<Cid>,
    secpk: Vec<Cid>,
    /// The peer that delivered the block (the first-seen record credits it).
    source: PeerId,
    started: Instant,
    /// The request in flight and when it was sent.
    attempt: Option<(OutboundRequestId, Instant)>,
    tried: Vec<PeerId>,
    last_error: Option<String>,
}

/// A head a peer announced (hello) or implied (a gossiped block), for choosing an anchor.
#[derive(Debug, Clone)]
struct PeerHead {
    key: TipSetKey,
    height: i64,
    /// The hello's chain weight; for a gossiped block its ParentWeight (a little less than
    /// its tipset's weight, which is all a header tells).
    weight: num_bigint::BigInt,
}

/// Before the follower exists: choosing where its chain starts. Inputs wait in `queued` with
/// their times and are replayed to the follower once it starts.
struct Anchoring {
    rule: AnchorRule,
    /// The rule's tipset is the journal's last head (a restart); when no peer serves it by
    /// `resume_until`, the run anchors by the configured rule instead.
    resume: Option<SavedHead>,
    resume_until: Instant,
    /// Said before the reason in the anchor record (e.g. why a resume was given up).
    note: Option<String>,
    heads: HashMap<PeerId, PeerHead>,
    /// When to choose from fewer heads than the bootstrap threshold.
    decide_at: Instant,
    /// The walk back from a chosen head: its peer, the head, requests so far.
    walk: Option<(PeerId, PeerHead)>,
    /// The key the walk's request in flight starts at (the head's, then each stretch's
    /// oldest parents).
    walk_next: Option<TipSetKey>,
    /// Peers asked for a tipset by key, or whose walk failed (not chosen again this round).
    asked: HashSet<PeerId>,
    queued: Vec<Input>,
}

impl Anchoring {
    /// Remember the head an input tells of: a hello's, or a gossiped block's.
    fn note_head(&mut self, event: &InputEvent) {
        let (peer, head) = match event {
            InputEvent::Hello { peer, message } if !message.heaviest_tipset.is_empty() => (
                peer,
                PeerHead {
                    key: message.heaviest_tipset.clone(),
                    height: message.heaviest_tipset_height,
                    weight: message.heaviest_tipset_weight.clone(),
                },
            ),
            InputEvent::GossipBlock { peer, cid, header, .. } | InputEvent::GossipArrived { peer, cid, header, .. } => (
                peer,
                PeerHead { key: TipSetKey::new(vec![*cid]), height: header.height, weight: header.parent_weight.clone() },
            ),
            _ => return,
        };
        let Ok(peer) = PeerId::from_str(peer) else { return };
        let better = self
            .heads
            .get(&peer)
            .is_none_or(|old| (&head.weight, head.height) > (&old.weight, old.height));
        if better {
            self.heads.insert(peer, head);
        }
    }
}

enum State {
    Anchoring(Box<Anchoring>),
    Running(Box<Follower>),
}

struct Driver {
    cfg: FollowConfig,
    swarm: Swarm<NodeBehaviour>,
    topic: gossipsub::TopicHash,
    genesis_cid: Cid,
    state: State,
    journal: JournalWriter,
    log: Option<GoLogWriter<BufWriter<std::fs::File>>>,
    /// Tipsets we serve over chain exchange: genesis/anchor and every applied tipset.
    held: HashMap<TipSetKey, TipSet>,
    pending: HashMap<OutboundRequestId, Pending>,
    bootstrap: Vec<Bootstrap>,
    /// Dials in flight to bootstrap addresses (index into `bootstrap`), to name a failure.
    dialing: HashMap<libp2p::swarm::ConnectionId, usize>,
    /// Peers on another network: never redialed, disconnected on sight.
    banned: HashSet<PeerId>,
    hello_sent: HashSet<PeerId>,
    /// Messages of recent gossiped blocks (served over chain exchange).
    messages: super::msg_cache::MessageCache,
    fetching: HashMap<Cid, MsgFetch>,
    stats: FollowStats,
}

impl Driver {
    fn new(mut cfg: FollowConfig, saved: Option<SavedHead>) -> Result<Self, FollowError> {
        cfg.follower.genesis_timestamp = cfg.genesis.min_timestamp();
        cfg.follower.bootstrap_peer_threshold = cfg.bootstrap_peers_threshold.max(1);
        let key = cfg
            .keypair
            .clone()
            .unwrap_or_else(Keypair::generate_ed25519);
        let mut swarm = build_swarm(key, &cfg.network_name, cfg.timeouts)?;
        for addr in &cfg.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| FollowError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        let journal = JournalWriter::open(cfg.journal.clone(), now_nanos())?;
        let log = match &cfg.log_path {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| FollowError::Log {
                        path: path.clone(),
                        source,
                    })?;
                Some(GoLogWriter::new(BufWriter::new(file), cfg.golog))
            }
            None => None,
        };
        let now = Instant::now();
        let bootstrap = cfg
            .bootstrap
            .iter()
            .map(|addr| Bootstrap {
                addr: addr.clone(),
                peer: addr.iter().find_map(|p| match p {
                    Protocol::P2p(id) => Some(id),
                    _ => None,
                }),
                connected: false,
                next_dial: now,
                backoff: cfg.redial_backoff.0,
                failures: 0,
                last_failure: None,
            })
            .collect();
        let genesis_cid = cfg.genesis.cids()[0];
        let mut held = HashMap::new();
        held.insert(cfg.genesis.key().clone(), cfg.genesis.clone());
        let stats = FollowStats::default();
        let saved = saved.filter(|s| s.height > 0);
        let rule = match &saved {
            Some(saved) => AnchorRule::Tipset(saved.key.clone()),
            None => cfg.anchor.clone(),
        };
        let state = State::Anchoring(Box::new(Anchoring {
            rule,
            resume: saved,
            resume_until: now + cfg.resume_timeout,
            note: None,
            heads: HashMap::new(),
            decide_at: now + cfg.anchor_wait,
            walk: None,
            walk_next: None,
            asked: HashSet::new(),
            queued: Vec::new(),
        }));
        let cfg_message_cache = cfg.message_cache_bytes;
        let mut driver = Self {
            topic: blocks_topic(&cfg.network_name).hash(),
            cfg,
            swarm,
            genesis_cid,
            state,
            journal,
            log,
            held,
            pending: HashMap::new(),
            bootstrap,
            dialing: HashMap::new(),
            banned: HashSet::new(),
            hello_sent: HashSet::new(),
            messages: super::msg_cache::MessageCache::new(cfg_message_cache),
            fetching: HashMap::new(),
            stats,
        };
        driver.redial();
        driver.advance_anchoring()?;
        Ok(driver)
    }

    fn head(&self) -> &TipSet {
        match &self.state {
            State::Running(f) => f.head(),
            State::Anchoring(_) => &self.cfg.genesis,
        }
    }

    /// Feed one input to the follower (or queue it while resuming) and apply the actions.
    fn feed(&mut self, event: InputEvent) -> Result<(), FollowError> {
        self.feed_at(now_ms(), event)
    }

    /// [`feed`](Self::feed) with the time the event happened (a gossiped block's arrival,
    /// read before validation so that hashing its message lists does not delay first-seen).
    fn feed_at(&mut self, at_ms: i64, event: InputEvent) -> Result<(), FollowError> {
        let input = Input::new(at_ms, event);
        let follower = match &mut self.state {
            State::Anchoring(a) => {
                a.note_head(&input.event);
                a.queued.push(input);
                return self.advance_anchoring();
            }
            State::Running(f) => f,
        };
        match follower.handle(input) {
            Ok(actions) => self.apply(actions),
            Err(FollowerError::GenesisMismatch { peer, .. }) => {
                if let Ok(peer) = PeerId::from_str(&peer) {
                    self.ban(peer);
                }
                Ok(())
            }
            // An answer after the follower's own timeout: nothing waits for it.
            Err(FollowerError::UnknownRequest(_)) => Ok(()),
        }
    }

    fn apply(&mut self, actions: Vec<Action>) -> Result<(), FollowError> {
        let mut status_due = false;
        let mut followups = Vec::new();
        for action in actions {
            match action {
                Action::Fetch(request) => followups.extend(self.send_fetch(request)),
                Action::HeadChange(change) => {
                    let now = now_nanos();
                    self.journal.write_head_change(now, &change)?;
                    // The full path of every head change (extensions included), so a reader
                    // can rebuild the canonical chain and the orphans from the journal alone.
                    self.journal.write_reorg_path(now, &change)?;
                    let domain = change.change();
                    self.stats.head_changes.add(domain.class());
                    if let Some(o) = &self.cfg.observer {
                        o.head_change(&domain);
                    }
                    for ts in &change.apply {
                        self.held.insert(ts.key().clone(), ts.clone());
                    }
                    self.prune_held(change.to.height());
                    status_due = true;
                }
                Action::HeadRefused(_) => self.stats.refused_heads += 1,
                Action::Log(event) => {
                    if let Some(log) = &mut self.log {
                        let written =
                            log.write_event(&event).map_err(|source| FollowError::Log {
                                path: self.cfg.log_path.clone().unwrap_or_default(),
                                source,
                            })?;
                        self.stats.log_lines += u64::from(written);
                    }
                }
                Action::BlockSeen(record) => {
                    self.journal.write_block_seen(now_nanos(), &record)?;
                    self.stats.blocks_seen += 1;
                    if let Some(o) = &self.cfg.observer {
                        o.block_seen(&record.miner.to_string(), record.delay_ms);
                    }
                }
            }
        }
        if status_due {
            self.publish_status();
        }
        for event in followups {
            self.feed(event)?;
        }
        Ok(())
    }

    /// Keep serving only what a reorg can reach: tipsets at most the fork-length limit below
    /// the head (and genesis). Pruned in bulk, so the map stays between one and two windows.
    fn prune_held(&mut self, head_height: i64) {
        let window = self.cfg.follower.fork_length_limit as usize;
        if self.held.len() <= 2 * window + 64 {
            return;
        }
        let lowest = head_height - window as i64;
        self.held.retain(|_, ts| ts.height() >= lowest || ts.height() == 0);
    }

    /// Send a chain-exchange request for the follower; if it cannot be sent, the failure to
    /// feed back (the follower treats it like any failed request).
    fn send_fetch(&mut self, request: crate::follower::FetchRequest) -> Option<InputEvent> {
        self.stats.fetches += 1;
        let peer = match PeerId::from_str(&request.peer) {
            Ok(p) if self.swarm.is_connected(&p) => p,
            _ => {
                self.stats.fetch_failures += 1;
                let error = FetchError::Stream(format!("peer {} is not connected", request.peer));
                return Some(InputEvent::FetchFailed {
                    request: request.id,
                    error,
                });
            }
        };
        let wire = Request {
            head: request.head.cids().to_vec(),
            length: request.length,
            options: if request.with_messages { Request::HEADERS | Request::MESSAGES } else { Request::HEADERS },
        };
        let id = self.swarm.behaviour_mut().xchg.send_request(&peer, wire);
        let pending = if request.with_messages { Pending::FullFetch(request) } else { Pending::Fetch(request.id) };
        self.pending.insert(id, pending);
        None
    }

    fn hello_message(&self) -> HelloMessage {
        let head = self.head();
        let power_log2 = match &self.state {
            State::Running(f) => f.power_log2().unwrap_or(DEFAULT_POWER_LOG2),
            State::Anchoring(_) => DEFAULT_POWER_LOG2,
        };
        HelloMessage {
            heaviest_tipset: head.key().clone(),
            heaviest_tipset_height: head.height(),
            heaviest_tipset_weight: tipset_weight(head, power_log2),
            genesis_hash: self.genesis_cid,
        }
    }

    fn ban(&mut self, peer: PeerId) {
        self.stats.genesis_mismatches += 1;
        self.banned.insert(peer);
        self.stats.connections_closed += 1;
        let _ = self.swarm.disconnect_peer_id(peer);
        self.publish_status();
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) -> Result<(), FollowError> {
        match event {
            SwarmEvent::NewListenAddr { .. } => self.publish_status(),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.dialing.remove(&connection_id);
                if self.banned.contains(&peer_id) {
                    self.stats.connections_closed += 1;
                    self.swarm.close_connection(connection_id);
                    return Ok(());
                }
                let remote = endpoint.get_remote_address().clone();
                let mut is_bootstrap = false;
                for b in &mut self.bootstrap {
                    if b.peer == Some(peer_id) || (b.peer.is_none() && b.addr == remote) {
                        b.peer = Some(peer_id);
                        b.connected = true;
                        b.backoff = self.cfg.redial_backoff.0;
                        is_bootstrap = true;
                    }
                }
                let peers = self.swarm.connected_peers().count();
                if num_established.get() > 2 || (!is_bootstrap && peers > self.cfg.max_peers) {
                    self.stats.connections_closed += 1;
                    self.swarm.close_connection(connection_id);
                }
                self.publish_status();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.hello_sent.remove(&peer_id);
                let now = Instant::now();
                for b in &mut self.bootstrap {
                    if b.peer == Some(peer_id) && b.connected {
                        b.connected = false;
                        b.next_dial = now + b.backoff;
                    }
                }
                self.publish_status();
            }
            SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                // The redial schedule was set when dialing; the failure is recorded and
                // published so that the user hears of it now, not when the timeout expires.
                if let Some(i) = self.dialing.remove(&connection_id) {
                    let b = &mut self.bootstrap[i];
                    b.failures += 1;
                    b.last_failure = Some(dial_reason(&error));
                    self.stats.dial_failures += 1;
                    self.publish_status();
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event)?,
            _ => {}
        }
        Ok(())
    }

    fn on_behaviour(&mut self, event: NodeBehaviourEvent) -> Result<(), FollowError> {
        match event {
            NodeBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let received_ns = now_nanos();
                let received_ms = received_ns.div_euclid(1_000_000);
                let heights = match &self.state {
                    State::Running(f) => Some((
                        f.head().height() - f.config().fork_length_limit as i64,
                        f.config().max_allowed_height(now_ms()),
                    )),
                    // No head yet, so no lower bound; the clock's upper bound holds anyway.
                    State::Anchoring(_) => Some((1, self.cfg.follower.max_allowed_height(now_ms()))),
                };
                let window = GossipWindow { heights, now_secs: Some((received_ms / 1000) as u64) };
                let verdict = if message.topic != self.topic {
                    BlockVerdict::Reject(Dropped::new("topic", format!("unexpected topic {}", message.topic)))
                } else {
                    check_block_msg(&message.data, window)
                };
                let acceptance = match &verdict {
                    BlockVerdict::Accept { .. } => MessageAcceptance::Accept,
                    BlockVerdict::Ignore(_) => MessageAcceptance::Ignore,
                    BlockVerdict::Reject(_) => MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                match verdict {
                    BlockVerdict::Accept { cid, header, bls, secpk } => {
                        self.stats.gossip_accepted += 1;
                        self.on_gossip_accepted(propagation_source, received_ns, cid, header, bls, secpk)?;
                    }
                    BlockVerdict::Ignore(why) => {
                        self.stats.gossip_ignored += 1;
                        *self.stats.dropped_by_reason.entry(why.reason).or_default() += 1;
                        self.publish_status();
                    }
                    BlockVerdict::Reject(why) => {
                        self.stats.gossip_rejected += 1;
                        *self.stats.dropped_by_reason.entry(why.reason).or_default() += 1;
                        self.publish_status();
                    }
                }
            }
            NodeBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let hello = StreamProtocol::new(HELLO_PROTOCOL);
                if info.protocols.contains(&hello)
                    && !self.banned.contains(&peer_id)
                    && self.hello_sent.insert(peer_id)
                {
                    let message = self.hello_message();
                    self.swarm
                        .behaviour_mut()
                        .hello
                        .send_request(&peer_id, message);
                }
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
                self.stats.hellos_received += 1;
                if request.genesis_hash != self.genesis_cid {
                    // Lotus closes the connection without answering.
                    self.ban(peer);
                    return Ok(());
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
                self.feed(InputEvent::Hello {
                    peer: peer.to_string(),
                    message: request,
                })?;
            }
            NodeBehaviourEvent::Xchg(request_response::Event::Message {
                peer, message, ..
            }) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let follower = match &self.state {
                        State::Running(f) => Some(f.as_ref()),
                        State::Anchoring(_) => None,
                    };
                    let (held, messages) = (&self.held, &self.messages);
                    let response = serve_xchg(
                        &request,
                        |key| held.get(key).cloned().or_else(|| follower.and_then(|f| f.tipset(key))),
                        |block| messages.get(block),
                    );
                    self.stats.xchg_served += 1;
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .xchg
                        .send_response(channel, response);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(Pending::Messages(block)) = self.pending.get(&request_id) {
                        let block = *block;
                        self.pending.remove(&request_id);
                        return self.on_messages(block, request_id, Ok(response));
                    }
                    if !response.status.is_success() && matches!(self.pending.get(&request_id), Some(Pending::FullFetch(_))) {
                        // Lotus's hello would give up on this head; an observer still wants
                        // it, and a peer that synced it without gossip (an lsync follower,
                        // say) has its headers but no messages. Ask again for the headers.
                        if let Some(Pending::FullFetch(request)) = self.pending.remove(&request_id) {
                            self.stats.full_fetch_fallbacks += 1;
                            let headers_only = crate::follower::FetchRequest { with_messages: false, ..request };
                            if let Some(event) = self.send_fetch(headers_only) {
                                self.feed(event)?;
                            }
                        }
                        return Ok(());
                    }
                    let result = if response.status.is_success() {
                        self.keep_fetched_messages(&response.chain);
                        response
                            .chain
                            .into_iter()
                            .map(|bs| TipSet::new(bs.blocks))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| FetchError::Stream(format!("bad tipset: {e}")))
                    } else {
                        Err(FetchError::Status {
                            status: response.status.code(),
                            message: response.error_message,
                        })
                    };
                    self.on_fetch_result(peer, request_id, result)?;
                }
            },
            NodeBehaviourEvent::Xchg(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                let error = match error {
                    request_response::OutboundFailure::Timeout => FetchError::Timeout,
                    other => FetchError::Stream(other.to_string()),
                };
                if let Some(Pending::Messages(block)) = self.pending.get(&request_id) {
                    let block = *block;
                    self.pending.remove(&request_id);
                    return self.on_messages(block, request_id, Err(error));
                }
                self.on_fetch_result(peer, request_id, Err(error))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn on_fetch_result(
        &mut self,
        peer: PeerId,
        id: OutboundRequestId,
        result: Result<Vec<TipSet>, FetchError>,
    ) -> Result<(), FollowError> {
        let request = match self.pending.remove(&id) {
            Some(Pending::Fetch(request)) => request,
            Some(Pending::FullFetch(request)) => request.id,
            Some(Pending::Anchor) => return self.on_anchor_fetched(peer, result),
            // Answered in `on_messages`.
            Some(Pending::Messages(_)) | None => return Ok(()),
        };
        let event = match result {
            Ok(tipsets) => InputEvent::ChainFetched { request, tipsets },
            Err(error) => {
                self.stats.fetch_failures += 1;
                InputEvent::FetchFailed { request, error }
            }
        };
        self.feed(event)
    }

    /// One more step towards an anchor: on a restart ask the peers for the saved head (and
    /// give up on it after `resume_timeout`); for a named tipset ask the peers for it; for a
    /// recent tipset or a height, once enough peers announced heads, walk back from the
    /// heaviest one. Does nothing once the follower runs.
    fn advance_anchoring(&mut self) -> Result<(), FollowError> {
        let State::Anchoring(a) = &mut self.state else {
            return Ok(());
        };
        let now = Instant::now();
        if let Some(saved) = a.resume.as_ref().filter(|_| now >= a.resume_until) {
            a.note = Some(format!(
                "no peer served the journal's last head (height {}, {}) within {} s",
                saved.height,
                saved.key,
                self.cfg.resume_timeout.as_secs()
            ));
            a.resume = None;
            a.rule = self.cfg.anchor.clone();
            a.asked.clear();
            a.walk = None;
        }
        let limit = self.cfg.follower.fork_length_limit;
        match a.rule.clone() {
            AnchorRule::Genesis => {
                let genesis = self.cfg.genesis.clone();
                self.start_follower(genesis, Vec::new(), "genesis (--anchor genesis)".into(), None)
            }
            AnchorRule::Tipset(key) => {
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                for peer in peers {
                    if a.asked.insert(peer) {
                        let wire = Request { head: key.cids().to_vec(), length: 1, options: Request::HEADERS };
                        let id = self.swarm.behaviour_mut().xchg.send_request(&peer, wire);
                        self.pending.insert(id, Pending::Anchor);
                    }
                }
                Ok(())
            }
            AnchorRule::Recent | AnchorRule::Height(_) => {
                if a.walk.is_some() {
                    return Ok(());
                }
                let enough = a.heads.len() >= self.cfg.bootstrap_peers_threshold.max(1)
                    || (now >= a.decide_at && !a.heads.is_empty());
                if !enough {
                    return Ok(());
                }
                let highest_allowed = self.cfg.follower.max_allowed_height(now_ms());
                let swarm = &self.swarm;
                let best = |a: &Anchoring| {
                    a.heads
                        .iter()
                        .filter(|(p, h)| !a.asked.contains(*p) && h.height <= highest_allowed && swarm.is_connected(p))
                        .max_by(|x, y| (&x.1.weight, x.1.height).cmp(&(&y.1.weight, y.1.height)))
                        .map(|(p, h)| (*p, h.clone()))
                };
                let chosen = match best(a) {
                    Some(c) => Some(c),
                    None => {
                        // Every peer with a head failed to serve its chain: a new round.
                        a.asked.clear();
                        best(a)
                    }
                };
                let Some((peer, head)) = chosen else { return Ok(()) };
                let length = match a.rule {
                    AnchorRule::Height(h) if h <= 0 => 0,
                    AnchorRule::Height(h) if h >= head.height => 1,
                    AnchorRule::Height(h) => u64::try_from(head.height - h + 1).unwrap_or(1).min(limit),
                    _ if head.height <= limit as i64 => 0,
                    _ => limit,
                };
                if length == 0 {
                    let reason = match a.rule {
                        AnchorRule::Height(h) => format!("genesis (--anchor {h})"),
                        _ => format!(
                            "genesis: the peers' head (height {}) is within the {limit}-tipset fork limit of it",
                            head.height
                        ),
                    };
                    let genesis = self.cfg.genesis.clone();
                    let peer_head = Some((head.height, head.key.cids().to_vec()));
                    return self.start_follower(genesis, Vec::new(), reason, peer_head);
                }
                a.asked.insert(peer);
                a.walk = Some((peer, head.clone()));
                let wire = Request { head: head.key.cids().to_vec(), length, options: Request::HEADERS };
                let id = self.swarm.behaviour_mut().xchg.send_request(&peer, wire);
                self.pending.insert(id, Pending::Anchor);
                Ok(())
            }
        }
    }

    /// A chain-exchange answer while anchoring.
    fn on_anchor_fetched(&mut self, peer: PeerId, result: Result<Vec<TipSet>, FetchError>) -> Result<(), FollowError> {
        let State::Anchoring(a) = &mut self.state else {
            return Ok(());
        };
        match a.rule.clone() {
            AnchorRule::Tipset(key) => {
                let Ok(tipsets) = result else { return Ok(()) };
                let Some(anchor) = tipsets.into_iter().next().filter(|t| *t.key() == key) else {
                    return Ok(());
                };
                let reason = match a.resume.take() {
                    Some(saved) => {
                        self.stats.resumed_from = Some((saved.height, saved.key.cids().to_vec()));
                        "the journal's last head (a restart continues the journal)".to_string()
                    }
                    None => "the tipset --anchor names".to_string(),
                };
                self.start_follower(anchor, Vec::new(), reason, None)
            }
            AnchorRule::Recent | AnchorRule::Height(_) => {
                let Some((walk_peer, head)) = a.walk.clone().filter(|(p, _)| *p == peer) else {
                    return Ok(());
                };
                let requested = a.walk_next.take().unwrap_or_else(|| head.key.clone());
                let tipsets = match result.and_then(|t| {
                    crate::follower::check_chain(&requested, u64::MAX, &t).map_err(FetchError::Stream)?;
                    Ok(t)
                }) {
                    Ok(t) => t,
                    Err(_) => {
                        // Another peer's head is tried on the next tick.
                        a.walk = None;
                        a.walk_next = None;
                        return Ok(());
                    }
                };
                let limit = self.cfg.follower.fork_length_limit;
                let peer_head = Some((head.height, head.key.cids().to_vec()));
                match a.rule {
                    AnchorRule::Height(h) => {
                        if let Some(at) = tipsets.iter().position(|t| t.height() <= h) {
                            let mut tipsets = tipsets;
                            let anchor = tipsets.swap_remove(at);
                            tipsets.truncate(at);
                            let reason = format!(
                                "the tipset at height {h} (or the one below, across null rounds) on the heaviest chain the peers announced (height {}, from {walk_peer})",
                                head.height
                            );
                            return self.start_follower(anchor, tipsets, reason, peer_head);
                        }
                        let last = tipsets.last().expect("a checked chain is not empty");
                        if last.height() == 0 {
                            let genesis = self.cfg.genesis.clone();
                            return self.start_follower(genesis, Vec::new(), format!("genesis (--anchor {h})"), peer_head);
                        }
                        // Further down: the next stretch from the oldest tipset's parents.
                        let next = last.parents().clone();
                        let length = u64::try_from(last.height() - h).unwrap_or(1).clamp(1, limit);
                        a.walk_next = Some(next.clone());
                        let wire = Request { head: next.cids().to_vec(), length, options: Request::HEADERS };
                        let id = self.swarm.behaviour_mut().xchg.send_request(&peer, wire);
                        self.pending.insert(id, Pending::Anchor);
                        Ok(())
                    }
                    _ => {
                        let mut tipsets = tipsets;
                        let anchor = tipsets.pop().expect("a checked chain is not empty");
                        let reason = if anchor.height() == 0 {
                            "genesis: the peers' chain is no longer than the fork limit".to_string()
                        } else {
                            format!(
                                "{limit} tipsets (the fork-length limit) below the heaviest head the peers announced (height {}, from {walk_peer})",
                                head.height
                            )
                        };
                        self.start_follower(anchor, tipsets, reason, peer_head)
                    }
                }
            }
            AnchorRule::Genesis => Ok(()),
        }
    }

    /// Start the follower at `anchor` with the tipsets above it already fetched (`preload`),
    /// journal where and why, then replay what arrived meanwhile.
    fn start_follower(
        &mut self,
        anchor: TipSet,
        preload: Vec<TipSet>,
        reason: String,
        peer_head: Option<(i64, Vec<Cid>)>,
    ) -> Result<(), FollowError> {
        let State::Anchoring(a) = &mut self.state else {
            return Ok(());
        };
        let queued = std::mem::take(&mut a.queued);
        let reason = match a.note.take() {
            Some(note) => format!("{note}; anchored at {reason}"),
            None => reason,
        };
        self.held.insert(anchor.key().clone(), anchor.clone());
        let info = AnchorInfo {
            height: anchor.height(),
            key: anchor.cids().to_vec(),
            reason: reason.clone(),
            peer_head: peer_head.clone(),
        };
        self.journal.write_anchor(
            now_nanos(),
            &crate::journal::AnchorData {
                tipset: anchor.key().clone(),
                height: anchor.height(),
                reason,
                peer_head: peer_head.map(|(height, cids)| crate::journal::PathTipSet { key: TipSetKey::new(cids), height }),
            },
        )?;
        self.stats.anchor = Some(info);
        let mut follower = Follower::new(self.cfg.follower.clone(), anchor, now_ms());
        follower.preload(&preload);
        self.state = State::Running(Box::new(follower));
        for input in queued {
            let State::Running(f) = &mut self.state else {
                break;
            };
            match f.handle(input) {
                Ok(actions) => self.apply(actions)?,
                Err(FollowerError::GenesisMismatch { peer, .. }) => {
                    if let Ok(peer) = PeerId::from_str(&peer) {
                        self.ban(peer);
                    }
                }
                Err(FollowerError::UnknownRequest(_)) => {}
            }
        }
        self.publish_status();
        Ok(())
    }

    /// A block passed the gossip checks: hand it to the follower, then fetch its messages
    /// (unless it has none, or they are had or on their way already).
    fn on_gossip_accepted(
        &mut self,
        source: PeerId,
        arrived_ns: i64,
        cid: Cid,
        header: Box<lsync_core::chain::BlockHeader>,
        bls: Vec<Cid>,
        secpk: Vec<Cid>,
    ) -> Result<(), FollowError> {
        // The block goes to the follower as it arrives (first-seen, then a candidate head);
        // its messages follow.
        let known = self.fetching.contains_key(&cid) || self.messages.contains(&cid);
        self.feed_at(arrived_ns.div_euclid(1_000_000), InputEvent::GossipArrived { peer: source.to_string(), cid, header, arrived_ns })?;
        if known {
            return Ok(());
        }
        if bls.is_empty() && secpk.is_empty() {
            // Nothing to fetch: done at once, as Lotus's fetch of no messages is.
            self.messages.insert(cid, std::sync::Arc::new(lsync_core::chain::BlockMessages::default()));
            self.stats.messages_fetched += 1;
            return self.feed(InputEvent::MessagesFetched {
                peer: source.to_string(),
                cid,
                msg_fetch: Duration::ZERO,
                msg_fetch_error: None,
            });
        }
        self.fetching.insert(
            cid,
            MsgFetch {
                bls,
                secpk,
                source,
                started: Instant::now(),
                attempt: None,
                tried: Vec::new(),
                last_error: None,
            },
        );
        self.try_msg_fetch(cid)
    }

    /// Ask the next peer for `block`'s messages: the one that delivered it, then any other
    /// connected one; after `msg_fetch_tries` peers (or with nobody left) give up.
    fn try_msg_fetch(&mut self, block: Cid) -> Result<(), FollowError> {
        let Some(fetch) = self.fetching.get_mut(&block) else { return Ok(()) };
        let next = if fetch.tried.len() >= self.cfg.msg_fetch_tries {
            None
        } else if !fetch.tried.contains(&fetch.source) && self.swarm.is_connected(&fetch.source) {
            Some(fetch.source)
        } else {
            self.swarm.connected_peers().find(|p| !fetch.tried.contains(p)).copied()
        };
        let Some(peer) = next else {
            let error = fetch.last_error.clone().unwrap_or_else(|| "no connected peer to ask".into());
            return self.finish_msg_fetch(block, Err(error));
        };
        fetch.tried.push(peer);
        let wire = Request { head: vec![block], length: 1, options: Request::MESSAGES };
        let id = self.swarm.behaviour_mut().xchg.send_request(&peer, wire);
        fetch.attempt = Some((id, Instant::now()));
        self.pending.insert(id, Pending::Messages(block));
        Ok(())
    }

    /// A peer's answer to a messages request: the block's messages, exactly the ones its
    /// BlockMsg named (so, through `validateMsgMeta`, its header's), or the next peer.
    fn on_messages(
        &mut self,
        block: Cid,
        id: OutboundRequestId,
        result: Result<lsync_core::chain::Response, FetchError>,
    ) -> Result<(), FollowError> {
        let Some(fetch) = self.fetching.get_mut(&block) else { return Ok(()) };
        if fetch.attempt.map(|(a, _)| a) != Some(id) {
            return Ok(());
        }
        fetch.attempt = None;
        let got = result.map_err(|e| e.to_string()).and_then(|r| {
            if !r.status.is_success() {
                return Err(format!("status {}: {}", r.status.code(), r.error_message));
            }
            let compacted = r
                .chain
                .into_iter()
                .next()
                .and_then(|t| t.messages)
                .ok_or_else(|| "no messages in the response".to_string())?;
            let messages = compacted.block(0).map_err(|e| e.to_string())?;
            if messages.matches(&fetch.bls, &fetch.secpk) {
                Ok(messages)
            } else {
                Err("the messages are not the ones the block names".to_string())
            }
        });
        match got {
            Ok(messages) => self.finish_msg_fetch(block, Ok(messages)),
            Err(e) => {
                fetch.last_error = Some(e);
                self.try_msg_fetch(block)
            }
        }
    }

    /// Keep the messages a full-tipset answer carried (a hello head's), each block's only if
    /// they hash to its header's `Messages` — Lotus's `validateMsgMeta` over the compacted
    /// lists — so what is served on is that block's and nothing a peer made up. Blocks whose
    /// messages do not check are counted and left without; their headers go on as fetched.
    fn keep_fetched_messages(&mut self, chain: &[lsync_core::chain::BSTipSet]) {
        for bs in chain {
            let Some(compacted) = &bs.messages else { continue };
            for (i, header) in bs.blocks.iter().enumerate() {
                let Ok(cid) = header.cid() else { continue };
                if self.messages.get(&cid).is_some() {
                    continue;
                }
                let checked = compacted.block(i).ok().filter(|m| {
                    m.cids()
                        .ok()
                        .and_then(|(bls, secpk)| lsync_core::chain::MsgMeta::from_lists(&bls, &secpk).ok())
                        .and_then(|meta| meta.cid().ok())
                        == Some(header.messages)
                });
                match checked {
                    Some(messages) => {
                        self.messages.insert(cid, std::sync::Arc::new(messages));
                        self.stats.messages_fetched += 1;
                    }
                    None => self.stats.message_fetch_failures += 1,
                }
            }
        }
    }

    /// Keep the messages (if had) and hand the block to the follower.
    fn finish_msg_fetch(&mut self, block: Cid, result: Result<lsync_core::chain::BlockMessages, String>) -> Result<(), FollowError> {
        let Some(fetch) = self.fetching.remove(&block) else { return Ok(()) };
        let error = match result {
            Ok(messages) => {
                self.messages.insert(block, std::sync::Arc::new(messages));
                self.stats.messages_fetched += 1;
                None
            }
            Err(e) => {
                self.stats.message_fetch_failures += 1;
                Some(e)
            }
        };
        self.feed(InputEvent::MessagesFetched {
            peer: fetch.source.to_string(),
            cid: block,
            msg_fetch: fetch.started.elapsed(),
            msg_fetch_error: error,
        })
    }

    /// Message fetches whose try outlived its timeout move on to the next peer.
    fn expire_msg_fetches(&mut self) -> Result<(), FollowError> {
        let limit = self.cfg.msg_fetch_try_timeout;
        let stale: Vec<(Cid, OutboundRequestId)> = self
            .fetching
            .iter()
            .filter_map(|(cid, f)| f.attempt.filter(|(_, at)| at.elapsed() >= limit).map(|(id, _)| (*cid, id)))
            .collect();
        for (block, id) in stale {
            self.pending.remove(&id);
            if let Some(f) = self.fetching.get_mut(&block) {
                f.attempt = None;
                f.last_error = Some(format!("no answer within {} ms", limit.as_millis()));
            }
            self.try_msg_fetch(block)?;
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<(), FollowError> {
        self.redial();
        self.note_scores();
        self.expire_msg_fetches()?;
        if matches!(self.state, State::Anchoring(_)) {
            self.advance_anchoring()?;
        } else {
            self.feed(InputEvent::Tick)?;
        }
        self.journal.sync_if_due(now_nanos())?;
        self.publish_status();
        Ok(())
    }

    /// The scores of the peers connected now (kept after they leave).
    fn note_scores(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            if let Some(score) = self.swarm.behaviour().gossipsub.peer_score(&peer) {
                self.stats.peer_scores.insert(peer.to_string(), score);
            }
        }
    }

    fn redial(&mut self) {
        let now = Instant::now();
        for (i, b) in self.bootstrap.iter_mut().enumerate() {
            if b.connected || now < b.next_dial || b.peer.is_some_and(|p| self.banned.contains(&p))
            {
                continue;
            }
            if b.peer.is_some_and(|p| self.swarm.is_connected(&p)) {
                b.connected = true;
                continue;
            }
            // A failed dial is retried after the backoff, which doubles up to its cap.
            let opts = libp2p::swarm::dial_opts::DialOpts::from(b.addr.clone());
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    self.dialing.insert(id, i);
                }
                Err(e) => {
                    b.failures += 1;
                    b.last_failure = Some(dial_reason(&e));
                    self.stats.dial_failures += 1;
                }
            }
            b.next_dial = now + b.backoff;
            b.backoff = (b.backoff * 2).min(self.cfg.redial_backoff.1);
        }
    }

    fn status(&self) -> FollowStatus {
        let head = self.head();
        let follower = &self.cfg.follower;
        let epoch_start_ms = (follower.genesis_timestamp as i64
            + head.height() * follower.block_delay_secs as i64)
            * 1000;
        FollowStatus {
            local_peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: self.swarm.listeners().cloned().collect(),
            peers: self.swarm.connected_peers().count(),
            head_height: head.height(),
            head: head.cids().to_vec(),
            lag_ms: now_ms() - epoch_start_ms,
            head_changes: self.stats.head_changes,
            resuming: matches!(&self.state, State::Anchoring(a) if a.resume.is_some()),
            anchoring: matches!(self.state, State::Anchoring(_)),
            anchor: self.stats.anchor.clone(),
            genesis_mismatches: self.stats.genesis_mismatches,
            gossip_accepted: self.stats.gossip_accepted,
            gossip_ignored: self.stats.gossip_ignored,
            gossip_rejected: self.stats.gossip_rejected,
            dropped_by_reason: self.stats.dropped_by_reason.clone(),
            messages_fetched: self.stats.messages_fetched,
            message_fetch_failures: self.stats.message_fetch_failures,
            full_fetch_fallbacks: self.stats.full_fetch_fallbacks,
            bootstrap: self
                .bootstrap
                .iter()
                .map(|b| BootstrapStatus {
                    addr: b.addr.to_string(),
                    connected: b.connected,
                    failures: b.failures,
                    last_failure: b.last_failure.clone(),
                })
                .collect(),
        }
    }

    fn publish_status(&self) {
        if let Some(tx) = &self.cfg.status {
            tx.send_replace(self.status());
        }
    }

    /// Flush everything a stop must not lose and return the stats.
    fn finish(mut self) -> Result<FollowStats, FollowError> {
        // Blocks still waiting for their messages were seen all the same.
        let waiting: Vec<Cid> = self.fetching.keys().copied().collect();
        for block in waiting {
            self.finish_msg_fetch(block, Err("stopped before the messages arrived".into()))?;
        }
        if let State::Running(f) = &mut self.state {
            let pending = f.flush_first_seen();
            self.stats.equivocations = f.equivocations();
            self.apply(pending)?;
        }
        if let Some(log) = &mut self.log {
            log.flush().map_err(|source| FollowError::Log {
                path: self.cfg.log_path.clone().unwrap_or_default(),
                source,
            })?;
        }
        self.journal.sync_now(now_nanos())?;
        self.stats.peers_at_end = self.swarm.connected_peers().count();
        self.note_scores();
        let head = self.head().clone();
        self.stats.head_height = head.height();
        self.stats.head = head.cids().to_vec();
        self.publish_status();
        Ok(self.stats)
    }
}
