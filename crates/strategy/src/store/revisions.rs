//! How a strategy is stored: its row with the encoded snapshot of its
//! current revision, read back whole.

use sea_orm::{ConnectionTrait, EntityTrait};
use trellis_proto::strategy::v1 as pb;

use crate::{
    error::Error,
    names::strategy_name,
    store::{entity::strategy, snapshot::decode_strategy},
};

/// A strategy as stored: its row and its decoded current snapshot.
pub struct Loaded {
    pub row: strategy::Model,
    pub strategy: pb::Strategy,
}

pub async fn load(conn: &impl ConnectionTrait, id: &str) -> Result<Loaded, Error> {
    let row = strategy::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound {
            name: strategy_name(id),
        })?;
    let strategy = decode_strategy(&row.snapshot, id)?;
    Ok(Loaded { row, strategy })
}
