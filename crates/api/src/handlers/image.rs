//! `/images...` (moby `daemon/server/router/image/image_routes.go`,
//! `inspect_response.go`; the import reply from `internal/streamformatter`).

use bollard_stubs::models::{ImageInspect, ImageSummary};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{json, Value};

use bytes::Bytes;
use futures::StreamExt;

use crate::backend::{
    Backend, ContainerCommitOptions, ImageImportOptions, ImageListOptions, ImagePullOptions,
    ImageRemoveOptions, ProgressMessage, PullStream,
};
use crate::error::ApiError;
use crate::handlers::{to_json_value, value_response};
use crate::request::{
    bool_param, filters_param, non_empty_param, query_param, query_params, read_json_body,
};
use crate::response::{
    json_response, response, streaming_response, ResponseBody, CONTENT_TYPE_JSON,
};
use crate::stream::RequestBody;
use crate::version::ApiVersion;

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
        let options = ImagePullOptions {
            image,
            tag: non_empty_param(&uri, "tag"),
            platform: non_empty_param(&uri, "platform"),
            registry_auth: registry_auth(&request),
        };
        return progress_response(backend.image_pull(options).await?).await;
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

fn registry_auth(request: &Request<Incoming>) -> Option<String> {
    request
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `POST /images/{name}/push?tag=` (`docker push`).
pub(super) async fn push<B: Backend>(
    backend: &B,
    name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let tag = non_empty_param(request.uri(), "tag");
    let auth = registry_auth(&request);
    progress_response(backend.image_push(name, tag, auth).await?).await
}

/// dockerd writes nothing before a pull's or push's first message, so one
/// refused up front (no such image, registry unreachable) is a plain error
/// response; once it streams, a failure is an `error` message in band.
async fn progress_response(mut messages: PullStream) -> Result<Response<ResponseBody>, ApiError> {
    let first = match messages.next().await {
        Some(Ok(first)) => first,
        Some(Err(err)) => return Err(err),
        None => {
            return Ok(streaming_response(
                CONTENT_TYPE_JSON,
                futures::stream::empty(),
            ))
        }
    };
    let lines = futures::stream::once(async { Ok(first) })
        .chain(messages)
        .map(|message| Bytes::from(progress_line(&message)));
    Ok(streaming_response(CONTENT_TYPE_JSON, lines))
}

/// One line of the stream: the message, or an error as dockerd writes it.
fn progress_line(message: &Result<ProgressMessage, ApiError>) -> Vec<u8> {
    let mut line = match message {
        Ok(message) => serde_json::to_vec(message).unwrap_or_default(),
        Err(err) => json!({"errorDetail": {"message": err.message}, "error": err.message})
            .to_string()
            .into_bytes(),
    };
    line.extend_from_slice(b"\r\n");
    line
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

/// `GET /images/{name}/get`, `GET /images/get?names=` (`docker save`):
/// the archive as it is written.
pub(super) async fn save<B: Backend>(
    backend: &B,
    name: Option<String>,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let names = match name {
        Some(name) => vec![name],
        None => query_params(uri, "names"),
    };
    if names.is_empty() {
        return Err(ApiError::invalid_parameter(
            "no images to save: name at least one",
        ));
    }
    let archive = backend.image_save(names).await?;
    Ok(streaming_response("application/x-tar", archive))
}

/// `POST /images/load` (`docker load`): the archive is read to its end
/// before the answer, one `stream` message per image as dockerd writes.
pub(super) async fn load<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let archive = RequestBody::from_incoming(request.into_body());
    let loaded = backend.image_load(archive).await?;
    let mut body = Vec::new();
    for line in loaded {
        body.extend_from_slice(
            json!({"stream": format!("{line}\n")})
                .to_string()
                .as_bytes(),
        );
        body.extend_from_slice(b"\r\n");
    }
    let mut reply = response(StatusCode::OK, body);
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    Ok(reply)
}

/// `POST /images/{name}/tag?repo=&tag=` (`docker tag`): 201, no body.
pub(super) async fn tag<B: Backend>(
    backend: &B,
    name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let uri = request.uri();
    let repo = non_empty_param(uri, "repo").ok_or_else(|| {
        ApiError::invalid_parameter("repository name must have at least one component")
    })?;
    backend
        .image_tag(name, repo, non_empty_param(uri, "tag"))
        .await?;
    Ok(response(StatusCode::CREATED, Bytes::new()))
}

/// `GET /images/{name}/history`.
pub(super) async fn history<B: Backend>(
    backend: &B,
    name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    json_response(StatusCode::OK, &backend.image_history(name).await?)
}

/// `POST /commit`: dockerd pauses unless `pause` is given false, and
/// answers 201 `{"Id": …}`. A container config in the body (which the
/// docker CLI never sends) is refused by name: berth takes `--change` only.
pub(super) async fn commit<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let uri = request.uri().clone();
    let options = ContainerCommitOptions {
        container: query_param(&uri, "container").unwrap_or_default(),
        repo: non_empty_param(&uri, "repo"),
        tag: non_empty_param(&uri, "tag"),
        comment: query_param(&uri, "comment").unwrap_or_default(),
        author: query_param(&uri, "author").unwrap_or_default(),
        pause: query_param(&uri, "pause").is_none_or(|_| bool_param(&uri, "pause")),
        changes: query_params(&uri, "changes"),
    };
    let body = read_json_body(request).await?;
    if body.as_object().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::not_implemented(
            "berth does not take a container config with a commit: use --change",
        ));
    }
    let id = backend.container_commit(options).await?;
    json_response(StatusCode::CREATED, &json!({ "Id": id }))
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
    fn progress_lines_are_dockers() {
        use crate::backend::ProgressDetail;
        let message = ProgressMessage {
            status: "Downloading".to_owned(),
            progress_detail: Some(ProgressDetail {
                current: Some(1),
                total: Some(2),
            }),
            id: Some("abc".to_owned()),
        };
        assert_eq!(
            progress_line(&Ok(message)),
            b"{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},\"id\":\"abc\"}\r\n"
        );
        let err = ApiError::internal("boom");
        assert_eq!(
            progress_line(&Err(err)),
            b"{\"error\":\"boom\",\"errorDetail\":{\"message\":\"boom\"}}\r\n"
        );
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
