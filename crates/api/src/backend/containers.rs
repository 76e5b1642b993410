//! The typed parameters and results of the container and exec operations:
//! stop, remove, list, wait, stats, logs, attach, archives, TTY sizes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::SystemTime;

use bollard_stubs::models::{ContainerStatsResponse, ContainerWaitResponse};
use bytes::Bytes;
use futures::Stream;

use crate::filters::Filters;
use crate::stream::{OutputStream, StreamSession};

/// dockerd's `container.PathStat`, sent base64-encoded in the
/// `X-Docker-Container-Path-Stat` header. `mode` is Go's `os.FileMode`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// `PUT /containers/{id}/archive` parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: an error rather than replace a directory
    /// with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID` (`docker cp -a`): the files belong to the container's
    /// user rather than to the archive's owners.
    pub copy_uid_gid: bool,
}

/// `stop` and `restart` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopOptions {
    /// Seconds to wait before killing; `None` uses the container's
    /// `StopTimeout` (default 10); negative waits forever.
    pub timeout: Option<i64>,
    /// The stop signal (`signal=`, API >= 1.42), `None` for the container's
    /// `StopSignal` (default `SIGTERM`).
    pub signal: Option<String>,
}

/// `DELETE /containers/{id}` parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Remove the container's anonymous volumes too (`v=`, `rm -v`).
    pub volumes: bool,
    /// Remove the link (`link=`), not the container.
    pub link: bool,
}

/// `GET /containers/json` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerListOptions {
    /// Include stopped containers (`docker ps -a`); otherwise running only.
    pub all: bool,
    /// At most this many, newest first (`docker ps -n`); `None` is no limit.
    pub limit: Option<usize>,
    /// Fill `SizeRw` and `SizeRootFs` (`docker ps -s`).
    pub size: bool,
    /// Only containers created after this one (id or name).
    pub since: Option<String>,
    /// Only containers created before this one (id or name).
    pub before: Option<String>,
    /// Normalised; unknown keys are the backend's to reject with Docker's
    /// `invalid filter '<key>'`.
    pub filters: Filters,
}

/// When a wait completes (`condition=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// The container is not running: at once if it is created or exited.
    NotRunning,
    /// The container's next exit, even if it is not running yet (what
    /// `docker run` uses).
    NextExit,
    /// The container is removed (`docker run --rm`).
    Removed,
}

/// What a wait resolves to: `StatusCode` is the exit code; `Error.Message`
/// reports a wait that failed (e.g. the removal did).
pub type WaitFuture = Pin<Box<dyn Future<Output = ContainerWaitResponse> + Send>>;

/// `GET /containers/{id}/stats` parameters; never both `stream` and
/// `one_shot` (the HTTP layer refuses that as dockerd does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsOptions {
    /// A sample a second until the client goes (the default).
    pub stream: bool,
    /// Without `stream`: one sample at once, no `precpu_stats` (else dockerd
    /// waits for a second sample so the CPU percentage can be computed).
    pub one_shot: bool,
}

/// `docker stats` documents, in order.
pub type StatsStream = Pin<Box<dyn Stream<Item = ContainerStatsResponse> + Send>>;

/// `GET /containers/{id}/logs` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsOptions {
    /// Keep streaming new output until the container stops (`logs -f`).
    pub follow: bool,
    /// Stdout wanted; at least one of `stdout` and `stderr` is true.
    pub stdout: bool,
    pub stderr: bool,
    /// Only messages at or after this time.
    pub since: Option<SystemTime>,
    /// Only messages before this time.
    pub until: Option<SystemTime>,
    /// Only the last this many messages; `None` is all (Docker: `all`, or
    /// anything that is not a non-negative number).
    pub tail: Option<usize>,
}

/// One log message: a line of output as the process wrote it (ending in
/// `\n` unless it was the last, unterminated one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    pub stream: OutputStream,
    /// When the daemon read it; shown with `timestamps=1`.
    pub timestamp: SystemTime,
    pub line: Bytes,
}

/// Log messages, in order. An `Err` is reported to the client in band and
/// the stream continues.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogMessage, io::Error>> + Send>>;

/// A container's logs and whether it has a TTY (then the output is sent raw;
/// otherwise stdcopy-framed).
pub struct ContainerLogs {
    pub tty: bool,
    pub messages: LogStream,
}

/// `POST /containers/{id}/attach` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// Stream live output (and input); without it, only `logs` is sent.
    pub stream: bool,
    /// Forward the client's input to the container's stdin (only if the
    /// container has `OpenStdin`).
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the container's logs first.
    pub logs: bool,
    /// The key sequence that detaches (`ctrl-p,ctrl-q` by default), as the
    /// client wrote it; `None` for the default.
    pub detach_keys: Option<String>,
}

/// An attach ready to run: whether the container has a TTY (raw output)
/// or not (stdcopy-framed), and the session.
#[derive(Debug)]
pub struct ContainerAttach {
    pub tty: bool,
    pub session: StreamSession,
}

/// A TTY size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtySize {
    pub height: u32,
    pub width: u32,
}

/// `POST /exec/{id}/start` body, as the backend needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStartOptions {
    /// Whether the client expects raw (TTY) output.
    pub tty: bool,
    /// The initial TTY size; only with `tty` and API >= 1.42.
    pub console_size: Option<TtySize>,
}
