//! Runs the built `berth` binary against a fake daemon: a tokio task on a
//! unix socket in a temp dir that answers canned HTTP/1.1 JSON and records
//! every request, so the tests see both what berth printed and what it sent.

// The helpers below run only under these tests; a panic is how they report
// a broken fixture.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Command;

const NETWORKS: &str = r#"[
 {"Name":"bridge","Id":"f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566","Created":"2024-05-01T10:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"net10","Id":"aa11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899","Created":"2024-05-02T11:22:33Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"host","Id":"d9ed8ed6e0f5e2c08d0a6f4a1b7c3e2f10f1e2d3c4b5a69788796a5b4c3d2e1f","Created":"2024-05-01T10:00:00Z","Scope":"local","Driver":"host","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"net9","Id":"bb11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899","Created":"2024-05-02T11:22:33Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}}
]"#;

/// Field order and an unknown field, both of which inspect must keep.
const BRIDGE: &str = r#"{"Name":"bridge","Id":"f2de39df4171","Zeta":{"b":1,"a":[]},"IPAM":{"Driver":"default","Config":[{"Subnet":"172.17.0.0/16"}]}}"#;

const CREATED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Fake {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    async fn start() -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("berth.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, log.clone()));
            }
        });
        Fake {
            _dir: dir,
            socket,
            requests,
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    /// Runs `berth -H <fake> args…` with `stdin` as input.
    async fn berth(&self, args: &[&str], stdin: &str) -> Output {
        let host = self.host();
        let mut argv = vec!["-H", host.as_str()];
        argv.extend_from_slice(args);
        run_berth(&argv, stdin, None).await
    }
}

async fn run_berth(args: &[&str], stdin: &str, env_host: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .env_remove("BERTH_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(h) = env_host {
        cmd.env("BERTH_HOST", h);
    }
    let mut child = cmd.spawn().expect("spawn berth");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    child.wait_with_output().await.expect("berth output")
}

