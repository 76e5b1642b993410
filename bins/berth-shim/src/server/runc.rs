//! Launching the process through runc: `runc create` or `runc exec`, its
//! stdio as pipes or a pty master runc hands over, `runc start`.

use std::fs::{self, File};
use std::io::{self, IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_oci::logs::Stream;
use berth_oci::shim::proto::ProcessState;
use berth_oci::shim::ShimMode;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use nix::unistd::Pid;

use super::output::Source;
use super::{remove_quietly, Res, Server};
use crate::log;

/// Which runc command starts the process.
#[derive(Clone, Copy)]
pub(super) enum Launch {
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

impl Server {
    /// `runc create` (container) or `runc exec -d` (exec) with fresh stdio;
    /// returns the process's pid.
    pub(super) fn run_runc(&mut self, launch: Launch) -> Res<u32> {
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

    pub(super) fn apply_winsize(&self, cols: u16, rows: u16) -> Res<()> {
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

    pub(super) fn start(&mut self) -> Res<u32> {
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
