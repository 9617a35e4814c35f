//! `lsync attach`: a running Lotus node's own view of the chain, over its JSON-RPC API, written
//! as the same Lotus-shaped journal `follow` writes.
//!
//! - `ChainNotify` batches become `sync:head_change` records (one per batch, as Lotus's reorg
//!   worker writes one per notification: From = the head before, To = the head after, the
//!   revert and apply counts) with lsync's `lsync:reorg_path` beside them;
//! - `SyncIncomingBlocks` headers become `lsync:block_seen` records (the node's arrival, after
//!   its message fetch; the node names no peer, so `Peer` is `node`);
//! - F3: `F3GetLatestCertificate` polled (else `ChainGetFinalizedTipSet`, else head − 900)
//!   and each new finalized tipset recorded as `lsync:finality`;
//! - `SyncState` polled (every second): each sync worker the node ran becomes Lotus's own log
//!   lines in the Lotus-format log beside the journal — `worker N syncing in [target]` at its
//!   start, `worker N done; took D` at its end, `error during sync in …` when it failed — with
//!   the node's times, so `trace` shows the node's sync stages as it would from its log.
//!
//! Nothing is lost or written twice across a dropped connection, a channel the node closed
//! (Lotus closes a subscriber 16 batches behind) or a restart of attach itself: the new
//! subscription's `current` head is compared with the last head journaled, the gap between
//! them is asked of `ChainGetPath` and journaled as one head change, and the gap itself is
//! recorded (`lsync:notify_gap`). A batch that does not continue from the journaled head is
//! treated the same way.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cid::Cid;
use lsync_core::chain::f3::FinalityCertificate;
use lsync_core::chain::lotus_json::{head_change_from_json, header_from_json, key_to_json, tipset_from_json, HeadChangeType};
use lsync_core::chain::{Network, TipSet, TipSetKey};
use lsync_core::ClassCounts;
use serde_json::{json, Value};
use thiserror::Error;
use tokio::sync::watch;

use super::client::{RpcClient, RpcError, Subscription};
use super::endpoint::Endpoint;
use crate::follower::{FirstSeenRecord, HeadPath};
use crate::go_text::rfc3339_nano;
use crate::journal::{AnchorData, FinalityData, JournalConfig, JournalError, JournalWriter, NotifyGapData};
use crate::p2p::driver::FollowObserver;
use crate::p2p::node::now_nanos;
use crate::p2p::resume::last_journal_head;

/// Lotus's v1 API major version (APIVersion 2.x.y).
const V1_MAJOR: u64 = 2;

/// Settings of [`run_attach`].
#[derive(Debug, Clone)]
pub struct AttachConfig {
    pub endpoint: Endpoint,
    pub journal: JournalConfig,
    pub run_for: Option<Duration>,
    /// Continue from the last head in the journal directory.
    pub resume: bool,
    /// Waits between reconnects: first, longest (×1.5 each time, as Lotus's Go client).
    pub reconnect_backoff: (Duration, Duration),
    pub call_timeout: Duration,
    /// How often finality is polled.
    pub finality_poll: Duration,
    pub status: Option<watch::Sender<AttachStatus>>,
    pub observer: Option<Arc<dyn FollowObserver>>,
    /// The Lotus-format log of the node's sync workers (from `SyncState`); `None` writes none.
    pub log_path: Option<PathBuf>,
    pub golog: crate::golog::GoLogConfig,
    /// How often `SyncState` is polled (it keeps the last three finished workers).
    pub sync_state_poll: Duration,
}

impl AttachConfig {
    pub fn new(endpoint: Endpoint, journal_dir: PathBuf) -> Self {
        Self {
            endpoint,
            journal: JournalConfig::new(journal_dir),
            run_for: None,
            resume: true,
            reconnect_backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            call_timeout: Duration::from_secs(30),
            finality_poll: Duration::from_secs(5),
            status: None,
            observer: None,
            log_path: None,
            golog: crate::golog::GoLogConfig::default(),
            sync_state_poll: Duration::from_secs(1),
        }
    }
}

