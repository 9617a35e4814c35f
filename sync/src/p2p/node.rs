//! The libp2p node both the follower driver and the devnet miners run: TCP + Noise + Yamux,
//! identify, ping, gossipsub configured as Lotus's network expects, and the hello and
//! chain-exchange request-response protocols (lotus-facts §4). Also the pure pieces around it:
//! the gossip validator and the chain-exchange server logic.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use cid::Cid;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, noise, ping, tcp, yamux, StreamProtocol, Swarm};
use lsync_core::chain::cbor::blake2b_256;
use lsync_core::chain::{
    BSTipSet, BlockHeader, BlockMessages, BlockMsg, CompactedMessages, Request, Response, ResponseStatus, TipSet,
    TipSetKey,
};
use thiserror::Error;

use super::codec::{HelloCodec, XchgCodec, HELLO_PROTOCOL, XCHG_PROTOCOL};

/// Lotus's gossipsub size cap (`DefaultMaxMessageSize`): a block message over it is rejected.
pub const MAX_GOSSIP_BYTES: usize = 1 << 20;

/// The largest gossipsub frame read whole. Larger than [`MAX_GOSSIP_BYTES`] on purpose: an
/// oversize message under this is read, rejected by the validator (`oversize`, the sender
/// penalised) and the peer's stream goes on; a frame the codec refused would close our inbound
/// stream from that peer instead (go-libp2p-pubsub resets it above 1 MiB, and then drops the
/// peer from its pubsub until it reconnects). Bounded so that a peer costs at most this much
/// memory per frame.
pub const MAX_GOSSIP_FRAME_BYTES: usize = 4 << 20;

/// The block topic of a network: `/fil/blocks/<network name>`.
pub fn blocks_topic(network_name: &str) -> IdentTopic {
    IdentTopic::new(format!("/fil/blocks/{network_name}"))
}

/// Why a node could not be built.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error("transport setup: {0}")]
    Transport(String),
    #[error("gossipsub setup: {0}")]
    Gossipsub(String),
    #[error("cannot subscribe to {topic}: {reason}")]
    Subscribe { topic: String, reason: String },
}

/// Timeouts of a node's request-response protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimeouts {
    /// Whole hello exchange (Lotus: 10 s write + 10 s read).
    pub hello: Duration,
    /// Whole chain-exchange request (Lotus gives the response 60 s).
    pub xchg: Duration,
    /// Connections with no stream open are closed after this.
    pub idle_connection: Duration,
}

impl Default for NodeTimeouts {
    fn default() -> Self {
        Self {
            hello: Duration::from_secs(20),
            xchg: Duration::from_secs(60),
            idle_connection: Duration::from_secs(120),
        }
    }
}

/// Everything a Filecoin peer needs to talk to Lotus nodes about blocks.
#[derive(NetworkBehaviour)]
pub struct NodeBehaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub hello: request_response::Behaviour<HelloCodec>,
    pub xchg: request_response::Behaviour<XchgCodec>,
}

/// Gossipsub as Lotus and Forest run it: message id = blake2b-256 of the data, strict signing,
/// 1 MiB messages, flood publishing, and manual validation so that the application's verdict
/// (accept / ignore / reject) decides forwarding and peer scores.
fn gossipsub_behaviour(
    key: &Keypair,
    topic: &IdentTopic,
    max_frame: usize,
) -> Result<gossipsub::Behaviour, NodeError> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(blake2b_256(&m.data).to_vec()))
        .max_transmit_size(max_frame)
        .flood_publish(true)
        .history_length(10)
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(12)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .map_err(|e| NodeError::Gossipsub(e.to_string()))?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| NodeError::Gossipsub(e.to_string()))?;
    // Lotus's block-topic scoring (lotus-facts §4.3), the parts that matter for a header-only
    // peer: first deliveries earn, invalid ones cost 1000 each and decay over about an hour.
    // Mesh-delivery penalties stay off (a quiet network must not look like a bad peer), and
    // loopback is exempt from IP colocation so a local devnet is not graylisted.
    let topic_params = TopicScoreParams {
        topic_weight: 0.1,
        first_message_deliveries_weight: 5.0,
        first_message_deliveries_decay: 0.998,
        first_message_deliveries_cap: 100.0,
        invalid_message_deliveries_weight: -1000.0,
        invalid_message_deliveries_decay: 0.9994,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        ip_colocation_factor_threshold: 5.0,
        ip_colocation_factor_weight: -100.0,
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        retain_score: Duration::from_secs(6 * 3600),
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -500.0,
        publish_threshold: -1000.0,
        graylist_threshold: -2500.0,
        accept_px_threshold: 1000.0,
        opportunistic_graft_threshold: 3.5,
    };
    behaviour
        .with_peer_score(params, thresholds)
        .map_err(NodeError::Gossipsub)?;
    behaviour
        .subscribe(topic)
        .map_err(|e| NodeError::Subscribe {
            topic: topic.to_string(),
            reason: e.to_string(),
        })?;
    Ok(behaviour)
}

