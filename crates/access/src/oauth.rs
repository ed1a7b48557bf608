//! Getting an access token with the OAuth 2.0 client-credentials grant
//! (RFC 6749 §4.4), as the CLI does for a script and a service run apart
//! does for its calls to its peers. The token endpoint comes from the
//! issuer's OpenID discovery document, which must name the same issuer;
//! the client authenticates with HTTP Basic (`client_secret_basic`, the
//! default) or in the form when the issuer supports only
//! `client_secret_post`. A secret is sent over plain HTTP only to a
//! loopback address.

use std::time::Duration;

use serde::Deserialize;

/// Documents from the issuer larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 64 << 10;

/// Who asks for a token, and of whom.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The issuer's URL (its `iss`); discovery is read below it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated scopes to ask for, if the issuer wants them.
    pub scope: Option<String>,
    /// The API the token is for, for issuers that take an `audience`
    /// parameter (others ignore it, as RFC 6749 §3.2 has them do).
    pub audience: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A token the issuer gave.
#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    /// How long it is good for, when the issuer said.
    pub expires_in: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The settings cannot work (a malformed or plain-HTTP issuer).
    #[error("{0}")]
    Settings(String),
    /// The issuer could not be reached or answered something unusable.
    #[error("{0}")]
    Issuer(String),
    /// The issuer refused the client's credentials.
    #[error("{0}")]
    Refused(String),
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    token_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// An HTTP client for the issuer.
pub fn http_client() -> Result<reqwest::Client, TokenError> {
    crate::http::client().map_err(TokenError::Settings)
}

/// Asks the issuer for a token for `credentials`.
pub async fn request_token(
    client: &reqwest::Client,
    credentials: &ClientCredentials,
) -> Result<AccessToken, TokenError> {
    let issuer = credentials.issuer.trim_end_matches('/');
    check_secure(issuer, "the issuer")?;
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let response = client
        .get(&discovery_url)
        .send()
        .await
        .map_err(|err| TokenError::Issuer(format!("fetching {discovery_url}: {err}")))?;
    if !response.status().is_success() {
        return Err(TokenError::Issuer(format!(
            "{discovery_url} answered {}",
            response.status()
        )));
    }
    let discovery: Discovery = parse(&discovery_url, &read_bounded(response, &discovery_url).await?)?;
    // A document naming another issuer could send the secret elsewhere
    // (OpenID Connect Discovery §4.3).
    if discovery.issuer.trim_end_matches('/') != issuer {
        return Err(TokenError::Issuer(format!(
            "{discovery_url} names the issuer {:?}, not {issuer:?}",
            discovery.issuer
        )));
    }
    let endpoint = discovery
        .token_endpoint
        .ok_or_else(|| TokenError::Issuer(format!("{discovery_url} names no token_endpoint")))?;
    check_secure(&endpoint, "the token endpoint")?;

    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &credentials.scope {
        form.push(("scope", scope));
    }
    if let Some(audience) = &credentials.audience {
        form.push(("audience", audience));
    }
    let methods = &discovery.token_endpoint_auth_methods_supported;
    let in_form = !methods.is_empty()
        && !methods.iter().any(|method| method == "client_secret_basic")
        && methods.iter().any(|method| method == "client_secret_post");
    let mut request = client.post(&endpoint);
    if in_form {
        form.push(("client_id", &credentials.client_id));
        form.push(("client_secret", &credentials.client_secret));
    } else {
        // RFC 6749 §2.3.1: each part form-encoded before Basic's base64.
        request = request.basic_auth(
            form_encoded(&credentials.client_id),
            Some(form_encoded(&credentials.client_secret)),
        );
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|err| TokenError::Issuer(format!("asking {endpoint} for a token: {err}")))?;
    let status = response.status();
    let body = read_bounded(response, &endpoint).await?;
    if !status.is_success() {
        let reason = serde_json::from_slice::<ErrorResponse>(&body).map_or_else(
            |_| status.to_string(),
            |error| match error.error_description.is_empty() {
                true => error.error,
                false => format!("{}: {}", error.error, error.error_description),
            },
        );
        return Err(match status.as_u16() {
            400 | 401 | 403 => TokenError::Refused(format!("{endpoint} refused the client: {reason}")),
            _ => TokenError::Issuer(format!("{endpoint} answered {reason}")),
        });
    }
    let token: TokenResponse = parse(&endpoint, &body)?;
    if !token.token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Issuer(format!(
            "{endpoint} gave a {:?} token, not a bearer token",
            token.token_type
        )));
    }
    if token.access_token.is_empty() || !token.access_token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(TokenError::Issuer(format!("{endpoint} gave an unusable token")));
    }
    Ok(AccessToken {
        token: token.access_token,
        expires_in: token.expires_in.map(Duration::from_secs),
    })
}

/// https, or http to this machine: a client secret crosses no network in
/// the clear.
fn check_secure(url: &str, what: &str) -> Result<(), TokenError> {
    let parsed = reqwest::Url::parse(url).map_err(|err| TokenError::Settings(format!("{what} {url:?}: {err}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(TokenError::Settings(format!(
            "{what} {url:?} must be https:// (plain http only on this machine)"
        ))),
    }
}

fn form_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn read_bounded(response: reqwest::Response, url: &str) -> Result<Vec<u8>, TokenError> {
    crate::http::read_bounded(response, url, MAX_DOCUMENT_BYTES)
        .await
        .map_err(TokenError::Issuer)
}

fn parse<T: for<'de> Deserialize<'de>>(url: &str, body: &[u8]) -> Result<T, TokenError> {
    serde_json::from_slice(body).map_err(|err| TokenError::Issuer(format!("{url} answered unusable JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_over_https_or_to_this_machine_only() {
        for good in [
            "https://login.example.com",
            "http://127.0.0.1:8080",
            "http://localhost:9000/realms/x",
            "http://[::1]:80",
        ] {
            assert!(check_secure(good, "the issuer").is_ok(), "{good}");
        }
        for bad in ["http://login.example.com", "ftp://127.0.0.1", "login.example.com", ""] {
            assert!(
                matches!(check_secure(bad, "the issuer"), Err(TokenError::Settings(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encoded("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
