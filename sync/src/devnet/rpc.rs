//! The devnet's Lotus-compatible JSON-RPC endpoint — a **test double of a Lotus node**, built
//! to Lotus's documented protocol (lotus-rpc §1–§6), serving the devnet's own chain as a node
//! holding all of it would see it: the heaviest visible tipset is the head.
//!
//! What it does as Lotus does: a WebSocket at `/rpc/v1` (`/rpc/v0` too), a bearer token
//! (a wrong one is HTTP 401 before the upgrade; none means read access), go-jsonrpc frames,
//! `ChainNotify` (first `[current]`, then one batch per head change, reverts newest first then
//! applies oldest first, a 16-batch buffer per subscriber that closes the channel when full,
//! the socket staying up), `SyncIncomingBlocks` (each block as it is published),
//! `ChainHead`, `ChainGetTipSet`, `ChainGetTipSetByHeight`, `ChainGetBlock`, `ChainGetPath`
//! (Lotus's ReorgOps across forks), `SyncState`, `Version`, `StateNetworkName`, F3
//! (`F3GetLatestCertificate`, `ChainGetFinalizedTipSet`) with certificates finalizing the
//! chain a few epochs behind its head, errors with Lotus's codes and texts. Scripted faults:
//! every connection dropped at an epoch, every subscription closed at an epoch (what Lotus
//! does to a slow reader), F3 stalling for some epochs.
//!
//! What it does not: permissions beyond read, HTTP POST calls, batches, v2.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use lsync_core::chain::f3::{EcEntry, FinalityCertificate};
use lsync_core::chain::lotus_json::{header_to_json, head_change_to_json, key_from_json, tipset_to_json, HeadChangeType};
use lsync_core::chain::{reorg_ops, BlockHeader, Network, TipSet, TipSetKey};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use super::Shared;
use crate::p2p::node::now_nanos;
use crate::rpc::wire;

/// Lotus's ChainNotify buffer per subscriber (`SubHeadChanges`).
pub const NOTIFY_BUFFER: usize = 16;
/// Lotus v1's APIVersion 2.3.0.
pub const API_VERSION_V1: u64 = 131_840;

/// What the node's RPC clients hear about, besides calls.
#[derive(Debug, Clone)]
pub(crate) enum NodeEvent {
    /// The head moved from the first tipset to the second.
    Head(TipSet, TipSet),
    /// A block arrived (was published).
    Block(Box<BlockHeader>),
    /// Close every ChainNotify channel (Lotus's slow-reader close), sockets staying up.
    CloseNotify,
    /// Drop every connection.
    Drop,
}

/// The RPC side of the devnet: its events and its F3 state.
#[derive(Debug)]
pub(crate) struct RpcNode {
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) token: Option<String>,
    pub(crate) network_name: String,
    pub(crate) block_time_secs: u64,
    pub(crate) f3: Mutex<F3State>,
    /// Finished sync "workers", one per head change (SyncState's last three).
    pub(crate) syncs: Mutex<VecDeque<Value>>,
    pub(crate) next_worker: Mutex<u64>,
    /// After a scripted drop the node stays unreachable until then (Unix ms): a restart takes
    /// a while, and the head moves meanwhile.
    pub(crate) down_until_ms: std::sync::atomic::AtomicI64,
}

/// Certificates so far.
#[derive(Debug, Default)]
pub(crate) struct F3State {
    pub(crate) certs: Vec<FinalityCertificate>,
}

/// A JWT-shaped token (`header.payload.signature`, Lotus's `{"Allow":[…]}` payload) made of
/// random bytes: the double compares it as an opaque string.
pub fn make_token() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let mut random = [0u8; 32];
    let seed = now_nanos().to_le_bytes();
    for (i, chunk) in random.chunks_mut(8).enumerate() {
        let word = lsync_core::chain::cbor::blake2b_256(&[&seed[..], &[i as u8], &std::process::id().to_le_bytes()].concat());
        chunk.copy_from_slice(&word[..8]);
    }
    format!(
        "{}.{}.{}",
        B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        B64.encode(r#"{"Allow":["read","write","sign","admin"]}"#),
        B64.encode(random)
    )
}

