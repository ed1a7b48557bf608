//! The graph's snapshots, kept in the cascade's database so that any
//! replica (a new one most of all) starts from the newest: a header row
//! with each feed's cursor, the size and a SHA-256 of the bytes, and the
//! bytes in chunks of 4 MiB so no single value is huge. A snapshot whose
//! bytes do not match, or that does not load, is skipped for the next
//! older one; at worst the feeds are replayed from the start.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, QueryResult,
    sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement},
};
use sha2::{Digest, Sha256};
use tracing::warn;
use trellis_foundation::Db;

use crate::{error::Error, graph::Graph};

pub const SNAPSHOT_TABLE: &str = "cascade_snapshots";
pub const CHUNK_TABLE: &str = "cascade_snapshot_chunks";
const CHUNK_BYTES: usize = 4 << 20;

const DAY_MICROS: i64 = 86_400_000_000;

/// Which snapshots are kept: the newest `newest`, and for as-of questions
/// further back, the first of each UTC day for the `daily_days` days up to
/// the newest one's (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub newest: usize,
    pub daily_days: u32,
}

impl Retention {
    /// The snapshots to drop, of `ids` (taken times, newest first).
    pub fn to_drop(self, ids: &[i64]) -> Vec<i64> {
        let Some(newest) = ids.first() else {
            return Vec::new();
        };
        let newest_day = newest.div_euclid(DAY_MICROS);
        let mut dropped = Vec::new();
        for (index, id) in ids.iter().enumerate() {
            let day = id.div_euclid(DAY_MICROS);
            let recent = index < self.newest.max(1);
            let within_days = newest_day - day < i64::from(self.daily_days);
            // Newest first: a day's first snapshot is the last of its day.
            let first_of_its_day = ids
                .get(index + 1)
                .is_none_or(|older| older.div_euclid(DAY_MICROS) != day);
            let kept = recent || (within_days && first_of_its_day);
            if !kept {
                dropped.push(*id);
            }
        }
        dropped
    }
}

/// A snapshot loaded: the graph, each feed's cursor, when it was taken.
pub struct Restored {
    pub graph: Graph,
    pub cursors: HashMap<String, i64>,
    pub taken_micros: i64,
}

#[derive(Debug, Clone)]
pub struct SnapshotStore {
    db: Db,
}

