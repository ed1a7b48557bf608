//! Changing one choice or assumption of a strategy: the snapshot, the index
//! row and the feed move together as one new revision.

use prost::Message;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use trellis_foundation::{
    NewChange, RequestContext, WriteTxn,
    etag::{check_etag, etag_for},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{feed::v1::ChangeKind, strategy::v1 as pb};

use crate::{
    error::Error,
    fields::MAX_CHILDREN,
    names::{ASSUMPTIONS, CHOICES, child_ids, strategy_name},
    ops::StrategyOps,
    store::{
        entity::{assumption, choice, strategy},
        rows::{assumption_row, choice_row},
    },
};

/// What choices and assumptions have in common as parts of a strategy.
pub trait StrategyChild: Message + Clone + Default + Sized + 'static {
    /// The collection in the child's name: `strategies/{s}/{COLLECTION}/{id}`.
    const COLLECTION: &'static str;
    const NOUN: &'static str;
    /// Whether strategies can nest under it (then it cannot be deleted while
    /// one does).
    const CARRIES_STRATEGIES: bool;

    fn siblings(strategy: &mut pb::Strategy) -> &mut Vec<Self>;
    fn name(&self) -> &str;
    fn etag(&self) -> &str;
    /// Sets the etag and update time of a change (and the create time).
    fn stamp(&mut self, etag: &str, created: bool);
    fn into_child(self) -> Child;
    fn from_child(child: Child) -> Option<Self>;
}

/// Choices and assumptions differ only in their collection, their noun,
/// whether strategies nest under them, and their place in the snapshot.
macro_rules! strategy_child {
    ($type:ty, $variant:ident, $collection:expr, $noun:literal, $carries:literal, $field:ident) => {
        impl StrategyChild for $type {
            const COLLECTION: &'static str = $collection;
            const NOUN: &'static str = $noun;
            const CARRIES_STRATEGIES: bool = $carries;

            fn siblings(strategy: &mut pb::Strategy) -> &mut Vec<Self> {
                &mut strategy.$field
            }

            fn name(&self) -> &str {
                &self.name
            }

            fn etag(&self) -> &str {
                &self.etag
            }

            fn stamp(&mut self, etag: &str, created: bool) {
                let now = Some(to_timestamp(now_micros()));
                etag.clone_into(&mut self.etag);
                self.update_time = now;
                if created {
                    self.create_time = now;
                }
            }

            fn into_child(self) -> Child {
                Child::$variant(self)
            }

            fn from_child(child: Child) -> Option<Self> {
                match child {
                    Child::$variant(child) => Some(child),
                    _ => None,
                }
            }
        }
    };
}

strategy_child!(pb::Choice, Choice, CHOICES, "choice", true, choices);
strategy_child!(
    pb::Assumption,
    Assumption,
    ASSUMPTIONS,
    "assumption",
    false,
    assumptions
);

/// The child named `name` in the strategy's snapshot.
pub fn find_child<'a, C: StrategyChild>(strategy: &'a mut pb::Strategy, name: &str) -> Result<&'a mut C, Error> {
    C::siblings(strategy)
        .iter_mut()
        .find(|child| child.name() == name)
        .ok_or_else(|| Error::NotFound { name: name.to_owned() })
}

/// The child an edit of kind `C` changed.
pub fn edited<C: StrategyChild>(edit: ChildEdit) -> Result<C, Error> {
    C::from_child(edit.child).ok_or_else(|| Error::Corrupt(format!("a {} edit changed another kind of child", C::NOUN)))
}

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

impl StrategyOps {
    /// Adds `child` (its name already set) to strategy `parent_id`, once per
    /// request id.
    pub(crate) async fn create_child<C: StrategyChild, Request: Message>(
        &self,
        context: &RequestContext,
        method: &str,
        request: &Request,
        parent_id: String,
        child: C,
    ) -> Result<C, Error> {
        let api = self.clone();
        let event_context = context.clone();
        self.store
            .create_once(context, method, request, move |mut txn: WriteTxn| async move {
                let edit = api
                    .apply_child_edit(&mut txn, &event_context, &parent_id, None, |strategy, etag| {
                        let siblings = C::siblings(strategy);
                        if siblings.iter().any(|sibling| sibling.name() == child.name()) {
                            return Err(Error::Exists {
                                name: child.name().to_owned(),
                            });
                        }
                        if siblings.len() >= MAX_CHILDREN {
                            return Err(Error::TooManyChildren {
                                limit: MAX_CHILDREN,
                                collection: C::COLLECTION,
                            });
                        }
                        let mut child = child;
                        child.stamp(etag, true);
                        siblings.push(child.clone());
                        Ok(ChildEdit::changed(ChangeKind::Created, child.into_child()))
                    })
                    .await?;
                Ok((txn, edited::<C>(edit)?))
            })
            .await
    }

