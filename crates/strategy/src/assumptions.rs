//! Assumptions (what would have to be true): create, update, delete, and
//! the status the health service sets.

use trellis_foundation::{
    Error, FieldViolations, RequestContext, etag::check_etag, mask::update_paths, names::id_or_generate,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, AssumptionStatus, StrategyState},
};

use crate::{
    StrategyApi,
    children::{ChildEdit, StrategyChild, edited, find_child},
    convert::{ASSUMPTIONS, check_assumption, check_health_metric, child_ids, child_name, strategy_id},
};

const UPDATABLE: &[&str] = &["statement", "health_metric"];
const MAX_TEXT: usize = 4_000;

impl StrategyApi {
    pub async fn create_assumption(
        &self,
        context: RequestContext,
        request: pb::CreateAssumptionRequest,
    ) -> Result<pb::Assumption, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?.to_owned();
        let mut violations = FieldViolations::default();
        let assumption_id = id_or_generate(&request.assumption_id, "assumption_id", &mut violations);
        let Some(input) = &request.assumption else {
            violations.add("assumption", "is required");
            return Err(Error::InvalidArgument(violations));
        };
        check_assumption(input, "assumption.", &mut violations);
        let reference = [("assumption.health_metric".to_owned(), input.health_metric.clone())];
        self.check_assumption_metrics(&reference, &mut violations).await?;
        violations.into_result()?;
        let status = match input.status() {
            AssumptionStatus::Unspecified => AssumptionStatus::Holding,
            status => status,
        };
        let assumption = pb::Assumption {
            name: child_name(&parent_id, ASSUMPTIONS, &assumption_id),
            statement: input.statement.trim().to_owned(),
            health_metric: input.health_metric.clone(),
            status: status as i32,
            status_reason: input.status_reason.clone(),
            ..pb::Assumption::default()
        };
        self.create_child(&context, "CreateAssumption", &request, parent_id, assumption)
            .await
    }

    pub async fn update_assumption(
        &self,
        context: RequestContext,
        request: pb::UpdateAssumptionRequest,
    ) -> Result<pb::Assumption, Error> {
        let Some(patch) = request.assumption else {
            return Err(Error::invalid("assumption", "is required"));
        };
        let (parent_id, _) = child_ids(&patch.name, ASSUMPTIONS, "assumption.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), UPDATABLE, &mut violations);
        for path in &paths {
            match *path {
                "statement" => {
                    violations.require_non_empty(&patch.statement, "assumption.statement");
                    violations.require_max_len(&patch.statement, MAX_TEXT, "assumption.statement");
                }
                _ => check_health_metric(&patch.health_metric, "assumption.health_metric", &mut violations),
            }
        }
        if paths.contains(&"health_metric") {
            let reference = [("assumption.health_metric".to_owned(), patch.health_metric.clone())];
            self.check_assumption_metrics(&reference, &mut violations).await?;
        }
        violations.into_result()?;
        let edit = self
            .edit_child(&context, parent_id, None, |strategy, etag| {
                let assumption = find_child::<pb::Assumption>(strategy, &patch.name)?;
                check_etag(&patch.etag, &assumption.etag, &patch.name)?;
                for path in &paths {
                    match *path {
                        "statement" => assumption.statement = patch.statement.trim().to_owned(),
                        _ => assumption.health_metric.clone_from(&patch.health_metric),
                    }
                }
                assumption.stamp(etag, false);
                Ok(ChildEdit::changed(ChangeKind::Updated, assumption.clone().into_child()))
            })
            .await?;
        edited(edit)
    }

    pub async fn delete_assumption(
        &self,
        context: RequestContext,
        request: pb::DeleteAssumptionRequest,
    ) -> Result<(), Error> {
        self.delete_child::<pb::Assumption>(&context, &request.name, &request.etag)
            .await
    }

    /// Idempotent: the same status and reason again writes nothing.
    pub async fn set_assumption_status(
        &self,
        context: RequestContext,
        request: pb::SetAssumptionStatusRequest,
    ) -> Result<pb::Assumption, Error> {
        let (parent_id, _) = child_ids(&request.name, ASSUMPTIONS, "name")?;
        let mut violations = FieldViolations::default();
        let status = match AssumptionStatus::try_from(request.status) {
            Ok(AssumptionStatus::Unspecified) | Err(_) => {
                violations.add("status", "must be HOLDING, AT_RISK or BROKEN");
                AssumptionStatus::Unspecified
            }
            Ok(status) => status,
        };
        violations.require_max_len(&request.reason, MAX_TEXT, "reason");
        violations.into_result()?;
        let reason = request.reason.trim().to_owned();
        let edit = self
            .edit_child(&context, parent_id, None, |strategy, etag| {
                let assumption = find_child::<pb::Assumption>(strategy, &request.name)?;
                if assumption.status() == status && assumption.status_reason == reason {
                    return Ok(ChildEdit::unchanged(assumption.clone().into_child()));
                }
                assumption.set_status(status);
                assumption.status_reason = reason;
                assumption.stamp(etag, false);
                let changed = assumption.clone();
                // What would have to be true no longer is: the strategy is
                // reviewed (the Four Square rule's last step).
                if status == AssumptionStatus::Broken && strategy.state() == StrategyState::Active {
                    strategy.set_state(StrategyState::UnderReview);
                    strategy.state_reason = format!("assumption broken: {}", changed.statement);
                }
                Ok(ChildEdit::changed(ChangeKind::Updated, changed.into_child()))
            })
            .await?;
        edited(edit)
    }
}
