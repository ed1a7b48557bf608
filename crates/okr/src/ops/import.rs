//! The planning-season import: a whole season over one client stream.
//! Every row is checked (owners in one call to the org service, choices in
//! one call to the strategy service, targets inside the import against
//! each other) and every problem reported with its row and field; then
//! everything is written in one transaction with its change-feed events,
//! or nothing is.

use crate::{
    OkrOps,
    error::Error,
    lifecycle::{CycleState, CycleWork},
    names::{cycle_id, cycle_name, key_result_name, objective_name, org_unit_id, org_unit_name},
    ops::references::{Problems, report_targets, target_names},
    season::{ImportedRow, MAX_ROWS, alignment_loops, check_row, fresh_key_result, fresh_objective, link_rows},
    store::{
        bulk::{BulkRows, insert_statements},
        entity::objective,
        queries::{Lock, column_pairs, find_cycle},
    },
};
use futures::{Stream, StreamExt};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};
use tokio::sync::mpsc;
use trellis_foundation::{
    FieldViolations, NewChange, RequestContext, WriteTxn,
    feed::HeldAppend,
    idempotency::{StreamFingerprint, check_request_id},
    time::now_micros,
    visibility,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    okr::v1::{self as pb, ImportAlignment},
};

impl OkrOps {
    pub async fn import_season(
        &self,
        context: RequestContext,
        stream: impl Stream<Item = Result<pb::ImportSeasonRequest, Error>> + Unpin,
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
        permits_drafting(&cycle_id, cycle.state)?;
        let fingerprint = received.fingerprint.clone();
        let checked = self.check_rows(&cycle, received).await?;
        let owners: HashSet<&str> = checked.iter().map(|row| row.objective.owner.as_str()).collect();
        for owner in owners {
            self.may_edit_objective(&context, "", owner, None, false).await?;
        }
        let checked_after = started.elapsed();
        let event_context = context.clone();
        self.store
            .create_once_keyed(&context, fingerprint, move |mut txn: WriteTxn| async move {
                let cycle = self.lock_cycle(&txn, &cycle_id, Lock::Shared).await?;
                permits_drafting(&cycle_id, cycle.state)?;
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
        violations.absorb(permits_drafting(&cycle_id, cycle.state))?;
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
        cycle: &crate::store::entity::cycle::Model,
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
        cycle: &crate::store::entity::cycle::Model,
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
                let tip = self.store.feed.tip_held(txn).await?;
                Some(self.store.feed.held_append(backend, tip, context.clone()))
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
            let owner = org_unit_id(&row.objective.owner, "").unwrap_or_default();
            let private = visibility::is_private(row.objective.visibility);
            changes.push(
                NewChange::new(ChangeKind::Created, objective_name(&row.id), &fresh_objective(row, now))
                    .private_to(owner, private),
            );
            for (id, key_result) in &row.key_results {
                changes.push(
                    NewChange::new(
                        ChangeKind::Created,
                        key_result_name(&row.id, id),
                        &fresh_key_result(&row.id, id, key_result, now),
                    )
                    .private_to(owner, private),
                );
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

fn permits_drafting(cycle_id: &str, state: CycleState) -> Result<(), Error> {
    state.permits(CycleWork::Draft).map_err(|reason| Error::WrongState {
        name: cycle_name(cycle_id),
        reason,
    })
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
    mut stream: impl Stream<Item = Result<pb::ImportSeasonRequest, Error>> + Unpin,
) -> Result<Received, Error> {
    let mut fingerprint = StreamFingerprint::new("ImportSeason");
    let mut header: Option<pb::import_season_request::Header> = None;
    let mut rows = Vec::new();
    let mut links = Vec::new();
    let mut by_row_id = HashMap::new();
    let mut violations = FieldViolations::default();
    let mut message_index = 0usize;
    while let Some(message) = stream.next().await {
        let message = message?;
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