    /// Removes the child `name` (a choice only while no strategy nests
    /// under it).
    pub(crate) async fn delete_child<C: StrategyChild>(
        &self,
        context: &RequestContext,
        name: &str,
        etag: &str,
    ) -> Result<(), Error> {
        let (parent_id, _) = child_ids(name, C::COLLECTION, "name")?;
        let losing_children = C::CARRIES_STRATEGIES.then_some(name);
        self.edit_child(context, parent_id, losing_children, |strategy, _| {
            let siblings = C::siblings(strategy);
            let index = siblings
                .iter()
                .position(|child| child.name() == name)
                .ok_or_else(|| Error::NotFound { name: name.to_owned() })?;
            check_etag(etag, siblings[index].etag(), name)?;
            let removed = siblings.remove(index);
            Ok(ChildEdit::changed(ChangeKind::Deleted, removed.into_child()))
        })
        .await?;
        Ok(())
    }

    /// Loads (and locks) the strategy, refusing a RETIRED one, then
    /// refuses if strategies nest under `choice_losing_children`, lets
    /// `edit` change the snapshot (it gets the etag the changed child will
    /// carry), and writes the index row and the new revision in `txn`.
    ///
    /// The nesting check comes after the lock: a strategy nesting under one
    /// of these choices locks this strategy's row to check its choice, so
    /// the two cannot pass each other's checks.
    pub(crate) async fn apply_child_edit(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        strategy_id: &str,
        choice_losing_children: Option<&str>,
        edit: impl FnOnce(&mut pb::Strategy, &str) -> Result<ChildEdit, Error>,
    ) -> Result<ChildEdit, Error> {
        let loaded = self.load_editable(txn, strategy_id).await?;
        if let Some(choice_name) = choice_losing_children {
            refuse_if_nested(txn, choice_name).await?;
        }
        let mut strategy = loaded.strategy;
        let outcome = edit(&mut strategy, &etag_for(loaded.row.revision + 1))?;
        let Some(change) = outcome.change else {
            return Ok(outcome);
        };
        let event = match &outcome.child {
            Child::Choice(choice) => {
                sync_choice_index(txn, strategy_id, change, choice).await?;
                NewChange::new(change, choice.name.clone(), choice)
            }
            Child::Assumption(assumption) => {
                sync_assumption_index(txn, strategy_id, change, assumption).await?;
                NewChange::new(change, assumption.name.clone(), assumption)
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
        let outcome = self
            .apply_child_edit(&mut txn, context, strategy_id, choice_losing_children, edit)
            .await?;
        if outcome.change.is_some() {
            txn.commit().await?;
        }
        Ok(outcome)
    }

    /// Updates the child named `name` in its own transaction, if its
    /// `etag` is current: `apply` changes its fields, then it is stamped
    /// with the new revision's etag and returned.
    pub(crate) async fn update_child<C: StrategyChild>(
        &self,
        context: &RequestContext,
        strategy_id: &str,
        choice_losing_children: Option<&str>,
        (name, etag): (&str, &str),
        apply: impl FnOnce(&mut C),
    ) -> Result<C, Error> {
        let edit = self
            .edit_child(context, strategy_id, choice_losing_children, |strategy, new_etag| {
                let child = find_child::<C>(strategy, name)?;
                check_etag(etag, child.etag(), name)?;
                apply(child);
                child.stamp(new_etag, false);
                Ok(ChildEdit::changed(ChangeKind::Updated, child.clone().into_child()))
            })
            .await?;
        edited(edit)
    }
}

/// A choice that strategies nest under cannot be deleted or become NOT_DOING.
async fn refuse_if_nested(txn: &WriteTxn, choice_name: &str) -> Result<(), Error> {
    let nested = strategy::Entity::find()
        .filter(strategy::Column::ParentChoice.eq(choice_name))
        .one(&**txn)
        .await?;
    match nested {
        Some(nested) => Err(Error::HasNested {
            nested: strategy_name(&nested.id),
            under: choice_name.to_owned(),
            remedy: "move it to another choice first",
        }),
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
