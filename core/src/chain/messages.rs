//! Network payloads: the gossiped `BlockMsg`, the `/fil/hello/1.0.0` messages and the
//! `/fil/chain/xchg/0.0.1` request/response (lotus `chain/types/blockmsg.go`, `node/hello`,
//! `chain/exchange`). All are cbor-gen tuples; framing (raw CBOR, no length prefix) is the
//! caller's business.

use std::fmt;

use cid::Cid;
use fvm_ipld_encoding::tuple::*;
use num_bigint::BigInt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::bigint::bigint_bytes;
use super::cbor;
use super::chain_message::{BlockMessages, Message, MsgMeta, SignedMessage};
use super::error::{DecodeError, EncodeError};
use super::header::{BlockHeader, HeaderWire};
use super::tipset::TipSetKey;

/// Lotus's `BlockMessageLimit`: the pubsub validator rejects a block with more messages.
pub const BLOCK_MESSAGE_LIMIT: usize = 10_000;
/// Chain exchange: the most tipsets one request may ask for (`policy.ChainFinality`).
pub const MAX_REQUEST_LENGTH: u64 = 900;
/// Chain exchange: the client reads at most this many response bytes (`maxExchangeMessageSize`).
pub const MAX_RESPONSE_BYTES: usize = 120 << 20;
/// Chain exchange: cbor-gen's cap on each message list in `CompactedMessages`.
pub const MAX_COMPACTED_MESSAGES: usize = 150_000;

// ---------------------------------------------------------------------------------------------
// BlockMsg

/// `[Header, BlsMessages, SecpkMessages]`, the payload of `/fil/blocks/<netname>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple)]
pub struct BlockMsg {
    pub header: BlockHeader,
    pub bls_messages: Vec<Cid>,
    pub secpk_messages: Vec<Cid>,
}

#[derive(Deserialize_tuple)]
struct BlockMsgWire {
    header: HeaderWire,
    bls_messages: Vec<Cid>,
    secpk_messages: Vec<Cid>,
}

/// Why Lotus's pubsub validator would reject an otherwise well-formed block.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockMsgRejection {
    #[error("block has no BlockSig")]
    MissingSignature,
    #[error("block has {0} messages, over the limit of {BLOCK_MESSAGE_LIMIT}")]
    TooManyMessages(usize),
    /// Lotus `validateMsgMeta`: the lists' MsgMeta is not the header's `Messages`.
    #[error("message lists ({bls} bls, {secpk} secpk) hash to {computed}, the header's Messages is {header}")]
    MessagesMismatch { bls: usize, secpk: usize, computed: Cid, header: Cid },
    #[error("cannot build the MsgMeta of the lists: {0}")]
    MsgMeta(String),
}

impl BlockMsg {
    pub const FIELDS: u64 = 3;

