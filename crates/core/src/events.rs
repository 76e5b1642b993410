//! Docker's event stream (`GET /events`, `docker events`): what happened to
//! containers, networks, images and volumes, with moby's actions and
//! attributes. The log keeps the newest [`EVENTS_KEPT`] for `--since`
//! (dockerd's `eventsLimit`) and fans each new one out to subscribers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_types::reference::parse_normalized;
use tokio::sync::broadcast;

use crate::container::{Container, MountKind};
use crate::engine::Engine;
use crate::filter::RawFilters;
use crate::network::Network;
use crate::ports::{Env, Host};
use crate::volume::{Volume, LOCAL_DRIVER};

/// Past events a subscriber can ask for with `since` (dockerd keeps 256).
pub const EVENTS_KEPT: usize = 256;
/// Events in flight to a slow subscriber before it misses some (dockerd's
/// publisher buffer; it too drops for a subscriber that does not read).
const LIVE_BUFFER: usize = 1024;

/// What kind of object an event is about (the API's `Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Container,
    Image,
    Network,
    Volume,
    Builder,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Volume => "volume",
            EventType::Builder => "builder",
        }
    }
}

/// One event, in the API's shape (`scope` is always `local`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMessage {
    pub kind: EventType,
    pub action: String,
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i64,
}

/// Nanoseconds since the Unix epoch, as the API counts them.
pub fn unix_nanos(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The daemon's event log; one per engine, shared with its handles.
pub struct EventLog {
    /// The newest events, oldest first, and the sender, locked together so
    /// a subscriber's past and live parts neither miss nor repeat one.
    inner: Mutex<(VecDeque<EventMessage>, broadcast::Sender<EventMessage>)>,
}

impl Default for EventLog {
    fn default() -> Self {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        EventLog {
            inner: Mutex::new((VecDeque::with_capacity(EVENTS_KEPT), live)),
        }
    }
}

impl EventLog {
    fn lock(&self) -> MutexGuard<'_, (VecDeque<EventMessage>, broadcast::Sender<EventMessage>)> {
        // A panic while holding it leaves a whole ring; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, message: EventMessage) {
        let mut inner = self.lock();
        if inner.0.len() == EVENTS_KEPT {
            inner.0.pop_front();
        }
        inner.0.push_back(message.clone());
        // No subscriber is no error.
        let _ = inner.1.send(message);
    }

    /// The kept events in `[since, until]` that pass `filter` (none unless
    /// one bound is given, as dockerd), then every new one that passes.
    pub fn subscribe(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        filter: EventFilter,
    ) -> EventSubscription {
        let inner = self.lock();
        let past = if since.is_none() && until.is_none() {
            Vec::new()
        } else {
            let since = since.unwrap_or(0);
            inner
                .0
                .iter()
                .filter(|m| m.time_nano >= since && until.is_none_or(|u| m.time_nano <= u))
                .filter(|m| filter.includes(m))
                .cloned()
                .collect()
        };
        EventSubscription {
            past,
            live: inner.1.subscribe(),
            filter,
        }
    }

    /// A container's event: its labels, `image` and `name`, then `extra`
    /// (moby's `LogContainerEventWithAttributes`).
    pub fn container(&self, c: &Container, action: &str, extra: &[(&str, String)], at: SystemTime) {
        let mut attributes = c.labels.clone();
        for (k, v) in extra {
            attributes.insert((*k).to_owned(), v.clone());
        }
        attributes.insert("image".to_owned(), c.image.clone());
        attributes.insert("name".to_owned(), c.name.clone());
        self.publish(EventMessage {
            kind: EventType::Container,
            action: action.to_owned(),
            actor_id: c.id.to_string(),
            attributes,
            time_nano: unix_nanos(at),
        });
    }

    /// A network's event: `extra`, then its `name` and `type` (driver).
    pub fn network(&self, n: &Network, action: &str, extra: &[(&str, String)], at: SystemTime) {
        let mut attributes: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        attributes.insert("name".to_owned(), n.name.to_string());
        attributes.insert("type".to_owned(), n.driver.as_str().to_owned());
        self.publish(EventMessage {
            kind: EventType::Network,
            action: action.to_owned(),
            actor_id: n.id.to_string(),
            attributes,
            time_nano: unix_nanos(at),
        });
    }

    /// Any other object's event (volumes, images, prunes).
    pub fn other(
        &self,
        kind: EventType,
        actor_id: &str,
        action: &str,
        attributes: &[(&str, String)],
        at: SystemTime,
    ) {
        self.publish(EventMessage {
            kind,
            action: action.to_owned(),
            actor_id: actor_id.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            time_nano: unix_nanos(at),
        });
    }

    /// A prune's summary event (no actor, `reclaimed` bytes).
    pub fn pruned(&self, kind: EventType, reclaimed: u64, at: SystemTime) {
        self.other(
            kind,
            "",
            "prune",
            &[("reclaimed", reclaimed.to_string())],
            at,
        );
    }
}

