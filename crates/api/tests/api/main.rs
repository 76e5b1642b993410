//! `serve` on a real unix socket with the recording stub backend
//! (`berth_api::testing`), spoken to in raw HTTP/1.1 (`raw_http`) and by
//! the real docker CLI (`docker_cli`).

// Support code panics on broken expectations just like the tests it serves;
// clippy's allow-unwrap-in-tests only covers `#[test]` fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod containers_http;
mod docker_cli;
mod raw_http;
mod support;
