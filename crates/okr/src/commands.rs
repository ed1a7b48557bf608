//! What a write of an objective or key result asks for, checked at the
//! boundary: a create becomes a `New…`, an update a `…Patch` that names
//! each field it changes as an enum, so applying it handles every field by
//! name. Operations take these, never the raw request; what needs the
//! database (references, cycle state) the operations check.

use trellis_foundation::{
    FieldViolations,
    mask::{MaskField, update_paths},
    names::id_or_generate,
};
use trellis_proto::okr::v1 as pb;

use crate::{
    fields::{check_inline_key_results, check_key_result, check_objective},
    names::{cycle_id, key_result_ids, objective_id},
};

/// An objective's fields a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveField {
    Title,
    Description,
    Accountable,
    Guardrails,
    Kind,
    Owner,
    AlignsTo,
}

impl ObjectiveField {
    pub const UPDATABLE: &[ObjectiveField] = &[
        ObjectiveField::Title,
        ObjectiveField::Description,
        ObjectiveField::Accountable,
        ObjectiveField::Guardrails,
        ObjectiveField::Kind,
        ObjectiveField::Owner,
        ObjectiveField::AlignsTo,
    ];

    /// What a locked objective changes only through a recorded re-plan.
    pub const STRUCTURE: &[ObjectiveField] = &[ObjectiveField::Kind, ObjectiveField::Owner, ObjectiveField::AlignsTo];

    pub fn is_structure(self) -> bool {
        match self {
            ObjectiveField::Kind | ObjectiveField::Owner | ObjectiveField::AlignsTo => true,
            ObjectiveField::Title
            | ObjectiveField::Description
            | ObjectiveField::Accountable
            | ObjectiveField::Guardrails => false,
        }
    }
}

impl MaskField for ObjectiveField {
    fn path(self) -> &'static str {
        match self {
            ObjectiveField::Title => "title",
            ObjectiveField::Description => "description",
            ObjectiveField::Accountable => "accountable",
            ObjectiveField::Guardrails => "guardrails",
            ObjectiveField::Kind => "kind",
            ObjectiveField::Owner => "owner",
            ObjectiveField::AlignsTo => "aligns_to",
        }
    }
}

/// A key result's fields a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyResultField {
    Title,
    Owner,
    Unit,
    DueTime,
    Cadence,
    Kind,
    Start,
    Target,
    Lower,
    Upper,
    Weight,
    HealthMetric,
}

impl KeyResultField {
    pub const UPDATABLE: &[KeyResultField] = &[
        KeyResultField::Title,
        KeyResultField::Owner,
        KeyResultField::Unit,
        KeyResultField::DueTime,
        KeyResultField::Cadence,
        KeyResultField::Kind,
        KeyResultField::Start,
        KeyResultField::Target,
        KeyResultField::Lower,
        KeyResultField::Upper,
        KeyResultField::Weight,
        KeyResultField::HealthMetric,
    ];

    /// Whether it still changes once the cycle is active: the details do,
    /// the measure does not.
    pub fn is_detail(self) -> bool {
        match self {
            KeyResultField::Title
            | KeyResultField::Owner
            | KeyResultField::Unit
            | KeyResultField::DueTime
            | KeyResultField::Cadence => true,
            KeyResultField::Kind
            | KeyResultField::Start
            | KeyResultField::Target
            | KeyResultField::Lower
            | KeyResultField::Upper
            | KeyResultField::Weight
            | KeyResultField::HealthMetric => false,
        }
    }
}

impl MaskField for KeyResultField {
    fn path(self) -> &'static str {
        match self {
            KeyResultField::Title => "title",
            KeyResultField::Owner => "owner",
            KeyResultField::Unit => "unit",
            KeyResultField::DueTime => "due_time",
            KeyResultField::Cadence => "cadence",
            KeyResultField::Kind => "kind",
            KeyResultField::Start => "start",
            KeyResultField::Target => "target",
            KeyResultField::Lower => "lower",
            KeyResultField::Upper => "upper",
            KeyResultField::Weight => "weight",
            KeyResultField::HealthMetric => "health_metric",
        }
    }
}

/// A checked `CreateObjective`: the objective in the form it is stored in
/// (PLANNED, in its cycle) and its inline key results with their ids.
#[derive(Debug, Clone)]
pub struct NewObjective {
    pub id: String,
    pub cycle_id: String,
    pub objective: pb::Objective,
    pub key_results: Vec<(String, pb::KeyResult)>,
}

impl TryFrom<&pb::CreateObjectiveRequest> for NewObjective {
    type Error = FieldViolations;

