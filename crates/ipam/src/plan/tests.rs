use super::*;
use crate::ErrorKind;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn req(subnet: &str) -> SubnetRequest {
    SubnetRequest {
        subnet: net(subnet),
        ip_range: None,
        gateway: None,
        aux_addresses: BTreeMap::new(),
    }
}

fn with(
    subnet: &str,
    ip_range: Option<&str>,
    gateway: Option<&str>,
    aux: &[(&str, &str)],
) -> SubnetRequest {
    SubnetRequest {
        subnet: net(subnet),
        ip_range: ip_range.map(net),
        gateway: gateway.map(ip),
        aux_addresses: aux.iter().map(|&(k, v)| (k.to_owned(), ip(v))).collect(),
    }
}

fn config_errors(r: SubnetRequest) -> Vec<String> {
    match r.plan() {
        Err(IpamError::InvalidConfig(errs)) => errs,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn default_gateway_is_first_host() {
    let cases = [
        ("192.168.100.0/24", "192.168.100.1"),
        ("172.17.0.0/16", "172.17.0.1"),
        ("10.0.0.0/30", "10.0.0.1"),
        ("2001:db8::/64", "2001:db8::1"),
        ("fd00::/127", "fd00::1"),
        // RFC 3021 point-to-point: no network address held back.
        ("10.0.0.0/31", "10.0.0.0"),
        ("10.0.0.7/32", "10.0.0.7"),
    ];
    for (subnet, gw) in cases {
        let plan = req(subnet).plan().unwrap();
        assert_eq!(plan.gateway, ip(gw), "{subnet}");
        assert_eq!(plan.subnet, net(subnet));
    }
}

#[test]
fn default_gateway_comes_from_the_ip_range() {
    let plan = with("10.0.0.0/16", Some("10.0.1.0/24"), None, &[])
        .plan()
        .unwrap();
    assert_eq!(plan.gateway, ip("10.0.1.0"));
    let plan = with("10.0.0.0/24", Some("10.0.0.0/25"), None, &[])
        .plan()
        .unwrap();
    assert_eq!(plan.gateway, ip("10.0.0.1"));
}

#[test]
fn no_room_for_a_gateway() {
    let err = req("fd00::/128").plan().unwrap_err();
    assert_eq!(err, IpamError::NoGatewayAddress);
    assert_eq!(
        err.to_string(),
        "failed to allocate gateway (): no available addresses on this pool"
    );
    assert_eq!(err.kind(), ErrorKind::Internal);
}

#[test]
fn explicit_gateway_kept_even_outside_the_ip_range() {
    let plan = with("10.0.0.0/16", Some("10.0.1.0/24"), Some("10.0.0.254"), &[])
        .plan()
        .unwrap();
    assert_eq!(plan.gateway, ip("10.0.0.254"));
    assert_eq!(plan.ip_range, Some(net("10.0.1.0/24")));
}

#[test]
fn gateway_on_network_or_broadcast_address() {
    let cases = [
        (
            "10.0.0.0/24",
            "10.0.0.0",
            "failed to allocate gateway (10.0.0.0): Address already in use",
        ),
        (
            "10.0.0.0/24",
            "10.0.0.255",
            "failed to allocate gateway (10.0.0.255): Address already in use",
        ),
        (
            "2001:db8::/64",
            "2001:db8::",
            "failed to allocate gateway (2001:db8::): Address already in use",
        ),
    ];
    for (subnet, gw, want) in cases {
        let err = with(subnet, None, Some(gw), &[]).plan().unwrap_err();
        assert_eq!(err.to_string(), want);
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
    // IPv6 has no broadcast; /31 has neither.
    assert!(with(
        "2001:db8::/64",
        None,
        Some("2001:db8::ffff:ffff:ffff:ffff"),
        &[]
    )
    .plan()
    .is_ok());
    assert!(with("10.0.0.0/31", None, Some("10.0.0.1"), &[])
        .plan()
        .is_ok());
}

#[test]
fn validation_messages_are_dockers() {
    let cases: Vec<(SubnetRequest, Vec<&str>)> = vec![
        (req("10.10.10.0/8"), vec!["invalid subnet 10.10.10.0/8: it should be 10.0.0.0/8"]),
        (
            with("10.0.0.0/8", Some("10.10.10.0/16"), None, &[]),
            vec!["invalid ip-range 10.10.10.0/16: it should be 10.10.0.0/16"],
        ),
        (
            with("10.10.10.0/24", Some("10.0.0.0/8"), None, &[]),
            vec!["invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.10.10.0/24"],
        ),
        (
            with("10.0.0.0/8", Some("192.168.0.1/24"), Some("192.168.0.1"), &[("DefaultGatewayIPv4", "192.168.0.1")]),
            vec![
                "invalid ip-range 192.168.0.1/24: it should be 192.168.0.0/24",
                "invalid ip-range 192.168.0.1/24: parent subnet 10.0.0.0/8 doesn't contain ip-range",
                "invalid gateway 192.168.0.1: parent subnet 10.0.0.0/8 doesn't contain this address",
                "invalid auxiliary address DefaultGatewayIPv4: parent subnet 10.0.0.0/8 doesn't contain this address",
            ],
        ),
        (
            with("10.10.10.0/24", Some("2001:db8::/32"), Some("2001:db8::1"), &[("DefaultGatewayIPv4", "2001:db8::1")]),
            vec![
                "invalid ip-range 2001:db8::/32: parent subnet is an IPv4 block",
                "invalid gateway 2001:db8::1: parent subnet is an IPv4 block",
                "invalid auxiliary address DefaultGatewayIPv4: parent subnet is an IPv4 block",
            ],
        ),
        (
            with("2001:db8::/64", None, Some("10.0.0.1"), &[]),
            vec!["invalid gateway 10.0.0.1: parent subnet is an IPv6 block"],
        ),
    ];
    for (r, want) in cases {
        let subnet = r.subnet;
        assert_eq!(config_errors(r), want, "{subnet}");
    }
}

#[test]
fn invalid_config_display_and_kind() {
    let err = req("10.10.10.0/8").plan().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid network config:\ninvalid subnet 10.10.10.0/8: it should be 10.0.0.0/8"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
}

#[test]
fn valid_config_with_everything() {
    let plan = with(
        "10.0.0.0/8",
        Some("10.10.0.0/16"),
        Some("10.10.0.1"),
        &[("router", "10.0.0.254"), ("dns", "10.10.0.2")],
    )
    .plan()
    .unwrap();
    assert_eq!(
        plan,
        SubnetPlan {
            subnet: net("10.0.0.0/8"),
            ip_range: Some(net("10.10.0.0/16")),
            gateway: ip("10.10.0.1"),
            aux_addresses: [
                ("router".to_owned(), ip("10.0.0.254")),
                ("dns".to_owned(), ip("10.10.0.2"))
            ]
            .into(),
        }
    );
    assert_eq!(plan.prefix_len(), 8);
}

#[test]
fn aux_address_collisions() {
    let cases = [
        (
            with("10.0.0.0/24", None, Some("10.0.0.1"), &[("a", "10.0.0.1")]),
            "failed to allocate secondary ip address (a:10.0.0.1): Address already in use",
        ),
        (
            with("10.0.0.0/24", None, None, &[("a", "10.0.0.1")]),
            "failed to allocate secondary ip address (a:10.0.0.1): Address already in use",
        ),
        (
            with("10.0.0.0/24", None, None, &[("net", "10.0.0.0")]),
            "failed to allocate secondary ip address (net:10.0.0.0): Address already in use",
        ),
        (
            with(
                "10.0.0.0/24",
                None,
                None,
                &[("a", "10.0.0.5"), ("b", "10.0.0.5")],
            ),
            "failed to allocate secondary ip address (b:10.0.0.5): Address already in use",
        ),
    ];
    for (r, want) in cases {
        let err = r.plan().unwrap_err();
        assert_eq!(err.to_string(), want);
        // dockerd answers 500; the request contradicts itself: 400.
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    }
}

#[test]
fn parse_wire_strings() {
    let aux = BTreeMap::from([("host".to_owned(), "10.0.0.9".to_owned())]);
    let r = SubnetRequest::parse("10.0.0.0/24", "10.0.0.128/25", "10.0.0.1", &aux).unwrap();
    assert_eq!(
        r,
        with(
            "10.0.0.0/24",
            Some("10.0.0.128/25"),
            Some("10.0.0.1"),
            &[("host", "10.0.0.9")]
        )
    );
    let r = SubnetRequest::parse(
        "fd05:d0ca:2::/112",
        "",
        "fd05:d0ca:2::1/112",
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(r.gateway, Some(ip("fd05:d0ca:2::1")));
    assert_eq!(r.ip_range, None);
}

#[test]
fn parse_errors_are_dockers() {
    let none = BTreeMap::new();
    let bad_aux = BTreeMap::from([("DefaultGatewayIPv4".to_owned(), "dummy".to_owned())]);
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a BTreeMap<String, String>,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "foobar",
            "",
            "",
            &none,
            vec!["invalid subnet foobar: invalid CIDR block notation"],
        ),
        (
            "",
            "",
            "",
            &none,
            vec!["invalid subnet : invalid CIDR block notation"],
        ),
        (
            "10.10.10.0/24",
            "foobar",
            "1001.10.5.3",
            &bad_aux,
            vec![
                "invalid ip-range foobar: invalid CIDR block notation",
                "invalid gateway 1001.10.5.3: invalid address",
                "invalid auxiliary address DefaultGatewayIPv4: invalid address",
            ],
        ),
    ];
    for (subnet, range, gw, aux, want) in cases {
        match SubnetRequest::parse(subnet, range, gw, aux) {
            Err(IpamError::InvalidConfig(errs)) => assert_eq!(errs, want),
            other => panic!("{subnet}: {other:?}"),
        }
    }
}

#[test]
fn network_reports_all_entries_problems_together() {
    let err = plan_network(vec![req("10.10.10.0/8"), req("172.20.0.1/16")], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid network config:\n* invalid subnet 10.10.10.0/8: it should be 10.0.0.0/8\n* invalid subnet 172.20.0.1/16: it should be 172.20.0.0/16"
    );
}

#[test]
fn network_overlaps() {
    let existing = [net("172.17.0.0/16")];
    let err = plan_network(vec![req("172.17.5.0/24")], &existing).unwrap_err();
    assert!(matches!(err, IpamError::PoolOverlap { .. }), "{err:?}");
    // Smaller existing inside a bigger new one.
    let err = plan_network(vec![req("172.16.0.0/12")], &existing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    // Two entries of the same network.
    let err = plan_network(vec![req("10.0.0.0/16"), req("10.0.1.0/24")], &[]).unwrap_err();
    assert_eq!(
        err,
        IpamError::PoolOverlap {
            subnet: net("10.0.1.0/24"),
            existing: net("10.0.0.0/16")
        }
    );
    // An ip-range does not exempt a subnet from the check (unlike Docker).
    let err = plan_network(
        vec![with("172.17.0.0/16", Some("172.17.1.0/24"), None, &[])],
        &existing,
    )
    .unwrap_err();
    assert!(matches!(err, IpamError::PoolOverlap { .. }));
}

#[test]
fn network_plans_in_given_order_but_reserves_ipv4_first() {
    // The IPv6 entry is bad (gateway on the anycast address) and the IPv4
    // one overlaps: Docker handles IPv4 first, so the overlap wins.
    let requests = vec![
        with("fd00::/64", None, Some("fd00::"), &[]),
        req("10.0.0.0/24"),
    ];
    let err = plan_network(requests, &[net("10.0.0.0/8")]).unwrap_err();
    assert!(matches!(err, IpamError::PoolOverlap { .. }), "{err:?}");

    let plans = plan_network(
        vec![req("fd00::/64"), req("10.0.0.0/24")],
        &[net("172.17.0.0/16")],
    )
    .unwrap();
    let subnets: Vec<IpNet> = plans.iter().map(|p| p.subnet).collect();
    assert_eq!(subnets, vec![net("fd00::/64"), net("10.0.0.0/24")]);
    assert_eq!(plans[1].gateway, ip("10.0.0.1"));
}

#[test]
fn plan_serde_round_trip() {
    let plan = with(
        "10.0.0.0/24",
        Some("10.0.0.128/25"),
        None,
        &[("a", "10.0.0.9")],
    )
    .plan()
    .unwrap();
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<SubnetPlan>(&json).unwrap(), plan);
}
