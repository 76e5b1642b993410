//! The route table: method + path (version prefix already removed) to a typed
//! [`Route`]. Pure, so every route is unit-tested without a socket.
//!
//! Adding an endpoint: a variant here, an arm in [`match_route`], and an arm in
//! `handlers::dispatch`. Handlers receive the whole `hyper` request, so the
//! ones that take over the connection (attach, exec start) can do so through
//! `crate::hijack` (the server enables upgrades).
//!
//! Image names contain `:` and may contain `/` (`localhost:5000/team/app:v1`),
//! so image routes take everything between `/images/` and the action, as
//! dockerd's `/images/{name:.*}/json` pattern does.
//!
//! This file holds [`Route`], the top-level table and the fixed paths;
//! `containers`, `images` and `networks` match the paths under their noun
//! that carry a name or an action.

use http::Method;
use percent_encoding::percent_decode_str;

mod containers;
mod images;
mod networks;

use containers::container_route;
use images::match_image_route;
use networks::match_network_route;

/// An endpoint with the parameters taken from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `OPTIONS` on any path: dockerd answers 200 with no body (CORS pre-flight).
    Options,
    /// `GET` / `HEAD /_ping`.
    Ping { head: bool },
    /// `GET /version`.
    Version,
    /// `GET /info`.
    Info,
    /// `GET /berth/nodes` (berth's own).
    NodeList,
    /// `DELETE /berth/nodes/{id}` (berth's own).
    NodeRemove { id: String },
    /// `GET /networks`.
    NetworkList,
    /// `GET /networks/{id}`.
    NetworkInspect { id_or_name: String },
    /// `POST /networks/create`.
    NetworkCreate,
    /// `DELETE /networks/{id}`.
    NetworkRemove { id_or_name: String },
    /// `POST /networks/prune`.
    NetworkPrune,
    /// `POST /networks/{id}/connect`.
    NetworkConnect { id_or_name: String },
    /// `POST /networks/{id}/disconnect`.
    NetworkDisconnect { id_or_name: String },
    /// `POST /containers/create`.
    ContainerCreate,
    /// `GET /containers/json`.
    ContainerList,
    /// `POST /containers/prune`.
    ContainerPrune,
    /// `GET /containers/{id}/json`.
    ContainerInspect { id_or_name: String },
    /// `POST /containers/{id}/start`.
    ContainerStart { id_or_name: String },
    /// `POST /containers/{id}/stop`.
    ContainerStop { id_or_name: String },
    /// `POST /containers/{id}/kill`.
    ContainerKill { id_or_name: String },
    /// `POST /containers/{id}/restart`.
    ContainerRestart { id_or_name: String },
    /// `POST /containers/{id}/pause`.
    ContainerPause { id_or_name: String },
    /// `POST /containers/{id}/unpause`.
    ContainerUnpause { id_or_name: String },
    /// `POST /containers/{id}/rename?name=`.
    ContainerRename { id_or_name: String },
    /// `GET /containers/{id}/stats`.
    ContainerStats { id_or_name: String },
    /// `GET /containers/{id}/top?ps_args=`.
    ContainerTop { id_or_name: String },
    /// `HEAD /containers/{id}/archive?path=`.
    ContainerArchiveStat { id_or_name: String },
    /// `GET /containers/{id}/archive?path=`.
    ContainerArchive { id_or_name: String },
    /// `PUT /containers/{id}/archive?path=`.
    ContainerExtract { id_or_name: String },
    /// `GET /containers/{id}/export`.
    ContainerExport { id_or_name: String },
    /// `GET /containers/{id}/changes`.
    ContainerChanges { id_or_name: String },
    /// `DELETE /containers/{id}`.
    ContainerRemove { id_or_name: String },
    /// `POST /containers/{id}/wait`.
    ContainerWait { id_or_name: String },
    /// `GET /containers/{id}/logs`.
    ContainerLogs { id_or_name: String },
    /// `POST /containers/{id}/attach`.
    ContainerAttach { id_or_name: String },
    /// `POST /containers/{id}/resize`.
    ContainerResize { id_or_name: String },
    /// `POST /containers/{id}/update`.
    ContainerUpdate { id_or_name: String },
    /// `POST /containers/{id}/exec`.
    ExecCreate { container: String },
    /// `POST /exec/{id}/start`.
    ExecStart { exec_id: String },
    /// `POST /exec/{id}/resize`.
    ExecResize { exec_id: String },
    /// `GET /exec/{id}/json`.
    ExecInspect { exec_id: String },
    /// `POST /images/create` (import or pull).
    ImageCreate,
    /// `GET /images/json`.
    ImageList,
    /// `GET /images/{name}/json`.
    ImageInspect { name: String },
    /// `DELETE /images/{name}`.
    ImageRemove { name: String },
    /// `POST /images/{name}/tag`.
    ImageTag { name: String },
    /// `POST /images/{name}/push`.
    ImagePush { name: String },
    /// `GET /images/{name}/history`.
    ImageHistory { name: String },
    /// `POST /commit`.
    ContainerCommit,
    /// `POST /build`.
    Build,
    /// `POST /auth` (`docker login`).
    Auth,
    /// `POST /images/load`.
    ImageLoad,
    /// `GET /images/{name}/get` (`names` empty) and `GET /images/get`
    /// (the names in the query).
    ImageSave { name: Option<String> },
    /// `POST /images/prune`.
    ImagePrune,
    /// `GET /system/df`.
    SystemDataUsage,
    /// `GET /events`.
    Events,
    /// `POST /build/prune`: berth builds nothing, so it has no cache.
    BuildPrune,
    /// `GET /volumes`.
    VolumeList,
    /// `GET /volumes/{name}`.
    VolumeInspect { name: String },
    /// `POST /volumes/create`.
    VolumeCreate,
    /// `DELETE /volumes/{name}`.
    VolumeRemove { name: String },
    /// `POST /volumes/prune`.
    VolumePrune,
    /// `/swarm` and everything under it, any method: berth is never a swarm
    /// manager, so each answers like a dockerd outside a swarm.
    Swarm,
}

