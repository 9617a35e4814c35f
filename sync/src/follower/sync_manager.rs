//! Lotus's sync manager (`chain/sync_manager.go`, the v1.1.3+ rewrite) as decisions without
//! goroutines: which peer head becomes a sync target, when, and which waits.
//!
//! Rules kept from Lotus (lotus-facts §2.4, §6.3):
//! - before the first worker, heads are collected per peer until `BootstrapPeerThreshold`
//!   peers answered; the heaviest (by ParentWeight) is the initial target;
//! - afterwards a head is skipped when it (or something heavier) was synced recently, waits in
//!   the *deferred* queue while the initial sync runs or all workers are busy, waits in the
//!   *pending* queue when it extends an active or pending target, is dropped when an active or
//!   pending target is heavier, and otherwise gets a new worker;
//! - when a worker ends, the heaviest pending extension of its target is next, else a deferred
//!   target; the first worker done within `InitialSyncTimeThreshold` ends the initial sync, and
//!   the next scheduler tick starts deferred targets up to `MaxSyncWorkers`.
//!
//! "Heavier" is Lotus's `isHeavier`: a strictly larger ParentWeight.

use std::collections::{BTreeMap, VecDeque};

use lsync_core::chain::TipSet;

use super::action::TargetSelection;
use super::input::{PeerId, RequestId};

/// A tipset to sync and the peer that told us about it (and so is asked for its chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncTarget {
    pub(crate) tipset: TipSet,
    pub(crate) peer: PeerId,
}

/// One worker: an outstanding sync of one target.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    pub(crate) target: SyncTarget,
    pub(crate) started_ms: i64,
    /// The chain-exchange request it waits on, if any.
    pub(crate) request: Option<RequestId>,
    /// Requests made so far; fork fetches double their length each time.
    pub(crate) fetches: u32,
}

fn is_heavier(a: &TipSet, b: &TipSet) -> bool {
    a.parent_weight() > b.parent_weight()
}

/// Tipsets of one chain, linked by parent/child steps (Lotus's `syncTargetBucket`).
#[derive(Debug, Clone, Default)]
struct Bucket {
    targets: Vec<SyncTarget>,
}

impl Bucket {
    fn same_chain_as(&self, ts: &TipSet) -> bool {
        self.targets.iter().any(|t| {
            t.tipset.key() == ts.key()
                || t.tipset.parents() == ts.key()
                || ts.parents() == t.tipset.key()
        })
    }

    /// The heaviest target; the earliest inserted wins a tie.
    fn heaviest(&self) -> &SyncTarget {
        let mut best = &self.targets[0];
        for t in &self.targets[1..] {
            if is_heavier(&t.tipset, &best.tipset) {
                best = t;
            }
        }
        best
    }
}

/// Lotus's `syncBucketSet`.
#[derive(Debug, Clone, Default)]
struct BucketSet {
    buckets: Vec<Bucket>,
}

impl BucketSet {
    fn insert(&mut self, target: SyncTarget) {
        match self
            .buckets
            .iter_mut()
            .find(|b| b.same_chain_as(&target.tipset))
        {
            Some(bucket) => {
                if !bucket
                    .targets
                    .iter()
                    .any(|t| t.tipset.key() == target.tipset.key())
                {
                    bucket.targets.push(target);
                }
            }
            None => self.buckets.push(Bucket {
                targets: vec![target],
            }),
        }
    }

    fn related_to_any(&self, ts: &TipSet) -> bool {
        self.buckets.iter().any(|b| b.same_chain_as(ts))
    }

    /// Remove and merge every bucket related to `ts`.
    fn pop_related(&mut self, ts: &TipSet) -> Option<Bucket> {
        let mut merged: Option<Bucket> = None;
        let mut kept = Vec::with_capacity(self.buckets.len());
        for bucket in self.buckets.drain(..) {
            if bucket.same_chain_as(ts) {
                merged
                    .get_or_insert_with(Bucket::default)
                    .targets
                    .extend(bucket.targets);
            } else {
                kept.push(bucket);
            }
        }
        self.buckets = kept;
        merged
    }

