//! Parquet files written from the export's column buffers through polars-parquet, without
//! building a polars DataFrame: flat columns become arrow arrays as they are (a text arena is
//! its values buffer) and go through polars-parquet's encoders; a CID list column is written
//! here, dictionary-encoded — the row group's CIDs once in a dictionary page, the lists as
//! keys (polars' DataFrame writer dictionary-encodes flat columns only, and CID lists were most
//! of an events export's bytes, written and compressed again for every head change naming a
//! tipset). Readers see `list<string>` either way: the dictionary is the column's encoding.

use super::{ColBuf, ColType, Compression, Layout, RowBuf, Table, TextLists, Texts, Words};
use polars::prelude::{PolarsError, PolarsResult};
use polars_arrow::array::{Array, BooleanArray, DictionaryArray, PrimitiveArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field, IntegerType, TimeUnit};
use polars_arrow::offset::OffsetsBuffer;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression as ParquetCodec;
use polars_parquet::parquet::encoding::hybrid_rle;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{CompressedDataPage, CompressedDictPage, DataPage, DataPageHeader, DataPageHeaderV1, DictPage};
use polars_parquet::parquet::statistics::BinaryStatistics;
use polars_parquet::write::{
    CompressedPage, CompressionOptions, DynIter, DynStreamingIterator, Encoding, FileWriter, Page, ParquetType, StatisticsOptions, Version, WriteOptions, ZstdLevel, array_to_columns,
    fallible_streaming_iterator, get_dtype_encoding, to_parquet_leaves, to_parquet_schema,
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

use zstd::zstd_safe::{CParameter, ParamSwitch};

thread_local! {
    /// This writer thread's zstd context: polars-parquet's own compression makes (and zeroes)
    /// one per page, 3 % of an export.
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// `page` compressed; zstd through this thread's context, other codecs through polars-parquet.
/// `cid_list`: the page is of a CID list column (see `squeeze` for what that changes).
fn compress(page: Page, compression: CompressionOptions, cid_list: bool) -> PolarsResult<CompressedPage> {
    let CompressionOptions::Zstd(level) = compression else {
        return Ok(polars_parquet::write::compress(page, Vec::new(), compression)?);
    };
    let zstd_level = level.map_or(zstd::DEFAULT_COMPRESSION_LEVEL, |l| l.compression_level());
    let squeeze = |bytes: &[u8], cid_dictionary: bool| -> std::io::Result<Vec<u8>> {
        ZSTD.with_borrow_mut(|ctx| {
            let ctx = match ctx {
                Some(c) => c,
                None => ctx.insert(zstd::bulk::Compressor::new(zstd_level)?),
            };
            ctx.set_compression_level(zstd_level)?;
            // A CID list's dictionary page holds distinct CIDs: base32 of random digests,
            // which zstd shrinks by entropy-coding the characters while its match finder looks
            // for repeats that are not there. With the finder accelerated (`targetLength`, which
            // only level 1's fast strategy reads as acceleration; higher levels read it as a
            // match length to settle for) and the characters still coded (which acceleration
            // alone turns off), such a page compresses 1.9x as fast for 3 % more bytes (20,000
            // block CIDs: 370 -> 700 MB/s, ratio 0.501 -> 0.516). 0 and Auto are the level's own.
            // A 4,096-entry hash table (level 1's is 16,384) stays in the L1 cache: the finder
            // finds the same few matches sooner (zstd's CLI on a page of 10,000 block CIDs:
            // 431 -> 470 MB/s, ratio 1.947 both).
            let (target_length, literals, hash_log) = if cid_dictionary && zstd_level == 1 { (16, ParamSwitch::Enable, 12) } else { (0, ParamSwitch::Auto, 0) };
            ctx.set_parameter(CParameter::TargetLength(target_length))?;
            ctx.set_parameter(CParameter::LiteralCompressionMode(literals))?;
            ctx.set_parameter(CParameter::HashLog(hash_log))?;
            ctx.compress(bytes)
        })
    };
    Ok(match page {
        Page::Data(p) => {
            // Version 1 pages (what this writer writes) compress levels and values together.
            let out = squeeze(p.buffer(), false)?;
            let num_rows = p.num_rows.ok_or_else(|| PolarsError::ComputeError("a Parquet data page without its row count".into()))?;
            CompressedPage::Data(CompressedDataPage::new(p.header().clone(), CowBuffer::Owned(out), ParquetCodec::Zstd, p.buffer().len(), p.descriptor.clone(), num_rows))
        }
        Page::Dict(p) => {
            let out = squeeze(&p.buffer, cid_list)?;
            CompressedPage::Dict(CompressedDictPage::new(CowBuffer::Owned(out), ParquetCodec::Zstd, p.buffer.len(), p.num_values, p.is_sorted))
        }
    })
}

/// A column's arrow type (for a CID list, only to lay out its Parquet schema).
fn arrow_type(ty: ColType) -> ArrowDataType {
    match ty {
        ColType::Int => ArrowDataType::Int64,
        ColType::Int32 => ArrowDataType::Int32,
        ColType::Real => ArrowDataType::Float64,
        ColType::Text => ArrowDataType::LargeUtf8,
        ColType::Bool => ArrowDataType::Boolean,
        ColType::Time => ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        ColType::TextList => ArrowDataType::LargeList(Box::new(Field::new("item".into(), ArrowDataType::LargeUtf8, true))),
    }
}

fn schema(table: Table) -> ArrowSchema {
    table.columns().iter().map(|c| (c.name.into(), Field::new(c.name.into(), arrow_type(c.ty), true))).collect()
}

fn offsets(ends: &[usize]) -> PolarsResult<OffsetsBuffer<i64>> {
    let mut o = Vec::with_capacity(ends.len() + 1);
    o.push(0i64);
    o.extend(ends.iter().map(|&e| e as i64));
    OffsetsBuffer::try_from(o)
}

/// Most distinct values, as a share of the rows, for which a text column is written
/// dictionary-encoded (polars' own rule: a dictionary pays below three quarters).
const DICTIONARY_MAX_SHARE: f64 = 0.75;

/// True when a column of `rows` rows with `distinct` values is better written plain.
fn mostly_distinct(distinct: usize, rows: usize) -> bool {
    distinct > ((rows as f64 * DICTIONARY_MAX_SHARE) as usize).max(128)
}

/// A plain text column's array. Its bytes go to the array as they are (a copy would hold the
/// row group's text twice while it is written): the buffer that goes back to the decoder lacks
/// them.
fn text_column(t: &mut Texts) -> PolarsResult<Box<dyn Array>> {
    let validity = t.nulls.contains(&true).then(|| t.nulls.iter().map(|n| !n).collect::<Bitmap>());
    Ok(Utf8Array::try_new(ArrowDataType::LargeUtf8, offsets(&t.ends)?, std::mem::take(&mut t.data).into_bytes().into(), validity)?.boxed())
}

/// A dictionary-encoded text column's array and encoding: its keys and distinct values as they
/// are, or every row's value plain when most differ.
fn words_column(w: &Words) -> PolarsResult<(Box<dyn Array>, Encoding)> {
    let validity = w.keys.contains(&Words::NULL).then(|| w.keys.iter().map(|&k| k != Words::NULL).collect::<Bitmap>());
    if mostly_distinct(w.dict.len(), w.len()) {
        let mut data = Vec::new();
        let mut ends = Vec::with_capacity(w.len());
        for i in 0..w.len() {
            data.extend_from_slice(w.get(i).unwrap_or("").as_bytes());
            ends.push(data.len());
        }
        let array = Utf8Array::try_new(ArrowDataType::LargeUtf8, offsets(&ends)?, data.into(), validity)?;
        return Ok((array.boxed(), Encoding::Plain));
    }
    // A null row's key is never read, but every key must index a value.
    let keys: Vec<u32> = w.keys.iter().map(|&k| if k == Words::NULL { 0 } else { k }).collect();
    let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity);
    let (text, ends) = w.dict.text_and_ends();
    let ends: Vec<usize> = ends.iter().map(|&e| e as usize).collect();
    let values = Utf8Array::<i64>::try_new(ArrowDataType::LargeUtf8, offsets(&ends)?, text.as_bytes().to_vec().into(), None)?;
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::LargeUtf8), false);
    Ok((DictionaryArray::<u32>::try_new(dtype, keys, values.boxed())?.boxed(), Encoding::RleDictionary))
}

