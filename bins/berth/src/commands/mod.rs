//! One module per top-level verb group, each exposing a clap `Args` or
//! `Subcommand` type and an async `run`. Container verbs (`run`, `ps`,
//! `exec`, …) join as siblings of `network` and `system`.

pub mod network;
pub mod system;
