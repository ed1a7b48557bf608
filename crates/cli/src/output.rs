//! Printing answers: human tables by default, or with `--output json` the
//! proto3 JSON mapping (as grpcurl and HTTP gateways print it), taken from
//! the same descriptor set the server offers for reflection.

use std::sync::OnceLock;

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;

use crate::failure::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A column of a table: its header and the camelCase JSON path of its
/// value ("node.name"; a list is joined with commas).
pub type Column = (&'static str, &'static str);

/// Longest cell of a table before it is cut; JSON is never cut.
const CELL_WIDTH: usize = 60;

fn descriptor(full_name: &str) -> Result<MessageDescriptor, Failure> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    let pool = POOL
        .get_or_init(|| DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET).map_err(|err| err.to_string()))
        .as_ref()
        .map_err(|err| Failure::Usage(format!("the built-in API descriptors are unreadable: {err}")))?;
    pool.get_message_by_name(full_name)
        .ok_or_else(|| Failure::Usage(format!("no message {full_name} in the API descriptors")))
}

/// `message` in proto3 JSON; `with_defaults` keeps zero values, which
/// tables need and JSON output leaves out.
pub fn to_json<M: Message + Name>(message: &M, with_defaults: bool) -> Result<Value, Failure> {
    let full_name = M::full_name();
    let dynamic = DynamicMessage::decode(descriptor(&full_name)?, message.encode_to_vec().as_slice())
        .map_err(|err| Failure::Usage(format!("cannot read a {full_name}: {err}")))?;
    let options = SerializeOptions::new()
        .skip_default_fields(!with_defaults)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|err| Failure::Usage(format!("cannot print a {full_name}: {err}")))
}

/// Parses proto3 JSON (camelCase or proto field names) into a message;
/// unknown fields are refused, so a typo does not pass silently.
pub fn from_json<M: Message + Name + Default>(value: &Value) -> Result<M, String> {
    let dynamic = DynamicMessage::deserialize_with_options(
        descriptor(&M::full_name()).map_err(|err| err.to_string())?,
        value,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|err| err.to_string())?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|err| err.to_string())
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: Format,
}

impl Printer {
    /// One resource: `field  value` lines, or its JSON.
    pub fn one<M: Message + Name>(&self, message: &M, fields: &[Column]) -> Result<(), Failure> {
        if self.format == Format::Json {
            return print_json(&to_json(message, false)?);
        }
        let value = to_json(message, true)?;
        let width = fields.iter().map(|(header, _)| header.len()).max().unwrap_or(0);
        for (header, path) in fields {
            println!("{header:<width$}  {}", text(lookup(&value, path).as_ref()));
        }
        Ok(())
    }

    /// A list response: a table of `items` (a repeated field of the
    /// response) with the next page's token after it, or the whole
    /// response as JSON.
    pub fn list<M: Message + Name>(&self, response: &M, items: &str, columns: &[Column]) -> Result<(), Failure> {
        if self.format == Format::Json {
            return print_json(&to_json(response, false)?);
        }
        let value = to_json(response, true)?;
        print_table(columns, &rows(&value, items, columns));
        if let Some(token) = value.get("nextPageToken").and_then(Value::as_str)
            && !token.is_empty()
        {
            eprintln!("more: --page-token {token}");
        }
        Ok(())
    }

    /// A line for people; JSON output prints the message instead.
    pub fn say(&self, line: impl AsRef<str>) {
        if self.format == Format::Table {
            println!("{}", line.as_ref());
        }
    }
}

/// The cells of the `items` array of `value` (proto3 JSON), one row each.
pub fn rows(value: &Value, items: &str, columns: &[Column]) -> Vec<Vec<String>> {
    value
        .get(items)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    columns
                        .iter()
                        .map(|(_, path)| cell(lookup(item, path).as_ref()))
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|err| Failure::Usage(format!("printing JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

pub fn print_table(columns: &[Column], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = columns.iter().map(|(header, _)| header.len()).collect();
    for row in rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|(header, _)| *header).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// The value at a dotted path; through a list, the list of each item's
/// value (`reasons.kind` of a risk is every reason's kind).
/// The value at `path` (dotted); the empty path is the value itself (an
/// item of a repeated string field).
fn lookup(value: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(value.clone());
    }
    match path.split_once('.') {
        None => value.get(path).cloned(),
        Some((key, rest)) => match value.get(key)? {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|item| lookup(item, rest)).collect(),
            )),
            inner => lookup(inner, rest),
        },
    }
}

/// A value as a table cell: [`text`], cut when long.
pub fn cell(value: Option<&Value>) -> String {
    let text = text(value);
    if text.chars().count() > CELL_WIDTH {
        let cut: String = text.chars().take(CELL_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A value for people: numbers without float noise, whole-second
/// durations in days or hours, lists joined, objects as `key=value`.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => duration_text(text).unwrap_or_else(|| text.clone()),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(float) if number.is_f64() => number_text(float),
            _ => number.to_string(),
        },
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Array(items)) => items.iter().map(|item| text(Some(item))).collect::<Vec<_>>().join(", "),
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(key, value)| format!("{key}={}", text(Some(value))))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `604800s` (proto3 JSON) as `7d`; other text is left alone.
fn duration_text(text: &str) -> Option<String> {
    let seconds: u64 = text.strip_suffix('s')?.parse().ok()?;
    Some(match seconds {
        0 => "0s".to_owned(),
        _ if seconds.is_multiple_of(86_400) => format!("{}d", seconds / 86_400),
        _ if seconds.is_multiple_of(3_600) => format!("{}h", seconds / 3_600),
        _ if seconds.is_multiple_of(60) => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
    })
}

fn number_text(value: f64) -> String {
    let text = format!("{value:.3}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() || trimmed == "-" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use trellis_proto::okr::v1::{Objective, objective};

    use super::*;

    #[test]
    fn cells_read_well() {
        assert_eq!(cell(Some(&json!(0.525))), "0.525");
        assert_eq!(cell(Some(&json!(0.76251))), "0.763");
        assert_eq!(cell(Some(&json!(2.0))), "2");
        assert_eq!(cell(Some(&json!(12))), "12");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a, b");
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some(&json!("604800s"))), "7d");
        assert_eq!(cell(Some(&json!("0.000020530s"))), "0.000020530s");
        assert_eq!(
            cell(Some(&json!({"objective": "objectives/a", "weight": 0.5}))),
            "objective=objectives/a weight=0.5"
        );
        assert_eq!(cell(Some(&json!("x".repeat(80)))).chars().count(), CELL_WIDTH);
    }

    #[test]
    fn messages_round_trip_through_proto3_json() -> Result<(), String> {
        let objective = Objective {
            name: "objectives/grow".to_owned(),
            kind: objective::Kind::Aspirational as i32,
            progress: 0.25,
            ..Objective::default()
        };
        let value = to_json(&objective, false).map_err(|err| err.to_string())?;
        assert_eq!(value["kind"], json!("ASPIRATIONAL"));
        assert_eq!(lookup(&value, "name"), Some(json!("objectives/grow")));
        let risk = json!({"reasons": [{"kind": "LOW_CONFIDENCE"}, {"kind": "STALE_KEY_RESULT"}]});
        assert_eq!(
            cell(lookup(&risk, "reasons.kind").as_ref()),
            "LOW_CONFIDENCE, STALE_KEY_RESULT"
        );
        let back: Objective = from_json(&value)?;
        assert_eq!(back, objective);
        let typo = from_json::<Objective>(&json!({"titel": "x"}));
        assert!(typo.is_err());
        Ok(())
    }
}
