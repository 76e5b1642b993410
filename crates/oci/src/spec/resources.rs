//! A container's limits in the OCI spec: `linux.resources` (memory, CPU,
//! pids, block I/O, the device cgroup), `linux.devices`, `process.rlimits`,
//! `process.oomScoreAdj`, its `linux.sysctl` entries and `/dev/shm`'s size.
//! The same `linux.resources` goes to `runc update` for `docker update`.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_core::container::{Resources, Ulimit};
use serde::Serialize;

use super::Rlimit;
use crate::error::{Error, Result};

/// `linux.resources`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxResources {
    /// The device cgroup: deny everything, then allow the asked devices
    /// (runc adds the standard ones itself). Not part of an update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    #[serde(rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
}

#[derive(Debug, Serialize)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    pub access: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(rename = "disableOOMKiller", skip_serializing_if = "Option::is_none")]
    pub disable_oom_killer: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Debug, Serialize)]
pub struct BlockIo {
    pub weight: u16,
}

/// `linux.devices`: a node runc makes in the container's `/dev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxDevice {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub major: i64,
    pub minor: i64,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Serialize)]
pub struct OciRlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

/// Everything of the limits that goes into `config.json`.
#[derive(Debug)]
pub struct Rendered {
    pub resources: LinuxResources,
    pub devices: Vec<LinuxDevice>,
    pub sysctl: BTreeMap<String, String>,
    pub oom_score_adj: Option<i64>,
}

/// `process.rlimits`: the asked ulimits, and the inherited open-files
/// limit unless `nofile` is among them.
pub fn rlimits(nofile: &Rlimit, ulimits: &[Ulimit]) -> Vec<OciRlimit> {
    // -1 is unlimited, which the kernel spells as all ones.
    let value = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(ulimits.len() + 1);
    if !ulimits.iter().any(|u| u.name == "nofile") {
        out.push(OciRlimit {
            kind: "RLIMIT_NOFILE".to_owned(),
            hard: nofile.hard,
            soft: nofile.soft,
        });
    }
    out.extend(ulimits.iter().map(|u| OciRlimit {
        kind: format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
        hard: value(u.hard),
        soft: value(u.soft),
    }));
    out
}

/// The `size=` option of `/dev/shm`'s tmpfs, in kibibytes as Docker
/// writes it.
pub fn shm_size_option(r: &Resources) -> String {
    let bytes = r.shm_bytes();
    if bytes % 1024 == 0 {
        format!("size={}k", bytes / 1024)
    } else {
        format!("size={bytes}")
    }
}

/// The cgroup limits alone: what `runc update --resources` takes. An
/// update also sends the limits that are off, so lifting one (pids back to
/// unlimited) reaches the cgroup.
pub fn cgroup_limits(r: &Resources, update: bool) -> LinuxResources {
    let positive = |v: i64| (v > 0).then_some(v);
    let memory = Memory {
        limit: positive(r.memory),
        reservation: positive(r.memory_reservation),
        swap: (r.memory != 0 && r.memory_swap != 0).then_some(r.memory_swap),
        disable_oom_killer: r.oom_kill_disable.then_some(true),
    };
    let (quota, period) = r.cfs();
    let cpu = Cpu {
        shares: u64::try_from(r.cpu_shares).ok().filter(|s| *s > 0),
        quota,
        period,
        cpus: Some(r.cpuset_cpus.clone()).filter(|c| !c.is_empty()),
        mems: Some(r.cpuset_mems.clone()).filter(|m| !m.is_empty()),
    };
    let memory_set = memory.limit.is_some()
        || memory.reservation.is_some()
        || memory.disable_oom_killer.is_some();
    let cpu_set = cpu.shares.is_some()
        || cpu.quota.is_some()
        || cpu.period.is_some()
        || cpu.cpus.is_some()
        || cpu.mems.is_some();
    LinuxResources {
        devices: Vec::new(),
        memory: memory_set.then_some(memory),
        cpu: cpu_set.then_some(cpu),
        pids: match r.pids_limit {
            Some(limit) => Some(Pids { limit }),
            None if update => Some(Pids { limit: -1 }),
            None => None,
        },
        block_io: (r.blkio_weight > 0).then_some(BlockIo {
            weight: r.blkio_weight,
        }),
    }
}

/// Renders the limits of a container's `config.json`. The devices are
/// looked up on the host now, as Docker does at each start.
pub fn render(id: &str, r: &Resources) -> Result<Rendered> {
    let mut resources = cgroup_limits(r, false);
    resources.devices.push(DeviceRule {
        allow: false,
        kind: None,
        major: None,
        minor: None,
        access: "rwm".to_owned(),
    });
    let mut devices = Vec::with_capacity(r.devices.len());
    for asked in &r.devices {
        for node in device_nodes(id, &asked.path_on_host, &asked.path_in_container)? {
            resources.devices.push(DeviceRule {
                allow: true,
                kind: Some(node.kind),
                major: Some(node.major),
                minor: Some(node.minor),
                access: asked.permissions.clone(),
            });
            devices.push(node);
        }
    }
    Ok(Rendered {
        resources,
        devices,
        sysctl: r.sysctls.clone(),
        oom_score_adj: (r.oom_score_adj != 0).then_some(r.oom_score_adj),
    })
}

