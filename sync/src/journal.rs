//! The journal writer: Lotus's fsjournal layout and record shape (lotus-facts §1), with
//! stronger write guarantees.
//!
//! Layout, as Lotus: `<dir>/lotus-journal.ndjson` is the current file. It is rolled — renamed
//! to `lotus-journal-<2006-01-02T150405Z0700>.ndjson` stamped with the *roll* time in the
//! configured zone — whenever the journal is opened and an old current file exists, and when
//! the bytes written to it reach the size limit (1 GiB by default), checked after each record.
//!
//! Records are `{"System","Event","Timestamp","Data"}` in that key order, one per line, the
//! timestamp in Go's `time.Time` JSON form. Better than Lotus:
//! - a record is written whole or not at all: it is serialised into a buffer, written with one
//!   `write_all` of line + `\n`, and on error the file is truncated back to its previous
//!   length, so no torn line is left for the next record to be glued to;
//! - writes go straight to the file (no user-space buffer), and fsync follows a policy:
//!   never, after every record, or at most every N ms — using the time the caller passes in;
//! - a roll never overwrites an older rolled file (two rolls within one second get `-1`, `-2`
//!   suffixes); Lotus's rename would replace it.

mod records;

#[cfg(test)]
mod tests;

pub use records::{
    AnchorData, BlockSeenData, FinalityData, HeadChangeData, NotifyGapData, PathTipSet, ReorgPathData, EVENT_ANCHOR,
    EVENT_BLOCK_SEEN, EVENT_FINALITY, EVENT_HEAD_CHANGE, EVENT_NOTIFY_GAP, EVENT_REORG_PATH, SYSTEM_LSYNC, SYSTEM_SYNC,
};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lsync_core::chain::Network;
use serde::Serialize;
use thiserror::Error;

use crate::follower::{FirstSeenRecord, HeadPath};
use crate::go_text::{rfc3339_nano, roll_stamp};

/// The current file's name (lotus `rollJournalFile`).
pub const CURRENT_FILE_NAME: &str = "lotus-journal.ndjson";
/// Lotus's `sizeLimit`.
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 30;

/// When the journal forces its data to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Leave it to the OS (Lotus's behaviour).
    Never,
    /// `fdatasync` after every record.
    EveryRecord,
    /// `fdatasync` after a record when at least `millis` passed since the last one, and from
    /// [`JournalWriter::sync_if_due`] on the driver's ticks.
    Interval { millis: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal directory (`<repo>/journal` for a Lotus repo).
    pub dir: PathBuf,
    /// Roll when the current file reaches this many bytes.
    pub size_limit: u64,
    pub fsync: FsyncPolicy,
    /// The zone of timestamps and roll names, in seconds east of UTC (Lotus uses the process's
    /// local zone; pass it explicitly).
    pub zone_offset_secs: i32,
    /// Letter of miner addresses in lsync's records (`f` mainnet, `t` test networks).
    pub network: Network,
}

impl JournalConfig {
    /// Lotus's defaults: 1 GiB, no fsync, UTC, mainnet addresses.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            size_limit: DEFAULT_SIZE_LIMIT,
            fsync: FsyncPolicy::Never,
            zone_offset_secs: 0,
            network: Network::Mainnet,
        }
    }
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("cannot create journal directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot roll {from} to {to}: {source}")]
    Roll {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot serialise a {system}:{event} record: {source}")]
    Serialize {
        system: String,
        event: String,
        source: serde_json::Error,
    },
    /// The record was not written; the file is as it was before.
    #[error("cannot write a record to {path} (nothing was kept): {source}")]
    Write { path: PathBuf, source: io::Error },
    /// The record was not written and removing its partial bytes failed too: the file may end
    /// in a torn line.
    #[error("cannot write a record to {path}, and truncating its partial bytes failed ({truncate_error}): {source}")]
    TornWrite {
        path: PathBuf,
        source: io::Error,
        truncate_error: io::Error,
    },
    #[error("cannot fsync {path}: {source}")]
    Sync { path: PathBuf, source: io::Error },
}