    /// Remove the bucket holding the heaviest target.
    fn pop_heaviest(&mut self) -> Option<Bucket> {
        let mut best: Option<usize> = None;
        for (i, bucket) in self.buckets.iter().enumerate() {
            let better = match best {
                None => true,
                Some(b) => is_heavier(
                    &bucket.heaviest().tipset,
                    &self.buckets[b].heaviest().tipset,
                ),
            };
            if better {
                best = Some(i);
            }
        }
        best.map(|i| self.buckets.remove(i))
    }

    fn heaviest(&self) -> Option<&TipSet> {
        self.buckets
            .iter()
            .map(|b| &b.heaviest().tipset)
            .reduce(|a, b| if is_heavier(b, a) { b } else { a })
    }

    fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.targets.len()).sum()
    }
}

/// The last synced targets (Lotus's `syncBuffer`, `RecentSyncBufferSize` = 10).
#[derive(Debug, Clone)]
struct RecentSyncs {
    capacity: usize,
    targets: VecDeque<TipSet>,
}

impl RecentSyncs {
    fn push(&mut self, ts: TipSet) {
        if self.targets.len() == self.capacity {
            self.targets.pop_front();
        }
        self.targets.push_back(ts);
    }

    /// `ts` itself, or something heavier, was synced recently.
    fn synced(&self, ts: &TipSet) -> bool {
        self.targets
            .iter()
            .any(|r| r.key() == ts.key() || is_heavier(r, ts))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SyncManager {
    bootstrap_threshold: usize,
    max_workers: usize,
    /// Peer heads before the first worker; `None` once syncing started.
    bootstrap_heads: Option<BTreeMap<PeerId, TipSet>>,
    next_worker_id: u64,
    workers: BTreeMap<u64, Worker>,
    pending: BucketSet,
    deferred: BucketSet,
    recent: RecentSyncs,
    initial_sync_done: bool,
    /// The scheduler ticker has started the deferred workers (it then stops, as in Lotus).
    deferred_ramp_done: bool,
}

impl SyncManager {
    pub(crate) fn new(bootstrap_threshold: usize, max_workers: usize, recent_size: usize) -> Self {
        Self {
            bootstrap_threshold: bootstrap_threshold.max(1),
            max_workers: max_workers.max(1),
            bootstrap_heads: Some(BTreeMap::new()),
            next_worker_id: 0,
            workers: BTreeMap::new(),
            pending: BucketSet::default(),
            deferred: BucketSet::default(),
            recent: RecentSyncs {
                capacity: recent_size.max(1),
                targets: VecDeque::new(),
            },
            initial_sync_done: false,
            deferred_ramp_done: false,
        }
    }

    pub(crate) fn initial_sync_done(&self) -> bool {
        self.initial_sync_done
    }

    pub(crate) fn workers(&self) -> &BTreeMap<u64, Worker> {
        &self.workers
    }

    pub(crate) fn worker_mut(&mut self, id: u64) -> Option<&mut Worker> {
        self.workers.get_mut(&id)
    }

    pub(crate) fn queued_targets(&self) -> (usize, usize) {
        (self.pending.len(), self.deferred.len())
    }

    /// Lotus's `handlePeerHead`: a target to start now, if any.
    pub(crate) fn peer_head(
        &mut self,
        peer: &str,
        ts: TipSet,
    ) -> Option<(SyncTarget, TargetSelection)> {
        let target = SyncTarget {
            tipset: ts,
            peer: PeerId::from(peer),
        };
        if let Some(heads) = self.bootstrap_heads.as_mut() {
            heads.insert(target.peer.clone(), target.tipset);
            if heads.len() < self.bootstrap_threshold {
                return None;
            }
            let heads = self.bootstrap_heads.take().expect("checked above");
            return Some((select_initial(heads), TargetSelection::Initial));
        }
        self.add_sync_target(target)
            .map(|t| (t, TargetSelection::PeerHead))
    }

    fn add_sync_target(&mut self, target: SyncTarget) -> Option<SyncTarget> {
        let ts = &target.tipset;
        if self.recent.synced(ts) {
            return None;
        }
        if !self.initial_sync_done || self.workers.len() >= self.max_workers {
            self.deferred.insert(target);
            return None;
        }
        for worker in self.workers.values() {
            if worker.target.tipset.key() == ts.key() {
                return None;
            }
            if ts.parents() == worker.target.tipset.key() {
                self.pending.insert(target);
                return None;
            }
        }
        if self.pending.related_to_any(ts) {
            self.pending.insert(target);
            return None;
        }
        if self
            .workers
            .values()
            .any(|w| is_heavier(&w.target.tipset, ts))
        {
            return None;
        }
        if self.pending.heaviest().is_some_and(|p| is_heavier(p, ts)) {
            return None;
        }
        Some(target)
    }

    /// Register a worker for `target` and return its id (ids increase from 0, like Lotus's
    /// `nextWorker`).
    pub(crate) fn start_worker(&mut self, target: SyncTarget, now_ms: i64) -> u64 {
        let id = self.next_worker_id;
        self.next_worker_id += 1;
        self.workers.insert(
            id,
            Worker {
                target,
                started_ms: now_ms,
                request: None,
                fetches: 0,
            },
        );
        id
    }

    /// Lotus's `handleWorkerStatus`: forget the worker, remember a success, and pick what to
    /// sync next (logged as `selected sync target` from the worker-status call site).
    pub(crate) fn finish_worker(
        &mut self,
        id: u64,
        succeeded: bool,
        fast_enough_for_initial: bool,
    ) -> Option<SyncTarget> {
        let worker = self.workers.remove(&id)?;
        let done = worker.target.tipset;
        if succeeded {
            self.recent.push(done.clone());
            if !self.initial_sync_done && fast_enough_for_initial {
                self.initial_sync_done = true;
            }
        }
        self.select_sync_target(&done)
    }

    fn select_sync_target(&mut self, done: &TipSet) -> Option<SyncTarget> {
        let Some(related) = self.pending.pop_related(done) else {
            return self.select_deferred();
        };
        let heaviest = related.heaviest().clone();
        let outweighed = is_heavier(done, &heaviest.tipset)
            || self
                .workers
                .values()
                .any(|w| is_heavier(&w.target.tipset, &heaviest.tipset))
            || self.recent.synced(&heaviest.tipset);
        if outweighed {
            return self.select_deferred();
        }
        Some(heaviest)
    }

    fn select_deferred(&mut self) -> Option<SyncTarget> {
        'buckets: while let Some(bucket) = self.deferred.pop_heaviest() {
            let target = bucket.heaviest().clone();
            let ts = &target.tipset;
            if self.recent.synced(ts) {
                continue;
            }
            for worker in self.workers.values() {
                if worker.target.tipset.key() == ts.key() {
                    continue 'buckets;
                }
                if ts.parents() == worker.target.tipset.key() {
                    self.pending.insert(target);
                    continue 'buckets;
                }
            }
            if self.pending.related_to_any(ts) {
                self.pending.insert(target);
                continue;
            }
            return Some(target);
        }
        None
    }

    /// Lotus's `handleInitialSyncDone`, run once from the scheduler ticker: the next deferred
    /// target while fewer than `MaxSyncWorkers` run. `None` ends the ramp.
    pub(crate) fn next_deferred_for_ramp(&mut self) -> Option<SyncTarget> {
        if !self.initial_sync_done || self.workers.len() >= self.max_workers {
            return None;
        }
        self.select_deferred()
    }

    /// True the first time the ticker finds the initial sync done (the ticker then stops).
    pub(crate) fn take_ramp_turn(&mut self) -> bool {
        if self.initial_sync_done && !self.deferred_ramp_done {
            self.deferred_ramp_done = true;
            return true;
        }
        false
    }
}

/// Lotus's `selectInitialSyncTarget`: the heaviest peer head (ParentWeight); among equals the
/// higher, then the one of the lexicographically first peer (Go's map order is random; we
/// want replays to be deterministic).
fn select_initial(heads: BTreeMap<PeerId, TipSet>) -> SyncTarget {
    let mut best: Option<SyncTarget> = None;
    for (peer, tipset) in heads {
        let better = match &best {
            None => true,
            Some(b) => {
                is_heavier(&tipset, &b.tipset)
                    || (tipset.parent_weight() == b.tipset.parent_weight()
                        && tipset.height() > b.tipset.height())
            }
        };
        if better {
            best = Some(SyncTarget { tipset, peer });
        }
    }
    best.expect("called with at least the threshold of heads")
}
