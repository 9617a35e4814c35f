//! Filecoin's BigInt byte encoding (go-state-types `big.Int`), over `num_bigint::BigInt` 0.4 — the
//! same type fvm_shared's `TokenAmount` and `BigInt` use, so values pass between them freely.
//!
//! Bytes: empty = 0; otherwise a sign byte (`0x00` positive, `0x01` negative) then the big-endian
//! magnitude. Lotus rejects more than 128 bytes in total and any other sign byte.

use std::borrow::Cow;

use num_bigint::{BigInt, Sign};
use thiserror::Error;

/// Lotus's `BigIntMaxSerializedLen`: the whole byte string, sign byte included.
pub const MAX_BIGINT_BYTES: usize = 128;

/// Why bytes are not a Filecoin BigInt, or a BigInt cannot be written as one.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BigIntError {
    #[error("BigInt is {len} bytes, over the limit of {MAX_BIGINT_BYTES}")]
    TooLong { len: usize },
    #[error("BigInt sign byte must be 0 or 1, found {0:#04x}")]
    BadSign(u8),
}

/// Decode Filecoin BigInt bytes.
///
/// Like Lotus, this accepts the non-canonical forms `[0x00]`, `[0x01]` (both zero) and magnitudes
/// with leading zero bytes; they decode to the same number but do not re-encode to the same
/// bytes, which [`super::header::BlockHeader::decode`] catches with its canonical-form check.
pub fn bigint_from_bytes(bytes: &[u8]) -> Result<BigInt, BigIntError> {
    if bytes.len() > MAX_BIGINT_BYTES {
        return Err(BigIntError::TooLong { len: bytes.len() });
    }
    let Some((&sign_byte, magnitude)) = bytes.split_first() else {
        return Ok(BigInt::default());
    };
    let sign = match sign_byte {
        0 => Sign::Plus,
        1 => Sign::Minus,
        other => return Err(BigIntError::BadSign(other)),
    };
    Ok(BigInt::from_bytes_be(sign, magnitude))
}

/// Encode a BigInt as Filecoin BigInt bytes (canonical: zero is empty, no leading zero bytes).
pub fn bigint_to_bytes(value: &BigInt) -> Result<Vec<u8>, BigIntError> {
    let (sign, magnitude) = value.to_bytes_be();
    let sign_byte = match sign {
        Sign::NoSign => return Ok(Vec::new()),
        Sign::Plus => 0u8,
        Sign::Minus => 1u8,
    };
    let mut out = Vec::with_capacity(magnitude.len() + 1);
    out.push(sign_byte);
    out.extend_from_slice(&magnitude);
    if out.len() > MAX_BIGINT_BYTES {
        return Err(BigIntError::TooLong { len: out.len() });
    }
    Ok(out)
}

/// `#[serde(with = "bigint_bytes")]` for `num_bigint::BigInt` fields: a CBOR byte string.
pub mod bigint_bytes {
    use super::*;
    use fvm_ipld_encoding::strict_bytes;
    use serde::{de, ser, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &BigInt, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = bigint_to_bytes(value).map_err(ser::Error::custom)?;
        strict_bytes::serialize(&bytes, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BigInt, D::Error> {
        let bytes: Cow<'de, [u8]> = strict_bytes::deserialize(deserializer)?;
        bigint_from_bytes(&bytes).map_err(de::Error::custom)
    }
}

/// Renders a BigInt as Lotus's JSON does: a decimal string.
pub fn bigint_decimal(value: &BigInt) -> String {
    value.to_str_radix(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fvm_shared::bigint::bigint_ser::{BigIntDe, BigIntSer};
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(bigint_from_bytes(&[]).unwrap(), BigInt::from(0));
        // mainnet genesis ParentBaseFee: InitialBaseFee = 100e6.
        assert_eq!(
            bigint_from_bytes(&[0x00, 0x05, 0xf5, 0xe1, 0x00]).unwrap(),
            BigInt::from(100_000_000)
        );
        assert_eq!(
            bigint_from_bytes(&[0x01, 0x01, 0x00]).unwrap(),
            BigInt::from(-256)
        );
        assert_eq!(
            bigint_to_bytes(&BigInt::from(100_000_000)).unwrap(),
            vec![0x00, 0x05, 0xf5, 0xe1, 0x00]
        );
        assert_eq!(bigint_to_bytes(&BigInt::from(0)).unwrap(), Vec::<u8>::new());
        assert_eq!(
            bigint_to_bytes(&BigInt::from(-1)).unwrap(),
            vec![0x01, 0x01]
        );
    }

    #[test]
    fn lotus_leniencies_decode_but_do_not_round_trip() {
        assert_eq!(bigint_from_bytes(&[0x00]).unwrap(), BigInt::from(0));
        assert_eq!(bigint_from_bytes(&[0x01]).unwrap(), BigInt::from(0));
        assert_eq!(
            bigint_from_bytes(&[0x00, 0x00, 0x05]).unwrap(),
            BigInt::from(5)
        );
        assert_eq!(bigint_to_bytes(&BigInt::from(5)).unwrap(), vec![0x00, 0x05]);
    }

    #[test]
    fn rejects_bad_sign_and_oversize() {
        assert_eq!(
            bigint_from_bytes(&[0x02, 0x01]),
            Err(BigIntError::BadSign(2))
        );
        assert_eq!(bigint_from_bytes(&[0xff]), Err(BigIntError::BadSign(0xff)));
        let mut max = vec![0u8];
        max.extend(std::iter::repeat_n(0xff, MAX_BIGINT_BYTES - 1));
        let big = bigint_from_bytes(&max).unwrap();
        assert_eq!(bigint_to_bytes(&big).unwrap(), max);
        max.push(0xff);
        assert_eq!(
            bigint_from_bytes(&max),
            Err(BigIntError::TooLong { len: 129 })
        );
        let too_big = big * 256 + 255;
        assert_eq!(
            bigint_to_bytes(&too_big),
            Err(BigIntError::TooLong { len: 129 })
        );
    }

    #[test]
    fn serde_form_is_a_cbor_byte_string() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct W(#[serde(with = "bigint_bytes")] BigInt);
        let bytes = serde_ipld_dagcbor::to_vec(&W(BigInt::from(12544))).unwrap();
        assert_eq!(bytes, vec![0x43, 0x00, 0x31, 0x00]);
        let back: W = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
        assert_eq!(back.0, BigInt::from(12544));
        // A text string is not a BigInt.
        assert!(serde_ipld_dagcbor::from_slice::<W>(&[0x61, 0x30]).is_err());
    }

    proptest! {
        /// Our codec and fvm_shared's agree on every value within the limit, both ways.
        #[test]
        fn agrees_with_fvm_shared(magnitude in proptest::collection::vec(any::<u8>(), 0..127), negative: bool) {
            let sign = if negative { Sign::Minus } else { Sign::Plus };
            let value = BigInt::from_bytes_be(sign, &magnitude);
            let ours = bigint_to_bytes(&value).unwrap();
            prop_assert_eq!(bigint_from_bytes(&ours).unwrap(), value.clone());
            let theirs = fvm_ipld_encoding::to_vec(&BigIntSer(&value)).unwrap();
            let ours_cbor = serde_ipld_dagcbor::to_vec(&fvm_ipld_encoding::BytesSer(&ours)).unwrap();
            prop_assert_eq!(&theirs, &ours_cbor);
            let back: BigIntDe = fvm_ipld_encoding::from_slice(&ours_cbor).unwrap();
            prop_assert_eq!(back.0, value);
        }
    }
}
