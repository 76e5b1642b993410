//! `docker login`: credentials checked as dockerd checks them (moby
//! `registry/auth.go`, `loginV2`): the registry's `/v2/` challenge; a
//! bearer realm must hand out a token for them, a basic-auth registry must
//! accept them on a request that needs them.

use berth_types::reference::parse_normalized;
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use super::error::{connect_error, with_causes, RegistryError, RegistryErrorKind};
use super::{Credentials, Registries, Session};

impl Registries {
    /// Checks `credentials` against the registry `server` names (`host[:port]`,
    /// maybe with a scheme and path, as the CLI sends it; Docker Hub when
    /// blank or Hub's v1 index URL).
    pub async fn login(
        &self,
        server: &str,
        credentials: &Credentials,
    ) -> Result<(), RegistryError> {
        let host = registry_host(server);
        let named =
            parse_normalized(&format!("{host}/library/berth-login:latest")).map_err(|e| {
                RegistryError::refused(
                    RegistryErrorKind::Invalid,
                    format!("invalid registry address {server:?}: {e}"),
                )
            })?;
        let mut session = self.session(&named, credentials)?;
        session.login().await
    }
}

/// `https://index.docker.io/v1/` and friends to `docker.io`; otherwise the
/// `host[:port]` of the address.
fn registry_host(server: &str) -> String {
    let bare = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    match bare {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        host => host.to_owned(),
    }
}

impl Session {
    async fn login(&mut self) -> Result<(), RegistryError> {
        let mut index = 0;
        loop {
            self.chosen = index;
            match self
                .client()
                .auth(self.reference(), &self.auth, RegistryOperation::Pull)
                .await
            {
                // A token server took the credentials.
                Ok(Some(_)) => return Ok(()),
                Ok(None) => break,
                Err(OciDistributionError::RequestError(e)) if index + 1 < self.endpoints.len() => {
                    tracing::debug!(registry = %self.host, error = %e, "endpoint unreachable, trying the next");
                    index += 1;
                }
                Err(OciDistributionError::AuthenticationFailure(reason)) => {
                    return Err(RegistryError::refused(
                        RegistryErrorKind::Unauthorized,
                        format!(
                            "Get \"{}\": unauthorized: {}",
                            self.url(),
                            token_refusal(&reason)
                        ),
                    ))
                }
                Err(e) => return Err(self.login_error(e)),
            }
        }
        // No challenge, or a basic one: the catalog needs the credentials
        // wherever the registry wants any.
        match self
            .client()
            .catalog(self.reference(), &self.auth, Some(1), None)
            .await
        {
            Err(OciDistributionError::UnauthorizedError { .. }) => Err(RegistryError::refused(
                RegistryErrorKind::Unauthorized,
                format!(
                    "login attempt to {} failed with status: 401 Unauthorized",
                    self.url()
                ),
            )),
            Err(e @ OciDistributionError::RequestError(_)) => Err(self.login_error(e)),
            // Past the credentials check, a registry may still keep its
            // catalog to itself: the login is good.
            Ok(_) | Err(_) => Ok(()),
        }
    }

    fn login_error(&self, e: OciDistributionError) -> RegistryError {
        match e {
            OciDistributionError::RequestError(e) => {
                RegistryError::Transport(format!("Get \"{}\": {}", self.url(), connect_error(&e)))
            }
            other => {
                RegistryError::Transport(format!("Get \"{}\": {}", self.url(), with_causes(&other)))
            }
        }
    }
}

/// A token server's refusal (`{"details": "incorrect username or password"}`
/// from Docker Hub's), in words.
fn token_refusal(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        #[serde(default)]
        details: String,
    }
    match serde_json::from_str::<Refusal>(body) {
        Ok(r) if !r.details.is_empty() => r.details,
        _ if body.trim().is_empty() => "incorrect username or password".to_owned(),
        _ => body.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_name_their_registry() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            registry_host("https://reg.example:5001/v2/"),
            "reg.example:5001"
        );
        assert_eq!(
            token_refusal(r#"{"details":"incorrect username or password"}"#),
            "incorrect username or password"
        );
    }
}
