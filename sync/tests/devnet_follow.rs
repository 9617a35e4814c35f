//! End to end on loopback: a devnet, a follower, and the follower's journal and log read back
//! with lsync-core's parsers and checked against the devnet's ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::identity::Keypair;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use lsync_core::chain::{BlockHeader, BlockMsg, CarReader, Request, Response, ResponseStatus};
use lsync_core::{EventKind, JournalOptions, JournalParser, LogParser, ReorgClass};
use lsync_sync::devnet::plan::devnet_genesis;
use lsync_sync::devnet::{run_devnet, DevnetConfig, GroundTruth, Scenario};
use lsync_sync::p2p::node::{blocks_topic, build_swarm, NodeBehaviourEvent, NodeTimeouts};
use lsync_sync::p2p::{run_follow, FollowConfig, FollowStats, FollowStatus};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::time::timeout;

/// Largest accepted |first-seen lateness − actual publish lateness|, ms. Loopback delivery is
/// 1–5 ms, but the other tests of this binary share the 2 cores and a full workspace run once
/// failed a 10 ms bound; a unit or clock mistake is off by hundreds, so 25 still catches it.
const DELAY_TOLERANCE_MS: i64 = 25;

/// One devnet at a time: two on a 2-core machine put scheduling delays into the latencies
/// being measured. (tokio's mutex works across each test's own runtime.)
static ONE_NETWORK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The real mainnet genesis header, from the genesis CAR Lotus ships.
fn mainnet_genesis_header() -> BlockHeader {
    let candidates = [PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lotus/lotus-genesis-mainnet.car.zst")];
    let path = candidates
        .iter()
        .find(|p| p.exists())
        .expect("mainnet genesis CAR fixture");
    let decoder = zstd::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut car = CarReader::new(decoder).unwrap();
    let root = car.roots()[0];
    while let Some(block) = car.next_block().unwrap() {
        if block.cid == root {
            return BlockHeader::decode(&block.data).unwrap();
        }
    }
    panic!("genesis root not in the CAR");
}

/// A scratch directory, removed when the test ends (also when it fails: a failing test's files
/// are then gone, but reruns do not pile up directories in /tmp).
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("lsync-p2p-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Wait until `pred` holds for the status, with a timeout.
async fn wait_status(
    rx: &mut watch::Receiver<FollowStatus>,
    limit: Duration,
    pred: impl Fn(&FollowStatus) -> bool,
) -> FollowStatus {
    timeout(limit, async {
        loop {
            if pred(&rx.borrow_and_update()) {
                return rx.borrow().clone();
            }
            rx.changed().await.expect("follower alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("status condition not met; last: {:?}", rx.borrow()))
}

fn cid_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("/").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What the follower wrote, read back with lsync-core's parsers.
struct Written {
    head_changes: Vec<lsync_core::HeadChange>,
    /// (cid, delay_ms, peer) of every block_seen record.
    seen: Vec<(String, i64, String)>,
    /// Canonical chain rebuilt from the reorg paths: height → cids.
    canonical: BTreeMap<i64, Vec<String>>,
    /// Blocks applied at some point but not canonical at the end.
    orphaned: BTreeSet<String>,
    log_kinds: Vec<EventKind>,
}

fn read_written(journal_dir: &Path, log: &Path) -> Written {
    let text = std::fs::read(journal_dir.join("lotus-journal.ndjson")).unwrap();
    let mut parser = JournalParser::new(JournalOptions { keep_raw: true });
    let mut events = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if !line.is_empty() {
            parser.push_line(i as u64 + 1, line, &mut events);
        }
    }
    parser.finish(&mut events);
    let mut w = Written {
        head_changes: Vec::new(),
        seen: Vec::new(),
        canonical: BTreeMap::new(),
        orphaned: BTreeSet::new(),
        log_kinds: Vec::new(),
    };
    let mut applied = BTreeSet::new();
    for ev in &events {
        assert_ne!(
            ev.kind,
            EventKind::Malformed,
            "journal line {}: {}",
            ev.line,
            ev.text
        );
        if let Some(hc) = &ev.head_change {
            w.head_changes.push(hc.clone());
            continue;
        }
        if ev.kind == EventKind::BlockSeen {
            // Typed by lsync-core's journal parser (the same path `lsync ingest` takes).
            w.seen.push((
                ev.cids[0].clone(),
                (ev.delay_s.unwrap() * 1000.0).round() as i64,
                ev.peer.clone().unwrap(),
            ));
            continue;
        }
        let Some(meta) = &ev.journal else { continue };
        let data: Value = serde_json::from_str(meta.raw_data.as_deref().unwrap_or("null")).unwrap();
        match (&*meta.system, &*meta.event) {
            ("lsync", "block_seen") => w.seen.push((
                data["Cid"]["/"].as_str().unwrap().to_string(),
                data["DelayMs"].as_i64().unwrap(),
                data["Peer"].as_str().unwrap().to_string(),
            )),
            ("lsync", "reorg_path") => {
                for r in data["Revert"].as_array().unwrap() {
                    w.canonical.remove(&r["Height"].as_i64().unwrap());
                }
                for a in data["Apply"].as_array().unwrap() {
                    let cids = cid_strings(&a["Key"]);
                    applied.extend(cids.iter().cloned());
                    w.canonical.insert(a["Height"].as_i64().unwrap(), cids);
                }
            }
            _ => {}
        }
    }
    let canonical: BTreeSet<String> = w.canonical.values().flatten().cloned().collect();
    w.orphaned = applied.difference(&canonical).cloned().collect();
    let mut lp = LogParser::new();
    let mut log_events = Vec::new();
    for (i, line) in std::fs::read(log)
        .unwrap()
        .split(|b| *b == b'\n')
        .enumerate()
    {
        if !line.is_empty() {
            lp.push_line(i as u64 + 1, line, &mut log_events);
        }
    }
    lp.finish(&mut log_events);
    w.log_kinds = log_events.iter().map(|e| e.kind).collect();
    w
}

struct Run {
    truth: GroundTruth,
    stats: FollowStats,
    written: Written,
}

/// Devnet with `scenarios` → follower → journal and log read back.
async fn run_scenario(
    name: &str,
    miners: usize,
    epochs: u64,
    scenarios: Vec<Scenario>,
) -> Res<Run> {
    let dir = temp_dir(name);
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(miners, mainnet_genesis_header());
    cfg.epochs = epochs;
    cfg.seed = 7;
    cfg.scenarios = scenarios;
    cfg.lead = Duration::from_secs(2);
    cfg.linger = Duration::from_millis(1500);
    cfg.ground_truth_path = Some(dir.join("truth.json"));
    cfg.ready = Some(ready_tx);
    let devnet = tokio::spawn(run_devnet(cfg, futures::future::pending()));
    let ready = timeout(Duration::from_secs(10), ready_rx).await??;

    let mut fcfg = ready.follow_config(dir.join("journal"));
    fcfg.log_path = Some(dir.join("lotus.log"));
    fcfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    // Connected to every miner before epoch 1 (the lead is 2 s).
    wait_status(&mut status_rx, Duration::from_secs(5), |s| {
        s.peers >= miners
    })
    .await;

    let truth = timeout(Duration::from_secs(epochs + 15), devnet).await???;
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    let written = read_written(&dir.join("journal"), &dir.join("lotus.log"));
    assert!(dir.join("truth.json").exists());
    Ok(Run {
        truth,
        stats,
        written,
    })
}

/// Every head change, orphan, canonical tipset and delay the ground truth predicts.
fn check_against_truth(run: &Run) -> i64 {
    let truth = &run.truth;
    assert!(
        truth.publish_failures.is_empty(),
        "{:?}",
        truth.publish_failures
    );
    let expected: Vec<_> = truth
        .head_changes
        .iter()
        .map(|h| {
            (
                h.from.clone(),
                h.from_height,
                h.to.clone(),
                h.to_height,
                h.revert_count as i64,
                h.apply_count as i64,
            )
        })
        .collect();
    let got: Vec<_> = run
        .written
        .head_changes
        .iter()
        .map(|h| {
            (
                h.from.clone(),
                h.from_height,
                h.to.clone(),
                h.to_height,
                h.revert_count,
                h.apply_count,
            )
        })
        .collect();
    assert_eq!(got, expected, "journaled head changes vs ground truth");
    assert_eq!(run.stats.head_changes.total() as usize, expected.len());
    // The closing summary counts by the one classification: a widening is not a reorg.
    let mut by_class = lsync_core::ClassCounts::default();
    for h in &run.written.head_changes {
        by_class.add(h.class());
    }
    assert_eq!(run.stats.head_changes, by_class, "summary counts by class");

    let orphaned: BTreeSet<String> = truth.orphaned.iter().cloned().collect();
    assert_eq!(run.written.orphaned, orphaned, "orphans");
    let canonical: BTreeMap<i64, Vec<String>> = truth
        .canonical
        .iter()
        .filter(|t| t.height > 0)
        .map(|t| (t.height, t.cids.clone()))
        .collect();
    assert_eq!(run.written.canonical, canonical, "canonical chain");

    // First-seen lateness vs the injected delay, for every published block.
    let by_cid: HashMap<&str, _> = truth.blocks.iter().map(|b| (b.cid.as_str(), b)).collect();
    let published = truth
        .blocks
        .iter()
        .filter(|b| b.published_ms.is_some())
        .count();
    // Equivocating blocks (the hostile scenario's) are seen and recorded too, flagged; the
    // honest blocks are checked here.
    let equivocations: BTreeSet<&str> = truth.equivocations.iter().map(String::as_str).collect();
    let honest_seen: Vec<_> = run.written.seen.iter().filter(|(c, _, _)| !equivocations.contains(c.as_str())).collect();
    assert_eq!(
        honest_seen.len(),
        published,
        "one block_seen per gossiped block"
    );
    let mut worst = 0i64;
    for (cid, delay_ms, _) in honest_seen {
        let b = by_cid[cid.as_str()];
        let actual = b.published_ms.expect("seen blocks were published") - b.epoch_start_ms;
        let err = delay_ms - actual;
        eprintln!(
            "block h{} miner {}: injected {:?} ms, published at +{actual} ms, seen at +{delay_ms} ms",
            b.height, b.miner_index, b.injected_delay_ms
        );
        worst = worst.max(err.abs());
    }
    // Loopback delivery measured 17–60 ms with unoptimised crypto in debug builds; with the
    // crypto crates optimised in the dev profile (workspace Cargo.toml) it is 1–5 ms.
    assert!(
        worst <= DELAY_TOLERANCE_MS,
        "delay recovery error {worst} ms"
    );

    // The Lotus-format log parses, and has one `new block over pubsub` per gossiped block.
    assert!(!run.written.log_kinds.contains(&EventKind::Malformed));
    let over_pubsub = run
        .written
        .log_kinds
        .iter()
        .filter(|k| **k == EventKind::BlockOverPubsub)
        .count();
    assert_eq!(over_pubsub, published + equivocations.len());
    assert!(run.written.log_kinds.contains(&EventKind::NewHeaviest));
    // Every gossiped block's messages were fetched from a peer and checked against its lists.
    assert_eq!(run.stats.message_fetch_failures, 0);
    assert_eq!(run.stats.messages_fetched as usize, published + equivocations.len());
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_heal_and_late_miner_match_ground_truth() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let started = Instant::now();
    let run = run_scenario(
        "partition",
        3,
        7,
        vec![
            Scenario::PartitionHeal { at: 3, depth: 2 },
            Scenario::LateMiner {
                miner: 0,
                delay_ms: 300,
            },
        ],
    )
    .await?;
    let worst = check_against_truth(&run);
    let reorgs: Vec<_> = run
        .written
        .head_changes
        .iter()
        .filter(|h| h.class() == ReorgClass::Reorg)
        .collect();
    assert_eq!(reorgs.len(), 1, "one reorg");
    assert_eq!(
        (reorgs[0].revert_count, reorgs[0].apply_count),
        (2, 3),
        "depth 2"
    );
    assert_eq!(run.truth.orphaned.len(), 2);
    // Miner 0's blocks were 300 ms late and are measured so.
    let late: Vec<i64> = run
        .written
        .seen
        .iter()
        .filter(|(cid, _, _)| {
            run.truth
                .blocks
                .iter()
                .any(|b| &b.cid == cid && b.miner_index == 0)
        })
        .map(|(_, d, _)| *d)
        .collect();
    // Measured against the nominal 300 ms: the devnet's own scheduling can only publish later
    // (the ±DELAY_TOLERANCE_MS check against the actual publish time is above), never earlier.
    assert!(
        late.len() >= 2 && late.iter().all(|d| *d >= 300 - DELAY_TOLERANCE_MS && *d <= 300 + 50),
        "{late:?}"
    );
    eprintln!(
        "partition_heal+late_miner: worst delay error {worst} ms, late delays {late:?}, {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widen_and_null_rounds_match_ground_truth() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let started = Instant::now();
    let run = run_scenario(
        "widen",
        3,
        6,
        vec![
            Scenario::Widen {
                at: 2,
                delay_ms: 400,
            },
            Scenario::NullRounds { at: 4, count: 2 },
        ],
    )
    .await?;
    let worst = check_against_truth(&run);
    let hc = &run.written.head_changes;
    assert!(hc
        .iter()
        .any(|h| h.class() == ReorgClass::Widen && h.to_height == 2 && h.to.len() == 2));
    // Over the null rounds: 3 → 6 in one step, nothing reverted.
    assert!(hc.iter().any(|h| h.from_height == 3
        && h.to_height == 6
        && h.revert_count == 0
        && h.apply_count == 1));
    assert!(run.truth.orphaned.is_empty());
    eprintln!(
        "widen+null_rounds: worst delay error {worst} ms, {:?}",
        started.elapsed()
    );
    Ok(())
}

/// A peer that gossips every honest header first with message lists that are not the
/// header's: none of its BlockMsgs is accepted or journaled, no block is credited to it, the
/// journal and first-seen records are the honest chain's, and the rejections are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_lying_about_message_lists_changes_nothing() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let run = run_scenario("lying-peer", 3, 6, vec![Scenario::LyingPeer]).await?;
    let worst = check_against_truth(&run);
    let liar = &run.truth.miners.last().expect("the liar is listed last").1;
    assert_eq!(run.truth.miners.len(), 4);
    assert!(run.truth.lies_published >= 5, "{} lies", run.truth.lies_published);
    // The liar also relays the honest copies it receives (it is a gossipsub peer like any
    // other), so it may deliver a block first — but never before the block was honestly
    // published: its own copy, 15 ms earlier, was a lie and was not taken.
    let by_cid: HashMap<&str, _> = run.truth.blocks.iter().map(|b| (b.cid.as_str(), b)).collect();
    for (cid, delay_ms, peer) in &run.written.seen {
        if peer == liar {
            let b = by_cid[cid.as_str()];
            let honest = b.published_ms.expect("published") - b.epoch_start_ms;
            assert!(*delay_ms >= honest - 2, "{cid} credited to the liar at +{delay_ms} ms, published honestly at +{honest} ms");
        }
    }
    let rejected = run.stats.dropped_by_reason.get("msg_meta").copied().unwrap_or(0);
    assert!(rejected >= 1, "{:?}", run.stats.dropped_by_reason);
    assert_eq!(run.stats.gossip_rejected, rejected, "every rejection was a message-list lie");
    eprintln!("lying peer: {} lies, {rejected} rejected, worst delay error {worst} ms", run.truth.lies_published);
    Ok(())
}

/// A peer doing everything hostile a peer can (garbage, lies about message lists, a 3 MB
/// message, impossible heights, timestamps from the future, a flood) and a miner equivocating:
/// the journal is exactly the honest chain, no hostile header is in it, the equivocations are
/// recorded and flagged, every hostile message was rejected or ignored with its reason, the
/// hostile peer is penalised (graylisted) and the honest peers are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_and_an_equivocating_miner_change_nothing() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let run = run_scenario("hostile-peer", 3, 6, vec![Scenario::HostilePeer]).await?;
    let worst = check_against_truth(&run);
    let truth = &run.truth;
    let hostile = &truth.miners.last().expect("the hostile peer is listed last").1;
    eprintln!("hostile peer published {:?}; follower dropped {:?}", truth.hostile_published, run.stats.dropped_by_reason);
    for kind in ["garbage", "oversize", "impossible_height", "from_the_future", "flood", "equivocation"] {
        assert!(truth.hostile_published.get(kind).copied().unwrap_or(0) >= 1, "{kind} not sent: {:?}", truth.hostile_published);
    }
    // Rejected with a reason (and penalised) or ignored, each kind seen before gossipsub
    // graylisted the sender; nothing hostile accepted but the equivocations.
    let dropped = &run.stats.dropped_by_reason;
    for reason in ["msg_meta", "undecodable", "oversize", "consensus_range", "from_the_future"] {
        assert!(dropped.get(reason).copied().unwrap_or(0) >= 1, "no {reason} in {dropped:?}");
    }
    assert_eq!(dropped.get("oversize"), Some(&1), "the 3 MB message, once");
    // No header the hostile side made is in any head change or path.
    let journaled: BTreeSet<&String> = run
        .written
        .head_changes
        .iter()
        .flat_map(|h| h.from.iter().chain(h.to.iter()))
        .chain(run.written.canonical.values().flatten())
        .collect();
    for cid in &truth.hostile_cids {
        assert!(!journaled.contains(cid), "hostile header {cid} journaled");
    }
    // Each equivocation has its own record (credited to its miner's node) and is counted.
    assert!(!truth.equivocations.is_empty());
    for cid in &truth.equivocations {
        assert!(run.written.seen.iter().any(|(c, _, _)| c == cid), "equivocation {cid} not recorded");
    }
    assert_eq!(run.stats.equivocations as usize, truth.equivocations.len());
    // The hostile peer is penalised below gossipsub's graylist threshold; the miners are not,
    // and all stay connected (the oversize message cost the sender its score, not the link).
    let scores = &run.stats.peer_scores;
    let hostile_score = scores.get(hostile).copied().unwrap_or(0.0);
    assert!(hostile_score < -2500.0, "hostile peer scored {hostile_score}: {scores:?}");
    for (_, id, _) in &truth.miners[..truth.miners.len() - 1] {
        assert!(scores.get(id).copied().unwrap_or(0.0) >= 0.0, "honest miner {id} penalised: {scores:?}");
    }
    assert_eq!(run.stats.connections_closed, 0, "every peer kept, the hostile one included");
    eprintln!("hostile peer: score {hostile_score:.0}, worst delay error {worst} ms");
    Ok(())
}

/// A follower stopped mid-run and started again on the same journal resumes from its last
/// journaled head: the head changes chain across the restart (each From is the previous To),
/// none is written twice, and the final canonical chain is the ground truth's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_run_continues_the_journal_without_gap_or_duplicate() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = temp_dir("restart");
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(3, mainnet_genesis_header());
    cfg.epochs = 9;
    cfg.seed = 11;
    cfg.lead = Duration::from_secs(2);
    cfg.linger = Duration::from_millis(1500);
    cfg.ready = Some(ready_tx);
    let devnet = tokio::spawn(run_devnet(cfg, futures::future::pending()));
    let ready = timeout(Duration::from_secs(10), ready_rx).await??;
    let start = |ready: &lsync_sync::devnet::DevnetReady| {
        let mut fcfg = ready.follow_config(dir.join("journal"));
        fcfg.log_path = Some(dir.join("lotus.log"));
        fcfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        // What `lsync follow` does (the devnet's own configuration starts fresh each time).
        fcfg.resume = true;
        let (status_tx, status_rx) = watch::channel(FollowStatus::default());
        fcfg.status = Some(status_tx);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run_follow(fcfg, async {
            let _ = stop_rx.await;
        }));
        (task, stop_tx, status_rx)
    };
    let (first, stop_first, mut status) = start(&ready);
    wait_status(&mut status, Duration::from_secs(20), |s| s.head_height >= 4).await;
    let _ = stop_first.send(());
    let first_stats = timeout(Duration::from_secs(10), first).await???;
    let saved = lsync_sync::p2p::last_journal_head(&dir.join("journal"))?.map(|s| s.height);
    assert_eq!(saved, Some(first_stats.head_height), "the last journaled head is the first run's head");
    let (second, stop_second, _status) = start(&ready);
    let truth = timeout(Duration::from_secs(30), devnet).await???;
    let _ = stop_second.send(());
    let second_stats = timeout(Duration::from_secs(10), second).await???;

    let resumed = second_stats.resumed_from.clone().map(|(h, _)| h);
    assert!(resumed.is_some_and(|h| h >= first_stats.head_height.min(4)), "resumed from {resumed:?}, first run ended at {}", first_stats.head_height);
    // The restart rolled the first run's file (as Lotus rolls on start): read the files in
    // roll order, rolled ones (named by their time) first.
    let mut files: Vec<_> = std::fs::read_dir(dir.join("journal"))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.sort_by_key(|p| (p.file_name() == Some(std::ffi::OsStr::new("lotus-journal.ndjson")), p.clone()));
    assert!(files.len() >= 2, "the restart rolled the journal: {files:?}");
    let all = dir.join("all");
    std::fs::create_dir_all(&all)?;
    let mut joined = Vec::new();
    for f in &files {
        joined.extend(std::fs::read(f)?);
    }
    std::fs::write(all.join("lotus-journal.ndjson"), joined)?;
    let written = read_written(&all, &dir.join("lotus.log"));
    let hc = &written.head_changes;
    assert!(hc.len() >= 8, "{} head changes", hc.len());
    for pair in hc.windows(2) {
        assert_eq!(pair[1].from, pair[0].to, "a gap or a repeat across the restart: {pair:?}");
    }
    let mut seen = BTreeSet::new();
    for h in hc {
        assert!(seen.insert((h.from.clone(), h.to.clone())), "written twice: {h:?}");
    }
    let canonical: BTreeMap<i64, Vec<String>> = truth.canonical.iter().filter(|t| t.height > 0).map(|t| (t.height, t.cids.clone())).collect();
    assert_eq!(written.canonical, canonical, "canonical chain after the restart");
    assert_eq!(hc.last().map(|h| h.to.clone()), truth.canonical.last().map(|t| t.cids.clone()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_on_another_genesis_is_dropped() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = temp_dir("genesis");
    let template = mainnet_genesis_header();
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(2, template.clone());
    cfg.epochs = 2;
    cfg.ready = Some(ready_tx);
    let (stop_devnet, devnet_stop) = oneshot::channel::<()>();
    let devnet = tokio::spawn(run_devnet(cfg, async {
        let _ = devnet_stop.await;
    }));
    let ready = timeout(Duration::from_secs(10), ready_rx).await??;
    // Same everything, but a genesis one hour older: another network.
    let other = devnet_genesis(&template, ready.genesis.min_timestamp() - 3600)?;
    let mut fcfg = ready.follow_config(dir.join("journal"));
    fcfg.genesis = other;
    fcfg.redial_backoff = (Duration::from_millis(200), Duration::from_secs(1));
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    let status = wait_status(&mut status_rx, Duration::from_secs(10), |s| {
        s.genesis_mismatches >= 2 && s.peers == 0
    })
    .await;
    let _ = stop_tx.send(());
    let _ = stop_devnet.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    timeout(Duration::from_secs(10), devnet).await???;
    assert_eq!(stats.head_changes.total(), 0);
    assert!(stats.genesis_mismatches >= 2, "{stats:?} {status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gossip_is_rejected_and_xchg_still_answers() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = temp_dir("garbage");
    let template = mainnet_genesis_header();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let genesis = devnet_genesis(&template, now_s)?;
    let mut fcfg = FollowConfig::new("lsync-devnet", genesis.clone(), dir.join("journal"));
    fcfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    fcfg.resume = false;
    fcfg.follower.block_delay_secs = 1;
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    let status = wait_status(&mut status_rx, Duration::from_secs(10), |s| {
        !s.listen_addrs.is_empty()
    })
    .await;
    let follower_addr: Multiaddr = status.listen_addrs[0].clone();
    let follower_id: libp2p::PeerId = status.local_peer_id.parse()?;

    let mut attacker = build_swarm(
        Keypair::generate_ed25519(),
        "lsync-devnet",
        NodeTimeouts::default(),
    )?;
    attacker.dial(follower_addr)?;
    let topic = blocks_topic("lsync-devnet");
    timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(
                gossipsub::Event::Subscribed { peer_id, .. },
            )) = attacker.select_next_some().await
            {
                if peer_id == follower_id {
                    break;
                }
            }
        }
    })
    .await?;
    // Garbage, then a well-formed block far beyond the consensus range.
    attacker
        .behaviour_mut()
        .gossipsub
        .publish(topic.clone(), b"\xde\xad\xbe\xef not cbor".to_vec())?;
    let mut far = template.clone();
    far.height = 1_000_000;
    far.parents = genesis.key().clone();
    far.block_sig = far.bls_aggregate.clone().or_else(|| {
        Some(
            lsync_core::chain::Signature::new(lsync_core::chain::SignatureType::Bls, vec![7; 96])
                .unwrap(),
        )
    });
    let far_msg = BlockMsg {
        header: far,
        bls_messages: vec![],
        secpk_messages: vec![],
    };
    attacker
        .behaviour_mut()
        .gossipsub
        .publish(topic, far_msg.to_cbor()?)?;
    // Keep the attacker's swarm running while waiting for the verdicts.
    let verdicts = async {
        wait_status(&mut status_rx, Duration::from_secs(10), |s| {
            s.gossip_rejected >= 1 && s.gossip_ignored >= 1
        })
        .await
    };
    let status = tokio::select! {
        s = verdicts => s,
        () = async { loop { attacker.select_next_some().await; } } => unreachable!(),
    };
    assert_eq!(status.gossip_accepted, 0);

    // The follower is alive and serves its genesis: one CBOR response, decoded by the codec.
    let id = attacker.behaviour_mut().xchg.send_request(
        &follower_id,
        Request {
            head: genesis.cids().to_vec(),
            length: 5,
            options: Request::HEADERS,
        },
    );
    let response = timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::Behaviour(NodeBehaviourEvent::Xchg(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) = attacker.select_next_some().await
            {
                if request_id == id {
                    return response;
                }
            }
        }
    })
    .await?;
    assert_eq!(response.status, ResponseStatus::Ok);
    assert_eq!(response.chain.len(), 1);
    assert_eq!(response.chain[0].blocks[0].timestamp, now_s);

    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    assert_eq!(
        (
            stats.gossip_rejected,
            stats.gossip_ignored,
            stats.gossip_accepted
        ),
        (1, 1, 0)
    );
    assert_eq!(stats.xchg_served, 1);
    Ok(())
}

