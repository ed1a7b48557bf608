//! `GET /metrics` over plain HTTP/1.1 on `--metrics-listen`, for
//! Prometheus. Hand-written rather than a web framework: it answers one
//! path, one request per connection, and the build already has no HTTP/1
//! server to reuse.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::Metrics;

/// The most of a request read: a scrape's request line and headers.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client has to send its request and take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapes answered at once; more wait for the listener.
const MAX_CONCURRENT: usize = 16;

/// Serves until the returned task is aborted.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
        loop {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a metrics scrape");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(err) = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &metrics)).await {
                    tracing::debug!(error = %err, "a metrics scrape timed out");
                }
            });
        }
    })
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        if request.len() > MAX_REQUEST_BYTES {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                b"request too large\n",
            )
            .await;
        }
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let line = request.split(|byte| *byte == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|byte| *byte == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|byte| *byte == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => match metrics.render() {
            Ok(text) => respond(&mut stream, "200 OK", &text).await,
            Err(err) => {
                tracing::warn!(error = %err, "rendering the metrics");
                respond(
                    &mut stream,
                    "500 Internal Server Error",
                    b"the metrics could not be rendered\n",
                )
                .await
            }
        },
        (b"GET", _) => respond(&mut stream, "404 Not Found", b"only /metrics is served here\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", b"GET /metrics\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
