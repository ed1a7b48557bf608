//! No request can bring the server down: oversized and malformed input,
//! filters of any size, error lists of any length and deep org chains.
//! After each, the server still answers. Clients that hold connections,
//! streams and imports open are in `limits_connections.rs`.

use prost::Message;

use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use trellis_proto::{
    cascade::v1::{BatchCreateOrgUnitsRequest, CreateOrgUnitRequest, GetOrgUnitRequest, ListOrgUnitsRequest, OrgUnit},
    health::v1::ListHealthMetricsRequest,
    okr::v1::{ListCyclesRequest, ListObjectivesRequest},
    strategy::v1::ListStrategiesRequest,
};
use trellis_tests::{TestApp, TestBackend, backend_only_tests, backend_tests, spawn_app_with};

use crate::{
    raw::raw_call,
    support::{expect_code, unit, violated_fields},
};

backend_tests!(
    huge_and_many_termed_filters_are_refused_on_every_list,
    long_violation_lists_reach_the_client_within_the_trailer_budget,
    strings_with_control_characters_are_refused_and_nothing_is_stored,
    malformed_messages_are_invalid_arguments,
    org_chains_are_capped_and_the_deepest_allowed_chain_of_longest_ids_is_stored,
    a_batch_reports_shape_and_reference_problems_together,
);

backend_only_tests!(
    oversized_messages_are_resource_exhausted,
    a_batch_whose_answer_is_too_large_is_refused_before_it_is_written,
);

/// The server still answers a health check.
pub(crate) async fn still_serving(app: &TestApp) -> anyhow::Result<()> {
    let mut health = app.health.clone();
    health.check(HealthCheckRequest { service: String::new() }).await?;
    Ok(())
}

pub(crate) async fn huge_and_many_termed_filters_are_refused_on_every_list(app: TestApp) -> anyhow::Result<()> {
    let terms = |count: usize| vec!["kind = \"team\""; count].join(" OR ");
    let (mut org, mut strategy, mut okr, mut metrics) = (
        app.org.clone(),
        app.strategy.clone(),
        app.okr.clone(),
        app.metrics.clone(),
    );
    let nested = |depth: usize| format!("{}kind = team{}", "(".repeat(depth), ")".repeat(depth));
    for filter in [
        terms(15_000),
        terms(1_000),
        "x".repeat(1 << 20),
        "(".repeat(100_000),
        nested(2_000),
    ] {
        let listed = org.list_org_units(ListOrgUnitsRequest {
            filter: filter.clone(),
            ..ListOrgUnitsRequest::default()
        });
        expect_code(listed.await, Code::InvalidArgument)?;
        let strategies = strategy.list_strategies(ListStrategiesRequest {
            filter: filter.clone(),
            ..ListStrategiesRequest::default()
        });
        expect_code(strategies.await, Code::InvalidArgument)?;
        let cycles = okr.list_cycles(ListCyclesRequest {
            filter: filter.clone(),
            ..ListCyclesRequest::default()
        });
        expect_code(cycles.await, Code::InvalidArgument)?;
        let objectives = okr.list_objectives(ListObjectivesRequest {
            filter: filter.clone(),
            ..ListObjectivesRequest::default()
        });
        expect_code(objectives.await, Code::InvalidArgument)?;
        let metrics = metrics.list_health_metrics(ListHealthMetricsRequest {
            filter: filter.clone(),
            ..ListHealthMetricsRequest::default()
        });
        expect_code(metrics.await, Code::InvalidArgument)?;
        still_serving(&app).await?;
    }
    // Within the limits, a long filter is answered.
    org.list_org_units(ListOrgUnitsRequest {
        filter: terms(64),
        ..ListOrgUnitsRequest::default()
    })
    .await?;
    Ok(())
}

