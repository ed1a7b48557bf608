//! Request and response bodies as the guard wraps them: a request body
//! that hands tonic only whole gRPC frames it has checked, and a response
//! body that holds the request's place among those in flight until the
//! answer (a stream, perhaps) has ended.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use prost_reflect::MessageDescriptor;
use tonic::Status;

use super::{Ticket, wire};

/// The gRPC frame header: a compression flag and a big-endian length.
const HEADER_BYTES: usize = 5;

/// A request body passed on frame by frame: each frame's length is held to
/// the message limit before any of it is buffered (RESOURCE_EXHAUSTED), and
/// each uncompressed message is checked against its descriptor
/// (INVALID_ARGUMENT). The error reaches the handler as the `Status` tonic
/// finds in the body error.
pub struct CheckedBody {
    inner: tonic::body::Body,
    pending: BytesMut,
    descriptor: Option<MessageDescriptor>,
    max_message_bytes: usize,
    failed: bool,
}

impl CheckedBody {
    pub fn new(
        inner: tonic::body::Body,
        descriptor: Option<MessageDescriptor>,
        max_message_bytes: usize,
    ) -> CheckedBody {
        CheckedBody {
            inner,
            pending: BytesMut::new(),
            descriptor,
            max_message_bytes,
            failed: false,
        }
    }

    /// The next whole frame in `pending`, checked, if one has arrived.
    fn next_frame(&mut self) -> Result<Option<Bytes>, Status> {
        if self.pending.len() < HEADER_BYTES {
            return Ok(None);
        }
        let compressed = self.pending[0] != 0;
        let mut length_bytes = &self.pending[1..HEADER_BYTES];
        let length = length_bytes.get_u32() as usize;
        if length > self.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "request message of {length} bytes is over the server's limit of {} bytes",
                self.max_message_bytes
            )));
        }
        if self.pending.len() < HEADER_BYTES + length {
            self.pending.reserve(HEADER_BYTES + length - self.pending.len());
            return Ok(None);
        }
        let frame = self.pending.split_to(HEADER_BYTES + length).freeze();
        // Compressed frames are not accepted (no encoding is enabled):
        // tonic refuses them itself.
        if !compressed && let Some(descriptor) = &self.descriptor {
            wire::check_message(descriptor, &frame[HEADER_BYTES..]).map_err(|problem| match problem {
                wire::WireProblem::ControlCharacter { field } => {
                    let mut violations = trellis_foundation::FieldViolations::default();
                    violations.add(
                        field,
                        "must not contain control characters (NUL and the like); tab and line breaks are allowed",
                    );
                    violations.into_status()
                }
                malformed => Status::invalid_argument(malformed.to_string()),
            })?;
        }
        Ok(Some(frame))
    }
}

impl Body for CheckedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match this.next_frame() {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(Frame::data(frame)))),
                Ok(None) => {}
                Err(status) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(status)));
                }
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.pending.extend_from_slice(&data),
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                None if this.pending.is_empty() => return Poll::Ready(None),
                None => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(Status::invalid_argument(
                        "malformed request: the stream ended inside a message",
                    ))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        (self.failed || self.pending.is_empty()) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A response body that keeps its request counted as in flight (and its
/// stream slot taken) until it is dropped: after the last frame is sent,
/// or when the client goes away.
pub struct TicketedBody {
    inner: tonic::body::Body,
    _ticket: Ticket,
}

impl TicketedBody {
    pub fn new(inner: tonic::body::Body, ticket: Ticket) -> TicketedBody {
        TicketedBody { inner, _ticket: ticket }
    }
}

impl Body for TicketedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
