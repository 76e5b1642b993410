//! A container's lifecycle end to end, with the real docker CLI: restart
//! policies (a crash-looping container restarts with back-off and gives up
//! at its count, a stop by hand is respected, `always` containers come back
//! when berthd is killed together with their processes) and the stop
//! signal and timeout `stop` uses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::Sandbox;

/// Generous: the back-off of three restarts is 0.7 s.
const SETTLE: Duration = Duration::from_secs(30);

fn format(sb: &Sandbox, name: &str, template: &str) -> String {
    sb.docker(&["inspect", "-f", template, name])
        .ok()
        .trim()
        .to_owned()
}

/// Waits (bounded) until `template` renders `want` for `name`.
#[track_caller]
fn until(sb: &Sandbox, name: &str, template: &str, want: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = format(sb, name, template);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {template} is {got:?}, not {want:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn on_failure_restarts_with_back_off_and_gives_up_at_its_count() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok();
    until(
        &sb,
        "flaky",
        "{{.RestartCount}} {{.State.Status}}",
        "3 exited",
    );
    assert_eq!(
        format(
            &sb,
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}"
        ),
        "on-failure 3 3"
    );
    let ps = sb
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "name=flaky",
            "--format",
            "{{.Status}}",
        ])
        .ok();
    assert!(ps.starts_with("Exited (3)"), "{ps}");
    // A start by hand gives it three more tries.
    sb.docker(&["start", "flaky"]).ok();
    until(
        &sb,
        "flaky",
        "{{.RestartCount}} {{.State.Status}}",
        "3 exited",
    );

    // Bad policies get Docker's words.
    // (The docker CLI refuses this one itself.)
    let (status, body) = sb.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image": "busybox", "HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("can't create 'AutoRemove' container with restart policy"),
        "{body}"
    );
    let err = sb
        .docker(&["create", "--restart", "always:3", "busybox", "true"])
        .err();
    assert!(
        err.contains("maximum retry count can only be used with 'on-failure'"),
        "{err}"
    );
}

#[test]
fn always_restarts_until_stopped_by_hand() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ])
    .ok();
    until(&sb, "loop", "{{ge .RestartCount 2}}", "true");
    // Up or waiting to restart, it is listed by `ps` without `-a`.
    let listed = sb.docker(&["ps", "--filter", "name=loop", "-q"]).ok();
    assert!(!listed.trim().is_empty());
    sb.docker(&["stop", "loop"]).ok();
    until(
        &sb,
        "loop",
        "{{.State.Status}} {{.State.Restarting}}",
        "exited false",
    );
    let count = format(&sb, "loop", "{{.RestartCount}}");
    sleep(Duration::from_millis(500));
    assert_eq!(
        format(&sb, "loop", "{{.RestartCount}} {{.State.Status}}"),
        format!("{count} exited")
    );
    // A start by hand counts from zero again.
    sb.docker(&["start", "loop"]).ok();
    assert_eq!(format(&sb, "loop", "{{.RestartCount}}"), "0");
    sb.docker(&["rm", "-f", "loop"]).ok();
}

#[test]
fn always_containers_come_back_when_berthd_and_their_processes_were_killed() {
    let mut sb = Sandbox::with_busybox();
    for (name, policy) in [
        ("svc", "always"),
        ("kept", "unless-stopped"),
        ("plain", "no"),
    ] {
        sb.docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "1d",
        ])
        .ok();
    }
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "held",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&["stop", "-t", "0", "held"]).ok();
    let ids: Vec<String> = ["svc", "kept", "plain"]
        .iter()
        .map(|name| format(&sb, name, "{{.Id}}"))
        .collect();
    // berthd dies, and so do the containers' processes and their shims
    // (as after a reboot).
    sb.kill_daemon();
    for id in ids {
        let shim_pid =
            std::fs::read_to_string(sb.dir().join(format!("exec/containers/{id}/shim.pid")))
                .unwrap();
        sb.sh(&format!("kill -9 {}", shim_pid.trim())).ok();
    }
    sb.restart_daemon();
    until(&sb, "svc", "{{.State.Status}}", "running");
    until(&sb, "kept", "{{.State.Status}}", "running");
    assert_eq!(format(&sb, "plain", "{{.State.Status}}"), "exited");
    assert_eq!(format(&sb, "held", "{{.State.Status}}"), "exited");
    // Back on its network, reachable as before.
    sb.docker(&["exec", "svc", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
}

#[test]
fn stop_sends_the_containers_stop_signal_and_waits_its_timeout() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "trap",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "30",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while :; do sleep 0.1; done",
    ])
    .ok();
    assert_eq!(
        format(
            &sb,
            "trap",
            "{{.Config.StopSignal}} {{.Config.StopTimeout}}"
        ),
        "SIGUSR1 30"
    );
    sb.docker(&["stop", "trap"]).ok();
    assert_eq!(format(&sb, "trap", "{{.State.ExitCode}}"), "42");

    // A process that ignores its stop signal is killed after the timeout.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "deaf",
        "--stop-signal",
        "USR2",
        "--stop-timeout",
        "1",
        "busybox",
        "sh",
        "-c",
        "trap '' USR2; while :; do sleep 0.1; done",
    ])
    .ok();
    sb.docker(&["stop", "deaf"]).ok();
    assert_eq!(format(&sb, "deaf", "{{.State.ExitCode}}"), "137");

    let err = sb
        .docker(&["create", "--stop-signal", "SIGBOGUS", "busybox", "true"])
        .err();
    assert!(err.contains("Invalid signal: SIGBOGUS"), "{err}");
}

