//! Checks of the writable fields of cycles, objectives and key results,
//! each problem named by its field path, and the normal form they are
//! stored in (writable fields only, defaults filled in).

use std::collections::HashSet;

use prost_types::Timestamp;
use trellis_foundation::{
    FieldViolations,
    names::is_valid_id,
    time::{TIME_RANGE, from_timestamp, is_valid_timestamp},
    visibility,
};
use trellis_proto::okr::v1::{self as pb, alignment_target::Target, key_result::Kind as KrKind, objective};

use trellis_rules::{cadence, progress::Measure};

use crate::names::{is_choice, is_health_metric, key_result_ids};

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4_000;
const MAX_PERSON: usize = 200;
const MAX_UNIT: usize = 32;
const MAX_TARGETS: usize = 32;
const MAX_GUARDRAILS: usize = 32;
/// Key results per objective.
pub const MAX_KEY_RESULTS: usize = 25;

/// The numbers a key result's kind needs, or `None` for an unknown kind.
pub fn measure_of(key_result: &pb::KeyResult) -> Option<Measure> {
    Measure::from_wire(
        key_result.kind,
        key_result.start,
        key_result.target,
        key_result.lower,
        key_result.upper,
    )
}

/// The largest weight accepted: weights say how much one part counts
/// against the others, and a thousand to one is past any real plan.
pub const MAX_WEIGHT: f64 = 1_000.0;

/// A weight of 0 means "not given" and becomes 1: proto3 cannot tell an
/// unset number from 0, and giving the field presence would change the v1
/// API incompatibly. A weight given must be in (0, [`MAX_WEIGHT`]].
pub fn check_weight(weight: f64, field: String, violations: &mut FieldViolations) -> f64 {
    if weight == 0.0 {
        return 1.0;
    }
    violations.require(
        weight.is_finite() && weight > 0.0 && weight <= MAX_WEIGHT,
        field,
        format!("must be a number above 0 and at most {MAX_WEIGHT} (0 or unset means 1), got {weight}"),
    );
    weight
}

fn check_time(time: Option<&Timestamp>, field: String, violations: &mut FieldViolations) {
    if let Some(time) = time {
        violations.require(is_valid_timestamp(time), field, TIME_RANGE);
    }
}

fn check_health_metric(name: &str, field: String, violations: &mut FieldViolations) {
    violations.require(
        is_health_metric(name),
        field,
        format!("{name:?} is not a healthMetrics/{{metric}} name"),
    );
}

/// An objective's key results given with it: at most [`MAX_KEY_RESULTS`],
/// each with its id (its name, or `kr{N}` by position) unique among them
/// and its fields checked, problems under `{prefix}key_results[i]`.
pub fn check_inline_key_results(
    key_results: &[pb::KeyResult],
    objective_id: &str,
    prefix: &str,
    violations: &mut FieldViolations,
) -> Vec<(String, pb::KeyResult)> {
    violations.require(
        key_results.len() <= MAX_KEY_RESULTS,
        format!("{prefix}key_results"),
        format!("at most {MAX_KEY_RESULTS}"),
    );
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(key_results.len());
    for (index, key_result) in key_results.iter().enumerate() {
        let field_prefix = format!("{prefix}key_results[{index}].");
        let name_field = format!("{field_prefix}name");
        let id = inline_key_result_id(&key_result.name, objective_id, index, &name_field, violations);
        violations.require(seen.insert(id.clone()), name_field, "repeats another key result's id");
        checked.push((id, check_key_result(key_result, &field_prefix, violations)));
    }
    checked
}

/// The id of a key result given inline with its objective: its `name`
/// (a bare id or the full name under `objective_id`), or `kr{N}` by
/// position when empty.
fn inline_key_result_id(
    name: &str,
    objective_id: &str,
    index: usize,
    field: &str,
    violations: &mut FieldViolations,
) -> String {
    if name.is_empty() {
        return format!("kr{}", index + 1);
    }
    if is_valid_id(name) {
        return name.to_owned();
    }
    match key_result_ids(name, "") {
        Ok((parent, id)) if parent == objective_id => id.to_owned(),
        _ => {
            violations.add(
                field,
                format!("{name:?} is neither a key result id nor a key result name of this objective"),
            );
            String::new()
        }
    }
}

