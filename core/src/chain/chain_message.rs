//! Chain messages (lotus `chain/types/message.go`, `signedmessage.go`, `blockmsg`'s `MsgMeta`):
//! what chain exchange returns in `CompactedMessages` and gossip carries on `/fil/msgs/<net>`.
//!
//! Fully typed rather than kept as raw CBOR: the types are small and typing them lets a caller
//! count, attribute (From/To) and price (GasFeeCap/GasPremium) messages without another decoder.

use cid::Cid;
use fvm_ipld_encoding::strict_bytes;
use fvm_ipld_encoding::tuple::*;
use num_bigint::BigInt;

use super::address::Address;
use super::bigint::bigint_bytes;
use super::cbor;
use super::error::{DecodeError, EncodeError};
use super::signature::{Signature, SignatureType};

/// An unsigned message: a CBOR tuple of 10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Message {
    pub version: u64,
    pub to: Address,
    pub from: Address,
    pub nonce: u64,
    #[serde(with = "bigint_bytes")]
    pub value: BigInt,
    pub gas_limit: i64,
    #[serde(with = "bigint_bytes")]
    pub gas_fee_cap: BigInt,
    #[serde(with = "bigint_bytes")]
    pub gas_premium: BigInt,
    pub method: u64,
    #[serde(with = "strict_bytes")]
    pub params: Vec<u8>,
}

impl Message {
    pub const FIELDS: u64 = 10;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("Message", Self::FIELDS, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("Message", self)
    }

    /// The message CID: blake2b-256 DAG-CBOR CID of its encoding.
    pub fn cid(&self) -> Result<Cid, EncodeError> {
        Ok(cbor::block_cid(&self.to_cbor()?))
    }
}

/// `[Message, Signature]`: a message with its sender's signature (never null here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SignedMessage {
    pub message: Message,
    pub signature: Signature,
}

impl SignedMessage {
    pub const FIELDS: u64 = 2;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("SignedMessage", Self::FIELDS, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("SignedMessage", self)
    }

    /// Lotus's rule: a BLS-signed message is identified by its *unsigned* message CID (BLS
    /// signatures are aggregated into the block, so the signed form never appears on chain);
    /// any other is identified by the CID of the signed encoding.
    pub fn cid(&self) -> Result<Cid, EncodeError> {
        if self.signature.sig_type() == SignatureType::Bls {
            self.message.cid()
        } else {
            Ok(cbor::block_cid(&self.to_cbor()?))
        }
    }
}

/// One block's messages, in the order its header's MsgMeta lists them: BLS messages unsigned
/// (their signatures are aggregated into the header), the others signed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockMessages {
    pub bls: Vec<Message>,
    pub secpk: Vec<SignedMessage>,
}

impl BlockMessages {
    /// The CIDs of the two lists, as a BlockMsg names them.
    pub fn cids(&self) -> Result<(Vec<Cid>, Vec<Cid>), EncodeError> {
        let bls = self.bls.iter().map(Message::cid).collect::<Result<_, _>>()?;
        let secpk = self.secpk.iter().map(SignedMessage::cid).collect::<Result<_, _>>()?;
        Ok((bls, secpk))
    }

    /// Whether these are exactly the messages `bls` and `secpk` name, in order: what Lotus
    /// checks of messages fetched for a gossiped block (its lists already hashed to the
    /// header's `Messages`), so they are that block's and nothing else.
    pub fn matches(&self, bls: &[Cid], secpk: &[Cid]) -> bool {
        match self.cids() {
            Ok((b, s)) => b == bls && s == secpk,
            Err(_) => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bls.is_empty() && self.secpk.is_empty()
    }

    /// Roughly the memory the messages hold (params and signatures dominate), for caches
    /// that bound bytes rather than counts.
    pub fn approx_bytes(&self) -> usize {
        let message = |m: &Message| 160 + m.params.len();
        self.bls.iter().map(message).sum::<usize>()
            + self.secpk.iter().map(|s| message(&s.message) + 8 + s.signature.data().len()).sum::<usize>()
    }
}

/// `[BlsMessages, SecpkMessages]`: the AMT roots a header's `Messages` CID points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct MsgMeta {
    pub bls_messages: Cid,
    pub secpk_messages: Cid,
}

impl MsgMeta {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("MsgMeta", 2, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("MsgMeta", self)
    }

    pub fn cid(&self) -> Result<Cid, EncodeError> {
        Ok(cbor::block_cid(&self.to_cbor()?))
    }

    /// The MsgMeta of two message CID lists, as Lotus's `validateMsgMeta` builds it: each list
    /// stored in a v0 AMT (go-amt-ipld v2, the `blockadt` array of specs-actors v0) in an
    /// in-memory store, the two roots paired. Its [`cid`](Self::cid) must equal a header's
    /// `Messages` for the lists to be that block's.
    pub fn from_lists(bls: &[Cid], secpk: &[Cid]) -> Result<Self, EncodeError> {
        Ok(Self {
            bls_messages: amt_v0_root(bls)?,
            secpk_messages: amt_v0_root(secpk)?,
        })
    }
}

