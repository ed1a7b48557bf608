//! Loading a strategy for a change and writing the change as its next
//! revision: the snapshot row, the history row and the feed events, in the
//! caller's transaction.

use std::sync::Arc;

use prost::Message;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect};
use trellis_foundation::{
    Backend, Error, NewChange, RequestContext, WriteTxn,
    cache::Lookup,
    etag::etag_for,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb},
};

use crate::{
    StrategyApi,
    convert::strategy_name,
    entity::{revision, strategy},
    state::is_editable,
};

/// A strategy as stored: its row and its decoded current snapshot.
pub struct Loaded {
    pub row: strategy::Model,
    pub strategy: pb::Strategy,
}

pub fn decode(snapshot: &[u8], id: &str) -> Result<pb::Strategy, Error> {
    pb::Strategy::decode(snapshot).map_err(|err| Error::Corrupt(format!("snapshot of strategy {id}: {err}")))
}

impl StrategyApi {
    /// The current snapshot, from the cache when it knows the strategy.
    pub(crate) async fn current(&self, id: &str) -> Result<pb::Strategy, Error> {
        let name = strategy_name(id);
        match self.cache.get(&name) {
            Lookup::Hit(Some(strategy)) => Ok((*strategy).clone()),
            Lookup::Hit(None) => Err(Error::NotFound(name)),
            Lookup::Miss { epoch } => {
                let loaded = load(self.store.db.conn(), id).await?;
                self.cache.fill(&name, Arc::new(loaded.strategy.clone()), epoch);
                Ok(loaded.strategy)
            }
        }
    }
}

pub async fn load(conn: &impl ConnectionTrait, id: &str) -> Result<Loaded, Error> {
    let row = strategy::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(strategy_name(id)))?;
    let strategy = decode(&row.snapshot, id)?;
    Ok(Loaded { row, strategy })
}

impl StrategyApi {
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
            .ok_or_else(|| Error::NotFound(strategy_name(id)))?;
        let strategy = decode(&row.snapshot, id)?;
        Ok(Loaded { row, strategy })
    }

    /// Like `load_for_write`, and refuses a RETIRED strategy.
    pub(crate) async fn load_editable(&self, txn: &WriteTxn, id: &str) -> Result<Loaded, Error> {
        let loaded = self.load_for_write(txn, id).await?;
        if !is_editable(loaded.strategy.state()) {
            return Err(Error::FailedPrecondition(format!(
                "{} is RETIRED and can no longer change",
                strategy_name(id)
            )));
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
        let now = now_micros();
        let revision = previous.map_or(0, |row| row.revision) + 1;
        let id = strategy.name.rsplit('/').next().unwrap_or_default().to_owned();
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
        let snapshot = strategy.encode_to_vec();
        let row = strategy::Model {
            id: id.clone(),
            display_name: strategy.display_name.clone(),
            owner_id: strategy.owner.trim_start_matches("orgUnits/").to_owned(),
            parent_choice: strategy.parent_choice.clone(),
            state: strategy.state().as_str_name().to_owned(),
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
                    return Err(Error::StaleEtag {
                        resource: strategy_name(&id),
                    });
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