    fn try_from(request: &pb::CreateObjectiveRequest) -> Result<NewObjective, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(input) = &request.objective else {
            violations.add("objective", "is required");
            return Err(violations);
        };
        let id = id_or_generate(&request.objective_id, "objective_id", &mut violations);
        let objective = check_objective(input, "objective.", &mut violations);
        let key_results = check_inline_key_results(&request.key_results, &id, "", &mut violations);
        let cycle_id = violations
            .absorb(cycle_id(&input.cycle, "objective.cycle"))
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned();
        let objective = pb::Objective {
            cycle: input.cycle.clone(),
            origin: pb::objective::Origin::Planned as i32,
            ..objective
        };
        violations.into_checked(NewObjective {
            id,
            cycle_id,
            objective,
            key_results,
        })
    }
}

/// A checked change of an objective's fields (an update or a re-plan):
/// which objective, at which etag, and the fields it names.
#[derive(Debug, Clone)]
pub struct ObjectivePatch {
    pub id: String,
    pub etag: String,
    pub fields: Vec<ObjectiveField>,
    /// Whether the mask named the fields (rather than meaning all).
    pub explicit: bool,
    /// The new values of `fields`, checked as they are applied.
    pub values: pb::Objective,
}

impl ObjectivePatch {
    fn parse(
        objective: Option<&pb::Objective>,
        mask: Option<&prost_types::FieldMask>,
        updatable: &[ObjectiveField],
        violations: &mut FieldViolations,
    ) -> Option<ObjectivePatch> {
        let Some(values) = objective else {
            violations.add("objective", "is required");
            return None;
        };
        let id = violations
            .absorb(objective_id(&values.name, "objective.name"))
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned();
        Some(ObjectivePatch {
            id,
            etag: values.etag.clone(),
            fields: update_paths(mask, updatable, violations),
            explicit: mask.is_some_and(|mask| !mask.paths.is_empty()),
            values: values.clone(),
        })
    }
}

impl TryFrom<&pb::UpdateObjectiveRequest> for ObjectivePatch {
    type Error = FieldViolations;

    fn try_from(request: &pb::UpdateObjectiveRequest) -> Result<ObjectivePatch, FieldViolations> {
        let mut violations = FieldViolations::default();
        let patch = ObjectivePatch::parse(
            request.objective.as_ref(),
            request.update_mask.as_ref(),
            ObjectiveField::UPDATABLE,
            &mut violations,
        );
        match patch {
            Some(patch) => violations.into_checked(patch),
            None => Err(violations),
        }
    }
}

/// A checked `ReplanObjective`: a change of structure with its reason.
#[derive(Debug, Clone)]
pub struct Replan {
    pub patch: ObjectivePatch,
    pub reason: String,
}

impl TryFrom<&pb::ReplanObjectiveRequest> for Replan {
    type Error = FieldViolations;

    fn try_from(request: &pb::ReplanObjectiveRequest) -> Result<Replan, FieldViolations> {
        let mut violations = FieldViolations::default();
        let patch = ObjectivePatch::parse(
            request.objective.as_ref(),
            request.update_mask.as_ref(),
            ObjectiveField::STRUCTURE,
            &mut violations,
        );
        let Some(patch) = patch else {
            return Err(violations);
        };
        violations.require_non_empty(&request.reason, "reason");
        violations.require_max_len(&request.reason, 2_000, "reason");
        violations.into_checked(Replan {
            patch,
            reason: request.reason.clone(),
        })
    }
}

/// A checked `CreateKeyResult`.
#[derive(Debug, Clone)]
pub struct NewKeyResult {
    pub objective_id: String,
    pub id: String,
    pub key_result: pb::KeyResult,
}

impl TryFrom<&pb::CreateKeyResultRequest> for NewKeyResult {
    type Error = FieldViolations;

    fn try_from(request: &pb::CreateKeyResultRequest) -> Result<NewKeyResult, FieldViolations> {
        let mut violations = FieldViolations::default();
        let objective_id = violations
            .absorb(objective_id(&request.parent, "parent"))
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned();
        let Some(input) = &request.key_result else {
            violations.add("key_result", "is required");
            return Err(violations);
        };
        let id = id_or_generate(&request.key_result_id, "key_result_id", &mut violations);
        let key_result = check_key_result(input, "key_result.", &mut violations);
        violations.into_checked(NewKeyResult {
            objective_id,
            id,
            key_result,
        })
    }
}

/// A checked `UpdateKeyResult`.
#[derive(Debug, Clone)]
pub struct KeyResultPatch {
    pub objective_id: String,
    pub id: String,
    pub name: String,
    pub etag: String,
    pub fields: Vec<KeyResultField>,
    /// Whether the mask named the fields (rather than meaning all).
    pub explicit: bool,
    values: pb::KeyResult,
}

impl TryFrom<&pb::UpdateKeyResultRequest> for KeyResultPatch {
    type Error = FieldViolations;

