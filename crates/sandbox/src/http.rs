//! A minimal HTTP/1.0 client for the Engine API on a unix socket: one
//! connection per request, closed by the server after its reply, so timing
//! a request times the daemon, not a client library.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::{io, Error, Result};

/// Longest a single API call may take (a 1,000-port start on dockerd is slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON (`null` when empty).
    pub fn json(&self) -> Result<Value> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|e| Error::BadReply {
            request: format!("parse reply {:?}", self.body),
            detail: e.to_string(),
        })
    }

    /// Errors unless the status is 2xx.
    pub fn ok(self, what: &str) -> Result<Reply> {
        if !(200..300).contains(&self.status) {
            return Err(Error::Status {
                what: what.to_owned(),
                status: self.status,
                body: self.body.trim().to_owned(),
            });
        }
        Ok(self)
    }
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<Reply> {
        let request = format!("{method} {path}");
        let mut stream = UnixStream::connect(&self.socket)
            .map_err(io(format!("connect to {}", self.socket.display())))?;
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(REQUEST_TIMEOUT)))
            .map_err(io(format!("{request}: set timeouts")))?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(io(format!("send {request}")))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(io(format!("read the reply to {request}")))?;
        parse_response(&raw).map_err(|detail| Error::BadReply { request, detail })
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        self.request("GET", path, b"", "application/json")
    }

    /// POST with a JSON body; `null` sends no body at all (as the docker
    /// CLI does for start), so the server never closes on unread input.
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.request("POST", path, &bytes, "application/json")
    }

    pub fn delete(&self, path: &str) -> Result<Reply> {
        self.request("DELETE", path, b"", "application/json")
    }

    /// Whether the daemon answers `/_ping` with 200.
    pub fn ping(&self) -> bool {
        matches!(self.get("/_ping"), Ok(r) if r.status == 200)
    }
}

fn parse_response(raw: &[u8]) -> Result<Reply, String> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!("no complete HTTP header in {} bytes", raw.len()));
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status code")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(out);
        };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        body = &body[eol + 2..];
        if size == 0 || body.len() < size {
            out.extend_from_slice(&body[..size.min(body.len())]);
            return Ok(out);
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let r = parse_response(b"HTTP/1.0 201 Created\r\nA: b\r\n\r\n{\"Id\":\"x\"}").unwrap();
        assert_eq!((r.status, r.body.as_str()), (201, "{\"Id\":\"x\"}"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, "abcde");
    }
}
