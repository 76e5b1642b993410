//! Containers end to end: real runc containers on a real berthd in a
//! sandbox host, driven by the real docker CLI and the berth CLI; checked
//! with real packets and `ip` inside the containers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::{seed_network, Run, Sandbox};
use serde_json::Value;

/// The seed's transcript (see ../shared/seed/README.md), with either CLI.
fn seed_transcript(cli: &dyn Fn(&[&str]) -> Run) {
    seed_network(cli);
    let addr = cli(&["exec", "test3", "ip", "addr"]).ok();
    assert!(addr.contains("inet 192.168.100.10/24"), "{addr}");
    assert!(addr.contains("02:42:c0:a8:64:0a"), "{addr}");
    let ps = cli(&["ps", "-a"]).ok();
    let header = ps.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{ps}");
    }
    assert!(ps.contains("test2") && ps.contains("test3"), "{ps}");
}

#[test]
fn seed_transcript_with_the_docker_cli() {
    let sb = Sandbox::with_busybox();
    seed_transcript(&|args| sb.docker(args));
    let test2 = sb.inspect("test2");
    assert_eq!(
        test2["NetworkSettings"]["Networks"]["mynetwork"]["IPAddress"],
        "192.168.100.10"
    );
    assert_eq!(
        test2["NetworkSettings"]["Networks"]["mynetwork"]["MacAddress"],
        "02:42:c0:a8:64:0a"
    );
    assert_eq!(test2["HostConfig"]["NetworkMode"], "mynetwork");
    assert_eq!(
        sb.inspect("test3")["HostConfig"]["NetworkMode"]
            .as_str()
            .unwrap(),
        format!("container:{}", test2["Id"].as_str().unwrap())
    );
}

fn ip_of(sb: &Sandbox, name: &str, network: &str) -> String {
    sb.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn default_bridge_containers_ping_each_other_and_the_gateway() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "one", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&["run", "-d", "--name", "two", "busybox", "sleep", "1d"])
        .ok();
    let one = ip_of(&sb, "one", "bridge");
    let two = ip_of(&sb, "two", "bridge");
    assert_eq!((one.as_str(), two.as_str()), ("172.17.0.2", "172.17.0.3"));
    sb.docker(&["exec", "one", "ping", "-c1", "-W2", &two]).ok();
    sb.docker(&["exec", "two", "ping", "-c1", "-W2", &one]).ok();
    sb.docker(&["exec", "one", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
    let addr = sb
        .docker(&["exec", "one", "ip", "addr", "show", "eth0"])
        .ok();
    assert!(
        addr.contains("inet 172.17.0.2/16") && addr.contains("02:42:ac:11:00:02"),
        "{addr}"
    );
    let route = sb.docker(&["exec", "one", "ip", "route"]).ok();
    assert!(route.contains("default via 172.17.0.1 dev eth0"), "{route}");
    // Both host ends hang off berth0.
    let links = sb.sh("bridge link").ok();
    let on_bridge: Vec<&str> = links
        .lines()
        .filter(|l| l.contains("master berth0"))
        .collect();
    assert_eq!(on_bridge.len(), 2, "{links}");
    assert!(on_bridge.iter().all(|l| l.contains(": veth")), "{links}");
}

#[test]
fn host_and_none_modes() {
    let sb = Sandbox::with_busybox();
    let host = sb
        .docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert!(
        host.contains("berth0"),
        "host mode sees the host's interfaces: {host}"
    );
    let none = sb
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    let names: Vec<&str> = none
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(names, vec!["lo"], "{none}");
    let route = sb
        .docker(&["run", "--rm", "--network", "none", "busybox", "ip", "route"])
        .ok();
    assert!(route.trim().is_empty(), "{route}");
}

#[test]
fn connect_and_disconnect_change_interfaces_live() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.55.0.0/24", "side"])
        .ok();
    sb.docker(&["run", "-d", "--name", "c1", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&[
        "network",
        "connect",
        "--ip",
        "10.55.0.77",
        "--alias",
        "extra",
        "side",
        "c1",
    ])
    .ok();
    let addr = sb
        .docker(&["exec", "c1", "ip", "addr", "show", "eth1"])
        .ok();
    assert!(addr.contains("inet 10.55.0.77/24"), "{addr}");
    let net = sb.docker(&["network", "inspect", "side"]).ok();
    let net: Value = serde_json::from_str(&net).unwrap();
    let members = net[0]["Containers"].as_object().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        members.values().next().unwrap()["IPv4Address"],
        "10.55.0.77/24"
    );
    let err = sb.docker(&["network", "rm", "side"]).err();
    assert!(err.contains("has active endpoints"), "{err}");
    sb.docker(&["network", "disconnect", "side", "c1"]).ok();
    let err = sb
        .docker(&["exec", "c1", "ip", "addr", "show", "eth1"])
        .err();
    assert!(err.contains("eth1"), "{err}");
    sb.docker(&["network", "rm", "side"]).ok();
}

