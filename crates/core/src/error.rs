use crate::ports::PortError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, classified the way Docker classifies it, so the API maps
/// each kind to Docker's status code in one place. Messages for the user
/// kinds are Docker's own wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Netlink work in the host or a sandbox namespace.
    #[error("{what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: PortError,
    },
    /// berth's nftables tables.
    #[error("firewall: {what}: {source}")]
    Firewall {
        what: String,
        #[source]
        source: PortError,
    },
    /// The OCI runtime, for anything but a container's start.
    #[error("runtime: {what}: {source}")]
    Runtime {
        what: String,
        #[source]
        source: PortError,
    },
    /// A container's start the runtime refused, in the runtime's words (as
    /// Docker shows them).
    #[error("{source}")]
    StartFailed {
        #[source]
        source: PortError,
    },
    /// The embedded DNS server.
    #[error("embedded DNS: {what}: {source}")]
    Dns {
        what: String,
        #[source]
        source: PortError,
    },
    #[error("state store: {what}: {source}")]
    Store {
        what: String,
        #[source]
        source: PortError,
    },
    /// The image store failed (not a refusal by Docker's rules: those are
    /// the user kinds).
    #[error("{what}: {source}")]
    Image {
        what: String,
        #[source]
        source: PortError,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Nothing to do (Docker's 304: already started, already stopped).
    #[error("not modified")]
    NotModified,
    /// Something berth holds true was not (a bug, said as such).
    #[error("internal error: {what}")]
    Internal { what: String },
    /// What Docker answers as a bare 500 with its own words (say,
    /// unpausing a container that is not paused).
    #[error("{0}")]
    Refused(String),
    #[error("the engine has shut down")]
    ShutDown,
    /// The kernel changed but the store could not record it; berth keeps
    /// trying (the message says what happened and why it is not recorded).
    #[error("{0}")]
    NotRecorded(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidParameter,
    Forbidden,
    NotFound,
    Conflict,
    Unavailable,
    NotModified,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidParameter(_) => ErrorKind::InvalidParameter,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::ShutDown | Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::NotModified => ErrorKind::NotModified,
            Error::Kernel { .. }
            | Error::Firewall { .. }
            | Error::Runtime { .. }
            | Error::StartFailed { .. }
            | Error::Dns { .. }
            | Error::Image { .. }
            | Error::Store { .. }
            | Error::Internal { .. }
            | Error::Refused(_)
            | Error::NotRecorded(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn kernel(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
        let what = what.into();
        move |source| Error::Kernel { what, source }
    }

    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
        let what = what.into();
        move |source| Error::Store { what, source }
    }

    pub(crate) fn firewall(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
        let what = what.into();
        move |source| Error::Firewall { what, source }
    }

    pub(crate) fn runtime(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
        let what = what.into();
        move |source| Error::Runtime { what, source }
    }

    pub(crate) fn dns(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
        let what = what.into();
        move |source| Error::Dns { what, source }
    }
}

impl From<berth_ipam::IpamError> for Error {
    fn from(e: berth_ipam::IpamError) -> Error {
        use berth_ipam::ErrorKind as Kind;
        let message = e.to_string();
        match e.kind() {
            Kind::InvalidParameter => Error::InvalidParameter(message),
            Kind::Forbidden => Error::Forbidden(message),
            // Docker answers 503 for a full pool and 500 for its internal
            // allocation failures; both are "not now", not a bad request.
            Kind::Unavailable | Kind::Internal => Error::Unavailable(message),
        }
    }
}
