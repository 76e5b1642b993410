//! The shim's wire protocol, on the unix socket `shim.sock` in the shim's
//! directory.
//!
//! Every message, both ways, is a frame: an 8-byte header
//! `[kind, 0, 0, 0, len as u32 big-endian]` and `len` payload bytes (at most
//! [`MAX_PAYLOAD`]). This is Docker's stdcopy header, and the output kinds
//! are stdcopy's stream numbers: for a non-tty container, stdout (1) and
//! stderr (2) frames can be forwarded verbatim as Docker's multiplexed
//! attach stream; for a tty container there are only stdout frames and the
//! API sends their payloads raw.
//!
//! Client -> shim:
//! - `STDIN` (0): bytes for the process's stdin (ignored without stdin).
//! - `STDIN_CLOSE` (0x21): close the process's stdin (EOF); no payload.
//! - `ATTACH` (0x22): payload 1 byte, bit 0 = stdout, bit 1 = stderr. From
//!   then on the shim sends live output frames, and an `EXIT` frame once
//!   the process has exited and its output is drained; then it closes.
//!   The client may keep sending `STDIN`/`STDIN_CLOSE` on the same
//!   connection. No reply otherwise.
//! - `RESIZE` (0x23): payload `cols u16 BE, rows u16 BE`. Reply `OK` or
//!   `ERROR`.
//! - `START` (0x24): container shim: `runc start`; exec shim: `runc exec`.
//!   Reply `OK` with the process pid as decimal text, or `ERROR`.
//! - `WAIT` (0x25): reply `EXIT` when the process has exited.
//! - `STATUS` (0x26): reply `OK` with [`ShimStatus`] as JSON.
//!
//! Shim -> client: `STDOUT` (1), `STDERR` (2), `EXIT` (0x10, payload
//! [`ExitInfo`] JSON), `OK` (0x11), `ERROR` (0x12, payload: the message).
//!
//! Request/reply kinds are meant one per connection (the client helpers
//! open a fresh connection each); a connection closed by the shim after
//! `EXIT` means the shim is gone, and the exit file holds the same record.

use serde::{Deserialize, Serialize};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 0x10;
pub const OK: u8 = 0x11;
pub const ERROR: u8 = 0x12;
pub const STDIN_CLOSE: u8 = 0x21;
pub const ATTACH: u8 = 0x22;
pub const RESIZE: u8 = 0x23;
pub const START: u8 = 0x24;
pub const WAIT: u8 = 0x25;
pub const STATUS: u8 = 0x26;

/// `ATTACH` payload bits.
pub const ATTACH_STDOUT: u8 = 1;
pub const ATTACH_STDERR: u8 = 2;

pub const HEADER_LEN: usize = 8;
pub const MAX_PAYLOAD: usize = 1 << 20;

/// How a process ended: what the shim writes to the exit file and sends
/// in `EXIT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + signal number when killed by a signal
    /// (Docker's convention: 137 for SIGKILL). 126/127 when an exec could
    /// not be started (not executable / not found).
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds (`time::parse_rfc3339` reads it).
    pub finished_at: String,
    /// Set when the process never ran (an exec that runc refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    /// Created (container) or prepared (exec), waiting for `START`.
    Created,
    Running,
    /// Exited; the shim is draining output and about to leave.
    Exited,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimStatus {
    pub state: ProcessState,
    /// The process's pid on the host (0 before an exec starts).
    pub pid: u32,
    pub shim_pid: u32,
    pub tty: bool,
    pub stdin: bool,
}

pub fn header(kind: u8, len: usize) -> [u8; HEADER_LEN] {
    let l = (len as u32).to_be_bytes();
    [kind, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + payload.len());
    v.extend_from_slice(&header(kind, payload.len()));
    v.extend_from_slice(payload);
    v
}

/// `(kind, payload length)` from a header, refusing oversized frames and
/// non-zero padding (a peer speaking something else).
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(u8, usize), String> {
    if h[1..4] != [0, 0, 0] {
        return Err(format!("bad frame header {h:02x?}"));
    }
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(format!("frame of {len} bytes is too large"));
    }
    Ok((h[0], len))
}

/// Takes one complete frame off the front of `buf`, if there is one.
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<(u8, Vec<u8>)>, String> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(&buf[..HEADER_LEN]);
    let (kind, len) = parse_header(&h)?;
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some((kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_incrementally() {
        let mut wire = encode(STDOUT, b"hello");
        wire.extend(encode(STDIN_CLOSE, b""));
        wire.extend(encode(RESIZE, &[0, 80, 0, 24]));
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for b in wire {
            buf.push(b);
            while let Some(f) = take_frame(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            [
                (STDOUT, b"hello".to_vec()),
                (STDIN_CLOSE, vec![]),
                (RESIZE, vec![0, 80, 0, 24])
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn header_is_docker_stdcopy() {
        assert_eq!(header(STDERR, 258), [2, 0, 0, 0, 0, 0, 1, 2]);
        assert!(parse_header(&[1, 0, 1, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_header(&header(STDOUT, MAX_PAYLOAD + 1)).is_err());
    }

    #[test]
    fn exit_info_json() {
        let e = ExitInfo {
            exit_code: 137,
            finished_at: "2024-01-01T00:00:00Z".into(),
            error: None,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"exit_code":137,"finished_at":"2024-01-01T00:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<ExitInfo>(&s).unwrap(), e);
    }
}
