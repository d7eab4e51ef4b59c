//! The cron expressions of `connectors.NAME.schedule`: six fields, seconds first
//! (`second minute hour day-of-month month day-of-week`), parsed into sets of allowed values.
//! Civil dates and times only: where they fall in a time zone is `schedule/mod.rs`'s business.
//!
//! Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, and lists of
//! these; months and weekdays also by their English abbreviations (`JAN`, `MON`), Sunday as 0 or
//! 7; `?` means `*` in the two day fields; `@yearly`, `@monthly`, `@weekly`, `@daily` and
//! `@hourly` stand for their usual expressions. A day must match both day fields (a `*` matches
//! every day), as the scheduler before this one did: `"0 0 9 1-7 * MON"` is the first Monday.

use jiff::civil::{Date, DateTime, Time};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "{expression:?} has {count} field(s); a schedule has six, seconds first (e.g. \"0 */30 * * * *\")"
    )]
    FieldCount { expression: String, count: usize },
    #[error("{expression:?}: the {field} field {text:?} {reason}")]
    Field {
        expression: String,
        field: &'static str,
        text: String,
        reason: &'static str,
    },
}

/// How a schedule crosses a daylight-saving change, by ISC cron's rule: a job whose minute and
/// hour fields name particular values runs at a wall-clock time; one with `*` (or `*/n`) in
/// either runs on the clock as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Minute and hour are values, lists or ranges: a time skipped by the clock runs as the
    /// clock jumps, a time the clock repeats runs once (the first time).
    WallClock,
    /// `*` or `*/n` in the minute or hour field: runs at every instant whose local time matches,
    /// so runs stay their real interval apart (twice through a repeated hour, none in a skipped one).
    Elapsed,
}

/// A parsed expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    timing: Timing,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names of the values from `min` on.
    names: &'static [&'static str],
    /// `?` allowed (the day fields).
    question_mark: bool,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [FieldSpec; 6] = [
    FieldSpec {
        name: "seconds",
        min: 0,
        max: 59,
        names: &[],
        question_mark: false,
    },
    FieldSpec {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        question_mark: false,
    },
    FieldSpec {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
        question_mark: false,
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        question_mark: true,
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
        question_mark: false,
    },
    // 7 is Sunday too; folded onto 0 after parsing.
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: WEEKDAYS,
        question_mark: true,
    },
];

impl Cron {
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let expanded = match expression.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            _ => expression,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != FIELDS.len() {
            return Err(CronError::FieldCount {
                expression: expression.to_owned(),
                count: parts.len(),
            });
        }
        let mut sets = [0u64; 6];
        for ((set, text), spec) in sets.iter_mut().zip(&parts).zip(&FIELDS) {
            *set = parse_field(text, spec).map_err(|reason| CronError::Field {
                expression: expression.to_owned(),
                field: spec.name,
                text: (*text).to_owned(),
                reason,
            })?;
        }
        let [seconds, minutes, hours, days, months, mut weekdays] = sets;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let timing = if parts[1].starts_with('*') || parts[2].starts_with('*') {
            Timing::Elapsed
        } else {
            Timing::WallClock
        };
        Ok(Cron {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            timing,
        })
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    fn date_matches(&self, date: Date) -> bool {
        has(self.months, date.month() as u32)
            && has(self.days, date.day() as u32)
            && has(self.weekdays, date.weekday().to_sunday_zero_offset() as u32)
    }

    /// The first civil date and time at or after `start` (whole seconds) that matches, looking
    /// no further than the day `last_day`.
    pub fn first_at_or_after(&self, start: DateTime, last_day: Date) -> Option<DateTime> {
        let mut date = start.date();
        let mut from = start.time();
        while date <= last_day {
            if !has(self.months, date.month() as u32) {
                date = date.last_of_month().tomorrow().ok()?;
                from = Time::midnight();
                continue;
            }
            if self.date_matches(date)
                && let Some(time) = self.first_time_from(from)
            {
                return Some(date.to_datetime(time));
            }
            date = date.tomorrow().ok()?;
            from = Time::midnight();
        }
        None
    }

    /// The first matching time of day at or after `from`.
    fn first_time_from(&self, from: Time) -> Option<Time> {
        let (start_hour, start_minute) = (from.hour() as u32, from.minute() as u32);
        let mut hour = next_in(self.hours, start_hour)?;
        loop {
            let mut minute = next_in(
                self.minutes,
                if hour == start_hour { start_minute } else { 0 },
            );
            while let Some(m) = minute {
                let second_from = if (hour, m) == (start_hour, start_minute) {
                    from.second() as u32
                } else {
                    0
                };
                if let Some(second) = next_in(self.seconds, second_from) {
                    return Time::new(hour as i8, m as i8, second as i8, 0).ok();
                }
                minute = next_in(self.minutes, m + 1);
            }
            hour = next_in(self.hours, hour + 1)?;
        }
    }
}

fn has(set: u64, value: u32) -> bool {
    value < 64 && set & (1 << value) != 0
}