    fn try_from(request: &pb::UpdateKeyResultRequest) -> Result<KeyResultPatch, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(values) = &request.key_result else {
            violations.add("key_result", "is required");
            return Err(violations);
        };
        let (objective_id, id) = violations
            .absorb(key_result_ids(&values.name, "key_result.name"))
            .ok()
            .flatten()
            .unwrap_or_default();
        let mask = request.update_mask.as_ref();
        let fields = update_paths(mask, KeyResultField::UPDATABLE, &mut violations);
        violations.into_checked(KeyResultPatch {
            objective_id: objective_id.to_owned(),
            id: id.to_owned(),
            name: values.name.clone(),
            etag: values.etag.clone(),
            fields,
            explicit: mask.is_some_and(|mask| !mask.paths.is_empty()),
            values: values.clone(),
        })
    }
}

impl KeyResultPatch {
    /// `stored` with the patched fields changed (only the details when
    /// `locked`), checked whole.
    pub fn apply(&self, stored: &pb::KeyResult, locked: bool) -> Result<pb::KeyResult, FieldViolations> {
        let mut updated = stored.clone();
        let values = &self.values;
        for field in &self.fields {
            if locked && !field.is_detail() {
                continue;
            }
            match field {
                KeyResultField::Title => updated.title.clone_from(&values.title),
                KeyResultField::Owner => updated.owner.clone_from(&values.owner),
                KeyResultField::Unit => updated.unit.clone_from(&values.unit),
                KeyResultField::DueTime => updated.due_time = values.due_time,
                KeyResultField::Cadence => updated.cadence = values.cadence,
                KeyResultField::Kind => updated.kind = values.kind,
                KeyResultField::Start => updated.start = values.start,
                KeyResultField::Target => updated.target = values.target,
                KeyResultField::Lower => updated.lower = values.lower,
                KeyResultField::Upper => updated.upper = values.upper,
                KeyResultField::Weight => updated.weight = values.weight,
                KeyResultField::HealthMetric => updated.health_metric.clone_from(&values.health_metric),
            }
        }
        let mut violations = FieldViolations::default();
        let mut checked = check_key_result(&updated, "key_result.", &mut violations);
        checked.score_note = updated.score_note;
        violations.into_checked(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::FieldMask;

    fn mask(paths: &[&str]) -> Option<FieldMask> {
        Some(FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        })
    }

    #[test]
    fn an_update_reports_a_bad_name_and_a_bad_mask_together() {
        let request = pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: "nonsense".into(),
                ..pb::KeyResult::default()
            }),
            update_mask: mask(&["title", "score"]),
        };
        let violations = KeyResultPatch::try_from(&request).unwrap_err();
        let fields: Vec<&str> = violations
            .violations()
            .iter()
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(fields, ["key_result.name", "update_mask.paths[1]"]);
    }

    #[test]
    fn a_locked_key_result_keeps_its_measure_and_takes_its_details() {
        let stored = pb::KeyResult {
            title: "old".into(),
            kind: pb::key_result::Kind::Increase as i32,
            start: 0.0,
            target: 10.0,
            ..pb::KeyResult::default()
        };
        let request = pb::UpdateKeyResultRequest {
            key_result: Some(pb::KeyResult {
                name: "objectives/o/keyResults/k".into(),
                title: "new".into(),
                target: 99.0,
                ..pb::KeyResult::default()
            }),
            update_mask: None,
        };
        let patch = KeyResultPatch::try_from(&request).unwrap();
        assert!(!patch.explicit);
        let locked = patch.apply(&stored, true).unwrap();
        assert_eq!((locked.title.as_str(), locked.target), ("new", 10.0));
        let open = patch.apply(&stored, false).unwrap_err();
        assert!(
            open.violations()
                .iter()
                .any(|(field, _)| field.starts_with("key_result."))
        );
    }

    #[test]
    fn a_replan_names_only_structure() {
        let request = pb::ReplanObjectiveRequest {
            objective: Some(pb::Objective {
                name: "objectives/o".into(),
                ..pb::Objective::default()
            }),
            update_mask: mask(&["owner", "title"]),
            reason: String::new(),
        };
        let violations = Replan::try_from(&request).unwrap_err();
        let fields: Vec<&str> = violations
            .violations()
            .iter()
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(fields, ["update_mask.paths[1]", "reason"]);
    }

    #[test]
    fn every_field_is_updatable_and_structure_is_what_replans_change() {
        for field in ObjectiveField::UPDATABLE {
            assert_eq!(field.is_structure(), ObjectiveField::STRUCTURE.contains(field));
        }
        let paths: std::collections::HashSet<&str> =
            KeyResultField::UPDATABLE.iter().map(|field| field.path()).collect();
        assert_eq!(paths.len(), KeyResultField::UPDATABLE.len(), "two fields share a path");
    }
}