/// Checks a key result's writable fields and returns them in normal form.
pub fn check_key_result(input: &pb::KeyResult, prefix: &str, violations: &mut FieldViolations) -> pb::KeyResult {
    violations.require_non_empty(&input.title, &format!("{prefix}title"));
    violations.require_max_len(&input.title, MAX_TITLE, &format!("{prefix}title"));
    match measure_of(input) {
        None => violations.add(
            format!("{prefix}kind"),
            "is required: BASELINE, TRANSITION, INCREASE, DECREASE, THRESHOLD or MILESTONE",
        ),
        Some(measure) => {
            for problem in measure.problems() {
                violations.add(format!("{prefix}{}", problem.field), problem.description);
            }
        }
    }
    violations.require_max_len(&input.unit, MAX_UNIT, &format!("{prefix}unit"));
    violations.require_max_len(&input.owner, MAX_PERSON, &format!("{prefix}owner"));
    let weight = check_weight(input.weight, format!("{prefix}weight"), violations);
    check_time(input.due_time.as_ref(), format!("{prefix}due_time"), violations);
    if input.kind() == KrKind::Milestone {
        violations.require(
            input.due_time.is_some(),
            format!("{prefix}due_time"),
            "is required for a MILESTONE: it is the date it is delivered by",
        );
    }
    violations.require(
        cadence::micros(input.cadence.as_ref()) >= 0,
        format!("{prefix}cadence"),
        "must not be negative",
    );
    if !input.health_metric.is_empty() {
        check_health_metric(&input.health_metric, format!("{prefix}health_metric"), violations);
    }
    pb::KeyResult {
        title: input.title.trim().to_owned(),
        kind: input.kind,
        start: input.start,
        target: input.target,
        lower: input.lower,
        upper: input.upper,
        unit: input.unit.clone(),
        weight,
        owner: input.owner.clone(),
        due_time: input.due_time,
        cadence: input.cadence,
        health_metric: input.health_metric.clone(),
        ..pb::KeyResult::default()
    }
}

/// Checks an alignment target's shape (not whether it exists) and returns
/// it with its weight filled in.
pub fn check_target(
    target: &pb::AlignmentTarget,
    prefix: &str,
    violations: &mut FieldViolations,
) -> pb::AlignmentTarget {
    let weight = check_weight(target.weight, format!("{prefix}weight"), violations);
    match &target.target {
        None => violations.add(
            format!("{prefix}target"),
            "is required: a choice, an objective or a key result",
        ),
        Some(Target::Choice(name)) => violations.require(
            is_choice(name),
            format!("{prefix}choice"),
            format!("{name:?} is not a strategies/{{strategy}}/choices/{{choice}} name"),
        ),
        Some(Target::Objective(name)) => violations.require(
            crate::names::objective_id(name, "").is_ok(),
            format!("{prefix}objective"),
            format!("{name:?} is not an objectives/{{objective}} name"),
        ),
        Some(Target::KeyResult(name)) => violations.require(
            crate::names::key_result_ids(name, "").is_ok(),
            format!("{prefix}key_result"),
            format!("{name:?} is not an objectives/{{objective}}/keyResults/{{key_result}} name"),
        ),
    }
    pb::AlignmentTarget {
        target: target.target.clone(),
        weight,
    }
}

/// The key that tells two targets apart, for duplicate checks.
pub fn target_key(target: &pb::AlignmentTarget) -> Option<&str> {
    match target.target.as_ref()? {
        Target::Choice(name) | Target::Objective(name) | Target::KeyResult(name) => Some(name),
    }
}

