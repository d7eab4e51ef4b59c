//! What a notification says: short, in markdown the robots render, naming the connector, the
//! outcome, the counts and the run, with a link to the run's page when the console has an
//! external URL. Counts only: no person's name, e-mail or id ever goes into a message (an
//! upstream error is quoted without digits runs that could be ids, and cut short).

use super::{Notice, NoticeKind};
use crate::config::NotifyEvent;
use jiff::Timestamp;
use std::fmt::Write;

/// Characters of an error quoted in a message.
const QUOTED_ERROR: usize = 160;

/// One message, platform-neutral; each channel wraps it in its own JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `run_failed`, …, or `test`.
    pub event: &'static str,
    pub connector: Option<String>,
    pub run_id: Option<String>,
    /// One line, also the robots' notification title.
    pub title: String,
    /// Paragraphs, in markdown.
    pub lines: Vec<String>,
    /// The run's page (or the plans page) in the console.
    pub link: Option<url::Url>,
}

/// A repeat of a failure already sent: when it was first seen and how often since.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reminder {
    pub since: Timestamp,
    pub times: u64,
}

impl Message {
    /// The message of `notice` as `event`; `reminder` when it repeats a failure already sent.
    pub fn of(
        notice: &Notice,
        event: NotifyEvent,
        reminder: Option<Reminder>,
        console: Option<&url::Url>,
    ) -> Message {
        let connector = &notice.connector;
        let run = notice.run_id.as_deref().unwrap_or("-");
        let mut lines = Vec::new();
        let title = match (&notice.kind, event) {
            (NoticeKind::Failed { error }, _) => {
                lines.push(format!(
                    "The run of connector **{connector}** failed: nothing was written."
                ));
                lines.push(format!("Error: {}", quoted(error)));
                format!("orgsync: {connector} failed")
            }
            (
                NoticeKind::Refused {
                    removals,
                    group_deletions,
                },
                _,
            ) => {
                let groups = match group_deletions {
                    0 => String::new(),
                    n => format!(" and {n} group deletion(s)"),
                };
                lines.push(format!(
                    "The deletion guard held back the plan of connector **{connector}**: \
                     {removals} removal(s){groups}. Nothing was written."
                ));
                lines.push(format!(
                    "To apply it: `orgsync plans approve {run}` (or `orgsync plans dismiss {run}`); \
                     `orgsync plans list` shows the plans waiting."
                ));
                format!("orgsync: {connector} waits for approval ({removals} removals)")
            }
            (NoticeKind::BreakerTripped { failures, left }, _) => {
                lines.push(format!(
                    "The target failed {failures} steps in a row, so the run of connector \
                     **{connector}** stopped: {left} step(s) wait for the next run."
                ));
                format!("orgsync: {connector} stopped after {failures} target failures")
            }
            (NoticeKind::Throttled { platform, seconds }, _) => {
                lines.push(format!(
                    "The pull of connector **{connector}** is throttled by {platform}: it waits \
                     {} before going on.",
                    minutes(*seconds)
                ));
                format!("orgsync: {connector} throttled by {platform}")
            }
            (NoticeKind::Succeeded { .. }, NotifyEvent::Recovered) => {
                lines.push(format!(
                    "Connector **{connector}** works again: the run ended well{}.",
                    counts_sentence(&notice.kind)
                ));
                format!("orgsync: {connector} recovered")
            }
            (NoticeKind::Succeeded { .. }, _) => {
                lines.push(format!(
                    "Connector **{connector}** applied its changes{}.",
                    counts_sentence(&notice.kind)
                ));
                format!(
                    "orgsync: {connector} applied {} change(s)",
                    steps(&notice.kind)
                )
            }
        };
        let title = match reminder {
            Some(r) => {
                lines.push(format!(
                    "Still so: seen {} time(s) since {} (a reminder; repeats in between are not sent).",
                    r.times,
                    r.since.strftime("%Y-%m-%d %H:%M UTC")
                ));
                format!("{title} (reminder)")
            }
            None => title,
        };
        lines.push(format!("Run: `{run}`"));
        let link = console.and_then(|base| match (&notice.kind, &notice.run_id) {
            (NoticeKind::Refused { .. }, _) => join(base, "plans"),
            (_, Some(id)) => join(base, &format!("runs/{id}")),
            (_, None) => None,
        });
        Message {
            event: event.as_str(),
            connector: Some(connector.clone()),
            run_id: notice.run_id.clone(),
            title,
            lines,
            link,
        }
    }

    /// `orgsync notify test`'s message.
    pub fn test(channel: &str) -> Message {
        Message {
            event: "test",
            connector: None,
            run_id: None,
            title: "orgsync: test message".into(),
            lines: vec![format!(
                "This is a test from orgsync: channel **{channel}** is set up correctly."
            )],
            link: None,
        }
    }

    /// The message as markdown: a heading, the paragraphs, the link.
    pub fn markdown(&self, heading: &str) -> String {
        let mut text = format!("{heading} {}\n\n", self.title);
        for line in &self.lines {
            let _ = write!(text, "{line}\n\n");
        }
        if let Some(link) = &self.link {
            let _ = writeln!(text, "[Open in the orgsync console]({link})");
        }
        text.trim_end().to_owned()
    }
}

fn join(base: &url::Url, path: &str) -> Option<url::Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path).ok()
}

fn steps(kind: &NoticeKind) -> usize {
    match kind {
        NoticeKind::Succeeded { counts, .. } => counts.values().sum(),
        _ => 0,
    }
}

/// ": 3 create, 1 update", or "" when nothing changed.
fn counts_sentence(kind: &NoticeKind) -> String {
    let NoticeKind::Succeeded { counts, .. } = kind else {
        return String::new();
    };
    if counts.is_empty() {
        return " (no changes)".into();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.as_str()))
        .collect();
    format!(": {}", parts.join(", "))
}

fn minutes(seconds: u64) -> String {
    if seconds >= 120 {
        format!("{} minutes", seconds.div_ceil(60))
    } else {
        format!("{seconds} seconds")
    }
}

/// An error as a message quotes it: markup and control characters out, runs of 6 or more
/// digits (ids, phone numbers) masked, cut short.
fn quoted(error: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |out: &mut String, digits: &mut String| {
        if digits.len() >= 6 {
            out.push('#');
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in error.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut out, &mut digits);
        if c.is_control() {
            out.push(' ');
        } else if !matches!(c, '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|' | '@') {
            out.push(c);
        }
    }
    flush(&mut out, &mut digits);
    if out.chars().count() > QUOTED_ERROR {
        let cut: String = out.chars().take(QUOTED_ERROR).collect();
        format!("{}…", cut.trim_end())
    } else {
        out.trim().to_owned()
    }
}
