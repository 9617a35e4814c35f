//! The `Data` of each journal record kind lsync reads and writes — one type per kind, one
//! serialize + deserialize pair, so the follower's writer and the ingest reader cannot disagree.
//!
//! `sync:head_change` has exactly Lotus's shape (`HeadChangeEvt`: keys `From`, `FromHeight`,
//! `To`, `ToHeight`, `RevertCount`, `ApplyCount`, in that order; a TipSetKey is a list of
//! `{"/": cid}`), so `jq` filters and every Lotus journal reader keep working. What lsync knows
//! beyond that goes into records of its own System, `lsync`, in the same file.
//!
//! The ingest reader ([`super::JournalParser`]) keeps its own borrowed, allocation-free view of
//! these records for speed; `tests` below hold it to these types on every kind.

use cid::Cid;
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::chain::{TipSet, TipSetKey};

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
/// lsync's record of where a follower's chain starts, and why there.
pub const EVENT_ANCHOR: &str = "anchor";
/// lsync's record of a finality certificate (or finalized tipset) first seen.
pub const EVENT_FINALITY: &str = "finality";
/// lsync's record of head changes `attach` did not receive as they happened.
pub const EVENT_NOTIFY_GAP: &str = "notify_gap";

/// A CID as go-cid writes it in JSON: `{"/":"bafy…"}`.
struct CidJson<'a>(&'a Cid);

impl Serialize for CidJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("/", &self.0.to_string())?;
        map.end()
    }
}

/// go-cid's JSON form, read back.
#[derive(Deserialize)]
struct CidJsonOwned {
    #[serde(rename = "/")]
    cid: String,
}

impl CidJsonOwned {
    fn parse<E: de::Error>(self) -> Result<Cid, E> {
        Cid::try_from(self.cid.as_str()).map_err(|e| E::custom(format!("invalid CID {:?}: {e}", self.cid)))
    }
}

/// `{"/": cid}` in both directions.
mod cid_json {
    use super::*;

    pub fn serialize<S: Serializer>(cid: &Cid, serializer: S) -> Result<S::Ok, S::Error> {
        CidJson(cid).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cid, D::Error> {
        CidJsonOwned::deserialize(deserializer)?.parse()
    }
}

/// A TipSetKey as Lotus marshals it, `[{"/":…},…]`, in both directions.
mod tipset_key_json {
    use super::*;

    pub fn serialize<S: Serializer>(key: &TipSetKey, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(key.len()))?;
        for cid in key.cids() {
            seq.serialize_element(&CidJson(cid))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TipSetKey, D::Error> {
        let cids = Vec::<CidJsonOwned>::deserialize(deserializer)?;
        Ok(TipSetKey::from(cids.into_iter().map(CidJsonOwned::parse).collect::<Result<Vec<_>, _>>()?))
    }
}

/// Lotus's `HeadChangeEvt`. Field order is serialisation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeadChangeData {
    #[serde(with = "tipset_key_json")]
    pub from: TipSetKey,
    pub from_height: i64,
    #[serde(with = "tipset_key_json")]
    pub to: TipSetKey,
    pub to_height: i64,
    pub revert_count: u64,
    pub apply_count: u64,
}

impl HeadChangeData {
    /// The domain head change this record states (CIDs as text, the form every query uses).
    pub fn to_head_change(&self) -> crate::HeadChange {
        let texts = |k: &TipSetKey| k.cids().iter().map(Cid::to_string).collect();
        crate::HeadChange {
            from: texts(&self.from),
            from_height: self.from_height,
            to: texts(&self.to),
            to_height: self.to_height,
            revert_count: self.revert_count as i64,
            apply_count: self.apply_count as i64,
        }
    }
}

/// One tipset of a path: its key and height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PathTipSet {
    #[serde(with = "tipset_key_json")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReorgPathData {
    #[serde(with = "tipset_key_json")]
    pub from: TipSetKey,
    pub from_height: i64,
    #[serde(with = "tipset_key_json")]
    pub to: TipSetKey,
    pub to_height: i64,
    #[serde(with = "tipset_key_json")]
    pub fork_point: TipSetKey,
    pub fork_point_height: i64,
    pub revert: Vec<PathTipSet>,
    pub apply: Vec<PathTipSet>,
}

