//! One module per verb group, each exposing clap `Args` or `Subcommand`
//! types and an async `run`.

pub mod container;
pub mod image;
pub mod inspect;
pub mod network;
pub mod node;
mod remove_each;
pub mod system;
