//! F3 finality certificates as Lotus's API returns them (`F3GetLatestCertificate`; go-f3
//! `certs.FinalityCertificate`, lotus-rpc §5), read in both shapes Lotus has written:
//! go-f3 ≥ v0.7.3 (Lotus ≥ v1.31.1) gives each EC chain entry's `Key` as a list of CIDs and
//! `Commitments` as base64; older builds give `Key` as base64 of the concatenated CID bytes
//! and `Commitments` as 32 numbers. Written in the current shape.
//!
//! The finalized tipset is the *last* entry of `ECChain`; a one-entry chain is a base
//! decision, which finalizes nothing new (repeated base decisions are the sign of a stall).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cid::Cid;
use serde_json::{json, Map, Value};

use super::lotus_json::{cid_from_json, cid_to_json, key_from_json, key_to_json, LotusJsonError};
use super::tipset::TipSetKey;

/// One entry of a certificate's EC chain: a tipset and its epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcEntry {
    pub key: TipSetKey,
    pub epoch: i64,
    pub power_table: Option<Cid>,
    pub commitments: Vec<u8>,
}

/// A finality certificate: instance `instance` finalized `ec_chain` (base first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityCertificate {
    pub instance: u64,
    pub ec_chain: Vec<EcEntry>,
    /// `SupplementalData.PowerTable`.
    pub power_table: Option<Cid>,
    /// RLE+ run lengths of the signers bitfield, as Lotus's JSON carries them.
    pub signers: Vec<u64>,
    pub signature: Vec<u8>,
}

fn err(what: &str, problem: impl Into<String>) -> LotusJsonError {
    LotusJsonError { what: what.into(), problem: problem.into() }
}

impl FinalityCertificate {
    /// The finalized tipset: the chain's last entry.
    pub fn finalized(&self) -> Option<&EcEntry> {
        self.ec_chain.last()
    }

    /// A base decision: the chain holds only its base, nothing new is final.
    pub fn is_base_decision(&self) -> bool {
        self.ec_chain.len() <= 1
    }

    pub fn from_json(v: &Value) -> Result<Self, LotusJsonError> {
        let o = v.as_object().ok_or_else(|| err("FinalityCertificate", "not an object"))?;
        let instance = o.get("GPBFTInstance").and_then(Value::as_u64).ok_or_else(|| err("GPBFTInstance", "not an unsigned integer"))?;
        let ec_chain = match o.get("ECChain") {
            Some(Value::Array(entries)) => entries.iter().map(entry_from_json).collect::<Result<_, _>>()?,
            Some(Value::Null) | None => Vec::new(),
            _ => return Err(err("ECChain", "not a list")),
        };
        let power_table = o
            .get("SupplementalData")
            .and_then(|s| s.get("PowerTable"))
            .filter(|p| !p.is_null())
            .map(|p| cid_from_json(p, "SupplementalData.PowerTable"))
            .transpose()?;
        let signers = match o.get("Signers") {
            Some(Value::Array(runs)) => runs.iter().map(|r| r.as_u64().ok_or_else(|| err("Signers", "not run lengths"))).collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let signature = match o.get("Signature") {
            Some(Value::String(s)) => B64.decode(s).map_err(|e| err("Signature", format!("bad base64: {e}")))?,
            _ => Vec::new(),
        };
        Ok(Self { instance, ec_chain, power_table, signers, signature })
    }

    /// go-f3 ≥ v0.7.3's JSON (`PowerTableDelta` omitted: lsync keeps none).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("GPBFTInstance".into(), json!(self.instance));
        o.insert(
            "ECChain".into(),
            Value::Array(
                self.ec_chain
                    .iter()
                    .map(|e| {
                        json!({
                            "Key": key_to_json(&e.key),
                            "Commitments": B64.encode(&e.commitments),
                            "Epoch": e.epoch,
                            "PowerTable": e.power_table.as_ref().map_or(Value::Null, cid_to_json),
                        })
                    })
                    .collect(),
            ),
        );
        o.insert(
            "SupplementalData".into(),
            json!({ "Commitments": B64.encode([0u8; 32]), "PowerTable": self.power_table.as_ref().map_or(Value::Null, cid_to_json) }),
        );
        o.insert("Signers".into(), json!(self.signers));
        o.insert("Signature".into(), Value::String(B64.encode(&self.signature)));
        Value::Object(o)
    }
}

