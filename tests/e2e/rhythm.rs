//! The weekly rhythm's conversations: a key result's confidence or a
//! metric's status changing colour opens one for the person accountable,
//! a further move updates it, its person closes it with a note; a missed
//! check-in climbs owner, lead, parent lead once each and a check-in ends
//! it. Replicas and restarts derive the same conversations, never more.

use std::time::Duration;

use tonic::Code;
use trellis_proto::{
    cascade::v1::{
        CloseConversationRequest, Colour, Conversation, CreateOrgUnitRequest, GetInboxRequest,
        ListConversationsRequest, OrgUnit, conversation::Reason, conversation::State, escalation::Step,
    },
    okr::v1::{key_result, objective::Kind},
};
use trellis_tests::{TestApp, TestBackend, as_actor, backend_only_tests, backend_tests, spawn_app_with};

use crate::{
    health::{CSAT, create_metric, csat, record},
    okr_support::{
        check_in_at, company_objective, create_cycle, create_objective, measured, move_cycle, objective,
        planning_season, with_cadence,
    },
    support::{create_units, eventually, expect_code, violated_fields},
};

backend_tests!(
    a_confidence_drop_opens_one_conversation_that_its_owner_closes_with_a_note,
    a_metric_going_red_opens_one_for_its_accountable_person,
);
backend_only_tests!(a_missed_check_in_climbs_owner_lead_parent_lead_once_each);

const ANA: &str = "ana@acme.example";

/// A check-in whose value is its confidence: only the colour matters here.
async fn check_in(app: &TestApp, key_result: &str, confidence: i32) -> anyhow::Result<()> {
    check_in_at(app, key_result, f64::from(confidence), confidence).await
}

async fn conversations(app: &TestApp, filter: &str) -> anyhow::Result<Vec<Conversation>> {
    Ok(app
        .rhythm
        .clone()
        .list_conversations(ListConversationsRequest {
            filter: filter.to_owned(),
            ..ListConversationsRequest::default()
        })
        .await?
        .into_inner()
        .conversations)
}

fn colours(conversation: &Conversation) -> (Colour, Colour, i32) {
    (conversation.from_colour(), conversation.to_colour(), conversation.moves)
}

/// Waits until `filter` lists exactly what `expected` says of each.
async fn until_listed<T: PartialEq + std::fmt::Debug>(
    app: &TestApp,
    what: &str,
    filter: &str,
    shown: impl Fn(&Conversation) -> T,
    expected: &[T],
) -> anyhow::Result<Vec<Conversation>> {
    eventually(what, || async {
        let listed: Vec<T> = conversations(app, filter).await?.iter().map(&shown).collect();
        Ok(listed == expected)
    })
    .await?;
    conversations(app, filter).await
}

async fn a_confidence_drop_opens_one_conversation_that_its_owner_closes_with_a_note(
    app: TestApp,
) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let kr = measured(key_result::Kind::Increase, 0.0, 10.0);
    create_objective(&app, "grow", company_objective(Kind::Committed), vec![kr]).await?;
    move_cycle(&app, "ACTIVE").await?;
    let key_result = "objectives/grow/keyResults/kr1";
    let filter = format!("subject = \"{key_result}\"");
    check_in(&app, key_result, 8).await?;
    check_in(&app, key_result, 7).await?;
    check_in(&app, key_result, 3).await?;
    let opened = until_listed(
        &app,
        "8 to 3 opens one conversation, green to red",
        &filter,
        colours,
        &[(Colour::Green, Colour::Red, 1)],
    )
    .await?;
    let opened = &opened[0];
    assert_eq!(opened.person, ANA);
    assert_eq!(opened.reason(), Reason::ColourChanged);
    assert_eq!(opened.state(), State::Open);
    assert_eq!(opened.detail, "confidence 3");
    assert_eq!(opened.org_unit, "orgUnits/acme");

    check_in(&app, key_result, 2).await?;
    check_in(&app, key_result, 5).await?;
    until_listed(
        &app,
        "red to yellow updates the open conversation; 3 to 2 was no move",
        &filter,
        colours,
        &[(Colour::Green, Colour::Yellow, 2)],
    )
    .await?;
    let inbox = app
        .rhythm
        .clone()
        .get_inbox(as_actor(GetInboxRequest::default(), ANA))
        .await?
        .into_inner();
    assert_eq!(inbox.person, ANA);
    let names: Vec<&str> = inbox.conversations.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [opened.name.as_str()], "ana owes it");

    // A replica on the same database replays every feed from the start.
    let replica = app.spawn_replica().await?;
    eventually("the replica has caught up", || async {
        Ok(conversations(&replica, &filter).await?.len() == 1)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_replay = conversations(&app, &filter).await?;
    assert_eq!(
        after_replay.iter().map(colours).collect::<Vec<_>>(),
        [(Colour::Green, Colour::Yellow, 2)]
    );

    let mut rhythm = app.rhythm.clone();
    let both_wrong = expect_code(
        rhythm
            .close_conversation(CloseConversationRequest {
                name: "conversation/x".to_owned(),
                note: "  ".to_owned(),
            })
            .await,
        Code::InvalidArgument,
    )?;
    assert_eq!(violated_fields(&both_wrong), ["name", "note"]);
    let closed = rhythm
        .close_conversation(as_actor(
            CloseConversationRequest {
                name: opened.name.clone(),
                note: "Two deals slipped; weekly pipeline review from Monday".to_owned(),
            },
            ANA,
        ))
        .await?
        .into_inner();
    assert_eq!(closed.state(), State::Closed);
    assert_eq!(closed.closed_by, ANA);
    assert_eq!(closed.note, "Two deals slipped; weekly pipeline review from Monday");
    let again = CloseConversationRequest {
        name: opened.name.clone(),
        note: "again".to_owned(),
    };
    expect_code(rhythm.close_conversation(again).await, Code::FailedPrecondition)?;

    check_in(&app, key_result, 9).await?;
    let listed = until_listed(
        &app,
        "the next move opens a new conversation",
        &filter,
        |c| (c.state(), c.from_colour(), c.to_colour()),
        &[
            (State::Open, Colour::Yellow, Colour::Green),
            (State::Closed, Colour::Green, Colour::Yellow),
        ],
    )
    .await?;
    assert_eq!(listed[1].note, closed.note, "newest first; the note stays");
    replica.shutdown().await?;
    Ok(())
}

async fn a_metric_going_red_opens_one_for_its_accountable_person(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    create_metric(&app, "csat", csat()).await?;
    record(&app, CSAT, 0, 4.5).await?;
    record(&app, CSAT, 1, 3.1).await?;
    let filter = format!("subject = \"{CSAT}\" AND state = OPEN");
    let opened = until_listed(
        &app,
        "CSAT going red opens one conversation",
        &filter,
        |c| (c.person.clone(), c.from_colour(), c.to_colour()),
        &[("lena@acme.example".to_owned(), Colour::Green, Colour::Red)],
    )
    .await?;
    assert_eq!(opened[0].detail, "status RED");
    assert_eq!(opened[0].subject_title, "CSAT");
    record(&app, CSAT, 2, 3.0).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        conversations(&app, &format!("subject = \"{CSAT}\"")).await?.len(),
        1,
        "red again is no move"
    );
    Ok(())
}

