//! `visibility: PRIVATE` under `--auth-mode oidc`: a private objective or
//! metric of eng is there for those holding a role on eng (or below it)
//! and for admins above it, and absent for everyone else: NOT_FOUND on a
//! Get or a write, missing from every List, feed, cascade answer and
//! roll-up.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tonic::Code;
use trellis_proto::{
    access::v1::{Policy, SetIamPolicyRequest},
    cascade::v1::{
        CloseConversationRequest, GetAlignmentPathRequest, GetBoardRequest, GetConversationRequest,
        GetPlanningStatusRequest, GetRollupRequest, ListAccountabilitySpreadRequest, ListAlignedDescendantsRequest,
        ListAlignmentHistoryRequest, ListConversationsRequest, ListRisksRequest, WatchAlignmentRequest,
    },
    common::v1::Visibility,
    feed::v1::WatchChangesRequest,
    health::v1::{
        BatchGetHealthMetricsRequest, CreateHealthMetricRequest, GetHealthMetricRequest, HealthMetric,
        ListHealthMetricsRequest, ListMeasurementsRequest, Measurement, RecordMeasurementRequest,
    },
    okr::v1::{
        CheckIn, CreateCheckInRequest, GetKeyResultRequest, GetObjectiveRequest, ListCheckInsRequest,
        ListKeyResultsRequest, ListObjectivesRequest, Objective, TransitionCycleRequest, UpdateObjectiveRequest,
    },
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, issuer::ADMIN};

use crate::{
    access::{Org, binding, code, new_objective, org},
    cascade::settled,
    okr_support::{at, to_objective},
};

backend_only_tests!(a_private_objective_and_metric_are_absent_for_outsiders);

const SECRET: &str = "objectives/secret";
const PLAN: &str = "objectives/plan";
const METRIC: &str = "healthMetrics/pm";
const CYCLE: &str = "cycles/q1";

/// eng owns a public objective (plan) and a private one aligned to it
/// (secret, checked in at low confidence), and a private metric (pm) with
/// a measurement; sam views sales, beside eng.
async fn private_things(org: &Org) -> anyhow::Result<String> {
    org.access
        .clone()
        .set_iam_policy(org.as_user(
            ADMIN,
            SetIamPolicyRequest {
                resource: "orgUnits/sales".into(),
                policy: Some(Policy {
                    bindings: vec![binding("viewer", &["user:sam"])],
                    ..Policy::default()
                }),
            },
        )?)
        .await?;
    let mut okr = org.app.okr.clone();
    okr.create_objective(org.as_user("eddie", new_objective("plan", "orgUnits/eng"))?)
        .await?;
    let mut secret = new_objective("secret", "orgUnits/eng");
    if let Some(objective) = secret.objective.as_mut() {
        objective.visibility = Visibility::Private as i32;
        objective.aligns_to = vec![to_objective(PLAN)];
        objective.title = "Acquire a rival quietly".into();
    }
    let created = okr.create_objective(org.as_user("eddie", secret)?).await?.into_inner();
    assert_eq!(created.visibility(), Visibility::Private);
    okr.activate_cycle(org.as_user(
        ADMIN,
        TransitionCycleRequest {
            name: CYCLE.into(),
            etag: String::new(),
        },
    )?)
    .await?;
    let key_result = okr
        .list_key_results(org.as_user(
            "cora",
            ListKeyResultsRequest {
                parent: SECRET.into(),
                ..ListKeyResultsRequest::default()
            },
        )?)
        .await?
        .into_inner()
        .key_results
        .first()
        .map(|key_result| key_result.name.clone())
        .context("secret has a key result")?;
    // 8 then 2: a move from green to red, which opens a conversation.
    check_in(org, &key_result, 8).await?;
    check_in(org, &key_result, 2).await?;
    let mut metrics = org.app.metrics.clone();
    // pm, and three public metrics for its accountable person: one over
    // the limit of three for those who see pm, at it for those who do not.
    for (id, visibility) in [
        ("pm", Visibility::Private),
        ("public-0", Visibility::Public),
        ("public-1", Visibility::Public),
        ("public-2", Visibility::Public),
    ] {
        metrics
            .create_health_metric(org.as_user(
                "eddie",
                CreateHealthMetricRequest {
                    health_metric: Some(HealthMetric {
                        owner: "orgUnits/eng".into(),
                        display_name: id.to_owned(),
                        visibility: visibility as i32,
                        ..crate::health::csat()
                    }),
                    health_metric_id: id.to_owned(),
                    request_id: String::new(),
                },
            )?)
            .await?;
    }
    metrics
        .record_measurement(org.as_user(
            "cora",
            RecordMeasurementRequest {
                health_metric: METRIC.into(),
                measurement: Some(Measurement {
                    value: 4.5,
                    measure_time: Some(at(1_800_000_000)),
                    ..Measurement::default()
                }),
            },
        )?)
        .await?;
    Ok(key_result)
}

