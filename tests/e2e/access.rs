//! Authorization with `--auth-mode oidc`: roles granted on org units
//! through the AccessService, inherited down the tree and never sideways,
//! decide every write; a denied write is PERMISSION_DENIED and changes
//! nothing; grants have their own audited feed.

use anyhow::Context;
use futures::StreamExt;
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};
use trellis_proto::{
    access::v1::{
        Binding, GetIamPolicyRequest, Policy, SetIamPolicyRequest, TestIamPermissionsRequest,
        access_service_client::AccessServiceClient,
    },
    cascade::v1::{
        CreateInitiativeRequest, CreateOrgUnitRequest, CreateWebhookRequest, GetBoardRequest, GetWebhookRequest,
        GetWeeklyPlanRequest, Initiative, ListOrgUnitsRequest, ListWebhookDeliveriesRequest, ListWebhooksRequest,
        Priority, UpdateWeeklyPlanRequest, Webhook, priority::Level, webhook_service_client::WebhookServiceClient,
    },
    feed::v1::WatchChangesRequest,
    health::v1::{CreateHealthMetricRequest, HealthMetric},
    okr::v1::{
        CheckIn, CreateCheckInRequest, CreateCycleRequest, CreateObjectiveRequest, Cycle, GetObjectiveRequest,
        ListKeyResultsRequest, TransitionCycleRequest, key_result, objective,
    },
    strategy::v1::{CreateStrategyRequest, Strategy},
};
use trellis_tests::{
    TestApp, TestBackend, backend_only_tests,
    issuer::{ADMIN, TestIssuer},
    spawn_app_with,
};

use crate::{
    okr_support::{at, measured, objective},
    support::{complete_strategy, unit},
};

backend_only_tests!(
    each_role_may_do_what_it_grants_below_its_unit_and_nothing_sideways,
    grants_are_checked_versioned_and_audited,
    the_four_square_loop_completes_under_oidc,
    a_principal_over_its_quota_is_resource_exhausted,
    a_service_acting_for_a_user_is_recorded_on_its_behalf,
    the_rhythm_asks_editors_for_initiatives_and_contributors_for_the_week,
    only_an_admin_of_the_whole_org_manages_webhooks,
);

/// (subject, role on eng), and one with no grant at all.
const PEOPLE: [(&str, Option<&str>); 5] = [
    ("vic", Some("viewer")),
    ("cora", Some("contributor")),
    ("eddie", Some("editor")),
    ("ada", Some("admin")),
    ("nobody", None),
];

pub(crate) struct Org {
    pub(crate) app: TestApp,
    pub(crate) issuer: TestIssuer,
    pub(crate) access: AccessServiceClient<Channel>,
}

impl Org {
    pub(crate) fn as_user<T>(&self, subject: &str, message: T) -> anyhow::Result<Request<T>> {
        let mut request = Request::new(message);
        let token = self.issuer.token(subject)?;
        request
            .metadata_mut()
            .insert("authorization", MetadataValue::try_from(format!("Bearer {token}"))?);
        Ok(request)
    }
}

pub(crate) fn code<T>(outcome: Result<T, tonic::Status>) -> Code {
    outcome.err().map_or(Code::Ok, |status| status.code())
}

pub(crate) fn binding(role: &str, members: &[&str]) -> Binding {
    Binding {
        role: role.to_owned(),
        members: members.iter().map(|member| (*member).to_owned()).collect(),
    }
}

/// acme > eng > web, and acme > sales; each person holds their role on
/// eng; cycle q1 for acme, still planning.
pub(crate) async fn org(backend: &TestBackend) -> anyhow::Result<Org> {
    let issuer = TestIssuer::start().await?;
    let app = spawn_app_with(backend, |settings| issuer.configure(settings)).await?;
    let access = AccessServiceClient::new(app.channel().await?);
    let org = Org { app, issuer, access };
    for (id, parent) in [
        ("acme", ""),
        ("eng", "orgUnits/acme"),
        ("web", "orgUnits/eng"),
        ("sales", "orgUnits/acme"),
    ] {
        org.app
            .org
            .clone()
            .create_org_unit(org.as_user(ADMIN, unit(id, parent, "team"))?)
            .await?;
    }
    let bindings = PEOPLE
        .iter()
        .filter_map(|(subject, role)| role.map(|role| binding(role, &[&format!("user:{subject}")])))
        .collect();
    org.access
        .clone()
        .set_iam_policy(org.as_user(
            ADMIN,
            SetIamPolicyRequest {
                resource: "orgUnits/eng".into(),
                policy: Some(Policy {
                    bindings,
                    ..Policy::default()
                }),
            },
        )?)
        .await?;
    let cycle = CreateCycleRequest {
        cycle: Some(Cycle {
            display_name: "Q1".into(),
            start_time: Some(at(1_798_761_600)),
            end_time: Some(at(1_806_537_600)),
            org_unit: "orgUnits/acme".into(),
            ..Cycle::default()
        }),
        cycle_id: "q1".into(),
        request_id: String::new(),
    };
    org.app.okr.clone().create_cycle(org.as_user(ADMIN, cycle)?).await?;
    Ok(org)
}

