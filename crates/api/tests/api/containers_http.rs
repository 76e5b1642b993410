//! Containers, exec, images and network connect in raw HTTP/1.1: statuses,
//! headers, streaming and hijacked connections as on the wire.

use std::time::Duration;

use crate::support::{
    demux, raw_request, read_head, try_decode_chunked, Call, RawResponse, TestServer,
};
use berth_api::{
    AttachOptions, ContainerListOptions, ExecStartOptions, Filters, ImagePullOptions, LogsOptions,
    StopOptions, TtySize, WaitCondition,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const JSON: &str = "application/json";
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
const UPGRADE: [(&str, &str); 2] = [("Connection", "Upgrade"), ("Upgrade", "tcp")];

async fn post_json(server: &TestServer, path: &str, body: &Value) -> RawResponse {
    server
        .request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &body.to_string(),
        )
        .await
}

/// Creates a container running `cmd`; returns its id.
async fn create(server: &TestServer, name: &str, body: Value) -> String {
    let response = post_json(server, &format!("/containers/create?name={name}"), &body).await;
    assert_eq!(response.status, 201, "{response:?}");
    response.json()["Id"].as_str().unwrap().to_owned()
}

async fn create_cmd(server: &TestServer, name: &str, cmd: &[&str]) -> String {
    create(server, name, json!({"Image": "busybox", "Cmd": cmd})).await
}

async fn start(server: &TestServer, name: &str) {
    let response = server
        .request("POST", &format!("/containers/{name}/start"), &[], "")
        .await;
    assert_eq!(response.status, 204, "{response:?}");
}

/// Sends a request on a new connection and returns the connection, for
/// responses that stream or hijack it.
async fn open(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> UnixStream {
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    stream
        .write_all(raw_request(method, path, headers, body, false).as_bytes())
        .await
        .unwrap();
    stream
}

async fn read_to_end(stream: &mut UnixStream, mut already: Vec<u8>) -> Vec<u8> {
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut already));
    read.await.expect("stream did not end").unwrap();
    already
}

