//! The gRPC faces of the cascade's two services: unwrap the request, call
//! the operation, map the error. No rule lives here.

mod alignment;
mod org;

pub use alignment::CascadeGrpc;
pub use org::OrgGrpc;
