//! The HTTP surface in raw HTTP/1.1: headers, status codes and bodies as on the wire.

use std::time::Duration;

use crate::support::{query_escape, raw_request, Call, RawResponse, TestServer, CREATED_ID};
use berth_api::Filters;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn filters(pairs: &[(&str, &[&str])]) -> Filters {
    pairs
        .iter()
        .map(|(key, values)| {
            (
                key.to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect()
}

fn assert_daemon_headers(response: &RawResponse) {
    assert_eq!(response.header("Api-Version"), Some("1.50"), "{response:?}");
    assert_eq!(response.header("Ostype"), Some("linux"), "{response:?}");
    assert_eq!(
        response.header("Docker-Experimental"),
        Some("false"),
        "{response:?}"
    );
    let server = response.header("Server").unwrap();
    assert!(
        server.starts_with("berth/") && server.ends_with("(linux)"),
        "{server}"
    );
}

#[tokio::test]
async fn ping_get_answers_ok_with_dockers_headers() {
    let server = TestServer::start().await;
    let response = server.get("/_ping").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "OK");
    assert_eq!(response.header("Content-Type"), Some(TEXT));
    assert_eq!(
        response.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(response.header("Pragma"), Some("no-cache"));
    assert_eq!(response.header("Swarm"), Some("inactive"));
    assert_daemon_headers(&response);
    // Title case on the wire, as dockerd (Go) writes them.
    assert!(
        response
            .headers
            .iter()
            .any(|(name, _)| name == "Api-Version"),
        "{response:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn ping_head_has_headers_and_no_body() {
    let server = TestServer::start().await;
    let response = server.request("HEAD", "/_ping", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "");
    assert_eq!(response.header("Content-Length"), Some("0"));
    assert_eq!(response.header("Content-Type"), Some(TEXT));
    assert_eq!(response.header("Pragma"), Some("no-cache"));
    assert_daemon_headers(&response);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn versioned_paths_reach_the_same_routes() {
    let server = TestServer::start().await;
    for path in [
        "/v1.24/_ping",
        "/v1.41/_ping",
        "/v1.50/_ping",
        "/v1.50.0/_ping",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, "OK", "{path}");
    }
    let response = server.get("/v1.50/networks").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json().as_array().unwrap().len(), 2);
    assert_eq!(
        server.backend.calls(),
        vec![Call::NetworkList(Filters::new())]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn too_new_version_is_400_with_dockers_text() {
    let server = TestServer::start().await;
    let response = server.get("/v1.52/networks").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("Content-Type"), Some(JSON));
    assert_eq!(
        response.message(),
        "client version 1.52 is too new. Maximum supported API version is 1.50"
    );
    assert_daemon_headers(&response);
    assert_eq!(server.backend.calls(), vec![]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn too_old_version_is_400_in_plain_text_like_dockerd() {
    let server = TestServer::start().await;
    let response = server.get("/v1.12/networks").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("Content-Type"), Some(TEXT));
    assert_eq!(
        response.body,
        "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\n"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_404_page_not_found() {
    let server = TestServer::start().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/v1.50/nope"),
        ("GET", "/v1.99/nope"),
        ("GET", "/v1.50"),
        ("PUT", "/networks"),
        ("POST", "/networks/abc"),
        ("POST", "/_ping"),
        // dockerd lists on `GET /networks/`; nothing deletes `/networks/`.
        ("DELETE", "/networks/"),
    ] {
        let response = server.request(method, path, &[], "").await;
        assert_eq!(response.status, 404, "{method} {path}");
        assert_eq!(
            response.header("Content-Type"),
            Some(JSON),
            "{method} {path}"
        );
        assert_eq!(response.message(), "page not found", "{method} {path}");
        assert_daemon_headers(&response);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn options_is_200_without_body() {
    let server = TestServer::start().await;
    let response = server.request("OPTIONS", "/v1.50/networks", &[], "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn swarm_endpoints_are_503_not_a_manager() {
    let server = TestServer::start().await;
    for (method, path) in [
        ("GET", "/swarm"),
        ("POST", "/v1.50/swarm/init"),
        ("POST", "/swarm/leave"),
    ] {
        let response = server.request(method, path, &[], "").await;
        assert_eq!(response.status, 503, "{method} {path}");
        assert_eq!(
            response.message(),
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn version_declares_our_api_range() {
    let server = TestServer::start().await;
    let response = server.get("/version").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some(JSON));
    let version = response.json();
    assert_eq!(version["ApiVersion"], "1.50");
    assert_eq!(version["MinAPIVersion"], "1.24");
    assert_eq!(version["Version"], "0.1.0");
    assert!(response.body.ends_with('\n'));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn info_is_passed_through() {
    let server = TestServer::start().await;
    let response = server.get("/v1.44/info").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["Name"], "stub-host");
    assert_eq!(server.backend.calls(), vec![Call::Info]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn auth_hands_dockers_auth_config_to_the_backend() {
    let server = TestServer::start().await;
    let body = r#"{"username":"me","password":"secret","serveraddress":"reg:5000"}"#;
    let response = server
        .request(
            "POST",
            "/v1.44/auth",
            &[("Content-Type", "application/json")],
            body,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["Status"], "Login Succeeded");
    assert_eq!(
        server.backend.calls(),
        vec![Call::SystemAuth("me".into(), "reg:5000".into())]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn network_list_and_inspect_are_v1_50_shapes() {
    let server = TestServer::start().await;
    let list = server.get("/networks").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("Content-Type"), Some(JSON));
    let networks = list.json();
    assert_eq!(networks[0]["Name"], "bridge");
    assert_eq!(networks[0]["Containers"], json!({}));
    assert!(networks[0].get("Status").is_none(), "{networks}");

    let inspect = server.get("/networks/web?verbose=true&scope=local").await;
    assert_eq!(inspect.status, 200);
    let network = inspect.json();
    assert_eq!(network["Name"], "web");
    assert_eq!(network["Id"], CREATED_ID);
    assert!(network.get("Status").is_none(), "{network}");
    assert_eq!(
        server.backend.calls().last(),
        Some(&Call::NetworkInspect("web".to_owned()))
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn filters_reach_the_backend_normalised_from_either_encoding() {
    let server = TestServer::start().await;
    let set_form = query_escape(r#"{"name":{"web":true},"driver":{"bridge":true}}"#);
    let list_form = query_escape(r#"{"name":["web"],"driver":["bridge","bridge"]}"#);
    assert_eq!(
        server
            .get(&format!("/networks?filters={set_form}"))
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .get(&format!("/v1.24/networks?filters={list_form}"))
            .await
            .status,
        200
    );
    let prune = server
        .request(
            "POST",
            &format!("/networks/prune?filters={set_form}"),
            &[],
            "",
        )
        .await;
    assert_eq!(prune.status, 200);
    assert_eq!(prune.json(), json!({"NetworksDeleted": ["old"]}));

    let expected = filters(&[("driver", &["bridge"]), ("name", &["web"])]);
    assert_eq!(
        server.backend.calls(),
        vec![
            Call::NetworkList(expected.clone()),
            Call::NetworkList(expected.clone()),
            Call::NetworkPrune(expected),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_filters_are_400_invalid_filter() {
    let server = TestServer::start().await;
    let response = server
        .get(&format!("/networks?filters={}", query_escape("{name")))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.message(), "invalid filter");
    let response = server
        .request("POST", "/networks/prune?filters=%5B%5D", &[], "")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(server.backend.calls(), vec![]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn network_create_ignores_unknown_and_null_fields() {
    let server = TestServer::start().await;
    let body = json!({
        "Name": "web",
        "CheckDuplicate": true,
        "Driver": null,
        "Internal": false,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.1.0.0/24", "Gateway": null}], "Options": null},
        "Options": {},
        "Labels": {"com.example": "yes"},
        "ConfigFrom": null,
        "SomethingNew": {"nested": [1, 2, 3]}
    })
    .to_string();
    let response = server
        .request(
            "POST",
            "/v1.50/networks/create",
            &[("Content-Type", "application/json")],
            &body,
        )
        .await;
    assert_eq!(response.status, 201, "{response:?}");
    assert_eq!(response.header("Content-Type"), Some(JSON));
    assert_eq!(response.json(), json!({"Id": CREATED_ID, "Warning": ""}));

    let calls = server.backend.calls();
    let [Call::NetworkCreate(create)] = calls.as_slice() else {
        panic!("expected one create, got {calls:?}");
    };
    assert_eq!(create.name, "web");
    assert_eq!(create.driver, None);
    assert_eq!(create.internal, Some(false));
    assert_eq!(create.config_from, None);
    let ipam = create.ipam.as_ref().unwrap();
    let config = ipam.config.as_ref().unwrap();
    assert_eq!(config[0].subnet.as_deref(), Some("10.1.0.0/24"));
    assert_eq!(config[0].gateway, None);
    assert_eq!(create.labels.as_ref().unwrap()["com.example"], "yes");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn network_create_bad_bodies_are_400_and_never_reach_the_backend() {
    let server = TestServer::start().await;
    let json_header = [("Content-Type", "application/json")];
    for (content_type, body, message) in [
        (
            "application/json",
            r#"{"Name": "web""#,
            "invalid JSON: unexpected EOF",
        ),
        (
            "application/json",
            r#"{"Name": null}"#,
            "invalid name: name is empty",
        ),
        ("application/json", "", "invalid name: name is empty"),
        (
            "application/json",
            r#"{"Name": "a"} trailing"#,
            "unexpected content after JSON",
        ),
        (
            "text/plain",
            r#"{"Name": "a"}"#,
            "unsupported Content-Type header (text/plain): must be 'application/json'",
        ),
    ] {
        let response = server
            .request(
                "POST",
                "/networks/create",
                &[("Content-Type", content_type)],
                body,
            )
            .await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.message(), message, "{body}");
    }
    let response = server
        .request("POST", "/networks/create", &json_header, "{nope}")
        .await;
    assert_eq!(response.status, 400);
    assert!(
        response.message().starts_with("invalid JSON: "),
        "{response:?}"
    );
    assert_eq!(server.backend.calls(), vec![]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn backend_error_kinds_become_statuses_and_message_bodies() {
    let server = TestServer::start().await;
    for (name, status, message) in [
        ("missing", 404, "network missing not found"),
        ("kind-invalid", 400, "bad value"),
        ("kind-forbidden", 403, "not allowed"),
        ("kind-notfound", 404, "no such thing"),
        ("kind-conflict", 409, "conflicts"),
        ("kind-notimplemented", 501, "not in berth"),
        ("kind-unavailable", 503, "try later"),
        ("kind-internal", 500, "it broke"),
    ] {
        let response = server.get(&format!("/networks/{name}")).await;
        assert_eq!(response.status, status, "{name}");
        assert_eq!(response.header("Content-Type"), Some(JSON), "{name}");
        assert_eq!(response.json(), json!({ "message": message }), "{name}");
        assert_daemon_headers(&response);
    }
    let response = server
        .request(
            "POST",
            "/networks/create",
            &[("Content-Type", "application/json")],
            r#"{"Name":"taken"}"#,
        )
        .await;
    assert_eq!(response.status, 409);
    assert_eq!(response.message(), "network with name taken already exists");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn network_delete_is_204_without_body() {
    let server = TestServer::start().await;
    let response = server
        .request("DELETE", "/v1.50/networks/web", &[], "")
        .await;
    assert_eq!(response.status, 204);
    assert_eq!(response.body, "");
    assert_eq!(response.header("Content-Type"), None);
    assert_daemon_headers(&response);

    let response = server.request("DELETE", "/networks/bridge", &[], "").await;
    assert_eq!(response.status, 403);
    assert_eq!(
        response.message(),
        "bridge is a pre-defined network and cannot be removed"
    );
    let response = server.request("DELETE", "/networks/busy", &[], "").await;
    assert_eq!(response.status, 409);
    assert_eq!(
        server.backend.calls(),
        vec![
            Call::NetworkRemove("web".to_owned()),
            Call::NetworkRemove("bridge".to_owned()),
            Call::NetworkRemove("busy".to_owned()),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn path_parameters_are_percent_decoded() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/networks/my%2Dnet").await.status, 200);
    assert_eq!(
        server.backend.calls(),
        vec![Call::NetworkInspect("my-net".to_owned())]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn keep_alive_connection_serves_several_requests_and_shutdown_closes_it() {
    let server = TestServer::start().await;
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(raw_request("GET", "/_ping", &[], "", false).as_bytes())
            .await
            .unwrap();
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        let response = RawResponse::parse(&buffer[..read]);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "OK");
    }
    // The idle keep-alive connection must not hold shutdown for the whole
    // grace period: graceful shutdown closes idle connections at once.
    let stopped = tokio::time::timeout(Duration::from_secs(3), server.stop()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");
}

#[tokio::test]
async fn after_shutdown_the_socket_refuses_connections() {
    let server = TestServer::start().await;
    let socket = server.socket.clone();
    assert_eq!(server.get("/_ping").await.status, 200);
    let (result, _dir) = server.stop_keeping_dir().await;
    result.unwrap();
    assert!(socket.exists());
    // A child forked by another test of this process at the wrong moment
    // holds a copy of the listener until it execs (CLOEXEC): allow that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let err = loop {
        match UnixStream::connect(&socket).await {
            Err(e) => break e,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Ok(_) => panic!("the socket still accepts connections after shutdown"),
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn volume_routes_reach_the_backend() {
    let server = TestServer::start().await;
    let created = server
        .request(
            "POST",
            "/v1.50/volumes/create",
            &[("Content-Type", JSON)],
            r#"{"Name":"data"}"#,
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["Name"], "data");
    let empty = server
        .request("POST", "/v1.50/volumes/create", &[], "")
        .await;
    assert_eq!(
        empty.status, 201,
        "an empty body is a volume without a name"
    );
    assert_eq!(
        server.get("/v1.50/volumes").await.json()["Volumes"][0]["Name"],
        "data"
    );
    assert_eq!(server.get("/v1.50/volumes/data").await.status, 200);
    let removed = server
        .request("DELETE", "/v1.50/volumes/data?force=1", &[], "")
        .await;
    assert_eq!(removed.status, 204);
    for version in ["1.50", "1.41"] {
        let pruned = server
            .request("POST", &format!("/v{version}/volumes/prune"), &[], "")
            .await;
        assert_eq!(pruned.status, 200);
    }
    let calls = server.backend.calls();
    assert_eq!(
        calls[calls.len() - 3..],
        [
            Call::VolumeRemove("data".to_owned(), true),
            Call::VolumePrune(Filters::new()),
            // Before 1.42 a prune took named volumes too.
            Call::VolumePrune(filters(&[("all", &["true"])])),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn prune_and_disk_usage_routes_reach_the_backend() {
    let server = TestServer::start().await;
    let label = query_escape(r#"{"label":{"keep":true}}"#);
    let pruned = server
        .request(
            "POST",
            &format!("/v1.50/containers/prune?filters={label}"),
            &[],
            "",
        )
        .await;
    assert_eq!(pruned.status, 200);
    assert_eq!(pruned.json()["SpaceReclaimed"], 0);
    let dangling = query_escape(r#"{"dangling":{"false":true}}"#);
    let pruned = server
        .request(
            "POST",
            &format!("/v1.50/images/prune?filters={dangling}"),
            &[],
            "",
        )
        .await;
    assert_eq!(pruned.status, 200);
    let all = server.get("/v1.50/system/df").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["BuildCache"], json!([]));
    let some = server
        .get("/v1.50/system/df?type=volume&type=image")
        .await
        .json();
    assert!(some.get("Containers").is_none(), "{some}");
    assert_eq!(some["Volumes"], json!([]));
    let bad = server.get("/v1.50/system/df?type=thing").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["message"], "unknown object type: thing");
    let build = server.request("POST", "/v1.50/build/prune", &[], "").await;
    assert_eq!(build.status, 200);
    assert_eq!(
        build.json(),
        json!({"CachesDeleted": [], "SpaceReclaimed": 0})
    );

    let calls = server.backend.calls();
    assert_eq!(
        calls[calls.len() - 4..],
        [
            Call::ContainerPrune(filters(&[("label", &["keep"])])),
            Call::ImagePrune(filters(&[("dangling", &["false"])])),
            Call::SystemDataUsage(berth_api::DataUsageOptions::default()),
            Call::SystemDataUsage(berth_api::DataUsageOptions {
                containers: false,
                images: true,
                volumes: true,
                build_cache: false,
            }),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn events_stream_json_lines_with_the_legacy_fields_and_check_the_window() {
    let server = TestServer::start().await;
    let types = query_escape(r#"{"type":["network"]}"#);
    let events = server
        .get(&format!("/v1.50/events?since=1&until=2.5&filters={types}"))
        .await;
    assert_eq!(events.status, 200);
    let line = events.json();
    assert_eq!(line["Type"], "network");
    assert_eq!(line["Action"], "create");
    assert_eq!(line["Actor"]["Attributes"]["name"], "n1");
    assert_eq!(line["scope"], "local");
    assert!(line.get("status").is_none(), "{line}");

    let bad = server.get("/v1.50/events?since=yesterday").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.message(),
        r#"invalid value for 'since': invalid timestamp "yesterday": invalid seconds "yesterday": invalid syntax"#
    );
    let backwards = server.get("/v1.50/events?since=20&until=10").await;
    assert_eq!(backwards.status, 400);
    assert_eq!(
        backwards.message(),
        "`since` time (20) cannot be after `until` time (10)"
    );

    let calls = server.backend.calls();
    assert_eq!(
        calls.last(),
        Some(&Call::Events(berth_api::EventsQuery {
            since: Some(1_000_000_000),
            until: Some(2_500_000_000),
            filters: filters(&[("type", &["network"])]),
        }))
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn commit_pauses_by_default_and_refuses_a_config_body() {
    let server = TestServer::start().await;
    let response = server
        .request(
            "POST",
            "/commit?container=c1&repo=app&tag=v1&comment=hi&changes=CMD+%5B%22sh%22%5D",
            &[("Content-Type", JSON)],
            "null",
        )
        .await;
    assert_eq!(response.status, 201, "{response:?}");
    assert_eq!(response.json()["Id"], format!("sha256:{}", "c".repeat(64)));
    let Some(Call::ContainerCommit(options)) = server.backend.calls().last().cloned() else {
        panic!("{:?}", server.backend.calls());
    };
    assert!(options.pause);
    assert_eq!(
        (
            options.container.as_str(),
            options.repo.as_deref(),
            options.tag.as_deref()
        ),
        ("c1", Some("app"), Some("v1"))
    );
    assert_eq!(options.changes, ["CMD [\"sh\"]"]);

    let unpaused = server
        .request("POST", "/commit?container=c1&pause=0", &[], "")
        .await;
    assert_eq!(unpaused.status, 201);
    let Some(Call::ContainerCommit(options)) = server.backend.calls().last().cloned() else {
        panic!();
    };
    assert!(!options.pause);

    let calls = server.backend.calls().len();
    let refused = server
        .request(
            "POST",
            "/commit?container=c1",
            &[("Content-Type", JSON)],
            r#"{"Cmd":["sh"]}"#,
        )
        .await;
    assert_eq!(refused.status, 501, "{refused:?}");
    assert_eq!(server.backend.calls().len(), calls);

    let history = server.get("/images/busybox/history").await;
    assert_eq!((history.status, history.json()), (200, json!([])));
    server.stop().await.unwrap();
}
