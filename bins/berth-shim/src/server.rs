//! The shim's single-threaded poll loop: container output to the log and to
//! attached clients, client stdin to the container, requests, and reaping.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use berth_oci::logs::{encode_entry, Stream};
use berth_oci::runc::Runc;
use berth_oci::shim::proto::{self, ExitInfo, ProcessState, ShimStatus};
use berth_oci::shim::{ShimConfig, ShimMode};
use berth_oci::time::format_rfc3339_nano;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log;

/// After the process exits, how long to wait for the rest of its output
/// (its pipes close when the last holder dies; a daemonized grandchild
/// holding them open must not keep the shim forever).
const DRAIN: Duration = Duration::from_secs(2);
/// A client that falls this far behind is dropped rather than letting
/// output pile up in the shim.
const MAX_CLIENT_BACKLOG: usize = 4 << 20;
/// Stop reading client input while this much stdin is unwritten.
const MAX_STDIN_BACKLOG: usize = 1 << 20;
/// Docker cuts log entries at 16 KiB when no newline comes.
const MAX_LOG_LINE: usize = 16 * 1024;
const READ_CHUNK: usize = 32 * 1024;

type Res<T> = Result<T, String>;

/// Which runc command starts the process.
#[derive(Clone, Copy)]
enum Launch {
    /// `runc create` of the container (then `runc start` on START).
    Create,
    /// `runc exec --detach` of the exec's process.json, on START.
    Exec,
}

impl Launch {
    fn op(self) -> &'static str {
        match self {
            Launch::Create => "create",
            Launch::Exec => "exec",
        }
    }
}

struct Source {
    file: File,
    stream: Stream,
    open: bool,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// `ATTACH` flags; 0 when not attached.
    attach: u8,
    waiting: bool,
    read_closed: bool,
    dead: bool,
}

/// The json-file log, cut into Docker's one-entry-per-line records.
struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    fn idx(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    fn write(&mut self, stream: Stream, mut data: &[u8]) {
        let now = SystemTime::now();
        let i = Self::idx(stream);
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            self.partial[i].extend_from_slice(&data[..=nl]);
            data = &data[nl + 1..];
            self.emit(stream, now);
        }
        self.partial[i].extend_from_slice(data);
        if self.partial[i].len() >= MAX_LOG_LINE {
            self.emit(stream, now);
        }
    }

    fn emit(&mut self, stream: Stream, now: SystemTime) {
        let i = Self::idx(stream);
        if self.partial[i].is_empty() {
            return;
        }
        let entry = encode_entry(stream, &self.partial[i], now);
        self.partial[i].clear();
        if let Err(e) = self.file.write_all(&entry) {
            log!("write log: {e}");
        }
    }

    fn flush(&mut self) {
        let now = SystemTime::now();
        self.emit(Stream::Stdout, now);
        self.emit(Stream::Stderr, now);
    }
}

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

fn set_nonblocking(fd: impl AsFd) -> Res<()> {
    let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl: {e}"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(&fd, FcntlArg::F_SETFL(flags)).map_err(|e| format!("fcntl: {e}"))?;
    Ok(())
}

