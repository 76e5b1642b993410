//! Default address pools (`--default-address-pool`) and choosing a free
//! subnet from them, as `daemon/libnetwork/ipams/defaultipam/address_space.go`
//! `allocatePredefinedPool` does.

use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{bounds, from_u128, overlaps, IpFamily, IpamError};

/// One default address pool: subnets of prefix length `size` carved out of
/// `base`. Serde gives daemon.json's `{"base": "...", "size": N}` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolSpec {
    pub base: IpNet,
    pub size: u8,
}

impl PoolSpec {
    /// Parses `--default-address-pool base=172.30.0.0/16,size=24` (keys in
    /// any order, case-insensitive like Docker's). The base is masked, as
    /// Docker does silently.
    pub fn parse(s: &str) -> Result<PoolSpec, IpamError> {
        let mut base = None;
        let mut size = None;
        for field in s.split(',') {
            // Docker lowercases the whole field (keys and the IPv6 base alike).
            let lower = field.to_lowercase();
            let Some((key, val)) = lower.split_once('=') else {
                return Err(IpamError::PoolFieldNotKeyValue(field.to_owned()));
            };
            match key {
                "base" => base = Some(parse_base(val)?),
                "size" => size = Some(parse_size(s, val)?),
                _ => {
                    return Err(IpamError::PoolUnexpectedKey {
                        key: key.to_owned(),
                        field: field.to_owned(),
                    })
                }
            }
        }
        let invalid = |reason: String| IpamError::PoolInvalid {
            spec: s.to_owned(),
            reason,
        };
        let (Some(base), Some(size)) = (base, size) else {
            return Err(invalid("base and size are required".to_owned()));
        };
        let family = IpFamily::of_net(&base);
        let Some(size) = u8::try_from(size)
            .ok()
            .filter(|&s| s > 0 && s <= family.bits())
        else {
            return Err(invalid(format!(
                "size {size} is not a prefix length of an {family} subnet"
            )));
        };
        if size < base.prefix_len() {
            return Err(invalid(format!(
                "size /{size} is shorter than the base's prefix /{}",
                base.prefix_len()
            )));
        }
        Ok(PoolSpec {
            base: base.trunc(),
            size,
        })
    }

    /// Whether subnets of `size` can be carved out of `base` at all.
    fn is_usable(&self) -> bool {
        self.size >= self.base.prefix_len() && self.size <= IpFamily::of_net(&self.base).bits()
    }
}

