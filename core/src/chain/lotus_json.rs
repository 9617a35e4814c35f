//! The JSON shapes of Lotus's API (lotus `chain/types`, marshalled by Go's `encoding/json`):
//! block headers, tipsets and ChainNotify head changes, in both directions — what `lsync
//! attach` reads from a node and what the devnet's RPC test double writes (lotus-rpc §4).
//!
//! A header read from JSON is re-encoded to CBOR to get its CID, so a tipset's `Cids` are
//! checked against its blocks, not trusted.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cid::Cid;
use num_bigint::BigInt;
use serde_json::{json, Map, Value};
use thiserror::Error;

use super::address::{Address, Network};
use super::header::{BeaconEntry, BlockHeader, ElectionProof, PoStProof, Ticket};
use super::signature::{Signature, SignatureType};
use super::tipset::{TipSet, TipSetKey};

/// Why a JSON value is not the Lotus type it should be.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{what}: {problem}")]
pub struct LotusJsonError {
    pub what: String,
    pub problem: String,
}

fn err(what: impl Into<String>, problem: impl Into<String>) -> LotusJsonError {
    LotusJsonError { what: what.into(), problem: problem.into() }
}

/// `{"/": "bafy…"}`.
pub fn cid_to_json(cid: &Cid) -> Value {
    json!({ "/": cid.to_string() })
}

pub fn cid_from_json(v: &Value, what: &str) -> Result<Cid, LotusJsonError> {
    let text = v.get("/").and_then(Value::as_str).ok_or_else(|| err(what, "not a {\"/\": cid} object"))?;
    Cid::try_from(text).map_err(|e| err(what, format!("invalid CID {text:?}: {e}")))
}

/// A TipSetKey: `[{"/":…},…]`; `null` is the empty key.
pub fn key_to_json(key: &TipSetKey) -> Value {
    Value::Array(key.cids().iter().map(cid_to_json).collect())
}

pub fn key_from_json(v: &Value, what: &str) -> Result<TipSetKey, LotusJsonError> {
    match v {
        Value::Null => Ok(TipSetKey::new(Vec::new())),
        Value::Array(items) => Ok(TipSetKey::new(
            items.iter().map(|c| cid_from_json(c, what)).collect::<Result<_, _>>()?,
        )),
        _ => Err(err(what, "not a list of CIDs")),
    }
}

/// Go's `[]byte` in JSON: standard base64; cbor-gen leaves an empty slice nil, so Lotus writes
/// `null` for empty bytes.
fn bytes_to_json(b: &[u8]) -> Value {
    if b.is_empty() {
        Value::Null
    } else {
        Value::String(B64.encode(b))
    }
}

fn bytes_from_json(v: &Value, what: &str) -> Result<Vec<u8>, LotusJsonError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => B64.decode(s).map_err(|e| err(what, format!("bad base64: {e}"))),
        _ => Err(err(what, "not base64 text")),
    }
}

fn signature_to_json(sig: &Option<Signature>) -> Value {
    match sig {
        None => Value::Null,
        Some(s) => json!({ "Type": s.sig_type() as u8, "Data": bytes_to_json(s.data()) }),
    }
}

fn signature_from_json(v: &Value, what: &str) -> Result<Option<Signature>, LotusJsonError> {
    if v.is_null() {
        return Ok(None);
    }
    let ty = v.get("Type").and_then(Value::as_u64).ok_or_else(|| err(what, "no Type"))?;
    let ty = u8::try_from(ty).ok().and_then(SignatureType::from_byte).ok_or_else(|| err(what, format!("unknown signature type {ty}")))?;
    let data = bytes_from_json(v.get("Data").unwrap_or(&Value::Null), what)?;
    Signature::new(ty, data).map(Some).map_err(|e| err(what, e.to_string()))
}

/// A decimal big integer string (`"0"` for nil).
fn bigint_from_json(v: &Value, what: &str) -> Result<BigInt, LotusJsonError> {
    match v {
        Value::String(s) => s.parse().map_err(|_| err(what, format!("{s:?} is not a decimal integer"))),
        Value::Null => Ok(BigInt::from(0)),
        _ => Err(err(what, "not a decimal string")),
    }
}

fn u64_of(o: &Map<String, Value>, key: &str) -> Result<u64, LotusJsonError> {
    o.get(key).and_then(Value::as_u64).ok_or_else(|| err(key, "not an unsigned integer"))
}

fn i64_of(o: &Map<String, Value>, key: &str) -> Result<i64, LotusJsonError> {
    o.get(key).and_then(Value::as_i64).ok_or_else(|| err(key, "not an integer"))
}

fn list<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], LotusJsonError> {
    match o.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Null) | None => Ok(&[]),
        _ => Err(err(key, "not a list")),
    }
}

