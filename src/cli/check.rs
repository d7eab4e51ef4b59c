//! `orgsync check-config`: the file is valid, every secret can be read and every event key has its
//! shape; with `--online`, every connector's upstream and target accept their credentials, one
//! line per check.

use super::Exit;
use super::commands::fail_config;
use crate::config::Config;
use crate::engine::Connector;
use crate::events::openers::opener_for;
use crate::model::Checked;
use crate::pullers::Puller;
use crate::pushers::Pusher;
use crate::terminal::visible;
use std::fmt::Display;
use std::path::Path;

/// What a configuration without a connector is told (`check-config`, `orgsync run`): valid, and
/// yet nothing would ever sync.
const NO_CONNECTOR: &str = "no connector is configured, so nothing will be synced: add a \
     [connectors.NAME] table with a source and a target (examples in config/)";

/// How far `check-config` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The file and the secrets only: nothing leaves the machine.
    Offline,
    /// Also each side's credentials, with reads that need them (no writes, no events).
    Online,
}

pub(super) async fn check_config(config_path: &Path, depth: Depth) -> Exit {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return fail_config(e),
    };
    let mut ok = true;
    for (i, entry) in config.notify.iter().enumerate() {
        // Reads the channel's secrets and checks its URL is its kind's; sends nothing.
        if let Err(e) = crate::notify::Channel::build(entry, i) {
            eprintln!("error: {}", visible(&e.to_string()));
            ok = false;
        }
    }
    for (name, connector) in &config.connectors {
        let secrets = connector
            .source
            .secret_refs()
            .into_iter()
            .chain(connector.target.secret_refs());
        for secret in secrets {
            if let Err(e) = secret.resolve() {
                eprintln!("error: {}", visible(&format!("connector {name}: {e}")));
                ok = false;
            }
        }
        // The event keys are read and their shapes checked here as the daemon will at its
        // start, so a key pasted short fails now rather than when the service starts.
        if let Err(e) = opener_for(connector) {
            eprintln!(
                "error: {}",
                visible(&format!("connector {name}: events: {e}"))
            );
            ok = false;
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
    if config.connectors.is_empty() {
        eprintln!("warning: {NO_CONNECTOR}");
    }
    if depth == Depth::Offline {
        return Exit::Ok;
    }
    let mut all_passed = true;
    for (name, connector_config) in &config.connectors {
        let connector = match Connector::from_config(name, connector_config) {
            Ok(connector) => connector,
            Err(e) => {
                all_passed &= line(name, "connector", Err::<Checked, _>(e));
                continue;
            }
        };
        all_passed &= check_connector(name, &connector).await;
    }
    if all_passed {
        Exit::Ok
    } else {
        Exit::RunFailed
    }
}

/// The upstream's token, its scope (a full read, as a run makes it), the target's access.
async fn check_connector(name: &str, connector: &Connector) -> bool {
    let token = connector.puller.check_token().await;
    let token_ok = token.is_ok();
    let mut passed = line(name, "upstream token", token);
    // What the app may not read (a permission, part of its range) does not fail the check, but
    // an admin setting it up is to hear of it now rather than in the first run's report.
    let mut notes = Vec::new();
    let scope = if token_ok {
        match connector.puller.pull().await {
            Err(e) => Err(e.to_string()),
            // What a run would refuse as an empty pull: a revoked or emptied scope.
            Ok(pulled) if pulled.directory.users.is_empty() && pulled.directory.held.is_empty() => {
                Err("the app's authorized scope holds nobody".to_owned())
            }
            Ok(pulled) => {
                notes.extend(
                    pulled
                        .directory
                        .problems
                        .iter()
                        .filter(|p| p.is_about_the_app())
                        .map(ToString::to_string),
                );
                Ok(Checked::Verified(format!(
                    "{} people, {} departments",
                    pulled.directory.users.len() + pulled.directory.held.len(),
                    pulled.directory.departments.len()
                )))
            }
        }
    } else {
        Ok(Checked::NotChecked("the token was refused"))
    };
    passed &= line(name, "upstream scope", scope);
    for note in notes {
        println!("{name}  upstream scope  note: {}", visible(&note));
    }
    passed & line(name, "target", connector.pusher.check().await)
}

/// Prints `NAME  WHAT  RESULT`; errors never carry secrets (invariant 8). Returns whether it passed.
fn line(name: &str, what: &str, result: Result<Checked, impl Display>) -> bool {
    match result {
        Ok(checked) => {
            println!("{name}  {what}  {checked}");
            true
        }
        Err(e) => {
            // The target's and upstream's own words: shown, never acted on.
            println!("{name}  {what}  FAILED: {}", visible(&e.to_string()));
            false
        }
    }
}
