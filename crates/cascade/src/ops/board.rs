//! The board: a unit's Four Square for a week. Priorities and initiatives
//! come from the cascade's own tables, the OKRs and health metrics from
//! its graph; nothing asks another service. With the subtree, the units
//! come a page at a time in tree order (by materialized path), each page
//! one query per table and one walk of the graph.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use trellis_access::ResourceKind;
use trellis_foundation::{FieldViolations, RequestContext, paging::split_page};
use trellis_proto::{
    cascade::v1::{self as pb, initiative::Status},
    health::v1::Status as MetricStatus,
    okr::v1::{cycle::State as CycleState, objective::State as ObjectiveState},
};

use crate::{
    error::Error,
    graph::{Data, Graph, NodeId, Sight},
    names::{unit_id, unit_name},
    ops::{RhythmOps, initiatives, sight::Asker, weekly_plans},
    rhythm::{colour::Colour, weeks::Week},
    store::{
        entity::{initiative, org_unit, weekly_plan},
        queries,
    },
};

const DEFAULT_UNITS: u64 = 50;
const MAX_UNITS: u64 = 200;
/// The pipeline shows work due this week and in the next three.
const PIPELINE_WEEKS: u64 = 4;

fn colour(colour: Option<Colour>) -> i32 {
    let colour = match colour {
        Some(Colour::Green) => pb::Colour::Green,
        Some(Colour::Yellow) => pb::Colour::Yellow,
        Some(Colour::Red) => pb::Colour::Red,
        None => pb::Colour::Unspecified,
    };
    colour as i32
}

fn metric_colour(status: MetricStatus) -> Option<Colour> {
    match status {
        MetricStatus::Green => Some(Colour::Green),
        MetricStatus::Yellow => Some(Colour::Yellow),
        MetricStatus::Red => Some(Colour::Red),
        _ => None,
    }
}

/// The right half of a unit's square, from the graph: the key results of
/// its live objectives, and the metrics it owns or its objectives guard.
fn okrs_and_health(
    graph: &Graph,
    unit: &str,
    sight: Sight,
    limit: usize,
) -> (Vec<pb::BoardKeyResult>, Vec<pb::BoardMetric>) {
    let Some((unit_id, unit_node)) = graph.find(unit) else {
        return (Vec::new(), Vec::new());
    };
    let mut okrs = Vec::new();
    let mut owned = Vec::new();
    let mut guarded = Vec::new();
    for &id in &unit_node.below {
        let node = graph.node(id);
        if !node.present || !sight.sees(id) {
            continue;
        }
        match &node.data {
            Data::Objective(objective) if objective.owner == Some(unit_id) => {
                let live = matches!(objective.state, ObjectiveState::Active | ObjectiveState::Paused);
                let cycle_active = objective.cycle.is_some_and(
                    |cycle| matches!(&graph.node(cycle).data, Data::Cycle(c) if c.state == CycleState::Active),
                );
                if !live || !cycle_active {
                    continue;
                }
                guarded.extend(objective.guardrails.iter().copied());
                for &kr_id in &objective.key_results {
                    let kr_node = graph.node(kr_id);
                    let Some(key_result) = kr_node.key_result().filter(|_| kr_node.present && sight.sees(kr_id)) else {
                        continue;
                    };
                    okrs.push(pb::BoardKeyResult {
                        objective: String::from(&*node.name),
                        objective_title: String::from(&*node.title),
                        key_result: String::from(&*kr_node.name),
                        title: String::from(&*kr_node.title),
                        owner: key_result.owner.to_string(),
                        confidence: key_result.confidence,
                        colour: colour(key_result.confidence.and_then(Colour::of_confidence)),
                        progress: key_result.progress(),
                    });
                }
            }
            Data::HealthMetric(metric) if metric.owner == Some(unit_id) => owned.push(id),
            _ => {}
        }
    }
    okrs.sort_by(|a, b| (&a.objective, &a.key_result).cmp(&(&b.objective, &b.key_result)));
    let by_name = |ids: &mut Vec<NodeId>| {
        ids.sort_by(|a, b| graph.node(*a).name.cmp(&graph.node(*b).name));
        ids.dedup();
    };
    by_name(&mut owned);
    by_name(&mut guarded);
    guarded.retain(|id| !owned.contains(id));
    let mut health = Vec::new();
    for (ids, guardrail) in [(owned, false), (guarded, true)] {
        for id in ids {
            let node = graph.node(id);
            let Data::HealthMetric(metric) = &node.data else {
                continue;
            };
            if !node.present || !sight.sees(id) {
                continue;
            }
            let held = graph
                .metrics_of(&metric.accountable)
                .iter()
                .filter(|held| sight.sees(**held))
                .count();
            health.push(pb::BoardMetric {
                health_metric: String::from(&*node.name),
                title: String::from(&*node.title),
                colour: colour(metric_colour(metric.status)),
                accountable: metric.accountable.to_string(),
                accountable_overloaded: !metric.accountable.is_empty() && held > limit,
                guardrail,
            });
        }
    }
    (okrs, health)
}

