//! The org service: the tree every resource is owned by; creating,
//! updating, deleting, batches and moves. Reads of the tree are in
//! `org_reads.rs`.

use tonic::Code;
use trellis_proto::cascade::v1::{
    BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, DeleteOrgUnitRequest, GetOrgUnitRequest, ListAncestorsRequest,
    ListOrgUnitsRequest, MoveOrgUnitRequest, OrgUnit, UpdateOrgUnitRequest,
};
use trellis_tests::{TestApp, backend_tests};

use crate::support::{expect_code, load_org, violated_fields};

backend_tests!(
    org_units_are_created_read_updated_and_deleted,
    a_unit_with_children_cannot_be_deleted,
    a_stale_etag_aborts_and_changes_nothing,
    a_retried_create_returns_the_first_unit,
    a_batch_loads_in_any_order_all_or_nothing,
    a_batch_with_bad_rows_reports_every_row_and_writes_nothing,
    moving_carries_the_subtree_and_refuses_cycles,
    crossing_concurrent_moves_never_make_a_cycle,
    a_unit_has_a_lead_set_changed_and_filtered_on,
);

pub(crate) fn unit(parent: &str, display_name: &str, kind: &str) -> OrgUnit {
    OrgUnit {
        parent: parent.to_owned(),
        display_name: display_name.to_owned(),
        kind: kind.to_owned(),
        ..OrgUnit::default()
    }
}

pub(crate) fn create(id: &str, unit: OrgUnit) -> CreateOrgUnitRequest {
    CreateOrgUnitRequest {
        org_unit: Some(unit),
        org_unit_id: id.to_owned(),
        request_id: String::new(),
    }
}

pub(crate) async fn names_of(app: &TestApp, filter: &str) -> anyhow::Result<Vec<String>> {
    let request = ListOrgUnitsRequest {
        filter: filter.to_owned(),
        ..ListOrgUnitsRequest::default()
    };
    let units = app.org.clone().list_org_units(request).await?.into_inner().org_units;
    Ok(units.into_iter().map(|unit| unit.name).collect())
}

pub(crate) async fn org_units_are_created_read_updated_and_deleted(app: TestApp) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    let acme = org
        .create_org_unit(create("acme", unit("", "Acme", "company")))
        .await?
        .into_inner();
    assert_eq!(acme.name, "orgUnits/acme");
    assert_eq!(acme.depth, 0);
    let team = org
        .create_org_unit(create("", unit("orgUnits/acme", "Platform", "team")))
        .await?
        .into_inner();
    assert!(team.name.starts_with("orgUnits/"));
    assert_eq!((team.parent.as_str(), team.depth), ("orgUnits/acme", 1));

    let fetched = org
        .get_org_unit(GetOrgUnitRequest {
            name: team.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched, team);

    let patch = OrgUnit {
        name: team.name.clone(),
        display_name: "Platform Engineering".into(),
        etag: team.etag.clone(),
        ..OrgUnit::default()
    };
    let mask = prost_types::FieldMask {
        paths: vec!["display_name".into()],
    };
    let updated = org
        .update_org_unit(UpdateOrgUnitRequest {
            org_unit: Some(patch),
            update_mask: Some(mask),
        })
        .await?
        .into_inner();
    assert_eq!(updated.display_name, "Platform Engineering");
    assert_eq!(updated.kind, "team", "a field outside the mask keeps its value");
    assert_ne!(updated.etag, team.etag);

    org.delete_org_unit(DeleteOrgUnitRequest {
        name: team.name.clone(),
        etag: updated.etag,
    })
    .await?;
    expect_code(
        org.get_org_unit(GetOrgUnitRequest { name: team.name }).await,
        Code::NotFound,
    )?;
    expect_code(
        org.get_org_unit(GetOrgUnitRequest { name: "teams/x".into() }).await,
        Code::InvalidArgument,
    )?;
    let missing_parent = org
        .create_org_unit(create("orphan", unit("orgUnits/nowhere", "Orphan", "team")))
        .await;
    expect_code(missing_parent, Code::NotFound)?;
    expect_code(
        org.create_org_unit(create("acme", unit("", "Acme again", "company")))
            .await,
        Code::AlreadyExists,
    )?;
    Ok(())
}

