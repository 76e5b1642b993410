//! The route table: method + path (version prefix already removed) to a typed
//! [`Route`]. Pure, so every route is unit-tested without a socket.
//!
//! Adding an endpoint: a variant here, an arm in [`match_route`], and an arm in
//! `handlers::dispatch`. Handlers receive the whole `hyper` request, so one that
//! must take over the connection (attach, exec start) can call
//! `hyper::upgrade::on(&mut request)` and answer `101`/`200` with the
//! connection continuing as a raw stream (the server enables upgrades).

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
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segments.first() == Some(&"swarm") {
        return Some(Route::Swarm);
    }
    let route = match (method, segments.as_slice()) {
        (&Method::GET, ["_ping"]) => Route::Ping { head: false },
        (&Method::HEAD, ["_ping"]) => Route::Ping { head: true },
        (&Method::GET, ["version"]) => Route::Version,
        (&Method::GET, ["info"]) => Route::Info,
        (&Method::GET, ["networks"]) => Route::NetworkList,
        (&Method::GET, ["networks", id]) => Route::NetworkInspect {
            id_or_name: path_parameter(id)?,
        },
        (&Method::POST, ["networks", "create"]) => Route::NetworkCreate,
        (&Method::POST, ["networks", "prune"]) => Route::NetworkPrune,
        (&Method::DELETE, ["networks", id]) => Route::NetworkRemove {
            id_or_name: path_parameter(id)?,
        },
        _ => return None,
    };
    Some(route)
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
            (Method::GET, "/networks/"),
            (Method::GET, "/networks/a/b"),
            (Method::GET, "/networks//"),
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
