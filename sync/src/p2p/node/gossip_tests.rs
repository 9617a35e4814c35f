//! The gossip validator on real mainnet blocks (the forest-export40 segment, heights 1–39) and
//! on the lies a hostile peer tells with them.

use cid::Cid;
use fvm_ipld_blockstore::Blockstore;
use lsync_core::chain::{amt_v0_cids, BlockHeader, BlockMsg, CarReader, MsgMeta};

use super::*;

/// Every real block of the segment with its true message lists.
fn real_block_msgs() -> Vec<BlockMsg> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/lotus/forest-export40.car");
    let car = std::fs::read(path).unwrap();
    let store = fvm_ipld_blockstore::MemoryBlockstore::new();
    let mut headers = Vec::new();
    for block in CarReader::new(&car[..]).unwrap() {
        let block = block.unwrap();
        store.put_keyed(&block.cid, &block.data).unwrap();
        if let Ok(h) = BlockHeader::decode(&block.data) {
            if h.height > 0 {
                headers.push(h);
            }
        }
    }
    let list = |root: &Cid| amt_v0_cids(root, &store).unwrap();
    headers
        .into_iter()
        .map(|header| {
            let meta = MsgMeta::decode(&store.get(&header.messages).unwrap().unwrap()).unwrap();
            BlockMsg { bls_messages: list(&meta.bls_messages), secpk_messages: list(&meta.secpk_messages), header }
        })
        .collect()
}

fn verdict(msg: &BlockMsg, window: GossipWindow) -> BlockVerdict {
    check_block_msg(&msg.to_cbor().unwrap(), window)
}

fn reason(v: &BlockVerdict) -> &'static str {
    match v {
        BlockVerdict::Accept { .. } => "accept",
        BlockVerdict::Ignore(d) | BlockVerdict::Reject(d) => d.reason,
    }
}

#[test]
fn real_blocks_with_their_real_lists_are_accepted() {
    let blocks = real_block_msgs();
    assert!(blocks.len() >= 39);
    for b in &blocks {
        match verdict(b, GossipWindow::default()) {
            BlockVerdict::Accept { cid, .. } => assert_eq!(cid, b.header.cid().unwrap()),
            other => panic!("height {}: {other:?}", b.header.height),
        }
    }
}

#[test]
fn real_headers_with_other_lists_are_rejected_as_lies() {
    let blocks = real_block_msgs();
    let foreign = Cid::try_from("bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2").unwrap();
    let with_messages: Vec<&BlockMsg> = blocks.iter().filter(|b| !b.bls_messages.is_empty() || !b.secpk_messages.is_empty()).collect();
    let mut lies = 0;
    for b in &blocks {
        let mut variants: Vec<BlockMsg> = Vec::new();
        // A foreign CID added, the lists swapped, a bogus secp list.
        let mut added = b.clone();
        added.bls_messages.push(foreign);
        variants.push(added);
        if b.bls_messages != b.secpk_messages {
            let mut swapped = b.clone();
            std::mem::swap(&mut swapped.bls_messages, &mut swapped.secpk_messages);
            variants.push(swapped);
        }
        let mut bogus = b.clone();
        bogus.secpk_messages = vec![foreign, foreign];
        variants.push(bogus);
        if !b.bls_messages.is_empty() || !b.secpk_messages.is_empty() {
            let mut emptied = b.clone();
            emptied.bls_messages.clear();
            emptied.secpk_messages.clear();
            variants.push(emptied);
        }
        if b.bls_messages.len() >= 2 {
            let mut reversed = b.clone();
            reversed.bls_messages.reverse();
            variants.push(reversed);
        }
        for v in variants {
            let got = verdict(&v, GossipWindow::default());
            assert_eq!(reason(&got), "msg_meta", "height {}: {got:?}", b.header.height);
            lies += 1;
        }
    }
    assert!(lies >= 2 * blocks.len(), "{lies}");
    eprintln!("{} real blocks, {} with messages, {lies} lies rejected", blocks.len(), with_messages.len());
}

#[test]
fn future_and_out_of_range_blocks_are_ignored_not_penalised() {
    let b = &real_block_msgs()[0];
    let ts = b.header.timestamp;
    let at = |now: u64| reason(&verdict(b, GossipWindow { heights: None, now_secs: Some(now) }));
    assert_eq!(at(ts), "accept");
    assert_eq!(at(ts - ALLOWABLE_CLOCK_DRIFT_SECS), "accept", "within Lotus's drift");
    assert_eq!(at(ts - ALLOWABLE_CLOCK_DRIFT_SECS - 1), "from_the_future");
    assert!(matches!(verdict(b, GossipWindow { heights: None, now_secs: Some(ts - 60) }), BlockVerdict::Ignore(_)));
    let h = b.header.height;
    let range = |low, high| reason(&verdict(b, GossipWindow { heights: Some((low, high)), now_secs: None }));
    assert_eq!(range(h, h), "accept");
    assert_eq!(range(h + 1, h + 10), "consensus_range");
    assert_eq!(range(0, h - 1), "consensus_range");
}

#[test]
fn garbage_and_unsigned_blocks_are_rejected() {
    assert_eq!(reason(&check_block_msg(b"\x83garbage", GossipWindow::default())), "undecodable");
    let mut b = real_block_msgs()[0].clone();
    b.header.block_sig = None;
    assert_eq!(reason(&verdict(&b, GossipWindow::default())), "limits");
}
