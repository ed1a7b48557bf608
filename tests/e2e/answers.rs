//! Smaller promises of the API: weights bounded, page tokens opaque and
//! bound to their method, cascade names checked as names, reflection
//! answering with every file a type needs, and errors that say what to do.

use tonic::Code;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use trellis_proto::{
    cascade::v1::{GetAlignmentPathRequest, ListOrphansRequest},
    okr::v1::{
        CreateKeyResultRequest, CreateObjectiveRequest, ListCyclesRequest, ListKeyResultsRequest,
        ListObjectivesRequest, Objective, key_result, objective,
    },
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    okr_support::{CYCLE, company_objective, create_cycle, measured, move_cycle, planning_season},
    support::{expect_code, violated_fields},
};

backend_tests!(
    weights_are_bounded_and_zero_means_one,
    page_tokens_are_opaque_and_bound_to_their_method,
    cascade_names_with_malformed_ids_are_invalid_arguments,
    reflection_sends_a_files_dependencies,
    a_key_result_added_to_an_active_plan_points_to_a_replan,
);

async fn weights_are_bounded_and_zero_means_one(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let mut heavy = measured(key_result::Kind::Increase, 10.0, 20.0);
    heavy.weight = 1e308;
    let mut aligned = company_objective(objective::Kind::Committed);
    if let Some(target) = aligned.aligns_to.first_mut() {
        target.weight = -1.0;
    }
    let status = expect_code(
        app.okr
            .clone()
            .create_objective(CreateObjectiveRequest {
                objective: Some(aligned),
                key_results: vec![heavy],
                ..CreateObjectiveRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    let fields = violated_fields(&status);
    assert!(fields.contains(&"key_results[0].weight".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"objective.aligns_to[0].weight".to_owned()),
        "{fields:?}"
    );
    // Unset (0) is 1; the bound itself is accepted.
    let mut at_bound = measured(key_result::Kind::Increase, 10.0, 20.0);
    at_bound.weight = 1_000.0;
    let unset = measured(key_result::Kind::Increase, 10.0, 20.0);
    let created = app
        .okr
        .clone()
        .create_objective(CreateObjectiveRequest {
            objective: Some(company_objective(objective::Kind::Committed)),
            key_results: vec![at_bound, unset],
            ..CreateObjectiveRequest::default()
        })
        .await?
        .into_inner();
    let key_results = app
        .okr
        .clone()
        .list_key_results(ListKeyResultsRequest {
            parent: created.name,
            ..ListKeyResultsRequest::default()
        })
        .await?
        .into_inner()
        .key_results;
    let mut weights: Vec<f64> = key_results.iter().map(|kr| kr.weight).collect();
    weights.sort_by(f64::total_cmp);
    assert_eq!(weights, vec![1.0, 1_000.0]);
    Ok(())
}

async fn page_tokens_are_opaque_and_bound_to_their_method(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    create_cycle(&app, "2027-q2", "orgUnits/acme").await?;
    let page = app
        .okr
        .clone()
        .list_cycles(ListCyclesRequest {
            page_size: 1,
            ..ListCyclesRequest::default()
        })
        .await?
        .into_inner();
    let token = page.next_page_token;
    assert!(!token.is_empty());
    assert!(!token.contains("2027") && !token.contains("cycles"), "{token}");
    // The same token handed to another list is refused.
    let foreign = app
        .okr
        .clone()
        .list_objectives(ListObjectivesRequest {
            page_token: token.clone(),
            ..ListObjectivesRequest::default()
        })
        .await;
    let status = expect_code(foreign, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["page_token".to_owned()]);
    // And it still works where it was issued.
    let next = app
        .okr
        .clone()
        .list_cycles(ListCyclesRequest {
            page_size: 1,
            page_token: token,
            ..ListCyclesRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(next.cycles.len(), 1);
    Ok(())
}

async fn cascade_names_with_malformed_ids_are_invalid_arguments(app: TestApp) -> anyhow::Result<()> {
    for name in ["objectives/ACME", "objectives/a\u{7}b", "objectives/-x"] {
        let answer = app
            .cascade
            .clone()
            .get_alignment_path(GetAlignmentPathRequest {
                name: name.to_owned(),
                as_of: None,
            })
            .await;
        expect_code(answer, Code::InvalidArgument)?;
    }
    let missing = app
        .cascade
        .clone()
        .get_alignment_path(GetAlignmentPathRequest {
            as_of: None,
            name: "objectives/nowhere".to_owned(),
        })
        .await;
    let status = expect_code(missing, Code::NotFound)?;
    assert!(status.message().contains("objectives/nowhere"), "{}", status.message());
    let cycle = app
        .cascade
        .clone()
        .list_orphans(ListOrphansRequest {
            cycle: "cycles/Q1 2027".to_owned(),
            ..ListOrphansRequest::default()
        })
        .await;
    expect_code(cycle, Code::InvalidArgument)?;
    Ok(())
}

async fn reflection_sends_a_files_dependencies(app: TestApp) -> anyhow::Result<()> {
    let mut client = ServerReflectionClient::new(app.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "trellis.okr.v1.OkrService".to_owned(),
        )),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let Some(answer) = answers.message().await? else {
        anyhow::bail!("no reflection answer");
    };
    let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
        anyhow::bail!("not a file descriptor answer");
    };
    let names: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .filter_map(|bytes| <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).ok())
        .map(|file| file.name().to_owned())
        .collect();
    for expected in [
        "trellis/okr/v1/okr.proto",
        "trellis/feed/v1/feed.proto",
        "trellis/common/v1/validation.proto",
        "google/protobuf/timestamp.proto",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    Ok(())
}

async fn a_key_result_added_to_an_active_plan_points_to_a_replan(app: TestApp) -> anyhow::Result<()> {
    planning_season(&app).await?;
    let created = app
        .okr
        .clone()
        .create_objective(CreateObjectiveRequest {
            objective: Some(company_objective(objective::Kind::Committed)),
            key_results: vec![measured(key_result::Kind::Increase, 1.0, 2.0)],
            objective_id: "grow".into(),
            ..CreateObjectiveRequest::default()
        })
        .await?
        .into_inner();
    move_cycle(&app, "ACTIVE").await?;
    let late = app
        .okr
        .clone()
        .create_key_result(CreateKeyResultRequest {
            parent: created.name.clone(),
            key_result: Some(measured(key_result::Kind::Increase, 3.0, 4.0)),
            ..CreateKeyResultRequest::default()
        })
        .await;
    let status = expect_code(late, Code::FailedPrecondition)?;
    assert!(status.message().contains("ReplanObjective"), "{}", status.message());
    assert!(!status.message().contains("a ACTIVE"), "{}", status.message());
    let objective: Objective = created;
    assert_eq!(objective.cycle, CYCLE);
    Ok(())
}
