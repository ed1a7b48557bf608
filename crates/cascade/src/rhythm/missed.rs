//! Missed check-ins. A key result is checked in on every `cadence`; one
//! that goes past its cadence without a check-in opens a "missed
//! check-in" conversation for its owner; past twice its cadence the
//! owning unit's lead hears of it, past three times the lead of the unit
//! above. Each step is taken once per lapse and recorded; the next
//! check-in ends the lapse (and a new one counts from it).

use std::collections::HashMap;

use trellis_proto::okr::v1::{cycle::State as CycleState, objective::State as ObjectiveState};

use crate::graph::{Data, Graph};

/// A step up the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MissedStep {
    /// The key result's owner.
    Owner,
    /// The lead of the unit that owns the key result's objective.
    Lead,
    /// The lead of the unit above that one.
    ParentLead,
}

impl MissedStep {
    pub const ALL: [MissedStep; 3] = [MissedStep::Owner, MissedStep::Lead, MissedStep::ParentLead];
}

/// The steps due for a key result last checked in (or activated) at
/// `since`, with `cadence`, at `now` (all in microseconds): the owner's
/// once past one cadence, the lead's past two, the parent lead's past
/// three. No cadence, no steps.
pub fn missed_steps(since: i64, cadence: i64, now: i64) -> &'static [MissedStep] {
    if cadence <= 0 {
        return &[];
    }
    let elapsed = now.saturating_sub(since);
    if elapsed <= 0 {
        return &[];
    }
    // Past a cadence, not on it: a check-in due at `since + cadence` is
    // on time then.
    let lapsed = (elapsed - 1) / cadence;
    let due = usize::try_from(lapsed).unwrap_or(0).min(MissedStep::ALL.len());
    &MissedStep::ALL[..due]
}

/// Who hears of `step`, and for a lead, whose lead they are: the owner,
/// or the first lead up the line (`leads`: the owning unit and its lead,
/// then its parent and its lead, ...; "" where a unit has none) and the
/// one after it. `None` when the line runs out.
pub fn recipient<'a>(step: MissedStep, owner: &'a str, leads: &[(&'a str, &'a str)]) -> Option<(&'a str, &'a str)> {
    let mut named = leads.iter().copied().filter(|(_, lead)| !lead.is_empty());
    match step {
        MissedStep::Owner => Some((owner, "")).filter(|(owner, _)| !owner.is_empty()),
        MissedStep::Lead => named.next().map(|(unit, lead)| (lead, unit)),
        MissedStep::ParentLead => named.nth(1).map(|(unit, lead)| (lead, unit)),
    }
}

/// A key result past its cadence, as a sweep finds it in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub subject: String,
    pub title: String,
    /// The unit owning its objective.
    pub org_unit: String,
    pub private: bool,
    /// The key result's owner.
    pub person: String,
    /// The check-in (or activation) the lapse counts from.
    pub since_micros: i64,
    /// When the first check-in was due.
    pub due_micros: i64,
    /// The steps due now: each with who hears of it and, for leads, the
    /// unit whose lead they are. A step with nobody to hear of it (no
    /// lead up the line) is left out.
    pub steps: Vec<(MissedStep, String, String)>,
}

