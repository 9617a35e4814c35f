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

mod decompress;
mod discover;
// `store::writes` commits the pipeline's batches.
pub(crate) mod pipeline;

pub use crate::store::sources::checkpoint;
pub use decompress::open_decompressed;
pub use discover::{discover, journal_name_time, InputFile};

use crate::store::sources::{self, find_source, SourceRow};
use crate::store::checkpoints::Checkpointer;
use crate::store::writes::BatchWriter;
use crate::store::{self, Result, StoreError};
use decompress::{open_content, read_full, sniff_compression, Compression};
use discover::is_rolled_journal;
use lsync_core::{detect_format, FileFormat, LineStats};
use crate::store::encode::{Batch, Encoded, MAX_REPORTED_PROBLEMS, MAX_STORED_UNKNOWN};
use pipeline::{parser_threads, read_chunks, Chunk, ParsedChunk, ParserKind, BATCH_BYTES, BATCH_ENCODED_BYTES, BATCH_EVENTS, CHUNK_BYTES};
pub use crate::rows::{FileReport, IngestReport};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::Path;

/// How many bytes of a file make its identity.
const FINGERPRINT_LEN: usize = 4096;
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
    /// Read files that look binary (NUL bytes or mostly non-text in their first 4 KiB) as text
    /// anyway; by default they are skipped with a sentence.
    pub force_text: bool,
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

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), source }
}

/// Ingests `files` for one node. Files are processed in order; each in batched transactions.
pub fn ingest(conn: &mut Connection, files: &[InputFile], opts: &IngestOptions, progress: &mut dyn Progress) -> Result<IngestReport> {
    let checkpointer = Checkpointer::start(conn)?;
    let report = ingest_files(conn, files, opts, progress, checkpointer.as_ref());
    // The ingest's own error, if any, is the one to report.
    let finished = checkpointer.map_or(Ok(()), |c| c.finish(conn));
    let report = report?;
    finished?;
    Ok(report)
}

fn ingest_files(conn: &mut Connection, files: &[InputFile], opts: &IngestOptions, progress: &mut dyn Progress, checkpointer: Option<&Checkpointer>) -> Result<IngestReport> {
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
        let fr = ingest_file(conn, node_id, f, comp, size, &prefix, existing, opts, progress, checkpointer)?;
        report.bytes += fr.bytes;
        report.lines += fr.lines;
        report.events += fr.events;
        report.malformed += fr.malformed;
        report.warnings += fr.warnings;
        report.unknown += fr.unknown;
        for (k, v) in &fr.by_kind {
            *report.by_kind.entry(k.clone()).or_default() += v;
        }
        report.skipped += u64::from(fr.skipped.is_some());
        report.files.push(fr);
    }
    progress.finish();
    Ok(report)
}

/// Why the first bytes of a file say it is not text: a NUL byte, or more than one byte in ten
/// that is neither text (UTF-8, tabs, line ends, the ESC of colour codes) nor part of it.
pub(crate) fn binary_reason(prefix: &[u8]) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    if let Some(at) = memchr::memchr(0, prefix) {
        return Some(format!("binary file: a NUL byte at offset {at}"));
    }
    // A UTF-8 character cut by the end of the prefix is not counted against the file.
    let text = String::from_utf8_lossy(prefix);
    let bad = text
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{1b}')))
        .count();
    let total = text.chars().count().max(1);
    (bad * 10 > total).then(|| format!("binary file: {bad} of the first {total} characters are not text"))
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
    checkpointer: Option<&Checkpointer>,
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
    // A binary file (an image, a database, a core dump given by mistake) would otherwise become
    // thousands of `unknown` lines and put its bytes in the database; nothing is stored for it.
    if existing.is_none() && !opts.force_text {
        if let Some(why) = binary_reason(prefix) {
            fr.status = "skipped".into();
            fr.format = "binary".into();
            fr.skipped = Some(format!("{why}; not a Lotus log or journal (--force-text reads it anyway)"));
            return Ok(fr);
        }
    }
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
            sources::resume_source(conn, s.id, &display, prefix)?;
            (s.id, s.byte_offset, s.next_line, s.unknown)
        }
        other => {
            fr.status = if other.is_some() { "truncated".into() } else { "new".into() };
            (sources::insert_source(conn, node_id, &display, format.as_str(), comp.name(), prefix, &now)?, 0, 1, 0)
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
        // A log's encoded chunks are small (a tenth of their input): a queue deeper than a batch
        // (16 chunks) lets the parsers run on while the writer commits or waits for a
        // checkpoint. A full node's journal is nearly all head changes, whose encoding is most
        // of their input (CIDs do not shrink), and `--keep-raw` keeps all of it: a shorter
        // queue, or the queue alone outgrows the memory bound.
        let depth = if opts.keep_raw || format == FileFormat::Journal { 8 } else { 48 };
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
                .spawn_scoped(scope, move || {
                    // Segment builders kept from chunk to chunk, for their memory.
                    let mut builders = Vec::new();
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(chunk)) = next else { break };
                        let (parsed, buffer) = kind.parse(chunk, source_id, wanted.load(std::sync::atomic::Ordering::Relaxed), &mut builders);
                        let _ = spare.send(buffer);
                        if tx.send(parsed).is_err() {
                            break;
                        }
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
                    if let Some(c) = checkpointer {
                        c.committed();
                    }
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
