//! Attach, exec and logs: bytes between a client's connection and a
//! container's shim. The shim speaks stdcopy-style frames on its socket;
//! here they are read and written asynchronously, so an attached client
//! costs no thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api::{
    ApiError, AttachIo, AttachOptions, ClientOutput, ContainerAttach, ContainerLogs,
    ExecStartOptions, LogMessage, LogsOptions, OutputStream, StreamSession, TtySize,
};
use berth_core::container::Container;
use berth_core::EngineHandle;
use berth_oci::shim::proto;
use berth_oci::{ExecId, OciAdapter};
use berth_types::ContainerId;
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::oci_error;
use crate::host::RealHost;

/// Log entries in flight between the reading thread and the client.
const LOG_BUFFER: usize = 256;

pub fn tty_dims(size: TtySize) -> (u16, u16) {
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    (clamp(size.width), clamp(size.height))
}

/// Copies the shim's output frames to the client until the process exits
/// (returns its exit code) or the client goes away (`None`); meanwhile
/// forwards the client's input as stdin frames.
async fn pump(
    socket: UnixStream,
    io: AttachIo,
    stdin: bool,
    close_stdin_at_eof: bool,
) -> Option<i64> {
    let (mut from_shim, mut to_shim) = socket.into_split();
    let AttachIo { mut input, output } = io;
    let input_task = stdin.then(|| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match input.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if close_stdin_at_eof {
                            let _ = to_shim
                                .write_all(&proto::encode(proto::STDIN_CLOSE, &[]))
                                .await;
                        }
                        return;
                    }
                    Ok(n) => {
                        if to_shim
                            .write_all(&proto::encode(proto::STDIN, &buf[..n]))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        })
    });
    let code = copy_output(&mut from_shim, &output).await;
    if let Some(task) = input_task {
        task.abort();
    }
    code
}

async fn copy_output(
    from_shim: &mut tokio::net::unix::OwnedReadHalf,
    output: &ClientOutput,
) -> Option<i64> {
    let mut header = [0u8; proto::HEADER_LEN];
    let mut payload = Vec::new();
    loop {
        from_shim.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if len > proto::MAX_PAYLOAD {
            return None;
        }
        payload.resize(len, 0);
        from_shim.read_exact(&mut payload).await.ok()?;
        let stream = match header[0] {
            proto::STDOUT => OutputStream::Stdout,
            proto::STDERR => OutputStream::Stderr,
            proto::EXIT => {
                let exit: berth_oci::ExitInfo = serde_json::from_slice(&payload).ok()?;
                return Some(i64::from(exit.exit_code));
            }
            _ => continue,
        };
        // A write error means the client is gone.
        output.write(stream, &payload).await.ok()?;
    }
}

/// Attaches now, or (for a container not started yet, as `docker run`
/// does) as soon as it is created, before its process runs.
pub fn attach(
    oci: &OciAdapter,
    c: &Container,
    options: AttachOptions,
) -> Result<ContainerAttach, ApiError> {
    let stdin = options.stdin && c.process.open_stdin;
    let stdin_once = c.process.stdin_once;
    let oci = oci.clone();
    let id = c.id.clone();
    Ok(ContainerAttach {
        tty: c.process.tty,
        session: StreamSession::new(move |io| async move {
            let socket = oci
                .attach(&id, options.stdout, options.stderr)
                .await
                .map_err(oci_error)?;
            pump(async_socket(socket)?, io, stdin, stdin_once).await;
            Ok(())
        }),
    })
}

fn async_socket(socket: std::os::unix::net::UnixStream) -> Result<UnixStream, ApiError> {
    socket
        .set_nonblocking(true)
        .and_then(|()| UnixStream::from_std(socket))
        .map_err(|e| ApiError::internal(format!("attach stream: {e}")))
}

