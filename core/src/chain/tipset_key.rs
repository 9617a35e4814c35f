//! Tipset keys (lotus `chain/types/tipset_key.go`): the ordered CID list that names a tipset.
//!
//! Its own module because a block header names its parents by key, and a tipset is made of
//! headers: `header` and `tipset` both build on this leaf instead of on each other.

use std::fmt;
use cid::Cid;
use serde::{Deserialize, Serialize};
use super::cbor;
use super::error::EncodeError;

/// The ordered list of block CIDs naming a tipset. CBOR: an array of CIDs (this is also the
/// `Parents` field of a header). Order matters: Lotus compares keys element by element.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TipSetKey(pub(super) Vec<Cid>);

impl TipSetKey {
    pub fn new(cids: Vec<Cid>) -> Self {
        Self(cids)
    }

    pub fn cids(&self) -> &[Cid] {
        &self.0
    }

    pub fn into_cids(self) -> Vec<Cid> {
        self.0
    }

    /// True for the empty key, which Lotus's JSON-RPC reads as "the current head".
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The concatenated binary CIDs (Lotus stores a TipSetKey as this string).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(Cid::to_bytes).collect()
    }

    /// The key's own CID (lotus `TipSetKey.Cid`): blake2b-256 DAG-CBOR CID of a CBOR byte string
    /// holding [`TipSetKey::to_bytes`]. Only the Eth APIs use it.
    pub fn cid(&self) -> Result<Cid, EncodeError> {
        let encoded = cbor::encode("TipSetKey", &fvm_ipld_encoding::BytesSer(&self.to_bytes()))?;
        Ok(cbor::block_cid(&encoded))
    }
}

impl From<Vec<Cid>> for TipSetKey {
    fn from(cids: Vec<Cid>) -> Self {
        Self(cids)
    }
}

/// Lotus prints a TipSetKey as `{a,b}` (`TipSetKey.String`).
impl fmt::Display for TipSetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, cid) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{cid}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for TipSetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TipSetKey{self}")
    }
}

/// Prints CIDs the way Go's `%s`/`%v` prints a `[]cid.Cid` — and so a `*TipSet`, whose `String`
/// is its CID slice: `[a b]`. This is the form in "New heaviest tipset! [a b] (height=…)".
pub struct CidList<'a>(pub &'a [Cid]);

impl fmt::Display for CidList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, cid) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{cid}")?;
        }
        f.write_str("]")
    }
}

