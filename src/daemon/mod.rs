//! `orgsync run`: the long-running service. Runs every connector on its schedule, answers "sync
//! now" through the admin API, tells systemd and Prometheus how it is, reloads its configuration on
//! request and stops cleanly. Signals are the caller's business: shutdown and reload arrive as a
//! future and a channel, so tests drive the daemon in-process.

pub mod api;
pub mod client;
#[cfg(debug_assertions)]
mod debug_hooks;
mod events;
mod events_metrics;
mod jobs;
mod metrics;
pub mod notify;
mod pending;
mod scheduler;
pub mod state;
pub mod types;
mod web;

pub use web::WebError;

pub use metrics::outcome_label;

use crate::config::{Config, ConfigError, SecretError};
use crate::engine::BuildError;
use crate::events::EventSink;
use crate::events::receiver::{Endpoints, Receiver};
use crate::history::HistoryError;
use crate::snapshot::SnapshotError;
use crate::state::StateDb;
use api::{ApiState, ListenError};
use events::EventHub;
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
    #[error(transparent)]
    Web(#[from] web::WebError),
    #[error("cannot start the scheduler: {0}")]
    Scheduler(String),
    #[error("{0}")]
    Events(String),
    #[error(transparent)]
    Notify(#[from] crate::notify::ChannelError),
}

/// Valid, and yet the daemon has nothing to do.
const NO_CONNECTOR: &str = "No connector is configured: nothing will be synced until one is added to the configuration (then reload).";

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
    // The openers resolve their secrets now: a wrong key stops the start, not the first event.
    let endpoints = Endpoints::build(&config).map_err(DaemonError::Events)?;
    let events_listener = match &config.daemon.events {
        Some(events) => Some(events::bind(events.listen).await?),
        None => None,
    };
    let web_listener = match &config.daemon.web {
        Some(web) => web::bind(web).await?,
        None => None,
    };
    let notifier = Notifier::from_env();
    // The channels resolve their secrets now: a wrong robot URL stops the start, not a failure.
    let routes = crate::notify::build_routes(&config)?;
    let store = Arc::new(store);
    let notices = crate::notify::Notices::start(
        routes,
        Arc::clone(&store) as Arc<dyn crate::notify::DedupeStore>,
        crate::notify::NotifyMetrics::default(),
        crate::notify::Pacing::default(),
    );
    let shared = Shared::new(
        config.clone(),
        connectors,
        store,
        history,
        notifier.clone(),
        notices,
    );
    let scheduler = Scheduler::start(&shared, &config)
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let api_state = ApiState {
        shared: Arc::clone(&shared),
        scheduler: Arc::new(tokio::sync::Mutex::new(Some(scheduler))),
    };
    let hub = EventHub::new(Arc::clone(&shared));
    hub.reconcile(&config);
    let receiver = Receiver::new(endpoints, Arc::clone(&hub) as Arc<dyn EventSink>);

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
    if let (Some(listener), Some(web)) = (web_listener, &config.daemon.web) {
        let state = web::WebState::new(api_state.clone(), web)?;
        servers.spawn(listener.serve(web::router(state), limits, api_stopped.clone()));
    }
    if let Some(listener) = events_listener {
        servers.spawn(api::serve(
            listener,
            crate::events::receiver::router(Arc::clone(&receiver)),
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
        events = ?config.daemon.events.as_ref().map(|e| e.listen),
        web = ?config.daemon.web.as_ref().map(|w| w.listen.map_or_else(
            || w.socket.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            |a| a.to_string()
        )),
        connectors = config.connectors.len(),
        "orgsync is running."
    );
    if config.connectors.is_empty() {
        warn!("{NO_CONNECTOR}");
    }

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = reload.recv() => reload_config(config_path, &api_state, &hub, &receiver).await,
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
    hub.stop();
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
    if let Some(path) = config.daemon.web.as_ref().and_then(|w| w.socket.as_ref()) {
        let _ = std::fs::remove_file(path);
    }
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "orgsync stopped."
    );
    Ok(())
}

async fn reload_config(path: &Path, api: &ApiState, hub: &Arc<EventHub>, receiver: &Receiver) {
    info!(path = %path.display(), "Reloading the configuration.");
    // Reading the file and the secrets the changed connectors name is file IO: it runs on the
    // blocking pool, never on the threads serving the API and the runs.
    let (shared, file) = (Arc::clone(&api.shared), path.to_owned());
    let loaded = tokio::task::spawn_blocking(move || {
        Config::load(&file).map(|config| {
            let prepared = shared.prepare_reload(config)?;
            let endpoints = Endpoints::build(prepared.config())?;
            let routes =
                crate::notify::build_routes(prepared.config()).map_err(|e| e.to_string())?;
            Ok::<_, String>((prepared, endpoints, routes))
        })
    })
    .await;
    // All or nothing: the new connectors are built and the new schedules installed beside the
    // running ones before either takes effect; a failure in either leaves both as they were.
    let (prepared, endpoints, routes) = match loaded {
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
    let config = prepared.config().clone();
    api.shared.apply_reload(prepared);
    receiver.install(endpoints);
    api.shared.notices.install(routes);
    hub.reconcile(&config);
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
