//! Overlay endpoints in etcd: one create-if-absent key per address (durable:
//! an address stays claimed while its container lives, whatever happens to
//! its host's lease, until `node rm` of a host gone for good; it holds the
//! endpoint and host ids), and each endpoint's record under this host's lease.
//! Published records are also kept here, so that a new lease (after etcd
//! was unreachable for longer than the TTL) gets them all again.

use std::net::IpAddr;

use berth_core::cluster::{ClusterError, EndpointRecord, Taken};
use berth_types::{EndpointId, NetworkId};
use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use crate::{keys, lock, unavailable, Error, EtcdStore};

impl EtcdStore {
    pub(crate) async fn claim(
        &self,
        network: &NetworkId,
        ip: IpAddr,
        endpoint: &EndpointId,
    ) -> Result<(), ClusterError> {
        let key = keys::address(network, ip);
        let network_key = keys::network(network);
        let id = keys::claim_value(endpoint, &self.node.id);
        // Only on a network that exists: one being removed takes no more.
        let txn = Txn::new()
            .when([
                Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                Compare::create_revision(network_key.as_str(), CompareOp::Greater, 0),
            ])
            .and_then([TxnOp::put(key.as_str(), id.as_str(), None)])
            .or_else([
                TxnOp::get(key.as_str(), None),
                TxnOp::get(network_key.as_str(), None),
            ]);
        let reply = self
            .request("claim an overlay address", || {
                let (mut client, txn) = (self.client(), txn.clone());
                async move { client.txn(txn).await }
            })
            .await
            .map_err(unavailable)?;
        if reply.succeeded() {
            return Ok(());
        }
        let values: Vec<Option<Vec<u8>>> = reply
            .op_responses()
            .into_iter()
            .map(|r| match r {
                etcd_client::TxnOpResponse::Get(get) => {
                    get.kvs().first().map(|kv| kv.value().to_vec())
                }
                _ => None,
            })
            .collect();
        match values.as_slice() {
            [_, None] => Err(ClusterError::Missing),
            // Held by this very endpoint (a retried start): still its own.
            [Some(holder), _] if holder.as_slice() == id.as_bytes() => Ok(()),
            _ => Err(ClusterError::Taken(Taken::Address(ip))),
        }
    }

    pub(crate) async fn release(
        &self,
        network: &NetworkId,
        ip: IpAddr,
        endpoint: &EndpointId,
    ) -> Result<(), ClusterError> {
        let key = keys::address(network, ip);
        let txn = Txn::new()
            .when([Compare::value(
                key.as_str(),
                CompareOp::Equal,
                keys::claim_value(endpoint, &self.node.id),
            )])
            .and_then([TxnOp::delete(key.as_str(), None)]);
        self.request("release an overlay address", || {
            let (mut client, txn) = (self.client(), txn.clone());
            async move { client.txn(txn).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn publish(&self, record: &EndpointRecord) -> Result<(), ClusterError> {
        let key = keys::endpoint(&record.network, &record.endpoint);
        let value = serde_json::to_vec(record).map_err(|e| ClusterError::Corrupt {
            key: key.clone(),
            detail: e.to_string(),
        })?;
        lock(&self.shared.published).insert(key.clone(), value.clone());
        // Without a lease yet, the lease's holder writes it once granted.
        let Some(lease) = *lock(&self.shared.lease) else {
            return Ok(());
        };
        self.put_leased(&key, value, lease)
            .await
            .map_err(unavailable)
    }

    pub(crate) async fn withdraw(
        &self,
        network: &NetworkId,
        endpoint: &EndpointId,
    ) -> Result<(), ClusterError> {
        let key = keys::endpoint(network, endpoint);
        lock(&self.shared.published).remove(&key);
        self.request("withdraw an overlay endpoint", || {
            let (mut client, key) = (self.client(), key.clone());
            async move { client.delete(key, None).await }
        })
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn put_leased(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: i64,
    ) -> Result<(), Error> {
        self.request("write a record under this host's lease", || {
            let (mut client, key, value) = (self.client(), key.to_owned(), value.clone());
            let options = PutOptions::new().with_lease(lease);
            async move { client.put(key, value, Some(options)).await }
        })
        .await?;
        Ok(())
    }

    /// Writes every published record under `lease` (a new one).
    pub(crate) async fn publish_all(&self, lease: i64) -> Result<(), Error> {
        let records: Vec<(String, Vec<u8>)> = lock(&self.shared.published)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in records {
            self.put_leased(&key, value, lease).await?;
        }
        Ok(())
    }
}
