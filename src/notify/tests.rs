use super::dedupe::{self, Decision, MemoryDedupe};
use super::*;
use crate::config::NotifyEvent;
use crate::report::fixture;
use std::time::Duration;

fn failed(connector: &str, error: &str, at: Timestamp) -> Notice {
    Notice {
        connector: connector.into(),
        run_id: Some("hq-20261207-0100".into()),
        at,
        kind: NoticeKind::Failed {
            error: error.into(),
        },
    }
}

fn t(hours: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + hours * 3600).unwrap()
}

#[test]
fn a_report_becomes_the_notice_of_its_outcome() {
    let mut report = fixture::applied_sample();
    let Some(Notice {
        kind: NoticeKind::Succeeded { counts, .. },
        ..
    }) = Notice::of_report(&report)
    else {
        panic!("an applied run is a success");
    };
    assert!(counts.values().sum::<usize>() > 0);
    report.outcome = RunOutcome::Failed {
        error: "pull failed".into(),
    };
    assert!(matches!(
        Notice::of_report(&report).map(|n| n.kind),
        Some(NoticeKind::Failed { .. })
    ));
    report.outcome = RunOutcome::Refused { reasons: vec![] };
    report.guard = Some(Verdict::Refused {
        removals: 7,
        managed: 10,
        reasons: vec![],
        overridable: true,
        group_deletions: 2,
    });
    assert_eq!(
        Notice::of_report(&report).map(|n| n.kind),
        Some(NoticeKind::Refused {
            removals: 7,
            group_deletions: 2
        })
    );
    report.outcome = RunOutcome::BreakerTripped {
        consecutive_failures: 5,
        left: 12,
    };
    assert_eq!(
        Notice::of_report(&report).map(|n| n.kind),
        Some(NoticeKind::BreakerTripped {
            failures: 5,
            left: 12
        })
    );
    report.outcome = RunOutcome::Interrupted {
        left: 3,
        stage: None,
    };
    assert_eq!(Notice::of_report(&report), None);
}

#[test]
fn the_same_failure_is_sent_once_then_reminded_after_the_quiet_time() {
    let store = MemoryDedupe::default();
    let day = Duration::from_secs(86_400);
    let event = NotifyEvent::RunFailed;
    let error = "pull failed: wecom 40001 invalid credential, hint: [1733540000_55]";
    let decide = |notice: &Notice| dedupe::on_failure(&store, "ops", notice, event, day).unwrap();
    assert_eq!(decide(&failed("hq", error, t(0))), Decision::Send(None));
    for hour in 1..24 {
        // Hourly, with a new request id each time: the same failure.
        let again = error.replace("1733540000", &format!("17335{hour:05}"));
        assert_eq!(decide(&failed("hq", &again, t(hour))), Decision::Quiet);
    }
    let Decision::Send(Some(reminder)) = decide(&failed("hq", error, t(24))) else {
        panic!("a reminder after a day");
    };
    assert_eq!((reminder.since, reminder.times), (t(0), 25));
    assert_eq!(decide(&failed("hq", error, t(25))), Decision::Quiet);
    // Another error, another connector: news.
    assert_eq!(
        decide(&failed("hq", "target check failed: 401", t(25))),
        Decision::Send(None)
    );
    assert_eq!(
        decide(&failed("branch", error, t(25))),
        Decision::Send(None)
    );
    // A success clears hq's failures and says it recovered, once; then a failure is news again.
    assert!(dedupe::on_success(&store, "ops", "hq").unwrap());
    assert!(!dedupe::on_success(&store, "ops", "hq").unwrap());
    assert_eq!(decide(&failed("hq", error, t(26))), Decision::Send(None));
    // Another channel keeps its own memory.
    assert_eq!(
        dedupe::on_failure(&store, "other", &failed("hq", error, t(26)), event, day).unwrap(),
        Decision::Send(None)
    );
}

#[test]
fn throttles_stay_remembered_across_successes() {
    let store = MemoryDedupe::default();
    let throttled = Notice {
        connector: "hq".into(),
        run_id: None,
        at: t(0),
        kind: NoticeKind::Throttled {
            platform: "wecom".into(),
            seconds: 3600,
        },
    };
    let day = Duration::from_secs(86_400);
    let event = NotifyEvent::ThrottledLong;
    assert_eq!(
        dedupe::on_failure(&store, "ops", &throttled, event, day).unwrap(),
        Decision::Send(None)
    );
    assert!(!dedupe::on_success(&store, "ops", "hq").unwrap());
    let later = Notice {
        at: t(1),
        ..throttled
    };
    assert_eq!(
        dedupe::on_failure(&store, "ops", &later, event, day).unwrap(),
        Decision::Quiet
    );
}

#[test]
fn messages_name_the_run_and_how_to_approve_and_link_the_console() {
    let console = url::Url::parse("https://ops.example.com/orgsync").unwrap();
    let refused = Notice {
        connector: "hq".into(),
        run_id: Some("hq-1".into()),
        at: t(0),
        kind: NoticeKind::Refused {
            removals: 12,
            group_deletions: 0,
        },
    };
    let message = Message::of(&refused, NotifyEvent::GuardRefused, None, Some(&console));
    let text = message.markdown("###");
    assert!(text.contains("12 removal(s)"), "{text}");
    assert!(text.contains("`orgsync plans approve hq-1`"), "{text}");
    assert_eq!(
        message.link.as_ref().map(url::Url::as_str),
        Some("https://ops.example.com/orgsync/plans")
    );
    let failure = failed("hq", "set-up failed: user 13800138000 <a@b.c> *bold*", t(0));
    let message = Message::of(&failure, NotifyEvent::RunFailed, None, Some(&console));
    let text = message.markdown("###");
    assert!(!text.contains("13800138000"), "{text}");
    assert!(!text.contains("*bold*"), "{text}");
    assert!(text.contains("Run: `hq-20261207-0100`"), "{text}");
    assert_eq!(
        message.link.as_ref().map(url::Url::as_str),
        Some("https://ops.example.com/orgsync/runs/hq-20261207-0100")
    );
    assert_eq!(
        Message::of(&failure, NotifyEvent::RunFailed, None, None).link,
        None
    );
}
