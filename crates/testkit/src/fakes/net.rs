//! [`FakeNet`]: the host's and the sandboxes' links as a model of the kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_core::container::Proto;
use berth_core::ports::{
    BridgeSpec, EndpointCheck, EndpointFault, FlowMatch, KernelLink, NetOps, OwnedLink, ParentLink,
    ParentLinkKind, PortError, RemoteEndpoint, SubInterface, VethPair, VxlanSpec,
    LINK_ALIAS_PREFIX,
};
use berth_types::{IfName, IpNet, MacAddr};

use super::{fail, lock};

/// A link as the fake kernel holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeLink {
    pub alias: Option<String>,
    pub mtu: u32,
    pub addresses: Vec<IpNet>,
    pub up: bool,
    /// For a veth's host end: the bridge it is enslaved to; for a
    /// sub-interface (macvlan): its parent.
    pub master: Option<String>,
    pub mac: Option<MacAddr>,
    /// For a veth: the namespace and name of its other end.
    pub peer: Option<(PathBuf, String)>,
    /// Default routes through this link (sandbox ends).
    pub gateways: Vec<IpAddr>,
}

#[derive(Default)]
struct NetState {
    links: BTreeMap<String, FakeLink>,
    routes: Vec<IpNet>,
    sysctls: BTreeMap<String, String>,
    /// Names of links whose creation must fail, to test rollback.
    refuse_bridges: Vec<String>,
    /// Sandboxes: namespace file -> its links.
    namespaces: BTreeMap<PathBuf, BTreeMap<String, FakeLink>>,
    /// Endpoint creations to refuse, to test rollback.
    refuse_endpoints: usize,
    /// Remote endpoints behind VXLAN devices, by port and IP.
    remotes: BTreeMap<(String, IpAddr), RemoteEndpoint>,
    /// Ports "host processes" hold.
    bound_ports: BTreeSet<(Proto, u16)>,
    /// Every `forget_flows` call's matches, in order.
    forgotten_flows: Vec<Vec<FlowMatch>>,
    /// Link kinds this fake kernel cannot make.
    missing_kinds: BTreeSet<String>,
}

/// A model of the host namespace: it holds links and answers like the
/// kernel, so tests assert the final state rather than a call log.
#[derive(Default)]
pub struct FakeNet {
    state: Mutex<NetState>,
}

impl FakeNet {
    pub fn link(&self, name: &str) -> Option<FakeLink> {
        lock(&self.state).links.get(name).cloned()
    }

    pub fn link_names(&self) -> Vec<String> {
        lock(&self.state).links.keys().cloned().collect()
    }

    /// Puts a link there as if someone (or an earlier run) made it.
    pub fn add_link(&self, name: &str, link: FakeLink) {
        lock(&self.state).links.insert(name.to_owned(), link);
    }

    /// The remote endpoints VXLAN devices know (FDB and neighbour entries).
    pub fn remote_endpoints(&self) -> Vec<RemoteEndpoint> {
        lock(&self.state).remotes.values().cloned().collect()
    }

    pub fn add_route(&self, dest: IpNet) {
        lock(&self.state).routes.push(dest);
    }

    pub fn sysctl(&self, key: &str) -> Option<String> {
        lock(&self.state).sysctls.get(key).cloned()
    }

    /// Makes `ensure_bridge` fail for this bridge name.
    pub fn refuse_bridge(&self, name: &str) {
        lock(&self.state).refuse_bridges.push(name.to_owned());
    }

    /// As if a host process listened on this port (any address).
    pub fn bind_port(&self, proto: Proto, port: u16) {
        lock(&self.state).bound_ports.insert((proto, port));
    }

    /// Makes the next `add_endpoint` fail.
    pub fn refuse_next_endpoint(&self) {
        lock(&self.state).refuse_endpoints += 1;
    }

    /// The links inside a sandbox, if it exists.
    pub fn namespace(&self, path: &Path) -> Option<BTreeMap<String, FakeLink>> {
        lock(&self.state).namespaces.get(path).cloned()
    }

