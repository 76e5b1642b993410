//! `docker stats` end to end, with the real docker CLI: a container's
//! memory limit, processes and traffic as the CLI's table shows them (read
//! from its cgroup and network namespace), every running container when
//! none is named, a stream that keeps coming, and the raw API's documents
//! in Docker's shape.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use berth_testkit::sandbox::Sandbox;

fn run_sleeper(sb: &Sandbox, name: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sleep", "1d"]);
    sb.docker(&args).ok();
}

/// A byte count as the CLI prints it (`1.2kB`, `0B`): whether it is zero.
fn is_zero_bytes(shown: &str) -> bool {
    shown
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse::<f64>()
        .unwrap()
        == 0.0
}

#[test]
fn no_stream_shows_the_memory_limit_the_processes_and_the_traffic() {
    let sb = Sandbox::with_busybox();
    run_sleeper(&sb, "c1", &["--memory", "64m"]);
    let gateway = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.Gateway}}",
            "c1",
        ])
        .ok();
    sb.docker(&["exec", "c1", "ping", "-c", "2", gateway.trim()])
        .ok();

    let line = sb
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.NetIO}}|{{.CPUPerc}}",
            "c1",
        ])
        .ok();
    let fields: Vec<&str> = line.trim().split('|').collect();
    assert_eq!(fields.len(), 5, "{line}");
    assert_eq!(fields[0], "c1");
    let (used, limit) = fields[1].split_once(" / ").unwrap();
    assert_eq!(limit, "64MiB", "{line}");
    assert!(!is_zero_bytes(used), "memory in use: {line}");
    assert!(fields[2].parse::<u64>().unwrap() > 0, "{line}");
    let (received, sent) = fields[3].split_once(" / ").unwrap();
    assert!(!is_zero_bytes(received) && !is_zero_bytes(sent), "{line}");
    assert!(fields[4].ends_with('%'), "{line}");
}

#[test]
fn no_container_named_lists_every_running_one_and_a_stream_keeps_coming() {
    let sb = Sandbox::with_busybox();
    run_sleeper(&sb, "c1", &[]);
    run_sleeper(&sb, "c2", &["--network", "none"]);
    sb.docker(&["create", "--name", "c3", "busybox", "true"])
        .ok();

    let out = sb
        .docker(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"])
        .ok();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["c1 1", "c2 1"]);

    // Streaming, one stream per container: the CLI reprints its table as
    // documents arrive.
    let mut child = sb
        .docker_command(&["stats", "--format", "{{.Name}} {{.PIDs}}", "c1", "c2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (mut c1_rows, mut c2_rows) = (0, 0);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        c1_rows += usize::from(line.contains("c1 1"));
        c2_rows += usize::from(line.contains("c2 1"));
        if c1_rows >= 3 && c2_rows >= 3 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(c1_rows >= 3 && c2_rows >= 3, "{c1_rows} {c2_rows}");
}

#[test]
fn the_raw_api_answers_dockers_documents() {
    let sb = Sandbox::with_busybox();
    run_sleeper(&sb, "c1", &["--memory", "64m", "--pids-limit", "50"]);

    let (status, body) = sb.http("GET", "/v1.50/containers/c1/stats?stream=false", None);
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    for key in [
        "id",
        "name",
        "read",
        "preread",
        "cpu_stats",
        "precpu_stats",
        "memory_stats",
        "pids_stats",
        "blkio_stats",
        "networks",
        "num_procs",
        "storage_stats",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing: {doc}");
    }
    assert_eq!(doc["name"], "/c1");
    assert_eq!(doc["memory_stats"]["limit"], 64 << 20);
    assert!(doc["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(doc["pids_stats"]["current"], 1);
    assert_eq!(doc["pids_stats"]["limit"], 50);
    assert!(doc["networks"]["eth0"]["rx_packets"].is_u64(), "{doc}");
    // Not one-shot: a second sample, so the client has a CPU delta.
    let cpu = &doc["cpu_stats"];
    let precpu = &doc["precpu_stats"];
    assert!(
        cpu["system_cpu_usage"].as_u64().unwrap() > precpu["system_cpu_usage"].as_u64().unwrap()
    );
    assert!(cpu["online_cpus"].as_u64().unwrap() >= 1);
    assert_ne!(doc["preread"], "0001-01-01T00:00:00Z");

    let (status, body) = sb.http(
        "GET",
        "/v1.50/containers/c1/stats?stream=false&one-shot=true",
        None,
    );
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(doc["preread"], "0001-01-01T00:00:00Z");
    assert!(doc["cpu_stats"]["cpu_usage"]["total_usage"].is_u64());

    let (status, body) = sb.http("GET", "/v1.50/containers/c1/stats?one-shot=true", None);
    assert_eq!(status, 400);
    assert!(
        body.contains("cannot have stream=true and one-shot=true"),
        "{body}"
    );
    let (status, body) = sb.http("GET", "/v1.50/containers/nope/stats?stream=0", None);
    assert_eq!(status, 404);
    assert!(body.contains("No such container: nope"), "{body}");

    // A stopped container: one document of zeros with its name.
    sb.docker(&["stop", "-t", "0", "c1"]).ok();
    let (status, body) = sb.http("GET", "/v1.50/containers/c1/stats?stream=0", None);
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(doc["name"], "/c1");
    assert_eq!(doc["read"], "0001-01-01T00:00:00Z");
    assert_eq!(doc["cpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert!(doc.get("networks").is_none());
}
