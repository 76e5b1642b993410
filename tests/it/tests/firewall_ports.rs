//! The firewall end to end (issue 4): published ports reachable from
//! everywhere, loopback bindings, UDP, ranges, Docker's refusals, unmapping
//! at stop and rm, concurrent starts on one host port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod fw;

use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Run, HOST_OUTSIDE_IP, PEER_IP};

use fw::*;

#[test]
fn a_published_port_is_reachable_from_everywhere_and_keeps_the_client_address() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "front"]).ok();
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.run("client", &["--network", "front"], "sleep 1d");
    fw.run("neighbour", &[], "sleep 1d");
    let gateway = "172.17.0.1";

    // From another host: the container sees the peer's own address.
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let seen = fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/cgi-bin/ip", PEER_IP);
    assert_eq!(client_addr(&seen), PEER_IP, "{seen}");
    // From the host itself, at each of its addresses and at 127.0.0.1.
    for addr in [HOST_OUTSIDE_IP, gateway, "127.0.0.1"] {
        fw.eventually(Client::Host, addr, 8080, "/", "hello 80");
    }
    // From a container of another network, through the host's address.
    fw.eventually(
        Client::Ctr("client"),
        HOST_OUTSIDE_IP,
        8080,
        "/",
        "hello 80",
    );
    // From a neighbour on the same bridge and from the container itself
    // (hairpin), through the host's address.
    fw.eventually(
        Client::Ctr("neighbour"),
        HOST_OUTSIDE_IP,
        8080,
        "/",
        "hello 80",
    );
    fw.eventually(Client::Ctr("web"), HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.eventually(Client::Ctr("web"), gateway, 8080, "/", "hello 80");

    assert_eq!(fw.docker_port("web"), vec!["80/tcp -> 0.0.0.0:8080"]);
    assert_eq!(
        fw.docker(&["port", "web", "80"]).ok().trim(),
        "0.0.0.0:8080"
    );
    assert_eq!(fw.ps_ports("web"), "0.0.0.0:8080->80/tcp");
    let ps = fw.docker(&["ps"]).ok();
    let line = ps.lines().find(|l| l.ends_with(" web")).unwrap();
    assert!(line.contains("0.0.0.0:8080->80/tcp"), "{ps}");
    let inspect = fw.inspect("web");
    assert_eq!(
        inspect["NetworkSettings"]["Ports"]["80/tcp"],
        serde_json::json!([{"HostIp": "0.0.0.0", "HostPort": "8080"}])
    );
}

