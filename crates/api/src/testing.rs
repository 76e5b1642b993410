//! A recording stub [`Backend`] for tests of the API and its clients
//! (feature `testing`): the API tests and the CLI tests run `serve` over
//! it. Networks are canned answers, or a table
//! ([`StubBackend::with_networks`]); containers, execs and images are a
//! small in-memory fake engine whose "processes" are scripted by their
//! command, so the real docker CLI can run them:
//!
//! - `echo ARGS...`: prints ARGS on stdout and exits.
//! - `fail CODE [MESSAGE...]`: prints MESSAGE on stderr (without one,
//!   `about to fail` on stdout, then `failing` on stderr) and exits with
//!   CODE.
//! - `sh`: answers each input line with `got: LINE` until the line `exit`
//!   (or `exit CODE`) or the end of its stdin; `cat` echoes each line as
//!   it came.
//! - `nosuch`: is not in the image: a container fails to start, an exec
//!   prints runc's error and exits 127.
//! - `sleep ...`: runs until stopped (exit 143) or killed (exit 137).
//!
//! A successful process exits with the `EXIT` variable of its environment
//! (`docker run -e EXIT=3`), else 0; `WARNING=TEXT` there makes create
//! answer with that warning.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use crate::{
    ApiError, AttachIo, AttachOptions, Backend, ContainerAttach, ContainerListOptions,
    ContainerLogs, ExecStartOptions, Filters, ImageImportOptions, ImageListOptions,
    ImageRemoveOptions, LogMessage, LogsOptions, OutputStream, RemoveOptions, RequestBody,
    StopOptions, StreamSession, TtySize, WaitCondition, WaitFuture,
};
use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse,
    ContainerState, ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, ContainerWaitExitError,
    ContainerWaitResponse, EndpointSettings, ExecConfig, ExecInspectResponse, HostConfig,
    ImageDeleteResponseItem, ImageInspect, ImageSummary, IpamStatus, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkInspect,
    NetworkPruneResponse, NetworkSettings, NetworkStatus, PortBinding, PortMap, SystemInfo,
    SystemVersion,
};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub const BRIDGE_ID: &str = "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566";
pub const CREATED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The image every stub starts with.
pub const BUSYBOX_ID: &str =
    "sha256:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

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
    NetworkConnect(String, Box<NetworkConnectRequest>),
    NetworkDisconnect(String, NetworkDisconnectRequest),
    ContainerCreate(Option<String>, Box<ContainerCreateBody>),
    ContainerStart(String),
    ContainerStop(String, StopOptions),
    ContainerKill(String, Option<String>),
    ContainerRestart(String, StopOptions),
    ContainerRemove(String, RemoveOptions),
    ContainerList(ContainerListOptions),
    ContainerInspect(String),
    ContainerWait(String, WaitCondition),
    ContainerLogs(String, LogsOptions),
    ContainerAttach(String, AttachOptions),
    ContainerResize(String, TtySize),
    ExecCreate(String, Box<ExecConfig>),
    ExecStart(String, ExecStartOptions, bool),
    ExecResize(String, TtySize),
    ExecInspect(String),
    ImageImport(ImageImportOptions, usize),
    ImageList(ImageListOptions),
    ImageInspect(String),
    ImageRemove(String, ImageRemoveOptions),
}

/// Records every call. Network names pick failures: `missing` is not
/// found, `taken` already exists, `bridge` is predefined, `busy` is in use,
/// and `kind-<name>` fails with that error kind; or, made
/// [`StubBackend::with_networks`], the networks are a table.
#[derive(Default)]
pub struct StubBackend {
    calls: Mutex<Vec<Call>>,
    engine: Arc<Mutex<Engine>>,
    /// The networks list, inspect, remove and prune answer from, in list
    /// order; `None` for the canned answers.
    networks: Option<Mutex<Vec<NetworkInspect>>>,
    /// Containers listed after the stub's own, as given.
    listed: Vec<ContainerSummary>,
}

/// Networks no one may remove or prune, as in dockerd.
const PREDEFINED_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

impl StubBackend {
    /// A stub whose networks are `networks`: listed as given (filters
    /// ignored), found by name or id prefix, and removed by `rm` and
    /// `prune` unless predefined.
    pub fn with_networks(self, networks: Vec<NetworkInspect>) -> StubBackend {
        StubBackend {
            networks: Some(Mutex::new(networks)),
            ..self
        }
    }

    /// A stub that lists `containers` after its own (only the running
    /// ones without `all`; filters ignored): shapes no create makes.
    pub fn with_listed_containers(self, containers: Vec<ContainerSummary>) -> StubBackend {
        StubBackend {
            listed: containers,
            ..self
        }
    }

