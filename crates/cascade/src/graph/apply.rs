//! Applying one change from a feed: upsert a resource's latest state,
//! delete it, or add a check-in to its key result's tally.

use trellis_foundation::{time::from_timestamp, visibility};
use trellis_proto::{
    cascade::v1 as org_pb, health::v1 as health_pb, okr::v1 as okr_pb, okr::v1::alignment_target::Target,
    strategy::v1 as strategy_pb,
};
use trellis_rules::{
    cadence,
    progress::{Measure, effective_weight, weighted_mean},
};

use super::{
    Graph,
    model::{
        Choice, Cycle, Data, Edge, HealthMetric, KeyResult, Kind, Node, NodeId, Objective, OrgUnit, Strategy,
        parent_name,
    },
};

/// A resource as its feed delivered it.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    OrgUnit(org_pb::OrgUnit),
    Strategy(strategy_pb::Strategy),
    Choice(strategy_pb::Choice),
    Cycle(okr_pb::Cycle),
    Objective(okr_pb::Objective),
    KeyResult(okr_pb::KeyResult),
    HealthMetric(health_pb::HealthMetric),
}

impl Resource {
    pub fn name(&self) -> &str {
        match self {
            Resource::OrgUnit(resource) => &resource.name,
            Resource::Strategy(resource) => &resource.name,
            Resource::Choice(resource) => &resource.name,
            Resource::Cycle(resource) => &resource.name,
            Resource::Objective(resource) => &resource.name,
            Resource::KeyResult(resource) => &resource.name,
            Resource::HealthMetric(resource) => &resource.name,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Resource::OrgUnit(_) => Kind::OrgUnit,
            Resource::Strategy(_) => Kind::Strategy,
            Resource::Choice(_) => Kind::Choice,
            Resource::Cycle(_) => Kind::Cycle,
            Resource::Objective(_) => Kind::Objective,
            Resource::KeyResult(_) => Kind::KeyResult,
            Resource::HealthMetric(_) => Kind::HealthMetric,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(Box<Resource>),
    Delete(String),
    CheckIn(okr_pb::CheckIn),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchKind {
    Upserted,
    Deleted,
    Progressed,
}

/// A node a change affected, for watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub node: NodeId,
    pub kind: TouchKind,
}

impl Graph {
    /// Applies one change; returns the nodes it affected. A change naming
    /// no valid resource, or a resource under a name of another kind,
    /// changes nothing.
    pub fn apply(&mut self, change: Change) -> Vec<Touch> {
        match change {
            Change::Upsert(resource) => self.upsert(*resource),
            Change::Delete(name) => self.delete(&name),
            Change::CheckIn(check_in) => self.check_in(&check_in),
        }
    }

    /// The id of `name`, adding a placeholder the first time it is named.
    fn intern(&mut self, name: &str) -> Option<NodeId> {
        if let Some(id) = self.nodes.id(name) {
            return Some(id);
        }
        let kind = Kind::of_name(name)?;
        let parent = match kind {
            Kind::Choice | Kind::KeyResult => self.intern(parent_name(name, 1)?)?,
            _ => 0,
        };
        let data = Data::placeholder(kind, parent);
        let above = data.hangs_below();
        let id = self.nodes.push(Node {
            name: name.into(),
            title: "".into(),
            present: false,
            data,
            below: Vec::new(),
        })?;
        self.relink(id, &[], &above);
        Some(id)
    }

    fn intern_optional(&mut self, name: &str) -> Option<NodeId> {
        if name.is_empty() { None } else { self.intern(name) }
    }

    /// Moves `id` from the `below` lists of `old` to those of `new`.
    fn relink(&mut self, id: NodeId, old: &[NodeId], new: &[NodeId]) {
        for gone in old.iter().filter(|above| !new.contains(above)) {
            let below = &mut self.nodes[*gone].below;
            if let Some(position) = below.iter().position(|child| *child == id) {
                below.swap_remove(position);
                self.edges -= 1;
            }
        }
        for added in new.iter().filter(|above| !old.contains(above)) {
            self.nodes[*added].below.push(id);
            self.edges += 1;
        }
    }

    /// Gives `id` its new data and title, relinking what it hangs below.
    fn replace(&mut self, id: NodeId, title: &str, data: Data) {
        self.forget_accountable(id);
        if let Data::HealthMetric(metric) = &data
            && !metric.accountable.is_empty()
        {
            self.accountable_for
                .entry(metric.accountable.clone())
                .or_default()
                .push(id);
        }
        let old = self.node(id).data.hangs_below();
        let new = data.hangs_below();
        if data.private() {
            self.privates.insert(id);
        } else {
            self.privates.remove(&id);
        }
        let node = &mut self.nodes[id];
        node.data = data;
        node.present = true;
        if *node.title != *title {
            node.title = title.into();
        }
        self.relink(id, &old, &new);
    }

    fn upsert(&mut self, resource: Resource) -> Vec<Touch> {
        if Kind::of_name(resource.name()) != Some(resource.kind()) {
            return Vec::new();
        }
        let Some(id) = self.intern(resource.name()) else {
            return Vec::new();
        };
        let mut touched = vec![Touch {
            node: id,
            kind: TouchKind::Upserted,
        }];
        match resource {
            Resource::OrgUnit(unit) => self.upsert_org_unit(id, &unit),
            Resource::Strategy(strategy) => self.upsert_strategy(id, &strategy),
            Resource::Choice(choice) => self.upsert_choice(id, &choice),
            Resource::Cycle(cycle) => {
                let data = Data::Cycle(Cycle {
                    state: cycle.state(),
                    org_unit: self.intern_optional(&cycle.org_unit),
                    activate_micros: cycle.activate_time.as_ref().map_or(0, from_timestamp),
                });
                self.replace(id, &cycle.display_name, data);
            }
            Resource::Objective(objective) => self.upsert_objective(id, &objective),
            Resource::KeyResult(key_result) => {
                let objective = self.upsert_key_result(id, &key_result);
                touched.push(Touch {
                    node: objective,
                    kind: TouchKind::Progressed,
                });
            }
            Resource::HealthMetric(metric) => {
                let data = Data::HealthMetric(HealthMetric {
                    owner: self.intern_optional(&metric.owner),
                    accountable: metric.accountable.as_str().into(),
                    status: metric.status(),
                    private: visibility::is_private(metric.visibility),
                });
                self.replace(id, &metric.display_name, data);
            }
        }
        touched
    }

    fn upsert_org_unit(&mut self, id: NodeId, unit: &org_pb::OrgUnit) {
        let parent = self.intern_optional(&unit.parent);
        let parent_looped = parent.is_some_and(|parent| self.org_chain(parent).contains(&id));
        let data = Data::OrgUnit(OrgUnit {
            parent,
            parent_looped,
            lead: unit.lead.as_str().into(),
        });
        self.replace(id, &unit.display_name, data);
    }

    fn upsert_strategy(&mut self, id: NodeId, strategy: &strategy_pb::Strategy) {
        let owner = self.intern_optional(&strategy.owner);
        let parent_choice = self.intern_optional(&strategy.parent_choice);
        let parent_looped = parent_choice.is_some_and(|choice| self.reaches(choice, id));
        let previous = match &self.node(id).data {
            Data::Strategy(previous) => previous.choices.clone(),
            _ => Vec::new(),
        };
        let mut choices = Vec::with_capacity(strategy.choices.len());
        for choice in &strategy.choices {
            if parent_name(&choice.name, 1) != Some(strategy.name.as_str()) {
                continue;
            }
            if let Some(choice_id) = self.intern(&choice.name) {
                self.upsert_choice(choice_id, choice);
                choices.push(choice_id);
            }
        }
        for dropped in previous.into_iter().filter(|choice| !choices.contains(choice)) {
            self.delete_node(dropped);
        }
        let mut backed_by: Vec<NodeId> = strategy
            .assumptions
            .iter()
            .filter(|assumption| !assumption.health_metric.is_empty())
            .filter_map(|assumption| self.intern(&assumption.health_metric))
            .collect();
        backed_by.sort_unstable();
        backed_by.dedup();
        let data = Data::Strategy(Strategy {
            state: strategy.state(),
            owner,
            parent_choice,
            parent_looped,
            choices,
            backed_by,
        });
        self.replace(id, &strategy.display_name, data);
    }

    fn upsert_choice(&mut self, id: NodeId, choice: &strategy_pb::Choice) {
        let Data::Choice(Choice { strategy, .. }) = self.node(id).data else {
            return;
        };
        let data = Data::Choice(Choice {
            kind: choice.kind(),
            strategy,
        });
        self.replace(id, &choice.title, data);
        if let Data::Strategy(owner) = &mut self.nodes[strategy].data
            && !owner.choices.contains(&id)
        {
            owner.choices.push(id);
        }
    }

    fn upsert_objective(&mut self, id: NodeId, objective: &okr_pb::Objective) {
        let cycle = self.intern_optional(&objective.cycle);
        let owner = self.intern_optional(&objective.owner);
        let guardrails = objective
            .guardrails
            .iter()
            .filter_map(|metric| self.intern(metric))
            .collect();
        let mut aligns_to: Vec<Edge> = Vec::with_capacity(objective.aligns_to.len());
        for alignment in &objective.aligns_to {
            let Some(Target::Choice(target_name) | Target::Objective(target_name) | Target::KeyResult(target_name)) =
                &alignment.target
            else {
                continue;
            };
            let Some(target) = self.intern(target_name) else {
                continue;
            };
            if aligns_to.iter().any(|edge| edge.target == target) {
                continue;
            }
            let weight = effective_weight(alignment.weight);
            let looped = target == id || self.reaches(target, id);
            aligns_to.push(Edge { target, weight, looped });
        }
        let (key_results, progress) = match &self.node(id).data {
            Data::Objective(previous) => (previous.key_results.clone(), previous.progress),
            _ => (Vec::new(), 0.0),
        };
        let remedial_for = if objective.origin() == okr_pb::objective::Origin::Remedial {
            self.intern_optional(&objective.remedial_for)
        } else {
            None
        };
        let data = Data::Objective(Objective {
            cycle,
            owner,
            kind: objective.kind(),
            state: objective.state(),
            origin: objective.origin(),
            aligns_to,
            guardrails,
            remedial_for,
            state_reason: objective.state_reason.as_str().into(),
            key_results,
            progress,
            private: visibility::is_private(objective.visibility),
        });
        self.replace(id, &objective.title, data);
    }

    /// Returns the key result's objective.
    fn upsert_key_result(&mut self, id: NodeId, key_result: &okr_pb::KeyResult) -> NodeId {
        let Data::KeyResult(previous) = self.node(id).data.clone() else {
            return id;
        };
        let weight = effective_weight(key_result.weight);
        let data = Data::KeyResult(KeyResult {
            objective: previous.objective,
            owner: key_result.owner.as_str().into(),
            measure: Measure::from_wire(
                key_result.kind,
                key_result.start,
                key_result.target,
                key_result.lower,
                key_result.upper,
            ),
            weight,
            cadence_micros: cadence::micros(key_result.cadence.as_ref()),
            create_micros: key_result.create_time.as_ref().map_or(0, from_timestamp),
            health_metric: self.intern_optional(&key_result.health_metric),
            ..previous
        });
        self.replace(id, &key_result.title, data);
        if let Data::Objective(objective) = &mut self.nodes[previous.objective].data
            && !objective.key_results.contains(&id)
        {
            objective.key_results.push(id);
        }
        self.refresh_progress(previous.objective);
        previous.objective
    }

    /// Whether an alignment route up from `from` reaches `goal`: adding an
    /// edge from `goal` to `from` would then close a loop.
    fn reaches(&self, from: NodeId, goal: NodeId) -> bool {
        let mut stack = vec![from];
        let mut seen = vec![from];
        while let Some(current) = stack.pop() {
            if current == goal {
                return true;
            }
            for (up, _) in self.node(current).data.aligned_up() {
                if !seen.contains(&up) {
                    seen.push(up);
                    stack.push(up);
                }
            }
        }
        false
    }

    fn delete(&mut self, name: &str) -> Vec<Touch> {
        let Some(id) = self.id(name) else {
            return Vec::new();
        };
        let mut touched = vec![Touch {
            node: id,
            kind: TouchKind::Deleted,
        }];
        if let Data::KeyResult(key_result) = &self.node(id).data {
            touched.push(Touch {
                node: key_result.objective,
                kind: TouchKind::Progressed,
            });
        }
        if let Data::Strategy(strategy) = &self.node(id).data {
            for choice in strategy.choices.clone() {
                self.delete_node(choice);
            }
        }
        self.delete_node(id);
        touched
    }

    /// Turns the node back into a placeholder: what still refers to it
    /// keeps doing so, and sees it missing.
    fn delete_node(&mut self, id: NodeId) {
        self.forget_accountable(id);
        let node = self.node(id);
        let parent = match &node.data {
            Data::Choice(choice) => Some(choice.strategy),
            Data::KeyResult(key_result) => Some(key_result.objective),
            _ => None,
        };
        let mut placeholder = Data::placeholder(node.kind(), parent.unwrap_or(id));
        // A private thing stays private after it is gone: its deletion (and
        // what still refers to it) is no one else's business either.
        match (&node.data, &mut placeholder) {
            (Data::Objective(old), Data::Objective(new)) => new.private = old.private,
            (Data::HealthMetric(old), Data::HealthMetric(new)) => new.private = old.private,
            _ => {}
        }
        let old = node.data.hangs_below();
        let new = placeholder.hangs_below();
        let node = &mut self.nodes[id];
        node.data = placeholder;
        node.present = false;
        node.title = "".into();
        self.relink(id, &old, &new);
        let Some(parent) = parent else {
            return;
        };
        match &mut self.nodes[parent].data {
            Data::Strategy(strategy) => strategy.choices.retain(|choice| *choice != id),
            Data::Objective(objective) => {
                objective.key_results.retain(|key_result| *key_result != id);
                self.refresh_progress(parent);
            }
            _ => {}
        }
    }

    /// Takes metric `id` out of its accountable person's list.
    fn forget_accountable(&mut self, id: NodeId) {
        let node = self.node(id);
        let Data::HealthMetric(metric) = &node.data else { return };
        if !node.present || metric.accountable.is_empty() {
            return;
        }
        let person = metric.accountable.clone();
        if let Some(metrics) = self.accountable_for.get_mut(&person) {
            metrics.retain(|metric| *metric != id);
            if metrics.is_empty() {
                self.accountable_for.remove(&person);
            }
        }
    }

    fn check_in(&mut self, check_in: &okr_pb::CheckIn) -> Vec<Touch> {
        let Some(key_result_name) = parent_name(&check_in.name, 1) else {
            return Vec::new();
        };
        if Kind::of_name(key_result_name) != Some(Kind::KeyResult) {
            return Vec::new();
        }
        let Some(id) = self.intern(key_result_name) else {
            return Vec::new();
        };
        let Data::KeyResult(key_result) = &mut self.nodes[id].data else {
            return Vec::new();
        };
        let measure = key_result.measure.unwrap_or(Measure::Baseline);
        key_result.tally = key_result.tally.record(&measure, check_in.value);
        // Values fed from a metric carry no confidence.
        if check_in.source.is_empty() {
            key_result.confidence = Some(check_in.confidence);
        }
        key_result.last_check_in_micros = check_in.create_time.as_ref().map(from_timestamp);
        let objective = key_result.objective;
        self.refresh_progress(objective);
        vec![
            Touch {
                node: id,
                kind: TouchKind::Progressed,
            },
            Touch {
                node: objective,
                kind: TouchKind::Progressed,
            },
        ]
    }

    /// Recomputes an objective's progress from its present key results.
    fn refresh_progress(&mut self, objective: NodeId) {
        let Data::Objective(data) = &self.node(objective).data else {
            return;
        };
        let pairs: Vec<(f64, f64)> = data
            .key_results
            .iter()
            .filter_map(|id| {
                let node = self.node(*id);
                node.key_result()
                    .filter(|_| node.present)
                    .map(|kr| (kr.weight, kr.progress()))
            })
            .collect();
        let progress = weighted_mean(&pairs);
        if let Data::Objective(data) = &mut self.nodes[objective].data {
            data.progress = progress;
        }
    }
}