#[test]
fn pause_freezes_and_unpause_thaws_with_dockers_refusals() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done",
    ])
    .ok();
    sb.docker(&["pause", "ticker"]).ok();
    assert_eq!(
        format(&sb, "ticker", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    let ps = sb
        .docker(&[
            "ps",
            "--filter",
            "status=paused",
            "--format",
            "{{.Names}} {{.Status}}",
        ])
        .ok();
    assert!(
        ps.starts_with("ticker Up") && ps.trim_end().ends_with("(Paused)"),
        "{ps}"
    );
    // Frozen: the counter it writes stands still (read from the host,
    // since exec is refused).
    let pid = format(&sb, "ticker", "{{.State.Pid}}");
    let tick = || std::fs::read_to_string(format!("/proc/{pid}/root/tmp/tick")).unwrap();
    let frozen = tick();
    sleep(Duration::from_millis(300));
    assert_eq!(tick(), frozen, "paused, it does not tick");
    let err = sb.docker(&["exec", "ticker", "true"]).err();
    assert!(
        err.contains("is paused, unpause the container before exec"),
        "{err}"
    );
    let err = sb.docker(&["pause", "ticker"]).err();
    assert!(err.contains("is already paused"), "{err}");

    sb.docker(&["unpause", "ticker"]).ok();
    assert_eq!(format(&sb, "ticker", "{{.State.Status}}"), "running");
    sleep(Duration::from_millis(300));
    assert_ne!(tick(), frozen, "thawed, it ticks again");
    let err = sb.docker(&["unpause", "ticker"]).err();
    assert!(err.contains("is not paused"), "{err}");

    // A paused container stops: the stop thaws it so its signal lands.
    sb.docker(&["pause", "ticker"]).ok();
    sb.docker(&["stop", "-t", "1", "ticker"]).ok();
    assert_eq!(
        format(&sb, "ticker", "{{.State.Status}} {{.State.Paused}}"),
        "exited false"
    );
    let err = sb.docker(&["pause", "ticker"]).err();
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn rename_moves_the_name_and_its_dns_name() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "apps"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "apps",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "apps",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&["rename", "web", "site"]).ok();
    assert_eq!(format(&sb, "site", "{{.Name}}"), "/site");
    sb.docker(&["exec", "client", "ping", "-c1", "-W2", "site"])
        .ok();
    let old = sb.docker(&["exec", "client", "nslookup", "web"]);
    assert_ne!(old.status, 0, "the old name is gone: {old:?}");
    let err = sb.docker(&["rename", "site", "client"]).err();
    assert!(err.contains("is already in use"), "{err}");
    let err = sb.docker(&["rename", "site", "site"]).err();
    assert!(
        err.contains("Renaming a container with the same name"),
        "{err}"
    );
}

#[test]
fn top_lists_the_containers_processes() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "worker",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 2000",
    ])
    .ok();
    let top = sb.docker(&["top", "worker"]).ok();
    let mut lines = top.lines();
    let titles = lines.next().unwrap();
    assert!(titles.contains("PID") && titles.contains("CMD"), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.ends_with("sleep 1000")), "{top}");
    assert!(rows.iter().any(|r| r.ends_with("sleep 2000")), "{top}");
    // Only the container's: the two sleeps (sh exec'd the last one).
    assert_eq!(rows.len(), 2, "{top}");
    let custom = sb.docker(&["top", "worker", "-o", "pid,comm"]).ok();
    assert!(
        custom.lines().next().unwrap().contains("COMMAND"),
        "{custom}"
    );
    let err = sb.docker(&["top", "nosuch"]).err();
    assert!(err.contains("No such container: nosuch"), "{err}");
}

