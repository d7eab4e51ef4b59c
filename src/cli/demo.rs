//! `orgsync demo`: a generated WeCom org and an empty SCIM app, both emulated on loopback; a
//! dry-run report, the real sync, then a second run that has nothing to do.

use super::Exit;
use crate::config::{Secret, SecretRef};
use crate::engine::{Connector, Engine, RunMode};
use crate::plan::Policy;
use crate::pullers::AnyPuller;
use crate::pullers::wecom::{WecomPuller, WecomSourceConfig};
use crate::pushers::AnyPusher;
use crate::pushers::scim::{ScimPusher, ScimTargetConfig};
use crate::report::{RenderOptions, Report, RunOutcome, render_text_with};
use crate::snapshot::SledStore;
use emulators::generator::{GeneratorConfig, generate};
use std::sync::Arc;

/// Lines shown per report section; the demo org is large enough to flood a terminal otherwise.
const SECTION_LIMIT: usize = 8;

pub(super) async fn run(people: usize, seed: u64) -> Exit {
    match demo(people, seed).await {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("error: the demo could not run: {error:#}");
            Exit::RunFailed
        }
    }
}

async fn demo(people: usize, seed: u64) -> Result<Exit, Box<dyn std::error::Error>> {
    let org = generate(&GeneratorConfig {
        people,
        departments: (people / 10).clamp(1, 2000),
        seed,
        ..GeneratorConfig::default()
    });
    let wecom_config = emulators::wecom::WecomConfig::default();
    let wecom = emulators::wecom::start(org, wecom_config.clone()).await?;
    let scim = emulators::scim::start(emulators::scim::ScimConfig::default()).await?;
    let state = tempfile::tempdir()?;
    println!("orgsync demo");
    println!(
        "  upstream: emulated WeCom at {} ({people} people)",
        wecom.base_url()
    );
    println!("  target:   emulated SCIM 2.0 app at {}", scim.base_url());
    println!("  state:    {}\n", state.path().display());

    // The secrets are the emulators' own; a real config names them as env:, file: or credential:.
    let source = WecomSourceConfig::new(
        wecom_config.corpid.clone(),
        SecretRef::Env("ORGSYNC_DEMO_UNUSED".into()),
        wecom.base_url().parse()?,
    );
    let target = ScimTargetConfig::new(
        scim.base_url().parse()?,
        SecretRef::Env("ORGSYNC_DEMO_UNUSED".into()),
    );
    let connector = Connector {
        name: "demo".into(),
        puller: AnyPuller::Wecom(WecomPuller::new(
            source,
            Secret::new(wecom_config.corpsecret.clone()),
        )?),
        pusher: AnyPusher::Scim(ScimPusher::new(target, Secret::new(scim.bearer_token()))?),
        policy: Policy::default(),
        concurrency: 8,
    };
    let engine = Engine::new(Arc::new(SledStore::open(state.path())?));

    let options = RenderOptions {
        limit: Some(SECTION_LIMIT),
        color: super::stdout_wants_color(),
    };
    section("1. Dry run: what a sync would do (nothing is written)");
    let dry = engine.run(&connector, RunMode::DryRun).await?;
    print!("{}", render_text_with(&dry, &options));
    if scim.users().is_empty() {
        println!("\nThe SCIM app is still empty: the dry run wrote nothing.");
    }

    section("2. Sync: apply the plan");
    let applied = engine.run(&connector, RunMode::Apply).await?;
    print!("{}", render_text_with(&applied, &options));
    let users = scim.users();
    let with_manager = users.iter().filter(|u| u.manager_id.is_some()).count();
    let inactive = users.iter().filter(|u| !u.active).count();
    println!(
        "\nThe SCIM app now holds {} accounts ({inactive} inactive), {with_manager} with a manager.",
        users.len()
    );

    section("3. Sync again: nothing changed upstream, so nothing to do");
    let again = engine.run(&connector, RunMode::Apply).await?;
    println!("Planned steps: {}", again.steps.len());

    let ok = succeeded(&dry) && succeeded(&applied) && succeeded(&again) && again.steps.is_empty();
    println!(
        "\n{}",
        if ok {
            "Demo finished: dry run, sync and a no-op second run."
        } else {
            "Demo finished with failures; see the reports above."
        }
    );
    wecom.shutdown().await;
    scim.shutdown().await;
    Ok(if ok { Exit::Ok } else { Exit::RunFailed })
}

fn succeeded(report: &Report) -> bool {
    matches!(report.outcome, RunOutcome::Planned | RunOutcome::Applied)
}

fn section(title: &str) {
    println!("\n━━ {title} ━━\n");
}
