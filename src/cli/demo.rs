//! `orgsync demo`: a generated org on an emulated upstream (WeCom by default, or DingTalk, Feishu
//! or Bitrix24) and an empty SCIM app, all on loopback; a dry-run report, the real sync, then a
//! second run that has nothing to do, then (WeCom, DingTalk, Feishu) a change upstream that the
//! platform's change events bring to the target in seconds. `--target FILE` syncs into a real
//! target instead (an LDAP directory, a webhook receiver).

use super::Exit;
use crate::config::{Secret, SecretRef, TargetConfig};
use crate::engine::{Connector, Engine, RunMode, build_pusher};
use crate::plan::{GroupPolicy, Policy};
use crate::pullers::bitrix24::{
    Bitrix24Auth, Bitrix24Puller, Bitrix24Secrets, Bitrix24SourceConfig,
};
use crate::pullers::dingtalk::{DingtalkPuller, DingtalkSourceConfig};
use crate::pullers::feishu::{FeishuPuller, FeishuSourceConfig};
use crate::pullers::wecom::{WecomPuller, WecomSourceConfig};
use crate::pullers::{AnyPuller, Platform};
use crate::pushers::scim::{ScimPusher, ScimTargetConfig};
use crate::pushers::{AnyPusher, Pusher};
use crate::report::{RenderOptions, Report, RunOutcome, render_text_with};
use crate::state::StateDb;
use emulators::fixture::Org;
use emulators::generator::{GeneratorConfig, generate};
use emulators::scim::ScimHandle;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod events;
mod pace;

/// The emulated upstream, kept alive for the demo's length.
enum Upstream {
    Wecom(emulators::wecom::WecomHandle),
    Dingtalk(emulators::dingtalk::DingtalkHandle),
    Feishu(emulators::feishu::FeishuHandle),
    Bitrix24(emulators::bitrix24::Bitrix24Handle),
}

/// The secrets are the emulators' own; a real config names them as env:, file: or credential:.
fn unused() -> SecretRef {
    SecretRef::Env("ORGSYNC_DEMO_UNUSED".into())
}

impl Upstream {
    /// Starts the emulated upstream; with `events_url`, it sends its change events there.
    async fn start(
        platform: Platform,
        org: Org,
        events_url: Option<String>,
    ) -> std::io::Result<Upstream> {
        Ok(match platform {
            Platform::Wecom => Upstream::Wecom(
                emulators::wecom::start(
                    org,
                    emulators::wecom::WecomConfig {
                        callback: events_url.map(events::wecom_callback),
                        ..Default::default()
                    },
                )
                .await?,
            ),
            Platform::Dingtalk => Upstream::Dingtalk(
                emulators::dingtalk::start(
                    org,
                    emulators::dingtalk::DingtalkConfig {
                        events: events_url.map(events::dingtalk_push),
                        ..Default::default()
                    },
                )
                .await?,
            ),
            Platform::Feishu => Upstream::Feishu(
                emulators::feishu::start(
                    org,
                    emulators::feishu::FeishuConfig {
                        events: events_url.map(events::feishu_push),
                        ..Default::default()
                    },
                )
                .await?,
            ),
            Platform::Bitrix24 => {
                Upstream::Bitrix24(emulators::bitrix24::start(org, Default::default()).await?)
            }
        })
    }

    fn describe(&self) -> String {
        match self {
            Upstream::Wecom(h) => format!("emulated WeCom at {}", h.base_url()),
            Upstream::Dingtalk(h) => format!("emulated DingTalk at {}", h.base_url()),
            Upstream::Feishu(h) => format!("emulated Feishu at {}", h.base_url()),
            Upstream::Bitrix24(h) => format!("emulated Bitrix24 portal at {}", h.portal_url()),
        }
    }

