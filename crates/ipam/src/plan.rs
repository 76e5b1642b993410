//! A network's IPAM config: validation (`api/types/network/ipam.go`
//! `ValidateIPAM`) and the gateway and auxiliary address reservations
//! (`daemon/libnetwork/network.go` `ipamAllocateVersion`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::alloc::{allocation_range, first_free, fixed_reservations};
use crate::pool::check_no_overlap;
use crate::{from_u128, overlaps, to_u128, IpFamily, IpamError};

/// What a user asked for one subnet of a network (Docker's IPAM Config entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetRequest {
    pub subnet: IpNet,
    pub ip_range: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// A validated subnet of a network, with its gateway chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPlan {
    pub subnet: IpNet,
    /// Where container addresses are taken from; the whole subnet if `None`.
    pub ip_range: Option<IpNet>,
    pub gateway: IpAddr,
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

impl SubnetRequest {
    /// Parses one IPAM Config entry as it comes on the wire; an empty string
    /// means "not given". Failures carry Docker's `ValidateIPAM` wording. A
    /// gateway in CIDR form ("fd05::1/112") is accepted, as Docker's API does
    /// for old clients.
    pub fn parse(
        subnet: &str,
        ip_range: &str,
        gateway: &str,
        aux_addresses: &BTreeMap<String, String>,
    ) -> Result<SubnetRequest, IpamError> {
        let Ok(subnet_net) = IpNet::from_str(subnet) else {
            // Docker checks nothing else of an entry whose subnet is unreadable.
            return Err(IpamError::InvalidConfig(vec![format!(
                "invalid subnet {subnet}: invalid CIDR block notation"
            )]));
        };
        let mut errs = Vec::new();
        let ip_range_net = match ip_range {
            "" => None,
            s => match IpNet::from_str(s) {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(format!("invalid ip-range {s}: invalid CIDR block notation"));
                    None
                }
            },
        };
        let gateway_ip = match gateway {
            "" => None,
            s => match parse_addr(s) {
                Some(ip) => Some(ip),
                None => {
                    errs.push(format!("invalid gateway {s}: invalid address"));
                    None
                }
            },
        };
        let mut aux = BTreeMap::new();
        for (name, value) in aux_addresses {
            match IpAddr::from_str(value) {
                Ok(ip) => {
                    aux.insert(name.clone(), ip);
                }
                Err(_) => errs.push(format!("invalid auxiliary address {name}: invalid address")),
            }
        }
        if !errs.is_empty() {
            return Err(IpamError::InvalidConfig(errs));
        }
        Ok(SubnetRequest {
            subnet: subnet_net,
            ip_range: ip_range_net,
            gateway: gateway_ip,
            aux_addresses: aux,
        })
    }

    /// Validates this entry and reserves its gateway and auxiliary addresses.
    /// Use [`plan_network`] for a whole network: it reports the problems of
    /// all entries together and checks overlaps, as Docker does.
    pub fn plan(self) -> Result<SubnetPlan, IpamError> {
        let errs = self.problems();
        if !errs.is_empty() {
            return Err(IpamError::InvalidConfig(errs));
        }
        self.reserve()
    }

    /// `ValidateIPAM`'s checks for this entry, in its order.
    fn problems(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let subnet = self.subnet;
        let family = IpFamily::of_net(&subnet);
        if subnet != subnet.trunc() {
            errs.push(format!(
                "invalid subnet {subnet}: it should be {}",
                subnet.trunc()
            ));
        }
        if let Some(range) = self.ip_range {
            if IpFamily::of_net(&range) != family {
                errs.push(format!(
                    "invalid ip-range {range}: parent subnet is an {family} block"
                ));
            } else {
                if range.prefix_len() < subnet.prefix_len() {
                    errs.push(format!(
                        "invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}"
                    ));
                }
                if range != range.trunc() {
                    errs.push(format!(
                        "invalid ip-range {range}: it should be {}",
                        range.trunc()
                    ));
                }
                if !overlaps(&subnet, &range) {
                    errs.push(format!(
                        "invalid ip-range {range}: parent subnet {subnet} doesn't contain ip-range"
                    ));
                }
            }
        }
        if let Some(gw) = self.gateway {
            if let Some(why) = address_problem(gw, &subnet) {
                errs.push(format!("invalid gateway {gw}: {why}"));
            }
        }
        for (name, &ip) in &self.aux_addresses {
            if let Some(why) = address_problem(ip, &subnet) {
                errs.push(format!("invalid auxiliary address {name}: {why}"));
            }
        }
        errs
    }

    /// Picks or checks the gateway, then the auxiliary addresses, against the
    /// addresses Docker's allocator holds back (network, IPv4 broadcast).
    /// Only called on a valid entry.
    fn reserve(self) -> Result<SubnetPlan, IpamError> {
        let subnet = self.subnet.trunc();
        let ip_range = self.ip_range.map(|r| r.trunc());
        let family = IpFamily::of_net(&subnet);
        let mut held: BTreeSet<u128> = fixed_reservations(&subnet).into_iter().collect();
        let gateway = match self.gateway {
            Some(gw) if held.contains(&to_u128(gw)) => return Err(IpamError::GatewayInUse(gw)),
            Some(gw) => gw,
            None => {
                // Docker asks its allocator for any address, from the ip-range
                // when there is one, so the gateway need not be the subnet's .1.
                let (lo, hi) = allocation_range(&subnet, ip_range.as_ref())
                    .ok_or(IpamError::NoGatewayAddress)?;
                let reserved: Vec<u128> = held.iter().copied().collect();
                let free = first_free(lo, hi, lo, &reserved, &BTreeSet::new(), family);
                from_u128(free.ok_or(IpamError::NoGatewayAddress)?, family)
            }
        };
        held.insert(to_u128(gateway));
        for (name, &address) in &self.aux_addresses {
            if !held.insert(to_u128(address)) {
                return Err(IpamError::AuxAddressInUse {
                    name: name.clone(),
                    address,
                });
            }
        }
        Ok(SubnetPlan {
            subnet,
            ip_range,
            gateway,
            aux_addresses: self.aux_addresses,
        })
    }
}

