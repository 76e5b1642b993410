//! Which endpoints a registry conversation tries, in dockerd's order: for a
//! Docker Hub image being pulled, each of `registry-mirrors` first; then
//! the registry itself over HTTPS, and for an insecure registry HTTPS
//! without verification and then plain HTTP. HTTPS trusts the system's
//! roots plus the `*.crt` CAs in `<certs dir>/<host[:port]>/` (Docker's
//! `/etc/docker/certs.d` layout; berthd's is `certs.d` beside its
//! daemon.json, `/etc/berth/certs.d` by default).

use std::path::{Path, PathBuf};

use berth_types::reference::ImageRef;
use berth_types::IpNet;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::error::{RegistryError, RegistryErrorKind};
use super::{Credentials, RegistryConfig, Session};
use crate::error::Error;

/// The daemon's registry settings; one [`Session`] per pull or push.
pub struct Registries {
    config: RegistryConfig,
}

/// One place a conversation may happen.
pub(super) struct Endpoint {
    pub(super) client: Client,
    pub(super) scheme: &'static str,
    /// The image's reference at this endpoint (a mirror's host, for one).
    pub(super) reference: Reference,
    /// A mirror: any failure moves on to the next endpoint, as in dockerd.
    pub(super) mirror: bool,
}

impl Registries {
    pub fn new(config: RegistryConfig) -> Self {
        // reqwest is built without a TLS backend of its own choosing: ring,
        // which the workspace has already (aws-lc-rs, with post-quantum key
        // exchange, would add a C build). A provider installed earlier (a
        // second daemon in one process, in tests) is as good.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
        Registries { config }
    }

    /// Whether `host[:port]` is an insecure registry: named in
    /// `insecure-registries`, in one of its CIDRs, or loopback.
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        if bare == "localhost" {
            return true;
        }
        let ip = bare
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.config.insecure.iter().any(|entry| {
            if entry == host || entry == bare {
                return true;
            }
            match (entry.parse::<IpNet>(), ip) {
                (Ok(net), Some(ip)) => net.contains(&ip),
                _ => false,
            }
        })
    }

    /// A conversation with the registry of `named` (which has a tag or a
    /// digest) itself: what a push and a login use.
    pub fn session(
        &self,
        named: &ImageRef,
        credentials: &Credentials,
    ) -> Result<Session, RegistryError> {
        let reference = reference(named, named.domain());
        let endpoints = self.endpoints(named.domain(), None, &reference)?;
        Ok(Session::new(named, credentials, endpoints))
    }

    /// A pull's conversation: Docker Hub images try the mirrors first.
    pub fn pull_session(
        &self,
        named: &ImageRef,
        credentials: &Credentials,
    ) -> Result<Session, RegistryError> {
        let mut endpoints = Vec::new();
        if named.domain() == "docker.io" {
            for mirror in &self.config.mirrors {
                let (scheme, host) = mirror.split_once("://").unwrap_or(("https", mirror));
                let host = host.trim_end_matches('/');
                let reference = reference(named, host);
                endpoints.extend(self.endpoints(host, Some(scheme), &reference)?);
            }
        }
        let reference = reference(named, named.domain());
        endpoints.extend(self.endpoints(named.domain(), None, &reference)?);
        Ok(Session::new(named, credentials, endpoints))
    }

    /// `host`'s endpoints: the schemes an insecure registry allows (or the
    /// one a mirror's URL names), each with its client.
    fn endpoints(
        &self,
        host: &str,
        mirror_scheme: Option<&str>,
        reference: &Reference,
    ) -> Result<Vec<Endpoint>, RegistryError> {
        let insecure = self.is_insecure(host);
        let schemes: &[&'static str] = match mirror_scheme {
            Some("http") => &["http"],
            Some(_) => &["https"],
            None if insecure => &["https", "http"],
            None => &["https"],
        };
        let extra_root_certificates = self.trusted_cas(host)?;
        Ok(schemes
            .iter()
            .map(|scheme| Endpoint {
                client: Client::new(ClientConfig {
                    protocol: if *scheme == "http" {
                        ClientProtocol::Http
                    } else {
                        ClientProtocol::Https
                    },
                    // Only an insecure registry is tried over HTTPS unverified.
                    accept_invalid_certificates: insecure,
                    extra_root_certificates: extra_root_certificates.clone(),
                    ..ClientConfig::default()
                }),
                scheme,
                reference: reference.clone(),
                mirror: mirror_scheme.is_some(),
            })
            .collect())
    }

    /// The CAs in `<certs dir>/<host>/*.crt`. A client certificate there
    /// (`*.cert`, `*.key`) is refused by name: berth does not present one.
    fn trusted_cas(&self, host: &str) -> Result<Vec<Certificate>, RegistryError> {
        let Some(certs_dir) = &self.config.certs_dir else {
            return Ok(Vec::new());
        };
        let dir = certs_dir.join(host);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &dir)(e).into()),
        };
        let mut cas = Vec::new();
        for entry in entries {
            let path: PathBuf = entry.map_err(Error::io("list", &dir))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => cas.push(Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: std::fs::read(&path).map_err(Error::io("read", &path))?,
                }),
                Some("cert" | "key") => return Err(client_certificate(&path)),
                _ => {}
            }
        }
        Ok(cas)
    }
}

fn client_certificate(path: &Path) -> RegistryError {
    RegistryError::refused(
        RegistryErrorKind::NotImplemented,
        format!(
            "berth does not present TLS client certificates to registries: {} is not used; remove it to go on without",
            path.display()
        ),
    )
}

/// `named` at `host` (a mirror's, or its own registry's).
fn reference(named: &ImageRef, host: &str) -> Reference {
    let familiar = named.familiar_string();
    match familiar.rsplit_once('@') {
        Some((_, digest)) => {
            Reference::with_digest(host.to_owned(), named.path().to_owned(), digest.to_owned())
        }
        None => Reference::with_tag(
            host.to_owned(),
            named.path().to_owned(),
            familiar
                .rsplit_once(':')
                .map(|(_, t)| t.to_owned())
                .unwrap_or_else(|| "latest".to_owned()),
        ),
    }
}

impl Session {
    fn new(named: &ImageRef, credentials: &Credentials, endpoints: Vec<Endpoint>) -> Self {
        Session {
            endpoints,
            chosen: 0,
            auth: match credentials {
                Credentials::Anonymous => RegistryAuth::Anonymous,
                Credentials::Basic { username, password } => {
                    RegistryAuth::Basic(username.clone(), password.clone())
                }
                Credentials::Token(token) => RegistryAuth::Bearer(token.clone()),
            },
            name: named.familiar_name(),
            familiar: named.familiar_string(),
            host: named.domain().to_owned(),
        }
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}
