//! `/containers/{id}/<action>`: the actions on one container, `exec`
//! included.

use http::Method;

use super::Route;

/// `/containers/{id}/<action>`.
pub(super) fn container_route(method: &Method, id_or_name: String, action: &str) -> Option<Route> {
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

#[cfg(test)]
mod tests {
    use super::super::match_route;
    use super::super::tests::id;
    use super::*;

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
}
