//! A fake berthd: a tokio task on a unix socket in a temp dir that speaks
//! enough of the Engine API for the CLI's commands, with containers whose
//! "processes" are scripted by their command (`echo`, `cat`, `fail N`, …),
//! hijacked attach and exec streams, waits that answer when a container
//! exits, and a log of every request. The same fake serves the real docker
//! CLI, so the two clients can be compared byte for byte.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, watch};

const NETWORKS: &str = r#"[
 {"Name":"bridge","Id":"f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566","Created":"2024-05-01T10:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"net10","Id":"aa11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899","Created":"2024-05-02T11:22:33Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"host","Id":"d9ed8ed6e0f5e2c08d0a6f4a1b7c3e2f10f1e2d3c4b5a69788796a5b4c3d2e1f","Created":"2024-05-01T10:00:00Z","Scope":"local","Driver":"host","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"net9","Id":"bb11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899","Created":"2024-05-02T11:22:33Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}}
]"#;

/// Field order and an unknown field, both of which inspect must keep.
pub const BRIDGE: &str = r#"{"Name":"bridge","Id":"f2de39df4171","Zeta":{"b":1,"a":[]},"IPAM":{"Driver":"default","Config":[{"Subnet":"172.17.0.0/16"}]}}"#;

pub const CREATED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub const BUSYBOX_ID: &str =
    "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eb23b3d0f5d9bb2f7d9a1f3c5c2a11";

/// `ps` fixtures: published, exposed, ranged and IPv6 ports, a legacy link
/// name, an image given by id, a long command, labels.
fn fixture_containers(now: i64) -> Vec<Value> {
    vec![
        json!({"Id": "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00998877665544332211",
               "Names": ["/web"], "Image": "nginx:latest",
               "ImageID": "sha256:aa00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "nginx -g 'daemon off;'", "Created": now - 120,
               "Ports": [
                   {"PrivatePort": 9000, "Type": "udp"},
                   {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7001, "PublicPort": 7001, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7000, "PublicPort": 7000, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7002, "PublicPort": 7002, "Type": "tcp"},
                   {"IP": "127.0.0.1", "PrivatePort": 6000, "PublicPort": 5000, "Type": "tcp"},
                   {"PrivatePort": 9001, "Type": "udp"},
                   {"PrivatePort": 9003, "Type": "udp"}
               ],
               "Labels": {"tier": "front", "app": "shop"}, "State": "running",
               "Status": "Up 2 minutes",
               "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
               "Mounts": []}),
        json!({"Id": "9a8b7c6d5e4f00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/db", "/web/db"],
               "Image": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "ImageID": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "sh -c 'while true; do sleep 1; done'", "Created": now - 7200,
               "Ports": [], "Labels": {}, "State": "exited",
               "Status": "Exited (0) 3 seconds ago",
               "NetworkSettings": {"Networks": {}}, "Mounts": []}),
        json!({"Id": "5e5e5e5e5e5e00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/quiet_turing"], "Image": "docker.io/library/busybox:latest",
               "ImageID": BUSYBOX_ID, "Command": "", "Created": now - 4 * 86400,
               "Ports": null, "Labels": null, "State": "created", "Status": "Created",
               "NetworkSettings": {"Networks": {"net10": {"IPAddress": ""}}}, "Mounts": []}),
    ]
}

fn fixture_images(now: i64) -> Value {
    json!([
        {"Id": BUSYBOX_ID, "ParentId": "", "RepoTags": ["busybox:latest"], "RepoDigests": [],
         "Created": now - 21 * 86400, "Size": 4261550, "SharedSize": -1, "Labels": null,
         "Containers": -1},
        {"Id": "sha256:0c0c0c0c0c0c1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d",
         "ParentId": "", "RepoTags": ["app:v1", "app:v2"], "RepoDigests": [],
         "Created": now - 3 * 3600, "Size": 123456789, "SharedSize": -1, "Labels": {},
         "Containers": -1},
        {"Id": "sha256:dadadadadada3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e",
         "ParentId": "", "RepoTags": [], "RepoDigests": [], "Created": now - 90 * 86400,
         "Size": 999, "SharedSize": -1, "Labels": null, "Containers": -1}
    ])
}

const FIXTURE_INSPECT: &str = r#"{"Id":"3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00998877665544332211","Name":"/web","Zeta":1,"State":{"Status":"running","Running":true,"ExitCode":0},"Config":{"Tty":false,"OpenStdin":false,"Labels":{"tier":"front"}},"HostConfig":{"AutoRemove":false,"NetworkMode":"bridge"},"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"443/tcp":null,"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],"7000/tcp":[{"HostIp":"0.0.0.0","HostPort":"7000"}],"10000/tcp":[{"HostIp":"0.0.0.0","HostPort":"10000"}]}}}"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// A chunk of a container's output: the stdcopy stream number and bytes.
type Chunk = (u8, Vec<u8>);

