//! The alignment questions: routes up, everything under, orphans,
//! misalignment, coverage and planning status (risk is in `risks.rs`).

// Node ids are the graph's own indices, not client input: a fast hasher
// is safe here, and SipHash was a visible share of a question's time.
use hashbrown::HashSet;

use trellis_proto::{
    cascade::v1::misalignment::Reason,
    okr::v1::{cycle::State as CycleState, objective::State as ObjectiveState},
    strategy::v1::{ChoiceKind, StrategyState},
};

use super::{Data, Graph, Kind, NodeId, Objective, Sight};

/// More routes up than this are cut (alignment fans out multiplicatively).
pub const MAX_ROUTES: usize = 64;
const MAX_ROUTE_LENGTH: usize = 64;

/// One way up: the start first, each node with the weight of the edge
/// that led up to it.
pub type Route = Vec<(NodeId, f64)>;

/// A node found below another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Descendant {
    pub node: NodeId,
    pub depth: u32,
    pub via: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub objective: NodeId,
    pub target: NodeId,
    pub reason: Reason,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UnitPlan {
    pub unit: NodeId,
    pub depth: u32,
    pub objectives: u32,
    pub drafted: u32,
    pub aligned: u32,
    pub locked: u32,
    /// Objectives with no key result: nothing would measure them.
    pub without_key_results: u32,
}

impl Graph {
    /// Every route up from `start` through what `sight` sees, and whether
    /// more were cut.
    pub fn routes_up(&self, start: NodeId, sight: Sight) -> (Vec<Route>, bool) {
        let mut routes = Vec::new();
        let mut truncated = false;
        let mut stack: Vec<Route> = vec![vec![(start, 0.0)]];
        while let Some(route) = stack.pop() {
            let Some(&(last, _)) = route.last() else {
                continue;
            };
            let ups: Vec<(NodeId, f64)> = self
                .ups(last)
                .into_iter()
                .filter(|(up, _)| sight.sees(*up) && !route.iter().any(|(seen, _)| seen == up))
                .collect();
            if ups.is_empty() || route.len() >= MAX_ROUTE_LENGTH {
                if routes.len() == MAX_ROUTES {
                    truncated = true;
                    break;
                }
                routes.push(route);
                continue;
            }
            // Reversed so routes come out in the order the edges are listed.
            for up in ups.into_iter().rev() {
                let mut longer = route.clone();
                longer.push(up);
                stack.push(longer);
            }
        }
        (routes, truncated)
    }

    /// The next steps up a route: the node's own alignments, and for a
    /// health metric (reached from its remedial objective) the strategies
    /// whose assumptions it backs.
    fn ups(&self, id: NodeId) -> Vec<(NodeId, f64)> {
        match &self.node(id).data {
            Data::HealthMetric(_) => self.strategies_backed_by(id).into_iter().map(|up| (up, 1.0)).collect(),
            data => data.aligned_up(),
        }
    }

    /// The strategies with an assumption that `metric` backs, by name. A
    /// scan of the graph: asked only on routes through a remedial
    /// objective, which are few.
    pub fn strategies_backed_by(&self, metric: NodeId) -> Vec<NodeId> {
        let mut found: Vec<NodeId> = self
            .nodes()
            .filter(|(_, node)| {
                node.present && matches!(&node.data, Data::Strategy(strategy) if strategy.backed_by.contains(&metric))
            })
            .map(|(id, _)| id)
            .collect();
        found.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        found
    }

    /// The org unit a node belongs to: its own owner, a key result's
    /// objective's, a choice's strategy's; an org unit is its own.
    pub fn owning_unit(&self, id: NodeId) -> Option<NodeId> {
        match &self.node(id).data {
            Data::OrgUnit(_) => Some(id),
            Data::KeyResult(key_result) => self.node(key_result.objective).data.owner(),
            Data::Choice(choice) => self.node(choice.strategy).data.owner(),
            data => data.owner(),
        }
    }

