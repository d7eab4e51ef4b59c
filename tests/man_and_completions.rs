//! The man pages (`orgsync man --dir`) render with `man -l` without a warning, orgsync.toml(5)
//! holds every key of README's configuration table, and the completions complete.
//! scripts/test installs man-db when `man` is missing.

use std::path::Path;
use std::process::Command;

fn orgsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
}

/// `orgsync man --dir` into a new temporary directory.
fn written_pages() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = orgsync()
        .args(["man", "--dir"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

#[test]
fn every_man_page_renders_without_warnings() {
    let dir = written_pages();
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for expected in [
        "orgsync.1",
        "orgsync-sync.1",
        "orgsync-reports-list.1",
        "orgsync.toml.5",
    ] {
        assert!(
            pages.iter().any(|p| p == expected),
            "{expected} in {pages:?}"
        );
    }
    assert!(
        !pages.iter().any(|p| p.starts_with("orgsync-man")),
        "{pages:?}"
    );
    for page in &pages {
        let output = Command::new("man")
            .args(["-l", "--warnings"])
            .arg(dir.path().join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "")
            .output()
            .unwrap_or_else(|e| panic!("cannot run man ({e}); scripts/test installs man-db"));
        let warnings = String::from_utf8_lossy(&output.stderr);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && warnings.trim().is_empty(),
            "{page}: {warnings}"
        );
        assert!(text.contains("NAME"), "{page}: {text}");
    }
    let config = render(&dir.path().join("orgsync.toml.5"));
    for key in [
        ".source.retry.budget",
        "daemon.events.listen",
        "history.keep",
    ] {
        assert!(config.contains(key), "{key} missing from orgsync.toml(5)");
    }
}

fn render(page: &Path) -> String {
    let output = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "400")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rows of the first `| key | default | meaning |` table in `markdown`.
fn config_table(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .skip_while(|l| !l.starts_with("| key | default | meaning |"))
        .take_while(|l| l.starts_with('|'))
        .collect()
}

/// The page is built from README's table: every one of its keys is on the rendered page.
#[test]
fn the_config_page_holds_readmes_table() {
    let dir = written_pages();
    // man may typeset `-` as a hyphen or minus sign.
    let page = render(&dir.path().join("orgsync.toml.5")).replace(['\u{2010}', '\u{2212}'], "-");
    let readme = config_table(include_str!("../README.md"));
    assert!(readme.len() > 40, "README's table not found");
    let keys: Vec<&str> = readme
        .iter()
        .filter_map(|row| row.split('`').nth(1))
        .filter(|key| !key.is_empty())
        .collect();
    let missing: Vec<_> = keys.iter().filter(|k| !page.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "README keys missing from orgsync.toml(5): {missing:#?}"
    );
}

fn completion_script(shell: &str) -> String {
    let output = orgsync().args(["completions", shell]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// What bash completes after `words` (the last one being completed), with the script loaded.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("orgsync.bash");
    std::fs::write(&script, completion_script("bash")).unwrap();
    let line = words.join(" ");
    let program = format!(
        "source {script:?}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE={line:?}\n\
         COMP_POINT=${{#COMP_LINE}}\n_orgsync orgsync {current:?} {previous:?}\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words
            .iter()
            .map(|w| format!("{w:?}"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let subcommands = bash_completes(&["orgsync", ""]);
    for expected in ["sync", "run", "demo", "completions", "check-config"] {
        assert!(
            subcommands.iter().any(|c| c == expected),
            "{expected}: {subcommands:?}"
        );
    }
    let flags = bash_completes(&["orgsync", "sync", "--"]);
    assert!(flags.iter().any(|c| c == "--dry-run"), "{flags:?}");
    let formats = bash_completes(&["orgsync", "--log-format", ""]);
    assert!(formats.iter().any(|c| c == "journal"), "{formats:?}");
}

#[test]
fn zsh_and_fish_scripts_are_generated_and_parse_where_installed() {
    for (shell, marker) in [("zsh", "#compdef orgsync"), ("fish", "complete -c orgsync")] {
        let script = completion_script(shell);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("check-config"), "{shell}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(shell);
        std::fs::write(&path, &script).unwrap();
        // Only where the shell is installed: scripts/test does not install zsh or fish.
        if let Ok(output) = Command::new(shell).arg("-n").arg(&path).output() {
            assert!(output.status.success(), "{shell} -n: {output:?}");
        }
    }
}
