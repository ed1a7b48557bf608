//! `trellis-server`: settings, telemetry, and the wiring that serves any
//! subset of the Trellis services on one port.

pub mod access;
pub mod app;
pub mod auth;
pub mod connections;
pub mod guard;
pub mod metrics;
pub mod peers;
pub mod reflection;
pub mod service_token;
pub mod settings;
pub mod telemetry;
pub mod tls;

pub use app::Application;
pub use settings::{ServiceName, Settings};

/// The inner service a layer calls: the one `poll_ready` made ready
/// (tower's contract), leaving a fresh clone in its place to be made ready
/// for the next request.
pub(crate) fn ready_inner<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