impl RpcNode {
    fn head(&self) -> TipSet {
        self.shared.lock().expect("devnet state lock").head.clone()
    }

    fn tipset(&self, key: &TipSetKey) -> Option<TipSet> {
        self.shared.lock().expect("devnet state lock").tipset(key)
    }

    /// Record a head change for SyncState and the F3 script, and tell the clients.
    pub(crate) fn head_changed(&self, old: TipSet, new: TipSet) {
        let mut id = self.next_worker.lock().expect("worker lock");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut syncs = self.syncs.lock().expect("syncs lock");
        syncs.push_back(json!({
            "WorkerID": *id, "Base": tipset_to_json(&old, Network::Testnet), "Target": tipset_to_json(&new, Network::Testnet),
            "Stage": 4, "Height": new.height(), "Start": now, "End": now, "Message": ""
        }));
        while syncs.len() > 3 {
            syncs.pop_front();
        }
        *id += 1;
        let _ = self.events.send(NodeEvent::Head(old, new));
    }

    /// F3: finalize the head's ancestor `lag` epochs down, unless `stalled`. A new certificate
    /// carries the chain from the previous finalized tipset (its base) up to the new one.
    pub(crate) fn f3_tick(&self, lag: i64, stalled: bool) {
        if stalled {
            return;
        }
        let head = self.head();
        let target_height = head.height() - lag;
        if target_height <= 0 {
            return;
        }
        let mut chain = vec![head];
        while chain.last().is_some_and(|t| t.height() > 0) {
            let parents = chain.last().expect("non-empty").parents().clone();
            match self.tipset(&parents) {
                Some(p) => chain.push(p),
                None => break,
            }
        }
        let mut f3 = self.f3.lock().expect("f3 lock");
        let base = f3.certs.last().and_then(|c| c.finalized().cloned());
        let base_epoch = base.as_ref().map_or(0, |b| b.epoch);
        let newly: Vec<&TipSet> = chain.iter().rev().filter(|t| t.height() > base_epoch && t.height() <= target_height).collect();
        if newly.is_empty() {
            return;
        }
        let power_table = lsync_core::chain::cbor::block_cid(b"devnet power table");
        let entry = |t: &TipSet| EcEntry { key: t.key().clone(), epoch: t.height(), power_table: Some(power_table), commitments: vec![0; 32] };
        let mut ec_chain: Vec<EcEntry> = base.into_iter().collect();
        ec_chain.extend(newly.into_iter().map(entry));
        let instance = f3.certs.len() as u64;
        f3.certs.push(FinalityCertificate {
            instance,
            ec_chain,
            power_table: Some(power_table),
            signers: vec![0, 3],
            signature: vec![0xab; 96],
        });
    }

