//! The SQLite store: schema, connection settings, and typed errors.
//!
//! Invariant: only this crate touches SQLite. Every lookup the reports make (by CID, by kind and
//! time, by node) has an index; `tests::query_plans_use_indexes` pins the plans.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

// The ingest's SQL: file identities and checkpoints, and the batched writes.
pub(crate) mod checkpoints;
pub(crate) mod encode;
pub(crate) mod sources;
pub(crate) mod writes;

/// Errors of the analyzers crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database {path} was written by a newer lsync (schema {found}, this build knows {known})")]
    NewerSchema { path: String, found: i64, known: i64 },
    #[error("database {path} is of schema {from} and could not be migrated in place ({source}); it is unchanged: open it where it is writable, or re-ingest the files into a new database")]
    Migrate { path: String, from: i64, source: rusqlite::Error },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Input(String),
    #[error("statistics: {0}")]
    Stats(String),
    #[error("database: {0} (re-ingest into a new file)")]
    Corrupt(#[from] crate::segment::SegmentError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Schema version stored in `PRAGMA user_version`. 6: segments of format 2 (CIDs as bytes,
/// head changes coded against the last), postings in blocks per bucket and batch, head-change
/// CIDs as bytes. 7: `cid_postings` clustered on (part, bucket, first segment); a schema 6
/// database is migrated in place when opened ([`migrate_6_to_7`]: one transaction copying the
/// postings, ~1 s per GB of database). Older databases are refused with a sentence (their
/// segments would have to be decoded and written again: re-ingesting the files is that, and as
/// fast).
pub const SCHEMA_VERSION: i64 = 7;

/// `cid_postings.part` of a posting block: its segments' ids over 2^18 lines (one source's
/// stretch of ~33 MB of log). Lookups seek once per part: a 2 GiB log makes ~70.
pub const POSTING_PART_SHIFT: u32 = 18;

/// The part of a posting whose segment is `segment`.
pub fn posting_part(segment: i64) -> i64 {
    segment >> POSTING_PART_SHIFT
}

/// One posting: a segment names a CID with this posting key. Ordered as postings are written:
/// by part, then key (and so by bucket, a key's high bits), then segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Posting {
    pub(crate) part: i64,
    pub(crate) key: i64,
    pub(crate) segment: i64,
}

impl Posting {
    pub(crate) fn new(key: i64, segment: i64) -> Posting {
        Posting { part: posting_part(segment), key, segment }
    }
}

/// Bits of an event id that hold the line number: `id = (source_id << LINE_BITS) | line`.
pub const LINE_BITS: u32 = 40;

