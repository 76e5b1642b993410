//! `/images...` (moby `daemon/server/router/image/image_routes.go`,
//! `inspect_response.go`; the import reply from `internal/streamformatter`).

use bollard_stubs::models::{ImageInspect, ImageSummary};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{json, Value};

use crate::backend::{Backend, ImageImportOptions, ImageListOptions, ImageRemoveOptions};
use crate::error::ApiError;
use crate::handlers::{to_json_value, value_response};
use crate::request::{bool_param, filters_param, non_empty_param, query_param, query_params};
use crate::response::{json_response, response, ResponseBody, CONTENT_TYPE_JSON};
use crate::stream::RequestBody;
use crate::version::ApiVersion;

/// The registry of references without a host, and where dockerd pulls it from.
const DOCKER_HUB: &str = "docker.io";
const DEFAULT_REGISTRY: &str = "registry-1.docker.io";

/// One progress message as dockerd's stream formatter writes it: JSON, then
/// `\r\n`.
#[derive(Serialize)]
struct ProgressStatus<'a> {
    status: &'a str,
}

pub(super) async fn create<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let uri = request.uri().clone();
    if let Some(image) = non_empty_param(&uri, "fromImage") {
        let (registry, reference) = pull_reference(&image, non_empty_param(&uri, "tag").as_deref());
        // The docker CLI pulls after any 404 from create (an unknown network
        // too) and then retries: for an image that is here, answer as dockerd
        // does for an image already up to date, so the retry shows the real
        // error.
        let with_tag = if reference.contains(':') {
            reference.clone()
        } else {
            format!("{reference}:latest")
        };
        if backend.image_inspect(with_tag.clone()).await.is_ok() {
            let status = format!("Status: Image is up to date for {with_tag}");
            let mut line =
                serde_json::to_vec(&ProgressStatus { status: &status }).map_err(|err| {
                    ApiError::internal(format!("encoding the response failed: {err}"))
                })?;
            line.extend_from_slice(b"\r\n");
            let mut reply = response(StatusCode::OK, line);
            reply
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
            return Ok(reply);
        }
        return Err(ApiError::unavailable(format!(
            "Get \"https://{registry}/v2/\": berth does not pull images: no registry is reachable; create {reference:?} with docker import"
        )));
    }
    let source = query_param(&uri, "fromSrc").unwrap_or_default();
    if source != "-" {
        return Err(ApiError::not_implemented(format!(
            "importing from {source:?} is not supported: berth imports only from the request body (fromSrc=-)"
        )));
    }
    let options = ImageImportOptions {
        repo: non_empty_param(&uri, "repo"),
        tag: non_empty_param(&uri, "tag"),
        message: non_empty_param(&uri, "message")
            .unwrap_or_else(|| format!("Imported from {source}")),
        changes: query_params(&uri, "changes"),
    };
    let tarball = RequestBody::from_incoming(request.into_body());
    let id = backend.image_import(options, tarball).await?;
    // dockerd writes nothing before the import is done, so a failure is a
    // plain error response and success is this single status line.
    let mut line = serde_json::to_vec(&ProgressStatus { status: &id })
        .map_err(|err| ApiError::internal(format!("encoding the response failed: {err}")))?;
    line.extend_from_slice(b"\r\n");
    let mut reply = response(StatusCode::OK, line);
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    Ok(reply)
}

/// berth has no registry client: a pull of an image that is not here gets
/// the shape of dockerd's answer when it cannot reach the registry, so
/// clients report it as a pull failure. `image` is what the client sent:
/// the docker CLI sends the normalised name (`docker.io/library/busybox`)
/// with the tag apart. Returns the registry and the familiar reference.
fn pull_reference(image: &str, tag: Option<&str>) -> (String, String) {
    let (domain, path) = match image.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, image),
    };
    let (registry, familiar) = if domain == DOCKER_HUB || domain == "index.docker.io" {
        (
            DEFAULT_REGISTRY.to_owned(),
            path.strip_prefix("library/").unwrap_or(path).to_owned(),
        )
    } else {
        (domain.to_owned(), image.to_owned())
    };
    let reference = match tag {
        Some(tag) => format!("{familiar}:{tag}"),
        None => familiar,
    };
    (registry, reference)
}

