//! `lsync export`: the store as open datasets — Parquet (through polars-parquet), CSV or NDJSON — one
//! dataset per table, in Hive-style partitions `TABLE/node=N/date=YYYY-MM-DD/part-RRRR-WKKKKK.EXT` (run, writer thread, part)
//! that DuckDB, ClickHouse, Spark and pandas read as they are.
//!
//! Streaming: segments are decoded one at a time, source by source in time order; rows wait in
//! per-partition column buffers that are written out as a row group when they reach
//! [`ROW_GROUP_ROWS`], and all of them when the buffered bytes of every partition together
//! reach [`BUFFERED_BYTES_CAP`] — so memory is bounded by the cap, not by the data. At most
//! [`OPEN_PARTITIONS`] files are open; a partition closed to make room gets a new part file if
//! it receives rows again.
//!
//! Incremental: `DIR/_lsync_export.json` records each run and, per source, the line the store
//! had read up to (`next_line`, read in the same snapshot as the rows). `--since-last-export`
//! writes only the rows past those lines into new part files (run number `R` in the name), and
//! never touches an old file. Files are written as `.tmp` and renamed when complete, the
//! manifest last; files of a run the manifest does not record (an export that crashed) are
//! deleted by the next run, so a crash never leaves duplicate rows behind.
//!
//! The Parquet encoding (polars-parquet, CID lists dictionary-encoded) is in [`parquet`].

mod parquet;

use crate::read::{self, Sources};
use crate::store::{Result, StoreError};
use lsync_core::EventKind;
use polars::prelude::PolarsError;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rows per Parquet row group at most (and per flush of a partition's buffer in the text formats).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Bytes a partition's buffer holds before it is written out as a row group.
pub const ROW_GROUP_BYTES: usize = 16 << 20;
/// Bytes buffered over all partitions and tables before every buffer is written out.
pub const BUFFERED_BYTES_CAP: usize = 16 << 20;
/// Bytes of rows handed to the writer threads and not yet written: two flushes' worth, so
/// that the decoder fills the next while the writers work through the last (with one, the
/// three threads took turns: ×0.91 wall at 32 MiB, peak 175 → 194 MiB).
pub const IN_FLIGHT_BYTES_CAP: usize = 32 << 20;
/// Files open at once, per table and writer thread (each holds a compressor's state).
pub const OPEN_PARTITIONS: usize = 8;
/// The partition value of events without a time (Hive's and Spark's name for NULL, which
/// DuckDB reads as NULL too, keeping `date` typed DATE).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";
/// The manifest's name inside the output directory.
pub const MANIFEST: &str = "_lsync_export.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Parquet,
    Csv,
    Ndjson,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            _ => Err(format!("unknown format {s:?}: parquet, csv or ndjson")),
        }
    }
}

/// Parquet's page compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Lz4,
    Snappy,
    None,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Compression, String> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "lz4" => Ok(Compression::Lz4),
            "snappy" => Ok(Compression::Snappy),
            "none" => Ok(Compression::None),
            _ => Err(format!("unknown compression {s:?}: zstd, lz4, snappy or none")),
        }
    }
}

/// The tables `lsync export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Events,
    EventCids,
    HeadChanges,
    /// Per node and block: an aggregate of the block's arrival events (`lsync sql`'s view).
    Blocks,
    Sources,
    Nodes,
}

impl Table {
    pub const ALL: [Table; 6] = [Table::Events, Table::EventCids, Table::HeadChanges, Table::Blocks, Table::Sources, Table::Nodes];

    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::EventCids => "event_cids",
            Table::HeadChanges => "head_changes",
            Table::Blocks => "blocks",
            Table::Sources => "sources",
            Table::Nodes => "nodes",
        }
    }

    /// Partitioned by node and date (the small tables are one file per run).
    pub fn partitioned(self) -> bool {
        matches!(self, Table::Events | Table::EventCids | Table::HeadChanges | Table::Blocks)
    }

    /// The columns stored in the files (partition columns `node` and `date` are in the paths).
    pub fn columns(self) -> &'static [Column] {
        use ColType::*;
        const fn c(name: &'static str, ty: ColType) -> Column {
            Column { name, ty, layout: Layout::Auto }
        }
        const fn distinct_text(name: &'static str) -> Column {
            Column { name, ty: Text, layout: Layout::Plain }
        }
        const fn ascending(name: &'static str, ty: ColType) -> Column {
            Column { name, ty, layout: Layout::Delta }
        }
        const EVENTS: &[Column] = &[
                ascending("event_id", Int),
                c("kind", Text),
                ascending("ts", Time),
                c("ts_offset_s", Int32),
                c("file", Text),
                ascending("line", Int),
                c("level", Text),
                c("logger", Text),
                c("caller", Text),
                ascending("height", Int),
                c("worker", Int),
                c("miner", Text),
                c("delay_s", Real),
                c("duration_ms", Real),
                c("peer", Text),
                distinct_text("text"),
                c("cids", TextList),
                c("cids_invalid", TextList),
                distinct_text("data"),
            ];
        // As `lsync sql`'s event_cids: the event's kind and time are a join away (event_id).
        const EVENT_CIDS: &[Column] = &[ascending("event_id", Int), c("position", Int32), c("cid", Text), c("invalid", Bool)];
        const HEAD_CHANGES: &[Column] = &[
                ascending("event_id", Int),
                ascending("ts", Time),
                c("ts_offset_s", Int32),
                c("file", Text),
                ascending("line", Int),
                ascending("from_height", Int),
                ascending("to_height", Int),
                c("revert_count", Int),
                c("apply_count", Int),
                c("class", Text),
                c("depth", Int),
                c("from_cids", TextList),
                c("to_cids", TextList),
            ];
        const SOURCES: &[Column] = &[
                c("id", Int),
                c("node", Text),
                c("path", Text),
                c("format", Text),
                c("compression", Text),
                c("bytes", Int),
                c("lines", Int),
                c("events", Int),
                c("malformed", Int),
                c("unknown", Int),
                c("first_ingest", Text),
                c("last_ingest", Text),
            ];
        const BLOCKS: &[Column] = &[
            distinct_text("cid"),
            c("height", Int),
            c("miner", Text),
            c("first_seen", Time),
            c("peer", Text),
            c("duplicates", Int),
            c("delay_s", Real),
            c("late_warnings", Int),
            c("seen_in", Text),
        ];
        const NODES: &[Column] = &[c("id", Int), c("name", Text)];
        match self {
            Table::Events => EVENTS,
            Table::EventCids => EVENT_CIDS,
            Table::HeadChanges => HEAD_CHANGES,
            Table::Blocks => BLOCKS,
            Table::Sources => SOURCES,
            Table::Nodes => NODES,
        }
    }
}

impl std::str::FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Table, String> {
        Table::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| format!("unknown table {s:?}: events, event_cids, head_changes, blocks, sources or nodes"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Int,
    Int32,
    Real,
    Text,
    Bool,
    /// An instant, UTC, nanoseconds.
    Time,
    TextList,
}

impl ColType {
    /// The Parquet/Arrow type as DuckDB names it.
    pub fn duckdb(self) -> &'static str {
        match self {
            ColType::Int => "BIGINT",
            ColType::Int32 => "INTEGER",
            ColType::Real => "DOUBLE",
            ColType::Text => "VARCHAR",
            ColType::Bool => "BOOLEAN",
            ColType::Time => "TIMESTAMP WITH TIME ZONE",
            ColType::TextList => "VARCHAR[]",
        }
    }

