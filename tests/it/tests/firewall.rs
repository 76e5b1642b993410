//! The firewall end to end (issue 4): outbound NAT, published ports,
//! isolation between networks and the robustness of berth's nftables
//! tables, checked with real packets between real containers, the sandbox
//! host and an outside peer (another namespace joined to the sandbox host,
//! standing in for another machine).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{
    Peer, Run, Sandbox, HOST_OUTSIDE_IP, HOST_OUTSIDE_IP6, PEER_IP, PEER_IP6,
};
use nix::sched::{setns, CloneFlags};
use serde_json::Value;

/// How long a functional check may keep retrying (a server starting, the
/// watchdog noticing): generous, never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(10);

/// Starts httpd on each of `ports`; the one on port P serves `/` as
/// "hello P" and `/cgi-bin/ip` as the client's address it sees.
fn serve(ports: &[u16]) -> String {
    let mut script = String::new();
    for (i, port) in ports.iter().enumerate() {
        let dir = format!("/www/{port}");
        script.push_str(&format!(
            "mkdir -p {dir}/cgi-bin && echo 'hello {port}' > {dir}/index.html \
             && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > {dir}/cgi-bin/ip \
             && chmod +x {dir}/cgi-bin/ip && "
        ));
        if i + 1 == ports.len() {
            script.push_str(&format!("exec httpd -f -p {port} -h {dir}"));
        } else {
            script.push_str(&format!("httpd -p {port} -h {dir} && "));
        }
    }
    script
}

/// Where a client runs.
#[derive(Clone, Copy, Debug)]
enum Client<'a> {
    /// The sandbox host itself.
    Host,
    /// The outside peer.
    Peer,
    /// A container (by name), with busybox nc.
    Ctr(&'a str),
}

/// A sandbox host with an outside peer, a daemon and the busybox image.
struct Fw {
    sb: Sandbox,
    peer: Peer,
    /// Processes this test started (servers); killed at the end.
    children: Vec<Child>,
}

