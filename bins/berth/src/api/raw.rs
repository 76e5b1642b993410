//! Raw HTTP/1.1 on the daemon's unix socket, one request per connection:
//! a body that is complete or streamed, and a response read whole, read as
//! a stream, or taken over after `101 UPGRADED` as a duplex byte stream
//! (docker's hijacked attach and exec). Every request of the container and
//! image commands goes through here, so it sends exactly docker's query
//! spelling and reads bodies as docker does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::{connect_error, daemon_error, transport_error, Api, ApiError, Host, TIMEOUT_SECS};

/// A hijacked connection: the daemon's output to read, our input to write.
pub type Conn = TokioIo<Upgraded>;

/// Go's `url.QueryEscape` keeps only these unescaped (and turns spaces
/// into `+`).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A request body: complete (its length is sent), or streamed from a
/// channel (sent chunked, as docker sends a tarball it reads from a file).
pub enum ReqBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<io::Result<Bytes>>),
}

impl ReqBody {
    fn json(value: Option<&Value>) -> ReqBody {
        ReqBody::Full(value.map(|v| Bytes::from(v.to_string())))
    }

    fn content_type(&self) -> Option<&'static str> {
        match self {
            ReqBody::Stream(_) => Some("application/x-tar"),
            ReqBody::Full(Some(_)) => Some("application/json"),
            ReqBody::Full(None) => None,
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ReqBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ReqBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ReqBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ReqBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Query parameters, encoded the way Go's `url.Values.Encode` does: keys
/// sorted, values query-escaped.
#[derive(Debug, Default)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds `key=value`; a key may repeat (`changes=…&changes=…`).
    pub fn set(mut self, key: &'static str, value: impl Into<String>) -> Query {
        self.0.push((key, value.into()));
        self
    }

    /// Adds `key=1` when `on`, as docker's client sends booleans.
    pub fn flag(self, key: &'static str, on: bool) -> Query {
        if on {
            self.set(key, "1")
        } else {
            self
        }
    }

    /// Adds `key=value` unless the value is empty.
    pub fn non_empty(self, key: &'static str, value: &str) -> Query {
        if value.is_empty() {
            self
        } else {
            self.set(key, value)
        }
    }

    fn encode(&self) -> String {
        let mut pairs = self.0.clone();
        // Stable: repeated keys keep their order, as in Go.
        pairs.sort_by_key(|(k, _)| *k);
        let escape = |s: &str| {
            utf8_percent_encode(s, QUERY)
                .to_string()
                .replace("%20", "+")
        };
        let joined: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        if joined.is_empty() {
            String::new()
        } else {
            format!("?{}", joined.join("&"))
        }
    }
}

/// Sends one request on a fresh connection and returns once the response
/// head has arrived; the body (or the upgraded connection) is the caller's.
pub(super) async fn send(
    host: &Host,
    request: Request<ReqBody>,
) -> Result<Response<Incoming>, ApiError> {
    let stream = UnixStream::connect(&host.socket)
        .await
        .map_err(|e| connect_error(host, &e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport_error(&e))?;
    // The connection task drives the socket (and hands it over on an
    // upgrade); its own errors surface through `send_request`.
    tokio::spawn(conn.with_upgrades());
    sender
        .send_request(request)
        .await
        .map_err(|e| transport_error(&e))
}

/// `exchange`, given up after the usual timeout.
pub(super) async fn within_timeout<T>(
    host: &Host,
    exchange: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(Duration::from_secs(TIMEOUT_SECS), exchange)
        .await
        .map_err(|_| {
            ApiError::Transport(format!(
                "error during connect: no answer from {} within {TIMEOUT_SECS}s",
                host.url()
            ))
        })?
}

/// The whole body of a response.
pub(super) async fn read_all(body: Incoming) -> Result<Bytes, ApiError> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| transport_error(&e))
}

pub(super) fn build(
    method: Method,
    target: &str,
    content_type: Option<&str>,
    upgrade: bool,
    body: ReqBody,
) -> Result<Request<ReqBody>, ApiError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        // HTTP/1.1 requires a Host; dockerd-style servers reject none.
        .header(header::HOST, "berth");
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    if upgrade {
        builder = builder
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp");
    }
    builder.body(body).map_err(|e| transport_error(&e))
}

/// A failed status with the daemon's message, or the response itself.
async fn checked(response: Response<Incoming>) -> Result<Response<Incoming>, ApiError> {
    let status = response.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    let body = read_all(response.into_body()).await?;
    Err(daemon_error(status, &body))
}

impl Api {
    /// `/v1.xx` + `path` + the encoded query.
    fn target(&self, path: &str, query: &Query) -> String {
        format!("/v{}{path}{}", self.version, query.encode())
    }

    /// A request whose answer is read whole (within the usual timeout);
    /// an error status becomes the daemon's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: Option<&Value>,
    ) -> Result<Bytes, ApiError> {
        let exchange = async {
            let body = self.open(method, path, query, ReqBody::json(body)).await?;
            read_all(body).await
        };
        within_timeout(&self.host, exchange).await
    }

    /// A request whose answer streams (logs, waits, import progress):
    /// returns the body once the head is in, with no timeout.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: ReqBody,
    ) -> Result<Incoming, ApiError> {
        let content_type = body.content_type();
        let request = build(
            method,
            &self.target(path, &query),
            content_type,
            false,
            body,
        )?;
        let response = checked(send(&self.host, request).await?).await?;
        Ok(response.into_body())
    }

    /// docker's hijack: `POST` with `Upgrade: tcp`; on `101` the
    /// connection becomes the container's (or exec's) stdio.
    pub async fn hijack(
        &self,
        path: &str,
        query: Query,
        body: Option<&Value>,
    ) -> Result<Conn, ApiError> {
        let body = ReqBody::json(body);
        let request = build(
            Method::POST,
            &self.target(path, &query),
            Some(body.content_type().unwrap_or("text/plain")),
            true,
            body,
        )?;
        let mut response = checked(send(&self.host, request).await?).await?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ApiError::Transport(format!(
                "the daemon did not take over the connection (status {})",
                response.status()
            )));
        }
        hyper::upgrade::on(&mut response)
            .await
            .map(TokioIo::new)
            .map_err(|e| transport_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_encode_like_go() {
        let q = Query::new()
            .flag("stream", true)
            .flag("stdin", false)
            .set("stdout", "1")
            .set("changes", "ENV A=1")
            .set("changes", "CMD [\"sh\"]")
            .non_empty("repo", "myimg:v1")
            .non_empty("tag", "");
        assert_eq!(
            q.encode(),
            "?changes=ENV+A%3D1&changes=CMD+%5B%22sh%22%5D&repo=myimg%3Av1&stdout=1&stream=1"
        );
        assert_eq!(Query::new().encode(), "");
    }
}