/// A file a record can be appended to and cut back.
pub(crate) trait RecordFile: Write {
    fn truncate_to(&mut self, len: u64) -> io::Result<()>;
}

impl RecordFile for File {
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        // The file is in append mode: after set_len the next write lands at the new end.
        self.set_len(len)
    }
}

/// Append `line` (already `\n`-terminated) to a file currently `len` bytes long, all or
/// nothing. On failure the file is cut back to `len`; the error carries the write error and,
/// if cutting back failed as well, that error too.
pub(crate) fn append_whole<F: RecordFile>(
    file: &mut F,
    len: u64,
    line: &[u8],
) -> Result<(), (io::Error, Option<io::Error>)> {
    match file.write_all(line).and_then(|()| file.flush()) {
        Ok(()) => Ok(()),
        Err(write_error) => Err((write_error, file.truncate_to(len).err())),
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "System")]
    system: &'a str,
    #[serde(rename = "Event")]
    event: &'a str,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "Data")]
    data: &'a T,
}

/// Writes a Lotus-layout journal. See the module documentation.
#[derive(Debug)]
pub struct JournalWriter {
    config: JournalConfig,
    current: PathBuf,
    file: File,
    /// Bytes in the current file.
    written: u64,
    last_sync_nanos: i64,
    unsynced: bool,
    line: Vec<u8>,
}

impl JournalWriter {
    /// Open the journal at `now_unix_nanos`: create the directory (0755), roll an existing
    /// current file, start a new one.
    pub fn open(config: JournalConfig, now_unix_nanos: i64) -> Result<Self, JournalError> {
        create_dir(&config.dir)?;
        let current = config.dir.join(CURRENT_FILE_NAME);
        let file = roll_and_create(&config, &current, now_unix_nanos)?;
        Ok(Self {
            config,
            current,
            file,
            written: 0,
            last_sync_nanos: now_unix_nanos,
            unsynced: false,
            line: Vec::with_capacity(1024),
        })
    }

    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// Path of the current file.
    pub fn current_path(&self) -> &Path {
        &self.current
    }

    /// Bytes written to the current file.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Write one record with any `Data`, at `now_unix_nanos`.
    pub fn write_record<T: Serialize>(
        &mut self,
        now_unix_nanos: i64,
        system: &str,
        event: &str,
        data: &T,
    ) -> Result<(), JournalError> {
        let envelope = Envelope {
            system,
            event,
            timestamp: rfc3339_nano(now_unix_nanos, self.config.zone_offset_secs),
            data,
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &envelope).map_err(|source| {
            JournalError::Serialize {
                system: system.to_string(),
                event: event.to_string(),
                source,
            }
        })?;
        self.line.push(b'\n');
        append_whole(&mut self.file, self.written, &self.line).map_err(|(source, torn)| {
            let path = self.current.clone();
            match torn {
                None => JournalError::Write { path, source },
                Some(truncate_error) => JournalError::TornWrite {
                    path,
                    source,
                    truncate_error,
                },
            }
        })?;
        self.written += self.line.len() as u64;
        self.unsynced = true;
        match self.config.fsync {
            FsyncPolicy::Never => {}
            FsyncPolicy::EveryRecord => self.sync_now(now_unix_nanos)?,
            FsyncPolicy::Interval { .. } => self.sync_if_due(now_unix_nanos)?,
        }
        if self.written >= self.config.size_limit {
            self.roll(now_unix_nanos)?;
        }
        Ok(())
    }

    /// Lotus's `sync:head_change` record of `change`.
    pub fn write_head_change(
        &mut self,
        now_unix_nanos: i64,
        change: &HeadPath,
    ) -> Result<(), JournalError> {
        self.write_record(
            now_unix_nanos,
            SYSTEM_SYNC,
            EVENT_HEAD_CHANGE,
            &HeadChangeData::from(change),
        )
    }

