//! The firewall end to end (issue 4): conntrack flows of a removed
//! endpoint are forgotten, so a reused address or a replaced publisher gets
//! no verdict of an old flow.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod fw;

use std::net::UdpSocket;
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Sandbox, HOST_OUTSIDE_IP, PEER_IP};

use fw::*;

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
