//! How a run's progress is shown on stderr, for a run in this process and one followed in the
//! daemon alike: a bar redrawn in place on a terminal, plain lines otherwise. While pulling it
//! says calls made, people read, an estimate when the total is known, and any wait ("throttled
//! by dingtalk, waiting 300 s").

use crate::daemon::types::RunState;
use crate::engine::{Progress, Stage};
use crate::pullers::http::{PullCounts, WaitReason};
use std::io::Write;
use tokio::sync::watch;

/// Plain output during a pull: a line per this many calls when no total is known.
const CALLS_PER_LINE: u64 = 500;

/// What the last line showed, so plain output says only what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shown {
    stage: Stage,
    done: usize,
    /// Calls (or tenths of the people total) when the last pull line was printed.
    pull_mark: u64,
    waiting: Option<(crate::pullers::Platform, WaitReason)>,
}

impl Shown {
    fn of(p: &Progress) -> Self {
        Shown {
            stage: p.stage,
            done: p.done,
            pull_mark: pull_mark(&p.pull),
            waiting: p.pull.waiting.map(|w| (w.platform, w.reason)),
        }
    }
}

fn pull_mark(pull: &PullCounts) -> u64 {
    match pull.people_total {
        Some(total) if total > 0 => pull.people * 10 / total,
        _ => pull.calls / CALLS_PER_LINE,
    }
}

/// The line to show for this moment, or `None` when plain output has nothing new to say.
pub(super) fn line(
    state: RunState,
    p: &Progress,
    finished: bool,
    terminal: bool,
    last: Option<Shown>,
) -> Option<String> {
    let stage = match (state, p.stage) {
        (RunState::Queued, _) => "queued",
        (RunState::Cancelled, _) => "cancelled",
        (_, Stage::Queued) => "starting",
        (_, Stage::Checking) => "checking the target",
        (_, Stage::Pulling) => "pulling",
        (_, Stage::Planning) => "planning",
        (_, Stage::Applying) => "applying",
        (_, Stage::Finished) => "finished",
    };
    let pulling = p.stage == Stage::Pulling;
    if terminal {
        if pulling {
            return Some(format!("\r\x1b[2K{stage:<9} {}", p.pull));
        }
        const WIDTH: usize = 30;
        let filled = (p.done * WIDTH)
            .checked_div(p.total)
            .unwrap_or(0)
            .min(WIDTH);
        return Some(format!(
            "\r\x1b[2K{:<9} [{}{}] {}/{} steps",
            stage,
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            p.done,
            p.total
        ));
    }
    let now = Shown::of(p);
    let tenth = |done: usize| (done * 10).checked_div(p.total).unwrap_or(0);
    let new_stage = last.is_none_or(|l| l.stage != p.stage);
    let new_tenth = last.is_some_and(|l| tenth(l.done) != tenth(p.done));
    let pull_news = last.is_some_and(|l| {
        l.pull_mark != now.pull_mark || (now.waiting.is_some() && l.waiting != now.waiting)
    });
    if pulling && (new_stage || pull_news) {
        return Some(format!("{stage}: {}", p.pull));
    }
    (new_stage || (p.stage == Stage::Applying && new_tenth) || finished)
        .then(|| format!("{stage}: {}/{} steps", p.done, p.total))
}

