//! `lsync demo`'s network and follower: a devnet with a fork, a late miner and a widened
//! tipset, followed by a real follower on loopback. The binary ingests and prints the reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::devnet::{run_devnet, GroundTruth};
use crate::p2p::run_follow;

use super::{write_genesis_car, DevnetArgs, LaunchError};

/// What the demo ran.
pub struct DemoRun {
    pub dir: PathBuf,
    /// The follower's repo (journal/ and daemon.log), ready to ingest.
    pub repo: PathBuf,
    /// A second observer's repo: peered with one miner only, so it hears most blocks relayed.
    pub second_repo: PathBuf,
    pub truth: GroundTruth,
    /// A canonical block of the late miner.
    pub late_block: Option<String>,
    /// A block the reorg orphaned.
    pub orphan: Option<String>,
    /// The devnet's miner addresses.
    pub miners: Vec<String>,
}

/// The demo's network: 3 miners, 2 s blocks; a partition at height 4 that heals after 2
/// epochs (a depth-2 reorg), miner 2 publishing 1.5 s late, height 7's block published 2.5 s
/// late (after height 8's, which does not build on it: an orphan by lateness), a late block
/// widening height 10.
pub fn demo_args(dir: &Path) -> DevnetArgs {
    DevnetArgs {
        miners: 3,
        block_time: "2s".into(),
        seed: 7,
        listen_base: 0,
        epochs: 12,
        history: 0,
        out: dir.to_path_buf(),
        partition: vec!["4:2".into()],
        late_miner: vec!["2:1500".into()],
        widen: vec!["10:600".into()],
        null_rounds: vec![],
        late_orphan: vec!["7:2500".into()],
        lying_peer: false,
        hostile_peer: false,
        rpc: None,
        rpc_drop: vec![],
        notify_close: vec![],
        f3_stall: vec![],
        f3_lag: 5,
    }
}

/// Runs the demo network to its end with a follower attached; blocks the calling thread.
pub fn run_demo_network(dir: &Path) -> Result<DemoRun, LaunchError> {
    let io = |what: String| move |source| LaunchError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut cfg = demo_args(dir).devnet_config()?;
    cfg.linger = Duration::from_secs(3);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    cfg.ready = Some(ready_tx);
    let repo = dir.join("follower");
    let second = dir.join("observer-b");
    let journal_dir = repo.join("journal");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("starting the tokio runtime".into()))?;
    let (truth, miners) = rt.block_on(async {
        let (devnet_stop_tx, devnet_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let devnet = tokio::spawn(run_devnet(cfg, async move {
            let _ = devnet_stop_rx.await;
        }));
        let ready = match ready_rx.await {
            Ok(r) => r,
            Err(_) => {
                // The devnet stopped before listening: its own error says why.
                devnet.await.map_err(|e| LaunchError::Devnet(e.to_string()))?.map_err(|e| LaunchError::Devnet(e.to_string()))?;
                return Err(LaunchError::Devnet("the devnet stopped before it was ready".into()));
            }
        };
        write_genesis_car(&ready, &dir.join("genesis.car"))?;
        let miners = ready.addrs.iter().map(|a| a.to_string()).collect();
        let mut fc = ready.follow_config(journal_dir.clone());
        fc.log_path = Some(repo.join("daemon.log"));
        // Warn about every block a full second late (Lotus: > 5 s), so the demo's late miner
        // shows in the Lotus-format log as well as in lsync's millisecond first-seen records.
        fc.follower.large_delay_secs = 0;
        // The second observer: the same, but peered with miner 0 only.
        let mut fc2 = ready.follow_config(second.join("journal"));
        fc2.log_path = Some(second.join("daemon.log"));
        fc2.follower.large_delay_secs = 0;
        fc2.bootstrap.truncate(1);
        let (follow_stop_tx, follow_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let follower = tokio::spawn(run_follow(fc, async move {
            let _ = follow_stop_rx.await;
        }));
        let (second_stop_tx, second_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let second_follower = tokio::spawn(run_follow(fc2, async move {
            let _ = second_stop_rx.await;
        }));
        let truth = devnet.await.map_err(|e| LaunchError::Devnet(e.to_string()))?.map_err(|e| LaunchError::Devnet(e.to_string()))?;
        // A graceful stop: the follower flushes its pending first-seen records and its log.
        let _ = follow_stop_tx.send(());
        let _ = second_stop_tx.send(());
        follower.await.map_err(|e| LaunchError::Devnet(e.to_string()))??;
        second_follower.await.map_err(|e| LaunchError::Devnet(e.to_string()))??;
        drop(devnet_stop_tx);
        Ok::<_, LaunchError>((truth, miners))
    })?;
    let late_block = truth
        .blocks
        .iter()
        .filter(|b| b.miner_index == 2 && !truth.orphaned.contains(&b.cid))
        .map(|b| b.cid.clone())
        .next();
    let orphan = truth.orphaned.first().cloned();
    Ok(DemoRun { dir: dir.to_path_buf(), repo, second_repo: second, truth, late_block, orphan, miners })
}
