//! The firewall end to end (issue 4): the robustness of berth's nftables
//! tables (flushed, tampered with, across kill -9 and restart) and leaving
//! the firewall alone when told to.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod fw;

use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Sandbox, HOST_OUTSIDE_IP};

use fw::*;

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
