//! Talking to a running shim (see [`super::proto`] for the wire format).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proto::{self, ExitInfo, ShimStatus};
use crate::error::{Error, Result};

/// A unix socket path longer than `sun_path` (108 bytes) cannot be used
/// directly; berth's per-exec sockets can be that long under a deep exec
/// root. Connecting through `/proc/self/fd/<dir fd>/<name>` keeps the path
/// short and resolves to the same socket.
pub fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    if path.as_os_str().len() < 108 {
        return UnixStream::connect(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return UnixStream::connect(path);
    };
    let dir = fs::File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(std::os::fd::AsRawFd::as_raw_fd(&dir).to_string())
        .join(name);
    UnixStream::connect(short)
}

/// One live output item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The process is gone and all its output was delivered.
    Exit(ExitInfo),
}

/// A shim's address plus where it leaves its exit record once gone.
#[derive(Debug, Clone)]
pub struct ShimClient {
    socket: PathBuf,
    exit_file: PathBuf,
    target: String,
}

impl ShimClient {
    pub fn new(socket: PathBuf, exit_file: PathBuf, target: String) -> Self {
        ShimClient {
            socket,
            exit_file,
            target,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn shim_err(&self, message: impl Into<String>) -> Error {
        Error::Shim {
            target: self.target.clone(),
            message: message.into(),
        }
    }

    fn connect(&self) -> Result<UnixStream> {
        connect_unix(&self.socket).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Error::ShimGone {
                target: self.target.clone(),
            },
            _ => self.shim_err(format!("connect {}: {e}", self.socket.display())),
        })
    }

    /// Whether a shim answers on the socket.
    pub fn is_alive(&self) -> bool {
        self.status().is_ok()
    }

    /// Errors that mean the shim went away under us (it was finishing
    /// when we connected, or died).
    fn gone_or(&self, e: io::Error, what: &str) -> Error {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Error::ShimGone {
                target: self.target.clone(),
            },
            _ => self.shim_err(format!("{what}: {e}")),
        }
    }

    fn request(&self, kind: u8, payload: &[u8]) -> Result<Vec<u8>> {
        let mut s = self.connect()?;
        // A shim busy in `runc start` answers late, but a shim that stops
        // answering altogether must not hang the daemon.
        let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
        s.write_all(&proto::encode(kind, payload))
            .map_err(|e| self.gone_or(e, "send"))?;
        match read_frame(&mut s).map_err(|e| self.gone_or(e, "read"))? {
            Some((proto::OK, p)) => Ok(p),
            Some((proto::ERROR, p)) => Err(self.shim_err(String::from_utf8_lossy(&p))),
            Some((k, _)) => Err(self.shim_err(format!("unexpected reply kind {k:#x}"))),
            None => Err(Error::ShimGone {
                target: self.target.clone(),
            }),
        }
    }

    pub fn status(&self) -> Result<ShimStatus> {
        let p = self.request(proto::STATUS, &[])?;
        serde_json::from_slice(&p).map_err(|e| self.shim_err(format!("bad status: {e}")))
    }

    /// Starts the process; returns its pid.
    pub fn start(&self) -> Result<u32> {
        let p = self.request(proto::START, &[])?;
        String::from_utf8_lossy(&p)
            .trim()
            .parse()
            .map_err(|e| self.shim_err(format!("bad pid in reply: {e}")))
    }

    /// Sets the tty's window size (an error for a non-tty process).
    pub fn resize(&self, width: u16, height: u16) -> Result<()> {
        let mut p = [0u8; 4];
        p[..2].copy_from_slice(&width.to_be_bytes());
        p[2..].copy_from_slice(&height.to_be_bytes());
        self.request(proto::RESIZE, &p).map(drop)
    }

    /// Attaches to live output. Output written before the attach is not
    /// replayed (read the log for that).
    pub fn attach(&self, stdout: bool, stderr: bool) -> Result<AttachStream> {
        let mut s = self.connect()?;
        let mut flags = 0;
        if stdout {
            flags |= proto::ATTACH_STDOUT;
        }
        if stderr {
            flags |= proto::ATTACH_STDERR;
        }
        s.write_all(&proto::encode(proto::ATTACH, &[flags]))
            .map_err(|e| self.shim_err(format!("send: {e}")))?;
        Ok(AttachStream {
            stream: s,
            target: self.target.clone(),
        })
    }

    /// The exit record if the shim has finished.
    pub fn read_exit(&self) -> Result<Option<ExitInfo>> {
        read_exit_file(&self.exit_file)
    }

    /// Waits for the process to exit (at most `timeout`; `Ok(None)` when it
    /// passed). Works after the shim is gone, from the exit file.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<ExitInfo>> {
        let mut s = match self.connect() {
            Ok(s) => s,
            Err(Error::ShimGone { .. }) => return self.exit_or_gone(),
            Err(e) => return Err(e),
        };
        s.set_read_timeout(timeout)
            .map_err(|e| self.shim_err(format!("set timeout: {e}")))?;
        let frame = s
            .write_all(&proto::encode(proto::WAIT, &[]))
            .and_then(|()| read_frame(&mut s));
        match frame {
            Ok(Some((proto::EXIT, payload))) => serde_json::from_slice(&payload)
                .map(Some)
                .map_err(|e| self.shim_err(format!("bad exit record: {e}"))),
            Ok(Some((k, _))) => Err(self.shim_err(format!("unexpected reply kind {k:#x}"))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            // The shim was finishing when we connected (or died): a shim
            // writes the exit file before it stops serving.
            Ok(None) => self.exit_or_gone(),
            Err(e) => match self.gone_or(e, "wait") {
                Error::ShimGone { .. } => self.exit_or_gone(),
                other => Err(other),
            },
        }
    }

    fn exit_or_gone(&self) -> Result<Option<ExitInfo>> {
        match self.read_exit()? {
            Some(e) => Ok(Some(e)),
            None => Err(Error::ShimGone {
                target: self.target.clone(),
            }),
        }
    }
}

