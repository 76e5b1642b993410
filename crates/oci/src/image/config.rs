//! The image config JSON, in Docker's shape (`docker image inspect` shows
//! these fields), and the on-disk image document whose sha256 is the id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Docker's `{}` value in `ExposedPorts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The runnable part of an image: what `import --change` sets and what a
/// container inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Keys like `80/tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `VOLUME` paths, Docker's `{"/data": {}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ImageHealthcheck>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
}

/// `HEALTHCHECK`, in nanoseconds as Docker writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageHealthcheck {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: i64,
    #[serde(default)]
    pub timeout: i64,
    #[serde(default)]
    pub start_period: i64,
    #[serde(default)]
    pub start_interval: i64,
    #[serde(default)]
    pub retries: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct History {
    pub created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// A metadata-only step (`ENV`, `CMD`...): no layer of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

/// `<data-root>/images/<hex>/config.json`, the OCI/Docker image config.
/// Field order is fixed by the struct, so the bytes (and the id) are a
/// function of the content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageDocument {
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Optional in OCI configs, as are `created` and `history`.
    #[serde(default)]
    pub config: ImageConfig,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub history: Vec<History>,
    pub os: String,
    /// The image a commit or build step started from (`sha256:…`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
    pub rootfs: RootFs,
}

/// Go's name for this machine's architecture, as image configs carry it.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
