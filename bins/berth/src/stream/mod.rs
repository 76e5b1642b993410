//! Interactive sessions with a container or exec: the hijacked stream, the
//! terminal, and the tasks that follow a session (signals, window size).

mod escape;
mod hijack;
pub mod signals;
pub mod stdcopy;
pub mod terminal;

pub use hijack::{stream, Ended, Streams};
