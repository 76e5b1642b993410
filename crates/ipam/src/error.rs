//! The crate's one error type. Every `Display` text is Docker's wording; the
//! doc comment on each variant names the moby file it comes from (paths as in
//! moby/moby today) and the HTTP status Docker answers with.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::IpFamily;

/// Docker's error classes (moby `errdefs`), which decide the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `errdefs.InvalidParameter`: 400.
    InvalidParameter,
    /// `errdefs.Forbidden`: 403.
    Forbidden,
    /// `errdefs.Unavailable`: 503.
    Unavailable,
    /// `errdefs.System` or an unclassified error: 500.
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// `daemon/pkg/opts/address_pools.go` (`PoolsOpt.Set`). Start-up error.
    #[error("invalid field '{0}' must be a key=value pair")]
    PoolFieldNotKeyValue(String),

    /// `daemon/pkg/opts/address_pools.go`. `reason` imitates Go's
    /// `netip.ParsePrefix` error, which Docker appends.
    #[error("invalid base prefix \"{value}\": {reason}")]
    PoolBase { value: String, reason: String },

    /// `daemon/pkg/opts/address_pools.go`. Docker quotes the whole option
    /// (`spec`), then Go's `strconv.Atoi` error about the size itself.
    #[error(
        "invalid size value: {spec:?} (must be integer): strconv.Atoi: parsing {size:?}: {reason}"
    )]
    PoolSize {
        spec: String,
        size: String,
        reason: &'static str,
    },

    /// `daemon/pkg/opts/address_pools.go`.
    #[error("unexpected key '{key}' in '{field}'")]
    PoolUnexpectedKey { key: String, field: String },

    /// berth's wording: Docker only finds these (missing base or size, size
    /// shorter than the base or longer than an address) when the allocator is
    /// built, as "network at index N (...) is not in canonical form" or "...
    /// has a smaller prefix (/N) than the target size of that pool (/M)"
    /// (`daemon/libnetwork/ipams/defaultipam/allocator.go` `splitByIPFamily`).
    #[error("invalid default address pool '{spec}': {reason}")]
    PoolInvalid { spec: String, reason: String },

    /// `daemon/libnetwork/ipamapi/contract.go` `ErrInvalidPool`: no default
    /// pool of the wanted family at all. 400.
    #[error("invalid address pool")]
    NoPools,

    /// `daemon/libnetwork/ipamapi/contract.go` `ErrNoMoreSubnets`. 400.
    #[error("all predefined address pools have been fully subnetted")]
    NoMoreSubnets,

    /// `api/types/network/ipam.go` `ValidateIPAM`: every problem of every
    /// IPAM config entry, joined like its `errJoin`. 400 (`daemon/network.go`
    /// wraps it in `errdefs.InvalidParameter`).
    #[error("invalid network config:\n{}", JoinedErrors(.0))]
    InvalidConfig(Vec<String>),

    /// `daemon/libnetwork/ipams/defaultipam/allocator.go` `RequestPool`
    /// (`ForbiddenErrorf("invalid pool request: %v", ErrPoolOverlap)`) with
    /// `ipamapi/contract.go` `ErrPoolOverlap`. 403. Docker names neither
    /// subnet; they are here for logs.
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    PoolOverlap { subnet: IpNet, existing: IpNet },

    /// `daemon/libnetwork/network.go` `ipamAllocateVersion`
    /// (`InternalErrorf("failed to allocate gateway (%v): %v")`) with
    /// `ErrIPAlreadyAllocated`: the gateway is the network or broadcast
    /// address. 500.
    #[error("failed to allocate gateway ({0}): Address already in use")]
    GatewayInUse(IpAddr),

    /// As [`IpamError::GatewayInUse`], with `ErrNoAvailableIPs`: no gateway
    /// was given and the subnet (or ip-range) has no address left for one.
    /// Docker prints the empty requested gateway. 500.
    #[error("failed to allocate gateway (): no available addresses on this pool")]
    NoGatewayAddress,

    /// `daemon/libnetwork/network.go` `ipamAllocateVersion`
    /// (`InternalErrorf("failed to allocate secondary ip address (%s:%s): %v")`)
    /// with `ErrIPAlreadyAllocated`. 500.
    #[error("failed to allocate secondary ip address ({name}:{address}): Address already in use")]
    AuxAddressInUse { name: String, address: IpAddr },

    /// `daemon/libnetwork/ipamapi/contract.go` `ErrNoAvailableIPs`: this one
    /// subnet is full. 503. Once every subnet of the family is full, Docker
    /// reports [`IpamError::NetworkExhausted`] instead.
    #[error("no available addresses on this pool")]
    NoAvailableAddresses,

    /// `daemon/libnetwork/endpoint.go` `assignAddressVersion` (plain
    /// `fmt.Errorf`, so 500). The caller builds it once all of the network's
    /// subnets of `family` returned [`IpamError::NoAvailableAddresses`].
    #[error("no available {family} addresses on this network's address pools: {network_name} ({network_id})")]
    NetworkExhausted {
        family: IpFamily,
        network_name: String,
        network_id: String,
    },

    /// `daemon/libnetwork/ipamapi/contract.go` `ErrIPAlreadyAllocated`: a
    /// requested `--ip` is taken (by a container, the gateway, an auxiliary
    /// address, or the network/broadcast address). 403.
    #[error("Address already in use")]
    AddressInUse,

    /// `daemon/container_operations.go` `validateEndpointIPAddress`: a
    /// requested `--ip` outside every subnet of the network. 400; Docker
    /// prefixes it with "invalid endpoint settings:\n".
    #[error("no configured subnet contains IP address {0}")]
    NotInSubnet(IpAddr),
}