pub(crate) async fn a_unit_with_children_cannot_be_deleted(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut org = app.org.clone();
    let status = expect_code(
        org.delete_org_unit(DeleteOrgUnitRequest {
            name: "orgUnits/sales".into(),
            etag: String::new(),
        })
        .await,
        Code::FailedPrecondition,
    )?;
    assert!(status.message().contains("child"), "{}", status.message());
    org.get_org_unit(GetOrgUnitRequest {
        name: "orgUnits/sales".into(),
    })
    .await?;
    Ok(())
}

pub(crate) async fn a_stale_etag_aborts_and_changes_nothing(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut org = app.org.clone();
    let original = org
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/emea".into(),
        })
        .await?
        .into_inner();
    let first = OrgUnit {
        name: original.name.clone(),
        display_name: "EMEA".into(),
        kind: "team".into(),
        etag: original.etag.clone(),
        ..OrgUnit::default()
    };
    let current = org
        .update_org_unit(UpdateOrgUnitRequest {
            org_unit: Some(first),
            update_mask: None,
        })
        .await?
        .into_inner();
    let stale = OrgUnit {
        name: original.name.clone(),
        display_name: "Lost".into(),
        kind: "team".into(),
        etag: original.etag.clone(),
        ..OrgUnit::default()
    };
    expect_code(
        org.update_org_unit(UpdateOrgUnitRequest {
            org_unit: Some(stale),
            update_mask: None,
        })
        .await,
        Code::Aborted,
    )?;
    expect_code(
        org.delete_org_unit(DeleteOrgUnitRequest {
            name: original.name.clone(),
            etag: original.etag.clone(),
        })
        .await,
        Code::Aborted,
    )?;
    let moved = org
        .move_org_unit(MoveOrgUnitRequest {
            name: original.name.clone(),
            new_parent: "orgUnits/product".into(),
            etag: original.etag,
        })
        .await;
    expect_code(moved, Code::Aborted)?;
    let after = org
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/emea".into(),
        })
        .await?
        .into_inner();
    assert_eq!(after, current);
    Ok(())
}

pub(crate) async fn a_retried_create_returns_the_first_unit(app: TestApp) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    let request = CreateOrgUnitRequest {
        org_unit: Some(unit("", "Acme", "company")),
        org_unit_id: String::new(),
        request_id: "req-1".into(),
    };
    let first = org.create_org_unit(request.clone()).await?.into_inner();
    let retried = org.create_org_unit(request.clone()).await?.into_inner();
    assert_eq!(first, retried);
    assert_eq!(names_of(&app, "").await?, vec![first.name.clone()]);
    let different = CreateOrgUnitRequest {
        org_unit: Some(unit("", "Other", "company")),
        ..request
    };
    expect_code(org.create_org_unit(different).await, Code::AlreadyExists)?;
    Ok(())
}

pub(crate) async fn a_batch_loads_in_any_order_all_or_nothing(app: TestApp) -> anyhow::Result<()> {
    let rows = vec![
        create("emea", unit("orgUnits/sales", "EMEA", "team")),
        create("sales", unit("orgUnits/acme", "Sales", "division")),
        create("acme", unit("", "Acme", "company")),
    ];
    let request = BatchCreateOrgUnitsRequest {
        requests: rows,
        request_id: "load-1".into(),
        ..BatchCreateOrgUnitsRequest::default()
    };
    let created = app
        .org
        .clone()
        .batch_create_org_units(request.clone())
        .await?
        .into_inner()
        .org_units;
    let depths: Vec<(String, i32)> = created.iter().map(|unit| (unit.name.clone(), unit.depth)).collect();
    assert_eq!(
        depths,
        vec![
            ("orgUnits/emea".into(), 2),
            ("orgUnits/sales".into(), 1),
            ("orgUnits/acme".into(), 0)
        ],
        "answered in request order, placed in tree order"
    );
    let replay = app
        .org
        .clone()
        .batch_create_org_units(request)
        .await?
        .into_inner()
        .org_units;
    assert_eq!(replay, created, "the same request id returns the first result");
    assert_eq!(names_of(&app, "").await?.len(), 3);
    Ok(())
}

