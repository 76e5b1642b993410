//! Fresh namespaces for the adapters' root tests, two ways:
//!
//! - [`on_fresh_netns_thread`]: the body runs on a thread of its own that
//!   unshares its network namespace (and refuses to go on unless it is a new
//!   one holding only `lo`), so the body and every child process it starts
//!   (`ip`, `nft`, ...) can never act on the machine's own namespace. The
//!   namespace dies with the thread.
//! - [`in_child_namespaces`], for tests that mount things: `unshare
//!   (CLONE_NEWNS)` is refused on a thread of a multi-threaded process, and
//!   the test harness is one. So the test binary runs itself again, filtered
//!   to the one test (`NAME --exact --test-threads=1`), with the child's
//!   mount *and* network namespaces unshared between `fork` and `exec`
//!   (where the child is still single-threaded) and `/` made `rprivate`
//!   there. The child re-enters the same test function, sees the marker
//!   variable and runs the body; it refuses to unless its mount and network
//!   namespaces differ from the parent's. The child also mounts a tmpfs on
//!   the test's scratch directory, so even namespace files never reach the
//!   host's file system. Nothing the child mounts is visible outside it, and
//!   it all goes away when the child exits.
//!
//! Test harness code: it panics, with the reason, instead of returning
//! errors, and fails loudly when not root rather than skipping.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Set in the child of [`in_child_namespaces`]: the scratch directory.
const CHILD_DIR_ENV: &str = "BERTH_SANDBOX_CHILD_DIR";
/// Set in the child: the parent's mount and network namespace links.
const PARENT_NS_ENV: &str = "BERTH_SANDBOX_PARENT_NS";

fn assert_root() {
    assert!(
        // SAFETY: geteuid(2) takes nothing and cannot fail.
        unsafe { libc::geteuid() } == 0,
        "these tests need root (they build throwaway namespaces); run them as root"
    );
}

/// Runs `body` on a new thread named `name` in a fresh network namespace,
/// and returns its result; a panic in `body` is the caller's panic.
pub fn on_fresh_netns_thread<F, T>(name: &str, body: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    assert_root();
    let worker = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            enter_fresh_netns();
            body()
        })
        .unwrap_or_else(|e| panic!("spawn the {name} thread: {e}"));
    match worker.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Unshares the calling thread's network namespace and refuses to go on
/// unless it is a new, empty one.
fn enter_fresh_netns() {
    // The process's (main thread's) namespace is the machine's, or the one
    // the test runner was started in: never the one the tests work in.
    let machine =
        fs::read_link("/proc/self/ns/net").unwrap_or_else(|e| panic!("read process netns: {e}"));
    // SAFETY: unshare(2) takes a flag word and touches no memory of ours;
    // CLONE_NEWNET affects only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        panic!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
    }
    let mine = fs::read_link("/proc/thread-self/ns/net")
        .unwrap_or_else(|e| panic!("read thread netns: {e}"));
    assert_ne!(
        mine, machine,
        "still in the machine's network namespace: refusing to run"
    );
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run ip link show: {e}"));
    let links = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && links.lines().count() == 1 && links.contains(": lo:"),
        "not a fresh namespace, refusing to run:\n{links}"
    );
}

fn namespaces_marker() -> OsString {
    let mnt = fs::read_link("/proc/self/ns/mnt").unwrap_or_else(|e| panic!("read mount ns: {e}"));
    let net = fs::read_link("/proc/self/ns/net").unwrap_or_else(|e| panic!("read net ns: {e}"));
    let mut marker = mnt.into_os_string();
    marker.push(" ");
    marker.push(net);
    marker
}

/// Runs `body` in a child process with a private mount namespace and a
/// network namespace of its own (see the module documentation); `body` gets
/// a scratch directory (a tmpfs, visible only in the child). `test_name` is
/// the calling test's name as the harness knows it.
pub fn in_child_namespaces(test_name: &str, body: impl FnOnce(PathBuf)) {
    assert_root();
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        run_in_child(dir.into(), body);
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "berth-sandbox-test.{}.{test_name}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("make {}: {e}", dir.display()));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("find the test binary: {e}"));
    let mut cmd = Command::new(exe);
    cmd.args([
        test_name,
        "--exact",
        "--test-threads=1",
        "--nocapture",
        "--include-ignored",
    ])
    .env(CHILD_DIR_ENV, &dir)
    .env(PARENT_NS_ENV, namespaces_marker());
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
    // Output goes to files, not pipes: a process the test leaves running
    // (a detached shim) would hold a pipe open and the wait would never end.
    let mut stdout = tempfile::tempfile().unwrap_or_else(|e| panic!("make a temp file: {e}"));
    let mut stderr = tempfile::tempfile().unwrap_or_else(|e| panic!("make a temp file: {e}"));
    let clone = |f: &fs::File| {
        f.try_clone()
            .unwrap_or_else(|e| panic!("dup a temp file: {e}"))
    };
    let status = cmd
        .stdin(Stdio::null())
        .stdout(clone(&stdout))
        .stderr(clone(&stderr))
        .status()
        .unwrap_or_else(|e| panic!("run {test_name} in a child process: {e}"));
    let _ = fs::remove_dir(&dir);
    let read = |f: &mut fs::File| {
        let mut text = String::new();
        let _ = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_string(&mut text));
        text
    };
    let stdout = read(&mut stdout);
    let stderr = read(&mut stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(status.success(), "child for {test_name} failed: {status}");
    assert!(
        stdout.contains("1 passed"),
        "child for {test_name} did not run exactly that test"
    );
}

/// The child's side: check the namespaces, mount the scratch tmpfs, run.
fn run_in_child(dir: PathBuf, body: impl FnOnce(PathBuf)) {
    let parent = std::env::var(PARENT_NS_ENV).unwrap_or_else(|e| panic!("{PARENT_NS_ENV}: {e}"));
    let mine = namespaces_marker();
    let mine = mine
        .to_str()
        .unwrap_or_else(|| panic!("namespace links are not UTF-8: {mine:?}"));
    let split = |marker: &str| -> (String, String) {
        marker
            .split_once(' ')
            .map(|(mnt, net)| (mnt.to_owned(), net.to_owned()))
            .unwrap_or_else(|| panic!("bad namespaces marker {marker:?}"))
    };
    let (parent_mnt, parent_net) = split(&parent);
    let (mnt, net) = split(mine);
    assert_ne!(
        mnt, parent_mnt,
        "child shares the host's mount namespace: refusing to run"
    );
    assert_ne!(
        net, parent_net,
        "child shares the host's network namespace: refusing to run"
    );
    let target = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .unwrap_or_else(|e| panic!("scratch dir {}: {e}", dir.display()));
    // SAFETY: all pointers are to NUL-terminated strings that outlive the
    // call; mount(2) only reads them.
    let mounted = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"mode=0755,size=16m".as_ptr().cast(),
        )
    };
    assert_eq!(
        mounted,
        0,
        "mount the scratch tmpfs (private mount namespace): {}",
        std::io::Error::last_os_error()
    );
    body(dir);
}
