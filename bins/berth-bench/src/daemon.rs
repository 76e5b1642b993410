//! A daemon under test, berthd or Debian's dockerd, each in its own sandbox
//! host with its own data root, exec root, socket and log; and the Engine
//! API calls the scenarios make, the same for both.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use berth_sandbox::{Client as Api, DaemonProcess};

use crate::sandbox::{proc_kb, processes, Sandbox};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Berth,
    Docker,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Docker => "docker",
        }
    }
}

/// Where the programs under test are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The directory holding `berthd` and `berth-shim`.
    pub berth_dir: PathBuf,
    pub dockerd: PathBuf,
}

pub struct Daemon {
    pub kind: Kind,
    pub sb: Sandbox,
    pub api: Api,
    process: Option<DaemonProcess>,
    log: PathBuf,
    /// cgroup directories named `docker` that existed before dockerd ran.
    cgroups_before: Vec<PathBuf>,
}

/// One timed step from berthd's log (`berth::timing`).
#[derive(Debug, Clone)]
pub struct Timing {
    pub op: String,
    pub container: String,
    pub ms: f64,
    pub ok: bool,
}

impl Daemon {
    pub fn start(kind: Kind, programs: &Programs, keep: bool) -> Result<Daemon> {
        let sb = Sandbox::new(&format!("berth-bench-{}-", kind.name()), keep)?;
        Daemon::start_in(kind, programs, sb, &[])
    }

    /// Starts the daemon in a sandbox made (and wired) by the caller, with
    /// `extra` arguments (a cluster store, say).
    pub fn start_in(
        kind: Kind,
        programs: &Programs,
        sb: Sandbox,
        extra: &[String],
    ) -> Result<Daemon> {
        let dir = sb.dir().to_path_buf();
        std::fs::write(dir.join("daemon.json"), "{}")?;
        let log = dir.join("daemon.log");
        let socket = dir.join(format!("{}.sock", kind.name()));
        let mut cmd = match kind {
            Kind::Berth => {
                let berthd = programs.berth_dir.join("berthd");
                if !berthd.exists() || !programs.berth_dir.join("berth-shim").exists() {
                    bail!(
                        "berthd and berth-shim are not in {} (cargo build --release --bins, or --berth-dir)",
                        programs.berth_dir.display()
                    );
                }
                let mut cmd = sb.command(berthd);
                // BERTH_BENCH_RUST_LOG adds more (e.g. berth_nft=debug) for
                // profiling; the timing lines must stay.
                let extra = std::env::var("BERTH_BENCH_RUST_LOG").unwrap_or_default();
                let filter = if extra.is_empty() {
                    "info,berth::timing=debug".to_owned()
                } else {
                    format!("info,berth::timing=debug,{extra}")
                };
                cmd.env("RUST_LOG", filter).env("NO_COLOR", "1");
                cmd
            }
            Kind::Docker => {
                let mut cmd = sb.command(&programs.dockerd);
                cmd.arg("--pidfile")
                    .arg(dir.join("docker.pid"))
                    .args(["--iptables=true", "--ip-forward=true"])
                    .args(["--exec-opt", "native.cgroupdriver=cgroupfs"]);
                cmd
            }
        };
        cmd.arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .args(extra);
        let cgroups_before = docker_cgroups();
        let process = match DaemonProcess::start(
            kind.name(),
            &mut cmd,
            &log,
            &socket,
            Duration::from_secs(60),
        ) {
            Ok(process) => process,
            Err(e) => {
                // What is left of the daemon (containerd) first: a cgroup
                // with processes in it cannot be removed.
                sb.kill_leftovers();
                if kind == Kind::Docker {
                    remove_new_cgroups(&cgroups_before);
                }
                return Err(e.into());
            }
        };
        Ok(Daemon {
            kind,
            sb,
            api: Api::new(&socket),
            process: Some(process),
            log,
            cgroups_before,
        })
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(DaemonProcess::pid)
    }