/// The violated fields of a batch that must be refused as a whole.
pub(crate) async fn refused_batch_fields(
    app: &TestApp,
    rows: Vec<CreateOrgUnitRequest>,
) -> anyhow::Result<Vec<String>> {
    let request = BatchCreateOrgUnitsRequest {
        requests: rows,
        request_id: String::new(),
        ..BatchCreateOrgUnitsRequest::default()
    };
    let status = expect_code(
        app.org.clone().batch_create_org_units(request).await,
        Code::InvalidArgument,
    )?;
    Ok(violated_fields(&status))
}

pub(crate) async fn a_batch_with_bad_rows_reports_every_row_and_writes_nothing(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let before = names_of(&app, "").await?;
    let rows = vec![
        create("ok-one", unit("orgUnits/acme", "Fine", "team")),
        create("lost", unit("orgUnits/nowhere", "Lost", "team")),
        create("loop-a", unit("orgUnits/loop-b", "Loop A", "team")),
        create("loop-b", unit("orgUnits/loop-a", "Loop B", "team")),
        create("emea", unit("orgUnits/acme", "Taken", "team")),
        create("ok-two", unit("orgUnits/ok-one", "Also fine", "team")),
    ];
    assert_eq!(
        refused_batch_fields(&app, rows).await?,
        vec![
            "requests[1].org_unit.parent",
            "requests[2].org_unit.parent",
            "requests[3].org_unit.parent",
            "requests[4].org_unit_id",
        ]
    );
    assert_eq!(names_of(&app, "").await?, before, "nothing was written");

    let malformed = vec![
        create("Bad Id", unit("", "", "team")),
        create("twin", unit("acme", "Twin", "team")),
        create("twin", unit("", "Twin", "team")),
    ];
    assert_eq!(
        refused_batch_fields(&app, malformed).await?,
        vec![
            "requests[0].org_unit.display_name",
            "requests[0].org_unit_id",
            "requests[1].org_unit.parent",
            "requests[2].org_unit_id",
        ]
    );
    Ok(())
}

pub(crate) async fn moving_carries_the_subtree_and_refuses_cycles(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut org = app.org.clone();
    let moved = org
        .move_org_unit(MoveOrgUnitRequest {
            name: "orgUnits/sales".into(),
            new_parent: "orgUnits/product".into(),
            etag: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!((moved.parent.as_str(), moved.depth), ("orgUnits/product", 2));
    let emea = org
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/emea".into(),
        })
        .await?
        .into_inner();
    assert_eq!(emea.depth, 3, "the subtree moved with its root");
    let ancestors = org
        .list_ancestors(ListAncestorsRequest {
            name: "orgUnits/emea".into(),
        })
        .await?
        .into_inner()
        .org_units;
    let chain: Vec<&str> = ancestors.iter().map(|unit| unit.name.as_str()).collect();
    assert_eq!(chain, vec!["orgUnits/sales", "orgUnits/product", "orgUnits/acme"]);

    for (name, under) in [("orgUnits/acme", "orgUnits/emea"), ("orgUnits/sales", "orgUnits/sales")] {
        let request = MoveOrgUnitRequest {
            name: name.into(),
            new_parent: under.into(),
            etag: String::new(),
        };
        expect_code(org.move_org_unit(request).await, Code::FailedPrecondition)?;
    }
    let root = org
        .move_org_unit(MoveOrgUnitRequest {
            name: "orgUnits/sales".into(),
            new_parent: String::new(),
            etag: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!((root.parent.as_str(), root.depth), ("", 0));
    let emea = org
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/emea".into(),
        })
        .await?
        .into_inner();
    assert_eq!(emea.depth, 1);
    Ok(())
}

