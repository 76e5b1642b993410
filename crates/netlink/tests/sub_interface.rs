//! Root tests of macvlan endpoints and of the kernel probe: each in a child
//! process with a private mount namespace, on a thread in a fresh network
//! namespace (see `support`), so nothing touches the machine's own.
//!
//! Run: `cargo test -p berth-netlink --features privileged` (as root).

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::net::IpAddr;
use std::path::Path;

use berth_core::ports::{
    EndpointFault, KernelLink, NetOps, ParentLink, ParentLinkKind, SubInterface, SubInterfaceKind,
};
use berth_types::MacAddr;
use support::{
    addrs_of, in_fresh_netns, in_private_mounts, ip, ip_json_in, is_up, link_json, link_names,
    name, net, nsenter, open, ping_command,
};

fn sub(netns: &Path, ifname: &str, address: &str, gateway: Option<&str>) -> SubInterface {
    SubInterface {
        netns: netns.to_path_buf(),
        parent: name("lan0"),
        kind: SubInterfaceKind::MacvlanBridge,
        ifname: name(ifname),
        mac: MacAddr([0x02, 0x42, 192, 168, 88, 10]),
        addresses: vec![net(address)],
        default_gateways: gateway
            .map(|g| g.parse::<IpAddr>().unwrap())
            .into_iter()
            .collect(),
    }
}

