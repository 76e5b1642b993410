//! Root tests of overlay networks' data plane: the VXLAN device and the
//! static FDB and neighbour entries of remote endpoints, each on a thread
//! in a fresh network namespace (see `support`).
//!
//! Run: `cargo test -p berth-netlink --features privileged` (as root).

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use berth_core::ports::{NetOps, RemoteEndpoint, VxlanSpec};
use berth_types::MacAddr;
use serde_json::Value;
use support::{in_fresh_netns, ip, ip_json, link_json, name, open};

const MAC: MacAddr = MacAddr([0x02, 0x42, 10, 0, 0, 9]);

fn bridge_cmd(args: &[&str]) -> Value {
    let out = std::process::Command::new("bridge")
        .arg("-j")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-netlink --features privileged"
)]
fn a_vxlan_port_carries_remote_endpoints_as_static_entries() {
    in_fresh_netns(|| async {
        let nl = open().await;
        ip(&[
            "link", "add", "under0", "type", "veth", "peer", "name", "under1",
        ]);
        ip(&["addr", "add", "10.99.0.1/24", "dev", "under0"]);
        ip(&["link", "set", "under0", "up"]);
        assert_eq!(nl.link_mtu("under0").await.unwrap(), Some(1500));
        let spec = VxlanSpec {
            name: name("vx-test"),
            vni: 4096,
            local: "10.99.0.1".parse().unwrap(),
            port: 4789,
            mtu: 1450,
            alias: "berth:vxlan:test".to_owned(),
        };
        NetOps::ensure_vxlan(&nl, &spec).await.unwrap();
        // Idempotent.
        NetOps::ensure_vxlan(&nl, &spec).await.unwrap();
        let link = ip_json(&["-d", "link", "show", "vx-test"])[0].clone();
        let data = &link["linkinfo"]["info_data"];
        assert_eq!(link["linkinfo"]["info_kind"], "vxlan", "{link}");
        assert_eq!(data["id"], 4096, "{link}");
        assert_eq!(data["local"], "10.99.0.1", "{link}");
        assert_eq!(data["port"], 4789, "{link}");
        assert_eq!(data["learning"], false, "{link}");
        assert_eq!(data["proxy"], true, "{link}");
        assert_eq!(link["master"], serde_json::Value::Null, "{link}");
        // One an earlier berth made a bridge port is released (a bridge
        // port can have no macvlans).
        ip(&["link", "add", "ov-test", "type", "bridge"]);
        ip(&["link", "set", "vx-test", "master", "ov-test"]);
        NetOps::ensure_vxlan(&nl, &spec).await.unwrap();
        let again = ip_json(&["-d", "link", "show", "vx-test"])[0].clone();
        assert_eq!(again["master"], serde_json::Value::Null, "{again}");
        assert_eq!(link["mtu"], 1450, "{link}");
        assert_eq!(link["ifalias"], "berth:vxlan:test", "{link}");
        assert!(
            link_json("vx-test")["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "UP"),
            "{link}"
        );

        let remote = RemoteEndpoint {
            vxlan: name("vx-test"),
            mac: MAC,
            ip: "10.0.0.9".parse().unwrap(),
            vtep: "10.99.0.3".parse().unwrap(),
        };
        NetOps::add_remote_endpoint(&nl, &remote).await.unwrap();
        // Replacing is success.
        NetOps::add_remote_endpoint(&nl, &remote).await.unwrap();
        let fdb = bridge_cmd(&["fdb", "show", "dev", "vx-test"]);
        let entry = fdb
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["mac"] == "02:42:0a:00:00:09")
            .unwrap_or_else(|| panic!("no FDB entry: {fdb}"));
        assert_eq!(entry["dst"], "10.99.0.3", "{entry}");
        assert_eq!(entry["state"], "permanent", "{entry}");
        let neigh = ip_json(&["neigh", "show", "dev", "vx-test"]);
        let entry = &neigh[0];
        assert_eq!(entry["dst"], "10.0.0.9", "{neigh}");
        assert_eq!(entry["lladdr"], "02:42:0a:00:00:09", "{neigh}");
        assert_eq!(entry["state"][0], "PERMANENT", "{neigh}");

        // Reconcile reads them back.
        assert_eq!(
            NetOps::remote_endpoints_on(&nl, &name("vx-test"))
                .await
                .unwrap(),
            vec![remote.clone()]
        );
        NetOps::remove_remote_endpoint(&nl, &remote).await.unwrap();
        assert_eq!(
            NetOps::remote_endpoints_on(&nl, &name("vx-test"))
                .await
                .unwrap(),
            vec![]
        );
        assert_eq!(
            NetOps::remote_endpoints_on(&nl, &name("vx-gone"))
                .await
                .unwrap(),
            vec![]
        );
        // Gone already is success.
        NetOps::remove_remote_endpoint(&nl, &remote).await.unwrap();
        let fdb = bridge_cmd(&["fdb", "show", "dev", "vx-test"]);
        assert!(
            !fdb.as_array()
                .unwrap()
                .iter()
                .any(|e| e["mac"] == "02:42:0a:00:00:09"),
            "{fdb}"
        );
        assert_eq!(
            ip_json(&["neigh", "show", "dev", "vx-test"]),
            serde_json::json!([])
        );
    });
}
