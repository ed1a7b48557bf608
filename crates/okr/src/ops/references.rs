//! Checks of what objectives point at, batched: the owners (one call to
//! the org service), the strategy choices they align to (one call to the
//! strategy service), and objectives and key results of the same cycle
//! (one query each). Each check answers the names with a problem, so a
//! caller reports them against its own fields or rows.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use trellis_foundation::FieldViolations;
use trellis_proto::{
    cascade::v1::BatchGetOrgUnitsRequest,
    okr::v1::{self as pb, alignment_target::Target},
    strategy::v1::{BatchGetChoicesRequest, ChoiceKind, StrategyState},
};

use crate::{
    OkrOps,
    error::Error,
    names::{cycle_name, key_result_ids, objective_id},
    store::{
        entity::{key_result, objective},
        queries::{IN_CHUNK, column_pairs},
        snapshot::decode_objective,
    },
};

/// Names per batch call to another service (its limit).
const PEER_BATCH: usize = 10_000;
/// How far up an alignment chain a re-plan is followed to find a loop.
const MAX_ALIGNMENT_DEPTH: usize = 64;

/// Names with what is wrong with them; a name not in it is fine.
pub type Problems = HashMap<String, String>;

/// The choice, objective and key-result names among `targets`.
pub fn target_names<'a>(targets: impl IntoIterator<Item = &'a pb::AlignmentTarget>) -> TargetNames {
    let mut names = TargetNames::default();
    // Malformed names are the shape checks' to report; the services asked
    // about the rest would refuse the whole question over one of them.
    for target in targets {
        match &target.target {
            Some(Target::Choice(name)) if crate::names::is_choice(name) => names.choices.insert(name.clone()),
            Some(Target::Objective(name)) if crate::names::objective_id(name, "").is_ok() => {
                names.objectives.insert(name.clone())
            }
            Some(Target::KeyResult(name)) if crate::names::key_result_ids(name, "").is_ok() => {
                names.key_results.insert(name.clone())
            }
            _ => false,
        };
    }
    names
}

#[derive(Debug, Default)]
pub struct TargetNames {
    pub choices: HashSet<String>,
    pub objectives: HashSet<String>,
    pub key_results: HashSet<String>,
}

impl OkrOps {
    /// Owners that do not exist or lie outside the subtree of `root`
    /// (the cycle's org unit).
    pub(crate) async fn owner_problems(&self, root: &str, owners: HashSet<String>) -> Result<Problems, Error> {
        let mut problems = Problems::new();
        // Malformed owners are the shape checks' to report.
        let owners: Vec<String> = owners
            .into_iter()
            .filter(|owner| crate::names::org_unit_id(owner, "").is_ok())
            .collect();
        for chunk in owners.chunks(PEER_BATCH) {
            let response = self
                .org
                .clone()
                .batch_get_org_units(BatchGetOrgUnitsRequest {
                    names: chunk.to_vec(),
                    allow_missing: true,
                })
                .await
                .map_err(Error::peer("org"))?
                .into_inner();
            for name in response.missing {
                problems.insert(name.clone(), format!("{name} does not exist"));
            }
            for unit in response.org_units {
                if unit.name != root && !unit.ancestors.iter().any(|ancestor| ancestor == root) {
                    problems.insert(
                        unit.name.clone(),
                        format!("{} is outside {root}, the org subtree the cycle is open for", unit.name),
                    );
                }
            }
        }
        Ok(problems)
    }

    /// Choices that do not exist, are NOT_DOING, or belong to a RETIRED
    /// strategy.
    pub(crate) async fn choice_problems(&self, choices: &HashSet<String>) -> Result<Problems, Error> {
        let mut problems = Problems::new();
        let choices: Vec<String> = choices.iter().cloned().collect();
        for chunk in choices.chunks(PEER_BATCH) {
            let response = self
                .strategy
                .clone()
                .batch_get_choices(BatchGetChoicesRequest { names: chunk.to_vec() })
                .await
                .map_err(Error::peer("strategy"))?
                .into_inner();
            for name in response.missing {
                problems.insert(name.clone(), format!("{name} does not exist"));
            }
            for found in response.choices {
                let Some(choice) = found.choice else { continue };
                let problem = if choice.kind() == ChoiceKind::NotDoing {
                    format!(
                        "{} is a NOT_DOING choice: nothing aligns to what the strategy chose not to do",
                        choice.name
                    )
                } else if found.strategy_state == StrategyState::Retired as i32 {
                    format!("{} belongs to a RETIRED strategy", choice.name)
                } else {
                    continue;
                };
                problems.insert(choice.name, problem);
            }
        }
        Ok(problems)
    }

