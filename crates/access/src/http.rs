//! Talking to the identity provider over HTTP: one client setup and a
//! bounded read, for its keys (JWKS) and its token endpoint alike, so no
//! answer of the issuer's can hold more memory than the limit.

use std::time::Duration;

/// How long each HTTP exchange with the issuer may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the issuer's endpoints.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|err| format!("building the HTTP client: {err}"))
}

/// `response`'s body, refused once it passes `limit` bytes (read a chunk
/// at a time, never whole first).
pub async fn read_bounded(mut response: reqwest::Response, url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| format!("reading {url}: {err}"))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("{url} answered more than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
