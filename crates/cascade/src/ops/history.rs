//! Questions about the past: the graph an as-of question is answered
//! from, and how one node changed over a time range.

use std::sync::Arc;

use prost_types::Timestamp;
use trellis_foundation::{
    FieldViolations,
    time::{TIME_RANGE, from_timestamp, is_valid_timestamp, now_micros, to_timestamp},
};
use trellis_proto::cascade::v1::{self as pb, alignment_history_entry::Aspect};

use crate::{
    error::Error,
    graph::{Graph, Kind, NodeId, Sight},
    history::{
        AsOf, History, Replayed,
        changes::{Aspects, Changed, risk_words},
    },
    ops::{
        AlignmentOps,
        alignment::DEFAULT_CONFIDENCE_BELOW,
        answers::{misalignment_view, node_view, risk_reason_view},
        sight::Asker,
    },
};

/// Changes one history answer may hold (over every page): a range with
/// more is refused, to be asked in narrower ranges.
pub const MAX_HISTORY_ENTRIES: usize = 10_000;
/// Events walked per hand-off to the blocking pool.
const WALK_BATCH: usize = 4_096;

impl AlignmentOps {
    /// The time whatever depends on the clock is judged at: the as-of
    /// time when the question is about the past.
    pub(crate) fn now(&self) -> i64 {
        self.as_of_micros.unwrap_or_else(now_micros)
    }

    fn history(&self) -> Result<&Arc<History>, Error> {
        self.history.as_ref().ok_or_else(|| {
            Error::Shared(trellis_foundation::Error::FailedPrecondition(
                "this server keeps no history of the cascade".to_owned(),
            ))
        })
    }

    /// These operations as of `timestamp`, with the graph as it was then.
    pub(crate) async fn as_of(&self, timestamp: &Timestamp) -> Result<(AlignmentOps, Arc<AsOf>), Error> {
        let mut violations = FieldViolations::default();
        let at = micros_of("as_of", timestamp, &mut violations);
        violations.into_result()?;
        let Some(at) = at else {
            return Err(Error::Corrupt("a violation went missing".into()));
        };
        let history = self.history()?;
        if let Some(problem) = history.range_problem(at).await? {
            return Err(Error::invalid("as_of", problem));
        }
        let graph = history.graph_at(at).await?;
        let ops = AlignmentOps {
            as_of_micros: Some(at),
            ..self.clone()
        };
        Ok((ops, graph))
    }

    /// How the node named in `request` changed over its range.
    pub(crate) async fn alignment_history(
        &self,
        asker: Asker,
        request: pb::ListAlignmentHistoryRequest,
    ) -> Result<pb::ListAlignmentHistoryResponse, Error> {
        let mut violations = FieldViolations::default();
        violations.require(
            Kind::of_name(&request.name).is_some(),
            "name",
            format!("{:?} is not the name of a node of the cascade", request.name),
        );
        let start = request
            .start_time
            .as_ref()
            .and_then(|time| micros_of("start_time", time, &mut violations));
        let end = request
            .end_time
            .as_ref()
            .and_then(|time| micros_of("end_time", time, &mut violations));
        if let (Some(start), Some(end)) = (start, end) {
            violations.require(start < end, "end_time", "must be after start_time");
        }
        violations.require(
            (0..=10).contains(&request.confidence_below),
            "confidence_below",
            "must be from 0 to 10",
        );
        let history = self.history()?;
        for (field, at) in [("start_time", start), ("end_time", end)] {
            if let Some(at) = at
                && let Some(problem) = history.range_problem(at).await?
            {
                violations.add(field, problem);
            }
        }
        violations.into_result()?;
        let confidence_below = match request.confidence_below {
            0 => DEFAULT_CONFIDENCE_BELOW,
            below => below,
        };
        let pager = self.pager(
            "history",
            &[
                &request.name,
                &start.unwrap_or(0).to_string(),
                &end.unwrap_or(0).to_string(),
                &confidence_below.to_string(),
            ],
            request.page_size,
            &request.page_token,
        )?;
        let end = end.unwrap_or_else(now_micros);
        let base = match start {
            Some(start) => history.build(start).await?,
            None => AsOf {
                graph: Graph::new(),
                cursors: Default::default(),
            },
        };
        let mut walk = Walk::new(base, request.name.clone(), confidence_below);
        let mut replay = history.replay(&walk.as_of.cursors, end).await?;
        loop {
            let batch = replay.next_batch(WALK_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            walk = tokio::task::spawn_blocking(move || walk.steps(batch).map(|()| walk))
                .await
                .map_err(|err| Error::Corrupt(format!("walking the history: {err}")))??;
        }
        let graph = &walk.as_of.graph;
        asker.ask(graph, false, |sight| {
            let node = walk
                .node
                .filter(|node| sight.sees(*node))
                .ok_or_else(|| Error::NotFound {
                    name: request.name.clone(),
                })?;
            let entries: Vec<(usize, pb::AlignmentHistoryEntry)> = walk
                .entries
                .iter()
                .filter_map(|entry| entry.view(graph, sight))
                .enumerate()
                .collect();
            let (page, next_page_token) = pager.page(entries, |(index, _)| *index)?;
            Ok(pb::ListAlignmentHistoryResponse {
                node: Some(node_view(graph, node)),
                entries: page.into_iter().map(|(_, entry)| entry).collect(),
                next_page_token,
            })
        })
    }
}

/// A timestamp's microseconds, or a violation of `field` when it is out
/// of the range every time a client sends is held to.
fn micros_of(field: &str, timestamp: &Timestamp, violations: &mut FieldViolations) -> Option<i64> {
    violations.require(is_valid_timestamp(timestamp), field, TIME_RANGE);
    is_valid_timestamp(timestamp).then(|| from_timestamp(timestamp))
}

/// The history walked event by event, watching one node.
struct Walk {
    as_of: AsOf,
    name: String,
    node: Option<NodeId>,
    aspects: Aspects,
    confidence_below: i32,
    entries: Vec<Entry>,
}

/// One aspect that changed, and the event that changed it.
struct Entry {
    commit_micros: i64,
    source: &'static str,
    sequence: i64,
    resource: String,
    actor: String,
    changed: Changed,
}

impl Walk {
    fn new(as_of: AsOf, name: String, confidence_below: i32) -> Walk {
        let node = as_of.graph.id(&name);
        let aspects = node.map_or_else(Aspects::default, |node| {
            Aspects::of(&as_of.graph, node, confidence_below)
        });
        Walk {
            as_of,
            name,
            node,
            aspects,
            confidence_below,
            entries: Vec::new(),
        }
    }