impl IpamError {
    /// The class Docker gives this error, which decides the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IpamError::PoolFieldNotKeyValue(_)
            | IpamError::PoolBase { .. }
            | IpamError::PoolSize { .. }
            | IpamError::PoolUnexpectedKey { .. }
            | IpamError::PoolInvalid { .. }
            | IpamError::NoPools
            | IpamError::NoMoreSubnets
            | IpamError::InvalidConfig(_)
            | IpamError::NotInSubnet(_)
            // Two names for one address, or the gateway's: the request's
            // own contradiction.
            | IpamError::AuxAddressInUse { .. } => ErrorKind::InvalidParameter,
            IpamError::PoolOverlap { .. } | IpamError::AddressInUse => ErrorKind::Forbidden,
            IpamError::NoAvailableAddresses => ErrorKind::Unavailable,
            IpamError::GatewayInUse(_)
            | IpamError::NoGatewayAddress
            | IpamError::NetworkExhausted { .. } => ErrorKind::Internal,
        }
    }
}

/// `errJoin` of `api/types/network/ipam.go`: one error alone is printed as
/// is, several as a "* " list.
struct JoinedErrors<'a>(&'a [String]);

impl fmt::Display for JoinedErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => f.write_str(one.trim()),
            many => {
                for (i, e) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "* {}", e.replace('\n', "\n\t"))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_config_error_is_printed_alone() {
        let e = IpamError::InvalidConfig(vec![
            "invalid subnet 10.10.10.0/8: it should be 10.0.0.0/8".into(),
        ]);
        assert_eq!(
            e.to_string(),
            "invalid network config:\ninvalid subnet 10.10.10.0/8: it should be 10.0.0.0/8"
        );
    }

    #[test]
    fn several_config_errors_are_a_list() {
        let e = IpamError::InvalidConfig(vec!["a".into(), "b".into()]);
        assert_eq!(e.to_string(), "invalid network config:\n* a\n* b");
    }

    #[test]
    fn kinds_follow_docker() {
        let cases = [
            (IpamError::NoMoreSubnets, ErrorKind::InvalidParameter),
            (IpamError::AddressInUse, ErrorKind::Forbidden),
            (
                IpamError::PoolOverlap {
                    subnet: "10.0.0.0/24".parse().unwrap(),
                    existing: "10.0.0.0/16".parse().unwrap(),
                },
                ErrorKind::Forbidden,
            ),
            (IpamError::NoAvailableAddresses, ErrorKind::Unavailable),
            (IpamError::NoGatewayAddress, ErrorKind::Internal),
            (
                IpamError::NotInSubnet("10.9.9.9".parse().unwrap()),
                ErrorKind::InvalidParameter,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn network_exhausted_names_family_network_and_id() {
        let e = IpamError::NetworkExhausted {
            family: IpFamily::V4,
            network_name: "front".into(),
            network_id: "1a2b3c".into(),
        };
        assert_eq!(
            e.to_string(),
            "no available IPv4 addresses on this network's address pools: front (1a2b3c)"
        );
    }
}
