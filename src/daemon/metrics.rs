//! Prometheus text exposition of what the daemon's runs did, gathered from their reports.
//! Hand-written: a few counters and gauges do not justify a metrics framework.

use crate::engine::StepOutcome;
use crate::report::{Report, RunOutcome};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
    /// Upstream change events (`[connectors.NAME.events]`).
    pub events: super::events_metrics::EventMetrics,
    /// Notifications (`[[notify]]`), shared with their delivery tasks.
    pub notify: crate::notify::NotifyMetrics,
}

#[derive(Debug, Default)]
struct Counters {
    /// (connector, outcome)
    runs: BTreeMap<(String, &'static str), u64>,
    /// (connector, kind, outcome)
    steps: BTreeMap<(String, &'static str, &'static str), u64>,
    /// connector → (sum of seconds, pulls)
    pull_seconds: BTreeMap<String, (f64, u64)>,
    /// (connector, platform, endpoint)
    calls: BTreeMap<(String, String, String), u64>,
    /// (connector, platform, code)
    errors: BTreeMap<(String, String, String), u64>,
    /// connector → unix seconds of the last run that ended planned or applied
    last_success: BTreeMap<String, f64>,
    /// Runs that ended without a report (the state storage failed).
    run_errors: BTreeMap<String, u64>,
}

/// What `Metrics::of_connector` reads out: runs by outcome label, upstream calls and error
/// answers by code, since the daemon started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectorCounts {
    pub runs: BTreeMap<&'static str, u64>,
    pub runs_without_report: u64,
    pub upstream_calls: u64,
    pub upstream_errors: BTreeMap<String, u64>,
}

/// The label value of a run outcome.
pub fn outcome_label(outcome: &RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Running => "running",
        RunOutcome::Planned => "planned",
        RunOutcome::Applied => "applied",
        RunOutcome::PartiallyApplied { .. } => "partially_applied",
        RunOutcome::Interrupted { .. } => "interrupted",
        RunOutcome::BreakerTripped { .. } => "breaker_tripped",
        RunOutcome::Refused { .. } => "refused",
        RunOutcome::Failed { .. } => "failed",
    }
}

fn step_label(outcome: &StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Planned => "planned",
        StepOutcome::Applied => "applied",
        StepOutcome::Failed { .. } => "failed",
        StepOutcome::Held { .. } => "held",
    }
}

impl Metrics {
    /// Counters that share the notifications' counts with their delivery tasks.
    pub fn with_notify(notify: crate::notify::NotifyMetrics) -> Self {
        Metrics {
            notify,
            ..Metrics::default()
        }
    }

