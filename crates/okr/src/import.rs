//! The planning-season import: a whole season over one client stream.
//! Every row is checked (owners in one call to the org service, choices in
//! one call to the strategy service, targets inside the import against
//! each other) and every problem reported with its row and field; then
//! everything is written in one transaction with its change-feed events,
//! or nothing is.

use std::collections::{HashMap, HashSet};

use futures::{Stream, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tonic::Status;
use trellis_foundation::{
    Error, FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::etag_for,
    idempotency::{StreamFingerprint, check_request_id},
    names::{generate_id, is_valid_id},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{self as pb, alignment_target::Target, import_season_request::Row},
};

use crate::{
    OkrApi,
    bulk::{BulkRows, insert_rows},
    entity::objective,
    fields::{MAX_KEY_RESULTS, check_key_result, check_objective},
    lifecycle::{CycleState, CycleWork, ObjectiveState},
    names::{KEY_RESULT_TYPE, OBJECTIVE_TYPE, cycle_id, cycle_name, key_result_name, objective_name, org_unit_name},
    references::{Problems, report_targets, target_names},
    repo::{IN_CHUNK, Lock, find_cycle},
    view::cycle_state,
};

/// Objectives per import at most (each with up to 25 key results).
pub const MAX_ROWS: usize = 200_000;
/// Problems reported at most; past it the message says how many more.
const MAX_REPORTED: usize = 10_000;

/// One checked row: the objective's id, its stored form and its key
/// results with their ids.
pub struct ImportedRow {
    pub id: String,
    pub objective: pb::Objective,
    pub key_results: Vec<(String, pb::KeyResult)>,
}

impl OkrApi {
    pub async fn import_season(
        &self,
        context: RequestContext,
        stream: impl Stream<Item = Result<pb::ImportSeasonRequest, Status>> + Unpin,
    ) -> Result<pb::ImportSeasonResponse, Error> {
        let (header, rows, fingerprint) = receive(stream).await?;
        let context = context.with_request_id(&header.request_id);
        if let Some(request_id) = context.request_id.as_deref() {
            check_request_id(request_id)?;
            // A repeat is answered before its rows are checked: after the
            // first import its ids exist, and that is not a problem.
            if let Some(response) = self.store.replay(request_id, &fingerprint).await? {
                return Ok(response);
            }
        }
        let cycle_id = cycle_id(&header.cycle, "header.cycle")?.to_owned();
        let cycle = find_cycle(self.store.db.conn(), &cycle_id).await?;
        permits_drafting(&cycle_id, &cycle.state)?;
        let checked = self.check_rows(&cycle, rows).await?;
        let event_context = context.clone();
        self.store
            .create_once_keyed(&context, fingerprint, move |mut txn: WriteTxn| async move {
                let cycle = self.lock_cycle(&txn, &cycle_id, Lock::Shared).await?;
                permits_drafting(&cycle_id, &cycle.state)?;
                let response = self.write_season(&mut txn, &event_context, &cycle_id, checked).await?;
                Ok((txn, response))
            })
            .await
    }

    /// Every row checked; all problems at once.
    async fn check_rows(&self, cycle: &crate::entity::cycle::Model, rows: Vec<Row>) -> Result<Vec<ImportedRow>, Error> {
        let mut violations = FieldViolations::default();
        let mut by_row_id: HashMap<String, usize> = HashMap::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let field = format!("rows[{index}].row_id");
            if row.row_id.is_empty() {
                violations.add(field, "is required: it names the row in problems and alignments");
            } else if by_row_id.insert(row.row_id.clone(), index).is_some() {
                violations.add(field, format!("{:?} is the id of an earlier row", row.row_id));
            }
        }
        let mut checked = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            checked.push(check_row(index, row, &header_cycle(cycle), &mut violations));
        }
        let ids: Vec<String> = checked.iter().map(|row| row.id.clone()).collect();
        for taken in self.existing_objectives(&ids).await? {
            if let Some(index) = checked.iter().position(|row| row.id == taken) {
                violations.add(
                    format!("rows[{index}].row_id"),
                    format!("{} already exists", objective_name(&taken)),
                );
            }
        }
        for (index, row) in rows.iter().enumerate() {
            let (extra, problems) = link_rows(index, row, &checked, &by_row_id);
            checked[index].objective.aligns_to.extend(extra);
            for (field, problem) in problems {
                violations.add(field, problem);
            }
        }
        for (index, problem) in alignment_loops(&rows, &by_row_id) {
            violations.add(format!("rows[{index}].aligns_to_rows"), problem);
        }
        self.check_row_references(cycle, &rows, &checked, &mut violations)
            .await?;
        if violations.len() > MAX_REPORTED {
            let total = violations.len();
            let mut kept = FieldViolations::default();
            for (field, description) in violations.violations().iter().take(MAX_REPORTED) {
                kept.add(field.clone(), description.clone());
            }
            kept.add(
                "rows",
                format!("{} more problems not listed; {total} in all", total - MAX_REPORTED),
            );
            violations = kept;
        }
        violations.into_result()?;
        Ok(checked)
    }

    async fn existing_objectives(&self, ids: &[String]) -> Result<Vec<String>, Error> {
        let mut existing = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let found: Vec<String> = objective::Entity::find()
                .select_only()
                .column(objective::Column::Id)
                .filter(objective::Column::Id.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(self.store.db.conn())
                .await?;
            existing.extend(found);
        }
        Ok(existing)
    }

    /// Owners (one org call), choices (one strategy call) and stored
    /// objectives and key results (one query each), for every row.
    async fn check_row_references(
        &self,
        cycle: &crate::entity::cycle::Model,
        rows: &[Row],
        checked: &[ImportedRow],
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        let owners: HashSet<String> = checked
            .iter()
            .filter(|row| crate::names::org_unit_id(&row.objective.owner, "").is_ok())
            .map(|row| row.objective.owner.clone())
            .collect();
        let owner_problems = self.owner_problems(&org_unit_name(&cycle.org_unit_id), owners).await?;
        // Only the targets given by name: the rows' own alignments were
        // checked inside the import.
        let given: Vec<&[pb::AlignmentTarget]> = rows
            .iter()
            .map(|row| {
                row.objective
                    .as_ref()
                    .map_or(&[][..], |objective| objective.aligns_to.as_slice())
            })
            .collect();
        let names = target_names(given.iter().flat_map(|targets| targets.iter()));
        let mut problems: Problems = self.choice_problems(&names.choices).await?;
        problems.extend(
            self.stored_target_problems(self.store.db.conn(), &cycle.id, None, &names)
                .await?,
        );
        for (index, row) in checked.iter().enumerate() {
            let prefix = format!("rows[{index}].objective.");
            if let Some(problem) = owner_problems.get(&row.objective.owner) {
                violations.add(format!("{prefix}owner"), problem.clone());
            }
            report_targets(given[index], &prefix, &problems, violations);
        }
        Ok(())
    }

    async fn write_season(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        cycle_id: &str,
        rows: Vec<ImportedRow>,
    ) -> Result<pb::ImportSeasonResponse, Error> {
        let now = now_micros();
        let bulk = BulkRows::new(cycle_id, &rows, now);
        let (objectives, key_results) = (bulk.objectives.len(), bulk.key_results.len());
        let mut changes = Vec::with_capacity(objectives + key_results);
        for row in &rows {
            changes.push(NewChange::new(
                ChangeKind::Created,
                objective_name(&row.id),
                OBJECTIVE_TYPE,
                &fresh_objective(row, now),
            ));
            for (id, key_result) in &row.key_results {
                changes.push(NewChange::new(
                    ChangeKind::Created,
                    key_result_name(&row.id, id),
                    KEY_RESULT_TYPE,
                    &fresh_key_result(&row.id, id, key_result, now),
                ));
            }
        }
        drop(rows);
        insert_rows(&**txn, bulk).await?;
        let last_sequence = self.store.feed.append(txn, context, changes).await?;
        Ok(pb::ImportSeasonResponse {
            rows: objectives as i64,
            objectives_created: objectives as i64,
            key_results_created: key_results as i64,
            last_sequence,
        })
    }
}

