//! The feeds read again from given cursors, merged into one sequence in
//! commit-time order and cut at a time: the history the as-of graphs and
//! a node's changes are rebuilt from. Each feed's commits are in time
//! order; ties between feeds go to the feed named first.

use std::collections::HashMap;

use futures::{StreamExt, stream::BoxStream};
use tonic::Status;
use trellis_foundation::time::from_timestamp;
use trellis_proto::feed::v1::ChangeEvent;

use crate::{background::Source, error::Error};

/// A feed's events as `WatchChanges` delivers them.
pub(crate) type EventStream = BoxStream<'static, Result<ChangeEvent, Status>>;

struct Feed {
    source: &'static str,
    stream: EventStream,
    cursor: i64,
    /// The feed's next event at or before the cut, read ahead.
    next: Option<ChangeEvent>,
    /// The event read ahead was the feed's head when read: nothing follows.
    next_is_last: bool,
    done: bool,
}

/// The merged history from the cursors up to the cut.
pub struct Replay {
    feeds: Vec<Feed>,
    until_micros: i64,
}

/// One event of the history and the feed it came from.
pub struct Replayed {
    pub source: &'static str,
    pub event: ChangeEvent,
    pub commit_micros: i64,
}

fn commit_micros(event: &ChangeEvent) -> i64 {
    event.commit_time.as_ref().map_or(0, from_timestamp)
}

impl Replay {
    /// Opens every configured feed after its cursor in `cursors` (from the
    /// start when it has none); events committed after `until_micros` are
    /// not read.
    pub async fn open(sources: &[Source], cursors: &HashMap<String, i64>, until_micros: i64) -> Result<Replay, Error> {
        let mut feeds = Vec::with_capacity(sources.len());
        for source in sources {
            if matches!(source, Source::Unconfigured(_)) {
                // Not followed live either: the graph never held it.
                continue;
            }
            let cursor = cursors.get(source.name()).copied().unwrap_or(0);
            let stream = source
                .clone()
                .open(cursor)
                .await
                .map_err(|status| unavailable(source.name(), &status))?;
            feeds.push((source.name(), cursor, stream));
        }
        Ok(Replay::over(feeds, until_micros))
    }

    /// Over feeds already opened after their cursors, as `WatchChanges`
    /// with heartbeats delivers them.
    pub(crate) fn over(feeds: Vec<(&'static str, i64, EventStream)>, until_micros: i64) -> Replay {
        let feeds = feeds
            .into_iter()
            .map(|(source, cursor, stream)| Feed {
                source,
                stream,
                cursor,
                next: None,
                next_is_last: false,
                done: false,
            })
            .collect();
        Replay { feeds, until_micros }
    }

    /// The next events in commit-time order, at most `max`; empty once
    /// every feed has reached the cut or its head.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<Replayed>, Error> {
        let mut batch = Vec::with_capacity(max);
        while batch.len() < max {
            match self.next().await? {
                Some(replayed) => batch.push(replayed),
                None => break,
            }
        }
        Ok(batch)
    }

    /// The next event in commit-time order; `None` once every feed has
    /// reached the cut or its head.
    pub async fn next(&mut self) -> Result<Option<Replayed>, Error> {
        for feed in &mut self.feeds {
            feed.read_ahead(self.until_micros).await?;
        }
        let earliest = self
            .feeds
            .iter()
            .enumerate()
            .filter_map(|(index, feed)| feed.next.as_ref().map(|event| (commit_micros(event), index)))
            .min();
        let Some((commit_micros, index)) = earliest else {
            return Ok(None);
        };
        let feed = &mut self.feeds[index];
        let Some(event) = feed.next.take() else {
            return Ok(None);
        };
        feed.cursor = event.sequence;
        if feed.next_is_last {
            feed.done = true;
        }
        Ok(Some(Replayed {
            source: feed.source,
            event,
            commit_micros,
        }))
    }
}

impl Feed {
    async fn read_ahead(&mut self, until_micros: i64) -> Result<(), Error> {
        while self.next.is_none() && !self.done {
            let Some(read) = self.stream.next().await else {
                return Err(Error::Shared(trellis_foundation::Error::Unavailable(format!(
                    "the {} feed ended while its history was read",
                    self.source
                ))));
            };
            let event = read.map_err(|status| unavailable(self.source, &status))?;
            if event.sequence == 0 {
                // A heartbeat: everything up to the head is delivered.
                self.done = event.head_sequence <= self.cursor;
                continue;
            }
            if event.sequence <= self.cursor {
                continue;
            }
            if commit_micros(&event) > until_micros {
                self.done = true;
                continue;
            }
            // Anything committed after the head was read came after the
            // cut too (the cut is never in the future).
            self.next_is_last = event.head_sequence > 0 && event.sequence >= event.head_sequence;
            self.next = Some(event);
        }
        Ok(())
    }
}

fn unavailable(source: &str, status: &Status) -> Error {
    Error::Shared(trellis_foundation::Error::Unavailable(format!(
        "reading the {source} feed's history: {}",
        status.message()
    )))
}
