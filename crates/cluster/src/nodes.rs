//! The cluster's hosts (berth's `node ls` and `node rm`): each host writes
//! a durable `nodes/<id>` record (its id, hostname and advertise address)
//! when it joins, and keeps `hosts/<id>` alive under its lease. A host
//! whose lease lapsed is down; its endpoint records went with the lease,
//! but its address claims are durable (a host may come back with its
//! containers), so they stay until `node rm` frees them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};

use crate::{keys, Error, EtcdStore};

/// What `nodes/<id>` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: String,
    pub hostname: String,
    /// The address VXLAN packets for this host's containers go to.
    pub advertise: IpAddr,
}

/// One host as `node ls` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub record: NodeRecord,
    /// Its lease holds.
    pub alive: bool,
    /// Endpoint records it publishes.
    pub endpoints: usize,
}

/// What `node rm` freed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRemoval {
    pub record: NodeRecord,
    pub addresses: usize,
    pub endpoints: usize,
}

/// How many deletes go in one transaction (etcd's default limit is 128
/// operations).
const DELETES_PER_TXN: usize = 100;

impl EtcdStore {
    async fn get_prefix(&self, what: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let reply = self
            .request(what, || {
                let mut client = self.client();
                let prefix = prefix.to_owned();
                async move {
                    client
                        .get(prefix, Some(GetOptions::new().with_prefix()))
                        .await
                }
            })
            .await?;
        Ok(reply
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.value().to_vec(),
                )
            })
            .collect())
    }

    async fn node_records(&self) -> Result<Vec<NodeRecord>, Error> {
        let records = self
            .get_prefix("list the cluster's hosts", keys::NODES)
            .await?;
        Ok(records
            .iter()
            .filter_map(|(key, value)| match serde_json::from_slice(value) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::warn!(key, error = %e, "unreadable host record skipped");
                    None
                }
            })
            .collect())
    }

    /// Endpoint records per VTEP.
    async fn endpoints_by_vtep(&self) -> Result<BTreeMap<IpAddr, Vec<String>>, Error> {
        let mut by_vtep: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
        for (key, value) in self.get_prefix("list endpoints", keys::ENDPOINTS).await? {
            if let Ok(record) = keys::endpoint_of(key.as_bytes(), &value) {
                by_vtep.entry(record.vtep).or_default().push(key);
            }
        }
        Ok(by_vtep)
    }

    async fn live_hosts(&self) -> Result<BTreeSet<String>, Error> {
        let live = self.get_prefix("list live hosts", keys::HOSTS).await?;
        Ok(live
            .iter()
            .filter_map(|(key, _)| key.strip_prefix(keys::HOSTS).map(str::to_owned))
            .collect())
    }

    /// Every host that ever joined and was not removed, with whether its
    /// lease holds and how many endpoints it publishes.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, Error> {
        let live = self.live_hosts().await?;
        let endpoints = self.endpoints_by_vtep().await?;
        let mut nodes: Vec<NodeStatus> = self
            .node_records()
            .await?
            .into_iter()
            .map(|record| NodeStatus {
                alive: live.contains(&record.id),
                endpoints: endpoints.get(&record.advertise).map_or(0, Vec::len),
                record,
            })
            .collect();
        nodes.sort_by(|a, b| a.record.hostname.cmp(&b.record.hostname));
        Ok(nodes)
    }

    /// Forgets a host gone for good: its record, the addresses it claimed
    /// and any endpoint record left; its networks stay (they are the
    /// cluster's). Refused while its lease holds, in every transaction.
    pub async fn remove_node(&self, reference: &str) -> Result<NodeRemoval, Error> {
        let records = self.node_records().await?;
        let matching: Vec<&NodeRecord> = records
            .iter()
            .filter(|r| r.id.starts_with(reference) || r.hostname == reference)
            .collect();
        let record = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(Error::NoSuchNode(reference.to_owned())),
            _ => return Err(Error::AmbiguousNode(reference.to_owned())),
        };
        let holder = format!(" {}", record.id);
        let addresses: Vec<String> = self
            .get_prefix("list address claims", keys::ADDRESSES)
            .await?
            .into_iter()
            .filter(|(_, value)| value.ends_with(holder.as_bytes()))
            .map(|(key, _)| key)
            .collect();
        let endpoints = self
            .endpoints_by_vtep()
            .await?
            .remove(&record.advertise)
            .unwrap_or_default();
        let mut deletes: Vec<String> = addresses.iter().chain(endpoints.iter()).cloned().collect();
        // The record last: a removal cut short can be run again.
        deletes.push(keys::node(&record.id));
        let alive = keys::host(&record.id);
        for chunk in deletes.chunks(DELETES_PER_TXN) {
            let txn = Txn::new()
                .when([Compare::create_revision(
                    alive.as_str(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then(
                    chunk
                        .iter()
                        .map(|key| TxnOp::delete(key.as_str(), None))
                        .collect::<Vec<_>>(),
                );
            let reply = self
                .request("remove a host's claims", || {
                    let (mut client, txn) = (self.client(), txn.clone());
                    async move { client.txn(txn).await }
                })
                .await?;
            if !reply.succeeded() {
                return Err(Error::NodeAlive(record.id.clone()));
            }
        }
        Ok(NodeRemoval {
            record,
            addresses: addresses.len(),
            endpoints: endpoints.len(),
        })
    }
}