fn header_cycle(cycle: &crate::entity::cycle::Model) -> String {
    cycle_name(&cycle.id)
}

fn permits_drafting(cycle_id: &str, state: &str) -> Result<(), Error> {
    let state: CycleState = cycle_state(state)?;
    state
        .permits(CycleWork::Draft)
        .map_err(|reason| Error::FailedPrecondition(format!("{}: {reason}", cycle_name(cycle_id))))
}

/// Reads the whole stream; a stream that breaks off is an error and
/// nothing is written.
async fn receive(
    mut stream: impl Stream<Item = Result<pb::ImportSeasonRequest, Status>> + Unpin,
) -> Result<(pb::import_season_request::Header, Vec<Row>, String), Error> {
    let mut fingerprint = StreamFingerprint::new("ImportSeason");
    let mut header = None;
    let mut rows = Vec::new();
    let mut index = 0usize;
    while let Some(message) = stream.next().await {
        let message = message.map_err(|status| {
            Error::FailedPrecondition(format!(
                "the import stream broke off ({}); nothing was written",
                status.message()
            ))
        })?;
        fingerprint.add(&message);
        match (index, message.header) {
            (0, Some(first)) => header = Some(first),
            (0, None) => return Err(Error::invalid("header", "the first message must carry the header")),
            (_, Some(_)) => {
                return Err(Error::invalid(
                    format!("messages[{index}].header"),
                    "only the first message carries the header",
                ));
            }
            (_, None) => {}
        }
        if rows.len() + message.rows.len() > MAX_ROWS {
            return Err(Error::invalid(
                "rows",
                format!("an import holds at most {MAX_ROWS} rows"),
            ));
        }
        rows.extend(message.rows);
        index += 1;
    }
    let header = header.ok_or_else(|| Error::invalid("header", "is required: the stream was empty"))?;
    Ok((header, rows, fingerprint.finish()))
}