pub(crate) async fn long_violation_lists_reach_the_client_within_the_trailer_budget(
    app: TestApp,
) -> anyhow::Result<()> {
    let huge_parent = format!("orgUnits/{}", "p".repeat(1 << 20));
    let requests: Vec<CreateOrgUnitRequest> = (0..1_000)
        .map(|row| CreateOrgUnitRequest {
            org_unit_id: format!("unit-{row}"),
            org_unit: Some(OrgUnit {
                parent: if row == 0 {
                    huge_parent.clone()
                } else {
                    "orgUnits/nowhere".into()
                },
                display_name: String::new(),
                ..OrgUnit::default()
            }),
            ..CreateOrgUnitRequest::default()
        })
        .collect();
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests,
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    // Details within budget, so clients with a 16 KiB metadata limit get them.
    assert!(
        status.details().len() <= 6_000,
        "{} bytes of details",
        status.details().len()
    );
    assert!(status.message().len() < 200, "{}", status.message());
    let fields = violated_fields(&status);
    assert!(fields.len() > 10, "{fields:?}");
    assert!(fields.iter().all(|field| field.len() < 300));
    assert!(
        status.message().starts_with("2000 invalid fields"),
        "{}",
        status.message()
    );
    still_serving(&app).await
}

pub(crate) async fn strings_with_control_characters_are_refused_and_nothing_is_stored(
    app: TestApp,
) -> anyhow::Result<()> {
    for bad in ["Sales\u{0}", "Sa\u{1b}[31mles", "Sales\u{7f}", "Sales\u{85}"] {
        let status = expect_code(
            app.org.clone().create_org_unit(unit("sales", "", bad)).await,
            Code::InvalidArgument,
        )?;
        assert_eq!(violated_fields(&status), vec!["org_unit.kind".to_owned()], "{bad:?}");
    }
    let mut good = unit("sales", "", "division");
    if let Some(org_unit) = good.org_unit.as_mut() {
        org_unit.description = "line one\nline two\ttabbed\r\n".into();
    }
    app.org.clone().create_org_unit(good).await?;
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert_eq!(listed.into_inner().org_units.len(), 1);
    still_serving(&app).await
}

pub(crate) async fn malformed_messages_are_invalid_arguments(app: TestApp) -> anyhow::Result<()> {
    let get = "/trellis.cascade.v1.OrgService/GetOrgUnit";
    let valid = GetOrgUnitRequest {
        name: "orgUnits/acme".into(),
    }
    .encode_to_vec();
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", valid[..valid.len() - 3].to_vec()),
        ("wrong wire type", vec![0x08, 0x01]),
        ("invalid UTF-8", vec![0x0a, 0x02, 0xc3, 0x28]),
        ("length past the end", vec![0x0a, 0x7f, b'a']),
        ("a group", vec![0x0b, 0x0c]),
        (
            "varint too long",
            vec![0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for (what, body) in malformed {
        let status = raw_call(&app, get, body).await.err();
        assert_eq!(
            status.map(|status| status.code()),
            Some(Code::InvalidArgument),
            "{what}"
        );
    }
    // A valid encoding reaches the handler (which finds nothing).
    assert_eq!(
        raw_call(&app, get, valid).await.err().map(|s| s.code()),
        Some(Code::NotFound)
    );
    still_serving(&app).await
}

pub(crate) async fn oversized_messages_are_resource_exhausted(backend: TestBackend) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_message_bytes = 64 * 1024).await?;
    let body = GetOrgUnitRequest {
        name: format!("orgUnits/{}", "a".repeat(100 * 1024)),
    }
    .encode_to_vec();
    let status = raw_call(&app, "/trellis.cascade.v1.OrgService/GetOrgUnit", body)
        .await
        .err();
    assert_eq!(status.map(|status| status.code()), Some(Code::ResourceExhausted));
    still_serving(&app).await
}