    /// Decode like lotus `DecodeBlockMsg`: exactly one tuple of 3, nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: BlockMsgWire = cbor::decode_tuple("BlockMsg", Self::FIELDS, bytes)?;
        Ok(Self {
            header: wire.header.into_header()?,
            bls_messages: wire.bls_messages,
            secpk_messages: wire.secpk_messages,
        })
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("BlockMsg", self)
    }

    /// The block's CID (of the header; the message lists are not part of it).
    pub fn cid(&self) -> Result<Cid, EncodeError> {
        self.header.cid()
    }

    /// The syntactic part of lotus's `decodeAndCheckBlock`: a signature must be present and the
    /// block may carry at most [`BLOCK_MESSAGE_LIMIT`] messages.
    pub fn check_pubsub_limits(&self) -> Result<(), BlockMsgRejection> {
        if self.header.block_sig.is_none() {
            return Err(BlockMsgRejection::MissingSignature);
        }
        let count = self.bls_messages.len() + self.secpk_messages.len();
        if count > BLOCK_MESSAGE_LIMIT {
            return Err(BlockMsgRejection::TooManyMessages(count));
        }
        Ok(())
    }

    /// Lotus's `validateMsgMeta`: the two CID lists, stored as v0 AMTs, must hash to the
    /// header's `Messages`. A peer that sends a real header with other lists is lying about the
    /// block's contents; Lotus rejects the message and penalises the sender.
    pub fn check_msg_meta(&self) -> Result<(), BlockMsgRejection> {
        let meta = MsgMeta::from_lists(&self.bls_messages, &self.secpk_messages).map_err(|e| BlockMsgRejection::MsgMeta(e.to_string()))?;
        let computed = meta.cid().map_err(|e| BlockMsgRejection::MsgMeta(e.to_string()))?;
        if computed != self.header.messages {
            return Err(BlockMsgRejection::MessagesMismatch {
                bls: self.bls_messages.len(),
                secpk: self.secpk_messages.len(),
                computed,
                header: self.header.messages,
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Hello

/// `[HeaviestTipSet, HeaviestTipSetHeight, HeaviestTipSetWeight, GenesisHash]`. The weight is the
/// head's full chain weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct HelloMessage {
    pub heaviest_tipset: TipSetKey,
    pub heaviest_tipset_height: i64,
    #[serde(with = "bigint_bytes")]
    pub heaviest_tipset_weight: BigInt,
    pub genesis_hash: Cid,
}

impl HelloMessage {
    pub const FIELDS: u64 = 4;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("HelloMessage", Self::FIELDS, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("HelloMessage", self)
    }
}

/// `[TArrival, TSent]` in unix nanoseconds: the responder's reply to a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct LatencyMessage {
    pub t_arrival: i64,
    pub t_sent: i64,
}

impl LatencyMessage {
    pub const FIELDS: u64 = 2;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("LatencyMessage", Self::FIELDS, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("LatencyMessage", self)
    }
}

// ---------------------------------------------------------------------------------------------
// Chain exchange

/// `[Head, Length, Options]`: ask for `length` tipsets walking back from `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct Request {
    pub head: Vec<Cid>,
    pub length: u64,
    pub options: u64,
}

/// Why a Lotus server answers a request with `BadRequest`. The messages are Lotus's texts.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    #[error("no options set")]
    NoOptions,
    #[error("request length over maximum allowed ({MAX_REQUEST_LENGTH})")]
    TooLong,
    #[error("invalid request length of zero")]
    ZeroLength,
    #[error("no cids in request")]
    NoCids,
}

impl Request {
    pub const FIELDS: u64 = 3;
    /// Option bit: send block headers.
    pub const HEADERS: u64 = 1;
    /// Option bit: send messages.
    pub const MESSAGES: u64 = 2;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        cbor::decode_tuple("Request", Self::FIELDS, bytes)
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("Request", self)
    }

    pub fn wants_headers(&self) -> bool {
        self.options & Self::HEADERS != 0
    }

    pub fn wants_messages(&self) -> bool {
        self.options & Self::MESSAGES != 0
    }

    /// The checks a Lotus server makes before serving, in Lotus's order.
    pub fn validate(&self) -> Result<(), BadRequest> {
        if self.options & (Self::HEADERS | Self::MESSAGES) == 0 {
            return Err(BadRequest::NoOptions);
        }
        if self.length > MAX_REQUEST_LENGTH {
            return Err(BadRequest::TooLong);
        }
        if self.length == 0 {
            return Err(BadRequest::ZeroLength);
        }
        if self.head.is_empty() {
            return Err(BadRequest::NoCids);
        }
        Ok(())
    }
}

/// Chain-exchange status codes. Unknown codes are kept, not rejected, so a newer server's reply
/// still decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    Ok,
    /// Fewer tipsets than asked for; not an error.
    Partial,
    NotFound,
    GoAway,
    InternalError,
    BadRequest,
    Other(u64),
}

