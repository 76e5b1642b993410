//! Question names as the resolver looks them up: keys for berth names,
//! addresses behind reverse names, and the targets PTR answers point at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// Writes `name` as `NameLookup` takes it into `key`: lowercase labels
/// joined by dots, no trailing dot. False when it cannot be a berth name
/// (the root, or a label holding a dot, a backslash or a byte that is not
/// printable ASCII, which no container name, alias or hostname has): such a
/// name is forwarded as is.
pub(crate) fn lookup_key(name: &Name, key: &mut String) -> bool {
    key.clear();
    if name.is_root() {
        return false;
    }
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        for &b in label {
            if !b.is_ascii_graphic() || b == b'.' || b == b'\\' {
                return false;
            }
            key.push(char::from(b.to_ascii_lowercase()));
        }
    }
    true
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa.`, or 32 nibbles and
/// `ip6.arpa.`) stands for; `None` for anything else, partial reverse zones
/// included, which are then forwarded as Docker does.
pub(crate) fn reverse_address(name: &Name) -> Option<IpAddr> {
    let mut labels = name.iter();
    let arpa = labels.next_back()?;
    let zone = labels.next_back()?;
    if !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    if zone.eq_ignore_ascii_case(b"in-addr") {
        if labels.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        // Labels run from the last octet to the first.
        for (octet, label) in octets.iter_mut().rev().zip(labels) {
            *octet = decimal_octet(label)?;
        }
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    } else if zone.eq_ignore_ascii_case(b"ip6") {
        if labels.len() != 32 {
            return None;
        }
        // Labels run from the lowest nibble to the highest.
        let mut bits = 0u128;
        for label in labels.rev() {
            let [digit] = label else { return None };
            bits = bits << 4 | u128::from(char::from(*digit).to_digit(16)?);
        }
        Some(IpAddr::V6(Ipv6Addr::from(bits)))
    } else {
        None
    }
}

/// `0`..`255` in decimal without leading zeros, as reverse names write
/// octets.
fn decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || (label.len() > 1 && label[0] == b'0') {
        return None;
    }
    if !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(label).ok()?.parse().ok()
}

/// The name a PTR answer points at: the lookup's name made fully qualified
/// (Docker's `dns.Fqdn`). `None` if it is not a valid DNS name.
pub(crate) fn ptr_target(host: &str) -> Option<Name> {
    let name = if host.ends_with('.') {
        Name::from_ascii(host)
    } else {
        Name::from_ascii(format!("{host}."))
    };
    name.ok().filter(|n| !n.is_root())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_keys_are_lowercase_without_trailing_dot() {
        let mut key = String::new();
        assert!(lookup_key(&Name::from_ascii("Db.App.").unwrap(), &mut key));
        assert_eq!(key, "db.app");
        assert!(lookup_key(&Name::from_ascii("web_1").unwrap(), &mut key));
        assert_eq!(key, "web_1");
        assert!(!lookup_key(&Name::root(), &mut key));
        let odd = Name::from_labels(vec![b"a.b".as_slice()]).unwrap();
        assert!(!lookup_key(&odd, &mut key));
        let binary = Name::from_labels(vec![b"a\x00".as_slice()]).unwrap();
        assert!(!lookup_key(&binary, &mut key));
    }

    #[test]
    fn reverse_names_parse_to_addresses() {
        let parse = |s: &str| reverse_address(&Name::from_ascii(s).unwrap());
        assert_eq!(
            parse("4.3.2.1.in-addr.arpa."),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            parse("4.3.2.1.IN-ADDR.ARPA"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse("3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("5.4.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("04.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("256.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("in-addr.arpa."), None);
        assert_eq!(parse("example.com."), None);
        let v6: Ipv6Addr = "fd00::1:2".parse().unwrap();
        let nibbles: String = v6
            .octets()
            .iter()
            .rev()
            .map(|b| format!("{:x}.{:x}.", b & 0xf, b >> 4))
            .collect();
        assert_eq!(parse(&format!("{nibbles}ip6.arpa.")), Some(IpAddr::V6(v6)));
        assert_eq!(parse(&format!("{}ip6.arpa.", &nibbles[2..])), None);
        assert_eq!(
            parse(&format!("{}ip6.arpa.", nibbles.replace('f', "g"))),
            None
        );
    }

    #[test]
    fn ptr_targets_are_fully_qualified() {
        assert_eq!(ptr_target("db").unwrap().to_ascii(), "db.");
        assert_eq!(ptr_target("db.app.").unwrap().to_ascii(), "db.app.");
        assert!(ptr_target("").is_none());
        assert!(ptr_target(&"x".repeat(64)).is_none());
    }
}