impl Drop for Fw {
    fn drop(&mut self) {
        // Containers outlive the daemon (their shims keep them): remove
        // them while the daemon can, so no process of this test is left.
        let ids = self.sb.docker(&["ps", "-aq"]);
        let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.sb.docker(&args);
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fw {
    fn new(daemon_args: &[&str]) -> Fw {
        let mut sb = Sandbox::new();
        let peer = sb.add_outside_peer();
        sb.start_daemon(daemon_args);
        sb.import_busybox();
        Fw {
            sb,
            peer,
            children: Vec::new(),
        }
    }

    fn docker(&self, args: &[&str]) -> Run {
        self.sb.docker(args)
    }

    /// An HTTP server in the outside peer on port 80 (both families):
    /// `/` is "peer page", `/cgi-bin/ip` the client's address it sees.
    fn peer_web(&mut self) {
        let www = self.sb.dir().join("peer-www");
        fs::create_dir_all(www.join("cgi-bin")).unwrap();
        fs::write(www.join("index.html"), "peer page\n").unwrap();
        let cgi = www.join("cgi-bin/ip");
        fs::write(
            &cgi,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
        )
        .unwrap();
        fs::set_permissions(&cgi, fs::Permissions::from_mode(0o755)).unwrap();
        let child = self
            .peer
            .spawn(&format!("exec busybox httpd -f -p 80 -h {}", www.display()));
        self.children.push(child);
        let page = self.eventually(Client::Peer, "127.0.0.1", 80, "/", "peer page");
        assert!(page.contains("peer page"));
    }

    /// A process in the sandbox host (not in any container).
    fn host_spawn(&mut self, script: &str) {
        let child = self
            .sb
            .command("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// One HTTP GET of `path` at `host:port` from `from`, with a short
    /// timeout: the response (headers and body) on success.
    fn get(&self, from: Client<'_>, host: &str, port: u16, path: &str) -> Result<String, String> {
        let url_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let curl = format!(
            "curl -sS -i -g --noproxy '*' --connect-timeout 2 -m 3 http://{url_host}:{port}{path}"
        );
        let run = match from {
            Client::Host => self.sb.sh(&curl),
            Client::Peer => self.peer.sh(&curl),
            Client::Ctr(name) => self.docker(&[
                "exec",
                name,
                "sh",
                "-c",
                &format!(
                    "printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | timeout 4 nc -w 2 {host} {port}"
                ),
            ]),
        };
        if run.status == 0 && run.stdout.contains(" 200 ") {
            Ok(run.stdout)
        } else {
            Err(format!(
                "status {}, stdout {:?}, stderr {:?}",
                run.status, run.stdout, run.stderr
            ))
        }
    }

    /// Retries [`Fw::get`] until the response contains `want`.
    #[track_caller]
    fn eventually(
        &self,
        from: Client<'_>,
        host: &str,
        port: u16,
        path: &str,
        want: &str,
    ) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.get(from, host, port, path);
            match &got {
                Ok(body) if body.contains(want) => return body.clone(),
                _ if Instant::now() > deadline => panic!(
                    "GET http://{host}:{port}{path} from {from:?}: want {want:?}, got {got:?}\ndaemon log tail:\n{}",
                    log_tail(&self.sb)
                ),
                _ => sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Asserts that a GET from `from` does not get through.
    #[track_caller]
    fn unreachable(&self, from: Client<'_>, host: &str, port: u16) {
        if let Ok(body) = self.get(from, host, port, "/") {
            panic!("http://{host}:{port}/ from {from:?} must not be reachable, got {body:?}");
        }
    }

    fn inspect(&self, what: &str) -> Value {
        let out = self.docker(&["inspect", what]).ok();
        serde_json::from_str::<Value>(&out).unwrap()[0].clone()
    }

    fn ip(&self, name: &str, network: &str) -> String {
        self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn ip6(&self, name: &str, network: &str) -> String {
        self.inspect(name)["NetworkSettings"]["Networks"][network]["GlobalIPv6Address"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn pid(&self, name: &str) -> u32 {
        u32::try_from(self.inspect(name)["State"]["Pid"].as_u64().unwrap()).unwrap()
    }

    /// `docker run -d --name NAME ARGS... busybox sh -c SCRIPT`.
    fn run(&self, name: &str, args: &[&str], script: &str) {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "sh", "-c", script]);
        self.docker(&all).ok();
    }

    /// The PORTS column of `docker ps` for container `name`.
    fn ps_ports(&self, name: &str) -> String {
        let ps = self
            .docker(&["ps", "-a", "--format", "{{.Names}}\t{{.Ports}}"])
            .ok();
        ps.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("no container {name}: {ps}"))
            .trim()
            .to_owned()
    }

    fn docker_port(&self, name: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .docker(&["port", name])
            .ok()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }
}

/// The client address a `/cgi-bin/ip` response reports, as busybox httpd
/// gives it (`[::ffff:10.200.0.2]` on its dual-stack socket) made plain.
fn client_addr(response: &str) -> String {
    let last = response.trim_end().lines().last().unwrap_or("").trim();
    let bare = last.trim_start_matches('[').trim_end_matches(']');
    bare.strip_prefix("::ffff:").unwrap_or(bare).to_owned()
}

/// The last lines of the daemon's log, for failure messages.
fn log_tail(sb: &Sandbox) -> String {
    let log = sb.daemon_log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("API request") && !l.contains("shim started"))
        .collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// berth's tables as nft lists them, without the rules' packet counters:
/// equal texts mean equal structure and equal elements.
fn tables(sb: &Sandbox) -> String {
    let run = sb.sh("nft list table ip berth && nft list table ip6 berth");
    assert_eq!(run.status, 0, "berth's tables are missing: {}", run.stderr);
    run.stdout
        .lines()
        .map(|l| match l.find("counter packets") {
            Some(at) => {
                let rest = &l[at..];
                // "counter packets N bytes M" -> "counter"
                let end = rest
                    .match_indices("bytes ")
                    .next()
                    .map(|(i, _)| {
                        let after = &rest[i + 6..];
                        i + 6 + after.find(' ').unwrap_or(after.len())
                    })
                    .unwrap_or(rest.len());
                format!("{}counter{}", &l[..at], &rest[end..])
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The elements of one of berth's sets or maps, as `nft` prints them.
fn elements(sb: &Sandbox, family: &str, set: &str) -> String {
    let kind = if set.starts_with("dnat") {
        "map"
    } else {
        "set"
    };
    let out = sb.sh(&format!("nft list {kind} {family} berth {set}")).ok();
    out.split_once("elements = {")
        .map(|(_, rest)| rest.split('}').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default()
}

/// Every per-port element of berth's tables (both families), one a line.
fn port_elements(sb: &Sandbox) -> String {
    let mut out = Vec::new();
    for family in ["ip", "ip6"] {
        for set in [
            "dnat-addr",
            "dnat-addr-keep-port",
            "dnat-any",
            "dnat-any-keep-port",
            "published-addr",
            "published-any",
        ] {
            let elements = elements(sb, family, set);
            if !elements.is_empty() {
                out.push(format!("{family} {set}: {elements}"));
            }
        }
    }
    out.join("\n")
}

/// A UDP socket bound in the network namespace of process `pid` (a socket
/// keeps the namespace it was made in, so it is used from any thread).
fn udp_socket_in(pid: u32, addr: &str) -> UdpSocket {
    let path = format!("/proc/{pid}/ns/net");
    let addr: SocketAddr = addr.parse().unwrap();
    std::thread::spawn(move || {
        let ns = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
        let socket = UdpSocket::bind(addr).expect("bind udp");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
        // The thread ends here, in the namespace it entered.
    })
    .join()
    .expect("udp socket thread")
}

/// A UDP echo server on `server` answering each datagram with the address
/// it came from, asked by `client` at `target`: the answer (the client
/// address the server saw) and where it came from, or None if nothing came
/// back.
fn udp_ask(server: &UdpSocket, client: &UdpSocket, target: &str) -> Option<(String, String)> {
    for _ in 0..3 {
        client.send_to(b"who am i", target).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((_, from)) = server.recv_from(&mut buf) {
            server
                .send_to(from.ip().to_string().as_bytes(), from)
                .unwrap();
            if let Ok((n, replier)) = client.recv_from(&mut buf) {
                return Some((
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                    replier.to_string(),
                ));
            }
        }
    }
    None
}

#[test]
fn outbound_traffic_is_masqueraded_except_internal_and_masquerade_off() {
    let mut fw = Fw::new(&[]);
    fw.peer_web();
    fw.docker(&["network", "create", "app"]).ok();
    fw.sb
        .berth(&["network", "create", "--internal", "inside"])
        .ok();
    fw.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "plain",
    ])
    .ok();
    fw.run("on-app", &["--network", "app"], "sleep 1d");
    fw.run("on-default", &[], "sleep 1d");
    fw.run("on-inside", &["--network", "inside"], "sleep 1d");
    fw.run("on-plain", &["--network", "plain"], "sleep 1d");

    // The peer sees the host's address, from a user network and from the
    // default bridge.
    for ctr in ["on-app", "on-default"] {
        let body = fw.eventually(
            Client::Ctr(ctr),
            PEER_IP,
            80,
            "/cgi-bin/ip",
            HOST_OUTSIDE_IP,
        );
        assert_eq!(client_addr(&body), HOST_OUTSIDE_IP, "{body}");
        fw.eventually(Client::Ctr(ctr), PEER_IP, 80, "/", "peer page");
    }
    // Without masquerade the packets leave with the container's own
    // address (the peer routes the answer back through the host).
    let plain_ip = fw.ip("on-plain", "plain");
    let body = fw.eventually(
        Client::Ctr("on-plain"),
        PEER_IP,
        80,
        "/cgi-bin/ip",
        &plain_ip,
    );
    assert!(!body.contains(HOST_OUTSIDE_IP), "{body}");
    // Nothing leaves an internal network.
    fw.unreachable(Client::Ctr("on-inside"), PEER_IP, 80);
    let ping = fw.docker(&["exec", "on-inside", "ping", "-c1", "-W1", PEER_IP]);
    assert_ne!(ping.status, 0, "{ping:?}");
}

#[test]
fn daemon_ip_masq_false_leaves_container_addresses() {
    let mut fw = Fw::new(&["--ip-masq=false"]);
    fw.peer_web();
    fw.run("on-default", &[], "sleep 1d");
    let ip = fw.ip("on-default", "bridge");
    fw.eventually(Client::Ctr("on-default"), PEER_IP, 80, "/cgi-bin/ip", &ip);
}

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
fn container_addresses_and_unpublished_ports_are_closed_to_outside() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "--subnet", "10.77.0.0/24", "app"])
        .ok();
    fw.run("web", &["-p", "8080:80"], &serve(&[81, 80]));
    fw.run(
        "uweb",
        &["--network", "app", "-p", "8081:80"],
        &serve(&[81, 80]),
    );
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8081, "/", "hello 80");
    // The host reaches them directly: it owns the bridges.
    let web = fw.ip("web", "bridge");
    let uweb = fw.ip("uweb", "app");
    fw.eventually(Client::Host, &web, 81, "/", "hello 81");
    fw.eventually(Client::Host, &uweb, 81, "/", "hello 81");

    // The peer, even with routes to the container subnets, does not.
    fw.peer
        .sh(&format!(
            "ip route add 172.17.0.0/16 via {HOST_OUTSIDE_IP} && ip route add 10.77.0.0/24 via {HOST_OUTSIDE_IP}"
        ))
        .ok();
    std::thread::scope(|s| {
        for (host, port) in [
            (web.as_str(), 80),
            (web.as_str(), 81),
            (uweb.as_str(), 80),
            (uweb.as_str(), 81),
            (HOST_OUTSIDE_IP, 81),
            (HOST_OUTSIDE_IP, 80),
        ] {
            let fw = &fw;
            s.spawn(move || fw.unreachable(Client::Peer, host, port));
        }
        for ip in [web.as_str(), uweb.as_str()] {
            let fw = &fw;
            s.spawn(move || {
                let ping = fw.peer.sh(&format!("ping -c1 -W1 {ip}"));
                assert_ne!(ping.status, 0, "ping {ip} from the peer: {ping:?}");
            });
        }
    });
    // The published ports still work.
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
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

/// Whether `from` pings `to` (one echo).
fn pings(fw: &Fw, from: &str, to: &str) -> bool {
    fw.docker(&["exec", from, "ping", "-c1", "-W1", to]).status == 0
}

#[test]
fn isolation_matrix() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "--subnet", "10.81.0.0/24", "red"])
        .ok();
    fw.sb
        .berth(&["network", "create", "--subnet", "10.82.0.0/24", "blue"])
        .ok();
    fw.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.83.0.0/24",
        "vault",
    ])
    .ok();
    fw.docker(&[
        "network",
        "create",
        "--subnet",
        "10.84.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    ])
    .ok();
    // Two containers on each network; quiet1 publishes a port.
    let nets = [
        ("bridge", "def"),
        ("red", "red"),
        ("blue", "blue"),
        ("vault", "vault"),
        ("quiet", "quiet"),
    ];
    for (net, prefix) in nets {
        for n in 1..=2 {
            let name = format!("{prefix}{n}");
            if name == "quiet1" {
                fw.run(&name, &["--network", net, "-p", "8080:80"], &serve(&[80]));
            } else {
                fw.run(&name, &["--network", net], &serve(&[80]));
            }
        }
    }
    let ip = |name: &str| {
        let net = nets
            .iter()
            .find(|(_, p)| name.starts_with(p))
            .map(|(n, _)| *n)
            .unwrap();
        fw.ip(name, net)
    };

    // (from, to, allowed)
    let mut pairs: Vec<(String, String, bool)> = Vec::new();
    for (_, p) in nets {
        let same_allowed = p != "quiet";
        pairs.push((format!("{p}1"), format!("{p}2"), same_allowed));
        pairs.push((format!("{p}2"), format!("{p}1"), same_allowed));
    }
    for (_, a) in nets {
        for (_, b) in nets {
            if a != b {
                pairs.push((format!("{a}1"), format!("{b}1"), false));
            }
        }
    }
    let ips: std::collections::HashMap<String, String> = nets
        .iter()
        .flat_map(|(_, p)| [format!("{p}1"), format!("{p}2")])
        .map(|n| (n.clone(), ip(&n)))
        .collect();
    let results: Vec<(String, String, bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|(from, to, allowed)| {
                let (fw, ips) = (&fw, &ips);
                s.spawn(move || {
                    let target = &ips[to];
                    // An allowed pair gets a few tries (ARP, a slow start);
                    // a blocked one must never get through.
                    let tries = if *allowed { 3 } else { 1 };
                    let ok = (0..tries).any(|_| pings(fw, from, target));
                    (from.clone(), to.clone(), *allowed, ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, _, allowed, ok)| allowed != ok)
        .map(|(from, to, allowed, _)| {
            format!(
                "{from} -> {to} ({}) should be {}",
                ips[to],
                if *allowed { "allowed" } else { "blocked" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "isolation matrix: {wrong:#?}");

    // TCP too, across networks and within icc=false.
    fw.eventually(Client::Ctr("red2"), &ips["red1"], 80, "/", "hello 80");
    fw.unreachable(Client::Ctr("red1"), &ips["blue1"], 80);
    fw.unreachable(Client::Ctr("quiet2"), &ips["quiet1"], 80);
    // icc=false still serves its published port to the host and the peer.
    fw.eventually(Client::Host, "127.0.0.1", 8080, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    // Internal: nothing leaves, not even to the host's other side.
    let ping = fw.docker(&["exec", "vault1", "ping", "-c1", "-W1", PEER_IP]);
    assert_ne!(ping.status, 0, "{ping:?}");
}

#[test]
fn a_flushed_ruleset_comes_back_by_itself() {
    let fw = Fw::new(&[]);
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let before = tables(&fw.sb);
    fw.sb.sh("nft flush ruleset").ok();
    assert_ne!(fw.sb.sh("nft list table ip berth").status, 0);

    let deadline = Instant::now() + Duration::from_secs(5);
    while fw.sb.sh("nft list table ip berth").status != 0 {
        assert!(
            Instant::now() < deadline,
            "berth's tables did not come back; log:\n{}",
            log_tail(&fw.sb)
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(tables(&fw.sb), before);
    let log = fw.sb.daemon_log();
    assert!(log.contains("tables restored"), "{}", log_tail(&fw.sb));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}

#[test]
fn iptables_false_leaves_the_firewall_alone() {
    let fw = Fw::new(&["--iptables=false"]);
    fw.docker(&["network", "create", "app"]).ok();
    fw.run("web", &["--network", "app", "-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Ctr("web"), "127.0.0.1", 80, "/", "hello 80");
    // Longer than the watchdog's period: it must not add anything either.
    sleep(Duration::from_millis(2500));
    let ruleset = fw.sb.sh("nft list ruleset").ok();
    assert!(ruleset.trim().is_empty(), "{ruleset}");
}

#[test]
fn daemon_json_iptables_false_leaves_the_firewall_alone() {
    let mut sb = Sandbox::new();
    sb.write_daemon_json(r#"{"iptables": false}"#);
    sb.start_daemon(&[]);
    sb.docker(&["network", "create", "app"]).ok();
    let ruleset = sb.sh("nft list ruleset").ok();
    assert!(ruleset.trim().is_empty(), "{ruleset}");
}

#[test]
fn kill_9_and_restart_keep_the_tables_as_the_store_says() {
    let mut fw = Fw::new(&[]);
    fw.docker(&["network", "create", "app"]).ok();
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.run(
        "uweb",
        &[
            "--network",
            "app",
            "-p",
            "8081:80",
            "-p",
            "9000-9001:9000-9001",
        ],
        &serve(&[9000, 9001, 80]),
    );
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8081, "/", "hello 80");
    let before = tables(&fw.sb);

    fw.sb.kill_daemon();
    // The containers and their ports keep working without the daemon.
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.sb.restart_daemon();
    assert_eq!(tables(&fw.sb), before);
    let tables_listed = fw.sb.sh("nft list tables").ok();
    assert_eq!(tables_listed.matches("berth").count(), 2, "{tables_listed}");
    for (port, want) in [
        (8080, "hello 80"),
        (8081, "hello 80"),
        (9000, "hello 9000"),
        (9001, "hello 9001"),
    ] {
        fw.eventually(Client::Peer, HOST_OUTSIDE_IP, port, "/", want);
    }

    // A kill in the middle of a start: after the restart the kernel holds
    // exactly what the store says is running.
    let mut starting = fw
        .sb
        .docker_command(&[
            "run",
            "-d",
            "--name",
            "late",
            "-p",
            "8082:80",
            "busybox",
            "sh",
            "-c",
            &serve(&[80]),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(150));
    fw.sb.kill_daemon();
    let _ = starting.wait();
    fw.sb.restart_daemon();
    // (berth's name filter takes no regexp anchors yet: `late` is unique.)
    let running = fw.docker(&["ps", "--filter", "name=late", "-q"]).ok();
    let elements_now = elements(&fw.sb, "ip", "dnat-any");
    if running.trim().is_empty() {
        assert!(!elements_now.contains("8082"), "{elements_now}");
        fw.unreachable(Client::Peer, HOST_OUTSIDE_IP, 8082);
    } else {
        assert_eq!(elements_now.matches("8082").count(), 1, "{elements_now}");
        fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8082, "/", "hello 80");
    }
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}

#[test]
fn ipv6_networks_masquerade_publish_and_isolate() {
    let mut fw = Fw::new(&[]);
    fw.peer_web();
    fw.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:dead::/64",
        "six",
    ])
    .ok();
    fw.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:beef::/64",
        "other",
    ])
    .ok();
    fw.run("web", &["--network", "six", "-p", "8080:80"], &serve(&[80]));
    fw.run("far", &["--network", "other"], &serve(&[80]));
    let web6 = fw.ip6("web", "six");
    assert!(web6.starts_with("fd00:dead::"), "{web6}");

    // Out to the peer over IPv6, masqueraded to the host's address.
    let body = fw.eventually(
        Client::Ctr("web"),
        PEER_IP6,
        80,
        "/cgi-bin/ip",
        HOST_OUTSIDE_IP6,
    );
    assert_eq!(client_addr(&body), HOST_OUTSIDE_IP6, "{body}");
    // The published port on [::]: the peer reaches it at the host's IPv6
    // address, and the container sees the peer's address.
    let seen = fw.eventually(
        Client::Peer,
        HOST_OUTSIDE_IP6,
        8080,
        "/cgi-bin/ip",
        PEER_IP6,
    );
    assert_eq!(client_addr(&seen), PEER_IP6, "{seen}");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    assert_eq!(
        fw.docker_port("web"),
        vec!["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
    );
    assert_eq!(
        fw.ps_ports("web"),
        "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    );
    // Direct access from the peer with a route: dropped.
    fw.peer
        .sh(&format!(
            "ip -6 route add fd00:dead::/64 via {HOST_OUTSIDE_IP6}"
        ))
        .ok();
    fw.unreachable(Client::Peer, &web6, 80);
    // Two IPv6 networks are isolated.
    let far6 = fw.ip6("far", "other");
    fw.unreachable(Client::Ctr("web"), &far6, 80);
    fw.unreachable(Client::Ctr("far"), &web6, 80);
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

/// The host's conntrack entries (both families) that mention `addr` at
/// either end, one a line, as `conntrack -L` prints them.
fn flows_of(sb: &Sandbox, addr: &str) -> Vec<String> {
    let out = sb.sh("conntrack -L 2>/dev/null; conntrack -L -f ipv6 2>/dev/null");
    out.stdout
        .lines()
        .filter(|l| l.contains(&format!("src={addr} ")) || l.contains(&format!("dst={addr} ")))
        .map(str::to_owned)
        .collect()
}

/// Waits until conntrack shows a flow from `src` to `dst` with a reply:
/// the old flow a test's later steps must not be able to reuse.
#[track_caller]
fn wait_replied_flow(fw: &Fw, src: &str, dst: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let flows = flows_of(&fw.sb, src);
        if flows
            .iter()
            .any(|l| l.contains(&format!("src={src} dst={dst} ")) && !l.contains("[UNREPLIED]"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no replied flow {src} -> {dst}: {flows:#?}\n{}",
            log_tail(&fw.sb)
        );
        sleep(Duration::from_millis(200));
    }
}

/// Runs container `name` (`args`) whose first process pings `target`
/// three times, as the old flow's pinger did: as process 1, so with the
/// same ICMP id, the same conntrack tuple as the old flow. Whether any
/// reply came.
fn replayed_ping_gets_through(fw: &Fw, name: &str, args: &[&str], target: &str) -> bool {
    fw.run(name, args, &format!("exec ping -c 3 -W 2 {target}"));
    let code = fw.docker(&["wait", name]).ok();
    code.trim() == "0"
}

/// Removes containers and networks, then asserts the host tracks no flow
/// of `addresses` any more (they were deleted when the endpoints left).
#[track_caller]
fn remove_and_check_flows_gone(
    fw: &Fw,
    containers: &[&str],
    networks: &[&str],
    addresses: &[&str],
) {
    let mut rm = vec!["rm", "-f"];
    rm.extend_from_slice(containers);
    fw.docker(&rm).ok();
    let mut net_rm = vec!["network", "rm"];
    net_rm.extend_from_slice(networks);
    fw.docker(&net_rm).ok();
    for addr in addresses {
        let left = flows_of(&fw.sb, addr);
        assert!(
            left.is_empty(),
            "flows of {addr} outlived its container: {left:#?}"
        );
    }
}

#[test]
fn a_reused_address_gets_no_verdict_of_an_old_flow_under_icc_false() {
    let fw = Fw::new(&[]);
    fw.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.91.0.0/24",
        "--subnet",
        "fd00:91::/64",
        "open",
    ])
    .ok();
    fw.run(
        "a2",
        &[
            "--network",
            "open",
            "--ip",
            "10.91.0.3",
            "--ip6",
            "fd00:91::3",
        ],
        "sleep 1d",
    );
    // The IPv4 pinger is process 1 (its ICMP id is 1, as the replay's).
    fw.run(
        "a1",
        &[
            "--network",
            "open",
            "--ip",
            "10.91.0.2",
            "--ip6",
            "fd00:91::2",
        ],
        "ping -6 -i 0.2 fd00:91::3 & exec ping -i 0.2 10.91.0.3",
    );
    wait_replied_flow(&fw, "10.91.0.2", "10.91.0.3");
    wait_replied_flow(&fw, "fd00:91::2", "fd00:91::3");
    remove_and_check_flows_gone(
        &fw,
        &["a1", "a2"],
        &["open"],
        &["10.91.0.2", "10.91.0.3", "fd00:91::2", "fd00:91::3"],
    );

    fw.docker(&[
        "network",
        "create",
        "--subnet",
        "10.91.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    ])
    .ok();
    fw.run(
        "b2",
        &["--network", "quiet", "--ip", "10.91.0.3"],
        "sleep 1d",
    );
    assert!(
        !replayed_ping_gets_through(
            &fw,
            "b1",
            &["--network", "quiet", "--ip", "10.91.0.2"],
            "10.91.0.3"
        ),
        "icc=false let a reused address through: {:#?}",
        flows_of(&fw.sb, "10.91.0.2")
    );
    assert!(!pings(&fw, "b2", "10.91.0.2"), "nor the other way");
}

#[test]
fn a_reused_address_on_an_internal_network_does_not_reach_the_outside() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "--subnet", "10.92.0.0/24", "open"])
        .ok();
    fw.run(
        "out",
        &["--network", "open", "--ip", "10.92.0.2"],
        &format!("exec ping -i 0.2 {PEER_IP}"),
    );
    wait_replied_flow(&fw, "10.92.0.2", PEER_IP);
    remove_and_check_flows_gone(&fw, &["out"], &["open"], &["10.92.0.2"]);

    fw.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.92.0.0/24",
        "vault",
    ])
    .ok();
    assert!(
        !replayed_ping_gets_through(
            &fw,
            "in",
            &["--network", "vault", "--ip", "10.92.0.2"],
            PEER_IP
        ),
        "an internal network reached the outside: {:#?}",
        flows_of(&fw.sb, "10.92.0.2")
    );
}

#[test]
fn reused_addresses_on_two_networks_stay_isolated() {
    let fw = Fw::new(&[]);
    // One network holding both addresses, then two networks splitting it.
    fw.docker(&["network", "create", "--subnet", "10.93.0.0/16", "whole"])
        .ok();
    fw.run(
        "w2",
        &["--network", "whole", "--ip", "10.93.1.2"],
        "sleep 1d",
    );
    fw.run(
        "w1",
        &["--network", "whole", "--ip", "10.93.0.2"],
        "exec ping -i 0.2 10.93.1.2",
    );
    wait_replied_flow(&fw, "10.93.0.2", "10.93.1.2");
    remove_and_check_flows_gone(&fw, &["w1", "w2"], &["whole"], &["10.93.0.2", "10.93.1.2"]);

    fw.docker(&["network", "create", "--subnet", "10.93.0.0/24", "red"])
        .ok();
    fw.docker(&["network", "create", "--subnet", "10.93.1.0/24", "blue"])
        .ok();
    fw.run(
        "blue1",
        &["--network", "blue", "--ip", "10.93.1.2"],
        "sleep 1d",
    );
    assert!(
        !replayed_ping_gets_through(
            &fw,
            "red1",
            &["--network", "red", "--ip", "10.93.0.2"],
            "10.93.1.2"
        ),
        "two networks were not isolated: {:#?}",
        flows_of(&fw.sb, "10.93.0.2")
    );
}

#[test]
fn a_replaced_udp_publisher_receives_from_a_client_that_kept_sending() {
    let fw = Fw::new(&[]);
    // (Not port 53 in the container: the embedded DNS server holds
    // 127.0.0.11:53 on user networks.) The new publisher at another
    // address than the old one, so a flow
    // left from the old mapping would still lead to the old address.
    fw.docker(&["network", "create", "--subnet", "10.95.0.0/24", "pub"])
        .ok();
    fw.run(
        "udp1",
        &[
            "--network",
            "pub",
            "--ip",
            "10.95.0.2",
            "-p",
            "5353:5300/udp",
        ],
        "sleep 1d",
    );
    let server = udp_socket_in(fw.pid("udp1"), "0.0.0.0:5300");
    let client = udp_socket_in(fw.peer.pid(), "0.0.0.0:40053");
    let target = format!("{HOST_OUTSIDE_IP}:5353");
    // The client sends every 100 ms from one port until the test ends, so
    // its flow never times out.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (stop, target) = (stop.clone(), target.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.send_to(b"still here", &target);
                sleep(Duration::from_millis(100));
            }
        })
    };
    let received = |server: &UdpSocket| {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 64];
        while Instant::now() < deadline {
            if let Ok((n, from)) = server.recv_from(&mut buf) {
                if &buf[..n] == b"still here" {
                    return Some(from.to_string());
                }
            }
        }
        None
    };
    let from = received(&server);
    assert_eq!(from.as_deref(), Some(&*format!("{PEER_IP}:40053")));

    fw.docker(&["rm", "-f", "udp1"]).ok();
    drop(server);
    // Some datagrams arrive while nothing is published (a flow to the host
    // itself, unanswered), then the port is published again.
    sleep(Duration::from_millis(500));
    fw.run(
        "udp2",
        &[
            "--network",
            "pub",
            "--ip",
            "10.95.0.3",
            "-p",
            "5353:5300/udp",
        ],
        "sleep 1d",
    );
    let server = udp_socket_in(fw.pid("udp2"), "0.0.0.0:5300");
    let from = received(&server);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    assert_eq!(
        from.as_deref(),
        Some(&*format!("{PEER_IP}:40053")),
        "the new publisher got nothing; flows: {:#?}\n{}",
        flows_of(&fw.sb, PEER_IP),
        log_tail(&fw.sb)
    );
    let old = flows_of(&fw.sb, "10.95.0.2");
    assert!(old.is_empty(), "flows to the old publisher: {old:#?}");
}

/// Waits (bounded) until the watchdog has read berth's tables back after
/// berth's last write to them, so it can tell what someone else changed
/// (it reads them back within a second of a write).
#[track_caller]
fn wait_read_back(fw: &Fw) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = fw.sb.daemon_log();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("nft script applied") || l.contains("tables read back"));
        if last.is_some_and(|l| l.contains("tables read back")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "berth's tables never read back; log:\n{}",
            log_tail(&fw.sb)
        );
        sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until berth's tables list as `want` again.
#[track_caller]
fn wait_tables(fw: &Fw, want: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let run = fw
            .sb
            .sh("nft list table ip berth && nft list table ip6 berth");
        if run.status == 0 && tables(&fw.sb) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "berth's tables were not restored; log:\n{}",
            log_tail(&fw.sb)
        );
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_flushed_table_and_a_deleted_element_come_back_by_themselves() {
    let fw = Fw::new(&[]);
    fw.run("web", &["-p", "8080:80"], &serve(&[80]));
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let before = tables(&fw.sb);

    // The tables stay, their rules and elements go. (The watchdog may
    // repair them before the test could look.)
    wait_read_back(&fw);
    fw.sb.sh("nft flush table ip berth").ok();
    wait_tables(&fw, &before);
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let log = fw.sb.daemon_log();
    assert!(
        log.contains("changed from outside") && log.contains("lines gone"),
        "{}",
        log_tail(&fw.sb)
    );

    // One map element.
    let mapped = elements(&fw.sb, "ip", "dnat-any");
    assert!(mapped.contains("tcp . 8080"), "{mapped}");
    wait_read_back(&fw);
    fw.sb
        .sh("nft delete element ip berth dnat-any '{ tcp . 8080 }'")
        .ok();
    wait_tables(&fw, &before);
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    let drifts = fw.sb.daemon_log().matches("changed from outside").count();
    assert_eq!(drifts, 2, "{}", log_tail(&fw.sb));
    let log = fw.sb.daemon_log();
    let element = log
        .lines()
        .filter(|l| l.contains("changed from outside"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        element.contains("8080"),
        "the log names the element: {element}"
    );

    // Another table's change is not berth's drift (once berth has read
    // its own back: a change right after berth's write is reloaded to be
    // sure).
    wait_read_back(&fw);
    fw.sb.sh("nft add table ip someone-else").ok();
    sleep(Duration::from_secs(3));
    assert_eq!(
        fw.sb.daemon_log().matches("changed from outside").count(),
        2,
        "{}",
        log_tail(&fw.sb)
    );
}
