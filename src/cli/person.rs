//! `orgsync sync NAME --person KEY`: a run for a few people, in this process (the daemon, when
//! one runs, is asked first by the caller).

use super::commands::{Watched, finish, open};
use super::remote::Finished;
use super::{Exit, ReportArgs};
use crate::daemon::types::Job;
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
    let job = Job::People {
        keys: keys.iter().map(ToString::to_string).collect(),
        mode: Some(mode.into()),
    };
    if let Some(result) = super::remote::run_job(config_path, name, job).await {
        return match result {
            Ok(Finished {
                report: Some(report),
                ..
            }) => finish(Ok(report), output),
            Ok(Finished { report: None, .. }) => {
                super::commands::fail(Exit::RunFailed, "the run left no report")
            }
            Err(exit) => exit,
        };
    }
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
