//! How one node reads at a moment (its aspects: state, and for an
//! objective its alignment and risk), and the changes between two
//! moments. Computed over the whole graph while the history is walked;
//! what the asker may not see is taken out when the changes are shown.

use trellis_proto::cascade::v1::risk_reason::Kind as RiskKind;

use crate::{
    graph::{Graph, NodeId, Sight, queries::Finding, risks::RiskTerms},
    rhythm::colour::Colour,
};

/// An objective's alignment.
#[derive(Debug, Clone, PartialEq)]
pub enum Alignment {
    Aligned,
    /// Aligned to nothing (and no remedial objective).
    Orphaned,
    /// Aligned, with these problems.
    Misaligned(Vec<Finding>),
}

/// A node's aspects at one moment; `None` where an aspect does not apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aspects {
    /// "" while the node does not exist.
    pub state: String,
    pub alignment: Option<Alignment>,
    /// The risk reasons (empty: none), staleness left out.
    pub risk: Option<Vec<(RiskKind, NodeId, String)>>,
}

/// One aspect that changed, before and after.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    State(String, String),
    Alignment(Option<Alignment>, Alignment),
    Risk(Vec<(RiskKind, NodeId, String)>, Vec<(RiskKind, NodeId, String)>),
}

impl Aspects {
    /// How `node` reads in `graph` now.
    pub fn of(graph: &Graph, node: NodeId, confidence_below: i32) -> Aspects {
        let data = graph.node(node);
        if !data.present {
            return Aspects::default();
        }
        let state = match data.key_result() {
            Some(key_result) => key_result
                .confidence
                .and_then(Colour::of_confidence)
                .map_or("", Colour::as_str),
            None => data.state_name(),
        };
        let Some(objective) = graph.objective(node) else {
            return Aspects {
                state: state.to_owned(),
                ..Aspects::default()
            };
        };
        let alignment = objective.counts().then(|| {
            let findings = graph.misalignments_of(node, Sight::ALL);
            if graph.is_orphan(node) {
                Alignment::Orphaned
            } else if findings.is_empty() {
                Alignment::Aligned
            } else {
                Alignment::Misaligned(findings)
            }
        });
        let terms = RiskTerms {
            confidence_below,
            now_micros: None,
        };
        let risk = graph
            .risk_of(node, terms, Sight::ALL)
            .map_or_else(Vec::new, |finding| finding.reasons);
        Aspects {
            state: state.to_owned(),
            alignment,
            risk: Some(risk),
        }
    }

    /// The aspects that differ from `before` to `self`, in the order
    /// state, alignment, risk.
    pub fn changes_from(&self, before: &Aspects) -> Vec<Changed> {
        let mut changed = Vec::new();
        if self.state != before.state {
            changed.push(Changed::State(before.state.clone(), self.state.clone()));
        }
        if let Some(alignment) = &self.alignment
            && self.alignment != before.alignment
        {
            changed.push(Changed::Alignment(before.alignment.clone(), alignment.clone()));
        }
        if let Some(risk) = &self.risk
            && before.risk.as_ref() != Some(risk)
        {
            changed.push(Changed::Risk(before.risk.clone().unwrap_or_default(), risk.clone()));
        }
        changed
    }
}

impl Alignment {
    pub fn as_str(&self) -> &'static str {
        match self {
            Alignment::Aligned => "ALIGNED",
            Alignment::Orphaned => "ORPHANED",
            Alignment::Misaligned(_) => "MISALIGNED",
        }
    }

    /// As `sight` shows it: problems with targets it does not see are not
    /// there (as in the misalignments list).
    pub fn seen(&self, sight: Sight) -> Alignment {
        match self {
            Alignment::Misaligned(findings) => {
                let seen: Vec<Finding> = findings
                    .iter()
                    .filter(|finding| sight.sees(finding.target))
                    .cloned()
                    .collect();
                if seen.is_empty() {
                    Alignment::Aligned
                } else {
                    Alignment::Misaligned(seen)
                }
            }
            other => other.clone(),
        }
    }
}

