//! Root tests of the sandbox side of `NetOps`: namespace files and endpoints.
//!
//! Each test runs in a child process with a private mount namespace and its
//! own network namespace, then on a thread in a fresh network namespace
//! (`support::in_private_mounts` + `support::in_fresh_netns`): the bind
//! mounts and links they make are invisible to the machine and vanish with
//! the child. The "host" side of an endpoint is the test thread's namespace.
//!
//! Run: `cargo test -p berth-netlink --features privileged` (as root). Add
//! `--release -- --nocapture add_endpoint_timing` for the timing figures.

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::fs;
use std::io;
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_core::ports::{
    endpoint_link_alias, BridgeSpec, EndpointCheck, EndpointFault, NetOps, OwnedLink, VethPair,
};
use berth_netlink::{run_in_netns, DnsSockets, Netlink, NetlinkError};
use berth_types::{EndpointId, MacAddr};
use nix::sys::socket::{bind, listen, Backlog, SockaddrIn};
use nix::sys::statfs::{statfs, NSFS_MAGIC};
use support::{
    addrs_of, in_fresh_netns, in_private_mounts, ip, ip_json, ip_json_in, is_up, link_json,
    link_names, name, names_of, net, nsenter, open, ping_command,
};

fn bridge(name_: &str, addresses: &[&str]) -> BridgeSpec {
    BridgeSpec {
        name: name(name_),
        mtu: 1400,
        addresses: addresses.iter().map(|a| net(a)).collect(),
        alias: format!("berth:network:{name_}"),
        mac: MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]),
    }
}

fn endpoint(
    netns: &Path,
    bridge: &str,
    host: &str,
    addresses: &[&str],
    gateways: &[&str],
) -> VethPair {
    let first_v4 = addresses
        .iter()
        .map(|a| net(a).addr())
        .find_map(|a| match a {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .unwrap_or([192, 168, 255, 254].into());
    let mut id = [0u8; 32];
    id[..host.len()].copy_from_slice(host.as_bytes());
    VethPair {
        netns: netns.to_owned(),
        bridge: name(bridge),
        host_ifname: name(host),
        ifname: name("eth0"),
        mac: MacAddr::from_ipv4(first_v4),
        mtu: 1400,
        addresses: addresses.iter().map(|a| net(a)).collect(),
        default_gateways: gateways
            .iter()
            .map(|g| g.parse().expect("gateway"))
            .collect(),
        alias: endpoint_link_alias(&EndpointId::from_bytes(id)),
    }
}

fn is_nsfs(path: &Path) -> bool {
    statfs(path).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC)
}

/// The propagation fields of the topmost mount at `dir` (empty: private).
fn propagation_of(dir: &Path) -> Option<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = dir.to_str().expect("utf-8 path");
    mountinfo.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        (fields.get(4) == Some(&dir)).then(|| fields[6..sep].join(" "))
    })
}

/// Names of the links inside the namespace mounted at `netns`.
fn sandbox_links(netns: &Path) -> Vec<String> {
    names_of(&ip_json_in(netns, &["link", "show"]))
}

