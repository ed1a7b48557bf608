//! `trellis health import`: measurements from CSV (metric, time, value,
//! source) or JSON (rows of `BatchRecordMeasurementsRequest.Entry`).
//!
//! The whole file is checked before anything is sent, then sent in
//! batches of 10,000 (the server's cap), each all or nothing. Recording a
//! measurement again is a counted duplicate that changes nothing, so a file
//! whose later batch failed can be fixed and sent again whole.

use trellis_proto::common::v1::ValidationPage;
use trellis_proto::health::v1::{
    BatchRecordMeasurementsRequest, Measurement, batch_record_measurements_request::Entry,
};

use crate::{
    client::{Clients, named},
    commands::timestamp,
    failure::Failure,
    import::{
        FileKind, kind_of, locate_violations, problem, progress, read_csv, read_json_messages, refusal, rows_failure,
    },
    output::Printer,
};

const BATCH: usize = 10_000;

pub async fn import(path: &str, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let kind = kind_of(path)?;
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    match kind {
        FileKind::Csv => {
            for line in read_csv(
                path,
                &["metric", "time", "value", "source"],
                &["metric", "time", "value"],
            )? {
                let value = line.get("value");
                let Ok(value) = value.parse::<f64>() else {
                    problems.push(problem(line.line, "value", format!("{value:?} is not a number")));
                    continue;
                };
                let measure_time = match timestamp(line.get("time"), "time") {
                    Ok(time) => time,
                    Err(err) => {
                        problems.push(problem(line.line, "time", err.to_string()));
                        continue;
                    }
                };
                entries.push(Entry {
                    health_metric: named("healthMetrics", line.get("metric")),
                    measurement: Some(Measurement {
                        value,
                        measure_time: Some(measure_time),
                        source: line.get("source").to_owned(),
                        ..Measurement::default()
                    }),
                });
                lines.push(line.line);
            }
        }
        FileKind::Json | FileKind::JsonLines => {
            (entries, lines) = read_json_messages::<Entry>(path, kind)?;
        }
    }
    if !problems.is_empty() {
        return Err(rows_failure(path, problems));
    }
    let bar = progress(entries.len(), "recording");
    let (mut recorded, mut duplicates) = (0, 0);
    let mut offset = 0;
    for batch in entries.chunks(BATCH) {
        let request = BatchRecordMeasurementsRequest {
            measurements: batch.to_vec(),
            ..BatchRecordMeasurementsRequest::default()
        };
        let answer = clients.health.clone().batch_record_measurements(request.clone()).await;
        let response = match answer {
            Ok(response) => response.into_inner(),
            Err(status) => {
                bar.abandon();
                if offset > 0 {
                    eprintln!(
                        "the first {offset} measurements were recorded; after fixing the file, send it again whole (they count as duplicates)"
                    );
                }
                let validate = |page: ValidationPage| {
                    let request = BatchRecordMeasurementsRequest {
                        validate_only: true,
                        validation_page: Some(page),
                        ..request.clone()
                    };
                    let mut health = clients.health.clone();
                    async move {
                        let answer = health.batch_record_measurements(request).await?;
                        Ok(answer.into_inner().validation.unwrap_or_default())
                    }
                };
                let violations = refusal(status, validate)
                    .await
                    .map_err(Failure::call(format!("importing {path}")))?;
                return Err(locate_violations(path, violations, "measurements", |index, field| {
                    let line = lines.get(offset + index).copied().unwrap_or(0);
                    let field = match (kind, field) {
                        (FileKind::Csv, "measurement.value") => "value".to_owned(),
                        (FileKind::Csv, "measurement.measure_time") => "time".to_owned(),
                        (FileKind::Csv, "health_metric") => "metric".to_owned(),
                        (_, other) => other.to_owned(),
                    };
                    (line, field)
                }));
            }
        };
        recorded += response.recorded;
        duplicates += response.duplicates;
        offset += batch.len();
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    printer.say(format!(
        "recorded {recorded} measurements from {path} ({duplicates} already recorded)"
    ));
    if printer.format == crate::output::Format::Json {
        crate::output::print_json(&serde_json::json!({"recorded": recorded, "duplicates": duplicates}))?;
    }
    Ok(())
}