#[test]
fn healthchecks_probe_and_show_in_inspect_and_ps() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    assert_eq!(
        format(&sb, "web", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","test -e /tmp/ready"]"#
    );
    until(&sb, "web", "{{.State.Health.Status}}", "unhealthy");
    let ps = sb.docker(&["ps", "--format", "{{.Status}}"]).ok();
    assert!(ps.trim_end().ends_with("(unhealthy)"), "{ps}");
    sb.docker(&["exec", "web", "touch", "/tmp/ready"]).ok();
    until(
        &sb,
        "web",
        "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
        "healthy 0",
    );
    let log = format(
        &sb,
        "web",
        "{{range .State.Health.Log}}{{.ExitCode}} {{end}}",
    );
    assert!(log.split_whitespace().count() <= 5, "{log}");
    assert!(log.trim_end().ends_with('0'), "{log}");

    // A probe past its timeout is killed and says so.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let deadline = Instant::now() + SETTLE;
    loop {
        let log = format(
            &sb,
            "slow",
            "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}};{{end}}",
        );
        if log.starts_with("-1 Health check exceeded timeout (300ms);") {
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        sleep(Duration::from_millis(50));
    }
    // No check: no health.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    assert_eq!(format(&sb, "plain", "{{.State.Health}}"), "<nil>");
    let err = sb
        .docker(&[
            "create",
            "--health-cmd",
            "true",
            "--health-retries",
            "-1",
            "busybox",
        ])
        .err();
    assert!(
        err.contains("Retries in Healthcheck cannot be negative")
            || err.contains("--health-retries cannot be negative"),
        "{err}"
    );
}

#[test]
fn compose_waits_for_a_healthy_service() {
    let sb = Sandbox::with_busybox();
    let file = "version: '2.4'
services:
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /tmp/ready; sleep 600'
    healthcheck:
      test: ['CMD-SHELL', 'test -e /tmp/ready']
      interval: 200ms
      retries: 30
  app:
    image: busybox
    command: sleep 600
    depends_on:
      db:
        condition: service_healthy
";
    let up = sb.compose("stack", file, &["up", "-d"]);
    assert_eq!(up.status, 0, "{}", up.stderr);
    assert_eq!(
        format(&sb, "stack_db_1", "{{.State.Health.Status}}"),
        "healthy"
    );
    assert_eq!(format(&sb, "stack_app_1", "{{.State.Status}}"), "running");
    let down = sb.compose("stack", file, &["down"]);
    assert_eq!(down.status, 0, "{}", down.stderr);
}

#[test]
fn compose_logs_and_a_foreground_up_show_the_services_output() {
    let sb = Sandbox::with_busybox();
    let file = "version: '2.4'
services:
  talker:
    image: busybox
    command: sh -c 'echo hello-from-talker; echo err-line >&2; sleep 1; echo bye'
";
    let up = sb.compose("chat", file, &["up"]);
    assert_eq!(up.status, 0, "{}", up.stderr);
    for line in ["hello-from-talker", "err-line", "bye", "exited with code 0"] {
        assert!(up.stdout.contains(line), "{line}: {}", up.stdout);
    }
    let logs = sb.compose("chat", file, &["logs", "--no-color"]);
    assert_eq!(logs.status, 0, "{}", logs.stderr);
    assert!(
        logs.stdout.contains("talker_1  | hello-from-talker")
            && logs.stdout.contains("talker_1  | bye"),
        "{}",
        logs.stdout
    );
    sb.compose("chat", file, &["down"]);
}

#[test]
fn logs_details_prefix_each_line_with_its_empty_attributes() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two",
    ])
    .ok();
    let plain = sb.docker(&["logs", "talk"]).ok();
    assert_eq!(plain, "one\ntwo\n");
    // No --log-opt, no attributes: dockerd writes just the separating space.
    let details = sb.docker(&["logs", "--details", "talk"]).ok();
    assert_eq!(details, " one\n two\n");
}

#[test]
fn links_give_hosts_entries_and_moby_s_variables() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "-e",
        "PASSWORD=x",
        "--expose",
        "6379",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&[
        "run", "-d", "--name", "web", "--link", "db:my-db", "busybox", "sleep", "1d",
    ])
    .ok();
    let ip = format(&sb, "db", "{{.NetworkSettings.IPAddress}}");
    let hostname = format(&sb, "db", "{{.Config.Hostname}}");
    let hosts = sb.docker(&["exec", "web", "cat", "/etc/hosts"]).ok();
    assert!(
        hosts.contains(&format!("{ip}\tmy-db {hostname} db")),
        "{hosts}"
    );
    let env = sb.docker(&["exec", "web", "env"]).ok();
    for var in [
        format!("MY_DB_PORT=tcp://{ip}:6379"),
        format!("MY_DB_PORT_6379_TCP_ADDR={ip}"),
        "MY_DB_NAME=/web/my-db".to_owned(),
        "MY_DB_ENV_PASSWORD=x".to_owned(),
    ] {
        assert!(env.lines().any(|l| l == var), "{var}: {env}");
    }
    sb.docker(&["exec", "web", "ping", "-c1", "-W2", "my-db"])
        .ok();
    assert_eq!(
        format(&sb, "web", "{{json .HostConfig.Links}}"),
        r#"["/db:/web/my-db"]"#
    );

    let err = sb
        .docker(&["create", "--link", "nosuch", "busybox", "true"])
        .err();
    assert!(err.contains("could not get container for nosuch"), "{err}");
    sb.docker(&["stop", "-t", "0", "db"]).ok();
    sb.docker(&["stop", "-t", "0", "web"]).ok();
    let err = sb.docker(&["start", "web"]).err();
    assert!(
        err.contains("Cannot link to a non running container: /db AS /web/my-db"),
        "{err}"
    );

    // On a user network the alias resolves for the linking container.
    sb.docker(&["network", "create", "apps"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "apps",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&[
        "run",
        "--rm",
        "--network",
        "apps",
        "--link",
        "api:backend",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "backend",
    ])
    .ok();
}
