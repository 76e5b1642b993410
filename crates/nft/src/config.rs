//! Daemon-level settings of the renderer.

/// What the renderer needs beyond the firewall state.
///
/// berth never runs a userland proxy, so hairpin and `127.0.0.1` traffic to
/// published ports are always handled in the kernel (DNAT in `output`,
/// masquerade in `postrouting`); there is no switch for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwConfig {
    table: String,
}

/// The longest table name accepted; nft allows more, but a name this long is
/// a mistake rather than a choice.
const MAX_TABLE_NAME: usize = 64;

#[derive(Debug, thiserror::Error)]
#[error(
    "nftables table name {0:?}: expected 1 to {MAX_TABLE_NAME} ASCII letters, digits, `-` or `_`, starting with a letter"
)]
pub struct TableNameError(pub String);

impl FwConfig {
    /// Settings with berth's tables named `table` (`berth` in production;
    /// another name lets tests run beside a live berth).
    pub fn new(table: &str) -> Result<Self, TableNameError> {
        // The name is written into scripts unquoted: only a plain identifier
        // can never change the meaning of the script around it.
        let valid = table.len() <= MAX_TABLE_NAME
            && table.starts_with(|c: char| c.is_ascii_alphabetic())
            && table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(Self {
                table: table.to_owned(),
            })
        } else {
            Err(TableNameError(table.to_owned()))
        }
    }

    /// The name of berth's `ip` and `ip6` tables.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Default for FwConfig {
    fn default() -> Self {
        Self {
            table: "berth".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert_eq!(FwConfig::default().table(), "berth");
        assert_eq!(
            FwConfig::new("berth-test_1").unwrap().table(),
            "berth-test_1"
        );
        for bad in [
            "",
            "1berth",
            "ber th",
            "berth;flush",
            "b\"",
            &"b".repeat(65),
        ] {
            assert!(FwConfig::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
