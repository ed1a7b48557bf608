//! How far a key result has come, by kind, and how its objective rolls up.
//! Pure: no I/O, every rule tested here.

/// What a key result measures, with the numbers its kind needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// A metric to establish: done once a baseline value is recorded.
    Baseline,
    /// From `start` to `target` ("from 65% to 75%"), either direction.
    Transition { start: f64, target: f64 },
    /// Up from `start` to `target`, `target > start` ("up 10%").
    Increase { start: f64, target: f64 },
    /// Down from `start` to `target`, `target < start` ("reduce by five days").
    Decrease { start: f64, target: f64 },
    /// Keep the value inside `[lower, upper]` ("utilisation 70–80%").
    Threshold { lower: f64, upper: f64 },
    /// Delivered or not ("deliver by Nov 30"); a check-in of 1 means done.
    Milestone,
}

/// Why a measure's numbers do not describe a key result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureProblem {
    /// The field at fault, relative to the key result (`target`, `upper`).
    pub field: &'static str,
    pub description: String,
}

impl Measure {
    /// The measure of a key result as the API carries it: `kind` is the
    /// number of `trellis.okr.v1.KeyResult.Kind` (1 BASELINE, 2 TRANSITION,
    /// 3 INCREASE, 4 DECREASE, 5 THRESHOLD, 6 MILESTONE); `None` for any
    /// other. Taking the wire number keeps this crate free of the API's
    /// types; the okr service tests that the numbers agree.
    pub fn from_wire(kind: i32, start: f64, target: f64, lower: f64, upper: f64) -> Option<Measure> {
        Some(match kind {
            1 => Measure::Baseline,
            2 => Measure::Transition { start, target },
            3 => Measure::Increase { start, target },
            4 => Measure::Decrease { start, target },
            5 => Measure::Threshold { lower, upper },
            6 => Measure::Milestone,
            _ => return None,
        })
    }

    /// The problems of this measure's numbers, each naming its field.
    pub fn problems(&self) -> Vec<MeasureProblem> {
        let mut problems = Vec::new();
        let mut finite = |field: &'static str, value: f64| {
            if !value.is_finite() {
                problems.push(MeasureProblem {
                    field,
                    description: "must be a finite number".into(),
                });
            }
        };
        match *self {
            Measure::Transition { start, target }
            | Measure::Increase { start, target }
            | Measure::Decrease { start, target } => {
                finite("start", start);
                finite("target", target);
            }
            Measure::Threshold { lower, upper } => {
                finite("lower", lower);
                finite("upper", upper);
            }
            Measure::Baseline | Measure::Milestone => {}
        }
        if !problems.is_empty() {
            return problems;
        }
        let problem = match *self {
            Measure::Transition { start, target } if target == start => Some((
                "target",
                format!("must differ from start ({start}): a transition has somewhere to go"),
            )),
            Measure::Increase { start, target } if target <= start => Some((
                "target",
                format!("an INCREASE needs a target above its start, but {target} is not above {start}"),
            )),
            Measure::Decrease { start, target } if target >= start => Some((
                "target",
                format!("a DECREASE needs a target below its start, but {target} is not below {start}"),
            )),
            Measure::Threshold { lower, upper } if lower > upper => {
                Some(("upper", format!("must not be below lower ({lower}), got {upper}")))
            }
            _ => None,
        };
        problems.extend(problem.map(|(field, description)| MeasureProblem { field, description }));
        problems
    }
}

/// Progress in `[0, 1]` from the check-in values of the current cycle, in
/// the order they were made (the last is the current value).
pub fn progress(measure: &Measure, values: &[f64]) -> f64 {
    let latest = values.last().copied();
    let progress = match *measure {
        Measure::Baseline => f64::from(u8::from(latest.is_some())),
        Measure::Milestone => f64::from(u8::from(latest.is_some_and(|value| value >= 1.0))),
        Measure::Transition { start, target }
        | Measure::Increase { start, target }
        | Measure::Decrease { start, target } => match latest {
            Some(current) => linear(start, target, current),
            None => 0.0,
        },
        Measure::Threshold { lower, upper } => {
            if values.is_empty() {
                0.0
            } else {
                let inside = values.iter().filter(|value| (lower..=upper).contains(*value)).count();
                inside as f64 / values.len() as f64
            }
        }
    };
    clamp_unit(progress)
}

/// What a key result keeps of its check-ins, so its progress is known
/// without reading them all again: how many, how many inside a THRESHOLD
/// band, and the latest value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    pub check_ins: i64,
    pub in_band: i64,
    pub latest: Option<f64>,
}

