//! Missed check-ins. A key result is checked in on every `cadence`; one
//! that goes past its cadence without a check-in opens a "missed
//! check-in" conversation for its owner; past twice its cadence the
//! owning unit's lead hears of it, past three times the lead of the unit
//! above. Each step is taken once per lapse and recorded; the next
//! check-in ends the lapse (and a new one counts from it).

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

/// Who hears of `step`: the owner, or the first lead up the line
/// (`leads`: the owning unit's, then its parent's, ...; "" where a unit
/// has none) and the one after it. `None` when the line runs out.
pub fn recipient<'a>(step: MissedStep, owner: &'a str, leads: &[&'a str]) -> Option<&'a str> {
    let mut named = leads.iter().copied().filter(|lead| !lead.is_empty());
    match step {
        MissedStep::Owner => Some(owner).filter(|owner| !owner.is_empty()),
        MissedStep::Lead => named.next(),
        MissedStep::ParentLead => named.nth(1),
    }
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
        let leads = ["", "cto@acme", "", "ceo@acme"];
        assert_eq!(recipient(MissedStep::Owner, "ana", &leads), Some("ana"));
        assert_eq!(recipient(MissedStep::Lead, "ana", &leads), Some("cto@acme"));
        assert_eq!(recipient(MissedStep::ParentLead, "ana", &leads), Some("ceo@acme"));
        assert_eq!(recipient(MissedStep::ParentLead, "ana", &["cto@acme"]), None);
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