/// A devnet that has been running for `history` epochs and a follower that joins it late, with
/// `anchor`: (ground truth, follower stats, what it wrote, seconds from start to the head).
async fn join_late(name: &str, history: u64, anchor: lsync_sync::p2p::AnchorRule) -> Res<(GroundTruth, FollowStats, Written, f64)> {
    let dir = temp_dir(name);
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(3, mainnet_genesis_header());
    cfg.history = history;
    cfg.epochs = 4;
    cfg.seed = 11;
    cfg.lead = Duration::from_secs(3);
    cfg.linger = Duration::from_millis(1500);
    cfg.ready = Some(ready_tx);
    let devnet = tokio::spawn(run_devnet(cfg, futures::future::pending()));
    let ready = timeout(Duration::from_secs(120), ready_rx).await??;
    let mut fcfg = ready.follow_config(dir.join("journal"));
    fcfg.log_path = Some(dir.join("lotus.log"));
    fcfg.anchor = anchor;
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    let history_head = history as i64 - 10;
    let reached = wait_status(&mut status_rx, Duration::from_secs(60), |s| s.head_height >= history_head).await;
    let took = started.elapsed().as_secs_f64();
    assert!(reached.anchor.is_some());
    let truth = timeout(Duration::from_secs(60), devnet).await???;
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    let written = read_written(&dir.join("journal"), &dir.join("lotus.log"));
    Ok((truth, stats, written, took))
}

