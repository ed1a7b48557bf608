//! The rules more than one service computes: how far a key result has
//! come, how an objective rolls up and scores, and what a cadence means.
//! Pure functions over plain numbers: no storage, no network, so the okr
//! service that records check-ins and the cascade that rolls them up
//! across the company cannot disagree.

pub mod cadence;
pub mod progress;
pub mod scoring;
