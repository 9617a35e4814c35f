//! The messages of recently gossiped blocks, as fetched (and checked) over chain exchange:
//! what `follow` serves back when a peer asks for a tipset with messages. Bounded by bytes,
//! oldest out first; a block's messages are shared (`Arc`) with the responses that carry them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use cid::Cid;
use lsync_core::chain::BlockMessages;

#[derive(Debug)]
pub struct MessageCache {
    by_block: HashMap<Cid, Arc<BlockMessages>>,
    /// Insertion order with each entry's size, for eviction.
    order: VecDeque<(Cid, usize)>,
    bytes: usize,
    cap_bytes: usize,
}

impl MessageCache {
    pub fn new(cap_bytes: usize) -> Self {
        Self { by_block: HashMap::new(), order: VecDeque::new(), bytes: 0, cap_bytes }
    }

    pub fn get(&self, block: &Cid) -> Option<Arc<BlockMessages>> {
        self.by_block.get(block).cloned()
    }

    pub fn contains(&self, block: &Cid) -> bool {
        self.by_block.contains_key(block)
    }

    /// Keep `messages` of `block`, evicting the oldest blocks' while over the cap (the newest
    /// is kept even if it alone is larger: it is the one peers ask for next).
    pub fn insert(&mut self, block: Cid, messages: Arc<BlockMessages>) {
        if self.by_block.contains_key(&block) {
            return;
        }
        let size = messages.approx_bytes() + 64;
        self.by_block.insert(block, messages);
        self.order.push_back((block, size));
        self.bytes += size;
        while self.bytes > self.cap_bytes && self.order.len() > 1 {
            let Some((old, old_size)) = self.order.pop_front() else { break };
            self.by_block.remove(&old);
            self.bytes -= old_size;
        }
    }

    pub fn len(&self) -> usize {
        self.by_block.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_block.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsync_core::chain::cbor::block_cid;
    use lsync_core::chain::{Address, Message};
    use num_bigint::BigInt;

    fn messages(n: usize, params: usize) -> Arc<BlockMessages> {
        let m = |nonce| Message {
            version: 0,
            to: Address::new_id(1000).unwrap(),
            from: Address::new_id(1001).unwrap(),
            nonce,
            value: BigInt::from(1),
            gas_limit: 1,
            gas_fee_cap: BigInt::from(1),
            gas_premium: BigInt::from(1),
            method: 0,
            params: vec![0; params],
        };
        Arc::new(BlockMessages { bls: (0..n as u64).map(m).collect(), secpk: Vec::new() })
    }

    #[test]
    fn the_oldest_blocks_go_first_and_bytes_stay_under_the_cap() {
        let mut cache = MessageCache::new(10_000);
        let cids: Vec<Cid> = (0..50u8).map(|i| block_cid(&[i])).collect();
        for cid in &cids {
            cache.insert(*cid, messages(4, 500));
        }
        assert!(cache.bytes() <= 10_000, "{}", cache.bytes());
        assert!(cache.contains(cids.last().unwrap()));
        assert!(!cache.contains(&cids[0]));
        let kept = cache.len();
        assert!(kept >= 3 && cids[50 - kept..].iter().all(|c| cache.contains(c)));
        // One block over the whole cap is still kept (alone).
        cache.insert(block_cid(b"big"), messages(10, 5_000));
        assert_eq!(cache.len(), 1);
    }
}
