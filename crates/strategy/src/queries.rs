//! Reads: strategies (current or at a revision), revisions, choices and
//! assumptions, and the batch lookup of choices other services validate
//! alignment targets with.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use trellis_foundation::{
    Error, FieldViolations,
    filter::{self, FieldKind, FilterField},
    names::parse_child_name,
    paging::{page_size, split_page},
};
use trellis_proto::strategy::v1 as pb;

use crate::{
    StrategyApi,
    convert::{ASSUMPTIONS, CHOICES, COLLECTION, child_ids, split_revision, strategy_id},
    entity::{assumption, choice, revision, strategy},
    revision::decode,
};

/// Names per BatchGetChoices.
const MAX_BATCH_GET: usize = 10_000;
const IN_CHUNK: usize = 5_000;

const STATE_NAMES: &[&str] = &["DRAFT", "ACTIVE", "UNDER_REVIEW", "RETIRED"];
const CHOICE_KIND_NAMES: &[&str] = &[
    "WHERE_TO_PLAY",
    "HOW_TO_WIN",
    "CAPABILITY",
    "MANAGEMENT_SYSTEM",
    "NOT_DOING",
];
/// The parent that lists every strategy's children (AIP-159).
const ANY_STRATEGY: &str = "strategies/-";
const ASSUMPTION_STATUS_NAMES: &[&str] = &["HOLDING", "AT_RISK", "BROKEN"];

fn strategy_filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new(
            "owner",
            Expr::col(strategy::Column::OwnerId),
            FieldKind::ResourceName("orgUnits"),
        ),
        FilterField::new(
            "state",
            Expr::col(strategy::Column::State),
            FieldKind::Enum(STATE_NAMES),
        ),
        FilterField::new(
            "parent_choice",
            Expr::col(strategy::Column::ParentChoice),
            FieldKind::Text,
        ),
        FilterField::new(
            "display_name",
            Expr::col(strategy::Column::DisplayName),
            FieldKind::Text,
        ),
    ]
}

impl StrategyApi {
    pub async fn get_strategy(&self, request: pb::GetStrategyRequest) -> Result<pb::Strategy, Error> {
        let (name, name_revision) = split_revision(&request.name)?;
        let id = strategy_id(name, "name")?;
        let revision = if request.revision != 0 {
            request.revision
        } else {
            name_revision
        };
        if revision < 0 {
            return Err(Error::invalid("revision", "must not be negative"));
        }
        if revision == 0 {
            return self.current(id).await;
        }
        let row = revision::Entity::find_by_id((id.to_owned(), revision))
            .one(self.store.db.conn())
            .await?
            .ok_or_else(|| Error::NotFound(format!("{name}@{revision}")))?;
        decode(&row.snapshot, id)
    }

