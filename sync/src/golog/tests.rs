use std::time::Duration;

use cid::Cid;
use lsync_core::chain::{Address, Network, TipSetKey};
use lsync_core::{Event, EventKind, LogParser};
use proptest::prelude::*;

use super::*;
use crate::follower::{Action, LogEvent, LogKind, TargetSelection};
use crate::test_chain::*;

const H1: &str = "bafy2bzacechdx6xd62lcyy7rnyc4uxcxhuwqslcxfvj77fxlwafij3nhzchpy";
const H2: &str = "bafy2bzaceb5xzclgvwgobsog4qckrkimthkisozhw3bkaxg7iiruajhmym5va";
const PEER: &str = "12D3KooWBF8cpp65hp2u9LK5mh19x67ftAam84z9LsfaquTDSBpt";
/// 2021-11-26T01:44:30.657Z
const AT_MS: i64 = 1_637_891_070_657;

fn cid(s: &str) -> Cid {
    s.parse().unwrap()
}

fn key(cids: &[&str]) -> TipSetKey {
    TipSetKey::new(cids.iter().map(|c| cid(c)).collect())
}

fn parse(text: &str) -> Vec<Event> {
    let mut parser = LogParser::new();
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        parser.push_line(i as u64 + 1, line.as_bytes(), &mut events);
    }
    parser.finish(&mut events);
    events
}

fn parse_one(event: &LogEvent, zone: i32) -> Event {
    let line = format_line(event, zone, Network::Mainnet);
    let mut events = parse(&line);
    assert_eq!(events.len(), 1, "{line}");
    let parsed = events.remove(0);
    assert_ne!(
        parsed.kind,
        EventKind::Malformed,
        "{line}: {:?}",
        parsed.problem
    );
    let site = call_site(&event.kind);
    assert_eq!(parsed.level, Some(site.level.as_str()));
    assert_eq!(parsed.logger.as_deref(), Some(site.logger));
    assert_eq!(parsed.caller.as_deref(), Some(site.caller));
    let ts = parsed.ts.unwrap();
    assert_eq!(
        (ts.unix_millis(), ts.offset_secs, ts.frac_digits),
        (event.at_ms, zone, 3)
    );
    parsed
}

fn event(kind: LogKind) -> LogEvent {
    LogEvent { at_ms: AT_MS, kind }
}

#[test]
fn byte_exact_lines() {
    let cases = [
        (
            LogKind::SelectedTarget {
                selection: TargetSelection::PeerHead,
                target: key(&[H1, H2]),
            },
            format!("2021-11-26T09:44:30.657+0800\tINFO\tchain\tchain/sync_manager.go:236\tselected sync target: [{H1} {H2}]\n"),
        ),
        (
            LogKind::WorkerDone {
                worker: 261_121,
                took: Duration::from_nanos(117_831_817),
            },
            "2021-11-26T09:44:30.657+0800\tINFO\tchain\tchain/sync_manager.go:326\tworker 261121 done; took 117.831817ms\n".to_string(),
        ),
        (
            LogKind::NewHeaviest {
                tipset: key(&[H1, H2]),
                height: 1_319_489,
            },
            format!("2021-11-26T09:44:30.657+0800\tINFO\tchainstore\tstore/store.go:685\tNew heaviest tipset! [{H1} {H2}] (height=1319489)\n"),
        ),
        (
            LogKind::BlockDelay {
                block: cid(H1),
                delay_secs: 18,
                miner: Address::new_id(1234).unwrap(),
            },
            format!("2021-11-26T09:44:30.657+0800\tWARN\tsub\tsub/incoming.go:110\treceived block with large delay from miner\t{{\"block\": \"{H1}\", \"delay\": 18, \"miner\": \"f01234\"}}\n"),
        ),
        (
            LogKind::BlockOverPubsub {
                block: cid(H2),
                peer: PEER.into(),
                msg_fetch: Duration::from_micros(1_250),
            },
            format!("2021-11-26T09:44:30.657+0800\tDEBUG\tsub\tsub/incoming.go:101\tnew block over pubsub\t{{\"cid\": \"{H2}\", \"source\": \"{PEER}\", \"msgfetch\": 0.00125}}\n"),
        ),
        (
            LogKind::TieBroken {
                winner: key(&[H2]),
                loser: key(&[H1, H2]),
                candidate_won: false,
            },
            format!("2021-11-26T09:44:30.657+0800\tINFO\tchainstore\tstore/store.go:1345\tweight tie broken in favour of {{{H2}}} against {{{H1},{H2}}}\n"),
        ),
    ];
    for (kind, expected) in cases {
        assert_eq!(
            format_line(&event(kind), 8 * 3600, Network::Mainnet),
            expected
        );
    }
    let utc = format_line(
        &event(LogKind::OutsideConsensusRange { height: 77 }),
        0,
        Network::Testnet,
    );
    assert_eq!(
        utc,
        "2021-11-26T01:44:30.657Z\tINFO\tchain\tchain/sync.go:214\treceived block outside of consensus range at height 77\n"
    );
}

