//! Talking to OCI distribution registries, with `oci-client`: which
//! endpoint a registry has (HTTPS, or for an insecure registry HTTPS
//! without verification and then plain HTTP, as dockerd tries them), the
//! manifest for a platform (manifest lists and OCI indexes resolved, Docker
//! schema 2 and OCI manifests read), the config, and the layers' byte
//! streams. What the bytes become is [`crate::adapter`]'s pull.

mod blobs;
mod endpoints;
mod error;
mod login;
mod push;

use std::fmt;

use futures_util::StreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    ImageIndexEntry, OciDescriptor, OciImageManifest, OciManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

pub use blobs::{BlobBody, BlobStore, Fetched};
pub use endpoints::Registries;
pub use error::{RegistryError, RegistryErrorKind};
pub use push::UploadBody;

use crate::image::go_arch;

/// Manifests larger than this are refused: a config or manifest is small.
const MAX_CONFIG_BYTES: usize = 8 << 20;

/// Layer media types berth can unpack: plain, gzip and zstd tars (Docker
/// has no zstd type of its own: it pushes OCI's). Others (foreign layers)
/// are refused by name before anything is downloaded.
const LAYER_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

/// How the daemon reaches registries (`daemon.json`).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `insecure-registries`: `host[:port]` names or CIDRs. Loopback
    /// (127.0.0.0/8, ::1) is always insecure, as in Docker.
    pub insecure: Vec<String>,
    /// `registry-mirrors`: `scheme://host[:port]` URLs tried in turn
    /// before Docker Hub for its images.
    pub mirrors: Vec<String>,
    /// Docker's `certs.d` layout: `<dir>/<host[:port]>/*.crt` are CAs
    /// trusted for that registry.
    pub certs_dir: Option<std::path::PathBuf>,
}

