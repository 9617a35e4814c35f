//! Restart resumption: the last head a previous run journaled.
//!
//! `JournalWriter::open` rolls the current file, so the head is read before opening: from every
//! `lotus-journal*.ndjson` file in the directory (current and rolled), parsed with lsync-core's
//! `JournalParser`, the `sync:head_change` record with the latest timestamp wins. The driver
//! then asks connected peers for that tipset (headers, length 1); if one serves it before
//! `resume_timeout`, the follower starts anchored there (as an operator-trusted tipset: chains
//! are synced down to it, never below, and the next head change is journaled *from* it, so the
//! journal continues where it stopped). Otherwise it starts from genesis as a fresh run does.
//! Inputs that arrive meanwhile are queued with their arrival times and replayed.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use lsync_core::chain::TipSetKey;
use lsync_core::{EventKind, JournalOptions, JournalParser};

/// A head read back from a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedHead {
    pub key: TipSetKey,
    pub height: i64,
}

/// The latest head change journaled in `dir`; `None` if the directory or records are absent.
pub fn last_journal_head(dir: &Path) -> io::Result<Option<SavedHead>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut best: Option<(i64, SavedHead)> = None;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("lotus-journal") && name.ends_with(".ndjson")) {
            continue;
        }
        let mut parser = JournalParser::new(JournalOptions::default());
        let mut events = Vec::new();
        for (i, line) in BufReader::new(fs::File::open(&path)?)
            .split(b'\n')
            .enumerate()
        {
            parser.push_line(i as u64 + 1, &line?, &mut events);
        }
        parser.finish(&mut events);
        for event in events {
            let (Some(change), Some(ts)) = (&event.head_change, event.ts) else {
                continue;
            };
            if event.kind != EventKind::HeadChange {
                continue;
            }
            let cids: Result<Vec<cid::Cid>, _> =
                change.to.iter().map(|c| c.parse::<cid::Cid>()).collect();
            let Ok(cids) = cids else { continue };
            let at = ts.unix_nanos;
            if best.as_ref().is_none_or(|(t, _)| at >= *t) {
                best = Some((
                    at,
                    SavedHead {
                        key: TipSetKey::new(cids),
                        height: change.to_height,
                    },
                ));
            }
        }
    }
    Ok(best.map(|(_, head)| head))
}
