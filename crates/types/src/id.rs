use std::fmt;

/// Docker shows ids shortened to this many hex digits.
pub const SHORT_ID_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid id {0:?}: must be 64 lowercase hex digits")]
    Malformed(String),
}

/// Whether `s` is exactly 64 lowercase hex digits, the form of every Docker id.
fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_full_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::Malformed(s.to_owned()))
                }
            }

            /// Builds an id from 32 random bytes (the caller owns the randomness).
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                let mut s = String::with_capacity(64);
                for b in bytes {
                    s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
                    s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
                }
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The 12-digit form `ls` and `ps` print.
            pub fn short(&self) -> &str {
                &self.0[..SHORT_ID_LEN]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        // Eq, Ord and Hash are the inner string's, so maps keyed by id can
        // be searched by `&str` (an id prefix is a range).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

hex_id!(
    /// A network's id.
    NetworkId
);
hex_id!(
    /// A container's id.
    ContainerId
);
hex_id!(
    /// An endpoint's id (one container's attachment to one network).
    EndpointId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_round_trips_through_parse() {
        let id = NetworkId::from_bytes([0xab; 32]);
        assert_eq!(id.as_str().len(), 64);
        assert_eq!(NetworkId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.short(), "abababababab");
    }

    #[test]
    fn parse_rejects_wrong_length_and_uppercase() {
        assert!(NetworkId::parse("abc").is_err());
        assert!(NetworkId::parse(&"A".repeat(64)).is_err());
        assert!(NetworkId::parse(&"g".repeat(64)).is_err());
        assert!(ContainerId::parse(&"0".repeat(64)).is_ok());
    }
}
