//! The wire's resource fields (`HostConfig`'s embedded `Resources`,
//! `Ulimits`, `ShmSize`, `Sysctls`, `Devices`, `OomScoreAdj`) to and from
//! core's [`Resources`], `docker update`'s body, and the rest of inspect's
//! `HostConfig` with Docker's zero values.

use berth_api::ApiError;
use berth_core::container::{ContainerUpdate, Device, Resources, Ulimit};
use bollard_stubs::models::{
    ContainerUpdateBody, DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigIsolationEnum, HostConfigLogConfig, ResourcesUlimits,
};

/// What a create request asks for the container's resources.
pub fn requested(host: &HostConfig) -> Resources {
    Resources {
        memory: host.memory.unwrap_or(0),
        memory_swap: host.memory_swap.unwrap_or(0),
        memory_reservation: host.memory_reservation.unwrap_or(0),
        nano_cpus: host.nano_cpus.unwrap_or(0),
        cpu_shares: host.cpu_shares.unwrap_or(0),
        cpu_period: host.cpu_period.unwrap_or(0),
        cpu_quota: host.cpu_quota.unwrap_or(0),
        cpuset_cpus: host.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: host.cpuset_mems.clone().unwrap_or_default(),
        pids_limit: host.pids_limit,
        blkio_weight: host.blkio_weight.unwrap_or(0),
        oom_kill_disable: host.oom_kill_disable.unwrap_or(false),
        oom_score_adj: host.oom_score_adj.unwrap_or(0),
        ulimits: host
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone().unwrap_or_default(),
                soft: u.soft.unwrap_or(0),
                hard: u.hard.unwrap_or(0),
            })
            .collect(),
        shm_size: host.shm_size.unwrap_or(0),
        sysctls: host
            .sysctls
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        devices: host
            .devices
            .iter()
            .flatten()
            .map(|d| Device {
                path_on_host: d.path_on_host.clone().unwrap_or_default(),
                path_in_container: d.path_in_container.clone().unwrap_or_default(),
                permissions: d.cgroup_permissions.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The inspect fields that show what was asked, and the other keys of
/// `HostConfig` berth has one answer for, with Docker's zero values.
pub fn show(asked: &Resources, host: &mut HostConfig) {
    host.memory = Some(asked.memory);
    host.memory_swap = Some(asked.memory_swap);
    host.memory_reservation = Some(asked.memory_reservation);
    host.nano_cpus = Some(asked.nano_cpus);
    host.cpu_shares = Some(asked.cpu_shares);
    host.cpu_period = Some(asked.cpu_period);
    host.cpu_quota = Some(asked.cpu_quota);
    host.cpuset_cpus = Some(asked.cpuset_cpus.clone());
    host.cpuset_mems = Some(asked.cpuset_mems.clone());
    host.pids_limit = asked.pids_limit;
    host.blkio_weight = Some(asked.blkio_weight);
    host.oom_kill_disable = Some(asked.oom_kill_disable);
    host.oom_score_adj = Some(asked.oom_score_adj);
    host.ulimits = Some(
        asked
            .ulimits
            .iter()
            .map(|u| ResourcesUlimits {
                name: Some(u.name.clone()),
                soft: Some(u.soft),
                hard: Some(u.hard),
            })
            .collect(),
    );
    host.shm_size = Some(asked.shm_bytes());
    host.sysctls = (!asked.sysctls.is_empty()).then(|| {
        asked
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    host.devices = Some(
        asked
            .devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.path_on_host.clone()),
                path_in_container: Some(d.path_in_container.clone()),
                cgroup_permissions: Some(d.permissions.clone()),
            })
            .collect(),
    );
    // What berth does for every container, as Docker shows it.
    host.blkio_weight_device = Some(Vec::new());
    host.blkio_device_read_bps = Some(Vec::new());
    host.blkio_device_write_bps = Some(Vec::new());
    host.blkio_device_read_iops = Some(Vec::new());
    host.blkio_device_write_iops = Some(Vec::new());
    host.cpu_realtime_period = Some(0);
    host.cpu_realtime_runtime = Some(0);
    host.cpu_count = Some(0);
    host.cpu_percent = Some(0);
    host.io_maximum_iops = Some(0);
    host.io_maximum_bandwidth = Some(0);
    host.cgroup_parent = Some(String::new());
    host.cgroup = Some(String::new());
    // No cgroup namespace: the container sees the host's.
    host.cgroupns_mode = Some(HostConfigCgroupnsModeEnum::HOST);
    host.container_id_file = Some(String::new());
    host.log_config = Some(HostConfigLogConfig {
        typ: Some("json-file".to_owned()),
        config: Some(Default::default()),
    });
    host.volume_driver = Some(String::new());
    host.runtime = Some("runc".to_owned());
    host.isolation = Some(HostConfigIsolationEnum::EMPTY);
    host.masked_paths = Some(to_strings(&berth_oci::spec::MASKED_PATHS));
    host.readonly_paths = Some(to_strings(&berth_oci::spec::READONLY_PATHS));
}

fn to_strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// `POST /containers/{id}/update`'s body as core's change, refusing by
/// name what berth cannot change (Docker ignores some of these; berth
/// never says yes and ignores).
pub fn update_request(body: &ContainerUpdateBody) -> Result<ContainerUpdate, ApiError> {
    let refuse = |flag: &str| {
        Err(ApiError::invalid_parameter(format!(
            "berth does not support updating {flag} yet"
        )))
    };
    let non_empty = |list: Option<usize>| list.is_some_and(|n| n > 0);
    let refused = [
        (non_empty(body.devices.as_ref().map(Vec::len)), "Devices"),
        (
            non_empty(body.device_cgroup_rules.as_ref().map(Vec::len)),
            "DeviceCgroupRules",
        ),
        (
            non_empty(body.device_requests.as_ref().map(Vec::len)),
            "--gpus (DeviceRequests)",
        ),
        (non_empty(body.ulimits.as_ref().map(Vec::len)), "Ulimits"),
        (
            non_empty(body.blkio_weight_device.as_ref().map(Vec::len))
                || non_empty(body.blkio_device_read_bps.as_ref().map(Vec::len))
                || non_empty(body.blkio_device_write_bps.as_ref().map(Vec::len))
                || non_empty(body.blkio_device_read_iops.as_ref().map(Vec::len))
                || non_empty(body.blkio_device_write_iops.as_ref().map(Vec::len)),
            "per-device block I/O limits",
        ),
        (
            body.cpu_realtime_period.is_some_and(|v| v != 0),
            "--cpu-rt-period (CpuRealtimePeriod)",
        ),
        (
            body.cpu_realtime_runtime.is_some_and(|v| v != 0),
            "--cpu-rt-runtime (CpuRealtimeRuntime)",
        ),
        (
            body.memory_swappiness.is_some_and(|v| v != -1),
            "MemorySwappiness",
        ),
        (body.oom_kill_disable == Some(true), "OomKillDisable"),
        (body.init == Some(true), "Init"),
        (
            body.cgroup_parent.as_ref().is_some_and(|p| !p.is_empty()),
            "CgroupParent",
        ),
        (
            body.cpu_count.is_some_and(|v| v != 0) || body.cpu_percent.is_some_and(|v| v != 0),
            "CpuCount and CpuPercent",
        ),
        (
            body.io_maximum_iops.is_some_and(|v| v != 0)
                || body.io_maximum_bandwidth.is_some_and(|v| v != 0),
            "IOMaximumIOps and IOMaximumBandwidth",
        ),
    ];
    if let Some((_, flag)) = refused.iter().find(|(set, _)| *set) {
        return refuse(flag);
    }
    Ok(ContainerUpdate {
        restart_policy: body.restart_policy.as_ref().map(|p| {
            (
                p.name.map(|n| n.as_ref().to_owned()).unwrap_or_default(),
                p.maximum_retry_count.unwrap_or(0),
            )
        }),
        memory: body.memory.unwrap_or(0),
        memory_swap: body.memory_swap.unwrap_or(0),
        memory_reservation: body.memory_reservation.unwrap_or(0),
        nano_cpus: body.nano_cpus.unwrap_or(0),
        cpu_shares: body.cpu_shares.unwrap_or(0),
        cpu_period: body.cpu_period.unwrap_or(0),
        cpu_quota: body.cpu_quota.unwrap_or(0),
        cpuset_cpus: body.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: body.cpuset_mems.clone().unwrap_or_default(),
        // 0 and negative both lift the limit, as in Docker.
        pids_limit: body.pids_limit.map(|l| l.max(0)),
        blkio_weight: body.blkio_weight.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wire_fields_reach_core() {
        let host: HostConfig = serde_json::from_value(json!({
            "Memory": 67108864, "MemorySwap": -1, "NanoCpus": 500000000,
            "CpusetCpus": "0", "PidsLimit": 10, "OomScoreAdj": 100, "ShmSize": 1048576,
            "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
            "Sysctls": {"kernel.shmmax": "1000"},
            "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "r"}]
        }))
        .unwrap();
        let r = requested(&host);
        assert_eq!(
            (r.memory, r.memory_swap, r.nano_cpus),
            (64 << 20, -1, 500_000_000)
        );
        assert_eq!(
            (r.pids_limit, r.oom_score_adj, r.shm_size),
            (Some(10), 100, 1 << 20)
        );
        assert_eq!(r.ulimits[0].hard, 20);
        assert_eq!(r.sysctls["kernel.shmmax"], "1000");
        assert_eq!(r.devices[0].permissions, "r");

        let mut shown = HostConfig::default();
        show(&r, &mut shown);
        let v = serde_json::to_value(&shown).unwrap();
        assert_eq!(v["Memory"], 67108864);
        assert_eq!(v["NanoCpus"], 500000000);
        assert_eq!(v["ShmSize"], 1048576);
        assert_eq!(
            v["Ulimits"],
            json!([{"Name": "nofile", "Soft": 10, "Hard": 20}])
        );
        assert_eq!(v["LogConfig"], json!({"Type": "json-file", "Config": {}}));
    }

    #[test]
    fn unset_fields_show_dockers_zero_values() {
        let mut shown = HostConfig::default();
        show(&Resources::default(), &mut shown);
        let v = serde_json::to_value(&shown).unwrap();
        assert_eq!(v["Memory"], 0);
        assert_eq!(v["ShmSize"], 67108864);
        assert_eq!(v["Ulimits"], json!([]));
        assert_eq!(v["Devices"], json!([]));
        assert_eq!(v["CgroupnsMode"], "host");
        assert_eq!(v["Runtime"], "runc");
        assert!(v.get("PidsLimit").is_none(), "null, which the API writes");
        assert!(v.get("Sysctls").is_none(), "omitted when empty, as Docker");
    }

    #[test]
    fn updates_refuse_what_berth_cannot_change() {
        let body = |value: serde_json::Value| -> ContainerUpdateBody {
            serde_json::from_value(value).unwrap()
        };
        let change = update_request(&body(json!({
            "Memory": 134217728, "MemorySwap": -1, "NanoCpus": 1500000000, "PidsLimit": -1,
            "RestartPolicy": {"Name": "no"}
        })))
        .unwrap();
        assert_eq!(change.memory, 128 << 20);
        assert_eq!(change.pids_limit, Some(0));
        let change = update_request(&body(
            json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}),
        ))
        .unwrap();
        assert_eq!(change.restart_policy, Some(("on-failure".to_owned(), 2)));
        let err = update_request(&body(
            json!({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}),
        ))
        .unwrap_err();
        assert!(err.message.contains("Ulimits"), "{}", err.message);
    }
}
