//! Networks end to end: a real berthd in a sandbox host, driven by the berth
//! CLI, the real docker CLI and raw API calls; checked in the kernel with
//! `ip -j`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;
use serde_json::Value;

fn started() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    sb
}

fn inspect(sb: &Sandbox, name: &str) -> Value {
    let out = sb.berth(&["network", "inspect", name]).ok();
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect output: {e}: {out}"));
    v[0].clone()
}

fn ls_names(sb: &Sandbox) -> Vec<String> {
    let out = sb.berth(&["network", "ls", "--format", "{{.Name}}"]).ok();
    out.lines().map(str::to_owned).collect()
}

fn bridge_of(net: &Value) -> String {
    format!("br-{}", &net["Id"].as_str().unwrap()[..12])
}

#[test]
fn start_creates_default_bridge_and_predefined_networks() {
    let sb = started();
    assert_eq!(sb.addresses("berth0"), vec!["172.17.0.1/16"]);
    let link = &sb.ip_json(&["link", "show", "berth0"])[0];
    assert!(
        link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{link}"
    );
    assert_eq!(sb.sh("cat /proc/sys/net/ipv4/ip_forward").ok().trim(), "1");

    let table = sb.berth(&["network", "ls"]).ok();
    let header = table.lines().next().unwrap();
    for col in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(header.contains(col), "{table}");
    }
    assert_eq!(ls_names(&sb), vec!["bridge", "host", "none"]);
    let bridge = inspect(&sb, "bridge");
    assert_eq!(bridge["Driver"], "bridge");
    assert_eq!(bridge["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
    assert_eq!(bridge["IPAM"]["Config"][0]["Gateway"], "172.17.0.1");
    assert_eq!(
        bridge["Options"]["com.docker.network.bridge.name"],
        "berth0"
    );
    assert_eq!(inspect(&sb, "host")["Driver"], "host");
    assert_eq!(inspect(&sb, "none")["Driver"], "null");
}

#[test]
fn seed_subnet_network_makes_bridge_and_inspect_reports_it() {
    let sb = started();
    let id = sb
        .berth(&[
            "network",
            "create",
            "--subnet=192.168.100.0/24",
            "mynetwork",
        ])
        .ok();
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let net = inspect(&sb, "mynetwork");
    assert_eq!(net["Id"], id);
    assert_eq!(net["Name"], "mynetwork");
    assert_eq!(net["Scope"], "local");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "192.168.100.0/24");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "192.168.100.1");
    let bridge = bridge_of(&net);
    assert_eq!(sb.addresses(&bridge), vec!["192.168.100.1/24"]);
    // Inspect by id prefix resolves the same network.
    assert_eq!(inspect(&sb, &id[..6])["Name"], "mynetwork");
}