    /// One call: `Ok(result)` or `Err((code, message))`, Lotus's texts.
    fn call(&self, method: &str, params: &[Value]) -> Result<Value, (i64, String)> {
        let want = |n: usize| -> Result<(), (i64, String)> {
            if params.len() == n {
                Ok(())
            } else {
                Err((wire::INVALID_PARAMS, format!("wrong param count (method '{method}'): {} != {n}", params.len())))
            }
        };
        let not_found = |cid: &cid::Cid| format!("ipld: could not find {cid}");
        let load = |v: &Value| -> Result<TipSet, (i64, String)> {
            let key = key_from_json(v, "tipset key").map_err(|e| (wire::PARSE_ERROR, format!("unmarshaling params for '{method}': {e}")))?;
            if key.is_empty() {
                return Err((wire::METHOD_ERROR, "NewTipSet called with zero length array of blocks".into()));
            }
            self.tipset(&key).ok_or_else(|| {
                let missing = key.cids()[0];
                (wire::METHOD_ERROR, format!("get block {missing}: {}", not_found(&missing)))
            })
        };
        let name = method.strip_prefix("Filecoin.").unwrap_or(method);
        match name {
            "Version" => {
                want(0)?;
                Ok(json!({"Version": "1.36.2+lsync-devnet", "APIVersion": API_VERSION_V1, "BlockDelay": self.block_time_secs, "Agent": "lsync-devnet"}))
            }
            "StateNetworkName" => {
                want(0)?;
                Ok(json!(self.network_name))
            }
            "ChainHead" => {
                want(0)?;
                Ok(tipset_to_json(&self.head(), Network::Testnet))
            }
            "ChainGetTipSet" => {
                want(1)?;
                Ok(tipset_to_json(&load(&params[0])?, Network::Testnet))
            }
            "ChainGetBlock" => {
                want(1)?;
                let cid = lsync_core::chain::lotus_json::cid_from_json(&params[0], "cid").map_err(|e| (wire::PARSE_ERROR, e.to_string()))?;
                let s = self.shared.lock().expect("devnet state lock");
                let header = s.blocks.get(&cid).cloned().or_else(|| s.tipsets.values().flat_map(|t| t.cids().iter().zip(t.blocks())).find(|(c, _)| **c == cid).map(|(_, h)| h.clone()));
                header.map(|h| header_to_json(&h, Network::Testnet)).ok_or((wire::METHOD_ERROR, not_found(&cid)))
            }
            "ChainGetTipSetByHeight" => {
                want(2)?;
                let height = params[0].as_i64().ok_or((wire::PARSE_ERROR, "height is not an integer".to_string()))?;
                if height < 0 {
                    return Err((wire::METHOD_ERROR, format!("height {height} is negative")));
                }
                let mut ts = if params[1].is_null() || params[1].as_array().is_some_and(|a| a.is_empty()) { self.head() } else { load(&params[1])? };
                if height > ts.height() {
                    return Err((wire::METHOD_ERROR, format!("looking for tipset with height greater than start point, req: {height}, head: {}", ts.height())));
                }
                // At a null round: the previous non-null tipset.
                while ts.height() > height {
                    ts = self.tipset(ts.parents()).ok_or((wire::METHOD_ERROR, "walking back: parent not found".to_string()))?;
                }
                Ok(tipset_to_json(&ts, Network::Testnet))
            }
            "ChainGetPath" => {
                want(2)?;
                let from = load(&params[0]).map_err(|(c, m)| (c, format!("loading from tipset {}: {m}", params[0])))?;
                let to = load(&params[1]).map_err(|(c, m)| (c, format!("loading to tipset {}: {m}", params[1])))?;
                let ops = reorg_ops(&from, &to, |k| self.tipset(k)).map_err(|e| (wire::METHOD_ERROR, e.to_string()))?;
                let mut out: Vec<Value> = ops.revert.iter().map(|t| head_change_to_json(HeadChangeType::Revert, t, Network::Testnet)).collect();
                out.extend(ops.apply.iter().rev().map(|t| head_change_to_json(HeadChangeType::Apply, t, Network::Testnet)));
                Ok(Value::Array(out))
            }
            "SyncState" => {
                want(0)?;
                let syncs: Vec<Value> = self.syncs.lock().expect("syncs lock").iter().cloned().collect();
                Ok(json!({"ActiveSyncs": syncs, "VMApplied": 0}))
            }
            "F3GetLatestCertificate" => {
                want(0)?;
                Ok(self.f3.lock().expect("f3 lock").certs.last().map_or(Value::Null, FinalityCertificate::to_json))
            }
            "F3GetCertificate" => {
                want(1)?;
                let n = params[0].as_u64().ok_or((wire::PARSE_ERROR, "instance is not an unsigned integer".to_string()))?;
                let f3 = self.f3.lock().expect("f3 lock");
                f3.certs.get(n as usize).map(FinalityCertificate::to_json).ok_or((wire::METHOD_ERROR, format!("cert at {n}: certificate not found")))
            }
            "ChainGetFinalizedTipSet" => {
                want(0)?;
                let head = self.head();
                let cert_key = self.f3.lock().expect("f3 lock").certs.last().and_then(|c| c.finalized().map(|e| (e.key.clone(), e.epoch)));
                if let Some((key, epoch)) = cert_key.filter(|(_, e)| *e >= head.height() - 900) {
                    let _ = epoch;
                    return self.tipset(&key).map(|t| tipset_to_json(&t, Network::Testnet)).ok_or((wire::METHOD_ERROR, "finalized tipset not found".into()));
                }
                let mut ts = head;
                let floor = ts.height() - 900;
                while ts.height() > floor.max(0) {
                    match self.tipset(ts.parents()) {
                        Some(p) => ts = p,
                        None => break,
                    }
                }
                Ok(tipset_to_json(&ts, Network::Testnet))
            }
            _ => Err((wire::METHOD_NOT_FOUND, format!("method '{method}' not found"))),
        }
    }
}

