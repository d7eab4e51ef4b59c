//! The event counters of `/metrics` and the console's health page: events received, refused
//! (by reason), duplicates, event-driven runs (by reach), events folded into a run, and the lag
//! from a change to the end of the run that wrote it.

use super::metrics::{family, sample};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Upper bounds (seconds) of the lag histogram's buckets: seconds for events, up to the hour a
/// scheduled run would have taken.
const LAG_BUCKETS: [f64; 11] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
];

#[derive(Debug, Default)]
pub struct EventMetrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    received: BTreeMap<String, u64>,
    /// (connector, reason)
    refused: BTreeMap<(String, &'static str), u64>,
    duplicate: BTreeMap<String, u64>,
    coalesced: BTreeMap<String, u64>,
    /// (connector, reach)
    runs: BTreeMap<(String, &'static str), u64>,
    lag: BTreeMap<String, Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each of `LAG_BUCKETS`.
    buckets: [u64; LAG_BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// One connector's event counters since the daemon started (the health page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventCounts {
    pub received: u64,
    pub duplicate: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub coalesced: u64,
    pub runs: BTreeMap<&'static str, u64>,
}

impl EventMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn received(&self, connector: &str) {
        *self
            .lock()
            .received
            .entry(connector.to_owned())
            .or_default() += 1;
    }

    pub fn duplicate(&self, connector: &str) {
        *self
            .lock()
            .duplicate
            .entry(connector.to_owned())
            .or_default() += 1;
    }

    pub fn refused(&self, connector: &str, reason: &'static str) {
        *self
            .lock()
            .refused
            .entry((connector.to_owned(), reason))
            .or_default() += 1;
    }

    /// A run answered `events` events (all but the first were folded into it).
    pub fn run(&self, connector: &str, reach: &'static str, events: usize) {
        let mut c = self.lock();
        *c.runs.entry((connector.to_owned(), reach)).or_default() += 1;
        *c.coalesced.entry(connector.to_owned()).or_default() += events.saturating_sub(1) as u64;
    }

    /// From one change to the end of the run that wrote it.
    pub fn lag(&self, connector: &str, seconds: f64) {
        let mut c = self.lock();
        let histogram = c.lag.entry(connector.to_owned()).or_default();
        for (bound, n) in LAG_BUCKETS.iter().zip(histogram.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    pub fn of_connector(&self, connector: &str) -> EventCounts {
        let c = self.lock();
        let of = |map: &BTreeMap<String, u64>| map.get(connector).copied().unwrap_or(0);
        EventCounts {
            received: of(&c.received),
            duplicate: of(&c.duplicate),
            coalesced: of(&c.coalesced),
            refused: c
                .refused
                .iter()
                .filter(|((name, _), _)| name == connector)
                .map(|((_, reason), n)| (*reason, *n))
                .collect(),
            runs: c
                .runs
                .iter()
                .filter(|((name, _), _)| name == connector)
                .map(|((_, reach), n)| (*reach, *n))
                .collect(),
        }
    }

    pub fn render(&self, out: &mut String) {
        let c = self.lock();
        let per_connector =
            |out: &mut String, name: &str, help: &str, map: &BTreeMap<String, u64>| {
                family(out, name, "counter", help);
                for (connector, n) in map {
                    sample(out, name, &[("connector", connector)], *n as f64);
                }
            };
        per_connector(
            out,
            "orgsync_events_received_total",
            "Upstream change events accepted and stored, by connector.",
            &c.received,
        );
        family(
            out,
            "orgsync_events_refused_total",
            "counter",
            "Event requests refused and never acted on, by connector and reason.",
        );
        for ((connector, reason), n) in &c.refused {
            sample(
                out,
                "orgsync_events_refused_total",
                &[("connector", connector), ("reason", reason)],
                *n as f64,
            );
        }
        per_connector(
            out,
            "orgsync_events_duplicate_total",
            "Events received again (a platform's retry or a replay), stored once.",
            &c.duplicate,
        );
        per_connector(
            out,
            "orgsync_events_coalesced_total",
            "Events folded into a run beyond the first one of that run.",
            &c.coalesced,
        );
        family(
            out,
            "orgsync_event_runs_total",
            "counter",
            "Runs started by events, by connector and reach (people: focused; everyone: full).",
        );
        for ((connector, reach), n) in &c.runs {
            sample(
                out,
                "orgsync_event_runs_total",
                &[("connector", connector), ("reach", reach)],
                *n as f64,
            );
        }
        family(
            out,
            "orgsync_event_lag_seconds",
            "histogram",
            "From an upstream change (or its receipt) to the end of the run that wrote it.",
        );
        for (connector, histogram) in &c.lag {
            for (bound, n) in LAG_BUCKETS.iter().zip(histogram.buckets.iter()) {
                sample(
                    out,
                    "orgsync_event_lag_seconds_bucket",
                    &[("connector", connector), ("le", &bound.to_string())],
                    *n as f64,
                );
            }
            sample(
                out,
                "orgsync_event_lag_seconds_bucket",
                &[("connector", connector), ("le", "+Inf")],
                histogram.count as f64,
            );
            let labels = [("connector", connector.as_str())];
            sample(out, "orgsync_event_lag_seconds_sum", &labels, histogram.sum);
            sample(
                out,
                "orgsync_event_lag_seconds_count",
                &labels,
                histogram.count as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_per_connector_and_renders_a_cumulative_histogram() {
        let metrics = EventMetrics::default();
        metrics.received("hq");
        metrics.received("hq");
        metrics.duplicate("hq");
        metrics.refused("hq", "forged");
        metrics.refused("branch", "stale");
        metrics.run("hq", "people", 5);
        metrics.run("hq", "everyone", 1);
        metrics.lag("hq", 0.7);
        metrics.lag("hq", 4.0);
        let counts = metrics.of_connector("hq");
        assert_eq!(counts.received, 2);
        assert_eq!(counts.duplicate, 1);
        assert_eq!(counts.coalesced, 4);
        assert_eq!(counts.refused, BTreeMap::from([("forged", 1)]));
        assert_eq!(
            counts.runs,
            BTreeMap::from([("everyone", 1), ("people", 1)])
        );
        let mut text = String::new();
        metrics.render(&mut text);
        for line in [
            "orgsync_events_received_total{connector=\"hq\"} 2\n",
            "orgsync_events_refused_total{connector=\"branch\",reason=\"stale\"} 1\n",
            "orgsync_events_coalesced_total{connector=\"hq\"} 4\n",
            "orgsync_event_runs_total{connector=\"hq\",reach=\"people\"} 1\n",
            "orgsync_event_lag_seconds_bucket{connector=\"hq\",le=\"0.5\"} 0\n",
            "orgsync_event_lag_seconds_bucket{connector=\"hq\",le=\"1\"} 1\n",
            "orgsync_event_lag_seconds_bucket{connector=\"hq\",le=\"5\"} 2\n",
            "orgsync_event_lag_seconds_bucket{connector=\"hq\",le=\"+Inf\"} 2\n",
            "orgsync_event_lag_seconds_count{connector=\"hq\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
