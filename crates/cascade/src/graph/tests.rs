//! Properties of the graph over random feeds of a small org: any
//! interleaving of the feeds gives the graph the final state gives; no
//! loop enters through alignment or nesting; roll-ups equal a naive
//! recomputation from all the nodes.

use std::collections::HashMap;

use proptest::prelude::*;
use trellis_proto::{
    cascade::v1 as org_pb,
    health::v1::{self as health_pb, Status as MetricStatus},
    okr::v1::{self as okr_pb, AlignmentTarget, alignment_target::Target, cycle, key_result, objective},
    strategy::v1::{self as strategy_pb, ChoiceKind, StrategyState},
};
use trellis_rules::progress::{self, weighted_mean};

use super::{Change, Data, Graph, NodeId, Resource};

const UNITS: usize = 5;
const STRATEGIES: usize = 3;
const CHOICES: usize = 3;
const OBJECTIVES: usize = 7;
const KEY_RESULTS: usize = 2;

fn unit(i: usize) -> String {
    format!("orgUnits/u{i}")
}

fn strategy(i: usize) -> String {
    format!("strategies/s{i}")
}

fn choice(s: usize, c: usize) -> String {
    format!("strategies/s{s}/choices/c{c}")
}

fn objective_name(i: usize) -> String {
    format!("objectives/o{i}")
}

fn key_result_name(o: usize, k: usize) -> String {
    format!("objectives/o{o}/keyResults/k{k}")
}

/// The fixed measure of a key result: a measure never changes once
/// check-ins exist, as the OKR service locks it at activation.
fn measure_kind(o: usize, k: usize) -> key_result::Kind {
    match (o + k) % 3 {
        0 => key_result::Kind::Increase,
        1 => key_result::Kind::Threshold,
        _ => key_result::Kind::Milestone,
    }
}

/// One feed event, before it is turned into a change.
#[derive(Debug, Clone)]
enum Event {
    Unit {
        i: usize,
        parent: usize,
        title: u8,
    },
    DeleteUnit(usize),
    Strategy {
        i: usize,
        parent: Option<(usize, usize)>,
        owner: usize,
        state: u8,
        kinds: Vec<u8>,
    },
    Choice {
        s: usize,
        c: usize,
        kind: u8,
    },
    Cycle {
        i: usize,
        state: u8,
    },
    Objective {
        i: usize,
        cycle: usize,
        owner: usize,
        state: u8,
        aligns: Vec<(u8, usize, usize, u8)>,
        guard: Option<usize>,
    },
    KeyResult {
        o: usize,
        k: usize,
        weight: u8,
    },
    DeleteKeyResult {
        o: usize,
        k: usize,
    },
    CheckIn {
        o: usize,
        k: usize,
        value: u8,
        confidence: u8,
        n: usize,
    },
    Metric {
        i: usize,
        owner: usize,
        status: u8,
    },
}

/// Which feed an event belongs to.
fn feed_of(event: &Event) -> usize {
    match event {
        Event::Unit { .. } | Event::DeleteUnit(_) => 0,
        Event::Strategy { .. } | Event::Choice { .. } => 1,
        Event::Cycle { .. }
        | Event::Objective { .. }
        | Event::KeyResult { .. }
        | Event::DeleteKeyResult { .. }
        | Event::CheckIn { .. } => 2,
        Event::Metric { .. } => 3,
    }
}

fn choice_kind(kind: u8) -> ChoiceKind {
    [
        ChoiceKind::WhereToPlay,
        ChoiceKind::HowToWin,
        ChoiceKind::Capability,
        ChoiceKind::NotDoing,
    ][usize::from(kind) % 4]
}

