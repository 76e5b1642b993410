//! Root tests against the real kernel. Each test runs on a thread of its own
//! that first unshares a fresh network namespace (and checks that it did),
//! then runs a current-thread tokio runtime there; `ip -j` children inherit
//! that namespace. Nothing here can touch the machine's own namespace. (The
//! harness is in `support/`; the sandbox tests are in `sandbox.rs`.)
//!
//! Run: `cargo test -p berth-netlink --features privileged` (as root).
//! Without the feature they are ignored; with it and not root, they fail.

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::fs;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

use berth_core::ports::{BridgeSpec, NetOps, OwnedLink};
use berth_netlink::{Netlink, NetlinkError, VethSpec};
use berth_types::MacAddr;
use futures::StreamExt;
use nix::sched::CloneFlags;
use rtnetlink::MulticastGroup;
use serde_json::Value;
use support::{addrs, in_fresh_netns, ip, ip_json, link_json, name, net, open, spare_netns};

/// [`link_json`] without the bridge's running timers, which tick by themselves.
fn stable_link_json(name: &str) -> Value {
    let mut link = link_json(name);
    if let Some(data) = link["linkinfo"]["info_data"].as_object_mut() {
        data.retain(|k, _| !k.ends_with("_timer"));
    }
    link
}

fn spec(bridge: &str, addresses: &[&str]) -> BridgeSpec {
    BridgeSpec {
        name: name(bridge),
        mtu: 1400,
        addresses: addresses.iter().map(|a| net(a)).collect(),
        alias: format!("berth:{bridge}"),
        mac: BRIDGE_MAC,
    }
}

