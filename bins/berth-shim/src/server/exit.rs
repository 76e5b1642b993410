//! The process's end: reaping it, and once its output is drained, its exit
//! record, the clients told, the shim gone.

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use berth_oci::shim::proto::{self, ExitInfo, ProcessState};
use berth_oci::shim::ShimMode;
use berth_oci::time::format_rfc3339_nano;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::clients::queue;
use super::{remove_quietly, Server};
use crate::log;

/// After the process exits, how long to wait for the rest of its output
/// (its pipes close when the last holder dies; a daemonized grandchild
/// holding them open must not keep the shim forever).
const DRAIN: Duration = Duration::from_secs(2);

impl Server {
    pub(super) fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.on_exit(pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, code: i32) {
        if Some(pid) != self.pid {
            return;
        }
        log!("process {pid} exited with {code}");
        self.record_exit(code, None);
    }

    pub(super) fn record_exit(&mut self, code: i32, error: Option<String>) {
        self.state = ProcessState::Exited;
        self.exit = Some(ExitInfo {
            exit_code: code,
            finished_at: format_rfc3339_nano(SystemTime::now()),
            error,
        });
        self.drain_until = Some(Instant::now() + DRAIN);
    }

    /// The process is gone and its output drained: leave a record, tell
    /// the clients, go.
    pub(super) fn finish(&mut self) {
        // Whatever is still readable without blocking.
        for i in 0..self.sources.len() {
            while self.read_source(i) {}
        }
        if let Some(log) = &mut self.log {
            log.flush();
        }
        let exit = self.exit.clone().unwrap_or(ExitInfo {
            exit_code: 255,
            finished_at: format_rfc3339_nano(SystemTime::now()),
            error: Some("exit status unknown".into()),
        });
        if matches!(self.cfg.mode, ShimMode::Container { .. }) {
            // The container is over; its runc state is not needed, and a
            // restart must find the id free.
            if let Err(e) = self.runc.delete(&self.cfg.id, true) {
                log!("{e}");
            }
        }
        match serde_json::to_vec(&exit) {
            Ok(b) => {
                if let Err(e) = berth_oci::fsutil::write_atomic(&self.cfg.exit_file, &b) {
                    log!("{e}");
                }
            }
            Err(e) => log!("encode exit: {e}"),
        }
        // Unlink the socket before telling anyone: a new shim for the same
        // container (a restart) may bind it right after our EXIT.
        remove_quietly(self.cfg.socket_name());
        let _ = fs::remove_file(self.cfg.pid_file());
        let body = serde_json::to_vec(&exit).unwrap_or_default();
        for c in &mut self.clients {
            if c.waiting || c.attach != 0 {
                queue(c, proto::EXIT, &body);
            }
            // Blocking, bounded: a client that does not read is not worth
            // more than this.
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = c.stream.write_all(&c.outbuf);
        }
        log!(
            "exiting: {} finished with {}",
            self.cfg.target,
            exit.exit_code
        );
    }
}
