//! The graph's snapshots, kept in the cascade's database so that any
//! replica (a new one most of all) starts from the newest: a header row
//! with each feed's cursor, the size and a SHA-256 of the bytes, and the
//! bytes in chunks of 4 MiB so no single value is huge. A snapshot whose
//! bytes do not match, or that does not load, is skipped for the next
//! older one; at worst the feeds are replayed from the start.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};
use sha2::{Digest, Sha256};
use tracing::warn;
use trellis_foundation::Db;

use crate::{error::Error, graph::Graph};

pub const SNAPSHOT_TABLE: &str = "cascade_snapshots";
pub const CHUNK_TABLE: &str = "cascade_snapshot_chunks";
const CHUNK_BYTES: usize = 4 << 20;

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
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

impl SnapshotStore {
    pub fn new(db: Db) -> SnapshotStore {
        SnapshotStore { db }
    }

    /// Keeps `bytes` as the snapshot taken at `taken_micros` with
    /// `cursors`, then drops all but the newest `retention`.
    pub async fn save(
        &self,
        bytes: &[u8],
        cursors: &[(String, i64)],
        taken_micros: i64,
        retention: usize,
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
        for old in kept.into_iter().skip(retention.max(1)) {
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
            .columns(["cursors", "size", "sha256"].map(Alias::new))
            .from(Alias::new(SNAPSHOT_TABLE))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = conn
            .query_one(&header)
            .await
            .map_err(|err| err.to_string())?
            .ok_or("its header is gone")?;
        let read = |column: &str| row.try_get::<String>("", column).map_err(|err| err.to_string());
        let (cursors, sha256) = (read("cursors")?, read("sha256")?);
        let size: i64 = row.try_get("", "size").map_err(|err| err.to_string())?;
        let chunks = Query::select()
            .column(Alias::new("bytes"))
            .from(Alias::new(CHUNK_TABLE))
            .and_where(Expr::col(Alias::new("snapshot_id")).eq(id))
            .order_by(Alias::new("part"), Order::Asc)
            .to_owned();
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        for chunk in conn.query_all(&chunks).await.map_err(|err| err.to_string())? {
            let part: Vec<u8> = chunk.try_get("", "bytes").map_err(|err| err.to_string())?;
            bytes.extend_from_slice(&part);
        }
        if i64::try_from(bytes.len()).ok() != Some(size) || digest(&bytes) != sha256 {
            return Err(format!(
                "its bytes do not match what was written ({size} bytes, sha256 {sha256})"
            ));
        }
        let cursors: HashMap<String, i64> =
            serde_json::from_str(&cursors).map_err(|err| format!("its cursors: {err}"))?;
        let graph = Graph::from_snapshot(&bytes).map_err(|err| err.to_string())?;
        Ok(Restored {
            graph,
            cursors,
            taken_micros: id,
        })
    }
}
