//! The real docker CLI against `serve` with the stub backend: proves `_ping`,
//! version negotiation, the JSON shapes, streaming and hijacking are good
//! enough for it.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::support::{Call, TestServer, BRIDGE_ID, CREATED_ID};
use berth_api::{Filters, TtySize, WaitCondition};
use tokio::io::AsyncWriteExt;

const DOCKER: &str = "/usr/local/bin/docker";

/// False (after saying so loudly) when the docker CLI is missing; fails the
/// test instead when running in CI, which must have it.
fn docker_available() -> bool {
    if Path::new(DOCKER).exists() {
        return true;
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! {DOCKER} NOT FOUND: the docker CLI compatibility test did NOT run.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{DOCKER} is required in CI"
    );
    false
}

/// A docker CLI pointed at one test server, isolated from the user's docker
/// configuration and environment.
struct Docker {
    socket: PathBuf,
    config_dir: tempfile::TempDir,
}

impl Docker {
    fn new(server: &TestServer) -> Docker {
        Docker {
            socket: server.socket.clone(),
            config_dir: tempfile::tempdir().unwrap(),
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .env("DOCKER_CONFIG", self.config_dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, None).await
    }

    async fn run_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut command = self.command(DOCKER);
        command.arg("-H").arg(self.host()).args(args);
        let output = feed(command, input).await;
        log_output(&format!("docker {}", args.join(" ")), &output);
        output
    }

    /// `docker <args>` on a pseudo-terminal of 30 rows and 100 columns (via
    /// `script`), with `input` typed into it.
    async fn run_on_pty(&self, args: &str, input: &[u8]) -> Output {
        let inner = format!(
            "stty rows 30 cols 100; exec {DOCKER} -H {} {args}",
            self.host()
        );
        let mut command = self.command("script");
        command.args(["-qec", &inner, "/dev/null"]);
        let output = feed(command, Some(input)).await;
        log_output(&format!("script: docker {args}"), &output);
        output
    }
}

async fn feed(mut command: tokio::process::Command, input: Option<&[u8]>) -> Output {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).await.unwrap();
        drop(stdin);
    }
    let waited = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output());
    waited.await.expect("docker CLI hung").unwrap()
}

fn log_output(what: &str, output: &Output) {
    eprintln!(
        "$ {what}\n--- status: {}\n--- stdout:\n{}--- stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: &Output) -> bool {
    output.status.success()
}

/// Position of the first call matching `wanted`, for ordering checks.
fn position(calls: &[Call], wanted: impl Fn(&Call) -> bool) -> usize {
    calls
        .iter()
        .position(wanted)
        .unwrap_or_else(|| panic!("call not made: {calls:?}"))
}

#[tokio::test]
async fn real_docker_cli_lists_creates_inspects_and_removes_networks() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);

    let ls = docker.run(&["network", "ls"]).await;
    assert!(succeeded(&ls), "{}", stderr(&ls));
    let listing = stdout(&ls);
    assert!(listing.contains("NETWORK ID"), "{listing}");
    assert!(listing.contains(&BRIDGE_ID[..12]), "{listing}");
    assert!(listing.contains("bridge"), "{listing}");
    assert!(listing.contains("web"), "{listing}");

    let filtered = docker
        .run(&[
            "network",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Name}}",
        ])
        .await;
    assert!(succeeded(&filtered), "{}", stderr(&filtered));

    let create = docker.run(&["network", "create", "x"]).await;
    assert!(succeeded(&create), "{}", stderr(&create));
    assert_eq!(stdout(&create).trim(), CREATED_ID);

    let inspect = docker.run(&["network", "inspect", "x"]).await;
    assert!(succeeded(&inspect), "{}", stderr(&inspect));
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected[0]["Name"], "x");
    assert_eq!(inspected[0]["Id"], CREATED_ID);

    let missing = docker.run(&["network", "inspect", "missing"]).await;
    assert!(!succeeded(&missing));
    assert!(
        stderr(&missing).contains("network missing not found"),
        "{}",
        stderr(&missing)
    );

    let rm = docker.run(&["network", "rm", "x"]).await;
    assert!(succeeded(&rm), "{}", stderr(&rm));

    let rm_builtin = docker.run(&["network", "rm", "bridge"]).await;
    assert!(!succeeded(&rm_builtin));
    assert!(
        stderr(&rm_builtin).contains("bridge is a pre-defined network and cannot be removed"),
        "{}",
        stderr(&rm_builtin)
    );

    let prune = docker.run(&["network", "prune", "--force"]).await;
    assert!(succeeded(&prune), "{}", stderr(&prune));
    assert!(stdout(&prune).contains("old"), "{}", stdout(&prune));

    let version = docker
        .run(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
        ])
        .await;
    assert!(succeeded(&version), "{}", stderr(&version));
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

