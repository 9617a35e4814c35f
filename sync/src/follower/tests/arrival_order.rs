//! Whatever order the blocks of a fixed fork tree arrive in, from whichever peers, with chain
//! requests answered at whatever moments, the follower ends on the same head: the heaviest
//! full tipset.

use lsync_core::chain::{tipset_weight, TipSet};
use proptest::prelude::*;

use crate::follower::InputEvent;
use crate::test_chain::*;

/// The tree (heights in brackets, wins after the miner):
/// ```text
/// G ─ T1 = {t1a f01000·1, t1b f01001·1} [1] ─ T2 = {t2a f01003·2} [2] ─ (null) ─ T4 = {t4a, t4b, t4c} [4]
///   └ {t1a} ─ F2 = {f2a f01002·1} [2] ─ F3 = {f3a f01002·3} [3]
/// ```
/// F branches off a miner that saw only t1a. T4 is the heaviest tipset and has the largest
/// ParentWeight, so no arrival order can make the sync manager outrank it.
struct Tree {
    blocks: Vec<Block>,
    tipsets: Vec<TipSet>,
    heaviest: TipSet,
}

fn tree() -> Tree {
    let g = genesis();
    let t1a = mine(&g, 1, 1000, 1, "t1a");
    let t1b = mine(&g, 1, 1001, 1, "t1b");
    let t1 = tipset(&[&t1a, &t1b]);
    let only_t1a = tipset(&[&t1a]);
    let f2a = mine(&only_t1a, 2, 1002, 1, "f2a");
    let f2 = tipset(&[&f2a]);
    let f3a = mine(&f2, 3, 1002, 3, "f3a");
    let t2a = mine(&t1, 2, 1003, 2, "t2a");
    let t2 = tipset(&[&t2a]);
    let t4a = mine(&t2, 4, 1000, 1, "t4a");
    let t4b = mine(&t2, 4, 1004, 2, "t4b");
    let t4c = mine(&t2, 4, 1001, 1, "t4c");
    let t4 = tipset(&[&t4a, &t4b, &t4c]);
    let f3 = tipset(&[&f3a]);
    Tree {
        tipsets: vec![t1, only_t1a, f2, f3, t2, t4.clone()],
        blocks: vec![t1a, t1b, f2a, f3a, t2a, t4a, t4b, t4c],
        heaviest: t4,
    }
}

#[test]
fn the_expected_head_is_the_heaviest_and_outranks_by_parent_weight() {
    let tree = tree();
    let w = |ts: &TipSet| tipset_weight(ts, POWER_LOG2);
    for ts in &tree.tipsets {
        if ts != &tree.heaviest {
            assert!(w(ts) < w(&tree.heaviest), "{ts:?}");
            assert!(ts.parent_weight() < tree.heaviest.parent_weight());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_arrival_order_ends_on_the_heaviest_tipset(
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
        peers in proptest::collection::vec(0..4usize, 8),
        gaps_ms in proptest::collection::vec(0..4_000i64, 8),
        serve_after in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let tree = tree();
        let mut h = Harness::mainnet(1);
        for ts in &tree.tipsets {
            h.net.add(ts);
        }
        let mut now = at(4, 0);
        for (step, &index) in order.iter().enumerate() {
            now += gaps_ms[step];
            h.gossip(now, &format!("peer{}", peers[step]), &tree.blocks[index]);
            if serve_after[step] {
                h.serve_all(now);
            }
        }
        // Let the network answer everything and the scheduler tick a few times.
        for _ in 0..3 {
            h.serve_all(now);
            now += 61_000;
            h.input(now, InputEvent::Tick);
        }
        h.serve_all(now);
        prop_assert_eq!(h.follower.head(), &tree.heaviest);
        prop_assert!(h.follower.active_workers().is_empty());
        // Head changes chain up: each starts where the previous ended.
        let changes = head_changes(&h.actions);
        for pair in changes.windows(2) {
            prop_assert_eq!(&pair[0].to, &pair[1].from);
        }
    }
}