    /// The ClickHouse type (every column nullable but lists, which are empty instead).
    pub fn clickhouse(self) -> &'static str {
        match self {
            ColType::Int => "Nullable(Int64)",
            ColType::Int32 => "Nullable(Int32)",
            ColType::Real => "Nullable(Float64)",
            ColType::Text => "Nullable(String)",
            ColType::Bool => "Nullable(Bool)",
            ColType::Time => "Nullable(DateTime64(9, 'UTC'))",
            ColType::TextList => "Array(String)",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub layout: Layout,
}

/// How a column's values are laid out in Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Dictionary-encoded when few values repeat a lot, plain otherwise (polars' rule).
    Auto,
    /// Plain: values nearly all different (an event's text), written without first counting
    /// its distinct values to see whether a dictionary would pay.
    Plain,
    /// Integers that mostly grow by small steps (ids, lines, times, heights): each page as
    /// differences bit-packed (DELTA_BINARY_PACKED): a line or an id a few bits a value, a time
    /// in nanoseconds some thirty, where plain takes 64. Readers: DuckDB, ClickHouse, polars,
    /// pyarrow (pandas) and Spark from 3.3.
    Delta,
}

/// ClickHouse `CREATE TABLE` statements for the tables (`lsync export --schema`), each followed
/// by the `INSERT … SELECT … FROM file(…)` that loads an export into it (commented out). The
/// partition columns come last, read from each file's path: ClickHouse's own hive partitioning
/// would type `date` from the first path and fail on `__HIVE_DEFAULT_PARTITION__`.
pub fn clickhouse_schema(tables: &[Table]) -> String {
    let mut out = String::new();
    for t in tables {
        let order = match t {
            Table::Blocks => "(node, cid)",
            t if t.partitioned() => "(node, event_id)",
            _ => "id",
        };
        // The sorting key's columns are never NULL, and ClickHouse refuses a nullable key.
        let in_key = |name: &str| order.trim_matches(|c| c == '(' || c == ')').split(", ").any(|k| k == name);
        let mut cols: Vec<String> = t
            .columns()
            .iter()
            .map(|c| {
                let ty = c.ty.clickhouse();
                let ty = if in_key(c.name) { ty.strip_prefix("Nullable(").and_then(|t| t.strip_suffix(')')).unwrap_or(ty) } else { ty };
                format!("    {} {ty}", c.name)
            })
            .collect();
        let (glob, extra) = if t.partitioned() {
            cols.push("    node String".into());
            cols.push("    date Nullable(Date)".into());
            (
                format!("DIR/{}/**/*.parquet", t.name()),
                ", decodeURLComponent(extract(_path, 'node=([^/]+)')) AS node, toDateOrNull(extract(_path, 'date=([^/]+)')) AS date",
            )
        } else {
            (format!("DIR/{}/*.parquet", t.name()), "")
        };
        out.push_str(&format!("CREATE TABLE {} (\n{}\n) ENGINE = MergeTree ORDER BY {order};\n", t.name(), cols.join(",\n")));
        // Newer ClickHouse turns hive partitioning on by default: off, the paths are read here.
        out.push_str(&format!("-- INSERT INTO {} SELECT *{extra} FROM file('{glob}', Parquet) SETTINGS use_hive_partitioning = 0;\n\n", t.name()));
    }
    out
}

/// One value of a row, borrowed: it is copied once, into its column's buffer.
#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Int(Option<i64>),
    Int32(Option<i32>),
    Real(Option<f64>),
    Text(Option<&'a str>),
    Bool(Option<bool>),
    Time(Option<i64>),
    TextList(CidList<'a>),
}

/// A list of CIDs of one segment: their indices in the segment's CID table, and the segment's
/// text of an index. The indices let a column store each CID once per row group (its Parquet
/// dictionary) without hashing its text, and look the text up only the first time.
#[derive(Clone, Copy)]
struct CidList<'a> {
    /// Which segment the indices are of: a number the decoder gives each segment it reads.
    segment: u64,
    refs: &'a [u32],
    texts: &'a dyn CidTexts,
}

/// The text of a CID by its index in a segment's CID table.
trait CidTexts {
    fn text(&self, index: u32) -> &str;
}

impl CidTexts for crate::segment::CidTextTable {
    fn text(&self, index: u32) -> &str {
        self.get(index)
    }
}

/// A CID table given as its texts (tests).
impl CidTexts for Vec<&str> {
    fn text(&self, index: u32) -> &str {
        self[index as usize]
    }
}

impl std::fmt::Debug for CidList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CidList").field("segment", &self.segment).field("refs", &self.refs).finish()
    }
}

/// Strings of a column in one arena (no allocation per value: a scan of millions of rows spent
/// a quarter of its time in malloc and in freeing, on the other thread, what it allocated).
#[derive(Default)]
struct Texts {
    data: String,
    ends: Vec<usize>,
    nulls: Vec<bool>,
}

impl Texts {
    fn push(&mut self, v: Option<&str>) {
        self.data.push_str(v.unwrap_or(""));
        self.ends.push(self.data.len());
        self.nulls.push(v.is_none());
    }