impl Tally {
    /// The tally after one more check-in of `value`.
    pub fn record(self, measure: &Measure, value: f64) -> Tally {
        let inside = match *measure {
            Measure::Threshold { lower, upper } => (lower..=upper).contains(&value),
            _ => false,
        };
        Tally {
            check_ins: self.check_ins + 1,
            in_band: self.in_band + i64::from(inside),
            latest: Some(value),
        }
    }

    /// The same progress [`progress`] finds from every value.
    pub fn progress(&self, measure: &Measure) -> f64 {
        match *measure {
            Measure::Threshold { .. } if self.check_ins > 0 => clamp_unit(self.in_band as f64 / self.check_ins as f64),
            Measure::Threshold { .. } => 0.0,
            _ => progress(measure, self.latest.as_slice()),
        }
    }
}

/// (current − start) / (target − start), clamped to `[0, 1]`.
pub fn linear(start: f64, target: f64, current: f64) -> f64 {
    let span = target - start;
    if span == 0.0 || !span.is_finite() {
        return 0.0;
    }
    clamp_unit((current - start) / span)
}

/// Anything outside `[0, 1]` (or not a number) is brought inside it.
pub fn clamp_unit(value: f64) -> f64 {
    if value.is_nan() { 0.0 } else { value.clamp(0.0, 1.0) }
}

/// The weight a part counts with: a weight of 0 (unset in proto3), or one
/// that is not a positive number, counts as 1.
pub fn effective_weight(weight: f64) -> f64 {
    if weight > 0.0 && weight.is_finite() {
        weight
    } else {
        1.0
    }
}