pub fn check_targets(
    targets: &[pb::AlignmentTarget],
    prefix: &str,
    violations: &mut FieldViolations,
) -> Vec<pb::AlignmentTarget> {
    violations.require(
        targets.len() <= MAX_TARGETS,
        format!("{prefix}aligns_to"),
        format!("at most {MAX_TARGETS} targets"),
    );
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(targets.len());
    for (index, target) in targets.iter().enumerate() {
        let field = format!("{prefix}aligns_to[{index}].");
        let target = check_target(target, &field, violations);
        if let Some(key) = target_key(&target) {
            violations.require(
                seen.insert(key.to_owned()),
                format!("{field}target"),
                format!("{key} is already a target"),
            );
        }
        checked.push(target);
    }
    checked
}

pub fn check_guardrails(guardrails: &[String], prefix: &str, violations: &mut FieldViolations) {
    violations.require(
        guardrails.len() <= MAX_GUARDRAILS,
        format!("{prefix}guardrails"),
        format!("at most {MAX_GUARDRAILS}"),
    );
    let mut seen = HashSet::new();
    for (index, metric) in guardrails.iter().enumerate() {
        let field = format!("{prefix}guardrails[{index}]");
        check_health_metric(metric, field.clone(), violations);
        violations.require(seen.insert(metric), field, format!("{metric} is listed twice"));
    }
}

pub fn check_title(title: &str, field: &str, violations: &mut FieldViolations) {
    violations.require_non_empty(title, field);
    violations.require_max_len(title, MAX_TITLE, field);
}

pub fn check_description(description: &str, field: &str, violations: &mut FieldViolations) {
    violations.require_max_len(description, MAX_DESCRIPTION, field);
}

/// The owner's shape; whether it exists is asked of the org service.
pub fn check_owner(owner: &str, field: &str, violations: &mut FieldViolations) {
    violations.require(
        crate::names::org_unit_id(owner, "").is_ok(),
        field,
        format!("{owner:?} is not an orgUnits/{{unit}} name"),
    );
}

pub fn check_accountable(accountable: &str, field: &str, violations: &mut FieldViolations) {
    violations.require_non_empty(accountable, field);
    violations.require_max_len(accountable, MAX_PERSON, field);
}

pub fn check_kind(kind: objective::Kind, field: &str, violations: &mut FieldViolations) {
    violations.require(
        kind != objective::Kind::Unspecified,
        field,
        "is required: COMMITTED or ASPIRATIONAL",
    );
}

/// Checks an objective's writable fields (not whether its owner and
/// targets exist) and returns them in normal form.
pub fn check_objective(input: &pb::Objective, prefix: &str, violations: &mut FieldViolations) -> pb::Objective {
    check_title(&input.title, &format!("{prefix}title"), violations);
    check_description(&input.description, &format!("{prefix}description"), violations);
    check_owner(&input.owner, &format!("{prefix}owner"), violations);
    check_accountable(&input.accountable, &format!("{prefix}accountable"), violations);
    check_kind(input.kind(), &format!("{prefix}kind"), violations);
    check_guardrails(&input.guardrails, prefix, violations);
    let aligns_to = check_targets(&input.aligns_to, prefix, violations);
    let visibility = visibility::check(input.visibility, &format!("{prefix}visibility"), violations);
    pb::Objective {
        visibility: visibility as i32,
        title: input.title.trim().to_owned(),
        description: input.description.clone(),
        owner: input.owner.clone(),
        accountable: input.accountable.trim().to_owned(),
        kind: input.kind,
        guardrails: input.guardrails.clone(),
        aligns_to,
        ..pb::Objective::default()
    }
}

/// Checks a cycle's writable fields (not whether its org unit exists).
pub fn check_cycle(input: &pb::Cycle, prefix: &str, violations: &mut FieldViolations) -> pb::Cycle {
    check_title(&input.display_name, &format!("{prefix}display_name"), violations);
    check_owner(&input.org_unit, &format!("{prefix}org_unit"), violations);
    check_period(input, prefix, violations);
    pb::Cycle {
        display_name: input.display_name.trim().to_owned(),
        start_time: input.start_time,
        end_time: input.end_time,
        org_unit: input.org_unit.clone(),
        ..pb::Cycle::default()
    }
}

