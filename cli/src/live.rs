//! `lsync follow`, `lsync devnet` and `lsync demo`: printing and the database around
//! `lsync_sync::launch`, which owns the options, networks, genesis, supervisor and demo.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lsync_sync::devnet::{run_devnet, GroundTruth};
use lsync_sync::launch::{self, DemoRun, DevnetArgs, FollowArgs, SupervisorHooks};
use lsync_sync::p2p::FollowStatus;

use crate::output;

fn local_offset_secs() -> i32 {
    chrono::Local::now().offset().local_minus_utc()
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the tokio runtime")
}

/// One line of live status.
fn status_line(s: &FollowStatus) -> String {
    let head: Vec<String> = s
        .head
        .iter()
        .map(|c| {
            let t = c.to_string();
            format!("{}…{}", &t[..10.min(t.len())], &t[t.len().saturating_sub(4)..])
        })
        .collect();
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

pub fn ingest_quietly(db: &Path, repo_paths: &[PathBuf], node: &str) -> Result<lsync_analyzers::ingest::IngestReport> {
    let files = lsync_analyzers::ingest::discover(repo_paths)?;
    let mut conn = lsync_analyzers::open(db)?;
    let opts = lsync_analyzers::ingest::IngestOptions { node: node.to_string(), ..Default::default() };
    Ok(lsync_analyzers::ingest::ingest(&mut conn, &files, &opts, &mut lsync_analyzers::ingest::NoProgress)?)
}

/// The status line on a terminal, each failed bootstrap dial as it fails (unless `--quiet`),
/// and the live ingest every 10 s with `--db`.
struct Hooks {
    tty: bool,
    quiet: bool,
    /// The anchor was said (once, when chosen).
    anchor_said: bool,
    live_ingest: Option<(PathBuf, Vec<PathBuf>, String)>,
    metrics: Option<std::sync::Arc<std::sync::Mutex<launch::metrics::Metrics>>>,
}

impl SupervisorHooks for Hooks {
    fn status(&mut self, status: &FollowStatus) {
        if let Some(m) = &self.metrics {
            if let Ok(mut m) = m.lock() {
                m.update(status);
            }
        }
        if let Some(anchor) = status.anchor.as_ref().filter(|_| !self.anchor_said && !self.quiet) {
            self.anchor_said = true;
            if self.tty {
                eprint!("\r\x1b[2K");
            }
            eprintln!("lsync follow: {}", output::inert(&anchor_sentence(anchor)));
        }
        if self.tty {
            eprint!("\r\x1b[2K{}", status_line(status));
        }
    }

    fn dial_failed(&mut self, addr: &str, reason: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        // The reason comes from libp2p and may quote what the remote sent: no control bytes.
        let clean: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        eprintln!("lsync follow: cannot reach {addr}: {clean}");
    }

    fn periodic(&mut self) {
        if let Some((db, paths, node)) = &self.live_ingest {
            // Incremental: only new bytes; a torn last line waits for the next round. A failed
            // round is retried at the next one and at exit, where its error is reported.
            let _ = ingest_quietly(db, paths, node);
        }
    }

    fn periodic_every(&self) -> Option<Duration> {
        self.live_ingest.as_ref().map(|_| Duration::from_secs(10))
    }
}

/// Where the chain starts, in one sentence (the reason may quote a peer id, nothing more).
fn anchor_sentence(anchor: &lsync_sync::p2p::AnchorInfo) -> String {
    let key = anchor.key.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    format!("anchored at height {} {{{key}}}: {}", anchor.height, anchor.reason)
}

/// Serve `metrics` on `addr` (`GET /metrics`), saying where unless quiet: the shared metrics,
/// and the observer that feeds them head changes and first sightings.
type SharedMetrics = std::sync::Arc<std::sync::Mutex<launch::metrics::Metrics>>;

fn serve_metrics(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    metrics: launch::metrics::Metrics,
    command: &str,
    quiet: bool,
) -> Result<(SharedMetrics, std::sync::Arc<dyn lsync_sync::p2p::driver::FollowObserver>)> {
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let local = listener.local_addr().map_or(addr, |a| a);
    if !quiet {
        let note = if local.ip().is_loopback() { "" } else { " (not loopback: reachable from other hosts)" };
        eprintln!("lsync {command}: metrics at http://{local}/metrics{note}");
    }
    let m = std::sync::Arc::new(std::sync::Mutex::new(metrics));
    rt.spawn(launch::metrics::serve(listener, m.clone()));
    Ok((m.clone(), std::sync::Arc::new(launch::metrics::SharedMetrics(m))))
}

pub fn follow(a: FollowArgs) -> Result<ExitCode> {
    let genesis_car = match &a.genesis_car {
        Some(path) => Some(lsync_analyzers::ingest::open_decompressed(path)? as Box<dyn std::io::Read + Send>),
        None => None,
    };
    let rt = runtime()?;
    let mut cfg = rt.block_on(a.follow_config(genesis_car, local_offset_secs()))?;
    let connect_timeout = a.connect_timeout()?;
    let (journal_dir, log_path) = (a.journal_dir(), a.log_path());
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
    let metrics = match a.metrics {
        Some(addr) => {
            let (m, observer) = serve_metrics(&rt, addr, launch::metrics::Metrics::new(), "follow", a.quiet)?;
            cfg.observer = Some(observer);
            Some(m)
        }
        None => None,
    };
    let hooks = Hooks { tty: !a.quiet && std::io::stderr().is_terminal(), quiet: a.quiet, anchor_said: false, live_ingest: a.db.clone().map(|d| (d, ingest_paths.clone(), a.node.clone())), metrics };
    let tty = hooks.tty;
    let result = rt.block_on(launch::follow_supervised(cfg, connect_timeout, hooks));
    if tty {
        eprintln!();
    }
    let (stats, _) = result?;
    if let Some(db) = &a.db {
        let r = ingest_quietly(db, &ingest_paths, &a.node)?;
        if !a.quiet {
            eprintln!("ingested {} new event(s) into {}", r.events, db.display());
        }
    }
    let equivocations = if stats.equivocations > 0 { format!("; {} equivocating block(s) (same miner, same height)", stats.equivocations) } else { String::new() };
    let dropped = if stats.dropped_by_reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", stats.dropped_by_reason.iter().map(|(why, n)| format!("{why} {n}")).collect::<Vec<_>>().join(", "))
    };
    let anchored = match &stats.anchor {
        Some(anchor) => format!("; {}", anchor_sentence(anchor)),
        None => "; no anchor chosen (no peer announced a head)".to_string(),
    };
    output::print(&format!(
        "head {} at height {}; {}; {} block(s) first-seen{equivocations}; gossip {} accepted, {} ignored, {} rejected{dropped}{anchored}",
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

/// One line of attach's live status.
fn attach_line(s: &lsync_sync::rpc::AttachStatus) -> String {
    let finality = match (s.finalized_epoch, s.finality_instance) {
        (Some(e), Some(i)) => format!(" · finalized {e} (F3 #{i}, lag {})", s.head_height - e),
        (Some(e), None) => format!(" · finalized {e} (lag {})", s.head_height - e),
        _ => String::new(),
    };
    format!(
        "{} · head {} · {} · {} block(s) · {} gap(s), {} reconnect(s){finality}",
        if s.connected { "connected" } else { "reconnecting" },
        s.head_height,
        s.head_changes,
        s.blocks_seen,
        s.gaps,
        s.reconnects
    )
}

pub fn attach(a: lsync_sync::launch::AttachArgs) -> Result<ExitCode> {
    if let Some(api) = &a.api {
        let carries_token = !api.starts_with('/') && api.split_once(':').is_some_and(|(_, rest)| !rest.starts_with("//"));
        if carries_token && !a.quiet {
            eprintln!("lsync attach: warning: the token given in --api is visible to other users in `ps`; prefer FULLNODE_API_INFO, --token-file or the repo's token file");
        }
    }
    let mut cfg = a.attach_config(local_offset_secs())?;
    let journal_dir = a.journal_dir();
    std::fs::create_dir_all(&journal_dir).with_context(|| format!("creating {}", journal_dir.display()))?;
    if !a.quiet {
        eprintln!("lsync attach: {} (from {}), journal {}", cfg.endpoint.url, output::inert(&cfg.endpoint.source), journal_dir.display());
    }
    let rt = runtime()?;
    let (status_tx, mut status_rx) = tokio::sync::watch::channel(lsync_sync::rpc::AttachStatus::default());
    cfg.status = Some(status_tx);
    let metrics = match a.metrics {
        Some(addr) => {
            let (m, observer) = serve_metrics(&rt, addr, launch::metrics::Metrics::attach(), "attach", a.quiet)?;
            cfg.observer = Some(observer);
            Some(m)
        }
        None => None,
    };
    let tty = !a.quiet && std::io::stderr().is_terminal();
    let ingest_paths = vec![journal_dir.clone(), a.log_path()];
    let live_db = a.db.clone();
    let node = a.node.clone();
    let result = rt.block_on(async {
        let run = lsync_sync::rpc::run_attach(cfg, launch::shutdown_signal());
        tokio::pin!(run);
        let mut ingest_tick = tokio::time::interval(Duration::from_secs(10));
        ingest_tick.tick().await;
        loop {
            tokio::select! {
                r = &mut run => break r,
                changed = status_rx.changed() => {
                    if changed.is_err() { continue; }
                    let s = status_rx.borrow_and_update().clone();
                    if let Some(m) = &metrics {
                        if let Ok(mut m) = m.lock() { m.update_attach(&s); }
                    }
                    if tty {
                        eprint!("\r\x1b[2K{}", attach_line(&s));
                    }
                }
                _ = ingest_tick.tick(), if live_db.is_some() => {
                    let (db, paths, node) = (live_db.clone().expect("checked"), ingest_paths.clone(), node.clone());
                    let _ = tokio::task::spawn_blocking(move || ingest_quietly(&db, &paths, &node)).await;
                }
            }
        }
    });
    if tty {
        eprintln!();
    }
    let stats = result?;
    if let Some(db) = &a.db {
        let r = ingest_quietly(db, &ingest_paths, &a.node)?;
        if !a.quiet {
            eprintln!("ingested {} new event(s) into {}", r.events, db.display());
        }
    }
    let s = &stats.status;
    output::print(&format!(
        "node {} ({}); head at height {}; {} ChainNotify batch(es): {}; {} block(s) received; {} gap(s) filled, {} not; {} reconnect(s); {} finality record(s){}",
        s.node_version,
        s.network,
        s.head_height,
        stats.batches,
        s.head_changes,
        s.blocks_seen,
        stats.gaps_filled,
        stats.gaps_unfilled,
        s.reconnects,
        stats.finality_records,
        stats.finality_source.as_ref().map_or(String::new(), |src| format!(" from {src}"))
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn devnet(a: DevnetArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut cfg = a.devnet_config()?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    cfg.ready = Some(ready_tx);
    let out = a.out.clone();
    let truth = runtime()?.block_on(async move {
        let run = tokio::spawn(run_devnet(cfg, launch::shutdown_signal()));
        if let Ok(ready) = ready_rx.await {
            let car = out.join("genesis.car");
            launch::write_genesis_car(&ready, &car)?;
            println!("devnet {} up: {} miner(s), genesis {}", ready.network_name, ready.addrs.len(), ready.genesis.cids()[0]);
            for addr in &ready.addrs {
                println!("  {addr}");
            }
            println!("follow it with:\n  {}", launch::follow_command(&ready, &car));
            if let Some((addr, token)) = &ready.rpc {
                // Lotus's repo layout: `api` (the multiaddr) and `token` (owner-only).
                let api = format!("/ip4/{}/tcp/{}/http", addr.ip(), addr.port());
                std::fs::write(out.join("api"), &api).with_context(|| format!("writing {}", out.join("api").display()))?;
                write_private(&out.join("token"), token)?;
                println!("a Lotus-compatible API (a test double) at ws://{addr}/rpc/v1; attach with:\n  lsync attach --repo {}", out.display());
                println!("or: FULLNODE_API_INFO=$(cat {}):{api} lsync attach", out.join("token").display());
            }
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

/// Writes a secret file readable by its owner only (as Lotus writes its token).
fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The demo's network and follower (library), then its database (here).
pub fn run_demo_network(dir: &Path, quiet: bool) -> Result<(DemoRun, PathBuf)> {
    let run = launch::run_demo_network(dir)?;
    if !quiet {
        eprintln!("devnet ran: {} miners on {}", run.miners.len(), run.miners.join(", "));
    }
    let db = dir.join("lsync.db");
    ingest_quietly(&db, std::slice::from_ref(&run.repo), "follower")?;
    ingest_quietly(&db, std::slice::from_ref(&run.second_repo), "observer-b")?;
    Ok((run, db))
}
