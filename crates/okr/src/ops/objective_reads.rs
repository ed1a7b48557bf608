//! Reading objectives: one, a filtered page, and how stored rows are shown
//! (each objective with its key results, progress and score computed on
//! read).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, EntityTrait, sea_query::Expr};
use trellis_access::ResourceKind;
use trellis_foundation::{
    RequestContext,
    filter::{FieldKind, FilterField},
    listing::FilteredPage,
    time::now_micros,
};
use trellis_proto::okr::v1 as pb;

use crate::{
    OkrOps,
    error::Error,
    names::{objective_id, objective_name},
    store::queries::{find_cycle, key_results_of},
    store::{
        codec::{CycleFacts, key_result_to_proto, objective_to_proto},
        entity::{key_result, objective},
        queries::find_objective,
    },
};

const STATE_NAMES: &[&str] = &["DRAFT", "ACTIVE", "PAUSED", "COMPLETED", "CANCELLED"];

const KIND_NAMES: &[&str] = &["COMMITTED", "ASPIRATIONAL"];

const ORIGIN_NAMES: &[&str] = &["PLANNED", "REMEDIAL"];

fn filter_fields() -> Vec<FilterField> {
    vec![
        FilterField::new(
            "cycle",
            Expr::col(objective::Column::CycleId),
            FieldKind::ResourceName("cycles"),
        ),
        FilterField::new(
            "owner",
            Expr::col(objective::Column::OwnerId),
            FieldKind::ResourceName("orgUnits"),
        ),
        FilterField::new(
            "state",
            Expr::col(objective::Column::State),
            FieldKind::Enum(STATE_NAMES),
        ),
        FilterField::new("kind", Expr::col(objective::Column::Kind), FieldKind::Enum(KIND_NAMES)),
        FilterField::new(
            "origin",
            Expr::col(objective::Column::Origin),
            FieldKind::Enum(ORIGIN_NAMES),
        ),
        FilterField::new(
            "remedial_for",
            Expr::col(objective::Column::RemedialFor),
            FieldKind::Text,
        ),
        FilterField::new(
            "guardrails",
            Expr::col(objective::Column::Guardrails),
            FieldKind::Members,
        ),
        FilterField::new(
            "visibility",
            Expr::col(objective::Column::Private),
            FieldKind::Flag("PRIVATE", "PUBLIC"),
        ),
    ]
}

impl OkrOps {
    pub async fn get_objective(
        &self,
        context: RequestContext,
        request: pb::GetObjectiveRequest,
    ) -> Result<pb::Objective, Error> {
        let id = objective_id(&request.name, "name")?;
        let conn = self.store.db.conn();
        let row = self.readable_objective(&context, conn, id).await?;
        self.show_objective(conn, &row).await
    }

    /// The objective `id` if the caller may read it; a private one it may
    /// not see is NOT_FOUND, as if it did not exist.
    pub(crate) async fn readable_objective(
        &self,
        context: &RequestContext,
        conn: &impl ConnectionTrait,
        id: &str,
    ) -> Result<objective::Model, Error> {
        let row = find_objective(conn, id).await?;
        let reader = self.access.reader(context).await;
        reader.check(ResourceKind::Objective, &row.owner_id, row.private, &objective_name(id))?;
        Ok(row)
    }

    /// Objectives in id order; a page holds only those the caller may
    /// read, so it may be shorter than asked (even empty) with more to come.
    pub async fn list_objectives(
        &self,
        context: RequestContext,
        request: pb::ListObjectivesRequest,
    ) -> Result<pb::ListObjectivesResponse, Error> {
        let page = FilteredPage::open(
            &self.store.page_tokens,
            "ListObjectives",
            &request.filter,
            request.page_size,
            &request.page_token,
            &filter_fields(),
        )?;
        let conn = self.store.db.conn();
        let rows = page
            .fetch(objective::Entity::find(), objective::Column::Id, conn)
            .await?;
        let (mut rows, next_page_token) = page.split(rows, |row| row.id.clone());
        let reader = self.access.reader(&context).await;
        rows.retain(|row| reader.may_read(ResourceKind::Objective, &row.owner_id, row.private));
        Ok(pb::ListObjectivesResponse {
            objectives: self.show_objectives(conn, &rows).await?,
            next_page_token,
        })
    }

    /// Objectives as shown, with their key results' roll-ups; one query
    /// for all their key results and one per cycle they belong to.
    pub(crate) async fn show_objectives(
        &self,
        conn: &impl ConnectionTrait,
        rows: &[objective::Model],
    ) -> Result<Vec<pb::Objective>, Error> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut key_results: HashMap<String, Vec<key_result::Model>> = HashMap::new();
        for key_result in key_results_of(conn, &ids).await? {
            key_results
                .entry(key_result.objective_id.clone())
                .or_default()
                .push(key_result);
        }
        let mut cycles: HashMap<String, CycleFacts> = HashMap::new();
        let now = now_micros();
        let mut shown = Vec::with_capacity(rows.len());
        for row in rows {
            let facts = match cycles.get(&row.cycle_id) {
                Some(facts) => *facts,
                None => {
                    let facts = CycleFacts::of(&find_cycle(conn, &row.cycle_id).await?)?;
                    cycles.insert(row.cycle_id.clone(), facts);
                    facts
                }
            };
            let krs = key_results
                .get(&row.id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|kr| key_result_to_proto(kr, facts, now))
                .collect::<Result<Vec<_>, _>>()?;
            shown.push(objective_to_proto(row, &krs, facts)?);
        }
        Ok(shown)
    }

    pub(crate) async fn show_objective(
        &self,
        conn: &impl ConnectionTrait,
        row: &objective::Model,
    ) -> Result<pb::Objective, Error> {
        let mut shown = self.show_objectives(conn, std::slice::from_ref(row)).await?;
        shown
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("{} vanished", objective_name(&row.id))))
    }

    pub(crate) async fn show_key_result(
        &self,
        conn: &impl ConnectionTrait,
        row: &key_result::Model,
    ) -> Result<pb::KeyResult, Error> {
        let objective = find_objective(conn, &row.objective_id).await?;
        let facts = CycleFacts::of(&find_cycle(conn, &objective.cycle_id).await?)?;
        key_result_to_proto(row, facts, now_micros())
    }
}
