//! Errors of the shared mechanisms (storage, validation, etags, limits,
//! peers) and their one mapping to gRPC status. Each service crate has an
//! error enum of its own for what goes wrong in its operations, mapped
//! variant by variant onto these categories; the mapping to a status, and
//! the one log line for an internal error, happen here.

use sea_orm::{DbErr, SqlErr};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::validation::FieldViolations;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument")]
    InvalidArgument(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit of the server's was reached; the message says which.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A part of the server the request needs is not running (a background
    /// writer stopped, the server shutting down): worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// The verified caller may not do this; the message says what it lacks.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("etag mismatch for {resource}: it was changed since it was read")]
    StaleEtag { resource: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] DbErr),
    /// The request was refused before it was decoded (a malformed or
    /// oversized message in a stream); its status goes back as it is.
    #[error("{}", .0.message())]
    Refused(Status),
    /// A call to another Trellis service failed.
    #[error("calling {service}: {}", status.message())]
    Peer { service: &'static str, status: Status },
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Error {
        let mut violations = FieldViolations::default();
        violations.add(field, description);
        Error::InvalidArgument(violations)
    }

    /// Database errors with a meaning of their own become that error; the
    /// rest stay `Database` (an internal error).
    pub fn from_db(err: DbErr) -> Error {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Error::AlreadyExists("a resource with that name already exists".to_owned())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Error::FailedPrecondition("a referenced resource does not exist".to_owned())
            }
            _ => Error::Database(err),
        }
    }

    /// Turns a failed call to the `service` peer into an error.
    pub fn peer(service: &'static str) -> impl Fn(Status) -> Error {
        move |status| Error::Peer { service, status }
    }

    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Error {
        Error::from_db(err)
    }
}

impl From<FieldViolations> for Error {
    fn from(violations: FieldViolations) -> Error {
        Error::InvalidArgument(violations)
    }
}

