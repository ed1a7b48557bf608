//! AIP-155 create idempotency. A create with a `request_id` claims that id in
//! the same transaction as the create, then stores the response; a retry
//! returns the stored response, and the same id with a different request is
//! `ALREADY_EXISTS`. Claiming first makes a concurrent duplicate wait on the
//! claim (PostgreSQL) or the writer lock (SQLite) and then replay.

use std::future::Future;

use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use prost::Message;
use sea_orm::{
    ConnectionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use sha2::{Digest, Sha256};

use crate::{context::RequestContext, db::WriteTxn, error::Error, store::Store, time::now_micros};

const MAX_REQUEST_ID_LEN: usize = 128;

impl Store {
    /// Runs `create` in a write transaction at most once per request id.
    ///
    /// `request` is the whole create request: its bytes tell a retry from a
    /// different request that reuses the id. `create` gets the transaction
    /// and hands it back with its response; the response is recorded and
    /// the transaction committed here.
    pub async fn create_once<Req, Resp, E, F, Fut>(
        &self,
        context: &RequestContext,
        method: &str,
        request: &Req,
        create: F,
    ) -> Result<Resp, E>
    where
        Req: Message,
        Resp: Message + Default,
        E: From<Error>,
        F: FnOnce(WriteTxn) -> Fut,
        Fut: Future<Output = Result<(WriteTxn, Resp), E>>,
    {
        let fingerprint = fingerprint(method, request);
        self.create_once_keyed(context, fingerprint, create).await
    }

    /// [`Store::create_once`] for a request whose fingerprint the caller
    /// computed (a stream, hashed as it arrived).
    pub async fn create_once_keyed<Resp, E, F, Fut>(
        &self,
        context: &RequestContext,
        fingerprint: String,
        create: F,
    ) -> Result<Resp, E>
    where
        Resp: Message + Default,
        E: From<Error>,
        F: FnOnce(WriteTxn) -> Fut,
        Fut: Future<Output = Result<(WriteTxn, Resp), E>>,
    {
        let Some(request_id) = context.request_id.as_deref() else {
            let txn = self.begin_write().await?;
            let (txn, response) = create(txn).await?;
            txn.commit().await?;
            return Ok(response);
        };
        check_request_id(request_id)?;
        if let Some(response) = self.replay(request_id, &fingerprint).await? {
            return Ok(response);
        }
        let txn = self.begin_write().await?;
        if let Err(err) = self.claim(&txn, request_id, &fingerprint).await {
            drop(txn);
            return match err {
                ClaimError::Taken => self
                    .replay(request_id, &fingerprint)
                    .await?
                    .ok_or_else(|| Error::Corrupt("claimed request vanished".into()).into()),
                ClaimError::Other(err) => Err(err.into()),
            };
        }
        let (txn, response) = create(txn).await?;
        self.store_response(&txn, request_id, &response).await?;
        txn.commit().await?;
        Ok(response)
    }

    /// The stored response of an earlier request with this id, if any;
    /// `ALREADY_EXISTS` when that request was a different one.
    pub async fn replay<Resp: Message + Default>(
        &self,
        request_id: &str,
        fingerprint: &str,
    ) -> Result<Option<Resp>, Error> {
        let select = Query::select()
            .columns([Alias::new("fingerprint"), Alias::new("response")])
            .from(Alias::new(&self.tables.requests))
            .and_where(Expr::col(Alias::new("request_id")).eq(request_id))
            .to_owned();
        let Some(row) = self.db.conn().query_one(&select).await? else {
            return Ok(None);
        };
        let stored_fingerprint: String = row.try_get("", "fingerprint")?;
        if stored_fingerprint != fingerprint {
            return Err(Error::AlreadyExists(format!(
                "request_id {request_id:?} was already used for a different request"
            )));
        }
        let response: Vec<u8> = row.try_get("", "response")?;
        Resp::decode(response.as_slice())
            .map(Some)
            .map_err(|err| Error::Corrupt(format!("stored response of {request_id}: {err}")))
    }

    async fn claim(&self, txn: &WriteTxn, request_id: &str, fingerprint: &str) -> Result<(), ClaimError> {
        let insert = Query::insert()
            .into_table(Alias::new(&self.tables.requests))
            .columns(["request_id", "fingerprint", "response", "create_micros"].map(Alias::new))
            .values_panic([
                request_id.into(),
                fingerprint.into(),
                Vec::<u8>::new().into(),
                now_micros().into(),
            ])
            .to_owned();
        match txn.execute(&insert).await {
            Ok(_) => Ok(()),
            Err(err) if Error::is_unique_violation(&err) => Err(ClaimError::Taken),
            Err(err) => Err(ClaimError::Other(Error::Database(err))),
        }
    }

    async fn store_response(&self, txn: &WriteTxn, request_id: &str, response: &impl Message) -> Result<(), Error> {
        let update = Query::update()
            .table(Alias::new(&self.tables.requests))
            .value(Alias::new("response"), response.encode_to_vec())
            .and_where(Expr::col(Alias::new("request_id")).eq(request_id))
            .to_owned();
        txn.execute(&update).await?;
        Ok(())
    }
}

pub fn check_request_id(request_id: &str) -> Result<(), Error> {
    if request_id.len() > MAX_REQUEST_ID_LEN {
        return Err(Error::invalid(
            "request_id",
            format!("must be at most {MAX_REQUEST_ID_LEN} characters"),
        ));
    }
    Ok(())
}

/// A request fingerprint built from a stream of messages.
pub struct StreamFingerprint(Sha256);

impl StreamFingerprint {
    pub fn new(method: &str) -> StreamFingerprint {
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        StreamFingerprint(hasher)
    }

    pub fn add(&mut self, message: &impl Message) {
        let bytes = message.encode_to_vec();
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        STANDARD_NO_PAD.encode(self.0.finalize())
    }
}

enum ClaimError {
    Taken,
    Other(Error),
}

fn fingerprint(method: &str, request: &impl Message) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(request.encode_to_vec());
    STANDARD_NO_PAD.encode(hasher.finalize())
}
