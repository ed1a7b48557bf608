//! The cascade's operations: the org tree's writes and reads, and the
//! alignment questions, each in the file of what it acts on.

pub(crate) mod alignment;
pub(crate) mod answers;
pub(crate) mod board;
pub(crate) mod conversations;
pub(crate) mod history;
pub(crate) mod initiatives;
pub(crate) mod org_unit_reads;
pub(crate) mod org_units;
pub(crate) mod policies;
pub(crate) mod sight;
pub mod webhooks;
pub(crate) mod weekly_plans;

use std::sync::Arc;

use trellis_access::Access;
use trellis_foundation::{Store, paging::PageTokens};

use crate::{background::Projection, history::History, store::conversations::ConversationStore};

/// The org service's operations (`org_units.rs` writes, `org_unit_reads.rs`
/// reads, `policies.rs` the grants on units); `grpc::OrgGrpc` and
/// `grpc::AccessGrpc` put them on the wire.
#[derive(Debug, Clone)]
pub struct OrgOps {
    pub(crate) store: Store,
    /// The largest answer the server sends: a batch whose answer would be
    /// larger is refused before anything is written.
    pub(crate) max_message_bytes: usize,
    pub(crate) access: Access,
}

impl OrgOps {
    pub fn new(store: Store) -> OrgOps {
        OrgOps {
            store,
            max_message_bytes: usize::MAX,
            access: Access::open(),
        }
    }

    /// Holds every request to the access policy (`--auth-mode oidc`).
    pub fn with_access(self, access: Access) -> OrgOps {
        OrgOps { access, ..self }
    }

    pub fn with_max_message_bytes(self, max_message_bytes: usize) -> OrgOps {
        OrgOps {
            max_message_bytes,
            ..self
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// The alignment questions (`alignment.rs`), answered from the projection's
/// graph; `grpc::CascadeGrpc` puts them on the wire.
#[derive(Debug, Clone)]
pub struct AlignmentOps {
    pub(crate) projection: Arc<Projection>,
    pub(crate) tokens: PageTokens,
    pub(crate) access: Access,
    /// More metrics than this for one accountable person is flagged.
    pub(crate) max_metrics_per_person: usize,
    /// The past, for as-of questions and a node's history.
    pub(crate) history: Option<Arc<History>>,
    /// Set on the copy answering an as-of question: the time it is asked
    /// of, which is "now" for whatever depends on the clock.
    pub(crate) as_of_micros: Option<i64>,
}

/// One person can hold the conversations of this many metrics.
pub const DEFAULT_MAX_METRICS_PER_PERSON: usize = 3;

impl AlignmentOps {
    /// Page tokens are the org service's (signed with its key).
    pub fn new(projection: Arc<Projection>, tokens: PageTokens) -> AlignmentOps {
        AlignmentOps {
            projection,
            tokens,
            access: Access::open(),
            max_metrics_per_person: DEFAULT_MAX_METRICS_PER_PERSON,
            history: None,
            as_of_micros: None,
        }
    }

    /// Answers questions about the past from `history`.
    pub fn with_history(self, history: Arc<History>) -> AlignmentOps {
        AlignmentOps {
            history: Some(history),
            ..self
        }
    }

    /// Flags people accountable for more than `limit` metrics.
    pub fn with_max_metrics_per_person(self, limit: usize) -> AlignmentOps {
        AlignmentOps {
            max_metrics_per_person: limit,
            ..self
        }
    }

    /// Answers each question with what its caller may read
    /// (`--auth-mode oidc`).
    pub fn with_access(self, access: Access) -> AlignmentOps {
        AlignmentOps { access, ..self }
    }

    pub fn projection(&self) -> &Arc<Projection> {
        &self.projection
    }
}

/// The weekly rhythm's operations: initiatives (`initiatives.rs`), weekly
/// plans (`weekly_plans.rs`), the board (`board.rs`) and conversations
/// (`conversations.rs`); `grpc::RhythmGrpc` puts them on the wire.
#[derive(Debug, Clone)]
pub struct RhythmOps {
    pub(crate) store: Store,
    pub(crate) conversations: ConversationStore,
    pub(crate) projection: Arc<Projection>,
    pub(crate) access: Access,
    pub(crate) max_metrics_per_person: usize,
    /// Added to the clock when deciding which week it is: lets a test see
    /// a plan lock without waiting a week.
    pub(crate) clock_offset_micros: i64,
}

impl RhythmOps {
    /// On the org service's store (its tables and page-token key), asking
    /// the projection's graph.
    pub fn new(store: Store, projection: Arc<Projection>) -> RhythmOps {
        RhythmOps {
            conversations: ConversationStore::new(store.db.clone()),
            store,
            projection,
            access: Access::open(),
            max_metrics_per_person: DEFAULT_MAX_METRICS_PER_PERSON,
            clock_offset_micros: 0,
        }
    }

    /// Runs the rhythm's calendar `offset_micros` ahead of the clock.
    pub fn with_clock_offset(self, offset_micros: i64) -> RhythmOps {
        RhythmOps {
            clock_offset_micros: offset_micros,
            ..self
        }
    }

    pub(crate) fn now(&self) -> i64 {
        trellis_foundation::time::now_micros().saturating_add(self.clock_offset_micros)
    }

    /// Holds every request to the access policy (`--auth-mode oidc`).
    pub fn with_access(self, access: Access) -> RhythmOps {
        RhythmOps { access, ..self }
    }

    /// Flags, on the board, people accountable for more than `limit`
    /// metrics.
    pub fn with_max_metrics_per_person(self, limit: usize) -> RhythmOps {
        RhythmOps {
            max_metrics_per_person: limit,
            ..self
        }
    }
}