#[test]
fn refusals_with_dockers_words() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.66.0.0/29", "tiny"])
        .ok();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "-d", "--ip", "172.17.0.50", "busybox", "sleep", "1d"],
            "user specified IP address is supported on user defined networks only",
        ),
        (
            &[
                "run",
                "-d",
                "--net",
                "tiny",
                "--ip",
                "10.99.0.5",
                "busybox",
                "sleep",
                "1d",
            ],
            "no configured subnet or ip-range contain the IP address 10.99.0.5",
        ),
        (
            &["run", "-d", "--net", "nosuch", "busybox", "sleep", "1d"],
            "network nosuch not found",
        ),
        (
            &[
                "run",
                "-d",
                "--net",
                "container:ghost",
                "busybox",
                "sleep",
                "1d",
            ],
            "No such container: ghost",
        ),
        (&["run", "-d", "nosuchimage"], "nosuchimage"),
    ];
    for (args, want) in cases {
        let err = sb.docker(args).err();
        assert!(
            err.contains(want),
            "docker {args:?}: want {want:?} in {err:?}"
        );
    }
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--net",
        "tiny",
        "--ip",
        "10.66.0.2",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let err = sb
        .docker(&[
            "run",
            "-d",
            "--net",
            "tiny",
            "--ip",
            "10.66.0.2",
            "busybox",
            "sleep",
            "1d",
        ])
        .err();
    assert!(err.contains("Address already in use"), "{err}");
    // A /29 has 5 addresses for containers once the gateway is taken.
    for _ in 0..4 {
        sb.docker(&["run", "-d", "--net", "tiny", "busybox", "sleep", "1d"])
            .ok();
    }
    let err = sb
        .docker(&["run", "-d", "--net", "tiny", "busybox", "sleep", "1d"])
        .err();
    assert!(
        err.contains("no available IPv4 addresses on this network's address pools: tiny"),
        "{err}"
    );
    let err = sb
        .docker(&["run", "-d", "--name", "fixed", "busybox", "sleep", "1d"])
        .err();
    assert!(
        err.contains("The container name \"/fixed\" is already in use"),
        "{err}"
    );
    let err = sb
        .docker(&[
            "run",
            "-d",
            "--net",
            "container:fixed",
            "-p",
            "80:80",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains("conflicting options: port publishing and the container type network mode"),
        "{err}"
    );
    let err = sb
        .docker(&[
            "run",
            "-d",
            "--net",
            "container:fixed",
            "--hostname",
            "x",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains("conflicting options: hostname and the network mode"),
        "{err}"
    );
}

#[test]
fn foreground_run_logs_and_exit_codes() {
    let sb = Sandbox::with_busybox();
    let out = sb.docker(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(out, "hello\n");
    let run = sb.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(run.status, 3);
    assert_eq!(run.stdout, "out\n");
    assert!(run.stderr.contains("err"), "{}", run.stderr);
    sb.docker(&[
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two",
    ])
    .ok();
    assert_eq!(sb.docker(&["logs", "talker"]).ok(), "one\ntwo\n");
    assert_eq!(sb.docker(&["logs", "--tail", "1", "talker"]).ok(), "two\n");
    let ps = sb
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "name=talker",
            "--format",
            "{{.Status}}",
        ])
        .ok();
    assert!(ps.starts_with("Exited (0)"), "{ps}");
    assert_eq!(sb.docker(&["wait", "talker"]).ok().trim(), "0");
    // Piped stdin reaches the container with -i.
    let mut cmd = sb.docker_command(&["run", "--rm", "-i", "busybox", "cat"]);
    let out = berth_testkit::sandbox::run_with_input(&mut cmd, b"piped\n");
    assert_eq!(out.stdout, "piped\n");
}

