//! Every field of a create request (`Config`, `HostConfig`, the endpoint
//! settings) and what berth does with it: applied, or refused by name when
//! it asks for anything but the default. Nothing is accepted and ignored.
//!
//! Each list destructures its wire struct completely, so a field the wire
//! model gains cannot go unjudged; a test checks the lists against the API
//! specification.

use std::collections::HashMap;

use berth_api::ApiError;
use bollard_stubs::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, HostConfigLogConfig, NetworkingConfig,
};

/// What berth does with one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Applied to the container.
    Applied,
    /// Not applied: refused unless it holds the default (what the docker
    /// CLI sends when the flag is not given). `flag` is the docker flag
    /// that sets it, empty when the CLI has none.
    Refused { flag: &'static str, set: bool },
    /// Checked by the API layer, which refuses what dockerd on Linux
    /// refuses and values the wire model cannot carry; what passes is the
    /// default.
    ApiChecked,
    /// The client's business (`--cidfile`: the CLI writes the file).
    Client,
    /// Docker's read-only state, which clients echo back in requests;
    /// ignored on input, as by dockerd.
    Output,
}

/// A field by its API path (`HostConfig.Memory`) and its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub path: &'static str,
    pub verdict: Verdict,
}

const fn applied(path: &'static str) -> Field {
    Field {
        path,
        verdict: Verdict::Applied,
    }
}

const fn refused(path: &'static str, flag: &'static str, set: bool) -> Field {
    Field {
        path,
        verdict: Verdict::Refused { flag, set },
    }
}

fn non_empty<T>(list: Option<&Vec<T>>) -> bool {
    list.is_some_and(|l| !l.is_empty())
}

fn non_empty_map(map: Option<&HashMap<String, String>>) -> bool {
    map.is_some_and(|m| !m.is_empty())
}

fn non_zero(value: Option<i64>) -> bool {
    value.is_some_and(|v| v != 0)
}

fn non_blank(text: Option<&String>) -> bool {
    text.is_some_and(|t| !t.is_empty())
}

fn is_true(flag: Option<bool>) -> bool {
    flag == Some(true)
}

/// A text outside the values that mean berth's default.
fn other_than(text: Option<&String>, defaults: &[&str]) -> bool {
    text.is_some_and(|t| !t.is_empty() && !defaults.contains(&t.as_str()))
}

/// The container-level fields (Go's `container.Config`).
pub fn config_fields(body: &ContainerCreateBody) -> Vec<Field> {
    let ContainerCreateBody {
        hostname: _,
        domainname: _,
        user: _,
        attach_stdin: _,
        attach_stdout: _,
        attach_stderr: _,
        exposed_ports: _,
        tty: _,
        open_stdin: _,
        stdin_once: _,
        env: _,
        cmd: _,
        healthcheck: _,
        args_escaped,
        image: _,
        volumes: _,
        working_dir: _,
        entrypoint: _,
        network_disabled,
        on_build,
        labels: _,
        stop_signal: _,
        stop_timeout: _,
        shell,
        host_config: _,
        networking_config: _,
    } = body;
    vec![
        applied("Hostname"),
        applied("Domainname"),
        applied("User"),
        applied("AttachStdin"),
        applied("AttachStdout"),
        applied("AttachStderr"),
        applied("ExposedPorts"),
        applied("Tty"),
        applied("OpenStdin"),
        applied("StdinOnce"),
        applied("Env"),
        applied("Cmd"),
        applied("Healthcheck"),
        // Windows only.
        refused("ArgsEscaped", "", is_true(*args_escaped)),
        applied("Image"),
        applied("Volumes"),
        applied("WorkingDir"),
        applied("Entrypoint"),
        refused("NetworkDisabled", "", is_true(*network_disabled)),
        // The API moves it to the endpoint of the main network.
        applied("MacAddress"),
        refused("OnBuild", "", non_empty(on_build.as_ref())),
        applied("Labels"),
        applied("StopSignal"),
        applied("StopTimeout"),
        refused("Shell", "", non_empty(shell.as_ref())),
    ]
}