    /// Strategies in id order.
    pub async fn list_strategies(
        &self,
        request: pb::ListStrategiesRequest,
    ) -> Result<pb::ListStrategiesResponse, Error> {
        let size = page_size(request.page_size)?;
        let filter = filter::parse(&request.filter)?;
        let query = filter.fingerprint();
        let after: Option<String> = self
            .store
            .page_tokens
            .decode(&request.page_token, "ListStrategies", &query)?;
        let mut select = strategy::Entity::find().filter(filter.to_condition(&strategy_filter_fields())?);
        if let Some(after) = after {
            select = select.filter(strategy::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(strategy::Column::Id)
            .limit(size + 1)
            .all(self.store.db.conn())
            .await?;
        let (page, next) = split_page(rows, size, |row| row.id.clone());
        let mut strategies = Vec::with_capacity(page.len());
        for row in &page {
            strategies.push(decode(&row.snapshot, &row.id)?);
        }
        Ok(pb::ListStrategiesResponse {
            strategies,
            next_page_token: next
                .map(|id| self.store.page_tokens.encode("ListStrategies", &query, &id))
                .unwrap_or_default(),
        })
    }

    /// Newest first.
    pub async fn list_revisions(
        &self,
        request: pb::ListStrategyRevisionsRequest,
    ) -> Result<pb::ListStrategyRevisionsResponse, Error> {
        let id = strategy_id(&request.name, "name")?;
        let size = page_size(request.page_size)?;
        let after: Option<i64> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListStrategyRevisions", &request.name)?;
        let conn = self.store.db.conn();
        if strategy::Entity::find_by_id(id.to_owned()).one(conn).await?.is_none() {
            return Err(Error::NotFound(request.name));
        }
        let mut select = revision::Entity::find().filter(revision::Column::StrategyId.eq(id));
        if let Some(after) = after {
            select = select.filter(revision::Column::Revision.lt(after));
        }
        let rows = select
            .order_by_desc(revision::Column::Revision)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.revision);
        let mut strategies = Vec::with_capacity(page.len());
        for row in &page {
            strategies.push(decode(&row.snapshot, id)?);
        }
        Ok(pb::ListStrategyRevisionsResponse {
            strategies,
            next_page_token: next
                .map(|revision| {
                    self.store
                        .page_tokens
                        .encode("ListStrategyRevisions", &request.name, &revision)
                })
                .unwrap_or_default(),
        })
    }

    pub async fn get_choice(&self, name: &str) -> Result<pb::Choice, Error> {
        let (parent_id, _) = child_ids(name, CHOICES, "name")?;
        let strategy = self.current(parent_id).await?;
        strategy
            .choices
            .into_iter()
            .find(|choice| choice.name == name)
            .ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    pub async fn get_assumption(&self, name: &str) -> Result<pb::Assumption, Error> {
        let (parent_id, _) = child_ids(name, ASSUMPTIONS, "name")?;
        let strategy = self.current(parent_id).await?;
        strategy
            .assumptions
            .into_iter()
            .find(|assumption| assumption.name == name)
            .ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    /// A strategy's choices in name order, filtered on `kind`.
    pub async fn list_choices(&self, request: pb::ListChoicesRequest) -> Result<pb::ListChoicesResponse, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?;
        let size = page_size(request.page_size)?;
        let filter = filter::parse(&request.filter)?;
        let query = format!("{}|{}", request.parent, filter.fingerprint());
        let after: Option<String> = self
            .store
            .page_tokens
            .decode(&request.page_token, "ListChoices", &query)?;
        let fields = [FilterField::new(
            "kind",
            Expr::col(choice::Column::Kind),
            FieldKind::Enum(CHOICE_KIND_NAMES),
        )];
        let conn = self.store.db.conn();
        let strategy = self.current(parent_id).await?;
        let mut select = choice::Entity::find()
            .filter(choice::Column::StrategyId.eq(parent_id))
            .filter(filter.to_condition(&fields)?);
        if let Some(after) = after {
            select = select.filter(choice::Column::Name.gt(after));
        }
        let rows = select
            .order_by_asc(choice::Column::Name)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.name.clone());
        let by_name: HashMap<&str, &pb::Choice> = strategy
            .choices
            .iter()
            .map(|choice| (choice.name.as_str(), choice))
            .collect();
        Ok(pb::ListChoicesResponse {
            choices: page
                .iter()
                .filter_map(|row| by_name.get(row.name.as_str()).map(|choice| (*choice).clone()))
                .collect(),
            next_page_token: next
                .map(|name| self.store.page_tokens.encode("ListChoices", &query, &name))
                .unwrap_or_default(),
        })
    }

    /// A strategy's assumptions in name order, filtered on `status` and
    /// `health_metric`; with the parent `strategies/-` (AIP-159), every
    /// strategy's ("which assumptions does CSAT back?").
    pub async fn list_assumptions(
        &self,
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
            self.current(parent_id).await?;
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
        let mut strategies: HashMap<&str, pb::Strategy> = HashMap::new();
        for row in &page {
            if !strategies.contains_key(row.strategy_id.as_str()) {
                strategies.insert(&row.strategy_id, self.current(&row.strategy_id).await?);
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

    /// Every name is answered: found ones with their strategy's state and
    /// owner, in the order asked, and the rest listed as missing.
    pub async fn batch_get_choices(
        &self,
        request: pb::BatchGetChoicesRequest,
    ) -> Result<pb::BatchGetChoicesResponse, Error> {
        if request.names.len() > MAX_BATCH_GET {
            return Err(Error::invalid(
                "names",
                format!("must hold at most {MAX_BATCH_GET} names"),
            ));
        }
        let mut violations = FieldViolations::default();
        for (index, name) in request.names.iter().enumerate() {
            if parse_child_name(name, COLLECTION, CHOICES).is_none() {
                violations.add(
                    format!("names[{index}]"),
                    format!("{name:?} is not a strategies/{{id}}/choices/{{id}} name"),
                );
            }
        }
        violations.into_result()?;
        let conn = self.store.db.conn();
        let mut strategy_ids: Vec<String> = Vec::new();
        let mut existing: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in request.names.chunks(IN_CHUNK) {
            let rows = choice::Entity::find()
                .filter(choice::Column::Name.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?;
            for row in rows {
                strategy_ids.push(row.strategy_id);
                existing.insert(row.name);
            }
        }
        strategy_ids.sort();
        strategy_ids.dedup();
        let mut strategies: HashMap<String, pb::Strategy> = HashMap::new();
        for chunk in strategy_ids.chunks(IN_CHUNK) {
            let rows = strategy::Entity::find()
                .filter(strategy::Column::Id.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?;
            for row in rows {
                let snapshot = decode(&row.snapshot, &row.id)?;
                strategies.insert(row.id, snapshot);
            }
        }
        let mut response = pb::BatchGetChoicesResponse::default();
        for name in &request.names {
            let found = existing
                .contains(name)
                .then(|| name.split('/').nth(1))
                .flatten()
                .and_then(|id| strategies.get(id));
            let choice = found.and_then(|strategy| {
                strategy
                    .choices
                    .iter()
                    .find(|choice| &choice.name == name)
                    .map(|choice| pb::ChoiceWithStrategy {
                        choice: Some(choice.clone()),
                        strategy_state: strategy.state,
                        strategy_owner: strategy.owner.clone(),
                    })
            });
            match choice {
                Some(choice) => response.choices.push(choice),
                None => response.missing.push(name.clone()),
            }
        }
        Ok(response)
    }
}