/// The conversions every service crate's error enum has: it wraps the
/// shared errors (variant `Shared`, and so database errors and field
/// violations) and answers as a status through its mapping onto the
/// shared categories (`impl From<$error> for trellis_foundation::Error`).
#[macro_export]
macro_rules! service_error {
    ($error:ident) => {
        impl From<$crate::Error> for $error {
            fn from(err: $crate::Error) -> $error {
                $error::Shared(err)
            }
        }

        impl From<sea_orm::DbErr> for $error {
            fn from(err: sea_orm::DbErr) -> $error {
                $error::Shared(err.into())
            }
        }

        impl From<$crate::FieldViolations> for $error {
            fn from(violations: $crate::FieldViolations) -> $error {
                $error::Shared(violations.into())
            }
        }

        impl $crate::validation::MayBeViolations for $error {
            fn into_violations(self) -> Result<$crate::FieldViolations, $error> {
                match self {
                    $error::Shared(shared) => shared.into_violations().map_err($error::Shared),
                    other => Err(other),
                }
            }
        }

        impl From<$error> for tonic::Status {
            fn from(err: $error) -> tonic::Status {
                $crate::Error::from(err).into()
            }
        }

        #[allow(dead_code)]
        impl $error {
            /// One field violation.
            pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> $error {
                $error::Shared($crate::Error::invalid(field, description))
            }

            /// Turns a failed call to the `service` peer into an error.
            pub fn peer(service: &'static str) -> impl Fn(tonic::Status) -> $error {
                move |status| $error::Shared($crate::Error::Peer { service, status })
            }

            /// `resource` changed since the caller read it.
            pub fn stale(resource: impl Into<String>) -> $error {
                $error::Shared($crate::Error::StaleEtag {
                    resource: resource.into(),
                })
            }
        }
    };
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        match err {
            Error::InvalidArgument(violations) => violations.into_status(),
            Error::NotFound(what) => Status::not_found(format!("{} not found", for_message(&what))),
            Error::AlreadyExists(message) => Status::already_exists(for_message(&message)),
            Error::FailedPrecondition(message) => Status::failed_precondition(for_message(&message)),
            Error::ResourceExhausted(message) => Status::resource_exhausted(for_message(&message)),
            Error::Unavailable(message) => {
                tracing::warn!(error = %message, "unavailable");
                Status::unavailable(for_message(&message))
            }
            Error::PermissionDenied(message) => Status::permission_denied(for_message(&message)),
            err @ Error::StaleEtag { .. } => Status::aborted(err.to_string()),
            Error::Refused(status) => status,
            Error::Peer { service, status } => match status.code() {
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::ResourceExhausted
                | Code::PermissionDenied
                | Code::Unauthenticated => {
                    tracing::warn!(service, error = %status.message(), "peer call failed");
                    Status::new(status.code(), format!("{service} service: {}", status.message()))
                }
                _ => {
                    tracing::error!(service, code = ?status.code(), error = %status.message(), "peer call failed");
                    Status::internal(format!("{service} service call failed"))
                }
            },
            err @ (Error::Config(_) | Error::Corrupt(_) | Error::Database(_)) => {
                tracing::error!(error = %error_chain(&err), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The error with its sources, for a log line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The most bytes of `BadRequest` details an error carries. The details
/// ride base64-encoded in the `grpc-status-details-bin` trailer, and common
/// clients refuse trailers past 8–16 KiB (and with them every detail), so
/// the encoded details stay well under that.
pub const MAX_DETAIL_BYTES: usize = 6_000;
/// The longest field path or description echoed in a violation, in characters.
const MAX_VIOLATION_CHARS: usize = 200;
/// The longest error message, in characters.
const MAX_MESSAGE_CHARS: usize = 1_000;

impl FieldViolations {
    /// One `INVALID_ARGUMENT` carrying the violations as `BadRequest`
    /// details: every one that fits in [`MAX_DETAIL_BYTES`], each echoed
    /// value cut short, and when some do not fit, a last violation (field
    /// `""`) saying how many are left out. The message states the total.
    pub fn into_status(self) -> Status {
        let total = self.len();
        let summary = match self.violations().first() {
            Some((field, description)) if total == 1 => {
                format!(
                    "{}: {}",
                    echo(field, MAX_VIOLATION_CHARS),
                    echo(description, MAX_VIOLATION_CHARS)
                )
            }
            _ => format!("{total} invalid fields"),
        };
        let mut details = ErrorDetails::new();
        let mut used = 0;
        let mut shown = 0;
        for (field, description) in self.violations() {
            let field = echo(field, MAX_VIOLATION_CHARS);
            let description = echo(description, MAX_VIOLATION_CHARS);
            // A field violation's encoding: two length-prefixed strings and
            // the message's own tag and length.
            let cost = field.len() + description.len() + 8;
            if used + cost > MAX_DETAIL_BYTES - 200 {
                break;
            }
            used += cost;
            shown += 1;
            details.add_bad_request_violation(field, description);
        }
        if shown < total {
            details.add_bad_request_violation(
                "",
                format!(
                    "{} more of {total} violations left out; validate_only (where offered) answers with all of them",
                    total - shown
                ),
            );
        }
        Status::with_error_details(Code::InvalidArgument, summary, details)
    }
}

/// `text` as an error message may carry it: control characters escaped and
/// cut short, so a client's huge or binary input never comes back whole.
pub fn for_message(text: &str) -> String {
    echo(text, MAX_MESSAGE_CHARS)
}

fn echo(text: &str, max_chars: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(max_chars + 8));
    for (index, c) in text.chars().enumerate() {
        if index == max_chars {
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn huge_violation_lists_and_echoes_stay_under_the_trailer_budget() {
        let mut violations = FieldViolations::default();
        // One echo of a megabyte, then many of a few kilobytes.
        violations.add("rows[0].parent", "x".repeat(1 << 20));
        for row in 1..10_000 {
            violations.add(format!("rows[{row}].parent"), "x".repeat(4_096));
        }
        let status = violations.into_status();
        assert_eq!(status.message(), "10000 invalid fields");
        assert!(status.details().len() <= MAX_DETAIL_BYTES, "{}", status.details().len());
        let bad_request = status.get_details_bad_request().map(|request| request.field_violations);
        let shown = bad_request.unwrap_or_default();
        assert!(shown.len() > 5);
        let last = shown
            .last()
            .map(|violation| violation.description.clone())
            .unwrap_or_default();
        assert!(last.contains("of 10000 violations left out"), "{last}");
        assert!(tonic_types::pb::Status::decode(status.details()).is_ok());
    }

    #[test]
    fn limits_and_unavailable_parts_map_to_their_codes() {
        let codes: Vec<Code> = [
            Error::ResourceExhausted("too many".into()),
            Error::Unavailable("the writer has stopped".into()),
            Error::Refused(Status::resource_exhausted("too large")),
        ]
        .into_iter()
        .map(|err| Status::from(err).code())
        .collect();
        assert_eq!(
            codes,
            vec![Code::ResourceExhausted, Code::Unavailable, Code::ResourceExhausted]
        );
    }

    #[test]
    fn echoed_text_is_escaped_and_cut() {
        assert_eq!(for_message("a\u{0}b\nc"), "a\\u{0}b\\nc");
        assert_eq!(for_message(&"y".repeat(5_000)).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
