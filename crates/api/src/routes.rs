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

use http::Method;
use percent_encoding::percent_decode_str;

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

/// `/containers/{id}/<action>`.
fn container_route(method: &Method, id_or_name: String, action: &str) -> Option<Route> {
    let route = match (method, action) {
        (&Method::GET, "json") => Route::ContainerInspect { id_or_name },
        (&Method::GET, "logs") => Route::ContainerLogs { id_or_name },
        (&Method::POST, "start") => Route::ContainerStart { id_or_name },
        (&Method::POST, "stop") => Route::ContainerStop { id_or_name },
        (&Method::POST, "kill") => Route::ContainerKill { id_or_name },
        (&Method::POST, "restart") => Route::ContainerRestart { id_or_name },
        (&Method::POST, "pause") => Route::ContainerPause { id_or_name },
        (&Method::POST, "unpause") => Route::ContainerUnpause { id_or_name },
        (&Method::POST, "rename") => Route::ContainerRename { id_or_name },
        (&Method::GET, "top") => Route::ContainerTop { id_or_name },
        (&Method::GET, "stats") => Route::ContainerStats { id_or_name },
        (&Method::HEAD, "archive") => Route::ContainerArchiveStat { id_or_name },
        (&Method::GET, "archive") => Route::ContainerArchive { id_or_name },
        (&Method::PUT, "archive") => Route::ContainerExtract { id_or_name },
        (&Method::GET, "export") => Route::ContainerExport { id_or_name },
        (&Method::GET, "changes") => Route::ContainerChanges { id_or_name },
        (&Method::POST, "wait") => Route::ContainerWait { id_or_name },
        (&Method::POST, "attach") => Route::ContainerAttach { id_or_name },
        (&Method::POST, "resize") => Route::ContainerResize { id_or_name },
        (&Method::POST, "update") => Route::ContainerUpdate { id_or_name },
        (&Method::POST, "exec") => Route::ExecCreate {
            container: id_or_name,
        },
        _ => return None,
    };
    Some(route)
}

/// Everything after `/images/`. Like dockerd's router (gorilla/mux on the
/// decoded path), the path is percent-decoded first and the fixed routes win
/// over the `{name:.*}` ones: `GET /images/json` lists, `GET /images/a/json`
/// inspects `a`, `GET /images/a/b:c/json` inspects `a/b:c`.
fn match_image_route(method: &Method, rest: &str) -> Option<Route> {
    let rest = percent_decode_str(rest).decode_utf8().ok()?;
    let route = match (method, rest.as_ref()) {
        (&Method::GET, "json") => Route::ImageList,
        (&Method::POST, "create") => Route::ImageCreate,
        (&Method::POST, "prune") => Route::ImagePrune,
        (&Method::POST, "load") => Route::ImageLoad,
        (&Method::GET, "get") => Route::ImageSave { name: None },
        (&Method::POST, rest) if rest.ends_with("/tag") => Route::ImageTag {
            name: non_empty(rest.strip_suffix("/tag")?)?,
        },
        (&Method::POST, rest) if rest.ends_with("/push") => Route::ImagePush {
            name: non_empty(rest.strip_suffix("/push")?)?,
        },
        (&Method::GET, rest) if rest.ends_with("/get") => Route::ImageSave {
            name: Some(non_empty(rest.strip_suffix("/get")?)?),
        },
        (&Method::GET, rest) if rest.ends_with("/history") => Route::ImageHistory {
            name: non_empty(rest.strip_suffix("/history")?)?,
        },
        (&Method::GET, rest) => Route::ImageInspect {
            name: non_empty(rest.strip_suffix("/json")?)?,
        },
        (&Method::DELETE, name) => Route::ImageRemove {
            name: non_empty(name)?,
        },
        _ => return None,
    };
    Some(route)
}

