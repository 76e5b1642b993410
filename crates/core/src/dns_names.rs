//! The embedded DNS's view of containers: per network, which names map to
//! which addresses. Kept in memory and changed per container (start, exit,
//! connect, disconnect), so a query costs a few hash lookups whatever the
//! number of containers, and a change costs work for one container only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_types::{ContainerId, NetworkId};

use crate::cluster::EndpointRecord;
use crate::container::{Attachment, Container};
use crate::network::gwbridge::is_gwbridge;
use crate::network::Network;
use crate::ports::NameLookup;

/// One container's presence on one network.
#[derive(Clone, Debug)]
struct Membership {
    network: NetworkId,
    /// Lowercased, for `<name>.<network>` queries.
    network_name: String,
    addresses: Vec<IpAddr>,
    /// Lowercased: name, aliases, short id, hostname.
    names: Vec<String>,
    /// What PTR answers give: `<container>.<network>`, as Docker's
    /// `Network.ResolveIP` answers.
    canonical: String,
}

/// Who answers to one name on one network, with their addresses there.
type Holders = Vec<(ContainerId, Vec<IpAddr>)>;

#[derive(Default)]
struct Index {
    /// network -> lowercased name -> holders.
    by_name: HashMap<NetworkId, HashMap<String, Holders>>,
    /// network -> address -> canonical name.
    by_address: HashMap<NetworkId, HashMap<IpAddr, String>>,
    memberships: HashMap<ContainerId, Vec<Membership>>,
}

/// Thread-safe name index implementing [`NameLookup`].
#[derive(Default)]
pub struct NameIndex {
    index: RwLock<Index>,
}

impl NameIndex {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // The index holds no invariant a panicking writer could break
        // half-way that matters more than serving names.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `c` as it is now: its live endpoints on user-defined
    /// networks (the default bridge has no embedded DNS, as in Docker, nor
    /// has the gwbridge: it is no network its containers share).
    pub fn set_container(&self, c: &Container, networks: &[Network]) {
        let mut memberships = Vec::new();
        for attachment in &c.attachments {
            let Some(endpoint) = &attachment.endpoint else {
                continue;
            };
            let Some(network) = networks
                .iter()
                .find(|n| n.id == attachment.network && !n.is_predefined() && !is_gwbridge(n))
            else {
                continue;
            };
            let names = names_of(c, attachment);
            memberships.push(Membership {
                network: attachment.network.clone(),
                network_name: network.name.as_str().to_lowercase(),
                addresses: endpoint
                    .ipv4
                    .iter()
                    .chain(endpoint.ipv6.iter())
                    .map(|n| n.addr())
                    .collect(),
                names,
                canonical: format!("{}.{}", c.name, network.name.as_str()),
            });
        }
        let mut index = self.write();
        index.remove(&c.id);
        // Starting counts: the process may query before the start is recorded.
        if (c.is_running() || c.state.starting) && !memberships.is_empty() {
            index.add(&c.id, memberships);
        }
    }

    pub fn remove_container(&self, id: &ContainerId) {
        self.write().remove(id);
    }

    /// Records a container of another host on `network` (an overlay
    /// network both hosts have), replacing what was known of it there.
    pub fn set_remote(&self, record: &EndpointRecord, network: &Network) {
        let mut index = self.write();
        let mut memberships = index
            .memberships
            .get(&record.container)
            .cloned()
            .unwrap_or_default();
        memberships.retain(|m| m.network != network.id);
        memberships.push(Membership {
            network: network.id.clone(),
            network_name: network.name.as_str().to_lowercase(),
            addresses: vec![record.ip],
            names: record.names.clone(),
            canonical: record.canonical.clone(),
        });
        index.remove(&record.container);
        index.add(&record.container, memberships);
    }

    /// Forgets a container of another host on `network`.
    pub fn remove_remote(&self, container: &ContainerId, network: &NetworkId) {
        let mut index = self.write();
        let mut memberships = index
            .memberships
            .get(container)
            .cloned()
            .unwrap_or_default();
        memberships.retain(|m| &m.network != network);
        index.remove(container);
        if !memberships.is_empty() {
            index.add(container, memberships);
        }
    }
}

