//! First-seen bookkeeping: when each block first arrived over gossip, from whom, how late, and
//! how many copies followed. This is the information Lotus throws away (it logs only blocks
//! more than 5 s late) and the reason lsync follows the chain at all.

use std::collections::{HashMap, VecDeque};

use cid::Cid;
use lsync_core::chain::{Address, BlockHeader};

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
    /// The first block seen of each (miner, height) still remembered: a second, different
    /// one is an equivocation. Forgotten with the entry that put it here.
    by_slot: HashMap<(Address, i64), Cid>,
    equivocations: u64,
}

impl FirstSeenTracker {
    pub(crate) fn new(settle_ms: i64, retention_ms: i64) -> Self {
        Self {
            settle_ms,
            retention_ms,
            entries: HashMap::new(),
            order: VecDeque::new(),
            by_slot: HashMap::new(),
            equivocations: 0,
        }
    }

    /// Blocks seen whose miner had already published another block at their height.
    pub(crate) fn equivocations(&self) -> u64 {
        self.equivocations
    }

    /// Note one delivery of `cid` by `peer` at `arrived_ns` (Unix ns), whose messages took
    /// `msg_fetch` to fetch.
    pub(crate) fn observe(
        &mut self,
        cid: Cid,
        header: &BlockHeader,
        peer: &str,
        arrived_ns: i64,
        msg_fetch: std::time::Duration,
    ) -> Sighting {
        let now_ms = arrived_ns.div_euclid(1_000_000);
        if let Some(entry) = self.entries.get_mut(&cid) {
            if !entry.settled {
                entry.record.duplicates = entry.record.duplicates.saturating_add(1);
            }
            return Sighting::Duplicate;
        }
        let timestamp_ms = i64::try_from(header.timestamp)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let timestamp_ns = timestamp_ms.saturating_mul(1_000_000);
        let slot = (header.miner, header.height);
        let equivocates = match self.by_slot.get(&slot) {
            Some(first) if *first != cid => {
                self.equivocations += 1;
                Some(*first)
            }
            Some(_) => None,
            None => {
                self.by_slot.insert(slot, cid);
                None
            }
        };
        let record = FirstSeenRecord {
            cid,
            height: header.height,
            miner: header.miner,
            first_seen_ms: now_ms,
            first_seen_ns: arrived_ns,
            peer: PeerId::from(peer),
            duplicates: 0,
            delay_ms: now_ms.saturating_sub(timestamp_ms),
            delay_ns: arrived_ns.saturating_sub(timestamp_ns),
            msg_fetch: (!msg_fetch.is_zero()).then_some(msg_fetch),
            equivocates,
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

    /// Note how long `cid`'s messages took to fetch; its record (as it stands) if the block is
    /// still remembered. A record already emitted keeps its fields.
    pub(crate) fn set_msg_fetch(&mut self, cid: &Cid, msg_fetch: std::time::Duration) -> Option<FirstSeenRecord> {
        let entry = self.entries.get_mut(cid)?;
        if !entry.settled && !msg_fetch.is_zero() {
            entry.record.msg_fetch = Some(msg_fetch);
        }
        Some(entry.record.clone())
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
            if let Some(gone) = self.entries.remove(cid) {
                let slot = (gone.record.miner, gone.record.height);
                if self.by_slot.get(&slot) == Some(cid) {
                    self.by_slot.remove(&slot);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lsync_core::chain::cbor::block_cid;

    fn header(miner: u64, height: i64) -> BlockHeader {
        let mut h = crate::synthetic::header(crate::synthetic::BlockSpec {
            parent: &crate::test_chain::genesis(),
            height,
            miner_id: miner,
            wins: 1,
            label: &format!("{miner}-{height}"),
            beacon_round: 1,
            beacon_label: "b".into(),
            timestamp: 1_598_306_400 + 30 * height as u64,
            power_log2: 10,
        })
        .unwrap();
        h.height = height;
        h
    }

    #[test]
    fn a_second_block_of_one_miner_at_one_height_is_flagged() {
        let mut t = FirstSeenTracker::new(100, 1_000);
        let (a, b, c) = (block_cid(b"a"), block_cid(b"b"), block_cid(b"c"));
        assert_eq!(t.observe(a, &header(1000, 5), "p1", 10_000_000, Default::default()), Sighting::First);
        assert_eq!(t.observe(a, &header(1000, 5), "p2", 11_000_000, Default::default()), Sighting::Duplicate, "a copy is not an equivocation");
        assert_eq!(t.observe(b, &header(1000, 5), "p3", 12_000_000, Default::default()), Sighting::First);
        assert_eq!(t.observe(c, &header(1001, 5), "p3", 13_000_000, Default::default()), Sighting::First);
        let records = t.due(1_000);
        let flags: Vec<Option<Cid>> = records.iter().map(|r| r.equivocates).collect();
        assert_eq!(flags, vec![None, Some(a), None]);
        assert_eq!(t.equivocations(), 1);
        // Forgotten with their entries: memory stays bounded.
        t.due(10_000);
        assert!(t.by_slot.is_empty() && t.entries.is_empty());
    }
}
