//! Tipsets (lotus `chain/types/tipset.go`); their keys are in [`super::tipset_key`].
//!
//! A tipset is the set of blocks at one height that share the same parents. Lotus keeps its blocks
//! sorted by blake2b-256 of each ticket's VRF proof (ties by CID bytes); the key, the "first"
//! block, the weight tie-break and every log line that prints a tipset depend on that order.

use std::fmt;

use cid::Cid;
use num_bigint::BigInt;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::address::Network;
use super::bigint::bigint_decimal;
use super::error::EncodeError;
use super::header::BlockHeader;
pub use super::tipset_key::{CidList, TipSetKey};

/// Why a set of headers does not form a tipset (lotus `NewTipSet`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TipSetError {
    #[error("a tipset needs at least one block")]
    Empty,
    #[error("block {cid} is at height {found}, the tipset at {expected}")]
    MismatchedHeight {
        cid: Box<Cid>,
        expected: i64,
        found: i64,
    },
    #[error("block {cid} has parents {found}, the tipset {expected}")]
    MismatchedParents {
        cid: Box<Cid>,
        expected: TipSetKey,
        found: TipSetKey,
    },
    #[error("block {0} appears twice")]
    DuplicateBlock(Box<Cid>),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// A validated, ticket-sorted tipset. The headers are shared: a clone (the chain store, a head
/// change's path, the served chain all hold the same tipsets) copies no header.
#[derive(Clone, PartialEq, Eq)]
pub struct TipSet {
    blocks: std::sync::Arc<[BlockHeader]>,
    key: TipSetKey,
}

impl TipSet {
    /// Build a tipset from headers in any order, computing each block's CID by encoding it.
    pub fn new(blocks: Vec<BlockHeader>) -> Result<Self, TipSetError> {
        let with_cids = blocks
            .into_iter()
            .map(|h| Ok((h.cid()?, h)))
            .collect::<Result<Vec<_>, EncodeError>>()?;
        Self::from_blocks_with_cids(with_cids)
    }

    /// Build a tipset from headers whose CIDs are already known (e.g. from
    /// [`BlockHeader::decode_with_cid`]); the CIDs are trusted, not recomputed.
    ///
    /// Validates what Lotus's `NewTipSet` validates — same height, identical parents — and also
    /// refuses duplicate blocks. It does not compare ParentWeight or ParentStateRoot: Lotus leaves
    /// that to block validation, and so do we.
    pub fn from_blocks_with_cids(mut blocks: Vec<(Cid, BlockHeader)>) -> Result<Self, TipSetError> {
        let Some((_, first)) = blocks.first() else {
            return Err(TipSetError::Empty);
        };
        let (height, parents) = (first.height, first.parents.clone());
        for (cid, header) in &blocks {
            if header.height != height {
                return Err(TipSetError::MismatchedHeight {
                    cid: Box::new(*cid),
                    expected: height,
                    found: header.height,
                });
            }
            if header.parents != parents {
                return Err(TipSetError::MismatchedParents {
                    cid: Box::new(*cid),
                    expected: parents.clone(),
                    found: header.parents.clone(),
                });
            }
        }
        blocks.sort_by_cached_key(|(cid, header)| (header.ticket_digest(), cid.to_bytes()));
        if let Some(pair) = blocks.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(TipSetError::DuplicateBlock(Box::new(pair[0].0)));
        }
        let (cids, blocks): (Vec<Cid>, Vec<BlockHeader>) = blocks.into_iter().unzip();
        Ok(Self {
            blocks: blocks.into(),
            key: TipSetKey(cids),
        })
    }

    /// The headers in ticket order.
    pub fn blocks(&self) -> &[BlockHeader] {
        &self.blocks
    }

    /// The block CIDs in ticket order.
    pub fn cids(&self) -> &[Cid] {
        self.key.cids()
    }

    pub fn key(&self) -> &TipSetKey {
        &self.key
    }

    pub fn height(&self) -> i64 {
        self.blocks[0].height
    }

    pub fn parents(&self) -> &TipSetKey {
        &self.blocks[0].parents
    }

    /// ParentWeight of the first (lowest-ticket) block, which is what Lotus reports for the tipset.
    pub fn parent_weight(&self) -> &BigInt {
        &self.blocks[0].parent_weight
    }

    pub fn parent_state_root(&self) -> &Cid {
        &self.blocks[0].parent_state_root
    }

    /// The block with the smallest ticket (Lotus `MinTicketBlock`).
    pub fn min_ticket_block(&self) -> &BlockHeader {
        &self.blocks[0]
    }

    /// The earliest block timestamp (Lotus `MinTimestamp`).
    pub fn min_timestamp(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| b.timestamp)
            .min()
            .unwrap_or_default()
    }

    /// ΣWinCount over the blocks: the tipset's election term in the weight function.
    pub fn win_count_sum(&self) -> i64 {
        self.blocks.iter().map(BlockHeader::win_count).sum()
    }

    /// The CIDs printed as Lotus prints a tipset: `[a b]`.
    pub fn display_cids(&self) -> CidList<'_> {
        CidList(self.cids())
    }

    /// One row of a human-readable chain table.
    pub fn summary(&self, network: Network) -> TipSetSummary {
        TipSetSummary {
            height: self.height(),
            cids: self.cids().iter().map(Cid::to_string).collect(),
            miners: self
                .blocks
                .iter()
                .map(|b| b.miner.to_string_on(network))
                .collect(),
            parents: self.parents().cids().iter().map(Cid::to_string).collect(),
            parent_weight: bigint_decimal(self.parent_weight()),
            win_count_sum: self.win_count_sum(),
            min_timestamp: self.min_timestamp(),
        }
    }
}

