//! A container's resource limits: cgroup limits, ulimits, `/dev/shm`'s
//! size, namespaced sysctls and devices (`--memory`, `--cpus`, `--ulimit`,
//! `--device`…), changed live by `docker update`.

use serde::{Deserialize, Serialize};

/// What was asked for the container's resources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {}
