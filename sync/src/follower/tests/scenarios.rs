use std::time::Duration;

use lsync_core::chain::{HelloMessage, TipSet};
use lsync_core::{HeadChange as CoreHeadChange, ReorgClass};
use num_bigint::BigInt;

use crate::follower::{
    Action, FetchError, FollowerError, Input, InputEvent, LogKind, RefusalReason, SyncFailure,
    TargetSelection,
};
use crate::test_chain::*;

/// A harness that bootstrapped on one peer and synced trunk block `a1` (wins 1).
fn synced_on_a1() -> (Harness, Vec<(Block, TipSet)>) {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 1, "a");
    h.publish(&trunk);
    h.gossip(at(1, 2_000), "p1", &trunk[0].0);
    assert_eq!(h.follower.head(), &trunk[0].1);
    assert!(h.follower.initial_sync_done());
    h.actions.clear();
    (h, trunk)
}

fn as_core(change: &crate::follower::HeadPath) -> CoreHeadChange {
    change.change()
}

#[test]
fn bootstrap_waits_for_threshold_peers() {
    let mut h = Harness::mainnet(4);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 1, "a");
    h.publish(&trunk);
    let now = at(3, 5_000);
    for (peer, idx) in [("p1", 1), ("p2", 1), ("p3", 2)] {
        let actions = h.peer_head(now, peer, &trunk[idx].1);
        assert!(
            actions.is_empty(),
            "{peer} alone must not start a sync: {actions:?}"
        );
    }
    // The same peer again does not count twice.
    assert!(h.peer_head(now, "p3", &trunk[2].1).is_empty());
    let actions = h.peer_head(now, "p4", &trunk[1].1);
    let a3 = trunk[2].1.key().clone();
    assert_eq!(
        logs(&actions),
        vec![
            &LogKind::SelectedTarget {
                selection: TargetSelection::Initial,
                target: a3.clone()
            },
            &LogKind::WorkerStart {
                worker: 0,
                target: a3
            },
        ]
    );
    // a3's parent a2 is known from p1's head; a1 must be fetched from p3, who announced a3.
    let fetch = fetches(&actions);
    assert_eq!(fetch.len(), 1);
    assert_eq!(
        (fetch[0].peer.as_str(), &fetch[0].head, fetch[0].length),
        ("p3", trunk[0].1.key(), 1)
    );
    let actions = h.serve_all(now);
    assert_eq!(counts(&actions), vec![(0, 3)]);
    assert_eq!(h.follower.head(), &trunk[2].1);
    assert!(h.follower.initial_sync_done());
    assert!(matches!(
        logs(&actions).last(),
        Some(LogKind::WorkerDone { worker: 0, .. })
    ));
}

#[test]
fn hello_fetches_the_announced_head_first() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2], 1000, 1, "a");
    h.publish(&trunk);
    let hello = |genesis_hash| HelloMessage {
        heaviest_tipset: trunk[1].1.key().clone(),
        heaviest_tipset_height: 2,
        heaviest_tipset_weight: BigInt::from(40_000),
        genesis_hash,
    };
    let other_genesis = trunk[0].0.cid;
    let refused = h.follower.handle(Input::new(
        at(2, 0),
        InputEvent::Hello {
            peer: "stranger".into(),
            message: hello(other_genesis),
        },
    ));
    assert!(matches!(
        refused,
        Err(FollowerError::GenesisMismatch { .. })
    ));

    let actions = h.input(
        at(2, 0),
        InputEvent::Hello {
            peer: "p1".into(),
            message: hello(genesis().cids()[0]),
        },
    );
    let fetch = fetches(&actions);
    assert_eq!(fetch.len(), 1);
    assert_eq!(
        (fetch[0].head.clone(), fetch[0].length),
        (trunk[1].1.key().clone(), 1)
    );
    assert!(
        logs(&actions).is_empty(),
        "no target before the tipset is known"
    );
    let actions = h.serve_all(at(2, 100));
    assert_eq!(counts(&actions), vec![(0, 2)]);
    // A second answer to the same request is refused.
    let again = h.follower.handle(Input::new(
        at(2, 200),
        InputEvent::ChainFetched {
            request: fetch[0].id,
            tipsets: vec![trunk[1].1.clone()],
        },
    ));
    assert_eq!(again, Err(FollowerError::UnknownRequest(fetch[0].id)));
}

