//! A container's privileges in its OCI spec, as Docker renders them (moby
//! `daemon/oci_linux.go`): capabilities (`TweakCapabilities`),
//! no-new-privileges, seccomp, AppArmor, `--privileged` (every capability
//! and host device, no masked or read-only paths, read-write sysfs and
//! cgroups), the pid/ipc/uts namespaces, `--init` and supplementary groups.
//!
//! What depends on the host (its capabilities, kernel, devices, AppArmor,
//! the init binary) is probed by [`HostSecurity::probe`]; the rendering
//! itself is pure.

use std::path::{Path, PathBuf};

use berth_core::container::security::{
    normalize_capability, Joined, Seccomp, Security, SecurityLaunch, Shm, ALL_CAPABILITIES,
    CAPABILITIES,
};
use serde_json::Value;

use super::resources::{DeviceRule, LinuxDevice};
use super::{Mount, Spec, DEFAULT_CAPABILITIES};
use crate::error::{Error, Result};

mod seccomp;

pub use seccomp::{Platform, DEFAULT_PROFILE};

/// Where Docker puts its init in a container.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// What of the host a container's privileges depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSecurity {
    /// The capabilities this daemon has (and so can give), in the kernel's
    /// order: what `--privileged` and `--cap-add ALL` mean.
    pub capabilities: Vec<&'static str>,
    pub platform: Platform,
    /// The loaded AppArmor profiles; `None` when the kernel has AppArmor
    /// off.
    pub apparmor: Option<Vec<String>>,
    /// The host's device nodes (listed for privileged containers only).
    pub devices: Vec<LinuxDevice>,
    /// The init binary bound at [`INIT_PATH`] for `--init`.
    pub init: PathBuf,
    /// Whether it is there (looked at only for `--init`).
    pub init_found: bool,
    /// Where the shareable `/dev/shm` the container binds is
    /// ([`Shm::Shared`]).
    pub shm: Option<PathBuf>,
}

impl Default for HostSecurity {
    /// Docker's defaults on an amd64 host with every capability and no
    /// AppArmor: what unit tests render against.
    fn default() -> Self {
        HostSecurity {
            capabilities: CAPABILITIES.to_vec(),
            platform: Platform {
                arch: Platform::native_arch(),
                kernel: (6, 1),
            },
            apparmor: None,
            devices: Vec::new(),
            init: PathBuf::from("/usr/bin/tini-static"),
            init_found: true,
            shm: None,
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io("read", path))
}

impl HostSecurity {
    /// Probes what `asked` needs of this host; `init` is the daemon's init
    /// binary.
    pub fn probe(asked: &Security, init: &Path) -> Result<HostSecurity> {
        let status = read(Path::new("/proc/self/status"))?;
        let effective = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        let capabilities = CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(bit, _)| effective & (1u64 << bit) != 0)
            .map(|(_, c)| *c)
            .collect();
        let release = read(Path::new("/proc/sys/kernel/osrelease"))?;
        let kernel = Platform::parse_release(&release).ok_or_else(|| Error::InvalidSpec {
            id: "host".to_owned(),
            reason: format!("failed to parse kernel version {:?}", release.trim()),
        })?;
        let apparmor = if asked.apparmor.is_empty() && !asked.privileged {
            None
        } else {
            apparmor_profiles()
        };
        let devices = if asked.privileged {
            host_devices(Path::new("/dev"))?
        } else {
            Vec::new()
        };
        Ok(HostSecurity {
            capabilities,
            platform: Platform {
                arch: Platform::native_arch(),
                kernel,
            },
            apparmor,
            devices,
            init: init.to_path_buf(),
            init_found: !asked.init || init.is_file(),
            shm: None,
        })
    }
}

/// The loaded AppArmor profiles, if the kernel has AppArmor on.
fn apparmor_profiles() -> Option<Vec<String>> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim_start().starts_with('Y'));
    if !enabled {
        return None;
    }
    // Without securityfs the profiles cannot be listed: a named one is then
    // refused as not loaded, and `unconfined` still applies.
    let list =
        std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap_or_default();
    Some(
        list.lines()
            .map(|l| l.split(" (").next().unwrap_or(l).to_owned())
            .collect(),
    )
}

