//! The Filecoin block header (lotus `chain/types/blockheader.go`): a CBOR array of exactly 16
//! fields, and the small tuple types inside it.
//!
//! Decoding goes through a private "wire" mirror whose signature, BigInt and address fields are raw
//! bytes, so that each Lotus rule violation comes back as a typed [`DecodeError`] naming the field,
//! instead of a serde message string.

use cid::Cid;
use fvm_ipld_encoding::strict_bytes;
use fvm_ipld_encoding::tuple::*;
use fvm_ipld_encoding::BytesDe;
use num_bigint::BigInt;
use serde::{de, Deserialize, Deserializer};

use super::address::Address;
use super::bigint::{bigint_bytes, bigint_from_bytes};
use super::cbor::{self, CBOR_GEN_MAX_ARRAY, CBOR_GEN_MAX_BYTES};
use super::error::{DecodeError, EncodeError};
use super::signature::Signature;
use super::tipset_key::TipSetKey;

/// Number of fields in a BlockHeader tuple (`0x90`).
pub const BLOCK_HEADER_FIELDS: u64 = 16;

/// `[VRFProof]`: the block's ticket. Tipsets order their blocks by blake2b-256 of the proof.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize_tuple, Deserialize_tuple)]
pub struct Ticket {
    #[serde(with = "strict_bytes")]
    pub vrf_proof: Vec<u8>,
}

/// `[WinCount, VRFProof]`: how many times the miner won the election this epoch. ΣWinCount over a
/// tipset feeds the weight function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize_tuple, Deserialize_tuple)]
pub struct ElectionProof {
    pub win_count: i64,
    #[serde(with = "strict_bytes")]
    pub vrf_proof: Vec<u8>,
}

/// `[Round, Data]`: a drand beacon entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize_tuple, Deserialize_tuple)]
pub struct BeaconEntry {
    pub round: u64,
    #[serde(with = "strict_bytes")]
    pub data: Vec<u8>,
}

/// `[PoStProof, ProofBytes]`: a winning PoSt proof; `post_proof` is the RegisteredPoStProof number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize_tuple, Deserialize_tuple)]
pub struct PoStProof {
    pub post_proof: i64,
    #[serde(with = "strict_bytes")]
    pub proof_bytes: Vec<u8>,
}

/// A block header, field for field as Lotus marshals it (the order below *is* the CBOR order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple)]
pub struct BlockHeader {
    pub miner: Address,
    pub ticket: Option<Ticket>,
    pub election_proof: Option<ElectionProof>,
    pub beacon_entries: Vec<BeaconEntry>,
    pub win_post_proof: Vec<PoStProof>,
    pub parents: TipSetKey,
    #[serde(with = "bigint_bytes")]
    pub parent_weight: BigInt,
    pub height: i64,
    pub parent_state_root: Cid,
    pub parent_message_receipts: Cid,
    /// CID of the MsgMeta `[BlsMessages AMT root, SecpkMessages AMT root]`.
    pub messages: Cid,
    pub bls_aggregate: Option<Signature>,
    pub timestamp: u64,
    pub block_sig: Option<Signature>,
    pub fork_signaling: u64,
    #[serde(with = "bigint_bytes")]
    pub parent_base_fee: BigInt,
}

impl BlockHeader {
    /// Decode a header from its exact block bytes.
    ///
    /// Checks, in order: a 16-element array; DAG-CBOR structure and no trailing bytes; Lotus's
    /// per-field rules (address, signatures, BigInts, cbor-gen length caps); and that re-encoding
    /// gives back the same bytes, so [`BlockHeader::cid`] equals the hash of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: HeaderWire = cbor::decode_tuple("BlockHeader", BLOCK_HEADER_FIELDS, bytes)?;
        let header = wire.into_header()?;
        cbor::ensure_canonical("BlockHeader", &header, bytes)?;
        Ok(header)
    }

    /// Decode and return the CID of `bytes` too (cheaper than [`BlockHeader::cid`], which
    /// re-encodes).
    pub fn decode_with_cid(bytes: &[u8]) -> Result<(Self, Cid), DecodeError> {
        let header = Self::decode(bytes)?;
        Ok((header, cbor::block_cid(bytes)))
    }

    /// The DAG-CBOR bytes. Fails only for values built in memory that no decoder would accept
    /// (a BigInt over 128 bytes).
    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("BlockHeader", self)
    }

    /// The block CID: CIDv1, DAG-CBOR, blake2b-256 of [`BlockHeader::to_cbor`].
    pub fn cid(&self) -> Result<Cid, EncodeError> {
        Ok(cbor::block_cid(&self.to_cbor()?))
    }

    /// The bytes the miner signs: the header with `BlockSig` set to null (lotus `SigningBytes`).
    pub fn signing_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut unsigned = self.clone();
        unsigned.block_sig = None;
        unsigned.to_cbor()
    }

    /// The election win count, 0 without an election proof (only genesis-like headers lack one;
    /// Lotus would dereference nil there).
    pub fn win_count(&self) -> i64 {
        self.election_proof.as_ref().map_or(0, |p| p.win_count)
    }

    /// blake2b-256 of the ticket's VRF proof: the key tipsets sort blocks by and the weight tie
    /// breaks on. A header without a ticket sorts as if its proof were empty.
    pub fn ticket_digest(&self) -> [u8; 32] {
        cbor::blake2b_256(self.ticket.as_ref().map_or(&[][..], |t| &t.vrf_proof))
    }
}

