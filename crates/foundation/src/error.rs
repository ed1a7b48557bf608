//! Errors of the shared mechanisms and their one mapping to gRPC status.

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
    #[error("etag mismatch for {resource}: it was changed since it was read")]
    StaleEtag { resource: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] DbErr),
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

    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Error {
        Error::from_db(err)
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        match err {
            Error::InvalidArgument(violations) => violations.into_status(),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            err @ Error::StaleEtag { .. } => Status::aborted(err.to_string()),
            Error::Peer { service, status } => match status.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
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

impl FieldViolations {
    /// One `INVALID_ARGUMENT` carrying every violation as `BadRequest` details.
    pub fn into_status(self) -> Status {
        let summary = match self.violations().first() {
            Some((field, description)) if self.len() == 1 => format!("{field}: {description}"),
            _ => format!("{} invalid fields", self.len()),
        };
        let mut details = ErrorDetails::new();
        for (field, description) in self.violations() {
            details.add_bad_request_violation(field.clone(), description.clone());
        }
        Status::with_error_details(Code::InvalidArgument, summary, details)
    }
}
