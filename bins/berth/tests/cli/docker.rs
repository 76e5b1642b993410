//! The real docker CLI and berth, each against its own test daemon started
//! with the same state: every step of a scenario must print the same stdout
//! and stderr (docker's, with `docker` read as `berth`) and end with the
//! same status; and the two must send the daemon the same requests, every
//! field of berth's create bodies equal to docker's.
//!
//! Pulls are left out: serve refuses them itself, so docker (which pulls a
//! missing image) and berth (which does not) part ways there; berth's side
//! is in `container.rs`.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use berth_api::testing::StubBackend;
use berth_api::{Backend, ImageImportOptions, RequestBody};
use bollard_stubs::models::{ContainerCreateBody, HostConfig, PortBinding};

use crate::daemon::Daemon;
use crate::{berth_bin, run, text};

/// The real docker CLI: `$DOCKER_CLI`, else where the machine has it.
/// These tests fail, never skip, without it.
fn docker_cli() -> PathBuf {
    let candidates = std::env::var_os("DOCKER_CLI")
        .into_iter()
        .map(PathBuf::from)
        .chain(["/usr/local/bin/docker", "/usr/bin/docker"].map(PathBuf::from));
    let found = candidates.clone().find(|p| p.exists());
    found.unwrap_or_else(|| {
        let tried: Vec<String> = candidates.map(|p| p.display().to_string()).collect();
        panic!("THE REAL docker CLI IS MISSING (tried {tried:?}): set DOCKER_CLI to its path")
    })
}

struct Pair {
    berth: Daemon,
    docker: Daemon,
    /// An empty docker config dir: no user settings (`psFormat`, …).
    config: tempfile::TempDir,
}

