//! A recording stub backend, a server on a socket in a temp dir, and a raw
//! HTTP/1.1 client, shared by the integration tests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_api::{serve, ApiError, Backend, Filters, ServeError};
use bollard_stubs::models::{
    IpamStatus, NetworkCreateRequest, NetworkCreateResponse, NetworkInspect, NetworkPruneResponse,
    NetworkStatus, SystemInfo, SystemVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const BRIDGE_ID: &str = "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566";
pub const CREATED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A backend call as the stub saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Version,
    Info,
    NetworkList(Filters),
    NetworkInspect(String),
    NetworkCreate(Box<NetworkCreateRequest>),
    NetworkRemove(String),
    NetworkPrune(Filters),
}

/// Records every call. Names pick failures: `missing` is not found, `taken`
/// already exists, `bridge` is predefined, `busy` is in use, and
/// `kind-<name>` fails with that error kind.
#[derive(Default)]
pub struct StubBackend {
    calls: Mutex<Vec<Call>>,
}

impl StubBackend {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

pub fn network(name: &str, id: &str) -> NetworkInspect {
    NetworkInspect {
        name: Some(name.to_owned()),
        id: Some(id.to_owned()),
        scope: Some("local".to_owned()),
        driver: Some("bridge".to_owned()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(false),
        internal: Some(false),
        attachable: Some(false),
        ingress: Some(false),
        config_only: Some(false),
        options: Some(HashMap::new()),
        labels: Some(HashMap::new()),
        containers: Some(HashMap::new()),
        // Set so tests can check the HTTP layer removes it (API 1.52+).
        status: Some(NetworkStatus {
            ipam: Some(IpamStatus::default()),
        }),
        ..Default::default()
    }
}

fn error_for(name: &str) -> Option<ApiError> {
    Some(match name {
        "missing" => ApiError::not_found(format!("network {name} not found")),
        "kind-invalid" => ApiError::invalid_parameter("bad value"),
        "kind-forbidden" => ApiError::forbidden("not allowed"),
        "kind-notfound" => ApiError::not_found("no such thing"),
        "kind-conflict" => ApiError::conflict("conflicts"),
        "kind-notimplemented" => ApiError::not_implemented("not in berth"),
        "kind-unavailable" => ApiError::unavailable("try later"),
        "kind-internal" => ApiError::internal("it broke"),
        _ => return None,
    })
}

impl Backend for StubBackend {
    async fn version(&self) -> Result<SystemVersion, ApiError> {
        self.record(Call::Version);
        Ok(SystemVersion {
            version: Some("0.1.0".to_owned()),
            // Deliberately wrong: the HTTP layer must overwrite both.
            api_version: Some("9.99".to_owned()),
            min_api_version: Some("0.1".to_owned()),
            os: Some("linux".to_owned()),
            arch: Some("amd64".to_owned()),
            ..Default::default()
        })
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        self.record(Call::Info);
        Ok(SystemInfo {
            name: Some("stub-host".to_owned()),
            ..Default::default()
        })
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        self.record(Call::NetworkList(filters));
        Ok(vec![
            network("bridge", BRIDGE_ID),
            network("web", CREATED_ID),
        ])
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        self.record(Call::NetworkInspect(id_or_name.clone()));
        match error_for(&id_or_name) {
            Some(err) => Err(err),
            None => Ok(network(&id_or_name, CREATED_ID)),
        }
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        let name = req.name.clone();
        self.record(Call::NetworkCreate(Box::new(req)));
        if name == "taken" {
            return Err(ApiError::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        Ok(NetworkCreateResponse {
            id: CREATED_ID.to_owned(),
            warning: String::new(),
        })
    }

    async fn network_remove(&self, id_or_name: String) -> Result<(), ApiError> {
        self.record(Call::NetworkRemove(id_or_name.clone()));
        match id_or_name.as_str() {
            "bridge" => Err(ApiError::forbidden(
                "bridge is a pre-defined network and cannot be removed",
            )),
            "busy" => Err(ApiError::conflict(
                "error while removing network: network busy has active endpoints",
            )),
            other => error_for(other).map_or(Ok(()), Err),
        }
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        self.record(Call::NetworkPrune(filters));
        Ok(NetworkPruneResponse {
            networks_deleted: Some(vec!["old".to_owned()]),
        })
    }
}

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

/// A response as it was on the wire; header names keep their case.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn parse(raw: &[u8]) -> RawResponse {
        let text = String::from_utf8(raw.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        RawResponse {
            status: status.parse().unwrap(),
            headers,
            body: body.to_owned(),
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
