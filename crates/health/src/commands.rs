//! What a write of a metric asks for, checked at the boundary: a create
//! becomes a [`NewMetric`], an update a [`MetricPatch`] that names each
//! field it changes. Operations take these, never the raw request.

use trellis_foundation::{FieldViolations, mask::update_paths, names::id_or_generate, visibility};
use trellis_proto::health::v1 as pb;

use crate::{
    fields::{MetricField, check_fields, config},
    names::{metric_id, metric_name},
};

/// A checked `CreateHealthMetric`: the new metric's id and its
/// configuration in the form it is stored in.
#[derive(Debug, Clone)]
pub struct NewMetric {
    pub id: String,
    pub config: pb::HealthMetric,
}

impl TryFrom<&pb::CreateHealthMetricRequest> for NewMetric {
    type Error = FieldViolations;

    fn try_from(request: &pb::CreateHealthMetricRequest) -> Result<NewMetric, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(input) = &request.health_metric else {
            violations.add("health_metric", "is required");
            return Err(violations);
        };
        let id = id_or_generate(&request.health_metric_id, "health_metric_id", &mut violations);
        check_fields(input, MetricField::CREATE, "health_metric.", &mut violations);
        // Set once, when created: see `Visibility`.
        visibility::check(input.visibility, "health_metric.visibility", &mut violations);
        let config = config(input, &metric_name(&id));
        violations.into_checked(NewMetric { id, config })
    }
}

/// A checked `UpdateHealthMetric`: which metric, at which etag, and the
/// fields it changes with their new values.
#[derive(Debug, Clone)]
pub struct MetricPatch {
    pub id: String,
    pub name: String,
    pub etag: String,
    pub fields: Vec<MetricField>,
    values: pb::HealthMetric,
}

impl TryFrom<&pb::UpdateHealthMetricRequest> for MetricPatch {
    type Error = FieldViolations;

    fn try_from(request: &pb::UpdateHealthMetricRequest) -> Result<MetricPatch, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(values) = &request.health_metric else {
            violations.add("health_metric", "is required");
            return Err(violations);
        };
        let id = violations
            .absorb(metric_id(&values.name, "health_metric.name"))
            .ok()
            .flatten()
            .map(str::to_owned);
        let fields = update_paths(request.update_mask.as_ref(), MetricField::UPDATABLE, &mut violations);
        violations.into_checked(MetricPatch {
            id: id.unwrap_or_default(),
            name: values.name.clone(),
            etag: values.etag.clone(),
            fields,
            values: values.clone(),
        })
    }
}

impl MetricPatch {
    /// `stored` with the patched fields changed, in stored form, or every
    /// problem of the result (direction and thresholds are checked
    /// together, whichever of them changed).
    pub fn apply(&self, stored: &pb::HealthMetric) -> Result<pb::HealthMetric, FieldViolations> {
        let mut updated = stored.clone();
        let values = &self.values;
        for field in &self.fields {
            match field {
                MetricField::DisplayName => updated.display_name.clone_from(&values.display_name),
                MetricField::Description => updated.description.clone_from(&values.description),
                MetricField::Owner => updated.owner.clone_from(&values.owner),
                MetricField::Accountable => updated.accountable.clone_from(&values.accountable),
                MetricField::Unit => updated.unit.clone_from(&values.unit),
                MetricField::Direction => updated.direction = values.direction,
                MetricField::Thresholds => updated.thresholds = values.thresholds,
                MetricField::Cadence => updated.cadence = values.cadence,
                MetricField::EscalationPolicy => updated.escalation_policy = values.escalation_policy,
            }
        }
        let mut violations = FieldViolations::default();
        check_fields(&updated, &self.fields, "health_metric.", &mut violations);
        violations.into_checked(config(&updated, &self.name))
    }
}
