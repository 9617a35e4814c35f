//! Typed errors for decoding and encoding the chain model's wire formats.
//!
//! Lotus's cbor-gen decoders fail with plain strings; we keep the failure *kind* in the type so a
//! caller (a peer scorer, a CAR scanner, a test) can tell a malformed peer message from an
//! oversized one, a wrong field count from trailing garbage, without parsing messages.

use thiserror::Error;

use super::address::AddressError;
use super::bigint::BigIntError;
use super::signature::SignatureError;

/// Why a DAG-CBOR value could not be decoded into one of our types.
///
/// `what` names the Lotus type being decoded ("BlockHeader", "BlockMsg", ...), so the message reads
/// well when it surfaces in a log line far from the decoder.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is empty or its first item is not a definite-length CBOR array; every Lotus
    /// message type here is a cbor-gen "tuple" struct, i.e. an array.
    #[error("{what}: expected a CBOR array (tuple), found initial byte {found:#04x}")]
    NotAnArray { what: &'static str, found: u8 },

    /// The array has the wrong number of elements. cbor-gen demands the exact count.
    #[error("{what}: wrong number of fields: expected {expected}, found {found}")]
    WrongFieldCount {
        what: &'static str,
        expected: u64,
        found: u64,
    },

    /// A complete value was decoded but bytes followed it. Lotus's `DecodeBlockMsg` and CID-addressed
    /// blocks reject this: the bytes would not hash to the value's CID.
    #[error("{what}: trailing bytes after the value")]
    TrailingBytes { what: &'static str },

    /// A length limit that Lotus enforces while decoding was exceeded.
    #[error("{what}: {field} has {len} elements/bytes, over the limit of {max}")]
    Oversized {
        what: &'static str,
        field: &'static str,
        len: usize,
        max: usize,
    },

    /// A signature field held bytes Lotus would reject.
    #[error("{what}: {field}: {source}")]
    Signature {
        what: &'static str,
        field: &'static str,
        source: SignatureError,
    },

    /// A BigInt field held bytes Lotus would reject.
    #[error("{what}: {field}: {source}")]
    BigInt {
        what: &'static str,
        field: &'static str,
        source: BigIntError,
    },

    /// An address field held bytes Lotus would reject.
    #[error("{what}: {field}: {source}")]
    Address {
        what: &'static str,
        field: &'static str,
        source: AddressError,
    },

    /// The value decoded, but our canonical DAG-CBOR re-encoding differs from the input (for
    /// example a non-minimal integer, or a BigInt with a leading zero byte). We refuse such input
    /// because its hash would not be the CID Lotus computes (Lotus re-marshals before hashing).
    #[error("{what}: not canonical DAG-CBOR (re-encoding differs from the input)")]
    NonCanonical { what: &'static str },

    /// Any other structural CBOR problem, as reported by serde_ipld_dagcbor (type mismatch,
    /// truncated input, a nested tuple of the wrong size, invalid CID, ...).
    #[error("{what}: invalid DAG-CBOR: {message}")]
    Cbor { what: &'static str, message: String },
}

/// Why a value could not be encoded. Only values built in memory can fail this way (a decoded
/// value always re-encodes): a BigInt over 128 bytes, for instance.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("cannot encode {what}: {message}")]
pub struct EncodeError {
    pub what: &'static str,
    pub message: String,
}
