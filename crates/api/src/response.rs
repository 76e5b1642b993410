//! Building responses: JSON documents, dockerd's error bodies, and the headers
//! dockerd puts on every response (moby `daemon/server/middleware/version.go`,
//! `experimental.go`, `daemon/server/httputils/httputils.go` `WriteJSON`).

use std::convert::Infallible;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde::Serialize;

use crate::error::ApiError;
use crate::version::API_VERSION;

/// The body type of every response: a whole document or a stream (logs,
/// wait, attach without upgrade, progress). Boxed so handlers can return
/// either; `Unsync` because backend streams need only be `Send`. Bodies never
/// fail: errors after the status line went out are reported in band, as
/// dockerd does.
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) const CONTENT_TYPE_JSON: &str = "application/json";
/// What Go's `http.Error` and dockerd's ping send.
pub(crate) const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
/// Attach, exec and logs output that is not multiplexed (moby `types.MediaTypeRawStream`).
pub(crate) const CONTENT_TYPE_RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// Output framed by stdcopy (moby `types.MediaTypeMultiplexedStream`).
pub(crate) const CONTENT_TYPE_MULTIPLEXED_STREAM: &str =
    "application/vnd.docker.multiplexed-stream";

/// `Server`: dockerd sends `Docker/<version> (<os>)`; berth names itself.
const SERVER_HEADER_VALUE: &str = concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// How an error body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    /// `{"message": "..."}`, the normal case.
    Json,
    /// The bare message as text: dockerd answers clients that asked for an API
    /// version below its minimum this way, because such old clients print a
    /// JSON error verbatim instead of its message.
    PlainText,
}

pub(crate) fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// A `200` whose body is `chunks`, sent as they come (chunked encoding).
/// hyper writes and flushes the status line and headers before the first
/// chunk exists, which is what clients waiting on `wait` or `logs -f` need.
pub(crate) fn streaming_response(
    content_type: &'static str,
    chunks: impl Stream<Item = Bytes> + Send + 'static,
) -> Response<ResponseBody> {
    let body = StreamBody::new(chunks.map(|chunk| Ok(Frame::data(chunk))));
    let mut response = Response::new(body.boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A bodiless response (e.g. 204 after a delete): no `Content-Type`.
pub(crate) fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    response(status, Bytes::new())
}

pub(crate) fn text_response(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = response(status, text);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    response
}

/// `value` as JSON followed by a newline, as Go's `json.Encoder` writes it.
pub(crate) fn json_line<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    let mut body = serde_json::to_vec(value)
        .map_err(|err| ApiError::internal(format!("encoding the response failed: {err}")))?;
    body.push(b'\n');
    Ok(body)
}

/// `value` as JSON, followed by a newline like Go's `json.Encoder` writes.
pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<ResponseBody>, ApiError> {
    let mut response = response(status, json_line(value)?);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    Ok(response)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

/// The response for `err`: its kind's status and the message in `format`.
pub(crate) fn error_response(err: &ApiError, format: ErrorFormat) -> Response<ResponseBody> {
    let status = err.status();
    if status == StatusCode::NOT_MODIFIED {
        // A 304 carries no body (Go's net/http drops the one dockerd writes).
        return empty_response(status);
    }
    match format {
        ErrorFormat::Json => {
            json_response(
                status,
                &ErrorBody {
                    message: &err.message,
                },
            )
            // Serialising a struct holding one string cannot fail; should it
            // ever, the client still gets the status and the message.
            .unwrap_or_else(|_| plain_text_error(status, &err.message))
        }
        ErrorFormat::PlainText => plain_text_error(status, &err.message),
    }
}

/// What Go's `http.Error` writes.
fn plain_text_error(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut response = response(status, format!("{message}\n"));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET`/`HEAD /_ping` (moby `daemon/server/router/system/system_routes.go`
/// `pingHandler`). `Builder-Version: 1`: berth builds with the classic
/// builder, so the docker CLI sends `POST /build` rather than look for
/// BuildKit.
pub(crate) fn ping_response(head: bool) -> Response<ResponseBody> {
    let mut response = if head {
        let mut response = empty_response(StatusCode::OK);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        response
    } else {
        text_response(StatusCode::OK, "OK")
    };
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("swarm"),
        HeaderValue::from_static("inactive"),
    );
    headers.insert(
        HeaderName::from_static("builder-version"),
        HeaderValue::from_static("1"),
    );
    response
}

/// Headers dockerd sends on every response. Clients read `Api-Version` to
/// negotiate the version they use, and `Ostype` to pick platform defaults.
pub(crate) fn insert_daemon_headers(headers: &mut HeaderMap) {
    headers.insert(SERVER, HeaderValue::from_static(SERVER_HEADER_VALUE));
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(response: Response<ResponseBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_error_is_message_object_with_kind_status() {
        let response = error_response(&ApiError::conflict("in use"), ErrorFormat::Json);
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_JSON);
        assert_eq!(body_text(response).await, "{\"message\":\"in use\"}\n");
    }

    #[tokio::test]
    async fn plain_text_error_is_bare_message() {
        let response = error_response(
            &ApiError::invalid_parameter("too old"),
            ErrorFormat::PlainText,
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_TEXT);
        assert_eq!(body_text(response).await, "too old\n");
    }

    #[tokio::test]
    async fn not_modified_has_no_body() {
        let response = error_response(&ApiError::not_modified("running"), ErrorFormat::Json);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert!(response.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(body_text(response).await, "");
    }

    #[tokio::test]
    async fn streaming_response_yields_chunks_in_order() {
        let chunks = futures::stream::iter([Bytes::from("a"), Bytes::from("b")]);
        let response = streaming_response(CONTENT_TYPE_JSON, chunks);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_JSON);
        assert_eq!(body_text(response).await, "ab");
    }

    #[test]
    fn server_header_names_berth() {
        let mut headers = HeaderMap::new();
        insert_daemon_headers(&mut headers);
        let server = headers[SERVER].to_str().unwrap();
        assert!(server.starts_with("berth/"), "{server}");
        assert!(server.ends_with(" (linux)"), "{server}");
        assert_eq!(headers["api-version"], API_VERSION);
    }
}
