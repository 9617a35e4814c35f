//! A file's content, decompressed (`.gz`, `.zst`: detected by magic bytes) and positioned.

use super::io_err;
use crate::store::{Result, StoreError};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(super) fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gz"),
            Compression::Zstd => Some("zst"),
        }
    }
}

pub(super) fn sniff_compression(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut f, &mut magic).map_err(|e| io_err(path, e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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
pub(super) fn open_content(path: &Path, comp: Compression, offset: u64) -> Result<Box<dyn BufRead + Send>> {
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
