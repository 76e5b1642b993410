//! Docker's json-file log: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`.
//! The shim writes it ([`encode_entry`]); the daemon reads it back with
//! [`LogReader`] for `docker logs` (tail, since/until, follow).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::{format_rfc3339_nano, parse_rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct JsonLine<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// One log line as the shim writes it (with the trailing newline of the
/// JSON record). Invalid UTF-8 becomes U+FFFD, as Go's encoder does.
pub fn encode_entry(stream: Stream, data: &[u8], time: SystemTime) -> Vec<u8> {
    let line = JsonLine {
        log: String::from_utf8_lossy(data),
        stream: stream.as_str().into(),
        time: format_rfc3339_nano(time).into(),
    };
    // Serializing strings into a Vec cannot fail.
    let mut out = serde_json::to_vec(&line).unwrap_or_default();
    out.push(b'\n');
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: SystemTime,
    /// The text, usually one line with its `\n`.
    pub line: String,
}

fn decode_entry(line: &[u8]) -> Option<LogEntry> {
    let l: JsonLine<'_> = serde_json::from_slice(line).ok()?;
    let stream = match l.stream.as_ref() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(LogEntry {
        stream,
        time: parse_rfc3339(&l.time)?,
        line: l.log.into_owned(),
    })
}

#[derive(Clone, Default)]
pub struct LogOptions {
    /// Keep reading new entries until the container has exited (or
    /// `cancel` is set).
    pub follow: bool,
    /// Only the last N entries (before following).
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Set to stop a follow (checked at least every poll interval).
    pub cancel: Option<Arc<AtomicBool>>,
}

const POLL: Duration = Duration::from_millis(100);
const DONE_CHECK: Duration = Duration::from_millis(500);

/// Reads a json-file log as an iterator of entries. Following polls the
/// file; `done` says when no more output can come (the container exited),
/// after which the rest of the file is read and iteration ends.
pub struct LogReader {
    id: String,
    path: PathBuf,
    file: Option<BufReader<File>>,
    /// Offset to start from when the file is first opened.
    start: u64,
    opts: LogOptions,
    done: Box<dyn Fn() -> bool + Send>,
    partial: Vec<u8>,
    finishing: bool,
    last_done_check: Option<Instant>,
}

impl LogReader {
    /// `id` names the container in errors; `done` is consulted only when
    /// following and at the end of the file.
    pub fn open(
        id: &str,
        path: &Path,
        opts: LogOptions,
        done: Box<dyn Fn() -> bool + Send>,
    ) -> Result<Self> {
        let mut r = LogReader {
            id: id.to_owned(),
            path: path.to_path_buf(),
            file: None,
            start: 0,
            opts,
            done,
            partial: Vec::new(),
            finishing: false,
            last_done_check: None,
        };
        if let Some(n) = r.opts.tail {
            if let Some(mut f) = r.open_file()? {
                r.start = tail_offset(&mut f, n).map_err(|e| r.err(format!("seek: {e}")))?;
            }
        }
        Ok(r)
    }

    fn err(&self, reason: String) -> Error {
        Error::Log {
            id: self.id.clone(),
            reason: format!("{}: {reason}", self.path.display()),
        }
    }

    fn open_file(&self) -> Result<Option<File>> {
        match File::open(&self.path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(format!("open: {e}"))),
        }
    }

    fn cancelled(&self) -> bool {
        self.opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// The next complete line, or `None` at the current end of file.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>> {
        if self.file.is_none() {
            match self.open_file()? {
                Some(mut f) => {
                    f.seek(SeekFrom::Start(self.start))
                        .map_err(|e| self.err(format!("seek: {e}")))?;
                    self.file = Some(BufReader::new(f));
                }
                None => return Ok(None),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let n = file
            .read_until(b'\n', &mut self.partial)
            .map_err(|e| Error::Log {
                id: self.id.clone(),
                reason: format!("read: {e}"),
            })?;
        if n == 0 || !self.partial.ends_with(b"\n") {
            // A line still being written: keep it for the next read.
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.partial)))
    }

    fn wanted(&self, e: &LogEntry) -> bool {
        self.opts.since.is_none_or(|s| e.time >= s) && self.opts.until.is_none_or(|u| e.time <= u)
    }
}