impl ResponseStatus {
    pub fn code(self) -> u64 {
        match self {
            Self::Ok => 0,
            Self::Partial => 101,
            Self::NotFound => 201,
            Self::GoAway => 202,
            Self::InternalError => 203,
            Self::BadRequest => 204,
            Self::Other(code) => code,
        }
    }

    pub fn from_code(code: u64) -> Self {
        match code {
            0 => Self::Ok,
            101 => Self::Partial,
            201 => Self::NotFound,
            202 => Self::GoAway,
            203 => Self::InternalError,
            204 => Self::BadRequest,
            other => Self::Other(other),
        }
    }

    /// Ok and Partial carry a chain; the others are errors.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Ok | Self::Partial)
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(code) => write!(f, "status {code}"),
            known => write!(f, "{known:?}"),
        }
    }
}

impl Serialize for ResponseStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.code())
    }
}

impl<'de> Deserialize<'de> for ResponseStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Self::from_code)
    }
}

/// `[Bls, BlsIncludes, Secpk, SecpkIncludes]`: the messages of a tipset, deduplicated;
/// `bls_includes[i]` lists indexes into `bls` for the i-th block (likewise for secpk).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize_tuple, Deserialize_tuple)]
pub struct CompactedMessages {
    pub bls: Vec<Message>,
    pub bls_includes: Vec<Vec<u64>>,
    pub secpk: Vec<SignedMessage>,
    pub secpk_includes: Vec<Vec<u64>>,
}

/// An include index that points past its message list.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("block {block}: {list} include index {index} is out of range (list has {len})")]
pub struct BadInclude {
    pub block: usize,
    pub list: &'static str,
    pub index: u64,
    pub len: usize,
}

impl CompactedMessages {
    /// A tipset's messages as Lotus's chain-exchange server compacts them (`gatherMessages`):
    /// each distinct message once, in first-seen order over the blocks, and per block the
    /// indexes of its own messages in its order.
    pub fn from_blocks(blocks: &[&BlockMessages]) -> Result<Self, EncodeError> {
        fn compact<T: Clone>(
            lists: impl Iterator<Item = Vec<(Cid, T)>>,
        ) -> (Vec<T>, Vec<Vec<u64>>) {
            let mut index: std::collections::HashMap<Cid, u64> = std::collections::HashMap::new();
            let mut all = Vec::new();
            let includes = lists
                .map(|list| {
                    list.into_iter()
                        .map(|(cid, m)| {
                            *index.entry(cid).or_insert_with(|| {
                                all.push(m);
                                all.len() as u64 - 1
                            })
                        })
                        .collect()
                })
                .collect();
            (all, includes)
        }
        let mut bls_lists = Vec::with_capacity(blocks.len());
        let mut secpk_lists = Vec::with_capacity(blocks.len());
        for b in blocks {
            let (bls, secpk) = b.cids()?;
            bls_lists.push(bls.into_iter().zip(b.bls.iter().cloned()).collect::<Vec<_>>());
            secpk_lists.push(secpk.into_iter().zip(b.secpk.iter().cloned()).collect::<Vec<_>>());
        }
        let (bls, bls_includes) = compact(bls_lists.into_iter());
        let (secpk, secpk_includes) = compact(secpk_lists.into_iter());
        Ok(Self { bls, bls_includes, secpk, secpk_includes })
    }

    /// The `block`-th block's messages as owned lists (see [`Self::block_messages`]).
    pub fn block(&self, block: usize) -> Result<BlockMessages, BadInclude> {
        let (bls, secpk) = self.block_messages(block)?;
        Ok(BlockMessages { bls: bls.into_iter().cloned().collect(), secpk: secpk.into_iter().cloned().collect() })
    }