/// cora (a contributor of eng) checks in `confidence` on `key_result`.
async fn check_in(org: &Org, key_result: &str, confidence: i32) -> anyhow::Result<()> {
    let request = CreateCheckInRequest {
        parent: key_result.to_owned(),
        check_in: Some(CheckIn {
            value: f64::from(confidence),
            confidence,
            ..CheckIn::default()
        }),
        request_id: String::new(),
    };
    org.app
        .okr
        .clone()
        .create_check_in(org.as_user("cora", request)?)
        .await?;
    Ok(())
}

/// Every resource name a feed holds for the caller, read up to its head.
async fn feed_names(app: &TestApp, service: &str) -> anyhow::Result<Vec<String>> {
    let request = WatchChangesRequest {
        heartbeats: true,
        ..WatchChangesRequest::default()
    };
    let mut stream = match service {
        "okr" => app.okr.clone().watch_changes(request).await?.into_inner(),
        _ => app.metrics.clone().watch_changes(request).await?.into_inner(),
    };
    let mut names = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .context("the feed went quiet before its first heartbeat")?
    {
        let event = event?;
        if event.sequence == 0 {
            break;
        }
        names.push(event.resource_name);
    }
    Ok(names)
}

fn mentions(names: &[String], name: &str) -> bool {
    names.iter().any(|found| found.starts_with(name))
}