/// The smallest value in `set` at or above `from`.
fn next_in(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = set & (u64::MAX << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, &'static str> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(step) if step > 0 => (range, Some(step)),
                _ => return Err("has a step that is not a whole number above 0"),
            },
            None => (part, None),
        };
        let (low, high) = if range == "*" || (range == "?" && spec.question_mark) {
            (spec.min, spec.max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low, spec)?, value(high, spec)?)
        } else {
            let at = value(range, spec)?;
            // `a/n` steps from a to the end of the field.
            (at, if step.is_some() { spec.max } else { at })
        };
        if low > high {
            return Err("has a range whose start is after its end");
        }
        for v in (low..=high).step_by(step.unwrap_or(1) as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, spec: &FieldSpec) -> Result<u32, &'static str> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = spec.names.iter().position(|name| *name == upper) {
        return Ok(spec.min + index as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
        Ok(_) => Err("has a value out of range"),
        Err(_) if spec.question_mark && upper.contains(['L', 'W', '#']) => {
            Err("uses L, W or #, which orgsync's schedules do not support")
        }
        Err(_) => Err("is not a number, range, step or list"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn first(expression: &str, start: DateTime) -> Option<DateTime> {
        let cron = Cron::parse(expression).unwrap();
        cron.first_at_or_after(
            start,
            start.date().saturating_add(jiff::Span::new().years(9)),
        )
    }

    /// (expression, start, the first match at or after it) as `YYYY-MM-DD HH:MM:SS`.
    fn check(cases: &[(&str, &str, &str)]) {
        for (expression, start, expected) in cases {
            let start: DateTime = start.parse().unwrap();
            assert_eq!(
                first(expression, start),
                Some(expected.parse().unwrap()),
                "{expression:?} from {start}"
            );
        }
    }

    #[test]
    fn fields_values_ranges_steps_lists_and_names() {
        check(&[
            (
                "15 30 9 * * *",
                "2026-01-01 00:00:00",
                "2026-01-01 09:30:15",
            ),
            (
                "0 */20 10-11 * * *",
                "2026-01-01 10:41:00",
                "2026-01-01 11:00:00",
            ),
            (
                "0 5/20 * * * *",
                "2026-01-01 10:26:00",
                "2026-01-01 10:45:00",
            ),
            (
                "0 0 8,17 * * *",
                "2026-01-01 08:00:01",
                "2026-01-01 17:00:00",
            ),
            (
                "0 0 0 1 mar-may ?",
                "2026-01-01 00:00:00",
                "2026-03-01 00:00:00",
            ),
            ("@monthly", "2026-01-01 00:00:01", "2026-02-01 00:00:00"),
        ]);
    }

    /// 2026-01-01 is a Thursday.
    #[test]
    fn day_of_week_and_day_of_month_must_both_match() {
        check(&[
            (
                "0 0 9 * * MON",
                "2026-01-01 00:00:00",
                "2026-01-05 09:00:00",
            ),
            (
                "0 0 9 * * wed",
                "2026-01-01 00:00:00",
                "2026-01-07 09:00:00",
            ),
            // Sunday as 7 and as 0.
            ("0 0 9 * * 7", "2026-01-01 00:00:00", "2026-01-04 09:00:00"),
            ("0 0 9 * * 0", "2026-01-01 00:00:00", "2026-01-04 09:00:00"),
            (
                "0 0 9 * * 5-7",
                "2026-01-01 10:00:00",
                "2026-01-02 09:00:00",
            ),
            // The first Monday of the month.
            (
                "0 0 9 1-7 * MON",
                "2026-01-06 00:00:00",
                "2026-02-02 09:00:00",
            ),
            // The 31st skips the shorter months.
            ("0 0 0 31 * *", "2026-02-01 00:00:00", "2026-03-31 00:00:00"),
            // The 13th that is a Friday.
            (
                "0 0 0 13 * FRI",
                "2026-01-01 00:00:00",
                "2026-02-13 00:00:00",
            ),
        ]);
    }

    #[test]
    fn a_date_that_never_comes_is_not_found() {
        assert_eq!(first("0 0 0 30 2 *", date(2026, 1, 1).at(0, 0, 0, 0)), None);
    }

    #[test]
    fn timing_follows_the_minute_and_hour_fields() {
        let timing = |e: &str| Cron::parse(e).unwrap().timing();
        assert_eq!(timing("0 30 2 * * *"), Timing::WallClock);
        assert_eq!(timing("0 0 1-5 * * *"), Timing::WallClock);
        assert_eq!(timing("* 0,30 9 * * *"), Timing::WallClock);
        assert_eq!(timing("0 */15 * * * *"), Timing::Elapsed);
        assert_eq!(timing("0 0 */2 * * *"), Timing::Elapsed);
        assert_eq!(timing("@hourly"), Timing::Elapsed);
        assert_eq!(timing("@daily"), Timing::WallClock);
    }

    #[test]
    fn bad_expressions_are_explained() {
        for (expression, says) in [
            ("0 0 * * *", "5 field(s)"),
            ("0 0 0 * * * 2027", "7 field(s)"),
            (
                "0 60 * * * *",
                "minutes field \"60\" has a value out of range",
            ),
            ("0 0 9 * * 8", "out of range"),
            ("0 0 0 L * *", "L, W or #"),
            ("0 0 0 * * MON#1", "L, W or #"),
            ("0 */0 * * * *", "step"),
            ("0 0 5-2 * * *", "start is after its end"),
            ("0 0 ? * * *", "is not a number"),
            ("0 0 nine * * *", "is not a number"),
            ("", "0 field(s)"),
        ] {
            let error = Cron::parse(expression).unwrap_err().to_string();
            assert!(error.contains(says), "{expression:?}: {error}");
        }
    }
}
