//! The watch on overlay networks: a snapshot of all of them, then every
//! change after it, handed to the engine as [`ClusterEvent`]s (the engine
//! changes the model; the watch only reports). When the watch breaks
//! (etcd unreachable, the revision compacted away) it starts over with a
//! new snapshot, which the engine applies as the whole truth.

use std::time::Duration;

use berth_core::cluster::ClusterEvent;
use etcd_client::{EventType, WatchOptions};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{keys, request, unavailable, Error, EtcdStore};

/// How long to wait before starting over after the watch broke.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl EtcdStore {
    /// Sends the overlay networks' snapshot and changes to `events` until
    /// its receiver is gone.
    pub async fn watch_networks(self, events: mpsc::Sender<ClusterEvent>) {
        loop {
            match self.follow_networks(&events).await {
                Ok(()) => return,
                Err(e) => warn!(error = %e, "watch on overlay networks broke: starting over"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// One snapshot and the changes after it; `Ok` when the receiver is
    /// gone.
    async fn follow_networks(&self, events: &mpsc::Sender<ClusterEvent>) -> Result<(), String> {
        let (networks, revision) = self.read_networks().await.map_err(|e| e.to_string())?;
        if events.send(ClusterEvent::Snapshot(networks)).await.is_err() {
            return Ok(());
        }
        let mut client = self.client();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        let (_watcher, mut stream) = request(
            "watch overlay networks",
            client.watch(keys::NETWORKS, Some(options)),
        )
        .await
        .map_err(|e| unavailable(e).to_string())?;
        loop {
            // No timeout here: a quiet cluster sends nothing. A dead
            // connection ends the stream (the client's HTTP/2 keep-alive).
            let reply = stream
                .message()
                .await
                .map_err(|source| {
                    Error::Etcd {
                        what: "watch overlay networks".to_owned(),
                        source,
                    }
                    .to_string()
                })?
                .ok_or("the watch stream ended")?;
            if reply.canceled() {
                return Err(format!(
                    "the watch was cancelled (compacted to {}): {}",
                    reply.compact_revision(),
                    reply.cancel_reason()
                ));
            }
            for event in reply.events() {
                let Some(kv) = event.kv() else { continue };
                let change = match event.event_type() {
                    EventType::Put => match keys::network_of(kv.key(), kv.value()) {
                        Ok(network) => ClusterEvent::NetworkPut(Box::new(network)),
                        Err(e) => {
                            warn!(error = %e, "overlay network record skipped");
                            continue;
                        }
                    },
                    EventType::Delete => match keys::network_id_of(kv.key()) {
                        Some(id) => ClusterEvent::NetworkDeleted(id),
                        None => continue,
                    },
                };
                debug!(?change, "cluster store change");
                if events.send(change).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
