//! Accountability spread: one person accountable for many health metrics
//! cannot hold the conversations each needs when its colour moves, so a
//! person over the limit is flagged.

use std::collections::HashMap;

use super::{Data, Graph, NodeId, Sight};

/// A person accountable for more metrics than the limit, and those metrics
/// (by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spread {
    pub person: String,
    pub metrics: Vec<NodeId>,
}

impl Graph {
    /// The people accountable for more than `limit` of the metrics `sight`
    /// sees (owned within `unit`, when given), most metrics first, then by
    /// person.
    pub fn accountability_spread(&self, unit: Option<NodeId>, limit: usize, sight: Sight) -> Vec<Spread> {
        let mut by_person: HashMap<&str, Vec<NodeId>> = HashMap::new();
        for (id, node) in self.nodes() {
            let Data::HealthMetric(metric) = &node.data else {
                continue;
            };
            if !node.present || metric.accountable.is_empty() || !sight.sees(id) {
                continue;
            }
            if unit.is_some_and(|unit| !metric.owner.is_some_and(|owner| self.within_unit(owner, unit))) {
                continue;
            }
            by_person.entry(&metric.accountable).or_default().push(id);
        }
        let mut spread: Vec<Spread> = by_person
            .into_iter()
            .filter(|(_, metrics)| metrics.len() > limit)
            .map(|(person, mut metrics)| {
                metrics.sort_by(|a, b| self.node(*a).name.cmp(&self.node(*b).name));
                Spread {
                    person: person.to_owned(),
                    metrics,
                }
            })
            .collect();
        spread.sort_by(|a, b| {
            b.metrics
                .len()
                .cmp(&a.metrics.len())
                .then_with(|| a.person.cmp(&b.person))
        });
        spread
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use trellis_proto::{cascade::v1 as org_pb, health::v1 as health_pb};

    use super::*;
    use crate::graph::{Change, Resource};

    fn unit(graph: &mut Graph, id: &str, parent: &str) {
        graph.apply(Change::Upsert(Box::new(Resource::OrgUnit(org_pb::OrgUnit {
            name: format!("orgUnits/{id}"),
            parent: if parent.is_empty() {
                String::new()
            } else {
                format!("orgUnits/{parent}")
            },
            ..Default::default()
        }))));
    }

    fn metric(graph: &mut Graph, id: &str, owner: &str, accountable: &str) {
        graph.apply(Change::Upsert(Box::new(Resource::HealthMetric(
            health_pb::HealthMetric {
                name: format!("healthMetrics/{id}"),
                owner: format!("orgUnits/{owner}"),
                accountable: accountable.to_owned(),
                ..Default::default()
            },
        ))));
    }

    #[test]
    fn people_over_the_limit_are_listed_with_their_metrics_most_first() {
        let mut graph = Graph::new();
        unit(&mut graph, "acme", "");
        unit(&mut graph, "eng", "acme");
        unit(&mut graph, "sales", "acme");
        for (id, owner) in [("a1", "eng"), ("a2", "eng"), ("a3", "sales"), ("a4", "sales")] {
            metric(&mut graph, id, owner, "ana");
        }
        for (id, owner) in [("b1", "eng"), ("b2", "eng"), ("b3", "eng")] {
            metric(&mut graph, id, owner, "bo");
        }
        for id in ["c1", "c2", "c3", "c4", "c5"] {
            metric(&mut graph, id, "sales", "cy");
        }
        let names = |spread: &[Spread]| -> Vec<(String, usize)> {
            spread
                .iter()
                .map(|found| (found.person.clone(), found.metrics.len()))
                .collect()
        };
        let everyone = graph.accountability_spread(None, 3, Sight::ALL);
        assert_eq!(names(&everyone), [("cy".to_owned(), 5), ("ana".to_owned(), 4)]);
        assert_eq!(graph.node(everyone[1].metrics[0]).name.as_ref(), "healthMetrics/a1");
        assert_eq!(names(&graph.accountability_spread(None, 2, Sight::ALL)).len(), 3);
        let eng = graph.id("orgUnits/eng");
        assert_eq!(
            names(&graph.accountability_spread(eng, 2, Sight::ALL)),
            [("bo".to_owned(), 3)],
            "only metrics owned within the unit count"
        );
        // What the asker does not see does not count.
        let hidden: HashSet<NodeId> = ["healthMetrics/a1", "healthMetrics/a2"]
            .iter()
            .filter_map(|name| graph.id(name))
            .collect();
        assert_eq!(
            names(&graph.accountability_spread(None, 3, Sight::all_but(&hidden))),
            [("cy".to_owned(), 5)]
        );
        graph.apply(Change::Delete("healthMetrics/c5".into()));
        graph.apply(Change::Delete("healthMetrics/c4".into()));
        assert_eq!(
            names(&graph.accountability_spread(None, 3, Sight::ALL)),
            [("ana".to_owned(), 4)]
        );
    }
}
