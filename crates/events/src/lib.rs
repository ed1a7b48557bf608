//! Events out: each service's change feed relayed to NATS JetStream as
//! CloudEvents (`relay.rs`, `cloud_event.rs`), the relay's progress and
//! claim kept in the service's database (`store.rs`), and the signatures
//! of outbound webhooks (`signature.rs`; the cascade delivers them).

mod cloud_event;
mod relay;
pub mod signature;
mod store;

pub use cloud_event::Envelope;
pub use relay::{BATCH as RELAY_BATCH, RELAY_NAME, RelaySettings, Relays};
pub use store::{RelayRow, relayed_up_to};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("encoding an event: {0}")]
    Encode(String),
    #[error(transparent)]
    Store(#[from] trellis_foundation::Error),
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Error {
        Error::Store(err.into())
    }
}