/// The journal of a late joiner: the anchor, one head change from it up to the head it found,
/// then exactly the live head changes of the ground truth, ending on its head.
fn check_late_joiner(truth: &GroundTruth, stats: &FollowStats, written: &Written) -> lsync_sync::p2p::AnchorInfo {
    let anchor = stats.anchor.clone().expect("anchored");
    let anchor_key: Vec<String> = anchor.key.iter().map(ToString::to_string).collect();
    let first = &written.head_changes[0];
    assert_eq!(first.from, anchor_key, "the first head change starts at the anchor");
    assert_eq!((first.from_height, first.revert_count), (anchor.height, 0));
    assert_eq!(first.apply_count as usize >= 1, true);
    // What follows is the devnet's live history, as a follower connected from its start sees it.
    let expected: Vec<(Vec<String>, i64)> = truth.head_changes.iter().map(|h| (h.to.clone(), h.to_height)).collect();
    let got: Vec<(Vec<String>, i64)> = written.head_changes.iter().map(|h| (h.to.clone(), h.to_height)).collect();
    let tail = &got[1..];
    assert!(expected.ends_with(tail), "live head changes {tail:?} are not a suffix of the truth {expected:?}");
    assert_eq!(got.last().map(|g| &g.0), Some(&truth.canonical.last().unwrap().cids), "ends on the devnet's head");
    // Nothing below the anchor was fetched into the journal's paths.
    assert!(written.canonical.keys().all(|h| *h > anchor.height), "a reorg path reaches below the anchor");
    anchor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_follower_anchors_the_fork_limit_below_the_head_of_a_long_running_devnet() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let history = 3_000;
    let (truth, stats, written, took) = join_late("late-recent", history, lsync_sync::p2p::AnchorRule::Recent).await?;
    let anchor = check_late_joiner(&truth, &stats, &written);
    let head = truth.history_head.height;
    // 900 tipsets: the head and the 899 below it; null rounds (about 1 %) lower the anchor.
    assert!((899..=960).contains(&(head - anchor.height)), "anchored at {} for a head at {head}", anchor.height);
    assert!(anchor.reason.contains("fork-length limit"), "{}", anchor.reason);
    assert_eq!(anchor.peer_head.as_ref().map(|p| p.0), Some(head));
    assert!(written.head_changes[0].apply_count >= 899);
    assert!(took < 30.0, "took {took:.1} s to reach the head");
    assert_eq!(stats.fetch_failures, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_at_a_height_walks_back_past_the_fork_limit() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let history = 3_000;
    let want = 700;
    let (truth, stats, written, _) = join_late("late-height", history, lsync_sync::p2p::AnchorRule::Height(want)).await?;
    let anchor = check_late_joiner(&truth, &stats, &written);
    assert!(anchor.height <= want && anchor.height > want - 10, "anchored at {}", anchor.height);
    assert!(written.head_changes[0].apply_count as i64 >= truth.history_head.height - want - 40);
    Ok(())
}

/// Run `swarm` until `pred` picks a value out of one of its events, answering chain exchange
/// with `serve` meanwhile.
async fn drive<T>(
    swarm: &mut libp2p::Swarm<lsync_sync::p2p::node::NodeBehaviour>,
    limit: Duration,
    serve: &dyn Fn(&Request) -> Response,
    mut pred: impl FnMut(&SwarmEvent<NodeBehaviourEvent>) -> Option<T>,
) -> Res<T> {
    Ok(timeout(limit, async {
        loop {
            let event = swarm.select_next_some().await;
            if let SwarmEvent::Behaviour(NodeBehaviourEvent::Xchg(request_response::Event::Message {
                message: request_response::Message::Request { request, channel, .. },
                ..
            })) = event
            {
                let response = serve(&request);
                let _ = swarm.behaviour_mut().xchg.send_response(channel, response);
                continue;
            }
            if let Some(v) = pred(&event) {
                return v;
            }
        }
    })
    .await?)
}

/// A follower on mainnet's real genesis, listening on loopback, one peer head enough.
struct MainnetFollower {
    dir: TempDir,
    status_rx: watch::Receiver<FollowStatus>,
    /// Its status once it listens.
    status: FollowStatus,
    follower_id: libp2p::PeerId,
    stop_tx: oneshot::Sender<()>,
    follower: tokio::task::JoinHandle<Result<FollowStats, lsync_sync::p2p::FollowError>>,
}

async fn mainnet_follower(name: &str) -> Res<MainnetFollower> {
    let dir = temp_dir(name);
    let genesis = lsync_core::chain::TipSet::new(vec![mainnet_genesis_header()])?;
    let mut fcfg = FollowConfig::new("testnetnet", genesis, dir.join("journal"));
    fcfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    fcfg.resume = false;
    fcfg.bootstrap_peers_threshold = 1;
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    let status = wait_status(&mut status_rx, Duration::from_secs(10), |s| !s.listen_addrs.is_empty()).await;
    let follower_id: libp2p::PeerId = status.local_peer_id.parse()?;
    Ok(MainnetFollower { dir, status_rx, status, follower_id, stop_tx, follower })
}

/// The real mainnet segment (heights 0–39): every header, and every message by CID, as bytes.
struct RealChain {
    headers: Vec<(cid::Cid, BlockHeader)>,
    blocks: HashMap<cid::Cid, Vec<u8>>,
}

fn real_chain() -> RealChain {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lotus/forest-export40.car");
    let car = std::fs::read(path).unwrap();
    let mut headers = Vec::new();
    let mut blocks = HashMap::new();
    for block in CarReader::new(&car[..]).unwrap() {
        let block = block.unwrap();
        if let Ok(h) = BlockHeader::decode(&block.data) {
            headers.push((block.cid, h));
        }
        blocks.insert(block.cid, block.data);
    }
    headers.sort_by_key(|(_, h)| h.height);
    RealChain { headers, blocks }
}

impl RealChain {
    /// Every tipset of the segment by key: each height's blocks together, and every block
    /// alone too (a one-block key), as Lotus's LoadTipSet allows.
    fn tipsets(&self) -> Res<HashMap<lsync_core::chain::TipSetKey, lsync_core::chain::TipSet>> {
        let mut groups: BTreeMap<(i64, String), Vec<(cid::Cid, BlockHeader)>> = BTreeMap::new();
        for (cid, h) in &self.headers {
            groups.entry((h.height, h.parents.to_string())).or_default().push((*cid, h.clone()));
        }
        let mut out = HashMap::new();
        for blocks in groups.into_values() {
            let ts = lsync_core::chain::TipSet::from_blocks_with_cids(blocks)?;
            out.insert(ts.key().clone(), ts);
        }
        for (cid, h) in &self.headers {
            let ts = lsync_core::chain::TipSet::from_blocks_with_cids(vec![(*cid, h.clone())])?;
            out.entry(ts.key().clone()).or_insert(ts);
        }
        Ok(out)
    }

    /// A block's two message lists (from its MsgMeta's AMTs) and its messages.
    fn messages(&self, header: &BlockHeader) -> (Vec<cid::Cid>, Vec<cid::Cid>, lsync_core::chain::BlockMessages) {
        use fvm_ipld_blockstore::Blockstore;
        let store = fvm_ipld_blockstore::MemoryBlockstore::new();
        for (cid, data) in &self.blocks {
            store.put_keyed(cid, data).unwrap();
        }
        let meta = lsync_core::chain::MsgMeta::decode(&self.blocks[&header.messages]).unwrap();
        let bls = lsync_core::chain::amt_v0_cids(&meta.bls_messages, &store).unwrap();
        let secpk = lsync_core::chain::amt_v0_cids(&meta.secpk_messages, &store).unwrap();
        let messages = lsync_core::chain::BlockMessages {
            bls: bls.iter().map(|c| lsync_core::chain::Message::decode(&self.blocks[c]).unwrap()).collect(),
            secpk: secpk.iter().map(|c| lsync_core::chain::SignedMessage::decode(&self.blocks[c]).unwrap()).collect(),
        };
        (bls, secpk, messages)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mainnet_blocks_messages_are_fetched_checked_and_served_byte_exact() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let chain = real_chain();
    let mut by_cid: HashMap<cid::Cid, (BlockHeader, lsync_core::chain::BlockMessages)> = HashMap::new();
    let mut gossip = Vec::new();
    for (cid, header) in chain.headers.iter().filter(|(_, h)| h.height > 0) {
        let (bls, secpk, messages) = chain.messages(header);
        gossip.push(BlockMsg { header: header.clone(), bls_messages: bls, secpk_messages: secpk });
        by_cid.insert(*cid, (header.clone(), messages));
    }
    // The publisher serves what a Lotus node holds: the headers and messages of the segment.
    let tipsets = chain.tipsets()?;
    let messages: HashMap<cid::Cid, std::sync::Arc<lsync_core::chain::BlockMessages>> =
        by_cid.iter().map(|(c, (_, m))| (*c, std::sync::Arc::new(m.clone()))).collect();
    let serve = |r: &Request| lsync_sync::p2p::node::serve_xchg(r, |k| tipsets.get(k).cloned(), |c| messages.get(c).cloned());

    let MainnetFollower { dir: _dir, status_rx, status, follower_id, stop_tx, follower } = mainnet_follower("real-messages").await?;
    let mut publisher = build_swarm(Keypair::generate_ed25519(), "testnetnet", NodeTimeouts::default())?;
    publisher.dial(status.listen_addrs[0].clone())?;
    drive(&mut publisher, Duration::from_secs(10), &serve, |e| match e {
        SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, .. })) if *peer_id == follower_id => Some(()),
        _ => None,
    })
    .await?;
    let topic = blocks_topic("testnetnet");
    let with_messages = gossip.iter().filter(|g| !g.bls_messages.is_empty() || !g.secpk_messages.is_empty()).count();
    for msg in &gossip {
        publisher.behaviour_mut().gossipsub.publish(topic.clone(), msg.to_cbor()?)?;
        // Serve the follower's fetches between blocks, as a node would.
        let _ = drive(&mut publisher, Duration::from_millis(40), &serve, |_| None::<()>).await;
    }
    // Until the follower's head is the segment's head (height 39) and it stops asking.
    let head_key = tipsets.values().filter(|t| t.height() == 39).map(|t| t.key().clone()).max_by_key(|k| k.len()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_rx.borrow().head_height < 39 && Instant::now() < deadline {
        let _ = drive(&mut publisher, Duration::from_millis(100), &serve, |_| None::<()>).await;
    }
    assert_eq!(status_rx.borrow().head_height, 39, "{:?}", *status_rx.borrow());

    // As a Lotus peer does after hello: GetFullTipSet (headers + messages) of tipsets it
    // announced. Every tipset of the segment that has messages, asked of the follower.
    let mut checked_messages = 0;
    let full: Vec<&lsync_core::chain::TipSet> = tipsets
        .values()
        .filter(|t| t.height() > 0 && t.cids().len() == tipsets.values().filter(|o| o.height() == t.height()).map(|o| o.cids().len()).max().unwrap())
        .collect();
    for ts in &full {
        let id = publisher.behaviour_mut().xchg.send_request(
            &follower_id,
            Request { head: ts.cids().to_vec(), length: 1, options: Request::HEADERS | Request::MESSAGES },
        );
        let response = drive(&mut publisher, Duration::from_secs(10), &serve, |e| match e {
            SwarmEvent::Behaviour(NodeBehaviourEvent::Xchg(request_response::Event::Message {
                message: request_response::Message::Response { request_id, response },
                ..
            })) if *request_id == id => Some(response.clone()),
            _ => None,
        })
        .await?;
        assert_eq!(response.status, ResponseStatus::Ok, "height {}: {}", ts.height(), response.error_message);
        let got = &response.chain[0];
        assert_eq!(got.blocks, ts.blocks(), "headers byte for byte");
        let compacted = got.messages.as_ref().expect("messages asked for");
        for (i, cid) in ts.cids().iter().enumerate() {
            let block = compacted.block(i)?;
            let (_, want) = &by_cid[cid];
            assert_eq!(&block, want, "block {cid}");
            for m in &block.bls {
                assert_eq!(m.to_cbor()?, chain.blocks[&m.cid()?], "BLS message bytes");
                checked_messages += 1;
            }
            for m in &block.secpk {
                assert_eq!(m.to_cbor()?, chain.blocks[&m.cid()?], "secp message bytes");
                checked_messages += 1;
            }
        }
    }
    assert!(checked_messages > 0, "the segment's tipsets carry messages");
    let _ = head_key;
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    assert_eq!(stats.message_fetch_failures, 0);
    assert_eq!(stats.messages_fetched as usize, gossip.len());
    eprintln!("{} blocks gossiped ({with_messages} with messages), {} tipsets asked, {checked_messages} messages byte-exact", gossip.len(), full.len());
    Ok(())
}