/// Imitates Go's `netip.ParsePrefix` error, which Docker appends.
fn parse_base(val: &str) -> Result<IpNet, IpamError> {
    IpNet::from_str(val).map_err(|_| {
        let detail = match val.split_once('/') {
            None => "no '/'".to_owned(),
            Some((addr, bits)) if addr.parse::<std::net::IpAddr>().is_ok() => {
                format!("bad bits after slash: {bits:?}")
            }
            Some((addr, _)) => format!("ParseAddr({addr:?}): unable to parse IP"),
        };
        IpamError::PoolBase {
            value: val.to_owned(),
            reason: format!("netip.ParsePrefix({val:?}): {detail}"),
        }
    })
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits.
fn parse_size(spec: &str, val: &str) -> Result<i64, IpamError> {
    val.parse::<i64>().map_err(|_| {
        let digits = val.strip_prefix(['+', '-']).unwrap_or(val);
        let reason = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        IpamError::PoolSize {
            spec: spec.to_owned(),
            size: val.to_owned(),
            reason,
        }
    })
}

/// Docker's built-in local-scope pools (`daemon/libnetwork/ipamutils/utils.go`
/// `localScopeDefaultNetworks`), in its order.
pub fn docker_default_pools() -> Vec<PoolSpec> {
    const POOLS: [([u8; 4], u8, u8); 7] = [
        ([172, 17, 0, 0], 16, 16),
        ([172, 18, 0, 0], 16, 16),
        ([172, 19, 0, 0], 16, 16),
        ([172, 20, 0, 0], 14, 16),
        ([172, 24, 0, 0], 14, 16),
        ([172, 28, 0, 0], 14, 16),
        ([192, 168, 0, 0], 16, 20),
    ];
    POOLS
        .iter()
        .filter_map(|&(addr, prefix, size)| {
            let base = IpNet::new(addr.into(), prefix).ok()?;
            Some(PoolSpec { base, size })
        })
        .collect()
}

/// The first subnet carved from `pools` that overlaps none of `taken` (other
/// networks' subnets and the host's routes; leave out the default route).
///
/// Like Docker (`defaultipam/address_space.go` `newAddrSpace`), pools are
/// tried in address order, not the order given, and a pool overlapping an
/// earlier one is dropped. Give pools of one family; an IPv4 pool is tried
/// before any IPv6 one. Specs whose size cannot be carved from their base are
/// ignored. Cost is O((p + t) log t): a candidate overlapping a taken net
/// jumps to the first aligned subnet after it.
pub fn select_pool(pools: &[PoolSpec], taken: &[IpNet]) -> Result<IpNet, IpamError> {
    let mut usable: Vec<PoolSpec> = pools
        .iter()
        .filter(|p| p.is_usable())
        .map(|p| PoolSpec {
            base: p.base.trunc(),
            size: p.size,
        })
        .collect();
    if usable.is_empty() {
        return Err(IpamError::NoPools);
    }
    usable.sort_by_key(|p| (p.base.network(), p.base.prefix_len()));
    let mut kept: Vec<PoolSpec> = Vec::with_capacity(usable.len());
    for p in usable {
        if !kept.last().is_some_and(|k| overlaps(&k.base, &p.base)) {
            kept.push(p);
        }
    }
    let blocked_v4 = merged(taken, IpFamily::V4);
    let blocked_v6 = merged(taken, IpFamily::V6);
    kept.iter()
        .find_map(|p| {
            let blocked = match IpFamily::of_net(&p.base) {
                IpFamily::V4 => &blocked_v4,
                IpFamily::V6 => &blocked_v6,
            };
            first_fit(p, blocked)
        })
        .ok_or(IpamError::NoMoreSubnets)
}

/// `taken` nets of `family` as sorted, disjoint, non-adjacent address ranges.
fn merged(taken: &[IpNet], family: IpFamily) -> Vec<(u128, u128)> {
    let mut ranges: Vec<(u128, u128)> = taken
        .iter()
        .filter(|n| IpFamily::of_net(n) == family)
        .map(bounds)
        .collect();
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The lowest subnet of `pool` that misses every range in `blocked`.
fn first_fit(pool: &PoolSpec, blocked: &[(u128, u128)]) -> Option<IpNet> {
    let family = IpFamily::of_net(&pool.base);
    let host_bits = family.bits() - pool.size;
    let host_mask = u128::MAX
        .checked_shr(128 - u32::from(host_bits))
        .unwrap_or(0);
    let (_, pool_end) = bounds(&pool.base);
    let (mut candidate, _) = bounds(&pool.base);
    loop {
        let candidate_end = candidate | host_mask;
        // Ranges are disjoint and sorted, so the last one starting within the
        // candidate also ends last: it alone decides whether it overlaps.
        let below = blocked.partition_point(|&(start, _)| start <= candidate_end);
        match blocked[..below].last() {
            Some(&(_, end)) if end >= candidate => {
                candidate = end.checked_add(1)?.checked_add(host_mask)? & !host_mask;
                if candidate > pool_end {
                    return None;
                }
            }
            _ => return IpNet::new(from_u128(candidate, family), pool.size).ok(),
        }
    }
}

/// Refuses `new` subnets that overlap an `existing` one or each other, with
/// Docker's error. Subnets of different families never overlap.
///
/// Docker skips this check for a subnet given with an ip-range
/// (moby/moby#46756) and then fails later on the gateway; berth always checks.
pub fn check_no_overlap(new: &[IpNet], existing: &[IpNet]) -> Result<(), IpamError> {
    for (i, subnet) in new.iter().enumerate() {
        if let Some(other) = existing
            .iter()
            .chain(&new[..i])
            .find(|e| overlaps(subnet, e))
        {
            return Err(IpamError::PoolOverlap {
                subnet: *subnet,
                existing: *other,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| net(s)).collect()
    }

    fn pool(base: &str, size: u8) -> PoolSpec {
        PoolSpec {
            base: net(base),
            size,
        }
    }

    #[test]
    fn default_pools_are_dockers() {
        let got: Vec<(String, u8)> = docker_default_pools()
            .iter()
            .map(|p| (p.base.to_string(), p.size))
            .collect();
        let want = [
            ("172.17.0.0/16", 16),
            ("172.18.0.0/16", 16),
            ("172.19.0.0/16", 16),
            ("172.20.0.0/14", 16),
            ("172.24.0.0/14", 16),
            ("172.28.0.0/14", 16),
            ("192.168.0.0/16", 20),
        ];
        let want: Vec<(String, u8)> = want.iter().map(|&(b, s)| (b.to_owned(), s)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn default_pool_order() {
        let pools = docker_default_pools();
        let cases: &[(&[&str], &str)] = &[
            (&[], "172.17.0.0/16"),
            (&["172.17.0.0/16"], "172.18.0.0/16"),
            (&["172.17.0.0/16", "172.18.0.0/16"], "172.19.0.0/16"),
            // A host route inside 172.19/16 takes the whole /16 out.
            (
                &["172.17.0.0/16", "172.18.0.0/16", "172.19.5.0/24"],
                "172.20.0.0/16",
            ),
            // Taken nets need not be in order.
            (&["172.18.0.0/16", "172.17.0.0/16"], "172.19.0.0/16"),
            // A gap left by a removed network is reused first.
            (&["172.17.0.0/16", "172.19.0.0/16"], "172.18.0.0/16"),
            // A route covering all of 172.16/12 sends us to 192.168.
            (&["172.16.0.0/12"], "192.168.0.0/20"),
            (&["172.16.0.0/12", "192.168.0.0/20"], "192.168.16.0/20"),
            (&["172.16.0.0/12", "192.168.0.0/17"], "192.168.128.0/20"),
            // A smaller net inside a /14 pool blocks only its /16.
            (
                &[
                    "172.17.0.0/16",
                    "172.18.0.0/16",
                    "172.19.0.0/16",
                    "172.20.1.0/24",
                ],
                "172.21.0.0/16",
            ),
            // Other families do not matter.
            (&["::/0"], "172.17.0.0/16"),
        ];
        for (taken, want) in cases {
            assert_eq!(
                select_pool(&pools, &nets(taken)).unwrap(),
                net(want),
                "taken {taken:?}"
            );
        }
    }

    #[test]
    fn pools_are_tried_in_address_order_like_docker() {
        let pools = [pool("192.168.0.0/16", 24), pool("10.0.0.0/8", 24)];
        assert_eq!(select_pool(&pools, &[]).unwrap(), net("10.0.0.0/24"));
    }

    #[test]
    fn a_pool_inside_an_earlier_one_is_dropped() {
        // Docker keeps only 10.0.0.0/8 (size 16); 10.1.0.0/16 (size 24) never
        // yields a /24 even once the /8 is full.
        let pools = [pool("10.1.0.0/16", 24), pool("10.0.0.0/8", 16)];
        assert_eq!(select_pool(&pools, &[]).unwrap(), net("10.0.0.0/16"));
        assert_eq!(
            select_pool(&pools, &nets(&["10.0.0.0/8"])),
            Err(IpamError::NoMoreSubnets)
        );
    }

    #[test]
    fn exhaustion() {
        let pools = [pool("10.10.0.0/23", 24)];
        assert_eq!(
            select_pool(&pools, &nets(&["10.10.0.0/24"])).unwrap(),
            net("10.10.1.0/24")
        );
        let err = select_pool(&pools, &nets(&["10.10.0.0/24", "10.10.1.0/24"])).unwrap_err();
        assert_eq!(err, IpamError::NoMoreSubnets);
        assert_eq!(
            err.to_string(),
            "all predefined address pools have been fully subnetted"
        );
        assert_eq!(
            select_pool(
                &docker_default_pools(),
                &nets(&["172.16.0.0/12", "192.168.0.0/16"])
            ),
            Err(IpamError::NoMoreSubnets)
        );
    }

    #[test]
    fn no_usable_pool_is_invalid_pool() {
        assert_eq!(select_pool(&[], &[]), Err(IpamError::NoPools));
        assert_eq!(
            select_pool(&[pool("10.0.0.0/16", 8)], &[]),
            Err(IpamError::NoPools)
        );
        assert_eq!(IpamError::NoPools.to_string(), "invalid address pool");
    }

    #[test]
    fn pool_at_the_top_of_the_address_space() {
        let pools = [pool("255.255.255.0/24", 25)];
        assert_eq!(
            select_pool(&pools, &nets(&["255.255.255.0/25"])).unwrap(),
            net("255.255.255.128/25")
        );
        assert_eq!(
            select_pool(&pools, &nets(&["255.255.255.0/24"])),
            Err(IpamError::NoMoreSubnets)
        );
        let v6 = [pool("ffff::/16", 17)];
        assert_eq!(
            select_pool(&v6, &nets(&["ffff::/17"])).unwrap(),
            net("ffff:8000::/17")
        );
        assert_eq!(
            select_pool(&v6, &nets(&["ffff::/16"])),
            Err(IpamError::NoMoreSubnets)
        );
    }

    #[test]
    fn whole_address_space_pools() {
        assert_eq!(select_pool(&[pool("::/0", 0)], &[]).unwrap(), net("::/0"));
        assert_eq!(
            select_pool(&[pool("::/0", 0)], &nets(&["::1/128"])),
            Err(IpamError::NoMoreSubnets)
        );
        assert_eq!(
            select_pool(&[pool("0.0.0.0/0", 32)], &nets(&["0.0.0.0/1"])).unwrap(),
            net("128.0.0.0/32")
        );
    }

    #[test]
    fn ipv6_pool() {
        let pools = [pool("fd00:1::/48", 64)];
        assert_eq!(select_pool(&pools, &[]).unwrap(), net("fd00:1::/64"));
        assert_eq!(
            select_pool(
                &pools,
                &nets(&["fd00:1::/64", "fd00:1:0:1::/64", "172.17.0.0/16"])
            )
            .unwrap(),
            net("fd00:1:0:2::/64")
        );
    }

    #[test]
    fn skips_instead_of_testing_every_candidate() {
        // 65,535 of 65,536 /24s of a /8 taken, as separate nets: the last one
        // must be found quickly.
        let pools = [pool("10.0.0.0/8", 24)];
        let taken: Vec<IpNet> = (0..65_535u32)
            .map(|i| {
                IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24).unwrap()
            })
            .collect();
        let start = Instant::now();
        assert_eq!(select_pool(&pools, &taken).unwrap(), net("10.255.255.0/24"));
        // One big taken net: a single jump.
        assert_eq!(
            select_pool(&pools, &nets(&["10.0.0.0/9"])).unwrap(),
            net("10.128.0.0/24")
        );
        // Many small host routes scattered over every /24 but the last.
        let hosts: Vec<IpNet> = (0..65_535u32)
            .map(|i| {
                IpNet::new(
                    std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8) + 7).into(),
                    32,
                )
                .unwrap()
            })
            .collect();
        assert_eq!(select_pool(&pools, &hosts).unwrap(), net("10.255.255.0/24"));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn parse_ok() {
        let cases = [
            ("base=172.30.0.0/16,size=24", "172.30.0.0/16", 24),
            ("size=24,base=172.30.0.0/16", "172.30.0.0/16", 24),
            ("BASE=10.0.0.0/8,Size=16", "10.0.0.0/8", 16),
            ("base=10.1.2.3/8,size=16", "10.0.0.0/8", 16),
            ("base=FD00:AB::/48,size=64", "fd00:ab::/48", 64),
            ("base=10.0.0.0/24,size=24", "10.0.0.0/24", 24),
            ("base=10.0.0.0/8,size=+24", "10.0.0.0/8", 24),
        ];
        for (s, base, size) in cases {
            assert_eq!(PoolSpec::parse(s).unwrap(), pool(base, size), "{s}");
        }
    }

    #[test]
    fn parse_errors_use_dockers_wording() {
        let cases = [
            ("base", "invalid field 'base' must be a key=value pair"),
            ("base=10.0.0.0/8,size", "invalid field 'size' must be a key=value pair"),
            ("base=10.0.0.0/8,scope=local", "unexpected key 'scope' in 'scope=local'"),
            ("Foo=1", "unexpected key 'foo' in 'Foo=1'"),
            (
                "base=10.0.0.0,size=24",
                "invalid base prefix \"10.0.0.0\": netip.ParsePrefix(\"10.0.0.0\"): no '/'",
            ),
            (
                "base=10.0.0.0/33,size=24",
                "invalid base prefix \"10.0.0.0/33\": netip.ParsePrefix(\"10.0.0.0/33\"): bad bits after slash: \"33\"",
            ),
            (
                "base=foo/8,size=24",
                "invalid base prefix \"foo/8\": netip.ParsePrefix(\"foo/8\"): ParseAddr(\"foo\"): unable to parse IP",
            ),
            (
                "base=10.0.0.0/8,size=abc",
                "invalid size value: \"base=10.0.0.0/8,size=abc\" (must be integer): strconv.Atoi: parsing \"abc\": invalid syntax",
            ),
            (
                "base=10.0.0.0/8,size=99999999999999999999",
                "invalid size value: \"base=10.0.0.0/8,size=99999999999999999999\" (must be integer): strconv.Atoi: parsing \"99999999999999999999\": value out of range",
            ),
            ("base=10.0.0.0/8", "invalid default address pool 'base=10.0.0.0/8': base and size are required"),
            ("size=24", "invalid default address pool 'size=24': base and size are required"),
            ("", "invalid field '' must be a key=value pair"),
            (
                "base=10.0.0.0/16,size=8",
                "invalid default address pool 'base=10.0.0.0/16,size=8': size /8 is shorter than the base's prefix /16",
            ),
            (
                "base=10.0.0.0/8,size=33",
                "invalid default address pool 'base=10.0.0.0/8,size=33': size 33 is not a prefix length of an IPv4 subnet",
            ),
            (
                "base=10.0.0.0/8,size=0",
                "invalid default address pool 'base=10.0.0.0/8,size=0': size 0 is not a prefix length of an IPv4 subnet",
            ),
        ];
        for (s, want) in cases {
            let err = PoolSpec::parse(s).unwrap_err();
            assert_eq!(err.to_string(), want, "{s}");
            assert_eq!(err.kind(), crate::ErrorKind::InvalidParameter);
        }
    }

    #[test]
    fn daemon_json_form() {
        let p: PoolSpec = serde_json::from_str(r#"{"base":"172.30.0.0/16","size":24}"#).unwrap();
        assert_eq!(p, pool("172.30.0.0/16", 24));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"base":"172.30.0.0/16","size":24}"#
        );
    }

    #[test]
    fn overlap_check_both_ways() {
        let cases: &[(&[&str], &[&str], bool)] = &[
            (&["10.1.0.0/16"], &["10.0.0.0/8"], false),
            (&["10.0.0.0/8"], &["10.1.0.0/16"], false),
            (&["10.0.0.0/24"], &["10.0.0.0/24"], false),
            (&["10.0.1.0/24"], &["10.0.0.0/24"], true),
            (&["10.0.0.0/24", "10.0.0.128/25"], &[], false),
            (
                &["10.0.0.0/24", "fd00::/64"],
                &["fd01::/64", "10.0.1.0/24"],
                true,
            ),
            (&["fd00::/64"], &["fd00::/48"], false),
            (&["fd00::/64"], &["10.0.0.0/8"], true),
        ];
        for (new, existing, ok) in cases {
            let res = check_no_overlap(&nets(new), &nets(existing));
            assert_eq!(res.is_ok(), *ok, "{new:?} vs {existing:?}");
        }
    }

    #[test]
    fn overlap_error_is_dockers_and_names_both() {
        let err = check_no_overlap(
            &nets(&["10.1.0.0/16"]),
            &nets(&["172.17.0.0/16", "10.0.0.0/8"]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            IpamError::PoolOverlap {
                subnet: net("10.1.0.0/16"),
                existing: net("10.0.0.0/8")
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid pool request: Pool overlaps with other one on this address space"
        );
        assert_eq!(err.kind(), crate::ErrorKind::Forbidden);
    }
}