/// Finds the route for `method` and `path`, or `None` (answered 404 `page not
/// found`; dockerd answers a known path with the wrong method the same way).
///
/// Path parameters are percent-decoded; an empty parameter (`/networks/`) or a
/// parameter that is not UTF-8 after decoding matches nothing, as in dockerd's
/// router where `{id}` must be non-empty.
pub(crate) fn match_route(method: &Method, path: &str) -> Option<Route> {
    if method == Method::OPTIONS {
        return Some(Route::Options);
    }
    if let Some(rest) = path.strip_prefix("/images/") {
        return match_image_route(method, rest);
    }
    if let Some(rest) = path.strip_prefix("/networks/") {
        return match_network_route(method, rest);
    }
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segments.first() == Some(&"swarm") {
        return Some(Route::Swarm);
    }
    let route = match (method, segments.as_slice()) {
        (&Method::GET, ["_ping"]) => Route::Ping { head: false },
        (&Method::HEAD, ["_ping"]) => Route::Ping { head: true },
        (&Method::GET, ["version"]) => Route::Version,
        (&Method::GET, ["info"]) => Route::Info,
        (&Method::GET, ["berth", "nodes"]) => Route::NodeList,
        (&Method::DELETE, ["berth", "nodes", id]) => Route::NodeRemove {
            id: path_parameter(id)?,
        },
        (&Method::POST, ["auth"]) => Route::Auth,
        (&Method::GET, ["system", "df"]) => Route::SystemDataUsage,
        (&Method::GET, ["events"]) => Route::Events,
        (&Method::POST, ["build", "prune"]) => Route::BuildPrune,
        (&Method::POST, ["commit"]) => Route::ContainerCommit,
        (&Method::POST, ["build"]) => Route::Build,
        (&Method::GET, ["networks"]) => Route::NetworkList,
        (&Method::GET, ["volumes"]) => Route::VolumeList,
        (&Method::POST, ["volumes", "create"]) => Route::VolumeCreate,
        (&Method::POST, ["volumes", "prune"]) => Route::VolumePrune,
        (&Method::GET, ["volumes", name]) => Route::VolumeInspect {
            name: path_parameter(name)?,
        },
        (&Method::DELETE, ["volumes", name]) => Route::VolumeRemove {
            name: path_parameter(name)?,
        },
        (&Method::POST, ["containers", "create"]) => Route::ContainerCreate,
        (&Method::GET, ["containers", "json"]) => Route::ContainerList,
        (&Method::POST, ["containers", "prune"]) => Route::ContainerPrune,
        (&Method::DELETE, ["containers", id]) => Route::ContainerRemove {
            id_or_name: path_parameter(id)?,
        },
        (_, ["containers", id, action]) => container_route(method, path_parameter(id)?, action)?,
        (&Method::POST, ["exec", id, "start"]) => Route::ExecStart {
            exec_id: path_parameter(id)?,
        },
        (&Method::POST, ["exec", id, "resize"]) => Route::ExecResize {
            exec_id: path_parameter(id)?,
        },
        (&Method::GET, ["exec", id, "json"]) => Route::ExecInspect {
            exec_id: path_parameter(id)?,
        },
        _ => return None,
    };
    Some(route)
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn path_parameter(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn id(value: &str) -> String {
        value.to_owned()
    }

    #[test]
    fn prune_and_disk_usage_routes() {
        assert_eq!(
            match_route(&Method::POST, "/containers/prune"),
            Some(Route::ContainerPrune)
        );
        assert_eq!(
            match_route(&Method::POST, "/images/prune"),
            Some(Route::ImagePrune)
        );
        assert_eq!(
            match_route(&Method::GET, "/system/df"),
            Some(Route::SystemDataUsage)
        );
        assert_eq!(match_route(&Method::GET, "/containers/prune"), None);
        assert_eq!(match_route(&Method::POST, "/system/df"), None);
        assert_eq!(
            match_route(&Method::POST, "/build/prune"),
            Some(Route::BuildPrune)
        );
        assert_eq!(
            match_route(&Method::POST, "/commit"),
            Some(Route::ContainerCommit)
        );
        assert_eq!(match_route(&Method::POST, "/build"), Some(Route::Build));
        assert_eq!(
            match_route(&Method::GET, "/images/a/b:c/history"),
            Some(Route::ImageHistory { name: id("a/b:c") })
        );
    }

    #[test]
    fn volume_routes() {
        assert_eq!(
            match_route(&Method::GET, "/volumes"),
            Some(Route::VolumeList)
        );
        assert_eq!(
            match_route(&Method::POST, "/volumes/create"),
            Some(Route::VolumeCreate)
        );
        assert_eq!(
            match_route(&Method::POST, "/volumes/prune"),
            Some(Route::VolumePrune)
        );
        assert_eq!(
            match_route(&Method::GET, "/volumes/data"),
            Some(Route::VolumeInspect { name: id("data") })
        );
        assert_eq!(
            match_route(&Method::DELETE, "/volumes/data"),
            Some(Route::VolumeRemove { name: id("data") })
        );
        assert_eq!(match_route(&Method::DELETE, "/volumes/"), None);
    }

    #[test]
    fn system_routes() {
        assert_eq!(
            match_route(&Method::GET, "/_ping"),
            Some(Route::Ping { head: false })
        );
        assert_eq!(
            match_route(&Method::HEAD, "/_ping"),
            Some(Route::Ping { head: true })
        );
        assert_eq!(match_route(&Method::GET, "/version"), Some(Route::Version));
        assert_eq!(match_route(&Method::GET, "/info"), Some(Route::Info));
        assert_eq!(
            match_route(&Method::GET, "/berth/nodes"),
            Some(Route::NodeList)
        );
        assert_eq!(
            match_route(&Method::DELETE, "/berth/nodes/abc"),
            Some(Route::NodeRemove { id: "abc".into() })
        );
        assert_eq!(match_route(&Method::GET, "/events"), Some(Route::Events));
        assert_eq!(match_route(&Method::POST, "/auth"), Some(Route::Auth));
    }

    #[test]
    fn exec_routes() {
        let e = || id("e1");
        assert_eq!(
            match_route(&Method::POST, "/exec/e1/start"),
            Some(Route::ExecStart { exec_id: e() })
        );
        assert_eq!(
            match_route(&Method::POST, "/exec/e1/resize"),
            Some(Route::ExecResize { exec_id: e() })
        );
        assert_eq!(
            match_route(&Method::GET, "/exec/e1/json"),
            Some(Route::ExecInspect { exec_id: e() })
        );
        assert_eq!(match_route(&Method::GET, "/exec/e1/start"), None);
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        assert_eq!(
            match_route(&Method::GET, "/networks/my%20net"),
            Some(Route::NetworkInspect {
                id_or_name: id("my net")
            })
        );
        assert_eq!(match_route(&Method::GET, "/networks/%FF"), None);
    }

    #[test]
    fn swarm_answers_every_method_and_subpath() {
        for method in [Method::GET, Method::POST, Method::DELETE, Method::HEAD] {
            for path in ["/swarm", "/swarm/init", "/swarm/join/extra"] {
                assert_eq!(
                    match_route(&method, path),
                    Some(Route::Swarm),
                    "{method} {path}"
                );
            }
        }
        assert_eq!(match_route(&Method::GET, "/swarmy"), None);
    }

    #[test]
    fn options_matches_any_path() {
        assert_eq!(
            match_route(&Method::OPTIONS, "/anything/at/all"),
            Some(Route::Options)
        );
    }

    #[test]
    fn unknown_paths_and_wrong_methods_match_nothing() {
        for (method, path) in [
            (Method::GET, "/nope"),
            (Method::GET, "/"),
            (Method::GET, ""),
            (Method::POST, "/networks//connect"),
            (Method::POST, "/_ping"),
            (Method::HEAD, "/version"),
            (Method::PUT, "/networks"),
            (Method::POST, "/networks"),
            (Method::POST, "/networks/abc"),
            (Method::DELETE, "/networks"),
        ] {
            assert_eq!(match_route(&method, path), None, "{method} {path}");
        }
    }
}
