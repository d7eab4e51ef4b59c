//! `connectors.NAME.timezone`: the zone a schedule's wall-clock times are read in.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Where a connector's zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneOrigin {
    /// `timezone` in the connector's config.
    Configured,
    /// No `timezone`: the system's local zone (`TZ`, else `/etc/localtime`).
    System,
    /// No `timezone`, and the system's zone cannot be determined: UTC.
    UtcFallback,
}

#[derive(Debug, Clone)]
pub struct ScheduleZone {
    pub zone: TimeZone,
    /// The IANA name (`Asia/Shanghai`), or how the system's zone is known when it has none.
    pub name: String,
    pub origin: ZoneOrigin,
}

impl ScheduleZone {
    /// The configured zone, else the system's, else UTC.
    pub fn of(configured: Option<&str>) -> Result<ScheduleZone, String> {
        match configured {
            Some(name) => ScheduleZone::named(name),
            None => Ok(ScheduleZone::system()),
        }
    }

    fn named(name: &str) -> Result<ScheduleZone, String> {
        let zone = TimeZone::get(name).map_err(|_| {
            format!(
                "{name:?} is not a time zone of the IANA database (e.g. \"Asia/Shanghai\", \"Europe/Berlin\", \"UTC\")"
            )
        })?;
        Ok(ScheduleZone {
            name: zone.iana_name().unwrap_or(name).to_owned(),
            zone,
            origin: ZoneOrigin::Configured,
        })
    }

    fn system() -> ScheduleZone {
        match TimeZone::try_system() {
            Ok(zone) => ScheduleZone {
                // A copied /etc/localtime or a POSIX TZ rule has no IANA name.
                name: zone.iana_name().unwrap_or("local").to_owned(),
                zone,
                origin: ZoneOrigin::System,
            },
            Err(_) => ScheduleZone::utc_fallback(),
        }
    }

    pub fn utc_fallback() -> ScheduleZone {
        ScheduleZone {
            zone: TimeZone::UTC,
            name: "UTC".to_owned(),
            origin: ZoneOrigin::UtcFallback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_name_is_checked_against_the_database() {
        let zone = ScheduleZone::of(Some("Asia/Shanghai")).unwrap();
        assert_eq!(zone.name, "Asia/Shanghai");
        assert_eq!(zone.origin, ZoneOrigin::Configured);
        let error = ScheduleZone::of(Some("Europe/Berln")).unwrap_err();
        assert!(
            error.contains("\"Europe/Berln\" is not a time zone"),
            "{error}"
        );
        assert!(ScheduleZone::of(Some("../../etc/passwd")).is_err());
    }

    #[test]
    fn without_a_name_the_system_zone_or_utc() {
        let zone = ScheduleZone::of(None).unwrap();
        match TimeZone::try_system() {
            Ok(system) => {
                assert_eq!(zone.origin, ZoneOrigin::System);
                assert_eq!(zone.zone, system);
            }
            Err(_) => assert_eq!(zone.origin, ZoneOrigin::UtcFallback),
        }
    }
}