/// The key results overdue at `now` among those expected to check in (a
/// cadence, not fed by a metric, their objective and cycle ACTIVE); and
/// for each of `watched` (those with an open lapse), the time its lapse
/// counts from now, if it is still expected to check in. Only these are
/// collected: the walk runs under the graph's read lock, and a map of
/// every key result would hold the feeds back for hundreds of
/// milliseconds at a million of them.
pub fn overdue(graph: &Graph, now: i64, watched: &[String]) -> (Vec<Overdue>, HashMap<String, i64>) {
    let watched: std::collections::HashSet<&str> = watched.iter().map(String::as_str).collect();
    let mut expected = HashMap::new();
    let mut late = Vec::new();
    for (id, node) in graph.nodes().filter(|(_, node)| node.present) {
        let Data::KeyResult(key_result) = &node.data else {
            continue;
        };
        if key_result.cadence_micros <= 0 || key_result.health_metric.is_some() {
            continue;
        }
        let Some(objective) = graph.objective(key_result.objective) else {
            continue;
        };
        let Some(Data::Cycle(cycle)) = objective.cycle.map(|cycle| &graph.node(cycle).data) else {
            continue;
        };
        if objective.state != ObjectiveState::Active || cycle.state != CycleState::Active {
            continue;
        }
        let since = [
            key_result.last_check_in_micros.unwrap_or(0),
            cycle.activate_micros,
            key_result.create_micros,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if watched.contains(&*node.name) {
            expected.insert(String::from(&*node.name), since);
        }
        let due = missed_steps(since, key_result.cadence_micros, now);
        if due.is_empty() {
            continue;
        }
        let chain = objective.owner.map(|unit| graph.org_chain(unit)).unwrap_or_default();
        let leads: Vec<(&str, &str)> = chain
            .iter()
            .filter_map(|unit| match &graph.node(*unit).data {
                Data::OrgUnit(data) => Some((&*graph.node(*unit).name, &*data.lead)),
                _ => None,
            })
            .collect();
        let steps = due
            .iter()
            .filter_map(|step| {
                recipient(*step, &key_result.owner, &leads)
                    .map(|(person, unit)| (*step, person.to_owned(), unit.to_owned()))
            })
            .collect();
        late.push(Overdue {
            subject: String::from(&*node.name),
            title: String::from(&*node.title),
            org_unit: objective.owner.map_or_else(String::new, |unit| graph.name_of(unit)),
            private: graph.is_private(id),
            person: key_result.owner.to_string(),
            since_micros: since,
            due_micros: since.saturating_add(key_result.cadence_micros),
            steps,
        });
    }
    (late, expected)
}

/// One lapse of a key result: since when, and the steps taken so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapse {
    pub since: i64,
    pub taken: Vec<MissedStep>,
}

impl Lapse {
    pub fn new(since: i64) -> Lapse {
        Lapse {
            since,
            taken: Vec::new(),
        }
    }

    /// The steps due at `now` not taken yet, now recorded as taken.
    pub fn sweep(&mut self, cadence: i64, now: i64) -> Vec<MissedStep> {
        let due: Vec<MissedStep> = missed_steps(self.since, cadence, now)
            .iter()
            .copied()
            .filter(|step| !self.taken.contains(step))
            .collect();
        self.taken.extend(&due);
        due
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const WEEK: i64 = 7 * 86_400 * 1_000_000;

    #[test]
    fn a_lapse_climbs_owner_lead_parent_lead_once_each() {
        let mut lapse = Lapse::new(0);
        assert!(lapse.sweep(WEEK, WEEK).is_empty(), "on the cadence is not late");
        assert_eq!(lapse.sweep(WEEK, WEEK + 1), [MissedStep::Owner]);
        assert!(lapse.sweep(WEEK, WEEK + 2).is_empty(), "once");
        assert_eq!(lapse.sweep(WEEK, 2 * WEEK + 1), [MissedStep::Lead]);
        assert_eq!(lapse.sweep(WEEK, 10 * WEEK), [MissedStep::ParentLead]);
        assert!(lapse.sweep(WEEK, 20 * WEEK).is_empty());
        assert!(missed_steps(0, 0, 20 * WEEK).is_empty(), "no cadence, no lapse");
    }

    #[test]
    fn leads_are_found_up_the_line_past_units_without_one() {
        let leads = [("team", ""), ("eng", "cto@acme"), ("tech", ""), ("acme", "ceo@acme")];
        assert_eq!(recipient(MissedStep::Owner, "ana", &leads), Some(("ana", "")));
        assert_eq!(recipient(MissedStep::Lead, "ana", &leads), Some(("cto@acme", "eng")));
        assert_eq!(
            recipient(MissedStep::ParentLead, "ana", &leads),
            Some(("ceo@acme", "acme"))
        );
        assert_eq!(recipient(MissedStep::ParentLead, "ana", &[("eng", "cto@acme")]), None);
    }

    proptest! {
        /// However the sweeps fall (late, early, repeated, out of order),
        /// each step is taken at most once, and the steps taken are those
        /// due at the latest sweep.
        #[test]
        fn sweeps_take_each_due_step_exactly_once(
            cadence in 1i64..1_000,
            sweeps in proptest::collection::vec(0i64..5_000, 0..30),
        ) {
            let mut lapse = Lapse::new(0);
            let mut taken = Vec::new();
            for now in &sweeps {
                taken.extend(lapse.sweep(cadence, *now));
            }
            let latest = sweeps.iter().copied().max().unwrap_or(0);
            let mut sorted = taken.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), taken.len(), "a step taken twice");
            prop_assert_eq!(sorted.as_slice(), missed_steps(0, cadence, latest));
        }
    }
}