/// One `GET /events` client's view of the log.
pub struct EventSubscription {
    /// The kept events the request's window asked for, oldest first.
    pub past: Vec<EventMessage>,
    live: broadcast::Receiver<EventMessage>,
    filter: EventFilter,
}

impl EventSubscription {
    /// The next new event that passes the filter; `None` once the log is
    /// gone (the daemon stops). A subscriber too slow to keep up misses
    /// the events it fell behind by, as with dockerd.
    pub async fn next(&mut self) -> Option<EventMessage> {
        loop {
            match self.live.recv().await {
                Ok(m) if self.filter.includes(&m) => return Some(m),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// `docker events --filter`, as moby's `daemon/events/filter.go`: within a
/// key any value may match, every key must; unknown keys are not refused
/// (dockerd does not validate them either).
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    args: RawFilters,
}

/// Object-name keys matched by id or name prefix (moby's `fuzzyMatchName`,
/// which, as there, applies whatever the event's type).
const NAME_KEYS: [&str; 9] = [
    "daemon",
    "container",
    "plugin",
    "volume",
    "network",
    "node",
    "service",
    "secret",
    "config",
];

impl EventFilter {
    pub fn new(args: RawFilters) -> Self {
        EventFilter { args }
    }

    fn values(&self, key: &str) -> Option<&[String]> {
        self.args
            .get(key)
            .filter(|v| !v.is_empty())
            .map(Vec::as_slice)
    }

    fn exact(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|values| values.iter().any(|v| v == source))
    }

    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|values| values.iter().any(|v| source.starts_with(v.as_str())))
    }

    pub fn includes(&self, m: &EventMessage) -> bool {
        let name = m.attributes.get("name").map_or("", String::as_str);
        self.action_matches(&m.action)
            && self.exact("type", m.kind.as_str())
            && self.exact("scope", "local")
            && NAME_KEYS
                .iter()
                .all(|key| self.fuzzy(key, &m.actor_id) || self.fuzzy(key, name))
            && self.image_matches(m)
            && self.labels_match(&m.attributes)
    }

    /// `event=health_status` (or `exec_create`, `exec_start`) matches the
    /// actions with a suffix (`health_status: healthy`), moby's #25798.
    fn action_matches(&self, action: &str) -> bool {
        let Some(values) = self.values("event") else {
            return true;
        };
        let prefixed = values
            .iter()
            .any(|v| matches!(v.as_str(), "health_status" | "exec_create" | "exec_start"));
        if prefixed {
            self.fuzzy("event", action)
        } else {
            self.exact("event", action)
        }
    }

    /// An image by id or name, with or without its tag; for a container's
    /// event, the image it runs.
    fn image_matches(&self, m: &EventMessage) -> bool {
        let Some(values) = self.values("image") else {
            return true;
        };
        let attribute = if m.kind == EventType::Image {
            "name"
        } else {
            "image"
        };
        let name = m.attributes.get(attribute).map_or("", String::as_str);
        let candidates = [
            m.actor_id.clone(),
            name.to_owned(),
            untagged(&m.actor_id),
            untagged(name),
        ];
        values.iter().any(|v| candidates.contains(v))
    }