fn array(col: &ColBuf) -> PolarsResult<Box<dyn Array>> {
    Ok(match col {
        ColBuf::Int(v) => PrimitiveArray::<i64>::from(v).boxed(),
        ColBuf::Int32(v) => PrimitiveArray::<i32>::from(v).boxed(),
        ColBuf::Real(v) => PrimitiveArray::<f64>::from(v).boxed(),
        ColBuf::Text(_) | ColBuf::Words(_) => unreachable!("text columns are written by text_column and words_column"),
        ColBuf::Bool(v) => BooleanArray::from(v).boxed(),
        ColBuf::Time(v) => PrimitiveArray::<i64>::from(v).to(arrow_type(ColType::Time)).boxed(),
        ColBuf::TextList(_) => unreachable!("CID lists are written by cid_list_pages"),
    })
}

/// Levels of a version 1 data page: their byte length, then the levels RLE/bit-packed.
fn write_levels_v1(buffer: &mut Vec<u8>, levels: impl Iterator<Item = u32>, bits: u32) -> std::io::Result<()> {
    let at = buffer.len();
    buffer.extend_from_slice(&[0; 4]);
    hybrid_rle::encode::<u32, _, _>(buffer, levels, bits)?;
    let len = (buffer.len() - at - 4) as u32;
    buffer[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The pages of a CID list column (`optional group (LIST) { repeated group list { optional
/// binary element (STRING) } }`, as polars-parquet lays out a nullable list of nullable
/// strings: hence the levels' maxima below):
/// a dictionary page of the row group's CIDs and one data page of levels and keys. Written
/// here rather than by polars-parquet's nested writer, which computes every level through a
/// general record-shredding iterator (8 % of an export's time for lists that are never null
/// and whose items are never null: the levels follow from the list lengths alone).
fn cid_list_pages(lists: &TextLists, ty: &ParquetType, options: WriteOptions) -> PolarsResult<Vec<Page>> {
    const MAX_DEF: u32 = 3; // list present (1), an item (2), the item not null (3)
    let leaf = to_parquet_leaves(ty.clone()).pop().expect("a list has one leaf");
    let lengths = || {
        let mut start = 0;
        lists.ends.iter().map(move |&end| {
            let n = end - start;
            start = end;
            n
        })
    };
    // One level slot per item, and one for an empty list.
    let slots: usize = lengths().map(|n| n.max(1)).sum();
    let rep = lengths().flat_map(|n| std::iter::once(0u32).chain(std::iter::repeat_n(1, n.saturating_sub(1))));
    let def = lengths().flat_map(|n| if n == 0 { std::iter::repeat_n(1u32, 1) } else { std::iter::repeat_n(MAX_DEF, n) });
    let mut buffer = Vec::with_capacity(lists.keys.len() * 2 + 64);
    write_levels_v1(&mut buffer, rep, 1)?;
    write_levels_v1(&mut buffer, def, 2)?;
    let key_bits = u32::BITS - (lists.dict.len() as u32).saturating_sub(1).leading_zeros();
    buffer.push(key_bits as u8);
    hybrid_rle::encode::<u32, _, _>(&mut buffer, lists.keys.iter().copied(), key_bits)?;

    let dict = &lists.dict;
    let values = (0..dict.len()).map(|i| dict.get(i).unwrap_or("").as_bytes());
    let wanted = options.statistics;
    let statistics = (!wanted.is_empty()).then(|| {
        BinaryStatistics {
            primitive_type: leaf.clone(),
            null_count: wanted.null_count.then_some(0),
            distinct_count: None,
            max_value: values.clone().max().filter(|_| wanted.max_value).map(<[u8]>::to_vec),
            min_value: values.clone().min().filter(|_| wanted.min_value).map(<[u8]>::to_vec),
        }
        .serialize()
    });
    let mut plain = Vec::with_capacity(dict.data.len() + 4 * dict.len());
    for v in values {
        plain.extend_from_slice(&(v.len() as u32).to_le_bytes());
        plain.extend_from_slice(v);
    }
    let header = DataPageHeaderV1 {
        num_values: slots as i32,
        encoding: Encoding::RleDictionary.into(),
        definition_level_encoding: Encoding::Rle.into(),
        repetition_level_encoding: Encoding::Rle.into(),
        statistics,
    };
    let descriptor = Descriptor { primitive_type: leaf, max_def_level: MAX_DEF as i16, max_rep_level: 1 };
    Ok(vec![
        Page::Dict(DictPage::new(CowBuffer::Owned(plain), dict.len(), false)),
        Page::Data(DataPage::new(DataPageHeader::V1(header), CowBuffer::Owned(buffer), descriptor, lists.len())),
    ])
}

impl ParquetPart {
    pub(super) fn new(table: Table, out: BufWriter<File>, compression: Compression) -> PolarsResult<ParquetPart> {
        let schema = schema(table);
        let parquet_schema = to_parquet_schema(&schema)?;
        let types = parquet_schema.fields().to_vec();
        let encodings = schema
            .iter_values()
            .zip(table.columns())
            .map(|(f, c)| match c.layout {
                Layout::Plain => vec![Encoding::Plain],
                Layout::Delta => vec![Encoding::DeltaBinaryPacked],
                Layout::Auto => get_dtype_encoding(&f.dtype),
            })
            .collect();
        let options = WriteOptions { statistics: StatisticsOptions::default(), version: Version::V1, compression: compression_options(compression), data_page_size: None };
        let writer = FileWriter::new_with_parquet_schema(out, schema, parquet_schema, options);
        Ok(ParquetPart { writer, types, encodings, options })
    }

    /// Writes `rows` as one row group (and leaves them: the caller empties and reuses them).
    pub(super) fn write(&mut self, rows: &mut RowBuf) -> PolarsResult<()> {
        let num_rows = rows.len as u64;
        let mut columns = Vec::with_capacity(rows.cols.len());
        // Which of `columns` are CID lists.
        let mut cid_lists = Vec::with_capacity(rows.cols.len());
        for ((col, ty), enc) in rows.cols.iter_mut().zip(&self.types).zip(&self.encodings) {
            let before = columns.len();
            match col {
                ColBuf::TextList(lists) => {
                    columns.push(DynIter::new(cid_list_pages(lists, ty, self.options)?.into_iter().map(Ok)));
                    cid_lists.push(true);
                    continue;
                }
                ColBuf::Text(t) => columns.extend(array_to_columns(text_column(t)?, ty.clone(), self.options, &[Encoding::Plain])?),
                ColBuf::Words(w) => {
                    let (array, encoding) = words_column(w)?;
                    columns.extend(array_to_columns(array, ty.clone(), self.options, &[encoding])?);
                }
                col => columns.extend(array_to_columns(array(col)?, ty.clone(), self.options, enc)?),
            }
            cid_lists.resize(columns.len(), false);
            debug_assert!(columns.len() > before);
        }
        let compression = self.options.compression;
        let mut compressed: Vec<Vec<CompressedPage>> = Vec::with_capacity(columns.len());
        for (pages, cid_list) in columns.into_iter().zip(cid_lists) {
            compressed.push(pages.map(|page| compress(page?, compression, cid_list)).collect::<PolarsResult<_>>()?);
        }
        let row_group = DynIter::new(compressed.iter().map(|pages| Ok(DynStreamingIterator::new(fallible_streaming_iterator::convert(pages.iter().map(Ok))))));
        self.writer.write(num_rows, row_group)
    }

    /// Writes the footer and flushes the file.
    pub(super) fn finish(mut self) -> PolarsResult<()> {
        self.writer.end(None)?;
        self.writer.into_inner().flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(values: &[Option<&str>]) -> Words {
        let mut w = Words::default();
        for v in values {
            w.push(*v);
        }
        w
    }

    /// The values of a written text column's array, row by row.
    fn values(array: &dyn Array) -> Vec<Option<String>> {
        let value = |a: &Utf8Array<i64>, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        if let Some(d) = array.as_any().downcast_ref::<DictionaryArray<u32>>() {
            let v = d.values().as_any().downcast_ref::<Utf8Array<i64>>().expect("text values");
            return (0..d.len()).map(|i| d.keys().is_valid(i).then(|| v.value(d.keys().value(i) as usize).to_string())).collect();
        }
        let a = array.as_any().downcast_ref::<Utf8Array<i64>>().expect("text");
        (0..a.len()).map(|i| value(a, i)).collect()
    }

    #[test]
    fn repeated_texts_get_a_dictionary_and_distinct_ones_do_not() {
        let rows = [Some("a"), Some("a"), None, Some("b"), Some("a"), Some("b")];
        let w = words(&rows);
        assert_eq!(w.keys, [0, 0, Words::NULL, 1, 0, 1]);
        let (array, encoding) = words_column(&w).unwrap();
        assert_eq!(encoding, Encoding::RleDictionary);
        assert_eq!(values(array.as_ref()), rows.map(|v| v.map(String::from)));

        let names: Vec<String> = (0..400).map(|i| format!("v{i}")).collect();
        let many: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).chain([None]).chain(std::iter::repeat_n(Some("v0"), 99)).collect();
        let (array, encoding) = words_column(&words(&many)).unwrap();
        assert_eq!(encoding, Encoding::Plain, "400 distinct of 500 is over three quarters");
        assert_eq!(values(array.as_ref()), many.iter().map(|v| v.map(String::from)).collect::<Vec<_>>());

        let few: Vec<Option<&str>> = names.iter().take(100).map(|n| Some(n.as_str())).cycle().take(500).collect();
        let (array, encoding) = words_column(&words(&few)).unwrap();
        assert_eq!(encoding, Encoding::RleDictionary, "100 distinct of 500");
        assert_eq!(values(array.as_ref()), few.iter().map(|v| v.map(String::from)).collect::<Vec<_>>());
        // Emptied, a column keeps nothing of its rows.
        let mut w = words(&few);
        w.clear();
        w.push(Some("z"));
        assert_eq!((w.keys.as_slice(), w.get(0)), ([0u32].as_slice(), Some("z")));
    }
}