/// containerd's `HostDevices`: the device nodes under `dir`, without the
/// console and the directories of pseudo-terminals, shm, fds and mqueue.
pub fn host_devices(dir: &Path) -> Result<Vec<LinuxDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(Error::io("list devices in", dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io("list devices in", dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue; // gone meanwhile
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            let skipped = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
            if !skipped.iter().any(|s| name == *s) {
                out.extend(host_devices(&path)?);
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        let kind = if kind.is_char_device() {
            "c"
        } else if kind.is_block_device() {
            "b"
        } else {
            continue;
        };
        let rdev = meta.rdev();
        // Linux's major and minor numbers are 32-bit: they fit.
        let number = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        out.push(LinuxDevice {
            path: path.display().to_string(),
            kind,
            major: number(((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)),
            minor: number(((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)),
            file_mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        });
    }
    Ok(out)
}

/// moby's `TweakCapabilities`: the container's capability set from the
/// defaults, `--cap-add`, `--cap-drop` and `--privileged`, among those
/// `available`.
pub fn capabilities(s: &Security, available: &[&'static str]) -> Result<Vec<&'static str>, String> {
    if s.privileged {
        return Ok(available.to_vec());
    }
    if s.cap_add.is_empty() && s.cap_drop.is_empty() {
        return Ok(DEFAULT_CAPABILITIES.to_vec());
    }
    let normalize = |names: &[String]| -> Result<Vec<&'static str>, String> {
        names
            .iter()
            .map(|n| {
                let c = normalize_capability(n)
                    .ok_or_else(|| format!("unknown capability: {n:?}"))?;
                if c != ALL_CAPABILITIES && !available.contains(&c) {
                    return Err(format!("capability not supported by your kernel or not available in the current environment: {c:?}"));
                }
                Ok(c)
            })
            .collect()
    };
    let drop = normalize(&s.cap_drop)?;
    let add = normalize(&s.cap_add)?;
    let mut caps: Vec<&'static str> = if add.contains(&ALL_CAPABILITIES) {
        available
            .iter()
            .filter(|c| !drop.contains(c))
            .copied()
            .collect()
    } else if drop.contains(&ALL_CAPABILITIES) {
        add
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .filter(|c| !drop.contains(c))
            .chain(add.iter())
            .copied()
            .collect()
    };
    let mut seen = Vec::new();
    caps.retain(|c| {
        let first = !seen.contains(c);
        seen.push(*c);
        first
    });
    Ok(caps)
}

/// The AppArmor profile the process runs under, if any.
fn apparmor_profile(s: &Security, host: &HostSecurity) -> Result<Option<String>, String> {
    let name = s.apparmor.as_str();
    match &host.apparmor {
        // Without AppArmor every process is unconfined already.
        None if name.is_empty() || name == "unconfined" => Ok(None),
        None => Err(format!(
            "AppArmor is not enabled on this host: --security-opt apparmor={name} cannot be applied"
        )),
        Some(_) if name.is_empty() => Ok(s.privileged.then(|| "unconfined".to_owned())),
        Some(_) if name == "unconfined" => Ok(Some(name.to_owned())),
        Some(loaded) if loaded.iter().any(|p| p == name) => Ok(Some(name.to_owned())),
        Some(_) => Err(format!(
            "AppArmor profile {name} is not loaded on this host (--security-opt apparmor={name})"
        )),
    }
}

fn set_namespace(spec: &mut Spec, kind: &str, joined: &Joined) {
    match joined {
        Joined::Own => {}
        Joined::Host => spec.linux.namespaces.retain(|n| n.kind != kind),
        Joined::Path(path) => {
            for n in spec.linux.namespaces.iter_mut().filter(|n| n.kind == kind) {
                n.path = Some(path.clone());
            }
        }
    }
}

fn writable(m: &mut Mount) {
    m.options.retain(|o| *o != "ro");
}

/// Applies the container's privileges and shared namespaces to its
/// rendered spec.
pub(super) fn apply(
    spec: &mut Spec,
    launch: &SecurityLaunch,
    host: &HostSecurity,
) -> Result<(), String> {
    let s = &launch.asked;
    let caps = capabilities(s, &host.capabilities)?;
    let process = &mut spec.process;
    process.capabilities.bounding = caps.clone();
    process.capabilities.effective = caps.clone();
    process.capabilities.permitted = caps.clone();
    process.no_new_privileges = s.no_new_privileges;
    process.apparmor_profile = apparmor_profile(s, host)?;
    if s.init {
        if !host.init_found {
            return Err(format!(
                "--init: the init binary {} is missing (install Debian's tini package, or set berthd's --init-path)",
                host.init.display()
            ));
        }
        let mut args = vec![INIT_PATH.to_owned(), "--".to_owned()];
        args.append(&mut process.args);
        process.args = args;
        spec.mounts.push(Mount {
            destination: INIT_PATH.to_owned(),
            kind: "bind",
            source: host.init.clone(),
            options: vec!["bind".to_owned(), "ro".to_owned()],
        });
    }

    set_namespace(spec, "pid", &launch.pid);
    set_namespace(spec, "ipc", &launch.ipc);
    if s.uts_host {
        set_namespace(spec, "uts", &Joined::Host);
        spec.hostname.clear();
    }
    let shm = match &launch.shm {
        Shm::Private => None,
        Shm::None => {
            spec.mounts.retain(|m| m.destination != "/dev/shm");
            None
        }
        Shm::Host => Some(PathBuf::from("/dev/shm")),
        Shm::Shared(owner) => Some(
            host.shm
                .clone()
                .ok_or_else(|| format!("no shareable /dev/shm of container {owner}"))?,
        ),
    };
    if let Some(shm) = shm {
        for m in spec
            .mounts
            .iter_mut()
            .filter(|m| m.destination == "/dev/shm")
        {
            *m = Mount {
                destination: m.destination.clone(),
                kind: "bind",
                source: shm.clone(),
                options: vec!["rbind".to_owned(), "rprivate".to_owned()],
            };
        }
    }

    // Lists asked for replace Docker's (`systempaths=unconfined`: none).
    if let Some(paths) = &s.masked_paths {
        spec.linux.masked_paths = paths.clone();
    }
    if let Some(paths) = &s.readonly_paths {
        spec.linux.readonly_paths = paths.clone();
    }
    if s.privileged {
        for m in spec.mounts.iter_mut().filter(|m| m.destination == "/sys") {
            writable(m);
        }
        spec.linux.masked_paths.clear();
        spec.linux.readonly_paths.clear();
        // The host's nodes, beside (not over) those `--device` asked for.
        let asked: Vec<String> = spec.linux.devices.iter().map(|d| d.path.clone()).collect();
        spec.linux.devices.extend(
            host.devices
                .iter()
                .filter(|d| !asked.contains(&d.path))
                .cloned(),
        );
        spec.linux.resources.devices = vec![DeviceRule {
            allow: true,
            kind: None,
            major: None,
            minor: None,
            access: "rwm".to_owned(),
        }];
    }
    if s.writable_cgroups.unwrap_or(s.privileged) {
        for m in spec.mounts.iter_mut().filter(|m| m.kind == "cgroup") {
            writable(m);
        }
    }

    let profile = match &s.seccomp {
        Seccomp::Unconfined => None,
        Seccomp::Profile(json) => Some(json.as_str()),
        Seccomp::Default if s.privileged => None,
        Seccomp::Default => Some(DEFAULT_PROFILE),
    };
    spec.linux.seccomp = match profile {
        Some(p) => seccomp::render(p, &caps, &host.platform)?,
        None => None,
    };
    Ok(())
}

/// An exec runs with its container's privileges (capabilities,
/// no-new-privileges, AppArmor), read from the container's `config.json`.
pub fn exec_privileges(process: &mut Value, container_config: &Value) {
    let from = &container_config["process"];
    for key in ["capabilities", "noNewPrivileges", "apparmorProfile"] {
        match from.get(key) {
            Some(v) => process[key] = v.clone(),
            None => {
                if let Some(p) = process.as_object_mut() {
                    p.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
