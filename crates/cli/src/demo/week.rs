//! Cask & Co.'s week: initiatives serving the quarter's key results (and
//! one that serves none, parked in NOT_NOW), and the onboarding team's
//! priorities for this week (the first one won) and the next.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use trellis_proto::cascade::v1::{
    CreateInitiativeRequest, GetBoardRequest, GetWeeklyPlanRequest, Initiative, Priority, UpdateWeeklyPlanRequest,
    priority::{Level, Outcome},
};

use crate::{client::Clients, failure::Failure};

/// (id, owner, title, key result it serves, weeks from now it is due).
const INITIATIVES: &[(&str, &str, &str, &str, u64)] = &[
    (
        "welcome-call",
        "onboarding",
        "A welcome call in every member's first week",
        "objectives/first-box/keyResults/kr1",
        1,
    ),
    (
        "palate-quiz-v2",
        "curation",
        "A palate quiz that learns from returns",
        "objectives/curated-picks/keyResults/kr1",
        2,
    ),
    (
        "courier-swap",
        "operations",
        "Move the north routes to the second courier",
        "objectives/ship-on-time/keyResults/kr1",
        3,
    ),
    // Serves no key result: the strategy filter parks it.
    ("retail-popup", "growth", "A pop-up shop in the city centre", "", 4),
];

/// The week `weeks` after `week` ("2027-W05").
fn week_after(week: &str, weeks: u64) -> Result<String, Failure> {
    let bad = || Failure::Usage(format!("the server named an odd week: {week:?}"));
    let (year, number) = week.split_once("-W").ok_or_else(bad)?;
    let monday = NaiveDate::from_isoywd_opt(
        year.parse().map_err(|_| bad())?,
        number.parse().map_err(|_| bad())?,
        Weekday::Mon,
    )
    .and_then(|monday| monday.checked_add_days(Days::new(weeks * 7)))
    .ok_or_else(bad)?;
    let iso = monday.iso_week();
    Ok(format!("{:04}-W{:02}", iso.year(), iso.week()))
}

/// This week as the server counts it, once the cascade shows the
/// onboarding team's key results (the initiatives are checked against
/// them).
async fn this_week_when_ready(clients: &Clients) -> Result<String, Failure> {
    let mut rhythm = clients.rhythm.clone();
    for _ in 0..100 {
        let board = rhythm
            .get_board(GetBoardRequest {
                org_unit: "orgUnits/onboarding".to_owned(),
                ..GetBoardRequest::default()
            })
            .await
            .map_err(Failure::call("reading the onboarding board"))?
            .into_inner();
        if board.units.first().is_some_and(|unit| !unit.okrs.is_empty()) {
            return Ok(board.week);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Failure::Usage(
        "the cascade did not show the quarter's key results in time".to_owned(),
    ))
}

fn priority(level: Level, title: &str, key_result: &str, initiative: &str) -> Priority {
    Priority {
        level: level as i32,
        title: title.to_owned(),
        key_result: key_result.to_owned(),
        initiative: initiative.to_owned(),
        owner: "onboarding-lead@caskco.example".to_owned(),
        ..Priority::default()
    }
}

pub async fn load(clients: &Clients) -> Result<(), Failure> {
    let week = this_week_when_ready(clients).await?;
    let mut rhythm = clients.rhythm.clone();
    for (id, owner, title, key_result, due) in INITIATIVES {
        let initiative = Initiative {
            owner: format!("orgUnits/{owner}"),
            title: (*title).to_owned(),
            accountable: format!("{owner}-lead@caskco.example"),
            key_results: [*key_result]
                .iter()
                .filter(|kr| !kr.is_empty())
                .map(|kr| (*kr).to_owned())
                .collect(),
            target_week: week_after(&week, *due)?,
            ..Initiative::default()
        };
        rhythm
            .create_initiative(CreateInitiativeRequest {
                initiative: Some(initiative),
                initiative_id: (*id).to_owned(),
                request_id: super::request_id(id),
            })
            .await
            .map_err(Failure::call(format!("creating initiative {id}")))?;
    }
    let first_box = "objectives/first-box/keyResults/kr1";
    let plans = [
        (
            week.clone(),
            vec![
                Priority {
                    outcome: Outcome::Won as i32,
                    outcome_note: "All twelve new members called".to_owned(),
                    ..priority(Level::P1, "Call this week's new members", first_box, "")
                },
                priority(Level::P2, "Script the welcome call", "", "initiatives/welcome-call"),
            ],
        ),
        (
            week_after(&week, 1)?,
            vec![priority(
                Level::P1,
                "Welcome calls for every new member",
                "",
                "initiatives/welcome-call",
            )],
        ),
    ];
    for (week, priorities) in plans {
        let name = format!("orgUnits/onboarding/weeklyPlans/{}", week.to_lowercase());
        let mut plan = rhythm
            .get_weekly_plan(GetWeeklyPlanRequest { name: name.clone() })
            .await
            .map_err(Failure::call(format!("reading {name}")))?
            .into_inner();
        plan.priorities = priorities;
        rhythm
            .update_weekly_plan(UpdateWeeklyPlanRequest {
                weekly_plan: Some(plan),
            })
            .await
            .map_err(Failure::call(format!("planning {name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_count_on_across_a_year() {
        assert_eq!(week_after("2026-W52", 2).ok().as_deref(), Some("2027-W01"));
        assert!(week_after("next", 1).is_err());
    }
}
