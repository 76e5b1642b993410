//! macvlan networks end to end, through the real docker CLI: containers
//! straight on a LAN. The sandbox host's `lan0` is the parent; its other
//! end, `lan1`, is in the outside peer (192.168.77.1), so the peer is a
//! machine on that LAN.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::{Peer, Sandbox};

const PEER_LAN_IP: &str = "192.168.77.1";

/// A sandbox with berthd, busybox, the outside peer and the LAN between
/// them; the host's own end of the LAN has an address, so the host has a
/// route there (and still cannot reach its macvlan containers).
fn lan() -> (Sandbox, Peer) {
    let mut sb = Sandbox::with_busybox();
    let peer = sb.add_outside_peer();
    sb.sh(&format!(
        "ip link add lan0 type veth peer name lan1 netns {} && ip addr add 192.168.77.2/24 dev lan0 \
         && ip link set lan0 up",
        peer.pid()
    ))
    .ok();
    peer.sh(&format!(
        "ip addr add {PEER_LAN_IP}/24 dev lan1 && ip link set lan1 up"
    ))
    .ok();
    (sb, peer)
}

fn create_lan_network(sb: &Sandbox) {
    sb.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "192.168.77.0/24",
        "--gateway",
        PEER_LAN_IP,
        "--ip-range",
        "192.168.77.128/25",
        "-o",
        "parent=lan0",
        "lan",
    ])
    .ok();
}

/// `docker run -d --name NAME --network NETWORK [EXTRA..] busybox sleep 1d`.
fn run_on(sb: &Sandbox, name: &str, network: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend(["busybox", "sleep", "1d"]);
    sb.docker(&args).ok();
}

fn address(sb: &Sandbox, container: &str, network: &str) -> (String, String) {
    let c = sb.inspect(container);
    let ep = &c["NetworkSettings"]["Networks"][network];
    (
        ep["IPAddress"].as_str().unwrap().to_owned(),
        ep["MacAddress"].as_str().unwrap().to_owned(),
    )
}

/// The host and the peer have no `ping` of their own: busybox's.
const PING: &str = "busybox ping -c1 -W2";

fn pings(run: berth_testkit::sandbox::Run) -> bool {
    run.status == 0
}

/// A ping that ran and got no answer (not one that could not run).
fn unanswered(run: berth_testkit::sandbox::Run) -> bool {
    run.status == 1
}

/// Whether the kernel makes links of `kind` (`vlan`, `dummy`, `ipvlan`),
/// tried in the sandbox host (a namespace of the test's own).
fn kernel_has(sb: &Sandbox, kind: &str) -> bool {
    let add = match kind {
        "dummy" => "ip link add probe0 type dummy".to_owned(),
        "vlan" => "ip link add link lan0 name probe0 type vlan id 99".to_owned(),
        other => format!("ip link add link lan0 name probe0 type {other}"),
    };
    let made = sb.sh(&add).status == 0;
    if made {
        sb.sh("ip link del probe0").ok();
    }
    made
}

#[test]
fn containers_sit_on_the_lan_with_their_own_mac_and_address() {
    let (sb, peer) = lan();
    create_lan_network(&sb);
    let net = sb.inspect("lan");
    assert_eq!(net["Driver"], "macvlan");
    assert_eq!(net["Options"]["parent"], "lan0");
    run_on(&sb, "m1", "lan", &[]);
    run_on(&sb, "m2", "lan", &["--ip", "192.168.77.200"]);
    let (m1_ip, m1_mac) = address(&sb, "m1", "lan");
    let (m2_ip, _) = address(&sb, "m2", "lan");
    assert_eq!(m2_ip, "192.168.77.200", "fixed --ip");
    let last: u8 = m1_ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(last >= 128, "{m1_ip} is outside --ip-range");

    // The container's interface is a macvlan of the parent, not a veth.
    let link = sb.container_link("m1", "eth0").ok();
    assert!(link.contains("macvlan"), "{link}");
    assert!(
        sb.veths().is_empty(),
        "no veth on the host: {:?}",
        sb.veths()
    );

    // The peer reaches the container at its own address and sees its MAC.
    assert!(pings(peer.sh(&format!("{PING} {m1_ip}"))));
    let neigh = peer.sh(&format!("ip neigh show {m1_ip}")).ok();
    assert!(neigh.contains(&m1_mac), "peer's neighbour entry: {neigh}");
    // The container reaches the peer, and the other container by name.
    assert!(pings(sb.docker(&[
        "exec",
        "m1",
        "ping",
        "-c1",
        "-W2",
        PEER_LAN_IP
    ])));
    assert!(pings(
        sb.docker(&["exec", "m1", "ping", "-c1", "-W2", "m2"])
    ));
    // The known macvlan limitation: the host cannot reach its children
    // through the parent, although it has a route there.
    assert!(unanswered(sb.sh(&format!("{PING} {m1_ip}"))));

    // Removal takes the sub-interface with the sandbox; the address is free.
    sb.docker(&["rm", "-f", "m2"]).ok();
    run_on(&sb, "m3", "lan", &["--ip", "192.168.77.200"]);
    assert!(pings(peer.sh(&format!("{PING} 192.168.77.200"))));
}

