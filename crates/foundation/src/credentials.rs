//! The credentials a service's calls to its peers carry. Inside a request,
//! a peer call presents the caller's own bearer token, so the peer checks
//! the same person; work a service does on its own (escalation steps,
//! sweeps, the cascade's feed readers) presents the service's token, read
//! from `--service-token-file` and read again when the file changes, or
//! got from the issuer with the client-credentials grant and renewed
//! before it expires (`--service-client-id`).
//!
//! Without a service token, a service's own work calling the services of
//! its own process presents the process's internal credential: a random
//! secret made at start that never leaves the process, with the calling
//! service's name. The auth layer takes it as that service's principal,
//! which the access policy gives exactly what the service's work needs.
//!
//! A peer call within a request presents the service's identity too (the
//! internal credential in process, else its token in
//! [`SERVICE_AUTHORIZATION_HEADER`]): the peer records the service as the
//! actor, on behalf of the user, and checks the user's permissions.

use std::{
    future::Future,
    path::PathBuf,
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

tokio::task_local! {
    static CALLER_TOKEN: Arc<str>;
}

/// How often the service token file is looked at again.
const SERVICE_TOKEN_REREAD: Duration = Duration::from_secs(30);

static INTERNAL_SECRET: OnceLock<String> = OnceLock::new();

/// Names the service whose own work a call is (with [`INTERNAL_HEADER`]).
pub const SERVICE_HEADER: &str = "x-trellis-service";
/// Carries the process's internal credential.
pub const INTERNAL_HEADER: &str = "x-trellis-internal";
/// Carries the calling service's own bearer token on a peer call made
/// within an end user's request (whose token is the `authorization`), so
/// the peer knows both who acts and for whom.
pub const SERVICE_AUTHORIZATION_HEADER: &str = "x-trellis-service-authorization";

/// The process's internal credential, made on first use.
pub fn internal_secret() -> &'static str {
    INTERNAL_SECRET.get_or_init(|| {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    })
}

/// Whether `presented` is this process's internal credential (compared in
/// constant time).
pub fn is_internal_secret(presented: &str) -> bool {
    let secret = internal_secret().as_bytes();
    let presented = presented.as_bytes();
    presented.len() == secret.len()
        && presented
            .iter()
            .zip(secret)
            .fold(0u8, |differ, (left, right)| differ | (left ^ right))
            == 0
}

/// The token of the caller of the request being handled, if any.
pub fn caller_token() -> Option<Arc<str>> {
    CALLER_TOKEN.try_with(Arc::clone).ok()
}

/// Runs `work` (a request's handling) with the caller's bearer token at
/// hand for the peer calls it makes.
pub async fn with_caller_token<F: Future>(token: Arc<str>, work: F) -> F::Output {
    CALLER_TOKEN.scope(token, work).await
}

/// A server's own token (`--service-token-file`, or the issuer's through
/// `--service-client-id`), shared by the channels its services call their
/// peers on and replaced in place when renewed. Each server has its own,
/// so servers sharing a process (tests) keep their identities apart.
#[derive(Debug, Clone, Default)]
pub struct ServiceToken(Arc<RwLock<Option<Arc<str>>>>);

impl ServiceToken {
    /// The token now, if the server has one.
    pub fn get(&self) -> Option<Arc<str>> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Makes `token` the token from now on (a renewed one replaces the
    /// last).
    pub fn set(&self, token: Arc<str>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
    }

    /// Reads the token from `path` now and every half minute after, for
    /// the life of the process.
    pub async fn watch_file(&self, path: PathBuf) -> Result<(), String> {
        self.set(read_token(&path).await?);
        let slot = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SERVICE_TOKEN_REREAD).await;
                match read_token(&path).await {
                    Ok(token) => slot.set(token),
                    Err(err) => tracing::warn!(error = %err, "keeping the service token read before"),
                }
            }
        });
        Ok(())
    }
}

async fn read_token(path: &PathBuf) -> Result<Arc<str>, String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|err| format!("reading the service token {}: {err}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("the service token file {} is empty", path.display()));
    }
    Ok(Arc::from(token))
}
