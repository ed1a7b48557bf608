//! Which objectives of a cycle are at risk, and why: guardrails not
//! green, key results checked in at low confidence or gone stale; paused
//! objectives first, then the riskiest.

use trellis_proto::{
    cascade::v1::risk_reason::Kind as RiskKind,
    health::v1::Status as MetricStatus,
    okr::v1::{cycle::State as CycleState, objective::State as ObjectiveState},
};
use trellis_rules::cadence::is_stale;

use super::{Data, Graph, NodeId, Sight};

#[derive(Debug, Clone, PartialEq)]
pub struct RiskFinding {
    pub objective: NodeId,
    /// PAUSED (by the Four Square rule or by hand): ranked as a group of
    /// their own, ahead of the objectives still pursued, since a pause is
    /// the strongest signal that a plan no longer holds.
    pub paused: bool,
    pub score: f64,
    pub reasons: Vec<(RiskKind, NodeId, String)>,
}

/// What a risk is judged against: the confidence below which a check-in
/// is low, and, when staleness counts, the time it is judged at.
#[derive(Debug, Clone, Copy)]
pub struct RiskTerms {
    pub confidence_below: i32,
    /// `None`: staleness, a matter of the clock rather than of any change,
    /// is left out.
    pub now_micros: Option<i64>,
}

impl Graph {
    /// Objectives of `cycle` still pursued (DRAFT, ACTIVE, PAUSED) with
    /// a reason for concern, riskiest first (then by name).
    pub fn risks(
        &self,
        cycle: NodeId,
        unit: Option<NodeId>,
        confidence_below: i32,
        now_micros: i64,
        sight: Sight,
    ) -> Vec<RiskFinding> {
        let terms = RiskTerms {
            confidence_below,
            now_micros: Some(now_micros),
        };
        let mut found: Vec<RiskFinding> = self
            .objectives_in(Some(cycle), unit, sight)
            .into_iter()
            .filter_map(|id| self.risk_of(id, terms, sight))
            .collect();
        found.sort_by(|a, b| {
            b.paused
                .cmp(&a.paused)
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| self.node(a.objective).name.cmp(&self.node(b.objective).name))
        });
        found
    }

    /// Why one objective still pursued is at risk; `None` when it is not.
    pub fn risk_of(&self, id: NodeId, terms: RiskTerms, sight: Sight) -> Option<RiskFinding> {
        let objective = self.objective(id)?;
        if !matches!(
            objective.state,
            ObjectiveState::Draft | ObjectiveState::Active | ObjectiveState::Paused
        ) {
            return None;
        }
        let (cycle_active, activate_micros) = match objective.cycle.map(|cycle| &self.node(cycle).data) {
            Some(Data::Cycle(data)) => (data.state == CycleState::Active, data.activate_micros),
            _ => (false, 0),
        };
        let mut score = 0.0;
        let mut reasons = Vec::new();
        for metric in objective.guardrails.iter().filter(|metric| sight.sees(**metric)) {
            let node = self.node(*metric);
            let Data::HealthMetric(data) = &node.data else {
                continue;
            };
            let (kind, weight) = match data.status {
                MetricStatus::Red => (RiskKind::GuardrailRed, 5.0),
                MetricStatus::Unknown => (RiskKind::GuardrailUnknown, 3.0),
                MetricStatus::Yellow => (RiskKind::GuardrailYellow, 2.0),
                _ => continue,
            };
            score += weight;
            reasons.push((
                kind,
                *metric,
                format!("guardrail {} is {}", node.name, data.status.as_str_name()),
            ));
        }
        let confidence_below = terms.confidence_below;
        let mut key_results = objective.key_results.clone();
        key_results.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
        for key_result_id in key_results {
            let node = self.node(key_result_id);
            let Some(key_result) = node.key_result().filter(|_| node.present) else {
                continue;
            };
            if let Some(confidence) = key_result.confidence
                && confidence < confidence_below
            {
                score += 1.0 + f64::from(confidence_below - confidence) / f64::from(confidence_below);
                reasons.push((
                    RiskKind::LowConfidence,
                    key_result_id,
                    format!("{} was last checked in at confidence {confidence}", node.name),
                ));
            }
            let stale = cycle_active
                && terms.now_micros.is_some_and(|now_micros| {
                    is_stale(
                        key_result.last_check_in_micros,
                        activate_micros.max(key_result.create_micros),
                        key_result.cadence_micros,
                        now_micros,
                    )
                });
            if stale {
                score += 2.0;
                reasons.push((
                    RiskKind::StaleKeyResult,
                    key_result_id,
                    format!("{} has had no check-in within its cadence", node.name),
                ));
            }
        }
        (!reasons.is_empty()).then(|| RiskFinding {
            objective: id,
            paused: objective.state == ObjectiveState::Paused,
            score,
            reasons,
        })
    }
}
