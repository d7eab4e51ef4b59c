//! Notification counters for `/metrics`: messages by channel and outcome (sent, failed,
//! suppressed as a repeat, dropped on a full queue).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics(Arc<Mutex<BTreeMap<(String, &'static str), u64>>>);

impl NotifyMetrics {
    pub fn count(&self, channel: &str, outcome: &'static str) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((channel.to_owned(), outcome)).or_default() += 1;
    }

    /// The count of `outcome` on `channel` so far.
    pub fn get(&self, channel: &str, outcome: &'static str) -> u64 {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(&(channel.to_owned(), outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Appends the Prometheus text.
    pub fn render(&self, out: &mut String) {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP orgsync_notify_sent_total Notifications by channel and outcome (sent, failed, suppressed, dropped).\n# TYPE orgsync_notify_sent_total counter"
        );
        for ((channel, outcome), n) in counts.iter() {
            let _ = writeln!(
                out,
                "orgsync_notify_sent_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
}