/// Risk reasons in words: "NONE", or each kind and subject.
pub fn risk_words(graph: &Graph, reasons: &[(RiskKind, NodeId, String)]) -> String {
    if reasons.is_empty() {
        return "NONE".to_owned();
    }
    reasons
        .iter()
        .map(|(kind, subject, _)| format!("{} {}", kind.as_str_name(), graph.node(*subject).name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use trellis_proto::{
        health::v1 as health_pb,
        okr::v1::{self as okr_pb, alignment_target},
        strategy::v1::{self as strategy_pb, ChoiceKind},
    };

    use super::*;
    use crate::graph::{Change, Resource};

    fn upsert(graph: &mut Graph, resource: Resource) {
        graph.apply(Change::Upsert(Box::new(resource)));
    }

    fn choice(kind: ChoiceKind) -> Resource {
        Resource::Choice(strategy_pb::Choice {
            name: "strategies/s/choices/c".into(),
            kind: kind as i32,
            ..strategy_pb::Choice::default()
        })
    }

    fn objective(aligned: bool, guardrail: bool) -> Resource {
        Resource::Objective(okr_pb::Objective {
            name: "objectives/o".into(),
            state: okr_pb::objective::State::Active as i32,
            cycle: "cycles/2027-q1".into(),
            aligns_to: if aligned {
                vec![okr_pb::AlignmentTarget {
                    target: Some(alignment_target::Target::Choice("strategies/s/choices/c".into())),
                    weight: 1.0,
                }]
            } else {
                Vec::new()
            },
            guardrails: if guardrail {
                vec!["healthMetrics/csat".into()]
            } else {
                Vec::new()
            },
            ..okr_pb::Objective::default()
        })
    }

    fn metric(status: health_pb::Status) -> Resource {
        Resource::HealthMetric(health_pb::HealthMetric {
            name: "healthMetrics/csat".into(),
            status: status as i32,
            ..health_pb::HealthMetric::default()
        })
    }

    #[test]
    fn an_objective_reads_orphaned_aligned_then_misaligned() {
        let mut graph = Graph::new();
        upsert(&mut graph, objective(false, false));
        let id = graph.id("objectives/o").expect("the objective");
        let orphaned = Aspects::of(&graph, id, 5);
        assert_eq!(orphaned.state, "ACTIVE");
        assert_eq!(orphaned.alignment, Some(Alignment::Orphaned));
        assert_eq!(orphaned.risk, Some(Vec::new()));

        upsert(&mut graph, choice(ChoiceKind::WhereToPlay));
        upsert(&mut graph, objective(true, false));
        let aligned = Aspects::of(&graph, id, 5);
        assert_eq!(aligned.alignment, Some(Alignment::Aligned));
        assert_eq!(
            aligned.changes_from(&orphaned),
            vec![Changed::Alignment(Some(Alignment::Orphaned), Alignment::Aligned)]
        );

        upsert(&mut graph, choice(ChoiceKind::NotDoing));
        let misaligned = Aspects::of(&graph, id, 5);
        let Some(Alignment::Misaligned(findings)) = &misaligned.alignment else {
            panic!("{misaligned:?}");
        };
        assert!(findings[0].description.contains("NOT_DOING"), "{findings:?}");
        assert_eq!(misaligned.changes_from(&aligned).len(), 1);
        // Nothing else moved: nothing changed.
        assert!(misaligned.changes_from(&misaligned).is_empty());
    }

    #[test]
    fn a_guardrail_turning_red_is_a_risk_change() {
        let mut graph = Graph::new();
        upsert(&mut graph, metric(health_pb::Status::Green));
        upsert(&mut graph, objective(false, true));
        let id = graph.id("objectives/o").expect("the objective");
        let green = Aspects::of(&graph, id, 5);
        upsert(&mut graph, metric(health_pb::Status::Red));
        let red = Aspects::of(&graph, id, 5);
        let changes = red.changes_from(&green);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let Changed::Risk(before, after) = &changes[0] else {
            panic!("{changes:?}");
        };
        assert_eq!(risk_words(&graph, before), "NONE");
        assert_eq!(risk_words(&graph, after), "GUARDRAIL_RED healthMetrics/csat");
    }

    #[test]
    fn a_node_that_does_not_exist_has_no_aspects() {
        let mut graph = Graph::new();
        upsert(&mut graph, objective(true, false));
        // The choice is only known from the reference.
        let choice = graph.id("strategies/s/choices/c").expect("the referenced choice");
        assert_eq!(Aspects::of(&graph, choice, 5), Aspects::default());
    }
}
