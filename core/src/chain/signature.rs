//! Filecoin signatures on the wire (go-state-types `crypto.Signature`): one CBOR byte string holding
//! a type byte followed by the signature bytes. A nil signature is CBOR `null`, modelled as
//! `Option<Signature>` by the containing types.
//!
//! We only *decode and carry* signatures; verifying them needs BLS/secp crypto and the signer's
//! key, which is out of scope for a header model.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Lotus's decoder refuses signature byte strings (type byte included) longer than this.
pub const MAX_SIGNATURE_BYTES: usize = 200;

/// The signature schemes Lotus accepts in CBOR input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SignatureType {
    /// 65-byte recoverable secp256k1 signature.
    Secp256k1 = 1,
    /// 96-byte BLS12-381 signature (G2, compressed).
    Bls = 2,
    /// Delegated (f4 / Ethereum-style) signature.
    Delegated = 3,
}

impl SignatureType {
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Secp256k1),
            2 => Some(Self::Bls),
            3 => Some(Self::Delegated),
            _ => None,
        }
    }

    /// The length Lotus's signers produce; decoding does not enforce it (Lotus does not either).
    pub fn expected_len(self) -> Option<usize> {
        match self {
            Self::Secp256k1 => Some(65),
            Self::Bls => Some(96),
            Self::Delegated => None,
        }
    }
}

/// Why bytes are not a signature Lotus would decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature is empty (no type byte)")]
    Empty,
    #[error("signature is {len} bytes, over the limit of {MAX_SIGNATURE_BYTES}")]
    TooLong { len: usize },
    #[error("unknown signature type {0}")]
    UnknownType(u8),
}

/// A typed signature. Fields are private so every value satisfies the decoder's limits and
/// therefore always encodes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    sig_type: SignatureType,
    data: Vec<u8>,
}

impl Signature {
    /// Build a signature; `data` excludes the type byte.
    pub fn new(sig_type: SignatureType, data: Vec<u8>) -> Result<Self, SignatureError> {
        if data.len() + 1 > MAX_SIGNATURE_BYTES {
            return Err(SignatureError::TooLong {
                len: data.len() + 1,
            });
        }
        Ok(Self { sig_type, data })
    }

    /// Parse the wire form (type byte + signature bytes), with Lotus's checks.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let (&type_byte, data) = bytes.split_first().ok_or(SignatureError::Empty)?;
        if bytes.len() > MAX_SIGNATURE_BYTES {
            return Err(SignatureError::TooLong { len: bytes.len() });
        }
        let sig_type =
            SignatureType::from_byte(type_byte).ok_or(SignatureError::UnknownType(type_byte))?;
        Ok(Self {
            sig_type,
            data: data.to_vec(),
        })
    }

    /// The wire form: type byte followed by the signature bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 1);
        out.push(self.sig_type as u8);
        out.extend_from_slice(&self.data);
        out
    }

    pub fn sig_type(&self) -> SignatureType {
        self.sig_type
    }

    /// The signature bytes without the type byte.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({:?}, {} bytes)",
            self.sig_type,
            self.data.len()
        )
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fvm_ipld_encoding::strict_bytes::serialize(&self.to_bytes(), serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: std::borrow::Cow<'de, [u8]> =
            fvm_ipld_encoding::strict_bytes::deserialize(deserializer)?;
        Signature::from_bytes(&bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_types_and_round_trips() {
        for (byte, ty) in [
            (1, SignatureType::Secp256k1),
            (2, SignatureType::Bls),
            (3, SignatureType::Delegated),
        ] {
            let mut wire = vec![byte];
            wire.extend(std::iter::repeat_n(0xab, 96));
            let sig = Signature::from_bytes(&wire).unwrap();
            assert_eq!(sig.sig_type(), ty);
            assert_eq!(sig.data().len(), 96);
            assert_eq!(sig.to_bytes(), wire);
        }
    }

    #[test]
    fn rejects_what_lotus_rejects() {
        assert_eq!(Signature::from_bytes(&[]), Err(SignatureError::Empty));
        assert_eq!(
            Signature::from_bytes(&[0, 1, 2]),
            Err(SignatureError::UnknownType(0))
        );
        assert_eq!(
            Signature::from_bytes(&[4]),
            Err(SignatureError::UnknownType(4))
        );
        assert_eq!(
            Signature::from_bytes(&[0xff, 1]),
            Err(SignatureError::UnknownType(0xff))
        );
        let mut at_limit = vec![2u8];
        at_limit.extend(std::iter::repeat_n(0, MAX_SIGNATURE_BYTES - 1));
        assert!(Signature::from_bytes(&at_limit).is_ok());
        at_limit.push(0);
        assert_eq!(
            Signature::from_bytes(&at_limit),
            Err(SignatureError::TooLong { len: 201 })
        );
        assert_eq!(
            Signature::new(SignatureType::Bls, vec![0; 200]),
            Err(SignatureError::TooLong { len: 201 })
        );
    }

    #[test]
    fn cbor_form_is_one_byte_string_and_null_is_none() {
        let sig = Signature::new(SignatureType::Secp256k1, vec![7; 65]).unwrap();
        let bytes = serde_ipld_dagcbor::to_vec(&sig).unwrap();
        assert_eq!(&bytes[..3], &[0x58, 66, 0x01]);
        assert_eq!(
            serde_ipld_dagcbor::from_slice::<Signature>(&bytes).unwrap(),
            sig
        );
        assert_eq!(
            serde_ipld_dagcbor::from_slice::<Option<Signature>>(&[0xf6]).unwrap(),
            None
        );
        // Empty byte string: Lotus's "signature too short".
        assert!(serde_ipld_dagcbor::from_slice::<Signature>(&[0x40]).is_err());
    }
}
