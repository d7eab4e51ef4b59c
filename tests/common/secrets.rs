//! A scan for secret values in anything orgsync prints: logs, reports, error messages and the
//! daemon's admin API answers.

/// The values that must never be printed, with a label for the failure message.
#[derive(Default, Clone)]
pub struct SecretScan {
    secrets: Vec<(String, String)>,
    /// How many texts were scanned, and their total length (to show the scan saw something).
    pub scanned: usize,
    pub bytes: usize,
}

impl SecretScan {
    /// Adds a secret value. Values shorter than 6 characters would match by accident; refuse them
    /// so a test cannot pass by scanning for nothing.
    pub fn secret(&mut self, label: &str, value: &str) -> &mut Self {
        assert!(
            value.len() >= 6,
            "{label}: too short to scan for: {value:?}"
        );
        self.secrets.push((label.to_owned(), value.to_owned()));
        self
    }

    /// Fails when `text` (what `what` printed) contains any secret value.
    pub fn check(&mut self, what: &str, text: &str) {
        self.scanned += 1;
        self.bytes += text.len();
        for (label, value) in &self.secrets {
            if let Some(at) = text.find(value.as_str()) {
                let start = text[..at]
                    .char_indices()
                    .rev()
                    .nth(80)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "{what} printed the secret {label}, here: …{}…",
                    &text[start..at]
                );
            }
        }
    }

    /// Checks a finished process: stdout and stderr.
    pub fn check_output(&mut self, what: &str, output: &std::process::Output) {
        self.check(
            &format!("{what} (stdout)"),
            &String::from_utf8_lossy(&output.stdout),
        );
        self.check(
            &format!("{what} (stderr)"),
            &String::from_utf8_lossy(&output.stderr),
        );
    }
}
