//! Containers end to end: real runc containers on a real berthd in a
//! sandbox host, driven by the real docker CLI and the berth CLI; checked
//! with real packets and `ip` inside the containers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;
use serde_json::Value;

fn with_image() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    sb.import_busybox();
    sb
}

fn inspect(sb: &Sandbox, what: &str) -> Value {
    let out = sb.docker(&["inspect", what]).ok();
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

#[test]
fn seed_transcript_with_the_docker_cli() {
    let sb = with_image();
    sb.docker(&[
        "network",
        "create",
        "--subnet=192.168.100.0/24",
        "mynetwork",
    ])
    .ok();
    sb.docker(&[
        "run",
        "-itd",
        "--name",
        "test2",
        "--net",
        "mynetwork",
        "--ip",
        "192.168.100.10",
        "busybox",
        "sh",
    ])
    .ok();
    sb.docker(&[
        "run",
        "-itd",
        "--name",
        "test3",
        "--net=container:test2",
        "busybox",
        "sh",
    ])
    .ok();
    let addr = sb.docker(&["exec", "test3", "ip", "addr"]).ok();
    assert!(addr.contains("inet 192.168.100.10/24"), "{addr}");
    assert!(addr.contains("02:42:c0:a8:64:0a"), "{addr}");
    let ps = sb.docker(&["ps", "-a"]).ok();
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
    let test2 = inspect(&sb, "test2");
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
        inspect(&sb, "test3")["HostConfig"]["NetworkMode"]
            .as_str()
            .unwrap(),
        format!("container:{}", test2["Id"].as_str().unwrap())
    );
}