    /// lsync's `lsync:reorg_path` record of `change`.
    pub fn write_reorg_path(
        &mut self,
        now_unix_nanos: i64,
        change: &HeadPath,
    ) -> Result<(), JournalError> {
        self.write_record(
            now_unix_nanos,
            SYSTEM_LSYNC,
            EVENT_REORG_PATH,
            &ReorgPathData::from(change),
        )
    }

    /// lsync's `lsync:anchor` record: where this run's chain starts.
    pub fn write_anchor(&mut self, now_unix_nanos: i64, anchor: &AnchorData) -> Result<(), JournalError> {
        self.write_record(now_unix_nanos, SYSTEM_LSYNC, EVENT_ANCHOR, anchor)
    }

    /// lsync's `lsync:block_seen` record.
    pub fn write_block_seen(
        &mut self,
        now_unix_nanos: i64,
        record: &FirstSeenRecord,
    ) -> Result<(), JournalError> {
        let data = records::block_seen_data(record, self.config.zone_offset_secs, self.config.network);
        self.write_record(now_unix_nanos, SYSTEM_LSYNC, EVENT_BLOCK_SEEN, &data)
    }

    /// fsync if the interval policy says it is time and something was written since.
    pub fn sync_if_due(&mut self, now_unix_nanos: i64) -> Result<(), JournalError> {
        if let FsyncPolicy::Interval { millis } = self.config.fsync {
            let interval = i64::try_from(millis)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000);
            if self.unsynced && now_unix_nanos.saturating_sub(self.last_sync_nanos) >= interval {
                self.sync_now(now_unix_nanos)?;
            }
        }
        Ok(())
    }

    /// fsync the current file now.
    pub fn sync_now(&mut self, now_unix_nanos: i64) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| JournalError::Sync {
            path: self.current.clone(),
            source,
        })?;
        self.last_sync_nanos = now_unix_nanos;
        self.unsynced = false;
        Ok(())
    }

    /// Roll now: the current file gets its dated name and a new empty one takes its place.
    pub fn roll(&mut self, now_unix_nanos: i64) -> Result<(), JournalError> {
        if self.config.fsync != FsyncPolicy::Never && self.unsynced {
            self.sync_now(now_unix_nanos)?;
        }
        self.file = roll_and_create(&self.config, &self.current, now_unix_nanos)?;
        self.written = 0;
        self.unsynced = false;
        Ok(())
    }
}

fn create_dir(dir: &Path) -> Result<(), JournalError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder
        .create(dir)
        .map_err(|source| JournalError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// The name a roll at `now` gives the current file, avoiding existing files.
pub fn rolled_path(dir: &Path, now_unix_nanos: i64, zone_offset_secs: i32) -> PathBuf {
    let stamp = roll_stamp(now_unix_nanos, zone_offset_secs);
    let mut candidate = dir.join(format!("lotus-journal-{stamp}.ndjson"));
    let mut n = 1;
    while candidate.exists() {
        candidate = dir.join(format!("lotus-journal-{stamp}-{n}.ndjson"));
        n += 1;
    }
    candidate
}

/// Lotus's `rollJournalFile`: rename an existing current file, then create a new one.
fn roll_and_create(
    config: &JournalConfig,
    current: &Path,
    now_unix_nanos: i64,
) -> Result<File, JournalError> {
    if current.is_file() {
        let rolled = rolled_path(&config.dir, now_unix_nanos, config.zone_offset_secs);
        fs::rename(current, &rolled).map_err(|source| JournalError::Roll {
            from: current.to_path_buf(),
            to: rolled,
            source,
        })?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .append(true)
        .open(current)
        .map_err(|source| JournalError::Create {
            path: current.to_path_buf(),
            source,
        })
}
