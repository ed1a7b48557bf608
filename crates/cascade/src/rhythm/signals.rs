//! What the graph tells the rhythm: a subject's colour before and after a
//! feed change, so a move between colours becomes a [`Move`]. The graph
//! holds each key result's latest confidence and each metric's status, so
//! nothing else needs remembering; replaying the feeds from the start
//! gives the same moves at the same sequences.

use trellis_proto::health::v1::Status as MetricStatus;

use super::{colour::Colour, conversations::Subject};
use crate::graph::{Change, Data, Graph, Kind, Resource, Touch, parent_name};

/// A subject's colour as the graph holds it, with who answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub colour: Colour,
    /// The key result's owner, the metric's accountable person.
    pub person: String,
    pub title: String,
    /// The owning unit's name ("" when unknown).
    pub org_unit: String,
    pub private: bool,
    /// What was seen, for people: "confidence 3", "status RED".
    pub detail: String,
}

/// A subject that changed colour at a feed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub subject: Subject,
    /// The feed the event came from, and its place there.
    pub source: &'static str,
    pub sequence: i64,
    pub at_micros: i64,
    pub from: Colour,
    pub reading: Reading,
}

/// The subject whose colour `change` may move: a check-in with a
/// confidence (values fed from a metric carry none), or a metric's state.
pub fn subject_of(change: &Change) -> Option<Subject> {
    match change {
        Change::CheckIn(check_in) if check_in.source.is_empty() => parent_name(&check_in.name, 1)
            .filter(|name| Kind::of_name(name) == Some(Kind::KeyResult))
            .map(|name| Subject::KeyResult(name.to_owned())),
        Change::Upsert(resource) => match resource.as_ref() {
            Resource::HealthMetric(metric) => Some(Subject::Metric(metric.name.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The subject's colour now; `None` while it has none (no check-in yet,
/// a metric not measured).
pub fn read(graph: &Graph, subject: &Subject) -> Option<Reading> {
    let (Subject::KeyResult(name) | Subject::Metric(name)) = subject;
    let (id, node) = graph.find(name)?;
    if !node.present {
        return None;
    }
    let unit_name = |unit: Option<u32>| unit.map_or_else(String::new, |unit| graph.name_of(unit));
    let (colour, person, org_unit, detail) = match &node.data {
        Data::KeyResult(key_result) => {
            let confidence = key_result.confidence?;
            let owner = graph
                .objective(key_result.objective)
                .and_then(|objective| objective.owner);
            (
                Colour::of_confidence(confidence)?,
                key_result.owner.to_string(),
                unit_name(owner),
                format!("confidence {confidence}"),
            )
        }
        Data::HealthMetric(metric) => {
            let colour = match metric.status {
                MetricStatus::Green => Colour::Green,
                MetricStatus::Yellow => Colour::Yellow,
                MetricStatus::Red => Colour::Red,
                _ => return None,
            };
            (
                colour,
                metric.accountable.to_string(),
                unit_name(metric.owner),
                format!("status {colour}"),
            )
        }
        _ => return None,
    };
    Some(Reading {
        colour,
        person,
        title: String::from(&*node.title),
        org_unit,
        private: graph.is_private(id),
        detail,
    })
}

/// Applies `change` to `graph`, telling whether its subject moved colour.
pub fn apply_watching(
    graph: &mut Graph,
    change: Change,
    source: &'static str,
    sequence: i64,
    at_micros: i64,
) -> (Vec<Touch>, Option<Move>) {
    let subject = subject_of(&change);
    let before = subject.as_ref().and_then(|subject| read(graph, subject));
    let touched = graph.apply(change);
    let moved = subject.and_then(|subject| {
        let after = read(graph, &subject)?;
        let from = before?.colour;
        (from != after.colour).then_some(Move {
            subject,
            source,
            sequence,
            at_micros,
            from,
            reading: after,
        })
    });
    (touched, moved)
}

#[cfg(test)]
mod tests {
    use trellis_proto::{health::v1 as health_pb, okr::v1 as okr_pb};

    use super::*;

    fn check_in(name: &str, confidence: i32) -> Change {
        Change::CheckIn(okr_pb::CheckIn {
            name: name.into(),
            confidence,
            value: 1.0,
            ..Default::default()
        })
    }

    #[test]
    fn a_confidence_across_a_band_is_a_move_within_one_is_not() {
        let mut graph = Graph::new();
        let key_result = okr_pb::KeyResult {
            name: "objectives/o/keyResults/k".into(),
            owner: "ana".into(),
            title: "ARR".into(),
            ..Default::default()
        };
        graph.apply(Change::Upsert(Box::new(Resource::KeyResult(key_result))));
        let name = "objectives/o/keyResults/k/checkIns/c";
        let (_, first) = apply_watching(&mut graph, check_in(name, 8), "okr", 1, 10);
        assert!(first.is_none(), "the first colour is where it starts");
        let (_, same) = apply_watching(&mut graph, check_in(name, 7), "okr", 2, 20);
        assert!(same.is_none(), "8 to 7 stays green");
        let (_, moved) = apply_watching(&mut graph, check_in(name, 3), "okr", 3, 30);
        let moved = moved.expect("7 to 3 is a move");
        assert_eq!((moved.from, moved.reading.colour), (Colour::Green, Colour::Red));
        assert_eq!(moved.reading.person, "ana");
        assert_eq!(moved.reading.detail, "confidence 3");
    }

    #[test]
    fn a_metric_turning_red_is_a_move() {
        let mut graph = Graph::new();
        let metric = |status: health_pb::Status| {
            Change::Upsert(Box::new(Resource::HealthMetric(health_pb::HealthMetric {
                name: "healthMetrics/csat".into(),
                accountable: "sam".into(),
                status: status as i32,
                ..Default::default()
            })))
        };
        let (_, unmeasured) = apply_watching(&mut graph, metric(health_pb::Status::Unspecified), "health", 1, 1);
        assert!(unmeasured.is_none());
        let (_, first) = apply_watching(&mut graph, metric(health_pb::Status::Green), "health", 2, 2);
        assert!(first.is_none());
        let (_, moved) = apply_watching(&mut graph, metric(health_pb::Status::Red), "health", 3, 3);
        assert_eq!(
            moved.map(|m| (m.from, m.reading.person)),
            Some((Colour::Green, "sam".into()))
        );
    }
}
