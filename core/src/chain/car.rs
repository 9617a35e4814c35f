//! A streaming CARv1 reader: `varint(len) || DAG-CBOR {roots, version: 1}`, then repeated
//! `varint(len) || CID || data` sections until end of input.
//!
//! Every block's data is checked against its CID's multihash (blake2b-256, sha2-256, identity),
//! so a corrupt or tampered file is reported rather than silently decoded. Lengths are bounded
//! before anything is allocated, and a section is read in bounded chunks, so a hostile length
//! prefix cannot make us reserve gigabytes. The reader works over any `std::io::Read`; wrap files
//! in a `BufReader` (varints are read a byte at a time).

use std::io::{self, Read};

use cid::Cid;
use multihash_codetable::{Code, MultihashDigest};
use serde::Deserialize;
use thiserror::Error;

use super::cbor::{self, BLAKE2B_256, IDENTITY, SHA2_256};
use super::error::DecodeError;

/// Limits on what one CAR may declare. The defaults are go-car's (32 MiB header, 8 MiB section);
/// a Filecoin block is at most a few hundred KiB, a header a few dozen bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarLimits {
    pub max_header_bytes: u64,
    pub max_section_bytes: u64,
}

impl Default for CarLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 32 << 20,
            max_section_bytes: 8 << 20,
        }
    }
}

/// Why a CAR stream could not be read. `offset` is the byte position in the stream where the
/// offending item starts, for pointing at the damage with a hex viewer.
#[derive(Debug, Error)]
pub enum CarError {
    #[error("I/O error at byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
    #[error("stream ends inside {what} at byte {offset}")]
    Truncated { what: &'static str, offset: u64 },
    #[error("length varint at byte {offset} is malformed (over 9 bytes or non-minimal)")]
    BadVarint { offset: u64 },
    #[error("CAR header of {len} bytes exceeds the limit of {max}")]
    HeaderTooLarge { len: u64, max: u64 },
    #[error("section at byte {offset} declares {len} bytes, over the limit of {max}")]
    SectionTooLarge { offset: u64, len: u64, max: u64 },
    #[error("invalid CAR header: {0}")]
    BadHeader(DecodeError),
    #[error("CAR version {0} is not supported (only CARv1)")]
    UnsupportedVersion(u64),
    #[error("CAR header lists no roots")]
    NoRoots,
    #[error("section at byte {offset} does not start with a valid CID: {message}")]
    BadCid { offset: u64, message: String },
    /// The CID is boxed to keep `Result<_, CarError>` small on the hot path.
    #[error("block {cid} at byte {offset}: {source}")]
    Hash {
        cid: Box<Cid>,
        offset: u64,
        source: HashCheckError,
    },
}

/// Why a block's bytes do not match its CID.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HashCheckError {
    #[error("data does not hash to the CID's digest")]
    Mismatch,
    #[error("multihash code {0:#x} is not supported (blake2b-256, sha2-256 and identity are)")]
    UnsupportedHash(u64),
    #[error("CID digest is {declared} bytes but the hash function gives {available}")]
    DigestTooLong { declared: usize, available: usize },
}

/// Check that `data` hashes to `cid`'s multihash. Identity CIDs must carry `data` itself.
/// Truncated digests (a shorter declared size) are compared on their prefix, as go-cid does.
pub fn verify_block_hash(cid: &Cid, data: &[u8]) -> Result<(), HashCheckError> {
    let hash = cid.hash();
    let declared = hash.digest();
    let computed = match hash.code() {
        IDENTITY if declared == data => return Ok(()),
        IDENTITY => return Err(HashCheckError::Mismatch),
        code @ (SHA2_256 | BLAKE2B_256) => Code::try_from(code)
            .map_err(|_| HashCheckError::UnsupportedHash(code))?
            .digest(data),
        other => return Err(HashCheckError::UnsupportedHash(other)),
    };
    let full = computed.digest();
    let prefix = full
        .get(..declared.len())
        .ok_or(HashCheckError::DigestTooLong {
            declared: declared.len(),
            available: full.len(),
        })?;
    if prefix == declared {
        Ok(())
    } else {
        Err(HashCheckError::Mismatch)
    }
}

/// The CARv1 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarHeader {
    pub roots: Vec<Cid>,
}

