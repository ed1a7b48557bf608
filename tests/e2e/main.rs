//! Black-box tests: the real server on an ephemeral port, driven through
//! the generated clients, on SQLite and (when configured) PostgreSQL.

mod access;
mod accountability;
mod answers;
mod auth;
mod bad_input;
mod cascade;
mod cascade_changes;
mod cascade_questions;
mod deploy;
mod feed;
mod four_square;
mod health;
mod health_edges;
mod health_replicas;
mod limits;
mod limits_connections;
mod okr_cycles;
mod okr_import;
mod okr_objectives;
mod okr_progress;
mod okr_support;
mod one_round;
mod org;
mod org_reads;
mod private;
mod raw;
mod replicas;
mod server;
mod split;
mod strategy;
mod strategy_nesting;
mod strategy_parts;
mod support;
mod tls;
mod traces;