    /// The daemon's processes: berthd; dockerd and the containerd it started.
    pub fn daemon_pids(&self) -> Vec<u32> {
        let Some(pid) = self.pid() else {
            return Vec::new();
        };
        let mut pids = vec![pid];
        if self.kind == Kind::Docker {
            pids.extend(
                processes()
                    .iter()
                    .filter(|p| p.ppid == pid && p.comm == "containerd")
                    .map(|p| p.pid),
            );
        }
        pids
    }

    /// Resident memory of the daemon's processes, in MB.
    pub fn daemon_rss_mb(&self) -> f64 {
        self.daemon_pids()
            .iter()
            .filter_map(|p| proc_kb(*p, "status", "VmRSS"))
            .sum::<f64>()
            / 1024.0
    }

    /// The per-container shims of this sandbox: (count, total PSS in MB).
    pub fn shims_pss_mb(&self) -> (usize, f64) {
        let needle = self.sb.dir().to_string_lossy().into_owned();
        let comm = match self.kind {
            Kind::Berth => "berth-shim",
            // comm is cut at 15 bytes: containerd-shim-runc-v2.
            Kind::Docker => "containerd-shim",
        };
        let shims: Vec<u32> = processes()
            .into_iter()
            .filter(|p| p.comm == comm && p.cmdline.contains(&needle))
            .map(|p| p.pid)
            .collect();
        let pss: f64 = shims
            .iter()
            .filter_map(|p| proc_kb(*p, "smaps_rollup", "Pss"))
            .sum();
        (shims.len(), pss / 1024.0)
    }

    /// Processes of this sandbox other than daemons, shims and containers:
    /// userland proxies (docker-proxy), for the record.
    /// docker-proxy processes (one per published port and address
    /// family): (count, total PSS in MB).
    pub fn proxies(&self) -> (usize, f64) {
        let daemon = self.pid().unwrap_or(0);
        let pids: Vec<u32> = processes()
            .iter()
            .filter(|p| p.comm == "docker-proxy" && p.ppid == daemon)
            .map(|p| p.pid)
            .collect();
        let pss: f64 = pids
            .iter()
            .filter_map(|p| proc_kb(*p, "smaps_rollup", "Pss"))
            .sum();
        (pids.len(), pss / 1024.0)
    }

    pub fn import_busybox(&self, tarball: &Path) -> Result<()> {
        let body = std::fs::read(tarball).with_context(|| format!("read {}", tarball.display()))?;
        let reply = self
            .api
            .request(
                "POST",
                "/images/create?fromSrc=-&repo=busybox&tag=latest",
                &body,
                "application/x-tar",
            )?
            .ok("import busybox")?;
        if reply.body.contains("\"error") {
            bail!("import busybox: {}", reply.body);
        }
        Ok(())
    }

    pub fn create_network(&self, name: &str, subnet: Option<&str>) -> Result<String> {
        let mut body = json!({"Name": name, "Driver": "bridge", "CheckDuplicate": true});
        if let Some(subnet) = subnet {
            body["IPAM"] = json!({"Config": [{"Subnet": subnet}]});
        }
        let reply = self
            .api
            .post("/networks/create", &body)?
            .ok(&format!("create network {name}"))?;
        id_of(&reply.json()?)
    }

    /// A macvlan network on `parent` (a link of the sandbox host).
    pub fn create_macvlan_network(&self, name: &str, parent: &str, subnet: &str) -> Result<String> {
        let body = json!({
            "Name": name,
            "Driver": "macvlan",
            "CheckDuplicate": true,
            "IPAM": {"Config": [{"Subnet": subnet}]},
            "Options": {"parent": parent},
        });
        let reply = self
            .api
            .post("/networks/create", &body)?
            .ok(&format!("create network {name}"))?;
        id_of(&reply.json()?)
    }

    pub fn remove_network(&self, id: &str) -> Result<()> {
        self.api
            .delete(&format!("/networks/{id}"))?
            .ok(&format!("remove network {id}"))?;
        Ok(())
    }