    /// A puller with the platform's default settings, pointed at the emulator.
    fn puller(&self) -> Result<AnyPuller, Box<dyn std::error::Error>> {
        Ok(match self {
            Upstream::Wecom(h) => {
                let config = h.config();
                let mut source =
                    WecomSourceConfig::new(config.corpid.clone(), unused(), h.base_url().parse()?);
                source.agent_id = Some(config.agentid);
                AnyPuller::Wecom(WecomPuller::new(
                    source,
                    Secret::new(config.corpsecret.clone()),
                )?)
            }
            Upstream::Dingtalk(h) => {
                let config = h.config();
                let mut source = DingtalkSourceConfig::new(
                    config.app_key.clone(),
                    unused(),
                    h.base_url().parse()?,
                );
                // The emulated app holds the HR roster permission: managers for 100 people a call.
                source.agent_id = Some(u64::try_from(config.agent_id)?);
                AnyPuller::Dingtalk(DingtalkPuller::new(
                    source,
                    Secret::new(config.app_secret.clone()),
                )?)
            }
            Upstream::Feishu(h) => {
                let config = h.config();
                let source =
                    FeishuSourceConfig::new(config.app_id.clone(), unused(), h.base_url().parse()?);
                AnyPuller::Feishu(FeishuPuller::new(
                    source,
                    Secret::new(config.app_secret.clone()),
                )?)
            }
            Upstream::Bitrix24(h) => {
                let source = Bitrix24SourceConfig::new(Bitrix24Auth::webhook_url(unused()));
                let secrets = Bitrix24Secrets::Webhook(Secret::new(h.base_url()));
                AnyPuller::Bitrix24(Bitrix24Puller::new(source, secrets)?)
            }
        })
    }

    /// How the demo's receiver checks this upstream's events; `None` for Bitrix24, whose events
    /// orgsync does not receive.
    fn opener(&self) -> Result<Option<Box<dyn crate::events::Opener>>, String> {
        Ok(match self {
            Upstream::Wecom(h) => Some(events::wecom_opener(&h.config().corpid)?),
            Upstream::Dingtalk(h) => Some(events::dingtalk_opener(&h.config().app_key)?),
            Upstream::Feishu(h) => Some(events::feishu_opener(&h.config().app_id)),
            Upstream::Bitrix24(_) => None,
        })
    }

    fn update_org(&self, change: impl FnOnce(&mut Org)) {
        match self {
            Upstream::Wecom(h) => h.update_org(change),
            Upstream::Dingtalk(h) => h.update_org(change),
            Upstream::Feishu(h) => h.update_org(change),
            Upstream::Bitrix24(h) => h.update_org(change),
        }
    }

    async fn shutdown(self) {
        match self {
            Upstream::Wecom(h) => h.shutdown().await,
            Upstream::Dingtalk(h) => h.shutdown().await,
            Upstream::Feishu(h) => h.shutdown().await,
            Upstream::Bitrix24(h) => h.shutdown().await,
        }
    }
}

/// The demo connector's sections as a config file would hold them: departments become groups
/// named by their path, and people without a direct manager get their department's head.
const DEMO_CONNECTOR: &str = r#"
[policy]
manager_fallback = "department_head"

[groups]
enabled = true
naming = "path"
"#;

/// The sections of `DEMO_CONNECTOR`, read with the config file's own types.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoConnector {
    policy: Policy,
    groups: GroupPolicy,
}

/// The demo's policy: `DEMO_CONNECTOR` merged as the engine merges a connector's sections.
fn demo_policy() -> Result<Policy, String> {
    let invalid = |e: config::ConfigError| format!("the demo's embedded connector config: {e}");
    let sections: DemoConnector = config::Config::builder()
        .add_source(config::File::from_str(
            DEMO_CONNECTOR,
            config::FileFormat::Toml,
        ))
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(invalid)?;
    Ok(Policy {
        groups: sections.groups,
        ..sections.policy
    })
}

/// Clears the direct manager (直属上级) of one person in seven who heads no department, as many
/// companies leave it unfilled: the demo's `manager_fallback` then gives them their department's
/// head, and its reports show such links.
fn leave_some_managers_unset(org: &mut emulators::fixture::Org) {
    let heads: std::collections::HashSet<String> = org
        .departments
        .iter()
        .flat_map(|d| d.leaders.iter().cloned())
        .collect();
    for user in org
        .users
        .iter_mut()
        .filter(|u| !heads.contains(&u.id))
        .step_by(7)
    {
        user.manager = None;
    }
}

/// The cost centre's custom field as each platform names it: WeCom extattr and DingTalk
/// extension by name, Feishu custom_attrs by id, Bitrix24 by its UF_ field name.
fn cost_centre_field(platform: Platform) -> &'static str {
    match platform {
        Platform::Wecom | Platform::Dingtalk => "成本中心",
        Platform::Feishu => "C-6965457429001748507",
        Platform::Bitrix24 => "UF_USR_COST_CENTER",
    }
}

const COST_CENTER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter";

