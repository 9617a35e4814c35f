//! `lsync follow`, `lsync devnet` and `lsync demo`: the live half, wired to `lsync-sync`.

use crate::output;
use anyhow::{bail, Context, Result};
use lsync_core::chain::{write_car, BlockHeader, CarReader, TipSet};
use lsync_sync::devnet::{run_devnet, DevnetConfig, DevnetReady, GroundTruth, Scenario};
use lsync_sync::p2p::{run_follow, FollowConfig, FollowStats, FollowStatus};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A network lsync knows how to join.
pub struct Preset {
    pub name: &'static str,
    /// NetworkName of the genesis Init actor: the gossip topic is `/fil/blocks/<this>`.
    pub network_name: &'static str,
    pub genesis_cid: &'static str,
    /// Lotus's genesis CAR, zstd-compressed, as shipped in `build/genesis/`.
    pub genesis_car_zst: &'static [u8],
    pub block_delay_secs: u64,
    pub bootstrap: &'static [&'static str],
}

/// Presets from lotus-facts §4.3, §4.4, §6.4 (genesis CARs are Lotus's own, byte for byte).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "mainnet",
        network_name: "testnetnet",
        genesis_cid: "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2",
        genesis_car_zst: include_bytes!("../../fixtures/lotus/lotus-genesis-mainnet.car.zst"),
        block_delay_secs: 30,
        bootstrap: &[
            "/dns/bootstrap.filecoin.chain.love/tcp/1235/p2p/12D3KooWBF8cpp65hp2u9LK5mh19x67ftAam84z9LsfaquTDSBpt",
        ],
    },
    Preset {
        name: "calibnet",
        network_name: "calibrationnet",
        genesis_cid: "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4",
        genesis_car_zst: include_bytes!("../../fixtures/lotus/lotus-genesis-calibnet.car.zst"),
        block_delay_secs: 30,
        bootstrap: &[
            "/dns/bootstrap.calibration.filecoin.chain.love/tcp/1237/p2p/12D3KooWQPYouEAsUQKzvFUA9sQ8tz4rfpqtTzh2eL6USd9bwg7x",
        ],
    },
];

/// The root block of a CAR, decoded as a block header (a genesis CAR's root is the genesis).
fn genesis_from_car(reader: impl std::io::Read, what: &str) -> Result<BlockHeader> {
    let mut car = CarReader::new(reader).with_context(|| format!("{what} is not a valid CAR file"))?;
    let root = *car.roots().first().with_context(|| format!("{what} has no root"))?;
    while let Some(block) = car.next_block().with_context(|| format!("reading {what}"))? {
        if block.cid == root {
            return BlockHeader::decode(&block.data).with_context(|| format!("the root of {what} is not a block header"));
        }
    }
    bail!("{what} does not contain its root block {root}")
}

fn preset_genesis(p: &Preset) -> Result<BlockHeader> {
    let dec = zstd::stream::read::Decoder::new(p.genesis_car_zst).context("embedded genesis")?;
    let header = genesis_from_car(dec, &format!("the embedded {} genesis", p.name))?;
    let cid = header.cid().context("embedded genesis")?.to_string();
    if cid != p.genesis_cid {
        bail!("the embedded {} genesis is {cid}, expected {}", p.name, p.genesis_cid);
    }
    Ok(header)
}

/// Options of `lsync follow`.
pub struct FollowArgs {
    pub network: String,
    pub genesis: Option<String>,
    pub genesis_car: Option<PathBuf>,
    pub bootstrap: Vec<String>,
    pub bootstrap_peers: Option<usize>,
    pub block_time: Option<String>,
    pub repo: PathBuf,
    pub journal_dir: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub node: String,
    pub run_for: Option<String>,
    pub listen: Vec<String>,
    pub connect_timeout: String,
    pub quiet: bool,
}

