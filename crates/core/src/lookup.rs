//! Resolving what a user typed (`mynet`, a full id, an id prefix) to a network,
//! in Docker's order: full id, then exact name, then unique id prefix.

use crate::error::{Error, Result};
use crate::network::Network;

pub fn find_network<'a>(networks: &'a [Network], reference: &str) -> Result<&'a Network> {
    if let Some(n) = networks.iter().find(|n| n.id.as_str() == reference) {
        return Ok(n);
    }
    if let Some(n) = networks.iter().find(|n| n.name.as_str() == reference) {
        return Ok(n);
    }
    let not_found = || Error::NotFound(format!("network {reference} not found"));
    if reference.is_empty() {
        return Err(not_found());
    }
    let mut by_prefix = networks
        .iter()
        .filter(|n| n.id.as_str().starts_with(reference));
    match (by_prefix.next(), by_prefix.count()) {
        (None, _) => Err(not_found()),
        (Some(n), 0) => Ok(n),
        (Some(_), more) => Err(Error::InvalidParameter(format!(
            "network {reference} is ambiguous ({} matches found based on ID prefix)",
            more + 1
        ))),
    }
}
