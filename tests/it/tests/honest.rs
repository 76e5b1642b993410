//! Honest answers end to end, with the real docker CLI: what berth does
//! not apply is refused by name, a start that fails answers the error (and
//! removes a `--rm` container, as Docker does), and what the CLI sends by
//! default still works.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;
use serde_json::Value;

fn no_containers(sb: &Sandbox) {
    let ps = sb.docker(&["ps", "-aq"]).ok();
    assert!(ps.trim().is_empty(), "containers left: {ps}");
}

#[test]
fn run_rm_with_a_failing_start_answers_and_removes() {
    let sb = Sandbox::with_busybox();
    let run = sb.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(run.status, 127, "{run:?}");
    assert!(
        run.stderr.contains("executable file not found"),
        "{}",
        run.stderr
    );
    no_containers(&sb);

    // A user the image's /etc/passwd lacks.
    let run = sb.docker(&["run", "--rm", "--user", "nosuchuser", "busybox", "true"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stderr.contains("unable to find user nosuchuser"),
        "{}",
        run.stderr
    );
    no_containers(&sb);
    // One it has.
    let ids = sb
        .docker(&["run", "--rm", "--user", "nobody", "busybox", "id", "-u"])
        .ok();
    assert_eq!(ids.trim(), "65534");

    // Without --rm the container stays, Created, and `start` is a 400.
    sb.docker(&["create", "--name", "bad", "busybox", "nosuchcmd"])
        .ok();
    let (status, body) = sb.http("POST", "/v1.50/containers/bad/start", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("executable file not found"), "{body}");
    let state = sb.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "bad",
    ]);
    assert_eq!(state.ok().trim(), "created 127");
}

#[test]
fn an_unset_env_var_is_unset_not_a_failure() {
    let sb = Sandbox::with_busybox();
    // The CLI sends `-e VAR` as a bare `VAR` when VAR is unset on its side.
    let out = sb
        .docker_command(&[
            "run",
            "--rm",
            "-e",
            "BERTH_SURELY_UNSET",
            "-e",
            "SET=1",
            "busybox",
            "sh",
            "-c",
            "echo ${BERTH_SURELY_UNSET-unset} $SET",
        ])
        .env_remove("BERTH_SURELY_UNSET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unset 1");
    no_containers(&sb);
}

#[test]
fn options_berth_does_not_apply_are_refused_by_name() {
    let sb = Sandbox::with_busybox();
    for (flags, named) in [
        (
            &["--volume-driver", "nfs"][..],
            "--volume-driver (HostConfig.VolumeDriver)",
        ),
        (
            &["--mount", "type=volume,target=/v,volume-subpath=x"][..],
            "--mount volume-subpath",
        ),
        (&["--gpus", "all"][..], "--gpus (HostConfig.DeviceRequests)"),
        (&["--log-driver", "syslog"][..], "--log-driver"),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let err = sb.docker(&args).err();
        assert!(
            err.contains(&format!("berth does not support {named}")),
            "{flags:?}: {err}"
        );
    }
    no_containers(&sb);
}

#[test]
fn what_the_cli_sends_by_default_still_runs() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.7.0.0/24", "n1"])
        .ok();
    sb.docker(&["run", "-d", "busybox", "sleep", "1"]).ok();
    let out = sb
        .docker(&[
            "run",
            "--rm",
            "--network",
            "n1",
            "--ip",
            "10.7.0.5",
            "--name",
            "full",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "0",
            "--hostname",
            "h1",
            "--dns",
            "10.7.0.53",
            "--add-host",
            "extra:10.7.0.9",
            "--network-alias",
            "al",
            "--mac-address",
            "02:42:0a:07:00:63",
            "--label",
            "l=v",
            "-p",
            "8080:80",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u) $(hostname); ip addr show eth0; cat /etc/hosts",
        ])
        .ok();
    assert!(out.contains("1 /tmp 0 h1"), "{out}");
    assert!(out.contains("inet 10.7.0.5/24"), "{out}");
    assert!(out.contains("02:42:0a:07:00:63"), "{out}");
    assert!(out.contains("10.7.0.9\textra"), "{out}");
}

