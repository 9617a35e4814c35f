//! Typed failures: why a sync worker failed (its text goes into Lotus's `error during sync in
//! [..]: <err>` line), and why the follower refused an input outright.

use cid::Cid;
use lsync_core::chain::{ChainWalkError, TipSetKey};
use thiserror::Error;

use super::input::{FetchError, PeerId, RequestId};

/// Why a worker could not sync its target.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyncFailure {
    #[error("chain linked to block marked previously as bad ({block}) (reason: {reason})")]
    LinkedToBadBlock { block: Cid, reason: String },
    #[error("block {block} has wrong timestamp: expected {expected}, got {found}")]
    WrongTimestamp {
        block: Cid,
        expected: u64,
        found: u64,
    },
    #[error("block {block} at height {height} is not above its parent at height {parent_height}")]
    HeightNotIncreasing {
        block: Cid,
        height: i64,
        parent_height: i64,
    },
    /// The chain went down to our anchor's height without meeting it: another genesis, or a
    /// fork older than the tipset we were started from.
    #[error("chain reached {tipset} at or below our anchor height {anchor_height} without joining our chain")]
    BelowAnchor {
        tipset: TipSetKey,
        anchor_height: i64,
    },
    /// The fork would need tipsets deeper than the fork-length limit below our head (Lotus's
    /// `ErrForkTooLong` from syncFork).
    #[error("fork longer than threshold: needs tipsets at height {needed_height}, more than {limit} below our head at {head_height}")]
    ForkTooLong {
        needed_height: i64,
        head_height: i64,
        limit: u64,
    },
    #[error("failed to fetch {key} from {peer}: {error}")]
    Fetch {
        key: TipSetKey,
        peer: PeerId,
        error: FetchError,
    },
    #[error("peer {peer} answered the request for {key} with a bad chain: {problem}")]
    BadResponse {
        key: TipSetKey,
        peer: PeerId,
        problem: String,
    },
    #[error("walking the chain for the head change: {0}")]
    ChainWalk(#[from] ChainWalkError),
}

/// An input the follower refused without changing its state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FollowerError {
    /// A fetch answer or failure for a request that is not outstanding (answered twice, or
    /// after its timeout).
    #[error("no outstanding request {0}")]
    UnknownRequest(RequestId),
    /// A hello from another network; Lotus drops the connection.
    #[error("peer {peer} announced genesis {theirs}, ours is {ours}")]
    GenesisMismatch {
        peer: PeerId,
        theirs: Box<Cid>,
        ours: Box<Cid>,
    },
}