/// `HostConfig`, with the `Resources` it embeds.
pub fn host_config_fields(host: &HostConfig) -> Vec<Field> {
    let HostConfig {
        cpu_shares: _,
        memory: _,
        cgroup_parent,
        blkio_weight: _,
        blkio_weight_device,
        blkio_device_read_bps,
        blkio_device_write_bps,
        blkio_device_read_iops,
        blkio_device_write_iops,
        cpu_period: _,
        cpu_quota: _,
        cpu_realtime_period,
        cpu_realtime_runtime,
        cpuset_cpus: _,
        cpuset_mems: _,
        devices: _,
        device_cgroup_rules,
        device_requests,
        memory_reservation: _,
        memory_swap: _,
        memory_swappiness,
        nano_cpus: _,
        oom_kill_disable: _,
        init: _,
        pids_limit: _,
        ulimits: _,
        cpu_count,
        cpu_percent,
        io_maximum_iops: _,
        io_maximum_bandwidth: _,
        binds: _,
        container_id_file: _,
        log_config,
        network_mode: _,
        port_bindings: _,
        restart_policy: _,
        auto_remove: _,
        volume_driver,
        volumes_from: _,
        mounts: _,
        console_size: _,
        annotations,
        cap_add: _,
        cap_drop: _,
        cgroupns_mode,
        dns: _,
        dns_options: _,
        dns_search: _,
        extra_hosts: _,
        group_add: _,
        ipc_mode: _,
        cgroup,
        links: _,
        oom_score_adj: _,
        pid_mode: _,
        privileged: _,
        publish_all_ports: _,
        readonly_rootfs: _,
        security_opt: _,
        storage_opt,
        tmpfs: _,
        uts_mode: _,
        userns_mode,
        shm_size: _,
        sysctls: _,
        runtime,
        isolation: _,
        masked_paths: _,
        readonly_paths: _,
    } = host;
    let (log_driver_set, log_opts_set) = log_config.as_ref().map_or((false, false), log_config_set);
    vec![
        applied("HostConfig.CpuShares"),
        applied("HostConfig.Memory"),
        refused(
            "HostConfig.CgroupParent",
            "--cgroup-parent",
            non_blank(cgroup_parent.as_ref()),
        ),
        applied("HostConfig.BlkioWeight"),
        refused(
            "HostConfig.BlkioWeightDevice",
            "--blkio-weight-device",
            non_empty(blkio_weight_device.as_ref()),
        ),
        refused(
            "HostConfig.BlkioDeviceReadBps",
            "--device-read-bps",
            non_empty(blkio_device_read_bps.as_ref()),
        ),
        refused(
            "HostConfig.BlkioDeviceWriteBps",
            "--device-write-bps",
            non_empty(blkio_device_write_bps.as_ref()),
        ),
        refused(
            "HostConfig.BlkioDeviceReadIOps",
            "--device-read-iops",
            non_empty(blkio_device_read_iops.as_ref()),
        ),
        refused(
            "HostConfig.BlkioDeviceWriteIOps",
            "--device-write-iops",
            non_empty(blkio_device_write_iops.as_ref()),
        ),
        applied("HostConfig.CpuPeriod"),
        applied("HostConfig.CpuQuota"),
        refused(
            "HostConfig.CpuRealtimePeriod",
            "--cpu-rt-period",
            non_zero(*cpu_realtime_period),
        ),
        refused(
            "HostConfig.CpuRealtimeRuntime",
            "--cpu-rt-runtime",
            non_zero(*cpu_realtime_runtime),
        ),
        applied("HostConfig.CpusetCpus"),
        applied("HostConfig.CpusetMems"),
        applied("HostConfig.Devices"),
        refused(
            "HostConfig.DeviceCgroupRules",
            "--device-cgroup-rule",
            non_empty(device_cgroup_rules.as_ref()),
        ),
        refused(
            "HostConfig.DeviceRequests",
            "--gpus",
            non_empty(device_requests.as_ref()),
        ),
        // Not in the wire model: the API refuses a value.
        Field {
            path: "HostConfig.KernelMemoryTCP",
            verdict: Verdict::ApiChecked,
        },
        applied("HostConfig.MemoryReservation"),
        applied("HostConfig.MemorySwap"),
        refused(
            "HostConfig.MemorySwappiness",
            "--memory-swappiness",
            memory_swappiness.is_some_and(|s| s != -1),
        ),
        applied("HostConfig.NanoCpus"),
        applied("HostConfig.OomKillDisable"),
        applied("HostConfig.Init"),
        applied("HostConfig.PidsLimit"),
        applied("HostConfig.Ulimits"),
        // Windows only.
        refused("HostConfig.CpuCount", "", non_zero(*cpu_count)),
        refused("HostConfig.CpuPercent", "", non_zero(*cpu_percent)),
        Field {
            path: "HostConfig.IOMaximumIOps",
            verdict: Verdict::ApiChecked,
        },
        Field {
            path: "HostConfig.IOMaximumBandwidth",
            verdict: Verdict::ApiChecked,
        },
        applied("HostConfig.Binds"),
        Field {
            path: "HostConfig.ContainerIDFile",
            verdict: Verdict::Client,
        },
        refused("HostConfig.LogConfig", "--log-driver", log_driver_set),
        refused("HostConfig.LogConfig.Config", "--log-opt", log_opts_set),
        applied("HostConfig.NetworkMode"),
        applied("HostConfig.PortBindings"),
        applied("HostConfig.RestartPolicy"),
        applied("HostConfig.AutoRemove"),
        refused(
            "HostConfig.VolumeDriver",
            "--volume-driver",
            non_blank(volume_driver.as_ref()),
        ),
        applied("HostConfig.VolumesFrom"),
        applied("HostConfig.Mounts"),
        applied("HostConfig.ConsoleSize"),
        refused(
            "HostConfig.Annotations",
            "--annotation",
            non_empty_map(annotations.as_ref()),
        ),
        applied("HostConfig.CapAdd"),
        applied("HostConfig.CapDrop"),
        // berth makes no cgroup namespace: its containers see the host's,
        // which is what "host" asks for.
        refused(
            "HostConfig.CgroupnsMode",
            "--cgroupns",
            *cgroupns_mode == Some(HostConfigCgroupnsModeEnum::PRIVATE),
        ),
        applied("HostConfig.Dns"),
        applied("HostConfig.DnsOptions"),
        applied("HostConfig.DnsSearch"),
        applied("HostConfig.ExtraHosts"),
        applied("HostConfig.GroupAdd"),
        applied("HostConfig.IpcMode"),
        refused("HostConfig.Cgroup", "--cgroup", non_blank(cgroup.as_ref())),
        applied("HostConfig.Links"),
        applied("HostConfig.OomScoreAdj"),
        applied("HostConfig.PidMode"),
        applied("HostConfig.Privileged"),
        applied("HostConfig.PublishAllPorts"),
        applied("HostConfig.ReadonlyRootfs"),
        applied("HostConfig.SecurityOpt"),
        refused(
            "HostConfig.StorageOpt",
            "--storage-opt",
            non_empty_map(storage_opt.as_ref()),
        ),
        applied("HostConfig.Tmpfs"),
        applied("HostConfig.UTSMode"),
        // berth never remaps users: "host" is what it does.
        refused(
            "HostConfig.UsernsMode",
            "--userns",
            other_than(userns_mode.as_ref(), &["host"]),
        ),
        applied("HostConfig.ShmSize"),
        applied("HostConfig.Sysctls"),
        refused(
            "HostConfig.Runtime",
            "--runtime",
            other_than(runtime.as_ref(), &["runc"]),
        ),
        Field {
            path: "HostConfig.Isolation",
            verdict: Verdict::ApiChecked,
        },
        // Absent means the default list; any list, even empty, replaces it.
        applied("HostConfig.MaskedPaths"),
        applied("HostConfig.ReadonlyPaths"),
    ]
}

