//! The OCI JSON shapes berth writes (only the fields it sets), and the
//! mount entries render functions build.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::resources::{self, LinuxResources, OciRlimit};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: &'static str,
    pub process: Process,
    pub root: Root,
    pub hostname: String,
    pub mounts: Vec<Mount>,
    pub linux: Linux,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub terminal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    pub user: OciUser,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Capabilities,
    pub rlimits: Vec<OciRlimit>,
    pub no_new_privileges: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciUser {
    pub uid: u32,
    pub gid: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct Capabilities {
    pub bounding: Vec<&'static str>,
    pub effective: Vec<&'static str>,
    pub permitted: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Root {
    pub path: PathBuf,
    pub readonly: bool,
}

#[derive(Debug, Serialize)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: PathBuf,
    pub options: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    pub cgroups_path: String,
    pub namespaces: Vec<Namespace>,
    pub resources: LinuxResources,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<resources::LinuxDevice>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sysctl: std::collections::BTreeMap<String, String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<serde_json::Value>,
    /// Set when a mount asks for shared or slave propagation, which the
    /// root must allow (as moby sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

pub(super) fn mount(dest: &str, kind: &'static str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: dest.to_owned(),
        kind,
        source: PathBuf::from(source),
        options: options.iter().map(|o| (*o).to_owned()).collect(),
    }
}

pub(super) fn bind(dest: &str, source: &Path) -> Mount {
    Mount {
        destination: dest.to_owned(),
        kind: "bind",
        source: source.to_path_buf(),
        options: vec!["rbind".to_owned(), "rprivate".to_owned()],
    }
}