/// What one follower did with a hello whose head it fetched whole.
struct HelloHeadCase {
    /// Its answer to GetFullTipSet (headers + messages) of the announced head, once synced.
    full: Response,
    stats: FollowStats,
}

/// What the announcing peer serves as the head's messages.
#[derive(Clone, Copy, PartialEq)]
enum HeadMessages {
    Real,
    /// Another block's: a liar.
    Substituted,
    /// None: a peer that synced the head without its messages (InternalError when asked).
    NotHeld,
}

/// A peer says hello announcing the segment's head (height 39) and serves it over chain
/// exchange, its messages as `served` says, then asks the follower, once synced to it, for
/// that tipset whole, as a Lotus peer does after hello.
async fn hello_head_case(name: &str, served: HeadMessages) -> Res<(HelloHeadCase, lsync_core::chain::TipSet, HashMap<cid::Cid, lsync_core::chain::BlockMessages>)> {
    let chain = real_chain();
    let tipsets = chain.tipsets()?;
    let head = tipsets.values().filter(|t| t.height() == 39).max_by_key(|t| t.cids().len()).cloned().unwrap();
    let truth: HashMap<cid::Cid, lsync_core::chain::BlockMessages> =
        chain.headers.iter().map(|(c, h)| (*c, chain.messages(h).2)).collect();
    // A liar's messages: those of a block outside the head that has some.
    let donor = chain
        .headers
        .iter()
        .find(|(c, h)| h.height < 39 && !truth[c].is_empty())
        .map(|(c, _)| std::sync::Arc::new(truth[c].clone()))
        .unwrap();
    let served: HashMap<cid::Cid, std::sync::Arc<lsync_core::chain::BlockMessages>> = truth
        .iter()
        .filter(|(c, _)| served != HeadMessages::NotHeld || !head.cids().contains(c))
        .map(|(c, m)| {
            let lie = served == HeadMessages::Substituted && head.cids().contains(c);
            (*c, if lie { donor.clone() } else { std::sync::Arc::new(m.clone()) })
        })
        .collect();
    let serve = |r: &Request| lsync_sync::p2p::node::serve_xchg(r, |k| tipsets.get(k).cloned(), |c| served.get(c).cloned());

    let MainnetFollower { dir: _dir, status_rx, status, follower_id, stop_tx, follower } = mainnet_follower(name).await?;
    let mut peer = build_swarm(Keypair::generate_ed25519(), "testnetnet", NodeTimeouts::default())?;
    peer.dial(status.listen_addrs[0].clone())?;
    drive(&mut peer, Duration::from_secs(10), &serve, |e| match e {
        SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == follower_id => Some(()),
        _ => None,
    })
    .await?;
    let hello = lsync_core::chain::HelloMessage {
        heaviest_tipset: head.key().clone(),
        heaviest_tipset_height: head.height(),
        heaviest_tipset_weight: head.blocks()[0].parent_weight.clone(),
        genesis_hash: mainnet_genesis_header().cid()?,
    };
    peer.behaviour_mut().hello.send_request(&follower_id, hello);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_rx.borrow().head_height < 39 && Instant::now() < deadline {
        let _ = drive(&mut peer, Duration::from_millis(100), &serve, |_| None::<()>).await;
    }
    assert_eq!(status_rx.borrow().head_height, 39, "synced to the hello's head: {:?}", *status_rx.borrow());
    let id = peer.behaviour_mut().xchg.send_request(
        &follower_id,
        Request { head: head.cids().to_vec(), length: 1, options: Request::HEADERS | Request::MESSAGES },
    );
    let full = drive(&mut peer, Duration::from_secs(10), &serve, |e| match e {
        SwarmEvent::Behaviour(NodeBehaviourEvent::Xchg(request_response::Event::Message {
            message: request_response::Message::Response { request_id, response },
            ..
        })) if *request_id == id => Some(response.clone()),
        _ => None,
    })
    .await?;
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    Ok((HelloHeadCase { full, stats }, head, truth))
}

