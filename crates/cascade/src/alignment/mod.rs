//! `trellis.cascade.v1.CascadeService`: the alignment questions, answered
//! from the projection's graph under its read lock on the blocking pool,
//! never by calling another service.

mod grpc;
mod questions;
mod view;

use std::sync::Arc;

use trellis_foundation::paging::PageTokens;

use crate::projection::Projection;

#[derive(Debug, Clone)]
pub struct CascadeApi {
    projection: Arc<Projection>,
    tokens: PageTokens,
}

impl CascadeApi {
    /// Page tokens are the org service's (signed with its key).
    pub fn new(projection: Arc<Projection>, tokens: PageTokens) -> CascadeApi {
        CascadeApi { projection, tokens }
    }

    pub fn projection(&self) -> &Arc<Projection> {
        &self.projection
    }
}
