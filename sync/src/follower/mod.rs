//! The sans-IO chain follower: Lotus's block pipeline (InformNewHead → sync manager → workers →
//! chain store → reorg worker) as a state machine. Inputs go in with the time they happened;
//! actions come out. No sockets, no clock, no threads: a driver owns the network and the files
//! and replays the actions, and tests feed forks and fragments directly (the Forest design).
//!
//! What a "worker" is here: an outstanding sync of one target. It asks the target's peer for
//! the missing headers (chain-exchange `GetBlocks`), newest first, until the chain joins a
//! tipset we have validated; then the target is put into the store, which expands it with
//! every known block of its height and parents and takes it as head if it is heavier. Head
//! changes carry the revert/apply lists of lsync-core's `reorg_ops`, so their counts are the
//! ones Lotus journals (extension 0/1, widening 1/1, null rounds add nothing).
//!
//! Deliberate differences from Lotus, all about seeing more or converging sooner:
//! - every gossip block gets a first-seen record, not only the late ones Lotus logs;
//! - a block that passes InformNewHead joins the per-height block index at once, so any later
//!   sync at that height widens the tipset with it (Lotus adds blocks to its tipset tracker
//!   only when their own sync ends, and can miss one whose sync was skipped);
//! - a failed fetch fails the worker instead of retrying other peers (the driver may re-send
//!   the head from another peer).

mod action;
mod bad_blocks;
mod config;
mod error;
mod first_seen;
mod head;
mod input;
mod store;
mod sync_manager;
mod worker;

#[cfg(test)]
mod tests;

pub use action::{
    Action, FetchRequest, FirstSeenRecord, HeadPath, HeadRefusal, LogEvent, LogKind,
    RefusalReason, TargetSelection,
};
pub use config::{
    FollowerConfig, BAD_BLOCK_CACHE_SIZE, BLOCK_DELAY_SECS, BOOTSTRAP_PEER_THRESHOLD,
    CALIBNET_GENESIS_TIMESTAMP, MAINNET_GENESIS_TIMESTAMP, MAX_HEIGHT_DRIFT, MAX_SYNC_WORKERS,
    RECENT_SYNC_BUFFER_SIZE,
};
pub use error::{FollowerError, SyncFailure};
pub use input::{AnnouncedHead, FetchError, Input, InputEvent, PeerId, RequestId};
/// The chain-exchange response checks of the follower's workers, for the driver's own fetches.
pub(crate) use worker::check_response as check_chain;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use cid::Cid;
use lsync_core::chain::{BlockHeader, TipSet, TipSetKey};

use bad_blocks::BadBlockCache;
use config::millis;
use first_seen::{FirstSeenTracker, Sighting};
use store::ChainStore;
use sync_manager::SyncManager;

/// Why a chain-exchange request was sent.
#[derive(Debug, Clone)]
enum Purpose {
    /// The tipset a hello announced (Lotus's hello service fetches it before InformNewHead).
    HelloHead { peer: PeerId, key: TipSetKey },
    /// Missing headers for worker `worker`.
    Worker { worker: u64 },
}

impl Purpose {
    /// Only a hello's head is fetched whole (Lotus's hello service calls `FetchTipSet`, a
    /// full tipset); workers fetch headers only, like Lotus's `collectHeaders` — an observer
    /// executes no messages, so it skips the message phase that follows it in Lotus.
    fn wants_messages(&self) -> bool {
        matches!(self, Purpose::HelloHead { .. })
    }
}

#[derive(Debug, Clone)]
struct Outstanding {
    purpose: Purpose,
    peer: PeerId,
    head: TipSetKey,
    length: u64,
    sent_ms: i64,
}

/// Work queued while handling one input, run in order so that a worker finishing at once
/// never recurses into the next.
#[derive(Debug)]
enum Step {
    Advance(u64),
}

/// How a gossiped block's message fetch went (the driver's part of `HandleIncomingBlocks`).
#[derive(Debug)]
struct MessageFetch {
    took: Duration,
    error: Option<String>,
}

