//! The watches on overlay networks and on endpoints: a snapshot of a
//! prefix, then every change after it, handed to the engine as
//! [`ClusterEvent`]s (the engine changes the model; a watch only reports).
//! A watch that breaks (etcd unreachable) resumes after the last change it
//! delivered, and etcd replays what it missed; only when etcd compacted
//! those revisions away does it start over with a new snapshot, which the
//! engine applies as the whole truth.

use std::time::Duration;

use berth_core::cluster::{ClusterError, ClusterEvent};
use etcd_client::{EventType, GetOptions, KeyValue, WatchOptions};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{keys, unavailable, Error, EtcdStore};

/// How long to wait before starting over after a watch broke.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What one watch follows, and how its records become events.
#[derive(Clone, Copy, Debug)]
pub enum Watched {
    Networks,
    Endpoints,
}

impl Watched {
    fn prefix(self) -> &'static str {
        match self {
            Watched::Networks => keys::NETWORKS,
            Watched::Endpoints => keys::ENDPOINTS,
        }
    }

    fn snapshot(self, kvs: &[KeyValue]) -> Result<ClusterEvent, ClusterError> {
        Ok(match self {
            Watched::Networks => ClusterEvent::Snapshot(
                kvs.iter()
                    .map(|kv| keys::network_of(kv.key(), kv.value()))
                    .collect::<Result<_, _>>()?,
            ),
            Watched::Endpoints => ClusterEvent::EndpointSnapshot(
                kvs.iter()
                    .map(|kv| keys::endpoint_of(kv.key(), kv.value()))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn put(self, kv: &KeyValue) -> Result<ClusterEvent, ClusterError> {
        Ok(match self {
            Watched::Networks => {
                ClusterEvent::NetworkPut(Box::new(keys::network_of(kv.key(), kv.value())?))
            }
            Watched::Endpoints => {
                ClusterEvent::EndpointPut(keys::endpoint_of(kv.key(), kv.value())?)
            }
        })
    }

    fn deleted(self, kv: &KeyValue) -> Option<ClusterEvent> {
        match self {
            Watched::Networks => keys::network_id_of(kv.key()).map(ClusterEvent::NetworkDeleted),
            Watched::Endpoints => keys::endpoint_ids_of(kv.key())
                .map(|(network, endpoint)| ClusterEvent::EndpointDeleted(network, endpoint)),
        }
    }
}

impl EtcdStore {
    /// Sends `watched`'s snapshot and changes to `events` until its
    /// receiver is gone.
    pub async fn watch(self, watched: Watched, events: mpsc::Sender<ClusterEvent>) {
        // The revision after the last change delivered: where a broken
        // watch resumes; `None` until the first snapshot, and after a
        // compaction.
        let mut resume = None;
        loop {
            match self.follow(watched, &events, &mut resume).await {
                Ok(()) => return,
                Err(e) => warn!(?watched, error = %e, resume, "watch broke: starting over"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// The changes from `resume` on, or a snapshot and the changes after
    /// it; `Ok` when the receiver is gone.
    async fn follow(
        &self,
        watched: Watched,
        events: &mpsc::Sender<ClusterEvent>,
        resume: &mut Option<i64>,
    ) -> Result<(), String> {
        let prefix = watched.prefix();
        let start = match *resume {
            Some(revision) => revision,
            None => match self.snapshot(watched, events).await? {
                Some(revision) => revision + 1,
                None => return Ok(()),
            },
        };
        *resume = Some(start);
        let options = WatchOptions::new().with_prefix().with_start_revision(start);
        let (_watcher, mut stream) = self
            .request("watch", || {
                let (mut client, options) = (self.client(), options.clone());
                async move { client.watch(prefix, Some(options)).await }
            })
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
                        what: "watch".to_owned(),
                        source,
                    }
                    .to_string()
                })?
                .ok_or("the watch stream ended")?;
            if reply.canceled() {
                if reply.compact_revision() > 0 {
                    *resume = None;
                }
                return Err(format!(
                    "the watch was cancelled (compacted to {}): {}",
                    reply.compact_revision(),
                    reply.cancel_reason()
                ));
            }
            for event in reply.events() {
                let Some(kv) = event.kv() else { continue };
                *resume = Some(kv.mod_revision() + 1);
                let change = match event.event_type() {
                    EventType::Put => match watched.put(kv) {
                        Ok(change) => change,
                        Err(e) => {
                            warn!(error = %e, "cluster record skipped");
                            continue;
                        }
                    },
                    EventType::Delete => match watched.deleted(kv) {
                        Some(change) => change,
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

    /// Reads `watched`'s prefix and sends it as a snapshot: the revision
    /// it was read at, or `None` when the receiver is gone.
    async fn snapshot(
        &self,
        watched: Watched,
        events: &mpsc::Sender<ClusterEvent>,
    ) -> Result<Option<i64>, String> {
        let prefix = watched.prefix();
        let reply = self
            .request("read a snapshot", || {
                let mut client = self.client();
                async move {
                    client
                        .get(prefix, Some(GetOptions::new().with_prefix()))
                        .await
                }
            })
            .await
            .map_err(|e| unavailable(e).to_string())?;
        let revision = reply.header().map_or(0, |h| h.revision());
        let snapshot = watched.snapshot(reply.kvs()).map_err(|e| e.to_string())?;
        Ok(events.send(snapshot).await.is_ok().then_some(revision))
    }
}
