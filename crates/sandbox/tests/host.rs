//! The harness itself, as root (like the end-to-end tests it serves): a
//! sandbox host with its outside peer, a daemon that fails to start, and
//! the fresh-netns thread.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Command, Stdio};
use std::time::Duration;

use berth_sandbox::proc::output;
use berth_sandbox::{DaemonProcess, Error, Host, PEER_IP, PEER_IP6};

#[test]
fn the_outside_peer_answers_over_ipv4_and_ipv6_and_drop_kills_everything() {
    let mut host = Host::new("berth-sandbox-selftest-", false).unwrap();
    let peer = host.add_outside_peer().unwrap();
    output(
        host.command("busybox")
            .args(["ping", "-c1", "-W2", PEER_IP]),
    )
    .unwrap();
    output(
        host.command("busybox")
            .args(["ping", "-c1", "-W2", PEER_IP6]),
    )
    .unwrap();
    // A process naming the sandbox's dir is a leftover the drop kills.
    let dir = host.dir().to_path_buf();
    let mut straggler = host
        .command("tail")
        .arg("-f")
        .arg(dir.join("ready"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = || {
        berth_sandbox::proc::processes()
            .iter()
            .any(|p| p.comm == "tail" && p.cmdline.contains(&*dir.to_string_lossy()))
    };
    berth_sandbox::proc::wait_for(Duration::from_secs(10), "the straggler", running).unwrap();
    let pids = [host.pid(), peer.pid(), straggler.id()];
    drop(host);
    // Reaped here, so its /proc entry goes: wait for it, but not forever.
    berth_sandbox::proc::wait_for(Duration::from_secs(10), "the straggler's end", || {
        straggler.try_wait().unwrap().is_some()
    })
    .unwrap();
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived its sandbox"
        );
    }
    assert!(!dir.exists(), "{} outlived its sandbox", dir.display());
}

#[test]
fn a_daemon_that_exits_before_serving_is_reported_with_its_log() {
    let host = Host::new("berth-sandbox-selftest-", false).unwrap();
    let mut cmd = host.command("sh");
    cmd.args(["-c", "echo no config here; exit 3"]);
    let err = DaemonProcess::start(
        "fake-daemon",
        &mut cmd,
        &host.dir().join("daemon.log"),
        &host.dir().join("daemon.sock"),
        Duration::from_secs(20),
    )
    .err()
    .expect("a daemon that exits must not start");
    assert!(matches!(err, Error::ExitedEarly { .. }), "{err}");
    assert!(err.to_string().contains("no config here"), "{err}");
}

#[test]
fn a_fresh_netns_thread_sees_only_lo() {
    let links = berth_sandbox::netns::on_fresh_netns_thread("selftest", || {
        let out = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    assert_eq!(links.lines().count(), 1, "{links}");
    let machine = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    assert_ne!(links, String::from_utf8_lossy(&machine.stdout));
}