#[test]
fn interactive_run_and_exec_under_a_terminal() {
    let sb = Sandbox::with_busybox();
    // `script` gives the docker CLI a pseudo-terminal, as a user's shell would.
    let docker = berth_testkit::sandbox::docker_cli();
    let session = format!(
        "printf 'echo hi-from-$((6*7))\\nexit 4\\n' | DOCKER_HOST={} DOCKER_CONFIG={}/dc script -qec '{} run -it --rm busybox sh' /dev/null",
        sb.host_arg(),
        sb.dir().display(),
        docker.display()
    );
    let run = sb.sh(&session);
    assert!(run.stdout.contains("hi-from-42"), "{run:?}");
    assert_eq!(run.status, 4, "{run:?}");
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();
    let session = format!(
        "printf 'hostname\\nexit 7\\n' | DOCKER_HOST={} DOCKER_CONFIG={}/dc script -qec '{} exec -it box sh' /dev/null",
        sb.host_arg(),
        sb.dir().display(),
        docker.display()
    );
    let exec = sb.sh(&session);
    let id = sb.inspect("box")["Id"].as_str().unwrap()[..12].to_owned();
    assert!(exec.stdout.contains(&id), "{exec:?}");
    assert_eq!(exec.status, 7, "{exec:?}");
    let exec = sb
        .docker(&[
            "exec",
            "-e",
            "GREETING=yo",
            "-w",
            "/tmp",
            "box",
            "sh",
            "-c",
            "echo $GREETING $(pwd)",
        ])
        .ok();
    assert_eq!(exec, "yo /tmp\n");
}

#[test]
fn rm_leaves_nothing_and_frees_the_address() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "gone", "busybox", "sleep", "1d"])
        .ok();
    let id = sb.inspect("gone")["Id"].as_str().unwrap().to_owned();
    assert_eq!(sb.veths().len(), 1);
    // The rootfs is mounted in the container's own mount namespace only,
    // never in berthd's.
    let mounts = sb.sh("cat /proc/self/mountinfo").ok();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&id) && l.contains(" - overlay ")),
        "berthd's mount namespace holds the container's overlay: {mounts}"
    );
    sb.docker(&["rm", "-f", "gone"]).ok();
    assert!(sb.veths().is_empty());
    let mounts = sb.sh("cat /proc/self/mountinfo").ok();
    assert!(
        !mounts.contains(&id),
        "a mount of the container is left: {mounts}"
    );
    // Only this sandbox's own namespace files count: the machine may hold
    // others (`ip netns add`), which the sandbox's mount table inherits.
    // The fresh, never used ones berthd keeps ready in `.pool` are not
    // the container's.
    let own = sb.dir().display().to_string();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(" - nsfs ") && l.contains(&own) && !l.contains("/.pool/")),
        "a network namespace mount is left: {mounts}"
    );
    sb.docker(&["run", "-d", "--name", "next", "busybox", "sleep", "1d"])
        .ok();
    assert_eq!(
        ip_of(&sb, "next", "bridge"),
        "172.17.0.2",
        "the address is free again"
    );
}

#[test]
fn containers_survive_berthd_kill9_and_nothing_is_duplicated() {
    let mut sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&[
        "run", "-d", "--name", "web", "--net", "app", "busybox", "sleep", "1d",
    ])
    .ok();
    sb.docker(&[
        "run", "-d", "--name", "peer", "--net", "app", "busybox", "sleep", "1d",
    ])
    .ok();
    let web_ip = ip_of(&sb, "web", "app");
    let before = (sb.veths(), sb.docker(&["ps", "-q"]).ok());
    sb.kill_daemon();
    // The containers run on without the daemon.
    sb.sh(&format!("busybox ping -c1 -W2 {web_ip}")).ok();
    sb.restart_daemon();
    assert_eq!((sb.veths(), sb.docker(&["ps", "-q"]).ok()), before);
    sb.docker(&["exec", "peer", "ping", "-c1", "-W2", &web_ip])
        .ok();
    // Names still resolve after the restart.
    sb.docker(&["exec", "peer", "ping", "-c1", "-W2", "web"])
        .ok();
    // And the daemon still sees exits.
    sb.docker(&["stop", "-t", "1", "web"]).ok();
    let ps = sb
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "name=web",
            "--format",
            "{{.Status}}",
        ])
        .ok();
    assert!(ps.starts_with("Exited"), "{ps}");
}

