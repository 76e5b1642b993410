//! The OCI runtime spec berth hands runc: `config.json` for a container and
//! `process.json` for an exec. Rendering is pure (input struct -> JSON
//! value), so every field is unit-tested without root.
//!
//! The defaults follow Docker's (moby `oci/defaults.go` plus what the
//! daemon adds): pid/ipc/uts/mount namespaces and a network one unless the
//! container uses the host's, the usual /proc, /dev, /sys, cgroup, mqueue
//! and shm mounts, Docker's 14 default capabilities, its masked and
//! read-only paths, and a deny-all device cgroup (runc adds the standard
//! allowed devices itself). Privileges and shared namespaces are
//! [`security`]'s.
//!
//! `input` holds what a spec is rendered from, `shapes` the JSON it is
//! rendered into; this file holds Docker's defaults and the rendering.

mod input;
mod resources;
mod shapes;

use crate::error::{Error, Result};
pub use input::{
    BundleSpec, ContainerOptions, EtcFiles, NetworkNamespace, ProcessSpec, Rlimit, User,
};
pub use resources::{cgroup_limits, LinuxResources, OciRlimit};
use shapes::{bind, mount};
pub use shapes::{
    Capabilities, ConsoleSize, Linux, Mount, Namespace, OciUser, Process, Root, Spec,
};

pub mod security;

mod storage;

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked paths (moby `oci/defaults.go`).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths (moby `oci/defaults.go`).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The `process` object, shared by `config.json` and an exec's
/// `process.json` (an exec gets the container's capabilities, as in Docker).
pub fn render_process(id: &str, p: &ProcessSpec) -> Result<Process> {
    let invalid = |reason: String| Error::InvalidSpec {
        id: id.to_owned(),
        reason,
    };
    if p.args.is_empty() || p.args[0].is_empty() {
        return Err(invalid("no command specified".into()));
    }
    if !p.cwd.starts_with('/') {
        return Err(invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            p.cwd
        )));
    }
    if let Some(bad) = p
        .env
        .iter()
        .find(|e| !e.contains('=') || e.starts_with('='))
    {
        return Err(invalid(format!("invalid environment variable {bad:?}")));
    }
    let caps = DEFAULT_CAPABILITIES.to_vec();
    Ok(Process {
        terminal: p.tty,
        console_size: p
            .console_size
            .filter(|_| p.tty)
            .map(|(height, width)| ConsoleSize { height, width }),
        user: OciUser {
            uid: p.user.uid,
            gid: p.user.gid,
            additional_gids: p.user.additional_gids.clone(),
        },
        args: p.args.clone(),
        env: p.env.clone(),
        cwd: p.cwd.clone(),
        capabilities: Capabilities {
            bounding: caps.clone(),
            effective: caps.clone(),
            permitted: caps,
        },
        rlimits: resources::rlimits(&p.nofile, &p.ulimits),
        no_new_privileges: false,
        oom_score_adj: None,
        apparmor_profile: None,
    })
}

