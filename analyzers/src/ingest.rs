//! `lsync ingest`: files → events in SQLite, incrementally and idempotently.
//!
//! A file is known by its *identity* — the hash of its first bytes (up to 4 KiB), not its path —
//! so a journal that Lotus rolled (`lotus-journal.ndjson` → `lotus-journal-<T>.ndjson`) or a
//! copied log is recognised and resumed. Per identity the store keeps a checkpoint (byte offset,
//! next line number) that always sits on a record boundary. Events and the checkpoint are written
//! in one transaction, so a crash or `kill -9` at any point leaves the database as of the last
//! commit and the next run neither duplicates nor skips a row (`UNIQUE(source_id, line)` is the
//! second line of defence).
//!
//! A last line without its `\n` is *torn*: Lotus is still writing it. It waits for the next run,
//! except in files that can no longer grow (compressed files, rolled journals), where it is
//! parsed as it stands.

use crate::segment::{self, SegmentBuilder};
use crate::store::{self, Result, StoreError};
use lsync_core::{detect_format, Event, EventKind, FileFormat, JournalOptions, JournalParser, LineStats, LogParser};
use multihash_codetable::{Code, MultihashDigest};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How many bytes of a file make its identity.
const FINGERPRINT_LEN: usize = 4096;
/// Events per transaction (or [`BATCH_BYTES`] of input, whichever comes first).
const BATCH_EVENTS: usize = 80_000;
/// Unknown lines stored per file (all are counted; the first ones are kept to show where).
const MAX_STORED_UNKNOWN: i64 = 1000;
/// Problems listed per file in the closing summary.
const MAX_REPORTED_PROBLEMS: usize = 5;

/// Options of one ingest run.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    pub node: String,
    pub keep_raw: bool,
    /// Parser threads per file; `None`: one per core.
    pub parse_threads: Option<usize>,
    /// Input bytes after which a chunk is cut at the next record start; `None`: 4 MiB. Tests
    /// make it small to cut files into many chunks.
    pub chunk_bytes: Option<usize>,
    /// Input bytes per transaction; `None`: 64 MiB. The crash test makes it small so that kills
    /// land between a file's commits.
    pub batch_bytes: Option<u64>,
}

/// Progress notifications, for a progress bar.
pub trait Progress {
    /// Called once with the total bytes to read (new bytes, all files).
    fn start(&mut self, _total_bytes: u64) {}
    /// Called as bytes are consumed; `delta` since the last call.
    fn advance(&mut self, _delta: u64, _file: &str) {}
    fn finish(&mut self) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A file to ingest, with the path as the user gave it (or as found under a given directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
}

/// What happened to one file.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub format: String,
    pub compression: Option<String>,
    /// `new`, `resumed`, `unchanged`, `renamed` (a rolled journal), or `truncated` (restarted).
    pub status: String,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub malformed: u64,
    pub unknown: u64,
    pub other_records: u64,
    /// First problems: `(line, kind, reason-or-text)`.
    pub problems: Vec<(u64, String, String)>,
    /// Line number of a torn last line left for the next run.
    pub torn_line: Option<u64>,
}

/// The closing summary of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IngestReport {
    pub node: String,
    pub files: Vec<FileReport>,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub malformed: u64,
    pub unknown: u64,
}

/// Expands the user's paths into files in ingest order.
///
/// - a file is taken as is;
/// - a Lotus repo (a directory with `journal/`) contributes its journal files and any `*.log`
///   files directly inside it;
/// - any other directory contributes every regular file below it (hidden files and lsync's own
///   database files skipped).
///
/// Journal files are ordered by the roll time in their names, the current `lotus-journal.ndjson`
/// last, so head changes are ingested in the order Lotus wrote them.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| StoreError::Io {
            path: p.display().to_string(),
            source: std::io::Error::new(e.kind(), if e.kind() == std::io::ErrorKind::NotFound { "no such file or directory".to_string() } else { e.to_string() }),
        })?;
        if meta.is_file() {
            out.push(InputFile { path: p.clone() });
            continue;
        }
        let journal = p.join("journal");
        let mut files = Vec::new();
        if journal.is_dir() {
            // A Lotus repo: its journal, plus log files kept beside it (`*.log`, `*.log.gz`, …);
            // never config.toml, keystore/ or datastore/.
            walk(&journal, &mut files)?;
            let rd = std::fs::read_dir(p).map_err(|source| StoreError::Io { path: p.display().to_string(), source })?;
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let is_log = name.ends_with(".log") || name.contains(".log.");
                if is_log && e.path().is_file() {
                    files.push(e.path());
                }
            }
        } else {
            walk(p, &mut files)?;
        }
        files.sort_by_key(|p| order_key(p));
        out.extend(files.into_iter().map(|path| InputFile { path }));
    }
    Ok(out)
}

