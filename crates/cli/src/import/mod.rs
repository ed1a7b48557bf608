//! Bulk imports from files: reading CSV and JSON rows with their line
//! numbers, and putting the server's field violations (`rows[3].…`) back
//! on the lines they came from, so every bad row is told by its line.

pub mod measurements;
pub mod org_units;
pub mod season;
mod values;

use std::{collections::HashMap, future::Future};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use trellis_proto::common::v1::{ValidationPage, ValidationReport};

use crate::failure::{Failure, LineProblem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    /// A JSON array of rows.
    Json,
    /// One JSON row a line.
    JsonLines,
}

pub fn kind_of(path: &str) -> Result<FileKind, Failure> {
    let lower = path.to_lowercase();
    if lower.ends_with(".csv") {
        Ok(FileKind::Csv)
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Ok(FileKind::JsonLines)
    } else if lower.ends_with(".json") {
        Ok(FileKind::Json)
    } else {
        Err(Failure::Usage(format!(
            "{path}: unknown file type; use .csv, .json (an array of rows) or .jsonl (a row a line)"
        )))
    }
}

fn read(path: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|err| Failure::Io {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// A CSV record by column name, with its line.
#[derive(Debug, Clone)]
pub struct CsvLine {
    pub line: usize,
    pub fields: HashMap<String, String>,
}

impl CsvLine {
    /// The trimmed value of `column`, "" when absent.
    pub fn get(&self, column: &str) -> &str {
        self.fields.get(column).map_or("", |value| value.trim())
    }
}

/// Reads a CSV with a header line. Columns not in `known` are refused (a
/// typo in a header must not drop a column silently); `required` must be
/// present.
pub fn read_csv(path: &str, known: &[&str], required: &[&str]) -> Result<Vec<CsvLine>, Failure> {
    let text = read(path)?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|err| rows_failure(path, vec![problem(1, "", format!("unreadable header: {err}"))]))?
        .iter()
        .map(|header| header.trim().to_lowercase())
        .collect();
    let mut problems = Vec::new();
    for header in &headers {
        if !known.contains(&header.as_str()) {
            problems.push(problem(
                1,
                header,
                format!("unknown column; known: {}", known.join(", ")),
            ));
        }
    }
    for column in required {
        if !headers.iter().any(|header| header == column) {
            problems.push(problem(1, *column, "required column is missing"));
        }
    }
    let mut lines = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line() as usize);
                let fields = headers.iter().cloned().zip(record.iter().map(str::to_owned)).collect();
                lines.push(CsvLine { line, fields });
            }
            Err(err) => {
                let line = err.position().map_or(0, |position| position.line() as usize);
                problems.push(problem(line, "", err.to_string()));
            }
        }
    }
    if !problems.is_empty() {
        return Err(rows_failure(path, problems));
    }
    Ok(lines)
}

/// The rows of a JSON array or JSON-lines file, each with the line it
/// starts on.
pub fn read_json_rows(path: &str, kind: FileKind) -> Result<Vec<(usize, Value)>, Failure> {
    let text = read(path)?;
    if kind == FileKind::JsonLines {
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(value) => rows.push((index + 1, value)),
                Err(err) => problems.push(problem(index + 1, "", format!("not JSON: {err}"))),
            }
        }
        if !problems.is_empty() {
            return Err(rows_failure(path, problems));
        }
        return Ok(rows);
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|err| rows_failure(path, vec![problem(err.line(), "", format!("not JSON: {err}"))]))?;
    let Value::Array(items) = value else {
        return Err(rows_failure(
            path,
            vec![problem(1, "", "expected a JSON array of rows")],
        ));
    };
    Ok(element_lines(&text).into_iter().zip(items).collect())
}

