//! How a run of events becomes the rows a batch inserts: segments packed per kind, CID
//! postings, head-change rows, and the per-file budget of stored unknown lines and reported
//! problems. Built on the parser threads (ingest's pipeline); inserted by [`super::writes`].

use crate::segment::{self, SegmentBuilder};
use crate::store;
use lsync_core::journal::HeadChangeRef;
use lsync_core::{Event, EventKind, HeadChange, LineStats};

/// Unknown lines stored per file (all are counted; the first ones are kept to show where).
pub(crate) const MAX_STORED_UNKNOWN: i64 = 1000;
/// Problems listed per file in the closing summary.
pub(crate) const MAX_REPORTED_PROBLEMS: usize = 5;

/// One segment, ready to insert.
pub(crate) struct SegmentRow {
    pub(super) kind: EventKind,
    pub(super) first_line: u64,
    pub(super) last_line: u64,
    pub(super) count: usize,
    pub(super) min_ts: Option<i64>,
    pub(super) max_ts: Option<i64>,
    pub(super) min_height: Option<i64>,
    pub(super) max_height: Option<i64>,
    pub(crate) blob: Vec<u8>,
}

/// One `head_changes` row, ready to insert.
pub(crate) struct HeadRow {
    pub(crate) event_id: i64,
    pub(crate) ts: Option<lsync_core::Timestamp>,
    pub(crate) from_height: i64,
    pub(crate) to_height: i64,
    pub(crate) revert_count: i64,
    pub(crate) apply_count: i64,
    pub(crate) to_n: i64,
    pub(crate) class: &'static str,
    /// To then From, as `segment::encode_cid_list` stores them.
    pub(crate) cids: Vec<u8>,
}

