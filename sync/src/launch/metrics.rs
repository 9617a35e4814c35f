//! `lsync follow --metrics ADDR`: the follower's status as Prometheus metrics (OpenMetrics text
//! from the `prometheus-client` crate), served over plain HTTP on `GET /metrics`.
//!
//! The values come from the same status snapshots the terminal status line shows
//! ([`FollowStatus`]); totals in a snapshot become counters by adding what grew since the last.

use crate::p2p::driver::{FollowObserver, FollowStatus};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Labels = Vec<(String, String)>;

/// The metrics of one follower.
pub struct Metrics {
    registry: Registry,
    head_height: Gauge,
    head_lag_seconds: Gauge<f64, AtomicU64>,
    peers: Gauge,
    resuming: Gauge,
    head_changes: Family<Labels, Counter>,
    gossip_blocks: Family<Labels, Counter>,
    gossip_dropped: Family<Labels, Counter>,
    messages_fetched: Counter,
    message_fetch_failures: Counter,
    full_fetch_fallbacks: Counter,
    anchoring: Gauge,
    dial_failures: Family<Labels, Counter>,
    bootstrap_connected: Family<Labels, Gauge>,
    genesis_mismatches: Counter,
    reorg_depth: Histogram,
    block_delay: Family<Labels, Histogram, fn() -> Histogram>,
    /// Miners with a label of their own (the first [`MINER_LABELS`] seen); the rest are `other`.
    miners: std::collections::HashSet<String>,
    last: FollowStatus,
    /// `attach` only: the RPC side and finality.
    rpc_connected: Gauge,
    reconnects: Counter,
    notify_gaps: Counter,
    blocks_seen: Counter,
    finalized_epoch: Gauge,
    finality_lag_epochs: Gauge,
    last_attach: crate::rpc::AttachStatus,
}

/// Miners with their own `miner` label at most: a label per miner of mainnet's thousands would
/// be thousands of series.
pub const MINER_LABELS: usize = 50;

