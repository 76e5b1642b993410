//! The container verbs (docker/cli `cli/command/container`): `run`,
//! `create`, `start`, `stop`, `kill`, `restart`, `rm`, `ps`, `logs`,
//! `wait`, `exec`, `port`, `attach`.

pub mod attach;
pub mod create;
pub mod exec;
pub mod lifecycle;
pub mod list;
pub mod logs;
mod opts;
pub mod port;
mod publish_spec;
pub mod run;
mod session;
pub mod start;
pub mod wait;