    pub fn remove_volume(&self, name: &str) -> Result<()> {
        self.api
            .delete(&format!("/volumes/{name}"))?
            .ok(&format!("remove volume {name}"))?;
        Ok(())
    }

    /// `docker run -d`: create then start; returns the id.
    pub fn run(
        &self,
        name: &str,
        network: &str,
        ports: &[(u16, u16)],
        cmd: &[&str],
    ) -> Result<String> {
        self.run_with(name, network, ports, cmd, serde_json::Map::new())
    }

    /// [`Daemon::run`] with more `HostConfig` keys (mounts, limits).
    pub fn run_with(
        &self,
        name: &str,
        network: &str,
        ports: &[(u16, u16)],
        cmd: &[&str],
        mut host_config: serde_json::Map<String, Value>,
    ) -> Result<String> {
        let mut exposed = serde_json::Map::new();
        let mut bindings = serde_json::Map::new();
        for (host, container) in ports {
            let key = format!("{container}/tcp");
            exposed.insert(key.clone(), json!({}));
            bindings.insert(key, json!([{"HostIp": "", "HostPort": host.to_string()}]));
        }
        host_config.insert("NetworkMode".to_owned(), json!(network));
        host_config.insert("PortBindings".to_owned(), Value::Object(bindings));
        self.run_with_config(
            name,
            json!({
                "Image": "busybox",
                "Cmd": cmd,
                "ExposedPorts": exposed,
                "HostConfig": host_config,
            }),
        )
    }

    /// `docker run -d` of a whole create body; returns the id.
    pub fn run_with_config(&self, name: &str, body: Value) -> Result<String> {
        let id = self.create_with_config(name, body)?;
        self.start_container(&id)?;
        Ok(id)
    }

    /// `docker create` of a whole create body; returns the id.
    pub fn create_with_config(&self, name: &str, body: Value) -> Result<String> {
        let reply = self
            .api
            .post(&format!("/containers/create?name={name}"), &body)?
            .ok(&format!("create container {name}"))?;
        id_of(&reply.json()?)
    }

    pub fn start_container(&self, id: &str) -> Result<()> {
        self.api
            .post(&format!("/containers/{id}/start"), &Value::Null)?
            .ok(&format!("start container {id}"))?;
        Ok(())
    }

    /// `docker rm -f`.
    pub fn rm_force(&self, id: &str) -> Result<()> {
        self.api
            .delete(&format!("/containers/{id}?force=1"))?
            .ok(&format!("remove container {id}"))?;
        Ok(())
    }

    pub fn inspect(&self, id: &str) -> Result<Value> {
        Ok(self
            .api
            .get(&format!("/containers/{id}/json"))?
            .ok(&format!("inspect {id}"))?
            .json()?)
    }

    /// The container's address on `network` and its network namespace path.
    pub fn address_and_netns(&self, id: &str, network: &str) -> Result<(String, PathBuf)> {
        let c = self.inspect(id)?;
        let ip = c["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = c["NetworkSettings"]["SandboxKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if ip.is_empty() || key.is_empty() {
            bail!("container {id} has no address on {network} or no SandboxKey: {c}");
        }
        Ok((ip, PathBuf::from(key)))
    }

    pub fn all_containers(&self) -> Result<Vec<String>> {
        let list = self.api.get("/containers/json?all=1")?.ok("list")?.json()?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect())
    }

    /// berthd's `berth::timing` lines, by op then container id.
    pub fn timings(&self) -> HashMap<String, HashMap<String, Timing>> {
        let mut out: HashMap<String, HashMap<String, Timing>> = HashMap::new();
        if self.kind != Kind::Berth {
            return out;
        }
        for t in self.log_text().lines().filter_map(parse_timing) {
            out.entry(t.op.clone())
                .or_default()
                .insert(t.container.clone(), t);
        }
        out
    }