fn log_config_set(log: &HostConfigLogConfig) -> (bool, bool) {
    let HostConfigLogConfig { typ, config } = log;
    (
        other_than(typ.as_ref(), &["json-file"]),
        non_empty_map(config.as_ref()),
    )
}

/// One endpoint's settings (`NetworkingConfig.EndpointsConfig.<network>`,
/// and `network connect`'s `EndpointConfig`).
pub fn endpoint_fields(endpoint: &EndpointSettings) -> Vec<Field> {
    let EndpointSettings {
        ipam_config,
        links,
        mac_address: _,
        aliases: _,
        driver_opts,
        gw_priority,
        network_id: _,
        endpoint_id: _,
        gateway: _,
        ip_address: _,
        ip_prefix_len: _,
        ipv6_gateway: _,
        global_ipv6_address: _,
        global_ipv6_prefix_len: _,
        dns_names: _,
    } = endpoint;
    let link_local = ipam_config.as_ref().is_some_and(|ipam| {
        let EndpointIpamConfig {
            ipv4_address: _,
            ipv6_address: _,
            link_local_ips,
        } = ipam;
        non_empty(link_local_ips.as_ref())
    });
    let output = |path| Field {
        path,
        verdict: Verdict::Output,
    };
    vec![
        applied("EndpointSettings.IPAMConfig.IPv4Address"),
        applied("EndpointSettings.IPAMConfig.IPv6Address"),
        refused(
            "EndpointSettings.IPAMConfig.LinkLocalIPs",
            "--link-local-ip",
            link_local,
        ),
        refused(
            "EndpointSettings.Links",
            "--link",
            non_empty(links.as_ref()),
        ),
        applied("EndpointSettings.MacAddress"),
        applied("EndpointSettings.Aliases"),
        refused(
            "EndpointSettings.DriverOpts",
            "--driver-opt",
            non_empty_map(driver_opts.as_ref()),
        ),
        refused(
            "EndpointSettings.GwPriority",
            "--gw-priority",
            non_zero(*gw_priority),
        ),
        output("EndpointSettings.NetworkID"),
        output("EndpointSettings.EndpointID"),
        output("EndpointSettings.Gateway"),
        output("EndpointSettings.IPAddress"),
        output("EndpointSettings.IPPrefixLen"),
        output("EndpointSettings.IPv6Gateway"),
        output("EndpointSettings.GlobalIPv6Address"),
        output("EndpointSettings.GlobalIPv6PrefixLen"),
        output("EndpointSettings.DNSNames"),
    ]
}