/// Files a directory walk passes over: databases, documents, configuration, CARs. Name such a
/// file explicitly to ingest it anyway.
const SKIPPED_IN_DIRECTORIES: &[&str] = &[".db", ".db-wal", ".db-shm", ".md", ".toml", ".car", ".yaml", ".yml", ".json", ".lock"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || SKIPPED_IN_DIRECTORIES.iter().any(|ext| name.ends_with(ext)) {
            continue;
        }
        let path = e.path();
        let ft = match e.file_type() {
            Ok(ft) => ft,
            Err(_) => continue,
        };
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Sort key: directory, then journal files by roll time with the current file last, then name.
fn order_key(p: &Path) -> (PathBuf, u8, i64, String) {
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let base = name.trim_end_matches(".gz").trim_end_matches(".zst");
    if base == "lotus-journal.ndjson" {
        return (dir, 1, i64::MAX, name);
    }
    if let Some(t) = base.strip_prefix("lotus-journal-").and_then(|s| s.strip_suffix(".ndjson")) {
        if let Some(ns) = journal_name_time(t) {
            return (dir, 1, ns, name);
        }
    }
    (dir, 0, 0, name)
}

/// Parses the `2006-01-02T150405Z0700` roll time of a journal file name.
pub fn journal_name_time(t: &str) -> Option<i64> {
    // Re-insert the colons the layout leaves out, then use the common parser.
    if t.len() < 17 || t.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (date, rest) = t.split_at(11);
    let (hms, zone) = rest.split_at(6.min(rest.len()));
    let iso = format!("{date}{}:{}:{}{zone}", &hms[0..2], &hms[2..4], &hms[4..6]);
    lsync_core::Timestamp::parse(&iso).ok().map(|ts| ts.unix_nanos)
}

fn is_rolled_journal(path: &Path) -> bool {
    path.file_name()
        .map(|n| {
            let n = n.to_string_lossy();
            n.starts_with("lotus-journal-") && n.contains(".ndjson")
        })
        .unwrap_or(false)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gz"),
            Compression::Zstd => Some("zst"),
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), source }
}

fn sniff_compression(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut f, &mut magic).map_err(|e| io_err(path, e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Opens the file's (decompressed) content, positioned at `offset`.
fn open_content(path: &Path, comp: Compression, offset: u64) -> Result<Box<dyn BufRead + Send>> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let reader: Box<dyn Read + Send> = match comp {
        Compression::None => {
            f.seek(SeekFrom::Start(offset)).map_err(|e| io_err(path, e))?;
            return Ok(Box::new(BufReader::with_capacity(1 << 20, f)));
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f).map_err(|e| io_err(path, e))?),
    };
    let mut r = BufReader::with_capacity(1 << 20, reader);
    // Compressed streams cannot seek: decompress and discard up to the checkpoint.
    let skipped = std::io::copy(&mut (&mut r).take(offset), &mut std::io::sink()).map_err(|e| io_err(path, e))?;
    if skipped < offset {
        return Err(StoreError::Input(format!("{}: shorter than its checkpoint", path.display())));
    }
    Ok(Box::new(r))
}

/// Opens a file for reading, decompressing `.gz`/`.zst` content (detected by magic bytes).
pub fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let comp = sniff_compression(path)?;
    open_content(path, comp, 0)
}

fn fingerprint(bytes: &[u8]) -> Vec<u8> {
    Code::Blake2b256.digest(bytes).digest().to_vec()
}

struct SourceRow {
    id: i64,
    path: String,
    fp_len: usize,
    fp_hash: Vec<u8>,
    byte_offset: u64,
    next_line: u64,
    unknown: i64,
}