/// Lotus's hello service fetches the announced head whole (`FetchTipSet`); so does the
/// follower, keeping each block's messages only when they hash to its header's `Messages`.
/// A peer that announced a head and asks for it whole gets it, real messages byte for byte;
/// messages a liar substituted are refused, and the follower then says it does not hold them
/// rather than serving them on; from a peer without the messages the head's headers are still
/// fetched and followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_head_is_fetched_whole_and_only_checked_messages_are_served_on() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let (honest, head, truth) = hello_head_case("hello-head-honest", HeadMessages::Real).await?;
    assert_eq!(honest.full.status, ResponseStatus::Ok, "{}", honest.full.error_message);
    let got = &honest.full.chain[0];
    assert_eq!(got.blocks, head.blocks(), "headers byte for byte");
    let compacted = got.messages.as_ref().expect("messages asked for");
    let mut messages = 0;
    for (i, cid) in head.cids().iter().enumerate() {
        let block = compacted.block(i)?;
        assert_eq!(block, truth[cid], "block {cid}'s own messages");
        messages += block.bls.len() + block.secpk.len();
    }
    assert!(messages > 0, "the segment's head carries messages");
    assert_eq!(honest.stats.messages_fetched as usize, head.cids().len());
    assert_eq!(honest.stats.message_fetch_failures, 0);

    assert_eq!(honest.stats.full_fetch_fallbacks, 0);

    let (liar, head, _) = hello_head_case("hello-head-liar", HeadMessages::Substituted).await?;
    assert_eq!(liar.stats.messages_fetched, 0, "nothing a liar substituted is kept");
    assert_eq!(liar.stats.message_fetch_failures as usize, head.cids().len());
    assert_eq!(liar.full.status, ResponseStatus::InternalError, "not held, said so");
    assert!(liar.full.chain.is_empty());

    // hello_head_case asserts the follower reached the head (39) here too.
    let (without, _, _) = hello_head_case("hello-head-not-held", HeadMessages::NotHeld).await?;
    assert_eq!(without.stats.full_fetch_fallbacks, 1, "asked again for the headers");
    assert_eq!(without.stats.messages_fetched, 0);
    assert_eq!(without.full.status, ResponseStatus::InternalError);
    eprintln!("hello head at 39: {} blocks, {messages} messages served on byte-exact; a liar's refused", head.cids().len());
    Ok(())
}

