//! Checks a request message's protobuf encoding against its descriptor
//! before prost decodes it: a malformed encoding (truncated, a wire type
//! its field does not have, invalid UTF-8, nesting too deep) and a string
//! holding a control character are refused as the client's mistake, with
//! the field path, instead of surfacing as INTERNAL or reaching storage
//! (PostgreSQL refuses NUL in text; SQLite would store it).
//!
//! One pass over the bytes with an explicit stack, so the walk's own depth
//! never follows the input's.

use prost_reflect::{Kind, MessageDescriptor};

/// The deepest message nesting accepted (Trellis's own messages nest a
/// handful of levels; prost itself stops at 100).
pub const MAX_NESTING: usize = 32;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireProblem {
    /// The bytes are not a valid encoding of the message.
    Malformed { field: String, reason: &'static str },
    /// A string holds a control character other than tab, line feed or
    /// carriage return.
    ControlCharacter { field: String },
}

impl std::fmt::Display for WireProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireProblem::Malformed { field, reason } if field.is_empty() => {
                write!(formatter, "malformed request message: {reason}")
            }
            WireProblem::Malformed { field, reason } => {
                write!(formatter, "malformed request message at {field}: {reason}")
            }
            WireProblem::ControlCharacter { field } => write!(
                formatter,
                "{field}: must not contain control characters (NUL and the like); tab and line breaks are allowed"
            ),
        }
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One message being walked: its descriptor, the unread rest of its bytes
/// (as an end offset into the whole buffer), and the field that holds it.
struct Frame {
    descriptor: MessageDescriptor,
    end: usize,
    field: Option<String>,
}

/// Walks `bytes` as an encoding of `descriptor`.
pub fn check_message(descriptor: &MessageDescriptor, bytes: &[u8]) -> Result<(), WireProblem> {
    let mut stack = vec![Frame {
        descriptor: descriptor.clone(),
        end: bytes.len(),
        field: None,
    }];
    let mut position = 0;
    while let Some(frame) = stack.last() {
        if position == frame.end {
            stack.pop();
            continue;
        }
        let malformed = |reason| WireProblem::Malformed {
            field: path(&stack, None),
            reason,
        };
        let key = read_varint(bytes, &mut position, frame.end).ok_or_else(|| malformed("truncated field key"))?;
        let wire_type = (key & 7) as u8;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|number| (1..1 << 29).contains(number));
        let Some(number) = number else {
            return Err(malformed("invalid field number"));
        };
        let field = frame.descriptor.get_field(number);
        let field_path = || path(&stack, field.as_ref().map(|field| field.name()));
        let malformed_field = |reason| WireProblem::Malformed {
            field: field_path(),
            reason,
        };
        let expected = field.as_ref().map(|field| (field.kind(), field.is_list()));
        match wire_type {
            VARINT | FIXED64 | FIXED32 => {
                if let Some((kind, _)) = &expected
                    && scalar_wire_type(kind) != Some(wire_type)
                {
                    return Err(malformed_field("wrong wire type for the field"));
                }
                let frame_end = frame.end;
                let skipped = match wire_type {
                    VARINT => read_varint(bytes, &mut position, frame_end).is_some(),
                    FIXED64 => advance(&mut position, 8, frame_end),
                    _ => advance(&mut position, 4, frame_end),
                };
                if !skipped {
                    return Err(malformed_field("truncated value"));
                }
            }
            LEN => {
                let frame_end = frame.end;
                let length = read_varint(bytes, &mut position, frame_end)
                    .and_then(|length| usize::try_from(length).ok())
                    .ok_or_else(|| malformed_field("truncated length"))?;
                let start = position;
                if !advance(&mut position, length, frame_end) {
                    return Err(malformed_field("length runs past the end of the message"));
                }
                let value = &bytes[start..position];
                match expected {
                    None | Some((Kind::Bytes, _)) => {}
                    Some((Kind::String, _)) => {
                        let Ok(text) = std::str::from_utf8(value) else {
                            return Err(malformed_field("string is not valid UTF-8"));
                        };
                        if text.chars().any(is_refused_control) {
                            return Err(WireProblem::ControlCharacter { field: field_path() });
                        }
                    }
                    Some((Kind::Message(descriptor), _)) => {
                        if stack.len() >= MAX_NESTING {
                            return Err(malformed_field("messages nested too deep"));
                        }
                        let name = field.as_ref().map(|field| field.name().to_owned());
                        position = start;
                        stack.push(Frame {
                            descriptor,
                            end: start + length,
                            field: name,
                        });
                    }
                    Some((kind, true)) => {
                        if !packed_values_fit(&kind, value) {
                            return Err(malformed_field("malformed packed values"));
                        }
                    }
                    Some((_, false)) => return Err(malformed_field("wrong wire type for the field")),
                }
            }
            _ => return Err(malformed_field("unsupported wire type (groups are not accepted)")),
        }
    }
    Ok(())
}

fn is_refused_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The dotted path of fields from the top message down to `leaf`.
fn path(stack: &[Frame], leaf: Option<&str>) -> String {
    let mut names: Vec<&str> = stack.iter().filter_map(|frame| frame.field.as_deref()).collect();
    names.extend(leaf);
    names.join(".")
}