pub fn read_exit_file(path: &Path) -> Result<Option<ExitInfo>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Shim {
                target: path.display().to_string(),
                message: format!("bad exit file: {e}"),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Reads one frame; `None` on a clean EOF between frames.
fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; proto::HEADER_LEN];
    let mut got = 0;
    while got < h.len() {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (kind, len) =
        proto::parse_header(&h).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// An attached connection: output frames in, stdin out. Use
/// [`AttachStream::try_clone`] to read and write from two threads, or
/// [`AttachStream::into_inner`] to drive the socket (e.g. with tokio) using
/// [`super::proto`] directly.
#[derive(Debug)]
pub struct AttachStream {
    stream: UnixStream,
    target: String,
}

impl AttachStream {
    fn err(&self, message: String) -> Error {
        Error::Shim {
            target: self.target.clone(),
            message,
        }
    }

    /// The next output item; `None` when the shim closed the connection
    /// (after `Exit`, or because it died).
    pub fn next_output(&mut self) -> Result<Option<Output>> {
        let frame = match read_frame(&mut self.stream) {
            Ok(f) => f,
            // The shim was finishing when we attached, or died: no more
            // output will come (its exit file says how it ended).
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
            Err(e) => return Err(self.err(format!("read: {e}"))),
        };
        match frame {
            None => Ok(None),
            Some((proto::STDOUT, p)) => Ok(Some(Output::Stdout(p))),
            Some((proto::STDERR, p)) => Ok(Some(Output::Stderr(p))),
            Some((proto::EXIT, p)) => serde_json::from_slice(&p)
                .map(|e| Some(Output::Exit(e)))
                .map_err(|e| self.err(format!("bad exit record: {e}"))),
            Some((k, _)) => Err(self.err(format!("unexpected frame kind {k:#x}"))),
        }
    }

    pub fn send_stdin(&mut self, data: &[u8]) -> Result<()> {
        for chunk in data.chunks(proto::MAX_PAYLOAD) {
            self.stream
                .write_all(&proto::encode(proto::STDIN, chunk))
                .map_err(|e| self.err(format!("send stdin: {e}")))?;
        }
        Ok(())
    }

    /// Tells the shim that no more input comes. A shim that has stopped
    /// reading (the process exited and the shim sent its last frames) has
    /// no stdin left to close: that is success, and what it sent before
    /// can still be read.
    pub fn close_stdin(&mut self) -> Result<()> {
        match self
            .stream
            .write_all(&proto::encode(proto::STDIN_CLOSE, &[]))
        {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| self.err(format!("close stdin: {e}"))),
        }
    }

    pub fn try_clone(&self) -> Result<AttachStream> {
        Ok(AttachStream {
            stream: self
                .stream
                .try_clone()
                .map_err(|e| self.err(format!("clone socket: {e}")))?,
            target: self.target.clone(),
        })
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<()> {
        self.stream
            .set_read_timeout(t)
            .map_err(|e| self.err(format!("set timeout: {e}")))
    }

    pub fn into_inner(self) -> UnixStream {
        self.stream
    }
}