    fn labels_match(&self, attributes: &BTreeMap<String, String>) -> bool {
        let Some(values) = self.values("label") else {
            return true;
        };
        !attributes.is_empty()
            && values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => attributes.get(k).is_some_and(|have| have == want),
                None => attributes.contains_key(v.as_str()),
            })
    }
}

/// An image name without its tag, in Docker's short form (moby's
/// `stripTag`); a name that does not parse is kept as it is.
fn untagged(image: &str) -> String {
    parse_normalized(image).map_or_else(|_| image.to_owned(), |r| r.familiar_name())
}

/// The events the engine's use cases tell, at the host's time.
impl<H: Host> Engine<H> {
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        self.event_log
            .container(c, action, extra, self.host.env().now());
    }

    pub(crate) fn network_event(&self, n: &Network, action: &str, extra: &[(&str, String)]) {
        self.event_log
            .network(n, action, extra, self.host.env().now());
    }

    pub(crate) fn volume_event(&self, v: &Volume, action: &str) {
        self.event_log.other(
            EventType::Volume,
            &v.name,
            action,
            &[("driver", v.driver.clone())],
            self.host.env().now(),
        );
    }

    /// An image's event: moby names it by `name`, its id for most actions.
    pub(crate) fn image_event(&self, id: &str, name: &str, action: &str) {
        self.event_log.other(
            EventType::Image,
            id,
            action,
            &[("name", name.to_owned())],
            self.host.env().now(),
        );
    }

    /// `connect` or `disconnect` of each network `c` is attached to
    /// (dockerd tells them as a container's endpoints join and leave).
    pub(crate) fn attachment_events(&self, c: &Container, action: &str) {
        let networks = self.model.networks.snapshot();
        for a in &c.attachments {
            if let Some(n) = networks.iter().find(|n| n.id == a.network) {
                self.network_event(n, action, &[("container", c.id.to_string())]);
            }
        }
    }

    /// `mount` (at start) or `unmount` (at exit) of each volume `c` mounts.
    pub(crate) fn volume_mount_events(&self, c: &Container, mounted: bool) {
        for m in c
            .storage
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            let driver = self
                .model
                .volumes
                .get(&m.name)
                .map_or_else(|| LOCAL_DRIVER.to_owned(), |v| v.driver.clone());
            let mut attributes = vec![("driver", driver), ("container", c.id.to_string())];
            if mounted {
                attributes.extend([
                    ("destination", m.destination.clone()),
                    ("read/write", (!m.read_only).to_string()),
                    ("propagation", m.propagation.clone()),
                ]);
            }
            let action = if mounted { "mount" } else { "unmount" };
            self.event_log.other(
                EventType::Volume,
                &m.name,
                action,
                &attributes,
                self.host.env().now(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::table::tests::container;

    fn filter(pairs: &[(&str, &str)]) -> EventFilter {
        let mut args = RawFilters::new();
        for (k, v) in pairs {
            args.entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        EventFilter::new(args)
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    fn started(log: &EventLog, name: &str, secs: u64) -> EventMessage {
        let mut c = container(name.as_bytes()[0], name);
        c.image = "busybox".to_owned();
        c.labels.insert("tier".to_owned(), "web".to_owned());
        log.container(&c, "start", &[], at(secs));
        log.subscribe(Some(0), None, EventFilter::default())
            .past
            .pop()
            .unwrap()
    }

    #[test]
    fn a_container_event_carries_labels_image_and_name() {
        let log = EventLog::default();
        let m = started(&log, "web", 7);
        assert_eq!(m.kind, EventType::Container);
        assert_eq!(m.action, "start");
        assert_eq!(m.attributes["image"], "busybox");
        assert_eq!(m.attributes["name"], "web");
        assert_eq!(m.attributes["tier"], "web");
        assert_eq!(m.time_nano, 7_000_000_000);
    }

    #[test]
    fn since_and_until_pick_from_the_kept_events_and_none_without_them() {
        let log = EventLog::default();
        for s in 1..=5 {
            started(&log, "web", s);
        }
        let times = |since, until| -> Vec<i64> {
            log.subscribe(since, until, EventFilter::default())
                .past
                .iter()
                .map(|m| m.time_nano / 1_000_000_000)
                .collect()
        };
        assert_eq!(times(Some(2_000_000_000), Some(4_000_000_000)), [2, 3, 4]);
        assert_eq!(times(None, Some(2_000_000_000)), [1, 2]);
        assert!(times(None, None).is_empty());
    }

    #[test]
    fn only_the_newest_are_kept() {
        let log = EventLog::default();
        for s in 0..(EVENTS_KEPT as u64 + 10) {
            started(&log, "web", s);
        }
        let past = log.subscribe(Some(0), None, EventFilter::default()).past;
        assert_eq!(past.len(), EVENTS_KEPT);
        assert_eq!(past[0].time_nano, 10_000_000_000);
    }

    #[tokio::test]
    async fn a_subscriber_gets_new_events_that_pass_its_filter() {
        let log = EventLog::default();
        let mut sub = log.subscribe(None, None, filter(&[("container", "db")]));
        started(&log, "web", 1);
        started(&log, "db", 2);
        let m = sub.next().await.unwrap();
        assert_eq!(m.attributes["name"], "db");
    }

    #[test]
    fn filters_match_as_dockerd() {
        let log = EventLog::default();
        let m = started(&log, "web", 1);
        let id = m.actor_id.clone();
        let yes = |pairs: &[(&str, &str)]| filter(pairs).includes(&m);
        assert!(yes(&[]));
        assert!(yes(&[("container", "we")]));
        assert!(yes(&[("container", &id[..12])]));
        assert!(!yes(&[("container", "db")]));
        assert!(yes(&[("type", "container"), ("event", "start")]));
        assert!(!yes(&[("type", "network")]));
        assert!(!yes(&[("event", "stop")]));
        assert!(yes(&[("event", "stop"), ("event", "start")]));
        assert!(yes(&[("image", "busybox")]));
        assert!(!yes(&[("image", "busybox:latest")]));
        assert!(yes(&[("label", "tier")]));
        assert!(yes(&[("label", "tier=web")]));
        assert!(!yes(&[("label", "tier=db")]));
        assert!(!yes(&[("label", "tier"), ("label", "zone")]));
        assert!(yes(&[("scope", "local")]));
        assert!(!yes(&[("scope", "swarm")]));
        // Name keys apply whatever the event's type, as in moby.
        assert!(!yes(&[("network", "bridge")]));
    }

    #[test]
    fn health_and_exec_filters_match_the_action_prefix() {
        let log = EventLog::default();
        let c = container(1, "web");
        log.container(&c, "health_status: healthy", &[], at(1));
        let m = log
            .subscribe(Some(0), None, EventFilter::default())
            .past
            .remove(0);
        assert!(filter(&[("event", "health_status")]).includes(&m));
        assert!(filter(&[("event", "health_status: healthy")]).includes(&m));
        assert!(!filter(&[("event", "health")]).includes(&m));
    }

    #[test]
    fn an_image_event_matches_by_name_with_or_without_tag() {
        let log = EventLog::default();
        log.other(
            EventType::Image,
            "sha256:abc",
            "tag",
            &[("name", "docker.io/library/busybox:1.36".to_owned())],
            at(1),
        );
        let m = log
            .subscribe(Some(0), None, EventFilter::default())
            .past
            .remove(0);
        assert!(filter(&[("image", "busybox")]).includes(&m));
        assert!(filter(&[("image", "sha256:abc")]).includes(&m));
        assert!(!filter(&[("image", "alpine")]).includes(&m));
    }
}