pub fn logs(
    oci: &OciAdapter,
    c: &Container,
    options: LogsOptions,
) -> Result<ContainerLogs, ApiError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let reader = oci
        .runtime()
        .logs(
            &c.id,
            berth_oci::logs::LogOptions {
                follow: options.follow,
                tail: options.tail,
                since: options.since,
                until: options.until,
                cancel: Some(Arc::clone(&cancel)),
            },
        )
        .map_err(oci_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel(LOG_BUFFER);
    // The reader blocks (it polls the file while following): it gets a
    // thread for as long as the client reads.
    std::thread::spawn(move || {
        for entry in reader {
            let message = entry
                .map(|e| LogMessage {
                    stream: match e.stream {
                        berth_oci::logs::Stream::Stdout => OutputStream::Stdout,
                        berth_oci::logs::Stream::Stderr => OutputStream::Stderr,
                    },
                    timestamp: e.time,
                    line: Bytes::from(e.line),
                })
                .map_err(|e| std::io::Error::other(e.to_string()));
            if tx.blocking_send(message).is_err() {
                cancel.store(true, Ordering::Relaxed);
                return;
            }
        }
    });
    let messages =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    Ok(ContainerLogs {
        tty: c.process.tty,
        messages: Box::pin(messages),
    })
}

/// One `docker exec` instance.
struct ExecRecord {
    container: ContainerId,
    config: ExecConfig,
    /// The container's environment, working dir and user, as defaults.
    base: berth_core::container::ProcessConfig,
    /// The container's image, where user names are looked up.
    image_rootfs: PathBuf,
    /// The container's `--ulimit`s, which its execs get too.
    ulimits: Vec<berth_core::container::Ulimit>,
    /// The container's `--group-add`, which its execs get too.
    group_add: Vec<String>,
    hostname: String,
    started: bool,
    running: bool,
    pid: u32,
    exit_code: Option<i64>,
}

/// The exec instances of this daemon run (Docker keeps them in memory too).
pub struct Execs {
    records: Mutex<HashMap<String, ExecRecord>>,
    /// Where their `exec_create`/`exec_start`/`exec_die` events go.
    engine: EngineHandle<RealHost>,
}

impl Execs {
    pub fn new(engine: EngineHandle<RealHost>) -> Self {
        Execs {
            records: Mutex::default(),
            engine,
        }
    }

    /// dockerd's exec event: the action, with the command for create and
    /// start (`exec_start: sh -c date`), on the container as it is now.
    fn event(&self, container: &ContainerId, action: &str, extra: &[(&str, String)]) {
        if let Ok(c) = self.engine.inspect_container(container.as_str()) {
            self.engine.container_event(&c, action, extra);
        }
    }
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(&self, c: &Container, config: ExecConfig, image_rootfs: PathBuf) -> String {
        let mut bytes = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut bytes) {
            tracing::error!(error = %e, "no randomness for an exec id");
        }
        let id = hex::encode(bytes);
        let action = format!("exec_create: {}", command_line(&config));
        self.event(&c.id, &action, &[("execID", id.clone())]);
        self.lock().insert(
            id.clone(),
            ExecRecord {
                container: c.id.clone(),
                config,
                base: c.process.clone(),
                image_rootfs,
                ulimits: c.resources.ulimits.clone(),
                group_add: c.security.group_add.clone(),
                hostname: c.dns.hostname.clone(),
                started: false,
                running: false,
                pid: 0,
                exit_code: None,
            },
        );
        id
    }

    /// Marks the exec started and returns what it runs.
    fn begin(
        &self,
        exec_id: &str,
    ) -> Result<(ContainerId, berth_oci::spec::ProcessSpec, ExecMode), ApiError> {
        let mut records = self.lock();
        let record = records
            .get_mut(exec_id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
        if record.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {exec_id} is already running"
            )));
        }
        record.started = true;
        record.running = true;
        let action = format!("exec_start: {}", command_line(&record.config));
        self.event(
            &record.container,
            &action,
            &[("execID", exec_id.to_owned())],
        );
        let cfg = &record.config;
        let tty = cfg.tty.unwrap_or(false);
        let mut env = record.base.env.clone();
        for var in cfg.env.iter().flatten() {
            let key = var.split('=').next().unwrap_or(var);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(var.clone());
        }
        let cwd = cfg
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .or_else(|| Some(record.base.working_dir.clone()).filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".to_owned());
        let user = cfg
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| record.base.user.clone());
        let spec = berth_oci::spec::ProcessSpec {
            args: cfg.cmd.clone().unwrap_or_default(),
            env: berth_oci::adapter::process_env(&env, &record.hostname, tty),
            cwd,
            tty,
            // spawn_exec sizes the terminal from the start request.
            console_size: None,
            user: berth_oci::adapter::resolve_user(&user, &record.group_add, &record.image_rootfs)
                .map_err(oci_error)?,
            nofile: berth_oci::spec::Rlimit::inherited_nofile(),
            ulimits: record.ulimits.clone(),
        };
        Ok((
            record.container.clone(),
            spec,
            ExecMode {
                stdin: cfg.attach_stdin.unwrap_or(false),
                privileged: cfg.privileged.unwrap_or(false),
            },
        ))
    }

    fn set_pid(&self, exec_id: &str, pid: u32) {
        if let Some(r) = self.lock().get_mut(exec_id) {
            r.pid = pid;
        }
    }

    fn finish(&self, exec_id: &str, code: i64) {
        let container = self.lock().get_mut(exec_id).map(|r| {
            r.running = false;
            r.exit_code = Some(code);
            r.container.clone()
        });
        if let Some(container) = container {
            let extra = [
                ("execID", exec_id.to_owned()),
                ("exitCode", code.to_string()),
            ];
            self.event(&container, "exec_die", &extra);
        }
    }

    fn container_of(&self, exec_id: &str) -> Result<ContainerId, ApiError> {
        self.lock()
            .get(exec_id)
            .map(|r| r.container.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))
    }

    pub fn inspect(&self, exec_id: &str) -> Result<ExecInspectResponse, ApiError> {
        let records = self.lock();
        let r = records
            .get(exec_id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
        let cmd = r.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(String::new()),
            id: Some(exec_id.to_owned()),
            running: Some(r.running),
            exit_code: r.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(r.config.privileged.unwrap_or(false)),
                user: r.config.user.clone(),
                tty: r.config.tty,
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: r.config.attach_stdin,
            open_stderr: r.config.attach_stderr,
            open_stdout: r.config.attach_stdout,
            container_id: Some(r.container.to_string()),
            pid: Some(i64::from(r.pid)),
        })
    }
}

