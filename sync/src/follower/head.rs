//! Taking a synced tipset as head (Lotus's `PutTipSet`, `MaybeTakeHeavierTipSet` and the
//! reorg worker): expand it, compare weights and tickets, enforce the fork-length limit, and
//! compute the head change with lsync-core's `reorg_ops`.

use lsync_core::chain::{
    choose_head, exceeds_fork_length, reorg_ops, HeadChoice, TipSet, TipSetKey,
};

use super::{Action, Follower, HeadPath, HeadRefusal, LogKind, RefusalReason, SyncFailure};

impl Follower {
    /// Lotus's `PutTipSet` + `MaybeTakeHeavierTipSet` + the reorg worker: expand, compare
    /// (weight, then tickets), check the fork length, take the head, compute the head change.
    pub(super) fn put_tipset(
        &mut self,
        target: &TipSet,
        now: i64,
        out: &mut Vec<Action>,
    ) -> Result<(), SyncFailure> {
        let candidate = self.store.expand(target, &self.bad_blocks);
        self.store.mark_validated(&candidate);
        let head = self.store.head().clone();
        let choice = choose_head(
            &candidate,
            &self.store.weight(&candidate),
            &head,
            &self.store.weight(&head),
        );
        match choice {
            HeadChoice::CandidateHeavier => {}
            HeadChoice::CandidateWinsTie { .. } => Self::log(
                out,
                now,
                LogKind::TieBroken {
                    winner: candidate.key().clone(),
                    loser: head.key().clone(),
                    candidate_won: true,
                },
            ),
            HeadChoice::CurrentWinsTie { .. } => {
                Self::log(
                    out,
                    now,
                    LogKind::TieBroken {
                        winner: head.key().clone(),
                        loser: candidate.key().clone(),
                        candidate_won: false,
                    },
                );
                return Ok(());
            }
            HeadChoice::CurrentHeavier | HeadChoice::TieUnbroken | HeadChoice::Same => {
                return Ok(())
            }
        }
        let store = &self.store;
        let lookup = |key: &TipSetKey| store.tipset(key);
        if exceeds_fork_length(
            &head,
            &candidate,
            self.config.fork_length_limit,
            None,
            lookup,
        )? {
            out.push(Action::HeadRefused(HeadRefusal {
                head: head.key().clone(),
                candidate: candidate.key().clone(),
                candidate_height: candidate.height(),
                reason: RefusalReason::ForkTooLong,
            }));
            return Ok(());
        }
        let ops = reorg_ops(&head, &candidate, lookup)?;
        let fork_point = ops
            .apply
            .last()
            .or(ops.revert.last())
            .map(|ts| ts.parents().clone())
            .unwrap_or_else(|| head.key().clone());
        let fork_point_height = self
            .store
            .tipset(&fork_point)
            .map_or(head.height(), |ts| ts.height());
        Self::log(
            out,
            now,
            LogKind::NewHeaviest {
                tipset: candidate.key().clone(),
                height: candidate.height(),
            },
        );
        out.push(Action::HeadChange(HeadPath {
            from: head,
            to: candidate.clone(),
            revert: ops.revert,
            apply: ops.apply,
            fork_point,
            fork_point_height,
        }));
        let keep_from = candidate.height() - 2 * self.config.fork_length_limit as i64;
        self.store.set_head(candidate);
        self.store.prune_below(keep_from);
        Ok(())
    }
}
