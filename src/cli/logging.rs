//! Where the log goes and in what shape: plain text on a terminal, syslog priority prefixes under
//! systemd (journald keeps its own timestamps, and `journalctl -p err` then shows exactly the ERROR
//! lines), or one JSON object per line for log shippers.

use std::fmt;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The shape of the log on stderr (`--log-format`, `$ORGSYNC_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `journal` when stderr is systemd's journal stream (`$JOURNAL_STREAM`), else `text`.
    Auto,
    /// Timestamped lines for a terminal or a file.
    Text,
    /// One JSON object per line, with a timestamp, for log shippers.
    Json,
    /// No timestamp, each line prefixed with its syslog priority (`<3>` for an ERROR).
    Journal,
}

impl LogFormat {
    /// `Auto` decided: the journal when stderr is the stream systemd names in `$JOURNAL_STREAM`.
    /// A shell started from a service inherits the variable with another stderr, so the device and
    /// inode must match (as systemd.exec(5) advises).
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto => {
                let stream = std::env::var("JOURNAL_STREAM").ok();
                if stream.as_deref().is_some_and(stderr_is) {
                    LogFormat::Journal
                } else {
                    LogFormat::Text
                }
            }
            chosen => chosen,
        }
    }
}

/// Whether stderr is the file `device:inode` names (the form of `$JOURNAL_STREAM`).
fn stderr_is(device_inode: &str) -> bool {
    let Some((device, inode)) = device_inode.split_once(':') else {
        return false;
    };
    let (Ok(device), Ok(inode)) = (device.parse::<u64>(), inode.parse::<u64>()) else {
        return false;
    };
    // A duplicate of fd 2, to read its metadata through std.
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(metadata) = std::fs::File::from(stderr).metadata() else {
        return false;
    };
    metadata.dev() == device && metadata.ino() == inode
}

/// Installs the global subscriber: `filter` in tracing's syntax (an invalid one falls back to
/// `info`, with a warning), the log on stderr in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("warning: invalid log filter {filter:?} ({e}); using `info`");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.resolve() {
        LogFormat::Json => builder.json().init(),
        LogFormat::Journal => builder
            .with_ansi(false)
            .event_format(JournalFormat::default())
            .init(),
        LogFormat::Text | LogFormat::Auto => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// The text format without a timestamp, every physical line prefixed with the event's syslog
/// priority: journald reads one entry per line, so the lines of a multi-line message (a report
/// excerpt, a target's error page) each keep the message's priority.
pub struct JournalFormat {
    line: Format<Full, ()>,
}

impl Default for JournalFormat {
    fn default() -> Self {
        JournalFormat {
            line: Format::default().without_time().with_ansi(false),
        }
    }
}

/// sd-daemon(3)'s prefixes: DEBUG and TRACE both `<7>` (syslog has no lower priority).
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut text = String::new();
        self.line.format_event(ctx, Writer::new(&mut text), event)?;
        write_prefixed(&mut writer, priority(event.metadata().level()), &text)
    }
}

/// `text` with `<priority>` before each of its lines, every line ended by a newline.
fn write_prefixed(out: &mut impl fmt::Write, priority: u8, text: &str) -> fmt::Result {
    for line in text.lines() {
        writeln!(out, "<{priority}>{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_message_gets_the_priority() {
        let mut out = String::new();
        write_prefixed(&mut out, 3, "ERROR first\nsecond\r\nthird\n").unwrap();
        assert_eq!(out, "<3>ERROR first\n<3>second\n<3>third\n");
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn a_malformed_journal_stream_is_not_the_journal() {
        for value in ["", "12", "a:b", "1:2:3", "-1:5"] {
            assert!(!stderr_is(value), "{value:?}");
        }
    }
}
