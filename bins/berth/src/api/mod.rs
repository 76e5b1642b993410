//! The connection to berthd: host selection, API version negotiation, and
//! the requests the commands make, all over one HTTP/1.1 client (`raw`):
//! the ping (docker reads a response header), inspect (printed verbatim),
//! the container, image and network-attachment endpoints (`container`,
//! `image`), which need hijacked streams, streamed bodies and docker's exact
//! query spelling, and the network and system requests below, decoded into
//! the Engine API's generated models (`bollard-stubs`).

mod container;
mod image;
pub mod raw;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use bollard_stubs::models::{
    Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse, SystemInfo,
    SystemVersion,
};
use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;

pub use container::{ExecStart, WaitCondition, WaitError, WaitHandle};
pub use raw::Conn;
use raw::{Query, ReqBody};

/// Where berthd listens unless `-H` or `BERTH_HOST` say otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The API version the CLI asks for: docker 28.2's default, and the one
/// berthd declares. An older daemon makes the CLI downgrade, like docker.
pub const CLIENT_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 50,
};

/// Per-request timeout (docker's client has none; bollard's default), except
/// for streams, which last as long as what they follow.
const TIMEOUT_SECS: u64 = 120;

/// Characters escaped in a path segment (a network, container or image
/// reference; `:` and `@` stay, as docker leaves them in image names).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: usize,
    pub minor: usize,
}

impl ApiVersion {
    fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.trim().split_once('.')?;
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// docker's rule: use the server's version when it is older than ours;
/// keep ours when the server does not say.
pub fn negotiate(client: ApiVersion, server: Option<ApiVersion>) -> ApiVersion {
    server.map_or(client, |s| s.min(client))
}

/// A daemon address; only `unix://` sockets exist for berth.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    url: String,
    socket: PathBuf,
}

impl Host {
    pub fn parse(url: &str) -> Result<Host, String> {
        match url.strip_prefix("unix://") {
            Some("") => Err(format!(
                "invalid host {url:?}: the unix socket path is empty"
            )),
            Some(path) => Ok(Host {
                url: url.to_string(),
                socket: PathBuf::from(path),
            }),
            None => Err(format!(
                "invalid host {url:?}: berth only supports unix:// sockets (e.g. {DEFAULT_HOST})"
            )),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A failed request, displayed the way docker prints it.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// The daemon answered with an error status and `{"message": …}`.
    Daemon { status: u16, message: String },
    /// No answer: the socket is missing, refused, forbidden, or the
    /// exchange broke. The text is complete (docker's wording).
    Transport(String),
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Daemon { status: 404, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
            ApiError::Transport(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for ApiError {}

/// docker's texts for a socket that cannot be reached.
fn connect_error(host: &Host, err: &io::Error) -> ApiError {
    let url = host.url();
    ApiError::Transport(match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            format!("Cannot connect to the berth daemon at {url}. Is the berth daemon running?")
        }
        io::ErrorKind::PermissionDenied => {
            format!("permission denied while trying to connect to the berth daemon socket at {url}: {err}")
        }
        _ => format!("error during connect: {err}"),
    })
}

fn transport_error(err: &dyn std::error::Error) -> ApiError {
    ApiError::Transport(format!("error during connect: {err}"))
}

/// The daemon's error body: `{"message": …}`, or the raw text otherwise.
fn daemon_error(status: StatusCode, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    ApiError::Daemon {
        status: status.as_u16(),
        message,
    }
}

/// `GET /_ping` (unversioned), answered with any status: its headers
/// matter even on an error.
async fn ping(host: &Host) -> Result<http::response::Parts, ApiError> {
    let exchange = async {
        let request = raw::build(Method::GET, "/_ping", None, false, ReqBody::Full(None))?;
        let (parts, body) = raw::send(host, request).await?.into_parts();
        raw::read_all(body).await?;
        Ok(parts)
    };
    raw::within_timeout(host, exchange).await
}

/// Escapes a name or id for use as one path segment.
fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// A connected client; clones share the connection settings (each request
/// opens its own connection).
#[derive(Clone)]
pub struct Api {
    host: Host,
    version: ApiVersion,
}

impl Api {
    /// Pings the daemon (`GET /_ping`) and adopts its `Api-Version` when it
    /// is older than ours, as docker's client does.
    pub async fn connect(host: &Host) -> Result<Api, ApiError> {
        let server = ping(host)
            .await?
            .headers
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiVersion::parse);
        let version = negotiate(CLIENT_API_VERSION, server);
        Ok(Api {
            host: host.clone(),
            version,
        })
    }

    /// The negotiated API version.
    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    pub async fn list_networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<Network>, ApiError> {
        self.get_json("/networks", filters_query(&filters)).await
    }

    pub async fn create_network(
        &self,
        request: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        let body = serde_json::to_value(&request)
            .map_err(|e| ApiError::Transport(format!("invalid request: {e}")))?;
        let answer = self
            .call(Method::POST, "/networks/create", Query::new(), Some(&body))
            .await?;
        decode(&answer)
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), ApiError> {
        let path = format!("/networks/{}", segment(name));
        self.call(Method::DELETE, &path, Query::new(), None)
            .await
            .map(drop)
    }

    pub async fn prune_networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<NetworkPruneResponse, ApiError> {
        let answer = self
            .call(
                Method::POST,
                "/networks/prune",
                filters_query(&filters),
                None,
            )
            .await?;
        decode(&answer)
    }

    /// `GET /networks/{name}` with the body exactly as the daemon sent it.
    pub async fn inspect_network_raw(&self, name: &str, verbose: bool) -> Result<String, ApiError> {
        // docker's client spells this one `true`.
        let query = if verbose {
            Query::new().set("verbose", "true")
        } else {
            Query::new()
        };
        self.get_text(&format!("/networks/{}", segment(name)), query)
            .await
    }

    /// A `GET` whose body is printed verbatim.
    async fn get_text(&self, path: &str, query: Query) -> Result<String, ApiError> {
        let body = self.call(Method::GET, path, query, None).await?;
        String::from_utf8(body.to_vec())
            .map_err(|e| ApiError::Transport(format!("invalid response from daemon: {e}")))
    }

    /// A `GET` whose body is one of the API's models.
    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: Query) -> Result<T, ApiError> {
        let body = self.call(Method::GET, path, query, None).await?;
        decode(&body)
    }

    pub async fn version(&self) -> Result<SystemVersion, ApiError> {
        self.get_json("/version", Query::new()).await
    }

    pub async fn info(&self) -> Result<SystemInfo, ApiError> {
        self.get_json("/info", Query::new()).await
    }

    /// `GET /berth/nodes`: berth's own.
    pub async fn list_nodes<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.get_json("/berth/nodes", Query::new()).await
    }

