//! `orgsync sync NAME --person KEY`: a run for a few people, in this process (the daemon, when
//! one runs, is asked first by the caller).

use super::commands::{Watched, finish, open};
use super::{Exit, ReportArgs};
use crate::engine::RunMode;
use crate::model::UserKey;
use std::path::Path;

/// Pulls these people, plans and applies only their steps (or only reports them, for a dry
/// run), records the run and prints its report like `sync`.
pub(super) async fn sync_people(
    config_path: &Path,
    name: &str,
    keys: &[UserKey],
    mode: RunMode,
    output: ReportArgs,
) -> Exit {
    let opened = match open(config_path, name).await {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let watched = Watched::new(&opened);
    let result = watched
        .engine
        .sync_people(&opened.connector, keys, mode, &watched.context)
        .await;
    watched.done().await;
    opened.record(&result);
    finish(result, output)
}
