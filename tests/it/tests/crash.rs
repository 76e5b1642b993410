//! Crash safety end to end: berthd killed in the middle of changes, kernel
//! objects deleted behind its back, a killed shim, a full data root. Each
//! test checks what the kernel, the store and the CLI show afterwards, and
//! that containers still pass packets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Run, Sandbox};

/// A guard against a hang, not a performance bound: every request must
/// answer, and one that has not after this long never will.
const ANSWER_GUARD: Duration = Duration::from_secs(60);

/// Runs `cmd`; `None` if it has not finished within [`ANSWER_GUARD`] (it
/// is killed then).
fn answered(mut cmd: Command) -> Option<Run> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + ANSWER_GUARD;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Some(Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `running 0`, `exited 143`…
fn state_of(sb: &Sandbox, name: &str) -> String {
    sb.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .ok()
    .trim()
    .to_owned()
}

fn veths(sb: &Sandbox) -> Vec<String> {
    sb.link_names()
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect()
}

#[test]
fn stop_and_rm_answer_when_the_data_root_is_full_and_converge_after() {
    let mut sb = Sandbox::new();
    let data = sb.data_root();
    let data = data.display();
    // The data root on a small file system of its own (in the sandbox's
    // mount namespace), so filling it touches nothing else.
    sb.sh(&format!(
        "mkdir -p {data} && mount -t tmpfs -o size=32m tmpfs {data}"
    ))
    .ok();
    sb.start_daemon(&[]);
    sb.import_busybox();
    for name in ["one", "two"] {
        sb.docker(&["run", "-d", "--name", name, "busybox", "sleep", "1d"])
            .ok();
    }
    sb.sh(&format!(
        "dd if=/dev/zero of={data}/filler bs=64k 2>/dev/null; true"
    ));

    let stop = answered(sb.docker_command(&["stop", "-t", "1", "one"]))
        .expect("stop answers on a full data root");
    let rm = answered(sb.docker_command(&["rm", "-f", "two"]))
        .expect("rm -f answers on a full data root");
    for (what, run) in [("stop", &stop), ("rm -f", &rm)] {
        assert_ne!(run.status, 0, "{what} cannot be recorded: {run:?}");
        assert!(
            run.stderr.contains("full") || run.stderr.contains("space"),
            "{what} names the cause: {run:?}"
        );
    }
    // The processes are gone; the records follow once there is room.
    sb.sh(&format!("rm {data}/filler")).ok();
    let deadline = Instant::now() + ANSWER_GUARD;
    while state_of(&sb, "one").starts_with("running") {
        assert!(Instant::now() < deadline, "one still shows Up");
        sleep(Duration::from_millis(100));
    }
    // sleep as pid 1 ignores SIGTERM: killed after the grace period.
    assert_eq!(state_of(&sb, "one"), "exited 137");
    let rm = answered(sb.docker_command(&["rm", "-f", "one", "two"])).expect("rm -f answers");
    assert_eq!(rm.status, 0, "{rm:?}");
    assert_eq!(sb.docker(&["ps", "-aq"]).ok(), "");
    assert_eq!(veths(&sb), Vec::<String>::new());
    // And the daemon works as before.
    sb.docker(&["run", "--rm", "busybox", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
}