#[test]
fn extend_yields_0_1() {
    let (mut h, trunk) = synced_on_a1();
    let actions = h.gossip(at(2, 3_000), "p2", &trunk[1].0);
    assert_eq!(counts(&actions), vec![(0, 1)]);
    let change = head_changes(&actions)[0];
    assert_eq!(change.from, trunk[0].1);
    assert_eq!(change.to, trunk[1].1);
    assert_eq!(change.fork_point, *trunk[0].1.key());
    assert_eq!(as_core(change).class(), ReorgClass::Extend);
    assert!(logs(&actions).contains(&&LogKind::NewHeaviest {
        tipset: trunk[1].1.key().clone(),
        height: 2
    }));
}

#[test]
fn late_block_widens_tipset_1_1() {
    let (mut h, trunk) = synced_on_a1();
    let late = mine(&genesis(), 1, 1001, 1, "late-b1");
    let actions = h.gossip(at(1, 9_000), "p2", &late);
    let wide = tipset(&[&trunk[0].0, &late]);
    assert_eq!(counts(&actions), vec![(1, 1)]);
    let change = head_changes(&actions)[0];
    assert_eq!((&change.from, &change.to), (&trunk[0].1, &wide));
    assert_eq!(as_core(change).class(), ReorgClass::Widen);
    // The target was the late block alone; the store widened it (lotus-facts §2.4).
    assert!(logs(&actions).contains(&&LogKind::SelectedTarget {
        selection: TargetSelection::PeerHead,
        target: tipset(&[&late]).key().clone()
    }));
    assert_eq!(h.follower.head(), &wide);
}

#[test]
fn null_round_adds_nothing() {
    let (mut h, trunk) = synced_on_a1();
    let after_null = mine(&trunk[0].1, 3, 1002, 1, "after-null");
    let actions = h.gossip(at(3, 1_000), "p2", &after_null);
    assert_eq!(counts(&actions), vec![(0, 1)]);
    let change = head_changes(&actions)[0];
    assert_eq!((change.from.height(), change.to.height()), (1, 3));
}

#[test]
fn deep_fork_reorgs_with_counts() {
    let (mut h, trunk) = synced_on_a1();
    h.gossip(at(2, 1_000), "p1", &trunk[1].0);
    h.gossip(at(3, 1_000), "p1", &trunk[2].0);
    assert_eq!(h.follower.head(), &trunk[2].1);
    // A heavier fork from genesis (3 wins per block), published by p9, tip seen at height 4.
    let fork = chain(&genesis(), &[1, 2, 3, 4], 1009, 3, "b");
    h.publish(&fork);
    h.actions.clear();
    h.gossip(at(4, 1_000), "p9", &fork[3].0);
    let actions = h.serve_all(at(4, 2_000));
    // Fork fetches from p9: 1 tipset, then 2 (a fork below our head widens its window).
    let requested: Vec<u64> = fetches(&h.actions).iter().map(|f| f.length).collect();
    assert_eq!(requested, vec![1, 2]);
    assert!(fetches(&h.actions).iter().all(|f| f.peer == "p9"));
    assert_eq!(counts(&actions), vec![(3, 4)]);
    let change = head_changes(&actions)[0];
    let keys = |list: &[TipSet]| list.iter().map(|t| t.key().clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&change.revert),
        keys(&[trunk[2].1.clone(), trunk[1].1.clone(), trunk[0].1.clone()])
    );
    assert_eq!(
        keys(&change.apply),
        fork.iter()
            .rev()
            .map(|(_, t)| t.key().clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        (&change.fork_point, change.fork_point_height),
        (genesis().key(), 0)
    );
    assert_eq!(as_core(change).class(), ReorgClass::Reorg);
}

