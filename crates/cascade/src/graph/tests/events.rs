//! Random feeds for the graph's property tests: events of every kind
//! on a small fixed name space, made plausible, split per feed, and
//! built into a graph in any order or from their final state.

use std::collections::HashMap;

use proptest::prelude::*;
use trellis_proto::{
    cascade::v1 as org_pb,
    health::v1::{self as health_pb, Status as MetricStatus},
    okr::v1::{self as okr_pb, AlignmentTarget, alignment_target::Target, cycle, key_result, objective},
    strategy::v1::{self as strategy_pb, ChoiceKind, StrategyState},
};

use crate::graph::{Change, Graph, Resource};

pub(crate) const UNITS: usize = 5;
pub(crate) const STRATEGIES: usize = 3;
pub(crate) const CHOICES: usize = 3;
pub(crate) const OBJECTIVES: usize = 7;
pub(crate) const KEY_RESULTS: usize = 2;

pub(crate) fn unit(i: usize) -> String {
    format!("orgUnits/u{i}")
}

pub(crate) fn strategy(i: usize) -> String {
    format!("strategies/s{i}")
}

pub(crate) fn choice(s: usize, c: usize) -> String {
    format!("strategies/s{s}/choices/c{c}")
}

pub(crate) fn objective_name(i: usize) -> String {
    format!("objectives/o{i}")
}

pub(crate) fn key_result_name(o: usize, k: usize) -> String {
    format!("objectives/o{o}/keyResults/k{k}")
}

/// The fixed measure of a key result: a measure never changes once
/// check-ins exist, as the OKR service locks it at activation.
pub(crate) fn measure_kind(o: usize, k: usize) -> key_result::Kind {
    match (o + k) % 3 {
        0 => key_result::Kind::Increase,
        1 => key_result::Kind::Threshold,
        _ => key_result::Kind::Milestone,
    }
}

/// One feed event, before it is turned into a change.
#[derive(Debug, Clone)]
pub(crate) enum Event {
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
pub(crate) fn feed_of(event: &Event) -> usize {
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

pub(crate) fn choice_kind(kind: u8) -> ChoiceKind {
    [
        ChoiceKind::WhereToPlay,
        ChoiceKind::HowToWin,
        ChoiceKind::Capability,
        ChoiceKind::NotDoing,
    ][usize::from(kind) % 4]
}

/// The change an event makes, and the resource it is about (None for a
/// check-in, which is a fact of its own).
pub(crate) fn to_change(event: &Event, acyclic: bool) -> (Change, Option<String>) {
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

pub(crate) fn event() -> impl Strategy<Value = Event> {
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
pub(crate) fn plausible(events: Vec<Event>) -> Vec<Event> {
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

pub(crate) fn build_incrementally(feeds: &[Vec<Event>], order: &[usize], acyclic: bool) -> Graph {
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
pub(crate) fn build_from_final_state(feeds: &[Vec<Event>]) -> Graph {
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

pub(crate) fn split_feeds(events: Vec<Event>) -> Vec<Vec<Event>> {
    let mut feeds = vec![Vec::new(); 4];
    for event in plausible(events) {
        feeds[feed_of(&event)].push(event);
    }
    feeds
}