/// A header as Lotus's API writes it: its 16 fields with Lotus's names and encodings, the
/// miner address with the network's letter. (Keys come out sorted, as serde_json orders an
/// object; JSON readers, Lotus's included, do not depend on key order.)
pub fn header_to_json(h: &BlockHeader, network: Network) -> Value {
    let mut o = Map::new();
    o.insert("Miner".into(), Value::String(h.miner.to_string_on(network)));
    o.insert(
        "Ticket".into(),
        h.ticket.as_ref().map_or(Value::Null, |t| json!({ "VRFProof": bytes_to_json(&t.vrf_proof) })),
    );
    o.insert(
        "ElectionProof".into(),
        h.election_proof
            .as_ref()
            .map_or(Value::Null, |e| json!({ "WinCount": e.win_count, "VRFProof": bytes_to_json(&e.vrf_proof) })),
    );
    o.insert(
        "BeaconEntries".into(),
        Value::Array(h.beacon_entries.iter().map(|b| json!({ "Round": b.round, "Data": bytes_to_json(&b.data) })).collect()),
    );
    o.insert(
        "WinPoStProof".into(),
        Value::Array(
            h.win_post_proof
                .iter()
                .map(|p| json!({ "PoStProof": p.post_proof, "ProofBytes": bytes_to_json(&p.proof_bytes) }))
                .collect(),
        ),
    );
    o.insert("Parents".into(), key_to_json(&h.parents));
    o.insert("ParentWeight".into(), Value::String(h.parent_weight.to_string()));
    o.insert("Height".into(), json!(h.height));
    o.insert("ParentStateRoot".into(), cid_to_json(&h.parent_state_root));
    o.insert("ParentMessageReceipts".into(), cid_to_json(&h.parent_message_receipts));
    o.insert("Messages".into(), cid_to_json(&h.messages));
    o.insert("BLSAggregate".into(), signature_to_json(&h.bls_aggregate));
    o.insert("Timestamp".into(), json!(h.timestamp));
    o.insert("BlockSig".into(), signature_to_json(&h.block_sig));
    o.insert("ForkSignaling".into(), json!(h.fork_signaling));
    o.insert("ParentBaseFee".into(), Value::String(h.parent_base_fee.to_string()));
    Value::Object(o)
}

/// A header from Lotus's JSON (either address letter).
pub fn header_from_json(v: &Value) -> Result<BlockHeader, LotusJsonError> {
    let o = v.as_object().ok_or_else(|| err("BlockHeader", "not an object"))?;
    let miner_text = o.get("Miner").and_then(Value::as_str).ok_or_else(|| err("Miner", "not an address string"))?;
    let miner: Address = miner_text.parse().map_err(|e| err("Miner", format!("{miner_text:?}: {e}")))?;
    let ticket = match o.get("Ticket") {
        None | Some(Value::Null) => None,
        Some(t) => Some(Ticket { vrf_proof: bytes_from_json(t.get("VRFProof").unwrap_or(&Value::Null), "Ticket.VRFProof")? }),
    };
    let election_proof = match o.get("ElectionProof") {
        None | Some(Value::Null) => None,
        Some(e) => {
            let e = e.as_object().ok_or_else(|| err("ElectionProof", "not an object"))?;
            Some(ElectionProof {
                win_count: i64_of(e, "WinCount")?,
                vrf_proof: bytes_from_json(e.get("VRFProof").unwrap_or(&Value::Null), "ElectionProof.VRFProof")?,
            })
        }
    };
    let beacon_entries = list(o, "BeaconEntries")?
        .iter()
        .map(|b| {
            let b = b.as_object().ok_or_else(|| err("BeaconEntries", "not an object"))?;
            Ok(BeaconEntry { round: u64_of(b, "Round")?, data: bytes_from_json(b.get("Data").unwrap_or(&Value::Null), "BeaconEntry.Data")? })
        })
        .collect::<Result<_, LotusJsonError>>()?;
    let win_post_proof = list(o, "WinPoStProof")?
        .iter()
        .map(|p| {
            let p = p.as_object().ok_or_else(|| err("WinPoStProof", "not an object"))?;
            Ok(PoStProof {
                post_proof: i64_of(p, "PoStProof")?,
                proof_bytes: bytes_from_json(p.get("ProofBytes").unwrap_or(&Value::Null), "PoStProof.ProofBytes")?,
            })
        })
        .collect::<Result<_, LotusJsonError>>()?;
    let cid_field = |key: &str| cid_from_json(o.get(key).unwrap_or(&Value::Null), key);
    Ok(BlockHeader {
        miner,
        ticket,
        election_proof,
        beacon_entries,
        win_post_proof,
        parents: key_from_json(o.get("Parents").unwrap_or(&Value::Null), "Parents")?,
        parent_weight: bigint_from_json(o.get("ParentWeight").unwrap_or(&Value::Null), "ParentWeight")?,
        height: i64_of(o, "Height")?,
        parent_state_root: cid_field("ParentStateRoot")?,
        parent_message_receipts: cid_field("ParentMessageReceipts")?,
        messages: cid_field("Messages")?,
        bls_aggregate: signature_from_json(o.get("BLSAggregate").unwrap_or(&Value::Null), "BLSAggregate")?,
        timestamp: u64_of(o, "Timestamp")?,
        block_sig: signature_from_json(o.get("BlockSig").unwrap_or(&Value::Null), "BlockSig")?,
        fork_signaling: u64_of(o, "ForkSignaling")?,
        parent_base_fee: bigint_from_json(o.get("ParentBaseFee").unwrap_or(&Value::Null), "ParentBaseFee")?,
    })
}

