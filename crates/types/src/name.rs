use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("network name is empty")]
    Empty,
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    Characters(String),
}

/// A network's name. Docker's own rule for object names: a letter or digit,
/// then letters, digits, `_`, `.` or `-`. Names are what users type on the
/// command line and what bridge options refer to, so nothing else is let in.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct NetworkName(String);

impl NetworkName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut chars = s.chars();
        let Some(first) = chars.next() else {
            return Err(NameError::Empty);
        };
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if first.is_ascii_alphanumeric() && rest_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::Characters(s.to_owned()))
        }
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
    fn accepts_docker_style_names() {
        for ok in ["mynetwork", "a", "my-net_1.2", "0net"] {
            assert!(NetworkName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_others() {
        assert_eq!(NetworkName::parse(""), Err(NameError::Empty));
        for bad in ["-net", "_net", "my net", "a/b", "ü"] {
            assert!(
                matches!(NetworkName::parse(bad), Err(NameError::Characters(_))),
                "{bad}"
            );
        }
    }
}