    /// The owning unit and its ancestors, up to the root.
    pub fn org_path(&self, id: NodeId) -> Vec<NodeId> {
        self.owning_unit(id)
            .map(|unit| self.org_chain(unit))
            .unwrap_or_default()
    }

    /// Whether a node is in `cycle` (nodes without a cycle always are).
    fn in_cycle(&self, id: NodeId, cycle: Option<NodeId>) -> bool {
        let Some(cycle) = cycle else {
            return true;
        };
        match &self.node(id).data {
            Data::Objective(objective) => objective.cycle == Some(cycle),
            Data::KeyResult(key_result) => self.in_cycle(key_result.objective, Some(cycle)),
            _ => true,
        }
    }

    /// Everything below `root`, breadth-first, each level by name; a node
    /// reachable several ways is listed once, at its shallowest depth.
    /// `max_depth` 0 means all levels.
    pub fn descendants(&self, root: NodeId, max_depth: u32, cycle: Option<NodeId>, sight: Sight) -> Vec<Descendant> {
        let mut seen: HashSet<NodeId> = HashSet::from([root]);
        let mut found = Vec::new();
        let mut level = vec![root];
        let mut depth = 0;
        while !level.is_empty() && (max_depth == 0 || depth < max_depth) {
            depth += 1;
            let mut next: Vec<Descendant> = Vec::new();
            for parent in &level {
                for child in &self.node(*parent).below {
                    if self.in_cycle(*child, cycle) && sight.sees(*child) && seen.insert(*child) {
                        next.push(Descendant {
                            node: *child,
                            depth,
                            via: *parent,
                        });
                    }
                }
            }
            next.sort_by(|a, b| self.node(a.node).name.cmp(&self.node(b.node).name));
            level = next.iter().map(|descendant| descendant.node).collect();
            found.extend(next);
        }
        found
    }

    /// The present objectives of `cycle` (all when None) owned in
    /// `unit`'s subtree (anywhere when None), by name.
    pub fn objectives_in(&self, cycle: Option<NodeId>, unit: Option<NodeId>, sight: Sight) -> Vec<NodeId> {
        let candidates: Vec<NodeId> = match cycle {
            Some(cycle) => self.node(cycle).below.clone(),
            None => self.objectives().map(|(id, _)| id).collect(),
        };
        let mut found: Vec<NodeId> = candidates
            .into_iter()
            .filter(|id| {
                let node = self.node(*id);
                node.present
                    && sight.sees(*id)
                    && node.objective().is_some_and(|objective| {
                        cycle.is_none_or(|cycle| objective.cycle == Some(cycle))
                            && unit
                                .is_none_or(|unit| objective.owner.is_some_and(|owner| self.within_unit(owner, unit)))
                    })
            })
            .collect();
        found.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        found
    }

    /// Objectives (not CANCELLED) aligned to nothing.
    pub fn orphans(&self, cycle: NodeId, unit: Option<NodeId>, sight: Sight) -> Vec<NodeId> {
        self.objectives_in(Some(cycle), unit, sight)
            .into_iter()
            .filter(|id| self.is_orphan(*id))
            .collect()
    }

    /// Every alignment that should not be, by objective, target, reason.
    /// An alignment to what `sight` does not see is not reported: to the
    /// asker, that target is not there.
    pub fn misalignments(&self, cycle: Option<NodeId>, unit: Option<NodeId>, sight: Sight) -> Vec<Finding> {
        let mut findings = Vec::new();
        for id in self.objectives_in(cycle, unit, sight) {
            findings.extend(self.misalignments_of(id, sight));
        }
        findings
    }