fn delay_histogram() -> Histogram {
    // Seconds: the block time is 30 s, Lotus warns past 5 s, and a block is useless past ~25 s.
    Histogram::new([0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("lsync_follow");
        let m = Metrics {
            head_height: Gauge::default(),
            head_lag_seconds: Gauge::default(),
            peers: Gauge::default(),
            resuming: Gauge::default(),
            head_changes: Family::default(),
            gossip_blocks: Family::default(),
            gossip_dropped: Family::default(),
            messages_fetched: Counter::default(),
            message_fetch_failures: Counter::default(),
            full_fetch_fallbacks: Counter::default(),
            anchoring: Gauge::default(),
            dial_failures: Family::default(),
            bootstrap_connected: Family::default(),
            genesis_mismatches: Counter::default(),
            reorg_depth: Histogram::new([1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0, 900.0]),
            block_delay: Family::new_with_constructor(delay_histogram as fn() -> Histogram),
            miners: Default::default(),
            last: FollowStatus::default(),
            registry: Registry::default(),
            rpc_connected: Gauge::default(),
            reconnects: Counter::default(),
            notify_gaps: Counter::default(),
            blocks_seen: Counter::default(),
            finalized_epoch: Gauge::default(),
            finality_lag_epochs: Gauge::default(),
            last_attach: Default::default(),
        };
        registry.register("head_height", "Height of the heaviest tipset the follower holds", m.head_height.clone());
        registry.register("head_lag_seconds", "Wall clock minus the start of the head's epoch", m.head_lag_seconds.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register("resuming", "1 while waiting for a peer to serve the head saved in the journal", m.resuming.clone());
        registry.register("head_changes", "Head changes journaled, by class (extend, widen, sibling, reorg)", m.head_changes.clone());
        registry.register("gossip_blocks", "Gossiped blocks by verdict (accepted, ignored, rejected)", m.gossip_blocks.clone());
        registry.register("gossip_dropped", "Gossiped blocks dropped, by reason (oversize, undecodable, limits, msg_meta, consensus_range, from_the_future, …)", m.gossip_dropped.clone());
        registry.register("messages_fetched", "Gossiped blocks whose messages were fetched over chain exchange and checked", m.messages_fetched.clone());
        registry.register("message_fetch_failures", "Gossiped blocks whose messages could not be fetched", m.message_fetch_failures.clone());
        registry.register("full_fetch_fallbacks", "Hello heads whose peer could not give their messages, fetched again as headers only", m.full_fetch_fallbacks.clone());
        registry.register("anchoring", "1 while choosing where the chain starts (peers' heads, the walk back)", m.anchoring.clone());
        registry.register("bootstrap_dial_failures", "Failed dials of each bootstrap address", m.dial_failures.clone());
        registry.register("bootstrap_connected", "1 while connected to the bootstrap address", m.bootstrap_connected.clone());
        registry.register("genesis_mismatches", "Peers dropped because their hello named another genesis", m.genesis_mismatches.clone());
        registry.register("reorg_depth", "Tipsets reverted by each head change that reverted any (widenings and siblings: 1)", m.reorg_depth.clone());
        registry.register("block_delay_seconds", "First sighting minus the block's timestamp, by miner (the first 50 miners seen; the rest: other)", m.block_delay.clone());
        Metrics { registry, ..m }
    }

    /// The metrics of `lsync attach` (prefix `lsync_attach`): the head and its changes as for
    /// `follow`, and the node connection, the gaps filled, the node's finality.
    pub fn attach() -> Metrics {
        let mut registry = Registry::with_prefix("lsync_attach");
        let m = Metrics::new();
        registry.register("head_height", "Height of the node's head", m.head_height.clone());
        registry.register("head_lag_seconds", "Wall clock minus the head's timestamp", m.head_lag_seconds.clone());
        registry.register("head_changes", "Head changes journaled, by class (extend, widen, sibling, reorg)", m.head_changes.clone());
        registry.register("reorg_depth", "Tipsets reverted by each head change that reverted any", m.reorg_depth.clone());
        registry.register("block_delay_seconds", "The node's arrival minus the block's timestamp, by miner (the first 50 miners seen; the rest: other)", m.block_delay.clone());
        registry.register("rpc_connected", "1 while connected to the node's API", m.rpc_connected.clone());
        registry.register("rpc_reconnects", "Reconnections to the node's API", m.reconnects.clone());
        registry.register("notify_gaps", "Head changes missed while not subscribed, filled from ChainGetPath (or not)", m.notify_gaps.clone());
        registry.register("blocks_seen", "Blocks the node received (SyncIncomingBlocks)", m.blocks_seen.clone());
        registry.register("finalized_epoch", "The node's latest finalized epoch (F3, else ChainGetFinalizedTipSet)", m.finalized_epoch.clone());
        registry.register("finality_lag_epochs", "Head height minus the finalized epoch", m.finality_lag_epochs.clone());
        Metrics { registry, ..m }
    }

    /// Takes a new `attach` status snapshot.
    pub fn update_attach(&mut self, s: &crate::rpc::AttachStatus) {
        let grew = |new: u64, old: u64| new.saturating_sub(old);
        self.head_height.set(s.head_height);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        if s.head_timestamp > 0 {
            self.head_lag_seconds.set(now - s.head_timestamp as f64);
        }
        let (new, old) = (&s.head_changes, &self.last_attach.head_changes);
        for (class, n, o) in [("extend", new.extend, old.extend), ("widen", new.widen, old.widen), ("sibling", new.sibling, old.sibling), ("reorg", new.reorg, old.reorg)] {
            self.head_changes.get_or_create(&vec![("class".into(), class.into())]).inc_by(grew(n, o));
        }
        self.rpc_connected.set(i64::from(s.connected));
        self.reconnects.inc_by(grew(s.reconnects, self.last_attach.reconnects));
        self.notify_gaps.inc_by(grew(s.gaps, self.last_attach.gaps));
        self.blocks_seen.inc_by(grew(s.blocks_seen, self.last_attach.blocks_seen));
        if let Some(f) = s.finalized_epoch {
            self.finalized_epoch.set(f);
            self.finality_lag_epochs.set(s.head_height - f);
        }
        self.last_attach = s.clone();
    }

    /// Takes a new status snapshot.
    pub fn update(&mut self, s: &FollowStatus) {
        let grew = |new: u64, old: u64| new.saturating_sub(old);
        self.head_height.set(s.head_height);
        self.head_lag_seconds.set(s.lag_ms as f64 / 1000.0);
        self.peers.set(s.peers as i64);
        self.resuming.set(i64::from(s.resuming));
        let (new, old) = (&s.head_changes, &self.last.head_changes);
        for (class, n, o) in [("extend", new.extend, old.extend), ("widen", new.widen, old.widen), ("sibling", new.sibling, old.sibling), ("reorg", new.reorg, old.reorg)] {
            self.head_changes.get_or_create(&vec![("class".into(), class.into())]).inc_by(grew(n, o));
        }
        for (verdict, n, o) in [
            ("accepted", s.gossip_accepted, self.last.gossip_accepted),
            ("ignored", s.gossip_ignored, self.last.gossip_ignored),
            ("rejected", s.gossip_rejected, self.last.gossip_rejected),
        ] {
            self.gossip_blocks.get_or_create(&vec![("verdict".into(), verdict.into())]).inc_by(grew(n, o));
        }
        for b in &s.bootstrap {
            let labels = vec![("addr".to_string(), b.addr.clone())];
            let before = self.last.bootstrap.iter().find(|x| x.addr == b.addr).map_or(0, |x| x.failures);
            self.dial_failures.get_or_create(&labels).inc_by(grew(b.failures, before));
            self.bootstrap_connected.get_or_create(&labels).set(i64::from(b.connected));
        }
        self.genesis_mismatches.inc_by(grew(s.genesis_mismatches, self.last.genesis_mismatches));
        for (reason, n) in &s.dropped_by_reason {
            let before = self.last.dropped_by_reason.get(reason).copied().unwrap_or(0);
            self.gossip_dropped.get_or_create(&vec![("reason".into(), reason.to_string())]).inc_by(grew(*n, before));
        }
        self.messages_fetched.inc_by(grew(s.messages_fetched, self.last.messages_fetched));
        self.message_fetch_failures.inc_by(grew(s.message_fetch_failures, self.last.message_fetch_failures));
        self.full_fetch_fallbacks.inc_by(grew(s.full_fetch_fallbacks, self.last.full_fetch_fallbacks));
        self.anchoring.set(i64::from(s.anchoring));
        self.last = s.clone();
    }

    fn observe_head_change(&mut self, change: &lsync_core::HeadChange) {
        if change.revert_count > 0 {
            self.reorg_depth.observe(change.revert_count as f64);
        }
    }

    fn observe_block(&mut self, miner: &str, delay_ms: i64) {
        if !self.miners.contains(miner) && self.miners.len() < MINER_LABELS {
            self.miners.insert(miner.to_string());
        }
        let label = if self.miners.contains(miner) { miner } else { "other" };
        self.block_delay.get_or_create(&vec![("miner".into(), label.into())]).observe(delay_ms as f64 / 1000.0);
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The follower's hook: a shared [`Metrics`] observes every head change and first sighting.
pub struct SharedMetrics(pub Arc<Mutex<Metrics>>);

impl std::fmt::Debug for SharedMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedMetrics")
    }
}

impl FollowObserver for SharedMetrics {
    fn head_change(&self, change: &lsync_core::HeadChange) {
        if let Ok(mut m) = self.0.lock() {
            m.observe_head_change(change);
        }
    }

    fn block_seen(&self, miner: &str, delay_ms: i64) {
        if let Ok(mut m) = self.0.lock() {
            m.observe_block(miner, delay_ms);
        }
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` until the runtime stops; anything else gets a 404, a request that
/// does not finish its head within 5 s or 8 KiB is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Mutex<Metrics>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let head = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Some(())
            })
            .await;
            if !matches!(head, Ok(Some(()))) {
                return;
            }
            let line = buf.split(|b| *b == b'\n').next().unwrap_or(&[]);
            let mut parts = line.split(|b| *b == b' ');
            let (method, path) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
            let response = if method == b"GET" && (path == b"/metrics" || path.starts_with(b"/metrics?")) {
                let body = metrics.lock().map(|m| m.encode()).unwrap_or_default();
                format!("HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            } else {
                let body = "lsync follow serves its metrics at /metrics\n";
                format!("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::driver::BootstrapStatus;

    fn value(text: &str, series: &str) -> f64 {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    #[test]
    fn snapshots_become_counters_and_gauges() {
        let mut m = Metrics::new();
        let mut s = FollowStatus { peers: 3, head_height: 120, lag_ms: 2500, gossip_accepted: 10, gossip_rejected: 2, ..Default::default() };
        s.head_changes.extend = 7;
        s.head_changes.widen = 1;
        s.bootstrap = vec![BootstrapStatus { addr: "/ip4/127.0.0.1/tcp/1".into(), connected: false, failures: 2, last_failure: Some("refused".into()) }];
        m.update(&s);
        s.head_changes.extend = 9;
        s.gossip_accepted = 15;
        s.head_height = 122;
        s.bootstrap[0].failures = 3;
        s.dropped_by_reason.insert("msg_meta", 2);
        s.dropped_by_reason.insert("oversize", 1);
        s.messages_fetched = 14;
        m.update(&s);
        // The same snapshot again adds nothing.
        m.update(&s);
        let t = m.encode();
        assert_eq!(value(&t, "lsync_follow_head_height "), 122.0);
        assert_eq!(value(&t, "lsync_follow_head_lag_seconds "), 2.5);
        assert_eq!(value(&t, "lsync_follow_peers "), 3.0);
        assert_eq!(value(&t, "lsync_follow_head_changes_total{class=\"extend\"}"), 9.0);
        assert_eq!(value(&t, "lsync_follow_head_changes_total{class=\"widen\"}"), 1.0);
        assert_eq!(value(&t, "lsync_follow_head_changes_total{class=\"reorg\"}"), 0.0);
        assert_eq!(value(&t, "lsync_follow_gossip_blocks_total{verdict=\"accepted\"}"), 15.0);
        assert_eq!(value(&t, "lsync_follow_gossip_blocks_total{verdict=\"rejected\"}"), 2.0);
        assert_eq!(value(&t, "lsync_follow_bootstrap_dial_failures_total{addr=\"/ip4/127.0.0.1/tcp/1\"}"), 3.0);
        assert!(t.contains("# TYPE lsync_follow_head_changes counter") && t.ends_with("# EOF\n"), "{t}");
        assert_eq!(value(&t, "lsync_follow_gossip_dropped_total{reason=\"msg_meta\"}"), 2.0);
        assert_eq!(value(&t, "lsync_follow_gossip_dropped_total{reason=\"oversize\"}"), 1.0);
        assert_eq!(value(&t, "lsync_follow_messages_fetched_total "), 14.0);
    }

    #[test]
    fn attach_snapshots_become_its_own_metrics() {
        let mut m = Metrics::attach();
        let mut s = crate::rpc::AttachStatus { connected: true, head_height: 100, reconnects: 1, gaps: 2, blocks_seen: 5, finalized_epoch: Some(95), ..Default::default() };
        s.head_changes.reorg = 1;
        m.update_attach(&s);
        s.gaps = 3;
        m.update_attach(&s);
        m.update_attach(&s);
        let t = m.encode();
        assert_eq!(value(&t, "lsync_attach_rpc_connected "), 1.0);
        assert_eq!(value(&t, "lsync_attach_notify_gaps_total "), 3.0);
        assert_eq!(value(&t, "lsync_attach_rpc_reconnects_total "), 1.0);
        assert_eq!(value(&t, "lsync_attach_finality_lag_epochs "), 5.0);
        assert_eq!(value(&t, "lsync_attach_head_changes_total{class=\"reorg\"}"), 1.0);
        assert!(!t.contains("lsync_follow_"), "attach's metrics are its own: {t}");
    }

    #[test]
    fn histograms_of_reorg_depth_and_delay_with_bounded_miner_labels() {
        let m = Arc::new(Mutex::new(Metrics::new()));
        let obs = SharedMetrics(m.clone());
        let hc = |revert: i64| lsync_core::HeadChange { from: vec![], from_height: 10, to: vec![], to_height: 11, revert_count: revert, apply_count: revert + 1 };
        for r in [0, 0, 1, 3] {
            obs.head_change(&hc(r));
        }
        for i in 0..(MINER_LABELS + 10) {
            obs.block_seen(&format!("f0{i}"), 1500);
        }
        obs.block_seen("f00", 7000);
        let t = m.lock().unwrap().encode();
        assert_eq!(value(&t, "lsync_follow_reorg_depth_count "), 2.0, "extensions are not reorgs");
        assert_eq!(value(&t, "lsync_follow_reorg_depth_sum "), 4.0);
        assert_eq!(value(&t, "lsync_follow_block_delay_seconds_count{miner=\"f00\"}"), 2.0);
        assert_eq!(value(&t, "lsync_follow_block_delay_seconds_count{miner=\"other\"}"), 10.0);
        assert_eq!(t.matches("lsync_follow_block_delay_seconds_count{").count(), MINER_LABELS + 1);
        assert_eq!(value(&t, "lsync_follow_block_delay_seconds_bucket{le=\"5.0\",miner=\"f00\"}"), 1.0);
    }

    #[tokio::test]
    async fn serves_get_metrics_and_nothing_else() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let m = Arc::new(Mutex::new(Metrics::new()));
        m.lock().unwrap().update(&FollowStatus { head_height: 42, ..Default::default() });
        tokio::spawn(serve(listener, m));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.contains(CONTENT_TYPE), "{ok}");
        assert!(ok.contains("lsync_follow_head_height 42"), "{ok}");
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
    }
}
