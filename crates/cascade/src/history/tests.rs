//! As-of over random histories: whatever the cut, and whichever earlier
//! snapshot the graph starts from, the graph as of a time is the graph of
//! exactly the events committed by then.

use futures::StreamExt;
use proptest::prelude::*;
use prost::{Message, Name};
use trellis_proto::{
    cascade::v1 as org_pb,
    feed::v1::{ChangeEvent, ChangeKind},
    health::v1 as health_pb,
    okr::v1 as okr_pb,
    strategy::v1 as strategy_pb,
};

use super::{AsOf, replay::Replay};
use crate::graph::{
    Change, Graph, Kind, Resource,
    tests::events::{event, feed_of, plausible, to_change},
};

const FEEDS: [&str; 4] = ["org", "strategy", "okr", "health"];

fn type_name<M: Name>() -> String {
    M::full_name()
}

/// The feed event a change is, as its service would write it.
fn to_event(change: Change, sequence: i64, commit_micros: i64) -> ChangeEvent {
    let (kind, resource_type, name, bytes) = match change {
        Change::Upsert(resource) => {
            let name = resource.name().to_owned();
            let (resource_type, bytes) = match *resource {
                Resource::OrgUnit(m) => (type_name::<org_pb::OrgUnit>(), m.encode_to_vec()),
                Resource::Strategy(m) => (type_name::<strategy_pb::Strategy>(), m.encode_to_vec()),
                Resource::Choice(m) => (type_name::<strategy_pb::Choice>(), m.encode_to_vec()),
                Resource::Cycle(m) => (type_name::<okr_pb::Cycle>(), m.encode_to_vec()),
                Resource::Objective(m) => (type_name::<okr_pb::Objective>(), m.encode_to_vec()),
                Resource::KeyResult(m) => (type_name::<okr_pb::KeyResult>(), m.encode_to_vec()),
                Resource::HealthMetric(m) => (type_name::<health_pb::HealthMetric>(), m.encode_to_vec()),
            };
            (ChangeKind::Updated, resource_type, name, bytes)
        }
        Change::Delete(name) => {
            let resource_type = match Kind::of_name(&name) {
                Some(Kind::OrgUnit) => type_name::<org_pb::OrgUnit>(),
                Some(Kind::KeyResult) => type_name::<okr_pb::KeyResult>(),
                other => panic!("no deletes of {other:?} in the generated histories"),
            };
            (ChangeKind::Deleted, resource_type, name, Vec::new())
        }
        Change::CheckIn(check_in) => (
            ChangeKind::Created,
            type_name::<okr_pb::CheckIn>(),
            check_in.name.clone(),
            check_in.encode_to_vec(),
        ),
    };
    ChangeEvent {
        sequence,
        kind: kind as i32,
        resource_name: name,
        resource: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{resource_type}"),
            value: bytes,
        }),
        resource_type,
        commit_time: Some(trellis_foundation::time::to_timestamp(commit_micros)),
        ..ChangeEvent::default()
    }
}

/// A feed as a watcher with heartbeats reads it after `cursor`: its
/// events, a heartbeat at its head, then nothing more (it stays open).
fn watched(events: &[ChangeEvent], cursor: i64) -> super::replay::EventStream {
    let head = events.last().map_or(0, |event| event.sequence);
    let mut delivered: Vec<Result<ChangeEvent, tonic::Status>> = events
        .iter()
        .filter(|event| event.sequence > cursor)
        .map(|event| {
            Ok(ChangeEvent {
                head_sequence: head,
                ..event.clone()
            })
        })
        .collect();
    delivered.push(Ok(ChangeEvent {
        head_sequence: head,
        ..ChangeEvent::default()
    }));
    futures::stream::iter(delivered)
        .chain(futures::stream::pending())
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn as_of_any_cut_is_the_graph_of_the_events_committed_by_then(
        events in proptest::collection::vec(event(), 0..60),
        gaps in proptest::collection::vec(0..3i64, 60),
        cut in 0..150i64,
        snapshot_percent in 0..=100i64,
    ) {
        // Commit times that never go back (equal ones across feeds too).
        let events = plausible(events);
        let mut feeds: Vec<Vec<ChangeEvent>> = vec![Vec::new(); FEEDS.len()];
        let mut expected = Graph::new();
        let mut at_snapshot = Graph::new();
        let mut cursors = std::collections::HashMap::new();
        // Anywhere from the start of the history to the cut.
        let snapshot = cut * snapshot_percent / 100;
        let mut time = 0;
        for (index, generated) in events.iter().enumerate() {
            time += gaps[index % gaps.len()];
            let feed = feed_of(generated);
            let change = to_change(generated, true).0;
            if time <= cut {
                expected.apply(change.clone());
            }
            if time <= snapshot {
                at_snapshot.apply(change.clone());
            }
            let sequence = i64::try_from(feeds[feed].len()).unwrap_or(i64::MAX) + 1;
            if time <= snapshot {
                cursors.insert(FEEDS[feed].to_owned(), sequence);
            }
            feeds[feed].push(to_event(change, sequence, time));
        }
        // From the snapshot (as saved and loaded), the feeds' tail to the cut.
        let bytes = at_snapshot.to_snapshot().expect("a snapshot");
        let mut as_of = AsOf {
            graph: Graph::from_snapshot(&bytes).expect("it loads"),
            cursors: cursors.clone(),
        };
        let opened = FEEDS
            .iter()
            .zip(&feeds)
            .map(|(source, events)| {
                let cursor = cursors.get(*source).copied().unwrap_or(0);
                (*source, cursor, watched(events, cursor))
            })
            .collect();
        let mut replay = Replay::over(opened, cut);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let mut last_time = i64::MIN;
        while let Some(replayed) = runtime.block_on(replay.next()).expect("the history reads") {
            prop_assert!(replayed.commit_micros <= cut);
            prop_assert!(replayed.commit_micros >= last_time, "commit order");
            last_time = replayed.commit_micros;
            as_of.apply(&replayed);
        }
        prop_assert_eq!(as_of.graph.facts(), expected.facts());
    }
}
