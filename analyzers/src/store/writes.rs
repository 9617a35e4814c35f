//! The ingest's writes: encoded segments, head changes and postings, with the checkpoint, one
//! transaction per batch.

use super::sources::fingerprint;
use super::encode::{Batch, Encoded, Encoder, MAX_REPORTED_PROBLEMS, MAX_STORED_UNKNOWN};
use crate::rows::FileReport;
use crate::store::{self, Result};
use lsync_core::{EventKind, LineStats};
use rusqlite::{params, Connection};
use std::collections::BTreeMap;

/// Writes batches of encoded rows and moves the checkpoint, in one transaction per batch.
pub(crate) struct BatchWriter {
    /// Events stored per kind in this file (`EventKind as usize`).
    by_kind: Vec<u64>,
}

impl BatchWriter {
    pub(crate) fn new() -> BatchWriter {
        BatchWriter { by_kind: vec![0; EventKind::ALL.len()] }
    }

    /// Per-kind counts of the events stored so far, by public name.
    pub(crate) fn kind_counts(&self) -> BTreeMap<String, u64> {
        EventKind::ALL.iter().filter(|k| self.by_kind[**k as usize] > 0).map(|k| (k.as_str().to_string(), self.by_kind[*k as usize])).collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit(
        &mut self,
        conn: &mut Connection,
        source_id: i64,
        batch: &mut Batch,
        stats_base: &LineStats,
        fr: &mut FileReport,
        unknown_stored: &mut i64,
        fp_len: usize,
        prefix: &[u8],
        now: &str,
    ) -> Result<()> {
        let (checkpoint, stats) = (batch.checkpoint, &batch.stats);
        // Unknown lines: stored while the file's budget lasts, all counted.
        let mut unknown = Encoder::new(source_id);
        let mut rows = Encoded::new();
        let mut n_unknown = 0i64;
        for enc in batch.chunks.drain(..) {
            for p in &enc.problems {
                if fr.problems.len() < MAX_REPORTED_PROBLEMS {
                    fr.problems.push(p.clone());
                }
            }
            n_unknown += enc.unknown as i64;
            for ev in &enc.unknown_events {
                if *unknown_stored >= MAX_STORED_UNKNOWN {
                    break;
                }
                *unknown_stored += 1;
                unknown.store(ev);
            }
            rows.absorb(enc);
        }
        rows.absorb(unknown.finish());
        fr.unknown += n_unknown as u64;
        fr.malformed += rows.malformed;
        fr.warnings += rows.warnings;
        let n_events = rows.stored() as i64;
        fr.events += n_events as u64;
        for (a, b) in self.by_kind.iter_mut().zip(&rows.by_kind) {
            *a += b;
        }
        let tx = conn.transaction()?;
        {
            let mut insert_hc = tx.prepare_cached(
                "INSERT OR IGNORE INTO head_changes(event_id, ts_ns, ts_off, ts_prec, from_height, to_height, revert_count, apply_count, to_n, class, cids)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for h in &rows.heads {
                insert_hc.execute(params![
                    h.event_id,
                    h.ts.map(|t| t.unix_nanos),
                    h.ts.map(|t| t.offset_secs),
                    h.ts.map(|t| t.frac_digits as i64),
                    h.from_height,
                    h.to_height,
                    h.revert_count,
                    h.apply_count,
                    h.to_n,
                    h.class,
                    h.cids
                ])?;
            }
            // A segment's row is inserted with a zero blob of its size, and its bytes are then
            // written into the row's pages through a blob handle. Bound as a parameter, a blob
            // is copied twice in SQLite's own (glibc) heap — the binding, then the record — and
            // those ~130 KiB buffers made glibc return its heap's top to the kernel and fault it
            // back in after nearly every segment: 58,000 of the 64,000 page faults of a 1 GiB
            // journal's ingest (system time 0.98 -> 0.80 s, wall x0.93 without them).
            let mut insert_segment = tx.prepare_cached(
                "INSERT OR IGNORE INTO segments(id, source_id, kind, n_events, first_line, last_line, min_ts, max_ts, min_height, max_height, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, zeroblob(?11))",
            )?;
            let mut data: Option<rusqlite::blob::Blob<'_>> = None;
            for seg in &rows.segments {
                let id = store::event_id(source_id, seg.first_line);
                let inserted = insert_segment.execute(params![
                    id,
                    source_id,
                    seg.kind.as_str(),
                    seg.count as i64,
                    seg.first_line as i64,
                    seg.last_line as i64,
                    seg.min_ts,
                    seg.max_ts,
                    seg.min_height,
                    seg.max_height,
                    seg.blob.len() as i64
                ])?;
                // Ignored: a segment of this id (source, first line) is stored already — a second
                // line of defence, as rows and checkpoint commit together. That row is kept.
                if inserted == 0 {
                    continue;
                }
                let handle = match data.as_mut() {
                    Some(h) => {
                        h.reopen(id)?;
                        h
                    }
                    None => data.insert(tx.blob_open(rusqlite::MAIN_DB, c"segments", c"data", id, false)?),
                };
                handle.write_at(&seg.blob, 0)?;
            }
            // An open blob handle is a running statement: COMMIT would fail while it lives.
            drop(data);
            // The posting blocks, as the parsers packed them: one per (part, bucket) of each
            // chunk, inserted in the table's key order (see `cid_postings`), so consecutive
            // inserts land on the same leaf.
            let mut blocks = rows.posting_blocks;
            blocks.sort_unstable_by_key(|b| (b.0, b.1, b.2));
            let mut insert_posting = tx.prepare_cached("INSERT OR IGNORE INTO cid_postings(part, bucket, first_segment, entries) VALUES (?1, ?2, ?3, ?4)")?;
            let mut insert_part = tx.prepare_cached("INSERT OR IGNORE INTO posting_parts(part) VALUES (?1)")?;
            let mut last_part = None;
            for (part, bucket, first, entries) in &blocks {
                if last_part != Some(*part) {
                    insert_part.execute([part])?;
                    last_part = Some(*part);
                }
                insert_posting.execute(params![part, bucket, first, entries])?;
            }
        }
        let d = |a: u64, b: u64| (a - b) as i64;
        tx.execute(
            "UPDATE sources SET byte_offset = ?2, next_line = ?3, lines = lines + ?4, blank = blank + ?5, other_records = other_records + ?6,
                 continuation_lines = continuation_lines + ?7, events = events + ?8, malformed = malformed + ?9, unknown = unknown + ?10,
                 fp_len = ?11, fp_hash = ?12, last_ingest = ?13
             WHERE id = ?1",
            params![
                source_id,
                checkpoint.0 as i64,
                checkpoint.1 as i64,
                d(stats.lines, stats_base.lines),
                d(stats.blank, stats_base.blank),
                d(stats.other_records, stats_base.other_records),
                d(stats.continuation_lines, stats_base.continuation_lines),
                n_events,
                rows.malformed as i64,
                n_unknown,
                fp_len as i64,
                fingerprint(prefix),
                now
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}
