//! Properties of the graph over random feeds of a small org: any
//! interleaving of the feeds gives the graph the final state gives; no
//! loop enters through alignment or nesting; roll-ups equal a naive
//! recomputation from all the nodes.

use std::collections::HashMap;

use proptest::prelude::*;
use trellis_proto::strategy::v1::ChoiceKind;
use trellis_rules::progress::{self, weighted_mean};

use super::{Change, Data, Graph, NodeId, Sight};

pub(crate) mod events;

use events::*;

/// Whether following non-looped alignment and org-parent edges from any
/// node can come back to it.
fn has_loop(graph: &Graph) -> bool {
    let ups = |id: NodeId| -> Vec<NodeId> {
        let data = &graph.node(id).data;
        let mut ups: Vec<NodeId> = data.aligned_up().into_iter().map(|(up, _)| up).collect();
        if let Data::OrgUnit(unit) = data
            && !unit.parent_looped
        {
            ups.extend(unit.parent);
        }
        ups
    };
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; graph.len()];
    for (start, _) in graph.nodes() {
        if state[start as usize] != 0 {
            continue;
        }
        let mut stack = vec![(start, false)];
        while let Some((id, leaving)) = stack.pop() {
            if leaving {
                state[id as usize] = 2;
                continue;
            }
            if state[id as usize] == 2 {
                continue;
            }
            state[id as usize] = 1;
            stack.push((id, true));
            for up in ups(id) {
                match state[up as usize] {
                    1 => return true,
                    0 => stack.push((up, false)),
                    _ => {}
                }
            }
        }
    }
    false
}

/// Each key result's check-in values, in order, from the events.
fn check_in_values(events: &[Event]) -> HashMap<String, Vec<f64>> {
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    for event in events {
        match event {
            Event::CheckIn { o, k, value, .. } => {
                values
                    .entry(key_result_name(*o, *k))
                    .or_default()
                    .push(f64::from(value % 12));
            }
            Event::DeleteKeyResult { o, k } => {
                values.remove(&key_result_name(*o, *k));
            }
            _ => {}
        }
    }
    values
}

/// An objective's progress from its key results' check-in values,
/// found by scanning every node.
fn naive_objective_progress(graph: &Graph, objective: NodeId, values: &HashMap<String, Vec<f64>>) -> f64 {
    let pairs: Vec<(f64, f64)> = graph
        .nodes()
        .filter(|(_, node)| node.present)
        .filter_map(|(_, node)| {
            let key_result = node.key_result().filter(|kr| kr.objective == objective)?;
            let measure = key_result.measure?;
            let values = values.get(&*node.name).map(Vec::as_slice).unwrap_or_default();
            Some((key_result.weight, progress::progress(&measure, values)))
        })
        .collect();
    weighted_mean(&pairs)
}

fn naive_choice(graph: &Graph, choice: NodeId, depth: usize) -> Option<f64> {
    let mut pairs = Vec::new();
    for (_, node) in graph.nodes().filter(|(_, node)| node.present) {
        match &node.data {
            Data::Objective(objective) if objective.counts() => {
                if let Some(edge) = objective
                    .aligns_to
                    .iter()
                    .find(|edge| edge.target == choice && !edge.looped)
                {
                    pairs.push((edge.weight, objective.progress));
                }
            }
            Data::Strategy(strategy)
                if strategy.parent_choice == Some(choice) && !strategy.parent_looped && depth < 64 =>
            {
                let id = graph.id(&node.name).unwrap_or_default();
                if let Some(value) = naive_strategy(graph, id, depth + 1) {
                    pairs.push((1.0, value));
                }
            }
            _ => {}
        }
    }
    (!pairs.is_empty()).then(|| weighted_mean(&pairs))
}