impl<'de> Deserialize<'de> for BlockHeader {
    /// Serde path (used when a header is nested in another message): same field rules as
    /// [`BlockHeader::decode`], but errors become strings and no canonical-form check is made.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        HeaderWire::deserialize(deserializer)?
            .into_header()
            .map_err(de::Error::custom)
    }
}

/// The header as it is on the wire, with the fields Lotus validates specially left raw.
#[derive(Deserialize_tuple)]
pub(super) struct HeaderWire {
    #[serde(with = "strict_bytes")]
    miner: Vec<u8>,
    ticket: Option<Ticket>,
    election_proof: Option<ElectionProof>,
    beacon_entries: Vec<BeaconEntry>,
    win_post_proof: Vec<PoStProof>,
    parents: Vec<Cid>,
    #[serde(with = "strict_bytes")]
    parent_weight: Vec<u8>,
    height: i64,
    parent_state_root: Cid,
    parent_message_receipts: Cid,
    messages: Cid,
    bls_aggregate: Option<BytesDe>,
    timestamp: u64,
    block_sig: Option<BytesDe>,
    fork_signaling: u64,
    #[serde(with = "strict_bytes")]
    parent_base_fee: Vec<u8>,
}

const WHAT: &str = "BlockHeader";

fn signature_field(
    field: &'static str,
    raw: Option<BytesDe>,
) -> Result<Option<Signature>, DecodeError> {
    raw.map(|bytes| Signature::from_bytes(&bytes.0))
        .transpose()
        .map_err(|source| DecodeError::Signature {
            what: WHAT,
            field,
            source,
        })
}

fn bigint_field(field: &'static str, raw: &[u8]) -> Result<BigInt, DecodeError> {
    bigint_from_bytes(raw).map_err(|source| DecodeError::BigInt {
        what: WHAT,
        field,
        source,
    })
}