impl RhythmOps {
    pub async fn board(&self, context: RequestContext, request: pb::GetBoardRequest) -> Result<pb::Board, Error> {
        let mut violations = FieldViolations::default();
        let root_id = match unit_id(&request.org_unit, "org_unit") {
            Ok(id) => Some(id.to_owned()),
            Err(_) => {
                violations.add(
                    "org_unit",
                    format!("must be an orgUnits/{{id}} name, got {:?}", request.org_unit),
                );
                None
            }
        };
        let week = if request.week.is_empty() {
            Some(Week::of_micros(self.now()))
        } else {
            let week = Week::parse(&request.week);
            violations.require(
                week.is_some(),
                "week",
                format!("must be an ISO week like 2027-W05, got {:?}", request.week),
            );
            week
        };
        let size = match u64::try_from(request.page_size) {
            Ok(0) => DEFAULT_UNITS,
            Ok(size) if size <= MAX_UNITS => size,
            _ => {
                violations.add("page_size", format!("must be 0 to {MAX_UNITS}"));
                DEFAULT_UNITS
            }
        };
        violations.into_result()?;
        let (Some(root_id), Some(week)) = (root_id, week) else {
            return Err(Error::Corrupt("a checked board request lost its fields".into()));
        };
        let root = queries::find_existing(self.store.db.conn(), &root_id, &request.org_unit).await?;
        let reader = self.access.reader(&context).await;
        reader.check(ResourceKind::OrgUnit, &root_id, false, &request.org_unit)?;
        let query = format!("{}|{}|{}", request.org_unit, week, request.include_subtree);
        let after: Option<String> = self.store.page_tokens.decode(&request.page_token, "GetBoard", &query)?;
        let (units, next) = if request.include_subtree {
            let mut select = org_unit::Entity::find().filter(org_unit::Column::Path.starts_with(&root.path));
            if let Some(after) = &after {
                select = select.filter(org_unit::Column::Path.gt(after.clone()));
            }
            let rows = select
                .order_by_asc(org_unit::Column::Path)
                .limit(size + 1)
                .all(self.store.db.conn())
                .await?;
            split_page(rows, size, |unit| unit.path.clone())
        } else {
            (vec![root], None)
        };
        let ids: Vec<String> = units.iter().map(|unit| unit.id.clone()).collect();
        let plans: HashMap<String, weekly_plan::Model> = weekly_plan::Entity::find()
            .filter(weekly_plan::Column::UnitId.is_in(ids.clone()))
            .filter(weekly_plan::Column::Week.eq(week.id()))
            .all(self.store.db.conn())
            .await?
            .into_iter()
            .map(|plan| (plan.unit_id.clone(), plan))
            .collect();
        let mut work: HashMap<String, Vec<initiative::Model>> = HashMap::new();
        let open_work = initiative::Entity::find()
            .filter(initiative::Column::OwnerId.is_in(ids))
            .filter(initiative::Column::Status.is_not_in([Status::Done.as_str_name(), Status::Dropped.as_str_name()]))
            .order_by_asc(initiative::Column::Id)
            .all(self.store.db.conn())
            .await?;
        for row in open_work {
            work.entry(row.owner_id.clone()).or_default().push(row);
        }
        let names: Vec<String> = units.iter().map(|unit| unit_name(&unit.id)).collect();
        let asker = Asker::new(reader);
        let limit = self.max_metrics_per_person;
        let squares = self
            .projection
            .read(move |graph| {
                asker.ask(graph, false, |sight| {
                    names
                        .iter()
                        .map(|name| okrs_and_health(graph, name, sight, limit))
                        .collect::<Vec<_>>()
                })
            })
            .await
            .map_err(|err| Error::Corrupt(format!("reading the graph: {err}")))?;
        let due_by = week.plus(PIPELINE_WEEKS);
        let mut boards = Vec::with_capacity(units.len());
        for (unit, (okrs, health)) in units.iter().zip(squares) {
            let priorities = match plans.get(&unit.id) {
                Some(plan) => weekly_plans::priorities_of(plan)?
                    .iter()
                    .map(weekly_plans::StoredPriority::to_proto)
                    .collect(),
                None => Vec::new(),
            };
            let (mut pipeline, mut undated, mut not_now) = (Vec::new(), Vec::new(), Vec::new());
            for row in work.remove(&unit.id).unwrap_or_default() {
                let target = Week::parse(&row.target_week);
                if row.status == Status::NotNow.as_str_name() {
                    not_now.push(initiatives::to_proto(&row));
                } else if target.is_none() {
                    undated.push(initiatives::to_proto(&row));
                } else if target.is_some_and(|target| target >= week && target < due_by) {
                    pipeline.push((target, initiatives::to_proto(&row)));
                }
            }
            pipeline.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
            boards.push(pb::UnitBoard {
                org_unit: unit_name(&unit.id),
                display_name: unit.display_name.clone(),
                lead: unit.lead.clone(),
                priorities,
                okrs,
                pipeline: pipeline
                    .into_iter()
                    .map(|(_, initiative)| initiative)
                    .chain(undated)
                    .collect(),
                not_now,
                health,
            });
        }
        Ok(pb::Board {
            org_unit: request.org_unit.clone(),
            week: week.to_string(),
            units: boards,
            next_page_token: next
                .map(|path| self.store.page_tokens.encode("GetBoard", &query, &path))
                .unwrap_or_default(),
        })
    }
}
