//! A container's filesystem beyond its image: bind mounts, volumes, tmpfs
//! mounts and a read-only root (`-v`, `--mount`, `--tmpfs`,
//! `--read-only`, `--volumes-from`).

use serde::{Deserialize, Serialize};

/// What was asked for the container's filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {}
