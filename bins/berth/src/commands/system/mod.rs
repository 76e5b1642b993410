//! `berth version` and `berth info` (docker/cli `cli/command/system`).

pub mod info;
pub mod version;
