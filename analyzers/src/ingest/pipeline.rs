//! The threads of one file's ingest: a reader cuts the input into chunks at record starts,
//! parsers turn chunks into encoded segments, and the writer (`store::writes`) commits them.

use super::io_err;
use crate::segment::SegmentBuilder;
use crate::store::encode::{Encoded, Encoder};
use crate::store::Result;
use lsync_core::{JournalOptions, JournalParser, LineStats, LogParser};
use std::io::BufRead;
use std::path::Path;

/// Events per transaction (or [`BATCH_BYTES`] of input, whichever comes first).
pub(super) const BATCH_EVENTS: usize = 80_000;
/// Longest line kept whole (bytes); anything longer keeps its first MAX_LINE_BYTES.
const MAX_LINE_BYTES: usize = 4 << 20;
/// A chunk handed to a parser is closed at the first record start after this many bytes.
pub(super) const CHUNK_BYTES: usize = 4 << 20;
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
pub(super) const BATCH_BYTES: u64 = 64 << 20;
/// ...or once its encoding holds this much (input kept raw encodes to about its own size).
pub(super) const BATCH_ENCODED_BYTES: u64 = 16 << 20;

/// Which parser a file needs; each chunk gets a fresh one.
#[derive(Clone, Copy)]
pub(super) enum ParserKind {
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
    /// `builders` are the segment builders of this thread's last chunk, kept for their memory.
    pub(super) fn parse(self, chunk: Chunk, source_id: i64, unknown_wanted: bool, builders: &mut Vec<SegmentBuilder>) -> (ParsedChunk, Vec<u8>) {
        let mut enc = Encoder::with_builders(source_id, std::mem::take(builders));
        enc.keep_unknown = unknown_wanted;
        // Events go to the encoder as they come: the parser's output vector stays a few
        // entries long and hot in cache.
        let mut events = Vec::with_capacity(8);
        let data = &chunk.data[chunk.start..chunk.used];
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
                    // Head changes — nearly every record of a full node's journal — go to the
                    // encoder in place, without an event (stored the same: see
                    // `SegmentBuilder::push_head_change`).
                    p.push_line_to(line, text, &mut events, |h| enc.add_head_change(&h));
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
        let (encoded, kept) = enc.finish_keeping();
        *builders = kept;
        (ParsedChunk { seq: chunk.seq, encoded, stats, lines: chunk.lines, input_bytes: chunk.input_bytes }, chunk.data)
    }
}

/// A run of whole lines from the reader. It ends where a record starts (or at the end of
/// input), so a fresh parser reads it exactly as one parser reading the whole file would
/// (`LogParser::starts_record`); chunks can therefore be parsed in parallel.
pub(super) struct Chunk {
    seq: u64,
    /// The lines, each followed by `\n`, in `data[start..used]` (the buffer is reused whole).
    data: Vec<u8>,
    start: usize,
    used: usize,
    first_line: u64,
    lines: u64,
    /// Input bytes the chunk covers (an over-long line keeps only its first bytes in `data`).
    input_bytes: u64,
}

/// What a parser thread made of a chunk.
pub(super) struct ParsedChunk {
    pub(super) seq: u64,
    pub(super) encoded: Encoded,
    pub(super) stats: LineStats,
    pub(super) lines: u64,
    pub(super) input_bytes: u64,
}

/// Bytes asked of the reader at a time, straight into a chunk's buffer (a `BufReader` hands a
/// read this large past its own buffer: the file's bytes are copied once, by the kernel).
const READ_BYTES: usize = 1 << 20;
/// Bytes read past `chunk_bytes` to find the cut (the next record start) in: most cuts are within
/// a few lines of it.
const CUT_SLACK: usize = 64 << 10;

/// Reads land on addresses that are multiples of this. The kernel copies a read with `rep movsb`,
/// which on the project's machine moved 1 GiB in 0.40 s into a destination 16 bytes off a
/// cache line and in 0.07 s into an aligned one: unaligned reads were a third of a journal
/// ingest's CPU.
const READ_ALIGN: usize = 64;

/// Bytes to skip from `addr` to the next multiple of [`READ_ALIGN`].
fn align_pad(addr: usize) -> usize {
    (READ_ALIGN - addr % READ_ALIGN) % READ_ALIGN
}