/// A chunked body read from `stream` up to its last chunk, without waiting
/// for the connection to close (keep-alive).
async fn read_chunked(stream: &mut UnixStream, mut raw: Vec<u8>) -> Vec<u8> {
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(body) = try_decode_chunked(&raw) {
            return body;
        }
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("body did not end")
            .unwrap();
        assert!(read > 0, "closed mid-body: {raw:?}");
        raw.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn create_answers_201_with_id_and_passes_the_name() {
    let server = TestServer::start().await;
    let response = post_json(
        &server,
        "/v1.50/containers/create?name=web",
        &json!({"Image": "busybox", "Cmd": "echo hi", "Bogus": 1, "Env": null,
                "HostConfig": {"NetworkMode": "default", "PortBindings": {"80/tcp": null}}}),
    )
    .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("Content-Type"), Some(JSON));
    let created = response.json();
    assert_eq!(created["Id"].as_str().unwrap().len(), 64);
    assert_eq!(created["Warnings"], json!([]));
    let calls = server.backend.calls();
    let Some(Call::ContainerCreate(name, body)) = calls.first() else {
        panic!("{calls:?}");
    };
    assert_eq!(name.as_deref(), Some("web"));
    assert_eq!(body.cmd, Some(vec!["echo hi".to_owned()]));
    let host_config = body.host_config.as_ref().unwrap();
    assert_eq!(host_config.network_mode.as_deref(), Some("bridge"));
    let bindings = host_config.port_bindings.as_ref().unwrap();
    assert_eq!(bindings["80/tcp"].as_ref().unwrap().len(), 1);

    // The container-wide MacAddress is migrated with dockerd's warning.
    let response = post_json(
        &server,
        "/containers/create",
        &json!({"Image": "busybox", "MacAddress": "02:42:ac:11:00:09"}),
    )
    .await;
    assert_eq!(response.status, 201);
    assert_eq!(
        response.json()["Warnings"],
        json!(["The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."])
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn create_refusals_are_dockers() {
    let server = TestServer::start().await;
    for (content_type, body, status, message) in [
        ("application/json", "", 400, "invalid JSON: EOF"),
        ("application/json", "{}", 400, "config cannot be empty in order to create a container"),
        ("text/plain", "{\"Image\":\"a\"}", 400, "unsupported Content-Type header (text/plain): must be 'application/json'"),
        ("application/json", "{\"Image\":\"nope\"}", 404, "No such image: nope:latest"),
        ("application/json", "{\"Image\":\"busybox\",\"HostConfig\":{\"NetworkMode\":\"container:x\",\"PortBindings\":{\"80/tcp\":[]}}}", 400, "conflicting options: port publishing and the container type network mode"),
    ] {
        let response = server
            .request("POST", "/containers/create", &[("Content-Type", content_type)], body)
            .await;
        assert_eq!(response.status, status, "{body}");
        assert_eq!(response.message(), message, "{body}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn start_stop_restart_kill_and_remove() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1000"]).await;
    start(&server, "web").await;

    // Already running: 304 and no body, as dockerd.
    let again = server
        .request("POST", "/containers/web/start", &[], "")
        .await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
    // A pre-1.24 start body is refused; `{}` is not one.
    let body = server
        .request(
            "POST",
            "/containers/web/start",
            &[("Content-Type", "application/json")],
            r#"{"Binds":["/a:/b"]}"#,
        )
        .await;
    assert_eq!(body.status, 400);
    assert_eq!(
        body.message(),
        "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"
    );

    let stop = server
        .request(
            "POST",
            "/v1.41/containers/web/stop?t=3&signal=SIGINT",
            &[],
            "",
        )
        .await;
    assert_eq!(stop.status, 204);
    let stopped_again = server
        .request("POST", "/containers/web/stop", &[], "")
        .await;
    assert_eq!(stopped_again.status, 304);
    let bad = server
        .request("POST", "/containers/web/stop?t=soon", &[], "")
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.message(),
        "strconv.Atoi: parsing \"soon\": invalid syntax"
    );

    let restart = server
        .request(
            "POST",
            "/containers/web/restart?t=-1&signal=SIGINT",
            &[],
            "",
        )
        .await;
    assert_eq!(restart.status, 204);
    let kill = server
        .request("POST", "/containers/web/kill?signal=HUP", &[], "")
        .await;
    assert_eq!(kill.status, 204);
    let kill = server
        .request("POST", "/containers/web/kill", &[], "")
        .await;
    assert_eq!(kill.status, 409);
    assert_eq!(
        kill.message(),
        "cannot kill container: web: container web is not running"
    );
    let kill = server
        .request("POST", "/containers/ghost/kill", &[], "")
        .await;
    assert_eq!(kill.status, 404);
    assert_eq!(
        kill.message(),
        "cannot kill container: ghost: No such container: ghost"
    );

    let remove = server
        .request("DELETE", "/containers/web?force=1&v=true&link=0", &[], "")
        .await;
    assert_eq!(remove.status, 204);
    assert_eq!(remove.body, "");

    let calls = server.backend.calls();
    assert!(calls.contains(&Call::ContainerStop(
        "web".to_owned(),
        StopOptions {
            timeout: Some(3),
            signal: None
        }
    )));
    assert!(calls.contains(&Call::ContainerRestart(
        "web".to_owned(),
        StopOptions {
            timeout: Some(-1),
            signal: Some("SIGINT".to_owned())
        }
    )));
    assert!(calls.contains(&Call::ContainerKill(
        "web".to_owned(),
        Some("HUP".to_owned())
    )));
    assert!(calls.contains(&Call::ContainerRemove(
        "web".to_owned(),
        berth_api::RemoveOptions {
            force: true,
            volumes: true,
            link: false
        }
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn list_and_inspect() {
    let server = TestServer::start().await;
    let id = create_cmd(&server, "web", &["sleep", "1"]).await;
    start(&server, "web").await;
    let filters = crate::support::query_escape(r#"{"name":{"web":true}}"#);
    let list = server
        .get(&format!(
            "/containers/json?all=1&limit=2&size=true&before=x&filters={filters}"
        ))
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()[0]["Id"], id);
    assert_eq!(list.json()[0]["Names"], json!(["/web"]));
    let list = server.get("/containers/json?limit=0").await;
    assert_eq!(list.status, 200);

    let inspect = server.get(&format!("/containers/{}/json", &id[..12])).await;
    assert_eq!(inspect.status, 200);
    let document = inspect.json();
    assert_eq!(document["Id"], id);
    assert_eq!(document["NetworkSettings"]["IPAddress"], "172.17.0.2");
    assert_eq!(document["NetworkSettings"]["HairpinMode"], false);
    let missing = server.get("/containers/ghost/json").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such container: ghost");

    let calls = server.backend.calls();
    assert!(calls.contains(&Call::ContainerList(ContainerListOptions {
        all: true,
        limit: Some(2),
        size: true,
        since: None,
        before: Some("x".to_owned()),
        filters: [("name".to_owned(), vec!["web".to_owned()])].into(),
    })));
    assert!(calls.contains(&Call::ContainerList(ContainerListOptions {
        filters: Filters::new(),
        ..Default::default()
    })));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn wait_sends_headers_at_once_and_the_status_when_the_container_exits() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1000"]).await;
    start(&server, "web").await;

    let mut stream = open(
        &server,
        "POST",
        "/containers/web/wait?condition=next-exit",
        &[],
        "",
    )
    .await;
    // The head arrives while the container still runs.
    let (head, rest) = tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream))
        .await
        .expect("wait headers were not flushed");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some(JSON));
    assert_eq!(head.header("Api-Version"), Some("1.50"));

    let kill = server
        .request("POST", "/containers/web/kill", &[], "")
        .await;
    assert_eq!(kill.status, 204);
    let body = read_chunked(&mut stream, rest).await;
    assert_eq!(body, b"{\"StatusCode\":137}\n");

    // A created container is already not running.
    create_cmd(&server, "fresh", &["echo"]).await;
    let response = server
        .request("POST", "/containers/fresh/wait", &[], "")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"StatusCode": 0}));

    let bad = server
        .request("POST", "/containers/web/wait?condition=soon", &[], "")
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.message(), "invalid condition: \"soon\"");
    let missing = server
        .request("POST", "/containers/ghost/wait", &[], "")
        .await;
    assert_eq!(missing.status, 404);
    // Clients before 1.30 cannot choose the condition.
    let old = server
        .request(
            "POST",
            "/v1.29/containers/fresh/wait?condition=removed",
            &[],
            "",
        )
        .await;
    assert_eq!(old.status, 200);

    let calls = server.backend.calls();
    assert!(calls.contains(&Call::ContainerWait(
        "web".to_owned(),
        WaitCondition::NextExit
    )));
    assert!(calls.contains(&Call::ContainerWait(
        "fresh".to_owned(),
        WaitCondition::NotRunning
    )));
    assert!(!calls.contains(&Call::ContainerWait(
        "fresh".to_owned(),
        WaitCondition::Removed
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn logs_are_multiplexed_without_tty_and_raw_with_one() {
    let server = TestServer::start().await;
    create_cmd(&server, "talker", &["echo", "hello"]).await;
    start(&server, "talker").await;
    create_cmd(&server, "failer", &["fail", "1", "oops"]).await;
    start(&server, "failer").await;
    create(
        &server,
        "tty",
        json!({"Image": "busybox", "Cmd": ["echo", "raw"], "Tty": true}),
    )
    .await;
    start(&server, "tty").await;
    create_cmd(&server, "broken-logs", &["echo", "partial"]).await;
    start(&server, "broken-logs").await;
    for name in ["talker", "failer", "tty", "broken-logs"] {
        let wait = server
            .request("POST", &format!("/containers/{name}/wait"), &[], "")
            .await;
        assert_eq!(wait.status, 200, "{name}");
    }

    let logs = server
        .get("/containers/talker/logs?stdout=1&stderr=1&tail=all")
        .await;
    assert_eq!(logs.status, 200);
    assert_eq!(logs.header("Content-Type"), Some(MULTIPLEXED));
    assert_eq!(demux(&logs.bytes), [(1, "hello\n".to_owned())]);

    let logs = server
        .get("/containers/failer/logs?stdout=1&stderr=1")
        .await;
    assert_eq!(demux(&logs.bytes), [(2, "oops\n".to_owned())]);
    let logs = server.get("/containers/failer/logs?stdout=1").await;
    assert_eq!(logs.bytes, b"");

    // Before 1.42 the type says raw, but the frames are still there.
    let logs = server.get("/v1.41/containers/talker/logs?stdout=1").await;
    assert_eq!(logs.header("Content-Type"), Some(RAW_STREAM));
    assert_eq!(demux(&logs.bytes), [(1, "hello\n".to_owned())]);

    let logs = server
        .get("/containers/tty/logs?stdout=1&timestamps=1")
        .await;
    assert_eq!(logs.header("Content-Type"), Some(RAW_STREAM));
    assert!(
        logs.body.ends_with("Z raw\n")
            && logs.body.len() == "2023-11-14T22:13:20.000000000Z raw\n".len(),
        "{:?}",
        logs.body
    );

    let logs = server.get("/containers/broken-logs/logs?stdout=1").await;
    assert_eq!(
        demux(&logs.bytes),
        [
            (1, "partial\n".to_owned()),
            (3, "Error grabbing logs: log file truncated\n".to_owned())
        ]
    );

    let none = server.get("/containers/talker/logs").await;
    assert_eq!(none.status, 400);
    assert_eq!(
        none.message(),
        "Bad parameters: you must choose at least one stream"
    );
    let missing = server.get("/containers/ghost/logs?stdout=1").await;
    assert_eq!(missing.status, 404);
    let bad_since = server
        .get("/containers/talker/logs?stdout=1&since=yesterday")
        .await;
    assert_eq!(bad_since.status, 400);

    assert!(server.backend.calls().contains(&Call::ContainerLogs(
        "talker".to_owned(),
        LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn attach_with_upgrade_hijacks_the_connection() {
    let server = TestServer::start().await;
    create(
        &server,
        "shell",
        json!({"Image": "busybox", "Cmd": ["sh"], "OpenStdin": true, "StdinOnce": true}),
    )
    .await;

    let mut stream = open(
        &server,
        "POST",
        "/v1.50/containers/shell/attach?stream=1&stdin=1&stdout=1&stderr=1",
        &UPGRADE,
        "",
    )
    .await;
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(head.status, 101);
    assert_eq!(head.reason, "UPGRADED");
    assert_eq!(head.header("Connection"), Some("Upgrade"));
    assert_eq!(head.header("Upgrade"), Some("tcp"));
    assert_eq!(head.header("Content-Type"), Some(MULTIPLEXED));
    assert!(rest.is_empty());

    start(&server, "shell").await;
    stream.write_all(b"hi there\n").await.unwrap();
    stream.write_all(b"exit\n").await.unwrap();
    let output = read_to_end(&mut stream, rest).await;
    assert_eq!(demux(&output), [(1, "got: hi there\r\n".to_owned())]);

    assert!(server.backend.calls().contains(&Call::ContainerAttach(
        "shell".to_owned(),
        AttachOptions {
            stream: true,
            stdin: true,
            stdout: true,
            stderr: true,
            logs: false,
            detach_keys: None
        }
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn attach_content_types_and_refusals() {
    let server = TestServer::start().await;
    create(
        &server,
        "tty",
        json!({"Image": "busybox", "Cmd": ["echo", "raw"], "Tty": true}),
    )
    .await;
    create_cmd(&server, "plain", &["echo", "framed"]).await;

    // A TTY is raw; before 1.42 everything says raw.
    for (path, content_type) in [
        ("/containers/tty/attach?stream=1&stdout=1", RAW_STREAM),
        (
            "/v1.41/containers/plain/attach?stream=1&stdout=1",
            RAW_STREAM,
        ),
    ] {
        let mut stream = open(&server, "POST", path, &UPGRADE, "").await;
        let (head, _) = read_head(&mut stream).await;
        assert_eq!(head.status, 101, "{path}");
        assert_eq!(head.header("Content-Type"), Some(content_type), "{path}");
    }
    start(&server, "tty").await;

    let missing = server
        .request(
            "POST",
            "/containers/ghost/attach?stream=1&stdout=1",
            &UPGRADE,
            "",
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such container: ghost");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn attach_without_upgrade_streams_output_in_the_body() {
    let server = TestServer::start().await;
    create_cmd(&server, "plain", &["echo", "framed"]).await;
    let mut stream = open(
        &server,
        "POST",
        "/containers/plain/attach?stream=1&stdout=1",
        &[],
        "",
    )
    .await;
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some(RAW_STREAM));
    start(&server, "plain").await;
    let body = read_chunked(&mut stream, rest).await;
    assert_eq!(demux(&body), [(1, "framed\n".to_owned())]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn resize_parses_dimensions_like_dockerd() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1"]).await;
    let ok = server
        .request("POST", "/containers/web/resize?h=24&w=80", &[], "")
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, "");
    let bad = server
        .request("POST", "/containers/web/resize?h=-1&w=80", &[], "")
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.message(),
        "invalid resize height \"-1\": value out of range"
    );
    let bad = server
        .request("POST", "/containers/web/resize?h=1", &[], "")
        .await;
    assert_eq!(bad.message(), "invalid resize width \"\": invalid syntax");
    assert!(server.backend.calls().contains(&Call::ContainerResize(
        "web".to_owned(),
        TtySize {
            height: 24,
            width: 80
        }
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn exec_create_start_inspect_and_resize() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1000"]).await;
    start(&server, "web").await;

    let none = post_json(&server, "/containers/web/exec", &json!({"Cmd": []})).await;
    assert_eq!(none.status, 400);
    assert_eq!(none.message(), "No exec command specified");
    let empty = server
        .request("POST", "/containers/web/exec", &[], "")
        .await;
    assert_eq!(empty.message(), "No exec command specified");

    let created = post_json(
        &server,
        "/containers/web/exec",
        &json!({"Cmd": ["echo", "inside"], "AttachStdout": true, "ConsoleSize": [10, 20]}),
    )
    .await;
    assert_eq!(created.status, 201);
    let exec_id = created.json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.json().as_object().unwrap().len(),
        1,
        "{:?}",
        created.body
    );

    let mut stream = open(
        &server,
        "POST",
        &format!("/exec/{exec_id}/start"),
        &[UPGRADE[0], UPGRADE[1], ("Content-Type", "application/json")],
        r#"{"Detach":false,"Tty":false,"ConsoleSize":[10,20]}"#,
    )
    .await;
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(head.status, 101);
    assert_eq!(head.header("Content-Type"), Some(MULTIPLEXED));
    let output = read_to_end(&mut stream, rest).await;
    assert_eq!(demux(&output), [(1, "inside\n".to_owned())]);

    let inspect = server.get(&format!("/exec/{exec_id}/json")).await;
    assert_eq!(inspect.status, 200);
    assert_eq!(inspect.json()["ExitCode"], 0);
    assert_eq!(inspect.json()["Running"], false);

    // Starting it again is the backend's 409, still a plain HTTP answer.
    let again = server
        .request("POST", &format!("/exec/{exec_id}/start"), &UPGRADE, "")
        .await;
    assert_eq!(again.status, 409);

    // Detached: 200 without a body.
    let detached_id = post_json(&server, "/containers/web/exec", &json!({"Cmd": ["echo"]}))
        .await
        .json()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detached = post_json(
        &server,
        &format!("/exec/{detached_id}/start"),
        &json!({"Detach": true, "Tty": true, "ConsoleSize": [5, 6]}),
    )
    .await;
    assert_eq!(detached.status, 200);
    assert_eq!(detached.body, "");

    let resize = server
        .request(
            "POST",
            &format!("/exec/{detached_id}/resize?h=5&w=6"),
            &[],
            "",
        )
        .await;
    assert_eq!(resize.status, 200);
    let missing = server.get("/exec/ghost/json").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such exec instance: ghost");

    let calls = server.backend.calls();
    assert!(calls.contains(&Call::ExecStart(
        exec_id.clone(),
        ExecStartOptions {
            tty: false,
            console_size: None
        },
        false
    )));
    assert!(calls.contains(&Call::ExecStart(
        detached_id.clone(),
        ExecStartOptions {
            tty: true,
            console_size: Some(TtySize {
                height: 5,
                width: 6
            })
        },
        true
    )));
    assert!(calls.contains(&Call::ExecResize(
        detached_id,
        TtySize {
            height: 5,
            width: 6
        }
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn exec_errors_after_the_upgrade_are_written_to_stdout() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1000"]).await;
    start(&server, "web").await;
    let exec_id = post_json(&server, "/containers/web/exec", &json!({"Cmd": ["oops"]}))
        .await
        .json()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = open(
        &server,
        "POST",
        &format!("/exec/{exec_id}/start"),
        &UPGRADE,
        "",
    )
    .await;
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(head.status, 101);
    let output = read_to_end(&mut stream, rest).await;
    assert_eq!(
        demux(&output),
        [(1, "exec failed: oops is not a program\r\n".to_owned())]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn image_routes_keep_names_with_colons_and_slashes() {
    let server = TestServer::start().await;
    let import = server
        .request(
            "POST",
            "/images/create?fromSrc=-&repo=localhost:5000/team/app&tag=v1&changes=CMD%20sh&changes=ENV%20A%3D1",
            &[("Content-Type", "application/x-tar")],
            "not really a tarball",
        )
        .await;
    assert_eq!(import.status, 200);
    assert_eq!(import.header("Content-Type"), Some(JSON));
    assert!(
        import.body.starts_with("{\"status\":\"sha256:") && import.body.ends_with("\"}\r\n"),
        "{:?}",
        import.body
    );

    for name in ["busybox:latest", "busybox", "localhost:5000/team/app:v1"] {
        let inspect = server.get(&format!("/images/{name}/json")).await;
        assert_eq!(inspect.status, 200, "{name}");
        let document = inspect.json();
        assert_eq!(document["RepoDigests"], json!([]), "{name}");
        assert_eq!(document["Comment"], "", "{name}");
    }
    let missing = server.get("/images/nope:1/json").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such image: nope:1");

    let list = server.get("/images/json?all=1&shared-size=1").await;
    assert_eq!(list.status, 200);
    let images = list.json();
    assert_eq!(images.as_array().unwrap().len(), 2);
    assert_eq!(images[0]["Containers"], -1);

    let remove = server
        .request(
            "DELETE",
            "/images/localhost:5000/team/app:v1?force=1&noprune=1",
            &[],
            "",
        )
        .await;
    assert_eq!(remove.status, 200);
    assert_eq!(
        remove.json()[0],
        json!({"Untagged": "localhost:5000/team/app:v1"})
    );
    let blank = server.request("DELETE", "/images/%20", &[], "").await;
    assert_eq!(blank.status, 400);
    assert_eq!(blank.message(), "image name cannot be blank");

    let calls = server.backend.calls();
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::ImageImport(options, 20)
        if options.repo.as_deref() == Some("localhost:5000/team/app")
            && options.tag.as_deref() == Some("v1")
            && options.changes == ["CMD sh", "ENV A=1"])));
    assert!(calls.contains(&Call::ImageInspect("localhost:5000/team/app:v1".to_owned())));
    assert!(calls.contains(&Call::ImageInspect("busybox:latest".to_owned())));
    assert!(calls.contains(&Call::ImageRemove(
        "localhost:5000/team/app:v1".to_owned(),
        berth_api::ImageRemoveOptions {
            force: true,
            prune: false
        }
    )));
    assert!(
        calls.contains(&Call::ImageList(berth_api::ImageListOptions {
            all: true,
            filters: Filters::new(),
            shared_size: true
        }))
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_pull_is_a_plain_error_and_url_import_is_refused() {
    let server = TestServer::start().await;
    let pull = server
        .request(
            "POST",
            "/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=3",
            &[],
            "",
        )
        .await;
    assert_eq!(pull.status, 404);
    assert_eq!(
        pull.message(),
        "pull access denied for docker.io/library/alpine, repository does not exist or may require 'docker login'"
    );
    let url = server
        .request(
            "POST",
            "/images/create?fromSrc=http%3A%2F%2Fexample.com%2Fa.tar",
            &[],
            "",
        )
        .await;
    assert_eq!(url.status, 501);
    // The pull reaches the backend as sent; the URL import does not.
    assert_eq!(
        server.backend.calls(),
        vec![Call::ImagePull(ImagePullOptions {
            image: "docker.io/library/alpine".to_owned(),
            tag: Some("3".to_owned()),
            ..Default::default()
        })]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn network_connect_and_disconnect_answer_200_without_body() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["sleep", "1"]).await;
    let connect = post_json(
        &server,
        "/networks/mynet/connect",
        &json!({"Container": "web", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Aliases": ["db"], "Bogus": 1}}),
    )
    .await;
    assert_eq!(connect.status, 200, "{connect:?}");
    assert_eq!(connect.body, "");
    let disconnect = post_json(
        &server,
        "/networks/mynet/disconnect",
        &json!({"Container": "web", "Force": true}),
    )
    .await;
    assert_eq!(disconnect.status, 200);
    assert_eq!(disconnect.body, "");
    let missing = post_json(&server, "/networks/mynet/connect", &json!({})).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "No such container: ");
    let bad = server
        .request(
            "POST",
            "/networks/mynet/connect",
            &[("Content-Type", "application/json")],
            "{",
        )
        .await;
    assert_eq!(bad.status, 400);

    let calls = server.backend.calls();
    assert!(calls.iter().any(|c| matches!(c, Call::NetworkConnect(network, req)
        if network == "mynet" && req.container == "web"
            && req.endpoint_config.as_ref().and_then(|e| e.aliases.clone()) == Some(vec!["db".to_owned()]))));
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::NetworkDisconnect(network, req)
        if network == "mynet" && req.container == "web" && req.force == Some(true))));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn archive_stat_header_and_refusals_are_dockers() {
    let server = TestServer::start().await;
    create_cmd(&server, "web", &["true"]).await;
    let stat = server
        .request("HEAD", "/containers/web/archive?path=/", &[], "")
        .await;
    assert_eq!(stat.status, 200, "{stat:?}");
    // base64 (URL alphabet) of {"name":"/",...}.
    let header = stat.header("X-Docker-Container-Path-Stat").unwrap();
    assert!(header.starts_with("eyJuYW1lIjoiLyIs"), "{header}");
    let missing = server
        .request("GET", "/containers/web/archive?path=/nope", &[], "")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.message(),
        "Could not find the file /nope in container web"
    );
    let no_path = server
        .request("PUT", "/containers/web/archive", &[], "")
        .await;
    assert_eq!(no_path.status, 400);
    assert_eq!(no_path.message(), "bad parameter: path cannot be empty");
    let changes = server
        .request("GET", "/containers/web/changes", &[], "")
        .await;
    assert_eq!((changes.status, changes.json()), (200, json!([])));
    let export = server
        .request("GET", "/containers/nope/export", &[], "")
        .await;
    assert_eq!(export.status, 404);
    server.stop().await.unwrap();
}