/// The id of the event that starts at `line` of source `source_id`.
pub fn event_id(source_id: i64, line: u64) -> i64 {
    (source_id << LINE_BITS) | line as i64
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS nodes (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- One row per file identity (not per path: a rolled journal keeps its row).
CREATE TABLE IF NOT EXISTS sources (
    id          INTEGER PRIMARY KEY,
    node_id     INTEGER NOT NULL REFERENCES nodes(id),
    path        TEXT NOT NULL,
    format      TEXT NOT NULL,
    compression TEXT,
    fp_len      INTEGER NOT NULL,
    fp_hash     BLOB NOT NULL,
    byte_offset INTEGER NOT NULL DEFAULT 0,
    next_line   INTEGER NOT NULL DEFAULT 1,
    lines       INTEGER NOT NULL DEFAULT 0,
    blank       INTEGER NOT NULL DEFAULT 0,
    other_records INTEGER NOT NULL DEFAULT 0,
    continuation_lines INTEGER NOT NULL DEFAULT 0,
    events      INTEGER NOT NULL DEFAULT 0,
    malformed   INTEGER NOT NULL DEFAULT 0,
    unknown     INTEGER NOT NULL DEFAULT 0,
    first_ingest TEXT NOT NULL,
    last_ingest  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_node ON sources(node_id);
-- Events, packed: up to 1,024 consecutive events of one kind from one source per row, as a
-- blob (`segment.rs` has the layout and the reason: a row per event costs more B-tree work than
-- parsing the line). `id` is (source_id << 40) | first_line: a re-inserted segment is a no-op.
CREATE TABLE IF NOT EXISTS segments (
    id         INTEGER PRIMARY KEY,
    source_id  INTEGER NOT NULL REFERENCES sources(id),
    kind       TEXT NOT NULL,
    n_events   INTEGER NOT NULL,
    first_line INTEGER NOT NULL,
    last_line  INTEGER NOT NULL,
    min_ts     INTEGER,
    max_ts     INTEGER,
    min_height INTEGER,
    max_height INTEGER,
    data       BLOB NOT NULL
);
-- Kind and time: `events --kind K --since T`, trace's `worker N done` lookup, miners, summary.
-- Covering what those lookups read (`read::segments_by_kind`): a segment's row is mostly its
-- blob, so each lookup in the table for `min_ts` read a page of its own — a day of one kind
-- read ~500 pages (databases made before keep the narrower (kind, max_ts); both work).
CREATE INDEX IF NOT EXISTS segments_kind_ts ON segments(kind, max_ts, min_ts, source_id);
-- CID → segments, in blocks: one row per bucket (`segment::posting_bucket`, 256 for Filecoin
-- block CIDs) per parsed chunk (~4 MiB of input), whose `entries` list each (posting key,
-- segment) pair of the chunk in that bucket (`segment::encode_posting_block`, ~4 bytes a pair;
-- packed on the parser threads, so the writer only inserts them). A posting key is
-- `segment::cid_key` without its low bits (`POSTING_KEY_SHIFT`): two CIDs sharing it only cost a
-- lookup some extra decoding, never a wrong answer (events are matched by text). A row per CID
-- per batch, as before, was a third of the database for a full node's journal and most of the
-- writer's work. `part` is `first_segment >> POSTING_PART_SHIFT` (a stretch of 2^18 lines of one
-- source) and leads the key: a batch touches only its own stretch's leaves, and a lookup seeks
-- once per part (`posting_parts`). The table is clustered on its key (WITHOUT ROWID) so that a
-- part's blocks of one bucket are neighbours on one or two pages: as a rowid table in insertion
-- order with a separate index, a lookup on a fleet's 1.1 GB database read ~2,600 scattered pages
-- (~10 blocks per part, each on a page of its own) where it now reads ~430 (schema 7).
CREATE TABLE IF NOT EXISTS cid_postings (
    part          INTEGER NOT NULL,
    bucket        INTEGER NOT NULL,
    first_segment INTEGER NOT NULL,
    entries       BLOB NOT NULL,
    PRIMARY KEY (part, bucket, first_segment)
) WITHOUT ROWID;
-- The parts `cid_postings` holds.
CREATE TABLE IF NOT EXISTS posting_parts (
    part INTEGER PRIMARY KEY
);
-- Journal head changes that reverted something (RevertCount ≠ 0), typed: what `reorgs` and
-- trace's revert scan look up. Extends — nearly all head changes — are only in `segments`.
-- `cids` is To then From (`segment::encode_cid_list`: CIDs as bytes); its first `to_n` are To.
CREATE TABLE IF NOT EXISTS head_changes (
    event_id     INTEGER PRIMARY KEY,
    ts_ns        INTEGER,
    ts_off       INTEGER,
    ts_prec      INTEGER,
    from_height  INTEGER NOT NULL,
    to_height    INTEGER NOT NULL,
    revert_count INTEGER NOT NULL,
    apply_count  INTEGER NOT NULL,
    to_n         INTEGER NOT NULL,
    class        TEXT NOT NULL,
    cids         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS head_changes_counts ON head_changes(apply_count, revert_count);
-- The deep reorgs `reorgs` lists by default (ApplyCount >= 2), with every column it reads: its
-- rows are ~3 % of the table's but lie on nearly all of its pages (2,597 rows of a 1 GiB
-- journal's 80,000 read ~1,000 pages of 16 KiB), so the report reads this instead (~1 MB).
-- Databases made before do without it (`query::reorgs` looks).
CREATE INDEX IF NOT EXISTS head_changes_deep ON head_changes(event_id, ts_ns, ts_off, ts_prec, from_height, to_height, revert_count, apply_count, to_n, class, cids) WHERE apply_count >= 2;
CREATE INDEX IF NOT EXISTS head_changes_ts ON head_changes(ts_ns);
"#;

/// The page size of a new database. SQLite writes a page per system call, twice through the WAL
/// (a frame's header, then its page) and twice more when a checkpoint copies it (read from the
/// WAL, write to the database). With SQLite's default 4 KiB pages an ingest of a 1 GiB journal
/// made ~300,000 such calls, ~1.4 s of system time beside 3 s of user time on 2 cores; 16 KiB
/// pages cut the calls 4× and the ingest's wall ×0.80–0.91 (farm-bench, two sets of 7 pairs:
/// against the previous binary, and the same binary with 4 KiB pages). 64 KiB pages saved
/// no more time but packed small segments badly: a 2 GiB log's database grew by a third, where
/// 16 KiB costs it 7 % and the journal's nothing (bench/RESULTS.md).
pub const PAGE_SIZE: i64 = 16 * 1024;

/// Opens (creating if needed) the database at `path` with lsync's settings: WAL, so readers do
/// not block an ingest and a crash leaves the file consistent; `synchronous=NORMAL`, which in
/// WAL mode can lose the last transaction on power loss but never corrupts.
pub fn open(path: &Path) -> Result<Connection> {
    let p = path.display().to_string();
    let conn = Connection::open(path).map_err(|source| StoreError::Open { path: p.clone(), source })?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // Takes effect only on a new database (an existing one keeps the size it was created with).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|source| StoreError::Open { path: p.clone(), source })?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 16 MiB of page cache. The ingest's writer touches few pages more than once (a batch's
    // segments are appended; postings are partitioned so a batch updates only its own leaves),
    // and every query runs in a process of its own, which starts with an empty cache: a larger
    // cache only raised the ingest's peak memory (64 MiB: `--keep-raw` on a 1 GiB journal
    // peaked at 255–272 MiB, over the 256 MiB bound; 16 MiB: 220 MiB, no slower).
    conn.pragma_update(None, "cache_size", -16384)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { path: p, found: version, known: SCHEMA_VERSION });
    }
    if version != 0 && version < 6 {
        return Err(StoreError::Input(format!(
            "database {p} was written by an older lsync (schema {version}; this one writes {SCHEMA_VERSION}, which stores CIDs as bytes): re-ingest the files into a new database"
        )));
    }
    if version == 6 {
        migrate_6_to_7(&conn).map_err(|source| StoreError::Migrate { path: p.clone(), from: 6, source })?;
    }
    // A checkpoint every 16 MiB of WAL (4,096 pages) for a connection that writes on its own
    // (live ingest during `follow`). An ingest checkpoints beside its writer instead
    // (`checkpoints::Checkpointer`). Measured on a 512 MiB log: 64 MiB checkpoints left the
    // parsers blocked ~0.7 s and the ingest ~15 % slower; 4 MiB (SQLite's default) pays more
    // fsyncs than it saves (bench/RESULTS.md).
    conn.pragma_update(None, "wal_autocheckpoint", checkpoints::AUTO_CHECKPOINT_PAGES)?;
    if version == 0 {
        // A new database (the schema is created in one transaction, with its version).
        conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))?;
    }
    Ok(conn)
}

