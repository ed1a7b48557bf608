//! What a check-in is checked against (its key result's measure and metric
//! link, its objective's state, its cycle's state), kept by the check-in
//! writer between batches.
//!
//! Every write of this service appends to its change feed, so the facts
//! stay true exactly as long as the feed's last sequence does not move.
//! Each batch reads that sequence first, inside its own transaction (which
//! on PostgreSQL also holds off the feed's other writers until it commits);
//! when anything else was written since the facts were read, they are read
//! again. Under a steady stream of check-ins, a batch then reads one row
//! instead of every key result, objective and cycle it touches.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, Statement, Value};
use trellis_foundation::WriteTxn;

use trellis_rules::progress::Measure;

use crate::{
    error::Error,
    fields::measure_of,
    lifecycle::{CycleState, CycleWork, ObjectiveState},
    names::{key_result_name, objective_name, org_unit_name},
    store::{
        queries::{IN_CHUNK, placeholders},
        snapshot::decode_key_result,
    },
};

/// Key results remembered at most; past it the cache starts over.
const MAX_REMEMBERED: usize = 100_000;

/// One key result's facts.
#[derive(Debug, Clone)]
pub struct Facts {
    pub measure: Measure,
    /// The objective's owning unit, "orgUnits/{id}".
    pub owner: String,
    /// Whether the objective is private (its check-ins' events are too).
    pub private: bool,
    health_metric: String,
    objective_state: ObjectiveState,
    cycle_state: CycleState,
}

/// The facts of the key results recent batches touched, true while the
/// feed's last sequence is `as_of`.
#[derive(Debug, Default)]
pub struct FactsCache {
    as_of: Option<i64>,
    /// By objective, then key result: looked up by `&str`, with no key
    /// built per check-in.
    key_results: HashMap<String, HashMap<String, Facts>>,
}

/// A check-in to admit: which key result, and whether it is a metric's value.
pub struct Admission<'a> {
    pub objective_id: &'a str,
    pub key_result_id: &'a str,
    /// The metric a fed value comes from; `None` for a person's check-in.
    pub health_metric: Option<&'a str>,
}

impl FactsCache {
    /// Makes the cache current for a batch whose transaction found the
    /// feed at `last_sequence`, reading what `wanted` needs and it lacks.
    pub async fn refresh(
        &mut self,
        txn: &WriteTxn,
        last_sequence: i64,
        wanted: impl Iterator<Item = (&str, &str)>,
    ) -> Result<(), Error> {
        if self.as_of != Some(last_sequence) || self.remembered() > MAX_REMEMBERED {
            self.key_results.clear();
        }
        // Not current until the read below succeeds.
        self.as_of = None;
        let missing: HashSet<&str> = wanted
            .filter(|(objective_id, key_result_id)| self.get(objective_id, key_result_id).is_none())
            .map(|(objective_id, _)| objective_id)
            .collect();
        if !missing.is_empty() {
            let missing: Vec<&str> = missing.into_iter().collect();
            self.read(txn, &missing).await?;
        }
        self.as_of = Some(last_sequence);
        Ok(())
    }

    /// After the batch committed its own feed events: the facts it read
    /// are still true, and nothing else was written in between.
    pub fn committed(&mut self, last_sequence: i64) {
        if self.as_of.is_some() {
            self.as_of = Some(last_sequence);
        }
    }

    /// The batch failed: nothing it read can be trusted any more.
    pub fn forget(&mut self) {
        self.as_of = None;
        self.key_results.clear();
    }

    /// Every key result of `objective_ids`, with their objectives' and
    /// cycles' states, in one query per chunk.
    async fn read(&mut self, txn: &WriteTxn, objective_ids: &[&str]) -> Result<(), Error> {
        let backend = txn.backend();
        for chunk in objective_ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT k.objective_id, k.id, k.snapshot, k.health_metric, \
                 o.state AS objective_state, o.owner_id, o.private, c.state AS cycle_state \
                 FROM okr_key_results k \
                 JOIN okr_objectives o ON o.id = k.objective_id \
                 JOIN okr_cycles c ON c.id = o.cycle_id \
                 WHERE k.objective_id IN ({})",
                placeholders(backend, 1, chunk.len())
            );
            let values = chunk.iter().map(|id| Value::from(*id));
            for row in txn
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
            {
                let objective_id: String = row.try_get("", "objective_id")?;
                let id: String = row.try_get("", "id")?;
                let snapshot: Vec<u8> = row.try_get("", "snapshot")?;
                let stored = decode_key_result(&snapshot)?;
                let measure = measure_of(&stored)
                    .ok_or_else(|| Error::Corrupt(format!("{} has no kind", key_result_name(&objective_id, &id))))?;
                let facts = Facts {
                    measure,
                    owner: org_unit_name(&row.try_get::<String>("", "owner_id")?),
                    private: row.try_get("", "private")?,
                    health_metric: row.try_get("", "health_metric")?,
                    objective_state: row.try_get::<ObjectiveState>("", "objective_state")?,
                    cycle_state: row.try_get::<CycleState>("", "cycle_state")?,
                };
                self.key_results.entry(objective_id).or_default().insert(id, facts);
            }
        }
        Ok(())
    }

    fn get(&self, objective_id: &str, key_result_id: &str) -> Option<&Facts> {
        self.key_results.get(objective_id)?.get(key_result_id)
    }

    fn remembered(&self) -> usize {
        self.key_results.values().map(HashMap::len).sum()
    }

    /// The facts of the key result a check-in is for, or why it cannot be
    /// recorded now.
    pub fn admit(&self, check_in: &Admission<'_>) -> Result<&Facts, Error> {
        let name = || key_result_name(check_in.objective_id, check_in.key_result_id);
        let Some(facts) = self.get(check_in.objective_id, check_in.key_result_id) else {
            return Err(Error::NotFound { name: name() });
        };
        facts
            .cycle_state
            .permits(CycleWork::CheckIn)
            .map_err(|reason| Error::WrongState { name: name(), reason })?;
        let state = facts.objective_state;
        let objective = || objective_name(check_in.objective_id);
        match check_in.health_metric {
            None => {
                if !facts.health_metric.is_empty() {
                    return Err(Error::FedByMetric {
                        name: name(),
                        metric: facts.health_metric.clone(),
                    });
                }
                if state != ObjectiveState::Active {
                    return Err(Error::NotRecording {
                        name: objective(),
                        state: state.as_str(),
                        why: "check-ins are recorded on ACTIVE objectives",
                    });
                }
            }
            Some(metric) => {
                if facts.health_metric != metric {
                    return Err(Error::NotLinked {
                        name: name(),
                        metric: metric.to_owned(),
                    });
                }
                if matches!(state, ObjectiveState::Completed | ObjectiveState::Cancelled) {
                    return Err(Error::NotRecording {
                        name: objective(),
                        state: state.as_str(),
                        why: "it no longer records values",
                    });
                }
            }
        }
        Ok(facts)
    }
}
