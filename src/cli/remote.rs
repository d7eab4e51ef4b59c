//! Commands handed to a running daemon. The daemon holds the state directory, so `diff --save`,
//! `apply`, `explain`, `snapshot rebuild` and `sync --person` run there as runs of their
//! connector (queued behind one in progress); the command follows the run's progress and
//! prints what the in-process command would.

use super::Exit;
use super::commands::fail;
use super::service::{client_error, daemon_of, follow};
use crate::daemon::client::ClientError;
use crate::daemon::types::{Job, JobOutput, RunState, RunView};
use crate::report::Report;
use crate::terminal::visible;
use std::path::Path;

/// A job's run, finished.
pub(super) struct Finished {
    /// The report, when the run left one.
    pub report: Option<Report>,
    pub output: Option<JobOutput>,
}

/// Runs `job` in the daemon of this configuration and waits for it. `None`: no daemon answers,
/// the caller works in-process (and reports a configuration error itself).
pub(super) async fn run_job(
    config_path: &Path,
    connector: &str,
    job: Job,
) -> Option<Result<Finished, Exit>> {
    let (_, client) = daemon_of(config_path).await.ok()?;
    let client = client?;
    let accepted = match client.submit(connector, &job).await {
        Ok(accepted) => accepted,
        Err(e @ ClientError::Refused { status: 422, .. }) => {
            let exit = match job {
                Job::ApplyPlan { .. } => Exit::StalePlan,
                _ => Exit::Usage,
            };
            return Some(Err(fail(exit, e)));
        }
        Err(e) => return Some(Err(client_error(e))),
    };
    let how = if accepted.queued {
        "queued behind the run in progress"
    } else {
        "started"
    };
    eprintln!(
        "{}",
        visible(&format!(
            "Run {} {how} by the orgsync daemon (it holds the state directory).",
            accepted.run_id
        ))
    );
    Some(finish(&client, follow(&client, &accepted.run_id).await).await)
}

/// Follows a run the daemon started (an approval) and prints its report; a plan the snapshot
/// moved past is exit 7.
pub(super) async fn follow_to_end(
    client: &crate::daemon::client::Client,
    run_id: &str,
    output: super::ReportArgs,
) -> Exit {
    match finish(client, follow(client, run_id).await).await {
        Ok(Finished {
            output: Some(JobOutput::Refused { message, .. }),
            ..
        }) => fail(Exit::StalePlan, message),
        Ok(Finished {
            report: Some(report),
            ..
        }) => {
            print!(
                "{}",
                crate::report::render_with(&report, output.format, &output.options())
            );
            super::commands::exit_of(&report.outcome)
        }
        Ok(Finished { report: None, .. }) => fail(Exit::RunFailed, "the run left no report"),
        Err(exit) => exit,
    }
}

async fn finish(
    client: &crate::daemon::client::Client,
    view: Result<RunView, ClientError>,
) -> Result<Finished, Exit> {
    let view = view.map_err(client_error)?;
    if view.state != RunState::Finished {
        return Err(fail(
            Exit::RunFailed,
            format!(
                "run {} ended without a report: {}",
                view.run_id,
                view.error.unwrap_or_else(|| "cancelled".into())
            ),
        ));
    }
    let report = match view.outcome {
        Some(_) => Some(client.report(&view.run_id).await.map_err(client_error)?),
        None => None,
    };
    let output = match client.output(&view.run_id).await {
        Ok(output) => Some(output),
        Err(ClientError::Refused { status: 404, .. }) => None,
        Err(e) => return Err(client_error(e)),
    };
    Ok(Finished { report, output })
}
