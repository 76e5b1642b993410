//! A pull's failures in Docker's words (moby `distribution/errors.go`):
//! what the registry said keeps its code and message, an unreachable
//! registry names the request that failed.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Which API status a failure maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// No such repository, manifest or platform (404).
    NotFound,
    /// The request itself is wrong (400).
    Invalid,
    /// Credentials the registry refused (401).
    Unauthorized,
    /// A feature berth does not have (501).
    NotImplemented,
    /// The registry or the disk failed (500).
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The whole message, in Docker's words.
    #[error("{message}")]
    Refused {
        kind: RegistryErrorKind,
        message: String,
    },
    /// The registry could not be reached, or broke off.
    #[error("{0}")]
    Transport(String),
    /// The image store or a blob on disk.
    #[error(transparent)]
    Store(#[from] crate::error::Error),
}

impl RegistryError {
    pub fn kind(&self) -> RegistryErrorKind {
        match self {
            RegistryError::Refused { kind, .. } => *kind,
            RegistryError::Transport(_) => RegistryErrorKind::Other,
            RegistryError::Store(e) if e.kind() == crate::ErrorKind::InvalidArgument => {
                RegistryErrorKind::Invalid
            }
            RegistryError::Store(_) => RegistryErrorKind::Other,
        }
    }

    pub(crate) fn refused(kind: RegistryErrorKind, message: impl Into<String>) -> Self {
        RegistryError::Refused {
            kind,
            message: message.into(),
        }
    }

    /// A registry reply or a failed request, for the image `name` (familiar
    /// name) and `reference` (familiar name with tag or digest); `url` is
    /// the request that failed.
    pub(crate) fn from_registry(
        e: OciDistributionError,
        name: &str,
        reference: &str,
        url: &str,
    ) -> Self {
        match e {
            OciDistributionError::RegistryError { envelope, .. } => {
                let Some(first) = envelope.errors.into_iter().next() else {
                    return RegistryError::Transport(format!("{url}: the registry gave no reason"));
                };
                let what = |code: &str| format!("{code}: {}", first.message);
                match first.code {
                    OciErrorCode::ManifestUnknown => RegistryError::refused(
                        RegistryErrorKind::NotFound,
                        format!(
                            "manifest for {reference} not found: {}",
                            what("manifest unknown")
                        ),
                    ),
                    OciErrorCode::NameUnknown => RegistryError::refused(
                        RegistryErrorKind::NotFound,
                        format!("repository {name} not found: {}", what("name unknown")),
                    ),
                    OciErrorCode::Denied | OciErrorCode::Unauthorized => RegistryError::refused(
                        RegistryErrorKind::NotFound,
                        format!(
                            "pull access denied for {name}, repository does not exist or may require 'docker login': {}",
                            what("denied")
                        ),
                    ),
                    code => RegistryError::Transport(format!(
                        "{}: {}",
                        serde_json::to_value(&code)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_lowercase))
                            .unwrap_or_default()
                            .replace('_', " "),
                        first.message
                    )),
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryError::refused(
                RegistryErrorKind::NotFound,
                format!(
                    "pull access denied for {name}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
                ),
            ),
            OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::refused(
                RegistryErrorKind::NotFound,
                format!("manifest for {reference} not found: manifest unknown: manifest unknown"),
            ),
            OciDistributionError::RequestError(e) => {
                RegistryError::Transport(format!("Get \"{url}\": {}", connect_error(&e)))
            }
            other => RegistryError::Transport(format!("Get \"{url}\": {}", with_causes(&other))),
        }
    }
}

/// A failed request as Go's net package words the common cases
/// (`connect: connection refused`); anything else with all its causes.
pub(super) fn connect_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return "connect: connection refused".into()
                }
                std::io::ErrorKind::TimedOut => return "i/o timeout".into(),
                _ => {}
            }
        }
        cause = c.source();
    }
    with_causes(e)
}

/// reqwest hides the reason (connection refused, TLS) in its sources.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError};

    fn registry(code: OciErrorCode, message: &str) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: message.to_owned(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://r/v2/x/manifests/y".to_owned(),
        }
    }

    #[test]
    fn registry_refusals_read_as_dockers() {
        let e = RegistryError::from_registry(
            registry(OciErrorCode::ManifestUnknown, "manifest unknown"),
            "r:5000/app",
            "r:5000/app:nope",
            "http://r:5000/v2/",
        );
        assert_eq!(e.kind(), RegistryErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "manifest for r:5000/app:nope not found: manifest unknown: manifest unknown"
        );
        let e = RegistryError::from_registry(
            registry(
                OciErrorCode::NameUnknown,
                "repository name not known to registry",
            ),
            "r:5000/app",
            "r:5000/app:latest",
            "",
        );
        assert_eq!(
            e.to_string(),
            "repository r:5000/app not found: name unknown: repository name not known to registry"
        );
        let e = RegistryError::from_registry(
            registry(
                OciErrorCode::Denied,
                "requested access to the resource is denied",
            ),
            "nope",
            "nope:latest",
            "",
        );
        assert_eq!(
            e.to_string(),
            "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let e = RegistryError::from_registry(
            registry(OciErrorCode::Toomanyrequests, "slow down"),
            "a",
            "a:latest",
            "",
        );
        assert_eq!(e.to_string(), "toomanyrequests: slow down");
    }
}