#[test]
fn options_and_automatic_pools() {
    let sb = started();
    sb.berth(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/16",
        "--ip-range",
        "10.77.5.0/24",
        "--gateway",
        "10.77.0.254",
        "--aux-address",
        "printer=10.77.0.9",
        "--internal",
        "--attachable",
        "--label",
        "team=net",
        "-o",
        "com.docker.network.bridge.name=br-custom",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "fancy",
    ])
    .ok();
    let net = inspect(&sb, "fancy");
    let cfg = &net["IPAM"]["Config"][0];
    assert_eq!(cfg["IPRange"], "10.77.5.0/24");
    assert_eq!(cfg["Gateway"], "10.77.0.254");
    assert_eq!(cfg["AuxiliaryAddresses"]["printer"], "10.77.0.9");
    assert_eq!(net["Internal"], true);
    assert_eq!(net["Attachable"], true);
    assert_eq!(net["Labels"]["team"], "net");
    assert_eq!(sb.addresses("br-custom"), vec!["10.77.0.254/16"]);
    assert_eq!(sb.ip_json(&["link", "show", "br-custom"])[0]["mtu"], 1400);

    // Without --subnet: the next free default pool (berth0 has 172.17/16).
    sb.berth(&["network", "create", "auto1"]).ok();
    sb.berth(&["network", "create", "auto2"]).ok();
    assert_eq!(
        inspect(&sb, "auto1")["IPAM"]["Config"][0]["Subnet"],
        "172.18.0.0/16"
    );
    assert_eq!(
        inspect(&sb, "auto2")["IPAM"]["Config"][0]["Subnet"],
        "172.19.0.0/16"
    );

    // A host route covering 172.20/16 makes the pool skip it.
    sb.sh("ip link add hostnet0 type bridge && ip link set hostnet0 up && ip route add 172.20.0.0/16 dev hostnet0")
        .ok();
    sb.berth(&["network", "create", "auto3"]).ok();
    assert_eq!(
        inspect(&sb, "auto3")["IPAM"]["Config"][0]["Subnet"],
        "172.21.0.0/16"
    );

    // IPv6.
    sb.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "2001:db8:1::/64",
        "v6",
    ])
    .ok();
    let v6 = inspect(&sb, "v6");
    assert_eq!(v6["EnableIPv6"], true);
    let subnets: Vec<&str> = v6["IPAM"]["Config"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["Subnet"].as_str())
        .collect();
    assert!(subnets.contains(&"2001:db8:1::/64"), "{subnets:?}");
    assert!(sb
        .addresses(&bridge_of(&v6))
        .contains(&"2001:db8:1::1/64".to_owned()));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let sb = started();
    sb.berth(&[
        "network",
        "create",
        "--subnet=192.168.100.0/24",
        "mynetwork",
    ])
    .ok();
    let names_before = ls_names(&sb);
    let links_before = sb.link_names();

    let cases: &[(&[&str], &str)] = &[
        (
            &["network", "create", "mynetwork"],
            "network with name mynetwork already exists",
        ),
        (&["network", "create", ""], "name is empty"),
        (
            &[
                "network",
                "create",
                "-o",
                "com.docker.network.bridge.name=br*",
                "x0",
            ],
            "invalid bridge name",
        ),
        (
            &["network", "create", "--subnet", "300.1.0.0/16", "x1"],
            "invalid",
        ),
        (
            &["network", "create", "--subnet", "192.168.100.0/25", "x2"],
            "Pool overlaps with other one on this address space",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.1.0.0/16",
                "--gateway",
                "10.2.0.1",
                "x3",
            ],
            "10.2.0.1",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.1.0.0/16",
                "--ip-range",
                "10.2.0.0/24",
                "x4",
            ],
            "10.2.0.0/24",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.1.0.0/16",
                "--aux-address",
                "a=10.9.0.1",
                "x5",
            ],
            "10.9.0.1",
        ),
        (&["network", "create", "-d", "weird", "x6"], "plugin"),
        (
            &["network", "create", "bridge"],
            "bridge is a pre-defined network and cannot be created",
        ),
        (&["network", "rm", "nosuch"], "network nosuch not found"),
        (
            &["network", "inspect", "nosuch"],
            "network nosuch not found",
        ),
        (
            &["network", "rm", "bridge"],
            "bridge is a pre-defined network and cannot be removed",
        ),
        (
            &["network", "rm", "host"],
            "host is a pre-defined network and cannot be removed",
        ),
    ];
    for (args, want) in cases {
        let err = sb.berth(args).err();
        assert!(
            err.contains(want),
            "berth {args:?}: want {want:?} in {err:?}"
        );
    }
    assert_eq!(ls_names(&sb), names_before);
    assert_eq!(sb.link_names(), links_before);

    // Raw API: Docker's status codes.
    let (status, body) = sb.http(
        "POST",
        "/v1.50/networks/create",
        Some(r#"{"Name":"mynetwork"}"#),
    );
    assert_eq!(status, 409, "{body}");
    let (status, _) = sb.http("DELETE", "/v1.50/networks/bridge", None);
    assert_eq!(status, 403);
    let (status, body) = sb.http("GET", "/v1.50/networks/nosuch", None);
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "network nosuch not found"
    );
    let (status, _) = sb.http(
        "POST",
        "/networks/create",
        Some(r#"{"Name":"x7","IPAM":{"Config":[{"Subnet":"10.5.0.0/16","Gateway":"10.6.0.1"}]}}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(ls_names(&sb), names_before);
    assert_eq!(sb.link_names(), links_before);
}

#[test]
fn pool_exhaustion_is_a_clear_error() {
    let mut sb = Sandbox::new();
    sb.start_daemon(&["--default-address-pool", "base=10.123.0.0/23,size=24"]);
    sb.berth(&["network", "create", "p1"]).ok();
    sb.berth(&["network", "create", "p2"]).ok();
    let err = sb.berth(&["network", "create", "p3"]).err();
    assert!(
        err.contains("all predefined address pools have been fully subnetted"),
        "{err}"
    );
    assert!(!ls_names(&sb).contains(&"p3".to_owned()));
}

#[test]
fn filters_in_both_encodings() {
    let sb = started();
    sb.berth(&["network", "create", "--label", "env=prod", "alpha"])
        .ok();
    sb.berth(&["network", "create", "beta"]).ok();
    let names = |query: &str| -> Vec<String> {
        let (status, body) = sb.http("GET", &format!("/networks?filters={query}"), None);
        assert_eq!(status, 200, "{body}");
        let mut v: Vec<String> = serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    // {"name":{"alpha":true}} and {"name":["alpha"]}, URL-encoded.
    assert_eq!(
        names("%7B%22name%22%3A%7B%22alpha%22%3Atrue%7D%7D"),
        vec!["alpha"]
    );
    assert_eq!(names("%7B%22name%22%3A%5B%22alpha%22%5D%7D"), vec!["alpha"]);
    assert_eq!(
        names("%7B%22type%22%3A%5B%22custom%22%5D%7D"),
        vec!["alpha", "beta"]
    );
    assert_eq!(
        names("%7B%22label%22%3A%5B%22env%3Dprod%22%5D%7D"),
        vec!["alpha"]
    );
    assert_eq!(names("%7B%22driver%22%3A%5B%22null%22%5D%7D"), vec!["none"]);

    let out = sb
        .berth(&["network", "ls", "-q", "--filter", "type=builtin"])
        .ok();
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().all(|l| l.len() == 12), "{out}");
    let out = sb
        .berth(&[
            "network",
            "ls",
            "--no-trunc",
            "-q",
            "--filter",
            "name=alpha",
        ])
        .ok();
    assert_eq!(out.trim().len(), 64, "{out}");
}

fn snapshot(sb: &Sandbox) -> (Vec<(String, String)>, Vec<String>) {
    let out = sb
        .berth(&[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Name}}",
        ])
        .ok();
    let nets = out
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    (nets, sb.link_names())
}

