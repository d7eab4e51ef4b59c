//! The log's shapes on the binary: under systemd (stderr is `$JOURNAL_STREAM`) syslog priority
//! prefixes and no timestamps, so `journalctl -p err` shows exactly the ERROR lines; `json` one
//! object per line. The ERROR comes from a one-shot sync whose target is unreachable.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

const CONFIG: &str = r#"
[connectors.hq.source]
kind = "wecom"
corp_id = "ww1"
agent_id = 1
secret = "env:ORGSYNC_TEST_SECRET"
api_base = "http://127.0.0.1:1"
retry = { max_attempts = 1 }
[connectors.hq.target]
kind = "scim"
base_url = "http://127.0.0.1:1/scim/v2"
token = "env:ORGSYNC_TEST_SECRET"
retry = { max_attempts = 1 }
"#;

/// Runs `orgsync sync hq` (plus `args`) with stderr in a file; `journal_stream` is `$JOURNAL_STREAM`
/// or, when `None`, that file's own device and inode (as systemd sets it). Returns stderr.
fn sync_log(args: &[&str], journal_stream: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orgsync.toml");
    let state = dir.path().join("state");
    std::fs::write(
        &config,
        format!("state_dir = {:?}\n{CONFIG}", state.display().to_string()),
    )
    .unwrap();
    let log_path = dir.path().join("stderr");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let stream = journal_stream.map_or(format!("{}:{}", meta.dev(), meta.ino()), str::to_owned);
    let status = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .args(["sync", "hq"])
        .env("ORGSYNC_TEST_SECRET", "s3cret-value")
        .env("JOURNAL_STREAM", stream)
        .env_remove("ORGSYNC_LOG_FORMAT")
        .env_remove("ORGSYNC_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .status()
        .unwrap();
    assert!(!status.success(), "a sync to an unreachable target fails");
    std::fs::read_to_string(&log_path).unwrap()
}

fn has_timestamp(line: &str) -> bool {
    // 2026-12-07T02:13:24.226062Z
    line.as_bytes().windows(11).any(|w| {
        w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-' && w[7] == b'-' && w[10] == b'T'
    })
}

#[test]
fn under_journald_errors_are_priority_3_without_timestamps() {
    let log = sync_log(&[], None);
    let logged: Vec<&str> = log.lines().filter(|l| l.starts_with('<')).collect();
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("<3>ERROR") && l.contains("The target refused its check")),
        "{log}"
    );
    assert!(logged.iter().any(|l| l.starts_with("<6> INFO")), "{log}");
    assert!(!log.lines().any(has_timestamp), "{log}");
    // What `journalctl -p err` shows: the ERROR lines, and only those.
    for line in &logged {
        assert_eq!(line.starts_with("<3>"), line.contains("ERROR"), "{line}");
    }
    assert!(!log.contains("s3cret-value"), "{log}");
}

#[test]
fn a_journal_stream_that_is_not_stderr_means_text() {
    // A shell started from a service inherits $JOURNAL_STREAM with another stderr.
    let log = sync_log(&[], Some("1:1"));
    assert!(!log.lines().any(|l| l.starts_with("<3>")), "{log}");
    assert!(
        log.lines().any(|l| l.contains("ERROR") && has_timestamp(l)),
        "{log}"
    );
}

#[test]
fn json_is_one_object_per_line() {
    let log = sync_log(&["--log-format", "json"], None);
    let objects: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let error = objects
        .iter()
        .find(|o| o["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR object: {log}"));
    assert!(error["timestamp"].is_string(), "{error}");
    assert!(error["fields"]["message"].is_string(), "{error}");
    assert!(!log.contains("s3cret-value"), "{log}");
}

#[test]
fn an_unknown_log_format_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .args(["--log-format", "syslog", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("syslog") && stderr.contains("journal"),
        "{stderr}"
    );
}