fn entry_from_json(v: &Value) -> Result<EcEntry, LotusJsonError> {
    let o = v.as_object().ok_or_else(|| err("ECChain entry", "not an object"))?;
    let epoch = o.get("Epoch").and_then(Value::as_i64).ok_or_else(|| err("ECChain.Epoch", "not an integer"))?;
    let key = match o.get("Key") {
        // go-f3 before v0.7.3: the TipSetKey's bytes (CIDs back to back), base64.
        Some(Value::String(s)) => {
            let bytes = B64.decode(s).map_err(|e| err("ECChain.Key", format!("bad base64: {e}")))?;
            let mut cids = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let mut cursor = std::io::Cursor::new(rest);
                let cid = Cid::read_bytes(&mut cursor).map_err(|e| err("ECChain.Key", format!("bad CID bytes: {e}")))?;
                let used = cursor.position() as usize;
                cids.push(cid);
                rest = &rest[used..];
            }
            TipSetKey::new(cids)
        }
        Some(k) => key_from_json(k, "ECChain.Key")?,
        None => return Err(err("ECChain.Key", "missing")),
    };
    let power_table = o.get("PowerTable").filter(|p| !p.is_null()).map(|p| cid_from_json(p, "ECChain.PowerTable")).transpose()?;
    let commitments = match o.get("Commitments") {
        Some(Value::String(s)) => B64.decode(s).map_err(|e| err("ECChain.Commitments", format!("bad base64: {e}")))?,
        Some(Value::Array(nums)) => nums.iter().map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()).ok_or_else(|| err("ECChain.Commitments", "not bytes"))).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(EcEntry { key, epoch, power_table, commitments })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2";
    const B: &str = "bafy2bzacecyaggy24wol5ruvs6qm73gjibs2l2iyhcqmvi7r7a4ph7zx3yqd4";
    const PT: &str = "bafy2bzacecklgxd2eksmodvhgurqvorkg3wamgqkrunir3al2gchv2cikgmbu";

    #[test]
    fn both_shapes_read_to_the_same_certificate_and_the_last_entry_is_final() {
        let current = json!({
            "GPBFTInstance": 7,
            "ECChain": [
                {"Key": [{"/": A}], "Commitments": B64.encode([0u8; 32]), "Epoch": 4920500, "PowerTable": {"/": PT}},
                {"Key": [{"/": A}, {"/": B}], "Commitments": B64.encode([0u8; 32]), "Epoch": 4920502, "PowerTable": {"/": PT}}
            ],
            "SupplementalData": {"Commitments": B64.encode([0u8; 32]), "PowerTable": {"/": PT}},
            "Signers": [0, 3, 1, 5],
            "Signature": B64.encode([7u8; 96])
        });
        let cert = FinalityCertificate::from_json(&current).unwrap();
        assert_eq!(cert.instance, 7);
        assert_eq!(cert.finalized().unwrap().epoch, 4920502);
        assert_eq!(cert.finalized().unwrap().key.len(), 2);
        assert!(!cert.is_base_decision());
        assert_eq!(FinalityCertificate::from_json(&cert.to_json()).unwrap(), cert);
        // Lotus v1.29–v1.31.0: Key as the concatenated CID bytes, Commitments as numbers.
        let key_bytes: Vec<u8> = [A, B].iter().flat_map(|c| Cid::try_from(*c).unwrap().to_bytes()).collect();
        let old = json!({
            "GPBFTInstance": 7,
            "ECChain": [
                {"Epoch": 4920500, "Key": B64.encode(Cid::try_from(A).unwrap().to_bytes()), "PowerTable": {"/": PT}, "Commitments": vec![0; 32]},
                {"Epoch": 4920502, "Key": B64.encode(&key_bytes), "PowerTable": {"/": PT}, "Commitments": vec![0; 32]}
            ],
            "SupplementalData": {"Commitments": vec![0; 32], "PowerTable": {"/": PT}},
            "Signers": [0, 3, 1, 5],
            "Signature": B64.encode([7u8; 96]),
            "PowerTableDelta": []
        });
        assert_eq!(FinalityCertificate::from_json(&old).unwrap(), cert);
        let base_only = json!({"GPBFTInstance": 8, "ECChain": [current["ECChain"][1].clone()], "Signers": [0], "Signature": ""});
        assert!(FinalityCertificate::from_json(&base_only).unwrap().is_base_decision());
        assert!(FinalityCertificate::from_json(&json!({"ECChain": []})).is_err());
    }
}
