//! The cascade's storage: the org-unit table and its migrations, the
//! queries the org service runs, how a row is shown, and the feed cursors
//! the projection has reached.

pub(crate) mod codec;
pub(crate) mod conversations;
pub(crate) mod cursors;
pub mod entity;
pub mod migration;
pub(crate) mod queries;
pub mod snapshots;

use sea_orm::{ConnectionTrait, EntityTrait, PrimaryKeyTrait};

use crate::error::Error;

/// The row of a table keyed by a string id, by the resource's `name`
/// (`{collection}/{id}`): INVALID_ARGUMENT on `field` for a malformed
/// name, NOT_FOUND for none.
pub(crate) async fn find_by_name<E>(
    conn: &impl ConnectionTrait,
    name: &str,
    collection: &str,
    field: &str,
) -> Result<E::Model, Error>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
{
    let id = trellis_foundation::names::parse_name(name, collection).ok_or_else(|| {
        trellis_foundation::Error::invalid(field, format!("must be a name like {collection}/{{id}}, got {name:?}"))
    })?;
    E::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound { name: name.to_owned() })
}

/// Writes `row` over the row `id` of `E` if it is still at `version` (the
/// etag the change was checked against); ABORTED naming `name` when
/// another change came first.
pub(crate) async fn update_if_unchanged<E, A>(
    store: &trellis_foundation::Store,
    row: A,
    (id_column, id): (E::Column, String),
    (version_column, version): (E::Column, i64),
    name: String,
) -> Result<(), Error>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E>,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    let txn = store.begin_write().await?;
    let written = E::update_many()
        .set(row)
        .filter(id_column.eq(id))
        .filter(version_column.eq(version))
        .exec(txn.txn())
        .await?;
    if written.rows_affected != 1 {
        return Err(trellis_foundation::Error::StaleEtag { resource: name }.into());
    }
    Ok(txn.commit().await?)
}
