//! Request checks for strategies, choices and assumptions: every problem is
//! collected with its field path, so one `INVALID_ARGUMENT` reports all.

use trellis_foundation::{
    FieldViolations,
    mask::MaskField,
    names::{id_or_generate, is_valid_id, parse_child_name, parse_name},
    time::{TIME_RANGE, from_timestamp, is_valid_timestamp},
};
use trellis_proto::strategy::v1::{self as pb, AssumptionStatus, ChoiceKind};

use crate::names::{CHOICES, COLLECTION};

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 10_000;
const MAX_DESCRIPTION: usize = 4_000;
/// Choices or assumptions in one strategy.
pub const MAX_CHILDREN: usize = 500;

/// The strategy fields a client writes (the rest are output only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyField {
    DisplayName,
    Challenge,
    WinningAspiration,
    Horizon,
    Owner,
    ParentChoice,
}

impl StrategyField {
    pub const ALL: &[StrategyField] = &[
        StrategyField::DisplayName,
        StrategyField::Challenge,
        StrategyField::WinningAspiration,
        StrategyField::Horizon,
        StrategyField::Owner,
        StrategyField::ParentChoice,
    ];
}

impl MaskField for StrategyField {
    fn path(self) -> &'static str {
        match self {
            StrategyField::DisplayName => "display_name",
            StrategyField::Challenge => "challenge",
            StrategyField::WinningAspiration => "winning_aspiration",
            StrategyField::Horizon => "horizon",
            StrategyField::Owner => "owner",
            StrategyField::ParentChoice => "parent_choice",
        }
    }
}

/// A choice's fields an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceField {
    Kind,
    Title,
    Description,
}

impl ChoiceField {
    pub const ALL: &[ChoiceField] = &[ChoiceField::Kind, ChoiceField::Title, ChoiceField::Description];
}

impl MaskField for ChoiceField {
    fn path(self) -> &'static str {
        match self {
            ChoiceField::Kind => "kind",
            ChoiceField::Title => "title",
            ChoiceField::Description => "description",
        }
    }
}

/// An assumption's fields an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssumptionField {
    Statement,
    HealthMetric,
}

impl AssumptionField {
    pub const ALL: &[AssumptionField] = &[AssumptionField::Statement, AssumptionField::HealthMetric];
}

impl MaskField for AssumptionField {
    fn path(self) -> &'static str {
        match self {
            AssumptionField::Statement => "statement",
            AssumptionField::HealthMetric => "health_metric",
        }
    }
}

/// Checks one writable field, so an update checks just what its mask names.
pub fn check_strategy_field(
    strategy: &pb::Strategy,
    field: StrategyField,
    prefix: &str,
    violations: &mut FieldViolations,
) {
    let path = format!("{prefix}{}", field.path());
    match field {
        StrategyField::DisplayName => {
            violations.require_non_empty(&strategy.display_name, &path);
            violations.require_max_len(&strategy.display_name, MAX_TITLE, &path);
        }
        StrategyField::Challenge => violations.require_max_len(&strategy.challenge, MAX_TEXT, &path),
        StrategyField::WinningAspiration => violations.require_max_len(&strategy.winning_aspiration, MAX_TEXT, &path),
        StrategyField::Owner => check_owner(&strategy.owner, &path, violations),
        StrategyField::ParentChoice => check_parent_choice(&strategy.parent_choice, &path, violations),
        StrategyField::Horizon => check_horizon(strategy.horizon.as_ref(), &path, violations),
    }
}

pub fn check_owner(owner: &str, field: &str, violations: &mut FieldViolations) {
    if owner.is_empty() {
        violations.add(field, "is required: the org unit that owns the strategy");
    } else if parse_name(owner, "orgUnits").is_none() {
        violations.add(field, format!("must be an orgUnits/{{id}} name, got {owner:?}"));
    }
}

pub fn check_parent_choice(parent_choice: &str, field: &str, violations: &mut FieldViolations) {
    if !parent_choice.is_empty() && parse_child_name(parent_choice, COLLECTION, CHOICES).is_none() {
        violations.add(
            field,
            format!("must be a strategies/{{id}}/choices/{{id}} name, got {parent_choice:?}"),
        );
    }
}

pub fn check_horizon(horizon: Option<&pb::Horizon>, field: &str, violations: &mut FieldViolations) {
    let Some(horizon) = horizon else { return };
    let (Some(start), Some(end)) = (&horizon.start_time, &horizon.end_time) else {
        violations.add(field, "needs both start_time and end_time");
        return;
    };
    if !is_valid_timestamp(start) || !is_valid_timestamp(end) {
        violations.add(field, format!("start_time and end_time each {TIME_RANGE}"));
    } else if from_timestamp(end) <= from_timestamp(start) {
        violations.add(format!("{field}.end_time"), "must be after start_time");
    }
}

pub fn check_choice(choice: &pb::Choice, prefix: &str, violations: &mut FieldViolations) {
    let field = |name: &str| format!("{prefix}{name}");
    match ChoiceKind::try_from(choice.kind) {
        Ok(ChoiceKind::Unspecified) | Err(_) => violations.add(
            field("kind"),
            "must be WHERE_TO_PLAY, HOW_TO_WIN, CAPABILITY, MANAGEMENT_SYSTEM or NOT_DOING",
        ),
        Ok(_) => {}
    }
    violations.require_non_empty(&choice.title, &field("title"));
    violations.require_max_len(&choice.title, MAX_TITLE, &field("title"));
    violations.require_max_len(&choice.description, MAX_DESCRIPTION, &field("description"));
}

pub fn check_assumption(assumption: &pb::Assumption, prefix: &str, violations: &mut FieldViolations) {
    let field = |name: &str| format!("{prefix}{name}");
    violations.require_non_empty(&assumption.statement, &field("statement"));
    violations.require_max_len(&assumption.statement, MAX_DESCRIPTION, &field("statement"));
    check_health_metric(&assumption.health_metric, &field("health_metric"), violations);
    if AssumptionStatus::try_from(assumption.status).is_err() {
        violations.add(field("status"), "is not a known status");
    }
    violations.require_max_len(&assumption.status_reason, MAX_DESCRIPTION, &field("status_reason"));
}

pub fn check_health_metric(metric: &str, field: &str, violations: &mut FieldViolations) {
    if !metric.is_empty() && parse_name(metric, "healthMetrics").is_none() {
        violations.add(field, format!("must be a healthMetrics/{{id}} name, got {metric:?}"));
    }
}

/// The id of an inline child on create: the last segment of its name when
/// given, else a generated one.
pub fn inline_child_id(name: &str, field: &str, violations: &mut FieldViolations) -> String {
    let requested = name.rsplit('/').next().unwrap_or_default();
    if !requested.is_empty() && !is_valid_id(requested) {
        violations.add(field, format!("{requested:?} is not a valid id"));
        return requested.to_owned();
    }
    id_or_generate(requested, field, violations)
}
