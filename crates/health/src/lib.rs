//! The health-metric service: KPIs that must stay within agreed ranges,
//! their measurements and status history, and the Four Square rule as an
//! escalation policy on each metric.
//!
//! So far the pure rules: thresholds and their evaluation
//! ([`thresholds`]), freshness by cadence ([`freshness`]) and the
//! escalation's state machine ([`escalation`]). Storage and the gRPC
//! service build on them.

pub mod escalation;
pub mod freshness;
pub mod thresholds;