fn led_unit(id: &str, parent: &str, lead: &str) -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            parent: parent.to_owned(),
            display_name: id.to_uppercase(),
            kind: "team".to_owned(),
            lead: lead.to_owned(),
            ..OrgUnit::default()
        }),
        org_unit_id: id.to_owned(),
        request_id: String::new(),
    }
}

async fn a_missed_check_in_climbs_owner_lead_parent_lead_once_each(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.rhythm_sweep_seconds = 1).await?;
    create_units(
        &app,
        vec![
            led_unit("acme", "", "ceo@acme.example"),
            led_unit("sales", "orgUnits/acme", "vp@acme.example"),
            // No lead: the line passes over it.
            led_unit("emea", "orgUnits/sales", ""),
            led_unit("emea-smb", "orgUnits/emea", "lead@acme.example"),
        ],
    )
    .await?;
    create_cycle(&app, "2027-q1", "orgUnits/acme").await?;
    let kr = with_cadence(measured(key_result::Kind::Increase, 0.0, 10.0), 2);
    let owned = objective("orgUnits/emea-smb", Kind::Committed, vec![]);
    create_objective(&app, "smb", owned, vec![kr]).await?;
    move_cycle(&app, "ACTIVE").await?;
    let key_result = "objectives/smb/keyResults/kr1";
    let filter = format!("subject = \"{key_result}\" AND reason = MISSED_CHECK_IN");
    let steps = |c: &Conversation| {
        c.escalations
            .iter()
            .map(|step| (step.step(), step.person.clone(), step.org_unit.clone()))
            .collect::<Vec<_>>()
    };
    let climbed = until_listed(
        &app,
        "past one, two and three cadences: the owner, the lead, the next lead up",
        &filter,
        steps,
        &[vec![
            (Step::Owner, ANA.to_owned(), String::new()),
            (
                Step::Lead,
                "lead@acme.example".to_owned(),
                "orgUnits/emea-smb".to_owned(),
            ),
            (
                Step::ParentLead,
                "vp@acme.example".to_owned(),
                "orgUnits/sales".to_owned(),
            ),
        ]],
    )
    .await?;
    let missed = &climbed[0];
    assert_eq!((missed.person.as_str(), missed.state()), (ANA, State::Open));
    let vp_inbox = app
        .rhythm
        .clone()
        .get_inbox(GetInboxRequest {
            person: "vp@acme.example".to_owned(),
        })
        .await?
        .into_inner();
    let escalated: Vec<&str> = vp_inbox.escalated.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(escalated, [missed.name.as_str()]);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let still = conversations(&app, &filter).await?;
    assert_eq!(still.len(), 1, "one conversation per lapse");
    assert_eq!(still[0].escalations.len(), 3, "each step once");

    check_in(&app, key_result, 8).await?;
    eventually("the check-in ends the lapse", || async {
        let first = conversations(&app, &format!("{filter} AND state = CLOSED")).await?;
        Ok(first.iter().any(|c| c.name == missed.name && c.closed_by == "trellis"))
    })
    .await?;
    app.shutdown().await
}