/// Lotus's `TipSet.String`: the CID list, `[a b]`.
impl fmt::Display for TipSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_cids().fmt(f)
    }
}

impl fmt::Debug for TipSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TipSet(h={} {})", self.height(), self.display_cids())
    }
}

/// A tipset flattened for tables and JSON: CIDs and miners in ticket order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipSetSummary {
    pub height: i64,
    pub cids: Vec<String>,
    pub miners: Vec<String>,
    pub parents: Vec<String>,
    pub parent_weight: String,
    pub win_count_sum: i64,
    pub min_timestamp: u64,
}

/// What the chain-walking algorithms need from a tipset. Implemented by [`TipSet`]; tests and
/// callers with their own tipset records (e.g. rows from a journal) implement it too, so the
/// algorithms stay independent of where tipsets are stored.
pub trait TipSetLike {
    fn key(&self) -> &TipSetKey;
    fn height(&self) -> i64;
    fn parents(&self) -> &TipSetKey;
}

impl TipSetLike for TipSet {
    fn key(&self) -> &TipSetKey {
        TipSet::key(self)
    }
    fn height(&self) -> i64 {
        TipSet::height(self)
    }
    fn parents(&self) -> &TipSetKey {
        TipSet::parents(self)
    }
}

impl<T: TipSetLike + ?Sized> TipSetLike for &T {
    fn key(&self) -> &TipSetKey {
        (**self).key()
    }
    fn height(&self) -> i64 {
        (**self).height()
    }
    fn parents(&self) -> &TipSetKey {
        (**self).parents()
    }
}

