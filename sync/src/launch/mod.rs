//! Starting the live half from a command line: `follow` and `devnet` options as clap `Args`
//! (the binary flattens them as they are), the networks lsync knows, genesis resolution, the
//! follow supervisor and the demo scenario. The binary adds only printing and the database.

mod demo;
pub mod metrics;
mod networks;
mod supervise;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use lsync_core::chain::{write_car, TipSet};

use crate::devnet::{DevnetConfig, DevnetReady, Scenario};
use crate::p2p::{FollowConfig, FollowError, GenesisFetchError, Multiaddr};

pub use demo::{run_demo_network, DemoRun};
pub use networks::{genesis_from_car, preset, Preset, PRESETS};
pub use supervise::{follow_supervised, shutdown_signal, SupervisorHooks};

/// Why a follow or devnet run could not start or stopped with an error. Each message is one
/// sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A flag's value is unusable; the message names the flag.
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {reason}")]
    Car { what: String, reason: String },
    #[error(transparent)]
    GenesisFetch(#[from] GenesisFetchError),
    #[error(transparent)]
    Follow(#[from] FollowError),
    #[error("no peer reachable within {secs}s: tried {tried}")]
    Unreachable { secs: u64, tried: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Devnet(String),
}

fn usage(msg: impl Into<String>) -> LaunchError {
    LaunchError::Usage(msg.into())
}

/// Options of `lsync follow`.
#[derive(Args, Debug, Clone)]
pub struct FollowArgs {
    /// mainnet, calibnet, or another network's name (its genesis from --genesis-car or --genesis).
    #[arg(long, default_value = "mainnet")]
    pub network: String,
    /// Genesis block CID: checked against a known network's genesis; for other networks the
    /// header is fetched from the --bootstrap peers and must hash to it.
    #[arg(long)]
    pub genesis: Option<String>,
    /// CAR file whose root is the network's genesis block (plain, .zst or .gz).
    #[arg(long)]
    pub genesis_car: Option<PathBuf>,
    /// Peer to connect to (repeatable) [default: the network's bootstrap list].
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Peer heads to wait for before the first sync (Lotus BootstrapPeerThreshold) [default: 4].
    #[arg(long)]
    pub bootstrap_peers: Option<usize>,
    /// Where the chain starts when the journal has no head to resume from: `recent` (900
    /// tipsets, the fork-length limit, below the heaviest head the peers announce; genesis
    /// while the chain is shorter), `genesis` (the whole chain), a HEIGHT (the tipset there on
    /// the peers' chain), or a tipset's CIDs (comma-separated, fetched from the peers). The
    /// journal's `lsync:anchor` record and the closing summary say where and why.
    #[arg(long, value_name = "recent|genesis|HEIGHT|CID,…", default_value = "recent")]
    pub anchor: String,
    /// Epoch length of a custom network [default: 30s].
    #[arg(long)]
    pub block_time: Option<String>,
    /// Output directory, laid out like a Lotus repo: journal/ and daemon.log.
    #[arg(long, default_value = "lsync-follow")]
    pub repo: PathBuf,
    /// Journal directory [default: REPO/journal].
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Lotus-format log file [default: REPO/daemon.log].
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Also ingest what is written into this database, every 10 s and at exit.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Node name for --db.
    #[arg(long, default_value = "lsync-follow")]
    pub node: String,
    /// Stop after this long (e.g. 90s, 10m, 1h).
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<String>,
    /// Address to listen on (repeatable) [default: /ip4/0.0.0.0/tcp/0].
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Give up with an error when no peer could be reached in this long.
    #[arg(long, default_value = "60s")]
    pub connect_timeout: String,
    /// No status line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve Prometheus metrics (head height and lag, head changes by class, gossip verdicts,
    /// peers, bootstrap dials) at http://ADDR/metrics. Off by default; `--metrics` alone
    /// listens on 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Options of `lsync attach`.
#[derive(Args, Debug, Clone)]
pub struct AttachArgs {
    /// The node's API as TOKEN:MULTIADDR (Lotus's FULLNODE_API_INFO form), a bare multiaddr
    /// (then --token-file), or a URL. A token given here is visible to other users in `ps`:
    /// prefer FULLNODE_API_INFO, --token-file or the repo's token file.
    #[arg(long, value_name = "TOKEN:MULTIADDR")]
    pub api: Option<String>,
    /// A file holding the API token (for an --api without one).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The node's Lotus repo, for its `api` and `token` files [default: $LOTUS_PATH, else
    /// ~/.lotus]. Used when neither --api nor FULLNODE_API_INFO is given.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Output directory, laid out like a Lotus repo: journal/ and daemon.log (the node's sync
    /// workers, from SyncState, as Lotus logs them).
    #[arg(long, value_name = "DIR", default_value = "lsync-attach")]
    pub repo_out: PathBuf,
    /// Also ingest what is written into this database, every 10 s and at exit.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Node name for --db.
    #[arg(long, default_value = "lsync-attach")]
    pub node: String,
    /// Stop after this long (e.g. 90s, 10m, 1h).
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<String>,
    /// How often to poll the node's finality (F3).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub finality_poll: String,
    /// Give up on a call (and the first connection) after this long.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// No status line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve Prometheus metrics (head, lag, head changes by class, RPC connection, reconnects,
    /// gaps, finality lag) at http://ADDR/metrics. Off by default; `--metrics` alone listens on
    /// 127.0.0.1:9465.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9465")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl AttachArgs {
    pub fn journal_dir(&self) -> PathBuf {
        self.repo_out.join("journal")
    }

    /// The Lotus-format log of the node's sync workers.
    pub fn log_path(&self) -> PathBuf {
        self.repo_out.join("daemon.log")
    }

    /// The attach configuration: the endpoint found as Lotus's CLI finds it.
    pub fn attach_config(&self, zone_offset_secs: i32) -> Result<crate::rpc::AttachConfig, LaunchError> {
        let endpoint = crate::rpc::discover(self.api.as_deref(), self.token_file.as_deref(), self.repo.as_deref())
            .map_err(|e| usage(e.to_string()))?;
        let mut cfg = crate::rpc::AttachConfig::new(endpoint, self.journal_dir());
        cfg.journal.zone_offset_secs = zone_offset_secs;
        cfg.golog.zone_offset_secs = zone_offset_secs;
        cfg.log_path = Some(self.log_path());
        cfg.run_for = self.run_for.as_deref().map(|d| parse_duration(d, "--for")).transpose()?;
        cfg.finality_poll = parse_duration(&self.finality_poll, "--finality-poll")?.max(Duration::from_millis(100));
        cfg.call_timeout = parse_duration(&self.timeout, "--timeout")?.max(Duration::from_millis(100));
        Ok(cfg)
    }
}

/// A Go-style duration flag (`90s`, `5m`, `1h30m`).
pub fn parse_duration(s: &str, flag: &str) -> Result<Duration, LaunchError> {
    let ms = lsync_core::go_text::parse_go_duration_ms(s)
        .filter(|ms| *ms >= 0.0)
        .ok_or_else(|| usage(format!("{flag}: {s:?} is not a duration (e.g. 90s, 5m, 1h30m)")))?;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

fn multiaddrs(list: &[String], flag: &str) -> Result<Vec<Multiaddr>, LaunchError> {
    list.iter()
        .map(|b| b.parse().map_err(|e| usage(format!("{flag} {b:?} is not a multiaddr: {e}"))))
        .collect()
}

impl FollowArgs {
    pub fn journal_dir(&self) -> PathBuf {
        self.journal_dir.clone().unwrap_or_else(|| self.repo.join("journal"))
    }

    pub fn log_path(&self) -> PathBuf {
        self.log.clone().unwrap_or_else(|| self.repo.join("daemon.log"))
    }

    pub fn connect_timeout(&self) -> Result<Duration, LaunchError> {
        parse_duration(&self.connect_timeout, "--connect-timeout")
    }

    /// The follower configuration these options describe. `genesis_car` is the opened
    /// `--genesis-car` file (the caller decompresses it); a network without a preset or a CAR
    /// has its genesis fetched by CID from the bootstrap peers. `zone_offset_secs` is the
    /// zone of the journal and log timestamps (the machine's, as Lotus writes them).
    pub async fn follow_config(&self, genesis_car: Option<Box<dyn Read + Send>>, zone_offset_secs: i32) -> Result<FollowConfig, LaunchError> {
        let preset = preset(&self.network);
        let genesis = match (genesis_car, preset, &self.genesis) {
            (Some(r), _, _) => {
                let what = self.genesis_car.as_deref().unwrap_or(Path::new("--genesis-car")).display().to_string();
                let header = genesis_from_car(r, &what)?;
                TipSet::new(vec![header]).map_err(|e| LaunchError::Car { what, reason: e.to_string() })?
            }
            (None, Some(p), _) => {
                TipSet::new(vec![p.genesis()?]).map_err(|e| LaunchError::Car { what: p.name.into(), reason: e.to_string() })?
            }
            (None, None, Some(cid)) => {
                let cid: cid::Cid = cid.parse().map_err(|_| usage(format!("--genesis {cid:?} is not a valid CID")))?;
                let addrs = multiaddrs(&self.bootstrap, "--bootstrap")?;
                if addrs.is_empty() {
                    return Err(usage(format!("network {:?} needs --bootstrap peers to fetch its genesis {cid} from", self.network)));
                }
                crate::p2p::fetch_genesis(&self.network, cid, &addrs, self.connect_timeout()?).await?
            }
            (None, None, None) => {
                return Err(usage(format!(
                    "unknown network {:?}: use mainnet or calibnet, or give the network's genesis with --genesis CID (fetched from --bootstrap peers) or --genesis-car FILE",
                    self.network
                )))
            }
        };
        let genesis_cid = genesis.cids()[0].to_string();
        if let Some(want) = &self.genesis {
            let want = lsync_core::cids::validate_cid(want).map_err(|_| usage(format!("--genesis {want:?} is not a valid CID")))?;
            if want != genesis_cid {
                return Err(usage(format!("--genesis {want} does not match the genesis of {} ({genesis_cid})", self.network)));
            }
        }
        let network_name = preset.map(|p| p.network_name.to_string()).unwrap_or_else(|| self.network.clone());
        let mut cfg = FollowConfig::new(network_name, genesis, self.journal_dir());
        let mut bootstrap = self.bootstrap.clone();
        if bootstrap.is_empty() {
            if let Some(p) = preset {
                bootstrap = p.bootstrap.iter().map(|s| s.to_string()).collect();
            }
        }
        if bootstrap.is_empty() {
            return Err(usage(format!("no --bootstrap address given for network {:?}", self.network)));
        }
        cfg.bootstrap = multiaddrs(&bootstrap, "--bootstrap")?;
        if !self.listen.is_empty() {
            cfg.listen = multiaddrs(&self.listen, "--listen")?;
        }
        if let Some(n) = self.bootstrap_peers {
            cfg.bootstrap_peers_threshold = n;
        }
        cfg.anchor = parse_anchor(&self.anchor)?;
        let block_delay = match &self.block_time {
            Some(bt) => parse_duration(bt, "--block-time")?.as_secs(),
            None => preset.map(|p| p.block_delay_secs).unwrap_or(30),
        };
        if block_delay == 0 {
            return Err(usage("--block-time must be at least 1s (Filecoin timestamps are whole seconds)"));
        }
        cfg.follower.block_delay_secs = block_delay;
        if self.block_time.is_some() {
            // A first-seen record waits for its duplicates about one block time (30 s on
            // Filecoin's networks); on a faster custom network, two of its block times, as the
            // devnet's own follower does, so records (and metrics) are not half a minute late.
            cfg.follower.first_seen_settle = Duration::from_secs(2 * block_delay);
        }
        cfg.journal.zone_offset_secs = zone_offset_secs;
        cfg.golog.zone_offset_secs = zone_offset_secs;
        cfg.log_path = Some(self.log_path());
        cfg.run_for = self.run_for.as_deref().map(|d| parse_duration(d, "--for")).transpose()?;
        Ok(cfg)
    }
}

/// `--anchor`'s value.
pub fn parse_anchor(s: &str) -> Result<crate::p2p::AnchorRule, LaunchError> {
    use crate::p2p::AnchorRule;
    let s = s.trim();
    match s {
        "recent" => return Ok(AnchorRule::Recent),
        "genesis" => return Ok(AnchorRule::Genesis),
        _ => {}
    }
    if let Ok(height) = s.parse::<i64>() {
        if height < 0 {
            return Err(usage(format!("--anchor {height}: a height is 0 or more")));
        }
        return Ok(AnchorRule::Height(height));
    }
    let cids = s
        .trim_matches(|c| c == '{' || c == '}' || c == '[' || c == ']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<cid::Cid>().map_err(|_| usage(format!("--anchor {s:?}: {t:?} is not a CID (use recent, genesis, a height, or a tipset's CIDs separated by commas)"))))
        .collect::<Result<Vec<_>, _>>()?;
    if cids.is_empty() {
        return Err(usage("--anchor needs recent, genesis, a height or a tipset's CIDs"));
    }
    Ok(AnchorRule::Tipset(lsync_core::chain::TipSetKey::new(cids)))
}

/// Options of `lsync devnet`.
#[derive(Args, Debug, Clone)]
pub struct DevnetArgs {
    #[arg(long, default_value_t = 3)]
    pub miners: usize,
    /// Whole seconds.
    #[arg(long, default_value = "2s")]
    pub block_time: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Miner i listens on 127.0.0.1:PORT+i (0: any free ports).
    #[arg(long, default_value_t = 0)]
    pub listen_base: u16,
    /// Epochs to produce before stopping.
    #[arg(long, default_value_t = 30)]
    pub epochs: u64,
    /// Start with N epochs already made (timestamps in the past, tipsets of one to five
    /// blocks and a few null rounds, served over chain exchange): a long-running network for a
    /// late follower to join. Scenario heights lie above it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub history: u64,
    #[arg(long, default_value = "lsync-devnet")]
    pub out: PathBuf,
    /// A partition at HEIGHT that heals after DEPTH epochs (followers reorg), e.g. 5:2.
    #[arg(long, value_name = "HEIGHT:DEPTH")]
    pub partition: Vec<String>,
    /// Miner publishes every block DELAY_MS late, e.g. 2:1500.
    #[arg(long, value_name = "MINER:DELAY_MS")]
    pub late_miner: Vec<String>,
    /// A second block joins the tipset at HEIGHT DELAY_MS later, e.g. 7:500.
    #[arg(long, value_name = "HEIGHT:DELAY_MS")]
    pub widen: Vec<String>,
    /// The block at HEIGHT is published DELAY_MS late — after the next epoch's block, which
    /// outweighs it: an orphan by lateness, e.g. 8:2500 (one to three block times).
    #[arg(long, value_name = "HEIGHT:DELAY_MS")]
    pub late_orphan: Vec<String>,
    /// COUNT null rounds from HEIGHT, e.g. 10:2.
    #[arg(long, value_name = "HEIGHT:COUNT")]
    pub null_rounds: Vec<String>,
    /// Add a peer that gossips every honest header first with message lists that are not the
    /// header's (a hostile peer; a follower must reject each and journal the honest chain).
    #[arg(long)]
    pub lying_peer: bool,
    /// Add a peer that does all a hostile peer can around each honest block: garbage, lies
    /// about message lists, a 3 MB message, impossible heights, timestamps from the future, a
    /// flood of junk, and equivocating blocks (a miner's second block at a height).
    #[arg(long)]
    pub hostile_peer: bool,
    /// Serve a Lotus-compatible JSON-RPC API at ADDR (a test double of a Lotus node:
    /// ChainNotify, ChainGetPath, SyncIncomingBlocks, F3 certificates, …) and write `api` and
    /// `token` into --out, Lotus's repo layout, so `lsync attach --repo OUT` finds it.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    pub rpc: Option<std::net::SocketAddr>,
    /// The RPC endpoint drops every connection when epoch HEIGHT starts (repeatable).
    #[arg(long, value_name = "HEIGHT")]
    pub rpc_drop: Vec<i64>,
    /// The RPC endpoint closes every ChainNotify channel at epoch HEIGHT, as Lotus does to a
    /// subscriber 16 batches behind (repeatable).
    #[arg(long, value_name = "HEIGHT")]
    pub notify_close: Vec<i64>,
    /// F3 stalls: no certificate for EPOCHS epochs from HEIGHT, e.g. 10:6.
    #[arg(long, value_name = "HEIGHT:EPOCHS")]
    pub f3_stall: Vec<String>,
    /// F3 certificates finalize the head's ancestor this many epochs down.
    #[arg(long, default_value_t = 5)]
    pub f3_lag: i64,
}

fn pair<A: std::str::FromStr, B: std::str::FromStr>(s: &str, flag: &str, shape: &str) -> Result<(A, B), LaunchError> {
    let bad = || usage(format!("{flag} {s:?}: expected {shape}"));
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

impl DevnetArgs {
    /// The scenarios the flags ask for.
    pub fn scenarios(&self) -> Result<Vec<Scenario>, LaunchError> {
        let mut out = Vec::new();
        for p in &self.partition {
            let (at, depth) = pair::<i64, u64>(p, "--partition", "HEIGHT:DEPTH")?;
            out.push(Scenario::PartitionHeal { at, depth });
        }
        for p in &self.late_miner {
            let (miner, delay_ms) = pair::<usize, u64>(p, "--late-miner", "MINER:DELAY_MS")?;
            if miner >= self.miners {
                return Err(usage(format!("--late-miner {p:?}: there are only {} miners (0..{})", self.miners, self.miners - 1)));
            }
            out.push(Scenario::LateMiner { miner, delay_ms });
        }
        for p in &self.widen {
            let (at, delay_ms) = pair::<i64, u64>(p, "--widen", "HEIGHT:DELAY_MS")?;
            out.push(Scenario::Widen { at, delay_ms });
        }
        for p in &self.late_orphan {
            let (at, delay_ms) = pair::<i64, u64>(p, "--late-orphan", "HEIGHT:DELAY_MS")?;
            out.push(Scenario::LateOrphan { at, delay_ms });
        }
        for p in &self.null_rounds {
            let (at, count) = pair::<i64, u64>(p, "--null-rounds", "HEIGHT:COUNT")?;
            out.push(Scenario::NullRounds { at, count });
        }
        if self.lying_peer {
            out.push(Scenario::LyingPeer);
        }
        if self.hostile_peer {
            out.push(Scenario::HostilePeer);
        }
        for at in &self.rpc_drop {
            out.push(Scenario::RpcDrop { at: *at });
        }
        for at in &self.notify_close {
            out.push(Scenario::NotifyClose { at: *at });
        }
        for p in &self.f3_stall {
            let (at, epochs) = pair::<i64, u64>(p, "--f3-stall", "HEIGHT:EPOCHS")?;
            out.push(Scenario::F3Stall { at, epochs });
        }
        Ok(out)
    }

    /// The devnet configuration (headers shaped like the mainnet genesis).
    pub fn devnet_config(&self) -> Result<DevnetConfig, LaunchError> {
        if self.miners == 0 {
            return Err(usage("--miners must be at least 1"));
        }
        let template = PRESETS[0].genesis()?;
        let mut cfg = DevnetConfig::new(self.miners, template);
        let bt = parse_duration(&self.block_time, "--block-time")?;
        if bt.as_secs() == 0 || bt.subsec_nanos() != 0 {
            return Err(usage("--block-time must be whole seconds (Filecoin timestamps are whole seconds), e.g. 2s"));
        }
        cfg.block_time = bt;
        cfg.seed = self.seed;
        cfg.listen_base = self.listen_base;
        cfg.epochs = self.epochs;
        cfg.history = self.history;
        cfg.rpc = self.rpc;
        cfg.f3_lag = self.f3_lag;
        cfg.scenarios = self.scenarios()?;
        cfg.ground_truth_path = Some(self.out.join("ground-truth.json"));
        Ok(cfg)
    }
}

/// Writes a running devnet's genesis as a CAR so a separate `lsync follow` can join it.
pub fn write_genesis_car(ready: &DevnetReady, path: &Path) -> Result<(), LaunchError> {
    let header = &ready.genesis.blocks()[0];
    let car_err = |e: String| LaunchError::Car { what: path.display().to_string(), reason: e };
    let bytes = header.to_cbor().map_err(|e| car_err(e.to_string()))?;
    let cid = ready.genesis.cids()[0];
    let car = write_car(&[cid], &[(cid, bytes)]).map_err(|e| car_err(e.to_string()))?;
    std::fs::write(path, car).map_err(|source| LaunchError::Io { what: format!("writing {}", path.display()), source })
}

/// The `lsync follow` command line that joins a running devnet.
pub fn follow_command(ready: &DevnetReady, car: &Path) -> String {
    let mut cmd = format!(
        "lsync follow --network {} --genesis-car {} --block-time {}s --bootstrap-peers 1",
        ready.network_name,
        car.display(),
        ready.block_time_secs
    );
    for addr in &ready.addrs {
        cmd.push_str(&format!(" --bootstrap {addr}"));
    }
    cmd
}
