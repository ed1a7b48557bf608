//! The record of re-plans: why a locked objective's structure changed,
//! who changed it, and what it was before.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect};
use trellis_foundation::{
    NewChange, RequestContext, WriteTxn,
    etag::check_etag,
    mask::MaskField,
    paging::{page_size, split_page},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{feed::v1::ChangeKind, okr::v1 as pb};

use crate::{
    OkrOps,
    commands::Replan,
    error::Error,
    lifecycle::{CycleWork, ObjectiveState},
    names::{objective_id, objective_name, replan_name},
    store::{
        entity::replan,
        snapshot::{decode_replan, encode_replan},
    },
};

impl OkrOps {
    pub(crate) async fn record_replan(
        &self,
        txn: &WriteTxn,
        context: &RequestContext,
        objective_id: &str,
        reason: &str,
        paths: &[&str],
        before: pb::Objective,
    ) -> Result<pb::Replan, Error> {
        let last: Option<i64> = replan::Entity::find()
            .select_only()
            .column(replan::Column::Number)
            .filter(replan::Column::ObjectiveId.eq(objective_id))
            .order_by_desc(replan::Column::Number)
            .into_tuple()
            .one(&**txn)
            .await?;
        let number = last.unwrap_or(0) + 1;
        let record = pb::Replan {
            name: replan_name(objective_id, number),
            reason: reason.trim().to_owned(),
            actor: context.actor.clone(),
            changed_fields: paths.iter().map(|path| (*path).to_owned()).collect(),
            before: Some(before),
            create_time: Some(to_timestamp(now_micros())),
        };
        replan::Model {
            objective_id: objective_id.to_owned(),
            number,
            snapshot: encode_replan(&record),
        }
        .into_active_model()
        .insert(&**txn)
        .await?;
        Ok(record)
    }

    /// Newest first.
    pub async fn list_replans(
        &self,
        context: RequestContext,
        request: pb::ListReplansRequest,
    ) -> Result<pb::ListReplansResponse, Error> {
        let id = objective_id(&request.parent, "parent")?;
        let size = page_size(request.page_size)?;
        let after: Option<i64> = self
            .store
            .page_tokens
            .decode(&request.page_token, "ListReplans", &request.parent)?;
        let conn = self.store.db.conn();
        self.readable_objective(&context, conn, id).await?;
        let mut select = replan::Entity::find().filter(replan::Column::ObjectiveId.eq(id));
        if let Some(after) = after {
            select = select.filter(replan::Column::Number.lt(after));
        }
        let rows = select
            .order_by_desc(replan::Column::Number)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.number);
        Ok(pb::ListReplansResponse {
            replans: page
                .iter()
                .map(|row| decode_replan(&row.snapshot))
                .collect::<Result<_, _>>()?,
            next_page_token: next
                .map(|number| self.store.page_tokens.encode("ListReplans", &request.parent, &number))
                .unwrap_or_default(),
        })
    }
}

impl OkrOps {
    /// A recorded change of a locked objective's structure.
    pub async fn replan_objective(
        &self,
        context: RequestContext,
        request: pb::ReplanObjectiveRequest,
    ) -> Result<pb::Objective, Error> {
        let Replan { patch, reason } = Replan::try_from(&request)?;
        let id = patch.id.as_str();
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, id, CycleWork::Replan).await?;
        check_etag(
            &patch.etag,
            &crate::store::codec::etag_of(&held.row),
            &objective_name(id),
        )?;
        let state = held.row.state;
        if !matches!(state, ObjectiveState::Active | ObjectiveState::Paused) {
            return Err(Error::NotReplannable {
                name: objective_name(id),
                state: state.as_str(),
            });
        }
        let updated = self.apply_fields(&held, &patch.values, &patch.fields).await?;
        let before = self.show_objective(&*txn, &held.row).await?;
        let paths: Vec<&str> = patch.fields.iter().map(|field| field.path()).collect();
        let replan = self.record_replan(&txn, &context, id, &reason, &paths, before).await?;
        let extra = vec![NewChange::new(ChangeKind::Created, replan.name.clone(), &replan)];
        let shown = self
            .save_objective(&mut txn, &context, held, &updated, state, extra)
            .await?;
        txn.commit().await?;
        Ok(shown)
    }
}
