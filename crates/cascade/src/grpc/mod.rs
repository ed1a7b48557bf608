//! The gRPC faces of the cascade's services: unwrap the request, call the
//! operation, map the error. No rule lives here.

mod access;
mod alignment;
mod org;
mod rhythm;
mod webhooks;

pub use access::AccessGrpc;
pub use alignment::CascadeGrpc;
pub use org::OrgGrpc;
pub use rhythm::RhythmGrpc;
pub use webhooks::WebhookGrpc;
