//! Errors as the Docker API reports them: a kind that decides the HTTP status
//! and a message that becomes the `{"message": "..."}` body.

use http::StatusCode;

/// Docker's error kinds (moby `errdefs`), reduced to the ones berth produces.
///
/// [`ErrorKind::status`] is the only place a kind becomes an HTTP status, as
/// moby's `daemon/server/httpstatus/status.go` is for dockerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing to do: the object is already in the requested state, e.g.
    /// starting a running container (304, answered without a body).
    NotModified,
    /// The request is malformed or names something invalid (400).
    InvalidParameter,
    /// The request is understood but refused, e.g. removing a predefined network (403).
    Forbidden,
    /// Credentials a registry refused (401), e.g. a failed `docker login`.
    Unauthorized,
    /// The named object does not exist, or the route does not (404).
    NotFound,
    /// The request conflicts with current state, e.g. a name already in use (409).
    Conflict,
    /// Docker supports this but berth does not (501).
    NotImplemented,
    /// The service cannot answer now, e.g. swarm endpoints on a non-manager (503).
    Unavailable,
    /// A failure inside the daemon (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status Docker answers with for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answered to an API client. Its `Display` is exactly the message
/// clients see (the docker CLI prints it after "Error response from daemon: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn not_modified(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotModified, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

/// Why [`crate::serve`] stopped before its shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `accept(2)` on the API socket failed in a way retrying cannot fix
    /// (e.g. the socket was closed underneath us).
    #[error("accepting a connection on the API socket failed")]
    Accept(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_dockers_status() {
        let expected = [
            (ErrorKind::NotModified, 304),
            (ErrorKind::InvalidParameter, 400),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, code) in expected {
            assert_eq!(kind.status().as_u16(), code, "{kind:?}");
        }
    }

    #[test]
    fn constructors_set_kind_and_display_is_the_message() {
        let err = ApiError::not_found("network foo not found");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(err.to_string(), "network foo not found");
        assert_eq!(ApiError::conflict("x").kind, ErrorKind::Conflict);
        assert_eq!(ApiError::forbidden("x").kind, ErrorKind::Forbidden);
        assert_eq!(
            ApiError::invalid_parameter("x").kind,
            ErrorKind::InvalidParameter
        );
        assert_eq!(
            ApiError::not_implemented("x").kind,
            ErrorKind::NotImplemented
        );
        assert_eq!(ApiError::unavailable("x").kind, ErrorKind::Unavailable);
        assert_eq!(ApiError::internal("x").kind, ErrorKind::Internal);
        assert_eq!(ApiError::not_modified("x").kind, ErrorKind::NotModified);
    }
}
