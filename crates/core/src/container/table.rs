//! Every container as the engine last recorded it, in memory and indexed.
//!
//! Part of the engine's model ([`crate::model::Model`]), which updates it
//! right after each transaction the store took. Lookups by id, name or id prefix and the port-conflict check are
//! then O(log n) or O(1) instead of decoding every record from SQLite, which
//! is what made a start slower the more containers there were.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_types::ContainerId;

use crate::container::{Container, Proto};
use crate::error::{Error, Result};
use crate::publish::Published;

#[derive(Default)]
pub struct ContainerTable {
    inner: RwLock<Index>,
}

#[derive(Default)]
struct Index {
    /// Ordered, so an id prefix is a range.
    by_id: BTreeMap<ContainerId, Arc<Container>>,
    by_name: HashMap<String, ContainerId>,
    /// Host ports held by running or starting containers, by protocol and
    /// port: what a new publication must not clash with.
    held_ports: HashMap<(Proto, u16), Vec<(ContainerId, Published)>>,
}

/// A container still starting holds its ports already: its start runs
/// outside the engine, so another start can come in between.
fn holds_ports(c: &Container) -> bool {
    c.is_running() || c.state.starting
}

impl Index {
    fn hold_ports(&mut self, c: &Container) {
        if !holds_ports(c) {
            return;
        }
        for p in &c.published {
            self.held_ports
                .entry((p.proto, p.host_port))
                .or_default()
                .push((c.id.clone(), *p));
        }
    }

    fn release_ports(&mut self, c: &Container) {
        if !holds_ports(c) {
            return;
        }
        for p in &c.published {
            let key = (p.proto, p.host_port);
            if let Some(holders) = self.held_ports.get_mut(&key) {
                holders.retain(|(id, held)| !(id == &c.id && held == p));
                if holders.is_empty() {
                    self.held_ports.remove(&key);
                }
            }
        }
    }

    fn remove(&mut self, id: &ContainerId) -> Option<Arc<Container>> {
        let old = self.by_id.remove(id)?;
        self.by_name.remove(&old.name);
        self.release_ports(&old);
        Some(old)
    }

    fn insert(&mut self, c: Container) {
        self.remove(&c.id);
        self.by_name.insert(c.name.clone(), c.id.clone());
        self.hold_ports(&c);
        self.by_id.insert(c.id.clone(), Arc::new(c));
    }

    /// Docker's order: full id, exact name (with or without the leading
    /// `/`), then a unique id prefix.
    fn find(&self, reference: &str) -> Result<&Arc<Container>> {
        let not_found = || Error::NotFound(format!("No such container: {reference}"));
        if let Ok(id) = ContainerId::parse(reference) {
            if let Some(c) = self.by_id.get(&id) {
                return Ok(c);
            }
        }
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(c) = self.by_name.get(name).and_then(|id| self.by_id.get(id)) {
            return Ok(c);
        }
        if reference.is_empty() {
            return Err(not_found());
        }
        let mut by_prefix = self
            .by_id
            .range::<str, _>((
                std::ops::Bound::Included(reference),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, c)| c)
            .take_while(|c| c.id.as_str().starts_with(reference));
        match (by_prefix.next(), by_prefix.next()) {
            (None, _) => Err(not_found()),
            (Some(c), None) => Ok(c),
            (Some(_), Some(_)) => Err(Error::InvalidParameter(format!(
                "multiple IDs found with provided prefix: {reference}"
            ))),
        }
    }
}

impl ContainerTable {
    pub fn new(records: impl IntoIterator<Item = Container>) -> Self {
        let mut index = Index::default();
        for c in records {
            index.insert(c);
        }
        ContainerTable {
            inner: RwLock::new(index),
        }
    }

    // A panic while holding the lock cannot leave the index half-updated in
    // a way that matters more than the panic itself, so poison is ignored.
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The container `reference` names, with Docker's error if none or
    /// several do.
    pub fn find(&self, reference: &str) -> Result<Container> {
        self.read().find(reference).map(|c| Container::clone(c))
    }

    pub fn name_holder(&self, name: &str) -> Option<ContainerId> {
        self.read().by_name.get(name).cloned()
    }

    /// Every container, in id order.
    pub fn all(&self) -> Vec<Arc<Container>> {
        self.read().by_id.values().cloned().collect()
    }

    /// Whether a container other than `asker` holds a publication that
    /// claims the same host socket.
    pub fn port_held(&self, asker: &ContainerId, proto: Proto, ip: IpAddr, port: u16) -> bool {
        self.read()
            .held_ports
            .get(&(proto, port))
            .is_some_and(|holders| {
                holders
                    .iter()
                    .any(|(id, p)| id != asker && p.clashes(proto, ip, port))
            })
    }

