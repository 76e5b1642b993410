//! A container's privileges and the namespaces it shares: capabilities,
//! `--privileged`, seccomp, AppArmor, no-new-privileges, `--pid`, `--ipc`,
//! `--uts`, supplementary groups and `--init`.
//!
//! The request is checked at create with dockerd's words
//! (`validateCapabilities`, `parseSecurityOpt`, `verifyPlatformContainerSettings`);
//! the namespaces of other containers it joins are resolved at each start,
//! from the model, when their processes must be running.

use std::path::PathBuf;

use berth_types::ContainerId;
use serde::{Deserialize, Serialize};

use crate::container::table::ContainerTable;
use crate::container::Container;
use crate::error::{Error, Result};

/// Every capability Linux knows (`CAP_CHOWN` = 0 … `CAP_CHECKPOINT_RESTORE`
/// = 40), in the kernel's order: what `--cap-add` may name. Which of them the
/// running kernel has is the runtime's business.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `--cap-add ALL` / `--cap-drop ALL`.
pub const ALL_CAPABILITIES: &str = "ALL";

/// The wire's privilege fields, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityRequest {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    /// "" or "host" (anything else is refused before it gets here).
    pub userns_mode: String,
    pub group_add: Vec<String>,
    pub init: bool,
    /// `MaskedPaths` / `ReadonlyPaths`: `None` for Docker's lists.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// Which seccomp filter the container's process runs under.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's default profile (also `seccomp=builtin`).
    #[default]
    Default,
    Unconfined,
    /// A profile's JSON, as the docker CLI sends it (the file's content).
    Profile(String),
}

/// `--pid`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PidMode {
    #[default]
    Private,
    Host,
    Container(ContainerId),
}

/// `--ipc`: Docker 20's modes, "private" the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcMode {
    #[default]
    Private,
    /// Its own namespace and `/dev/shm`, which other containers may join.
    Shareable,
    /// Its own namespace and no `/dev/shm`.
    None,
    Host,
    Container(ContainerId),
}

/// What was asked for the container's privileges, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Security {
    pub privileged: bool,
    /// As asked (inspect shows them so); each a known capability or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt` entries as asked (inspect's `SecurityOpt`).
    pub security_opt: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// An AppArmor profile's name; empty for none.
    pub apparmor: String,
    /// `--security-opt writable-cgroups[=bool]`: `/sys/fs/cgroup`
    /// read-write (the default follows `--privileged`).
    pub writable_cgroups: Option<bool>,
    pub pid: PidMode,
    pub ipc: IpcMode,
    /// `--uts host`.
    pub uts_host: bool,
    /// "" or "host", as asked.
    pub userns_mode: String,
    /// Group names or numbers, resolved in the image's `/etc/group` at start.
    pub group_add: Vec<String>,
    /// `--init`.
    pub init: bool,
    /// Replace Docker's masked and read-only paths (`--security-opt
    /// systempaths=unconfined` sends empty lists).
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// Another container's namespace the process joins, found at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joined {
    /// Its own new namespace.
    Own,
    /// The host's (no namespace of its own).
    Host,
    /// `/proc/<pid>/ns/<kind>` of a running container.
    Path(PathBuf),
}

/// The container's `/dev/shm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Shm {
    /// A tmpfs of its own, in its own mount namespace.
    #[default]
    Private,
    /// None at all (`--ipc none`).
    None,
    /// The host's.
    Host,
    /// The shareable one of this container (itself or the donor whose IPC
    /// namespace it joins), which the runtime keeps outside the containers.
    Shared(ContainerId),
}

/// What the runtime needs for a start: what was asked, and the namespaces
/// of other containers resolved now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityLaunch {
    pub asked: Security,
    pub pid: Joined,
    pub ipc: Joined,
    pub shm: Shm,
}

