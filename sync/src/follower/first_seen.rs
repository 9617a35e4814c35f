//! First-seen bookkeeping: when each block first arrived over gossip, from whom, how late, and
//! how many copies followed. This is the information Lotus throws away (it logs only blocks
//! more than 5 s late) and the reason lsync follows the chain at all.

use std::collections::{HashMap, VecDeque};

use cid::Cid;
use lsync_core::chain::BlockHeader;

use super::action::FirstSeenRecord;
use super::input::PeerId;

/// Whether a gossip delivery was the block's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sighting {
    First,
    Duplicate,
}

#[derive(Debug, Clone)]
struct Entry {
    record: FirstSeenRecord,
    /// Emitted already; later copies are still recognised as duplicates until forgotten.
    settled: bool,
}

/// Holds a record open for `settle_ms` so its duplicate count is complete when it is emitted,
/// then remembers the block for `retention_ms` more so a very late copy is not taken for new.
#[derive(Debug, Clone)]
pub(crate) struct FirstSeenTracker {
    settle_ms: i64,
    retention_ms: i64,
    entries: HashMap<Cid, Entry>,
    /// First-seen order; since time only moves forward this is also settle order.
    order: VecDeque<Cid>,
}

impl FirstSeenTracker {
    pub(crate) fn new(settle_ms: i64, retention_ms: i64) -> Self {
        Self {
            settle_ms,
            retention_ms,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Note one delivery of `cid` by `peer` at `now_ms`.
    pub(crate) fn observe(
        &mut self,
        cid: Cid,
        header: &BlockHeader,
        peer: &str,
        now_ms: i64,
    ) -> Sighting {
        if let Some(entry) = self.entries.get_mut(&cid) {
            if !entry.settled {
                entry.record.duplicates = entry.record.duplicates.saturating_add(1);
            }
            return Sighting::Duplicate;
        }
        let timestamp_ms = i64::try_from(header.timestamp)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let record = FirstSeenRecord {
            cid,
            height: header.height,
            miner: header.miner,
            first_seen_ms: now_ms,
            peer: PeerId::from(peer),
            duplicates: 0,
            delay_ms: now_ms.saturating_sub(timestamp_ms),
        };
        self.entries.insert(
            cid,
            Entry {
                record,
                settled: false,
            },
        );
        self.order.push_back(cid);
        Sighting::First
    }

    /// Records whose settle window closed by `now_ms`, oldest first; also forgets blocks past
    /// their retention.
    pub(crate) fn due(&mut self, now_ms: i64) -> Vec<FirstSeenRecord> {
        let mut out = Vec::new();
        for cid in &self.order {
            let entry = self.entries.get_mut(cid).expect("order and entries agree");
            if entry.record.first_seen_ms.saturating_add(self.settle_ms) > now_ms {
                break;
            }
            if !entry.settled {
                entry.settled = true;
                out.push(entry.record.clone());
            }
        }
        let forget_before = now_ms
            .saturating_sub(self.settle_ms)
            .saturating_sub(self.retention_ms);
        while let Some(cid) = self.order.front() {
            let entry = &self.entries[cid];
            if !entry.settled || entry.record.first_seen_ms > forget_before {
                break;
            }
            self.entries.remove(cid);
            self.order.pop_front();
        }
        out
    }

    /// Every record not yet emitted (for a driver shutting down).
    pub(crate) fn flush(&mut self) -> Vec<FirstSeenRecord> {
        let mut out = Vec::new();
        for cid in &self.order {
            let entry = self.entries.get_mut(cid).expect("order and entries agree");
            if !entry.settled {
                entry.settled = true;
                out.push(entry.record.clone());
            }
        }
        out
    }
}