/// The follower. See the module documentation.
#[derive(Debug)]
pub struct Follower {
    config: FollowerConfig,
    genesis: Option<Cid>,
    store: ChainStore,
    manager: SyncManager,
    bad_blocks: BadBlockCache,
    first_seen: FirstSeenTracker,
    requests: BTreeMap<RequestId, Outstanding>,
    next_request: u64,
    next_scheduler_tick_ms: i64,
    steps: VecDeque<Step>,
}

impl Follower {
    /// A follower whose chain starts at `anchor`: the genesis tipset, or a tipset the operator
    /// trusts (then chains are synced down to it, never below). `now_ms` starts the scheduler
    /// ticker. Hellos are checked against `anchor` when it is a genesis.
    pub fn new(config: FollowerConfig, anchor: TipSet, now_ms: i64) -> Self {
        let genesis = (anchor.height() == 0).then(|| anchor.cids()[0]);
        Self {
            store: ChainStore::new(anchor, config.block_delay_secs),
            manager: SyncManager::new(
                config.bootstrap_peer_threshold,
                config.max_sync_workers,
                config.recent_sync_buffer_size,
            ),
            bad_blocks: BadBlockCache::new(config.bad_block_cache_size),
            first_seen: FirstSeenTracker::new(
                millis(config.first_seen_settle),
                millis(config.first_seen_retention),
            ),
            requests: BTreeMap::new(),
            next_request: 0,
            next_scheduler_tick_ms: now_ms.saturating_add(millis(config.scheduler_tick)),
            steps: VecDeque::new(),
            genesis,
            config,
        }
    }

    pub fn config(&self) -> &FollowerConfig {
        &self.config
    }

    /// Our heaviest tipset.
    pub fn head(&self) -> &TipSet {
        self.store.head()
    }

    /// `L` of the weight function, once a parent/child pair revealed it.
    pub fn power_log2(&self) -> Option<u64> {
        self.store.power_log2()
    }

    pub fn initial_sync_done(&self) -> bool {
        self.manager.initial_sync_done()
    }

    /// Ids of the running workers, ascending.
    pub fn active_workers(&self) -> Vec<u64> {
        self.manager.workers().keys().copied().collect()
    }

    /// Targets waiting: (pending extensions of active targets, deferred).
    pub fn queued_targets(&self) -> (usize, usize) {
        self.manager.queued_targets()
    }

    /// The chain-exchange requests not yet answered.
    pub fn outstanding_requests(&self) -> Vec<FetchRequest> {
        self.requests
            .iter()
            .map(|(id, o)| FetchRequest {
                id: *id,
                peer: o.peer.clone(),
                head: o.head.clone(),
                length: o.length,
                with_messages: o.purpose.wants_messages(),
            })
            .collect()
    }

    /// Tipsets above the anchor that the driver already fetched (newest first, as chain
    /// exchange returns them): kept as headers, so the first sync towards them needs no fetch.
    /// They are validated like fetched ones when a target's chain runs through them.
    pub fn preload(&mut self, tipsets: &[TipSet]) {
        for ts in tipsets {
            self.store.add_tipset(ts);
        }
    }

    /// A known tipset by key (validated or not).
    pub fn tipset(&self, key: &TipSetKey) -> Option<TipSet> {
        self.store.tipset(key)
    }

    /// The reason a block is in the bad-block cache.
    pub fn bad_block_reason(&self, cid: &Cid) -> Option<&str> {
        self.bad_blocks.reason(cid)
    }

    /// Gossiped blocks whose miner had already published another block at their height.
    pub fn equivocations(&self) -> u64 {
        self.first_seen.equivocations()
    }

    /// First-seen records still inside their duplicate window, for a driver shutting down.
    pub fn flush_first_seen(&mut self) -> Vec<Action> {
        self.first_seen
            .flush()
            .into_iter()
            .map(Action::BlockSeen)
            .collect()
    }

