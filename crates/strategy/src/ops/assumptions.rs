//! Assumptions (what would have to be true): create, update, delete, and
//! the status the health service sets.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use trellis_access::ResourceKind;
use trellis_foundation::{
    FieldViolations, RequestContext,
    filter::{self, FieldKind, FilterField},
    mask::update_paths,
    names::id_or_generate,
    paging::{page_size, split_page},
    validation::required,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, AssumptionStatus, StrategyState},
};

use crate::{
    error::Error,
    fields::{AssumptionField, check_assumption, check_health_metric},
    names::{ANY_STRATEGY, ASSUMPTIONS, child_ids, child_name, strategy_id},
    ops::revisions::owner_unit,
    ops::{
        StrategyOps,
        children::{ChildEdit, StrategyChild, edited, find_child},
    },
    store::entity::assumption,
};

const MAX_TEXT: usize = 4_000;

impl StrategyOps {
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
            return Err(violations.into());
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
        let patch = required(request.assumption, "assumption")?;
        let (parent_id, _) = child_ids(&patch.name, ASSUMPTIONS, "assumption.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), AssumptionField::ALL, &mut violations);
        for field in &paths {
            match field {
                AssumptionField::Statement => {
                    violations.require_non_empty(&patch.statement, "assumption.statement");
                    violations.require_max_len(&patch.statement, MAX_TEXT, "assumption.statement");
                }
                AssumptionField::HealthMetric => {
                    check_health_metric(&patch.health_metric, "assumption.health_metric", &mut violations);
                }
            }
        }
        if paths.contains(&AssumptionField::HealthMetric) {
            let reference = [("assumption.health_metric".to_owned(), patch.health_metric.clone())];
            self.check_assumption_metrics(&reference, &mut violations).await?;
        }
        violations.into_result()?;
        self.update_child(
            &context,
            parent_id,
            None,
            (&patch.name, &patch.etag),
            |assumption: &mut pb::Assumption| {
                for field in &paths {
                    match field {
                        AssumptionField::Statement => assumption.statement = patch.statement.trim().to_owned(),
                        AssumptionField::HealthMetric => assumption.health_metric.clone_from(&patch.health_metric),
                    }
                }
            },
        )
        .await
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

const ASSUMPTION_STATUS_NAMES: &[&str] = &["HOLDING", "AT_RISK", "BROKEN"];

impl StrategyOps {
    pub async fn get_assumption(
        &self,
        context: RequestContext,
        request: pb::GetAssumptionRequest,
    ) -> Result<pb::Assumption, Error> {
        let name = request.name.as_str();
        let (parent_id, _) = child_ids(name, ASSUMPTIONS, "name")?;
        let strategy = self.readable(&context, parent_id).await?;
        strategy
            .assumptions
            .into_iter()
            .find(|assumption| assumption.name == name)
            .ok_or_else(|| Error::NotFound { name: name.to_owned() })
    }

    /// A strategy's assumptions in name order, filtered on `status` and
    /// `health_metric`; with the parent `strategies/-` (AIP-159), every
    /// strategy's ("which assumptions does CSAT back?").
    pub async fn list_assumptions(
        &self,
        context: RequestContext,
        request: pb::ListAssumptionsRequest,
    ) -> Result<pb::ListAssumptionsResponse, Error> {
        let parent_id = match request.parent.as_str() {
            ANY_STRATEGY => None,
            parent => Some(strategy_id(parent, "parent")?),
        };
        let size = page_size(request.page_size)?;
        let filter = filter::parse(&request.filter)?;
        let query = format!("{}|{}", request.parent, filter.fingerprint());
        let after: Option<String> = self
            .store
            .page_tokens
            .decode(&request.page_token, "ListAssumptions", &query)?;
        let fields = [
            FilterField::new(
                "status",
                Expr::col(assumption::Column::Status),
                FieldKind::Enum(ASSUMPTION_STATUS_NAMES),
            ),
            FilterField::new(
                "health_metric",
                Expr::col(assumption::Column::HealthMetric),
                FieldKind::Text,
            ),
        ];
        let conn = self.store.db.conn();
        let mut select = assumption::Entity::find().filter(filter.to_condition(&fields)?);
        if let Some(parent_id) = parent_id {
            // A missing strategy is NOT_FOUND, not an empty list.
            self.readable(&context, parent_id).await?;
            select = select.filter(assumption::Column::StrategyId.eq(parent_id));
        }
        if let Some(after) = after {
            select = select.filter(assumption::Column::Name.gt(after));
        }
        let rows = select
            .order_by_asc(assumption::Column::Name)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.name.clone());
        // Across strategies, those the caller may not read are left out.
        let reader = self.access.reader(&context).await;
        let mut strategies: HashMap<&str, pb::Strategy> = HashMap::new();
        for row in &page {
            if !strategies.contains_key(row.strategy_id.as_str()) {
                let strategy = self.current(&row.strategy_id).await?;
                if reader.may_read(ResourceKind::Strategy, owner_unit(&strategy), false) {
                    strategies.insert(&row.strategy_id, strategy);
                }
            }
        }
        let by_name: HashMap<&str, &pb::Assumption> = strategies
            .values()
            .flat_map(|strategy| &strategy.assumptions)
            .map(|assumption| (assumption.name.as_str(), assumption))
            .collect();
        Ok(pb::ListAssumptionsResponse {
            assumptions: page
                .iter()
                .filter_map(|row| by_name.get(row.name.as_str()).map(|a| (*a).clone()))
                .collect(),
            next_page_token: next
                .map(|name| self.store.page_tokens.encode("ListAssumptions", &query, &name))
                .unwrap_or_default(),
        })
    }
}
