//! Reads and writes of the `cascade_org_units` table.

use crate::error::Error;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use crate::store::entity::org_unit::{ActiveModel, Column, Entity, Model};

/// Ids per `IN (…)` query, inside every backend's parameter limit.
pub(crate) const IN_CHUNK: usize = 5_000;

pub async fn find(conn: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, Error> {
    Ok(Entity::find_by_id(id.to_owned()).one(conn).await?)
}

pub async fn find_existing(conn: &impl ConnectionTrait, id: &str, name: &str) -> Result<Model, Error> {
    find(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound { name: name.to_owned() })
}

/// The units among `ids` that exist, in no particular order.
pub async fn find_many(conn: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<Model>, Error> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        found.extend(
            Entity::find()
                .filter(Column::Id.is_in(chunk.iter().cloned()))
                .all(conn)
                .await?,
        );
    }
    Ok(found)
}

pub async fn has_children(conn: &impl ConnectionTrait, id: &str) -> Result<bool, Error> {
    let child = Entity::find()
        .filter(Column::ParentId.eq(id))
        .limit(1)
        .one(conn)
        .await?;
    Ok(child.is_some())
}

/// The subtree strictly below the unit with `path`, by depth then id.
pub async fn descendants(conn: &impl ConnectionTrait, path: &str) -> Result<Vec<Model>, Error> {
    Ok(Entity::find()
        .filter(Column::Path.starts_with(path))
        .filter(Column::Path.ne(path))
        .order_by_asc(Column::Depth)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

pub async fn insert_many(conn: &impl ConnectionTrait, units: Vec<Model>) -> Result<(), Error> {
    let mut rows = units.into_iter().map(IntoActiveModel::into_active_model).peekable();
    while rows.peek().is_some() {
        let chunk: Vec<ActiveModel> = rows.by_ref().take(IN_CHUNK / 10).collect();
        Entity::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Writes `unit` if the stored row is still at `read_version`; a concurrent
/// writer that got there first makes this fail with a stale etag.
pub async fn update_if_unchanged(conn: &impl ConnectionTrait, unit: Model, read_version: i64) -> Result<(), Error> {
    let id = unit.id.clone();
    let result = Entity::update_many()
        .set(unit.into_active_model().reset_all())
        .filter(Column::Id.eq(id.clone()))
        .filter(Column::Version.eq(read_version))
        .exec(conn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::stale(format!("orgUnits/{id}")))
    }
}

pub async fn delete_if_unchanged(conn: &impl ConnectionTrait, unit: &Model) -> Result<(), Error> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(unit.id.clone()))
        .filter(Column::Version.eq(unit.version))
        .exec(conn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::stale(format!("orgUnits/{}", unit.id)))
    }
}