    /// Process one input. An `Err` means the input was refused and nothing changed.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Action>, FollowerError> {
        let now = input.now_ms;
        let mut out = Vec::new();
        match input.event {
            InputEvent::Hello { peer, message } => {
                if let Some(ours) = self.genesis {
                    if message.genesis_hash != ours {
                        return Err(FollowerError::GenesisMismatch {
                            peer,
                            theirs: Box::new(message.genesis_hash),
                            ours: Box::new(ours),
                        });
                    }
                }
                self.on_hello(peer, AnnouncedHead::from(&message), now, &mut out);
            }
            InputEvent::PeerHead { peer, tipset } => {
                self.inform_new_head(&peer, tipset, now, &mut out);
            }
            InputEvent::GossipBlock {
                peer,
                cid,
                header,
                arrived_ns,
                msg_fetch,
                msg_fetch_error,
            } => {
                // Arrival and fetch in one, in Lotus's order: the fetch's lines, then
                // InformNewBlock.
                let arrived_ns = arrived_ns.unwrap_or_else(|| now.saturating_mul(1_000_000));
                if self.block_arrived(&peer, cid, &header, arrived_ns) {
                    let fetch = MessageFetch { took: msg_fetch, error: msg_fetch_error };
                    self.block_messages_done(cid, &peer, fetch, now, &mut out);
                    self.inform_block(&peer, cid, *header, now, &mut out);
                }
            }
            InputEvent::GossipArrived { peer, cid, header, arrived_ns } => {
                if self.block_arrived(&peer, cid, &header, arrived_ns) {
                    self.inform_block(&peer, cid, *header, now, &mut out);
                }
            }
            InputEvent::MessagesFetched { peer, cid, msg_fetch, msg_fetch_error } => {
                let fetch = MessageFetch { took: msg_fetch, error: msg_fetch_error };
                self.block_messages_done(cid, &peer, fetch, now, &mut out);
            }
            InputEvent::ChainFetched { request, tipsets } => {
                let outstanding = self
                    .requests
                    .remove(&request)
                    .ok_or(FollowerError::UnknownRequest(request))?;
                self.on_chain_fetched(outstanding, tipsets, now, &mut out);
            }
            InputEvent::FetchFailed { request, error } => {
                let outstanding = self
                    .requests
                    .remove(&request)
                    .ok_or(FollowerError::UnknownRequest(request))?;
                self.on_fetch_failed(outstanding, error, now, &mut out);
            }
            InputEvent::MarkBad { cid, reason } => self.bad_blocks.insert(cid, reason),
            InputEvent::Tick => self.on_tick(now, &mut out),
        }
        self.run_steps(now, &mut out);
        out.extend(self.first_seen.due(now).into_iter().map(Action::BlockSeen));
        Ok(out)
    }

    fn log(out: &mut Vec<Action>, now: i64, kind: LogKind) {
        out.push(Action::Log(LogEvent { at_ms: now, kind }));
    }

    fn on_hello(&mut self, peer: PeerId, head: AnnouncedHead, now: i64, out: &mut Vec<Action>) {
        // Lotus's hello service only informs about heads above genesis.
        if head.height <= 0 || head.key.is_empty() {
            return;
        }
        if let Some(tipset) = self.store.tipset(&head.key) {
            self.inform_new_head(&peer, tipset, now, out);
            return;
        }
        let purpose = Purpose::HelloHead {
            peer: peer.clone(),
            key: head.key.clone(),
        };
        self.request(purpose, peer, head.key, 1, now, out);
    }

    /// A gossiped block arrived (first-seen bookkeeping); `true` on its first delivery.
    fn block_arrived(&mut self, peer: &str, cid: Cid, header: &BlockHeader, arrived_ns: i64) -> bool {
        self.first_seen.observe(cid, header, peer, arrived_ns, Duration::ZERO) == Sighting::First
    }

    /// Lotus's `HandleIncomingBlocks` after the message fetch (chain/sub/incoming.go): the
    /// `new block over pubsub` line with the fetch time, the slow-fetch warning, the lateness
    /// warning (lateness measured with the clock read after the fetch), or the fetch error.
    fn block_messages_done(&mut self, cid: Cid, peer: &str, fetch: MessageFetch, now: i64, out: &mut Vec<Action>) {
        let msg_fetch = fetch.took;
        let Some(record) = self.first_seen.set_msg_fetch(&cid, msg_fetch) else {
            return;
        };
        if let Some(error) = fetch.error {
            Self::log(out, now, LogKind::MsgFetchFailed { peer: peer.to_string(), error });
        }
        Self::log(out, now, LogKind::BlockOverPubsub { block: cid, peer: peer.to_string(), msg_fetch });
        if msg_fetch > self.config.slow_msg_fetch {
            Self::log(out, now, LogKind::SlowMsgFetch { block: cid, peer: peer.to_string(), msg_fetch });
        }
        let arrived_ms = record.first_seen_ns.div_euclid(1_000_000);
        let timestamp_secs = (record.first_seen_ns - record.delay_ns).div_euclid(1_000_000_000);
        let checked_ms = arrived_ms.saturating_add(millis(msg_fetch));
        let delay_secs = checked_ms.div_euclid(1000) - timestamp_secs;
        if delay_secs > self.config.large_delay_secs {
            Self::log(out, now, LogKind::BlockDelay { block: cid, delay_secs, miner: record.miner });
        }
    }

    /// Lotus's InformNewBlock: the block alone is the candidate tipset. (One block always forms
    /// a valid tipset; the `if let` only avoids a panic path.)
    fn inform_block(&mut self, peer: &str, cid: Cid, header: BlockHeader, now: i64, out: &mut Vec<Action>) {
        if let Ok(tipset) = TipSet::from_blocks_with_cids(vec![(cid, header)]) {
            self.inform_new_head(peer, tipset, now, out);
        }
    }

    /// Lotus's `InformNewHead`: the consensus range, the bad-block cache, persisting the
    /// headers, and the ParentWeight check against our head; then the sync manager.
    fn inform_new_head(&mut self, peer: &str, tipset: TipSet, now: i64, out: &mut Vec<Action>) {
        let lowest_allowed = self.store.head().height() - self.config.fork_length_limit as i64;
        if tipset.height() > self.config.max_allowed_height(now) || tipset.height() < lowest_allowed
        {
            Self::log(
                out,
                now,
                LogKind::OutsideConsensusRange {
                    height: tipset.height(),
                },
            );
            return;
        }
        for cid in tipset.cids() {
            if let Some(reason) = self.bad_blocks.reason(cid) {
                Self::log(
                    out,
                    now,
                    LogKind::BadBlock {
                        block: *cid,
                        reason: reason.to_string(),
                    },
                );
                return;
            }
        }
        for (cid, header) in tipset.cids().iter().zip(tipset.blocks()) {
            self.store.add_block(*cid, header);
        }
        if tipset.parent_weight() < self.store.head().parent_weight() {
            // Lotus: DEBUG "incoming tipset does not appear to be better than our best chain".
            return;
        }
        if let Some((target, selection)) = self.manager.peer_head(peer, tipset) {
            self.start_worker(target, selection, now, out);
        }
    }

    fn on_tick(&mut self, now: i64, out: &mut Vec<Action>) {
        let timeout = millis(self.config.fetch_timeout);
        let expired: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, o)| now.saturating_sub(o.sent_ms) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(outstanding) = self.requests.remove(&id) {
                self.on_fetch_failed(outstanding, FetchError::Timeout, now, out);
            }
        }
        if now >= self.next_scheduler_tick_ms {
            let period = millis(self.config.scheduler_tick).max(1);
            let missed = (now - self.next_scheduler_tick_ms) / period + 1;
            self.next_scheduler_tick_ms += missed * period;
            if self.manager.take_ramp_turn() {
                while let Some(target) = self.manager.next_deferred_for_ramp() {
                    self.start_worker(target, TargetSelection::Deferred, now, out);
                }
            }
        }
    }
}
