//! Lotus's JSON-RPC API, the node people already run: finding it ([`endpoint`]), go-jsonrpc
//! on a WebSocket ([`wire`], [`client`]), and `lsync attach` ([`attach`]), which turns a
//! node's ChainNotify stream into the same Lotus-shaped journal `follow` writes.

pub mod client;
pub mod endpoint;
pub mod wire;

pub use client::{RpcClient, RpcError, Subscription};
pub use endpoint::{discover, parse_api_info, Endpoint, EndpointError, Secret};
pub mod attach;

pub use attach::{run_attach, AttachConfig, AttachError, AttachStats, AttachStatus};