#[test]
fn a_terminal_starts_at_the_requested_size() {
    let sb = Sandbox::with_busybox();
    let body = r#"{"Image": "busybox", "Tty": true, "Cmd": ["stty", "size"],
        "HostConfig": {"ConsoleSize": [30, 100]}}"#;
    let (status, reply) = sb.http("POST", "/v1.50/containers/create?name=tty", Some(body));
    assert_eq!(status, 201, "{reply}");
    sb.docker(&["start", "tty"]).ok();
    sb.docker(&["wait", "tty"]).ok();
    let logs = sb.docker(&["logs", "tty"]).ok();
    assert_eq!(logs.trim(), "30 100");
}

#[test]
fn bad_image_references_are_400s() {
    let sb = Sandbox::with_busybox();
    for body in [
        r#"{"Image": "", "Cmd": ["true"]}"#,
        r#"{"Image": "UPPER"}"#,
        r#"{"Image": "a b"}"#,
    ] {
        let (status, reply) = sb.http("POST", "/v1.50/containers/create", Some(body));
        assert_eq!(status, 400, "{body}: {reply}");
    }
    let (status, reply) = sb.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image": "nosuchimage"}"#),
    );
    assert_eq!(status, 404, "{reply}");
}

#[test]
fn a_mac_given_at_connect_of_a_created_container_is_used_at_start() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.8.0.0/24", "n2"])
        .ok();
    sb.docker(&["create", "--name", "c1", "busybox", "sleep", "60"])
        .ok();
    let (status, reply) = sb.http(
        "POST",
        "/v1.50/networks/n2/connect",
        Some(r#"{"Container": "c1", "EndpointConfig": {"MacAddress": "02:42:de:ad:be:ef"}}"#),
    );
    assert_eq!(status, 200, "{reply}");
    sb.docker(&["start", "c1"]).ok();
    let addr = sb.docker(&["exec", "c1", "ip", "link"]).ok();
    assert!(addr.contains("02:42:de:ad:be:ef"), "{addr}");
    let inspect: Value = serde_json::from_str(&sb.docker(&["inspect", "c1"]).ok()).unwrap();
    assert_eq!(
        inspect[0]["NetworkSettings"]["Networks"]["n2"]["MacAddress"],
        "02:42:de:ad:be:ef"
    );
}