    /// The alignments of one objective (that counts) that should not be,
    /// by target and reason.
    pub fn misalignments_of(&self, id: NodeId, sight: Sight) -> Vec<Finding> {
        let Some(objective) = self.objective(id).filter(|objective| objective.counts()) else {
            return Vec::new();
        };
        let mut edges: Vec<_> = objective
            .aligns_to
            .iter()
            .filter(|edge| sight.sees(edge.target))
            .collect();
        edges.sort_by(|a, b| self.node(a.target).name.cmp(&self.node(b.target).name));
        let mut findings = Vec::new();
        for edge in edges {
            for (reason, description) in self.edge_problems(id, objective, edge.target, edge.looped) {
                findings.push(Finding {
                    objective: id,
                    target: edge.target,
                    reason,
                    description,
                });
            }
        }
        findings
    }

    /// Whether an objective (that counts) aligns to nothing, and is no
    /// remedial objective (which serves its metric, not an alignment).
    pub fn is_orphan(&self, id: NodeId) -> bool {
        self.objective(id).is_some_and(|objective| {
            objective.counts() && objective.aligns_to.is_empty() && objective.remedial_for.is_none()
        })
    }

    fn edge_problems(&self, id: NodeId, objective: &Objective, target: NodeId, looped: bool) -> Vec<(Reason, String)> {
        let name = |id: NodeId| &*self.node(id).name;
        let target_node = self.node(target);
        if looped {
            return vec![(
                Reason::AlignmentLoop,
                format!("{} already aligns (through others) to {}", name(target), name(id)),
            )];
        }
        if !target_node.present {
            return vec![(Reason::TargetMissing, format!("{} does not exist", name(target)))];
        }
        let mut problems = Vec::new();
        match &target_node.data {
            Data::Choice(choice) => {
                if choice.kind == ChoiceKind::NotDoing {
                    problems.push((
                        Reason::NotDoingChoice,
                        format!("{} is a choice the strategy refuses (NOT_DOING)", name(target)),
                    ));
                }
                let strategy = self.node(choice.strategy);
                if let Data::Strategy(data) = &strategy.data {
                    match data.state {
                        StrategyState::Retired => {
                            problems.push((Reason::StrategyRetired, format!("{} is RETIRED", strategy.name)))
                        }
                        StrategyState::UnderReview => problems.push((
                            Reason::StrategyUnderReview,
                            format!("{} is UNDER_REVIEW", strategy.name),
                        )),
                        _ => {}
                    }
                    if let (Some(strategy_owner), Some(owner)) = (data.owner, objective.owner)
                        && !self.within_unit(owner, strategy_owner)
                    {
                        problems.push((
                            Reason::OutsideOwnerAncestry,
                            format!(
                                "{} belongs to {}, which is neither {} nor above it",
                                strategy.name,
                                name(strategy_owner),
                                name(owner)
                            ),
                        ));
                    }
                }
            }
            Data::Objective(_) | Data::KeyResult(_) => {
                let target_objective = match &target_node.data {
                    Data::KeyResult(key_result) => key_result.objective,
                    _ => target,
                };
                let target_cycle = self.objective(target_objective).and_then(|other| other.cycle);
                if target_cycle.is_some() && target_cycle != objective.cycle {
                    problems.push((
                        Reason::AcrossCycles,
                        format!(
                            "{} is in {}, {} in {}",
                            name(target),
                            target_cycle.map_or("no cycle", name),
                            name(id),
                            objective.cycle.map_or("no cycle", name)
                        ),
                    ));
                }
            }
            _ => {}
        }
        problems
    }

    /// The strategies at and nested under `strategy`.
    fn strategy_tree(&self, strategy: NodeId) -> Vec<NodeId> {
        let mut found = vec![strategy];
        let mut index = 0;
        while index < found.len() {
            let current = found[index];
            index += 1;
            if let Data::Strategy(data) = &self.node(current).data {
                for choice in &data.choices {
                    for nested in &self.node(*choice).below {
                        if matches!(&self.node(*nested).data, Data::Strategy(inner)
                            if inner.parent_choice == Some(*choice) && !inner.parent_looped)
                            && !found.contains(nested)
                        {
                            found.push(*nested);
                        }
                    }
                }
            }
        }
        found
    }

