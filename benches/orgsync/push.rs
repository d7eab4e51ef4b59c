//! Push throughput into the third-party scim2-server, against that server's capacity measured in
//! the same run by a plain client sending the same requests at the same concurrency.

use crate::common::scim2_server::{Scim2Server, TOKEN};
use crate::measure;
use crate::outcome::Outcome;
use crate::sync::{self, CONCURRENCY};
use crate::{Runtimes, pull, thousands};
use futures_util::{StreamExt, stream};
use orgsync::engine::Engine;
use orgsync::model::Field;
use orgsync::plan::Step;
use orgsync::state::StateDb;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub fn run(rt: &Runtimes, people: usize, departments: usize) -> Vec<Outcome> {
    if !scim2_server_installed() {
        return vec![Outcome {
            case: "push → scim2-server".into(),
            note: "SKIPPED: scim2-server is not installed (run scripts/test, or set ORGSYNC_SCIM2_SERVER)".into(),
            ..Outcome::default()
        }];
    }
    let org = pull::org(people, departments);
    let wecom = rt.emulators.block_on(async {
        emulators::wecom::start(org, Default::default())
            .await
            .expect("WeCom emulator")
    });
    let server = rt.orgsync.block_on(Scim2Server::start());
    let state = tempfile::tempdir().expect("temporary state directory");
    let engine = Engine::new(Arc::new(StateDb::open(state.path()).expect("sled opens")));
    let connector = sync::connector(&wecom, &server.base_url("orgsync"), TOKEN);
    let run = sync::measured_run(rt, &engine, &connector);
    let orgsync_time = run.wall.saturating_sub(sync::pull_time(&run.report));

    // The same requests from a plain client: one listing, then a POST per create (a first sync
    // has just listed the target, so orgsync looks nobody up), then a PATCH per manager link —
    // phase by phase, CONCURRENCY in flight.
    let steps: Vec<Step> = run.report.steps.iter().map(|s| s.step.clone()).collect();
    let requests = steps.len() as u64 + 1;
    measure::reset_peak_rss();
    let cpu = measure::thread_cpu();
    let started = Instant::now();
    let plain_ok = rt
        .orgsync
        .block_on(replay(&server.base_url("plain"), &steps));
    let plain_time = started.elapsed();
    let plain_cpu = measure::thread_cpu() - cpu;
    drop(server);
    rt.emulators.block_on(wecom.shutdown());

    let ratio = plain_time.as_secs_f64() / orgsync_time.as_secs_f64().max(1e-9);
    let size = format!("{} people", thousands(people as u64));
    vec![
        Outcome {
            case: format!("push → scim2-server, {size}, first sync"),
            wall_s: orgsync_time.as_secs_f64(),
            floor_s: Some(plain_time.as_secs_f64()),
            writes: Some(requests - 1),
            cpu_s: run.cpu.as_secs_f64(),
            process_cpu_s: run.process_cpu.as_secs_f64(),
            peak_rss: run.peak_rss,
            note: format!(
                "wall excludes the pull; {requests} requests, {:.0}/s = {:.0} % of the capacity below (floor){}",
                requests as f64 / orgsync_time.as_secs_f64().max(1e-9),
                ratio * 100.0,
                sync::outcome_note(&run.report)
            ),
            ..Outcome::default()
        },
        Outcome {
            case: format!("scim2-server capacity, plain client, {size}"),
            wall_s: plain_time.as_secs_f64(),
            cpu_s: plain_cpu.as_secs_f64(),
            process_cpu_s: plain_cpu.as_secs_f64(),
            peak_rss: measure::peak_rss(),
            note: format!(
                "the same {requests} requests, {CONCURRENCY} in flight: {:.0}/s{}",
                requests as f64 / plain_time.as_secs_f64().max(1e-9),
                if plain_ok {
                    ""
                } else {
                    "; SOME REQUESTS FAILED"
                }
            ),
            ..Outcome::default()
        },
    ]
}

fn scim2_server_installed() -> bool {
    std::env::var_os("ORGSYNC_SCIM2_SERVER").is_some()
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".venv-scim/bin/scim2-server")
            .exists()
}

/// Sends what orgsync sent for `steps`, with reqwest and serde_json only. True when every
/// request succeeded.
async fn replay(base_url: &str, steps: &[Step]) -> bool {
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{base_url}/Users?startIndex=1&count=1000"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let creates: Vec<(String, Value)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Create {
                user,
                attributes,
                active,
            } => {
                let text = |f| attributes.get(f).map(str::to_owned);
                Some((
                    user.as_str().to_owned(),
                    json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "externalId": user.as_str(),
                        "userName": attributes.user_name(),
                        "displayName": text(Field::DisplayName),
                        "name": {"formatted": text(Field::DisplayName)},
                        "emails": text(Field::Email).map(|e| json!([{"value": e, "type": "work", "primary": true}])),
                        "title": text(Field::Title),
                        "active": active,
                    }),
                ))
            }
            _ => None,
        })
        .collect();
    let created: Vec<Option<(String, String)>> = stream::iter(creates)
        .map(|(key, body)| {
            let client = &client;
            async move {
                let answer: Value = client
                    .post(format!("{base_url}/Users"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .ok()?
                    .error_for_status()
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                Some((key, answer["id"].as_str()?.to_owned()))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let all_created = created.iter().all(Option::is_some);
    let ids: HashMap<String, String> = created.into_iter().flatten().collect();
    let links: Vec<(String, String)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::SetManager { user, manager, .. } => Some((
                ids.get(user.as_str())?.clone(),
                ids.get(manager.as_str())?.clone(),
            )),
            _ => None,
        })
        .collect();
    let linked: Vec<bool> = stream::iter(links)
        .map(|(id, manager)| {
            let client = &client;
            async move {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                        "value": {"value": manager}}],
                });
                client
                    .patch(format!("{base_url}/Users/{id}"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    ok && all_created && linked.iter().all(|&b| b)
}
