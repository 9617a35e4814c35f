//! Parquet files written from the export's column buffers through polars-parquet's arrow
//! writer, without building a polars DataFrame: the buffers become arrow arrays as they are
//! (a text column's arena is its values buffer), and a CID list column becomes a list of
//! dictionary keys over the CIDs of its row group — the Parquet dictionary encoding that
//! polars' DataFrame writer applies to flat columns only. CID lists were most of an events
//! export's bytes, written and compressed again for every head change naming a tipset.
//!
//! Readers see `list<string>`: the file's embedded arrow schema (what polars and pyarrow read
//! types from) names plain strings; the dictionary is the column's encoding, which every
//! Parquet reader decodes.

use super::{ColBuf, ColType, Compression, RowBuf, Table, TextLists, Texts};
use polars::prelude::PolarsResult;
use polars_arrow::array::{Array, BooleanArray, DictionaryArray, ListArray, PrimitiveArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field, IntegerType, TimeUnit};
use polars_arrow::offset::OffsetsBuffer;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression as ParquetCodec;
use polars_parquet::parquet::page::{CompressedDataPage, CompressedDictPage};
use polars_parquet::write::{
    CompressedPage, CompressionOptions, DynIter, DynStreamingIterator, Encoding, FileWriter, Page, ParquetType, StatisticsOptions, Version, WriteOptions, ZstdLevel, array_to_columns,
    fallible_streaming_iterator, get_dtype_encoding, schema_to_metadata_key, to_parquet_schema,
};
use std::fs::File;
use std::io::{BufWriter, Write};

/// One open Parquet file of a partition.
pub(super) struct ParquetPart {
    writer: FileWriter<BufWriter<File>>,
    /// The file's columns, as the writer's schema has them.
    types: Vec<ParquetType>,
    encodings: Vec<Vec<Encoding>>,
    options: WriteOptions,
    /// The schema readers are told (CID lists as plain strings).
    announced: ArrowSchema,
}

fn compression_options(c: Compression) -> CompressionOptions {
    match c {
        // Level 1: an export is written once and read many times, but level 3 cost a third more
        // time for files 0.1 % smaller (bench/RESULTS.md).
        Compression::Zstd => CompressionOptions::Zstd(ZstdLevel::try_new(1).ok()),
        Compression::Snappy => CompressionOptions::Snappy,
        Compression::Lz4 => CompressionOptions::Lz4Raw,
        Compression::None => CompressionOptions::Uncompressed,
    }
}

thread_local! {
    /// This writer thread's zstd context: polars-parquet's own compression makes (and zeroes)
    /// one per page, 3 % of an export.
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// `page` compressed; zstd through this thread's context, other codecs through polars-parquet.
fn compress(page: Page, compression: CompressionOptions) -> PolarsResult<CompressedPage> {
    let CompressionOptions::Zstd(level) = compression else {
        return Ok(polars_parquet::write::compress(page, Vec::new(), compression)?);
    };
    let zstd_level = level.map_or(zstd::DEFAULT_COMPRESSION_LEVEL, |l| l.compression_level());
    let squeeze = |bytes: &[u8]| -> std::io::Result<Vec<u8>> {
        ZSTD.with_borrow_mut(|ctx| {
            let ctx = match ctx {
                Some(c) => c,
                None => ctx.insert(zstd::bulk::Compressor::new(zstd_level)?),
            };
            ctx.set_compression_level(zstd_level)?;
            ctx.compress(bytes)
        })
    };
    Ok(match page {
        Page::Data(p) => {
            // Version 1 pages (what this writer writes) compress levels and values together.
            let out = squeeze(p.buffer())?;
            let num_rows = p.num_rows.unwrap_or_else(|| p.num_values());
            CompressedPage::Data(CompressedDataPage::new(p.header().clone(), CowBuffer::Owned(out), ParquetCodec::Zstd, p.buffer().len(), p.descriptor.clone(), num_rows))
        }
        Page::Dict(p) => {
            let out = squeeze(&p.buffer)?;
            CompressedPage::Dict(CompressedDictPage::new(CowBuffer::Owned(out), ParquetCodec::Zstd, p.buffer.len(), p.num_values, p.is_sorted))
        }
    })
}

/// A column's arrow type; a CID list's items as dictionary keys when `dictionary`.
fn arrow_type(ty: ColType, dictionary: bool) -> ArrowDataType {
    match ty {
        ColType::Int => ArrowDataType::Int64,
        ColType::Int32 => ArrowDataType::Int32,
        ColType::Real => ArrowDataType::Float64,
        ColType::Text => ArrowDataType::LargeUtf8,
        ColType::Bool => ArrowDataType::Boolean,
        ColType::Time => ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        ColType::TextList => {
            let item = if dictionary { ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::LargeUtf8), false) } else { ArrowDataType::LargeUtf8 };
            ArrowDataType::LargeList(Box::new(Field::new("item".into(), item, true)))
        }
    }
}