/// How an exec runs beside its process: with stdin kept open (`-i`), with
/// every capability (`--privileged`).
#[derive(Clone, Copy, Debug)]
struct ExecMode {
    stdin: bool,
    privileged: bool,
}

/// Starts the exec's process under its own shim; with `attach`, first
/// attaches so no output is lost.
async fn spawn_exec(
    oci: &OciAdapter,
    container: ContainerId,
    exec: ExecId,
    spec: berth_oci::spec::ProcessSpec,
    how: ExecMode,
    console: Option<TtySize>,
    attach: bool,
) -> Result<(Option<std::os::unix::net::UnixStream>, u32), berth_oci::Error> {
    oci.blocking(move |rt, _| {
        rt.exec_spawn(&container, &exec, &spec, how.stdin, how.privileged)?;
        let shim = rt.exec_shim(&container, &exec);
        let stream = if attach {
            Some(shim.attach(true, true)?.into_inner())
        } else {
            None
        };
        let pid = shim.start()?;
        if let Some(size) = console {
            let (w, h) = tty_dims(size);
            shim.resize(w, h)?;
        }
        Ok((stream, pid))
    })
    .await
}

/// moby's `setExitCodeFromError` for an exec that could not start: the
/// runtime's words as containerd reports them (`OCI runtime exec failed:
/// ...: unknown`), a 400 with the exit code a shell gives (127 not found,
/// 126 not executable) when the command is at fault, else a 500.
fn exec_start_failure(e: berth_oci::Error) -> (ApiError, i64) {
    let text = e.to_string();
    let Some(at) = text.find("exec failed:") else {
        return (oci_error(e), 126);
    };
    let message = format!("OCI runtime exec failed: {}: unknown", &text[at..]);
    let has = |words: &str| message.to_lowercase().contains(words);
    if has("permission denied") || has("is a directory") {
        (ApiError::invalid_parameter(message), 126)
    } else if has("executable file not found") || has("no such file or directory") {
        (ApiError::invalid_parameter(message), 127)
    } else {
        (ApiError::internal(message), 126)
    }
}

