//! Harness shared by the root test files, on berth-sandbox's `netns`.
//!
//! Network isolation: every test body runs on a thread of its own in a
//! fresh network namespace, with a current-thread tokio runtime there; `ip`
//! children inherit that namespace.
//!
//! Mount isolation (tests that bind-mount namespace files):
//! [`in_private_mounts`] runs the test again in a child process with its
//! own mount and network namespaces and a tmpfs scratch directory (see
//! `berth_sandbox::netns` for how and why).

// Each test file uses a subset of the helpers; test code panics on failure.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::ffi::OsString;
use std::fs;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_netlink::Netlink;
use berth_types::{IfName, IpNet};
use serde_json::Value;

/// Runs `test` in a fresh network namespace on a dedicated thread, with a
/// current-thread tokio runtime (a multi-threaded one would have workers in
/// the machine's namespace).
pub fn in_fresh_netns<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    berth_sandbox::netns::on_fresh_netns_thread("netns-test", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(test());
        // The thread ends here; its namespace dies with it.
    });
}

/// A second fresh network namespace, held open by the returned fd (the
/// thread that made it is gone).
pub fn spare_netns() -> OwnedFd {
    berth_sandbox::netns::on_fresh_netns_thread("spare-netns", || {
        OwnedFd::from(fs::File::open("/proc/thread-self/ns/net").expect("open netns"))
    })
}

/// Runs `body` in a child process with a private mount namespace and a
/// network namespace of its own; `body` gets a scratch directory (a tmpfs,
/// visible only in the child). `test_name` is the calling test's name as
/// the harness knows it.
pub fn in_private_mounts(test_name: &str, body: impl FnOnce(PathBuf)) {
    berth_sandbox::netns::in_child_namespaces(test_name, body);
}

/// `ip -j ARGS` in the calling thread's namespace.
pub fn ip_json(args: &[&str]) -> Value {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -j {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ip -j output")
}

/// `ip -j ARGS` inside the namespace mounted at `netns`.
pub fn ip_json_in(netns: &Path, args: &[&str]) -> Value {
    let out = nsenter(netns, &["ip", "-j"], args);
    assert!(
        out.status.success(),
        "ip -j {} in {}: {}",
        args.join(" "),
        netns.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ip -j output")
}

/// `nsenter --net=NETNS PROGRAM… ARGS…`.
pub fn nsenter(netns: &Path, program: &[&str], args: &[&str]) -> std::process::Output {
    let mut net = OsString::from("--net=");
    net.push(netns);
    Command::new("nsenter")
        .arg(net)
        .args(program)
        .args(args)
        .output()
        .expect("run nsenter")
}

/// The `ping` to use: iputils' if installed, else busybox's.
pub fn ping_command() -> Vec<&'static str> {
    let have_ping = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("ping").is_file()));
    if have_ping {
        vec!["ping"]
    } else {
        vec!["busybox", "ping"]
    }
}

/// `ip ARGS` for test setup, in the calling thread's namespace.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn link_json(name: &str) -> Value {
    ip_json(&["-d", "link", "show", "dev", name])[0].clone()
}

/// Names of the links of the calling thread's namespace.
pub fn link_names() -> Vec<String> {
    names_of(&ip_json(&["link", "show"]))
}

pub fn names_of(links: &Value) -> Vec<String> {
    links
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
}

pub fn is_up(link: &Value) -> bool {
    link["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .any(|f| f == "UP")
}

/// `addr/prefixlen` of every address in `ip -j addr show` output.
pub fn addrs_of(link: &Value) -> Vec<String> {
    link["addr_info"]
        .as_array()
        .expect("addr_info")
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().expect("local"), a["prefixlen"]))
        .collect()
}

/// `addr/prefixlen` of every address on `name`, in kernel order.
pub fn addrs(name: &str) -> Vec<String> {
    addrs_of(&ip_json(&["addr", "show", "dev", name])[0])
}

pub fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

pub fn name(s: &str) -> IfName {
    IfName::parse(s).expect("test name")
}

pub async fn open() -> Netlink {
    Netlink::open().await.expect("open netlink")
}
