//! What comes out of the follower: requests for the network, head changes for the journal,
//! typed log events for the Lotus-format log, and per-block first-seen records.

use std::time::Duration;

use cid::Cid;
use lsync_core::chain::{Address, TipSet, TipSetKey};

use super::input::{PeerId, RequestId};

/// One thing the driver must do or record, in the order the follower decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask `peer` for headers over chain exchange (`GetBlocks`: Options = Headers).
    Fetch(FetchRequest),
    /// The head moved: the path Lotus's reorg worker computed; its summary
    /// ([`HeadPath::change`]) is the `sync:head_change` journal record.
    HeadChange(HeadPath),
    /// A heavier tipset was refused; Lotus does this silently (no log, no journal record).
    HeadRefused(HeadRefusal),
    /// A pipeline event for the Lotus-format log.
    Log(LogEvent),
    /// A block's first gossip sighting, final once its duplicate window closed.
    BlockSeen(FirstSeenRecord),
}

/// A chain-exchange request: `length` tipsets, newest first, starting at `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub id: RequestId,
    pub peer: PeerId,
    pub head: TipSetKey,
    pub length: u64,
    /// Ask for the tipsets' messages too (headers and messages, Lotus's `GetFullTipSet`): the
    /// fetch of a hello's announced head, as Lotus's hello service makes it, so the head a
    /// peer announced can be served whole to the next peer that asks for it.
    pub with_messages: bool,
}

/// The path of a head switch, as Lotus's reorg worker computes it: the tipsets reverted and
/// applied around the fork point. The head change itself — counts and class — is the domain
/// [`lsync_core::HeadChange`] that [`HeadPath::change`] returns; nothing here re-derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadPath {
    pub from: TipSet,
    pub to: TipSet,
    /// Old-chain tipsets above the common ancestor, old head first (`RevertCount` = len).
    pub revert: Vec<TipSet>,
    /// New-chain tipsets above the common ancestor, new head first (`ApplyCount` = len).
    pub apply: Vec<TipSet>,
    /// The common ancestor: in neither list.
    pub fork_point: TipSetKey,
    pub fork_point_height: i64,
}

impl HeadPath {
    /// The head change this path makes: what the journal records and what is classified.
    pub fn change(&self) -> lsync_core::HeadChange {
        let names = |k: &TipSetKey| k.cids().iter().map(|c| c.to_string()).collect();
        lsync_core::HeadChange {
            from: names(self.from.key()),
            from_height: self.from.height(),
            to: names(self.to.key()),
            to_height: self.to.height(),
            revert_count: self.revert_count() as i64,
            apply_count: self.apply_count() as i64,
        }
    }

    pub fn revert_count(&self) -> usize {
        self.revert.len()
    }

    pub fn apply_count(&self) -> usize {
        self.apply.len()
    }
}

/// Why a heavier tipset did not become the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRefusal {
    pub head: TipSetKey,
    pub candidate: TipSetKey,
    pub candidate_height: i64,
    pub reason: RefusalReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// Adopting it would revert `fork_length_limit` (900) or more of our tipsets.
    ForkTooLong,
}

/// Which of Lotus's sync-manager call sites picked a target; each logs from its own line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetSelection {
    /// `selected initial sync target` (handlePeerHead, after the bootstrap threshold).
    Initial,
    /// `selected sync target` from handlePeerHead (a new head).
    PeerHead,
    /// `selected sync target` from handleWorkerStatus (the next target after a worker).
    AfterWorker,
    /// `selected deferred sync target` (handleInitialSyncDone, on the minute ticker).
    Deferred,
}

/// A typed pipeline event; `golog` turns it into Lotus's exact line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// Unix milliseconds of the input that caused it.
    pub at_ms: i64,
    pub kind: LogKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LogKind {
    SelectedTarget {
        selection: TargetSelection,
        target: TipSetKey,
    },
    WorkerStart {
        worker: u64,
        target: TipSetKey,
    },
    WorkerDone {
        worker: u64,
        took: Duration,
    },
    SyncError {
        target: TipSetKey,
        error: String,
    },
    NewHeaviest {
        tipset: TipSetKey,
        height: i64,
    },
    /// `new block over pubsub` (DEBUG in Lotus; lsync always writes it, see `golog`).
    BlockOverPubsub {
        block: Cid,
        peer: PeerId,
        msg_fetch: Duration,
    },
    SlowMsgFetch {
        block: Cid,
        peer: PeerId,
        msg_fetch: Duration,
    },
    /// `failed to fetch all bls messages for block received over pubsub: {error}; source: {peer}`.
    MsgFetchFailed {
        peer: PeerId,
        error: String,
    },
    /// `delay_secs` = whole seconds of the clock after the message fetch − header timestamp.
    BlockDelay {
        block: Cid,
        delay_secs: i64,
        miner: Address,
    },
    /// `weight tie broken in favour of {winner} against {loser}`; `candidate_won` tells which
    /// of Lotus's two lines (the new tipset won, or the current head kept its place).
    TieBroken {
        winner: TipSetKey,
        loser: TipSetKey,
        candidate_won: bool,
    },
    OutsideConsensusRange {
        height: i64,
    },
    BadBlock {
        block: Cid,
        reason: String,
    },
}

/// Everything lsync knows about a block's first appearance on gossip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSeenRecord {
    pub cid: Cid,
    pub height: i64,
    pub miner: Address,
    /// Unix milliseconds of the first delivery.
    pub first_seen_ms: i64,
    /// The same instant in Unix nanoseconds (as precise as the driver's clock read).
    pub first_seen_ns: i64,
    /// The peer that delivered it first.
    pub peer: PeerId,
    /// Further deliveries within the settle window.
    pub duplicates: u32,
    /// First arrival − header timestamp, in milliseconds (negative for a clock running behind).
    pub delay_ms: i64,
    /// The same in nanoseconds.
    pub delay_ns: i64,
    /// How long the block's messages took to fetch, when the driver fetched them.
    pub msg_fetch: Option<Duration>,
    /// The block of the same miner at the same height seen before this one, if any: the miner
    /// equivocated. Both blocks get their record; this one is flagged.
    pub equivocates: Option<Cid>,
}
