//! A stream's items relayed through a bounded buffer, for watchers that
//! may stop reading: the source runs ahead by at most `capacity` items,
//! and when the buffer has stayed full for `stall` the relay gives up. The
//! source then stops (no more reads for a client that reads nothing), and
//! the client, should it read again, gets what was buffered and then
//! `RESOURCE_EXHAUSTED`, telling it to resume from its cursor.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc::{self, error::SendTimeoutError};
use tonic::Status;

/// Relays `source` through a buffer of `capacity` items; see the module.
pub fn bounded<T, S>(
    source: S,
    capacity: usize,
    stall: Duration,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stalled);
    tokio::spawn(async move {
        let mut source = Box::pin(source);
        while let Some(item) = source.next().await {
            match sender.send_timeout(item, stall).await {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(_)) => {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                // The client went away.
                Err(SendTimeoutError::Closed(_)) => return,
            }
        }
    });
    Relayed {
        receiver,
        stalled,
        stall,
        told: false,
    }
}

struct Relayed<T> {
    receiver: mpsc::Receiver<Result<T, Status>>,
    stalled: Arc<AtomicBool>,
    stall: Duration,
    told: bool,
}

impl<T> Stream for Relayed<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(None) if self.stalled.load(Ordering::SeqCst) && !self.told => {
                self.told = true;
                Poll::Ready(Some(Err(Status::resource_exhausted(format!(
                    "this stream was not read for {} seconds and was dropped; watch again from your last sequence",
                    self.stall.as_secs()
                )))))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_keeps_up_gets_everything() {
        let source = futures::stream::iter((0..1_000).map(Ok::<i32, Status>));
        let items: Vec<i32> = bounded(source, 8, Duration::from_secs(5))
            .map(|item| item.unwrap_or(-1))
            .collect()
            .await;
        assert_eq!(items, (0..1_000).collect::<Vec<i32>>());
    }

    #[tokio::test]
    async fn a_reader_that_stops_is_dropped_with_resource_exhausted() {
        let source = futures::stream::iter((0..1_000).map(Ok::<i32, Status>));
        let mut relayed = Box::pin(bounded(source, 8, Duration::from_millis(50)));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut received = 0;
        let mut last = None;
        while let Some(item) = relayed.next().await {
            match item {
                Ok(_) => received += 1,
                Err(status) => last = Some(status.code()),
            }
        }
        assert!(received <= 9, "{received} items came through an 8-item buffer");
        assert_eq!(last, Some(tonic::Code::ResourceExhausted));
    }
}