pub(crate) fn new_objective(id: &str, owner: &str) -> CreateObjectiveRequest {
    CreateObjectiveRequest {
        objective: Some(trellis_proto::okr::v1::Objective {
            cycle: "cycles/q1".into(),
            ..objective(owner, objective::Kind::Committed, Vec::new())
        }),
        key_results: vec![measured(key_result::Kind::Increase, 0.0, 10.0)],
        objective_id: id.to_owned(),
        request_id: String::new(),
    }
}

fn expected(role: Option<&str>, needs: &[&str]) -> Code {
    if role.is_some_and(|role| needs.contains(&role)) {
        Code::Ok
    } else {
        Code::PermissionDenied
    }
}

async fn each_role_may_do_what_it_grants_below_its_unit_and_nothing_sideways(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let (okr, strategy, units, metrics) = (
        org.app.okr.clone(),
        org.app.strategy.clone(),
        org.app.org.clone(),
        org.app.metrics.clone(),
    );
    let mut wrong = Vec::new();
    for (subject, role) in PEOPLE {
        let mut expect = |what: &str, got: Code, want: Code| {
            if got != want {
                wrong.push(format!("{subject} ({role:?}) {what}: {got:?}, expected {want:?}"));
            }
        };
        // web is below eng: the role reaches it.
        let id = format!("o-{subject}");
        let got = code(
            okr.clone()
                .create_objective(org.as_user(subject, new_objective(&id, "orgUnits/web"))?)
                .await,
        );
        expect("creates an objective in web", got, expected(role, &["editor", "admin"]));
        // sales is beside eng: no role of eng reaches it.
        let got = code(
            okr.clone()
                .create_objective(org.as_user(subject, new_objective(&format!("s-{subject}"), "orgUnits/sales"))?)
                .await,
        );
        expect("creates an objective in sales", got, Code::PermissionDenied);
        let metric = CreateHealthMetricRequest {
            health_metric: Some(HealthMetric {
                owner: "orgUnits/web".into(),
                ..crate::health::csat()
            }),
            health_metric_id: format!("m-{subject}"),
            request_id: String::new(),
        };
        let got = code(
            metrics
                .clone()
                .create_health_metric(org.as_user(subject, metric)?)
                .await,
        );
        expect("creates a metric in web", got, expected(role, &["editor", "admin"]));
        let got = code(
            strategy
                .clone()
                .create_strategy(org.as_user(
                    subject,
                    CreateStrategyRequest {
                        strategy: Some(Strategy {
                            assumptions: Vec::new(),
                            ..complete_strategy("orgUnits/web")
                        }),
                        strategy_id: format!("s-{subject}"),
                        request_id: String::new(),
                    },
                )?)
                .await,
        );
        expect("creates a strategy in web", got, expected(role, &["admin"]));
        let child: CreateOrgUnitRequest = unit(&format!("u-{subject}"), "orgUnits/eng", "team");
        let got = code(units.clone().create_org_unit(org.as_user(subject, child)?).await);
        expect("creates a unit under eng", got, expected(role, &["admin"]));
        let got = code(
            org.access
                .clone()
                .set_iam_policy(org.as_user(
                    subject,
                    SetIamPolicyRequest {
                        resource: "orgUnits/web".into(),
                        policy: Some(Policy::default()),
                    },
                )?)
                .await,
        );
        expect("sets the grants of web", got, expected(role, &["admin"]));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A denied write changed nothing.
    for subject in ["vic", "cora", "nobody"] {
        let absent = okr
            .clone()
            .get_objective(org.as_user(
                ADMIN,
                GetObjectiveRequest {
                    name: format!("objectives/o-{subject}"),
                },
            )?)
            .await;
        assert_eq!(code(absent), Code::NotFound, "{subject}'s refused objective");
    }

    // Check-ins: contributors and up, on what the unit's subtree owns.
    let cycle = okr
        .clone()
        .activate_cycle(org.as_user(
            ADMIN,
            TransitionCycleRequest {
                name: "cycles/q1".into(),
                etag: String::new(),
            },
        )?)
        .await;
    code(cycle)
        .eq(&Code::Ok)
        .then_some(())
        .ok_or_else(|| anyhow::anyhow!("activating q1"))?;
    let key_results = okr
        .clone()
        .list_key_results(org.as_user(
            ADMIN,
            ListKeyResultsRequest {
                parent: "objectives/o-eddie".into(),
                ..ListKeyResultsRequest::default()
            },
        )?)
        .await?
        .into_inner()
        .key_results;
    let key_result = key_results.first().map(|kr| kr.name.clone()).unwrap_or_default();
    for (subject, role) in PEOPLE {
        let check_in = CreateCheckInRequest {
            parent: key_result.clone(),
            check_in: Some(CheckIn {
                value: 3.0,
                confidence: 6,
                ..CheckIn::default()
            }),
            request_id: String::new(),
        };
        let got = code(okr.clone().create_check_in(org.as_user(subject, check_in)?).await);
        assert_eq!(
            got,
            expected(role, &["contributor", "editor", "admin"]),
            "{subject} checks in on web's key result"
        );
    }

    // What each may do, as the service tells it.
    let held = |subject: &'static str, resource: &'static str| {
        let mut access = org.access.clone();
        let request = org.as_user(
            subject,
            TestIamPermissionsRequest {
                resource: resource.into(),
                permissions: ["read", "checkIn", "editOkrs", "editOrg", "setIamPolicy"]
                    .map(str::to_owned)
                    .to_vec(),
            },
        );
        async move { anyhow::Ok(access.test_iam_permissions(request?).await?.into_inner().permissions) }
    };
    assert_eq!(held("cora", "orgUnits/web").await?, ["read", "checkIn"]);
    assert_eq!(held("cora", "orgUnits/sales").await?, ["read"]);
    assert_eq!(
        held("ada", "orgUnits/web").await?,
        ["read", "checkIn", "editOkrs", "editOrg", "setIamPolicy"]
    );
    assert_eq!(held("ada", "orgUnits/acme").await?, ["read"]);
    assert_eq!(
        held(ADMIN, "orgUnits/-").await?,
        ["read", "checkIn", "editOkrs", "editOrg", "setIamPolicy"]
    );
    Ok(())
}

async fn grants_are_checked_versioned_and_audited(backend: TestBackend) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let mut access = org.access.clone();
    let current = access
        .get_iam_policy(org.as_user(
            "vic",
            GetIamPolicyRequest {
                resource: "orgUnits/eng".into(),
            },
        )?)
        .await?
        .into_inner();
    assert_eq!(current.bindings.len(), 4, "{current:?}");
    assert_eq!(current.updater, ADMIN);

    // Every problem at once.
    let bad = access
        .set_iam_policy(org.as_user(
            ADMIN,
            SetIamPolicyRequest {
                resource: "orgUnits/eng".into(),
                policy: Some(Policy {
                    bindings: vec![binding("owner", &["user:x"]), binding("viewer", &["robot:y"])],
                    ..Policy::default()
                }),
            },
        )?)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a bad policy was accepted"))?;
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        crate::support::violated_fields(&bad),
        ["policy.bindings[0].role", "policy.bindings[1].members[0]"]
    );
    // A policy read before another change came is refused.
    let set = |etag: &str| {
        org.as_user(
            ADMIN,
            SetIamPolicyRequest {
                resource: "orgUnits/eng".into(),
                policy: Some(Policy {
                    bindings: vec![binding("viewer", &["allAuthenticatedUsers"])],
                    etag: etag.to_owned(),
                    ..Policy::default()
                }),
            },
        )
    };
    let updated = access.set_iam_policy(set(&current.etag)?).await?.into_inner();
    assert_ne!(updated.etag, current.etag);
    assert_eq!(code(access.set_iam_policy(set(&current.etag)?).await), Code::Aborted);
    // eddie was editor of eng; the new policy took that away at once.
    let got = code(
        org.app
            .okr
            .clone()
            .create_objective(org.as_user("eddie", new_objective("late", "orgUnits/web"))?)
            .await,
    );
    assert_eq!(got, Code::PermissionDenied);
    // A unit that does not exist has no policy.
    let missing = access
        .get_iam_policy(org.as_user(
            ADMIN,
            GetIamPolicyRequest {
                resource: "orgUnits/nowhere".into(),
            },
        )?)
        .await;
    assert_eq!(code(missing), Code::NotFound);

    // The feed of grants: bootstrap, eng's first policy, the update.
    let mut feed = access
        .watch_changes(org.as_user(ADMIN, WatchChangesRequest::default())?)
        .await?
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let Some(event) = feed.next().await else { break };
        let event = event?;
        seen.push((event.resource_name, event.actor));
    }
    assert_eq!(
        seen,
        [
            ("orgUnits/-".to_owned(), "bootstrap-admin".to_owned()),
            ("orgUnits/eng".to_owned(), ADMIN.to_owned()),
            ("orgUnits/eng".to_owned(), ADMIN.to_owned()),
        ]
    );
    Ok(())
}

