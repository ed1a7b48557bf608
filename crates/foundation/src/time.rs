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

/// A proto timestamp is valid when its nanos are in range.
pub fn is_valid_timestamp(timestamp: &Timestamp) -> bool {
    (0..1_000_000_000).contains(&timestamp.nanos)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn micros_round_trip_through_timestamps(micros in -10_000_000_000_000_000i64..10_000_000_000_000_000) {
            let timestamp = to_timestamp(micros);
            prop_assert!(is_valid_timestamp(&timestamp));
            prop_assert_eq!(from_timestamp(&timestamp), micros);
        }
    }
}
