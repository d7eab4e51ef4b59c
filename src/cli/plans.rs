//! `orgsync plans`: the plans the deletion guard refused in the daemon, waiting for approval.
//! Through the daemon when one answers; otherwise on the state directory directly (approving
//! then applies the kept plan in this process, exactly as `apply --allow-deletions` would).

use super::commands::{fail, open_state};
use super::service::{client_error, daemon_of};
use super::{Exit, ReportArgs};
use crate::config::Config;
use crate::daemon::types::PendingPlanView;
use crate::state::{PendingPlan, StateDb};
use crate::terminal::visible;
use std::path::Path;

/// `orgsync plans list`.
pub(super) async fn list(config_path: &Path) -> Exit {
    let plans = match daemon_of(config_path).await {
        Ok((_, Some(client))) => match client.pending_plans().await {
            Ok(plans) => plans,
            Err(e) => return client_error(e),
        },
        Ok((config, None)) => match local_plans(&config).await {
            Ok((_, plans)) => plans.iter().map(PendingPlan::view).collect(),
            Err(exit) => return exit,
        },
        Err(exit) => return exit,
    };
    if plans.is_empty() {
        eprintln!("No plan is waiting for approval.");
        return Exit::Ok;
    }
    for plan in &plans {
        println!("{}", visible(&line(plan)));
    }
    Exit::Ok
}

/// One plan: its run, connector, when, the counts and the guard's reason.
fn line(plan: &PendingPlanView) -> String {
    let counts: Vec<String> = plan
        .counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    format!(
        "{}  {}  {}  {}  ({})",
        plan.run_id,
        plan.connector,
        plan.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        counts.join(", "),
        plan.reason
    )
}

async fn local_plans(config: &Config) -> Result<(StateDb, Vec<PendingPlan>), Exit> {
    let store = open_state(config).await?;
    let plans = store.pending_plans().map_err(|e| fail(Exit::State, e))?;
    Ok((store, plans))
}

/// `orgsync plans approve RUN`: applies exactly the plan run RUN left, its removals approved.
pub(super) async fn approve(config_path: &Path, run_id: &str, output: ReportArgs) -> Exit {
    let config = match daemon_of(config_path).await {
        Ok((_, Some(client))) => {
            let accepted = match client.approve(run_id).await {
                Ok(accepted) => accepted,
                Err(e) => return client_error(e),
            };
            eprintln!(
                "{}",
                visible(&format!(
                    "Run {} applies the approved plan in the orgsync daemon.",
                    accepted.run_id
                ))
            );
            return super::remote::follow_to_end(&client, &accepted.run_id, output).await;
        }
        Ok((config, None)) => config,
        Err(exit) => return exit,
    };
    let (store, plan) = match local_plan(&config, run_id).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    // The state directory is opened again by `apply`, in this process: release it first.
    drop(store);
    let exit = super::commands::apply_sealed(
        config_path,
        &format!("the plan of run {run_id}"),
        &plan.connector,
        plan.sealed.as_bytes(),
        crate::engine::Approval::AllowDeletions,
        output,
    )
    .await;
    if matches!(exit, Exit::Ok | Exit::RunFailed | Exit::StalePlan)
        && let Ok(store) = open_state(&config).await
        && let Err(e) = store.remove_pending_plan(&plan.connector, Some(run_id))
    {
        tracing::warn!(error = %e, "Cannot drop the applied plan from the plans waiting for approval.");
    }
    exit
}

/// `orgsync plans dismiss RUN`.
pub(super) async fn dismiss(config_path: &Path, run_id: &str) -> Exit {
    let config = match daemon_of(config_path).await {
        Ok((_, Some(client))) => {
            return match client.dismiss(run_id).await {
                Ok(()) => {
                    eprintln!(
                        "{}",
                        visible(&format!("Dismissed the plan of run {run_id}."))
                    );
                    Exit::Ok
                }
                Err(e) => client_error(e),
            };
        }
        Ok((config, None)) => config,
        Err(exit) => return exit,
    };
    let (store, plan) = match local_plan(&config, run_id).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    match store.remove_pending_plan(&plan.connector, Some(run_id)) {
        Ok(true) => {
            eprintln!(
                "{}",
                visible(&format!("Dismissed the plan of run {run_id}."))
            );
            Exit::Ok
        }
        Ok(false) => fail(Exit::Usage, not_waiting(run_id)),
        Err(e) => fail(Exit::State, e),
    }
}

/// The plan run `run_id` left, from the state directory.
async fn local_plan(config: &Config, run_id: &str) -> Result<(StateDb, PendingPlan), Exit> {
    let (store, plans) = local_plans(config).await?;
    match plans.into_iter().find(|p| p.run_id == run_id) {
        Some(plan) => Ok((store, plan)),
        None => Err(fail(Exit::Usage, not_waiting(run_id))),
    }
}

fn not_waiting(run_id: &str) -> String {
    format!(
        "no plan of run {run_id:?} is waiting for approval (approved, dismissed, or replaced by a \
         newer refusal); see `orgsync plans list`"
    )
}
