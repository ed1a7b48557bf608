//! Generated gRPC code for every Trellis API, the descriptor set that
//! server reflection serves, and the change feed's hash chain (part of the
//! feed's contract with clients).

pub mod chain;

/// The encoded `FileDescriptorSet` of every Trellis proto, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trellis_descriptor.bin"));

pub mod common {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.common.v1");
    }
}

pub mod feed {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.feed.v1");
    }
}

pub mod strategy {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.strategy.v1");
    }
}

pub mod okr {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.okr.v1");
    }
}

pub mod health {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.health.v1");
    }
}

pub mod access {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.access.v1");
    }
}

pub mod cascade {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("trellis.cascade.v1");
    }
}

/// What the services keep in their rows' `snapshot` columns: messages of
/// storage's own, so that a change to the API is never silently a change
/// to what is stored. Only the service that owns a table uses its package.
pub mod storage {
    pub mod okr {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic)]
            tonic::include_proto!("trellis.storage.okr.v1");
        }
    }

    pub mod health {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic)]
            tonic::include_proto!("trellis.storage.health.v1");
        }
    }

    pub mod strategy {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic)]
            tonic::include_proto!("trellis.storage.strategy.v1");
        }
    }
}