impl Default for SecurityLaunch {
    fn default() -> Self {
        SecurityLaunch {
            asked: Security::default(),
            pid: Joined::Own,
            ipc: Joined::Own,
            shm: Shm::Private,
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidParameter(msg.into())
}

/// Docker's `NormalizeLegacyCapabilities`: upper case, a `CAP_` prefix, a
/// capability Linux knows, or `ALL`.
pub fn normalize_capability(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    if upper == ALL_CAPABILITIES {
        return Some(ALL_CAPABILITIES);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    CAPABILITIES.into_iter().find(|c| *c == full)
}

fn check_capabilities(field: &str, names: &[String]) -> Result<()> {
    for name in names {
        if normalize_capability(name).is_none() {
            let mut full = name.to_ascii_uppercase();
            if !full.starts_with("CAP_") {
                full.insert_str(0, "CAP_");
            }
            return Err(invalid(format!(
                "invalid {field}: unknown capability: {full:?}"
            )));
        }
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// dockerd's `parseSecurityOpt`, with berth's refusals of what it cannot
/// apply (SELinux labels).
fn apply_security_opts(opts: &[String], s: &mut Security) -> Result<()> {
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                s.no_new_privileges = true;
                continue;
            }
            "writable-cgroups" => {
                s.writable_cgroups = Some(true);
                continue;
            }
            "disable" => continue,
            _ => {}
        }
        let split = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((key, value)) = split else {
            return Err(invalid(format!("invalid --security-opt 1: {opt:?}")));
        };
        let bad = || invalid(format!("invalid --security-opt 2: {opt:?}"));
        match key {
            "label" if value == "disable" => {}
            "label" => {
                let refusal = "berth does not support SELinux labels";
                return Err(invalid(format!(
                    "{refusal}: --security-opt {opt} (only label=disable)"
                )));
            }
            "apparmor" => s.apparmor = value.to_owned(),
            "seccomp" => {
                s.seccomp = match value {
                    "unconfined" => Seccomp::Unconfined,
                    "builtin" | "" => Seccomp::Default,
                    profile => Seccomp::Profile(profile.to_owned()),
                }
            }
            "no-new-privileges" => s.no_new_privileges = parse_bool(value).ok_or_else(bad)?,
            "writable-cgroups" => s.writable_cgroups = Some(parse_bool(value).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// `container:X`, with X a container berth knows.
fn target(mode: &str, containers: &ContainerTable) -> Result<Option<ContainerId>> {
    match mode.strip_prefix("container:") {
        Some(reference) => Ok(Some(containers.find(reference)?.id)),
        None => Ok(None),
    }
}

/// Checks the request and records it.
pub fn plan(req: SecurityRequest, hostname: &str, containers: &ContainerTable) -> Result<Security> {
    check_capabilities("CapAdd", &req.cap_add)?;
    check_capabilities("CapDrop", &req.cap_drop)?;
    let mut s = Security {
        privileged: req.privileged,
        cap_add: req.cap_add,
        cap_drop: req.cap_drop,
        userns_mode: req.userns_mode,
        group_add: req.group_add,
        init: req.init,
        masked_paths: req.masked_paths,
        readonly_paths: req.readonly_paths,
        ..Security::default()
    };
    apply_security_opts(&req.security_opt, &mut s)?;
    s.security_opt = req.security_opt;

    s.ipc = match req.ipc_mode.as_str() {
        "" | "private" => IpcMode::Private,
        "shareable" => IpcMode::Shareable,
        "none" => IpcMode::None,
        "host" => IpcMode::Host,
        m => match target(m, containers)? {
            Some(id) => IpcMode::Container(id),
            None => return Err(invalid(format!("invalid IPC mode: {m}"))),
        },
    };
    s.pid = match req.pid_mode.as_str() {
        "" => PidMode::Private,
        "host" => PidMode::Host,
        m => match target(m, containers)? {
            Some(id) => PidMode::Container(id),
            None => return Err(invalid(format!("invalid PID mode: {m}"))),
        },
    };
    s.uts_host = match req.uts_mode.as_str() {
        "" => false,
        "host" => true,
        m => return Err(invalid(format!("invalid UTS mode: {m}"))),
    };
    if s.uts_host && !hostname.is_empty() {
        return Err(invalid("conflicting options: hostname and the UTS mode"));
    }
    Ok(s)
}

/// The running process of the container whose `kind` namespace is joined
/// (dockerd's `getPIDContainer` / `getIPCContainer`, with its words).
fn running_pid(target: &Container, kind: &str) -> Result<u32> {
    if !target.is_running() || target.state.pid == 0 {
        return Err(Error::Conflict(format!(
            "failed to join {kind} namespace: container {} is not running",
            target.id
        )));
    }
    Ok(target.state.pid)
}

/// The `/dev/shm` a container joining `donor`'s IPC namespace shares:
/// dockerd's `getIPCContainer` wants a donor with one to share (shareable,
/// the host's, or one it shares itself).
fn donor_shm(donor: &Container, containers: &ContainerTable) -> Result<Shm> {
    let mut current = donor.clone();
    // A chain of joins ends at a shareable container or the host; each
    // link was running when the next started, so there is no cycle.
    for _ in 0..=containers.all().len() {
        match &current.security.ipc {
            IpcMode::Shareable => return Ok(Shm::Shared(current.id.clone())),
            IpcMode::Host => return Ok(Shm::Host),
            IpcMode::Container(next) => current = containers.find(next.as_str())?,
            IpcMode::Private | IpcMode::None => break,
        }
    }
    Err(invalid(format!(
        "failed to join IPC namespace: container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
        donor.id
    )))
}

/// Resolves the namespaces container `own` (asking `s`) joins, from the
/// containers as they are now.
pub fn launch(
    own: &ContainerId,
    s: &Security,
    containers: &ContainerTable,
) -> Result<SecurityLaunch> {
    let find = |id: &ContainerId| containers.find(id.as_str());
    let pid = match &s.pid {
        PidMode::Private => Joined::Own,
        PidMode::Host => Joined::Host,
        PidMode::Container(id) => {
            let pid = running_pid(&find(id)?, "PID")?;
            Joined::Path(PathBuf::from(format!("/proc/{pid}/ns/pid")))
        }
    };
    let (ipc, shm) = match &s.ipc {
        IpcMode::Private => (Joined::Own, Shm::Private),
        IpcMode::Shareable => (Joined::Own, Shm::Shared(own.clone())),
        IpcMode::None => (Joined::Own, Shm::None),
        IpcMode::Host => (Joined::Host, Shm::Host),
        IpcMode::Container(id) => {
            let donor = find(id)?;
            let pid = running_pid(&donor, "IPC")?;
            let shm = donor_shm(&donor, containers)?;
            (
                Joined::Path(PathBuf::from(format!("/proc/{pid}/ns/ipc"))),
                shm,
            )
        }
    };
    Ok(SecurityLaunch {
        asked: s.clone(),
        pid,
        ipc,
        shm,
    })
}

/// Docker's `HostConfig.PidMode` text.
pub fn pid_mode_text(mode: &PidMode) -> String {
    match mode {
        PidMode::Private => String::new(),
        PidMode::Host => "host".to_owned(),
        PidMode::Container(id) => format!("container:{id}"),
    }
}

/// Docker's `HostConfig.IpcMode` text ("private" when none was asked, as
/// Docker 20+ shows).
pub fn ipc_mode_text(mode: &IpcMode) -> String {
    match mode {
        IpcMode::Private => "private".to_owned(),
        IpcMode::Shareable => "shareable".to_owned(),
        IpcMode::None => "none".to_owned(),
        IpcMode::Host => "host".to_owned(),
        IpcMode::Container(id) => format!("container:{id}"),
    }
}

#[cfg(test)]
mod tests;
