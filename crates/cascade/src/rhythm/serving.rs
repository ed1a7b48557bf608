//! The strategy filter on work: an initiative earns a place in the plan
//! only by serving a key result of an ACTIVE objective that is aligned
//! (to a strategy choice, another objective or key result, or a metric it
//! restores) and in its owner's reach: owned by the owning unit or a unit
//! above it. Work that serves nothing of the kind goes to NOT_NOW, with
//! the reason.

use trellis_proto::okr::v1::objective::State as ObjectiveState;

use crate::graph::{Graph, Kind, NodeId};

/// What the graph says of an initiative's key results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Key results the graph does not hold (or the asker may not see).
    pub missing: Vec<String>,
    /// Whether at least one key result may be served.
    pub serves: bool,
    /// When none may: why not, for NOT_NOW's reason.
    pub reason: String,
}

/// Judges `key_results` for work owned by `owner` (a unit's name);
/// `sees` says which nodes the asker may see.
pub fn judge(graph: &Graph, owner: &str, key_results: &[String], sees: &dyn Fn(NodeId) -> bool) -> Judgement {
    let mut judgement = Judgement::default();
    let mut problems = Vec::new();
    let line = graph
        .find(owner)
        .map(|(unit, _)| graph.org_chain(unit))
        .unwrap_or_default();
    for name in key_results {
        let found = graph
            .find(name)
            .filter(|(id, node)| node.present && node.kind() == Kind::KeyResult && sees(*id));
        let Some((_, node)) = found else {
            judgement.missing.push(name.clone());
            continue;
        };
        let Some(key_result) = node.key_result() else { continue };
        let objective_name = &graph.node(key_result.objective).name;
        let Some(objective) = graph.objective(key_result.objective) else {
            problems.push(format!("{name}: its objective is not known"));
            continue;
        };
        let aligned = objective.aligns_to.iter().any(|edge| !edge.looped) || objective.remedial_for.is_some();
        let in_reach = objective.owner.is_some_and(|unit| line.contains(&unit));
        if objective.state != ObjectiveState::Active {
            problems.push(format!(
                "{name}: {objective_name} is {}, not ACTIVE",
                objective.state.as_str_name()
            ));
        } else if !aligned {
            problems.push(format!("{name}: {objective_name} aligns to nothing"));
        } else if !in_reach {
            let owned_by = objective.owner.map_or("no unit", |unit| &*graph.node(unit).name);
            problems.push(format!(
                "{name}: {objective_name} belongs to {owned_by}, not to {owner} or a unit above it"
            ));
        } else {
            judgement.serves = true;
        }
    }
    if !judgement.serves {
        judgement.reason = if problems.is_empty() {
            "serves no key result".to_owned()
        } else {
            format!(
                "serves no key result of an ACTIVE, aligned objective in its owner's reach ({})",
                problems.join("; ")
            )
        };
    }
    judgement
}
