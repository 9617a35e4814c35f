//! Synthetic but real-format block headers: valid CBOR and CIDs, parents, parent weights by the
//! weight formula, tickets, election proofs, beacon entries and signatures derived from labels.
//! Used by the devnet's miners and by the follower's tests, so both mine the same kind of block.

use lsync_core::chain::cbor::blake2b_256;
use lsync_core::chain::weight::tipset_weight;
use lsync_core::chain::{
    Address, BeaconEntry, BlockHeader, BlockMessages, ElectionProof, Message, MsgMeta, PoStProof, Signature,
    SignatureType, SignedMessage, Ticket, TipSet,
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

/// Message `index` of the pool an epoch's blocks draw from (`label` names the epoch): even
/// indexes are BLS messages (unsigned on chain, their signatures aggregated into the header),
/// odd ones secp256k1-signed; sends and method calls with params, Lotus's field shapes.
pub(crate) fn pool_message(label: &str, index: u64) -> Result<(Option<Message>, Option<SignedMessage>), String> {
    let sender = 2000 + index % 7;
    let params = if index % 3 == 0 { Vec::new() } else { bytes(&format!("params/{label}/{index}"), 40 + (index as usize % 5) * 24) };
    let message = Message {
        version: 0,
        to: Address::new_id(3000 + index % 11).map_err(|e| e.to_string())?,
        from: Address::new_id(sender).map_err(|e| e.to_string())?,
        nonce: index,
        value: BigInt::from(10u64.pow(15)) * BigInt::from(index + 1),
        gas_limit: 10_000_000 + index as i64 * 1_000,
        gas_fee_cap: BigInt::from(100_000_000u64 + index),
        gas_premium: BigInt::from(99_000u64 + index),
        method: if params.is_empty() { 0 } else { 2 + index % 4 },
        params,
    };
    if index % 2 == 0 {
        Ok((Some(message), None))
    } else {
        let signature = Signature::new(SignatureType::Secp256k1, bytes(&format!("secp/{label}/{index}"), 65)).map_err(|e| e.to_string())?;
        Ok((None, Some(SignedMessage { message, signature })))
    }
}

/// A block's messages: the pool entries `picks` (indexes) of the epoch `label`.
pub(crate) fn block_messages(label: &str, picks: &[u64]) -> Result<BlockMessages, String> {
    let mut out = BlockMessages::default();
    for &i in picks {
        match pool_message(label, i)? {
            (Some(m), _) => out.bls.push(m),
            (_, Some(s)) => out.secpk.push(s),
            _ => {}
        }
    }
    Ok(out)
}

/// The `Messages` CID of a block carrying `messages`.
pub(crate) fn msg_meta_cid(messages: &BlockMessages) -> Result<cid::Cid, String> {
    if messages.is_empty() {
        return empty_msg_meta();
    }
    let (bls, secpk) = messages.cids().map_err(|e| e.to_string())?;
    MsgMeta::from_lists(&bls, &secpk).and_then(|m| m.cid()).map_err(|e| e.to_string())
}
