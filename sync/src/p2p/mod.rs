//! lsync's libp2p side: a follower driver speaking Lotus's block protocols.
//!
//! - [`frame`] — reading exactly one DAG-CBOR item off a stream, bounded, without waiting for
//!   the peer to half-close;
//! - [`codec`] — request-response codecs for `/fil/hello/1.0.0` and `/fil/chain/xchg/0.0.1`;
//! - [`node`] — the swarm (TCP + Noise + Yamux, identify, ping, gossipsub as Lotus runs it),
//!   the gossip block validator and the chain-exchange server;
//! - [`driver`] — [`run_follow`]: network events in, follower actions out, journal and log;
//! - [`resume`] — reading the last journaled head back on restart;
//! - [`genesis`] — fetching a network's genesis header from its peers by CID.

pub mod codec;
pub mod driver;
pub mod frame;
pub mod genesis;
pub mod msg_cache;
pub mod node;
pub mod resume;

pub use driver::{run_follow, AnchorInfo, AnchorRule, BootstrapStatus, FollowConfig, FollowError, FollowStats, FollowStatus};
pub use genesis::{fetch_genesis, GenesisFetchError};
/// Re-exported so callers need no libp2p dependency of their own to build configurations.
pub use libp2p::Multiaddr;
pub use node::{blocks_topic, check_block_msg, BlockVerdict, Dropped, GossipWindow, NodeError, NodeTimeouts};
pub use resume::{last_journal_head, SavedHead};
