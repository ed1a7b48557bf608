//! The rows of a planning-season import, before anything is stored: each
//! row checked on its own, rows linked to the rows they align to, and the
//! loops those links would make. Pure, tested here.

use std::collections::HashMap;

use trellis_foundation::{
    FieldViolations,
    etag::etag_for,
    names::{generate_id, is_valid_id},
    time::to_timestamp,
};
use trellis_proto::okr::v1::{self as pb, ImportAlignment, alignment_target::Target, import_season_request::Row};

use crate::{
    fields::{check_inline_key_results, check_objective, check_weight},
    lifecycle::ObjectiveState,
    names::{key_result_name, objective_name},
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

/// Checks one row's own fields; `cycle` is the import's cycle name.
pub(crate) fn check_row(index: usize, row: &Row, cycle: &str, violations: &mut FieldViolations) -> ImportedRow {
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
    let key_results = check_inline_key_results(&row.key_results, &id, &prefix, violations);
    ImportedRow {
        id,
        objective,
        key_results,
    }
}

/// The row's alignments to other rows as targets, and their problems.
pub(crate) fn link_rows(
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
pub(crate) fn alignment_loops(
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
    crate::season::cycles(&parents)
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

pub(crate) fn fresh_objective(row: &ImportedRow, now: i64) -> pb::Objective {
    pb::Objective {
        name: objective_name(&row.id),
        state: crate::store::codec::objective_state_proto(ObjectiveState::Draft) as i32,
        etag: etag_for(1),
        create_time: Some(to_timestamp(now)),
        update_time: Some(to_timestamp(now)),
        ..row.objective.clone()
    }
}

pub(crate) fn fresh_key_result(objective_id: &str, id: &str, key_result: &pb::KeyResult, now: i64) -> pb::KeyResult {
    pb::KeyResult {
        name: key_result_name(objective_id, id),
        etag: etag_for(1),
        create_time: Some(to_timestamp(now)),
        update_time: Some(to_timestamp(now)),
        ..key_result.clone()
    }
}

/// Every loop found by a depth-first walk over `parents` (node → the
/// nodes it points at), each as the path that closes it, starting and
/// reported at the node where the walk re-entered it. A graph without
/// loops gives none.
pub fn cycles(parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; parents.len()];
    let mut found = Vec::new();
    for start in 0..parents.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // The path being walked, with how far each node's edges were tried.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnPath;
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let Some(&parent) = parents[node].get(*next_edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            if parent >= parents.len() {
                continue;
            }
            match marks[parent] {
                Mark::New => {
                    marks[parent] = Mark::OnPath;
                    path.push((parent, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(on_path, _)| *on_path == parent).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(on_path, _)| *on_path).collect();
                    cycle.push(parent);
                    found.push(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn finds_a_loop_and_names_its_path() {
        let parents = vec![vec![1], vec![2], vec![0], vec![0]];
        assert_eq!(cycles(&parents), vec![vec![0, 1, 2, 0]]);
        assert_eq!(cycles(&[vec![], vec![0], vec![0, 1]]), Vec::<Vec<usize>>::new());
    }

    proptest! {
        /// Edges that only point at earlier nodes can never loop; one edge
        /// back from the first node to the last closes a loop.
        #[test]
        fn forward_graphs_have_none_and_a_back_edge_makes_one(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..1_000, 0..4), 2..60),
        ) {
            let mut parents: Vec<Vec<usize>> = edges
                .iter()
                .enumerate()
                .map(|(node, targets)| {
                    targets.iter().filter(|_| node > 0).map(|target| target % node.max(1)).collect()
                })
                .collect();
            prop_assert!(cycles(&parents).is_empty());
            let last = parents.len() - 1;
            // Make a chain from the last node down to 0, then close it.
            for (node, targets) in parents.iter_mut().enumerate().skip(1) {
                targets.push(node - 1);
            }
            parents[0].push(last);
            let found = cycles(&parents);
            prop_assert!(!found.is_empty());
            for cycle in found {
                prop_assert_eq!(cycle.first(), cycle.last());
                for pair in cycle.windows(2) {
                    prop_assert!(parents[pair[0]].contains(&pair[1]));
                }
            }
        }
    }
}