/// The Four Square loop with `--auth-mode oidc`: the person recording the
/// measurements holds a role, and the escalation steps (pausing guarded
/// objectives, the remedial objective, marking the assumption, feeding the
/// metric to its key result) and the cascade's feed readers run as the
/// services' own principals, each allowed exactly its work.
async fn the_four_square_loop_completes_under_oidc(backend: TestBackend) -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await?;
    let app = spawn_app_with(&backend, |settings| issuer.configure(settings)).await?;
    let app = app.with_token(&issuer.token(ADMIN)?)?;
    let mut feed = app
        .okr
        .clone()
        .watch_changes(WatchChangesRequest::default())
        .await?
        .into_inner();
    crate::health::whiskey_club_escalation_end_to_end(app).await?;
    // The remedial objective was made by the health service itself.
    let mut actor = None;
    while let Some(event) = feed.next().await {
        let event = event?;
        if event.resource_type == "trellis.okr.v1.Objective"
            && event.kind == trellis_proto::feed::v1::ChangeKind::Created as i32
            && event.actor != ADMIN
        {
            actor = Some(event.actor);
            break;
        }
    }
    assert_eq!(actor.as_deref(), Some("trellis-health"));
    Ok(())
}

/// Past its request quota a principal is RESOURCE_EXHAUSTED; another
/// principal is not held to the first one's quota.
async fn a_principal_over_its_quota_is_resource_exhausted(backend: TestBackend) -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await?;
    let app = spawn_app_with(&backend, |settings| {
        issuer.configure(settings);
        settings.principal_quota_per_second = 5;
    })
    .await?;
    let org = Org {
        access: AccessServiceClient::new(app.channel().await?),
        app,
        issuer,
    };
    let mut codes = Vec::new();
    for _ in 0..40 {
        let listed = org
            .app
            .org
            .clone()
            .list_org_units(org.as_user("bob", ListOrgUnitsRequest::default())?)
            .await;
        codes.push(code(listed));
    }
    // A burst of twice the rate passes, then the quota holds.
    assert!(codes[..10].iter().all(|code| *code == Code::Ok), "{codes:?}");
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    let other = org
        .app
        .org
        .clone()
        .list_org_units(org.as_user("carol", ListOrgUnitsRequest::default())?)
        .await;
    assert_eq!(code(other), Code::Ok);
    Ok(())
}