/// Build a node with `key`, subscribed to the block topic of `network_name`. The caller listens
/// and dials.
pub fn build_swarm(
    key: Keypair,
    network_name: &str,
    timeouts: NodeTimeouts,
) -> Result<Swarm<NodeBehaviour>, NodeError> {
    build_swarm_with_frame_limit(key, network_name, timeouts, MAX_GOSSIP_FRAME_BYTES)
}

/// [`build_swarm`] with another gossipsub frame limit (tests build peers that send more than
/// an honest one would).
pub fn build_swarm_with_frame_limit(
    key: Keypair,
    network_name: &str,
    timeouts: NodeTimeouts,
    max_frame: usize,
) -> Result<Swarm<NodeBehaviour>, NodeError> {
    let topic = blocks_topic(network_name);
    let mut built: Option<NodeError> = None;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NodeError::Transport(e.to_string()))?
        .with_dns()
        .map_err(|e| NodeError::Transport(e.to_string()))?
        .with_behaviour(|key| {
            let gossipsub = match gossipsub_behaviour(key, &topic, max_frame) {
                Ok(g) => g,
                Err(e) => {
                    let text = e.to_string();
                    built = Some(e);
                    return Err(text.into());
                }
            };
            Ok(NodeBehaviour {
                gossipsub,
                identify: identify::Behaviour::new(
                    identify::Config::new("ipfs/0.1.0".to_string(), key.public())
                        .with_agent_version(format!("lsync/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new()),
                hello: request_response::Behaviour::new(
                    [(StreamProtocol::new(HELLO_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(timeouts.hello),
                ),
                xchg: request_response::Behaviour::new(
                    [(StreamProtocol::new(XCHG_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(timeouts.xchg),
                ),
            })
        })
        .map_err(|e| {
            built
                .take()
                .unwrap_or_else(|| NodeError::Transport(e.to_string()))
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(timeouts.idle_connection))
        .build();
    Ok(swarm)
}

/// Why a gossiped block was dropped: a short code for counters and metrics, and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// `oversize`, `undecodable`, `limits`, `msg_meta`, `height`, `topic`, `encoding` (rejections);
    /// `consensus_range`, `from_the_future` (ignored).
    pub reason: &'static str,
    pub detail: String,
}

impl Dropped {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The verdict on one gossiped block, reported to gossipsub's manual validation.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockVerdict {
    /// Well-formed and in range: deliver and forward. `bls` and `secpk` are the message lists
    /// the BlockMsg named (checked against the header), for fetching the messages.
    Accept { cid: Cid, header: Box<BlockHeader>, bls: Vec<Cid>, secpk: Vec<Cid> },
    /// Well-formed but outside the consensus range or ahead of the clock: drop without
    /// penalty (Lotus ignores these; a skewed clock is not malice).
    Ignore(Dropped),
    /// Garbage or a lie: drop and penalise the sender (gossipsub's P₄).
    Reject(Dropped),
}

/// Lotus `AllowableClockDriftSecs`: how far a block's timestamp may be ahead of the clock.
pub const ALLOWABLE_CLOCK_DRIFT_SECS: u64 = 1;

/// What a block is checked against besides itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipWindow {
    /// The consensus range of heights (inclusive), when the follower knows its head.
    pub heights: Option<(i64, i64)>,
    /// The clock, Unix seconds; `None` skips the "from the future" check.
    pub now_secs: Option<u64>,
}

/// Lotus's pubsub block validation, the stateless part: `DecodeBlockMsg` (exact tuple, no
/// trailing bytes, canonical header), `decodeAndCheckBlock` (a BlockSig, ≤ 10,000 messages),
/// `validateMsgMeta` (the two message lists hash to the header's `Messages`), a height above
/// genesis, the consensus range, and a timestamp no more than [`ALLOWABLE_CLOCK_DRIFT_SECS`]
/// ahead of the clock. The CID is the blake2b-256 of the canonical header bytes, which the
/// canonical check makes equal to the bytes the miner published.
pub fn check_block_msg(data: &[u8], window: GossipWindow) -> BlockVerdict {
    let reject = |reason, detail: String| BlockVerdict::Reject(Dropped::new(reason, detail));
    if data.len() > MAX_GOSSIP_BYTES {
        return reject("oversize", format!("{} bytes, over Lotus's {MAX_GOSSIP_BYTES}", data.len()));
    }
    let msg = match BlockMsg::decode(data) {
        Ok(m) => m,
        Err(e) => return reject("undecodable", format!("undecodable BlockMsg: {e}")),
    };
    if let Err(e) = msg.check_pubsub_limits() {
        return reject("limits", e.to_string());
    }
    if msg.header.height <= 0 {
        return reject("height", format!("gossiped block at height {}", msg.header.height));
    }
    let cid = match msg.header.cid() {
        Ok(c) => c,
        Err(e) => return reject("encoding", format!("cannot encode header: {e}")),
    };
    if let Some((low, high)) = window.heights {
        if msg.header.height < low || msg.header.height > high {
            return BlockVerdict::Ignore(Dropped::new(
                "consensus_range",
                format!("height {} outside the consensus range {low}..={high}", msg.header.height),
            ));
        }
    }
    // Lotus `validateMsgMeta`: lists that are not the header's are a lie about the block. Last
    // of the stateless checks: it hashes the lists, the others are comparisons.
    if let Err(e) = msg.check_msg_meta() {
        return reject("msg_meta", format!("{cid}: {e}"));
    }
    if let Some(now) = window.now_secs {
        if msg.header.timestamp > now + ALLOWABLE_CLOCK_DRIFT_SECS {
            return BlockVerdict::Ignore(Dropped::new(
                "from_the_future",
                format!("{cid}: timestamp {} is {} s ahead of the clock", msg.header.timestamp, msg.header.timestamp - now),
            ));
        }
    }
    BlockVerdict::Accept {
        cid,
        header: Box::new(msg.header),
        bls: msg.bls_messages,
        secpk: msg.secpk_messages,
    }
}

/// Lotus's chain-exchange server (`chain/exchange/server.go`): validate, then walk from the
/// requested head back through parents, newest first, stopping at `length` tipsets or genesis
/// (Ok) or where `lookup` knows no more (Partial). With the Messages option each tipset
/// carries its blocks' messages compacted as Lotus's `gatherMessages` does; a tipset whose
/// messages `messages` does not hold ends the chain there (a peer keeps the messages of the
/// blocks it fetched them for), and when that is the first one the answer is InternalError,
/// as Lotus's is when its store lacks a message — never an empty (false) message set.
pub fn serve_xchg(
    request: &Request,
    lookup: impl Fn(&TipSetKey) -> Option<TipSet>,
    messages: impl Fn(&Cid) -> Option<std::sync::Arc<BlockMessages>>,
) -> Response {
    let fail = |status, text: String| Response {
        status,
        error_message: text,
        chain: Vec::new(),
    };
    if let Err(e) = request.validate() {
        return fail(ResponseStatus::BadRequest, e.to_string());
    }
    let mut key = TipSetKey::new(request.head.clone());
    let mut chain = Vec::new();
    let mut missing: Option<Cid> = None;
    let mut reached_genesis = false;
    while (chain.len() as u64) < request.length {
        let Some(ts) = lookup(&key) else { break };
        let compacted = if request.wants_messages() {
            let held: Result<Vec<_>, Cid> = ts.cids().iter().map(|c| messages(c).ok_or(*c)).collect();
            let held = match held {
                Ok(h) => h,
                Err(cid) => {
                    missing = Some(cid);
                    break;
                }
            };
            let refs: Vec<&BlockMessages> = held.iter().map(|m| m.as_ref()).collect();
            match CompactedMessages::from_blocks(&refs) {
                Ok(c) => Some(c),
                Err(e) => return fail(ResponseStatus::InternalError, format!("compacting messages of {}: {e}", ts.key())),
            }
        } else {
            None
        };
        key = ts.parents().clone();
        let at_genesis = ts.height() == 0;
        chain.push(BSTipSet {
            blocks: if request.wants_headers() { ts.blocks().to_vec() } else { Vec::new() },
            messages: compacted,
        });
        if at_genesis {
            reached_genesis = true;
            break;
        }
    }
    if chain.is_empty() {
        return match missing {
            Some(cid) => fail(
                ResponseStatus::InternalError,
                format!("gathering messages: the messages of block {cid} are not held by this peer"),
            ),
            None => fail(
                ResponseStatus::NotFound,
                format!("not found: {}", TipSetKey::new(request.head.clone())),
            ),
        };
    }
    let complete = chain.len() as u64 == request.length || reached_genesis;
    Response {
        status: if complete {
            ResponseStatus::Ok
        } else {
            ResponseStatus::Partial
        },
        error_message: String::new(),
        chain,
    }
}

/// Unix time now, in milliseconds and nanoseconds: the driver's only clock.
pub fn now_ms() -> i64 {
    now_nanos() / 1_000_000
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod gossip_tests;
