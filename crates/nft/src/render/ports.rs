//! A published port's elements: its DNAT map entries and the published
//! connections the forward chains accept.

use berth_core::ports::FwPort;

use super::sets::{Element, Elements, Set};
use super::{Family, RenderError};

fn range(ports: (u16, u16)) -> String {
    if ports.0 == ports.1 {
        ports.0.to_string()
    } else {
        format!("{}-{}", ports.0, ports.1)
    }
}

pub(super) fn port_elements(port: &FwPort, out: &mut Elements) -> Result<(), RenderError> {
    let proto = port.proto.as_str();
    let family = Family::of(port.container_ip);
    if let Some(host_ip) = port.host_ip {
        // The kernel cannot NAT between families (berth has no userland
        // proxy to bridge them).
        if Family::of(host_ip) != family {
            return Err(RenderError::MixedFamilies {
                proto,
                host_port: port.host_ports.0,
                host_ip,
                container_ip: port.container_ip,
            });
        }
    }
    let (h, c) = (port.host_ports, port.container_ports);
    if h.0 > h.1 || c.0 > c.1 || h.1 - h.0 != c.1 - c.0 {
        return Err(RenderError::Ranges {
            proto,
            host: range(h),
            container: range(c),
        });
    }
    let ctr = port.container_ip;
    // The key of the DNAT maps and the prefix of the published sets: which
    // packets to the host the mapping catches.
    let host_key = |ports: String| match port.host_ip {
        Some(ip) => format!("{ip} . {proto} . {ports}"),
        None => format!("{proto} . {ports}"),
    };
    let (dnat, dnat_keep, published) = match port.host_ip {
        Some(_) => (Set::DnatAddr, Set::DnatAddrKeepPort, Set::PublishedAddr),
        None => (Set::DnatAny, Set::DnatAnyKeepPort, Set::PublishedAny),
    };
    if h == c {
        // Same ports on both sides: one interval element however long the
        // range, DNAT to the address only so the port is kept.
        let ports = range(h);
        out.push(
            family,
            dnat_keep,
            Element {
                key: host_key(ports.clone()),
                value: Some(ctr.to_string()),
            },
        );
        out.push(
            family,
            published,
            Element::key(format!("{} . {ctr} . {ports}", host_key(ports.clone()))),
        );
    } else {
        // Shifted ports: one element per port (nft maps cannot express an
        // offset), still all in one transaction.
        for (hp, cp) in (h.0..=h.1).zip(c.0..=c.1) {
            out.push(
                family,
                dnat,
                Element {
                    key: host_key(hp.to_string()),
                    value: Some(format!("{ctr} . {cp}")),
                },
            );
            out.push(
                family,
                published,
                Element::key(format!("{} . {ctr} . {cp}", host_key(hp.to_string()))),
            );
        }
    }
    Ok(())
}
