//! A strategy's revisions: reading it (current, or as it was at a
//! revision), listing strategies and their history, and writing a change as
//! the next revision (snapshot row, history row, feed events and the read
//! cache) in the caller's transaction.

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use trellis_access::{Permission, ResourceKind, unit_id, unit_name};
use trellis_foundation::{
    Backend, NewChange, RequestContext, WriteTxn,
    cache::Lookup,
    etag::etag_for,
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    paging::{page_size, split_page},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb},
};

use crate::{
    error::Error,
    lifecycle::is_editable,
    names::{split_revision, strategy_id, strategy_name},
    ops::StrategyOps,
    store::{
        entity::{revision, strategy},
        revisions::{Loaded, load},
        snapshot::{decode_strategy, encode_strategy},
    },
};

const STATE_NAMES: &[&str] = &["DRAFT", "ACTIVE", "UNDER_REVIEW", "RETIRED"];

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

impl StrategyOps {
    pub async fn get_strategy(
        &self,
        context: RequestContext,
        request: pb::GetStrategyRequest,
    ) -> Result<pb::Strategy, Error> {
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
            return self.readable(&context, id).await;
        }
        let row = revision::Entity::find_by_id((id.to_owned(), revision))
            .one(self.store.db.conn())
            .await?
            .ok_or_else(|| Error::NotFound {
                name: format!("{name}@{revision}"),
            })?;
        let strategy = decode_strategy(&row.snapshot, id)?;
        self.access.reader(&context).await.check(
            ResourceKind::Strategy,
            owner_unit(&strategy),
            false,
            &request.name,
        )?;
        Ok(strategy)
    }

    /// Strategies in id order.
    pub async fn list_strategies(
        &self,
        context: RequestContext,
        request: pb::ListStrategiesRequest,
    ) -> Result<pb::ListStrategiesResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListStrategies",
            &request.filter,
            request.page_size,
            &request.page_token,
            &strategy_filter_fields(),
        )?;
        let rows = page
            .fetch(strategy::Entity::find(), strategy::Column::Id, self.store.db.conn())
            .await?;
        let (rows, next_page_token) = page.split(rows, |row| row.id.clone());
        let reader = self.access.reader(&context).await;
        let mut strategies = Vec::with_capacity(rows.len());
        for row in &rows {
            let strategy = decode_strategy(&row.snapshot, &row.id)?;
            // A page holds what the caller may read: it may come out shorter.
            if reader.may_read(ResourceKind::Strategy, owner_unit(&strategy), false) {
                strategies.push(strategy);
            }
        }
        Ok(pb::ListStrategiesResponse {
            strategies,
            next_page_token,
        })
    }

    /// Newest first.
    pub async fn list_revisions(
        &self,
        context: RequestContext,
        request: pb::ListStrategyRevisionsRequest,
    ) -> Result<pb::ListStrategyRevisionsResponse, Error> {
        let id = strategy_id(&request.name, "name")?;
        let size = page_size(request.page_size)?;
        let after: Option<i64> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListStrategyRevisions", &request.name)?;
        let conn = self.store.db.conn();
        self.readable(&context, id).await?;
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
            strategies.push(decode_strategy(&row.snapshot, id)?);
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
}

/// The id of the unit that owns `strategy` ("" when it names none).
pub(crate) fn owner_unit(strategy: &pb::Strategy) -> &str {
    unit_id(&strategy.owner).unwrap_or_default()
}

impl StrategyOps {
    /// The current snapshot, if the caller may read it.
    pub(crate) async fn readable(&self, context: &RequestContext, id: &str) -> Result<pb::Strategy, Error> {
        let strategy = self.current(id).await?;
        let reader = self.access.reader(context).await;
        reader.check(ResourceKind::Strategy, owner_unit(&strategy), false, &strategy.name)?;
        Ok(strategy)
    }

    /// The current snapshot, from the cache when it knows the strategy.
    pub(crate) async fn current(&self, id: &str) -> Result<pb::Strategy, Error> {
        let name = strategy_name(id);
        match self.cache.get(&name) {
            Lookup::Hit(Some(strategy)) => Ok((*strategy).clone()),
            Lookup::Hit(None) => Err(Error::NotFound { name }),
            Lookup::Miss { epoch } => {
                let loaded = load(self.store.db.conn(), id).await?;
                self.cache.fill(&name, Arc::new(loaded.strategy.clone()), epoch);
                Ok(loaded.strategy)
            }
        }
    }
}

