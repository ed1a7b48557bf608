//! Health metrics at their edges: the same measurement delivered twice, a
//! crash between two escalation steps, a metric that goes silent, and
//! thresholds that contradict their direction.

use std::time::Duration;

use prost_types::Timestamp;
use tonic::Code;
use trellis_proto::{
    health::v1::{
        self as pb, BatchRecordMeasurementsRequest, CreateHealthMetricRequest, Direction, EscalationPolicy,
        HealthMetric, ListHealthMetricsRequest, ListMeasurementsRequest, ListStatusChangesRequest, Measurement,
        RecordMeasurementRequest, Thresholds, batch_record_measurements_request::Entry,
    },
    okr::v1::objective,
};
use trellis_tests::{TestApp, backend_tests};

use crate::health::*;
use crate::{
    health_replicas::{health_replica, paused_by_a_doomed_runner},
    support::{eventually, expect_code, violations},
};

backend_tests!(
    the_same_measurement_twice_changes_nothing,
    a_crash_between_pausing_and_creating_the_remedial_objective_finishes_after_restart,
    a_silent_metric_goes_unknown,
    inconsistent_thresholds_are_rejected_with_every_violation,
);

async fn the_same_measurement_twice_changes_nothing(app: TestApp) -> anyhow::Result<()> {
    crate::support::load_org(&app).await?;
    create_metric(&app, "csat", csat()).await?;
    let first = record(&app, CSAT, 1, 3.5).await?;
    assert_eq!((first.recorded, first.duplicates), (1, 0));
    let before = metric(&app, CSAT).await?;
    let again = record(&app, CSAT, 1, 3.5).await?;
    assert_eq!((again.recorded, again.duplicates), (0, 1));
    let after = metric(&app, CSAT).await?;
    assert_eq!(after.escalation.map(|e| e.consecutive_red), Some(1));
    assert_eq!(before.latest, after.latest);
    assert_eq!(before.etag, after.etag);

    // A batch repeating it, twice, with one new measurement.
    let entry = |n, value| Entry {
        health_metric: CSAT.to_owned(),
        measurement: Some(Measurement {
            value,
            measure_time: Some(day(n)),
            ..Measurement::default()
        }),
    };
    let batch = app
        .metrics
        .clone()
        .batch_record_measurements(BatchRecordMeasurementsRequest {
            measurements: vec![entry(1, 3.5), entry(1, 3.5), entry(2, 4.5)],
            ..BatchRecordMeasurementsRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!((batch.recorded, batch.duplicates), (1, 2));

    // Another value at a recorded time is refused, and so is the whole batch.
    let status = expect_code(
        app.metrics
            .clone()
            .batch_record_measurements(BatchRecordMeasurementsRequest {
                measurements: vec![entry(3, 4.0), entry(1, 2.0)],
                ..BatchRecordMeasurementsRequest::default()
            })
            .await,
        Code::InvalidArgument,
    )?;
    let fields: Vec<String> = violations(&status).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, vec!["measurements[1].measurement.value"]);
    let series = app
        .metrics
        .clone()
        .list_measurements(ListMeasurementsRequest {
            health_metric: CSAT.to_owned(),
            ..ListMeasurementsRequest::default()
        })
        .await?
        .into_inner()
        .measurements;
    let times: Vec<Option<Timestamp>> = series.iter().map(|m| m.measure_time).collect();
    assert_eq!(times, vec![Some(day(2)), Some(day(1))]);
    assert_eq!(series[1].status(), pb::Status::Red);
    Ok(())
}

async fn a_crash_between_pausing_and_creating_the_remedial_objective_finishes_after_restart(
    mut app: TestApp,
) -> anyhow::Result<()> {
    // The health service in its own server, the others in another; `app`
    // only keeps the database, so no other step runner is about. The
    // doomed runner's claim must lapse before the restarted one may run:
    // keep that short.
    let (others, doomed, stretch) = paused_by_a_doomed_runner(&mut app, 2).await?;
    // Stopped right after pausing: the pause is not marked done, and no
    // remedial objective exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(remedial_objectives(&others).await?.is_empty());
    assert!(
        metric(&doomed, CSAT)
            .await?
            .escalation
            .unwrap_or_default()
            .pending_steps
            >= 2
    );
    doomed.shutdown().await?;

    let restarted = health_replica(&app, &others, 2, None).await?;
    eventually("the remedial objective exists", || async {
        Ok(!remedial_objectives(&others).await?.is_empty())
    })
    .await?;
    eventually("no step is pending", || async {
        Ok(metric(&restarted, CSAT)
            .await?
            .escalation
            .unwrap_or_default()
            .pending_steps
            == 0)
    })
    .await?;
    assert_eq!(remedial_objectives(&others).await?.len(), 1);
    let escalation = metric(&restarted, CSAT).await?.escalation.unwrap_or_default();
    assert_eq!(escalation.paused_objectives, vec![stretch.clone()]);

    // Green: the objective paused before the crash is resumed.
    record(&restarted, CSAT, 3, 4.5).await?;
    eventually("the paused objective is resumed", || async {
        Ok(state_of(&others, &stretch).await? == objective::State::Active)
    })
    .await?;
    assert_eq!(remedial_objectives(&others).await?.len(), 1);
    restarted.shutdown().await?;
    others.shutdown().await
}

async fn a_silent_metric_goes_unknown(app: TestApp) -> anyhow::Result<()> {
    crate::support::load_org(&app).await?;
    let hourly = HealthMetric {
        cadence: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..csat()
    };
    create_metric(&app, "csat", hourly).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    // The next whole second: after the metric's creation, so the history
    // keeps this measurement's own time.
    let now = Timestamp {
        seconds: i64::try_from(now.as_secs())? + 1,
        nanos: 0,
    };
    let recorded = app
        .metrics
        .clone()
        .record_measurement(RecordMeasurementRequest {
            health_metric: CSAT.to_owned(),
            measurement: Some(Measurement {
                value: 4.5,
                measure_time: Some(now),
                ..Measurement::default()
            }),
        })
        .await?
        .into_inner();
    assert_eq!(recorded.health_metrics[0].status(), pb::Status::Green);
    // The sweep records it without anyone reading the metric.
    eventually("the metric is recorded UNKNOWN", || async {
        let unknown = app
            .metrics
            .clone()
            .list_health_metrics(ListHealthMetricsRequest {
                filter: "status = UNKNOWN".to_owned(),
                ..ListHealthMetricsRequest::default()
            })
            .await?
            .into_inner()
            .health_metrics;
        Ok(unknown.iter().any(|metric| metric.name == CSAT))
    })
    .await?;
    let silent = metric(&app, CSAT).await?;
    assert_eq!(silent.status(), pb::Status::Unknown);
    assert_eq!(
        silent.status_time.map(|time| time.seconds),
        Some(now.seconds + 1),
        "UNKNOWN from the moment the cadence ran out"
    );
    let history = app
        .metrics
        .clone()
        .list_status_changes(ListStatusChangesRequest {
            health_metric: CSAT.to_owned(),
            ..ListStatusChangesRequest::default()
        })
        .await?
        .into_inner()
        .status_changes;
    assert_eq!(history[0].status(), pb::Status::Unknown);
    assert_eq!(history[0].previous(), pb::Status::Green);
    assert_eq!(history[1].duration.map(|duration| duration.seconds), Some(1));
    Ok(())
}

async fn inconsistent_thresholds_are_rejected_with_every_violation(app: TestApp) -> anyhow::Result<()> {
    crate::support::load_org(&app).await?;
    let upside_down = HealthMetric {
        display_name: String::new(),
        thresholds: Some(Thresholds {
            green: 3.8,
            red: 4.2,
            ..Thresholds::default()
        }),
        cadence: None,
        escalation_policy: Some(EscalationPolicy {
            enabled: true,
            red_to_escalate: 0,
            red_to_break: 2,
        }),
        ..csat()
    };
    let status = expect_code(
        app.metrics
            .clone()
            .create_health_metric(CreateHealthMetricRequest {
                health_metric: Some(upside_down),
                health_metric_id: "csat".to_owned(),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
    )?;
    let found = violations(&status);
    let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "health_metric.display_name",
            "health_metric.thresholds.red",
            "health_metric.cadence",
            "health_metric.escalation_policy.red_to_escalate",
        ]
    );
    assert!(found[1].1.contains("HIGHER_IS_BETTER"), "{}", found[1].1);

    let band = HealthMetric {
        direction: Direction::Band as i32,
        thresholds: Some(Thresholds {
            green_low: 40.0,
            green_high: 30.0,
            red_low: 45.0,
            red_high: 20.0,
            ..Thresholds::default()
        }),
        ..csat()
    };
    let status = expect_code(
        app.metrics
            .clone()
            .create_health_metric(CreateHealthMetricRequest {
                health_metric: Some(band),
                health_metric_id: "latency".to_owned(),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
    )?;
    let fields: Vec<String> = violations(&status).into_iter().map(|(field, _)| field).collect();
    assert_eq!(
        fields,
        vec![
            "health_metric.thresholds.green_high",
            "health_metric.thresholds.red_low",
            "health_metric.thresholds.red_high",
        ]
    );
    let none = app
        .metrics
        .clone()
        .list_health_metrics(ListHealthMetricsRequest::default())
        .await?
        .into_inner();
    assert!(none.health_metrics.is_empty());
    Ok(())
}
