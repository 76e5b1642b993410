//! Root tests of the etcd adapter against a real etcd (Debian's
//! `etcd-server`): each runs on a thread in a fresh network namespace (so
//! etcd listens on that namespace's loopback only), with a current-thread
//! tokio runtime there. `cargo test -p berth-cluster --features privileged`.
#![cfg(feature = "privileged")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cluster::{EtcdStore, NodeName};
use berth_core::cluster::{ClusterError, ClusterStore, Taken};
use berth_core::network::Network;
use berth_sandbox::netns::on_fresh_netns_thread;
use serde_json::json;

const ENDPOINT: &str = "http://127.0.0.1:2379";

/// A one-member etcd in the calling thread's namespace, killed on drop.
struct Etcd {
    child: Child,
    data: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        let data = tempfile::tempdir().unwrap();
        Etcd {
            child: Self::spawn(data.path()),
            data,
        }
    }

    /// SIGKILL, then the same member again on the same data.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.data.path());
    }

    fn spawn(data: &std::path::Path) -> Child {
        Command::new("etcd")
            .arg(format!("--data-dir={}", data.display()))
            .args([
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd (Debian package etcd-server)")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn connect() -> EtcdStore {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let node = NodeName {
            id: "test-node".to_owned(),
            hostname: "test".to_owned(),
        };
        if let Ok(store) = EtcdStore::connect(&[ENDPOINT.to_owned()], node).await {
            if store.networks().await.is_ok() {
                return store;
            }
        }
        assert!(Instant::now() < deadline, "etcd did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn overlay(name: &str, vni: u32, subnet: &str, gateway: &str) -> Network {
    // Distinct VNIs make distinct ids.
    let id = format!("{vni:064x}");
    serde_json::from_value(json!({
        "id": id,
        "name": name,
        "driver": "overlay",
        "created": {"secs_since_epoch": 0, "nanos_since_epoch": 0},
        "enable_ipv4": true,
        "enable_ipv6": false,
        "internal": false,
        "attachable": true,
        "subnets": [{"subnet": subnet, "ip_range": null, "gateway": gateway, "aux_addresses": {}}],
        "options": {},
        "labels": {},
        "bridge": null,
        "overlay": {"vni": vni},
    }))
    .unwrap()
}

fn run<F>(body: impl FnOnce(Etcd) -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    on_fresh_netns_thread("etcd", move || {
        let etcd = Etcd::start();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body(etcd));
    });
}

/// etcd gone: the request that finds it out waits its timeout; the next
/// ones for a moment fail without being sent (the engine is not held);
/// once etcd is back, requests go through again.
#[test]
fn an_unreachable_store_fails_fast_and_is_tried_again() {
    run(|mut etcd| async move {
        let store = connect().await;
        etcd.kill();
        let first = store.networks().await.unwrap_err().to_string();
        assert!(!first.contains("not tried"), "{first}");
        let next = store.networks().await.unwrap_err().to_string();
        assert!(next.contains("not tried"), "{next}");
        etcd.restart();
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = store.networks().await {
            assert!(Instant::now() < deadline, "store not tried again: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// Two hosts' stores claiming different but overlapping subnets at the
/// same moment (both read the claimed subnets before either writes):
/// exactly one wins, and the other is told which subnet holds it.
#[test]
fn overlapping_subnets_claimed_at_once_have_one_winner() {
    run(|etcd| async move {
        let _running = etcd;
        let (a, b) = (connect().await, connect().await);
        for round in 0..20u32 {
            let wide = overlay(
                &format!("w{round}"),
                100 + 2 * round,
                &format!("10.{round}.0.0/16"),
                &format!("10.{round}.0.1"),
            );
            let narrow = overlay(
                &format!("n{round}"),
                101 + 2 * round,
                &format!("10.{round}.5.0/24"),
                &format!("10.{round}.5.1"),
            );
            let (first, second) = tokio::join!(a.create_network(&wide), b.create_network(&narrow));
            match (first, second) {
                (Ok(()), Err(ClusterError::Taken(Taken::Subnet(held)))) => {
                    assert_eq!(held, wide.subnets[0].subnet);
                }
                (Err(ClusterError::Taken(Taken::Subnet(held))), Ok(())) => {
                    assert_eq!(held, narrow.subnets[0].subnet);
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
        // A subnet apart from every claim is free; one equal to a claim is not.
        let apart = overlay("apart", 900, "10.200.0.0/24", "10.200.0.1");
        a.create_network(&apart).await.unwrap();
        let again = overlay("again", 901, "10.200.0.0/24", "10.200.0.1");
        assert!(matches!(
            b.create_network(&again).await,
            Err(ClusterError::Taken(Taken::Subnet(_)))
        ));
    });
}

/// The watch's next event, within 30 s.
async fn next(
    rx: &mut tokio::sync::mpsc::Receiver<berth_core::cluster::ClusterEvent>,
) -> berth_core::cluster::ClusterEvent {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no event in 30 s")
        .expect("watch ended")
}

/// A watch broken by etcd going away resumes after the last change it
/// delivered: etcd replays what came since, as single changes, not as a
/// new snapshot.
#[test]
fn a_broken_watch_resumes_where_it_was() {
    use berth_cluster::Watched;
    use berth_core::cluster::ClusterEvent;

    run(|mut etcd| async move {
        let store = connect().await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(store.clone().watch(Watched::Networks, tx));
        assert!(matches!(next(&mut rx).await, ClusterEvent::Snapshot(n) if n.is_empty()));
        let first = overlay("before", 4096, "10.1.0.0/24", "10.1.0.1");
        store.create_network(&first).await.unwrap();
        assert!(matches!(next(&mut rx).await, ClusterEvent::NetworkPut(n) if n.name == first.name));

        etcd.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        etcd.restart();
        let second = overlay("after", 4097, "10.2.0.0/24", "10.2.0.1");
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = store.create_network(&second).await {
            assert!(Instant::now() < deadline, "etcd not back: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match next(&mut rx).await {
            ClusterEvent::NetworkPut(n) => assert_eq!(n.name, second.name),
            other => panic!("expected the one change, got {other:?}"),
        }
    });
}