    /// The names of the containers that exist.
    pub fn container_names(&self) -> Vec<String> {
        lock(&self.engine)
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
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

fn network_not_found(id_or_name: &str) -> ApiError {
    ApiError::not_found(format!("network {id_or_name} not found"))
}

/// Where `id_or_name` is in `table`: by exact name or id, else a unique id
/// prefix.
fn network_index(table: &[NetworkInspect], id_or_name: &str) -> Result<usize, ApiError> {
    let exact = table.iter().position(|network| {
        network.name.as_deref() == Some(id_or_name) || network.id.as_deref() == Some(id_or_name)
    });
    if let Some(index) = exact {
        return Ok(index);
    }
    let prefixed: Vec<usize> = (0..table.len())
        .filter(|&i| {
            !id_or_name.is_empty()
                && table[i]
                    .id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(id_or_name))
        })
        .collect();
    match prefixed.as_slice() {
        [only] => Ok(*only),
        _ => Err(network_not_found(id_or_name)),
    }
}

fn error_for(name: &str) -> Option<ApiError> {
    Some(match name {
        "missing" => network_not_found(name),
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

/// A fake container's lifecycle, watched by waits and attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct State {
    running: bool,
    started: bool,
    exit_code: i64,
    /// How many times it exited: `next-exit` waits for this to grow.
    exits: u64,
    removed: bool,
}

/// What a fake process writes; `End` after its last output.
#[derive(Debug, Clone)]
enum Output {
    Data(OutputStream, Bytes),
    End,
}

struct FakeContainer {
    id: String,
    name: String,
    config: ContainerCreateBody,
    created: i64,
    state: watch::Sender<State>,
    output: broadcast::Sender<Output>,
    logs: Arc<Mutex<Vec<LogMessage>>>,
    /// Input for the process; `None` is the end of stdin.
    stdin: mpsc::UnboundedSender<Option<Bytes>>,
    stdin_receiver: Option<mpsc::UnboundedReceiver<Option<Bytes>>>,
    /// Ends a running `sleep` with the given exit code.
    stop: Option<oneshot::Sender<i64>>,
    networks: BTreeSet<String>,
}

impl FakeContainer {
    fn tty(&self) -> bool {
        self.config.tty == Some(true)
    }

    fn cmd(&self) -> Vec<String> {
        self.config.cmd.clone().unwrap_or_default()
    }

    fn success_code(&self) -> i64 {
        success_code(self.config.env.as_deref())
    }

    fn auto_remove(&self) -> bool {
        self.config
            .host_config
            .as_ref()
            .and_then(|h| h.auto_remove)
            .unwrap_or(false)
    }
}

fn success_code(env: Option<&[String]>) -> i64 {
    env.unwrap_or_default()
        .iter()
        .find_map(|entry| entry.strip_prefix("EXIT="))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

struct FakeExec {
    container: String,
    config: ExecConfig,
    running: bool,
    exit_code: Option<i64>,
}

struct FakeImage {
    id: String,
    tags: Vec<String>,
}

struct Engine {
    containers: Vec<FakeContainer>,
    execs: HashMap<String, FakeExec>,
    images: Vec<FakeImage>,
    next: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            containers: Vec::new(),
            execs: HashMap::new(),
            images: vec![FakeImage {
                id: BUSYBOX_ID.to_owned(),
                tags: vec!["busybox:latest".to_owned()],
            }],
            next: 0,
        }
    }
}

/// A panic on one test task must not hide what the others recorded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When the stub's `counter`-th thing was made: every stub keeps the same
/// time, so two stubs fed alike answer alike, timestamps included.
fn created_at(counter: u64) -> i64 {
    1_700_000_000 + i64::try_from(counter).unwrap_or(i64::MAX - 1_700_000_000)
}

/// The time of every log line of a container made at `created`.
fn log_time(created: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(created).unwrap_or(0))
}

/// The id of the `counter`-th thing the stub makes (containers, execs and
/// images count together): 64 hex digits whose first 12 differ between
/// counters.
pub fn new_id(counter: u64) -> String {
    let mix = |salt: u64| {
        (counter.wrapping_add(salt))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
    };
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        mix(1),
        mix(2),
        mix(3),
        mix(4)
    )
}

fn no_such_container(reference: &str) -> ApiError {
    ApiError::not_found(format!("No such container: {reference}"))
}

