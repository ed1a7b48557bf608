//! How often something is expected to be reported, and what it means to
//! miss it. Key results and health metrics both carry a cadence.

use prost_types::Duration;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A cadence in microseconds; 0 when unset. Out-of-range durations
/// saturate instead of wrapping, so a hostile cadence reads as "never".
pub fn micros(cadence: Option<&Duration>) -> i64 {
    cadence.map_or(0, |cadence| {
        cadence
            .seconds
            .saturating_mul(MICROS_PER_SECOND)
            .saturating_add(i64::from(cadence.nanos) / 1_000)
    })
}

/// A key result is stale when nothing was checked in for longer than its
/// cadence: counted from the last check-in, or, before the first, from
/// when it started being tracked.
pub fn is_stale(
    last_check_in_micros: Option<i64>,
    tracked_since_micros: i64,
    cadence_micros: i64,
    now_micros: i64,
) -> bool {
    if cadence_micros <= 0 {
        return false;
    }
    let since = last_check_in_micros.unwrap_or(tracked_since_micros);
    now_micros.saturating_sub(since) > cadence_micros
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_counts_from_the_last_check_in_or_the_start() {
        let week = 7 * 24 * 3_600 * 1_000_000;
        assert!(!is_stale(None, 0, week, week));
        assert!(is_stale(None, 0, week, week + 1));
        assert!(!is_stale(Some(week), 0, week, week + 1));
        assert!(!is_stale(None, 0, 0, i64::MAX), "no cadence, never stale");
    }

    #[test]
    fn durations_become_microseconds_and_saturate() {
        assert_eq!(micros(None), 0);
        assert_eq!(
            micros(Some(&Duration {
                seconds: 2,
                nanos: 500_000
            })),
            2_000_500
        );
        assert_eq!(
            micros(Some(&Duration {
                seconds: i64::MAX,
                nanos: 0
            })),
            i64::MAX
        );
    }
}