/// The wire type a non-length-delimited value of `kind` has.
fn scalar_wire_type(kind: &Kind) -> Option<u8> {
    match kind {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Sint32 | Kind::Sint64 | Kind::Bool => {
            Some(VARINT)
        }
        Kind::Enum(_) => Some(VARINT),
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => Some(FIXED64),
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => Some(FIXED32),
        Kind::String | Kind::Bytes | Kind::Message(_) => None,
    }
}

fn packed_values_fit(kind: &Kind, value: &[u8]) -> bool {
    match scalar_wire_type(kind) {
        Some(FIXED64) => value.len().is_multiple_of(8),
        Some(FIXED32) => value.len().is_multiple_of(4),
        Some(_) => {
            let mut position = 0;
            while position < value.len() {
                if read_varint(value, &mut position, value.len()).is_none() {
                    return false;
                }
            }
            true
        }
        None => false,
    }
}

fn advance(position: &mut usize, length: usize, end: usize) -> bool {
    match position.checked_add(length) {
        Some(next) if next <= end => {
            *position = next;
            true
        }
        _ => false,
    }
}

/// A base-128 varint of at most ten bytes, as prost reads one.
fn read_varint(bytes: &[u8], position: &mut usize, end: usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in 0..10 {
        if *position >= end {
            return None;
        }
        let byte = bytes[*position];
        *position += 1;
        if shift == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (shift * 7);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;
    use prost_reflect::DescriptorPool;
    use trellis_proto::okr::v1::{CreateObjectiveRequest, KeyResult, Objective};

    use super::*;

    fn descriptor(name: &str) -> MessageDescriptor {
        let pool = DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET).ok();
        let descriptor = pool.and_then(|pool| pool.get_message_by_name(name));
        descriptor.unwrap_or_else(|| panic!("no descriptor for {name}"))
    }

    fn request(title: &str, key_result_title: &str) -> CreateObjectiveRequest {
        CreateObjectiveRequest {
            objective_id: "grow".into(),
            objective: Some(Objective {
                title: title.into(),
                ..Objective::default()
            }),
            key_results: vec![KeyResult {
                title: key_result_title.into(),
                ..KeyResult::default()
            }],
            ..CreateObjectiveRequest::default()
        }
    }

    #[test]
    fn valid_messages_pass_and_control_characters_are_named_by_field() {
        let create = descriptor("trellis.okr.v1.CreateObjectiveRequest");
        let good = request("Grow\tEMEA\r\n", "ARR");
        assert_eq!(check_message(&create, &good.encode_to_vec()), Ok(()));
        let nul = request("Grow", "A\u{0}RR");
        assert_eq!(
            check_message(&create, &nul.encode_to_vec()),
            Err(WireProblem::ControlCharacter {
                field: "key_results.title".into()
            })
        );
        let bell = request("G\u{7}row", "ARR");
        assert!(matches!(
            check_message(&create, &bell.encode_to_vec()),
            Err(WireProblem::ControlCharacter { field }) if field == "objective.title"
        ));
    }

    #[test]
    fn truncated_wrongly_typed_and_invalid_utf8_encodings_are_malformed() {
        let create = descriptor("trellis.okr.v1.CreateObjectiveRequest");
        let bytes = request("Grow", "ARR").encode_to_vec();
        let truncated = &bytes[..bytes.len() - 1];
        assert!(matches!(
            check_message(&create, truncated),
            Err(WireProblem::Malformed { .. })
        ));
        // Field 1 (objective, a message) sent as a varint.
        assert!(matches!(
            check_message(&create, &[0x08, 0x01]),
            Err(WireProblem::Malformed { .. })
        ));
        // Field 3 (objective_id, a string) of invalid UTF-8.
        assert!(matches!(
            check_message(&create, &[0x1a, 0x02, 0xff, 0xfe]),
            Err(WireProblem::Malformed {
                reason: "string is not valid UTF-8",
                ..
            })
        ));
        // A group start.
        assert!(matches!(
            check_message(&create, &[0x0b]),
            Err(WireProblem::Malformed { .. })
        ));
        // Field number 0.
        assert!(matches!(
            check_message(&create, &[0x02, 0x00]),
            Err(WireProblem::Malformed { .. })
        ));
    }

    proptest! {
        /// Whatever the bytes, the walk ends without a panic, and whatever
        /// it accepts prost decodes.
        #[test]
        fn any_bytes_are_refused_or_decode(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let create = descriptor("trellis.okr.v1.CreateObjectiveRequest");
            if check_message(&create, &bytes).is_ok() {
                prop_assert!(CreateObjectiveRequest::decode(bytes.as_slice()).is_ok());
            }
        }

        /// Any message prost encodes passes unless one of its strings holds
        /// a refused control character.
        #[test]
        fn encoded_messages_pass_unless_a_string_holds_a_control(title in "\\PC{0,20}", key_result in ".{0,20}") {
            let create = descriptor("trellis.okr.v1.CreateObjectiveRequest");
            let result = check_message(&create, &request(&title, &key_result).encode_to_vec());
            let has_control = format!("{title}{key_result}").chars().any(is_refused_control);
            prop_assert_eq!(result.is_err(), has_control);
        }
    }
}