/// The rows of a JSON file as messages of type `M`, each with its line;
/// every row that is not one is reported by its line.
pub fn read_json_messages<M: prost::Message + prost::Name + Default>(
    path: &str,
    kind: FileKind,
) -> Result<(Vec<M>, Vec<usize>), Failure> {
    let mut messages = Vec::new();
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (line, value) in read_json_rows(path, kind)? {
        match crate::output::from_json::<M>(&value) {
            Ok(message) => {
                messages.push(message);
                lines.push(line);
            }
            Err(err) => problems.push(problem(line, "", format!("not a {}: {err}", M::full_name()))),
        }
    }
    if !problems.is_empty() {
        return Err(rows_failure(path, problems));
    }
    Ok((messages, lines))
}

/// The line on which each element of the top-level JSON array starts.
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expecting_element = false;
    for character in text.chars() {
        if character == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, character) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting_element && !character.is_whitespace() && character != ']' {
            lines.push(line);
            expecting_element = false;
        }
        match character {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expecting_element = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting_element = true,
            _ => {}
        }
    }
    lines
}

pub fn problem(line: usize, field: impl Into<String>, message: impl Into<String>) -> LineProblem {
    LineProblem {
        line,
        field: field.into(),
        message: message.into(),
    }
}

pub fn rows_failure(path: &str, mut problems: Vec<LineProblem>) -> Failure {
    problems.sort_by_key(|problem| problem.line);
    Failure::Rows {
        file: path.to_owned(),
        problems,
    }
}

/// Every problem the server found with a refused import, as (field,
/// description): from the error's details, and when the server had to
/// leave some out of them (they ride in a trailer of bounded size; it then
/// ends them with a violation on field ""), from `validate`, which sends
/// the same request with validate_only for each page of the report.
/// Other failures come back as they are.
pub async fn refusal<F, Fut>(status: Status, mut validate: F) -> Result<Vec<(String, String)>, Status>
where
    F: FnMut(ValidationPage) -> Fut,
    Fut: Future<Output = Result<ValidationReport, Status>>,
{
    let shown = match status.get_details_bad_request() {
        Some(bad_request) if status.code() == Code::InvalidArgument && !bad_request.field_violations.is_empty() => {
            bad_request.field_violations
        }
        _ => return Err(status),
    };
    if shown.last().is_some_and(|violation| !violation.field.is_empty()) {
        return Ok(shown
            .into_iter()
            .map(|violation| (violation.field, violation.description))
            .collect());
    }
    let mut all = Vec::new();
    let mut page = ValidationPage {
        page_size: 10_000,
        page_token: String::new(),
    };
    loop {
        let report = validate(page.clone()).await?;
        all.extend(
            report
                .violations
                .into_iter()
                .map(|violation| (violation.field, violation.description)),
        );
        if report.next_page_token.is_empty() {
            return Ok(all);
        }
        page.page_token = report.next_page_token;
    }
}

/// Field violations on `collection[i]…` put back on their lines by
/// `locate(i, rest_of_field) -> (line, field)`.
pub fn locate_violations(
    path: &str,
    violations: Vec<(String, String)>,
    collection: &str,
    locate: impl Fn(usize, &str) -> (usize, String),
) -> Failure {
    let prefix = format!("{collection}[");
    let mut problems = Vec::new();
    for (field, description) in violations {
        let located = field.strip_prefix(&prefix).and_then(|rest| {
            let (index, after) = rest.split_once(']')?;
            Some((index.parse::<usize>().ok()?, after.trim_start_matches('.')))
        });
        match located {
            Some((index, rest)) => {
                let (line, field) = locate(index, rest);
                problems.push(problem(line, field, description));
            }
            None => problems.push(problem(0, field, description)),
        }
    }
    rows_failure(path, problems)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_are_found_on_their_lines() {
        let text = "[\n  {\"a\": \"x, ]\"},\n  {\"b\": [1,\n 2]},\n\n  {}\n]";
        assert_eq!(element_lines(text), vec![2, 3, 6]);
        assert_eq!(element_lines("[{},{}]"), vec![1, 1]);
        assert_eq!(element_lines("[]"), Vec::<usize>::new());
    }
}
