//! The health metrics assumptions name ("CSAT stays green") must exist:
//! a typo would mean the Four Square rule never marks the assumption. One
//! call to the health service per request checks every name.

use std::collections::BTreeSet;

use trellis_foundation::FieldViolations;
use trellis_proto::health::v1::BatchGetHealthMetricsRequest;

use crate::error::Error;
use crate::ops::StrategyOps;

impl StrategyOps {
    /// Adds a violation on each `(field, metric)` whose metric does not
    /// exist. Malformed names are the shape checks' to report.
    pub(crate) async fn check_assumption_metrics(
        &self,
        references: &[(String, String)],
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        let names: BTreeSet<&str> = references
            .iter()
            .map(|(_, metric)| metric.as_str())
            .filter(|metric| trellis_foundation::names::parse_name(metric, "healthMetrics").is_some())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let missing = self
            .health
            .clone()
            .batch_get_health_metrics(BatchGetHealthMetricsRequest {
                names: names.iter().map(|name| (*name).to_owned()).collect(),
                allow_missing: true,
            })
            .await
            .map_err(Error::peer("health"))?
            .into_inner()
            .missing;
        for (field, metric) in references {
            if missing.contains(metric) {
                violations.add(field.clone(), format!("{metric} does not exist"));
            }
        }
        Ok(())
    }
}
