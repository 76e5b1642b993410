//! What the daemon provides to the HTTP layer (moby keeps the same interface
//! next to its router, `daemon/server/router/network/backend.go`).

use std::future::Future;

use bollard_stubs::models::{
    NetworkCreateRequest, NetworkCreateResponse, NetworkInspect, NetworkPruneResponse, SystemInfo,
    SystemVersion,
};

use crate::error::ApiError;
use crate::filters::Filters;

/// The operations behind the routes. Handlers parse the request, call one of
/// these, and turn the result into a response; the backend never sees HTTP.
///
/// An `Err` is answered with the status of its [`crate::ErrorKind`] and
/// `{"message": ...}`; use Docker's wording where clients match on it (e.g.
/// `network <name> not found`, `network with name <name> already exists`).
pub trait Backend: Send + Sync + 'static {
    /// `GET /version`. `ApiVersion` and `MinAPIVersion` are overwritten by the
    /// HTTP layer with [`crate::API_VERSION`] and [`crate::MIN_API_VERSION`]:
    /// only it knows which versions it serves.
    fn version(&self) -> impl Future<Output = Result<SystemVersion, ApiError>> + Send;

    /// `GET /info`, passed through as is.
    fn info(&self) -> impl Future<Output = Result<SystemInfo, ApiError>> + Send;

    /// `GET /networks`. `filters` is already normalised; unknown keys and bad
    /// values are the backend's to reject (Docker: 400 `invalid filter '<key>'`).
    fn network_list(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<Vec<NetworkInspect>, ApiError>> + Send;

    /// `GET /networks/{id}`: by full ID, exact name, or unique ID prefix.
    fn network_inspect(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<NetworkInspect, ApiError>> + Send;

    /// `POST /networks/create`. `req.name` is never empty (the HTTP layer
    /// answers Docker's 400 for that); everything else is unvalidated.
    fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> impl Future<Output = Result<NetworkCreateResponse, ApiError>> + Send;

    /// `DELETE /networks/{id}`.
    fn network_remove(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /networks/prune`.
    fn network_prune(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<NetworkPruneResponse, ApiError>> + Send;
}