/// Finds the stored identity this file continues, if any: the longest stored fingerprint that
/// is a prefix of this file's first bytes.
fn find_source(conn: &Connection, node_id: i64, prefix: &[u8], path: &str) -> Result<Option<SourceRow>> {
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

/// Ingests `files` for one node. Files are processed in order; each in batched transactions.
pub fn ingest(conn: &mut Connection, files: &[InputFile], opts: &IngestOptions, progress: &mut dyn Progress) -> Result<IngestReport> {
    let node_id = store::node_id(conn, &opts.node)?;
    // Plan first, so the progress bar knows the total.
    let mut plans = Vec::new();
    let mut total = 0u64;
    for f in files {
        let comp = sniff_compression(&f.path)?;
        let size = std::fs::metadata(&f.path).map_err(|e| io_err(&f.path, e))?.len();
        let mut prefix = vec![0u8; FINGERPRINT_LEN];
        let mut r = open_content(&f.path, comp, 0)?;
        let n = read_full(&mut r, &mut prefix).map_err(|e| io_err(&f.path, e))?;
        prefix.truncate(n);
        let display = f.path.display().to_string();
        let existing = find_source(conn, node_id, &prefix, &display)?;
        let remaining = match (&existing, comp) {
            (Some(s), Compression::None) => size.saturating_sub(s.byte_offset),
            (None, Compression::None) => size,
            // For compressed files the on-disk size says little; count the whole file.
            (_, _) => size,
        };
        total += remaining;
        plans.push((f, comp, size, prefix, existing));
    }
    progress.start(total);
    let mut report = IngestReport { node: opts.node.clone(), ..Default::default() };
    for (f, comp, size, prefix, existing) in plans {
        let fr = ingest_file(conn, node_id, f, comp, size, &prefix, existing, opts, progress)?;
        report.bytes += fr.bytes;
        report.lines += fr.lines;
        report.events += fr.events;
        report.malformed += fr.malformed;
        report.unknown += fr.unknown;
        for (k, v) in &fr.by_kind {
            *report.by_kind.entry(k.clone()).or_default() += v;
        }
        report.files.push(fr);
    }
    progress.finish();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn ingest_file(
    conn: &mut Connection,
    node_id: i64,
    f: &InputFile,
    comp: Compression,
    size: u64,
    prefix: &[u8],
    existing: Option<SourceRow>,
    opts: &IngestOptions,
    progress: &mut dyn Progress,
) -> Result<FileReport> {
    let display = f.path.display().to_string();
    let format = detect_format(prefix);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut fr = FileReport {
        path: display.clone(),
        format: format.as_str().to_string(),
        compression: comp.name().map(str::to_string),
        ..Default::default()
    };
    let fp_len = prefix.len();
    let (source_id, offset, next_line, mut unknown_stored) = match existing {
        Some(s) if comp != Compression::None || s.byte_offset <= size => {
            fr.status = if s.path != display {
                "renamed".into()
            } else if s.byte_offset == size && comp == Compression::None {
                "unchanged".into()
            } else {
                "resumed".into()
            };
            conn.execute(
                "UPDATE sources SET path = ?2, fp_len = ?3, fp_hash = ?4 WHERE id = ?1",
                params![s.id, display, fp_len as i64, fingerprint(prefix)],
            )?;
            (s.id, s.byte_offset, s.next_line, s.unknown)
        }
        other => {
            fr.status = if other.is_some() { "truncated".into() } else { "new".into() };
            conn.execute(
                "INSERT INTO sources(node_id, path, format, compression, fp_len, fp_hash, first_ingest, last_ingest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![node_id, display, format.as_str(), comp.name(), fp_len as i64, fingerprint(prefix), now],
            )?;
            (conn.last_insert_rowid(), 0, 1, 0)
        }
    };
    if fr.status == "unchanged" {
        return Ok(fr);
    }
    let final_file = comp != Compression::None || is_rolled_journal(&f.path);
    let reader = open_content(&f.path, comp, offset)?;
    let kind = match format {
        FileFormat::Log => ParserKind::Log,
        FileFormat::Journal => ParserKind::Journal { keep_raw: opts.keep_raw },
    };
    let chunk_bytes = opts.chunk_bytes.unwrap_or(CHUNK_BYTES).max(1);
    let batch_limit = opts.batch_bytes.unwrap_or(BATCH_BYTES).max(1);
    let threads = parser_threads(opts.parse_threads, size.saturating_sub(offset), chunk_bytes);
    let mut writer = BatchWriter::new();
    // One thread cuts the input into chunks at record starts, `threads` parse chunks, and this
    // thread writes them to SQLite in input order.
    let (torn_line, stats) = std::thread::scope(|scope| -> Result<(Option<u64>, LineStats)> {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(threads);
        let chunk_rx = std::sync::Arc::new(std::sync::Mutex::new(chunk_rx));
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        // Cleared once the file can store and report no more unknown lines: parsers then skip
        // their text (they still count them). Chunks parsed earlier keep theirs, and the writer
        // decides, in file order, which to keep: the result does not depend on the timing.
        let unknown_wanted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        // Encoded chunks are small (a tenth of their input): a queue deeper than a batch (16
        // chunks) lets the parsers run on while the writer commits or waits for a checkpoint.
        // With `--keep-raw` a chunk's encoding is as large as its input: a shorter queue.
        let depth = if opts.keep_raw { 8 } else { 48 };
        let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel::<ParsedChunk>(depth);
        let path = f.path.clone();
        let reader_thread = std::thread::Builder::new()
            .name("lsync-read".into())
            .spawn_scoped(scope, move || read_chunks(reader, kind, chunk_bytes, next_line, final_file, &path, chunk_tx, spare_rx))
            .map_err(|e| io_err(&f.path, e))?;
        for i in 0..threads {
            let rx = chunk_rx.clone();
            let tx = parsed_tx.clone();
            let spare = spare_tx.clone();
            let wanted = unknown_wanted.clone();
            std::thread::Builder::new()
                .name(format!("lsync-parse-{i}"))
                .spawn_scoped(scope, move || loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok(chunk)) = next else { break };
                    let (parsed, buffer) = kind.parse(chunk, source_id, wanted.load(std::sync::atomic::Ordering::Relaxed));
                    let _ = spare.send(buffer);
                    if tx.send(parsed).is_err() {
                        break;
                    }
                })
                .map_err(|e| io_err(&f.path, e))?;
        }
        drop((parsed_tx, spare_tx));
        // Chunks arrive in any order; they are committed in input order.
        let mut waiting: BTreeMap<u64, ParsedChunk> = BTreeMap::new();
        let mut next_seq = 0;
        let mut totals = LineStats::default();
        let mut stats_base = LineStats::default();
        let mut position = (offset, next_line);
        let mut batch = Batch { chunks: Vec::new(), checkpoint: position, stats: LineStats::default() };
        let mut batch_events = 0u64;
        let mut batch_bytes = 0u64;
        let mut batch_encoded = 0u64;
        for parsed in parsed_rx.iter() {
            waiting.insert(parsed.seq, parsed);
            while let Some(mut c) = waiting.remove(&next_seq) {
                next_seq += 1;
                position = (position.0 + c.input_bytes, position.1 + c.lines);
                totals.add(&c.stats);
                batch_events += c.encoded.stored();
                batch_encoded += c.encoded.heap_bytes();
                batch.chunks.push(std::mem::replace(&mut c.encoded, Encoded::new()));
                batch_bytes += c.input_bytes;
                if batch_events >= BATCH_EVENTS as u64 || batch_bytes >= batch_limit || batch_encoded >= BATCH_ENCODED_BYTES {
                    batch.checkpoint = position;
                    batch.stats = totals.clone();
                    fr.bytes += batch_bytes;
                    progress.advance(batch_bytes, &display);
                    writer.commit(conn, source_id, &mut batch, &stats_base, &mut fr, &mut unknown_stored, fp_len, prefix, &now)?;
                    if unknown_stored >= MAX_STORED_UNKNOWN && fr.problems.len() >= MAX_REPORTED_PROBLEMS {
                        unknown_wanted.store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                    stats_base = totals.clone();
                    batch_bytes = 0;
                    batch_events = 0;
                    batch_encoded = 0;
                }
            }
        }
        let torn = reader_thread.join().map_err(|_| StoreError::Input(format!("{display}: reader thread panicked")))??;
        if !waiting.is_empty() {
            return Err(StoreError::Input(format!("{display}: a parser thread stopped before the end")));
        }
        // The last batch, even if empty: it records the final checkpoint and counters.
        batch.checkpoint = position;
        batch.stats = totals.clone();
        fr.bytes += batch_bytes;
        progress.advance(batch_bytes, &display);
        writer.commit(conn, source_id, &mut batch, &stats_base, &mut fr, &mut unknown_stored, fp_len, prefix, &now)?;
        Ok((torn, totals))
    })?;
    fr.torn_line = torn_line;
    fr.by_kind = writer.kind_counts();
    fr.lines = stats.lines;
    fr.other_records = stats.other_records;
    Ok(fr)
}

/// Longest line kept whole (bytes); anything longer keeps its first MAX_LINE_BYTES.
const MAX_LINE_BYTES: usize = 4 << 20;
/// A chunk handed to a parser is closed at the first record start after this many bytes.
const CHUNK_BYTES: usize = 4 << 20;
/// ...or, in input with no record start at all (not a Lotus log), after this many: the one
/// place where the parallel parse may read a line differently from a single parser (a
/// continuation line just past the cut becomes `unknown`).
const MAX_CHUNK_BYTES: usize = 64 << 20;
/// Bytes of input (or events) after which the writer commits a batch. Large on purpose: CIDs are
/// random, so a batch's postings land on nearly every leaf of the `cid_postings` index and each
/// commit rewrites those pages to the WAL — at 16 MiB the 2 GiB bench log wrote 2.1 GB of pages
/// for a 182 MB database and the writer held up the parsers 8 s of an 11 s ingest. 64 MiB
/// rewrites each leaf a quarter as often; a kill loses at most this much progress (re-read on
/// the next run), and memory stays bounded (a batch is kept encoded: ~a tenth of its input).
const BATCH_BYTES: u64 = 64 << 20;
/// ...or once its encoding holds this much (input kept raw encodes to about its own size).
const BATCH_ENCODED_BYTES: u64 = 16 << 20;

/// Which parser a file needs; each chunk gets a fresh one.
#[derive(Clone, Copy)]
enum ParserKind {
    Log,
    Journal { keep_raw: bool },
}

impl ParserKind {
    fn starts_record(self, line: &[u8]) -> bool {
        match self {
            ParserKind::Log => LogParser::starts_record(line),
            ParserKind::Journal { .. } => JournalParser::starts_record(line),
        }
    }

    /// Parses one chunk with a fresh parser, finished at its end, and encodes its events.
    /// Returns the chunk's buffer for reuse.
    fn parse(self, chunk: Chunk, source_id: i64, unknown_wanted: bool) -> (ParsedChunk, Vec<u8>) {
        let mut enc = Encoder::new(source_id);
        enc.keep_unknown = unknown_wanted;
        // Events go to the encoder as they come: the parser's output vector stays a few
        // entries long and hot in cache.
        let mut events = Vec::with_capacity(8);
        let data = &chunk.data[..chunk.used];
        let stats = match self {
            ParserKind::Log => {
                // The log parser takes the chunk whole: it checks some facts once per chunk.
                let mut p = LogParser::new();
                p.skip_unknown_text = !unknown_wanted;
                p.push_lines(chunk.first_line, data, &mut events, |out| {
                    for ev in out.drain(..) {
                        enc.add(ev);
                    }
                });
                p.finish(&mut events);
                p.stats().clone()
            }
            ParserKind::Journal { keep_raw } => {
                let mut p = JournalParser::new(JournalOptions { keep_raw });
                let mut line = chunk.first_line;
                // Every line of a chunk ends in `\n` (`Chunk::data`): nothing is left over.
                lsync_core::bytes::for_each_line(data, |text| {
                    p.push_line(line, text, &mut events);
                    for ev in events.drain(..) {
                        enc.add(ev);
                    }
                    line += 1;
                });
                p.finish(&mut events);
                p.stats().clone()
            }
        };
        for ev in events.drain(..) {
            enc.add(ev);
        }
        (ParsedChunk { seq: chunk.seq, encoded: enc.finish(), stats, lines: chunk.lines, input_bytes: chunk.input_bytes }, chunk.data)
    }
}

/// A run of whole lines from the reader. It ends where a record starts (or at the end of
/// input), so a fresh parser reads it exactly as one parser reading the whole file would
/// (`LogParser::starts_record`); chunks can therefore be parsed in parallel.
struct Chunk {
    seq: u64,
    /// The lines, each followed by `\n`, in `data[..used]` (the buffer is reused whole).
    data: Vec<u8>,
    used: usize,
    first_line: u64,
    lines: u64,
    /// Input bytes the chunk covers (an over-long line keeps only its first bytes in `data`).
    input_bytes: u64,
}

/// What a parser thread made of a chunk.
struct ParsedChunk {
    seq: u64,
    encoded: Encoded,
    stats: LineStats,
    lines: u64,
    input_bytes: u64,
}

/// Encoded chunks up to a checkpoint, handed to the writer.
struct Batch {
    chunks: Vec<Encoded>,
    /// (byte offset, next line) to store with these events: always a record boundary.
    checkpoint: (u64, u64),
    /// Cumulative line counters at the checkpoint.
    stats: LineStats,
}

/// Bytes asked of the reader at a time, straight into a chunk's buffer (a `BufReader` hands a
/// read this large past its own buffer: the file's bytes are copied once, by the kernel).
const READ_BYTES: usize = 1 << 20;
/// Bytes read past `chunk_bytes` to find the cut (the next record start) in: most cuts are within
/// a few lines of it.
const CUT_SLACK: usize = 64 << 10;

/// Splits the input from the checkpoint into chunks and sends them to the parsers. Returns the
/// line number of a torn last line left for the next run.
///
/// Input is read straight into the buffer of the chunk being built. A chunk is cut at the first
/// line that starts a record once it holds `chunk_bytes` (or, failing one, at `MAX_CHUNK_BYTES`);
/// what was read past the cut moves to the next chunk's buffer. An over-long line keeps its first
/// `MAX_LINE_BYTES`, the rest is skipped as it is read (memory stays bounded), and all of it
/// counts in `input_bytes`.
#[allow(clippy::too_many_arguments)]
fn read_chunks(
    mut reader: Box<dyn BufRead + Send>,
    kind: ParserKind,
    chunk_bytes: usize,
    next_line: u64,
    final_file: bool,
    path: &Path,
    tx: std::sync::mpsc::SyncSender<Chunk>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<Option<u64>> {
    let want = chunk_bytes.min(CHUNK_BYTES) + READ_BYTES + CUT_SLACK;
    // A buffer the parsers have finished with, if one has come back (no fresh pages to fault);
    // buffers keep their length, so they are zeroed once, when new.
    let take_buffer = || {
        let mut b = spare.try_recv().unwrap_or_default();
        if b.len() < want {
            b.resize(want, 0);
        }
        b
    };
    let mut buf = take_buffer();
    // buf[..done]: the chunk's whole lines (each ends in '\n'), `lines` of them, covering
    // `input` bytes of input; buf[done..filled]: the start of the open line, of which
    // `open_skipped` more bytes were read and dropped (an over-long line).
    let (mut filled, mut done, mut lines, mut input, mut open_skipped) = (0usize, 0usize, 0u64, 0u64, 0u64);
    let (mut seq, mut first_line) = (0u64, next_line);
    loop {
        // Reads end just past `chunk_bytes` where they can: the cut comes soon after it, and
        // what lies beyond the cut is copied to the next chunk's buffer (a whole read's worth
        // of copying per chunk, otherwise). A read shorter than READ_BYTES would go through
        // the BufReader's own buffer, a copy of its own: those stay READ_BYTES.
        let to_slack = (chunk_bytes + CUT_SLACK).saturating_sub(filled);
        let ask = if (READ_BYTES..2 * READ_BYTES).contains(&to_slack) { to_slack } else { READ_BYTES };
        if buf.len() < filled + ask {
            buf.resize(filled + ask, 0); // a chunk that found no cut, or a long line
        }
        let n = match reader.read(&mut buf[filled..filled + ask]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path, e)),
        };
        let mut n = n;
        if open_skipped > 0 {
            // Inside an over-long line: drop its bytes up to its newline.
            match memchr::memchr(b'\n', &buf[filled..filled + n]) {
                None => {
                    open_skipped += n as u64;
                    continue;
                }
                Some(i) => {
                    open_skipped += i as u64;
                    buf.copy_within(filled + i..filled + n, filled);
                    n -= i;
                }
            }
        }
        let mut new_from = filled;
        filled += n;
        loop {
            if open_skipped == 0 && done >= new_from && done < chunk_bytes {
                // Whole lines that lie in the bytes just read (none over-long: a read is shorter
                // than MAX_LINE_BYTES) and end by `chunk_bytes` (so none can be a cut): counted
                // in bulk.
                let limit = filled.min(chunk_bytes);
                if let Some(last) = memchr::memrchr(b'\n', &buf[done..limit]) {
                    let end = done + last + 1;
                    lines += memchr::memchr_iter(b'\n', &buf[done..end]).count() as u64;
                    input += (end - done) as u64;
                    done = end;
                }
            }
            // The next line one at a time: the open line, a line that may be a cut, a line
            // straddling `chunk_bytes`.
            let Some(i) = memchr::memchr(b'\n', &buf[done..filled]) else { break };
            let mut len = i;
            let line_input = (i + 1) as u64 + open_skipped;
            open_skipped = 0;
            if len > MAX_LINE_BYTES {
                // Keep the first MAX_LINE_BYTES of the line, then its newline.
                buf.copy_within(done + len..filled, done + MAX_LINE_BYTES);
                filled -= len - MAX_LINE_BYTES;
                len = MAX_LINE_BYTES;
            }
            if done >= chunk_bytes && (done >= MAX_CHUNK_BYTES.max(chunk_bytes) || kind.starts_record(&buf[done..done + len])) {
                // Cut before this line: it starts the next chunk.
                let mut next = take_buffer();
                if next.len() < filled - done + READ_BYTES {
                    next.resize(filled - done + READ_BYTES, 0);
                }
                next[..filled - done].copy_from_slice(&buf[done..filled]);
                let chunk = Chunk { seq, data: std::mem::replace(&mut buf, next), used: done, first_line, lines, input_bytes: input };
                if tx.send(chunk).is_err() {
                    return Ok(None); // the parsers stopped: the writer reports why
                }
                seq += 1;
                first_line += lines;
                filled -= done;
                new_from = new_from.saturating_sub(done);
                (done, lines, input) = (0, 0, 0);
            }
            done += len + 1;
            lines += 1;
            input += line_input;
        }
        if filled - done > MAX_LINE_BYTES {
            // The open line is over-long: keep its first bytes, skip the rest as it comes.
            open_skipped += (filled - done - MAX_LINE_BYTES) as u64;
            filled = done + MAX_LINE_BYTES;
        }
    }
    let mut torn = None;
    if filled > done || open_skipped > 0 {
        // A last line without its newline: still being written, unless the file is final.
        if final_file {
            if buf.len() < filled + 1 {
                buf.resize(filled + 1, 0);
            }
            buf[filled] = b'\n';
            input += (filled - done) as u64 + open_skipped;
            done = filled + 1;
            lines += 1;
        } else {
            torn = Some(first_line + lines);
        }
    }
    if lines > 0 || input > 0 {
        let _ = tx.send(Chunk { seq, data: buf, used: done, first_line, lines, input_bytes: input });
    }
    Ok(torn)
}

