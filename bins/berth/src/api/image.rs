//! Image endpoints, with docker 28.2's query spelling and lenient decoding.

use http::Method;
use hyper::body::Incoming;
use percent_encoding::{utf8_percent_encode, AsciiSet};
use serde_json::Value;

use super::raw::{Query, ReqBody};
use super::{Api, ApiError, SEGMENT};

/// An image reference in a path keeps its `/`s, as docker sends
/// `library/busybox` (the daemon matches the rest of the path).
const IMAGE: &AsciiSet = &SEGMENT.remove(b'/');

fn image_path(name: &str, suffix: &str) -> String {
    format!("/images/{}{suffix}", utf8_percent_encode(name, IMAGE))
}

fn array(bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(ApiError::Transport(format!(
            "invalid response from daemon: {e}"
        ))),
    }
}

impl Api {
    /// `GET /images/json`.
    pub async fn list_images(&self, query: Query) -> Result<Vec<Value>, ApiError> {
        array(&self.call(Method::GET, "/images/json", query, None).await?)
    }

    /// `GET /images/{name}/json` exactly as the daemon sent it.
    pub async fn inspect_image_raw(&self, name: &str) -> Result<String, ApiError> {
        self.get_text(&image_path(name, "/json"), Query::new())
            .await
    }

    /// `DELETE /images/{name}`: the untagged and deleted references.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Value>, ApiError> {
        let query = Query::new().flag("force", force);
        array(
            &self
                .call(Method::DELETE, &image_path(name, ""), query, None)
                .await?,
        )
    }

    /// `POST /images/create?fromSrc=-` with the tarball as the body; the
    /// answer is a stream of JSON progress messages.
    pub async fn import_image(&self, query: Query, tarball: ReqBody) -> Result<Incoming, ApiError> {
        self.open(Method::POST, "/images/create", query, tarball)
            .await
    }

    /// `POST /images/create?fromImage=` (a pull): a stream of JSON
    /// progress messages.
    pub async fn pull_image(&self, query: Query) -> Result<Incoming, ApiError> {
        self.open(Method::POST, "/images/create", query, ReqBody::Full(None))
            .await
    }

    /// `POST /images/{name}/push`: a stream of JSON progress messages.
    pub async fn push_image(&self, name: &str, query: Query) -> Result<Incoming, ApiError> {
        self.open(
            Method::POST,
            &image_path(name, "/push"),
            query,
            ReqBody::Full(None),
        )
        .await
    }

    /// `POST /images/{name}/tag`.
    pub async fn tag_image(&self, name: &str, query: Query) -> Result<(), ApiError> {
        self.call(Method::POST, &image_path(name, "/tag"), query, None)
            .await
            .map(drop)
    }
}
