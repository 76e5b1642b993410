//! Tracked flows (conntrack) must not outlive their endpoint: a flow of a
//! removed container would give its verdict to whoever gets the address
//! next (issue 10). Deleting them takes one pass over the kernel's whole
//! conntrack table (~7 ms of kernel time with 262,144 buckets, however few
//! entries there are), so the ledger keeps that pass off the paths that
//! wait for it: a leaving endpoint's flows go once its command has
//! answered and the commands that follow at once (`rm -f`'s removal after
//! its exit) have run, and always before a command that hands out
//! addresses; a new endpoint whose address was cleaned that way on the
//! same network needs no pass at all. (A pass beside other kernel work
//! slows that work down more than it saves: it keeps a CPU busy in the
//! kernel for its whole walk.)

use std::collections::BTreeSet;
use std::net::IpAddr;

use berth_types::NetworkId;
use tracing::{info, warn};

use crate::container::Endpoint;
use crate::engine::Engine;
use crate::ports::{FlowMatch, Host, NetOps};

#[derive(Debug, Default)]
pub(crate) struct FlowLedger {
    /// Addresses whose flows were deleted when their last endpoint on the
    /// network left. Flows toward them since then were made under the same
    /// network's rules, so a new endpoint there inherits nothing it could
    /// not have had; a network that goes takes its entries along (its
    /// subnet may come back with other rules).
    clean: BTreeSet<(NetworkId, IpAddr)>,
    /// Addresses that left since the last pass.
    leaving: BTreeSet<(NetworkId, IpAddr)>,
}

fn addresses(endpoint: &Endpoint) -> impl Iterator<Item = IpAddr> + '_ {
    endpoint
        .ipv4
        .iter()
        .chain(endpoint.ipv6.iter())
        .map(|net| net.addr())
}

impl FlowLedger {
    /// What must go before `endpoint` on `network` carries traffic: the
    /// flows of its addresses, unless the ledger knows them clean.
    pub fn joining(&mut self, network: &NetworkId, endpoint: &Endpoint) -> Vec<FlowMatch> {
        addresses(endpoint)
            .filter(|addr| {
                let key = (network.clone(), *addr);
                // Back in use before its pass ran: the join deletes them.
                self.leaving.remove(&key);
                !self.clean.remove(&key)
            })
            .map(FlowMatch::Address)
            .collect()
    }

    /// `endpoint` left `network`: its flows go in the next pass.
    pub fn leaving(&mut self, network: &NetworkId, endpoint: &Endpoint) {
        for addr in addresses(endpoint) {
            self.leaving.insert((network.clone(), addr));
        }
    }

    /// A removed network's addresses are clean no more.
    pub fn forget_network(&mut self, network: &NetworkId) {
        self.clean.retain(|(n, _)| n != network);
    }

    /// Whether a pass is due.
    pub fn has_leaving(&self) -> bool {
        !self.leaving.is_empty()
    }
}

impl<H: Host> Engine<H> {
    /// Deletes the flows of the endpoints that left; their addresses are
    /// then clean. On failure they are not, and their next endpoints
    /// delete the flows themselves.
    pub(crate) async fn forget_leaving_flows(&mut self) {
        if self.flows.leaving.is_empty() {
            return;
        }
        let leaving = std::mem::take(&mut self.flows.leaving);
        let matches: Vec<FlowMatch> = leaving
            .iter()
            .map(|(_, addr)| FlowMatch::Address(*addr))
            .collect();
        match self.host.net().forget_flows(&matches).await {
            Ok(deleted) => {
                if deleted > 0 {
                    info!(deleted, "conntrack entries of leaving endpoints deleted");
                }
                self.flows.clean.extend(leaving);
            }
            Err(e) => {
                warn!(error = %e, "conntrack entries of leaving endpoints not deleted: the next endpoints at those addresses delete them")
            }
        }
    }
}

/// Deletes the tracked flows `flows` match. A failure is logged, not fatal,
/// as Docker's bridge driver does: a kernel without connection tracking
/// over netlink must not stop every container.
pub(crate) async fn forget_flows<N: NetOps>(net: &N, container: &str, flows: &[FlowMatch]) {
    if flows.is_empty() {
        return;
    }
    match net.forget_flows(flows).await {
        Ok(0) => {}
        Ok(deleted) => info!(container, deleted, "stale conntrack entries deleted"),
        Err(e) => warn!(container, error = %e, "stale conntrack entries not deleted"),
    }
}

#[cfg(test)]
mod tests {
    use berth_types::{EndpointId, IfName, MacAddr};

    use super::*;

    fn endpoint(addr: &str) -> Endpoint {
        Endpoint {
            id: EndpointId::from_bytes([1; 32]),
            ifname: IfName::parse("eth0").unwrap(),
            host_ifname: Some(IfName::parse("veth1234567").unwrap()),
            mac: MacAddr([2, 0x42, 0, 0, 0, 1]),
            ipv4: Some(addr.parse().unwrap()),
            ipv6: None,
            gateway4: None,
            gateway6: None,
        }
    }

    fn network(n: u8) -> NetworkId {
        NetworkId::from_bytes([n; 32])
    }

    #[test]
    fn an_address_cleaned_on_its_network_needs_no_pass_of_its_own() {
        let mut ledger = FlowLedger::default();
        let ep = endpoint("172.18.0.2/16");
        let wanted = vec![FlowMatch::Address("172.18.0.2".parse().unwrap())];
        assert_eq!(ledger.joining(&network(1), &ep), wanted, "unknown: a pass");
        ledger.leaving(&network(1), &ep);
        let passed = std::mem::take(&mut ledger.leaving);
        ledger.clean.extend(passed);
        assert!(ledger.joining(&network(1), &ep).is_empty(), "cleaned");
        assert_eq!(
            ledger.joining(&network(1), &ep),
            wanted,
            "in use again: clean no more"
        );
    }

    #[test]
    fn another_network_or_a_removed_one_gets_a_pass() {
        let mut ledger = FlowLedger::default();
        let ep = endpoint("172.18.0.2/16");
        ledger
            .clean
            .insert((network(1), "172.18.0.2".parse().unwrap()));
        assert_eq!(ledger.joining(&network(2), &ep).len(), 1, "other network");
        ledger.forget_network(&network(1));
        assert_eq!(ledger.joining(&network(1), &ep).len(), 1, "network removed");
    }

    #[test]
    fn an_address_back_before_its_pass_is_left_to_the_join() {
        let mut ledger = FlowLedger::default();
        let ep = endpoint("172.18.0.2/16");
        ledger.leaving(&network(1), &ep);
        assert_eq!(ledger.joining(&network(1), &ep).len(), 1);
        assert!(
            ledger.leaving.is_empty(),
            "the pass would hit the new flows"
        );
    }
}
