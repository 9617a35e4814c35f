//! The typed events that parsers produce and every report consumes.

use crate::time::Timestamp;
use std::sync::Arc;
use std::fmt;
use std::str::FromStr;

macro_rules! kinds {
    ($($variant:ident => $name:literal : $doc:literal),* $(,)?) => {
        /// What an event is. The names are the public vocabulary of every output (`--kind`,
        /// JSON `kind`, the database); never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $( #[doc = $doc] $variant, )* }

        impl EventKind {
            /// Every kind, in a stable order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];
            /// The public name.
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }
            /// One line describing the kind, for `--help` and reports.
            pub fn describe(self) -> &'static str {
                match self { $(EventKind::$variant => $doc,)* }
            }
        }

        impl FromStr for EventKind {
            type Err = UnknownKind;
            fn from_str(s: &str) -> Result<Self, UnknownKind> {
                match s { $($name => Ok(EventKind::$variant),)* _ => Err(UnknownKind(s.to_string())) }
            }
        }
    };
}

kinds! {
    SelectedTarget => "selected_target": "sync manager picked a sync target (`selected sync target: [..]`)",
    SelectedInitialTarget => "selected_initial_target": "first sync target after the bootstrap peers answered",
    SelectedDeferredTarget => "selected_deferred_target": "a target deferred while workers were busy",
    WorkerStart => "worker_start": "`worker N syncing in [..]`",
    WorkerDone => "worker_done": "`worker N done; took D`",
    SyncError => "sync_error": "`error during sync in [..]: ..` or the legacy multi-line `sync error:`",
    NewHeaviest => "new_heaviest": "`New heaviest tipset! [..] (height=H)`",
    SlowMsgFetch => "slow_msg_fetch": "`Slow msg fetch` (message fetch over 3 s)",
    BlockDelay => "block_delay": "a block arrived more than 5 s after its timestamp",
    ReorgBacklog => "reorg_backlog": "the reorg channel is backlogged",
    NotBetter => "not_better": "incoming tipset not better than our best chain (DEBUG)",
    BadBlock => "bad_block": "`InformNewHead called on block marked as bad`",
    WeightDraw => "weight_draw": "two heads of equal weight (v1.1.3–v1.24.1)",
    WeightTieBroken => "weight_tie_broken": "a weight tie decided by tickets (v1.12.0+)",
    ImpossibleHeight => "impossible_height": "a block beyond the height the clock allows",
    BlockValidation => "block_validation": "`block validation` timing of one block",
    BlockOverPubsub => "block_over_pubsub": "`new block over pubsub` (DEBUG since v1.1.3)",
    MsgFetchFailed => "msg_fetch_failed": "failed to fetch a gossiped block's bls/secpk messages",
    WeightShrank => "weight_shrank": "head weight shrank due to equivocation (v1.25.0+)",
    HeadChange => "head_change": "journal `sync:head_change` record",
    BlockSeen => "block_seen": "`lsync follow`'s first sighting of a gossiped block (ms time, peer, duplicates, delay)",
    Finality => "finality": "a tipset became final: `lsync attach`'s F3 certificate record, or go-f3's `reached a decision`",
    JournalOther => "journal_other": "any other journal record (System:Event kept, Data on request)",
    Malformed => "malformed": "a line that looks like Lotus output but could not be parsed",
    Unknown => "unknown": "a foreign line (Rust FFI, Go std-log, actor output, shell text)",
}

/// A kind name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}")]
pub struct UnknownKind(pub String);

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed `Data` of a journal `sync:head_change` record: the workspace's one head change.
/// The journal reader and writer, the follower, the fixture answers and the queries all use it;
/// its serde form (snake_case field names) is the one `reorgs --json` documents.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeadChange {
    pub from: Vec<String>,
    pub from_height: i64,
    pub to: Vec<String>,
    pub to_height: i64,
    pub revert_count: i64,
    pub apply_count: i64,
}

/// How a head change moved the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReorgClass {
    /// Nothing reverted: the chain grew.
    Extend,
    /// Same height, From ⊂ To: a late block joined the tipset.
    Widen,
    /// Same height, not a superset: a different tipset at the same height.
    Sibling,
    /// Anything else that reverted tipsets.
    Reorg,
}

impl ReorgClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ReorgClass::Extend => "extend",
            ReorgClass::Widen => "widen",
            ReorgClass::Sibling => "sibling",
            ReorgClass::Reorg => "reorg",
        }
    }

    /// The `trace` stage of a block that a head change of this class put into the head.
    pub fn apply_stage(self) -> &'static str {
        match self {
            ReorgClass::Extend | ReorgClass::Reorg => "journal_apply",
            ReorgClass::Widen => "journal_widen",
            ReorgClass::Sibling => "journal_sibling",
        }
    }
}

impl serde::Serialize for ReorgClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for ReorgClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Head changes counted by class: what a follower's summary reports (a widening is not a reorg).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts {
    pub extend: u64,
    pub widen: u64,
    pub sibling: u64,
    pub reorg: u64,
}

impl ClassCounts {
    pub fn add(&mut self, class: ReorgClass) {
        match class {
            ReorgClass::Extend => self.extend += 1,
            ReorgClass::Widen => self.widen += 1,
            ReorgClass::Sibling => self.sibling += 1,
            ReorgClass::Reorg => self.reorg += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.extend + self.widen + self.sibling + self.reorg
    }
}

impl fmt::Display for ClassCounts {
    /// `48 head change(s): 32 extend, 16 widen, 0 sibling, 0 reorg`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} head change(s): {} extend, {} widen, {} sibling, {} reorg",
            self.total(),
            self.extend,
            self.widen,
            self.sibling,
            self.reorg
        )
    }
}

