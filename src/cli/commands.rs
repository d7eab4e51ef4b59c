use super::Exit;
use crate::config::Config;
use crate::engine::{Connector, Engine, RunError, RunMode};
use crate::report::{self, Format, RunOutcome};
use crate::snapshot::SledStore;
use std::path::Path;
use std::sync::Arc;

pub(super) async fn sync(config_path: &Path, name: &str, mode: RunMode, format: Format) -> Exit {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return fail(Exit::Config, e),
    };
    let connector_config = match config.connector(name, config_path) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, e),
    };
    let connector = match Connector::from_config(name, connector_config) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, e),
    };
    let store = match SledStore::open(&config.state_dir) {
        Ok(store) => Arc::new(store),
        Err(e) => return fail(Exit::State, e),
    };
    let engine = Engine::new(store);
    match engine.run(&connector, mode).await {
        Ok(report) => {
            print!("{}", report::render(&report, format));
            match report.outcome {
                RunOutcome::Planned | RunOutcome::Applied => Exit::Ok,
                _ => Exit::RunFailed,
            }
        }
        Err(e @ RunError::AlreadyRunning(_)) => fail(Exit::Busy, e),
        Err(e @ RunError::Snapshot(_)) => fail(Exit::State, e),
    }
}

pub(super) fn check_config(config_path: &Path) -> Exit {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return fail(Exit::Config, e),
    };
    let mut ok = true;
    for (name, connector) in &config.connectors {
        let secrets = connector
            .source
            .secrets()
            .into_iter()
            .chain(connector.target.secrets());
        for secret in secrets {
            if let Err(e) = secret.resolve() {
                eprintln!("error: connector {name}: {e}");
                ok = false;
            }
        }
    }
    if !ok {
        return Exit::Config;
    }
    println!(
        "{}: valid; {} connector(s): {}",
        config_path.display(),
        config.connectors.len(),
        config
            .connectors
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Exit::Ok
}

fn fail(exit: Exit, error: impl std::fmt::Display) -> Exit {
    eprintln!("error: {error}");
    exit
}