/// The names the embedded DNS answers for `c` on `attachment`'s network,
/// lowercased: its name, short id, hostname and aliases there.
pub fn names_of(c: &Container, attachment: &Attachment) -> Vec<String> {
    let mut names = vec![c.name.to_lowercase(), c.id.short().to_owned()];
    if !c.dns.hostname.is_empty() {
        names.push(c.dns.hostname.to_lowercase());
    }
    names.extend(attachment.aliases.iter().map(|a| a.to_lowercase()));
    names.sort();
    names.dedup();
    names
}

impl Index {
    fn remove(&mut self, id: &ContainerId) {
        for m in self.memberships.remove(id).unwrap_or_default() {
            if let Some(names) = self.by_name.get_mut(&m.network) {
                for name in &m.names {
                    if let Some(holders) = names.get_mut(name) {
                        holders.retain(|(c, _)| c != id);
                        if holders.is_empty() {
                            names.remove(name);
                        }
                    }
                }
            }
            if let Some(addresses) = self.by_address.get_mut(&m.network) {
                for a in &m.addresses {
                    addresses.remove(a);
                }
            }
        }
    }

    fn add(&mut self, id: &ContainerId, memberships: Vec<Membership>) {
        for m in &memberships {
            let names = self.by_name.entry(m.network.clone()).or_default();
            for name in &m.names {
                names
                    .entry(name.clone())
                    .or_default()
                    .push((id.clone(), m.addresses.clone()));
            }
            let addresses = self.by_address.entry(m.network.clone()).or_default();
            for a in &m.addresses {
                addresses.insert(*a, m.canonical.clone());
            }
        }
        self.memberships.insert(id.clone(), memberships);
    }
}

impl Index {
    /// The addresses `name` has on the networks of `on`, without repeats,
    /// or `None` if it has none there.
    fn lookup<'a>(
        &self,
        on: impl Iterator<Item = &'a Membership>,
        name: &str,
    ) -> Option<Vec<IpAddr>> {
        let mut found: Option<Vec<IpAddr>> = None;
        for m in on {
            if let Some(holders) = self.by_name.get(&m.network).and_then(|n| n.get(name)) {
                let list = found.get_or_insert_with(Vec::new);
                for (_, addresses) in holders {
                    for a in addresses {
                        if !list.contains(a) {
                            list.push(*a);
                        }
                    }
                }
            }
        }
        found
    }
}

