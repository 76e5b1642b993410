//! Tracked flows (conntrack) must not outlive their endpoint: a flow of a
//! removed container would give its verdict to whoever gets the address
//! next (issue 10). Deleting them takes one pass over the kernel's whole
//! conntrack table (~7 ms of kernel time with 262,144 buckets, however few
//! entries there are), so the ledger keeps that pass off the paths that
//! wait for it: a leaving endpoint's flows go in a pass of their own,
//! beside the engine's next commands, and any command that hands out
//! addresses first waits for the passes under way; a new endpoint whose
//! address was cleaned that way on the same network needs no pass at all.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use berth_types::NetworkId;
use tracing::{info, warn};

use crate::container::Endpoint;
use crate::engine::Engine;
use crate::ports::{FlowMatch, Host, NetOps, PortError};

/// A finished pass: the addresses it was for, and how it went.
type Pass = (Vec<(NetworkId, IpAddr)>, Result<usize, PortError>);

#[derive(Default)]
pub(crate) struct FlowLedger {
    /// Addresses whose flows were deleted when their last endpoint on the
    /// network left. Flows toward them since then were made under the same
    /// network's rules, so a new endpoint there inherits nothing it could
    /// not have had; a network that goes takes its entries along (its
    /// subnet may come back with other rules).
    clean: BTreeSet<(NetworkId, IpAddr)>,
    /// Addresses that left since the last pass.
    leaving: BTreeSet<(NetworkId, IpAddr)>,
    /// Passes under way.
    passes: tokio::task::JoinSet<Pass>,
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

    /// A pass's addresses are clean if it went through. On failure they
    /// are not, and their next endpoints delete the flows themselves.
    fn record(&mut self, done: std::result::Result<Pass, tokio::task::JoinError>) {
        match done {
            Ok((pairs, Ok(deleted))) => {
                if deleted > 0 {
                    info!(deleted, "conntrack entries of leaving endpoints deleted");
                }
                self.clean.extend(pairs);
            }
            Ok((_, Err(e))) => {
                warn!(error = %e, "conntrack entries of leaving endpoints not deleted: the next endpoints at those addresses delete them")
            }
            Err(e) => warn!(error = %e, "conntrack pass failed"),
        }
    }
}

impl<H: Host> Engine<H> {
    /// Starts the pass for the endpoints that left, beside what the engine
    /// does next.
    pub(crate) fn start_flow_pass(&mut self) {
        if self.flows.leaving.is_empty() {
            return;
        }
        let leaving: Vec<(NetworkId, IpAddr)> = std::mem::take(&mut self.flows.leaving)
            .into_iter()
            .collect();
        let host = Arc::clone(&self.host);
        self.flows.passes.spawn(async move {
            let matches: Vec<FlowMatch> = leaving
                .iter()
                .map(|(_, addr)| FlowMatch::Address(*addr))
                .collect();
            let result = host.net().forget_flows(&matches).await;
            (leaving, result)
        });
    }

    /// Records the passes that have finished.
    pub(crate) fn reap_flow_passes(&mut self) {
        while let Some(done) = self.flows.passes.try_join_next() {
            self.flows.record(done);
        }
    }

    /// Waits for every pass, the pending one included: before addresses
    /// are handed out, and at shutdown.
    pub(crate) async fn finish_flow_passes(&mut self) {
        self.start_flow_pass();
        while let Some(done) = self.flows.passes.join_next().await {
            self.flows.record(done);
        }
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
            host_ifname: IfName::parse("veth1234567").unwrap(),
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
