//! The Lotus-format log writer: the follower's [`LogEvent`]s as go-log plain-text lines,
//! `ts<TAB>LEVEL<TAB>logger<TAB>caller<TAB>message[<TAB>{"k": v, …}]` (lotus-facts §3), with
//! Lotus's current wording, level, logger and caller (`file:line` of v1.36, lotus-facts §2.3).
//! A reader of Lotus logs — lsync's own parser, grep recipes, dashboards — cannot tell lsync's
//! lines from a node's.
//!
//! `new block over pubsub` is a DEBUG line in Lotus (since v1.1.3), so a node at the default
//! INFO level never writes it. lsync writes it whatever the level filter says — first sightings
//! are what lsync exists for — but keeps the level text `DEBUG` and Lotus's caller, so the line
//! stays exactly what a Lotus node at DEBUG would print and parsers classify it the same way.

#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::time::Duration;

use lsync_core::chain::{CidList, Network, TipSetKey};

use crate::follower::{LogEvent, LogKind, TargetSelection};
use crate::go_text::{golog_timestamp, GoDuration};

/// go-log levels, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Where Lotus v1.36 emits a message: level, logger name and short caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSite {
    pub level: Level,
    pub logger: &'static str,
    pub caller: &'static str,
}

const fn site(level: Level, logger: &'static str, caller: &'static str) -> CallSite {
    CallSite {
        level,
        logger,
        caller,
    }
}

/// Lotus's call site of each event (lotus-facts §2.2–§2.3, v1.36.0–HEAD line numbers).
pub fn call_site(kind: &LogKind) -> CallSite {
    use Level::*;
    match kind {
        LogKind::SelectedTarget { selection, .. } => match selection {
            TargetSelection::Initial => site(Info, "chain", "chain/sync_manager.go:222"),
            TargetSelection::PeerHead => site(Info, "chain", "chain/sync_manager.go:236"),
            TargetSelection::AfterWorker => site(Info, "chain", "chain/sync_manager.go:276"),
            TargetSelection::Deferred => site(Info, "chain", "chain/sync_manager.go:295"),
        },
        LogKind::WorkerStart { .. } => site(Info, "chain", "chain/sync_manager.go:318"),
        LogKind::WorkerDone { .. } => site(Info, "chain", "chain/sync_manager.go:326"),
        LogKind::SyncError { .. } => site(Error, "chain", "chain/sync_manager.go:257"),
        LogKind::NewHeaviest { .. } => site(Info, "chainstore", "store/store.go:685"),
        LogKind::BlockOverPubsub { .. } => site(Debug, "sub", "sub/incoming.go:101"),
        LogKind::SlowMsgFetch { .. } => site(Warn, "sub", "sub/incoming.go:103"),
        LogKind::BlockDelay { .. } => site(Warn, "sub", "sub/incoming.go:110"),
        LogKind::TieBroken { candidate_won, .. } => {
            if *candidate_won {
                site(Info, "chainstore", "store/store.go:1342")
            } else {
                site(Info, "chainstore", "store/store.go:1345")
            }
        }
        LogKind::OutsideConsensusRange { .. } => site(Info, "chain", "chain/sync.go:214"),
        LogKind::BadBlock { .. } => site(Warn, "chain", "chain/sync.go:220"),
    }
}

/// A structured field value as zap's console encoder writes it.
enum Field {
    Str(String),
    Int(i64),
    /// `time.Duration` under `SecondsDurationEncoder`: float seconds.
    Seconds(Duration),
}