/// `busybox` is `busybox:latest`.
fn normalise_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.starts_with("sha256:") {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

impl Engine {
    fn find(&self, reference: &str) -> Result<&FakeContainer, ApiError> {
        let index = self.index_of(reference)?;
        Ok(&self.containers[index])
    }

    fn find_mut(&mut self, reference: &str) -> Result<&mut FakeContainer, ApiError> {
        let index = self.index_of(reference)?;
        Ok(&mut self.containers[index])
    }

    fn index_of(&self, reference: &str) -> Result<usize, ApiError> {
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(index) = self
            .containers
            .iter()
            .position(|c| c.id == reference || c.name == name)
        {
            return Ok(index);
        }
        let matches: Vec<usize> = (0..self.containers.len())
            .filter(|&i| !reference.is_empty() && self.containers[i].id.starts_with(reference))
            .collect();
        match matches.as_slice() {
            [only] => Ok(*only),
            _ => Err(no_such_container(reference)),
        }
    }

    fn image(&self, name: &str) -> Option<&FakeImage> {
        let tag = normalise_image(name);
        self.images.iter().find(|image| {
            image.tags.contains(&tag)
                || image.id == name
                || image.id["sha256:".len()..].starts_with(name)
        })
    }

    fn remove_container(&mut self, reference: &str) {
        if let Ok(index) = self.index_of(reference) {
            let container = self.containers.remove(index);
            container.state.send_modify(|state| state.removed = true);
        }
    }
}

/// Runs a container's process on its own task: the lifecycle a real
/// runtime would drive.
fn spawn_process(engine: Arc<Mutex<Engine>>, id: String) -> Result<(), ApiError> {
    let (cmd, logged_at, success, output, logs, state, stdin, stop_receiver, auto_remove) = {
        let mut guard = lock(&engine);
        let container = guard.find_mut(&id)?;
        if container.state.borrow().running {
            return Err(ApiError::not_modified("container already started"));
        }
        if let Some(program @ "nosuch") = container.cmd().first().map(String::as_str) {
            container.state.send_modify(|state| {
                state.started = true;
                state.exit_code = 127;
                state.exits += 1;
            });
            let _ = container.output.send(Output::End);
            let error = ApiError::invalid_parameter(format!(
                "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: \"{program}\": executable file not found in $PATH: unknown"
            ));
            if container.auto_remove() {
                guard.remove_container(&id);
            }
            return Err(error);
        }
        let (stop, stop_receiver) = oneshot::channel();
        container.stop = Some(stop);
        container.state.send_modify(|state| {
            state.running = true;
            state.started = true;
        });
        let auto_remove = container.auto_remove();
        (
            container.cmd(),
            log_time(container.created),
            container.success_code(),
            container.output.clone(),
            Arc::clone(&container.logs),
            container.state.clone(),
            container.stdin_receiver.take(),
            stop_receiver,
            auto_remove,
        )
    };
    tokio::spawn(async move {
        let emit = |stream: OutputStream, text: String| {
            let line = Bytes::from(text);
            // Sent under the lock, so a follower sees each line once: in
            // the log it copied or live after it subscribed.
            let mut logs = lock(&logs);
            logs.push(LogMessage {
                stream,
                timestamp: logged_at,
                line: line.clone(),
            });
            let _ = output.send(Output::Data(stream, line));
        };
        let code = run_script(cmd, success, emit, stdin, stop_receiver).await;
        let _ = output.send(Output::End);
        state.send_modify(|state| {
            state.running = false;
            state.exit_code = code;
            state.exits += 1;
        });
        if auto_remove {
            lock(&engine).remove_container(&id);
        }
    });
    Ok(())
}

/// runc's complaint about a missing `program`.
fn exec_failure(program: &str) -> String {
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": executable file not found in $PATH: unknown"
    )
}

/// The scripted program behind `cmd`; returns its exit code. `stop` ends
/// it early with the code sent (137 if the sender is dropped).
async fn run_script(
    cmd: Vec<String>,
    success: i64,
    emit: impl Fn(OutputStream, String),
    stdin: Option<mpsc::UnboundedReceiver<Option<Bytes>>>,
    stop: oneshot::Receiver<i64>,
) -> i64 {
    let script = async {
        match cmd.first().map(String::as_str) {
            Some("echo") => {
                emit(OutputStream::Stdout, format!("{}\n", cmd[1..].join(" ")));
                success
            }
            Some("fail") => {
                match cmd.get(2..).filter(|message| !message.is_empty()) {
                    Some(message) => emit(OutputStream::Stderr, format!("{}\n", message.join(" "))),
                    None => {
                        emit(OutputStream::Stdout, "about to fail\n".to_owned());
                        emit(OutputStream::Stderr, "failing\n".to_owned());
                    }
                }
                cmd.get(1).and_then(|code| code.parse().ok()).unwrap_or(1)
            }
            Some("nosuch") => {
                emit(
                    OutputStream::Stdout,
                    format!("{}\r\n", exec_failure("nosuch")),
                );
                127
            }
            Some(program @ ("sh" | "cat")) => {
                let Some(mut stdin) = stdin else {
                    return success;
                };
                let mut pending = Vec::new();
                while let Some(Some(chunk)) = stdin.recv().await {
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n' || *b == b'\r') {
                        let raw: Vec<u8> = pending.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&raw[..end]).trim().to_owned();
                        if line == "exit" {
                            return success;
                        }
                        if let Some(code) = line.strip_prefix("exit ") {
                            return code.trim().parse().unwrap_or(1);
                        }
                        if program == "cat" {
                            emit(
                                OutputStream::Stdout,
                                String::from_utf8_lossy(&raw).into_owned(),
                            );
                        } else if !line.is_empty() {
                            emit(OutputStream::Stdout, format!("got: {line}\r\n"));
                        }
                    }
                }
                success
            }
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        code = script => code,
        code = stop => code.unwrap_or(137),
    }
}

