//! Just enough HTTP/1.1 for the test servers (the OIDC issuer, the webhook
//! receiver): one request per connection, read whole.

use tokio::io::AsyncReadExt;

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request: its head, then as much body as it says.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<HttpRequest> {
    const LIMIT: usize = 1 << 20;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await.ok().filter(|read| *read > 0)?;
        bytes.extend_from_slice(&chunk[..read]);
        if bytes.len() > LIMIT {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split_whitespace();
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let mut length = 0;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "content-length" {
            length = value.trim().parse().ok().filter(|length| *length <= LIMIT)?;
        }
        headers.push((name, value.trim().to_owned()));
    }
    while bytes.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok().filter(|read| *read > 0)?;
        bytes.extend_from_slice(&chunk[..read]);
    }
    Some(HttpRequest {
        method,
        path,
        headers,
        body: bytes[head_end..head_end + length].to_vec(),
    })
}
