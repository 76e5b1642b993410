//! A server with the stub backend on a socket in a temp dir, and a raw
//! HTTP/1.1 client, shared by the integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use berth_api::{serve, ServeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use berth_api::testing::{Call, StubBackend, BRIDGE_ID, CREATED_ID};

/// `serve` running on `<tempdir>/berth.sock` with a [`StubBackend`].
pub struct TestServer {
    pub socket: PathBuf,
    pub backend: Arc<StubBackend>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
    dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("berth.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let backend = Arc::new(StubBackend::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::clone(&backend), async {
            let _ = stopped.await;
        }));
        TestServer {
            socket,
            backend,
            stop,
            task,
            dir,
        }
    }

    /// Signals shutdown and returns what `serve` returned.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.stop_keeping_dir().await.0
    }

    /// Like [`TestServer::stop`], but hands back the temp dir so the socket
    /// file outlives the server.
    pub async fn stop_keeping_dir(self) -> (Result<(), ServeError>, tempfile::TempDir) {
        let _ = self.stop.send(());
        (self.task.await.unwrap(), self.dir)
    }

    pub async fn get(&self, path: &str) -> RawResponse {
        self.request("GET", path, &[], "").await
    }

    /// Sends one request with `Connection: close` and reads the whole answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> RawResponse {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        stream
            .write_all(raw_request(method, path, headers, body, true).as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        RawResponse::parse(&raw)
    }
}

pub fn raw_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    close: bool,
) -> String {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        request.push_str("Connection: close\r\n");
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

/// A response as it was on the wire; header names keep their case. A
/// chunked body is decoded; `body` is its text, `bytes` the exact bytes.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl RawResponse {
    pub fn parse(raw: &[u8]) -> RawResponse {
        let head_end = find(raw, b"\r\n\r\n").expect("no end of head");
        let mut response = Self::parse_head(&raw[..head_end + 4]);
        let body = &raw[head_end + 4..];
        let bytes = if response
            .header("Transfer-Encoding")
            .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
        {
            decode_chunked(body)
        } else {
            body.to_vec()
        };
        response.body = String::from_utf8_lossy(&bytes).into_owned();
        response.bytes = bytes;
        response
    }

    /// The status line and headers; `head` ends with the blank line.
    pub fn parse_head(head: &[u8]) -> RawResponse {
        let text = std::str::from_utf8(head).unwrap();
        let mut lines = text.trim_end().split("\r\n");
        let mut status_line = lines.next().unwrap().splitn(3, ' ');
        let _version = status_line.next();
        let status = status_line.next().unwrap().parse().unwrap();
        let reason = status_line.next().unwrap_or_default().to_owned();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        RawResponse {
            status,
            reason,
            headers,
            body: String::new(),
            bytes: Vec::new(),
        }
    }

    /// The value of header `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.body))
    }

    /// The `message` of a Docker error body.
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap().to_owned()
    }
}

/// `value` encoded for a query string.
pub fn query_escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The payload of a complete chunked body (trailers ignored).
pub fn decode_chunked(body: &[u8]) -> Vec<u8> {
    try_decode_chunked(body).expect("incomplete chunked body")
}

/// The payload of a chunked body, or `None` if it has not all arrived.
pub fn try_decode_chunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Splits stdcopy frames into `(stream id, payload)`.
pub fn demux(mut bytes: &[u8]) -> Vec<(u8, String)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let kind = bytes[0];
        assert_eq!(&bytes[1..4], &[0, 0, 0], "frame header padding");
        let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        frames.push((
            kind,
            String::from_utf8_lossy(&bytes[8..8 + len]).into_owned(),
        ));
        bytes = &bytes[8 + len..];
    }
    frames
}

/// Reads from `stream` until the end of a response head, returning the
/// head and whatever body bytes came with it.
pub async fn read_head(stream: &mut UnixStream) -> (RawResponse, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = find(&raw, b"\r\n\r\n") {
            let rest = raw[end + 4..].to_vec();
            return (RawResponse::parse_head(&raw[..end + 4]), rest);
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "connection closed before the head: {raw:?}");
        raw.extend_from_slice(&buffer[..read]);
    }
}