#[test]
fn lighter_fork_is_ignored() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 3, "a");
    h.publish(&trunk);
    h.gossip(at(3, 1_000), "p1", &trunk[2].0);
    h.serve_all(at(3, 1_500));
    assert_eq!(h.follower.head(), &trunk[2].1);

    // A one-win fork from genesis: its tip's ParentWeight is below our head's, so
    // InformNewHead drops it before the sync manager sees it.
    let light = chain(&genesis(), &[1, 2, 3], 1005, 1, "c");
    h.publish(&light);
    h.actions.clear();
    let actions = h.gossip(at(3, 2_000), "p5", &light[2].0);
    assert!(logs(&actions)
        .iter()
        .all(|l| matches!(l, LogKind::BlockOverPubsub { .. })));
    assert!(fetches(&actions).is_empty());

    // A tip with our head's ParentWeight (on a2, after a null round) is synced — but it is
    // lighter than a3, so the head stays.
    let rival = mine(&trunk[1].1, 4, 1006, 1, "rival4");
    let actions = h.gossip(at(4, 1_000), "p6", &rival);
    assert!(logs(&actions)
        .iter()
        .any(|l| matches!(l, LogKind::WorkerDone { .. })));
    assert!(head_changes(&actions).is_empty());
    assert_eq!(h.follower.head(), &trunk[2].1);
}

#[test]
fn impossible_height_rejected() {
    let (mut h, _) = synced_on_a1();
    let far = chain(&genesis(), &(1..=16).collect::<Vec<_>>(), 1007, 1, "far");
    h.publish(&far);
    // At epoch 10 the clock allows up to 10 + MaxHeightDrift = 15.
    let now = at(10, 0);
    let actions = h.gossip(now, "p7", &far[15].0);
    assert_eq!(
        logs(&actions)[1..],
        [&LogKind::OutsideConsensusRange { height: 16 }]
    );
    assert!(fetches(&actions).is_empty());
    let actions = h.gossip(now, "p7", &far[14].0);
    assert!(logs(&actions)
        .iter()
        .any(|l| matches!(l, LogKind::WorkerStart { .. })));
    assert_eq!(fetches(&actions).len(), 1);
}