/// The emulated SCIM app's `[target.attributes]`: a default title, the cost centre (a custom
/// field) in the enterprise extension, the desk phone as a typed phone number.
fn demo_attributes(platform: Platform) -> Vec<(&'static str, String)> {
    vec![
        ("title", "{title|default:员工}".to_owned()),
        (
            COST_CENTER,
            format!("custom.{}", cost_centre_field(platform)),
        ),
        (
            r#"phoneNumbers[type eq "work"].value"#,
            "telephone".to_owned(),
        ),
    ]
}

/// Gives the generated people what HR keeps beside the directory: a cost centre (a custom
/// field, served in the platform's own form), an English name for some and a desk phone, so
/// the demo's attribute mapping has something to carry.
fn add_profile_fields(org: &mut emulators::fixture::Org, platform: Platform) {
    for (n, user) in org.users.iter_mut().enumerate() {
        let department = user.departments.first().copied().unwrap_or(1);
        user.custom.insert(
            cost_centre_field(platform).into(),
            format!("CC-{:03}", department % 40),
        );
        user.profile.telephone = Some(format!("010-6{:07}", n));
        if n % 3 == 0 {
            user.profile.english_name = Some(format!("Staff {n}"));
        }
    }
}

/// The emulated SCIM app's target config, with the demo's mapping.
fn demo_scim_config(
    base_url: &str,
    platform: Platform,
) -> Result<ScimTargetConfig, url::ParseError> {
    let mut config = ScimTargetConfig::new(base_url.parse()?, unused());
    config.attributes = demo_attributes(platform)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    Ok(config)
}

