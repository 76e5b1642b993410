//! berth's nftables firewall: a pure renderer from [`FirewallState`] /
//! [`FirewallChange`] to an `nft -f` script, and [`NftFirewall`], which
//! applies such scripts as one kernel transaction each.
//!
//! berth owns `table ip berth` and `table ip6 berth` (the name comes from
//! [`FwConfig`]) and never reads or writes any other table. The structure of
//! both tables (chains and rules) is fixed; every fact about a network or a
//! published port is an element of a set or map, so adding or removing one
//! is a handful of element operations whose cost does not depend on how many
//! networks and ports exist, and the per-packet cost is one lookup per map.
//!
//! Two tables rather than one `inet` table: every set keyed by an address is
//! per family anyway (`ipv4_addr` and `ipv6_addr` cannot share a set), so an
//! `inet` table would hold the same sets twice plus rules qualified by
//! family; separate tables keep each rule set self-contained and readable,
//! and match Docker's `ip`/`ip6 docker-bridges` layout.
//!
//! [`FirewallState`]: berth_core::ports::FirewallState
//! [`FirewallChange`]: berth_core::ports::FirewallChange

mod apply;
mod config;
mod generation;
mod render;

pub use apply::{NftError, NftFirewall};
pub use config::{FwConfig, TableNameError};
pub use generation::GenerationError;
pub use render::{render_change, render_full, RenderError};
