//! This process's own token, presented to its peers for the work it does
//! on its own and beside a user's token on the calls it makes for them:
//! read from `--service-token-file`, or got from the issuer with the
//! client-credentials grant as `--service-client-id` and renewed at three
//! quarters of its life. A renewal that fails keeps the token it has and
//! tries again shortly; only the first one, at start, must succeed.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use trellis_access::oauth::{self, AccessToken, ClientCredentials};
use trellis_foundation::credentials::ServiceToken;

use crate::settings::Settings;

/// A token that says nothing of its life is renewed this often.
const DEFAULT_LIFE: Duration = Duration::from_secs(300);
/// Renewals are never closer together than this, whatever the token says.
const MIN_RENEWAL: Duration = Duration::from_secs(10);
/// A failed renewal is tried again after this.
const RETRY: Duration = Duration::from_secs(10);

/// Gets the service token the settings name, if any, and keeps it fresh
/// for the life of the process.
pub async fn start(settings: &Settings) -> anyhow::Result<ServiceToken> {
    let slot = ServiceToken::default();
    if let Some(path) = &settings.service_token_file {
        slot.watch_file(path.clone()).await.map_err(anyhow::Error::msg)?;
        return Ok(slot);
    }
    let (Some(client_id), Some(secret_file)) = (&settings.service_client_id, &settings.service_client_secret_file)
    else {
        return Ok(slot);
    };
    let secret = tokio::fs::read_to_string(secret_file)
        .await
        .with_context(|| format!("reading the service client secret {}", secret_file.display()))?;
    let credentials = ClientCredentials {
        issuer: settings.oidc_issuer.clone().unwrap_or_default(),
        client_id: client_id.clone(),
        client_secret: secret.trim().to_owned(),
        scope: settings.service_token_scope.clone(),
        audience: settings.oidc_audience.clone(),
    };
    let http = oauth::http_client()?;
    let first = oauth::request_token(&http, &credentials)
        .await
        .with_context(|| format!("getting the service token as {client_id}"))?;
    let mut renew_in = keep(&slot, first);
    let renewed = slot.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(renew_in).await;
            renew_in = match oauth::request_token(&http, &credentials).await {
                Ok(token) => keep(&renewed, token),
                Err(err) => {
                    tracing::warn!(error = %err, "keeping the service token got before");
                    RETRY
                }
            };
        }
    });
    Ok(slot)
}

/// Makes `token` the service token; how long until it is renewed.
fn keep(slot: &ServiceToken, token: AccessToken) -> Duration {
    slot.set(Arc::from(token.token));
    (token.expires_in.unwrap_or(DEFAULT_LIFE) * 3 / 4).max(MIN_RENEWAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_in: Option<u64>) -> AccessToken {
        AccessToken {
            token: "t".to_owned(),
            expires_in: expires_in.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_token_is_renewed_at_three_quarters_of_its_life_and_never_in_a_rush() {
        let slot = ServiceToken::default();
        assert_eq!(keep(&slot, token(Some(3_600))), Duration::from_secs(2_700));
        assert_eq!(keep(&slot, token(Some(4))), MIN_RENEWAL);
        assert_eq!(keep(&slot, token(None)), Duration::from_secs(225));
        assert_eq!(slot.get().as_deref(), Some("t"));
    }
}