/// The demo's mapping in one line, as `[target.attributes]` would hold it.
fn describe_mapping(attributes: &[(&str, String)]) -> String {
    attributes
        .iter()
        .map(|(key, value)| format!("{key} ← {value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Lines shown per report section; the demo org is large enough to flood a terminal otherwise.
const SECTION_LIMIT: usize = 8;

/// What the demo runs on, and where it also writes the dry run's report.
pub(super) struct DemoArgs {
    pub upstream: Platform,
    pub people: usize,
    pub seed: u64,
    pub html: Option<PathBuf>,
    /// A file holding one target table: sync into that target instead of the SCIM emulator.
    pub target: Option<PathBuf>,
}

/// Where the demo writes: the SCIM emulator, or the target a file configures.
enum Target {
    Emulated(ScimHandle),
    Configured {
        config: Box<TargetConfig>,
        path: PathBuf,
    },
}

pub(super) async fn run(args: DemoArgs) -> Exit {
    match demo(args).await {
        Ok(exit) => exit,
        Err(error) => {
            let message = format!("the demo could not run: {error:#}");
            eprintln!("error: {}", crate::terminal::visible(&message));
            Exit::RunFailed
        }
    }
}

async fn demo(args: DemoArgs) -> Result<Exit, Box<dyn std::error::Error>> {
    let DemoArgs {
        upstream: platform,
        people,
        seed,
        html,
        target,
    } = args;
    let target = match target {
        Some(path) => Target::Configured {
            config: Box::new(load_target(&path)?),
            path,
        },
        None => Target::Emulated(
            emulators::scim::start(emulators::scim::ScimConfig {
                // The enterprise extension's costCenter, which the demo's mapping fills.
                user_attributes: vec![COST_CENTER.to_owned()],
                ..Default::default()
            })
            .await?,
        ),
    };
    let mut org = generate(&GeneratorConfig {
        people,
        departments: (people / 10).clamp(1, 2000),
        seed,
        ..GeneratorConfig::default()
    });
    leave_some_managers_unset(&mut org);
    add_profile_fields(&mut org, platform);
    let scope = Scope::of(&org);
    let listener = match platform {
        Platform::Bitrix24 => None,
        _ => Some(events::Listener::bind().await?),
    };
    let upstream =
        Upstream::start(platform, org, listener.as_ref().map(events::Listener::url)).await?;
    let state = tempfile::tempdir()?;
    println!("orgsync demo");
    println!(
        "  upstream: {} ({people} people in the org)",
        upstream.describe()
    );
    println!(
        "  pace:     {}",
        pace::describe(platform, scope.departments, scope.people)
    );
    match &target {
        Target::Emulated(scim) => {
            println!("  target:   emulated SCIM 2.0 app at {}", scim.base_url());
        }
        Target::Configured { config, path } => {
            println!("  target:   {} ({})", describe(config), path.display());
        }
    }
    println!("  state:    {}\n", state.path().display());

    let (pusher, concurrency) = match &target {
        Target::Emulated(scim) => {
            let config = demo_scim_config(scim.base_url(), platform)?;
            let pusher = ScimPusher::new(config, Secret::new(scim.bearer_token()))?;
            (AnyPusher::Scim(pusher), 8)
        }
        Target::Configured { config, .. } => build_pusher("demo", config)?,
    };
    let mut policy = demo_policy()?;
    policy.mapping = match &target {
        Target::Configured { config, .. } => config.mapping()?,
        Target::Emulated(scim) => {
            println!(
                "  mapping:  {}\n",
                describe_mapping(&demo_attributes(platform))
            );
            demo_scim_config(scim.base_url(), platform)?.attribute_mapping()?
        }
    };
    if let Target::Configured { config, .. } = &target
        && let TargetConfig::Ldap(ldap) = config.as_ref()
        && ldap.groups_base.is_none()
    {
        // Groups need a place in the directory; the demo does not invent one.
        policy.groups.enabled = false;
        println!("  groups:   off (the LDAP target sets no groups_base)\n");
    }
    let connector = Connector {
        name: "demo".into(),
        puller: upstream.puller()?,
        pusher,
        policy,
        concurrency: concurrency.max(1),
    };
    let store = Arc::new(StateDb::open(state.path())?);
    let engine = Engine::new(Arc::clone(&store));
    let receiver = match (listener, upstream.opener()?) {
        (Some(listener), Some(opener)) => Some(events::serve(listener, opener, Arc::clone(&store))),
        _ => None,
    };

    let options = RenderOptions {
        limit: Some(SECTION_LIMIT),
        color: super::stdout_wants_color(),
    };
    section("1. Dry run: what a sync would do (nothing is written)");
    let dry = engine.run(&connector, RunMode::DryRun).await?;
    print!("{}", render_text_with(&dry, &options));
    if let Some(pull) = &dry.pull {
        println!("\n{}", scope.explain(people, pull.users + pull.held));
    }
    if let Target::Emulated(scim) = &target
        && scim.users().is_empty()
    {
        println!("\nThe SCIM app is still empty: the dry run wrote nothing.");
    }
    if let Some(path) = &html {
        std::fs::write(path, crate::report::render_html(&dry))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "The dry run's report, as one page to open in a browser: {}",
            path.display()
        );
    }

    section("2. Sync: apply the plan");
    let applied = engine.run(&connector, RunMode::Apply).await?;
    print!("{}", render_text_with(&applied, &options));
    match &target {
        Target::Emulated(scim) => {
            let users = scim.users();
            let with_manager = users.iter().filter(|u| u.manager_id.is_some()).count();
            let inactive = users.iter().filter(|u| !u.active).count();
            println!(
                "\nThe SCIM app now holds {} accounts ({inactive} inactive), {with_manager} with a manager.",
                users.len()
            );
        }
        // A webhook receiver cannot be read back; the report above lists what it took.
        Target::Configured { .. } => {
            if let Ok(accounts) = connector.pusher.list().await {
                let with_manager = accounts.iter().filter(|a| a.manager.is_some()).count();
                let inactive = accounts.iter().filter(|a| !a.active).count();
                println!(
                    "\nThe target now holds {} accounts ({inactive} inactive), {with_manager} with a manager.",
                    accounts.len()
                );
            }
        }
    }

    section("3. Sync again: nothing changed upstream, so nothing to do");
    let again = engine.run(&connector, RunMode::Apply).await?;
    println!("Planned steps: {}", again.steps.len());

    let mut ok =
        succeeded(&dry) && succeeded(&applied) && succeeded(&again) && again.steps.is_empty();
    if let Some(receiver) = receiver {
        ok &= events_step(
            &receiver, &upstream, &engine, &connector, &applied, &options,
        )
        .await;
        receiver.stop();
    }
    println!(
        "\n{}",
        if ok {
            "Demo finished: dry run, sync, a no-op second run and a change synced by its events."
        } else {
            "Demo finished with failures; see the reports above."
        }
    );
    upstream.shutdown().await;
    if let Target::Emulated(scim) = target {
        scim.shutdown().await;
    }
    Ok(if ok { Exit::Ok } else { Exit::RunFailed })
}

/// Step 4: a new hire and a leaver upstream; the platform's change events bring both to the
/// target in seconds. Whether it worked.
async fn events_step(
    receiver: &events::Running,
    upstream: &Upstream,
    engine: &Engine<StateDb>,
    connector: &Connector,
    applied: &Report,
    options: &RenderOptions,
) -> bool {
    section("4. A change upstream, synced in seconds by its change events");
    // Someone the sync created leaves; a new hire joins in a colleague's place.
    let Some(leaver) = applied
        .steps
        .iter()
        .rev()
        .filter(|s| s.step.kind() == crate::plan::StepKind::Create)
        .find_map(|s| s.step.user())
        .map(|key| key.as_str().to_owned())
    else {
        println!("Nobody was created, so nobody can leave; step skipped.");
        return true;
    };
    let mut names = None;
    let changed = std::time::Instant::now();
    upstream.update_org(|org| names = events::hire_and_leave(org, &leaver));
    let Some((hired, left)) = names else {
        println!("The org has nobody with a manager to copy; step skipped.");
        return true;
    };
    println!(
        "Upstream: {hired} joined and {left} left. The emulated platform sends its change events, \
         signed and encrypted, to the receiver; each is checked and stored before it is answered."
    );
    match events::sync_what_arrives(receiver, engine, connector, changed, 2).await {
        Ok(arrival) => {
            println!(
                "{} events arrived, the first {} ms after the change; gathered for 1 s, then one run \
                 for the people they name:\n",
                arrival.events,
                arrival.first_event_after.as_millis()
            );
            print!("{}", render_text_with(&arrival.report, options));
            println!(
                "\nBoth changes were in the target {:.1} s after they happened upstream (the daemon \
                 does this on its own with [connectors.NAME.events]; the scheduled run still \
                 reconciles).",
                arrival.written_after.as_secs_f64()
            );
            succeeded(&arrival.report)
        }
        Err(e) => {
            println!("The change did not arrive: {e}");
            false
        }
    }
}

/// What of the generated org the app may read: the platform shows an app only the departments
/// (and people) its scope grants, as a real org grants part of itself.
struct Scope {
    departments: u64,
    people: u64,
    /// People outside the scope, and people who have left (the platforms list neither).
    outside: usize,
    resigned: usize,
}

impl Scope {
    fn of(org: &Org) -> Scope {
        let visibility = org.visibility();
        let visible = |u: &&emulators::fixture::User| visibility.is_user_visible(u);
        let left = |u: &&emulators::fixture::User| u.status == emulators::fixture::Status::Resigned;
        Scope {
            departments: visibility.departments.len() as u64,
            people: org
                .users
                .iter()
                .filter(visible)
                .filter(|u| !left(u))
                .count() as u64,
            outside: org.users.iter().filter(|u| !visible(u)).count(),
            resigned: org.users.iter().filter(visible).filter(left).count(),
        }
    }

    /// Why the pull read fewer people than the org has.
    fn explain(&self, people: usize, pulled: usize) -> String {
        let missing = people.saturating_sub(pulled);
        if missing == 0 {
            return format!("The pull read all {people} people of the org.");
        }
        let mut causes: Vec<(usize, &str)> = Vec::new();
        if self.outside > 0 {
            causes.push((
                self.outside.min(missing),
                "outside the app's scope (the departments the platform lets it read, as a real \
                 app is granted part of an org)",
            ));
        }
        match missing.saturating_sub(self.outside) {
            0 => {}
            rest if rest == self.resigned => {
                causes.push((rest, "people who left the company (no longer listed)"))
            }
            rest => causes.push((rest, "people the platform did not list")),
        }
        let why = match causes.as_slice() {
            [(_, only)] => format!("the other {missing} are {only}"),
            _ => format!(
                "of the other {missing}, {}",
                causes
                    .iter()
                    .map(|(count, cause)| format!("{count} are {cause}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        format!(
            "The pull read {pulled} of the org's {people} people; {why}: orgsync never reads them."
        )
    }
}

/// A TOML file holding one target table, written as under `[connectors.NAME.target]`.
fn load_target(path: &Path) -> Result<TargetConfig, String> {
    let fail = |detail: String| format!("target file {}: {detail}", path.display());
    if !path.exists() {
        return Err(fail("file not found".into()));
    }
    let built = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    // A whole configuration, or the table under its `[connectors.NAME.target]` header: say what
    // the file should hold rather than only that `kind` is missing.
    let nested = ["connectors", "target"]
        .into_iter()
        .find(|table| built.get_table(table).is_ok());
    let config: TargetConfig = built.try_deserialize().map_err(|e| match nested {
        Some(table) => fail(format!(
            "{e}. The file holds a [{table}…] table: it should hold one target's keys at its top \
             level, without a table header (kind = \"ldap\", url = …), as \
             config/demo-ldap.toml does"
        )),
        None => fail(e.to_string()),
    })?;
    config.validate().map_err(fail)?;
    Ok(config)
}

fn describe(target: &TargetConfig) -> String {
    match target {
        TargetConfig::Scim(t) => format!("SCIM 2.0 app at {}", t.base_url),
        TargetConfig::Ldap(t) if t.ad_settings().is_some() => {
            format!("Active Directory at {}, under {}", t.url, t.base_dn)
        }
        TargetConfig::Ldap(t) => format!("LDAP directory at {}, under {}", t.url, t.base_dn),
        TargetConfig::Webhook(t) => format!("webhook receiver at {}", t.url),
    }
}

fn succeeded(report: &Report) -> bool {
    matches!(report.outcome, RunOutcome::Planned | RunOutcome::Applied)
}

fn section(title: &str) {
    println!("\n━━ {title} ━━\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_syncs_groups_and_department_heads() {
        let policy = demo_policy().unwrap();
        assert!(policy.groups.enabled);
        assert_eq!(policy.groups.naming, crate::plan::GroupNaming::Path);
        assert_eq!(
            policy.manager_fallback,
            crate::plan::ManagerFallback::DepartmentHead
        );
        // Everything else is the default a new connector gets.
        let defaults = Policy {
            groups: policy.groups.clone(),
            manager_fallback: policy.manager_fallback,
            ..Policy::default()
        };
        assert_eq!(policy, defaults);
    }

    #[test]
    fn the_demo_says_why_the_pull_read_fewer_people_than_the_org_has() {
        let org = generate(&GeneratorConfig {
            people: 200,
            departments: 20,
            seed: 7,
            ..GeneratorConfig::default()
        });
        let scope = Scope::of(&org);
        assert!(
            scope.outside > 0 && scope.resigned == 1,
            "the generator's default scope"
        );
        let pulled = 200 - scope.outside - scope.resigned;
        let said = scope.explain(200, pulled);
        assert!(
            said.starts_with(&format!(
                "The pull read {pulled} of the org's 200 people; of the other {}, {} are outside the app's scope",
                200 - pulled,
                scope.outside
            )),
            "{said}"
        );
        assert!(
            said.contains("and 1 are people who left the company"),
            "{said}"
        );
        // Whatever the pull says is what the sentence counts.
        let said = scope.explain(200, pulled - 2);
        assert!(
            said.contains("and 3 are people the platform did not list"),
            "{said}"
        );
        let said = scope.explain(200, 200 - scope.outside);
        assert!(
            said.contains(&format!(
                "; the other {} are outside the app's scope",
                scope.outside
            )),
            "{said}"
        );
        assert_eq!(
            scope.explain(200, 200),
            "The pull read all 200 people of the org."
        );
    }

    #[test]
    fn the_example_target_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-ldap.toml");
        assert!(matches!(load_target(&path), Ok(TargetConfig::Ldap(_))));
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-ad.toml");
        match load_target(&path) {
            Ok(TargetConfig::Ldap(config)) => config.validate().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_target_files_are_named_in_the_error() {
        let missing = load_target(Path::new("/nonexistent/target.toml")).unwrap_err();
        assert!(missing.contains("/nonexistent/target.toml") && missing.contains("not found"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.toml");
        std::fs::write(&path, "kind = \"ldap\"\nurl = \"http://x\"\n").unwrap();
        let error = load_target(&path).unwrap_err();
        assert!(error.contains("target.toml"), "{error}");
        // A whole configuration, or a target table under its header: the error says what the
        // file should hold.
        for text in [
            "state_dir = \"/x\"\n[connectors.hq.target]\nkind = \"scim\"\n",
            "[target]\nkind = \"scim\"\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let error = load_target(&path).unwrap_err();
            assert!(
                error.contains("one target's keys at its top level")
                    && error.contains("config/demo-ldap.toml"),
                "{error}"
            );
        }
    }
}
