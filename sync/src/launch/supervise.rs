//! Running a follower under supervision: until `--for`, SIGINT or SIGTERM; giving up with a
//! sentence when no peer is reachable; status updates and periodic work (live ingest) handed
//! to the caller's hooks so the library never prints or touches a database.

use std::time::Duration;

use crate::p2p::{run_follow, FollowConfig, FollowStats, FollowStatus};

use super::LaunchError;

/// What the supervisor calls while the follower runs.
pub trait SupervisorHooks: Send {
    /// A new status (peers, head, lag, counts), at most a few times a second.
    fn status(&mut self, _status: &FollowStatus) {}
    /// A bootstrap address could not be reached (DNS, refused, handshake, wrong peer), as it
    /// happens; once per failed dial, redials included.
    fn dial_failed(&mut self, _addr: &str, _reason: &str) {}
    /// Every `periodic_every`: e.g. ingest what was written so far. Runs off the async
    /// threads; the follower keeps running meanwhile.
    fn periodic(&mut self) {}
    /// How often [`periodic`](Self::periodic) runs; `None` = never.
    fn periodic_every(&self) -> Option<Duration> {
        None
    }
}

/// Completes on SIGINT or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the follower until `--for`, SIGINT or SIGTERM. Stops with
/// [`LaunchError::Unreachable`] when no peer answered within `connect_timeout`.
pub async fn follow_supervised<H: SupervisorHooks + 'static>(mut cfg: FollowConfig, connect_timeout: Duration, mut hooks: H) -> Result<(FollowStats, H), LaunchError> {
    let (tx, mut rx) = tokio::sync::watch::channel(FollowStatus::default());
    cfg.status = Some(tx);
    let bootstrap = cfg.bootstrap.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = stop_rx => {},
        }
    };
    let mut follow = tokio::spawn(run_follow(cfg, shutdown));
    let started = tokio::time::Instant::now();
    let mut ever_connected = false;
    let mut stop_tx = Some(stop_tx);
    let mut unreachable = false;
    let mut last_periodic = tokio::time::Instant::now();
    let mut failures_seen: Vec<u64> = Vec::new();
    let mut last_status = FollowStatus::default();
    loop {
        tokio::select! {
            res = &mut follow => {
                let stats = res.map_err(|e| LaunchError::Devnet(format!("the follower task failed: {e}")))??;
                // Never connected, whether the timeout or `--for` came first: a run that saw
                // nothing is an error, not a success with 0 peers.
                if unreachable || (!ever_connected && !bootstrap.is_empty()) {
                    let tried = bootstrap
                        .iter()
                        .map(|b| {
                            let addr = b.to_string();
                            match last_status.bootstrap.iter().find(|s| s.addr == addr).and_then(|s| s.last_failure.as_deref()) {
                                Some(why) => format!("{addr} ({why})"),
                                None => addr,
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(LaunchError::Unreachable { secs: started.elapsed().as_secs().min(connect_timeout.as_secs()), tried });
                }
                return Ok((stats, hooks));
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let s = rx.borrow_and_update().clone();
                ever_connected |= s.peers > 0;
                failures_seen.resize(s.bootstrap.len(), 0);
                for (b, seen) in s.bootstrap.iter().zip(failures_seen.iter_mut()) {
                    if b.failures > *seen {
                        *seen = b.failures;
                        hooks.dial_failed(&b.addr, b.last_failure.as_deref().unwrap_or("unknown reason"));
                    }
                }
                hooks.status(&s);
                last_status = s;
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if !ever_connected && started.elapsed() > connect_timeout {
            if let Some(tx) = stop_tx.take() {
                unreachable = true;
                let _ = tx.send(());
            }
        }
        if let Some(every) = hooks.periodic_every() {
            if last_periodic.elapsed() > every {
                last_periodic = tokio::time::Instant::now();
                // Off the async threads; the hooks come back when the work is done.
                let (h, _) = tokio::task::spawn_blocking(move || {
                    hooks.periodic();
                    (hooks, ())
                })
                .await
                .map_err(|e| LaunchError::Devnet(format!("periodic work failed: {e}")))?;
                hooks = h;
            }
        }
    }
}
