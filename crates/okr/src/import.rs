//! The planning-season import: a whole season over one client stream.
//! Every row is checked (owners in one call to the org service, choices in
//! one call to the strategy service, targets inside the import against
//! each other) and every problem reported with its row and field; then
//! everything is written in one transaction with its change-feed events,
//! or nothing is.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use futures::{Stream, StreamExt};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::mpsc;
use tonic::Status;
use trellis_foundation::{
    Error, FieldViolations, NewChange, RequestContext, WriteTxn,
    etag::etag_for,
    feed::HeldAppend,
    idempotency::{StreamFingerprint, check_request_id},
    names::{generate_id, is_valid_id},
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{self as pb, ImportAlignment, alignment_target::Target, import_season_request::Row},
};

use crate::{
    OkrApi,
    bulk::{BulkRows, insert_statements},
    entity::objective,
    fields::{MAX_KEY_RESULTS, check_key_result, check_objective, check_weight},
    lifecycle::{CycleState, CycleWork, ObjectiveState},
    names::{cycle_id, cycle_name, key_result_name, objective_name, org_unit_name},
    references::{Problems, report_targets, target_names},
    repo::{Lock, column_pairs, find_cycle},
    view::cycle_state,
};

/// Objectives per import at most (each with up to 25 key results).
pub const MAX_ROWS: usize = 200_000;

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
        let started = Instant::now();
        let received = receive(stream).await?;
        if received.header.validate_only {
            return self.validate_season(received).await;
        }
        let received_after = started.elapsed();
        let context = context.with_request_id(&received.header.request_id);
        if let Some(request_id) = context.request_id.as_deref() {
            check_request_id(request_id)?;
            // A repeat is answered before its rows are checked against the
            // database: after the first import its ids exist.
            if let Some(response) = self.store.replay(request_id, &received.fingerprint).await? {
                return Ok(response);
            }
        }
        let cycle_id = cycle_id(&received.header.cycle, "header.cycle")?.to_owned();
        let cycle = find_cycle(self.store.db.conn(), &cycle_id).await?;
        permits_drafting(&cycle_id, &cycle.state)?;
        let fingerprint = received.fingerprint.clone();
        let checked = self.check_rows(&cycle, received).await?;
        let checked_after = started.elapsed();
        let event_context = context.clone();
        self.store
            .create_once_keyed(&context, fingerprint, move |mut txn: WriteTxn| async move {
                let cycle = self.lock_cycle(&txn, &cycle_id, Lock::Shared).await?;
                permits_drafting(&cycle_id, &cycle.state)?;
                let response = self.write_season(&mut txn, &event_context, &cycle_id, checked).await?;
                Ok((txn, response))
            })
            .await
            .inspect(|response: &pb::ImportSeasonResponse| {
                tracing::info!(
                    rows = response.rows,
                    key_results = response.key_results_created,
                    receive_ms = received_after.as_millis(),
                    check_ms = (checked_after - received_after).as_millis(),
                    write_ms = (started.elapsed() - checked_after).as_millis(),
                    "season imported"
                );
            })
    }

    /// A validate_only import: every problem, a page of them in the answer;
    /// nothing is written.
    async fn validate_season(&self, received: Received) -> Result<pb::ImportSeasonResponse, Error> {
        let page = received.header.validation_page.clone();
        let rows = received.rows.len() as i64;
        let cycle_id = cycle_id(&received.header.cycle, "header.cycle")?.to_owned();
        let cycle = find_cycle(self.store.db.conn(), &cycle_id).await?;
        let mut violations = FieldViolations::default();
        violations.absorb(permits_drafting(&cycle_id, &cycle.state))?;
        violations.absorb(self.check_rows(&cycle, received).await)?;
        let report = violations.into_report(page.as_ref(), &self.store.page_tokens, "ImportSeason")?;
        Ok(pb::ImportSeasonResponse {
            rows,
            validation: Some(report),
            ..pb::ImportSeasonResponse::default()
        })
    }

    /// The checks that need the database and the other services, after
    /// each row's own (made as it arrived); all problems at once.
    async fn check_rows(
        &self,
        cycle: &crate::entity::cycle::Model,
        received: Received,
    ) -> Result<Vec<ImportedRow>, Error> {
        let Received {
            mut rows,
            links,
            by_row_id,
            mut violations,
            ..
        } = received;
        let by_id: HashMap<&str, usize> = rows
            .iter()
            .enumerate()
            .map(|(index, row)| (row.id.as_str(), index))
            .collect();
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let existing =
            column_pairs::<objective::Entity>(self.store.db.conn(), objective::Column::Id, objective::Column::Id, ids)
                .await?;
        for (taken, _) in existing {
            if let Some(index) = by_id.get(taken.as_str()) {
                violations.add(
                    format!("rows[{index}].row_id"),
                    format!("{} already exists", objective_name(&taken)),
                );
            }
        }
        drop(by_id);
        self.check_row_references(cycle, &rows, &mut violations).await?;
        for (index, (_, row_links)) in links.iter().enumerate() {
            let (extra, problems) = link_rows(index, row_links, &rows, &by_row_id);
            rows[index].objective.aligns_to.extend(extra);
            for (field, problem) in problems {
                violations.add(field, problem);
            }
        }
        for (index, problem) in alignment_loops(&links, &by_row_id) {
            violations.add(format!("rows[{index}].aligns_to_rows"), problem);
        }
        violations.into_result()?;
        Ok(rows)
    }

    /// Owners (one org call), choices (one strategy call) and stored
    /// objectives and key results (one query each), for every row; the
    /// rows' alignments to each other are not among their targets yet.
    async fn check_row_references(
        &self,
        cycle: &crate::entity::cycle::Model,
        rows: &[ImportedRow],
        violations: &mut FieldViolations,
    ) -> Result<(), Error> {
        let owners: HashSet<String> = rows
            .iter()
            .filter(|row| crate::names::org_unit_id(&row.objective.owner, "").is_ok())
            .map(|row| row.objective.owner.clone())
            .collect();
        let owner_problems = self.owner_problems(&org_unit_name(&cycle.org_unit_id), owners).await?;
        let names = target_names(rows.iter().flat_map(|row| row.objective.aligns_to.iter()));
        let mut problems: Problems = self.choice_problems(&names.choices).await?;
        problems.extend(
            self.stored_target_problems(self.store.db.conn(), &cycle.id, None, &names)
                .await?,
        );
        for (index, row) in rows.iter().enumerate() {
            let prefix = format!("rows[{index}].objective.");
            if let Some(problem) = owner_problems.get(&row.objective.owner) {
                violations.add(format!("{prefix}owner"), problem.clone());
            }
            if !problems.is_empty() {
                report_targets(&row.objective.aligns_to, &prefix, &problems, violations);
            }
        }
        Ok(())
    }

    /// Writes the rows and their feed events. The statements are built on
    /// a blocking thread while the transaction runs the ones before them,
    /// so encoding and the database's work overlap on two cores.
    async fn write_season(
        &self,
        txn: &mut WriteTxn,
        context: &RequestContext,
        cycle_id: &str,
        rows: Vec<ImportedRow>,
    ) -> Result<pb::ImportSeasonResponse, Error> {
        let now = now_micros();
        let objectives = rows.len();
        let key_results: usize = rows.iter().map(|row| row.key_results.len()).sum();
        let backend = txn.backend();
        // SQLite's single writer holds the feed already, so its events can
        // be numbered up front and written as they are built. PostgreSQL
        // takes the feed's counter last, so other writers wait only for the
        // commit, not for the whole import.
        let held = match backend {
            DbBackend::Sqlite => {
                let last_sequence = self.store.feed.last_sequence_held(txn).await?;
                Some(self.store.feed.held_append(backend, last_sequence, context.clone()))
            }
            _ => None,
        };
        let (sender, mut statements) = mpsc::channel(STATEMENTS_AHEAD);
        let cycle_id = cycle_id.to_owned();
        let producer =
            tokio::task::spawn_blocking(move || build_statements(backend, &cycle_id, rows, now, held, &sender));
        while let Some(statement) = statements.recv().await {
            txn.execute_raw(statement).await?;
        }
        let (held, changes) = producer
            .await
            .map_err(|err| Error::Corrupt(format!("building the import's statements: {err}")))??;
        let last_sequence = match held {
            Some(held) => {
                let (advance, last_sequence) = held.finish(txn);
                if let Some(advance) = advance {
                    txn.execute_raw(advance).await?;
                }
                last_sequence
            }
            None => self.store.feed.append(txn, context, changes).await?,
        };
        Ok(pb::ImportSeasonResponse {
            rows: objectives as i64,
            objectives_created: objectives as i64,
            key_results_created: key_results as i64,
            last_sequence,
            validation: None,
        })
    }
}

