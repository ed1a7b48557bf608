//! Each question: validate the request, resolve its names against the
//! graph, ask the graph, page the answer.

use crate::error::Error;
use std::time::Instant;

use trellis_foundation::paging::page_size;
use trellis_proto::cascade::v1 as pb;

use crate::graph::{Data, Graph, Kind, NodeId, Sight};
use crate::ops::{
    AlignmentOps,
    answers::{Pager, Resolver, duration, misalignment_view, node_view, risk_reason_view},
};

/// What a roll-up, descendants or contributors query may start from.
const ALIGNABLE: [Kind; 5] = [
    Kind::OrgUnit,
    Kind::Strategy,
    Kind::Choice,
    Kind::Objective,
    Kind::KeyResult,
];
pub(crate) const DEFAULT_CONFIDENCE_BELOW: i32 = 5;

impl AlignmentOps {
    pub(crate) fn pager<'a>(
        &'a self,
        method: &str,
        parameters: &[&str],
        size: i32,
        token: &'a str,
    ) -> Result<Pager<'a>, Error> {
        // A page of an as-of answer continues only that answer.
        let as_of = self.as_of_micros.map(|at| format!("|as_of={at}")).unwrap_or_default();
        Ok(Pager {
            tokens: &self.tokens,
            query: format!("{method}|{}{as_of}", parameters.join("|")),
            page_size: page_size(size)?,
            token,
        })
    }

    pub(crate) fn alignment_path(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::GetAlignmentPathRequest,
    ) -> Result<pb::AlignmentPath, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let start = resolver.required("name", &request.name, &ALIGNABLE);
        resolver.finish()?;
        let Some(start) = start else {
            return Err(Error::NotFound {
                name: request.name.clone(),
            });
        };
        let (routes, truncated) = graph.routes_up(start, sight);
        let routes = routes
            .into_iter()
            .map(|route| {
                let mut previous: Option<NodeId> = None;
                let nodes = route
                    .into_iter()
                    .enumerate()
                    .map(|(depth, (id, weight))| {
                        let mut node = node_view(graph, id);
                        node.depth = depth as i32;
                        node.weight = weight;
                        node.via = previous.map(|via| graph.name_of(via)).unwrap_or_default();
                        previous = Some(id);
                        node
                    })
                    .collect();
                pb::AlignmentRoute { nodes }
            })
            .collect();
        let org_path = graph
            .org_path(start)
            .into_iter()
            .enumerate()
            .map(|(depth, id)| pb::GraphNode {
                depth: depth as i32,
                ..node_view(graph, id)
            })
            .collect();
        Ok(pb::AlignmentPath {
            start: Some(node_view(graph, start)),
            routes,
            routes_truncated: truncated,
            org_path,
        })
    }

    pub(crate) fn aligned_descendants(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListAlignedDescendantsRequest,
    ) -> Result<pb::ListAlignedDescendantsResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let root = resolver.required("name", &request.name, &ALIGNABLE);
        let cycle = resolver.optional("cycle", &request.cycle, &[Kind::Cycle]);
        resolver
            .violations
            .require(request.max_depth >= 0, "max_depth", "must not be negative");
        resolver.finish()?;
        let Some(root) = root else {
            return Err(Error::NotFound {
                name: request.name.clone(),
            });
        };
        let max_depth = request.max_depth.to_string();
        let pager = self.pager(
            "descendants",
            &[&request.name, &request.cycle, &max_depth],
            request.page_size,
            &request.page_token,
        )?;
        let found = graph.descendants(root, u32::try_from(request.max_depth).unwrap_or(0), cycle, sight);
        let total_size = i32::try_from(found.len()).unwrap_or(i32::MAX);
        let (page, next_page_token) = pager.page(found, |found| (found.depth, graph.name_of(found.node)))?;
        let nodes = page
            .into_iter()
            .map(|found| {
                let weight = graph
                    .objective(found.node)
                    .and_then(|objective| objective.edge_to(found.via))
                    .map_or(0.0, |edge| edge.weight);
                pb::GraphNode {
                    depth: found.depth as i32,
                    via: graph.name_of(found.via),
                    weight,
                    ..node_view(graph, found.node)
                }
            })
            .collect();
        Ok(pb::ListAlignedDescendantsResponse {
            nodes,
            next_page_token,
            total_size,
        })
    }

    fn rollup_of(graph: &Graph, sight: Sight, id: NodeId, cycle: Option<NodeId>) -> pb::Rollup {
        let started = Instant::now();
        let rolled = graph.rollup(id, cycle, sight);
        let elapsed = started.elapsed();
        pb::Rollup {
            node: Some(node_view(graph, id)),
            rollup: rolled.value,
            contributors: i32::try_from(rolled.contributors).unwrap_or(i32::MAX),
            objectives: i32::try_from(rolled.objectives).unwrap_or(i32::MAX),
            compute_time: Some(duration(elapsed)),
        }
    }

    pub(crate) fn rollup(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::GetRollupRequest,
    ) -> Result<pb::Rollup, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let id = resolver.required("name", &request.name, &ALIGNABLE);
        let cycle = resolver.optional("cycle", &request.cycle, &[Kind::Cycle]);
        resolver.finish()?;
        let id = id.ok_or_else(|| Error::NotFound {
            name: request.name.clone(),
        })?;
        Ok(AlignmentOps::rollup_of(graph, sight, id, cycle))
    }

    pub(crate) fn rollup_contributors(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListRollupContributorsRequest,
    ) -> Result<pb::ListRollupContributorsResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let id = resolver.required("name", &request.name, &ALIGNABLE);
        let cycle = resolver.optional("cycle", &request.cycle, &[Kind::Cycle]);
        resolver.finish()?;
        let id = id.ok_or_else(|| Error::NotFound {
            name: request.name.clone(),
        })?;
        let pager = self.pager(
            "contributors",
            &[&request.name, &request.cycle],
            request.page_size,
            &request.page_token,
        )?;
        let (page, next_page_token) = pager.page_by_name(graph, graph.contributors(id, cycle, sight))?;
        Ok(pb::ListRollupContributorsResponse {
            contributors: page
                .into_iter()
                .map(|id| AlignmentOps::rollup_of(graph, sight, id, cycle))
                .collect(),
            next_page_token,
        })
    }

    pub(crate) fn orphans(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListOrphansRequest,
    ) -> Result<pb::ListOrphansResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let cycle = resolver.required("cycle", &request.cycle, &[Kind::Cycle]);
        let unit = resolver.optional("org_unit", &request.org_unit, &[Kind::OrgUnit]);
        resolver.finish()?;
        let cycle = cycle.ok_or_else(|| Error::NotFound {
            name: request.cycle.clone(),
        })?;
        let pager = self.pager(
            "orphans",
            &[&request.cycle, &request.org_unit],
            request.page_size,
            &request.page_token,
        )?;
        let (page, next_page_token) = pager.page_by_name(graph, graph.orphans(cycle, unit, sight))?;
        Ok(pb::ListOrphansResponse {
            objectives: page.into_iter().map(|id| node_view(graph, id)).collect(),
            next_page_token,
        })
    }

    pub(crate) fn accountability_spread(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListAccountabilitySpreadRequest,
    ) -> Result<pb::ListAccountabilitySpreadResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let unit = resolver.optional("org_unit", &request.org_unit, &[Kind::OrgUnit]);
        resolver.finish()?;
        let pager = self.pager(
            "accountability",
            &[&request.org_unit],
            request.page_size,
            &request.page_token,
        )?;
        let spread = graph.accountability_spread(unit, self.max_metrics_per_person, sight);
        let (page, next_page_token) =
            pager.page(spread, |found| (usize::MAX - found.metrics.len(), found.person.clone()))?;
        Ok(pb::ListAccountabilitySpreadResponse {
            people: page
                .into_iter()
                .map(|found| pb::AccountablePerson {
                    person: found.person,
                    metric_count: i32::try_from(found.metrics.len()).unwrap_or(i32::MAX),
                    metrics: found.metrics.into_iter().map(|id| node_view(graph, id)).collect(),
                })
                .collect(),
            limit: i32::try_from(self.max_metrics_per_person).unwrap_or(i32::MAX),
            next_page_token,
        })
    }

    pub(crate) fn misalignments(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListMisalignmentsRequest,
    ) -> Result<pb::ListMisalignmentsResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let cycle = resolver.optional("cycle", &request.cycle, &[Kind::Cycle]);
        let unit = resolver.optional("org_unit", &request.org_unit, &[Kind::OrgUnit]);
        resolver.finish()?;
        let pager = self.pager(
            "misalignments",
            &[&request.cycle, &request.org_unit],
            request.page_size,
            &request.page_token,
        )?;
        let (page, next_page_token) = pager.page(graph.misalignments(cycle, unit, sight), |finding| {
            (
                graph.name_of(finding.objective),
                graph.name_of(finding.target),
                finding.reason as i32,
            )
        })?;
        Ok(pb::ListMisalignmentsResponse {
            misalignments: page
                .into_iter()
                .map(|finding| misalignment_view(graph, finding))
                .collect(),
            next_page_token,
        })
    }

    pub(crate) fn uncovered_choices(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListUncoveredChoicesRequest,
    ) -> Result<pb::ListUncoveredChoicesResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let cycle = resolver.optional("cycle", &request.cycle, &[Kind::Cycle]);
        let strategy = resolver.optional("strategy", &request.strategy, &[Kind::Strategy]);
        resolver.finish()?;
        let pager = self.pager(
            "uncovered",
            &[&request.cycle, &request.strategy],
            request.page_size,
            &request.page_token,
        )?;
        let (page, next_page_token) = pager.page_by_name(graph, graph.uncovered_choices(cycle, strategy, sight))?;
        Ok(pb::ListUncoveredChoicesResponse {
            choices: page.into_iter().map(|id| node_view(graph, id)).collect(),
            next_page_token,
        })
    }

    pub(crate) fn risks(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::ListRisksRequest,
    ) -> Result<pb::ListRisksResponse, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let cycle = resolver.required("cycle", &request.cycle, &[Kind::Cycle]);
        let unit = resolver.optional("org_unit", &request.org_unit, &[Kind::OrgUnit]);
        resolver.violations.require(
            (0..=10).contains(&request.confidence_below),
            "confidence_below",
            format!("must be between 0 and 10, got {}", request.confidence_below),
        );
        resolver.finish()?;
        let cycle = cycle.ok_or_else(|| Error::NotFound {
            name: request.cycle.clone(),
        })?;
        let confidence_below = match request.confidence_below {
            0 => DEFAULT_CONFIDENCE_BELOW,
            below => below,
        };
        let confidence = confidence_below.to_string();
        let pager = self.pager(
            "risks",
            &[&request.cycle, &request.org_unit, &confidence],
            request.page_size,
            &request.page_token,
        )?;
        let found = graph.risks(cycle, unit, confidence_below, self.now(), sight);
        // Paused objectives as a group first, then those still pursued;
        // each riskiest first, then by name.
        let (page, next_page_token) = pager.page(found, |risk| {
            (
                !risk.paused,
                -((risk.score * 1_000_000.0).round() as i64),
                graph.name_of(risk.objective),
            )
        })?;
        Ok(pb::ListRisksResponse {
            risks: page
                .into_iter()
                .map(|risk| pb::Risk {
                    objective: Some(node_view(graph, risk.objective)),
                    paused: risk.paused,
                    state_reason: graph
                        .objective(risk.objective)
                        .map(|objective| objective.state_reason.to_string())
                        .unwrap_or_default(),
                    score: risk.score,
                    reasons: risk
                        .reasons
                        .into_iter()
                        .map(|reason| risk_reason_view(graph, reason))
                        .collect(),
                })
                .collect(),
            next_page_token,
        })
    }

    pub(crate) fn planning_status(
        &self,
        graph: &Graph,
        sight: Sight,
        request: &pb::GetPlanningStatusRequest,
    ) -> Result<pb::PlanningStatus, Error> {
        let mut resolver = Resolver::new(graph, sight);
        let cycle = resolver.required("cycle", &request.cycle, &[Kind::Cycle]);
        let unit = resolver.optional("org_unit", &request.org_unit, &[Kind::OrgUnit]);
        resolver.finish()?;
        let cycle = cycle.ok_or_else(|| Error::NotFound {
            name: request.cycle.clone(),
        })?;
        let season_root = match &graph.node(cycle).data {
            Data::Cycle(data) => data.org_unit,
            _ => None,
        };
        let root = match (unit, season_root) {
            (Some(unit), Some(season_root)) if !graph.within_unit(unit, season_root) => {
                return Err(Error::invalid(
                    "org_unit",
                    format!(
                        "{} is outside {}'s org subtree ({})",
                        request.org_unit,
                        request.cycle,
                        graph.node(season_root).name
                    ),
                ));
            }
            (Some(unit), _) => unit,
            (None, Some(season_root)) => season_root,
            (None, None) => {
                return Err(Error::CycleWithoutUnit {
                    cycle: request.cycle.clone(),
                });
            }
        };
        let plans = graph.planning(cycle, root, sight);
        let mut status = pb::PlanningStatus {
            cycle: Some(node_view(graph, cycle)),
            ..pb::PlanningStatus::default()
        };
        for plan in &plans {
            status.units += 1;
            status.units_with_objectives += i32::from(plan.objectives > 0);
            status.objectives += plan.objectives as i32;
            status.drafted += plan.drafted as i32;
            status.aligned += plan.aligned as i32;
            status.locked += plan.locked as i32;
            status.without_key_results += plan.without_key_results as i32;
        }
        let only_empty = request.only_empty.to_string();
        let pager = self.pager(
            "planning",
            &[&request.cycle, &request.org_unit, &only_empty],
            request.page_size,
            &request.page_token,
        )?;
        let listed: Vec<_> = plans
            .into_iter()
            .filter(|plan| !request.only_empty || plan.objectives == 0)
            .collect();
        let (page, next_page_token) = pager.page(listed, |plan| (plan.depth, graph.name_of(plan.unit)))?;
        status.unit_statuses = page
            .into_iter()
            .map(|plan| pb::UnitPlanning {
                org_unit: Some(pb::GraphNode {
                    depth: plan.depth as i32,
                    ..node_view(graph, plan.unit)
                }),
                objectives: plan.objectives as i32,
                drafted: plan.drafted as i32,
                aligned: plan.aligned as i32,
                locked: plan.locked as i32,
                without_key_results: plan.without_key_results as i32,
            })
            .collect();
        status.next_page_token = next_page_token;
        Ok(status)
    }
}
