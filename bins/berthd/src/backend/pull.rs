//! `docker pull` and `docker push`, and the docker CLI's pull after `run`/`create` of a
//! missing image: the reference as dockerd reads `fromImage` and `tag`,
//! credentials from `X-Registry-Auth`, the pull itself in a task of its own
//! (a client hanging up cannot leave a staged image unlisted), then the
//! engine lists the image. Progress is dockerd's message stream.

use base64::Engine as _;
use berth_api::{
    ApiError, AuthResponse, ErrorKind, ImagePullOptions, ProgressDetail, ProgressMessage,
    PullStream, RegistryAuth,
};
use berth_core::image::ImageRecordKind;
use berth_core::EngineHandle;
use berth_oci::registry::{Credentials, Platform, RegistryError, RegistryErrorKind};
use berth_oci::{OciAdapter, PullProgress, PullRequest, PushRequest};
use berth_types::reference::{parse_normalized, ImageRef};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::api_error;
use crate::host::RealHost;

pub async fn pull(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    options: ImagePullOptions,
) -> Result<PullStream, ApiError> {
    let reference = pull_reference(&options)?;
    let familiar = reference.familiar_string();
    let local = oci.images().inspect(&familiar).ok();
    // An imported image was never in a registry: the docker CLI pulls after
    // any 404 of a create (an unknown network too) and retries; answering
    // as for an image that is up to date lets the retry say what is wrong.
    if let Some(image) = &local {
        let name = format!("{}@", reference.familiar_name());
        if !familiar.contains('@') && !image.repo_digests.iter().any(|d| d.starts_with(&name)) {
            let done = message(None, &format!("Status: Image is up to date for {familiar}"));
            return Ok(futures::stream::iter([Ok(done)]).boxed());
        }
    }
    let platform = options
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(registry_error)?;
    let credentials = credentials(options.registry_auth.as_deref())?;
    let (progress, updates) = mpsc::unbounded_channel();
    let (finish, finished) = oneshot::channel();
    let (engine, oci) = (engine.clone(), oci.clone());
    let request = PullRequest {
        reference,
        platform,
        credentials,
    };
    tokio::spawn(async move {
        let before = local.map(|image| image.id.to_string());
        let outcome = match oci.pull(request, progress).await {
            Err(e) => vec![Err(registry_error(e))],
            Ok(staged) => {
                let digest = staged
                    .repo_digest
                    .as_deref()
                    .and_then(|d| d.rsplit_once('@'))
                    .map(|(_, d)| d.to_owned())
                    .unwrap_or_default();
                match engine
                    .record_staged_image(staged, ImageRecordKind::Pull)
                    .await
                {
                    Err(e) => vec![Err(api_error(e))],
                    Ok(id) => {
                        let status = if before.as_deref() == Some(id.as_str()) {
                            format!("Status: Image is up to date for {familiar}")
                        } else {
                            format!("Status: Downloaded newer image for {familiar}")
                        };
                        vec![
                            Ok(message(None, &format!("Digest: {digest}"))),
                            Ok(message(None, &status)),
                        ]
                    }
                }
            }
        };
        let _ = finish.send(outcome);
    });
    let updates = futures::stream::unfold(updates, |mut updates| async move {
        let update = updates.recv().await?;
        Some((Ok(progress_message(update)), updates))
    });
    let end = futures::stream::once(finished).flat_map(|outcome| {
        futures::stream::iter(outcome.unwrap_or_else(|_| {
            vec![Err(ApiError::internal(
                "the pull stopped before it finished",
            ))]
        }))
    });
    Ok(updates.chain(end).boxed())
}

