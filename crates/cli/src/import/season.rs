//! `trellis okr import`: a planning season from CSV (one key result a
//! line; the lines of one objective share its `objective` id) or JSON
//! (rows of `ImportSeasonRequest.Row`), streamed to `ImportSeason`, which
//! commits all or nothing.

use std::collections::HashMap;

use tokio_stream::StreamExt as _;
use trellis_proto::common::v1::ValidationPage;
use trellis_proto::okr::v1::{
    ImportSeasonRequest, KeyResult, Objective,
    import_season_request::{Header, Row},
    key_result, objective,
};

use crate::{
    client::{Clients, cycle_name, named},
    commands::{duration, timestamp},
    failure::{Failure, LineProblem},
    import::{
        CsvLine, FileKind, kind_of, locate_violations, problem, progress, read_csv, read_json_messages, refusal,
        rows_failure,
    },
    output::Printer,
};

pub use super::values::{alignment_target, key_result_kind};
use super::values::{list, row_alignment};

const OBJECTIVE_COLUMNS: &[&str] = &[
    "owner",
    "accountable",
    "title",
    "kind",
    "description",
    "aligns_to",
    "guardrails",
];
const KNOWN: &[&str] = &[
    "cycle",
    "objective",
    "owner",
    "accountable",
    "title",
    "kind",
    "description",
    "aligns_to",
    "guardrails",
    "kr",
    "kr_title",
    "kr_kind",
    "start",
    "target",
    "lower",
    "upper",
    "unit",
    "weight",
    "kr_owner",
    "due",
    "cadence",
];
/// Rows per streamed message.
const CHUNK: usize = 1_000;

/// Where each row came from: its first line, and its key results' lines.
struct Origin {
    line: usize,
    key_result_lines: Vec<usize>,
}

pub async fn import(
    path: &str,
    cycle: Option<&str>,
    request_id: String,
    clients: &Clients,
    printer: Printer,
) -> Result<(), Failure> {
    let kind = kind_of(path)?;
    let (rows, origins, file_cycle) = match kind {
        FileKind::Csv => rows_from_csv(path)?,
        FileKind::Json | FileKind::JsonLines => rows_from_json(path, kind)?,
    };
    let cycle = match (cycle, file_cycle) {
        (Some(flag), _) => cycle_name(flag),
        (None, Some(column)) => cycle_name(&column),
        (None, None) => {
            return Err(Failure::Usage(
                "which cycle? give --cycle, or a `cycle` column in the CSV".to_owned(),
            ));
        }
    };
    let total = rows.len();
    let bar = progress(total, "sending");
    let mut messages = vec![ImportSeasonRequest {
        header: Some(Header {
            cycle: cycle.clone(),
            request_id,
            ..Header::default()
        }),
        rows: Vec::new(),
    }];
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        messages.push(ImportSeasonRequest {
            header: None,
            rows: rows.by_ref().take(CHUNK).collect(),
        });
    }
    // Kept to ask for the whole report should the import be refused.
    let sent_messages = messages.clone();
    let sent = bar.clone();
    let stream = tokio_stream::iter(messages).map(move |message| {
        sent.inc(message.rows.len() as u64);
        message
    });
    let answer = clients.okr.clone().import_season(stream).await;
    bar.finish_and_clear();
    let response = match answer {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let validate = |page: ValidationPage| {
                let mut messages = sent_messages.clone();
                if let Some(header) = messages.first_mut().and_then(|first| first.header.as_mut()) {
                    header.validate_only = true;
                    header.request_id = String::new();
                    header.validation_page = Some(page);
                }
                let mut okr = clients.okr.clone();
                async move {
                    let answer = okr.import_season(tokio_stream::iter(messages)).await?;
                    Ok(answer.into_inner().validation.unwrap_or_default())
                }
            };
            let violations = refusal(status, validate)
                .await
                .map_err(Failure::call(format!("importing {path}")))?;
            return Err(locate_violations(path, violations, "rows", |index, field| {
                locate(&origins, index, field, kind)
            }));
        }
    };
    if printer.format == crate::output::Format::Json {
        return crate::output::print_json(&crate::output::to_json(&response, true)?);
    }
    println!(
        "imported {} rows into {cycle}: {} objectives, {} key results",
        response.rows, response.objectives_created, response.key_results_created
    );
    Ok(())
}