/// `{"Cids":[…],"Blocks":[…],"Height":h}`.
pub fn tipset_to_json(ts: &TipSet, network: Network) -> Value {
    json!({
        "Cids": key_to_json(ts.key()),
        "Blocks": ts.blocks().iter().map(|h| header_to_json(h, network)).collect::<Vec<_>>(),
        "Height": ts.height(),
    })
}

/// A tipset from Lotus's JSON; its `Cids` must be the CIDs of its blocks (re-encoded), in
/// ticket order.
pub fn tipset_from_json(v: &Value) -> Result<TipSet, LotusJsonError> {
    let o = v.as_object().ok_or_else(|| err("TipSet", "not an object"))?;
    let blocks = list(o, "Blocks")?.iter().map(header_from_json).collect::<Result<Vec<_>, _>>()?;
    let ts = TipSet::new(blocks).map_err(|e| err("TipSet", e.to_string()))?;
    let stated = key_from_json(o.get("Cids").unwrap_or(&Value::Null), "TipSet.Cids")?;
    if !stated.is_empty() && stated != *ts.key() {
        return Err(err("TipSet", format!("Cids {stated} are not its blocks' {}", ts.key())));
    }
    Ok(ts)
}

/// The `Type` of one ChainNotify / ChainGetPath entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadChangeType {
    Current,
    Apply,
    Revert,
}

impl HeadChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Apply => "apply",
            Self::Revert => "revert",
        }
    }
}

/// `{"Type":"apply","Val":TipSet}`.
pub fn head_change_to_json(kind: HeadChangeType, ts: &TipSet, network: Network) -> Value {
    json!({ "Type": kind.as_str(), "Val": tipset_to_json(ts, network) })
}

pub fn head_change_from_json(v: &Value) -> Result<(HeadChangeType, TipSet), LotusJsonError> {
    let kind = match v.get("Type").and_then(Value::as_str) {
        Some("current") => HeadChangeType::Current,
        Some("apply") => HeadChangeType::Apply,
        Some("revert") => HeadChangeType::Revert,
        other => return Err(err("HeadChange.Type", format!("{other:?} is not current, apply or revert"))),
    };
    Ok((kind, tipset_from_json(v.get("Val").unwrap_or(&Value::Null))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/lotus/serialization-vectors-block_headers.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn serialization_vectors_read_to_their_cbor_and_cid_and_write_back_identically() {
        for v in vectors() {
            let header = header_from_json(&v["block"]).unwrap();
            let cbor = header.to_cbor().unwrap();
            let hex: String = cbor.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, v["cbor_hex"].as_str().unwrap());
            assert_eq!(header.cid().unwrap().to_string(), v["cid"].as_str().unwrap());
            // Written back on a test network: the JSON Lotus wrote, value for value.
            let written = header_to_json(&header, Network::Testnet);
            assert_eq!(written, v["block"]);
        }
    }

    #[test]
    fn a_tipset_whose_cids_are_not_its_blocks_is_refused() {
        let header = header_from_json(&vectors()[0]["block"]).unwrap();
        let ts = TipSet::new(vec![header]).unwrap();
        let good = tipset_to_json(&ts, Network::Mainnet);
        assert_eq!(tipset_from_json(&good).unwrap(), ts);
        let mut bad = good.clone();
        bad["Cids"] = json!([{ "/": "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2" }]);
        assert!(tipset_from_json(&bad).unwrap_err().problem.contains("not its blocks"));
        let change = head_change_to_json(HeadChangeType::Revert, &ts, Network::Mainnet);
        assert_eq!(head_change_from_json(&change).unwrap(), (HeadChangeType::Revert, ts));
        assert!(head_change_from_json(&json!({"Type": "sideways", "Val": good})).is_err());
    }
}