/// A 3 MB gossip message (three times Lotus's cap) is read, rejected as `oversize` and costs
/// its sender score, not the connection or the stream: the same peer's next, honest block is
/// accepted and followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_is_rejected_and_the_senders_stream_goes_on() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let chain = real_chain();
    let genesis = lsync_core::chain::TipSet::new(vec![mainnet_genesis_header()])?;
    let (cid1, h1) = chain.headers.iter().find(|(_, h)| h.height == 1).cloned().unwrap();
    let (bls, secpk, messages) = chain.messages(&h1);
    let block = BlockMsg { header: h1.clone(), bls_messages: bls, secpk_messages: secpk };
    let one = lsync_core::chain::TipSet::from_blocks_with_cids(vec![(cid1, h1)])?;
    let messages = std::sync::Arc::new(messages);
    let serve = |r: &Request| {
        lsync_sync::p2p::node::serve_xchg(
            r,
            |k| [&genesis, &one].into_iter().find(|t| t.key() == k).cloned(),
            |c| (*c == cid1).then(|| messages.clone()),
        )
    };
    let MainnetFollower { dir: _dir, status_rx, status, follower_id, stop_tx, follower } = mainnet_follower("oversize").await?;
    // A peer whose gossipsub sends what go-libp2p-pubsub never would (up to 8 MiB).
    let mut sender = lsync_sync::p2p::node::build_swarm_with_frame_limit(
        Keypair::generate_ed25519(),
        "testnetnet",
        NodeTimeouts::default(),
        8 << 20,
    )?;
    sender.dial(status.listen_addrs[0].clone())?;
    drive(&mut sender, Duration::from_secs(10), &serve, |e| match e {
        SwarmEvent::Behaviour(NodeBehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, .. })) if *peer_id == follower_id => Some(()),
        _ => None,
    })
    .await?;
    let topic = blocks_topic("testnetnet");
    let mut big = block.to_cbor()?;
    big.resize(3 << 20, 0);
    sender.behaviour_mut().gossipsub.publish(topic.clone(), big)?;
    let _ = drive(&mut sender, Duration::from_millis(500), &serve, |_| None::<()>).await;
    assert_eq!(status_rx.borrow().gossip_rejected, 1, "{:?}", *status_rx.borrow());
    sender.behaviour_mut().gossipsub.publish(topic, block.to_cbor()?)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_rx.borrow().head_height < 1 && Instant::now() < deadline {
        let _ = drive(&mut sender, Duration::from_millis(100), &serve, |_| None::<()>).await;
    }
    let s = status_rx.borrow().clone();
    assert_eq!((s.gossip_rejected, s.gossip_accepted, s.head_height, s.peers), (1, 1, 1, 1), "{s:?}");
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    assert_eq!(stats.dropped_by_reason.get("oversize"), Some(&1));
    assert_eq!(stats.peers_at_end, 1, "the sender stays connected");
    Ok(())
}

