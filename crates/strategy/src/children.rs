//! Changing one choice or assumption of a strategy: the snapshot, the index
//! row and the feed move together as one new revision.

use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use trellis_foundation::{Error, NewChange, RequestContext, WriteTxn, etag::etag_for};
use trellis_proto::{feed::v1::ChangeKind, strategy::v1 as pb};

use crate::{
    StrategyApi,
    convert::{ASSUMPTION_TYPE, CHOICE_TYPE},
    entity::{assumption, choice, strategy},
    strategies::{assumption_row, choice_row},
};

pub enum Child {
    Choice(pb::Choice),
    Assumption(pb::Assumption),
}

/// What an edit did to one child; `change` is `None` when nothing changed
/// (an idempotent repeat), and then no revision is written.
pub struct ChildEdit {
    pub change: Option<ChangeKind>,
    pub child: Child,
}

impl ChildEdit {
    pub fn changed(change: ChangeKind, child: Child) -> ChildEdit {
        ChildEdit {
            change: Some(change),
            child,
        }
    }

    pub fn unchanged(child: Child) -> ChildEdit {
        ChildEdit { change: None, child }
    }
}

impl StrategyApi {
    /// Loads the strategy (refusing a RETIRED one), lets `edit` change its
    /// snapshot (it gets the etag the changed child will carry), then
    /// writes the index row and the new revision in `txn`.
    pub(crate) async fn apply_child_edit(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        strategy_id: &str,
        edit: impl FnOnce(&mut pb::Strategy, &str) -> Result<ChildEdit, Error>,
    ) -> Result<ChildEdit, Error> {
        let loaded = self.load_editable(txn, strategy_id).await?;
        let mut strategy = loaded.strategy;
        let outcome = edit(&mut strategy, &etag_for(loaded.row.revision + 1))?;
        let Some(change) = outcome.change else {
            return Ok(outcome);
        };
        let event = match &outcome.child {
            Child::Choice(choice) => {
                sync_choice_index(txn, strategy_id, change, choice).await?;
                NewChange::new(change, choice.name.clone(), CHOICE_TYPE, choice)
            }
            Child::Assumption(assumption) => {
                sync_assumption_index(txn, strategy_id, change, assumption).await?;
                NewChange::new(change, assumption.name.clone(), ASSUMPTION_TYPE, assumption)
            }
        };
        self.save_revision(txn, context, Some(&loaded.row), strategy, vec![event])
            .await?;
        Ok(outcome)
    }

    /// Runs one child edit in its own transaction.
    pub(crate) async fn edit_child(
        &self,
        context: &RequestContext,
        strategy_id: &str,
        choice_losing_children: Option<&str>,
        edit: impl FnOnce(&mut pb::Strategy, &str) -> Result<ChildEdit, Error>,
    ) -> Result<ChildEdit, Error> {
        let mut txn = self.store.begin_write().await?;
        if let Some(choice_name) = choice_losing_children {
            refuse_if_nested(&txn, choice_name).await?;
        }
        let outcome = self.apply_child_edit(&mut txn, context, strategy_id, edit).await?;
        if outcome.change.is_some() {
            txn.commit().await?;
        }
        Ok(outcome)
    }
}

/// A choice that strategies nest under cannot be deleted or become NOT_DOING.
async fn refuse_if_nested(txn: &WriteTxn, choice_name: &str) -> Result<(), Error> {
    let nested = strategy::Entity::find()
        .filter(strategy::Column::ParentChoice.eq(choice_name))
        .one(&**txn)
        .await?;
    match nested {
        Some(nested) => Err(Error::FailedPrecondition(format!(
            "strategies/{} nests under {choice_name}; move it to another choice first",
            nested.id
        ))),
        None => Ok(()),
    }
}

async fn sync_choice_index(
    txn: &WriteTxn,
    strategy_id: &str,
    change: ChangeKind,
    choice: &pb::Choice,
) -> Result<(), Error> {
    let row = choice_row(strategy_id, choice);
    match change {
        ChangeKind::Created => {
            choice::Entity::insert(row.into_active_model())
                .exec_without_returning(&**txn)
                .await?;
        }
        ChangeKind::Deleted => {
            choice::Entity::delete_by_id(row.name).exec(&**txn).await?;
        }
        ChangeKind::Updated | ChangeKind::Unspecified => {
            choice::Entity::update(sea_orm::ActiveModelTrait::reset_all(row.into_active_model()))
                .exec(&**txn)
                .await?;
        }
    }
    Ok(())
}

async fn sync_assumption_index(
    txn: &WriteTxn,
    strategy_id: &str,
    change: ChangeKind,
    assumption: &pb::Assumption,
) -> Result<(), Error> {
    let row = assumption_row(strategy_id, assumption);
    match change {
        ChangeKind::Created => {
            assumption::Entity::insert(row.into_active_model())
                .exec_without_returning(&**txn)
                .await?;
        }
        ChangeKind::Deleted => {
            assumption::Entity::delete_by_id(row.name).exec(&**txn).await?;
        }
        ChangeKind::Updated | ChangeKind::Unspecified => {
            assumption::Entity::update(sea_orm::ActiveModelTrait::reset_all(row.into_active_model()))
                .exec(&**txn)
                .await?;
        }
    }
    Ok(())
}