    fn get(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (!self.nulls[i]).then(|| &self.data[start..self.ends[i]])
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.nulls.clear();
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// A text column of few distinct values (an event's kind, file, level, logger), dictionary-
/// encoded as it fills: a row's value is most often one of the last few rows', found by a
/// comparison, and stored as its key. (Copying every row's text, then finding the repeats again
/// to write the dictionary, was a tenth of an export's work.) Written plain when most values
/// differ after all (see `parquet::words_column`).
#[derive(Default)]
struct Words {
    dict: crate::segment::Dict,
    /// Per row, its value's key in `dict`, or [`Words::NULL`].
    keys: Vec<u32>,
}

impl Words {
    const NULL: u32 = u32::MAX;

    /// Appends `v`; returns the bytes it added.
    fn push(&mut self, v: Option<&str>) -> usize {
        let Some(v) = v else {
            self.keys.push(Words::NULL);
            return 4;
        };
        let before = self.dict.text_and_ends().0.len();
        self.keys.push(self.dict.id(v));
        let added = self.dict.text_and_ends().0.len() - before;
        4 + if added > 0 { added + 12 } else { 0 }
    }

    fn get(&self, i: usize) -> Option<&str> {
        match self.keys[i] {
            Words::NULL => None,
            k => self.dict.get(k),
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn clear(&mut self) {
        self.dict.clear();
        self.keys.clear();
    }
}

/// Lists of CIDs of a column, dictionary-encoded: each distinct CID of a segment once in
/// `dict`, the lists as keys into it. A head change's CIDs are the next one's too (its `To` is
/// the next `From`), so a row group holds each CID text about once instead of twice or more,
/// and its Parquet column is a dictionary page plus small keys rather than every text again.
#[derive(Default)]
struct TextLists {
    dict: Texts,
    keys: Vec<u32>,
    /// Each list's end in `keys`.
    ends: Vec<usize>,
    /// The segment `slots` belong to.
    segment: Option<u64>,
    /// By the segment's CID index: 1 + the CID's key in `dict`, 0 when not in it yet.
    slots: Vec<u32>,
}

impl TextLists {
    /// Appends `list`; returns the bytes it added.
    fn push(&mut self, list: CidList<'_>) -> usize {
        if self.segment != Some(list.segment) {
            self.segment = Some(list.segment);
            self.slots.clear();
        }
        let (data_before, slots_before) = (self.dict.data.len(), self.slots.len());
        for &r in list.refs {
            let i = r as usize;
            if i >= self.slots.len() {
                self.slots.resize(i + 1, 0);
            }
            if self.slots[i] == 0 {
                self.dict.push(Some(list.texts.text(r)));
                self.slots[i] = self.dict.len() as u32;
            }
            self.keys.push(self.slots[i] - 1);
        }
        self.ends.push(self.keys.len());
        // The slots count toward the memory bound too: they grow to the segment's CID count.
        // (By length, not capacity: a reused buffer has the capacity already, and row groups
        // must not depend on which buffer a partition got.)
        8 + 4 * list.refs.len() + (self.dict.data.len() - data_before) + 4 * self.slots.len().saturating_sub(slots_before)
    }

    fn clear(&mut self) {
        self.dict.clear();
        self.keys.clear();
        self.ends.clear();
        self.segment = None;
        self.slots.clear();
    }

    fn get(&self, i: usize) -> impl Iterator<Item = &str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.keys[start..self.ends[i]].iter().map(|&k| self.dict.get(k as usize).unwrap_or(""))
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// A partition's rows, column by column.
enum ColBuf {
    Int(Vec<Option<i64>>),
    Int32(Vec<Option<i32>>),
    Real(Vec<Option<f64>>),
    Text(Texts),
    Words(Words),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<i64>>),
    TextList(TextLists),
}

impl ColBuf {
    fn new(col: &Column) -> ColBuf {
        match col.ty {
            ColType::Int => ColBuf::Int(Vec::new()),
            ColType::Int32 => ColBuf::Int32(Vec::new()),
            ColType::Real => ColBuf::Real(Vec::new()),
            ColType::Text if col.layout == Layout::Auto => ColBuf::Words(Words::default()),
            ColType::Text => ColBuf::Text(Texts::default()),
            ColType::Bool => ColBuf::Bool(Vec::new()),
            ColType::Time => ColBuf::Time(Vec::new()),
            ColType::TextList => ColBuf::TextList(TextLists::default()),
        }
    }

    /// Appends `v`; returns roughly the bytes it holds.
    fn push(&mut self, v: Val<'_>) -> usize {
        match (self, v) {
            (ColBuf::Int(b), Val::Int(v)) => b.push(v),
            (ColBuf::Int32(b), Val::Int32(v)) => b.push(v),
            (ColBuf::Real(b), Val::Real(v)) => b.push(v),
            (ColBuf::Text(b), Val::Text(v)) => {
                b.push(v);
                return 9 + v.map_or(0, str::len);
            }
            (ColBuf::Words(b), Val::Text(v)) => return b.push(v),
            (ColBuf::Bool(b), Val::Bool(v)) => b.push(v),
            (ColBuf::Time(b), Val::Time(v)) => b.push(v),
            (ColBuf::TextList(b), Val::TextList(v)) => return b.push(v),
            (b, v) => unreachable!("a row's value {v:?} does not match its column {}", b.type_name()),
        }
        16
    }

    /// The memory the column holds, used or not (of its lists; a string table's hash index
    /// roughly).
    fn capacity_bytes(&self) -> usize {
        let texts = |t: &Texts| t.data.capacity() + 8 * t.ends.capacity() + t.nulls.capacity();
        match self {
            ColBuf::Int(b) | ColBuf::Time(b) => 16 * b.capacity(),
            ColBuf::Int32(b) => 8 * b.capacity(),
            ColBuf::Real(b) => 16 * b.capacity(),
            ColBuf::Text(b) => texts(b),
            ColBuf::Words(b) => 4 * b.keys.capacity() + b.dict.capacity_bytes(),
            ColBuf::Bool(b) => 2 * b.capacity(),
            ColBuf::TextList(b) => texts(&b.dict) + 4 * b.keys.capacity() + 8 * b.ends.capacity() + 4 * b.slots.capacity(),
        }
    }

    /// No values left; the memory kept.
    fn clear(&mut self) {
        match self {
            ColBuf::Int(b) | ColBuf::Time(b) => b.clear(),
            ColBuf::Int32(b) => b.clear(),
            ColBuf::Real(b) => b.clear(),
            ColBuf::Text(b) => b.clear(),
            ColBuf::Words(b) => b.clear(),
            ColBuf::Bool(b) => b.clear(),
            ColBuf::TextList(b) => b.clear(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            ColBuf::Int(_) => "int",
            ColBuf::Int32(_) => "int32",
            ColBuf::Real(_) => "real",
            ColBuf::Text(_) | ColBuf::Words(_) => "text",
            ColBuf::Bool(_) => "bool",
            ColBuf::Time(_) => "time",
            ColBuf::TextList(_) => "text list",
        }
    }
}

struct RowBuf {
    cols: Vec<ColBuf>,
    len: usize,
    /// Roughly the heap the rows hold, for the memory bound.
    bytes: usize,
}

impl RowBuf {
    fn new(table: Table) -> RowBuf {
        RowBuf { cols: table.columns().iter().map(ColBuf::new).collect(), len: 0, bytes: 0 }
    }

    /// The memory the columns hold, used or not.
    fn capacity_bytes(&self) -> usize {
        self.cols.iter().map(ColBuf::capacity_bytes).sum()
    }

    /// No rows left; the columns' memory kept for the next row group.
    fn clear(&mut self) {
        self.cols.iter_mut().for_each(ColBuf::clear);
        self.len = 0;
        self.bytes = 0;
    }

    fn push(&mut self, row: &[Val<'_>]) {
        debug_assert_eq!(row.len(), self.cols.len());
        for (c, v) in self.cols.iter_mut().zip(row) {
            self.bytes += c.push(*v);
        }
        self.len += 1;
    }
}

fn polars_err(e: PolarsError) -> StoreError {
    StoreError::Input(format!("writing Parquet: {e}"))
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

/// A partition's open file.
enum PartWriter {
    Parquet(parquet::ParquetPart),
    Text(BufWriter<File>),
}

struct OpenPart {
    writer: PartWriter,
    tmp: PathBuf,
    path: PathBuf,
    /// For LRU closing.
    last_use: u64,
}

type PartKey = (String, Option<String>);

/// The decoding side of a table: rows waiting in partition buffers.
struct TableOut {
    table: Table,
    /// The partitions' keys by id, and ids by key: a row finds its partition by comparing its
    /// key with the last row's, and hashes it only when that differs (hashing each row's key was
    /// 3 % of an export).
    ids: crate::segment::WordMap<PartKey, u32>,
    keys: Vec<PartKey>,
    last: Option<u32>,
    /// Each partition's rows by id, and which ids have some.
    buffers: Vec<Option<RowBuf>>,
    live: Vec<u32>,
    rows: u64,
}

/// Rows for the writer thread: a row group of one partition, or the end.
struct Job {
    table: usize,
    key: PartKey,
    rows: RowBuf,
}

/// The writing side, on threads of their own so that encoding and compressing Parquet (most of
/// an export's work) overlaps decoding the store: each partition belongs to one writer (by a
/// hash of table and key), which owns its files; a channel of [`Job`]s in, the files out.
struct Writer {
    workers: Vec<Worker>,
    /// Bytes sent and not yet written, bounded by [`IN_FLIGHT_BYTES_CAP`]: a flush of many
    /// small partitions is one burst the writers work through while decoding goes on.
    in_flight: std::sync::Arc<(std::sync::Mutex<usize>, std::sync::Condvar)>,
    /// Row buffers the writers are done with, emptied, their memory kept: the decoder fills
    /// them again instead of growing new ones from nothing (growing meant copying each column
    /// as it doubled, and faulting in fresh pages: a tenth of the decoder's time).
    recycled: std::sync::mpsc::Receiver<(usize, RowBuf)>,
    /// By table: the recycled buffers waiting to be filled.
    spares: Vec<Vec<RowBuf>>,
}

/// Most emptied buffers kept per table, and their most memory in all: kept buffers are memory
/// the byte bounds above do not count.
const SPARE_ROW_BUFFERS: usize = 2;
const SPARE_ROW_BYTES_CAP: usize = 32 << 20;

struct Worker {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<Result<Vec<FileSet>>>>,
}

/// Writer threads: as many as the machine has cores, at most 4 (the decoder needs one too,
/// but it waits on the writers most of the time).
fn writer_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

impl Writer {
    /// `sets(w)`: the file sets (one per table) of writer `w`.
    fn start(mut sets: impl FnMut(usize) -> Vec<FileSet>) -> Writer {
        let in_flight = std::sync::Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let (recycle, recycled) = std::sync::mpsc::channel::<(usize, RowBuf)>();
        let workers = (0..writer_threads())
            .map(|w| {
                let (tx, rx) = std::sync::mpsc::channel::<Job>();
                let done = in_flight.clone();
                let recycle = recycle.clone();
                let mut sets = sets(w);
                let thread = std::thread::Builder::new()
                    .name(format!("export-writer-{w}"))
                    .spawn(move || {
                        let mut tick = 0u64;
                        for mut job in rx {
                            tick += 1;
                            let bytes = job.rows.bytes;
                            let written = sets[job.table].write(job.key, &mut job.rows, tick);
                            let (n, cv) = &*done;
                            *n.lock().unwrap_or_else(|p| p.into_inner()) -= bytes;
                            cv.notify_all();
                            written?;
                            job.rows.clear();
                            // Unread once the decoder has finished; dropped with the Writer.
                            let _ = recycle.send((job.table, job.rows));
                        }
                        for s in sets.iter_mut() {
                            s.finish()?;
                        }
                        Ok(sets)
                    })
                    .expect("spawn an export writer");
                Worker { tx: Some(tx), thread: Some(thread) }
            })
            .collect();
        Writer { workers, in_flight, recycled, spares: Vec::new() }
    }

    /// An emptied row buffer of table `index` (of the writers' returns), if one is back.
    fn spare_rows(&mut self, index: usize) -> Option<RowBuf> {
        while let Ok((t, rows)) = self.recycled.try_recv() {
            if self.spares.len() <= t {
                self.spares.resize_with(t + 1, Vec::new);
            }
            let kept: usize = self.spares.iter().flatten().map(RowBuf::capacity_bytes).sum();
            if self.spares[t].len() < SPARE_ROW_BUFFERS && kept + rows.capacity_bytes() <= SPARE_ROW_BYTES_CAP {
                self.spares[t].push(rows);
            }
        }
        self.spares.get_mut(index)?.pop()
    }

    fn send(&mut self, job: Job) -> Result<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (job.table, &job.key).hash(&mut h);
        let w = (h.finish() % self.workers.len() as u64) as usize;
        let bytes = job.rows.bytes;
        {
            let (n, cv) = &*self.in_flight;
            let mut n = n.lock().unwrap_or_else(|p| p.into_inner());
            while *n > 0 && *n + bytes > IN_FLIGHT_BYTES_CAP && self.workers.iter().all(|x| x.thread.as_ref().is_some_and(|t| !t.is_finished())) {
                n = cv.wait_timeout(n, std::time::Duration::from_millis(50)).unwrap_or_else(|p| p.into_inner()).0;
            }
            *n += bytes;
        }
        let tx = self.workers[w].tx.as_ref().expect("not finished");
        if tx.send(job).is_err() {
            // A writer stopped on an error: that error is the one to report.
            return match self.finish() {
                Err(e) => Err(e),
                Ok(_) => Err(StoreError::Input("an export writer stopped".into())),
            };
        }
        Ok(())
    }

    /// Waits for every writer; the file sets of all of them, writer by writer.
    fn finish(&mut self) -> Result<Vec<Vec<FileSet>>> {
        for w in &mut self.workers {
            drop(w.tx.take());
        }
        let mut out = Vec::new();
        let mut first_err = None;
        for w in &mut self.workers {
            let r = match w.thread.take() {
                Some(t) => t.join().unwrap_or_else(|_| Err(StoreError::Input("an export writer panicked".into()))),
                None => Err(StoreError::Input("the export writers already finished".into())),
            };
            match r {
                Ok(sets) => out.push(sets),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        for w in &mut self.workers {
            drop(w.tx.take());
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// The files of one table (writer thread).
struct FileSet {
    table: Table,
    format: Format,
    compression: Compression,
    dir: PathBuf,
    run: u64,
    /// Which writer thread owns these files (part of their names).
    writer: usize,
    open: HashMap<PartKey, OpenPart>,
    next_part: u64,
    files: Vec<PathBuf>,
}

/// Percent-encodes a partition value the way Hive writes one (anything but `[A-Za-z0-9_.-]`).
fn hive_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        out = format!("%{}", hex_of(&out));
    }
    out
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

impl TableOut {
    fn new(table: Table) -> TableOut {
        TableOut { table, ids: Default::default(), keys: Vec::new(), last: None, buffers: Vec::new(), live: Vec::new(), rows: 0 }
    }

    fn buffered_bytes(&self) -> usize {
        self.live.iter().filter_map(|&p| self.buffers[p as usize].as_ref()).map(|b| b.bytes).sum()
    }

    fn part_id(&mut self, key: &PartKey) -> u32 {
        if let Some(p) = self.last.filter(|&p| self.keys[p as usize] == *key) {
            return p;
        }
        let p = match self.ids.get(key) {
            Some(&p) => p,
            None => {
                let p = self.keys.len() as u32;
                self.keys.push(key.clone());
                self.buffers.push(None);
                self.ids.insert(key.clone(), p);
                p
            }
        };
        self.last = Some(p);
        p
    }

    fn push(&mut self, index: usize, key: &PartKey, row: &[Val<'_>], writer: &mut Writer) -> Result<()> {
        let p = self.part_id(key);
        let buf = match &mut self.buffers[p as usize] {
            Some(b) => b,
            slot @ None => {
                self.live.push(p);
                slot.insert(writer.spare_rows(index).unwrap_or_else(|| RowBuf::new(self.table)))
            }
        };
        buf.push(row);
        self.rows += 1;
        if buf.len >= ROW_GROUP_ROWS || buf.bytes >= ROW_GROUP_BYTES {
            self.flush(index, p, writer)?;
        }
        Ok(())
    }

    fn flush_all(&mut self, index: usize, writer: &mut Writer) -> Result<()> {
        // One at a time: a flush that fails leaves the rest listed.
        while let Some(&p) = self.live.last() {
            self.flush(index, p, writer)?;
        }
        Ok(())
    }

    fn flush(&mut self, index: usize, p: u32, writer: &mut Writer) -> Result<()> {
        let Some(rows) = self.buffers[p as usize].take() else { return Ok(()) };
        self.live.retain(|&q| q != p);
        if rows.len == 0 {
            return Ok(());
        }
        writer.send(Job { table: index, key: self.keys[p as usize].clone(), rows })
    }
}

impl FileSet {
    fn new(table: Table, format: Format, compression: Compression, root: &Path, run: u64, writer: usize) -> FileSet {
        FileSet { table, format, compression, dir: root.join(table.name()), run, writer, open: HashMap::new(), next_part: 0, files: Vec::new() }
    }

    fn write(&mut self, key: PartKey, rows: &mut RowBuf, tick: u64) -> Result<()> {
        if !self.open.contains_key(&key) {
            if self.open.len() >= OPEN_PARTITIONS {
                let oldest = self.open.iter().min_by_key(|(_, p)| p.last_use).map(|(k, _)| k.clone()).expect("some open");
                self.close(&oldest)?;
            }
            let part = self.open_part(&key)?;
            self.open.insert(key.clone(), part);
        }
        let part = self.open.get_mut(&key).expect("opened");
        part.last_use = tick;
        write_rows(self.table, self.format, &mut part.writer, rows, &part.tmp)
    }

    fn open_part(&mut self, key: &PartKey) -> Result<OpenPart> {
        let mut dir = self.dir.clone();
        if self.table.partitioned() {
            dir = dir.join(format!("node={}", hive_value(&key.0))).join(format!("date={}", key.1.as_deref().map_or(NULL_PARTITION.to_string(), hive_value)));
        }
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let name = format!("part-{:04}-{}{:05}.{}", self.run, self.writer, self.next_part, self.format.extension());
        self.next_part += 1;
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let w = BufWriter::with_capacity(256 << 10, file);
        let writer = match self.format {
            Format::Parquet => PartWriter::Parquet(parquet::ParquetPart::new(self.table, w, self.compression).map_err(polars_err)?),
            Format::Csv => {
                let mut w = w;
                let header: Vec<&str> = self.table.columns().iter().map(|c| c.name).collect();
                writeln!(w, "{}", header.join(",")).map_err(io_err(&tmp))?;
                PartWriter::Text(w)
            }
            Format::Ndjson => PartWriter::Text(w),
        };
        Ok(OpenPart { writer, tmp, path, last_use: 0 })
    }

    fn close(&mut self, key: &PartKey) -> Result<()> {
        let Some(part) = self.open.remove(key) else { return Ok(()) };
        match part.writer {
            PartWriter::Parquet(w) => w.finish().map_err(polars_err)?,
            PartWriter::Text(mut w) => w.flush().map_err(io_err(&part.tmp))?,
        }
        std::fs::rename(&part.tmp, &part.path).map_err(io_err(&part.path))?;
        self.files.push(part.path);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let keys: Vec<_> = self.open.keys().cloned().collect();
        for k in keys {
            self.close(&k)?;
        }
        Ok(())
    }
}

fn write_rows(table: Table, format: Format, w: &mut PartWriter, rows: &mut RowBuf, path: &Path) -> Result<()> {
    match w {
        PartWriter::Parquet(w) => w.write(rows).map_err(polars_err),
        PartWriter::Text(w) => write_text_rows(table, w, rows, format == Format::Csv).map_err(io_err(path)),
    }
}

fn rfc3339_utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).map_or_else(|| ns.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_text_rows(table: Table, w: &mut BufWriter<File>, rows: &RowBuf, csv: bool) -> std::io::Result<()> {
    let specs = table.columns();
    for i in 0..rows.len {
        if csv {
            let mut fields = Vec::with_capacity(specs.len());
            for col in &rows.cols {
                fields.push(match col {
                    ColBuf::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                    ColBuf::Time(v) => v[i].map(rfc3339_utc).unwrap_or_default(),
                    ColBuf::Int32(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                    ColBuf::Real(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                    ColBuf::Text(v) => v.get(i).map(csv_quote).unwrap_or_default(),
                    ColBuf::Words(v) => v.get(i).map(csv_quote).unwrap_or_default(),
                    ColBuf::Bool(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                    // A list as a JSON array (DuckDB: `from_json(cids, '["VARCHAR"]')`).
                    ColBuf::TextList(v) => csv_quote(&serde_json::to_string(&v.get(i).collect::<Vec<_>>()).unwrap_or_default()),
                });
            }
            writeln!(w, "{}", fields.join(","))?;
        } else {
            let mut o = serde_json::Map::with_capacity(specs.len());
            for (spec, col) in specs.iter().zip(&rows.cols) {
                let v = match col {
                    ColBuf::Int(v) => v[i].map_or(serde_json::Value::Null, Into::into),
                    ColBuf::Time(v) => v[i].map_or(serde_json::Value::Null, |x| rfc3339_utc(x).into()),
                    ColBuf::Int32(v) => v[i].map_or(serde_json::Value::Null, Into::into),
                    ColBuf::Real(v) => v[i].and_then(serde_json::Number::from_f64).map_or(serde_json::Value::Null, serde_json::Value::Number),
                    ColBuf::Text(v) => v.get(i).map_or(serde_json::Value::Null, Into::into),
                    ColBuf::Words(v) => v.get(i).map_or(serde_json::Value::Null, Into::into),
                    ColBuf::Bool(v) => v[i].map_or(serde_json::Value::Null, Into::into),
                    ColBuf::TextList(v) => v.get(i).collect::<Vec<_>>().into(),
                };
                o.insert(spec.name.to_string(), v);
            }
            serde_json::to_writer(&mut *w, &o)?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub format: Format,
    pub compression: Compression,
    pub out: PathBuf,
    pub tables: Vec<Table>,
    pub node: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only rows past the last export into `out` (which must hold one).
    pub since_last_export: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub out: String,
    pub format: Format,
    pub run: u64,
    /// Rows and files per table.
    pub tables: BTreeMap<String, TableReport>,
    /// Files of an earlier, interrupted run that were removed first.
    pub removed_leftovers: u64,
    /// An incremental run does not write `blocks` (an aggregate over old and new rows).
    pub blocks_skipped: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TableReport {
    pub rows: u64,
    pub files: u64,
}

/// `DIR/_lsync_export.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Manifest {
    format: Option<Format>,
    tables: Vec<Table>,
    node: Option<String>,
    /// Completed runs, in order.
    runs: Vec<ManifestRun>,
    /// Per source id: the first line not yet exported.
    next_line: BTreeMap<i64, u64>,
    /// Nodes and sources already written (the small tables get new rows only).
    nodes: Vec<i64>,
    sources: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ManifestRun {
    run: u64,
    at: String,
    rows: BTreeMap<String, u64>,
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| StoreError::Input(format!("{}: not an lsync export manifest ({e})", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io { path: path.display().to_string(), source }),
    }
}

/// Removes the part files of runs the manifest does not record (and every `.tmp`).
fn remove_leftovers(dir: &Path, done_runs: &[u64]) -> Result<u64> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    for e in entries {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        if e.file_type().map_err(io_err(&p))?.is_dir() {
            removed += remove_leftovers(&p, done_runs)?;
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let run = name.strip_prefix("part-").and_then(|r| r.get(..4)).and_then(|r| r.parse::<u64>().ok());
        let leftover = name.ends_with(".tmp") || run.is_some_and(|r| !done_runs.contains(&r));
        if name.starts_with("part-") && leftover {
            std::fs::remove_file(&p).map_err(io_err(&p))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// True when `dir` holds nothing but what an export writes below it (table directories,
/// partition directories, part files): what a first export that died before its manifest leaves.
fn only_export_files(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                let expected = match depth {
                    0 => Table::ALL.iter().any(|t| t.name() == name),
                    1 => name.starts_with("node=") || name.starts_with("part-"),
                    _ => name.starts_with("date="),
                };
                expected && depth < 3 && only_export_files(&e.path(), depth + 1)
            }
            Ok(_) => name.starts_with("part-") || name == format!("{MANIFEST}.tmp"),
            Err(_) => false,
        }
    })
}

/// Exports the store; `progress(done, total)` after each segment.
pub fn export(conn: &Connection, opts: &ExportOptions, progress: &mut dyn FnMut(u64, u64)) -> Result<ExportReport> {
    let manifest_path = opts.out.join(MANIFEST);
    let old = read_manifest(&manifest_path)?;
    let mut manifest = match (old, opts.since_last_export) {
        (Some(m), true) => {
            if m.format != Some(opts.format) {
                return Err(StoreError::Input(format!(
                    "{} holds a {} export; --since-last-export adds to it in the same format",
                    opts.out.display(),
                    m.format.map_or("?", Format::extension)
                )));
            }
            if m.node != opts.node {
                return Err(StoreError::Input(format!("{} holds an export of {}; add to it with the same --node", opts.out.display(), m.node.as_deref().map_or("every node".to_string(), |n| format!("node {n:?}")))));
            }
            m
        }
        (None, true) => return Err(StoreError::Input(format!("{} holds no export yet (no {MANIFEST}): run without --since-last-export first", opts.out.display()))),
        (Some(_), false) => {
            return Err(StoreError::Input(format!(
                "{} already holds an export: add the new rows with --since-last-export, or choose an empty directory",
                opts.out.display()
            )))
        }
        (None, false) => {
            // A first export that died before writing its manifest left only part files: they
            // are removed below (no run is recorded), and the export starts again.
            if std::fs::read_dir(&opts.out).is_ok_and(|mut d| d.next().is_some()) && !only_export_files(&opts.out, 0) {
                return Err(StoreError::Input(format!("{} is not empty: choose an empty or new directory", opts.out.display())));
            }
            Manifest { format: Some(opts.format), tables: opts.tables.clone(), node: opts.node.clone(), ..Default::default() }
        }
    };
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;
    let done_runs: Vec<u64> = manifest.runs.iter().map(|r| r.run).collect();
    let removed_leftovers = remove_leftovers(&opts.out, &done_runs)?;
    let run = done_runs.iter().max().map_or(1, |r| r + 1);
    let mut tables: Vec<Table> = if opts.since_last_export { manifest.tables.clone() } else { opts.tables.clone() };
    // `blocks` aggregates every event of a block, old and new: it cannot be appended to, so an
    // incremental run leaves it out (the report says so).
    let blocks_skipped = opts.since_last_export && tables.contains(&Table::Blocks);
    if blocks_skipped {
        tables.retain(|t| *t != Table::Blocks);
    }

    // One snapshot: the rows and the lines recorded for the next run agree.
    conn.execute_batch("BEGIN")?;
    let result = export_in_snapshot(conn, opts, &tables, &mut manifest, run, progress);
    conn.execute_batch("COMMIT")?;
    let (outs, files) = result?;

    let mut report = ExportReport { out: opts.out.display().to_string(), format: opts.format, run, tables: BTreeMap::new(), removed_leftovers, blocks_skipped };
    let mut rows = BTreeMap::new();
    for (out, set) in outs.iter().zip(&files) {
        report.tables.insert(out.table.name().to_string(), TableReport { rows: out.rows, files: set.len() as u64 });
        rows.insert(out.table.name().to_string(), out.rows);
    }
    manifest.runs.push(ManifestRun { run, at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), rows });
    let tmp = opts.out.join(format!("{MANIFEST}.tmp"));
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Input(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &manifest_path).map_err(io_err(&manifest_path))?;
    Ok(report)
}

fn export_in_snapshot(
    conn: &Connection,
    opts: &ExportOptions,
    tables: &[Table],
    manifest: &mut Manifest,
    run: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Vec<TableOut>, Vec<Vec<PathBuf>>)> {
    let sources = Sources::load(conn)?;
    if let Some(n) = &opts.node {
        if crate::store::find_node(conn, n)?.is_none() {
            return Err(StoreError::Input(format!("no node {n:?} in the database")));
        }
    }
    let mut outs: Vec<TableOut> = tables.iter().map(|t| TableOut::new(*t)).collect();
    let mut writer = Writer::start(|w| tables.iter().map(|t| FileSet::new(*t, opts.format, opts.compression, &opts.out, run, w)).collect());
    let out_of = |outs: &mut Vec<TableOut>, t: Table| outs.iter().position(|o| o.table == t);
    let (ev, ec, hc) = (out_of(&mut outs, Table::Events), out_of(&mut outs, Table::EventCids), out_of(&mut outs, Table::HeadChanges));

    // The segments to read, source by source, each source's in time order.
    let source_ids = sources.of_node(opts.node.as_deref());
    let mut next_lines: BTreeMap<i64, u64> = BTreeMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, next_line FROM sources")?;
        for r in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)))? {
            let (id, n) = r?;
            if source_ids.contains(&id) {
                next_lines.insert(id, n);
            }
        }
    }
    let mut plan: Vec<(i64, i64, u64)> = Vec::new(); // (segment id, source, first exported line)
    if ev.is_some() || ec.is_some() || hc.is_some() {
        let mut sql = String::from("SELECT id FROM segments WHERE source_id = ?1 AND last_line >= ?2");
        if opts.since.is_some() {
            sql.push_str(" AND max_ts >= ?3");
        }
        if opts.until.is_some() {
            sql.push_str(" AND min_ts <= ?4");
        }
        if hc.is_some() && ev.is_none() && ec.is_none() {
            sql.push_str(" AND kind = 'head_change'");
        }
        sql.push_str(" ORDER BY min_ts IS NULL, min_ts, id");
        let mut stmt = conn.prepare(&sql)?;
        for (&source, _) in &next_lines {
            let from = manifest.next_line.get(&source).copied().unwrap_or(0);
            let mut args: Vec<rusqlite::types::Value> = vec![source.into(), (from as i64).into()];
            args.push(opts.since.unwrap_or(i64::MIN).into());
            args.push(opts.until.unwrap_or(i64::MAX).into());
            // Unused numbered parameters are allowed: bind only those the statement has.
            let n = stmt.parameter_count();
            let ids = stmt.query_map(rusqlite::params_from_iter(args.into_iter().take(n)), |r| r.get::<_, i64>(0))?;
            for id in ids {
                plan.push((id?, source, from));
            }
        }
    }
    let total = plan.len() as u64;
    let mut key: PartKey = (String::new(), None);
    let mut key_day: Option<i64> = None;
    // Kept from segment to segment: their memory is reused.
    let mut cid_texts = crate::segment::CidTextTable::default();
    let mut invalid_refs: Vec<u32> = Vec::new();
    let mut text = String::new();
    for (i, (seg_id, _source, resume)) in plan.iter().enumerate() {
        let Some(seg) = read::segment_by_id(conn, *seg_id)? else { continue };
        let r = seg.reader()?;
        // An export prints every CID of a segment: all at once, into one string.
        r.fill_cid_texts(&mut cid_texts);
        let segment = i as u64;
        let mut events = r.decoder(seg.first_line);
        let mut v = crate::segment::EventView::default();
        while events.next_into(&mut v)? {
            if v.line < *resume || !read::in_bounds(v.ts, opts.since, opts.until) {
                continue;
            }
            let offset = v.ts.filter(|t| t.zone_known).map(|t| t.offset_secs);
            let ts_ns = v.ts.map(|t| t.unix_nanos);
            let id = crate::store::event_id(seg.source_id, v.line);
            let (node, file) = sources.get(seg.source_id).map_or(("", ""), |s| (s.node.as_str(), s.path.as_str()));
            let kind = seg.kind.as_str();
            // Only a CID stored as text can be one a paste damaged.
            invalid_refs.clear();
            invalid_refs.extend(v.cid_refs.iter().filter(|i| r.cid_stored_as_text(**i) && lsync_core::cids::validate_cid(cid_texts.get(**i)).is_err()));
            let day = ts_ns.map(|n| n.div_euclid(NS_PER_DAY));
            if key.0 != node || key_day != day {
                key = (node.to_string(), ts_ns.map(date_of));
                key_day = day;
            }
            if let Some(i) = ec {
                // Borrowed from the segment: every CID's text is made once per segment.
                for (pos, &c) in v.cid_refs.iter().enumerate() {
                    let row = [Val::Int(Some(id)), Val::Int32(Some(pos as i32)), Val::Text(Some(cid_texts.get(c))), Val::Bool(Some(invalid_refs.contains(&c)))];
                    outs[i].push(i, &key, &row, &mut writer)?;
                }
            }
            if let (Some(i), Some(h)) = (hc, &v.head) {
                // The one classification (`HeadChange::class`): with its CIDs only when it
                // reverted something (an extend's class does not look at them).
                let change = if h.revert_count == 0 {
                    lsync_core::HeadChange { from: Vec::new(), from_height: h.from_height, to: Vec::new(), to_height: h.to_height, revert_count: 0, apply_count: h.apply_count }
                } else {
                    h.to_head_change(&r)
                };
                let class = change.class().as_str();
                let row = [
                    Val::Int(Some(id)),
                    Val::Time(ts_ns),
                    Val::Int32(offset),
                    Val::Text(Some(file)),
                    Val::Int(Some(v.line as i64)),
                    Val::Int(Some(h.from_height)),
                    Val::Int(Some(h.to_height)),
                    Val::Int(Some(h.revert_count)),
                    Val::Int(Some(h.apply_count)),
                    Val::Text(Some(class)),
                    Val::Int(Some(h.revert_count)),
                    Val::TextList(CidList { segment, refs: &h.from, texts: &cid_texts }),
                    Val::TextList(CidList { segment, refs: &h.to, texts: &cid_texts }),
                ];
                outs[i].push(i, &key, &row, &mut writer)?;
            }
            if let Some(i) = ev {
                // As `events` prints them: journal_other records carry System:Event as text.
                text.clear();
                if seg.kind == EventKind::JournalOther {
                    text.push_str(v.system.unwrap_or(""));
                    text.push(':');
                    text.push_str(v.event.unwrap_or(""));
                } else {
                    v.write_text_with(|c| cid_texts.get(c), &mut text);
                }
                let row = [
                    Val::Int(Some(id)),
                    Val::Text(Some(kind)),
                    Val::Time(ts_ns),
                    Val::Int32(offset),
                    Val::Text(Some(file)),
                    Val::Int(Some(v.line as i64)),
                    Val::Text(v.level),
                    Val::Text(v.logger),
                    Val::Text(v.caller),
                    Val::Int(v.height),
                    Val::Int(v.worker.map(|w| w as i64)),
                    Val::Text(v.miner),
                    Val::Real(v.delay_s),
                    Val::Real(v.duration_ms),
                    Val::Text(v.peer),
                    Val::Text(Some(&text)),
                    Val::TextList(CidList { segment, refs: &v.cid_refs, texts: &cid_texts }),
                    Val::TextList(CidList { segment, refs: &invalid_refs, texts: &cid_texts }),
                    Val::Text(v.raw_data),
                ];
                outs[i].push(i, &key, &row, &mut writer)?;
            }
            if outs.iter().map(TableOut::buffered_bytes).sum::<usize>() >= BUFFERED_BYTES_CAP {
                for (i, o) in outs.iter_mut().enumerate() {
                    o.flush_all(i, &mut writer)?;
                }
            }
        }
        progress(i as u64 + 1, total);
    }
    if let Some(i) = out_of(&mut outs, Table::Blocks) {
        // Through `lsync sql`'s view, on a connection of its own (the view's virtual tables
        // need one): what the store holds now, a moment after this snapshot began.
        let path = conn.path().filter(|p| !p.is_empty()).ok_or_else(|| StoreError::Input("blocks: the database has no file path".into()))?;
        let session = crate::sql::SqlSession::open(Path::new(path))?;
        let mut sink = BlocksSink { out: &mut outs[i], index: i, writer: &mut writer, node: opts.node.clone(), since: opts.since, until: opts.until, error: None };
        let run = session.run("SELECT node, cid, height, miner, first_seen_ns, peer, duplicates, delay_s, late_warnings, seen_in FROM blocks ORDER BY node, first_seen_ns", &mut sink);
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        run.map_err(|e| StoreError::Input(format!("blocks: {e}")))?;
    }
    // The small tables: rows not written by an earlier run.
    if let Some(i) = out_of(&mut outs, Table::Nodes) {
        let mut stmt = conn.prepare("SELECT id, name FROM nodes ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for r in rows {
            let (id, name) = r?;
            if manifest.nodes.contains(&id) || opts.node.as_ref().is_some_and(|n| n != &name) {
                continue;
            }
            manifest.nodes.push(id);
            outs[i].push(i, &(String::new(), None), &[Val::Int(Some(id)), Val::Text(Some(&name))], &mut writer)?;
        }
    }
    if let Some(i) = out_of(&mut outs, Table::Sources) {
        let mut stmt = conn.prepare(
            "SELECT s.id, n.name, s.path, s.format, s.compression, s.byte_offset, s.lines, s.events, s.malformed, s.unknown, s.first_ingest, s.last_ingest
             FROM sources s JOIN nodes n ON n.id = s.node_id ORDER BY s.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if manifest.sources.contains(&id) || !source_ids.contains(&id) {
                continue;
            }
            manifest.sources.push(id);
            let t: Vec<Option<String>> = [1, 2, 3, 4, 10, 11].into_iter().map(|i| r.get::<_, Option<String>>(i)).collect::<rusqlite::Result<_>>()?;
            let n: Vec<Option<i64>> = [0, 5, 6, 7, 8, 9].into_iter().map(|i| r.get::<_, Option<i64>>(i)).collect::<rusqlite::Result<_>>()?;
            let text = |k: usize| Val::Text(t[k].as_deref());
            let row = [Val::Int(n[0]), text(0), text(1), text(2), text(3), Val::Int(n[1]), Val::Int(n[2]), Val::Int(n[3]), Val::Int(n[4]), Val::Int(n[5]), text(4), text(5)];
            outs[i].push(i, &(String::new(), None), &row, &mut writer)?;
        }
    }
    for (i, o) in outs.iter_mut().enumerate() {
        o.flush_all(i, &mut writer)?;
    }
    let per_writer = writer.finish()?;
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(); outs.len()];
    for sets in per_writer {
        for (t, set) in sets.into_iter().enumerate() {
            files[t].extend(set.files);
        }
    }
    // Next time, start where the store stood now (within the time bounds given, rows outside
    // them are not exported later either: the bounds select, the lines resume).
    for (source, next) in next_lines {
        manifest.next_line.insert(source, next);
    }
    Ok((outs, files))
}

/// `blocks` rows from the SQL view into the table's partitions.
struct BlocksSink<'a> {
    out: &'a mut TableOut,
    index: usize,
    writer: &'a mut Writer,
    node: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    error: Option<StoreError>,
}

impl crate::sql::RowSink for BlocksSink<'_> {
    fn columns(&mut self, _: &[String]) -> std::io::Result<()> {
        Ok(())
    }

    fn row(&mut self, c: &[crate::sql::Cell]) -> std::io::Result<bool> {
        use crate::sql::Cell;
        let text = |i: usize| match &c[i] {
            Cell::Text(t) => Some(t.as_str()),
            _ => None,
        };
        let int = |i: usize| match &c[i] {
            Cell::Int(n) => Some(*n),
            _ => None,
        };
        let real = |i: usize| match &c[i] {
            Cell::Real(f) => Some(*f),
            Cell::Int(n) => Some(*n as f64),
            _ => None,
        };
        let node = text(0).unwrap_or("");
        let first_seen = int(4);
        if self.node.as_deref().is_some_and(|n| n != node) || !first_seen.map_or(self.since.is_none() && self.until.is_none(), |t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)) {
            return Ok(true);
        }
        let key = (node.to_string(), first_seen.map(date_of));
        let row = [Val::Text(text(1)), Val::Int(int(2)), Val::Text(text(3)), Val::Time(first_seen), Val::Text(text(5)), Val::Int(int(6)), Val::Real(real(7)), Val::Int(int(8)), Val::Text(text(9))];
        match self.out.push(self.index, &key, &row, self.writer) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.error = Some(e);
                Ok(false)
            }
        }
    }

    fn end(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The UTC date of an instant, `YYYY-MM-DD`.
const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

fn date_of(ns: i64) -> String {
    let days = ns.div_euclid(NS_PER_DAY);
    chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).map_or_else(|| NULL_PARTITION.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_partition_values() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_637_890_802_230_560_705), "2021-11-26");
        assert_eq!(date_of(-1), "1969-12-31");
        assert_eq!(hive_value("node-1.a_b"), "node-1.a_b");
        assert_eq!(hive_value("a b/c=d"), "a%20b%2Fc%3Dd");
        assert_ne!(hive_value(".."), "..");
        assert_eq!(rfc3339_utc(1_637_890_802_230_560_705), "2021-11-26T01:40:02.230560705Z");
    }

    /// The Parquet files, read back with polars, hold exactly the rows `events` reports.
    #[test]
    fn parquet_read_back_equals_the_events() {
        use crate::ingest::{self, IngestOptions, InputFile, NoProgress};
        use polars::prelude::*;
        use polars_io::prelude::{ParquetReader, SerReader};
        let dir = std::env::temp_dir().join(format!("lsync-export-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut conn = crate::open(&dir.join("x.db")).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for f in ["fixtures/logs/mixed-versions.log", "fixtures/samples/lotus-docs-miner-journal.ndjson"] {
            let opts = IngestOptions { node: "n".into(), ..Default::default() };
            ingest::ingest(&mut conn, &[InputFile { path: root.join(f) }], &opts, &mut NoProgress).unwrap();
        }
        let out = dir.join("out");
        let opts = ExportOptions { format: Format::Parquet, compression: Compression::Zstd, out: out.clone(), tables: vec![Table::Events], node: None, since: None, until: None, since_last_export: false };
        let report = export(&conn, &opts, &mut |_, _| {}).unwrap();
        let f = crate::query::Filter { all_kinds: true, ..Default::default() };
        let mut want = crate::query::events(&conn, &f).unwrap();
        assert_eq!(report.tables["events"].rows, want.len() as u64);
        let mut got: Vec<(i64, String, Option<i64>, Option<i64>, Vec<String>, Option<String>)> = Vec::new();
        let mut stack = vec![out.join("events")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let df = ParquetReader::new(File::open(&p).unwrap()).finish().unwrap();
                assert_eq!(df.column("ts").unwrap().dtype(), &DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)));
                let ids = df.column("event_id").unwrap().i64().unwrap().clone();
                let kinds = df.column("kind").unwrap().str().unwrap().clone();
                let ts = df.column("ts").unwrap().as_materialized_series().to_physical_repr().i64().unwrap().clone();
                let heights = df.column("height").unwrap().i64().unwrap().clone();
                let cids = df.column("cids").unwrap().list().unwrap().clone();
                let texts = df.column("text").unwrap().str().unwrap().clone();
                for i in 0..df.height() {
                    let list = cids.get_as_series(i).unwrap();
                    let list: Vec<String> = list.str().unwrap().iter().map(|c| c.unwrap().to_string()).collect();
                    got.push((ids.get(i).unwrap(), kinds.get(i).unwrap().to_string(), ts.get(i), heights.get(i), list, texts.get(i).map(str::to_string)));
                }
            }
        }
        got.sort();
        want.sort_by_key(|e| e.id);
        let want: Vec<_> = want.into_iter().map(|e| (e.id, e.kind, e.ts_ns, e.height, e.cids, e.text)).collect();
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_row_matches_its_table() {
        // A row of the wrong shape would panic in ColBuf::push: build rows of every table and
        // write them as a Parquet row group.
        for table in [Table::Events, Table::HeadChanges, Table::EventCids, Table::Blocks, Table::Sources, Table::Nodes] {
            let mut b = RowBuf::new(table);
            let cid_table = vec!["", "", "", "bafy-b", "", "", "", "bafy-a"];
            let mut row: Vec<Val> = table.columns().iter().map(|c| match c.ty {
                ColType::Int => Val::Int(Some(1)),
                ColType::Int32 => Val::Int32(None),
                ColType::Real => Val::Real(Some(0.5)),
                ColType::Text => Val::Text(Some("t")),
                ColType::Bool => Val::Bool(None),
                ColType::Time => Val::Time(Some(0)),
                ColType::TextList => Val::TextList(CidList { segment: 0, refs: &[7, 3], texts: &cid_table }),
            }).collect();
            b.push(&row);
            row[1] = match row[1] {
                Val::Text(_) => Val::Text(None),
                other => other,
            };
            b.push(&row);
            assert_eq!(b.len, 2);
            let dir = std::env::temp_dir().join(format!("lsync-export-rows-{}-{}", std::process::id(), table.name()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("x.parquet");
            let mut part = parquet::ParquetPart::new(table, BufWriter::new(File::create(&path).unwrap()), Compression::Zstd).unwrap();
            part.write(&mut b).unwrap();
            part.finish().unwrap();
            use polars_io::prelude::{ParquetReader, SerReader};
            let df = ParquetReader::new(File::open(&path).unwrap()).finish().unwrap();
            assert_eq!(df.height(), 2, "{}", table.name());
            assert_eq!(df.width(), table.columns().len());
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Rows of every column type, two tables' worth of variety: `variant` changes every value,
    /// nulls included, and gives the same segment number a different CID table.
    fn sample_rows<'a>(table: Table, variant: i64, cids: &'a Vec<&'a str>) -> Vec<Vec<Val<'a>>> {
        let texts: [[Option<&'static str>; 2]; 2] = [[Some("t"), Some("u")], [None, Some("w")]];
        (0..2)
            .map(|r| {
                table
                    .columns()
                    .iter()
                    .map(|c| match c.ty {
                        ColType::Int => Val::Int(Some(10 * variant + r)),
                        ColType::Int32 => Val::Int32((r == 1).then_some(variant as i32)),
                        ColType::Real => Val::Real(Some(0.5 + variant as f64)),
                        ColType::Text => Val::Text(texts[variant as usize][r as usize]),
                        ColType::Bool => Val::Bool((variant == 0).then_some(r == 1)),
                        ColType::Time => Val::Time(Some(variant * 1_000 + r)),
                        ColType::TextList => Val::TextList(CidList { segment: 0, refs: if variant == 0 { &[7, 3] } else { &[3] }, texts: cids }),
                    })
                    .collect()
            })
            .collect()
    }

    fn read_parquet(path: &Path) -> polars::prelude::DataFrame {
        use polars_io::prelude::{ParquetReader, SerReader};
        ParquetReader::new(File::open(path).unwrap()).finish().unwrap()
    }

    /// A row buffer emptied and filled again (as the writers send them back) writes exactly
    /// what a new one does: nothing of its last row group (a text column's string table, a CID
    /// list's slots of the same segment number) stays in the next.
    #[test]
    fn a_reused_row_buffer_writes_what_a_new_one_does() {
        let first_cids = vec!["", "", "", "bafy-b", "", "", "", "bafy-a"];
        let second_cids = vec!["", "", "", "bafy-c"];
        let dir = std::env::temp_dir().join(format!("lsync-export-reuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for table in [Table::Events, Table::HeadChanges, Table::EventCids, Table::Blocks, Table::Sources, Table::Nodes] {
            let groups = [sample_rows(table, 0, &first_cids), sample_rows(table, 1, &second_cids)];
            let write = |name: &str, reuse: bool| {
                let path = dir.join(format!("{}-{name}.parquet", table.name()));
                let mut part = parquet::ParquetPart::new(table, BufWriter::new(File::create(&path).unwrap()), Compression::Zstd).unwrap();
                let mut b = RowBuf::new(table);
                for rows in &groups {
                    if reuse {
                        b.clear();
                    } else {
                        b = RowBuf::new(table);
                    }
                    rows.iter().for_each(|r| b.push(r));
                    part.write(&mut b).unwrap();
                }
                part.finish().unwrap();
                read_parquet(&path)
            };
            let (reused, fresh) = (write("reused", true), write("fresh", false));
            assert_eq!(reused.height(), 4, "{}", table.name());
            assert!(reused.equals_missing(&fresh), "{}:\n{reused}\n{fresh}", table.name());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Delta encoding is for integers: a text or list column marked so would be written plain.
    #[test]
    fn only_integer_columns_are_laid_out_as_deltas() {
        for table in [Table::Events, Table::HeadChanges, Table::EventCids, Table::Blocks, Table::Sources, Table::Nodes] {
            for c in table.columns().iter().filter(|c| c.layout == Layout::Delta) {
                assert!(matches!(c.ty, ColType::Int | ColType::Int32 | ColType::Time), "{}.{}", table.name(), c.name);
            }
        }
    }

    /// Each CID is stored once per row group and segment; the lists read back in order.
    #[test]
    fn cid_lists_share_one_dictionary_per_segment() {
        let (one, two) = (vec!["y", "", "b", "", "d"], vec!["y", "", "x"]);
        let mut l = TextLists::default();
        l.push(CidList { segment: 1, refs: &[4, 2], texts: &one });
        l.push(CidList { segment: 1, refs: &[2], texts: &one });
        l.push(CidList { segment: 1, refs: &[], texts: &one });
        // Index 2 of another segment is another CID.
        l.push(CidList { segment: 2, refs: &[2, 0], texts: &two });
        assert_eq!(l.dict.len(), 4);
        let lists: Vec<Vec<&str>> = (0..l.len()).map(|i| l.get(i).collect()).collect();
        assert_eq!(lists, vec![vec!["d", "b"], vec!["b"], vec![], vec!["x", "y"]]);
    }
}
