//! Next runs in zones with daylight saving (Europe/Berlin: 2026-03-29 02:00 → 03:00 and
//! 2026-10-25 03:00 → 02:00, both at 01:00 UTC; America/New_York: 2026-03-08 02:00 → 03:00 at
//! 07:00 UTC, 2026-11-01 02:00 → 01:00 at 06:00 UTC) and without (Asia/Shanghai).

use super::*;

fn schedule(expression: &str, zone: &str) -> Schedule {
    Schedule::new(
        Cron::parse(expression).unwrap(),
        TimeZone::get(zone).unwrap(),
    )
}

fn utc(text: &str) -> Timestamp {
    format!("{text}Z").parse().unwrap()
}

/// The runs strictly after `from` and up to `until`, in UTC.
fn runs(schedule: &Schedule, from: &str, until: &str) -> Vec<Timestamp> {
    let until = utc(until);
    let mut runs = Vec::new();
    let mut at = utc(from);
    while let Some(next) = schedule.next_after(at).filter(|next| *next <= until) {
        assert!(next > at, "a next run must be later: {next} after {at}");
        runs.push(next);
        at = next;
    }
    runs
}

/// Local wall-clock times with their offsets, to read the assertions as the zone's users would.
fn local(runs: &[Timestamp], zone: &str) -> Vec<String> {
    let zone = TimeZone::get(zone).unwrap();
    runs.iter()
        .map(|run| {
            run.to_zoned(zone.clone())
                .strftime("%m-%d %H:%M:%S%:z")
                .to_string()
        })
        .collect()
}

#[test]
fn a_wall_clock_time_skipped_by_spring_forward_runs_once_as_the_clock_jumps() {
    let s = schedule("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-03-27T12:00:00", "2026-03-31T12:00:00"),
        [
            utc("2026-03-28T01:30:00"), // 02:30 CET
            utc("2026-03-29T01:00:00"), // 02:30 does not exist: at the jump, 03:00 CEST
            utc("2026-03-30T00:30:00"), // 02:30 CEST
            utc("2026-03-31T00:30:00"),
        ]
    );
    // Several skipped times still make one run.
    let s = schedule("0 0,30 2 * * *", "Europe/Berlin");
    assert_eq!(
        local(
            &runs(&s, "2026-03-28T12:00:00", "2026-03-30T12:00:00"),
            "Europe/Berlin"
        ),
        [
            "03-29 03:00:00+02:00",
            "03-30 02:00:00+02:00",
            "03-30 02:30:00+02:00"
        ]
    );
    // A time just after the gap is an ordinary time, and runs once.
    let s = schedule("0 0 3 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-03-28T12:00:00", "2026-03-29T12:00:00"),
        [utc("2026-03-29T01:00:00")]
    );
}

#[test]
fn a_wall_clock_time_repeated_by_fall_back_runs_once() {
    let s = schedule("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        local(
            &runs(&s, "2026-10-23T12:00:00", "2026-10-26T12:00:00"),
            "Europe/Berlin"
        ),
        [
            "10-24 02:30:00+02:00",
            "10-25 02:30:00+02:00", // the first pass; not again at 02:30+01:00
            "10-26 02:30:00+01:00",
        ]
    );
    // Asked during the second pass (02:10 CET), before its 02:30: already run.
    assert_eq!(
        s.next_after(utc("2026-10-25T01:10:00")),
        Some(utc("2026-10-26T01:30:00"))
    );
}

#[test]
fn new_york_too() {
    let s = schedule("0 30 2 * * *", "America/New_York");
    assert_eq!(
        s.next_after(utc("2026-03-07T12:00:00")),
        Some(utc("2026-03-08T07:00:00")) // 02:30 does not exist: at the jump, 03:00 EDT
    );
    let s = schedule("0 30 1 * * *", "America/New_York");
    assert_eq!(
        local(
            &runs(&s, "2026-10-31T12:00:00", "2026-11-02T12:00:00"),
            "America/New_York"
        ),
        ["11-01 01:30:00-04:00", "11-02 01:30:00-05:00"]
    );
}

#[test]
fn shanghai_has_no_daylight_saving_nine_is_one_utc() {
    let s = schedule("0 0 9 * * *", "Asia/Shanghai");
    assert_eq!(
        runs(&s, "2026-12-06T19:00:00", "2026-12-08T12:00:00"),
        [utc("2026-12-07T01:00:00"), utc("2026-12-08T01:00:00")]
    );
}

#[test]
fn elapsed_time_jobs_keep_their_real_interval_across_both_changes() {
    let s = schedule("0 */15 * * * *", "Europe/Berlin");
    for (from, until) in [
        ("2026-03-28T22:00:00", "2026-03-29T04:00:00"),
        ("2026-10-24T22:00:00", "2026-10-25T04:00:00"),
    ] {
        let runs = runs(&s, from, until);
        assert_eq!(runs.len(), 24, "{runs:?}");
        for pair in runs.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]),
                SignedDuration::from_mins(15),
                "{pair:?}"
            );
        }
    }
    // Hourly: no 02:00 on the spring day, two on the autumn day.
    let s = schedule("@hourly", "Europe/Berlin");
    assert_eq!(
        local(
            &runs(&s, "2026-03-28T23:30:00", "2026-03-29T01:30:00"),
            "Europe/Berlin"
        ),
        ["03-29 01:00:00+01:00", "03-29 03:00:00+02:00"]
    );
    assert_eq!(
        local(
            &runs(&s, "2026-10-24T23:30:00", "2026-10-25T02:30:00"),
            "Europe/Berlin"
        ),
        [
            "10-25 02:00:00+02:00",
            "10-25 02:00:00+01:00",
            "10-25 03:00:00+01:00"
        ]
    );
}

#[test]
fn day_of_week_and_day_of_month_on_the_change_days() {
    // Both changes fall on a Sunday.
    let s = schedule("0 30 2 * * SUN", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-03-22T12:00:00", "2026-04-06T00:00:00"),
        [utc("2026-03-29T01:00:00"), utc("2026-04-05T00:30:00"),]
    );
    assert_eq!(
        runs(&s, "2026-10-18T12:00:00", "2026-11-02T00:00:00"),
        [utc("2026-10-25T00:30:00"), utc("2026-11-01T01:30:00")]
    );
    let s = schedule("0 30 2 25 10 *", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-10-01T00:00:00", "2027-12-31T00:00:00"),
        [utc("2026-10-25T00:30:00"), utc("2027-10-25T00:30:00")]
    );
}

#[test]
fn runs_are_whole_seconds_after_the_instant_asked() {
    let s = schedule("* * * * * *", "Asia/Shanghai");
    let after: Timestamp = "2026-12-07T01:00:00.5Z".parse().unwrap();
    assert_eq!(s.next_after(after), Some(utc("2026-12-07T01:00:01")));
}

#[test]
fn a_date_that_never_comes_has_no_next_run() {
    let s = schedule("0 0 0 30 2 *", "Europe/Berlin");
    assert_eq!(s.next_after(utc("2026-01-01T00:00:00")), None);
}
