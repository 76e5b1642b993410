//! A daemon (berthd, or dockerd for comparison) run in a sandbox host:
//! started with its output in a log file, ready once it answers `/_ping`
//! on its socket, stopped by SIGTERM or killed.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::http::Client;
use crate::proc::terminate;
use crate::{io, Error, Result};

pub struct DaemonProcess {
    child: Child,
    log: PathBuf,
}

impl DaemonProcess {
    /// Spawns `cmd` (already pointed at `socket`) with stdout and stderr
    /// appended to `log`, and waits up to `timeout` for it to answer
    /// `/_ping`. `name` is for messages.
    pub fn start(
        name: &str,
        cmd: &mut Command,
        log: &Path,
        socket: &Path,
        timeout: Duration,
    ) -> Result<DaemonProcess> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("open {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("dup {}", log.display())))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("start {cmd:?}")))?;
        let mut daemon = DaemonProcess {
            child,
            log: log.to_path_buf(),
        };
        let client = Client::new(socket);
        let deadline = Instant::now() + timeout;
        while !client.ping() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(Error::ExitedEarly {
                    what: name.to_owned(),
                    status,
                    log: daemon.log_text(),
                });
            }
            if Instant::now() > deadline {
                let log = daemon.log_text();
                daemon.kill();
                return Err(Error::NoAnswer {
                    what: name.to_owned(),
                    log,
                });
            }
            sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    /// The daemon's pid (nsenter without --pid execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A clean shutdown: SIGTERM, then wait (SIGKILL after `timeout` if
    /// one is given). The exit code, -1 when killed by a signal.
    pub fn stop(mut self, timeout: Option<Duration>) -> i32 {
        terminate(&mut self.child, timeout)
    }

    /// SIGKILL: a crash at an arbitrary moment.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