/// A live view for a status line and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachStatus {
    pub connected: bool,
    pub node_version: String,
    pub network: String,
    pub head_height: i64,
    pub head: Vec<Cid>,
    /// The head's timestamp (Unix seconds): its lag is the wall clock minus this.
    pub head_timestamp: u64,
    pub head_changes: ClassCounts,
    pub gaps: u64,
    pub reconnects: u64,
    pub blocks_seen: u64,
    /// Sync workers the node ran (from `SyncState`).
    pub workers: u64,
    /// The latest finalized epoch and the F3 instance that finalized it.
    pub finalized_epoch: Option<i64>,
    pub finality_instance: Option<u64>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachStats {
    pub status: AttachStatus,
    /// ChainNotify batches received (the first `current` of each subscription excluded).
    pub batches: u64,
    /// Gaps filled with ChainGetPath, and those that could not be.
    pub gaps_filled: u64,
    pub gaps_unfilled: u64,
    pub finality_records: u64,
    /// Where finality came from: `F3GetLatestCertificate`, `ChainGetFinalizedTipSet` or
    /// `head-900`.
    pub finality_source: Option<String>,
}

#[derive(Debug, Error)]
pub enum AttachError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("{url} runs {version} with API version {api}: lsync attach needs Lotus's v1 API (2.x, Lotus v1.0 or newer)")]
    Unsupported { url: String, version: String, api: String },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("reading the journal to resume: {0}")]
    Resume(std::io::Error),
    #[error("log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Protocol(String),
}

/// Why the subscription ended, for the gap record.
enum Ended {
    ChannelClosed,
    Disconnected(String),
    Stop,
}

struct Attach {
    cfg: AttachConfig,
    journal: JournalWriter,
    head: Option<TipSet>,
    /// Blocks already recorded (recent ones), so a header announced twice is recorded once.
    seen: HashSet<Cid>,
    seen_order: VecDeque<Cid>,
    last_finality: Option<(Option<u64>, i64)>,
    log: Option<crate::golog::GoLogWriter<std::io::BufWriter<std::fs::File>>>,
    /// Workers whose start and whose end were written, by id (the recent ones).
    workers: std::collections::BTreeMap<u64, (bool, bool)>,
    stats: AttachStats,
}

/// Attach to the node until `shutdown` completes or `run_for` passes. The first connection's
/// failures (unreachable, token rejected, not a WebSocket, unsupported version) are errors;
/// later ones are reconnected with backoff.
pub async fn run_attach(
    cfg: AttachConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<AttachStats, AttachError> {
    let saved = if cfg.resume { last_journal_head(&cfg.journal.dir).map_err(AttachError::Resume)? } else { None };
    let client = RpcClient::connect(&cfg.endpoint, cfg.call_timeout).await?;
    let version = client.call("Version", json!([]), cfg.call_timeout).await?;
    let api = version.get("APIVersion").and_then(Value::as_u64).unwrap_or(0);
    let node_version = version.get("Version").and_then(Value::as_str).unwrap_or("?").to_string();
    if (api >> 16) != V1_MAJOR {
        return Err(AttachError::Unsupported {
            url: cfg.endpoint.url.clone(),
            version: node_version,
            api: format!("{}.{}.{}", api >> 16, (api >> 8) & 0xff, api & 0xff),
        });
    }
    let network = client
        .call("StateNetworkName", json!([]), cfg.call_timeout)
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let journal = JournalWriter::open(cfg.journal.clone(), now_nanos())?;
    let log = match &cfg.log_path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| AttachError::Log { path: path.clone(), source })?;
            Some(crate::golog::GoLogWriter::new(std::io::BufWriter::new(file), cfg.golog))
        }
        None => None,
    };
    let mut run = Attach {
        cfg,
        journal,
        head: None,
        seen: HashSet::new(),
        seen_order: VecDeque::new(),
        last_finality: None,
        log,
        workers: Default::default(),
        stats: AttachStats::default(),
    };
    run.stats.status.node_version = node_version;
    run.stats.status.network = network;
    // A restart continues from the last journaled head: fetched, so its gap can be filled.
    if let Some(saved) = saved.filter(|s| s.height > 0) {
        if let Ok(v) = client.call("ChainGetTipSet", json!([key_to_json(&saved.key)]), run.cfg.call_timeout).await {
            run.head = tipset_from_json(&v).ok();
        }
    }
    let deadline = run.cfg.run_for.map(|d| tokio::time::Instant::now() + d);
    tokio::pin!(shutdown);
    let mut client = Some(client);
    let mut reason = if run.head.is_some() { "attach restarted".to_string() } else { String::new() };
    let mut backoff = run.cfg.reconnect_backoff.0;
    loop {
        let c = match client.take() {
            Some(c) => c,
            None => {
                run.set_connected(false);
                let wait = tokio::time::sleep(backoff);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = sleep_until(deadline) => break,
                    () = wait => {}
                }
                backoff = (backoff.mul_f64(1.5)).min(run.cfg.reconnect_backoff.1);
                match RpcClient::connect(&run.cfg.endpoint, run.cfg.call_timeout).await {
                    Ok(c) => {
                        run.stats.status.reconnects += 1;
                        c
                    }
                    Err(_) => continue,
                }
            }
        };
        run.set_connected(true);
        let ended = run.subscribed(&c, &reason, &mut shutdown, deadline).await?;
        match ended {
            Ended::Stop => break,
            Ended::ChannelClosed => {
                reason = "the node closed the ChainNotify channel (Lotus does so to a subscriber 16 batches behind)".into();
                client = Some(c);
            }
            Ended::Disconnected(why) => {
                reason = format!("the connection closed ({why})");
                backoff = run.cfg.reconnect_backoff.0;
            }
        }
    }
    run.journal.sync_now(now_nanos())?;
    if let Some(log) = &mut run.log {
        log.flush().map_err(|source| AttachError::Log { path: run.cfg.log_path.clone().unwrap_or_default(), source })?;
    }
    run.set_connected(false);
    Ok(run.stats)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => futures::future::pending().await,
    }
}

