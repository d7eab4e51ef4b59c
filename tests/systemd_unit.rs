//! `systemd/orgsync.service` passes `systemd-analyze verify` without a single diagnostic, and says
//! what the service relies on. scripts/test installs systemd when `systemd-analyze` is missing, so a
//! missing tool fails this test rather than skipping it.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../systemd/orgsync.service");

#[test]
fn unit_verifies_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // verify checks that the executables exist: point them at the binary under test.
    let unit = UNIT.replace("/usr/bin/orgsync", env!("CARGO_BIN_EXE_orgsync"));
    let path = dir.path().join("orgsync.service");
    std::fs::write(&path, unit).unwrap();
    let output = verify(&path);
    let diagnostics = String::from_utf8_lossy(&output.stderr);
    // systemd-analyze exits 0 on unknown keys and bad values; any output is a defect.
    assert!(
        output.status.success() && diagnostics.trim().is_empty(),
        "systemd-analyze verify: {:?}\n{diagnostics}",
        output.status
    );
}

#[test]
fn verify_catches_a_broken_unit() {
    // Guards the test above: the same check flags a wrong value.
    let dir = tempfile::tempdir().unwrap();
    let unit = UNIT
        .replace("/usr/bin/orgsync", env!("CARGO_BIN_EXE_orgsync"))
        .replace("Type=notify", "Type=notified");
    let path = dir.path().join("orgsync.service");
    std::fs::write(&path, unit).unwrap();
    let output = verify(&path);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("service type"),
        "{output:?}"
    );
}

fn verify(path: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}); install Debian's systemd (scripts/test does)")
        })
}

#[test]
fn unit_has_what_the_service_relies_on() {
    for line in [
        "Type=notify",
        "ExecStartPre=/usr/bin/orgsync check-config",
        "ExecStart=/usr/bin/orgsync run",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "StateDirectory=orgsync",
        "RuntimeDirectory=orgsync",
        "ConfigurationDirectory=orgsync",
        "User=orgsync",
        "LoadCredential=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        // Room for upstream and target connections, the state database and admin API clients.
        "LimitNOFILE=65536",
    ] {
        assert!(
            UNIT.lines().any(|l| l.starts_with(line)),
            "missing {line:?}"
        );
    }
    // The stop timeout leaves room for the daemon's own (30 s by default).
    assert!(UNIT.contains("TimeoutStopSec=45s"));
}