/// A process's output from now until it exits, as log messages.
fn follow(
    live: broadcast::Receiver<Output>,
    logged_at: SystemTime,
) -> impl futures::Stream<Item = Result<LogMessage, std::io::Error>> {
    futures::stream::unfold(live, move |mut live| async move {
        loop {
            match live.recv().await {
                Ok(Output::Data(stream, line)) => {
                    let message = LogMessage {
                        stream,
                        timestamp: logged_at,
                        line,
                    };
                    return Some((Ok(message), live));
                }
                Ok(Output::End) | Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
    })
}

/// Pumps a fake process's output (and the client's input) for one attach.
fn attach_session(
    mut output: broadcast::Receiver<Output>,
    stdin: Option<mpsc::UnboundedSender<Option<Bytes>>>,
    close_stdin: bool,
    stdout: bool,
    stderr: bool,
) -> StreamSession {
    StreamSession::new(move |io: AttachIo| async move {
        let AttachIo {
            mut input,
            output: client,
        } = io;
        if let Some(stdin) = stdin {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                loop {
                    match input.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => {
                            let _ = stdin.send(Some(Bytes::copy_from_slice(&buffer[..read])));
                        }
                    }
                }
                if close_stdin {
                    let _ = stdin.send(None);
                }
            });
        }
        loop {
            match output.recv().await {
                Ok(Output::Data(stream, data)) => {
                    let wanted = match stream {
                        OutputStream::Stdout => stdout,
                        OutputStream::Stderr => stderr,
                    };
                    if wanted && client.write(stream, &data).await.is_err() {
                        break;
                    }
                }
                Ok(Output::End) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
        Ok(())
    })
}

fn status_text(state: &State) -> (ContainerSummaryStateEnum, String) {
    if state.running {
        (
            ContainerSummaryStateEnum::RUNNING,
            "Up 2 seconds".to_owned(),
        )
    } else if state.started {
        (
            ContainerSummaryStateEnum::EXITED,
            format!("Exited ({}) 1 second ago", state.exit_code),
        )
    } else {
        (ContainerSummaryStateEnum::CREATED, "Created".to_owned())
    }
}

/// The exposed ports unbound, the published ones bound as asked: to all
/// addresses unless one is given, to port 32768 unless one is given.
fn ports(config: &ContainerCreateBody) -> PortMap {
    let mut ports: PortMap = config
        .exposed_ports
        .iter()
        .flatten()
        .map(|port| (port.clone(), None))
        .collect();
    let bindings = config
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref());
    for (port, asked) in bindings.into_iter().flatten() {
        let bound = asked
            .iter()
            .flatten()
            .map(|binding| {
                let or = |value: &Option<String>, default: &str| {
                    Some(
                        value
                            .clone()
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| default.to_owned()),
                    )
                };
                PortBinding {
                    host_ip: or(&binding.host_ip, "0.0.0.0"),
                    host_port: or(&binding.host_port, "32768"),
                }
            })
            .collect();
        ports.insert(port.clone(), Some(bound));
    }
    ports
}