/// A call presenting a user's token and a service's own (as a Trellis
/// service presents them on a peer call it makes within that user's
/// request) runs with the user's permissions and is recorded as made by
/// the service on the user's behalf; a bad service credential is refused.
async fn a_service_acting_for_a_user_is_recorded_on_its_behalf(backend: TestBackend) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let acting = |subject: &str, service_token: &str, id: &str| -> anyhow::Result<Request<CreateObjectiveRequest>> {
        let mut request = org.as_user(subject, new_objective(id, "orgUnits/web"))?;
        request.metadata_mut().insert(
            "x-trellis-service-authorization",
            MetadataValue::try_from(format!("Bearer {service_token}"))?,
        );
        Ok(request)
    };
    let service = org.issuer.token("trellis-health")?;
    let mut okr = org.app.okr.clone();
    okr.create_objective(acting("eddie", &service, "for-eddie")?).await?;
    // The user's permissions decide, whatever the service may do.
    let refused = okr.create_objective(acting("vic", &service, "for-vic")?).await;
    assert_eq!(code(refused), Code::PermissionDenied);
    let forged = okr.create_objective(acting("eddie", "not-a-token", "forged")?).await;
    assert_eq!(code(forged), Code::Unauthenticated);

    let mut feed = okr
        .watch_changes(org.as_user(ADMIN, WatchChangesRequest::default())?)
        .await?
        .into_inner();
    loop {
        let event = feed.next().await.context("the feed ended")??;
        if event.resource_name == "objectives/for-eddie" {
            assert_eq!(event.actor, "trellis-health");
            assert_eq!(event.on_behalf_of, "eddie");
            break;
        }
        assert_eq!(event.on_behalf_of, "", "{} was made by its caller", event.resource_name);
    }
    Ok(())
}