#[derive(Deserialize)]
struct CarHeaderWire {
    #[serde(default)]
    roots: Vec<Cid>,
    version: u64,
}

/// One block of the CAR, hash already verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarBlock {
    pub cid: Cid,
    pub data: Vec<u8>,
}

/// Reads a CARv1 stream block by block. Also an `Iterator<Item = Result<CarBlock, CarError>>`;
/// after the first error the iterator ends.
pub struct CarReader<R> {
    input: CountingReader<R>,
    header: CarHeader,
    limits: CarLimits,
    failed: bool,
}

impl<R: Read> CarReader<R> {
    /// Read and validate the header with the default limits.
    pub fn new(reader: R) -> Result<Self, CarError> {
        Self::with_limits(reader, CarLimits::default())
    }

    pub fn with_limits(reader: R, limits: CarLimits) -> Result<Self, CarError> {
        let mut input = CountingReader {
            inner: reader,
            offset: 0,
        };
        let len = input.read_varint()?.ok_or(CarError::Truncated {
            what: "header length",
            offset: 0,
        })?;
        if len > limits.max_header_bytes {
            return Err(CarError::HeaderTooLarge {
                len,
                max: limits.max_header_bytes,
            });
        }
        let bytes = input.read_exact_bounded(len, "header")?;
        let wire: CarHeaderWire = serde_ipld_dagcbor::from_slice(&bytes)
            .map_err(|e| CarError::BadHeader(cbor::map_decode_error("CAR header", e)))?;
        if wire.version != 1 {
            return Err(CarError::UnsupportedVersion(wire.version));
        }
        if wire.roots.is_empty() {
            return Err(CarError::NoRoots);
        }
        Ok(Self {
            input,
            header: CarHeader { roots: wire.roots },
            limits,
            failed: false,
        })
    }

    pub fn header(&self) -> &CarHeader {
        &self.header
    }

    pub fn roots(&self) -> &[Cid] {
        &self.header.roots
    }

    /// The next block, or `None` at a clean end of input (end exactly between sections).
    pub fn next_block(&mut self) -> Result<Option<CarBlock>, CarError> {
        let offset = self.input.offset;
        let Some(len) = self.input.read_varint()? else {
            return Ok(None);
        };
        if len > self.limits.max_section_bytes {
            return Err(CarError::SectionTooLarge {
                offset,
                len,
                max: self.limits.max_section_bytes,
            });
        }
        let section = self.input.read_exact_bounded(len, "section")?;
        let mut cursor = io::Cursor::new(&section[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::BadCid {
            offset,
            message: e.to_string(),
        })?;
        let data = section[cursor.position() as usize..].to_vec();
        verify_block_hash(&cid, &data).map_err(|source| CarError::Hash {
            cid: Box::new(cid),
            offset,
            source,
        })?;
        Ok(Some(CarBlock { cid, data }))
    }
}

impl<R: Read> Iterator for CarReader<R> {
    type Item = Result<CarBlock, CarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_block().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

/// Tracks the stream offset for error messages.
struct CountingReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> CountingReader<R> {
    /// Read one byte; `None` at end of input.
    fn read_byte(&mut self) -> Result<Option<u8>, CarError> {
        let mut byte = [0u8; 1];
        loop {
            match self.inner.read(&mut byte) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.offset += 1;
                    return Ok(Some(byte[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CarError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            }
        }
    }

    /// An unsigned LEB128 varint as multiformats defines it: at most 9 bytes, minimal. `None`
    /// if the input ends before its first byte.
    fn read_varint(&mut self) -> Result<Option<u64>, CarError> {
        let start = self.offset;
        let mut value = 0u64;
        for i in 0..9 {
            let Some(byte) = self.read_byte()? else {
                return if i == 0 {
                    Ok(None)
                } else {
                    Err(CarError::Truncated {
                        what: "varint",
                        offset: start,
                    })
                };
            };
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(CarError::BadVarint { offset: start });
                }
                return Ok(Some(value));
            }
        }
        Err(CarError::BadVarint { offset: start })
    }