/// The host's device nodes at `host`, as the container's at `container`:
/// the node itself (a link is followed, as Docker does), or every node
/// under a directory, at the same place under `container`.
fn device_nodes(id: &str, host: &str, container: &str) -> Result<Vec<LinuxDevice>> {
    let invalid = |why: String| Error::InvalidSpec {
        id: id.to_owned(),
        reason: format!(
            "error gathering device information while adding custom device {host:?}: {why}"
        ),
    };
    let meta = std::fs::metadata(host).map_err(|e| invalid(e.to_string()))?;
    if !meta.is_dir() {
        let node =
            device_node(&meta, container).ok_or_else(|| invalid("not a device node".to_owned()))?;
        return Ok(vec![node]);
    }
    let mut nodes = Vec::new();
    let mut pending = vec![std::path::PathBuf::from(host)];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| invalid(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| invalid(e.to_string()))?;
            let path = entry.path();
            // Links inside are not followed, as Go's filepath.Walk.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(host) else {
                continue;
            };
            let target = std::path::Path::new(container).join(relative);
            if let Some(node) = device_node(&meta, &target.to_string_lossy()) {
                nodes.push(node);
            }
        }
    }
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(nodes)
}

/// A device node made at `path` in the container, if `meta` is one.
fn device_node(meta: &std::fs::Metadata, path: &str) -> Option<LinuxDevice> {
    let kind = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = meta.rdev();
    let number = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Some(LinuxDevice {
        path: path.to_owned(),
        kind,
        major: number(nix::sys::stat::major(rdev)),
        minor: number(nix::sys::stat::minor(rdev)),
        file_mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::container::Device;
    use serde_json::{json, Value};

    fn json_of<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn no_limits_render_only_the_device_deny_rule() {
        let r = render("c1", &Resources::default()).unwrap();
        assert_eq!(
            json_of(&r.resources),
            json!({"devices": [{"allow": false, "access": "rwm"}]})
        );
        assert!(r.devices.is_empty() && r.sysctl.is_empty());
        assert_eq!(r.oom_score_adj, None);
        assert_eq!(shm_size_option(&Resources::default()), "size=65536k");
    }

    #[test]
    fn cgroup_limits_render_as_runc_reads_them() {
        let r = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            memory_reservation: 32 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0-1".into(),
            cpuset_mems: "0".into(),
            pids_limit: Some(100),
            blkio_weight: 300,
            oom_kill_disable: true,
            oom_score_adj: 500,
            shm_size: 1 << 20,
            ..Resources::default()
        };
        let rendered = render("c1", &r).unwrap();
        let v = json_of(&rendered.resources);
        assert_eq!(
            v["memory"],
            json!({"limit": 67108864, "reservation": 33554432, "swap": 134217728, "disableOOMKiller": true})
        );
        assert_eq!(
            v["cpu"],
            json!({"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1", "mems": "0"})
        );
        assert_eq!(v["pids"], json!({"limit": 100}));
        assert_eq!(v["blockIO"], json!({"weight": 300}));
        assert_eq!(rendered.oom_score_adj, Some(500));
        assert_eq!(shm_size_option(&r), "size=1024k");

        let quota = Resources {
            cpu_quota: 50_000,
            cpu_period: 200_000,
            ..Resources::default()
        };
        assert_eq!(
            json_of(&cgroup_limits(&quota, false))["cpu"],
            json!({"quota": 50000, "period": 200000})
        );
    }

    #[test]
    fn an_update_lifts_the_pids_limit_and_leaves_devices_alone() {
        let v = json_of(&cgroup_limits(&Resources::default(), true));
        assert_eq!(v, json!({"pids": {"limit": -1}}));
        let unlimited_swap = Resources {
            memory: 64 << 20,
            memory_swap: -1,
            ..Resources::default()
        };
        assert_eq!(
            json_of(&cgroup_limits(&unlimited_swap, true))["memory"],
            json!({"limit": 67108864, "swap": -1})
        );
    }

    #[test]
    fn devices_are_nodes_with_cgroup_rules() {
        let r = Resources {
            devices: vec![Device {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/mynull".into(),
                permissions: "rw".into(),
            }],
            ..Resources::default()
        };
        let rendered = render("c1", &r).unwrap();
        let device = json_of(&rendered.devices[0]);
        assert_eq!(device["path"], "/dev/mynull");
        assert_eq!(device["type"], "c");
        assert_eq!(
            (device["major"].clone(), device["minor"].clone()),
            (json!(1), json!(3))
        );
        assert_eq!(
            json_of(&rendered.resources.devices[1]),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
        );

        let missing = Resources {
            devices: vec![Device {
                path_on_host: "/dev/berth-none".into(),
                path_in_container: "/dev/x".into(),
                permissions: "rwm".into(),
            }],
            ..Resources::default()
        };
        let err = render("c1", &missing).unwrap_err().to_string();
        // A directory: every node under it, at the same place.
        let mut directory = missing.clone();
        directory.devices[0].path_on_host = "/dev".into();
        directory.devices[0].path_in_container = "/hostdev".into();
        let rendered = render("c1", &directory).unwrap();
        let null = rendered
            .devices
            .iter()
            .find(|d| d.path == "/hostdev/null")
            .expect("/dev/null among /dev's nodes");
        assert_eq!((null.kind, null.major, null.minor), ("c", 1, 3));
        assert_eq!(rendered.resources.devices.len(), rendered.devices.len() + 1);
        assert!(
            err.contains(
                "error gathering device information while adding custom device \"/dev/berth-none\""
            ),
            "{err}"
        );
    }

    #[test]
    fn rlimits_keep_the_inherited_nofile_unless_asked() {
        let inherited = Rlimit {
            soft: 4096,
            hard: 4096,
        };
        assert_eq!(
            json_of(&rlimits(&inherited, &[])),
            json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}])
        );
        let asked = [
            Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200,
            },
            Ulimit {
                name: "nproc".into(),
                soft: 50,
                hard: -1,
            },
        ];
        assert_eq!(
            json_of(&rlimits(&inherited, &asked)),
            json!([
                {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100},
                {"type": "RLIMIT_NPROC", "hard": u64::MAX, "soft": 50}
            ])
        );
    }
}
