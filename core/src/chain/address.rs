//! Filecoin addresses, backed by `fvm_shared::address::Address` with the few rules Lotus
//! (go-address) adds on top, so that we accept exactly what Lotus accepts.
//!
//! fvm_shared does the protocol/payload/checksum work. Where it is more lenient than go-address
//! we check first:
//! - go-address decodes ID and delegated-namespace varints as *63-bit* values
//!   (`varint.FromUvarint`, at most 9 bytes); fvm_shared accepts any u64.
//! - go-address caps an address byte string at 64 bytes and a string at 115 characters.
//! - go-address parses decimal IDs with `strconv.ParseUint`, which refuses a leading `+`; Rust's
//!   `u64::from_str` accepts it.
//!
//! fvm_shared also formats with a process-global network (`set_current_network`); we never touch
//! that global and pick the `f`/`t` letter per call instead, because one lsync process reads logs
//! of mainnet (`f…`) and calibnet (`t…`) nodes side by side.

use std::fmt;
use std::str::FromStr;

pub use fvm_shared::address::Protocol;
use fvm_shared::address::{
    Address as FvmAddress, Error as FvmAddressError, Network as FvmNetwork, Payload,
};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// go-address rejects CBOR address byte strings longer than this.
pub const MAX_ADDRESS_BYTES: usize = 64;
/// go-address `MaxAddressStringLength` (2 + 19 + 1 + 93).
pub const MAX_ADDRESS_STRING_LEN: usize = 115;
/// go-address `MaxInt64StringLength`: IDs and namespaces are at most 19 decimal digits.
const MAX_INT64_DIGITS: usize = 19;

/// The network letter in an address string. Lotus picks it from its build (mainnet `f`, calibnet
/// and other test builds `t`), not from the address bytes, which carry no network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    #[default]
    Mainnet,
    Testnet,
}

impl Network {
    pub fn prefix(self) -> char {
        match self {
            Network::Mainnet => 'f',
            Network::Testnet => 't',
        }
    }

    fn fvm(self) -> FvmNetwork {
        match self {
            Network::Mainnet => FvmNetwork::Mainnet,
            Network::Testnet => FvmNetwork::Testnet,
        }
    }
}

/// Why bytes or a string are not an address Lotus would accept.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error("address is {len} bytes, over the limit of {MAX_ADDRESS_BYTES}")]
    TooManyBytes { len: usize },
    #[error("address string is {len} characters, over the limit of {MAX_ADDRESS_STRING_LEN}")]
    StringTooLong { len: usize },
    #[error("unknown address network letter (want f or t)")]
    UnknownNetwork,
    #[error("unknown address protocol")]
    UnknownProtocol,
    #[error("{what} {value} is over 2^63-1, which go-address refuses")]
    Over63Bits { what: &'static str, value: u64 },
    #[error("{what} must be 1 to 19 decimal digits")]
    BadDecimal { what: &'static str },
    #[error("address checksum does not match")]
    BadChecksum,
    #[error("invalid address: {0}")]
    Invalid(String),
}

impl From<FvmAddressError> for AddressError {
    fn from(err: FvmAddressError) -> Self {
        match err {
            FvmAddressError::UnknownNetwork => AddressError::UnknownNetwork,
            FvmAddressError::UnknownProtocol => AddressError::UnknownProtocol,
            FvmAddressError::InvalidChecksum => AddressError::BadChecksum,
            other => AddressError::Invalid(other.to_string()),
        }
    }
}

/// A Filecoin address (protocols 0–4). Displays with the mainnet letter, like a mainnet Lotus;
/// use [`Address::to_string_on`] for calibnet-style `t…` strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(FvmAddress);

impl Address {
    /// An ID address (`f0…`). IDs above 2^63-1 do not exist in Filecoin (go-address refuses them).
    pub fn new_id(id: u64) -> Result<Self, AddressError> {
        check_63_bits("ID", id)?;
        Ok(Self(FvmAddress::new_id(id)))
    }

    /// Parse the byte form (protocol byte + payload) with go-address's rules.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AddressError> {
        if bytes.is_empty() {
            return Err(AddressError::Empty);
        }
        if bytes.len() > MAX_ADDRESS_BYTES {
            return Err(AddressError::TooManyBytes { len: bytes.len() });
        }
        let inner = FvmAddress::from_bytes(bytes)?;
        match inner.payload() {
            Payload::ID(id) => check_63_bits("ID", *id)?,
            Payload::Delegated(d) => check_63_bits("namespace", d.namespace())?,
            _ => {}
        }
        Ok(Self(inner))
    }

    /// The byte form, as stored in CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub fn protocol(&self) -> Protocol {
        self.0.protocol()
    }

    /// The actor ID of an ID address.
    pub fn id(&self) -> Option<u64> {
        self.0.id().ok()
    }

    /// The fvm_shared value, for code that works with the FVM types.
    pub fn as_fvm(&self) -> &FvmAddress {
        &self.0
    }

    /// The string form with the given network letter, e.g. `t01000` for a calibnet log.
    pub fn to_string_on(&self, network: Network) -> String {
        // fvm_shared writes `<letter><rest>`; the rest does not depend on the network, so we
        // replace the letter rather than consult or change fvm_shared's global network.
        let formatted = self.0.to_string();
        let mut out = String::with_capacity(formatted.len());
        out.push(network.prefix());
        out.push_str(&formatted[1..]);
        out
    }

    /// Parse `f…`/`t…` strings, returning the network letter that was used.
    pub fn parse_with_network(s: &str) -> Result<(Network, Self), AddressError> {
        if s.len() > MAX_ADDRESS_STRING_LEN {
            return Err(AddressError::StringTooLong { len: s.len() });
        }
        let network = match s.as_bytes().first() {
            Some(b'f') => Network::Mainnet,
            Some(b't') => Network::Testnet,
            None => return Err(AddressError::Empty),
            Some(_) => return Err(AddressError::UnknownNetwork),
        };
        let rest = s.get(2..).unwrap_or("");
        match s.as_bytes().get(1) {
            Some(b'0') => {
                let id = parse_63_bit_decimal("ID", rest)?;
                return Ok((network, Self(FvmAddress::new_id(id))));
            }
            Some(b'4') => {
                let namespace = rest.split_once('f').map_or(rest, |(ns, _)| ns);
                parse_63_bit_decimal("namespace", namespace)?;
            }
            _ => {}
        }
        let inner = network.fvm().parse_address(s)?;
        Ok((network, Self(inner)))
    }
}