#[test]
fn embedded_dns_between_containers() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&["network", "create", "elsewhere"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "app",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "ping",
        "-c1",
        "db",
    ])
    .ok();
    let short = sb.inspect("db")["Id"].as_str().unwrap()[..12].to_owned();
    for name in ["database", short.as_str(), "DB"] {
        sb.docker(&[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "ping",
            "-c1",
            "-W2",
            name,
        ])
        .ok();
    }
    let resolv = sb
        .docker(&[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ])
        .ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    // busybox nslookup exits 0 either way: read what it says.
    let other = sb.docker(&[
        "run",
        "--rm",
        "--network",
        "elsewhere",
        "busybox",
        "nslookup",
        "db",
    ]);
    assert!(other.stdout.contains("can't find db"), "{other:?}");
    let plain = sb
        .docker(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"])
        .ok();
    assert!(
        !plain.contains("127.0.0.11"),
        "the default bridge has no embedded DNS: {plain}"
    );
}

#[test]
fn lifecycle_verbs_and_references() {
    let mut sb = Sandbox::with_busybox();
    let id = sb
        .docker(&[
            "create",
            "--name",
            "life",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "--hostname",
            "lifehost",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(hostname); sleep 1d",
        ])
        .ok();
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64);
    let ps = sb
        .docker(&["ps", "-a", "--no-trunc", "-q", "--filter", "status=created"])
        .ok();
    assert_eq!(ps.trim(), id);
    sb.docker(&["start", &id[..8]]).ok();
    assert_eq!(
        sb.docker(&["ps", "-q", "--filter", "name=life"])
            .ok()
            .trim(),
        &id[..12]
    );
    // Logs -f follows until the container stops.
    let mut follow = sb.docker_command(&["logs", "-f", "life"]);
    let follower = std::thread::spawn(move || follow.output().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    sb.docker(&["kill", "-s", "KILL", "life"]).ok();
    let followed = follower.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&followed.stdout),
        "1 /tmp lifehost\n"
    );
    assert_eq!(sb.docker(&["wait", "life"]).ok().trim(), "137");
    sb.docker(&["restart", "-t", "1", "life"]).ok();
    let status = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Running}}",
            "life",
        ])
        .ok();
    assert_eq!(status.trim(), "running true");
    let err = sb.docker(&["rm", "life"]).err();
    assert!(
        err.contains("stop the container before removing or force remove"),
        "{err}"
    );
    sb.docker(&["stop", "-t", "1", "life"]).ok();
    // Entrypoint and exec -d.
    let out = sb
        .docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "entrypoint",
        ])
        .ok();
    assert_eq!(out, "via entrypoint\n");
    sb.docker(&["start", "life"]).ok();
    sb.docker(&["exec", "-d", "life", "touch", "/tmp/from-exec"])
        .ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    sb.docker(&["exec", "life", "test", "-f", "/tmp/from-exec"])
        .ok();
    // A SIGTERM'd daemon leaves containers running; the next one adopts them.
    assert_eq!(sb.stop_daemon(), 0);
    sb.restart_daemon();
    let status = sb
        .docker(&["inspect", "-f", "{{.State.Running}}", "life"])
        .ok();
    assert_eq!(status.trim(), "true");
    sb.docker(&["rm", "-f", "life"]).ok();
    let err = sb.docker(&["inspect", "life"]).err();
    assert!(
        err.contains("No such object: life") || err.contains("No such container"),
        "{err}"
    );
}

