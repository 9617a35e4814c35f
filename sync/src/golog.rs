//! The Lotus-format log writer: the follower's [`LogEvent`]s as go-log plain-text lines,
//! `ts<TAB>LEVEL<TAB>logger<TAB>caller<TAB>message[<TAB>{"k": v, …}]` (lotus-facts §3), with
//! Lotus's current wording, level, logger and caller (`file:line` of v1.36, lotus-facts §2.3),
//! all taken from the rows of the message table the parser reads (`lsync_core::messages`).
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

use lsync_core::messages::{
    self,
    forms::{Release, Wording},
};

use crate::follower::{LogEvent, LogKind, TargetSelection};
use crate::go_text::{golog_timestamp, GoDuration};

pub use lsync_core::messages::forms::{Level, Site};

/// The Lotus call each event imitates.
pub fn wording(kind: &LogKind) -> Wording {
    match kind {
        LogKind::SelectedTarget { selection, .. } => match selection {
            TargetSelection::Initial => Wording::SelectedInitialTarget,
            TargetSelection::PeerHead => Wording::SelectedTargetPeerHead,
            TargetSelection::AfterWorker => Wording::SelectedTargetAfterWorker,
            TargetSelection::Deferred => Wording::SelectedDeferredTarget,
        },
        LogKind::WorkerStart { .. } => Wording::WorkerStart,
        LogKind::WorkerDone { .. } => Wording::WorkerDone,
        LogKind::SyncError { .. } => Wording::ErrorDuringSync,
        LogKind::NewHeaviest { .. } => Wording::NewHeaviest,
        LogKind::BlockOverPubsub { .. } => Wording::BlockOverPubsub,
        LogKind::SlowMsgFetch { .. } => Wording::SlowMsgFetch,
        LogKind::MsgFetchFailed { .. } => Wording::BlsFetchFailed,
        LogKind::BlockDelay { .. } => Wording::BlockDelay,
        LogKind::TieBroken { candidate_won: true, .. } => Wording::TieBrokenForIncoming,
        LogKind::TieBroken { candidate_won: false, .. } => Wording::TieBrokenForCurrent,
        LogKind::OutsideConsensusRange { .. } => Wording::OutsideConsensusRange,
        LogKind::BadBlock { .. } => Wording::BadBlock,
    }
}

/// Where Lotus's newest release emits `kind`'s line: level, logger and caller, from the
/// message table's rows.
pub fn call_site(kind: &LogKind) -> &'static Site {
    messages::form(wording(kind)).site_near(Release::NEWEST)
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

/// The message text (the form's template filled in) and the structured fields of an event.
fn message(kind: &LogKind, network: Network) -> (String, Vec<(&'static str, Field)>) {
    let form = messages::form(wording(kind));
    let text = match kind {
        LogKind::SelectedTarget { target, .. } => form.message(&[("tipset", &tipset_list(target))]),
        LogKind::WorkerStart { worker, target } => {
            form.message(&[("worker", worker), ("tipset", &tipset_list(target))])
        }
        LogKind::WorkerDone { worker, took } => {
            form.message(&[("worker", worker), ("took", &GoDuration::from_std(*took))])
        }
        LogKind::SyncError { target, error } => {
            form.message(&[("tipset", &tipset_list(target)), ("error", error)])
        }
        LogKind::NewHeaviest { tipset, height } => {
            form.message(&[("tipset", &tipset_list(tipset)), ("height", height)])
        }
        LogKind::TieBroken { winner, loser, .. } => {
            form.message(&[("winner", winner), ("loser", loser)])
        }
        LogKind::OutsideConsensusRange { height } => form.message(&[("height", height)]),
        LogKind::BadBlock { block, reason } => {
            form.message(&[("block", block), ("reason", reason)])
        }
        LogKind::MsgFetchFailed { peer, error } => form.message(&[("error", error), ("peer", peer)]),
        LogKind::BlockOverPubsub { .. } | LogKind::SlowMsgFetch { .. } | LogKind::BlockDelay { .. } => {
            form.message(&[])
        }
    };
    // Structured values, in the form's field order.
    let value = |name: &str| -> Field {
        match (kind, name) {
            (LogKind::BlockOverPubsub { block, .. } | LogKind::SlowMsgFetch { block, .. }, "cid") => {
                Field::Str(block.to_string())
            }
            (LogKind::BlockOverPubsub { peer, .. } | LogKind::SlowMsgFetch { peer, .. }, "source") => {
                Field::Str(peer.clone())
            }
            (
                LogKind::BlockOverPubsub { msg_fetch, .. } | LogKind::SlowMsgFetch { msg_fetch, .. },
                "msgfetch",
            ) => Field::Seconds(*msg_fetch),
            (LogKind::BlockDelay { block, .. }, "block") => Field::Str(block.to_string()),
            (LogKind::BlockDelay { delay_secs, .. }, "delay") => Field::Int(*delay_secs),
            (LogKind::BlockDelay { miner, .. }, "miner") => Field::Str(miner.to_string_on(network)),
            // A form field this writer has no value for: a table/writer mismatch the byte-exact
            // tests catch.
            _ => Field::Str(String::new()),
        }
    };
    let fields = form.fields.iter().map(|name| (*name, value(name))).collect();
    (text, fields)
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
