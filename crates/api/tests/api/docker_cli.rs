//! The real docker CLI against `serve` with a stub backend: proves `_ping`,
//! version negotiation and the JSON shapes are good enough for it.

use std::path::Path;
use std::process::Output;

use crate::support::{Call, TestServer, BRIDGE_ID, CREATED_ID};
use berth_api::Filters;

const DOCKER: &str = "/usr/local/bin/docker";

/// Runs `docker -H unix://<socket> <args>` isolated from the user's docker
/// configuration and environment.
async fn docker(socket: &Path, config_dir: &Path, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(DOCKER)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .env("DOCKER_CONFIG", config_dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .await
        .unwrap();
    eprintln!(
        "$ docker {}\n--- status: {}\n--- stdout:\n{}--- stderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn real_docker_cli_lists_creates_inspects_and_removes_networks() {
    if !Path::new(DOCKER).exists() {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! {DOCKER} NOT FOUND: the docker CLI compatibility test did NOT run.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{DOCKER} is required in CI"
        );
        return;
    }
    let server = TestServer::start().await;
    let config_dir = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| docker(&server.socket, config_dir.path(), args);

    let ls = run(&["network", "ls"]).await;
    assert!(ls.status.success(), "{}", stderr(&ls));
    let listing = stdout(&ls);
    assert!(listing.contains("NETWORK ID"), "{listing}");
    assert!(listing.contains(&BRIDGE_ID[..12]), "{listing}");
    assert!(listing.contains("bridge"), "{listing}");
    assert!(listing.contains("web"), "{listing}");

    let filtered = run(&[
        "network",
        "ls",
        "--filter",
        "name=web",
        "--format",
        "{{.Name}}",
    ])
    .await;
    assert!(filtered.status.success(), "{}", stderr(&filtered));

    let create = run(&["network", "create", "x"]).await;
    assert!(create.status.success(), "{}", stderr(&create));
    assert_eq!(stdout(&create).trim(), CREATED_ID);

    let inspect = run(&["network", "inspect", "x"]).await;
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected[0]["Name"], "x");
    assert_eq!(inspected[0]["Id"], CREATED_ID);

    let missing = run(&["network", "inspect", "missing"]).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("network missing not found"),
        "{}",
        stderr(&missing)
    );

    let rm = run(&["network", "rm", "x"]).await;
    assert!(rm.status.success(), "{}", stderr(&rm));

    let rm_builtin = run(&["network", "rm", "bridge"]).await;
    assert!(!rm_builtin.status.success());
    assert!(
        stderr(&rm_builtin).contains("bridge is a pre-defined network and cannot be removed"),
        "{}",
        stderr(&rm_builtin)
    );

    let prune = run(&["network", "prune", "--force"]).await;
    assert!(prune.status.success(), "{}", stderr(&prune));
    assert!(stdout(&prune).contains("old"), "{}", stdout(&prune));

    let version = run(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ])
    .await;
    assert!(version.status.success(), "{}", stderr(&version));
    assert_eq!(stdout(&version).trim(), "1.50 1.24");

    let calls = server.backend.calls();
    let web: Filters = [("name".to_owned(), vec!["web".to_owned()])].into();
    assert!(
        calls.contains(&Call::NetworkList(Filters::new())),
        "{calls:?}"
    );
    assert!(calls.contains(&Call::NetworkList(web)), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|call| matches!(call, Call::NetworkCreate(create) if create.name == "x")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&Call::NetworkRemove("x".to_owned())),
        "{calls:?}"
    );
    server.stop().await.unwrap();
}
