//! The follower's constants, defaulting to Lotus's mainnet values (lotus-facts §6.3).

use std::time::Duration;

use lsync_core::chain::CHAIN_FINALITY;

/// Lotus's `BootstrapPeerThreshold` on mainnet and calibnet (`LOTUS_SYNC_BOOTSTRAP_PEERS`).
pub const BOOTSTRAP_PEER_THRESHOLD: usize = 4;
/// `MaxSyncWorkers`.
pub const MAX_SYNC_WORKERS: usize = 5;
/// `RecentSyncBufferSize`.
pub const RECENT_SYNC_BUFFER_SIZE: usize = 10;
/// `BlockDelaySecs`.
pub const BLOCK_DELAY_SECS: u64 = 30;
/// `MaxHeightDrift` of `IsEpochInConsensusRange`.
pub const MAX_HEIGHT_DRIFT: i64 = 5;
/// `BadBlockCacheSize`.
pub const BAD_BLOCK_CACHE_SIZE: usize = 1 << 15;
/// Mainnet genesis timestamp (2020-08-24T22:00:00Z).
pub const MAINNET_GENESIS_TIMESTAMP: u64 = 1_598_306_400;
/// Calibnet genesis timestamp (2022-11-01T18:13:00Z).
pub const CALIBNET_GENESIS_TIMESTAMP: u64 = 1_667_326_380;

/// Tunables of [`crate::follower::Follower`]. Every field has Lotus's value by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerConfig {
    /// Genesis `Timestamp` (seconds): the consensus range is counted from it.
    pub genesis_timestamp: u64,
    pub block_delay_secs: u64,
    /// Epochs beyond the clock's current epoch still accepted.
    pub max_height_drift: i64,
    /// Peer heads needed before the first (initial) sync target is chosen.
    pub bootstrap_peer_threshold: usize,
    pub max_sync_workers: usize,
    pub recent_sync_buffer_size: usize,
    /// Deepest reorg accepted, in our own tipsets (`policy.ChainFinality`).
    pub fork_length_limit: u64,
    /// Most tipsets asked for in one chain-exchange request (`MaxRequestLength`).
    pub max_request_length: u64,
    /// A first worker finishing faster than this ends the initial sync
    /// (`InitialSyncTimeThreshold`).
    pub initial_sync_time_threshold: Duration,
    /// Period of the sync manager's scheduler ticker, which starts deferred workers once the
    /// initial sync is done.
    pub scheduler_tick: Duration,
    /// Lotus warns `received block with large delay from miner` above this many seconds.
    pub large_delay_secs: i64,
    /// Lotus warns `Slow msg fetch` above this.
    pub slow_msg_fetch: Duration,
    pub bad_block_cache_size: usize,
    /// How long duplicates of a block are counted before its first-seen record is emitted.
    /// Gossipsub delivers nearly all copies within a few seconds; one block time is generous.
    pub first_seen_settle: Duration,
    /// How long a settled block is remembered so its late copies are still known duplicates.
    pub first_seen_retention: Duration,
    /// A chain-exchange request unanswered this long fails the worker waiting on it (Lotus's
    /// client gives a response 60 s to be written).
    pub fetch_timeout: Duration,
}

impl FollowerConfig {
    /// Lotus's values for a network whose genesis has `genesis_timestamp`.
    pub fn new(genesis_timestamp: u64) -> Self {
        Self {
            genesis_timestamp,
            block_delay_secs: BLOCK_DELAY_SECS,
            max_height_drift: MAX_HEIGHT_DRIFT,
            bootstrap_peer_threshold: BOOTSTRAP_PEER_THRESHOLD,
            max_sync_workers: MAX_SYNC_WORKERS,
            recent_sync_buffer_size: RECENT_SYNC_BUFFER_SIZE,
            fork_length_limit: CHAIN_FINALITY,
            max_request_length: lsync_core::chain::messages::MAX_REQUEST_LENGTH,
            initial_sync_time_threshold: Duration::from_secs(15 * 60),
            scheduler_tick: Duration::from_secs(60),
            large_delay_secs: 5,
            slow_msg_fetch: Duration::from_secs(3),
            bad_block_cache_size: BAD_BLOCK_CACHE_SIZE,
            first_seen_settle: Duration::from_secs(BLOCK_DELAY_SECS),
            first_seen_retention: Duration::from_secs(10 * 60),
            fetch_timeout: Duration::from_secs(60),
        }
    }

    pub fn mainnet() -> Self {
        Self::new(MAINNET_GENESIS_TIMESTAMP)
    }

    pub fn calibnet() -> Self {
        Self::new(CALIBNET_GENESIS_TIMESTAMP)
    }

    /// The highest epoch the clock allows at `now_ms`: `floor((now − genesis) / block delay)
    /// + MaxHeightDrift` (lotus `IsEpochInConsensusRange`, upper half).
    pub fn max_allowed_height(&self, now_ms: i64) -> i64 {
        let since_genesis_ms = now_ms - (self.genesis_timestamp as i64) * 1000;
        let delay_ms = (self.block_delay_secs as i64).max(1) * 1000;
        since_genesis_ms.div_euclid(delay_ms) + self.max_height_drift
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