fn schema(table: Table, dictionary: bool) -> ArrowSchema {
    table.columns().iter().map(|c| (c.name.into(), Field::new(c.name.into(), arrow_type(c.ty, dictionary), true))).collect()
}

fn offsets(ends: &[usize]) -> PolarsResult<OffsetsBuffer<i64>> {
    let mut o = Vec::with_capacity(ends.len() + 1);
    o.push(0i64);
    o.extend(ends.iter().map(|&e| e as i64));
    OffsetsBuffer::try_from(o)
}

fn texts_array(t: Texts) -> PolarsResult<Utf8Array<i64>> {
    let validity = t.nulls.contains(&true).then(|| t.nulls.iter().map(|n| !n).collect::<Bitmap>());
    Utf8Array::try_new(ArrowDataType::LargeUtf8, offsets(&t.ends)?, t.data.into_bytes().into(), validity)
}

fn list_array(l: TextLists) -> PolarsResult<ListArray<i64>> {
    let len = l.len();
    let offsets = offsets(&l.ends)?;
    let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, l.keys.into(), None);
    let values = DictionaryArray::<u32>::try_new(arrow_type(ColType::TextList, true).inner_dtype().expect("a list").clone(), keys, texts_array(l.dict)?.boxed())?;
    debug_assert_eq!(offsets.len_proxy(), len);
    ListArray::try_new(arrow_type(ColType::TextList, true), offsets, values.boxed(), None)
}

fn array(col: ColBuf) -> PolarsResult<Box<dyn Array>> {
    Ok(match col {
        ColBuf::Int(v) => PrimitiveArray::<i64>::from(v).boxed(),
        ColBuf::Int32(v) => PrimitiveArray::<i32>::from(v).boxed(),
        ColBuf::Real(v) => PrimitiveArray::<f64>::from(v).boxed(),
        ColBuf::Text(t) => texts_array(t)?.boxed(),
        ColBuf::Bool(v) => BooleanArray::from(v).boxed(),
        ColBuf::Time(v) => PrimitiveArray::<i64>::from(v).to(arrow_type(ColType::Time, true)).boxed(),
        ColBuf::TextList(l) => list_array(l)?.boxed(),
    })
}

impl ParquetPart {
    pub(super) fn new(table: Table, out: BufWriter<File>, compression: Compression) -> PolarsResult<ParquetPart> {
        let schema = schema(table, true);
        let parquet_schema = to_parquet_schema(&schema)?;
        let types = parquet_schema.fields().to_vec();
        let encodings = schema.iter_values().map(|f| get_dtype_encoding(&f.dtype)).collect();
        let options = WriteOptions { statistics: StatisticsOptions::default(), version: Version::V1, compression: compression_options(compression), data_page_size: None };
        let writer = FileWriter::new_with_parquet_schema(out, schema, parquet_schema, options);
        Ok(ParquetPart { writer, types, encodings, options, announced: self::schema(table, false) })
    }

    /// Writes `rows` as one row group.
    pub(super) fn write(&mut self, rows: RowBuf) -> PolarsResult<()> {
        let num_rows = rows.len as u64;
        let mut columns = Vec::with_capacity(rows.cols.len());
        for ((col, ty), enc) in rows.cols.into_iter().zip(&self.types).zip(&self.encodings) {
            columns.extend(array_to_columns(array(col)?, ty.clone(), self.options, enc)?);
        }
        let compression = self.options.compression;
        let mut compressed: Vec<Vec<CompressedPage>> = Vec::with_capacity(columns.len());
        for pages in columns {
            compressed.push(pages.map(|page| compress(page?, compression)).collect::<PolarsResult<_>>()?);
        }
        let row_group = DynIter::new(compressed.iter().map(|pages| Ok(DynStreamingIterator::new(fallible_streaming_iterator::convert(pages.iter().map(Ok))))));
        self.writer.write(num_rows, row_group)
    }

    /// Writes the footer and flushes the file.
    pub(super) fn finish(mut self) -> PolarsResult<()> {
        self.writer.end(Some(vec![schema_to_metadata_key(&self.announced)]))?;
        self.writer.into_inner().flush()?;
        Ok(())
    }
}