pub(crate) fn chain(length: usize, id_length: usize) -> Vec<CreateOrgUnitRequest> {
    let id = |level: usize| format!("u{level:0>width$}", width = id_length - 1);
    (0..length)
        .map(|level| {
            let parent = if level == 0 {
                String::new()
            } else {
                format!("orgUnits/{}", id(level - 1))
            };
            CreateOrgUnitRequest {
                org_unit_id: id(level),
                org_unit: Some(OrgUnit {
                    parent,
                    display_name: format!("Level {level}"),
                    kind: "unit".into(),
                    ..OrgUnit::default()
                }),
                ..CreateOrgUnitRequest::default()
            }
        })
        .collect()
}

pub(crate) async fn org_chains_are_capped_and_the_deepest_allowed_chain_of_longest_ids_is_stored(
    app: TestApp,
) -> anyhow::Result<()> {
    let mut org = app.org.clone();
    let too_deep = org.batch_create_org_units(BatchCreateOrgUnitsRequest {
        requests: chain(5_000, 8),
        ..BatchCreateOrgUnitsRequest::default()
    });
    let status = expect_code(too_deep.await, Code::InvalidArgument)?;
    assert!(violated_fields(&status).contains(&"requests[32].org_unit.parent".to_owned()));
    still_serving(&app).await?;
    // 32 levels of 63-character ids: the longest path any unit can have.
    let deepest = org.batch_create_org_units(BatchCreateOrgUnitsRequest {
        requests: chain(32, 63),
        ..BatchCreateOrgUnitsRequest::default()
    });
    let created = deepest.await?.into_inner().org_units;
    assert_eq!(created.last().map(|unit| unit.depth), Some(31));
    // One more below it is refused, alone or in a batch.
    let below = CreateOrgUnitRequest {
        org_unit_id: "one-more".into(),
        org_unit: Some(OrgUnit {
            parent: format!("orgUnits/u{:0>62}", 31),
            display_name: "One more".into(),
            ..OrgUnit::default()
        }),
        ..CreateOrgUnitRequest::default()
    };
    expect_code(app.org.clone().create_org_unit(below).await, Code::InvalidArgument)?;
    Ok(())
}

pub(crate) async fn a_batch_reports_shape_and_reference_problems_together(app: TestApp) -> anyhow::Result<()> {
    let mut requests = vec![unit("sales", "missing", "division"), unit("emea", "sales", "team")];
    if let Some(org_unit) = requests[1].org_unit.as_mut() {
        org_unit.display_name = String::new();
    }
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests,
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    let fields = violated_fields(&status);
    assert!(fields.contains(&"requests[0].org_unit.parent".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"requests[1].org_unit.display_name".to_owned()),
        "{fields:?}"
    );
    // The single create does the same.
    let mut single = unit("sales", "missing", "division");
    if let Some(org_unit) = single.org_unit.as_mut() {
        org_unit.display_name = String::new();
    }
    let status = expect_code(app.org.clone().create_org_unit(single).await, Code::InvalidArgument)?;
    let fields = violated_fields(&status);
    assert!(fields.contains(&"org_unit.parent".to_owned()), "{fields:?}");
    assert!(fields.contains(&"org_unit.display_name".to_owned()), "{fields:?}");
    Ok(())
}

pub(crate) async fn a_batch_whose_answer_is_too_large_is_refused_before_it_is_written(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let app = spawn_app_with(&backend, |settings| settings.max_message_bytes = 256 * 1024).await?;
    // Small to send, large to answer: every unit carries its ancestors.
    let status = expect_code(
        app.org
            .clone()
            .batch_create_org_units(BatchCreateOrgUnitsRequest {
                requests: chain(30, 63)
                    .into_iter()
                    .chain(
                        (0..1_500)
                            .map(|index| unit(&format!("leaf-{index}"), &format!("orgUnits/u{:0>62}", 29), "team")),
                    )
                    .collect(),
                ..BatchCreateOrgUnitsRequest::default()
            })
            .await,
        Code::ResourceExhausted,
    )?;
    assert!(status.message().contains("smaller batches"), "{}", status.message());
    let listed = app.org.clone().list_org_units(ListOrgUnitsRequest::default()).await?;
    assert!(listed.into_inner().org_units.is_empty(), "nothing was written");
    Ok(())
}
