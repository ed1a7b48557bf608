//! A metric's thresholds: which values are GREEN, YELLOW or RED for its
//! direction, and whether the thresholds make sense for that direction.

/// The status of one value against a metric's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Green,
    Yellow,
    Red,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Green => "GREEN",
            Level::Yellow => "YELLOW",
            Level::Red => "RED",
        }
    }
}

/// A direction with the thresholds it reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bands {
    /// GREEN at or above `green`, RED below `red`, YELLOW between.
    HigherIsBetter { green: f64, red: f64 },
    /// GREEN at or below `green`, RED above `red`, YELLOW between.
    LowerIsBetter { green: f64, red: f64 },
    /// GREEN inside `[green_low, green_high]`, RED outside
    /// `[red_low, red_high]`, YELLOW between.
    Band {
        green_low: f64,
        green_high: f64,
        red_low: f64,
        red_high: f64,
    },
}

/// Why thresholds do not fit their direction: the field at fault (relative
/// to the thresholds message) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdProblem {
    pub field: &'static str,
    pub description: String,
}

impl Bands {
    /// The level of `value`. Boundaries count as the better level: a
    /// higher-is-better value exactly at `green` is GREEN, exactly at `red`
    /// is YELLOW.
    pub fn level(&self, value: f64) -> Level {
        match *self {
            Bands::HigherIsBetter { green, red } => {
                if value >= green {
                    Level::Green
                } else if value < red {
                    Level::Red
                } else {
                    Level::Yellow
                }
            }
            Bands::LowerIsBetter { green, red } => {
                if value <= green {
                    Level::Green
                } else if value > red {
                    Level::Red
                } else {
                    Level::Yellow
                }
            }
            Bands::Band {
                green_low,
                green_high,
                red_low,
                red_high,
            } => {
                if (green_low..=green_high).contains(&value) {
                    Level::Green
                } else if value < red_low || value > red_high {
                    Level::Red
                } else {
                    Level::Yellow
                }
            }
        }
    }