    /// Choices (not NOT_DOING) of ACTIVE strategies that no counted
    /// objective of `cycle` aligns to, by name.
    pub fn uncovered_choices(&self, cycle: Option<NodeId>, strategy: Option<NodeId>, sight: Sight) -> Vec<NodeId> {
        let strategies: Vec<NodeId> = match strategy {
            Some(root) => self.strategy_tree(root),
            None => self
                .nodes()
                .filter(|(_, node)| node.kind() == Kind::Strategy)
                .map(|(id, _)| id)
                .collect(),
        };
        let mut found: Vec<NodeId> = strategies
            .into_iter()
            .filter(|id| {
                let node = self.node(*id);
                node.present
                    && sight.sees(*id)
                    && matches!(&node.data, Data::Strategy(data) if data.state == StrategyState::Active)
            })
            .flat_map(|id| self.served_choices(id, sight))
            .filter(|choice| {
                !self.node(*choice).below.iter().any(|id| {
                    let node = self.node(*id);
                    node.present
                        && sight.sees(*id)
                        && node.objective().is_some_and(|objective| {
                            // Only a sound alignment covers a choice: one
                            // across cycles or from outside the strategy's
                            // org subtree does not.
                            Graph::counts_in(objective, cycle)
                                && objective.edge_to(*choice).is_some()
                                && self.edge_problems(*id, objective, *choice, false).is_empty()
                        })
                })
            })
            .collect();
        found.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        found
    }

    /// Per unit of `unit`'s subtree (the root at depth 0, then by depth
    /// and name): the cycle's objectives it owns and how far they are.
    pub fn planning(&self, cycle: NodeId, unit: NodeId, sight: Sight) -> Vec<UnitPlan> {
        let locked = matches!(&self.node(cycle).data, Data::Cycle(data)
            if !matches!(data.state, CycleState::Planning | CycleState::Unspecified));
        let mut plans = Vec::new();
        let mut level = vec![unit];
        let mut depth = 0;
        let mut seen: HashSet<NodeId> = HashSet::from([unit]);
        while !level.is_empty() {
            let mut next = Vec::new();
            for current in &level {
                let mut plan = UnitPlan {
                    unit: *current,
                    depth,
                    ..UnitPlan::default()
                };
                for child in self.node(*current).below.iter().filter(|child| sight.sees(**child)) {
                    let node = self.node(*child);
                    match &node.data {
                        Data::OrgUnit(data) if data.parent == Some(*current) && seen.insert(*child) => {
                            next.push(*child);
                        }
                        Data::Objective(objective)
                            if node.present
                                && objective.owner == Some(*current)
                                && objective.cycle == Some(cycle)
                                && objective.counts() =>
                        {
                            plan.objectives += 1;
                            plan.drafted += u32::from(objective.state == ObjectiveState::Draft);
                            plan.aligned += u32::from(!objective.aligns_to.is_empty());
                            plan.locked += u32::from(locked);
                            plan.without_key_results += u32::from(objective.key_results.is_empty());
                        }
                        _ => {}
                    }
                }
                plans.push(plan);
            }
            next.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
            level = next;
            depth += 1;
        }
        plans
    }

    /// The nodes `id` hangs below, transitively, for "is it under X?",
    /// through what `sight` sees.
    pub fn is_under(&self, id: NodeId, root: NodeId, sight: Sight) -> bool {
        let mut stack = vec![id];
        let mut seen: HashSet<NodeId> = HashSet::from([id]);
        while let Some(current) = stack.pop() {
            if current == root {
                return true;
            }
            for above in self.node(current).data.hangs_below() {
                if sight.sees(above) && seen.insert(above) {
                    stack.push(above);
                }
            }
        }
        false
    }
}
