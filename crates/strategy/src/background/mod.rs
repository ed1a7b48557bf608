//! Work the strategy service does on its own: following its own feed so
//! the read cache learns of changes other processes commit.

pub(crate) mod follower;
