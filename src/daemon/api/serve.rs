//! Serving the admin API on a listener with limits: at most `max_connections` connections at
//! once (the rest wait in the kernel's accept queue, costing the daemon no file descriptor), and
//! each closed when it has not sent a complete request head within `idle_timeout` of opening or
//! of its last answer. `axum::serve` has neither limit: idle clients could take every descriptor
//! the daemon needs for its runs.

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::debug;

/// How many connections, and how long one may idle.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` turns true; then every connection finishes the
/// request in hand (graceful shutdown) and this returns once they are all closed.
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut accepting = stop.clone();
    let stopped = async move {
        let _ = accepting.wait_for(|stopped| *stopped).await;
    };
    tokio::pin!(stopped);
    loop {
        // A slot first, then accept: at the cap, new connections wait in the accept queue.
        let slot = tokio::select! {
            () = &mut stopped => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else {
            break; // the semaphore is never closed
        };
        let io = tokio::select! {
            () = &mut stopped => break,
            (io, _) = listener.accept() => io,
        };
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        let mut stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            // hyper's header-read timer runs from the moment it waits for a request head, which
            // is also the whole time a kept-alive connection sits idle between requests.
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(%error, "Admin API connection closed.");
                    }
                    return;
                }
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    while connections.join_next().await.is_some() {}
}