fn digest(bytes: &[u8]) -> String {
    hex(Sha256::digest(bytes).as_slice())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The one row `select` finds, or why a snapshot does not load: the
/// driver's error, or `missing` when there is no such row.
async fn one_row(
    conn: &impl ConnectionTrait,
    select: &SelectStatement,
    missing: impl FnOnce() -> String,
) -> Result<QueryResult, String> {
    conn.query_one(select)
        .await
        .map_err(|err| err.to_string())?
        .ok_or_else(missing)
}

/// A snapshot's bytes as they are read, part by part, and their digest.
struct Gathered {
    bytes: Vec<u8>,
    digest: Sha256,
}

impl Gathered {
    fn add(mut self, part: &[u8]) -> Gathered {
        self.digest.update(part);
        self.bytes.extend_from_slice(part);
        self
    }
}

impl SnapshotStore {
    pub fn new(db: Db) -> SnapshotStore {
        SnapshotStore { db }
    }

    /// Keeps `bytes` as the snapshot taken at `taken_micros` with
    /// `cursors`, then drops what `retention` does not keep.
    pub async fn save(
        &self,
        bytes: &[u8],
        cursors: &[(String, i64)],
        taken_micros: i64,
        retention: Retention,
    ) -> Result<(), Error> {
        let cursors: HashMap<&str, i64> = cursors.iter().map(|(source, at)| (source.as_str(), *at)).collect();
        let cursors =
            serde_json::to_string(&cursors).map_err(|err| Error::Corrupt(format!("encoding cursors: {err}")))?;
        let txn = self.db.begin_write().await?;
        let chunks: Vec<&[u8]> = bytes.chunks(CHUNK_BYTES).collect();
        for (part, chunk) in chunks.iter().enumerate() {
            let insert = Query::insert()
                .into_table(Alias::new(CHUNK_TABLE))
                .columns(["snapshot_id", "part", "bytes"].map(Alias::new))
                .values_panic([
                    taken_micros.into(),
                    i64::try_from(part).unwrap_or(i64::MAX).into(),
                    chunk.to_vec().into(),
                ])
                .to_owned();
            txn.execute(&insert).await?;
        }
        let header = Query::insert()
            .into_table(Alias::new(SNAPSHOT_TABLE))
            .columns(["id", "format_version", "cursors", "size", "sha256", "chunks"].map(Alias::new))
            .values_panic([
                taken_micros.into(),
                i64::from(crate::graph::snapshot::FORMAT_VERSION).into(),
                cursors.into(),
                i64::try_from(bytes.len()).unwrap_or(i64::MAX).into(),
                digest(bytes).into(),
                i64::try_from(chunks.len()).unwrap_or(i64::MAX).into(),
            ])
            .to_owned();
        txn.execute(&header).await?;
        let kept = self.ids_newest_first(txn.txn()).await?;
        for old in retention.to_drop(&kept) {
            for table in [CHUNK_TABLE, SNAPSHOT_TABLE] {
                let column = if table == CHUNK_TABLE { "snapshot_id" } else { "id" };
                let delete = Query::delete()
                    .from_table(Alias::new(table))
                    .and_where(Expr::col(Alias::new(column)).eq(old))
                    .to_owned();
                txn.execute(&delete).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    async fn ids_newest_first(&self, conn: &impl ConnectionTrait) -> Result<Vec<i64>, Error> {
        self.ids_taken_by(conn, i64::MAX).await
    }

    /// The snapshots taken at or before `at`, newest first.
    async fn ids_taken_by(&self, conn: &impl ConnectionTrait, at: i64) -> Result<Vec<i64>, Error> {
        let select = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(SNAPSHOT_TABLE))
            .and_where(Expr::col(Alias::new("id")).lte(at))
            .order_by(Alias::new("id"), Order::Desc)
            .to_owned();
        let rows = conn.query_all(&select).await?;
        rows.iter()
            .map(|row| row.try_get::<i64>("", "id").map_err(Error::from))
            .collect()
    }

    /// The newest snapshot that loads; `None` when there is none.
    pub async fn newest(&self) -> Result<Option<Restored>, Error> {
        self.newest_taken_by(i64::MAX).await
    }

    /// The newest snapshot taken at or before `at` that loads: where the
    /// graph as of `at` starts from.
    pub async fn newest_taken_by(&self, at: i64) -> Result<Option<Restored>, Error> {
        let conn = self.db.conn();
        for id in self.ids_taken_by(conn, at).await? {
            match self.load(id).await {
                Ok(restored) => return Ok(Some(restored)),
                Err(reason) => warn!(snapshot = id, %reason, "skipping a snapshot that does not load"),
            }
        }
        Ok(None)
    }

    async fn load(&self, id: i64) -> Result<Restored, String> {
        let conn = self.db.conn();
        let header = Query::select()
            .columns(["cursors", "size", "sha256", "chunks"].map(Alias::new))
            .from(Alias::new(SNAPSHOT_TABLE))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = one_row(conn, &header, || "its header is gone".to_owned()).await?;
        let read = |column: &str| row.try_get::<String>("", column).map_err(|err| err.to_string());
        let (cursors, sha256) = (read("cursors")?, read("sha256")?);
        let number = |column: &str| row.try_get::<i64>("", column).map_err(|err| err.to_string());
        let (size, parts) = (number("size")?, number("chunks")?);
        // A part at a time: reading them all at once held each twice more
        // (the driver's rows and their copies), all in fresh pages. Each
        // part is hashed and added on the blocking pool while the next is
        // read, so the digest costs no time of its own.
        let mut bytes = Vec::new();
        // A size the header got wrong must not take the process down.
        bytes
            .try_reserve_exact(usize::try_from(size).unwrap_or(0))
            .map_err(|err| format!("its size ({size} bytes) cannot be held: {err}"))?;
        let gathered = Gathered {
            bytes,
            digest: Sha256::new(),
        };
        let mut adding = tokio::task::spawn_blocking(move || gathered);
        let joined = |err: tokio::task::JoinError| format!("reading it did not finish: {err}");
        for part in 0..parts {
            let select = Query::select()
                .column(Alias::new("bytes"))
                .from(Alias::new(CHUNK_TABLE))
                .and_where(Expr::col(Alias::new("snapshot_id")).eq(id))
                .and_where(Expr::col(Alias::new("part")).eq(part))
                .to_owned();
            let chunk = one_row(conn, &select, || format!("its part {part} is gone")).await?;
            let part: Vec<u8> = chunk.try_get("", "bytes").map_err(|err| err.to_string())?;
            let gathered = adding.await.map_err(joined)?;
            adding = tokio::task::spawn_blocking(move || gathered.add(&part));
        }
        let Gathered { bytes, digest } = adding.await.map_err(joined)?;
        // Checked and decoded on the blocking pool: a million nodes are
        // most of a second of work the runtime must not wait on.
        let decoded = tokio::task::spawn_blocking(move || {
            if i64::try_from(bytes.len()).ok() != Some(size) || hex(digest.finalize().as_slice()) != sha256 {
                return Err(format!(
                    "its bytes do not match what was written ({size} bytes, sha256 {sha256})"
                ));
            }
            Graph::from_snapshot(&bytes).map_err(|err| err.to_string())
        });
        let graph = decoded
            .await
            .map_err(|err| format!("decoding it did not finish: {err}"))??;
        let cursors: HashMap<String, i64> =
            serde_json::from_str(&cursors).map_err(|err| format!("its cursors: {err}"))?;
        Ok(Restored {
            graph,
            cursors,
            taken_micros: id,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn the_newest_and_each_days_first_are_kept() {
        // Newest first: three today, two yesterday, one each of the two
        // days before.
        let day = |n: i64, hour: i64| 100 * DAY_MICROS - n * DAY_MICROS + hour * HOUR;
        let ids = [
            day(0, 9),
            day(0, 5),
            day(0, 1),
            day(1, 20),
            day(1, 3),
            day(2, 12),
            day(3, 12),
        ];
        let retention = Retention {
            newest: 2,
            daily_days: 3,
        };
        assert_eq!(retention.to_drop(&ids), vec![day(1, 20), day(3, 12)]);
        let newest_only = Retention {
            newest: 3,
            daily_days: 0,
        };
        assert_eq!(newest_only.to_drop(&ids), ids[3..].to_vec());
    }

    proptest! {
        #[test]
        fn the_newest_is_always_kept_and_one_a_day_at_most_beyond_the_newest(
            mut ids in proptest::collection::btree_set(0..(40 * DAY_MICROS), 1..60),
            newest in 0..5usize,
            daily_days in 0..10u32,
        ) {
            let ids: Vec<i64> = std::mem::take(&mut ids).into_iter().rev().collect();
            let retention = Retention { newest, daily_days };
            let dropped = retention.to_drop(&ids);
            let kept: Vec<i64> = ids.iter().copied().filter(|id| !dropped.contains(id)).collect();
            prop_assert!(kept.contains(&ids[0]));
            prop_assert!(kept.len() <= newest.max(1) + daily_days as usize);
            let mut days: Vec<i64> = kept.iter().skip(newest.max(1)).map(|id| id.div_euclid(DAY_MICROS)).collect();
            let all = days.len();
            days.dedup();
            prop_assert_eq!(days.len(), all);
        }
    }
}
