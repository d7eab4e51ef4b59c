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