/// The change an event makes, and the resource it is about (None for a
/// check-in, which is a fact of its own).
fn to_change(event: &Event, acyclic: bool) -> (Change, Option<String>) {
    match event {
        Event::Unit { i, parent, title } => {
            let parent = if *i == 0 {
                String::new()
            } else if acyclic {
                unit(parent % i)
            } else {
                unit(*parent)
            };
            let resource = org_pb::OrgUnit {
                name: unit(*i),
                parent,
                display_name: format!("Unit {i} v{title}"),
                ..Default::default()
            };
            (Change::Upsert(Box::new(Resource::OrgUnit(resource))), Some(unit(*i)))
        }
        Event::DeleteUnit(i) => (Change::Delete(unit(*i)), Some(unit(*i))),
        Event::Strategy {
            i,
            parent,
            owner,
            state,
            kinds,
        } => {
            let parent_choice = match parent {
                Some((s, c)) if !acyclic => choice(*s, *c),
                Some((s, c)) if *i > 0 => choice(s % i, *c),
                _ => String::new(),
            };
            let resource = strategy_pb::Strategy {
                name: strategy(*i),
                display_name: format!("Strategy {i}"),
                owner: unit(*owner),
                parent_choice,
                state: [
                    StrategyState::Draft,
                    StrategyState::Active,
                    StrategyState::UnderReview,
                    StrategyState::Retired,
                ][usize::from(*state) % 4] as i32,
                choices: kinds
                    .iter()
                    .enumerate()
                    .map(|(c, kind)| strategy_pb::Choice {
                        name: choice(*i, c),
                        kind: choice_kind(*kind) as i32,
                        title: format!("Choice {c}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::Strategy(resource))),
                Some(strategy(*i)),
            )
        }
        Event::Choice { s, c, kind } => {
            let resource = strategy_pb::Choice {
                name: choice(*s, *c),
                kind: choice_kind(*kind) as i32,
                title: format!("Choice {c}"),
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::Choice(resource))),
                Some(choice(*s, *c)),
            )
        }
        Event::Cycle { i, state } => {
            let resource = okr_pb::Cycle {
                name: format!("cycles/y{i}"),
                org_unit: unit(0),
                state: [cycle::State::Planning, cycle::State::Active, cycle::State::Review][usize::from(*state) % 3]
                    as i32,
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::Cycle(resource))),
                Some(format!("cycles/y{i}")),
            )
        }
        Event::Objective {
            i,
            cycle,
            owner,
            state,
            aligns,
            guard,
        } => {
            let aligns_to = aligns
                .iter()
                .map(|(kind, a, b, weight)| {
                    let other = if acyclic && *i > 0 { a % i } else { *a };
                    let target = match kind % 3 {
                        0 => Target::Choice(choice(a % STRATEGIES, b % CHOICES)),
                        1 if !acyclic || *i > 0 => Target::Objective(objective_name(other)),
                        2 if !acyclic || *i > 0 => Target::KeyResult(key_result_name(other, b % KEY_RESULTS)),
                        _ => Target::Choice(choice(a % STRATEGIES, b % CHOICES)),
                    };
                    AlignmentTarget {
                        target: Some(target),
                        weight: f64::from(*weight % 3 + 1) / 2.0,
                    }
                })
                .collect();
            let resource = okr_pb::Objective {
                name: objective_name(*i),
                title: format!("Objective {i}"),
                cycle: format!("cycles/y{cycle}"),
                owner: unit(*owner),
                state: [
                    objective::State::Draft,
                    objective::State::Active,
                    objective::State::Paused,
                    objective::State::Cancelled,
                ][usize::from(*state) % 4] as i32,
                aligns_to,
                guardrails: guard.map(|m| format!("healthMetrics/m{m}")).into_iter().collect(),
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::Objective(resource))),
                Some(objective_name(*i)),
            )
        }
        Event::KeyResult { o, k, weight } => {
            let resource = okr_pb::KeyResult {
                name: key_result_name(*o, *k),
                title: format!("KR {k}"),
                kind: measure_kind(*o, *k) as i32,
                start: 0.0,
                target: 10.0,
                lower: 3.0,
                upper: 7.0,
                weight: f64::from(*weight % 3),
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::KeyResult(resource))),
                Some(key_result_name(*o, *k)),
            )
        }
        Event::DeleteKeyResult { o, k } => (Change::Delete(key_result_name(*o, *k)), Some(key_result_name(*o, *k))),
        Event::CheckIn {
            o,
            k,
            value,
            confidence,
            n,
        } => {
            let check_in = okr_pb::CheckIn {
                name: format!("{}/checkIns/c{n}", key_result_name(*o, *k)),
                value: f64::from(value % 12),
                confidence: i32::from(confidence % 11),
                ..Default::default()
            };
            (Change::CheckIn(check_in), None)
        }
        Event::Metric { i, owner, status } => {
            let resource = health_pb::HealthMetric {
                name: format!("healthMetrics/m{i}"),
                display_name: format!("Metric {i}"),
                owner: unit(*owner),
                status: [
                    MetricStatus::Green,
                    MetricStatus::Yellow,
                    MetricStatus::Red,
                    MetricStatus::Unknown,
                ][usize::from(*status) % 4] as i32,
                ..Default::default()
            };
            (
                Change::Upsert(Box::new(Resource::HealthMetric(resource))),
                Some(format!("healthMetrics/m{i}")),
            )
        }
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..UNITS, 0..UNITS, any::<u8>()).prop_map(|(i, parent, title)| Event::Unit { i, parent, title }),
        (1..UNITS).prop_map(Event::DeleteUnit),
        (
            0..STRATEGIES,
            proptest::option::of((0..STRATEGIES, 0..CHOICES)),
            0..UNITS,
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=CHOICES)
        )
            .prop_map(|(i, parent, owner, state, kinds)| Event::Strategy {
                i,
                parent,
                owner,
                state,
                kinds
            }),
        (0..STRATEGIES, 0..CHOICES, any::<u8>()).prop_map(|(s, c, kind)| Event::Choice { s, c, kind }),
        (0..2usize, any::<u8>()).prop_map(|(i, state)| Event::Cycle { i, state }),
        (
            0..OBJECTIVES,
            0..2usize,
            0..UNITS,
            any::<u8>(),
            proptest::collection::vec((any::<u8>(), 0..OBJECTIVES, 0..CHOICES, any::<u8>()), 0..3),
            proptest::option::of(0..2usize)
        )
            .prop_map(|(i, cycle, owner, state, aligns, guard)| Event::Objective {
                i,
                cycle,
                owner,
                state,
                aligns,
                guard
            }),
        (0..OBJECTIVES, 0..KEY_RESULTS, any::<u8>()).prop_map(|(o, k, weight)| Event::KeyResult { o, k, weight }),
        (0..OBJECTIVES, 0..KEY_RESULTS).prop_map(|(o, k)| Event::DeleteKeyResult { o, k }),
        (0..OBJECTIVES, 0..KEY_RESULTS, any::<u8>(), any::<u8>()).prop_map(|(o, k, value, confidence)| {
            Event::CheckIn {
                o,
                k,
                value,
                confidence,
                n: 0,
            }
        }),
        (0..2usize, 0..UNITS, any::<u8>()).prop_map(|(i, owner, status)| Event::Metric { i, owner, status }),
    ]
}