/// The CIDs a v0 AMT rooted at `root` holds, in index order: what a MsgMeta's two roots name
/// (the inverse of [`MsgMeta::from_lists`]); `store` holds the AMT's nodes, e.g. a CAR's blocks.
pub fn amt_v0_cids<BS: fvm_ipld_blockstore::Blockstore>(root: &Cid, store: &BS) -> Result<Vec<Cid>, DecodeError> {
    let amt_err = |e: fvm_ipld_amt::Error| DecodeError::Cbor { what: "MsgMeta AMT", message: e.to_string() };
    let amt = fvm_ipld_amt::Amtv0::<Cid, _>::load(root, store).map_err(amt_err)?;
    let mut out = Vec::new();
    amt.for_each(|_, c| {
        out.push(*c);
        Ok(())
    })
    .map_err(amt_err)?;
    Ok(out)
}

/// The root CID of a v0 AMT holding `cids` at indexes 0, 1, … (fvm_ipld_amt's `Amtv0`, the
/// field's implementation of go-amt-ipld v2; not hand-written).
fn amt_v0_root(cids: &[Cid]) -> Result<Cid, EncodeError> {
    let store = fvm_ipld_blockstore::MemoryBlockstore::new();
    let mut amt = fvm_ipld_amt::Amtv0::<Cid, _>::new(&store);
    let amt_err = |e: fvm_ipld_amt::Error| EncodeError { what: "MsgMeta AMT", message: e.to_string() };
    amt.batch_set(cids.iter().copied()).map_err(amt_err)?;
    amt.flush().map_err(amt_err)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_message(nonce: u64) -> Message {
        Message {
            version: 0,
            to: Address::new_id(1000).unwrap(),
            from: "f12fiakbhe2gwd5cnmrenekasyn6v5tnaxaqizq6a".parse().unwrap(),
            nonce,
            value: BigInt::from(10).pow(18),
            gas_limit: 1_000_000,
            gas_fee_cap: BigInt::from(100_000_000),
            gas_premium: BigInt::from(99_000),
            method: 2,
            params: vec![0x80],
        }
    }

    pub(crate) fn sample_signed(nonce: u64, sig_type: SignatureType) -> SignedMessage {
        let len = sig_type.expected_len().unwrap_or(65);
        SignedMessage {
            message: sample_message(nonce),
            signature: Signature::new(sig_type, vec![9; len]).unwrap(),
        }
    }

    #[test]
    fn message_round_trips_and_has_ten_fields() {
        let m = sample_message(7);
        let bytes = m.to_cbor().unwrap();
        assert_eq!(bytes[0], 0x8a);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        assert!(m.cid().unwrap().to_string().starts_with("bafy2bzace"));
        let mut nine = bytes.clone();
        nine[0] = 0x89;
        assert_eq!(
            Message::decode(&nine).unwrap_err(),
            DecodeError::WrongFieldCount {
                what: "Message",
                expected: 10,
                found: 9
            }
        );
    }

    #[test]
    fn signed_message_cid_follows_the_bls_rule() {
        let bls = sample_signed(1, SignatureType::Bls);
        assert_eq!(bls.cid().unwrap(), bls.message.cid().unwrap());
        let secp = sample_signed(1, SignatureType::Secp256k1);
        assert_ne!(secp.cid().unwrap(), secp.message.cid().unwrap());
        assert_eq!(
            secp.cid().unwrap(),
            cbor::block_cid(&secp.to_cbor().unwrap())
        );
        assert_eq!(
            SignedMessage::decode(&secp.to_cbor().unwrap()).unwrap(),
            secp
        );
        // A null signature is not a SignedMessage.
        let mut null_sig = cbor::encode("t", &(sample_message(1), ())).unwrap();
        assert_eq!(*null_sig.last().unwrap(), 0xf6);
        null_sig[0] = 0x82;
        assert!(SignedMessage::decode(&null_sig).is_err());
    }

    #[test]
    fn msg_meta_of_lists_depends_on_every_cid_and_its_order() {
        let a = cbor::block_cid(b"a");
        let b = cbor::block_cid(b"b");
        let meta = MsgMeta::from_lists(&[a, b], &[]).unwrap();
        assert_eq!(meta, MsgMeta::from_lists(&[a, b], &[]).unwrap());
        assert_ne!(meta.cid().unwrap(), MsgMeta::from_lists(&[b, a], &[]).unwrap().cid().unwrap(), "order");
        assert_ne!(meta.cid().unwrap(), MsgMeta::from_lists(&[], &[a, b]).unwrap().cid().unwrap(), "which list");
        assert_ne!(meta.cid().unwrap(), MsgMeta::from_lists(&[a], &[]).unwrap().cid().unwrap(), "count");
        // Two empty v0 AMTs: the same root, a DAG-CBOR blake2b CID.
        let empty = MsgMeta::from_lists(&[], &[]).unwrap();
        assert_eq!(empty.bls_messages, empty.secpk_messages);
        assert!(empty.bls_messages.to_string().starts_with("bafy2bzace"));
    }

    #[test]
    fn msg_meta_round_trips() {
        let a = cbor::block_cid(b"a");
        let b = cbor::block_cid(b"b");
        let meta = MsgMeta {
            bls_messages: a,
            secpk_messages: b,
        };
        assert_eq!(MsgMeta::decode(&meta.to_cbor().unwrap()).unwrap(), meta);
    }
}
