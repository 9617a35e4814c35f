//! The `sources` table: file identities and their checkpoints.

use crate::store::Result;
use multihash_codetable::{Code, MultihashDigest};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

pub(super) fn fingerprint(bytes: &[u8]) -> Vec<u8> {
    Code::Blake2b256.digest(bytes).digest().to_vec()
}

pub(crate) struct SourceRow {
    pub(crate) id: i64,
    pub(crate) path: String,
    fp_len: usize,
    fp_hash: Vec<u8>,
    pub(crate) byte_offset: u64,
    pub(crate) next_line: u64,
    pub(crate) unknown: i64,
}

/// Finds the stored identity this file continues, if any: the longest stored fingerprint that
/// is a prefix of this file's first bytes.
pub(crate) fn find_source(conn: &Connection, node_id: i64, prefix: &[u8], path: &str) -> Result<Option<SourceRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, path, fp_len, fp_hash, byte_offset, next_line, unknown FROM sources WHERE node_id = ?1 AND fp_len <= ?2",
    )?;
    let rows = stmt.query_map(params![node_id, prefix.len() as i64], |r| {
        Ok(SourceRow {
            id: r.get(0)?,
            path: r.get(1)?,
            fp_len: r.get::<_, i64>(2)? as usize,
            fp_hash: r.get(3)?,
            byte_offset: r.get::<_, i64>(4)? as u64,
            next_line: r.get::<_, i64>(5)? as u64,
            unknown: r.get(6)?,
        })
    })?;
    let mut cache: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut best: Option<SourceRow> = None;
    for row in rows {
        let row = row?;
        if row.fp_len == 0 {
            continue;
        }
        let h = cache.entry(row.fp_len).or_insert_with(|| fingerprint(&prefix[..row.fp_len]));
        if *h != row.fp_hash {
            continue;
        }
        let better = match &best {
            None => true,
            Some(b) => row.fp_len > b.fp_len || (row.fp_len == b.fp_len && row.path == path),
        };
        if better {
            best = Some(row);
        }
    }
    Ok(best)
}

/// Points the stored identity `id` at the file that continues it: its path now, and the
/// fingerprint of its first bytes (`prefix`), which may have grown since.
pub(crate) fn resume_source(conn: &Connection, id: i64, path: &str, prefix: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE sources SET path = ?2, fp_len = ?3, fp_hash = ?4 WHERE id = ?1",
        params![id, path, prefix.len() as i64, fingerprint(prefix)],
    )?;
    Ok(())
}

/// Stores a new identity, fingerprinted by the file's first bytes (`prefix`), with the
/// checkpoint at the start; returns its id.
pub(crate) fn insert_source(conn: &Connection, node_id: i64, path: &str, format: &str, compression: Option<&str>, prefix: &[u8], now: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO sources(node_id, path, format, compression, fp_len, fp_hash, first_ingest, last_ingest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![node_id, path, format, compression, prefix.len() as i64, fingerprint(prefix), now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The checkpoint of a stored source (for tests and `lsync summary`).
pub fn checkpoint(conn: &Connection, path: &str) -> Result<Option<(u64, u64)>> {
    Ok(conn
        .query_row("SELECT byte_offset, next_line FROM sources WHERE path = ?1", params![path], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .optional()?)
}
