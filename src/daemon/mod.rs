//! `orgsync run`: the long-running service. Runs every connector on its schedule, answers "sync
//! now" through the admin API, tells systemd and Prometheus how it is, reloads its configuration on
//! request and stops cleanly. Signals are the caller's business: shutdown and reload arrive as a
//! future and a channel, so tests drive the daemon in-process.

pub mod api;
pub mod client;
#[cfg(debug_assertions)]
mod debug_hooks;
mod jobs;
mod metrics;
pub mod notify;
mod pending;
mod scheduler;
pub mod state;
pub mod types;

pub use metrics::outcome_label;

use crate::config::{Config, ConfigError, SecretError};
use crate::engine::BuildError;
use crate::history::HistoryError;
use crate::snapshot::SnapshotError;
use crate::state::StateDb;
use api::{ApiState, ListenError};
use notify::Notifier;
use scheduler::Scheduler;
use state::Shared;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("daemon.tcp_token: {0}")]
    Token(SecretError),
    #[error(transparent)]
    State(#[from] SnapshotError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(String),
}

/// Runs until `shutdown` resolves; every message on `reload` reloads the configuration file.
pub async fn run(
    config_path: &Path,
    shutdown: impl Future<Output = ()>,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), DaemonError> {
    let config = Config::load(config_path)?;
    let connectors = state::build_connectors(&config)?;
    let tcp_token = match &config.daemon.tcp_token {
        Some(reference) => Some(reference.resolve().map_err(DaemonError::Token)?),
        None => None,
    };
    let store = StateDb::open(&config.state_dir)?;
    let history = store.history(config.history.keep)?;
    let socket = config.daemon.socket_path();
    let unix = api::bind_unix(&socket)?;
    let tcp = match config.daemon.tcp {
        Some(addr) => Some(api::bind_tcp(addr).await?),
        None => None,
    };
    let notifier = Notifier::from_env();
    let shared = Shared::new(
        config.clone(),
        connectors,
        Arc::new(store),
        history,
        notifier.clone(),
    );
    let scheduler = Scheduler::start(&shared, &config)
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let api_state = ApiState {
        shared: Arc::clone(&shared),
        scheduler: Arc::new(tokio::sync::Mutex::new(Some(scheduler))),
    };

    let (api_stop, api_stopped) = watch::channel(false);
    let limits = api::Limits {
        max_connections: config.daemon.max_connections,
        idle_timeout: config.daemon.idle_timeout.0,
    };
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(api::serve(
        unix,
        api::router(api_state.clone()),
        limits,
        api_stopped.clone(),
    ));
    if let (Some(listener), Some(token)) = (tcp, tcp_token) {
        servers.spawn(api::serve(
            listener,
            api::tcp_router(api_state.clone(), token),
            limits,
            api_stopped.clone(),
        ));
    }
    let watchdog = notify::watchdog_interval().map(|every| {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notifier.notify("WATCHDOG=1");
            }
        })
    });
    notifier.notify(&format!(
        "READY=1\nSTATUS=Running {} connector(s); no run yet",
        config.connectors.len()
    ));
    info!(
        socket = %socket.display(),
        tcp = ?config.daemon.tcp,
        connectors = config.connectors.len(),
        "orgsync is running."
    );

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = reload.recv() => reload_config(config_path, &api_state).await,
        }
    }

    // Shutdown is ours: no new runs, the engine holds every step not yet started, the step in
    // flight finishes (bounded), the state is flushed.
    let started = Instant::now();
    let timeout = shared.config().daemon.shutdown_timeout.0;
    notifier.notify("STOPPING=1\nSTATUS=Stopping");
    info!(
        timeout_ms = timeout.as_millis() as u64,
        "Stopping: no new runs; waiting for the step in flight."
    );
    shared.begin_stop();
    if let Some(scheduler) = api_state.scheduler.lock().await.take() {
        scheduler.stop().await;
    }
    let remaining = timeout.saturating_sub(started.elapsed());
    if tokio::time::timeout(remaining, shared.idle())
        .await
        .is_err()
    {
        warn!(
            timeout_ms = timeout.as_millis() as u64,
            "A run did not finish within the shutdown timeout; stopping anyway (the next run repairs what it left)."
        );
    }
    api_stop.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    servers.abort_all();
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    if let Err(e) = shared.store().flush() {
        error!(error = %e, "Cannot flush the state database.");
    }
    let _ = std::fs::remove_file(&socket);
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "orgsync stopped."
    );
    Ok(())
}

async fn reload_config(path: &Path, api: &ApiState) {
    info!(path = %path.display(), "Reloading the configuration.");
    // Reading the file and the secrets the changed connectors name is file IO: it runs on the
    // blocking pool, never on the threads serving the API and the runs.
    let (shared, file) = (Arc::clone(&api.shared), path.to_owned());
    let loaded = tokio::task::spawn_blocking(move || {
        Config::load(&file).map(|config| shared.prepare_reload(config))
    })
    .await;
    // All or nothing: the new connectors are built and the new schedules installed beside the
    // running ones before either takes effect; a failure in either leaves both as they were.
    let prepared = match loaded {
        Ok(Ok(Ok(prepared))) => prepared,
        Ok(Err(e)) => {
            error!(error = %e, "The new configuration is invalid; still running with the previous one.");
            return;
        }
        Ok(Ok(Err(e))) => {
            error!(error = %e, "Cannot apply the new configuration; still running with the previous one.");
            return;
        }
        Err(e) => {
            error!(error = %e, "The reload stopped unexpectedly; still running with the previous one.");
            return;
        }
    };
    let mut scheduler = api.scheduler.lock().await;
    let staged = match scheduler.as_mut() {
        Some(scheduler) => match scheduler.stage(&api.shared, prepared.config()).await {
            Ok(staged) => Some(staged),
            Err(e) => {
                error!(error = %e, "Cannot schedule the connectors of the new configuration; still running with the previous one.");
                return;
            }
        },
        None => None, // stopping: no schedules any more
    };
    let connectors = prepared.config().connectors.len();
    api.shared.apply_reload(prepared);
    if let (Some(scheduler), Some(staged)) = (scheduler.as_mut(), staged) {
        scheduler.commit(staged).await;
    }
    drop(scheduler);
    api.shared.notifier.notify(&format!(
        "READY=1\nSTATUS=Reloaded: {connectors} connector(s)"
    ));
    info!(connectors, "Configuration reloaded.");
}

/// Where the admin socket of the configuration at `config_path` is, for the CLI.
pub fn socket_of(config: &Config) -> PathBuf {
    config.daemon.socket_path()
}
