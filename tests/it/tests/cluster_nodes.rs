//! The hosts of a cluster as berth shows them (`berth node ls`, `info`)
//! and forgets them (`berth node rm`): a host whose lease lapsed is down,
//! its fixed addresses stay claimed until `node rm` frees them, and a live
//! host cannot be removed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::{Duration, Instant};

use berth_testkit::cluster::Cluster;
use berth_testkit::sandbox::Sandbox;

/// `berth node ls`'s rows. A loaded machine may make one etcd request
/// miss berth's 2 s limit (a 503): asked again then, up to 20 s.
fn node_lines(host: &Sandbox) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = host.berth(&["node", "ls"]);
        if run.status == 0 || Instant::now() > deadline {
            return run.ok().lines().skip(1).map(str::to_owned).collect();
        }
        assert!(
            run.stderr.contains("cluster store unavailable"),
            "{}",
            run.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `berth node rm ID`, asked again after a 503 (as [`node_lines`]).
fn node_rm(host: &Sandbox, id: &str) -> berth_testkit::sandbox::Run {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = host.berth(&["node", "rm", id]);
        if !run.stderr.contains("cluster store unavailable") || Instant::now() > deadline {
            return run;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn line_of(host: &Sandbox, id: &str) -> Option<String> {
    node_lines(host).into_iter().find(|l| l.starts_with(id))
}

/// Waits (up to 30 s: the lease's TTL and then some) until `ready`.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_fixed(host: &Sandbox, name: &str) -> berth_testkit::sandbox::Run {
    host.docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "ov",
        "--ip",
        "10.20.0.50",
        "busybox",
        "sleep",
        "1d",
    ])
}

#[test]
fn a_dead_host_is_down_until_node_rm_frees_its_addresses() {
    let mut cluster = Cluster::new(3);
    cluster.start_daemons(&[]);
    let (a, b, c) = (cluster.host(0), cluster.host(1), cluster.host(2));
    a.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.20.0.0/24",
        "ov",
    ])
    .ok();
    cluster.wait_all("ov everywhere", |h| {
        h.docker(&["network", "inspect", "ov"]).status == 0
    });
    run_fixed(c, "held").ok();

    // `info` shows this host's cluster id and the store.
    let c_id = c
        .docker(&["info", "--format", "{{.ID}}"])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(c_id.len(), 32, "{c_id}");
    let labels = c.docker(&["info", "--format", "{{json .Labels}}"]).ok();
    assert!(
        labels.contains("berth.cluster-store=etcd://10.99.0.1:2379"),
        "{labels}"
    );
    assert!(
        labels.contains("berth.cluster-advertise=10.99.0.3"),
        "{labels}"
    );
    let berth_info = c.berth(&["info"]).ok();
    assert!(berth_info.contains(&c_id), "{berth_info}");

    // Three hosts alive, seen from B; C with its one endpoint.
    wait_for("three live hosts", || {
        let lines = node_lines(b);
        lines.len() == 3 && lines.iter().all(|l| l.contains(" alive "))
    });
    let line = line_of(b, &c_id).unwrap();
    assert!(line.contains("10.99.0.3") && line.ends_with(" 1"), "{line}");

    // A live host is not removed.
    let err = node_rm(b, &c_id).err();
    assert!(err.contains("is not down and can't be removed"), "{err}");

    // C dies whole: down after the TTL, its address still claimed.
    cluster.kill_host(2);
    let (a, b) = (cluster.host(0), cluster.host(1));
    wait_for("C down", || {
        line_of(b, &c_id).is_some_and(|l| l.contains(" down "))
    });
    let err = run_fixed(a, "again").err();
    assert!(err.contains("Address already in use"), "{err}");
    a.docker(&["rm", "-f", "again"]).ok();

    // Forgotten: gone from the list, its fixed address usable again.
    assert_eq!(node_rm(b, &c_id).ok().trim(), c_id);
    assert!(line_of(a, &c_id).is_none());
    assert_eq!(node_lines(a).len(), 2);
    run_fixed(a, "again").ok();
    let err = node_rm(b, &c_id).err();
    assert!(err.contains("not found"), "{err}");
}
