//! Mechanisms every Trellis service shares, written once: storage by URL,
//! the transactional change feed, etags, create idempotency, page tokens,
//! list filters, field validation, resource names, the request's actor and
//! trace propagation between services.

pub mod cache;
pub mod context;
pub mod credentials;
pub mod db;
pub mod enum_pair;
pub mod error;
pub mod etag;
pub mod feed;
pub mod filter;
pub mod idempotency;
pub mod listing;
pub mod mask;
pub mod members;
pub mod migration;
pub mod names;
pub mod paging;
pub mod store;
pub mod time;
pub mod trace;
pub mod validation;
pub mod visibility;
mod wal;
pub mod watch_buffer;

pub use context::RequestContext;
pub use db::{Backend, Db, WriteTxn};
pub use error::Error;
pub use feed::{ChangeFeed, NewChange};
pub use store::Store;
pub use validation::FieldViolations;
