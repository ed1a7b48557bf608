//! What goes wrong in the okr service's own operations, each with the
//! category (and so the status code) it answers with. Errors of the shared
//! mechanisms come wrapped from trellis-foundation.

use trellis_foundation::Error as Shared;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shared(Shared),
    /// A cycle, objective, key result or re-plan that does not exist.
    #[error("{name} not found")]
    NotFound { name: String },
    #[error("{name} already exists")]
    Exists { name: String },
    /// What the request asks is not allowed in the state its cycle or
    /// objective is in; `reason` says which state and what it allows.
    #[error("{name}: {reason}")]
    WrongState { name: String, reason: String },
    #[error("{name} is {state}: a cycle's details change only while it is PLANNING")]
    CycleNotPlanning { name: String, state: &'static str },
    #[error("{name} is {state}: remedial objectives are created while a cycle is PLANNING or ACTIVE")]
    NoRemedialInCycle { name: String, state: &'static str },
    #[error("{name} is {state}: only an ACTIVE or PAUSED objective is re-planned")]
    NotReplannable { name: String, state: &'static str },
    #[error("{name} already has {limit} key results, the most an objective has")]
    TooManyKeyResults { name: String, limit: usize },
    /// A change of structure after the cycle was activated.
    #[error("{name} is locked since its cycle was activated: {} {remedy}", fields.join(", "))]
    Locked {
        name: String,
        fields: Vec<&'static str>,
        remedy: &'static str,
    },
    #[error("{child} aligns to {name}: re-align it first")]
    AlignedTo { child: String, name: String },
    #[error("{name} is linked to {metric}: its value comes from the metric's measurements")]
    FedByMetric { name: String, metric: String },
    #[error("{name} is not linked to {metric}")]
    NotLinked { name: String, metric: String },
    /// An objective whose state takes no values now; `why` says which.
    #[error("{name} is {state}: {why}")]
    NotRecording {
        name: String,
        state: &'static str,
        why: &'static str,
    },
    #[error("the import stream broke off ({reason}); nothing was written")]
    StreamBroken { reason: String },
    /// The group-commit writer is gone: the server is shutting down.
    #[error("the check-in writer has stopped (the server is shutting down)")]
    WriterStopped,
    #[error("stored {what}: {source}")]
    Undecodable {
        what: &'static str,
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
            err @ (Error::WrongState { .. }
            | Error::CycleNotPlanning { .. }
            | Error::NoRemedialInCycle { .. }
            | Error::NotReplannable { .. }
            | Error::TooManyKeyResults { .. }
            | Error::Locked { .. }
            | Error::AlignedTo { .. }
            | Error::FedByMetric { .. }
            | Error::NotLinked { .. }
            | Error::NotRecording { .. }
            | Error::StreamBroken { .. }) => Shared::FailedPrecondition(err.to_string()),
            err @ Error::WriterStopped => Shared::Unavailable(err.to_string()),
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
                    name: "objectives/o".into(),
                },
                Code::NotFound,
            ),
            (
                Error::Exists {
                    name: "objectives/o".into(),
                },
                Code::AlreadyExists,
            ),
            (
                Error::Locked {
                    name: "objectives/o".into(),
                    fields: vec!["owner", "kind"],
                    remedy: "no longer change",
                },
                Code::FailedPrecondition,
            ),
            (Error::WriterStopped, Code::Unavailable),
            (Error::Corrupt("secret row detail".into()), Code::Internal),
            (
                Shared::ResourceExhausted("too many".into()).into(),
                Code::ResourceExhausted,
            ),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(!status.message().contains("secret"), "{}", status.message());
        }
        let status = Status::from(Error::Locked {
            name: "objectives/o".into(),
            fields: vec!["owner", "kind"],
            remedy: "no longer change",
        });
        assert_eq!(
            status.message(),
            "objectives/o is locked since its cycle was activated: owner, kind no longer change"
        );
    }
}
