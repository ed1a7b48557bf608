//! The cells of an import file that are more than text: lists, alignment
//! targets (names, other rows, weights) and key-result kinds.

use trellis_proto::okr::v1::{AlignmentTarget, ImportAlignment, alignment_target::Target, key_result};

/// `;`-separated entries, blanks dropped.
pub(super) fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').map(str::trim).filter(|entry| !entry.is_empty())
}

/// `NAME[@WEIGHT]`, NAME a choice, objective or key result.
pub fn alignment_target(text: &str) -> Result<AlignmentTarget, String> {
    let (name, weight) = weighted(text)?;
    let target = if name.starts_with("strategies/") && name.contains("/choices/") {
        Target::Choice(name.to_owned())
    } else if name.starts_with("objectives/") && name.contains("/keyResults/") {
        Target::KeyResult(name.to_owned())
    } else if name.starts_with("objectives/") {
        Target::Objective(name.to_owned())
    } else {
        return Err("not strategies/S/choices/C, objectives/O or objectives/O/keyResults/K".to_owned());
    };
    Ok(AlignmentTarget {
        target: Some(target),
        weight,
    })
}

/// `ROW[#KEY_RESULT][@WEIGHT]`: another objective of the same import.
pub(super) fn row_alignment(text: &str) -> Result<ImportAlignment, String> {
    let (name, weight) = weighted(text)?;
    let (row_id, key_result_id) = name.split_once('#').unwrap_or((name, ""));
    Ok(ImportAlignment {
        row_id: row_id.to_owned(),
        key_result_id: key_result_id.to_owned(),
        weight,
    })
}

pub(super) fn weighted(text: &str) -> Result<(&str, f64), String> {
    match text.trim().split_once('@') {
        Some((name, weight)) => weight
            .trim()
            .parse::<f64>()
            .map(|weight| (name.trim(), weight))
            .map_err(|_| format!("the weight {weight:?} is not a number")),
        None => Ok((text.trim(), 1.0)),
    }
}

pub fn key_result_kind(text: &str) -> Result<key_result::Kind, String> {
    Ok(match text.trim().to_lowercase().as_str() {
        "baseline" => key_result::Kind::Baseline,
        "transition" => key_result::Kind::Transition,
        "increase" => key_result::Kind::Increase,
        "decrease" => key_result::Kind::Decrease,
        "threshold" => key_result::Kind::Threshold,
        "milestone" => key_result::Kind::Milestone,
        other => {
            return Err(format!(
                "{other:?} is not one of baseline, transition, increase, decrease, threshold, milestone"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignments_read_names_rows_and_weights() {
        let choice = alignment_target("strategies/company/choices/members@0.5").ok();
        assert_eq!(choice.as_ref().map(|target| target.weight), Some(0.5));
        assert!(matches!(
            choice.and_then(|target| target.target),
            Some(Target::Choice(_))
        ));
        assert!(matches!(
            alignment_target("objectives/grow/keyResults/kr1")
                .ok()
                .and_then(|t| t.target),
            Some(Target::KeyResult(_))
        ));
        assert!(alignment_target("orgUnits/sales").is_err());
        assert!(alignment_target("objectives/grow@lots").is_err());
        let row = row_alignment("grow#kr2@2").ok();
        assert_eq!(
            row.map(|row| (row.row_id, row.key_result_id, row.weight)),
            Some(("grow".to_owned(), "kr2".to_owned(), 2.0))
        );
    }
}
