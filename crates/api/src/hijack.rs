//! Taking over a connection for attach and exec start, as dockerd's
//! `postContainersAttach` and `postContainerExecStart` do (moby
//! `daemon/server/router/container/container_routes.go`, `exec.go`).
//!
//! dockerd hijacks the TCP/unix connection and writes the status line itself:
//! `HTTP/1.1 101 UPGRADED` with `Connection: Upgrade`, `Upgrade: tcp` when the
//! client sent `Upgrade` (every docker CLI and docker-py does), else a bare
//! `HTTP/1.1 200 OK`, then raw bytes both ways. hyper can only hand over a
//! connection after a `101`, so the `200` form is served as a streaming body:
//! output reaches such clients, but their input cannot (hyper would parse it
//! as the next request); the session sees their input as empty.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use crate::response::{
    empty_response, streaming_response, ResponseBody, CONTENT_TYPE_MULTIPLEXED_STREAM,
    CONTENT_TYPE_RAW_STREAM,
};
use crate::stream::{AttachIo, FrameKind, StreamSession};
use crate::version::ApiVersion;

/// Since this API version an upgraded non-TTY stream says it is multiplexed
/// in its `Content-Type`.
const MULTIPLEXED_CONTENT_TYPE_SINCE: &str = "1.42";

/// How many output chunks may wait for a slow client of the non-upgraded
/// form before the session's writes wait too.
const BODY_CHANNEL_CAPACITY: usize = 32;

/// What happens to an error a session returns after the connection is
/// handed over, per dockerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionErrors {
    /// Logged only (attach).
    Log,
    /// Also written to the client's stdout as `<message>\r\n` (exec start).
    ToClient,
}

/// A connection that may be taken over once the handler has decided to.
/// Prepared before the request body is consumed, because hyper's upgrade
/// handle lives in the request.
pub(crate) struct Hijack {
    upgrade: Option<OnUpgrade>,
}

impl Hijack {
    pub(crate) fn prepare(request: &mut Request<Incoming>) -> Self {
        // moby tests only that an `Upgrade` header is present; hyper upgrades
        // HTTP/1.1 connections only.
        let wants_upgrade =
            request.headers().contains_key(UPGRADE) && request.version() == Version::HTTP_11;
        Hijack {
            upgrade: wants_upgrade.then(|| hyper::upgrade::on(request)),
        }
    }

    /// The response that hands the connection to `session`, which runs on
    /// its own task once hyper has sent the response. `multiplexed` frames
    /// the output with stdcopy.
    pub(crate) fn respond(
        self,
        session: StreamSession,
        multiplexed: bool,
        api_version: &ApiVersion,
        errors: SessionErrors,
    ) -> Response<ResponseBody> {
        match self.upgrade {
            Some(upgrade) => {
                tokio::spawn(run_upgraded(upgrade, session, multiplexed, errors));
                let content_type =
                    if multiplexed && !api_version.is_below(MULTIPLEXED_CONTENT_TYPE_SINCE) {
                        CONTENT_TYPE_MULTIPLEXED_STREAM
                    } else {
                        CONTENT_TYPE_RAW_STREAM
                    };
                upgrade_response(content_type)
            }
            None => {
                let (sender, receiver) = mpsc::channel(BODY_CHANNEL_CAPACITY);
                let io = AttachIo::body_only(sender, multiplexed);
                tokio::spawn(run_session(session, io, errors));
                // dockerd's non-upgraded answer always says raw-stream.
                streaming_response(CONTENT_TYPE_RAW_STREAM, receiver_stream(receiver))
            }
        }
    }
}

fn upgrade_response(content_type: &'static str) -> Response<ResponseBody> {
    let mut response = empty_response(StatusCode::SWITCHING_PROTOCOLS);
    // dockerd's reason phrase; clients only look at the code.
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Go's HTTP client treats a 101 as a protocol switch only with both.
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    response
}

fn receiver_stream(receiver: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}

async fn run_upgraded(
    upgrade: OnUpgrade,
    session: StreamSession,
    multiplexed: bool,
    errors: SessionErrors,
) {
    match upgrade.await {
        Ok(upgraded) => {
            let (input, output) = tokio::io::split(TokioIo::new(upgraded));
            run_session(session, AttachIo::new(input, output, multiplexed), errors).await;
        }
        // The client went away before the 101 reached it.
        Err(err) => tracing::debug!(error = %err, "connection upgrade failed"),
    }
}

async fn run_session(session: StreamSession, io: AttachIo, errors: SessionErrors) {
    let output = io.output.clone();
    if let Err(err) = session.run(io).await {
        tracing::warn!(error = %err, "attached session failed");
        if errors == SessionErrors::ToClient {
            let text = format!("{err}\r\n");
            if let Err(write_err) = output.write_as(FrameKind::Stdout, text.as_bytes()).await {
                tracing::debug!(error = %write_err, "reporting a session error to the client failed");
            }
        }
    }
    output.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::stream::OutputStream;
    use tokio::io::AsyncReadExt;

    #[test]
    fn upgrade_response_is_dockers_101() {
        let response = upgrade_response(CONTENT_TYPE_RAW_STREAM);
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()[CONNECTION], "Upgrade");
        assert_eq!(response.headers()[UPGRADE], "tcp");
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_RAW_STREAM);
        assert_eq!(
            response
                .extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|reason| reason.as_bytes().to_vec()),
            Some(b"UPGRADED".to_vec())
        );
    }

    #[tokio::test]
    async fn session_errors_reach_the_client_only_when_asked_and_output_closes() {
        for (errors, expected) in [
            (SessionErrors::Log, b"out".to_vec()),
            (
                SessionErrors::ToClient,
                b"\x01\x00\x00\x00\x00\x00\x00\x03out\x01\x00\x00\x00\x00\x00\x00\x06boom\r\n"
                    .to_vec(),
            ),
        ] {
            let (mut client, server) = tokio::io::duplex(1024);
            let (_, write_half) = tokio::io::split(server);
            let multiplexed = errors == SessionErrors::ToClient;
            let io = AttachIo::new(tokio::io::empty(), write_half, multiplexed);
            let session = StreamSession::new(|io: AttachIo| async move {
                io.output
                    .write(OutputStream::Stdout, b"out")
                    .await
                    .map_err(|err| ApiError::internal(err.to_string()))?;
                Err(ApiError::conflict("boom"))
            });
            run_session(session, io, errors).await;
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            assert_eq!(received, expected, "{errors:?}");
        }
    }
}
