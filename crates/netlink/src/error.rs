//! The adapter's error type. Every variant names the operation and the object
//! it was applied to, and kernel errors carry a hint for the errnos whose
//! cause is well known, so a message read in a log is actionable on its own.

use std::io;
use std::path::PathBuf;

/// What went wrong in the netlink adapter.
///
/// `Display` is self-contained (it includes the kernel's reason), because
/// `berth-core` formats port errors as `"{what}: {source}"`.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// `Netlink::open` was called outside a tokio runtime.
    #[error("opening rtnetlink: no tokio runtime is running on this thread")]
    NoRuntime,

    /// The rtnetlink socket could not be created.
    #[error("opening rtnetlink socket: {source}")]
    Open {
        #[source]
        source: io::Error,
    },

    /// The kernel (or the connection to it) refused a request.
    #[error("{op} {object}: {}{}", describe(source), hint_suffix(hint.as_deref()))]
    Request {
        /// What was being done, e.g. `"adding address"`.
        op: &'static str,
        /// To what, e.g. `"172.30.0.1/16 on br-0123456789ab"`.
        object: String,
        /// Boxed: `rtnetlink::Error` can hold a whole netlink message.
        #[source]
        source: Box<rtnetlink::Error>,
        /// A likely cause, for errnos whose meaning here is well known.
        hint: Option<String>,
    },

    /// A link of that name exists but it is not a bridge, so berth will not
    /// take it over.
    #[error("link {name} exists but is a {kind} link, not a bridge")]
    NotABridge { name: String, kind: String },

    /// A link of that name exists but is not the one berth made (its
    /// alias differs), so berth will not take it over.
    #[error("link {name} exists and is not berth's {what}")]
    NotOurs { name: String, what: &'static str },

    /// A link the operation needs does not exist.
    #[error("link {name} not found ({op})")]
    NoSuchLink { name: String, op: &'static str },

    /// A link disappeared between two steps (someone else deleted it).
    #[error("link {name} disappeared while {op}")]
    LinkVanished { name: String, op: &'static str },

    /// The sysctl key is malformed or outside what the adapter writes.
    #[error("invalid sysctl key {key:?}: {reason}")]
    SysctlKey { key: String, reason: &'static str },

    /// Reading or writing the sysctl's file failed.
    #[error("{op} sysctl {key} ({}): {source}{}", path.display(), hint_suffix(*hint))]
    Sysctl {
        op: &'static str,
        key: String,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: Option<&'static str>,
    },

    /// A step of deleting connection-tracking entries (socket, dump,
    /// delete) failed.
    #[error("conntrack: {op}: {source}{}", hint_suffix(conntrack_hint(source)))]
    Conntrack {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// The kernel's reply to a conntrack request did not parse.
    #[error("conntrack: {0}")]
    ConntrackMessage(String),

    /// Entering a network namespace (on a dedicated thread) failed.
    #[error("{op}: {source}")]
    Namespace {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// A file-system step on a namespace file or its directory (create,
    /// bind-mount, unmount, unlink, list) failed.
    #[error("{op} {}: {source}{}", path.display(), hint_suffix(*hint))]
    NetnsFile {
        /// E.g. `"bind-mounting a new network namespace on"`.
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: Option<&'static str>,
    },

    /// One step of making an endpoint (a veth pair, a sub-interface)
    /// failed. Whatever the call had created was
    /// removed again (unless `cleanup` says otherwise).
    #[error("endpoint {endpoint}: {step}: {source}{}", cleanup_suffix(cleanup.as_deref()))]
    Endpoint {
        /// Alias, host end, bridge, sandbox end and namespace file.
        endpoint: String,
        /// The step that failed, e.g. `"adding the sandbox's addresses"`.
        step: &'static str,
        #[source]
        source: Box<NetlinkError>,
        /// Why removing the half-made endpoint failed, if it did.
        cleanup: Option<String>,
    },
}

impl NetlinkError {
    /// The errno the kernel answered with, if this is a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request { source, .. } => errno_of(source),
            NetlinkError::Open { source } | NetlinkError::Namespace { source, .. } => {
                source.raw_os_error()
            }
            NetlinkError::Sysctl { source, .. } | NetlinkError::NetnsFile { source, .. } => {
                source.raw_os_error()
            }
            NetlinkError::Endpoint { source, .. } => source.errno(),
            _ => None,
        }
    }

    /// Replaces the hint of a [`NetlinkError::Request`] with a more precise one.
    pub(crate) fn with_hint(mut self, precise: String) -> Self {
        if let NetlinkError::Request { hint, .. } = &mut self {
            *hint = Some(precise);
        }
        self
    }

    /// Builds a [`NetlinkError::Request`], picking the hint from `hints` by the
    /// errno the kernel answered with.
    pub(crate) fn request(
        op: &'static str,
        object: impl Into<String>,
        source: rtnetlink::Error,
        hints: &[(i32, &'static str)],
    ) -> Self {
        let errno = errno_of(&source);
        let hint = hints
            .iter()
            .chain(COMMON_HINTS)
            .find(|(e, _)| Some(*e) == errno)
            .map(|(_, h)| (*h).to_owned());
        NetlinkError::Request {
            op,
            object: object.into(),
            source: Box::new(source),
            hint,
        }
    }
}

/// Hints that apply to any request.
const COMMON_HINTS: &[(i32, &str)] = &[(
    libc::EPERM,
    "berthd needs CAP_NET_ADMIN in the network namespace it manages",
)];

/// The positive errno of a netlink NACK (`ErrorMessage.code` is negative).
pub(crate) fn errno_of(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn describe(err: &rtnetlink::Error) -> String {
    match err {
        // rtnetlink's own text is "Received a netlink error message …";
        // the errno text alone reads better after our context.
        rtnetlink::Error::NetlinkError(msg) => msg.to_io().to_string(),
        other => other.to_string(),
    }
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

fn cleanup_suffix(cleanup: Option<&str>) -> String {
    cleanup
        .map(|c| format!("; removing the half-made endpoint failed too: {c}"))
        .unwrap_or_default()
}

fn conntrack_hint(e: &io::Error) -> Option<&'static str> {
    match e.raw_os_error() {
        Some(libc::EPROTONOSUPPORT) | Some(libc::EOPNOTSUPP) => {
            Some("is nf_conntrack_netlink available (modprobe nf_conntrack_netlink)?")
        }
        Some(libc::EPERM) => Some("deleting conntrack entries needs CAP_NET_ADMIN"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroI32;

    use rtnetlink::packet_core::ErrorMessage;

    use super::*;

    fn nack(errno: i32) -> rtnetlink::Error {
        let mut msg = ErrorMessage::default();
        msg.code = NonZeroI32::new(-errno);
        rtnetlink::Error::NetlinkError(msg)
    }

    #[test]
    fn request_error_names_op_object_errno_and_hint() {
        let err = NetlinkError::request(
            "adding address",
            "2001:db8::1/64 on br-x",
            nack(libc::EACCES),
            &[(libc::EACCES, "is IPv6 disabled in the kernel?")],
        );
        assert_eq!(err.errno(), Some(libc::EACCES));
        let text = err.to_string();
        assert!(
            text.starts_with("adding address 2001:db8::1/64 on br-x: Permission denied"),
            "{text}"
        );
        assert!(
            text.ends_with("(is IPv6 disabled in the kernel?)"),
            "{text}"
        );
    }

    #[test]
    fn common_hint_applies_when_no_specific_one_matches() {
        let err = NetlinkError::request("creating bridge", "br-x", nack(libc::EPERM), &[]);
        assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
    }

    #[test]
    fn no_hint_for_other_errnos() {
        let err = NetlinkError::request("deleting link", "br-x", nack(libc::EBUSY), &[]);
        assert_eq!(
            err.to_string(),
            "deleting link br-x: Device or resource busy (os error 16)"
        );
    }
}