/// Connection limits: beyond `max_peers` new (non-bootstrap) peers are closed, and the peers
/// kept are still served; a bootstrap peer that refuses is redialed with a doubling backoff,
/// each failure recorded with its reason as it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_beyond_the_limit_are_closed_and_dead_bootstraps_are_redialed_with_backoff() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = temp_dir("limits");
    let genesis = lsync_core::chain::TipSet::new(vec![mainnet_genesis_header()])?;
    let mut fcfg = FollowConfig::new("testnetnet", genesis.clone(), dir.join("journal"));
    fcfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    fcfg.resume = false;
    fcfg.max_peers = 3;
    fcfg.tick = Duration::from_millis(20);
    fcfg.redial_backoff = (Duration::from_millis(100), Duration::from_millis(400));
    // A port nothing listens on (bound, then closed).
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    fcfg.bootstrap = vec![format!("/ip4/127.0.0.1/tcp/{dead_port}/p2p/12D3KooWCyNCpkDcxCKfA4CZMsEbkxpnTBiiobVxUK5nFvETTeGH").parse()?];
    let (status_tx, mut status_rx) = watch::channel(FollowStatus::default());
    fcfg.status = Some(status_tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let follower = tokio::spawn(run_follow(fcfg, async {
        let _ = stop_rx.await;
    }));
    let status = wait_status(&mut status_rx, Duration::from_secs(10), |s| !s.listen_addrs.is_empty()).await;
    let addr = status.listen_addrs[0].clone();
    // Six peers dial in; each keeps its swarm running.
    let mut peers = Vec::new();
    for _ in 0..6 {
        let mut p = build_swarm(Keypair::generate_ed25519(), "testnetnet", NodeTimeouts::default())?;
        p.dial(addr.clone())?;
        peers.push(tokio::spawn(async move {
            loop {
                p.select_next_some().await;
            }
        }));
    }
    let first_failure = wait_status(&mut status_rx, Duration::from_secs(5), |s| s.bootstrap.first().is_some_and(|b| b.failures >= 1)).await;
    let reason = first_failure.bootstrap[0].last_failure.clone().unwrap_or_default();
    assert!(reason.to_lowercase().contains("refused"), "the reason is said: {reason}");
    tokio::time::sleep(Duration::from_millis(1_500).saturating_sub(started.elapsed())).await;
    let s = status_rx.borrow().clone();
    // 0, 0.1, 0.3, 0.7, 1.1, 1.5 s: about six dials in 1.5 s, not one per 20 ms tick (75).
    let failures = s.bootstrap[0].failures;
    assert!((3..=8).contains(&failures), "{failures} redials in 1.5 s");
    assert!(s.peers <= 3, "{} peers kept over a limit of 3", s.peers);
    assert!(s.peers >= 1);
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), follower).await???;
    assert!(stats.dial_failures >= failures);
    for p in peers {
        p.abort();
    }
    Ok(())
}

/// A devnet with a Lotus-compatible RPC endpoint (the test double) and `scenarios`, `attach`
/// on it (and `follow` beside it when `with_follow`): ground truth, attach's stats and journal,
/// follow's journal.
async fn attach_scenario(name: &str, epochs: u64, scenarios: Vec<Scenario>, with_follow: bool) -> Res<(GroundTruth, lsync_sync::rpc::AttachStats, Written, Option<Written>)> {
    let dir = temp_dir(name);
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(3, mainnet_genesis_header());
    cfg.epochs = epochs;
    cfg.seed = 7;
    cfg.scenarios = scenarios;
    cfg.lead = Duration::from_secs(2);
    cfg.linger = Duration::from_millis(2500);
    cfg.rpc = Some("127.0.0.1:0".parse()?);
    cfg.f3_lag = 3;
    cfg.ready = Some(ready_tx);
    let devnet = tokio::spawn(run_devnet(cfg, futures::future::pending()));
    let ready = timeout(Duration::from_secs(10), ready_rx).await??;
    let (addr, token) = ready.rpc.clone().expect("an RPC endpoint");
    let endpoint = lsync_sync::rpc::parse_api_info(&format!("{token}:/ip4/127.0.0.1/tcp/{}/http", addr.port()), "test")?;
    let mut acfg = lsync_sync::rpc::AttachConfig::new(endpoint, dir.join("attach/journal"));
    acfg.finality_poll = Duration::from_millis(200);
    acfg.resume = false;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let attach = tokio::spawn(lsync_sync::rpc::run_attach(acfg, async {
        let _ = stop_rx.await;
    }));
    let follow = if with_follow {
        let mut fcfg = ready.follow_config(dir.join("follow/journal"));
        fcfg.log_path = Some(dir.join("follow.log"));
        let (ftx, frx) = oneshot::channel::<()>();
        Some((ftx, tokio::spawn(run_follow(fcfg, async {
            let _ = frx.await;
        }))))
    } else {
        None
    };
    let truth = timeout(Duration::from_secs(epochs + 20), devnet).await???;
    let _ = stop_tx.send(());
    let stats = timeout(Duration::from_secs(10), attach).await???;
    std::fs::write(dir.join("attach/journal/empty.log"), "")?;
    let written = read_written(&dir.join("attach/journal"), &dir.join("attach/journal/empty.log"));
    let followed = match follow {
        Some((ftx, handle)) => {
            let _ = ftx.send(());
            timeout(Duration::from_secs(10), handle).await???;
            Some(read_written(&dir.join("follow/journal"), &dir.join("follow.log")))
        }
        None => None,
    };
    Ok((truth, stats, written, followed))
}