/// What a running container shares with its attach sessions.
struct Io {
    /// Output as it is produced; `None` ends every attach.
    out: broadcast::Sender<Option<Chunk>>,
    stdin_tx: mpsc::UnboundedSender<Option<Vec<u8>>>,
    stdin_rx: Mutex<Option<mpsc::UnboundedReceiver<Option<Vec<u8>>>>>,
    /// `Some(code)` once the process has exited.
    exit: watch::Sender<Option<i64>>,
    removed: watch::Sender<bool>,
    /// Set to the exit code a kill imposes.
    kill: watch::Sender<Option<i64>>,
}

impl Io {
    fn new() -> Arc<Io> {
        let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
        Arc::new(Io {
            out: broadcast::channel(1024).0,
            stdin_tx,
            stdin_rx: Mutex::new(Some(stdin_rx)),
            exit: watch::channel(None).0,
            removed: watch::channel(false).0,
            kill: watch::channel(None).0,
        })
    }
}

struct Ctr {
    id: String,
    name: String,
    created: i64,
    /// The `POST /containers/create` body.
    body: Value,
    running: bool,
    started: bool,
    exit_code: i64,
    logs: Vec<Chunk>,
    io: Arc<Io>,
}

impl Ctr {
    fn config(&self, key: &str) -> &Value {
        &self.body[key]
    }

    fn tty(&self) -> bool {
        self.config("Tty").as_bool().unwrap_or(false)
    }

    fn cmd(&self) -> Vec<String> {
        strings(self.config("Cmd"))
    }

    fn auto_remove(&self) -> bool {
        self.body["HostConfig"]["AutoRemove"]
            .as_bool()
            .unwrap_or(false)
    }

    fn ports(&self) -> Value {
        let mut ports = serde_json::Map::new();
        if let Some(exposed) = self.config("ExposedPorts").as_object() {
            for port in exposed.keys() {
                ports.insert(port.clone(), Value::Null);
            }
        }
        if let Some(bindings) = self.body["HostConfig"]["PortBindings"].as_object() {
            for (port, list) in bindings {
                let list: Vec<Value> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        let ip = b["HostIp"].as_str().filter(|s| !s.is_empty());
                        let port = b["HostPort"].as_str().filter(|s| !s.is_empty());
                        json!({"HostIp": ip.unwrap_or("0.0.0.0"), "HostPort": port.unwrap_or("32768")})
                    })
                    .collect();
                ports.insert(port.clone(), Value::Array(list));
            }
        }
        Value::Object(ports)
    }

    fn inspect(&self) -> Value {
        let status = match (self.running, self.started) {
            (true, _) => "running",
            (false, true) => "exited",
            (false, false) => "created",
        };
        // What docker and berth both send, so both CLIs print the same.
        let pick = |from: &Value, keys: &[&str]| {
            let picked: serde_json::Map<String, Value> = keys
                .iter()
                .map(|k| (k.to_string(), from[*k].clone()))
                .collect();
            Value::Object(picked)
        };
        let config = pick(
            &self.body,
            &[
                "Tty",
                "OpenStdin",
                "StdinOnce",
                "Image",
                "Cmd",
                "Env",
                "Labels",
                "User",
            ],
        );
        let host_config = pick(
            &self.body["HostConfig"],
            &[
                "AutoRemove",
                "NetworkMode",
                "PortBindings",
                "PublishAllPorts",
            ],
        );
        json!({
            "Id": self.id, "Created": "2024-05-01T10:00:00Z", "Path": self.cmd().first(),
            "Name": format!("/{}", self.name), "Image": BUSYBOX_ID,
            "State": {"Status": status, "Running": self.running, "Paused": false,
                      "Restarting": false, "ExitCode": self.exit_code},
            "Config": config, "HostConfig": host_config,
            "NetworkSettings": {"Ports": self.ports()},
        })
    }

    fn summary(&self) -> Value {
        let status = match (self.running, self.started) {
            (true, _) => "Up Less than a second".to_string(),
            (false, true) => format!("Exited ({}) Less than a second ago", self.exit_code),
            (false, false) => "Created".to_string(),
        };
        json!({"Id": self.id, "Names": [format!("/{}", self.name)],
               "Image": self.config("Image"), "ImageID": BUSYBOX_ID,
               "Command": self.cmd().join(" "), "Created": self.created, "Ports": [],
               "Labels": self.config("Labels"),
               "State": if self.running { "running" } else { "exited" },
               "Status": status, "NetworkSettings": {"Networks": {}}, "Mounts": []})
    }
}

