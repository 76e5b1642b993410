//! The network commands against `serve` over the stub backend.

use berth_api::testing::CREATED_ID;

use crate::daemon::Daemon;
use crate::{run_berth, text};

#[tokio::test]
async fn network_ls_prints_dockers_table() {
    let daemon = Daemon::start().await;
    let out = daemon.berth(&["network", "ls"], "").await;
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
    assert_eq!(daemon.requests(), vec!["GET /_ping", "GET /v1.50/networks"]);
}

#[tokio::test]
async fn network_ls_sends_filters_and_honours_berth_host() {
    let daemon = Daemon::start().await;
    let host = daemon.host();
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
    let requests = daemon.requests();
    let query = requests[1]
        .split_once("filters=")
        .map(|(_, q)| q)
        .unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(query)
        .decode_utf8_lossy()
        .to_string();
    assert_eq!(decoded, r#"{"driver":["bridge"]}"#);
}

/// `network create --subnet 10.5.0.0/24 --gateway GATEWAY mynet`.
async fn create_mynet(daemon: &Daemon, gateway: &str) -> std::process::Output {
    let args = [
        "network",
        "create",
        "--subnet",
        "10.5.0.0/24",
        "--gateway",
        gateway,
        "mynet",
    ];
    daemon.berth(&args, "").await
}

#[tokio::test]
async fn network_create_prints_the_id_and_sends_the_ipam() {
    let daemon = Daemon::start().await;
    let out = create_mynet(&daemon, "10.5.0.1").await;
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), format!("{CREATED_ID}\n"));
    assert!(out.status.success());
    let requests = daemon.requests();
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
    let daemon = Daemon::start().await;
    let out = create_mynet(&daemon, "10.6.0.1").await;
    assert_eq!(
        text(&out.stderr),
        "no matching subnet for gateway 10.6.0.1\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(daemon.requests().is_empty());
}

#[tokio::test]
async fn network_inspect_prints_the_daemons_json_and_reports_missing() {
    let daemon = Daemon::start().await;
    let out = daemon
        .berth(&["network", "inspect", "bridge", "nope"], "")
        .await;
    assert_eq!(
        text(&out.stdout),
        "[\n    {\n        \"Name\": \"bridge\",\n        \
         \"Id\": \"f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566\",\n        \
         \"Created\": \"2024-05-01T10:00:00Z\",\n        \"Scope\": \"local\",\n        \
         \"Driver\": \"bridge\",\n        \"EnableIPv4\": true,\n        \"EnableIPv6\": false,\n        \
         \"Internal\": false,\n        \"Attachable\": false,\n        \"Ingress\": false,\n        \
         \"ConfigOnly\": false,\n        \"Options\": {},\n        \"Labels\": {},\n        \
         \"Containers\": {}\n    }\n]\n"
    );
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: network nope not found\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn network_rm_reports_each_network() {
    let daemon = Daemon::start().await;
    let out = daemon
        .berth(&["network", "rm", "net9", "bridge", "nope"], "")
        .await;
    assert_eq!(text(&out.stdout), "net9\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n\
         Error response from daemon: network nope not found\nexit status 1\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let forced = daemon.berth(&["network", "remove", "-f", "nope"], "").await;
    assert!(forced.status.success());
    assert_eq!(text(&forced.stdout), "");
}

#[tokio::test]
async fn network_prune_asks_first() {
    let daemon = Daemon::start().await;
    let declined = daemon.berth(&["network", "prune"], "n\n").await;
    assert!(declined.status.success());
    assert_eq!(
        text(&declined.stdout),
        "WARNING! This will remove all custom networks not used by at least one container.\n\
         Are you sure you want to continue? [y/N] "
    );
    assert!(!daemon.requests().iter().any(|r| r.contains("prune")));
    let accepted = daemon
        .berth(&["network", "prune", "--filter", "until=1h"], "y\n")
        .await;
    assert!(text(&accepted.stdout).ends_with("[y/N] Deleted Networks:\nnet9\nnet10\n\n"));
    assert!(daemon
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