/// `lsync:block_seen`: a block's first gossip sighting. `FirstSeen` is written like the
/// journal's own `Timestamp`, in the journal's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockSeenData {
    #[serde(with = "cid_json")]
    pub cid: Cid,
    pub height: i64,
    pub miner: String,
    pub first_seen: String,
    pub peer: String,
    pub duplicates: u32,
    pub delay_ms: i64,
    /// Another block of the same miner at the same height, seen before this one: the miner
    /// equivocated (FRC-0051). Absent otherwise, so the record's shape is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_cid_json")]
    pub equivocates: Option<Cid>,
    /// `DelayMs` in nanoseconds (first arrival − header timestamp): readers prefer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ns: Option<i64>,
    /// How long fetching the block's messages took, in ms (Lotus's `msgfetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_fetch_ms: Option<f64>,
}

/// `lsync:anchor`: the tipset a follower's chain starts from (it syncs nothing below it) and
/// why: genesis, a tipset the operator named, the journal's last head on a restart, or the
/// heaviest head its peers announced minus the fork-length limit. `PeerHead` is that head when
/// one was used. Written once per run, before the run's first head change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnchorData {
    #[serde(with = "tipset_key_json")]
    pub tipset: TipSetKey,
    pub height: i64,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_head: Option<PathTipSet>,
}

/// `lsync:finality`: the node's finality moved. `Instance` is the F3 certificate's (absent
/// when the node has no F3 and the finalized tipset came from `ChainGetFinalizedTipSet` or
/// head − 900); `Epoch` and `Tipset` are what it finalized (its EC chain's last entry);
/// `BaseEpoch` where that chain started (the previous finalized epoch); `FirstSeen` when lsync
/// first saw it, in the journal's zone; `Source` the API method it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FinalityData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u64>,
    pub epoch: i64,
    #[serde(with = "tipset_key_json")]
    pub tipset: TipSetKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_epoch: Option<i64>,
    pub first_seen: String,
    pub source: String,
}

/// `lsync:notify_gap`: the head moved while `attach` was not subscribed (a dropped connection,
/// a channel the node closed, a restart). `From`/`To` are the last head it had and the head it
/// found; the head change between them is journaled right after this record, from
/// `ChainGetPath` (`Filled` true), or could not be (`Filled` false, `Error` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotifyGapData {
    #[serde(with = "tipset_key_json")]
    pub from: TipSetKey,
    pub from_height: i64,
    #[serde(with = "tipset_key_json")]
    pub to: TipSetKey,
    pub to_height: i64,
    pub reason: String,
    pub filled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An optional `{"/": cid}`.
mod opt_cid_json {
    use super::*;

