//! Everything under `/networks/`: network names may hold `/`, so the name
//! is whatever comes before the action.

use http::Method;
use percent_encoding::percent_decode_str;

use super::{non_empty, Route};

/// Everything after `/networks/`, as dockerd's `{id:.+}` routes on the
/// decoded path: a network name may hold `/` (`GET /networks/a/b`
/// inspects `a/b`), and the fixed routes win.
pub(super) fn match_network_route(method: &Method, rest: &str) -> Option<Route> {
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

#[cfg(test)]
mod tests {
    use super::super::match_route;
    use super::super::tests::id;
    use super::*;

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
}
