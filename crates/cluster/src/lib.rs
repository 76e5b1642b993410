//! The cluster store on etcd (v3 API): implements core's
//! [`ClusterStore`] port, keeps this host's record alive under a lease and
//! watches the overlay networks for the engine (DESIGN.md, "Cluster").
//!
//! Keys, under `/berth/v1/`:
//! - `networks/<id>`: an overlay network (core's `Network`, JSON); durable.
//! - `network-names/<name>`, `vnis/<vni>`, `subnets/<cidr>`: the network id
//!   holding each claim. Created together with the network in one
//!   transaction that requires each to be absent, so two hosts can never
//!   both win one.
//! - `addresses/<network>/<ip>`: `<endpoint id> <host id>`, the claim of
//!   an overlay address; durable until released or `node rm`.
//! - `endpoints/<network>/<endpoint>`: an endpoint's record, under its
//!   host's lease.
//! - `hosts/<id>`: this host's liveness, under its lease (TTL
//!   [`HOST_TTL`]): gone within the TTL once the host is.
//! - `nodes/<id>`: this host's durable record (`node ls`, `node rm`).

mod endpoints;
mod keys;
mod lease;
mod nodes;
mod watch;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_core::cluster::{ClusterError, ClusterFuture, ClusterStore, EndpointRecord, Taken};
use berth_core::network::Network;
use berth_types::{EndpointId, IpNet, NetworkId};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};

pub use lease::HOST_TTL;
pub use nodes::{NodeRecord, NodeRemoval, NodeStatus};
pub use watch::Watched;

/// How long any one request to etcd may take: past it, overlay changes
/// answer "cluster store unavailable" rather than hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid cluster store {0:?}: want etcd://HOST:PORT[,HOST:PORT...]")]
    BadUrl(String),
    #[error("etcd: {what}: {source}")]
    Etcd {
        what: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd: {what}: no answer in {REQUEST_TIMEOUT:?}")]
    Timeout { what: String },
    #[error("etcd: {what}: others kept changing it, gave up after {CLAIM_TRIES} tries")]
    Busy { what: String },
    #[error("etcd: {what}: not tried, etcd was unreachable a moment ago")]
    Unreachable { what: String },
    #[error("etcd: this host's lease expired")]
    LeaseExpired,
    #[error("encode a record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("node {0} not found")]
    NoSuchNode(String),
    #[error("node {0} is ambiguous: give more of its id")]
    AmbiguousNode(String),
    #[error("node {0} is not down and can't be removed: its lease holds (a host is down {HOST_TTL:?} after its berthd stops answering)")]
    NodeAlive(String),
}

/// How long after finding etcd unreachable the engine's requests fail
/// without being sent (the lease task keeps trying meanwhile): long enough
/// that an outage costs the engine one [`REQUEST_TIMEOUT`] per second at
/// most, short enough that a slow moment under load is soon forgotten.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);

/// Tries of a claim that lost only to a concurrent change of its range.
const CLAIM_TRIES: usize = 5;

/// Whether two subnets share an address (either holds the other's first).
fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// How long to wait before sending a failed request again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Runs one etcd request made by `call`, within [`REQUEST_TIMEOUT`],
/// naming it in errors. A failure of the transport (a member that died)
/// is tried again while time is left: the client's balancer has dropped
/// that member by then, so the next try goes to another.
async fn with_retries<T, Fut>(what: &str, mut call: impl FnMut() -> Fut) -> Result<T, Error>
where
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if transient(&e) && tokio::time::Instant::now() + RETRY_PAUSE < deadline => {
                tracing::debug!(what, error = %e, "etcd request failed: trying again");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Ok(Err(source)) => {
                return Err(Error::Etcd {
                    what: what.to_owned(),
                    source,
                })
            }
            Err(_) => {
                return Err(Error::Timeout {
                    what: what.to_owned(),
                })
            }
        }
    }
}

/// Whether `e` says the member could not be reached (not that it refused).
fn transient(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(status) => {
            status.code() == tonic::Code::Unavailable
                // A connection that broke under a request comes as Unknown,
                // with the transport's error as its source.
                || std::error::Error::source(status)
                    .is_some_and(|source| source.is::<tonic::transport::Error>())
        }
        _ => false,
    }
}

