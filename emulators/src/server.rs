//! The lifecycle every emulator shares: bind, serve an axum router until told to stop, and stop
//! either gracefully (in-flight requests finish, within a bound) or at once when dropped.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`Server::shutdown`] waits for in-flight requests before aborting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running HTTP server. Dropping it aborts the server at once.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// A bound listener, for emulators whose state needs the address before serving.
pub(crate) struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Binds `addr` (port 0 picks a free port).
    pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<Bound> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Bound { listener, addr })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` until stopped; `name` labels the log lines.
    pub(crate) fn serve(self, app: Router, name: &'static str) -> Server {
        let Bound { listener, addr } = self;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender also stops the server.
                let _ = stopped.await;
            });
            if let Err(error) = server.await {
                tracing::error!(%error, emulator = name, "The emulator stopped serving.");
            }
        });
        tracing::debug!(%addr, emulator = name, "The emulator is listening.");
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves `app`.
    pub(crate) async fn start(
        addr: SocketAddr,
        app: Router,
        name: &'static str,
    ) -> std::io::Result<Server> {
        Ok(Bound::bind(addr).await?.serve(app, name))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The signal also closes idle keep-alive connections, which aborting the accept loop alone
        // would leave open.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