/// Serve the node's API on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, node: Arc<RpcNode>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        if crate::p2p::node::now_ms() < node.down_until_ms.load(std::sync::atomic::Ordering::Relaxed) {
            // Down: the connection is closed at once, as a restarting daemon's port refuses.
            drop(stream);
            continue;
        }
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let _ = connection(stream, node).await;
        });
    }
}

/// The bound address of a listener on `addr`.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

enum Sub {
    Notify,
    Incoming,
}

async fn connection(stream: TcpStream, node: Arc<RpcNode>) -> Result<(), ()> {
    let token = node.token.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let path = req.uri().path();
        if !matches!(path, "/rpc/v1" | "/rpc/v0") {
            let mut e = ErrorResponse::new(Some(format!("no handler for {path}")));
            *e.status_mut() = StatusCode::NOT_FOUND;
            return Err(e);
        }
        let given = req.headers().get("authorization").and_then(|v| v.to_str().ok());
        match (given, &token) {
            // No token: read access, as Lotus grants.
            (None, _) | (_, None) => Ok(resp),
            (Some(g), Some(t)) if g == format!("Bearer {t}") => Ok(resp),
            _ => {
                // Lotus answers 401 with an empty body before the upgrade.
                let mut e = ErrorResponse::new(None);
                *e.status_mut() = StatusCode::UNAUTHORIZED;
                Err(e)
            }
        }
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, check).await.map_err(|_| ())?;
    let (mut sink, mut source) = ws.split();
    // The writer: everything goes out through one queue (go-jsonrpc's one goroutine per
    // connection, blocked on socket writes).
    let (out, mut out_rx) = mpsc::channel::<Value>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if sink.send(Message::Text(frame.to_string().into())).await.is_err() {
                break;
            }
        }
    });
    let mut events = node.events.subscribe();
    let mut next_chan = 1u64;
    // chan id → (kind, its bounded buffer's sender)
    let mut subs: HashMap<u64, (Sub, mpsc::Sender<Value>, u64)> = HashMap::new();
    let result = loop {
        tokio::select! {
            frame = source.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Ok(()),
                    Some(Ok(_)) => continue,
                };
                let Ok(req) = serde_json::from_str::<Value>(&text) else {
                    let _ = out.send(wire::error_response(&Value::Null, wire::PARSE_ERROR, "parse error")).await;
                    continue;
                };
                let method = req.get("method").and_then(Value::as_str).unwrap_or("").to_string();
                let id = req.get("id").cloned().unwrap_or(Value::Null);
                if method == wire::CANCEL {
                    // Lotus does not reply; the channel of that request closes.
                    let req_id = req.get("params").and_then(|p| p.get(0)).and_then(Value::as_u64);
                    let chans: Vec<u64> = subs.iter().filter(|(_, (_, _, r))| Some(*r) == req_id).map(|(c, _)| *c).collect();
                    for c in chans {
                        subs.remove(&c);
                        let _ = out.send(wire::chan_close(c)).await;
                    }
                    continue;
                }
                let params: Vec<Value> = match req.get("params") {
                    Some(Value::Array(p)) => p.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => {
                        let _ = out.send(wire::error_response(&id, wire::PARSE_ERROR, "params must be positional")).await;
                        continue;
                    }
                };
                let name = method.strip_prefix("Filecoin.").unwrap_or(&method);
                if matches!(name, "ChainNotify" | "SyncIncomingBlocks") {
                    let chan = next_chan;
                    next_chan += 1;
                    let capacity = if name == "ChainNotify" { NOTIFY_BUFFER } else { 10 };
                    let (tx, mut rx) = mpsc::channel::<Value>(capacity);
                    // The reply is written before the first value.
                    let _ = out.send(wire::response(&id, json!(chan))).await;
                    let kind = if name == "ChainNotify" {
                        let current = json!([head_change_to_json(HeadChangeType::Current, &node.head(), Network::Testnet)]);
                        let _ = tx.try_send(current);
                        Sub::Notify
                    } else {
                        Sub::Incoming
                    };
                    let forward = out.clone();
                    tokio::spawn(async move {
                        while let Some(v) = rx.recv().await {
                            if forward.send(wire::chan_value(chan, v)).await.is_err() {
                                return;
                            }
                        }
                        let _ = forward.send(wire::chan_close(chan)).await;
                    });
                    subs.insert(chan, (kind, tx, id.as_u64().unwrap_or(0)));
                    continue;
                }
                let answer = match node.call(&method, &params) {
                    Ok(v) => wire::response(&id, v),
                    Err((code, message)) => wire::error_response(&id, code, &message),
                };
                if out.send(answer).await.is_err() {
                    break Err(());
                }
            }
            event = events.recv() => {
                let event = match event {
                    Ok(e) => e,
                    // This connection fell behind the node: its subscriptions are closed.
                    Err(broadcast::error::RecvError::Lagged(_)) => NodeEvent::CloseNotify,
                    Err(broadcast::error::RecvError::Closed) => break Ok(()),
                };
                match event {
                    NodeEvent::Drop => break Ok(()),
                    NodeEvent::CloseNotify => {
                        // Dropping the sender lets the forwarder drain, then send the close.
                        subs.retain(|_, (kind, _, _)| !matches!(kind, Sub::Notify));
                    }
                    NodeEvent::Head(old, new) => {
                        let batch = match reorg_ops(&old, &new, |k| node.tipset(k)) {
                            Ok(ops) => {
                                let mut v: Vec<Value> = ops.revert.iter().map(|t| head_change_to_json(HeadChangeType::Revert, t, Network::Testnet)).collect();
                                v.extend(ops.apply.iter().rev().map(|t| head_change_to_json(HeadChangeType::Apply, t, Network::Testnet)));
                                Value::Array(v)
                            }
                            // Lotus: ERROR "computing reorg ops failed", no notification.
                            Err(_) => continue,
                        };
                        // Non-blocking publish; a full buffer closes the subscription
                        // ("closing head change subscription due to slow reader").
                        subs.retain(|_, (kind, tx, _)| !matches!(kind, Sub::Notify) || tx.try_send(batch.clone()).is_ok());
                    }
                    NodeEvent::Block(header) => {
                        let v = header_to_json(&header, Network::Testnet);
                        subs.retain(|_, (kind, tx, _)| !matches!(kind, Sub::Incoming) || tx.try_send(v.clone()).is_ok());
                    }
                }
            }
        }
    };
    drop(subs);
    drop(out);
    writer.abort();
    result
}