#[tokio::test]
async fn docker_run_prints_output_and_exits_with_the_container_code() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);

    let run = docker
        .run(&["run", "--rm", "-e", "EXIT=3", "busybox", "echo", "hi"])
        .await;
    assert_eq!(stdout(&run), "hi\n", "{}", stderr(&run));
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));

    // The CLI attaches and waits before it starts: the hijack and the wait
    // headers must both come back before the container runs.
    let calls = server.backend.calls();
    let attach = position(
        &calls,
        |c| matches!(c, Call::ContainerAttach(_, o) if o.stream && o.stdout && o.stderr && !o.stdin),
    );
    let wait = position(&calls, |c| {
        matches!(c, Call::ContainerWait(_, WaitCondition::Removed))
    });
    let start = position(&calls, |c| matches!(c, Call::ContainerStart(_)));
    assert!(attach < start && wait < start, "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::ContainerCreate(None, body)
            if body.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true)
                && body.image.as_deref() == Some("busybox"))),
        "{calls:?}"
    );

    // Stderr arrives demultiplexed, and the exit code of a failure too.
    let fail = docker
        .run(&["run", "--rm", "busybox", "fail", "5", "went", "wrong"])
        .await;
    assert_eq!(stdout(&fail), "");
    assert_eq!(stderr(&fail), "went wrong\n");
    assert_eq!(fail.status.code(), Some(5));

    // Without --rm the CLI waits for the next exit instead.
    let kept = docker
        .run(&["run", "--name", "kept", "busybox", "echo", "kept"])
        .await;
    assert_eq!(stdout(&kept), "kept\n");
    assert_eq!(kept.status.code(), Some(0));
    assert!(server.backend.calls().iter().any(|c| matches!(c,
        Call::ContainerWait(name, WaitCondition::NextExit) if name.len() == 64
    )));

    // An image the stub lacks: the CLI tries to pull, and reports the refusal.
    let pull = docker.run(&["run", "--rm", "nosuchimage"]).await;
    assert_eq!(pull.status.code(), Some(125));
    let message = stderr(&pull);
    assert!(
        message.contains("Unable to find image 'nosuchimage:latest' locally"),
        "{message}"
    );
    assert!(
        message.contains("pull access denied for docker.io/library/nosuchimage"),
        "{message}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docker_lifecycle_ps_inspect_logs_and_exec() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);

    let run = docker
        .run(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"])
        .await;
    assert!(succeeded(&run), "{}", stderr(&run));
    let id = stdout(&run).trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    let talker = docker
        .run(&["run", "--name", "talker", "busybox", "echo", "hello"])
        .await;
    assert_eq!(stdout(&talker), "hello\n");
    let failer = docker
        .run(&[
            "run", "--name", "failer", "busybox", "fail", "2", "bad", "news",
        ])
        .await;
    assert_eq!(failer.status.code(), Some(2));

    let ps = docker.run(&["ps"]).await;
    assert!(succeeded(&ps), "{}", stderr(&ps));
    let listing = stdout(&ps);
    assert!(listing.starts_with("CONTAINER ID"), "{listing}");
    assert!(listing.contains(&id[..12]), "{listing}");
    assert!(listing.contains("Up 2 seconds"), "{listing}");
    assert!(listing.contains("web"), "{listing}");
    assert!(!listing.contains("talker"), "{listing}");

    let ps_all = docker.run(&["ps", "-a", "--no-trunc"]).await;
    let listing = stdout(&ps_all);
    assert!(listing.contains(&id), "{listing}");
    assert!(listing.contains("\"sleep 1000\""), "{listing}");
    assert!(listing.contains("Exited (0) 1 second ago"), "{listing}");
    assert!(listing.contains("Exited (2) 1 second ago"), "{listing}");
    assert!(listing.contains("talker"), "{listing}");

    let names = docker.run(&["ps", "-aq"]).await;
    assert_eq!(stdout(&names).lines().count(), 3, "{}", stdout(&names));

    let inspect = docker.run(&["inspect", "web"]).await;
    assert!(succeeded(&inspect), "{}", stderr(&inspect));
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspected[0]["Id"], id);
    assert_eq!(inspected[0]["Name"], "/web");
    assert_eq!(inspected[0]["State"]["Running"], true);
    // Legacy top-level fields for API < 1.52 clients, from the bridge endpoint.
    assert_eq!(inspected[0]["NetworkSettings"]["IPAddress"], "172.17.0.2");
    assert_eq!(inspected[0]["NetworkSettings"]["Gateway"], "172.17.0.1");
    let ip = docker
        .run(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.IPAddress}} {{.HostConfig.NetworkMode}}",
            "web",
        ])
        .await;
    assert_eq!(stdout(&ip).trim(), "172.17.0.2 bridge");

    let logs = docker.run(&["logs", "talker"]).await;
    assert_eq!(stdout(&logs), "hello\n", "{}", stderr(&logs));
    let logs = docker.run(&["logs", "failer"]).await;
    assert_eq!(stdout(&logs), "");
    assert_eq!(stderr(&logs), "bad news\n");
    let logs = docker
        .run(&["logs", "--timestamps", "--tail", "1", "talker"])
        .await;
    let line = stdout(&logs);
    assert!(
        line.ends_with("Z hello\n") && line.len() == "2023-11-14T22:13:20.000000000Z hello\n".len(),
        "{line:?}"
    );

    let exec = docker.run(&["exec", "web", "echo", "inside"]).await;
    assert_eq!(stdout(&exec), "inside\n", "{}", stderr(&exec));
    assert_eq!(exec.status.code(), Some(0));
    let exec = docker
        .run(&["exec", "-e", "EXIT=9", "web", "echo", "nine"])
        .await;
    assert_eq!(stdout(&exec), "nine\n");
    assert_eq!(exec.status.code(), Some(9));
    let exec = docker.run(&["exec", "web", "fail", "6", "nope"]).await;
    assert_eq!(stderr(&exec), "nope\n");
    assert_eq!(exec.status.code(), Some(6));
    let exec = docker.run(&["exec", "-d", "web", "echo", "detached"]).await;
    assert!(succeeded(&exec), "{}", stderr(&exec));
    assert_eq!(stdout(&exec), "");
    let exec = docker.run(&["exec", "web", "oops"]).await;
    assert!(
        stdout(&exec).contains("exec failed: oops is not a program"),
        "{}",
        stdout(&exec)
    );
    let exec = docker.run(&["exec", "talker", "echo", "x"]).await;
    assert!(!succeeded(&exec));
    assert!(
        stderr(&exec).contains("is not running"),
        "{}",
        stderr(&exec)
    );

    let stop = docker.run(&["stop", "-t", "3", "web"]).await;
    assert!(succeeded(&stop), "{}", stderr(&stop));
    assert_eq!(stdout(&stop).trim(), "web");
    // Stopping a stopped container is Docker's 304, which the CLI accepts.
    let again = docker.run(&["stop", "web"]).await;
    assert!(succeeded(&again), "{}", stderr(&again));
    let start = docker.run(&["start", "web"]).await;
    assert!(succeeded(&start), "{}", stderr(&start));
    let start = docker.run(&["start", "web"]).await;
    assert!(succeeded(&start), "{}", stderr(&start));
    let restart = docker.run(&["restart", "web"]).await;
    assert!(succeeded(&restart), "{}", stderr(&restart));
    let kill = docker.run(&["kill", "-s", "TERM", "web"]).await;
    assert!(succeeded(&kill), "{}", stderr(&kill));
    let kill = docker.run(&["kill", "web"]).await;
    assert!(!succeeded(&kill));
    assert!(
        stderr(&kill).contains("cannot kill container: web: container web is not running"),
        "{}",
        stderr(&kill)
    );
    let wait = docker.run(&["wait", "failer"]).await;
    assert_eq!(stdout(&wait).trim(), "2");

    let rm = docker.run(&["rm", "web", "talker"]).await;
    assert!(succeeded(&rm), "{}", stderr(&rm));
    let again = docker
        .run(&["run", "-d", "--name", "again", "busybox", "sleep", "1"])
        .await;
    assert!(succeeded(&again));
    let rm = docker.run(&["rm", "again"]).await;
    assert!(!succeeded(&rm));
    assert!(
        stderr(&rm).contains("container is running"),
        "{}",
        stderr(&rm)
    );
    let rm = docker.run(&["rm", "-f", "again"]).await;
    assert!(succeeded(&rm), "{}", stderr(&rm));
    let rm = docker.run(&["rm", "missing"]).await;
    assert!(
        stderr(&rm).contains("No such container: missing"),
        "{}",
        stderr(&rm)
    );

    let calls = server.backend.calls();
    assert!(calls.contains(&Call::ContainerStop(
        "web".to_owned(),
        berth_api::StopOptions {
            timeout: Some(3),
            signal: None
        }
    )));
    assert!(calls.contains(&Call::ContainerKill(
        "web".to_owned(),
        Some("TERM".to_owned())
    )));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docker_import_images_inspect_and_rmi() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);
    let tarball = vec![7u8; 100_000];

    let import = docker
        .run_with_input(&["import", "-", "imported"], Some(&tarball))
        .await;
    assert!(succeeded(&import), "{}", stderr(&import));
    let id = stdout(&import).trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let tagged = docker
        .run_with_input(
            &[
                "import",
                "--change",
                "CMD [\"sh\"]",
                "-m",
                "hand made",
                "-",
                "localhost:5000/team/app:v1",
            ],
            Some(b"tiny"),
        )
        .await;
    assert!(succeeded(&tagged), "{}", stderr(&tagged));

    let images = docker.run(&["images"]).await;
    assert!(succeeded(&images), "{}", stderr(&images));
    let listing = stdout(&images);
    assert!(listing.starts_with("REPOSITORY"), "{listing}");
    assert!(listing.contains("imported"), "{listing}");
    assert!(listing.contains("localhost:5000/team/app"), "{listing}");
    assert!(listing.contains("busybox"), "{listing}");

    let inspect = docker
        .run(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "localhost:5000/team/app:v1",
        ])
        .await;
    assert!(succeeded(&inspect), "{}", stderr(&inspect));
    assert!(
        stdout(&inspect).starts_with("sha256:"),
        "{}",
        stdout(&inspect)
    );

    let rmi = docker.run(&["rmi", "imported"]).await;
    assert!(succeeded(&rmi), "{}", stderr(&rmi));
    assert!(
        stdout(&rmi).contains("Untagged: imported:latest"),
        "{}",
        stdout(&rmi)
    );
    assert!(
        stdout(&rmi).contains(&format!("Deleted: {id}")),
        "{}",
        stdout(&rmi)
    );
    let rmi = docker.run(&["rmi", "imported"]).await;
    assert!(
        stderr(&rmi).contains("No such image: imported"),
        "{}",
        stderr(&rmi)
    );

    let calls = server.backend.calls();
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::ImageImport(options, 100_000)
        if options.repo.as_deref() == Some("imported") && options.message == "Imported from -")));
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::ImageImport(options, 4)
        if options.repo.as_deref() == Some("localhost:5000/team/app:v1")
            && options.message == "hand made"
            && options.changes == ["CMD [\"sh\"]"])));
    assert!(calls.contains(&Call::ImageInspect("localhost:5000/team/app:v1".to_owned())));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docker_network_connect_and_disconnect() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);
    let run = docker
        .run(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"])
        .await;
    assert!(succeeded(&run), "{}", stderr(&run));

    let connect = docker
        .run(&[
            "network", "connect", "--ip", "10.1.0.5", "--alias", "db", "mynet", "web",
        ])
        .await;
    assert!(succeeded(&connect), "{}", stderr(&connect));
    let networks = docker
        .run(&[
            "inspect",
            "--format",
            "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
            "web",
        ])
        .await;
    assert_eq!(stdout(&networks).trim(), "bridge mynet");
    let again = docker.run(&["network", "connect", "mynet", "web"]).await;
    assert!(!succeeded(&again));
    assert!(
        stderr(&again).contains("already exists in network mynet"),
        "{}",
        stderr(&again)
    );

    let disconnect = docker
        .run(&["network", "disconnect", "-f", "mynet", "web"])
        .await;
    assert!(succeeded(&disconnect), "{}", stderr(&disconnect));
    let missing = docker.run(&["network", "connect", "mynet", "ghost"]).await;
    assert!(
        stderr(&missing).contains("No such container: ghost"),
        "{}",
        stderr(&missing)
    );

    let calls = server.backend.calls();
    let connect = calls
        .iter()
        .find_map(|c| match c {
            Call::NetworkConnect(network, req) if network == "mynet" => Some(req.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(connect.container, "web");
    let endpoint = connect.endpoint_config.unwrap();
    assert_eq!(
        endpoint.ipam_config.unwrap().ipv4_address.as_deref(),
        Some("10.1.0.5")
    );
    assert_eq!(endpoint.aliases, Some(vec!["db".to_owned()]));
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::NetworkDisconnect(network, req)
        if network == "mynet" && req.container == "web" && req.force == Some(true))));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn docker_run_and_exec_interactive_on_a_pty() {
    if !docker_available() {
        return;
    }
    let server = TestServer::start().await;
    let docker = Docker::new(&server);

    let run = docker
        .run_on_pty("run -it --rm -e EXIT=4 busybox sh", b"hello\nexit\n")
        .await;
    let output = stdout(&run);
    assert!(output.contains("got: hello"), "{output:?}");
    assert_eq!(run.status.code(), Some(4), "{output:?}");

    let calls = server.backend.calls();
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::ContainerCreate(_, body)
        if body.tty == Some(true) && body.open_stdin == Some(true))),
        "{calls:?}"
    );
    assert!(calls
        .iter()
        .any(|c| matches!(c, Call::ContainerAttach(_, o) if o.stdin && o.stream)));
    // The CLI sizes the container's TTY from its terminal once it runs.
    let size = TtySize {
        height: 30,
        width: 100,
    };
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::ContainerResize(_, s) if *s == size)),
        "{calls:?}"
    );

    // Without a TTY, `-i` alone: input flows and output is multiplexed.
    let piped = docker
        .run_with_input(&["run", "-i", "--rm", "busybox", "sh"], Some(b"one\ntwo\n"))
        .await;
    assert_eq!(
        stdout(&piped),
        "got: one\r\ngot: two\r\n",
        "{}",
        stderr(&piped)
    );
    assert_eq!(piped.status.code(), Some(0));

    let web = docker
        .run(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"])
        .await;
    assert!(succeeded(&web), "{}", stderr(&web));
    let exec = docker
        .run_on_pty("exec -it -e EXIT=7 web sh", b"ping\nexit\n")
        .await;
    assert!(stdout(&exec).contains("got: ping"), "{:?}", stdout(&exec));
    assert_eq!(exec.status.code(), Some(7));
    let calls = server.backend.calls();
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::ExecStart(_, options, false)
        if options.tty)),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::ExecResize(_, s) if *s == size)),
        "{calls:?}"
    );
    server.stop().await.unwrap();
}
