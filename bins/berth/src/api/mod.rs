//! The connection to berthd: host selection, API version negotiation, and
//! the requests the commands make. The network and system requests are
//! typed bollard calls; everything else is raw HTTP/1.1 (`raw`): the ping
//! (docker reads a response header), inspect (printed verbatim: bollard's
//! models would drop fields and reorder keys), and the container, image and
//! network-attachment endpoints (`container`, `image`), which need hijacked
//! streams, streamed bodies, docker's exact query spelling and bodies, and
//! docker's lenient decoding.

mod container;
mod image;
pub mod raw;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use bollard::models::{
    Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse, SystemInfo,
    SystemVersion,
};
use bollard::query_parameters::{ListNetworksOptions, PruneNetworksOptions};
use bollard::{BollardRequest, ClientVersion, Docker};
use http::{Method, StatusCode, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

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

/// Per-request timeout; bollard's default, applied to raw requests too
/// (except streams, which last as long as what they follow).
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

/// The daemon's error body: `{"message": …}`, or the raw text otherwise
/// (what bollard does for its typed requests).
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

fn from_bollard(host: &Host, err: bollard::errors::Error) -> ApiError {
    use bollard::errors::Error as B;
    match err {
        B::DockerResponseServerError {
            status_code,
            message,
        } => ApiError::Daemon {
            status: status_code,
            message,
        },
        B::SocketNotFoundError(_) => connect_error(host, &io::Error::from(io::ErrorKind::NotFound)),
        other => {
            // Connection failures arrive wrapped by hyper; the io::Error
            // underneath decides docker's wording.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&other);
            while let Some(e) = source {
                if let Some(io_err) = e.downcast_ref::<io::Error>() {
                    return connect_error(host, io_err);
                }
                source = e.source();
            }
            ApiError::Transport(other.to_string())
        }
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

/// docker's `filters` query value; `None` when there are no filters, so the
/// parameter is omitted as docker omits it.
fn filters_param(filters: HashMap<String, Vec<String>>) -> Option<HashMap<String, Vec<String>>> {
    (!filters.is_empty()).then_some(filters)
}

/// bollard 0.21 builds its URLs with `Url::join` on an absolute path,
/// which drops the `/v1.xx` prefix it meant to add. Put it back, so the
/// daemon applies the negotiated version's semantics as it does for
/// docker's requests; also drop the bare `?` bollard leaves when a request
/// has no query.
fn versioned(mut request: BollardRequest, prefix: &str) -> BollardRequest {
    let uri = request.uri();
    let already = uri
        .path()
        .strip_prefix("/v")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = target.strip_suffix('?').unwrap_or(target);
    let target = if already {
        target.to_string()
    } else {
        format!("{prefix}{target}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = target.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// A connected client; clones share the connection settings (each request
/// opens its own connection).
#[derive(Clone)]
pub struct Api {
    docker: Docker,
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
        let socket = host.socket.to_str().ok_or_else(|| {
            ApiError::Transport(format!(
                "invalid host {:?}: the socket path is not UTF-8",
                host.url()
            ))
        })?;
        let client_version = ClientVersion {
            major_version: version.major,
            minor_version: version.minor,
        };
        let prefix = format!("/v{version}");
        let docker = Docker::connect_with_unix(socket, TIMEOUT_SECS, &client_version)
            .map_err(|e| from_bollard(host, e))?
            .with_request_modifier(move |request| versioned(request, &prefix));
        Ok(Api {
            docker,
            host: host.clone(),
            version,
        })
    }

    /// The negotiated API version.
    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    fn err(&self, e: bollard::errors::Error) -> ApiError {
        from_bollard(&self.host, e)
    }

    pub async fn list_networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<Network>, ApiError> {
        let options = ListNetworksOptions {
            filters: filters_param(filters),
        };
        self.docker
            .list_networks(Some(options))
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn create_network(
        &self,
        request: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        self.docker
            .create_network(request)
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), ApiError> {
        self.docker
            .remove_network(&segment(name))
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn prune_networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<NetworkPruneResponse, ApiError> {
        let options = PruneNetworksOptions {
            filters: filters_param(filters),
        };
        self.docker
            .prune_networks(Some(options))
            .await
            .map_err(|e| self.err(e))
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

    pub async fn version(&self) -> Result<SystemVersion, ApiError> {
        self.docker.version().await.map_err(|e| self.err(e))
    }

    pub async fn info(&self) -> Result<SystemInfo, ApiError> {
        self.docker.info().await.map_err(|e| self.err(e))
    }
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
    fn bollard_requests_get_the_version_prefix() {
        let target = |uri: &str| {
            let request = http::Request::builder()
                .uri(uri)
                .body(bollard::body_full(hyper::body::Bytes::new()))
                .map(|r| versioned(r, "/v1.50"));
            request.map(|r| r.uri().to_string()).unwrap_or_default()
        };
        assert_eq!(
            target("unix://2f782e736f636b/networks?"),
            "unix://2f782e736f636b/v1.50/networks"
        );
        assert_eq!(
            target("unix://2f782e736f636b/networks/prune?filters=%7B%7D"),
            "unix://2f782e736f636b/v1.50/networks/prune?filters=%7B%7D"
        );
        assert_eq!(
            target("unix://2f782e736f636b/v1.45/version"),
            "unix://2f782e736f636b/v1.45/version"
        );
    }

    #[test]
    fn names_are_escaped_as_one_segment() {
        assert_eq!(segment("net-1_a.b"), "net-1_a.b");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
