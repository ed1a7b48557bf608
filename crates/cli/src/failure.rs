//! Why a command failed, how it is told on stderr, and the exit code
//! scripts can rely on (the table is in the README and in `trellis --help`).

use std::{fmt, process::ExitCode};

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Exit codes, stable for scripts.
pub mod exit {
    pub const OK: u8 = 0;
    /// The server failed, or something unexpected happened.
    pub const INTERNAL: u8 = 1;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// The server or the file said the input is invalid; nothing changed.
    pub const INVALID: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    /// Already exists, stale etag, or not allowed in the resource's state.
    pub const CONFLICT: u8 = 5;
    /// The server (or the issuer of --client-id) cannot be reached, or
    /// does not host that service.
    pub const UNAVAILABLE: u8 = 6;
    /// No token, or one the server does not accept (--token), or the
    /// issuer refused the client's credentials (--client-id).
    pub const UNAUTHENTICATED: u8 = 7;
    /// The caller may not do that.
    pub const PERMISSION_DENIED: u8 = 8;
    /// `trellis audit verify` found a broken link in a feed's hash chain,
    /// or could not read all of it.
    pub const TAMPERED: u8 = 9;
}

/// One problem in an input file, at a line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineProblem {
    pub line: usize,
    /// The field or column, when known.
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub enum Failure {
    /// A call failed; `doing` says which.
    Call { doing: String, status: Status },
    /// Rows of an input file are invalid (found before sending, or mapped
    /// back from the server's field violations).
    Rows { file: String, problems: Vec<LineProblem> },
    /// The server cannot be reached.
    Connect { server: String, reason: String },
    /// Arguments clap could not check (a malformed value, a missing file).
    Usage(String),
    /// Reading or writing a local file.
    Io { path: String, reason: String },
    /// The identity provider cannot be reached or answered something
    /// unusable, asked for a token (--client-id).
    Issuer(String),
    /// The identity provider refused --client-id and --client-secret.
    Refused(String),
    /// A feed's hash chain does not hold (`trellis audit verify`).
    Tampered(String),
}

impl Failure {
    pub fn call(doing: impl Into<String>) -> impl FnOnce(Status) -> Failure {
        let doing = doing.into();
        move |status| Failure::Call { doing, status }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Call { status, .. } => code_of(status.code()),
            Failure::Rows { .. } => exit::INVALID,
            Failure::Connect { .. } => exit::UNAVAILABLE,
            Failure::Usage(_) => exit::USAGE,
            Failure::Io { .. } => exit::INVALID,
            Failure::Issuer(_) => exit::UNAVAILABLE,
            Failure::Refused(_) => exit::UNAUTHENTICATED,
            Failure::Tampered(_) => exit::TAMPERED,
        })
    }
}

fn code_of(code: Code) -> u8 {
    match code {
        Code::Ok => exit::OK,
        Code::InvalidArgument | Code::OutOfRange => exit::INVALID,
        Code::NotFound => exit::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => exit::CONFLICT,
        Code::Unavailable | Code::DeadlineExceeded | Code::Unimplemented => exit::UNAVAILABLE,
        Code::Unauthenticated => exit::UNAUTHENTICATED,
        Code::PermissionDenied => exit::PERMISSION_DENIED,
        Code::Cancelled | Code::Unknown | Code::ResourceExhausted | Code::Internal | Code::DataLoss => exit::INTERNAL,
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Call { doing, status } => {
                write!(f, "{doing}: {} ({:?})", status.message(), status.code())?;
                if let Some(bad_request) = status.get_details_bad_request() {
                    for violation in bad_request.field_violations {
                        write!(f, "\n  {}: {}", violation.field, violation.description)?;
                    }
                }
                if status.code() == Code::Unimplemented {
                    write!(
                        f,
                        "\n  this server does not host that service; point --server at one that does"
                    )?;
                }
                Ok(())
            }
            Failure::Rows { file, problems } => {
                write!(f, "{file}: {} problem(s); nothing was imported", problems.len())?;
                for problem in problems {
                    if problem.field.is_empty() {
                        write!(f, "\n  line {}: {}", problem.line, problem.message)?;
                    } else {
                        write!(f, "\n  line {}: {}: {}", problem.line, problem.field, problem.message)?;
                    }
                }
                Ok(())
            }
            Failure::Connect { server, reason } => write!(
                f,
                "cannot reach the Trellis server at {server}: {reason}\n  is trellis-server running? set --server or TRELLIS_SERVER"
            ),
            Failure::Usage(message) => f.write_str(message),
            Failure::Io { path, reason } => write!(f, "{path}: {reason}"),
            Failure::Issuer(reason) => write!(
                f,
                "cannot get a token: {reason}\n  check --issuer (TRELLIS_OIDC_ISSUER)"
            ),
            Failure::Refused(reason) => write!(f, "no token: {reason}\n  check --client-id and --client-secret"),
            Failure::Tampered(reason) => write!(f, "audit failed: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_code_has_a_documented_exit_code() {
        assert_eq!(code_of(Code::InvalidArgument), exit::INVALID);
        assert_eq!(code_of(Code::NotFound), exit::NOT_FOUND);
        assert_eq!(code_of(Code::Aborted), exit::CONFLICT);
        assert_eq!(code_of(Code::FailedPrecondition), exit::CONFLICT);
        assert_eq!(code_of(Code::Unavailable), exit::UNAVAILABLE);
        assert_eq!(code_of(Code::Internal), exit::INTERNAL);
    }
}