/// Renders a container's `config.json`.
pub fn render_spec(b: &BundleSpec) -> Result<Spec> {
    let invalid = |reason: String| Error::InvalidSpec {
        id: b.id.clone(),
        reason,
    };
    if !b.rootfs.is_absolute() {
        return Err(invalid(format!(
            "rootfs {} is not absolute",
            b.rootfs.display()
        )));
    }
    if !b.cgroups_path.starts_with('/') {
        return Err(invalid(format!(
            "cgroups path {:?} is not absolute",
            b.cgroups_path
        )));
    }
    let mut process = render_process(&b.id, &b.process)?;
    let limits = resources::render(&b.id, &b.options.resources)?;
    process.oom_score_adj = limits.oom_score_adj;

    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &resources::shm_size_option(&b.options.resources),
            ],
        ),
    ];
    for (dest, src) in [
        ("/etc/resolv.conf", &b.etc.resolv_conf),
        ("/etc/hostname", &b.etc.hostname),
        ("/etc/hosts", &b.etc.hosts),
    ] {
        if let Some(src) = src {
            if !src.is_absolute() {
                return Err(invalid(format!(
                    "{dest} source {} is not absolute",
                    src.display()
                )));
            }
            mounts.push(bind(dest, src));
        }
    }
    let root = storage::add_mounts(&b.options.storage, &mut mounts).map_err(invalid)?;

    let mut namespaces = vec![
        Namespace {
            kind: "pid",
            path: None,
        },
        Namespace {
            kind: "ipc",
            path: None,
        },
        Namespace {
            kind: "uts",
            path: None,
        },
        Namespace {
            kind: "mount",
            path: None,
        },
    ];
    let mut sysctl = std::collections::BTreeMap::new();
    match &b.network {
        NetworkNamespace::Host => {}
        NetworkNamespace::New => namespaces.push(Namespace {
            kind: "network",
            path: None,
        }),
        NetworkNamespace::Path(p) => {
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "netns path {} is not absolute",
                    p.display()
                )));
            }
            namespaces.push(Namespace {
                kind: "network",
                path: Some(p.clone()),
            });
        }
    }
    if b.network != NetworkNamespace::Host {
        // What Docker sets in a container's own network namespace: ping
        // without CAP_NET_RAW and binding low ports without privileges.
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    }
    // The container's own override Docker's.
    sysctl.extend(limits.sysctl);

    let mut spec = Spec {
        oci_version: "1.0.2",
        process,
        root: Root {
            path: b.rootfs.clone(),
            readonly: root.readonly,
        },
        hostname: b.hostname.clone(),
        mounts,
        linux: Linux {
            cgroups_path: b.cgroups_path.clone(),
            namespaces,
            resources: limits.resources,
            devices: limits.devices,
            sysctl,
            masked_paths: MASKED_PATHS.map(str::to_owned).to_vec(),
            readonly_paths: READONLY_PATHS.map(str::to_owned).to_vec(),
            seccomp: None,
            rootfs_propagation: root.propagation,
        },
    };
    security::apply(&mut spec, &b.options.security, &b.host_security).map_err(invalid)?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::container::{self, Ulimit};
    use serde_json::{json, Value};

    pub(crate) fn sample() -> BundleSpec {
        BundleSpec {
            id: "c1".into(),
            rootfs: "/run/berth/containers/c1/rootfs".into(),
            process: ProcessSpec {
                args: vec!["sh".into(), "-c".into(), "echo hi".into()],
                env: vec!["PATH=/bin".into(), "HOSTNAME=box".into()],
                cwd: "/".into(),
                tty: false,
                console_size: None,
                user: User::ROOT,
                nofile: Rlimit {
                    soft: 1024,
                    hard: 4096,
                },
                ulimits: Vec::new(),
            },
            hostname: "box".into(),
            network: NetworkNamespace::Path("/run/berth/netns/c1".into()),
            etc: EtcFiles {
                hosts: Some("/var/lib/berth/containers/c1/hosts".into()),
                resolv_conf: Some("/var/lib/berth/containers/c1/resolv.conf".into()),
                hostname: Some("/var/lib/berth/containers/c1/hostname".into()),
            },
            cgroups_path: "/berth/c1".into(),
            options: ContainerOptions::default(),
            host_security: security::HostSecurity::default(),
        }
    }

    fn render(b: &BundleSpec) -> Value {
        serde_json::to_value(render_spec(b).unwrap()).unwrap()
    }

    #[test]
    fn process_is_docker_like() {
        let v = render(&sample());
        let p = &v["process"];
        assert_eq!(p["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(p["env"], json!(["PATH=/bin", "HOSTNAME=box"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(p["terminal"], false);
        assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
        assert_eq!(
            p["capabilities"]["effective"],
            p["capabilities"]["permitted"]
        );
        assert!(p["capabilities"].get("inheritable").is_none());
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}])
        );
        assert_eq!(v["hostname"], "box");
        assert_eq!(
            v["root"],
            json!({"path": "/run/berth/containers/c1/rootfs", "readonly": false})
        );
    }

    #[test]
    fn namespaces_per_network_mode() {
        let ns = |net: NetworkNamespace| {
            let mut b = sample();
            b.network = net;
            render(&b)["linux"]["namespaces"].clone()
        };
        assert_eq!(
            ns(NetworkNamespace::Path("/run/berth/netns/c1".into())),
            json!([{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},
                   {"type":"network","path":"/run/berth/netns/c1"}])
        );
        assert_eq!(ns(NetworkNamespace::New)[4], json!({"type": "network"}));
        assert_eq!(ns(NetworkNamespace::Host).as_array().unwrap().len(), 4);

        let mut b = sample();
        b.network = NetworkNamespace::Host;
        assert!(render(&b)["linux"].get("sysctl").is_none());
        assert_eq!(
            render(&sample())["linux"]["sysctl"]["net.ipv4.ping_group_range"],
            "0 2147483647"
        );
    }

    #[test]
    fn mounts_and_hardening() {
        let v = render(&sample());
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        let hosts = &v["mounts"][9];
        assert_eq!(hosts["type"], "bind");
        assert_eq!(hosts["source"], "/var/lib/berth/containers/c1/hosts");
        assert_eq!(hosts["options"], json!(["rbind", "rprivate"]));
        assert_eq!(
            v["mounts"][3]["options"],
            json!(["nosuid", "noexec", "nodev", "ro"])
        );
        let linux = &v["linux"];
        assert_eq!(linux["cgroupsPath"], "/berth/c1");
        assert!(linux["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(linux["readonlyPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/sys")));
        assert_eq!(
            linux["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );

        // Without /etc files, no bind mounts.
        let mut b = sample();
        b.etc = EtcFiles::default();
        assert_eq!(render(&b)["mounts"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn limits_reach_the_config() {
        let mut b = sample();
        b.options.resources = container::Resources {
            memory: 64 << 20,
            shm_size: 8 << 20,
            oom_score_adj: -100,
            sysctls: [
                ("net.ipv4.ping_group_range".to_owned(), "0 0".to_owned()),
                ("kernel.shmmax".to_owned(), "1000".to_owned()),
            ]
            .into(),
            ulimits: vec![Ulimit {
                name: "nproc".into(),
                soft: 10,
                hard: 20,
            }],
            ..container::Resources::default()
        };
        b.process.ulimits = b.options.resources.ulimits.clone();
        let v = render(&b);
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 67108864);
        assert_eq!(
            v["mounts"][6]["options"],
            json!(["nosuid", "noexec", "nodev", "mode=1777", "size=8192k"])
        );
        assert_eq!(v["process"]["oomScoreAdj"], -100);
        assert_eq!(v["process"]["rlimits"][1]["type"], "RLIMIT_NPROC");
        let sysctl = &v["linux"]["sysctl"];
        assert_eq!(
            sysctl["net.ipv4.ping_group_range"], "0 0",
            "the container's wins"
        );
        assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
        assert_eq!(sysctl["kernel.shmmax"], "1000");
        assert!(render(&sample())["process"].get("oomScoreAdj").is_none());
    }

    #[test]
    fn refuses_bad_input() {
        let bad = |f: &dyn Fn(&mut BundleSpec)| {
            let mut b = sample();
            f(&mut b);
            render_spec(&b).unwrap_err().to_string()
        };
        assert!(bad(&|b| b.process.args.clear()).contains("no command"));
        assert!(bad(&|b| b.process.cwd = "rel".into()).contains("absolute path"));
        assert!(bad(&|b| b.process.env.push("NOEQUALS".into())).contains("NOEQUALS"));
        assert!(bad(&|b| b.rootfs = "rel".into()).contains("rootfs"));
        assert!(bad(&|b| b.network = NetworkNamespace::Path("x".into())).contains("netns"));
        assert!(bad(&|b| b.etc.hosts = Some("hosts".into())).contains("/etc/hosts"));
    }

    #[test]
    fn a_terminal_gets_its_initial_size() {
        let mut p = sample().process;
        p.console_size = Some((30, 100));
        let v = serde_json::to_value(render_process("c1", &p).unwrap()).unwrap();
        assert!(v.get("consoleSize").is_none(), "no terminal, no size");
        p.tty = true;
        let v = serde_json::to_value(render_process("c1", &p).unwrap()).unwrap();
        assert_eq!(v["consoleSize"], json!({"height": 30, "width": 100}));
    }

    #[test]
    fn exec_process_has_the_container_capabilities() {
        let mut p = sample().process;
        p.tty = true;
        p.args = vec!["ip".into(), "addr".into()];
        let v = serde_json::to_value(render_process("c1", &p).unwrap()).unwrap();
        assert_eq!(v["terminal"], true);
        assert_eq!(v["args"], json!(["ip", "addr"]));
        assert_eq!(v["capabilities"]["bounding"][0], "CAP_CHOWN");
    }
}