impl Pair {
    async fn new() -> Pair {
        let berth = Daemon::start().await;
        let docker = berth.twin();
        for daemon in [&berth, &docker] {
            start_web(&daemon.backend).await;
            import_images(&daemon.backend).await;
        }
        Pair {
            berth,
            docker,
            config: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Runs one step with both CLIs, checks they agree, returns berth's.
    async fn same(&self, args: &[&str], stdin: &str) -> Output {
        let host = self.berth.host();
        let mut argv = vec!["-H", host.as_str()];
        argv.extend_from_slice(args);
        let ours = run(&berth_bin(), &argv, stdin.as_bytes(), None).await;

        let host = self.docker.host();
        let config = self.config.path().display().to_string();
        let mut argv = vec!["--config", config.as_str(), "-H", host.as_str()];
        argv.extend_from_slice(args);
        let theirs = run(&docker_cli(), &argv, stdin.as_bytes(), None).await;

        // docker's name, not the registry's, is berth's.
        let as_berth = |b: &[u8]| {
            text(b)
                .replace("docker.io", "\u{0}")
                .replace("docker", "berth")
                .replace('\u{0}', "docker.io")
        };
        let step = args.join(" ");
        assert_eq!(
            text(&ours.stdout),
            as_berth(&theirs.stdout),
            "stdout of `{step}`"
        );
        assert_eq!(
            text(&ours.stderr),
            as_berth(&theirs.stderr),
            "stderr of `{step}`"
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "status of `{step}`"
        );
        // These act on several containers in parallel, in no set order.
        let parallel = matches!(args[0], "stop" | "kill" | "restart" | "rm");
        self.same_requests(&step, parallel);
        ours
    }

    /// Both sent the same requests for the step (pings and docker's pulls
    /// and object autodetection aside), berth's bodies a subset of
    /// docker's.
    fn same_requests(&self, step: &str, any_order: bool) {
        let relevant = |requests: Vec<String>| -> Vec<(String, Value)> {
            let mut list: Vec<(String, Value)> = requests
                .into_iter()
                .filter(|r| {
                    !r.contains("/_ping")
                        && !r.contains("fromImage=")
                        && !r.contains("/volumes/")
                        && !r.contains("/plugins/")
                        && !r.ends_with("/info")
                })
                .map(|r| {
                    let mut parts = r.splitn(3, ' ');
                    let method = parts.next().unwrap_or_default();
                    let target = parts.next().unwrap_or_default();
                    let body =
                        serde_json::from_str(parts.next().unwrap_or("null")).unwrap_or(Value::Null);
                    (format!("{method} {target}"), body)
                })
                .collect();
            if any_order {
                list.sort_by(|a, b| a.0.cmp(&b.0));
            }
            list
        };
        let ours = relevant(self.berth.take_requests());
        let theirs = relevant(self.docker.take_requests());
        let lines = |v: &[(String, Value)]| v.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        assert_eq!(lines(&ours), lines(&theirs), "requests of `{step}`");
        for ((line, ours), (_, theirs)) in ours.iter().zip(&theirs) {
            assert_subset(ours, theirs, line);
        }
    }
}

/// A running container `web` with published, exposed, IPv6 and unbound
/// ports, made before the clients come.
async fn start_web(backend: &StubBackend) {
    let bind = |ip: &str, port: &str| PortBinding {
        host_ip: Some(ip.to_string()),
        host_port: Some(port.to_string()),
    };
    let bindings = [
        ("80/tcp", vec![bind("0.0.0.0", "8080"), bind("::", "8080")]),
        ("53/udp", vec![bind("127.0.0.1", "5353")]),
        ("7000/tcp", vec![bind("0.0.0.0", "7000")]),
        ("10000/tcp", vec![bind("0.0.0.0", "10000")]),
    ];
    let config = ContainerCreateBody {
        image: Some("busybox".to_string()),
        cmd: Some(vec!["top".to_string()]),
        exposed_ports: Some(vec!["443/tcp".to_string()]),
        host_config: Some(HostConfig {
            port_bindings: Some(
                bindings
                    .into_iter()
                    .map(|(port, list)| (port.to_string(), Some(list)))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    backend
        .container_create(Some("web".to_string()), config)
        .await
        .expect("create web");
    backend
        .container_start("web".to_string())
        .await
        .expect("start web");
}

/// `app:v1`, `app:v2` and an untagged image besides the stub's busybox.
async fn import_images(backend: &StubBackend) {
    for repo in [Some("app:v1"), Some("app:v2"), None] {
        let options = ImageImportOptions {
            repo: repo.map(str::to_string),
            tag: None,
            message: "Imported from -".to_string(),
            changes: Vec::new(),
        };
        backend
            .image_import(options, RequestBody::from_reader(&b"a tarball"[..]))
            .await
            .expect("import");
    }
}

/// Every field of `ours` is in `theirs` with the same value.
fn assert_subset(ours: &Value, theirs: &Value, at: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let other = b.get(k).unwrap_or(&Value::Null);
                assert_subset(v, other, &format!("{at} .{k}"));
            }
        }
        _ => assert_eq!(ours, theirs, "{at}"),
    }
}

#[tokio::test]
async fn run_like_docker() {
    let pair = Pair::new().await;
    let hi = pair
        .same(&["run", "--rm", "busybox", "echo", "hi"], "")
        .await;
    assert_eq!(text(&hi.stdout), "hi\n");
    let failed = pair.same(&["run", "busybox", "fail", "3"], "").await;
    assert_eq!(failed.status.code(), Some(3));
    pair.same(&["run", "-i", "--rm", "busybox", "cat"], "from stdin\n")
        .await;
    pair.same(
        &[
            "run",
            "-d",
            "--name",
            "web1",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1::53/udp",
            "--expose",
            "9000-9001",
            "-e",
            "A=1",
            "-l",
            "x=y",
            "-w",
            "/tmp",
            "--entrypoint",
            "/bin/sh",
            "-h",
            "myhost",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "h:1.2.3.4",
            "--network",
            "net10",
            "--ip",
            "10.0.0.5",
            "--network-alias",
            "al",
            "busybox",
            "-c",
            "sleep 1",
        ],
        "",
    )
    .await;
    pair.same(&["run", "-d", "--rm", "-P", "busybox", "top"], "")
        .await;
    pair.same(
        &[
            "create",
            "--name",
            "c2",
            "--net",
            "container:web1",
            "busybox",
        ],
        "",
    )
    .await;
    pair.same(
        &[
            "create",
            "--mac-address",
            "02:42:ac:11:00:02",
            "--ip6",
            "fd00::3",
            "--dns",
            "127.0.0.1",
            "busybox",
        ],
        "",
    )
    .await;
    pair.same(
        &[
            "create",
            "--network",
            "name=net10,alias=a,ip=10.0.0.3",
            "busybox",
        ],
        "",
    )
    .await;
}

#[tokio::test]
async fn run_failures_like_docker() {
    let pair = Pair::new().await;
    pair.same(&["run", "busybox", "nosuch"], "").await;
    pair.same(&["run", "--rm", "busybox", "nosuch"], "").await;
    pair.same(&["run", "--name", "dup", "-d", "busybox"], "")
        .await;
    pair.same(&["run", "--name", "dup", "busybox"], "").await;
    pair.same(&["run", "-it", "busybox", "sh"], "").await;
    pair.same(&["run", "-d", "-a", "stdout", "busybox"], "")
        .await;
    pair.same(
        &["create", "-e", "WARNING=this is a warning", "busybox"],
        "",
    )
    .await;
    pair.same(&["run", "BAD"], "").await;
}

#[tokio::test]
async fn command_line_errors_like_docker() {
    let pair = Pair::new().await;
    for spec in [
        "80/foo",
        "",
        "8080:",
        "abc",
        "1.2.3:80:80",
        "[::1",
        "8000-8002:80-90",
        "1.2.3.4:80",
        "target=80,x",
        "70000",
    ] {
        pair.same(&["create", "-p", spec, "busybox"], "").await;
    }
    for expose in ["1:2", "80-70", "abc"] {
        pair.same(&["run", "--expose", expose, "busybox"], "").await;
    }
    for flags in [
        &["--dns", "x"][..],
        &["--dns-search", "-bad"],
        &["--add-host", "foo"],
        &["--label", "=x"],
        &["-e", "=x"],
        &["-a", "bogus"],
        &["--network="],
        &["--network", "host", "--network-alias", "a"],
        &["--mac-address", "zz"],
        &["--bogus"],
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.push("busybox");
        pair.same(&args, "").await;
    }
    for args in [
        &["run"][..],
        &["create"],
        &["start"],
        &["stop"],
        &["logs"],
        &["port"],
        &["port", "a", "b", "c"],
        &["exec", "web"],
        &["wait"],
        &["inspect"],
        &["images", "a", "b"],
        &["rmi"],
        &["import"],
        &["attach"],
        &["kill"],
        &["rm"],
        &["restart"],
        &["ps", "x"],
        &["ps", "-x"],
        &["network", "connect", "net10"],
        &["network", "disconnect", "a"],
    ] {
        pair.same(args, "").await;
    }
}

#[tokio::test]
async fn lifecycle_like_docker() {
    let pair = Pair::new().await;
    pair.same(&["create", "--name", "c1", "busybox", "top"], "")
        .await;
    pair.same(&["start", "c1", "nope"], "").await;
    pair.same(&["stop", "-t", "3", "c1", "nope"], "").await;
    pair.same(&["kill", "-s", "HUP", "c1"], "").await;
    pair.same(&["restart", "-t", "1", "c1"], "").await;
    pair.same(&["kill", "c1", "nope"], "").await;
    pair.same(&["start", "c1"], "").await;
    pair.same(&["rm", "c1", "nope"], "").await;
    pair.same(&["rm", "-f", "c1", "nope"], "").await;
    pair.same(&["run", "--name", "l1", "busybox", "fail", "2"], "")
        .await;
    pair.same(&["logs", "l1"], "").await;
    pair.same(&["logs", "-t", "--tail", "1", "l1"], "").await;
    pair.same(&["logs", "nope"], "").await;
    pair.same(&["wait", "l1", "nope"], "").await;
    pair.same(&["create", "--name", "s1", "busybox", "fail", "6"], "")
        .await;
    pair.same(&["start", "-a", "s1"], "").await;
    pair.same(&["attach", "s1"], "").await;
    pair.same(&["start", "-a", "s1", "l1"], "").await;
}

#[tokio::test]
async fn exec_like_docker() {
    let pair = Pair::new().await;
    pair.same(&["run", "-d", "--name", "e1", "busybox", "top"], "")
        .await;
    pair.same(&["exec", "e1", "echo", "addr"], "").await;
    pair.same(
        &[
            "exec", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "e1", "fail", "4",
        ],
        "",
    )
    .await;
    pair.same(&["exec", "e1", "nosuch"], "").await;
    pair.same(&["exec", "-d", "e1", "echo", "hi"], "").await;
    pair.same(&["exec", "-i", "e1", "cat"], "piped\n").await;
    pair.same(&["exec", "nope", "ls"], "").await;
    pair.same(&["exec", "-it", "e1", "sh"], "").await;
    pair.same(&["kill", "e1"], "").await;
    pair.same(&["exec", "e1", "ls"], "").await;
}

#[tokio::test]
async fn listings_like_docker() {
    let pair = Pair::new().await;
    pair.same(
        &[
            "create",
            "--name",
            "made",
            "-l",
            "k=v",
            "busybox",
            "echo",
            "a long command line here",
        ],
        "",
    )
    .await;
    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-q"],
        &["ps", "-aq", "-f", "name=web", "-f", "status=running"],
        &["ps", "-a", "--format", "{{json .}}"],
        &["ps", "-a", "--format", "raw"],
        &[
            "ps",
            "--format",
            "table {{.Names}}\\t{{.Labels}}\\t{{.State}}",
            "-n",
            "2",
        ],
        &["ps", "--format", "{{.Names}}", "-q"],
        &["ps", "--format", "{{.Foo}}"],
        &["ps", "--format", "{{.Names"],
        &["images"],
        &["images", "-q"],
        &["images", "--no-trunc", "busybox"],
        &["images", "--format", "{{json .}}"],
        &[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.CreatedSince}}",
        ],
        &["images", "-a", "-f", "dangling=true"],
        &["rmi", "app:v1", "busybox", "nope"],
        &["rmi", "-f", "nope", "app:v2"],
        &["port", "web"],
        &["port", "web", "80"],
        &["port", "web", "53/udp"],
        &["port", "web", "443"],
        &["port", "web", "abc"],
        &["port", "web", "99999"],
        &["port", "nope"],
    ] {
        pair.same(args, "").await;
    }
}

