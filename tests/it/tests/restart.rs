//! A daemon restart, and the coming and going of other containers, must not
//! interrupt a container's traffic (issue 17): its gateway stays where its
//! ARP cache says, established flows keep flowing, published ports answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::{seed_network, Sandbox, HOST_OUTSIDE_IP};

fn bridge_mac(sb: &Sandbox) -> String {
    sb.ip_json(&["link", "show", "berth0"])[0]["address"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What the kernel shows of `name`'s path to its gateway, for a failure report.
fn gateway_report(sb: &Sandbox, name: &str) -> String {
    let neigh = sb.docker(&["exec", name, "ip", "neigh"]);
    let ports = sb.sh("ip -br link show master berth0; ip -br link show berth0");
    format!(
        "{name}'s neighbours:\n{}{}\nberth0 and its ports:\n{}",
        neigh.stdout, neigh.stderr, ports.stdout
    )
}

fn ping_gateway(sb: &Sandbox, name: &str, when: &str) {
    let r = sb.docker(&["exec", name, "ping", "-c1", "-W2", "172.17.0.1"]);
    assert_eq!(
        r.status,
        0,
        "{name} lost its gateway {when}:\n{}\n{}",
        r.stdout,
        gateway_report(sb, name)
    );
}

/// The root cause of issue 17: a bridge left to pick its MAC takes its
/// lowest port's, and changes it when that container goes; a container
/// that cached the old MAC for its gateway then sends into the void.
#[test]
fn gateway_stays_reachable_as_other_containers_come_and_go() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "b1", "busybox", "sleep", "1d"])
        .ok();
    let mac = bridge_mac(&sb);
    // Each other container's veth has a random MAC: over a few of them, one
    // is all but sure to be the lowest port while it lives.
    for i in 0..6 {
        let other = format!("other{i}");
        sb.docker(&["run", "-d", "--name", &other, "busybox", "sleep", "1d"])
            .ok();
        ping_gateway(&sb, "b1", &format!("while {other} runs"));
        assert_eq!(bridge_mac(&sb), mac, "berth0's MAC moved with {other}");
        sb.docker(&["rm", "-f", &other]).ok();
        assert_eq!(bridge_mac(&sb), mac, "berth0's MAC moved without {other}");
        ping_gateway(&sb, "b1", &format!("after {other} was removed"));
    }
}

/// The sequence of the issue, through the real docker CLI, ending with a
/// kill -9 of berthd, a restart and at once a ping of the gateway. b1 talks
/// to its gateway while b2 still runs, as the seed's walkthrough does.
fn issue_17_sequence() {
    let mut sb = Sandbox::with_busybox();
    let d = |args: &[&str]| sb.docker(args);
    seed_network(&d);
    d(&["run", "-d", "--name", "b1", "busybox", "sleep", "1000"]).ok();
    d(&["run", "-d", "--name", "b2", "busybox", "sleep", "1000"]).ok();
    d(&["exec", "b2", "ping", "-c1", "-W2", "172.17.0.2"]).ok();
    d(&["exec", "b1", "ping", "-c1", "-W2", "172.17.0.1"]).ok();
    d(&[
        "run",
        "-d",
        "--name",
        "hostc",
        "--network",
        "host",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d(&[
        "run",
        "-d",
        "--name",
        "nonec",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d(&["run", "-d", "--ip", "172.17.0.50", "busybox", "sleep", "1"]).err();
    d(&[
        "run",
        "-d",
        "--net",
        "mynetwork",
        "--ip",
        "192.168.100.10",
        "busybox",
        "sleep",
        "1",
    ])
    .err();
    d(&[
        "run",
        "-d",
        "--net",
        "mynetwork",
        "--ip",
        "10.0.0.10",
        "busybox",
        "sleep",
        "1",
    ])
    .err();
    d(&["network", "rm", "mynetwork"]).err();
    d(&["network", "create", "other"]).ok();
    d(&["network", "connect", "other", "b1"]).ok();
    d(&["network", "disconnect", "other", "b1"]).ok();
    d(&["rm", "-f", "b2"]).ok();
    d(&["rm", "-f", "test3", "test2"]).ok();
    d(&[
        "run",
        "-d",
        "--name",
        "t4",
        "--net",
        "mynetwork",
        "--ip",
        "192.168.100.10",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    sb.kill_daemon();
    sb.restart_daemon();
    ping_gateway(&sb, "b1", "right after berthd was killed and restarted");
}

#[test]
fn issue_17_sequence_twenty_times() {
    for _ in 0..20 {
        issue_17_sequence();
    }
}

/// Docker's live-restore promise: a daemon restart does not interrupt
/// established traffic, between containers or through a published port.
#[test]
fn established_traffic_flows_across_a_daemon_restart() {
    let mut sb = Sandbox::with_busybox();
    let peer = sb.add_outside_peer();
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--net",
        "app",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        // nc ends at its stdin's end: a pipe that never ends keeps it
        // listening, and sleep keeps the container up afterwards.
        "sleep 1d | nc -l -p 80 > /tmp/got; exec sleep 1d",
    ])
    .ok();
    sb.docker(&[
        "run", "-d", "--name", "cli", "--net", "app", "busybox", "sleep", "1d",
    ])
    .ok();
    // A ping stream between the containers (25 probes, 0.2 s apart) and a TCP
    // connection from the outside peer through the published port, both
    // running while berthd is killed and restarted.
    sb.docker(&[
        "exec",
        "-d",
        "cli",
        "sh",
        "-c",
        "ping -i 0.2 -c 25 -W 1 srv > /tmp/ping 2>&1; echo done >> /tmp/ping",
    ])
    .ok();
    let mut stream = peer.spawn(&format!(
        "for i in $(seq 1 20); do echo line$i; sleep 0.25; done | busybox nc {HOST_OUTSIDE_IP} 8080"
    ));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    sb.kill_daemon();
    sb.restart_daemon();
    // A new connection right after the restart is served too.
    assert!(
        stream.wait().unwrap().success(),
        "the stream through 8080 broke"
    );
    let mut ping = String::new();
    for _ in 0..50 {
        ping = sb.docker(&["exec", "cli", "cat", "/tmp/ping"]).ok();
        if ping.contains("done") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        ping.contains("25 packets transmitted, 25 packets received"),
        "{ping}"
    );
    let got = sb.docker(&["exec", "srv", "cat", "/tmp/got"]).ok();
    let lines: Vec<&str> = got.lines().collect();
    let expected: Vec<String> = (1..=20).map(|i| format!("line{i}")).collect();
    assert_eq!(lines, expected);
}