    /// Every way these thresholds contradict their direction.
    pub fn problems(&self) -> Vec<ThresholdProblem> {
        let mut problems = Vec::new();
        let mut finite = |field: &'static str, value: f64| {
            if !value.is_finite() {
                problems.push(ThresholdProblem {
                    field,
                    description: format!("must be a finite number, got {value}"),
                });
            }
        };
        match *self {
            Bands::HigherIsBetter { green, red } | Bands::LowerIsBetter { green, red } => {
                finite("green", green);
                finite("red", red);
            }
            Bands::Band {
                green_low,
                green_high,
                red_low,
                red_high,
            } => {
                finite("green_low", green_low);
                finite("green_high", green_high);
                finite("red_low", red_low);
                finite("red_high", red_high);
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        match *self {
            Bands::HigherIsBetter { green, red } if red > green => problems.push(ThresholdProblem {
                field: "red",
                description: format!(
                    "a HIGHER_IS_BETTER metric turns red below its red threshold, so it cannot be above the \
                     green one: {red} is above {green}"
                ),
            }),
            Bands::LowerIsBetter { green, red } if red < green => problems.push(ThresholdProblem {
                field: "red",
                description: format!(
                    "a LOWER_IS_BETTER metric turns red above its red threshold, so it cannot be below the \
                     green one: {red} is below {green}"
                ),
            }),
            Bands::Band {
                green_low,
                green_high,
                red_low,
                red_high,
            } => {
                if green_low > green_high {
                    problems.push(ThresholdProblem {
                        field: "green_high",
                        description: format!("the green band ends before it starts: {green_high} is below {green_low}"),
                    });
                }
                if red_low > green_low {
                    problems.push(ThresholdProblem {
                        field: "red_low",
                        description: format!(
                            "values below red_low are red, so it cannot be above green_low: {red_low} is above \
                             {green_low}"
                        ),
                    });
                }
                if red_high < green_high {
                    problems.push(ThresholdProblem {
                        field: "red_high",
                        description: format!(
                            "values above red_high are red, so it cannot be below green_high: {red_high} is below \
                             {green_high}"
                        ),
                    });
                }
            }
            _ => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CSAT: Bands = Bands::HigherIsBetter { green: 4.2, red: 3.8 };
    const LATENCY: Bands = Bands::LowerIsBetter {
        green: 200.0,
        red: 500.0,
    };
    const UTILISATION: Bands = Bands::Band {
        green_low: 70.0,
        green_high: 80.0,
        red_low: 50.0,
        red_high: 95.0,
    };

    #[test]
    fn levels_follow_the_direction_with_boundaries_counting_as_the_better_level() {
        assert_eq!(CSAT.level(4.5), Level::Green);
        assert_eq!(CSAT.level(4.2), Level::Green);
        assert_eq!(CSAT.level(4.0), Level::Yellow);
        assert_eq!(CSAT.level(3.8), Level::Yellow);
        assert_eq!(CSAT.level(3.7), Level::Red);
        assert_eq!(LATENCY.level(150.0), Level::Green);
        assert_eq!(LATENCY.level(200.0), Level::Green);
        assert_eq!(LATENCY.level(500.0), Level::Yellow);
        assert_eq!(LATENCY.level(501.0), Level::Red);
        assert_eq!(UTILISATION.level(75.0), Level::Green);
        assert_eq!(UTILISATION.level(60.0), Level::Yellow);
        assert_eq!(UTILISATION.level(90.0), Level::Yellow);
        assert_eq!(UTILISATION.level(49.0), Level::Red);
        assert_eq!(UTILISATION.level(96.0), Level::Red);
    }

    #[test]
    fn thresholds_against_their_direction_are_refused_saying_why() {
        let inverted = Bands::HigherIsBetter { green: 3.8, red: 4.2 };
        let problems = inverted.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "red");
        assert!(problems[0].description.contains("4.2 is above 3.8"), "{problems:?}");
        let inverted = Bands::LowerIsBetter {
            green: 500.0,
            red: 200.0,
        };
        assert_eq!(inverted.problems()[0].field, "red");
        let inside_out = Bands::Band {
            green_low: 80.0,
            green_high: 70.0,
            red_low: 85.0,
            red_high: 60.0,
        };
        let fields: Vec<&str> = inside_out.problems().iter().map(|problem| problem.field).collect();
        assert_eq!(fields, vec!["green_high", "red_low", "red_high"]);
        let not_a_number = Bands::HigherIsBetter {
            green: f64::NAN,
            red: f64::INFINITY,
        };
        let fields: Vec<&str> = not_a_number.problems().iter().map(|problem| problem.field).collect();
        assert_eq!(fields, vec!["green", "red"]);
        assert!(CSAT.problems().is_empty());
        assert!(LATENCY.problems().is_empty());
        assert!(UTILISATION.problems().is_empty());
    }

    fn rank(level: Level) -> u8 {
        match level {
            Level::Green => 2,
            Level::Yellow => 1,
            Level::Red => 0,
        }
    }

    proptest! {
        /// For consistent directional thresholds, a better value never has
        /// a worse level, and the thresholds themselves land where they say.
        #[test]
        fn a_better_value_never_has_a_worse_level(
            a in -1e6f64..1e6,
            b in -1e6f64..1e6,
            x in -1e6f64..1e6,
            y in -1e6f64..1e6,
        ) {
            let (red, green) = if a <= b { (a, b) } else { (b, a) };
            let higher = Bands::HigherIsBetter { green, red };
            prop_assert!(higher.problems().is_empty());
            let (worse, better) = if x <= y { (x, y) } else { (y, x) };
            prop_assert!(rank(higher.level(better)) >= rank(higher.level(worse)));
            prop_assert_eq!(higher.level(green), Level::Green);
            let lower = Bands::LowerIsBetter { green: red, red: green };
            prop_assert!(lower.problems().is_empty());
            prop_assert!(rank(lower.level(worse)) >= rank(lower.level(better)));
            prop_assert_eq!(lower.level(red), Level::Green);
        }

        /// For a consistent band, GREEN is exactly the green band, and
        /// moving away from it never improves the level.
        #[test]
        fn band_levels_worsen_away_from_the_green_band(
            mut bounds in proptest::array::uniform4(-1e6f64..1e6),
            x in -1e6f64..1e6,
            step in 0f64..1e6,
        ) {
            bounds.sort_by(f64::total_cmp);
            let [red_low, green_low, green_high, red_high] = bounds;
            let band = Bands::Band { green_low, green_high, red_low, red_high };
            prop_assert!(band.problems().is_empty());
            prop_assert_eq!(band.level(x) == Level::Green, (green_low..=green_high).contains(&x));
            let further = if x > green_high { x + step } else if x < green_low { x - step } else { x };
            prop_assert!(rank(band.level(further)) <= rank(band.level(x)));
        }
    }
}
