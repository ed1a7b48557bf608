//! The strategy service's tables. A strategy is stored whole, as the
//! encoded `Strategy` message (`snapshot`) of its current revision; the
//! choice and assumption tables index what other queries look up by name,
//! and `strategy_revisions` keeps every past snapshot.

pub mod assumption;
pub mod choice;
pub mod revision;
pub mod strategy;