/// Initiatives are edited as OKRs are (editors and admins of the unit or
/// above); a week's plan is written as check-ins are (contributors too).
/// Nobody may write a sideways unit's.
async fn the_rhythm_asks_editors_for_initiatives_and_contributors_for_the_week(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let mut rhythm = org.app.rhythm.clone();
    let board = GetBoardRequest {
        org_unit: "orgUnits/web".into(),
        ..GetBoardRequest::default()
    };
    let week = rhythm.get_board(org.as_user("vic", board)?).await?.into_inner().week;
    for (subject, role) in PEOPLE {
        for unit in ["web", "sales"] {
            let below_eng = unit == "web";
            let initiative = CreateInitiativeRequest {
                initiative: Some(Initiative {
                    owner: format!("orgUnits/{unit}"),
                    title: "A tidy backlog".into(),
                    ..Initiative::default()
                }),
                initiative_id: format!("{subject}-{unit}"),
                request_id: String::new(),
            };
            let created = code(rhythm.create_initiative(org.as_user(subject, initiative)?).await);
            let expected_create = if below_eng {
                expected(role, &["editor", "admin"])
            } else {
                Code::PermissionDenied
            };
            assert_eq!(created, expected_create, "{subject} creates an initiative of {unit}");

            let name = format!("orgUnits/{unit}/weeklyPlans/{}", week.to_lowercase());
            let current = rhythm
                .get_weekly_plan(org.as_user(subject, GetWeeklyPlanRequest { name: name.clone() })?)
                .await?
                .into_inner();
            let plan = UpdateWeeklyPlanRequest {
                weekly_plan: Some(trellis_proto::cascade::v1::WeeklyPlan {
                    priorities: vec![Priority {
                        level: Level::P2 as i32,
                        title: format!("{subject}'s priority"),
                        ..Priority::default()
                    }],
                    ..current
                }),
            };
            let planned = code(rhythm.update_weekly_plan(org.as_user(subject, plan)?).await);
            let expected_plan = if below_eng {
                expected(role, &["contributor", "editor", "admin"])
            } else {
                Code::PermissionDenied
            };
            assert_eq!(planned, expected_plan, "{subject} plans {unit}'s week");
        }
    }
    Ok(())
}

/// A webhook receives every change of the company: an admin of a unit is
/// not enough, only an admin of the whole org sees or changes them.
async fn only_an_admin_of_the_whole_org_manages_webhooks(backend: TestBackend) -> anyhow::Result<()> {
    let org = org(&backend).await?;
    let mut hooks = WebhookServiceClient::new(org.app.channel().await?);
    let hook = || CreateWebhookRequest {
        webhook: Some(Webhook {
            url: "https://chat.example.com/hooks/trellis".into(),
            secret: "a-secret-of-twenty-four-chars".into(),
            ..Webhook::default()
        }),
        webhook_id: "chat".into(),
        request_id: String::new(),
    };
    for subject in ["vic", "eddie", "ada", "nobody"] {
        assert_eq!(
            code(hooks.create_webhook(org.as_user(subject, hook())?).await),
            Code::PermissionDenied,
            "{subject} made a webhook"
        );
        assert_eq!(
            code(
                hooks
                    .list_webhooks(org.as_user(subject, ListWebhooksRequest::default())?)
                    .await
            ),
            Code::PermissionDenied,
            "{subject} listed the webhooks"
        );
    }
    let made = hooks.create_webhook(org.as_user(ADMIN, hook())?).await?.into_inner();
    assert_eq!(made.creator, ADMIN);
    for subject in ["ada", "nobody"] {
        let get = GetWebhookRequest {
            name: made.name.clone(),
        };
        assert_eq!(
            code(hooks.get_webhook(org.as_user(subject, get)?).await),
            Code::PermissionDenied
        );
        let deliveries = ListWebhookDeliveriesRequest {
            parent: made.name.clone(),
            ..ListWebhookDeliveriesRequest::default()
        };
        assert_eq!(
            code(hooks.list_webhook_deliveries(org.as_user(subject, deliveries)?).await),
            Code::PermissionDenied
        );
    }
    let listed = hooks
        .list_webhooks(org.as_user(ADMIN, ListWebhooksRequest::default())?)
        .await?
        .into_inner();
    assert_eq!(listed.webhooks.len(), 1);
    Ok(())
}
