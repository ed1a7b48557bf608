//! Times are stored as microseconds since the Unix epoch (an integer column
//! reads the same on SQLite and PostgreSQL) and travel as proto Timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;

pub fn now_micros() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

pub fn to_timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

pub fn from_timestamp(timestamp: &Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos) / 1_000)
}

/// The earliest time a client may send: 2000-01-01T00:00:00Z. Older
/// dates in an OKR or strategy are mistakes (a zero year, a unit slip).
pub const EARLIEST_SECONDS: i64 = 946_684_800;
/// The first time a client may not send: 2200-01-01T00:00:00Z.
pub const LATEST_SECONDS: i64 = 7_258_118_400;
/// How far a measurement's time may run ahead of the server's clock: 400
/// days. A reading dated years ahead would pin its metric's status until
/// then; a lead of a few months is kept for planning data dated in the
/// coming quarter (the demo company's season is one).
pub const MAX_MEASUREMENT_LEAD_MICROS: i64 = 400 * 24 * 3_600 * 1_000_000;
/// What a time out of range is told.
pub const TIME_RANGE: &str = "must be a time from 2000-01-01T00:00:00Z up to (not including) 2200-01-01T00:00:00Z";

/// A proto timestamp is valid when its nanos are in range and it falls in
/// [`EARLIEST_SECONDS`, `LATEST_SECONDS`).
pub fn is_valid_timestamp(timestamp: &Timestamp) -> bool {
    (0..1_000_000_000).contains(&timestamp.nanos) && (EARLIEST_SECONDS..LATEST_SECONDS).contains(&timestamp.seconds)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn micros_round_trip_through_timestamps(micros in -10_000_000_000_000_000i64..10_000_000_000_000_000) {
            let timestamp = to_timestamp(micros);
            prop_assert_eq!(from_timestamp(&timestamp), micros);
        }

        #[test]
        fn only_times_in_the_range_are_valid(seconds in any::<i64>(), nanos in any::<i32>()) {
            let valid = is_valid_timestamp(&Timestamp { seconds, nanos });
            let in_range = (EARLIEST_SECONDS..LATEST_SECONDS).contains(&seconds) && (0..1_000_000_000).contains(&nanos);
            prop_assert_eq!(valid, in_range);
        }
    }
}