/// Moving a under b's child while b moves under a's child: each move alone
/// is fine, both together would make a loop. Whatever the interleaving, at
/// most one may succeed.
pub(crate) async fn crossing_concurrent_moves_never_make_a_cycle(app: TestApp) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    for round in 0..10 {
        let [root, a, b, a_child, b_child] = ["root", "a", "b", "a-child", "b-child"].map(|id| format!("{id}-{round}"));
        let rows = vec![
            create(&root, unit("", "Root", "company")),
            create(&a, unit(&format!("orgUnits/{root}"), "A", "division")),
            create(&b, unit(&format!("orgUnits/{root}"), "B", "division")),
            create(&a_child, unit(&format!("orgUnits/{a}"), "A child", "team")),
            create(&b_child, unit(&format!("orgUnits/{b}"), "B child", "team")),
        ];
        org.batch_create_org_units(BatchCreateOrgUnitsRequest {
            requests: rows,
            request_id: String::new(),
            ..BatchCreateOrgUnitsRequest::default()
        })
        .await?;
        let crossing = [(a.clone(), b_child.clone()), (b.clone(), a_child.clone())].map(|(name, under)| {
            let mut client = app.org.clone();
            tokio::spawn(async move {
                let request = MoveOrgUnitRequest {
                    name: format!("orgUnits/{name}"),
                    new_parent: format!("orgUnits/{under}"),
                    etag: String::new(),
                };
                client.move_org_unit(request).await
            })
        });
        let mut succeeded = 0;
        for attempt in crossing {
            match attempt.await? {
                Ok(_) => succeeded += 1,
                Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
            }
        }
        assert_eq!(succeeded, 1, "round {round}: exactly one of the crossing moves wins");
        for name in [&a, &b, &a_child, &b_child] {
            let chain = org
                .list_ancestors(ListAncestorsRequest {
                    name: format!("orgUnits/{name}"),
                })
                .await?
                .into_inner()
                .org_units;
            assert_eq!(
                chain.last().map(|unit| unit.name.clone()),
                Some(format!("orgUnits/{root}")),
                "{name} still hangs from the root"
            );
        }
    }
    Ok(())
}

fn with_lead(lead: &str, unit: OrgUnit) -> OrgUnit {
    OrgUnit {
        lead: lead.to_owned(),
        ..unit
    }
}

/// A unit's lead: set at creation and in a batch, changed through the
/// mask (and cleared), filtered on; a lead with spaces or over the length
/// limit is reported with the unit's other problems at once.
pub(crate) async fn a_unit_has_a_lead_set_changed_and_filtered_on(app: TestApp) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    let acme = org
        .create_org_unit(create(
            "acme",
            with_lead(" ceo@acme.example ", unit("", "Acme", "company")),
        ))
        .await?
        .into_inner();
    assert_eq!(acme.lead, "ceo@acme.example");
    org.batch_create_org_units(BatchCreateOrgUnitsRequest {
        requests: vec![
            create(
                "eng",
                with_lead("cto@acme.example", unit("orgUnits/acme", "Engineering", "division")),
            ),
            create("web", unit("orgUnits/eng", "Web", "team")),
        ],
        ..BatchCreateOrgUnitsRequest::default()
    })
    .await?;
    assert_eq!(names_of(&app, "lead = \"cto@acme.example\"").await?, ["orgUnits/eng"]);
    assert_eq!(names_of(&app, "lead = \"\"").await?, ["orgUnits/web"]);

    let web = org
        .get_org_unit(GetOrgUnitRequest {
            name: "orgUnits/web".into(),
        })
        .await?
        .into_inner();
    let lead_only = |lead: &str, etag: &str| UpdateOrgUnitRequest {
        org_unit: Some(OrgUnit {
            name: "orgUnits/web".into(),
            lead: lead.to_owned(),
            display_name: "ignored: not in the mask".into(),
            etag: etag.to_owned(),
            ..OrgUnit::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["lead".into()],
        }),
    };
    let led = org.update_org_unit(lead_only("ana", &web.etag)).await?.into_inner();
    assert_eq!((led.lead.as_str(), led.display_name.as_str()), ("ana", "Web"));
    let cleared = org.update_org_unit(lead_only("", &led.etag)).await?.into_inner();
    assert_eq!(cleared.lead, "");

    let refused = org
        .create_org_unit(create("ops", with_lead("Ana Lima", unit("orgUnits/acme", "", "team"))))
        .await;
    let refused = expect_code(refused, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&refused), ["org_unit.display_name", "org_unit.lead"]);
    let too_long = org.update_org_unit(lead_only(&"a".repeat(321), &cleared.etag)).await;
    let too_long = expect_code(too_long, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&too_long), ["org_unit.lead"]);
    Ok(())
}
