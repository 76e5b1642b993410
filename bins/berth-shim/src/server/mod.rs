//! The shim's single-threaded poll loop: container output to the log and to
//! attached clients, client stdin to the container, requests, and reaping.
//!
//! `runc` launches the process, `output` carries its output and stdin,
//! `clients` speaks the control socket's protocol, `exit` reaps the process
//! and leaves its record.

mod clients;
mod exit;
mod output;
mod runc;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use berth_oci::runc::Runc;
use berth_oci::shim::proto::{ExitInfo, ProcessState};
use berth_oci::shim::{ShimConfig, ShimMode};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::log;
use clients::{flush_client, Client};
use output::{LogWriter, Source};
use runc::Launch;

/// Stop reading client input while this much stdin is unwritten.
const MAX_STDIN_BACKLOG: usize = 1 << 20;
const READ_CHUNK: usize = 32 * 1024;

type Res<T> = Result<T, String>;

pub struct Server {
    cfg: ShimConfig,
    runc: Runc,
    listener: UnixListener,
    sigfd: SignalFd,
    state: ProcessState,
    pid: Option<Pid>,
    exit: Option<ExitInfo>,
    drain_until: Option<Instant>,
    sources: Vec<Source>,
    stdin: Option<File>,
    stdin_buf: Vec<u8>,
    stdin_close: bool,
    master: Option<File>,
    winsize: Option<(u16, u16)>,
    log: Option<LogWriter>,
    clients: Vec<Client>,
    buf: Vec<u8>,
}

fn remove_quietly(path: &str) {
    let _ = fs::remove_file(path);
}

impl Server {
    /// Binds the socket and, for a container, runs `runc create`. Runs in
    /// the shim's directory (see `detach`).
    pub fn setup(cfg: ShimConfig) -> Res<Server> {
        berth_oci::fsutil::write_atomic(&cfg.pid_file(), std::process::id().to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        // Block SIGCHLD before any child exists, so no exit is missed; the
        // children runc starts get a clean mask (std's spawn resets it).
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()
            .map_err(|e| format!("block SIGCHLD: {e}"))?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| format!("signalfd: {e}"))?;

        remove_quietly(cfg.socket_name());
        let listener = UnixListener::bind(cfg.socket_name())
            .map_err(|e| format!("bind {}: {e}", cfg.socket().display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("socket: {e}"))?;
        fs::set_permissions(cfg.socket_name(), fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod socket: {e}"))?;

        let log = match &cfg.mode {
            ShimMode::Container { log_file, .. } => Some(LogWriter {
                file: OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_file)
                    .map_err(|e| format!("open {}: {e}", log_file.display()))?,
                partial: [Vec::new(), Vec::new()],
            }),
            ShimMode::Exec => None,
        };
        let runc = Runc::new(&cfg.runtime, &cfg.runtime_root).hiding(cfg.runc_hides.clone());
        let mut server = Server {
            cfg,
            runc,
            listener,
            sigfd,
            state: ProcessState::Created,
            pid: None,
            exit: None,
            drain_until: None,
            sources: Vec::new(),
            stdin: None,
            stdin_buf: Vec::new(),
            stdin_close: false,
            master: None,
            winsize: None,
            log,
            clients: Vec::new(),
            buf: vec![0; READ_CHUNK],
        };
        if matches!(server.cfg.mode, ShimMode::Container { .. }) {
            let pid = server.run_runc(Launch::Create)?;
            log!("created container {} (pid {pid})", server.cfg.id);
        }
        Ok(server)
    }

    pub fn run(&mut self) {
        loop {
            if self.finished() {
                break;
            }
            self.poll_once();
        }
        self.finish();
    }

    fn finished(&self) -> bool {
        self.state == ProcessState::Exited
            && (self.sources.iter().all(|s| !s.open)
                || self.drain_until.is_some_and(|d| Instant::now() >= d))
    }

    fn poll_once(&mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(4 + self.clients.len());
        let pfd = |fd: RawFd, events: libc::c_short| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.push(pfd(self.sigfd.as_fd().as_raw_fd(), libc::POLLIN));
        fds.push(pfd(self.listener.as_raw_fd(), libc::POLLIN));
        let src_base = fds.len();
        for s in &self.sources {
            // A closed source keeps its slot (fd -1 is ignored by poll).
            fds.push(pfd(
                if s.open { s.file.as_raw_fd() } else { -1 },
                libc::POLLIN,
            ));
        }
        let stdin_slot = fds.len();
        let stdin_fd = match &self.stdin {
            Some(f) if !self.stdin_buf.is_empty() => f.as_raw_fd(),
            _ => -1,
        };
        fds.push(pfd(stdin_fd, libc::POLLOUT));
        let client_base = fds.len();
        let take_input = self.stdin_buf.len() < MAX_STDIN_BACKLOG;
        for c in &self.clients {
            let mut ev = 0;
            if take_input && !c.read_closed {
                ev |= libc::POLLIN;
            }
            if !c.outbuf.is_empty() {
                ev |= libc::POLLOUT;
            }
            fds.push(pfd(c.stream.as_raw_fd(), ev));
        }
        let timeout = match self.drain_until {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            None => -1,
        };
        // SAFETY: `fds` is a live, correctly sized array of pollfd; every
        // fd in it is owned by `self` and stays open during the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                log!("poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            return;
        }
        let ready = |i: usize| fds[i].revents != 0;
        if ready(0) {
            while let Ok(Some(_)) = self.sigfd.read_signal() {}
            self.reap();
        }
        if ready(1) {
            self.accept();
        }
        for i in 0..self.sources.len() {
            if ready(src_base + i) {
                self.read_source(i);
            }
        }
        if ready(stdin_slot) {
            self.write_stdin();
        }
        let nclients = fds.len() - client_base;
        for i in 0..nclients {
            let rev = fds[client_base + i].revents;
            if rev & libc::POLLIN != 0 {
                self.read_client(i);
            }
            // Gone both ways (poll reports this whatever we asked for, so
            // keeping the client would spin).
            if rev & (libc::POLLHUP | libc::POLLERR) != 0 {
                self.clients[i].dead = true;
                continue;
            }
            if rev & libc::POLLOUT != 0 {
                flush_client(&mut self.clients[i]);
            }
        }
        self.clients.retain(|c| !c.dead);
        self.maybe_close_stdin();
    }
}
