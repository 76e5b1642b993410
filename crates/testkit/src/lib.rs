//! Dev-only helpers: fakes of the core's ports (a modelling [`FakeNet`], an
//! in-memory [`MemStore`], a deterministic [`FixedEnv`]) and, for end-to-end
//! tests, the sandbox-host harness in [`sandbox`].

mod fakes;
pub mod sandbox;

pub use fakes::{
    FakeHost, FakeImages, FakeLink, FakeNet, FakeProcess, FakeRuntime, FixedEnv, MemStore,
};
