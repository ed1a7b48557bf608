//! Bad input on every RPC of every service, built from the descriptors so
//! no method is left out: empty requests, NUL and other control characters
//! in every string, oversized strings, extreme numbers and times, and
//! filters far past their limits. Each answer has an expected code (never
//! INTERNAL or UNKNOWN for a client's mistake), and the server answers a
//! health check after each method.

use std::time::Duration;

use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, ReflectMessage, Value,
};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::HealthCheckRequest;
use trellis_tests::{TestApp, backend_tests};

use crate::raw::{raw_client_stream, raw_first_of_stream, raw_unary};

backend_tests!(every_rpc_answers_bad_input_with_a_client_error);

/// How the fields of a request are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Nothing set: every field at its default.
    Empty,
    /// Every string holds NUL.
    Nul,
    /// Every string holds an escape sequence (ESC).
    Control,
    /// Every string is 200,000 characters long.
    Oversized,
    /// Every number at an extreme, every time far out of range.
    Extreme,
    /// Every string a filter of 5,000 terms.
    LongFilter,
}

const FILLS: [Fill; 6] = [
    Fill::Empty,
    Fill::Nul,
    Fill::Control,
    Fill::Oversized,
    Fill::Extreme,
    Fill::LongFilter,
];

fn string_for(fill: Fill) -> String {
    match fill {
        Fill::Empty => String::new(),
        Fill::Nul => "orgUnits/a\u{0}b".to_owned(),
        Fill::Control => "\u{1b}[31mred".to_owned(),
        Fill::Oversized => "z".repeat(200_000),
        Fill::Extreme => "orgUnits/acme".to_owned(),
        Fill::LongFilter => vec!["state = ACTIVE"; 5_000].join(" OR "),
    }
}

/// A value of `field` for `fill`, nesting messages two levels deep.
fn value_for(field: &FieldDescriptor, fill: Fill, depth: usize) -> Option<Value> {
    let single = match field.kind() {
        Kind::String => Value::String(string_for(fill)),
        Kind::Bytes => return None,
        Kind::Message(message) if message.full_name() == "google.protobuf.Timestamp" => {
            let mut timestamp = DynamicMessage::new(message.clone());
            if fill == Fill::Extreme {
                set(&mut timestamp, "seconds", Value::I64(1 << 62));
                set(&mut timestamp, "nanos", Value::I32(i32::MAX));
            }
            Value::Message(timestamp)
        }
        Kind::Message(message) if depth < 2 && !field.is_map() => Value::Message(filled(&message, fill, depth + 1)),
        Kind::Message(_) => return None,
        _ if fill != Fill::Extreme => return None,
        Kind::Double => Value::F64(f64::NAN),
        Kind::Float => Value::F32(f32::INFINITY),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i32::MIN),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64::MAX),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::MAX),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::MAX),
        Kind::Bool => Value::Bool(true),
        Kind::Enum(_) => Value::EnumNumber(i32::MAX),
    };
    Some(if field.is_list() {
        Value::List(vec![single])
    } else {
        single
    })
}

fn set(message: &mut DynamicMessage, name: &str, value: Value) {
    if let Some(field) = message.descriptor().get_field_by_name(name) {
        message.set_field(&field, value);
    }
}

fn filled(descriptor: &MessageDescriptor, fill: Fill, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if fill == Fill::Empty {
        return message;
    }
    for field in descriptor.fields() {
        if let Some(value) = value_for(&field, fill, depth) {
            message.set_field(&field, value);
        }
    }
    message
}

fn holds_a_string(descriptor: &MessageDescriptor, depth: usize) -> bool {
    descriptor.fields().any(|field| match field.kind() {
        Kind::String => true,
        Kind::Message(message)
            if depth < 2 && !field.is_map() && message.full_name() != "google.protobuf.Timestamp" =>
        {
            holds_a_string(&message, depth + 1)
        }
        _ => false,
    })
}

/// Codes a client's mistake may get; a server fault never.
fn acceptable(code: Code) -> bool {
    !matches!(
        code,
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable | Code::Unimplemented
    )
}

pub(crate) async fn call(channel: Channel, method: &MethodDescriptor, body: Vec<u8>) -> Result<(), Status> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (true, _) => raw_client_stream(channel, &path, body).await.map(|_| ()),
        (false, true) => raw_first_of_stream(channel, &path, body, Duration::from_millis(200))
            .await
            .map(|_| ()),
        (false, false) => raw_unary(channel, &path, body).await.map(|_| ()),
    }
}

async fn every_rpc_answers_bad_input_with_a_client_error(app: TestApp) -> anyhow::Result<()> {
    crate::support::load_org(&app).await?;
    let pool = DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET)?;
    let channel = app.channel().await?;
    let mut faults = Vec::new();
    let mut calls = 0;
    for service in pool.services() {
        for method in service.methods() {
            let input = method.input();
            for fill in FILLS {
                let body = filled(&input, fill, 0).encode_to_vec();
                let outcome = call(channel.clone(), &method, body).await;
                calls += 1;
                let code = outcome.as_ref().err().map_or(Code::Ok, Status::code);
                let expected_invalid = matches!(fill, Fill::Nul | Fill::Control) && holds_a_string(&input, 0);
                let fine = if expected_invalid {
                    code == Code::InvalidArgument
                } else {
                    acceptable(code)
                };
                if !fine {
                    let message = outcome
                        .err()
                        .map(|status| status.message().chars().take(200).collect::<String>());
                    faults.push(format!(
                        "{}/{} with {fill:?}: {code:?} {message:?}",
                        service.name(),
                        method.name()
                    ));
                }
            }
            let mut health = app.health.clone();
            health
                .check(HealthCheckRequest { service: String::new() })
                .await
                .map_err(|status| anyhow::anyhow!("after {}: health check failed: {status}", method.name()))?;
        }
    }
    assert!(calls >= 85 * FILLS.len(), "{calls} calls");
    assert!(faults.is_empty(), "{} faults:\n{}", faults.len(), faults.join("\n"));
    Ok(())
}