pub(crate) fn segment_row(seg: &SegmentBuilder) -> SegmentRow {
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

/// The `head_changes` row of a head change that reverted something.
fn head_row(event_id: i64, ts: Option<lsync_core::Timestamp>, hc: &HeadChange) -> HeadRow {
    HeadRow {
        event_id,
        ts,
        from_height: hc.from_height,
        to_height: hc.to_height,
        revert_count: hc.revert_count,
        apply_count: hc.apply_count,
        to_n: hc.to.len() as i64,
        class: hc.class().as_str(),
        cids: segment::encode_cid_list(&[hc.to.as_slice(), hc.from.as_slice()].concat()),
    }
}

/// A closed segment's row and its postings: one per distinct CID it names (its dictionary
/// holds each once, whichever events and lists name it).
fn close(source_id: i64, seg: &SegmentBuilder, out: &mut Encoded) {
    let seg_id = store::event_id(source_id, seg.first_line);
    out.postings.extend(seg.cids().map(|c| store::Posting::new(segment::posting_key(segment::cid_key(c)), seg_id)));
    out.segments.push(segment_row(seg));
}

/// Encoded chunks up to a checkpoint, handed to the writer.
pub(crate) struct Batch {
    pub(crate) chunks: Vec<Encoded>,
    /// (byte offset, next line) to store with these events: always a record boundary.
    pub(crate) checkpoint: (u64, u64),
    /// Cumulative line counters at the checkpoint.
    pub(crate) stats: LineStats,
}

/// Rows built from a run of events: what the writer inserts. Built on the parser threads, so
/// the events never cross to the writer (their encoding and their freeing run in parallel).
pub(crate) struct Encoded {
    pub(crate) segments: Vec<SegmentRow>,
    /// Postings, one per distinct CID of each segment, taken from the segment's dictionary
    /// when it closes (a flat list: a map of vectors cost an allocation per CID per chunk).
    /// [`Encoder::finish`] packs them into `posting_blocks`.
    postings: Vec<store::Posting>,
    /// (part, bucket, first segment, entries): the `cid_postings` rows of this run, packed on
    /// the parser's thread so the writer only inserts them (sorting a batch's postings there
    /// was a tenth of the writer's time).
    pub(crate) posting_blocks: Vec<(i64, i64, i64, Vec<u8>)>,
    pub(crate) heads: Vec<HeadRow>,
    /// Events stored, per kind (`EventKind as usize`); unknown lines are the writer's to count.
    pub(crate) by_kind: Vec<u64>,
    pub(crate) malformed: u64,
    /// Events kept with a paste-damaged CID (each is also listed among the problems).
    pub(crate) warnings: u64,
    /// Unknown lines seen, and the first of them (at most what a file may store), in order.
    pub(crate) unknown: u64,
    pub(crate) unknown_events: Vec<Event>,
    /// The first problems (malformed or unknown lines), in line order.
    pub(crate) problems: Vec<(u64, String, String)>,
}

impl Encoded {
    pub(crate) fn new() -> Encoded {
        Encoded {
            segments: Vec::new(),
            postings: Vec::new(),
            posting_blocks: Vec::new(),
            heads: Vec::new(),
            by_kind: vec![0; EventKind::ALL.len()],
            malformed: 0,
            warnings: 0,
            unknown: 0,
            unknown_events: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Roughly the memory this holds (segment blobs dominate): what bounds a batch.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let blobs: usize = self.segments.iter().map(|s| s.blob.len()).sum();
        let postings: usize = self.posting_blocks.iter().map(|b| b.3.len() + 32).sum();
        (blobs + postings + self.postings.len() * std::mem::size_of::<store::Posting>() + self.heads.len() * 160) as u64
    }

    pub(crate) fn stored(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Adds another run's rows (the next chunk of the same batch).
    pub(crate) fn absorb(&mut self, other: Encoded) {
        self.segments.extend(other.segments);
        self.postings.extend(other.postings);
        self.posting_blocks.extend(other.posting_blocks);
        self.heads.extend(other.heads);
        for (a, b) in self.by_kind.iter_mut().zip(&other.by_kind) {
            *a += b;
        }
        self.malformed += other.malformed;
        self.warnings += other.warnings;
    }
}

/// Packs events of one source into per-kind segments and the rows that index them.
pub(crate) struct Encoder {
    source_id: i64,
    /// Whether unknown events are still wanted (the file may store more, or report them).
    pub(crate) keep_unknown: bool,
    /// The open segment of each kind (indexed by `EventKind as usize`).
    open: Vec<Option<SegmentBuilder>>,
    /// Closed builders, to start the next segments in (see `SegmentBuilder::reset`).
    spare: Vec<SegmentBuilder>,
    out: Encoded,
}

impl Encoder {
    pub(crate) fn new(source_id: i64) -> Encoder {
        Encoder::with_builders(source_id, Vec::new())
    }

    /// An encoder that starts its segments in `spare` builders (from [`Encoder::finish_keeping`]).
    pub(crate) fn with_builders(source_id: i64, spare: Vec<SegmentBuilder>) -> Encoder {
        Encoder { source_id, keep_unknown: true, open: (0..EventKind::ALL.len()).map(|_| None).collect(), spare, out: Encoded::new() }
    }

    /// Takes one event. Unknown lines are only collected (see [`Encoded::unknown_events`]);
    /// [`Encoder::store`] stores the ones a file's budget allows.
    pub(crate) fn add(&mut self, ev: Event) {
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
        if !ev.damaged_cids.is_empty() {
            self.out.warnings += 1;
            if self.out.problems.len() < MAX_REPORTED_PROBLEMS {
                let which = ev.damaged_cids.join(", ");
                self.out.problems.push((ev.line, "warning".into(), format!("{} kept with a CID that does not decode (damaged in a paste?), as printed: {which}", ev.kind.as_str())));
            }
        }
        self.store(&ev);
    }

    /// The open segment of `kind` that takes an event at `line` (closing a full one).
    fn segment_for(&mut self, kind: EventKind, line: u64) -> &mut SegmentBuilder {
        self.out.by_kind[kind as usize] += 1;
        let slot = &mut self.open[kind as usize];
        if slot.as_ref().is_some_and(SegmentBuilder::is_full) {
            let full = slot.take().expect("checked");
            close(self.source_id, &full, &mut self.out);
            self.spare.push(full);
        }
        let spare = &mut self.spare;
        self.open[kind as usize].get_or_insert_with(|| match spare.pop() {
            Some(mut b) => {
                b.reset(kind, line);
                b
            }
            None => SegmentBuilder::new(kind, line),
        })
    }

    /// Takes a journal head change read in place: stored exactly as its event would be
    /// ([`Encoder::store`] of `HeadChangeRef::to_event`), without building the event.
    pub(crate) fn add_head_change(&mut self, r: &HeadChangeRef<'_>) {
        self.segment_for(EventKind::HeadChange, r.line).push_head_change(r);
        if r.revert_count != 0 {
            let hc = r.to_head_change();
            self.out.heads.push(head_row(store::event_id(self.source_id, r.line), Some(r.ts), &hc));
        }
    }

    /// Puts one event into its kind's open segment.
    pub(crate) fn store(&mut self, ev: &Event) {
        self.segment_for(ev.kind, ev.line).push(ev);
        // A row only for head changes that reverted something (a few in a hundred): what
        // `reorgs` and trace's revert scan look up. Extends stay in their segment.
        if let Some(hc) = ev.head_change.as_ref().filter(|hc| hc.revert_count != 0) {
            self.out.heads.push(head_row(store::event_id(self.source_id, ev.line), ev.ts, hc));
        }
    }

    /// Closes the open segments.
    /// Closes the open segments; sorts the postings (on the parser's thread, not the writer's).
    pub(crate) fn finish(self) -> Encoded {
        self.finish_keeping().0
    }

    /// [`Encoder::finish`], and the segment builders, for the next run's encoder.
    pub(crate) fn finish_keeping(mut self) -> (Encoded, Vec<SegmentBuilder>) {
        for seg in self.open.iter_mut().filter_map(Option::take) {
            close(self.source_id, &seg, &mut self.out);
            self.spare.push(seg);
        }
        let mut postings = std::mem::take(&mut self.out.postings);
        postings.sort_unstable();
        postings.dedup();
        let mut block: Vec<(i64, i64)> = Vec::new();
        for run in postings.chunk_by(|a, b| (a.part, segment::posting_bucket(a.key)) == (b.part, segment::posting_bucket(b.key))) {
            block.clear();
            block.extend(run.iter().map(|p| (p.key, p.segment)));
            let first = run.iter().map(|p| p.segment).min().expect("a run is not empty");
            self.out.posting_blocks.push((run[0].part, segment::posting_bucket(run[0].key), first, segment::encode_posting_block(&block)));
        }
        (self.out, self.spare)
    }
}
