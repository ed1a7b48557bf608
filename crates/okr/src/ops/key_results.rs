//! Key results: added and changed freely while their cycle is PLANNING,
//! only in their details once it is active, and scored in REVIEW.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::{check_etag, etag_for},
    mask::MaskField,
    paging::{page_size, split_page},
    time::now_micros,
};
use trellis_proto::{feed::v1::ChangeKind, okr::v1 as pb};

use trellis_rules::scoring::is_valid_score;

use crate::{
    OkrOps,
    commands::{KeyResultPatch, NewKeyResult},
    error::Error,
    fields::MAX_KEY_RESULTS,
    lifecycle::CycleWork,
    names::{key_result_ids, key_result_name, objective_id, objective_name},
    ops::objectives::Held,
    store::{
        codec::{CycleFacts, key_result_to_proto},
        entity::key_result,
        queries::find_key_result,
        rows::key_result_row,
        snapshot::{decode_key_result, encode_key_result},
    },
};

impl OkrOps {
    pub async fn create_key_result(
        &self,
        context: RequestContext,
        request: pb::CreateKeyResultRequest,
    ) -> Result<pb::KeyResult, Error> {
        let NewKeyResult {
            objective_id: parent_id,
            id,
            key_result,
        } = NewKeyResult::try_from(&request)?;
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateKeyResult",
                &request,
                move |mut txn: WriteTxn| async move {
                    let held = self.hold_objective(&txn, &parent_id, CycleWork::Draft).await?;
                    let count = key_result::Entity::find()
                        .filter(key_result::Column::ObjectiveId.eq(parent_id.clone()))
                        .count(&*txn)
                        .await?;
                    if count >= MAX_KEY_RESULTS as u64 {
                        return Err(Error::TooManyKeyResults {
                            name: objective_name(&parent_id),
                            limit: MAX_KEY_RESULTS,
                        });
                    }
                    if key_result::Entity::find_by_id((parent_id.clone(), id.clone()))
                        .one(&*txn)
                        .await?
                        .is_some()
                    {
                        return Err(Error::Exists {
                            name: key_result_name(&parent_id, &id),
                        });
                    }
                    let row = key_result_row(&parent_id, &id, &key_result, now_micros());
                    row.clone().into_active_model().insert(&*txn).await?;
                    let shown = key_result_to_proto(&row, held.facts, now_micros())?;
                    self.touch_objective(&mut txn, &event_context, held, ChangeKind::Created, &shown)
                        .await?;
                    Ok((txn, shown))
                },
            )
            .await
    }

    /// Records a key-result change on the feed, followed by its objective
    /// (whose roll-ups it changes).
    async fn touch_objective(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        held: Held,
        kind: ChangeKind,
        key_result: &pb::KeyResult,
    ) -> Result<(), Error> {
        let change = NewChange::new(kind, key_result.name.clone(), key_result);
        let state = held.row.state;
        let stored = held.stored.clone();
        self.save_objective(txn, context, held, &stored, state, vec![change])
            .await?;
        Ok(())
    }

    pub async fn get_key_result(
        &self,
        context: RequestContext,
        request: pb::GetKeyResultRequest,
    ) -> Result<pb::KeyResult, Error> {
        let (objective_id, id) = key_result_ids(&request.name, "name")?;
        let conn = self.store.db.conn();
        self.readable_objective(&context, conn, objective_id).await?;
        let row = find_key_result(conn, objective_id, id).await?;
        self.show_key_result(conn, &row).await
    }

    /// An objective's key results in id order.
    pub async fn list_key_results(
        &self,
        context: RequestContext,
        request: pb::ListKeyResultsRequest,
    ) -> Result<pb::ListKeyResultsResponse, Error> {
        let parent_id = objective_id(&request.parent, "parent")?;
        let size = page_size(request.page_size)?;
        let after: Option<String> =
            self.store
                .page_tokens
                .decode(&request.page_token, "ListKeyResults", &request.parent)?;
        let conn = self.store.db.conn();
        let objective = self.readable_objective(&context, conn, parent_id).await?;
        let facts = CycleFacts::of(&crate::store::queries::find_cycle(conn, &objective.cycle_id).await?)?;
        let mut select = key_result::Entity::find().filter(key_result::Column::ObjectiveId.eq(parent_id));
        if let Some(after) = after {
            select = select.filter(key_result::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(key_result::Column::Id)
            .limit(size + 1)
            .all(conn)
            .await?;
        let (page, next) = split_page(rows, size, |row| row.id.clone());
        let now = now_micros();
        Ok(pb::ListKeyResultsResponse {
            key_results: page
                .iter()
                .map(|row| key_result_to_proto(row, facts, now))
                .collect::<Result<_, _>>()?,
            next_page_token: next
                .map(|id| self.store.page_tokens.encode("ListKeyResults", &request.parent, &id))
                .unwrap_or_default(),
        })
    }

    /// In PLANNING any field; later only the details, not the measure.
    pub async fn update_key_result(
        &self,
        context: RequestContext,
        request: pb::UpdateKeyResultRequest,
    ) -> Result<pb::KeyResult, Error> {
        let patch = KeyResultPatch::try_from(&request)?;
        let mut txn = self.store.begin_write().await?;
        let held = self
            .hold_objective(&txn, &patch.objective_id, CycleWork::EditDetails)
            .await?;
        let row = find_key_result(&*txn, &patch.objective_id, &patch.id).await?;
        check_etag(&patch.etag, &etag_for(row.version), &patch.name)?;
        let locked = held.facts.state.locks_structure();
        let measure: Vec<&str> = patch
            .fields
            .iter()
            .filter(|field| !field.is_detail())
            .map(|field| field.path())
            .collect();
        if locked && patch.explicit && !measure.is_empty() {
            return Err(Error::Locked {
                name: patch.name.clone(),
                fields: measure,
                remedy: "no longer change",
            });
        }
        let checked = patch.apply(&decode_key_result(&row.snapshot)?, locked)?;
        let shown = self
            .save_key_result(&mut txn, &context, held, row, &checked, None)
            .await?;
        txn.commit().await?;
        Ok(shown)
    }

    async fn save_key_result(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        held: Held,
        row: key_result::Model,
        key_result: &pb::KeyResult,
        score: Option<f64>,
    ) -> Result<pb::KeyResult, Error> {
        let now = now_micros();
        let mut saved = row.clone();
        saved.kind = key_result.kind().as_str_name().to_owned();
        saved.health_metric = key_result.health_metric.clone();
        saved.snapshot = encode_key_result(key_result);
        saved.version = row.version + 1;
        saved.update_micros = now;
        if let Some(score) = score {
            saved.scored = true;
            saved.score = score;
        }
        let mut active = saved.clone().into_active_model();
        for column in [
            key_result::Column::Kind,
            key_result::Column::HealthMetric,
            key_result::Column::Snapshot,
            key_result::Column::Version,
            key_result::Column::UpdateMicros,
            key_result::Column::Scored,
            key_result::Column::Score,
        ] {
            active.reset(column);
        }
        active.update(&**txn).await?;
        let shown = key_result_to_proto(&saved, held.facts, now)?;
        self.touch_objective(txn, context, held, ChangeKind::Updated, &shown)
            .await?;
        Ok(shown)
    }

    /// Only while the cycle is PLANNING.
    pub async fn delete_key_result(
        &self,
        context: RequestContext,
        request: pb::DeleteKeyResultRequest,
    ) -> Result<(), Error> {
        let (objective_id, id) = key_result_ids(&request.name, "name")?;
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, objective_id, CycleWork::Draft).await?;
        let row = find_key_result(&*txn, objective_id, id).await?;
        check_etag(&request.etag, &etag_for(row.version), &request.name)?;
        let shown = key_result_to_proto(&row, held.facts, now_micros())?;
        key_result::Entity::delete_by_id((objective_id.to_owned(), id.to_owned()))
            .exec(&*txn)
            .await?;
        self.touch_objective(&mut txn, &context, held, ChangeKind::Deleted, &shown)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Only in REVIEW; a score is 0.0 to 1.0.
    pub async fn score_key_result(
        &self,
        context: RequestContext,
        request: pb::ScoreKeyResultRequest,
    ) -> Result<pb::KeyResult, Error> {
        let (objective_id, id) = key_result_ids(&request.name, "name")?;
        let mut violations = FieldViolations::default();
        violations.require(
            is_valid_score(request.score),
            "score",
            format!("must be between 0.0 and 1.0, got {}", request.score),
        );
        violations.require_max_len(&request.note, 2_000, "note");
        violations.into_result()?;
        let mut txn = self.store.begin_write().await?;
        let held = self.hold_objective(&txn, objective_id, CycleWork::Score).await?;
        let row = find_key_result(&*txn, objective_id, id).await?;
        let mut key_result = decode_key_result(&row.snapshot)?;
        key_result.score_note = request.note.trim().to_owned();
        let shown = self
            .save_key_result(&mut txn, &context, held, row, &key_result, Some(request.score))
            .await?;
        txn.commit().await?;
        Ok(shown)
    }
}
