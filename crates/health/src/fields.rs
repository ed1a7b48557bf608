//! A metric's writable fields: the checks of what clients send (every
//! problem with its field path) and the normal form they are stored in,
//! and what a metric's configuration means for the rules (its bands, its
//! escalation policy, its cadence).

use crate::{escalation::Policy, thresholds::Bands};
use trellis_foundation::{FieldViolations, mask::MaskField, names::parse_name, visibility};
use trellis_proto::health::v1::{self as pb, Direction};
use trellis_rules::cadence;

const MAX_TEXT: usize = 200;

const MAX_DESCRIPTION: usize = 4_000;

const MAX_UNIT: usize = 40;

/// Consecutive RED measurements a policy may wait for, at most.
const MAX_RED_COUNT: i32 = 1_000;

/// The thresholds the metric's direction reads, if it has a direction.
pub fn bands(metric: &pb::HealthMetric) -> Option<Bands> {
    let thresholds = metric.thresholds.unwrap_or_default();
    match metric.direction() {
        Direction::HigherIsBetter => Some(Bands::HigherIsBetter {
            green: thresholds.green,
            red: thresholds.red,
        }),
        Direction::LowerIsBetter => Some(Bands::LowerIsBetter {
            green: thresholds.green,
            red: thresholds.red,
        }),
        Direction::Band => Some(Bands::Band {
            green_low: thresholds.green_low,
            green_high: thresholds.green_high,
            red_low: thresholds.red_low,
            red_high: thresholds.red_high,
        }),
        Direction::Unspecified => None,
    }
}

pub fn policy(metric: &pb::HealthMetric) -> Policy {
    let policy = metric.escalation_policy.unwrap_or_default();
    Policy {
        enabled: policy.enabled,
        red_to_escalate: u32::try_from(policy.red_to_escalate).unwrap_or(1).max(1),
        red_to_break: u32::try_from(policy.red_to_break).unwrap_or(1).max(1),
    }
}

pub fn cadence_micros(metric: &pb::HealthMetric) -> i64 {
    cadence::micros(metric.cadence.as_ref())
}

/// A metric's fields a client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricField {
    DisplayName,
    Description,
    /// Set on create only: a metric does not change hands.
    Owner,
    Accountable,
    Unit,
    Direction,
    Thresholds,
    Cadence,
    EscalationPolicy,
}

impl MetricField {
    pub const CREATE: &[MetricField] = &[
        MetricField::DisplayName,
        MetricField::Description,
        MetricField::Owner,
        MetricField::Accountable,
        MetricField::Unit,
        MetricField::Direction,
        MetricField::Thresholds,
        MetricField::Cadence,
        MetricField::EscalationPolicy,
    ];

    pub const UPDATABLE: &[MetricField] = &[
        MetricField::DisplayName,
        MetricField::Description,
        MetricField::Accountable,
        MetricField::Unit,
        MetricField::Direction,
        MetricField::Thresholds,
        MetricField::Cadence,
        MetricField::EscalationPolicy,
    ];
}

impl MaskField for MetricField {
    fn path(self) -> &'static str {
        match self {
            MetricField::DisplayName => "display_name",
            MetricField::Description => "description",
            MetricField::Owner => "owner",
            MetricField::Accountable => "accountable",
            MetricField::Unit => "unit",
            MetricField::Direction => "direction",
            MetricField::Thresholds => "thresholds",
            MetricField::Cadence => "cadence",
            MetricField::EscalationPolicy => "escalation_policy",
        }
    }
}

/// Every problem of `fields` (all of them for a create), as
/// `{prefix}field` violations.
pub fn check_fields(input: &pb::HealthMetric, fields: &[MetricField], prefix: &str, violations: &mut FieldViolations) {
    let field = |name: &str| format!("{prefix}{name}");
    for checked in fields {
        match checked {
            MetricField::DisplayName => {
                violations.require_non_empty(&input.display_name, &field("display_name"));
                violations.require_max_len(&input.display_name, MAX_TEXT, &field("display_name"));
            }
            MetricField::Description => {
                violations.require_max_len(&input.description, MAX_DESCRIPTION, &field("description"));
            }
            MetricField::Owner => violations.require(
                parse_name(&input.owner, "orgUnits").is_some(),
                field("owner"),
                format!("{:?} is not an orgUnits/{{id}} name", input.owner),
            ),
            MetricField::Accountable => {
                violations.require_non_empty(&input.accountable, &field("accountable"));
                violations.require_max_len(&input.accountable, MAX_TEXT, &field("accountable"));
            }
            MetricField::Unit => violations.require_max_len(&input.unit, MAX_UNIT, &field("unit")),
            MetricField::Direction | MetricField::Thresholds => check_thresholds(input, prefix, violations),
            MetricField::Cadence => check_cadence(input, &field("cadence"), violations),
            MetricField::EscalationPolicy => check_policy(input, prefix, violations),
        }
    }
}

fn check_thresholds(input: &pb::HealthMetric, prefix: &str, violations: &mut FieldViolations) {
    // Both paths lead here; report once.
    if violations
        .violations()
        .iter()
        .any(|(field, _)| field == &format!("{prefix}direction") || field.starts_with(&format!("{prefix}thresholds")))
    {
        return;
    }
    let Some(bands) = bands(input) else {
        violations.add(
            format!("{prefix}direction"),
            "must be HIGHER_IS_BETTER, LOWER_IS_BETTER or BAND",
        );
        return;
    };
    if input.thresholds.is_none() {
        violations.add(format!("{prefix}thresholds"), "is required");
        return;
    }
    for problem in bands.problems() {
        violations.add(format!("{prefix}thresholds.{}", problem.field), problem.description);
    }
}

fn check_cadence(input: &pb::HealthMetric, field: &str, violations: &mut FieldViolations) {
    match input.cadence {
        None => violations.add(field, "is required: how often a fresh measurement is expected"),
        Some(cadence) => violations.require(
            cadence.seconds > 0 && (0..1_000_000_000).contains(&cadence.nanos),
            field,
            "must be at least one second",
        ),
    }
}

fn check_policy(input: &pb::HealthMetric, prefix: &str, violations: &mut FieldViolations) {
    let Some(policy) = input.escalation_policy else {
        return;
    };
    if !policy.enabled {
        return;
    }
    for (name, count) in [
        ("red_to_escalate", policy.red_to_escalate),
        ("red_to_break", policy.red_to_break),
    ] {
        violations.require(
            (1..=MAX_RED_COUNT).contains(&count),
            format!("{prefix}escalation_policy.{name}"),
            format!("must be 1 to {MAX_RED_COUNT} consecutive RED measurements, got {count}"),
        );
    }
}

/// The configuration a metric is stored with: its output-only fields
/// cleared, its texts trimmed.
pub fn config(input: &pb::HealthMetric, name: &str) -> pb::HealthMetric {
    pb::HealthMetric {
        name: name.to_owned(),
        display_name: input.display_name.trim().to_owned(),
        description: input.description.clone(),
        owner: input.owner.clone(),
        accountable: input.accountable.trim().to_owned(),
        unit: input.unit.trim().to_owned(),
        direction: input.direction,
        thresholds: input.thresholds,
        cadence: input.cadence,
        escalation_policy: input.escalation_policy,
        visibility: visibility::normal(input.visibility()) as i32,
        ..pb::HealthMetric::default()
    }
}