#[test]
fn loopback_bindings_udp_ranges_and_publish_all() {
    let fw = Fw::new(&[]);
    // -p 127.0.0.1:8081:80: the host only.
    fw.run("local", &["-p", "127.0.0.1:8081:80"], &serve(&[80]));
    fw.eventually(Client::Host, "127.0.0.1", 8081, "/", "hello 80");
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 8081);
    fw.unreachable(Client::Host, HOST_OUTSIDE_IP, 8081);
    assert_eq!(fw.docker_port("local"), vec!["80/tcp -> 127.0.0.1:8081"]);
    assert_eq!(fw.ps_ports("local"), "127.0.0.1:8081->80/tcp");

    // The same ports on both sides: one element whatever the length.
    fw.run(
        "same",
        &["-p", "9000-9002:9000-9002"],
        &serve(&[9000, 9001, 9002]),
    );
    for port in [9000, 9001, 9002] {
        fw.eventually(
            Client::Peer,
            HOST_OUTSIDE_IP,
            port,
            "/",
            &format!("hello {port}"),
        );
    }
    assert_eq!(fw.ps_ports("same"), "0.0.0.0:9000-9002->9000-9002/tcp");
    // Shifted ranges: each host port to its own container port.
    fw.run("shifted", &["-p", "9200-9201:80-81"], &serve(&[80, 81]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 9200, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 9201, "/", "hello 81");
    assert_eq!(
        fw.docker_port("shifted"),
        vec!["80/tcp -> 0.0.0.0:9200", "81/tcp -> 0.0.0.0:9201"]
    );
    // A host range for one container port: the first free port of it.
    fw.run("ranged1", &["-p", "9100-9102:80"], &serve(&[80]));
    fw.run("ranged2", &["-p", "9100-9102:80"], &serve(&[80]));
    assert_eq!(fw.docker_port("ranged1"), vec!["80/tcp -> 0.0.0.0:9100"]);
    assert_eq!(fw.docker_port("ranged2"), vec!["80/tcp -> 0.0.0.0:9101"]);
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 9100, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 9101, "/", "hello 80");
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 9102);

    // -P with --expose: an ephemeral host port.
    fw.run("all", &["-P", "--expose", "80"], &serve(&[80]));
    let ports = fw.docker_port("all");
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port: u16 = ports[0]
        .strip_prefix("80/tcp -> 0.0.0.0:")
        .unwrap_or_else(|| panic!("{ports:?}"))
        .parse()
        .unwrap();
    assert!((32768..=60999).contains(&port), "{port}");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, port, "/", "hello 80");

    // `-p CPORT` and `-p IP::CPORT`: ephemeral host ports, the second on
    // 127.0.0.1 only; SCTP is mapped like the others.
    fw.run(
        "eph",
        &["-p", "80", "-p", "127.0.0.1::81", "-p", "7000:7000/sctp"],
        &serve(&[80, 81]),
    );
    let ports = fw.docker_port("eph");
    assert_eq!(ports.len(), 3, "{ports:?}");
    let host_port = |prefix: &str| -> u16 {
        ports
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {ports:?}"))
            .parse()
            .unwrap()
    };
    let any = host_port("80/tcp -> 0.0.0.0:");
    let local = host_port("81/tcp -> 127.0.0.1:");
    assert_eq!(host_port("7000/sctp -> 0.0.0.0:"), 7000);
    assert!(port < any && any < local, "{port} {any} {local}");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, any, "/", "hello 80");
    fw.eventually(Client::Host, "127.0.0.1", local, "/", "hello 81");
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, local);
    let sctp = port_elements(&fw.sb);
    assert!(sctp.contains("sctp . 7000"), "{sctp}");

    // UDP: a server in the container's network namespace answers with the
    // address it saw.
    fw.run("udp", &["-p", "5353:53/udp"], "sleep 1d");
    assert_eq!(fw.docker_port("udp"), vec!["53/udp -> 0.0.0.0:5353"]);
    assert_eq!(fw.ps_ports("udp"), "0.0.0.0:5353->53/udp");
    let server = udp_socket_in(fw.pid("udp"), "0.0.0.0:53");
    let from_peer = udp_socket_in(fw.peer.pid(), "0.0.0.0:0");
    let target = format!("{HOST_OUTSIDE_IP}:5353");
    assert_eq!(
        udp_ask(&server, &from_peer, &target),
        Some((PEER_IP.to_owned(), target.clone()))
    );
    let from_host = udp_socket_in(fw.sb.pid(), "127.0.0.1:0");
    let answer = udp_ask(&server, &from_host, "127.0.0.1:5353");
    assert_eq!(
        answer.map(|(_, replier)| replier),
        Some("127.0.0.1:5353".to_owned())
    );
    // TCP on the same port number is not published.
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 5353);
}

