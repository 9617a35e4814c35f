//! The rows reports print: typed domain values, one struct per report row.
//!
//! A leaf module (it imports no other analyzer module) so that the store reader
//! ([`crate::read`]), the queries ([`crate::query`]) and the store's writer (which fills in an
//! ingest's [`FileReport`]) build on it without a cycle.

use lsync_core::HeadChange;
use serde::Serialize;
use std::collections::BTreeMap;

/// One event as the reports print it (`lsync events --json` prints exactly these keys, and
/// `data` for journal records ingested with `--keep-raw`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct EventRow {
    pub kind: String,
    pub ts: Option<String>,
    pub node: String,
    pub file: String,
    pub line: u64,
    pub level: Option<String>,
    pub logger: Option<String>,
    pub caller: Option<String>,
    pub cids: Vec<String>,
    /// Those of `cids` that do not decode: kept as printed (a paste damaged them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cids_invalid: Vec<String>,
    pub height: Option<i64>,
    pub worker: Option<u64>,
    pub miner: Option<String>,
    pub delay_s: Option<f64>,
    pub duration_ms: Option<f64>,
    pub peer: Option<String>,
    pub text: Option<String>,
    /// The journal record's raw `Data` JSON (only with `lsync ingest --keep-raw`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "raw_json")]
    pub data: Option<String>,
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub ts_ns: Option<i64>,
    #[serde(skip)]
    pub source_id: i64,
    /// A journal head change, as the one domain type (its classification included).
    #[serde(skip)]
    pub head: Option<HeadChange>,
    #[serde(skip)]
    pub problem: Option<String>,
}

/// `Data` as the JSON it is (a torn one as a string).
fn raw_json<S: serde::Serializer>(data: &Option<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match data.as_deref().map(serde_json::from_str::<&serde_json::value::RawValue>) {
        Some(Ok(raw)) => raw.serialize(s),
        _ => data.serialize(s),
    }
}

/// What happened to one file.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub format: String,
    pub compression: Option<String>,
    /// `new`, `resumed`, `unchanged`, `renamed` (a rolled journal), or `truncated` (restarted).
    pub status: String,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub malformed: u64,
    /// Events kept with a CID that does not decode (listed among `problems` as `warning`).
    pub warnings: u64,
    pub unknown: u64,
    pub other_records: u64,
    /// First problems: `(line, kind, reason-or-text)`.
    pub problems: Vec<(u64, String, String)>,
    /// Line number of a torn last line left for the next run.
    pub torn_line: Option<u64>,
    /// Why the file was not read (a binary file), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The closing summary of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IngestReport {
    pub node: String,
    pub files: Vec<FileReport>,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub malformed: u64,
    pub warnings: u64,
    pub unknown: u64,
    /// Files not read (binary).
    pub skipped: u64,
}
