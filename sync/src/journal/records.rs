//! The `Data` of each journal record lsync writes.
//!
//! `sync:head_change` has exactly Lotus's shape (`HeadChangeEvt`: keys `From`, `FromHeight`,
//! `To`, `ToHeight`, `RevertCount`, `ApplyCount`, in that order; a TipSetKey is a list of
//! `{"/": cid}`), so `jq` filters and every Lotus journal reader keep working. What lsync knows
//! beyond that goes into records of its own System, `lsync`, in the same file.

use cid::Cid;
use lsync_core::chain::{Network, TipSet, TipSetKey};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::follower::{FirstSeenRecord, HeadChange};
use crate::go_text::rfc3339_nano;

/// Lotus's journal System of head changes.
pub const SYSTEM_SYNC: &str = "sync";
/// Lotus's journal Event of head changes.
pub const EVENT_HEAD_CHANGE: &str = "head_change";
/// The System of lsync's own records.
pub const SYSTEM_LSYNC: &str = "lsync";
/// lsync's record of a head change's full revert/apply path and fork point.
pub const EVENT_REORG_PATH: &str = "reorg_path";
/// lsync's record of a block's first gossip sighting.
pub const EVENT_BLOCK_SEEN: &str = "block_seen";

/// A CID as go-cid writes it in JSON: `{"/":"bafy…"}`.
struct CidJson<'a>(&'a Cid);

impl Serialize for CidJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("/", &self.0.to_string())?;
        map.end()
    }
}

/// A TipSetKey as Lotus marshals it: `[{"/":…},…]`.
fn tipset_key_json<S: Serializer>(key: &TipSetKey, serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(key.len()))?;
    for cid in key.cids() {
        seq.serialize_element(&CidJson(cid))?;
    }
    seq.end()
}

fn cid_json<S: Serializer>(cid: &Cid, serializer: S) -> Result<S::Ok, S::Error> {
    CidJson(cid).serialize(serializer)
}

/// Lotus's `HeadChangeEvt`. Field order is serialisation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeadChangeData {
    #[serde(serialize_with = "tipset_key_json")]
    pub from: TipSetKey,
    pub from_height: i64,
    #[serde(serialize_with = "tipset_key_json")]
    pub to: TipSetKey,
    pub to_height: i64,
    pub revert_count: u64,
    pub apply_count: u64,
}

impl From<&HeadChange> for HeadChangeData {
    fn from(change: &HeadChange) -> Self {
        Self {
            from: change.from.key().clone(),
            from_height: change.from.height(),
            to: change.to.key().clone(),
            to_height: change.to.height(),
            revert_count: change.revert_count() as u64,
            apply_count: change.apply_count() as u64,
        }
    }
}

/// One tipset of a path: its key and height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PathTipSet {
    #[serde(serialize_with = "tipset_key_json")]
    pub key: TipSetKey,
    pub height: i64,
}

impl From<&TipSet> for PathTipSet {
    fn from(ts: &TipSet) -> Self {
        Self {
            key: ts.key().clone(),
            height: ts.height(),
        }
    }
}

/// `lsync:reorg_path`: the whole head change. `Revert` runs from the old head down, `Apply`
/// from just above the fork point up to the new head — the order ChainNotify publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReorgPathData {
    #[serde(serialize_with = "tipset_key_json")]
    pub from: TipSetKey,
    pub from_height: i64,
    #[serde(serialize_with = "tipset_key_json")]
    pub to: TipSetKey,
    pub to_height: i64,
    #[serde(serialize_with = "tipset_key_json")]
    pub fork_point: TipSetKey,
    pub fork_point_height: i64,
    pub revert: Vec<PathTipSet>,
    pub apply: Vec<PathTipSet>,
}

impl From<&HeadChange> for ReorgPathData {
    fn from(change: &HeadChange) -> Self {
        Self {
            from: change.from.key().clone(),
            from_height: change.from.height(),
            to: change.to.key().clone(),
            to_height: change.to.height(),
            fork_point: change.fork_point.clone(),
            fork_point_height: change.fork_point_height,
            revert: change.revert.iter().map(PathTipSet::from).collect(),
            apply: change.apply.iter().rev().map(PathTipSet::from).collect(),
        }
    }
}

/// `lsync:block_seen`: a block's first gossip sighting. `FirstSeen` is written like the
/// journal's own `Timestamp`, in the journal's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockSeenData {
    #[serde(serialize_with = "cid_json")]
    pub cid: Cid,
    pub height: i64,
    pub miner: String,
    pub first_seen: String,
    pub peer: String,
    pub duplicates: u32,
    pub delay_ms: i64,
}

impl BlockSeenData {
    pub fn new(record: &FirstSeenRecord, zone_offset_secs: i32, network: Network) -> Self {
        Self {
            cid: record.cid,
            height: record.height,
            miner: record.miner.to_string_on(network),
            first_seen: rfc3339_nano(
                record.first_seen_ms.saturating_mul(1_000_000),
                zone_offset_secs,
            ),
            peer: record.peer.clone(),
            duplicates: record.duplicates,
            delay_ms: record.delay_ms,
        }
    }
}
