//! Everything under `/images/`: image names hold `:` and `/`, so the name
//! is whatever comes before the action.

use http::Method;
use percent_encoding::percent_decode_str;

use super::{non_empty, Route};

/// Everything after `/images/`. Like dockerd's router (gorilla/mux on the
/// decoded path), the path is percent-decoded first and the fixed routes win
/// over the `{name:.*}` ones: `GET /images/json` lists, `GET /images/a/json`
/// inspects `a`, `GET /images/a/b:c/json` inspects `a/b:c`.
pub(super) fn match_image_route(method: &Method, rest: &str) -> Option<Route> {
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

#[cfg(test)]
mod tests {
    use super::super::match_route;
    use super::super::tests::id;
    use super::*;

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
}