/// Schema 6 → 7: `cid_postings` from a rowid table with a unique index to a table clustered on
/// that key. One `BEGIN IMMEDIATE` transaction: a concurrent opener waits (busy timeout) and
/// then sees version 7; a crash or kill leaves the database at version 6, untouched.
/// The table is spelled out here rather than taken from [`SCHEMA`]: a migration produces the
/// layout of the version it migrates to, which a later schema may change again.
fn migrate_6_to_7(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let migrate = || -> rusqlite::Result<()> {
        // Another process may have migrated it while this one waited for the write lock.
        if conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? != 6 {
            return Ok(());
        }
        conn.execute_batch(
            "CREATE TABLE cid_postings_7 (
                 part INTEGER NOT NULL, bucket INTEGER NOT NULL, first_segment INTEGER NOT NULL, entries BLOB NOT NULL,
                 PRIMARY KEY (part, bucket, first_segment)
             ) WITHOUT ROWID;
             INSERT INTO cid_postings_7 SELECT part, bucket, first_segment, entries FROM cid_postings ORDER BY part, bucket, first_segment;
             DROP TABLE cid_postings;
             ALTER TABLE cid_postings_7 RENAME TO cid_postings;
             PRAGMA user_version = 7;",
        )
    };
    match migrate() {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Opens an existing database for reports; a missing file is an error, not an empty database.
pub fn open_existing(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(StoreError::Input(format!(
            "no database at {} (run `lsync ingest PATH… --db {}` first, or set LSYNC_DB)",
            path.display(),
            path.display()
        )));
    }
    open(path)
}

