//! The wire's privilege fields (`CapAdd`, `CapDrop`, `Privileged`,
//! `SecurityOpt`, `PidMode`, `IpcMode`, `UTSMode`, `GroupAdd`, `Init`) to
//! and from core's [`Security`].

use berth_core::container::Security;
use bollard_stubs::models::HostConfig;

/// What a create request asks for the container's privileges.
pub fn requested(_host: &HostConfig) -> Security {
    Security::default()
}

/// The inspect fields that show what was asked, with Docker's zero values
/// where nothing was.
pub fn show(_asked: &Security, _host: &mut HostConfig) {}