    /// The matches of each `forget_flows` call so far, in order.
    pub fn forgotten_flows(&self) -> Vec<Vec<FlowMatch>> {
        lock(&self.state).forgotten_flows.clone()
    }

    pub fn namespace_paths(&self) -> Vec<PathBuf> {
        lock(&self.state).namespaces.keys().cloned().collect()
    }

    /// As a kernel without `kind` (macvlan, ipvlan, vlan, dummy).
    pub fn lack_kernel_link(&self, kind: KernelLink) {
        lock(&self.state).missing_kinds.insert(format!("{kind:?}"));
    }

    /// Adds a namespace file as a crash might leave one.
    pub fn add_namespace(&self, path: &Path) {
        lock(&self.state)
            .namespaces
            .entry(path.to_path_buf())
            .or_default();
    }
}

impl NetOps for FakeNet {
    async fn kernel_has(&self, kind: KernelLink) -> bool {
        !lock(&self.state)
            .missing_kinds
            .contains(&format!("{kind:?}"))
    }

    async fn link_kind(&self, name: &IfName) -> Result<Option<String>, PortError> {
        Ok(lock(&self.state).links.get(name.as_str()).map(|l| {
            if l.peer.is_some() {
                "veth".to_owned()
            } else {
                String::new()
            }
        }))
    }

