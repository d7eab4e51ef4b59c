//! Runs an upstream emulator outside the test suite, or writes a generated org fixture.
//!
//! ```text
//! orgsync-emulator wecom [--fixture org.json] [--port 18080] [--corpid C] [--secret S] [--agentid N] [--token-ttl SECS]
//!                        [--lists granted|refused] [--hourly-limit N]
//! orgsync-emulator dingtalk [--fixture org.json] [--port 18080] [--agentid N] [--roster granted|refused]
//!                           [--roster-quota N]
//! orgsync-emulator feishu|bitrix24 [--fixture org.json] [--port 18080]
//! orgsync-emulator scim [--port 18081] [--token T]
//! orgsync-emulator generate [--people N] [--departments D] [--seed S] [--out-of-scope SHARE]
//!                           [--disabled N] [--not-activated N] [--resigned N] [--no-sensitive-fields] > org.json
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use emulators::fixture::Org;
use emulators::generator::{self, GeneratorConfig};
use emulators::wecom::{self, WecomConfig};

const USAGE: &str = "\
usage:
  orgsync-emulator wecom [--fixture org.json] [--port PORT] [--corpid C] [--secret S]
                         [--agentid N] [--token-ttl SECS] [--lists granted|refused]
                         [--hourly-limit N]
      Serves the WeCom contact API on 127.0.0.1 (port 0 = any free port; default) until Ctrl-C.
      --lists refused answers department/list and user/list with 48002 (a newer app);
      --hourly-limit N blocks an API for an hour after N calls in an hour (default 150000).
      Without --fixture it serves the default generated org. Prints the base URL on stdout.
  orgsync-emulator dingtalk [--fixture org.json] [--port PORT] [--agentid N]
                            [--roster granted|refused] [--roster-quota N]
      Serves the DingTalk contact API and the HR roster the same way.
      --roster refused answers the roster with errcode 88 / sub_code 60011 (no permission);
      --roster-quota N answers 90020 (the month's quota spent) after N roster calls.
  orgsync-emulator feishu|bitrix24 [--fixture org.json] [--port PORT]
      Serves that platform's contact API the same way.
      Every upstream but WeCom uses the emulator's default app credentials (printed on stderr).
  orgsync-emulator scim [--port PORT] [--token T]
      Serves an empty SCIM 2.0 target (RFC 7643/7644 /Users) until Ctrl-C. Prints its base URL.
  orgsync-emulator generate [--people N] [--departments D] [--seed S] [--out-of-scope SHARE]
                            [--disabled N] [--not-activated N] [--resigned N] [--no-sensitive-fields]
      Writes a deterministic org fixture (JSON) to stdout.
  orgsync-emulator help";

/// Flags after the subcommand, as `--name value`, `--name=value` or a bare `--switch`.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn parse(args: impl Iterator<Item = String>, switches: &[&str]) -> Result<Flags, String> {
        let mut flags = Vec::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            if let Some((name, value)) = name.split_once('=') {
                flags.push((name.to_owned(), Some(value.to_owned())));
            } else if switches.contains(&name) {
                flags.push((name.to_owned(), None));
            } else {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                flags.push((name.to_owned(), Some(value)));
            }
        }
        Ok(Flags(flags))
    }

    /// Takes the last value of `--name`, parsed.
    fn take<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        let mut found = None;
        self.0.retain(|(flag, value)| {
            let hit = flag == name;
            if hit {
                found = Some(value.clone());
            }
            !hit
        });
        match found {
            None => Ok(None),
            Some(None) => Err(format!("--{name} needs a value")),
            Some(Some(value)) => value
                .parse()
                .map(Some)
                .map_err(|_| format!("invalid value for --{name}: {value:?}")),
        }
    }

    fn switch(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0
            .retain(|(flag, value)| !(flag == name && value.is_none()));
        self.0.len() != before
    }

    /// Fails on any flag no one took.
    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some((name, _)) => Err(format!("unknown option --{name}")),
            None => Ok(()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("wecom") => run_wecom(args).await,
        Some(platform @ ("dingtalk" | "feishu" | "bitrix24")) => {
            run_upstream(platform.to_owned(), args).await
        }
        Some("scim") => run_scim(args).await,
        Some("generate") => run_generate(args),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(Failure::Usage(format!("unknown command {other:?}"))),
        None => Err(Failure::Usage("missing command".to_owned())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("orgsync-emulator: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("orgsync-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Usage(message)
    }
}

async fn run_wecom(args: impl Iterator<Item = String>) -> Result<(), Failure> {
    let mut flags = Flags::parse(args, &[])?;
    let fixture: Option<String> = flags.take("fixture")?;
    let port: u16 = flags.take("port")?.unwrap_or(0);
    let defaults = WecomConfig::default();
    let config = WecomConfig {
        corpid: flags.take("corpid")?.unwrap_or(defaults.corpid),
        corpsecret: flags.take("secret")?.unwrap_or(defaults.corpsecret),
        agentid: flags.take("agentid")?.unwrap_or(defaults.agentid),
        token_ttl: flags
            .take("token-ttl")?
            .map(Duration::from_secs)
            .unwrap_or(defaults.token_ttl),
        list_access: flags.take("lists")?.unwrap_or(defaults.list_access),
        hourly_limit: flags.take("hourly-limit")?.unwrap_or(defaults.hourly_limit),
        ..defaults
    };
    flags.finish()?;

    let org = match &fixture {
        Some(path) => Org::load(path).map_err(|e| Failure::Runtime(e.to_string()))?,
        None => generator::generate(&GeneratorConfig::default()),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (users, departments) = (org.users.len(), org.departments.len());
    let server = wecom::start_on(addr, org, config.clone())
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;

    println!("{}", server.base_url());
    let _ = std::io::stdout().flush();
    eprintln!(
        "WeCom emulator: {users} users, {departments} departments from {}\n  corpid={} corpsecret={} agentid={}\n  Ctrl-C to stop",
        fixture.as_deref().unwrap_or("the default generated org"),
        config.corpid,
        config.corpsecret,
        config.agentid,
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot wait for Ctrl-C: {e}")))?;
    server.shutdown().await;
    Ok(())
}

/// The org to serve: a fixture file, or the default generated org.
fn load_org(fixture: Option<&str>) -> Result<Org, Failure> {
    match fixture {
        Some(path) => Org::load(path).map_err(|e| Failure::Runtime(e.to_string())),
        None => Ok(generator::generate(&GeneratorConfig::default())),
    }
}

/// Prints the base URL on stdout (for scripts), the rest on stderr, then serves until Ctrl-C.
async fn serve_until_ctrl_c(base_url: String, about: String) -> Result<(), Failure> {
    println!("{base_url}");
    let _ = std::io::stdout().flush();
    eprintln!("{about}\n  Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot wait for Ctrl-C: {e}")))
}

async fn run_upstream(platform: String, args: impl Iterator<Item = String>) -> Result<(), Failure> {
    let mut flags = Flags::parse(args, &[])?;
    let fixture: Option<String> = flags.take("fixture")?;
    let port: u16 = flags.take("port")?.unwrap_or(0);
    let dingtalk = if platform == "dingtalk" {
        let defaults = emulators::dingtalk::DingtalkConfig::default();
        emulators::dingtalk::DingtalkConfig {
            agent_id: flags.take("agentid")?.unwrap_or(defaults.agent_id),
            roster: flags.take("roster")?.unwrap_or(defaults.roster),
            roster_quota: flags.take("roster-quota")?.or(defaults.roster_quota),
            ..defaults
        }
    } else {
        Default::default()
    };
    flags.finish()?;
    let org = load_org(fixture.as_deref())?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listen = |e: std::io::Error| Failure::Runtime(format!("cannot listen on {addr}: {e}"));
    let source = fixture.as_deref().unwrap_or("the default generated org");
    let size = format!(
        "{} users, {} departments from {source}",
        org.users.len(),
        org.departments.len()
    );
    match platform.as_str() {
        "dingtalk" => {
            let server = emulators::dingtalk::start_on(addr, org, dingtalk)
                .await
                .map_err(listen)?;
            let c = server.config().clone();
            let about = format!(
                "DingTalk emulator: {size}\n  app_key={} app_secret={} agentid={} roster={}",
                c.app_key,
                c.app_secret,
                c.agent_id,
                match c.roster {
                    emulators::dingtalk::RosterAccess::Granted => "granted",
                    emulators::dingtalk::RosterAccess::NotGranted => "refused",
                }
            );
            serve_until_ctrl_c(server.base_url(), about).await?;
            server.shutdown().await;
        }
        "feishu" => {
            let server = emulators::feishu::start_on(addr, org, Default::default())
                .await
                .map_err(listen)?;
            let c = server.config().clone();
            let about = format!(
                "Feishu emulator: {size}\n  app_id={} app_secret={}",
                c.app_id, c.app_secret
            );
            serve_until_ctrl_c(server.base_url(), about).await?;
            server.shutdown().await;
        }
        _ => {
            let server = emulators::bitrix24::start_on(addr, org, Default::default())
                .await
                .map_err(listen)?;
            let about = format!(
                "Bitrix24 emulator: {size}\n  inbound webhook URL (the secret): {}",
                server.base_url()
            );
            serve_until_ctrl_c(server.base_url(), about).await?;
            server.shutdown().await;
        }
    }
    Ok(())
}

async fn run_scim(args: impl Iterator<Item = String>) -> Result<(), Failure> {
    let mut flags = Flags::parse(args, &[])?;
    let port: u16 = flags.take("port")?.unwrap_or(0);
    let defaults = emulators::scim::ScimConfig::default();
    let config = emulators::scim::ScimConfig {
        bearer_token: flags
            .take("token")?
            .unwrap_or(defaults.bearer_token.clone()),
        ..defaults
    };
    flags.finish()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = emulators::scim::start_on(addr, config)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;
    let about = format!(
        "SCIM 2.0 target emulator\n  bearer token={}",
        server.bearer_token()
    );
    serve_until_ctrl_c(server.base_url().to_owned(), about).await?;
    server.shutdown().await;
    Ok(())
}

fn run_generate(args: impl Iterator<Item = String>) -> Result<(), Failure> {
    let mut flags = Flags::parse(args, &["no-sensitive-fields"])?;
    let defaults = GeneratorConfig::default();
    let config = GeneratorConfig {
        people: flags.take("people")?.unwrap_or(defaults.people),
        departments: flags.take("departments")?.unwrap_or(defaults.departments),
        seed: flags.take("seed")?.unwrap_or(defaults.seed),
        out_of_scope_share: flags
            .take("out-of-scope")?
            .unwrap_or(defaults.out_of_scope_share),
        disabled: flags.take("disabled")?.unwrap_or(defaults.disabled),
        not_activated: flags
            .take("not-activated")?
            .unwrap_or(defaults.not_activated),
        resigned: flags.take("resigned")?.unwrap_or(defaults.resigned),
        sensitive_fields: !flags.switch("no-sensitive-fields"),
    };
    flags.finish()?;
    if !(0.0..=1.0).contains(&config.out_of_scope_share) {
        return Err(Failure::Usage(
            "--out-of-scope must be between 0 and 1".to_owned(),
        ));
    }
    let json = generator::generate(&config).to_json_pretty();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Runtime(format!("cannot write the fixture: {e}")))
}
