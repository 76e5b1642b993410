use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("network name is empty")]
    Empty,
}

/// A network's name: any non-empty string, as Docker takes it (spaces,
/// `/`, anything; libnetwork once restricted names and reverted it because
/// it broke users). Nothing derives an interface name or a firewall rule
/// from it: bridges are named after the network's id.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct NetworkName(String);

impl NetworkName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NetworkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NetworkName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<NetworkName> for String {
    fn from(n: NetworkName) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_non_empty_name() {
        for ok in [
            "mynetwork",
            "a",
            "my-net_1.2",
            "-net",
            "my net",
            "a/b",
            "ü",
            "a\\b\"*",
        ] {
            assert_eq!(NetworkName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(NetworkName::parse(""), Err(NameError::Empty));
    }
}
