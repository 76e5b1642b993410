//! The wire's resource fields (`HostConfig`'s embedded `Resources`,
//! `Ulimits`, `ShmSize`, `Sysctls`) to and from core's [`Resources`].

use berth_core::container::Resources;
use bollard_stubs::models::HostConfig;

/// What a create request asks for the container's resources.
pub fn requested(_host: &HostConfig) -> Resources {
    Resources::default()
}

/// The inspect fields that show what was asked, with Docker's zero values
/// where nothing was.
pub fn show(_asked: &Resources, _host: &mut HostConfig) {}