impl StrategyOps {
    /// Loads a strategy to change it. On PostgreSQL the row is locked, so
    /// concurrent changes to one strategy queue instead of failing; SQLite
    /// writers are already serialized.
    pub(crate) async fn load_for_write(&self, txn: &WriteTxn, id: &str) -> Result<Loaded, Error> {
        if self.store.db.backend() != Backend::Postgres {
            return load(&**txn, id).await;
        }
        let row = strategy::Entity::find()
            .filter(strategy::Column::Id.eq(id))
            .lock_exclusive()
            .one(&**txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                name: strategy_name(id),
            })?;
        let strategy = decode_strategy(&row.snapshot, id)?;
        Ok(Loaded { row, strategy })
    }

    /// Like `load_for_write`, and refuses a RETIRED strategy.
    pub(crate) async fn load_editable(&self, txn: &WriteTxn, id: &str) -> Result<Loaded, Error> {
        let loaded = self.load_for_write(txn, id).await?;
        if !is_editable(loaded.strategy.state()) {
            return Err(Error::Retired {
                name: strategy_name(id),
            });
        }
        Ok(loaded)
    }

    /// Writes `strategy` as the next revision after `previous` (the first
    /// revision when `None`), with `child_changes` on the feed after the
    /// strategy's own event. Returns the strategy as stored.
    pub(crate) async fn save_revision(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        previous: Option<&strategy::Model>,
        mut strategy: pb::Strategy,
        child_changes: Vec<NewChange>,
    ) -> Result<pb::Strategy, Error> {
        let id = strategy.name.rsplit('/').next().unwrap_or_default().to_owned();
        // Every change to a strategy (its choices and assumptions too) is
        // written here: the owner's admins may make it, and a strategy
        // handed to another unit must be the caller's to give away.
        let previous_owner = previous.map(|row| unit_name(&row.owner_id));
        self.access
            .check_handover(
                context,
                Permission::EditStrategy,
                ResourceKind::Strategy,
                &id,
                &strategy.owner,
                previous_owner.as_deref(),
            )
            .await?;
        let now = now_micros();
        let revision = previous.map_or(0, |row| row.revision) + 1;
        strategy.revision = revision;
        strategy.etag = etag_for(revision);
        strategy.revision_actor.clone_from(&context.actor);
        strategy.revision_create_time = Some(to_timestamp(now));
        strategy.update_time = Some(to_timestamp(now));
        if previous.is_none() {
            strategy.create_time = Some(to_timestamp(now));
        }
        strategy.choices.sort_by(|left, right| left.name.cmp(&right.name));
        strategy.assumptions.sort_by(|left, right| left.name.cmp(&right.name));
        let snapshot = encode_strategy(&strategy);
        let row = strategy::Model {
            id: id.clone(),
            display_name: strategy.display_name.clone(),
            owner_id: strategy.owner.trim_start_matches("orgUnits/").to_owned(),
            parent_choice: strategy.parent_choice.clone(),
            state: crate::store::rows::state_column(strategy.state())?,
            revision,
            snapshot: snapshot.clone(),
            create_micros: previous.map_or(now, |row| row.create_micros),
            update_micros: now,
        };
        match previous {
            None => {
                strategy::Entity::insert(row.into_active_model())
                    .exec_without_returning(&**txn)
                    .await?;
            }
            Some(previous) => {
                let result = strategy::Entity::update_many()
                    .set(sea_orm::ActiveModelTrait::reset_all(row.into_active_model()))
                    .filter(strategy::Column::Id.eq(id.clone()))
                    .filter(strategy::Column::Revision.eq(previous.revision))
                    .exec(&**txn)
                    .await?;
                if result.rows_affected != 1 {
                    return Err(Error::stale(strategy_name(&id)));
                }
            }
        }
        revision::Entity::insert(
            revision::Model {
                strategy_id: id,
                revision,
                snapshot,
            }
            .into_active_model(),
        )
        .exec_without_returning(&**txn)
        .await?;
        let kind = if previous.is_none() {
            ChangeKind::Created
        } else {
            ChangeKind::Updated
        };
        let mut changes = Vec::with_capacity(1 + child_changes.len());
        changes.push(NewChange::new(kind, strategy.name.clone(), &strategy));
        changes.extend(child_changes);
        self.record_and_cache(txn, context, changes, Some(strategy.clone()))
            .await?;
        Ok(strategy)
    }

    /// Appends `changes` (the strategy's own event first) to the feed and,
    /// once the transaction commits, puts the strategy (or, for `None`, its
    /// tombstone) in the read cache under that event's sequence.
    pub(crate) async fn record_and_cache(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        changes: Vec<NewChange>,
        strategy: Option<pb::Strategy>,
    ) -> Result<(), Error> {
        let Some(name) = changes.first().map(|change| change.resource_name.clone()) else {
            return Ok(());
        };
        let count = i64::try_from(changes.len()).map_err(|_| Error::Corrupt("too many changes".into()))?;
        let last_sequence = self.store.feed.append(txn, context, changes).await?;
        let strategy_sequence = last_sequence - count + 1;
        let cache = Arc::clone(&self.cache);
        txn.after_commit(move || cache.put(&name, strategy_sequence, strategy.map(Arc::new)));
        Ok(())
    }
}
