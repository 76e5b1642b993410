//! The image verbs (docker/cli `cli/command/image`): `import`, `images`,
//! `rmi`.

pub mod import;
pub mod list;
pub mod remove;