/// An address, or the address part of a CIDR (old clients send the gateway so).
fn parse_addr(s: &str) -> Option<IpAddr> {
    IpAddr::from_str(s)
        .ok()
        .or_else(|| IpNet::from_str(s).ok().map(|n| n.addr()))
}

/// `validateAddress` of `api/types/network/ipam.go`.
fn address_problem(ip: IpAddr, subnet: &IpNet) -> Option<String> {
    let family = IpFamily::of_net(subnet);
    if IpFamily::of(ip) != family {
        Some(format!("parent subnet is an {family} block"))
    } else if !subnet.contains(&ip) {
        Some(format!(
            "parent subnet {subnet} doesn't contain this address"
        ))
    } else {
        None
    }
}

/// Plans all of a network's subnets the way Docker creates them: every
/// entry's validation problems are reported together (400); then IPv4
/// entries, then IPv6 ones, each in the given order, are checked for overlap
/// with `existing` and the earlier entries (403) and get their gateway and
/// auxiliary addresses (500 on failure). Plans come back in the given order.
pub fn plan_network(
    requests: Vec<SubnetRequest>,
    existing: &[IpNet],
) -> Result<Vec<SubnetPlan>, IpamError> {
    let errs: Vec<String> = requests.iter().flat_map(SubnetRequest::problems).collect();
    if !errs.is_empty() {
        return Err(IpamError::InvalidConfig(errs));
    }
    let mut indexed: Vec<(usize, SubnetRequest)> = requests.into_iter().enumerate().collect();
    // Stable, so each family keeps the given order.
    indexed.sort_by_key(|(_, r)| IpFamily::of_net(&r.subnet));
    let mut accepted: Vec<IpNet> = Vec::with_capacity(indexed.len());
    let mut plans: Vec<(usize, SubnetPlan)> = Vec::with_capacity(indexed.len());
    for (i, request) in indexed {
        let subnet = request.subnet.trunc();
        check_no_overlap(&[subnet], existing)?;
        check_no_overlap(&[subnet], &accepted)?;
        accepted.push(subnet);
        plans.push((i, request.reserve()?));
    }
    plans.sort_by_key(|(i, _)| *i);
    Ok(plans.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests;