    /// The BLS and secp messages of the `block`-th block, resolved through the include lists.
    /// A block index with no include list yields no messages.
    pub fn block_messages(
        &self,
        block: usize,
    ) -> Result<(Vec<&Message>, Vec<&SignedMessage>), BadInclude> {
        fn resolve<'a, T>(
            block: usize,
            list: &'static str,
            items: &'a [T],
            includes: &[Vec<u64>],
        ) -> Result<Vec<&'a T>, BadInclude> {
            includes
                .get(block)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|&index| {
                    usize::try_from(index)
                        .ok()
                        .and_then(|i| items.get(i))
                        .ok_or(BadInclude {
                            block,
                            list,
                            index,
                            len: items.len(),
                        })
                })
                .collect()
        }
        Ok((
            resolve(block, "BlsIncludes", &self.bls, &self.bls_includes)?,
            resolve(block, "SecpkIncludes", &self.secpk, &self.secpk_includes)?,
        ))
    }
}

/// `[Blocks, Messages]`: one tipset of a response. `messages` is `None` (CBOR null) unless the
/// request asked for messages; `blocks` is empty unless it asked for headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple)]
pub struct BSTipSet {
    pub blocks: Vec<BlockHeader>,
    pub messages: Option<CompactedMessages>,
}

#[derive(Deserialize_tuple)]
struct BSTipSetWire {
    blocks: Vec<HeaderWire>,
    messages: Option<CompactedMessages>,
}

/// `[Status, ErrorMessage, Chain]`; the chain is newest first, starting at the requested head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple)]
pub struct Response {
    pub status: ResponseStatus,
    pub error_message: String,
    pub chain: Vec<BSTipSet>,
}

#[derive(Deserialize_tuple)]
struct ResponseWire {
    status: ResponseStatus,
    error_message: String,
    chain: Vec<BSTipSetWire>,
}

impl Response {
    pub const FIELDS: u64 = 3;

