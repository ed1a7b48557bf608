//! Scoring in REVIEW: a score in `[0, 1]` per key result, the objective's
//! score as their weighted mean, and whether that counts as achieved: an
//! aspirational objective at 0.7, a committed one only at 1.0.

use crate::progress::weighted_mean;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    /// Expected to be reached in full.
    Committed,
    /// A stretch: 0.7 counts as success.
    Aspirational,
}

pub const ASPIRATIONAL_SUCCESS: f64 = 0.7;
pub const COMMITTED_SUCCESS: f64 = 1.0;

/// Whether a score is a valid key-result score.
pub fn is_valid_score(score: f64) -> bool {
    (0.0..=1.0).contains(&score)
}

/// The objective's score from `(weight, score)` of its key results.
pub fn objective_score(key_results: &[(f64, f64)]) -> f64 {
    weighted_mean(key_results)
}

pub fn is_achieved(commitment: Commitment, score: f64) -> bool {
    // Scores are rounded to thousandths first, so a weighted mean of
    // perfect scores that floats to 0.9999999 still counts as 1.0.
    let score = (score * 1_000.0).round() / 1_000.0;
    match commitment {
        Commitment::Aspirational => score >= ASPIRATIONAL_SUCCESS,
        Commitment::Committed => score >= COMMITTED_SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn success_lines_differ_by_commitment() {
        assert!(is_achieved(Commitment::Aspirational, 0.7));
        assert!(!is_achieved(Commitment::Aspirational, 0.69));
        assert!(!is_achieved(Commitment::Committed, 0.99));
        assert!(is_achieved(Commitment::Committed, 1.0));
        let perfect = objective_score(&[(0.1, 1.0), (0.2, 1.0), (0.7, 1.0)]);
        assert!(is_achieved(Commitment::Committed, perfect));
        assert!(is_valid_score(0.0) && is_valid_score(1.0) && !is_valid_score(1.01) && !is_valid_score(f64::NAN));
    }

    proptest! {
        #[test]
        fn a_committed_success_is_an_aspirational_one(score in 0.0..=1.0f64) {
            if is_achieved(Commitment::Committed, score) {
                prop_assert!(is_achieved(Commitment::Aspirational, score));
            }
        }
    }
}