fn write_fields(out: &mut String, fields: &[(&str, Field)]) {
    // zap's console encoder writes the object "spaced": `{"k": v, "k2": v2}`.
    out.push_str("\t{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&json_string(key));
        out.push_str(": ");
        match value {
            Field::Str(s) => out.push_str(&json_string(s)),
            Field::Int(n) => out.push_str(&n.to_string()),
            // Rust's shortest round-trip decimal equals Go's strconv 'f', -1 for these values.
            Field::Seconds(d) => out.push_str(&d.as_secs_f64().to_string()),
        }
    }
    out.push('}');
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// `[a b]`: how Lotus prints a `*TipSet` or a CID slice with `%s`.
fn tipset_list(key: &TipSetKey) -> String {
    CidList(key.cids()).to_string()
}

/// The message text and structured fields of an event.
fn message(kind: &LogKind, network: Network) -> (String, Vec<(&'static str, Field)>) {
    let none = Vec::new();
    match kind {
        LogKind::SelectedTarget { selection, target } => {
            let what = match selection {
                TargetSelection::Initial => "selected initial sync target",
                TargetSelection::PeerHead | TargetSelection::AfterWorker => "selected sync target",
                TargetSelection::Deferred => "selected deferred sync target",
            };
            (format!("{what}: {}", tipset_list(target)), none)
        }
        LogKind::WorkerStart { worker, target } => (
            format!("worker {worker} syncing in {}", tipset_list(target)),
            none,
        ),
        LogKind::WorkerDone { worker, took } => (
            format!("worker {worker} done; took {}", GoDuration::from_std(*took)),
            none,
        ),
        LogKind::SyncError { target, error } => (
            format!("error during sync in {}: {error}", tipset_list(target)),
            none,
        ),
        LogKind::NewHeaviest { tipset, height } => (
            format!(
                "New heaviest tipset! {} (height={height})",
                tipset_list(tipset)
            ),
            none,
        ),
        LogKind::BlockOverPubsub {
            block,
            peer,
            msg_fetch,
        }
        | LogKind::SlowMsgFetch {
            block,
            peer,
            msg_fetch,
        } => {
            let text = if matches!(kind, LogKind::SlowMsgFetch { .. }) {
                "Slow msg fetch"
            } else {
                "new block over pubsub"
            };
            (
                text.to_string(),
                vec![
                    ("cid", Field::Str(block.to_string())),
                    ("source", Field::Str(peer.clone())),
                    ("msgfetch", Field::Seconds(*msg_fetch)),
                ],
            )
        }
        LogKind::BlockDelay {
            block,
            delay_secs,
            miner,
        } => (
            "received block with large delay from miner".to_string(),
            vec![
                ("block", Field::Str(block.to_string())),
                ("delay", Field::Int(*delay_secs)),
                ("miner", Field::Str(miner.to_string_on(network))),
            ],
        ),
        LogKind::TieBroken { winner, loser, .. } => (
            format!("weight tie broken in favour of {winner} against {loser}"),
            none,
        ),
        LogKind::OutsideConsensusRange { height } => (
            format!("received block outside of consensus range at height {height}"),
            none,
        ),
        LogKind::BadBlock { block, reason } => (
            format!("InformNewHead called on block marked as bad: {block} (reason: {reason})"),
            none,
        ),
    }
}

/// One complete line (with its `\n`) for `event`, in the zone `zone_offset_secs`.
pub fn format_line(event: &LogEvent, zone_offset_secs: i32, network: Network) -> String {
    let site = call_site(&event.kind);
    let (text, fields) = message(&event.kind, network);
    let mut line = String::with_capacity(160 + text.len());
    line.push_str(&golog_timestamp(
        event.at_ms.saturating_mul(1_000_000),
        zone_offset_secs,
    ));
    for part in [site.level.as_str(), site.logger, site.caller, &text] {
        line.push('\t');
        line.push_str(part);
    }
    if !fields.is_empty() {
        write_fields(&mut line, &fields);
    }
    line.push('\n');
    line
}

/// Options of [`GoLogWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoLogConfig {
    /// Lines below this level are not written, except `new block over pubsub` (see the module
    /// documentation). Lotus's default is INFO.
    pub min_level: Level,
    /// The zone of line timestamps, in seconds east of UTC.
    pub zone_offset_secs: i32,
    /// Letter of miner addresses (`f` mainnet, `t` test networks).
    pub network: Network,
}

impl Default for GoLogConfig {
    fn default() -> Self {
        Self {
            min_level: Level::Info,
            zone_offset_secs: 0,
            network: Network::Mainnet,
        }
    }
}

/// Writes log events to any `Write` (a file, stderr), one `write_all` per line.
#[derive(Debug)]
pub struct GoLogWriter<W: Write> {
    out: W,
    config: GoLogConfig,
}

impl<W: Write> GoLogWriter<W> {
    pub fn new(out: W, config: GoLogConfig) -> Self {
        Self { out, config }
    }

    /// Whether `kind` passes the level filter.
    pub fn writes(&self, kind: &LogKind) -> bool {
        matches!(kind, LogKind::BlockOverPubsub { .. })
            || call_site(kind).level >= self.config.min_level
    }

    /// Write `event` if it passes the filter; returns whether it was written.
    pub fn write_event(&mut self, event: &LogEvent) -> io::Result<bool> {
        if !self.writes(&event.kind) {
            return Ok(false);
        }
        let line = format_line(event, self.config.zone_offset_secs, self.config.network);
        self.out.write_all(line.as_bytes())?;
        Ok(true)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