/// Checks one row's own fields; `cycle` is the import's cycle name.
fn check_row(index: usize, row: &Row, cycle: &str, violations: &mut FieldViolations) -> ImportedRow {
    let prefix = format!("rows[{index}].");
    let id = if is_valid_id(&row.row_id) {
        row.row_id.clone()
    } else {
        generate_id()
    };
    let Some(input) = row.objective.as_ref() else {
        violations.add(format!("{prefix}objective"), "is required");
        return ImportedRow {
            id,
            objective: pb::Objective::default(),
            key_results: Vec::new(),
        };
    };
    let mut objective = check_objective(input, &format!("{prefix}objective."), violations);
    if !input.cycle.is_empty() && input.cycle != cycle {
        violations.add(
            format!("{prefix}objective.cycle"),
            format!("is {}, but the import is for {cycle}", input.cycle),
        );
    }
    objective.cycle = cycle.to_owned();
    objective.origin = pb::objective::Origin::Planned as i32;
    violations.require(
        row.key_results.len() <= MAX_KEY_RESULTS,
        format!("{prefix}key_results"),
        format!("at most {MAX_KEY_RESULTS}"),
    );
    let mut seen = HashSet::new();
    let mut key_results = Vec::with_capacity(row.key_results.len());
    for (kr_index, key_result) in row.key_results.iter().enumerate() {
        let kr_prefix = format!("{prefix}key_results[{kr_index}].");
        let kr_id =
            crate::rows::inline_key_result_id(&key_result.name, &id, kr_index, &format!("{kr_prefix}name"), violations);
        violations.require(
            seen.insert(kr_id.clone()),
            format!("{kr_prefix}name"),
            "repeats another key result's id",
        );
        key_results.push((kr_id, check_key_result(key_result, &kr_prefix, violations)));
    }
    ImportedRow {
        id,
        objective,
        key_results,
    }
}

/// The row's alignments to other rows as targets, and their problems.
fn link_rows(
    index: usize,
    row: &Row,
    checked: &[ImportedRow],
    by_row_id: &HashMap<String, usize>,
) -> (Vec<pb::AlignmentTarget>, Vec<(String, String)>) {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (link_index, link) in row.aligns_to_rows.iter().enumerate() {
        let field = format!("rows[{index}].aligns_to_rows[{link_index}]");
        if !(link.weight == 0.0 || link.weight.is_finite() && link.weight > 0.0) {
            problems.push((
                format!("{field}.weight"),
                format!("must be a positive number, got {}", link.weight),
            ));
        }
        let Some(&target_index) = by_row_id.get(&link.row_id) else {
            problems.push((
                format!("{field}.row_id"),
                format!("no row of this import has the id {:?}", link.row_id),
            ));
            continue;
        };
        if target_index == index {
            problems.push((format!("{field}.row_id"), "a row cannot align to itself".to_owned()));
            continue;
        }
        let parent = &checked[target_index];
        let target = if link.key_result_id.is_empty() {
            Target::Objective(objective_name(&parent.id))
        } else if parent.key_results.iter().any(|(id, _)| *id == link.key_result_id) {
            Target::KeyResult(key_result_name(&parent.id, &link.key_result_id))
        } else {
            problems.push((
                format!("{field}.key_result_id"),
                format!("row {:?} has no key result {:?}", link.row_id, link.key_result_id),
            ));
            continue;
        };
        targets.push(pb::AlignmentTarget {
            target: Some(target),
            weight: if link.weight == 0.0 { 1.0 } else { link.weight },
        });
    }
    (targets, problems)
}

/// Rows whose alignments inside the import lead back to themselves, with
/// the loop they are on.
fn alignment_loops(rows: &[Row], by_row_id: &HashMap<String, usize>) -> Vec<(usize, String)> {
    let parents: Vec<Vec<usize>> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            row.aligns_to_rows
                .iter()
                .filter_map(|link| by_row_id.get(&link.row_id).copied())
                .filter(|parent| *parent != index)
                .collect()
        })
        .collect();
    crate::graph::cycles(&parents)
        .into_iter()
        .map(|path| {
            let names: Vec<&str> = path.iter().map(|index| rows[*index].row_id.as_str()).collect();
            (
                path[0],
                format!("the rows align to each other in a loop: {}", names.join(" → ")),
            )
        })
        .collect()
}

fn fresh_objective(row: &ImportedRow, now: i64) -> pb::Objective {
    pb::Objective {
        name: objective_name(&row.id),
        state: crate::view::objective_state_proto(ObjectiveState::Draft) as i32,
        etag: etag_for(1),
        create_time: Some(to_timestamp(now)),
        update_time: Some(to_timestamp(now)),
        ..row.objective.clone()
    }
}

fn fresh_key_result(objective_id: &str, id: &str, key_result: &pb::KeyResult, now: i64) -> pb::KeyResult {
    pb::KeyResult {
        name: key_result_name(objective_id, id),
        etag: etag_for(1),
        create_time: Some(to_timestamp(now)),
        update_time: Some(to_timestamp(now)),
        ..key_result.clone()
    }
}