impl HeaderWire {
    /// Apply Lotus's per-field rules (cbor-gen limits, go-address, go-state-types) and build the
    /// typed header.
    pub(super) fn into_header(self) -> Result<BlockHeader, DecodeError> {
        let bytes_limit = |field, len| cbor::check_len(WHAT, field, len, CBOR_GEN_MAX_BYTES);
        let array_limit = |field, len| cbor::check_len(WHAT, field, len, CBOR_GEN_MAX_ARRAY);

        let miner = Address::from_bytes(&self.miner).map_err(|source| DecodeError::Address {
            what: WHAT,
            field: "Miner",
            source,
        })?;
        if let Some(t) = &self.ticket {
            bytes_limit("Ticket.VRFProof", t.vrf_proof.len())?;
        }
        if let Some(p) = &self.election_proof {
            bytes_limit("ElectionProof.VRFProof", p.vrf_proof.len())?;
        }
        array_limit("BeaconEntries", self.beacon_entries.len())?;
        for entry in &self.beacon_entries {
            bytes_limit("BeaconEntries[].Data", entry.data.len())?;
        }
        array_limit("WinPoStProof", self.win_post_proof.len())?;
        for proof in &self.win_post_proof {
            bytes_limit("WinPoStProof[].ProofBytes", proof.proof_bytes.len())?;
        }
        array_limit("Parents", self.parents.len())?;

        Ok(BlockHeader {
            miner,
            ticket: self.ticket,
            election_proof: self.election_proof,
            beacon_entries: self.beacon_entries,
            win_post_proof: self.win_post_proof,
            parents: TipSetKey::new(self.parents),
            parent_weight: bigint_field("ParentWeight", &self.parent_weight)?,
            height: self.height,
            parent_state_root: self.parent_state_root,
            parent_message_receipts: self.parent_message_receipts,
            messages: self.messages,
            bls_aggregate: signature_field("BLSAggregate", self.bls_aggregate)?,
            timestamp: self.timestamp,
            block_sig: signature_field("BlockSig", self.block_sig)?,
            fork_signaling: self.fork_signaling,
            parent_base_fee: bigint_field("ParentBaseFee", &self.parent_base_fee)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::signature::{SignatureError, SignatureType};
    use super::*;

    /// The mainnet genesis header, 267 bytes (lotus-facts §5.1).
    pub(crate) const MAINNET_GENESIS_HEADER_HEX: &str = "904200008158205f8a03396b309a60fb7d3d33dd13483d05464bce5fd9d06171e7a8c280e24216820040818200582000000000000000000000000000000000000000000000000000000000000000008081d82a58250001711220107d821c25dc0735200249df94a8bebc9c8e489744f86a4ca8919e81f19dcd724000d82a5827000171a0e402208fbc07f7587e2efebab9ff1ab27c928881abf9d1b7e5ad5206781415615867aed82a5827000171a0e40220e5658b3d18cd06e1db9015b4b0ec55c123a24d5be1ea24d83938c5b8397b4f2fd82a5827000171a0e4022098307faeabdd208c1321be4c1ec84fbb952cd8424c24db0d5a96c8032fb2ce10f61a5f443860f600450005f5e100";

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) fn genesis_bytes() -> Vec<u8> {
        hex(MAINNET_GENESIS_HEADER_HEX)
    }

    #[test]
    fn mainnet_genesis_header_decodes_field_by_field() {
        let bytes = genesis_bytes();
        assert_eq!(bytes.len(), 267);
        let (h, cid) = BlockHeader::decode_with_cid(&bytes).unwrap();
        assert_eq!(
            cid.to_string(),
            "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2"
        );
        assert_eq!(h.cid().unwrap(), cid);
        assert_eq!(h.to_cbor().unwrap(), bytes);
        assert_eq!(h.miner.to_string(), "f00");
        assert_eq!(h.ticket.as_ref().unwrap().vrf_proof.len(), 32);
        assert_eq!(
            h.election_proof,
            Some(ElectionProof {
                win_count: 0,
                vrf_proof: vec![]
            })
        );
        assert_eq!(
            h.beacon_entries,
            vec![BeaconEntry {
                round: 0,
                data: vec![0; 32]
            }]
        );
        assert!(h.win_post_proof.is_empty());
        assert_eq!(h.parents.cids().len(), 1);
        assert_eq!(
            h.parents.cids()[0].to_string(),
            "bafyreiaqpwbbyjo4a42saasj36kkrpv4tsherf2e7bvezkert2a7dhonoi"
        );
        assert_eq!(h.parent_weight, BigInt::from(0));
        assert_eq!(h.height, 0);
        assert_eq!(
            h.parent_state_root.to_string(),
            "bafy2bzacech3yb7xlb7c57v2xh7rvmt4skeidk7z2g36llksaz4biflblbt24"
        );
        assert_eq!(h.bls_aggregate, None);
        assert_eq!(h.block_sig, None);
        assert_eq!(h.timestamp, 1598306400);
        assert_eq!(h.fork_signaling, 0);
        assert_eq!(h.parent_base_fee, BigInt::from(100_000_000));
        assert_eq!(h.win_count(), 0);
        // BlockSig is already null, so the signing bytes are the block bytes.
        assert_eq!(h.signing_bytes().unwrap(), bytes);
    }

    #[test]
    fn wrong_field_count_and_trailing_bytes_are_typed() {
        let mut bytes = genesis_bytes();
        bytes.push(0x00);
        assert_eq!(
            BlockHeader::decode(&bytes).unwrap_err(),
            DecodeError::TrailingBytes {
                what: "BlockHeader"
            }
        );

        // 0x90 -> 0x8f: claims 15 fields.
        let mut fifteen = genesis_bytes();
        fifteen[0] = 0x8f;
        assert_eq!(
            BlockHeader::decode(&fifteen).unwrap_err(),
            DecodeError::WrongFieldCount {
                what: "BlockHeader",
                expected: 16,
                found: 15
            }
        );
        // 17 fields: append one more uint after the header body.
        let mut seventeen = genesis_bytes();
        seventeen[0] = 0x91;
        seventeen.push(0x00);
        assert!(matches!(
            BlockHeader::decode(&seventeen).unwrap_err(),
            DecodeError::WrongFieldCount { found: 17, .. }
        ));
        assert!(matches!(
            BlockHeader::decode(&[0xa0]).unwrap_err(),
            DecodeError::NotAnArray { found: 0xa0, .. }
        ));
        assert!(matches!(
            BlockHeader::decode(&bytes[..100]).unwrap_err(),
            DecodeError::Cbor { .. }
        ));
    }

    /// Replace the last field (ParentBaseFee) and BlockSig of the genesis header by building a
    /// header in memory, then corrupt single bytes of its encoding.
    #[test]
    fn field_rules_are_typed() {
        let genesis = BlockHeader::decode(&genesis_bytes()).unwrap();

        let mut signed = genesis.clone();
        signed.block_sig = Some(Signature::new(SignatureType::Bls, vec![0x11; 96]).unwrap());
        let bytes = signed.to_cbor().unwrap();
        assert_eq!(BlockHeader::decode(&bytes).unwrap(), signed);
        assert_ne!(signed.signing_bytes().unwrap(), bytes);
        assert_eq!(signed.signing_bytes().unwrap(), genesis_bytes());

        // The BlockSig byte string is `58 61 02 <96 bytes>`: make the type byte 9.
        let pos = bytes
            .windows(3)
            .position(|w| w == [0x58, 0x61, 0x02])
            .unwrap();
        let mut bad_type = bytes.clone();
        bad_type[pos + 2] = 9;
        assert_eq!(
            BlockHeader::decode(&bad_type).unwrap_err(),
            DecodeError::Signature {
                what: "BlockHeader",
                field: "BlockSig",
                source: SignatureError::UnknownType(9)
            }
        );

        // An empty BLSAggregate byte string (0x40 instead of null 0xf6 right after the timestamp).
        let mut empty_sig = genesis_bytes();
        let ts = empty_sig
            .windows(5)
            .position(|w| w == [0x1a, 0x5f, 0x44, 0x38, 0x60])
            .unwrap();
        assert_eq!(empty_sig[ts - 1], 0xf6); // BLSAggregate
        empty_sig[ts - 1] = 0x40;
        assert_eq!(
            BlockHeader::decode(&empty_sig).unwrap_err(),
            DecodeError::Signature {
                what: "BlockHeader",
                field: "BLSAggregate",
                source: SignatureError::Empty
            }
        );

        // ParentBaseFee `45 00 05 f5 e1 00`: a sign byte of 2.
        let mut bad_sign = genesis_bytes();
        let n = bad_sign.len();
        bad_sign[n - 5] = 0x02;
        assert!(matches!(
            BlockHeader::decode(&bad_sign).unwrap_err(),
            DecodeError::BigInt {
                field: "ParentBaseFee",
                ..
            }
        ));

        // A ParentBaseFee with a leading zero byte decodes in Lotus but is not canonical.
        let mut padded = genesis_bytes();
        let n = padded.len();
        padded.splice(n - 6.., [0x46, 0x00, 0x00, 0x05, 0xf5, 0xe1, 0x00]);
        assert_eq!(
            BlockHeader::decode(&padded).unwrap_err(),
            DecodeError::NonCanonical {
                what: "BlockHeader"
            }
        );

        // A non-minimal timestamp (uint64 form of a value that fits in 4 bytes).
        let mut wide_ts = genesis_bytes();
        wide_ts.splice(ts..ts + 5, [0x1b, 0, 0, 0, 0, 0x5f, 0x44, 0x38, 0x60]);
        assert!(matches!(
            BlockHeader::decode(&wide_ts).unwrap_err(),
            DecodeError::NonCanonical { .. } | DecodeError::Cbor { .. }
        ));

        // Miner `42 00 00` -> protocol 7.
        let mut bad_miner = genesis_bytes();
        bad_miner[2] = 0x07;
        assert!(matches!(
            BlockHeader::decode(&bad_miner).unwrap_err(),
            DecodeError::Address { field: "Miner", .. }
        ));
    }

    #[test]
    fn cbor_gen_array_caps_are_enforced() {
        let mut h = BlockHeader::decode(&genesis_bytes()).unwrap();
        h.beacon_entries = vec![
            BeaconEntry {
                round: 1,
                data: vec![]
            };
            CBOR_GEN_MAX_ARRAY + 1
        ];
        let bytes = h.to_cbor().unwrap();
        assert_eq!(
            BlockHeader::decode(&bytes).unwrap_err(),
            DecodeError::Oversized {
                what: "BlockHeader",
                field: "BeaconEntries",
                len: 8193,
                max: 8192
            }
        );
        h.beacon_entries.truncate(CBOR_GEN_MAX_ARRAY);
        assert!(BlockHeader::decode(&h.to_cbor().unwrap()).is_ok());
    }

    #[test]
    fn oversized_bigint_cannot_be_encoded() {
        let mut h = BlockHeader::decode(&genesis_bytes()).unwrap();
        h.parent_weight = BigInt::from(1) << (8 * 128);
        assert!(h.to_cbor().is_err());
        assert!(h.cid().is_err());
    }
}