#[test]
fn network_names_are_any_non_empty_string() {
    let sb = Sandbox::with_busybox();
    for name in ["my net", "a/b", r"x*y\z"] {
        sb.docker(&["network", "create", name]).ok();
        let inspected = sb
            .docker(&["network", "inspect", "-f", "{{.Name}}", name])
            .ok();
        assert_eq!(inspected.trim(), name);
        sb.docker(&["run", "--rm", "--network", name, "busybox", "true"])
            .ok();
    }
    let ls = sb.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(
        ls.lines().any(|l| l == "my net") && ls.lines().any(|l| l == "a/b"),
        "{ls}"
    );
    for name in ["my net", "a/b", r"x*y\z"] {
        sb.docker(&["network", "rm", name]).ok();
    }
    let (status, body) = sb.http("POST", "/v1.50/networks/create", Some(r#"{"Name": ""}"#));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn bad_network_requests_are_400s() {
    let sb = Sandbox::with_busybox();
    let links_before = sb.link_names();
    for bridge in [r"br\x", "br\"x", "br*"] {
        let err = sb
            .docker(&[
                "network",
                "create",
                "-o",
                &format!("com.docker.network.bridge.name={bridge}"),
                "n1",
            ])
            .err();
        assert!(err.contains("invalid bridge name"), "{err}");
    }
    let (status, body) = sb.http(
        "POST",
        "/v1.50/networks/create",
        Some(
            r#"{"Name": "n1", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24",
                "AuxiliaryAddresses": {"a": "10.9.0.5", "b": "10.9.0.5"}}]}}"#,
        ),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = sb.http(
        "POST",
        "/v1.50/networks/create",
        Some(r#"{"Name": "n1", "CheckDuplicate": "yes"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(sb.link_names(), links_before);
    let ls = sb.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(!ls.lines().any(|l| l == "n1"), "{ls}");

    // A container on the host's network joins no other: Docker's 400.
    sb.docker(&["network", "create", "n2"]).ok();
    sb.docker(&[
        "create",
        "--name",
        "onhost",
        "--network",
        "host",
        "busybox",
        "true",
    ])
    .ok();
    let (status, body) = sb.http(
        "POST",
        "/v1.50/networks/n2/connect",
        Some(r#"{"Container": "onhost"}"#),
    );
    assert_eq!(status, 400, "{body}");

    // --ip needs a subnet the user configured.
    let err = sb
        .docker(&[
            "run",
            "--rm",
            "--network",
            "n2",
            "--ip",
            "172.18.0.50",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
        "{err}"
    );
}

#[test]
fn run_it_starts_at_the_clients_terminal_size() {
    let sb = Sandbox::with_busybox();
    // `script` gives the CLI a terminal; the CLI sends its size as
    // HostConfig.ConsoleSize.
    let line = format!(
        "stty rows 30 cols 100; DOCKER_HOST={} {} run -it --rm busybox stty size",
        sb.host_arg(),
        berth_testkit::sandbox::docker_cli().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("DOCKER_CONFIG", sb.dir().join("docker-config"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("30 100"), "{stdout}");
    no_containers(&sb);
}

/// docker-compose 1.29 (docker-py) sends its own defaults: a plain project
/// comes up, and an option berth does not apply is refused by name.
#[test]
fn docker_compose_projects_come_up_or_are_refused_by_name() {
    let sb = Sandbox::with_busybox();
    let compose = |file: &str, args: &[&str]| {
        let run = sb.compose("proj", file, args);
        (run.status == 0, run.stderr)
    };
    let plain = "version: '3'
services:
  web:
    image: busybox
    command: sleep 60
    ports: ['8080:80']
    environment: [A=1]
    networks: [front]
  db:
    image: busybox
    command: sleep 60
    networks: [front]
networks:
  front: {}
";
    let (ok, err) = compose(plain, &["up", "-d"]);
    assert!(ok, "{err}");
    let ps = sb.docker(&["ps", "--format", "{{.Names}}"]).ok();
    assert!(
        ps.contains("proj_web_1") && ps.contains("proj_db_1"),
        "{ps}"
    );
    let (ok, err) = compose(plain, &["down"]);
    assert!(ok, "{err}");

    // Limits are applied.
    let limited = "version: '2.4'
services:
  web:
    image: busybox
    command: sleep 60
    mem_limit: 64m
";
    let (ok, err) = compose(limited, &["up", "-d"]);
    assert!(ok, "{err}");
    let memory = sb
        .docker(&["inspect", "-f", "{{.HostConfig.Memory}}", "proj_web_1"])
        .ok();
    assert_eq!(memory.trim(), "67108864");
    compose(limited, &["down"]);

    let refused = "version: '2.4'
services:
  web:
    image: busybox
    command: sleep 60
    device_cgroup_rules: ['c 1:3 mr']
";
    let (ok, err) = compose(refused, &["up", "-d"]);
    assert!(!ok);
    assert!(
        err.contains("berth does not support --device-cgroup-rule (HostConfig.DeviceCgroupRules)"),
        "{err}"
    );
    compose(refused, &["down"]);
    no_containers(&sb);
}

#[test]
fn a_named_user_runs_and_execs() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run", "-d", "--name", "nobody1", "--user", "nobody", "busybox", "sleep", "60",
    ])
    .ok();
    assert_eq!(
        sb.docker(&["exec", "nobody1", "id", "-u"]).ok().trim(),
        "65534"
    );
    assert_eq!(
        sb.docker(&["exec", "-u", "root", "nobody1", "id", "-u"])
            .ok()
            .trim(),
        "0"
    );
    // Refused (the CLI words a refused attached exec start its own way).
    sb.docker(&["exec", "-u", "nosuchuser", "nobody1", "true"])
        .err();
}

#[test]
fn an_exec_that_cannot_start_answers_in_dockers_words() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();
    // As dockerd, the error goes down the attached stream (stdout), and the
    // exit code is the exec's.
    let run = sb.docker(&["exec", "box", "nosuch"]);
    assert_eq!(run.status, 127, "{run:?}");
    assert!(
        run.stdout.contains(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown"
        ),
        "{}",
        run.stdout
    );
    // Not executable: 126's case.
    let run = sb.docker(&["exec", "box", "/etc/hosts"]);
    assert_eq!(run.status, 126, "{run:?}");
    assert!(
        run.stdout.contains("OCI runtime exec failed") && run.stdout.contains("permission denied"),
        "{}",
        run.stdout
    );
    // The container is untouched.
    sb.docker(&["exec", "box", "true"]).ok();
}
