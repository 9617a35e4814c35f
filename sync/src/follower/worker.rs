//! Workers: starting one for a sync target, driving it through chain-exchange requests until
//! its chain joins ours, and ending it (Lotus's `worker`, `Syncer.Sync`/`collectChain` and
//! `handleWorkerStatus`).

use std::time::Duration;

use lsync_core::chain::{TipSet, TipSetKey};

use super::config::millis;
use super::store::Connection;
use super::sync_manager::SyncTarget;
use super::{
    Action, FetchError, FetchRequest, Follower, LogKind, Outstanding, PeerId, Purpose, RequestId,
    Step, SyncFailure, TargetSelection,
};

impl Follower {
    pub(super) fn start_worker(
        &mut self,
        target: SyncTarget,
        selection: TargetSelection,
        now: i64,
        out: &mut Vec<Action>,
    ) {
        let key = target.tipset.key().clone();
        Self::log(
            out,
            now,
            LogKind::SelectedTarget {
                selection,
                target: key.clone(),
            },
        );
        let id = self.manager.start_worker(target, now);
        Self::log(
            out,
            now,
            LogKind::WorkerStart {
                worker: id,
                target: key,
            },
        );
        self.steps.push_back(Step::Advance(id));
    }

    pub(super) fn run_steps(&mut self, now: i64, out: &mut Vec<Action>) {
        while let Some(step) = self.steps.pop_front() {
            match step {
                Step::Advance(id) => self.advance_worker(id, now, out),
            }
        }
    }

    /// One step of `Syncer.Sync` for worker `id`: done at once when our head is heavier or is
    /// the target; otherwise connect the target to our chain, fetching what is missing.
    fn advance_worker(&mut self, id: u64, now: i64, out: &mut Vec<Action>) {
        let Some(worker) = self.manager.worker_mut(id) else {
            return;
        };
        let target = worker.target.tipset.clone();
        let peer = worker.target.peer.clone();
        let fetches = worker.fetches;
        let head = self.store.head().clone();
        if head.parent_weight() > target.parent_weight() || head.key() == target.key() {
            return self.finish_worker(id, Ok(()), now, out);
        }
        match self.store.connect(&target, &self.bad_blocks) {
            Connection::Connected => {
                let result = self.put_tipset(&target, now, out);
                self.finish_worker(id, result, now, out);
            }
            Connection::Invalid { failure, bad } => {
                for (cid, reason) in bad {
                    self.bad_blocks.insert(cid, reason);
                }
                self.finish_worker(id, Err(failure), now, out);
            }
            Connection::Missing { key, child_height } => {
                let limit = self.config.fork_length_limit;
                let needed_height = child_height - 1;
                if needed_height < head.height() - limit as i64 {
                    let failure = SyncFailure::ForkTooLong {
                        needed_height,
                        head_height: head.height(),
                        limit,
                    };
                    return self.finish_worker(id, Err(failure), now, out);
                }
                // Catching up: exactly the gap to our head. A fork below our head: 1, 2, 4, …
                // tipsets per request, so shallow forks cost one small request.
                let gap = u64::try_from(needed_height - head.height()).unwrap_or(0);
                let fork_window = 1u64 << fetches.min(20);
                let length = gap
                    .max(fork_window)
                    .clamp(1, self.config.max_request_length);
                let request =
                    self.request(Purpose::Worker { worker: id }, peer, key, length, now, out);
                if let Some(worker) = self.manager.worker_mut(id) {
                    worker.request = Some(request);
                    worker.fetches += 1;
                }
            }
        }
    }

    pub(super) fn request(
        &mut self,
        purpose: Purpose,
        peer: PeerId,
        head: TipSetKey,
        length: u64,
        now: i64,
        out: &mut Vec<Action>,
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let with_messages = purpose.wants_messages();
        self.requests.insert(
            id,
            Outstanding {
                purpose,
                peer: peer.clone(),
                head: head.clone(),
                length,
                sent_ms: now,
            },
        );
        out.push(Action::Fetch(FetchRequest {
            id,
            peer,
            head,
            length,
            with_messages,
        }));
        id
    }

    pub(super) fn on_chain_fetched(
        &mut self,
        request: Outstanding,
        tipsets: Vec<TipSet>,
        now: i64,
        out: &mut Vec<Action>,
    ) {
        match request.purpose {
            Purpose::HelloHead { peer, key } => {
                if let Some(tipset) = tipsets.into_iter().next().filter(|t| *t.key() == key) {
                    self.inform_new_head(&peer, tipset, now, out);
                }
            }
            Purpose::Worker { worker } => {
                if let Some(w) = self.manager.worker_mut(worker) {
                    w.request = None;
                }
                if let Err(problem) = check_response(&request.head, request.length, &tipsets) {
                    let failure = SyncFailure::BadResponse {
                        key: request.head,
                        peer: request.peer,
                        problem,
                    };
                    return self.finish_worker(worker, Err(failure), now, out);
                }
                for tipset in &tipsets {
                    self.store.add_tipset(tipset);
                }
                self.steps.push_back(Step::Advance(worker));
            }
        }
    }

    pub(super) fn on_fetch_failed(
        &mut self,
        request: Outstanding,
        error: FetchError,
        now: i64,
        out: &mut Vec<Action>,
    ) {
        if let Purpose::Worker { worker } = request.purpose {
            let failure = SyncFailure::Fetch {
                key: request.head,
                peer: request.peer,
                error,
            };
            self.finish_worker(worker, Err(failure), now, out);
        }
    }

    /// The worker returns: `worker N done; took D`, then Lotus's `handleWorkerStatus`.
    fn finish_worker(
        &mut self,
        id: u64,
        result: Result<(), SyncFailure>,
        now: i64,
        out: &mut Vec<Action>,
    ) {
        let Some(worker) = self.manager.workers().get(&id).cloned() else {
            return;
        };
        if let Some(request) = worker.request {
            self.requests.remove(&request);
        }
        let took_ms = now.saturating_sub(worker.started_ms).max(0);
        Self::log(
            out,
            now,
            LogKind::WorkerDone {
                worker: id,
                took: Duration::from_millis(took_ms as u64),
            },
        );
        if let Err(failure) = &result {
            Self::log(
                out,
                now,
                LogKind::SyncError {
                    target: worker.target.tipset.key().clone(),
                    error: failure.to_string(),
                },
            );
        }
        let fast = took_ms < millis(self.config.initial_sync_time_threshold);
        if let Some(next) = self.manager.finish_worker(id, result.is_ok(), fast) {
            self.start_worker(next, TargetSelection::AfterWorker, now, out);
        }
    }
}

/// What Lotus's chain-exchange client checks of a response: it starts at the requested head,
/// holds no more than asked, and each tipset is the parent of the one before.
pub(crate) fn check_response(head: &TipSetKey, length: u64, tipsets: &[TipSet]) -> Result<(), String> {
    let first = tipsets.first().ok_or("empty chain")?;
    if first.key() != head {
        return Err(format!("chain starts at {} instead", first.key()));
    }
    if tipsets.len() as u64 > length {
        return Err(format!(
            "{} tipsets for a request of {length}",
            tipsets.len()
        ));
    }
    for pair in tipsets.windows(2) {
        if pair[0].parents() != pair[1].key() || pair[1].height() >= pair[0].height() {
            return Err(format!(
                "{} at height {} is not the parent of the tipset at height {}",
                pair[1].key(),
                pair[1].height(),
                pair[0].height()
            ));
        }
    }
    Ok(())
}