/// The page cache of a reading connection (KiB, as `cache_size` takes a negative number). A
/// report reads most pages once, and every page the cache has not held yet is fresh memory the
/// kernel faults in and zeroes: `reorgs` of 2,597 deep reorgs reads ~1,000 pages of 16 KiB and
/// took 38 ms with the writer's 16 MiB cache, 29 ms with 2 MiB (`miners` 16 → 12 ms; `trace`,
/// `events --cid` and a full `sql` scan unchanged; farm-bench, bench/RESULTS.md).
const READING_CACHE_KIB: i64 = -2048;

/// [`open_existing`] for a command that only reads (the reports): one read transaction for
/// the connection's life, so its queries see one snapshot while an ingest may be writing,
/// and SQLite takes its shared lock and checks the WAL and a hot journal once instead of per
/// statement — `miners` ran ~270 statements, each paying 4 fcntl locks and 2 stats. Dropping
/// the connection ends the transaction.
pub fn open_for_reading(path: &Path) -> Result<Connection> {
    let conn = open_existing(path)?;
    conn.pragma_update(None, "cache_size", READING_CACHE_KIB)?;
    conn.execute_batch("BEGIN DEFERRED")?;
    Ok(conn)
}

/// The id of a node, created on first use.
pub fn node_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.execute("INSERT OR IGNORE INTO nodes(name) VALUES (?1)", params![name])?;
    Ok(conn.query_row("SELECT id FROM nodes WHERE name = ?1", params![name], |r| r.get(0))?)
}

