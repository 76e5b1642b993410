//! Container commands against `serve` over the stub backend: what berth
//! prints and the order of what it asks, beyond the comparisons with docker.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use berth_api::testing::new_id;

use crate::daemon::Daemon;
use crate::{berth_bin, text};

/// The request lines (method and target) other than pings.
fn lines(daemon: &Daemon) -> Vec<String> {
    daemon
        .requests()
        .into_iter()
        .filter(|r| !r.contains("/_ping"))
        .map(|r| r.splitn(3, ' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn run_rm_echo_attaches_and_waits_before_start() {
    let daemon = Daemon::start().await;
    let out = daemon
        .berth(&["run", "--rm", "busybox", "echo", "hi"], "")
        .await;
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    let id = new_id(1);
    assert_eq!(
        lines(&daemon),
        vec![
            "POST /v1.50/containers/create".to_string(),
            format!("POST /v1.50/containers/{id}/attach?stderr=1&stdout=1&stream=1"),
            format!("POST /v1.50/containers/{id}/wait?condition=removed"),
            format!("POST /v1.50/containers/{id}/start"),
        ]
    );
    let create = daemon.requests()[1].clone();
    assert!(create.contains(r#""AutoRemove":true"#), "{create}");
    // The daemon's AutoRemove did the removing.
    assert!(daemon.backend.container_names().is_empty());
}

#[tokio::test]
async fn run_exits_with_the_containers_status() {
    let daemon = Daemon::start().await;
    let out = daemon.berth(&["run", "busybox", "fail", "3"], "").await;
    assert_eq!(text(&out.stdout), "about to fail\n");
    assert_eq!(text(&out.stderr), "failing\n");
    assert_eq!(out.status.code(), Some(3));
    let big = daemon.berth(&["run", "busybox", "fail", "300"], "").await;
    assert_eq!(big.status.code(), Some(300 % 256));
    // Only stderr attached: docker 28.2 crashes here; berth shows stderr.
    let only_err = daemon
        .berth(&["run", "--rm", "-a", "stderr", "busybox", "fail", "2"], "")
        .await;
    assert_eq!(text(&only_err.stdout), "");
    assert_eq!(text(&only_err.stderr), "failing\n");
    assert_eq!(only_err.status.code(), Some(2));
}

#[tokio::test]
async fn run_i_pipes_stdin_and_closes_it() {
    let daemon = Daemon::start().await;
    let out = daemon
        .berth(
            &["run", "-i", "--rm", "busybox", "cat"],
            "line one\nline two\n",
        )
        .await;
    assert_eq!(text(&out.stdout), "line one\nline two\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(lines(&daemon)[1].ends_with("/attach?stderr=1&stdin=1&stdout=1&stream=1"));
}

#[tokio::test]
async fn run_d_prints_the_id_and_still_opens_the_wait() {
    let daemon = Daemon::start().await;
    let out = daemon
        .berth(
            &[
                "run", "-d", "--name", "bg", "-p", "8080:80", "busybox", "top",
            ],
            "",
        )
        .await;
    let id = new_id(1);
    assert_eq!(text(&out.stdout), format!("{id}\n"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        lines(&daemon),
        vec![
            "POST /v1.50/containers/create?name=bg".to_string(),
            format!("POST /v1.50/containers/{id}/wait?condition=next-exit"),
            format!("POST /v1.50/containers/{id}/start"),
        ]
    );
    let port = daemon.berth(&["port", "bg"], "").await;
    assert_eq!(text(&port.stdout), "80/tcp -> 0.0.0.0:8080\n");
}

#[tokio::test]
async fn run_failures_report_dockers_statuses() {
    let daemon = Daemon::start().await;
    let missing = daemon.berth(&["run", "nosuch"], "").await;
    assert_eq!(
        text(&missing.stderr),
        "Unable to find image 'nosuch:latest' locally\n\
         berth: Error response from daemon: pull access denied for nosuch, repository does not exist or may require 'docker login'\n\n\
         Run 'berth run --help' for more information\n"
    );
    assert_eq!(missing.status.code(), Some(125));
    // Another 404 is no missing image.
    let no_net = daemon
        .berth(&["run", "--network", "nope", "busybox"], "")
        .await;
    assert_eq!(
        text(&no_net.stderr),
        "berth: Error response from daemon: network nope not found\n\n\
         Run 'berth run --help' for more information\n"
    );
    assert_eq!(no_net.status.code(), Some(125));
    let not_found = daemon
        .berth(&["run", "--rm", "busybox", "nosuch"], "")
        .await;
    assert_eq!(not_found.status.code(), Some(127));
    assert!(text(&not_found.stderr).contains("executable file not found"));
    let bad_port = daemon.berth(&["run", "-p", "80/foo", "busybox"], "").await;
    assert_eq!(
        text(&bad_port.stderr),
        "berth: invalid proto: foo\n\nRun 'berth run --help' for more information\n"
    );
    assert_eq!(bad_port.status.code(), Some(125));
}

#[tokio::test]
async fn ps_renders_dockers_table() {
    let daemon = Daemon::start().await;
    let out = daemon.berth(&["ps"], "").await;
    let ports = "9000-9001/udp, 0.0.0.0:7000-7002->7000-7002/tcp, 9003/udp, \
                 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 127.0.0.1:5000->6000/tcp";
    assert_eq!(
        text(&out.stdout),
        format!(
            "CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS         PORTS{pad}NAMES\n\
             3f4e5d6c7b8a   nginx:latest   \"nginx -g 'daemon of…\"   2 minutes ago   Up 2 minutes   {ports}   web\n",
            pad = " ".repeat(ports.len() - 2)
        )
    );
    let filtered = daemon
        .berth(
            &["ps", "-a", "-q", "-f", "name=web", "-f", "status=running"],
            "",
        )
        .await;
    assert!(text(&filtered.stdout).starts_with("3f4e5d6c7b8a\n"));
    let last = daemon.requests().pop().unwrap_or_default();
    let query = last.split_once("filters=").map_or("", |(_, q)| q);
    let decoded = percent_encoding::percent_decode_str(query)
        .decode_utf8_lossy()
        .to_string();
    assert_eq!(
        decoded,
        r#"{"name":{"web":true},"status":{"running":true}}"#
    );
}

#[tokio::test]
async fn exec_passes_stdin_and_the_exit_code() {
    let daemon = Daemon::start().await;
    daemon
        .berth(&["run", "-d", "--name", "e1", "busybox", "top"], "")
        .await;
    let cat = daemon
        .berth(&["exec", "-i", "e1", "cat"], "into exec\n")
        .await;
    assert_eq!(text(&cat.stdout), "into exec\n");
    let failed = daemon.berth(&["exec", "e1", "fail", "4"], "").await;
    assert_eq!(failed.status.code(), Some(4));
    assert_eq!(text(&failed.stderr), "failing\n");
    let missing = daemon.berth(&["exec", "e1", "nosuch"], "").await;
    assert_eq!(missing.status.code(), Some(127));
}

#[tokio::test]
async fn logs_follow_until_the_container_exits() {
    let daemon = Daemon::start().await;
    daemon
        .berth(&["run", "-d", "-i", "--name", "f1", "busybox", "cat"], "")
        .await;
    let host = daemon.host();
    let follow = Command::new(berth_bin())
        .args(["-H", &host, "logs", "-f", "f1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logs");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Feeds the container through an attach; `exit` ends it.
    let attach = daemon.berth(&["attach", "f1"], "followed\nexit\n").await;
    assert_eq!(text(&attach.stdout), "followed\n");
    let out = tokio::time::timeout(Duration::from_secs(10), follow.wait_with_output())
        .await
        .expect("logs -f ended")
        .expect("logs output");
    assert_eq!(text(&out.stdout), "followed\n");
    assert_eq!(out.status.code(), Some(0));
}

/// `script` gives berth a pseudo-terminal, as a person's shell would. The
/// keys are typed once the daemon has seen the start (the session is up and
/// the terminal raw), half a second apart.
async fn under_pty(daemon: &Daemon, command: &str, keys: &[&str]) -> (String, Option<i32>) {
    let seen = daemon.requests().len();
    let mut child = Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut input = child.stdin.take().expect("stdin");
    for _ in 0..100 {
        if daemon.requests()[seen..]
            .iter()
            .any(|r| r.contains("/start"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for key in keys {
        tokio::time::sleep(Duration::from_millis(500)).await;
        input.write_all(key.as_bytes()).await.expect("type");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the session ended")
        .expect("script output");
    drop(input);
    (text(&out.stdout), out.status.code())
}

#[tokio::test]
async fn run_it_is_interactive_under_a_pseudo_terminal() {
    let daemon = Daemon::start().await;
    let command = format!(
        "stty rows 30 cols 100; {} -H {} run -it --rm busybox cat; code=$?; \
         stty -a | grep -o -- '-icanon' ; exit $code",
        berth_bin().display(),
        daemon.host()
    );
    let (out, code) = under_pty(&daemon, &command, &["hello\r", "exit 5\r"]).await;
    assert_eq!(code, Some(5), "{out}");
    // The TTY echoes as the container's, raw; and the terminal is back
    // to cooked mode once berth is gone.
    assert!(out.starts_with("hello\r"), "{out:?}");
    assert!(!out.contains("-icanon"), "{out:?}");
    let requests = lines(&daemon);
    assert!(requests[1].ends_with("/attach?stderr=1&stdin=1&stdout=1&stream=1"));
    assert!(
        requests.iter().any(|r| r.ends_with("/resize?h=30&w=100")),
        "{requests:?}"
    );
    let create = daemon.requests()[1].clone();
    assert!(create.contains(r#""ConsoleSize":[30,100]"#), "{create}");
    assert!(create.contains(r#""Tty":true"#), "{create}");
}

#[tokio::test]
async fn detach_keys_leave_the_container_running() {
    let daemon = Daemon::start().await;
    let command = format!(
        "{} -H {} run -it --name dk busybox sh",
        berth_bin().display(),
        daemon.host()
    );
    let (out, code) = under_pty(&daemon, &command, &["ls\r", "\u{10}\u{11}"]).await;
    assert_eq!(code, Some(0), "{out}");
    let ps = daemon
        .berth(&["ps", "--format", "{{.Names}} {{.State}}"], "")
        .await;
    assert!(
        text(&ps.stdout).contains("dk running\n"),
        "{}",
        text(&ps.stdout)
    );
    let exec = format!(
        "{} -H {} exec -it dk sh",
        berth_bin().display(),
        daemon.host()
    );
    let (_, code) = under_pty(&daemon, &exec, &["exit 9\r"]).await;
    assert_eq!(code, Some(9));
}