#[test]
fn every_kind_parses_back_with_its_fields() {
    let zone = -5 * 3600;
    let check = |kind: LogKind, expected: EventKind| {
        let parsed = parse_one(&event(kind), zone);
        assert_eq!(parsed.kind, expected);
        parsed
    };
    for (selection, expected) in [
        (TargetSelection::Initial, EventKind::SelectedInitialTarget),
        (TargetSelection::PeerHead, EventKind::SelectedTarget),
        (TargetSelection::AfterWorker, EventKind::SelectedTarget),
        (TargetSelection::Deferred, EventKind::SelectedDeferredTarget),
    ] {
        let e = check(
            LogKind::SelectedTarget {
                selection,
                target: key(&[H1, H2]),
            },
            expected,
        );
        assert_eq!(e.cids, vec![H1, H2]);
    }
    let e = check(
        LogKind::WorkerStart {
            worker: 42,
            target: key(&[H2]),
        },
        EventKind::WorkerStart,
    );
    assert_eq!((e.worker, e.cids), (Some(42), vec![H2.to_string()]));
    let e = check(
        LogKind::WorkerDone {
            worker: 42,
            took: Duration::from_nanos(62_500_000_123),
        },
        EventKind::WorkerDone,
    );
    assert_eq!(e.worker, Some(42));
    assert!((e.duration_ms.unwrap() - 62_500.000123).abs() < 1e-3);
    let e = check(
        LogKind::SyncError {
            target: key(&[H1]),
            error: "failed to fetch {x} from p: request timed out".into(),
        },
        EventKind::SyncError,
    );
    assert_eq!(e.cids, vec![H1]);
    let e = check(
        LogKind::NewHeaviest {
            tipset: key(&[H2, H1]),
            height: 5_000_001,
        },
        EventKind::NewHeaviest,
    );
    assert_eq!(
        (e.cids, e.height),
        (vec![H2.to_string(), H1.to_string()], Some(5_000_001))
    );
    for (kind, expected) in [
        (
            LogKind::BlockOverPubsub {
                block: cid(H1),
                peer: PEER.into(),
                msg_fetch: Duration::from_nanos(3_417_000_001),
            },
            EventKind::BlockOverPubsub,
        ),
        (
            LogKind::SlowMsgFetch {
                block: cid(H1),
                peer: PEER.into(),
                msg_fetch: Duration::from_nanos(3_417_000_001),
            },
            EventKind::SlowMsgFetch,
        ),
    ] {
        let e = check(kind, expected);
        assert_eq!(
            (e.cids, e.peer.as_deref()),
            (vec![H1.to_string()], Some(PEER))
        );
        assert!((e.duration_ms.unwrap() - 3_417.000001).abs() < 1e-3);
    }
    let e = check(
        LogKind::BlockDelay {
            block: cid(H2),
            delay_secs: 11,
            miner: Address::new_id(12_345).unwrap(),
        },
        EventKind::BlockDelay,
    );
    assert_eq!(
        (e.cids, e.delay_s, e.miner.as_deref()),
        (vec![H2.to_string()], Some(11.0), Some("f012345"))
    );
    for candidate_won in [true, false] {
        let e = check(
            LogKind::TieBroken {
                winner: key(&[H1]),
                loser: key(&[H2]),
                candidate_won,
            },
            EventKind::WeightTieBroken,
        );
        assert_eq!(e.cids, vec![H1, H2]);
    }
    let e = check(
        LogKind::OutsideConsensusRange { height: 4_000_000 },
        EventKind::ImpossibleHeight,
    );
    assert_eq!(e.height, Some(4_000_000));
    let e = check(
        LogKind::BadBlock {
            block: cid(H1),
            reason: "bad signature".into(),
        },
        EventKind::BadBlock,
    );
    assert_eq!(e.cids, vec![H1]);
}