/// Writes `line` to stderr: in place on a terminal, as a line otherwise.
pub(super) fn show(line: &str, terminal: bool) {
    let mut err = std::io::stderr().lock();
    let _ = if terminal {
        write!(err, "{line}")
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

/// Shows a run of this process as it goes, until the run drops its sender.
pub(super) async fn follow_local(mut progress: watch::Receiver<Progress>, terminal: bool) {
    let mut last: Option<Shown> = None;
    let mut drawn = false;
    loop {
        let p = *progress.borrow_and_update();
        // The bar redraws on every change; plain lines only when there is news.
        if let Some(text) = line(RunState::Running, &p, false, terminal, last) {
            show(&text, terminal);
            drawn = true;
            last = Some(Shown::of(&p));
        }
        if progress.changed().await.is_err() {
            break;
        }
        // At most a few redraws a second.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    if terminal && drawn {
        eprintln!();
    }
}

/// Remembers what was shown (for the daemon follower, which polls).
pub(super) fn shown(p: &Progress) -> Shown {
    Shown::of(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pullers::Platform;
    use crate::pullers::http::Waiting;

    fn progress(stage: Stage, done: usize, total: usize) -> Progress {
        Progress {
            stage,
            done,
            total,
            ..Progress::default()
        }
    }

    #[test]
    fn a_terminal_gets_a_bar() {
        let line = line(
            RunState::Running,
            &progress(Stage::Applying, 50, 100),
            false,
            true,
            None,
        )
        .unwrap();
        assert!(line.starts_with("\r\x1b[2Kapplying"), "{line:?}");
        assert!(
            line.contains(&format!("[{}{}] 50/100", "#".repeat(15), " ".repeat(15))),
            "{line:?}"
        );
    }

    #[test]
    fn a_pull_shows_calls_people_the_estimate_and_waits() {
        let mut p = progress(Stage::Pulling, 0, 0);
        p.pull = PullCounts {
            calls: 431,
            people: 2100,
            people_total: None,
            eta_seconds: None,
            waiting: None,
        };
        let bar = line(RunState::Running, &p, false, true, None).unwrap();
        assert!(bar.contains("2100 people read, 431 calls"), "{bar:?}");
        assert!(!bar.contains("0/0 steps"), "{bar:?}");
        p.pull.people_total = Some(3000);
        p.pull.eta_seconds = Some(40);
        assert_eq!(
            p.pull.to_string(),
            "2100/3000 people, 431 calls, about 40 s left"
        );
        p.pull.waiting = Some(Waiting {
            platform: Platform::Dingtalk,
            reason: WaitReason::Throttled,
            seconds: 300,
        });
        assert_eq!(
            p.pull.to_string(),
            "2100/3000 people, 431 calls; throttled by dingtalk, waiting 300 s"
        );
    }

    #[test]
    fn plain_output_says_each_stage_once_every_tenth_and_each_wait() {
        let pulling = progress(Stage::Pulling, 0, 0);
        assert_eq!(
            line(RunState::Running, &pulling, false, false, None).unwrap(),
            "pulling: 0 people read, 0 calls"
        );
        let seen = Some(shown(&pulling));
        assert_eq!(line(RunState::Running, &pulling, false, false, seen), None);
        let mut busy = pulling;
        busy.pull.calls = 120;
        assert_eq!(line(RunState::Running, &busy, false, false, seen), None);
        busy.pull.calls = 520;
        assert!(line(RunState::Running, &busy, false, false, seen).is_some());
        let mut waiting = pulling;
        waiting.pull.waiting = Some(Waiting {
            platform: Platform::Wecom,
            reason: WaitReason::Throttled,
            seconds: 3600,
        });
        assert_eq!(
            line(RunState::Running, &waiting, false, false, seen).unwrap(),
            "pulling: 0 people read, 0 calls; throttled by wecom, waiting 3600 s"
        );
        let applying = progress(Stage::Applying, 3, 100);
        let planning = Some(shown(&progress(Stage::Planning, 0, 0)));
        assert!(line(RunState::Running, &applying, false, false, planning).is_some());
        let one = Some(shown(&progress(Stage::Applying, 1, 100)));
        assert_eq!(line(RunState::Running, &applying, false, false, one), None);
        let tenth = progress(Stage::Applying, 10, 100);
        let nine = Some(shown(&progress(Stage::Applying, 9, 100)));
        assert_eq!(
            line(RunState::Running, &tenth, false, false, nine).unwrap(),
            "applying: 10/100 steps"
        );
    }
}
