use std::fmt;

/// The kernel's limit on interface names (IFNAMSIZ minus the NUL).
const MAX_IFNAME_LEN: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IfNameError {
    #[error("invalid interface name {0:?}: must be 1 to 15 bytes")]
    Length(String),
    #[error("invalid interface name {0:?}: must not contain '/', ':', whitespace or NUL, nor be '.' or '..'")]
    Characters(String),
}

/// A Linux network interface name, checked against the kernel's rules
/// (`dev_valid_name`), so netlink never sees one it will refuse.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct IfName(String);

impl IfName {
    pub fn parse(s: &str) -> Result<Self, IfNameError> {
        if s.is_empty() || s.len() > MAX_IFNAME_LEN {
            return Err(IfNameError::Length(s.to_owned()));
        }
        let bad_char = |c: char| c == '/' || c == ':' || c.is_whitespace() || c == '\0';
        if s == "." || s == ".." || s.chars().any(bad_char) {
            return Err(IfNameError::Characters(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IfName {
    type Error = IfNameError;
    fn try_from(s: String) -> Result<Self, IfNameError> {
        Self::parse(&s)
    }
}

impl From<IfName> for String {
    fn from(n: IfName) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kernel_valid_names() {
        for ok in ["berth0", "br-0123456789ab", "veth1234567", "eth0", "a"] {
            assert!(IfName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_the_kernel_refuses() {
        for bad in ["", "br-0123456789abc", "a/b", "a b", "a:b", ".", ".."] {
            assert!(IfName::parse(bad).is_err(), "{bad}");
        }
    }
}