#[test]
fn the_writer_filters_by_level_but_always_writes_new_blocks() {
    let config = GoLogConfig {
        min_level: Level::Warn,
        ..GoLogConfig::default()
    };
    let mut writer = GoLogWriter::new(Vec::new(), config);
    let info = event(LogKind::OutsideConsensusRange { height: 1 });
    let debug = event(LogKind::BlockOverPubsub {
        block: cid(H1),
        peer: PEER.into(),
        msg_fetch: Duration::ZERO,
    });
    let error = event(LogKind::SyncError {
        target: key(&[H1]),
        error: "boom".into(),
    });
    assert!(!writer.write_event(&info).unwrap());
    assert!(writer.write_event(&debug).unwrap());
    assert!(writer.write_event(&error).unwrap());
    let text = String::from_utf8(writer.into_inner()).unwrap();
    let kinds: Vec<_> = parse(&text).into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::BlockOverPubsub, EventKind::SyncError]
    );
}

/// Every log event of a follower run, written and parsed back, comes back as the same kinds in
/// the same order (lsync's log is as readable as a node's).
#[test]
fn a_follower_run_round_trips_through_the_parser() {
    let mut h = Harness::mainnet(1);
    let trunk = chain(&genesis(), &[1, 2, 3], 1000, 1, "a");
    let fork = chain(&genesis(), &[1, 2, 3, 4], 1009, 3, "b");
    h.publish(&trunk);
    h.publish(&fork);
    for (i, (block, _)) in trunk.iter().enumerate() {
        h.gossip_with_fetch(at(i as i64 + 1, 6_500), "p1", block, 3_200);
    }
    h.gossip(at(4, 1_000), "p9", &fork[3].0);
    h.serve_all(at(4, 2_000));
    let mut writer = GoLogWriter::new(Vec::new(), GoLogConfig::default());
    let mut written = Vec::new();
    for action in &h.actions {
        if let Action::Log(event) = action {
            if writer.write_event(event).unwrap() {
                written.push(event.clone());
            }
        }
    }
    let parsed = parse(&String::from_utf8(writer.into_inner()).unwrap());
    assert_eq!(parsed.len(), written.len());
    let expected_kind = |k: &LogKind| match k {
        LogKind::SelectedTarget {
            selection: TargetSelection::Initial,
            ..
        } => EventKind::SelectedInitialTarget,
        LogKind::SelectedTarget {
            selection: TargetSelection::Deferred,
            ..
        } => EventKind::SelectedDeferredTarget,
        LogKind::SelectedTarget { .. } => EventKind::SelectedTarget,
        LogKind::WorkerStart { .. } => EventKind::WorkerStart,
        LogKind::WorkerDone { .. } => EventKind::WorkerDone,
        LogKind::SyncError { .. } => EventKind::SyncError,
        LogKind::NewHeaviest { .. } => EventKind::NewHeaviest,
        LogKind::BlockOverPubsub { .. } => EventKind::BlockOverPubsub,
        LogKind::SlowMsgFetch { .. } => EventKind::SlowMsgFetch,
        LogKind::BlockDelay { .. } => EventKind::BlockDelay,
        LogKind::TieBroken { .. } => EventKind::WeightTieBroken,
        LogKind::OutsideConsensusRange { .. } => EventKind::ImpossibleHeight,
        LogKind::BadBlock { .. } => EventKind::BadBlock,
        LogKind::MsgFetchFailed { .. } => EventKind::MsgFetchFailed,
    };
    for (p, w) in parsed.iter().zip(&written) {
        assert_eq!(p.kind, expected_kind(&w.kind));
        if let LogKind::WorkerDone { worker, took } = &w.kind {
            assert_eq!(p.worker, Some(*worker));
            assert!((p.duration_ms.unwrap() - took.as_secs_f64() * 1e3).abs() < 1e-3);
        }
        if let LogKind::NewHeaviest { tipset, height } = &w.kind {
            let cids: Vec<String> = tipset.cids().iter().map(|c| c.to_string()).collect();
            assert_eq!((&p.cids, p.height), (&cids, Some(*height)));
        }
    }
    let kinds: Vec<EventKind> = parsed.iter().map(|e| e.kind).collect();
    for k in [
        EventKind::SelectedInitialTarget,
        EventKind::SelectedTarget,
        EventKind::WorkerStart,
        EventKind::WorkerDone,
        EventKind::NewHeaviest,
        EventKind::BlockOverPubsub,
        EventKind::SlowMsgFetch,
        EventKind::BlockDelay,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

proptest! {
    /// Worker durations survive the text form to within a microsecond.
    #[test]
    fn worker_durations_round_trip_within_a_microsecond(nanos in 0u64..400_000_000_000_000) {
        let took = Duration::from_nanos(nanos);
        let parsed = parse_one(&event(LogKind::WorkerDone { worker: 7, took }), 3600);
        prop_assert!((parsed.duration_ms.unwrap() - nanos as f64 / 1e6).abs() < 1e-3);
    }
}
