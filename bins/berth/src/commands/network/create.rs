//! `berth network create` (docker/cli `cli/command/network/create.go`).

use std::collections::HashMap;
use std::net::IpAddr;

use bollard_stubs::models::{ConfigReference, Ipam, IpamConfig, NetworkCreateRequest};
use clap::{ArgAction, Args};

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::opts;

const PATH: &str = "network create";
const USAGE: &str = "network create [OPTIONS] NETWORK";

// docker's boolean flags also take `--flag=false`; `require_equals` keeps
// `--internal NAME` meaning a flag followed by the network name.
#[derive(Debug, Args)]
#[command(override_usage = "berth network create [OPTIONS] NETWORK")]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver (name=IP)
    #[arg(long = "aux-address", value_name = "map")]
    aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string")]
    config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge", value_name = "string")]
    driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    ingress: bool,
    /// Restrict external access to the network
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default", value_name = "string")]
    ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment (default true)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "bool", hide_possible_values = true)]
    ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "bool", hide_possible_values = true)]
    ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long, value_name = "list", value_parser = opts::parse_label)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long, value_name = "map")]
    opt: Vec<String>,
    /// Control the network's scope
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "string"
    )]
    scope: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    network: Vec<String>,
}

pub async fn run(host: &Host, args: CreateArgs) -> anyhow::Result<()> {
    check_args(&args.network, Arity::Exactly(1), PATH, USAGE)?;
    // docker validates the IPAM flags before it talks to the daemon.
    let request = create_request(&args).map_err(anyhow::Error::msg)?;
    let api = Api::connect(host).await?;
    let response = api.create_network(request).await?;
    println!("{}", response.id);
    Ok(())
}

/// The `POST /networks/create` body for these flags, with the fields docker
/// always sends (`Scope: ""`, `IPAM.Config: []`, …) and `EnableIPv4`/`6`
/// only when the flag was given.
fn create_request(args: &CreateArgs) -> Result<NetworkCreateRequest, String> {
    let config = consolidate_ipam(
        &opts::csv_values(&args.subnet),
        &opts::csv_values(&args.ip_range),
        &opts::csv_values(&args.gateway),
        &opts::kv_pairs(&args.aux_address),
    )?;
    Ok(NetworkCreateRequest {
        name: args.network.first().cloned().unwrap_or_default(),
        driver: Some(args.driver.clone()),
        scope: Some(args.scope.clone()),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        ingress: Some(args.ingress),
        config_only: Some(args.config_only),
        config_from: args
            .config_from
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|n| ConfigReference {
                network: Some(n.clone()),
            }),
        ipam: Some(Ipam {
            driver: Some(args.ipam_driver.clone()),
            config: Some(config),
            options: Some(opts::kv_map(&args.ipam_opt)),
        }),
        enable_ipv4: args.ipv4,
        enable_ipv6: args.ipv6,
        options: Some(opts::kv_map(&args.opt)),
        labels: Some(opts::kv_map(&args.label)),
    })
}

/// docker's `consolidateIpam`: one IPAM config per subnet (in the order
/// given; docker's own order is Go map order, i.e. random), each ip-range,
/// gateway and aux-address attached to the one subnet containing it.
/// Values are sent as typed; checks and error texts are docker 28.2's.
fn consolidate_ipam(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[(String, String)],
) -> Result<Vec<IpamConfig>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".to_string());
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for c in &configs {
            let k = c.subnet.as_deref().unwrap_or_default();
            // Both checks run (and may fail) before either result is used.
            let inside = subnet_matches(s, k)?;
            let outside = subnet_matches(k, s)?;
            if inside || outside {
                return Err(
                    "multiple overlapping subnet configuration is not supported".to_string()
                );
            }
        }
        configs.push(IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        });
    }
    // `subnets` has no duplicates now (they overlap), so the index of a
    // subnet in it is the index of its config.
    for r in ranges {
        parse_cidr(r)?;
        let mut matched = false;
        for (s, cfg) in subnets.iter().zip(configs.iter_mut()) {
            if !subnet_matches(s, r)? {
                continue;
            }
            if let Some(existing) = &cfg.ip_range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {existing}) on the same subnet ({s})"
                ));
            }
            cfg.ip_range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for (s, cfg) in subnets.iter().zip(configs.iter_mut()) {
            if !subnet_matches(s, g)? {
                continue;
            }
            if let Some(existing) = &cfg.gateway {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {existing}) for the same subnet ({s})"
                ));
            }
            cfg.gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for (key, addr) in aux {
        let mut matched = false;
        for (s, cfg) in subnets.iter().zip(configs.iter_mut()) {
            if subnet_matches(s, addr)? {
                cfg.auxiliary_addresses
                    .get_or_insert_with(HashMap::new)
                    .insert(key.clone(), addr.clone());
                matched = true;
            }
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(configs)
}

/// A network as Go's `net.IPNet`, reduced to what `Contains` looks at.
struct GoNet {
    /// The address bytes: 4 when Go's `To4` succeeds, else 16.
    ip: Vec<u8>,
    /// 4 bytes for an IPv4 CIDR, 16 for an IPv6 one (even v4-mapped).
    mask: Vec<u8>,
}

/// Go's `net.IP.To4`: IPv4 and IPv4-mapped IPv6 addresses are 4 bytes.
fn to4(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a
            .to_ipv4_mapped()
            .map_or_else(|| a.octets().to_vec(), |v4| v4.octets().to_vec()),
    }
}

/// Go's `net.ParseCIDR` (error text included).
fn parse_cidr(s: &str) -> Result<(IpAddr, GoNet), String> {
    let invalid = || format!("invalid CIDR address: {s}");
    let (addr, bits) = s.split_once('/').ok_or_else(invalid)?;
    let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let ones: usize = bits.parse().map_err(|_| invalid())?;
    if ones > width {
        return Err(invalid());
    }
    let mask: Vec<u8> = (0..width / 8)
        .map(|i| {
            let bits_here = ones.saturating_sub(i * 8).min(8);
            // `bits_here` is at most 8, so the shift cannot overflow.
            (0xffu16 << (8 - bits_here)) as u8
        })
        .collect();
    Ok((ip, GoNet { ip: to4(ip), mask }))
}

impl GoNet {
    /// Go's `net.IPNet.Contains`.
    fn contains(&self, ip: IpAddr) -> bool {
        let mut mask = self.mask.as_slice();
        match (self.ip.len(), mask.len()) {
            (4, 16) => mask = &mask[12..],
            (16, 4) => return false,
            _ => {}
        }
        let ip = to4(ip);
        ip.len() == self.ip.len()
            && ip
                .iter()
                .zip(&self.ip)
                .zip(mask)
                .all(|((a, n), m)| a & m == n & m)
    }
}

/// docker's `subnetMatches`: is `data` (an address, or a CIDR whose address
/// is used) inside `subnet`? An unparsable plain address is simply "no".
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let (_, net) = parse_cidr(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        parse_cidr(data)?.0
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(net.contains(ip))
}

#[cfg(test)]
mod tests;
