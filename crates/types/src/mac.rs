use std::fmt;
use std::net::Ipv4Addr;

/// An Ethernet address; `aa:bb:cc:dd:ee:ff` on the wire and in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl TryFrom<String> for MacAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        MacAddr::parse(&s).ok_or_else(|| format!("invalid MAC address {s:?}"))
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

impl MacAddr {
    /// Docker's container MAC: `02:42` (locally administered) followed by the
    /// IPv4 address, so 192.168.100.10 gives 02:42:c0:a8:64:0a.
    pub fn from_ipv4(ip: Ipv4Addr) -> Self {
        let [a, b, c, d] = ip.octets();
        MacAddr([0x02, 0x42, a, b, c, d])
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (either case).
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next()?;
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_mac_from_seed_example() {
        let mac = MacAddr::from_ipv4(Ipv4Addr::new(192, 168, 100, 10));
        assert_eq!(mac.to_string(), "02:42:c0:a8:64:0a");
        assert_eq!(MacAddr::parse("02:42:C0:a8:64:0a"), Some(mac));
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "02:42",
            "02:42:c0:a8:64:0a:00",
            "0:42:c0:a8:64:0a",
            "zz:42:c0:a8:64:0a",
        ] {
            assert_eq!(MacAddr::parse(bad), None, "{bad}");
        }
    }
}
