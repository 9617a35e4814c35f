//! Small helpers over `serde_ipld_dagcbor`: tuple decoding with typed errors, encoding, and the
//! block CID builder Filecoin uses.
//!
//! We never hand-roll CBOR values; the only byte-level code here reads the *initial byte(s)* of the
//! top-level item so that a wrong field count becomes a typed error rather than a serde message.

use cid::Cid;
use multihash_codetable::{Code, MultihashDigest};
use serde::{Deserialize, Serialize};

use super::error::{DecodeError, EncodeError};

/// Multicodec of DAG-CBOR, the codec of every Filecoin chain object.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec of raw bytes (used by identity-hashed actor code CIDs in genesis CARs).
pub const RAW: u64 = 0x55;
/// Multihash code of blake2b-256, the hash of Filecoin block CIDs.
pub const BLAKE2B_256: u64 = 0xb220;
/// Multihash code of sha2-256 (e.g. the 2017 "Filecoin genesis" note mainnet genesis points to).
pub const SHA2_256: u64 = 0x12;
/// Multihash code of the identity "hash" (the digest is the data itself).
pub const IDENTITY: u64 = 0x00;

/// The CID Lotus gives a chain object: CIDv1, DAG-CBOR, blake2b-256 over the exact bytes
/// (go-state-types `abi.CidBuilder`; inlining is off, so never an identity CID).
pub fn block_cid(bytes: &[u8]) -> Cid {
    Cid::new_v1(DAG_CBOR, Code::Blake2b256.digest(bytes))
}

/// blake2b-256 of `bytes`: the ticket ordering key and pubsub message id in Filecoin.
pub fn blake2b_256(bytes: &[u8]) -> [u8; 32] {
    let digest = Code::Blake2b256.digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.digest());
    out
}

/// Encode a value as DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| EncodeError {
        what,
        message: e.to_string(),
    })
}

/// The element count of a definite-length CBOR array at the start of `bytes`.
fn top_level_array_len(what: &'static str, bytes: &[u8]) -> Result<u64, DecodeError> {
    let truncated = || DecodeError::Cbor {
        what,
        message: "truncated array header".into(),
    };
    let &first = bytes.first().ok_or_else(|| DecodeError::Cbor {
        what,
        message: "empty input".into(),
    })?;
    if first >> 5 != 4 {
        return Err(DecodeError::NotAnArray { what, found: first });
    }
    let extra_len = match first & 0x1f {
        n @ 0..=23 => return Ok(u64::from(n)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        // 28..=30 are reserved; 31 is an indefinite-length array, which DAG-CBOR forbids.
        _ => return Err(DecodeError::NotAnArray { what, found: first }),
    };
    let extra = bytes.get(1..1 + extra_len).ok_or_else(truncated)?;
    Ok(extra.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Map a serde_ipld_dagcbor decode error onto our typed error.
pub(crate) fn map_decode_error<E: std::fmt::Debug>(
    what: &'static str,
    err: serde_ipld_dagcbor::DecodeError<E>,
) -> DecodeError {
    match err {
        serde_ipld_dagcbor::DecodeError::TrailingData => DecodeError::TrailingBytes { what },
        other => DecodeError::Cbor {
            what,
            message: other.to_string(),
        },
    }
}

/// Decode a cbor-gen style tuple struct that must have exactly `fields` elements and nothing after
/// it. The field count is checked first so that the most common malformation (a different struct
/// version, a truncated peer message) gets a precise error.
pub fn decode_tuple<'a, T: Deserialize<'a>>(
    what: &'static str,
    fields: u64,
    bytes: &'a [u8],
) -> Result<T, DecodeError> {
    let found = top_level_array_len(what, bytes)?;
    if found != fields {
        return Err(DecodeError::WrongFieldCount {
            what,
            expected: fields,
            found,
        });
    }
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| map_decode_error(what, e))
}

/// Reject `len > max` with a typed error; the limits mirror Lotus's decoders.
pub(crate) fn check_len(
    what: &'static str,
    field: &'static str,
    len: usize,
    max: usize,
) -> Result<(), DecodeError> {
    if len > max {
        return Err(DecodeError::Oversized {
            what,
            field,
            len,
            max,
        });
    }
    Ok(())
}

/// Decode, then insist that re-encoding reproduces the input byte for byte. This is what makes a
/// decoded value's CID equal to the hash of the bytes it came from.
pub(crate) fn ensure_canonical<T: Serialize>(
    what: &'static str,
    value: &T,
    original: &[u8],
) -> Result<(), DecodeError> {
    match serde_ipld_dagcbor::to_vec(value) {
        Ok(reencoded) if reencoded == original => Ok(()),
        _ => Err(DecodeError::NonCanonical { what }),
    }
}

/// Limits Lotus's cbor-gen code applies to every byte string and array it decodes
/// (`cbg.ByteArrayMaxLen` = 2 MiB, `cbg.MaxLength` = 8192).
pub const CBOR_GEN_MAX_BYTES: usize = 2 << 20;
/// See [`CBOR_GEN_MAX_BYTES`].
pub const CBOR_GEN_MAX_ARRAY: usize = 8192;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_header_lengths_are_read_from_all_widths() {
        assert_eq!(top_level_array_len("t", &[0x80]).unwrap(), 0);
        assert_eq!(top_level_array_len("t", &[0x90]).unwrap(), 16);
        assert_eq!(top_level_array_len("t", &[0x98, 0x20]).unwrap(), 32);
        assert_eq!(top_level_array_len("t", &[0x99, 0x01, 0x00]).unwrap(), 256);
        assert_eq!(
            top_level_array_len("t", &[0x9a, 0, 1, 0, 0]).unwrap(),
            65536
        );
        assert_eq!(
            top_level_array_len("t", &[0x9b, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
            1 << 32
        );
        assert!(matches!(
            top_level_array_len("t", &[0x9f]),
            Err(DecodeError::NotAnArray { found: 0x9f, .. })
        ));
        assert!(matches!(
            top_level_array_len("t", &[0xa1]),
            Err(DecodeError::NotAnArray { .. })
        ));
        assert!(matches!(
            top_level_array_len("t", &[0x99, 0x01]),
            Err(DecodeError::Cbor { .. })
        ));
        assert!(matches!(
            top_level_array_len("t", &[]),
            Err(DecodeError::Cbor { .. })
        ));
    }

    #[test]
    fn decode_tuple_reports_count_and_trailing_bytes() {
        let two: (u64, u64) = decode_tuple("pair", 2, &[0x82, 0x01, 0x02]).unwrap();
        assert_eq!(two, (1, 2));
        assert_eq!(
            decode_tuple::<(u64, u64)>("pair", 2, &[0x83, 1, 2, 3]).unwrap_err(),
            DecodeError::WrongFieldCount {
                what: "pair",
                expected: 2,
                found: 3
            }
        );
        assert_eq!(
            decode_tuple::<(u64, u64)>("pair", 2, &[0x82, 1, 2, 0x00]).unwrap_err(),
            DecodeError::TrailingBytes { what: "pair" }
        );
    }

    #[test]
    fn block_cid_has_the_filecoin_prefix() {
        let cid = block_cid(b"anything");
        assert_eq!(&cid.to_bytes()[..6], &[0x01, 0x71, 0xa0, 0xe4, 0x02, 0x20]);
        assert!(cid.to_string().starts_with("bafy2bzace"));
    }
}
