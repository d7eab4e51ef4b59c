//! When a scheduled connector runs next: its cron expression read on the wall clock of its time
//! zone, across daylight-saving changes by ISC cron's rules. Pure: the daemon's scheduler sleeps
//! until the instant computed here, and computes the next one after each tick.
//!
//! The rules (a daylight-saving change is a transition of the zone's offset):
//! - A *wall-clock* job (particular values in the minute and hour fields, `"0 30 2 * * *"`) runs
//!   at that local time. A time the clock skips (spring forward, 02:00 → 03:00) runs once, at the
//!   instant of the jump; a time the clock repeats (fall back, 03:00 → 02:00) runs once, the
//!   first time round.
//! - An *elapsed-time* job (`*` or `*/n` in the minute or hour field, `"0 */15 * * * *"`,
//!   `@hourly`) runs at every instant whose local time matches, so its runs stay their real
//!   interval apart: through a repeated hour it runs at both passes, in a skipped hour not at all.
//!
//! ISC cron applies these rules to clock changes under three hours; every zone transition is
//! treated so here.

mod cron;
mod zone;

pub use cron::{Cron, CronError, Timing};
pub use zone::{ScheduleZone, ZoneOrigin};

use jiff::tz::{Offset, TimeZone, TimeZoneTransition};
use jiff::{SignedDuration, Timestamp, civil::DateTime};

/// How far ahead a next run is searched for: long enough for the rarest date a cron expression
/// can name (the 29th of February on a given weekday).
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 366 * 50);

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

impl Schedule {
    pub fn new(cron: Cron, zone: TimeZone) -> Schedule {
        Schedule { cron, zone }
    }

    /// The first run strictly after `after`, or None when the expression names no date within
    /// the next fifty years (`"0 0 0 30 2 *"`).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let horizon = after.checked_add(HORIZON).ok()?;
        // Runs are whole seconds: the first candidate is the next whole second.
        let mut at = after;
        let mut civil = self
            .zone
            .to_offset(after)
            .to_datetime(after)
            .with()
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(SignedDuration::from_secs(1))
            .ok()?;
        // One stretch of constant offset at a time: inside one, local and absolute time move
        // together.
        loop {
            let offset = self.zone.to_offset(at);
            let change = self.zone.following(at).next();
            if self.cron.timing() == Timing::WallClock
                && let Some(first_pass_end) = self.repeated_until(at)
            {
                civil = civil.max(first_pass_end);
            }
            let end = change
                .as_ref()
                .map_or(horizon, |c| c.timestamp().min(horizon));
            let last_day = offset.to_datetime(end).date();
            if let Some(found) = self.cron.first_at_or_after(civil, last_day) {
                let run = offset.to_timestamp(found).ok()?;
                if run < end {
                    return Some(run);
                }
            }
            let change = change.filter(|c| c.timestamp() < horizon)?;
            if let Some(run) = self.skipped_run(offset, &change) {
                return Some(run);
            }
            at = change.timestamp();
            civil = change.offset().to_datetime(at);
        }
    }

    /// For a wall-clock job, the instant of a forward jump when one of its times falls in the
    /// local times the jump skips.
    fn skipped_run(&self, before: Offset, change: &TimeZoneTransition) -> Option<Timestamp> {
        if self.cron.timing() != Timing::WallClock || change.offset() <= before {
            return None;
        }
        let skipped_from = before.to_datetime(change.timestamp());
        let skipped_to = change.offset().to_datetime(change.timestamp());
        self.cron
            .first_at_or_after(skipped_from, skipped_to.date())
            .filter(|time| *time < skipped_to)
            .map(|_| change.timestamp())
    }

    /// When `at` is in the second pass of a repeated hour, the local time at which the first
    /// pass ended: a wall-clock job's times before it have run already.
    fn repeated_until(&self, at: Timestamp) -> Option<DateTime> {
        let last = self
            .zone
            .preceding(at.checked_add(SignedDuration::from_nanos(1)).ok()?)
            .next()?;
        let before = self.zone.to_offset(
            last.timestamp()
                .checked_sub(SignedDuration::from_secs(1))
                .ok()?,
        );
        (last.offset() < before).then(|| before.to_datetime(last.timestamp()))
    }
}

#[cfg(test)]
mod tests;