/// Everything after `/networks/`, as dockerd's `{id:.+}` routes on the
/// decoded path: a network name may hold `/` (`GET /networks/a/b`
/// inspects `a/b`), and the fixed routes win.
fn match_network_route(method: &Method, rest: &str) -> Option<Route> {
    let rest = percent_decode_str(rest).decode_utf8().ok()?;
    let route = match (method, rest.as_ref()) {
        (&Method::GET, "") => Route::NetworkList,
        (&Method::POST, "create") => Route::NetworkCreate,
        (&Method::POST, "prune") => Route::NetworkPrune,
        (&Method::GET, id) => Route::NetworkInspect {
            id_or_name: non_empty(id)?,
        },
        (&Method::DELETE, id) => Route::NetworkRemove {
            id_or_name: non_empty(id)?,
        },
        (&Method::POST, rest) => match rest.strip_suffix("/connect") {
            Some(id) => Route::NetworkConnect {
                id_or_name: non_empty(id)?,
            },
            None => Route::NetworkDisconnect {
                id_or_name: non_empty(rest.strip_suffix("/disconnect")?)?,
            },
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

    fn id(value: &str) -> String {
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
    fn network_routes() {
        assert_eq!(
            match_route(&Method::GET, "/networks"),
            Some(Route::NetworkList)
        );
        assert_eq!(
            match_route(&Method::GET, "/networks/abc"),
            Some(Route::NetworkInspect {
                id_or_name: id("abc")
            })
        );
        assert_eq!(
            match_route(&Method::POST, "/networks/create"),
            Some(Route::NetworkCreate)
        );
        assert_eq!(
            match_route(&Method::POST, "/networks/prune"),
            Some(Route::NetworkPrune)
        );
        assert_eq!(
            match_route(&Method::DELETE, "/networks/abc"),
            Some(Route::NetworkRemove {
                id_or_name: id("abc")
            })
        );
    }

    #[test]
    fn network_connect_routes() {
        assert_eq!(
            match_route(&Method::POST, "/networks/web/connect"),
            Some(Route::NetworkConnect {
                id_or_name: id("web")
            })
        );
        assert_eq!(
            match_route(&Method::POST, "/networks/web/disconnect"),
            Some(Route::NetworkDisconnect {
                id_or_name: id("web")
            })
        );
        // Names may hold `/`, and `connect` is a name like any other.
        assert_eq!(
            match_route(&Method::POST, "/networks/a/b/connect"),
            Some(Route::NetworkConnect {
                id_or_name: id("a/b")
            })
        );
        assert_eq!(
            match_route(&Method::GET, "/networks/web/connect"),
            Some(Route::NetworkInspect {
                id_or_name: id("web/connect")
            })
        );
        assert_eq!(
            match_route(&Method::DELETE, "/networks/a/b"),
            Some(Route::NetworkRemove {
                id_or_name: id("a/b")
            })
        );
        assert_eq!(
            match_route(&Method::GET, "/networks/"),
            Some(Route::NetworkList)
        );
    }

    #[test]
    fn container_routes() {
        let c = || id("c1");
        for (method, path, route) in [
            (Method::POST, "/containers/create", Route::ContainerCreate),
            (Method::GET, "/containers/json", Route::ContainerList),
            (
                Method::GET,
                "/containers/c1/json",
                Route::ContainerInspect { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/logs",
                Route::ContainerLogs { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/start",
                Route::ContainerStart { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/update",
                Route::ContainerUpdate { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/stop",
                Route::ContainerStop { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/kill",
                Route::ContainerKill { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/restart",
                Route::ContainerRestart { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/pause",
                Route::ContainerPause { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/unpause",
                Route::ContainerUnpause { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/rename",
                Route::ContainerRename { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/top",
                Route::ContainerTop { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/stats",
                Route::ContainerStats { id_or_name: c() },
            ),
            (
                Method::HEAD,
                "/containers/c1/archive",
                Route::ContainerArchiveStat { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/archive",
                Route::ContainerArchive { id_or_name: c() },
            ),
            (
                Method::PUT,
                "/containers/c1/archive",
                Route::ContainerExtract { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/export",
                Route::ContainerExport { id_or_name: c() },
            ),
            (
                Method::GET,
                "/containers/c1/changes",
                Route::ContainerChanges { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/wait",
                Route::ContainerWait { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/attach",
                Route::ContainerAttach { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/resize",
                Route::ContainerResize { id_or_name: c() },
            ),
            (
                Method::DELETE,
                "/containers/c1",
                Route::ContainerRemove { id_or_name: c() },
            ),
            (
                Method::POST,
                "/containers/c1/exec",
                Route::ExecCreate { container: c() },
            ),
            // `json` and `create` are only special where dockerd makes them so.
            (
                Method::GET,
                "/containers/json/json",
                Route::ContainerInspect {
                    id_or_name: id("json"),
                },
            ),
            (
                Method::DELETE,
                "/containers/create",
                Route::ContainerRemove {
                    id_or_name: id("create"),
                },
            ),
        ] {
            assert_eq!(match_route(&method, path), Some(route), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/containers/c1/start"),
            (Method::POST, "/containers/c1/json"),
            (Method::POST, "/containers/c1/top"),
            (Method::GET, "/containers/c1"),
            (Method::GET, "/containers//json"),
            (Method::DELETE, "/containers/"),
        ] {
            assert_eq!(match_route(&method, path), None, "{method} {path}");
        }
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
    fn image_names_keep_colons_and_slashes() {
        for (path, name) in [
            ("/images/busybox/json", "busybox"),
            ("/images/busybox:latest/json", "busybox:latest"),
            ("/images/library/busybox:1.36/json", "library/busybox:1.36"),
            (
                "/images/localhost:5000/team/app:v1/json",
                "localhost:5000/team/app:v1",
            ),
            ("/images/sha256:0123abcd/json", "sha256:0123abcd"),
            // The action is the last segment; earlier `json`s are the name's.
            ("/images/json/json", "json"),
            ("/images/a/json/json", "a/json"),
            // Decoded before matching, as dockerd's router does.
            ("/images/team%2Fapp%3Av1/json", "team/app:v1"),
        ] {
            assert_eq!(
                match_route(&Method::GET, path),
                Some(Route::ImageInspect { name: id(name) }),
                "{path}"
            );
        }
        for (path, name) in [
            ("/images/busybox", "busybox"),
            ("/images/busybox:latest", "busybox:latest"),
            (
                "/images/localhost:5000/team/app:v1",
                "localhost:5000/team/app:v1",
            ),
            ("/images/json", "json"),
            ("/images/create", "create"),
        ] {
            assert_eq!(
                match_route(&Method::DELETE, path),
                Some(Route::ImageRemove { name: id(name) }),
                "{path}"
            );
        }
    }

    #[test]
    fn image_tag_push_save_and_load_route() {
        assert_eq!(
            match_route(&Method::POST, "/images/127.0.0.1:5000/app:v1/tag"),
            Some(Route::ImageTag {
                name: "127.0.0.1:5000/app:v1".to_owned()
            })
        );
        assert_eq!(
            match_route(&Method::POST, "/images/127.0.0.1:5000/app/push"),
            Some(Route::ImagePush {
                name: "127.0.0.1:5000/app".to_owned()
            })
        );
        assert_eq!(
            match_route(&Method::GET, "/images/team/app:v1/get"),
            Some(Route::ImageSave {
                name: Some("team/app:v1".to_owned())
            })
        );
        assert_eq!(
            match_route(&Method::GET, "/images/get"),
            Some(Route::ImageSave { name: None })
        );
        assert_eq!(
            match_route(&Method::POST, "/images/load"),
            Some(Route::ImageLoad)
        );
        assert_eq!(match_route(&Method::POST, "/images//tag"), None);
    }

    #[test]
    fn image_fixed_routes_win_over_names() {
        assert_eq!(
            match_route(&Method::GET, "/images/json"),
            Some(Route::ImageList)
        );
        assert_eq!(
            match_route(&Method::POST, "/images/create"),
            Some(Route::ImageCreate)
        );
        for (method, path) in [
            (Method::GET, "/images//json"),
            (Method::GET, "/images/busybox"),
            (Method::DELETE, "/images/"),
            (Method::POST, "/images/busybox/json"),
            (Method::GET, "/images/%FF/json"),
            (Method::GET, "/images"),
        ] {
            assert_eq!(match_route(&method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn literal_segments_are_names_for_other_methods() {
        // As in dockerd: `create` and `prune` are only special for POST.
        assert_eq!(
            match_route(&Method::GET, "/networks/create"),
            Some(Route::NetworkInspect {
                id_or_name: id("create")
            })
        );
        assert_eq!(
            match_route(&Method::DELETE, "/networks/prune"),
            Some(Route::NetworkRemove {
                id_or_name: id("prune")
            })
        );
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