/// Who the client says it is (`X-Registry-Auth`).
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An identity or registry token, sent as a bearer token.
    Token(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// `os/arch[/variant]`, as `--platform` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This machine's.
    pub fn host() -> Self {
        Platform {
            os: "linux".to_owned(),
            architecture: go_arch().to_owned(),
            variant: None,
        }
    }

    /// `linux`, `linux/amd64`, `linux/arm64/v8`; an os alone means this
    /// machine's architecture.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let bad = || {
            RegistryError::refused(
                RegistryErrorKind::Invalid,
                format!("\"{s}\": unknown operating system or architecture: invalid argument"),
            )
        };
        let parts: Vec<&str> = s.split('/').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let os = parts[0].to_lowercase();
        if os != "linux" {
            return Err(RegistryError::refused(
                RegistryErrorKind::Invalid,
                format!("\"{s}\": berth runs linux images only"),
            ));
        }
        let architecture = match parts.get(1).map(|a| a.to_lowercase()) {
            None => go_arch().to_owned(),
            Some(a) if a == "x86_64" || a == "x86-64" => "amd64".to_owned(),
            Some(a) if a == "aarch64" => "arm64".to_owned(),
            Some(a) => a,
        };
        Ok(Platform {
            os,
            architecture,
            variant: parts.get(2).map(|v| v.to_lowercase()),
        })
    }

    fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && self.variant.as_deref().is_none_or(|v| Some(v) == variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The manifest a pull uses and what identifies it.
pub struct Resolved {
    pub manifest: OciImageManifest,
    /// The image manifest as the registry sent it (what a push sends back).
    pub manifest_bytes: Vec<u8>,
    /// The digest the name pointed at (a manifest list's, if it was one):
    /// what `RepoDigests` records, as in Docker.
    pub digest: String,
    /// The config blob, byte for byte (its digest is the image id).
    pub config: Vec<u8>,
}

/// One pull's conversation with one registry.
pub struct Session {
    endpoints: Vec<endpoints::Endpoint>,
    chosen: usize,
    auth: RegistryAuth,
    name: String,
    familiar: String,
    host: String,
}

impl Session {
    /// The familiar name (`busybox`, `127.0.0.1:5000/app`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn client(&self) -> &Client {
        &self.endpoints[self.chosen].client
    }

    /// The image at the endpoint in use.
    fn reference(&self) -> &Reference {
        &self.endpoints[self.chosen].reference
    }

    fn url(&self) -> String {
        format!(
            "{}://{}/v2/",
            self.endpoints[self.chosen].scheme,
            self.reference().resolve_registry()
        )
    }

    fn error(&self, e: OciDistributionError) -> RegistryError {
        RegistryError::from_registry(e, &self.name, &self.familiar, &self.url())
    }

    /// Finds the manifest for `platform` (this machine's when `None`) and
    /// reads the config.
    pub async fn resolve(
        &mut self,
        platform: Option<&Platform>,
    ) -> Result<Resolved, RegistryError> {
        let (bytes, digest) = self.top_manifest().await?;
        let wanted = platform.cloned().unwrap_or_else(Platform::host);
        let (manifest, manifest_bytes) = match parse_manifest(&bytes)? {
            OciManifest::Image(manifest) => (manifest, bytes.to_vec()),
            OciManifest::ImageIndex(index) => {
                let entry = pick(&index.manifests, &wanted).ok_or_else(|| {
                    RegistryError::refused(
                        RegistryErrorKind::NotFound,
                        format!("no matching manifest for {wanted} in the manifest list entries"),
                    )
                })?;
                let by_digest = self.reference().clone_with_digest(entry.digest.clone());
                let (bytes, _) = self
                    .client()
                    .pull_manifest_raw(&by_digest, &self.auth, ACCEPTED)
                    .await
                    .map_err(|e| self.error(e))?;
                match parse_manifest(&bytes)? {
                    OciManifest::Image(manifest) => (manifest, bytes.to_vec()),
                    OciManifest::ImageIndex(_) => {
                        return Err(RegistryError::Transport(format!(
                            "manifest list entry {} of {} is itself a list",
                            entry.digest, self.familiar
                        )))
                    }
                }
            }
        };
        for layer in &manifest.layers {
            if !LAYER_TYPES.contains(&layer.media_type.as_str()) {
                return Err(RegistryError::refused(
                    RegistryErrorKind::NotImplemented,
                    format!(
                        "berth cannot pull {}: layer {} has media type {:?}, which berth does not unpack",
                        self.familiar, layer.digest, layer.media_type
                    ),
                ));
            }
        }
        if manifest.config.size < 0 || manifest.config.size as usize > MAX_CONFIG_BYTES {
            return Err(RegistryError::Transport(format!(
                "image config of {} is {} bytes: too large",
                self.familiar, manifest.config.size
            )));
        }
        let mut config = Vec::with_capacity(manifest.config.size as usize);
        self.client()
            .pull_blob(self.reference(), &manifest.config, &mut config)
            .await
            .map_err(|e| self.error(e))?;
        if let Some(platform) = platform {
            let doc: ConfigPlatform = serde_json::from_slice(&config).map_err(|e| {
                RegistryError::Transport(format!("image config of {}: {e}", self.familiar))
            })?;
            if !platform.matches(&doc.os, &doc.architecture, doc.variant.as_deref()) {
                return Err(RegistryError::refused(
                    RegistryErrorKind::NotFound,
                    format!(
                        "image with reference {} was found but does not match the specified platform: wanted {platform}, actual: {}/{}",
                        self.familiar, doc.os, doc.architecture
                    ),
                ));
            }
        }
        Ok(Resolved {
            manifest,
            manifest_bytes,
            digest,
            config,
        })
    }

    /// The manifest the name points at, trying each endpoint in turn while
    /// the previous one cannot be reached (or is a mirror that failed).
    async fn top_manifest(&mut self) -> Result<(bytes::Bytes, String), RegistryError> {
        let mut index = 0;
        loop {
            self.chosen = index;
            match self
                .client()
                .pull_manifest_raw(self.reference(), &self.auth, ACCEPTED)
                .await
            {
                Ok(found) => return Ok(found),
                Err(e) if self.endpoints[index].mirror => {
                    tracing::info!(mirror = %self.url(), error = %e, "mirror failed, trying the next endpoint");
                    index += 1;
                }
                Err(OciDistributionError::RequestError(e)) if index + 1 < self.endpoints.len() => {
                    tracing::debug!(registry = %self.host, error = %e, "endpoint unreachable, trying the next");
                    index += 1;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// A layer's bytes, verified against its digest by the client as they
    /// come.
    pub async fn blob(&self, layer: &OciDescriptor) -> Result<BlobBody, RegistryError> {
        self.client()
            .pull_blob_stream(self.reference(), layer)
            .await
            .map(|sized| sized.stream.boxed())
            .map_err(|e| self.error(e))
    }
}

const ACCEPTED: &[&str] = &[
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
];

#[derive(serde::Deserialize)]
struct ConfigPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

fn parse_manifest(bytes: &[u8]) -> Result<OciManifest, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
    }
    let versioned: Versioned = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Transport(format!("invalid manifest: {e}")))?;
    if versioned.schema_version != 2 {
        return Err(RegistryError::refused(
            RegistryErrorKind::NotImplemented,
            "Docker Image manifest version 2, schema 1 is not supported: the image must be pushed again in a current format",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Transport(format!("invalid manifest: {e}")))
}

/// The list entry for `wanted`: an exact variant first, else any.
fn pick<'a>(entries: &'a [ImageIndexEntry], wanted: &Platform) -> Option<&'a ImageIndexEntry> {
    let platform = |e: &ImageIndexEntry| {
        e.platform.as_ref().map(|p| {
            (
                p.os.to_string(),
                p.architecture.to_string(),
                p.variant.clone(),
            )
        })
    };
    entries.iter().find(|e| {
        platform(e)
            .is_some_and(|(os, arch, variant)| wanted.matches(&os, &arch, variant.as_deref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_as_docker_takes_them() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().architecture,
            "amd64"
        );
        assert_eq!(Platform::parse("linux").unwrap(), Platform::host());
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(
            Platform::parse("windows/amd64").unwrap_err().kind(),
            RegistryErrorKind::Invalid
        );
    }

    #[test]
    fn lists_resolve_to_the_wanted_platform() {
        let entries: Vec<ImageIndexEntry> = serde_json::from_value(serde_json::json!([
            {"mediaType": OCI_IMAGE_MEDIA_TYPE, "digest": "sha256:a", "size": 1,
             "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"mediaType": OCI_IMAGE_MEDIA_TYPE, "digest": "sha256:b", "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_IMAGE_MEDIA_TYPE, "digest": "sha256:c", "size": 1,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]))
        .unwrap();
        let digest =
            |p: &str| pick(&entries, &Platform::parse(p).unwrap()).map(|e| e.digest.clone());
        assert_eq!(digest("linux/amd64").as_deref(), Some("sha256:b"));
        assert_eq!(digest("linux/arm64").as_deref(), Some("sha256:c"));
        assert_eq!(digest("linux/arm/v7").as_deref(), Some("sha256:a"));
        assert_eq!(digest("linux/arm/v6"), None);
        assert_eq!(digest("linux/s390x"), None);
    }

    #[test]
    fn loopback_and_configured_registries_are_insecure() {
        let registries = Registries::new(RegistryConfig {
            insecure: vec!["myreg:5000".into(), "10.0.0.0/8".into()],
            ..RegistryConfig::default()
        });
        for host in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "myreg:5000",
            "10.1.2.3:443",
        ] {
            assert!(registries.is_insecure(host), "{host}");
        }
        for host in ["docker.io", "myreg:5001", "192.168.1.1:5000", "ghcr.io"] {
            assert!(!registries.is_insecure(host), "{host}");
        }
    }

    #[test]
    fn schema1_is_refused_by_name() {
        let e = parse_manifest(br#"{"schemaVersion": 1, "name": "x"}"#).unwrap_err();
        assert_eq!(e.kind(), RegistryErrorKind::NotImplemented);
    }
}
