//! A go-jsonrpc client over a WebSocket: calls by id, and channel subscriptions
//! (`ChainNotify`, `SyncIncomingBlocks`) whose values arrive as `xrpc.ch.val` notifications.
//!
//! One task reads the socket and routes every frame at once (lotus-rpc §7: a reader that
//! stalls makes Lotus close its subscriptions, and can back-pressure the node's block intake);
//! one task writes. A subscription's queue is bounded: a consumer that falls more than
//! [`CHANNEL_CAPACITY`] values behind loses the subscription, exactly as with Lotus's own
//! slow-reader rule, and recovers the same way (resubscribe and fill the gap).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::endpoint::Endpoint;
use super::wire::{self, Incoming};

/// Values a subscription may queue before it is dropped as a slow reader.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Why talking to the node failed. Every message is one sentence without the token.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RpcError {
    #[error("cannot reach the Lotus API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the Lotus API at {url} rejected the token (HTTP 401): check the token in {origin}")]
    TokenRejected { url: String, origin: String },
    #[error("{url} answered HTTP {status} instead of opening a WebSocket: not a Lotus API endpoint, or an HTTP-only proxy in front of one (subscriptions need a WebSocket)")]
    NotWebSocket { url: String, status: String },
    #[error("{what}: no answer within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("{method} failed: {message} (code {code})")]
    Rpc { method: String, code: i64, message: String },
    #[error("the connection to {url} closed: {reason}")]
    Disconnected { url: String, reason: String },
    #[error("{method} returned an unexpected answer: {problem}")]
    Decode { method: String, problem: String },
}

enum PendingCall {
    Call(oneshot::Sender<Result<Value, (i64, String)>>),
    Subscribe(oneshot::Sender<Result<(u64, mpsc::Receiver<Value>), (i64, String)>>),
}

#[derive(Default)]
struct Routes {
    calls: HashMap<u64, PendingCall>,
    channels: HashMap<u64, mpsc::Sender<Value>>,
}

/// A subscription: values in order; `None` from `recv` once the server closed the channel,
/// the connection ended, or this side fell behind.
#[derive(Debug)]
pub struct Subscription {
    pub request_id: u64,
    pub chan: u64,
    pub values: mpsc::Receiver<Value>,
}

/// A connection to a node's API.
pub struct RpcClient {
    url: String,
    out: mpsc::UnboundedSender<Message>,
    routes: Arc<Mutex<Routes>>,
    next_id: AtomicU64,
    closed: watch::Receiver<Option<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn connect_error(url: &str, source: &str, e: tungstenite::Error) -> RpcError {
    match e {
        tungstenite::Error::Http(resp) if resp.status().as_u16() == 401 => {
            RpcError::TokenRejected { url: url.into(), origin: source.into() }
        }
        tungstenite::Error::Http(resp) => RpcError::NotWebSocket { url: url.into(), status: resp.status().to_string() },
        tungstenite::Error::Io(io) => RpcError::Unreachable { url: url.into(), reason: io.to_string() },
        tungstenite::Error::Protocol(p) => RpcError::NotWebSocket { url: url.into(), status: format!("a non-WebSocket answer ({p})") },
        other => RpcError::Unreachable { url: url.into(), reason: other.to_string() },
    }
}

impl RpcClient {
    /// Open the WebSocket with the bearer token (in the upgrade request's header only).
    pub async fn connect(endpoint: &Endpoint, limit: Duration) -> Result<Self, RpcError> {
        let url = endpoint.url.clone();
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| RpcError::Unreachable { url: url.clone(), reason: e.to_string() })?;
        if let Some(token) = &endpoint.token {
            let value = format!("Bearer {}", token.expose())
                .parse()
                .map_err(|_| RpcError::TokenRejected { url: url.clone(), origin: endpoint.source.clone() })?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        // No read limit worth the name (lotus-rpc §7: a catch-up's batch can be large).
        let config = WebSocketConfig::default().max_message_size(Some(1 << 30)).max_frame_size(Some(1 << 30));
        let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (ws, _) = tokio::time::timeout(limit, connecting)
            .await
            .map_err(|_| RpcError::Timeout { what: format!("opening {url}"), secs: limit.as_secs() })?
            .map_err(|e| connect_error(&url, &endpoint.source, e))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let (closed_tx, closed) = watch::channel(None);
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_routes = Arc::clone(&routes);
        let reader = tokio::spawn(async move {
            let reason = loop {
                let frame = match stream.next().await {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => break c.map_or("closed by the node".to_string(), |c| format!("closed by the node: {} {}", c.code, c.reason)),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break e.to_string(),
                    None => break "closed by the node".to_string(),
                };
                let Ok(incoming) = wire::parse_incoming(&frame) else { continue };
                let mut r = reader_routes.lock().expect("routes lock");
                match incoming {
                    Incoming::Response { id, result } => match r.calls.remove(&id) {
                        Some(PendingCall::Call(tx)) => {
                            let _ = tx.send(result);
                        }
                        Some(PendingCall::Subscribe(tx)) => {
                            let answer = result.and_then(|v| {
                                v.as_u64().ok_or((0, format!("a channel id was expected, got {v}")))
                            });
                            match answer {
                                Ok(chan) => {
                                    let (vtx, vrx) = mpsc::channel(CHANNEL_CAPACITY);
                                    r.channels.insert(chan, vtx);
                                    let _ = tx.send(Ok((chan, vrx)));
                                }
                                Err(e) => {
                                    let _ = tx.send(Err(e));
                                }
                            }
                        }
                        None => {}
                    },
                    Incoming::ChanValue { chan, value } => {
                        if let Some(tx) = r.channels.get(&chan) {
                            // A consumer this far behind loses the subscription (see above).
                            if tx.try_send(value).is_err() {
                                r.channels.remove(&chan);
                            }
                        }
                    }
                    Incoming::ChanClose { chan } => {
                        r.channels.remove(&chan);
                    }
                    Incoming::Other => {}
                }
            };
            let mut r = reader_routes.lock().expect("routes lock");
            r.calls.clear();
            r.channels.clear();
            let _ = closed_tx.send(Some(reason));
        });
        Ok(Self { url, out, routes, next_id: AtomicU64::new(1), closed, tasks: vec![reader, writer] })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Why the connection ended, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// Resolves when the connection ends.
    pub async fn wait_closed(&self) -> String {
        let mut rx = self.closed.clone();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return "the reader stopped".into();
            }
        }
    }

