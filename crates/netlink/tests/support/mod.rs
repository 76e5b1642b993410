//! Harness shared by the root test files.
//!
//! Network isolation: every test body runs on a thread of its own that first
//! unshares a fresh network namespace (and checks that it did), then runs a
//! current-thread tokio runtime there; `ip` children inherit that namespace.
//!
//! Mount isolation (tests that bind-mount namespace files): `unshare
//! (CLONE_NEWNS)` is refused on a thread of a multi-threaded process, and the
//! test harness is one. So [`in_private_mounts`] re-executes this test binary
//! filtered to the one test (`NAME --exact --test-threads=1`), with the
//! child's mount *and* network namespaces unshared between `fork` and `exec`
//! (where the child is still single-threaded) and `/` made `rprivate` there.
//! The child re-enters the same test function, sees the marker variable and
//! runs the body; it refuses to unless its mount and network namespaces
//! differ from the parent's. The child also mounts a tmpfs on the test's
//! scratch directory, so even the namespace files never reach the host's
//! file system. Chosen over `unshare --mount --propagation private` for
//! having no dependency on util-linux's flags and for checking the result
//! itself. Nothing the child mounts is visible outside it, and it all goes
//! away when the child exits.

// Each test file uses a subset of the helpers; test code panics on failure.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::ffi::OsString;
use std::fs;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_netlink::Netlink;
use berth_types::{IfName, IpNet};
use nix::sched::{unshare, CloneFlags};
use serde_json::Value;

/// Set in the child of [`in_private_mounts`]: the scratch directory.
const CHILD_DIR_ENV: &str = "BERTH_NETLINK_TEST_PRIVATE_DIR";
/// Set in the child: the parent's mount and network namespace links.
const PARENT_NS_ENV: &str = "BERTH_NETLINK_TEST_PARENT_NS";

fn assert_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the `privileged` tests need root (they create links in throwaway network namespaces)"
    );
}

/// Runs `test` in a fresh network namespace on a dedicated thread.
pub fn in_fresh_netns<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    assert_root();
    let host_ns = fs::read_link("/proc/self/ns/net").expect("read host netns");
    let worker = std::thread::Builder::new()
        .name("netns-test".into())
        .spawn(move || {
            enter_fresh_netns(&host_ns);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(test());
            // The thread ends here; its namespace dies with it.
        })
        .expect("spawn test thread");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Unshares the calling thread's network namespace and refuses to go on
/// unless it is a new, empty one.
pub fn enter_fresh_netns(host_ns: &Path) {
    unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let mine = fs::read_link("/proc/thread-self/ns/net").expect("read thread netns");
    assert_ne!(
        mine, host_ns,
        "still in the host network namespace: refusing to run"
    );
    let links = ip_json(&["link", "show"]);
    let names: Vec<&str> = links
        .as_array()
        .expect("link list")
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    assert_eq!(names, ["lo"], "not a fresh namespace: refusing to run");
}

/// A second fresh network namespace, held open by the returned fd (the
/// thread that made it is gone).
pub fn spare_netns() -> OwnedFd {
    let host_ns = fs::read_link("/proc/self/ns/net").expect("read host netns");
    std::thread::spawn(move || {
        enter_fresh_netns(&host_ns);
        OwnedFd::from(fs::File::open("/proc/thread-self/ns/net").expect("open netns"))
    })
    .join()
    .expect("spare netns thread")
}

fn parent_ns_marker() -> OsString {
    let mnt = fs::read_link("/proc/self/ns/mnt").expect("read mount ns");
    let net = fs::read_link("/proc/self/ns/net").expect("read net ns");
    let mut marker = mnt.into_os_string();
    marker.push(" ");
    marker.push(net);
    marker
}

/// Runs `body` in a child process with a private mount namespace and a
/// network namespace of its own (see the module documentation); `body` gets
/// a scratch directory (a tmpfs, visible only in the child). `test_name` is
/// the calling test's name as the harness knows it.
pub fn in_private_mounts(test_name: &str, body: impl FnOnce(PathBuf)) {
    assert_root();
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        // The child.
        let parent = std::env::var_os(PARENT_NS_ENV).expect("parent namespaces");
        let parent = parent.to_str().expect("utf-8 ns links");
        let (parent_mnt, parent_net) = parent.split_once(' ').expect("marker");
        let mine = parent_ns_marker();
        let mine = mine.to_str().expect("utf-8 ns links");
        let (mnt, net) = mine.split_once(' ').expect("marker");
        assert_ne!(
            mnt, parent_mnt,
            "child shares the host's mount namespace: refusing to run"
        );
        assert_ne!(
            net, parent_net,
            "child shares the host's network namespace: refusing to run"
        );
        let dir = PathBuf::from(dir);
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("mode=0755,size=16m"),
        )
        .expect("mount the scratch tmpfs (private mount namespace)");
        body(dir);
        return;
    }

    let dir = std::env::temp_dir().join(format!(
        "berth-netlink-test.{}.{test_name}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).expect("scratch dir");
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([test_name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_DIR_ENV, &dir)
        .env(PARENT_NS_ENV, parent_ns_marker());
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it makes two raw syscalls with
    // static C strings and reads errno, allocating nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run the test in a child process");
    let _ = fs::remove_dir(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "child for {test_name} failed: {}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "child for {test_name} did not run exactly that test"
    );
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
