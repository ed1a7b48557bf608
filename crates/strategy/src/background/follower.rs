//! Keeps the strategy read cache in step with the service's own change
//! feed, so changes committed by other processes on the same database reach
//! it too (this process's writes are put at commit).

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use prost::{Message, Name};
use trellis_foundation::{ChangeFeed, cache::SnapshotCache};
use trellis_proto::{
    feed::v1::{ChangeKind, WatchChangesRequest},
    strategy::v1 as pb,
};

const RETRY_AFTER: Duration = Duration::from_secs(1);

pub async fn follow(feed: ChangeFeed, cache: Arc<SnapshotCache<pb::Strategy>>, mut cursor: i64) {
    loop {
        let mut events = Box::pin(feed.watch(
            WatchChangesRequest {
                after_sequence: cursor,
                resource_types: vec![pb::Strategy::full_name()],
                heartbeats: false,
            },
            None,
        ));
        loop {
            match events.next().await {
                // The feed closed: the server is shutting down.
                None => return,
                Some(Ok(event)) => {
                    cursor = event.sequence;
                    let snapshot = match event.kind() {
                        ChangeKind::Deleted => None,
                        _ => event
                            .resource
                            .and_then(|resource| pb::Strategy::decode(resource.value.as_slice()).ok())
                            .map(Arc::new),
                    };
                    cache.put(&event.resource_name, event.sequence, snapshot);
                }
                Some(Err(status)) => {
                    tracing::warn!(error = %status.message(), cursor, "strategy cache follower lost the feed; retrying");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
