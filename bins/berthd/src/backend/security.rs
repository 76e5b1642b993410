//! The wire's privilege fields (`CapAdd`, `CapDrop`, `Privileged`,
//! `SecurityOpt`, `PidMode`, `IpcMode`, `UTSMode`, `UsernsMode`,
//! `GroupAdd`, `Init`, `MaskedPaths`, `ReadonlyPaths`) to and from core's
//! [`Security`].

use berth_core::container::security::{ipc_mode_text, pid_mode_text};
use berth_core::container::{Security, SecurityRequest};
use bollard_stubs::models::HostConfig;

/// What a create request asks for the container's privileges.
pub fn requested(host: &HostConfig) -> SecurityRequest {
    SecurityRequest {
        privileged: host.privileged.unwrap_or(false),
        cap_add: host.cap_add.clone().unwrap_or_default(),
        cap_drop: host.cap_drop.clone().unwrap_or_default(),
        security_opt: host.security_opt.clone().unwrap_or_default(),
        pid_mode: host.pid_mode.clone().unwrap_or_default(),
        ipc_mode: host.ipc_mode.clone().unwrap_or_default(),
        uts_mode: host.uts_mode.clone().unwrap_or_default(),
        userns_mode: host.userns_mode.clone().unwrap_or_default(),
        group_add: host.group_add.clone().unwrap_or_default(),
        init: host.init.unwrap_or(false),
        masked_paths: host.masked_paths.clone(),
        readonly_paths: host.readonly_paths.clone(),
    }
}

/// The inspect fields that show what was asked, with Docker's zero values
/// where nothing was (`IpcMode` "private", as Docker 20+ shows).
pub fn show(asked: &Security, host: &mut HostConfig) {
    let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
    host.privileged = Some(asked.privileged);
    host.cap_add = list(&asked.cap_add);
    host.cap_drop = list(&asked.cap_drop);
    host.security_opt = list(&asked.security_opt);
    host.pid_mode = Some(pid_mode_text(&asked.pid));
    host.ipc_mode = Some(ipc_mode_text(&asked.ipc));
    host.uts_mode = Some(if asked.uts_host { "host" } else { "" }.to_owned());
    host.userns_mode = Some(asked.userns_mode.clone());
    host.group_add = list(&asked.group_add);
    host.init = asked.init.then_some(true);
    // Docker records its default lists at create, unless privileged.
    let paths = |list: &Option<Vec<String>>, default: &[&str]| {
        list.clone().or_else(|| {
            (!asked.privileged).then(|| default.iter().map(|p| p.to_string()).collect())
        })
    };
    host.masked_paths = paths(&asked.masked_paths, &berth_oci::spec::MASKED_PATHS);
    host.readonly_paths = paths(&asked.readonly_paths, &berth_oci::spec::READONLY_PATHS);
}

/// Inspect's `AppArmorProfile`: the profile asked for (berth loads no
/// default profile of its own).
pub fn apparmor_profile(asked: &Security) -> String {
    asked.apparmor.clone()
}
