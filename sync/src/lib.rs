//! `lsync-sync`: the sync component of lsync.
//!
//! - [`follower`] — the sans-IO chain follower: Lotus's block pipeline (InformNewHead, the sync
//!   manager, workers, the chain store's head choice and reorg walk) as a state machine that
//!   takes timestamped inputs and returns actions;
//! - [`journal`] — writes those head changes as Lotus's `sync:head_change` journal, with
//!   Lotus's file layout and rolling, plus lsync's own records beside them;
//! - [`golog`] — writes the follower's log events as Lotus's go-log lines (same wording,
//!   logger, caller and fields), so every lsync tool reads lsync's output like a node's;
//!
//! Architecture invariant: the follower does no I/O and reads no clock; the writers do file
//! I/O through `std::fs` only and take the time as a parameter. The network driver (libp2p)
//! lives elsewhere in this crate and only moves inputs and actions.

#![forbid(unsafe_code)]

pub mod devnet;
pub mod follower;
/// Go's text forms of times and durations live with the formats, in `lsync-core`.
pub use lsync_core::go_text;
pub mod golog;
pub mod journal;
pub mod launch;
pub mod p2p;
pub mod rpc;
pub(crate) mod synthetic;

#[cfg(test)]
pub(crate) mod test_chain;
