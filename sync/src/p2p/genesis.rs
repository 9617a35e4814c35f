//! Fetching a network's genesis header from its peers, for networks lsync has no genesis CAR
//! of: `lsync follow --network NAME --genesis CID --bootstrap …`. The header is asked for over
//! chain exchange (headers only, length 1) and accepted only if it hashes to the given CID.

use std::time::Duration;

use cid::Cid;
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use lsync_core::chain::{Request, ResponseStatus, TipSet};
use thiserror::Error;

use super::node::{build_swarm, NodeBehaviourEvent, NodeError, NodeTimeouts};

#[derive(Debug, Error)]
pub enum GenesisFetchError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("no peer served the genesis {cid} within {secs}s (tried {tried})")]
    NotServed { cid: Cid, secs: u64, tried: String },
}

/// Dials every `bootstrap` address and asks each connected peer for the tipset `[genesis]`;
/// returns the first answer whose block hashes to `genesis`.
pub async fn fetch_genesis(
    network_name: &str,
    genesis: Cid,
    bootstrap: &[Multiaddr],
    wait: Duration,
) -> Result<TipSet, GenesisFetchError> {
    let mut swarm = build_swarm(Keypair::generate_ed25519(), network_name, NodeTimeouts::default())?;
    for addr in bootstrap {
        // An address that cannot even be dialled is skipped; the others may still answer.
        let _ = swarm.dial(addr.clone());
    }
    let request = Request { head: vec![genesis], length: 1, options: Request::HEADERS };
    let found = tokio::time::timeout(wait, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    swarm.behaviour_mut().xchg.send_request(&peer_id, request.clone());
                }
                SwarmEvent::Behaviour(NodeBehaviourEvent::Xchg(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                })) => {
                    if response.status != ResponseStatus::Ok {
                        continue;
                    }
                    let Some(first) = response.chain.into_iter().next() else { continue };
                    let Some(header) = first.blocks.into_iter().next() else { continue };
                    if header.cid().map(|c| c == genesis).unwrap_or(false) {
                        if let Ok(ts) = TipSet::new(vec![header]) {
                            return ts;
                        }
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    found.map_err(|_| GenesisFetchError::NotServed {
        cid: genesis,
        secs: wait.as_secs(),
        tried: bootstrap.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
    })
}