/// How many parser threads a file gets: one per core, fewer for small inputs (a chunk each).
fn parser_threads(requested: Option<usize>, remaining_bytes: u64, chunk_bytes: usize) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let chunks = (remaining_bytes / chunk_bytes as u64 + 1) as usize;
    requested.unwrap_or(cores).clamp(1, 16).min(chunks)
}

/// One segment, ready to insert.
struct SegmentRow {
    kind: EventKind,
    first_line: u64,
    last_line: u64,
    count: usize,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    min_height: Option<i64>,
    max_height: Option<i64>,
    blob: Vec<u8>,
}

/// One `head_changes` row, ready to insert.
struct HeadRow {
    event_id: i64,
    ts: Option<lsync_core::Timestamp>,
    from_height: i64,
    to_height: i64,
    revert_count: i64,
    apply_count: i64,
    to_n: i64,
    class: &'static str,
    cids: String,
}

/// Rows built from a run of events: what the writer inserts. Built on the parser threads, so
/// the events never cross to the writer (their encoding and their freeing run in parallel).
struct Encoded {
    segments: Vec<SegmentRow>,
    /// (CID key, id of a segment naming it), sorted and without repeats once the encoder has
    /// finished: a flat list, because a map of vectors cost an allocation per CID per chunk
    /// and merging maps on the writer's thread; the writer merges the sorted runs.
    postings: Vec<(i64, i64)>,
    heads: Vec<HeadRow>,
    /// Events stored, per kind (`EventKind as usize`); unknown lines are the writer's to count.
    by_kind: Vec<u64>,
    malformed: u64,
    /// Unknown lines seen, and the first of them (at most what a file may store), in order.
    unknown: u64,
    unknown_events: Vec<Event>,
    /// The first problems (malformed or unknown lines), in line order.
    problems: Vec<(u64, String, String)>,
}