#[test]
fn bad_block_rejected() {
    let (mut h, trunk) = synced_on_a1();
    // 1. A block the driver found invalid is refused by InformNewHead.
    h.input(
        at(2, 0),
        InputEvent::MarkBad {
            cid: trunk[1].0.cid,
            reason: "bad signature".into(),
        },
    );
    let actions = h.gossip(at(2, 1_000), "p2", &trunk[1].0);
    assert_eq!(
        logs(&actions)[1..],
        [&LogKind::BadBlock {
            block: trunk[1].0.cid,
            reason: "bad signature".into()
        }]
    );
    assert!(fetches(&actions).is_empty() && head_changes(&actions).is_empty());

    // 2. A block off the 30 s grid fails its sync and becomes bad; a child of it then fails
    //    as "linked to" it, and is marked bad in turn.
    let mut skewed = mine(&trunk[0].1, 2, 1003, 1, "skewed");
    skewed.header.timestamp += 7;
    skewed.cid = skewed.header.cid().unwrap();
    let actions = h.gossip(at(2, 8_000), "p3", &skewed);
    let error = logs(&actions)
        .into_iter()
        .find_map(|l| match l {
            LogKind::SyncError { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("the sync fails");
    assert!(error.contains("wrong timestamp"), "{error}");
    assert!(h.follower.bad_block_reason(&skewed.cid).is_some());

    let child = mine(&tipset(&[&skewed]), 3, 1004, 1, "child-of-skewed");
    let actions = h.gossip(at(3, 1_000), "p4", &child);
    let error = logs(&actions)
        .into_iter()
        .find_map(|l| match l {
            LogKind::SyncError { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("the sync fails");
    assert!(
        error.starts_with("chain linked to block marked previously as bad"),
        "{error}"
    );
    assert!(h.follower.bad_block_reason(&child.cid).is_some());
    let actions = h.peer_head(at(3, 2_000), "p5", &tipset(&[&child]));
    assert!(matches!(logs(&actions)[..], [LogKind::BadBlock { .. }]));
    assert_eq!(h.follower.head(), &trunk[0].1);
}

/// p (h1) and q (h1) share genesis; A (h2, 2 wins) sits on {p}, B (h2, 1 win) on {p,q}. With
/// L = 49: w({p,q}) − w({p}) = 2508 − 1254 = 1254 = ⌊25.6·49·2⌋ − ⌊25.6·49·1⌋, so w(A) = w(B).
fn tie_fixture(label: &str) -> (Block, Block, Block, Block) {
    let p = mine(&genesis(), 1, 1000, 1, &format!("{label}p"));
    let q = mine(&genesis(), 1, 1001, 1, &format!("{label}q"));
    let a = mine(&tipset(&[&p]), 2, 1002, 2, &format!("{label}A"));
    let b = mine(&tipset(&[&p, &q]), 2, 1003, 1, &format!("{label}B"));
    (p, q, a, b)
}

#[test]
fn tie_broken_by_ticket() {
    for candidate_should_win in [true, false] {
        let (p, q, a, b) = (0..)
            .map(|i| tie_fixture(&format!("tie{i}-")))
            .find(|(_, _, a, b)| {
                (b.header.ticket_digest() < a.header.ticket_digest()) == candidate_should_win
            })
            .unwrap();
        let mut h = Harness::mainnet(1);
        h.gossip(at(1, 1_000), "p1", &p);
        h.gossip(at(2, 1_000), "p1", &a);
        assert_eq!(h.follower.head(), &tipset(&[&a]));
        // q is lighter than our head by then; InformNewHead keeps its header all the same.
        h.gossip(at(2, 1_500), "p2", &q);
        let actions = h.gossip(at(2, 2_000), "p2", &b);
        let (ta, tb) = (tipset(&[&a]), tipset(&[&b]));
        assert_eq!(h.follower.power_log2(), Some(POWER_LOG2));
        let tie = logs(&actions)
            .into_iter()
            .find(|l| matches!(l, LogKind::TieBroken { .. }))
            .expect("a tie");
        if candidate_should_win {
            assert_eq!(
                tie,
                &LogKind::TieBroken {
                    winner: tb.key().clone(),
                    loser: ta.key().clone(),
                    candidate_won: true
                }
            );
            assert_eq!(counts(&actions), vec![(2, 2)]);
            assert_eq!(h.follower.head(), &tb);
        } else {
            assert_eq!(
                tie,
                &LogKind::TieBroken {
                    winner: ta.key().clone(),
                    loser: tb.key().clone(),
                    candidate_won: false
                }
            );
            assert!(head_changes(&actions).is_empty());
            assert_eq!(h.follower.head(), &ta);
        }
    }
}

#[test]
fn fork_beyond_finality_refused() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &(1..=901).collect::<Vec<_>>(), 1000, 1, "a");
    h.publish(&trunk);
    h.gossip(at(901, 1_000), "p1", &trunk[900].0);
    let actions = h.serve_all(at(901, 2_000));
    assert_eq!(counts(&actions), vec![(0, 901)]);

    // Heavier, but reverting all 901 of our tipsets: refused, silently as in Lotus.
    let deep = chain(&genesis(), &(1..=902).collect::<Vec<_>>(), 1001, 2, "f");
    h.publish(&deep);
    h.gossip(at(902, 1_000), "p2", &deep[901].0);
    let actions = h.serve_all(at(902, 2_000));
    assert!(head_changes(&actions).is_empty());
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::HeadRefused(r) if r.reason == RefusalReason::ForkTooLong && r.candidate == *deep[901].1.key()
    )));
    assert!(!logs(&actions)
        .iter()
        .any(|l| matches!(l, LogKind::NewHeaviest { .. })));
    assert_eq!(h.follower.head(), &trunk[900].1);

    // Forking off a2 reverts 899 tipsets: one less than the limit, accepted.
    let shallower = chain(&trunk[1].1, &(3..=903).collect::<Vec<_>>(), 1002, 3, "g");
    h.publish(&shallower);
    h.gossip(at(903, 1_000), "p3", &shallower[900].0);
    let actions = h.serve_all(at(903, 2_000));
    assert_eq!(counts(&actions), vec![(899, 901)]);
}

#[test]
fn fork_needing_tipsets_beyond_finality_fails_the_worker() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &(1..=905).collect::<Vec<_>>(), 1000, 1, "a");
    h.publish(&trunk);
    h.gossip(at(905, 0), "p1", &trunk[904].0);
    h.serve_all(at(905, 0));
    // A heavier fork from genesis whose peer only has it from height 5 up: after its answers
    // the walk needs height 4, below 905 − 900, so the worker gives up instead of fetching.
    let fork = chain(&genesis(), &(1..=906).collect::<Vec<_>>(), 1001, 3, "z");
    h.publish(&fork[4..]);
    h.gossip(at(906, 0), "p2", &fork[905].0);
    let actions = h.serve_all(at(906, 0));
    let failure = logs(&actions)
        .into_iter()
        .find_map(|l| match l {
            LogKind::SyncError { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("the worker fails");
    assert!(
        failure.starts_with("fork longer than threshold: needs tipsets at height 4"),
        "{failure}"
    );
    assert_eq!(h.follower.head(), &trunk[904].1);
    assert!(h.follower.outstanding_requests().is_empty());
}

#[test]
fn workers_limited_to_5() {
    let (mut h, _) = synced_on_a1();
    // Six unrelated tips at height 2, on parents nobody serves, each heavier than the last.
    let tips: Vec<Block> = (0..6)
        .map(|i| {
            let hidden = mine(&genesis(), 1, 2000 + i, 1 + i as i64, &format!("hidden{i}"));
            mine(&tipset(&[&hidden]), 2, 3000 + i, 1, &format!("tip{i}"))
        })
        .collect();
    let now = at(2, 1_000);
    for (i, tip) in tips.iter().enumerate() {
        h.input(
            now,
            InputEvent::PeerHead {
                peer: format!("peer{i}"),
                tipset: tipset(&[tip]),
            },
        );
    }
    let started: Vec<u64> = logs(&h.actions)
        .iter()
        .filter_map(|l| match l {
            LogKind::WorkerStart { worker, .. } => Some(*worker),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![1, 2, 3, 4, 5]);
    assert_eq!(h.follower.active_workers().len(), 5);
    assert_eq!(h.follower.outstanding_requests().len(), 5);
    assert_eq!(h.follower.queued_targets(), (0, 1), "the sixth is deferred");

    // Worker 1's fetch fails: it ends, and the deferred target takes its place.
    let request = h.follower.outstanding_requests()[0].clone();
    let actions = h.input(
        now + 5_000,
        InputEvent::FetchFailed {
            request: request.id,
            error: FetchError::Status {
                status: 201,
                message: "not found".into(),
            },
        },
    );
    let sixth = tipset(&[&tips[5]]).key().clone();
    let expected_error = SyncFailure::Fetch {
        key: request.head.clone(),
        peer: request.peer.clone(),
        error: FetchError::Status {
            status: 201,
            message: "not found".into(),
        },
    }
    .to_string();
    assert_eq!(
        logs(&actions),
        vec![
            &LogKind::WorkerDone {
                worker: 1,
                took: Duration::from_secs(5)
            },
            &LogKind::SyncError {
                target: tipset(&[&tips[0]]).key().clone(),
                error: expected_error
            },
            &LogKind::SelectedTarget {
                selection: TargetSelection::AfterWorker,
                target: sixth.clone()
            },
            &LogKind::WorkerStart {
                worker: 6,
                target: sixth
            },
        ]
    );
    assert_eq!(h.follower.active_workers(), vec![2, 3, 4, 5, 6]);

    // Unanswered requests time out on a tick.
    let actions = h.input(now + 120_000, InputEvent::Tick);
    let failed = logs(&actions)
        .iter()
        .filter(|l| matches!(l, LogKind::SyncError { error, .. } if error.ends_with("request timed out")))
        .count();
    assert_eq!(failed, 5);
    assert!(h.follower.active_workers().is_empty());
}

#[test]
fn recent_sync_buffer_skips_resync() {
    let (mut h, trunk) = synced_on_a1();
    // Another peer reports the head we just synced: no target, no worker.
    let actions = h.peer_head(at(1, 3_000), "p2", &trunk[0].1);
    assert!(actions.is_empty(), "{actions:?}");
    // Something new still starts a worker.
    let actions = h.peer_head(at(2, 1_000), "p2", &trunk[1].1);
    assert!(logs(&actions)
        .iter()
        .any(|l| matches!(l, LogKind::WorkerStart { .. })));
}

#[test]
fn deferred_targets_start_on_the_scheduler_tick() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 1, "a");
    h.publish(&trunk);
    // The initial sync waits for its chain…
    h.gossip(at(3, 0), "p1", &trunk[2].0);
    // …while three other heads arrive (on two-win chains nobody serves): all deferred.
    let others: Vec<TipSet> = (0..3)
        .map(|i| {
            let hidden = chain(&genesis(), &[1, 2], 2000 + i, 2, &format!("hidden{i}-"));
            tipset(&[&mine(&hidden[1].1, 3, 3000 + i, 1, &format!("other{i}"))])
        })
        .collect();
    for (i, ts) in others.iter().enumerate() {
        assert!(h.peer_head(at(3, 100), &format!("o{i}"), ts).is_empty());
    }
    assert_eq!(h.follower.queued_targets(), (0, 3));
    assert!(!h.follower.initial_sync_done());

    // The initial sync ends fast enough; its worker picks one deferred target next.
    let actions = h.serve_all(at(3, 200));
    assert!(h.follower.initial_sync_done());
    let selections = |actions: &[Action]| {
        logs(actions)
            .into_iter()
            .filter_map(|l| match l {
                LogKind::SelectedTarget { selection, target } => Some((*selection, target.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        selections(&actions),
        vec![(TargetSelection::AfterWorker, others[0].key().clone())]
    );
    assert_eq!(h.follower.queued_targets(), (0, 2));

    // The scheduler's minute tick starts the rest, up to MaxSyncWorkers.
    let actions = h.input(at(3, 300), InputEvent::Tick);
    assert_eq!(
        selections(&actions),
        vec![
            (TargetSelection::Deferred, others[1].key().clone()),
            (TargetSelection::Deferred, others[2].key().clone()),
        ]
    );
    assert_eq!(h.follower.active_workers(), vec![1, 2, 3]);
    // The ticker has done its job: later ticks start nothing.
    assert!(selections(&h.input(at(5, 0), InputEvent::Tick)).is_empty());
}

#[test]
fn first_seen_records_delay_and_duplicates() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2], 1000, 1, "a");
    let late = at(1, 7_250);
    let actions = h.gossip(late, "p1", &trunk[0].0);
    assert_eq!(
        logs(&actions)[..2],
        [
            &LogKind::BlockOverPubsub {
                block: trunk[0].0.cid,
                peer: "p1".into(),
                msg_fetch: Duration::ZERO
            },
            &LogKind::BlockDelay {
                block: trunk[0].0.cid,
                delay_secs: 7,
                miner: trunk[0].0.header.miner
            },
        ]
    );
    // Copies from other peers only count.
    assert!(h.gossip(late + 300, "p2", &trunk[0].0).is_empty());
    assert!(h.gossip(late + 900, "p3", &trunk[0].0).is_empty());
    // A punctual block whose messages took 3.5 s: slow fetch, and 1.5 + 3.5 = 5 s is not late.
    let actions = h.gossip_with_fetch(at(2, 1_500), "p2", &trunk[1].0, 3_500);
    assert!(logs(&actions).contains(&&LogKind::SlowMsgFetch {
        block: trunk[1].0.cid,
        peer: "p2".into(),
        msg_fetch: Duration::from_millis(3_500)
    }));
    assert!(!logs(&actions)
        .iter()
        .any(|l| matches!(l, LogKind::BlockDelay { .. })));

    // Records are emitted once their duplicate window (one block time) closed.
    let seen = |actions: &[Action]| {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::BlockSeen(r) => Some(r.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(seen(&h.input(late + 29_999, InputEvent::Tick)).is_empty());
    let records = seen(&h.input(late + 30_000, InputEvent::Tick));
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (
            r.cid,
            r.height,
            r.first_seen_ms,
            r.peer.as_str(),
            r.duplicates,
            r.delay_ms
        ),
        (trunk[0].0.cid, 1, late, "p1", 2, 7_250)
    );
    assert_eq!(r.miner.to_string(), "f01000");
    let records = seen(&h.follower.flush_first_seen());
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].delay_ms, records[0].duplicates), (1_500, 0));
}

