//! `docker version` and `docker info`: berth's versions and what they say of
//! the host (memory, the operating system from `/etc/os-release`,
//! architectures by Go's names, what berth can limit here).

use std::collections::HashMap;
use std::fs;
use std::time::SystemTime;

use bollard_stubs::models::{
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};

use super::{wire, DaemonBackend};

/// Rust's architecture name as Go's `GOARCH`, which Docker reports
/// (`amd64`, not `x86_64`).
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Bytes of memory the host has (`MemTotal` of `/proc/meminfo`, in kB
/// there); 0 if unreadable.
pub fn mem_total() -> i64 {
    fs::read_to_string("/proc/meminfo")
        .map(|text| parse_mem_total(&text))
        .unwrap_or(0)
}

fn parse_mem_total(meminfo: &str) -> i64 {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// `OperatingSystem` and `OSVersion`, as Docker reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub pretty_name: String,
    pub version_id: String,
}

pub fn os_release() -> OsRelease {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|text| parse_os_release(&text))
        .unwrap_or_else(|| OsRelease {
            pretty_name: "Linux".to_owned(),
            version_id: String::new(),
        })
}

fn parse_os_release(text: &str) -> OsRelease {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .next_back()
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    };
    OsRelease {
        // Docker's fallback when PRETTY_NAME is missing.
        pretty_name: value("PRETTY_NAME").unwrap_or_else(|| "Linux".to_owned()),
        version_id: value("VERSION_ID").unwrap_or_default(),
    }
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /version`: berth and the API versions it speaks.
pub(super) fn version() -> SystemVersion {
    let arch = go_arch(std::env::consts::ARCH);
    let engine = SystemVersionComponents {
        name: "Engine".to_owned(),
        version: VERSION.to_owned(),
        details: Some(HashMap::from([
            ("ApiVersion".to_owned(), berth_api::API_VERSION.to_owned()),
            (
                "MinAPIVersion".to_owned(),
                berth_api::MIN_API_VERSION.to_owned(),
            ),
            ("Os".to_owned(), "linux".to_owned()),
            ("Arch".to_owned(), arch.to_owned()),
            ("KernelVersion".to_owned(), kernel_version()),
        ])),
    };
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "berth".to_owned(),
        }),
        components: Some(vec![engine]),
        version: Some(VERSION.to_owned()),
        api_version: Some(berth_api::API_VERSION.to_owned()),
        min_api_version: Some(berth_api::MIN_API_VERSION.to_owned()),
        git_commit: Some(String::new()),
        go_version: Some("n/a (Rust)".to_owned()),
        os: Some("linux".to_owned()),
        arch: Some(arch.to_owned()),
        kernel_version: Some(kernel_version()),
        experimental: Some(false),
        build_time: Some(String::new()),
    }
}

/// `GET /info`: the host, the containers and images it holds, what it can limit.
pub(super) fn info(backend: &DaemonBackend) -> SystemInfo {
    let name = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let capacity = berth_core::ports::Runtime::capacity(&backend.oci);
    let containers = backend.engine.containers();
    let paused = containers.iter().filter(|c| c.state.paused).count();
    // Docker counts a container waiting out its restart back-off as
    // running.
    let running = containers
        .iter()
        .filter(|c| (c.is_running() || c.state.restarting) && !c.state.paused)
        .count();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let images = backend.oci.images().list().map(|l| l.len()).unwrap_or(0);
    let os = os_release();
    // Docker's ClusterStore and ClusterAdvertise left the API (1.50
    // lacks them): berth shows them as daemon labels, and its cluster
    // id as the daemon's.
    let (id, labels) = match &backend.cluster {
        Some(c) => (
            c.node_id.clone(),
            vec![
                format!("berth.cluster-store={}", c.store_url),
                format!("berth.cluster-advertise={}", c.advertise),
            ],
        ),
        None => (String::new(), Vec::new()),
    };
    SystemInfo {
        id: Some(id),
        containers: Some(count(containers.len())),
        containers_running: Some(count(running)),
        containers_paused: Some(count(paused)),
        containers_stopped: Some(count(containers.len() - running - paused)),
        images: Some(count(images)),
        driver: Some("overlay".to_owned()),
        docker_root_dir: Some(backend.data_root.clone()),
        ipv4_forwarding: Some(true),
        debug: Some(false),
        system_time: Some(wire::timestamp(SystemTime::now())),
        logging_driver: Some("json-file".to_owned()),
        kernel_version: Some(kernel_version()),
        operating_system: Some(os.pretty_name),
        os_version: Some(os.version_id),
        os_type: Some("linux".to_owned()),
        // Docker's `info` reports uname's machine (`x86_64`); only
        // `version` uses Go's names.
        architecture: Some(std::env::consts::ARCH.to_owned()),
        mem_total: Some(mem_total()),
        // Containers run under their shims and survive berthd.
        live_restore_enabled: Some(true),
        ncpu: Some(i64::from(capacity.cpus)),
        // What berth applies, so `docker info` warns as Docker does
        // about what this host lacks.
        memory_limit: Some(true),
        swap_limit: Some(capacity.swap_limit),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(capacity.oom_kill_disable),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(
            if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                SystemInfoCgroupVersionEnum::_2
            } else {
                SystemInfoCgroupVersionEnum::_1
            },
        ),
        name: Some(name),
        server_version: Some(VERSION.to_owned()),
        default_runtime: Some("runc".to_owned()),
        default_address_pools: Some(backend.address_pools.clone()),
        labels: Some(labels),
        warnings: Some(Vec::new()),
        ..Default::default()
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_are_go_s() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("s390x"), "s390x");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }

    #[test]
    fn mem_total_is_in_bytes() {
        let meminfo = "MemTotal:        8029784 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_mem_total(meminfo), 8_029_784 * 1024);
        assert_eq!(parse_mem_total("nothing"), 0);
    }

    #[test]
    fn os_release_pretty_name_and_version() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(text),
            OsRelease {
                pretty_name: "Debian GNU/Linux 12 (bookworm)".to_owned(),
                version_id: "12".to_owned(),
            }
        );
        assert_eq!(parse_os_release("").pretty_name, "Linux");
    }
}
