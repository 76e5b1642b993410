//! The image verbs (docker/cli `cli/command/image`): `import`, `images`,
//! `rmi`, `pull`, `push`, `tag`.

pub mod import;
pub mod list;
pub mod progress;
pub mod registry;
pub mod remove;