#[test]
fn connect_and_disconnect_live() {
    let (sb, peer) = lan();
    create_lan_network(&sb);
    sb.docker(&["run", "-d", "--name", "b1", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&["network", "connect", "lan", "b1"]).ok();
    let (ip, _) = address(&sb, "b1", "lan");
    let eth1 = sb.container_link("b1", "eth1").ok();
    assert!(eth1.contains("macvlan"), "{eth1}");
    assert!(pings(peer.sh(&format!("{PING} {ip}"))));
    // Its default route stays on the default bridge, its first network.
    let routes = sb.docker(&["exec", "b1", "ip", "route"]).ok();
    assert!(
        routes.contains("default via 172.17.0.1 dev eth0"),
        "{routes}"
    );
    sb.docker(&["network", "disconnect", "lan", "b1"]).ok();
    let gone = sb.docker(&["exec", "b1", "ip", "link", "show", "eth1"]);
    assert_ne!(gone.status, 0, "eth1 still there: {}", gone.stdout);
    assert!(unanswered(peer.sh(&format!("{PING} {ip}"))));
}

#[test]
fn published_ports_are_ignored_with_a_warning() {
    let (sb, _peer) = lan();
    create_lan_network(&sb);
    let run = sb.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "lan",
        "-p",
        "8080:80",
        "busybox",
        "sleep",
        "1d",
    ]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Published ports are discarded when using the macvlan network driver"),
        "{}",
        run.stderr
    );
    let rules = sb.sh("nft list ruleset").ok();
    assert!(!rules.contains("8080"), "a mapping for 8080: {rules}");
    assert_eq!(sb.docker(&["port", "web"]).ok().trim(), "");
}

#[test]
fn refusals_name_the_problem_and_change_nothing() {
    let (sb, _peer) = lan();
    create_lan_network(&sb);
    let before = sb.docker(&["network", "ls", "-q"]).ok();
    let create = |args: &[&str]| {
        let mut all = vec!["network", "create"];
        all.extend_from_slice(args);
        all.push("refused");
        sb.docker(&all)
    };
    let mut cases = vec![
        (
            vec!["-d", "macvlan", "-o", "parent=nope0"],
            "-o parent interface was not found on the host: nope0",
        ),
        (
            vec!["-d", "macvlan", "--internal", "-o", "parent=lan0"],
            "--internal macvlan networks take no -o parent",
        ),
        (
            vec![
                "-d",
                "macvlan",
                "-o",
                "parent=lan0",
                "-o",
                "macvlan_mode=loud",
            ],
            "requested macvlan mode 'loud' is not valid",
        ),
        // A subnet inside the existing LAN network's.
        (
            vec![
                "-d",
                "macvlan",
                "-o",
                "parent=lan0",
                "--subnet",
                "192.168.77.0/25",
            ],
            "overlaps",
        ),
    ];
    // What this kernel lacks is refused naming it (the test machines lack
    // all three; a kernel that has one makes that network instead).
    let lacking = [
        (
            "vlan",
            vec!["-d", "macvlan", "-o", "parent=lan0.10"],
            "CONFIG_VLAN_8021Q",
        ),
        ("dummy", vec!["-d", "macvlan"], "CONFIG_DUMMY"),
        ("dummy", vec!["-d", "macvlan", "--internal"], "CONFIG_DUMMY"),
        (
            "ipvlan",
            vec!["-d", "ipvlan", "-o", "parent=lan0"],
            "CONFIG_IPVLAN",
        ),
    ];
    for (kind, args, words) in lacking {
        if !kernel_has(&sb, kind) {
            cases.push((args, words));
        }
    }
    for (args, words) in cases {
        let r = create(&args);
        assert_ne!(r.status, 0, "{args:?} was accepted");
        assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
    }
    assert_eq!(sb.docker(&["network", "ls", "-q"]).ok(), before);
}

#[test]
fn containers_keep_their_lan_across_a_daemon_kill() {
    let (mut sb, peer) = lan();
    create_lan_network(&sb);
    run_on(&sb, "m1", "lan", &[]);
    let (ip, mac) = address(&sb, "m1", "lan");
    let r = sb.docker(&["network", "rm", "lan"]);
    assert!(r.stderr.contains("has active endpoints"), "{}", r.stderr);
    sb.kill_daemon();
    assert!(
        pings(peer.sh(&format!("{PING} {ip}"))),
        "while berthd is down"
    );
    sb.restart_daemon();
    assert_eq!(address(&sb, "m1", "lan"), (ip.clone(), mac));
    assert!(pings(peer.sh(&format!("{PING} {ip}"))), "after the restart");
    sb.docker(&["rm", "-f", "m1"]).ok();
    sb.docker(&["network", "rm", "lan"]).ok();
}

#[test]
fn an_ipv6_macvlan_network_gives_both_families() {
    let (sb, peer) = lan();
    peer.sh("ip -6 addr add fd00:77::1/64 dev lan1 nodad").ok();
    sb.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--ipv6",
        "--subnet",
        "192.168.77.0/24",
        "--gateway",
        PEER_LAN_IP,
        "--subnet",
        "fd00:77::/64",
        "--gateway",
        "fd00:77::1",
        "-o",
        "parent=lan0",
        "lan6",
    ])
    .ok();
    run_on(&sb, "m6", "lan6", &[]);
    let c = sb.inspect("m6");
    let v6 = c["NetworkSettings"]["Networks"]["lan6"]["GlobalIPv6Address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(v6.starts_with("fd00:77::"), "{c}");
    // Duplicate address detection on the new address may take a moment.
    let answered = (0..30).any(|_| {
        let ok = pings(peer.sh(&format!("busybox ping -6 -c1 -W1 {v6}")));
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        ok
    });
    assert!(answered, "the peer reaches {v6}");
}
