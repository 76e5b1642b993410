//! What `run`, `start -a`, `attach` and `exec` share: running a hijacked
//! session beside the start request, reading the exit status, and ending
//! berth with it.

use anyhow::anyhow;
use tokio::task::JoinHandle;

use crate::api::{Conn, WaitHandle};
use crate::exit::Exit;
use crate::stream::{self, Ended, Streams};

/// A session running on its own task, so the start request can go out
/// while it already pumps; aborting it restores the terminal.
pub struct Session(JoinHandle<Result<Ended, String>>);

impl Session {
    pub fn spawn(conn: Conn, streams: Streams) -> Session {
        Session(tokio::spawn(stream::stream(conn, streams)))
    }

    /// docker's "cancel the attach and wait for it" when the start fails.
    pub async fn cancel(self) {
        self.0.abort();
        let _ = self.0.await;
    }

    /// How the session ended; its errors are the command's (status 1).
    pub async fn finish(self) -> anyhow::Result<Ended> {
        match self.0.await {
            Ok(result) => result.map_err(|e| anyhow!(e)),
            Err(e) => Err(anyhow!("the session failed: {e}")),
        }
    }
}

/// Ends berth with the container's (or exec's) exit status, as docker's
/// `cli.StatusError` does: silently, and modulo 256 like any process exit.
pub fn exit_with(code: i64) -> anyhow::Result<()> {
    if code == 0 {
        return Ok(());
    }
    let byte = u8::try_from(code.rem_euclid(256)).unwrap_or(1);
    Err(Exit::status(byte, "").into())
}

/// docker's `waitExitOrRemoved` result: the exit code, or 125 after
/// reporting why there is none.
pub async fn wait_status(wait: Result<WaitHandle, crate::api::ApiError>) -> i64 {
    let result = match wait {
        Ok(handle) => handle.result().await,
        Err(e) => {
            eprintln!("error waiting for container: {e}");
            return 125;
        }
    };
    match result {
        Ok(code) => code,
        Err(crate::api::WaitError::Daemon(m)) => {
            eprintln!("Error waiting for container: {m}");
            125
        }
        Err(e) => {
            eprintln!("error waiting for container: {e}");
            125
        }
    }
}
