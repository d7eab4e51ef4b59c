//! Debian's Chromium driven by playwright-core from tests/browser/ (installed by scripts/test).

use std::path::{Path, PathBuf};

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Fails (rather than skips) without the browser: a skipped check would pass silently.
pub fn require_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed (/usr/bin/chromium): run scripts/test, which installs it"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in tests/browser/node_modules: run scripts/test, which installs it"
    );
}

/// Runs `script` (in tests/browser/) on `spec`, written to `spec_path`; the JSON it prints.
/// A failing script panics with its output and `context()` (a log worth seeing).
pub fn run_script(
    script: &str,
    spec: &serde_json::Value,
    spec_path: &Path,
    context: impl FnOnce() -> String,
) -> serde_json::Value {
    std::fs::write(spec_path, spec.to_string()).unwrap();
    let output = std::process::Command::new("node")
        .arg(browser_dir().join(script))
        .arg(spec_path)
        .current_dir(browser_dir())
        .output()
        .expect("node runs (npm and node come with the machine)");
    assert!(
        output.status.success(),
        "the browser script {script} failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        context()
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