struct ExecRec {
    id: String,
    container: String,
    body: Value,
    exit_code: Option<i64>,
}

/// What the fake records of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// The minute the fake started: every time it reports is relative to
    /// it, so two fakes started together answer alike, whatever the clock
    /// does within that minute.
    epoch: i64,
    requests: Vec<String>,
    containers: Vec<Ctr>,
    execs: Vec<ExecRec>,
    imports: Vec<Imported>,
    next: u64,
}

impl State {
    fn find(&self, reference: &str) -> Option<usize> {
        let r = reference.trim_start_matches('/');
        self.containers
            .iter()
            .position(|c| c.name == r || c.id == r)
            .or_else(|| {
                self.containers
                    .iter()
                    .position(|c| !r.is_empty() && c.id.starts_with(r))
            })
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:0>62}", self.next)
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Fake {
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
    state: Shared,
}

impl Fake {
    pub async fn start() -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        Fake::start_at(dir.path().join("berth.sock"), dir)
    }

    fn start_at(socket: PathBuf, dir: tempfile::TempDir) -> Fake {
        let listener = UnixListener::bind(&socket).expect("bind");
        let state: Shared = Arc::default();
        lock(&state).epoch = now() - now() % 60;
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Fake {
            _dir: dir,
            socket,
            state,
        }
    }

    /// Serves on a chosen path (for running the docker CLI by hand).
    pub fn start_on(socket: PathBuf) -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        let _ = std::fs::remove_file(&socket);
        Fake::start_at(socket, dir)
    }

    /// A second fake that reports the same times as this one.
    pub fn twin(&self) -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        let twin = Fake::start_at(dir.path().join("berth.sock"), dir);
        lock(&twin.state).epoch = lock(&self.state).epoch;
        twin
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// The requests since the last call.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    pub fn imports(&self) -> Vec<Imported> {
        lock(&self.state).imports.clone()
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// One parsed request; `rest` holds bytes read past its end (the start of
/// a hijacked stream).
struct Request {
    method: String,
    /// As sent, with the version prefix and query.
    target: String,
    path: String,
    query: HashMap<String, String>,
    body: Vec<u8>,
    rest: Vec<u8>,
}