    async fn add_parent_link(&self, link: &ParentLink) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        let kind = match &link.kind {
            ParentLinkKind::Vlan { base, .. } => {
                if !st.links.contains_key(base.as_str()) {
                    return Err(fail(format!("no link {base}")));
                }
                KernelLink::Vlan
            }
            ParentLinkKind::Dummy => KernelLink::Dummy,
        };
        if st.missing_kinds.contains(&format!("{kind:?}")) {
            return Err(fail(format!("{kind:?}: operation not supported")));
        }
        match st.links.get(link.name.as_str()) {
            Some(existing) if existing.alias.as_deref() == Some(link.alias.as_str()) => Ok(()),
            Some(_) => Err(fail(format!("{} exists", link.name))),
            None => {
                st.links.insert(
                    link.name.to_string(),
                    FakeLink {
                        alias: Some(link.alias.clone()),
                        up: true,
                        mtu: 1500,
                        ..Default::default()
                    },
                );
                Ok(())
            }
        }
    }

    async fn ensure_vxlan(&self, spec: &VxlanSpec) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        match st.links.get(spec.name.as_str()) {
            Some(existing) if existing.alias.as_deref() != Some(spec.alias.as_str()) => {
                Err(fail(format!("{} exists", spec.name)))
            }
            _ => {
                st.links.insert(
                    spec.name.to_string(),
                    FakeLink {
                        alias: Some(spec.alias.clone()),
                        up: true,
                        mtu: spec.mtu,
                        ..Default::default()
                    },
                );
                Ok(())
            }
        }
    }

    async fn add_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if !st.links.contains_key(remote.vxlan.as_str()) {
            return Err(fail(format!("no link {}", remote.vxlan)));
        }
        st.remotes
            .insert((remote.vxlan.to_string(), remote.ip), remote.clone());
        Ok(())
    }

    async fn remote_endpoints_on(&self, vxlan: &IfName) -> Result<Vec<RemoteEndpoint>, PortError> {
        Ok(lock(&self.state)
            .remotes
            .values()
            .filter(|r| &r.vxlan == vxlan)
            .cloned()
            .collect())
    }

    async fn remove_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<(), PortError> {
        lock(&self.state)
            .remotes
            .remove(&(remote.vxlan.to_string(), remote.ip));
        Ok(())
    }

    async fn add_sub_interface(&self, sub: &SubInterface) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        // A sub-interface takes its parent's MTU, as in the kernel.
        let Some(mtu) = st.links.get(sub.parent.as_str()).map(|p| p.mtu) else {
            return Err(fail(format!("parent {} does not exist", sub.parent)));
        };
        let Some(sandbox) = st.namespaces.get_mut(&sub.netns) else {
            return Err(fail(format!("no namespace {}", sub.netns.display())));
        };
        if sandbox.contains_key(sub.ifname.as_str()) {
            return Err(fail(format!("{} exists", sub.ifname)));
        }
        sandbox.insert(
            sub.ifname.to_string(),
            FakeLink {
                up: true,
                addresses: sub.addresses.clone(),
                mac: Some(sub.mac),
                gateways: sub.default_gateways.clone(),
                master: Some(sub.parent.to_string()),
                mtu,
                ..Default::default()
            },
        );
        Ok(())
    }

    async fn delete_sandbox_link(&self, netns: &Path, ifname: &IfName) -> Result<(), PortError> {
        if let Some(sandbox) = lock(&self.state).namespaces.get_mut(netns) {
            sandbox.remove(ifname.as_str());
        }
        Ok(())
    }

    async fn sub_interface_fault(
        &self,
        sub: &SubInterface,
    ) -> Result<Option<EndpointFault>, PortError> {
        let st = lock(&self.state);
        let link = st
            .namespaces
            .get(&sub.netns)
            .and_then(|links| links.get(sub.ifname.as_str()));
        Ok(match link {
            Some(l) if l.up && sub.addresses.iter().all(|a| l.addresses.contains(a)) => None,
            _ => Some(EndpointFault::SandboxEndIncomplete),
        })
    }

    async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if st.refuse_bridges.iter().any(|n| n == spec.name.as_str()) {
            return Err(fail(format!(
                "create {}: operation not permitted",
                spec.name
            )));
        }
        let link = st.links.entry(spec.name.to_string()).or_default();
        link.alias = Some(spec.alias.clone());
        link.mtu = spec.mtu;
        link.addresses = spec.addresses.clone();
        link.up = true;
        Ok(())
    }

    async fn delete_link(&self, name: &IfName) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        // A deleted bridge releases its ports.
        for link in st.links.values_mut() {
            if link.master.as_deref() == Some(name.as_str()) {
                link.master = None;
            }
        }
        // Deleting one end of a veth deletes the other, as in the kernel.
        if let Some((ns, peer)) = st.links.remove(name.as_str()).and_then(|l| l.peer) {
            if let Some(links) = st.namespaces.get_mut(&ns) {
                links.remove(&peer);
            }
        }
        // A VXLAN device takes its FDB and neighbour entries along, and a
        // parent its sub-interfaces.
        st.remotes.retain(|(vxlan, _), _| vxlan != name.as_str());
        for links in st.namespaces.values_mut() {
            links.retain(|_, l| l.master.as_deref() != Some(name.as_str()) || l.peer.is_some());
        }
        Ok(())
    }

    async fn set_link_down(&self, name: &IfName) -> Result<(), PortError> {
        if let Some(link) = lock(&self.state).links.get_mut(name.as_str()) {
            link.up = false;
        }
        Ok(())
    }

    async fn owned_links(&self) -> Result<Vec<OwnedLink>, PortError> {
        let st = lock(&self.state);
        Ok(st
            .links
            .iter()
            .filter_map(|(name, l)| {
                let alias = l
                    .alias
                    .as_ref()
                    .filter(|a| a.starts_with(LINK_ALIAS_PREFIX))?;
                Some(OwnedLink {
                    name: IfName::parse(name).ok()?,
                    alias: alias.clone(),
                })
            })
            .collect())
    }

    async fn host_routes(&self) -> Result<Vec<IpNet>, PortError> {
        let st = lock(&self.state);
        // As the kernel: a link that is down has no connected routes.
        let connected = st
            .links
            .values()
            .filter(|l| l.up)
            .flat_map(|l| l.addresses.iter().map(IpNet::trunc));
        Ok(st.routes.iter().copied().chain(connected).collect())
    }

    async fn set_sysctl(&self, key: &str, value: &str) -> Result<(), PortError> {
        lock(&self.state)
            .sysctls
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn create_netns(&self, path: &Path) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        let lo = FakeLink {
            up: true,
            ..Default::default()
        };
        st.namespaces
            .entry(path.to_path_buf())
            .or_insert_with(|| BTreeMap::from([("lo".to_owned(), lo)]));
        Ok(())
    }

    async fn remove_netns(&self, path: &Path) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        // A namespace's veth ends die with it, taking their host ends along.
        if let Some(links) = st.namespaces.remove(path) {
            let hosts: Vec<String> = st
                .links
                .iter()
                .filter(|(_, l)| {
                    l.peer
                        .as_ref()
                        .is_some_and(|(ns, p)| ns == path && links.contains_key(p))
                })
                .map(|(n, _)| n.clone())
                .collect();
            for h in hosts {
                st.links.remove(&h);
            }
        }
        Ok(())
    }

    async fn list_netns(&self, dir: &Path) -> Result<Vec<PathBuf>, PortError> {
        Ok(lock(&self.state)
            .namespaces
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }

    async fn veth_pair_fault(
        &self,
        spec: &VethPair,
        check: EndpointCheck,
    ) -> Result<Option<EndpointFault>, PortError> {
        let st = lock(&self.state);
        let Some(host) = st.links.get(spec.host_ifname.as_str()) else {
            return Ok(Some(EndpointFault::HostEndMissing));
        };
        if !host.up || host.alias.as_deref() != Some(spec.alias.as_str()) {
            return Ok(Some(EndpointFault::HalfMade));
        }
        if host.master.as_deref() != Some(spec.bridge.as_str())
            || !st.links.contains_key(spec.bridge.as_str())
        {
            return Ok(Some(EndpointFault::NotOnBridge));
        }
        if check == EndpointCheck::HostEnd {
            return Ok(None);
        }
        let sandbox_end = st
            .namespaces
            .get(&spec.netns)
            .and_then(|ns| ns.get(spec.ifname.as_str()));
        match sandbox_end {
            Some(l) if l.up && spec.addresses.iter().all(|a| l.addresses.contains(a)) => Ok(None),
            _ => Ok(Some(EndpointFault::SandboxEndIncomplete)),
        }
    }

    fn port_in_use(&self, proto: Proto, _ip: IpAddr, port: u16) -> bool {
        lock(&self.state).bound_ports.contains(&(proto, port))
    }

    async fn forget_flows(&self, flows: &[FlowMatch]) -> Result<usize, PortError> {
        lock(&self.state).forgotten_flows.push(flows.to_vec());
        Ok(0)
    }

    async fn add_veth_pair(&self, spec: &VethPair) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if st.refuse_endpoints > 0 {
            st.refuse_endpoints -= 1;
            return Err(fail(format!(
                "create {}: no space left on device",
                spec.host_ifname
            )));
        }
        if !st.links.contains_key(spec.bridge.as_str()) {
            return Err(fail(format!("bridge {} does not exist", spec.bridge)));
        }
        if st.links.contains_key(spec.host_ifname.as_str()) {
            return Err(fail(format!("{} exists", spec.host_ifname)));
        }
        let Some(ns) = st.namespaces.get_mut(&spec.netns) else {
            return Err(fail(format!("no namespace {}", spec.netns.display())));
        };
        if ns.contains_key(spec.ifname.as_str()) {
            return Err(fail(format!("{} exists in the sandbox", spec.ifname)));
        }
        ns.insert(
            spec.ifname.to_string(),
            FakeLink {
                mtu: spec.mtu,
                addresses: spec.addresses.clone(),
                up: true,
                mac: Some(spec.mac),
                peer: Some((PathBuf::new(), spec.host_ifname.to_string())),
                gateways: spec.default_gateways.clone(),
                ..Default::default()
            },
        );
        st.links.insert(
            spec.host_ifname.to_string(),
            FakeLink {
                alias: Some(spec.alias.clone()),
                mtu: spec.mtu,
                up: true,
                master: Some(spec.bridge.to_string()),
                peer: Some((spec.netns.clone(), spec.ifname.to_string())),
                ..Default::default()
            },
        );
        Ok(())
    }
}