fn exec_id(exec_id: &str) -> Result<ExecId, ApiError> {
    ExecId::parse(exec_id)
        .map_err(|_| ApiError::not_found(format!("No such exec instance: {exec_id}")))
}

/// moby's `Entrypoint + " " + Args`: the first word, a space, the rest.
fn command_line(config: &ExecConfig) -> String {
    let cmd = config.cmd.as_deref().unwrap_or_default();
    match cmd.split_first() {
        Some((first, rest)) => format!("{first} {}", rest.join(" ")),
        None => " ".to_owned(),
    }
}

/// Reaps a finished exec's shim directory once its exit is known.
fn forget_exec(oci: &OciAdapter, container: &ContainerId, exec: &ExecId) {
    if let Err(e) = oci.runtime().exec_remove(container, exec) {
        tracing::warn!(exec = %exec.as_str(), error = %e, "exec files not removed");
    }
}

pub async fn exec_start_detached(
    execs: Arc<Execs>,
    oci: OciAdapter,
    id: &str,
    options: ExecStartOptions,
) -> Result<(), ApiError> {
    let exec = exec_id(id)?;
    let (container, spec, how) = execs.begin(id)?;
    let spawned = spawn_exec(
        &oci,
        container.clone(),
        exec.clone(),
        spec,
        ExecMode {
            stdin: false,
            ..how
        },
        options.console_size,
        false,
    )
    .await;
    let (_, pid) = match spawned {
        Ok(ok) => ok,
        Err(e) => {
            let (error, code) = exec_start_failure(e);
            execs.finish(id, code);
            forget_exec(&oci, &container, &exec);
            return Err(error);
        }
    };
    execs.set_pid(id, pid);
    let id = id.to_owned();
    // Nobody attached: record the exit when it comes.
    tokio::spawn(async move {
        let waited = oci
            .blocking({
                let (container, exec) = (container.clone(), exec.clone());
                move |rt, _| rt.exec_shim(&container, &exec).wait(None)
            })
            .await;
        let code = waited.ok().flatten().map_or(-1, |e| i64::from(e.exit_code));
        execs.finish(&id, code);
        forget_exec(&oci, &container, &exec);
    });
    Ok(())
}

pub fn exec_start_attached(
    execs: Arc<Execs>,
    oci: OciAdapter,
    id: &str,
    options: ExecStartOptions,
) -> Result<StreamSession, ApiError> {
    let exec = exec_id(id)?;
    let (container, spec, how) = execs.begin(id)?;
    let id = id.to_owned();
    Ok(StreamSession::new(move |io| async move {
        let started = spawn_exec(
            &oci,
            container.clone(),
            exec.clone(),
            spec,
            how,
            options.console_size,
            true,
        )
        .await;
        let (stream, pid) = match started {
            Ok(ok) => ok,
            Err(e) => {
                let (error, code) = exec_start_failure(e);
                execs.finish(&id, code);
                forget_exec(&oci, &container, &exec);
                return Err(error);
            }
        };
        execs.set_pid(&id, pid);
        let code = match stream {
            Some(stream) => pump(async_socket(stream)?, io, how.stdin, true).await,
            None => None,
        };
        // The client may have gone before the exit: ask the shim (or its
        // exit file) so inspect still reports the code.
        let code = match code {
            Some(code) => code,
            None => oci
                .blocking({
                    let (container, exec) = (container.clone(), exec.clone());
                    move |rt, _| rt.exec_shim(&container, &exec).wait(None)
                })
                .await
                .ok()
                .flatten()
                .map_or(-1, |e| i64::from(e.exit_code)),
        };
        execs.finish(&id, code);
        forget_exec(&oci, &container, &exec);
        Ok(())
    }))
}

pub async fn exec_resize(
    execs: &Execs,
    oci: &OciAdapter,
    id: &str,
    size: TtySize,
) -> Result<(), ApiError> {
    let exec = exec_id(id)?;
    let container = execs.container_of(id)?;
    let (w, h) = tty_dims(size);
    oci.blocking(move |rt, _| rt.exec_shim(&container, &exec).resize(w, h))
        .await
        .map_err(oci_error)
}