    pub fn get(&self, id: &ContainerId) -> Option<Arc<Container>> {
        self.read().by_id.get(id).cloned()
    }

    /// Records `c` as it now is in the store (insert or replace).
    pub(crate) fn put(&self, c: Container) {
        self.write().insert(c);
    }

    pub(crate) fn remove(&self, id: &ContainerId) -> Option<Arc<Container>> {
        self.write().remove(id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::container::{DnsConfig, NetworkMode, ProcessConfig, RunState, Status};
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    /// A created container whose id is the byte `id` 32 times.
    pub(crate) fn container(id: u8, name: &str) -> Container {
        Container {
            id: ContainerId::from_bytes([id; 32]),
            name: name.to_owned(),
            created: SystemTime::UNIX_EPOCH,
            image: "busybox".to_owned(),
            image_id: String::new(),
            process: ProcessConfig::default(),
            dns: DnsConfig::default(),
            labels: BTreeMap::new(),
            network_mode: NetworkMode::Bridge,
            attachments: Vec::new(),
            ports: Vec::new(),
            publish_all: false,
            exposed: Vec::new(),
            auto_remove: false,
            restart: Default::default(),
            links: Vec::new(),
            healthcheck: None,
            stop_signal: None,
            stop_timeout: None,
            storage: Default::default(),
            resources: Default::default(),
            security: Default::default(),
            published: Vec::new(),
            state: RunState::created(),
            netns: None,
        }
    }

    fn publishing(mut c: Container, port: u16, host_ip: &str) -> Container {
        c.state.status = Status::Running;
        c.published.push(Published {
            proto: Proto::Tcp,
            host_ip: host_ip.parse().expect("ip"),
            host_port: port,
            container_port: 80,
        });
        c
    }

    #[test]
    fn finds_by_id_name_and_unique_prefix_in_dockers_order() {
        let a = container(0xaa, "web");
        let mut b = container(0xbb, "db");
        // A name that is another container's id prefix: the name wins.
        b.name = "aaaa".into();
        let table = ContainerTable::new([a.clone(), b.clone()]);
        assert_eq!(table.find(a.id.as_str()).unwrap().name, "web");
        assert_eq!(table.find("web").unwrap().id, a.id);
        assert_eq!(table.find("/web").unwrap().id, a.id);
        assert_eq!(table.find("aaaa").unwrap().id, b.id);
        assert_eq!(table.find("aa").unwrap().id, a.id);
        assert_eq!(table.find("bb").unwrap().id, b.id);
        let missing = table.find("cc").unwrap_err();
        assert_eq!(missing.to_string(), "No such container: cc");
        assert!(table.find("").is_err());
    }

    #[test]
    fn an_ambiguous_prefix_is_refused() {
        let a = container(0xaa, "one");
        let mut a2 = container(0xaa, "two");
        a2.id = ContainerId::parse(&format!("{}b", "a".repeat(63))).unwrap();
        let table = ContainerTable::new([a, a2]);
        let err = table.find("aaa").unwrap_err();
        assert_eq!(
            err.to_string(),
            "multiple IDs found with provided prefix: aaa"
        );
    }

    #[test]
    fn renames_and_removals_update_the_indexes() {
        let a = container(0xaa, "web");
        let table = ContainerTable::new([a.clone()]);
        let mut renamed = a.clone();
        renamed.name = "site".into();
        table.put(renamed);
        assert!(table.name_holder("web").is_none());
        assert_eq!(table.name_holder("site"), Some(a.id.clone()));
        table.remove(&a.id);
        assert!(table.all().is_empty());
        assert!(table.find("site").is_err());
    }

    #[test]
    fn held_ports_follow_the_running_state_and_exclude_the_asker() {
        let a = publishing(container(0xaa, "web"), 8080, "0.0.0.0");
        let b = container(0xbb, "other");
        let table = ContainerTable::new([a.clone(), b.clone()]);
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::".parse().unwrap();
        assert!(table.port_held(&b.id, Proto::Tcp, one, 8080));
        assert!(table.port_held(&b.id, Proto::Tcp, any, 8080));
        assert!(!table.port_held(&b.id, Proto::Udp, any, 8080));
        assert!(!table.port_held(&b.id, Proto::Tcp, v6, 8080));
        assert!(!table.port_held(&b.id, Proto::Tcp, any, 8081));
        assert!(!table.port_held(&a.id, Proto::Tcp, any, 8080), "its own");

        let mut exited = a.clone();
        exited.state.status = Status::Exited;
        table.put(exited);
        assert!(!table.port_held(&b.id, Proto::Tcp, any, 8080));
        table.put(a.clone());
        assert!(table.port_held(&b.id, Proto::Tcp, any, 8080));
        table.remove(&a.id);
        assert!(!table.port_held(&b.id, Proto::Tcp, any, 8080));
    }
}