    pub fn serialize<S: Serializer>(cid: &Option<Cid>, serializer: S) -> Result<S::Ok, S::Error> {
        match cid {
            Some(c) => CidJson(c).serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cid>, D::Error> {
        Option::<CidJsonOwned>::deserialize(deserializer)?.map(CidJsonOwned::parse).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::journal::{JournalOptions, JournalParser};

    const A: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
    const B: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";

    fn key(cids: &[&str]) -> TipSetKey {
        TipSetKey::from(cids.iter().map(|c| Cid::try_from(*c).unwrap()).collect::<Vec<_>>())
    }

    fn line(system: &str, event: &str, data: &impl Serialize) -> String {
        format!("{{\"System\":\"{system}\",\"Event\":\"{event}\",\"Timestamp\":\"2021-11-11T16:13:30.689264594+08:00\",\"Data\":{}}}", serde_json::to_string(data).unwrap())
    }

    fn parse(text: &str) -> Vec<crate::Event> {
        let mut p = JournalParser::new(JournalOptions { keep_raw: false });
        let mut out = Vec::new();
        p.push_line(1, text.as_bytes(), &mut out);
        p.finish(&mut out);
        out
    }

    fn head_change() -> HeadChangeData {
        HeadChangeData { from: key(&[A]), from_height: 1277067, to: key(&[A, B]), to_height: 1277067, revert_count: 1, apply_count: 1 }
    }

    #[test]
    fn head_change_is_lotus_bytes_and_round_trips() {
        let hc = head_change();
        let text = serde_json::to_string(&hc).unwrap();
        // lotus-facts.md: HeadChangeEvt's keys in this order, a TipSetKey as [{"/":…}].
        assert_eq!(text, format!("{{\"From\":[{{\"/\":\"{A}\"}}],\"FromHeight\":1277067,\"To\":[{{\"/\":\"{A}\"}},{{\"/\":\"{B}\"}}],\"ToHeight\":1277067,\"RevertCount\":1,\"ApplyCount\":1}}"));
        assert_eq!(serde_json::from_str::<HeadChangeData>(&text).unwrap(), hc);
    }

    #[test]
    fn the_reader_agrees_with_the_record_type() {
        let hc = head_change();
        let events = parse(&line(SYSTEM_SYNC, EVENT_HEAD_CHANGE, &hc));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::HeadChange);
        assert_eq!(events[0].head_change.as_ref(), Some(&hc.to_head_change()));
        assert_eq!(hc.to_head_change().class(), crate::ReorgClass::Widen);

        let seen = BlockSeenData { cid: Cid::try_from(B).unwrap(), height: 7, miner: "f01000".into(), first_seen: "2026-11-24T05:00:01.234Z".into(), peer: "12D3KooWx".into(), duplicates: 2, delay_ms: 1234, equivocates: None, delay_ns: Some(1_234_567_891), msg_fetch_ms: Some(2.5) };
        let text = line(SYSTEM_LSYNC, EVENT_BLOCK_SEEN, &seen);
        assert_eq!(serde_json::from_str::<BlockSeenData>(&serde_json::to_string(&seen).unwrap()).unwrap(), seen);
        let events = parse(&text);
        assert_eq!(events[0].kind, EventKind::BlockSeen, "{events:?}");
        assert_eq!(events[0].cids, vec![B.to_string()]);
        assert_eq!((events[0].height, events[0].miner.as_deref(), events[0].peer.as_deref()), (Some(7), Some("f01000"), Some("12D3KooWx")));
        // The nanosecond delay wins over the whole milliseconds; the fetch time is the duration.
        assert_eq!((events[0].delay_s, events[0].duration_ms), (Some(1.234567891), Some(2.5)));
    }

    #[test]
    fn reorg_path_round_trips() {
        let data = ReorgPathData {
            from: key(&[A]),
            from_height: 10,
            to: key(&[B]),
            to_height: 11,
            fork_point: key(&[A]),
            fork_point_height: 9,
            revert: vec![PathTipSet { key: key(&[A]), height: 10 }],
            apply: vec![PathTipSet { key: key(&[B]), height: 11 }],
        };
        let text = serde_json::to_string(&data).unwrap();
        assert_eq!(serde_json::from_str::<ReorgPathData>(&text).unwrap(), data);
        // The reader keeps lsync's other records as journal_other, by their names.
        let events = parse(&line(SYSTEM_LSYNC, EVENT_REORG_PATH, &data));
        assert_eq!(events[0].kind, EventKind::JournalOther);
        assert_eq!(events[0].journal.as_ref().map(|j| (&*j.system, &*j.event)), Some((SYSTEM_LSYNC, EVENT_REORG_PATH)));
    }

    #[test]
    fn a_bad_cid_is_an_error_not_a_panic() {
        let text = format!("{{\"From\":[{{\"/\":\"bafy-not-a-cid\"}}],\"FromHeight\":1,\"To\":[{{\"/\":\"{A}\"}}],\"ToHeight\":2,\"RevertCount\":0,\"ApplyCount\":1}}");
        let err = serde_json::from_str::<HeadChangeData>(&text).unwrap_err().to_string();
        assert!(err.contains("invalid CID"), "{err}");
    }
}
