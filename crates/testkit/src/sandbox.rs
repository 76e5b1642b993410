//! Sandbox hosts for end-to-end tests (DESIGN.md, "Testing"): berth-sandbox's
//! [`Host`] (a fresh network and mount namespace held open by a `sleep`
//! process, `lo` up, a tmpfs on `/run`) with berthd running inside it, its
//! data root, exec root and socket under the sandbox's temp dir. Nothing a
//! test does reaches the machine's own namespace, and dropping the sandbox
//! kills everything in it, so the namespaces and every kernel object in
//! them disappear. Test harness: failures panic with their reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use berth_sandbox::{Client, DaemonProcess, Host};

pub use berth_sandbox::{HOST_OUTSIDE_IP, HOST_OUTSIDE_IP6, PEER_IP, PEER_IP6};

/// How long a daemon may take to answer its first ping.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the workspace's binaries are: `BERTH_BIN_DIR`, else the target
/// directory the running test binary was built into.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --bins)",
        path.display()
    );
    path
}

/// Panics unless running as root: end-to-end tests need namespaces and
/// must fail loudly, never pass by skipping.
pub fn require_root() {
    assert!(
        nix_is_root(),
        "end-to-end tests need root (they create network namespaces); run them as root"
    );
}

fn nix_is_root() -> bool {
    // The effective uid, from /proc: no libc needed for one number.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A command's result, with the text already decoded.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.status, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn err(self) -> String {
        assert_ne!(
            self.status, 0,
            "command unexpectedly succeeded:\nstdout: {}",
            self.stdout
        );
        self.stderr
    }
}

/// Runs `cmd` with `input` on its stdin.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .unwrap_or_else(|e| panic!("write stdin: {e}"));
    }
    Run::from_output(
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}")),
    )
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    Run::from_output(out)
}

/// A network + mount namespace pair standing in for a host.
pub struct Sandbox {
    host: Host,
    daemon: Option<DaemonProcess>,
    daemon_args: Vec<String>,
}

/// Another host, outside the sandbox host: its own network namespace joined
/// to the sandbox by a veth pair, default route via the sandbox.
pub struct Peer {
    peer: berth_sandbox::Peer,
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    /// Runs `sh -c script` in the peer's network namespace (it shares the
    /// sandbox's mount namespace, so the sandbox's files are visible).
    pub fn sh(&self, script: &str) -> Run {
        run(self.peer.command("sh").args(["-c", script]))
    }

    /// Starts a long-running process in the peer; it dies with the sandbox.
    pub fn spawn(&self, script: &str) -> Child {
        self.peer
            .command("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script:?} in the peer: {e}"))
    }
}

impl Sandbox {
    /// A sandbox with berthd running and the busybox image imported: where
    /// most end-to-end tests start.
    pub fn with_busybox() -> Sandbox {
        let mut sandbox = Sandbox::new();
        sandbox.start_daemon(&[]);
        sandbox.import_busybox();
        sandbox
    }

