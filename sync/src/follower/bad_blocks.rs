//! The bad-block cache (lotus `chain/badtscache.go`): blocks that failed validation, with the
//! reason, so that InformNewHead refuses them and chains built on them at once.

use std::collections::{HashMap, VecDeque};

use cid::Cid;

/// A bounded cache. Lotus uses an LRU of `BadBlockCacheSize` (32768); we evict the oldest
/// insertion instead, which differs only when the cache is full and an old entry is re-hit.
#[derive(Debug, Clone)]
pub(crate) struct BadBlockCache {
    capacity: usize,
    reasons: HashMap<Cid, String>,
    order: VecDeque<Cid>,
}

impl BadBlockCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            reasons: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Record `cid` as bad; a block already marked keeps its first reason.
    pub(crate) fn insert(&mut self, cid: Cid, reason: String) {
        if self.reasons.contains_key(&cid) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
        self.reasons.insert(cid, reason);
        self.order.push_back(cid);
    }

    pub(crate) fn reason(&self, cid: &Cid) -> Option<&str> {
        self.reasons.get(cid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsync_core::chain::cbor::block_cid;

    #[test]
    fn keeps_first_reason_and_evicts_oldest() {
        let (a, b, c) = (block_cid(b"a"), block_cid(b"b"), block_cid(b"c"));
        let mut cache = BadBlockCache::new(2);
        cache.insert(a, "first".into());
        cache.insert(a, "second".into());
        cache.insert(b, "b".into());
        assert_eq!(cache.reason(&a), Some("first"));
        cache.insert(c, "c".into());
        assert_eq!(cache.reason(&a), None);
        assert_eq!(cache.reason(&b), Some("b"));
        assert_eq!(cache.reason(&c), Some("c"));
    }
}