/// The weighted mean of `(weight, value)` pairs, for an objective's
/// progress or score from its key results. Pairs with a weight that is not
/// positive count for nothing; with no positive weight the mean is 0.
/// Weights are scaled by the largest first, so no sum can overflow
/// whatever was stored before weights were bounded.
pub fn weighted_mean(pairs: &[(f64, f64)]) -> f64 {
    let counts = |weight: f64| weight > 0.0 && weight.is_finite();
    let largest = pairs
        .iter()
        .map(|&(weight, _)| weight)
        .filter(|&weight| counts(weight))
        .fold(0.0, f64::max);
    let mut weight_sum = 0.0;
    let mut weighted = 0.0;
    for &(weight, value) in pairs {
        if counts(weight) {
            let scaled = weight / largest;
            weight_sum += scaled;
            weighted += scaled * clamp_unit(value);
        }
    }
    if weight_sum == 0.0 {
        0.0
    } else {
        clamp_unit(weighted / weight_sum)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_kind_follows_the_design_table() {
        assert_eq!(progress(&Measure::Baseline, &[]), 0.0);
        assert_eq!(progress(&Measure::Baseline, &[42.0]), 1.0);
        assert_eq!(progress(&Measure::Milestone, &[0.0]), 0.0);
        assert_eq!(progress(&Measure::Milestone, &[0.0, 1.0]), 1.0);
        let transition = Measure::Transition {
            start: 65.0,
            target: 75.0,
        };
        assert!((progress(&transition, &[70.0]) - 0.5).abs() < 1e-12);
        let decrease = Measure::Decrease {
            start: 20.0,
            target: 15.0,
        };
        assert!((progress(&decrease, &[18.0]) - 0.4).abs() < 1e-12);
        assert_eq!(progress(&decrease, &[25.0]), 0.0, "worse than the start clamps to 0");
        assert_eq!(progress(&decrease, &[10.0]), 1.0, "past the target clamps to 1");
        let band = Measure::Threshold {
            lower: 70.0,
            upper: 80.0,
        };
        assert_eq!(
            progress(&band, &[69.9, 70.0, 80.0, 80.1]),
            0.5,
            "the band's edges are inside"
        );
        assert_eq!(progress(&band, &[]), 0.0);
    }

    #[test]
    fn inconsistent_measures_say_what_is_wrong() {
        let problems = Measure::Decrease {
            start: 10.0,
            target: 12.0,
        }
        .problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "target");
        assert!(problems[0].description.contains("DECREASE") && problems[0].description.contains("below"));
        assert_eq!(
            Measure::Increase {
                start: 5.0,
                target: 5.0
            }
            .problems()[0]
                .field,
            "target"
        );
        assert_eq!(
            Measure::Transition {
                start: 1.0,
                target: 1.0
            }
            .problems()
            .len(),
            1
        );
        assert_eq!(
            Measure::Threshold { lower: 9.0, upper: 1.0 }.problems()[0].field,
            "upper"
        );
        assert_eq!(
            Measure::Increase {
                start: f64::NAN,
                target: f64::INFINITY
            }
            .problems()
            .len(),
            2
        );
        assert!(
            Measure::Transition {
                start: 75.0,
                target: 65.0
            }
            .problems()
            .is_empty()
        );
        assert!(Measure::Threshold { lower: 3.0, upper: 3.0 }.problems().is_empty());
    }

    fn finite() -> impl Strategy<Value = f64> {
        -1.0e6..1.0e6f64
    }

    proptest! {
        #[test]
        fn progress_is_always_within_zero_and_one(start in finite(), target in finite(), values in proptest::collection::vec(finite(), 0..20)) {
            for measure in [
                Measure::Transition { start, target },
                Measure::Increase { start, target },
                Measure::Decrease { start, target },
                Measure::Threshold { lower: start.min(target), upper: start.max(target) },
                Measure::Baseline,
                Measure::Milestone,
            ] {
                let progress = progress(&measure, &values);
                prop_assert!((0.0..=1.0).contains(&progress), "{measure:?} {values:?} -> {progress}");
            }
        }

        #[test]
        fn moving_toward_the_target_never_lowers_progress(start in finite(), distance in 0.001..1.0e5f64, a in finite(), b in finite()) {
            let (lower, higher) = (a.min(b), a.max(b));
            let increase = Measure::Increase { start, target: start + distance };
            prop_assert!(progress(&increase, &[lower]) <= progress(&increase, &[higher]));
            let decrease = Measure::Decrease { start, target: start - distance };
            prop_assert!(progress(&decrease, &[higher]) <= progress(&decrease, &[lower]));
        }

        #[test]
        fn reaching_the_target_is_full_progress(start in finite(), distance in 0.001..1.0e5f64) {
            prop_assert_eq!(progress(&Measure::Increase { start, target: start + distance }, &[start + distance]), 1.0);
            prop_assert_eq!(progress(&Measure::Decrease { start, target: start - distance }, &[start - distance]), 1.0);
            prop_assert_eq!(progress(&Measure::Increase { start, target: start + distance }, &[start]), 0.0);
        }

        #[test]
        fn a_weighted_mean_lies_between_its_extremes_and_ignores_scale(
            pairs in proptest::collection::vec((0.01..100.0f64, 0.0..=1.0f64), 1..12),
            scale in 0.01..100.0f64,
        ) {
            let mean = weighted_mean(&pairs);
            let low = pairs.iter().map(|pair| pair.1).fold(f64::INFINITY, f64::min);
            let high = pairs.iter().map(|pair| pair.1).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(mean >= low - 1e-9 && mean <= high + 1e-9);
            let scaled: Vec<(f64, f64)> = pairs.iter().map(|(weight, value)| (weight * scale, *value)).collect();
            prop_assert!((weighted_mean(&scaled) - mean).abs() < 1e-9);
        }

        /// Weights up to the largest double: the mean never overflows to 0.
        #[test]
        fn huge_weights_still_give_a_mean_between_the_extremes(
            pairs in proptest::collection::vec((1.0f64..=f64::MAX, 0.0..=1.0f64), 1..12),
        ) {
            let mean = weighted_mean(&pairs);
            let low = pairs.iter().map(|pair| pair.1).fold(f64::INFINITY, f64::min);
            let high = pairs.iter().map(|pair| pair.1).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(mean >= low - 1e-9 && mean <= high + 1e-9, "{mean} outside {low}..{high}");
            let at_target = [(1e308, 1.0), (1e308, 1.0)];
            prop_assert_eq!(weighted_mean(&at_target), 1.0);
        }

        #[test]
        fn equal_weights_give_the_plain_mean(values in proptest::collection::vec(0.0..=1.0f64, 1..12)) {
            let pairs: Vec<(f64, f64)> = values.iter().map(|value| (1.0, *value)).collect();
            let plain = values.iter().sum::<f64>() / values.len() as f64;
            prop_assert!((weighted_mean(&pairs) - plain).abs() < 1e-9);
        }
    }

    proptest! {
        #[test]
        fn a_tally_agrees_with_every_value(
            lower in -100.0f64..100.0,
            width in 0.0f64..50.0,
            start in -100.0f64..100.0,
            span in 1.0f64..100.0,
            values in proptest::collection::vec(-200.0f64..200.0, 0..40),
        ) {
            let measures = [
                Measure::Baseline,
                Measure::Milestone,
                Measure::Transition { start, target: start - span },
                Measure::Increase { start, target: start + span },
                Measure::Decrease { start, target: start - span },
                Measure::Threshold { lower, upper: lower + width },
            ];
            for measure in measures {
                let tally = values.iter().fold(Tally::default(), |tally, value| tally.record(&measure, *value));
                prop_assert_eq!(tally.check_ins, values.len() as i64);
                prop_assert!((tally.progress(&measure) - progress(&measure, &values)).abs() < 1e-12);
            }
        }
    }
}
