//! go-jsonrpc on a WebSocket, as Lotus speaks it (lotus-rpc §2): requests with positional
//! params, responses by id, and channels — a method whose result is a channel id, then
//! `xrpc.ch.val` notifications `[chanID, value]` and one `xrpc.ch.close` `[chanID]`.
//! One JSON object per frame (Lotus drops array frames over a WebSocket).

use serde_json::{json, Value};

/// Lotus's API namespace.
pub const NAMESPACE: &str = "Filecoin";
/// Channel notifications.
pub const CHAN_VALUE: &str = "xrpc.ch.val";
pub const CHAN_CLOSE: &str = "xrpc.ch.close";
/// Cancelling a request (and so its channel).
pub const CANCEL: &str = "xrpc.cancel";

/// go-jsonrpc's codes (and Lotus's default code 1 for a method's own error).
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const METHOD_ERROR: i64 = 1;

/// `Filecoin.X`.
pub fn method(name: &str) -> String {
    format!("{NAMESPACE}.{name}")
}

pub fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// A success response, keys in the order go-jsonrpc ≥ v0.3.2 writes them (sorted).
pub fn response(id: &Value, result: Value) -> Value {
    json!({ "id": id, "jsonrpc": "2.0", "result": result })
}

pub fn error_response(id: &Value, code: i64, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message }, "id": id, "jsonrpc": "2.0" })
}

pub fn chan_value(chan: u64, value: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": CHAN_VALUE, "params": [chan, value] })
}

pub fn chan_close(chan: u64) -> Value {
    json!({ "jsonrpc": "2.0", "method": CHAN_CLOSE, "params": [chan] })
}

/// What one frame from the server is.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Response { id: u64, result: Result<Value, (i64, String)> },
    ChanValue { chan: u64, value: Value },
    ChanClose { chan: u64 },
    /// A frame this client has no use for (a notification of another kind, an id that is
    /// not a number it sent).
    Other,
}

/// Classify a frame. `Err` for text that is not a JSON object.
pub fn parse_incoming(text: &str) -> Result<Incoming, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    if let Some(m) = o.get("method").and_then(Value::as_str) {
        let params = o.get("params").and_then(Value::as_array);
        let chan = params.and_then(|p| p.first()).and_then(Value::as_u64);
        return Ok(match (m, chan) {
            (CHAN_VALUE, Some(chan)) => Incoming::ChanValue {
                chan,
                value: params.and_then(|p| p.get(1)).cloned().unwrap_or(Value::Null),
            },
            (CHAN_CLOSE, Some(chan)) => Incoming::ChanClose { chan },
            _ => Incoming::Other,
        });
    }
    let Some(id) = o.get("id").and_then(Value::as_u64) else { return Ok(Incoming::Other) };
    if let Some(e) = o.get("error").filter(|e| !e.is_null()) {
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = e.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Incoming::Response { id, result: Err((code, message)) });
    }
    // Before go-jsonrpc v0.3.2 (Lotus < v1.27.1) a nil result has no `result` key.
    Ok(Incoming::Response { id, result: Ok(o.get("result").cloned().unwrap_or(Value::Null)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_lotus_writes_them() {
        // lotus-rpc §6: the ChainNotify exchange on the wire.
        assert_eq!(
            parse_incoming(r#"{"id":1,"jsonrpc":"2.0","result":1}"#).unwrap(),
            Incoming::Response { id: 1, result: Ok(json!(1)) }
        );
        assert_eq!(
            parse_incoming(r#"{"jsonrpc":"2.0","method":"xrpc.ch.val","params":[1,[{"Type":"current","Val":null}]]}"#).unwrap(),
            Incoming::ChanValue { chan: 1, value: json!([{"Type": "current", "Val": null}]) }
        );
        assert_eq!(parse_incoming(r#"{"jsonrpc":"2.0","method":"xrpc.ch.close","params":[3]}"#).unwrap(), Incoming::ChanClose { chan: 3 });
        assert_eq!(
            parse_incoming(r#"{"error":{"code":1,"message":"f3 is not running"},"id":4,"jsonrpc":"2.0"}"#).unwrap(),
            Incoming::Response { id: 4, result: Err((1, "f3 is not running".into())) }
        );
        // An old node's nil result: no key.
        assert_eq!(parse_incoming(r#"{"jsonrpc":"2.0","id":5}"#).unwrap(), Incoming::Response { id: 5, result: Ok(Value::Null) });
        assert!(parse_incoming("[1,2]").is_err());
        assert_eq!(
            serde_json::to_string(&response(&json!(1), json!(1))).unwrap(),
            r#"{"id":1,"jsonrpc":"2.0","result":1}"#
        );
    }
}
