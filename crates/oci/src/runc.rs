//! The runc driver. Every call passes berth's own `--root` (under the exec
//! root), never runc's default `/run/runc`, so berth only ever sees and
//! touches its own containers. Errors carry the container id and runc's
//! own message.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;
use serde::Deserialize;

use crate::error::{Error, Result, RuntimeFailure};

#[derive(Debug, Clone)]
pub struct Runc {
    binary: PathBuf,
    root: PathBuf,
    /// A mount (berth's netns directory) runc runs without: see
    /// [`crate::mountns`].
    hidden: Option<PathBuf>,
    /// `berth-shim`, to run runc through ([`crate::mountns::RUN_HIDING`]);
    /// without it a pre-exec hook does the same.
    wrapper: Option<PathBuf>,
}

/// `runc state` output (the fields berth reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuncState {
    pub id: String,
    pub pid: u32,
    /// `created`, `running`, `paused` or `stopped`.
    pub status: String,
    pub bundle: PathBuf,
    pub created: String,
}

impl Runc {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Runc {
            binary: binary.into(),
            root: root.into(),
            hidden: None,
            wrapper: None,
        }
    }

    /// Runs runc (except `create`, whose shim sets up its namespace itself)
    /// in a mount namespace without `dir`.
    pub fn hiding(mut self, dir: Option<PathBuf>) -> Self {
        self.hidden = dir;
        self
    }

    /// Runs runc through `berth-shim --run-hiding` rather than with a
    /// pre-exec hook (see [`crate::mountns::RUN_HIDING`]).
    pub fn through(mut self, wrapper: PathBuf) -> Self {
        self.wrapper = Some(wrapper);
        self
    }

    pub fn hidden(&self) -> Option<&Path> {
        self.hidden.as_deref()
    }

    /// [`Runc::base`] in a namespace without the hidden mount.
    fn base_hiding(&self) -> std::io::Result<Command> {
        match (&self.hidden, &self.wrapper) {
            (Some(dir), Some(wrapper)) => {
                let mut c = crate::mountns::hiding_command(wrapper, dir, &self.binary);
                c.arg("--root").arg(&self.root);
                Ok(c)
            }
            (Some(dir), None) => {
                let mut c = self.base();
                crate::mountns::hide_in_new_namespace(&mut c, dir)?;
                Ok(c)
            }
            (None, _) => Ok(self.base()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn base(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    /// `runc create` with the caller's stdio (the container's own), so runc
    /// is told to log its errors as JSON to `log` instead; read them back
    /// with [`Runc::error_from_log`].
    pub fn create_command(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        log: &Path,
    ) -> Command {
        let mut c = self.base();
        c.arg("--log")
            .arg(log)
            .args(["--log-format", "json", "create", "--bundle"]);
        c.arg(bundle).arg("--pid-file").arg(pid_file);
        if let Some(s) = console_socket {
            c.arg("--console-socket").arg(s);
        }
        c.arg(id);
        c
    }

    /// `runc exec --detach` of a `process.json`, with the caller's stdio,
    /// logging like [`Runc::create_command`]. Detached, so the process is
    /// reparented to the caller when the caller is a child subreaper (the
    /// shim), which then reaps it and learns its exit code.
    pub fn exec_command(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        log: &Path,
    ) -> Command {
        let mut c = self.base();
        c.arg("--log")
            .arg(log)
            .args(["--log-format", "json", "exec", "--detach"]);
        c.arg("--process")
            .arg(process)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(s) = console_socket {
            c.arg("--console-socket").arg(s);
        }
        c.arg(id);
        c
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.run("start", id, &["start", id]).map(drop)
    }

    /// Signals the container's init.
    pub fn kill(&self, id: &str, signal: Signal) -> Result<()> {
        let sig = (signal as i32).to_string();
        self.run("kill", id, &["kill", id, &sig]).map(drop)
    }

    /// Freezes every process of the container (its cgroup's freezer).
    pub fn pause(&self, id: &str) -> Result<()> {
        self.run("pause", id, &["pause", id]).map(drop)
    }

    /// Thaws what [`Runc::pause`] froze.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.run("resume", id, &["resume", id]).map(drop)
    }

    /// The host pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<u32>> {
        let out = self.run("ps", id, &["ps", "--format", "json", id])?;
        serde_json::from_slice(&out.stdout)
            .map_err(|e| self.error("ps", id, RuntimeFailure::Other, format!("bad JSON: {e}")))
    }

    /// `runc delete`; with `force` a running container is killed first.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let args: &[&str] = if force {
            &["delete", "--force", id]
        } else {
            &["delete", id]
        };
        self.run("delete", id, args).map(drop)
    }

    /// The container's state, or `None` when runc does not know it.
    pub fn state(&self, id: &str) -> Result<Option<RuncState>> {
        match self.run("state", id, &["state", id]) {
            Ok(out) => serde_json::from_slice(&out.stdout).map(Some).map_err(|e| {
                self.error("state", id, RuntimeFailure::Other, format!("bad JSON: {e}"))
            }),
            Err(Error::Runtime {
                failure: RuntimeFailure::NotFound,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container under berth's runc root, for reconciliation.
    pub fn list(&self) -> Result<Vec<RuncState>> {
        let out = self.run("list", "*", &["list", "--format", "json"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        // runc prints `null` when there are none.
        if text.trim() == "null" || text.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&text)
            .map_err(|e| self.error("list", "*", RuntimeFailure::Other, format!("bad JSON: {e}")))
    }

    /// `runc update --resources -`: new cgroup limits (`linux.resources`
    /// JSON) for a running container.
    pub fn update(&self, id: &str, resources: &[u8]) -> Result<()> {
        self.run_with_input("update", id, &["update", "--resources", "-", id], resources)
            .map(drop)
    }

    fn run(&self, op: &'static str, id: &str, args: &[&str]) -> Result<Output> {
        self.run_with_input(op, id, args, &[])
    }

    /// Runs runc with `input` on its stdin (nothing: an empty stdin).
    fn run_with_input(
        &self,
        op: &'static str,
        id: &str,
        args: &[&str],
        input: &[u8],
    ) -> Result<Output> {
        let out = self
            .base_hiding()
            .and_then(|mut c| {
                if input.is_empty() {
                    return c.args(args).stdin(Stdio::null()).output();
                }
                let mut child = c
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?;
                if let Some(mut stdin) = child.stdin.take() {
                    std::io::Write::write_all(&mut stdin, input)?;
                }
                child.wait_with_output()
            })
            .map_err(|e| {
                self.error(
                    op,
                    id,
                    RuntimeFailure::Other,
                    format!("cannot run {}: {e}", self.binary.display()),
                )
            })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failed(op, id, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    fn error(&self, op: &'static str, id: &str, failure: RuntimeFailure, message: String) -> Error {
        Error::Runtime {
            op,
            id: id.to_owned(),
            failure,
            message,
        }
    }

    /// An error from runc's message, classified.
    pub fn failed(&self, op: &'static str, id: &str, message: &str) -> Error {
        let message = tidy(message);
        self.error(op, id, classify(&message), message)
    }

    /// The error runc logged to `log` (JSON lines, see `create_command`), or
    /// `fallback` when it logged none.
    pub fn error_from_log(&self, op: &'static str, id: &str, log: &Path, fallback: &str) -> Error {
        let logged = fs::read_to_string(log)
            .ok()
            .and_then(|t| last_logged_error(&t));
        let message = match logged {
            Some(m) => m,
            None if fallback.trim().is_empty() => "failed (no message)".to_owned(),
            None => fallback.to_owned(),
        };
        self.failed(op, id, &message)
    }
}

/// runc 1.1 prints `time="..." level=error msg="..."` lines on stderr; keep
/// only the messages.
fn tidy(stderr: &str) -> String {
    let msgs: Vec<String> = stderr
        .lines()
        .map(|l| match l.find("msg=\"") {
            Some(i) => {
                let rest = &l[i + 5..];
                let end = rest.rfind('"').unwrap_or(rest.len());
                rest[..end].replace("\\\"", "\"")
            }
            None => l.to_owned(),
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    msgs.join("; ")
}

fn last_logged_error(log: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Line {
        level: String,
        msg: String,
    }
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .find(|l| l.level == "error" || l.level == "fatal")
        .map(|l| l.msg)
}

fn classify(message: &str) -> RuntimeFailure {
    if message.contains("does not exist") {
        RuntimeFailure::NotFound
    } else if message.contains("not running") || message.contains("container is stopped") {
        RuntimeFailure::NotRunning
    } else {
        RuntimeFailure::Other
    }
}

/// Docker's `-s` values: `SIGKILL`, `KILL`, `kill`, `9`.
pub fn parse_signal(s: &str) -> std::result::Result<Signal, String> {
    let bad = || format!("Invalid signal: {s}");
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tidied_and_classified() {
        let r = Runc::new("runc", "/run/berth/runc");
        let e = r.failed(
            "kill",
            "abc",
            "time=\"2024-01-01T00:00:00Z\" level=error msg=\"container \\\"abc\\\" does not exist\"\n",
        );
        assert_eq!(
            e.to_string(),
            "runc kill abc: container \"abc\" does not exist"
        );
        assert!(matches!(
            e,
            Error::Runtime {
                failure: RuntimeFailure::NotFound,
                ..
            }
        ));
        let e = r.failed("kill", "abc", "container not running");
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        let e = r.failed("start", "abc", "something else");
        assert_eq!(e.kind(), crate::ErrorKind::Other);
    }

    #[test]
    fn error_log_gives_the_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runc.log");
        fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"meh\",\"time\":\"t\"}\n\
             {\"level\":\"error\",\"msg\":\"runc create failed: exec: \\\"nope\\\": executable file not found in $PATH\",\"time\":\"t\"}\n",
        )
        .unwrap();
        let r = Runc::new("runc", "/x");
        let e = r.error_from_log("create", "c1", &log, "ignored");
        assert_eq!(
            e.to_string(),
            "runc create c1: runc create failed: exec: \"nope\": executable file not found in $PATH"
        );
        let e = r.error_from_log("create", "c1", &dir.path().join("none"), "stderr said so");
        assert_eq!(e.to_string(), "runc create c1: stderr said so");
    }

    fn args_of(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn hidden_runs_go_through_the_wrapper() {
        let r = Runc::new("/usr/bin/runc", "/run/berth/runc")
            .hiding(Some("/run/berth/netns".into()))
            .through("/usr/local/bin/berth-shim".into());
        let c = r.base_hiding().unwrap();
        assert_eq!(c.get_program(), "/usr/local/bin/berth-shim");
        let args = args_of(&c);
        assert_eq!(
            args,
            [
                "--run-hiding",
                "/run/berth/netns",
                "/usr/bin/runc",
                "--root",
                "/run/berth/runc"
            ]
        );
        // Not hiding: runc itself.
        let plain = Runc::new("/usr/bin/runc", "/x").through("/w".into());
        assert_eq!(plain.base_hiding().unwrap().get_program(), "/usr/bin/runc");
    }

    #[test]
    fn commands_use_berths_root() {
        let r = Runc::new("/usr/bin/runc", "/run/berth/runc");
        let c = r.create_command(
            "c1",
            Path::new("/b"),
            Path::new("/b/init.pid"),
            Some(Path::new("console.sock")),
            Path::new("/b/runc.log"),
        );
        let args = args_of(&c);
        assert_eq!(
            args,
            [
                "--root",
                "/run/berth/runc",
                "--log",
                "/b/runc.log",
                "--log-format",
                "json",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/b/init.pid",
                "--console-socket",
                "console.sock",
                "c1"
            ]
        );
        let c = r.exec_command(
            "c1",
            Path::new("/p.json"),
            Path::new("/pid"),
            None,
            Path::new("/l"),
        );
        let args = args_of(&c);
        assert!(args.windows(2).any(|w| w == ["exec", "--detach"]));
        assert_eq!(args.last().unwrap(), "c1");
    }

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("SIGKILL"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("HUP"), Ok(Signal::SIGHUP));
        assert_eq!(parse_signal("NOPE").unwrap_err(), "Invalid signal: NOPE");
        assert!(parse_signal("999").is_err());
    }
}