const BRIDGE_MAC: MacAddr = MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn bridge_is_created_with_address_mtu_alias_and_up() {
    in_fresh_netns(|| async {
        let nl = open().await;
        let spec = spec("br-test", &["172.30.0.1/16"]);
        NetOps::ensure_bridge(&nl, &spec)
            .await
            .expect("ensure_bridge");

        let link = link_json("br-test");
        assert_eq!(link["linkinfo"]["info_kind"], "bridge");
        assert_eq!(link["mtu"], 1400);
        assert_eq!(link["ifalias"], "berth:br-test");
        let flags = link["flags"].as_array().expect("flags");
        assert!(flags.iter().any(|f| f == "UP"), "{flags:?}");
        let v4: Vec<String> = addrs("br-test")
            .into_iter()
            .filter(|a| !a.contains(':'))
            .collect();
        assert_eq!(v4, ["172.30.0.1/16"]);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn second_ensure_bridge_changes_nothing() {
    in_fresh_netns(|| async {
        let nl = open().await;
        // No DAD in this namespace, so the kernel's own link-local address
        // settles at once and cannot be mistaken for a change of ours.
        NetOps::set_sysctl(&nl, "net.ipv6.conf.default.accept_dad", "0")
            .await
            .expect("accept_dad");
        let spec = spec("br-idem", &["172.30.0.1/16", "2001:db8:1::1/64"]);
        NetOps::ensure_bridge(&nl, &spec)
            .await
            .expect("first ensure");
        tokio::time::sleep(Duration::from_millis(1500)).await; // let linkwatch settle
        let before = (stable_link_json("br-idem"), addrs("br-idem"));

        let (conn, _handle, mut events) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .expect("monitor");
        tokio::spawn(conn);
        NetOps::ensure_bridge(&nl, &spec)
            .await
            .expect("second ensure");
        let mut seen = Vec::new();
        while let Ok(Some((msg, _))) =
            tokio::time::timeout(Duration::from_millis(300), events.next()).await
        {
            seen.push(msg);
        }
        assert!(
            seen.is_empty(),
            "second ensure_bridge changed the kernel: {seen:#?}"
        );
        assert_eq!((stable_link_json("br-idem"), addrs("br-idem")), before);

        // Control: the monitor does see a real change.
        ip(&["link", "set", "br-idem", "mtu", "1300"]);
        let event = tokio::time::timeout(Duration::from_secs(2), events.next()).await;
        assert!(
            matches!(event, Ok(Some(_))),
            "monitor saw no event for an MTU change"
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn changed_spec_replaces_addresses_and_keeps_link_local() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-chg", &["172.30.0.1/16", "2001:db8:1::1/64"]))
            .await
            .expect("first");
        // A bridge with its own MAC has no carrier, and so no link-local
        // address, until its first port is up (as docker0).
        ip(&["link", "add", "c0", "type", "veth", "peer", "name", "c0p"]);
        ip(&["link", "set", "c0p", "up"]);
        ip(&["link", "set", "c0", "master", "br-chg", "up"]);
        // The kernel adds it once the link watch has seen the carrier (up
        // to a second, more on a busy machine): wait, bounded, so the check
        // below is that the change keeps it, not that it came in time.
        let mut tries = 0;
        while !addrs("br-chg").iter().any(|a| a.starts_with("fe80:")) {
            tries += 1;
            assert!(tries < 100, "no link-local address on br-chg after 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Someone else's stray address goes too.
        ip(&["addr", "add", "10.9.9.9/24", "dev", "br-chg"]);
        let mut changed = spec("br-chg", &["172.31.0.1/24"]);
        changed.mtu = 1450;
        changed.alias = "berth:renamed".into();
        NetOps::ensure_bridge(&nl, &changed).await.expect("second");

        let all = addrs("br-chg");
        let managed: Vec<&String> = all.iter().filter(|a| !a.starts_with("fe80:")).collect();
        assert_eq!(managed, ["172.31.0.1/24"], "all: {all:?}");
        assert!(
            all.iter().any(|a| a.starts_with("fe80:")),
            "link-local kept: {all:?}"
        );
        let link = link_json("br-chg");
        assert_eq!(link["mtu"], 1450);
        assert_eq!(link["ifalias"], "berth:renamed");

        // Same address, other prefix length: replaced, not kept.
        NetOps::ensure_bridge(&nl, &spec("br-chg", &["172.31.0.1/16"]))
            .await
            .expect("third");
        let v4: Vec<String> = addrs("br-chg")
            .into_iter()
            .filter(|a| !a.contains(':'))
            .collect();
        assert_eq!(v4, ["172.31.0.1/16"]);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn ipv6_address_on_bridge_is_usable_at_once() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-v6", &["172.30.0.1/16", "2001:db8:1::1/64"]))
            .await
            .expect("ensure");
        let info = ip_json(&["addr", "show", "dev", "br-v6"])[0]["addr_info"].clone();
        let v6 = info
            .as_array()
            .expect("addr_info")
            .iter()
            .find(|a| a["local"] == "2001:db8:1::1")
            .unwrap_or_else(|| panic!("no 2001:db8:1::1 in {info}"));
        assert_eq!(v6["prefixlen"], 64);
        assert_eq!(v6["scope"], "global");
        assert!(v6.get("tentative").is_none(), "tentative: {v6}");
        // Bindable right away: this is what a tentative address refuses.
        UdpSocket::bind("[2001:db8:1::1]:0").expect("bind the gateway address");
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn owned_links_lists_only_berth_aliased_links() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-owned", &["172.30.0.1/16"]))
            .await
            .expect("ensure");
        ip(&["link", "add", "br-plain", "type", "bridge"]);
        ip(&["link", "add", "br-docker", "type", "bridge"]);
        ip(&["link", "set", "br-docker", "alias", "docker:not-ours"]);

        let owned = NetOps::owned_links(&nl).await.expect("owned_links");
        assert_eq!(
            owned,
            [OwnedLink {
                name: name("br-owned"),
                alias: "berth:br-owned".into()
            }]
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn set_link_down_takes_the_bridge_routes_away() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-down", &["172.30.0.1/16"]))
            .await
            .expect("ensure");
        let before = NetOps::host_routes(&nl).await.expect("routes");
        assert!(
            before.contains(&"172.30.0.0/16".parse().unwrap()),
            "{before:?}"
        );
        NetOps::set_link_down(&nl, &name("br-down"))
            .await
            .expect("down");
        let after = NetOps::host_routes(&nl).await.expect("routes");
        assert!(
            !after.contains(&"172.30.0.0/16".parse().unwrap()),
            "{after:?}"
        );
        NetOps::set_link_down(&nl, &name("never-was"))
            .await
            .expect("a missing link is fine");
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn delete_link_twice_is_fine() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-del", &["172.30.0.1/16"]))
            .await
            .expect("ensure");
        NetOps::delete_link(&nl, &name("br-del"))
            .await
            .expect("first delete");
        NetOps::delete_link(&nl, &name("br-del"))
            .await
            .expect("second delete");
        NetOps::delete_link(&nl, &name("never-was"))
            .await
            .expect("never existed");
        let names: Vec<String> = ip_json(&["link", "show"])
            .as_array()
            .expect("links")
            .iter()
            .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["lo"]);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn ensure_bridge_refuses_a_link_that_is_not_a_bridge() {
    in_fresh_netns(|| async {
        let nl = open().await;
        ip(&[
            "link",
            "add",
            "br-fake",
            "type",
            "veth",
            "peer",
            "name",
            "br-fake-peer",
        ]);
        let err = nl
            .ensure_bridge(&spec("br-fake", &["172.30.0.1/16"]))
            .await
            .expect_err("a dummy is not a bridge");
        assert!(matches!(err, NetlinkError::NotABridge { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "link br-fake exists but is a veth link, not a bridge"
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn host_routes_reports_the_namespace_routes() {
    in_fresh_netns(|| async {
        let nl = open().await;
        // A bridge stands in for an uplink (this kernel may lack `dummy`).
        ip(&["link", "add", "uplink", "type", "bridge"]);
        ip(&["link", "set", "uplink", "up"]);
        ip(&["addr", "add", "10.77.0.1/24", "dev", "uplink"]);
        ip(&[
            "-6",
            "addr",
            "add",
            "2001:db8:9::1/64",
            "dev",
            "uplink",
            "nodad",
        ]);
        ip(&["route", "add", "10.88.0.0/16", "via", "10.77.0.254"]);
        ip(&["route", "add", "default", "via", "10.77.0.254"]);
        ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:aa::/48",
            "via",
            "2001:db8:9::fe",
        ]);
        ip(&["-6", "route", "add", "default", "via", "2001:db8:9::fe"]);
        ip(&[
            "route",
            "add",
            "10.99.0.0/16",
            "via",
            "10.77.0.254",
            "table",
            "100",
        ]);

        let mut routes = NetOps::host_routes(&nl).await.expect("host_routes");
        routes.sort();
        let mut want = vec![
            net("10.77.0.0/24"),
            net("10.88.0.0/16"),
            net("2001:db8:9::/64"),
            net("2001:db8:aa::/48"),
        ];
        want.sort();
        assert_eq!(routes, want);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn set_sysctl_writes_only_the_test_namespace() {
    let host_value = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("host ip_forward");
    in_fresh_netns(|| async {
        let nl = open().await;
        for value in ["1", "0", "1"] {
            NetOps::set_sysctl(&nl, "net.ipv4.ip_forward", value)
                .await
                .expect("set ip_forward");
            let read = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read");
            assert_eq!(read.trim(), value);
            assert_eq!(
                berth_netlink::sysctl::read_sysctl("net.ipv4.ip_forward").expect("read"),
                value
            );
        }

        // An interface name with a dot, through the slash form.
        NetOps::ensure_bridge(&nl, &spec("br.dot", &["172.30.0.1/16"]))
            .await
            .expect("ensure br.dot");
        let key = berth_netlink::sysctl::interface_key("net.ipv4.conf", "br.dot", "route_localnet");
        NetOps::set_sysctl(&nl, &key, "1")
            .await
            .expect("route_localnet");
        let read =
            fs::read_to_string("/proc/sys/net/ipv4/conf/br.dot/route_localnet").expect("read");
        assert_eq!(read.trim(), "1");

        let err = NetOps::set_sysctl(&nl, "net.ipv4.no_such_knob", "1")
            .await
            .expect_err("no such sysctl");
        let text = err.to_string();
        assert!(text.contains("net.ipv4.no_such_knob"), "{text}");
    });
    let after = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("host ip_forward");
    assert_eq!(after, host_value, "the host's ip_forward changed");
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn veth_peer_is_born_in_the_sandbox_with_its_final_name() {
    let sandbox = spare_netns();
    in_fresh_netns(move || async move {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-ctr", &["172.30.0.1/16"]))
            .await
            .expect("ensure");
        let mac = MacAddr::from_ipv4("172.30.0.2".parse().expect("ip"));
        let veth = VethSpec {
            host_name: name("veth1234567"),
            bridge: Some(name("br-ctr")),
            mtu: 1400,
            peer_name: name("eth0"),
            peer_netns: sandbox.as_fd(),
            peer_mac: Some(mac),
            host_up: true,
        };
        let index = nl.create_veth(&veth).await.expect("create_veth");

        let host = link_json("veth1234567");
        assert_eq!(host["ifindex"], index);
        assert_eq!(host["master"], "br-ctr");
        assert_eq!(host["mtu"], 1400);
        // Made with one queue each way, as the kernel would cut it to.
        assert_eq!(
            (host["num_tx_queues"].clone(), host["num_rx_queues"].clone()),
            (1.into(), 1.into())
        );
        assert!(host["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .any(|f| f == "UP"));
        assert!(
            ip_json(&["link", "show"])
                .as_array()
                .expect("links")
                .iter()
                .all(|l| l["ifname"] != "eth0"),
            "peer must not appear on the host side"
        );

        // Look from inside the sandbox through a socket opened there.
        let inside = Netlink::open_in_netns(sandbox.as_fd()).expect("open in sandbox");
        let eth0 = inside.link_index(&name("eth0")).await.expect("lookup");
        assert!(eth0.is_some(), "eth0 missing in the sandbox");
        inside
            .set_mac(&name("eth0"), mac)
            .await
            .expect("set_mac (same value)");

        // And with ip, from a thread that joins the sandbox and then ends.
        let sandbox_fd = sandbox.try_clone().expect("dup");
        let peer = std::thread::spawn(move || {
            nix::sched::setns(sandbox_fd, CloneFlags::CLONE_NEWNET).expect("setns");
            link_json("eth0")
        })
        .join()
        .expect("sandbox thread");
        assert_eq!(peer["address"], "02:42:ac:1e:00:02");
        assert_eq!(peer["mtu"], 1400);
        assert_eq!(
            (peer["num_tx_queues"].clone(), peer["num_rx_queues"].clone()),
            (1.into(), 1.into())
        );

        // Creating it again names what exists.
        let err = nl.create_veth(&veth).await.expect_err("exists");
        assert!(
            err.to_string()
                .contains("veth1234567 already exists on the host"),
            "{err}"
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn enslave_attaches_an_existing_link() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-sl", &[]))
            .await
            .expect("ensure");
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        nl.enslave(&name("d0"), &name("br-sl"))
            .await
            .expect("enslave");
        nl.set_mac(&name("d0"), MacAddr([0x02, 0x42, 1, 2, 3, 4]))
            .await
            .expect("set_mac");
        let d0 = link_json("d0");
        assert_eq!(d0["master"], "br-sl");
        assert_eq!(d0["address"], "02:42:01:02:03:04");
        let err = nl
            .enslave(&name("nope"), &name("br-sl"))
            .await
            .expect_err("missing");
        assert_eq!(err.to_string(), "link nope not found (enslaving it)");
    });
}

/// Issue 17: a bridge left to pick its own MAC takes its lowest port's and
/// changes it when that port goes, stranding containers that cached it for
/// their gateway. berth's bridges keep the MAC of their spec whatever ports
/// come and go, and one made before that rule gets it on the next ensure.
#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn bridge_keeps_its_mac_as_ports_come_and_go() {
    in_fresh_netns(|| async {
        let nl = open().await;
        NetOps::ensure_bridge(&nl, &spec("br-mac", &["172.30.0.1/16"]))
            .await
            .expect("ensure");
        assert_eq!(link_json("br-mac")["address"], "02:aa:bb:cc:dd:ee");
        // Ports with MACs below and above the bridge's: a kernel-picked
        // bridge MAC would follow the lowest one.
        for (port, mac) in [("lo0", "00:00:00:00:00:01"), ("hi0", "fe:00:00:00:00:01")] {
            ip(&[
                "link",
                "add",
                port,
                "address",
                mac,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{port}p"),
            ]);
            ip(&["link", "set", port, "master", "br-mac", "up"]);
            assert_eq!(
                link_json("br-mac")["address"],
                "02:aa:bb:cc:dd:ee",
                "after adding {port}"
            );
        }
        ip(&["link", "del", "lo0"]);
        assert_eq!(
            link_json("br-mac")["address"],
            "02:aa:bb:cc:dd:ee",
            "after removing lo0"
        );

        // A bridge the kernel gave a MAC (as older berthd versions left
        // them) gets the spec's, and from then on keeps it.
        ip(&["link", "add", "br-old", "type", "bridge"]);
        ip(&[
            "link",
            "add",
            "old0",
            "address",
            "00:00:00:00:00:02",
            "type",
            "veth",
            "peer",
            "name",
            "old0p",
        ]);
        ip(&["link", "set", "old0", "master", "br-old", "up"]);
        assert_eq!(link_json("br-old")["address"], "00:00:00:00:00:02");
        NetOps::ensure_bridge(&nl, &spec("br-old", &[]))
            .await
            .expect("ensure an old bridge");
        assert_eq!(link_json("br-old")["address"], "02:aa:bb:cc:dd:ee");
        ip(&["link", "del", "old0"]);
        assert_eq!(link_json("br-old")["address"], "02:aa:bb:cc:dd:ee");
    });
}

/// Runs `conntrack` (conntrack-tools) in the test's namespace; its output.
fn conntrack(args: &str) -> String {
    let out = std::process::Command::new("conntrack")
        .args(args.split_whitespace())
        .output()
        .expect("run conntrack (is the conntrack package installed?)");
    assert!(
        out.status.success(),
        "conntrack {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn conntrack_entries_of_an_address_or_a_udp_port_are_deleted() {
    use berth_core::container::Proto;
    use berth_core::ports::FlowMatch;
    in_fresh_netns(|| async {
        let nl = open().await;
        let udp = |src: &str, dst: &str, dport: u16| {
            conntrack(&format!(
                "-I -p udp -s {src} -d {dst} --sport 1000 --dport {dport} -t 60"
            ));
        };
        udp("10.9.0.2", "10.9.0.3", 5353);
        udp("10.9.0.9", "10.9.0.1", 6000);
        udp("10.9.0.7", "10.9.0.8", 80);
        conntrack(
            "-I -p icmp -s 10.9.0.4 -d 10.9.0.5 --icmp-type 8 --icmp-code 0 --icmp-id 7 -t 60",
        );
        conntrack("-I -p udp -s fd00::2 -d fd00::3 --sport 1000 --dport 53 -t 60");
        conntrack(
            "-I -p tcp -s 10.9.0.7 -d 10.9.0.1 --sport 1000 --dport 6000 --state ESTABLISHED -t 60",
        );
        let forget = |flows: Vec<FlowMatch>| {
            let nl = nl.clone();
            async move { NetOps::forget_flows(&nl, &flows).await.unwrap() }
        };
        let addr = |s: &str| FlowMatch::Address(s.parse().unwrap());

        assert_eq!(forget(vec![]).await, 0);
        assert_eq!(forget(vec![addr("10.9.0.66")]).await, 0);
        // Either end of the original direction (the reply's ends are the
        // same addresses here).
        assert_eq!(forget(vec![addr("10.9.0.3"), addr("10.9.0.4")]).await, 2);
        let left = conntrack("-L");
        assert!(!left.contains("10.9.0.3"), "{left}");
        assert!(!left.contains("10.9.0.4"), "{left}");
        assert!(left.contains("10.9.0.9"), "{left}");

        // A UDP host port: the TCP flow to the same port stays.
        let port = FlowMatch::DestPort {
            proto: Proto::Udp,
            ports: (5999, 6001),
        };
        assert_eq!(forget(vec![port]).await, 1);
        let left = conntrack("-L");
        assert!(!left.contains("src=10.9.0.9"), "{left}");
        assert!(left.contains("tcp"), "{left}");

        // Both families: one dump of both, each entry deleted as its own.
        assert_eq!(
            forget(vec![addr("fd00::3"), addr("10.9.0.66")]).await,
            1,
            "IPv6"
        );
        assert_eq!(forget(vec![addr("fd00::3")]).await, 0, "gone already");
        assert!(conntrack("-L -f ipv6").trim().is_empty());
        assert!(
            conntrack("-L").contains("dport=80 "),
            "the unrelated flow stays"
        );
    });
}