impl Attach {
    fn set_connected(&mut self, connected: bool) {
        self.stats.status.connected = connected;
        self.publish();
    }

    fn publish(&self) {
        if let Some(tx) = &self.cfg.status {
            tx.send_replace(self.stats.status.clone());
        }
    }

    async fn tipset(&self, c: &RpcClient, key: &TipSetKey) -> Result<TipSet, RpcError> {
        let v = c.call("ChainGetTipSet", json!([key_to_json(key)]), self.cfg.call_timeout).await?;
        tipset_from_json(&v).map_err(|e| RpcError::Decode { method: "Filecoin.ChainGetTipSet".into(), problem: e.to_string() })
    }

    /// One subscription's life: subscribe, reconcile the `current` head with the journal,
    /// then batches, arrivals and finality until it ends.
    async fn subscribed(
        &mut self,
        c: &RpcClient,
        reason: &str,
        shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Ended, AttachError> {
        let mut notify = match c.subscribe("ChainNotify", json!([]), self.cfg.call_timeout).await {
            Ok(s) => s,
            Err(RpcError::Disconnected { reason, .. }) | Err(RpcError::Timeout { what: reason, .. }) => return Ok(Ended::Disconnected(reason)),
            Err(e) => return Err(e.into()),
        };
        // The first value is `[current head]`.
        let first = match tokio::time::timeout(self.cfg.call_timeout, notify.values.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(Ended::ChannelClosed),
            Err(_) => return Ok(Ended::Disconnected("no current head from ChainNotify".into())),
        };
        let current = parse_batch(&first)?
            .into_iter()
            .find(|(t, _)| *t == HeadChangeType::Current)
            .map(|(_, ts)| ts)
            .ok_or_else(|| AttachError::Protocol("ChainNotify's first value is not the current head".into()))?;
        match self.head.clone() {
            None => {
                // A fresh run starts at the node's head, said once (Lotus journals nothing for it).
                self.journal.write_anchor(
                    now_nanos(),
                    &AnchorData {
                        tipset: current.key().clone(),
                        height: current.height(),
                        reason: "the node's head when attach subscribed to ChainNotify".into(),
                        peer_head: None,
                    },
                )?;
                self.set_head(current);
            }
            Some(last) if last.key() != current.key() => self.fill_gap(c, last, current, reason).await?,
            Some(_) => {}
        }
        let mut incoming: Option<Subscription> = c.subscribe("SyncIncomingBlocks", json!([]), self.cfg.call_timeout).await.ok();
        let mut finality_tick = tokio::time::interval(self.cfg.finality_poll);
        finality_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync_tick = tokio::time::interval(self.cfg.sync_state_poll);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(Ended::Stop),
                () = sleep_until(deadline) => return Ok(Ended::Stop),
                batch = notify.values.recv() => match batch {
                    Some(v) => self.on_batch(c, &v).await?,
                    None => {
                        return Ok(match c.closed_reason() {
                            Some(why) => Ended::Disconnected(why),
                            None => Ended::ChannelClosed,
                        });
                    }
                },
                header = async { match incoming.as_mut() { Some(s) => s.values.recv().await, None => futures::future::pending().await } } => match header {
                    Some(v) => self.on_incoming(&v)?,
                    None => incoming = None,
                },
                _ = finality_tick.tick() => self.poll_finality(c).await?,
                _ = sync_tick.tick(), if self.log.is_some() => self.poll_sync_state(c).await?,
                why = c.wait_closed() => return Ok(Ended::Disconnected(why)),
            }
        }
    }

    fn set_head(&mut self, head: TipSet) {
        self.stats.status.head_height = head.height();
        self.stats.status.head = head.cids().to_vec();
        self.stats.status.head_timestamp = head.min_timestamp();
        self.head = Some(head);
        self.publish();
    }

    /// The head moved while nobody listened: record the gap, then journal the path
    /// `ChainGetPath` gives as one head change.
    async fn fill_gap(&mut self, c: &RpcClient, last: TipSet, current: TipSet, reason: &str) -> Result<(), AttachError> {
        self.stats.status.gaps += 1;
        let path = c.call("ChainGetPath", json!([key_to_json(last.key()), key_to_json(current.key())]), self.cfg.call_timeout).await;
        let parsed = match path {
            Ok(v) => parse_batch(&v).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let gap = |filled: bool, error: Option<String>| NotifyGapData {
            from: last.key().clone(),
            from_height: last.height(),
            to: current.key().clone(),
            to_height: current.height(),
            reason: reason.to_string(),
            filled,
            error,
        };
        match parsed {
            Ok(changes) => {
                self.journal.write_record(now_nanos(), crate::journal::SYSTEM_LSYNC, crate::journal::EVENT_NOTIFY_GAP, &gap(true, None))?;
                self.stats.gaps_filled += 1;
                self.apply_changes(c, last, changes).await?;
            }
            Err(e) => {
                // The last head left the node's store (or the node is another chain): the gap
                // is recorded and journaling goes on from the node's head.
                self.journal.write_record(now_nanos(), crate::journal::SYSTEM_LSYNC, crate::journal::EVENT_NOTIFY_GAP, &gap(false, Some(e)))?;
                self.stats.gaps_unfilled += 1;
                self.set_head(current);
            }
        }
        Ok(())
    }

    async fn on_batch(&mut self, c: &RpcClient, value: &Value) -> Result<(), AttachError> {
        let changes = parse_batch(value)?;
        self.stats.batches += 1;
        let Some(head) = self.head.clone() else { return Ok(()) };
        if changes.iter().any(|(t, _)| *t == HeadChangeType::Current) {
            return Ok(());
        }
        // A batch continues from our head: its first revert is our head, or its first apply's
        // parents are. Anything else means batches were missed: fill from the node.
        let continues = match changes.first() {
            Some((HeadChangeType::Revert, ts)) => ts.key() == head.key(),
            Some((HeadChangeType::Apply, ts)) => ts.parents() == head.key(),
            _ => true,
        };
        if !continues {
            let target = match changes.iter().rev().find(|(t, _)| *t == HeadChangeType::Apply) {
                Some((_, ts)) => ts.clone(),
                None => return Ok(()),
            };
            return self.fill_gap(c, head, target, "a ChainNotify batch did not continue from the journaled head").await;
        }
        self.apply_changes(c, head, changes).await
    }

    /// Journal one batch (or one ChainGetPath result) as Lotus's reorg worker would: one
    /// `sync:head_change` with its counts, and the path beside it.
    async fn apply_changes(&mut self, c: &RpcClient, from: TipSet, changes: Vec<(HeadChangeType, TipSet)>) -> Result<(), AttachError> {
        let revert: Vec<TipSet> = changes.iter().filter(|(t, _)| *t == HeadChangeType::Revert).map(|(_, ts)| ts.clone()).collect();
        let apply_oldest_first: Vec<TipSet> = changes.iter().filter(|(t, _)| *t == HeadChangeType::Apply).map(|(_, ts)| ts.clone()).collect();
        if revert.is_empty() && apply_oldest_first.is_empty() {
            return Ok(());
        }
        // The fork point: the parents of the oldest applied tipset, or of the oldest reverted.
        let fork_key = match (apply_oldest_first.first(), revert.last()) {
            (Some(a), _) => a.parents().clone(),
            (None, Some(r)) => r.parents().clone(),
            (None, None) => unreachable!("checked above"),
        };
        let fork = if fork_key == *from.key() { Some(from.clone()) } else { self.tipset(c, &fork_key).await.ok() };
        let to = match apply_oldest_first.last() {
            Some(t) => t.clone(),
            None => match &fork {
                Some(f) => f.clone(),
                None => return Err(AttachError::Protocol(format!("the node did not serve the fork point {fork_key}"))),
            },
        };
        let path = HeadPath {
            from,
            to: to.clone(),
            revert,
            apply: apply_oldest_first.into_iter().rev().collect(),
            fork_point: fork_key,
            fork_point_height: fork.map_or(-1, |f| f.height()),
        };
        let now = now_nanos();
        self.journal.write_head_change(now, &path)?;
        self.journal.write_reorg_path(now, &path)?;
        let change = path.change();
        self.stats.status.head_changes.add(change.class());
        if let Some(o) = &self.cfg.observer {
            o.head_change(&change);
        }
        self.set_head(to);
        Ok(())
    }

    /// A header the node received: its first-seen record (once per block).
    fn on_incoming(&mut self, value: &Value) -> Result<(), AttachError> {
        let now = now_nanos();
        let Ok(header) = header_from_json(value) else { return Ok(()) };
        let Ok(cid) = header.cid() else { return Ok(()) };
        if !self.seen.insert(cid) {
            return Ok(());
        }
        self.seen_order.push_back(cid);
        while self.seen_order.len() > 10_000 {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let timestamp_ns = i64::try_from(header.timestamp).unwrap_or(0).saturating_mul(1_000_000_000);
        let record = FirstSeenRecord {
            cid,
            height: header.height,
            miner: header.miner,
            first_seen_ms: now.div_euclid(1_000_000),
            first_seen_ns: now,
            peer: "node".into(),
            duplicates: 0,
            delay_ms: (now - timestamp_ns).div_euclid(1_000_000),
            delay_ns: now - timestamp_ns,
            msg_fetch: None,
            equivocates: None,
        };
        self.journal.write_block_seen(now, &record)?;
        self.stats.status.blocks_seen += 1;
        if let Some(o) = &self.cfg.observer {
            o.block_seen(&header.miner.to_string(), record.delay_ms);
        }
        self.publish();
        Ok(())
    }

    /// The node's sync workers as its log lines: each worker's start and end once.
    async fn poll_sync_state(&mut self, c: &RpcClient) -> Result<(), AttachError> {
        let Ok(state) = c.call("SyncState", json!([]), self.cfg.call_timeout).await else { return Ok(()) };
        let Some(syncs) = state.get("ActiveSyncs").and_then(Value::as_array) else { return Ok(()) };
        // Go's zero time (`0001-01-01T00:00:00Z`) means "not yet".
        let time_ms = |v: &Value| -> Option<i64> {
            let t = lsync_core::Timestamp::parse(v.as_str()?).ok()?;
            (t.unix_nanos > 0).then_some(t.unix_nanos.div_euclid(1_000_000))
        };
        let mut events = Vec::new();
        for w in syncs {
            let Some(id) = w.get("WorkerID").and_then(Value::as_u64) else { continue };
            let Some(target) = w.get("Target").filter(|t| !t.is_null()).and_then(|t| tipset_from_json(t).ok()) else { continue };
            let (Some(start), end) = (w.get("Start").and_then(time_ms), w.get("End").and_then(time_ms)) else { continue };
            let stage = w.get("Stage").and_then(Value::as_u64).unwrap_or(0);
            let written = self.workers.entry(id).or_insert((false, false));
            if !written.0 {
                written.0 = true;
                events.push(crate::follower::LogEvent { at_ms: start, kind: crate::follower::LogKind::WorkerStart { worker: id, target: target.key().clone() } });
                self.stats.status.workers += 1;
            }
            // Stage 4 = complete, 5 = error (lotus chain/syncstate.go).
            if let (Some(end), false, 4 | 5) = (end, written.1, stage) {
                written.1 = true;
                let took = Duration::from_millis(u64::try_from(end - start).unwrap_or(0));
                events.push(crate::follower::LogEvent { at_ms: end, kind: crate::follower::LogKind::WorkerDone { worker: id, took } });
                if stage == 5 {
                    let error = w.get("Message").and_then(Value::as_str).unwrap_or("").to_string();
                    events.push(crate::follower::LogEvent { at_ms: end, kind: crate::follower::LogKind::SyncError { target: target.key().clone(), error } });
                }
            }
        }
        while self.workers.len() > 64 {
            self.workers.pop_first();
        }
        if let Some(log) = &mut self.log {
            for e in &events {
                log.write_event(e).map_err(|source| AttachError::Log { path: self.cfg.log_path.clone().unwrap_or_default(), source })?;
            }
            if !events.is_empty() {
                log.flush().map_err(|source| AttachError::Log { path: self.cfg.log_path.clone().unwrap_or_default(), source })?;
                self.publish();
            }
        }
        Ok(())
    }

    /// Poll the node's finality and record it when it moves: F3's latest certificate, else
    /// `ChainGetFinalizedTipSet`, else the tipset at head − 900 (lotus-rpc §5).
    async fn poll_finality(&mut self, c: &RpcClient) -> Result<(), AttachError> {
        let t = self.cfg.call_timeout;
        let (instance, base, epoch, key, source) = match c.call("F3GetLatestCertificate", json!([]), t).await {
            Ok(Value::Null) => return Ok(()), // F3 runs, no certificate yet
            Ok(v) => match FinalityCertificate::from_json(&v) {
                Ok(cert) => match cert.finalized() {
                    Some(e) => (Some(cert.instance), cert.ec_chain.first().map(|b| b.epoch), e.epoch, e.key.clone(), "F3GetLatestCertificate"),
                    None => return Ok(()),
                },
                Err(e) => return Err(AttachError::Protocol(format!("F3GetLatestCertificate: {e}"))),
            },
            Err(RpcError::Disconnected { .. }) => return Ok(()),
            Err(_) => match c.call("ChainGetFinalizedTipSet", json!([]), t).await.map(|v| tipset_from_json(&v)) {
                Ok(Ok(ts)) => (None, None, ts.height(), ts.key().clone(), "ChainGetFinalizedTipSet"),
                _ => {
                    let head = self.stats.status.head_height;
                    match c.call("ChainGetTipSetByHeight", json!([(head - 900).max(0), Value::Null]), t).await.map(|v| tipset_from_json(&v)) {
                        Ok(Ok(ts)) => (None, None, ts.height(), ts.key().clone(), "head-900"),
                        _ => return Ok(()),
                    }
                }
            },
        };
        if self.last_finality == Some((instance, epoch)) {
            return Ok(());
        }
        let now = now_nanos();
        self.last_finality = Some((instance, epoch));
        self.journal.write_record(
            now,
            crate::journal::SYSTEM_LSYNC,
            crate::journal::EVENT_FINALITY,
            &FinalityData {
                instance,
                epoch,
                tipset: key,
                base_epoch: base,
                first_seen: rfc3339_nano(now, self.cfg.journal.zone_offset_secs),
                source: source.into(),
            },
        )?;
        self.stats.finality_records += 1;
        self.stats.finality_source = Some(source.into());
        self.stats.status.finalized_epoch = Some(epoch);
        self.stats.status.finality_instance = instance;
        self.publish();
        Ok(())
    }
}

/// A ChainNotify value or a ChainGetPath result: `[{"Type","Val"}…]`.
fn parse_batch(v: &Value) -> Result<Vec<(HeadChangeType, TipSet)>, AttachError> {
    let items = v.as_array().ok_or_else(|| AttachError::Protocol(format!("a list of head changes was expected, got {}", short(v))))?;
    items
        .iter()
        .map(|i| head_change_from_json(i).map_err(|e| AttachError::Protocol(format!("a head change: {e}"))))
        .collect()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..s.char_indices().take_while(|(i, _)| *i < 80).last().map_or(0, |(i, c)| i + c.len_utf8())])
    } else {
        s
    }
}

/// The network letter lsync prints addresses with for a network name.
pub fn network_of(name: &str) -> Network {
    if name == "testnetnet" {
        Network::Mainnet
    } else {
        Network::Testnet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse_and_garbage_is_a_protocol_error() {
        assert!(parse_batch(&json!([])).unwrap().is_empty());
        assert!(matches!(parse_batch(&json!({"not": "a list"})), Err(AttachError::Protocol(_))));
        assert!(matches!(parse_batch(&json!([{"Type": "apply", "Val": {"Cids": [], "Blocks": []}}])), Err(AttachError::Protocol(_))));
    }
}