    /// Objectives and key results (stored ones) that do not exist, are in
    /// another cycle than `cycle_id`, or are `self_id` itself or its own.
    pub(crate) async fn stored_target_problems(
        &self,
        conn: &impl ConnectionTrait,
        cycle_id: &str,
        self_id: Option<&str>,
        names: &TargetNames,
    ) -> Result<Problems, Error> {
        let mut problems = Problems::new();
        let mut owners_of_key_results: HashSet<String> = HashSet::new();
        let mut wanted: HashSet<String> = HashSet::new();
        for name in &names.objectives {
            wanted.insert(objective_id(name, "")?.to_owned());
        }
        for name in &names.key_results {
            let (objective, _) = key_result_ids(name, "")?;
            owners_of_key_results.insert(objective.to_owned());
            wanted.insert(objective.to_owned());
        }
        let found: HashMap<String, String> =
            column_pairs::<objective::Entity>(conn, objective::Column::Id, objective::Column::CycleId, wanted)
                .await?
                .into_iter()
                .collect();
        let mut check_objective = |name: &str, id: &str, what: &str| -> bool {
            let problem = match found.get(id) {
                None => format!("{name} does not exist"),
                Some(_) if Some(id) == self_id => format!("an objective cannot align to {what}"),
                Some(cycle) if cycle != cycle_id => format!(
                    "{name} is in {}, not {}: objectives align within their cycle",
                    cycle_name(cycle),
                    cycle_name(cycle_id)
                ),
                Some(_) => return true,
            };
            problems.insert(name.to_owned(), problem);
            false
        };
        for name in &names.objectives {
            check_objective(name, objective_id(name, "")?, "itself");
        }
        let mut key_results_to_find = Vec::new();
        for name in &names.key_results {
            let (objective, key_result) = key_result_ids(name, "")?;
            if check_objective(name, objective, "one of its own key results") {
                key_results_to_find.push((objective.to_owned(), key_result.to_owned(), name.clone()));
            }
        }
        let existing: HashSet<(String, String)> = column_pairs::<key_result::Entity>(
            conn,
            key_result::Column::ObjectiveId,
            key_result::Column::Id,
            owners_of_key_results,
        )
        .await?
        .into_iter()
        .collect();
        for (objective, key_result, name) in key_results_to_find {
            if !existing.contains(&(objective, key_result)) {
                problems.insert(name.clone(), format!("{name} does not exist"));
            }
        }
        Ok(problems)
    }

    /// Whether aligning `self_id` to objectives `parents` (directly or
    /// through their key results) would close a loop: some parent already
    /// aligns, up its chain, to `self_id`.
    pub(crate) async fn closes_loop(
        &self,
        conn: &impl ConnectionTrait,
        self_id: &str,
        parents: HashSet<String>,
    ) -> Result<bool, Error> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut frontier = parents;
        for _ in 0..MAX_ALIGNMENT_DEPTH {
            if frontier.contains(self_id) {
                return Ok(true);
            }
            frontier.retain(|id| seen.insert(id.clone()));
            if frontier.is_empty() {
                return Ok(false);
            }
            let ids: Vec<String> = frontier.drain().collect();
            for chunk in ids.chunks(IN_CHUNK) {
                let rows = objective::Entity::find()
                    .filter(objective::Column::Id.is_in(chunk.iter().cloned()))
                    .all(conn)
                    .await?;
                for row in rows {
                    let stored = decode_objective(&row.snapshot)?;
                    frontier.extend(parent_objectives(&stored.aligns_to));
                }
            }
        }
        Ok(false)
    }
}

/// The ids of the objectives `targets` point at, directly or through a
/// key result.
pub fn parent_objectives(targets: &[pb::AlignmentTarget]) -> impl Iterator<Item = String> + '_ {
    targets.iter().filter_map(|target| match &target.target {
        Some(Target::Objective(name)) => objective_id(name, "").ok().map(str::to_owned),
        Some(Target::KeyResult(name)) => key_result_ids(name, "").ok().map(|(id, _)| id.to_owned()),
        _ => None,
    })
}

/// Adds a violation for every target of `targets` with a problem.
pub fn report_targets(
    targets: &[pb::AlignmentTarget],
    prefix: &str,
    problems: &Problems,
    violations: &mut FieldViolations,
) {
    for (index, target) in targets.iter().enumerate() {
        let (field, name) = match &target.target {
            Some(Target::Choice(name)) => ("choice", name),
            Some(Target::Objective(name)) => ("objective", name),
            Some(Target::KeyResult(name)) => ("key_result", name),
            None => continue,
        };
        if let Some(problem) = problems.get(name) {
            violations.add(format!("{prefix}aligns_to[{index}].{field}"), problem.clone());
        }
    }
}
