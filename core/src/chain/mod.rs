//! The Filecoin chain model of lsync (`lsync_core::chain`).
//!
//! Byte-exact Lotus encodings of block headers and the network messages that carry them, tipsets
//! ordered the way Lotus orders them, a streaming CARv1 reader, and the pure chain logic a
//! follower needs to interpret head changes: weight, tie-break, fork-length limit and the
//! revert/apply walk. Nothing here performs I/O beyond reading a caller-supplied `std::io::Read`.
//!
//! Modules refer to each other with `super::`, so this tree can be moved under any parent module.

pub mod address;
pub mod bigint;
pub mod car;
pub mod cbor;
pub mod chain_message;
pub mod error;
pub mod f3;
pub mod header;
pub mod lotus_json;
pub mod messages;
pub mod reorg;
pub mod scan;
pub mod signature;
pub mod tipset;
pub mod tipset_key;
pub mod weight;

pub use address::{Address, AddressError, Network};
pub use bigint::{bigint_from_bytes, bigint_to_bytes, BigIntError, MAX_BIGINT_BYTES};
pub use car::{
    verify_block_hash, write_car, CarBlock, CarError, CarHeader, CarLimits, CarReader, HashCheckError,
};
pub use chain_message::{amt_v0_cids, BlockMessages, Message, MsgMeta, SignedMessage};
pub use error::{DecodeError, EncodeError};
pub use header::{BeaconEntry, BlockHeader, ElectionProof, PoStProof, Ticket};
pub use messages::{
    BSTipSet, BlockMsg, CompactedMessages, HelloMessage, LatencyMessage, Request, Response,
    ResponseStatus,
};
pub use reorg::{exceeds_fork_length, reorg_ops, ChainWalkError, ReorgOps, CHAIN_FINALITY};
pub use scan::{read_chain_headers, ChainHeaders, HeaderReport, HeaderSummary};
pub use signature::{Signature, SignatureError, SignatureType};
pub use tipset::{CidList, TipSet, TipSetError, TipSetKey, TipSetLike, TipSetSummary};
pub use weight::{
    break_weight_tie, choose_head, infer_power_log2, tipset_weight, HeadChoice, TieBreak,
};

#[cfg(test)]
mod real_data_tests;
