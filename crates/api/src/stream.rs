//! Byte streams between clients and the backend: stdcopy framing (moby
//! `api/pkg/stdcopy`), the two halves of a hijacked attach/exec connection,
//! and a request body read as it arrives (`docker import`).
//!
//! The backend only ever sees these types, never a socket or an HTTP message:
//! it reads the client's input from [`ClientInput`], writes output tagged with
//! its [`OutputStream`] to [`ClientOutput`], and this crate frames, flushes and
//! closes.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use hyper::body::{Body, Incoming};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, Mutex};

use crate::error::ApiError;

/// Which of a process's output streams bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// stdcopy's stream ids, the first byte of a frame header. `0` (stdin) is
/// defined by stdcopy but never sent by a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Stdout = 1,
    Stderr = 2,
    /// Errors of the daemon itself, e.g. "Error grabbing logs".
    SystemErr = 3,
}

impl From<OutputStream> for FrameKind {
    fn from(stream: OutputStream) -> Self {
        match stream {
            OutputStream::Stdout => FrameKind::Stdout,
            OutputStream::Stderr => FrameKind::Stderr,
        }
    }
}

const FRAME_HEADER_LEN: usize = 8;

/// The most one frame can carry: its length field is a `u32`.
const MAX_FRAME_PAYLOAD: usize = u32::MAX as usize;

/// `data` as stdcopy frames: `[kind, 0, 0, 0, len (u32, big endian)]` and the
/// bytes. Nothing for empty `data`: an empty frame tells a reader nothing.
pub(crate) fn frame(kind: FrameKind, data: &[u8]) -> Bytes {
    let frames = data.len().div_ceil(MAX_FRAME_PAYLOAD);
    let mut out = BytesMut::with_capacity(data.len() + frames * FRAME_HEADER_LEN);
    for chunk in data.chunks(MAX_FRAME_PAYLOAD) {
        out.put_u8(kind as u8);
        out.put_bytes(0, 3);
        // `chunks` never yields more than MAX_FRAME_PAYLOAD bytes.
        out.put_u32(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
        out.extend_from_slice(chunk);
    }
    out.freeze()
}

/// What the client sends on a hijacked connection: the container's or exec
/// process's stdin.
///
/// Reads return bytes hyper had already buffered first, then the connection.
/// EOF means the client will send nothing more: it half-closed (the docker
/// CLI does when its stdin ends, which is the moment to close a `StdinOnce`
/// container's stdin), it went away, or it attached without `Upgrade: tcp`
/// (then there is no input channel at all).
pub struct ClientInput(Box<dyn AsyncRead + Send + Unpin>);

impl AsyncRead for ClientInput {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl fmt::Debug for ClientInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientInput")
    }
}

enum OutputSink {
    /// The hijacked connection (or any writer, in tests).
    Writer(Box<dyn AsyncWrite + Send + Unpin>),
    /// The body of a `200` answer to a client that did not ask to upgrade.
    Body(mpsc::Sender<Bytes>),
    Closed,
}

/// Where a process's output goes to the client. Cheap to clone, so stdout
/// and stderr can be pumped from separate tasks; each write is one whole
/// stdcopy frame, so concurrent writers never tear each other's frames.
#[derive(Clone)]
pub struct ClientOutput {
    sink: Arc<Mutex<OutputSink>>,
    multiplexed: bool,
}

impl fmt::Debug for ClientOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOutput")
            .field("multiplexed", &self.multiplexed)
            .finish_non_exhaustive()
    }
}

impl ClientOutput {
    fn new(sink: OutputSink, multiplexed: bool) -> Self {
        ClientOutput {
            sink: Arc::new(Mutex::new(sink)),
            multiplexed,
        }
    }

    /// Sends `data` from `stream` and flushes it: interactive sessions need
    /// every echo at once. Framed with stdcopy when the session is
    /// multiplexed (no TTY); raw otherwise, where `stream` is not conveyed.
    ///
    /// An error means the client is gone (or the session was closed): stop
    /// pumping output and return from the session.
    pub async fn write(&self, stream: OutputStream, data: &[u8]) -> io::Result<()> {
        self.write_as(stream.into(), data).await
    }

    pub(crate) async fn write_as(&self, kind: FrameKind, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let bytes = if self.multiplexed {
            frame(kind, data)
        } else {
            Bytes::copy_from_slice(data)
        };
        let mut sink = self.sink.lock().await;
        match &mut *sink {
            OutputSink::Writer(writer) => {
                writer.write_all(&bytes).await?;
                writer.flush().await
            }
            OutputSink::Body(sender) => sender.send(bytes).await.map_err(|_| client_gone()),
            OutputSink::Closed => Err(client_gone()),
        }
    }

    /// Ends the output: shuts the connection's write side down (the client
    /// reads EOF) or ends the response body. Later writes fail.
    pub(crate) async fn close(&self) {
        let mut sink = self.sink.lock().await;
        if let OutputSink::Writer(writer) = &mut *sink {
            if let Err(err) = writer.shutdown().await {
                tracing::debug!(error = %err, "shutting down a hijacked connection failed");
            }
        }
        *sink = OutputSink::Closed;
    }
}

fn client_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the client connection is closed")
}

/// The client's end of an attach or exec session.
#[derive(Debug)]
pub struct AttachIo {
    pub input: ClientInput,
    pub output: ClientOutput,
}

