//! Accountability spread: a person accountable for more health metrics than
//! the limit (3 by default) is listed with those metrics, most first; only
//! metrics within the asked unit count.

use tonic::Code;
use trellis_proto::{
    cascade::v1::{ListAccountabilitySpreadRequest, ListAccountabilitySpreadResponse},
    health::v1::HealthMetric,
};
use trellis_tests::{TestApp, backend_tests};

use crate::{
    health::{create_metric, csat},
    support::{eventually, expect_code, load_org},
};

backend_tests!(a_person_accountable_for_more_metrics_than_the_limit_is_flagged);

async fn spread(
    app: &TestApp,
    org_unit: &str,
    page_size: i32,
    page_token: &str,
) -> anyhow::Result<ListAccountabilitySpreadResponse> {
    Ok(app
        .cascade
        .clone()
        .list_accountability_spread(ListAccountabilitySpreadRequest {
            as_of: None,
            org_unit: org_unit.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        })
        .await?
        .into_inner())
}

/// Who is listed, with how many metrics.
fn people(response: &ListAccountabilitySpreadResponse) -> Vec<(String, i32)> {
    response
        .people
        .iter()
        .map(|person| (person.person.clone(), person.metric_count))
        .collect()
}

async fn a_person_accountable_for_more_metrics_than_the_limit_is_flagged(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let metric = |accountable: &str, owner: &str, name: &str| HealthMetric {
        display_name: name.to_owned(),
        accountable: accountable.to_owned(),
        owner: owner.to_owned(),
        ..csat()
    };
    for (person, count) in [("ana", 3), ("bo", 4)] {
        for index in 0..count {
            let accountable = format!("{person}@acme.example");
            create_metric(
                &app,
                &format!("{person}-{index}"),
                metric(&accountable, "orgUnits/product", person),
            )
            .await?;
        }
    }
    eventually("bo, at four metrics, is flagged and ana, at three, is not", || async {
        Ok(people(&spread(&app, "", 0, "").await?) == [("bo@acme.example".to_owned(), 4)])
    })
    .await?;
    let flagged = spread(&app, "", 0, "").await?;
    assert_eq!(flagged.limit, 3);
    let names: Vec<&str> = flagged.people[0]
        .metrics
        .iter()
        .map(|node| node.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "healthMetrics/bo-0",
            "healthMetrics/bo-1",
            "healthMetrics/bo-2",
            "healthMetrics/bo-3"
        ]
    );

    // A fourth for ana, in another unit: she is flagged across the org, not
    // within either unit alone.
    create_metric(&app, "ana-3", metric("ana@acme.example", "orgUnits/emea", "Ana's")).await?;
    eventually("ana is flagged at four", || async {
        Ok(people(&spread(&app, "", 0, "").await?).len() == 2)
    })
    .await?;
    assert_eq!(
        people(&spread(&app, "", 0, "").await?),
        [("ana@acme.example".to_owned(), 4), ("bo@acme.example".to_owned(), 4)]
    );
    assert_eq!(
        people(&spread(&app, "orgUnits/product", 0, "").await?),
        [("bo@acme.example".to_owned(), 4)]
    );
    assert!(spread(&app, "orgUnits/sales", 0, "").await?.people.is_empty());

    // Paged, one person a page.
    let first = spread(&app, "", 1, "").await?;
    assert_eq!(people(&first), [("ana@acme.example".to_owned(), 4)]);
    let second = spread(&app, "", 1, &first.next_page_token).await?;
    assert_eq!(people(&second), [("bo@acme.example".to_owned(), 4)]);
    assert!(second.next_page_token.is_empty());

    let malformed = app
        .cascade
        .clone()
        .list_accountability_spread(ListAccountabilitySpreadRequest {
            org_unit: "teams/x".to_owned(),
            ..ListAccountabilitySpreadRequest::default()
        })
        .await;
    expect_code(malformed, Code::InvalidArgument)?;
    Ok(())
}
