//! Runs the built `berth` binary against `berth_api::serve` over the API
//! tests' stub backend (`daemon.rs`), behind a tap that records every
//! request, so the tests see both what berth printed and what it sent;
//! where it matters, the real docker CLI runs against the same daemon and
//! the two must agree.

// The helpers run only under these tests; a panic is how they report a
// broken fixture.
#![allow(clippy::expect_used)]

mod container;
mod daemon;
mod docker;
mod image;
mod network;

use std::path::PathBuf;
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use daemon::Daemon;

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Runs `program args…` with `stdin` as input and no inherited daemon
/// address.
pub async fn run(program: &PathBuf, args: &[&str], stdin: &[u8], env_host: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(h) = env_host {
        cmd.env("BERTH_HOST", h);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    child.wait_with_output().await.expect("output")
}

pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

pub async fn run_berth(args: &[&str], stdin: &str, env_host: Option<&str>) -> Output {
    run(&berth_bin(), args, stdin.as_bytes(), env_host).await
}

impl Daemon {
    /// Runs `berth -H <daemon> args…` with `stdin` as input.
    pub async fn berth(&self, args: &[&str], stdin: &str) -> Output {
        let host = self.host();
        let mut argv = vec!["-H", host.as_str()];
        argv.extend_from_slice(args);
        run_berth(&argv, stdin, None).await
    }
}

/// Serves the test daemon at `$BERTH_FAKE_SOCKET` for `$BERTH_FAKE_SECONDS`
/// (default 600), to run either CLI against it by hand:
/// `BERTH_FAKE_SOCKET=/tmp/f.sock cargo test -p berth --test cli serve_fake -- --ignored`.
#[tokio::test]
#[ignore]
async fn serve_fake() {
    let socket = std::env::var_os("BERTH_FAKE_SOCKET").expect("set BERTH_FAKE_SOCKET");
    let seconds = std::env::var("BERTH_FAKE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let daemon = Daemon::start_on(PathBuf::from(socket));
    eprintln!("test daemon at {}", daemon.host());
    let mut shown = 0;
    for _ in 0..seconds * 10 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let requests = daemon.requests();
        for r in &requests[shown..] {
            eprintln!("{r}");
        }
        shown = requests.len();
    }
}
