//! The Debian package on this machine, with the real dpkg: scripts/package packages the binary
//! under test, then install (user, directories, owners and modes, the unit enabled, `orgsync
//! --version`, `systemd-analyze verify`), an upgrade with a locally edited conffile and state
//! (both kept), remove (state and config kept) and purge (both gone). Needs root: CI runs as root;
//! elsewhere the test says it is skipped. It never touches an orgsync package already installed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds a package of the test binary; `flags` go to cargo-deb. Returns the .deb's path.
fn package(flags: &[&str]) -> PathBuf {
    let stdout = run(Command::new(Path::new(ROOT).join("scripts/package"))
        .arg("--no-build")
        .arg(env!("CARGO_BIN_EXE_orgsync"))
        .args(flags));
    let deb = stdout.lines().last().unwrap_or_default().trim();
    assert!(deb.ends_with(".deb"), "{stdout}");
    PathBuf::from(deb)
}

fn dpkg(args: &[&str]) -> String {
    run(Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Mode, owner and group names of `path`.
fn owned(path: &str) -> (u32, String, String) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |db: &str, id: u32| {
        let line = run(Command::new("getent").args([db, &id.to_string()]));
        line.split(':').next().unwrap_or_default().to_owned()
    };
    (
        meta.permissions().mode() & 0o7777,
        name("passwd", meta.uid()),
        name("group", meta.gid()),
    )
}

/// Purges the package when the test ends, passed or not.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "orgsync"]).status();
    }
}

#[test]
fn install_upgrade_remove_purge() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED: the Debian package test installs with dpkg and needs root (CI runs as root)"
        );
        return;
    }
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "orgsync"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("installed"))
        .unwrap_or(false);
    if installed {
        eprintln!(
            "SKIPPED: a package orgsync is installed on this machine; the test leaves it alone"
        );
        return;
    }
    let first = package(&[]);
    let _purge = Purge;
    dpkg(&["-i", first.to_str().unwrap()]);

    let version = run(Command::new("/usr/bin/orgsync").arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    run(Command::new("getent").args(["passwd", "orgsync"]));
    let root_owned = |mode| (mode, "root".to_owned(), "root".to_owned());
    assert_eq!(owned("/usr/bin/orgsync"), root_owned(0o755));
    assert_eq!(
        owned("/etc/orgsync"),
        (0o750, "root".into(), "orgsync".into())
    );
    assert_eq!(
        owned("/etc/orgsync/orgsync.toml"),
        (0o640, "root".into(), "orgsync".into())
    );
    assert_eq!(owned("/etc/orgsync/credentials"), root_owned(0o700));
    assert_eq!(
        owned("/var/lib/orgsync"),
        (0o700, "orgsync".into(), "orgsync".into())
    );
    let conffiles = dpkg(&["--status", "orgsync"]);
    assert!(
        conffiles.contains(" /etc/orgsync/orgsync.toml "),
        "{conffiles}"
    );
    for file in [
        "/usr/lib/systemd/system/orgsync.service",
        "/usr/lib/sysusers.d/orgsync.conf",
        "/usr/lib/tmpfiles.d/orgsync.conf",
        "/usr/share/man/man1/orgsync.1.gz",
        "/usr/share/man/man1/orgsync-sync.1.gz",
        "/usr/share/man/man5/orgsync.toml.5.gz",
        "/usr/share/bash-completion/completions/orgsync",
        "/usr/share/zsh/vendor-completions/_orgsync",
        "/usr/share/fish/vendor_completions.d/orgsync.fish",
        "/usr/share/doc/orgsync/copyright",
        "/usr/share/doc/orgsync/changelog.Debian.gz",
    ] {
        assert_eq!(owned(file), root_owned(0o644), "{file}");
    }
    // Enabled (the boot-time link) but not started: nothing runs until it is configured.
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/orgsync.service").exists(),
        "the unit is not enabled"
    );
    let verify = Command::new("systemd-analyze")
        .args([
            "verify",
            "--man=no",
            "/usr/lib/systemd/system/orgsync.service",
        ])
        .output()
        .unwrap();
    let diagnostics = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && diagnostics.trim().is_empty(),
        "systemd-analyze verify: {diagnostics}"
    );

    // An upgrade to a newer revision keeps the admin's edited config and the state.
    let edited = format!(
        "{}\n# edited by the admin\n",
        std::fs::read_to_string("/etc/orgsync/orgsync.toml").unwrap()
    );
    std::fs::write("/etc/orgsync/orgsync.toml", &edited).unwrap();
    std::fs::write("/var/lib/orgsync/state-marker", "state").unwrap();
    let second = package(&["--deb-version", &format!("{}-2", env!("CARGO_PKG_VERSION"))]);
    assert_ne!(first, second);
    dpkg(&["-i", second.to_str().unwrap()]);
    let status = dpkg(&["--status", "orgsync"]);
    assert!(
        status.contains(&format!("Version: {}-2", env!("CARGO_PKG_VERSION"))),
        "{status}"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/orgsync/orgsync.toml").unwrap(),
        edited
    );
    assert_eq!(
        owned("/etc/orgsync/orgsync.toml"),
        (0o640, "root".into(), "orgsync".into())
    );
    assert!(Path::new("/var/lib/orgsync/state-marker").exists());

    // Remove: the program goes, the state and the config stay.
    dpkg(&["--remove", "orgsync"]);
    assert!(!Path::new("/usr/bin/orgsync").exists());
    assert!(Path::new("/var/lib/orgsync/state-marker").exists());
    assert!(Path::new("/etc/orgsync/orgsync.toml").exists());

    // Purge: the state and the config go too.
    dpkg(&["--purge", "orgsync"]);
    for gone in [
        "/var/lib/orgsync",
        "/etc/orgsync/orgsync.toml",
        "/etc/orgsync/credentials",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} survives the purge");
    }
}