fn ping(netns: &Path, args: &[&str]) -> std::process::Output {
    nsenter(netns, &ping_command(), args)
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn later_namespaces_come_from_the_pool_fresh_and_distinct() {
    in_private_mounts(
        "later_namespaces_come_from_the_pool_fresh_and_distinct",
        |scratch| {
            in_fresh_netns(move || async move {
                let dir = scratch.join("run/netns");
                let pool = dir.join(".pool");
                // What an earlier berthd left in the pool is swept.
                fs::create_dir_all(&pool).expect("pool dir");
                fs::write(pool.join("99"), "").expect("leftover");
                let nl = open().await;
                // Start-up's listing of the namespace directory sweeps it.
                NetOps::list_netns(&nl, &dir).await.expect("list");
                assert!(!pool.join("99").exists(), "the leftover stays");
                NetOps::create_netns(&nl, &dir.join("first"))
                    .await
                    .expect("first");
                pool_filled(&dir, 4).await;
                let mut inodes = vec![fs::metadata(dir.join("first")).expect("stat").ino()];
                for name_ in ["a", "b", "c"] {
                    let path = dir.join(name_);
                    NetOps::create_netns(&nl, &path).await.expect("create");
                    assert!(is_nsfs(&path), "{name_}: not a namespace mount");
                    assert_eq!(sandbox_links(&path), ["lo"]);
                    assert!(is_up(&ip_json_in(&path, &["link", "show", "lo"])[0]));
                    let out = ping(&path, &["-c1", "-W1", "127.0.0.1"]);
                    assert!(out.status.success(), "{out:?}");
                    inodes.push(fs::metadata(&path).expect("stat").ino());
                }
                inodes.sort_unstable();
                inodes.dedup();
                assert_eq!(inodes.len(), 4, "a namespace was handed out twice");
                // The pool is not a sandbox: listing and removal ignore it.
                assert_eq!(
                    NetOps::list_netns(&nl, &dir).await.expect("list"),
                    [
                        dir.join("a"),
                        dir.join("b"),
                        dir.join("c"),
                        dir.join("first")
                    ]
                );
                for name_ in ["a", "b", "c", "first"] {
                    NetOps::remove_netns(&nl, &dir.join(name_))
                        .await
                        .expect("remove");
                }
                // Dropping the adapter (berthd's exit) empties the pool.
                drop(nl);
                let deadline = Instant::now() + Duration::from_secs(10);
                while fs::read_dir(&pool).expect("pool").next().is_some() {
                    assert!(Instant::now() < deadline, "the pool was not emptied");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        },
    );
}

/// Waits (bounded) until the pool under `dir` holds `count` namespaces.
async fn pool_filled(dir: &Path, count: usize) {
    let pool = dir.join(".pool");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_dir(&pool)
        .map(|entries| entries.flatten().filter(|e| is_nsfs(&e.path())).count())
        .unwrap_or(0)
        < count
    {
        assert!(Instant::now() < deadline, "the pool did not fill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes a namespace at `path` until one comes from the pool (bounded): one
/// made on the spot while the pool is still filling brings no sockets.
/// Returns its DNS sockets.
async fn create_from_pool(nl: &Netlink, path: &Path) -> DnsSockets {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        NetOps::create_netns(nl, path).await.expect("create");
        if let Some(sockets) = nl.take_dns_sockets(path) {
            return sockets;
        }
        assert!(Instant::now() < deadline, "no namespace came from the pool");
        NetOps::remove_netns(nl, path).await.expect("remove");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Binds the pool's DNS sockets as berthd does, where they were made.
fn listen_on_resolver_address(sockets: DnsSockets) -> (UdpSocket, TcpListener) {
    let address = SockaddrIn::new(127, 0, 0, 11, 53);
    bind(sockets.udp.as_raw_fd(), &address).expect("bind udp");
    bind(sockets.tcp.as_raw_fd(), &address).expect("bind tcp");
    listen(&sockets.tcp, Backlog::new(8).expect("backlog")).expect("listen");
    (UdpSocket::from(sockets.udp), TcpListener::from(sockets.tcp))
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn a_pooled_namespace_brings_dns_sockets_made_inside_it() {
    in_private_mounts(
        "a_pooled_namespace_brings_dns_sockets_made_inside_it",
        |scratch| {
            in_fresh_netns(move || async move {
                let dir = scratch.join("run/netns");
                let nl = open().await;
                // Made on the spot (the pool starts empty): no sockets.
                let first = dir.join("first");
                NetOps::create_netns(&nl, &first).await.expect("first");
                assert!(nl.take_dns_sockets(&first).is_none());

                let second = dir.join("second");
                let sockets = create_from_pool(&nl, &second).await;
                assert!(nl.take_dns_sockets(&first).is_none(), "another path's");
                assert!(nl.take_dns_sockets(&second).is_none(), "handed out twice");
                // Bound from this thread, they listen in the sandbox: the
                // address is taken there, and a client there reaches it.
                let (_udp, tcp) = listen_on_resolver_address(sockets);
                let taken = run_in_netns(&second, || {
                    Ok(UdpSocket::bind("127.0.0.11:53").map_err(|e| e.kind()))
                })
                .expect("in the sandbox");
                assert_eq!(taken.err(), Some(io::ErrorKind::AddrInUse));
                run_in_netns(&second, || TcpStream::connect("127.0.0.11:53"))
                    .expect("a client in the sandbox connects");
                tcp.accept().expect("accepted");

                // After a removal nothing is handed out for the path, and a
                // namespace made again there brings sockets of its own.
                let third = dir.join("third");
                NetOps::create_netns(&nl, &third).await.expect("third");
                NetOps::remove_netns(&nl, &third).await.expect("remove");
                assert!(nl.take_dns_sockets(&third).is_none(), "kept after removal");
                let (udp, _tcp) = listen_on_resolver_address(create_from_pool(&nl, &third).await);
                let from_inside = run_in_netns(&third, || {
                    let client = UdpSocket::bind("127.0.0.1:0")?;
                    client.send_to(b"ping", "127.0.0.11:53")?;
                    Ok(())
                });
                from_inside.expect("a datagram from inside");
                let mut buf = [0u8; 8];
                udp.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let (n, _) = udp.recv_from(&mut buf).expect("received in the sandbox");
                assert_eq!(&buf[..n], b"ping");
                for path in [&first, &second, &third] {
                    NetOps::remove_netns(&nl, path).await.expect("remove");
                }
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn create_netns_mounts_a_namespace_with_lo_up_and_is_idempotent() {
    in_private_mounts(
        "create_netns_mounts_a_namespace_with_lo_up_and_is_idempotent",
        |scratch| {
            in_fresh_netns(move || async move {
                let nl = open().await;
                let dir = scratch.join("run/netns");
                let path = dir.join("sb1");
                NetOps::create_netns(&nl, &path).await.expect("create");

                assert!(is_nsfs(&path), "not a namespace mount");
                let meta = fs::metadata(&path).expect("stat");
                assert!(meta.is_file() && meta.len() == 0, "{meta:?}");
                let mine = fs::metadata("/proc/thread-self/ns/net").expect("own ns");
                assert_ne!(meta.ino(), mine.ino(), "mounted the caller's namespace");
                assert_eq!(sandbox_links(&path), ["lo"]);
                assert!(is_up(&ip_json_in(&path, &["link", "show", "lo"])[0]));
                // Loopback works for real.
                let out = ping(&path, &["-c1", "-W1", "127.0.0.1"]);
                assert!(out.status.success(), "{out:?}");
                assert_eq!(
                    propagation_of(&dir).as_deref(),
                    Some(""),
                    "the namespace directory must be a private mount"
                );

                // Again: same namespace, and lo is brought back up.
                let out = nsenter(&path, &["ip"], &["link", "set", "lo", "down"]);
                assert!(out.status.success(), "{out:?}");
                NetOps::create_netns(&nl, &path)
                    .await
                    .expect("create again");
                assert_eq!(fs::metadata(&path).expect("stat").ino(), meta.ino());
                assert!(is_up(&ip_json_in(&path, &["link", "show", "lo"])[0]));
                let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
                let path_str = path.to_str().expect("utf-8");
                assert_eq!(
                    mounts
                        .lines()
                        .filter(|l| l.split(' ').nth(4) == Some(path_str))
                        .count(),
                    1,
                    "one mount on the file"
                );

                // A file left by an attempt that died before mounting is reused.
                let sb2 = dir.join("sb2");
                fs::write(&sb2, "").expect("leftover");
                NetOps::create_netns(&nl, &sb2).await.expect("create sb2");
                assert!(is_nsfs(&sb2));
                assert_ne!(fs::metadata(&sb2).expect("stat").ino(), meta.ino());

                assert_eq!(
                    NetOps::list_netns(&nl, &dir).await.expect("list"),
                    [path.clone(), sb2.clone()]
                );
                assert_eq!(
                    NetOps::list_netns(&nl, &scratch.join("missing"))
                        .await
                        .expect("list missing"),
                    Vec::<PathBuf>::new()
                );

                NetOps::remove_netns(&nl, &path).await.expect("remove");
                assert!(!path.exists(), "file left behind");
                NetOps::remove_netns(&nl, &path)
                    .await
                    .expect("remove again");
                NetOps::remove_netns(&nl, &dir.join("never-was"))
                    .await
                    .expect("remove missing");
                // A plain file that was never mounted is removed too.
                fs::write(dir.join("plain"), "").expect("plain");
                NetOps::remove_netns(&nl, &dir.join("plain"))
                    .await
                    .expect("remove unmounted");
                assert_eq!(
                    NetOps::list_netns(&nl, &dir).await.expect("list"),
                    std::slice::from_ref(&sb2)
                );
                NetOps::remove_netns(&nl, &sb2).await.expect("remove sb2");
                assert!(NetOps::list_netns(&nl, &dir)
                    .await
                    .expect("list")
                    .is_empty());
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn add_endpoint_connects_the_sandbox_to_the_bridge() {
    in_private_mounts(
        "add_endpoint_connects_the_sandbox_to_the_bridge",
        |scratch| {
            in_fresh_netns(move || async move {
                let nl = open().await;
                NetOps::ensure_bridge(&nl, &bridge("br-ep", &["192.168.100.1/24"]))
                    .await
                    .expect("bridge");
                let path = scratch.join("netns/sb");
                NetOps::create_netns(&nl, &path).await.expect("netns");
                let spec = endpoint(
                    &path,
                    "br-ep",
                    "vethep0",
                    &["192.168.100.10/24"],
                    &["192.168.100.1"],
                );
                NetOps::add_veth_pair(&nl, &spec)
                    .await
                    .expect("add_veth_pair");

                // Host end.
                let host = link_json("vethep0");
                assert_eq!(host["linkinfo"]["info_kind"], "veth");
                assert_eq!(host["master"], "br-ep");
                assert_eq!(host["ifalias"], spec.alias.as_str());
                assert_eq!(host["mtu"], 1400);
                assert!(is_up(&host), "{host}");
                // A bridge port: no IPv6 of its own, so no routes of its own
                // in the host's IPv6 table.
                let v6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/vethep0/disable_ipv6")
                    .expect("ipv6 sysctl");
                assert_eq!(v6.trim(), "1");
                let routes = std::process::Command::new("ip")
                    .args(["-6", "route", "show", "table", "all", "dev", "vethep0"])
                    .output()
                    .expect("ip -6 route");
                assert_eq!(String::from_utf8_lossy(&routes.stdout), "");
                assert!(!link_names().contains(&"eth0".to_owned()));
                let owned = NetOps::owned_links(&nl).await.expect("owned");
                assert!(
                    owned.contains(&OwnedLink {
                        name: name("vethep0"),
                        alias: spec.alias.clone()
                    }),
                    "{owned:?}"
                );

                // Sandbox end.
                assert_eq!(sandbox_links(&path), ["lo", "eth0"]);
                let eth0 = &ip_json_in(&path, &["addr", "show", "dev", "eth0"])[0];
                assert_eq!(eth0["address"], "02:42:c0:a8:64:0a");
                assert_eq!(eth0["mtu"], 1400);
                assert!(is_up(eth0), "{eth0}");
                // No IPv6 address, so no link-local one either.
                assert_eq!(addrs_of(eth0), ["192.168.100.10/24"]);
                let details = &ip_json_in(&path, &["-d", "link", "show", "dev", "eth0"])[0];
                assert_eq!(details["inet6_addr_gen_mode"], "none", "{details}");
                assert!(is_up(&ip_json_in(&path, &["link", "show", "lo"])[0]));
                let routes = ip_json_in(&path, &["route", "show", "default"]);
                assert_eq!(routes.as_array().expect("routes").len(), 1, "{routes}");
                assert_eq!(routes[0]["gateway"], "192.168.100.1");
                assert_eq!(routes[0]["dev"], "eth0");

                // Real packets, both ways through the bridge.
                let out = ping(&path, &["-c1", "-W1", "192.168.100.1"]);
                assert!(
                    out.status.success(),
                    "ping from the sandbox: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn endpoint_fault_names_what_is_broken() {
    in_private_mounts("endpoint_fault_names_what_is_broken", |scratch| {
        in_fresh_netns(move || async move {
            let nl = open().await;
            NetOps::ensure_bridge(&nl, &bridge("br-ef", &["192.168.101.1/24"]))
                .await
                .expect("bridge");
            let path = scratch.join("netns/sb");
            NetOps::create_netns(&nl, &path).await.expect("netns");
            let spec = endpoint(&path, "br-ef", "vethef0", &["192.168.101.10/24"], &[]);
            let fault = |nl: berth_netlink::Netlink, spec: VethPair| async move {
                NetOps::veth_pair_fault(&nl, &spec, EndpointCheck::BothEnds)
                    .await
                    .expect("check")
            };
            NetOps::add_veth_pair(&nl, &spec).await.expect("add");
            assert_eq!(fault(nl.clone(), spec.clone()).await, None);

            let flushed = nsenter(&path, &["ip"], &["addr", "flush", "dev", "eth0"]);
            assert!(flushed.status.success());
            assert_eq!(
                fault(nl.clone(), spec.clone()).await,
                Some(EndpointFault::SandboxEndIncomplete)
            );
            // The host end alone looks right.
            let host_end = NetOps::veth_pair_fault(&nl, &spec, EndpointCheck::HostEnd)
                .await
                .expect("check");
            assert_eq!(host_end, None);
            ip(&["link", "set", "vethef0", "nomaster"]);
            assert_eq!(
                fault(nl.clone(), spec.clone()).await,
                Some(EndpointFault::NotOnBridge)
            );
            ip(&["link", "set", "vethef0", "down"]);
            assert_eq!(
                fault(nl.clone(), spec.clone()).await,
                Some(EndpointFault::HalfMade)
            );
            NetOps::delete_link(&nl, &name("vethef0"))
                .await
                .expect("delete");
            assert_eq!(
                fault(nl.clone(), spec.clone()).await,
                Some(EndpointFault::HostEndMissing)
            );
            // A bridge deleted and made again has lost its ports.
            NetOps::add_veth_pair(&nl, &spec).await.expect("add again");
            NetOps::delete_link(&nl, &name("br-ef"))
                .await
                .expect("delete bridge");
            NetOps::ensure_bridge(&nl, &bridge("br-ef", &["192.168.101.1/24"]))
                .await
                .expect("bridge again");
            assert_eq!(
                fault(nl.clone(), spec.clone()).await,
                Some(EndpointFault::NotOnBridge)
            );
        });
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn add_endpoint_sets_ipv6_address_and_default_route() {
    in_private_mounts(
        "add_endpoint_sets_ipv6_address_and_default_route",
        |scratch| {
            in_fresh_netns(move || async move {
                let nl = open().await;
                NetOps::ensure_bridge(
                    &nl,
                    &bridge("br-v6", &["192.168.100.1/24", "2001:db8:64::1/64"]),
                )
                .await
                .expect("bridge");

                let path = scratch.join("netns/dual");
                NetOps::create_netns(&nl, &path).await.expect("netns");
                let spec = endpoint(
                    &path,
                    "br-v6",
                    "vethv6a",
                    &["192.168.100.10/24", "2001:db8:64::10/64"],
                    &["192.168.100.1", "2001:db8:64::1"],
                );
                NetOps::add_veth_pair(&nl, &spec)
                    .await
                    .expect("add_veth_pair");
                let eth0 = &ip_json_in(&path, &["addr", "show", "dev", "eth0"])[0];
                let v6 = eth0["addr_info"]
                    .as_array()
                    .expect("addr_info")
                    .iter()
                    .find(|a| a["local"] == "2001:db8:64::10")
                    .unwrap_or_else(|| panic!("no 2001:db8:64::10 in {eth0}"));
                assert_eq!(v6["prefixlen"], 64);
                assert!(v6.get("tentative").is_none(), "tentative: {v6}");
                // With an IPv6 address, a link-local one too (as Docker's).
                assert!(
                    addrs_of(eth0).iter().any(|a| a.starts_with("fe80:")),
                    "{eth0}"
                );
                let v6_routes = ip_json_in(&path, &["-6", "route", "show", "default"]);
                assert_eq!(
                    v6_routes.as_array().expect("routes").len(),
                    1,
                    "{v6_routes}"
                );
                assert_eq!(v6_routes[0]["gateway"], "2001:db8:64::1");
                assert_eq!(v6_routes[0]["dev"], "eth0");
                let v4_routes = ip_json_in(&path, &["route", "show", "default"]);
                assert_eq!(v4_routes[0]["gateway"], "192.168.100.1");
                let out = ping(&path, &["-6", "-c1", "-W1", "2001:db8:64::1"]);
                assert!(
                    out.status.success(),
                    "ping6 from the sandbox: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );

                // IPv6 only.
                let path = scratch.join("netns/v6only");
                NetOps::create_netns(&nl, &path).await.expect("netns");
                let spec = endpoint(
                    &path,
                    "br-v6",
                    "vethv6b",
                    &["2001:db8:64::11/64"],
                    &["2001:db8:64::1"],
                );
                NetOps::add_veth_pair(&nl, &spec)
                    .await
                    .expect("add_endpoint v6");
                let eth0 = &ip_json_in(&path, &["addr", "show", "dev", "eth0"])[0];
                assert!(
                    addrs_of(eth0).contains(&"2001:db8:64::11/64".to_owned()),
                    "{eth0}"
                );
                let v6_routes = ip_json_in(&path, &["-6", "route", "show", "default"]);
                assert_eq!(v6_routes[0]["gateway"], "2001:db8:64::1");
                let v4_routes = ip_json_in(&path, &["route", "show", "default"]);
                assert!(
                    v4_routes.as_array().expect("routes").is_empty(),
                    "{v4_routes}"
                );
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn add_endpoint_failures_leave_nothing_behind() {
    in_private_mounts("add_endpoint_failures_leave_nothing_behind", |scratch| {
        in_fresh_netns(move || async move {
            let nl = open().await;
            NetOps::ensure_bridge(&nl, &bridge("br-f", &["192.168.100.1/24"]))
                .await
                .expect("bridge");
            let path = scratch.join("netns/sb");
            NetOps::create_netns(&nl, &path).await.expect("netns");
            let host_links = link_names();

            // The bridge is missing: nothing is created.
            let spec = endpoint(
                &path,
                "br-none",
                "vethf0",
                &["192.168.100.10/24"],
                &["192.168.100.1"],
            );
            let err = nl.add_veth_pair(&spec).await.expect_err("no bridge");
            let text = err.to_string();
            assert!(matches!(err, NetlinkError::Endpoint { .. }), "{err:?}");
            assert!(text.contains(&spec.alias), "{text}");
            assert!(text.contains("vethf0"), "{text}");
            assert!(text.contains("creating the veth pair"), "{text}");
            assert!(text.contains("link br-none not found"), "{text}");
            assert_eq!(link_names(), host_links);
            assert_eq!(sandbox_links(&path), ["lo"]);

            // Failing mid-way (the gateway is off-subnet, after the pair,
            // its alias and the addresses exist): all of it goes.
            let spec = endpoint(
                &path,
                "br-f",
                "vethf1",
                &["192.168.100.10/24"],
                &["10.1.2.3"],
            );
            let err = nl.add_veth_pair(&spec).await.expect_err("bad gateway");
            let text = err.to_string();
            assert_eq!(err.errno(), Some(libc::ENETUNREACH), "{text}");
            assert!(
                text.contains("adding the sandbox's default routes"),
                "{text}"
            );
            assert!(text.contains("via 10.1.2.3 dev eth0"), "{text}");
            assert!(!text.contains("removing the half-made"), "{text}");
            assert_eq!(link_names(), host_links);
            assert_eq!(sandbox_links(&path), ["lo"]);

            // Same through the port, and then a good spec still works.
            let err = NetOps::add_veth_pair(&nl, &spec).await.expect_err("again");
            assert!(err.to_string().contains("vethf1"), "{err}");
            let good = endpoint(
                &path,
                "br-f",
                "vethf1",
                &["192.168.100.10/24"],
                &["192.168.100.1"],
            );
            NetOps::add_veth_pair(&nl, &good).await.expect("good spec");
            NetOps::delete_link(&nl, &name("vethf1"))
                .await
                .expect("delete");
            assert_eq!(sandbox_links(&path), ["lo"], "peer goes with the host end");

            // Names taken by links that are not ours: refused, and those
            // links are left alone.
            ip(&["link", "add", "vethf2", "type", "bridge"]);
            let spec = endpoint(&path, "br-f", "vethf2", &["192.168.100.10/24"], &[]);
            let err = nl.add_veth_pair(&spec).await.expect_err("host name taken");
            assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
            assert!(
                err.to_string()
                    .contains("vethf2 already exists on the host"),
                "{err}"
            );
            assert_eq!(link_json("vethf2")["linkinfo"]["info_kind"], "bridge");

            let out = nsenter(&path, &["ip"], &["link", "add", "eth0", "type", "bridge"]);
            assert!(out.status.success(), "{out:?}");
            let spec = endpoint(&path, "br-f", "vethf3", &["192.168.100.10/24"], &[]);
            let err = nl.add_veth_pair(&spec).await.expect_err("peer name taken");
            assert!(
                err.to_string()
                    .contains("eth0 already exists in the target namespace"),
                "{err}"
            );
            assert!(!link_names().contains(&"vethf3".to_owned()));
            assert_eq!(sandbox_links(&path), ["lo", "eth0"]);
            let eth0 = &ip_json_in(&path, &["-d", "link", "show", "eth0"])[0];
            assert_eq!(eth0["linkinfo"]["info_kind"], "bridge");

            // The namespace file is missing.
            let spec = endpoint(
                &scratch.join("netns/nope"),
                "br-f",
                "vethf4",
                &["192.168.100.10/24"],
                &[],
            );
            let err = nl.add_veth_pair(&spec).await.expect_err("no netns");
            assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
            assert!(
                err.to_string()
                    .contains("opening the sandbox's network namespace"),
                "{err}"
            );
            assert!(!link_names().contains(&"vethf4".to_owned()));

            // A plain file where the namespace should be.
            let plain = scratch.join("netns/plain");
            fs::write(&plain, "").expect("plain file");
            let spec = endpoint(&plain, "br-f", "vethf5", &["192.168.100.10/24"], &[]);
            let err = nl.add_veth_pair(&spec).await.expect_err("not a netns");
            assert!(err.to_string().contains("not a mounted namespace"), "{err}");
            assert!(!link_names().contains(&"vethf5".to_owned()));
        });
    });
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").expect("fds").count()
}

/// The fd count once it has stayed the same for 200 ms (at most 5 s).
async fn settled_fd_count() -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = open_fds();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = open_fds();
        if now == count || Instant::now() > deadline {
            return now;
        }
        count = now;
    }
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn add_endpoint_timing() {
    in_private_mounts("add_endpoint_timing", |scratch| {
        in_fresh_netns(move || async move {
            let nl = open().await;
            NetOps::ensure_bridge(&nl, &bridge("br-t", &["10.88.0.1/16"]))
                .await
                .expect("bridge");
            // Warm up (first namespace directory setup, code paths).
            let warm = scratch.join("netns/warm");
            NetOps::create_netns(&nl, &warm).await.expect("warm netns");
            NetOps::remove_netns(&nl, &warm).await.expect("warm remove");
            // The first namespace started the pool's refill, which holds
            // fds while it runs: the baseline is taken once the count holds
            // still, or a slow machine's refill passes for the baseline.
            let fds_before = settled_fd_count().await;

            const N: usize = 100;
            let (mut create, mut add, mut delete, mut remove) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut paths = Vec::new();
            for i in 0..N {
                let path = scratch.join(format!("netns/sb{i}"));
                let ip = format!("10.88.{}.{}/16", i / 200, i % 200 + 2);
                let spec = endpoint(&path, "br-t", &format!("vetht{i}"), &[&ip], &["10.88.0.1"]);
                let t0 = Instant::now();
                NetOps::create_netns(&nl, &path).await.expect("netns");
                let t1 = Instant::now();
                NetOps::add_veth_pair(&nl, &spec)
                    .await
                    .expect("add_veth_pair");
                let t2 = Instant::now();
                create.push(t1 - t0);
                add.push(t2 - t1);
                paths.push((path, spec.host_ifname));
            }
            for (path, host) in &paths {
                let t0 = Instant::now();
                NetOps::delete_link(&nl, host).await.expect("delete");
                let t1 = Instant::now();
                NetOps::remove_netns(&nl, path).await.expect("remove");
                delete.push(t1 - t0);
                remove.push(t1.elapsed());
            }
            for (what, times) in [
                ("create_netns", &mut create),
                ("add_endpoint", &mut add),
                ("delete_link", &mut delete),
                ("remove_netns", &mut remove),
            ] {
                times.sort();
                println!(
                    "timing {what}: p50 {:?} p90 {:?} max {:?} (n={N}, {} build)",
                    percentile(times, 50),
                    percentile(times, 90),
                    times[N - 1],
                    if cfg!(debug_assertions) {
                        "debug"
                    } else {
                        "release"
                    }
                );
            }

            // No socket or namespace fd outlives its call (the pool's
            // refill, in the background, holds some while it runs).
            let deadline = Instant::now() + Duration::from_secs(5);
            while open_fds() != fds_before && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(open_fds(), fds_before, "fd leak");
            assert_eq!(
                ip_json(&["link", "show", "master", "br-t"])
                    .as_array()
                    .expect("ports")
                    .len(),
                0
            );
            // Generous: this guards against a pathological regression, the
            // figures above are what matters.
            assert!(percentile(&add, 50) < Duration::from_millis(50));
        });
    });
}