/// Reads one request, records `METHOD TARGET BODY`, answers, closes.
async fn answer(mut stream: UnixStream, log: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.expect("read");
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse().expect("content-length"))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read body");
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    log.lock()
        .expect("lock")
        .push(format!("{method} {target} {body}").trim_end().to_string());

    // Routes ignore the version prefix, like dockerd.
    let path = target.split('?').next().unwrap_or("");
    let path = match path.strip_prefix("/v") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    let (status, reply) = match (method, path) {
        ("GET", "/_ping") => ("200 OK", "OK".to_string()),
        ("GET", "/networks") => ("200 OK", NETWORKS.to_string()),
        ("POST", "/networks/create") => (
            "201 Created",
            format!(r#"{{"Id":"{CREATED_ID}","Warning":""}}"#),
        ),
        ("POST", "/networks/prune") => (
            "200 OK",
            r#"{"NetworksDeleted":["net9","net10"]}"#.to_string(),
        ),
        ("GET", "/networks/bridge") => ("200 OK", BRIDGE.to_string()),
        ("DELETE", "/networks/bridge") => (
            "403 Forbidden",
            r#"{"message":"bridge is a pre-defined network and cannot be removed"}"#.to_string(),
        ),
        ("DELETE", "/networks/net9") => ("204 No Content", String::new()),
        (_, p) if p.starts_with("/networks/") => {
            let name = &p["/networks/".len()..];
            (
                "404 Not Found",
                format!(r#"{{"message":"network {name} not found"}}"#),
            )
        }
        _ => (
            "404 Not Found",
            r#"{"message":"page not found"}"#.to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.50\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn network_ls_prints_dockers_table() {
    let fake = Fake::start().await;
    let out = fake.berth(&["network", "ls"], "").await;
    assert_eq!(text(&out.stderr), "");
    assert_eq!(
        text(&out.stdout),
        "NETWORK ID     NAME      DRIVER    SCOPE\n\
         f2de39df4171   bridge    bridge    local\n\
         d9ed8ed6e0f5   host      host      local\n\
         bb11bb22cc33   net9      bridge    local\n\
         aa11bb22cc33   net10     bridge    local\n"
    );
    assert!(out.status.success());
    assert_eq!(fake.requests(), vec!["GET /_ping", "GET /v1.50/networks"]);
}

#[tokio::test]
async fn network_ls_sends_filters_and_honours_berth_host() {
    let fake = Fake::start().await;
    let host = fake.host();
    let out = run_berth(
        &["network", "list", "-q", "-f", "driver=bridge"],
        "",
        Some(&host),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "f2de39df4171\nd9ed8ed6e0f5\nbb11bb22cc33\naa11bb22cc33\n"
    );
    let requests = fake.requests();
    let query = requests[1]
        .split_once("filters=")
        .map(|(_, q)| q)
        .unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(query)
        .decode_utf8_lossy()
        .to_string();
    assert_eq!(decoded, r#"{"driver":["bridge"]}"#);
}

#[tokio::test]
async fn network_create_prints_the_id_and_sends_the_ipam() {
    let fake = Fake::start().await;
    let out = fake
        .berth(
            &[
                "network",
                "create",
                "--subnet",
                "10.5.0.0/24",
                "--gateway",
                "10.5.0.1",
                "mynet",
            ],
            "",
        )
        .await;
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), format!("{CREATED_ID}\n"));
    assert!(out.status.success());
    let requests = fake.requests();
    let body = requests[1]
        .strip_prefix("POST /v1.50/networks/create ")
        .unwrap_or("");
    let sent: serde_json::Value = serde_json::from_str(body).expect("request body");
    assert_eq!(sent["Name"], "mynet");
    assert_eq!(sent["Driver"], "bridge");
    assert_eq!(
        sent["IPAM"]["Config"],
        serde_json::json!([{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1"}])
    );
}

#[tokio::test]
async fn network_create_rejects_bad_ipam_before_connecting() {
    let fake = Fake::start().await;
    let out = fake
        .berth(
            &[
                "network",
                "create",
                "--subnet",
                "10.5.0.0/24",
                "--gateway",
                "10.6.0.1",
                "mynet",
            ],
            "",
        )
        .await;
    assert_eq!(
        text(&out.stderr),
        "no matching subnet for gateway 10.6.0.1\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn network_inspect_keeps_raw_json_and_reports_missing() {
    let fake = Fake::start().await;
    let out = fake
        .berth(&["network", "inspect", "bridge", "nope"], "")
        .await;
    assert_eq!(
        text(&out.stdout),
        "[\n    {\n        \"Name\": \"bridge\",\n        \"Id\": \"f2de39df4171\",\n        \"Zeta\": {\n            \
         \"b\": 1,\n            \"a\": []\n        },\n        \"IPAM\": {\n            \"Driver\": \"default\",\n            \
         \"Config\": [\n                {\n                    \"Subnet\": \"172.17.0.0/16\"\n                }\n            \
         ]\n        }\n    }\n]\n"
    );
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: network nope not found\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn network_rm_reports_each_network() {
    let fake = Fake::start().await;
    let out = fake
        .berth(&["network", "rm", "net9", "bridge", "nope"], "")
        .await;
    assert_eq!(text(&out.stdout), "net9\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n\
         Error response from daemon: network nope not found\nexit status 1\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let forced = fake.berth(&["network", "remove", "-f", "nope"], "").await;
    assert!(forced.status.success());
    assert_eq!(text(&forced.stdout), "");
}

#[tokio::test]
async fn network_prune_asks_first() {
    let fake = Fake::start().await;
    let declined = fake.berth(&["network", "prune"], "n\n").await;
    assert!(declined.status.success());
    assert_eq!(
        text(&declined.stdout),
        "WARNING! This will remove all custom networks not used by at least one container.\n\
         Are you sure you want to continue? [y/N] "
    );
    assert!(!fake.requests().iter().any(|r| r.contains("prune")));
    let accepted = fake
        .berth(&["network", "prune", "--filter", "until=1h"], "y\n")
        .await;
    assert!(text(&accepted.stdout).ends_with("[y/N] Deleted Networks:\nnet9\nnet10\n\n"));
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.starts_with("POST /v1.50/networks/prune?filters=")));
}

#[tokio::test]
async fn unreachable_daemon_reads_like_docker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = format!("unix://{}", dir.path().join("none.sock").display());
    let out = run_berth(&["-H", &host, "network", "ls"], "", None).await;
    assert_eq!(
        text(&out.stderr),
        format!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?\n")
    );
    assert_eq!(out.status.code(), Some(1));
    let tcp = run_berth(&["-H", "tcp://127.0.0.1:2375", "network", "ls"], "", None).await;
    assert!(text(&tcp.stderr).contains("only supports unix://"));
    assert_eq!(tcp.status.code(), Some(1));
}

#[tokio::test]
async fn usage_errors_use_dockers_statuses() {
    let missing = run_berth(&["network", "create"], "", None).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).starts_with("berth: 'berth network create' requires 1 argument\n")
    );
    let bad_flag = run_berth(&["network", "ls", "--bogus"], "", None).await;
    assert_eq!(bad_flag.status.code(), Some(125));
    let help = run_berth(&["network"], "", None).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text(&help.stdout).contains("Manage networks") || text(&help.stdout).contains("create")
    );
}