fn naive_strategy(graph: &Graph, strategy: NodeId, depth: usize) -> Option<f64> {
    let values: Vec<(f64, f64)> = graph
        .nodes()
        .filter(|(_, node)| node.present)
        .filter_map(|(id, node)| match &node.data {
            Data::Choice(choice) if choice.strategy == strategy && choice.kind != ChoiceKind::NotDoing => {
                naive_choice(graph, id, depth).map(|value| (1.0, value))
            }
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| weighted_mean(&values))
}

fn naive_org(graph: &Graph, unit: NodeId) -> Option<f64> {
    let progress: Vec<f64> = graph
        .objectives()
        .filter(|(_, objective)| objective.counts())
        .filter(|(_, objective)| {
            objective
                .owner
                .is_some_and(|owner| graph.org_chain(owner).contains(&unit))
        })
        .map(|(_, objective)| objective.progress)
        .collect();
    (!progress.is_empty()).then(|| progress.iter().sum::<f64>() / progress.len() as f64)
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_interleaving_gives_the_final_state_graph(
        events in proptest::collection::vec(event(), 0..80),
        order in proptest::collection::vec(0..4usize, 1..40),
    ) {
        let feeds = split_feeds(events);
        let incremental = build_incrementally(&feeds, &order, true);
        let final_state = build_from_final_state(&feeds);
        prop_assert_eq!(incremental.facts(), final_state.facts());
    }

    #[test]
    fn a_snapshot_loads_as_the_graph_it_was_taken_of(
        events in proptest::collection::vec(event(), 0..80),
        later in proptest::collection::vec(event(), 0..30),
    ) {
        let feeds = split_feeds(events);
        let mut graph = build_incrementally(&feeds, &[0, 1, 2, 3], true);
        let bytes = graph.to_snapshot().map_err(|err| TestCaseError::fail(err.to_string()))?;
        let mut loaded = Graph::from_snapshot(&bytes).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(loaded.facts(), graph.facts());
        prop_assert_eq!(loaded.edge_count(), graph.edge_count());
        for (id, node) in graph.nodes() {
            let mut below = node.below.clone();
            let mut loaded_below = loaded.node(id).below.clone();
            below.sort_unstable();
            loaded_below.sort_unstable();
            prop_assert_eq!(below, loaded_below, "below {}", node.name);
            prop_assert_eq!(loaded.is_private(id), graph.is_private(id));
            if let Data::HealthMetric(metric) = &node.data {
                prop_assert_eq!(loaded.metrics_of(&metric.accountable).len(), graph.metrics_of(&metric.accountable).len());
            }
        }
        // Both go on from there alike.
        for event in &later {
            let (change, _) = to_change(event, true);
            graph.apply(change.clone());
            loaded.apply(change);
        }
        prop_assert_eq!(loaded.facts(), graph.facts());
    }

    /// Whatever bytes a snapshot file holds, loading them gives a graph
    /// or a reason, never a panic.
    #[test]
    fn any_bytes_load_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Graph::from_snapshot(&bytes);
    }

    #[test]
    fn applying_a_resource_state_again_changes_nothing(events in proptest::collection::vec(event(), 0..60)) {
        let feeds = split_feeds(events);
        let once = build_incrementally(&feeds, &[0, 1, 2, 3], true);
        let mut twice = once.clone();
        for feed in &feeds {
            for event in feed {
                let (change, resource) = to_change(event, true);
                if resource.is_some() && !matches!(change, Change::Delete(_)) {
                    // Re-delivering the final state of every resource.
                    let name = resource.unwrap_or_default();
                    let last = feed.iter().rposition(|other| to_change(other, true).1.as_deref() == Some(name.as_str()));
                    if last.is_some_and(|last| std::ptr::eq(&feed[last], event)) {
                        twice.apply(change);
                    }
                }
            }
        }
        prop_assert_eq!(once.facts(), twice.facts());
    }

    #[test]
    fn no_loop_enters_through_alignment_or_nesting(events in proptest::collection::vec(event(), 0..120)) {
        let mut graph = Graph::new();
        for event in plausible(events) {
            graph.apply(to_change(&event, false).0);
            prop_assert!(!has_loop(&graph), "a loop after {:?}", event);
        }
    }

    #[test]
    fn rollups_equal_a_naive_recomputation(
        events in proptest::collection::vec(event(), 0..100),
        order in proptest::collection::vec(0..4usize, 1..20),
    ) {
        let feeds = split_feeds(events);
        let graph = build_incrementally(&feeds, &order, true);
        let values = check_in_values(&feeds[2]);
        for (id, node) in graph.nodes().filter(|(_, node)| node.present) {
            match &node.data {
                Data::Objective(objective) => {
                    let naive = naive_objective_progress(&graph, id, &values);
                    prop_assert!((objective.progress - naive).abs() < 1e-9, "{}: {} vs {naive}", node.name, objective.progress);
                }
                Data::Choice(_) => prop_assert!(close(graph.rollup(id, None, Sight::ALL).value, naive_choice(&graph, id, 0)), "{}", node.name),
                Data::Strategy(_) => prop_assert!(close(graph.rollup(id, None, Sight::ALL).value, naive_strategy(&graph, id, 0)), "{}", node.name),
                Data::OrgUnit(_) => prop_assert!(close(graph.rollup(id, None, Sight::ALL).value, naive_org(&graph, id)), "{}", node.name),
                _ => {}
            }
        }
    }

    #[test]
    fn what_a_sight_hides_answers_as_if_it_were_not_there(
        events in proptest::collection::vec(event(), 0..100),
        hidden in proptest::collection::hash_set(0..OBJECTIVES, 0..4),
    ) {
        let belongs = |name: &str, o: usize| {
            let objective = objective_name(o);
            name == objective || name.starts_with(&format!("{objective}/"))
        };
        let of_hidden = |event: &Event| match event {
            Event::Objective { i, .. } => hidden.contains(i),
            Event::KeyResult { o, .. } | Event::DeleteKeyResult { o, .. } | Event::CheckIn { o, .. } => hidden.contains(o),
            _ => false,
        };
        let events = plausible(events);
        let seen: Vec<Event> = events.iter().filter(|event| !of_hidden(event)).cloned().collect();
        let whole = build_incrementally(&split_feeds(events), &[0, 1, 2, 3], true);
        let without = build_incrementally(&split_feeds(seen), &[0, 1, 2, 3], true);
        let sees = |id: NodeId| !hidden.iter().any(|o| belongs(&whole.node(id).name, *o));
        let sight = Sight::only(&sees);
        let names = |graph: &Graph, ids: Vec<NodeId>| -> Vec<String> {
            ids.into_iter().map(|id| graph.node(id).name.to_string()).collect()
        };
        for (id, node) in whole.nodes().filter(|(_, node)| node.present) {
            if matches!(node.data, Data::OrgUnit(_) | Data::Choice(_) | Data::Strategy(_)) {
                let Some((other, _)) = without.find(&node.name) else { continue };
                prop_assert!(
                    close(whole.rollup(id, None, sight).value, without.rollup(other, None, Sight::ALL).value),
                    "{}", node.name
                );
            }
        }
        for i in 0..OBJECTIVES {
            let (Some((cycle, _)), Some((other, _))) = (whole.find(&format!("cycles/y{i}")), without.find(&format!("cycles/y{i}"))) else {
                continue;
            };
            prop_assert_eq!(names(&whole, whole.orphans(cycle, None, sight)), names(&without, without.orphans(other, None, Sight::ALL)));
            let risky = |graph: &Graph, sight| -> Vec<String> {
                let cycle = graph.find(&format!("cycles/y{i}")).map(|(id, _)| id).unwrap_or_default();
                graph.risks(cycle, None, 5, 0, sight).into_iter().map(|risk| graph.node(risk.objective).name.to_string()).collect()
            };
            prop_assert_eq!(risky(&whole, sight), risky(&without, Sight::ALL));
        }
    }
}
