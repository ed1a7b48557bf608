//! What goes wrong in the cascade service's own operations (the org tree
//! and the alignment questions), each with the category (and so the status
//! code) it answers with. Errors of the shared mechanisms come wrapped from
//! trellis-foundation.

use trellis_foundation::Error as Shared;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shared(Shared),
    /// An org unit, or an object the projection does not hold.
    #[error("{name} not found")]
    NotFound { name: String },
    /// Names a batch asked for that do not exist.
    #[error("{} not found", names.join(", "))]
    NamesNotFound { names: Vec<String> },
    #[error("{name} already exists")]
    Exists { name: String },
    #[error("{name} still has child units; move or delete them first")]
    HasChildren { name: String },
    #[error("cannot move {name} under {new_parent}: it is the unit itself or below it, which would make a cycle")]
    MoveIntoItself { name: String, new_parent: String },
    #[error("{cycle} names no org unit yet: pass org_unit")]
    CycleWithoutUnit { cycle: String },
    #[error(
        "the answer would be {bytes} bytes, over the server's message limit of {limit}: send the units in smaller batches"
    )]
    AnswerTooLarge { bytes: usize, limit: usize },
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
            Error::NamesNotFound { names } => Shared::NotFound(names.join(", ")),
            err @ Error::Exists { .. } => Shared::AlreadyExists(err.to_string()),
            err @ (Error::HasChildren { .. } | Error::MoveIntoItself { .. } | Error::CycleWithoutUnit { .. }) => {
                Shared::FailedPrecondition(err.to_string())
            }
            err @ Error::AnswerTooLarge { .. } => Shared::ResourceExhausted(err.to_string()),
            Error::Corrupt(detail) => Shared::Corrupt(detail),
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
                    name: "orgUnits/x".into(),
                },
                Code::NotFound,
            ),
            (
                Error::NamesNotFound {
                    names: vec!["orgUnits/a".into(), "orgUnits/b".into()],
                },
                Code::NotFound,
            ),
            (
                Error::Exists {
                    name: "orgUnits/x".into(),
                },
                Code::AlreadyExists,
            ),
            (
                Error::HasChildren {
                    name: "orgUnits/x".into(),
                },
                Code::FailedPrecondition,
            ),
            (Error::AnswerTooLarge { bytes: 10, limit: 5 }, Code::ResourceExhausted),
            (Error::Corrupt("secret row detail".into()), Code::Internal),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(!status.message().contains("secret"), "{}", status.message());
        }
        let status = Status::from(Error::NamesNotFound {
            names: vec!["orgUnits/a".into(), "orgUnits/b".into()],
        });
        assert_eq!(status.message(), "orgUnits/a, orgUnits/b not found");
    }
}
