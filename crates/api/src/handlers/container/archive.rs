//! `docker cp`, `export` and `diff` (moby
//! `daemon/server/router/container/copy.go`).

use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::backend::{Backend, ContainerPathStat, ExtractOptions};
use crate::error::ApiError;
use crate::request::{bool_param, query_param};
use crate::response::{empty_response, json_response, streaming_response, ResponseBody};
use crate::stream::RequestBody;

/// Where dockerd puts a path's stat.
const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";
const CONTENT_TYPE_TAR: &str = "application/x-tar";

/// `?path=`, required (dockerd's `badParameterError`).
fn path_param(uri: &Uri) -> Result<String, ApiError> {
    query_param(uri, "path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter("bad parameter: path cannot be empty"))
}

/// The stat as dockerd sends it: JSON, base64 with the URL alphabet.
fn stat_header(stat: &ContainerPathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::internal(format!("encoding the path stat failed: {e}")))?;
    HeaderValue::from_str(&base64_url(&json))
        .map_err(|e| ApiError::internal(format!("encoding the path stat failed: {e}")))
}

/// Go's `base64.URLEncoding` (URL alphabet, padded).
fn base64_url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(in crate::handlers) async fn archive_stat<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let stat = backend
        .container_stat_path(id_or_name, path_param(uri)?)
        .await?;
    let mut response = empty_response(StatusCode::OK);
    response
        .headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

pub(in crate::handlers) async fn archive<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let (stat, tar) = backend
        .container_archive(id_or_name, path_param(uri)?)
        .await?;
    let mut response = streaming_response(CONTENT_TYPE_TAR, tar);
    response
        .headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

pub(in crate::handlers) async fn extract<B: Backend>(
    backend: &B,
    id_or_name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let uri = request.uri().clone();
    let path = path_param(&uri)?;
    let options = ExtractOptions {
        no_overwrite_dir_non_dir: bool_param(&uri, "noOverwriteDirNonDir"),
        copy_uid_gid: bool_param(&uri, "copyUIDGID"),
    };
    let tarball = RequestBody::from_incoming(request.into_body());
    backend
        .container_extract(id_or_name, path, options, tarball)
        .await?;
    Ok(empty_response(StatusCode::OK))
}

pub(in crate::handlers) async fn export<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    let tar = backend.container_export(id_or_name).await?;
    Ok(streaming_response(CONTENT_TYPE_TAR, tar))
}

pub(in crate::handlers) async fn changes<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    let changes = backend.container_changes(id_or_name).await?;
    json_response(StatusCode::OK, &changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_go_url_encoding_with_padding() {
        assert_eq!(base64_url(b""), "");
        assert_eq!(base64_url(b"f"), "Zg==");
        assert_eq!(base64_url(b"fo"), "Zm8=");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn stat_header_is_the_json_dockerd_sends() {
        let stat = ContainerPathStat {
            name: "hosts".into(),
            size: 5,
            mode: 0o644,
            mtime: "2026-01-02T03:04:05.000000006Z".into(),
            link_target: String::new(),
        };
        let header = stat_header(&stat).unwrap();
        let want = base64_url(
            br#"{"name":"hosts","size":5,"mode":420,"mtime":"2026-01-02T03:04:05.000000006Z","linkTarget":""}"#,
        );
        assert_eq!(header.to_str().unwrap(), want);
    }
}