    fn disconnected(&self) -> RpcError {
        RpcError::Disconnected { url: self.url.clone(), reason: self.closed_reason().unwrap_or_else(|| "writer gone".into()) }
    }

    fn send(&self, id: u64, method: &str, params: Value, pending: PendingCall) -> Result<(), RpcError> {
        if self.closed.borrow().is_some() {
            return Err(self.disconnected());
        }
        self.routes.lock().expect("routes lock").calls.insert(id, pending);
        let frame = wire::request(id, method, params).to_string();
        self.out.send(Message::Text(frame.into())).map_err(|_| self.disconnected())
    }

    /// Call `Filecoin.<name>` with positional `params`.
    pub async fn call(&self, name: &str, params: Value, limit: Duration) -> Result<Value, RpcError> {
        let method = wire::method(name);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.send(id, &method, params, PendingCall::Call(tx))?;
        match tokio::time::timeout(limit, rx).await {
            Err(_) => {
                self.routes.lock().expect("routes lock").calls.remove(&id);
                Err(RpcError::Timeout { what: method, secs: limit.as_secs() })
            }
            Ok(Err(_)) => Err(self.disconnected()),
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err((code, message)))) => Err(RpcError::Rpc { method, code, message }),
        }
    }

    /// Subscribe to the channel method `Filecoin.<name>`.
    pub async fn subscribe(&self, name: &str, params: Value, limit: Duration) -> Result<Subscription, RpcError> {
        let method = wire::method(name);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.send(id, &method, params, PendingCall::Subscribe(tx))?;
        match tokio::time::timeout(limit, rx).await {
            Err(_) => {
                self.routes.lock().expect("routes lock").calls.remove(&id);
                Err(RpcError::Timeout { what: method, secs: limit.as_secs() })
            }
            Ok(Err(_)) => Err(self.disconnected()),
            Ok(Ok(Ok((chan, values)))) => Ok(Subscription { request_id: id, chan, values }),
            Ok(Ok(Err((code, message)))) => Err(RpcError::Rpc { method, code, message }),
        }
    }

    /// Ask the node to end a subscription (`xrpc.cancel` of its request; Lotus answers with
    /// `xrpc.ch.close`).
    pub fn cancel(&self, request_id: u64) {
        let frame = serde_json::json!({ "jsonrpc": "2.0", "method": wire::CANCEL, "params": [request_id] }).to_string();
        let _ = self.out.send(Message::Text(frame.into()));
    }
}