fn pipe() -> Res<(File, File)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    Ok((File::from(r), File::from(w)))
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

    /// `runc create` (container) or `runc exec -d` (exec) with fresh stdio;
    /// returns the process's pid.
    fn run_runc(&mut self, launch: Launch) -> Res<u32> {
        let r = self.spawn_runc(launch);
        // Only needed while runc runs; a failure must not leave it either.
        remove_quietly(self.cfg.console_socket_name());
        r
    }

    fn spawn_runc(&mut self, launch: Launch) -> Res<u32> {
        let cfg = &self.cfg;
        let _ = fs::remove_file(cfg.runc_log());
        let _ = fs::remove_file(cfg.init_pid_file());
        let console = if cfg.tty {
            remove_quietly(cfg.console_socket_name());
            Some(
                UnixListener::bind(cfg.console_socket_name())
                    .map_err(|e| format!("bind console socket: {e}"))?,
            )
        } else {
            None
        };
        let console_path = console
            .as_ref()
            .map(|_| std::path::Path::new(cfg.console_socket_name()));
        let mut cmd = match launch {
            Launch::Create => self.runc.create_command(
                &cfg.id,
                &cfg.dir,
                &cfg.init_pid_file(),
                console_path,
                &cfg.runc_log(),
            ),
            Launch::Exec => self.runc.exec_command(
                &cfg.id,
                &cfg.process_file(),
                &cfg.init_pid_file(),
                console_path,
                &cfg.runc_log(),
            ),
        };
        // The process's stdio: pipes without a tty; with one, runc hands
        // us the pty master and its own stdio carries only its errors.
        let mut stderr_source = None;
        if cfg.tty {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
        } else {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            cmd.stdout(out_w).stderr(err_w);
            if cfg.stdin {
                let (in_r, in_w) = pipe()?;
                cmd.stdin(in_r);
                self.stdin = Some(in_w);
            } else {
                cmd.stdin(Stdio::null());
            }
            self.sources = vec![
                Source {
                    file: out_r,
                    stream: Stream::Stdout,
                    open: true,
                },
                Source {
                    file: err_r,
                    stream: Stream::Stderr,
                    open: true,
                },
            ];
            stderr_source = Some(1);
        }
        // The container's rootfs exists only in `runc create`'s own mount
        // namespace (and then in the container's), never in ours.
        let rootfs = match (&cfg.mode, launch) {
            (ShimMode::Container { rootfs, netns, .. }, Launch::Create) => {
                rootfs
                    .mount_in_new_namespace(&mut cmd, netns.as_ref())
                    .map_err(|e| e.to_string())?;
                Some(rootfs)
            }
            (_, Launch::Exec) => {
                if let Some(dir) = self.runc.hidden() {
                    berth_oci::mountns::hide_in_new_namespace(&mut cmd, dir)
                        .map_err(|e| format!("prepare runc's mount namespace: {e}"))?;
                }
                None
            }
            _ => None,
        };
        let spawned = cmd.spawn();
        // Our copies of the child's ends must go now, or the pipes never
        // reach EOF.
        drop(cmd);
        let mut child = spawned.map_err(|e| match rootfs {
            Some(r) => format!(
                "run {} in a new mount namespace with the rootfs mounted at {}: {e}",
                cfg.runtime.display(),
                r.target.display()
            ),
            None => format!("run {}: {e}", cfg.runtime.display()),
        })?;
        let master = match &console {
            Some(l) => receive_master(l, &mut child),
            None => Ok(None),
        };
        let status = child.wait().map_err(|e| format!("wait for runc: {e}"))?;
        if !status.success() {
            let mut said = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut said);
            }
            if let Some(i) = stderr_source {
                let src = &mut self.sources[i].file;
                let _ = set_nonblocking(src.as_fd());
                let mut b = vec![0u8; 64 * 1024];
                if let Ok(n) = src.read(&mut b) {
                    said.push_str(&String::from_utf8_lossy(&b[..n]));
                }
            }
            self.sources.clear();
            self.stdin = None;
            return Err(self
                .runc
                .error_from_log(launch.op(), &cfg.id, &cfg.runc_log(), &said)
                .to_string());
        }
        if let Some(m) = master? {
            let out = m.try_clone().map_err(|e| format!("dup: {e}"))?;
            if cfg.stdin {
                self.stdin = Some(m.try_clone().map_err(|e| format!("dup: {e}"))?);
            }
            self.sources = vec![Source {
                file: out,
                stream: Stream::Stdout,
                open: true,
            }];
            self.master = Some(m);
            if let Some((w, h)) = self.winsize {
                if let Err(e) = self.apply_winsize(w, h) {
                    log!("{e}");
                }
            }
        } else if cfg.tty {
            return Err("runc did not send the terminal".into());
        }
        for s in &self.sources {
            set_nonblocking(s.file.as_fd())?;
        }
        if let Some(s) = &self.stdin {
            set_nonblocking(s.as_fd())?;
        }
        let pid_file = cfg.init_pid_file();
        let pid: i32 = fs::read_to_string(&pid_file)
            .map_err(|e| format!("read {}: {e}", pid_file.display()))?
            .trim()
            .parse()
            .map_err(|e| format!("bad pid in {}: {e}", pid_file.display()))?;
        self.pid = Some(Pid::from_raw(pid));
        Ok(pid as u32)
    }

    fn apply_winsize(&self, cols: u16, rows: u16) -> Res<()> {
        let Some(m) = &self.master else {
            return Ok(());
        };
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which
        // points at a live local; the fd is the pty master we own.
        let rc = unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if rc < 0 {
            return Err(format!("resize: {}", io::Error::last_os_error()));
        }
        Ok(())
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

    fn reap(&mut self) {
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

    fn record_exit(&mut self, code: i32, error: Option<String>) {
        self.state = ProcessState::Exited;
        self.exit = Some(ExitInfo {
            exit_code: code,
            finished_at: format_rfc3339_nano(SystemTime::now()),
            error,
        });
        self.drain_until = Some(Instant::now() + DRAIN);
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        attach: 0,
                        waiting: false,
                        read_closed: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log!("accept: {e}");
                    break;
                }
            }
        }
    }

    /// Reads one chunk of output and passes it on; false when there was
    /// nothing to read (for now, or ever again).
    fn read_source(&mut self, i: usize) -> bool {
        if !self.sources[i].open {
            return false;
        }
        let n = match self.sources[i].file.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            // EIO: the pty's last slave closed; like EOF.
            Err(_) => 0,
        };
        if n == 0 {
            self.sources[i].open = false;
            return false;
        }
        let stream = self.sources[i].stream;
        let data = &self.buf[..n];
        if let Some(log) = &mut self.log {
            log.write(stream, data);
        }
        let (kind, bit) = match stream {
            Stream::Stdout => (proto::STDOUT, proto::ATTACH_STDOUT),
            Stream::Stderr => (proto::STDERR, proto::ATTACH_STDERR),
        };
        for c in self.clients.iter_mut().filter(|c| c.attach & bit != 0) {
            queue(c, kind, data);
        }
        true
    }

    fn write_stdin(&mut self) {
        let Some(f) = &mut self.stdin else {
            self.stdin_buf.clear();
            return;
        };
        match f.write(&self.stdin_buf) {
            Ok(n) => {
                self.stdin_buf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // The process closed its stdin: nothing more to deliver.
                log!("write stdin: {e}");
                self.stdin_buf.clear();
                self.stdin = None;
            }
        }
    }

    fn maybe_close_stdin(&mut self) {
        // A tty's stdin is the master itself, which also carries the
        // output; closing stdin there only stops forwarding.
        if self.stdin_close && self.stdin_buf.is_empty() && self.stdin.is_some() {
            self.stdin = None;
        }
    }

    fn read_client(&mut self, i: usize) {
        let mut chunk = [0u8; 8192];
        loop {
            let c = &mut self.clients[i];
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    // Half-closed: it may still read what it attached to.
                    c.read_closed = true;
                    break;
                }
                Ok(n) => c.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    break;
                }
            }
        }
        loop {
            let frame = proto::take_frame(&mut self.clients[i].inbuf);
            match frame {
                Ok(Some((kind, payload))) => self.handle(i, kind, payload),
                Ok(None) => break,
                Err(e) => {
                    log!("client: {e}");
                    self.clients[i].dead = true;
                    break;
                }
            }
        }
        let c = &mut self.clients[i];
        // Nothing more will be asked, and nothing is owed.
        if c.read_closed && c.attach == 0 && !c.waiting && c.outbuf.is_empty() {
            c.dead = true;
        }
    }

    fn handle(&mut self, i: usize, kind: u8, payload: Vec<u8>) {
        match kind {
            proto::STDIN => {
                if self.cfg.stdin && !self.stdin_close {
                    self.stdin_buf.extend_from_slice(&payload);
                }
            }
            proto::STDIN_CLOSE => self.stdin_close = true,
            proto::ATTACH => {
                let flags = payload.first().copied().unwrap_or(0);
                self.clients[i].attach = flags & (proto::ATTACH_STDOUT | proto::ATTACH_STDERR);
                // Attaching to nothing still waits for the exit.
                self.clients[i].waiting = true;
            }
            proto::WAIT => self.clients[i].waiting = true,
            proto::RESIZE => {
                let reply = if payload.len() != 4 {
                    Err("bad resize request".to_owned())
                } else if !self.cfg.tty {
                    Err("the process has no tty".to_owned())
                } else {
                    let w = u16::from_be_bytes([payload[0], payload[1]]);
                    let h = u16::from_be_bytes([payload[2], payload[3]]);
                    self.winsize = Some((w, h));
                    self.apply_winsize(w, h)
                };
                self.reply(i, reply.map(|()| Vec::new()));
            }
            proto::STATUS => {
                let status = ShimStatus {
                    state: self.state,
                    pid: self.pid.map_or(0, |p| p.as_raw() as u32),
                    shim_pid: std::process::id(),
                    tty: self.cfg.tty,
                    stdin: self.cfg.stdin,
                };
                let body = serde_json::to_vec(&status).map_err(|e| e.to_string());
                self.reply(i, body);
            }
            proto::START => {
                let r = self.start();
                self.reply(i, r.map(|pid| pid.to_string().into_bytes()));
            }
            other => {
                self.reply(i, Err(format!("unknown request kind {other:#x}")));
                self.clients[i].read_closed = true;
            }
        }
    }

    fn start(&mut self) -> Res<u32> {
        match self.state {
            ProcessState::Running => return Err("already started".into()),
            ProcessState::Exited => return Err("the process has already exited".into()),
            ProcessState::Created => {}
        }
        match self.cfg.mode {
            ShimMode::Container { .. } => {
                self.runc.start(&self.cfg.id).map_err(|e| e.to_string())?;
                self.state = ProcessState::Running;
                log!("started container {}", self.cfg.id);
                Ok(self.pid.map_or(0, |p| p.as_raw() as u32))
            }
            ShimMode::Exec => match self.run_runc(Launch::Exec) {
                Ok(pid) => {
                    self.state = ProcessState::Running;
                    log!("started exec in {} (pid {pid})", self.cfg.id);
                    Ok(pid)
                }
                Err(e) => {
                    // Docker's codes for a process that never ran.
                    let code = if e.contains("not found") || e.contains("no such file") {
                        127
                    } else {
                        126
                    };
                    self.record_exit(code, Some(e.clone()));
                    self.drain_until = Some(Instant::now());
                    Err(e)
                }
            },
        }
    }

    fn reply(&mut self, i: usize, r: Res<Vec<u8>>) {
        let c = &mut self.clients[i];
        match r {
            Ok(body) => queue(c, proto::OK, &body),
            Err(e) => queue(c, proto::ERROR, e.as_bytes()),
        }
        flush_client(c);
    }

    /// The process is gone and its output drained: leave a record, tell
    /// the clients, go.
    fn finish(&mut self) {
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

fn queue(c: &mut Client, kind: u8, data: &[u8]) {
    if c.dead {
        return;
    }
    c.outbuf.extend_from_slice(&proto::header(kind, data.len()));
    c.outbuf.extend_from_slice(data);
    if c.outbuf.len() > MAX_CLIENT_BACKLOG {
        log!("dropping a client that does not keep up");
        c.dead = true;
    }
}

fn flush_client(c: &mut Client) {
    while !c.outbuf.is_empty() && !c.dead {
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
    }
    if c.outbuf.is_empty() && c.read_closed && c.attach == 0 && !c.waiting {
        c.dead = true;
    }
}

/// Accepts runc's connection on the console socket and takes the pty
/// master it sends, unless runc exits first (it failed).
fn receive_master(l: &UnixListener, child: &mut std::process::Child) -> Res<Option<File>> {
    l.set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    loop {
        match l.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false)
                    .map_err(|e| format!("console socket: {e}"))?;
                return recv_fd(&conn).map(Some);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("accept console: {e}")),
        }
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn recv_fd(conn: &UnixStream) -> Res<File> {
    // runc sends the pty's name as data and the master as SCM_RIGHTS.
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("receive terminal: {e}"))?;
    for c in msg.cmsgs().map_err(|e| format!("receive terminal: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us
                // (SCM_RIGHTS); nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                for &extra in &fds[1..] {
                    // SAFETY: as above; extra fds are closed, not leaked.
                    drop(unsafe { OwnedFd::from_raw_fd(extra) });
                }
                return Ok(File::from(owned));
            }
        }
    }
    Err("runc sent no terminal".into())
}