impl Encoded {
    fn new() -> Encoded {
        Encoded {
            segments: Vec::new(),
            postings: Vec::new(),
            heads: Vec::new(),
            by_kind: vec![0; EventKind::ALL.len()],
            malformed: 0,
            unknown: 0,
            unknown_events: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Roughly the memory this holds (segment blobs dominate): what bounds a batch.
    fn heap_bytes(&self) -> u64 {
        let blobs: usize = self.segments.iter().map(|s| s.blob.len()).sum();
        (blobs + self.postings.len() * 16 + self.heads.len() * 160) as u64
    }

    fn stored(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Adds another run's rows (the next chunk of the same batch).
    fn absorb(&mut self, other: Encoded) {
        self.segments.extend(other.segments);
        self.postings.extend(other.postings);
        self.heads.extend(other.heads);
        for (a, b) in self.by_kind.iter_mut().zip(&other.by_kind) {
            *a += b;
        }
        self.malformed += other.malformed;
    }
}

/// Packs events of one source into per-kind segments and the rows that index them.
struct Encoder {
    source_id: i64,
    /// Whether unknown events are still wanted (the file may store more, or report them).
    keep_unknown: bool,
    /// The open segment of each kind (indexed by `EventKind as usize`).
    open: Vec<Option<SegmentBuilder>>,
    out: Encoded,
}

impl Encoder {
    fn new(source_id: i64) -> Encoder {
        Encoder { source_id, keep_unknown: true, open: (0..EventKind::ALL.len()).map(|_| None).collect(), out: Encoded::new() }
    }

    /// Takes one event. Unknown lines are only collected (see [`Encoded::unknown_events`]);
    /// [`Encoder::store`] stores the ones a file's budget allows.
    fn add(&mut self, ev: Event) {
        let reported = ev.kind == EventKind::Malformed || (ev.kind == EventKind::Unknown && self.keep_unknown);
        if reported && self.out.problems.len() < MAX_REPORTED_PROBLEMS {
            self.out.problems.push((ev.line, ev.kind.as_str().to_string(), ev.problem.clone().unwrap_or_else(|| ev.text.chars().take(120).collect())));
        }
        match ev.kind {
            EventKind::Unknown => {
                self.out.unknown += 1;
                if self.keep_unknown && (self.out.unknown_events.len() as i64) < MAX_STORED_UNKNOWN {
                    self.out.unknown_events.push(ev);
                }
                return;
            }
            EventKind::Malformed => self.out.malformed += 1,
            _ => {}
        }
        self.store(&ev);
    }

    /// Puts one event into its kind's open segment.
    fn store(&mut self, ev: &Event) {
        self.out.by_kind[ev.kind as usize] += 1;
        let slot = &mut self.open[ev.kind as usize];
        if slot.as_ref().is_some_and(SegmentBuilder::is_full) {
            let full = slot.take().expect("checked");
            self.out.segments.push(segment_row(&full));
        }
        let seg = slot.get_or_insert_with(|| SegmentBuilder::new(ev.kind, ev.line));
        seg.push(ev);
        let seg_id = store::event_id(self.source_id, seg.first_line);
        for cid in &ev.cids {
            let pair = (segment::cid_key(cid), seg_id);
            if self.out.postings.last() != Some(&pair) {
                self.out.postings.push(pair);
            }
        }
        // A row only for head changes that reverted something (a few in a hundred): what
        // `reorgs` and trace's revert scan look up. Extends stay in their segment.
        if let Some(hc) = ev.head_change.as_ref().filter(|hc| hc.revert_count != 0) {
            self.out.heads.push(HeadRow {
                event_id: store::event_id(self.source_id, ev.line),
                ts: ev.ts,
                from_height: hc.from_height,
                to_height: hc.to_height,
                revert_count: hc.revert_count,
                apply_count: hc.apply_count,
                to_n: hc.to.len() as i64,
                class: hc.class().as_str(),
                cids: ev.cids.join(" "),
            });
        }
    }

    /// Closes the open segments.
    /// Closes the open segments; sorts the postings (on the parser's thread, not the writer's).
    fn finish(mut self) -> Encoded {
        for seg in self.open.iter_mut().filter_map(Option::take) {
            self.out.segments.push(segment_row(&seg));
        }
        self.out.postings.sort_unstable();
        self.out.postings.dedup();
        self.out
    }
}

fn segment_row(seg: &SegmentBuilder) -> SegmentRow {
    SegmentRow {
        kind: seg.kind,
        first_line: seg.first_line,
        last_line: seg.last_line,
        count: seg.count,
        min_ts: seg.min_ts,
        max_ts: seg.max_ts,
        min_height: seg.min_height,
        max_height: seg.max_height,
        blob: seg.finish(),
    }
}

/// Writes batches of encoded rows and moves the checkpoint, in one transaction per batch.
struct BatchWriter {
    /// Events stored per kind in this file (`EventKind as usize`).
    by_kind: Vec<u64>,
}

impl BatchWriter {
    fn new() -> BatchWriter {
        BatchWriter { by_kind: vec![0; EventKind::ALL.len()] }
    }

    /// Per-kind counts of the events stored so far, by public name.
    fn kind_counts(&self) -> BTreeMap<String, u64> {
        EventKind::ALL.iter().filter(|k| self.by_kind[**k as usize] > 0).map(|k| (k.as_str().to_string(), self.by_kind[*k as usize])).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
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
            let mut insert_segment = tx.prepare_cached(
                "INSERT OR IGNORE INTO segments(id, source_id, kind, n_events, first_line, last_line, min_ts, max_ts, min_height, max_height, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for seg in &rows.segments {
                insert_segment.execute(params![
                    store::event_id(source_id, seg.first_line),
                    source_id,
                    seg.kind.as_str(),
                    seg.count as i64,
                    seg.first_line as i64,
                    seg.last_line as i64,
                    seg.min_ts,
                    seg.max_ts,
                    seg.min_height,
                    seg.max_height,
                    seg.blob
                ])?;
            }
            // One row per CID key: its segments, ascending. The chunks' lists are each sorted,
            // and the stable sort merges such runs without comparing them all again.
            let mut pairs = rows.postings;
            pairs.sort();
            pairs.dedup();
            let mut postings: Vec<(i64, i64, Vec<i64>)> = Vec::new();
            for group in pairs.chunk_by(|a, b| a.0 == b.0) {
                let ids: Vec<i64> = group.iter().map(|p| p.1).collect();
                postings.push((store::posting_part(ids[0]), group[0].0, ids));
            }
            // Inserted by (part, key): neighbouring inserts touch neighbouring B-tree pages, and
            // all of them the leaves of this stretch's parts only (see `cid_postings`).
            postings.sort_unstable_by_key(|p| (p.0, p.1));
            let mut insert_posting = tx.prepare_cached("INSERT OR IGNORE INTO cid_postings(part, cid_key, first_segment, segments) VALUES (?1, ?2, ?3, ?4)")?;
            let mut insert_part = tx.prepare_cached("INSERT OR IGNORE INTO posting_parts(part) VALUES (?1)")?;
            let mut last_part = None;
            for (part, key, ids) in postings {
                if last_part != Some(part) {
                    insert_part.execute([part])?;
                    last_part = Some(part);
                }
                insert_posting.execute(params![part, key, ids[0], segment::encode_postings(&ids)])?;
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

/// The checkpoint of a stored source (for tests and `lsync summary`).
pub fn checkpoint(conn: &Connection, path: &str) -> Result<Option<(u64, u64)>> {
    Ok(conn
        .query_row("SELECT byte_offset, next_line FROM sources WHERE path = ?1", params![path], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_names_order_by_roll_time_current_last() {
        let names = [
            "lotus-journal.ndjson",
            "lotus-journal-2021-09-01T120305+0200.ndjson",
            "lotus-journal-2021-08-31T235959Z.ndjson",
            "daemon.log",
        ];
        let mut paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from("/r/journal").join(n)).collect();
        paths.sort_by_key(|p| order_key(p));
        let got: Vec<_> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(got, vec!["daemon.log", "lotus-journal-2021-08-31T235959Z.ndjson", "lotus-journal-2021-09-01T120305+0200.ndjson", "lotus-journal.ndjson"]);
        // 12:03:05+02:00 is 10:03:05Z.
        assert_eq!(journal_name_time("2021-09-01T120305+0200"), journal_name_time("2021-09-01T100305Z"));
    }
}
