//! The nesting rules a strategy's update must keep, checked inside its
//! transaction: no strategy nested (through its parent choices) under
//! itself, and every strategy nested under this one still owned below its
//! owner after the owner changes.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use trellis_proto::cascade::v1::BatchGetOrgUnitsRequest;

use crate::{
    error::Error,
    names::{CHOICES, child_ids, strategy_name},
    ops::StrategyOps,
    store::entity::strategy,
};

/// Parent links followed at most: real strategy cascades are a handful of
/// levels; a longer chain can only be a loop stored before this check.
const MAX_NESTING: usize = 64;

/// Refuses `parent_choice` for strategy `id` when the choice belongs to the
/// strategy itself or to one nested, however deep, under it.
pub(crate) async fn check_no_loop(conn: &impl ConnectionTrait, id: &str, parent_choice: &str) -> Result<(), Error> {
    let field = "strategy.parent_choice";
    let mut choice = parent_choice.to_owned();
    for _ in 0..MAX_NESTING {
        if choice.is_empty() {
            return Ok(());
        }
        let (above, _) = child_ids(&choice, CHOICES, field)?;
        if above == id {
            return Err(Error::invalid(
                field,
                format!(
                    "{parent_choice} belongs to {} or to a strategy nested under it: nesting there would make a loop",
                    strategy_name(id)
                ),
            ));
        }
        let Some(row) = strategy::Entity::find_by_id(above.to_owned()).one(conn).await? else {
            return Ok(());
        };
        choice = row.parent_choice;
    }
    Err(Error::invalid(
        field,
        format!("strategies nest at most {MAX_NESTING} levels deep"),
    ))
}

impl StrategyOps {
    /// Refuses `new_owner` for strategy `id` when a strategy nested under
    /// one of its choices is not owned by a unit below `new_owner`.
    pub(crate) async fn check_nested_owners(
        &self,
        conn: &impl ConnectionTrait,
        id: &str,
        new_owner: &str,
    ) -> Result<(), Error> {
        let prefix = format!("{}/{CHOICES}/", strategy_name(id));
        let nested = strategy::Entity::find()
            .filter(strategy::Column::ParentChoice.starts_with(&prefix))
            .all(conn)
            .await?;
        if nested.is_empty() {
            return Ok(());
        }
        let owner_of = |row: &strategy::Model| format!("orgUnits/{}", row.owner_id);
        let names: Vec<String> = nested.iter().map(owner_of).collect();
        let units = self
            .org
            .clone()
            .batch_get_org_units(BatchGetOrgUnitsRequest {
                names,
                allow_missing: true,
            })
            .await
            .map_err(Error::peer("org"))?
            .into_inner()
            .org_units;
        let mut outside = Vec::new();
        for row in &nested {
            let below = units
                .iter()
                .find(|unit| unit.name == owner_of(row))
                .is_some_and(|unit| unit.ancestors.iter().any(|ancestor| ancestor == new_owner));
            if !below {
                outside.push(format!("{} (owned by {})", strategy_name(&row.id), owner_of(row)));
            }
        }
        if outside.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            "strategy.owner",
            format!(
                "{} nest under this strategy but are not owned below {new_owner}; move them first",
                outside.join(", ")
            ),
        ))
    }
}