pub fn parse_duration(s: &str, what: &str) -> Result<Duration> {
    let ms = lsync_core::go_text::parse_go_duration_ms(s)
        .filter(|ms| *ms >= 0.0)
        .with_context(|| format!("{what}: {s:?} is not a duration (e.g. 90s, 5m, 1h30m)"))?;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

fn local_offset_secs() -> i32 {
    chrono::Local::now().offset().local_minus_utc()
}

/// Builds the follower configuration from the command line (no network yet).
fn follow_config(a: &FollowArgs) -> Result<(FollowConfig, PathBuf, Option<PathBuf>)> {
    let preset = PRESETS.iter().find(|p| p.name == a.network);
    let bootstrap_addrs = |list: &[String]| -> Result<Vec<lsync_sync::p2p::Multiaddr>> {
        list.iter().map(|b| b.parse().map_err(|e| anyhow::anyhow!("--bootstrap {b:?} is not a multiaddr: {e}"))).collect()
    };
    let genesis = match (&a.genesis_car, preset, &a.genesis) {
        (Some(path), _, _) => {
            let r = lsync_analyzers::ingest::open_decompressed(path)?;
            TipSet::new(vec![genesis_from_car(r, &path.display().to_string())?]).context("genesis header")?
        }
        (None, Some(p), _) => TipSet::new(vec![preset_genesis(p)?]).context("genesis header")?,
        (None, None, Some(cid)) => {
            // A network lsync has no genesis of: ask its peers for the header by CID.
            let cid: cid::Cid = cid.parse().map_err(|_| anyhow::anyhow!("--genesis {cid:?} is not a valid CID"))?;
            let addrs = bootstrap_addrs(&a.bootstrap)?;
            if addrs.is_empty() {
                bail!("network {:?} needs --bootstrap peers to fetch its genesis {cid} from", a.network);
            }
            let wait = parse_duration(&a.connect_timeout, "--connect-timeout")?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
            rt.block_on(lsync_sync::p2p::fetch_genesis(&a.network, cid, &addrs, wait))?
        }
        (None, None, None) => bail!(
            "unknown network {:?}: use mainnet or calibnet, or give the network's genesis with --genesis CID (fetched from --bootstrap peers) or --genesis-car FILE",
            a.network
        ),
    };
    let genesis_cid = genesis.cids()[0].to_string();
    if let Some(want) = &a.genesis {
        let want = lsync_core::cids::validate_cid(want).map_err(|_| anyhow::anyhow!("--genesis {want:?} is not a valid CID"))?;
        if want != genesis_cid {
            bail!("--genesis {want} does not match the genesis of {} ({genesis_cid})", a.network);
        }
    }
    let network_name = preset.map(|p| p.network_name.to_string()).unwrap_or_else(|| a.network.clone());
    let journal_dir = a.journal_dir.clone().unwrap_or_else(|| a.repo.join("journal"));
    let log_path = a.log.clone().unwrap_or_else(|| a.repo.join("daemon.log"));
    let mut cfg = FollowConfig::new(network_name, genesis, journal_dir.clone());
    let mut bootstrap = a.bootstrap.clone();
    if bootstrap.is_empty() {
        if let Some(p) = preset {
            bootstrap = p.bootstrap.iter().map(|s| s.to_string()).collect();
        }
    }
    if bootstrap.is_empty() {
        bail!("no --bootstrap address given for network {:?}", a.network);
    }
    cfg.bootstrap = bootstrap_addrs(&bootstrap)?;
    if !a.listen.is_empty() {
        cfg.listen = a
            .listen
            .iter()
            .map(|l| l.parse().map_err(|e| anyhow::anyhow!("--listen {l:?} is not a multiaddr: {e}")))
            .collect::<Result<_>>()?;
    }
    if let Some(n) = a.bootstrap_peers {
        cfg.bootstrap_peers_threshold = n;
    }
    let block_delay = match &a.block_time {
        Some(bt) => parse_duration(bt, "--block-time")?.as_secs(),
        None => preset.map(|p| p.block_delay_secs).unwrap_or(30),
    };
    if block_delay == 0 {
        bail!("--block-time must be at least 1s (Filecoin timestamps are whole seconds)");
    }
    cfg.follower.block_delay_secs = block_delay;
    cfg.journal.zone_offset_secs = local_offset_secs();
    cfg.golog.zone_offset_secs = local_offset_secs();
    cfg.log_path = Some(log_path);
    cfg.run_for = a.run_for.as_deref().map(|d| parse_duration(d, "--for")).transpose()?;
    Ok((cfg, journal_dir, a.db.clone()))
}

/// One line of live status.
fn status_line(s: &FollowStatus) -> String {
    let head: Vec<String> = s.head.iter().map(|c| {
        let t = c.to_string();
        format!("{}…{}", &t[..10.min(t.len())], &t[t.len().saturating_sub(4)..])
    }).collect();
    format!(
        "peers {} · head {} [{}] · lag {:.1}s · {} · gossip {}/{}/{} ok/ignored/rejected",
        s.peers,
        s.head_height,
        head.join(" "),
        s.lag_ms as f64 / 1000.0,
        s.head_changes,
        s.gossip_accepted,
        s.gossip_ignored,
        s.gossip_rejected
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn ingest_quietly(db: &Path, repo_paths: &[PathBuf], node: &str) -> Result<lsync_analyzers::ingest::IngestReport> {
    let files = lsync_analyzers::ingest::discover(repo_paths)?;
    let mut conn = lsync_analyzers::open(db)?;
    let opts = lsync_analyzers::ingest::IngestOptions { node: node.to_string(), ..Default::default() };
    Ok(lsync_analyzers::ingest::ingest(&mut conn, &files, &opts, &mut lsync_analyzers::ingest::NoProgress)?)
}

/// Runs the follower until `--for`, SIGINT or SIGTERM; prints a status line on a TTY.
async fn follow_async(mut cfg: FollowConfig, connect_timeout: Duration, quiet: bool, live_ingest: Option<(PathBuf, Vec<PathBuf>, String)>) -> Result<FollowStats> {
    let (tx, mut rx) = tokio::sync::watch::channel(FollowStatus::default());
    cfg.status = Some(tx);
    let bootstrap = cfg.bootstrap.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = stop_rx => {},
        }
    };
    let follow = tokio::spawn(run_follow(cfg, shutdown));
    let tty = !quiet && std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();
    let mut ever_connected = false;
    let mut stop_tx = Some(stop_tx);
    let mut unreachable = false;
    let mut last_ingest = tokio::time::Instant::now();
    let mut follow = follow;
    loop {
        tokio::select! {
            res = &mut follow => {
                if tty {
                    eprintln!();
                }
                let stats = res.context("follower task")??;
                if unreachable {
                    bail!(
                        "no peer reachable within {}s: tried {}",
                        connect_timeout.as_secs(),
                        bootstrap.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
                    );
                }
                return Ok(stats);
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let s = rx.borrow_and_update().clone();
                if s.peers > 0 {
                    ever_connected = true;
                }
                if tty {
                    eprint!("\r\x1b[2K{}", status_line(&s));
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if !ever_connected && started.elapsed() > connect_timeout {
            if let Some(tx) = stop_tx.take() {
                unreachable = true;
                let _ = tx.send(());
            }
        }
        if let Some((db, paths, node)) = &live_ingest {
            if last_ingest.elapsed() > Duration::from_secs(10) {
                last_ingest = tokio::time::Instant::now();
                let (db, paths, node) = (db.clone(), paths.clone(), node.clone());
                // Incremental: only new bytes; a torn last line waits for the next round.
                let _ = tokio::task::spawn_blocking(move || ingest_quietly(&db, &paths, &node)).await;
            }
        }
    }
}

pub fn follow(a: FollowArgs) -> Result<ExitCode> {
    let (cfg, journal_dir, db) = follow_config(&a)?;
    let connect_timeout = parse_duration(&a.connect_timeout, "--connect-timeout")?;
    let log_path = cfg.log_path.clone().expect("set above");
    let ingest_paths = vec![journal_dir.clone(), log_path.clone()];
    if !a.quiet {
        eprintln!(
            "lsync follow: network {} (topic /fil/blocks/{}), genesis {}, journal {}, log {}",
            a.network,
            cfg.network_name,
            cfg.genesis.cids()[0],
            journal_dir.display(),
            log_path.display()
        );
    }
    std::fs::create_dir_all(&journal_dir).with_context(|| format!("creating {}", journal_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    let live = db.clone().map(|d| (d, ingest_paths.clone(), a.node.clone()));
    let stats = rt.block_on(follow_async(cfg, connect_timeout, a.quiet, live))?;
    if let Some(db) = &db {
        let r = ingest_quietly(db, &ingest_paths, &a.node)?;
        if !a.quiet {
            eprintln!("ingested {} new event(s) into {}", r.events, db.display());
        }
    }
    output::print(&format!(
        "head {} at height {}; {}; {} block(s) first-seen; gossip {} accepted, {} ignored, {} rejected",
        stats.head.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" "),
        stats.head_height,
        stats.head_changes,
        stats.blocks_seen,
        stats.gossip_accepted,
        stats.gossip_ignored,
        stats.gossip_rejected
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Options of `lsync devnet`.
pub struct DevnetArgs {
    pub miners: usize,
    pub block_time: String,
    pub seed: u64,
    pub listen_base: u16,
    pub epochs: u64,
    pub out: PathBuf,
    pub partition: Vec<String>,
    pub late_miner: Vec<String>,
    pub widen: Vec<String>,
    pub null_rounds: Vec<String>,
}

fn pair<A: std::str::FromStr, B: std::str::FromStr>(s: &str, flag: &str, shape: &str) -> Result<(A, B)> {
    let (a, b) = s.split_once(':').with_context(|| format!("{flag} {s:?}: expected {shape}"))?;
    let a = a.parse().map_err(|_| anyhow::anyhow!("{flag} {s:?}: expected {shape}"))?;
    let b = b.parse().map_err(|_| anyhow::anyhow!("{flag} {s:?}: expected {shape}"))?;
    Ok((a, b))
}

pub fn scenarios(a: &DevnetArgs) -> Result<Vec<Scenario>> {
    let mut out = Vec::new();
    for p in &a.partition {
        let (at, depth) = pair::<i64, u64>(p, "--partition", "HEIGHT:DEPTH")?;
        out.push(Scenario::PartitionHeal { at, depth });
    }
    for p in &a.late_miner {
        let (miner, delay_ms) = pair::<usize, u64>(p, "--late-miner", "MINER:DELAY_MS")?;
        if miner >= a.miners {
            bail!("--late-miner {p:?}: there are only {} miners (0..{})", a.miners, a.miners - 1);
        }
        out.push(Scenario::LateMiner { miner, delay_ms });
    }
    for p in &a.widen {
        let (at, delay_ms) = pair::<i64, u64>(p, "--widen", "HEIGHT:DELAY_MS")?;
        out.push(Scenario::Widen { at, delay_ms });
    }
    for p in &a.null_rounds {
        let (at, count) = pair::<i64, u64>(p, "--null-rounds", "HEIGHT:COUNT")?;
        out.push(Scenario::NullRounds { at, count });
    }
    Ok(out)
}

fn devnet_config(a: &DevnetArgs) -> Result<DevnetConfig> {
    if a.miners == 0 {
        bail!("--miners must be at least 1");
    }
    let template = preset_genesis(&PRESETS[0])?;
    let mut cfg = DevnetConfig::new(a.miners, template);
    let bt = parse_duration(&a.block_time, "--block-time")?;
    if bt.as_secs() == 0 || bt.subsec_nanos() != 0 {
        bail!("--block-time must be whole seconds (Filecoin timestamps are whole seconds), e.g. 2s");
    }
    cfg.block_time = bt;
    cfg.seed = a.seed;
    cfg.listen_base = a.listen_base;
    cfg.epochs = a.epochs;
    cfg.scenarios = scenarios(a)?;
    cfg.ground_truth_path = Some(a.out.join("ground-truth.json"));
    Ok(cfg)
}

/// Writes the devnet's genesis as a CAR so a separate `lsync follow` can join it.
fn write_genesis_car(ready: &DevnetReady, path: &Path) -> Result<()> {
    let header = &ready.genesis.blocks()[0];
    let bytes = header.to_cbor().context("encoding the devnet genesis")?;
    let cid = ready.genesis.cids()[0];
    std::fs::write(path, write_car(&[cid], &[(cid, bytes)]).context("writing the genesis CAR")?).with_context(|| format!("writing {}", path.display()))
}

pub fn devnet(a: DevnetArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut cfg = devnet_config(&a)?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    cfg.ready = Some(ready_tx);
    let out = a.out.clone();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    let truth = rt.block_on(async move {
        let run = tokio::spawn(run_devnet(cfg, shutdown_signal()));
        if let Ok(ready) = ready_rx.await {
            let car = out.join("genesis.car");
            write_genesis_car(&ready, &car)?;
            let mut cmd = format!(
                "lsync follow --network {} --genesis-car {} --block-time {}s --bootstrap-peers 1",
                ready.network_name,
                car.display(),
                ready.block_time_secs
            );
            for addr in &ready.addrs {
                cmd.push_str(&format!(" --bootstrap {addr}"));
            }
            println!("devnet {} up: {} miner(s), genesis {}", ready.network_name, ready.addrs.len(), ready.genesis.cids()[0]);
            for addr in &ready.addrs {
                println!("  {addr}");
            }
            println!("follow it with:\n  {cmd}");
        }
        let truth: GroundTruth = run.await.context("devnet task")??;
        Ok::<_, anyhow::Error>(truth)
    })?;
    println!(
        "devnet done: {} block(s), {} orphaned, {} head change(s) expected; ground truth in {}",
        truth.blocks.len(),
        truth.orphaned.len(),
        truth.head_changes.len(),
        a.out.join("ground-truth.json").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `lsync demo` ran, for the reports it prints.
pub struct DemoRun {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub truth: GroundTruth,
    pub late_block: Option<String>,
    pub orphan: Option<String>,
}

/// The demo's network: 3 miners, 2 s blocks; a partition at height 4 that heals after 2
/// epochs (a depth-2 reorg), miner 2 publishing 1.5 s late, a late block widening height 9.
pub fn run_demo_network(dir: &Path, quiet: bool) -> Result<DemoRun> {
    let args = DevnetArgs {
        miners: 3,
        block_time: "2s".into(),
        seed: 7,
        listen_base: 0,
        epochs: 12,
        out: dir.to_path_buf(),
        partition: vec!["4:2".into()],
        late_miner: vec!["2:1500".into()],
        widen: vec!["9:600".into()],
        null_rounds: vec![],
    };
    std::fs::create_dir_all(dir)?;
    let mut cfg = devnet_config(&args)?;
    cfg.linger = Duration::from_secs(3);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    cfg.ready = Some(ready_tx);
    let repo = dir.join("follower");
    let journal_dir = repo.join("journal");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    let truth = rt.block_on(async {
        let (devnet_stop_tx, devnet_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let devnet = tokio::spawn(run_devnet(cfg, async move {
            let _ = devnet_stop_rx.await;
        }));
        let ready = match ready_rx.await {
            Ok(r) => r,
            Err(_) => {
                // The devnet stopped before listening: its own error says why.
                devnet.await.context("devnet task")??;
                bail!("the devnet stopped before it was ready");
            }
        };
        write_genesis_car(&ready, &dir.join("genesis.car"))?;
        if !quiet {
            eprintln!("devnet up: {} miners on {}", ready.addrs.len(), ready.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
        }
        let mut fc = ready.follow_config(journal_dir.clone());
        fc.log_path = Some(repo.join("daemon.log"));
        // Warn about every block a full second late (Lotus: > 5 s), so the demo's late miner
        // shows in the Lotus-format log as well as in lsync's millisecond first-seen records.
        fc.follower.large_delay_secs = 0;
        let (follow_stop_tx, follow_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let follower = tokio::spawn(run_follow(fc, async move {
            let _ = follow_stop_rx.await;
        }));
        let truth = devnet.await.context("devnet task")??;
        // A graceful stop: the follower flushes its pending first-seen records and its log.
        let _ = follow_stop_tx.send(());
        follower.await.context("follower task")??;
        drop(devnet_stop_tx);
        Ok::<_, anyhow::Error>(truth)
    })?;
    let db = dir.join("lsync.db");
    ingest_quietly(&db, std::slice::from_ref(&repo), "follower")?;
    let late_block = truth
        .blocks
        .iter()
        .filter(|b| b.miner_index == 2 && !truth.orphaned.contains(&b.cid))
        .map(|b| b.cid.clone())
        .next();
    let orphan = truth.orphaned.first().cloned();
    Ok(DemoRun { dir: dir.to_path_buf(), db, truth, late_block, orphan })
}
