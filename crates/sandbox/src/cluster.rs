//! Cluster plumbing for sandbox hosts (DESIGN.md, "Testing"): an
//! [`Underlay`] (a bridge in a network namespace of its own, joining sandbox
//! hosts by veth pairs, one address each on 10.99.0.0/24) and an
//! [`EtcdMember`] per host (Debian's `etcd` started inside the host on its
//! underlay address, data under the host's temp dir), so that killing a
//! host kills its member too.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::host::Host;
use crate::proc::{kill, output, wait_for};
use crate::{io, Result};

/// The underlay's subnet prefix: host `i` (from 0) is `10.99.0.{i+1}`.
const UNDERLAY_PREFIX: &str = "10.99.0";
/// The underlay bridge, in the underlay namespace.
const UNDERLAY_BRIDGE: &str = "ul0";
/// Each host's underlay interface.
pub const UNDERLAY_IFACE: &str = "underlay0";
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Host `index`'s underlay address.
pub fn underlay_ip(index: usize) -> String {
    format!("{UNDERLAY_PREFIX}.{}", index + 1)
}

/// A bridge in its own network namespace, held by a `sleep`: the wire
/// between the cluster's sandbox hosts.
pub struct Underlay {
    dir: TempDir,
    holder: Child,
}

impl Underlay {
    pub fn new() -> Result<Underlay> {
        let dir = tempfile::Builder::new()
            .prefix("berth-underlay-")
            .tempdir()
            .map_err(io("make a temp dir"))?;
        let ready = dir.path().join("ready");
        let script = format!(
            "ip link set lo up && ip link add {UNDERLAY_BRIDGE} type bridge \
             && ip link set {UNDERLAY_BRIDGE} up && touch {} && exec sleep infinity",
            ready.display()
        );
        let holder = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .map_err(io("start the underlay namespace"))?;
        let underlay = Underlay { dir, holder };
        wait_for(SETUP_TIMEOUT, "the underlay namespace", || ready.exists())?;
        Ok(underlay)
    }

    /// Joins `host` to the underlay as host `index`: `underlay0` there with
    /// [`underlay_ip`]`(index)/24`, its peer on the bridge here. The address.
    pub fn attach(&self, host: &Host, index: usize) -> Result<String> {
        let ip = underlay_ip(index);
        let port = format!("h{index}");
        output(
            Command::new("nsenter")
                .arg("-t")
                .arg(self.holder.id().to_string())
                .args(["-n", "--", "sh", "-c"])
                .arg(format!(
                    "ip link add {port} type veth peer name {UNDERLAY_IFACE} netns {pid} \
                     && ip link set {port} master {UNDERLAY_BRIDGE} && ip link set {port} up",
                    pid = host.pid()
                )),
        )?;
        output(host.command("sh").arg("-c").arg(format!(
            "ip addr add {ip}/24 dev {UNDERLAY_IFACE} && ip link set {UNDERLAY_IFACE} up"
        )))?;
        Ok(ip)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The `--initial-cluster` of `size` members named `m0`, `m1`, ...
pub fn etcd_initial_cluster(size: usize) -> String {
    (0..size)
        .map(|i| format!("m{i}=http://{}:2380", underlay_ip(i)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The client endpoints of `size` members, as `etcdctl --endpoints` and
/// `berthd --cluster-store etcd://...` take them (without scheme).
pub fn etcd_endpoints(size: usize) -> Vec<String> {
    (0..size)
        .map(|i| format!("{}:2379", underlay_ip(i)))
        .collect()
}

/// One etcd member running inside a sandbox host, killed by pid on drop.
pub struct EtcdMember {
    child: Option<Child>,
    log: PathBuf,
}

impl EtcdMember {
    /// Starts member `index` of a new cluster of `size` inside `host` (which
    /// must be attached to the underlay as `index`); its data and log live
    /// under the host's temp dir. It does not wait: a member serves only once
    /// a quorum is up.
    pub fn start(host: &Host, index: usize, size: usize) -> Result<EtcdMember> {
        let ip = underlay_ip(index);
        let data = host.dir().join(format!("etcd-m{index}"));
        let log = host.dir().join(format!("etcd-m{index}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(format!("open {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("dup {}", log.display())))?;
        let child = host
            .command("etcd")
            .arg(format!("--name=m{index}"))
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls=http://{ip}:2379"))
            .arg(format!("--advertise-client-urls=http://{ip}:2379"))
            .arg(format!("--listen-peer-urls=http://{ip}:2380"))
            .arg(format!("--initial-advertise-peer-urls=http://{ip}:2380"))
            .arg(format!("--initial-cluster={}", etcd_initial_cluster(size)))
            .args([
                "--initial-cluster-state=new",
                "--initial-cluster-token=berth-test",
                "--logger=zap",
                "--log-outputs=stderr",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io("start etcd (Debian package etcd-server)"))?;
        Ok(EtcdMember {
            child: Some(child),
            log,
        })
    }

    /// The member's pid (nsenter without --pid execs it in place).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, by pid.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(child.id());
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `etcdctl endpoint health -w json` of all `size` members, run inside
/// `host`: its output (one object per member, `health` true or false), or
/// the error with etcdctl's words when any member is unhealthy.
pub fn etcd_health(host: &Host, size: usize) -> Result<String> {
    output(
        host.command("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", etcd_endpoints(size).join(",")))
            .args(["--dial-timeout=2s", "--command-timeout=3s"])
            .args(["endpoint", "health", "-w", "json"]),
    )
}
