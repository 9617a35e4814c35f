//! What goes into the follower: everything the network and the clock tell it.

use std::time::Duration;

use cid::Cid;
use lsync_core::chain::{BlockHeader, HelloMessage, TipSet, TipSetKey};
use num_bigint::BigInt;
use thiserror::Error;

/// A libp2p peer ID in its text form (`12D3KooW…`). The follower only compares and reports it.
pub type PeerId = String;

/// Identifies one chain-exchange request the follower asked for, so its answer (or failure)
/// can be matched back to the worker or hello that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One input with the time it happened. Every input carries `now_ms` (Unix milliseconds): the
/// follower has no clock of its own, so a test or a replay decides what time it is.
#[derive(Debug, Clone)]
pub struct Input {
    pub now_ms: i64,
    pub event: InputEvent,
}

impl Input {
    pub fn new(now_ms: i64, event: InputEvent) -> Self {
        Self { now_ms, event }
    }

    pub fn tick(now_ms: i64) -> Self {
        Self::new(now_ms, InputEvent::Tick)
    }
}

/// The kinds of input.
#[derive(Debug, Clone)]
pub enum InputEvent {
    /// A peer's hello (`/fil/hello/1.0.0`). Like Lotus's hello service, the follower ignores
    /// height 0 and a different genesis, and otherwise fetches the announced tipset from that
    /// peer before treating it as a peer head.
    Hello { peer: PeerId, message: HelloMessage },
    /// A peer head whose tipset is already at hand (e.g. fetched by the driver, or a head learnt
    /// through JSON-RPC). Goes straight to InformNewHead.
    PeerHead { peer: PeerId, tipset: TipSet },
    /// A block received over gossipsub (`/fil/blocks/<netname>`), handed over as Lotus's
    /// `HandleIncomingBlocks` does once its messages were fetched. `cid` is trusted to be the
    /// header's CID (the driver got both from `BlockHeader::decode_with_cid`).
    /// `arrived_ns` is when it arrived (Unix ns; `None`: at the input's time), the first-seen
    /// time; `msg_fetch` how long the message fetch took (zero when the driver fetched none);
    /// Lotus measures lateness after that fetch and warns about slow ones. `msg_fetch_error`
    /// says why the messages could not be had: Lotus then drops the block, the follower logs
    /// Lotus's error and keeps it (an observer records what it saw). (The header is boxed: it
    /// is most of the input's size.)
    GossipBlock {
        peer: PeerId,
        cid: Cid,
        header: Box<BlockHeader>,
        arrived_ns: Option<i64>,
        msg_fetch: Duration,
        msg_fetch_error: Option<String>,
    },
    /// A gossiped block as it arrives, before its messages: first-seen bookkeeping and
    /// InformNewBlock at once, so the head follows the network without waiting on a peer's
    /// answer (lsync is an observer; Lotus waits for the messages, then executes the state).
    /// The fetch's outcome follows as [`InputEvent::MessagesFetched`]. `GossipBlock` is both
    /// in one, in Lotus's order.
    GossipArrived {
        peer: PeerId,
        cid: Cid,
        header: Box<BlockHeader>,
        arrived_ns: i64,
    },
    /// How fetching an arrived block's messages went: Lotus's `new block over pubsub` line
    /// (with `msgfetch`), the slow-fetch and lateness warnings, or the fetch error.
    MessagesFetched {
        peer: PeerId,
        cid: Cid,
        msg_fetch: Duration,
        msg_fetch_error: Option<String>,
    },
    /// The answer to [`crate::follower::FetchRequest`] `request`: tipsets newest first, as
    /// chain exchange returns them.
    ChainFetched {
        request: RequestId,
        tipsets: Vec<TipSet>,
    },
    /// The request failed or timed out in the driver.
    FetchFailed {
        request: RequestId,
        error: FetchError,
    },
    /// The driver found a block invalid (e.g. a bad signature or message root); it joins the
    /// bad-block cache with the reason Lotus would log.
    MarkBad { cid: Cid, reason: String },
    /// Time passes: drives the sync manager's minute ticker, fetch timeouts and the settling of
    /// first-seen records.
    Tick,
}

/// Why a chain-exchange request produced no chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    #[error("request timed out")]
    Timeout,
    /// A non-success chain-exchange status (201 NotFound, 202 GoAway, 203, 204) and its text.
    #[error("peer answered status {status}: {message}")]
    Status { status: u64, message: String },
    #[error("stream error: {0}")]
    Stream(String),
}

/// A peer head announced in a hello, before its tipset has been fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedHead {
    pub key: TipSetKey,
    pub height: i64,
    /// Full chain weight of the head, as the hello states it (informational; Lotus ranks
    /// candidates by ParentWeight after fetching them).
    pub weight: BigInt,
}

impl From<&HelloMessage> for AnnouncedHead {
    fn from(m: &HelloMessage) -> Self {
        Self {
            key: m.heaviest_tipset.clone(),
            height: m.heaviest_tipset_height,
            weight: m.heaviest_tipset_weight.clone(),
        }
    }
}
