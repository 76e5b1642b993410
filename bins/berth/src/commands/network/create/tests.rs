use super::*;
use clap::Parser;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: CreateArgs,
}

fn request(argv: &[&str]) -> Result<NetworkCreateRequest, String> {
    let wrap = Wrap::try_parse_from(std::iter::once("create").chain(argv.iter().copied()))
        .map_err(|e| e.to_string())?;
    create_request(&wrap.args)
}

fn err(argv: &[&str]) -> String {
    request(argv).err().unwrap_or_default()
}

#[test]
fn defaults_match_what_docker_sends() {
    // docker 28.2.2 sent, for `network create x`:
    // {"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},
    //  "Config":[]},"Internal":false,"Attachable":false,"Ingress":false,
    //  "ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"x"}
    let got = serde_json::to_value(request(&["x"]).ok()).ok();
    let want = serde_json::json!({"Name": "x", "Driver": "bridge", "Scope": "",
        "IPAM": {"Driver": "default", "Options": {}, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false, "ConfigOnly": false,
        "Options": {}, "Labels": {}});
    assert_eq!(got, Some(want));
}

#[test]
fn flags_map_to_the_request() {
    let r = request(&[
        "--subnet",
        "10.0.0.0/24",
        "--subnet",
        "10.1.0.0/24",
        "--gateway",
        "10.1.0.1",
        "--ip-range",
        "10.0.0.0/28",
        "--aux-address",
        "a=10.0.0.5",
        "--aux-address",
        "b=10.1.0.9",
        "--ipv6",
        "--internal",
        "--attachable",
        "--label",
        "k=v",
        "--label",
        "novalue",
        "-o",
        "com.x=1",
        "-o",
        "flag",
        "--ipam-opt",
        "io=1",
        "--ipv4=false",
        "-d",
        "macvlan",
        "--scope",
        "local",
        "--config-from",
        "base",
        "y",
    ]);
    let got = serde_json::to_value(r.ok()).ok();
    let want = serde_json::json!({"Name": "y", "Driver": "macvlan", "Scope": "local",
        "EnableIPv4": false, "EnableIPv6": true,
        "IPAM": {"Driver": "default", "Options": {"io": "1"}, "Config": [
            {"Subnet": "10.0.0.0/24", "IPRange": "10.0.0.0/28", "AuxiliaryAddresses": {"a": "10.0.0.5"}},
            {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1", "AuxiliaryAddresses": {"b": "10.1.0.9"}}]},
        "Internal": true, "Attachable": true, "Ingress": false, "ConfigOnly": false,
        "ConfigFrom": {"Network": "base"},
        "Options": {"com.x": "1", "flag": ""}, "Labels": {"k": "v", "novalue": ""}});
    assert_eq!(got, Some(want));
}

#[test]
fn comma_lists_and_last_value_wins() {
    let r = request(&[
        "--subnet",
        "10.0.0.0/24,10.1.0.0/24",
        "--gateway",
        "10.0.0.1,10.1.0.1",
        "--label",
        "a",
        "--label",
        "a=2",
        "--subnet",
        "",
        "x",
    ]);
    let r = r.ok();
    let cfg = r
        .as_ref()
        .and_then(|r| r.ipam.as_ref())
        .and_then(|i| i.config.clone())
        .unwrap_or_default();
    assert_eq!(cfg.len(), 2);
    assert_eq!(cfg[1].gateway.as_deref(), Some("10.1.0.1"));
    assert_eq!(
        r.and_then(|r| r.labels)
            .and_then(|l| l.get("a").cloned())
            .as_deref(),
        Some("2")
    );
}

#[test]
fn consolidation_errors_are_dockers() {
    // Every expected text below is what docker 28.2.2 printed for the
    // same flags.
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1", "x"]),
        "no matching subnet for gateway 10.1.0.1"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--subnet", "10.0.0.0/16", "x"]),
        "multiple overlapping subnet configuration is not supported"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--subnet", "10.0.0.0/24", "x"]),
        "multiple overlapping subnet configuration is not supported"
    );
    assert_eq!(
        err(&["--gateway", "10.1.0.1", "x"]),
        "every ip-range or gateway must have a corresponding subnet"
    );
    assert_eq!(
        err(&[
            "--subnet",
            "10.0.0.0/24",
            "--ip-range",
            "10.0.0.0/28",
            "--ip-range",
            "10.0.0.16/28",
            "x"
        ]),
        "every ip-range or gateway must have a corresponding subnet"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--subnet", "10.1.0.0/24", "--ip-range", "10.0.0.0/28", "--ip-range", "10.0.0.16/28", "x"]),
        "cannot configure multiple ranges (10.0.0.16/28, 10.0.0.0/28) on the same subnet (10.0.0.0/24)"
    );
    assert_eq!(
        err(&[
            "--subnet",
            "10.0.0.0/24",
            "--subnet",
            "10.1.0.0/24",
            "--gateway",
            "10.1.0.1",
            "--gateway",
            "10.1.0.2",
            "x"
        ]),
        "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/24)"
    );
    assert_eq!(
        err(&[
            "--subnet",
            "10.0.0.0/24",
            "--aux-address",
            "a=10.1.0.1",
            "x"
        ]),
        "no matching subnet for aux-address 10.1.0.1"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--aux-address", "zz", "x"]),
        "no matching subnet for aux-address "
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--subnet", "foo", "x"]),
        "invalid subnet: invalid CIDR address: foo"
    );
    assert_eq!(
        err(&["--subnet", "foo", "--subnet", "10.0.0.0/24", "x"]),
        "invalid subnet: invalid CIDR address: foo"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--gateway", "zz", "x"]),
        "no matching subnet for gateway zz"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--ip-range", "zz", "x"]),
        "invalid CIDR address: zz"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.5", "x"]),
        "invalid CIDR address: 10.0.0.5"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.0/33", "x"]),
        "invalid CIDR address: 10.0.0.0/33"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--ip-range", "010.0.0.5/28", "x"]),
        "invalid CIDR address: 010.0.0.5/28"
    );
    assert_eq!(
        err(&["--subnet", "foo", "--ip-range", "zz", "x"]),
        "invalid CIDR address: zz"
    );
    assert_eq!(
        err(&["--subnet", "foo", "--ip-range", "10.0.0.0/24", "x"]),
        "invalid subnet: invalid CIDR address: foo"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--gateway", "10.0.0.1/zz", "x"]),
        "invalid CIDR address: 10.0.0.1/zz"
    );
    assert_eq!(
        err(&["--subnet", "10.0.0.0/24", "--gateway", "010.0.0.1", "x"]),
        "no matching subnet for gateway 010.0.0.1"
    );
    assert_eq!(
        err(&[
            "--subnet",
            "10.0.0.0/24",
            "--ip-range",
            "10.1.0.0/28",
            "--gateway",
            "10.2.0.1",
            "x"
        ]),
        "no matching subnet for range 10.1.0.0/28"
    );
    assert_eq!(
        err(&[
            "--subnet",
            "10.0.0.0/24",
            "--aux-address",
            "a=10.9.0.1",
            "--gateway",
            "10.2.0.1",
            "x"
        ]),
        "no matching subnet for gateway 10.2.0.1"
    );
}

#[test]
fn values_docker_accepts_are_sent_verbatim() {
    // docker passed all of these through to the daemon unchanged.
    for argv in [
        &["--subnet", "foo", "x"][..],
        &[
            "--subnet",
            "10.0.0.0/24",
            "--ip-range",
            "10.0.0.5/28",
            "--gateway",
            "10.0.0.1/24",
            "x",
        ],
        &[
            "--subnet",
            "10.0.0.0/24",
            "--ip-range",
            "::ffff:10.0.0.5/124",
            "x",
        ],
        &[
            "--subnet",
            "10.0.0.0/24",
            "--gateway",
            "::ffff:10.0.0.1",
            "x",
        ],
        &[
            "--subnet",
            "::ffff:10.0.0.0/120",
            "--gateway",
            "10.0.0.1",
            "x",
        ],
        &[
            "--subnet",
            "10.0.0.0/024",
            "--gateway",
            "10.0.0.1",
            "--subnet",
            "10.1.0.0/24",
            "x",
        ],
        &[
            "--subnet",
            "10.0.0.0/24",
            "--subnet",
            "fd00::/64",
            "--gateway",
            "fd00::1",
            "x",
        ],
        &["--subnet", "1.2.3.0/24", "--aux-address", "=1.2.3.4", "x"],
    ] {
        assert!(request(argv).is_ok(), "{argv:?}: {:?}", request(argv).err());
    }
    let r = request(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.5/28", "x"]).ok();
    let cfg = r
        .and_then(|r| r.ipam)
        .and_then(|i| i.config)
        .unwrap_or_default();
    assert_eq!(
        cfg.first().and_then(|c| c.ip_range.clone()),
        Some("10.0.0.5/28".to_string())
    );
}

#[test]
fn flag_errors_come_from_clap() {
    assert!(err(&["--label", "", "x"]).contains("invalid label '': empty name"));
    // As with docker, `--ipv6 false x` is a flag and two arguments
    // (which `run` then rejects), not `--ipv6=false`.
    let parsed = Wrap::try_parse_from(["create", "--ipv6", "false", "x"]).ok();
    assert_eq!(
        parsed.map(|w| (w.args.ipv6, w.args.network)),
        Some((Some(true), vec!["false".into(), "x".into()]))
    );
}

#[test]
fn go_contains_semantics() {
    let contains = |net: &str, ip: &str| {
        parse_cidr(net)
            .ok()
            .is_some_and(|(_, n)| ip.parse().is_ok_and(|ip| n.contains(ip)))
    };
    assert!(contains("10.0.0.0/24", "10.0.0.255"));
    assert!(!contains("10.0.0.0/24", "10.0.1.0"));
    assert!(contains("10.0.0.0/24", "::ffff:10.0.0.1"));
    assert!(contains("::ffff:10.0.0.0/120", "10.0.0.9"));
    assert!(!contains("fd00::/64", "10.0.0.1"));
    assert!(contains("fd00::/64", "fd00::abcd"));
    assert!(contains("0.0.0.0/0", "1.2.3.4"));
}