/// `docker push NAME[:TAG]`: the image's layers and manifest to its
/// registry, then the engine records the pushed digest.
pub async fn push(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    name: String,
    tag: Option<String>,
    registry_auth: Option<String>,
) -> Result<PullStream, ApiError> {
    let invalid = |e: berth_types::reference::ReferenceError| {
        ApiError::invalid_parameter(format!("invalid reference format: {e}"))
    };
    let named = parse_normalized(&name).map_err(invalid)?;
    let full = match tag {
        Some(tag) => format!("{}:{tag}", named.familiar_name()),
        None if name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':')) =>
        {
            name
        }
        None => return Err(ApiError::not_implemented(
            "berth does not push every tag of a repository (docker push --all-tags): name a tag",
        )),
    };
    let request = PushRequest {
        reference: parse_normalized(&full).map_err(invalid)?,
        credentials: credentials(registry_auth.as_deref())?,
    };
    let (progress, updates) = mpsc::unbounded_channel();
    let (finish, finished) = oneshot::channel();
    let (engine, oci) = (engine.clone(), oci.clone());
    tokio::spawn(async move {
        let outcome = match oci.push(request, progress).await {
            Err(e) => vec![Err(registry_error(e))],
            Ok(pushed) => match engine
                .record_staged_image(pushed, ImageRecordKind::Push)
                .await
            {
                Err(e) => vec![Err(api_error(e))],
                Ok(_) => Vec::new(),
            },
        };
        let _ = finish.send(outcome);
    });
    Ok(stream_of(updates, finished))
}

/// The progress as it comes, then what the task said at its end.
fn stream_of(
    updates: mpsc::UnboundedReceiver<PullProgress>,
    finished: oneshot::Receiver<Vec<Result<ProgressMessage, ApiError>>>,
) -> PullStream {
    let updates = futures::stream::unfold(updates, |mut updates| async move {
        let update = updates.recv().await?;
        Some((Ok(progress_message(update)), updates))
    });
    let end = futures::stream::once(finished).flat_map(|outcome| {
        futures::stream::iter(outcome.unwrap_or_else(|_| {
            vec![Err(ApiError::internal(
                "the task stopped before it finished",
            ))]
        }))
    });
    updates.chain(end).boxed()
}

fn message(id: Option<&str>, status: &str) -> ProgressMessage {
    ProgressMessage {
        status: status.to_owned(),
        progress_detail: None,
        id: id.map(str::to_owned),
    }
}

/// A layer's messages carry `progressDetail` (`{}` without numbers), the
/// others do not, as in dockerd's stream.
fn progress_message(update: PullProgress) -> ProgressMessage {
    let layer = update.id.is_some() && !update.status.starts_with("Pulling from");
    ProgressMessage {
        progress_detail: layer.then(|| ProgressDetail {
            current: update.detail.map(|(current, _)| current),
            total: update.detail.map(|(_, total)| total),
        }),
        status: update.status,
        id: update.id,
    }
}

/// dockerd's reading of `fromImage` and `tag`: the tag may be a digest; no
/// tag and none in the name means every tag (`docker pull --all-tags`).
fn pull_reference(options: &ImagePullOptions) -> Result<ImageRef, ApiError> {
    let invalid = |e: berth_types::reference::ReferenceError| {
        ApiError::invalid_parameter(format!("invalid reference format: {e}"))
    };
    let named = parse_normalized(&options.image).map_err(invalid)?;
    let full = match options.tag.as_deref() {
        Some(tag) if tag.starts_with("sha256:") => {
            format!("{}@{tag}", named.clone().trimmed().familiar_name())
        }
        Some(tag) => format!("{}:{tag}", named.familiar_name()),
        None => {
            let last = options.image.rsplit('/').next().unwrap_or_default();
            if !last.contains(':') && !options.image.contains('@') {
                return Err(ApiError::not_implemented(
                    "berth does not pull every tag of a repository (docker pull --all-tags): name a tag",
                ));
            }
            options.image.clone()
        }
    };
    parse_normalized(&full).map_err(invalid)
}

/// `docker login`: the credentials checked against their registry.
pub async fn login(oci: &OciAdapter, auth: RegistryAuth) -> Result<AuthResponse, ApiError> {
    let server = auth.serveraddress.clone();
    let credentials = auth_credentials(auth)?;
    oci.registries()
        .login(&server, &credentials)
        .await
        .map_err(registry_error)?;
    Ok(AuthResponse {
        status: "Login Succeeded".to_owned(),
        identity_token: Some(String::new()),
    })
}

/// `X-Registry-Auth`: base64url JSON with Docker's `AuthConfig` keys.
fn credentials(header: Option<&str>) -> Result<Credentials, ApiError> {
    let Some(header) = header else {
        return Ok(Credentials::Anonymous);
    };
    let invalid =
        |e: String| ApiError::invalid_parameter(format!("invalid X-Registry-Auth header: {e}"));
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(header.trim())
        .map_err(|e| invalid(e.to_string()))?;
    let auth: RegistryAuth = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    auth_credentials(auth)
}

