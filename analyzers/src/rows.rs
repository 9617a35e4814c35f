//! The rows reports print: typed domain values, one struct per report row.
//!
//! A leaf module (it imports no other analyzer module) so that both the store reader
//! ([`crate::read`]) and the queries ([`crate::query`]) build on it without a cycle.

use lsync_core::HeadChange;
use serde::Serialize;

/// One event as the reports print it (`lsync events --json` prints exactly these keys, and
/// `data` for journal records ingested with `--keep-raw`).
#[derive(Clone, Debug, Serialize, PartialEq)]
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