/// A LAN: `lan0` here, `lan1` (192.168.88.1) in a second sandbox that
/// plays the peer.
fn lan(peer: &Path) {
    ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
    ]);
    ip(&["link", "set", "lan0", "up"]);
    let peer_name = peer.to_str().unwrap();
    ip(&["link", "set", "lan1", "netns", peer_name]);
    let out = nsenter(
        peer,
        &["ip"],
        &["addr", "add", "192.168.88.1/24", "dev", "lan1"],
    );
    assert!(out.status.success());
    let out = nsenter(peer, &["ip"], &["link", "set", "lan1", "up"]);
    assert!(out.status.success());
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn a_macvlan_is_born_in_the_sandbox_configured_and_reaches_the_lan() {
    in_private_mounts(
        "a_macvlan_is_born_in_the_sandbox_configured_and_reaches_the_lan",
        |scratch| {
            in_fresh_netns(move || async move {
                let nl = open().await;
                let sandbox = scratch.join("netns/sb");
                let peer = scratch.join("netns/peer");
                NetOps::create_netns(&nl, &sandbox).await.expect("netns");
                NetOps::create_netns(&nl, &peer).await.expect("peer netns");
                lan(&peer);
                let links_before = link_names();

                let spec = sub(&sandbox, "eth0", "192.168.88.10/24", Some("192.168.88.1"));
                NetOps::add_sub_interface(&nl, &spec).await.expect("add");
                assert_eq!(link_names(), links_before, "nothing new on the host");
                let eth0 = &ip_json_in(&sandbox, &["-d", "addr", "show", "dev", "eth0"])[0];
                assert_eq!(eth0["linkinfo"]["info_kind"], "macvlan", "{eth0}");
                assert_eq!(eth0["linkinfo"]["info_data"]["mode"], "bridge", "{eth0}");
                assert_eq!(eth0["address"], "02:42:c0:a8:58:0a");
                assert!(is_up(eth0), "{eth0}");
                // No IPv6 address, so no link-local one either.
                assert_eq!(addrs_of(eth0), ["192.168.88.10/24"]);
                let routes = ip_json_in(&sandbox, &["route", "show", "default"]);
                assert_eq!(routes[0]["gateway"], "192.168.88.1", "{routes}");
                assert_eq!(
                    NetOps::sub_interface_fault(&nl, &spec)
                        .await
                        .expect("check"),
                    None
                );

                // Real packets: the sandbox reaches the peer on the LAN.
                let mut ping = ping_command();
                ping.extend(["-c1", "-W2", "192.168.88.1"]);
                let out = nsenter(&sandbox, &ping[..1], &ping[1..]);
                assert!(
                    out.status.success(),
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );

                // A second one with the same name is refused, and leaves the
                // first as it was.
                let twice = NetOps::add_sub_interface(&nl, &spec).await;
                assert!(twice.is_err());
                NetOps::delete_sandbox_link(&nl, &sandbox, &name("eth0"))
                    .await
                    .expect("delete");
                assert_eq!(
                    NetOps::sub_interface_fault(&nl, &spec)
                        .await
                        .expect("check"),
                    Some(EndpointFault::SandboxEndIncomplete)
                );
                // Gone, or the sandbox gone, is success.
                NetOps::delete_sandbox_link(&nl, &sandbox, &name("eth0"))
                    .await
                    .expect("delete again");
                NetOps::delete_sandbox_link(&nl, &scratch.join("netns/none"), &name("eth0"))
                    .await
                    .expect("no sandbox");
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn a_missing_parent_is_refused_and_leaves_nothing() {
    in_private_mounts(
        "a_missing_parent_is_refused_and_leaves_nothing",
        |scratch| {
            in_fresh_netns(move || async move {
                let nl = open().await;
                let sandbox = scratch.join("netns/sb");
                NetOps::create_netns(&nl, &sandbox).await.expect("netns");
                let err = NetOps::add_sub_interface(
                    &nl,
                    &sub(&sandbox, "eth0", "192.168.88.10/24", None),
                )
                .await
                .unwrap_err();
                assert!(err.to_string().contains("lan0"), "{err}");
                let inside = ip_json_in(&sandbox, &["link", "show"]);
                assert_eq!(inside.as_array().unwrap().len(), 1, "only lo: {inside}");
                assert_eq!(
                    NetOps::link_kind(&nl, &name("lan0")).await.expect("kind"),
                    None
                );
                assert_eq!(
                    NetOps::link_kind(&nl, &name("lo")).await.expect("kind"),
                    Some(String::new())
                );
            });
        },
    );
}

/// The probe answers from a namespace of its own: the namespace it is
/// asked from gains nothing.
#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn the_kernel_probe_leaves_the_namespace_as_it_was() {
    in_fresh_netns(|| async {
        let nl = open().await;
        let before = link_names();
        // The end-to-end macvlan tests need it, so this kernel has it.
        assert!(NetOps::kernel_has(&nl, KernelLink::Macvlan).await);
        for kind in [KernelLink::Ipvlan, KernelLink::Vlan, KernelLink::Dummy] {
            // Whatever this kernel says, asking twice says the same.
            let first = NetOps::kernel_has(&nl, kind).await;
            assert_eq!(NetOps::kernel_has(&nl, kind).await, first, "{kind:?}");
        }
        assert_eq!(link_names(), before);
    });
}

/// A parent link berth makes (802.1q, dummy): up, with its alias, made
/// again without error; on a kernel without the kind, refused.
#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn parent_links_are_made_with_their_alias_where_the_kernel_has_them() {
    in_fresh_netns(|| async {
        let nl = open().await;
        ip(&[
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
        ]);
        for (link, kind) in [
            (
                ParentLink {
                    name: name("lan0.10"),
                    kind: ParentLinkKind::Vlan {
                        base: name("lan0"),
                        id: 10,
                    },
                    alias: "berth:parent:test-vlan".to_owned(),
                },
                KernelLink::Vlan,
            ),
            (
                ParentLink {
                    name: name("dm-test"),
                    kind: ParentLinkKind::Dummy,
                    alias: "berth:parent:test-dummy".to_owned(),
                },
                KernelLink::Dummy,
            ),
        ] {
            let made = NetOps::add_parent_link(&nl, &link).await;
            if !NetOps::kernel_has(&nl, kind).await {
                assert!(made.is_err(), "{kind:?} made on a kernel without it");
                assert!(!link_names().contains(&link.name.to_string()));
                continue;
            }
            made.expect("made");
            let json = link_json(link.name.as_str());
            assert_eq!(json["ifalias"], link.alias.as_str(), "{json}");
            assert!(is_up(&json), "{json}");
            NetOps::add_parent_link(&nl, &link)
                .await
                .expect("made again");
        }
    });
}