impl Iterator for LogReader {
    type Item = Result<LogEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.read_line() {
                Err(e) => return Some(Err(e)),
                Ok(Some(line)) => {
                    // A corrupt line (a crash mid-write) is skipped, as
                    // Docker's reader does.
                    match decode_entry(&line) {
                        Some(e) if self.wanted(&e) => return Some(Ok(e)),
                        Some(e) if self.opts.until.is_some_and(|u| e.time > u) => return None,
                        _ => continue,
                    }
                }
                Ok(None) => {
                    if !self.opts.follow || self.finishing || self.cancelled() {
                        return None;
                    }
                    let now = Instant::now();
                    let check = self
                        .last_done_check
                        .is_none_or(|t| now.duration_since(t) >= DONE_CHECK);
                    if check {
                        self.last_done_check = Some(now);
                        if (self.done)() {
                            // Output is complete once done: read what is
                            // left, then stop.
                            self.finishing = true;
                            continue;
                        }
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
    }
}

/// The offset of the start of the last `n` lines.
fn tail_offset(f: &mut File, n: usize) -> io::Result<u64> {
    let len = f.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0;
    let mut buf = vec![0u8; 8192];
    // The file's final newline ends the last line; it does not start one.
    let mut skip_last = true;
    while pos > 0 {
        let chunk = (pos as usize).min(buf.len());
        pos -= chunk as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..chunk])?;
        for i in (0..chunk).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        skip_last = false;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn write_log(path: &Path, n: u64) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for i in 0..n {
            let stream = if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            f.write_all(&encode_entry(
                stream,
                format!("line {i}\n").as_bytes(),
                t(1000 + i),
            ))
            .unwrap();
        }
    }

    fn read(path: &Path, opts: LogOptions) -> Vec<String> {
        LogReader::open("c1", path, opts, Box::new(|| true))
            .unwrap()
            .map(|e| e.unwrap().line)
            .collect()
    }

    #[test]
    fn encodes_docker_json_file_lines() {
        let line = encode_entry(Stream::Stderr, b"a \"q\"\n\xff", t(1_700_000_000));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"log\":\"a \\\"q\\\"\\n\u{fffd}\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:20Z\"}\n"
        );
    }

    #[test]
    fn reads_all_tail_since_until() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        write_log(&p, 5);
        assert_eq!(read(&p, LogOptions::default()).len(), 5);
        let tail = read(
            &p,
            LogOptions {
                tail: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(tail, ["line 3\n", "line 4\n"]);
        assert_eq!(
            read(
                &p,
                LogOptions {
                    tail: Some(0),
                    ..Default::default()
                }
            )
            .len(),
            0
        );
        assert_eq!(
            read(
                &p,
                LogOptions {
                    tail: Some(50),
                    ..Default::default()
                }
            )
            .len(),
            5
        );
        let since = read(
            &p,
            LogOptions {
                since: Some(t(1003)),
                ..Default::default()
            },
        );
        assert_eq!(since, ["line 3\n", "line 4\n"]);
        let until = read(
            &p,
            LogOptions {
                until: Some(t(1001)),
                ..Default::default()
            },
        );
        assert_eq!(until, ["line 0\n", "line 1\n"]);
        let first = LogReader::open("c1", &p, LogOptions::default(), Box::new(|| true))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.stream, Stream::Stdout);
        assert_eq!(first.time, t(1000));
    }

    #[test]
    fn tail_over_many_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        write_log(&p, 3000);
        let tail = read(
            &p,
            LogOptions {
                tail: Some(1000),
                ..Default::default()
            },
        );
        assert_eq!(tail.len(), 1000);
        assert_eq!(tail[0], "line 2000\n");
    }

    #[test]
    fn missing_log_is_empty_and_corrupt_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.log");
        assert!(read(
            &p,
            LogOptions {
                tail: Some(3),
                ..Default::default()
            }
        )
        .is_empty());
        std::fs::write(&p, "garbage\n").unwrap();
        write_log(&p, 1);
        assert_eq!(read(&p, LogOptions::default()), ["line 0\n"]);
    }

    #[test]
    fn follow_sees_new_lines_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        write_log(&p, 1);
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let mut r =
            LogReader::open("c1", &p, opts, Box::new(move || d2.load(Ordering::SeqCst))).unwrap();
        assert_eq!(r.next().unwrap().unwrap().line, "line 0\n");
        let p2 = p.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // A line written in two pieces must come out whole.
            let line = encode_entry(Stream::Stdout, b"late\n", t(2000));
            let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
            f.write_all(&line[..10]).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            f.write_all(&line[10..]).unwrap();
            done.store(true, Ordering::SeqCst);
        });
        assert_eq!(r.next().unwrap().unwrap().line, "late\n");
        assert!(r.next().is_none());
        writer.join().unwrap();
    }

    #[test]
    fn follow_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        let cancel = Arc::new(AtomicBool::new(true));
        let opts = LogOptions {
            follow: true,
            cancel: Some(cancel),
            ..Default::default()
        };
        let mut r = LogReader::open("c1", &p, opts, Box::new(|| false)).unwrap();
        assert!(r.next().is_none());
    }
}
