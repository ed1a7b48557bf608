//! Creating, changing, moving through states and deleting strategies.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use trellis_access::{Permission, ResourceKind};
use trellis_foundation::{FieldViolations, NewChange, RequestContext, WriteTxn, etag::check_etag};
use trellis_proto::{
    cascade::v1::ListAncestorsRequest,
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, ChoiceKind, StrategyState},
};

use crate::{
    commands::{NewStrategy, StrategyPatch},
    error::Error,
    lifecycle::{Transition, activation_gaps, next_state},
    names::{CHOICES, child_ids, strategy_id, strategy_name},
    ops::{StrategyOps, children::StrategyChild, nesting::check_no_loop},
    store::{
        entity::{assumption, choice, revision, strategy},
        revisions::load,
        rows::{assumption_row, choice_row},
    },
};

impl StrategyOps {
    /// Checks that the owner exists and that the parent choice can carry a
    /// strategy of that owner: it exists, is not NOT_DOING, its strategy is
    /// not RETIRED and is owned by an ancestor of `owner`. One call to the
    /// org service answers both the owner and its ancestry.
    pub(crate) async fn check_references(
        &self,
        strategy_id: &str,
        owner: &str,
        parent_choice: &str,
        prefix: &str,
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        // A malformed owner or parent choice is the shape checks' to
        // report; what can still be checked is.
        let ancestors = if trellis_foundation::names::parse_name(owner, "orgUnits").is_none() {
            None
        } else {
            match self
                .org
                .clone()
                .list_ancestors(ListAncestorsRequest { name: owner.to_owned() })
                .await
            {
                Ok(response) => Some(response.into_inner().org_units),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    violations.add(format!("{prefix}owner"), format!("{owner} does not exist"));
                    None
                }
                Err(status) => {
                    return Err(Error::peer("org")(status));
                }
            }
        };
        if parent_choice.is_empty() {
            return Ok(());
        }
        let field = format!("{prefix}parent_choice");
        let Ok((parent_strategy_id, _)) = child_ids(parent_choice, CHOICES, &field) else {
            return Ok(());
        };
        if parent_strategy_id == strategy_id {
            violations.add(field, "a strategy cannot nest under one of its own choices");
            return Ok(());
        }
        let conn = self.store.db.conn();
        let Some(choice_row) = choice::Entity::find_by_id(parent_choice.to_owned()).one(conn).await? else {
            violations.add(field, format!("{parent_choice} does not exist"));
            return Ok(());
        };
        if choice_row.kind == ChoiceKind::NotDoing.as_str_name() {
            violations.add(
                field,
                format!("{parent_choice} is a NOT_DOING choice: nothing nests under what we chose not to do"),
            );
            return Ok(());
        }
        let parent = load(conn, parent_strategy_id).await?;
        if parent.strategy.state() == StrategyState::Retired {
            violations.add(field, format!("{} is RETIRED", parent.strategy.name));
            return Ok(());
        }
        let Some(ancestors) = ancestors else {
            return Ok(());
        };
        let ancestor_names: HashSet<&str> = ancestors.iter().map(|unit| unit.name.as_str()).collect();
        if !ancestor_names.contains(parent.strategy.owner.as_str()) {
            violations.add(
                field,
                format!(
                    "its strategy is owned by {}, which is not an ancestor of {owner}",
                    parent.strategy.owner
                ),
            );
        }
        Ok(())
    }

    /// Locks the strategy that owns `parent_choice` until `txn` ends and
    /// checks, under that lock, that the choice can still carry a strategy.
    /// `check_references` checked it before the transaction; a concurrent
    /// delete, kind change or retirement may have come in between, and it
    /// has to take the same lock.
    async fn hold_parent_choice(&self, txn: &WriteTxn, parent_choice: &str) -> Result<(), Error> {
        if parent_choice.is_empty() {
            return Ok(());
        }
        let (parent_id, _) = child_ids(parent_choice, CHOICES, "parent_choice")?;
        let parent = self.load_for_write(txn, parent_id).await?.strategy;
        let choice = parent.choices.iter().find(|choice| choice.name == parent_choice);
        let problem = match choice {
            None => Some("was deleted"),
            Some(choice) if choice.kind() == ChoiceKind::NotDoing => Some("became a NOT_DOING choice"),
            Some(_) if parent.state() == StrategyState::Retired => Some("belongs to a strategy that was retired"),
            Some(_) => None,
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(Error::ParentChoiceChanged {
                parent_choice: parent_choice.to_owned(),
                problem,
            }),
        }
    }

    pub async fn create_strategy(
        &self,
        context: RequestContext,
        request: pb::CreateStrategyRequest,
    ) -> Result<pb::Strategy, Error> {
        let command = NewStrategy::try_from(&request);
        let mut violations = FieldViolations::default();
        let no_strategy = pb::Strategy::default();
        let input = request.strategy.as_ref().unwrap_or(&no_strategy);
        // Before the references: a caller who may not write here learns
        // nothing about what exists.
        self.access
            .check_owned(
                &context,
                Permission::EditStrategy,
                ResourceKind::Strategy,
                &request.strategy_id,
                &input.owner,
            )
            .await?;
        // The references too, whatever the shape: one answer, every problem.
        self.check_references(
            &request.strategy_id,
            &input.owner,
            &input.parent_choice,
            "strategy.",
            &mut violations,
        )
        .await?;
        let metrics: Vec<(String, String)> = input
            .assumptions
            .iter()
            .enumerate()
            .map(|(index, assumption)| {
                (
                    format!("strategy.assumptions[{index}].health_metric"),
                    assumption.health_metric.clone(),
                )
            })
            .collect();
        self.check_assumption_metrics(&metrics, &mut violations).await?;
        let NewStrategy { id, strategy } = violations.along_with(command)?;
        let api = self.clone();
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateStrategy",
                &request,
                move |mut txn: WriteTxn| async move {
                    if strategy::Entity::find_by_id(id.clone()).one(&*txn).await?.is_some() {
                        return Err(Error::Exists {
                            name: strategy_name(&id),
                        });
                    }
                    api.hold_parent_choice(&txn, &strategy.parent_choice).await?;
                    let mut strategy = strategy;
                    stamp_children(&mut strategy);
                    let child_changes = api.index_new_children(&txn, &strategy).await?;
                    let created = api
                        .save_revision(&mut txn, &event_context, None, strategy, child_changes)
                        .await?;
                    Ok((txn, created))
                },
            )
            .await
    }

    /// Inserts the index rows of a new strategy's inline children and
    /// returns their feed events.
    async fn index_new_children(&self, txn: &WriteTxn, strategy: &pb::Strategy) -> Result<Vec<NewChange>, Error> {
        let id = strategy.name.trim_start_matches("strategies/");
        let mut changes = Vec::new();
        if !strategy.choices.is_empty() {
            let rows = strategy
                .choices
                .iter()
                .map(|choice| choice_row(id, choice).into_active_model());
            choice::Entity::insert_many(rows).exec_without_returning(&**txn).await?;
            for choice in &strategy.choices {
                changes.push(NewChange::new(ChangeKind::Created, choice.name.clone(), choice));
            }
        }
        if !strategy.assumptions.is_empty() {
            let rows = strategy
                .assumptions
                .iter()
                .map(|assumption| assumption_row(id, assumption).into_active_model());
            assumption::Entity::insert_many(rows)
                .exec_without_returning(&**txn)
                .await?;
            for assumption in &strategy.assumptions {
                changes.push(NewChange::new(ChangeKind::Created, assumption.name.clone(), assumption));
            }
        }
        Ok(changes)
    }

    pub async fn update_strategy(
        &self,
        context: RequestContext,
        request: pb::UpdateStrategyRequest,
    ) -> Result<pb::Strategy, Error> {
        let patch = StrategyPatch::try_from(&request)?;
        let id = patch.id.as_str();

        let current = load(self.store.db.conn(), id).await?;
        check_etag(&patch.etag, &current.strategy.etag, &patch.name)?;
        let mut updated = patch.apply(&current.strategy);
        if updated.owner != current.strategy.owner || updated.parent_choice != current.strategy.parent_choice {
            let mut violations = FieldViolations::default();
            self.check_references(id, &updated.owner, &updated.parent_choice, "strategy.", &mut violations)
                .await?;
            violations.into_result()?;
        }

        let mut txn = self.store.begin_write().await?;
        let renested = updated.parent_choice != current.strategy.parent_choice;
        let moved = updated.owner != current.strategy.owner;
        if renested || moved {
            // Nesting is checked across strategies: two updates that each
            // pass against the other's old state could make a loop.
            self.store.feed.serialize_writers(&txn).await?;
        }
        let loaded = self.load_editable(&txn, id).await?;
        if updated.parent_choice != loaded.strategy.parent_choice {
            self.hold_parent_choice(&txn, &updated.parent_choice).await?;
        }
        if renested {
            check_no_loop(&*txn, id, &updated.parent_choice).await?;
        }
        if moved {
            self.check_nested_owners(&*txn, id, &updated.owner).await?;
        }
        // Checked again inside the transaction: the read above was outside it.
        check_etag(&patch.etag, &loaded.strategy.etag, &patch.name)?;
        if loaded.row.revision != current.row.revision {
            return Err(Error::stale(patch.name));
        }
        updated.choices = loaded.strategy.choices;
        updated.assumptions = loaded.strategy.assumptions;
        let saved = self
            .save_revision(&mut txn, &context, Some(&loaded.row), updated, Vec::new())
            .await?;
        txn.commit().await?;
        Ok(saved)
    }

    pub async fn transition(
        &self,
        context: RequestContext,
        request: pb::TransitionStrategyRequest,
        transition: Transition,
    ) -> Result<pb::Strategy, Error> {
        let id = strategy_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        let loaded = self.load_for_write(&txn, id).await?;
        check_etag(&request.etag, &loaded.strategy.etag, &request.name)?;
        let next = next_state(loaded.strategy.state(), transition).map_err(Error::WrongState)?;
        if next == StrategyState::Active {
            let gaps = activation_gaps(&loaded.strategy);
            if !gaps.is_empty() {
                return Err(Error::NotReady {
                    name: request.name.clone(),
                    gaps,
                });
            }
        }
        let mut strategy = loaded.strategy;
        strategy.set_state(next);
        strategy.state_reason = request.reason.trim().to_owned();
        let saved = self
            .save_revision(&mut txn, &context, Some(&loaded.row), strategy, Vec::new())
            .await?;
        txn.commit().await?;
        Ok(saved)
    }

    /// Only drafts are deleted (with their history); others are retired.
    pub async fn delete_strategy(
        &self,
        context: RequestContext,
        request: pb::DeleteStrategyRequest,
    ) -> Result<(), Error> {
        let id = strategy_id(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        let loaded = self.load_for_write(&txn, id).await?;
        self.access
            .check_owned(
                &context,
                Permission::EditStrategy,
                ResourceKind::Strategy,
                id,
                &loaded.strategy.owner,
            )
            .await?;
        check_etag(&request.etag, &loaded.strategy.etag, &request.name)?;
        if loaded.strategy.state() != StrategyState::Draft {
            return Err(Error::NotDraft {
                name: request.name.clone(),
                state: loaded.strategy.state().as_str_name(),
            });
        }
        let choice_names: Vec<String> = loaded
            .strategy
            .choices
            .iter()
            .map(|choice| choice.name.clone())
            .collect();
        let nested = strategy::Entity::find()
            .filter(strategy::Column::ParentChoice.is_in(choice_names))
            .one(&*txn)
            .await?;
        if let Some(nested) = nested {
            return Err(Error::HasNested {
                nested: strategy_name(&nested.id),
                under: nested.parent_choice,
                remedy: "move it first",
            });
        }
        choice::Entity::delete_many()
            .filter(choice::Column::StrategyId.eq(id))
            .exec(&*txn)
            .await?;
        assumption::Entity::delete_many()
            .filter(assumption::Column::StrategyId.eq(id))
            .exec(&*txn)
            .await?;
        revision::Entity::delete_many()
            .filter(revision::Column::StrategyId.eq(id))
            .exec(&*txn)
            .await?;
        strategy::Entity::delete_by_id(id.to_owned()).exec(&*txn).await?;
        let strategy = loaded.strategy;
        let mut changes = vec![NewChange::new(ChangeKind::Deleted, strategy.name.clone(), &strategy)];
        for choice in &strategy.choices {
            changes.push(NewChange::new(ChangeKind::Deleted, choice.name.clone(), choice));
        }
        for assumption in &strategy.assumptions {
            changes.push(NewChange::new(ChangeKind::Deleted, assumption.name.clone(), assumption));
        }
        self.record_and_cache(&mut txn, &context, changes, None).await?;
        Ok(txn.commit().await?)
    }
}

/// Gives a new strategy's inline children their etags and times, which
/// follow the strategy's first revision.
fn stamp_children(strategy: &mut pb::Strategy) {
    let etag = trellis_foundation::etag::etag_for(1);
    for choice in &mut strategy.choices {
        choice.stamp(&etag, true);
    }
    for assumption in &mut strategy.assumptions {
        assumption.stamp(&etag, true);
    }
}