    /// Decode a whole response, applying the header rules of [`BlockHeader::decode`] (minus the
    /// canonical-form check) and the 150,000-message cap per list, and refusing input over
    /// [`MAX_RESPONSE_BYTES`] as the Lotus client does.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "Response";
        cbor::check_len(WHAT, "response bytes", bytes.len(), MAX_RESPONSE_BYTES)?;
        let wire: ResponseWire = cbor::decode_tuple(WHAT, Self::FIELDS, bytes)?;
        let chain = wire
            .chain
            .into_iter()
            .map(|ts| {
                if let Some(m) = &ts.messages {
                    cbor::check_len(
                        WHAT,
                        "CompactedMessages.Bls",
                        m.bls.len(),
                        MAX_COMPACTED_MESSAGES,
                    )?;
                    cbor::check_len(
                        WHAT,
                        "CompactedMessages.Secpk",
                        m.secpk.len(),
                        MAX_COMPACTED_MESSAGES,
                    )?;
                }
                let blocks = ts
                    .blocks
                    .into_iter()
                    .map(HeaderWire::into_header)
                    .collect::<Result<_, _>>()?;
                Ok(BSTipSet {
                    blocks,
                    messages: ts.messages,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            status: wire.status,
            error_message: wire.error_message,
            chain,
        })
    }

    pub fn to_cbor(&self) -> Result<Vec<u8>, EncodeError> {
        cbor::encode("Response", self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::chain_message::tests::{sample_message, sample_signed};
    use super::super::header::tests::genesis_bytes;
    use super::super::signature::{Signature, SignatureType};
    use super::*;

    fn genesis() -> BlockHeader {
        BlockHeader::decode(&genesis_bytes()).unwrap()
    }

    fn signed_block_msg(messages: usize) -> BlockMsg {
        let mut header = genesis();
        header.block_sig = Some(Signature::new(SignatureType::Bls, vec![1; 96]).unwrap());
        BlockMsg {
            header,
            bls_messages: (0..messages)
                .map(|i| cbor::block_cid(&i.to_be_bytes()))
                .collect(),
            secpk_messages: vec![cbor::block_cid(b"secp")],
        }
    }

    #[test]
    fn block_msg_round_trips_and_rejects_trailing_bytes() {
        let msg = signed_block_msg(2);
        let bytes = msg.to_cbor().unwrap();
        assert_eq!(bytes[0], 0x83);
        assert_eq!(&bytes[1..1 + genesis_bytes().len()][..1], &[0x90]);
        assert_eq!(BlockMsg::decode(&bytes).unwrap(), msg);
        assert_eq!(msg.cid().unwrap(), msg.header.cid().unwrap());

        let mut trailing = bytes.clone();
        trailing.push(0xf6);
        assert_eq!(
            BlockMsg::decode(&trailing).unwrap_err(),
            DecodeError::TrailingBytes { what: "BlockMsg" }
        );
        let mut two = bytes.clone();
        two[0] = 0x82;
        assert_eq!(
            BlockMsg::decode(&two).unwrap_err(),
            DecodeError::WrongFieldCount {
                what: "BlockMsg",
                expected: 3,
                found: 2
            }
        );
    }

    #[test]
    fn block_msg_header_errors_stay_typed() {
        let msg = signed_block_msg(0);
        let mut bytes = msg.to_cbor().unwrap();
        let pos = bytes
            .windows(3)
            .position(|w| w == [0x58, 0x61, 0x02])
            .unwrap();
        bytes[pos + 2] = 0;
        assert!(matches!(
            BlockMsg::decode(&bytes).unwrap_err(),
            DecodeError::Signature {
                field: "BlockSig",
                ..
            }
        ));
    }

    #[test]
    fn block_msg_pubsub_limits() {
        assert_eq!(signed_block_msg(9_999).check_pubsub_limits(), Ok(()));
        assert_eq!(
            signed_block_msg(10_000).check_pubsub_limits(),
            Err(BlockMsgRejection::TooManyMessages(10_001))
        );
        let mut unsigned = signed_block_msg(1);
        unsigned.header.block_sig = None;
        assert_eq!(
            unsigned.check_pubsub_limits(),
            Err(BlockMsgRejection::MissingSignature)
        );
    }

    #[test]
    fn hello_and_latency_round_trip_with_lotus_shapes() {
        let genesis_cid: Cid = "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vrmtj7432rphldpdmm2"
            .parse()
            .unwrap();
        let hello = HelloMessage {
            heaviest_tipset: TipSetKey::new(vec![genesis_cid]),
            heaviest_tipset_height: 39,
            heaviest_tipset_weight: BigInt::from(514290),
            genesis_hash: genesis_cid,
        };
        let bytes = hello.to_cbor().unwrap();
        assert_eq!(bytes[0], 0x84);
        assert_eq!(HelloMessage::decode(&bytes).unwrap(), hello);
        let mut three = bytes.clone();
        three[0] = 0x83;
        assert!(matches!(
            HelloMessage::decode(&three),
            Err(DecodeError::WrongFieldCount { found: 3, .. })
        ));

        let latency = LatencyMessage {
            t_arrival: 1_700_000_000_000_000_000,
            t_sent: -1,
        };
        let bytes = latency.to_cbor().unwrap();
        assert_eq!(bytes[0], 0x82);
        assert_eq!(LatencyMessage::decode(&bytes).unwrap(), latency);
        assert!(matches!(
            LatencyMessage::decode(&bytes[..5]),
            Err(DecodeError::Cbor { .. })
        ));
    }

    #[test]
    fn request_encoding_and_server_checks() {
        let head = vec![cbor::block_cid(b"head")];
        let req = Request {
            head: head.clone(),
            length: 1,
            options: Request::HEADERS | Request::MESSAGES,
        };
        let bytes = req.to_cbor().unwrap();
        assert_eq!(bytes[0], 0x83);
        assert_eq!(&bytes[bytes.len() - 2..], &[0x01, 0x03]);
        assert_eq!(Request::decode(&bytes).unwrap(), req);
        assert!(req.wants_headers() && req.wants_messages());
        assert_eq!(req.validate(), Ok(()));

        let check = |length, options, head: Vec<Cid>| {
            Request {
                head,
                length,
                options,
            }
            .validate()
        };
        assert_eq!(
            check(1, 0, head.clone()).unwrap_err().to_string(),
            "no options set"
        );
        assert_eq!(
            check(901, 1, head.clone()).unwrap_err().to_string(),
            "request length over maximum allowed (900)"
        );
        assert_eq!(
            check(0, 1, head.clone()).unwrap_err().to_string(),
            "invalid request length of zero"
        );
        assert_eq!(
            check(1, 2, vec![]).unwrap_err().to_string(),
            "no cids in request"
        );
        assert_eq!(check(900, 2, head), Ok(()));
    }

    #[test]
    fn response_round_trips_with_null_and_present_messages() {
        let messages = CompactedMessages {
            bls: vec![sample_message(1), sample_message(2)],
            bls_includes: vec![vec![1, 0]],
            secpk: vec![sample_signed(3, SignatureType::Secp256k1)],
            secpk_includes: vec![vec![0]],
        };
        let resp = Response {
            status: ResponseStatus::Partial,
            error_message: String::new(),
            chain: vec![
                BSTipSet {
                    blocks: vec![genesis()],
                    messages: None,
                },
                BSTipSet {
                    blocks: vec![],
                    messages: Some(messages.clone()),
                },
            ],
        };
        let bytes = resp.to_cbor().unwrap();
        assert_eq!(&bytes[..3], &[0x83, 0x18, 101]);
        let back = Response::decode(&bytes).unwrap();
        assert_eq!(back, resp);
        assert!(back.status.is_success());
        // The null Messages of the first BSTipSet: `82 81 90 ... f6`.
        let first_ts = 1 + 2 + 1 + 1; // array, status, "", chain array header
        assert_eq!(&bytes[first_ts..first_ts + 3], &[0x82, 0x81, 0x90]);

        let (bls, secp) = messages.block_messages(0).unwrap();
        assert_eq!(bls.iter().map(|m| m.nonce).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(secp.len(), 1);
        assert_eq!(messages.block_messages(5).unwrap(), (vec![], vec![]));
        let broken = CompactedMessages {
            bls_includes: vec![vec![2]],
            ..messages
        };
        assert_eq!(
            broken.block_messages(0).unwrap_err(),
            BadInclude {
                block: 0,
                list: "BlsIncludes",
                index: 2,
                len: 2
            }
        );
    }

    #[test]
    fn response_status_codes() {
        for (code, status) in [
            (0, ResponseStatus::Ok),
            (101, ResponseStatus::Partial),
            (201, ResponseStatus::NotFound),
            (202, ResponseStatus::GoAway),
            (203, ResponseStatus::InternalError),
            (204, ResponseStatus::BadRequest),
            (7, ResponseStatus::Other(7)),
        ] {
            assert_eq!(ResponseStatus::from_code(code), status);
            assert_eq!(status.code(), code);
        }
        let bad = Response {
            status: ResponseStatus::BadRequest,
            error_message: "no cids in request".into(),
            chain: vec![],
        };
        let back = Response::decode(&bad.to_cbor().unwrap()).unwrap();
        assert!(!back.status.is_success());
        assert_eq!(back.error_message, "no cids in request");
    }

    #[test]
    fn response_header_errors_are_typed() {
        let mut header = genesis();
        header.block_sig = Some(Signature::new(SignatureType::Bls, vec![1; 96]).unwrap());
        let resp = Response {
            status: ResponseStatus::Ok,
            error_message: String::new(),
            chain: vec![BSTipSet {
                blocks: vec![header],
                messages: None,
            }],
        };
        let mut bytes = resp.to_cbor().unwrap();
        let pos = bytes
            .windows(3)
            .position(|w| w == [0x58, 0x61, 0x02])
            .unwrap();
        bytes[pos + 2] = 0x77;
        assert!(matches!(
            Response::decode(&bytes).unwrap_err(),
            DecodeError::Signature {
                field: "BlockSig",
                ..
            }
        ));
    }
}