    /// `DELETE /berth/nodes/{id}`: berth's own.
    pub async fn remove_node(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/berth/nodes/{}", segment(id));
        self.call(Method::DELETE, &path, Query::new(), None)
            .await
            .map(drop)
    }
}

/// A response body as one of the API's models.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Transport(format!("invalid response from daemon: {e}")))
}

/// docker's `filters` query parameter (`{"name":["x"]}`), omitted when
/// there are no filters, as docker omits it.
fn filters_query(filters: &HashMap<String, Vec<String>>) -> Query {
    if filters.is_empty() {
        return Query::new();
    }
    let json = serde_json::to_string(filters).unwrap_or_default();
    Query::new().set("filters", json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = Host::parse("unix:///tmp/b.sock");
        assert_eq!(h.as_ref().map(Host::url), Ok("unix:///tmp/b.sock"));
        assert_eq!(h.map(|h| h.socket), Ok(PathBuf::from("/tmp/b.sock")));
        assert!(
            Host::parse("tcp://1.2.3.4:2375").is_err_and(|e| e.contains("only supports unix://"))
        );
        assert!(Host::parse("/run/berth/berth.sock").is_err());
        assert!(Host::parse("unix://").is_err());
    }

    #[test]
    fn negotiation_only_downgrades() {
        let v = |minor| ApiVersion { major: 1, minor };
        assert_eq!(negotiate(v(50), Some(v(45))), v(45));
        assert_eq!(negotiate(v(50), Some(v(52))), v(50));
        assert_eq!(negotiate(v(50), None), v(50));
        assert_eq!(ApiVersion::parse("1.50"), Some(v(50)));
        assert_eq!(ApiVersion::parse("x"), None);
    }

    #[test]
    fn errors_read_like_docker() {
        let host = Host {
            url: "unix:///x.sock".into(),
            socket: "/x.sock".into(),
        };
        let refused = connect_error(&host, &io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            refused.to_string(),
            "Cannot connect to the berth daemon at unix:///x.sock. Is the berth daemon running?"
        );
        let nf = daemon_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"network x not found"}"#,
        );
        assert!(nf.is_not_found());
        assert_eq!(
            nf.to_string(),
            "Error response from daemon: network x not found"
        );
        let text = daemon_error(StatusCode::BAD_GATEWAY, b"upstream broke\n");
        assert_eq!(
            text.to_string(),
            "Error response from daemon: upstream broke"
        );
        assert!(!text.is_not_found());
    }

    #[test]
    fn names_are_escaped_as_one_segment() {
        assert_eq!(segment("net-1_a.b"), "net-1_a.b");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
