//! Work the okr service does on its own: the group-commit writer that
//! records check-ins, with the facts it remembers between batches.

pub(crate) mod check_in_facts;
pub mod check_in_writer;