    /// Counts one finished run.
    pub fn observe(&self, report: &Report) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let connector = report.connector.clone();
        *c.runs
            .entry((connector.clone(), outcome_label(&report.outcome)))
            .or_default() += 1;
        for step in &report.steps {
            *c.steps
                .entry((
                    connector.clone(),
                    step.step.kind().as_str(),
                    step_label(&step.outcome),
                ))
                .or_default() += 1;
        }
        let (calls, errors) = match &report.pull {
            Some(pull) => {
                let entry = c.pull_seconds.entry(connector.clone()).or_default();
                entry.0 += pull.stats.duration_ms as f64 / 1000.0;
                entry.1 += 1;
                (pull.stats.calls.clone(), pull.stats.errors.clone())
            }
            None => (BTreeMap::new(), report.pull_errors.clone()),
        };
        for (endpoint, n) in calls {
            *c.calls
                .entry((connector.clone(), report.source.clone(), endpoint))
                .or_default() += n;
        }
        for (code, n) in errors {
            *c.errors
                .entry((connector.clone(), report.source.clone(), code))
                .or_default() += n;
        }
        if matches!(report.outcome, RunOutcome::Planned | RunOutcome::Applied) {
            let at = report.finished_at.unwrap_or(report.started_at);
            c.last_success
                .insert(connector, at.as_millisecond() as f64 / 1000.0);
        }
    }

    /// Counts a run that ended without a report.
    pub fn observe_error(&self, connector: &str) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *c.run_errors.entry(connector.to_owned()).or_default() += 1;
    }

    /// One connector's counters since the daemon started, for the console's health page.
    pub fn of_connector(&self, connector: &str) -> ConnectorCounts {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ConnectorCounts {
            runs: c
                .runs
                .iter()
                .filter(|((name, _), _)| name == connector)
                .map(|((_, outcome), n)| (*outcome, *n))
                .collect(),
            runs_without_report: c.run_errors.get(connector).copied().unwrap_or(0),
            upstream_calls: c
                .calls
                .iter()
                .filter(|((name, _, _), _)| name == connector)
                .map(|(_, n)| n)
                .sum(),
            upstream_errors: c
                .errors
                .iter()
                .filter(|((name, _, _), _)| name == connector)
                .map(|((_, _, code), n)| (code.clone(), *n))
                .collect(),
        }
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self, running: &BTreeMap<String, bool>) -> String {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        family(
            &mut out,
            "orgsync_runs_total",
            "counter",
            "Runs finished, by connector and outcome.",
        );
        for ((connector, outcome), n) in &c.runs {
            sample(
                &mut out,
                "orgsync_runs_total",
                &[("connector", connector), ("outcome", outcome)],
                *n as f64,
            );
        }
        for (connector, n) in &c.run_errors {
            sample(
                &mut out,
                "orgsync_runs_total",
                &[("connector", connector), ("outcome", "error")],
                *n as f64,
            );
        }
        family(
            &mut out,
            "orgsync_steps_total",
            "counter",
            "Plan steps, by connector, kind and outcome.",
        );
        for ((connector, kind, outcome), n) in &c.steps {
            sample(
                &mut out,
                "orgsync_steps_total",
                &[
                    ("connector", connector),
                    ("kind", kind),
                    ("outcome", outcome),
                ],
                *n as f64,
            );
        }
        family(
            &mut out,
            "orgsync_pull_duration_seconds",
            "summary",
            "Time spent pulling the upstream directory.",
        );
        for (connector, (sum, count)) in &c.pull_seconds {
            let labels = [("connector", connector.as_str())];
            sample(&mut out, "orgsync_pull_duration_seconds_sum", &labels, *sum);
            sample(
                &mut out,
                "orgsync_pull_duration_seconds_count",
                &labels,
                *count as f64,
            );
        }
        family(
            &mut out,
            "orgsync_upstream_calls_total",
            "counter",
            "Upstream API requests, by connector, platform and endpoint (retries included).",
        );
        for ((connector, platform, endpoint), n) in &c.calls {
            sample(
                &mut out,
                "orgsync_upstream_calls_total",
                &[
                    ("connector", connector),
                    ("platform", platform),
                    ("endpoint", endpoint),
                ],
                *n as f64,
            );
        }
        family(
            &mut out,
            "orgsync_upstream_errors_total",
            "counter",
            "Upstream error answers, by connector, platform and code.",
        );
        for ((connector, platform, code), n) in &c.errors {
            sample(
                &mut out,
                "orgsync_upstream_errors_total",
                &[
                    ("connector", connector),
                    ("platform", platform),
                    ("code", code),
                ],
                *n as f64,
            );
        }
        family(
            &mut out,
            "orgsync_last_success_timestamp_seconds",
            "gauge",
            "When the connector's last successful run (planned or applied) finished.",
        );
        for (connector, at) in &c.last_success {
            sample(
                &mut out,
                "orgsync_last_success_timestamp_seconds",
                &[("connector", connector)],
                *at,
            );
        }
        family(
            &mut out,
            "orgsync_run_in_progress",
            "gauge",
            "1 while the connector runs.",
        );
        for (connector, running) in running {
            sample(
                &mut out,
                "orgsync_run_in_progress",
                &[("connector", connector)],
                if *running { 1.0 } else { 0.0 },
            );
        }
        drop(c);
        self.events.render(&mut out);
        self.notify.render(&mut out);
        out
    }
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(super) fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline (upstream error codes are free text).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn counts_runs_steps_calls_and_errors_from_reports() {
        let metrics = Metrics::default();
        let mut report = fixture::applied_sample();
        report
            .pull
            .as_mut()
            .unwrap()
            .stats
            .errors
            .insert("45009\"x\n".into(), 2);
        metrics.observe(&report);
        report.outcome = RunOutcome::Applied;
        metrics.observe(&report);
        let mut failed = fixture::sample();
        failed.outcome = RunOutcome::Failed {
            error: "boom".into(),
        };
        failed.pull = None;
        failed.pull_errors.insert("http_503".into(), 1);
        metrics.observe(&failed);
        let text = metrics.render(&BTreeMap::from([(report.connector.clone(), true)]));
        let c = &report.connector;
        assert!(
            text.contains(&format!(
                "orgsync_runs_total{{connector=\"{c}\",outcome=\"failed\"}} 1\n"
            )),
            "{text}"
        );
        for outcome in ["applied", "partially_applied"] {
            assert!(
                text.contains(&format!(
                    "orgsync_runs_total{{connector=\"{c}\",outcome=\"{outcome}\"}} 1\n"
                )),
                "{text}"
            );
        }
        assert!(
            text.contains("outcome=\"failed\"} 2\n"),
            "failed steps of two runs: {text}"
        );
        let (endpoint, calls) = report
            .pull
            .as_ref()
            .unwrap()
            .stats
            .calls
            .iter()
            .next()
            .unwrap();
        assert!(
            text.contains(&format!("endpoint=\"{endpoint}\"}} {}\n", calls * 2)),
            "{text}"
        );
        assert!(text.contains("code=\"45009\\\"x\\n\"} 4\n"), "{text}");
        assert!(text.contains("code=\"http_503\"} 1\n"), "{text}");
        assert!(
            text.contains(&format!(
                "orgsync_pull_duration_seconds_count{{connector=\"{c}\"}} 2\n"
            )),
            "{text}"
        );
        assert!(
            text.contains("orgsync_last_success_timestamp_seconds{"),
            "{text}"
        );
        assert!(
            text.contains(&format!("orgsync_run_in_progress{{connector=\"{c}\"}} 1\n")),
            "{text}"
        );
        let steps: u64 = report.steps.len() as u64 * 2 + failed.steps.len() as u64;
        let counted: f64 = text
            .lines()
            .filter(|l| l.starts_with("orgsync_steps_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(counted as u64, steps);
    }
}