#[test]
fn an_arrived_block_is_a_candidate_at_once_and_its_fetch_is_logged_when_done() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2], 1000, 1, "a");
    let block = &trunk[0].0;
    h.publish(&trunk);
    let arrived = at(1, 1_500);
    // Arrival: the head moves without waiting for the messages, and nothing is logged of the
    // pubsub pipeline yet (Lotus logs it once the fetch is done).
    let actions = h.input(
        arrived,
        InputEvent::GossipArrived {
            peer: "p1".into(),
            cid: block.cid,
            header: Box::new(block.header.clone()),
            arrived_ns: arrived * 1_000_000 + 123_456,
        },
    );
    assert_eq!(counts(&actions), vec![(0, 1)], "{actions:?}");
    assert!(!logs(&actions).iter().any(|l| matches!(l, LogKind::BlockOverPubsub { .. })));
    // 4 s later the messages are in: the pubsub line with the fetch time, the slow-fetch
    // warning, and the lateness (1.5 s + 4 s = 5.5 s: whole seconds 5, not over 5) unflagged.
    let fetched = Duration::from_millis(4_000);
    let actions = h.input(
        arrived + 4_000,
        InputEvent::MessagesFetched { peer: "p1".into(), cid: block.cid, msg_fetch: fetched, msg_fetch_error: None },
    );
    assert_eq!(
        logs(&actions),
        vec![
            &LogKind::BlockOverPubsub { block: block.cid, peer: "p1".into(), msg_fetch: fetched },
            &LogKind::SlowMsgFetch { block: block.cid, peer: "p1".into(), msg_fetch: fetched },
        ]
    );
    // The record keeps the arrival to the nanosecond and the fetch time.
    let records: Vec<crate::follower::FirstSeenRecord> = h
        .input(at(3, 0), InputEvent::Tick)
        .into_iter()
        .chain(h.follower.flush_first_seen())
        .filter_map(|a| match a {
            Action::BlockSeen(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].first_seen_ns, arrived * 1_000_000 + 123_456);
    assert_eq!(records[0].delay_ns, 1_500_123_456);
    assert_eq!(records[0].msg_fetch, Some(fetched));
    // A failed fetch is Lotus's error line; the block stays seen.
    let b2 = &trunk[1].0;
    let t2 = at(2, 200);
    h.input(t2, InputEvent::GossipArrived { peer: "p2".into(), cid: b2.cid, header: Box::new(b2.header.clone()), arrived_ns: t2 * 1_000_000 });
    let actions = h.input(
        t2 + 9_000,
        InputEvent::MessagesFetched { peer: "p2".into(), cid: b2.cid, msg_fetch: Duration::from_secs(9), msg_fetch_error: Some("no answer within 3000 ms".into()) },
    );
    assert!(matches!(logs(&actions)[0], LogKind::MsgFetchFailed { error, .. } if error.contains("no answer")));
    assert!(logs(&actions).iter().any(|l| matches!(l, LogKind::BlockDelay { delay_secs: 9, .. })));
}
