//! Container and exec endpoints, with docker 28.2's query spelling. Bodies
//! are decoded leniently (as Go does: a missing or null field is its zero
//! value), so only the fields a command uses must be present.

use http::Method;
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::raw::{self, Conn, Query, ReqBody};
use super::{segment, Api, ApiError};

/// What `POST /containers/{id}/wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitCondition {
    /// The daemon's default (`docker wait`, `docker attach`).
    NotRunning,
    NextExit,
    Removed,
}

/// An open wait: the daemon has registered it (its answer's head is in),
/// and its body arrives when the condition is met.
pub struct WaitHandle {
    body: Incoming,
}

impl WaitHandle {
    /// The exit code, or the daemon's error (`Error.Message`) or the
    /// transport's.
    pub async fn result(self) -> Result<i64, WaitError> {
        let body = raw::read_all(self.body)
            .await
            .map_err(|e| WaitError::Transport(e.to_string()))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| WaitError::Transport(format!("invalid wait response: {e}")))?;
        match v["Error"]["Message"].as_str() {
            Some(message) if !message.is_empty() => Err(WaitError::Daemon(message.to_string())),
            _ => Ok(v["StatusCode"].as_i64().unwrap_or(0)),
        }
    }
}

#[derive(Debug)]
pub enum WaitError {
    /// The wait's own answer carried an error.
    Daemon(String),
    /// The answer never came whole.
    Transport(String),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Daemon(m) | WaitError::Transport(m) => f.write_str(m),
        }
    }
}

/// How to start an exec (`POST /exec/{id}/start`).
pub struct ExecStart {
    pub detach: bool,
    pub tty: bool,
    /// `[height, width]` of the terminal, sent with a TTY.
    pub console_size: Option<[u16; 2]>,
}

impl ExecStart {
    fn body(&self) -> Value {
        let mut body = json!({"Detach": self.detach, "Tty": self.tty});
        if let Some(size) = self.console_size {
            body["ConsoleSize"] = json!(size);
        }
        body
    }
}

fn json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Transport(format!("invalid response from daemon: {e}")))
}

impl Api {
    /// `POST /containers/create`: the new id and the daemon's warnings.
    pub async fn create_container(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<(String, Vec<String>), ApiError> {
        let query = Query::new().non_empty("name", name);
        let v = json(
            &self
                .call(Method::POST, "/containers/create", query, Some(body))
                .await?,
        )?;
        let warnings = v["Warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect();
        Ok((v["Id"].as_str().unwrap_or_default().to_string(), warnings))
    }

    /// `GET /containers/{id}/json` exactly as the daemon sent it.
    pub async fn inspect_container_raw(
        &self,
        reference: &str,
        size: bool,
    ) -> Result<String, ApiError> {
        let path = format!("/containers/{}/json", segment(reference));
        self.get_text(&path, Query::new().flag("size", size)).await
    }

    /// `GET /containers/{id}/json`, decoded.
    pub async fn inspect_container(&self, reference: &str) -> Result<Value, ApiError> {
        json(
            self.inspect_container_raw(reference, false)
                .await?
                .as_bytes(),
        )
    }

    /// `GET /containers/json`.
    pub async fn list_containers(&self, query: Query) -> Result<Vec<Value>, ApiError> {
        let v = json(
            &self
                .call(Method::GET, "/containers/json", query, None)
                .await?,
        )?;
        Ok(match v {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }

    /// `POST /containers/{id}/{action}` with no body and nothing to read
    /// (`start`, `stop`, `restart`, `kill`, `resize`).
    pub async fn container_action(
        &self,
        reference: &str,
        action: &str,
        query: Query,
    ) -> Result<(), ApiError> {
        let path = format!("/containers/{}/{action}", segment(reference));
        self.call(Method::POST, &path, query, None).await.map(drop)
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(&self, reference: &str, query: Query) -> Result<(), ApiError> {
        let path = format!("/containers/{}", segment(reference));
        self.call(Method::DELETE, &path, query, None)
            .await
            .map(drop)
    }

    /// Opens `POST /containers/{id}/wait`; returns once the daemon has
    /// registered it, so a start sent afterwards cannot be missed.
    pub async fn wait_container(
        &self,
        reference: &str,
        condition: WaitCondition,
    ) -> Result<WaitHandle, ApiError> {
        let query = match condition {
            WaitCondition::NotRunning => Query::new(),
            WaitCondition::NextExit => Query::new().set("condition", "next-exit"),
            WaitCondition::Removed => Query::new().set("condition", "removed"),
        };
        let path = format!("/containers/{}/wait", segment(reference));
        let body = self
            .open(Method::POST, &path, query, ReqBody::Full(None))
            .await?;
        Ok(WaitHandle { body })
    }

    /// `POST /containers/{id}/attach`, hijacked.
    pub async fn attach_container(
        &self,
        reference: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<Conn, ApiError> {
        let query = Query::new()
            .flag("stream", true)
            .flag("stdin", stdin)
            .flag("stdout", stdout)
            .flag("stderr", stderr);
        let path = format!("/containers/{}/attach", segment(reference));
        self.hijack(&path, query, None).await
    }

    /// `GET /containers/{id}/logs`, streamed.
    pub async fn container_logs(
        &self,
        reference: &str,
        query: Query,
    ) -> Result<Incoming, ApiError> {
        let path = format!("/containers/{}/logs", segment(reference));
        self.open(Method::GET, &path, query, ReqBody::Full(None))
            .await
    }

    /// `POST /containers/{id}/resize` or `POST /exec/{id}/resize`.
    pub async fn resize(
        &self,
        id: &str,
        exec: bool,
        height: u16,
        width: u16,
    ) -> Result<(), ApiError> {
        let kind = if exec { "exec" } else { "containers" };
        let path = format!("/{kind}/{}/resize", segment(id));
        let query = Query::new()
            .set("h", height.to_string())
            .set("w", width.to_string());
        self.call(Method::POST, &path, query, None).await.map(drop)
    }

    /// `POST /containers/{id}/exec`: the exec's id.
    pub async fn create_exec(&self, reference: &str, body: &Value) -> Result<String, ApiError> {
        let path = format!("/containers/{}/exec", segment(reference));
        let v = json(
            &self
                .call(Method::POST, &path, Query::new(), Some(body))
                .await?,
        )?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// `POST /exec/{id}/start` detached: nothing to stream.
    pub async fn start_exec_detached(&self, id: &str, start: &ExecStart) -> Result<(), ApiError> {
        let path = format!("/exec/{}/start", segment(id));
        self.call(Method::POST, &path, Query::new(), Some(&start.body()))
            .await
            .map(drop)
    }

    /// `POST /exec/{id}/start`, hijacked.
    pub async fn start_exec(&self, id: &str, start: &ExecStart) -> Result<Conn, ApiError> {
        let path = format!("/exec/{}/start", segment(id));
        self.hijack(&path, Query::new(), Some(&start.body())).await
    }

    /// `GET /exec/{id}/json`: the exit code.
    pub async fn exec_exit_code(&self, id: &str) -> Result<i64, ApiError> {
        let path = format!("/exec/{}/json", segment(id));
        let v = json(&self.call(Method::GET, &path, Query::new(), None).await?)?;
        Ok(v["ExitCode"].as_i64().unwrap_or(0))
    }

    /// `POST /networks/{id}/connect` or `/disconnect` with its body.
    pub async fn network_attachment(
        &self,
        network: &str,
        action: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let path = format!("/networks/{}/{action}", segment(network));
        self.call(Method::POST, &path, Query::new(), Some(body))
            .await
            .map(drop)
    }
}
