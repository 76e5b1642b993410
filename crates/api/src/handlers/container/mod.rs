//! `/containers...` (moby `daemon/server/router/container/container_routes.go`
//! and `inspect.go`; body decoding from `daemon/internal/runconfig`).
//!
//! By what the handlers do: `create` (the create body as dockerd decodes
//! and checks it, `network_mode` for its networking part), `lifecycle`
//! (start, stop, restart, kill, pause, rename, remove, wait), `inspect`
//! (list, inspect reshaped per API version, top) and `streams` (logs, attach, resize), `stats`.

mod archive;
mod create;
mod inspect;
mod lifecycle;
mod network_mode;
mod stats;
mod streams;

pub(super) use archive::{archive, archive_stat, changes, export, extract};
pub(super) use create::create;
pub(super) use inspect::{inspect, list, top};
pub(super) use lifecycle::{
    kill, pause, prune, remove, rename, restart, start, stop, unpause, update, wait,
};
pub(super) use stats::stats;
pub(super) use streams::{attach, logs, resize, tty_size};
