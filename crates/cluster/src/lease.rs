//! This host's record under a lease kept alive: while berthd lives (and
//! reaches etcd), `hosts/<id>` says so; once it stops answering, etcd
//! deletes the record when the lease's TTL runs out. Its durable record,
//! `nodes/<id>` (`crate::nodes`), is written with each new lease.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::nodes::NodeRecord;
use crate::{keys, lock, Error, EtcdStore};

/// The lease's time to live: how long a dead host stays listed.
pub const HOST_TTL: Duration = Duration::from_secs(10);
/// How often the lease is renewed: three tries within one TTL.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(3);
/// How long to wait before trying again after etcd failed us.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What `hosts/<id>` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The address VXLAN packets for this host's containers go to.
    pub advertise: IpAddr,
}

impl EtcdStore {
    /// Keeps this host's record alive for as long as the task runs:
    /// granted a lease, written under it, renewed every few seconds; when
    /// the lease is lost (etcd unreachable for longer than the TTL) a new
    /// one is granted and the record written again.
    pub async fn keep_host_alive(self, advertise: IpAddr) {
        loop {
            if let Err(e) = self.hold_lease(advertise).await {
                warn!(error = %e, "cluster host record: lease lost, renewing");
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// One lease's life: returns when it is lost.
    async fn hold_lease(&self, advertise: IpAddr) -> Result<(), Error> {
        let mut client = self.client();
        let ttl = i64::try_from(HOST_TTL.as_secs()).unwrap_or(10);
        let lease = self
            .probe("grant a lease", client.lease_grant(ttl, None))
            .await?;
        let record = HostRecord { advertise };
        let value = serde_json::to_vec(&record).map_err(Error::Encode)?;
        let node = NodeRecord {
            id: self.node.id.clone(),
            hostname: self.node.hostname.clone(),
            advertise,
        };
        let durable = serde_json::to_vec(&node).map_err(Error::Encode)?;
        self.request("write this host's record", || {
            let (mut client, durable) = (self.client(), durable.clone());
            let key = keys::node(&node.id);
            async move { client.put(key, durable, None).await }
        })
        .await?;
        self.put_leased(&keys::host(&self.node.id), value, lease.id())
            .await?;
        *lock(&self.shared.lease) = Some(lease.id());
        let held = self.keep_lease(lease.id()).await;
        *lock(&self.shared.lease) = None;
        held
    }

    /// Publishes this host's endpoints under the lease and renews it until
    /// it is lost.
    async fn keep_lease(&self, lease: i64) -> Result<(), Error> {
        self.publish_all(lease).await?;
        info!(lease, "joined the cluster");
        let mut client = self.client();
        let (mut keeper, mut replies) = self
            .probe("keep the lease alive", client.lease_keep_alive(lease))
            .await?;
        loop {
            tokio::time::sleep(KEEP_ALIVE_EVERY).await;
            self.probe("renew the lease", keeper.keep_alive()).await?;
            match self.probe("renew the lease", replies.message()).await? {
                Some(reply) if reply.ttl() > 0 => {}
                _ => return Err(Error::LeaseExpired),
            }
        }
    }
}
