//! The volume endpoints over the engine.

use std::collections::HashMap;

use berth_api::{ApiError, Filters};
use berth_core::volume::{VolumeCreate, VolumeFilter, VolumePrune};
use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use super::{api_error, storage, DaemonBackend};

/// `GET /volumes`.
pub(super) async fn list(
    backend: &DaemonBackend,
    filters: Filters,
) -> Result<VolumeListResponse, ApiError> {
    let filter = VolumeFilter::parse(&filters).map_err(api_error)?;
    let volumes = backend.engine.list_volumes(&filter);
    Ok(VolumeListResponse {
        volumes: Some(volumes.iter().map(storage::volume_to_wire).collect()),
        warnings: Some(Vec::new()),
    })
}

/// `GET /volumes/{name}`.
pub(super) async fn inspect(backend: &DaemonBackend, name: String) -> Result<Volume, ApiError> {
    let volume = backend.engine.inspect_volume(&name).map_err(api_error)?;
    Ok(storage::volume_to_wire(&volume))
}

/// `POST /volumes/create`; cluster volumes are refused by name.
pub(super) async fn create(
    backend: &DaemonBackend,
    req: VolumeCreateRequest,
) -> Result<Volume, ApiError> {
    if req.cluster_volume_spec.is_some() {
        return Err(ApiError::invalid_parameter(
            "berth does not support cluster volumes",
        ));
    }
    let map = |m: Option<HashMap<String, String>>| m.unwrap_or_default().into_iter().collect();
    let volume = backend
        .engine
        .create_volume(VolumeCreate {
            name: req.name.unwrap_or_default(),
            driver: req.driver.unwrap_or_default(),
            labels: map(req.labels),
            options: map(req.driver_opts),
        })
        .await
        .map_err(api_error)?;
    Ok(storage::volume_to_wire(&volume))
}

/// `POST /volumes/prune`.
pub(super) async fn prune(
    backend: &DaemonBackend,
    filters: Filters,
) -> Result<VolumePruneResponse, ApiError> {
    let filter = VolumePrune::parse(&filters).map_err(api_error)?;
    let (removed, freed) = backend
        .engine
        .prune_volumes(filter)
        .await
        .map_err(api_error)?;
    Ok(VolumePruneResponse {
        volumes_deleted: Some(removed),
        space_reclaimed: Some(i64::try_from(freed).unwrap_or(i64::MAX)),
    })
}

/// `DELETE /volumes/{name}`.
pub(super) async fn remove(
    backend: &DaemonBackend,
    name: String,
    force: bool,
) -> Result<(), ApiError> {
    backend
        .engine
        .remove_volume(name, force)
        .await
        .map_err(api_error)
}