impl Error {
    /// Whether etcd could not be reached (rather than answered no).
    fn is_unreachable(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Unreachable { .. } => true,
            Error::Etcd { source, .. } => transient(source),
            _ => false,
        }
    }
}

/// Runs one etcd request with [`REQUEST_TIMEOUT`], naming it in errors,
/// without trying again (streams, leases: their owners start over).
async fn once<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(Error::Etcd {
            what: what.to_owned(),
            source,
        }),
        Err(_) => Err(Error::Timeout {
            what: what.to_owned(),
        }),
    }
}

fn unavailable(e: Error) -> ClusterError {
    ClusterError::Unavailable(Box::new(e))
}

/// The `http://HOST:PORT` endpoints of `etcd://HOST:PORT[,HOST:PORT...]`.
pub fn parse_store_url(url: &str) -> Result<Vec<String>, Error> {
    let bad = || Error::BadUrl(url.to_owned());
    let rest = url.strip_prefix("etcd://").ok_or_else(bad)?;
    let endpoints: Vec<String> = rest
        .split(',')
        .map(|hostport| {
            let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            Ok(format!("http://{hostport}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(endpoints)
}

/// berth's view of one etcd cluster, as one host of it.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    node: Arc<NodeName>,
    shared: Arc<Shared>,
}

/// Who this host is in the cluster: a stable id (kept in berthd's data
/// root) and its hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeName {
    pub id: String,
    pub hostname: String,
}

/// What the store's users share: this host's current lease and what is
/// published under it.
#[derive(Default)]
struct Shared {
    lease: Mutex<Option<i64>>,
    /// Endpoint records by key, as written.
    published: Mutex<BTreeMap<String, Vec<u8>>>,
    /// When a request last found etcd unreachable; cleared by the next one
    /// that reached it. For [`FAIL_FAST_FOR`] after it, the engine's
    /// requests fail at once rather than each holding the engine for
    /// [`REQUEST_TIMEOUT`] (so its bridge work goes on); the lease task's
    /// requests always go out, and the first that gets through clears it.
    unreachable_at: Mutex<Option<Instant>>,
}

/// A lock that survives a panicked holder (its data is plain values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EtcdStore {
    /// A client of `endpoints` (`http://HOST:PORT`). It connects lazily: a
    /// daemon starts while etcd is down, and its overlay changes answer
    /// "unavailable" until etcd is back.
    pub async fn connect(endpoints: &[String], node: NodeName) -> Result<EtcdStore, Error> {
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            // etcd refuses pings more often than every 5 s (its
            // --grpc-keepalive-min-time) by dropping the connection.
            .with_keep_alive(Duration::from_secs(6), Duration::from_secs(3))
            // A member cut off from the others fails requests and watches
            // rather than serve what may be stale.
            .with_require_leader(true);
        let client = once("connect", Client::connect(endpoints, Some(options))).await?;
        Ok(EtcdStore {
            client,
            node: Arc::new(node),
            shared: Arc::default(),
        })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    /// One request of the engine's (see [`with_retries`]); an error at
    /// once while etcd is known unreachable.
    pub(crate) async fn request<T, Fut>(
        &self,
        what: &str,
        call: impl FnMut() -> Fut,
    ) -> Result<T, Error>
    where
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let failed_at = *lock(&self.shared.unreachable_at);
        if failed_at.is_some_and(|at| at.elapsed() < FAIL_FAST_FOR) {
            return Err(Error::Unreachable {
                what: what.to_owned(),
            });
        }
        let result = with_retries(what, call).await;
        self.note_reach(&result);
        result
    }

    /// One request of the lease task's (see [`once`]): always sent, so
    /// that it finds out when etcd is back.
    pub(crate) async fn probe<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, Error> {
        let result = once(what, call).await;
        self.note_reach(&result);
        result
    }

    fn note_reach<T>(&self, result: &Result<T, Error>) {
        let now = match result {
            Ok(_) => None,
            Err(e) if e.is_unreachable() => Some(Instant::now()),
            Err(_) => return,
        };
        let before = std::mem::replace(&mut *lock(&self.shared.unreachable_at), now);
        if before.is_some() != now.is_some() {
            if now.is_some() {
                tracing::warn!(
                    "cluster store unreachable: overlay changes fail at once until it is back"
                );
            } else {
                tracing::info!("cluster store reachable again");
            }
        }
    }

    async fn read_networks(&self) -> Result<(Vec<Network>, i64), ClusterError> {
        let reply = self
            .request("list overlay networks", || {
                let mut client = self.client();
                async move {
                    client
                        .get(keys::NETWORKS, Some(GetOptions::new().with_prefix()))
                        .await
                }
            })
            .await
            .map_err(unavailable)?;
        let revision = reply.header().map_or(0, |h| h.revision());
        let networks = reply
            .kvs()
            .iter()
            .map(|kv| keys::network_of(kv.key(), kv.value()))
            .collect::<Result<_, _>>()?;
        Ok((networks, revision))
    }

    /// Claims `network` (record, name, VNI, subnets) in one transaction.
    /// The subnets claimed so far are read first: one overlapping a wanted
    /// subnet (rather than equal to it, which its key catches) is taken,
    /// and the transaction holds only while no subnet was claimed since
    /// that read, so two hosts claiming overlapping subnets at once cannot
    /// both win. Losing only that race reads and tries again.
    async fn claim_network(&self, network: &Network) -> Result<(), ClusterError> {
        for _ in 0..CLAIM_TRIES {
            let (claimed, revision) = self.claimed_subnets().await?;
            if let Some(held) = network.subnets.iter().find_map(|wanted| {
                claimed
                    .iter()
                    .find(|held| overlap(held, &wanted.subnet))
                    .copied()
            }) {
                return Err(ClusterError::Taken(Taken::Subnet(held)));
            }
            match self.claim_network_since(network, revision).await? {
                Some(lost) => return lost,
                None => continue,
            }
        }
        Err(unavailable(Error::Busy {
            what: format!("claim overlay network {}", network.name),
        }))
    }

    /// Every subnet claimed, and the store revision of that answer.
    async fn claimed_subnets(&self) -> Result<(Vec<IpNet>, i64), ClusterError> {
        let reply = self
            .request("list claimed subnets", || {
                let mut client = self.client();
                let options = GetOptions::new().with_prefix().with_keys_only();
                async move { client.get(keys::SUBNETS, Some(options)).await }
            })
            .await
            .map_err(unavailable)?;
        let revision = reply.header().map_or(0, |h| h.revision());
        let subnets = reply
            .kvs()
            .iter()
            .filter_map(|kv| keys::subnet_of(kv.key()))
            .collect();
        Ok((subnets, revision))
    }

    /// The claim transaction, holding while no subnet claim changed after
    /// `revision`: `Some` with its outcome, or `None` when only that
    /// condition failed.
    async fn claim_network_since(
        &self,
        network: &Network,
        revision: i64,
    ) -> Result<Option<Result<(), ClusterError>>, ClusterError> {
        let record = serde_json::to_vec(network).map_err(|e| ClusterError::Corrupt {
            key: keys::network(&network.id),
            detail: e.to_string(),
        })?;
        let id = network.id.to_string();
        let claims = keys::claims(network);
        let mut compares = vec![
            Compare::create_revision(keys::network(&network.id), CompareOp::Equal, 0),
            Compare::mod_revision(keys::SUBNETS, CompareOp::Less, revision + 1).with_prefix(),
        ];
        compares.extend(
            claims
                .iter()
                .map(|(key, _)| Compare::create_revision(key.as_str(), CompareOp::Equal, 0)),
        );
        let mut puts = vec![TxnOp::put(keys::network(&network.id), record, None)];
        puts.extend(
            claims
                .iter()
                .map(|(key, _)| TxnOp::put(key.as_str(), id.as_str(), None)),
        );
        let gets: Vec<TxnOp> = claims
            .iter()
            .map(|(key, _)| TxnOp::get(key.as_str(), None))
            .collect();
        let txn = Txn::new().when(compares).and_then(puts).or_else(gets);
        let reply = self
            .request("claim an overlay network", || {
                let (mut client, txn) = (self.client(), txn.clone());
                async move { client.txn(txn).await }
            })
            .await
            .map_err(unavailable)?;
        if reply.succeeded() {
            return Ok(Some(Ok(())));
        }
        // Which claim lost: the first key another network holds; none
        // means a subnet was claimed since the read.
        let held =
            reply
                .op_responses()
                .into_iter()
                .zip(claims)
                .find_map(|(response, (_, taken))| match response {
                    etcd_client::TxnOpResponse::Get(get) if !get.kvs().is_empty() => Some(taken),
                    _ => None,
                });
        Ok(held.map(|taken| Err(ClusterError::Taken(taken))))
    }

    async fn release_network(&self, network: &Network) -> Result<(), ClusterError> {
        // Any host's endpoint on it keeps it (a new one racing this check
        // finds its network gone when it claims an address).
        let endpoints = self
            .request("count an overlay network's endpoints", || {
                let mut client = self.client();
                let prefix = keys::endpoints_of(&network.id);
                let options = GetOptions::new().with_prefix().with_count_only();
                async move { client.get(prefix, Some(options)).await }
            })
            .await
            .map_err(unavailable)?;
        if endpoints.count() > 0 {
            return Err(ClusterError::InUse(endpoints.count()));
        }
        let key = keys::network(&network.id);
        let mut deletes = vec![TxnOp::delete(key.as_str(), None)];
        deletes.extend(
            keys::claims(network)
                .iter()
                .map(|(claim, _)| TxnOp::delete(claim.as_str(), None)),
        );
        let txn = Txn::new()
            .when([Compare::create_revision(
                key.as_str(),
                CompareOp::Greater,
                0,
            )])
            .and_then(deletes);
        let reply = self
            .request("remove an overlay network", || {
                let (mut client, txn) = (self.client(), txn.clone());
                async move { client.txn(txn).await }
            })
            .await
            .map_err(unavailable)?;
        if reply.succeeded() {
            Ok(())
        } else {
            Err(ClusterError::Missing)
        }
    }
}

impl ClusterStore for EtcdStore {
    fn networks(&self) -> ClusterFuture<'_, Vec<Network>> {
        Box::pin(async move { Ok(self.read_networks().await?.0) })
    }

    fn create_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()> {
        Box::pin(self.claim_network(network))
    }

    fn remove_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()> {
        Box::pin(self.release_network(network))
    }

    fn claim_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(self.claim(network, ip, endpoint))
    }

    fn release_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(self.release(network, ip, endpoint))
    }

    fn publish_endpoint<'a>(&'a self, record: &'a EndpointRecord) -> ClusterFuture<'a, ()> {
        Box::pin(self.publish(record))
    }

    fn withdraw_endpoint<'a>(
        &'a self,
        network: &'a NetworkId,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(self.withdraw(network, endpoint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlap_when_one_holds_the_other() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert!(overlap(&net("10.1.0.0/16"), &net("10.1.5.0/24")));
        assert!(overlap(&net("10.1.5.0/24"), &net("10.1.0.0/16")));
        assert!(overlap(&net("10.1.5.0/24"), &net("10.1.5.0/24")));
        assert!(!overlap(&net("10.1.5.0/24"), &net("10.1.6.0/24")));
        assert!(!overlap(&net("10.1.0.0/16"), &net("fd00::/64")));
    }

    #[test]
    fn store_urls_are_etcd_host_port_lists() {
        assert_eq!(
            parse_store_url("etcd://10.99.0.1:2379,10.99.0.2:2379").unwrap(),
            ["http://10.99.0.1:2379", "http://10.99.0.2:2379"]
        );
        for bad in [
            "consul://h:8500",
            "etcd://",
            "etcd://h",
            "etcd://h:x",
            "etcd://h:2379/path",
        ] {
            assert!(parse_store_url(bad).is_err(), "{bad}");
        }
    }
}
