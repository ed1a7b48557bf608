//! A metric's current status: its newest measurement's level while that is
//! fresh, UNKNOWN once no measurement arrived within the cadence.

use crate::thresholds::Level;

/// A metric's status at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Level(Level),
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Level(level) => level.as_str(),
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// The status and since when it holds, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub status: Status,
    pub since_micros: i64,
}

/// The newest measurement a metric has: its time and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub measure_micros: i64,
    pub level: Level,
    /// When that level began: the first measurement of the streak of this
    /// level that the newest one ends.
    pub level_since_micros: i64,
}

/// The status at `now_micros` of a metric created at `created_micros`,
/// expecting a measurement every `cadence_micros` (0 or less: it never goes
/// UNKNOWN). A measurement is fresh up to and including the moment its
/// cadence runs out; UNKNOWN starts at that moment.
pub fn current(latest: Option<Latest>, created_micros: i64, cadence_micros: i64, now_micros: i64) -> Current {
    let last = latest.map_or(created_micros, |latest| latest.measure_micros);
    let expires = last.saturating_add(cadence_micros);
    if cadence_micros > 0 && now_micros > expires {
        return Current {
            status: Status::Unknown,
            since_micros: expires,
        };
    }
    match latest {
        Some(latest) => Current {
            status: Status::Level(latest.level),
            since_micros: latest.level_since_micros,
        },
        // Created, not measured yet, still within its first cadence.
        None => Current {
            status: Status::Unknown,
            since_micros: created_micros,
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn red_at(micros: i64) -> Latest {
        Latest {
            measure_micros: micros,
            level: Level::Red,
            level_since_micros: micros - DAY,
        }
    }

    #[test]
    fn a_fresh_measurement_gives_its_level_since_its_streak_began() {
        let now = 10 * DAY;
        let status = current(Some(red_at(now - DAY / 2)), 0, DAY, now);
        assert_eq!(status.status, Status::Level(Level::Red));
        assert_eq!(status.since_micros, now - DAY / 2 - DAY);
    }

    #[test]
    fn a_silent_metric_is_unknown_from_the_moment_its_cadence_ran_out() {
        let now = 10 * DAY;
        let measured = now - 3 * DAY;
        let status = current(Some(red_at(measured)), 0, DAY, now);
        assert_eq!(status.status, Status::Unknown);
        assert_eq!(status.since_micros, measured + DAY);
        // Exactly at the end of the cadence it is still fresh.
        assert_eq!(
            current(Some(red_at(measured)), 0, DAY, measured + DAY).status,
            Status::Level(Level::Red)
        );
    }

    #[test]
    fn a_metric_never_measured_is_unknown_since_its_creation() {
        assert_eq!(
            current(None, 5, DAY, 6),
            Current {
                status: Status::Unknown,
                since_micros: 5
            }
        );
        assert_eq!(current(None, 0, DAY, 2 * DAY).since_micros, DAY);
    }

    #[test]
    fn without_a_cadence_a_metric_never_goes_unknown() {
        assert_eq!(
            current(Some(red_at(0)), 0, 0, 1_000 * DAY).status,
            Status::Level(Level::Red)
        );
    }

    proptest! {
        /// Fresh exactly while now is within the cadence of the newest
        /// measurement; UNKNOWN never starts before the measurement.
        #[test]
        fn unknown_exactly_after_the_cadence(
            measured in 0i64..1_000_000_000,
            cadence in 1i64..1_000_000_000,
            elapsed in 0i64..2_000_000_000,
        ) {
            let status = current(Some(red_at(measured)), 0, cadence, measured + elapsed);
            prop_assert_eq!(status.status == Status::Unknown, elapsed > cadence);
            if status.status == Status::Unknown {
                prop_assert_eq!(status.since_micros, measured + cadence);
            }
        }
    }
}
