//! ISO weeks, the rhythm's unit of time: Monday to Sunday in UTC, written
//! "2027-W05" (and "2027-w05" inside resource names, whose ids are lower
//! case). A week's plan locks when the next week starts.

use std::fmt;

use chrono::{DateTime, Datelike, Days, IsoWeek, NaiveDate, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week(NaiveDate);

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Week {
    /// "2027-W05" or "2027-w05"; `None` for anything else, or a week the
    /// year does not have.
    pub fn parse(text: &str) -> Option<Week> {
        let (year, week) = text.split_once(['W', 'w'])?;
        let year = year.strip_suffix('-')?;
        if year.len() != 4 || week.len() != 2 || !(year.chars().chain(week.chars())).all(|c| c.is_ascii_digit()) {
            return None;
        }
        let monday = NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)?;
        Some(Week(monday))
    }

    /// The week `micros` (since the epoch, UTC) falls in.
    pub fn of_micros(micros: i64) -> Week {
        let date = DateTime::from_timestamp_micros(micros).map_or(NaiveDate::MIN, |time| time.date_naive());
        let iso: IsoWeek = date.iso_week();
        Week(NaiveDate::from_isoywd_opt(iso.year(), iso.week(), Weekday::Mon).unwrap_or(date))
    }

    /// Monday 00:00 UTC, in microseconds since the epoch.
    pub fn start_micros(self) -> i64 {
        let days = self.0.signed_duration_since(NaiveDate::default()).num_days();
        days.saturating_mul(MICROS_PER_DAY)
    }

    /// The week `weeks` after this one.
    pub fn plus(self, weeks: u64) -> Week {
        Week(self.0.checked_add_days(Days::new(weeks * 7)).unwrap_or(self.0))
    }

    /// As a resource id segment: "2027-w05".
    pub fn id(self) -> String {
        self.to_string().to_lowercase()
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.0.iso_week();
        write!(f, "{:04}-W{:02}", iso.year(), iso.week())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn weeks_read_and_write_the_iso_way() {
        let week = Week::parse("2027-W01").expect("a week");
        // 2027-01-04 is the Monday of ISO week 1 of 2027.
        assert_eq!(week.start_micros(), 1_799_020_800 * 1_000_000);
        assert_eq!(week.to_string(), "2027-W01");
        assert_eq!(week.id(), "2027-w01");
        assert_eq!(Week::parse("2027-w01"), Some(week));
        assert_eq!(week.plus(1).to_string(), "2027-W02");
        assert_eq!(Week::parse("2026-W53").map(|w| w.to_string()), Some("2026-W53".into()));
        for bad in [
            "2027-W54",
            "2027-W00",
            "2027W01",
            "27-W01",
            "2027-W1",
            "2027-W01x",
            "",
            "2027-X01",
        ] {
            assert_eq!(Week::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        /// Every instant falls in the week that starts at or before it and
        /// ends after it, and a week's name reads back as itself.
        #[test]
        fn an_instant_lies_in_its_week(micros in 0i64..4_102_444_800_000_000) {
            let week = Week::of_micros(micros);
            prop_assert!(week.start_micros() <= micros);
            prop_assert!(micros < week.plus(1).start_micros());
            prop_assert_eq!(Week::parse(&week.to_string()), Some(week));
        }

        /// Any text a client sends as a week is a week or refused, never a
        /// panic; a week it names reads back as the same text.
        #[test]
        fn any_text_is_a_week_or_refused(text in "\\PC{0,12}|[0-9]{4}-[Ww][0-9]{2}") {
            if let Some(week) = Week::parse(&text) {
                prop_assert_eq!(week.to_string(), text.to_uppercase());
                prop_assert!(week.start_micros() < week.plus(1).start_micros());
            }
        }
    }
}
