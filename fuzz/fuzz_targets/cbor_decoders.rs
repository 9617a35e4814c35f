//! Any bytes through every network decoder. What decodes must re-encode to bytes that decode to
//! the same value (headers: to the same bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::chain::{BlockHeader, BlockMsg, HelloMessage, LatencyMessage, Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = BlockHeader::decode(data) {
        let bytes = h.to_cbor().expect("a decoded header encodes");
        assert_eq!(bytes, data, "header decode accepted non-canonical bytes");
    }
    let _ = BlockMsg::decode(data);
    let _ = HelloMessage::decode(data);
    let _ = LatencyMessage::decode(data);
    let _ = Request::decode(data);
    let _ = Response::decode(data);
});