impl NameLookup for NameIndex {
    /// As Docker's `Sandbox.ResolveName`: the name on every network the
    /// asker is on; failing that, qualified by a network's name, trying
    /// each split from the right (`a.b.c` on network `d`, then `a.b` on
    /// `c.d`, then `a` on `b.c.d`), since both may contain dots.
    fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.trim_end_matches('.').to_lowercase();
        let index = self.read();
        let memberships = index.memberships.get(asker)?;
        if let Some(found) = index.lookup(memberships.iter(), &name) {
            return Some(found);
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            let (host, network) = (&name[..dot], &name[dot + 1..]);
            let on = memberships.iter().filter(|m| m.network_name == network);
            if let Some(found) = index.lookup(on, host) {
                return Some(found);
            }
            end = dot;
        }
        None
    }

    /// `<container>.<network>` for the first of the asker's networks that
    /// has `ip`, as Docker's `Sandbox.ResolveIP`.
    fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String> {
        let index = self.read();
        index
            .memberships
            .get(asker)?
            .iter()
            .find_map(|m| index.by_address.get(&m.network)?.get(&ip).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use berth_types::{Driver, EndpointId, IfName, IpNet, MacAddr, NetworkName};

    use crate::container::{Attachment, Endpoint, Status};

    fn network(n: u8, name: &str) -> Network {
        Network {
            id: NetworkId::from_bytes([n; 32]),
            name: NetworkName::parse(name).unwrap(),
            driver: Driver::Bridge,
            created: SystemTime::UNIX_EPOCH,
            enable_ipv4: true,
            enable_ipv6: false,
            internal: false,
            attachable: false,
            subnets: Vec::new(),
            pool_subnets: Vec::new(),
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            bridge: None,
            macvlan: None,
            overlay: None,
        }
    }

    /// A running container named `name` on each of `on`: (network,
    /// address, aliases).
    fn running(n: u8, name: &str, hostname: &str, on: &[(&Network, &str, &[&str])]) -> Container {
        let attachments = on
            .iter()
            .enumerate()
            .map(|(i, (net, ip, aliases))| Attachment {
                network: net.id.clone(),
                aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                ipv4: None,
                ipv6: None,
                mac: None,
                endpoint: Some(Endpoint {
                    id: EndpointId::from_bytes([n.wrapping_add(u8::try_from(i).unwrap()); 32]),
                    ifname: IfName::parse(&format!("eth{i}")).unwrap(),
                    host_ifname: Some(IfName::parse("veth0000000").unwrap()),
                    mac: MacAddr::parse("02:42:00:00:00:01").unwrap(),
                    ipv4: Some(format!("{ip}/24").parse::<IpNet>().unwrap()),
                    ipv6: None,
                    gateway4: None,
                    gateway6: None,
                }),
            })
            .collect();
        let mut c = crate::container::table::tests::container(n, name);
        c.dns.hostname = hostname.to_owned();
        c.attachments = attachments;
        c.state.status = Status::Running;
        c.state.pid = 1;
        c
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ips(list: &[&str]) -> Option<Vec<IpAddr>> {
        Some(list.iter().map(|s| ip(s)).collect())
    }

    struct World {
        index: NameIndex,
        app: Network,
        other: Network,
        bridge: Network,
        web: Container,
        db: Container,
        cache: Container,
    }

    /// `web` on app; `db` on app and other; `cache` on other; `plain` on
    /// the default bridge.
    fn world() -> World {
        let app = network(1, "app");
        let other = network(2, "Other.Net");
        let bridge = network(3, "bridge");
        let networks = [app.clone(), other.clone(), bridge.clone()];
        let web = running(10, "web", "webhost", &[(&app, "172.18.0.2", &[])]);
        let db = running(
            20,
            "db",
            "dbhost",
            &[
                (&app, "172.18.0.3", &["Database"]),
                (&other, "172.19.0.3", &["store"]),
            ],
        );
        let cache = running(30, "cache", "", &[(&other, "172.19.0.4", &[])]);
        let plain = running(40, "plain", "", &[(&bridge, "172.17.0.2", &[])]);
        let index = NameIndex::default();
        for c in [&web, &db, &cache, &plain] {
            index.set_container(c, &networks);
        }
        World {
            index,
            app,
            other,
            bridge,
            web,
            db,
            cache,
        }
    }

    #[test]
    fn names_aliases_short_ids_and_hostnames_case_insensitively() {
        let w = world();
        for name in ["db", "DB", "db.", "database", "dbhost", w.db.short_id()] {
            assert_eq!(
                w.index.resolve(&w.web.id, name),
                ips(&["172.18.0.3"]),
                "{name}"
            );
        }
        // An alias is per network: `store` is db's name on other only.
        assert_eq!(w.index.resolve(&w.web.id, "store"), None);
        assert_eq!(w.index.resolve(&w.cache.id, "store"), ips(&["172.19.0.3"]));
    }

    #[test]
    fn answers_are_scoped_to_shared_networks() {
        let w = world();
        // db from cache's side: its address on the network they share.
        assert_eq!(w.index.resolve(&w.cache.id, "db"), ips(&["172.19.0.3"]));
        assert_eq!(w.index.resolve(&w.web.id, "cache"), None);
        assert_eq!(w.index.resolve(&w.cache.id, "web"), None);
        // The default bridge has no embedded DNS.
        assert_eq!(w.index.resolve(&w.web.id, "plain"), None);
        let plain = ContainerId::from_bytes([40; 32]);
        assert_eq!(w.index.resolve(&plain, "web"), None);
        // db itself sees both networks: all of cache's and web's.
        assert_eq!(w.index.resolve(&w.db.id, "web"), ips(&["172.18.0.2"]));
        assert_eq!(w.index.resolve(&w.db.id, "cache"), ips(&["172.19.0.4"]));
        // Unknown askers know nothing.
        assert_eq!(
            w.index.resolve(&ContainerId::from_bytes([99; 32]), "db"),
            None
        );
    }

    #[test]
    fn names_qualified_by_a_shared_network_resolve_there_only() {
        let w = world();
        assert_eq!(w.index.resolve(&w.web.id, "db.app"), ips(&["172.18.0.3"]));
        assert_eq!(
            w.index.resolve(&w.web.id, "Database.APP."),
            ips(&["172.18.0.3"])
        );
        // Network names may hold dots: every split is tried.
        assert_eq!(
            w.index.resolve(&w.cache.id, "db.other.net"),
            ips(&["172.19.0.3"])
        );
        assert_eq!(
            w.index.resolve(&w.db.id, "cache.Other.Net"),
            ips(&["172.19.0.4"])
        );
        // Not on a network the asker is on, or not on that network.
        assert_eq!(w.index.resolve(&w.web.id, "db.other.net"), None);
        assert_eq!(w.index.resolve(&w.db.id, "web.other.net"), None);
        assert_eq!(w.index.resolve(&w.web.id, "plain.bridge"), None);
        assert_eq!(w.index.resolve(&w.web.id, "db.nowhere"), None);
        assert_eq!(w.index.resolve(&w.web.id, ".app"), None);
    }

    #[test]
    fn a_dotted_container_name_wins_over_a_network_split() {
        let app = network(1, "app");
        let web = running(10, "web", "", &[(&app, "172.18.0.2", &[])]);
        let dotted = running(11, "db.app", "", &[(&app, "172.18.0.9", &[])]);
        let db = running(12, "db", "", &[(&app, "172.18.0.3", &[])]);
        let index = NameIndex::default();
        for c in [&web, &dotted, &db] {
            index.set_container(c, std::slice::from_ref(&app));
        }
        assert_eq!(index.resolve(&web.id, "db.app"), ips(&["172.18.0.9"]));
        index.remove_container(&dotted.id);
        assert_eq!(index.resolve(&web.id, "db.app"), ips(&["172.18.0.3"]));
    }

    #[test]
    fn ptr_names_are_container_dot_network_on_a_shared_network() {
        let w = world();
        assert_eq!(
            w.index.reverse(&w.web.id, ip("172.18.0.3")).as_deref(),
            Some("db.app")
        );
        assert_eq!(
            w.index.reverse(&w.cache.id, ip("172.19.0.3")).as_deref(),
            Some("db.Other.Net")
        );
        assert_eq!(w.index.reverse(&w.web.id, ip("172.19.0.3")), None);
        assert_eq!(w.index.reverse(&w.web.id, ip("172.17.0.2")), None);
    }

    #[test]
    fn one_alias_on_several_containers_gives_all_addresses() {
        let app = network(1, "app");
        let web = running(10, "web", "", &[(&app, "172.18.0.2", &[])]);
        let a = running(11, "a", "", &[(&app, "172.18.0.5", &["svc"])]);
        let b = running(12, "b", "", &[(&app, "172.18.0.6", &["SVC"])]);
        let index = NameIndex::default();
        for c in [&web, &a, &b] {
            index.set_container(c, std::slice::from_ref(&app));
        }
        assert_eq!(
            index.resolve(&web.id, "svc"),
            ips(&["172.18.0.5", "172.18.0.6"])
        );
        index.remove_container(&a.id);
        assert_eq!(index.resolve(&web.id, "svc"), ips(&["172.18.0.6"]));
        assert_eq!(index.resolve(&web.id, "a"), None);
        assert_eq!(index.reverse(&web.id, ip("172.18.0.5")), None);
    }

    #[test]
    fn stopped_containers_and_disconnects_leave_the_index() {
        let w = world();
        let networks = [w.app.clone(), w.other.clone(), w.bridge.clone()];
        let mut db = w.db.clone();
        db.attachments.remove(0);
        w.index.set_container(&db, &networks);
        assert_eq!(w.index.resolve(&w.web.id, "db"), None);
        assert_eq!(w.index.resolve(&w.cache.id, "db"), ips(&["172.19.0.3"]));
        db.state.status = Status::Exited;
        w.index.set_container(&db, &networks);
        assert_eq!(w.index.resolve(&w.cache.id, "db"), None);
        assert_eq!(w.index.resolve(&db.id, "cache"), None);
    }
}