/// The OKR service refuses check-ins on a key result that does not
/// exist, and ids are never reused: drop what could not happen.
fn plausible(events: Vec<Event>) -> Vec<Event> {
    let mut live: HashMap<(usize, usize), bool> = HashMap::new();
    let mut kept = Vec::new();
    for (n, event) in events.into_iter().enumerate() {
        match event {
            Event::KeyResult { o, k, .. } => {
                if live.get(&(o, k)) == Some(&false) {
                    continue;
                }
                live.insert((o, k), true);
                kept.push(event);
            }
            Event::DeleteKeyResult { o, k } => {
                if live.get(&(o, k)) == Some(&true) {
                    live.insert((o, k), false);
                    kept.push(event);
                }
            }
            Event::CheckIn {
                o,
                k,
                value,
                confidence,
                ..
            } => {
                if live.get(&(o, k)) == Some(&true) {
                    kept.push(Event::CheckIn {
                        o,
                        k,
                        value,
                        confidence,
                        n,
                    });
                }
            }
            other => kept.push(other),
        }
    }
    kept
}

fn build_incrementally(feeds: &[Vec<Event>], order: &[usize], acyclic: bool) -> Graph {
    let mut graph = Graph::new();
    let mut next = vec![0; feeds.len()];
    let mut pick = order.iter().cycle();
    let total: usize = feeds.iter().map(Vec::len).sum();
    for _ in 0..total {
        let feed = loop {
            let candidate = pick.next().copied().unwrap_or(0) % feeds.len();
            let feed = (candidate..candidate + feeds.len())
                .map(|f| f % feeds.len())
                .find(|f| next[*f] < feeds[*f].len());
            if let Some(feed) = feed {
                break feed;
            }
        };
        graph.apply(to_change(&feeds[feed][next[feed]], acyclic).0);
        next[feed] += 1;
    }
    graph
}

/// Each resource once, in its final state, feed after feed; then the
/// check-ins in their feed's order.
fn build_from_final_state(feeds: &[Vec<Event>]) -> Graph {
    let mut graph = Graph::new();
    let mut check_ins = Vec::new();
    for feed in feeds {
        let changes: Vec<(Change, Option<String>)> = feed.iter().map(|event| to_change(event, true)).collect();
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (index, (_, resource)) in changes.iter().enumerate() {
            if let Some(resource) = resource {
                last.insert(resource, index);
            }
        }
        for (index, (change, resource)) in changes.iter().enumerate() {
            match resource {
                Some(resource) if last.get(resource.as_str()) == Some(&index) => {
                    graph.apply(change.clone());
                }
                Some(_) => {}
                None => check_ins.push(change.clone()),
            }
        }
    }
    for check_in in check_ins {
        graph.apply(check_in);
    }
    graph
}

fn split_feeds(events: Vec<Event>) -> Vec<Vec<Event>> {
    let mut feeds = vec![Vec::new(); 4];
    for event in plausible(events) {
        feeds[feed_of(&event)].push(event);
    }
    feeds
}

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
                Data::Choice(_) => prop_assert!(close(graph.rollup(id, None).value, naive_choice(&graph, id, 0)), "{}", node.name),
                Data::Strategy(_) => prop_assert!(close(graph.rollup(id, None).value, naive_strategy(&graph, id, 0)), "{}", node.name),
                Data::OrgUnit(_) => prop_assert!(close(graph.rollup(id, None).value, naive_org(&graph, id)), "{}", node.name),
                _ => {}
            }
        }
    }
}