    /// `docker inspect WHAT`, the one object it prints.
    pub fn inspect(&self, what: &str) -> serde_json::Value {
        let out = self.docker(&["inspect", what]).ok();
        let all: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("docker inspect {what}: {e}: {out}"));
        all[0].clone()
    }

    /// `docker run -d --name NAME --network NETWORK EXTRA... busybox CMD...`.
    pub fn run_busybox(&self, name: &str, network: &str, extra: &[&str], cmd: &[&str]) -> Run {
        let mut args = vec!["run", "-d", "--name", name, "--network", network];
        args.extend_from_slice(extra);
        args.push("busybox");
        args.extend_from_slice(cmd);
        self.docker(&args)
    }

    /// `ip -d link show IFACE` in a container's namespace (busybox's `ip`
    /// has no `-d`).
    pub fn container_link(&self, container: &str, iface: &str) -> Run {
        let key = self.inspect(container)["NetworkSettings"]["SandboxKey"]
            .as_str()
            .unwrap_or_else(|| panic!("{container} has no SandboxKey"))
            .to_owned();
        self.sh(&format!("nsenter --net={key} ip -d link show {iface}"))
    }

    /// The host ends of the containers' veth pairs.
    pub fn veths(&self) -> Vec<String> {
        self.link_names()
            .into_iter()
            .filter(|l| l.starts_with("veth"))
            .collect()
    }

    pub fn new() -> Sandbox {
        require_root();
        let host = Host::new("berth-sandbox-", false).unwrap_or_else(|e| panic!("{e}"));
        let sandbox = Sandbox {
            host,
            daemon: None,
            daemon_args: Vec::new(),
        };
        // The host's /etc/berth/daemon.json must never leak into a test.
        sandbox.write_daemon_json("{}");
        sandbox
    }

    pub fn pid(&self) -> u32 {
        self.host.pid()
    }

    /// The sandbox host underneath (for the cluster plumbing).
    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    pub fn dir(&self) -> &Path {
        self.host.dir()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir().join("berth.sock")
    }

    pub fn host_arg(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// A command run inside the sandbox's namespaces.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.host.command(program)
    }

    /// Runs `sh -c script` inside the sandbox.
    pub fn sh(&self, script: &str) -> Run {
        run(self.command("sh").args(["-c", script]))
    }

    /// `ip -j <args>` inside the sandbox, parsed.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let out = run(self.command("ip").arg("-j").args(args)).ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
    }

    /// Names of every link in the sandbox, sorted.
    pub fn link_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ip_json(&["link", "show"])
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// Waits (up to 10 s) for a link to be gone: berthd deletes a removed
    /// network's bridge after it has answered.
    pub fn wait_link_gone(&self, name: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.link_names().iter().any(|l| l == name) {
            assert!(
                std::time::Instant::now() < deadline,
                "link {name} still there"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The global addresses of a link as `addr/prefix` strings.
    pub fn addresses(&self, link: &str) -> Vec<String> {
        self.ip_json(&["addr", "show", "dev", link])
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] == "global")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect()
    }

    /// Adds the outside peer: `out0` (10.200.0.1/24, fd00:200::1/64) here,
    /// `eth0` (10.200.0.2/24, fd00:200::2/64) there, default routes via the
    /// sandbox host.
    pub fn add_outside_peer(&mut self) -> Peer {
        let peer = self
            .host
            .add_outside_peer()
            .unwrap_or_else(|e| panic!("{e}"));
        Peer { peer }
    }

    /// Starts berthd inside the sandbox with its paths under the temp dir,
    /// and waits until it answers `/_ping`.
    pub fn start_daemon(&mut self, extra_args: &[&str]) {
        self.daemon_args = extra_args.iter().map(|s| (*s).to_owned()).collect();
        self.spawn_daemon();
    }

    /// Starts the daemon again with the same arguments as last time.
    pub fn restart_daemon(&mut self) {
        self.spawn_daemon();
    }

    fn spawn_daemon(&mut self) {
        assert!(
            self.daemon.is_none(),
            "a daemon is already running in this sandbox"
        );
        let dir = self.dir();
        let mut cmd = self.command(bin("berthd"));
        cmd.arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(self.host_arg())
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .args(&self.daemon_args)
            .env("RUST_LOG", "debug");
        let daemon = DaemonProcess::start(
            "berthd",
            &mut cmd,
            &dir.join("berthd.log"),
            &self.socket(),
            DAEMON_START_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.daemon = Some(daemon);
    }

    /// Writes the daemon.json the daemon reads at its next start.
    pub fn write_daemon_json(&self, json: &str) {
        std::fs::write(self.dir().join("daemon.json"), json)
            .unwrap_or_else(|e| panic!("write daemon.json: {e}"));
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("berthd.log")).unwrap_or_default()
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop_daemon(&mut self) -> i32 {
        self.daemon
            .take()
            .unwrap_or_else(|| panic!("no daemon running"))
            .stop(None)
    }

    /// SIGKILL: a crash at an arbitrary moment.
    pub fn kill_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }

    /// Runs the berth CLI against this sandbox's daemon.
    pub fn berth(&self, args: &[&str]) -> Run {
        run(Command::new(bin("berth"))
            .arg("-H")
            .arg(self.host_arg())
            .args(args))
    }

    /// Runs Debian's docker-compose (1.29) against this sandbox's daemon
    /// on `file`, written as `docker-compose.yml` in `project` (a directory
    /// of the sandbox, made if missing; its name is the project's).
    pub fn compose(&self, project: &str, file: &str, args: &[&str]) -> Run {
        let dir = self.dir().join(project);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        std::fs::write(dir.join("docker-compose.yml"), file)
            .unwrap_or_else(|e| panic!("write the compose file: {e}"));
        run(Command::new("docker-compose")
            .args(["-p", project])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", self.host_arg()))
    }

    /// Runs the real docker CLI against this sandbox's daemon.
    pub fn docker(&self, args: &[&str]) -> Run {
        run(&mut self.docker_command(args))
    }

    /// The docker CLI command, for callers that feed it input.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(docker_cli());
        cmd.env("DOCKER_HOST", self.host_arg())
            .env("DOCKER_CONFIG", self.dir().join("docker-config"))
            .args(args);
        cmd
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub fn import_busybox(&self) {
        let tar = busybox_tarball();
        let body = std::fs::read(&tar).unwrap_or_else(|e| panic!("read {}: {e}", tar.display()));
        let (status, reply) = http_bytes(
            &self.socket(),
            "POST",
            "/v1.50/images/create?fromSrc=-&repo=busybox&tag=latest",
            &body,
            "application/x-tar",
        );
        assert_eq!(status, 200, "import busybox: {reply}");
    }

    /// A raw HTTP/1.0 request to the daemon: (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http(&self.socket(), method, path, body)
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    /// Removes every container through the API while a daemon serves.
    fn remove_containers(&self) {
        if self.daemon.is_none() {
            return;
        }
        let (status, body) = self.http("GET", "/v1.50/containers/json?all=1", None);
        if status != 200 {
            return;
        }
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        for id in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str())
        {
            self.http("DELETE", &format!("/v1.50/containers/{id}?force=1"), None);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.remove_containers();
        self.kill_daemon();
        // Then the host kills the shims and containers left (they detach
        // from the daemon's process tree), the peers and the namespaces.
    }
}

/// The real docker CLI. Compatibility tests must not pass by skipping.
pub fn docker_cli() -> PathBuf {
    let path = PathBuf::from(
        std::env::var_os("DOCKER_CLI").unwrap_or_else(|| "/usr/local/bin/docker".into()),
    );
    assert!(
        path.exists(),
        "THE REAL docker CLI IS MISSING at {}: compatibility tests need it (set DOCKER_CLI to its path)",
        path.display()
    );
    path
}

/// Minimal HTTP/1.0 over the unix socket (the server closes after
/// replying): (status, body), (0, "") when there is no answer.
pub fn http(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_bytes(
        socket,
        method,
        path,
        body.unwrap_or("").as_bytes(),
        "application/json",
    )
}

fn http_bytes(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: &str,
) -> (u16, String) {
    Client::new(socket)
        .request(method, path, body, content_type)
        .map(|reply| (reply.status, reply.body))
        .unwrap_or_default()
}

/// The test image's tarball: `BERTH_BUSYBOX_TAR`, else built once into the
/// target directory by `scripts/build-busybox-image.sh`.
pub fn busybox_tarball() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_BUSYBOX_TAR") {
        return PathBuf::from(path);
    }
    let target = bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let tar = target.join("busybox.tar");
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        if tar.exists() {
            return;
        }
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-busybox-image.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&tar)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "building the busybox image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    tar
}

/// The seed walkthrough's first steps, with either CLI: `mynetwork`
/// (192.168.100.0/24), `test2` on it at 192.168.100.10 and `test3` sharing
/// test2's namespace (`--net=container:test2`).
pub fn seed_network(cli: &dyn Fn(&[&str]) -> Run) {
    cli(&[
        "network",
        "create",
        "--subnet=192.168.100.0/24",
        "mynetwork",
    ])
    .ok();
    cli(&[
        "run",
        "-itd",
        "--name",
        "test2",
        "--net",
        "mynetwork",
        "--ip",
        "192.168.100.10",
        "busybox",
        "sh",
    ])
    .ok();
    cli(&[
        "run",
        "-itd",
        "--name",
        "test3",
        "--net=container:test2",
        "busybox",
        "sh",
    ])
    .ok();
}
