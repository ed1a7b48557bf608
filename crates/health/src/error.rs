//! What goes wrong in the health service's own operations, each with the
//! category (and so the status code) it answers with. Errors of the shared
//! mechanisms come wrapped from trellis-foundation.

use trellis_foundation::Error as Shared;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shared(Shared),
    #[error("{name} not found")]
    MetricNotFound { name: String },
    /// Names a batch asked for that do not exist.
    #[error("{} not found", names.join(", "))]
    MetricsNotFound { names: Vec<String> },
    #[error("{name} already exists")]
    MetricExists { name: String },
    #[error("{name} has an open escalation ({stage}); it can be deleted once it is GREEN again and its steps are done")]
    OpenEscalation { name: String, stage: &'static str },
    /// A remedial objective needs an ACTIVE cycle above the metric's owner.
    #[error("no ACTIVE cycle is open for {owner} or a unit above it, so the remedial objective waits for one")]
    NoActiveCycle { owner: String },
    #[error("{name}: undecodable snapshot: {source}")]
    Undecodable {
        name: String,
        #[source]
        source: prost::DecodeError,
    },
    /// A stored row the service cannot make sense of.
    #[error("{0}")]
    Corrupt(String),
}

trellis_foundation::service_error!(Error);

impl From<Error> for Shared {
    fn from(err: Error) -> Shared {
        match err {
            Error::Shared(err) => err,
            Error::MetricNotFound { name } => Shared::NotFound(name),
            Error::MetricsNotFound { names } => Shared::NotFound(names.join(", ")),
            err @ Error::MetricExists { .. } => Shared::AlreadyExists(err.to_string()),
            err @ (Error::OpenEscalation { .. } | Error::NoActiveCycle { .. }) => {
                Shared::FailedPrecondition(err.to_string())
            }
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
                Error::MetricNotFound {
                    name: "healthMetrics/m".into(),
                },
                Code::NotFound,
            ),
            (
                Error::MetricsNotFound {
                    names: vec!["healthMetrics/a".into()],
                },
                Code::NotFound,
            ),
            (
                Error::MetricExists {
                    name: "healthMetrics/m".into(),
                },
                Code::AlreadyExists,
            ),
            (
                Error::OpenEscalation {
                    name: "healthMetrics/m".into(),
                    stage: "ESCALATED",
                },
                Code::FailedPrecondition,
            ),
            (
                Error::NoActiveCycle {
                    owner: "orgUnits/x".into(),
                },
                Code::FailedPrecondition,
            ),
            (Error::Corrupt("secret row detail".into()), Code::Internal),
            (Shared::Unavailable("stopping".into()).into(), Code::Unavailable),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(!status.message().contains("secret"), "{}", status.message());
        }
        let status = Status::from(Error::MetricNotFound {
            name: "healthMetrics/m".into(),
        });
        assert_eq!(status.message(), "healthMetrics/m not found");
    }
}