#[test]
fn restart_after_sigterm_and_after_kill9_keeps_everything() {
    let mut sb = started();
    sb.berth(&[
        "network",
        "create",
        "--subnet=192.168.100.0/24",
        "mynetwork",
    ])
    .ok();
    sb.berth(&["network", "create", "other"]).ok();
    let before = snapshot(&sb);
    let bridge = bridge_of(&inspect(&sb, "mynetwork"));

    assert_eq!(sb.stop_daemon(), 0, "{}", sb.daemon_log());
    // State and bridges stay across a clean stop.
    assert!(sb.link_names().contains(&bridge));
    sb.restart_daemon();
    assert_eq!(snapshot(&sb), before);

    sb.kill_daemon();
    sb.restart_daemon();
    assert_eq!(snapshot(&sb), before);
    assert_eq!(sb.addresses(&bridge), vec!["192.168.100.1/24"]);

    // A bridge deleted behind berth's back comes back at the next start.
    sb.kill_daemon();
    sb.sh(&format!("ip link del {bridge}")).ok();
    sb.restart_daemon();
    assert_eq!(sb.addresses(&bridge), vec!["192.168.100.1/24"]);
}

#[test]
fn second_daemon_on_same_data_root_is_refused() {
    let sb = started();
    let out = sb
        .command(berth_testkit::sandbox::bin("berthd"))
        .arg("--data-root")
        .arg(sb.data_root())
        .arg("-H")
        .arg(format!("unix://{}/second.sock", sb.dir().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another berthd is already running"), "{err}");
}

#[test]
fn orphan_bridges_of_berth_are_removed_and_foreign_ones_kept() {
    let mut sb = started();
    sb.berth(&["network", "create", "gone"]).ok();
    let bridge = bridge_of(&inspect(&sb, "gone"));
    sb.kill_daemon();
    // Forget the network behind berth's back, as if the record were lost
    // after the bridge was made; and add a bridge berth does not own.
    let db = sb.data_root().join("berth.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("DELETE FROM networks WHERE name = 'gone'")
        .status()
        .expect("sqlite3 is needed for this test (apt-get install sqlite3)");
    assert!(status.success());
    sb.sh("ip link add br-0123456789ab type bridge").ok();
    sb.restart_daemon();
    let links = sb.link_names();
    assert!(!links.contains(&bridge), "{links:?}");
    assert!(links.contains(&"br-0123456789ab".to_owned()), "{links:?}");
}

#[test]
fn rm_and_prune_remove_bridges() {
    let sb = started();
    for n in ["a1", "a2", "keep"] {
        sb.berth(&["network", "create", "--label", &format!("role={n}"), n])
            .ok();
    }
    let a1 = bridge_of(&inspect(&sb, "a1"));
    let a2 = bridge_of(&inspect(&sb, "a2"));
    let keep = bridge_of(&inspect(&sb, "keep"));
    let out = sb.berth(&["network", "rm", "a1"]).ok();
    assert_eq!(out.trim(), "a1");
    sb.wait_link_gone(&a1);

    let out = sb
        .berth(&["network", "prune", "-f", "--filter", "label!=role=keep"])
        .ok();
    assert!(out.contains("a2"), "{out}");
    sb.wait_link_gone(&a2);
    assert!(sb.link_names().contains(&keep));
    assert_eq!(ls_names(&sb), vec!["bridge", "host", "keep", "none"]);
    sb.berth(&["network", "prune", "-f"]).ok();
    assert_eq!(ls_names(&sb), vec!["bridge", "host", "none"]);
    assert!(sb.link_names().contains(&"berth0".to_owned()));
}

#[test]
fn daemon_json_and_flags() {
    let mut sb = Sandbox::new();
    sb.write_daemon_json(r#"{"bip": "10.99.0.1/24", "mtu": 1400}"#);
    sb.start_daemon(&[]);
    assert_eq!(sb.addresses("berth0"), vec!["10.99.0.1/24"]);
    assert_eq!(sb.ip_json(&["link", "show", "berth0"])[0]["mtu"], 1400);
    let bridge_id = inspect(&sb, "bridge")["Id"].clone();
    sb.stop_daemon();

    // A flag wins over the file; the bridge network keeps its id.
    sb.write_daemon_json(r#"{"bip": "10.99.0.1/24"}"#);
    sb.start_daemon(&["--bip", "10.98.0.1/24"]);
    assert_eq!(sb.addresses("berth0"), vec!["10.98.0.1/24"]);
    assert_eq!(inspect(&sb, "bridge")["Id"], bridge_id);
    sb.stop_daemon();

    // A malformed file is a clear start-up error.
    sb.write_daemon_json(r#"{"bip": "#);
    let out = sb
        .command(berth_testkit::sandbox::bin("berthd"))
        .arg("--data-root")
        .arg(sb.data_root())
        .arg("-H")
        .arg(sb.host_arg())
        .arg("--config-file")
        .arg(sb.dir().join("daemon.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid config file"));
}

#[test]
fn api_basics_ping_version_swarm() {
    let sb = started();
    let (status, body) = sb.http("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, body) = sb.http("GET", "/v1.41/version", None);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.50");
    let (status, _) = sb.http("GET", "/v1.99/version", None);
    assert_eq!(status, 400);
    let (status, _) = sb.http("GET", "/swarm", None);
    assert_eq!(status, 503);
    let info = sb.berth(&["info"]).ok();
    assert!(!info.is_empty());
    let version = sb.berth(&["version"]).ok();
    assert!(version.contains("1.50"), "{version}");
}

#[test]
fn real_docker_cli_manages_networks() {
    let sb = started();
    let id = sb
        .docker(&[
            "network",
            "create",
            "--subnet=192.168.100.0/24",
            "mynetwork",
        ])
        .ok();
    let id = id.trim().to_owned();
    let ls = sb.docker(&["network", "ls"]).ok();
    assert!(
        ls.contains("mynetwork") && ls.contains("bridge") && ls.contains(&id[..12]),
        "{ls}"
    );
    let out = sb.docker(&["network", "inspect", "mynetwork"]).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "192.168.100.0/24");
    // The berth CLI sees the same network.
    assert_eq!(inspect(&sb, "mynetwork")["Id"], id.as_str());
    let fmt = sb
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "mynetwork",
        ])
        .ok();
    assert_eq!(fmt.trim(), "192.168.100.1");

    let err = sb.docker(&["network", "create", "mynetwork"]).err();
    assert!(
        err.contains("network with name mynetwork already exists"),
        "{err}"
    );
    let err = sb.docker(&["network", "rm", "bridge"]).err();
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );

    sb.docker(&["network", "rm", "mynetwork"]).ok();
    sb.docker(&["network", "create", "p1"]).ok();
    let out = sb.docker(&["network", "prune", "-f"]).ok();
    assert!(out.contains("p1"), "{out}");
    let ls = sb.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert_eq!(
        ls.lines().collect::<Vec<_>>(),
        vec!["bridge", "host", "none"]
    );
    let v = sb
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .ok();
    assert_eq!(v.trim(), "1.50");
}
