//! The OKR service's tables. Cycles, objectives and key results keep their
//! writable fields as an encoded message (`snapshot`) beside the columns
//! that lists filter on; a key result also keeps the running tally of its
//! check-ins, so reading its progress never scans them.

pub mod check_in;
pub mod cycle;
pub mod key_result;
pub mod objective;
pub mod remedial;
pub mod replan;