/// The line and the column (CSV) or field (JSON) of a server violation.
fn locate(origins: &[Origin], index: usize, field: &str, kind: FileKind) -> (usize, String) {
    let Some(origin) = origins.get(index) else {
        return (0, format!("rows[{index}].{field}"));
    };
    if let Some(rest) = field.strip_prefix("key_results[")
        && let Some((kr_index, kr_field)) = rest.split_once(']')
        && let Ok(kr_index) = kr_index.parse::<usize>()
    {
        let line = origin.key_result_lines.get(kr_index).copied().unwrap_or(origin.line);
        let kr_field = kr_field.trim_start_matches('.');
        if kind != FileKind::Csv {
            return (line, field.to_owned());
        }
        let column = match kr_field {
            "name" => "kr",
            "title" => "kr_title",
            "kind" => "kr_kind",
            "owner" => "kr_owner",
            "due_time" => "due",
            other => other,
        };
        return (line, column.to_owned());
    }
    if kind == FileKind::Csv {
        let column = match field.strip_prefix("objective.").unwrap_or(field) {
            "row_id" => "objective",
            "aligns_to_rows" => "aligns_to",
            other => other,
        };
        return (origin.line, column.to_owned());
    }
    (origin.line, field.to_owned())
}

type Parsed = (Vec<Row>, Vec<Origin>, Option<String>);

fn rows_from_json(path: &str, kind: FileKind) -> Result<Parsed, Failure> {
    let (rows, lines) = read_json_messages::<Row>(path, kind)?;
    let origins = rows
        .iter()
        .zip(lines)
        .map(|(row, line)| Origin {
            line,
            key_result_lines: vec![line; row.key_results.len()],
        })
        .collect();
    Ok((rows, origins, None))
}