impl AttachIo {
    /// A session over any pair of byte streams: what the HTTP layer builds
    /// from a hijacked connection, and what a backend's own tests can build
    /// from `tokio::io::duplex` without HTTP. `multiplexed` selects stdcopy
    /// framing for the output.
    pub fn new(
        input: impl AsyncRead + Send + Unpin + 'static,
        output: impl AsyncWrite + Send + Unpin + 'static,
        multiplexed: bool,
    ) -> Self {
        AttachIo {
            input: ClientInput(Box::new(input)),
            output: ClientOutput::new(OutputSink::Writer(Box::new(output)), multiplexed),
        }
    }

    /// A session whose output is a response body and whose input is empty,
    /// for clients that attach without `Upgrade: tcp`.
    pub(crate) fn body_only(sender: mpsc::Sender<Bytes>, multiplexed: bool) -> Self {
        AttachIo {
            input: ClientInput(Box::new(tokio::io::empty())),
            output: ClientOutput::new(OutputSink::Body(sender), multiplexed),
        }
    }
}

type SessionFn = Box<dyn FnOnce(AttachIo) -> BoxFuture<'static, Result<(), ApiError>> + Send>;

/// What a backend does with a hijacked connection once the HTTP layer has
/// answered `101`: built by the backend after it has checked the request
/// (so refusals are still plain HTTP errors), run by the HTTP layer on its
/// own task.
///
/// The session pumps the process's output into `io.output` and, if it wants
/// stdin, `io.input` into the process. It returns when the attach is over:
/// the process exited and its output is written, the client went away (a
/// write failed), or the client detached. The HTTP layer then closes the
/// connection; the session must not keep writing after returning.
pub struct StreamSession(SessionFn);

impl StreamSession {
    pub fn new<F, Fut>(run: F) -> Self
    where
        F: FnOnce(AttachIo) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
    {
        StreamSession(Box::new(move |io| Box::pin(run(io))))
    }

    pub(crate) fn run(self, io: AttachIo) -> BoxFuture<'static, Result<(), ApiError>> {
        (self.0)(io)
    }
}

impl fmt::Debug for StreamSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamSession")
    }
}

/// A request body read as it arrives, e.g. the tarball of `docker import`.
/// EOF is the end of the body; a broken upload is an `io::Error`.
pub struct RequestBody(Box<dyn AsyncRead + Send + Unpin>);

impl RequestBody {
    /// A body from any reader, for backends' own tests.
    pub fn from_reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        RequestBody(Box::new(reader))
    }

    pub(crate) fn from_incoming(body: Incoming) -> Self {
        Self::from_reader(IncomingReader {
            body,
            pending: Bytes::new(),
        })
    }
}

impl AsyncRead for RequestBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestBody")
    }
}

/// hyper's body frames as an `AsyncRead`.
struct IncomingReader {
    body: Incoming,
    /// What is left of the last data frame.
    pending: Bytes,
}

impl AsyncRead for IncomingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let take = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(take));
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(io::Error::other(err))),
                // Trailers carry no data; keep reading.
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.pending = data;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn frame_header_is_kind_padding_and_big_endian_length() {
        assert_eq!(
            frame(FrameKind::Stdout, b"hi\n").as_ref(),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
        assert_eq!(
            frame(FrameKind::Stderr, &[7u8; 300]).as_ref()[..8],
            [2, 0, 0, 0, 0, 0, 1, 44]
        );
        assert_eq!(
            frame(FrameKind::SystemErr, b"x").as_ref(),
            b"\x03\x00\x00\x00\x00\x00\x00\x01x"
        );
        assert!(frame(FrameKind::Stdout, b"").is_empty());
    }

    #[tokio::test]
    async fn multiplexed_output_is_framed_and_raw_output_is_not() {
        let (client, server) = tokio::io::duplex(1024);
        let io = AttachIo::new(tokio::io::empty(), server, true);
        io.output.write(OutputStream::Stdout, b"out").await.unwrap();
        io.output.write(OutputStream::Stderr, b"err").await.unwrap();
        io.output.close().await;
        let mut received = Vec::new();
        let mut client = client;
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(
            received,
            b"\x01\x00\x00\x00\x00\x00\x00\x03out\x02\x00\x00\x00\x00\x00\x00\x03err"
        );

        let (mut client, server) = tokio::io::duplex(1024);
        let io = AttachIo::new(tokio::io::empty(), server, false);
        io.output.write(OutputStream::Stdout, b"a").await.unwrap();
        io.output.write(OutputStream::Stderr, b"b").await.unwrap();
        io.output.close().await;
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"ab");
    }

    #[tokio::test]
    async fn writes_after_close_fail() {
        let (_client, server) = tokio::io::duplex(64);
        let io = AttachIo::new(tokio::io::empty(), server, false);
        let clone = io.output.clone();
        io.output.close().await;
        let err = clone
            .write(OutputStream::Stdout, b"late")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn body_only_session_sends_chunks_and_has_no_input() {
        let (sender, mut receiver) = mpsc::channel(4);
        let mut io = AttachIo::body_only(sender, true);
        io.output.write(OutputStream::Stdout, b"x").await.unwrap();
        assert_eq!(
            receiver.recv().await.unwrap().as_ref(),
            b"\x01\x00\x00\x00\x00\x00\x00\x01x"
        );
        let mut input = Vec::new();
        io.input.read_to_end(&mut input).await.unwrap();
        assert!(input.is_empty());
        io.output.close().await;
        assert!(receiver.recv().await.is_none());
    }
}
