//! Requests as raw bytes, for what the generated clients cannot send:
//! malformed encodings, and messages built from descriptors at run time.

use bytes::{Buf, BufMut};
use tonic::transport::Channel;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};
use trellis_tests::TestApp;

/// Sends raw bytes as a request message, as a broken client might.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

pub async fn raw_call(app: &TestApp, path: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let channel = app
        .channel()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    raw_unary(channel, path, body).await
}

fn path_of(path: &str) -> Result<PathAndQuery, Status> {
    PathAndQuery::try_from(path.to_owned()).map_err(|err| Status::invalid_argument(err.to_string()))
}

fn client(channel: Channel) -> tonic::client::Grpc<Channel> {
    tonic::client::Grpc::new(channel)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX)
}

/// One unary call of `path` with `body` as its request message.
pub async fn raw_unary(channel: Channel, path: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = client(channel);
    grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
    let response = grpc.unary(tonic::Request::new(body), path_of(path)?, RawCodec).await?;
    Ok(response.into_inner())
}

/// A server-streaming call: its first message, or its status; `Ok(None)`
/// when the stream is open and quiet after `wait` (a watcher following).
pub async fn raw_first_of_stream(
    channel: Channel,
    path: &str,
    body: Vec<u8>,
    wait: std::time::Duration,
) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = client(channel);
    grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
    let response = grpc
        .server_streaming(tonic::Request::new(body), path_of(path)?, RawCodec)
        .await?;
    let mut stream = response.into_inner();
    match tokio::time::timeout(wait, stream.message()).await {
        Ok(message) => message,
        Err(_) => Ok(None),
    }
}

/// A client-streaming call with one request message.
pub async fn raw_client_stream(channel: Channel, path: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = client(channel);
    grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
    let response = grpc
        .client_streaming(
            tonic::Request::new(futures::stream::iter(vec![body])),
            path_of(path)?,
            RawCodec,
        )
        .await?;
    Ok(response.into_inner())
}