fn rows_from_csv(path: &str) -> Result<Parsed, Failure> {
    let lines = read_csv(path, KNOWN, &["objective", "title"])?;
    let mut problems = Vec::new();
    let mut cycles: Vec<(usize, String)> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut origins: Vec<Origin> = Vec::new();
    let mut first_lines: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        let cycle = line.get("cycle");
        if !cycle.is_empty() && !cycles.iter().any(|(_, seen)| seen == cycle) {
            cycles.push((line.line, cycle.to_owned()));
        }
        let id = line.get("objective");
        if id.is_empty() {
            problems.push(problem(line.line, "objective", "is required: the objective's id"));
            continue;
        }
        let index = match first_lines.get(id) {
            Some(&first) => {
                let index = rows.iter().position(|row| row.row_id == id).unwrap_or_default();
                let first_line = lines.iter().find(|candidate| candidate.line == first);
                for column in OBJECTIVE_COLUMNS {
                    let value = line.get(column);
                    if !value.is_empty() && first_line.is_some_and(|first| first.get(column) != value) {
                        problems.push(problem(
                            line.line,
                            *column,
                            format!("differs from line {first}, where objective {id} starts"),
                        ));
                    }
                }
                index
            }
            None => {
                first_lines.insert(id.to_owned(), line.line);
                match objective_row(line) {
                    Ok(row) => rows.push(row),
                    Err(mut found) => {
                        problems.append(&mut found);
                        rows.push(Row::default());
                    }
                }
                origins.push(Origin {
                    line: line.line,
                    key_result_lines: Vec::new(),
                });
                rows.len() - 1
            }
        };
        if line.get("kr").is_empty() && line.get("kr_title").is_empty() {
            continue;
        }
        match key_result_of(line) {
            Ok(key_result) => {
                rows[index].key_results.push(key_result);
                origins[index].key_result_lines.push(line.line);
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if cycles.len() > 1 {
        for (line, cycle) in &cycles[1..] {
            problems.push(problem(
                *line,
                "cycle",
                format!("{cycle:?} differs from {:?}: one import is for one cycle", cycles[0].1),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(rows_failure(path, problems));
    }
    Ok((rows, origins, cycles.first().map(|(_, cycle)| cycle.clone())))
}

fn objective_row(line: &CsvLine) -> Result<Row, Vec<LineProblem>> {
    let mut problems = Vec::new();
    let kind = match line.get("kind").to_lowercase().as_str() {
        "" | "committed" => objective::Kind::Committed,
        "aspirational" => objective::Kind::Aspirational,
        other => {
            problems.push(problem(
                line.line,
                "kind",
                format!("{other:?} is neither committed nor aspirational"),
            ));
            objective::Kind::Committed
        }
    };
    let mut aligns_to = Vec::new();
    let mut aligns_to_rows = Vec::new();
    for entry in list(line.get("aligns_to")) {
        if entry.contains('/') {
            match alignment_target(entry) {
                Ok(target) => aligns_to.push(target),
                Err(err) => problems.push(problem(line.line, "aligns_to", format!("{entry:?}: {err}"))),
            }
        } else {
            match row_alignment(entry) {
                Ok(alignment) => aligns_to_rows.push(alignment),
                Err(err) => problems.push(problem(line.line, "aligns_to", format!("{entry:?}: {err}"))),
            }
        }
    }
    let owner = line.get("owner");
    let objective = Objective {
        owner: if owner.is_empty() {
            String::new()
        } else {
            named("orgUnits", owner)
        },
        accountable: line.get("accountable").to_owned(),
        title: line.get("title").to_owned(),
        description: line.get("description").to_owned(),
        kind: kind as i32,
        guardrails: list(line.get("guardrails"))
            .map(|metric| named("healthMetrics", metric))
            .collect(),
        aligns_to,
        ..Objective::default()
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Row {
        row_id: line.get("objective").to_owned(),
        objective: Some(objective),
        key_results: Vec::new(),
        aligns_to_rows,
    })
}

fn key_result_of(line: &CsvLine) -> Result<KeyResult, Vec<LineProblem>> {
    let mut problems = Vec::new();
    let mut number = |column: &str, default: f64| -> f64 {
        let text = line.get(column);
        if text.is_empty() {
            return default;
        }
        text.parse().unwrap_or_else(|_| {
            problems.push(problem(line.line, column, format!("{text:?} is not a number")));
            default
        })
    };
    let start = number("start", 0.0);
    let target = number("target", 0.0);
    let lower = number("lower", 0.0);
    let upper = number("upper", 0.0);
    let weight = number("weight", 1.0);
    let kind = key_result_kind(line.get("kr_kind")).unwrap_or_else(|err| {
        problems.push(problem(line.line, "kr_kind", err));
        key_result::Kind::Unspecified
    });
    let due_time = match line.get("due") {
        "" => None,
        text => match timestamp(text, "due") {
            Ok(time) => Some(time),
            Err(err) => {
                problems.push(problem(line.line, "due", err.to_string()));
                None
            }
        },
    };
    let cadence = match line.get("cadence") {
        "" => None,
        text => match duration(text, "cadence") {
            Ok(cadence) => Some(cadence),
            Err(err) => {
                problems.push(problem(line.line, "cadence", err.to_string()));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(KeyResult {
        name: line.get("kr").to_owned(),
        title: line.get("kr_title").to_owned(),
        kind: kind as i32,
        start,
        target,
        lower,
        upper,
        unit: line.get("unit").to_owned(),
        weight,
        owner: line.get("kr_owner").to_owned(),
        due_time,
        cadence,
        ..KeyResult::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_land_on_the_line_and_column_they_came_from() {
        let origins = vec![
            Origin {
                line: 2,
                key_result_lines: vec![2, 3],
            },
            Origin {
                line: 4,
                key_result_lines: vec![4],
            },
        ];
        assert_eq!(
            locate(&origins, 0, "key_results[1].target", FileKind::Csv),
            (3, "target".to_owned())
        );
        assert_eq!(
            locate(&origins, 1, "objective.owner", FileKind::Csv),
            (4, "owner".to_owned())
        );
        assert_eq!(
            locate(&origins, 1, "key_results[0].title", FileKind::Csv),
            (4, "kr_title".to_owned())
        );
        assert_eq!(
            locate(&origins, 1, "objective.owner", FileKind::Json),
            (4, "objective.owner".to_owned())
        );
    }
}
