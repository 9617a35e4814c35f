//! Synthetic but real-format block headers: valid CBOR and CIDs, parents, parent weights by the
//! weight formula, tickets, election proofs, beacon entries and signatures derived from labels.
//! Used by the devnet's miners and by the follower's tests, so both mine the same kind of block.

use lsync_core::chain::cbor::blake2b_256;
use lsync_core::chain::weight::tipset_weight;
use lsync_core::chain::{
    Address, BeaconEntry, BlockHeader, ElectionProof, MsgMeta, PoStProof, Signature, SignatureType,
    Ticket, TipSet,
};
use lsync_core::chain::cbor::block_cid;
use num_bigint::BigInt;

/// `n` deterministic bytes derived from `label` (blake2b-256 in counter mode).
pub(crate) fn bytes(label: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut counter = 0u32;
    while out.len() < n {
        out.extend_from_slice(&blake2b_256(format!("{label}/{counter}").as_bytes()));
        counter += 1;
    }
    out.truncate(n);
    out
}

/// A BLS-typed signature of deterministic bytes.
pub(crate) fn bls(label: &str) -> Result<Signature, String> {
    Signature::new(SignatureType::Bls, bytes(label, 96)).map_err(|e| e.to_string())
}

/// What varies between synthetic blocks.
pub(crate) struct BlockSpec<'a> {
    pub parent: &'a TipSet,
    pub height: i64,
    pub miner_id: u64,
    pub wins: i64,
    /// Makes the block's ticket, proofs and signatures (and so its tipset position) unique.
    pub label: &'a str,
    pub beacon_round: u64,
    pub beacon_label: String,
    pub timestamp: u64,
    /// `L` of the weight formula (bit length of the network power minus one).
    pub power_log2: u64,
}

/// The `Messages` CID of a block without messages.
pub(crate) fn empty_msg_meta() -> Result<cid::Cid, String> {
    static EMPTY: std::sync::OnceLock<Result<cid::Cid, String>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| MsgMeta::from_lists(&[], &[]).and_then(|m| m.cid()).map_err(|e| e.to_string()))
        .clone()
}

/// Builds the header `spec` describes.
pub(crate) fn header(spec: BlockSpec<'_>) -> Result<BlockHeader, String> {
    let BlockSpec { parent, height, miner_id, wins, label, beacon_round, beacon_label, timestamp, power_log2 } = spec;
    Ok(BlockHeader {
        miner: Address::new_id(miner_id).map_err(|e| e.to_string())?,
        ticket: Some(Ticket { vrf_proof: bytes(&format!("ticket/{label}"), 96) }),
        election_proof: Some(ElectionProof { win_count: wins, vrf_proof: bytes(&format!("election/{label}"), 96) }),
        beacon_entries: vec![BeaconEntry { round: beacon_round, data: bytes(&beacon_label, 96) }],
        win_post_proof: vec![PoStProof { post_proof: 3, proof_bytes: bytes(&format!("post/{label}"), 192) }],
        parents: parent.key().clone(),
        parent_weight: tipset_weight(parent, power_log2),
        height,
        parent_state_root: block_cid(format!("state/{}", parent.key()).as_bytes()),
        parent_message_receipts: block_cid(format!("receipts/{}", parent.key()).as_bytes()),
        // Synthetic blocks carry no messages: `Messages` is the MsgMeta of two empty lists, so
        // a BlockMsg with empty lists passes Lotus's `validateMsgMeta` as a real one does.
        messages: empty_msg_meta()?,
        bls_aggregate: Some(bls(&format!("aggregate/{label}"))?),
        timestamp,
        block_sig: Some(bls(&format!("sig/{label}"))?),
        fork_signaling: 0,
        parent_base_fee: BigInt::from(100_000_000),
    })
}