async fn read_request(stream: &mut UnixStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let mut rest = buf[head_end..].to_vec();
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            while rest.len() < line_end + 2 + size + 2 {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while rest.len() < length {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        let take = length.min(rest.len());
        body = rest.drain(..take).collect();
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let (path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let query = raw_query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    // Routes ignore the version prefix, like dockerd.
    let path = match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.find('/').map_or(path, |i| &rest[i..])
        }
        _ => path,
    };
    Some(Request {
        method,
        target: target.clone(),
        path: decode(path),
        query,
        body,
        rest,
    })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .to_string()
}

/// How the fake answers one request.
enum Reply {
    Json(&'static str, String),
    Empty(&'static str),
    Wait(Arc<Io>, String),
    Hijack(Session),
    Logs(Arc<Io>, Vec<Chunk>, bool, bool, bool),
    Stream(String),
}

/// A hijacked connection and what runs on it.
enum Session {
    Attach {
        io: Arc<Io>,
        out: broadcast::Receiver<Option<Chunk>>,
        tty: bool,
        stdin: bool,
        /// The container's `StdinOnce`: the end of this attach's input
        /// closes the process's stdin.
        stdin_once: bool,
    },
    Exec {
        state: Shared,
        exec: usize,
        tty: bool,
    },
}

fn error(status: &'static str, message: &str) -> Reply {
    Reply::Json(status, json!({ "message": message }).to_string())
}

async fn serve(mut stream: UnixStream, state: Shared) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    let body_text = if req.path == "/images/create" && req.query.contains_key("fromSrc") {
        format!("<{} bytes>", req.body.len())
    } else {
        String::from_utf8_lossy(&req.body).to_string()
    };
    lock(&state).requests.push(
        format!("{} {} {body_text}", req.method, req.target)
            .trim_end()
            .to_string(),
    );
    let reply = route(&req, &state);
    let head = |status: &str, content_type: &str, extra: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nApi-Version: 1.50\r\n\
             Ostype: linux\r\nServer: fake\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    match reply {
        Reply::Json(status, text) => {
            let extra = format!("Content-Length: {}\r\n", text.len());
            let response = head(status, "application/json", &extra) + &text;
            let _ = stream.write_all(response.as_bytes()).await;
        }
        Reply::Empty(status) => {
            let response = head(status, "text/plain", "Content-Length: 0\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
        }
        Reply::Stream(text) => {
            let _ = stream
                .write_all(head("200 OK", "application/json", "").as_bytes())
                .await;
            let _ = stream.write_all(text.as_bytes()).await;
        }
        Reply::Wait(io, condition) => {
            let _ = stream
                .write_all(head("200 OK", "application/json", "").as_bytes())
                .await;
            let code = wait_for(&io, &condition).await;
            let body = format!("{{\"Error\":null,\"StatusCode\":{code}}}\n");
            let _ = stream.write_all(body.as_bytes()).await;
        }
        Reply::Logs(io, past, tty, follow, timestamps) => {
            let _ = stream
                .write_all(head("200 OK", content_type(tty), "").as_bytes())
                .await;
            let mut out = io.out.subscribe();
            for chunk in past {
                write_chunk(&mut stream, tty, timestamps, &chunk).await;
            }
            if follow && io.exit.borrow().is_none() {
                while let Ok(Some(chunk)) = out.recv().await {
                    write_chunk(&mut stream, tty, timestamps, &chunk).await;
                }
            }
        }
        Reply::Hijack(session) => {
            let tty = match &session {
                Session::Attach { tty, .. } | Session::Exec { tty, .. } => *tty,
            };
            let upgrade = head("101 UPGRADED", content_type(tty), "Upgrade: tcp\r\n")
                .replace("Connection: close", "Connection: Upgrade");
            if stream.write_all(upgrade.as_bytes()).await.is_err() {
                return;
            }
            let (read, write) = stream.into_split();
            run_session(session, read, write, req.rest).await;
            return;
        }
    }
    let _ = stream.shutdown().await;
}

fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

fn frame(tty: bool, chunk: &Chunk) -> Vec<u8> {
    if tty {
        return chunk.1.clone();
    }
    let mut out = vec![chunk.0, 0, 0, 0];
    out.extend_from_slice(&u32::try_from(chunk.1.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&chunk.1);
    out
}

async fn write_chunk<W: AsyncWriteExt + Unpin>(w: &mut W, tty: bool, stamps: bool, chunk: &Chunk) {
    let chunk = if stamps {
        let mut bytes = b"2024-05-01T10:00:00.000000000Z ".to_vec();
        bytes.extend_from_slice(&chunk.1);
        (chunk.0, bytes)
    } else {
        chunk.clone()
    };
    let _ = w.write_all(&frame(tty, &chunk)).await;
}

async fn wait_for(io: &Io, condition: &str) -> i64 {
    let mut exit = io.exit.subscribe();
    let mut removed = io.removed.subscribe();
    if condition == "removed" {
        let _ = removed.wait_for(|r| *r).await;
        return io.exit.borrow().unwrap_or(0);
    }
    if condition == "next-exit" && exit.borrow().is_some() {
        let _ = exit.wait_for(Option::is_none).await;
    }
    exit.wait_for(Option::is_some)
        .await
        .map(|c| c.unwrap_or(0))
        .unwrap_or(0)
}

fn route(req: &Request, state: &Shared) -> Reply {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let q = |k: &str| req.query.get(k).map(String::as_str).unwrap_or("");
    let truthy = |k: &str| matches!(q(k), "1" | "true" | "True");
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let now = lock(state).epoch;
    match (req.method.as_str(), segments.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Reply::Json("200 OK", "OK".into()),
        ("GET", ["networks"]) => Reply::Json("200 OK", NETWORKS.into()),
        ("POST", ["networks", "create"]) => Reply::Json(
            "201 Created",
            format!(r#"{{"Id":"{CREATED_ID}","Warning":""}}"#),
        ),
        ("POST", ["networks", "prune"]) => {
            Reply::Json("200 OK", r#"{"NetworksDeleted":["net9","net10"]}"#.into())
        }
        ("GET", ["networks", "bridge"]) => Reply::Json("200 OK", BRIDGE.into()),
        ("DELETE", ["networks", "bridge"]) => error(
            "403 Forbidden",
            "bridge is a pre-defined network and cannot be removed",
        ),
        ("DELETE", ["networks", "net9"]) => Reply::Empty("204 No Content"),
        ("POST", ["networks", net, action @ ("connect" | "disconnect")]) => {
            let container = body["Container"].as_str().unwrap_or("");
            if !NETWORKS.contains(&format!("\"Name\":\"{net}\"")) {
                error("404 Not Found", &format!("network {net} not found"))
            } else if lock(state).find(container).is_none() && container != "web" {
                error("404 Not Found", &format!("No such container: {container}"))
            } else if *action == "disconnect" && *net == "net9" {
                error(
                    "403 Forbidden",
                    &format!("container {container} is not connected to network {net}"),
                )
            } else {
                Reply::Empty("200 OK")
            }
        }
        (_, ["networks", name]) => error("404 Not Found", &format!("network {name} not found")),
        ("GET", ["containers", "json"]) => {
            let mut list = fixture_containers(now);
            let st = lock(state);
            list.extend(st.containers.iter().map(Ctr::summary));
            if !truthy("all") {
                list.retain(|c| c["State"] == "running");
            }
            Reply::Json("200 OK", Value::Array(list).to_string())
        }
        ("POST", ["containers", "create"]) => create(state, &body, q("name"), now),
        ("GET", ["images", "json"]) => Reply::Json("200 OK", fixture_images(now).to_string()),
        ("GET", ["info"]) => {
            Reply::Json("200 OK", r#"{"Swarm":{"ControlAvailable":false}}"#.into())
        }
        // docker pulls a missing image; the fake has nothing to pull and
        // says what create said, so both CLIs print the same.
        ("POST", ["images", "create"]) if !q("fromImage").is_empty() => {
            let tag = if q("tag").is_empty() {
                "latest"
            } else {
                q("tag")
            };
            let name = q("fromImage").trim_start_matches("docker.io/library/");
            error("404 Not Found", &format!("No such image: {name}:{tag}"))
        }
        ("POST", ["images", "create"]) => {
            lock(state).imports.push(Imported {
                body: req.body.clone(),
            });
            if q("repo").contains("BAD") {
                return Reply::Stream(
                    "{\"errorDetail\":{\"message\":\"invalid reference format\"},\"error\":\"invalid reference format\"}\r\n".into(),
                );
            }
            Reply::Stream(format!(
                "{{\"status\":\"sha256:{:064x}\"}}\r\n",
                req.body.len()
            ))
        }
        ("GET", ["images", rest @ ..]) if rest.last() == Some(&"json") => {
            let name = rest[..rest.len() - 1].join("/");
            if name == "busybox" || name == "busybox:latest" {
                Reply::Json(
                    "200 OK",
                    format!(
                        r#"{{"Id":"{BUSYBOX_ID}","RepoTags":["busybox:latest"],"Size":4261550}}"#
                    ),
                )
            } else {
                error("404 Not Found", &format!("No such image: {name}"))
            }
        }
        ("DELETE", ["images", rest @ ..]) => {
            let name = rest.join("/");
            match name.as_str() {
                "busybox" | "busybox:latest" => Reply::Json(
                    "409 Conflict",
                    json!({"message": format!("conflict: unable to remove repository reference \"{name}\" (must force) - container 5e5e5e5e5e5e is using its referenced image 65ad0d468eb1")}).to_string(),
                ),
                "app:v1" => Reply::Json(
                    "200 OK",
                    json!([{"Untagged": "app:v1"}]).to_string(),
                ),
                "app:v2" => Reply::Json(
                    "200 OK",
                    json!([{"Untagged": "app:v2"},
                           {"Deleted": "sha256:0c0c0c0c0c0c1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d"}])
                    .to_string(),
                ),
                _ => error("404 Not Found", &format!("No such image: {name}")),
            }
        }
        ("POST", ["exec", id, action]) => exec_action(state, id, action, &body),
        ("GET", ["exec", id, "json"]) => {
            let st = lock(state);
            match st.execs.iter().find(|e| e.id == *id) {
                Some(e) => Reply::Json(
                    "200 OK",
                    json!({"ID": e.id, "ContainerID": e.container,
                           "Running": e.exit_code.is_none(),
                           "ExitCode": e.exit_code.unwrap_or(0)})
                    .to_string(),
                ),
                None => error("404 Not Found", &format!("No such exec instance: {id}")),
            }
        }
        (method, ["containers", reference, rest @ ..]) => {
            container_route(state, method, reference, rest, req, &body)
        }
        _ => error("404 Not Found", "page not found"),
    }
}

fn create(state: &Shared, body: &Value, name: &str, now: i64) -> Reply {
    let image = body["Image"].as_str().unwrap_or("");
    if image.starts_with("nosuch") {
        let tagged = if image.contains(':') {
            image.to_string()
        } else {
            format!("{image}:latest")
        };
        return error("404 Not Found", &format!("No such image: {tagged}"));
    }
    let mode = body["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or("default");
    let builtin =
        ["default", "bridge", "host", "none"].contains(&mode) || mode.starts_with("container:");
    if !builtin && !NETWORKS.contains(&format!("\"Name\":\"{mode}\"")) {
        return error("404 Not Found", &format!("network {mode} not found"));
    }
    let mut st = lock(state);
    if !name.is_empty() && st.containers.iter().any(|c| c.name == name) {
        return error(
            "409 Conflict",
            &format!("Conflict. The container name \"/{name}\" is already in use by container \"{CREATED_ID}\". You have to remove (or rename) that container to be able to reuse that name."),
        );
    }
    let id = st.new_id("c0");
    let name = if name.is_empty() {
        format!("auto_{}", st.next)
    } else {
        name.to_string()
    };
    let mut body = body.clone();
    if body["Cmd"].is_null() {
        body["Cmd"] = json!(["sh"]);
    }
    st.containers.push(Ctr {
        id: id.clone(),
        name,
        // Hours ago: `ps` then says the same for the whole test.
        created: now - 5 * 3600,
        body,
        running: false,
        started: false,
        exit_code: 0,
        logs: Vec::new(),
        io: Io::new(),
    });
    let warnings = if image == "warn" {
        json!(["this is a warning"])
    } else {
        json!([])
    };
    Reply::Json(
        "201 Created",
        json!({"Id": id, "Warnings": warnings}).to_string(),
    )
}

fn no_such(reference: &str) -> Reply {
    error("404 Not Found", &format!("No such container: {reference}"))
}

fn container_route(
    state: &Shared,
    method: &str,
    reference: &str,
    rest: &[&str],
    req: &Request,
    body: &Value,
) -> Reply {
    let q = |k: &str| req.query.get(k).map(String::as_str).unwrap_or("");
    let truthy = |k: &str| matches!(q(k), "1" | "true" | "True");
    if reference == "web" && method == "GET" && rest == ["json"] {
        return Reply::Json("200 OK", FIXTURE_INSPECT.into());
    }
    let mut st = lock(state);
    let Some(i) = st.find(reference) else {
        return no_such(reference);
    };
    match (method, rest) {
        ("GET", ["json"]) => Reply::Json("200 OK", st.containers[i].inspect().to_string()),
        ("POST", ["start"]) => {
            if st.containers[i].running {
                return Reply::Empty("304 Not Modified");
            }
            let cmd = st.containers[i].cmd();
            if cmd.first().is_some_and(|c| c == "nosuch") {
                let c = &mut st.containers[i];
                c.started = true;
                c.exit_code = 127;
                let io = c.io.clone();
                let auto_remove = c.auto_remove();
                io.exit.send_replace(Some(127));
                let _ = io.out.send(None);
                if auto_remove {
                    st.containers.remove(i);
                    io.removed.send_replace(true);
                }
                return error(
                    "400 Bad Request",
                    "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: \"nosuch\": executable file not found in $PATH: unknown",
                );
            }
            start_process(state.clone(), &mut st.containers[i]);
            Reply::Empty("204 No Content")
        }
        ("POST", ["stop"]) | ("POST", ["kill"]) | ("POST", ["restart"]) => {
            let c = &mut st.containers[i];
            let action = rest[0];
            if !c.running && action == "kill" {
                return error(
                    "409 Conflict",
                    &format!(
                        "cannot kill container: {reference}: container {} is not running",
                        c.id
                    ),
                );
            }
            if !c.running && action == "stop" {
                return Reply::Empty("304 Not Modified");
            }
            let code = match (action, q("signal")) {
                ("kill", "" | "KILL" | "SIGKILL" | "9") => 137,
                ("kill", "HUP" | "SIGHUP" | "1") => 129,
                ("kill", "INT" | "SIGINT" | "2") => 130,
                ("kill", "USR1" | "SIGUSR1" | "10") => 138,
                ("kill", "BOGUS") => {
                    return error("400 Bad Request", "Invalid signal: BOGUS");
                }
                _ => 143,
            };
            if c.running {
                c.io.kill.send_replace(Some(code));
                c.running = false;
                c.exit_code = code;
            }
            if action == "restart" {
                c.io = Io::new();
                start_process(state.clone(), c);
            }
            Reply::Empty("204 No Content")
        }
        ("DELETE", []) => {
            let c = &st.containers[i];
            if c.running && !truthy("force") {
                return error(
                    "409 Conflict",
                    &format!("cannot remove container \"/{}\": container is running: stop the container before removing or force remove", c.name),
                );
            }
            let c = st.containers.remove(i);
            c.io.kill.send_replace(Some(137));
            c.io.removed.send_replace(true);
            Reply::Empty("204 No Content")
        }
        ("POST", ["wait"]) => {
            let condition = if q("condition").is_empty() {
                "not-running".to_string()
            } else {
                q("condition").to_string()
            };
            Reply::Wait(st.containers[i].io.clone(), condition)
        }
        ("POST", ["resize"]) => Reply::Empty("200 OK"),
        ("POST", ["attach"]) => {
            let c = &st.containers[i];
            Reply::Hijack(Session::Attach {
                io: c.io.clone(),
                out: c.io.out.subscribe(),
                tty: c.tty(),
                stdin: truthy("stdin"),
                stdin_once: c.config("StdinOnce").as_bool().unwrap_or(false),
            })
        }
        ("GET", ["logs"]) => {
            let c = &st.containers[i];
            let mut logs: Vec<Chunk> = c
                .logs
                .iter()
                .filter(|(s, _)| (*s == 1 && truthy("stdout")) || (*s == 2 && truthy("stderr")))
                .cloned()
                .collect();
            if let Ok(n) = q("tail").parse::<usize>() {
                logs = logs.split_off(logs.len().saturating_sub(n));
            }
            Reply::Logs(
                c.io.clone(),
                logs,
                c.tty(),
                truthy("follow"),
                truthy("timestamps"),
            )
        }
        ("POST", ["exec"]) => {
            let c = &st.containers[i];
            if !c.running {
                return error(
                    "409 Conflict",
                    &format!("container {} is not running", c.id),
                );
            }
            let container = c.id.clone();
            let id = st.new_id("e0");
            st.execs.push(ExecRec {
                id: id.clone(),
                container,
                body: body.clone(),
                exit_code: None,
            });
            Reply::Json("201 Created", json!({ "Id": id }).to_string())
        }
        _ => error("404 Not Found", "page not found"),
    }
}

fn exec_action(state: &Shared, id: &str, action: &str, body: &Value) -> Reply {
    let st = lock(state);
    let Some(exec) = st.execs.iter().position(|e| e.id == id) else {
        return error("404 Not Found", &format!("No such exec instance: {id}"));
    };
    match action {
        "resize" => Reply::Empty("201 Created"),
        "start" if body["Detach"].as_bool() == Some(true) => {
            let shared = state.clone();
            let (tx, _) = broadcast::channel(16);
            let cmd = strings(&st.execs[exec].body["Cmd"]);
            tokio::spawn(async move {
                let (_stdin_tx, stdin_rx) = mpsc::unbounded_channel();
                let code = program(&cmd, true, stdin_rx, &tx, watch::channel(None).1).await;
                lock(&shared).execs[exec].exit_code = Some(code);
            });
            Reply::Empty("200 OK")
        }
        "start" => Reply::Hijack(Session::Exec {
            state: state.clone(),
            exec,
            tty: body["Tty"].as_bool().unwrap_or(false),
        }),
        _ => error("404 Not Found", "page not found"),
    }
}

fn start_process(state: Shared, c: &mut Ctr) {
    c.running = true;
    c.started = true;
    let io = c.io.clone();
    io.exit.send_replace(None);
    io.kill.send_replace(None);
    let cmd = c.cmd();
    let open_stdin = c.config("OpenStdin").as_bool().unwrap_or(false);
    let id = c.id.clone();
    let stdin_rx = io.stdin_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
    tokio::spawn(async move {
        // A container without stdin reads EOF at once; one whose stdin was
        // taken by an earlier run has none either.
        let stdin_rx = match stdin_rx {
            Some(rx) if open_stdin => rx,
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(None);
                rx
            }
        };
        let (tx, mut rx) = broadcast::channel::<Option<Chunk>>(1024);
        let log_state = state.clone();
        let log_id = id.clone();
        let out = io.out.clone();
        // Everything the process writes is logged and passed to attaches.
        let pump = tokio::spawn(async move {
            while let Ok(Some(chunk)) = rx.recv().await {
                let mut st = lock(&log_state);
                if let Some(c) = st.containers.iter_mut().find(|c| c.id == log_id) {
                    c.logs.push(chunk.clone());
                }
                drop(st);
                let _ = out.send(Some(chunk));
            }
        });
        let code = program(&cmd, open_stdin, stdin_rx, &tx, io.kill.subscribe()).await;
        let _ = tx.send(None);
        let _ = pump.await;
        let mut st = lock(&state);
        let index = st.containers.iter().position(|c| c.id == id);
        if let Some(i) = index {
            let c = &mut st.containers[i];
            c.running = false;
            c.exit_code = code;
            let auto_remove = c.auto_remove();
            io.exit.send_replace(Some(code));
            let _ = io.out.send(None);
            if auto_remove {
                st.containers.remove(i);
                io.removed.send_replace(true);
            }
        }
    });
}

/// Runs the scripted process named by `cmd[0]`, writing its output to
/// `out`; returns its exit code.
async fn program(
    cmd: &[String],
    open_stdin: bool,
    mut stdin: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: &broadcast::Sender<Option<Chunk>>,
    mut kill: watch::Receiver<Option<i64>>,
) -> i64 {
    let emit = |stream: u8, text: &[u8]| {
        let _ = out.send(Some((stream, text.to_vec())));
    };
    let args = cmd.get(1..).unwrap_or_default();
    match cmd.first().map(String::as_str) {
        Some("echo") => {
            emit(1, format!("{}\n", args.join(" ")).as_bytes());
            0
        }
        Some("fail") => {
            emit(1, b"about to fail\n");
            emit(2, b"failing\n");
            args.first().and_then(|a| a.parse().ok()).unwrap_or(1)
        }
        Some("env") => {
            emit(1, b"PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
            0
        }
        Some("ip") => {
            emit(
                1,
                b"1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n    inet 127.0.0.1/8 scope host lo\n",
            );
            0
        }
        Some("cat") | Some("sh") if open_stdin => loop {
            tokio::select! {
                input = stdin.recv() => match input {
                    Some(Some(bytes)) => {
                        // Line by line, so `exit` ends it wherever it falls.
                        for line in bytes.split_inclusive(|b| *b == b'\n' || *b == b'\r') {
                            let text = String::from_utf8_lossy(line).to_string();
                            if text.trim() == "exit" {
                                return 0;
                            }
                            if let Some(code) = text.trim().strip_prefix("exit ") {
                                return code.parse().unwrap_or(1);
                            }
                            emit(1, line);
                        }
                    }
                    _ => return 0,
                },
                Ok(()) = kill.changed() => {
                    if let Some(code) = *kill.borrow() {
                        return code;
                    }
                }
            }
        },
        _ => loop {
            if kill.changed().await.is_err() {
                return 0;
            }
            if let Some(code) = *kill.borrow() {
                return code;
            }
        },
    }
}

/// A client's input on a hijacked connection (after `rest`, what came with
/// the request) to a process's stdin; `close` passes on its end.
async fn forward_input(
    mut read: OwnedReadHalf,
    rest: Vec<u8>,
    stdin: &mpsc::UnboundedSender<Option<Vec<u8>>>,
    close: bool,
) {
    if !rest.is_empty() {
        let _ = stdin.send(Some(rest));
    }
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = read.read(&mut buf).await {
        let _ = stdin.send(Some(buf[..n].to_vec()));
    }
    if close {
        let _ = stdin.send(None);
    }
}

async fn run_session(
    session: Session,
    read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
    rest: Vec<u8>,
) {
    match session {
        Session::Attach {
            io,
            mut out,
            tty,
            stdin,
            stdin_once,
        } => {
            let stdin_tx = io.stdin_tx.clone();
            let reader = tokio::spawn(async move {
                if stdin {
                    // dockerd closes a container's stdin with the
                    // attach's only without a TTY.
                    forward_input(read, rest, &stdin_tx, stdin_once && !tty).await;
                }
            });
            if io.exit.borrow().is_none() {
                while let Ok(Some(chunk)) = out.recv().await {
                    if write.write_all(&frame(tty, &chunk)).await.is_err() {
                        break;
                    }
                }
            }
            reader.abort();
        }
        Session::Exec { state, exec, tty } => {
            let cmd = strings(&lock(&state).execs[exec].body["Cmd"]);
            let attach_stdin = lock(&state).execs[exec].body["AttachStdin"]
                .as_bool()
                .unwrap_or(false);
            let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
            let reader =
                tokio::spawn(async move { forward_input(read, rest, &stdin_tx, true).await });
            if cmd.first().is_some_and(|c| c == "nosuch") {
                let message = b"OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown\r\n";
                let _ = write.write_all(&frame(tty, &(1, message.to_vec()))).await;
                lock(&state).execs[exec].exit_code = Some(127);
            } else {
                let (tx, mut rx) = broadcast::channel(1024);
                let (_kill_tx, kill_rx) = watch::channel(None);
                let run = program(&cmd, attach_stdin, stdin_rx, &tx, kill_rx);
                let forward = async {
                    while let Ok(Some(chunk)) = rx.recv().await {
                        if write.write_all(&frame(tty, &chunk)).await.is_err() {
                            break;
                        }
                    }
                };
                let (code, ()) = tokio::join!(
                    async {
                        let code = run.await;
                        let _ = tx.send(None);
                        code
                    },
                    forward
                );
                lock(&state).execs[exec].exit_code = Some(code);
            }
            reader.abort();
        }
    }
    let _ = write.shutdown().await;
}
