//! Accepted connections, bounded: at most `max_connections` open at once
//! (one more is closed as soon as it is accepted), and a connection with no
//! request in flight for `idle_timeout` is closed, so clients that connect
//! and do nothing cannot hold the server's memory. A connection's requests
//! are counted by the guard through the [`ConnectionInfo`] tonic puts in
//! each request's extensions.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::Connected;
use tracing::warn;

/// What the guard knows of a request's connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    activity: Arc<Activity>,
}

#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened).
    idle_since: Mutex<Instant>,
}

impl ConnectionInfo {
    pub fn request_started(&self) {
        self.activity.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    pub fn request_ended(&self) {
        if self.activity.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && let Ok(mut idle_since) = self.activity.idle_since.lock()
        {
            *idle_since = Instant::now();
        }
    }

    /// When the connection will have been idle for `timeout`, or `None`
    /// while a request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.activity.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let idle_since = self.activity.idle_since.lock().map(|since| *since).ok()?;
        Some(idle_since + timeout)
    }
}

/// A connection the server serves: the socket, its place among the open
/// connections, and its idle timer.
pub struct Connection {
    stream: TcpStream,
    info: ConnectionInfo,
    idle_timeout: Duration,
    idle_timer: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {}
            ready => return ready,
        }
        // Waiting for the client: the moment to see whether it is idle.
        loop {
            let Some(deadline) = this.info.idle_deadline(this.idle_timeout) else {
                // A request in flight: look again at the latest after a
                // full timeout (the timer is left alone while it runs, so
                // busy connections do not touch it on every read).
                if this.idle_timer.is_elapsed() {
                    this.idle_timer.as_mut().reset(Instant::now() + this.idle_timeout);
                }
                let _ = this.idle_timer.as_mut().poll(cx);
                return Poll::Pending;
            };
            if deadline <= Instant::now() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for longer than the idle timeout",
                )));
            }
            if this.idle_timer.deadline() != deadline {
                this.idle_timer.as_mut().reset(deadline);
            }
            if this.idle_timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts connections from `listener` within the limits, as a stream for
/// tonic's `serve_with_incoming_shutdown`.
pub fn accept(
    listener: TcpListener,
    max_connections: usize,
    idle_timeout: Duration,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static {
    let open = Arc::new(Semaphore::new(max_connections));
    async_stream::stream! {
        let mut refused_since_warning = 0u64;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                refused_since_warning += 1;
                if refused_since_warning == 1 || refused_since_warning.is_multiple_of(1_000) {
                    warn!(max_connections, refused = refused_since_warning, "connection limit reached; closing new connections");
                }
                drop(stream);
                continue;
            };
            refused_since_warning = 0;
            // Without nodelay a response written in two parts waits out
            // delayed ACKs (about 40 ms).
            if let Err(err) = stream.set_nodelay(true) {
                warn!(error = %err, "setting TCP_NODELAY failed");
            }
            let now = Instant::now();
            yield Ok(Connection {
                stream,
                info: ConnectionInfo {
                    activity: Arc::new(Activity {
                        in_flight: AtomicUsize::new(0),
                        idle_since: Mutex::new(now),
                    }),
                },
                idle_timeout,
                idle_timer: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
                _permit: permit,
            });
        }
    }
}