fn head_change_rows(w: &Written) -> Vec<(Vec<String>, i64, Vec<String>, i64, i64, i64)> {
    w.head_changes.iter().map(|h| (h.from.clone(), h.from_height, h.to.clone(), h.to_height, h.revert_count, h.apply_count)).collect()
}

/// `attach` on a devnet with a partition that heals into a depth-2 reorg, a late miner and a
/// widened tipset: its journal is the ground truth's head changes, and `follow`'s of the same
/// devnet, record for record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_journals_the_nodes_head_changes_as_follow_does() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let scenarios = vec![
        Scenario::PartitionHeal { at: 3, depth: 2 },
        Scenario::LateMiner { miner: 2, delay_ms: 400 },
        Scenario::Widen { at: 7, delay_ms: 300 },
    ];
    let (truth, stats, attached, followed) = attach_scenario("attach-partition", 9, scenarios, true).await?;
    let expected: Vec<_> = truth
        .head_changes
        .iter()
        .map(|h| (h.from.clone(), h.from_height, h.to.clone(), h.to_height, h.revert_count as i64, h.apply_count as i64))
        .collect();
    assert_eq!(head_change_rows(&attached), expected, "attach's journal vs the ground truth");
    assert_eq!(head_change_rows(&attached), head_change_rows(&followed.expect("follow ran")), "attach's journal vs follow's");
    assert!(attached.head_changes.iter().any(|h| h.class() == ReorgClass::Reorg && h.revert_count == 2));
    // Every block the node received has its record; no gap on a healthy connection.
    let published = truth.blocks.iter().filter(|b| b.published_ms.is_some()).count();
    assert_eq!(attached.seen.len(), published);
    assert!(attached.seen.iter().all(|(_, _, peer)| peer == "node"));
    assert_eq!((stats.status.gaps, stats.status.reconnects), (0, 0));
    assert!(stats.status.node_version.contains("lsync-devnet"));
    Ok(())
}

/// The connection dropped at one epoch and the ChainNotify channel closed (as for a slow
/// reader) at another: attach reconnects, resubscribes and fills each gap from ChainGetPath —
/// the head changes still chain (each From the previous To), none is written twice, the
/// canonical chain is the ground truth's, and both gaps are recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_fills_the_gaps_of_a_dropped_connection_and_a_closed_channel() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let scenarios = vec![
        Scenario::RpcDrop { at: 4 },
        Scenario::NotifyClose { at: 8 },
        Scenario::PartitionHeal { at: 5, depth: 2 },
    ];
    let (truth, stats, attached, _) = attach_scenario("attach-gaps", 11, scenarios, false).await?;
    let rows = head_change_rows(&attached);
    for pair in rows.windows(2) {
        assert_eq!((&pair[1].0, pair[1].1), (&pair[0].2, pair[0].3), "head changes chain: {pair:?}");
    }
    let tos: Vec<_> = rows.iter().map(|r| r.2.clone()).collect();
    let unique: BTreeSet<_> = tos.iter().collect();
    assert_eq!(unique.len(), tos.len(), "no head written twice");
    let canonical: BTreeMap<i64, Vec<String>> = truth.canonical.iter().filter(|t| t.height > 0).map(|t| (t.height, t.cids.clone())).collect();
    assert_eq!(attached.canonical, canonical, "the canonical chain from the journal's paths");
    assert_eq!(attached.head_changes.last().map(|h| &h.to), truth.canonical.last().map(|t| &t.cids));
    assert_eq!(stats.status.reconnects, 1, "{stats:?}");
    assert_eq!((stats.gaps_filled, stats.gaps_unfilled), (stats.status.gaps, 0));
    assert!(stats.status.gaps >= 1, "{stats:?}");
    Ok(())
}

/// F3 certificates finalize the devnet's chain three epochs behind its head, with a scripted
/// stall: attach records each one (instance, epoch, tipset) as the node issued them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_records_each_f3_certificate_and_the_stall() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let (truth, stats, _, _) = attach_scenario("attach-f3", 12, vec![Scenario::F3Stall { at: 5, epochs: 4 }], false).await?;
    assert!(truth.finality.len() >= 4, "{:?}", truth.finality);
    assert_eq!(stats.finality_source.as_deref(), Some("F3GetLatestCertificate"));
    assert_eq!(stats.finality_records as usize, truth.finality.len(), "{:?} vs {stats:?}", truth.finality);
    // The stall: no certificate during its four epochs, so consecutive finalized epochs jump.
    let epochs: Vec<i64> = truth.finality.iter().map(|f| f.1).collect();
    assert!(epochs.windows(2).any(|w| w[1] - w[0] >= 4), "{epochs:?}");
    Ok(())
}

/// The three ways a first connection fails, one sentence each, none with the token in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_says_what_is_wrong_with_the_endpoint_and_never_the_token() -> Res<()> {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = temp_dir("attach-errors");
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut cfg = DevnetConfig::new(1, mainnet_genesis_header());
    cfg.epochs = 2;
    cfg.rpc = Some("127.0.0.1:0".parse()?);
    cfg.ready = Some(ready_tx);
    let devnet = tokio::spawn(run_devnet(cfg, futures::future::pending()));
    let ready = timeout(Duration::from_secs(10), ready_rx).await??;
    let (addr, _) = ready.rpc.clone().expect("an RPC endpoint");
    let secret = "s3cr3t-wrong-token";
    let attempt = |info: String| {
        let dir = dir.join("journal");
        async move {
            let endpoint = lsync_sync::rpc::parse_api_info(&info, "test").unwrap();
            lsync_sync::rpc::run_attach(lsync_sync::rpc::AttachConfig::new(endpoint, dir), futures::future::pending()).await
        }
    };
    let wrong = attempt(format!("{secret}:/ip4/127.0.0.1/tcp/{}/http", addr.port())).await.unwrap_err().to_string();
    assert!(wrong.contains("rejected the token") && !wrong.contains(secret), "{wrong}");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let refused = attempt(format!("{secret}:/ip4/127.0.0.1/tcp/{closed_port}/http")).await.unwrap_err().to_string();
    assert!(refused.contains("cannot reach") && refused.to_lowercase().contains("refused") && !refused.contains(secret), "{refused}");
    // An HTTP server that is not a WebSocket endpoint (a proxy that only forwards POSTs).
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_port = http.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = http.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    let not_ws = attempt(format!("{secret}:/ip4/127.0.0.1/tcp/{http_port}/http")).await.unwrap_err().to_string();
    assert!(not_ws.contains("instead of opening a WebSocket") && !not_ws.contains(secret), "{not_ws}");
    devnet.abort();
    Ok(())
}
