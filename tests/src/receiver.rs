//! A webhook receiver for the tests: it records every request and answers
//! each with the status its script gives for that attempt.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::{io::AsyncWriteExt, net::TcpListener, task::JoinHandle};

use crate::http::{HttpRequest, read_request};

/// The status for the `attempt`-th request (from 1) carrying a
/// `webhook-id`.
pub type Script = Arc<dyn Fn(u32) -> u16 + Send + Sync>;

pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub status: u16,
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start(script: Script) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let task = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let (received, attempts, script) =
                        (Arc::clone(&received), Arc::clone(&attempts), Arc::clone(&script));
                    tokio::spawn(async move {
                        let Some(request) = read_request(&mut stream).await else {
                            return;
                        };
                        let status = answer(&request, &received, &attempts, &script);
                        let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            })
        };
        Ok(Receiver { url, received, task })
    }

    /// What arrived so far, in order of arrival.
    pub fn received<T>(&self, read: impl FnOnce(&[Received]) -> T) -> T {
        let received = self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        read(&received)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(
    request: &HttpRequest,
    received: &Mutex<Vec<Received>>,
    attempts: &Mutex<HashMap<String, u32>>,
    script: &Script,
) -> u16 {
    let id = request.header("webhook-id").unwrap_or_default().to_owned();
    let attempt = {
        let mut attempts = attempts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = attempts.entry(id.clone()).or_default();
        *count += 1;
        *count
    };
    let status = if request.method == "POST" { script(attempt) } else { 405 };
    received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Received {
            id,
            timestamp: request.header("webhook-timestamp").unwrap_or_default().to_owned(),
            signature: request.header("webhook-signature").unwrap_or_default().to_owned(),
            body: request.body.clone(),
            status,
        });
    status
}
