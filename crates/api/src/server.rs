//! Accepting connections on the unix socket and serving HTTP/1.1 on each.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backend::Backend;
use crate::error::ServeError;
use crate::handlers::handle;

/// How long in-flight requests may run after shutdown is signalled before
/// their connections are dropped.
const SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Pause after an `accept` failure caused by resource exhaustion (out of file
/// descriptors, memory), so the loop does not spin while it lasts.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Serves the Docker API for `backend` on `listener` until `shutdown`
/// resolves. Then it stops accepting, asks open connections to close after
/// their current request, and waits up to 5 seconds for them.
///
/// Returns an error only if accepting fails in a way retrying cannot fix.
pub async fn serve<B: Backend>(
    listener: UnixListener,
    backend: Arc<B>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (stop_sender, stop_receiver) = watch::channel(());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        Arc::clone(&backend),
                        stop_receiver.clone(),
                    ));
                }
                Err(err) if is_retryable_accept_error(&err) => {
                    tracing::warn!(error = %err, "accepting an API connection failed; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
                Err(err) => {
                    tracing::error!(error = %err, "accepting API connections failed; stopping");
                    break Err(ServeError::Accept(err));
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                log_connection_task_end(finished);
            }
        }
    };

    drop(listener);
    // Receivers see the send as a change; every receiver was cloned before it.
    stop_sender.send_replace(());
    let drained = tokio::time::timeout(SHUTDOWN_GRACE_PERIOD, async {
        while let Some(finished) = connections.join_next().await {
            log_connection_task_end(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open_connections = connections.len(),
            "API connections still busy after the shutdown grace period; dropping them"
        );
        connections.shutdown().await;
    }
    outcome
}

async fn serve_connection<B: Backend>(
    stream: UnixStream,
    backend: Arc<B>,
    mut stop: watch::Receiver<()>,
) {
    let service = service_fn(move |request| {
        let backend = Arc::clone(&backend);
        async move { Ok::<_, Infallible>(handle(backend.as_ref(), request).await) }
    });
    let connection = http1::Builder::new()
        // Enables the header-read timeout, so an idle half-sent request
        // cannot hold a connection forever.
        .timer(TokioTimer::new())
        // Go clients do not care, but people reading raw responses and naive
        // clients expect `Api-Version`, not `api-version`.
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        // Attach and exec hijack the connection through hyper's upgrades.
        .with_upgrades();
    tokio::pin!(connection);

    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "API connection ended with an error");
    }
}

fn log_connection_task_end(finished: Result<(), tokio::task::JoinError>) {
    if let Err(err) = finished {
        if err.is_panic() {
            tracing::error!(error = %err, "API connection task panicked");
        }
    }
}

/// Errors after which `accept` can succeed again: the peer gave up before we
/// accepted, a signal interrupted us, or a resource ran out for a while.
fn is_retryable_accept_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_exhaustion_is_retried_and_bad_sockets_are_not() {
        assert!(is_retryable_accept_error(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_retryable_accept_error(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(!is_retryable_accept_error(&io::Error::from_raw_os_error(
            libc::EBADF
        )));
        assert!(!is_retryable_accept_error(&io::Error::from_raw_os_error(
            libc::EINVAL
        )));
    }
}
