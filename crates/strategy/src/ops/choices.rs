//! Choices: create, update, delete (each a new revision of its strategy),
//! read, list, and the batch lookup other services validate alignment
//! targets with.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use trellis_access::ResourceKind;
use trellis_foundation::{
    FieldViolations, RequestContext,
    filter::{self, FieldKind, FilterField},
    mask::MaskField,
    mask::update_paths,
    names::{id_or_generate, parse_child_name},
    paging::{page_size, split_page},
    validation::required,
};
use trellis_proto::strategy::v1::{self as pb, ChoiceKind};

use crate::{
    error::Error,
    fields::{ChoiceField, check_choice},
    names::{CHOICES, COLLECTION, child_ids, child_name, strategy_id},
    ops::StrategyOps,
    ops::revisions::owner_unit,
    store::{
        entity::{choice, strategy},
        snapshot::decode_strategy,
    },
};

/// Names per BatchGetChoices.
const MAX_BATCH_GET: usize = 10_000;
const IN_CHUNK: usize = 5_000;

const CHOICE_KIND_NAMES: &[&str] = &[
    "WHERE_TO_PLAY",
    "HOW_TO_WIN",
    "CAPABILITY",
    "MANAGEMENT_SYSTEM",
    "NOT_DOING",
];

impl StrategyOps {
    pub async fn create_choice(
        &self,
        context: RequestContext,
        request: pb::CreateChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?.to_owned();
        let mut violations = FieldViolations::default();
        let choice_id = id_or_generate(&request.choice_id, "choice_id", &mut violations);
        let Some(input) = &request.choice else {
            violations.add("choice", "is required");
            return Err(violations.into());
        };
        check_choice(input, "choice.", &mut violations);
        violations.into_result()?;
        let choice = pb::Choice {
            name: child_name(&parent_id, CHOICES, &choice_id),
            kind: input.kind,
            title: input.title.trim().to_owned(),
            description: input.description.clone(),
            ..pb::Choice::default()
        };
        self.create_child(&context, "CreateChoice", &request, parent_id, choice)
            .await
    }

    pub async fn update_choice(
        &self,
        context: RequestContext,
        request: pb::UpdateChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let patch = required(request.choice, "choice")?;
        let (parent_id, _) = child_ids(&patch.name, CHOICES, "choice.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), ChoiceField::ALL, &mut violations);
        let mut checked = FieldViolations::default();
        check_choice(&patch, "choice.", &mut checked);
        for (field, description) in checked.violations() {
            if paths.iter().any(|path| field == &format!("choice.{}", path.path())) {
                violations.add(field.clone(), description.clone());
            }
        }
        violations.into_result()?;
        let becomes_not_doing = paths.contains(&ChoiceField::Kind) && patch.kind() == ChoiceKind::NotDoing;
        let losing_children = becomes_not_doing.then_some(patch.name.as_str());
        self.update_child(
            &context,
            parent_id,
            losing_children,
            (&patch.name, &patch.etag),
            |choice: &mut pb::Choice| {
                for field in &paths {
                    match field {
                        ChoiceField::Kind => choice.kind = patch.kind,
                        ChoiceField::Title => choice.title = patch.title.trim().to_owned(),
                        ChoiceField::Description => choice.description.clone_from(&patch.description),
                    }
                }
            },
        )
        .await
    }

    pub async fn delete_choice(&self, context: RequestContext, request: pb::DeleteChoiceRequest) -> Result<(), Error> {
        self.delete_child::<pb::Choice>(&context, &request.name, &request.etag)
            .await
    }
}

impl StrategyOps {
    pub async fn get_choice(
        &self,
        context: RequestContext,
        request: pb::GetChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let name = request.name.as_str();
        let (parent_id, _) = child_ids(name, CHOICES, "name")?;
        let strategy = self.readable(&context, parent_id).await?;
        strategy
            .choices
            .into_iter()
            .find(|choice| choice.name == name)
            .ok_or_else(|| Error::NotFound { name: name.to_owned() })
    }

    /// A strategy's choices in name order, filtered on `kind`.
    pub async fn list_choices(
        &self,
        context: RequestContext,
        request: pb::ListChoicesRequest,
    ) -> Result<pb::ListChoicesResponse, Error> {
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
        let strategy = self.readable(&context, parent_id).await?;
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

    /// Every name is answered: found ones with their strategy's state and
    /// owner, in the order asked, and the rest listed as missing.
    /// A choice of a strategy the caller may not read is missing.
    pub async fn batch_get_choices(
        &self,
        context: RequestContext,
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
        let reader = self.access.reader(&context).await;
        for chunk in strategy_ids.chunks(IN_CHUNK) {
            let rows = strategy::Entity::find()
                .filter(strategy::Column::Id.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?;
            for row in rows {
                let snapshot = decode_strategy(&row.snapshot, &row.id)?;
                if reader.may_read(ResourceKind::Strategy, owner_unit(&snapshot), false) {
                    strategies.insert(row.id, snapshot);
                }
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