#[test]
fn etc_files_follow_the_flags() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.77.0.0/24", "files"])
        .ok();
    let hosts = sb
        .docker(&[
            "run",
            "--rm",
            "--name",
            "withhosts",
            "--net",
            "files",
            "--ip",
            "10.77.0.9",
            "--hostname",
            "myhost",
            "--add-host",
            "db.example:10.1.2.3",
            "--add-host",
            "gw:host-gateway",
            "busybox",
            "cat",
            "/etc/hosts",
        ])
        .ok();
    assert!(hosts.contains("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(hosts.contains("10.1.2.3\tdb.example"), "{hosts}");
    assert!(
        hosts.contains("172.17.0.1\tgw"),
        "host-gateway is the default bridge's gateway: {hosts}"
    );
    assert!(
        hosts.contains("10.77.0.9\tmyhost"),
        "its own name and address: {hosts}"
    );
    let hostname = sb
        .docker(&["run", "--rm", "--hostname", "myhost", "busybox", "hostname"])
        .ok();
    assert_eq!(hostname, "myhost\n");
    let resolv = sb
        .docker(&[
            "run",
            "--rm",
            "--dns",
            "10.9.9.9",
            "--dns-search",
            "corp.test",
            "--dns-option",
            "ndots:3",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ])
        .ok();
    assert!(resolv.contains("nameserver 10.9.9.9"), "{resolv}");
    assert!(resolv.contains("search corp.test"), "{resolv}");
    assert!(resolv.contains("options ndots:3"), "{resolv}");
}

#[test]
fn seed_transcript_with_the_berth_cli() {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    let tar = berth_testkit::sandbox::busybox_tarball();
    sb.berth(&["import", tar.to_str().unwrap(), "busybox:latest"])
        .ok();
    let images = sb.berth(&["images"]).ok();
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
    seed_transcript(&|args| sb.berth(args));
    let ps = sb.berth(&["ps", "-a"]).ok();
    assert!(ps.contains("Up "), "{ps}");
    // The berth CLI and the docker CLI see the same containers.
    assert_eq!(
        sb.berth(&["ps", "-aq"]).ok(),
        sb.docker(&["ps", "-aq"]).ok()
    );

    // Published ports through the berth CLI, and `port`.
    sb.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello > /www/index.html && httpd -f -p 80 -h /www",
    ])
    .ok();
    assert_eq!(sb.berth(&["port", "web"]).ok(), "80/tcp -> 0.0.0.0:8080\n");
    let page = sb.sh("for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc 127.0.0.1 8080 && break; sleep 0.2; done").ok();
    assert!(page.contains("hello"), "{page}");
    let ps = sb.berth(&["ps", "--filter", "name=web"]).ok();
    assert!(ps.contains("0.0.0.0:8080->80/tcp"), "{ps}");

    // Lifecycle through the berth CLI.
    let out = sb.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo from-berth; exit 5",
    ]);
    assert_eq!((out.status, out.stdout.as_str()), (5, "from-berth\n"));
    sb.berth(&["stop", "-t", "1", "test3"]).ok();
    sb.berth(&["rm", "-f", "test2", "test3", "web"]).ok();
    assert_eq!(sb.berth(&["ps", "-aq"]).ok(), "");
    let err = sb.berth(&["rmi", "nosuch"]).err();
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn kill_and_restart_follow_docker_with_the_signal_given() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "trapper",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got TERM' TERM; trap 'echo got INT' INT; while true; do sleep 0.1; done",
    ])
    .ok();
    // restart --signal: the container gets INT, not the default TERM.
    sb.docker(&["restart", "--signal", "SIGINT", "-t", "1", "trapper"])
        .ok();
    let logs = sb.docker(&["logs", "trapper"]).ok();
    assert!(logs.contains("got INT"), "{logs}");
    assert!(!logs.contains("got TERM"), "{logs}");
    let id = sb.inspect("trapper")["Id"].as_str().unwrap().to_owned();
    sb.docker(&["stop", "-t", "0", "trapper"]).ok();
    let err = sb.docker(&["kill", "trapper"]).err();
    assert!(
        err.contains(&format!(
            "cannot kill container: trapper: container {id} is not running"
        )),
        "{err}"
    );
}