    /// Read exactly `len` bytes, growing the buffer as data actually arrives.
    fn read_exact_bounded(&mut self, len: u64, what: &'static str) -> Result<Vec<u8>, CarError> {
        let start = self.offset;
        let mut buf = Vec::with_capacity(len.min(64 << 10) as usize);
        let read = (&mut self.inner)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|source| CarError::Io {
                offset: start,
                source,
            })?;
        self.offset += read as u64;
        if (read as u64) < len {
            return Err(CarError::Truncated {
                what,
                offset: start,
            });
        }
        Ok(buf)
    }
}

/// Encodes a CARv1: `varint(len) || DAG-CBOR {roots, version: 1}`, then `varint(len) || CID ||
/// data` per block. Pure (bytes out); used to hand a devnet's genesis to a separate follower.
pub fn write_car(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Result<Vec<u8>, super::error::EncodeError> {
    #[derive(serde::Serialize)]
    struct Header<'a> {
        roots: &'a [Cid],
        version: u64,
    }
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let header = serde_ipld_dagcbor::to_vec(&Header { roots, version: 1 })
        .map_err(|e| super::error::EncodeError { what: "CAR header", message: e.to_string() })?;
    let mut out = Vec::new();
    varint(&mut out, header.len() as u64);
    out.extend(header);
    for (cid, data) in blocks {
        let cid_bytes = cid.to_bytes();
        varint(&mut out, (cid_bytes.len() + data.len()) as u64);
        out.extend(cid_bytes);
        out.extend(data);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use multihash_codetable::Code;

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = vec![];
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    /// A CAR built in memory (test-only writer).
    pub(crate) fn build_car(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct H<'a> {
            roots: &'a [Cid],
            version: u64,
        }
        let header = serde_ipld_dagcbor::to_vec(&H { roots, version: 1 }).unwrap();
        let mut out = varint(header.len() as u64);
        out.extend(header);
        for (cid, data) in blocks {
            let cid_bytes = cid.to_bytes();
            out.extend(varint((cid_bytes.len() + data.len()) as u64));
            out.extend(cid_bytes);
            out.extend(data);
        }
        out
    }

    fn blake_block(data: &[u8]) -> (Cid, Vec<u8>) {
        (cbor::block_cid(data), data.to_vec())
    }

    #[test]
    fn write_car_round_trips_through_the_reader() {
        let a = blake_block(&[0x80]);
        let bytes = super::write_car(&[a.0], &[a.clone()]).unwrap();
        assert_eq!(bytes, build_car(&[a.0], &[a.clone()]));
        let mut car = CarReader::new(&bytes[..]).unwrap();
        assert_eq!(car.roots(), &[a.0]);
        assert_eq!(car.next_block().unwrap().unwrap().data, a.1);
    }

    #[test]
    fn reads_blocks_of_all_supported_hashes() {
        let a = blake_block(&[0x80]);
        let sha = (
            Cid::new_v1(cbor::DAG_CBOR, Code::Sha2_256.digest(b"\xa0")),
            b"\xa0".to_vec(),
        );
        let identity_mh = cid::multihash::Multihash::<64>::wrap(IDENTITY, b"fil/1/system").unwrap();
        let ident = (
            Cid::new_v1(cbor::RAW, identity_mh),
            b"fil/1/system".to_vec(),
        );
        let car = build_car(&[a.0], &[a.clone(), sha.clone(), ident.clone()]);
        let mut reader = CarReader::new(&car[..]).unwrap();
        assert_eq!(reader.roots(), &[a.0]);
        let blocks: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1].cid, sha.0);
        assert_eq!(blocks[2].data, b"fil/1/system");
        assert!(reader.next().is_none());
    }

    #[test]
    fn reports_hash_mismatch_with_offset() {
        let (cid, _) = blake_block(b"\x80");
        let car = build_car(&[cid], &[(cid, b"\x81".to_vec())]);
        let err = CarReader::new(&car[..])
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, CarError::Hash { source: HashCheckError::Mismatch, offset, .. } if offset > 0),
            "{err}"
        );

        let identity_mh = cid::multihash::Multihash::<64>::wrap(IDENTITY, b"abc").unwrap();
        let ident = Cid::new_v1(cbor::RAW, identity_mh);
        assert_eq!(
            verify_block_hash(&ident, b"abd"),
            Err(HashCheckError::Mismatch)
        );
        assert_eq!(verify_block_hash(&ident, b"abc"), Ok(()));
        let sha512 = Cid::new_v1(
            cbor::RAW,
            cid::multihash::Multihash::<64>::wrap(0x13, &[0; 64]).unwrap(),
        );
        assert_eq!(
            verify_block_hash(&sha512, b""),
            Err(HashCheckError::UnsupportedHash(0x13))
        );
        // A truncated sha2-256 digest is compared on its prefix.
        let full = Code::Sha2_256.digest(b"x");
        let short = Cid::new_v1(cbor::RAW, full.truncate(20));
        assert_eq!(verify_block_hash(&short, b"x"), Ok(()));
    }

    #[test]
    fn rejects_bad_headers() {
        let (cid, data) = blake_block(b"\x80");
        // CARv2 pragma: {version: 2}.
        let v2 = [
            0x0a, 0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02,
        ];
        assert!(matches!(
            CarReader::new(&v2[..]),
            Err(CarError::UnsupportedVersion(2))
        ));
        let no_roots = build_car(&[], &[(cid, data)]);
        assert!(matches!(
            CarReader::new(&no_roots[..]),
            Err(CarError::NoRoots)
        ));
        assert!(matches!(
            CarReader::new(&[][..]),
            Err(CarError::Truncated { .. })
        ));
        assert!(matches!(
            CarReader::new(&[0x05, 0xa0][..]),
            Err(CarError::Truncated { what: "header", .. })
        ));
        assert!(matches!(
            CarReader::new(&[0x01, 0x80][..]),
            Err(CarError::BadHeader(_))
        ));
        // A declared header of 2^62 bytes is refused before any allocation.
        let mut huge = varint(1 << 62);
        huge.push(0);
        assert!(matches!(
            CarReader::new(&huge[..]),
            Err(CarError::HeaderTooLarge { .. })
        ));
        // Varints: non-minimal, and longer than 9 bytes.
        assert!(matches!(
            CarReader::new(&[0x81, 0x00][..]),
            Err(CarError::BadVarint { offset: 0 })
        ));
        assert!(matches!(
            CarReader::new(&[0xff; 12][..]),
            Err(CarError::BadVarint { .. })
        ));
    }

    #[test]
    fn rejects_bad_sections() {
        let (cid, data) = blake_block(b"\x80");
        let good = build_car(&[cid], &[(cid, data)]);
        // Cut inside the last section.
        let cut = &good[..good.len() - 1];
        let err = CarReader::new(cut).unwrap().next().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                CarError::Truncated {
                    what: "section",
                    ..
                }
            ),
            "{err}"
        );
        // Cut inside a section's length varint (a 2-byte varint with only its first byte).
        let mut dangling = build_car(&[cid], &[]);
        dangling.push(0x80);
        assert!(matches!(
            CarReader::new(&dangling[..]).unwrap().next().unwrap(),
            Err(CarError::Truncated { what: "varint", .. })
        ));
        // Absurd section length.
        let mut absurd = build_car(&[cid], &[]);
        absurd.extend(varint(1 << 40));
        assert!(matches!(
            CarReader::new(&absurd[..]).unwrap().next().unwrap(),
            Err(CarError::SectionTooLarge { .. })
        ));
        let limits = CarLimits {
            max_header_bytes: 1 << 10,
            max_section_bytes: 4,
        };
        assert!(matches!(
            CarReader::with_limits(&good[..], limits)
                .unwrap()
                .next()
                .unwrap(),
            Err(CarError::SectionTooLarge {
                len: 39,
                max: 4,
                ..
            })
        ));
        // Garbage where a CID should be.
        let mut garbage = build_car(&[cid], &[]);
        garbage.extend([0x03, 0x07, 0x07, 0x07]);
        assert!(matches!(
            CarReader::new(&garbage[..]).unwrap().next().unwrap(),
            Err(CarError::BadCid { .. })
        ));
    }

    #[test]
    fn iterator_stops_after_the_first_error() {
        let (cid, _) = blake_block(b"\x80");
        let bad = build_car(&[cid], &[(cid, b"\x81".to_vec()), (cid, b"\x80".to_vec())]);
        let results: Vec<_> = CarReader::new(&bad[..]).unwrap().collect();
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }
}