impl HeadChange {
    /// Classifies the change. Rules (README "reorgs"): no revert → `extend`; revert 1 / apply 1
    /// at one height → `widen` when every From CID is in To, else `sibling`; else `reorg`.
    pub fn class(&self) -> ReorgClass {
        if self.revert_count == 0 {
            ReorgClass::Extend
        } else if self.from_height == self.to_height && self.revert_count == 1 && self.apply_count == 1 {
            if self.from.iter().all(|c| self.to.contains(c)) && self.to.len() > self.from.len() {
                ReorgClass::Widen
            } else {
                ReorgClass::Sibling
            }
        } else {
            ReorgClass::Reorg
        }
    }
}

/// The journal record's envelope, kept for every journal event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalMeta {
    /// Shared: a journal has a handful of distinct System/Event names and millions of records.
    pub system: Arc<str>,
    pub event: Arc<str>,
    /// The raw `Data` JSON, only when the caller asked for it (`--keep-raw`).
    pub raw_data: Option<String>,
}

/// Log levels of go-log/zap, plus whatever else a foreign line claimed.
pub fn normalize_level(s: &str) -> Option<&'static str> {
    Some(match s {
        "DEBUG" | "debug" => "DEBUG",
        "INFO" | "info" => "INFO",
        "WARN" | "warn" | "WARNING" | "warning" => "WARN",
        "ERROR" | "error" => "ERROR",
        "DPANIC" | "dpanic" => "DPANIC",
        "PANIC" | "panic" => "PANIC",
        "FATAL" | "fatal" => "FATAL",
        _ => return None,
    })
}

/// One parsed event. Fields that a message does not carry are `None`/empty.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// First physical line of the record, 1-based.
    pub line: u64,
    /// Number of physical lines the record spans (continuations included).
    pub line_count: u32,
    pub ts: Option<Timestamp>,
    pub level: Option<&'static str>,
    pub logger: Option<Arc<str>>,
    pub caller: Option<Arc<str>>,
    /// CIDs in the order the message lists them (tipset order kept).
    pub cids: Vec<String>,
    pub height: Option<i64>,
    pub worker: Option<u64>,
    pub miner: Option<String>,
    pub delay_s: Option<f64>,
    pub duration_ms: Option<f64>,
    pub peer: Option<String>,
    /// The message (with continuation lines joined by `\n`), or the raw line for malformed/unknown.
    pub text: String,
    /// Why a `malformed` line was rejected.
    pub problem: Option<String>,
    pub head_change: Option<HeadChange>,
    pub journal: Option<JournalMeta>,
    /// CIDs of `cids` kept as printed although they do not decode (damaged in a paste); the
    /// event keeps its kind and every other field. Ingest counts each as a warning.
    pub damaged_cids: Vec<String>,
}

impl Event {
    /// An event with only kind, position and text set.
    pub fn new(kind: EventKind, line: u64, text: impl Into<String>) -> Event {
        Event {
            kind,
            line,
            line_count: 1,
            ts: None,
            level: None,
            logger: None,
            caller: None,
            cids: Vec::new(),
            height: None,
            worker: None,
            miner: None,
            delay_s: None,
            duration_ms: None,
            peer: None,
            text: text.into(),
            problem: None,
            head_change: None,
            journal: None,
            damaged_cids: Vec::new(),
        }
    }
}

/// Counters a parser keeps about lines it did not turn into stored events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Physical lines seen (blank ones included).
    pub lines: u64,
    /// Empty or whitespace-only lines.
    pub blank: u64,
    /// Well-formed records that are not sync-pipeline events (mpool, bitswap, …).
    pub other_records: u64,
    /// Continuation lines attached to a record.
    pub continuation_lines: u64,
}

impl LineStats {
    /// Adds another part's counters (input parsed in parts).
    pub fn add(&mut self, other: &LineStats) {
        self.lines += other.lines;
        self.blank += other.blank;
        self.other_records += other.other_records;
        self.continuation_lines += other.continuation_lines;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_roundtrip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), *k);
        }
        assert!("selected".parse::<EventKind>().is_err());
    }

    fn hc(from: &[&str], fh: i64, to: &[&str], th: i64, r: i64, a: i64) -> HeadChange {
        HeadChange {
            from: from.iter().map(|s| s.to_string()).collect(),
            from_height: fh,
            to: to.iter().map(|s| s.to_string()).collect(),
            to_height: th,
            revert_count: r,
            apply_count: a,
        }
    }

    #[test]
    fn classes() {
        assert_eq!(hc(&["a"], 1, &["b"], 2, 0, 1).class(), ReorgClass::Extend);
        assert_eq!(hc(&["a"], 1, &["a", "b"], 1, 1, 1).class(), ReorgClass::Widen);
        assert_eq!(hc(&["a", "b"], 1, &["b", "a", "c"], 1, 1, 1).class(), ReorgClass::Widen);
        assert_eq!(hc(&["a"], 1, &["b"], 1, 1, 1).class(), ReorgClass::Sibling);
        assert_eq!(hc(&["a", "b"], 1, &["a"], 1, 1, 1).class(), ReorgClass::Sibling);
        assert_eq!(hc(&["a"], 5, &["b"], 6, 2, 3).class(), ReorgClass::Reorg);
        assert_eq!(hc(&["a"], 5, &["b"], 5, 2, 2).class(), ReorgClass::Reorg);
    }
}