/// Statements built ahead of the one running, at most.
const STATEMENTS_AHEAD: usize = 4;
/// Objectives whose rows and events are built at a time.
const BUILD_CHUNK: usize = 1_000;

/// Sends the inserts for `rows` and, with `held`, their feed events, chunk
/// by chunk; returns the events it did not write (without `held`). Stops
/// early when the receiver is gone (the transaction failed); an error
/// drops the sender, so the transaction sees the stream end and is told.
fn build_statements(
    backend: DbBackend,
    cycle_id: &str,
    rows: Vec<ImportedRow>,
    now: i64,
    mut held: Option<HeldAppend>,
    sender: &mpsc::Sender<Statement>,
) -> Result<(Option<HeldAppend>, Vec<NewChange>), Error> {
    let mut unwritten = Vec::new();
    for chunk in rows.chunks(BUILD_CHUNK) {
        let mut changes = Vec::with_capacity(chunk.len() * 5);
        for row in chunk {
            changes.push(NewChange::new(
                ChangeKind::Created,
                objective_name(&row.id),
                &fresh_objective(row, now),
            ));
            for (id, key_result) in &row.key_results {
                changes.push(NewChange::new(
                    ChangeKind::Created,
                    key_result_name(&row.id, id),
                    &fresh_key_result(&row.id, id, key_result, now),
                ));
            }
        }
        let mut statements = insert_statements(backend, BulkRows::new(cycle_id, chunk, now))?;
        match held.as_mut() {
            Some(held) => statements.extend(held.statements(changes)),
            None => unwritten.extend(changes),
        }
        for statement in statements {
            if sender.blocking_send(statement).is_err() {
                return Ok((held, unwritten));
            }
        }
    }
    Ok((held, unwritten))
}

