//! The OKR service. So far: the pure rules of key-result progress,
//! objective roll-up, staleness and scoring (DESIGN.md §1 "Objectives and
//! key results"); storage and the gRPC API build on them.

pub mod lifecycle;
pub mod progress;
pub mod scoring;