/// The id of a node if it exists.
pub fn find_node(conn: &Connection, name: &str) -> Result<Option<i64>> {
    Ok(conn.query_row("SELECT id FROM nodes WHERE name = ?1", params![name], |r| r.get(0)).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of this test process's own (removed by the test at its end).
    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lsync-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join(" | ")
    }

    #[test]
    fn query_plans_use_indexes() {
        let dir = scratch_dir("plan");
        let conn = open(&dir.join("p.db")).unwrap();
        // trace and events --cid: CID key → segments
        let p = plan(&conn, &crate::read::POSTINGS_SQL.replace("?1", "3").replace("?2", "3"));
        assert!(p.contains("SCAN pp") && p.contains("USING PRIMARY KEY (part=? AND bucket>? AND bucket<?)"), "{p}");
        // reorgs: filter on counts
        let p = plan(&conn, crate::query::REORGS_SQL_FOR_PLAN);
        assert!(p.contains("head_changes_counts"), "{p}");
        // reorgs of the default depth, with every filter it takes: the deep rows alone, not a
        // page of the table per row (bound values do not change a plan here)
        let f = crate::query::Filter { node: Some("n".into()), since: Some(lsync_core::Timestamp::parse("2026-01-01T00:00:00Z").unwrap()), until: Some(lsync_core::Timestamp::parse("2026-02-01T00:00:00Z").unwrap()), ..Default::default() };
        let (sql, args) = crate::query::reorgs_sql(true, 2, 1, &f);
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let p = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3)).unwrap().map(|r| r.unwrap()).collect::<Vec<_>>().join(" | ");
        assert!(p.contains("COVERING INDEX head_changes_deep"), "{p}");
        // events by kind and time, worker_done after a time: as `read::segments_by_kind` asks,
        // answered from the index alone (no page of the table per segment)
        let p = plan(&conn, "SELECT id, source_id, min_ts FROM segments WHERE kind IN ('new_heaviest') AND max_ts >= 0 AND min_ts <= 10 ORDER BY min_ts IS NULL, min_ts, id");
        assert!(p.contains("COVERING INDEX segments_kind_ts (kind=? AND max_ts>?)"), "{p}");
        // trace's revert scan: head changes after a time
        let p = plan(&conn, "SELECT event_id FROM head_changes WHERE ts_ns >= 5 ORDER BY ts_ns");
        assert!(p.contains("head_changes_ts (ts_ns>?)"), "{p}");
        // the segment holding an event: a rowid range
        let p = plan(&conn, "SELECT id FROM segments WHERE id <= 100 AND id >= 0 AND +kind = 'head_change' ORDER BY id DESC LIMIT 1");
        assert!(p.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{p}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_new_database_has_large_pages_and_an_old_one_keeps_its_own() {
        let page_size = |c: &Connection| c.pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0)).unwrap();
        let dir = scratch_dir("pages");
        let new = open(&dir.join("new.db")).unwrap();
        assert_eq!(page_size(&new), PAGE_SIZE);
        // A database written before lsync chose its page size: SQLite's default, 4 KiB, in WAL.
        let old_path = dir.join("old.db");
        {
            let c = Connection::open(&old_path).unwrap();
            c.execute_batch(&format!("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")).unwrap();
        }
        let old = open(&old_path).unwrap();
        assert_eq!(page_size(&old), 4096);
        node_id(&old, "a").unwrap();
        drop(old);
        assert_eq!(page_size(&open(&old_path).unwrap()), 4096);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_schema_6_database_is_migrated_in_place_with_every_posting() {
        let dir = scratch_dir("migrate");
        let path = dir.join("m.db");
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = (0..300i64).map(|i| (i % 3, (i * 7) % 256, i << 20, vec![i as u8; 1 + (i % 5) as usize])).collect();
        {
            // Schema 6's layout: a rowid table in insertion order with a unique index.
            let conn = open(&path).unwrap();
            conn.execute_batch(
                "DROP TABLE cid_postings;
                 CREATE TABLE cid_postings (id INTEGER PRIMARY KEY, part INTEGER NOT NULL, bucket INTEGER NOT NULL, first_segment INTEGER NOT NULL, entries BLOB NOT NULL);
                 CREATE UNIQUE INDEX cid_postings_bucket ON cid_postings(part, bucket, first_segment);
                 PRAGMA user_version = 6;",
            )
            .unwrap();
            for (part, bucket, first, entries) in &rows {
                conn.execute("INSERT INTO cid_postings(part, bucket, first_segment, entries) VALUES (?1, ?2, ?3, ?4)", params![part, bucket, first, entries]).unwrap();
            }
        }
        let conn = open(&path).unwrap();
        assert_eq!(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), SCHEMA_VERSION);
        let sql: String = conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'cid_postings'", [], |r| r.get(0)).unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "{sql}");
        let mut stmt = conn.prepare("SELECT part, bucket, first_segment, entries FROM cid_postings").unwrap();
        let mut got: Vec<(i64, i64, i64, Vec<u8>)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(|r| r.unwrap()).collect();
        let mut want = rows.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let p = plan(&conn, &crate::read::POSTINGS_SQL.replace("?1", "3").replace("?2", "3"));
        assert!(p.contains("USING PRIMARY KEY (part=? AND bucket>? AND bucket<?)"), "{p}");
        drop(stmt);
        drop(conn);
        // Opened again: nothing left to do.
        assert!(open(&path).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_reading_connection_sees_one_snapshot_while_another_writes() {
        let dir = scratch_dir("snapshot");
        let path = dir.join("s.db");
        let writer = open(&path).unwrap();
        node_id(&writer, "a").unwrap();
        let reader = open_for_reading(&path).unwrap();
        assert!(!reader.is_autocommit(), "one transaction for the whole command");
        let count = |c: &Connection| c.query_row("SELECT count(*) FROM nodes", [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count(&reader), 1);
        node_id(&writer, "b").unwrap();
        assert_eq!(count(&writer), 2);
        assert_eq!(count(&reader), 1, "the reader's snapshot does not move under it");
        drop(reader);
        assert_eq!(count(&open_for_reading(&path).unwrap()), 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn refuses_an_older_schema_with_a_sentence() {
        let dir = scratch_dir("old-schema");
        let path = dir.join("o.db");
        {
            let conn = open(&path).unwrap();
            conn.pragma_update(None, "user_version", 5).unwrap();
        }
        let Err(e) = open(&path) else { panic!("a schema 5 database was opened") };
        let e = e.to_string();
        assert!(e.contains("older lsync (schema 5") && e.contains("re-ingest"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = scratch_dir("schema");
        let path = dir.join("s.db");
        {
            let conn = open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        }
        assert!(matches!(open(&path), Err(StoreError::NewerSchema { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