impl<T: TipSetLike + ?Sized> TipSetLike for std::sync::Arc<T> {
    fn key(&self) -> &TipSetKey {
        (**self).key()
    }
    fn height(&self) -> i64 {
        (**self).height()
    }
    fn parents(&self) -> &TipSetKey {
        (**self).parents()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::header::tests::genesis_bytes;
    use super::super::header::Ticket;
    use super::*;

    /// Distinct headers at one height with the same parents, differing in ticket and miner.
    pub(crate) fn sibling(ticket: &[u8], miner: u64) -> BlockHeader {
        let mut h = BlockHeader::decode(&genesis_bytes()).unwrap();
        h.height = 10;
        h.ticket = Some(Ticket {
            vrf_proof: ticket.to_vec(),
        });
        h.miner = super::super::address::Address::new_id(miner).unwrap();
        h
    }

    #[test]
    fn key_and_cid_list_print_like_lotus() {
        let a: Cid = "bafy2bzacedlgv5y67neipi4nlhjxmh74qeb4l5s6bm4uup2tvr7ztyo2vh2rs"
            .parse()
            .unwrap();
        let b: Cid = "bafy2bzacece6lib6yr2pnaykwy6zumjuyswormkxh43kosj4mc4ilnw2l26zw"
            .parse()
            .unwrap();
        let key = TipSetKey::new(vec![a, b]);
        assert_eq!(
            key.to_string(),
            "{bafy2bzacedlgv5y67neipi4nlhjxmh74qeb4l5s6bm4uup2tvr7ztyo2vh2rs,bafy2bzacece6lib6yr2pnaykwy6zumjuyswormkxh43kosj4mc4ilnw2l26zw}"
        );
        assert_eq!(
            CidList(key.cids()).to_string(),
            "[bafy2bzacedlgv5y67neipi4nlhjxmh74qeb4l5s6bm4uup2tvr7ztyo2vh2rs bafy2bzacece6lib6yr2pnaykwy6zumjuyswormkxh43kosj4mc4ilnw2l26zw]"
        );
        assert_eq!(TipSetKey::default().to_string(), "{}");
        assert_eq!(CidList(&[]).to_string(), "[]");
        assert_eq!(key.to_bytes().len(), 2 * 38);
        // CBOR: an array of tag-42 CIDs.
        let cbor = serde_ipld_dagcbor::to_vec(&key).unwrap();
        assert_eq!(&cbor[..3], &[0x82, 0xd8, 0x2a]);
        assert_eq!(
            serde_ipld_dagcbor::from_slice::<TipSetKey>(&cbor).unwrap(),
            key
        );
        assert!(key.cid().unwrap().to_string().starts_with("bafy2bzace"));
    }

    #[test]
    fn blocks_are_sorted_by_ticket_digest_whatever_the_input_order() {
        let blocks: Vec<BlockHeader> = (0u8..5)
            .map(|i| sibling(&[i; 8], 1000 + u64::from(i)))
            .collect();
        let mut expected: Vec<_> = blocks
            .iter()
            .map(|b| (b.ticket_digest(), b.cid().unwrap()))
            .collect();
        expected.sort();
        let forward = TipSet::new(blocks.clone()).unwrap();
        let backward = TipSet::new(blocks.into_iter().rev().collect()).unwrap();
        assert_eq!(forward, backward);
        assert_eq!(
            forward.cids(),
            expected.iter().map(|(_, c)| *c).collect::<Vec<_>>()
        );
        assert_eq!(forward.height(), 10);
        assert_eq!(forward.blocks().len(), 5);
    }

    #[test]
    fn equal_tickets_fall_back_to_cid_bytes() {
        let a = sibling(b"same", 1000);
        let b = sibling(b"same", 1001);
        let (ca, cb) = (a.cid().unwrap(), b.cid().unwrap());
        let ts = TipSet::new(vec![a, b]).unwrap();
        let mut expected = vec![ca, cb];
        expected.sort_by_key(Cid::to_bytes);
        assert_eq!(ts.cids(), expected);
    }

    #[test]
    fn rejects_what_lotus_new_tipset_rejects() {
        assert_eq!(TipSet::new(vec![]).unwrap_err(), TipSetError::Empty);
        let a = sibling(b"a", 1000);
        let mut higher = sibling(b"b", 1001);
        higher.height = 11;
        assert!(matches!(
            TipSet::new(vec![a.clone(), higher]),
            Err(TipSetError::MismatchedHeight { .. })
        ));
        let mut other_parent = sibling(b"c", 1002);
        other_parent.parents = TipSetKey::new(vec![a.cid().unwrap()]);
        assert!(matches!(
            TipSet::new(vec![a.clone(), other_parent]),
            Err(TipSetError::MismatchedParents { .. })
        ));
        assert!(matches!(
            TipSet::new(vec![a.clone(), a]),
            Err(TipSetError::DuplicateBlock(_))
        ));
    }
}