fn permits_drafting(cycle_id: &str, state: &str) -> Result<(), Error> {
    let state: CycleState = cycle_state(state)?;
    state
        .permits(CycleWork::Draft)
        .map_err(|reason| Error::FailedPrecondition(format!("{}: {reason}", cycle_name(cycle_id))))
}

/// The stream, read whole, with each row checked on its own as it came.
struct Received {
    header: pb::import_season_request::Header,
    fingerprint: String,
    rows: Vec<ImportedRow>,
    /// Each row's id in the import and its alignments to other rows.
    links: Vec<(String, Vec<ImportAlignment>)>,
    by_row_id: HashMap<String, usize>,
    violations: FieldViolations,
}

/// Reads the whole stream, checking each row's own fields as it arrives
/// (while the client is still sending); a stream that breaks off is an
/// error and nothing is written.
async fn receive(
    mut stream: impl Stream<Item = Result<pb::ImportSeasonRequest, Status>> + Unpin,
) -> Result<Received, Error> {
    let mut fingerprint = StreamFingerprint::new("ImportSeason");
    let mut header: Option<pb::import_season_request::Header> = None;
    let mut rows = Vec::new();
    let mut links = Vec::new();
    let mut by_row_id = HashMap::new();
    let mut violations = FieldViolations::default();
    let mut message_index = 0usize;
    while let Some(message) = stream.next().await {
        let message = message.map_err(|status| match status.code() {
            // A message the server refused on the wire: the client's mistake.
            tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted => Error::Refused(status),
            _ => Error::FailedPrecondition(format!(
                "the import stream broke off ({}); nothing was written",
                status.message()
            )),
        })?;
        fingerprint.add(&message);
        match (message_index, message.header) {
            (0, Some(first)) => header = Some(first),
            (0, None) => return Err(Error::invalid("header", "the first message must carry the header")),
            (_, Some(_)) => {
                return Err(Error::invalid(
                    format!("messages[{message_index}].header"),
                    "only the first message carries the header",
                ));
            }
            (_, None) => {}
        }
        message_index += 1;
        if rows.len() + message.rows.len() > MAX_ROWS {
            return Err(Error::invalid(
                "rows",
                format!("an import holds at most {MAX_ROWS} rows"),
            ));
        }
        let cycle = header.as_ref().map_or("", |header| header.cycle.as_str());
        for row in message.rows {
            let index = rows.len();
            if row.row_id.is_empty() {
                violations.add(
                    format!("rows[{index}].row_id"),
                    "is required: it names the row in problems and alignments",
                );
            } else if by_row_id.insert(row.row_id.clone(), index).is_some() {
                violations.add(
                    format!("rows[{index}].row_id"),
                    format!("{:?} is the id of an earlier row", row.row_id),
                );
            }
            rows.push(check_row(index, &row, cycle, &mut violations));
            links.push((row.row_id, row.aligns_to_rows));
        }
    }
    let header = header.ok_or_else(|| Error::invalid("header", "is required: the stream was empty"))?;
    Ok(Received {
        header,
        fingerprint: fingerprint.finish(),
        rows,
        links,
        by_row_id,
        violations,
    })
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
    links: &[ImportAlignment],
    checked: &[ImportedRow],
    by_row_id: &HashMap<String, usize>,
) -> (Vec<pb::AlignmentTarget>, Vec<(String, String)>) {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (link_index, link) in links.iter().enumerate() {
        let field = format!("rows[{index}].aligns_to_rows[{link_index}]");
        let mut weight_problems = FieldViolations::default();
        let weight = check_weight(link.weight, format!("{field}.weight"), &mut weight_problems);
        problems.extend(weight_problems.violations().iter().cloned());
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
            weight,
        });
    }
    (targets, problems)
}

/// Rows whose alignments inside the import lead back to themselves, with
/// the loop they are on.
fn alignment_loops(
    rows: &[(String, Vec<ImportAlignment>)],
    by_row_id: &HashMap<String, usize>,
) -> Vec<(usize, String)> {
    let parents: Vec<Vec<usize>> = rows
        .iter()
        .enumerate()
        .map(|(index, (_, links))| {
            links
                .iter()
                .filter_map(|link| by_row_id.get(&link.row_id).copied())
                .filter(|parent| *parent != index)
                .collect()
        })
        .collect();
    crate::graph::cycles(&parents)
        .into_iter()
        .map(|path| {
            let names: Vec<&str> = path.iter().map(|index| rows[*index].0.as_str()).collect();
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
