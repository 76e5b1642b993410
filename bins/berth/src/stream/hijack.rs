//! docker's `hijackedIOStreamer`: pumps our stdin into a hijacked attach or
//! exec connection and its output to our stdout/stderr, raw with a TTY and
//! stdcopy-demultiplexed without, until the output ends or the user types
//! the detach keys.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::escape::EscapeProxy;
use super::stdcopy::{Demux, Target};
use super::terminal::RawTerminal;
use crate::api::Conn;

/// Which of our streams take part, and how the output is framed.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// How a session ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// The daemon closed the output: the process is done (or detached).
    Output,
    /// The user typed the detach keys; the container keeps running.
    Detached,
}

enum Input {
    Closed,
    Detached,
}

/// Our stdin as chunks, read on a thread of its own: a blocking read of a
/// terminal cannot be cancelled, and must not hold up the runtime when the
/// session ends (the thread dies with the process).
fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn write_to(target: Target, bytes: &[u8]) -> std::io::Result<()> {
    match target {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Target::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes)?;
            err.flush()
        }
    }
}

/// Runs the session on `conn`. With a TTY and stdin, the terminal is raw
/// for exactly as long as this runs.
pub async fn stream(conn: Conn, streams: Streams) -> Result<Ended, String> {
    let raw = if streams.tty && streams.stdin {
        Some(RawTerminal::enable().map_err(|e| {
            format!("unable to setup input stream: unable to set IO streams as raw terminal: {e}")
        })?)
    } else {
        None
    };
    let (mut reader, mut writer) = tokio::io::split(conn);

    let input = async {
        if streams.stdin {
            let mut chunks = stdin_chunks();
            let mut escape = streams.tty.then(EscapeProxy::default);
            while let Some(chunk) = chunks.recv().await {
                let (data, detach) = match &mut escape {
                    Some(proxy) => proxy.feed(&chunk),
                    None => (chunk, false),
                };
                if writer.write_all(&data).await.is_err() {
                    // The output side sees the same failure and ends.
                    break;
                }
                if detach {
                    return Input::Detached;
                }
            }
        }
        // docker's CloseWrite: the daemon sees the end of our input.
        let _ = writer.shutdown().await;
        Input::Closed
    };

    let output = async {
        let mut demux = Demux::default();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => return Ok(Ended::Output),
                Ok(n) => n,
                Err(e) => return Err(e.to_string()),
            };
            let data = &buf[..n];
            if streams.tty {
                write_to(Target::Stdout, data).map_err(|e| e.to_string())?;
            } else {
                demux.feed(data, &mut |target, payload| match target {
                    Target::Stdout if streams.stdout => write_to(target, payload),
                    Target::Stderr if streams.stderr => write_to(target, payload),
                    _ => Ok(()),
                })?;
            }
        }
    };

    tokio::pin!(input, output);
    let ended = tokio::select! {
        result = &mut output => result,
        input_end = &mut input => match input_end {
            Input::Detached => Ok(Ended::Detached),
            Input::Closed if streams.stdout || streams.stderr => output.await,
            Input::Closed => Ok(Ended::Output),
        },
    };
    drop(raw);
    ended
}
