//! The journal records' `Data` built from the follower's values. The record types themselves
//! (both directions, names included) live with the format, in `lsync_core::journal::records`.

use lsync_core::chain::Network;
pub use lsync_core::journal::records::*;

use crate::follower::{FirstSeenRecord, HeadPath};
use crate::go_text::rfc3339_nano;

impl From<&HeadPath> for HeadChangeData {
    fn from(change: &HeadPath) -> Self {
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

impl From<&HeadPath> for ReorgPathData {
    fn from(change: &HeadPath) -> Self {
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

/// `lsync:block_seen` of a first-seen record, its time in the journal's zone.
pub fn block_seen_data(record: &FirstSeenRecord, zone_offset_secs: i32, network: Network) -> BlockSeenData {
    BlockSeenData {
        cid: record.cid,
        height: record.height,
        miner: record.miner.to_string_on(network),
        first_seen: rfc3339_nano(record.first_seen_ns, zone_offset_secs),
        peer: record.peer.clone(),
        duplicates: record.duplicates,
        delay_ms: record.delay_ms,
        equivocates: record.equivocates,
        delay_ns: Some(record.delay_ns),
        msg_fetch_ms: record.msg_fetch.map(|d| d.as_secs_f64() * 1000.0),
    }
}