#[test]
fn refusals_use_dockers_words_and_change_nothing() {
    let mut fw = Fw::new(&[]);
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.host_spawn("exec busybox nc -l -p 8090");
    // Wait for the host process to listen.
    let deadline = Instant::now() + PATIENCE;
    while !fw.sb.sh("ss -Hltn 'sport = :8090'").ok().contains("8090") {
        assert!(Instant::now() < deadline, "nc did not listen on 8090");
        sleep(Duration::from_millis(50));
    }
    let before = tables(&fw.sb);
    let links = fw.sb.link_names();

    let cases: &[(&[&str], &str)] = &[
        (
            &["-p", "8080:80"],
            "Bind for 0.0.0.0:8080 failed: port is already allocated",
        ),
        (
            &["-p", "127.0.0.1:8080:80"],
            "Bind for 127.0.0.1:8080 failed: port is already allocated",
        ),
        (
            &["-p", "8090:80"],
            "failed to bind host port for 0.0.0.0:8090:",
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let name = format!("refused{i}");
        let mut all = vec!["run", "-d", "--name", name.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "sleep", "1d"]);
        let err = fw.docker(&all).err();
        assert!(
            err.contains(want),
            "docker {all:?}: want {want:?} in {err:?}"
        );
        let prefix = format!(
            "Error response from daemon: failed to set up container networking: \
             driver failed programming external connectivity on endpoint {name} ("
        );
        assert!(err.contains(&prefix), "{err}");
        let status = fw.inspect(&name)["State"]["Status"].clone();
        assert_eq!(status, "created", "{name}");
        assert_eq!(tables(&fw.sb), before, "docker {all:?} changed the tables");
        assert_eq!(fw.sb.link_names(), links, "docker {all:?} left links");
    }
    let err = fw
        .docker(&["run", "-d", "-p", "8090:80", "busybox", "sleep", "1d"])
        .err();
    assert!(
        err.contains("address already in use") && err.contains(":80/tcp"),
        "{err}"
    );

    // Malformed specs: the CLI refuses some itself, the daemon the rest.
    for (spec, want) in [
        ("80:80:80:80", "invalid"),
        ("99999:80", "invalid"),
        ("8080:80/xyz", "invalid"),
    ] {
        let err = fw
            .docker(&["run", "-d", "-p", spec, "busybox", "sleep", "1d"])
            .err();
        assert!(err.to_lowercase().contains(want), "-p {spec}: {err}");
    }
    let (status, body) = fw.sb.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"abc"}]}}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(r#"invalid port specification: \"abc\""#),
        "{body}"
    );
    let (status, body) = fw.sb.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"http/tcp":[{"HostPort":"80"}]}}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(r#"invalid port specification: \"http\""#),
        "{body}"
    );

    // -p with another container's network: refused.
    let err = fw
        .docker(&[
            "run",
            "-d",
            "--network",
            "container:web",
            "-p",
            "8082:80",
            "busybox",
            "sleep",
            "1d",
        ])
        .err();
    assert!(
        err.contains("conflicting options: port publishing and the container type network mode"),
        "{err}"
    );
    // -p with the host's network: a warning, the ports are discarded.
    let run = fw.docker(&[
        "run",
        "-d",
        "--name",
        "hosted",
        "--network",
        "host",
        "-p",
        "8083:80",
        "busybox",
        "sleep",
        "1d",
    ]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("WARNING: Published ports are discarded when using host network mode"),
        "{run:?}"
    );
    assert!(fw.docker_port("hosted").is_empty());
    assert_eq!(fw.ps_ports("hosted"), "");
    // -p with no network: accepted, nothing published (as Docker).
    fw.docker(&[
        "run",
        "-d",
        "--name",
        "alone",
        "--network",
        "none",
        "-p",
        "8084:80",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    assert!(fw.docker_port("alone").is_empty());

    assert_eq!(tables(&fw.sb), before, "the tables changed");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}

#[test]
fn stop_and_rm_unmap_at_once_and_start_maps_again() {
    let fw = Fw::new(&[]);
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let mapped = port_elements(&fw.sb);
    assert!(mapped.contains("8080"), "{mapped}");

    fw.docker(&["stop", "-t", "1", "web"]).ok();
    assert_eq!(port_elements(&fw.sb), "");
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 8080);
    fw.unreachable(Client::Host, "127.0.0.1", 8080);
    assert_eq!(fw.ps_ports("web"), "");

    fw.docker(&["start", "web"]).ok();
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    assert_eq!(fw.docker_port("web"), vec!["80/tcp -> 0.0.0.0:8080"]);

    // The port is free for another container once this one is gone.
    fw.docker(&["rm", "-f", "web"]).ok();
    assert_eq!(port_elements(&fw.sb), "");
    fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 8080);
    fw.run("again", &["-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}

#[test]
fn concurrent_starts_on_one_host_port_one_wins_the_others_are_refused() {
    let fw = Fw::new(&[]);
    // Starts run outside the engine: a container still starting must
    // already hold its host ports against the next start.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let fw = &fw;
                s.spawn(move || {
                    let name = format!("racer{i}");
                    let mut args = vec!["run", "-d", "--name", name.as_str(), "-p", "8080:80"];
                    args.extend(["busybox", "sh", "-c"]);
                    let script = serve(&[80]);
                    args.push(&script);
                    fw.docker(&args)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&Run> = runs.iter().filter(|r| r.status == 0).collect();
    assert_eq!(won.len(), 1, "{runs:#?}");
    for lost in runs.iter().filter(|r| r.status != 0) {
        assert!(
            lost.stderr
                .contains("Bind for 0.0.0.0:8080 failed: port is already allocated"),
            "{lost:?}"
        );
    }
    let mapped = port_elements(&fw.sb);
    assert_eq!(mapped.matches("tcp . 8080 ").count(), 2, "{mapped}");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}
