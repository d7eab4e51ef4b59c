//! Driving the real `orgsync` binary against in-process emulators: a config file pointing at them,
//! secrets passed through the environment (`env:` references), never written in the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const WECOM_SECRET_VAR: &str = "TEST_WECOM_SECRET";
pub const SCIM_TOKEN_VAR: &str = "TEST_SCIM_TOKEN";

/// A config file for connector `hq` (WeCom → SCIM) and the secrets its `env:` references name.
pub struct BinaryConfig {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// What goes into the file beside the emulators' addresses.
#[derive(Default)]
pub struct Extra<'a> {
    /// Lines added to `[connectors.hq.target]`, e.g. `concurrency = 2`.
    pub target: &'a str,
    /// Lines of `[connectors.hq.policy]`.
    pub policy: &'a str,
}

/// Writes `dir/NAME.toml` for the WeCom and SCIM emulators at these addresses, with quick retries.
pub fn wecom_scim_config(
    dir: &Path,
    name: &str,
    wecom: &emulators::wecom::WecomHandle,
    scim_url: &str,
    scim_token: &str,
    extra: Extra<'_>,
) -> BinaryConfig {
    let state_dir = dir.join(format!("{name}-state"));
    let path = dir.join(format!("{name}.toml"));
    let source = format!(
        "kind = \"wecom\"\ncorp_id = \"{}\"\nsecret = \"env:{WECOM_SECRET_VAR}\"\nagent_id = {}\napi_base = \"{}\"",
        wecom.config().corpid,
        wecom.config().agentid,
        wecom.base_url()
    );
    write_config(&path, &state_dir, &source, scim_url, extra);
    BinaryConfig {
        path,
        state_dir,
        env: vec![
            (WECOM_SECRET_VAR.into(), wecom.config().corpsecret.clone()),
            (SCIM_TOKEN_VAR.into(), scim_token.into()),
        ],
    }
}

/// Writes a config for connector `hq`: this source section, the SCIM target at `scim_url` with
/// its token from `$TEST_SCIM_TOKEN`, quick retries on both sides.
pub fn write_config(path: &Path, state_dir: &Path, source: &str, scim_url: &str, extra: Extra<'_>) {
    std::fs::write(
        path,
        format!(
            r#"
state_dir = "{state}"

[connectors.hq.source]
{source}
retry = {{ max_attempts = 3, min_delay = "1ms", max_delay = "10ms" }}

[connectors.hq.target]
kind = "scim"
base_url = "{scim_url}"
token = "env:{SCIM_TOKEN_VAR}"
retry = {{ max_attempts = 3, min_delay = "1ms", max_delay = "10ms" }}
{target}

[connectors.hq.policy]
{policy}
"#,
            state = state_dir.display(),
            target = extra.target,
            policy = extra.policy,
        ),
    )
    .unwrap();
}

impl BinaryConfig {
    /// `orgsync --config FILE ARGS…` with the secrets in its environment and warnings-only logs.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(std::path::Path::new(env!("CARGO_BIN_EXE_orgsync")), args)
    }

    /// The same command, run from a copy of the binary at `binary`.
    pub fn command_of(&self, binary: &std::path::Path, args: &[&str]) -> Command {
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&self.path)
            .args(args)
            .env("ORGSYNC_LOG", "warn")
            .env("NO_COLOR", "1");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

/// stdout and stderr together, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// SplitMix64: a seeded generator for test decisions, stable across platforms.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