pub(super) async fn list<B: Backend>(
    backend: &B,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let mut filters = filters_param(uri)?;
    // Clients before 1.25 sent a repository glob as `filter=`.
    if api_version.is_below("1.25") && !filters.contains_key("reference") {
        if let Some(glob) = non_empty_param(uri, "filter") {
            filters.insert("reference".to_owned(), vec![glob]);
        }
    }
    let options = ImageListOptions {
        all: bool_param(uri, "all"),
        filters,
        shared_size: !api_version.is_below("1.42") && bool_param(uri, "shared-size"),
    };
    let manifests = !api_version.is_below("1.47") && bool_param(uri, "manifests");
    let images: Vec<ImageSummary> = backend.image_list(options).await?;
    let images = images
        .into_iter()
        .map(|image| summary_for_version(image, api_version, manifests))
        .collect::<Result<Vec<_>, _>>()?;
    value_response(StatusCode::OK, Value::Array(images))
}

fn summary_for_version(
    mut image: ImageSummary,
    api_version: &ApiVersion,
    manifests: bool,
) -> Result<Value, ApiError> {
    if !manifests {
        image.manifests = None;
    }
    if api_version.is_below("1.43") && image.repo_tags.is_empty() && image.repo_digests.is_empty() {
        image.repo_tags.push("<none>:<none>".to_owned());
        image.repo_digests.push("<none>@<none>".to_owned());
    }
    if api_version.is_below("1.48") {
        image.descriptor = None;
    }
    // Before 1.51 dockerd did not count containers here.
    if api_version.is_below("1.51") {
        image.containers = -1;
    }
    let size = image.size;
    let mut document = to_json_value(&image)?;
    if api_version.is_below("1.44") {
        insert_missing(&mut document, [("VirtualSize", json!(size))]);
    }
    Ok(document)
}

pub(super) async fn inspect<B: Backend>(
    backend: &B,
    name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let manifests = !api_version.is_below("1.48") && bool_param(uri, "manifests");
    let image = backend.image_inspect(name).await?;
    value_response(
        StatusCode::OK,
        inspect_for_version(image, api_version, manifests)?,
    )
}

/// `Config` fields dockerd sent even when unset, per API version.
const LEGACY_CONFIG_1_50: &[(&str, Value)] = &[
    ("Cmd", Value::Null),
    ("Entrypoint", Value::Null),
    ("Env", Value::Null),
    ("Labels", Value::Null),
    ("OnBuild", Value::Null),
    ("Volumes", Value::Null),
];
const LEGACY_CONFIG_1_50_TEXT: &[&str] = &["User", "WorkingDir"];
const LEGACY_CONFIG_1_49_TEXT: &[&str] = &["Domainname", "Hostname", "Image"];
const LEGACY_CONFIG_1_49_FLAGS: &[&str] = &[
    "AttachStderr",
    "AttachStdin",
    "AttachStdout",
    "OpenStdin",
    "StdinOnce",
    "Tty",
];

fn inspect_for_version(
    mut image: ImageInspect,
    api_version: &ApiVersion,
    manifests: bool,
) -> Result<Value, ApiError> {
    // Empty lists, not `null`: clients index into them.
    image.repo_tags.get_or_insert_with(Vec::new);
    image.repo_digests.get_or_insert_with(Vec::new);
    if !manifests {
        image.manifests = None;
    }
    if api_version.is_below("1.48") {
        image.descriptor = None;
    }
    if api_version.is_below("1.53") {
        image.identity = None;
    }
    let size = image.size;
    let created_missing = image.created.is_none();
    let mut document = to_json_value(&image)?;
    if api_version.is_below("1.44") {
        insert_missing(&mut document, [("VirtualSize", json!(size))]);
        if created_missing {
            insert_missing(&mut document, [("Created", json!("0001-01-01T00:00:00Z"))]);
        }
    }
    if api_version.is_below("1.45") {
        insert_missing(
            &mut document,
            [("Container", json!("")), ("ContainerConfig", Value::Null)],
        );
    }
    if api_version.is_below("1.52") {
        insert_missing(
            &mut document,
            [
                ("Parent", json!("")),
                ("Comment", json!("")),
                ("DockerVersion", json!("")),
                ("Author", json!("")),
            ],
        );
        let config = document
            .as_object_mut()
            .map(|members| members.entry("Config").or_insert_with(|| json!({})));
        if let Some(config) = config {
            insert_missing(config, LEGACY_CONFIG_1_50.iter().cloned());
            insert_missing(
                config,
                LEGACY_CONFIG_1_50_TEXT.iter().map(|key| (*key, json!(""))),
            );
            if api_version.is_below("1.50") {
                insert_missing(
                    config,
                    LEGACY_CONFIG_1_49_TEXT.iter().map(|key| (*key, json!(""))),
                );
                insert_missing(
                    config,
                    LEGACY_CONFIG_1_49_FLAGS
                        .iter()
                        .map(|key| (*key, json!(false))),
                );
            }
        }
    }
    Ok(document)
}