pub fn check_period(input: &pb::Cycle, prefix: &str, violations: &mut FieldViolations) {
    let (Some(start), Some(end)) = (input.start_time.as_ref(), input.end_time.as_ref()) else {
        violations.require(input.start_time.is_some(), format!("{prefix}start_time"), "is required");
        violations.require(input.end_time.is_some(), format!("{prefix}end_time"), "is required");
        return;
    };
    check_time(Some(start), format!("{prefix}start_time"), violations);
    check_time(Some(end), format!("{prefix}end_time"), violations);
    violations.require(
        from_timestamp(end) > from_timestamp(start),
        format!("{prefix}end_time"),
        "must be after start_time",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_rules_number_kinds_as_the_api_does() {
        let numbers = (10.0, 20.0, 30.0, 40.0);
        let of = |kind: KrKind| {
            measure_of(&pb::KeyResult {
                kind: kind as i32,
                start: numbers.0,
                target: numbers.1,
                lower: numbers.2,
                upper: numbers.3,
                ..Default::default()
            })
        };
        assert_eq!(of(KrKind::Unspecified), None);
        assert_eq!(of(KrKind::Baseline), Some(Measure::Baseline));
        assert_eq!(
            of(KrKind::Transition),
            Some(Measure::Transition {
                start: 10.0,
                target: 20.0
            })
        );
        assert_eq!(
            of(KrKind::Increase),
            Some(Measure::Increase {
                start: 10.0,
                target: 20.0
            })
        );
        assert_eq!(
            of(KrKind::Decrease),
            Some(Measure::Decrease {
                start: 10.0,
                target: 20.0
            })
        );
        assert_eq!(
            of(KrKind::Threshold),
            Some(Measure::Threshold {
                lower: 30.0,
                upper: 40.0
            })
        );
        assert_eq!(of(KrKind::Milestone), Some(Measure::Milestone));
        assert_eq!(
            Measure::from_wire(7, 0.0, 0.0, 0.0, 0.0),
            None,
            "a kind this build does not know"
        );
    }

    fn fields(violations: &FieldViolations) -> Vec<&str> {
        violations
            .violations()
            .iter()
            .map(|(field, _)| field.as_str())
            .collect()
    }

    #[test]
    fn a_decrease_whose_target_is_above_its_start_says_so() {
        let mut violations = FieldViolations::default();
        let key_result = pb::KeyResult {
            title: "Lead time".into(),
            kind: KrKind::Decrease as i32,
            start: 10.0,
            target: 12.0,
            ..pb::KeyResult::default()
        };
        check_key_result(&key_result, "key_results[2].", &mut violations);
        assert_eq!(fields(&violations), vec!["key_results[2].target"]);
        assert!(violations.violations()[0].1.contains("below its start"));
    }

    #[test]
    fn weights_default_to_one_and_must_be_positive() {
        let mut violations = FieldViolations::default();
        assert_eq!(check_weight(0.0, "w".into(), &mut violations), 1.0);
        check_weight(-2.0, "w".into(), &mut violations);
        check_weight(f64::NAN, "w".into(), &mut violations);
        check_weight(1e308, "w".into(), &mut violations);
        assert_eq!(check_weight(MAX_WEIGHT, "w".into(), &mut violations), MAX_WEIGHT);
        assert_eq!(violations.len(), 3);
    }

    #[test]
    fn every_objective_problem_is_reported() {
        let mut violations = FieldViolations::default();
        let input = pb::Objective {
            owner: "teams/x".into(),
            guardrails: vec!["healthMetrics/csat".into(), "healthMetrics/csat".into()],
            aligns_to: vec![
                pb::AlignmentTarget {
                    target: Some(Target::Choice("strategies/s".into())),
                    weight: 1.0,
                },
                pb::AlignmentTarget {
                    target: None,
                    weight: -1.0,
                },
            ],
            ..pb::Objective::default()
        };
        check_objective(&input, "", &mut violations);
        assert_eq!(
            fields(&violations),
            vec![
                "title",
                "owner",
                "accountable",
                "kind",
                "guardrails[1]",
                "aligns_to[0].choice",
                "aligns_to[1].weight",
                "aligns_to[1].target",
            ]
        );
    }
}
