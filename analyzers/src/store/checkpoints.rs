//! WAL checkpoints beside the ingest's writer, on a connection of their own.
//!
//! Why: a checkpoint copies the WAL's pages into the database file and fsyncs it. Run by the
//! writer itself (SQLite's auto-checkpoint), each one stops the writer for its copy and its two
//! fsyncs, the parsers' queue fills up behind it, and on a 1 GiB journal the ingest ran 17 %
//! slower than with no fsync at all (`synchronous=OFF`, measured interleaved). A `PASSIVE`
//! checkpoint from another connection runs while the writer goes on appending to the WAL; it
//! never waits for a lock and never blocks the writer. The durability is SQLite's either way:
//! a crash at any point leaves a consistent database (the WAL is the truth until checkpointed).

use crate::store::{Result, StoreError};
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The writer connection's auto-checkpoint threshold when no checkpointer runs (pages).
pub(crate) const AUTO_CHECKPOINT_PAGES: i64 = 4096;

/// A thread that checkpoints the WAL after each batch the writer commits.
pub(crate) struct Checkpointer {
    tx: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `writer`'s database beside it, and turns the writer's own
    /// auto-checkpoints off. `None` (the writer checkpoints as before) for a database without a
    /// file, or when a second connection cannot be opened.
    pub(crate) fn start(writer: &Connection) -> Result<Option<Checkpointer>> {
        let Some(path) = writer.path().filter(|p| !p.is_empty()).map(str::to_string) else { return Ok(None) };
        let Ok(conn) = Connection::open(&path) else { return Ok(None) };
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lsync-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // Commits that came in meanwhile are covered by this one checkpoint.
                    while rx.try_recv().is_ok() {}
                    // A failed checkpoint only leaves more WAL for the next one (or the close).
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Input(format!("cannot start the checkpoint thread: {e}")))?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(Some(Checkpointer { tx: Some(tx), thread: Some(thread) }))
    }

    /// The writer committed a batch.
    pub(crate) fn committed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
    }

    /// Waits for the last checkpoint and gives the writer its auto-checkpoints back.
    pub(crate) fn finish(mut self, writer: &Connection) -> Result<()> {
        self.stop();
        writer.pragma_update(None, "wal_autocheckpoint", AUTO_CHECKPOINT_PAGES)?;
        Ok(())
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
