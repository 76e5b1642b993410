//! The process's output, to the json-file log and to attached clients, and
//! the clients' input to its stdin.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::SystemTime;

use berth_oci::logs::{encode_entry, Stream};
use berth_oci::shim::proto;

use super::clients::queue;
use super::Server;
use crate::log;

/// Docker cuts log entries at 16 KiB when no newline comes.
const MAX_LOG_LINE: usize = 16 * 1024;

pub(super) struct Source {
    pub(super) file: File,
    pub(super) stream: Stream,
    pub(super) open: bool,
}

/// The json-file log, cut into Docker's one-entry-per-line records.
pub(super) struct LogWriter {
    pub(super) file: File,
    pub(super) partial: [Vec<u8>; 2],
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

    pub(super) fn flush(&mut self) {
        let now = SystemTime::now();
        self.emit(Stream::Stdout, now);
        self.emit(Stream::Stderr, now);
    }
}

impl Server {
    /// Reads one chunk of output and passes it on; false when there was
    /// nothing to read (for now, or ever again).
    pub(super) fn read_source(&mut self, i: usize) -> bool {
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

    pub(super) fn write_stdin(&mut self) {
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

    pub(super) fn maybe_close_stdin(&mut self) {
        // A tty's stdin is the master itself, which also carries the
        // output; closing stdin there only stops forwarding.
        if self.stdin_close && self.stdin_buf.is_empty() && self.stdin.is_some() {
            self.stdin = None;
        }
    }
}
