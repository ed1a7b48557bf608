//! Assumptions (what would have to be true): create, update, delete, and
//! the status the health service sets.

use trellis_foundation::{
    Error, FieldViolations, RequestContext, WriteTxn,
    etag::check_etag,
    mask::update_paths,
    names::id_or_generate,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, AssumptionStatus},
};

use crate::{
    StrategyApi,
    children::{Child, ChildEdit},
    convert::{ASSUMPTIONS, MAX_CHILDREN, check_assumption, check_health_metric, child_ids, child_name, strategy_id},
};

const UPDATABLE: &[&str] = &["statement", "health_metric"];
const MAX_REASON: usize = 4_000;

fn into_assumption(edit: ChildEdit) -> Result<pb::Assumption, Error> {
    match edit.child {
        Child::Assumption(assumption) => Ok(assumption),
        Child::Choice(_) => Err(Error::Corrupt("an assumption edit returned a choice".into())),
    }
}

fn position(strategy: &pb::Strategy, name: &str) -> Result<usize, Error> {
    strategy
        .assumptions
        .iter()
        .position(|assumption| assumption.name == name)
        .ok_or_else(|| Error::NotFound(name.to_owned()))
}

impl StrategyApi {
    pub async fn create_assumption(
        &self,
        context: RequestContext,
        request: pb::CreateAssumptionRequest,
    ) -> Result<pb::Assumption, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?.to_owned();
        let mut violations = FieldViolations::default();
        let assumption_id = id_or_generate(&request.assumption_id, "assumption_id", &mut violations);
        match &request.assumption {
            Some(assumption) => check_assumption(assumption, "assumption.", &mut violations),
            None => violations.add("assumption", "is required"),
        }
        violations.into_result()?;
        let input = request.assumption.clone().unwrap_or_default();
        let api = self.clone();
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateAssumption",
                &request,
                move |mut txn: WriteTxn| async move {
                    let name = child_name(&parent_id, ASSUMPTIONS, &assumption_id);
                    let edit = api
                        .apply_child_edit(&mut txn, &event_context, &parent_id, |strategy, etag| {
                            if strategy.assumptions.iter().any(|assumption| assumption.name == name) {
                                return Err(Error::AlreadyExists(format!("{name} already exists")));
                            }
                            if strategy.assumptions.len() >= MAX_CHILDREN {
                                return Err(Error::FailedPrecondition(format!(
                                    "a strategy holds at most {MAX_CHILDREN} assumptions"
                                )));
                            }
                            let now = Some(to_timestamp(now_micros()));
                            let status = match input.status() {
                                AssumptionStatus::Unspecified => AssumptionStatus::Holding,
                                status => status,
                            };
                            let assumption = pb::Assumption {
                                name,
                                statement: input.statement.trim().to_owned(),
                                health_metric: input.health_metric,
                                status: status as i32,
                                status_reason: input.status_reason,
                                etag: etag.to_owned(),
                                create_time: now,
                                update_time: now,
                            };
                            strategy.assumptions.push(assumption.clone());
                            Ok(ChildEdit::changed(ChangeKind::Created, Child::Assumption(assumption)))
                        })
                        .await?;
                    Ok((txn, into_assumption(edit)?))
                },
            )
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
                    violations.require_max_len(&patch.statement, MAX_REASON, "assumption.statement");
                }
                _ => check_health_metric(&patch.health_metric, "assumption.health_metric", &mut violations),
            }
        }
        violations.into_result()?;
        let edit = self
            .edit_child(&context, parent_id, None, |strategy, etag| {
                let index = position(strategy, &patch.name)?;
                let assumption = &mut strategy.assumptions[index];
                check_etag(&patch.etag, &assumption.etag, &patch.name)?;
                for path in &paths {
                    match *path {
                        "statement" => assumption.statement = patch.statement.trim().to_owned(),
                        _ => assumption.health_metric.clone_from(&patch.health_metric),
                    }
                }
                assumption.etag = etag.to_owned();
                assumption.update_time = Some(to_timestamp(now_micros()));
                Ok(ChildEdit::changed(
                    ChangeKind::Updated,
                    Child::Assumption(assumption.clone()),
                ))
            })
            .await?;
        into_assumption(edit)
    }

    pub async fn delete_assumption(
        &self,
        context: RequestContext,
        request: pb::DeleteAssumptionRequest,
    ) -> Result<(), Error> {
        let (parent_id, _) = child_ids(&request.name, ASSUMPTIONS, "name")?;
        self.edit_child(&context, parent_id, None, |strategy, _| {
            let index = position(strategy, &request.name)?;
            check_etag(&request.etag, &strategy.assumptions[index].etag, &request.name)?;
            let removed = strategy.assumptions.remove(index);
            Ok(ChildEdit::changed(ChangeKind::Deleted, Child::Assumption(removed)))
        })
        .await?;
        Ok(())
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
        violations.require_max_len(&request.reason, MAX_REASON, "reason");
        violations.into_result()?;
        let reason = request.reason.trim().to_owned();
        let edit = self
            .edit_child(&context, parent_id, None, |strategy, etag| {
                let index = position(strategy, &request.name)?;
                let assumption = &mut strategy.assumptions[index];
                if assumption.status() == status && assumption.status_reason == reason {
                    return Ok(ChildEdit::unchanged(Child::Assumption(assumption.clone())));
                }
                assumption.set_status(status);
                assumption.status_reason = reason;
                assumption.etag = etag.to_owned();
                assumption.update_time = Some(to_timestamp(now_micros()));
                Ok(ChildEdit::changed(
                    ChangeKind::Updated,
                    Child::Assumption(assumption.clone()),
                ))
            })
            .await?;
        into_assumption(edit)
    }
}