/// Adds `fields` an object lacks; what is there stays (moby's `compat`
/// wrapper adds fields the current types no longer carry).
fn insert_missing<'a>(document: &mut Value, fields: impl IntoIterator<Item = (&'a str, Value)>) {
    if let Value::Object(members) = document {
        for (key, value) in fields {
            members.entry(key).or_insert(value);
        }
    }
}

pub(super) async fn remove<B: Backend>(
    backend: &B,
    name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_parameter("image name cannot be blank"));
    }
    let options = ImageRemoveOptions {
        force: bool_param(uri, "force"),
        prune: !bool_param(uri, "noprune"),
    };
    json_response(StatusCode::OK, &backend.image_remove(name, options).await?)
}

/// `POST /images/prune`.
pub(super) async fn prune<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    json_response(StatusCode::OK, &backend.image_prune(filters).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::ImageConfig;
    use std::collections::HashMap;

    fn summary() -> ImageSummary {
        ImageSummary {
            id: "sha256:ab".to_owned(),
            parent_id: String::new(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            created: 1,
            size: 42,
            shared_size: -1,
            labels: HashMap::new(),
            containers: 2,
            manifests: Some(Vec::new()),
            descriptor: None,
        }
    }

    #[test]
    fn summaries_follow_the_api_version() {
        let current = summary_for_version(summary(), &ApiVersion::current(), false).unwrap();
        assert_eq!(current["RepoTags"], json!([]));
        assert_eq!(current["Containers"], -1);
        assert!(current.get("Manifests").is_none());
        assert!(current.get("VirtualSize").is_none());

        let old = summary_for_version(summary(), &ApiVersion::new("1.41"), false).unwrap();
        assert_eq!(old["RepoTags"], json!(["<none>:<none>"]));
        assert_eq!(old["RepoDigests"], json!(["<none>@<none>"]));
        assert_eq!(old["VirtualSize"], 42);
    }

    #[test]
    fn inspect_for_1_50_keeps_legacy_fields() {
        let image = ImageInspect {
            id: Some("sha256:ab".to_owned()),
            author: Some("me".to_owned()),
            config: Some(ImageConfig {
                cmd: Some(vec!["sh".to_owned()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let document = inspect_for_version(image.clone(), &ApiVersion::current(), false).unwrap();
        assert_eq!(document["RepoTags"], json!([]));
        assert_eq!(document["RepoDigests"], json!([]));
        assert_eq!(document["Author"], "me");
        assert_eq!(document["Comment"], "");
        assert_eq!(document["Parent"], "");
        assert_eq!(document["DockerVersion"], "");
        assert_eq!(document["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(document["Config"]["Entrypoint"], Value::Null);
        assert_eq!(document["Config"]["WorkingDir"], "");
        assert!(document["Config"].get("Tty").is_none());

        let old = inspect_for_version(image, &ApiVersion::new("1.43"), false).unwrap();
        assert_eq!(old["Config"]["Tty"], false);
        assert_eq!(old["Config"]["Hostname"], "");
        assert_eq!(old["Created"], "0001-01-01T00:00:00Z");
        assert_eq!(old["Container"], "");
        assert!(old.get("VirtualSize").is_some());
    }

    #[test]
    fn pull_names_the_registry_it_would_use() {
        for (image, registry, reference) in [
            ("busybox", DEFAULT_REGISTRY, "busybox:latest"),
            ("library/busybox", DEFAULT_REGISTRY, "busybox:latest"),
            (
                "docker.io/library/busybox",
                DEFAULT_REGISTRY,
                "busybox:latest",
            ),
            ("docker.io/team/app", DEFAULT_REGISTRY, "team/app:latest"),
            (
                "localhost:5000/app",
                "localhost:5000",
                "localhost:5000/app:latest",
            ),
            ("localhost/app", "localhost", "localhost/app:latest"),
            ("ghcr.io/org/app", "ghcr.io", "ghcr.io/org/app:latest"),
        ] {
            assert_eq!(
                pull_reference(image, Some("latest")),
                (registry.to_owned(), reference.to_owned()),
                "{image}"
            );
        }
    }

    #[test]
    fn import_status_line_is_dockers() {
        let line = serde_json::to_string(&ProgressStatus {
            status: "sha256:ab",
        })
        .unwrap();
        assert_eq!(line, r#"{"status":"sha256:ab"}"#);
    }
}