fn refusal(field: &Field) -> Option<ApiError> {
    match field.verdict {
        Verdict::Refused { flag, set: true } => {
            let named = if flag.is_empty() {
                field.path.to_owned()
            } else {
                format!("{flag} ({})", field.path)
            };
            Some(ApiError::invalid_parameter(format!(
                "berth does not support {named} yet"
            )))
        }
        _ => None,
    }
}

/// The first field `endpoint` sets that berth does not apply, as a 400.
pub fn check_endpoint(endpoint: &EndpointSettings) -> Result<(), ApiError> {
    endpoint_fields(endpoint)
        .iter()
        .find_map(refusal)
        .map_or(Ok(()), Err)
}

/// The first field `body` sets that berth does not apply, as a 400 naming
/// it: berth never says yes to an option and then ignores it.
pub fn check_create(body: &ContainerCreateBody) -> Result<(), ApiError> {
    let mut fields = config_fields(body);
    if let Some(host) = &body.host_config {
        fields.extend(host_config_fields(host));
    }
    if let Some(err) = fields.iter().find_map(refusal) {
        return Err(err);
    }
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|NetworkingConfig { endpoints_config }| endpoints_config.as_ref());
    endpoints
        .into_iter()
        .flat_map(HashMap::values)
        .try_for_each(check_endpoint)
}

#[cfg(test)]
mod tests;
