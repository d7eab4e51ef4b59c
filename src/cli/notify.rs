//! `orgsync notify test`: a test message to every `[[notify]]` channel, each result on a line;
//! exit 1 when any failed, 3 when a channel cannot be set up or none is configured.

use super::Exit;
use super::commands::fail_config;
use crate::config::Config;
use crate::notify::{Channel, Message, Retry, deliver};
use crate::terminal::visible;
use std::path::Path;
use std::time::Duration;

pub(super) async fn test(config_path: &Path) -> Exit {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return fail_config(e),
    };
    if config.notify.is_empty() {
        eprintln!(
            "error: no [[notify]] channel is configured in {} (README, \"Notifications\")",
            visible(&config_path.display().to_string())
        );
        return Exit::Config;
    }
    // A test is interactive: one quick retry for a passing network error, not the daemon's patience.
    let retry = Retry {
        attempts: 2,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
    };
    let mut exit = Exit::Ok;
    for (i, entry) in config.notify.iter().enumerate() {
        let label = entry.label(i);
        let kind = entry.kind.as_str();
        let channel = match Channel::build(entry, i) {
            Ok(channel) => channel,
            Err(e) => {
                println!("{}", visible(&format!("FAILED  {label} ({kind}): {e}")));
                exit = Exit::Config;
                continue;
            }
        };
        match deliver(&channel, &Message::test(&label), retry).await {
            Ok(()) => println!("{}", visible(&format!("sent    {label} ({kind})"))),
            Err(e) => {
                println!("{}", visible(&format!("FAILED  {label} ({kind}): {e}")));
                if exit == Exit::Ok {
                    exit = Exit::RunFailed;
                }
            }
        }
    }
    exit
}