    /// Removes every container and user network, then stops the daemon.
    pub fn shutdown(&mut self) {
        if self.process.is_none() {
            return;
        }
        let ids = self.all_containers().unwrap_or_default();
        crate::scenarios::parallel_always(4, &ids, |id| self.rm_force(id));
        if let Ok(nets) = self.api.get("/networks").and_then(|r| r.json()) {
            for n in nets.as_array().into_iter().flatten() {
                let name = n["Name"].as_str().unwrap_or_default();
                if !matches!(name, "bridge" | "host" | "none") {
                    let _ = self.remove_network(n["Id"].as_str().unwrap_or(name));
                }
            }
        }
        if let Some(process) = self.process.take() {
            process.stop(Some(Duration::from_secs(30)));
        }
        self.sb.kill_leftovers();
        match self.kind {
            Kind::Docker => remove_new_cgroups(&self.cgroups_before),
            // runc's cgroups of containers that had to be killed rather
            // than removed (empty once their processes are gone).
            Kind::Berth => {
                for id in &ids {
                    remove_container_cgroups("berth", id);
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn id_of(v: &Value) -> Result<String> {
    v["Id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no Id in {v}"))
}

/// `... berth::timing: timing op="network_setup" container="abc" ok=true us=1234`
pub fn parse_timing(line: &str) -> Option<Timing> {
    if !line.contains("berth::timing") {
        return None;
    }
    let line = strip_ansi(line);
    let mut fields = BTreeMap::new();
    for token in line.split_whitespace() {
        if let Some((k, v)) = token.split_once('=') {
            fields.insert(k.to_owned(), v.trim_matches('"').to_owned());
        }
    }
    Some(Timing {
        op: fields.get("op")?.clone(),
        container: fields.get("container")?.clone(),
        ms: fields.get("us")?.parse::<f64>().ok()? / 1000.0,
        ok: fields.get("ok").is_some_and(|v| v == "true"),
    })
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// cgroup v1/v2 directories named `docker` under /sys/fs/cgroup.
fn docker_cgroups() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
    for root in roots {
        if Path::new(root).join("docker").is_dir() {
            out.push(Path::new(root).join("docker"));
        }
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let d = e.path().join("docker");
                if d.is_dir() {
                    out.push(d);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Removes the (empty) `docker` cgroups dockerd made in this run.
fn remove_new_cgroups(before: &[PathBuf]) {
    for dir in docker_cgroups() {
        if !before.contains(&dir) {
            remove_cgroup_tree(&dir);
        }
    }
}

/// Removes `/sys/fs/cgroup/*/<parent>/<id>` (v1 controllers and v2).
fn remove_container_cgroups(parent: &str, id: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path().join(parent).join(id);
        if dir.is_dir() {
            remove_cgroup_tree(&dir);
        }
    }
    let v2 = Path::new("/sys/fs/cgroup").join(parent).join(id);
    if v2.is_dir() {
        remove_cgroup_tree(&v2);
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_lines_parse() {
        let t = parse_timing(
            "2026-01-01T00:00:00.1Z DEBUG berth::timing: timing op=\"network_setup\" container=\"ab12\" ok=true us=4321",
        )
        .unwrap();
        assert_eq!(
            (t.op.as_str(), t.container.as_str(), t.ok),
            ("network_setup", "ab12", true)
        );
        assert!((t.ms - 4.321).abs() < 1e-9);
        let colored = "\u{1b}[2m2026\u{1b}[0m \u{1b}[34mDEBUG\u{1b}[0m \u{1b}[2mberth::timing\u{1b}[0m\u{1b}[2m:\u{1b}[0m timing \u{1b}[3mop\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"x\" \u{1b}[3mcontainer\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"c\" \u{1b}[3mus\u{1b}[0m\u{1b}[2m=\u{1b}[0m10";
        let t = parse_timing(colored).unwrap();
        assert_eq!((t.op.as_str(), t.container.as_str()), ("x", "c"));
        assert!(parse_timing("INFO berth_core: container created").is_none());
    }
}