fn endpoints(container: &FakeContainer) -> HashMap<String, EndpointSettings> {
    container
        .networks
        .iter()
        .map(|network| {
            let endpoint = if network == "bridge" {
                EndpointSettings {
                    network_id: Some(BRIDGE_ID.to_owned()),
                    ip_address: Some("172.17.0.2".to_owned()),
                    ip_prefix_len: Some(16),
                    gateway: Some("172.17.0.1".to_owned()),
                    mac_address: Some("02:42:ac:11:00:02".to_owned()),
                    ..Default::default()
                }
            } else {
                EndpointSettings {
                    network_id: Some(CREATED_ID.to_owned()),
                    ..Default::default()
                }
            };
            (network.clone(), endpoint)
        })
        .collect()
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
        if let Some(table) = &self.networks {
            return Ok(lock(table).clone());
        }
        Ok(vec![
            network("bridge", BRIDGE_ID),
            network("web", CREATED_ID),
        ])
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        self.record(Call::NetworkInspect(id_or_name.clone()));
        if let Some(table) = &self.networks {
            let table = lock(table);
            return table
                .get(network_index(&table, &id_or_name)?)
                .cloned()
                .ok_or_else(|| network_not_found(&id_or_name));
        }
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
        if let Some(table) = &self.networks {
            let mut table = lock(table);
            let index = network_index(&table, &id_or_name)?;
            let name = table[index].name.clone().unwrap_or_default();
            if PREDEFINED_NETWORKS.contains(&name.as_str()) {
                return Err(ApiError::forbidden(format!(
                    "{name} is a pre-defined network and cannot be removed"
                )));
            }
            table.remove(index);
            return Ok(());
        }
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
        if let Some(table) = &self.networks {
            let mut table = lock(table);
            let mut pruned = Vec::new();
            table.retain(|network| {
                let name = network.name.clone().unwrap_or_default();
                let keep = PREDEFINED_NETWORKS.contains(&name.as_str());
                if !keep {
                    pruned.push(name);
                }
                keep
            });
            return Ok(NetworkPruneResponse {
                networks_deleted: Some(pruned),
            });
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(vec!["old".to_owned()]),
        })
    }

    async fn network_connect(
        &self,
        network: String,
        req: NetworkConnectRequest,
    ) -> Result<(), ApiError> {
        self.record(Call::NetworkConnect(network.clone(), Box::new(req.clone())));
        if let Some(err) = error_for(&network) {
            return Err(err);
        }
        if let Some(table) = &self.networks {
            network_index(&lock(table), &network)?;
        }
        let mut engine = lock(&self.engine);
        let container = engine.find_mut(&req.container)?;
        if !container.networks.insert(network.clone()) {
            return Err(ApiError::forbidden(format!(
                "endpoint with name {} already exists in network {network}",
                container.name
            )));
        }
        Ok(())
    }

    async fn network_disconnect(
        &self,
        network: String,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError> {
        self.record(Call::NetworkDisconnect(network.clone(), req.clone()));
        let mut engine = lock(&self.engine);
        let container = engine.find_mut(&req.container)?;
        if !container.networks.remove(&network) {
            return Err(ApiError::forbidden(format!(
                "container {} is not connected to network {network}",
                container.id
            )));
        }
        Ok(())
    }

    async fn container_create(
        &self,
        name: Option<String>,
        config: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError> {
        self.record(Call::ContainerCreate(
            name.clone(),
            Box::new(config.clone()),
        ));
        let mut engine = lock(&self.engine);
        let image = config.image.clone().unwrap_or_default();
        if engine.image(&image).is_none() {
            return Err(ApiError::not_found(format!(
                "No such image: {}",
                normalise_image(&image)
            )));
        }
        engine.next += 1;
        let id = new_id(engine.next);
        let name = name.unwrap_or_else(|| format!("stub_{}", engine.next));
        if engine.find(&name).is_ok() {
            return Err(ApiError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                engine.find(&name)?.id
            )));
        }
        let network = config
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone())
            .unwrap_or_default();
        if let Some(table) = &self.networks {
            let builtin = ["", "default", "bridge", "host", "none"].contains(&network.as_str())
                || network.starts_with("container:");
            if !builtin {
                network_index(&lock(table), &network)?;
            }
        }
        let created = created_at(engine.next);
        // `WARNING=TEXT` in the environment: created with that warning.
        let warning = config
            .env
            .iter()
            .flatten()
            .find_map(|entry| entry.strip_prefix("WARNING="))
            .map(str::to_owned);
        let (stdin, stdin_receiver) = mpsc::unbounded_channel();
        engine.containers.push(FakeContainer {
            id: id.clone(),
            name,
            config,
            created,
            state: watch::Sender::new(State::default()),
            output: broadcast::channel(64).0,
            logs: Arc::default(),
            stdin,
            stdin_receiver: Some(stdin_receiver),
            stop: None,
            networks: BTreeSet::from([network]),
        });
        Ok(ContainerCreateResponse {
            id,
            warnings: warning.into_iter().collect(),
        })
    }

    async fn container_start(&self, id_or_name: String) -> Result<(), ApiError> {
        self.record(Call::ContainerStart(id_or_name.clone()));
        spawn_process(Arc::clone(&self.engine), id_or_name)
    }

    async fn container_stop(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerStop(id_or_name.clone(), options));
        self.end_process(&id_or_name, 143).await
    }

    async fn container_kill(
        &self,
        id_or_name: String,
        signal: Option<String>,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerKill(id_or_name.clone(), signal));
        self.end_process(&id_or_name, 137)
            .await
            .map_err(|err| match err.kind {
                crate::ErrorKind::NotModified => {
                    ApiError::conflict(format!("container {id_or_name} is not running"))
                }
                _ => err,
            })
    }

    async fn container_restart(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerRestart(id_or_name.clone(), options));
        match self.end_process(&id_or_name, 143).await {
            Ok(()) => {}
            Err(err) if err.kind == crate::ErrorKind::NotModified => {}
            Err(err) => return Err(err),
        }
        spawn_process(Arc::clone(&self.engine), id_or_name)
    }

    async fn container_remove(
        &self,
        id_or_name: String,
        options: RemoveOptions,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerRemove(id_or_name.clone(), options));
        let running = {
            let engine = lock(&self.engine);
            let container = engine.find(&id_or_name)?;
            let running = container.state.borrow().running;
            if running && !options.force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    container.name
                )));
            }
            running
        };
        if running {
            self.end_process(&id_or_name, 137).await?;
        }
        lock(&self.engine).remove_container(&id_or_name);
        Ok(())
    }

    async fn container_list(
        &self,
        options: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        self.record(Call::ContainerList(options.clone()));
        let engine = lock(&self.engine);
        let mut list: Vec<ContainerSummary> = engine
            .containers
            .iter()
            .rev()
            .filter(|c| options.all || c.state.borrow().running)
            .map(|c| {
                let (state, status) = status_text(&c.state.borrow());
                ContainerSummary {
                    id: Some(c.id.clone()),
                    names: Some(vec![format!("/{}", c.name)]),
                    image: c.config.image.clone(),
                    image_id: Some(BUSYBOX_ID.to_owned()),
                    command: Some(c.cmd().join(" ")),
                    created: Some(c.created),
                    ports: Some(Vec::new()),
                    labels: Some(HashMap::new()),
                    state: Some(state),
                    status: Some(status),
                    host_config: Some(ContainerSummaryHostConfig {
                        network_mode: c
                            .config
                            .host_config
                            .as_ref()
                            .and_then(|h| h.network_mode.clone()),
                        annotations: None,
                    }),
                    network_settings: Some(ContainerSummaryNetworkSettings {
                        networks: Some(endpoints(c)),
                    }),
                    mounts: Some(Vec::new()),
                    ..Default::default()
                }
            })
            .collect();
        list.extend(
            self.listed
                .iter()
                .filter(|c| options.all || c.state == Some(ContainerSummaryStateEnum::RUNNING))
                .cloned(),
        );
        if let Some(limit) = options.limit {
            list.truncate(limit);
        }
        Ok(list)
    }

    async fn container_inspect(
        &self,
        id_or_name: String,
        _size: bool,
    ) -> Result<ContainerInspectResponse, ApiError> {
        self.record(Call::ContainerInspect(id_or_name.clone()));
        let engine = lock(&self.engine);
        let c = engine.find(&id_or_name)?;
        let state = *c.state.borrow();
        let cmd = c.cmd();
        Ok(ContainerInspectResponse {
            id: Some(c.id.clone()),
            path: cmd.first().cloned(),
            args: Some(cmd.iter().skip(1).cloned().collect()),
            name: Some(format!("/{}", c.name)),
            image: Some(BUSYBOX_ID.to_owned()),
            state: Some(ContainerState {
                status: Some(if state.running {
                    ContainerStateStatusEnum::RUNNING
                } else if state.started {
                    ContainerStateStatusEnum::EXITED
                } else {
                    ContainerStateStatusEnum::CREATED
                }),
                running: Some(state.running),
                exit_code: Some(state.exit_code),
                ..Default::default()
            }),
            host_config: Some(
                c.config
                    .host_config
                    .clone()
                    .unwrap_or_else(HostConfig::default),
            ),
            config: Some(ContainerConfig {
                image: c.config.image.clone(),
                cmd: c.config.cmd.clone(),
                env: c.config.env.clone(),
                tty: c.config.tty,
                open_stdin: c.config.open_stdin,
                hostname: Some(c.id[..12].to_owned()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                sandbox_key: Some(format!("/run/berth/netns/{}", &c.id[..12])),
                ports: Some(ports(&c.config)),
                networks: Some(endpoints(c)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    async fn container_wait(
        &self,
        id_or_name: String,
        condition: WaitCondition,
    ) -> Result<WaitFuture, ApiError> {
        self.record(Call::ContainerWait(id_or_name.clone(), condition));
        let mut state = {
            let engine = lock(&self.engine);
            engine.find(&id_or_name)?.state.subscribe()
        };
        let exits_before = state.borrow().exits;
        Ok(Box::pin(async move {
            let done = state
                .wait_for(|s| match condition {
                    WaitCondition::NotRunning => !s.running,
                    WaitCondition::NextExit => s.exits > exits_before || s.removed,
                    WaitCondition::Removed => s.removed,
                })
                .await
                .map(|s| *s);
            match done {
                Ok(s) => ContainerWaitResponse {
                    status_code: s.exit_code,
                    error: None,
                },
                Err(_) => ContainerWaitResponse {
                    status_code: -1,
                    error: Some(ContainerWaitExitError {
                        message: Some("container vanished".to_owned()),
                    }),
                },
            }
        }))
    }

    async fn container_logs(
        &self,
        id_or_name: String,
        options: LogsOptions,
    ) -> Result<ContainerLogs, ApiError> {
        self.record(Call::ContainerLogs(id_or_name.clone(), options.clone()));
        let engine = lock(&self.engine);
        let c = engine.find(&id_or_name)?;
        let (mut messages, live) = {
            let logs = lock(&c.logs);
            (logs.clone(), c.output.subscribe())
        };
        if let Some(tail) = options.tail {
            messages.drain(..messages.len().saturating_sub(tail));
        }
        let mut items: Vec<Result<LogMessage, std::io::Error>> =
            messages.into_iter().map(Ok).collect();
        // A container named `broken-logs` has a log file that cannot be read
        // to the end.
        if c.name == "broken-logs" {
            items.push(Err(std::io::Error::other("log file truncated")));
        }
        let past = futures::stream::iter(items);
        let messages: crate::LogStream = if options.follow && c.state.borrow().running {
            Box::pin(futures::StreamExt::chain(
                past,
                follow(live, log_time(c.created)),
            ))
        } else {
            Box::pin(past)
        };
        Ok(ContainerLogs {
            tty: c.tty(),
            messages,
        })
    }

    async fn container_attach(
        &self,
        id_or_name: String,
        options: AttachOptions,
    ) -> Result<ContainerAttach, ApiError> {
        self.record(Call::ContainerAttach(id_or_name.clone(), options.clone()));
        let engine = lock(&self.engine);
        let c = engine.find(&id_or_name)?;
        let state = *c.state.borrow();
        let stdin = (options.stdin && c.config.open_stdin == Some(true)).then(|| c.stdin.clone());
        let session = if state.started && !state.running {
            StreamSession::new(|_io: AttachIo| async { Ok(()) })
        } else {
            // dockerd closes the container's stdin with the attach's only
            // for `StdinOnce` without a TTY.
            let close_stdin = c.config.stdin_once == Some(true) && !c.tty();
            attach_session(
                c.output.subscribe(),
                stdin,
                close_stdin,
                options.stdout,
                options.stderr,
            )
        };
        Ok(ContainerAttach {
            tty: c.tty(),
            session,
        })
    }

    async fn container_resize(&self, id_or_name: String, size: TtySize) -> Result<(), ApiError> {
        self.record(Call::ContainerResize(id_or_name.clone(), size));
        let engine = lock(&self.engine);
        engine.find(&id_or_name).map(|_| ())
    }

    async fn exec_create(&self, container: String, config: ExecConfig) -> Result<String, ApiError> {
        self.record(Call::ExecCreate(
            container.clone(),
            Box::new(config.clone()),
        ));
        let mut engine = lock(&self.engine);
        let c = engine.find(&container)?;
        if !c.state.borrow().running {
            return Err(ApiError::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let container_id = c.id.clone();
        engine.next += 1;
        let id = new_id(engine.next);
        engine.execs.insert(
            id.clone(),
            FakeExec {
                container: container_id,
                config,
                running: false,
                exit_code: None,
            },
        );
        Ok(id)
    }

    async fn exec_start_detached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<(), ApiError> {
        self.record(Call::ExecStart(exec_id.clone(), options, true));
        let mut engine = lock(&self.engine);
        let exec = engine
            .execs
            .get_mut(&exec_id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
        exec.exit_code = Some(success_code(exec.config.env.as_deref()));
        Ok(())
    }

    async fn exec_start_attached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<StreamSession, ApiError> {
        self.record(Call::ExecStart(exec_id.clone(), options, false));
        let (cmd, env) = {
            let mut engine = lock(&self.engine);
            let exec = engine
                .execs
                .get_mut(&exec_id)
                .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
            if exec.running || exec.exit_code.is_some() {
                return Err(ApiError::conflict(format!(
                    "Error: Exec command {exec_id} is already running"
                )));
            }
            exec.running = true;
            (
                exec.config.cmd.clone().unwrap_or_default(),
                exec.config.env.clone(),
            )
        };
        let engine = Arc::clone(&self.engine);
        Ok(StreamSession::new(move |io: AttachIo| async move {
            let AttachIo { mut input, output } = io;
            // `oops` fails after the stream is up: dockerd reports that in band.
            if cmd.first().map(String::as_str) == Some("oops") {
                return Err(ApiError::internal("exec failed: oops is not a program"));
            }
            let (stdin, receiver) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(read) = input.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    let _ = stdin.send(Some(Bytes::copy_from_slice(&buffer[..read])));
                }
                let _ = stdin.send(None);
            });
            let (sender, mut chunks) = mpsc::unbounded_channel();
            let emit = move |stream, text: String| {
                let _ = sender.send((stream, text));
            };
            let script = tokio::spawn(async move {
                // Never stopped: an exec ends with its program or container.
                let (_keep, stop) = oneshot::channel();
                run_script(
                    cmd,
                    success_code(env.as_deref()),
                    emit,
                    Some(receiver),
                    stop,
                )
                .await
            });
            // Ends when the script returns and drops `emit`.
            while let Some((stream, text)) = chunks.recv().await {
                if output.write(stream, text.as_bytes()).await.is_err() {
                    break;
                }
            }
            let code = script.await.unwrap_or(1);
            // Recorded before the stream ends: the CLI asks for it right after.
            if let Some(exec) = lock(&engine).execs.get_mut(&exec_id) {
                exec.running = false;
                exec.exit_code = Some(code);
            }
            Ok(())
        }))
    }

    async fn exec_resize(&self, exec_id: String, size: TtySize) -> Result<(), ApiError> {
        self.record(Call::ExecResize(exec_id.clone(), size));
        let engine = lock(&self.engine);
        if engine.execs.contains_key(&exec_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "No such exec instance: {exec_id}"
            )))
        }
    }

    async fn exec_inspect(&self, exec_id: String) -> Result<ExecInspectResponse, ApiError> {
        self.record(Call::ExecInspect(exec_id.clone()));
        let engine = lock(&self.engine);
        let exec = engine
            .execs
            .get(&exec_id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
        Ok(ExecInspectResponse {
            id: Some(exec_id.clone()),
            running: Some(exec.running),
            exit_code: exec.exit_code,
            container_id: Some(exec.container.clone()),
            open_stdin: exec.config.attach_stdin,
            open_stdout: exec.config.attach_stdout,
            open_stderr: exec.config.attach_stderr,
            can_remove: Some(false),
            pid: Some(4242),
            ..Default::default()
        })
    }

    async fn image_import(
        &self,
        options: ImageImportOptions,
        mut tarball: RequestBody,
    ) -> Result<String, ApiError> {
        let mut bytes = Vec::new();
        tarball
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| ApiError::invalid_parameter(format!("reading the tarball: {err}")))?;
        self.record(Call::ImageImport(options.clone(), bytes.len()));
        let mut engine = lock(&self.engine);
        engine.next += 1;
        let id = format!("sha256:{}", new_id(engine.next));
        let tags = match (&options.repo, &options.tag) {
            (Some(repo), Some(tag)) => vec![format!("{repo}:{tag}")],
            (Some(repo), None) => vec![normalise_image(repo)],
            (None, _) => Vec::new(),
        };
        engine.images.push(FakeImage {
            id: id.clone(),
            tags,
        });
        Ok(id)
    }

    async fn image_list(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>, ApiError> {
        self.record(Call::ImageList(options));
        let engine = lock(&self.engine);
        Ok(engine
            .images
            .iter()
            .map(|image| ImageSummary {
                id: image.id.clone(),
                parent_id: String::new(),
                repo_tags: image.tags.clone(),
                repo_digests: Vec::new(),
                created: 1_700_000_000,
                size: 1_234_567,
                shared_size: -1,
                labels: HashMap::new(),
                containers: 3,
                manifests: None,
                descriptor: None,
            })
            .collect())
    }

    async fn image_inspect(&self, name: String) -> Result<ImageInspect, ApiError> {
        self.record(Call::ImageInspect(name.clone()));
        let engine = lock(&self.engine);
        let image = engine
            .image(&name)
            .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
        Ok(ImageInspect {
            id: Some(image.id.clone()),
            repo_tags: Some(image.tags.clone()),
            architecture: Some("amd64".to_owned()),
            os: Some("linux".to_owned()),
            size: Some(1_234_567),
            ..Default::default()
        })
    }

    async fn image_remove(
        &self,
        name: String,
        options: ImageRemoveOptions,
    ) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
        self.record(Call::ImageRemove(name.clone(), options));
        let mut engine = lock(&self.engine);
        let id = engine
            .image(&name)
            .map(|image| image.id.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
        let tags = engine
            .images
            .iter()
            .find(|image| image.id == id)
            .map(|image| image.tags.clone())
            .unwrap_or_default();
        engine.images.retain(|image| image.id != id);
        let mut items: Vec<ImageDeleteResponseItem> = tags
            .into_iter()
            .map(|tag| ImageDeleteResponseItem {
                untagged: Some(tag),
                deleted: None,
            })
            .collect();
        items.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id),
        });
        Ok(items)
    }
}

impl StubBackend {
    /// Ends a running process with `code` and waits until it has exited.
    async fn end_process(&self, reference: &str, code: i64) -> Result<(), ApiError> {
        let (stop, mut state) = {
            let mut engine = lock(&self.engine);
            let container = engine.find_mut(reference)?;
            if !container.state.borrow().running {
                return Err(ApiError::not_modified("container already stopped"));
            }
            (container.stop.take(), container.state.subscribe())
        };
        if let Some(stop) = stop {
            let _ = stop.send(code);
        }
        let _ = state.wait_for(|s| !s.running).await;
        Ok(())
    }
}