    fn steps(&mut self, batch: Vec<Replayed>) -> Result<(), Error> {
        for replayed in batch {
            if !self.as_of.apply(&replayed) {
                continue;
            }
            let Some(node) = self.node.or_else(|| self.as_of.graph.id(&self.name)) else {
                continue;
            };
            self.node = Some(node);
            let aspects = Aspects::of(&self.as_of.graph, node, self.confidence_below);
            for changed in aspects.changes_from(&self.aspects) {
                if self.entries.len() >= MAX_HISTORY_ENTRIES {
                    return Err(Error::Shared(trellis_foundation::Error::ResourceExhausted(format!(
                        "{} changed more than {MAX_HISTORY_ENTRIES} times in the range: ask for a narrower one",
                        self.name
                    ))));
                }
                self.entries.push(Entry {
                    commit_micros: replayed.commit_micros,
                    source: replayed.source,
                    sequence: replayed.event.sequence,
                    resource: replayed.event.resource_name.clone(),
                    actor: replayed.event.actor.clone(),
                    changed,
                });
            }
            self.aspects = aspects;
        }
        Ok(())
    }
}

impl Entry {
    /// The entry as `sight` shows it; `None` when what changed is all out
    /// of its sight.
    fn view(&self, graph: &Graph, sight: Sight) -> Option<pb::AlignmentHistoryEntry> {
        let mut entry = pb::AlignmentHistoryEntry {
            change_time: Some(to_timestamp(self.commit_micros)),
            changed_resource: self.resource.clone(),
            actor: self.actor.clone(),
            source: self.source.to_owned(),
            sequence: self.sequence,
            ..pb::AlignmentHistoryEntry::default()
        };
        if graph.id(&self.resource).is_some_and(|changed| !sight.sees(changed)) {
            // Changed by something the asker may not read: what changed
            // is shown, not what it was.
            entry.changed_resource.clear();
            entry.actor.clear();
        }
        match &self.changed {
            Changed::State(before, after) => {
                entry.aspect = Aspect::State as i32;
                entry.before.clone_from(before);
                entry.after.clone_from(after);
            }
            Changed::Alignment(before, after) => {
                let before = before.as_ref().map(|before| before.seen(sight));
                let after = after.seen(sight);
                if before.as_ref() == Some(&after) {
                    return None;
                }
                entry.aspect = Aspect::Alignment as i32;
                entry.before = before.map(|before| before.as_str().to_owned()).unwrap_or_default();
                entry.after = after.as_str().to_owned();
                if let crate::history::changes::Alignment::Misaligned(findings) = after {
                    entry.misalignments = findings
                        .into_iter()
                        .map(|finding| misalignment_view(graph, finding))
                        .collect();
                }
            }
            Changed::Risk(before, after) => {
                let seen = |reasons: &[(_, NodeId, String)]| -> Vec<_> {
                    reasons
                        .iter()
                        .filter(|(_, subject, _)| sight.sees(*subject))
                        .cloned()
                        .collect()
                };
                let (before, after) = (seen(before), seen(after));
                if before == after {
                    return None;
                }
                entry.aspect = Aspect::Risk as i32;
                entry.before = risk_words(graph, &before);
                entry.after = risk_words(graph, &after);
                entry.risk_reasons = after
                    .into_iter()
                    .map(|reason| risk_reason_view(graph, reason))
                    .collect();
            }
        }
        Some(entry)
    }
}