/// What an `AuthConfig` says to send: a registry token, or a username and
/// password (given apart, or as the `auth` pair of the CLI's config file).
fn auth_credentials(mut auth: RegistryAuth) -> Result<Credentials, ApiError> {
    if !auth.registrytoken.is_empty() {
        return Ok(Credentials::Token(auth.registrytoken));
    }
    if !auth.identitytoken.is_empty() {
        return Err(ApiError::not_implemented(
            "berth does not exchange identity tokens: log in with a username and password",
        ));
    }
    if auth.username.is_empty() && auth.password.is_empty() && !auth.auth.is_empty() {
        let pair = base64::engine::general_purpose::STANDARD
            .decode(auth.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::invalid_parameter("invalid auth configuration file"))?;
        let (user, password) = pair
            .split_once(':')
            .ok_or_else(|| ApiError::invalid_parameter("invalid auth configuration file"))?;
        auth.username = user.to_owned();
        auth.password = password.to_owned();
    }
    if auth.username.is_empty() && auth.password.is_empty() {
        return Ok(Credentials::Anonymous);
    }
    Ok(Credentials::Basic {
        username: auth.username,
        password: auth.password,
    })
}

fn registry_error(e: RegistryError) -> ApiError {
    let kind = match e.kind() {
        RegistryErrorKind::NotFound => ErrorKind::NotFound,
        RegistryErrorKind::Invalid => ErrorKind::InvalidParameter,
        RegistryErrorKind::Unauthorized => ErrorKind::Unauthorized,
        RegistryErrorKind::NotImplemented => ErrorKind::NotImplemented,
        RegistryErrorKind::Other => {
            tracing::warn!(error = %e, "pull failed");
            ErrorKind::Internal
        }
    };
    ApiError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(image: &str, tag: Option<&str>) -> Result<String, ApiError> {
        pull_reference(&ImagePullOptions {
            image: image.to_owned(),
            tag: tag.map(str::to_owned),
            ..Default::default()
        })
        .map(|r| r.familiar_string())
    }

    #[test]
    fn references_read_as_dockerd_reads_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            reference("docker.io/library/busybox", Some("latest")).unwrap(),
            "busybox:latest"
        );
        assert_eq!(
            reference("127.0.0.1:5000/app", Some(&digest)).unwrap(),
            format!("127.0.0.1:5000/app@{digest}")
        );
        assert_eq!(reference("busybox:1.36", None).unwrap(), "busybox:1.36");
        assert_eq!(
            reference("busybox", None).unwrap_err().kind,
            ErrorKind::NotImplemented
        );
        assert_eq!(
            reference("Bad", Some("latest")).unwrap_err().kind,
            ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn registry_auth_headers_decode() {
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE.encode(json);
        assert!(matches!(credentials(None).unwrap(), Credentials::Anonymous));
        assert!(matches!(
            credentials(Some(&encode(r#"{"username":"u","password":"p","serveraddress":"r"}"#))).unwrap(),
            Credentials::Basic { username, password } if username == "u" && password == "p"
        ));
        let unpadded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"registrytoken":"t"}"#);
        assert!(matches!(credentials(Some(&unpadded)).unwrap(), Credentials::Token(t) if t == "t"));
        assert!(matches!(
            credentials(Some(&encode("{}"))).unwrap(),
            Credentials::Anonymous
        ));
        // The CLI's config file keeps `auth`, base64 `user:password`.
        assert!(matches!(
            credentials(Some(&encode(r#"{"auth":"bWU6c2VjcmV0"}"#))).unwrap(),
            Credentials::Basic { username, password } if username == "me" && password == "secret"
        ));
        assert_eq!(
            credentials(Some("!!")).unwrap_err().kind,
            ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn layer_messages_carry_progress_detail() {
        let layer = progress_message(PullProgress {
            id: Some("abc".into()),
            status: "Pulling fs layer".into(),
            detail: None,
        });
        assert_eq!(layer.progress_detail, Some(ProgressDetail::default()));
        let top = progress_message(PullProgress {
            id: Some("latest".into()),
            status: "Pulling from library/busybox".into(),
            detail: None,
        });
        assert_eq!(top.progress_detail, None);
    }
}