/// Splits the input from the checkpoint into chunks and sends them to the parsers. Returns the
/// line number of a torn last line left for the next run.
///
/// Input is read straight into the buffer of the chunk being built. A chunk is cut at the first
/// line that starts a record once it holds `chunk_bytes` (or, failing one, at `MAX_CHUNK_BYTES`);
/// what was read past the cut moves to the next chunk's buffer. An over-long line keeps its first
/// `MAX_LINE_BYTES`, the rest is skipped as it is read (memory stays bounded), and all of it
/// counts in `input_bytes`.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_chunks(
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
    // buf[start..done]: the chunk's whole lines (each ends in '\n'), `lines` of them, covering
    // `input` bytes of input; buf[done..filled]: the start of the open line, of which
    // `open_skipped` more bytes were read and dropped (an over-long line). A chunk starts where
    // the next read lands aligned (`READ_ALIGN`); reads of a whole file keep it so (a short read
    // from a decompressor or a pipe, or a trimmed over-long line, does not: only slower).
    let mut start = align_pad(buf.as_ptr() as usize);
    let (mut filled, mut done, mut lines, mut input, mut open_skipped) = (start, start, 0u64, 0u64, 0u64);
    let (mut seq, mut first_line) = (0u64, next_line);
    loop {
        // Reads end just past `chunk_bytes` where they can: the cut comes soon after it, and
        // what lies beyond the cut is copied to the next chunk's buffer (a whole read's worth
        // of copying per chunk, otherwise). A read shorter than READ_BYTES would go through
        // the BufReader's own buffer, a copy of its own: those stay READ_BYTES.
        let to_slack = start.saturating_add(chunk_bytes).saturating_add(CUT_SLACK).saturating_sub(filled);
        let ask = if (READ_BYTES..2 * READ_BYTES).contains(&to_slack) { to_slack.next_multiple_of(READ_ALIGN) } else { READ_BYTES };
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
            if open_skipped == 0 && done >= new_from && done - start < chunk_bytes {
                // Whole lines that lie in the bytes just read (none over-long: a read is shorter
                // than MAX_LINE_BYTES) and end by `chunk_bytes` (so none can be a cut): counted
                // in bulk.
                let limit = filled.min(start.saturating_add(chunk_bytes));
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
            let held = done - start;
            if held >= chunk_bytes && (held >= MAX_CHUNK_BYTES.max(chunk_bytes) || kind.starts_record(&buf[done..done + len])) {
                // Cut before this line: it starts the next chunk.
                let mut next = take_buffer();
                let carried = filled - done;
                let pad = align_pad(next.as_ptr() as usize + carried);
                if next.len() < pad + carried + READ_BYTES {
                    next.resize(pad + carried + READ_BYTES, 0);
                }
                next[pad..pad + carried].copy_from_slice(&buf[done..filled]);
                let chunk = Chunk { seq, data: std::mem::replace(&mut buf, next), start, used: done, first_line, lines, input_bytes: input };
                if tx.send(chunk).is_err() {
                    return Ok(None); // the parsers stopped: the writer reports why
                }
                seq += 1;
                first_line += lines;
                new_from = new_from.saturating_sub(done) + pad;
                (start, done, filled, lines, input) = (pad, pad, pad + carried, 0, 0);
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
        let _ = tx.send(Chunk { seq, data: buf, start, used: done, first_line, lines, input_bytes: input });
    }
    Ok(torn)
}

/// How many parser threads a file gets: one per core, fewer for small inputs (a chunk each).
pub(super) fn parser_threads(requested: Option<usize>, remaining_bytes: u64, chunk_bytes: usize) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let chunks = (remaining_bytes / chunk_bytes as u64 + 1) as usize;
    requested.unwrap_or(cores).clamp(1, 16).min(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the reader sends for `input`: each chunk's (first line, lines, input bytes, text),
    /// and the torn last line it reports. Buffers go back to it as ingest's parsers return them.
    fn chunks_of(input: Vec<u8>, chunk_bytes: usize, final_file: bool) -> (Vec<(u64, u64, u64, Vec<u8>)>, Option<u64>) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let input: Box<dyn BufRead + Send> = Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::Cursor::new(input)));
            read_chunks(input, ParserKind::Journal { keep_raw: false }, chunk_bytes, 1, final_file, Path::new("t"), tx, spare_rx).expect("reads")
        });
        let mut chunks = Vec::new();
        for c in rx {
            chunks.push((c.first_line, c.lines, c.input_bytes, c.data[c.start..c.used].to_vec()));
            let _ = spare_tx.send(c.data);
        }
        (chunks, reader.join().expect("the reader ends"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Whatever the chunk size (down to a byte, less than the few bytes a chunk starts into
        /// its buffer for aligned reads): chunks hold every whole line once, in order, with their
        /// line numbers; a chunk after the first begins at a record start; no chunk is empty.
        #[test]
        fn chunks_hold_every_line_once(lines in prop::collection::vec((any::<bool>(), prop::collection::vec(b' '..=b'~', 0..60)), 0..200), chunk_bytes in 1usize..400, torn in any::<bool>(), final_file in any::<bool>()) {
            let mut input = Vec::new();
            for (record, body) in &lines {
                if *record {
                    input.push(b'{');
                }
                input.extend_from_slice(body);
                input.push(b'\n');
            }
            let whole_lines = lines.len() as u64;
            let mut expected = input.clone();
            if torn {
                input.extend_from_slice(b"{\"half");
                if final_file {
                    expected.extend_from_slice(b"{\"half\n");
                }
            }
            let (chunks, torn_at) = chunks_of(input.clone(), chunk_bytes, final_file);
            let mut got = Vec::new();
            let (mut next_line, mut covered) = (1, 0);
            for (k, (first, n, bytes, text)) in chunks.iter().enumerate() {
                prop_assert!(*n > 0, "an empty chunk");
                prop_assert_eq!(*first, next_line);
                prop_assert_eq!(*n, text.iter().filter(|&&b| b == b'\n').count() as u64);
                covered += bytes;
                if k > 0 {
                    prop_assert!(JournalParser::starts_record(text.split(|&b| b == b'\n').next().unwrap_or_default()), "a cut before a line that starts no record");
                }
                next_line += n;
                got.extend_from_slice(text);
            }
            prop_assert_eq!(got, expected);
            // The input the chunks account for: all of it, but a torn line left for the next run
            // (a final file's torn line gets a newline in its chunk that is not input).
            let left = if torn && !final_file { 6 } else { 0 };
            prop_assert_eq!(covered, (input.len() - left) as u64);
            prop_assert_eq!(torn_at, (torn && !final_file).then_some(1 + whole_lines));
        }
    }
}
