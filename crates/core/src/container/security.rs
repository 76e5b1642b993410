//! A container's privileges and the namespaces it shares: capabilities,
//! `--privileged`, seccomp, AppArmor, no-new-privileges, `--pid`, `--ipc`,
//! `--uts`, supplementary groups and `--init`.

use serde::{Deserialize, Serialize};

/// What was asked for the container's privileges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {}
