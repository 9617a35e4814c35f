//! Find the chain in a CAR: every block that is a Filecoin block header, grouped into tipsets.
//!
//! A snapshot or genesis CAR mixes headers with state-tree blocks. We try to decode DAG-CBOR
//! blocks that start with `0x90` (a 16-element array) as headers and keep those whose CID is
//! the blake2b-256 CID of their bytes — i.e. the CID Lotus would give the decoded header. Other
//! 16-element state objects fail one of those tests and are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use cid::Cid;
use serde::{Deserialize, Serialize};

use super::address::Network;
use super::bigint::bigint_decimal;
use super::car::{CarError, CarReader};
use super::cbor::{self, DAG_CBOR};
use super::header::BlockHeader;
use super::tipset::{TipSet, TipSetError, TipSetKey, TipSetSummary};

/// The roots of a CAR and the block headers found in it.
#[derive(Debug, Clone)]
pub struct ChainHeaders {
    pub roots: Vec<Cid>,
    /// Headers with their CIDs, ordered by height, then CID string.
    pub headers: Vec<(Cid, BlockHeader)>,
    /// How many blocks the CAR held in total (headers and everything else).
    pub blocks_read: u64,
}

/// Read a whole CAR (verifying every block's hash) and collect its block headers.
pub fn read_chain_headers<R: Read>(reader: R) -> Result<ChainHeaders, CarError> {
    let mut car = CarReader::new(reader)?;
    let roots = car.roots().to_vec();
    let mut headers = Vec::new();
    let mut blocks_read = 0u64;
    while let Some(block) = car.next_block()? {
        blocks_read += 1;
        if block.cid.codec() != DAG_CBOR || block.data.first() != Some(&0x90) {
            continue;
        }
        let Ok(header) = BlockHeader::decode(&block.data) else {
            continue;
        };
        // decode() guarantees the canonical re-encoding equals the bytes, so this is the CID
        // Lotus computes for the decoded header.
        if cbor::block_cid(&block.data) == block.cid {
            headers.push((block.cid, header));
        }
    }
    headers.sort_by_cached_key(|(cid, header)| (header.height, cid.to_string()));
    Ok(ChainHeaders {
        roots,
        headers,
        blocks_read,
    })
}

impl ChainHeaders {
    /// The serialisable report (see [`HeaderReport`]); miners use the given network letter.
    pub fn report(&self, network: Network) -> HeaderReport {
        HeaderReport {
            roots: self.roots.iter().map(Cid::to_string).collect(),
            headers: self
                .headers
                .iter()
                .map(|(cid, h)| HeaderSummary::new(cid, h, network))
                .collect(),
        }
    }

    /// Group the headers into tipsets by (height, parents), lowest height first (equal heights:
    /// by key). Blocks inside each tipset are ticket-sorted, as Lotus orders them.
    pub fn tipsets(&self) -> Result<Vec<TipSet>, TipSetError> {
        let mut groups: BTreeMap<(i64, TipSetKey), Vec<(Cid, BlockHeader)>> = BTreeMap::new();
        for (cid, header) in &self.headers {
            groups
                .entry((header.height, header.parents.clone()))
                .or_default()
                .push((*cid, header.clone()));
        }
        groups
            .into_values()
            .map(TipSet::from_blocks_with_cids)
            .collect()
    }

    /// Heights between the lowest and highest header that have no header at all (epochs in
    /// which no miner won: "null rounds").
    pub fn null_rounds(&self) -> Vec<i64> {
        let heights: BTreeSet<i64> = self.headers.iter().map(|(_, h)| h.height).collect();
        let (Some(&low), Some(&high)) = (heights.first(), heights.last()) else {
            return Vec::new();
        };
        (low..=high).filter(|h| !heights.contains(h)).collect()
    }

    /// One summary row per tipset, for a human table.
    pub fn tipset_table(&self, network: Network) -> Result<Vec<TipSetSummary>, TipSetError> {
        Ok(self
            .tipsets()?
            .iter()
            .map(|ts| ts.summary(network))
            .collect())
    }
}

/// `{"roots": [...], "headers": [...]}`: the JSON form of a CAR's chain headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderReport {
    pub roots: Vec<String>,
    pub headers: Vec<HeaderSummary>,
}

/// One header in a [`HeaderReport`]. `parent_weight` is a decimal string (BigInts do not fit JSON
/// numbers); `parents` keep the header's (ticket) order; `win_count` is 0 without an election
/// proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderSummary {
    pub cid: String,
    pub height: i64,
    pub miner: String,
    pub parents: Vec<String>,
    pub parent_weight: String,
    pub timestamp: u64,
    pub win_count: i64,
}

impl HeaderSummary {
    pub fn new(cid: &Cid, header: &BlockHeader, network: Network) -> Self {
        Self {
            cid: cid.to_string(),
            height: header.height,
            miner: header.miner.to_string_on(network),
            parents: header.parents.cids().iter().map(Cid::to_string).collect(),
            parent_weight: bigint_decimal(&header.parent_weight),
            timestamp: header.timestamp,
            win_count: header.win_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::car::tests::build_car;
    use super::super::header::tests::genesis_bytes;
    use super::*;

    #[test]
    fn finds_headers_and_skips_lookalikes() {
        let genesis = genesis_bytes();
        let genesis_cid = cbor::block_cid(&genesis);
        // A 16-element array that is not a header.
        let lookalike = serde_ipld_dagcbor::to_vec(&[0u8; 16]).unwrap();
        assert_eq!(lookalike[0], 0x90);
        // The genesis header stored under a sha2-256 CID: valid header, but not Lotus's CID.
        let sha_cid = Cid::new_v1(
            DAG_CBOR,
            multihash_codetable::MultihashDigest::digest(
                &multihash_codetable::Code::Sha2_256,
                &genesis,
            ),
        );
        let car = build_car(
            &[genesis_cid],
            &[
                (cbor::block_cid(&lookalike), lookalike),
                (genesis_cid, genesis.clone()),
                (sha_cid, genesis),
            ],
        );
        let found = read_chain_headers(&car[..]).unwrap();
        assert_eq!(found.blocks_read, 3);
        assert_eq!(found.headers.len(), 1);
        assert_eq!(found.headers[0].0, genesis_cid);
        let report = found.report(Network::Mainnet);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["roots"][0], genesis_cid.to_string());
        assert_eq!(json["headers"][0]["miner"], "f00");
        assert_eq!(json["headers"][0]["parent_weight"], "0");
        assert_eq!(json["headers"][0]["win_count"], 0);
        assert_eq!(found.null_rounds(), Vec::<i64>::new());
        assert_eq!(found.tipsets().unwrap().len(), 1);
    }
}
