//! A network's elements: its bridge in the bridge sets, its subnets in the
//! subnet sets, and the quoting of bridge names.

use berth_core::ports::FwNetwork;
use berth_types::{IfName, IpNet};

use super::sets::{Element, Elements, Set};
use super::{Family, RenderError};

/// A bridge name as an nft string. nft strings have no escapes, and a
/// trailing `*` would make the name a wildcard; Linux allows all three
/// characters in interface names, so such a name is refused.
fn quoted(name: &IfName) -> Result<String, RenderError> {
    let s = name.as_str();
    if s.contains(['"', '\\', '*']) {
        return Err(RenderError::UnquotableName(s.to_owned()));
    }
    Ok(format!("\"{s}\""))
}

pub(super) fn network_elements(network: &FwNetwork, out: &mut Elements) -> Result<(), RenderError> {
    let bridge = quoted(&network.bridge)?;
    // Bridge sets go into both tables: isolation and internal-ness hold for
    // every family, whether or not the network has a subnet of it.
    for family in [Family::V4, Family::V6] {
        out.push(family, Set::Bridges, Element::key(bridge.clone()));
        out.push(
            family,
            Set::SameBridge,
            Element::key(format!("{bridge} . {bridge}")),
        );
        if network.internal {
            out.push(family, Set::Internal, Element::key(bridge.clone()));
        }
        if !network.icc {
            out.push(family, Set::NoIcc, Element::key(bridge.clone()));
        }
    }
    for subnet in &network.subnets {
        let family = Family::of(subnet.addr());
        // A gateway-style prefix (172.17.0.1/16) names the same subnet.
        let subnet: IpNet = subnet.trunc();
        out.push(family, Set::Subnets, Element::key(subnet.to_string()));
        let pair = format!("{subnet} . {bridge}");
        out.push(family, Set::SubnetBridges, Element::key(pair.clone()));
        if network.masquerade && !network.internal {
            out.push(family, Set::MasqSubnets, Element::key(pair));
        }
    }
    Ok(())
}
