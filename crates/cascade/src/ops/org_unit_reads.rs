//! Reads of the org tree: get, list, batch get, descendants, ancestors;
//! each of the units the caller may read (a list leaves the others out, a
//! batch get counts them missing).

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use trellis_access::{Reader, ResourceKind};
use trellis_foundation::{
    FieldViolations, RequestContext,
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    paging::{page_size, split_page},
};
use trellis_proto::cascade::v1 as pb;

use crate::{
    error::Error,
    names::{COLLECTION, unit_id},
    ops::OrgOps,
    store::{
        codec::to_proto,
        entity::org_unit::{Column, Entity, Model},
        queries,
    },
};

/// Units per BatchGetOrgUnits.
const MAX_BATCH_GET: usize = 10_000;

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new(
            "parent",
            Expr::col(Column::ParentId),
            FieldKind::ResourceName(COLLECTION),
        ),
        FilterField::new("kind", Expr::col(Column::Kind), FieldKind::Text),
        FilterField::new("display_name", Expr::col(Column::DisplayName), FieldKind::Text),
        FilterField::new("lead", Expr::col(Column::Lead), FieldKind::Text),
        FilterField::new("depth", Expr::col(Column::Depth), FieldKind::Integer),
    ]
}

impl OrgOps {
    pub async fn get(&self, context: RequestContext, request: pb::GetOrgUnitRequest) -> Result<pb::OrgUnit, Error> {
        let name = request.name.as_str();
        let id = unit_id(name, "name")?;
        let unit = queries::find_existing(self.store.db.conn(), id, name).await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::OrgUnit, id, false, name)?;
        Ok(to_proto(&unit))
    }

    /// Units in id order.
    pub async fn list(
        &self,
        context: RequestContext,
        request: pb::ListOrgUnitsRequest,
    ) -> Result<pb::ListOrgUnitsResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListOrgUnits",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let rows = page.fetch(Entity::find(), Column::Id, self.store.db.conn()).await?;
        let (rows, next_page_token) = page.split(rows, |unit| unit.id.clone());
        let reader = self.access.reader(&context).await;
        Ok(pb::ListOrgUnitsResponse {
            org_units: readable(&reader, &rows),
            next_page_token,
        })
    }

    /// Every name must exist; the answer keeps the order asked.
    pub async fn batch_get(
        &self,
        context: RequestContext,
        request: pb::BatchGetOrgUnitsRequest,
    ) -> Result<pb::BatchGetOrgUnitsResponse, Error> {
        if request.names.len() > MAX_BATCH_GET {
            return Err(Error::invalid(
                "names",
                format!("must hold at most {MAX_BATCH_GET} names"),
            ));
        }
        let mut violations = FieldViolations::default();
        let mut ids = Vec::with_capacity(request.names.len());
        for (index, name) in request.names.iter().enumerate() {
            match unit_id(name, "") {
                Ok(id) => ids.push(id.to_owned()),
                Err(_) => violations.add(
                    format!("names[{index}]"),
                    format!("{name:?} is not an {COLLECTION}/{{id}} name"),
                ),
            }
        }
        violations.into_result()?;
        let reader = self.access.reader(&context).await;
        let found: HashMap<String, _> = queries::find_many(self.store.db.conn(), &ids)
            .await?
            .into_iter()
            .filter(|unit| reader.may_read(ResourceKind::OrgUnit, &unit.id, false))
            .map(|unit| (unit.id.clone(), unit))
            .collect();
        let missing: Vec<&str> = request
            .names
            .iter()
            .zip(&ids)
            .filter(|(_, id)| !found.contains_key(*id))
            .map(|(name, _)| name.as_str())
            .collect();
        let missing: Vec<String> = missing.into_iter().map(str::to_owned).collect();
        if !missing.is_empty() && !request.allow_missing {
            return Err(Error::NamesNotFound { names: missing });
        }
        Ok(pb::BatchGetOrgUnitsResponse {
            org_units: ids.iter().filter_map(|id| found.get(id)).map(to_proto).collect(),
            missing,
        })
    }

    /// The subtree below a unit, by depth then id.
    pub async fn descendants(
        &self,
        context: RequestContext,
        request: pb::ListDescendantsRequest,
    ) -> Result<pb::ListDescendantsResponse, Error> {
        let id = unit_id(&request.name, "name")?;
        if request.max_depth < 0 {
            return Err(Error::invalid("max_depth", "must not be negative"));
        }
        let size = page_size(request.page_size)?;
        let query = format!("{}|{}", request.name, request.max_depth);
        let after: Option<(i32, String)> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListDescendants", &query)?;
        let root = queries::find_existing(self.store.db.conn(), id, &request.name).await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::OrgUnit, id, false, &request.name)?;
        let mut select = Entity::find()
            .filter(Column::Path.starts_with(&root.path))
            .filter(Column::Id.ne(root.id.clone()));
        if request.max_depth > 0 {
            select = select.filter(Column::Depth.lte(root.depth + request.max_depth));
        }
        if let Some((depth, after_id)) = after {
            select = select.filter(
                Condition::any().add(Column::Depth.gt(depth)).add(
                    Expr::col(Column::Depth)
                        .eq(depth)
                        .and(Expr::col(Column::Id).gt(after_id)),
                ),
            );
        }
        let rows = select
            .order_by_asc(Column::Depth)
            .order_by_asc(Column::Id)
            .limit(size + 1)
            .all(self.store.db.conn())
            .await?;
        let (page, next) = split_page(rows, size, |unit| (unit.depth, unit.id.clone()));
        Ok(pb::ListDescendantsResponse {
            org_units: readable(&reader, &page),
            next_page_token: next
                .map(|position| self.store.page_tokens.encode("ListDescendants", &query, &position))
                .unwrap_or_default(),
        })
    }

    /// From the parent up to the root, nearest first.
    pub async fn ancestors(
        &self,
        context: RequestContext,
        request: pb::ListAncestorsRequest,
    ) -> Result<pb::ListAncestorsResponse, Error> {
        let name = request.name.as_str();
        let id = unit_id(name, "name")?;
        let unit = queries::find_existing(self.store.db.conn(), id, name).await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::OrgUnit, id, false, name)?;
        let ancestor_ids: Vec<String> = unit.ancestor_ids().into_iter().map(str::to_owned).collect();
        let found: HashMap<String, _> = queries::find_many(self.store.db.conn(), &ancestor_ids)
            .await?
            .into_iter()
            .map(|unit| (unit.id.clone(), unit))
            .collect();
        let mut chain = Vec::with_capacity(ancestor_ids.len());
        for ancestor_id in ancestor_ids.iter().rev() {
            let ancestor = found
                .get(ancestor_id)
                .ok_or_else(|| Error::Corrupt(format!("{name} has a path through missing unit {ancestor_id}")))?;
            if reader.may_read(ResourceKind::OrgUnit, &ancestor.id, false) {
                chain.push(to_proto(ancestor));
            }
        }
        Ok(pb::ListAncestorsResponse { org_units: chain })
    }
}

/// The units of `rows` the caller may read, as shown.
fn readable(reader: &Reader, rows: &[Model]) -> Vec<pb::OrgUnit> {
    rows.iter()
        .filter(|unit| reader.may_read(ResourceKind::OrgUnit, &unit.id, false))
        .map(to_proto)
        .collect()
}