fn check_63_bits(what: &'static str, value: u64) -> Result<(), AddressError> {
    if value > i64::MAX as u64 {
        return Err(AddressError::Over63Bits { what, value });
    }
    Ok(())
}

fn parse_63_bit_decimal(what: &'static str, digits: &str) -> Result<u64, AddressError> {
    if digits.is_empty()
        || digits.len() > MAX_INT64_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AddressError::BadDecimal { what });
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| AddressError::BadDecimal { what })?;
    check_63_bits(what, value)?;
    Ok(value)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_on(Network::Mainnet))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;
    /// Accepts both network letters; use [`Address::parse_with_network`] to learn which.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with_network(s).map(|(_, a)| a)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fvm_ipld_encoding::strict_bytes::serialize(&self.to_bytes(), serializer)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: std::borrow::Cow<'de, [u8]> =
            fvm_ipld_encoding::strict_bytes::deserialize(deserializer)?;
        Address::from_bytes(&bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(s: &str) -> Vec<u8> {
        s.parse::<Address>().unwrap().to_bytes()
    }

    #[test]
    fn id_addresses_from_the_real_chain() {
        // forest-export40: miners f01000/f01001/f01002; mainnet genesis miner f00.
        for (bytes, text) in [
            (vec![0x00, 0xe8, 0x07], "f01000"),
            (vec![0x00, 0xe9, 0x07], "f01001"),
            (vec![0x00, 0xea, 0x07], "f01002"),
            (vec![0x00, 0x00], "f00"),
        ] {
            let a = Address::from_bytes(&bytes).unwrap();
            assert_eq!(a.to_string(), text);
            assert_eq!(a.to_bytes(), bytes);
            assert_eq!(text.parse::<Address>().unwrap(), a);
        }
        let a = Address::new_id(1000).unwrap();
        assert_eq!(a.to_string_on(Network::Testnet), "t01000");
        assert_eq!(a.id(), Some(1000));
        assert_eq!(
            Address::parse_with_network("t01000").unwrap(),
            (Network::Testnet, a)
        );
    }

    /// go-address's test vectors (address_test.go), both network letters.
    #[test]
    fn go_address_vectors_round_trip() {
        let vectors = [
            "t00",
            "t0150",
            "t0999999",
            "t15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq",
            "t12fiakbhe2gwd5cnmrenekasyn6v5tnaxaqizq6a",
            "t24vg6ut43yw2h2jqydgbg2xq7x6f4kub3bg6as6i",
            "t2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y",
            "t3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a",
            "t3u5zgwa4ael3vuocgc5mfgygo4yuqocrntuuhcklf4xzg5tcaqwbyfabxetwtj4tsam3pbhnwghyhijr5mixa",
            "f432f77777777x32lpna",
            "f49223372036854775807fiic6zsy",
        ];
        for text in vectors {
            let (network, a) = Address::parse_with_network(text).unwrap();
            assert_eq!(a.to_string_on(network), text, "{text}");
            assert_eq!(Address::from_bytes(&a.to_bytes()).unwrap(), a);
            let cbor = serde_ipld_dagcbor::to_vec(&a).unwrap();
            assert_eq!(serde_ipld_dagcbor::from_slice::<Address>(&cbor).unwrap(), a);
        }
        // The BLS vector's payload is the public key itself.
        let bls = bytes_of("f3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a");
        assert_eq!(bls.len(), 49);
        assert_eq!(&bls[..4], &[3, 173, 88, 223]);
        // f4 with namespace 32 and five 0xff bytes.
        assert_eq!(
            bytes_of("f432f77777777x32lpna"),
            vec![4, 32, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            Address::new_id(i64::MAX as u64).unwrap().to_string(),
            "f09223372036854775807"
        );
    }

    #[test]
    fn rejects_what_go_address_rejects_in_strings() {
        assert_eq!(
            "Q2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y".parse::<Address>(),
            Err(AddressError::UnknownNetwork)
        );
        assert_eq!(
            "t5gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr23y".parse::<Address>(),
            Err(AddressError::UnknownProtocol)
        );
        assert_eq!(
            "t2gfvuyh7v2sx3patm5k23wdzmhyhtmqctasbr24y".parse::<Address>(),
            Err(AddressError::BadChecksum)
        );
        // Non-zero trailing bits in the last base32 character (go-address TestTrailingBits).
        assert!("f1xpbyy4tkdx5si2bgo37dubc2xwv6fum5tk57mia"
            .parse::<Address>()
            .is_ok());
        assert!("f1xpbyy4tkdx5si2bgo37dubc2xwv6fum5tk57mid"
            .parse::<Address>()
            .is_err());
        assert!("t2gfvuyh7v2sx3patm1k23wdzmhyhtmqctasbr24y"
            .parse::<Address>()
            .is_err()); // '1' not base32
        assert!("t2".parse::<Address>().is_err());
        assert!("t".parse::<Address>().is_err());
        assert!("".parse::<Address>().is_err());
        // IDs: digits only, at most 19 of them, at most 2^63-1.
        assert_eq!(
            "f0+1".parse::<Address>(),
            Err(AddressError::BadDecimal { what: "ID" })
        );
        assert_eq!(
            "f0banananananannnnnnn".parse::<Address>(),
            Err(AddressError::BadDecimal { what: "ID" })
        );
        assert_eq!(
            "f09223372036854775808".parse::<Address>(),
            Err(AddressError::Over63Bits {
                what: "ID",
                value: 9223372036854775808
            })
        );
        assert_eq!(
            "f018446744073709551615".parse::<Address>(),
            Err(AddressError::BadDecimal { what: "ID" })
        );
        assert!(matches!(
            "f09223372036854775808fiic6zsy".parse::<Address>(),
            Err(AddressError::BadDecimal { .. })
        ));
        assert_eq!(
            "f49223372036854775808fiic6zsy".parse::<Address>(),
            Err(AddressError::Over63Bits {
                what: "namespace",
                value: 9223372036854775808
            })
        );
        let long = format!("f1{}", "a".repeat(200));
        assert_eq!(
            long.parse::<Address>(),
            Err(AddressError::StringTooLong { len: 202 })
        );
        // Leading zeros are accepted and normalised, as strconv.ParseUint does.
        assert_eq!("f0007".parse::<Address>().unwrap().to_string(), "f07");
    }

    #[test]
    fn rejects_what_go_address_rejects_in_bytes() {
        assert_eq!(Address::from_bytes(&[]), Err(AddressError::Empty));
        assert!(Address::from_bytes(&[0]).is_err());
        assert_eq!(
            Address::from_bytes(&[5, 4, 4]),
            Err(AddressError::UnknownProtocol)
        );
        assert!(Address::from_bytes(&[1; 20]).is_err()); // secp: 19-byte payload
        assert!(Address::from_bytes(&[2; 22]).is_err()); // actor: 21-byte payload
        assert!(Address::from_bytes(&[3; 48]).is_err()); // BLS: 47-byte payload
        let mut delegated = vec![4, 0];
        delegated.extend([0u8; 55]);
        assert!(Address::from_bytes(&delegated).is_err()); // subaddress over 54
        assert!(Address::from_bytes(&[4, 0xff]).is_err()); // hanging namespace varint
        assert!(Address::from_bytes(&[0, 0x80]).is_err()); // hanging ID varint
        assert!(Address::from_bytes(&[0, 0x80, 0x00]).is_err()); // non-minimal varint
        assert!(Address::from_bytes(&[0, 0x01, 0x00]).is_err()); // bytes after the varint
                                                                 // u64::MAX as a 10-byte varint: fvm_shared accepts it, go-address does not.
        let max = [
            0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(FvmAddress::from_bytes(&max).is_ok());
        assert_eq!(
            Address::from_bytes(&max),
            Err(AddressError::Over63Bits {
                what: "ID",
                value: u64::MAX
            })
        );
        assert!(Address::new_id(1 << 63).is_err());
        // The largest f4 address: 9-byte namespace varint (2^56) + 54-byte subaddress = 64 bytes.
        let mut largest = vec![4, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        largest.extend([0u8; 54]);
        assert_eq!(largest.len(), MAX_ADDRESS_BYTES);
        assert!(Address::from_bytes(&largest).is_ok());
        let mut too_long = vec![
            4, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        too_long.extend([0u8; 54]);
        assert_eq!(
            Address::from_bytes(&too_long),
            Err(AddressError::TooManyBytes { len: 65 })
        );
        // A CBOR text string is not an address.
        assert!(serde_ipld_dagcbor::from_slice::<Address>(&[0x63, b'f', b'0', b'1']).is_err());
    }
}