async fn a_private_objective_and_metric_are_absent_for_outsiders(backend: TestBackend) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let key_result = private_things(&org).await?;
    let admin = org.app.view_with_token(&org.issuer.token(ADMIN)?)?;
    settled(&admin, &admin.cascade).await?;
    let about_secret = ListConversationsRequest {
        filter: format!("subject = \"{key_result}\""),
        ..ListConversationsRequest::default()
    };
    let mut conversation = String::new();
    for _ in 0..200 {
        let listed = admin.rhythm.clone().list_conversations(about_secret.clone()).await?;
        if let Some(found) = listed.into_inner().conversations.first() {
            conversation.clone_from(&found.name);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !conversation.is_empty(),
        "the drop on secret's key result opened a conversation"
    );
    // vic views eng: inside. sam views sales and nobody holds no role:
    // outside. ada, admin of eng, and alice, admin of the whole org, see
    // it too.
    for (subject, inside) in [
        ("vic", true),
        ("ada", true),
        (ADMIN, true),
        ("sam", false),
        ("nobody", false),
    ] {
        let user = org.app.view_with_token(&org.issuer.token(subject)?)?;
        let seen = if inside { Code::Ok } else { Code::NotFound };
        let who = |what: &str| format!("{subject} {what}");
        let mut okr = user.okr.clone();

        // Gets, and the lists under the objective.
        let get = okr.get_objective(GetObjectiveRequest { name: SECRET.into() }).await;
        assert_eq!(code(get), seen, "{}", who("gets secret"));
        let get = okr.get_key_result(GetKeyResultRequest {
            name: key_result.clone(),
        });
        assert_eq!(code(get.await), seen, "{}", who("gets its key result"));
        let list = okr.list_key_results(ListKeyResultsRequest {
            parent: SECRET.into(),
            ..ListKeyResultsRequest::default()
        });
        assert_eq!(code(list.await), seen, "{}", who("lists its key results"));
        let list = okr.list_check_ins(ListCheckInsRequest {
            parent: key_result.clone(),
            ..ListCheckInsRequest::default()
        });
        assert_eq!(code(list.await), seen, "{}", who("lists its check-ins"));
        let listed: Vec<String> = okr
            .list_objectives(ListObjectivesRequest::default())
            .await?
            .into_inner()
            .objectives
            .into_iter()
            .map(|objective| objective.name)
            .collect();
        assert!(listed.contains(&PLAN.to_owned()), "{}", who("lists plan"));
        assert_eq!(listed.contains(&SECRET.to_owned()), inside, "{}", who("lists secret"));
        let private_only = okr
            .list_objectives(ListObjectivesRequest {
                filter: "visibility = PRIVATE".into(),
                ..ListObjectivesRequest::default()
            })
            .await?
            .into_inner()
            .objectives
            .len();
        assert_eq!(private_only, usize::from(inside), "{}", who("lists private objectives"));
        // A write to it answers as if it were not there (vic may not write
        // at all, but may know it exists).
        let update = okr.update_objective(UpdateObjectiveRequest {
            objective: Some(Objective {
                name: SECRET.into(),
                title: "Found out".into(),
                ..Objective::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
        });
        let refused = if inside { Code::PermissionDenied } else { Code::NotFound };
        if subject == "vic" || !inside {
            assert_eq!(code(update.await), refused, "{}", who("updates secret"));
        }

        // The private metric.
        let mut metrics = user.metrics.clone();
        let get = metrics.get_health_metric(GetHealthMetricRequest { name: METRIC.into() });
        assert_eq!(code(get.await), seen, "{}", who("gets the private metric"));
        let listed = metrics
            .list_health_metrics(ListHealthMetricsRequest::default())
            .await?
            .into_inner()
            .health_metrics;
        assert_eq!(
            listed.iter().any(|metric| metric.name == METRIC),
            inside,
            "{}",
            who("lists the private metric")
        );
        let batch = metrics
            .batch_get_health_metrics(BatchGetHealthMetricsRequest {
                names: vec![METRIC.into()],
                allow_missing: true,
            })
            .await?
            .into_inner();
        assert_eq!(batch.missing.is_empty(), inside, "{}", who("batch-gets it"));
        let measurements = metrics.list_measurements(ListMeasurementsRequest {
            health_metric: METRIC.into(),
            ..ListMeasurementsRequest::default()
        });
        assert_eq!(code(measurements.await), seen, "{}", who("lists its measurements"));

        // The feeds.
        let okr_feed = feed_names(&user, "okr").await?;
        assert!(mentions(&okr_feed, PLAN), "{}", who("sees plan on the feed"));
        assert_eq!(
            mentions(&okr_feed, SECRET),
            inside,
            "{}",
            who("sees secret on the feed")
        );
        let health_feed = feed_names(&user, "health").await?;
        assert_eq!(mentions(&health_feed, METRIC), inside, "{}", who("sees pm on the feed"));

        // The cascade's answers.
        let mut cascade = user.cascade.clone();
        let path = cascade.get_alignment_path(GetAlignmentPathRequest {
            name: SECRET.into(),
            as_of: None,
        });
        assert_eq!(code(path.await), seen, "{}", who("asks secret's path"));
        let below = |as_of| {
            let mut cascade = cascade.clone();
            async move {
                let request = ListAlignedDescendantsRequest {
                    name: PLAN.into(),
                    as_of,
                    ..ListAlignedDescendantsRequest::default()
                };
                let nodes = cascade.list_aligned_descendants(request).await?.into_inner().nodes;
                anyhow::Ok(nodes.into_iter().map(|node| node.name).collect::<Vec<String>>())
            }
        };
        let below_now = below(None).await?;
        assert_eq!(
            mentions(&below_now, SECRET),
            inside,
            "{}",
            who("finds secret below plan")
        );
        // The same of the past, and secret's history.
        let now = trellis_foundation::time::to_timestamp(trellis_foundation::time::now_micros());
        let below_then = below(Some(now)).await?;
        assert_eq!(
            below_then,
            below_now,
            "{}",
            who("finds as of now what is below plan now")
        );
        let history = cascade.list_alignment_history(ListAlignmentHistoryRequest {
            name: SECRET.into(),
            ..ListAlignmentHistoryRequest::default()
        });
        assert_eq!(code(history.await), seen, "{}", who("reads secret's history"));
        let rollup = |name: &str| GetRollupRequest {
            as_of: None,
            name: name.into(),
            cycle: CYCLE.into(),
        };
        let plan = cascade.get_rollup(rollup(PLAN)).await?.into_inner();
        assert_eq!(plan.contributors, i32::from(inside), "{}", who("rolls plan up"));
        let eng = cascade.get_rollup(rollup("orgUnits/eng")).await?.into_inner();
        assert_eq!(eng.objectives, 1 + i32::from(inside), "{}", who("rolls eng up"));
        let risks: Vec<String> = cascade
            .list_risks(ListRisksRequest {
                cycle: CYCLE.into(),
                ..ListRisksRequest::default()
            })
            .await?
            .into_inner()
            .risks
            .into_iter()
            .filter_map(|risk| risk.objective.map(|node| node.name))
            .collect();
        assert_eq!(mentions(&risks, SECRET), inside, "{}", who("finds secret at risk"));
        let planning = cascade
            .get_planning_status(GetPlanningStatusRequest {
                cycle: CYCLE.into(),
                ..GetPlanningStatusRequest::default()
            })
            .await?
            .into_inner();
        assert_eq!(planning.objectives, 1 + i32::from(inside), "{}", who("counts the plan"));
        let spread = cascade
            .list_accountability_spread(ListAccountabilitySpreadRequest::default())
            .await?
            .into_inner();
        let accountable = crate::health::csat().accountable;
        assert_eq!(
            spread.people.iter().any(|person| person.person == accountable),
            inside,
            "{}",
            who("finds pm's accountable person over the limit")
        );

        // The rhythm: the conversation secret's drop opened, and eng's board.
        let mut rhythm = user.rhythm.clone();
        let listed = rhythm.list_conversations(about_secret.clone()).await?.into_inner();
        assert_eq!(
            listed.conversations.len(),
            usize::from(inside),
            "{}",
            who("lists the conversation")
        );
        let get = rhythm.get_conversation(GetConversationRequest {
            name: conversation.clone(),
        });
        assert_eq!(code(get.await), seen, "{}", who("gets the conversation"));
        let board = rhythm
            .get_board(GetBoardRequest {
                org_unit: "orgUnits/eng".into(),
                ..GetBoardRequest::default()
            })
            .await?
            .into_inner();
        let eng = board.units.first().context("eng's board")?;
        let krs: Vec<String> = eng.okrs.iter().map(|kr| kr.key_result.clone()).collect();
        assert_eq!(
            mentions(&krs, &key_result),
            inside,
            "{}",
            who("finds secret's key result on the board")
        );
        let metrics: Vec<String> = eng.health.iter().map(|m| m.health_metric.clone()).collect();
        assert_eq!(mentions(&metrics, METRIC), inside, "{}", who("finds pm on the board"));
        let close = rhythm.close_conversation(CloseConversationRequest {
            name: conversation.clone(),
            note: "not mine to close".into(),
        });
        let refused = if inside { Code::PermissionDenied } else { Code::NotFound };
        if subject == "vic" || !inside {
            assert_eq!(code(close.await), refused, "{}", who("closes the conversation"));
        }
    }
    let closed = org
        .app
        .rhythm
        .clone()
        .close_conversation(org.as_user(
            "ada",
            CloseConversationRequest {
                name: conversation,
                note: "A rival's price cut; we match it in March".into(),
            },
        )?)
        .await?
        .into_inner();
    assert_eq!(closed.closed_by, "ada", "an admin of eng closes it");
    watch_alignment_keeps_private_changes_inside(&org, &key_result).await
}

/// A change to secret reaches vic's WatchAlignment stream and not sam's;
/// a change to plan after it reaches both.
async fn watch_alignment_keeps_private_changes_inside(org: &Org, key_result: &str) -> anyhow::Result<()> {
    let mut streams = Vec::new();
    for subject in ["vic", "sam"] {
        let user = org.app.view_with_token(&org.issuer.token(subject)?)?;
        let stream = user
            .cascade
            .clone()
            .watch_alignment(WatchAlignmentRequest::default())
            .await?
            .into_inner();
        streams.push((subject, stream));
    }
    check_in(org, key_result, 3).await?;
    org.app
        .okr
        .clone()
        .update_objective(org.as_user(
            "eddie",
            UpdateObjectiveRequest {
                objective: Some(Objective {
                    name: PLAN.into(),
                    title: "Grow in Europe".into(),
                    ..Objective::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
            },
        )?)
        .await?;
    for (subject, mut stream) in streams {
        let mut names = Vec::new();
        while !names.iter().any(|name: &String| name == PLAN) {
            let change = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .with_context(|| format!("{subject}'s alignment stream went quiet"))?
                .context("the alignment stream ended")??;
            names.extend(change.node.map(|node| node.name));
        }
        assert_eq!(mentions(&names, SECRET), subject == "vic", "{subject} saw {names:?}");
    }
    Ok(())
}