#[tokio::test]
async fn inspect_like_docker() {
    let pair = Pair::new().await;
    pair.same(&["create", "--name", "i1", "busybox"], "").await;
    pair.same(
        &[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Running}}",
            "web",
            "i1",
            "nope",
            "bridge",
            "busybox",
        ],
        "",
    )
    .await;
    pair.same(&["inspect", "web", "busybox", "bridge"], "")
        .await;
    pair.same(&["inspect", "--format", "json", "web"], "").await;
    pair.same(&["inspect", "--type", "container", "bridge"], "")
        .await;
    pair.same(&["inspect", "--type", "image", "busybox"], "")
        .await;
    pair.same(&["inspect", "--type", "network", "nope"], "")
        .await;
    // Not i1: the stub shows the HostConfig each client sent at create,
    // and docker's is full where berth's is sparse.
    pair.same(&["inspect", "-s", "--type", "container", "web"], "")
        .await;
    pair.same(
        &["network", "inspect", "-f", "{{.Nope}}", "bridge", "nope"],
        "",
    )
    .await;
}

#[tokio::test]
async fn images_and_networks_like_docker() {
    let pair = Pair::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tarball = dir.path().join("r.tar");
    std::fs::write(&tarball, vec![7u8; 10240]).expect("tarball");
    let tarball = tarball.display().to_string();
    let missing = dir.path().join("nope.tar").display().to_string();
    pair.same(&["import", &tarball, "myimg:v1"], "").await;
    pair.same(
        &[
            "import",
            "-c",
            "ENV A=1",
            "-c",
            "CMD [\"sh\"]",
            "-m",
            "msg",
            "-",
            "myimg",
        ],
        "a tar from stdin",
    )
    .await;
    pair.same(&["import", &tarball], "").await;
    pair.same(&["import", &missing, "x"], "").await;
    pair.same(&["import", &tarball, "BAD"], "").await;
    pair.same(&["import", &tarball, "repo-BAD"], "").await;
    pair.same(&["run", "-d", "--name", "n1", "busybox", "top"], "")
        .await;
    pair.same(
        &[
            "network", "connect", "--ip", "10.0.0.9", "--ip6", "fd00::9", "--alias", "a1",
            "--alias", "a2,a3", "net10", "n1",
        ],
        "",
    )
    .await;
    pair.same(&["network", "connect", "net10", "n1"], "").await;
    pair.same(&["network", "connect", "nope", "n1"], "").await;
    pair.same(&["network", "disconnect", "-f", "net10", "n1"], "")
        .await;
    pair.same(&["network", "disconnect", "net9", "n1"], "")
        .await;
    assert_eq!(
        pair.berth
            .imports()
            .iter()
            .map(|i| i.body.len())
            .collect::<Vec<_>>(),
        vec![10240, 16, 10240]
    );
}
