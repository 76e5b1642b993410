//! Clusters of sandbox hosts for the overlay tests (DESIGN.md, "Testing"):
//! N [`Sandbox`]es joined by an underlay bridge in a namespace of its own
//! (host `i` at 10.99.0.{i+1}), an etcd member inside each host, and,
//! once asked, a berthd per host pointed at the etcd cluster. Dropping it
//! removes the containers through each daemon (etcd still up), then kills
//! the hosts, the members and the underlay. Test harness: failures panic.

use std::time::{Duration, Instant};

use berth_sandbox::cluster::{etcd_endpoints, etcd_health, UNDERLAY_IFACE};
use berth_sandbox::{EtcdMember, Underlay};

use crate::sandbox::{Run, Sandbox};

/// How long a new etcd cluster may take to elect a leader.
const ETCD_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Sandbox hosts on one underlay, each with an etcd member.
pub struct Cluster {
    // Drop order is field order: the hosts (and their daemons) go first,
    // while etcd still answers.
    hosts: Vec<Sandbox>,
    etcd: Vec<EtcdMember>,
    _underlay: Underlay,
}

impl Cluster {
    /// `size` hosts with a healthy `size`-member etcd cluster, no daemons.
    pub fn new(size: usize) -> Cluster {
        let underlay = Underlay::new().unwrap_or_else(|e| panic!("{e}"));
        let hosts: Vec<Sandbox> = (0..size).map(|_| Sandbox::new()).collect();
        for (i, host) in hosts.iter().enumerate() {
            underlay
                .attach(host.host(), i)
                .unwrap_or_else(|e| panic!("attach host {i} to the underlay: {e}"));
        }
        let etcd = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                EtcdMember::start(host.host(), i, size).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let cluster = Cluster {
            hosts,
            etcd,
            _underlay: underlay,
        };
        cluster.wait_etcd_healthy();
        cluster
    }

    /// Waits until every member answers `etcdctl endpoint health`.
    pub fn wait_etcd_healthy(&self) {
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        loop {
            match self.etcd_health() {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => {
                    let logs: Vec<String> = self.etcd.iter().map(EtcdMember::log_text).collect();
                    panic!(
                        "etcd cluster not healthy: {e}\nlogs:\n{}",
                        logs.join("\n----\n")
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// `etcdctl endpoint health` of every member, from host 0.
    pub fn etcd_health(&self) -> Result<String, berth_sandbox::Error> {
        etcd_health(self.hosts[0].host(), self.hosts.len())
    }

    /// `etcdctl ARGS` (a shell word list) against every member, from host 0.
    pub fn etcdctl(&self, args: &str) -> Run {
        self.hosts[0].sh(&format!(
            "ETCDCTL_API=3 etcdctl --endpoints={} --dial-timeout=2s --command-timeout=3s {args}",
            etcd_endpoints(self.hosts.len()).join(",")
        ))
    }

    /// Waits (up to 20 s) until `ready` holds for every host, polling.
    pub fn wait_all(&self, what: &str, ready: impl Fn(&Sandbox) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.hosts.iter().all(&ready) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--cluster-store` as berthd takes it.
    pub fn cluster_store(&self) -> String {
        format!("etcd://{}", etcd_endpoints(self.hosts.len()).join(","))
    }

    /// Starts berthd on every host, pointed at the cluster (advertising its
    /// underlay interface), with `extra` arguments, and imports busybox.
    pub fn start_daemons(&mut self, extra: &[&str]) {
        let store = self.cluster_store();
        for host in &mut self.hosts {
            let mut args = vec![
                "--cluster-store",
                store.as_str(),
                "--cluster-advertise",
                UNDERLAY_IFACE,
            ];
            args.extend_from_slice(extra);
            host.start_daemon(&args);
            host.import_busybox();
        }
    }

    pub fn host(&self, index: usize) -> &Sandbox {
        &self.hosts[index]
    }

    pub fn host_mut(&mut self, index: usize) -> &mut Sandbox {
        &mut self.hosts[index]
    }

    pub fn hosts(&self) -> &[Sandbox] {
        &self.hosts
    }

    /// Host `index` dies as in a power cut: SIGKILL by pid to its berthd,
    /// its etcd member, its shims and containers. Its namespaces stay (and
    /// go at drop).
    pub fn kill_host(&mut self, index: usize) {
        self.hosts[index].kill_daemon();
        self.etcd[index].kill();
        self.hosts[index].host().kill_leftovers();
    }

    /// SIGKILL to member `index`'s etcd.
    pub fn kill_etcd(&mut self, index: usize) {
        self.etcd[index].kill();
    }

    /// Member `index` started again on its data (after [`Self::kill_etcd`]).
    pub fn restart_etcd(&mut self, index: usize) {
        self.etcd[index].kill();
        self.etcd[index] = EtcdMember::start(self.hosts[index].host(), index, self.hosts.len())
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
