//! What goes wrong in the strategy service's own operations, each with the
//! category (and so the status code) it answers with. Errors of the shared
//! mechanisms come wrapped from trellis-foundation.

use trellis_foundation::Error as Shared;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shared(Shared),
    /// A strategy, revision, choice or assumption that does not exist.
    #[error("{name} not found")]
    NotFound { name: String },
    #[error("{name} already exists")]
    Exists { name: String },
    #[error("{name} is RETIRED and can no longer change")]
    Retired { name: String },
    #[error("a strategy holds at most {limit} {collection}")]
    TooManyChildren { limit: usize, collection: &'static str },
    /// A strategy nests under what the request would remove or move.
    #[error("{nested} nests under {under}; {remedy}")]
    HasNested {
        nested: String,
        under: String,
        remedy: &'static str,
    },
    /// The parent choice changed between the check and the write.
    #[error("{parent_choice} {problem} while this request was checked; nothing was written")]
    ParentChoiceChanged {
        parent_choice: String,
        problem: &'static str,
    },
    /// A move the strategy's state does not allow.
    #[error("{0}")]
    WrongState(String),
    #[error("{name} cannot become ACTIVE yet: it needs {}", gaps.join(", "))]
    NotReady { name: String, gaps: Vec<&'static str> },
    #[error("{name} is {state}: only a DRAFT strategy can be deleted; retire it instead")]
    NotDraft { name: String, state: &'static str },
    #[error("snapshot of strategy {id}: {source}")]
    Undecodable {
        id: String,
        #[source]
        source: prost::DecodeError,
    },
    /// Stored data the service cannot make sense of.
    #[error("{0}")]
    Corrupt(String),
}

trellis_foundation::service_error!(Error);

impl From<Error> for Shared {
    fn from(err: Error) -> Shared {
        match err {
            Error::Shared(err) => err,
            Error::NotFound { name } => Shared::NotFound(name),
            err @ Error::Exists { .. } => Shared::AlreadyExists(err.to_string()),
            err @ (Error::Retired { .. }
            | Error::TooManyChildren { .. }
            | Error::HasNested { .. }
            | Error::ParentChoiceChanged { .. }
            | Error::WrongState(_)
            | Error::NotReady { .. }
            | Error::NotDraft { .. }) => Shared::FailedPrecondition(err.to_string()),
            err @ (Error::Undecodable { .. } | Error::Corrupt(_)) => {
                Shared::Corrupt(trellis_foundation::error::error_chain(&err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    #[test]
    fn each_error_answers_with_its_code_and_internals_stay_inside() {
        let cases = [
            (
                Error::NotFound {
                    name: "strategies/s".into(),
                },
                Code::NotFound,
            ),
            (
                Error::Exists {
                    name: "strategies/s".into(),
                },
                Code::AlreadyExists,
            ),
            (
                Error::Retired {
                    name: "strategies/s".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                Error::NotReady {
                    name: "strategies/s".into(),
                    gaps: vec!["a choice"],
                },
                Code::FailedPrecondition,
            ),
            (Error::Corrupt("secret row detail".into()), Code::Internal),
            (
                Shared::StaleEtag {
                    resource: "strategies/s".into(),
                }
                .into(),
                Code::Aborted,
            ),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(!status.message().contains("secret"), "{}", status.message());
        }
    }
}
